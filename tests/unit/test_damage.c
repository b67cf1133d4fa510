/* tests/unit/test_damage.c - the damage step (harness/engine/damage.h): its
 * plan of an image's metadata blocks and its damage kinds, and the core
 * bugs `pdcrash run --damage` found, each on the image that showed it.
 */
#include "cache.h"
#include "check.h"
#include "check_cache.h"
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

/* Damage the first planned block of tree (with keys: the node whose
 * first and last keys are keys[0] and keys[1]) with the kind called
 * name; returns the block. */
static pd_block_t damage_where(struct rig *g, enum dmg_tree tree, int leaf,
			       const uint64_t *keys, const char *name)
{
	struct dmg_plan plan;
	uint8_t buf[4096];
	int kind = dmg_kind_find(name, strlen(name));
	size_t i;

	ASSERT_TRUE(kind >= 0);
	ASSERT_OK(dmg_plan_build(g->bd, &plan));
	for (i = 0; i < plan.nr; i++)
		if (plan.t[i].tree == tree && plan.t[i].leaf == leaf &&
		    (!keys || (plan.t[i].has_keys && plan.t[i].key_lo == keys[0] &&
			       plan.t[i].key_hi == keys[1])))
			break;
	ASSERT_TRUE(i < plan.nr);
	ASSERT_OK(bdev_read(g->bd, plan.t[i].block, buf));
	ASSERT_OK(dmg_apply(&plan, &plan.t[i], (unsigned)kind, buf));
	ASSERT_OK(bdev_write(g->bd, plan.t[i].block, buf, 0));
	pd_block_t b = plan.t[i].block;
	dmg_plan_free(&plan);
	return b;
}

static pd_block_t damage_first(struct rig *g, enum dmg_tree tree, int leaf,
			       const char *name)
{
	return damage_where(g, tree, leaf, NULL, name);
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
 * one-child-parent leaves a bottom root one child, the top-level leaf
 * above it, which reads as a leaf of the bottom level (8-byte values):
 * a lookup goes through, so the highest "mapped" block is the top-level
 * leaf's highest key, and its remove passes the lookup bt_remove makes
 * first; the descent must then refuse the root's only child, already on
 * its spine (bt_remove.c absorb_child), rather than absorb the top-level
 * leaf into the bottom tree.
 */
TEST(damage_one_child_parent_remove_refused_at_absorb)
{
	struct thin_pool *pool;
	struct rig g;
	uint64_t hi;

	rig_build(&g, 1000, 300);
	damage_first(&g, DT_MAP_BOTTOM, 0, "one-child-parent");
	ASSERT_TRUE(check_findings(g.bd) > 0);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_get_highest_mapped(pool, 1, &hi));
	ASSERT_UEQ(hi, 1);		/* device 1's key in the top-level leaf */
	ASSERT_ERR(thin_remove(pool, 1, hi), -EILSEQ);
	thin_pool_destroy(pool);
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

/* Device 0 maps 0..299 (its root's keys 0 and 126), device 1 0..125 and
 * 400..526 (its root's keys 0 and 400: device 0's keys fit the range of
 * its first child), as scenarios/reach/damage-two-depths.scn does. */
static void rig_two(struct rig *g)
{
	static const uint64_t runs[][3] = {	/* dev, first, last */
		{ 0, 0, 299 }, { 1, 0, 125 }, { 1, 400, 526 },
	};
	struct thin_pool *pool;

	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &g->sd));
	g->bd = simdisk_bdev(g->sd);
	g->p = (struct thin_pool_params) {
		.data_block_size = 128,
		.nr_data_blocks = 1000,
	};
	ASSERT_OK(thin_pool_format(g->bd, &g->p, &pool));
	ASSERT_OK(thin_create_thin(pool, 0));
	ASSERT_OK(thin_create_thin(pool, 1));
	for (size_t i = 0; i < PD_ARRAY_SIZE(runs); i++) {
		for (uint64_t v = runs[i][1]; v <= runs[i][2]; v++) {
			pd_block_t b;

			ASSERT_OK(thin_alloc_data_block(pool, &b));
			ASSERT_OK(thin_insert(pool, runs[i][0], v, b));
		}
	}
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);
}

/* Damage, with the kind called name, the mapping tree node (leaf or
 * internal) whose first and last keys are lo and hi. */
static void damage_node(struct rig *g, int leaf, uint64_t lo, uint64_t hi,
			const char *name)
{
	damage_where(g, DT_MAP_BOTTOM, leaf, (const uint64_t[]){ lo, hi }, name);
}

