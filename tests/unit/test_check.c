/* tests/unit/test_check.c - the structural checker (core/check.h CK1-CK8).
 *
 * Images come from Debian's thin_restore (run through system() on XML
 * written here) and from the core itself (thin.h, on simdisk); damage is
 * made by hand in an in-memory copy, with the checksum recomputed where the
 * test wants to get past the checksum to the check behind it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bm.h"
#include "check.h"
#include "prng.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "util.h"

#define BS 4096u
#define SALT_SB 160774u
#define SALT_NODE 121107u
#define SALT_BITMAP 240779u
#define SALT_INDEX 160478u

/* --- an in-memory image as a bdev ---------------------------------------- */

struct mem_image {
	struct bdev bd;
	uint8_t *data;
	pd_block_t nr;
};

static int mem_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct mem_image *m = (struct mem_image *)bd;

	if (b >= m->nr)
		return -EINVAL;
	memcpy(buf, m->data + b * BS, BS);
	return 0;
}

static int mem_write(struct bdev *bd, pd_block_t b, const void *buf,
		     unsigned flags)
{
	struct mem_image *m = (struct mem_image *)bd;

	(void)flags;
	if (b >= m->nr)
		return -EINVAL;
	memcpy(m->data + b * BS, buf, BS);
	return 0;
}

static int mem_flush(struct bdev *bd)
{
	(void)bd;
	return 0;
}

static void mem_destroy(struct bdev *bd)
{
	(void)bd;
}

static const struct bdev_ops mem_ops = {
	.read = mem_read, .write = mem_write, .flush = mem_flush,
	.destroy = mem_destroy,
};

static void mem_init(struct mem_image *m, uint8_t *data, pd_block_t nr)
{
	memset(m, 0, sizeof(*m));
	m->bd.ops = &mem_ops;
	m->bd.block_size = BS;
	m->bd.nr_blocks = nr;
	m->data = data;
	m->nr = nr;
}

/* --- images from thin_restore -------------------------------------------- */

/* Restore xml into a file of mb MiB and load it; *nr set to its blocks. */
static uint8_t *restore_image(const char *xml, unsigned mb, pd_block_t *nr)
{
	char xml_path[512], img_path[512], cmd[2300];
	FILE *f;
	uint8_t *data;
	size_t size = (size_t)mb << 20;

	snprintf(xml_path, sizeof(xml_path), "%s/in.xml", test_tmpdir());
	snprintf(img_path, sizeof(img_path), "%s/meta.img", test_tmpdir());
	f = fopen(xml_path, "w");
	ASSERT_TRUE(f != NULL);
	fputs(xml, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "rm -f '%s' && truncate -s %uM '%s' && thin_restore -q -i '%s' -o '%s'",
		 img_path, mb, img_path, xml_path, img_path);
	ASSERT_EQ(system(cmd), 0);
	data = malloc(size);
	ASSERT_TRUE(data != NULL);
	f = fopen(img_path, "rb");
	ASSERT_TRUE(f != NULL);
	ASSERT_EQ(fread(data, 1, size, f), size);
	fclose(f);
	*nr = size / BS;
	return data;
}

/* Two devices, runs and singles, 600 mappings in dev 1 (an internal node
 * at the root of its bottom tree), a data block shared by dev 1 and 2. */
static char *sample_xml(void)
{
	static char buf[1 << 16];
	size_t n = 0;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		"<superblock uuid=\"\" time=\"2\" transaction=\"9\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"5000\">\n"
		"  <device dev_id=\"1\" mapped_blocks=\"603\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">\n"
		"    <range_mapping origin_begin=\"0\" data_begin=\"100\" length=\"600\" time=\"0\"/>\n"
		"    <single_mapping origin_block=\"700\" data_block=\"3000\" time=\"1\"/>\n"
		"    <single_mapping origin_block=\"701\" data_block=\"3005\" time=\"2\"/>\n"
		"    <single_mapping origin_block=\"900\" data_block=\"4999\" time=\"2\"/>\n"
		"  </device>\n"
		"  <device dev_id=\"2\" mapped_blocks=\"3\" transaction=\"4\" creation_time=\"1\" snap_time=\"1\">\n"
		"    <range_mapping origin_begin=\"0\" data_begin=\"100\" length=\"2\" time=\"0\"/>\n"
		"    <single_mapping origin_block=\"5\" data_block=\"100\" time=\"1\"/>\n"
		"  </device>\n"
		"</superblock>\n");
	return buf;
}

