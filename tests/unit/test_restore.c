/* tests/unit/test_restore.c - the restore op's two halves (thin_xml.h):
 * pdtool's dump of the committed metadata and its rebuild into the open
 * pool (thin_set_time, thin_set_dev_info, thin_insert_raw), as
 * harness/engine/workload.c's restore runs them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "oracle.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "thin_xml.h"

struct rig {
	struct simdisk *sd;
	struct bdev *bd;
	struct thin_pool *pool;
	struct thin_pool_params p;
};

static void map(struct rig *g, uint64_t dev, uint64_t vb)
{
	pd_block_t b;

	ASSERT_OK(thin_alloc_data_block(g->pool, &b));
	ASSERT_OK(thin_insert(g->pool, dev, vb, b));
}

/* Devices sharing mappings through a snapshot, mappings of three times,
 * a device without mappings, a transaction id: the shapes restore.scn
 * has, with a device of several leaves. */
static void rig_up(struct rig *g)
{
	ASSERT_OK(simdisk_create(4096, 1024, &g->sd));
	g->bd = simdisk_bdev(g->sd);
	g->p = (struct thin_pool_params) { .data_block_size = 128,
					   .nr_data_blocks = 2000,
					   .cache_blocks = 32 };
	ASSERT_OK(thin_pool_format(g->bd, &g->p, &g->pool));
	ASSERT_OK(thin_create_thin(g->pool, 0));
	for (uint64_t v = 0; v < 400; v++)
		map(g, 0, v * 3);		/* no runs: 400 single mappings */
	ASSERT_OK(thin_create_snap(g->pool, 1, 0));
	for (uint64_t v = 100; v < 140; v++)
		map(g, 0, v * 3);		/* copy-on-write, time 1 */
	ASSERT_OK(thin_create_thin(g->pool, 2));
	ASSERT_OK(thin_create_snap(g->pool, 5, 1));
	for (uint64_t v = 0; v < 10; v++)
		map(g, 1, 5000 + v);		/* a run, time 2 */
	ASSERT_OK(thin_set_transaction_id(g->pool, 0, 7));
	ASSERT_OK(thin_commit(g->pool));
}

static void rig_down(struct rig *g)
{
	thin_pool_destroy(g->pool);
	simdisk_destroy(g->sd);
}

/* The committed metadata as XML, read by a reader of its own. */
static char *dump(struct rig *g, size_t *len)
{
	struct thin_pool_params ro = { .flags = THIN_OPEN_READ_ONLY };
	struct thin_sb_info sb;
	struct thin_pool *pool;
	char *xml = NULL;
	FILE *f = open_memstream(&xml, len);

	ASSERT_TRUE(f != NULL);
	ASSERT_OK(thin_read_superblock(g->bd, &sb));
	ASSERT_OK(thin_pool_open(g->bd, &ro, &pool));
	ASSERT_OK(thin_xml_dump(pool, &sb, f));
	thin_pool_destroy(pool);
	ASSERT_EQ(fclose(f), 0);
	return xml;
}

static void assert_clean(struct rig *g)
{
	struct check_result cr;

	ASSERT_OK(check_thin_metadata(g->bd, CHECK_STRICT, NULL, NULL, &cr));
	ASSERT_EQ(cr.errors, 0);
	ASSERT_EQ(cr.leaks, 0);
}

