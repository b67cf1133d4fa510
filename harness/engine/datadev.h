/* harness/engine/datadev.h - the data device beside the metadata one
 * (DESIGN.md 10): tagged data blocks on a second simulated disk, and the
 * check that a mapping never points at data that did not reach the media.
 *
 * A data block is DD_BLOCK_SIZE bytes on its own simdisk (a pool data
 * block of any size is modelled by 8 sectors: enough for tearing to
 * show).  Every sector of a written block carries the same tag: magic,
 * thin device, vblock and the write's generation (1, 2, ... in issue
 * order, unique per write), with a check word; a zeroed or foreign sector
 * has no tag.
 *
 * The workload (dm-thin's target here) writes through the thin device
 * (`write DEV A..B [fua]`): unmapped vblock -> a new block, data written,
 * then the mapping inserted; mapped and shared (lookup) -> copy-on-write
 * to a new block the same way (a whole-block write: nothing to copy);
 * mapped, not shared -> in place, FUA if asked, no metadata change.
 * Rules (dm-thin's):
 *  DD1  the data device is flushed before every metadata commit (the
 *       pool's pre-commit callback, thin_set_pre_commit);
 *  DD2  a FUA write that provisions or copies completes only after the
 *       commit that maps it; an in-place one is a FUA write of the data
 *       device and completes at once.
 *
 * The check, for a recovered pool in committed state T (explore.c calls
 * it after the state matched): for every block b a mapping (d, v) -> b
 * of T points at, if some data write to b was issued before commit T
 * began, let g be the newest such write's generation (DD1 made it
 * durable), raised to the generation of any FUA write to b done before
 * the cut.  Every sector of b, in every content the data disk allows at
 * the cut (its durable content and each pending write to b: D3, and with
 * tearing any per-sector mix of them), must hold a tag of a write to b
 * of vblock v with generation >= g: never older, never another block's
 * or vblock's, never garbage.  The rule is a conjunction over blocks and
 * sectors of a condition on one sector's content, so checking every
 * version of every sector proves it for every subset of the pending data
 * writes and every tearing: the data disk's crash states are covered in
 * full without being enumerated.  DD2: every FUA write completed before
 * the cut, whose vblock no later op before the cut unmapped, deleted or
 * rolled back (abort), must be mapped in T to a block that holds it or a
 * newer write.
 *
 * Crash points are the metadata device's cut points; the data writes
 * issued up to a cut are the data disk's log at that cut.  A crash
 * between two data writes with no metadata IO between them is not a cut
 * of its own (named limitation).  IO errors are not injected on the data
 * disk (named limitation).
 */
#ifndef PD_DATADEV_H
#define PD_DATADEV_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "simdisk.h"

#define DD_BLOCK_SIZE 4096u
#define DD_SECTOR 512u
#define DD_TAG_MAGIC 0x7464617461746167ull	/* "gatatadt" */

struct datadev;

struct dd_tag {
	uint64_t magic, dev, vblock, gen, check;
};

/* meta: the metadata device's simdisk, whose log length places every
 * data-disk op among the metadata ops (not owned). */
int datadev_create(struct simdisk *meta, pd_block_t nr_blocks,
		   struct datadev **result);
void datadev_destroy(struct datadev *dd);
struct simdisk *datadev_disk(struct datadev *dd);

/* Grow with the pool's data device (resize-data). */
int datadev_resize(struct datadev *dd, pd_block_t nr_blocks);

/* Write one block's tag.  0 or -errno; *gen gets its generation. */
int datadev_write(struct datadev *dd, uint64_t dev, uint64_t vblock,
		  pd_block_t block, int fua, uint64_t *gen);
/* A block provisioned by `map`, with no data: nothing is promised. */
int datadev_blank(struct datadev *dd, uint64_t dev, uint64_t vblock,
		  pd_block_t block);
/* The pre-commit callback (DD1): flush the data disk (ctx: the datadev). */
int datadev_pre_commit(void *ctx);
/* A FUA write of (dev, vblock), generation gen, completed (DD2). */
int datadev_fua_done(struct datadev *dd, uint64_t dev, uint64_t vblock,
		     uint64_t gen);
/* Ops that end FUA promises: a map, unmap of [begin, end) of dev, a
 * delete of dev (begin 0, end UINT64_MAX).  An abort ends none: a
 * completed FUA write must survive it. */
void datadev_forget(struct datadev *dd, uint64_t dev, uint64_t begin,
		    uint64_t end);

/* Encode / decode one sector's tag (tests build images with them). */
void dd_tag_put(uint8_t *sector, uint64_t dev, uint64_t vblock, uint64_t gen);
int dd_tag_get(const uint8_t *sector, struct dd_tag *tag);	/* 0 or -EILSEQ */

/* The data disk's log length at metadata cut `cut` (for the memo key). */
uint64_t datadev_cut_of(const struct datadev *dd, uint64_t cut);

/* The check above.  commit_begin: the metadata log index of the
 * commit-begin marker of the recovered state (0 for the format).
 * 0 if it holds; 1 with msg (naming the vblock and both tags) if not;
 * -errno harness trouble. */
int datadev_check(struct datadev *dd, uint64_t cut, uint64_t commit_begin,
		  struct client *pool, char *msg, size_t len);

#endif /* PD_DATADEV_H */
