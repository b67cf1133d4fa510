/* tests/unit/test_tree_check.c - thin_check_trees and cache_check_trees:
 * bt_check (bt.h) of every tree open metadata holds, which recovery runs
 * beside core/check.c and check_cache.c (harness/engine/explore.c,
 * cache_workload.c).  Correct metadata passes both at any time, mid
 * transaction too; the damage fed here is found by both. */
#include <string.h>

#include "bm.h"
#include "cache.h"
#include "check.h"
#include "check_cache.h"
#include "prng.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "util.h"

#define META_BLOCKS 2048

static unsigned thin_errors(struct bdev *bd)
{
	struct check_result cr;

	ASSERT_OK(check_thin_metadata(bd, CHECK_STRICT, NULL, NULL, &cr));
	return cr.errors;
}

static unsigned cache_errors(struct bdev *bd)
{
	struct check_cache_result cr;

	ASSERT_OK(check_cache_metadata(bd, CHECK_STRICT, NULL, NULL, &cr));
	return cr.errors + !cr.superblock_ok;
}

/* Flip one byte of block b on the device (a stale cache must not hide it:
 * the callers reopen). */
static void damage(struct bdev *bd, pd_block_t b)
{
	uint8_t d[PD_BLOCK_SIZE];

	ASSERT_OK(bdev_read(bd, b, d));
	d[100] ^= 0x40;
	ASSERT_OK(bdev_write(bd, b, d, 0));
}

TEST(thin_check_trees_passes_mid_transaction_and_finds_damage)
{
	struct thin_pool_params p = { .data_block_size = 128,
				      .nr_data_blocks = 100000 };
	struct thin_pool_params ro = { .flags = THIN_OPEN_READ_ONLY };
	struct thin_dev_info info;
	struct thin_sb_info sbi;
	struct thin_pool *pool;
	struct simdisk *sd;
	struct bdev *bd;
	struct prng rng;
	const char *what = "";

	prng_seed(&rng, test_seed(7));
	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &sd));
	bd = simdisk_bdev(sd);
	ASSERT_OK(thin_pool_format(bd, &p, &pool));
	ASSERT_OK(thin_check_trees(pool, &what));
	for (uint64_t dev = 0; dev < 3; dev++) {
		ASSERT_OK(thin_create_thin(pool, dev));
		for (int i = 0; i < 400; i++) {
			pd_block_t b;

			ASSERT_OK(thin_alloc_data_block(pool, &b));
			ASSERT_OK(thin_insert(pool, dev, prng_below(&rng, 2000), b));
		}
		ASSERT_OK(thin_check_trees(pool, &what));	/* uncommitted */
	}
	ASSERT_OK(thin_commit(pool));
	ASSERT_OK(thin_create_snap(pool, 3, 0));
	ASSERT_OK(thin_remove_range(pool, 0, 0, 1000, NULL));
	ASSERT_OK(thin_delete(pool, 1));
	ASSERT_OK(thin_check_trees(pool, &what));
	ASSERT_OK(thin_commit(pool));
	ASSERT_OK(thin_check_trees(pool, &what));
	ASSERT_EQ(thin_errors(bd), 0);

	/* TH2 broken on purpose (the restore API takes any count): both
	 * checks see it once it is committed */
	ASSERT_OK(thin_dev_info(pool, 2, &info));
	info.mapped_blocks++;
	ASSERT_OK(thin_set_dev_info(pool, &info));
	ASSERT_ERR(thin_check_trees(pool, &what), -EILSEQ);
	ASSERT_TRUE(strstr(what, "mapped_blocks") != NULL);
	ASSERT_OK(thin_commit(pool));
	ASSERT_TRUE(thin_errors(bd) > 0);
	info.mapped_blocks--;
	ASSERT_OK(thin_set_dev_info(pool, &info));
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);
	ASSERT_EQ(thin_errors(bd), 0);

	/* a damaged node of the mapping tree's top level */
	ASSERT_OK(thin_read_superblock(bd, &sbi));
	damage(bd, sbi.data_mapping_root);
	ASSERT_OK(thin_pool_open(bd, &ro, &pool));
	ASSERT_ERR(thin_check_trees(pool, &what), -EILSEQ);
	ASSERT_TRUE(strcmp(what, "mapping tree") == 0);
	thin_pool_destroy(pool);
	ASSERT_TRUE(thin_errors(bd) > 0);
	simdisk_destroy(sd);
}

TEST(cache_check_trees_passes_and_finds_damage)
{
	for (unsigned version = 1; version <= 2; version++) {
		struct cache_params p = { .data_block_size = 128,
					  .version = version };
		struct cache_params ro = { .flags = CACHE_OPEN_READ_ONLY };
		const uint32_t pv[3] = { 2, 0, 0 };
		static uint8_t hints[4 * 1100];
		struct cache_sb_info sbi;
		struct cache_md *cmd;
		struct simdisk *sd;
		struct bdev *bd;
		const char *what = "";

		ASSERT_OK(simdisk_create(4096, META_BLOCKS, &sd));
		bd = simdisk_bdev(sd);
		ASSERT_OK(cache_md_format(bd, &p, &cmd));
		ASSERT_OK(cache_check_trees(cmd, &what));
		ASSERT_OK(cache_resize(cmd, 1100));	/* 3 mapping blocks */
		ASSERT_OK(cache_discard_resize(cmd, 256, 40000));
		ASSERT_OK(cache_write_hints(cmd, "smq", pv, 4, hints));
		ASSERT_OK(cache_insert_mapping(cmd, 1050, 7));
		ASSERT_OK(cache_set_dirty(cmd, 1050, 1));
		ASSERT_OK(cache_check_trees(cmd, &what));	/* uncommitted */
		ASSERT_OK(cache_commit(cmd, 0));
		ASSERT_ERR(cache_resize(cmd, 600), -EINVAL);	/* CA6 */
		ASSERT_OK(cache_set_dirty(cmd, 1050, 0));
		ASSERT_OK(cache_resize(cmd, 600));
		ASSERT_OK(cache_check_trees(cmd, &what));
		ASSERT_OK(cache_md_close(cmd));
		ASSERT_EQ(cache_errors(bd), 0);

		ASSERT_OK(cache_read_superblock(bd, &sbi));
		damage(bd, sbi.mapping_root);
		ASSERT_OK(cache_md_open(bd, &ro, &cmd));
		ASSERT_ERR(cache_check_trees(cmd, &what), -EILSEQ);
		ASSERT_TRUE(strcmp(what, "mapping array") == 0);
		cache_md_destroy(cmd);
		ASSERT_TRUE(cache_errors(bd) > 0);
		simdisk_destroy(sd);
	}
}
