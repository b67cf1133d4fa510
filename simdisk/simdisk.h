/* simdisk/simdisk.h - the simulated disk: a block device with a volatile
 * write cache, an op log, a deterministic fault plan, libfiu points, and a
 * builder of crash states.
 *
 * Model (DESIGN.md section 3):
 *  D1  a write returns at once; its data sits in the cache.  A read returns
 *      the newest data written (landed or not).
 *  D2  a flush that returns 0 makes every write that returned before it
 *      durable.  A FUA write is durable when it returns 0, and supersedes
 *      any earlier pending write of the same block.
 *  D3  at a power cut, any subset of the pending (not yet durable) writes may
 *      have reached the media.  When several pending writes of one block
 *      land, the media holds one of them: a subset chooses which writes
 *      landed and, of those of one block, the latest in log order is what
 *      the media holds (every final content is reachable this way).  With
 *      tearing on, a landed write may land only in part, a whole number of
 *      512-byte sectors each taken from the write or left as they were.
 *  D4  an injected error is returned to the caller.  A failed write stores
 *      nothing (it is logged, not pending).  A failed flush makes nothing
 *      durable and leaves every write pending at that moment "doubtful": it
 *      stays in the pending set of every later cut point, even after later
 *      good flushes, until a later durable write of the same block replaces
 *      it, because a failed flush may have dropped acknowledged writes for
 *      good.
 *
 * Op log: one entry per read, write, FUA write, flush, marker, with a
 * sequence number (its index), the block, the data (a reference-counted
 * copy, shared with crash states, never a copy per state), the flush epoch
 * (number of good flushes before it), whether it failed, and for markers
 * (added by the caller, e.g. commit-begin 7) a kind and a value.
 *
 * Fault plan (deterministic): fail the Nth op of a kind (1-based count of
 * reads, writes incl. FUA, or flushes), once or from then on; cut the power
 * after log entry N (every later op returns -EIO and is not logged).  The
 * libfiu points simdisk/read, simdisk/write and simdisk/flush (core/fault.h)
 * fail an op the same way, from the harness or from outside (fiu-run).
 *
 * Ownership: a simdisk owns its log and base image.  A crash state keeps a
 * reference on the simdisk (sd may be destroyed by the caller only after
 * every state built from it is destroyed).  Errors: 0 or -errno (-EINVAL bad
 * argument or block past the end, -EIO injected error or power cut,
 * -ENOMEM).
 */
#ifndef PD_SIMDISK_H
#define PD_SIMDISK_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"

struct simdisk;

/* A resize is logged as an SD_MARKER with this marker and the new size in
 * blocks as its value; it takes effect at once and durably. */
#define SD_MARKER_RESIZE (-1)

enum sd_op_kind {
	SD_READ,
	SD_WRITE,
	SD_WRITE_FUA,
	SD_FLUSH,
	SD_MARKER,
};

struct sd_op {
	uint64_t seq;			/* index in the log */
	enum sd_op_kind kind;
	pd_block_t block;		/* reads and writes */
	const uint8_t *data;		/* writes: block_size bytes, shared; else NULL */
	uint64_t epoch;			/* good flushes before this op */
	int failed;			/* 1 if an error was returned for it */
	int marker;			/* SD_MARKER: caller's marker kind */
	uint64_t value;			/* SD_MARKER: caller's value */
};

/* Create a zero-filled disk of nr_blocks blocks of block_size bytes. */
int simdisk_create(uint32_t block_size, pd_block_t nr_blocks,
		   struct simdisk **result);
/* Create a disk whose durable content at the start is the file at path
 * (its size rounded up to whole blocks, at least nr_blocks). */
int simdisk_create_from_file(const char *path, uint32_t block_size,
			     pd_block_t nr_blocks, struct simdisk **result);
void simdisk_destroy(struct simdisk *sd);

/* The disk as a block device.  bdev_destroy() on it destroys the simdisk. */
struct bdev *simdisk_bdev(struct simdisk *sd);
struct simdisk *simdisk_from_bdev(struct bdev *bd);	/* NULL if not one */

/* Op log. */
/* Add a marker to the log: 0, or -ENOMEM when the log cannot grow (then
 * nothing is logged and the caller must not trust its markers).  After a
 * power cut nothing is logged and 0 is returned. */
int simdisk_mark(struct simdisk *sd, int marker, uint64_t value);
uint64_t simdisk_nr_ops(const struct simdisk *sd);
const struct sd_op *simdisk_op(const struct simdisk *sd, uint64_t seq);
/* Stop logging reads (they never change the media); default on. */
void simdisk_log_reads(struct simdisk *sd, int on);
const char *sd_op_kind_name(enum sd_op_kind kind);

