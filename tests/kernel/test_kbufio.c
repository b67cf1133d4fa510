/* tests/kernel/test_kbufio.c - our dm-bufio (harness/kernel/bufio.h) on
 * simdisk: every KB invariant seen in the simdisk op log. */
#include <linux/dm-bufio.h>

#include "bufio.h"
#include "ktest.h"

struct aux {
	unsigned allocs;		/* alloc_callback calls for this buffer */
	unsigned writes;		/* write_callback calls */
};

static unsigned nr_alloc_calls, nr_write_calls;

static void alloc_cb(struct dm_buffer *b)
{
	struct aux *a = dm_bufio_get_aux_data(b);

	a->allocs++;
	nr_alloc_calls++;
}

/* Stamps the block number into byte 0..7, as a validator would a checksum. */
static void write_cb(struct dm_buffer *b)
{
	struct aux *a = dm_bufio_get_aux_data(b);
	uint64_t nr = dm_bufio_get_block_number(b);

	a->writes++;
	nr_write_calls++;
	memcpy(dm_bufio_get_block_data(b), &nr, sizeof(nr));
}

struct fixture {
	struct simdisk *sd;
	struct block_device bdev;
	struct dm_bufio_client *c;
};

static void setup(struct fixture *f, unsigned cache, int ratio)
{
	ASSERT_OK(simdisk_create(KBLOCK, 256, &f->sd));
	simdisk_log_reads(f->sd, 1);
	f->bdev = ktest_bdev(simdisk_bdev(f->sd), cache, ratio);
	f->c = dm_bufio_client_create(&f->bdev, KBLOCK, 1, sizeof(struct aux),
				      alloc_cb, write_cb, 0);
	ASSERT_TRUE(!IS_ERR(f->c));
	nr_alloc_calls = nr_write_calls = 0;
}

static void teardown(struct fixture *f)
{
	dm_bufio_client_destroy(f->c);
	simdisk_destroy(f->sd);
}

/* Dirty block b with fill byte v and release it. */
static void dirty_block(struct fixture *f, sector_t b, int v)
{
	struct dm_buffer *buf;
	uint8_t *p = dm_bufio_new(f->c, b, &buf);

	ASSERT_TRUE(!IS_ERR(p));
	memset(p, v, KBLOCK);
	dm_bufio_mark_buffer_dirty(buf);
	dm_bufio_release(buf);
}

/* Ops of a kind logged in [from, to). */
static unsigned count_ops(struct simdisk *sd, uint64_t from, uint64_t to,
			  enum sd_op_kind kind, pd_block_t block, int any_block)
{
	unsigned n = 0;

	for (; from < to; from++) {
		const struct sd_op *op = simdisk_op(sd, from);

		if (op->kind == kind && (any_block || op->block == block))
			n++;
	}
	return n;
}

static struct kbufio_stats stats(struct fixture *f)
{
	struct kbufio_stats s;

	kbufio_get_stats(f->c, &s);
	return s;
}

