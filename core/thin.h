/* core/thin.h - dm-thin pool metadata on the persistent-data core
 * (dm-thin-metadata, in the exact Linux format: FORMAT.md 1.2, 1.4, 1.5,
 * 2.5, 2.6).
 *
 * One struct thin_pool is one open metadata device.  Thin devices are named
 * by their 24-bit id.  Changes are made in a transaction that thin_commit()
 * publishes with one superblock write; a crash or thin_abort() goes back to
 * the last superblock.
 *
 * Invariants:
 *  TH1  commit order (FORMAT.md 2.5): pre-commit callback (the caller
 *       flushes its data device), write back changed device details,
 *       commit the data space map, tm_pre_commit (metadata space map commit
 *       + flush of everything), copy both space-map roots, and only then
 *       lock, fill and commit the superblock.  A commit with nothing
 *       changed since the last one writes nothing.
 *  TH2  details' mapped_blocks equals the number of mappings of the device
 *       at every commit; the details and mapping trees hold the same ids.
 *  TH3  a mapping's time is the pool time when it was inserted; a lookup
 *       reports the block shared iff the device's snapshotted_time is later.
 *  TH4  after any error in a call that changes metadata (or in commit) the
 *       pool is failed: every later call except thin_abort(),
 *       thin_pool_destroy() and thin_get_allocatable_metadata_blocks()
 *       returns -EIO.  thin_abort() drops everything
 *       not committed and reopens from the superblock on disk (not from
 *       in-memory roots), then writes that superblock back and flushes it,
 *       so the state it reopened in is durable before anything is reused
 *       (after a failed final flush it may have been only in the device's
 *       cache); if any of that fails the pool stays failed.  A block the
 *       failed call left dirty that its own validator refuses (bm.h BM9)
 *       fails the abort with -EILSEQ: a bug of that call, not damage.
 *  TH5  nothing can fail between taking the superblock lock and its commit.
 *  TH6  a device's details are read from the details tree at its first
 *       use in a transaction and kept in core until the transaction ends:
 *       a commit (which writes the changed ones) or an abort drops them
 *       all.  (The kernel frees a changed device's entry at the commit
 *       that writes it once the device is closed, and keeps the others
 *       until the pool closes; this API opens no devices, so every entry
 *       goes.)  So the in-core table holds only the devices the open
 *       transaction uses, and each transaction's first use of a device is
 *       a lookup that can fail (-EIO, -EILSEQ, -ENOMEM): a call that
 *       changes metadata then fails the pool (TH4), a read returns the
 *       error.
 *  TH7  between calls that leave no data block allocated and unmapped
 *       (thin_alloc_data_block's, until thin_insert), mid-transaction
 *       too, every block the trees name is counted exactly as often as
 *       they name it, and no other data block is counted
 *       (thin_check_counts checks it).
 *  TH8  a caller may hold references of its own on data blocks
 *       (thin_inc_data_range, dropped by thin_dec_data_range): dm-thin's
 *       discard passdown removes a range of mappings, takes one on each
 *       run of data blocks they named, so none of them can be handed out
 *       again while its discard is in flight, discards only the blocks
 *       thin_data_block_is_shared says no leaf still names (with the
 *       caller's reference, a count above one), then drops its
 *       references.  Until it does, those blocks are counted once more
 *       than TH7 says.
 *
 * Errors (0 or -errno): -ENODATA no such device or mapping, -EEXIST the
 * device exists, -EINVAL bad id/argument or unknown incompat feature flags,
 * -EILSEQ a bad superblock (checksum, magic, location) or damaged tree,
 * -ENOSPC no free data (or metadata) block, -EBUSY a metadata snapshot is
 * already held, -EPERM the pool is read-only, -EIO device error or a failed
 * pool (TH4), -ENOMEM.
 * Ownership: the pool does not own the bdev; thin_pool_destroy() frees the
 * pool without writing anything (a crash, as far as the disk can tell);
 * thin_pool_close() commits first.
 */
#ifndef PD_THIN_H
#define PD_THIN_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"
#include "errors.h"

#define THIN_SUPERBLOCK_MAGIC	27022010ull
#define THIN_SUPERBLOCK_CSUM_XOR 160774u
#define THIN_VERSION		2u
#define THIN_MAX_DEV_ID		((1ull << 24) - 1)
#define THIN_MIN_DATA_BLOCK_SIZE 128u		/* sectors, 64 KiB */
#define THIN_MAX_DATA_BLOCK_SIZE 2097152u	/* sectors, 1 GiB */
#define THIN_NEEDS_CHECK_FLAG	(1u << 0)
#define THIN_DEFAULT_CACHE_BLOCKS 4096u
/* cache_blocks: no block cache, only the blocks locked now stay (bm.h
 * BM11, whose BM_CACHE_NONE it is): dm-bufio under memory pressure. */
