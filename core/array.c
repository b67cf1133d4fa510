/* core/array.c - dm-array (see array.h for the contract and the layout).
 *
 * Design notes.
 * - The btree's values are array-block locations; its value type
 *   (ablock_inc / ablock_dec) keeps AR3: inc is a tm_inc of the block,
 *   dec drops the block and, when that was its last reference, first
 *   releases the values the block holds.
 * - Changing an array block: look its location up, rewrite the same
 *   location into the btree (which shadows the path to it: if a node on
 *   the path was shared, the node's copy takes references on what it
 *   names, so the array block's count now shows that it is shared), then
 *   tm_shadow_block() it, and when the shadow landed somewhere new, point
 *   the btree at the copy.  Shadowing the array block before the path (as
 *   the kernel's dm-array does) would change in place a block that is
 *   new in this transaction and reachable only through a shared leaf, i.e.
 *   change both arrays when a root was shared in the same transaction.
 *   The copy always takes a reference on its values before the btree
 *   entry is overwritten.  The overwrite then drops the old block through
 *   ablock_dec: if the old block is still referenced elsewhere only its
 *   count falls; if this was its last reference its values are released,
 *   which balances the copy's new references.  (Taking the copy's
 *   references only when the original was shared would release values the
 *   copy still holds whenever an unshared block of a past transaction is
 *   copied.)  tm_shadow_block() has already dropped one reference on the
 *   original, so one is given back first, for the overwrite to take.
 * - Shrinking drops whole trailing blocks with one bt_remove_range() and
 *   trims the new last block; growing fills the old last block, then adds
 *   new blocks.
 */
#include <inttypes.h>
#include <string.h>

#include "array.h"
#include "errors.h"
#include "mutant.h"
#include "bm.h"
#include "bt.h"
#include "tm.h"
#include "util.h"

#define AB(field) offsetof(struct disk_array_block_header, field)

/* --- validator ------------------------------------------------------------ */

static void ablock_prepare_for_write(const struct bm_validator *v,
				     struct bm_block *b, size_t size)
{
	uint8_t *d = bm_block_data(b);

	(void)v;
	le64_put(d + AB(blocknr), bm_block_location(b));
	le32_put(d + AB(csum), pd_block_csum(d + 4, size - 4, ARRAY_CSUM_XOR));
}

static int ablock_check(const struct bm_validator *v, struct bm_block *b,
			size_t size)
{
	const uint8_t *d = bm_block_cdata(b);
	uint32_t value_size, max_entries;

	(void)v;
	if (le64_get(d + AB(blocknr)) != bm_block_location(b)) {
		bm_block_fault(b, "says it is block %" PRIu64,
			       le64_get(d + AB(blocknr)));
		return -ENOTBLK;
	}
	if (le32_get(d + AB(csum)) !=
	    pd_block_csum(d + 4, size - 4, ARRAY_CSUM_XOR)) {
		bm_block_fault(b, "bad checksum");
		return -EILSEQ;
	}
	value_size = le32_get(d + AB(value_size));
	max_entries = le32_get(d + AB(max_entries));
	if (!value_size || value_size > size - ARRAY_BLOCK_HEADER_SIZE ||
	    max_entries != (size - ARRAY_BLOCK_HEADER_SIZE) / value_size) {
		bm_block_fault(b, "value size %" PRIu32 " and max_entries %" PRIu32 " do not fit",
			       value_size, max_entries);
		return -EILSEQ;
	}
	if (le32_get(d + AB(nr_entries)) > max_entries) {
		bm_block_fault(b, "%" PRIu32 " entries, more than max_entries %" PRIu32,
			       le32_get(d + AB(nr_entries)), max_entries);
		return -EILSEQ;
	}
	return 0;
}

const struct bm_validator array_block_validator = {
	"array block", ablock_prepare_for_write, ablock_check
};

/* --- array blocks ------------------------------------------------------- */

