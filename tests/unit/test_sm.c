/* tests/unit/test_sm.c - space maps (sm.h SM1-SM5, sm_common.h LL1-LL5,
 * sm_metadata.c MS1-MS4, sm_disk.c DS1-DS3).
 *
 * One table of cases runs against every implementation: sm_core (in
 * memory), sm_disk (data blocks, on a metadata device of its own) and
 * sm_metadata (the map of the device it lives on, so some of its blocks
 * are its own: cases only assume things about blocks they allocated or
 * counted themselves).  The on-disk maps are committed the full way
 * (tm_pre_commit, a small superblock written here, tm_commit) and reopened
 * on a fresh block manager over the same disk; reopening without a commit
 * is a rollback.  Then metadata-only cases: recursion, the queue, and a
 * check that every metadata block in use is accounted for.
 */
#include "bm.h"
#include "bt.h"
#include "prng.h"
#include "simdisk.h"
#include "sm.h"
#include "sm_common.h"
#include "test.h"
#include "tm.h"
#include "util.h"

#define DISK_META_BLOCKS 2048	/* metadata device under sm_disk */
#define CACHE_BLOCKS	 256
#define SB_CSUM_XOR	 0x5a17c0deu
#define SB_MAGIC	 0x74736d7370ull	/* "psmst" */
#define SB_OFF_MAGIC	 32
#define SB_OFF_META_ROOT 64
#define SB_OFF_DATA_ROOT 192

enum impl_kind { IMPL_CORE, IMPL_DISK, IMPL_META };

struct rig {
	enum impl_kind kind;
	struct simdisk *sd;
	struct block_manager *bm;
	struct transaction_manager *tm;
	struct space_map *msm;		/* the metadata space map */
	struct space_map *sm;		/* the map under test */
	pd_block_t nr_blocks;		/* of the map under test, at up() */
	unsigned cache;			/* bm cache for reopen, 0: default */
};

struct sm_impl {
	const char *name;
	enum impl_kind kind;
	void (*up)(struct rig *g, pd_block_t nr_blocks);
	void (*commit)(struct rig *g);
	void (*reopen)(struct rig *g);	/* NULL: no on-disk form */
	void (*down)(struct rig *g);
};

/* --- the superblock of these tests ------------------------------------- */

static void sb_prepare(const struct bm_validator *v, struct bm_block *b,
		       size_t block_size)
{
	uint8_t *d = bm_block_data(b);

	(void)v;
	le64_put(d + 8, bm_block_location(b));
	le32_put(d, pd_block_csum(d + 4, block_size - 4, SB_CSUM_XOR));
}

static int sb_check(const struct bm_validator *v, struct bm_block *b,
		    size_t block_size)
{
	const uint8_t *d = bm_block_cdata(b);

	(void)v;
	if (le64_get(d + 8) != bm_block_location(b))
		return -ENOTBLK;
	if (le32_get(d) != pd_block_csum(d + 4, block_size - 4, SB_CSUM_XOR) ||
	    le64_get(d + SB_OFF_MAGIC) != SB_MAGIC)
		return -EILSEQ;
	return 0;
}

static const struct bm_validator sb_validator = {
	.name = "test_sm_superblock",
	.prepare_for_write = sb_prepare,
	.check = sb_check,
};

/* --- constructors -------------------------------------------------------- */

static void core_up(struct rig *g, pd_block_t n)
{
	memset(g, 0, sizeof(*g));
	g->kind = IMPL_CORE;
	g->nr_blocks = n;
	ASSERT_OK(sm_core_create(n, &g->sm));
}

static void core_commit(struct rig *g)
{
	ASSERT_OK(sm_commit(g->sm));
}

static void core_down(struct rig *g)
{
	sm_destroy(g->sm);
}

/* Full commit: data map, tm_pre_commit, roots, superblock, tm_commit. */
static void disk_commit(struct rig *g)
{
	uint8_t meta_root[SM_ROOT_SIZE], data_root[SM_ROOT_SIZE];
	struct bm_block *sb;
	uint8_t *d;

	memset(data_root, 0, sizeof(data_root));
	if (g->kind == IMPL_DISK) {
		ASSERT_OK(sm_commit(g->sm));
		ASSERT_OK(sm_copy_root(g->sm, data_root, sizeof(data_root)));
	}
	ASSERT_OK(tm_pre_commit(g->tm));
	ASSERT_OK(sm_copy_root(g->msm, meta_root, sizeof(meta_root)));
	ASSERT_OK(bm_write_lock_zero(g->bm, 0, &sb_validator, &sb));
	d = bm_block_data(sb);
	le64_put(d + SB_OFF_MAGIC, SB_MAGIC);
	memcpy(d + SB_OFF_META_ROOT, meta_root, SM_ROOT_SIZE);
	memcpy(d + SB_OFF_DATA_ROOT, data_root, SM_ROOT_SIZE);
	ASSERT_OK(tm_commit(g->tm, sb));
}

static void objects_down(struct rig *g)
{
	if (g->kind == IMPL_DISK)
		sm_destroy(g->sm);
	tm_destroy(g->tm);
	sm_destroy(g->msm);
	g->sm = g->msm = NULL;
	g->tm = NULL;
	ASSERT_EQ(bm_destroy(g->bm), 0);	/* nothing left locked */
	g->bm = NULL;
}

/* Open what the last superblock describes, with an empty cache. */
static void disk_reopen(struct rig *g)
{
	struct bm_block *sb;
	const uint8_t *d;

	objects_down(g);
	ASSERT_OK(bm_create(simdisk_bdev(g->sd),
			    g->cache ? g->cache : CACHE_BLOCKS, &g->bm));
	ASSERT_OK(bm_read_lock(g->bm, 0, &sb_validator, &sb));
	d = bm_block_cdata(sb);
	ASSERT_OK(tm_open_with_sm(g->bm, 0, d + SB_OFF_META_ROOT, SM_ROOT_SIZE,
				  &g->tm, &g->msm));
	if (g->kind == IMPL_DISK)
		ASSERT_OK(sm_disk_open(g->tm, d + SB_OFF_DATA_ROOT, SM_ROOT_SIZE,
				       &g->sm));
	else
		g->sm = g->msm;
	bm_unlock(sb);
}

static void disk_down(struct rig *g)
{
	objects_down(g);
	simdisk_destroy(g->sd);
}

static void ondisk_up(struct rig *g, enum impl_kind kind, pd_block_t meta_n,
		      pd_block_t data_n)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	ASSERT_OK(simdisk_create(PD_BLOCK_SIZE, meta_n, &g->sd));
	simdisk_log_reads(g->sd, 0);
	ASSERT_OK(bm_create(simdisk_bdev(g->sd), CACHE_BLOCKS, &g->bm));
	ASSERT_OK(tm_create_with_sm(g->bm, 0, &g->tm, &g->msm));
	if (kind == IMPL_DISK) {
		ASSERT_OK(sm_disk_create(g->tm, data_n, &g->sm));
		g->nr_blocks = data_n;
	} else {
		g->sm = g->msm;
		g->nr_blocks = meta_n;
	}
	disk_commit(g);
}

static void sdisk_up(struct rig *g, pd_block_t n)
{
	ondisk_up(g, IMPL_DISK, DISK_META_BLOCKS, n);
}

static void meta_up(struct rig *g, pd_block_t n)
{
	ondisk_up(g, IMPL_META, n, 0);
}

static const struct sm_impl impls[] = {
	{ "sm_core", IMPL_CORE, core_up, core_commit, NULL, core_down },
	{ "sm_disk", IMPL_DISK, sdisk_up, disk_commit, disk_reopen, disk_down },
	{ "sm_metadata", IMPL_META, meta_up, disk_commit, disk_reopen,
	  disk_down },
};

