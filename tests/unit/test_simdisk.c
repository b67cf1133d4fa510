/* tests/unit/test_simdisk.c - the simdisk crash model (simdisk.h D1-D4,
 * simdisk.c SD1-SD4): what crash states contain, faults, the op log, the
 * cutter, image isolation, export, and what it all costs in memory.
 *
 * Blocks are written with one tag byte per 512-byte sector (memset), so an
 * image's block says which write each of its sectors came from.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#include "bdev.h"
#include "prng.h"
#include "simdisk.h"
#include "test.h"
#include "util.h"

#ifndef SD_MARKER_RESIZE
#define SD_MARKER_RESIZE (-1)	/* simdisk.c: a logged resize */
#endif

#if defined(__SANITIZE_ADDRESS__)
#define PD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PD_ASAN 1
#endif
#endif

#define BS	4096u
#define NSECT	(BS / PD_SECTOR_SIZE)

static struct simdisk *mkdisk(pd_block_t nr)
{
	struct simdisk *sd;

	ASSERT_OK(simdisk_create(BS, nr, &sd));
	return sd;
}

static void wr(struct simdisk *sd, pd_block_t b, unsigned tag, unsigned flags)
{
	uint8_t buf[BS];

	memset(buf, tag, BS);
	ASSERT_OK(bdev_write(simdisk_bdev(sd), b, buf, flags));
}

static void fl(struct simdisk *sd)
{
	ASSERT_OK(bdev_flush(simdisk_bdev(sd)));
}

/* The tag of block b, or -1 if its sectors differ; checks that every sector
 * is uniform (tearing only ever at sector boundaries). */
static int tag_of(struct bdev *bd, pd_block_t b, int sect_tags[NSECT])
{
	uint8_t buf[BS];
	int tag = -2;

	ASSERT_OK(bdev_read(bd, b, buf));
	for (unsigned s = 0; s < NSECT; s++) {
		const uint8_t *p = buf + s * PD_SECTOR_SIZE;

		for (unsigned i = 1; i < PD_SECTOR_SIZE; i++)
			if (p[i] != p[0])
				test_fail(__FILE__, __LINE__,
					  "block %llu sector %u mixed inside",
					  (unsigned long long)b, s);
		if (sect_tags)
			sect_tags[s] = p[0];
		if (tag == -2)
			tag = p[0];
		else if (tag != p[0])
			tag = -1;
	}
	return tag;
}

/* An image at the cutter's cut with pending write i landed iff bit i. */
static struct bdev *image_bits(struct sd_cutter *c, uint64_t bits)
{
	size_t n = sd_cutter_nr_pending(c);
	uint8_t landed[64] = { 0 };
	struct sd_choice ch = { n, landed, NULL };
	struct bdev *im;

	ASSERT_TRUE(n <= 64);
	for (size_t i = 0; i < n; i++)
		landed[i] = (bits >> i) & 1;
	ASSERT_OK(sd_cutter_image(c, &ch, &im));
	return im;
}

static struct sd_cutter *cutter_at(struct simdisk *sd, uint64_t cut)
{
	struct sd_cutter *c;

	ASSERT_OK(sd_cutter_create(sd, &c));
	ASSERT_OK(sd_cutter_seek(c, cut));
	ASSERT_UEQ(sd_cutter_cut(c), cut);
	return c;
}

static int is_pending(const struct sd_cutter *c, uint64_t seq)
{
	const struct sd_pending *p = sd_cutter_pending(c);

	for (size_t i = 0; i < sd_cutter_nr_pending(c); i++)
		if (p[i].seq == seq)
			return 1;
	return 0;
}

