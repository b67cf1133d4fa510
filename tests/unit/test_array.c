/* tests/unit/test_array.c - dm-array (array.h AR1-AR5) against a plain C
 * array, on the real metadata space map, with commits, reopens from disk,
 * shared (snapshot-style) arrays, and the independent checker
 * (check_cache.h CC2-CC4) auditing every block and reference count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "bm.h"
#include "check_cache.h"
#include "prng.h"
#include "simdisk.h"
#include "sm.h"
#include "test.h"
#include "tm.h"
#include "util.h"

#define META_BLOCKS 2048
#define MAX_ROOTS 4

/* Block 0 of the test device: sm root @0 (32 bytes), roots @32. */
struct arig {
	struct simdisk *sd;
	struct bdev *bd;
	struct block_manager *bm;
	struct transaction_manager *tm;
	struct space_map *sm;
	unsigned cache;
	uint8_t sm_root[SM_ROOT_SIZE];
};

static void arig_up(struct arig *g, unsigned cache)
{
	memset(g, 0, sizeof(*g));
	g->cache = cache;
	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &g->sd));
	g->bd = simdisk_bdev(g->sd);
	ASSERT_OK(bm_create(g->bd, cache, &g->bm));
	ASSERT_OK(tm_create_with_sm(g->bm, 0, &g->tm, &g->sm));
}

/* Commit with roots[] kept in block 0. */
static void arig_commit(struct arig *g, const pd_block_t *roots, unsigned n)
{
	struct bm_block *sb;
	uint8_t *d;

	ASSERT_OK(tm_pre_commit(g->tm));
	ASSERT_OK(sm_copy_root(g->sm, g->sm_root, SM_ROOT_SIZE));
	ASSERT_OK(bm_write_lock_zero(g->bm, 0, NULL, &sb));
	d = bm_block_data(sb);
	memcpy(d, g->sm_root, SM_ROOT_SIZE);
	for (unsigned i = 0; i < n; i++)
		le64_put(d + 32 + 8 * i, roots[i]);
	ASSERT_OK(tm_commit(g->tm, sb));
}

/* Throw away everything in memory and open from the disk (block 0). */
static void arig_reopen(struct arig *g, pd_block_t *roots, unsigned n)
{
	struct bm_block *sb;
	const uint8_t *d;

	tm_destroy(g->tm);
	sm_destroy(g->sm);
	ASSERT_EQ(bm_destroy(g->bm), 0);
	ASSERT_OK(bm_create(g->bd, g->cache, &g->bm));
	ASSERT_OK(bm_read_lock(g->bm, 0, NULL, &sb));
	d = bm_block_cdata(sb);
	memcpy(g->sm_root, d, SM_ROOT_SIZE);
	for (unsigned i = 0; i < n; i++)
		roots[i] = le64_get(d + 32 + 8 * i);
	bm_unlock(sb);
	bm_forget(g->bm, 0);
	ASSERT_OK(tm_open_with_sm(g->bm, 0, g->sm_root, SM_ROOT_SIZE, &g->tm,
				  &g->sm));
}

static void arig_down(struct arig *g)
{
	tm_destroy(g->tm);
	sm_destroy(g->sm);
	ASSERT_EQ(bm_destroy(g->bm), 0);
	simdisk_destroy(g->sd);
}

struct msgs {
	char text[4096];
	size_t n;
};

static void collect(void *ctx, const char *text)
{
	struct msgs *m = ctx;
	int k = snprintf(m->text + m->n, sizeof(m->text) - m->n, "%s\n", text);

	if (k > 0 && m->n + (size_t)k < sizeof(m->text))
		m->n += (size_t)k;
}

/* The committed state on disk must check clean, strictly (CC2-CC4). */
static void audit(struct arig *g, const struct check_array_spec *a, unsigned n)
{
	struct check_cache_result res;
	struct msgs m = { .n = 0 };

	ASSERT_OK(check_arrays(g->bd, g->sm_root, a, n, CHECK_STRICT, collect,
			       &m, &res));
	if (res.errors || res.leaks)
		test_fail(__FILE__, __LINE__, "%u errors, %u leaks:\n%s",
			  res.errors, res.leaks, m.text);
}

/* --- a value type counting references in a table ------------------------ */

#define NR_VALUES 4096u

struct vcount {
	uint32_t count[NR_VALUES];
	unsigned bad;
};

static int vc_inc(void *context, const void *values, unsigned n)
{
	struct vcount *vc = context;

	for (unsigned i = 0; i < n; i++) {
		uint64_t x = le64_get((const uint8_t *)values + 8 * i);

		if (x >= NR_VALUES) {
			vc->bad++;
			return -EINVAL;
		}
		vc->count[x]++;
	}
	return 0;
}

