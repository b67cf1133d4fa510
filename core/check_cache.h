/* core/check_cache.h - structural checks of dm-array / dm-bitset metadata
 * and of dm-cache metadata, like cache_check (FORMAT.md 1.11, 1.12).
 *
 * Independent of array.c, bitset.c and cache.c on purpose, as check.c is
 * of the thin code: it reads blocks raw through the bdev and parses btree
 * nodes, array blocks, the metadata space map and the cache superblock
 * itself, so a bug in the code under test cannot agree with itself.
 *
 * What it checks (cited in check_cache.c and the tests):
 *  CC1  cache superblock: readable, checksum (salt 9031977), blocknr 0,
 *       magic 1623043 (octal 06142003), version 1 or 2, policy_hint_size
 *       0 or 4 (what the kernel writes), metadata_block_size 8, no
 *       unknown incompat flags.  Nothing else is read if this fails.
 *  CC2  every btree node of an array's index tree: checksum (salt
 *       121107), blocknr, flags, value size 8, max_entries by formula,
 *       nr_entries <= max_entries, keys strictly increasing and inside
 *       the parent's range, depth bounded; non-root nodes hold at least
 *       max_entries / 3 (a warning unless CHECK_STRICT).
 *  CC3  an array is fully populated: its index tree holds keys 0 .. k-1
 *       exactly; every array block has checksum (salt 595846735) and
 *       blocknr (at offset 16), the array's value_size, max_entries =
 *       (4096 - 24) / value_size, nr_entries = max_entries except in the
 *       last block, which holds 1 .. max_entries; the entries add up to
 *       the length the owner records (when it records one).
 *  CC4  reference counts: expected counts are rebuilt for every metadata
 *       block: superblock 1; each array root once per owner naming it;
 *       each btree node and array block once per node that references it
 *       (a block shared by several arrays counts once per referrer); the
 *       metadata space map's index block, bitmaps and ref-count tree nodes
 *       1.  The on-disk metadata space map (index block salt 160478,
 *       bitmaps salt 240779, 2 bits a block, high bit first, value 3 in
 *       the ref-count tree) must agree block by block: disk 1 / expected
 *       0 is a leak, any other difference an error.  nr_allocated in the
 *       root must equal the blocks in use, and each index entry's nr_free
 *       and none_free_before must fit its bitmap (nr_free its free
 *       entries, past-the-end ones of a partial last bitmap counted or
 *       not; no free entry before none_free_before): warnings unless
 *       CHECK_STRICT.
 *  CC5  cache contents: mapping values use only flag bits VALID (1) and
 *       DIRTY (2) (format 2: VALID only), an unmapped entry is all zero,
 *       no origin block is mapped by two cache blocks; the arrays'
 *       lengths: mappings cache_blocks, dirty bitset (format 2)
 *       ceil(cache_blocks / 64) words, discard bitset ceil(discard_nr_blocks
 *       / 64) words.  A zero hint_root means no hints; a hint array with
 *       policy_hint_size 0 (what Debian's cache_restore 0.9.0 writes) is
 *       a warning, checked with the width its array blocks give.  A hint
 *       array whose length is not cache_blocks is a warning, even with
 *       CHECK_STRICT: the kernel's dm_cache_resize leaves the hint array
 *       as it was (dm-cache writes it anew at its next clean shutdown)
 *       and its load_mappings reads no hint past the end of a short one;
 *       Debian's cache_check 0.9.0 refuses such metadata, 1.x does not
 *       check the length.
 *
 * Robustness: damaged metadata never makes it crash or loop: depth is
 * bounded, each block's references are counted once (a per-block record),
 * every index is range-checked.  Memory: 4 bytes per metadata block.
 *
 * Errors: 0 when the check ran (findings in *res and the messages),
 * -EINVAL bad arguments (block size not 4096), -ENOMEM.
 */
#ifndef PD_CHECK_CACHE_H
#define PD_CHECK_CACHE_H

#include <stdint.h>

#include "bdev.h"
#include "check.h"

/* One array for check_arrays(). */
struct check_array_spec {
	pd_block_t root;
	uint32_t value_size;
	uint64_t nr_entries;		/* CHECK_ARRAY_ANY_SIZE: not recorded */
};
#define CHECK_ARRAY_ANY_SIZE UINT64_MAX

struct check_cache_result {
	unsigned errors;		/* damage (CC1..CC5) */
	unsigned leaks;
	unsigned warnings;
	int superblock_ok;		/* CC1 passed (cache checks only) */
	uint32_t flags, version, policy_hint_size, data_block_size;
	uint32_t cache_blocks;
	char policy_name[17];
	uint64_t discard_block_size, discard_nr_blocks;
	uint64_t nr_mapped;		/* valid mappings */
	uint64_t nr_dirty;		/* dirty as stored (flag or bitset) */
	uint64_t nr_discarded;		/* bits set in the discard bitset */
	uint64_t metadata_nr_blocks;	/* metadata space map root */
	uint64_t metadata_blocks_used;	/* blocks with an expected count > 0 */
};

/* Arrays (CC2, CC3, CC4) on a device whose metadata space map root (32
 * bytes, FORMAT.md 1.7) is sm_root and whose block 0 is a superblock that
 * names the arrays.  An array listed twice is held twice. */
int check_arrays(struct bdev *bd, const void *sm_root,
		 const struct check_array_spec *arrays, unsigned nr_arrays,
		 unsigned flags, check_msg_fn msg, void *ctx,
		 struct check_cache_result *res);

/* A whole dm-cache metadata device (CC1..CC5). */
int check_cache_metadata(struct bdev *bd, unsigned flags, check_msg_fn msg,
			 void *ctx, struct check_cache_result *res);

/* The metadata blocks the cache superblock on bd reaches (check.h's
 * check_thin_reachable for dm-cache): CC1..CC3 and CC5 only (no space-map
 * comparison), then reach(ctx, b) once for each block with an expected
 * count > 0 (the superblock, every array's index nodes and array blocks,
 * the metadata space map's index, bitmaps and ref-count tree nodes), in
 * block order.  Damage is counted in res->errors (and said through msg if
 * not NULL); a bad superblock (CC1) reaches nothing.  Returns as
 * check_cache_metadata(). */
int check_cache_reachable(struct bdev *bd, check_reach_fn reach,
			  check_msg_fn msg, void *ctx,
			  struct check_cache_result *res);

#endif /* PD_CHECK_CACHE_H */
