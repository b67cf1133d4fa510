/* tests/unit/test_thin.c - dm-thin pool metadata (thin.h TH1-TH5). */
#include "bm.h"
#include "check.h"
#include "prng.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "util.h"

#define META_BLOCKS 4096

struct rig {
	struct simdisk *sd;
	struct bdev *bd;
	struct thin_pool *pool;
	struct thin_pool_params p;
};

static void rig_format(struct rig *g, pd_block_t nr_data, unsigned cache)
{
	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &g->sd));
	g->bd = simdisk_bdev(g->sd);
	g->p = (struct thin_pool_params) {
		.data_block_size = 128,
		.nr_data_blocks = nr_data,
		.cache_blocks = cache,
	};
	ASSERT_OK(thin_pool_format(g->bd, &g->p, &g->pool));
}

static void rig_reopen(struct rig *g)
{
	thin_pool_destroy(g->pool);
	ASSERT_OK(thin_pool_open(g->bd, &g->p, &g->pool));
}

static void rig_down(struct rig *g)
{
	thin_pool_destroy(g->pool);
	simdisk_destroy(g->sd);
}

static void map(struct rig *g, uint64_t dev, uint64_t vb)
{
	pd_block_t b;

	ASSERT_OK(thin_alloc_data_block(g->pool, &b));
	ASSERT_OK(thin_insert(g->pool, dev, vb, b));
}

static uint64_t writes_to(struct simdisk *sd, uint64_t from, pd_block_t blk)
{
	uint64_t n = 0;

	for (uint64_t i = from; i < simdisk_nr_ops(sd); i++) {
		const struct sd_op *op = simdisk_op(sd, i);

		n += (op->kind == SD_WRITE || op->kind == SD_WRITE_FUA) &&
		     !op->failed && op->block == blk;
	}
	return n;
}

TEST(thin_format_open_and_superblock)
{
	struct rig g;
	struct thin_sb_info sb;
	uint64_t id;

	rig_format(&g, 1000, 0);
	ASSERT_OK(thin_read_superblock(g.bd, &sb));
	ASSERT_EQ(sb.version, 2);
	ASSERT_EQ(sb.data_block_size, 128);
	ASSERT_EQ(sb.metadata_block_size, 8);
	ASSERT_EQ(sb.metadata_nr_blocks, META_BLOCKS);
	ASSERT_EQ(sb.trans_id, 0);
	ASSERT_EQ(le64_get(sb.data_sm_root), 1000);	/* nr_blocks */
	ASSERT_EQ(le64_get(sb.metadata_sm_root), META_BLOCKS);
	rig_reopen(&g);
	ASSERT_OK(thin_get_transaction_id(g.pool, &id));
	ASSERT_EQ(id, 0);
	pd_block_t n;
	ASSERT_OK(thin_get_nr_data_blocks(g.pool, &n));
	ASSERT_EQ(n, 1000);
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &n));
	ASSERT_EQ(n, 1000);
	/* data block size must match what the caller expects */
	thin_pool_destroy(g.pool);
	g.p.data_block_size = 256;
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &g.pool), -EINVAL);
	g.p.data_block_size = 0;
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &g.pool));
	rig_down(&g);
}

TEST(thin_open_refuses_bad_superblocks)
{
	struct rig g;
	uint8_t buf[4096];
	struct thin_pool *pool;

	rig_format(&g, 100, 0);
	thin_pool_destroy(g.pool);
	g.pool = NULL;
	ASSERT_OK(bdev_read(g.bd, 0, buf));
	uint8_t saved[4096];
	memcpy(saved, buf, sizeof(buf));

	buf[100] ^= 0x40;				/* checksum */
	ASSERT_OK(bdev_write(g.bd, 0, buf, 0));
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &pool), -EILSEQ);

	memcpy(buf, saved, sizeof(buf));		/* magic */
	le64_put(buf + 32, 12345);
	le32_put(buf, pd_block_csum(buf + 4, 4092, THIN_SUPERBLOCK_CSUM_XOR));
	ASSERT_OK(bdev_write(g.bd, 0, buf, 0));
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &pool), -EILSEQ);

	memcpy(buf, saved, sizeof(buf));		/* unknown incompat flag */
	le32_put(buf + 360, 1u << 7);
	le32_put(buf, pd_block_csum(buf + 4, 4092, THIN_SUPERBLOCK_CSUM_XOR));
	ASSERT_OK(bdev_write(g.bd, 0, buf, 0));
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &pool), -EINVAL);

	memset(buf, 0, sizeof(buf));			/* unformatted */
	ASSERT_OK(bdev_write(g.bd, 0, buf, 0));
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &pool), -ENODATA);
	/* read-only wins over format: the open writes nothing */
	g.p.flags = THIN_OPEN_FORMAT | THIN_OPEN_READ_ONLY;
	g.p.nr_data_blocks = 10;
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &pool), -ENODATA);
	buf[0] = 1;
	ASSERT_OK(bdev_read(g.bd, 0, buf));
	for (unsigned i = 0; i < sizeof(buf); i++)
		ASSERT_UEQ(buf[i], 0);
	g.p.flags = THIN_OPEN_FORMAT;
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/* Write buf as the superblock: the open must refuse it with -EILSEQ and
 * leave a damage record that names block 0 and says `what`. */
static void open_refused_at_superblock(struct rig *g, const uint8_t *buf,
				       const char *what)
{
	struct thin_pool *pool;

	ASSERT_OK(bdev_write(g->bd, 0, buf, 0));
	pd_damage_clear(g->p.damage);
	ASSERT_ERR(thin_pool_open(g->bd, &g->p, &pool), -EILSEQ);
	ASSERT_TRUE(g->p.damage->seq > 0);
	ASSERT_UEQ(g->p.damage->block, 0);
	ASSERT_TRUE(strstr(g->p.damage->text, what) != NULL);
}

/* A refused open leaves its damage record in thin_pool_params.damage
 * (errors.h DR2): the block that failed it, here the superblock itself,
 * also where the space map refuses sizes in the root it holds. */