/* --- running the checker ------------------------------------------------- */

struct msgs {
	char text[1 << 15];
	size_t len;
	unsigned n;
};

static void collect(void *ctx, const char *text)
{
	struct msgs *m = ctx;
	int k = snprintf(m->text + m->len, sizeof(m->text) - m->len, "%s\n",
			 text);

	m->n++;
	if (k > 0 && m->len + (size_t)k < sizeof(m->text))
		m->len += (size_t)k;
}

static void run_check(uint8_t *data, pd_block_t nr, unsigned flags,
		      struct check_result *res, struct msgs *m)
{
	struct mem_image img;

	mem_init(&img, data, nr);
	memset(m, 0, sizeof(*m));
	ASSERT_OK(check_thin_metadata(&img.bd, flags, collect, m, res));
}

#define ASSERT_HAS(m, s) do { \
	if (!strstr((m)->text, (s))) \
		test_fail(__FILE__, __LINE__, "no message with \"%s\" in:\n%s", \
			  (s), (m)->text); \
} while (0)

/* --- hand-made damage ---------------------------------------------------- */

static uint8_t *blk(uint8_t *data, pd_block_t b)
{
	return data + b * BS;
}

static void fix_csum(uint8_t *data, pd_block_t b, uint32_t salt)
{
	uint8_t *d = blk(data, b);

	le32_put(d, pd_block_csum(d + 4, BS - 4, salt));
}

/* Superblock fields used to find things. */
static uint64_t sb_u64(uint8_t *data, unsigned off)
{
	return le64_get(blk(data, 0) + off);
}

#define SB_DETAILS_ROOT 328
#define SB_MAPPING_ROOT 320
#define SB_DATA_SM 64
#define SB_META_SM 192

/* The bottom-level root of dev in a 1-leaf top-level tree. */
static pd_block_t dev_root(uint8_t *data, uint64_t dev)
{
	uint8_t *top = blk(data, sb_u64(data, SB_MAPPING_ROOT));
	uint32_t nr = le32_get(top + 16), max = le32_get(top + 20);

	ASSERT_EQ(le32_get(top + 4), 2);	/* a leaf */
	for (uint32_t i = 0; i < nr; i++)
		if (le64_get(top + 32 + 8 * i) == dev)
			return le64_get(top + 32 + 8 * max + 8 * i);
	test_fail(__FILE__, __LINE__, "no device %" PRIu64, dev);
}

/* Metadata bitmap 0 (the index block's first entry). */
static pd_block_t meta_bitmap0(uint8_t *data)
{
	return le64_get(blk(data, sb_u64(data, SB_META_SM + 16)) + 16);
}

static unsigned bitmap_get(uint8_t *data, pd_block_t bm, uint64_t i)
{
	uint64_t w = le64_get(blk(data, bm) + 16 + 8 * (i / 32));

	return (unsigned)((w >> (2 * (i % 32))) & 1) << 1 |
	       (unsigned)((w >> (2 * (i % 32) + 1)) & 1);
}

static void bitmap_set(uint8_t *data, pd_block_t bm, uint64_t i, unsigned v)
{
	uint8_t *p = blk(data, bm) + 16 + 8 * (i / 32);
	uint64_t w = le64_get(p);
	unsigned k = 2 * (i % 32);

	w &= ~(3ull << k);
	w |= (uint64_t)(v >> 1) << k | (uint64_t)(v & 1) << (k + 1);
	le64_put(p, w);
	fix_csum(data, bm, SALT_BITMAP);
}