#define THIN_CACHE_NONE		1u

struct thin_pool;

enum thin_open_flags {
	THIN_OPEN_READ_ONLY = (1 << 0),	/* no write ever reaches the device */
	THIN_OPEN_FORMAT    = (1 << 1),	/* format if block 0 is all zeroes */
};

struct thin_pool_params {
	uint32_t data_block_size;	/* sectors; checked against the disk */
	pd_block_t nr_data_blocks;	/* for a format */
	unsigned cache_blocks;		/* block-manager cache; 0 = default,
					   THIN_CACHE_NONE = none */
	unsigned flags;			/* enum thin_open_flags */
	struct pd_damage *damage;	/* open: if not NULL, a failed open
					   leaves its damage record here
					   (thin_damage()) */
};

/* Format a new pool on bd (overwriting whatever is there) and commit it. */
int thin_pool_format(struct bdev *bd, const struct thin_pool_params *p,
		     struct thin_pool **result);
/* Open the pool on bd.  p->data_block_size 0 accepts the one on disk.
 * -ENODATA if block 0 is all zeroes (and THIN_OPEN_FORMAT is not set). */
int thin_pool_open(struct bdev *bd, const struct thin_pool_params *p,
		   struct thin_pool **result);
/* Open the held metadata snapshot whose superblock copy is at block (0:
 * the one the superblock names; -ENODATA if none is held) as a read-only
 * pool: devices, details and mappings as they were when it was reserved.
 * The copy has no space-map roots, so thin_get_nr_data_blocks() reports
 * what its zeroed root says (0, as thin_dump prints) and
 * thin_get_free_data_blocks() is -EOPNOTSUPP.  -EILSEQ / -ENOTBLK if the
 * copy is damaged. */
int thin_pool_open_metadata_snap(struct bdev *bd, pd_block_t block,
				 const struct thin_pool_params *p,
				 struct thin_pool **result);
int thin_pool_close(struct thin_pool *pool);	/* commit, then destroy */
void thin_pool_destroy(struct thin_pool *pool);

/* Called first in every commit that writes anything (TH1). */
void thin_set_pre_commit(struct thin_pool *pool, int (*fn)(void *ctx),
			 void *ctx);

int thin_commit(struct thin_pool *pool);
int thin_abort(struct thin_pool *pool);
int thin_is_failed(const struct thin_pool *pool);
/* The damage record of the pool's block manager (bm.h BM10, errors.h):
 * after a call failed on damaged metadata, the block and what is wrong
 * with it.  The caller may clear it (pd_damage_clear) before a call. */
struct pd_damage *thin_damage(struct thin_pool *pool);

/* Devices. */
int thin_create_thin(struct thin_pool *pool, uint64_t dev);
int thin_create_snap(struct thin_pool *pool, uint64_t dev, uint64_t origin);
int thin_delete(struct thin_pool *pool, uint64_t dev);

struct thin_dev_info {
	uint64_t dev;
	uint64_t mapped_blocks;
	uint64_t transaction_id;	/* pool trans_id at creation */
	uint32_t creation_time;
	uint32_t snapshotted_time;
};
int thin_dev_info(struct thin_pool *pool, uint64_t dev,
		  struct thin_dev_info *info);
/* Set every details field (restore); creates the device if absent. */
int thin_set_dev_info(struct thin_pool *pool, const struct thin_dev_info *info);
/* Ids of all devices, ascending; *nr set; -ENOSPC if more than max. */
int thin_list_devs(struct thin_pool *pool, uint64_t *devs, size_t max,
		   size_t *nr);
/* The same into an array it allocates (*devs; free with pd_free / free). */
int thin_list_devs_alloc(struct thin_pool *pool, uint64_t **devs, size_t *nr);

/* Mappings. */
struct thin_lookup_result {
	pd_block_t data_block;
	uint32_t time;			/* 24-bit mapping time */
	int shared;			/* TH3 */
};
int thin_lookup(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
		struct thin_lookup_result *result);
/* Allocate a free data block (count 1, not yet mapped). */
int thin_alloc_data_block(struct thin_pool *pool, pd_block_t *result);
/* Map vblock to data_block with the current pool time.  The mapping takes
 * over the reference thin_alloc_data_block() gave, as in the kernel. */
int thin_insert(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
		pd_block_t data_block);
/* Same with an explicit 24-bit time (restore), taking a new reference on
 * data_block. */
int thin_insert_raw(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
		    pd_block_t data_block, uint32_t time);
int thin_remove(struct thin_pool *pool, uint64_t dev, uint64_t vblock);
/* Remove [begin, end); *nr_removed (may be NULL) counts them. */
int thin_remove_range(struct thin_pool *pool, uint64_t dev, uint64_t begin,
		      uint64_t end, uint64_t *nr_removed);
