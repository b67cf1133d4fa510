/* tests/unit/test_damage.c - the damage step (harness/engine/damage.h): its
 * plan of an image's metadata blocks and its damage kinds, and the core
 * bugs `pdcrash run --damage` found, each on the image that showed it.
 */
#include "check.h"
#include "damage_internal.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "util.h"

#define META_BLOCKS 256

struct rig {
	struct simdisk *sd;
	struct bdev *bd;
	struct thin_pool_params p;
};

/* A committed pool of nr_data data blocks, device 1 mapping the first
 * `mapped` of them; the pool closed (crashed) after the commit. */
static void rig_build(struct rig *g, pd_block_t nr_data, uint64_t mapped)
{
	struct thin_pool *pool;

	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &g->sd));
	g->bd = simdisk_bdev(g->sd);
	g->p = (struct thin_pool_params) {
		.data_block_size = 128,
		.nr_data_blocks = nr_data,
	};
	ASSERT_OK(thin_pool_format(g->bd, &g->p, &pool));
	ASSERT_OK(thin_create_thin(pool, 1));
	for (uint64_t v = 0; v < mapped; v++) {
		pd_block_t b;

		ASSERT_OK(thin_alloc_data_block(pool, &b));
		ASSERT_OK(thin_insert(pool, 1, v, b));
	}
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);
}

static void msg_sink(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "  check: %s\n", text);
}

/* 0 findings of core/check.c in strict mode, as recovery asks. */
static unsigned check_findings(struct bdev *bd)
{
	struct check_result cr;

	ASSERT_OK(check_thin_metadata(bd, CHECK_STRICT, msg_sink, NULL, &cr));
	return cr.errors + cr.leaks;
}

/* Damage the first planned block of tree with the kind called name;
 * returns the block. */
static pd_block_t damage_first(struct rig *g, enum dmg_tree tree, int leaf,
			       const char *name)
{
	struct dmg_plan plan;
	uint8_t buf[4096];
	int kind = dmg_kind_find(name, strlen(name));
	size_t i;

	ASSERT_TRUE(kind >= 0);
	ASSERT_OK(dmg_plan_build(g->bd, &plan));
	for (i = 0; i < plan.nr; i++)
		if (plan.t[i].tree == tree && plan.t[i].leaf == leaf)
			break;
	ASSERT_TRUE(i < plan.nr);
	ASSERT_OK(bdev_read(g->bd, plan.t[i].block, buf));
	ASSERT_OK(dmg_apply(&plan, &plan.t[i], (unsigned)kind, buf));
	ASSERT_OK(bdev_write(g->bd, plan.t[i].block, buf, 0));
	pd_block_t b = plan.t[i].block;
	dmg_plan_free(&plan);
	return b;
}

static void msg_collect(void *ctx, const char *text)
{
	size_t n = strlen(ctx);

	snprintf((char *)ctx + n, 4096 - n, "%s\n", text);
}

/* Issue 16: a finding about a reference names the block holding it, so a
 * bad child pointer is reported at the node that was damaged. */
TEST(damage_checker_names_the_node_holding_a_bad_pointer)
{
	static const char *const kinds[] = { "child-end", "child-zero",
					     "child-self", "child0-other" };
	char msgs[4096], want[64], want2[64];
	struct check_result cr;

	for (size_t k = 0; k < PD_ARRAY_SIZE(kinds); k++) {
		struct rig g;
		pd_block_t b;

		rig_build(&g, 1000, 300);
		b = damage_first(&g, DT_MAP_BOTTOM, 0, kinds[k]);
		msgs[0] = 0;
		ASSERT_OK(check_thin_metadata(g.bd, CHECK_STRICT, msg_collect,
					      msgs, &cr));
		ASSERT_TRUE(cr.errors > 0);
		/* "(named by block B)" on a header finding, ", in entry I of
		 * block B (kind)" on a pointer finding */
		snprintf(want, sizeof(want), "named by block %" PRIu64 ")",
			 (uint64_t)b);
		snprintf(want2, sizeof(want2), "of block %" PRIu64 " (",
			 (uint64_t)b);
		if (!strstr(msgs, want) && !strstr(msgs, want2))
			test_fail(__FILE__, __LINE__, "%s: no '%s' in:\n%s",
				  kinds[k], want, msgs);
		simdisk_destroy(g.sd);
	}
}

