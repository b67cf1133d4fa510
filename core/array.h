/* core/array.h - arrays of fixed-size values in the dm-array on-disk format
 * (FORMAT.md 1.11), as dm-cache and dm-era keep them.
 *
 * An array of n values is a one-level btree (bt.h) that is fully
 * populated: key i (i = 0 .. ceil(n / max_entries) - 1) maps to the __le64
 * location of array block i, which holds values [i * max_entries,
 * (i + 1) * max_entries) packed back to back.  The array does not store
 * its length: the caller keeps it (the cache superblock's cache_blocks,
 * the bitset's word count) and passes it to array_resize().
 *
 * Array block (4096 bytes, checksum salt ARRAY_CSUM_XOR over bytes 4..4095):
 *   off  size  field
 *     0     4  csum
 *     4     4  max_entries   (4096 - 24) / value_size, e.g. 509 for 8 bytes
 *     8     4  nr_entries    values in use in this block
 *    12     4  value_size    bytes
 *    16     8  blocknr       where the block lives (note: offset 16, not 8)
 *    24        values
 *
 * Invariants:
 *  AR1  every array block but the last holds max_entries values; the last
 *       holds 1 .. max_entries; an empty array is an empty btree.
 *  AR2  an array block's header passes the validator: location, checksum,
 *       value_size != 0, max_entries = (4096 - 24) / value_size, nr_entries
 *       <= max_entries; and its value_size is the array's.
 *  AR3  reference counts: the btree's value type counts array blocks (one
 *       reference per btree leaf entry naming the block), and the array's
 *       value type counts the values: a value held by an array block is
 *       counted once per block that holds it.  A block that is still
 *       shared is copied before any change (tm_shadow_block); the copy
 *       takes a reference on every value it holds.  When a block's last
 *       reference goes, its values are released (value_type.dec).
 *  AR4  array_set() on an index past the length is -ENODATA and changes
 *       no value (the block may have been shadowed: the new root must
 *       still be stored).
 *  AR5  readers (get, walk, cursor) never change anything and hold no
 *       block lock when they return or call back.
 *
 * Errors: as bt.h; -ENODATA index out of range (or an empty array for a
 * cursor), -EILSEQ a damaged array block (AR2), -EINVAL misuse (value size
 * 0 or larger than a block can hold).  After an error in a mutation the
 * array is in an undefined state in this transaction and the tm is marked
 * failed (tm.h TM4): the caller aborts.
 *
 * Ownership: struct array_info holds pointers into itself (the btree's
 * value type context); initialise it in place with array_info_init() and
 * do not copy it afterwards.  Values passed in are copied; the array takes
 * its own references on them (value_type.inc), the caller keeps its own.
 */
#ifndef PD_ARRAY_H
#define PD_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "bt.h"

#define ARRAY_CSUM_XOR		595846735u
#define ARRAY_BLOCK_HEADER_SIZE	24u

/* The array block header (see above); read and written with le*_get/put. */
struct disk_array_block_header {
	uint32_t csum;			/*  0 over bytes 4..4095 */
	uint32_t max_entries;		/*  4 values a block can hold */
	uint32_t nr_entries;		/*  8 values in use */
	uint32_t value_size;		/* 12 bytes */
	uint64_t blocknr;		/* 16 own location */
} __attribute__((packed));

_Static_assert(sizeof(struct disk_array_block_header) == ARRAY_BLOCK_HEADER_SIZE,
	       "array block header is 24 bytes");

extern const struct bm_validator array_block_validator;

struct array_info {
	struct bt_value_type value_type;	/* of the array's values */
	struct bt_info bt;			/* index -> array block */
};

static inline uint32_t array_max_entries(uint32_t value_size)
{
	return value_size ? (4096u - ARRAY_BLOCK_HEADER_SIZE) / value_size : 0;
}

/* vt is copied; info must stay where it is (see Ownership). */
void array_info_init(struct array_info *info, struct transaction_manager *tm,
		     const struct bt_value_type *vt);

/* An empty array (AR1). */
int array_empty(struct array_info *info, pd_block_t *root);
/* A new array of size values, value i written by fn into value (the
 * array's value size, little-endian); each value is inc'd. */
typedef int (*array_value_fn)(void *ctx, uint32_t index, void *value);
int array_new(struct array_info *info, uint32_t size, array_value_fn fn,
	      void *ctx, pd_block_t *root);
/* Release the whole array (its blocks, and their values, AR3). */
int array_del(struct array_info *info, pd_block_t root);

/* Grow (new entries are copies of value, each inc'd) or shrink (removed
 * entries are dec'd) from old_size to new_size entries. */
int array_resize(struct array_info *info, pd_block_t root, uint32_t old_size,
		 uint32_t new_size, const void *value, pd_block_t *new_root);

int array_get(struct array_info *info, pd_block_t root, uint32_t index,
	      void *value);
/* Overwrite one value: the old one is dec'd and the new one inc'd unless
 * value_type.equal says they are the same (AR3, AR4). */
int array_set(struct array_info *info, pd_block_t root, uint32_t index,
	      const void *value, pd_block_t *new_root);

/* The length, from the last array block (0 for an empty array). */
int array_size(struct array_info *info, pd_block_t root, uint32_t *size);

/* Every (index, value) in index order; a nonzero return from fn stops the
 * walk and is returned.  No lock is held while fn runs (AR5). */
typedef int (*array_walk_fn)(void *ctx, uint32_t index, const void *value);
int array_walk(struct array_info *info, pd_block_t root, array_walk_fn fn,
	       void *ctx);

/* A cursor over the values in index order.  It keeps a copy of the array
 * block it is in and holds no lock; do not change the array while it
 * lives.  begin on an empty array and next past the end are -ENODATA. */
struct array_cursor;
int array_cursor_begin(struct array_info *info, pd_block_t root,
		       struct array_cursor **result);
int array_cursor_next(struct array_cursor *c);
/* Move count values forward (count 0 stays). */
int array_cursor_skip(struct array_cursor *c, uint32_t count);
uint32_t array_cursor_index(const struct array_cursor *c);
/* The current value, valid until the cursor moves or ends. */
const void *array_cursor_value(const struct array_cursor *c);
void array_cursor_end(struct array_cursor *c);
/* For a caller that expected `want` values where the cursor found its
 * end (-ENODATA): note the damage in the bm's record (bm.h BM10), naming
 * the last array block read, and return -EILSEQ. */
int array_cursor_short(struct array_cursor *c, uint64_t want);

#endif /* PD_ARRAY_H */