TEST(thin_open_refusal_names_the_superblock)
{
	struct pd_damage why;
	struct thin_pool *pool;
	struct rig g;
	uint8_t buf[4096], saved[4096];

	rig_format(&g, 100, 0);
	thin_pool_destroy(g.pool);
	g.pool = NULL;
	ASSERT_OK(bdev_read(g.bd, 0, saved));
	g.p.damage = &why;

	memcpy(buf, saved, sizeof(buf));		/* checksum */
	buf[100] ^= 0x40;
	open_refused_at_superblock(&g, buf, "(thin superblock): bad checksum");

	/* the metadata space map root (offset 192) with more blocks than
	 * its 255 bitmaps hold, the checksum made good */
	memcpy(buf, saved, sizeof(buf));
	le64_put(buf + 192, 255ull * 16320 + 1);
	le32_put(buf, pd_block_csum(buf + 4, 4092, THIN_SUPERBLOCK_CSUM_XOR));
	open_refused_at_superblock(&g, buf, "metadata space map root");

	/* the pool as formatted opens and leaves the record empty */
	ASSERT_OK(bdev_write(g.bd, 0, saved, 0));
	pd_damage_clear(&why);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_UEQ(why.seq, 0);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/* thin_read_superblock_why refuses a superblock at the wrong place
 * (-ENOTBLK) or with a bad checksum (-EILSEQ) the same with or without a
 * damage record, and notes the block in the record when there is one. */
TEST(thin_read_superblock_why_is_optional)
{
	struct thin_sb_info sb;
	struct pd_damage why;
	struct rig g;
	uint8_t buf[4096];

	rig_format(&g, 100, 0);
	thin_pool_destroy(g.pool);
	g.pool = NULL;
	ASSERT_OK(bdev_read(g.bd, 0, buf));
	ASSERT_OK(bdev_write(g.bd, 7, buf, 0));		/* says block 0 */
	ASSERT_ERR(thin_read_superblock_at(g.bd, 7, &sb), -ENOTBLK);
	pd_damage_clear(&why);
	ASSERT_ERR(thin_read_superblock_why(g.bd, 7, &sb, &why), -ENOTBLK);
	ASSERT_UEQ(why.block, 7);
	ASSERT_TRUE(strstr(why.text, "says it is block 0") != NULL);

	buf[100] ^= 0x40;				/* checksum */
	ASSERT_OK(bdev_write(g.bd, 0, buf, 0));
	ASSERT_ERR(thin_read_superblock(g.bd, &sb), -EILSEQ);
	pd_damage_clear(&why);
	ASSERT_ERR(thin_read_superblock_why(g.bd, 0, &sb, &why), -EILSEQ);
	ASSERT_TRUE(strstr(why.text, "bad checksum") != NULL);
	simdisk_destroy(g.sd);
}

TEST(thin_mappings_survive_commit_and_reopen)
{
	struct rig g;
	struct thin_lookup_result lr;
	struct thin_dev_info info;

	rig_format(&g, 5000, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	ASSERT_ERR(thin_create_thin(g.pool, 0), -EEXIST);
	ASSERT_ERR(thin_create_thin(g.pool, THIN_MAX_DEV_ID + 1), -EINVAL);
	for (uint64_t v = 0; v < 3000; v++)
		map(&g, 0, v * 3);
	ASSERT_OK(thin_set_transaction_id(g.pool, 0, 7));
	ASSERT_ERR(thin_set_transaction_id(g.pool, 0, 8), -EINVAL);
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	ASSERT_OK(thin_dev_info(g.pool, 0, &info));
	ASSERT_EQ(info.mapped_blocks, 3000);
	for (uint64_t v = 0; v < 3000; v++) {
		ASSERT_OK(thin_lookup(g.pool, 0, v * 3, &lr));
		ASSERT_EQ(lr.data_block, v);
		ASSERT_EQ(lr.shared, 0);
		ASSERT_ERR(thin_lookup(g.pool, 0, v * 3 + 1, &lr), -ENODATA);
	}
	uint64_t id;
	ASSERT_OK(thin_get_transaction_id(g.pool, &id));
	ASSERT_EQ(id, 7);
	pd_block_t nfree;
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &nfree));
	ASSERT_EQ(nfree, 2000);
	rig_down(&g);
}

TEST(thin_uncommitted_changes_vanish_on_reopen_and_abort)
{
	struct rig g;
	struct thin_lookup_result lr;

	rig_format(&g, 100, 0);
	ASSERT_OK(thin_create_thin(g.pool, 1));
	map(&g, 1, 10);
	ASSERT_OK(thin_commit(g.pool));
	map(&g, 1, 11);
	ASSERT_OK(thin_create_thin(g.pool, 2));
	rig_reopen(&g);					/* a crash */
	ASSERT_ERR(thin_lookup(g.pool, 1, 11, &lr), -ENODATA);
	ASSERT_ERR(thin_lookup(g.pool, 2, 0, &lr), -ENODATA);
	map(&g, 1, 12);
	ASSERT_OK(thin_abort(g.pool));
	ASSERT_ERR(thin_lookup(g.pool, 1, 12, &lr), -ENODATA);
	ASSERT_OK(thin_lookup(g.pool, 1, 10, &lr));
	rig_down(&g);
}