TEST(simdisk_flushed_write_survives_every_state)
{
	struct simdisk *sd = mkdisk(8);

	simdisk_log_reads(sd, 0);
	wr(sd, 0, 1, 0);		/* seq 0 */
	fl(sd);				/* seq 1 */
	wr(sd, 1, 2, 0);		/* seq 2 */
	wr(sd, 2, 3, 0);		/* seq 3 */
	wr(sd, 0, 4, 0);		/* seq 4: pending over a durable block */
	for (uint64_t cut = 2; cut <= 5; cut++) {
		struct sd_cutter *c = cutter_at(sd, cut);
		size_t n = sd_cutter_nr_pending(c);

		ASSERT_UEQ(n, cut - 2);
		for (uint64_t bits = 0; bits < (1ull << n); bits++) {
			struct bdev *im = image_bits(c, bits);
			int t = tag_of(im, 0, NULL);

			ASSERT_TRUE(t == 1 || (cut == 5 && t == 4));
			ASSERT_EQ(t == 4, cut == 5 && (bits & 4));
			bdev_destroy(im);
		}
		sd_cutter_destroy(c);
	}
	/* before the flush the write is pending, so it can be lost */
	struct sd_cutter *c = cutter_at(sd, 1);
	struct bdev *im = image_bits(c, 0);

	ASSERT_EQ(tag_of(im, 0, NULL), 0);
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_pending_write_present_and_absent)
{
	struct simdisk *sd = mkdisk(8);
	struct sd_cutter *c;
	struct bdev *im;

	wr(sd, 5, 7, 0);
	c = cutter_at(sd, 1);
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);
	ASSERT_UEQ(sd_cutter_pending(c)[0].seq, 0);
	ASSERT_UEQ(sd_cutter_pending(c)[0].block, 5);
	im = image_bits(c, 1);
	ASSERT_EQ(tag_of(im, 5, NULL), 7);
	bdev_destroy(im);
	im = image_bits(c, 0);
	ASSERT_EQ(tag_of(im, 5, NULL), 0);
	bdev_destroy(im);
	/* the cut before the write has nothing pending */
	ASSERT_OK(sd_cutter_seek(c, 0));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 0);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_two_writes_of_a_block_land_either_way)
{
	struct simdisk *sd = mkdisk(4);
	struct sd_cutter *c;
	int seen[256] = { 0 };

	wr(sd, 1, 10, 0);
	fl(sd);
	wr(sd, 1, 11, 0);
	wr(sd, 1, 12, 0);
	c = cutter_at(sd, simdisk_nr_ops(sd));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 2);
	for (uint64_t bits = 0; bits < 4; bits++) {
		struct bdev *im = image_bits(c, bits);
		int t = tag_of(im, 1, NULL);

		/* D3: of the landed ones, the latest in log order */
		ASSERT_EQ(t, bits & 2 ? 12 : bits & 1 ? 11 : 10);
		seen[t]++;
		bdev_destroy(im);
	}
	ASSERT_TRUE(seen[10] && seen[11] && seen[12]);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_fua_write_survives)
{
	struct simdisk *sd = mkdisk(8);
	struct sd_cutter *c;

	wr(sd, 0, 1, 0);
	wr(sd, 2, 2, 0);
	wr(sd, 0, 3, BDEV_FUA);		/* supersedes the pending write of 0 */
	wr(sd, 4, 4, BDEV_FUA);
	ASSERT_EQ(simdisk_op(sd, 2)->kind, SD_WRITE_FUA);
	c = cutter_at(sd, simdisk_nr_ops(sd));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);
	ASSERT_UEQ(sd_cutter_pending(c)[0].block, 2);
	for (uint64_t bits = 0; bits < 2; bits++) {
		struct bdev *im = image_bits(c, bits);

		ASSERT_EQ(tag_of(im, 0, NULL), 3);
		ASSERT_EQ(tag_of(im, 4, NULL), 4);
		ASSERT_EQ(tag_of(im, 2, NULL), bits ? 2 : 0);
		bdev_destroy(im);
	}
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_subsets_give_2_to_the_k_images)
{
	enum { K = 7 };
	static uint8_t seen[1u << K][K];
	struct simdisk *sd = mkdisk(32);
	struct sd_cutter *c;

	wr(sd, 20, 99, 0);
	fl(sd);
	for (unsigned i = 0; i < K; i++)
		wr(sd, 3 * i + 1, 30 + i, 0);
	c = cutter_at(sd, simdisk_nr_ops(sd));
	ASSERT_UEQ(sd_cutter_nr_pending(c), K);
	for (uint64_t bits = 0; bits < (1u << K); bits++) {
		struct bdev *im = image_bits(c, bits);

		for (unsigned i = 0; i < K; i++) {
			int t = tag_of(im, 3 * i + 1, NULL);

			ASSERT_EQ(t, (bits >> i) & 1 ? 30 + (int)i : 0);
			seen[bits][i] = (uint8_t)t;
		}
		ASSERT_EQ(tag_of(im, 20, NULL), 99);
		ASSERT_EQ(tag_of(im, 0, NULL), 0);
		bdev_destroy(im);
	}
	/* every pair of images differs: exactly 2^K distinct contents */
	unsigned distinct = 0;
	for (unsigned a = 0; a < (1u << K); a++) {
		unsigned b;

		for (b = 0; b < a; b++)
			if (!memcmp(seen[a], seen[b], K))
				break;
		distinct += b == a;
	}
	ASSERT_EQ(distinct, 1u << K);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_torn_write_only_at_sectors_and_only_when_asked)
{
	struct simdisk *sd = mkdisk(4);
	struct sd_cutter *c;
	struct prng p;
	struct bdev *im;
	int st[NSECT];

	prng_seed(&p, test_seed(11));
	wr(sd, 2, 1, 0);
	fl(sd);
	wr(sd, 2, 2, 0);
	c = cutter_at(sd, simdisk_nr_ops(sd));
	/* no sectors[]: whole writes only */
	for (uint64_t bits = 0; bits < 2; bits++) {
		im = image_bits(c, bits);
		ASSERT_EQ(tag_of(im, 2, NULL), bits ? 2 : 1);
		bdev_destroy(im);
	}
	/* sectors 0-3 landed, 4-7 did not */
	uint8_t landed = 1;
	uint64_t mask = 0x0f;
	struct sd_choice ch = { 1, &landed, &mask };

	ASSERT_OK(sd_cutter_image(c, &ch, &im));
	ASSERT_EQ(tag_of(im, 2, st), -1);
	for (unsigned s = 0; s < NSECT; s++)
		ASSERT_EQ(st[s], s < 4 ? 2 : 1);
	bdev_destroy(im);
	/* any mask: each sector old or new as the mask says; landed=0 ignores
	 * the mask */
	for (int i = 0; i < 200; i++) {
		mask = prng_next(&p);
		landed = (uint8_t)(i & 1);
		ASSERT_OK(sd_cutter_image(c, &ch, &im));
		tag_of(im, 2, st);
		for (unsigned s = 0; s < NSECT; s++)
			ASSERT_EQ(st[s], landed && (mask >> s & 1) ? 2 : 1);
		bdev_destroy(im);
	}
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_torn_write_lands_on_earlier_landed_write)
{
	struct simdisk *sd = mkdisk(4);
	struct sd_cutter *c;
	struct bdev *im;
	int st[NSECT];

	wr(sd, 0, 5, 0);
	wr(sd, 0, 6, 0);
	c = cutter_at(sd, 2);
	uint8_t landed[2] = { 1, 1 };
	uint64_t mask[2] = { 0xff, 0xf0 };
	struct sd_choice ch = { 2, landed, mask };

	ASSERT_OK(sd_cutter_image(c, &ch, &im));
	tag_of(im, 0, st);
	for (unsigned s = 0; s < NSECT; s++)
		ASSERT_EQ(st[s], s < 4 ? 5 : 6);
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_failed_flush_can_lose_acknowledged_write)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	struct sd_cutter *c;
	struct bdev *im;

	simdisk_log_reads(sd, 0);		/* seqs below are writes/flushes */
	ASSERT_OK(simdisk_fail_nth(sd, SD_FLUSH, 1, 0));
	wr(sd, 0, 1, 0);			/* seq 0 */
	ASSERT_ERR(bdev_flush(bd), -EIO);	/* seq 1 */
	ASSERT_TRUE(simdisk_op(sd, 1)->failed);
	wr(sd, 1, 2, 0);			/* seq 2 */
	fl(sd);					/* seq 3: good */
	ASSERT_EQ(tag_of(bd, 0, NULL), 1);	/* D1: still reads back */
	c = cutter_at(sd, 4);
	/* the write before the failed flush stays open after a good flush */
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);
	ASSERT_TRUE(is_pending(c, 0));
	im = image_bits(c, 0);
	ASSERT_EQ(tag_of(im, 0, NULL), 0);	/* lost for good */
	ASSERT_EQ(tag_of(im, 1, NULL), 2);
	bdev_destroy(im);
	im = image_bits(c, 1);
	ASSERT_EQ(tag_of(im, 0, NULL), 1);
	bdev_destroy(im);
	/* at the failed flush itself nothing became durable */
	ASSERT_OK(sd_cutter_seek(c, 2));
	ASSERT_TRUE(is_pending(c, 0));
	/* a later durable write of the block ends the doubt */
	ASSERT_OK(sd_cutter_seek(c, 4));
	wr(sd, 2, 3, 0);			/* seq 4 */
	fl(sd);					/* seq 5 */
	ASSERT_OK(sd_cutter_seek(c, 6));
	ASSERT_TRUE(is_pending(c, 0));		/* block 0 not rewritten yet */
	wr(sd, 0, 4, 0);			/* seq 6 */
	ASSERT_OK(sd_cutter_seek(c, 7));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 2);	/* both writes of block 0 */
	fl(sd);					/* seq 7 */
	ASSERT_OK(sd_cutter_seek(c, 8));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 0);
	im = image_bits(c, 0);
	ASSERT_EQ(tag_of(im, 0, NULL), 4);
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_fua_replaces_doubtful_write)
{
	struct simdisk *sd = mkdisk(8);
	struct sd_cutter *c;

	ASSERT_OK(simdisk_fail_nth(sd, SD_FLUSH, 1, 0));
	wr(sd, 0, 1, 0);
	wr(sd, 1, 2, 0);
	ASSERT_ERR(bdev_flush(simdisk_bdev(sd)), -EIO);
	wr(sd, 0, 3, BDEV_FUA);
	c = cutter_at(sd, simdisk_nr_ops(sd));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);
	ASSERT_UEQ(sd_cutter_pending(c)[0].block, 1);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_failed_write_stores_nothing)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	struct sd_cutter *c;
	uint8_t buf[BS];

	ASSERT_OK(simdisk_fail_nth(sd, SD_WRITE, 2, 0));
	wr(sd, 3, 1, 0);
	memset(buf, 2, BS);
	ASSERT_ERR(bdev_write(bd, 3, buf, 0), -EIO);
	ASSERT_ERR(simdisk_fail_nth(sd, SD_MARKER, 1, 0), -EINVAL);
	ASSERT_EQ(tag_of(bd, 3, NULL), 1);
	ASSERT_EQ(simdisk_op(sd, 1)->kind, SD_WRITE);
	ASSERT_TRUE(simdisk_op(sd, 1)->failed);
	ASSERT_TRUE(!simdisk_op(sd, 0)->failed);
	fl(sd);
	c = cutter_at(sd, 2);
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);	/* only the good write */
	ASSERT_TRUE(is_pending(c, 0));
	for (uint64_t bits = 0; bits < 2; bits++) {
		struct bdev *im = image_bits(c, bits);

		ASSERT_TRUE(tag_of(im, 3, NULL) != 2);
		bdev_destroy(im);
	}
	ASSERT_OK(sd_cutter_seek(c, simdisk_nr_ops(sd)));
	struct bdev *im = image_bits(c, 0);
	ASSERT_EQ(tag_of(im, 3, NULL), 1);
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(simdisk_fail_nth_once_vs_sticky)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	uint8_t buf[BS] = { 0 };
	int r[6];
	uint64_t seq = 99;

	ASSERT_OK(simdisk_fail_nth(sd, SD_WRITE, 3, 0));
	ASSERT_TRUE(!simdisk_plan_fired(sd, &seq));
	ASSERT_UEQ(seq, 99);
	for (int i = 0; i < 6; i++)
		r[i] = bdev_write(bd, 0, buf, i & 1 ? BDEV_FUA : 0);
	for (int i = 0; i < 6; i++)
		ASSERT_ERR(r[i], i == 2 ? -EIO : 0);
	ASSERT_UEQ(simdisk_count(sd, SD_WRITE), 6);
	/* the first op the plan failed: write 3, log entry 2 */
	ASSERT_TRUE(simdisk_plan_fired(sd, &seq));
	ASSERT_UEQ(seq, 2);
	ASSERT_TRUE(simdisk_op(sd, seq)->failed);

	ASSERT_OK(simdisk_fail_nth(sd, SD_WRITE, 8, 1));
	for (int i = 0; i < 5; i++)
		ASSERT_ERR(bdev_write(bd, 1, buf, 0), i < 1 ? 0 : -EIO);
	ASSERT_UEQ(simdisk_count(sd, SD_WRITE), 11);

	ASSERT_OK(simdisk_fail_nth(sd, SD_READ, 1, 1));
	ASSERT_OK(simdisk_fail_nth(sd, SD_FLUSH, 2, 0));
	ASSERT_ERR(bdev_read(bd, 0, buf), -EIO);
	ASSERT_ERR(bdev_read(bd, 0, buf), -EIO);
	ASSERT_OK(bdev_flush(bd));
	ASSERT_ERR(bdev_flush(bd), -EIO);
	ASSERT_OK(bdev_flush(bd));
	ASSERT_UEQ(simdisk_count(sd, SD_READ), 2);
	ASSERT_UEQ(simdisk_count(sd, SD_FLUSH), 3);
	ASSERT_TRUE(simdisk_op(sd, simdisk_nr_ops(sd) - 1)->failed == 0);
	ASSERT_TRUE(simdisk_op(sd, simdisk_nr_ops(sd) - 2)->failed == 1);

	simdisk_clear_faults(sd);
	ASSERT_OK(bdev_write(bd, 1, buf, 0));
	ASSERT_OK(bdev_read(bd, 0, buf));
	ASSERT_ERR(simdisk_fail_nth(sd, SD_WRITE, 0, 0), -EINVAL);
	/* the first failure stays recorded after the plan is cleared */
	ASSERT_TRUE(simdisk_plan_fired(sd, &seq));
	ASSERT_UEQ(seq, 2);
	simdisk_destroy(sd);
}

