/* core/tm.c - the transaction manager (see tm.h for the contract and the
 * state diagram).
 *
 * The shadow table is an open-addressing hash set of the blocks made in
 * this transaction (new blocks and shadows).  Such a block is unreachable
 * from the committed superblock, so it may be written in place until the
 * commit wipes the set (TM1).
 */
#include <string.h>

#include "errors.h"
#include "mutant.h"
#include "tm.h"
#include "util.h"

#define SHADOW_EMPTY UINT64_MAX

struct transaction_manager {
	struct block_manager *bm;
	struct space_map *sm;
	int failed;			/* TM4: sticky after any error */
	pd_block_t *shadows;		/* hash set, SHADOW_EMPTY = free slot */
	size_t shadow_cap;		/* power of two */
	size_t nr_shadows;
};

/* --- shadow table -------------------------------------------------------- */

static size_t slot_of(pd_block_t b, size_t cap)
{
	return (size_t)((b * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static int shadow_alloc(struct transaction_manager *tm, size_t cap)
{
	pd_block_t *s = pd_malloc(cap * sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		s[i] = SHADOW_EMPTY;
	pd_free(tm->shadows);
	tm->shadows = s;
	tm->shadow_cap = cap;
	tm->nr_shadows = 0;
	return 0;
}

/* b is not in the table: shadow_insert asks tm_is_shadow first, and a
 * growth puts the old table's blocks, each once. */
static void shadow_put(pd_block_t *s, size_t cap, pd_block_t b)
{
	size_t i = slot_of(b, cap);

	while (s[i] != SHADOW_EMPTY)
		i = (i + 1) & (cap - 1);
	s[i] = b;
}

/* Room for one more block, made before the block is allocated or locked:
 * once bm_write_lock_zero() has handed out a zeroed block, unlocking it
 * dirties it, so a failure after that would leave a block its validator
 * refuses in the cache for the abort to meet (bm.h BM9). */
static int shadow_reserve(struct transaction_manager *tm)
{
	size_t old_cap = tm->shadow_cap;
	pd_block_t *old = tm->shadows, *s;

	if ((tm->nr_shadows + 1) * 2 <= old_cap)
		return 0;
	s = pd_malloc(old_cap * 2 * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < old_cap * 2; i++)
		s[i] = SHADOW_EMPTY;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] != SHADOW_EMPTY)
			shadow_put(s, old_cap * 2, old[i]);
	pd_free(old);
	tm->shadows = s;
	tm->shadow_cap = old_cap * 2;
	return 0;
}

/* After shadow_reserve(). */
static void shadow_insert(struct transaction_manager *tm, pd_block_t b)
{
	if (tm_is_shadow(tm, b))
		return;
	shadow_put(tm->shadows, tm->shadow_cap, b);
	tm->nr_shadows++;
}

static void shadow_wipe(struct transaction_manager *tm)
{
	if (!tm->nr_shadows)
		return;
	for (size_t i = 0; i < tm->shadow_cap; i++)
		tm->shadows[i] = SHADOW_EMPTY;
	tm->nr_shadows = 0;
}

int tm_is_shadow(struct transaction_manager *tm, pd_block_t b)
{
	size_t i = slot_of(b, tm->shadow_cap);

	while (tm->shadows[i] != SHADOW_EMPTY) {
		if (tm->shadows[i] == b)
			return 1;
		i = (i + 1) & (tm->shadow_cap - 1);
	}
	return 0;
}

/* --- life cycle ---------------------------------------------------------- */

int tm_create(struct block_manager *bm, struct space_map *sm,
	      struct transaction_manager **result)
{
	struct transaction_manager *tm = pd_calloc(1, sizeof(*tm));
	int r;

	if (!tm)
		return -ENOMEM;
	tm->bm = bm;
	tm->sm = sm;
	r = shadow_alloc(tm, 256);
	if (r) {
		pd_free(tm);
		return r;
	}
	*result = tm;
	return 0;
}

void tm_destroy(struct transaction_manager *tm)
{
	if (!tm)
		return;
	pd_free(tm->shadows);
	pd_free(tm);
}

struct block_manager *tm_bm(struct transaction_manager *tm)
{
	return tm->bm;
}

struct space_map *tm_sm(struct transaction_manager *tm)
{
	return tm->sm;
}

int tm_is_failed(const struct transaction_manager *tm)
{
	return tm->failed;
}

void tm_set_failed(struct transaction_manager *tm)
{
	tm->failed = 1;
}

/* TM4: every mutating call passes its result through here. */
static int check(struct transaction_manager *tm, int r)
{
	if (r)
		tm->failed = 1;
	return r;
}

/* --- commit -------------------------------------------------------------- */

int tm_pre_commit(struct transaction_manager *tm)
{
	int r;

	if (tm->failed)
		return -EIO;
	r = sm_commit(tm->sm);
	if (r)
		return check(tm, r);
	if (PD_MUTANT(SUPERBLOCK_FIRST))
		return 0;	/* planted: everything goes out in tm_commit */
#ifdef PD_MUTANTS
	if (PD_MUTANT(NO_FLUSH_BEFORE_SUPERBLOCK))
		return check(tm, bm_write_dirty(tm->bm));	/* planted */
#endif
	return check(tm, bm_flush(tm->bm));
}

int tm_commit(struct transaction_manager *tm, struct bm_block *superblock)
{
	struct block_manager *bm = tm->bm;
	pd_block_t sb = bm_block_location(superblock);
	int r;

	if (tm->failed) {
		/* The superblock must not go out: unlocking would dirty it
		 * (BM2), so drop it from the cache altogether. */
		bm_unlock(superblock);
		bm_forget(bm, sb);
		return -EIO;
	}
	shadow_wipe(tm);
	bm_unlock(superblock);
#ifdef PD_MUTANTS
	if (PD_MUTANT(NO_FLUSH_AFTER_SUPERBLOCK))
		return check(tm, bm_write_dirty(bm));	/* planted */
#endif
	if (PD_MUTANT(SUPERBLOCK_FIRST)) {
		/* planted: the superblock is written before the blocks it
		 * points to, one flush after all of them */
		r = bm_write_block(bm, sb);
		if (r)
			return check(tm, r);
	}
	return check(tm, bm_flush(bm));
}

/* --- block operations ---------------------------------------------------- */

int tm_new_block(struct transaction_manager *tm, const struct bm_validator *v,
		 struct bm_block **result)
{
	pd_block_t b;
	int r;

	if (tm->failed)
		return -EIO;
	r = shadow_reserve(tm);
	if (r)
		return check(tm, r);
	r = sm_new_block(tm->sm, &b);
	if (r)
		return check(tm, r);
	r = bm_write_lock_zero(tm->bm, b, v, result);
	if (r)
		return check(tm, r);
	shadow_insert(tm, b);
	return 0;
}

/* Copy orig to a new block (count 1) and drop one reference on orig. */
static int copy_block(struct transaction_manager *tm, pd_block_t orig,
		      const struct bm_validator *v, struct bm_block **result)
{
	struct bm_block *from, *to;
	pd_block_t b;
	int r;

	r = shadow_reserve(tm);
	if (r)
		return r;
	r = sm_new_block(tm->sm, &b);
	if (r)
		return r;
	r = sm_dec_block(tm->sm, orig);
	if (r)
		return r;
	r = bm_read_lock(tm->bm, orig, v, &from);
	if (r)
		return r;
	r = bm_write_lock_zero(tm->bm, b, v, &to);
	if (r) {
		bm_unlock(from);
		return r;
	}
	memcpy(bm_block_data(to), bm_block_cdata(from), bm_block_size(tm->bm));
	bm_unlock(from);
	shadow_insert(tm, b);
	*result = to;
	return 0;
}

int tm_shadow_block(struct transaction_manager *tm, pd_block_t orig,
		    const struct bm_validator *v, struct bm_block **result,
		    int *inc_children)
{
	int r;

	if (tm->failed)
		return -EIO;
	r = sm_count_is_more_than_one(tm->sm, orig, inc_children);
	if (r)
		return check(tm, r);
	if (tm_is_shadow(tm, orig) && !*inc_children)
		return check(tm, bm_write_lock(tm->bm, orig, v, result));
	return check(tm, copy_block(tm, orig, v, result));
}

int tm_read_lock(struct transaction_manager *tm, pd_block_t b,
		 const struct bm_validator *v, struct bm_block **result)
{
	return bm_read_lock(tm->bm, b, v, result);
}

void tm_unlock(struct transaction_manager *tm, struct bm_block *b)
{
	(void)tm;
	bm_unlock(b);
}

int tm_inc(struct transaction_manager *tm, pd_block_t b)
{
	return tm_inc_range(tm, b, b + 1);
}

int tm_inc_range(struct transaction_manager *tm, pd_block_t b, pd_block_t e)
{
	if (tm->failed)
		return -EIO;
	return check(tm, sm_inc_blocks(tm->sm, b, e));
}

int tm_dec(struct transaction_manager *tm, pd_block_t b)
{
	return tm_dec_range(tm, b, b + 1);
}

int tm_dec_range(struct transaction_manager *tm, pd_block_t b, pd_block_t e)
{
	if (tm->failed)
		return -EIO;
	return check(tm, sm_dec_blocks(tm->sm, b, e));
}

int tm_ref(struct transaction_manager *tm, pd_block_t b, uint32_t *count)
{
	return sm_get_count(tm->sm, b, count);
}

int tm_block_is_shared(struct transaction_manager *tm, pd_block_t b,
		       int *result)
{
	return sm_count_is_more_than_one(tm->sm, b, result);
}
