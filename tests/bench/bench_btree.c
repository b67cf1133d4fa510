/* tests/bench/bench_btree.c - btree insert and lookup throughput.
 *
 * Inserts N random 64-bit keys (8-byte values) into one btree on an
 * in-memory block device, committing every C inserts (sm_commit through
 * tm_pre_commit, then tm_commit with a superblock at block 0), then looks
 * every key up.  Prints inserts/s, lookups/s, metadata blocks in use and
 * the tree's shape.  It checks the answers (exit 1 if one is wrong) but
 * never passes or fails on time.
 *
 * Knobs: BENCH_BT_KEYS (default 1000000), BENCH_BT_COMMIT (10000),
 * BENCH_BT_CACHE (cache blocks, default 32768), BENCH_BT_SEED (1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bm.h"
#include "bt.h"
#include "errors.h"
#include "prng.h"
#include "sm.h"
#include "tm.h"
#include "util.h"

#define NR_BLOCKS 65536u		/* 256 MiB of metadata device */

struct memdisk {
	struct bdev bd;
	uint8_t *data;
};

static int md_read(struct bdev *bd, pd_block_t b, void *buf)
{
	memcpy(buf, ((struct memdisk *)bd)->data + b * bd->block_size,
	       bd->block_size);
	return 0;
}

static int md_write(struct bdev *bd, pd_block_t b, const void *buf,
		    unsigned flags)
{
	(void)flags;
	memcpy(((struct memdisk *)bd)->data + b * bd->block_size, buf,
	       bd->block_size);
	return 0;
}

static int md_flush(struct bdev *bd)
{
	(void)bd;
	return 0;
}

static void md_destroy(struct bdev *bd)
{
	free(((struct memdisk *)bd)->data);
	free(bd);
}

static const struct bdev_ops md_ops = {
	.read = md_read, .write = md_write, .flush = md_flush,
	.destroy = md_destroy,
};

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what, int r)
{
	fprintf(stderr, "bench_btree: %s: %s\n", what, pd_strerror(r));
	exit(1);
}

static void commit(struct transaction_manager *tm, struct block_manager *bm)
{
	struct bm_block *sb;
	int r;

	r = tm_pre_commit(tm);
	if (r)
		die("tm_pre_commit", r);
	r = bm_write_lock(bm, 0, NULL, &sb);
	if (r)
		die("superblock lock", r);
	memset(bm_block_data(sb), 0, 64);
	r = tm_commit(tm, sb);
	if (r)
		die("tm_commit", r);
}

int main(void)
{
	uint64_t nr_keys = env_u64("BENCH_BT_KEYS", 1000000);
	uint64_t every = env_u64("BENCH_BT_COMMIT", 10000);
	unsigned cache = (unsigned)env_u64("BENCH_BT_CACHE", 32768);
	uint64_t seed = env_u64("BENCH_BT_SEED", 1), wrong = 0, new_keys = 0;
	struct memdisk *md = calloc(1, sizeof(*md));
	struct block_manager *bm;
	struct space_map *sm;
	struct transaction_manager *tm;
	struct bt_check_stats st;
	struct bm_stats bs;
	struct bt_info info;
	struct prng p;
	pd_block_t root, nr_free;
	double t0, t_ins, t_look;
	uint8_t v[8];
	int r, inserted;

	if (!md || !(md->data = calloc(NR_BLOCKS, PD_BLOCK_SIZE)))
		die("memory", -ENOMEM);
	md->bd.ops = &md_ops;
	md->bd.block_size = PD_BLOCK_SIZE;
	md->bd.nr_blocks = NR_BLOCKS;
	md->bd.caps = BDEV_ATOMIC_BLOCK;
	if ((r = bm_create(&md->bd, cache, &bm)) ||
	    (r = sm_core_create(NR_BLOCKS, &sm)) ||
	    (r = sm_inc_block(sm, 0)) || (r = sm_commit(sm)) ||
	    (r = tm_create(bm, sm, &tm)))
		die("setup", r);
	memset(&info, 0, sizeof(info));
	info.tm = tm;
	info.levels = 1;
	info.value_type.size = 8;
	if ((r = bt_empty(&info, &root)))
		die("bt_empty", r);

	printf("btree: %" PRIu64 " random keys, value 8 bytes, commit every %"
	       PRIu64 ", cache %u blocks, in-memory device, seed %" PRIu64 "\n",
	       nr_keys, every, cache, seed);
	prng_seed(&p, seed);
	t0 = now();
	for (uint64_t i = 0; i < nr_keys; i++) {
		uint64_t k = prng_next(&p);

		le64_put(v, k ^ 0x5555);
		r = bt_insert(&info, root, &k, v, &root, &inserted);
		if (r)
			die("bt_insert", r);
		new_keys += inserted;
		if ((i + 1) % every == 0)
			commit(tm, bm);
	}
	commit(tm, bm);
	t_ins = now() - t0;

	prng_seed(&p, seed);
	t0 = now();
	for (uint64_t i = 0; i < nr_keys; i++) {
		uint64_t k = prng_next(&p);

		r = bt_lookup(&info, root, &k, v);
		if (r)
			die("bt_lookup", r);
		wrong += le64_get(v) != (k ^ 0x5555);
	}
	t_look = now() - t0;

	if ((r = bt_check(&info, root, NULL, NULL, &st)) ||
	    (r = sm_get_nr_free(sm, &nr_free)))
		die("check", r);
	bm_get_stats(bm, &bs);
	printf("inserts: %.0f /s (%.2f s)\n", nr_keys / t_ins, t_ins);
	printf("lookups: %.0f /s (%.2f s)\n", nr_keys / t_look, t_look);
	printf("metadata blocks used: %" PRIu64 " (tree %" PRIu64
	       " nodes, %" PRIu64 " leaves, depth %u, leaf fill %.1f%%)\n",
	       (uint64_t)(NR_BLOCKS - nr_free), st.nr_nodes, st.nr_leaves,
	       st.max_depth,
	       100.0 * st.nr_entries / (st.nr_leaves * bt_max_entries(8)));
	printf("block manager: %" PRIu64 " reads, %" PRIu64 " writes, %"
	       PRIu64 " flushes, %" PRIu64 " evictions\n",
	       bs.reads, bs.writes, bs.flushes, bs.evictions);
	if (st.nr_entries != new_keys || wrong) {
		fprintf(stderr, "bench_btree: WRONG: %" PRIu64 " entries, %"
			PRIu64 " keys inserted, %" PRIu64 " bad values\n",
			st.nr_entries, new_keys, wrong);
		return 1;
	}
	tm_destroy(tm);
	sm_destroy(sm);
	bm_destroy(bm);
	md_destroy(&md->bd);
	return 0;
}