TEST(thin_snapshot_shares_and_breaks_sharing)
{
	struct rig g;
	struct thin_lookup_result lr;
	struct thin_dev_info a, b;
	uint32_t t;

	rig_format(&g, 1000, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (uint64_t v = 0; v < 600; v++)
		map(&g, 0, v);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_create_snap(g.pool, 1, 0));
	ASSERT_ERR(thin_create_snap(g.pool, 2, 99), -ENODATA);
	ASSERT_OK(thin_get_time(g.pool, &t));
	ASSERT_EQ(t, 1);
	ASSERT_OK(thin_dev_info(g.pool, 0, &a));
	ASSERT_OK(thin_dev_info(g.pool, 1, &b));
	ASSERT_EQ(a.snapshotted_time, 1);
	ASSERT_EQ(b.snapshotted_time, 1);
	ASSERT_EQ(b.creation_time, 1);
	ASSERT_EQ(b.mapped_blocks, 600);
	/* TH3: both see the blocks as shared */
	ASSERT_OK(thin_lookup(g.pool, 0, 5, &lr));
	ASSERT_TRUE(lr.shared);
	ASSERT_OK(thin_lookup(g.pool, 1, 5, &lr));
	ASSERT_TRUE(lr.shared);
	/* a write to the origin breaks sharing for that block only */
	map(&g, 0, 5);
	ASSERT_OK(thin_lookup(g.pool, 0, 5, &lr));
	ASSERT_EQ(lr.shared, 0);
	ASSERT_EQ(lr.data_block, 600);
	ASSERT_OK(thin_lookup(g.pool, 1, 5, &lr));
	ASSERT_EQ(lr.data_block, 5);
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	ASSERT_OK(thin_lookup(g.pool, 1, 5, &lr));
	ASSERT_EQ(lr.data_block, 5);
	ASSERT_OK(thin_lookup(g.pool, 0, 5, &lr));
	ASSERT_EQ(lr.data_block, 600);
	/* deleting the origin keeps the snapshot's blocks */
	ASSERT_OK(thin_delete(g.pool, 0));
	ASSERT_ERR(thin_delete(g.pool, 0), -ENODATA);
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	for (uint64_t v = 0; v < 600; v++) {
		ASSERT_OK(thin_lookup(g.pool, 1, v, &lr));
		ASSERT_EQ(lr.data_block, v);
	}
	pd_block_t nfree;
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &nfree));
	ASSERT_EQ(nfree, 1000 - 600);		/* block 600 went with dev 0 */
	ASSERT_OK(thin_delete(g.pool, 1));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &nfree));
	ASSERT_EQ(nfree, 1000);
	rig_down(&g);
}

/* TH7: the audit agrees with a pool at every step of a life with shared
 * subtrees, a held metadata snapshot, a data resize and an abort, and
 * names the block when a count is wrong: a data block allocated and not
 * mapped (a leak), and one mapped without being allocated. */
TEST(thin_check_counts_follows_the_transaction)
{
	struct rig g;
	char msg[200];
	pd_block_t b;

	rig_format(&g, 2000, 0);
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (uint64_t v = 0; v < 700; v++)
		map(&g, 0, v);
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_create_snap(g.pool, 1, 0));
	ASSERT_OK(thin_create_snap(g.pool, 2, 1));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	map(&g, 1, 3);
	ASSERT_OK(thin_remove_range(g.pool, 0, 100, 400, NULL));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_reserve_metadata_snap(g.pool));
	map(&g, 2, 900);
	ASSERT_OK(thin_delete(g.pool, 0));
	ASSERT_OK(thin_resize_data(g.pool, 3000));
	map(&g, 1, 2500);
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_release_metadata_snap(g.pool));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_commit(g.pool));

	/* a data block counted but named by no mapping */
	ASSERT_OK(thin_alloc_data_block(g.pool, &b));
	ASSERT_ERR(thin_check_counts(g.pool, msg, sizeof(msg)), -EILSEQ);
	ASSERT_TRUE(strstr(msg, "data blocks are counted in use") != NULL);
	ASSERT_OK(thin_abort(g.pool));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_EQ(msg[0], 0);
	/* a mapping to a block nothing counted */
	ASSERT_OK(thin_insert(g.pool, 1, 5000, 2999));
	ASSERT_ERR(thin_check_counts(g.pool, msg, sizeof(msg)), -EILSEQ);
	ASSERT_TRUE(strstr(msg, "data block 2999: count 0, named by 1 leaves") !=
		    NULL);
	rig_down(&g);
}

/* TH7: a metadata snapshot view has no data space map: -EOPNOTSUPP. */
TEST(thin_check_counts_on_a_view)
{
	struct rig g;
	struct thin_pool *view;
	char msg[200];

	rig_format(&g, 20, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	map(&g, 0, 7);
	ASSERT_OK(thin_reserve_metadata_snap(g.pool));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_pool_open_metadata_snap(g.bd, 0, &g.p, &view));
	ASSERT_ERR(thin_check_counts(view, msg, sizeof(msg)), -EOPNOTSUPP);
	thin_pool_destroy(view);
	rig_down(&g);
}

/* TH7 after every call of a random life: maps, removes, range removes,
 * snapshots, creates, deletes, commits, aborts, metadata snapshots held
 * and released, resizes, raw inserts, with a 16-block cache. */
TEST(thin_check_counts_after_every_call_of_a_random_life)
{
	struct rig g;
	struct prng q;
	char msg[200];

	prng_seed(&q, test_seed(3));
	rig_format(&g, 100000, 16);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (int i = 0; i < 1500; i++) {
		unsigned k = (unsigned)prng_below(&q, 100);
		uint64_t d = prng_below(&q, 8), d2 = prng_below(&q, 8);
		uint64_t v = prng_below(&q, 600);
		pd_block_t b, n;
		int r = 0;

		if (k < 50) {
			r = thin_alloc_data_block(g.pool, &b);
			if (!r)
				r = thin_insert(g.pool, d, v, b);
			if (r == -ENODATA) {	/* no device d: the block stays */
				ASSERT_OK(thin_abort(g.pool));
				r = 0;
			}
		} else if (k < 62) {
			r = thin_remove(g.pool, d, v);
		} else if (k < 65) {
			r = thin_remove_range(g.pool, d, v,
					      v + prng_below(&q, 200), NULL);
		} else if (k < 70) {
			r = thin_create_snap(g.pool, d2, d);
		} else if (k < 75) {
			r = thin_create_thin(g.pool, d2);
		} else if (k < 76) {
			r = thin_delete(g.pool, d);
		} else if (k < 82) {
			r = thin_commit(g.pool);
		} else if (k < 84) {
			r = thin_abort(g.pool);
		} else if (k < 87) {
			r = thin_reserve_metadata_snap(g.pool);
		} else if (k < 90) {
			r = thin_release_metadata_snap(g.pool);
		} else if (k < 92) {
			ASSERT_OK(thin_get_nr_data_blocks(g.pool, &n));
			r = thin_resize_data(g.pool, n + prng_below(&q, 40000));
		} else if (k < 93) {
			ASSERT_OK(thin_get_nr_metadata_blocks(g.pool, &n));
			if (n < META_BLOCKS)
				r = thin_resize_metadata(g.pool, n + 1 +
					prng_below(&q, META_BLOCKS - n));
		} else {
			r = thin_insert_raw(g.pool, d, v + 1000,
					    prng_below(&q, 1000), 7);
		}
		if (r != -ENODATA && r != -EEXIST && r != -EBUSY &&
		    r != -EINVAL)
			ASSERT_OK(r);
		r = thin_check_counts(g.pool, msg, sizeof(msg));
		if (r)
			test_fail(__FILE__, __LINE__, "call %d (kind %u): %d %s",
				  i, k, r, msg);
	}
	rig_down(&g);
}