/* 1 if the pool's damage record says what. */
static int damage_says(struct thin_pool *pool, const char *what)
{
	const struct pd_damage *d = thin_damage(pool);

	if (d->seq && strstr(d->text, what))
		return 1;
	fprintf(stderr, "  damage record: %s\n", d->seq ? d->text : "(none)");
	return 0;
}

static int count_map(void *ctx, uint64_t vblock, pd_block_t block,
		     uint32_t time)
{
	(void)vblock;
	(void)block;
	(void)time;
	++*(uint64_t *)ctx;
	return 0;
}

/*
 * key0-raised: device 1's root says its first child starts at block 1,
 * but that child holds block 0.  A lookup of block 0 finds it (nothing
 * lies left of the first child), the remove's descent finds no slot for
 * it: the remove must refuse (-EILSEQ, core/bt_remove.c
 * rebalance_children), not remove another key or succeed.
 */
TEST(damage_key0_raised_lookup_finds_remove_refuses)
{
	struct thin_lookup_result lr;
	struct thin_pool *pool;
	struct rig g;

	rig_two(&g);
	damage_node(&g, 0, 0, 400, "key0-raised");
	ASSERT_TRUE(check_findings(g.bd) > 0);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_lookup(pool, 1, 0, &lr));
	ASSERT_EQ(lr.data_block, 300);
	ASSERT_ERR(thin_remove(pool, 1, 0), -EILSEQ);
	ASSERT_OK(thin_abort(pool));
	/* the abort took the pool back to the image: block 0 still there */
	ASSERT_OK(thin_lookup(pool, 1, 0, &lr));
	ASSERT_EQ(lr.data_block, 300);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/*
 * The cursor (thin_find_mapped_range) meeting damage below a root: a
 * first child whose keys are above its slot's range (child0-next), a
 * last child whose keys are below it (child-sibling), and device 0's
 * root as device 1's first child (child0-fit: keys in order, leaves at
 * two depths).  Each must be -EILSEQ with a damage record saying what,
 * from the range the exercise of the damage step asks, past the highest
 * block its walk met.
 */
TEST(damage_cursor_refuses_damage_below_the_root)
{
	static const struct {
		const char *kind;
		int leaf;
		uint64_t lo, hi, from;
		const char *says;
	} cases[] = {
		{ "child0-next", 0, 0, 400, 0, "outside the range" },
		{ "child-sibling", 0, 0, 400, 400, "outside the range" },
		{ "child0-fit", 0, 0, 400, 300, "different depths" },
	};

	for (size_t k = 0; k < PD_ARRAY_SIZE(cases); k++) {
		struct thin_mapped_range mr;
		struct thin_pool *pool;
		struct rig g;
		uint64_t n = 0;

		rig_two(&g);
		damage_node(&g, cases[k].leaf, cases[k].lo, cases[k].hi,
			    cases[k].kind);
		ASSERT_TRUE(check_findings(g.bd) > 0);
		ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
		pd_damage_clear(thin_damage(pool));
		ASSERT_ERR(thin_find_mapped_range(pool, 1, cases[k].from,
						  UINT64_MAX, &mr), -EILSEQ);
		if (!damage_says(pool, cases[k].says))
			test_fail(__FILE__, __LINE__, "%s: no '%s'",
				  cases[k].kind, cases[k].says);
		/* the walk refuses it too; the check of the trees as well */
		ASSERT_ERR(thin_walk_mappings(pool, 1, count_map, &n), -EILSEQ);
		thin_pool_destroy(pool);
		simdisk_destroy(g.sd);
	}
}

/*
 * nr-zero on device 1's last leaf, right of the path to its first: a
 * remove_range from past the first leaf's highest block steps right of
 * its path (bt_lookup_next) into the empty non-root leaf, which is
 * damage (-EILSEQ, core/bt.c find_edge), not "nothing there".
 */
