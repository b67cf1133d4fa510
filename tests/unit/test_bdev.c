/* tests/unit/test_bdev.c - the block-device contract (core/bdev.h), run
 * case by case against both backends: simdisk and a file in test_tmpdir().
 * Then what only the file backend has: sizes taken from the file, short
 * files, read-only opens, reopening what was flushed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev.h"
#include "simdisk.h"
#include "test.h"
#include "util.h"

#define BS 4096u

struct backend {
	const char *name;
	int (*open)(pd_block_t nr_blocks, struct bdev **result);
};

static int open_simdisk(pd_block_t nr_blocks, struct bdev **result)
{
	struct simdisk *sd;
	int r = simdisk_create(BS, nr_blocks, &sd);

	if (r)
		return r;
	*result = simdisk_bdev(sd);
	return 0;
}

/* A path in the test's scratch directory; up to 4 live at once. */
static const char *tmp_path(const char *name)
{
	static char paths[4][512];
	static unsigned next;
	char *path = paths[next++ % 4];

	snprintf(path, sizeof(paths[0]), "%s/%s", test_tmpdir(), name);
	return path;
}

static int open_file(pd_block_t nr_blocks, struct bdev **result)
{
	return bdev_file_open(tmp_path("dev.img"), BS, nr_blocks,
			      BDEV_FILE_CREATE, result);
}

static const struct backend backends[] = {
	{ "simdisk", open_simdisk },
	{ "file", open_file },
};

static void fill(void *buf, unsigned tag)
{
	uint8_t *p = buf;

	for (unsigned i = 0; i < BS; i++)
		p[i] = (uint8_t)(tag * 131u + i * 7u + (i >> 9));
}

static void expect_block(struct bdev *bd, pd_block_t b, unsigned tag)
{
	uint8_t want[BS], got[BS];

	if (tag)
		fill(want, tag);
	else
		memset(want, 0, BS);
	ASSERT_OK(bdev_read(bd, b, got));
	ASSERT_MEMEQ(got, want, BS);
}

/* Runs one contract case on every backend, naming the backend first. */
#define FOR_EACH_BACKEND(bd, nr) \
	for (size_t bi_ = 0; bi_ < PD_ARRAY_SIZE(backends); bi_++) \
		for (struct bdev *bd = open_backend(&backends[bi_], nr); bd; \
		     bdev_destroy(bd), bd = NULL)

static struct bdev *open_backend(const struct backend *be, pd_block_t nr)
{
	struct bdev *bd = NULL;

	printf("# backend %s\n", be->name);
	fflush(stdout);
	ASSERT_OK(be->open(nr, &bd));
	ASSERT_TRUE(bd != NULL);
	ASSERT_UEQ(bdev_nr_blocks(bd), nr);
	ASSERT_UEQ(bd->block_size, BS);
	return bd;
}

TEST(bdev_read_after_write)
{
	uint8_t buf[BS];

	FOR_EACH_BACKEND(bd, 16) {
		for (pd_block_t b = 0; b < 16; b++)
			expect_block(bd, b, 0);	/* new device: zeroes */
		fill(buf, 1);
		ASSERT_OK(bdev_write(bd, 3, buf, 0));
		fill(buf, 2);
		ASSERT_OK(bdev_write(bd, 15, buf, 0));
		fill(buf, 3);
		ASSERT_OK(bdev_write(bd, 0, buf, 0));
		expect_block(bd, 3, 1);
		expect_block(bd, 15, 2);
		expect_block(bd, 0, 3);
		expect_block(bd, 1, 0);
		/* D1: the newest write wins, flushed or not */
		fill(buf, 4);
		ASSERT_OK(bdev_write(bd, 3, buf, 0));
		expect_block(bd, 3, 4);
		/* the caller's buffer is not kept */
		fill(buf, 5);
		expect_block(bd, 3, 4);
	}
}

TEST(bdev_bounds_are_einval)
{
	uint8_t buf[BS];

	fill(buf, 9);
	FOR_EACH_BACKEND(bd, 8) {
		ASSERT_ERR(bdev_read(bd, 8, buf), -EINVAL);
		ASSERT_ERR(bdev_read(bd, UINT64_MAX, buf), -EINVAL);
		ASSERT_ERR(bdev_write(bd, 8, buf, 0), -EINVAL);
		ASSERT_ERR(bdev_write(bd, UINT64_MAX, buf, BDEV_FUA), -EINVAL);
		ASSERT_ERR(bdev_write(bd, 0, buf, 1u << 5), -EINVAL);
		/* the backends check on their own too (not only the wrapper) */
		ASSERT_ERR(bd->ops->read(bd, 8, buf), -EINVAL);
		ASSERT_ERR(bd->ops->write(bd, 1ull << 40, buf, 0), -EINVAL);
		ASSERT_ERR(bd->ops->write(bd, 0, buf, 1u << 3), -EINVAL);
		ASSERT_OK(bdev_write(bd, 7, buf, 0));
		expect_block(bd, 7, 9);
		expect_block(bd, 0, 0);
	}
}

