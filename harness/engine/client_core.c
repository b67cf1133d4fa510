/* harness/engine/client_core.c - the client interface (client.h) on our core
 * (core/thin.h): every op is the thin_* call of the same name.
 *
 * Caller policy after a failed metadata operation (CL4): thin_abort (which
 * reopens from the superblock on disk and writes it back and flushes it,
 * TH4, checked on the simdisk's log before the next step), then
 * thin_set_needs_check (block 0 written and flushed at once),
 * and the pool goes on with a new transaction.  The kernel's caller does
 * not go on (client_kernel.c); that is the named difference.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "simdisk.h"
#include "thin_xml.h"

struct core_client {
	struct client c;		/* first */
	struct thin_pool *pool;
};

#define POOL(cl) (((struct core_client *)(cl))->pool)


static int wrap(struct bdev *bd, struct thin_pool *pool, struct client **result)
{
	struct core_client *cc = calloc(1, sizeof(*cc));

	if (!cc) {
		thin_pool_destroy(pool);
		return -ENOMEM;
	}
	cc->c.ops = &client_core_ops;
	cc->c.bd = bd;
	cc->pool = pool;
	*result = &cc->c;
	return 0;
}

static int core_format(struct bdev *bd, const struct client_params *p,
		       struct client **result)
{
	struct thin_pool_params tp = {
		.data_block_size = p->data_block_size,
		.nr_data_blocks = p->nr_data_blocks,
		.cache_blocks = p->cache_blocks,
		.flags = p->read_only ? THIN_OPEN_READ_ONLY : 0,
	};
	struct thin_pool *pool;
	int r;

	/* dm-thin's way (client.h K18): the open formats an all-zero device */
	if (p->format_by_open && !p->read_only) {
		tp.flags |= THIN_OPEN_FORMAT;
		r = thin_pool_open(bd, &tp, &pool);
	} else {
		r = thin_pool_format(bd, &tp, &pool);
	}
	return r ? r : wrap(bd, pool, result);
}

static int core_open(struct bdev *bd, const struct client_params *p,
		     struct client **result)
{
	struct thin_pool_params tp = {
		.data_block_size = p->data_block_size,
		.cache_blocks = p->cache_blocks,
		.damage = p->damage,
	};
	struct thin_pool *pool;
	int r = thin_pool_open(bd, &tp, &pool);

	return r ? r : wrap(bd, pool, result);
}

static void core_destroy(struct client *c)
{
	if (!c)
		return;
	thin_pool_destroy(POOL(c));
	free(c);
}

static int core_close(struct client *c)
{
	int r = thin_pool_close(POOL(c));

	free(c);
	return r;
}

static int core_create_thin(struct client *c, uint64_t dev)
{
	return thin_create_thin(POOL(c), dev);
}

static int core_create_snap(struct client *c, uint64_t dev, uint64_t origin)
{
	return thin_create_snap(POOL(c), dev, origin);
}

static int core_delete(struct client *c, uint64_t dev)
{
	return thin_delete(POOL(c), dev);
}

static int core_insert(struct client *c, uint64_t dev, uint64_t vblock,
		       pd_block_t block)
{
	return thin_insert(POOL(c), dev, vblock, block);
}

static int core_remove(struct client *c, uint64_t dev, uint64_t vblock)
{
	return thin_remove(POOL(c), dev, vblock);
}

static int core_remove_range(struct client *c, uint64_t dev, uint64_t begin,
			     uint64_t end, uint64_t *nr)
{
	return thin_remove_range(POOL(c), dev, begin, end, nr);
}

static int core_inc_data(struct client *c, pd_block_t begin, pd_block_t end)
{
	return thin_inc_data_range(POOL(c), begin, end);
}

static int core_dec_data(struct client *c, pd_block_t begin, pd_block_t end)
{
	return thin_dec_data_range(POOL(c), begin, end);
}

static int core_is_shared(struct client *c, pd_block_t b, int *shared)
{
	return thin_data_block_is_shared(POOL(c), b, shared);
}

static int core_lookup(struct client *c, uint64_t dev, uint64_t vblock,
		       struct thin_lookup_result *res)
{
	return thin_lookup(POOL(c), dev, vblock, res);
}

static int core_alloc(struct client *c, pd_block_t *b)
{
	return thin_alloc_data_block(POOL(c), b);
}

static void core_set_pre_commit(struct client *c, int (*fn)(void *ctx),
				void *ctx)
{
	thin_set_pre_commit(POOL(c), fn, ctx);
}

static int core_commit(struct client *c)
{
	return thin_commit(POOL(c));
}

static int core_abort(struct client *c)
{
	return thin_abort(POOL(c));
}