TEST(damage_empty_leaf_right_of_lookup_next)
{
	struct thin_pool *pool;
	struct rig g;
	uint64_t n = 0;

	rig_two(&g);
	damage_node(&g, 1, 400, 526, "nr-zero");
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_ERR(thin_remove_range(pool, 1, 126, 142, &n), -EILSEQ);
	ASSERT_UEQ(n, 0);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/*
 * sb-compat-ro: an unknown compat_ro feature flag.  A read-write open
 * refuses it (-EINVAL, as the kernel's); a read-only open may read the
 * pool (FORMAT.md: compat_ro bits refuse read-write opens only).
 * sb-data-alloc-over: the data space map's root counts more allocated
 * than it has blocks; the status line says no block is free, not a
 * count wrapped below zero.
 */
TEST(damage_superblock_feature_and_data_root_counts)
{
	struct thin_pool_params ro;
	struct thin_lookup_result lr;
	struct thin_pool *pool;
	pd_block_t nfree = 1;
	struct rig g;

	rig_two(&g);
	damage_first(&g, DT_NONE, 0, "sb-compat-ro");
	ASSERT_ERR(thin_pool_open(g.bd, &g.p, &pool), -EINVAL);
	ro = g.p;
	ro.flags = THIN_OPEN_READ_ONLY;
	ASSERT_OK(thin_pool_open(g.bd, &ro, &pool));
	ASSERT_OK(thin_lookup(pool, 1, 400, &lr));
	ASSERT_EQ(lr.data_block, 426);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);

	rig_two(&g);
	damage_first(&g, DT_NONE, 0, "sb-data-alloc-over");
	ASSERT_TRUE(check_findings(g.bd) > 0);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_get_free_data_blocks(pool, &nfree));
	ASSERT_UEQ(nfree, 0);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/*
 * sb-data-nr-bit40: the data space map's block count with bit 40 set.
 * The open takes the count as it is (the checker reports it), so the
 * pool says it has more data blocks than a mapping's 40 bits can name:
 * the insert of its last one must be refused (-EINVAL, core/thin.c
 * insert_mapping), and nothing is mapped after it.  Undamaged, the same
 * insert of the last data block succeeds.
 */
TEST(damage_data_count_past_40_bits_insert_refused)
{
	struct thin_lookup_result lr;
	struct thin_pool *pool;
	pd_block_t nr = 0;
	struct rig g;

	rig_two(&g);
	damage_first(&g, DT_NONE, 0, "sb-data-nr-bit40");
	ASSERT_TRUE(check_findings(g.bd) > 0);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_get_nr_data_blocks(pool, &nr));
	ASSERT_UEQ(nr, 1000 | 1ull << 40);
	ASSERT_ERR(thin_insert(pool, 1, 600, nr - 1), -EINVAL);
	ASSERT_ERR(thin_lookup(pool, 1, 600, &lr), -ENODATA);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);

	rig_two(&g);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_insert(pool, 1, 600, 999));
	ASSERT_OK(thin_lookup(pool, 1, 600, &lr));
	ASSERT_UEQ(lr.data_block, 999);
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/* 1 if a leaf of a device's mapping tree has first and last keys lo and
 * hi, as committed. */
static int has_leaf(struct rig *g, uint64_t lo, uint64_t hi)
{
	struct dmg_plan plan;
	int found = 0;

	ASSERT_OK(dmg_plan_build(g->bd, &plan));
	for (size_t i = 0; i < plan.nr; i++)
		if (plan.t[i].tree == DT_MAP_BOTTOM && plan.t[i].leaf &&
		    plan.t[i].has_keys && plan.t[i].key_lo == lo &&
		    plan.t[i].key_hi == hi)
			found = 1;
	dmg_plan_free(&plan);
	return found;
}

/*
 * nr-zero on the last of three leaves whose first two hold 84 and 85
 * entries (600 mappings in order, the lowest 205 removed, as
 * scenarios/reach/damage-merge-three.scn): the remove of the second
 * leaf's first key rebalances the three with 169 entries, fewer than
 * two nodes of 85 need, so they merge into one (core/bt_remove.c
 * rebalance3's merge arm, which the kernel's rebalance has too).  The
 * remove succeeds, and every other mapping the walk met before it is
 * still there, to the same data block.
 */