TEST(simdisk_power_cut)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	uint8_t buf[BS];

	simdisk_cut_after(sd, 2);
	wr(sd, 0, 1, 0);
	simdisk_mark(sd, 1, 5);
	ASSERT_TRUE(!simdisk_power_is_cut(sd));
	wr(sd, 1, 2, 0);			/* entry 2: the last */
	ASSERT_TRUE(simdisk_power_is_cut(sd));
	memset(buf, 3, BS);
	ASSERT_ERR(bdev_write(bd, 2, buf, 0), -EIO);
	ASSERT_ERR(bdev_write(bd, 2, buf, BDEV_FUA), -EIO);
	ASSERT_ERR(bdev_flush(bd), -EIO);
	ASSERT_ERR(bdev_read(bd, 0, buf), -EIO);
	ASSERT_ERR(bdev_resize(bd, 20), -EIO);
	simdisk_mark(sd, 1, 6);
	ASSERT_UEQ(simdisk_nr_ops(sd), 3);	/* nothing after the cut logged */
	ASSERT_UEQ(simdisk_count(sd, SD_WRITE), 2);
	ASSERT_TRUE(simdisk_op(sd, 3) == NULL);
	/* a cut at an entry already passed takes effect at once */
	simdisk_clear_faults(sd);
	ASSERT_TRUE(!simdisk_power_is_cut(sd));
	wr(sd, 2, 4, 0);
	ASSERT_UEQ(simdisk_nr_ops(sd), 4);
	simdisk_cut_after(sd, 1);
	ASSERT_TRUE(simdisk_power_is_cut(sd));
	simdisk_destroy(sd);
}