TEST(thin_remove_and_remove_range)
{
	struct rig g;
	struct thin_lookup_result lr;
	struct thin_dev_info info;
	uint64_t n;

	rig_format(&g, 3000, 0);
	ASSERT_OK(thin_create_thin(g.pool, 3));
	for (uint64_t v = 0; v < 2000; v++)
		map(&g, 3, v);
	ASSERT_OK(thin_remove(g.pool, 3, 7));
	ASSERT_ERR(thin_remove(g.pool, 3, 7), -ENODATA);
	ASSERT_OK(thin_remove_range(g.pool, 3, 100, 1900, &n));
	ASSERT_EQ(n, 1800);
	ASSERT_OK(thin_dev_info(g.pool, 3, &info));
	ASSERT_EQ(info.mapped_blocks, 2000 - 1 - 1800);
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	ASSERT_ERR(thin_lookup(g.pool, 3, 1000, &lr), -ENODATA);
	ASSERT_OK(thin_lookup(g.pool, 3, 1900, &lr));
	ASSERT_OK(thin_lookup(g.pool, 3, 99, &lr));
	rig_down(&g);
}

TEST(thin_empty_commit_writes_nothing)
{
	struct rig g;

	rig_format(&g, 100, 0);
	ASSERT_OK(thin_create_thin(g.pool, 1));
	ASSERT_OK(thin_commit(g.pool));
	uint64_t n = simdisk_nr_ops(g.sd);
	ASSERT_OK(thin_commit(g.pool));				/* TH1 */
	ASSERT_EQ(simdisk_nr_ops(g.sd), n);
	rig_down(&g);
}

TEST(thin_commit_order_superblock_last)
{
	struct rig g;

	rig_format(&g, 1000, 0);
	ASSERT_OK(thin_create_thin(g.pool, 1));
	for (uint64_t v = 0; v < 500; v++)
		map(&g, 1, v);
	uint64_t start = simdisk_nr_ops(g.sd);
	ASSERT_OK(thin_commit(g.pool));
	/* TH1: ... writes, flush, superblock write, flush, and no write of
	 * block 0 before the first flush */
	uint64_t last = simdisk_nr_ops(g.sd), first_flush = 0;
	for (uint64_t i = start; i < last; i++)
		if (simdisk_op(g.sd, i)->kind == SD_FLUSH) {
			first_flush = i;
			break;
		}
	ASSERT_TRUE(first_flush > start);
	ASSERT_EQ(writes_to(g.sd, start, 0), 1);
	for (uint64_t i = start; i < first_flush; i++)
		ASSERT_TRUE(simdisk_op(g.sd, i)->block != 0 ||
			    simdisk_op(g.sd, i)->kind != SD_WRITE);
	ASSERT_EQ(simdisk_op(g.sd, last - 1)->kind, SD_FLUSH);
	ASSERT_EQ(simdisk_op(g.sd, last - 2)->block, 0);
	rig_down(&g);
}

TEST(thin_failed_flush_poisons_until_abort)
{
	struct rig g;
	struct thin_lookup_result lr;

	rig_format(&g, 100, 0);
	ASSERT_OK(thin_create_thin(g.pool, 1));
	map(&g, 1, 1);
	ASSERT_OK(thin_commit(g.pool));
	map(&g, 1, 2);
	uint64_t start = simdisk_nr_ops(g.sd);
	ASSERT_OK(simdisk_fail_nth(g.sd, SD_FLUSH,
				   simdisk_count(g.sd, SD_FLUSH) + 1, 0));
	ASSERT_ERR(thin_commit(g.pool), -EIO);
	ASSERT_TRUE(thin_is_failed(g.pool));
	/* TH4 */
	ASSERT_ERR(thin_create_thin(g.pool, 2), -EIO);
	ASSERT_ERR(thin_lookup(g.pool, 1, 1, &lr), -EIO);
	ASSERT_ERR(thin_commit(g.pool), -EIO);
	ASSERT_EQ(writes_to(g.sd, start, 0), 0);	/* no superblock */
	ASSERT_OK(thin_abort(g.pool));
	ASSERT_EQ(thin_is_failed(g.pool), 0);
	ASSERT_OK(thin_lookup(g.pool, 1, 1, &lr));
	ASSERT_ERR(thin_lookup(g.pool, 1, 2, &lr), -ENODATA);
	ASSERT_OK(thin_set_needs_check(g.pool));
	int nc;
	ASSERT_OK(thin_get_needs_check(g.pool, &nc));
	ASSERT_TRUE(nc);
	rig_reopen(&g);
	ASSERT_OK(thin_get_needs_check(g.pool, &nc));
	ASSERT_TRUE(nc);
	ASSERT_OK(thin_lookup(g.pool, 1, 1, &lr));
	rig_down(&g);
}

TEST(thin_metadata_snapshot_reserve_release)
{
	struct rig g;
	pd_block_t held, free0, free1;

	rig_format(&g, 1000, 0);
	ASSERT_OK(thin_create_thin(g.pool, 1));
	for (uint64_t v = 0; v < 300; v++)
		map(&g, 1, v);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_get_free_metadata_blocks(g.pool, &free0));
	ASSERT_OK(thin_reserve_metadata_snap(g.pool));
	ASSERT_ERR(thin_reserve_metadata_snap(g.pool), -EBUSY);
	ASSERT_OK(thin_get_metadata_snap(g.pool, &held));
	ASSERT_TRUE(held != 0);
	ASSERT_OK(thin_commit(g.pool));
	for (uint64_t v = 0; v < 300; v++)
		map(&g, 1, v);				/* overwrite all */
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	struct thin_sb_info sb;
	ASSERT_OK(thin_read_superblock(g.bd, &sb));
	ASSERT_EQ(sb.held_root, held);
	ASSERT_OK(thin_release_metadata_snap(g.pool));
	ASSERT_ERR(thin_release_metadata_snap(g.pool), -EINVAL);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_get_free_metadata_blocks(g.pool, &free1));
	ASSERT_OK(thin_read_superblock(g.bd, &sb));
	ASSERT_EQ(sb.held_root, 0);
	pd_block_t dfree;
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &dfree));
	ASSERT_EQ(dfree, 1000 - 300);		/* old blocks released */
	(void)free0;
	(void)free1;
	rig_down(&g);
}

