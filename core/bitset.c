/* core/bitset.c - dm-bitset on the array (see bitset.h). */
#include <string.h>

#include "array.h"
#include "bitset.h"
#include "util.h"

#define WORD_BITS BITSET_BITS_PER_WORD

static uint32_t words_for(uint32_t bits)
{
	return (uint32_t)(((uint64_t)bits + WORD_BITS - 1) / WORD_BITS);
}

/* Bits [0, n) of a word set, n in 0..64. */
static uint64_t low_mask(uint32_t n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

void bitset_info_init(struct bitset_info *info, struct transaction_manager *tm)
{
	struct bt_value_type vt = { .context = NULL, .size = 8 };

	array_info_init(&info->array, tm, &vt);
	bitset_drop_cache(info);
}

void bitset_drop_cache(struct bitset_info *info)
{
	info->current_set = 0;
	info->dirty = 0;
	info->current_index = 0;
	info->current_bits = 0;
}

int bitset_empty(struct bitset_info *info, pd_block_t *root)
{
	bitset_drop_cache(info);
	return array_empty(&info->array, root);
}

struct pack_ctx {
	bitset_bit_fn fn;
	void *ctx;
	uint32_t nr_bits;
};

static int pack_word(void *context, uint32_t index, void *value)
{
	struct pack_ctx *p = context;
	uint64_t word = 0, first = (uint64_t)index * WORD_BITS;

	for (uint32_t i = 0; i < WORD_BITS && first + i < p->nr_bits; i++) {
		int bit = 0, r = p->fn(p->ctx, (uint32_t)(first + i), &bit);

		if (r)
			return r;
		if (bit)
			word |= 1ull << i;
	}
	le64_put(value, word);
	return 0;
}

int bitset_new(struct bitset_info *info, uint32_t nr_bits, bitset_bit_fn fn,
	       void *ctx, pd_block_t *root)
{
	struct pack_ctx p = { fn, ctx, nr_bits };

	bitset_drop_cache(info);
	return array_new(&info->array, words_for(nr_bits), pack_word, &p, root);
}

int bitset_del(struct bitset_info *info, pd_block_t root)
{
	bitset_drop_cache(info);
	return array_del(&info->array, root);
}

int bitset_flush(struct bitset_info *info, pd_block_t root,
		 pd_block_t *new_root)
{
	uint8_t v[8];
	int r;

	*new_root = root;
	if (!info->current_set || !info->dirty)
		return 0;
	le64_put(v, info->current_bits);
	r = array_set(&info->array, root, info->current_index, v, new_root);
	if (r)
		return r;
	info->dirty = 0;
	return 0;
}

/* Change bits [from, to) of word `word` to value (both in one word). */
static int set_word_bits(struct bitset_info *info, pd_block_t *root,
			 uint32_t word, uint32_t from, uint32_t to, int value)
{
	uint64_t mask = low_mask(to) & ~low_mask(from), w;
	uint8_t v[8];
	int r;

	if (from >= to)
		return 0;
	r = array_get(&info->array, *root, word, v);
	if (r)
		return r;
	w = le64_get(v);
	w = value ? (w | mask) : (w & ~mask);
	if (w == le64_get(v))
		return 0;
	le64_put(v, w);
	return array_set(&info->array, *root, word, v, root);
}

int bitset_resize(struct bitset_info *info, pd_block_t root, uint32_t old_bits,
		  uint32_t new_bits, int default_value, pd_block_t *new_root)
{
	uint32_t old_words = words_for(old_bits), new_words = words_for(new_bits);
	uint8_t v[8];
	int r;

	r = bitset_flush(info, root, new_root);
	if (r)
		return r;
	bitset_drop_cache(info);
	if (new_bits > old_bits && old_bits % WORD_BITS) {
		uint32_t end = new_words > old_words ? WORD_BITS
						     : new_bits % WORD_BITS;

		if (!end)
			end = WORD_BITS;
		r = set_word_bits(info, new_root, old_words - 1,
				  old_bits % WORD_BITS, end, default_value);
		if (r)
			return r;
	}
	le64_put(v, default_value ? ~0ull : 0);
	r = array_resize(&info->array, *new_root, old_words, new_words, v,
			 new_root);
	if (r)
		return r;
	/* BS3: nothing set past new_bits in the last word. */
	if (new_bits % WORD_BITS &&
	    (new_bits < old_bits || default_value))
		r = set_word_bits(info, new_root, new_words - 1,
				  new_bits % WORD_BITS, WORD_BITS, 0);
	return r;
}

/* Make word `word` the cached one (BS2). */
static int get_word(struct bitset_info *info, pd_block_t root, uint32_t word,
		    pd_block_t *new_root)
{
	uint8_t v[8];
	int r;

	*new_root = root;
	if (info->current_set && info->current_index == word)
		return 0;
	r = bitset_flush(info, root, new_root);
	if (r)
		return r;
	r = array_get(&info->array, *new_root, word, v);
	if (r)
		return r;
	info->current_set = 1;
	info->current_index = word;
	info->current_bits = le64_get(v);
	info->dirty = 0;
	return 0;
}

static int change_bit(struct bitset_info *info, pd_block_t root,
		      uint32_t index, pd_block_t *new_root, int value)
{
	uint64_t bit = 1ull << (index % WORD_BITS);
	int r = get_word(info, root, index / WORD_BITS, new_root);

	if (r)
		return r;
	if (value)
		info->current_bits |= bit;
	else
		info->current_bits &= ~bit;
	info->dirty = 1;
	return 0;
}

int bitset_set_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		   pd_block_t *new_root)
{
	return change_bit(info, root, index, new_root, 1);
}

