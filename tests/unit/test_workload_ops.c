/* tests/unit/test_workload_ops.c - the read-only scenario ops (lookup,
 * dev-info, needs-check, check, meta-snap-check, highest, mapped-count,
 * find-range, status; harness/engine/scenario.h) and expect= are checked
 * against the oracle, and each check can fail.
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
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "workload.h"

static struct client_ops liar;

/* text run on ops, with the IO fault f planned (FAULT_NONE: none) and
 * op_hook(ctx, i) when hook is not NULL. */
static void run_text_with(const char *text, const struct client_ops *ops,
			  struct fault_spec f, struct run_result *res,
			  void (*hook)(void *ctx, size_t i), void *ctx)
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
	cfg.fault = f;
	cfg.op_hook = hook;
	cfg.op_hook_ctx = ctx;
	ASSERT_OK(workload_run(&cfg, res));
	scenario_free(sc);
}

static void run_text(const char *text, const struct client_ops *ops,
		     struct run_result *res)
{
	run_text_with(text, ops, (struct fault_spec) { FAULT_NONE, 0, 0 }, res,
		      NULL, NULL);
}

/* text on ops, with the IO fault f planned */
static void run_text_fault(const char *text, const struct client_ops *ops,
			   struct fault_spec f, struct run_result *res)
{
	run_text_with(text, ops, f, res, NULL, NULL);
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

/* expect_caught() of base followed by tail. */
static void caught_after_base(const char *tail, const char *op_name)
{
	char text[256];

	snprintf(text, sizeof(text), "%s%s", base, tail);
	expect_caught(text, op_name);
}

TEST(workload_op_lookup_shared_flag_checked)
{
	liar = client_core_ops;
	liar.lookup = lie_lookup_shared;
	expect_caught("create 0\nmap 0 0..3\ncommit\nlookup 0 2\n", "'lookup 0 2'");
}

TEST(workload_op_lookup_block_checked)
{
	liar = client_core_ops;
	liar.lookup = lie_lookup_block;
	caught_after_base("lookup 1 0..9\n", "'lookup 1 5'");
}

TEST(workload_op_lookup_unmapped_checked)
{
	liar = client_core_ops;
	liar.lookup = lie_lookup_unmapped;
	expect_caught("create 0\nmap 0 0..9\nlookup 0 8..12\n", "'lookup 0 11'");
}

TEST(workload_op_dev_info_checked)
{
	liar = client_core_ops;
	liar.dev_info = lie_dev_info;
	caught_after_base("dev-info 0\ndev-info 1\n", "'dev-info 1'");
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
		  n[OP_META_SNAP_CHECK] + n[OP_HIGHEST] + n[OP_MAPPED_COUNT] +
		  n[OP_FIND_RANGE] + n[OP_STATUS], 0);
	run_result_free(&a);
	memset(n, 0, sizeof(n));
	run_text("random ops=400 seed=3 mix=map:10,commit:2,meta-snap:1,"
		 "lookup:4,dev-info:2,needs-check:1,check:1,meta-snap-check:1,"
		 "highest:1,mapped-count:1,find-range:2,status:1\n",
		 &client_core_ops, &b);
	if (b.live_failed)
		test_fail(__FILE__, __LINE__, "%s", b.live_msg);
	for (size_t i = 0; i < b.nr_ops; i++)
		n[b.ops[i].op.kind]++;
	ASSERT_TRUE(n[OP_LOOKUP] > 0 && n[OP_DEV_INFO] > 0 && n[OP_CHECK] > 0 &&
		    n[OP_NEEDS_CHECK] > 0 && n[OP_META_SNAP_CHECK] > 0 &&
		    n[OP_HIGHEST] > 0 && n[OP_MAPPED_COUNT] > 0 &&
		    n[OP_FIND_RANGE] > 0 && n[OP_STATUS] > 0);
	run_result_free(&b);
}

/* --- dm-thin's reads (highest, mapped-count, find-range, status) and the
 * errors a caller can meet (expect=) ---------------------------------------- */

