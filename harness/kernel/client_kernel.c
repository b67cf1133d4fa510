/* harness/kernel/client_kernel.c - the client interface (harness/engine/
 * client.h) on the kernel's own dm-thin-metadata API.
 *
 * Compiled once per kernel version (kernel.mk) with that version's include
 * path and -include rename.h, so dm_pool_metadata_open here is e.g.
 * k61_dm_pool_metadata_open; it exports <P>client_ops (KCLIENT_PREFIX is
 * k61_, k612_ or kcustom_).  It lives beside the version's localised
 * object kthin.o, not inside it: it uses only the public API (what
 * dm-thin.c may call), so it cannot reach anything dm-thin could not.
 *
 * What does not map, named (client.h K1-K12 has the list):
 *  K1  walk(), dev_info(), list_devs() and get_time(): the kernel has no
 *      mapping walk with times, no device list and keeps the pool time
 *      private.  They read the image with our core, read-only (the state
 *      is committed, so it is on the device), and every value the kernel
 *      does give is compared: transaction id, data device size, held
 *      root, each device's open and mapped count, each mapping's block and
 *      shared flag (dm_thin_find_block), the whole mapping set
 *      (dm_thin_find_mapped_range), and the absence of devices the image
 *      lacks (open_thin_device of every other id up to 4096, and of the
 *      two ids either side of each device and above the highest).
 *      A disagreement is -EPROTO, c->msg says what.
 *  K2  remove(): no single-block remove; dm_thin_find_block first
 *      (-ENODATA if unmapped), then dm_thin_remove_range of one block.
 *      remove_range(): the count is dm_thin_get_mapped_count before less
 *      after.
 *  K3  abort(): dm_pool_abort_metadata, then read-only, close and reopen
 *      (stale in-core device entries survive an abort; a reload is what
 *      dm-thin does).  Nothing is rewritten (abort_makes_durable = 0).
 *  K4  set_needs_check(): the superblock is only dirtied.
 *  K5  lookup(): no mapping time.
 *  K6  open() of an all-zero block 0: the kernel says -EPERM (not asked to
 *      format); reported as -ENODATA, client.h's "unformatted".
 *  K7  destroy() (a crash, CL3): the kernel has no close without commit,
 *      and its dm-bufio writes dirty buffers back at destroy; the adapter
 *      detaches the device first (writes go nowhere), sets the metadata
 *      read-only (no commit) and closes.
 *  K10 get_nr_data_blocks(): the size at the last commit.
 *  K11 get_free_data_blocks(): passed on as the kernel computes it (it
 *      wraps below zero).
 *  K12 highest_mapped(): the kernel's 0 ("nothing mapped") is -ENODATA.
 *
 * Caller policy after a failed metadata operation (after_error, CL4), as
 * dm-thin's metadata_operation_failed: abort_transaction
 * (dm_pool_abort_metadata, then dm_pool_metadata_set_needs_check) and
 * set_pool_mode(PM_READ_ONLY) (dm_pool_metadata_read_only).  The pool
 * stays read-only: dm-thin refuses write mode while needs_check is set,
 * until an offline thin_check clears it.  The adapter then closes and
 * reopens (a reload; the needs_check superblock is written back at close,
 * without a flush) and returns 1: no new transaction.
 */
#include <linux/blkdev.h>

#include "dm-thin-metadata.h"

#include "bufio.h"
#include "client.h"
#include "thin.h"

#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KCLIENT_OPS KCAT(KCLIENT_PREFIX, client_ops)

extern int kshim_quiet;

struct kclient {
	struct client c;		/* first */
	struct block_device bdev;	/* dm-bufio's view of c.bd */
	struct dm_pool_metadata *pmd;
	uint32_t data_block_size;
	int failed;			/* an error no op means (I/O) seen */
	int (*pre_commit)(void *ctx);	/* registered again on each open */
	void *pre_commit_ctx;
};

#define KC(cl) ((struct kclient *)(cl))

const struct client_ops KCLIENT_OPS;

/* Errors an op may mean (CL1); anything else counts as a failed pool for
 * is_failed(). */
static int note(struct kclient *kc, int r)
{
	if (r && r != -ENODATA && r != -EEXIST && r != -ENOSPC &&
	    r != -EBUSY && r != -EINVAL)
		kc->failed = 1;
	return r;
}

