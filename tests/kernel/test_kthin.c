/* tests/kernel/test_kthin.c - the kernel's dm-thin-metadata.c through its
 * own API, on our bdev: images it writes must satisfy our structural
 * checker, our core and Debian's thin_check; images our core writes must
 * open in the kernel with the same content. */
#include <sys/wait.h>

#include "dm-thin-metadata.h"

#include "check.h"
#include "ktest.h"
#include "thin.h"

#define NR_META 1024u		/* metadata blocks: 4 MiB */
#define NR_DATA 10000u		/* data blocks */
#define DATA_BLOCK_SECTORS 128u

/* Our checker, strict, finds nothing; returns its result. */
static struct check_result core_check(struct bdev *bd)
{
	struct check_result res;

	ASSERT_OK(check_thin_metadata(bd, CHECK_STRICT, ktest_check_msg, NULL, &res));
	ASSERT_TRUE(res.superblock_ok);
	ASSERT_EQ(res.errors, 0);
	ASSERT_EQ(res.leaks, 0);
	ASSERT_EQ(res.warnings, 0);
	return res;
}

static void thin_check_accepts(const char *path)
{
	char cmd[4096];
	int st;

	snprintf(cmd, sizeof(cmd), "thin_check -q '%s'", path);
	st = system(cmd);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

/* Data block the kernel mapped dev/vblock to, or -errno. */
static long long kfind(struct dm_pool_metadata *pmd, dm_thin_id dev,
		       dm_block_t vblock)
{
	struct dm_thin_device *td;
	struct dm_thin_lookup_result res;
	int r;

	ASSERT_OK(dm_pool_open_thin_device(pmd, dev, &td));
	r = dm_thin_find_block(td, vblock, 1, &res);
	ASSERT_OK(dm_pool_close_thin_device(td));
	return r ? r : (long long)res.block;
}

/* Kernel: format, a thin device 0 with 300 mappings, a snapshot 1 of it,
 * device 2 with mappings 1000.., commit, close. */
static void kernel_write_pool(struct block_device *bdev)
{
	struct dm_pool_metadata *pmd;
	struct dm_thin_device *td;
	dm_block_t b;
	unsigned i;

	pmd = dm_pool_metadata_open(bdev, DATA_BLOCK_SECTORS, true);
	ASSERT_TRUE(!IS_ERR(pmd));
	ASSERT_OK(dm_pool_resize_data_dev(pmd, NR_DATA));
	ASSERT_OK(dm_pool_create_thin(pmd, 0));
	ASSERT_OK(dm_pool_open_thin_device(pmd, 0, &td));
	for (i = 0; i < 300; i++) {
		ASSERT_OK(dm_pool_alloc_data_block(pmd, &b));
		ASSERT_OK(dm_thin_insert_block(td, i * 3, b));
	}
	ASSERT_OK(dm_pool_close_thin_device(td));
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_create_snap(pmd, 1, 0));
	ASSERT_OK(dm_pool_create_thin(pmd, 2));
	ASSERT_OK(dm_pool_open_thin_device(pmd, 2, &td));
	for (i = 0; i < 50; i++) {
		ASSERT_OK(dm_pool_alloc_data_block(pmd, &b));
		ASSERT_OK(dm_thin_insert_block(td, 1000 + i, b));
	}
	ASSERT_OK(dm_pool_close_thin_device(td));
	ASSERT_OK(dm_pool_set_metadata_transaction_id(pmd, 0, 7));
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_metadata_close(pmd));
}

static void core_sees_kernel_pool(struct bdev *bd)
{
	struct thin_pool_params params = { 0 };
	struct thin_lookup_result lr;
	struct thin_pool *pool;
	struct check_result res = core_check(bd);
	uint64_t id;

	ASSERT_EQ(res.nr_devices, 3);
	ASSERT_EQ(res.nr_mappings, 300 + 300 + 50);
	ASSERT_EQ(res.trans_id, 7);
	ASSERT_EQ(res.data_block_size, DATA_BLOCK_SECTORS);
	ASSERT_EQ(res.data_nr_blocks, NR_DATA);
	ASSERT_EQ(res.data_nr_allocated, 350);
	ASSERT_OK(thin_pool_open(bd, &params, &pool));
	ASSERT_OK(thin_get_transaction_id(pool, &id));
	ASSERT_EQ(id, 7);
	ASSERT_OK(thin_lookup(pool, 0, 30, &lr));
	ASSERT_EQ(lr.data_block, 10);
	ASSERT_TRUE(lr.shared);
	ASSERT_OK(thin_lookup(pool, 1, 30, &lr));
	ASSERT_EQ(lr.data_block, 10);
	ASSERT_OK(thin_lookup(pool, 2, 1049, &lr));
	ASSERT_EQ(lr.data_block, 349);
	ASSERT_ERR(thin_lookup(pool, 0, 31, &lr), -ENODATA);
	thin_pool_destroy(pool);
}