/* Visit the mappings of dev in order; a nonzero return stops the walk. */
typedef int (*thin_mapping_fn)(void *ctx, uint64_t vblock,
			       pd_block_t data_block, uint32_t time);
int thin_walk_mappings(struct thin_pool *pool, uint64_t dev,
		       thin_mapping_fn fn, void *ctx);
/* bt_check (bt.h) of the trees the pool has open: the device-details
 * tree, then the mapping tree (its top level and every device's tree),
 * whose bottom-level entries must add up to the devices' mapped_blocks
 * (TH2).  0, or the first error (-EILSEQ / -ENOTBLK damage, -EIO, -ENOMEM)
 * with *what naming the tree or count.  A structural check by the btree
 * code itself, beside check.h's, which shares none of its code: where
 * the two disagree, one of them is wrong. */
int thin_check_trees(struct thin_pool *pool, const char **what);
/* TH7: the reference counts of the open transaction, mid-transaction too.
 * Every metadata block the trees (and the held metadata snapshot's copy)
 * name has, in the metadata space map, exactly the count of its
 * references (a node shared by snapshots once per parent, its own
 * references once); every data block the bottom leaves name has the
 * count of the distinct leaves naming it; and the data space map counts
 * no other block in use (so call it where no block is allocated and not
 * yet mapped).  Metadata blocks no tree names, the space maps' own among
 * them, are not checked (check.h CK6-CK8 does, on committed images).
 * -EOPNOTSUPP on a metadata snapshot view (no data space map).  0, -EILSEQ with msg
 * saying which block and both counts (msg: len >= 1 bytes; "" unless a
 * count disagrees), or the first error of a read (-EILSEQ of a damaged
 * node too).  For the harness's `audit` op: a count bug shows at the op that makes it, also
 * in a transaction that is aborted later and never reaches the disk. */
int thin_check_counts(struct thin_pool *pool, char *msg, size_t len);

/* The reads dm-thin makes of a device (the kernel's dm_thin_* calls of
 * the same purpose); each sees this transaction's changes and changes
 * nothing.  -ENODATA for a device that does not exist. */
/* The highest mapped vblock of dev (dm_thin_get_highest_mapped_block, for
 * the thin status line); -ENODATA when dev maps nothing. */
int thin_get_highest_mapped(struct thin_pool *pool, uint64_t dev,
			    uint64_t *vblock);
/* dev's mapped_blocks (dm_thin_get_mapped_count). */
int thin_get_mapped_count(struct thin_pool *pool, uint64_t dev,
			  uint64_t *count);
/* The first run of mappings of dev in [begin, end) (dm_thin_find_mapped_
 * range, which dm-thin's discards walk run by run): vblocks [thin_begin,
 * thin_end) map data blocks pool_begin, pool_begin + 1, ... with one
 * shared flag (TH3).  The run stops before the first vblock that is
 * unmapped, maps another block, has the other shared flag, or is end.
 * -ENODATA if nothing in [begin, end) is mapped (so also if end <= begin). */
struct thin_mapped_range {
	uint64_t thin_begin, thin_end;
	pd_block_t pool_begin;
	int maybe_shared;
};
int thin_find_mapped_range(struct thin_pool *pool, uint64_t dev,
			   uint64_t begin, uint64_t end,
			   struct thin_mapped_range *range);

/* Data block references (TH8; dm_pool_inc_data_range,
 * dm_pool_dec_data_range, dm_pool_block_is_shared).  A range [begin, end)
 * or block not within the data device (end past its size, begin past
 * end) is -EINVAL and changes nothing, nor fails the pool; an empty range
 * changes nothing.  inc and dec fail the pool on any other error (TH4),
 * a dec of a count already 0 included; is_shared is a read (TH6), *shared
 * is whether the block's count is more than one, and on a metadata
 * snapshot view (no data space map) it is -EOPNOTSUPP. */
int thin_inc_data_range(struct thin_pool *pool, pd_block_t begin,
			pd_block_t end);
int thin_dec_data_range(struct thin_pool *pool, pd_block_t begin,
			pd_block_t end);
int thin_data_block_is_shared(struct thin_pool *pool, pd_block_t b,
			      int *shared);

/* Pool-wide values. */
int thin_get_transaction_id(struct thin_pool *pool, uint64_t *id);
/* -EINVAL unless current_id is the current one (as the kernel's message). */
int thin_set_transaction_id(struct thin_pool *pool, uint64_t current_id,
			    uint64_t new_id);