int bitset_clear_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		     pd_block_t *new_root)
{
	return change_bit(info, root, index, new_root, 0);
}

int bitset_test_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		    pd_block_t *new_root, int *result)
{
	int r = get_word(info, root, index / WORD_BITS, new_root);

	if (r)
		return r;
	*result = !!(info->current_bits & (1ull << (index % WORD_BITS)));
	return 0;
}

/* --- cursor --------------------------------------------------------------- */

struct bitset_cursor {
	struct array_cursor *ac;
	uint32_t nr_bits;
	uint32_t index;			/* current bit */
	uint64_t bits;			/* its word */
};

int bitset_cursor_begin(struct bitset_info *info, pd_block_t root,
			uint32_t nr_bits, struct bitset_cursor **result)
{
	struct bitset_cursor *c;
	int r;

	if (!nr_bits)
		return -ENODATA;
	c = pd_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = array_cursor_begin(&info->array, root, &c->ac);
	if (r) {
		pd_free(c);
		return r;
	}
	c->nr_bits = nr_bits;
	c->bits = le64_get(array_cursor_value(c->ac));
	*result = c;
	return 0;
}

int bitset_cursor_skip(struct bitset_cursor *c, uint32_t count)
{
	uint32_t word, to;
	int r;

	if ((uint64_t)c->index + count >= c->nr_bits)
		return -ENODATA;
	to = c->index + count;
	word = c->index / WORD_BITS;
	if (to / WORD_BITS != word) {
		r = array_cursor_skip(c->ac, to / WORD_BITS - word);
		if (r == -ENODATA)	/* inside nr_bits: damaged */
			return array_cursor_short(c->ac, words_for(c->nr_bits));
		if (r)
			return r;
		c->bits = le64_get(array_cursor_value(c->ac));
	}
	c->index = to;
	return 0;
}

int bitset_cursor_next(struct bitset_cursor *c)
{
	return bitset_cursor_skip(c, 1);
}

int bitset_cursor_get(const struct bitset_cursor *c)
{
	return !!(c->bits & (1ull << (c->index % WORD_BITS)));
}

uint32_t bitset_cursor_index(const struct bitset_cursor *c)
{
	return c->index;
}

void bitset_cursor_end(struct bitset_cursor *c)
{
	if (!c)
		return;
	array_cursor_end(c->ac);
	pd_free(c);
}
