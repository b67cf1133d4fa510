/* tests/unit/test_faults_oom.c - out of memory everywhere test_faults.c's
 * workload does not reach: every allocation failed in turn (core/alloc,
 * N = 1, 2, ... until nothing fires) in the open of an existing pool and
 * in every thin op not on that path (readers, insert_raw, remove_range,
 * set_dev_info, trans-id, both resizes, metadata snapshot release and
 * open, needs_check, abort of a healthy pool), and in the structural
 * checkers (check.h, check_cache.h).  Each failure must come back as an
 * error (-ENOMEM, or -EIO from a pool the failure poisoned), never a
 * crash or a wrong answer; valgrind (make valgrind) sees no leak; and a
 * reopen without faults finds a committed state that checks clean.
 */
#include "cache.h"
#include "check.h"
#include "check_cache.h"
#include "fault.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"

#if defined(FIU_ENABLE) && FIU_ENABLE
#include <fiu-control.h>

static unsigned long countdown;		/* fail when it reaches 0 */
static unsigned long fired;

static int nth_call(const char *name, int *failnum, void **failinfo,
		    unsigned int *flags)
{
	(void)name;
	(void)failnum;
	(void)failinfo;
	(void)flags;
	if (countdown && --countdown == 0) {
		fired++;
		return 1;
	}
	return 0;
}

static const struct thin_pool_params params = {
	.data_block_size = 128,
	.nr_data_blocks = 4000,
	.cache_blocks = 16,
};

/* A committed pool with two devices, a snapshot and a held metadata
 * snapshot, built with no fault. */
static struct simdisk *setup(void)
{
	struct thin_pool *pool;
	struct simdisk *sd;

	ASSERT_OK(simdisk_create(4096, 512, &sd));
	ASSERT_OK(thin_pool_format(simdisk_bdev(sd), &params, &pool));
	ASSERT_OK(thin_create_thin(pool, 0));
	for (uint64_t v = 0; v < 200; v++) {
		pd_block_t b;

		ASSERT_OK(thin_alloc_data_block(pool, &b));
		ASSERT_OK(thin_insert(pool, 0, v, b));
	}
	ASSERT_OK(thin_create_snap(pool, 1, 0));
	ASSERT_OK(thin_reserve_metadata_snap(pool));
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);
	return sd;
}

static int on_mapping(void *ctx, uint64_t vblock, pd_block_t data_block,
		      uint32_t time)
{
	(void)vblock;
	(void)data_block;
	(void)time;
	(*(uint64_t *)ctx)++;
	return 0;
}

/* Readers: their answers when they succeed must be the true ones. */
static int readers(struct thin_pool *pool, int snap)
{
	struct thin_lookup_result lr;
	struct thin_dev_info info;
	uint64_t *devs = NULL, n = 0;
	size_t nr = 0;
	pd_block_t b;
	int r;

	if ((r = thin_lookup(pool, 0, 7, &lr)))
		return r;
	if ((r = thin_dev_info(pool, 1, &info)))
		return r;
	ASSERT_EQ(info.mapped_blocks, 200);
	if ((r = thin_walk_mappings(pool, 1, on_mapping, &n)))
		return r;
	ASSERT_EQ(n, 200);
	if ((r = thin_list_devs_alloc(pool, &devs, &nr)))
		return r;
	free(devs);
	ASSERT_EQ(nr, 2);
	if (snap)	/* the copy has no space-map roots */
		return 0;
	if ((r = thin_get_free_data_blocks(pool, &b)))
		return r;
	return thin_get_free_metadata_blocks(pool, &b);
}

/* 0 when it ran to the end, else the first error. */
static int workload(struct simdisk *sd)
{
	struct thin_pool_params ro = params;
	struct thin_pool *pool, *snap;
	struct thin_dev_info info = { .dev = 9, .mapped_blocks = 0,
				      .transaction_id = 3 };
	uint64_t removed;
	int r;

	ro.flags = THIN_OPEN_READ_ONLY;
	r = thin_pool_open_metadata_snap(simdisk_bdev(sd), 0, &ro, &snap);
	if (r)
		return r;
	r = readers(snap, 1);
	thin_pool_destroy(snap);
	if (r)
		return r;
	r = thin_pool_open(simdisk_bdev(sd), &params, &pool);
	if (r)
		return r;
	r = readers(pool, 0);
	if (!r)
		r = thin_insert_raw(pool, 0, 500, 3999, 7);
	if (!r)
		r = thin_remove_range(pool, 0, 20, 150, &removed);
	if (!r)
		r = thin_set_dev_info(pool, &info);
	if (!r)
		r = thin_set_transaction_id(pool, 0, 5);
	if (!r)
		r = thin_resize_data(pool, 20000);
	if (!r)
		r = thin_release_metadata_snap(pool);
	if (!r)
		r = thin_commit(pool);
	if (!r)
		r = thin_set_needs_check(pool);
	if (!r)
		r = thin_remove_range(pool, 1, 0, 100, &removed);
	if (!r)
		r = thin_abort(pool);		/* a healthy pool */
	if (!r)
		r = bdev_resize(simdisk_bdev(sd), 600);
	if (!r)
		r = thin_resize_metadata(pool, 600);
	if (!r)
		r = thin_delete(pool, 1);
	if (!r)
		r = thin_commit(pool);
	if (r && thin_is_failed(pool)) {
		int a = thin_abort(pool);	/* may fail too: must not crash */
		(void)a;
	}
	thin_pool_destroy(pool);
	return r;
}