static void run_all(void (*fn)(const struct sm_impl *im))
{
	for (size_t i = 0; i < PD_ARRAY_SIZE(impls); i++) {
		printf("# impl %s\n", impls[i].name);
		fflush(stdout);
		fn(impls + i);
	}
}

/* --- helpers --------------------------------------------------------------- */

static uint32_t count_of(struct rig *g, pd_block_t b)
{
	uint32_t c;

	ASSERT_OK(sm_get_count(g->sm, b, &c));
	return c;
}

static int shared(struct rig *g, pd_block_t b)
{
	int s;

	ASSERT_OK(sm_count_is_more_than_one(g->sm, b, &s));
	return s;
}

static pd_block_t alloc(struct rig *g)
{
	pd_block_t b;

	ASSERT_OK(sm_new_block(g->sm, &b));
	ASSERT_EQ(count_of(g, b), 1);
	return b;
}

static pd_block_t nr_free(struct rig *g)
{
	pd_block_t n;

	ASSERT_OK(sm_get_nr_free(g->sm, &n));
	return n;
}

static pd_block_t nr_blocks(struct rig *g)
{
	return sm_get_nr_blocks(g->sm);
}

/* Counts of blocks [0, n) now. */
static uint32_t *all_counts(struct rig *g, pd_block_t n)
{
	uint32_t *c = calloc(n ? n : 1, sizeof(*c));

	ASSERT_TRUE(c != NULL);
	for (pd_block_t b = 0; b < n; b++)
		c[b] = count_of(g, b);
	return c;
}

/* First b >= from with [b, b + len) all at count 0. */
static pd_block_t free_run(struct rig *g, pd_block_t from, pd_block_t len)
{
	pd_block_t n = nr_blocks(g), run = 0;

	for (pd_block_t b = from; b < n; b++) {
		run = count_of(g, b) ? 0 : run + 1;
		if (run == len)
			return b + 1 - len;
	}
	test_fail(__FILE__, __LINE__, "no free run of %llu blocks",
		  (unsigned long long)len);
}

static void check_accounting(struct rig *g, const uint32_t *user);

static void reopen_or_commit(const struct sm_impl *im, struct rig *g)
{
	im->commit(g);
	if (im->reopen)
		im->reopen(g);
}

/* --- the table ------------------------------------------------------------- */

/* Counts up through the ref-count tree (LL1) and back, single and ranges;
 * SM4 on the way; the counts survive commit and reopen. */
static void case_counts_up_and_down(const struct sm_impl *im)
{
	static const uint32_t pattern[8] = { 1, 1, 0, 0, 0, 0, 1, 1 };
	struct rig g;
	pd_block_t a, r0;

	im->up(&g, 1000);
	a = alloc(&g);
	ASSERT_EQ(shared(&g, a), 0);
	for (uint32_t c = 2; c <= 10; c++) {
		ASSERT_OK(sm_inc_block(g.sm, a));
		ASSERT_EQ(count_of(&g, a), c);
		ASSERT_EQ(shared(&g, a), 1);
	}
	for (uint32_t c = 9; c > 0; c--) {
		ASSERT_OK(sm_dec_block(g.sm, a));
		ASSERT_EQ(count_of(&g, a), c);
		ASSERT_EQ(shared(&g, a), c > 1);
	}
	ASSERT_OK(sm_dec_block(g.sm, a));
	ASSERT_EQ(count_of(&g, a), 0);
	ASSERT_ERR(sm_dec_block(g.sm, a), -EINVAL);		/* SM4 */
	ASSERT_EQ(count_of(&g, a), 0);

	r0 = free_run(&g, 500, 8);
	for (int i = 0; i < 4; i++)
		ASSERT_OK(sm_inc_blocks(g.sm, r0, r0 + 8));
	for (pd_block_t b = r0; b < r0 + 8; b++)
		ASSERT_EQ(count_of(&g, b), 4);
	ASSERT_OK(sm_dec_blocks(g.sm, r0 + 2, r0 + 6));
	for (int i = 0; i < 3; i++)
		ASSERT_OK(sm_dec_blocks(g.sm, r0, r0 + 8));
	for (pd_block_t b = r0; b < r0 + 8; b++)
		ASSERT_EQ(count_of(&g, b), pattern[b - r0]);
	/* SM4 over a range: zeros inside, nothing changes */
	ASSERT_ERR(sm_dec_blocks(g.sm, r0, r0 + 8), -EINVAL);
	for (pd_block_t b = r0; b < r0 + 8; b++)
		ASSERT_EQ(count_of(&g, b), pattern[b - r0]);

	/* out of range */
	ASSERT_ERR(sm_inc_blocks(g.sm, g.nr_blocks - 1, g.nr_blocks + 1),
		   -EINVAL);
	ASSERT_ERR(sm_dec_blocks(g.sm, g.nr_blocks, g.nr_blocks + 1), -EINVAL);
	uint32_t c;
	ASSERT_ERR(sm_get_count(g.sm, g.nr_blocks, &c), -EINVAL);

	a = alloc(&g);
	for (int i = 0; i < 4; i++)
		ASSERT_OK(sm_inc_block(g.sm, a));
	reopen_or_commit(im, &g);
	ASSERT_EQ(count_of(&g, a), 5);
	for (pd_block_t b = r0; b < r0 + 8; b++)
		ASSERT_EQ(count_of(&g, b), pattern[b - r0]);
	for (int i = 0; i < 3; i++)
		ASSERT_OK(sm_dec_block(g.sm, a));	/* 3 -> 2 leaves the tree */
	reopen_or_commit(im, &g);
	ASSERT_EQ(count_of(&g, a), 2);
	ASSERT_EQ(shared(&g, a), 1);
	im->down(&g);
}

TEST(sm_counts_up_through_ref_count_tree_and_back)
{
	run_all(case_counts_up_and_down);
}

/* SM1: a block freed in this transaction is not handed out before the
 * commit (rollback keeps it); after a commit it is. */
static void case_sm1(const struct sm_impl *im)
{
	struct rig g;
	pd_block_t a[8], b;
	int r, n = 0;

	im->up(&g, 256);
	for (int i = 0; i < 8; i++)
		a[i] = alloc(&g);
	im->commit(&g);
	ASSERT_OK(sm_dec_block(g.sm, a[3]));
	while ((r = sm_new_block(g.sm, &b)) == 0) {
		ASSERT_NE(b, a[3]);
		ASSERT_EQ(count_of(&g, b), 1);
		ASSERT_TRUE(++n <= 256);
	}
	ASSERT_ERR(r, -ENOSPC);
	ASSERT_EQ(count_of(&g, a[3]), 0);

	if (im->reopen) {
		/* rollback: the last commit had a[3] in use, and nothing it
		 * referenced was overwritten */
		im->reopen(&g);
		for (int i = 0; i < 8; i++)
			ASSERT_EQ(count_of(&g, a[i]), 1);
		ASSERT_OK(sm_dec_block(g.sm, a[3]));
	}
	im->commit(&g);
	/* now a[3] is free at the commit too: it comes back before the map
	 * runs out (the metadata map may take it for itself) */
	n = 0;
	while (count_of(&g, a[3]) == 0) {
		ASSERT_OK(sm_new_block(g.sm, &b));
		ASSERT_TRUE(++n <= 256);
	}
	if (im->kind == IMPL_CORE)
		ASSERT_EQ(b, a[3]);
	im->down(&g);
}

TEST(sm_sm1_freed_block_not_reused_before_commit)
{
	run_all(case_sm1);
}

/* SM2: nr_free counts exactly the blocks new_block could return (no frees
 * in the transaction: see DS2 for the disk map's formula with frees). */
