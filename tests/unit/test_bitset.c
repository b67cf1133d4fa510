/* tests/unit/test_bitset.c - dm-bitset (bitset.h BS1-BS4) against a plain
 * bool array, on the real metadata space map, with commits, reopens and
 * the checker (check_cache.h) auditing the committed arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "bitset.h"
#include "bm.h"
#include "check_cache.h"
#include "prng.h"
#include "simdisk.h"
#include "sm.h"
#include "test.h"
#include "tm.h"
#include "util.h"

struct brig {
	struct simdisk *sd;
	struct bdev *bd;
	struct block_manager *bm;
	struct transaction_manager *tm;
	struct space_map *sm;
	uint8_t sm_root[SM_ROOT_SIZE];
};

static void brig_up(struct brig *g)
{
	memset(g, 0, sizeof(*g));
	ASSERT_OK(simdisk_create(4096, 1024, &g->sd));
	g->bd = simdisk_bdev(g->sd);
	ASSERT_OK(bm_create(g->bd, 64, &g->bm));
	ASSERT_OK(tm_create_with_sm(g->bm, 0, &g->tm, &g->sm));
}

static void brig_commit(struct brig *g, pd_block_t root)
{
	struct bm_block *sb;
	uint8_t *d;

	ASSERT_OK(tm_pre_commit(g->tm));
	ASSERT_OK(sm_copy_root(g->sm, g->sm_root, SM_ROOT_SIZE));
	ASSERT_OK(bm_write_lock_zero(g->bm, 0, NULL, &sb));
	d = bm_block_data(sb);
	memcpy(d, g->sm_root, SM_ROOT_SIZE);
	le64_put(d + 32, root);
	ASSERT_OK(tm_commit(g->tm, sb));
}

static void brig_reopen(struct brig *g, pd_block_t *root)
{
	struct bm_block *sb;

	tm_destroy(g->tm);
	sm_destroy(g->sm);
	ASSERT_EQ(bm_destroy(g->bm), 0);
	ASSERT_OK(bm_create(g->bd, 64, &g->bm));
	ASSERT_OK(bm_read_lock(g->bm, 0, NULL, &sb));
	memcpy(g->sm_root, bm_block_cdata(sb), SM_ROOT_SIZE);
	*root = le64_get((const uint8_t *)bm_block_cdata(sb) + 32);
	bm_unlock(sb);
	bm_forget(g->bm, 0);
	ASSERT_OK(tm_open_with_sm(g->bm, 0, g->sm_root, SM_ROOT_SIZE, &g->tm,
				  &g->sm));
}

static void brig_down(struct brig *g)
{
	tm_destroy(g->tm);
	sm_destroy(g->sm);
	ASSERT_EQ(bm_destroy(g->bm), 0);
	simdisk_destroy(g->sd);
}

static void audit(struct brig *g, pd_block_t root, uint32_t nr_bits)
{
	struct check_cache_result res;
	struct check_array_spec a = { root, 8, (nr_bits + 63) / 64 };

	ASSERT_OK(check_arrays(g->bd, g->sm_root, &a, 1, CHECK_STRICT, NULL,
			       NULL, &res));
	ASSERT_EQ(res.errors, 0);
	ASSERT_EQ(res.leaks, 0);
}

/* Cursor over the flushed bitset, and BS3 on the raw words. */
static void compare(struct bitset_info *info, pd_block_t root,
		    const uint8_t *model, uint32_t n)
{
	struct bitset_cursor *c;
	uint8_t v[8];

	if (!n) {
		ASSERT_ERR(bitset_cursor_begin(info, root, 0, &c), -ENODATA);
		return;
	}
	ASSERT_OK(bitset_cursor_begin(info, root, n, &c));
	for (uint32_t i = 0; i < n; i++) {
		ASSERT_UEQ(bitset_cursor_index(c), i);
		if (bitset_cursor_get(c) != model[i])
			test_fail(__FILE__, __LINE__, "bit %u: %d, model %d", i,
				  bitset_cursor_get(c), model[i]);
		if (i + 1 < n)
			ASSERT_OK(bitset_cursor_next(c));
		else
			ASSERT_ERR(bitset_cursor_next(c), -ENODATA);
	}
	bitset_cursor_end(c);
	if (n % 64) {
		ASSERT_OK(array_get(&info->array, root, (n - 1) / 64, v));
		ASSERT_UEQ(le64_get(v) >> (n % 64), 0);		/* BS3 */
	}
	ASSERT_ERR(array_get(&info->array, root, (n + 63) / 64, v), -ENODATA);
}