TEST(kbufio_read_get_new_and_aux)
{
	struct fixture f;
	struct dm_buffer *b, *b2;
	uint8_t block[KBLOCK];
	uint8_t *p;
	uint64_t ops;

	setup(&f, 8, -1);
	memset(block, 0x5a, sizeof(block));
	ASSERT_OK(bdev_write(simdisk_bdev(f.sd), 3, block, 0));
	ASSERT_EQ(dm_bufio_get_block_size(f.c), KBLOCK);
	ASSERT_EQ(dm_bufio_get_device_size(f.c), 256);

	/* get: a miss is NULL and no I/O */
	ops = simdisk_nr_ops(f.sd);
	ASSERT_TRUE(dm_bufio_get(f.c, 3, &b) == NULL);
	ASSERT_EQ(simdisk_nr_ops(f.sd), ops);

	/* read: one read, the disk's data, aux set up by alloc_callback */
	p = dm_bufio_read(f.c, 3, &b);
	ASSERT_TRUE(!IS_ERR(p));
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_READ, 3, 0), 1);
	ASSERT_MEMEQ(p, block, KBLOCK);
	ASSERT_EQ(dm_bufio_get_block_number(b), 3);
	ASSERT_TRUE(dm_bufio_get_client(b) == f.c);
	ASSERT_EQ(((struct aux *)dm_bufio_get_aux_data(b))->allocs, 1);

	/* a second hold is the same buffer, no I/O; get now hits */
	ops = simdisk_nr_ops(f.sd);
	ASSERT_TRUE(dm_bufio_read(f.c, 3, &b2) == p && b2 == b);
	ASSERT_TRUE(dm_bufio_get(f.c, 3, &b2) == p);
	ASSERT_EQ(simdisk_nr_ops(f.sd), ops);
	ASSERT_EQ(stats(&f).nr_held, 1);
	dm_bufio_release(b);
	dm_bufio_release(b);
	dm_bufio_release(b);
	ASSERT_EQ(stats(&f).nr_held, 0);

	/* new: no I/O, zeroes */
	p = dm_bufio_new(f.c, 9, &b);
	ASSERT_TRUE(!IS_ERR(p));
	ASSERT_EQ(simdisk_nr_ops(f.sd), ops);
	memset(block, 0, sizeof(block));
	ASSERT_MEMEQ(p, block, KBLOCK);
	dm_bufio_release(b);
	ASSERT_EQ(nr_alloc_calls, 2);
	teardown(&f);
}

/* KB1: over the bound, unheld buffers go, clean before dirty; a held dirty
 * buffer is never written back. */
TEST(kbufio_bound_evicts_unheld_only)
{
	struct fixture f;
	struct dm_buffer *held, *b;
	uint64_t ops;
	sector_t i;
	uint8_t *p;

	setup(&f, 4, -1);
	p = dm_bufio_new(f.c, 0, &held);	/* held and dirty throughout */
	memset(p, 1, KBLOCK);
	dm_bufio_mark_buffer_dirty(held);
	dirty_block(&f, 1, 2);
	dirty_block(&f, 2, 3);
	p = dm_bufio_read(f.c, 50, &b);	/* one clean buffer */
	ASSERT_TRUE(!IS_ERR(p));
	dm_bufio_release(b);
	ASSERT_EQ(stats(&f).nr_buffers, 4);

	/* the clean one goes first: no write */
	ops = simdisk_nr_ops(f.sd);
	p = dm_bufio_read(f.c, 60, &b);
	ASSERT_TRUE(!IS_ERR(p));
	dm_bufio_release(b);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 0, 1), 0);
	ASSERT_TRUE(dm_bufio_get(f.c, 50, &b) == NULL);

	/* then clean 60 (read since); with only dirty ones left unheld, the
	 * least recently used dirty one is written back and goes */
	for (i = 100; i < 104; i++) {
		dirty_block(&f, i, 9);
		ASSERT_TRUE(stats(&f).nr_buffers <= 4);
	}
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 1, 0), 1);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 2, 0), 1);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 100, 0), 1);
	ASSERT_EQ(count_ops(f.sd, 0, simdisk_nr_ops(f.sd), SD_WRITE, 0, 0), 0);
	ASSERT_EQ(count_ops(f.sd, 0, simdisk_nr_ops(f.sd), SD_FLUSH, 0, 1), 0);
	ASSERT_EQ(stats(&f).writebacks, 3);
	ASSERT_EQ(stats(&f).evictions, 5);
	/* the write of 1 came before that of 2 (least recently used first) */
	for (i = ops; simdisk_op(f.sd, i)->kind != SD_WRITE; i++)
		;
	ASSERT_EQ(simdisk_op(f.sd, i)->block, 1);
	/* write_callback ran before each write: the data carries the stamp */
	ASSERT_EQ(*(const uint64_t *)simdisk_op(f.sd, i)->data, 1);

	dm_bufio_release(held);
	teardown(&f);
}

