/* core/bitset.h - bitsets in the dm-bitset on-disk format: an array
 * (array.h) of __le64 words, 64 bits a word, bit i in word i / 64 at bit
 * position i % 64 (FORMAT.md 1.11).  dm-cache keeps its discard bits and
 * (format 2) its dirty bits in them.
 *
 * Like the kernel's dm_disk_bitset, struct bitset_info caches one word:
 * set / clear / test load the word they need (writing the cached one back
 * first if it changed) and change only the cache; bitset_flush() writes
 * the cached word into the array.  Nothing reaches the array until then,
 * so the owner flushes before it commits.
 *
 * Invariants:
 *  BS1  the bitset of n bits is an array of ceil(n / 64) words; it does
 *       not store n (the caller does).
 *  BS2  at most one word is cached; it is written back by bitset_flush()
 *       or when an operation needs another word, never otherwise.
 *  BS3  bits past n in the last word are zero after bitset_new() and
 *       bitset_resize() (the kernel leaves them as they were; a grow
 *       therefore sets bits [old n, new n) to the default in the old last
 *       word as well, where the kernel does so only for whole new words).
 *  BS4  bitset_resize() flushes and drops the cached word first.
 *
 * Errors: as array.h; -ENODATA a bit past the array.  An error in a
 * change leaves the tm failed (tm.h TM4).
 * Ownership: bitset_info is initialised in place (it holds an array_info)
 * and must not be copied.  The root lives with the caller: every call
 * that may change the bitset returns the new root, to be stored.
 */
#ifndef PD_BITSET_H
#define PD_BITSET_H

#include <stdint.h>

#include "array.h"

#define BITSET_BITS_PER_WORD 64u

struct bitset_info {
	struct array_info array;	/* of __le64 words, no refcounting */
	int current_set;		/* a word is cached */
	int dirty;			/* the cached word differs from the array */
	uint32_t current_index;		/* its word index */
	uint64_t current_bits;
};

void bitset_info_init(struct bitset_info *info, struct transaction_manager *tm);

int bitset_empty(struct bitset_info *info, pd_block_t *root);
/* A new bitset of nr_bits bits, bit i from fn (0 or 1). */
typedef int (*bitset_bit_fn)(void *ctx, uint32_t index, int *bit);
int bitset_new(struct bitset_info *info, uint32_t nr_bits, bitset_bit_fn fn,
	       void *ctx, pd_block_t *root);
int bitset_del(struct bitset_info *info, pd_block_t root);
/* New bits take default_value (BS3, BS4). */
int bitset_resize(struct bitset_info *info, pd_block_t root, uint32_t old_bits,
		  uint32_t new_bits, int default_value, pd_block_t *new_root);

int bitset_set_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		   pd_block_t *new_root);
int bitset_clear_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		     pd_block_t *new_root);
int bitset_test_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		    pd_block_t *new_root, int *result);
/* Write the cached word back if it changed (BS2). */
int bitset_flush(struct bitset_info *info, pd_block_t root,
		 pd_block_t *new_root);
/* Forget the cached word without writing it (after an abort). */
void bitset_drop_cache(struct bitset_info *info);

/* A cursor over bits [0, nr_bits) of the array as it is on the tm (the
 * cached word is not seen: flush first).  begin with nr_bits 0 and next
 * past nr_bits are -ENODATA. */
struct bitset_cursor;
int bitset_cursor_begin(struct bitset_info *info, pd_block_t root,
			uint32_t nr_bits, struct bitset_cursor **result);
int bitset_cursor_next(struct bitset_cursor *c);
int bitset_cursor_skip(struct bitset_cursor *c, uint32_t count);
int bitset_cursor_get(const struct bitset_cursor *c);
uint32_t bitset_cursor_index(const struct bitset_cursor *c);
void bitset_cursor_end(struct bitset_cursor *c);

#endif /* PD_BITSET_H */