static void case_sm2(const struct sm_impl *im)
{
	struct rig g;
	uint32_t *committed;
	pd_block_t expect = 0, k = 0, b;
	int r;

	im->up(&g, 256);
	committed = all_counts(&g, 256);
	for (pd_block_t i = 0; i < 256; i++)
		expect += !committed[i];
	ASSERT_EQ(nr_free(&g), expect);

	pd_block_t a = alloc(&g);
	for (int i = 0; i < 10; i++)
		alloc(&g);
	ASSERT_OK(sm_inc_blocks(g.sm, a, a + 1));
	ASSERT_OK(sm_inc_blocks(g.sm, a, a + 1));	/* 3: ref-count tree */
	expect = 0;
	for (pd_block_t i = 0; i < 256; i++)
		expect += !committed[i] && !count_of(&g, i);
	ASSERT_EQ(nr_free(&g), expect);
	while ((r = sm_new_block(g.sm, &b)) == 0)
		ASSERT_TRUE(++k <= 256);
	ASSERT_ERR(r, -ENOSPC);
	ASSERT_EQ(k, expect);
	ASSERT_EQ(nr_free(&g), 0);
	free(committed);
	im->down(&g);
}

TEST(sm_sm2_nr_free_counts_what_new_block_can_return)
{
	run_all(case_sm2);
}

/* SM5: the cursor moves forward, is not reset at commit, and wraps. */
static void case_sm5(const struct sm_impl *im)
{
	struct rig g;
	pd_block_t a[10], b, prev;
	int r, descents = 0;

	im->up(&g, 256);
	for (int i = 0; i < 10; i++) {
		a[i] = alloc(&g);
		if (i) {
			ASSERT_TRUE(a[i] > a[i - 1]);
			if (im->kind != IMPL_META)
				ASSERT_EQ(a[i], a[i - 1] + 1);
		}
	}
	ASSERT_OK(sm_dec_blocks(g.sm, a[0], a[0] + 1));
	for (int i = 1; i < 5; i++)
		ASSERT_OK(sm_dec_block(g.sm, a[i]));
	im->commit(&g);
	b = alloc(&g);
	ASSERT_TRUE(b > a[9]);			/* not reset to 0 at commit */
	prev = b;
	while ((r = sm_new_block(g.sm, &b)) == 0) {
		if (b < prev) {
			descents++;
			ASSERT_TRUE(b <= a[4]);	/* wrapped to the freed ones */
		}
		prev = b;
	}
	ASSERT_ERR(r, -ENOSPC);
	ASSERT_EQ(descents, 1);
	for (int i = 0; i < 5; i++)
		ASSERT_TRUE(count_of(&g, a[i]) > 0);
	im->down(&g);
}

TEST(sm_sm5_cursor_forward_kept_at_commit_wraps)
{
	run_all(case_sm5);
}

static void case_enospc(const struct sm_impl *im)
{
	struct rig g;
	uint32_t *committed;
	pd_block_t b, a = 0;
	int r, n = 0;

	im->up(&g, 128);
	committed = all_counts(&g, 128);
	while ((r = sm_new_block(g.sm, &b)) == 0) {
		a = b;
		ASSERT_TRUE(++n <= 128);
	}
	ASSERT_ERR(r, -ENOSPC);
	ASSERT_ERR(sm_new_block(g.sm, &b), -ENOSPC);
	ASSERT_EQ(nr_free(&g), 0);
	for (pd_block_t i = 0; i < 128; i++)
		ASSERT_TRUE(count_of(&g, i) > 0 || committed[i] > 0);
	ASSERT_OK(sm_inc_block(g.sm, a));	/* incs still work when full */
	ASSERT_EQ(count_of(&g, a), 2);
	if (im->kind != IMPL_META) {
		/* the metadata map needs room to commit itself */
		im->commit(&g);
		ASSERT_ERR(sm_new_block(g.sm, &b), -ENOSPC);
	}
	free(committed);
	im->down(&g);
}

TEST(sm_enospc_when_full)
{
	run_all(case_enospc);
}

/* SM3: every count of the whole device survives commit + reopen, twice. */
static void case_reopen_all_counts(const struct sm_impl *im)
{
	enum { N = 3000 };
	struct rig g;
	pd_block_t a[500];
	uint32_t *before, *after;

	im->up(&g, N);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 500; i++) {
			if (round && i % 3)
				continue;
			a[i] = alloc(&g);
		}
		for (int i = 0; i < 500; i++) {
			for (int j = 0; j < (i * 7 + round) % 6; j++)
				ASSERT_OK(sm_inc_block(g.sm, a[i]));
			if (i % 11 == round)
				ASSERT_OK(sm_dec_block(g.sm, a[i]));
		}
		im->commit(&g);
		before = all_counts(&g, N);
		pd_block_t free0 = nr_free(&g);
		if (im->reopen)
			im->reopen(&g);
		after = all_counts(&g, N);
		ASSERT_MEMEQ(before, after, N * sizeof(*before));
		ASSERT_EQ(nr_free(&g), free0);
		ASSERT_EQ(nr_blocks(&g), N);
		free(before);
		free(after);
	}
	im->down(&g);
}

TEST(sm_sm3_commit_then_reopen_gives_same_counts)
{
	run_all(case_reopen_all_counts);
}

/* Ranges across bitmap boundaries (16320 entries a bitmap), and the
 * search for free blocks stepping from one bitmap into the next. */
static void case_bitmap_boundaries(const struct sm_impl *im)
{
	enum { N = 40000 };
	static uint32_t model[N];
	struct rig g;
	pd_block_t b = 0, hi = 0;

	memset(model, 0, sizeof(model));
	im->up(&g, N);
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(sm_inc_blocks(g.sm, 16300, 16340));
		for (pd_block_t x = 16300; x < 16340; x++)
			model[x]++;
	}
	ASSERT_OK(sm_inc_blocks(g.sm, 32600, 32700));
	ASSERT_OK(sm_inc_blocks(g.sm, 16310, 16330));
	ASSERT_OK(sm_dec_blocks(g.sm, 16300, 16305));
	for (pd_block_t x = 32600; x < 32700; x++)
		model[x]++;
	for (pd_block_t x = 16310; x < 16330; x++)
		model[x]++;
	for (pd_block_t x = 16300; x < 16305; x++)
		model[x]--;
	for (pd_block_t x = 16250; x < 16400; x++)
		ASSERT_EQ(count_of(&g, x), model[x]);
	for (pd_block_t x = 32590; x < 32710; x++)
		ASSERT_EQ(count_of(&g, x), model[x]);
	reopen_or_commit(im, &g);
	for (pd_block_t x = 16250; x < 16400; x++)
		ASSERT_EQ(count_of(&g, x), model[x]);
	for (pd_block_t x = 32590; x < 32710; x++)
		ASSERT_EQ(count_of(&g, x), model[x]);
	ASSERT_EQ(nr_blocks(&g), N);

	/* allocate past the first boundary: nothing below is skipped that
	 * was free at the commit too (SM1) */
	uint32_t *committed = all_counts(&g, 16400);
	while (b < 16345) {
		b = alloc(&g);
		ASSERT_TRUE(b >= hi);
		hi = b;
	}
	for (pd_block_t x = 0; x <= hi; x++)
		if (count_of(&g, x) == 0 && committed[x] == 0)
			test_fail(__FILE__, __LINE__, "block %llu skipped",
				  (unsigned long long)x);
	free(committed);
	im->down(&g);
}

TEST(sm_counts_across_bitmap_boundaries)
{
	run_all(case_bitmap_boundaries);
}