/* KB1: when every buffer is held, the cache grows past the bound. */
TEST(kbufio_bound_is_exceeded_only_by_held)
{
	struct fixture f;
	struct dm_buffer *b[6];
	int i;

	setup(&f, 4, -1);
	for (i = 0; i < 6; i++)
		ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, i, &b[i])));
	ASSERT_EQ(stats(&f).nr_buffers, 6);
	for (i = 0; i < 6; i++)
		dm_bufio_release(b[i]);
	ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, 20, &b[0])));
	dm_bufio_release(b[0]);
	ASSERT_EQ(stats(&f).nr_buffers, 4);
	teardown(&f);
}

/* KB2: dirty > 3 * clean at a miss writes back every unheld dirty buffer. */
TEST(kbufio_watermark_writes_back_unheld)
{
	struct fixture f;
	struct dm_buffer *held, *b;
	uint64_t ops;
	sector_t i;

	setup(&f, 1000, 0);
	ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, 200, &b)));	/* 1 clean */
	dm_bufio_release(b);
	ASSERT_TRUE(!IS_ERR(dm_bufio_new(f.c, 0, &held)));
	dm_bufio_mark_buffer_dirty(held);
	for (i = 1; i <= 3; i++)
		dirty_block(&f, i, (int)i);
	/* 4 dirty vs 1 clean: the next miss writes 1..3, never 0 */
	ops = simdisk_nr_ops(f.sd);
	ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, 201, &b)));
	dm_bufio_release(b);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 0, 1), 3);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 0, 0), 0);
	ASSERT_EQ(stats(&f).nr_dirty, 1);
	/* writes precede the read that caused them, as in the kernel */
	ASSERT_EQ(simdisk_op(f.sd, simdisk_nr_ops(f.sd) - 1)->kind, SD_READ);
	dm_bufio_release(held);
	teardown(&f);
}

/* KB4: every dirty buffer (held ones too), then one flush, last. */
TEST(kbufio_write_dirty_buffers_writes_then_flushes)
{
	struct fixture f;
	struct dm_buffer *held;
	uint64_t ops, n, i;
	uint8_t expect[KBLOCK];

	setup(&f, 100, -1);
	for (i = 10; i < 15; i++)
		dirty_block(&f, i, (int)i);
	ASSERT_TRUE(!IS_ERR(dm_bufio_new(f.c, 20, &held)));
	dm_bufio_mark_buffer_dirty(held);
	ops = simdisk_nr_ops(f.sd);
	ASSERT_OK(dm_bufio_write_dirty_buffers(f.c));
	n = simdisk_nr_ops(f.sd);
	ASSERT_EQ(n - ops, 7);
	for (i = ops; i < n - 1; i++)
		ASSERT_EQ(simdisk_op(f.sd, i)->kind, SD_WRITE);
	ASSERT_EQ(simdisk_op(f.sd, n - 1)->kind, SD_FLUSH);
	ASSERT_EQ(count_ops(f.sd, ops, n, SD_WRITE, 20, 0), 1);
	ASSERT_EQ(stats(&f).nr_dirty, 0);
	for (i = 10; i < 15; i++) {
		memset(expect, (int)i, KBLOCK);
		memcpy(expect, &i, sizeof(i));
		ASSERT_MEMEQ(simdisk_op(f.sd, ops + i - 10)->data, expect, KBLOCK);
	}
	/* nothing dirty: just the flush */
	ops = simdisk_nr_ops(f.sd);
	ASSERT_OK(dm_bufio_write_dirty_buffers(f.c));
	ASSERT_EQ(simdisk_nr_ops(f.sd) - ops, 1);
	ASSERT_EQ(simdisk_op(f.sd, ops)->kind, SD_FLUSH);
	dm_bufio_release(held);
	teardown(&f);
}

/* KB3/KB4: a failed write is returned, the flush is still issued, the
 * error is cleared, the failed buffer is dropped at its release. */