static uint32_t ab_nr_entries(const void *d)
{
	return le32_get((const uint8_t *)d + AB(nr_entries));
}

static void ab_set_nr_entries(void *d, uint32_t nr)
{
	le32_put((uint8_t *)d + AB(nr_entries), nr);
}

static uint8_t *ab_value(const struct array_info *info, void *d, uint32_t i)
{
	return (uint8_t *)d + ARRAY_BLOCK_HEADER_SIZE + (size_t)i * info->value_type.size;
}

static uint32_t max_entries(const struct array_info *info)
{
	return array_max_entries(info->value_type.size);
}

/* AR2: the block belongs to an array of this value size. */
static int ab_matches(const struct array_info *info, const void *d)
{
	return le32_get((const uint8_t *)d + AB(value_size)) ==
	       info->value_type.size ? 0 : -EILSEQ;
}

static int values_inc(const struct array_info *info, const void *values,
		      uint32_t count)
{
	if (!count || !info->value_type.inc)
		return 0;
	return info->value_type.inc(info->value_type.context, values, count);
}

static int values_dec(const struct array_info *info, const void *values,
		      uint32_t count)
{
	if (!count || !info->value_type.dec)
		return 0;
	return info->value_type.dec(info->value_type.context, values, count);
}

static int read_ablock(struct array_info *info, pd_block_t b,
		       struct bm_block **result)
{
	int r = tm_read_lock(info->bt.tm, b, &array_block_validator, result);

	if (r)
		return r;
	r = ab_matches(info, bm_block_cdata(*result));
	if (r)
		tm_unlock(info->bt.tm, *result);
	return r;
}

static int lookup_ablock(struct array_info *info, pd_block_t root,
			 uint32_t block_index, pd_block_t *b)
{
	uint64_t key = block_index;
	uint8_t v[8];
	int r = bt_lookup(&info->bt, root, &key, v);

	if (r)
		return r;
	*b = le64_get(v);
	return 0;
}

/* --- the btree's value type: array blocks (AR3) ---------------------------- */

static int ablock_inc(void *context, const void *values, unsigned count)
{
	struct array_info *info = context;
	const uint8_t *p = values;

	for (unsigned i = 0; i < count; i++) {
		int r = tm_inc(info->bt.tm, le64_get(p + 8 * i));

		if (r)
			return r;
	}
	return 0;
}

static int ablock_dec_one(struct array_info *info, pd_block_t b)
{
	struct bm_block *blk;
	uint32_t count;
	int r;

	r = tm_ref(info->bt.tm, b, &count);
	if (r)
		return r;
	if (count == 1 && info->value_type.dec) {
		r = read_ablock(info, b, &blk);
		if (r)
			return r;
		r = values_dec(info, ab_value(info, bm_block_data(blk), 0),
			       ab_nr_entries(bm_block_cdata(blk)));
		tm_unlock(info->bt.tm, blk);
		if (r)
			return r;
	}
	return tm_dec(info->bt.tm, b);
}

static int ablock_dec(void *context, const void *values, unsigned count)
{
	struct array_info *info = context;
	const uint8_t *p = values;

	for (unsigned i = 0; i < count; i++) {
		int r = ablock_dec_one(info, le64_get(p + 8 * i));

		if (r)
			return r;
	}
	return 0;
}

static int ablock_equal(void *context, const void *v1, const void *v2)
{
	(void)context;
	return le64_get(v1) == le64_get(v2);
}

void array_info_init(struct array_info *info, struct transaction_manager *tm,
		     const struct bt_value_type *vt)
{
	info->value_type = *vt;
	info->bt.tm = tm;
	info->bt.levels = 1;
	info->bt.value_type = (struct bt_value_type) {
		.context = info,
		.size = 8,
		.inc = ablock_inc,
		.dec = ablock_dec,
		.equal = ablock_equal,
	};
}

/* --- changing blocks ------------------------------------------------------ */

