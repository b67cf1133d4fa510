/* tests/unit/test_datadev.c - the data device's check (datadev.h), on
 * hand-made images: a mapping that points at a block with the wrong tag,
 * an older one, or none is reported with the vblock and both tags; the
 * right one passes.  And the scenario syntax of `write`.
 */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "datadev.h"
#include "scenario.h"
#include "test.h"

#define TEST_MARK 100		/* a marker kind the workload never uses */

struct rig {
	struct simdisk *meta;
	struct client *cl;
	struct datadev *dd;
};

/* A pool whose dev 0 maps vblock 5 to data block 3, committed; the data
 * device has had one FUA write of (0, 5) to block 3 (gen 1). */
static void rig_up(struct rig *g)
{
	struct client_params p = { .data_block_size = 128, .nr_data_blocks = 16 };
	uint64_t gen;

	ASSERT_OK(simdisk_create(4096, 256, &g->meta));
	ASSERT_OK(client_core_ops.format(simdisk_bdev(g->meta), &p, &g->cl));
	ASSERT_OK(datadev_create(g->meta, 16, &g->dd));
	ASSERT_OK(client_core_ops.create_thin(g->cl, 0));
	ASSERT_OK(datadev_write(g->dd, 0, 5, 3, 1, &gen));
	ASSERT_EQ(gen, 1);
	ASSERT_OK(client_core_ops.insert(g->cl, 0, 5, 3));
	ASSERT_OK(client_core_ops.commit(g->cl));
}

static void rig_down(struct rig *g)
{
	client_core_ops.destroy(g->cl);
	datadev_destroy(g->dd);
	simdisk_destroy(g->meta);
}

/* Overwrite data block b behind the harness's back (FUA: durable). */
static void plant(struct rig *g, pd_block_t b, uint64_t dev, uint64_t v,
		  uint64_t gen)
{
	uint8_t buf[DD_BLOCK_SIZE];

	for (unsigned s = 0; s < DD_BLOCK_SIZE / DD_SECTOR; s++)
		dd_tag_put(buf + s * DD_SECTOR, dev, v, gen);
	ASSERT_OK(bdev_write(simdisk_bdev(datadev_disk(g->dd)), b, buf, BDEV_FUA));
}

/* A crash after everything: a marker puts every data op so far before
 * the cut's window (datadev.h DD5), so only the last data position is
 * checked. */
/* Zero data block b behind the harness's back (FUA: durable). */
static void trash(struct rig *g, pd_block_t b)
{
	uint8_t zero[DD_BLOCK_SIZE] = { 0 };

	ASSERT_OK(bdev_write(simdisk_bdev(datadev_disk(g->dd)), b, zero,
			     BDEV_FUA));
}

static int check(struct rig *g, char *msg, size_t len)
{
	uint64_t end, lo, hi;
	uint64_t n = simdisk_nr_ops(datadev_disk(g->dd));

	/* (datadev_window places the writes planted behind its back at the
	 * metadata log's length now, before the marker) */
	datadev_window(g->dd, simdisk_nr_ops(g->meta), &lo, &hi);
	ASSERT_OK(simdisk_mark(g->meta, TEST_MARK, 0));
	end = simdisk_nr_ops(g->meta);
	datadev_window(g->dd, end, &lo, &hi);
	ASSERT_EQ(lo, n);
	ASSERT_EQ(hi, n);
	msg[0] = 0;
	return datadev_check(g->dd, end, end, g->cl, msg, len);
}

TEST(datadev_check_passes_the_promised_tag)
{
	struct rig g;
	char msg[400];

	rig_up(&g);
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 0);
	rig_down(&g);
}

TEST(datadev_check_reports_a_wrong_tag)
{
	struct rig g;
	char msg[400];

	rig_up(&g);
	plant(&g, 3, 0, 9, 1);		/* another vblock's tag */
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "vblock 5 maps data block 3") != NULL);
	ASSERT_TRUE(strstr(msg, "dev 0 vblock 9 gen 1") != NULL);	/* found */
	ASSERT_TRUE(strstr(msg, "promises dev 0 vblock 5 gen 1") != NULL);
	rig_down(&g);
}

TEST(datadev_check_reports_an_older_tag_and_garbage)
{
	struct rig g;
	char msg[400];
	uint64_t gen;

	rig_up(&g);
	ASSERT_OK(datadev_write(g.dd, 0, 5, 3, 0, &gen));	/* gen 2 ... */
	ASSERT_OK(datadev_pre_commit(g.dd));			/* ... flushed */
	plant(&g, 3, 0, 5, 1);					/* back to gen 1 */
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "dev 0 vblock 5 gen 1;") != NULL);
	ASSERT_TRUE(strstr(msg, "gen 2 or newer") != NULL);
	plant(&g, 3, 0, 0, 0);
	memset(msg, 0, sizeof(msg));
	trash(&g, 3);
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "no tag") != NULL);
	rig_down(&g);
}