static int lie_highest_plus_one(struct client *c, uint64_t dev, uint64_t *v)
{
	int e = client_core_ops.highest_mapped(c, dev, v);

	if (!e)
		++*v;
	return e;
}

static int lie_highest_empty(struct client *c, uint64_t dev, uint64_t *v)
{
	int e = client_core_ops.highest_mapped(c, dev, v);

	if (e == -ENODATA) {
		*v = 0;
		return 0;
	}
	return e;
}

static int lie_mapped_count(struct client *c, uint64_t dev, uint64_t *n)
{
	int e = client_core_ops.mapped_count(c, dev, n);

	if (!e && dev == 1)
		--*n;
	return e;
}

static int lie_range_short(struct client *c, uint64_t dev, uint64_t b,
			   uint64_t e, struct thin_mapped_range *m)
{
	int r = client_core_ops.find_mapped_range(c, dev, b, e, m);

	if (!r && m->thin_end > m->thin_begin + 1)
		m->thin_end--;
	return r;
}

static int lie_range_shared(struct client *c, uint64_t dev, uint64_t b,
			    uint64_t e, struct thin_mapped_range *m)
{
	int r = client_core_ops.find_mapped_range(c, dev, b, e, m);

	if (!r && m->thin_begin == 5)
		m->maybe_shared = !m->maybe_shared;
	return r;
}

static int lie_free_data(struct client *c, pd_block_t *n)
{
	int e = client_core_ops.get_free_data_blocks(c, n);

	if (!e)
		++*n;
	return e;
}

static int lie_free_meta(struct client *c, pd_block_t *n)
{
	int e = client_core_ops.get_free_metadata_blocks(c, n);

	if (!e)
		++*n;
	return e;
}

static int lie_free_meta_all(struct client *c, pd_block_t *n)
{
	return client_core_ops.get_nr_metadata_blocks(c, n);
}

static pd_block_t committed_size;

static int lie_commit_size(struct client *c)
{
	int e = client_core_ops.commit(c);

	if (!e)
		e = client_core_ops.get_nr_data_blocks(c, &committed_size);
	return e;
}

static int lie_nr_data_at_commit(struct client *c, pd_block_t *n)
{
	*n = committed_size;		/* the kernel's answer, without its flag */
	return client_core_ops.get_nr_data_blocks(c, &(pd_block_t){ 0 });
}

static int lie_meta_snap_none(struct client *c, pd_block_t *b)
{
	int e = client_core_ops.get_meta_snap(c, b);

	*b = 0;
	return e;
}

static int lie_set_trans_id_any(struct client *c, uint64_t cur, uint64_t id)
{
	uint64_t now;

	(void)cur;
	return client_core_ops.get_trans_id(c, &now) ?:
	       client_core_ops.set_trans_id(c, now, id);
}

/* A refused delete that changes the pool all the same. */
static int lie_delete_touches(struct client *c, uint64_t dev)
{
	int e = client_core_ops.delete_dev(c, dev);
	uint64_t now;

	if (e == -ENODATA && !client_core_ops.get_trans_id(c, &now))
		client_core_ops.set_trans_id(c, now, now + 7);
	return e;
}

TEST(workload_op_highest_checked)
{
	liar = client_core_ops;
	liar.highest_mapped = lie_highest_plus_one;
	expect_caught("create 0\nmap 0 3..9\nhighest 0\n", "'highest 0'");
	liar.highest_mapped = lie_highest_empty;
	expect_caught("create 0\nmap 0 3\nhighest 0\ncreate 1\nhighest 1\n",
		      "'highest 1'");
}

TEST(workload_op_mapped_count_checked)
{
	liar = client_core_ops;
	liar.mapped_count = lie_mapped_count;
	caught_after_base("mapped-count 0\nmapped-count 1\n", "'mapped-count 1'");
}

TEST(workload_op_find_range_checked)
{
	liar = client_core_ops;
	liar.find_mapped_range = lie_range_short;
	expect_caught("create 0\nmap 0 4\nfind-range 0 0..3\nmap 0 10..14\n"
		      "find-range 0 0..20\n", "'find-range 0 0..20'");
	liar.find_mapped_range = lie_range_shared;
	caught_after_base("find-range 1 0..3\nfind-range 0 0..20\n",
			  "'find-range 0 0..20' from 5");
}