TEST(simdisk_markers_and_log)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	uint8_t buf[BS];
	struct sd_cutter *c;
	const struct sd_op *op;

	simdisk_mark(sd, 1, 7);			/* 0 */
	wr(sd, 4, 9, 0);			/* 1 */
	ASSERT_OK(bdev_read(bd, 4, buf));	/* 2 */
	simdisk_mark(sd, 2, 7);			/* 3 */
	simdisk_log_reads(sd, 0);
	ASSERT_OK(bdev_read(bd, 4, buf));	/* not logged */
	ASSERT_UEQ(simdisk_nr_ops(sd), 4);
	ASSERT_UEQ(simdisk_count(sd, SD_READ), 2);
	op = simdisk_op(sd, 0);
	ASSERT_EQ(op->kind, SD_MARKER);
	ASSERT_EQ(op->marker, 1);
	ASSERT_UEQ(op->value, 7);
	ASSERT_TRUE(op->data == NULL);
	op = simdisk_op(sd, 1);
	ASSERT_EQ(op->kind, SD_WRITE);
	ASSERT_UEQ(op->block, 4);
	ASSERT_TRUE(op->data && op->data[0] == 9 && op->data[BS - 1] == 9);
	op = simdisk_op(sd, 2);
	ASSERT_EQ(op->kind, SD_READ);
	ASSERT_UEQ(op->block, 4);
	ASSERT_EQ(simdisk_op(sd, 3)->marker, 2);
	for (uint64_t i = 0; i < 4; i++)
		ASSERT_UEQ(simdisk_op(sd, i)->seq, i);
	ASSERT_STREQ(sd_op_kind_name(SD_WRITE_FUA), "write-fua");
	ASSERT_STREQ(sd_op_kind_name(SD_MARKER), "marker");
	/* markers and reads are cut points that change nothing */
	c = cutter_at(sd, 1);
	ASSERT_UEQ(sd_cutter_nr_pending(c), 0);
	for (uint64_t cut = 2; cut <= 4; cut++) {
		ASSERT_OK(sd_cutter_seek(c, cut));
		ASSERT_UEQ(sd_cutter_nr_pending(c), 1);
	}
	ASSERT_ERR(sd_cutter_seek(c, 5), -EINVAL);
	sd_cutter_destroy(c);
	/* SD4: entries never move, however long the log grows */
	op = simdisk_op(sd, 1);
	for (int i = 0; i < 5000; i++)
		simdisk_mark(sd, 3, (uint64_t)i);
	ASSERT_TRUE(op == simdisk_op(sd, 1));
	ASSERT_UEQ(op->block, 4);
	ASSERT_UEQ(simdisk_op(sd, 4003)->value, 3999);
	simdisk_destroy(sd);
}