TEST(kbufio_write_error_then_flush_anyway)
{
	struct fixture f;
	struct dm_buffer *b;
	uint64_t ops, n;
	sector_t i;

	setup(&f, 100, -1);
	for (i = 0; i < 3; i++)
		dirty_block(&f, i, 7);
	ASSERT_OK(simdisk_fail_nth(f.sd, SD_WRITE, 2, 0));
	ops = simdisk_nr_ops(f.sd);
	ASSERT_ERR(dm_bufio_write_dirty_buffers(f.c), -EIO);
	n = simdisk_nr_ops(f.sd);
	ASSERT_EQ(count_ops(f.sd, ops, n, SD_WRITE, 0, 1), 3);
	ASSERT_EQ(simdisk_op(f.sd, n - 1)->kind, SD_FLUSH);
	ASSERT_TRUE(!simdisk_op(f.sd, n - 1)->failed);
	ASSERT_EQ(stats(&f).nr_dirty, 0);	/* clean, as in the kernel */
	ASSERT_OK(dm_bufio_write_dirty_buffers(f.c));
	/* the failed buffer (block 1) is dropped when next released */
	ASSERT_TRUE(dm_bufio_get(f.c, 1, &b) != NULL);
	dm_bufio_release(b);
	ASSERT_TRUE(dm_bufio_get(f.c, 1, &b) == NULL);
	teardown(&f);
}

/* KB3: an error of a write-back under pressure comes out of the next
 * write_dirty_buffers, not out of the call that caused it. */
TEST(kbufio_async_write_error_reported_at_next_flush)
{
	struct fixture f;
	struct dm_buffer *b;

	setup(&f, 2, -1);
	dirty_block(&f, 0, 1);
	dirty_block(&f, 1, 2);
	ASSERT_OK(simdisk_fail_nth(f.sd, SD_WRITE, 1, 0));
	ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, 5, &b)));	/* evicts 0, fails */
	dm_bufio_release(b);
	ASSERT_EQ(stats(&f).writebacks, 1);
	ASSERT_ERR(dm_bufio_write_dirty_buffers(f.c), -EIO);
	ASSERT_OK(dm_bufio_write_dirty_buffers(f.c));
	teardown(&f);
}

/* KB4/KB8: a failed flush is returned. */
TEST(kbufio_flush_error_returned)
{
	struct fixture f;

	setup(&f, 100, -1);
	dirty_block(&f, 0, 1);
	ASSERT_OK(simdisk_fail_nth(f.sd, SD_FLUSH, 1, 0));
	ASSERT_ERR(dm_bufio_write_dirty_buffers(f.c), -EIO);
	ASSERT_OK(simdisk_fail_nth(f.sd, SD_FLUSH, 2, 0));
	ASSERT_ERR(dm_bufio_issue_flush(f.c), -EIO);
	ASSERT_OK(dm_bufio_issue_flush(f.c));
	teardown(&f);
}

/* KB5: a failed read caches nothing; a failed prefetch is reported by the
 * next read of that block, which then reads again. */
TEST(kbufio_read_errors)
{
	struct fixture f;
	struct dm_buffer *b;
	void *p;

	setup(&f, 100, -1);
	ASSERT_OK(simdisk_fail_nth(f.sd, SD_READ, 1, 0));
	p = dm_bufio_read(f.c, 4, &b);
	ASSERT_TRUE(IS_ERR(p));
	ASSERT_EQ(PTR_ERR(p), -EIO);
	ASSERT_EQ(stats(&f).nr_buffers, 0);
	p = dm_bufio_read(f.c, 4, &b);
	ASSERT_TRUE(!IS_ERR(p));
	dm_bufio_release(b);

	ASSERT_OK(simdisk_fail_nth(f.sd, SD_READ, 3, 0));
	dm_bufio_prefetch(f.c, 7, 2);		/* reads 7 (fails) and 8 */
	ASSERT_EQ(stats(&f).nr_buffers, 3);
	ASSERT_TRUE(dm_bufio_get(f.c, 8, &b) != NULL);
	dm_bufio_release(b);
	p = dm_bufio_read(f.c, 7, &b);
	ASSERT_EQ(PTR_ERR(p), -EIO);
	p = dm_bufio_read(f.c, 7, &b);
	ASSERT_TRUE(!IS_ERR(p));
	dm_bufio_release(b);
	/* past the end of the device */
	p = dm_bufio_read(f.c, 256, &b);
	ASSERT_TRUE(IS_ERR(p));
	teardown(&f);
}