TEST(workload_op_status_checks_each_count)
{
	liar = client_core_ops;
	liar.get_free_data_blocks = lie_free_data;
	expect_caught("create 0\nmap 0 0..9\nstatus\n", "'status': free data blocks");

	/* the recount after a commit, the bounds in a transaction */
	liar = client_core_ops;
	liar.get_free_metadata_blocks = lie_free_meta;
	expect_caught("create 0\nmap 0 0..9\nstatus\ncommit\nstatus\n",
		      "structural checker finds");
	liar.get_free_metadata_blocks = lie_free_meta_all;
	expect_caught("create 0\nmap 0 0..9\nstatus\n", "more than the committed");

	/* the kernel's data size (K10) is wrong for a backend without the flag */
	liar = client_core_ops;
	liar.commit = lie_commit_size;
	liar.get_nr_data_blocks = lie_nr_data_at_commit;
	expect_caught("create 0\ncommit\nstatus\nresize-data 200000\nstatus\n",
		      "'status': data blocks");

	liar = client_core_ops;
	liar.get_meta_snap = lie_meta_snap_none;
	expect_caught("create 0\nstatus\nmeta-snap\nstatus\n",
		      "'status': held metadata snapshot");
}

TEST(workload_op_status_free_data_counts_the_held_snapshot)
{
	struct run_result res;

	/* the held snapshot keeps the unmapped blocks in use until its
	 * release, which frees them at once (sm_disk.c DS2); a grow counts
	 * at the commit (DS1), below zero it is 0 */
	run_text("pool data=100 meta=256\ncreate 0\nmap 0 0..39\nmeta-snap\n"
		 "unmap 0 0..29\nstatus\ncommit\nstatus\nmeta-snap-release\n"
		 "status\nabort\nstatus\nmeta-snap-release\ncommit\nstatus\n"
		 "map 0 40..99\ncommit\nresize-data 150\nmap 0 100..139\nstatus\n"
		 "commit\nstatus\n", &client_core_ops, &res);
	if (res.live_failed)
		test_fail(__FILE__, __LINE__, "%s", res.live_msg);
	run_result_free(&res);
}

TEST(workload_op_expect_names_the_scenario_error)
{
	struct run_result res;

	/* the model and the core agree on -EEXIST; the line says otherwise */
	run_text("create 0\ncreate 0 expect=ENODATA\n", &client_core_ops, &res);
	ASSERT_TRUE(res.live_failed);
	if (!strstr(res.live_msg, "'create 0 expect=ENODATA'") ||
	    !strstr(res.live_msg, "the scenario line expects"))
		test_fail(__FILE__, __LINE__, "%s", res.live_msg);
	run_result_free(&res);
	run_text("create 0\ncreate 0 expect=EEXIST\ndelete 4 expect=ENODATA\n"
		 "trans-id 3 from=1 expect=EINVAL\ntrans-id 3 from=0\n"
		 "resize-meta 100 expect=EINVAL\nmeta-snap-release expect=EINVAL\n"
		 "highest 0 expect=ENODATA\nfind-range 0 0..9 expect=ENODATA\n",
		 &client_core_ops, &res);
	if (res.live_failed)
		test_fail(__FILE__, __LINE__, "%s", res.live_msg);
	run_result_free(&res);
}

TEST(workload_op_trans_id_from_checked)
{
	liar = client_core_ops;
	liar.set_trans_id = lie_set_trans_id_any;
	expect_caught("create 0\ntrans-id 5 from=0\ntrans-id 6 from=3\n",
		      "'trans-id 6 from=3'");
}

TEST(workload_op_expected_error_leaves_the_pool_as_it_was)
{
	/* with expect=: the pool is read back against the model */
	liar = client_core_ops;
	liar.delete_dev = lie_delete_touches;
	expect_caught("create 0\ndelete 9 expect=ENODATA\n",
		      "after the expected error the pool shows");
	/* without: a commit right after a refused op writes nothing */
	expect_caught("create 0\ncommit\ndelete 9\ncommit\n",
		      "nothing changed since the last commit");
}