TEST(bdev_flush)
{
	uint8_t buf[BS];

	FOR_EACH_BACKEND(bd, 8) {
		ASSERT_OK(bdev_flush(bd));	/* nothing to flush */
		for (unsigned i = 0; i < 8; i++) {
			fill(buf, 10 + i);
			ASSERT_OK(bdev_write(bd, i, buf, 0));
			if (i % 3 == 2)
				ASSERT_OK(bdev_flush(bd));
		}
		ASSERT_OK(bdev_flush(bd));
		ASSERT_OK(bdev_flush(bd));
		for (unsigned i = 0; i < 8; i++)
			expect_block(bd, i, 10 + i);
	}
}

TEST(bdev_fua_write)
{
	uint8_t buf[BS];

	FOR_EACH_BACKEND(bd, 4) {
		fill(buf, 21);
		ASSERT_OK(bdev_write(bd, 1, buf, 0));
		fill(buf, 22);
		ASSERT_OK(bdev_write(bd, 1, buf, BDEV_FUA));
		expect_block(bd, 1, 22);
		fill(buf, 23);
		ASSERT_OK(bdev_write(bd, 3, buf, BDEV_FUA));
		expect_block(bd, 3, 23);
		ASSERT_ERR(bdev_write(bd, 2, buf, BDEV_FUA | 2u), -EINVAL);
		expect_block(bd, 2, 0);
	}
}

TEST(bdev_resize)
{
	uint8_t buf[BS];

	FOR_EACH_BACKEND(bd, 4) {
		fill(buf, 31);
		ASSERT_OK(bdev_write(bd, 3, buf, 0));
		fill(buf, 32);
		ASSERT_OK(bdev_write(bd, 1, buf, 0));
		ASSERT_OK(bdev_flush(bd));
		/* grow: new blocks read as zeroes and can be written */
		ASSERT_OK(bdev_resize(bd, 10));
		ASSERT_UEQ(bdev_nr_blocks(bd), 10);
		expect_block(bd, 9, 0);
		expect_block(bd, 3, 31);
		fill(buf, 33);
		ASSERT_OK(bdev_write(bd, 9, buf, 0));
		expect_block(bd, 9, 33);
		/* shrink: the tail is gone */
		ASSERT_OK(bdev_resize(bd, 2));
		ASSERT_UEQ(bdev_nr_blocks(bd), 2);
		ASSERT_ERR(bdev_read(bd, 3, buf), -EINVAL);
		ASSERT_ERR(bdev_write(bd, 2, buf, 0), -EINVAL);
		expect_block(bd, 1, 32);
		/* grow again: what was cut off does not come back */
		ASSERT_OK(bdev_resize(bd, 12));
		expect_block(bd, 3, 0);
		expect_block(bd, 9, 0);
		expect_block(bd, 11, 0);
		expect_block(bd, 1, 32);
		ASSERT_OK(bdev_flush(bd));
	}
}

/* ---- file backend only -------------------------------------------------- */

static void write_file(const char *path, size_t len, unsigned tag)
{
	uint8_t buf[BS];
	FILE *f = fopen(path, "wb");

	ASSERT_TRUE(f != NULL);
	while (len) {
		size_t n = len < BS ? len : BS;

		fill(buf, tag++);
		ASSERT_UEQ(fwrite(buf, 1, n, f), n);
		len -= n;
	}
	ASSERT_OK(fclose(f));
}