TEST(restore_rebuild_keeps_every_mapping_detail_and_time)
{
	struct thin_lookup_result a, b;
	struct digest before, after;
	struct rig g;
	pd_block_t free_before, free_after;
	uint32_t time;
	uint64_t tid;
	char msg[256] = "";
	size_t len;
	char *xml;

	rig_up(&g);
	ASSERT_OK(pool_digest(g.pool, &before));
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &free_before));
	ASSERT_OK(thin_lookup(g.pool, 1, 5003, &a));	/* time 2, unshared */
	xml = dump(&g, &len);
	ASSERT_OK(thin_xml_rebuild(g.pool, xml, len, "dump", msg, sizeof(msg)));
	ASSERT_OK(thin_commit(g.pool));
	/* devices, details, mappings with their times, pool time and
	 * transaction id: the digest of each and the data blocks in use */
	ASSERT_OK(pool_digest(g.pool, &after));
	ASSERT_TRUE(digest_eq(before, after));
	ASSERT_OK(thin_get_free_data_blocks(g.pool, &free_after));
	ASSERT_EQ(free_after, free_before);
	ASSERT_OK(thin_get_time(g.pool, &time));
	ASSERT_EQ(time, 2);
	ASSERT_OK(thin_get_transaction_id(g.pool, &tid));
	ASSERT_EQ(tid, 7);
	ASSERT_OK(thin_lookup(g.pool, 1, 5003, &b));
	ASSERT_EQ(b.data_block, a.data_block);
	ASSERT_EQ(b.time, 2);
	ASSERT_EQ(b.shared, 0);
	/* dev 5 was snapshotted from 1 at time 2: its older blocks are
	 * shared (TH3), as before */
	ASSERT_OK(thin_lookup(g.pool, 5, 0, &b));
	ASSERT_EQ(b.shared, 1);
	/* reference counts: each device's tree is its own now, and a data
	 * block mapped by three devices has three references */
	assert_clean(&g);
	thin_pool_destroy(g.pool);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &g.pool));
	ASSERT_OK(pool_digest(g.pool, &after));
	ASSERT_TRUE(digest_eq(before, after));
	free(xml);
	rig_down(&g);
}

/* The comparisons above see a lost mapping: the same rebuild from a dump
 * with one mapping taken out shows another digest and no such mapping. */
TEST(restore_rebuild_of_a_dump_short_of_one_mapping_differs)
{
	struct thin_lookup_result lr;
	struct digest before, after;
	struct rig g;
	char msg[256] = "";
	char *xml, *m, *end;
	size_t len;

	rig_up(&g);
	ASSERT_OK(pool_digest(g.pool, &before));
	xml = dump(&g, &len);
	m = strstr(xml, "<single_mapping origin_block=\"3\"");
	ASSERT_TRUE(m != NULL);
	end = strchr(m, '\n');
	ASSERT_TRUE(end != NULL);
	memmove(m, end + 1, strlen(end + 1) + 1);
	len = strlen(xml);
	ASSERT_OK(thin_xml_rebuild(g.pool, xml, len, "dump", msg, sizeof(msg)));
	ASSERT_OK(pool_digest(g.pool, &after));
	ASSERT_TRUE(!digest_eq(before, after));
	ASSERT_ERR(thin_lookup(g.pool, 0, 3, &lr), -ENODATA);
	free(xml);
	rig_down(&g);
}

TEST(restore_rebuild_refuses_a_dump_of_other_sizes)
{
	static const char other[] =
		"<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" "
		"version=\"2\" data_block_size=\"128\" nr_data_blocks=\"999\">\n"
		"</superblock>\n";
	static const char past_end[] =
		"<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" "
		"version=\"2\" data_block_size=\"128\" nr_data_blocks=\"2000\">\n"
		"  <device dev_id=\"0\" mapped_blocks=\"1\" transaction=\"0\" "
		"creation_time=\"0\" snap_time=\"0\">\n"
		"    <single_mapping origin_block=\"0\" data_block=\"2000\" "
		"time=\"0\"/>\n"
		"  </device>\n"
		"</superblock>\n";
	struct rig g;
	char msg[256] = "";

	rig_up(&g);
	ASSERT_ERR(thin_xml_rebuild(g.pool, other, strlen(other), "other",
				    msg, sizeof(msg)), -EINVAL);
	ASSERT_TRUE(strstr(msg, "nr_data_blocks 999") != NULL);
	ASSERT_TRUE(strstr(msg, "other:1:") != NULL);
	ASSERT_OK(thin_abort(g.pool));
	msg[0] = 0;
	ASSERT_ERR(thin_xml_rebuild(g.pool, past_end, strlen(past_end),
				    "past", msg, sizeof(msg)), -EINVAL);
	ASSERT_TRUE(strstr(msg, "beyond nr_data_blocks") != NULL);
	ASSERT_OK(thin_abort(g.pool));
	rig_down(&g);
}