static void clean_after(struct simdisk *sd)
{
	struct thin_pool_params q = params;
	struct thin_pool *pool;
	struct check_result cr;

	q.flags = THIN_OPEN_READ_ONLY;
	ASSERT_OK(thin_pool_open(simdisk_bdev(sd), &q, &pool));
	thin_pool_destroy(pool);
	ASSERT_OK(check_thin_metadata(simdisk_bdev(sd), CHECK_STRICT, NULL,
				      NULL, &cr));
	ASSERT_EQ(cr.errors, 0);
	ASSERT_EQ(cr.leaks, 0);
}

TEST(faults_alloc_open_and_every_op_in_turn)
{
	unsigned long n;

	ASSERT_EQ(fiu_init(0), 0);
	ASSERT_EQ(fiu_enable_external(FP_CORE_ALLOC, 1, NULL, 0, nth_call), 0);
	for (n = 1;; n++) {
		struct simdisk *sd = setup();
		int r;

		countdown = n;
		fired = 0;
		r = workload(sd);
		countdown = 0;
		if (!fired) {
			ASSERT_OK(r);
			clean_after(sd);
			simdisk_destroy(sd);
			break;
		}
		if (r != -ENOMEM && r != -EIO)
			test_fail(__FILE__, __LINE__, "failing allocation %lu gave %d (%s)",
				  n, r, pd_strerror(r));
		clean_after(sd);
		simdisk_destroy(sd);
	}
	fiu_disable(FP_CORE_ALLOC);
	printf("# core/alloc: %lu allocations failed in turn\n", n - 1);
	ASSERT_TRUE(n - 1 >= 50);
}

/* The checkers: -ENOMEM, or a finished check with the true (clean)
 * result; never damage made up by a failed allocation. */
TEST(faults_alloc_checkers_in_turn)
{
	struct simdisk *sd = setup(), *csd;
	struct cache_params cp = { .data_block_size = 64, .version = 2 };
	struct cache_md *cmd;
	unsigned long n, nc;

	ASSERT_OK(simdisk_create(4096, 128, &csd));
	ASSERT_OK(cache_md_format(simdisk_bdev(csd), &cp, &cmd));
	ASSERT_OK(cache_resize(cmd, 500));
	for (uint32_t c = 0; c < 500; c += 3)
		ASSERT_OK(cache_insert_mapping(cmd, c, c + 10));
	ASSERT_OK(cache_md_close(cmd));

	ASSERT_EQ(fiu_init(0), 0);
	ASSERT_EQ(fiu_enable_external(FP_CORE_ALLOC, 1, NULL, 0, nth_call), 0);
	for (n = 1;; n++) {
		struct check_result cr;
		int r;

		countdown = n;
		fired = 0;
		r = check_thin_metadata(simdisk_bdev(sd), CHECK_STRICT, NULL,
					NULL, &cr);
		countdown = 0;
		if (fired && r == -ENOMEM)
			continue;
		ASSERT_OK(r);
		ASSERT_EQ(cr.errors, 0);
		ASSERT_EQ(cr.leaks, 0);
		if (!fired)
			break;
	}
	for (nc = 1;; nc++) {
		struct check_cache_result cr;
		int r;

		countdown = nc;
		fired = 0;
		r = check_cache_metadata(simdisk_bdev(csd), CHECK_STRICT, NULL,
					 NULL, &cr);
		countdown = 0;
		if (fired && r == -ENOMEM)
			continue;
		ASSERT_OK(r);
		ASSERT_EQ(cr.errors, 0);
		ASSERT_EQ(cr.leaks, 0);
		if (!fired)
			break;
	}
	fiu_disable(FP_CORE_ALLOC);
	printf("# checkers: %lu (thin) and %lu (cache) allocations failed in turn\n",
	       n - 1, nc - 1);
	ASSERT_TRUE(n - 1 >= 2);
	ASSERT_TRUE(nc - 1 >= 2);
	simdisk_destroy(csd);
	simdisk_destroy(sd);
}

#else

TEST(faults_alloc_open_and_every_op_in_turn)
{
	TEST_SKIP("built with FIU=0: core/alloc cannot fail");
}

TEST(faults_alloc_checkers_in_turn)
{
	TEST_SKIP("built with FIU=0: core/alloc cannot fail");
}

#endif