/* --- tests: clean images ------------------------------------------------- */

TEST(check_clean_thin_restore_image)
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	run_check(data, nr, 0, &res, &m);
	ASSERT_EQ(res.errors, 0);
	ASSERT_EQ(res.leaks, 0);
	ASSERT_TRUE(res.superblock_ok);
	ASSERT_EQ(res.trans_id, 9);
	ASSERT_EQ(res.time, 2);
	ASSERT_EQ(res.data_block_size, 128);
	ASSERT_EQ(res.data_nr_blocks, 5000);
	ASSERT_EQ(res.data_nr_allocated, 603);	/* 100..699, 3000, 3005, 4999 */
	ASSERT_EQ(res.nr_devices, 2);
	ASSERT_EQ(res.nr_mappings, 606);
	ASSERT_EQ(res.metadata_nr_blocks, nr);
	ASSERT_TRUE(res.metadata_blocks_used > 8);
	free(data);
}

/* CK8: thin_restore leaves nr_allocated one too high; strict says so. */
TEST(check_strict_flags_thin_restore_bookkeeping)
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	run_check(data, nr, 0, &res, &m);
	ASSERT_EQ(res.errors, 0);
	ASSERT_TRUE(res.warnings > 0);
	ASSERT_HAS(&m, "nr_allocated");
	run_check(data, nr, CHECK_STRICT, &res, &m);
	ASSERT_EQ(res.warnings, 0);
	ASSERT_TRUE(res.errors > 0);
	free(data);
}

/* CK6/CK7 on a core-made pool with a snapshot (shared subtree) and a held
 * metadata snapshot: everything must balance. */
TEST(check_core_pool_with_snapshots_is_clean)
{
	struct thin_pool_params p = {
		.data_block_size = 128, .nr_data_blocks = 20000,
	};
	struct simdisk *sd;
	struct thin_pool *pool;
	struct check_result res;
	struct msgs m;
	struct mem_image img;
	uint8_t *data;
	pd_block_t b;

	ASSERT_OK(simdisk_create(BS, 2048, &sd));
	ASSERT_OK(thin_pool_format(simdisk_bdev(sd), &p, &pool));
	ASSERT_OK(thin_create_thin(pool, 0));
	for (uint64_t v = 0; v < 700; v++) {
		ASSERT_OK(thin_alloc_data_block(pool, &b));
		ASSERT_OK(thin_insert(pool, 0, v * 3, b));
	}
	ASSERT_OK(thin_commit(pool));
	ASSERT_OK(thin_create_snap(pool, 1, 0));
	ASSERT_OK(thin_create_snap(pool, 2, 0));
	ASSERT_OK(thin_create_snap(pool, 3, 1));
	ASSERT_OK(thin_commit(pool));
	ASSERT_OK(thin_reserve_metadata_snap(pool));
	for (uint64_t v = 0; v < 50; v++) {
		ASSERT_OK(thin_alloc_data_block(pool, &b));
		ASSERT_OK(thin_insert(pool, 1, v * 7, b));
	}
	ASSERT_OK(thin_remove(pool, 2, 3));
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);

	data = malloc((size_t)2048 * BS);
	ASSERT_TRUE(data != NULL);
	for (pd_block_t i = 0; i < 2048; i++)
		ASSERT_OK(bdev_read(simdisk_bdev(sd), i, blk(data, i)));
	simdisk_destroy(sd);

	mem_init(&img, data, 2048);
	memset(&m, 0, sizeof(m));
	ASSERT_OK(check_thin_metadata(&img.bd, CHECK_STRICT, collect, &m, &res));
	if (res.errors || res.leaks)
		test_fail(__FILE__, __LINE__, "core pool not clean:\n%s", m.text);
	ASSERT_EQ(res.nr_devices, 4);
	ASSERT_TRUE(res.held_root != 0);
	ASSERT_EQ(res.nr_mappings, 700 + (700 + 50 - 17) + 699 + 700);
	free(data);
}

