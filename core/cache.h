/* core/cache.h - dm-cache metadata on the persistent-data core (like the
 * kernel's dm-cache-metadata), formats 1 and 2, in the exact Linux format.
 *
 * Superblock, block 0 (struct disk_cache_superblock in cache.c; checksum
 * salt 9031977 over bytes 4..4095; FORMAT.md 1.12):
 *   off size field                     off size field
 *     0   4 csum                       224   8 discard_nr_blocks
 *     4   4 flags (CACHE_FLAG_*)       232   4 data_block_size (sectors)
 *     8   8 blocknr (0)                236   4 metadata_block_size (8)
 *    16  16 uuid (CA8)                 240   4 cache_blocks
 *    32   8 magic 1623043 (06142003 octal)  244 4 compat_flags
 *    40   4 version (1 or 2)           248   4 compat_ro_flags
 *    44  16 policy_name                252   4 incompat_flags
 *    60   4 policy_hint_size           256   4 read_hits
 *    64 128 metadata_space_map_root    260   4 read_misses
 *   192   8 mapping_root               264   4 write_hits
 *   200   8 hint_root                  268   4 write_misses
 *   208   8 discard_root               272  12 policy_version[3]
 *   216   8 discard_block_size         284   8 dirty_root (format 2)
 * 292 bytes in all, inside one 512-byte sector.
 *
 * Trees: the mapping array (cblock -> __le64 (oblock << 16) | flags, flag
 * 1 VALID, flag 2 DIRTY in format 1 only; an unmapped entry is 0), the
 * hint array (cblock -> policy_hint_size bytes; absent while hint_root is
 * 0), the discard bitset (one bit per discard block) and, in format 2,
 * the dirty bitset (one bit per cache block).  One metadata space map and
 * no data space map.
 *
 * Invariants:
 *  CA1  commit order (the kernel's __commit_transaction): flush the dirty
 *       bitset (format 2) and the discard bitset, tm_pre_commit (metadata
 *       space map commit + flush of everything), copy the space-map root,
 *       and only then lock, fill and commit the superblock (nothing can
 *       fail in between).  Every commit writes the superblock.
 *  CA2  the superblock's CLEAN_SHUTDOWN flag is cleared on disk when the
 *       metadata is opened read-write (a write of the committed superblock
 *       with only that flag changed, then a flush), kept clear by
 *       cache_commit(cmd, 0) and set by cache_commit(cmd, 1) /
 *       cache_md_close().  A freshly formatted device counts as clean.
 *  CA3  opened without CLEAN_SHUTDOWN, the dirty bits, discard bits and
 *       hints on disk are not trusted: every mapped block is reported
 *       dirty, no block discarded, and hints invalid, until the caller
 *       changes them.  The first change of dirty state (insert, remove,
 *       set_dirty, resize) first stores dirty for every mapped block, the
 *       first change of discard state first clears every discard bit, and
 *       cache_write_hints() makes hints valid; a clean-shutdown commit
 *       stores both before it writes, and drops a hint array that is still
 *       untrusted (hint_root 0), so what a later clean open trusts is what
 *       was reported.
 *  CA4  in format 2 a removed or newly inserted mapping's dirty bit is
 *       cleared: dirty bits of unmapped blocks are zero.
 *  CA5  after any error in a call that changes metadata (or in commit) the
 *       metadata is failed: every later call except cache_abort() and
 *       cache_md_destroy() returns -EIO.  cache_abort() drops everything
 *       uncommitted, reopens from the superblock on disk (whose
 *       CLEAN_SHUTDOWN flag decides CA3 again), writes that superblock
 *       back and flushes it (as thin.h TH4), and clears the failure.
 *  CA6  shrinking the cache is -EINVAL (and changes nothing) while a
 *       block to be dropped is mapped and dirty.
 *  CA7  opened with CACHE_OPEN_AS_STORED (read-only only) CA3 does not
 *       apply: dirty bits, discard bits and hints are reported exactly as
 *       stored, whatever CLEAN_SHUTDOWN says, and a hint array is read
 *       whenever hint_root is nonzero, policy_hint_size 0 meaning 4 bytes
 *       (what Debian's cache_restore 0.9.0 leaves: it stores a width of 4
 *       as 0 and marks other widths with an incompat flag).  This is what
 *       a dump tool shows; a cache target must not use it.
 *  CA8  the uuid (16 bytes at offset 16, zero when formatted) is kept by
 *       every commit; cache_set_uuid() changes it from the next commit on.
 *
 * Errors (0 or -errno): -ENODATA unmapped block / index out of range / an
 * all-zero device opened without CACHE_OPEN_FORMAT, -EINVAL bad argument
 * or unsupported version / features / hint size / data block size,
 * -EILSEQ / -ENOTBLK damaged metadata, -ENOSPC metadata full, -EPERM
 * read-only, -EIO device error or failed metadata (CA5), -ENOMEM.
 * Ownership: struct cache_md does not own the bdev.  cache_md_destroy()
 * writes nothing (a crash, as far as the disk can tell).
 */
