/* tests/unit/test_workload_ops.c - the read-only scenario ops (lookup,
 * dev-info, needs-check, check, meta-snap-check; harness/engine/scenario.h)
 * are checked against the oracle, and each check can fail.
 *
 * Each test runs a small scenario through workload_run() on a client that
 * is our core (client_core_ops) with one answer planted wrong, and asserts
 * that the run is a live failure naming the op that noticed; the same
 * scenario on the honest core passes.
 */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "scenario.h"
#include "test.h"
#include "thin.h"
#include "workload.h"

static struct client_ops liar;

static void run_text(const char *text, const struct client_ops *ops,
		     struct run_result *res)
{
	struct scenario *sc;
	char err[256];
	struct run_config cfg;

	ASSERT_OK(scenario_parse("ops", text, &sc, err, sizeof(err)));
	memset(&cfg, 0, sizeof(cfg));
	cfg.sc = sc;
	cfg.seed = 1;
	cfg.quiet = 1;
	cfg.keep_state = -1;
	cfg.client = ops;
	ASSERT_OK(workload_run(&cfg, res));
	scenario_free(sc);
}

/* The scenario passes on the honest core and fails on the liar, with a
 * message naming op_name. */
static void expect_caught(const char *text, const char *op_name)
{
	struct run_result res;

	run_text(text, &client_core_ops, &res);
	if (res.live_failed)
		test_fail(__FILE__, __LINE__, "honest core failed: %s", res.live_msg);
	run_result_free(&res);
	run_text(text, &liar, &res);
	if (!res.live_failed)
		test_fail(__FILE__, __LINE__, "the planted bug went unnoticed (%s)",
			  op_name);
	if (!strstr(res.live_msg, op_name))
		test_fail(__FILE__, __LINE__, "wanted a failure of %s, got: %s",
			  op_name, res.live_msg);
	run_result_free(&res);
}

static int lie_lookup_shared(struct client *c, uint64_t dev, uint64_t v,
			     struct thin_lookup_result *r)
{
	int e = client_core_ops.lookup(c, dev, v, r);

	if (!e)
		r->shared = !r->shared;
	return e;
}

static int lie_lookup_block(struct client *c, uint64_t dev, uint64_t v,
			    struct thin_lookup_result *r)
{
	int e = client_core_ops.lookup(c, dev, v, r);

	if (!e && v == 5)
		r->data_block++;
	return e;
}

static int lie_lookup_unmapped(struct client *c, uint64_t dev, uint64_t v,
			       struct thin_lookup_result *r)
{
	int e = client_core_ops.lookup(c, dev, v, r);

	if (e == -ENODATA && v == 11) {
		r->data_block = 0;
		r->time = 0;
		r->shared = 0;
		return 0;
	}
	return e;
}

static int lie_dev_info(struct client *c, uint64_t dev,
			struct thin_dev_info *info)
{
	int e = client_core_ops.dev_info(c, dev, info);

	if (!e && dev == 1)
		info->snapshotted_time++;
	return e;
}

static int lie_get_nc(struct client *c, int *nc)
{
	int e = client_core_ops.get_needs_check(c, nc);

	*nc = 0;
	return e;
}

static int lie_commit_nothing(struct client *c)
{
	(void)c;
	return 0;
}

static int lie_commit_then_damage(struct client *c)
{
	struct thin_sb_info sb;
	uint8_t buf[4096];
	int e = client_core_ops.commit(c);

	if (e)
		return e;
	/* a byte of the committed mapping tree's root node */
	ASSERT_OK(thin_read_superblock(c->bd, &sb));
	ASSERT_OK(bdev_read(c->bd, sb.data_mapping_root, buf));
	buf[100] ^= 0x5a;
	ASSERT_OK(bdev_write(c->bd, sb.data_mapping_root, buf, 0));
	return 0;
}

static int lie_reserve_extra(struct client *c)
{
	pd_block_t b;
	int e = client_core_ops.alloc_data_block(c, &b);

	if (!e)
		e = client_core_ops.insert(c, 0, 999, b);
	return e ?: client_core_ops.reserve_meta_snap(c);
}

static int lie_reserve_none(struct client *c)
{
	return client_core_ops.commit(c);
}

static const char base[] =
	"create 0\n"
	"map 0 0..9\n"
	"commit\n"
	"snap 1 0\n"
	"map 0 5\n";