/* The kernel's image on a file: our checker, our core, thin_check. */
TEST(kthin_kernel_image_checks_clean)
{
	const char *path = ktest_image_path("kernel.img");
	struct block_device bdev;
	struct bdev *bd;

	ASSERT_OK(bdev_file_open(path, KBLOCK, NR_META, BDEV_FILE_CREATE, &bd));
	bdev = ktest_bdev(bd, 0, 0);
	kernel_write_pool(&bdev);
	core_sees_kernel_pool(bd);
	bdev_destroy(bd);
	thin_check_accepts(path);
}

/* The same with a 16-block cache on simdisk: blocks are written back in
 * the middle of transactions (KB1/KB2), and the result is the same. */
TEST(kthin_small_cache_writes_back_early)
{
	const char *path = ktest_image_path("small.img");
	struct block_device bdev;
	struct simdisk *sd;
	uint64_t i, flushes = 0, early = 0;

	ASSERT_OK(simdisk_create(KBLOCK, NR_META, &sd));
	simdisk_log_reads(sd, 0);
	bdev = ktest_bdev(simdisk_bdev(sd), 16, 0);
	kernel_write_pool(&bdev);
	/* writes before the first flush after format: write-backs under
	 * pressure, not at commit */
	for (i = 0; i < simdisk_nr_ops(sd); i++) {
		const struct sd_op *op = simdisk_op(sd, i);

		if (op->kind == SD_FLUSH)
			flushes++;
		else if (op->kind == SD_WRITE && flushes == 2)
			early++;
	}
	ASSERT_TRUE(flushes >= 4);
	ASSERT_TRUE(early > 0);
	core_sees_kernel_pool(simdisk_bdev(sd));
	ASSERT_OK(simdisk_export(sd, path));
	simdisk_destroy(sd);
	thin_check_accepts(path);
}

/* Our core's image opens in the kernel with the same content; the kernel
 * changes it, and our checker still finds it clean. */
TEST(kthin_kernel_opens_core_image)
{
	struct thin_pool_params params = {
		.data_block_size = DATA_BLOCK_SECTORS,
		.nr_data_blocks = NR_DATA,
	};
	const char *path = ktest_image_path("core.img");
	struct block_device bdev;
	struct dm_pool_metadata *pmd;
	struct dm_thin_device *td;
	struct thin_pool *pool;
	struct bdev *bd;
	dm_block_t b, nr;
	pd_block_t pb;
	uint64_t id;
	unsigned i;

	ASSERT_OK(bdev_file_open(path, KBLOCK, NR_META, BDEV_FILE_CREATE, &bd));
	ASSERT_OK(thin_pool_format(bd, &params, &pool));
	ASSERT_OK(thin_create_thin(pool, 5));
	for (i = 0; i < 200; i++) {
		ASSERT_OK(thin_alloc_data_block(pool, &pb));
		ASSERT_OK(thin_insert(pool, 5, i, pb));
	}
	ASSERT_OK(thin_set_transaction_id(pool, 0, 3));
	ASSERT_OK(thin_pool_close(pool));

	bdev = ktest_bdev(bd, 0, 0);
	pmd = dm_pool_metadata_open(&bdev, DATA_BLOCK_SECTORS, false);
	ASSERT_TRUE(!IS_ERR(pmd));
	ASSERT_OK(dm_pool_get_metadata_transaction_id(pmd, &id));
	ASSERT_EQ(id, 3);
	ASSERT_OK(dm_pool_get_data_dev_size(pmd, &nr));
	ASSERT_EQ(nr, NR_DATA);
	ASSERT_OK(dm_pool_get_free_block_count(pmd, &nr));
	ASSERT_EQ(nr, NR_DATA - 200);
	for (i = 0; i < 200; i++)
		ASSERT_EQ(kfind(pmd, 5, i), i);
	ASSERT_EQ(kfind(pmd, 5, 200), -ENODATA);
	ASSERT_OK(dm_pool_open_thin_device(pmd, 5, &td));
	ASSERT_OK(dm_pool_alloc_data_block(pmd, &b));
	ASSERT_EQ(b, 200);
	ASSERT_OK(dm_thin_insert_block(td, 500, b));
	ASSERT_OK(dm_thin_remove_range(td, 0, 100));
	ASSERT_OK(dm_pool_close_thin_device(td));
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_metadata_close(pmd));

	ASSERT_EQ(core_check(bd).nr_mappings, 101);
	bdev_destroy(bd);
	thin_check_accepts(path);
}