/* KB6/KB7: reset writes dirty buffers without a flush and drops them;
 * forget drops only unheld clean buffers. */
TEST(kbufio_reset_and_forget)
{
	struct fixture f;
	struct dm_buffer *b;
	uint64_t ops;

	setup(&f, 100, -1);
	dirty_block(&f, 1, 1);
	dirty_block(&f, 2, 2);
	ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, 3, &b)));
	dm_bufio_release(b);
	dm_bufio_forget(f.c, 1);		/* dirty: stays */
	dm_bufio_forget(f.c, 3);		/* clean: goes */
	ASSERT_EQ(stats(&f).nr_buffers, 2);
	ops = simdisk_nr_ops(f.sd);
	dm_bufio_client_reset(f.c);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_WRITE, 0, 1), 2);
	ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_FLUSH, 0, 1), 0);
	ASSERT_EQ(stats(&f).nr_buffers, 0);
	teardown(&f);
}

/* KB9: with no cache only held buffers stay: each read of a released
 * block reads the disk, a dirty one is written back at the next call of
 * any block (KB3: its error waits for write_dirty_buffers), and there is
 * no bound to exceed. */
TEST(kbufio_cache_none_keeps_only_held)
{
	struct fixture f;
	struct dm_buffer *b, *held[20];
	uint64_t ops;
	uint8_t *p;

	setup(&f, KBUFIO_CACHE_NONE, 0);
	dirty_block(&f, 1, 7);
	ASSERT_EQ(count_ops(f.sd, 0, simdisk_nr_ops(f.sd), SD_WRITE, 0, 1), 0);
	ASSERT_TRUE(dm_bufio_get(f.c, 1, &b) == NULL);	/* dropped, written */
	ASSERT_EQ(count_ops(f.sd, 0, simdisk_nr_ops(f.sd), SD_WRITE, 1, 0), 1);
	ASSERT_EQ(stats(&f).nr_buffers, 0);
	for (int i = 0; i < 2; i++) {
		ops = simdisk_nr_ops(f.sd);
		p = dm_bufio_read(f.c, 1, &b);
		ASSERT_TRUE(!IS_ERR(p));
		ASSERT_EQ(p[100], 7);
		ASSERT_EQ(count_ops(f.sd, ops, simdisk_nr_ops(f.sd), SD_READ, 1, 0), 1);
		/* held: a second read shares it, no I/O */
		ops = simdisk_nr_ops(f.sd);
		ASSERT_TRUE(dm_bufio_read(f.c, 1, &held[0]) == p);
		ASSERT_EQ(simdisk_nr_ops(f.sd), ops);
		dm_bufio_release(held[0]);
		dm_bufio_release(b);
	}
	/* KB3: the write-back's error goes to the next write_dirty_buffers */
	dirty_block(&f, 2, 8);
	ASSERT_OK(simdisk_fail_nth(f.sd, SD_WRITE, 2, 0));	/* block 2's */
	ASSERT_TRUE(!IS_ERR(dm_bufio_read(f.c, 3, &b)));
	dm_bufio_release(b);
	ASSERT_EQ(stats(&f).nr_dirty, 0);
	ASSERT_ERR(dm_bufio_write_dirty_buffers(f.c), -EIO);
	ASSERT_OK(dm_bufio_write_dirty_buffers(f.c));
	/* no bound: twenty held at once */
	for (int i = 0; i < 20; i++)
		ASSERT_TRUE(!IS_ERR(dm_bufio_new(f.c, 10 + (sector_t)i, &held[i])));
	ASSERT_EQ(stats(&f).nr_held, 20);
	for (int i = 0; i < 20; i++)
		dm_bufio_release(held[i]);
	dm_bufio_prefetch(f.c, 40, 1);
	ASSERT_EQ(stats(&f).nr_buffers, 1);		/* the prefetched one */
	ASSERT_TRUE(stats(&f).evictions >= 22);
	teardown(&f);
}
