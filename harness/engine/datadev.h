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
 *       device and completes at once, after a commit first when its
 *       mapping was made in this transaction (dm-thin defers a FUA bio to
 *       a thin device changed in this transaction until a commit).
 *  DD3  a data write that fails (--io-errors, fault dN/DN) fails its op
 *       with -EIO and changes no mapping: dm-thin's overwrite_endio
 *       records the error and process_prepared_mapping errors the bio
 *       without dm_thin_insert_block.  The block allocated for a
 *       provisioning or copy-on-write write stays allocated in the
 *       transaction (dm-thin never releases it): the next commit makes it
 *       a leaked data block, which the structural check must find, exactly
 *       as many as the failed writes before that commit left (the
 *       oracle's count, run_result.data_leaks); an abort rolls it back.
 *       The pool goes on.  A failed write stores nothing (simdisk D4) and
 *       takes no generation.
 *  DD4  a data flush that fails (fault yN/YN) fails the pre-commit
 *       callback, so the commit (dm_pool_commit_metadata): dm-thin's
 *       metadata_operation_failed aborts and sets needs_check, as after a
 *       metadata IO error (the workload's recovery, client.h CL4).  The
 *       writes it did not make durable may be lost for good (simdisk D4):
 *       a later commit promises none of them.
 *
 * The check, for a recovered pool in committed state T (explore.c calls
 * it after the state matched): for every block b a mapping (d, v) -> b
 * of T points at, if some data write to b was issued before commit T
 * began and no failed flush before the crash may have dropped it (DD4),
 * let g be the newest such write's generation (DD1 made it durable),
 * raised to the generation of any FUA write to b done before the crash.
 * Every sector of b, in every content the data disk allows at the crash
 * (its durable content and each pending write to b: D3, and with tearing
 * any per-sector mix of them), must hold a tag of a write to b of vblock
 * v with generation >= g: never older, never another block's or
 * vblock's, never garbage.  The rule is a conjunction over blocks and
 * sectors of a condition on one sector's content, so checking every
 * version of every sector proves it for every subset of the pending data
 * writes and every tearing: the data disk's crash states are covered in
 * full without being enumerated.  DD2: every FUA write completed before
 * the crash, whose vblock no later op before the crash unmapped, deleted
 * or rolled back (abort), must be mapped in T to a block that holds it or
 * a newer write.
 *
 * Crash points (DD5): each data write and flush is a crash point of its
 * own.  A metadata cut c (explore.c: just after a metadata write or flush)
 * fixes the metadata image until the next metadata write or flush, entry
 * j; every data op issued in between (metadata log length in [c, j]) may
 * come before the crash, or not.  So datadev_check checks, at cut c, each
 * data position p of the window [datadev_cut_of(c - 1), datadev_cut_of(j)]
 * (datadev_window) in turn: the data disk's durable content and pending
 * writes at p, the DD4 drops before p, and the FUA promises alive at some
 * moment of that window (done by its last moment, not forgotten before
 * its first; at the same log lengths an event may come either side of
 * the crash, so the stricter reading is taken).  A check at the last
 * position alone would not do: a flush or FUA write inside the window
 * replaces versions an earlier crash may still show, and an unmap inside
 * it ends a FUA promise an earlier crash must keep (the unit test
 * datadev_check_covers_a_crash_between_two_data_writes shows the first:
 * it fails with the last position alone).  The answer of
 * (cut, commit_begin) is memoized: the leaves of one cut share it; the
 * crash-state memo shares a base state across cuts only when their
 * windows and live promises agree (datadev_cut_key).
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

/* The data disk's log length when the metadata log had `cut` entries:
 * the data ops issued before metadata log entry cut. */
uint64_t datadev_cut_of(const struct datadev *dd, uint64_t cut);
/* DD5: the data positions [*lo, *hi] a crash with metadata cut `cut`'s
 * image may come at (each one checked by datadev_check). */
void datadev_window(struct datadev *dd, uint64_t cut, uint64_t *lo,
		    uint64_t *hi);
/* What datadev_check's answer at cut depends on besides the recovered
 * state: its window and the FUA promises alive at each position of it,
 * hashed.  Two cuts with one key (and one durable metadata image) get
 * one answer: the crash-state memo shares it (explore.c). */
uint64_t datadev_cut_key(struct datadev *dd, uint64_t cut);

/* The check above.  commit_begin: the metadata log index of the
 * commit-begin marker of the recovered state (0 for the format).
 * 0 if it holds; 1 with msg (naming the vblock and both tags) if not;
 * -errno harness trouble. */
int datadev_check(struct datadev *dd, uint64_t cut, uint64_t commit_begin,
		  struct client *pool, char *msg, size_t len);

#endif /* PD_DATADEV_H */