TEST(thin_resize_data_and_metadata)
{
	struct rig g;
	pd_block_t n;

	rig_format(&g, 10, 0);
	ASSERT_OK(thin_create_thin(g.pool, 1));
	for (uint64_t v = 0; v < 10; v++)
		map(&g, 1, v);
	pd_block_t b;
	ASSERT_ERR(thin_alloc_data_block(g.pool, &b), -ENOSPC);
	ASSERT_EQ(thin_is_failed(g.pool), 0);
	ASSERT_OK(thin_resize_data(g.pool, 20000));
	ASSERT_ERR(thin_resize_data(g.pool, 100), -EINVAL);
	map(&g, 1, 11);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(bdev_resize(g.bd, 20000));
	ASSERT_OK(thin_resize_metadata(g.pool, 20000));	/* over a bitmap boundary */
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	ASSERT_OK(thin_get_nr_data_blocks(g.pool, &n));
	ASSERT_EQ(n, 20000);
	ASSERT_OK(thin_get_nr_metadata_blocks(g.pool, &n));
	ASSERT_EQ(n, 20000);
	struct thin_lookup_result lr;
	ASSERT_OK(thin_lookup(g.pool, 1, 11, &lr));
	ASSERT_EQ(lr.data_block, 10);
	rig_down(&g);
}

TEST(thin_small_cache_random_workload_matches_model)
{
	enum { NDEV = 4, NV = 400 };
	static int64_t model[NDEV][NV];		/* data block, -1 unmapped */
	static int64_t committed[NDEV][NV];
	struct rig g;
	struct prng p;

	prng_seed(&p, test_seed(5));
	rig_format(&g, 20000, 16);		/* evictions mid-transaction */
	for (int d = 0; d < NDEV; d++) {
		ASSERT_OK(thin_create_thin(g.pool, d));
		for (int v = 0; v < NV; v++)
			model[d][v] = -1;
	}
	ASSERT_OK(thin_commit(g.pool));
	memcpy(committed, model, sizeof(model));
	for (int round = 0; round < 30; round++) {
		for (int k = 0; k < 200; k++) {
			int d = (int)prng_below(&p, NDEV), v = (int)prng_below(&p, NV);
			pd_block_t b;

			if (prng_below(&p, 4) == 0) {
				int r = thin_remove(g.pool, d, v);
				ASSERT_EQ(r, model[d][v] < 0 ? -ENODATA : 0);
				model[d][v] = -1;
			} else {
				ASSERT_OK(thin_alloc_data_block(g.pool, &b));
				ASSERT_OK(thin_insert(g.pool, d, v, b));
				model[d][v] = (int64_t)b;
			}
		}
		if (prng_below(&p, 3) == 0) {
			rig_reopen(&g);			/* crash: roll back */
			memcpy(model, committed, sizeof(model));
		} else {
			ASSERT_OK(thin_commit(g.pool));
			memcpy(committed, model, sizeof(model));
		}
		for (int d = 0; d < NDEV; d++)
			for (int v = 0; v < NV; v++) {
				struct thin_lookup_result lr;
				int r = thin_lookup(g.pool, d, v, &lr);

				if (model[d][v] < 0) {
					ASSERT_ERR(r, -ENODATA);
				} else {
					ASSERT_OK(r);
					ASSERT_EQ(lr.data_block, model[d][v]);
				}
			}
	}
	rig_down(&g);
}

/* --- the reads dm-thin makes: highest mapped block, mapped count, mapped
 * ranges, the pool status counts ------------------------------------------ */

TEST(thin_highest_mapped_block)
{
	struct rig g;
	uint64_t v, n;

	rig_format(&g, 5000, 0);
	ASSERT_ERR(thin_get_highest_mapped(g.pool, 0, &v), -ENODATA);
	ASSERT_ERR(thin_get_mapped_count(g.pool, 0, &n), -ENODATA);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	ASSERT_ERR(thin_get_highest_mapped(g.pool, 0, &v), -ENODATA);	/* empty */
	ASSERT_OK(thin_get_mapped_count(g.pool, 0, &n));
	ASSERT_EQ(n, 0);
	for (uint64_t k = 0; k < 1500; k++)		/* several leaves */
		map(&g, 0, (k * 7919) % 3001 + (k == 777) * 3001);
	ASSERT_OK(thin_get_highest_mapped(g.pool, 0, &v));
	ASSERT_EQ(v, 777 * 7919 % 3001 + 3001);
	ASSERT_OK(thin_get_mapped_count(g.pool, 0, &n));
	ASSERT_EQ(n, 1500);
	ASSERT_OK(thin_remove(g.pool, 0, 777 * 7919 % 3001 + 3001));
	ASSERT_OK(thin_get_highest_mapped(g.pool, 0, &v));
	ASSERT_TRUE(v < 3001);
	ASSERT_OK(thin_get_mapped_count(g.pool, 0, &n));
	ASSERT_EQ(n, 1499);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_create_snap(g.pool, 1, 0));
	uint64_t v1;
	ASSERT_OK(thin_get_highest_mapped(g.pool, 1, &v1));
	ASSERT_EQ(v1, v);
	ASSERT_OK(thin_get_mapped_count(g.pool, 1, &n));
	ASSERT_EQ(n, 1499);
	rig_reopen(&g);					/* the snapshot is gone */
	ASSERT_ERR(thin_get_highest_mapped(g.pool, 1, &v1), -ENODATA);
	ASSERT_OK(thin_get_highest_mapped(g.pool, 0, &v1));
	ASSERT_EQ(v1, v);
	ASSERT_OK(thin_remove_range(g.pool, 0, 0, 4000, &n));
	ASSERT_EQ(n, 1499);
	ASSERT_ERR(thin_get_highest_mapped(g.pool, 0, &v), -ENODATA);
	ASSERT_OK(thin_abort(g.pool));
	ASSERT_OK(thin_get_highest_mapped(g.pool, 0, &v));
	ASSERT_EQ(v, v1);
	rig_down(&g);
}