TEST(damage_plan_finds_every_metadata_block)
{
	struct rig g;
	struct dmg_plan plan;
	unsigned roles[DR_NR] = { 0 };

	rig_build(&g, 1000, 300);
	ASSERT_OK(dmg_plan_build(g.bd, &plan));
	for (size_t i = 0; i < plan.nr; i++) {
		roles[plan.t[i].role]++;
		if (i)
			ASSERT_TRUE(plan.t[i - 1].block < plan.t[i].block);
	}
	ASSERT_EQ(roles[DR_SB], 1);
	ASSERT_EQ(roles[DR_INDEX], 1);
	ASSERT_EQ(roles[DR_BITMAP], 2);		/* one metadata, one data */
	/* mapping top leaf, an internal node and 2 leaves for 300 mappings,
	 * details, data index, two ref-count roots */
	ASSERT_EQ(roles[DR_NODE], 8);
	ASSERT_EQ(plan.data_used, 300);
	dmg_plan_free(&plan);
	simdisk_destroy(g.sd);
}

TEST(damage_kinds_fit_and_recompute_the_checksum)
{
	struct rig g;
	struct dmg_plan plan;
	uint8_t buf[4096], tmp[4096];
	unsigned fitted = 0;

	rig_build(&g, 1000, 300);
	ASSERT_OK(dmg_plan_build(g.bd, &plan));
	for (size_t i = 0; i < plan.nr; i++) {
		ASSERT_OK(bdev_read(g.bd, plan.t[i].block, buf));
		for (unsigned k = 0; k < damage_nr_kinds(); k++) {
			memcpy(tmp, buf, sizeof(tmp));
			if (dmg_apply(&plan, &plan.t[i], k, tmp))
				continue;
			fitted++;
			ASSERT_TRUE(memcmp(tmp, buf, sizeof(tmp)));
			/* a damage changes more than the checksum */
			ASSERT_TRUE(memcmp(tmp + 4, buf + 4, sizeof(tmp) - 4));
		}
	}
	ASSERT_TRUE(fitted > 100);
	ASSERT_UEQ(damage_id_parse("x:s1:d2.17.child-self:e0",
				   &(struct damage_id){ 0 }, (char[80]){ 0 }, 80), 1);
	dmg_plan_free(&plan);
	simdisk_destroy(g.sd);
}

/*
 * Found by `pdcrash run --damage` (enospc-data:s1:d4.29.ie-free-zero:e0):
 * a data space map whose partial last bitmap counts only its entries
 * inside the device as free (as Debian's thin_restore writes it; the
 * checker accepts both conventions) and has none free there.  A resize
 * that grows the device inside that bitmap left its nr_free at 0, so the
 * allocator skipped the bitmap and the new blocks were never handed out
 * (-ENOSPC), and the next commit wrote an index the checker refuses.
 */
TEST(damage_resize_inside_a_full_partial_bitmap_restore_style)
{
	struct rig g;
	struct thin_pool *pool;
	pd_block_t b;

	rig_build(&g, 200, 200);
	damage_first(&g, DT_DATA_INDEX, 1, "ie-free-zero");
	ASSERT_EQ(check_findings(g.bd), 0);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_ERR(thin_alloc_data_block(pool, &b), -ENOSPC);
	ASSERT_OK(thin_resize_data(pool, 216));
	ASSERT_OK(thin_alloc_data_block(pool, &b));
	ASSERT_EQ(b, 200);
	ASSERT_OK(thin_insert(pool, 1, 200, b));
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);
	ASSERT_EQ(check_findings(g.bd), 0);
	simdisk_destroy(g.sd);
}