/* dm_pool_abort_metadata drops what was not committed from the trees, but
 * not the in-core device entries changed since the commit (its
 * thin_devices list: __set_abort_with_changes_flags only marks them), so a
 * device created in the aborted transaction can still be opened, and the
 * next commit writes its details back: device 2 in the details tree with
 * no mapping tree, device 1 with mapped_blocks 1 and no mapping (our
 * checker's CK5, twice).  dm-thin never commits after an abort (the pool
 * goes read-only or failed until reloaded, which reopens the metadata);
 * this pins the behaviour down, for the phase-B adapter. */
TEST(kthin_abort_rolls_back_trees_not_device_list)
{
	struct block_device bdev;
	struct dm_pool_metadata *pmd;
	struct dm_thin_device *td;
	struct simdisk *sd;
	struct check_result res;
	dm_block_t b;

	ASSERT_OK(simdisk_create(KBLOCK, NR_META, &sd));
	bdev = ktest_bdev(simdisk_bdev(sd), 0, 0);
	pmd = dm_pool_metadata_open(&bdev, DATA_BLOCK_SECTORS, true);
	ASSERT_TRUE(!IS_ERR(pmd));
	ASSERT_OK(dm_pool_resize_data_dev(pmd, NR_DATA));
	ASSERT_OK(dm_pool_create_thin(pmd, 1));
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_open_thin_device(pmd, 1, &td));
	ASSERT_OK(dm_pool_alloc_data_block(pmd, &b));
	ASSERT_OK(dm_thin_insert_block(td, 9, b));
	ASSERT_OK(dm_pool_close_thin_device(td));
	ASSERT_OK(dm_pool_create_thin(pmd, 2));
	ASSERT_EQ(kfind(pmd, 1, 9), b);
	ASSERT_OK(dm_pool_abort_metadata(pmd));
	ASSERT_EQ(kfind(pmd, 1, 9), -ENODATA);
	ASSERT_OK(dm_pool_open_thin_device(pmd, 2, &td));	/* still there */
	ASSERT_TRUE(dm_thin_aborted_changes(td));
	ASSERT_OK(dm_pool_close_thin_device(td));
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_metadata_close(pmd));
	kshim_quiet = 1;
	ASSERT_OK(check_thin_metadata(simdisk_bdev(sd), 0, NULL, NULL, &res));
	kshim_quiet = 0;
	ASSERT_EQ(res.errors, 2);
	ASSERT_EQ(res.nr_devices, 2);
	simdisk_destroy(sd);
}

/* dm_pool_delete_thin_device of a device created in the same transaction:
 * its details are written only at commit, so the details-tree remove
 * fails with -ENODATA, after the in-core entry was already freed; the
 * device's mapping tree stays in the top-level tree and the next commit
 * writes it with no details (our checker: an error).  dm-thin never does
 * this (pool_message commits after each create); the client adapter's
 * caller policy does the same (harness/engine/client.h K8). */
TEST(kthin_delete_in_creating_transaction_orphans_tree)
{
	struct block_device bdev;
	struct dm_pool_metadata *pmd;
	struct dm_thin_device *td;
	struct check_result res;
	struct simdisk *sd;

	ASSERT_OK(simdisk_create(KBLOCK, NR_META, &sd));
	bdev = ktest_bdev(simdisk_bdev(sd), 0, 0);
	pmd = dm_pool_metadata_open(&bdev, DATA_BLOCK_SECTORS, true);
	ASSERT_TRUE(!IS_ERR(pmd));
	ASSERT_OK(dm_pool_resize_data_dev(pmd, NR_DATA));
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_create_thin(pmd, 7));
	kshim_quiet = 1;
	ASSERT_ERR(dm_pool_delete_thin_device(pmd, 7), -ENODATA);
	kshim_quiet = 0;
	ASSERT_ERR(dm_pool_open_thin_device(pmd, 7, &td), -ENODATA);
	ASSERT_OK(dm_pool_commit_metadata(pmd));
	ASSERT_OK(dm_pool_metadata_close(pmd));
	kshim_quiet = 1;
	ASSERT_OK(check_thin_metadata(simdisk_bdev(sd), 0, NULL, NULL, &res));
	kshim_quiet = 0;
	ASSERT_TRUE(res.errors > 0);
	ASSERT_EQ(res.nr_devices, 0);
	simdisk_destroy(sd);
}