/* Expected thin_find_mapped_range by brute force over a model: block[v]
 * (-1 unmapped) and shared[v]. */
static int model_range(const int64_t *block, const int *shared, uint64_t nv,
		       uint64_t begin, uint64_t end, struct thin_mapped_range *m)
{
	uint64_t v = begin;

	while (v < end && v < nv && block[v] < 0)
		v++;
	if (v >= end || v >= nv)
		return -ENODATA;
	m->thin_begin = v;
	m->pool_begin = (pd_block_t)block[v];
	m->maybe_shared = shared[v];
	for (v++; v < end && v < nv && block[v] >= 0 &&
	     block[v] == block[v - 1] + 1 && shared[v] == m->maybe_shared; v++)
		;
	m->thin_end = v;
	return 0;
}

static void assert_range(struct rig *g, uint64_t dev, uint64_t begin,
			 uint64_t end, int want_r, uint64_t tb, uint64_t te,
			 pd_block_t pb, int shared)
{
	struct thin_mapped_range m;
	int r = thin_find_mapped_range(g->pool, dev, begin, end, &m);

	ASSERT_EQ(r, want_r);
	if (r)
		return;
	ASSERT_EQ(m.thin_begin, tb);
	ASSERT_EQ(m.thin_end, te);
	ASSERT_EQ(m.pool_begin, pb);
	ASSERT_EQ(m.maybe_shared, shared);
}

TEST(thin_find_mapped_range_runs)
{
	struct rig g;

	rig_format(&g, 1000, 0);
	assert_range(&g, 0, 0, 100, -ENODATA, 0, 0, 0, 0);	/* no device */
	ASSERT_OK(thin_create_thin(g.pool, 0));
	assert_range(&g, 0, 0, 100, -ENODATA, 0, 0, 0, 0);	/* nothing mapped */
	for (uint64_t v = 10; v < 20; v++)
		map(&g, 0, v);				/* blocks 0..9 */
	for (uint64_t v = 21; v < 26; v++)
		map(&g, 0, v);				/* blocks 10..14 */
	assert_range(&g, 0, 0, 100, 0, 10, 20, 0, 0);
	assert_range(&g, 0, 13, 100, 0, 13, 20, 3, 0);
	assert_range(&g, 0, 0, 15, 0, 10, 15, 0, 0);		/* cut by end */
	assert_range(&g, 0, 20, 100, 0, 21, 26, 10, 0);
	assert_range(&g, 0, 26, 100, -ENODATA, 0, 0, 0, 0);
	assert_range(&g, 0, 0, 10, -ENODATA, 0, 0, 0, 0);	/* all below */
	assert_range(&g, 0, 12, 12, -ENODATA, 0, 0, 0, 0);	/* empty */
	assert_range(&g, 0, 15, 3, -ENODATA, 0, 0, 0, 0);	/* end < begin */
	map(&g, 0, 20);					/* block 15 */
	assert_range(&g, 0, 0, 100, 0, 10, 20, 0, 0);		/* 15 != 10 */
	assert_range(&g, 0, 20, 100, 0, 20, 21, 15, 0);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_create_snap(g.pool, 1, 0));
	map(&g, 0, 12);					/* block 16, unshared */
	assert_range(&g, 0, 0, 100, 0, 10, 12, 0, 1);
	assert_range(&g, 0, 12, 100, 0, 12, 13, 16, 0);
	assert_range(&g, 0, 13, 100, 0, 13, 20, 3, 1);
	assert_range(&g, 1, 0, 100, 0, 10, 20, 0, 1);
	assert_range(&g, 2, 0, 100, -ENODATA, 0, 0, 0, 0);
	rig_down(&g);
}

TEST(thin_find_mapped_range_matches_brute_force)
{
	enum { NV = 3000 };
	static int64_t block[NV];
	static int shared[NV];
	struct rig g;
	struct prng p;

	prng_seed(&p, test_seed(11));
	rig_format(&g, 20000, 16);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (int v = 0; v < NV; v++) {
		block[v] = -1;
		shared[v] = 0;
	}
	/* runs of contiguous blocks with holes, over many leaves */
	for (int k = 0; k < 2500; k++) {
		uint64_t v = prng_below(&p, NV);
		pd_block_t b;

		if (prng_below(&p, 5) == 0) {
			int r = thin_remove(g.pool, 0, v);

			ASSERT_EQ(r, block[v] < 0 ? -ENODATA : 0);
			block[v] = -1;
			continue;
		}
		for (uint64_t e = v + prng_below(&p, 12); v <= e && v < NV; v++) {
			ASSERT_OK(thin_alloc_data_block(g.pool, &b));
			ASSERT_OK(thin_insert(g.pool, 0, v, b));
			block[v] = (int64_t)b;
			shared[v] = 0;
		}
		if (k == 1200) {		/* a snapshot: everything shared */
			ASSERT_OK(thin_create_snap(g.pool, 1, 0));
			for (int i = 0; i < NV; i++)
				shared[i] = block[i] >= 0;
		}
	}
	for (int k = 0; k < 3000; k++) {
		uint64_t begin = prng_below(&p, NV + 10), end = begin + prng_below(&p, 200);
		struct thin_mapped_range m, want;
		int r = thin_find_mapped_range(g.pool, 0, begin, end, &m);
		int e = model_range(block, shared, NV, begin, end, &want);

		ASSERT_EQ(r, e);
		if (r)
			continue;
		ASSERT_EQ(m.thin_begin, want.thin_begin);
		ASSERT_EQ(m.thin_end, want.thin_end);
		ASSERT_EQ(m.pool_begin, want.pool_begin);
		ASSERT_EQ(m.maybe_shared, want.maybe_shared);
	}
	/* walking the runs from 0 visits every mapping once */
	uint64_t v = 0, seen = 0, n;
	struct thin_mapped_range m;

	while (!thin_find_mapped_range(g.pool, 0, v, UINT64_MAX, &m)) {
		seen += m.thin_end - m.thin_begin;
		v = m.thin_end;
	}
	ASSERT_OK(thin_get_mapped_count(g.pool, 0, &n));
	ASSERT_EQ(seen, n);
	rig_down(&g);
}