TEST(bdev_file_size_from_file)
{
	const char *path = tmp_path("sized.img");
	struct bdev *bd;

	write_file(path, 5 * BS, 40);
	ASSERT_OK(bdev_file_open(path, BS, 0, 0, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 5);
	for (unsigned i = 0; i < 5; i++)
		expect_block(bd, i, 40 + i);
	bdev_destroy(bd);
	/* other block sizes see the same bytes */
	ASSERT_OK(bdev_file_open(path, 512, 0, BDEV_FILE_READONLY, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 40);
	bdev_destroy(bd);
}

TEST(bdev_file_short_file)
{
	const char *path = tmp_path("short.img");
	uint8_t buf[BS];
	struct bdev *bd;
	struct stat st;

	write_file(path, 2 * BS + BS / 2, 50);
	/* size from the file: the half block at the end is unreachable */
	ASSERT_OK(bdev_file_open(path, BS, 0, 0, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 2);
	expect_block(bd, 1, 51);
	ASSERT_ERR(bdev_read(bd, 2, buf), -EINVAL);
	bdev_destroy(bd);
	/* a size larger than the file: short reads are -EIO, never zeroes
	 * and never a crash, until the block is written */
	ASSERT_OK(bdev_file_open(path, BS, 4, 0, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 4);
	expect_block(bd, 0, 50);
	ASSERT_ERR(bdev_read(bd, 2, buf), -EIO);
	ASSERT_ERR(bdev_read(bd, 3, buf), -EIO);
	fill(buf, 59);
	ASSERT_OK(bdev_write(bd, 3, buf, BDEV_FUA));
	expect_block(bd, 3, 59);
	/* block 2 now exists as a hole + the old half block */
	ASSERT_OK(bdev_read(bd, 2, buf));
	bdev_destroy(bd);
	ASSERT_OK(stat(path, &st));
	ASSERT_UEQ(st.st_size, 4 * BS);
	/* an empty file has no blocks */
	write_file(path, 0, 0);
	ASSERT_OK(bdev_file_open(path, BS, 0, 0, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 0);
	ASSERT_ERR(bdev_read(bd, 0, buf), -EINVAL);
	bdev_destroy(bd);
}

TEST(bdev_file_flushed_data_reopens)
{
	const char *path = tmp_path("dev.img");
	uint8_t buf[BS];
	struct bdev *bd;

	ASSERT_OK(bdev_file_open(path, BS, 6, BDEV_FILE_CREATE, &bd));
	fill(buf, 61);
	ASSERT_OK(bdev_write(bd, 2, buf, 0));
	fill(buf, 62);
	ASSERT_OK(bdev_write(bd, 5, buf, BDEV_FUA));
	ASSERT_OK(bdev_flush(bd));
	bdev_destroy(bd);
	ASSERT_OK(bdev_file_open(path, BS, 0, BDEV_FILE_READONLY, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 6);
	expect_block(bd, 2, 61);
	expect_block(bd, 5, 62);
	expect_block(bd, 0, 0);
	bdev_destroy(bd);
	/* CREATE truncates */
	ASSERT_OK(bdev_file_open(path, BS, 3, BDEV_FILE_CREATE, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 3);
	expect_block(bd, 2, 0);
	bdev_destroy(bd);
}

TEST(bdev_file_readonly_and_bad_args)
{
	const char *path = tmp_path("ro.img");
	uint8_t buf[BS];
	struct bdev *bd;

	write_file(path, 3 * BS, 70);
	ASSERT_OK(bdev_file_open(path, BS, 0, BDEV_FILE_READONLY, &bd));
	fill(buf, 79);
	ASSERT_ERR(bdev_write(bd, 0, buf, 0), -EPERM);
	ASSERT_ERR(bdev_write(bd, 1, buf, BDEV_FUA), -EPERM);
	ASSERT_ERR(bdev_resize(bd, 10), -EPERM);
	ASSERT_OK(bdev_flush(bd));
	expect_block(bd, 0, 70);
	bdev_destroy(bd);

	ASSERT_ERR(bdev_file_open(tmp_path("missing/x.img"), BS, 0, 0, &bd),
		   -ENOENT);
	ASSERT_ERR(bdev_file_open(tmp_path("nope.img"), BS, 0,
				  BDEV_FILE_READONLY, &bd), -ENOENT);
	ASSERT_ERR(bdev_file_open(path, BS, 1,
				  BDEV_FILE_CREATE | BDEV_FILE_READONLY, &bd),
		   -EINVAL);
	ASSERT_ERR(bdev_file_open(path, 1000, 0, 0, &bd), -EINVAL);
	ASSERT_ERR(bdev_file_open(path, 0, 0, 0, &bd), -EINVAL);
	ASSERT_ERR(bdev_file_open(path, BS, 0, 1u << 7, &bd), -EINVAL);
	ASSERT_ERR(bdev_file_open(path, BS, UINT64_MAX / 2, BDEV_FILE_CREATE,
				  &bd), -EINVAL);
	ASSERT_ERR(bdev_file_open(NULL, BS, 0, 0, &bd), -EINVAL);
	/* the failed opens left the file alone */
	ASSERT_OK(bdev_file_open(path, BS, 0, BDEV_FILE_READONLY, &bd));
	ASSERT_UEQ(bdev_nr_blocks(bd), 3);
	expect_block(bd, 2, 72);
	bdev_destroy(bd);
}