static void case_extend(const struct sm_impl *im)
{
	struct rig g;
	pd_block_t b = 0, nr_used = 0;

	im->up(&g, 16000);
	if (g.kind == IMPL_META)
		ASSERT_OK(bdev_resize(simdisk_bdev(g.sd), 17000));
	ASSERT_OK(sm_extend(g.sm, 1000));		/* a second bitmap */
	ASSERT_EQ(nr_blocks(&g), 17000);
	while (b < 16400)
		b = alloc(&g);
	ASSERT_OK(sm_inc_block(g.sm, b));
	ASSERT_OK(sm_inc_block(g.sm, b));
	ASSERT_OK(sm_inc_blocks(g.sm, 16990, 17000));
	ASSERT_ERR(sm_inc_blocks(g.sm, 16999, 17001), -EINVAL);
	im->commit(&g);
	pd_block_t free0 = nr_free(&g);
	for (pd_block_t x = 0; x < 17000; x++)
		nr_used += count_of(&g, x) > 0;
	ASSERT_EQ(free0, 17000 - nr_used);
	if (im->reopen)
		im->reopen(&g);
	ASSERT_EQ(nr_blocks(&g), 17000);
	ASSERT_EQ(nr_free(&g), free0);
	ASSERT_EQ(count_of(&g, b), 3);
	ASSERT_EQ(count_of(&g, 16995), 1);
	ASSERT_EQ(count_of(&g, 16989), 0);
	/* and once more, within the last bitmap */
	if (g.kind == IMPL_META)
		ASSERT_OK(bdev_resize(simdisk_bdev(g.sd), 17500));
	ASSERT_OK(sm_extend(g.sm, 500));
	ASSERT_OK(sm_inc_block(g.sm, 17499));
	reopen_or_commit(im, &g);
	ASSERT_EQ(nr_blocks(&g), 17500);
	ASSERT_EQ(count_of(&g, 17499), 1);
	im->down(&g);
}

TEST(sm_extend_across_bitmap_boundary)
{
	run_all(case_extend);
}

/*
 * Random ops against a plain array.  For the metadata map only blocks the
 * test holds are modelled (a block it let go to 0 may become the map's own
 * after a commit); for the others, every block.
 */
static void case_random(const struct sm_impl *im)
{
	enum { N = 2000, OPS = 3000 };
	static uint32_t model[N], committed[N];
	static pd_block_t held[N];
	struct prng rng;
	struct rig g;
	unsigned nr_held = 0;
	uint64_t seed = test_seed(20261123);
	int partial = im->kind == IMPL_META;

	prng_seed(&rng, prng_derive(seed, im->kind));
	memset(model, 0, sizeof(model));
	im->up(&g, N);
	memcpy(committed, model, sizeof(model));

	for (int op = 0; op < OPS; op++) {
		uint64_t dice = prng_below(&rng, 100);
		pd_block_t b;
		unsigned h;
		int r;

		if (dice < 35 || !nr_held) {
			r = sm_new_block(g.sm, &b);
			if (r == -ENOSPC)
				continue;
			ASSERT_OK(r);
			ASSERT_TRUE(b < N);
			ASSERT_EQ(model[b], 0);
			ASSERT_EQ(committed[b], 0);		/* SM1 */
			ASSERT_EQ(count_of(&g, b), 1);
			model[b] = 1;
			held[nr_held++] = b;
			continue;
		}
		h = (unsigned)prng_below(&rng, nr_held);
		b = held[h];
		if (dice < 60) {
			pd_block_t e = b + 1;

			/* a run of held blocks, when there is one */
			while (e < N && e < b + 4 && model[e] &&
			       prng_below(&rng, 2))
				e++;
			ASSERT_OK(sm_inc_blocks(g.sm, b, e));
			for (pd_block_t x = b; x < e; x++)
				model[x]++;
		} else if (dice < 90) {
			ASSERT_OK(sm_dec_block(g.sm, b));
			if (!--model[b]) {
				/* SM4: a second dec fails and changes nothing */
				ASSERT_ERR(sm_dec_block(g.sm, b), -EINVAL);
				ASSERT_EQ(count_of(&g, b), 0);
				held[h] = held[--nr_held];
			}
		} else if (dice < 93) {
			/* to a random count by single steps: crosses the
			 * bitmap's 3 into the ref-count tree and back */
			uint32_t c = (uint32_t)prng_below(&rng, 7);

			for (; model[b] < c; model[b]++)
				ASSERT_OK(sm_inc_block(g.sm, b));
			for (; model[b] > c; model[b]--)
				ASSERT_OK(sm_dec_block(g.sm, b));
			if (!c)
				held[h] = held[--nr_held];
		} else if (dice < 98) {
			im->commit(&g);
			memcpy(committed, model, sizeof(model));
		} else if (im->reopen) {
			/* reopen without a commit: rollback */
			im->reopen(&g);
			memcpy(model, committed, sizeof(model));
			nr_held = 0;
			for (pd_block_t x = 0; x < N; x++)
				if (model[x])
					held[nr_held++] = x;
		}
		if (op % 100 == 0) {
			for (pd_block_t x = 0; x < N; x++)
				if (!partial || model[x])
					ASSERT_EQ(count_of(&g, x), model[x]);
		}
	}
	reopen_or_commit(im, &g);
	for (pd_block_t x = 0; x < N; x++)
		if (!partial || model[x])
			ASSERT_EQ(count_of(&g, x), model[x]);
	im->down(&g);
}

TEST(sm_random_ops_match_array_model)
{
	run_all(case_random);
}

/* Damage gives errors, never a crash. */
static void case_damage(const struct sm_impl *im)
{
	struct rig g;
	struct sm_index_entry ie;
	struct ll_disk ll;
	uint8_t root[SM_ROOT_SIZE], blk[PD_BLOCK_SIZE];
	uint32_t c;

	if (!im->reopen)
		return;
	im->up(&g, 1000);
	alloc(&g);
	im->commit(&g);
	ASSERT_OK(sm_copy_root(g.sm, root, sizeof(root)));
	if (g.kind == IMPL_META)
		ASSERT_OK(sm_ll_open_metadata(&ll, g.tm, root, sizeof(root)));
	else
		ASSERT_OK(sm_ll_open_disk(&ll, g.tm, root, sizeof(root)));
	ASSERT_OK(sm_ll_load_ie(&ll, 0, &ie));
	ASSERT_ERR(sm_ll_load_ie(&ll, 1, &ie), -EINVAL);
	ASSERT_ERR(sm_copy_root(g.sm, root, SM_ROOT_SIZE - 1), -ENOSPC);

	/* a root naming more bitmaps than the index block holds */
	if (g.kind == IMPL_META) {
		struct transaction_manager *tm2;
		struct space_map *sm2;

		le64_put(root, (pd_block_t)256 * SM_ENTRIES_PER_BLOCK);
		ASSERT_ERR(tm_open_with_sm(g.bm, 0, root, sizeof(root), &tm2,
					   &sm2), -EILSEQ);
		ASSERT_ERR(tm_open_with_sm(g.bm, 0, root, 16, &tm2, &sm2),
			   -EINVAL);
	}

	/* a flipped bit in the bitmap on disk */
	objects_down(&g);
	ASSERT_OK(bdev_read(simdisk_bdev(g.sd), ie.blocknr, blk));
	blk[100] ^= 0x10;
	ASSERT_OK(bdev_write(simdisk_bdev(g.sd), ie.blocknr, blk, 0));
	ASSERT_OK(bm_create(simdisk_bdev(g.sd), CACHE_BLOCKS, &g.bm));
	if (g.kind == IMPL_META) {
		struct bm_block *sb;

		ASSERT_OK(bm_read_lock(g.bm, 0, &sb_validator, &sb));
		ASSERT_ERR(tm_open_with_sm(g.bm, 0,
					   (const uint8_t *)bm_block_cdata(sb) +
					   SB_OFF_META_ROOT, SM_ROOT_SIZE,
					   &g.tm, &g.msm), 0);
		bm_unlock(sb);
		g.sm = g.msm;
		ASSERT_ERR(sm_get_count(g.sm, 5, &c), -EILSEQ);
		ASSERT_ERR(sm_new_block(g.sm, &ie.blocknr), -EILSEQ);
		tm_destroy(g.tm);
		sm_destroy(g.msm);
		ASSERT_EQ(bm_destroy(g.bm), 0);
		simdisk_destroy(g.sd);
	} else {
		g.kind = IMPL_DISK;
		/* objects_down left nothing; reopen rebuilds them */
		ASSERT_EQ(bm_destroy(g.bm), 0);
		ASSERT_OK(bm_create(simdisk_bdev(g.sd), CACHE_BLOCKS, &g.bm));
		{
			struct bm_block *sb;
			const uint8_t *d;

			ASSERT_OK(bm_read_lock(g.bm, 0, &sb_validator, &sb));
			d = bm_block_cdata(sb);
			ASSERT_OK(tm_open_with_sm(g.bm, 0, d + SB_OFF_META_ROOT,
						  SM_ROOT_SIZE, &g.tm, &g.msm));
			ASSERT_OK(sm_disk_open(g.tm, d + SB_OFF_DATA_ROOT,
					       SM_ROOT_SIZE, &g.sm));
			bm_unlock(sb);
		}
		ASSERT_ERR(sm_get_count(g.sm, 5, &c), -EILSEQ);
		ASSERT_ERR(sm_inc_block(g.sm, 5), -EILSEQ);
		disk_down(&g);
	}
}