static void quiet_once(void)
{
	static int done;

	if (!done) {
		done = 1;
		kshim_quiet = getenv("PDCRASH_KERNEL_LOG") == NULL;
	}
}

static int kopen(struct kclient *kc, bool format)
{
	struct dm_pool_metadata *pmd;

	pmd = dm_pool_metadata_open(&kc->bdev, kc->data_block_size, format);
	if (IS_ERR(pmd)) {
		kc->pmd = NULL;
		return (int)PTR_ERR(pmd);
	}
	kc->pmd = pmd;
	if (kc->pre_commit)
		dm_pool_register_pre_commit_callback(pmd, kc->pre_commit,
						     kc->pre_commit_ctx);
	return 0;
}

static void k_set_pre_commit(struct client *c, int (*fn)(void *ctx), void *ctx)
{
	struct kclient *kc = KC(c);

	kc->pre_commit = fn;
	kc->pre_commit_ctx = ctx;
	if (kc->pmd)
		dm_pool_register_pre_commit_callback(kc->pmd, fn, ctx);
}

static int knew(struct bdev *bd, const struct client_params *p, bool format,
		struct client **result)
{
	struct kclient *kc = calloc(1, sizeof(*kc));
	int r;

	quiet_once();
	if (!kc)
		return -ENOMEM;
	kc->c.ops = &KCLIENT_OPS;
	kc->c.bd = bd;
	kc->bdev.bd = bd;
	/* cache=none: our dm-bufio's KB9 */
	kc->bdev.cache_blocks = p->cache_blocks == THIN_CACHE_NONE ?
				KBUFIO_CACHE_NONE : p->cache_blocks;
	kc->data_block_size = p->data_block_size;
	r = kopen(kc, format);
	if (r == -EPERM && !format)
		r = -ENODATA;			/* K6 */
	if (r) {
		free(kc);
		return r;
	}
	*result = &kc->c;
	return 0;
}

static int k_format(struct bdev *bd, const struct client_params *p,
		    struct client **result)
{
	return knew(bd, p, true, result);
}

static int k_format_finish(struct client *c, pd_block_t nr)
{
	int r = dm_pool_resize_data_dev(KC(c)->pmd, nr);

	if (!r)
		r = dm_pool_commit_metadata(KC(c)->pmd);
	return note(KC(c), r);
}

static int k_open(struct bdev *bd, const struct client_params *p,
		  struct client **result)
{
	return knew(bd, p, false, result);
}

static void k_destroy(struct client *c);

/* K15: commit first, as dm-thin does before it closes; after a failed
 * commit, close as destroy does (K7). */
static int k_close(struct client *c)
{
	int r;

	if (!c || !KC(c)->pmd) {
		free(c);
		return 0;
	}
	r = dm_pool_commit_metadata(KC(c)->pmd);
	if (r) {
		k_destroy(c);
		return r;
	}
	r = dm_pool_metadata_close(KC(c)->pmd);
	free(c);
	return r;
}

/* K7: a device that takes every write and keeps none. */
static int null_read(struct bdev *bd, pd_block_t b, void *buf)
{
	(void)bd;
	(void)b;
	(void)buf;
	return -EIO;
}

static int null_write(struct bdev *bd, pd_block_t b, const void *buf,
		      unsigned flags)
{
	(void)flags;
	(void)bd;
	(void)b;
	(void)buf;
	return 0;
}

static int null_flush(struct bdev *bd)
{
	(void)bd;
	return 0;
}

static const struct bdev_ops null_ops = {
	.read = null_read,
	.write = null_write,
	.flush = null_flush,
};

static void k_destroy(struct client *c)
{
	struct kclient *kc = KC(c);
	struct bdev null = { .ops = &null_ops };

	if (!kc)
		return;
	if (kc->pmd) {
		null.block_size = kc->c.bd->block_size;
		null.nr_blocks = kc->c.bd->nr_blocks;
		kc->bdev.bd = &null;
		dm_pool_metadata_read_only(kc->pmd);
		dm_pool_metadata_close(kc->pmd);
	}
	free(kc);
}

static int k_create_thin(struct client *c, uint64_t dev)
{
	return note(KC(c), dm_pool_create_thin(KC(c)->pmd, dev));
}