/* Errors in a mutation poison the tm (array.h). */
static int fail(struct array_info *info, int r)
{
	if (r)
		tm_set_failed(info->bt.tm);
	return r;
}

static int insert_ablock(struct array_info *info, uint32_t block_index,
			 pd_block_t b, pd_block_t *root)
{
	uint64_t key = block_index;
	uint8_t v[8];

	le64_put(v, b);
	return bt_insert(&info->bt, *root, &key, v, root, NULL);
}

/* A new array block with nr copies of value (each inc'd), inserted as
 * block_index. */
static int add_ablock(struct array_info *info, uint32_t block_index,
		      uint32_t nr, const void *value, pd_block_t *root)
{
	struct bm_block *blk;
	pd_block_t b;
	uint8_t *d;
	int r;

	r = tm_new_block(info->bt.tm, &array_block_validator, &blk);
	if (r)
		return r;
	d = bm_block_data(blk);
	le32_put(d + AB(max_entries), max_entries(info));
	le32_put(d + AB(value_size), info->value_type.size);
	for (uint32_t i = 0; i < nr; i++)
		memcpy(ab_value(info, d, i), value, info->value_type.size);
	ab_set_nr_entries(d, nr);
	r = values_inc(info, ab_value(info, d, 0), nr);
	b = bm_block_location(blk);
	tm_unlock(info->bt.tm, blk);
	if (r)
		return r;
	return insert_ablock(info, block_index, b, root);
}

/* Write-lock array block block_index for change, copying it first if the
 * tm says so, and point the btree at the copy (see the notes on top). */
static int shadow_ablock(struct array_info *info, pd_block_t *root,
			 uint32_t block_index, struct bm_block **result)
{
	struct bm_block *blk;
	pd_block_t b;
	int inc, r;

	r = lookup_ablock(info, *root, block_index, &b);
	if (r)
		return r;
	/* Unshare the path first: a shared leaf's copy takes a reference on
	 * b, so b's count tells tm_shadow_block() whether it is shared. */
	r = insert_ablock(info, block_index, b, root);
	if (r)
		return r;
	r = tm_shadow_block(info->bt.tm, b, &array_block_validator, &blk, &inc);
	if (r)
		return r;
	r = ab_matches(info, bm_block_cdata(blk));
	if (r)
		goto out_unlock;
	if (bm_block_location(blk) != b) {
		r = PD_MUTANT(ARRAY_SHADOW_NO_INC) && inc ? 0 :
		    values_inc(info, ab_value(info, bm_block_data(blk), 0),
			       ab_nr_entries(bm_block_cdata(blk)));
		if (r)
			goto out_unlock;
		r = tm_inc(info->bt.tm, b);
		if (r)
			goto out_unlock;
		r = insert_ablock(info, block_index, bm_block_location(blk), root);
		if (r)
			goto out_unlock;
	}
	*result = blk;
	return 0;

out_unlock:
	tm_unlock(info->bt.tm, blk);
	return r;
}

/* Grow block block_index (already in the tree) to nr entries of value. */
static int fill_ablock(struct array_info *info, pd_block_t *root,
		       uint32_t block_index, uint32_t nr, const void *value)
{
	struct bm_block *blk;
	uint32_t old;
	uint8_t *d;
	int r;

	r = shadow_ablock(info, root, block_index, &blk);
	if (r)
		return r;
	d = bm_block_data(blk);
	old = ab_nr_entries(d);
	if (nr > old) {
		for (uint32_t i = old; i < nr; i++)
			memcpy(ab_value(info, d, i), value, info->value_type.size);
		ab_set_nr_entries(d, nr);
		r = values_inc(info, ab_value(info, d, old), nr - old);
	}
	tm_unlock(info->bt.tm, blk);
	return r;
}

