/* tests/unit/test_bm.c - block manager (bm.h BM1-BM11). */
#include <inttypes.h>

#include "bm.h"
#include "errors.h"
#include "simdisk.h"
#include "test.h"
#include "util.h"

#define SALT 4242u

static void t_prepare(const struct bm_validator *v, struct bm_block *b,
		      size_t size)
{
	uint8_t *d = bm_block_data(b);

	(void)v;
	le64_put(d + 8, bm_block_location(b));
	le32_put(d, pd_block_csum(d + 4, size - 4, SALT));
}

static int t_check(const struct bm_validator *v, struct bm_block *b,
		   size_t size)
{
	const uint8_t *d = bm_block_cdata(b);

	(void)v;
	if (le64_get(d + 8) != bm_block_location(b))
		return -ENOTBLK;
	if (le32_get(d) != pd_block_csum(d + 4, size - 4, SALT))
		return -EILSEQ;
	return 0;
}

static const struct bm_validator tv = { "test", t_prepare, t_check };
static const struct bm_validator tv2 = { "other", t_prepare, t_check };

/* t_check that says what is wrong (BM10). */
static int t_check_says(const struct bm_validator *v, struct bm_block *b,
			size_t size)
{
	const uint8_t *d = bm_block_cdata(b);
	int r = t_check(v, b, size);

	if (r == -ENOTBLK)
		bm_block_fault(b, "says it is block %" PRIu64, le64_get(d + 8));
	else if (r)
		bm_block_fault(b, "bad checksum");
	return r;
}

static const struct bm_validator tv3 = { "test block", t_prepare,
					 t_check_says };

static struct simdisk *new_disk(pd_block_t n)
{
	struct simdisk *sd;

	ASSERT_OK(simdisk_create(PD_BLOCK_SIZE, n, &sd));
	return sd;
}

static uint64_t count_ops(struct simdisk *sd, enum sd_op_kind kind)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < simdisk_nr_ops(sd); i++)
		n += simdisk_op(sd, i)->kind == kind && !simdisk_op(sd, i)->failed;
	return n;
}

static void write_block(struct block_manager *bm, pd_block_t b, uint8_t fill)
{
	struct bm_block *blk;

	ASSERT_OK(bm_write_lock_zero(bm, b, &tv, &blk));
	memset((uint8_t *)bm_block_data(blk) + 16, fill, PD_BLOCK_SIZE - 16);
	bm_unlock(blk);
}

TEST(bm_read_after_write_through_reopen)
{
	struct simdisk *sd = new_disk(64);
	struct block_manager *bm;
	struct bm_block *blk;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 16, &bm));
	for (pd_block_t b = 1; b < 40; b++)
		write_block(bm, b, (uint8_t)b);
	ASSERT_OK(bm_flush(bm));
	ASSERT_EQ(bm_destroy(bm), 0);

	ASSERT_OK(bm_create(simdisk_bdev(sd), 16, &bm));
	for (pd_block_t b = 1; b < 40; b++) {
		ASSERT_OK(bm_read_lock(bm, b, &tv, &blk));
		ASSERT_EQ(((uint8_t *)bm_block_data(blk))[100], (uint8_t)b);
		ASSERT_UEQ(bm_block_location(blk), b);
		bm_unlock(blk);
	}
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

