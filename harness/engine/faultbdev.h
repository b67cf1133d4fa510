/* harness/engine/faultbdev.h - a block device that wraps another, fails its Nth
 * read (or write, or flush) with -EIO, for error injection into recovery
 * itself, and records which blocks were read (for the crash-state memo in
 * explore.c).  The inner device is not owned. */
#ifndef PD_FAULTBDEV_H
#define PD_FAULTBDEV_H

#include "bdev.h"

enum fb_kind { FB_READ, FB_WRITE, FB_FLUSH, FB_NONE };

int fault_bdev_wrap(struct bdev *inner, enum fb_kind kind, uint64_t nth,
		    int sticky, struct bdev **result);
/* Plan anew: the nth call of kind from now on fails (and from then on if
 * sticky); FB_NONE fails nothing.  For a fault in one step of a longer
 * use of the device (explore.c, the faulted pass of recovery). */
void fault_bdev_arm(struct bdev *bd, enum fb_kind kind, uint64_t nth,
		    int sticky);
/* How many calls of each kind went through, failed or not. */
uint64_t fault_bdev_count(struct bdev *bd, enum fb_kind kind);
uint64_t fault_bdev_failed(struct bdev *bd);
/* The failures whose effect may still be in use: every failed write and
 * flush, and a failed read unless its block was read again successfully
 * since (a read that fails once: the kernel's dm-bufio drops a failed
 * prefetch with its buffer, and a later read of the block succeeds). */
uint64_t fault_bdev_unrecovered(struct bdev *bd);
/* Record every block read from now on into bits (nbits bits, one per
 * block; the caller owns and clears it).  NULL stops recording. */
void fault_bdev_record_reads(struct bdev *bd, uint64_t *bits, uint64_t nbits);

#endif /* PD_FAULTBDEV_H */