/* Shrink block block_index to nr entries, releasing the rest. */
static int trim_ablock(struct array_info *info, pd_block_t *root,
		       uint32_t block_index, uint32_t nr)
{
	struct bm_block *blk;
	uint32_t old;
	uint8_t *d;
	int r;

	r = shadow_ablock(info, root, block_index, &blk);
	if (r)
		return r;
	d = bm_block_data(blk);
	old = ab_nr_entries(d);
	if (nr < old) {
		r = values_dec(info, ab_value(info, d, nr), old - nr);
		memset(ab_value(info, d, nr), 0,
		       (size_t)(old - nr) * info->value_type.size);
		ab_set_nr_entries(d, nr);
	}
	tm_unlock(info->bt.tm, blk);
	return r;
}

/* --- the operations ------------------------------------------------------- */

int array_empty(struct array_info *info, pd_block_t *root)
{
	if (!max_entries(info))
		return -EINVAL;
	return bt_empty(&info->bt, root);
}

static uint32_t blocks_for(uint32_t size, uint32_t max)
{
	return (uint32_t)(((uint64_t)size + max - 1) / max);
}

static int grow(struct array_info *info, pd_block_t *root, uint32_t old_size,
		uint32_t new_size, const void *value)
{
	uint32_t max = max_entries(info);
	uint32_t old_blocks = blocks_for(old_size, max);
	uint32_t new_blocks = blocks_for(new_size, max);
	int r;

	if (old_size % max) {
		uint32_t last = old_blocks - 1;
		uint64_t end = (uint64_t)max * old_blocks;

		r = fill_ablock(info, root, last,
				(uint32_t)((new_size < end ? new_size : end) -
					   (uint64_t)last * max), value);
		if (r)
			return r;
	}
	for (uint32_t i = old_blocks; i < new_blocks; i++) {
		uint64_t left = new_size - (uint64_t)i * max;

		r = add_ablock(info, i, left < max ? (uint32_t)left : max,
			       value, root);
		if (r)
			return r;
	}
	return 0;
}

static int shrink(struct array_info *info, pd_block_t *root,
		  uint32_t new_size)
{
	uint32_t max = max_entries(info);
	uint32_t new_blocks = blocks_for(new_size, max);
	uint64_t key = new_blocks, nr_removed;
	int r;

	r = bt_remove_range(&info->bt, *root, &key, UINT64_MAX, root,
			    &nr_removed);
	if (r)
		return r;
	if (new_size % max)
		r = trim_ablock(info, root, new_blocks - 1, new_size % max);
	return r;
}

int array_resize(struct array_info *info, pd_block_t root, uint32_t old_size,
		 uint32_t new_size, const void *value, pd_block_t *new_root)
{
	int r;

	*new_root = root;
	if (!max_entries(info))
		return -EINVAL;
	if (old_size == new_size)
		return 0;
	if (new_size > old_size)
		r = grow(info, new_root, old_size, new_size, value);
	else
		r = shrink(info, new_root, new_size);
	return fail(info, r);
}

int array_new(struct array_info *info, uint32_t size, array_value_fn fn,
	      void *ctx, pd_block_t *root)
{
	uint32_t max = max_entries(info), nr_blocks;
	int r;

	r = array_empty(info, root);
	if (r)
		return r;
	nr_blocks = blocks_for(size, max);
	for (uint32_t bi = 0; bi < nr_blocks; bi++) {
		uint64_t left = size - (uint64_t)bi * max;
		uint32_t nr = left < max ? (uint32_t)left : max;
		struct bm_block *blk;
		pd_block_t b;
		uint8_t *d;

		r = tm_new_block(info->bt.tm, &array_block_validator, &blk);
		if (r)
			return fail(info, r);
		d = bm_block_data(blk);
		le32_put(d + AB(max_entries), max);
		le32_put(d + AB(value_size), info->value_type.size);
		for (uint32_t i = 0; i < nr && !r; i++)
			r = fn(ctx, bi * max + i, ab_value(info, d, i));
		if (!r) {
			ab_set_nr_entries(d, nr);
			r = values_inc(info, ab_value(info, d, 0), nr);
		}
		b = bm_block_location(blk);
		tm_unlock(info->bt.tm, blk);
		if (!r)
			r = insert_ablock(info, bi, b, root);
		if (r)
			return fail(info, r);
	}
	return 0;
}