static int k_create_snap(struct client *c, uint64_t dev, uint64_t origin)
{
	return note(KC(c), dm_pool_create_snap(KC(c)->pmd, dev, origin));
}

static int k_delete(struct client *c, uint64_t dev)
{
	return note(KC(c), dm_pool_delete_thin_device(KC(c)->pmd, dev));
}

static int k_insert(struct client *c, uint64_t dev, uint64_t vblock,
		    pd_block_t block)
{
	struct dm_thin_device *td;
	int r = dm_pool_open_thin_device(KC(c)->pmd, dev, &td);

	if (r)
		return note(KC(c), r);
	r = dm_thin_insert_block(td, vblock, block);
	dm_pool_close_thin_device(td);
	return note(KC(c), r);
}

static int k_remove(struct client *c, uint64_t dev, uint64_t vblock)
{
	struct dm_thin_lookup_result lr;
	struct dm_thin_device *td;
	int r = dm_pool_open_thin_device(KC(c)->pmd, dev, &td);

	if (r)
		return note(KC(c), r);
	r = dm_thin_find_block(td, vblock, 1, &lr);	/* K2 */
	if (!r)
		r = dm_thin_remove_range(td, vblock, vblock + 1);
	dm_pool_close_thin_device(td);
	return note(KC(c), r);
}

static int k_remove_range(struct client *c, uint64_t dev, uint64_t begin,
			  uint64_t end, uint64_t *nr)
{
	struct dm_thin_device *td;
	dm_block_t before, after;
	int r = dm_pool_open_thin_device(KC(c)->pmd, dev, &td);

	if (r)
		return note(KC(c), r);
	r = dm_thin_get_mapped_count(td, &before);
	if (!r)
		r = dm_thin_remove_range(td, begin, end);
	if (!r)
		r = dm_thin_get_mapped_count(td, &after);
	if (!r && nr)
		*nr = before - after;			/* K2 */
	dm_pool_close_thin_device(td);
	return note(KC(c), r);
}

static int k_inc_data(struct client *c, pd_block_t begin, pd_block_t end)
{
	return note(KC(c), dm_pool_inc_data_range(KC(c)->pmd, begin, end));
}

static int k_dec_data(struct client *c, pd_block_t begin, pd_block_t end)
{
	return note(KC(c), dm_pool_dec_data_range(KC(c)->pmd, begin, end));
}

static int k_is_shared(struct client *c, pd_block_t b, int *shared)
{
	bool s = false;
	int r = dm_pool_block_is_shared(KC(c)->pmd, b, &s);

	if (!r)
		*shared = s;
	return note(KC(c), r);
}

static int k_lookup(struct client *c, uint64_t dev, uint64_t vblock,
		    struct thin_lookup_result *res)
{
	struct dm_thin_lookup_result lr;
	struct dm_thin_device *td;
	int r = dm_pool_open_thin_device(KC(c)->pmd, dev, &td);

	if (r)
		return note(KC(c), r);
	r = dm_thin_find_block(td, vblock, 1, &lr);
	dm_pool_close_thin_device(td);
	if (!r) {
		res->data_block = lr.block;
		res->shared = lr.shared;
		res->time = CLIENT_NO_TIME;		/* K5 */
	}
	return note(KC(c), r);
}

static int k_alloc(struct client *c, pd_block_t *b)
{
	dm_block_t x;
	int r = dm_pool_alloc_data_block(KC(c)->pmd, &x);

	if (!r)
		*b = x;
	return note(KC(c), r);
}

static int k_commit(struct client *c)
{
	return note(KC(c), dm_pool_commit_metadata(KC(c)->pmd));
}

/* Close without a commit (read-only first) and open again. */
static int reload(struct kclient *kc)
{
	dm_pool_metadata_read_only(kc->pmd);
	dm_pool_metadata_close(kc->pmd);
	kc->pmd = NULL;
	kc->failed = 0;
	return kopen(kc, false);
}

static int k_abort(struct client *c)
{
	struct kclient *kc = KC(c);
	int r;

	if (!kc->pmd)
		return -EIO;
	r = dm_pool_abort_metadata(kc->pmd);
	if (!r)
		r = reload(kc);			/* K3 */
	if (r)
		kc->failed = 1;
	return r;
}