TEST(bm_validator_detects_damage)
{
	struct simdisk *sd = new_disk(16);
	struct bdev *bd = simdisk_bdev(sd);
	struct block_manager *bm;
	struct bm_block *blk;
	uint8_t buf[PD_BLOCK_SIZE];

	ASSERT_OK(bm_create(bd, 8, &bm));
	write_block(bm, 3, 0xab);
	ASSERT_OK(bm_flush(bm));
	bm_destroy(bm);

	/* flipped byte: -EILSEQ */
	ASSERT_OK(bdev_read(bd, 3, buf));
	buf[2000] ^= 1;
	ASSERT_OK(bdev_write(bd, 3, buf, 0));
	ASSERT_OK(bm_create(bd, 8, &bm));
	ASSERT_ERR(bm_read_lock(bm, 3, &tv, &blk), -EILSEQ);
	ASSERT_EQ(bm_nr_locked(bm), 0);
	bm_destroy(bm);

	/* block written at the wrong place: -ENOTBLK */
	buf[2000] ^= 1;
	ASSERT_OK(bdev_write(bd, 3, buf, 0));
	ASSERT_OK(bdev_write(bd, 5, buf, 0));
	ASSERT_OK(bm_create(bd, 8, &bm));
	ASSERT_ERR(bm_read_lock(bm, 5, &tv, &blk), -ENOTBLK);
	ASSERT_OK(bm_read_lock(bm, 3, &tv, &blk));
	bm_unlock(blk);
	/* BM5: same block, another validator */
	ASSERT_ERR(bm_read_lock(bm, 3, &tv2, &blk), -EINVAL);
	/* no validator reads raw, even a damaged block */
	ASSERT_OK(bm_read_lock(bm, 5, NULL, &blk));
	bm_unlock(blk);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

/* BM10: each refusal is noted with the block and the fault; the last one
 * stays until the next. */
TEST(bm_damage_record_names_block_and_fault)
{
	struct simdisk *sd = new_disk(16);
	struct bdev *bd = simdisk_bdev(sd);
	struct block_manager *bm;
	struct bm_block *blk;
	struct pd_damage *d;
	uint8_t buf[PD_BLOCK_SIZE];

	ASSERT_OK(bm_create(bd, 8, &bm));
	write_block(bm, 3, 0xab);
	write_block(bm, 4, 0xcd);
	ASSERT_OK(bm_flush(bm));
	bm_destroy(bm);
	ASSERT_OK(bdev_read(bd, 3, buf));
	ASSERT_OK(bdev_write(bd, 5, buf, 0));		/* says it is 3 */
	ASSERT_OK(bdev_read(bd, 4, buf));
	buf[100] ^= 1;
	ASSERT_OK(bdev_write(bd, 4, buf, 0));		/* bad checksum */

	ASSERT_OK(bm_create(bd, 8, &bm));
	d = bm_damage(bm);
	ASSERT_EQ(d->seq, 0);
	ASSERT_OK(bm_read_lock(bm, 3, &tv3, &blk));
	bm_unlock(blk);
	ASSERT_EQ(d->seq, 0);				/* a good block: nothing */
	ASSERT_ERR(bm_read_lock(bm, 4, &tv3, &blk), -EILSEQ);
	ASSERT_UEQ(d->block, 4);
	ASSERT_STREQ(d->text, "block 4 (test block): bad checksum");
	ASSERT_ERR(bm_read_lock(bm, 5, &tv3, &blk), -ENOTBLK);
	ASSERT_STREQ(d->text, "block 5 (test block): says it is block 3");
	/* a validator that says nothing: the error's words */
	ASSERT_ERR(bm_read_lock(bm, 4, &tv, &blk), -EILSEQ);
	ASSERT_STREQ(d->text, "block 4 (test): bad checksum, magic or structure");
	ASSERT_ERR(bm_read_lock(bm, 3, &tv2, &blk), -EINVAL);
	ASSERT_STREQ(d->text, "block 3 is used as a test block and as a other");
	ASSERT_ERR(bm_read_lock(bm, 16, &tv3, &blk), -EINVAL);
	ASSERT_UEQ(d->block, 16);
	ASSERT_STREQ(d->text, "reference to block 16, outside the metadata device (16 blocks)");
	/* DR1: the record stays across good reads, and the entry that named
	 * the block is added once, only to a note made since */
	unsigned seq = d->seq;
	ASSERT_OK(bm_read_lock(bm, 3, &tv3, &blk));
	bm_unlock(blk);
	ASSERT_EQ(d->seq, seq);
	pd_damage_from(d, seq, 16, 9, 2);
	ASSERT_STREQ(d->text, "reference to block 16, outside the metadata device (16 blocks)");
	pd_damage_from(d, seq - 1, 15, 9, 2);
	ASSERT_STREQ(d->text, "reference to block 16, outside the metadata device (16 blocks)");
	pd_damage_from(d, seq - 1, 16, 9, 2);
	pd_damage_from(d, seq - 1, 16, 8, 1);
	ASSERT_STREQ(d->text, "reference to block 16, outside the metadata device (16 blocks), in entry 2 of block 9");
	pd_damage_clear(d);
	ASSERT_EQ(d->seq, 0);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

TEST(bm_unlock_of_write_lock_dirties)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;
	struct bm_block *blk;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	write_block(bm, 2, 1);
	ASSERT_OK(bm_flush(bm));
	uint64_t w = count_ops(sd, SD_WRITE);
	ASSERT_OK(bm_flush(bm));
	ASSERT_EQ(count_ops(sd, SD_WRITE), w);		/* clean: nothing */
	ASSERT_OK(bm_write_lock(bm, 2, &tv, &blk));	/* unmodified */
	bm_unlock(blk);
	ASSERT_OK(bm_flush(bm));
	ASSERT_EQ(count_ops(sd, SD_WRITE), w + 1);	/* BM2 */
	ASSERT_OK(bm_read_lock(bm, 2, &tv, &blk));
	bm_unlock(blk);
	ASSERT_OK(bm_flush(bm));
	ASSERT_EQ(count_ops(sd, SD_WRITE), w + 1);	/* read lock: clean */
	bm_destroy(bm);
	simdisk_destroy(sd);
}

TEST(bm_flush_writes_then_one_flush_and_keeps_locks)
{
	struct simdisk *sd = new_disk(32);
	struct block_manager *bm;
	struct bm_block *held;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 32, &bm));
	for (pd_block_t b = 10; b > 1; b--)
		write_block(bm, b, 7);
	ASSERT_OK(bm_write_lock_zero(bm, 20, &tv, &held));
	uint64_t start = simdisk_nr_ops(sd);
	ASSERT_OK(bm_flush(bm));
	/* BM4: nine writes in block order, then exactly one flush */
	uint64_t n = simdisk_nr_ops(sd) - start, writes = 0;
	pd_block_t last = 0;
	for (uint64_t i = start; i < simdisk_nr_ops(sd); i++) {
		const struct sd_op *op = simdisk_op(sd, i);

		if (op->kind == SD_READ || op->kind == SD_MARKER)
			continue;
		if (i + 1 < simdisk_nr_ops(sd)) {
			ASSERT_EQ(op->kind, SD_WRITE);
			ASSERT_TRUE(op->block > last);
			ASSERT_TRUE(op->block != 20);
			last = op->block;
			writes++;
		} else {
			ASSERT_EQ(op->kind, SD_FLUSH);
		}
	}
	ASSERT_EQ(writes, 9);
	ASSERT_TRUE(n >= 10);
	ASSERT_EQ(bm_nr_locked(bm), 1);			/* nothing unlocked */
	bm_unlock(held);
	ASSERT_OK(bm_flush(bm));
	bm_destroy(bm);
	simdisk_destroy(sd);
}