/*
 * TH4, the abort's own half: once thin_abort() returns 0, the superblock
 * it reopened from is durable.  After a failed final flush of a commit
 * that superblock may live only in the device's cache (simdisk.h D4: a
 * later good flush does not save it), and only the abort's write-back and
 * flush make it durable.  thin_set_needs_check() below writes and flushes
 * block 0 as well, so no crash state could show an abort that skipped
 * this: it is read off the simdisk's log here, before that write.  The
 * newest good write of block 0 is durable when it was FUA or the first
 * flush after it succeeded.  1 also when bd is not a simdisk.
 */
static int superblock_durable(struct bdev *bd)
{
	struct simdisk *sd = simdisk_from_bdev(bd);
	uint64_t n, i;

	if (!sd)
		return 1;
	n = simdisk_nr_ops(sd);
	for (i = n; i-- > 0;) {
		const struct sd_op *op = simdisk_op(sd, i);

		if ((op->kind == SD_WRITE || op->kind == SD_WRITE_FUA) &&
		    !op->failed && op->block == 0) {
			if (op->kind == SD_WRITE_FUA)
				return 1;
			break;
		}
	}
	if (i == UINT64_MAX)
		return 1;		/* never written: the durable base */
	while (++i < n) {
		const struct sd_op *op = simdisk_op(sd, i);

		if (op->kind == SD_FLUSH)
			return !op->failed;
	}
	return 0;
}

static int core_after_error(struct client *c)
{
	int r = thin_abort(POOL(c));

	if (!r && !superblock_durable(c->bd)) {
		snprintf(c->msg, sizeof(c->msg), "thin_abort returned 0 with "
			 "the superblock it reopened from not durable (no good "
			 "flush after its last write; core/thin.h TH4)");
		return -EPROTO;
	}
	if (!r)
		r = thin_set_needs_check(POOL(c));
	return r;
}

static int core_is_failed(struct client *c)
{
	return thin_is_failed(POOL(c));
}

static int core_get_trans_id(struct client *c, uint64_t *id)
{
	return thin_get_transaction_id(POOL(c), id);
}

static int core_set_trans_id(struct client *c, uint64_t cur, uint64_t id)
{
	return thin_set_transaction_id(POOL(c), cur, id);
}

static int core_get_time(struct client *c, uint32_t *t)
{
	return thin_get_time(POOL(c), t);
}

static int core_resize_data(struct client *c, pd_block_t n)
{
	return thin_resize_data(POOL(c), n);
}

static int core_resize_metadata(struct client *c, pd_block_t n)
{
	return thin_resize_metadata(POOL(c), n);
}

static int core_nr_meta(struct client *c, pd_block_t *n)
{
	return thin_get_nr_metadata_blocks(POOL(c), n);
}

static int core_free_meta(struct client *c, pd_block_t *n)
{
	return thin_get_free_metadata_blocks(POOL(c), n);
}

static int core_allocatable_meta(struct client *c, pd_block_t *n)
{
	return thin_get_allocatable_metadata_blocks(POOL(c), n);
}

static int core_reserve(struct client *c)
{
	return thin_reserve_metadata_snap(POOL(c));
}

static int core_release(struct client *c)
{
	return thin_release_metadata_snap(POOL(c));
}

static int core_get_snap(struct client *c, pd_block_t *b)
{
	return thin_get_metadata_snap(POOL(c), b);
}

static int core_set_nc(struct client *c)
{
	return thin_set_needs_check(POOL(c));
}

static int core_get_nc(struct client *c, int *nc)
{
	return thin_get_needs_check(POOL(c), nc);
}

static int core_dev_info(struct client *c, uint64_t dev,
			 struct thin_dev_info *info)
{
	return thin_dev_info(POOL(c), dev, info);
}

static int core_highest(struct client *c, uint64_t dev, uint64_t *v)
{
	return thin_get_highest_mapped(POOL(c), dev, v);
}

static int core_mapped_count(struct client *c, uint64_t dev, uint64_t *n)
{
	return thin_get_mapped_count(POOL(c), dev, n);
}

static int core_find_range(struct client *c, uint64_t dev, uint64_t begin,
			   uint64_t end, struct thin_mapped_range *range)
{
	return thin_find_mapped_range(POOL(c), dev, begin, end, range);
}

static int core_nr_data(struct client *c, pd_block_t *n)
{
	return thin_get_nr_data_blocks(POOL(c), n);
}

static int core_free_data(struct client *c, pd_block_t *n)
{
	return thin_get_free_data_blocks(POOL(c), n);
}

static int core_list(struct client *c, uint64_t **devs, size_t *nr)
{
	return thin_list_devs_alloc(POOL(c), devs, nr);
}

struct map_ctx {
	const struct client_walker *w;
	void *ctx;
	uint64_t dev;
};

static int map_one(void *ctx, uint64_t vblock, pd_block_t block, uint32_t time)
{
	struct map_ctx *m = ctx;

	return m->w->map(m->ctx, m->dev, vblock, block, time);
}

/* The walk of client.h CL5 on any open core pool (the kernel adapter uses
 * it on a read-only one, K1). */