/* Fault plan. kind is SD_READ, SD_WRITE (counts FUA writes too) or
 * SD_FLUSH; nth is 1-based; sticky nonzero fails it and every later op of
 * that kind. */
int simdisk_fail_nth(struct simdisk *sd, enum sd_op_kind kind, uint64_t nth,
		     int sticky);
/* 1 once the plan has failed an op (not a libfiu point), with *seq (if not
 * NULL) the log length when it first did: the failed op's index if it is
 * logged (a read is not, while reads are off).  It stays after
 * simdisk_clear_faults(). */
int simdisk_plan_fired(const struct simdisk *sd, uint64_t *seq);
/* Called before each read, write (FUA too) or flush is counted for the
 * plan, with the op's kind and its 1-based number among that kind (the nth
 * simdisk_fail_nth would name); not after a power cut.  The hook may call
 * simdisk_fail_nth() for this very op (pdcrash --io-errors forks there, so
 * each fault run continues from the shared prefix).  NULL removes it. */
/* While on, reads come from a reader beside the disk's owner (a checker
 * reading what is there): they return the newest content, with whatever
 * damage the media holds, and are not counted for the fault plan, hooked,
 * logged or failed.  Writes and flushes are unchanged. */
void simdisk_side_reads(struct simdisk *sd, int on);
typedef void (*simdisk_op_hook_fn)(void *ctx, struct simdisk *sd,
				   enum sd_op_kind kind, uint64_t nth);
void simdisk_set_op_hook(struct simdisk *sd, simdisk_op_hook_fn fn, void *ctx);
/*
 * Media faults (deterministic, at most one planned at a time; DESIGN.md
 * 10).  The bytes differ from what was written, and no error is returned:
 *  SD_MEDIA_BITROT       read nth returns the block with one bit flipped:
 *                        bit h % (8 * extent) where h = sd_media_hash(seed,
 *                        kind, nth) and extent = the bytes up to the last
 *                        non-zero byte of the block (the whole block if it
 *                        is all zeroes), so the flip lands in what the
 *                        block holds.  The media keeps the right content:
 *                        the next read of the block is correct.
 *  SD_MEDIA_LOST_SECTOR  write nth returns 0, but one 512-byte sector of
 *                        it is lost on the media: sector number k of the
 *                        write's non-zero sectors, k = h % their count
 *                        (none non-zero: nothing to lose).  It reads back
 *                        as zeroes, now (D1) and in every crash state in
 *                        which that write is the block's content, until
 *                        the block is written again: the write's data in
 *                        the log is the damaged one.
 * nth counts as simdisk_fail_nth does (reads; writes incl. FUA) and may be
 * the op the op hook is called for.  A failed (planned or fiu) op does not
 * fire it.  simdisk_media_hit() says what fired.
 */
enum sd_media_kind {
	SD_MEDIA_NONE,
	SD_MEDIA_BITROT,
	SD_MEDIA_LOST_SECTOR,
};

struct sd_media_hit {
	int fired;			/* the planned op happened */
	enum sd_media_kind kind;
	pd_block_t block;
	uint64_t seq;			/* log index of the write; for a read
					 * its index if reads are logged, else
					 * the log length when it happened */
	long where;			/* the bit flipped (bit rot, 0-based
					 * in the block), the sector lost, or
					 * -1: nothing lost (all-zero write) */
};

int simdisk_media_fault(struct simdisk *sd, enum sd_media_kind kind,
			uint64_t nth, uint64_t seed);
const struct sd_media_hit *simdisk_media_hit(const struct simdisk *sd);
/* The hash that places a media fault (splitmix64 of seed, kind, nth). */
uint64_t sd_media_hash(uint64_t seed, enum sd_media_kind kind, uint64_t nth);

/* Cut the power once log entry seq has been appended (seq = the number of
 * ops to allow, minus one).  Later ops return -EIO and are not logged. */
void simdisk_cut_after(struct simdisk *sd, uint64_t seq);
int simdisk_power_is_cut(const struct simdisk *sd);
/* Count of ops of a kind so far (reads, writes incl. FUA, flushes). */
uint64_t simdisk_count(const struct simdisk *sd, enum sd_op_kind kind);
void simdisk_clear_faults(struct simdisk *sd);

/* Export the current content as read (newest data, D1) to a file. */
int simdisk_export(struct simdisk *sd, const char *path);

