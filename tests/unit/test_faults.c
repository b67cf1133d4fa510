/* tests/unit/test_faults.c - libfiu fault points inside the core: every
 * allocation failed in turn (core/alloc) and every device op failed in
 * turn at the bdev choke point (bdev/read, bdev/write, bdev/flush), on a
 * small thin workload.  Each failure must come back as an error, leave no
 * lock held and nothing leaked (valgrind: make valgrind), and a reopen
 * without faults must find a committed state with a clean structure
 * (SQLite's "fail the Nth chance, N = 1, 2, ... until nothing fires").
 */
#include "check.h"
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

/* The workload: 0 when it ran to the end, else the first error. */
static int workload(struct bdev *bd, const struct thin_pool_params *p)
{
	struct thin_pool *pool;
	int r = thin_pool_format(bd, p, &pool);

	if (r)
		return r;
	r = thin_create_thin(pool, 0);
	for (uint64_t v = 0; v < 300 && !r; v++) {
		pd_block_t b;

		r = thin_alloc_data_block(pool, &b);
		if (!r)
			r = thin_insert(pool, 0, v, b);
	}
	if (!r)
		r = thin_commit(pool);
	if (!r)
		r = thin_create_snap(pool, 1, 0);
	for (uint64_t v = 0; v < 50 && !r; v++)
		r = thin_remove(pool, 0, v * 3);
	if (!r)
		r = thin_reserve_metadata_snap(pool);
	if (!r)
		r = thin_commit(pool);
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

/* Reopen with no fault: either never formatted, or a clean pool. */
static void after(struct simdisk *sd, const struct thin_pool_params *p)
{
	struct thin_pool_params q = *p;
	struct thin_pool *pool;
	struct check_result cr;
	int r;

	q.flags = THIN_OPEN_READ_ONLY;
	r = thin_pool_open(simdisk_bdev(sd), &q, &pool);
	if (r == -ENODATA)
		return;
	ASSERT_OK(r);
	thin_pool_destroy(pool);
	ASSERT_OK(check_thin_metadata(simdisk_bdev(sd), CHECK_STRICT, NULL,
				      NULL, &cr));
	ASSERT_EQ(cr.errors, 0);
	ASSERT_EQ(cr.leaks, 0);
}

static void fail_each_in_turn(const char *point, int want, unsigned long min)
{
	struct thin_pool_params p = {
		.data_block_size = 128,
		.nr_data_blocks = 4000,
		.cache_blocks = 16,
	};
	unsigned long n;

	ASSERT_EQ(fiu_init(0), 0);
	ASSERT_EQ(fiu_enable_external(point, 1, NULL, 0, nth_call), 0);
	for (n = 1;; n++) {
		struct simdisk *sd;
		int r;

		ASSERT_OK(simdisk_create(4096, 512, &sd));
		countdown = n;
		fired = 0;
		r = workload(simdisk_bdev(sd), &p);
		countdown = 0;
		if (!fired) {
			ASSERT_OK(r);		/* nothing fired: it all ran */
			simdisk_destroy(sd);
			break;
		}
		if (r != want && r != -EIO)
			test_fail(__FILE__, __LINE__, "%s: failing call %lu gave %d (%s)",
				  point, n, r, pd_strerror(r));
		after(sd, &p);
		simdisk_destroy(sd);
	}
	fiu_disable(point);
	printf("# %s: %lu calls failed in turn\n", point, n - 1);
	ASSERT_TRUE(n - 1 >= min);	/* the point is on the workload's path */
}

#else

static void fail_each_in_turn(const char *point, int want, unsigned long min)
{
	(void)want;
	(void)min;
	TEST_SKIP("built with FIU=0: %s cannot fail", point);
}

#endif

/* (Every TEST line is registered whatever the preprocessor says, so the
 * tests exist in both builds.) */
TEST(faults_each_allocation_in_turn)
{
	fail_each_in_turn(FP_CORE_ALLOC, -ENOMEM, 50);
}

TEST(faults_each_bdev_read_in_turn)
{
	fail_each_in_turn(FP_BDEV_READ, -EIO, 3);
}

TEST(faults_each_bdev_write_in_turn)
{
	fail_each_in_turn(FP_BDEV_WRITE, -EIO, 20);
}

TEST(faults_each_bdev_flush_in_turn)
{
	fail_each_in_turn(FP_BDEV_FLUSH, -EIO, 5);
}

/* A failed copy of a space-map root fails the commit before the
 * superblock is locked; the pool reopens in a committed state. */
TEST(faults_each_sm_copy_root_in_turn)
{
	fail_each_in_turn(FP_SM_COPY_ROOT, -ENOMEM, 4);
}

/* A space map that answers -ENOSPC (metadata blocks for shadows and new
 * nodes, data blocks for mappings) fails the op; the pool reopens in a
 * committed state. */
TEST(faults_each_sm_new_block_in_turn)
{
	fail_each_in_turn(FP_SM_NEW_BLOCK, -ENOSPC, 20);
}