/* The same kind of core-made pool as a file: Debian's thin_check must find
 * it clean too, and thin_dump and pdtool dump must agree byte for byte
 * (shared subtrees are dumped per device by both). */
TEST(check_core_image_passes_thin_check_and_dumps_agree)
{
	struct thin_pool_params p = {
		.data_block_size = 256, .nr_data_blocks = 100000,
	};
	char img[512], cmd[4096];
	uint8_t buf[BS];
	struct simdisk *sd;
	struct thin_pool *pool;
	pd_block_t b;
	FILE *f;

	ASSERT_OK(simdisk_create(BS, 4096, &sd));
	ASSERT_OK(thin_pool_format(simdisk_bdev(sd), &p, &pool));
	ASSERT_OK(thin_create_thin(pool, 5));
	for (uint64_t v = 0; v < 2000; v++) {
		ASSERT_OK(thin_alloc_data_block(pool, &b));
		ASSERT_OK(thin_insert(pool, 5, v < 1000 ? v : v * 5, b));
	}
	ASSERT_OK(thin_set_transaction_id(pool, 0, 42));
	ASSERT_OK(thin_commit(pool));
	ASSERT_OK(thin_create_snap(pool, 6, 5));
	ASSERT_OK(thin_create_snap(pool, 7, 6));
	ASSERT_OK(thin_commit(pool));
	for (uint64_t v = 0; v < 300; v++) {
		ASSERT_OK(thin_alloc_data_block(pool, &b));
		ASSERT_OK(thin_insert(pool, 6, v * 11, b));
	}
	ASSERT_OK(thin_remove_range(pool, 7, 100, 400, NULL));
	ASSERT_OK(thin_commit(pool));
	ASSERT_OK(thin_reserve_metadata_snap(pool));
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);

	snprintf(img, sizeof(img), "%s/core.img", test_tmpdir());
	f = fopen(img, "wb");
	ASSERT_TRUE(f != NULL);
	for (pd_block_t i = 0; i < 4096; i++) {
		ASSERT_OK(bdev_read(simdisk_bdev(sd), i, buf));
		ASSERT_EQ(fwrite(buf, 1, BS, f), BS);
	}
	fclose(f);
	simdisk_destroy(sd);

	snprintf(cmd, sizeof(cmd), "thin_check -q '%s'", img);
	ASSERT_EQ(system(cmd), 0);
	/* pdtool: the unit tests run from the top of the tree */
	const char *bd = test_build_dir();
	snprintf(cmd, sizeof(cmd), "test -x '%s/pdtool'", bd);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "thin_dump '%s' > '%s/thin.xml' && '%s/pdtool' dump '%s' > '%s/pd.xml'",
		 img, test_tmpdir(), bd, img, test_tmpdir());
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s/thin.xml' '%s/pd.xml'",
		 test_tmpdir(), test_tmpdir());
	ASSERT_EQ(system(cmd), 0);
	/* the held metadata snapshot, both ways of naming it */
	snprintf(cmd, sizeof(cmd),
		 "thin_dump -m '%s' > '%s/thin.xml' && '%s/pdtool' dump -m '%s' > '%s/pd.xml' && "
		 "cmp -s '%s/thin.xml' '%s/pd.xml' && grep -q '<device' '%s/pd.xml'",
		 img, test_tmpdir(), bd, img, test_tmpdir(), test_tmpdir(),
		 test_tmpdir(), test_tmpdir());
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "'%s/pdtool' check -q --strict '%s'", bd, img);
	ASSERT_EQ(system(cmd), 0);
}

/* Random workloads through thin.h, checked (strict) after every commit:
 * the checker must see no damage in what the core writes, with snapshots,
 * deletes, range removes and held metadata snapshots in the mix. */