TEST(bm_eviction_writes_back_dirty_blocks_early)
{
	struct simdisk *sd = new_disk(128);
	struct block_manager *bm;
	struct bm_block *blk;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	for (pd_block_t b = 1; b <= 50; b++)
		write_block(bm, b, (uint8_t)(b + 1));
	/* BM3: with 8 slots most blocks went out before any flush */
	ASSERT_TRUE(count_ops(sd, SD_WRITE) >= 42);
	ASSERT_EQ(count_ops(sd, SD_FLUSH), 0);
	for (pd_block_t b = 1; b <= 50; b++) {
		ASSERT_OK(bm_read_lock(bm, b, &tv, &blk));
		ASSERT_EQ(((uint8_t *)bm_block_data(blk))[4000], (uint8_t)(b + 1));
		bm_unlock(blk);
	}
	struct bm_stats st;
	bm_get_stats(bm, &st);
	ASSERT_TRUE(st.evictions > 0);
	bm_destroy(bm);
	simdisk_destroy(sd);
}

TEST(bm_cache_full_of_locked_blocks_is_enomem)
{
	struct simdisk *sd = new_disk(64);
	struct block_manager *bm;
	struct bm_block *blk[9];

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	for (int i = 0; i < 8; i++)
		ASSERT_OK(bm_write_lock_zero(bm, 1 + i, &tv, &blk[i]));
	ASSERT_ERR(bm_write_lock_zero(bm, 20, &tv, &blk[8]), -ENOMEM);
	ASSERT_ERR(bm_read_lock(bm, 21, &tv, &blk[8]), -ENOMEM);
	bm_unlock(blk[0]);
	ASSERT_OK(bm_write_lock_zero(bm, 20, &tv, &blk[8]));	/* evicts 1 */
	ASSERT_EQ(bm_nr_locked(bm), 8);
	for (int i = 1; i < 9; i++)
		bm_unlock(blk[i]);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

TEST(bm_locks_conflict_and_bounds)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;
	struct bm_block *a, *b;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	ASSERT_ERR(bm_read_lock(bm, 16, &tv, &a), -EINVAL);
	ASSERT_ERR(bm_write_lock_zero(bm, 99, &tv, &a), -EINVAL);
	ASSERT_OK(bm_write_lock_zero(bm, 1, &tv, &a));
	ASSERT_ERR(bm_read_lock(bm, 1, &tv, &b), -EBUSY);	/* BM7 */
	ASSERT_ERR(bm_write_lock(bm, 1, &tv, &b), -EBUSY);
	bm_unlock(a);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &b));		/* many readers */
	ASSERT_ERR(bm_write_lock(bm, 1, &tv, &b), -EBUSY);
	bm_unlock(a);
	bm_unlock(b);
	/* destroy reports a block still locked */
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	ASSERT_EQ(bm_destroy(bm), 1);
	simdisk_destroy(sd);
}