TEST(damage_empty_leaf_beside_two_thirds_merges_on_remove)
{
	struct thin_lookup_result lr;
	struct thin_pool *pool;
	struct rig g;
	uint64_t n = 0;

	rig_build(&g, 1000, 600);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_remove_range(pool, 1, 0, 205, &n));
	ASSERT_UEQ(n, 205);
	ASSERT_OK(thin_commit(pool));
	thin_pool_destroy(pool);
	/* the first two leaves hold 205..288 and 289..373 */
	ASSERT_TRUE(has_leaf(&g, 205, 288) && has_leaf(&g, 289, 373));
	damage_node(&g, 1, 374, 599, "nr-zero");
	ASSERT_TRUE(check_findings(g.bd) > 0);
	ASSERT_OK(thin_pool_open(g.bd, &g.p, &pool));
	ASSERT_OK(thin_remove(pool, 1, 289));
	ASSERT_OK(thin_commit(pool));
	/* merged: one leaf holds them all */
	ASSERT_TRUE(has_leaf(&g, 205, 373));
	n = 0;
	ASSERT_OK(thin_walk_mappings(pool, 1, count_map, &n));
	ASSERT_UEQ(n, 168);
	for (uint64_t v = 205; v < 374; v++) {
		int r = thin_lookup(pool, 1, v, &lr);

		if (v == 289) {
			ASSERT_ERR(r, -ENODATA);
			continue;
		}
		ASSERT_OK(r);
		ASSERT_UEQ(lr.data_block, v);
	}
	thin_pool_destroy(pool);
	simdisk_destroy(g.sd);
}

/* --- dm-cache metadata (issue 15) ------------------------------------------ */

/* Committed dm-cache metadata, format version, 600 cache blocks (two
 * mapping array blocks), every other one of the first 520 mapped, hints
 * written, two discard bits; closed (crashed) after the commit. */
static struct simdisk *cache_rig(unsigned version)
{
	struct cache_params p = { .data_block_size = 128, .version = version,
				  .flags = CACHE_OPEN_FORMAT };
	const uint32_t pv[CACHE_POLICY_VERSION_SIZE] = { 2, 0, 0 };
	static uint32_t hints[600];
	struct cache_md *cmd;
	struct simdisk *sd;

	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &sd));
	ASSERT_OK(cache_md_format(simdisk_bdev(sd), &p, &cmd));
	ASSERT_OK(cache_resize(cmd, 600));
	ASSERT_OK(cache_discard_resize(cmd, 128, 70));
	for (uint32_t cb = 0; cb < 520; cb += 2)
		ASSERT_OK(cache_insert_mapping(cmd, cb, 1000 + cb));
	ASSERT_OK(cache_set_dirty(cmd, 4, 1));
	for (uint32_t i = 0; i < 600; i++)
		hints[i] = i * 7;
	ASSERT_OK(cache_write_hints(cmd, "smq", pv, 4, hints));
	ASSERT_OK(cache_set_discard(cmd, 3, 1));
	ASSERT_OK(cache_set_discard(cmd, 69, 1));
	ASSERT_OK(cache_commit(cmd, 0));
	cache_md_destroy(cmd);
	return sd;
}

/* Damage the first planned block of this role and tree with the kind
 * called name; returns the block. */
static pd_block_t damage_first_of(struct bdev *bd, enum dmg_role role,
				  enum dmg_tree tree, const char *name)
{
	struct dmg_plan plan;
	uint8_t buf[4096];
	int kind = dmg_kind_find(name, strlen(name));
	pd_block_t b;
	size_t i;

	ASSERT_TRUE(kind >= 0);
	ASSERT_OK(dmg_plan_build(bd, &plan));
	for (i = 0; i < plan.nr; i++)
		if (plan.t[i].role == role && plan.t[i].tree == tree)
			break;
	ASSERT_TRUE(i < plan.nr);
	ASSERT_OK(bdev_read(bd, plan.t[i].block, buf));
	ASSERT_OK(dmg_apply(&plan, &plan.t[i], (unsigned)kind, buf));
	ASSERT_OK(bdev_write(bd, plan.t[i].block, buf, 0));
	b = plan.t[i].block;
	dmg_plan_free(&plan);
	return b;
}

TEST(damage_plan_finds_every_cache_metadata_block)
{
	unsigned roles[DR_NR] = { 0 }, trees[DT_C_DIRTY + 1] = { 0 };
	struct simdisk *sd = cache_rig(2);
	struct dmg_plan plan;

	ASSERT_OK(dmg_plan_build(simdisk_bdev(sd), &plan));
	ASSERT_TRUE(plan.cache);
	ASSERT_UEQ(plan.cache_version, 2);
	ASSERT_UEQ(plan.cache_blocks, 600);
	ASSERT_UEQ(plan.discard_nr_blocks, 70);
	for (size_t i = 0; i < plan.nr; i++) {
		roles[plan.t[i].role]++;
		if (plan.t[i].role == DR_ABLOCK)
			trees[plan.t[i].tree]++;
	}
	ASSERT_EQ(roles[DR_CSB], 1);
	ASSERT_EQ(roles[DR_SB], 0);
	ASSERT_EQ(roles[DR_INDEX], 1);
	ASSERT_EQ(roles[DR_BITMAP], 1);
	/* 600 mappings: 2 array blocks of 509; 600 4-byte hints: 1 of 1018;
	 * 70 discard bits and 600 dirty bits: 1 word block each */
	ASSERT_EQ(trees[DT_C_MAP], 2);
	ASSERT_EQ(trees[DT_C_HINT], 1);
	ASSERT_EQ(trees[DT_C_DISCARD], 1);
	ASSERT_EQ(trees[DT_C_DIRTY], 1);
	/* an index tree each (one leaf) and the metadata ref-count root */
	ASSERT_EQ(roles[DR_NODE], 5);
	dmg_plan_free(&plan);
	simdisk_destroy(sd);
}

