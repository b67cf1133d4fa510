/* harness/faultbdev.h - a block device that wraps another and fails its
 * Nth read (or write, or flush) with -EIO, for error injection into
 * recovery itself.  The inner device is not owned. */
#ifndef PD_FAULTBDEV_H
#define PD_FAULTBDEV_H

#include "bdev.h"

enum fb_kind { FB_READ, FB_WRITE, FB_FLUSH };

int fault_bdev_wrap(struct bdev *inner, enum fb_kind kind, uint64_t nth,
		    int sticky, struct bdev **result);
/* How many calls of each kind went through, failed or not. */
uint64_t fault_bdev_count(struct bdev *bd, enum fb_kind kind);
uint64_t fault_bdev_failed(struct bdev *bd);

#endif /* PD_FAULTBDEV_H */