static int vc_dec(void *context, const void *values, unsigned n)
{
	struct vcount *vc = context;

	for (unsigned i = 0; i < n; i++) {
		uint64_t x = le64_get((const uint8_t *)values + 8 * i);

		if (x >= NR_VALUES || !vc->count[x]) {
			vc->bad++;
			return -EINVAL;
		}
		vc->count[x]--;
	}
	return 0;
}

/* --- the model ------------------------------------------------------------ */

struct model {
	uint64_t *v;
	uint32_t size, cap;
};

static void model_resize(struct model *m, uint32_t size, uint64_t dflt)
{
	if (size > m->cap) {
		m->v = realloc(m->v, size * sizeof(uint64_t));
		ASSERT_TRUE(m->v != NULL);
		m->cap = size;
	}
	for (uint32_t i = m->size; i < size; i++)
		m->v[i] = dflt;
	m->size = size;
}

struct cmp_ctx {
	const struct model *m;
	uint32_t next;
};

static int cmp_walk(void *ctx, uint32_t index, const void *value)
{
	struct cmp_ctx *c = ctx;

	ASSERT_UEQ(index, c->next);
	ASSERT_TRUE(index < c->m->size);
	ASSERT_UEQ(le64_get(value), c->m->v[index]);
	c->next++;
	return 0;
}

/* Walk, cursor, size and a few gets all agree with the model. */
static void compare(struct array_info *info, pd_block_t root,
		    const struct model *m, struct prng *rng)
{
	struct cmp_ctx c = { m, 0 };
	struct array_cursor *cur;
	uint32_t size;
	uint8_t v[8];

	ASSERT_OK(array_walk(info, root, cmp_walk, &c));
	ASSERT_UEQ(c.next, m->size);
	ASSERT_OK(array_size(info, root, &size));
	ASSERT_UEQ(size, m->size);
	if (!m->size) {
		ASSERT_ERR(array_cursor_begin(info, root, &cur), -ENODATA);
	} else {
		ASSERT_OK(array_cursor_begin(info, root, &cur));
		for (uint32_t i = 0; i < m->size; i++) {
			ASSERT_UEQ(array_cursor_index(cur), i);
			ASSERT_UEQ(le64_get(array_cursor_value(cur)), m->v[i]);
			if (i + 1 < m->size)
				ASSERT_OK(array_cursor_next(cur));
			else
				ASSERT_ERR(array_cursor_next(cur), -ENODATA);
		}
		array_cursor_end(cur);
	}
	for (int k = 0; k < 8 && m->size; k++) {
		uint32_t i = (uint32_t)prng_below(rng, m->size);

		ASSERT_OK(array_get(info, root, i, v));
		ASSERT_UEQ(le64_get(v), m->v[i]);
	}
	ASSERT_ERR(array_get(info, root, m->size, v), -ENODATA);
}

/* --- tests --------------------------------------------------------------- */

TEST(array_layout_and_max_entries)
{
	struct arig g;
	struct array_info info;
	struct bt_value_type vt = { .size = 8 };
	struct bm_block *blk;
	pd_block_t root, ab;
	uint8_t v[8], key_v[8];
	uint64_t key = 1;
	const uint8_t *d;

	ASSERT_UEQ(array_max_entries(8), 509);
	ASSERT_UEQ(array_max_entries(4), 1018);
	arig_up(&g, 64);
	array_info_init(&info, g.tm, &vt);
	ASSERT_OK(array_empty(&info, &root));
	le64_put(v, 0x1122334455667788ull);
	ASSERT_OK(array_resize(&info, root, 0, 600, v, &root));
	/* two blocks: 509 + 91 */
	ASSERT_OK(bt_lookup(&info.bt, root, &key, key_v));
	ab = le64_get(key_v);
	arig_commit(&g, &root, 1);
	ASSERT_OK(bm_read_lock(g.bm, ab, &array_block_validator, &blk));
	d = bm_block_cdata(blk);
	ASSERT_UEQ(le32_get(d + 4), 509);		/* max_entries */
	ASSERT_UEQ(le32_get(d + 8), 91);		/* nr_entries */
	ASSERT_UEQ(le32_get(d + 12), 8);		/* value_size */
	ASSERT_UEQ(le64_get(d + 16), ab);		/* blocknr at 16 */
	ASSERT_UEQ(le32_get(d), pd_block_csum(d + 4, 4092, 595846735u));
	ASSERT_UEQ(le64_get(d + 24), 0x1122334455667788ull);
	bm_unlock(blk);
	audit(&g, &(struct check_array_spec){ root, 8, 600 }, 1);
	arig_down(&g);
}