static int k_after_error(struct client *c)
{
	struct kclient *kc = KC(c);
	int r;

	if (!kc->pmd)
		return -EIO;
	r = dm_pool_abort_metadata(kc->pmd);
	if (!r)
		r = dm_pool_metadata_set_needs_check(kc->pmd);
	if (!r)
		r = reload(kc);
	if (r) {
		kc->failed = 1;
		return r;
	}
	return 1;				/* read-only for good */
}

static int k_is_failed(struct client *c)
{
	return KC(c)->failed || !KC(c)->pmd;
}

static int k_get_trans_id(struct client *c, uint64_t *id)
{
	return note(KC(c), dm_pool_get_metadata_transaction_id(KC(c)->pmd, id));
}

static int k_set_trans_id(struct client *c, uint64_t cur, uint64_t id)
{
	return note(KC(c), dm_pool_set_metadata_transaction_id(KC(c)->pmd, cur, id));
}

static int k_get_time(struct client *c, uint32_t *time)
{
	struct thin_sb_info sb;
	int r = thin_read_superblock(c->bd, &sb);	/* K1 */

	if (!r)
		*time = sb.time;
	return r;
}

static int k_resize_data(struct client *c, pd_block_t n)
{
	return note(KC(c), dm_pool_resize_data_dev(KC(c)->pmd, n));
}

static int k_resize_metadata(struct client *c, pd_block_t n)
{
	return note(KC(c), dm_pool_resize_metadata_dev(KC(c)->pmd, n));
}

/* dm_pool_get_free_metadata_block_count already leaves out the kernel's
 * metadata_reserve. */
static int k_free_meta(struct client *c, pd_block_t *n)
{
	dm_block_t x;
	int r = dm_pool_get_free_metadata_block_count(KC(c)->pmd, &x);

	if (!r)
		*n = x;
	return note(KC(c), r);
}

static int k_nr_meta(struct client *c, pd_block_t *n)
{
	dm_block_t x;
	int r = dm_pool_get_metadata_dev_size(KC(c)->pmd, &x);

	if (!r)
		*n = x;
	return note(KC(c), r);
}

static int k_reserve(struct client *c)
{
	return note(KC(c), dm_pool_reserve_metadata_snap(KC(c)->pmd));
}

static int k_release(struct client *c)
{
	return note(KC(c), dm_pool_release_metadata_snap(KC(c)->pmd));
}

static int k_get_snap(struct client *c, pd_block_t *b)
{
	dm_block_t x;
	int r = dm_pool_get_metadata_snap(KC(c)->pmd, &x);

	if (!r)
		*b = x;
	return note(KC(c), r);
}

static int k_set_nc(struct client *c)
{
	return note(KC(c), dm_pool_metadata_set_needs_check(KC(c)->pmd));
}

static int k_get_nc(struct client *c, int *nc)
{
	*nc = dm_pool_metadata_needs_check(KC(c)->pmd);
	return 0;
}

/* --- the reads of the pool status line and of one device ------------------ */

static int k_nr_data(struct client *c, pd_block_t *n)
{
	dm_block_t x;
	int r = dm_pool_get_data_dev_size(KC(c)->pmd, &x);	/* K10 */

	if (!r)
		*n = x;
	return note(KC(c), r);
}

static int k_free_data(struct client *c, pd_block_t *n)
{
	dm_block_t x;
	int r = dm_pool_get_free_block_count(KC(c)->pmd, &x);	/* K11 */

	if (!r)
		*n = x;
	return note(KC(c), r);
}

static int open_dev(struct client *c, uint64_t dev, struct dm_thin_device **td)
{
	return note(KC(c), dm_pool_open_thin_device(KC(c)->pmd, dev, td));
}

static int k_highest(struct client *c, uint64_t dev, uint64_t *v)
{
	struct dm_thin_device *td;
	dm_block_t x;
	int r = open_dev(c, dev, &td);

	if (r)
		return r;
	r = dm_thin_get_highest_mapped_block(td, &x);
	dm_pool_close_thin_device(td);
	if (!r)
		return -ENODATA;			/* K12 */
	if (r > 0) {
		*v = x;
		r = 0;
	}
	return note(KC(c), r);
}