int thin_get_time(struct thin_pool *pool, uint32_t *time);
int thin_set_time(struct thin_pool *pool, uint32_t time);	/* restore */
int thin_get_data_block_size(struct thin_pool *pool, uint32_t *sectors);
/* The pool status line's counts (dm_pool_get_data_dev_size,
 * dm_pool_get_free_block_count, dm_pool_get_metadata_dev_size and, below,
 * dm_pool_get_free_metadata_block_count).  The sizes are the current ones
 * (a resize counts at once; the kernel's data size waits for the commit,
 * sm_disk.c DS1).  The free data count is the committed size less every
 * block with a reference now: a block freed in this transaction counts as
 * free at once, one added by a resize only after the commit (sm_disk.c
 * DS1, DS2); 0 if that is below zero (a grow and more allocations than
 * the old size had free, in one transaction: the kernel's count wraps). */
int thin_get_nr_data_blocks(struct thin_pool *pool, pd_block_t *nr);
int thin_get_free_data_blocks(struct thin_pool *pool, pd_block_t *nr);
int thin_get_nr_metadata_blocks(struct thin_pool *pool, pd_block_t *nr);
/* Free metadata blocks less the commit reserve (dm-thin-metadata's
 * metadata_reserve, "dm thin metadata: try to avoid ever aborting
 * transactions"): THIN_METADATA_RESERVE_MAX blocks or a tenth of the
 * metadata device, whichever is smaller, are kept for the overhead of
 * the next commit and never counted as free (0 when fewer are left).  A
 * caller that stops changing the pool and commits when this reaches 0
 * (dm-thin's out-of-metadata-space mode) never needs to abort. */
#define THIN_METADATA_RESERVE_MAX 4096u
int thin_get_free_metadata_blocks(struct thin_pool *pool, pd_block_t *nr);
int thin_get_metadata_reserve(struct thin_pool *pool, pd_block_t *nr);
/* The metadata blocks the allocator could hand out now, counted one
 * bitmap entry at a time (sm_common.h sm_metadata_count_allocatable):
 * after an -ENOSPC from the metadata it must be 0.  For that check it
 * works on a failed pool too (not TH4's -EIO); -EPERM when read-only.
 * Reads every bitmap block, so the bm's cache may write dirty blocks
 * back, as any read may. */
int thin_get_allocatable_metadata_blocks(struct thin_pool *pool,
					 pd_block_t *nr);
/* Data device size in blocks; shrinking is -EINVAL (as the kernel). */
int thin_resize_data(struct thin_pool *pool, pd_block_t nr_blocks);
/* Metadata device size in blocks (the bdev must already have them);
 * shrinking, or a size past the 255 bitmaps the metadata space map
 * counts (4161600 blocks), is -EINVAL and changes nothing. */
int thin_resize_metadata(struct thin_pool *pool, pd_block_t nr_blocks);

/* Metadata snapshot (held root), for userspace reading live metadata.
 * Reserve commits first (the copy must hold committed roots), then takes a
 * copy of the superblock and references on its trees; release drops them.
 * Either change to held_root is published by the next thin_commit(), never
 * by a stray superblock write.  Reserve with one held: -EBUSY; release
 * with none: -EINVAL. */
int thin_reserve_metadata_snap(struct thin_pool *pool);
int thin_release_metadata_snap(struct thin_pool *pool);
int thin_get_metadata_snap(struct thin_pool *pool, pd_block_t *block);

/* NEEDS_CHECK in the superblock flags: written at once (block 0 alone, the
 * last committed superblock plus the flag, then a flush) and kept by later
 * commits.  -EIO on a failed pool: thin_abort() first. */
int thin_set_needs_check(struct thin_pool *pool);
int thin_get_needs_check(struct thin_pool *pool, int *needs_check);

/* The superblock fields, as on disk at the last commit (dump, checks). */
struct thin_sb_info {
	uint32_t flags, version, time;
	uint64_t trans_id, held_root;
	uint64_t data_mapping_root, device_details_root;
	uint32_t data_block_size, metadata_block_size;
	uint64_t metadata_nr_blocks;
	uint8_t data_sm_root[32], metadata_sm_root[32];
};
/* Read and validate block 0 of bd (no pool needed); -EILSEQ / -ENOTBLK if
 * damaged, -ENODATA if all zeroes. */
int thin_read_superblock(struct bdev *bd, struct thin_sb_info *info);
/* The same for a superblock copy at block (a held metadata snapshot): its
 * own location must be block. */
int thin_read_superblock_at(struct bdev *bd, pd_block_t block,
			    struct thin_sb_info *info);
/* thin_read_superblock_at() that also notes, on -EILSEQ / -ENOTBLK / -EIO,
 * what is wrong with the block in *why (errors.h; why may be NULL). */
int thin_read_superblock_why(struct bdev *bd, pd_block_t block,
			     struct thin_sb_info *info, struct pd_damage *why);

#endif /* PD_THIN_H */