TEST(bitset_random_ops_match_model)
{
	uint64_t seed = test_seed(31);
	struct prng rng;
	struct brig g;
	struct bitset_info info;
	uint8_t *model = calloc(40000, 1);
	uint32_t n = 0;
	pd_block_t root;
	int bit;

	ASSERT_TRUE(model != NULL);
	prng_seed(&rng, seed);
	brig_up(&g);
	bitset_info_init(&info, g.tm);
	ASSERT_OK(bitset_empty(&info, &root));
	for (int op = 0; op < 6000; op++) {
		uint64_t k = prng_below(&rng, 100);

		if (k < 4) {
			uint32_t nn = (uint32_t)prng_below(&rng, 40000);
			int dflt = (int)prng_below(&rng, 2);

			if (prng_below(&rng, 3) == 0) {	/* small moves */
				int64_t d = (int64_t)prng_below(&rng, 130) - 64;

				nn = (int64_t)n + d < 0 ? 0 : (uint32_t)((int64_t)n + d);
			}
			if (nn > 40000)
				nn = 40000;
			ASSERT_OK(bitset_resize(&info, root, n, nn, dflt, &root));
			for (uint32_t i = n; i < nn; i++)
				model[i] = (uint8_t)dflt;
			n = nn;
		} else if (k < 60 && n) {
			uint32_t i = (uint32_t)prng_below(&rng, n);

			if (prng_below(&rng, 2)) {
				ASSERT_OK(bitset_set_bit(&info, root, i, &root));
				model[i] = 1;
			} else {
				ASSERT_OK(bitset_clear_bit(&info, root, i, &root));
				model[i] = 0;
			}
		} else if (k < 94 && n) {
			uint32_t i = (uint32_t)prng_below(&rng, n);

			ASSERT_OK(bitset_test_bit(&info, root, i, &root, &bit));
			ASSERT_EQ(bit, model[i]);
		} else if (k < 98) {
			ASSERT_OK(bitset_flush(&info, root, &root));
			brig_commit(&g, root);
			audit(&g, root, n);
		} else {
			ASSERT_OK(bitset_flush(&info, root, &root));
			brig_commit(&g, root);
			brig_reopen(&g, &root);
			bitset_info_init(&info, g.tm);
			compare(&info, root, model, n);
		}
	}
	ASSERT_OK(bitset_flush(&info, root, &root));
	compare(&info, root, model, n);
	brig_commit(&g, root);
	audit(&g, root, n);
	free(model);
	brig_down(&g);
}

/* BS2: a change stays in the cached word until a flush (or a change of
 * word); the cursor, reading the array, sees it only then. */
TEST(bitset_changes_wait_for_flush)
{
	struct brig g;
	struct bitset_info info;
	struct bitset_cursor *c;
	pd_block_t root, r2;
	int bit;

	brig_up(&g);
	bitset_info_init(&info, g.tm);
	ASSERT_OK(bitset_empty(&info, &root));
	ASSERT_OK(bitset_resize(&info, root, 0, 200, 0, &root));
	ASSERT_OK(bitset_set_bit(&info, root, 3, &r2));
	ASSERT_UEQ(r2, root);			/* nothing written yet */
	ASSERT_OK(bitset_cursor_begin(&info, root, 200, &c));
	ASSERT_OK(bitset_cursor_skip(c, 3));
	ASSERT_EQ(bitset_cursor_get(c), 0);
	bitset_cursor_end(c);
	ASSERT_OK(bitset_test_bit(&info, root, 3, &root, &bit));
	ASSERT_EQ(bit, 1);
	/* another word: the cached one is written back */
	ASSERT_OK(bitset_set_bit(&info, root, 130, &root));
	ASSERT_OK(bitset_cursor_begin(&info, root, 200, &c));
	ASSERT_OK(bitset_cursor_skip(c, 3));
	ASSERT_EQ(bitset_cursor_get(c), 1);
	ASSERT_OK(bitset_cursor_skip(c, 127));
	ASSERT_EQ(bitset_cursor_get(c), 0);
	bitset_cursor_end(c);
	ASSERT_OK(bitset_flush(&info, root, &root));
	ASSERT_OK(bitset_cursor_begin(&info, root, 200, &c));
	ASSERT_OK(bitset_cursor_skip(c, 130));
	ASSERT_EQ(bitset_cursor_get(c), 1);
	ASSERT_ERR(bitset_cursor_skip(c, 70), -ENODATA);
	bitset_cursor_end(c);
	/* a resize flushes first (BS4) */
	ASSERT_OK(bitset_clear_bit(&info, root, 3, &root));
	ASSERT_OK(bitset_resize(&info, root, 200, 70, 0, &root));
	ASSERT_OK(bitset_test_bit(&info, root, 3, &root, &bit));
	ASSERT_EQ(bit, 0);
	ASSERT_ERR(bitset_test_bit(&info, root, 130, &root, &bit), -ENODATA);
	brig_commit(&g, root);
	audit(&g, root, 70);
	brig_down(&g);
}