TEST(sm_damaged_metadata_gives_errors)
{
	run_all(case_damage);
}

/* --- the metadata space map alone ----------------------------------------- */

/* MS1-MS3 through the test hooks: ops queued while "inside" a call are
 * counted by get_count and count_is_more_than_one and applied on leaving. */
TEST(sm_metadata_queue_accounting)
{
	struct rig g;
	pd_block_t b, f[1025];
	uint32_t c;
	int s;

	meta_up(&g, 4000);
	pd_block_t held = alloc(&g);
	ASSERT_EQ(sm_metadata_queue_len(g.sm), 0);

	sm_metadata_enter(g.sm);
	ASSERT_OK(sm_new_block(g.sm, &b));
	ASSERT_EQ(sm_metadata_queue_len(g.sm), 1);
	ASSERT_OK(sm_get_count(g.sm, b, &c));
	ASSERT_EQ(c, 1);
	ASSERT_OK(sm_inc_block(g.sm, b));
	ASSERT_OK(sm_get_count(g.sm, b, &c));
	ASSERT_EQ(c, 2);
	ASSERT_OK(sm_count_is_more_than_one(g.sm, b, &s));
	ASSERT_EQ(s, 1);
	ASSERT_OK(sm_dec_block(g.sm, b));
	ASSERT_OK(sm_dec_block(g.sm, b));
	ASSERT_OK(sm_get_count(g.sm, b, &c));
	ASSERT_EQ(c, 0);
	ASSERT_ERR(sm_dec_block(g.sm, b), -EINVAL);		/* MS3 */
	ASSERT_EQ(sm_metadata_queue_len(g.sm), 4);
	ASSERT_ERR(sm_extend(g.sm, 10), -EINVAL);
	/* MS2: a block whose inc is queued is not handed out again */
	pd_block_t b2, b3;
	ASSERT_OK(sm_new_block(g.sm, &b2));
	ASSERT_OK(sm_new_block(g.sm, &b3));
	ASSERT_NE(b2, b3);
	ASSERT_OK(sm_metadata_leave(g.sm));
	ASSERT_EQ(sm_metadata_queue_len(g.sm), 0);
	ASSERT_EQ(count_of(&g, b2), 1);
	ASSERT_EQ(count_of(&g, b3), 1);
	ASSERT_EQ(count_of(&g, b), b == b2 || b == b3);
	ASSERT_EQ(count_of(&g, held), 1);

	/* a full queue is -ENOMEM; what fitted is applied */
	for (int i = 0; i < 1025; i++)
		f[i] = free_run(&g, i ? f[i - 1] + 1 : 2000, 1);
	sm_metadata_enter(g.sm);
	for (int i = 0; i < 1024; i++)
		ASSERT_OK(sm_inc_block(g.sm, f[i]));
	ASSERT_ERR(sm_inc_block(g.sm, f[1024]), -ENOMEM);
	ASSERT_EQ(sm_metadata_queue_len(g.sm), 1024);
	ASSERT_OK(sm_metadata_leave(g.sm));
	ASSERT_EQ(sm_metadata_queue_max(g.sm), 1024);
	for (int i = 0; i < 1024; i++)
		ASSERT_EQ(count_of(&g, f[i]), 1);
	ASSERT_EQ(count_of(&g, f[1024]), 0);

	/* queued incs that take a count to 3 and more: applying them grows
	 * the ref-count tree, whose own allocations queue behind them */
	sm_metadata_enter(g.sm);
	for (int i = 0; i < 5; i++)
		ASSERT_OK(sm_inc_block(g.sm, held));
	ASSERT_OK(sm_get_count(g.sm, held, &c));
	ASSERT_EQ(c, 6);
	ASSERT_OK(sm_metadata_leave(g.sm));
	ASSERT_EQ(count_of(&g, held), 6);
	ASSERT_EQ(sm_metadata_queue_len(g.sm), 0);
	disk_commit(&g);
	disk_reopen(&g);
	ASSERT_EQ(count_of(&g, f[1023]), 1);
	ASSERT_EQ(count_of(&g, held), 6);
	disk_down(&g);
}

/* MS2: while recursing, blocks handed out are not counted yet; when the
 * cursor wraps, they must not be handed out a second time. */
TEST(sm_metadata_no_double_allocation_when_cursor_wraps_in_recursion)
{
	static uint8_t seen[200];
	struct rig g;
	pd_block_t b, n = 0, free0;
	int r;

	memset(seen, 0, sizeof(seen));
	meta_up(&g, 200);
	alloc(&g);				/* shadows the bitmap */
	free0 = nr_free(&g);
	sm_metadata_enter(g.sm);
	while ((r = sm_new_block(g.sm, &b)) == 0) {
		ASSERT_TRUE(b < 200);
		ASSERT_EQ(seen[b], 0);
		seen[b] = 1;
		ASSERT_TRUE(++n <= 200);
	}
	ASSERT_ERR(r, -ENOSPC);
	ASSERT_EQ(n, free0);
	ASSERT_EQ(nr_free(&g), 0);
	ASSERT_OK(sm_metadata_leave(g.sm));
	for (pd_block_t x = 0; x < 200; x++)
		if (seen[x])
			ASSERT_EQ(count_of(&g, x), 1);
	disk_down(&g);
}

static pd_block_t allocatable(struct rig *g)
{
	pd_block_t n;

	ASSERT_OK(sm_metadata_count_allocatable(g->sm, &n));
	return n;
}

/* The count the workload checks an -ENOSPC with follows what new_block
 * may hand out: a block taken leaves it, one taken and freed in the same
 * transaction comes back, one freed that the last commit still holds
 * does not (SM1), one handed out while recursing is out at once (MS2),
 * and once new_block answers -ENOSPC it is 0. */
TEST(sm_metadata_allocatable_count_follows_new_block)
{
	struct rig g;
	pd_block_t a, b, held;
	int r;

	meta_up(&g, 200);
	held = alloc(&g);			/* shadows the bitmap */
	a = allocatable(&g);
	ASSERT_TRUE(a > 0 && a < 200);
	b = alloc(&g);
	ASSERT_EQ(allocatable(&g), a - 1);
	ASSERT_OK(sm_dec_block(g.sm, b));
	ASSERT_EQ(allocatable(&g), a);

	disk_commit(&g);
	alloc(&g);				/* shadows the bitmap again */
	a = allocatable(&g);
	ASSERT_OK(sm_dec_block(g.sm, held));
	ASSERT_EQ(count_of(&g, held), 0);
	ASSERT_EQ(allocatable(&g), a);		/* SM1: still committed */

	sm_metadata_enter(g.sm);
	ASSERT_OK(sm_new_block(g.sm, &b));
	ASSERT_EQ(allocatable(&g), a - 1);	/* MS2: its inc is queued */
	ASSERT_OK(sm_metadata_leave(g.sm));
	ASSERT_EQ(allocatable(&g), a - 1);

	while ((r = sm_new_block(g.sm, &b)) == 0)
		;
	ASSERT_ERR(r, -ENOSPC);
	ASSERT_EQ(allocatable(&g), 0);
	disk_down(&g);
}

