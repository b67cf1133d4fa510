/* core/sm_common.h - the "ll" layer shared by the two on-disk space maps
 * (FORMAT.md 1.6-1.10, 2.3): bitmaps of 2-bit counts, an index of the
 * bitmaps, and a ref-count btree for counts of 3 and more.
 *
 * On-disk structures (all little-endian):
 *
 *   struct disk_sm_root (32 bytes, copied into a superblock slot)
 *     0  nr_blocks       blocks managed
 *     8  nr_allocated    blocks with count > 0
 *    16  bitmap_root     sm_disk: root of the index btree;
 *                        sm_metadata: the index block
 *    24  ref_count_root  root of the ref-count btree (key block, __le32)
 *
 *   struct disk_index_entry (16 bytes), one per bitmap
 *     0  blocknr           where the bitmap lives
 *     8  nr_free           entries of the bitmap with count 0
 *    12  none_free_before  hint: entries below it are all in use
 *
 *   metadata index block (salt 160478): csum @0, padding @4, blocknr @8,
 *     255 index entries @16 (exactly 4096 bytes)
 *   bitmap block (salt 240779): csum @0, not_used @4, blocknr @8, then
 *     16320 2-bit entries: entry k of each __le64 word has its HIGH bit
 *     at bit 2k and its LOW bit at bit 2k+1.  0 free, 1, 2, 3 = "look in
 *     the ref-count tree".
 *
 * Invariants (cited in sm_common.c, sm_disk.c, sm_metadata.c and the tests):
 *  LL1  a count of 3 or more is bitmap value 3 plus a ref-count tree entry
 *       holding the count; a count of 2 or less has no tree entry.
 *  LL2  nr_free of an index entry is the number of zero entries of its
 *       bitmap (a new bitmap starts at entries_per_block even when it is
 *       the partial last one); entries below none_free_before are in use.
 *  LL3  a bitmap is changed only through tm_shadow_block() (TM1), and the
 *       index entry then names the shadow.
 *  LL4  nr_allocated counts the blocks whose count is > 0.
 *  LL5  dec of a zero count is -EINVAL and changes nothing (SM4); the
 *       whole range is checked before anything is changed.
 *
 * Errors: as sm.h; -EILSEQ for an on-disk structure that contradicts
 * itself (a value 3 with no ref-count entry, a root naming more bitmaps
 * than the index can hold).
 * Ownership: a struct ll_disk owns no memory and may be copied by value
 * (the "old_ll" snapshot taken at commit).  The tm is the caller's.
 */
#ifndef PD_SM_COMMON_H
#define PD_SM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "bm.h"
#include "bt.h"
#include "sm.h"
#include "tm.h"

#define SM_BITMAP_CSUM_XOR	240779u
#define SM_INDEX_CSUM_XOR	160478u
#define SM_BITMAP_HEADER_SIZE	16u
#define SM_ENTRIES_PER_BYTE	4u
#define SM_ENTRIES_PER_BLOCK \
	((PD_BLOCK_SIZE - SM_BITMAP_HEADER_SIZE) * SM_ENTRIES_PER_BYTE)	/* 16320 */
#define SM_MAX_METADATA_BITMAPS 255u
#define SM_METADATA_MAX_BLOCKS \
	((pd_block_t)SM_MAX_METADATA_BITMAPS * SM_ENTRIES_PER_BLOCK)	/* 4161600 */
#define SM_IE_CACHE_SIZE	64u	/* sm_disk's cache of index entries */

struct disk_sm_root {
	uint64_t nr_blocks_le;
	uint64_t nr_allocated_le;
	uint64_t bitmap_root_le;
	uint64_t ref_count_root_le;
};
_Static_assert(sizeof(struct disk_sm_root) == SM_ROOT_SIZE,
	       "disk_sm_root is 32 bytes");

struct disk_index_entry {
	uint64_t blocknr_le;
	uint32_t nr_free_le;
	uint32_t none_free_before_le;
};
_Static_assert(sizeof(struct disk_index_entry) == 16,
	       "disk_index_entry is 16 bytes");

struct disk_metadata_index {
	uint32_t csum_le;
	uint32_t padding_le;
	uint64_t blocknr_le;
	struct disk_index_entry index[SM_MAX_METADATA_BITMAPS];
};
_Static_assert(sizeof(struct disk_metadata_index) == PD_BLOCK_SIZE,
	       "the metadata index fills one block");

struct disk_bitmap_header {
	uint32_t csum_le;
	uint32_t not_used_le;
	uint64_t blocknr_le;
};
_Static_assert(sizeof(struct disk_bitmap_header) == SM_BITMAP_HEADER_SIZE,
	       "bitmap header is 16 bytes");

/* Byte offsets for le32_get/le64_get on raw blocks and roots. */
#define SM_ROOT_OFF_NR_BLOCKS	   offsetof(struct disk_sm_root, nr_blocks_le)
#define SM_ROOT_OFF_NR_ALLOCATED   offsetof(struct disk_sm_root, nr_allocated_le)
#define SM_ROOT_OFF_BITMAP_ROOT	   offsetof(struct disk_sm_root, bitmap_root_le)
#define SM_ROOT_OFF_REF_COUNT_ROOT offsetof(struct disk_sm_root, ref_count_root_le)
#define SM_INDEX_OFF_ENTRIES	   offsetof(struct disk_metadata_index, index)
#define SM_IE_OFF_BLOCKNR	   offsetof(struct disk_index_entry, blocknr_le)
#define SM_IE_OFF_NR_FREE	   offsetof(struct disk_index_entry, nr_free_le)
#define SM_IE_OFF_NONE_FREE_BEFORE \
	offsetof(struct disk_index_entry, none_free_before_le)