TEST(bm_read_only_refuses_writes)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;
	struct bm_block *a;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	write_block(bm, 1, 9);
	ASSERT_OK(bm_flush(bm));
	bm_set_read_only(bm, 1);
	ASSERT_TRUE(bm_is_read_only(bm));
	ASSERT_ERR(bm_write_lock(bm, 1, &tv, &a), -EPERM);	/* BM6 */
	ASSERT_ERR(bm_write_lock_zero(bm, 2, &tv, &a), -EPERM);
	ASSERT_ERR(bm_flush(bm), -EPERM);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	bm_unlock(a);
	bm_destroy(bm);
	simdisk_destroy(sd);
}

TEST(bm_reset_drops_dirty_blocks)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;
	struct bm_block *a;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	write_block(bm, 1, 9);
	ASSERT_OK(bm_flush(bm));
	write_block(bm, 1, 10);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	ASSERT_ERR(bm_reset(bm), -EBUSY);
	bm_unlock(a);
	ASSERT_OK(bm_reset(bm));
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	ASSERT_EQ(((uint8_t *)bm_block_data(a))[100], 9);	/* from disk */
	bm_unlock(a);
	bm_destroy(bm);
	simdisk_destroy(sd);
}

/* A validator that refuses a block whose byte 16 is 0xbd (a "half-built"
 * block, for BM8 and BM9). */
static int t_check_strict(const struct bm_validator *v, struct bm_block *b,
			  size_t size)
{
	int r = t_check(v, b, size);

	if (!r && ((const uint8_t *)bm_block_cdata(b))[16] == 0xbd)
		return -EILSEQ;
	return r;
}

static const struct bm_validator tv_strict = { "strict", t_prepare,
					       t_check_strict };