/* The extra ops of aim=boundaries change no committed state and no write:
 * the line's own ops are what they were. */
TEST(workload_aim_extras_change_nothing)
{
	static const char text[] = "pool data=16000 meta=1024 cache=64\n"
		"random ops=300 devs=4 span=1200 aim=boundaries mix=map:50,"
		"unmap:14,unmap-range:4,snap:5,delete:3,create:1,commit:6,"
		"abort:1,resize-data:1,meta-snap:1\ncommit\n";
	struct run_result a, b;
	struct run_config cfg;
	struct scenario *sc;
	char err[256];
	size_t na = 0, nb = 0, reads = 0;

	ASSERT_OK(scenario_parse("aim", text, &sc, err, sizeof(err)));
	memset(&cfg, 0, sizeof(cfg));
	cfg.sc = sc;
	cfg.seed = 1;
	cfg.quiet = 1;
	cfg.keep_state = -1;
	ASSERT_OK(workload_run(&cfg, &a));
	cfg.no_aim_extras = 1;
	ASSERT_OK(workload_run(&cfg, &b));
	if (a.live_failed || b.live_failed)
		test_fail(__FILE__, __LINE__, "%s%s", a.live_msg, b.live_msg);
	ASSERT_TRUE(a.nr_ops > b.nr_ops);
	for (size_t i = 0; i < a.nr_ops; i++)
		reads += a.ops[i].op.kind == OP_STATUS ||
			 a.ops[i].op.kind == OP_FIND_RANGE;
	ASSERT_TRUE(reads > 0);
	ASSERT_EQ(a.nr_states, b.nr_states);
	for (uint64_t k = 0; k < a.nr_states; k++)
		ASSERT_TRUE(digest_eq(a.digests[k], b.digests[k]));
	/* the same writes, in the same order */
	for (;;) {
		const struct sd_op *x = NULL, *y = NULL;

		while (na < simdisk_nr_ops(a.sd) &&
		       (x = simdisk_op(a.sd, na))->kind != SD_WRITE &&
		       x->kind != SD_WRITE_FUA && x->kind != SD_FLUSH)
			na++;
		while (nb < simdisk_nr_ops(b.sd) &&
		       (y = simdisk_op(b.sd, nb))->kind != SD_WRITE &&
		       y->kind != SD_WRITE_FUA && y->kind != SD_FLUSH)
			nb++;
		if (na == simdisk_nr_ops(a.sd) || nb == simdisk_nr_ops(b.sd))
			break;
		ASSERT_EQ(x->kind, y->kind);
		ASSERT_EQ(x->block, y->block);
		na++;
		nb++;
	}
	ASSERT_EQ(na, simdisk_nr_ops(a.sd));
	ASSERT_EQ(nb, simdisk_nr_ops(b.sd));
	run_result_free(&a);
	run_result_free(&b);
	scenario_free(sc);
}

struct hook_calls {
	size_t seen[8];
	size_t n;
};

static void record_hook(void *ctx, size_t i)
{
	struct hook_calls *h = ctx;

	if (h->n < 8)
		h->seen[h->n] = i;
	h->n++;
}

/* The op hook (pdcrash search's first-reach runs) is called before each
 * op of the scenario, in order, ranges and random lines once, and once
 * after the last. */
TEST(workload_op_hook_before_each_op_and_after_the_last)
{
	struct run_result res;
	struct hook_calls h = { { 0 }, 0 };

	run_text_with("pool data=1000 meta=256\ncreate 0\nmap 0 0..9\n"
		      "random ops=20 seed=3\ncommit\n", &client_core_ops,
		      (struct fault_spec) { FAULT_NONE, 0, 0 }, &res,
		      record_hook, &h);
	ASSERT_TRUE(!res.live_failed);
	ASSERT_TRUE(res.nr_ops > 5);	/* the range and the random line ran */
	ASSERT_EQ(h.n, 5);
	for (size_t i = 0; i < 5; i++)
		ASSERT_EQ(h.seen[i], i);
	run_result_free(&res);
}