extern const struct bm_validator sm_bitmap_validator;
extern const struct bm_validator sm_index_validator;

/* An index entry in CPU order. */
struct sm_index_entry {
	pd_block_t blocknr;
	uint32_t nr_free;
	uint32_t none_free_before;
};

void sm_ie_unpack(const void *disk, struct sm_index_entry *ie);
void sm_ie_pack(void *disk, const struct sm_index_entry *ie);

/* Entry `bit` of a bitmap block's payload (the bytes after the header). */
unsigned sm_bitmap_get(const uint8_t *payload, uint32_t bit);
void sm_bitmap_set(uint8_t *payload, uint32_t bit, unsigned value);

enum ll_kind {
	LL_METADATA,		/* index in one block, kept in mi_le */
	LL_DISK,		/* index in a btree, with a cache */
};

struct ll_ie_cache {
	int valid;
	int dirty;
	pd_block_t index;
	struct sm_index_entry ie;
};

struct ll_disk {
	struct transaction_manager *tm;
	enum ll_kind kind;
	struct bt_info bitmap_info;	/* LL_DISK: index tree, 16-byte values */
	struct bt_info ref_count_info;	/* 4-byte values */
	uint32_t entries_per_block;
	pd_block_t nr_blocks;
	pd_block_t nr_allocated;	/* LL4 */
	pd_block_t bitmap_root;
	pd_block_t ref_count_root;
	int bitmap_index_changed;	/* an index entry was saved */
	union {
		uint8_t mi_le[PD_BLOCK_SIZE];	/* LL_METADATA: whole block */
		struct ll_ie_cache ie_cache[SM_IE_CACHE_SIZE];	/* LL_DISK */
	};
};

/* Create: an empty index (metadata: a new index block) and an empty
 * ref-count tree, nr_blocks 0; then sm_ll_extend(). */
int sm_ll_new_metadata(struct ll_disk *ll, struct transaction_manager *tm);
int sm_ll_new_disk(struct ll_disk *ll, struct transaction_manager *tm);
/* Open from a disk_sm_root (len >= 32).  -EINVAL for a short root,
 * -EILSEQ for a metadata root naming more than 255 bitmaps. */
int sm_ll_open_metadata(struct ll_disk *ll, struct transaction_manager *tm,
			const void *root, size_t len);
int sm_ll_open_disk(struct ll_disk *ll, struct transaction_manager *tm,
		    const void *root, size_t len);

/* Grow by extra blocks: new bitmaps (tm_new_block) with nr_free =
 * entries_per_block (LL2).  nr_blocks is raised before the first bitmap
 * is allocated.  -EINVAL past the index's capacity. */
int sm_ll_extend(struct ll_disk *ll, pd_block_t extra);

int sm_ll_lookup_bitmap(struct ll_disk *ll, pd_block_t b, uint32_t *result);
int sm_ll_lookup(struct ll_disk *ll, pd_block_t b, uint32_t *result);

/* First block in [begin, end) whose bitmap entry is 0 (skipping bitmaps
 * with nr_free 0, starting inside a bitmap at max(begin, none_free_before)),
 * or -ENOSPC. */
int sm_ll_find_free_block(struct ll_disk *ll, pd_block_t begin,
			  pd_block_t end, pd_block_t *result);
/* The same, but the block must also be free in old_ll (SM1). */
int sm_ll_find_common_free_block(struct ll_disk *old_ll, struct ll_disk *ll,
				 pd_block_t begin, pd_block_t end,
				 pd_block_t *result);

/* The mutators report the net change of allocated blocks (may be < 0). */
int sm_ll_inc(struct ll_disk *ll, pd_block_t b, pd_block_t e,
	      int64_t *nr_allocations);
int sm_ll_dec(struct ll_disk *ll, pd_block_t b, pd_block_t e,
	      int64_t *nr_allocations);

/* Write the index if it changed (metadata: into a shadow of the index
 * block, so bitmap_root moves; disk: cached entries into the btree). */
int sm_ll_commit(struct ll_disk *ll);

/* The 32-byte root; -ENOSPC if max < 32. */
int sm_ll_copy_root(const struct ll_disk *ll, void *where, size_t max);

/* Index entry of bitmap `index` (for checkers and tests). */
int sm_ll_load_ie(struct ll_disk *ll, pd_block_t index,
		  struct sm_index_entry *ie);

/* Number of bitmaps for nr_blocks. */
static inline pd_block_t sm_nr_bitmaps(pd_block_t nr_blocks)
{
	return nr_blocks / SM_ENTRIES_PER_BLOCK +
	       (nr_blocks % SM_ENTRIES_PER_BLOCK != 0);	/* no overflow */
}

/*
 * Metadata space map internals, for tests and checkers (sm must come from
 * tm_create_with_sm / tm_open_with_sm): the number of deferred ops now
 * queued and the most ever queued (recursion, sm_metadata.c MS1-MS3).
 * enter/leave act as if a call of the space map were running, so that a
 * test can watch ops being queued (enter once: they do not nest, as the
 * space map's own calls never do); leave applies the queue and returns
 * what applying it returned.
 */
unsigned sm_metadata_queue_len(struct space_map *sm);
unsigned sm_metadata_queue_max(struct space_map *sm);
void sm_metadata_enter(struct space_map *sm);
int sm_metadata_leave(struct space_map *sm);
/* The blocks new_block could hand out now, found one bitmap entry at a
 * time (for a check of an -ENOSPC; sm_metadata.c). */
int sm_metadata_count_allocatable(struct space_map *sm, pd_block_t *count);

#endif /* PD_SM_COMMON_H */