int array_del(struct array_info *info, pd_block_t root)
{
	return fail(info, bt_del(&info->bt, root));
}

int array_get(struct array_info *info, pd_block_t root, uint32_t index,
	      void *value)
{
	uint32_t max = max_entries(info);
	struct bm_block *blk;
	pd_block_t b;
	int r;

	if (!max)
		return -EINVAL;
	r = lookup_ablock(info, root, index / max, &b);
	if (r)
		return r;
	r = read_ablock(info, b, &blk);
	if (r)
		return r;
	if (index % max >= ab_nr_entries(bm_block_cdata(blk)))
		r = -ENODATA;
	else
		memcpy(value, ab_value(info, bm_block_data(blk), index % max),
		       info->value_type.size);
	tm_unlock(info->bt.tm, blk);
	return r;
}

int array_set(struct array_info *info, pd_block_t root, uint32_t index,
	      const void *value, pd_block_t *new_root)
{
	const struct bt_value_type *vt = &info->value_type;
	uint32_t max = max_entries(info);
	struct bm_block *blk;
	uint8_t *old;
	int r;

	*new_root = root;
	if (!max)
		return -EINVAL;
	/* An index past the last block changes nothing at all. */
	r = lookup_ablock(info, root, index / max, &(pd_block_t){0});
	if (r)
		return r;
	r = shadow_ablock(info, new_root, index / max, &blk);
	if (r)
		return fail(info, r);
	if (index % max >= ab_nr_entries(bm_block_cdata(blk))) {
		tm_unlock(info->bt.tm, blk);
		return -ENODATA;	/* AR4 */
	}
	old = ab_value(info, bm_block_data(blk), index % max);
	if (!vt->equal || !vt->equal(vt->context, old, value)) {
		r = values_inc(info, value, 1);
		if (!r)
			r = values_dec(info, old, 1);
	}
	if (!r)
		memcpy(old, value, vt->size);
	tm_unlock(info->bt.tm, blk);
	return fail(info, r);
}

int array_size(struct array_info *info, pd_block_t root, uint32_t *size)
{
	struct bm_block *blk;
	uint64_t last;
	pd_block_t b;
	int r;

	r = bt_find_highest_key(&info->bt, root, &(uint64_t){0}, &last);
	if (r == -ENODATA) {
		*size = 0;
		return 0;
	}
	if (r)
		return r;
	r = lookup_ablock(info, root, (uint32_t)last, &b);
	if (r)
		return r;
	r = read_ablock(info, b, &blk);
	if (r)
		return r;
	*size = (uint32_t)(last * max_entries(info) +
			   ab_nr_entries(bm_block_cdata(blk)));
	tm_unlock(info->bt.tm, blk);
	return 0;
}

/* --- walk and cursor ------------------------------------------------------ */

struct array_walk_ctx {
	struct array_info *info;
	array_walk_fn fn;
	void *ctx;
	uint8_t *copy;			/* one block, so fn runs unlocked */
};

static int walk_ablock(void *context, const uint64_t *keys, const void *value)
{
	struct array_walk_ctx *w = context;
	struct array_info *info = w->info;
	uint32_t max = max_entries(info), nr;
	struct bm_block *blk;
	int r;

	r = read_ablock(info, le64_get(value), &blk);
	if (r)
		return r;
	memcpy(w->copy, bm_block_cdata(blk), PD_BLOCK_SIZE);
	tm_unlock(info->bt.tm, blk);
	nr = ab_nr_entries(w->copy);
	for (uint32_t i = 0; i < nr; i++) {
		r = w->fn(w->ctx, (uint32_t)(keys[0] * max + i),
			  ab_value(info, w->copy, i));
		if (r)
			return r;
	}
	return 0;
}