static int k_mapped_count(struct client *c, uint64_t dev, uint64_t *n)
{
	struct dm_thin_device *td;
	dm_block_t x;
	int r = open_dev(c, dev, &td);

	if (r)
		return r;
	r = dm_thin_get_mapped_count(td, &x);
	dm_pool_close_thin_device(td);
	if (!r)
		*n = x;
	return note(KC(c), r);
}

static int k_find_range(struct client *c, uint64_t dev, uint64_t begin,
			uint64_t end, struct thin_mapped_range *m)
{
	struct dm_thin_device *td;
	dm_block_t tb, te, pb;
	bool shared;
	int r = open_dev(c, dev, &td);

	if (r)
		return r;
	r = dm_thin_find_mapped_range(td, begin, end, &tb, &te, &pb, &shared);
	dm_pool_close_thin_device(td);
	if (!r) {
		m->thin_begin = tb;
		m->thin_end = te;
		m->pool_begin = pb;
		m->maybe_shared = shared;
	}
	return note(KC(c), r);
}

/* --- K1: the image through our core, read-only, against the kernel --------- */

__attribute__((format(printf, 2, 3)))
static int disagree(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return -EPROTO;
}

static int ro_open(struct client *c, struct thin_pool **pool)
{
	struct thin_pool_params p = {
		.data_block_size = KC(c)->data_block_size,
		.cache_blocks = 64,
		.flags = THIN_OPEN_READ_ONLY,
	};

	return thin_pool_open(c->bd, &p, pool);
}

struct kwalk {
	struct client *c;
	const struct client_walker *w;
	void *ctx;
	uint64_t dev;
	struct dm_thin_device *td;
	uint32_t stime;			/* the device's snapshotted_time */
	uint64_t n;			/* mappings seen */
	uint64_t next_v;		/* kernel enumeration: next vblock */
	dm_block_t rb, re, rp;		/* its current range */
	bool rshared;
	int have_range;
};

static int kernel_next_range(struct kwalk *k)
{
	int r = dm_thin_find_mapped_range(k->td, k->next_v, 1ull << 62,
					  &k->rb, &k->re, &k->rp, &k->rshared);

	k->have_range = r == 0;
	return r == -ENODATA ? 0 : r;
}

static int kw_map(void *ctx, uint64_t vblock, pd_block_t block, uint32_t time)
{
	struct kwalk *k = ctx;
	struct dm_thin_lookup_result lr;
	int shared = time < k->stime;	/* TH3 */
	int r;

	k->n++;
	if (!k->have_range || k->rb != vblock || k->rp != block)
		return disagree(k->c, "dev %llu vblock %llu: the image maps block "
				"%llu, dm_thin_find_mapped_range gives %s%llu..%llu -> %llu",
				(unsigned long long)k->dev, (unsigned long long)vblock,
				(unsigned long long)block, k->have_range ? "" : "nothing; last ",
				(unsigned long long)k->rb, (unsigned long long)k->re,
				(unsigned long long)k->rp);
	r = dm_thin_find_block(k->td, vblock, 1, &lr);
	if (r)
		return disagree(k->c, "dev %llu vblock %llu: dm_thin_find_block: %d",
				(unsigned long long)k->dev, (unsigned long long)vblock, r);
	if (lr.block != block || (int)lr.shared != shared || (int)k->rshared != shared)
		return disagree(k->c, "dev %llu vblock %llu: the image says block %llu "
				"%s, the kernel block %llu %s",
				(unsigned long long)k->dev, (unsigned long long)vblock,
				(unsigned long long)block, shared ? "shared" : "not shared",
				(unsigned long long)lr.block,
				lr.shared ? "shared" : "not shared");
	/* step the kernel's range */
	k->rb++;
	k->rp++;
	if (k->rb == k->re) {
		k->next_v = k->re;
		r = kernel_next_range(k);
		if (r)
			return disagree(k->c, "dev %llu: dm_thin_find_mapped_range: %d",
					(unsigned long long)k->dev, r);
	}
	return k->w->map ? k->w->map(k->ctx, k->dev, vblock, block, time) : 0;
}

/* Ids K1 probes for absence: every id up to PROBE_DENSE, then only the
 * two ids either side of each present one (a scenario may use ids up to
 * 2^24 - 1: a probe of every id below it took 36 s per digest). */
