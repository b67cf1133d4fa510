/* tests/unit/test_alloc_faults.c - the workload's rule for allocation
 * failures (workload.h, FAULT_NOMEM and FAULT_NOSPACE; pdcrash run
 * --alloc-faults): an op that fails with the error of the allocation
 * failure this run injected, in the op where it fired, is an injected
 * error (abort and go on); any other -ENOMEM or -ENOSPC stays a live
 * failure.  The unplanned errors come from a client that is our core with
 * one answer changed, as in test_workload_ops.c.
 */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "scenario.h"
#include "test.h"
#include "workload.h"

/* A cache of 12 blocks (the least): every block-manager miss evicts and allocates. */
static const char text[] =
	"pool data=1000 meta=256 cache=12\n"
	"create 0\n"
	"map 0 0..9\n"
	"commit\n"
	"map 0 10..12\n"
	"commit\n";

static struct client_ops liar;

static void run_with(const struct client_ops *ops, struct fault_spec f,
		     struct run_result *res)
{
	struct scenario *sc;
	char err[256];

	ASSERT_OK(scenario_parse("alloc", text, &sc, err, sizeof(err)));
	ASSERT_OK(workload_run(&(struct run_config) {
		.sc = sc, .seed = 1, .quiet = 1, .keep_state = -1,
		.client = ops, .fault = f }, res));
	scenario_free(sc);
}

/* The op `map 0 5` of text (expanded: create is op 0, map 0 0 op 1). */
#define MAP5 6

/* The first call of kind (FAULT_NOMEM: allocations, FAULT_NOSPACE:
 * new_block calls) in an op at or after op `from`: its hit number, and the
 * op in *op; from a counting run (a planned fault that never fires counts
 * the hits). */
static uint64_t first_hit_from(enum fault_kind kind, size_t from, size_t *op)
{
	struct fault_spec never = { kind, UINT64_MAX, 0 };
	int k = kind == FAULT_NOSPACE;
	struct run_result res;
	uint64_t n = 0;

	run_with(&client_core_ops, never, &res);
	ASSERT_TRUE(!res.live_failed);
	for (size_t i = from; i + 1 < res.nr_ops && !n; i++) {
		if (res.ops[i + 1].alloc_before[k] > res.ops[i].alloc_before[k]) {
			n = res.ops[i].alloc_before[k] + 1;
			*op = i;
		}
	}
	ASSERT_TRUE(n != 0);
	run_result_free(&res);
	return n;
}

#if defined(FIU_ENABLE) && FIU_ENABLE
#define NEED_FIU() do { } while (0)
#else
#define NEED_FIU() TEST_SKIP("built with FIU=0: no allocation fault points")
#endif

/* Each kind, failed at the first call of an op: the op fails with it, the
 * workload aborts and goes on, and the run agrees with its model. */
TEST(alloc_fault_injected_error_is_recovered)
{
	static const enum fault_kind kinds[] = { FAULT_NOMEM, FAULT_NOSPACE };

	NEED_FIU();
	for (int i = 0; i < 2; i++) {
		size_t op;
		struct fault_spec f = { kinds[i], first_hit_from(kinds[i], 1, &op),
					0 };
		struct run_result res;

		run_with(&client_core_ops, f, &res);
		if (res.live_failed)
			test_fail(__FILE__, __LINE__, "kind %d: %s", kinds[i],
				  res.live_msg);
		ASSERT_TRUE(res.alloc_fired);
		ASSERT_UEQ(res.alloc_op, op);
		ASSERT_UEQ(res.injected, 1);
		ASSERT_EQ(res.ops[op].result,
			  kinds[i] == FAULT_NOMEM ? -ENOMEM : -ENOSPC);
		run_result_free(&res);
	}
}

static int nomem_at_map5(struct client *c, uint64_t dev, uint64_t v,
			 uint64_t block)
{
	if (v == 5)
		return -ENOMEM;
	return client_core_ops.insert(c, dev, v, block);
}

/* An -ENOMEM no fault of the run explains: a live failure, whether no
 * fault is planned, or one is planned and has not fired. */
TEST(alloc_fault_unplanned_enomem_is_a_violation)
{
	struct fault_spec none = { FAULT_NONE, 0, 0 };
	struct fault_spec later = { FAULT_NOMEM, UINT64_MAX, 0 };
	struct run_result res;

	NEED_FIU();
	liar = client_core_ops;
	liar.insert = nomem_at_map5;
	run_with(&liar, none, &res);
	ASSERT_TRUE(res.live_failed);
	run_result_free(&res);
	run_with(&liar, later, &res);
	ASSERT_TRUE(res.live_failed);
	ASSERT_TRUE(!res.alloc_fired);
	ASSERT_TRUE(strstr(res.live_msg, "'map 0 5'") != NULL);
	run_result_free(&res);
}

static int enomem_for_enospc(struct client *c, pd_block_t *b)
{
	int e = client_core_ops.alloc_data_block(c, b);

	return e == -ENOSPC ? -ENOMEM : e;
}

static int enospc_at_map12(struct client *c, uint64_t dev, uint64_t v,
			   uint64_t block)
{
	if (v == 12)
		return -ENOSPC;
	return client_core_ops.insert(c, dev, v, block);
}

/* -ENOSPC fails the first new_block call of `map 0 5` (its data block)
 * on the liar: the run is a live failure naming op_name. */
static void expect_violation_after_enospc(const char *op_name)
{
	struct run_result res;
	struct fault_spec f;
	size_t op;

	f = (struct fault_spec) { FAULT_NOSPACE, first_hit_from(FAULT_NOSPACE,
								 MAP5, &op), 0 };
	ASSERT_UEQ(op, MAP5);
	run_with(&liar, f, &res);
	ASSERT_TRUE(res.alloc_fired);
	ASSERT_TRUE(res.live_failed);
	if (!strstr(res.live_msg, op_name))
		test_fail(__FILE__, __LINE__, "wanted a failure of %s, got: %s",
			  op_name, res.live_msg);
	run_result_free(&res);
}

/* The injected -ENOSPC fired in the op, but the op answered -ENOMEM: not
 * the injected error, so a live failure. */
TEST(alloc_fault_other_error_than_injected_is_a_violation)
{
	NEED_FIU();
	liar = client_core_ops;
	liar.alloc_data_block = enomem_for_enospc;
	expect_violation_after_enospc("'map 0 5'");
}

/* The injected failure was answered in its own op (abort, go on); a later
 * -ENOSPC of another op is not explained by it. */
TEST(alloc_fault_error_in_a_later_op_is_a_violation)
{
	NEED_FIU();
	liar = client_core_ops;
	liar.insert = enospc_at_map12;
	expect_violation_after_enospc("'map 0 12'");
}