/* The metadata device is clamped at 255 bitmaps (FORMAT.md 1.10) and the
 * map will not grow past them. */
TEST(sm_metadata_clamped_to_255_bitmaps)
{
	struct rig g;

	meta_up(&g, SM_METADATA_MAX_BLOCKS + 5000);
	ASSERT_EQ(nr_blocks(&g), SM_METADATA_MAX_BLOCKS);
	ASSERT_EQ(count_of(&g, 3 + 254), 1);		/* last bitmap */
	ASSERT_EQ(count_of(&g, 3 + 255), 0);
	ASSERT_ERR(sm_extend(g.sm, 1), -EINVAL);
	ASSERT_OK(sm_inc_block(g.sm, SM_METADATA_MAX_BLOCKS - 1));
	disk_commit(&g);
	disk_reopen(&g);
	ASSERT_EQ(nr_blocks(&g), SM_METADATA_MAX_BLOCKS);
	ASSERT_EQ(count_of(&g, SM_METADATA_MAX_BLOCKS - 1), 1);
	ASSERT_EQ(nr_free(&g), SM_METADATA_MAX_BLOCKS - 259);
	disk_down(&g);
}

/* Expected counts of metadata blocks, from the structures themselves. */
struct acct {
	uint32_t *exp;
	pd_block_t n;
};

static int acct_node(void *context, pd_block_t b, const void *node,
		     unsigned level)
{
	struct acct *a = context;

	(void)node;
	(void)level;
	if (b >= a->n)
		return -EILSEQ;
	a->exp[b]++;
	return 0;
}

static void acct_tree(struct rig *g, struct acct *a, pd_block_t root,
		      uint32_t vsize)
{
	struct bt_info info = {
		.tm = g->tm, .levels = 1, .value_type = { .size = vsize },
	};

	ASSERT_OK(bt_check(&info, root, acct_node, a, NULL));
}

struct rc_walk {
	struct rig *g;
	struct ll_disk *ll;
	uint64_t nr;
};

/* LL1: every ref-count tree entry is >= 3 with bitmap value 3. */
static int rc_entry(void *context, const uint64_t *keys, const void *value)
{
	struct rc_walk *w = context;
	uint32_t v;

	ASSERT_TRUE(le32_get(value) >= 3);
	ASSERT_OK(sm_ll_lookup_bitmap(w->ll, keys[0], &v));
	ASSERT_EQ(v, 3);
	w->nr++;
	return 0;
}

struct ie_walk {
	struct rig *g;
	struct acct *a;
	uint64_t nr;
};

static int data_ie(void *context, const uint64_t *keys, const void *value)
{
	struct ie_walk *w = context;
	struct sm_index_entry ie;

	(void)keys;
	sm_ie_unpack(value, &ie);
	ASSERT_TRUE(ie.blocknr < w->a->n);
	w->a->exp[ie.blocknr]++;
	w->nr++;
	return 0;
}

/* LL2 and LL4 of one ll, and its blocks into a (bitmaps, ref-count tree,
 * and the index block or index tree). */
static void acct_ll(struct rig *g, struct acct *a, struct space_map *sm,
		    int metadata)
{
	uint8_t root[SM_ROOT_SIZE];
	struct ll_disk ll;
	pd_block_t nr_bitmaps, allocated = 0;

	ASSERT_OK(sm_copy_root(sm, root, sizeof(root)));
	if (metadata) {
		ASSERT_OK(sm_ll_open_metadata(&ll, g->tm, root, sizeof(root)));
		a->exp[ll.bitmap_root]++;
	} else {
		struct ie_walk w = { g, a, 0 };
		struct bt_info info = {
			.tm = g->tm, .levels = 1, .value_type = { .size = 16 },
		};

		ASSERT_OK(sm_ll_open_disk(&ll, g->tm, root, sizeof(root)));
		acct_tree(g, a, ll.bitmap_root, 16);
		ASSERT_OK(bt_walk(&info, ll.bitmap_root, data_ie, &w));
		ASSERT_EQ(w.nr, sm_nr_bitmaps(ll.nr_blocks));
	}
	nr_bitmaps = sm_nr_bitmaps(ll.nr_blocks);
	for (pd_block_t i = 0; i < nr_bitmaps; i++) {
		struct sm_index_entry ie;
		struct bm_block *blk;
		uint32_t nr_free = 0, first_free = UINT32_MAX;

		ASSERT_OK(sm_ll_load_ie(&ll, i, &ie));
		if (metadata)
			a->exp[ie.blocknr]++;
		ASSERT_OK(tm_read_lock(g->tm, ie.blocknr, &sm_bitmap_validator,
				       &blk));
		for (uint32_t bit = 0; bit < SM_ENTRIES_PER_BLOCK; bit++) {
			const uint8_t *p = (const uint8_t *)bm_block_cdata(blk) +
					   SM_BITMAP_HEADER_SIZE;

			if (sm_bitmap_get(p, bit)) {
				allocated++;
				continue;
			}
			nr_free++;
			if (first_free == UINT32_MAX)
				first_free = bit;
		}
		tm_unlock(g->tm, blk);
		ASSERT_EQ(ie.nr_free, nr_free);			/* LL2 */
		ASSERT_TRUE(ie.none_free_before <= first_free);
	}
	ASSERT_EQ(ll.nr_allocated, allocated);			/* LL4 */
	acct_tree(g, a, ll.ref_count_root, 4);
	struct rc_walk w = { g, &ll, 0 };
	struct bt_info rc_info = {
		.tm = g->tm, .levels = 1, .value_type = { .size = 4 },
	};
	ASSERT_OK(bt_walk(&rc_info, ll.ref_count_root, rc_entry, &w));
}

/*
 * Right after a commit (the data map's index lives partly in its cache
 * until then), the metadata map's count of every block equals the
 * references found: superblock, index block, bitmaps, ref-count tree nodes
 * (and the data map's index tree, bitmaps and ref-count tree), plus the
 * blocks the test itself holds (user[]).
 */
static void check_accounting(struct rig *g, const uint32_t *user)
{
	struct acct a;
	pd_block_t n = sm_get_nr_blocks(g->msm);

	a.n = n;
	a.exp = calloc(n, sizeof(*a.exp));
	ASSERT_TRUE(a.exp != NULL);
	a.exp[0]++;					/* superblock */
	acct_ll(g, &a, g->msm, 1);
	if (g->kind == IMPL_DISK)
		acct_ll(g, &a, g->sm, 0);
	for (pd_block_t b = 0; b < n; b++) {
		uint32_t c;

		ASSERT_OK(sm_get_count(g->msm, b, &c));
		if (c != a.exp[b] + (user ? user[b] : 0))
			test_fail(__FILE__, __LINE__,
				  "metadata block %llu: count %u, found %u + %u held",
				  (unsigned long long)b, c, a.exp[b],
				  user ? user[b] : 0);
	}
	free(a.exp);
}

/* Many allocations and counts >= 3 while the map's own bitmaps and
 * ref-count tree are being shadowed: the recursion queue stays short and
 * empty between calls (MS1), and every block is accounted for. */