TEST(check_random_core_workloads_are_clean)
{
	uint64_t seed = test_seed(77);
	struct thin_pool_params p = {
		.data_block_size = 128, .nr_data_blocks = 60000,
	};
	struct prng rng;
	struct simdisk *sd;
	struct thin_pool *pool;
	struct check_result res;
	struct msgs m;
	uint64_t devs[32];
	unsigned nr_devs = 0, commits = 0;

	prng_seed(&rng, seed);
	ASSERT_OK(simdisk_create(BS, 8192, &sd));
	ASSERT_OK(thin_pool_format(simdisk_bdev(sd), &p, &pool));
	for (unsigned op = 0; op < 4000; op++) {
		unsigned what = (unsigned)prng_below(&rng, 100);
		uint64_t dev = nr_devs ? devs[prng_below(&rng, nr_devs)] : 0;
		pd_block_t b;
		int r;

		if (nr_devs == 0 || (what < 3 && nr_devs < 32)) {
			uint64_t id = prng_below(&rng, 1000);

			r = thin_create_thin(pool, id);
			if (r == -EEXIST)
				continue;
			ASSERT_OK(r);
			devs[nr_devs++] = id;
		} else if (what < 6 && nr_devs < 32) {
			uint64_t id = prng_below(&rng, 1000);

			r = thin_create_snap(pool, id, dev);
			if (r == -EEXIST)
				continue;
			ASSERT_OK(r);
			devs[nr_devs++] = id;
		} else if (what < 7 && nr_devs > 1) {
			unsigned i = (unsigned)prng_below(&rng, nr_devs);

			ASSERT_OK(thin_delete(pool, devs[i]));
			devs[i] = devs[--nr_devs];
		} else if (what < 70) {
			ASSERT_OK(thin_alloc_data_block(pool, &b));
			ASSERT_OK(thin_insert(pool, dev, prng_below(&rng, 3000), b));
		} else if (what < 85) {
			r = thin_remove(pool, dev, prng_below(&rng, 3000));
			if (r != -ENODATA)
				ASSERT_OK(r);
		} else if (what < 87) {
			uint64_t lo = prng_below(&rng, 3000);

			ASSERT_OK(thin_remove_range(pool, dev, lo,
						    lo + prng_below(&rng, 400),
						    NULL));
		} else if (what < 89) {
			r = thin_reserve_metadata_snap(pool);
			if (r != -EBUSY)
				ASSERT_OK(r);
		} else if (what < 91) {
			r = thin_release_metadata_snap(pool);
			if (r != -EINVAL)
				ASSERT_OK(r);
		} else if (what < 96) {
			ASSERT_OK(thin_commit(pool));
			commits++;
			memset(&m, 0, sizeof(m));
			ASSERT_OK(check_thin_metadata(simdisk_bdev(sd),
						      CHECK_STRICT, collect, &m,
						      &res));
			if (res.errors || res.leaks || res.warnings)
				test_fail(__FILE__, __LINE__,
					  "op %u, commit %u: not clean:\n%s",
					  op, commits, m.text);
			ASSERT_EQ(res.nr_devices, nr_devs);
		}
	}
	ASSERT_TRUE(commits > 50);
	thin_pool_destroy(pool);
	simdisk_destroy(sd);
}

/* --- tests: damage, one kind at a time ----------------------------------- */

TEST(check_zeroed_superblock)
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	memset(blk(data, 0), 0, BS);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_TRUE(!res.superblock_ok);
	ASSERT_HAS(&m, "all zeroes");
	free(data);
}

TEST(check_superblock_checksum_and_magic)	/* CK1 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	blk(data, 0)[100] ^= 0x10;
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "superblock (block 0): bad checksum");
	blk(data, 0)[100] ^= 0x10;
	blk(data, 0)[32] ^= 1;			/* magic */
	fix_csum(data, 0, SALT_SB);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "bad magic");
	blk(data, 0)[32] ^= 1;
	blk(data, 0)[8] = 3;			/* blocknr */
	fix_csum(data, 0, SALT_SB);
	run_check(data, nr, 0, &res, &m);
	ASSERT_HAS(&m, "says it is block 3");
	free(data);
}