TEST(array_bounds_and_empty)
{
	struct arig g;
	struct array_info info;
	struct bt_value_type vt = { .size = 8 };
	struct array_cursor *c;
	pd_block_t root, r2;
	uint8_t v[8] = { 0 };
	uint32_t size;

	arig_up(&g, 64);
	array_info_init(&info, g.tm, &vt);
	ASSERT_OK(array_empty(&info, &root));
	ASSERT_ERR(array_get(&info, root, 0, v), -ENODATA);
	ASSERT_ERR(array_set(&info, root, 0, v, &r2), -ENODATA);
	ASSERT_UEQ(r2, root);
	ASSERT_ERR(array_cursor_begin(&info, root, &c), -ENODATA);
	ASSERT_OK(array_size(&info, root, &size));
	ASSERT_EQ(size, 0);
	ASSERT_OK(array_resize(&info, root, 0, 10, v, &root));
	ASSERT_ERR(array_set(&info, root, 10, v, &root), -ENODATA);
	ASSERT_ERR(array_set(&info, root, 600, v, &root), -ENODATA);
	ASSERT_TRUE(!tm_is_failed(g.tm));
	ASSERT_OK(array_resize(&info, root, 10, 0, v, &root));
	ASSERT_OK(array_size(&info, root, &size));
	ASSERT_EQ(size, 0);
	arig_commit(&g, &root, 1);
	audit(&g, &(struct check_array_spec){ root, 8, 0 }, 1);
	arig_down(&g);
}

/* Random resize / set / get against the model, plain values; commits,
 * reopens from disk and a strict audit along the way. */
TEST(array_random_ops_match_model)
{
	uint64_t seed = test_seed(11);
	struct prng rng;
	struct arig g;
	struct array_info info;
	struct bt_value_type vt = { .size = 8 };
	struct model m = { 0 };
	pd_block_t root;
	uint8_t v[8];

	prng_seed(&rng, seed);
	arig_up(&g, prng_below(&rng, 2) ? 16 : 512);
	array_info_init(&info, g.tm, &vt);
	ASSERT_OK(array_empty(&info, &root));
	for (int op = 0; op < 3000; op++) {
		uint64_t k = prng_below(&rng, 100);

		if (k < 8) {
			uint32_t n = (uint32_t)prng_below(&rng, 2600);
			uint64_t dflt = prng_next(&rng);

			/* sizes at block edges now and then */
			if (prng_below(&rng, 4) == 0) {
				n = 509 * (uint32_t)prng_below(&rng, 5) +
				    (uint32_t)prng_range(&rng, 0, 2);
				n -= n ? 1 : 0;
			}
			le64_put(v, dflt);
			ASSERT_OK(array_resize(&info, root, m.size, n, v, &root));
			model_resize(&m, n, dflt);
		} else if (k < 70 && m.size) {
			uint32_t i = (uint32_t)prng_below(&rng, m.size);
			uint64_t x = prng_next(&rng);

			le64_put(v, x);
			ASSERT_OK(array_set(&info, root, i, v, &root));
			m.v[i] = x;
		} else if (k < 95 && m.size) {
			uint32_t i = (uint32_t)prng_below(&rng, m.size);

			ASSERT_OK(array_get(&info, root, i, v));
			ASSERT_UEQ(le64_get(v), m.v[i]);
		} else if (k < 98) {
			arig_commit(&g, &root, 1);
			audit(&g, &(struct check_array_spec){ root, 8, m.size }, 1);
		} else {
			arig_commit(&g, &root, 1);
			arig_reopen(&g, &root, 1);
			array_info_init(&info, g.tm, &vt);
			compare(&info, root, &m, &rng);
		}
	}
	compare(&info, root, &m, &rng);
	arig_commit(&g, &root, 1);
	audit(&g, &(struct check_array_spec){ root, 8, m.size }, 1);
	ASSERT_OK(array_del(&info, root));
	arig_commit(&g, NULL, 0);
	audit(&g, NULL, 0);		/* nothing left: no leaks */
	free(m.v);
	arig_down(&g);
}

/* Count, over the distinct array blocks of the given arrays, how often
 * each value is held: what the value type's counts must be (AR3). */
struct held_ctx {
	struct arig *g;
	pd_block_t seen[256];
	unsigned nr_seen;
	uint32_t *expect;
};