/* --- a failed pool, close, caller misuse (scenario.h) ---------------------- */

/* A failed pool that still answers a read (core/thin.h TH4 broken). */
static int lie_trans_id_when_failed(struct client *c, uint64_t *id)
{
	if (client_core_ops.is_failed(c)) {
		*id = 0;
		return 0;
	}
	return client_core_ops.get_trans_id(c, id);
}

/* Write fault nth, once, on ops; 1 if the run was a live failure naming
 * the failed pool's answer. */
static int probe_caught(const struct client_ops *ops, uint64_t nth,
			int *recovered)
{
	struct run_result res;
	int caught;

	run_text_fault("create 0\nmap 0 0..40\ncommit\nmap 0 50..60\ncommit\n",
		       ops, (struct fault_spec) { FAULT_WRITE, nth, 0 }, &res);
	caught = res.live_failed &&
		 strstr(res.live_msg, "a failed pool answered get_trans_id");
	if (res.live_failed && !caught && ops == &client_core_ops)
		test_fail(__FILE__, __LINE__, "honest core, write fault %llu: %s",
			  (unsigned long long)nth, res.live_msg);
	*recovered += res.injected > 0;
	run_result_free(&res);
	return caught;
}

TEST(workload_failed_pool_probe_catches_an_answer)
{
	int caught = 0, honest = 0, recovered = 0;

	liar = client_core_ops;
	liar.get_trans_id = lie_trans_id_when_failed;
	for (uint64_t nth = 1; nth <= 40; nth++) {
		honest += probe_caught(&client_core_ops, nth, &recovered);
		caught += probe_caught(&liar, nth, &recovered);
	}
	ASSERT_EQ(honest, 0);
	ASSERT_TRUE(recovered > 0);
	ASSERT_TRUE(caught > 0);
}

/* A close that commits nothing: the reopened pool shows the last commit. */
static int lie_close_without_commit(struct client *c)
{
	client_core_ops.destroy(c);
	return 0;
}

TEST(workload_op_close_checks_the_reopened_pool)
{
	struct run_result res;

	liar = client_core_ops;
	liar.close = lie_close_without_commit;
	expect_caught("create 0\nmap 0 0..9\nclose\nlookup 0 3\n", "'close'");
	/* closed twice with nothing between: the second writes nothing */
	run_text("create 0\nclose\nclose\ndev-info 0\n", &client_core_ops, &res);
	if (res.live_failed)
		test_fail(__FILE__, __LINE__, "%s", res.live_msg);
	ASSERT_EQ(res.nr_states, 3);	/* the format and two closes */
	run_result_free(&res);
}

TEST(workload_op_misuse_refused_and_checked)
{
	struct run_result res;

	run_text("create 0\nmap 0 0..3\ncommit\n"
		 "create 16777216 expect=EINVAL\n"
		 "snap 0x1000000 0 expect=EINVAL\n"
		 "unmap 0 3..1 expect=EINVAL\n"
		 "resize-data 1099511627777 expect=EINVAL\n"
		 "map 0 9 at=100000 expect=EINVAL\n"
		 "format block-size=64 expect=EINVAL\n"
		 "format data=1099511627777 expect=EINVAL\n"
		 "commit\nlookup 0 0..3\n", &client_core_ops, &res);
	if (res.live_failed)
		test_fail(__FILE__, __LINE__, "%s", res.live_msg);
	for (size_t i = 6; i < 13; i++)	/* map 0 0..3 ran as four ops */
		ASSERT_EQ(res.ops[i].result, -EINVAL);
	run_result_free(&res);
	/* a block inside the data device is no misuse: the line is wrong */
	run_text("create 0\nmap 0 9 at=5 expect=EINVAL\n", &client_core_ops,
		 &res);
	ASSERT_TRUE(res.live_failed);
	ASSERT_TRUE(strstr(res.live_msg, "map 0 9 at=5") != NULL);
	run_result_free(&res);
}