TEST(sm_metadata_recursion_and_every_block_accounted)
{
	enum { N = 40000, PER_ROUND = 5000 };
	static uint32_t user[N];
	static pd_block_t held[4 * PER_ROUND];
	struct rig g;
	unsigned nr_held = 0;

	memset(user, 0, sizeof(user));
	meta_up(&g, N);
	check_accounting(&g, user);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < PER_ROUND; i++) {
			pd_block_t b = alloc(&g);

			ASSERT_EQ(sm_metadata_queue_len(g.sm), 0);	/* MS1 */
			user[b] = 1;
			held[nr_held++] = b;
		}
		/* counts >= 3 grow the ref-count tree to several leaves */
		for (unsigned i = round; i < nr_held; i += 2) {
			for (int j = 0; j < 2 + (int)(i % 3); j++) {
				ASSERT_OK(sm_inc_block(g.sm, held[i]));
				user[held[i]]++;
			}
			ASSERT_EQ(sm_metadata_queue_len(g.sm), 0);
		}
		/* and some back down / freed */
		for (unsigned i = round; i < nr_held; i += 5) {
			while (user[held[i]] > (unsigned)(round & 1)) {
				ASSERT_OK(sm_dec_block(g.sm, held[i]));
				user[held[i]]--;
			}
		}
		disk_commit(&g);
		check_accounting(&g, user);
	}
	ASSERT_TRUE(sm_metadata_queue_max(g.sm) > 0);
	ASSERT_TRUE(sm_metadata_queue_max(g.sm) < 64);
	printf("# most ops queued in recursion: %u\n",
	       sm_metadata_queue_max(g.sm));
	disk_reopen(&g);
	check_accounting(&g, user);
	disk_down(&g);
}

/* The data map's structures are accounted in the metadata map too, across
 * data bitmaps (40,000 blocks) and a data ref-count tree. */
TEST(sm_disk_every_metadata_block_accounted)
{
	struct rig g;

	sdisk_up(&g, 40000);
	check_accounting(&g, NULL);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 6000; i++)
			alloc(&g);
		for (pd_block_t b = (pd_block_t)round * 1000; b + 3 <= 40000;
		     b += 7)
			ASSERT_OK(sm_inc_blocks(g.sm, b, b + 3));
		disk_commit(&g);
		check_accounting(&g, NULL);
	}
	disk_reopen(&g);
	check_accounting(&g, NULL);
	disk_down(&g);
}

/* Bootstrap (MS4): the map counts the superblock and what it built itself;
 * the layout is the kernel's (index 1, ref-count root 2, bitmaps from 3). */
TEST(sm_metadata_bootstrap_layout)
{
	struct rig g;
	uint8_t root[SM_ROOT_SIZE];

	meta_up(&g, 40000);
	ASSERT_OK(sm_copy_root(g.sm, root, sizeof(root)));
	ASSERT_EQ(le64_get(root + SM_ROOT_OFF_NR_BLOCKS), 40000);
	ASSERT_EQ(le64_get(root + SM_ROOT_OFF_NR_ALLOCATED), 6);
	ASSERT_EQ(le64_get(root + SM_ROOT_OFF_BITMAP_ROOT), 1);
	ASSERT_EQ(le64_get(root + SM_ROOT_OFF_REF_COUNT_ROOT), 2);
	for (pd_block_t b = 0; b < 6; b++)
		ASSERT_EQ(count_of(&g, b), 1);
	ASSERT_EQ(count_of(&g, 6), 0);
	ASSERT_EQ(nr_free(&g), 40000 - 6);
	check_accounting(&g, NULL);
	disk_down(&g);
}

/* DS2: the disk map's nr_free follows the kernel's formula: a block freed
 * in this transaction is counted free although SM1 holds it back. */
TEST(sm_disk_nr_free_is_the_kernel_formula)
{
	struct rig g;
	pd_block_t a;

	sdisk_up(&g, 100);
	a = alloc(&g);
	alloc(&g);
	ASSERT_EQ(nr_free(&g), 98);
	disk_commit(&g);
	ASSERT_OK(sm_dec_block(g.sm, a));
	ASSERT_EQ(nr_free(&g), 99);
	ASSERT_OK(sm_extend(g.sm, 50));
	ASSERT_EQ(nr_free(&g), 99);		/* DS1: counted after commit */
	disk_commit(&g);
	ASSERT_EQ(nr_free(&g), 149);
	disk_down(&g);
}

/* The bytes on disk, read past every layer (FORMAT.md 1.7-1.10): bitmap
 * bit order (high bit at 2k), headers and checksums with their salts,
 * index entries, the ref-count tree's node shape. */
static void case_bytes(const struct sm_impl *im)
{
	uint8_t root[SM_ROOT_SIZE], ie_raw[16], blk[PD_BLOCK_SIZE];
	struct sm_index_entry ie;
	struct rig g;
	uint64_t key;

	if (!im->reopen)
		return;
	im->up(&g, 1000);
	ASSERT_OK(sm_inc_blocks(g.sm, 320, 323));
	ASSERT_OK(sm_inc_blocks(g.sm, 321, 323));
	ASSERT_OK(sm_inc_block(g.sm, 322));
	ASSERT_OK(sm_inc_block(g.sm, 353));
	im->commit(&g);
	ASSERT_OK(sm_copy_root(g.sm, root, sizeof(root)));
	ASSERT_EQ(le64_get(root + 0), 1000);

	struct bdev *bd = simdisk_bdev(g.sd);
	pd_block_t index_root = le64_get(root + 16);
	if (g.kind == IMPL_META) {
		ASSERT_OK(bdev_read(bd, index_root, blk));
		ASSERT_UEQ(le32_get(blk), pd_block_csum(blk + 4, 4092, 160478));
		ASSERT_EQ(le64_get(blk + 8), index_root);
		memcpy(ie_raw, blk + 16, 16);
	} else {
		struct bt_info info = {
			.tm = g.tm, .levels = 1, .value_type = { .size = 16 },
		};

		key = 0;
		ASSERT_OK(bt_lookup(&info, index_root, &key, ie_raw));
		ASSERT_OK(bdev_read(bd, index_root, blk));
		ASSERT_EQ(le32_get(blk + 20), 168);	/* max_entries */
		ASSERT_EQ(le32_get(blk + 24), 16);	/* value_size */
	}
	ie.blocknr = le64_get(ie_raw);
	ie.nr_free = le32_get(ie_raw + 8);
	ie.none_free_before = le32_get(ie_raw + 12);
	ASSERT_EQ(ie.nr_free, 16320 - le64_get(root + 8));	/* one bitmap */
	ASSERT_OK(bdev_read(bd, ie.blocknr, blk));
	ASSERT_UEQ(le32_get(blk), pd_block_csum(blk + 4, 4092, 240779));
	ASSERT_EQ(le64_get(blk + 8), ie.blocknr);
	/* blocks 320, 321, 322 = counts 1, 2, 3: entry k at bits 2k (high)
	 * and 2k+1 (low) of word 10; block 353 = count 1 in word 11 */
	ASSERT_UEQ(le64_get(blk + 16 + 8 * 10), 0x36);
	ASSERT_UEQ(le64_get(blk + 16 + 8 * 11), 0x8);
	if (g.kind == IMPL_DISK)
		ASSERT_EQ(ie.none_free_before, 0);
	/* the ref-count tree: one leaf, key 322, __le32 3 */
	pd_block_t rc_root = le64_get(root + 24);
	ASSERT_OK(bdev_read(bd, rc_root, blk));
	ASSERT_UEQ(le32_get(blk), pd_block_csum(blk + 4, 4092, 121107));
	ASSERT_EQ(le32_get(blk + 4), 2);		/* leaf */
	ASSERT_EQ(le32_get(blk + 16), 1);		/* nr_entries */
	ASSERT_EQ(le32_get(blk + 20), 336);
	ASSERT_EQ(le32_get(blk + 24), 4);
	ASSERT_EQ(le64_get(blk + 32), 322);
	ASSERT_EQ(le32_get(blk + 32 + 8 * 336), 3);
	im->down(&g);
}