TEST(simdisk_log_epochs)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	/* op:    w  f  w  F(fail)  wF f  m  w */
	const uint64_t want[] = { 0, 0, 1, 1, 1, 1, 2, 2 };

	ASSERT_OK(simdisk_fail_nth(sd, SD_FLUSH, 2, 0));
	wr(sd, 0, 1, 0);
	fl(sd);
	wr(sd, 1, 1, 0);
	ASSERT_ERR(bdev_flush(bd), -EIO);
	wr(sd, 2, 1, BDEV_FUA);
	fl(sd);
	simdisk_mark(sd, 3, 0);
	wr(sd, 3, 1, 0);
	ASSERT_UEQ(simdisk_nr_ops(sd), PD_ARRAY_SIZE(want));
	for (uint64_t i = 0; i < simdisk_nr_ops(sd); i++)
		ASSERT_UEQ(simdisk_op(sd, i)->epoch, want[i]);
	simdisk_destroy(sd);
}

/* A digest of an image: its blocks' tags packed, for comparing states. */
static uint64_t digest(struct bdev *im, pd_block_t nr)
{
	uint64_t h = 1469598103934665603ull;
	int st[NSECT];

	for (pd_block_t b = 0; b < nr; b++) {
		tag_of(im, b, st);
		for (unsigned s = 0; s < NSECT; s++)
			h = (h ^ (uint64_t)st[s]) * 1099511628211ull;
	}
	return h ^ bdev_nr_blocks(im);
}

static void random_workload(struct simdisk *sd, struct prng *p, int nops,
			    pd_block_t nr)
{
	struct bdev *bd = simdisk_bdev(sd);

	for (int i = 0; i < nops; i++) {
		uint64_t x = prng_below(p, 100);
		uint8_t buf[BS];
		int r;

		memset(buf, 1 + i % 250, BS);
		if (x < 70)
			r = bdev_write(bd, prng_below(p, nr), buf, 0);
		else if (x < 78)
			r = bdev_write(bd, prng_below(p, nr), buf, BDEV_FUA);
		else if (x < 95)
			r = bdev_flush(bd);
		else
			r = (simdisk_mark(sd, 1, (uint64_t)i), 0);
		ASSERT_TRUE(r == 0 || r == -EIO);
	}
}