int array_walk(struct array_info *info, pd_block_t root, array_walk_fn fn,
	       void *ctx)
{
	struct array_walk_ctx w = { info, fn, ctx, NULL };
	int r;

	if (!max_entries(info))
		return -EINVAL;
	w.copy = pd_malloc(PD_BLOCK_SIZE);
	if (!w.copy)
		return -ENOMEM;
	r = bt_walk(&info->bt, root, walk_ablock, &w);
	pd_free(w.copy);
	return r;
}

struct array_cursor {
	struct array_info *info;
	struct bt_cursor *bc;
	uint32_t block_index;		/* key of the block in copy */
	uint32_t entry;			/* in copy */
	pd_block_t loc;			/* where copy was read */
	uint8_t copy[PD_BLOCK_SIZE];
};

/* Copy the block the btree cursor is at; -ENODATA if it is empty (a
 * damaged array: only the last block may be short, none empty). */
static int cursor_load(struct array_cursor *c)
{
	struct bm_block *blk;
	uint64_t key;
	uint8_t v[8];
	int r;

	r = bt_cursor_get(c->bc, &key, v);
	if (r)
		return r;
	r = read_ablock(c->info, le64_get(v), &blk);
	if (r)
		return r;
	memcpy(c->copy, bm_block_cdata(blk), PD_BLOCK_SIZE);
	tm_unlock(c->info->bt.tm, blk);
	c->block_index = (uint32_t)key;
	c->loc = le64_get(v);
	c->entry = 0;
	return ab_nr_entries(c->copy) ? 0 : -EILSEQ;
}

int array_cursor_begin(struct array_info *info, pd_block_t root,
		       struct array_cursor **result)
{
	struct array_cursor *c;
	int r;

	if (!max_entries(info))
		return -EINVAL;
	c = pd_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->info = info;
	r = bt_cursor_begin(&info->bt, root, 0, &c->bc);
	if (r)
		goto out_free;
	r = cursor_load(c);
	if (r)
		goto out_end;
	*result = c;
	return 0;

out_end:
	bt_cursor_end(c->bc);
out_free:
	pd_free(c);
	return r;
}

int array_cursor_next(struct array_cursor *c)
{
	int r;

	if (c->entry + 1 < ab_nr_entries(c->copy)) {
		c->entry++;
		return 0;
	}
	r = bt_cursor_next(c->bc);
	if (r)
		return r;
	return cursor_load(c);
}

int array_cursor_skip(struct array_cursor *c, uint32_t count)
{
	while (count) {
		uint32_t left = ab_nr_entries(c->copy) - c->entry - 1;
		int r;

		if (count <= left) {
			c->entry += count;
			return 0;
		}
		count -= PD_MUTANT(ARRAY_CURSOR_SKIP_BOUNDARY) ? left : left + 1;
		r = bt_cursor_next(c->bc);
		if (r)
			return r;
		r = cursor_load(c);
		if (r)
			return r;
	}
	return 0;
}

uint32_t array_cursor_index(const struct array_cursor *c)
{
	return c->block_index * max_entries(c->info) + c->entry;
}

const void *array_cursor_value(const struct array_cursor *c)
{
	return c->copy + ARRAY_BLOCK_HEADER_SIZE +
	       (size_t)c->entry * c->info->value_type.size;
}

int array_cursor_short(struct array_cursor *c, uint64_t want)
{
	uint64_t have = (uint64_t)c->block_index * max_entries(c->info) +
			ab_nr_entries(c->copy);

	pd_damage_note(bm_damage(tm_bm(c->info->bt.tm)), c->loc,
		       "block %" PRIu64 " (array block): the array ends after %" PRIu64 " entries, %" PRIu64 " expected",
		       (uint64_t)c->loc, have, want);
	return -EILSEQ;
}

void array_cursor_end(struct array_cursor *c)
{
	if (!c)
		return;
	bt_cursor_end(c->bc);
	pd_free(c);
}