#define PROBE_DENSE 4096
#define PROBE_NEAR 2

static int probe_wanted(uint64_t id, const uint64_t *devs, size_t nr,
			size_t k)
{
	if (id <= PROBE_DENSE)
		return 1;
	return (k < nr && devs[k] - id <= PROBE_NEAR) ||
	       (k > 0 && id - devs[k - 1] <= PROBE_NEAR);
}

static int probe_absent(struct client *c, const uint64_t *devs, size_t nr)
{
	uint64_t top = nr ? devs[nr - 1] + PROBE_NEAR : PROBE_NEAR;
	size_t k = 0;

	for (uint64_t id = 0; id <= top; id++) {
		struct dm_thin_device *td;
		int r;

		if (k < nr && devs[k] == id) {
			k++;
			continue;
		}
		if (!probe_wanted(id, devs, nr, k)) {
			/* skip to the first id near the next present one */
			if (k < nr && devs[k] - id > PROBE_NEAR)
				id = devs[k] - PROBE_NEAR - 1;
			continue;
		}
		r = dm_pool_open_thin_device(KC(c)->pmd, id, &td);
		if (!r) {
			dm_pool_close_thin_device(td);
			return disagree(c, "dev %llu: absent from the image, but the "
					"kernel opens it", (unsigned long long)id);
		}
		if (r != -ENODATA)
			return disagree(c, "dev %llu: open_thin_device: %d",
					(unsigned long long)id, r);
	}
	return 0;
}

static int walk_dev(struct client *c, struct thin_pool *pool, uint64_t dev,
		    const struct client_walker *w, void *ctx)
{
	struct kwalk k = { .c = c, .w = w, .ctx = ctx, .dev = dev };
	struct thin_dev_info info;
	dm_block_t count;
	int r;

	r = thin_dev_info(pool, dev, &info);
	if (r)
		return r;
	r = dm_pool_open_thin_device(KC(c)->pmd, dev, &k.td);
	if (r)
		return disagree(c, "dev %llu: in the image, but the kernel's "
				"open_thin_device says %d", (unsigned long long)dev, r);
	r = dm_thin_get_mapped_count(k.td, &count);
	if (!r && count != info.mapped_blocks)
		r = disagree(c, "dev %llu: mapped_blocks %llu in the image, the "
			     "kernel counts %llu", (unsigned long long)dev,
			     (unsigned long long)info.mapped_blocks,
			     (unsigned long long)count);
	if (!r && w->dev)
		r = w->dev(ctx, &info);
	k.stime = info.snapshotted_time;
	if (!r)
		r = kernel_next_range(&k);
	if (!r)
		r = thin_walk_mappings(pool, dev, kw_map, &k);
	if (!r && k.have_range)
		r = disagree(c, "dev %llu: the kernel maps vblock %llu -> %llu, "
			     "the image does not", (unsigned long long)dev,
			     (unsigned long long)k.rb, (unsigned long long)k.rp);
	dm_pool_close_thin_device(k.td);
	return r;
}

static int k_walk(struct client *c, const struct client_walker *w, void *ctx)
{
	struct client_pool_info pi;
	struct thin_pool *pool;
	uint64_t *devs = NULL, kid;
	dm_block_t ksize, kheld;
	size_t nr = 0;
	int r;

	c->msg[0] = 0;
	r = ro_open(c, &pool);
	if (r)
		return r;
	r = thin_get_transaction_id(pool, &pi.trans_id);
	if (!r)
		r = thin_get_time(pool, &pi.time);
	if (!r)
		r = thin_get_nr_data_blocks(pool, &pi.nr_data_blocks);
	if (!r)
		r = thin_get_metadata_snap(pool, &pi.held_root);
	if (!r)
		r = dm_pool_get_metadata_transaction_id(KC(c)->pmd, &kid);
	if (!r)
		r = dm_pool_get_data_dev_size(KC(c)->pmd, &ksize);
	if (!r)
		r = dm_pool_get_metadata_snap(KC(c)->pmd, &kheld);
	if (r)
		goto out;
	if (kid != pi.trans_id || ksize != pi.nr_data_blocks ||
	    kheld != pi.held_root) {
		r = disagree(c, "pool: the image says trans_id %llu, %llu data "
			     "blocks, held root %llu; the kernel %llu, %llu, %llu",
			     (unsigned long long)pi.trans_id,
			     (unsigned long long)pi.nr_data_blocks,
			     (unsigned long long)pi.held_root,
			     (unsigned long long)kid, (unsigned long long)ksize,
			     (unsigned long long)kheld);
		goto out;
	}
	if (w->pool && (r = w->pool(ctx, &pi)))
		goto out;
	r = thin_list_devs_alloc(pool, &devs, &nr);
	if (!r)
		r = probe_absent(c, devs, nr);
	for (size_t i = 0; i < nr && !r; i++)
		r = walk_dev(c, pool, devs[i], w, ctx);
out:
	free(devs);
	thin_pool_destroy(pool);
	return r;
}