TEST(check_btree_node_checksum)		/* CK2 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, b;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	char want[64];

	b = dev_root(data, 2);
	blk(data, b)[40] ^= 4;
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	snprintf(want, sizeof(want), "block %" PRIu64 " (bottom-level mapping tree node): bad checksum",
		 b);
	ASSERT_HAS(&m, want);
	ASSERT_HAS(&m, "reference counts not compared");
	free(data);
}

TEST(check_node_pointing_outside_device)	/* CK2 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, top;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	top = sb_u64(data, SB_MAPPING_ROOT);
	d = blk(data, top);
	le64_put(d + 32 + 8 * le32_get(d + 20), nr + 5);	/* dev 1's root */
	fix_csum(data, top, SALT_NODE);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "outside the metadata device");
	free(data);
}

TEST(check_keys_out_of_order_and_range)	/* CK2 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, root, child;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	root = dev_root(data, 1);
	d = blk(data, root);
	ASSERT_EQ(le32_get(d + 4), 1);		/* internal: 603 mappings */
	ASSERT_TRUE(le32_get(d + 16) >= 2);
	/* child 1's first key below child 1's range start */
	child = le64_get(d + 32 + 8 * le32_get(d + 20) + 8);
	le64_put(blk(data, child) + 32, le64_get(d + 32 + 8) - 1);
	fix_csum(data, child, SALT_NODE);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "below the range its parent gives");
	free(data);
}

TEST(check_cycle_is_detected)		/* CK4 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, root;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	root = dev_root(data, 1);
	d = blk(data, root);
	ASSERT_EQ(le32_get(d + 4), 1);
	le64_put(d + 32 + 8 * le32_get(d + 20), root);	/* child 0 = itself */
	fix_csum(data, root, SALT_NODE);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "cycle");
	free(data);
}

TEST(check_mapped_blocks_and_device_sets)	/* CK5 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, det;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	det = sb_u64(data, SB_DETAILS_ROOT);
	d = blk(data, det);
	ASSERT_EQ(le32_get(d + 16), 2);
	le64_put(d + 32 + 8 * le32_get(d + 20), 602);	/* dev 1 mapped_blocks */
	fix_csum(data, det, SALT_NODE);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "device 1 has 603 mappings but mapped_blocks says 602");

	le64_put(d + 32 + 8 * le32_get(d + 20), 603);
	le64_put(d + 32 + 8, 7);			/* dev 2 -> dev 7 */
	fix_csum(data, det, SALT_NODE);
	run_check(data, nr, 0, &res, &m);
	ASSERT_HAS(&m, "device 7 is in the details tree but has no mapping tree");
	ASSERT_HAS(&m, "device 2 has a mapping tree but no details");
	free(data);
}

TEST(check_data_block_beyond_data_device)	/* CK5 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, root;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	root = dev_root(data, 2);
	d = blk(data, root);
	le64_put(d + 32 + 8 * le32_get(d + 20), 5000ull << 24);
	fix_csum(data, root, SALT_NODE);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "maps to data block 5000, beyond the data device");
	free(data);
}

TEST(check_metadata_bitmap_counts)		/* CK7 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, bm, free_b;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	bm = meta_bitmap0(data);
	/* a free block marked in use: a leak, not an error */
	free_b = nr - 1;
	ASSERT_EQ(bitmap_get(data, bm, free_b), 0);
	bitmap_set(data, bm, free_b, 1);
	run_check(data, nr, 0, &res, &m);
	ASSERT_EQ(res.errors, 0);
	ASSERT_EQ(res.leaks, 1);
	ASSERT_HAS(&m, "leaked");
	/* the superblock with count 2: an error */
	bitmap_set(data, bm, free_b, 0);
	bitmap_set(data, bm, 0, 2);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "metadata block 0: bad reference count: 2 on disk, 1 expected");
	/* the superblock free: an error */
	bitmap_set(data, bm, 0, 0);
	run_check(data, nr, 0, &res, &m);
	ASSERT_HAS(&m, "metadata block 0: bad reference count: 0 on disk, 1 expected");
	/* value 3 with no ref-count entry */
	bitmap_set(data, bm, 0, 3);
	run_check(data, nr, 0, &res, &m);
	ASSERT_HAS(&m, "bitmap value 3 but no ref-count tree entry");
	free(data);
}