TEST(bm_reset_refuses_a_dirty_block_its_validator_rejects)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;
	struct bm_block *a;
	uint64_t writes;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	/* clean, then dirty and valid: reset drops them quietly */
	ASSERT_OK(bm_write_lock_zero(bm, 1, &tv_strict, &a));
	bm_unlock(a);
	ASSERT_OK(bm_flush(bm));
	ASSERT_OK(bm_write_lock(bm, 1, &tv_strict, &a));
	((uint8_t *)bm_block_data(a))[100] = 7;
	bm_unlock(a);
	ASSERT_OK(bm_reset(bm));
	/* dirty and refused by its own validator: BM9 */
	ASSERT_OK(bm_write_lock_zero(bm, 2, &tv_strict, &a));
	((uint8_t *)bm_block_data(a))[16] = 0xbd;
	bm_unlock(a);
	ASSERT_OK(bm_write_lock_zero(bm, 3, &tv_strict, &a));
	bm_unlock(a);
	writes = count_ops(sd, SD_WRITE);
	ASSERT_ERR(bm_reset(bm), -EILSEQ);
	ASSERT_UEQ(count_ops(sd, SD_WRITE), writes);	/* nothing written */
	/* everything was dropped all the same: block 2 reads as on disk */
	ASSERT_EQ(bm_nr_locked(bm), 0);
	ASSERT_OK(bm_reset(bm));
	ASSERT_OK(bm_read_lock(bm, 1, &tv_strict, &a));
	ASSERT_EQ(((uint8_t *)bm_block_data(a))[100], 0);
	bm_unlock(a);
	bm_destroy(bm);
	simdisk_destroy(sd);
}

TEST(bm_write_error_keeps_block_dirty)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;

	ASSERT_OK(bm_create(simdisk_bdev(sd), 8, &bm));
	write_block(bm, 1, 9);
	ASSERT_OK(simdisk_fail_nth(sd, SD_WRITE, 1, 0));
	ASSERT_ERR(bm_flush(bm), -EIO);
	ASSERT_OK(bm_flush(bm));				/* retried */
	ASSERT_EQ(count_ops(sd, SD_WRITE), 1);
	bm_destroy(bm);
	simdisk_destroy(sd);
}

/* A bm with no cache (BM11) over a fresh disk of n blocks. */
static struct block_manager *none_bm(pd_block_t n, struct simdisk **sd)
{
	struct block_manager *bm;

	*sd = new_disk(n);
	ASSERT_OK(bm_create(simdisk_bdev(*sd), BM_CACHE_NONE, &bm));
	return bm;
}

/* BM11: with no cache every lock of a block nobody holds reads it from
 * the device; a block held now is shared as ever. */
TEST(bm_cache_none_reads_on_every_lock)
{
	struct simdisk *sd = new_disk(16);
	struct block_manager *bm;
	struct bm_block *a, *b;
	struct bm_stats st;

	ASSERT_ERR(bm_create(simdisk_bdev(sd), 7, &bm), -EINVAL);
	ASSERT_ERR(bm_create(simdisk_bdev(sd), BM_CACHE_NONE + 1, &bm), -EINVAL);
	ASSERT_OK(bm_create(simdisk_bdev(sd), BM_CACHE_NONE, &bm));
	write_block(bm, 1, 9);
	ASSERT_OK(bm_flush(bm));
	bm_get_stats(bm, &st);
	uint64_t reads = st.reads, hits = st.hits;
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
		ASSERT_EQ(((uint8_t *)bm_block_data(a))[100], 9);
		bm_unlock(a);
	}
	bm_get_stats(bm, &st);
	ASSERT_UEQ(st.reads, reads + 3);
	ASSERT_UEQ(st.hits, hits);
	/* held: the second read lock shares it, no read */
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &b));
	ASSERT_TRUE(a == b);
	bm_get_stats(bm, &st);
	ASSERT_UEQ(st.reads, reads + 4);
	ASSERT_UEQ(st.hits, hits + 1);
	bm_unlock(a);
	bm_unlock(b);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

/* BM11, BM3: a dirty block goes out at the next lock call, whatever it
 * locks, and comes back from the device. */