static int held_block(void *ctx, const uint64_t *keys, const void *value)
{
	struct held_ctx *h = ctx;
	pd_block_t b = le64_get(value);
	struct bm_block *blk;
	const uint8_t *d;

	(void)keys;
	for (unsigned i = 0; i < h->nr_seen; i++)
		if (h->seen[i] == b)
			return 0;
	ASSERT_TRUE(h->nr_seen < PD_ARRAY_SIZE(h->seen));
	h->seen[h->nr_seen++] = b;
	ASSERT_OK(tm_read_lock(h->g->tm, b, &array_block_validator, &blk));
	d = bm_block_cdata(blk);
	for (uint32_t i = 0; i < le32_get(d + 8); i++)
		h->expect[le64_get(d + 24 + 8 * i)]++;
	tm_unlock(h->g->tm, blk);
	return 0;
}

static void check_value_counts(struct arig *g, struct array_info *info,
			       const pd_block_t *roots, unsigned n,
			       const struct vcount *vc)
{
	static uint32_t expect[NR_VALUES];
	struct held_ctx h = { .g = g, .nr_seen = 0, .expect = expect };

	memset(expect, 0, sizeof(expect));
	for (unsigned i = 0; i < n; i++)
		ASSERT_OK(bt_walk(&info->bt, roots[i], held_block, &h));
	for (uint32_t x = 0; x < NR_VALUES; x++)
		if (vc->count[x] != expect[x])
			test_fail(__FILE__, __LINE__,
				  "value %u: count %u, held %u times", x,
				  vc->count[x], expect[x]);
	ASSERT_EQ(vc->bad, 0);
}

/*
 * Snapshot-style sharing with refcounted values: B takes a second
 * reference on A's root (as a metadata snapshot would), then A changes at
 * random (sets, grows, shrinks) while B must not change; values and
 * blocks are counted exactly throughout; dropping both leaves nothing.
 */
TEST(array_shared_root_copy_on_write_and_refcounts)
{
	uint64_t seed = test_seed(23);
	static struct vcount vc;
	struct prng rng;
	struct arig g;
	struct array_info info;
	struct bt_value_type vt = {
		.context = &vc, .size = 8, .inc = vc_inc, .dec = vc_dec,
	};
	struct model a = { 0 }, b = { 0 };
	pd_block_t roots[2];
	uint8_t v[8];

	memset(&vc, 0, sizeof(vc));
	prng_seed(&rng, seed);
	arig_up(&g, 64);
	array_info_init(&info, g.tm, &vt);
	ASSERT_OK(array_empty(&info, &roots[0]));
	le64_put(v, 7);
	ASSERT_OK(array_resize(&info, roots[0], 0, 1500, v, &roots[0]));
	model_resize(&a, 1500, 7);
	for (uint32_t i = 0; i < 1500; i += 3) {
		le64_put(v, i % NR_VALUES);
		ASSERT_OK(array_set(&info, roots[0], i, v, &roots[0]));
		a.v[i] = i % NR_VALUES;
	}
	check_value_counts(&g, &info, roots, 1, &vc);
	for (int round = 0; round < 6; round++) {
		/* B = A: one more reference on the root. */
		ASSERT_OK(tm_inc(g.tm, roots[0]));
		roots[1] = roots[0];
		model_resize(&b, 0, 0);
		model_resize(&b, a.size, 0);
		memcpy(b.v, a.v, a.size * sizeof(uint64_t));
		if (round & 1) {	/* share across a commit too */
			arig_commit(&g, roots, 2);
			audit(&g, (struct check_array_spec[]){
				{ roots[0], 8, a.size }, { roots[1], 8, b.size } }, 2);
		}
		for (int op = 0; op < 300; op++) {
			uint64_t k = prng_below(&rng, 100);

			if (k < 5) {
				uint32_t n = (uint32_t)prng_below(&rng, 2200);
				uint64_t x = prng_below(&rng, NR_VALUES);

				le64_put(v, x);
				ASSERT_OK(array_resize(&info, roots[0], a.size, n,
						       v, &roots[0]));
				model_resize(&a, n, x);
			} else if (a.size) {
				uint32_t i = (uint32_t)prng_below(&rng, a.size);
				uint64_t x = prng_below(&rng, NR_VALUES);

				le64_put(v, x);
				ASSERT_OK(array_set(&info, roots[0], i, v, &roots[0]));
				a.v[i] = x;
			}
		}
		compare(&info, roots[1], &b, &rng);
		compare(&info, roots[0], &a, &rng);
		check_value_counts(&g, &info, roots, 2, &vc);
		arig_commit(&g, roots, 2);
		audit(&g, (struct check_array_spec[]){
			{ roots[0], 8, a.size }, { roots[1], 8, b.size } }, 2);
		/* Drop B (or, every other round, A and keep B as A). */
		if (round % 3 == 2) {
			ASSERT_OK(array_del(&info, roots[0]));
			roots[0] = roots[1];
			model_resize(&a, 0, 0);
			model_resize(&a, b.size, 0);
			memcpy(a.v, b.v, b.size * sizeof(uint64_t));
		} else {
			ASSERT_OK(array_del(&info, roots[1]));
		}
		check_value_counts(&g, &info, roots, 1, &vc);
		arig_commit(&g, roots, 1);
		audit(&g, &(struct check_array_spec){ roots[0], 8, a.size }, 1);
		if (round == 3) {
			arig_reopen(&g, roots, 1);
			array_info_init(&info, g.tm, &vt);
			compare(&info, roots[0], &a, &rng);
		}
	}
	ASSERT_OK(array_del(&info, roots[0]));
	for (uint32_t x = 0; x < NR_VALUES; x++)
		ASSERT_EQ(vc.count[x], 0);
	ASSERT_EQ(vc.bad, 0);
	arig_commit(&g, NULL, 0);
	audit(&g, NULL, 0);
	free(a.v);
	free(b.v);
	arig_down(&g);
}

