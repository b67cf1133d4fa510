/* tests/unit/test_enospc.c - running out of space is a path, not a
 * violation (workload.c): the model accepts -ENOSPC where the pool is
 * full and refuses it where it is not, and the pool goes on after a
 * resize.  A backend that answers -ENOSPC with room to spare (a copy of
 * the core's ops with one call replaced) must make the run fail.
 */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "scenario.h"
#include "simdisk.h"
#include "test.h"
#include "thin.h"
#include "workload.h"

static int run_text(const char *text, const struct client_ops *ops,
		    struct run_result *res)
{
	struct scenario *sc;
	char err[256];
	struct run_config cfg = { .seed = 1, .keep_state = -1, .quiet = 1,
				  .client = ops };
	int r = scenario_parse("enospc-test", text, &sc, err, sizeof(err));

	if (r)
		return r;
	cfg.sc = sc;
	r = workload_run(&cfg, res);
	scenario_free(sc);
	return r;
}

static size_t count_result(const struct run_result *res, enum op_kind k,
			   int result)
{
	size_t n = 0;

	for (size_t i = 0; i < res->nr_ops; i++)
		n += res->ops[i].op.kind == k && res->ops[i].result == result;
	return n;
}

/* The kernel's metadata_reserve: min(4096, a tenth of the device). */
static void reserve_of(pd_block_t nr_meta, pd_block_t want)
{
	struct simdisk *sd;
	struct thin_pool *pool;
	struct thin_pool_params p = { .data_block_size = 128,
				      .nr_data_blocks = 1000 };
	pd_block_t reserve, nfree;

	ASSERT_OK(simdisk_create(4096, nr_meta, &sd));
	ASSERT_OK(thin_pool_format(simdisk_bdev(sd), &p, &pool));
	ASSERT_OK(thin_get_metadata_reserve(pool, &reserve));
	ASSERT_EQ(reserve, want);
	ASSERT_OK(thin_get_free_metadata_blocks(pool, &nfree));
	ASSERT_TRUE(nfree + reserve < nr_meta);
	ASSERT_TRUE(nfree + reserve > nr_meta - 20);	/* a fresh pool */
	thin_pool_destroy(pool);
	simdisk_destroy(sd);
}

TEST(enospc_metadata_reserve_is_the_kernels)
{
	reserve_of(96, 9);
	reserve_of(1000, 100);
	reserve_of(50000, 4096);
}

TEST(enospc_data_full_is_accepted_then_grown)
{
	struct run_result res;
	static const char text[] =
		"pool data=50 meta=256\ncreate 0\nmap 0 0..59\ncommit\n"
		"unmap 0 0..9\nmap 0 100..109\n"	/* commits, then reuses */
		"resize-data 80\nmap 0 60..89\ncommit\n";

	ASSERT_OK(run_text(text, NULL, &res));
	ASSERT_EQ(res.live_failed, 0);
	ASSERT_EQ(count_result(&res, OP_MAP, -ENOSPC), 10);
	run_result_free(&res);
}

TEST(enospc_metadata_full_refuses_until_resize)
{
	struct run_result res;
	char text[4096];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text),
			     "pool meta=96 data=20000\ncreate 0\nmap 0 0..9999\n"
			     "commit\nmeta-snap\n");
	for (unsigned k = 0; k < 10000; k += 200)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "map 0 %u\n", k);
	snprintf(text + n, sizeof(text) - n,
		 "resize-meta 512\nmeta-snap-release\nmap 0 10000..10009\ncommit\n");
	ASSERT_OK(run_text(text, NULL, &res));
	ASSERT_EQ(res.live_failed, 0);
	ASSERT_TRUE(count_result(&res, OP_MAP, -ENOSPC) > 0);	/* refused */
	ASSERT_EQ(count_result(&res, OP_RESIZE_META, 0), 1);
	ASSERT_EQ(res.ops[res.nr_ops - 1].op.kind, OP_COMMIT);
	ASSERT_EQ(res.ops[res.nr_ops - 1].result, 0);		/* went on */
	run_result_free(&res);
}

/* Backends that lie: -ENOSPC with room to spare. */
static int lying_alloc(struct client *c, pd_block_t *b)
{
	(void)c;
	(void)b;
	return -ENOSPC;
}

static unsigned insert_calls;
static int lying_insert(struct client *c, uint64_t dev, uint64_t v,
			pd_block_t b)
{
	if (++insert_calls == 5)
		return -ENOSPC;
	return client_core_ops.insert(c, dev, v, b);
}

TEST(enospc_data_with_room_is_a_violation)
{
	struct client_ops liar = client_core_ops;
	struct run_result res;

	liar.alloc_data_block = lying_alloc;
	ASSERT_OK(run_text("pool data=100\ncreate 0\nmap 0 0..9\n", &liar, &res));
	ASSERT_EQ(res.live_failed, 1);
	ASSERT_TRUE(strstr(res.live_msg, "the data device is full") != NULL);
	ASSERT_TRUE(strstr(res.live_msg, "0 of its 100 blocks") != NULL);
	run_result_free(&res);
}

TEST(enospc_metadata_with_room_is_a_violation)
{
	struct client_ops liar = client_core_ops;
	struct run_result res;

	liar.insert = lying_insert;
	insert_calls = 0;
	ASSERT_OK(run_text("pool meta=2048\ncreate 0\nmap 0 0..9\n", &liar, &res));
	ASSERT_EQ(res.live_failed, 1);
	ASSERT_TRUE(strstr(res.live_msg, "core returned -28") != NULL);
	run_result_free(&res);
}