TEST(check_bitmap_checksum)
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, bm;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	bm = meta_bitmap0(data);
	blk(data, bm)[200] ^= 1;
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "(metadata space map bitmap): bad checksum");
	free(data);
}

TEST(check_data_bitmap_counts)		/* CK6/CK7 for data blocks */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, idx, bm;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	idx = sb_u64(data, SB_DATA_SM + 16);		/* index tree root */
	d = blk(data, idx);
	ASSERT_EQ(le32_get(d + 4), 2);
	bm = le64_get(d + 32 + 8 * le32_get(d + 20));	/* bitmap 0 */
	/* data block 100: two leaves (dev 1, dev 2) map it, dev 2 twice */
	ASSERT_EQ(bitmap_get(data, bm, 100), 3);
	ASSERT_EQ(bitmap_get(data, bm, 3005), 1);
	bitmap_set(data, bm, 3005, 2);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "data block 3005: bad reference count: 2 on disk, 1 expected");
	bitmap_set(data, bm, 3005, 1);
	bitmap_set(data, bm, 3006, 1);
	run_check(data, nr, 0, &res, &m);
	ASSERT_EQ(res.errors, 0);
	ASSERT_EQ(res.leaks, 1);
	ASSERT_HAS(&m, "data block 3006: leaked");
	free(data);
}

TEST(check_metadata_index_block)
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, idx;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	idx = sb_u64(data, SB_META_SM + 16);
	blk(data, idx)[20] ^= 0x80;
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "(metadata space map index block): bad checksum");
	/* a bitmap location outside the device, checksum fixed */
	blk(data, idx)[20] ^= 0x80;
	le64_put(blk(data, idx) + 16, nr + 100);
	fix_csum(data, idx, SALT_INDEX);
	run_check(data, nr, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "metadata index entry 0: block");
	free(data);
}

TEST(check_truncated_image)
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);

	run_check(data, 4, 0, &res, &m);		/* 4 of 1024 blocks */
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "truncated");
	run_check(data, 0, 0, &res, &m);
	ASSERT_TRUE(res.errors > 0);
	ASSERT_HAS(&m, "empty");
	free(data);
}

/* A held snapshot whose copy is not counted in the space map. */
TEST(check_held_snapshot_counts)		/* CK5/CK6 */
{
	struct check_result res;
	struct msgs m;
	pd_block_t nr, snap;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	uint8_t *d;

	snap = nr - 3;
	memcpy(blk(data, snap), blk(data, 0), BS);
	d = blk(data, snap);
	le64_put(d + 8, snap);
	memset(d + 64, 0, 256);
	fix_csum(data, snap, SALT_SB);
	le64_put(blk(data, 0) + 56, snap);
	fix_csum(data, 0, SALT_SB);
	run_check(data, nr, 0, &res, &m);
	/* snapshot copy 0 on disk / 1 expected; both roots 1 / 2 */
	ASSERT_EQ(res.errors, 3);
	ASSERT_EQ(res.held_root, snap);
	ASSERT_HAS(&m, "bad reference count: 0 on disk, 1 expected");
	ASSERT_HAS(&m, "bad reference count: 1 on disk, 2 expected");
	free(data);
}

/* Random damage anywhere: it runs, returns 0 and never crashes (the
 * sanitizer build makes "never crashes" strict); a broken checksum of a
 * block the superblock reaches is always noticed. */