static int square(void *ctx, uint32_t index, void *value)
{
	(void)ctx;
	le64_put(value, (uint64_t)index * index);
	return 0;
}

TEST(array_new_walk_cursor_skip)
{
	uint64_t seed = test_seed(5);
	struct prng rng;
	struct arig g;
	struct array_info info;
	struct bt_value_type vt = { .size = 8 };
	struct array_cursor *c;
	pd_block_t root;
	uint32_t n = 509 * 3 + 17, at = 0;

	prng_seed(&rng, seed);
	arig_up(&g, 64);
	array_info_init(&info, g.tm, &vt);
	ASSERT_OK(array_new(&info, n, square, NULL, &root));
	ASSERT_OK(array_cursor_begin(&info, root, &c));
	while (at + 1 < n) {
		uint32_t k = (uint32_t)prng_below(&rng, 700);

		if (at + k >= n) {
			ASSERT_ERR(array_cursor_skip(c, n - at), -ENODATA);
			break;
		}
		ASSERT_OK(array_cursor_skip(c, k));
		at += k;
		ASSERT_UEQ(array_cursor_index(c), at);
		ASSERT_UEQ(le64_get(array_cursor_value(c)), (uint64_t)at * at);
	}
	array_cursor_end(c);
	arig_commit(&g, &root, 1);
	audit(&g, &(struct check_array_spec){ root, 8, n }, 1);
	arig_down(&g);
}

/* AR2: a damaged array block is refused by the validator and by the
 * checker; a wrong length is reported by the checker. */
TEST(array_damage_is_detected)
{
	struct arig g;
	struct array_info info;
	struct bt_value_type vt = { .size = 8 };
	struct check_cache_result res;
	pd_block_t root, ab;
	uint8_t v[8], buf[4096];
	uint64_t key = 0;

	arig_up(&g, 64);
	array_info_init(&info, g.tm, &vt);
	ASSERT_OK(array_empty(&info, &root));
	le64_put(v, 3);
	ASSERT_OK(array_resize(&info, root, 0, 100, v, &root));
	arig_commit(&g, &root, 1);
	ASSERT_OK(check_arrays(g.bd, g.sm_root,
			       &(struct check_array_spec){ root, 8, 99 }, 1,
			       0, NULL, NULL, &res));
	ASSERT_EQ(res.errors, 1);	/* CC3: length */
	ASSERT_OK(bt_lookup(&info.bt, root, &key, v));
	ab = le64_get(v);
	ASSERT_OK(bdev_read(g.bd, ab, buf));
	buf[100] ^= 1;
	ASSERT_OK(bdev_write(g.bd, ab, buf, 0));
	arig_reopen(&g, &root, 1);
	array_info_init(&info, g.tm, &vt);
	ASSERT_ERR(array_get(&info, root, 5, v), -EILSEQ);
	ASSERT_OK(check_arrays(g.bd, g.sm_root,
			       &(struct check_array_spec){ root, 8, 100 }, 1,
			       0, NULL, NULL, &res));
	ASSERT_TRUE(res.errors > 0);
	/* a value size that is not the array's */
	buf[100] ^= 1;
	ASSERT_OK(bdev_write(g.bd, ab, buf, 0));
	arig_reopen(&g, &root, 1);
	vt.size = 4;
	array_info_init(&info, g.tm, &vt);
	ASSERT_ERR(array_get(&info, root, 5, v), -EILSEQ);
	arig_down(&g);
}