#ifndef PD_CACHE_H
#define PD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"
#include "errors.h"

#define CACHE_SUPERBLOCK_MAGIC		1623043ull	/* 06142003 octal */
#define CACHE_SUPERBLOCK_CSUM_XOR	9031977u
#define CACHE_MIN_VERSION		1u
#define CACHE_MAX_VERSION		2u
#define CACHE_POLICY_NAME_SIZE		16u
#define CACHE_POLICY_VERSION_SIZE	3u
#define CACHE_FLAG_CLEAN_SHUTDOWN	(1u << 0)
#define CACHE_FLAG_NEEDS_CHECK		(1u << 1)
#define CACHE_M_VALID			1u
#define CACHE_M_DIRTY			2u
#define CACHE_DEFAULT_CACHE_BLOCKS	1024u
#define CACHE_BM_CACHE_NONE		1u	/* cache_blocks: bm.h BM11 */
#define CACHE_MAX_OBLOCK		((1ull << 48) - 1)

struct cache_md;

enum cache_open_flags {
	CACHE_OPEN_READ_ONLY = (1 << 0),
	CACHE_OPEN_FORMAT    = (1 << 1),	/* format if block 0 is zeroes */
	CACHE_OPEN_AS_STORED = (1 << 2),	/* CA7; with READ_ONLY only */
};

struct cache_params {
	uint32_t data_block_size;	/* sectors; open: 0 accepts the disk's */
	unsigned version;		/* format: 1 or 2 */
	unsigned cache_blocks;		/* block-manager cache; 0 = default,
					   CACHE_BM_CACHE_NONE = none */
	unsigned flags;			/* enum cache_open_flags */
	struct pd_damage *damage;	/* open: if not NULL, a failed open
					   leaves its damage record here
					   (cache_damage()) */
};

int cache_md_format(struct bdev *bd, const struct cache_params *p,
		    struct cache_md **result);
int cache_md_open(struct bdev *bd, const struct cache_params *p,
		  struct cache_md **result);
/* Commit with clean shutdown (CA2), then destroy. */
int cache_md_close(struct cache_md *cmd);
void cache_md_destroy(struct cache_md *cmd);

int cache_commit(struct cache_md *cmd, int clean_shutdown);
int cache_abort(struct cache_md *cmd);
int cache_is_failed(const struct cache_md *cmd);
/* The damage record of the metadata's block manager (bm.h BM10, errors.h):
 * after a call failed on damaged metadata, the block and what is wrong
 * with it.  The caller may clear it (pd_damage_clear) before a call. */
struct pd_damage *cache_damage(struct cache_md *cmd);
/* CLEAN_SHUTDOWN was set when this metadata was opened (CA3). */
int cache_clean_when_opened(const struct cache_md *cmd);
unsigned cache_version(const struct cache_md *cmd);

/* Cache size in cache blocks (CA6). */
int cache_get_size(struct cache_md *cmd, uint32_t *nr_cblocks);
int cache_resize(struct cache_md *cmd, uint32_t nr_cblocks);

/* Mappings.  oblock < 2^48. */
int cache_insert_mapping(struct cache_md *cmd, uint32_t cblock,
			 uint64_t oblock);
int cache_remove_mapping(struct cache_md *cmd, uint32_t cblock);
/* -ENODATA if cblock is not mapped. */
int cache_set_dirty(struct cache_md *cmd, uint32_t cblock, int dirty);
struct cache_mapping {
	uint64_t oblock;
	int dirty;			/* as reported (CA3) */
};
int cache_lookup_mapping(struct cache_md *cmd, uint32_t cblock,
			 struct cache_mapping *m);
/* Every mapped block in cblock order; hint is policy_hint_size bytes, or
 * NULL when hints are not valid (CA3, no hint array, or a hint array
 * shorter than the cache).  A nonzero return from fn stops the walk. */
typedef int (*cache_mapping_fn)(void *ctx, uint32_t cblock, uint64_t oblock,
				int dirty, const void *hint);