static int k_dev_info(struct client *c, uint64_t dev, struct thin_dev_info *info)
{
	struct thin_pool *pool;
	struct dm_thin_device *td;
	dm_block_t count;
	int r;

	c->msg[0] = 0;
	r = dm_pool_open_thin_device(KC(c)->pmd, dev, &td);
	if (r)
		return note(KC(c), r);
	r = dm_thin_get_mapped_count(td, &count);
	dm_pool_close_thin_device(td);
	if (r)
		return note(KC(c), r);
	r = ro_open(c, &pool);
	if (r)
		return r;
	r = thin_dev_info(pool, dev, info);	/* K1 */
	thin_pool_destroy(pool);
	if (!r && info->mapped_blocks != count)
		r = disagree(c, "dev %llu: mapped_blocks %llu in the image, the "
			     "kernel counts %llu", (unsigned long long)dev,
			     (unsigned long long)info->mapped_blocks,
			     (unsigned long long)count);
	return r;
}

static int k_list(struct client *c, uint64_t **devs, size_t *nr)
{
	struct thin_pool *pool;
	int r;

	c->msg[0] = 0;
	r = ro_open(c, &pool);
	if (r)
		return r;
	r = thin_list_devs_alloc(pool, devs, nr);	/* K1 */
	thin_pool_destroy(pool);
	if (!r && (r = probe_absent(c, *devs, *nr))) {
		free(*devs);
		*devs = NULL;
	}
	return r;
}

const struct client_ops KCLIENT_OPS = {
	.name = KCLIENT_NAME,
	.format_steps = 2,
	.abort_makes_durable = 0,
	.unchanged_commit_is_noop = 0,		/* K9 */
	.message_commits = 1,			/* K8 */
	.committed_only_queries = 1,		/* K1 */
	.data_size_at_commit = 1,		/* K10 */
	.failed_reads_hold = 1,			/* K16 */
	.free_data_wraps = 1,			/* K11 */
	.format = k_format,
	.format_finish = k_format_finish,
	.open = k_open,
	.close = k_close,
	.destroy = k_destroy,
	.create_thin = k_create_thin,
	.create_snap = k_create_snap,
	.delete_dev = k_delete,
	.insert = k_insert,
	.remove = k_remove,
	.remove_range = k_remove_range,
	.inc_data_range = k_inc_data,
	.dec_data_range = k_dec_data,
	.data_block_is_shared = k_is_shared,
	.lookup = k_lookup,
	.alloc_data_block = k_alloc,
	.commit = k_commit,
	.set_pre_commit = k_set_pre_commit,
	.abort = k_abort,
	.after_error = k_after_error,
	.is_failed = k_is_failed,
	.get_trans_id = k_get_trans_id,
	.set_trans_id = k_set_trans_id,
	.get_time = k_get_time,
	.resize_data = k_resize_data,
	.resize_metadata = k_resize_metadata,
	.get_nr_metadata_blocks = k_nr_meta,
	.get_free_metadata_blocks = k_free_meta,
	.get_nr_data_blocks = k_nr_data,
	.get_free_data_blocks = k_free_data,
	.reserve_meta_snap = k_reserve,
	.release_meta_snap = k_release,
	.get_meta_snap = k_get_snap,
	.set_needs_check = k_set_nc,
	.get_needs_check = k_get_nc,
	.dev_info = k_dev_info,
	.highest_mapped = k_highest,
	.mapped_count = k_mapped_count,
	.find_mapped_range = k_find_range,
	.list_devs = k_list,
	.walk = k_walk,
};