/*
 * Crash states.  A cut at position `cut` (0 <= cut <= nr_ops) means the log
 * entries [0, cut) happened and nothing after.  The pending set at a cut is
 * the list of writes that may or may not be on the media (D3, D4), in log
 * order.
 *
 * A cutter walks cut points: it keeps the durable content at its current
 * cut as a map block -> data (shared with the log), updated incrementally
 * when it seeks forward (seeking back starts again from entry 0).  Images
 * are copy-on-write overlays over that map and the disk's base; they must
 * be destroyed before the cutter seeks again or is destroyed.
 */
struct sd_pending {
	uint64_t seq;		/* log index of the write */
	pd_block_t block;
};

struct sd_cutter;

int sd_cutter_create(struct simdisk *sd, struct sd_cutter **result);
void sd_cutter_destroy(struct sd_cutter *c);
int sd_cutter_seek(struct sd_cutter *c, uint64_t cut);
uint64_t sd_cutter_cut(const struct sd_cutter *c);
size_t sd_cutter_nr_pending(const struct sd_cutter *c);
const struct sd_pending *sd_cutter_pending(const struct sd_cutter *c);

/* Which pending writes landed: landed[i] for pending write i; with tearing,
 * sectors[i] is a bit mask of the 512-byte sectors of write i that landed
 * (bit s = sector s; ignored when landed[i] is 0; NULL means whole writes). */
struct sd_choice {
	size_t nr;			/* == number of pending writes */
	const uint8_t *landed;		/* nr entries, 0 or 1 */
	const uint64_t *sectors;	/* nr entries or NULL */
};

/*
 * A crash image at the cutter's cut: the durable content plus the chosen
 * pending writes.  It is a writable block device (recovery goes on writing
 * into its own overlay) with atomic, always-durable writes and no faults;
 * destroy it with bdev_destroy().  Building one costs time and memory in
 * proportion to the pending writes, never to the disk size.  -EINVAL if
 * choice->nr is not the number of pending writes.
 */
int sd_cutter_image(struct sd_cutter *c, const struct sd_choice *choice,
		    struct bdev **result);

/*
 * Lazy crash images (DESIGN.md 4.3).  The choice table of the cutter's
 * cut lists each block with pending writes (sorted by block number), its
 * versions (0 the durable content, v >= 1 its v-th pending write in log
 * order; any of them may be the last to land, D3) and its count of
 * distinct contents: the distinct versions, or with tear every per-sector
 * (512-byte) mix of the versions, counted by distinct sector contents.
 * Choice k of block i is in 0..count-1; choice 0 is the durable content.
 * -E2BIG if a count does not fit 64 bits.  The table reads the cutter's
 * durable map: free it before the cutter seeks.
 *
 * A lazy image is an image of that cut whose pending blocks are undecided:
 * the first read of any block from below its own writes calls on_read
 * (i = the block's index in the table, or -1 for a block with no pending
 * write, k = NULL then); for a pending block on_read sets *k and the block
 * holds that content from then on.  A block written before it is read is
 * never decided.  An error from on_read is returned by the read.
 */
struct sd_choices;
typedef int (*sd_read_fn)(void *ctx, pd_block_t b, long i, uint64_t *k);

int sd_cutter_choices(struct sd_cutter *c, int tear, struct sd_choices **result);
void sd_choices_free(struct sd_choices *t);
size_t sd_choices_nr(const struct sd_choices *t);
pd_block_t sd_choices_block(const struct sd_choices *t, size_t i);
uint64_t sd_choices_count(const struct sd_choices *t, size_t i);
unsigned sd_choices_nr_versions(const struct sd_choices *t, size_t i);
unsigned sd_choices_nr_sectors(const struct sd_choices *t);
long sd_choices_find(const struct sd_choices *t, pd_block_t b);	/* -1: none */
/* ver[s] (one per sector) = the version sector s of choice k comes from
 * (the first version with that sector content); returns the smallest
 * version whose whole content choice k is, or -1 for a mix. */
int sd_choices_describe(const struct sd_choices *t, size_t i, uint64_t k,
			unsigned *ver);
/* The choice whose sector s holds version ver[s]'s; -EINVAL if a version
 * is out of range (or, without tear, the versions differ). */
int sd_choices_encode(const struct sd_choices *t, size_t i, const unsigned *ver,
		      uint64_t *k);
int sd_cutter_lazy_image(struct sd_cutter *c, const struct sd_choices *t,
			 sd_read_fn on_read, void *ctx, struct bdev **result);

/* Export any bdev (a crash image, a simdisk, a file) to a file, block by
 * block; the file is created or truncated. */
int bdev_export(struct bdev *bd, const char *path);

#endif /* PD_SIMDISK_H */