TEST(bm_cache_none_writes_back_before_the_next_lock)
{
	struct simdisk *sd;
	struct block_manager *bm = none_bm(16, &sd);
	struct bm_block *a;
	struct bm_stats st;

	write_block(bm, 1, 5);
	ASSERT_EQ(count_ops(sd, SD_WRITE), 0);		/* still cached */
	ASSERT_OK(bm_write_lock_zero(bm, 2, &tv, &a));
	ASSERT_EQ(count_ops(sd, SD_WRITE), 1);		/* block 1 went */
	bm_unlock(a);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));	/* check() passes:
							   prepare ran */
	ASSERT_EQ(count_ops(sd, SD_WRITE), 2);		/* block 2 went */
	ASSERT_EQ(((uint8_t *)bm_block_data(a))[100], 5);
	bm_unlock(a);
	bm_get_stats(bm, &st);
	ASSERT_UEQ(st.writes, 2);
	ASSERT_UEQ(st.evictions, 2);
	ASSERT_UEQ(st.misses, 1);			/* write_lock_zero reads nothing */
	ASSERT_EQ(count_ops(sd, SD_FLUSH), 0);
	ASSERT_OK(bm_flush(bm));			/* nothing dirty left */
	ASSERT_EQ(count_ops(sd, SD_WRITE), 2);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

/* BM11: a failed write-back is the lock call's error; the block stays
 * dirty and cached, and goes out at the next lock.  BM8 alike. */
TEST(bm_cache_none_write_back_error_fails_the_lock)
{
	struct bm_block *a;
	struct simdisk *sd;
	struct block_manager *bm = none_bm(16, &sd);

	write_block(bm, 1, 6);
	ASSERT_OK(simdisk_fail_nth(sd, SD_WRITE, 1, 0));
	ASSERT_ERR(bm_read_lock(bm, 3, &tv, &a), -EIO);
	ASSERT_EQ(bm_nr_locked(bm), 0);
	ASSERT_EQ(count_ops(sd, SD_WRITE), 0);
	/* still dirty: written now, then read back */
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	ASSERT_EQ(count_ops(sd, SD_WRITE), 1);
	ASSERT_EQ(((uint8_t *)bm_block_data(a))[100], 6);
	bm_unlock(a);
	/* BM8: a block its validator refuses is not written, every lock
	 * call says so, and reset drops it (BM9) */
	ASSERT_OK(bm_write_lock_zero(bm, 2, &tv_strict, &a));
	((uint8_t *)bm_block_data(a))[16] = 0xbd;
	bm_unlock(a);
	ASSERT_ERR(bm_read_lock(bm, 1, &tv, &a), -EILSEQ);
	ASSERT_ERR(bm_write_lock_zero(bm, 4, &tv, &a), -EILSEQ);
	ASSERT_EQ(count_ops(sd, SD_WRITE), 1);
	ASSERT_ERR(bm_reset(bm), -EILSEQ);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &a));
	bm_unlock(a);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}

/* BM11: no bound, so no -ENOMEM for want of a slot. */
TEST(bm_cache_none_locks_beyond_any_bound)
{
	struct bm_block *blk[40];
	struct simdisk *sd;
	struct block_manager *bm = none_bm(64, &sd);
	struct bm_stats st;

	for (int i = 0; i < 40; i++)
		ASSERT_OK(bm_write_lock_zero(bm, 1 + (pd_block_t)i, &tv, &blk[i]));
	ASSERT_EQ(bm_nr_locked(bm), 40);
	ASSERT_EQ(count_ops(sd, SD_WRITE), 0);		/* held: never */
	for (int i = 0; i < 40; i++)
		bm_unlock(blk[i]);
	ASSERT_OK(bm_read_lock(bm, 50, NULL, &blk[0]));
	ASSERT_EQ(count_ops(sd, SD_WRITE), 40);
	bm_unlock(blk[0]);
	bm_get_stats(bm, &st);
	ASSERT_UEQ(st.evictions, 40);
	/* bm_set_cache_blocks takes the mode too */
	bm_set_cache_blocks(bm, 8);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &blk[0]));
	bm_unlock(blk[0]);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &blk[0]));	/* cached now */
	bm_unlock(blk[0]);
	bm_get_stats(bm, &st);
	ASSERT_UEQ(st.hits, 1);
	bm_set_cache_blocks(bm, BM_CACHE_NONE);
	ASSERT_OK(bm_read_lock(bm, 1, &tv, &blk[0]));
	bm_unlock(blk[0]);
	bm_get_stats(bm, &st);
	ASSERT_UEQ(st.hits, 1);
	ASSERT_EQ(bm_destroy(bm), 0);
	simdisk_destroy(sd);
}