static void assert_free_data(struct rig *g, pd_block_t want)
{
	pd_block_t nfree;

	ASSERT_OK(thin_get_free_data_blocks(g->pool, &nfree));
	ASSERT_EQ(nfree, want);
}

TEST(thin_free_data_count_follows_the_transaction)
{
	struct rig g;
	pd_block_t nr;

	rig_format(&g, 100, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (uint64_t v = 0; v < 10; v++)
		map(&g, 0, v);
	assert_free_data(&g, 90);		/* allocations count at once */
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_remove(g.pool, 0, 3));
	assert_free_data(&g, 91);		/* DS2: free, not yet reusable */
	ASSERT_OK(thin_resize_data(g.pool, 200));
	ASSERT_OK(thin_get_nr_data_blocks(g.pool, &nr));
	ASSERT_EQ(nr, 200);			/* the size at once ... */
	assert_free_data(&g, 91);		/* ... its new blocks at commit (DS1) */
	ASSERT_OK(thin_commit(g.pool));
	assert_free_data(&g, 191);
	rig_down(&g);

	/* a grow, then more allocations than the old size had free */
	rig_format(&g, 10, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (uint64_t v = 0; v < 8; v++)
		map(&g, 0, v);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_resize_data(g.pool, 20));
	for (uint64_t v = 8; v < 13; v++)
		map(&g, 0, v);
	assert_free_data(&g, 0);		/* 10 - 13 clamped (the kernel wraps) */
	{	/* TH7 counts what is in use now, not from the free count */
		char msg[200];

		ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	}
	ASSERT_OK(thin_commit(g.pool));
	assert_free_data(&g, 7);
	rig_down(&g);
}

TEST(thin_free_metadata_count_is_the_checkers_recount_after_commit)
{
	struct rig g;
	struct check_result cr;
	pd_block_t nfree, nr, reserve;

	rig_format(&g, 5000, 0);
	for (int round = 0; round < 4; round++) {
		ASSERT_OK(thin_create_thin(g.pool, (uint64_t)round));
		for (uint64_t v = 0; v < 700; v++)
			map(&g, (uint64_t)round, v * 2);
		if (round == 2)
			ASSERT_OK(thin_delete(g.pool, 0));
		if (round == 3)
			ASSERT_OK(thin_reserve_metadata_snap(g.pool));
		ASSERT_OK(thin_commit(g.pool));
		ASSERT_OK(check_thin_metadata(g.bd, CHECK_STRICT, NULL, NULL, &cr));
		ASSERT_EQ(cr.errors + cr.leaks, 0);
		ASSERT_OK(thin_get_nr_metadata_blocks(g.pool, &nr));
		ASSERT_OK(thin_get_metadata_reserve(g.pool, &reserve));
		ASSERT_OK(thin_get_free_metadata_blocks(g.pool, &nfree));
		ASSERT_EQ(nr, META_BLOCKS);
		ASSERT_EQ(reserve, META_BLOCKS / 10);
		ASSERT_EQ(nfree, nr - cr.metadata_blocks_used - reserve);
	}
	rig_down(&g);
}

/* TH8, dm-thin's discard passdown of one range: remove it, take a
 * reference on each run of data blocks it named, ask each block, drop the
 * references.  What still names a block after the remove decides. */
static void passdown_inc(struct rig *g, pd_block_t b, pd_block_t e)
{
	ASSERT_OK(thin_inc_data_range(g->pool, b, e));
}

static int is_shared(struct rig *g, pd_block_t b)
{
	int shared = -1;

	ASSERT_OK(thin_data_block_is_shared(g->pool, b, &shared));
	ASSERT_TRUE(shared == 0 || shared == 1);
	return shared;
}

TEST(thin_passdown_shared_after_a_snapshot)
{
	struct rig g;
	char msg[200];
	pd_block_t nfree0, nfree1;

	rig_format(&g, 100, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (uint64_t v = 0; v < 10; v++)
		map(&g, 0, v);				/* blocks 0..9 */
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_create_snap(g.pool, 1, 0));
	/* one leaf of the two devices' trees names 0..9: counted once */
	ASSERT_EQ(is_shared(&g, 0), 0);
	map(&g, 0, 3);			/* block 10: origin's own copy of 3 */
	map(&g, 0, 20);			/* block 11: after the snapshot */
	/* the origin's leaf was copied to change it: two leaves now */
	ASSERT_EQ(is_shared(&g, 0), 1);
	ASSERT_EQ(is_shared(&g, 3), 0);
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &nfree0));

	ASSERT_OK(thin_remove_range(g.pool, 0, 0, 21, NULL));
	passdown_inc(&g, 0, 12);
	/* the caller's reference breaks TH7 until it is dropped */
	ASSERT_ERR(thin_check_counts(g.pool, msg, sizeof(msg)), -EILSEQ);
	for (pd_block_t b = 0; b < 10; b++)
		ASSERT_EQ(is_shared(&g, b), 1);	/* dev 1 names 0..9 */
	ASSERT_EQ(is_shared(&g, 10), 0);
	ASSERT_EQ(is_shared(&g, 11), 0);
	ASSERT_EQ(is_shared(&g, 12), 0);	/* never mapped: count 0 */
	ASSERT_OK(thin_dec_data_range(g.pool, 10, 12));
	ASSERT_OK(thin_dec_data_range(g.pool, 0, 10));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &nfree1));
	ASSERT_EQ(nfree1, nfree0 + 2);		/* only 10 and 11 freed */
	ASSERT_OK(thin_commit(g.pool));
	rig_reopen(&g);
	/* dev 1 alone names 0..9 now, and nothing names 10 */
	ASSERT_EQ(is_shared(&g, 5), 0);
	passdown_inc(&g, 5, 6);
	passdown_inc(&g, 10, 11);
	ASSERT_EQ(is_shared(&g, 5), 1);
	ASSERT_EQ(is_shared(&g, 10), 0);
	ASSERT_OK(thin_dec_data_range(g.pool, 5, 6));
	ASSERT_OK(thin_dec_data_range(g.pool, 10, 11));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	rig_down(&g);
}

/* A held metadata snapshot's leaves name the blocks the live tree drops:
 * shared while it is held, not after its release. */