TEST(workload_op_lookup_shared_flag_checked)
{
	liar = client_core_ops;
	liar.lookup = lie_lookup_shared;
	expect_caught("create 0\nmap 0 0..3\ncommit\nlookup 0 2\n", "'lookup 0 2'");
}

TEST(workload_op_lookup_block_checked)
{
	char text[256];

	liar = client_core_ops;
	liar.lookup = lie_lookup_block;
	snprintf(text, sizeof(text), "%slookup 1 0..9\n", base);
	expect_caught(text, "'lookup 1 5'");
}

TEST(workload_op_lookup_unmapped_checked)
{
	liar = client_core_ops;
	liar.lookup = lie_lookup_unmapped;
	expect_caught("create 0\nmap 0 0..9\nlookup 0 8..12\n", "'lookup 0 11'");
}

TEST(workload_op_dev_info_checked)
{
	char text[256];

	liar = client_core_ops;
	liar.dev_info = lie_dev_info;
	snprintf(text, sizeof(text), "%sdev-info 0\ndev-info 1\n", base);
	expect_caught(text, "'dev-info 1'");
}

TEST(workload_op_needs_check_checked)
{
	liar = client_core_ops;
	liar.get_needs_check = lie_get_nc;
	expect_caught("create 0\ncommit\nneeds-check\n", "'needs-check'");
}

TEST(workload_op_check_sees_a_commit_that_wrote_nothing)
{
	liar = client_core_ops;
	liar.commit = lie_commit_nothing;
	expect_caught("create 0\nmap 0 0..3\ncommit\ncheck\n", "'check'");
}

TEST(workload_op_check_sees_damage)
{
	liar = client_core_ops;
	liar.commit = lie_commit_then_damage;
	expect_caught("create 0\nmap 0 0..3\ncommit\ncheck\n", "'check'");
}

TEST(workload_op_meta_snap_check_sees_extra_mapping)
{
	liar = client_core_ops;
	liar.reserve_meta_snap = lie_reserve_extra;
	expect_caught("create 0\nmap 0 0..3\nmeta-snap\nmap 0 4\ncommit\n"
		      "meta-snap-check\n", "'meta-snap-check'");
}

TEST(workload_op_meta_snap_check_sees_no_snapshot)
{
	liar = client_core_ops;
	liar.reserve_meta_snap = lie_reserve_none;
	expect_caught("create 0\nmap 0 0..3\nmeta-snap\ncommit\n"
		      "meta-snap-check\n", "'meta-snap-check'");
}

TEST(workload_op_meta_snap_check_expects_none)
{
	struct run_result res;

	/* released and committed: the superblock names no snapshot */
	run_text("create 0\nmeta-snap\ncommit\nmeta-snap-check\n"
		 "meta-snap-release\nmeta-snap-check\ncommit\nmeta-snap-check\n"
		 "check\n", &client_core_ops, &res);
	if (res.live_failed)
		test_fail(__FILE__, __LINE__, "%s", res.live_msg);
	ASSERT_EQ(res.ops[res.nr_ops - 2].result, -ENODATA);
	run_result_free(&res);
}

TEST(workload_op_random_mix_draws_new_kinds_only_when_asked)
{
	struct run_result a, b;
	size_t n[OP_NR_KINDS] = { 0 };

	/* the default mix draws none of the read-only kinds */
	run_text("random ops=400 seed=3\n", &client_core_ops, &a);
	ASSERT_TRUE(!a.live_failed);
	for (size_t i = 0; i < a.nr_ops; i++)
		n[a.ops[i].op.kind]++;
	ASSERT_EQ(n[OP_LOOKUP] + n[OP_DEV_INFO] + n[OP_NEEDS_CHECK] + n[OP_CHECK] +
		  n[OP_META_SNAP_CHECK], 0);
	run_result_free(&a);
	memset(n, 0, sizeof(n));
	run_text("random ops=400 seed=3 mix=map:10,commit:2,meta-snap:1,"
		 "lookup:4,dev-info:2,needs-check:1,check:1,meta-snap-check:1\n",
		 &client_core_ops, &b);
	if (b.live_failed)
		test_fail(__FILE__, __LINE__, "%s", b.live_msg);
	for (size_t i = 0; i < b.nr_ops; i++)
		n[b.ops[i].op.kind]++;
	ASSERT_TRUE(n[OP_LOOKUP] > 0 && n[OP_DEV_INFO] > 0 && n[OP_CHECK] > 0 &&
		    n[OP_NEEDS_CHECK] > 0 && n[OP_META_SNAP_CHECK] > 0);
	run_result_free(&b);
}