TEST(check_random_damage_never_crashes)
{
	uint64_t seed = test_seed(20261123);
	struct prng rng;
	struct check_result res, clean;
	struct msgs m;
	pd_block_t nr;
	uint8_t *orig = restore_image(sample_xml(), 4, &nr);
	uint8_t *data = malloc((size_t)nr * BS);
	pd_block_t used[64];
	unsigned nr_used = 0;

	ASSERT_TRUE(data != NULL);
	prng_seed(&rng, seed);
	run_check(orig, nr, 0, &clean, &m);
	ASSERT_EQ(clean.errors, 0);
	for (pd_block_t b = 0; b < nr && nr_used < 64; b++) {
		static const uint8_t zero[BS];

		if (memcmp(blk(orig, b), zero, BS))
			used[nr_used++] = b;
	}
	ASSERT_TRUE(nr_used > 8);
	for (unsigned t = 0; t < 300; t++) {
		pd_block_t b = used[prng_below(&rng, nr_used)];
		unsigned off = (unsigned)prng_range(&rng, 4, prng_below(&rng, 4) ? 700 : BS - 1);
		uint8_t *d;
		uint32_t salt = 0;

		memcpy(data, orig, (size_t)nr * BS);
		d = blk(data, b);
		for (unsigned k = 0; k < 4 && !salt; k++) {
			static const uint32_t salts[] = {
				SALT_SB, SALT_NODE, SALT_BITMAP, SALT_INDEX };

			if (le32_get(d) == pd_block_csum(d + 4, BS - 4, salts[k]))
				salt = salts[k];
		}
		d[off] ^= (uint8_t)(1u << prng_below(&rng, 8));
		if (salt && prng_below(&rng, 3))
			fix_csum(data, b, salt);
		run_check(data, nr, prng_below(&rng, 2) ? CHECK_STRICT : 0,
			  &res, &m);
		/* thin_restore leaves a stray leaf: only referenced blocks */
		if (salt && le32_get(d) != pd_block_csum(d + 4, BS - 4, salt) &&
		    bitmap_get(orig, meta_bitmap0(orig), b))
			ASSERT_TRUE(res.errors > 0);
	}
	free(data);
	free(orig);
}

/* The harness runs the checker on every crash state, many times in one
 * process: each run on the same image gives the same answer (nothing
 * carries over from one check to the next).  The time per check is
 * printed as a figure only; speed is measured by make bench, never
 * asserted in a test (a busy machine or valgrind would make it flake). */
TEST(check_repeated_on_one_image_gives_one_answer)
{
	struct check_result res;
	struct msgs m;
	struct mem_image img;
	struct timespec t0, t1;
	pd_block_t nr;
	uint8_t *data = restore_image(sample_xml(), 4, &nr);
	unsigned rounds = 2000;
	double us;

	struct check_result first;

	mem_init(&img, data, nr);
	ASSERT_OK(check_thin_metadata(&img.bd, 0, NULL, NULL, &first));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < rounds; i++) {
		ASSERT_OK(check_thin_metadata(&img.bd, 0, NULL, NULL, &res));
		ASSERT_EQ(res.errors, first.errors);
		ASSERT_UEQ(res.metadata_blocks_used, first.metadata_blocks_used);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
	      (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / rounds;
	printf("# check of a %" PRIu64 "-block image (%" PRIu64 " blocks used): %.1f us\n",
	       (uint64_t)nr, res.metadata_blocks_used, us);
	ASSERT_EQ(res.errors, 0);
	ASSERT_TRUE(first.metadata_blocks_used > 0);
	(void)m;
	free(data);
}

TEST(check_bad_arguments)
{
	struct check_result res;
	struct mem_image img;
	uint8_t data[BS];

	mem_init(&img, data, 1);
	img.bd.block_size = 512;
	ASSERT_ERR(check_thin_metadata(&img.bd, 0, NULL, NULL, &res), -EINVAL);
	ASSERT_ERR(check_thin_metadata(NULL, 0, NULL, NULL, &res), -EINVAL);
}