TEST(thin_passdown_shared_with_a_held_metadata_snapshot)
{
	struct rig g;
	char msg[200];

	rig_format(&g, 50, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	for (uint64_t v = 0; v < 5; v++)
		map(&g, 0, v);
	ASSERT_OK(thin_reserve_metadata_snap(g.pool));
	ASSERT_OK(thin_remove_range(g.pool, 0, 0, 5, NULL));
	passdown_inc(&g, 0, 5);
	for (pd_block_t b = 0; b < 5; b++)
		ASSERT_EQ(is_shared(&g, b), 1);
	ASSERT_OK(thin_dec_data_range(g.pool, 0, 5));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_release_metadata_snap(g.pool));
	passdown_inc(&g, 0, 5);
	for (pd_block_t b = 0; b < 5; b++)
		ASSERT_EQ(is_shared(&g, b), 0);
	ASSERT_OK(thin_dec_data_range(g.pool, 0, 5));
	ASSERT_OK(thin_check_counts(g.pool, msg, sizeof(msg)));
	rig_down(&g);
}

/* A range or block outside the data device is refused before anything
 * changes (the commit after it writes nothing) and fails nothing; an
 * empty range changes nothing; a read-only view refuses inc and dec and
 * has no counts to ask. */
TEST(thin_data_range_calls_refuse_misuse)
{
	struct rig g;
	struct thin_pool *view;
	int shared = 7;
	uint64_t log;

	rig_format(&g, 40, 0);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	map(&g, 0, 0);
	ASSERT_OK(thin_reserve_metadata_snap(g.pool));
	ASSERT_OK(thin_commit(g.pool));
	log = simdisk_nr_ops(g.sd);
	ASSERT_ERR(thin_inc_data_range(g.pool, 39, 41), -EINVAL);
	ASSERT_ERR(thin_inc_data_range(g.pool, 5, 4), -EINVAL);
	ASSERT_ERR(thin_dec_data_range(g.pool, 0, 41), -EINVAL);
	ASSERT_ERR(thin_dec_data_range(g.pool, 2, 1), -EINVAL);
	ASSERT_ERR(thin_data_block_is_shared(g.pool, 40, &shared), -EINVAL);
	ASSERT_EQ(shared, 7);
	ASSERT_OK(thin_inc_data_range(g.pool, 40, 40));
	ASSERT_OK(thin_dec_data_range(g.pool, 3, 3));
	ASSERT_EQ(thin_is_failed(g.pool), 0);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_EQ(simdisk_nr_ops(g.sd), log);	/* TH1: nothing changed */
	ASSERT_EQ(is_shared(&g, 0), 0);

	ASSERT_OK(thin_pool_open_metadata_snap(g.bd, 0, &g.p, &view));
	ASSERT_ERR(thin_inc_data_range(view, 0, 1), -EPERM);
	ASSERT_ERR(thin_dec_data_range(view, 0, 1), -EPERM);
	ASSERT_ERR(thin_data_block_is_shared(view, 0, &shared), -EOPNOTSUPP);
	thin_pool_destroy(view);
	rig_down(&g);
}

/* TH4: a failed pool refuses all three with -EIO and writes nothing; a
 * dec of a count already 0 fails the pool (the caller's references and
 * the pool's disagree), as does a read error inside inc or dec; a read
 * error of is_shared is only its answer (TH6). */
TEST(thin_data_range_calls_and_a_failed_pool)
{
	struct rig g;
	int shared;
	uint64_t log;

	rig_format(&g, 40, THIN_CACHE_NONE);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	map(&g, 0, 0);
	ASSERT_OK(thin_commit(g.pool));

	ASSERT_ERR(thin_dec_data_range(g.pool, 1, 2), -EINVAL);
	ASSERT_TRUE(thin_is_failed(g.pool));
	log = simdisk_nr_ops(g.sd);
	ASSERT_ERR(thin_inc_data_range(g.pool, 0, 1), -EIO);
	ASSERT_ERR(thin_dec_data_range(g.pool, 0, 1), -EIO);
	ASSERT_ERR(thin_data_block_is_shared(g.pool, 0, &shared), -EIO);
	ASSERT_EQ(simdisk_nr_ops(g.sd), log);
	ASSERT_OK(thin_abort(g.pool));

	/* no cache: each call reads its bitmap from the device */
	ASSERT_OK(simdisk_fail_nth(g.sd, SD_READ,
				   simdisk_count(g.sd, SD_READ) + 1, 0));
	ASSERT_ERR(thin_data_block_is_shared(g.pool, 0, &shared), -EIO);
	ASSERT_EQ(thin_is_failed(g.pool), 0);
	ASSERT_EQ(is_shared(&g, 0), 0);
	ASSERT_OK(simdisk_fail_nth(g.sd, SD_READ,
				   simdisk_count(g.sd, SD_READ) + 1, 0));
	ASSERT_ERR(thin_inc_data_range(g.pool, 0, 1), -EIO);
	ASSERT_TRUE(thin_is_failed(g.pool));
	ASSERT_ERR(thin_data_block_is_shared(g.pool, 0, &shared), -EIO);
	ASSERT_OK(thin_abort(g.pool));
	ASSERT_EQ(is_shared(&g, 0), 0);
	rig_down(&g);
}

/* The allocator's own count (the workload's check of a metadata -ENOSPC):
 * it follows new mappings, and a read-only pool, whose space map hands
 * nothing out (a held copy's view has none to count), is refused. */
TEST(thin_allocatable_metadata_count)
{
	struct rig g;
	pd_block_t a, b;

	rig_format(&g, 100, 64);
	ASSERT_OK(thin_create_thin(g.pool, 0));
	map(&g, 0, 0);
	ASSERT_OK(thin_commit(g.pool));
	ASSERT_OK(thin_get_allocatable_metadata_blocks(g.pool, &a));
	ASSERT_TRUE(a > 0 && a < META_BLOCKS);
	ASSERT_OK(thin_create_thin(g.pool, 1));	/* a new leaf, shadows */
	ASSERT_OK(thin_get_allocatable_metadata_blocks(g.pool, &b));
	ASSERT_TRUE(b < a);
	ASSERT_OK(thin_commit(g.pool));

	g.p.flags = THIN_OPEN_READ_ONLY;
	rig_reopen(&g);
	ASSERT_ERR(thin_get_allocatable_metadata_blocks(g.pool, &b), -EPERM);
	rig_down(&g);
}