/* A damaged mapping array block (nr_entries past max_entries, checksum
 * recomputed) is refused by the core and named by the checker. */
TEST(damage_cache_array_block_detected_and_named)
{
	struct cache_params p = { .data_block_size = 128 };
	struct check_cache_result cr;
	struct simdisk *sd = cache_rig(1);
	struct bdev *bd = simdisk_bdev(sd);
	struct cache_mapping m;
	struct cache_md *cmd;
	char msgs[4096] = "", want[64];
	pd_block_t b = damage_first_of(bd, DR_ABLOCK, DT_C_MAP, "ab-nr-over");

	ASSERT_OK(check_cache_metadata(bd, CHECK_STRICT, msg_collect, msgs, &cr));
	ASSERT_TRUE(cr.errors > 0);
	snprintf(want, sizeof(want), "array block %" PRIu64 ":", (uint64_t)b);
	if (!strstr(msgs, want))
		test_fail(__FILE__, __LINE__, "no '%s' in:\n%s", want, msgs);
	ASSERT_TRUE(dmg_names_block(msgs, b));
	ASSERT_OK(cache_md_open(bd, &p, &cmd));
	ASSERT_ERR(cache_lookup_mapping(cmd, 0, &m), -EILSEQ);
	cache_md_destroy(cmd);
	simdisk_destroy(sd);
}

/*
 * Found by `pdcrash run --damage` on scenarios/cache (basic:s1:d4.29.
 * ie-free-zero:e0): core/check_cache.c did not compare the metadata space
 * map's index entries with their bitmaps, so an index saying its bitmap
 * has no free block (or a none_free_before past every free one) passed
 * the strict check, and the core's next allocation failed with -ENOSPC
 * on metadata 95% free.  check.c has made the same check for thin.
 */
TEST(damage_cache_checker_compares_index_entries_with_bitmaps)
{
	static const char *const kinds[] = { "ie-free-zero", "ie-free-inc",
					     "ie-nfb-over" };

	for (size_t k = 0; k < PD_ARRAY_SIZE(kinds); k++) {
		struct cache_params p = { .data_block_size = 128 };
		struct check_cache_result cr;
		struct simdisk *sd = cache_rig(1);
		struct bdev *bd = simdisk_bdev(sd);
		struct cache_md *cmd;
		char msgs[4096] = "", want[64];
		pd_block_t b;

		ASSERT_OK(check_cache_metadata(bd, CHECK_STRICT, NULL, NULL, &cr));
		ASSERT_EQ(cr.errors + cr.warnings + cr.leaks, 0);
		b = damage_first_of(bd, DR_INDEX, DT_NONE, kinds[k]);
		ASSERT_OK(check_cache_metadata(bd, CHECK_STRICT, msg_collect, msgs,
					       &cr));
		snprintf(want, sizeof(want), "index block %" PRIu64 ", entry 0",
			 (uint64_t)b);
		if (cr.errors != 1 || !strstr(msgs, want))
			test_fail(__FILE__, __LINE__, "%s: %u errors, want one "
				  "with '%s':\n%s", kinds[k], cr.errors, want, msgs);
		/* a warning without CHECK_STRICT, as check.c's */
		ASSERT_OK(check_cache_metadata(bd, 0, NULL, NULL, &cr));
		ASSERT_EQ(cr.errors, 0);
		ASSERT_EQ(cr.warnings, 1);
		if (strcmp(kinds[k], "ie-free-inc")) {
			/* the damage matters: the allocator finds no block */
			ASSERT_OK(cache_md_open(bd, &p, &cmd));
			ASSERT_ERR(cache_insert_mapping(cmd, 1, 5), -ENOSPC);
			cache_md_destroy(cmd);
		}
		simdisk_destroy(sd);
	}
}