TEST(sm_on_disk_bytes_match_the_format)
{
	run_all(case_bytes);
}

/*
 * An I/O error at every point of a transaction's work (each read in turn,
 * then each write: write-backs from a small cache and the flush of
 * tm_pre_commit): the call returns -EIO (never a crash), leaves no block
 * locked, and reopening rolls back to the last commit with every metadata
 * block accounted for.
 */
static int try_pre_commit(struct rig *g)
{
	int r = 0;

	if (g->kind == IMPL_DISK)
		r = sm_commit(g->sm);
	return r ? r : tm_pre_commit(g->tm);
}

static void case_io_errors(const struct sm_impl *im)
{
	enum { N = 200000, HELD = 60 };
	static const enum sd_op_kind kinds[] = { SD_READ, SD_WRITE };
	static uint32_t user[N];
	pd_block_t held[HELD];

	if (!im->reopen)
		return;
	for (size_t k = 0; k < PD_ARRAY_SIZE(kinds); k++) {
		int done = 0;

		/* every early point, then every fourth (time) */
		for (uint64_t nth = 1; !done; nth += nth < 32 ? 1 : 4) {
			struct rig g;
			const char *what = "";
			int r = 0, at = 0;

			ASSERT_TRUE(nth < 2000);
			memset(user, 0, sizeof(user));
			im->up(&g, N);
			for (int i = 0; i < HELD; i++) {
				held[i] = alloc(&g);
				if (g.kind == IMPL_META)
					user[held[i]] = 1;
			}
			im->commit(&g);
			g.cache = 8;	/* empty and small: reads, write-backs */
			im->reopen(&g);
			ASSERT_OK(simdisk_fail_nth(g.sd, kinds[k],
					simdisk_count(g.sd, kinds[k]) + nth, 1));
			for (int i = 0; i < 600 && !r; i++) {
				pd_block_t b;

				at = i;
				what = "new_block";
				r = sm_new_block(g.sm, &b);
				/* counts 1..3 all over the device: every
				 * bitmap, a ref-count tree of several leaves */
				what = "inc";
				b = 1000 + (pd_block_t)i * 7919 % (N - 1002);
				for (int j = 0; j < 1 + i % 3 && !r; j++)
					r = sm_inc_blocks(g.sm, b, b + 2);
				what = "dec";
				if (!r && i % 10 == 0)
					r = sm_dec_block(g.sm, held[i / 10]);
			}
			if (!r) {
				what = "pre_commit";
				r = try_pre_commit(&g);
			}
			simdisk_clear_faults(g.sd);
			if (!r) {
				/* the fault was never reached: the last round */
				printf("# %s: up to %llu %ss failed in turn\n",
				       im->name, (unsigned long long)nth - 1,
				       sd_op_kind_name(kinds[k]));
				done = 1;
			} else if (r != -EIO) {
				test_fail(__FILE__, __LINE__,
					  "%s %llu failing: %s at step %d returned %d",
					  sd_op_kind_name(kinds[k]),
					  (unsigned long long)nth, what, at, r);
			}
			/* no superblock was written: this is a rollback, and
			 * it asserts that nothing stayed locked */
			im->reopen(&g);
			for (int i = 0; i < HELD; i++)
				ASSERT_EQ(count_of(&g, held[i]), 1);
			if (nth % 8 == 1 || done)	/* a whole-device walk */
				check_accounting(&g, g.kind == IMPL_META ? user :
								       NULL);
			alloc(&g);
			im->down(&g);
		}
	}
}

TEST(sm_io_errors_return_eio_and_roll_back)
{
	run_all(case_io_errors);
}

/* The kernel formats a pool with an empty data map and extends it later
 * (FORMAT.md 1.13): no bitmap, nothing to allocate, until extend. */
TEST(sm_disk_created_empty_then_extended)
{
	struct rig g;
	pd_block_t b;

	sdisk_up(&g, 0);
	ASSERT_EQ(nr_blocks(&g), 0);
	ASSERT_EQ(nr_free(&g), 0);
	ASSERT_ERR(sm_new_block(g.sm, &b), -ENOSPC);
	ASSERT_ERR(sm_inc_block(g.sm, 0), -EINVAL);
	disk_reopen(&g);
	ASSERT_EQ(nr_blocks(&g), 0);
	ASSERT_OK(sm_extend(g.sm, 20000));
	ASSERT_EQ(alloc(&g), 0);
	disk_commit(&g);
	ASSERT_EQ(nr_free(&g), 19999);
	disk_reopen(&g);
	ASSERT_EQ(nr_blocks(&g), 20000);
	ASSERT_EQ(count_of(&g, 0), 1);
	ASSERT_EQ(alloc(&g), 1);
	disk_commit(&g);
	check_accounting(&g, NULL);
	disk_down(&g);
}

#if defined(FIU_ENABLE) && FIU_ENABLE
#include <fiu-control.h>

static unsigned long fault_target, fault_hits;

static int fail_nth_alloc(const char *name, int *failnum, void **failinfo,
			  unsigned *flags)
{
	(void)name;
	(void)failnum;
	(void)failinfo;
	(void)flags;
	return ++fault_hits == fault_target;
}

/* The Nth allocation fails, N = 1, 2, ...: creating and opening both
 * on-disk maps returns -ENOMEM, leaks nothing (ASan, valgrind), leaves no
 * lock; the fault-free run works. */
TEST(sm_alloc_failures_in_create_and_open)
{
	ASSERT_OK(fiu_init(0));
	for (fault_target = 1; ; fault_target++) {
		struct simdisk *sd;
		struct block_manager *bm;
		struct transaction_manager *tm = NULL, *tm2 = NULL;
		struct space_map *msm = NULL, *dsm = NULL, *msm2 = NULL;
		struct space_map *dsm2 = NULL;
		uint8_t mroot[SM_ROOT_SIZE], droot[SM_ROOT_SIZE];
		int r;

		ASSERT_OK(simdisk_create(PD_BLOCK_SIZE, 1000, &sd));
		ASSERT_OK(bm_create(simdisk_bdev(sd), 64, &bm));
		fault_hits = 0;
		ASSERT_OK(fiu_enable_external(FP_CORE_ALLOC, 1, NULL, 0,
					      fail_nth_alloc));
		r = tm_create_with_sm(bm, 0, &tm, &msm);
		if (!r) {
			r = sm_disk_create(tm, 20000, &dsm);
			if (!r) {
				ASSERT_OK(sm_copy_root(dsm, droot, SM_ROOT_SIZE));
				ASSERT_OK(sm_copy_root(msm, mroot, SM_ROOT_SIZE));
				r = tm_open_with_sm(bm, 0, mroot, SM_ROOT_SIZE,
						    &tm2, &msm2);
			}
			if (!r)
				r = sm_disk_open(tm2, droot, SM_ROOT_SIZE, &dsm2);
		}
		ASSERT_OK(fiu_disable(FP_CORE_ALLOC));
		if (r && r != -ENOMEM)
			test_fail(__FILE__, __LINE__, "allocation %lu: %d",
				  fault_target, r);
		ASSERT_EQ(bm_nr_locked(bm), 0);
		sm_destroy(dsm2);
		tm_destroy(tm2);
		sm_destroy(msm2);
		sm_destroy(dsm);
		tm_destroy(tm);
		sm_destroy(msm);
		ASSERT_EQ(bm_destroy(bm), 0);
		simdisk_destroy(sd);
		if (fault_hits < fault_target) {
			ASSERT_OK(r);		/* nothing fired: all worked */
			break;
		}
	}
	ASSERT_TRUE(fault_target > 4);
}
#else

TEST(sm_alloc_failures_in_create_and_open)
{
	TEST_SKIP("built with FIU=0: no libfiu fault points");
}
#endif