/* SD2: the state at a cut does not depend on how the cutter got there. */
TEST(simdisk_cutter_seek_forward_and_back_agree)
{
	enum { NOPS = 300, NR = 24, PER = 4 };
	static uint64_t fwd[NOPS + 1][PER];
	struct simdisk *sd = mkdisk(NR);
	struct sd_cutter *c, *c2;
	struct prng p;
	uint64_t seed = test_seed(5);

	prng_seed(&p, seed);
	ASSERT_OK(simdisk_fail_nth(sd, SD_FLUSH, 7, 0));	/* a doubtful set */
	ASSERT_OK(simdisk_fail_nth(sd, SD_WRITE, 40, 0));
	random_workload(sd, &p, NOPS, NR);
	ASSERT_UEQ(simdisk_nr_ops(sd), NOPS);
	ASSERT_OK(sd_cutter_create(sd, &c));
	ASSERT_OK(sd_cutter_create(sd, &c2));
	for (uint64_t cut = 0; cut <= NOPS; cut++) {
		ASSERT_OK(sd_cutter_seek(c, cut));
		for (int k = 0; k < PER; k++) {
			uint64_t bits = k == 0 ? 0 : k == 1 ? ~0ull :
					prng_derive(seed, cut * PER + k);
			struct bdev *im = image_bits(c, bits);

			fwd[cut][k] = digest(im, NR);
			bdev_destroy(im);
		}
	}
	/* backwards with the same cutter, random order with another */
	for (uint64_t i = 0; i <= NOPS; i++) {
		uint64_t cut = NOPS - i, rc = prng_below(&p, NOPS + 1);

		ASSERT_OK(sd_cutter_seek(c, cut));
		ASSERT_OK(sd_cutter_seek(c2, rc));
		for (int k = 0; k < PER; k++) {
			uint64_t bits = k == 0 ? 0 : k == 1 ? ~0ull :
					prng_derive(seed, cut * PER + k);
			struct bdev *im = image_bits(c, bits);

			ASSERT_UEQ(digest(im, NR), fwd[cut][k]);
			bdev_destroy(im);
			bits = k == 0 ? 0 : k == 1 ? ~0ull :
			       prng_derive(seed, rc * PER + k);
			im = image_bits(c2, bits);
			ASSERT_UEQ(digest(im, NR), fwd[rc][k]);
			bdev_destroy(im);
		}
	}
	/* all-landed at the end equals what the disk reads now (D1) */
	ASSERT_OK(sd_cutter_seek(c, NOPS));
	struct bdev *im = image_bits(c, ~0ull);
	ASSERT_UEQ(digest(im, NR), digest(simdisk_bdev(sd), NR));
	bdev_destroy(im);
	sd_cutter_destroy(c2);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

/* SD3: images write only to their own overlay. */
TEST(simdisk_image_writes_are_private)
{
	struct simdisk *sd = mkdisk(8);
	struct sd_cutter *c;
	struct bdev *a, *b;
	uint8_t buf[BS];

	wr(sd, 0, 1, 0);
	fl(sd);
	wr(sd, 1, 2, 0);
	c = cutter_at(sd, 3);
	a = image_bits(c, 1);
	b = image_bits(c, 1);
	ASSERT_TRUE(a->caps & BDEV_ATOMIC_BLOCK);
	ASSERT_ERR(sd_cutter_seek(c, 1), -EBUSY);	/* images alive */
	memset(buf, 50, BS);
	ASSERT_OK(bdev_write(a, 0, buf, 0));
	ASSERT_OK(bdev_write(a, 1, buf, BDEV_FUA));
	ASSERT_OK(bdev_write(a, 7, buf, 0));
	ASSERT_OK(bdev_flush(a));
	memset(buf, 51, BS);
	ASSERT_OK(bdev_write(a, 7, buf, 0));	/* rewrite in the overlay */
	ASSERT_EQ(tag_of(a, 0, NULL), 50);
	ASSERT_EQ(tag_of(a, 1, NULL), 50);
	ASSERT_EQ(tag_of(a, 7, NULL), 51);
	ASSERT_EQ(tag_of(b, 0, NULL), 1);
	ASSERT_EQ(tag_of(b, 1, NULL), 2);
	ASSERT_EQ(tag_of(b, 7, NULL), 0);
	ASSERT_UEQ(simdisk_nr_ops(sd), 3);	/* nothing reached the log */
	ASSERT_EQ(tag_of(simdisk_bdev(sd), 0, NULL), 1);
	ASSERT_ERR(bdev_write(a, 8, buf, 0), -EINVAL);
	/* an image resizes on its own */
	ASSERT_OK(bdev_resize(a, 1));
	ASSERT_OK(bdev_resize(a, 16));
	ASSERT_EQ(tag_of(a, 0, NULL), 50);
	ASSERT_EQ(tag_of(a, 1, NULL), 0);
	ASSERT_EQ(tag_of(a, 7, NULL), 0);
	ASSERT_EQ(tag_of(a, 15, NULL), 0);
	ASSERT_UEQ(bdev_nr_blocks(b), 8);
	ASSERT_EQ(tag_of(b, 1, NULL), 2);
	bdev_destroy(a);
	/* the cutter may go first; the image keeps what it needs */
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
	ASSERT_EQ(tag_of(b, 0, NULL), 1);
	ASSERT_EQ(tag_of(b, 1, NULL), 2);
	bdev_destroy(b);
}

TEST(simdisk_image_bad_choice)
{
	struct simdisk *sd = mkdisk(8);
	struct sd_cutter *c;
	struct bdev *im;
	uint8_t landed[2] = { 1, 1 };
	struct sd_choice ch = { 2, landed, NULL };

	wr(sd, 0, 1, 0);
	c = cutter_at(sd, 1);
	ASSERT_ERR(sd_cutter_image(c, &ch, &im), -EINVAL);
	ch.nr = 1;
	ch.landed = NULL;
	ASSERT_ERR(sd_cutter_image(c, &ch, &im), -EINVAL);
	ASSERT_ERR(sd_cutter_image(c, NULL, &im), -EINVAL);
	ch.landed = landed;
	ASSERT_OK(sd_cutter_image(c, &ch, &im));
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
	ASSERT_ERR(simdisk_create(1000, 8, &sd), -EINVAL);
	ASSERT_ERR(simdisk_create(65536, 8, &sd), -EINVAL);
}

TEST(simdisk_resize_is_logged_and_seen_by_crash_states)
{
	struct simdisk *sd = mkdisk(4);
	struct bdev *bd = simdisk_bdev(sd);
	struct sd_cutter *c;
	struct bdev *im;
	const struct sd_op *op;

	wr(sd, 3, 1, 0);
	fl(sd);
	wr(sd, 2, 2, 0);			/* pending, 2 */
	ASSERT_OK(bdev_resize(bd, 10));		/* 3 */
	op = simdisk_op(sd, 3);
	ASSERT_EQ(op->kind, SD_MARKER);
	ASSERT_EQ(op->marker, SD_MARKER_RESIZE);
	ASSERT_UEQ(op->value, 10);
	wr(sd, 9, 3, 0);			/* 4 */
	ASSERT_OK(bdev_resize(bd, 3));		/* 5: drops block 3 */
	ASSERT_OK(bdev_resize(bd, 6));		/* 6 */
	c = cutter_at(sd, 3);
	im = image_bits(c, 1);
	ASSERT_UEQ(bdev_nr_blocks(im), 4);
	ASSERT_EQ(tag_of(im, 3, NULL), 1);
	bdev_destroy(im);
	ASSERT_OK(sd_cutter_seek(c, 5));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 2);
	im = image_bits(c, 3);
	ASSERT_UEQ(bdev_nr_blocks(im), 10);	/* growing is visible */
	ASSERT_EQ(tag_of(im, 9, NULL), 3);
	bdev_destroy(im);
	ASSERT_OK(sd_cutter_seek(c, 7));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);	/* block 9's write cut off */
	im = image_bits(c, 1);
	ASSERT_UEQ(bdev_nr_blocks(im), 6);
	ASSERT_EQ(tag_of(im, 3, NULL), 0);	/* shrunk away, grown back */
	ASSERT_EQ(tag_of(im, 2, NULL), 2);
	bdev_destroy(im);
	ASSERT_EQ(tag_of(bd, 3, NULL), 0);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