int cache_walk_mappings(struct cache_md *cmd, cache_mapping_fn fn, void *ctx);
/* Every array: mappings, hints (a hint array of policy_hint_size values),
 * discard bits, dirty bits (format 2): its length, through the entry
 * count of its last array block, must be the one the superblock gives,
 * and its index btree must pass bt_check (bt.h) with one entry per array
 * block (AR1).  0, or the first error with *what naming the array
 * ("mapping array", "hint array", "discard bitset", "dirty bitset").  Of
 * the array blocks only the last is read: check_cache.h checks them all
 * (CC3). */
int cache_check_trees(struct cache_md *cmd, const char **what);

/* Policy and hints: replaces the hint array by a new one of cache_blocks
 * hints (hints: hint_size bytes each, little-endian as stored) and sets
 * the policy name (1..15 characters) and version.  hint_size 0 or 4 (the
 * kernel's only size; smq uses 4); 0 drops the hint array. */
int cache_write_hints(struct cache_md *cmd, const char *policy_name,
		      const uint32_t version[CACHE_POLICY_VERSION_SIZE],
		      uint32_t hint_size, const void *hints);
int cache_get_policy(struct cache_md *cmd,
		     char name[CACHE_POLICY_NAME_SIZE + 1],
		     uint32_t version[CACHE_POLICY_VERSION_SIZE],
		     uint32_t *hint_size);

/* Every hint of the hint array in index order, of mapped blocks or not,
 * as stored (CA3 aside): for a caller that rewrites hints it did not
 * write (the kernel adapter, harness/engine/cache_client.h KC1).  No hint
 * array: nothing.  A nonzero return from fn stops the walk. */
typedef int (*cache_hint_fn)(void *ctx, uint32_t cblock, const void *hint);
int cache_walk_hints(struct cache_md *cmd, cache_hint_fn fn, void *ctx);

/* Discard bits: nr_dblocks blocks of discard_block_size sectors. */
int cache_discard_resize(struct cache_md *cmd, uint64_t discard_block_size,
			 uint32_t nr_dblocks);
int cache_set_discard(struct cache_md *cmd, uint32_t dblock, int discard);
typedef int (*cache_discard_fn)(void *ctx, uint32_t dblock, int discarded);
int cache_walk_discards(struct cache_md *cmd, cache_discard_fn fn, void *ctx);

struct cache_stats {
	uint32_t read_hits, read_misses, write_hits, write_misses;
};
#define CACHE_UUID_SIZE 16u
/* CA8: the uuid as stored (not a string: any 16 bytes). */
int cache_get_uuid(struct cache_md *cmd, uint8_t uuid[CACHE_UUID_SIZE]);
int cache_set_uuid(struct cache_md *cmd, const uint8_t uuid[CACHE_UUID_SIZE]);

int cache_get_stats(struct cache_md *cmd, struct cache_stats *st);
int cache_set_stats(struct cache_md *cmd, const struct cache_stats *st);

/* NEEDS_CHECK: written at once (the committed superblock plus the flag,
 * then a flush) and kept by later commits. */
int cache_set_needs_check(struct cache_md *cmd);
int cache_get_needs_check(struct cache_md *cmd, int *needs_check);

int cache_get_nr_metadata_blocks(struct cache_md *cmd, pd_block_t *nr);
int cache_get_free_metadata_blocks(struct cache_md *cmd, pd_block_t *nr);

/* The superblock as on disk (no metadata object needed); -EILSEQ /
 * -ENOTBLK if damaged, -ENODATA if all zeroes. */
struct cache_sb_info {
	uint32_t flags, version, policy_hint_size;
	uint32_t compat_flags, compat_ro_flags, incompat_flags;
	uint8_t uuid[16];
	char policy_name[CACHE_POLICY_NAME_SIZE + 1];
	uint32_t policy_version[CACHE_POLICY_VERSION_SIZE];
	uint64_t mapping_root, hint_root, discard_root, dirty_root;
	uint64_t discard_block_size, discard_nr_blocks;
	uint32_t data_block_size, metadata_block_size, cache_blocks;
	struct cache_stats stats;
};
int cache_read_superblock(struct bdev *bd, struct cache_sb_info *info);
/* The same, noting on -EILSEQ / -ENOTBLK / -EIO what is wrong with block
 * 0 in *why (errors.h; why may be NULL). */
int cache_read_superblock_why(struct bdev *bd, struct cache_sb_info *info,
			      struct pd_damage *why);

#endif /* PD_CACHE_H */