int client_core_walk_pool(struct thin_pool *pool, const struct client_walker *w,
			  void *ctx);
int client_core_walk_pool(struct thin_pool *pool, const struct client_walker *w,
			  void *ctx)
{
	struct client_pool_info pi;
	uint64_t *devs;
	size_t nr;
	int r;

	r = thin_get_transaction_id(pool, &pi.trans_id);
	if (!r)
		r = thin_get_time(pool, &pi.time);
	if (!r)
		r = thin_get_nr_data_blocks(pool, &pi.nr_data_blocks);
	if (!r)
		r = thin_get_metadata_snap(pool, &pi.held_root);
	if (!r && w->pool)
		r = w->pool(ctx, &pi);
	if (r)
		return r;
	r = thin_list_devs_alloc(pool, &devs, &nr);
	if (r)
		return r;
	for (size_t i = 0; i < nr && !r; i++) {
		struct thin_dev_info info;
		struct map_ctx m = { w, ctx, devs[i] };

		r = thin_dev_info(pool, devs[i], &info);
		if (!r && w->dev)
			r = w->dev(ctx, &info);
		if (!r && w->map)
			r = thin_walk_mappings(pool, devs[i], map_one, &m);
	}
	free(devs);
	return r;
}

static int core_walk(struct client *c, const struct client_walker *w, void *ctx)
{
	return client_core_walk_pool(POOL(c), w, ctx);
}

static int core_check_trees(struct client *c)
{
	const char *what = "";
	int r = thin_check_trees(POOL(c), &what);

	c->msg[0] = 0;
	if (r)
		snprintf(c->msg, sizeof(c->msg), "bt_check of the %s", what);
	return r;
}

static int core_check_counts(struct client *c)
{
	return thin_check_counts(POOL(c), c->msg, sizeof(c->msg));
}

/* pdtool restore's builder, into the open pool (thin_xml.h). */
static int core_rebuild(struct client *c, const char *xml, size_t len)
{
	return thin_xml_rebuild(POOL(c), xml, len, "the dump", c->msg,
				sizeof(c->msg));
}

static int core_set_time(struct client *c, uint32_t time)
{
	return thin_set_time(POOL(c), time);
}

static int core_set_dev_info(struct client *c, const struct thin_dev_info *info)
{
	return thin_set_dev_info(POOL(c), info);
}

static int core_insert_raw(struct client *c, uint64_t dev, uint64_t vblock,
			   pd_block_t block, uint32_t time)
{
	return thin_insert_raw(POOL(c), dev, vblock, block, time);
}

static int core_meta_reserve(struct client *c, pd_block_t *n)
{
	return thin_get_metadata_reserve(POOL(c), n);
}

const struct client_ops client_core_ops = {
	.name = "core",
	.format_steps = 1,
	.abort_makes_durable = 1,
	.needs_check_durable = 1,
	.unchanged_commit_is_noop = 1,
	.message_commits = 0,
	.format = core_format,
	.failed_refuses = 1,
	.checks_args = 1,
	.close_under_faults = 1,
	.open = core_open,
	.close = core_close,
	.destroy = core_destroy,
	.create_thin = core_create_thin,
	.create_snap = core_create_snap,
	.delete_dev = core_delete,
	.insert = core_insert,
	.remove = core_remove,
	.remove_range = core_remove_range,
	.lookup = core_lookup,
	.alloc_data_block = core_alloc,
	.inc_data_range = core_inc_data,
	.dec_data_range = core_dec_data,
	.data_block_is_shared = core_is_shared,
	.set_pre_commit = core_set_pre_commit,
	.commit = core_commit,
	.abort = core_abort,
	.after_error = core_after_error,
	.is_failed = core_is_failed,
	.get_trans_id = core_get_trans_id,
	.set_trans_id = core_set_trans_id,
	.get_time = core_get_time,
	.resize_data = core_resize_data,
	.resize_metadata = core_resize_metadata,
	.get_nr_metadata_blocks = core_nr_meta,
	.get_free_metadata_blocks = core_free_meta,
	.get_allocatable_metadata_blocks = core_allocatable_meta,
	.get_nr_data_blocks = core_nr_data,
	.get_free_data_blocks = core_free_data,
	.reserve_meta_snap = core_reserve,
	.release_meta_snap = core_release,
	.get_meta_snap = core_get_snap,
	.set_needs_check = core_set_nc,
	.get_needs_check = core_get_nc,
	.dev_info = core_dev_info,
	.highest_mapped = core_highest,
	.mapped_count = core_mapped_count,
	.find_mapped_range = core_find_range,
	.list_devs = core_list,
	.walk = core_walk,
	.check_trees = core_check_trees,
	.check_counts = core_check_counts,
	.rebuild = core_rebuild,
	.set_time = core_set_time,
	.set_dev_info = core_set_dev_info,
	.insert_raw = core_insert_raw,
	.get_metadata_reserve = core_meta_reserve,
};