static void write_tagged_file(const char *path, pd_block_t nr)
{
	uint8_t buf[BS];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ASSERT_TRUE(fd >= 0);
	for (pd_block_t b = 0; b < nr; b++) {
		memset(buf, b % 3 ? (int)(100 + b) : 0, BS);
		ASSERT_UEQ(pwrite(fd, buf, BS, (off_t)(b * BS)), BS);
	}
	/* a half block at the end */
	memset(buf, 77, BS / 2);
	ASSERT_UEQ(pwrite(fd, buf, BS / 2, (off_t)(nr * BS)), BS / 2);
	ASSERT_OK(close(fd));
}

TEST(simdisk_export_and_reload)
{
	char path[512], path2[512], path3[512];
	struct simdisk *sd, *sd2;
	struct sd_cutter *c;
	struct bdev *fb, *im;
	uint8_t a[BS], b[BS];

	snprintf(path, sizeof(path), "%s/sd.img", test_tmpdir());
	snprintf(path2, sizeof(path2), "%s/im.img", test_tmpdir());
	snprintf(path3, sizeof(path3), "%s/base.img", test_tmpdir());
	sd = mkdisk(64);
	for (unsigned i = 0; i < 40; i++)
		wr(sd, (i * 7) % 64, 1 + i, i % 5 == 0 ? BDEV_FUA : 0);
	fl(sd);
	wr(sd, 63, 200, 0);
	ASSERT_OK(simdisk_export(sd, path));
	ASSERT_OK(bdev_file_open(path, BS, 0, BDEV_FILE_READONLY, &fb));
	ASSERT_UEQ(bdev_nr_blocks(fb), 64);
	for (pd_block_t blk = 0; blk < 64; blk++) {
		ASSERT_OK(bdev_read(simdisk_bdev(sd), blk, a));
		ASSERT_OK(bdev_read(fb, blk, b));
		ASSERT_MEMEQ(a, b, BS);
	}
	bdev_destroy(fb);
	/* a crash image exports its own content */
	c = cutter_at(sd, simdisk_nr_ops(sd));
	im = image_bits(c, 0);
	ASSERT_OK(bdev_export(im, path2));
	ASSERT_OK(bdev_file_open(path2, BS, 0, 0, &fb));
	ASSERT_EQ(tag_of(fb, 63, NULL), tag_of(im, 63, NULL));
	ASSERT_TRUE(tag_of(fb, 63, NULL) != 200);
	for (pd_block_t blk = 0; blk < 64; blk++) {
		ASSERT_OK(bdev_read(im, blk, a));
		ASSERT_OK(bdev_read(fb, blk, b));
		ASSERT_MEMEQ(a, b, BS);
	}
	bdev_destroy(fb);
	bdev_destroy(im);
	sd_cutter_destroy(c);
	/* reloading the export gives a disk whose base is that content */
	ASSERT_OK(simdisk_create_from_file(path, BS, 0, &sd2));
	ASSERT_UEQ(bdev_nr_blocks(simdisk_bdev(sd2)), 64);
	c = cutter_at(sd2, 0);
	im = image_bits(c, 0);
	for (pd_block_t blk = 0; blk < 64; blk++) {
		ASSERT_OK(bdev_read(simdisk_bdev(sd), blk, a));
		ASSERT_OK(bdev_read(im, blk, b));
		ASSERT_MEMEQ(a, b, BS);
	}
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd2);
	simdisk_destroy(sd);
	/* a file with a partial last block: rounded up, padded with zeroes */
	write_tagged_file(path3, 9);
	ASSERT_OK(simdisk_create_from_file(path3, BS, 4, &sd2));
	ASSERT_UEQ(bdev_nr_blocks(simdisk_bdev(sd2)), 10);
	ASSERT_EQ(tag_of(simdisk_bdev(sd2), 3, NULL), 0);
	ASSERT_EQ(tag_of(simdisk_bdev(sd2), 4, NULL), 104);
	ASSERT_EQ(tag_of(simdisk_bdev(sd2), 9, NULL), -1);
	simdisk_destroy(sd2);
	ASSERT_OK(simdisk_create_from_file(path3, BS, 20, &sd2));
	ASSERT_UEQ(bdev_nr_blocks(simdisk_bdev(sd2)), 20);
	ASSERT_EQ(tag_of(simdisk_bdev(sd2), 19, NULL), 0);
	simdisk_destroy(sd2);
	ASSERT_ERR(simdisk_create_from_file("/nonexistent/x", BS, 0, &sd2),
		   -ENOENT);
}

/* Heap in use, or 0 where it cannot be measured (sanitizers). */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void *volatile probe;	/* volatile: the probe is not optimised away */

static int heap_measurable(void)
{
	size_t before = heap_used();
	int ok;

	probe = malloc(8 << 20);
	ok = probe && heap_used() >= before + (8 << 20);
	free(probe);
	probe = NULL;
	return ok;
}