TEST(datadev_check_reports_a_pending_write_left_unflushed)
{
	struct rig g;
	char msg[400];
	uint64_t gen;

	rig_up(&g);
	/* (0, 6) -> block 4, written but never flushed, then committed: the
	 * durable content of block 4 is zeroes (DD1 broken by hand) */
	ASSERT_OK(datadev_write(g.dd, 0, 6, 4, 0, &gen));
	ASSERT_OK(client_core_ops.insert(g.cl, 0, 6, 4));
	ASSERT_OK(client_core_ops.commit(g.cl));
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "vblock 6 maps data block 4") != NULL);
	ASSERT_TRUE(strstr(msg, "durable content") != NULL);
	rig_down(&g);
}

/* DD5: a crash between two data writes with no metadata IO between
 * them.  Block 3 (committed, promised gen 1) is trashed on the media and
 * then rewritten in place by a FUA write: at the last data position the
 * block holds gen 2 and all is well, but a crash between the two writes
 * finds garbage.  The window of the metadata cut after the commit holds
 * both positions, and the check finds it. */
TEST(datadev_check_covers_a_crash_between_two_data_writes)
{
	uint64_t gen, c, lo, hi;
	char msg[400];
	struct rig g;

	rig_up(&g);
	c = simdisk_nr_ops(g.meta);		/* after the commit's flush */
	ASSERT_OK(datadev_write(g.dd, 0, 5, 3, 0, &gen));	/* gen 2 */
	ASSERT_OK(datadev_write(g.dd, 0, 5, 3, 1, &gen));	/* gen 3, FUA */
	datadev_window(g.dd, c, &lo, &hi);
	ASSERT_EQ(lo, 1);			/* after the gen 1 write */
	ASSERT_EQ(hi, 3);
	msg[0] = 0;
	ASSERT_EQ(datadev_check(g.dd, c, c - 1, g.cl, msg, sizeof(msg)), 0);
	trash(&g, 3);
	ASSERT_OK(datadev_write(g.dd, 0, 5, 3, 1, &gen));	/* gen 4, FUA */
	datadev_window(g.dd, c, &lo, &hi);
	ASSERT_EQ(hi, 5);
	ASSERT_EQ(datadev_check(g.dd, c, c - 1, g.cl, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "durable content") != NULL);
	ASSERT_TRUE(strstr(msg, "no tag") != NULL);
	rig_down(&g);
}

/* DD4: a data write whose next flush failed may be lost for good, so the
 * commit after it promises the write before it; DD3's failed write
 * stores nothing and takes no generation. */
TEST(datadev_failed_flush_and_write)
{
	uint64_t gen;
	char msg[400];
	struct rig g;

	rig_up(&g);
	ASSERT_OK(datadev_write(g.dd, 0, 5, 3, 0, &gen));	/* gen 2 */
	ASSERT_OK(simdisk_fail_nth(datadev_disk(g.dd), SD_FLUSH, 1, 0));
	ASSERT_ERR(datadev_pre_commit(g.dd), -EIO);
	ASSERT_OK(simdisk_fail_nth(datadev_disk(g.dd), SD_WRITE, 3, 0));
	ASSERT_ERR(datadev_write(g.dd, 0, 5, 3, 0, &gen), -EIO);
	ASSERT_OK(datadev_pre_commit(g.dd));	/* a good flush after */
	ASSERT_OK(client_core_ops.set_trans_id(g.cl, 0, 1));
	ASSERT_OK(client_core_ops.commit(g.cl));
	/* gen 2 may be gone: the durable gen 1 is what the commit promises */
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 0);
	ASSERT_OK(datadev_write(g.dd, 0, 5, 3, 0, &gen));
	ASSERT_EQ(gen, 3);			/* the failed write took none */
	ASSERT_OK(datadev_pre_commit(g.dd));
	plant(&g, 3, 0, 5, 2);			/* gen 3 lost: an older tag */
	ASSERT_EQ(check(&g, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "gen 3 or newer") != NULL);
	rig_down(&g);
}

TEST(datadev_tag_detects_damage)
{
	uint8_t sec[DD_SECTOR];
	struct dd_tag t;

	dd_tag_put(sec, 7, 8, 9);
	ASSERT_OK(dd_tag_get(sec, &t));
	ASSERT_EQ(t.dev, 7);
	ASSERT_EQ(t.vblock, 8);
	ASSERT_EQ(t.gen, 9);
	sec[16] ^= 1;
	ASSERT_ERR(dd_tag_get(sec, &t), -EILSEQ);
}

TEST(scenario_write_ops)
{
	struct scenario *s;
	char err[256], buf[64];

	ASSERT_OK(scenario_parse("w", "create 0\nwrite 0 3..5 fua\nwrite 0 7\n",
				 &s, err, sizeof(err)));
	ASSERT_EQ(s->nr_ops, 3);
	ASSERT_EQ(s->ops[1].kind, OP_WRITE);
	ASSERT_EQ(s->ops[1].fua, 1);
	ASSERT_EQ(s->ops[2].fua, 0);
	op_format(&s->ops[1], buf, sizeof(buf));
	ASSERT_TRUE(!strcmp(buf, "write 0 3..5 fua"));
	op_format(&s->ops[2], buf, sizeof(buf));
	ASSERT_TRUE(!strcmp(buf, "write 0 7"));
	scenario_free(s);
	ASSERT_ERR(scenario_parse("w", "write 0 1 sync\n", &s, err, sizeof(err)),
		   -EINVAL);
	ASSERT_TRUE(strstr(err, "w:1") != NULL);
}