TEST(simdisk_memory_1gib_disk_few_writes)
{
	const pd_block_t nr = 262144;	/* 1 GiB of 4 KiB blocks */
	struct simdisk *sd;
	struct sd_cutter *c;
	struct bdev *im;
	size_t h0, h1, hc, h2, h3;
	uint64_t sum = 0;

	if (!heap_measurable())
		TEST_SKIP("heap not measurable here (sanitizer or valgrind)");
	h0 = heap_used();
	sd = mkdisk(nr);
	for (unsigned i = 0; i < 50; i++)
		wr(sd, (i * 5261u) % nr, 1 + i, 0);
	fl(sd);
	for (unsigned i = 0; i < 10; i++)
		wr(sd, (i * 7919u) % nr, 100 + i, 0);
	h1 = heap_used();
	c = cutter_at(sd, simdisk_nr_ops(sd));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 10);
	hc = heap_used();
	im = image_bits(c, 0x2aa);
	h2 = heap_used();
	/* whole writes are shared with the log, never copied: the image
	 * costs less than one block */
	ASSERT_TRUE(h2 - hc < BS);
	/* reading every block of the image allocates nothing */
	for (pd_block_t b = 0; b < nr; b++) {
		uint8_t buf[BS];

		ASSERT_OK(bdev_read(im, b, buf));
		sum += buf[0];
	}
	h3 = heap_used();
	printf("# disk+60 writes: %zu bytes, cutter: %zu bytes, image: %zu "
	       "bytes, after reading 1 GiB: +%zd bytes\n", h1 - h0, hc - h1,
	       h2 - hc, (ssize_t)(h3 - h2));
	ASSERT_TRUE(h1 - h0 < (2u << 20));	/* data of 60 writes + log */
	ASSERT_TRUE(h2 - h1 < (64u << 10));
	ASSERT_TRUE(h3 <= h2);
	ASSERT_TRUE(sum > 0);
	bdev_destroy(im);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

#if defined(FIU_ENABLE) && FIU_ENABLE
#include <fiu-control.h>

TEST(simdisk_fiu_points_fail_like_the_plan)
{
	struct simdisk *sd = mkdisk(8);
	struct bdev *bd = simdisk_bdev(sd);
	struct sd_cutter *c;
	uint8_t buf[BS];

	ASSERT_OK(fiu_init(0));
	wr(sd, 0, 1, 0);
	ASSERT_OK(fiu_enable(FP_SIMDISK_FLUSH, 1, NULL, FIU_ONETIME));
	ASSERT_ERR(bdev_flush(bd), -EIO);
	ASSERT_OK(bdev_flush(bd));		/* once only */
	ASSERT_OK(fiu_enable(FP_SIMDISK_WRITE, 1, NULL, 0));
	memset(buf, 2, BS);
	ASSERT_ERR(bdev_write(bd, 1, buf, 0), -EIO);
	ASSERT_ERR(bdev_write(bd, 1, buf, BDEV_FUA), -EIO);
	ASSERT_OK(fiu_disable(FP_SIMDISK_WRITE));
	ASSERT_OK(fiu_enable(FP_SIMDISK_READ, 1, NULL, FIU_ONETIME));
	ASSERT_ERR(bdev_read(bd, 0, buf), -EIO);
	ASSERT_EQ(tag_of(bd, 1, NULL), 0);
	/* logged as failed, and the failed flush left block 0 doubtful */
	ASSERT_TRUE(simdisk_op(sd, 1)->failed);
	ASSERT_TRUE(!simdisk_op(sd, 2)->failed);
	ASSERT_TRUE(simdisk_op(sd, 3)->failed && simdisk_op(sd, 4)->failed);
	ASSERT_TRUE(simdisk_op(sd, 5)->kind == SD_READ && simdisk_op(sd, 5)->failed);
	ASSERT_TRUE(!simdisk_plan_fired(sd, NULL));	/* libfiu is not the plan */
	c = cutter_at(sd, simdisk_nr_ops(sd));
	ASSERT_TRUE(is_pending(c, 0));
	ASSERT_UEQ(sd_cutter_nr_pending(c), 1);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}
#else

TEST(simdisk_fiu_points_fail_like_the_plan)
{
	TEST_SKIP("built with FIU=0: no libfiu fault points");
}
#endif

/* A marker the log has no memory for is reported, never dropped silently.
 * The address space is capped (in this forked test process) until the
 * log cannot grow. */
/* valgrind puts its preload library in the client's LD_PRELOAD. */
static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

TEST(simdisk_mark_reports_enomem)
{
#ifdef PD_ASAN
	TEST_SKIP("address sanitizer: an address-space limit breaks its shadow memory");
#endif
	struct simdisk *sd;
	struct rlimit rl;
	uint64_t before = 0;
	int r = 0;

	/* valgrind's own memory shares the limit: it dies of it first */
	if (under_valgrind())
		TEST_SKIP("valgrind: an address-space limit starves valgrind itself");
	sd = mkdisk(8);

	ASSERT_OK(simdisk_mark(sd, 1, 0));
	ASSERT_OK(getrlimit(RLIMIT_AS, &rl));
	/* room for the test's own work, not for a log of 2^26 entries */
	rl.rlim_cur = (rlim_t)256 << 20;
	ASSERT_OK(setrlimit(RLIMIT_AS, &rl));
	for (uint64_t i = 0; i < (1ull << 26) && !r; i++) {
		before = simdisk_nr_ops(sd);
		r = simdisk_mark(sd, 1, i);
	}
	ASSERT_ERR(r, -ENOMEM);
	ASSERT_UEQ(simdisk_nr_ops(sd), before);	/* nothing half-logged */
	simdisk_destroy(sd);
}
