/* harness/kernel/client_kernel_cache.c - the cache client (harness/engine/
 * cache_client.h) on the kernel's own dm-cache-metadata API.
 *
 * Compiled once per kernel version (kernel.mk) with that version's include
 * path and -include rename.h, so dm_cache_commit here is e.g.
 * k61_dm_cache_commit; it exports <P>cache_client_ops.  Like
 * client_kernel.c it lives beside the version's localised object and uses
 * only the public API (what dm-cache-target.c may call) and the policy
 * stand-in (policy.h).
 *
 * The adapter is the part of a dm-cache target that talks to its metadata:
 * at open it loads what the target's resume loads (dm_cache_size,
 * dm_cache_load_mappings into the policy and the dirty bitset,
 * dm_cache_load_discards into the discard bitset); each op is the kernel
 * call the grammar names; a clean shutdown is the target's sync_metadata.
 * What does not map is named in cache_client.h, KC1-KC12; the in-core
 * state of KC2 is struct kcache below.
 */
#include <linux/blkdev.h>

#include "dm-cache-metadata.h"

#include "bufio.h"
#include "cache_client.h"
#include "policy.h"

#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KCACHE_OPS KCAT(KCLIENT_PREFIX, cache_client_ops)

extern int kshim_quiet;

#define KERNEL_HINT_SIZE 4u	/* the only width dm-cache-metadata.c stores */

/* In-core state of one cache block (KC2). */
struct kblock {
	uint64_t oblock;
	uint32_t hint;			/* the policy's hint for it */
	uint8_t mapped, dirty;
	uint8_t hint_ok;		/* the hint is valid (CC2) */
	uint8_t hint_stored;		/* the kernel's hint array holds it
					 * (KC5: not for a block a resize
					 * added since the last write_hints) */
};

/* The device the kernel is given: in front of the real one, it counts the
 * I/O errors the real one returns (KC13), and drops every write and flush
 * when asked (KC7, KC8); with no inner device (detached) reads fail. */
struct kfront {
	struct bdev bd;			/* first */
	struct bdev *inner;		/* not owned; NULL: detached */
	int drop;			/* writes and flushes go nowhere */
	unsigned errors;		/* errors inner returned */
};

struct kcache {
	struct cache_client c;		/* first */
	struct block_device bdev;	/* dm-bufio's view of the device */
	struct kfront front;		/* KC7, KC8, KC13 */
	struct dm_cache_metadata *cmd;
	struct cache_client_params p;
	int failed;			/* an error no op means (I/O) seen */
	int clean;			/* clean_when_opened (KC1) */
	unsigned version;		/* metadata format (KC1) */
	uint32_t nr;			/* cache blocks */
	struct kblock *cb;		/* nr */
	uint32_t nr_d;			/* discard blocks */
	uint8_t *discard;		/* nr_d */
	uint64_t dbs;			/* discard block size, sectors */
	char policy[CC_POLICY_NAME_SIZE + 1];
	uint32_t pv[CC_POLICY_VERSION_SIZE];
	uint32_t hint_size;
	int hints_trusted;		/* what a block added by a resize gets */
	int dirty_synced;		/* the stored dirty bits are the in-core
					 * ones (KC4) */
};

#define KCC(cl) ((struct kcache *)(cl))

const struct cache_client_ops KCACHE_OPS;

/* --- the device in front (KC7, KC8, KC13) -------------------------------- */

static int kfront_seen(struct bdev *bd, int r)
{
	if (r)
		((struct kfront *)bd)->errors++;
	return r;
}

static int kfront_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct bdev *inner = ((struct kfront *)bd)->inner;

	return inner ? kfront_seen(bd, inner->ops->read(inner, b, buf)) : -EIO;
}

static int kfront_write(struct bdev *bd, pd_block_t b, const void *buf,
			unsigned flags)
{
	struct kfront *f = (struct kfront *)bd;

	if (f->drop || !f->inner)
		return 0;
	return kfront_seen(bd, f->inner->ops->write(f->inner, b, buf, flags));
}

static int kfront_flush(struct bdev *bd)
{
	struct kfront *f = (struct kfront *)bd;

	if (f->drop || !f->inner)
		return 0;
	return kfront_seen(bd, f->inner->ops->flush(f->inner));
}

static const struct bdev_ops kfront_ops = {
	.read = kfront_read,
	.write = kfront_write,
	.flush = kfront_flush,
};

/* The front device on inner (NULL: detached), dropping writes or not. */
static void kfront_attach(struct kcache *kc, struct bdev *inner, int drop)
{
	kc->front.bd.ops = &kfront_ops;
	kc->front.bd.block_size = kc->c.bd->block_size;
	kc->front.bd.nr_blocks = kc->c.bd->nr_blocks;
	kc->front.bd.caps = kc->c.bd->caps;
	kc->front.inner = inner;
	kc->front.drop = drop;
	kc->front.errors = 0;
	kc->bdev.bd = &kc->front.bd;
}

/* --- errors --------------------------------------------------------------- */

/* Errors an op may mean (CC1); anything else counts as failed metadata for
 * is_failed(). */
static int note(struct kcache *kc, int r)
{
	if (r && r != -EINVAL && r != -ENODATA && r != -EOPNOTSUPP)
		kc->failed = 1;
	return r;
}

__attribute__((format(printf, 2, 3)))
static int disagree(struct kcache *kc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kc->c.msg, sizeof(kc->c.msg), fmt, ap);
	va_end(ap);
	return -EPROTO;
}

/* --- in-core state ----------------------------------------------------------- */

static int resize_blocks(struct kcache *kc, uint32_t nr)
{
	struct kblock *cb = realloc(kc->cb, (nr ? nr : 1) * sizeof(*cb));

	if (!cb)
		return -ENOMEM;
	for (uint32_t i = kc->nr; i < nr; i++)
		cb[i] = (struct kblock) { .hint_ok = kc->hints_trusted };
	kc->cb = cb;
	kc->nr = nr;
	return 0;
}

static int resize_discards(struct kcache *kc, uint32_t nr)
{
	uint8_t *d = realloc(kc->discard, nr ? nr : 1);

	if (!d)
		return -ENOMEM;
	if (nr > kc->nr_d)
		memset(d + kc->nr_d, 0, nr - kc->nr_d);
	kc->discard = d;
	kc->nr_d = nr;
	return 0;
}

/* The policy stand-in with the in-core policy and hints (policy.h). */
static struct dm_cache_policy *make_policy(struct kcache *kc,
					   const uint32_t *hints)
{
	unsigned int pv[CC_POLICY_VERSION_SIZE];

	for (unsigned i = 0; i < CC_POLICY_VERSION_SIZE; i++)
		pv[i] = kc->pv[i];
	return kpolicy_create(kc->policy, pv, kc->hint_size, hints, kc->nr);
}

/* KC3: dm_cache_set_dirty_bits with the whole in-core bitset. */
static int store_dirty(struct kcache *kc)
{
	size_t words = ((size_t)kc->nr + BITS_PER_LONG - 1) / BITS_PER_LONG;
	unsigned long *bits;
	int r;

	if (!kc->nr) {
		kc->dirty_synced = 1;
		return 0;
	}
	bits = calloc(words, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	for (uint32_t i = 0; i < kc->nr; i++)
		if (kc->cb[i].dirty)
			set_bit(i, bits);
	r = dm_cache_set_dirty_bits(kc->cmd, kc->nr, bits);
	free(bits);
	if (!r)
		kc->dirty_synced = 1;
	return note(kc, r);
}

/* --- open: what a dm-cache resume loads ----------------------------------- */

static int load_mapping(void *ctx, dm_oblock_t oblock, dm_cblock_t cblock,
			bool dirty, uint32_t hint, bool hint_valid)
{
	struct kcache *kc = ctx;
	uint32_t cb = from_cblock(cblock);

	struct kblock *b = cb < kc->nr ? &kc->cb[cb] : NULL;

	if (!b)
		return disagree(kc, "load_mappings: cblock %u past the cache "
				"size %u", cb, kc->nr);
	if (hint_valid && b->hint_stored && hint != b->hint)
		return disagree(kc, "cblock %u: load_mappings gives hint %u, our "
				"core reads %u", cb, hint, b->hint);
	b->oblock = from_oblock(oblock);
	b->mapped = 1;
	b->dirty = dirty;
	b->hint_ok = hint_valid;
	if (hint_valid) {
		b->hint = hint;
		b->hint_stored = 1;
	}
	return 0;
}

static int load_discard(void *ctx, sector_t dbs, dm_dblock_t dblock,
			bool discarded)
{
	struct kcache *kc = ctx;
	uint64_t d = from_dblock(dblock);
	int r = 0;

	if (d >= kc->nr_d)
		r = resize_discards(kc, (uint32_t)d + 1);
	if (!r) {
		kc->discard[d] = discarded;
		kc->dbs = dbs;
	}
	return r;
}

/* KC1: every stored hint, with our core (the kernel reports those of
 * mapped blocks only). */
static int read_hints(struct kcache *kc)
{
	uint32_t *h = malloc(((size_t)kc->nr + 1) * sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	r = cache_client_read_hints(kc->c.bd, h, kc->nr);
	for (uint32_t i = 0; i < kc->nr && !r; i++) {
		kc->cb[i].hint = h[i];
		kc->cb[i].hint_stored = 1;
	}
	free(h);
	return r;
}

/* Open (or format) on kc's device; kc->c.bd and kc->p are set. */
static int kstart(struct kcache *kc, bool format)
{
	bool ro = kc->p.flags & CC_OPEN_READ_ONLY;
	struct dm_cache_metadata *cmd;
	struct dm_cache_policy *pol;
	struct cache_client_sb sb;
	dm_cblock_t size;
	int sb_r = -ENODATA, r;

	kshim_quiet = getenv("PDCRASH_KERNEL_LOG") == NULL;
	memset(&sb, 0, sizeof(sb));
	kfront_attach(kc, kc->c.bd, ro);		/* KC7, KC13 */
	if (!ro) {
		/* KC1: before the open, which clears CLEAN_SHUTDOWN */
		sb_r = cache_client_read_sb(kc->c.bd, &sb);
		if (sb_r == -EIO)
			return sb_r;
	}
	/* a hint width of 4 so the kernel sets up its hint array info
	 * whatever is stored (dm-cache passes its policy's: smq's is 4) */
	cmd = dm_cache_metadata_open(&kc->bdev, kc->p.data_block_size, format,
				     KERNEL_HINT_SIZE, kc->p.version);
	if (IS_ERR(cmd)) {
		r = (int)PTR_ERR(cmd);
		return r == -EPERM && !format ? -ENODATA : r;	/* KC9 */
	}
	kc->cmd = cmd;
	if (ro)			/* KC1: the writes of the open were dropped */
		sb_r = cache_client_read_sb(kc->c.bd, &sb);
	if (sb_r && !(format && sb_r == -ENODATA)) {
		r = disagree(kc, "the kernel opened a superblock our reader "
			     "refuses: %d", sb_r);
		goto out_close;
	}
	if (ro)
		dm_cache_metadata_set_read_only(cmd);
	kc->clean = sb_r ? 1 : !!(sb.flags & CC_FLAG_CLEAN_SHUTDOWN);
	kc->version = sb_r ? kc->p.version : sb.version;
	memcpy(kc->policy, sb.policy, sizeof(kc->policy));
	memcpy(kc->pv, sb.policy_version, sizeof(kc->pv));
	kc->hint_size = sb.hint_size;
	kc->hints_trusted = kc->clean && sb.hint_root && sb.hint_size;
	kc->dirty_synced = kc->clean;
	kc->nr = kc->nr_d = 0;
	r = dm_cache_size(cmd, &size);
	if (!r)
		r = resize_blocks(kc, from_cblock(size));
	if (!r && kc->hints_trusted)
		r = read_hints(kc);			/* KC1 */
	if (r)
		goto out_close;
	pol = make_policy(kc, NULL);
	if (!pol) {
		r = -ENOMEM;
		goto out_close;
	}
	r = dm_cache_load_mappings(cmd, pol, load_mapping, kc);
	kpolicy_destroy(pol);
	if (!r)
		r = dm_cache_load_discards(cmd, load_discard, kc);
	if (!r && kc->nr_d != sb.discard_nr_blocks && !sb_r)
		r = disagree(kc, "load_discards gave %u discard blocks, the "
			     "superblock says %llu", kc->nr_d,
			     (unsigned long long)sb.discard_nr_blocks);
	if (!r)
		return 0;
out_close:
	dm_cache_metadata_close(cmd);
	kc->cmd = NULL;
	return r;
}

static int knew(struct bdev *bd, const struct cache_client_params *p,
		bool format, struct cache_client **result)
{
	struct kcache *kc = calloc(1, sizeof(*kc));
	int r;

	if (!kc)
		return -ENOMEM;
	kc->c.ops = &KCACHE_OPS;
	kc->c.bd = bd;
	kc->p = *p;
	/* bm-cache=none: our dm-bufio's KB9 */
	kc->bdev.cache_blocks = p->cache_blocks == CC_CACHE_NONE ?
				KBUFIO_CACHE_NONE : p->cache_blocks;
	r = kstart(kc, format);
	if (r) {
		free(kc->cb);
		free(kc->discard);
		free(kc);
		return r;
	}
	*result = &kc->c;
	return 0;
}

static int k_format(struct bdev *bd, const struct cache_client_params *p,
		    struct cache_client **result)
{
	return knew(bd, p, true, result);
}

static int k_open(struct bdev *bd, const struct cache_client_params *p,
		  struct cache_client **result)
{
	return knew(bd, p, false, result);
}

static void kfree_client(struct kcache *kc)
{
	free(kc->cb);
	free(kc->discard);
	free(kc);
}

/* KC8: a crash, as far as the device can tell. */
static void k_destroy(struct cache_client *c)
{
	struct kcache *kc = KCC(c);

	if (!kc)
		return;
	if (kc->cmd) {
		kfront_attach(kc, NULL, 1);
		dm_cache_metadata_set_read_only(kc->cmd);
		dm_cache_metadata_close(kc->cmd);
	}
	kfree_client(kc);
}

/* KC6: close without a commit and open again, as a reload. */
static int reload(struct kcache *kc)
{
	dm_cache_metadata_set_read_only(kc->cmd);
	dm_cache_metadata_close(kc->cmd);
	kc->cmd = NULL;
	kc->failed = 0;
	return kstart(kc, false);
}

/* --- ops ------------------------------------------------------------------- */

static int k_commit(struct cache_client *c)
{
	return note(KCC(c), dm_cache_commit(KCC(c)->cmd, false));
}

/* KC6 (abort) and KC11 (after_error: needs_check first), then a reload. */
static int abort_reload(struct kcache *kc, int needs_check)
{
	int r;

	if (!kc->cmd)
		return -EIO;
	r = dm_cache_metadata_abort(kc->cmd);
	if (!r && needs_check)
		r = dm_cache_metadata_set_needs_check(kc->cmd);
	if (!r)
		r = reload(kc);
	if (r)
		kc->failed = 1;
	return r;
}

static int k_abort(struct cache_client *c)
{
	return abort_reload(KCC(c), 0);
}

/* KC11: dm-cache's metadata_operation_failed; read-only for good. */
static int k_after_error(struct cache_client *c)
{
	int r = abort_reload(KCC(c), 1);

	return r ? r : 1;
}

static int k_is_failed(struct cache_client *c)
{
	return KCC(c)->failed || !KCC(c)->cmd || KCC(c)->front.errors;	/* KC13 */
}

static int k_clean_when_opened(struct cache_client *c)
{
	return KCC(c)->clean;
}

static int k_get_size(struct cache_client *c, uint32_t *nr)
{
	struct kcache *kc = KCC(c);
	dm_cblock_t size;
	int r = dm_cache_size(kc->cmd, &size);

	if (r)
		return note(kc, r);
	if (from_cblock(size) != kc->nr)
		return disagree(kc, "dm_cache_size says %u cache blocks, the "
				"adapter holds %u", from_cblock(size), kc->nr);
	*nr = kc->nr;
	return 0;
}

static int k_resize(struct cache_client *c, uint32_t nr)
{
	struct kcache *kc = KCC(c);
	int r;

	r = note(kc, dm_cache_resize(kc->cmd, to_cblock(nr)));	/* KC4 */
	return r ? r : resize_blocks(kc, nr);
}

static int k_insert(struct cache_client *c, uint32_t cb, uint64_t ob)
{
	struct kcache *kc = KCC(c);
	int was_dirty, r;

	if (cb >= kc->nr || ob > CC_MAX_OBLOCK)
		return -EINVAL;				/* KC10 */
	r = note(kc, dm_cache_insert_mapping(kc->cmd, to_cblock(cb),
					     to_oblock(ob)));
	if (r)
		return r;
	was_dirty = kc->cb[cb].dirty;
	kc->cb[cb].oblock = ob;
	kc->cb[cb].mapped = 1;
	kc->cb[cb].dirty = 0;
	return was_dirty && kc->version >= 2 ? store_dirty(kc) : 0;	/* KC3 */
}

static int k_remove(struct cache_client *c, uint32_t cb)
{
	struct kcache *kc = KCC(c);
	int was_dirty, r;

	if (cb >= kc->nr)
		return -EINVAL;				/* KC10 */
	r = note(kc, dm_cache_remove_mapping(kc->cmd, to_cblock(cb)));
	if (r)
		return r;
	was_dirty = kc->cb[cb].dirty;
	kc->cb[cb].oblock = 0;
	kc->cb[cb].mapped = 0;
	kc->cb[cb].dirty = 0;
	return was_dirty && kc->version >= 2 ? store_dirty(kc) : 0;	/* KC3 */
}

static int k_set_dirty(struct cache_client *c, uint32_t cb, int dirty)
{
	struct kcache *kc = KCC(c);

	if (cb >= kc->nr)
		return -EINVAL;				/* KC10 */
	if (!kc->cb[cb].mapped)
		return -ENODATA;
	kc->cb[cb].dirty = !!dirty;
	return store_dirty(kc);				/* KC3 */
}

static int k_write_hints(struct cache_client *c, const char *policy,
			 const uint32_t version[CC_POLICY_VERSION_SIZE],
			 uint32_t hint_size, const void *hints)
{
	struct kcache *kc = KCC(c);
	unsigned int pv[CC_POLICY_VERSION_SIZE];
	struct dm_cache_policy *pol;
	int r;

	if (hint_size != 0 && hint_size != KERNEL_HINT_SIZE)
		return -EINVAL;				/* KC10 */
	if (!hint_size && kc->hint_size)
		return -EOPNOTSUPP;			/* KC10 */
	for (unsigned i = 0; i < CC_POLICY_VERSION_SIZE; i++)
		pv[i] = version[i];
	pol = kpolicy_create(policy, pv, hint_size, hints, kc->nr);
	if (!pol)
		return -ENOMEM;
	r = note(kc, dm_cache_write_hints(kc->cmd, pol));
	kpolicy_destroy(pol);
	if (r)
		return r;
	memset(kc->policy, 0, sizeof(kc->policy));
	strncpy(kc->policy, policy, CC_POLICY_NAME_SIZE - 1);
	memcpy(kc->pv, version, sizeof(kc->pv));
	if (!hint_size)
		return 0;
	kc->hint_size = hint_size;
	kc->hints_trusted = 1;
	for (uint32_t i = 0; i < kc->nr; i++) {
		memcpy(&kc->cb[i].hint, (const uint8_t *)hints + 4 * (size_t)i, 4);
		kc->cb[i].hint_ok = 1;
		kc->cb[i].hint_stored = 1;
	}
	return 0;
}

static int k_get_policy(struct cache_client *c,
			char name[CC_POLICY_NAME_SIZE + 1],
			uint32_t version[CC_POLICY_VERSION_SIZE],
			uint32_t *hint_size)
{
	struct kcache *kc = KCC(c);

	memcpy(name, kc->policy, CC_POLICY_NAME_SIZE + 1);
	memcpy(version, kc->pv, sizeof(kc->pv));
	*hint_size = kc->hint_size;
	return 0;
}

static int k_discard_resize(struct cache_client *c, uint64_t dbs, uint32_t nr)
{
	struct kcache *kc = KCC(c);
	int r = note(kc, dm_cache_discard_bitset_resize(kc->cmd, dbs,
							 to_dblock(nr)));

	if (!r) {
		kc->dbs = dbs;
		r = resize_discards(kc, nr);
	}
	return r;
}

static int k_set_discard(struct cache_client *c, uint32_t d, int on)
{
	struct kcache *kc = KCC(c);
	int r;

	if (d >= kc->nr_d)
		return -EINVAL;				/* KC10 */
	r = note(kc, dm_cache_set_discard(kc->cmd, to_dblock(d), on));
	if (!r)
		kc->discard[d] = !!on;
	return r;
}

/* KC5: dm-cache's sync_metadata, then the end of the object. */
static int k_close(struct cache_client *c)
{
	struct kcache *kc = KCC(c);
	struct dm_cache_policy *pol;
	uint32_t *hints = NULL;
	int r;

	if (!kc->cmd) {
		kfree_client(kc);
		return -EIO;
	}
	r = store_dirty(kc);
	if (!r && kc->nr_d)
		r = note(kc, dm_cache_discard_bitset_resize(kc->cmd, kc->dbs,
							     to_dblock(kc->nr_d)));
	for (uint32_t d = 0; d < kc->nr_d && !r; d++)
		r = note(kc, dm_cache_set_discard(kc->cmd, to_dblock(d),
						  kc->discard[d]));
	if (!r && kc->policy[0]) {
		hints = malloc(((size_t)kc->nr + 1) * sizeof(*hints));
		for (uint32_t i = 0; hints && i < kc->nr; i++)
			hints[i] = kc->cb[i].hint;
		pol = hints ? make_policy(kc, hints) : NULL;
		r = pol ? note(kc, dm_cache_write_hints(kc->cmd, pol)) : -ENOMEM;
		kpolicy_destroy(pol);
		free(hints);
	}
	if (!r)
		r = note(kc, dm_cache_commit(kc->cmd, true));
	if (r) {
		k_destroy(c);		/* what was not committed is lost */
		return r;
	}
	dm_cache_metadata_close(kc->cmd);
	kfree_client(kc);
	return 0;
}

/* --- walks: the in-core state, compared with the kernel's (KC2) ----------- */

struct kcmp {
	struct kcache *kc;
	uint32_t n;			/* entries the kernel reported */
};

static int cmp_mapping(void *ctx, dm_oblock_t oblock, dm_cblock_t cblock,
		       bool dirty, uint32_t hint, bool hint_valid)
{
	struct kcmp *k = ctx;
	struct kcache *kc = k->kc;
	uint32_t cb = from_cblock(cblock);
	const struct kblock *b = cb < kc->nr ? &kc->cb[cb] : NULL;

	k->n++;
	if (!b || !b->mapped || b->oblock != from_oblock(oblock))
		return disagree(kc, "cblock %u: the kernel maps origin block "
				"%llu, the adapter %s %llu", cb,
				(unsigned long long)from_oblock(oblock),
				b && b->mapped ? "maps" : "has no mapping, last",
				b ? (unsigned long long)b->oblock : 0ull);
	if (kc->clean && kc->dirty_synced && dirty != b->dirty)
		return disagree(kc, "cblock %u: the kernel reports it %s, the "
				"adapter %s", cb, dirty ? "dirty" : "clean",
				b->dirty ? "dirty" : "clean");
	if (hint_valid && b->hint_stored && (!b->hint_ok || hint != b->hint))
		return disagree(kc, "cblock %u: the kernel reports hint %u, the "
				"adapter %s%u", cb, hint,
				b->hint_ok ? "" : "no valid hint, last ", b->hint);
	return 0;
}

static int k_walk_mappings(struct cache_client *c, cache_client_mapping_fn fn,
			   void *ctx)
{
	struct kcache *kc = KCC(c);
	struct kcmp k = { kc, 0 };
	struct dm_cache_policy *pol = make_policy(kc, NULL);
	uint32_t mapped = 0;
	int r;

	c->msg[0] = 0;
	if (!pol)
		return -ENOMEM;
	r = dm_cache_load_mappings(kc->cmd, pol, cmp_mapping, &k);
	kpolicy_destroy(pol);
	if (r)
		return r == -EPROTO ? r : note(kc, r);
	for (uint32_t i = 0; i < kc->nr; i++)
		mapped += kc->cb[i].mapped;
	if (k.n != mapped)
		return disagree(kc, "the kernel reports %u mappings, the adapter "
				"holds %u", k.n, mapped);
	for (uint32_t i = 0; i < kc->nr && !r; i++) {
		const struct kblock *b = &kc->cb[i];

		if (b->mapped)
			r = fn(ctx, i, b->oblock, b->dirty,
			       b->hint_ok ? (const void *)&b->hint : NULL);
	}
	return r;
}

static int cmp_discard(void *ctx, sector_t dbs, dm_dblock_t dblock,
		       bool discarded)
{
	struct kcmp *k = ctx;
	struct kcache *kc = k->kc;
	uint64_t d = from_dblock(dblock);

	(void)dbs;
	k->n++;
	if (d >= kc->nr_d)
		return disagree(kc, "dblock %llu: past the adapter's %u discard "
				"blocks", (unsigned long long)d, kc->nr_d);
	if (kc->clean && discarded != kc->discard[d])
		return disagree(kc, "dblock %llu: the kernel reports it %s, the "
				"adapter %s", (unsigned long long)d,
				discarded ? "discarded" : "not discarded",
				kc->discard[d] ? "discarded" : "not discarded");
	return 0;
}

static int k_walk_discards(struct cache_client *c, cache_client_discard_fn fn,
			   void *ctx)
{
	struct kcache *kc = KCC(c);
	struct kcmp k = { kc, 0 };
	int r;

	c->msg[0] = 0;
	r = dm_cache_load_discards(kc->cmd, cmp_discard, &k);
	if (r)
		return r == -EPROTO ? r : note(kc, r);
	if (k.n != kc->nr_d)
		return disagree(kc, "the kernel reports %u discard blocks, the "
				"adapter holds %u", k.n, kc->nr_d);
	for (uint32_t d = 0; d < kc->nr_d && !r; d++)
		r = fn(ctx, d, kc->discard[d]);
	return r;
}

static int k_set_needs_check(struct cache_client *c)
{
	return note(KCC(c), dm_cache_metadata_set_needs_check(KCC(c)->cmd));
}

static int k_get_needs_check(struct cache_client *c, int *nc)
{
	bool b = false;
	int r = dm_cache_metadata_needs_check(KCC(c)->cmd, &b);

	*nc = b;
	return note(KCC(c), r);
}

const struct cache_client_ops KCACHE_OPS = {
	.name = KCLIENT_NAME,
	.abort_makes_durable = 1,		/* KC6: the reload's open */
	.shutdown_needs_hints = 1,		/* KC5 */
	.format = k_format,
	.open = k_open,
	.close = k_close,
	.destroy = k_destroy,
	.commit = k_commit,
	.abort = k_abort,
	.after_error = k_after_error,
	.is_failed = k_is_failed,
	.clean_when_opened = k_clean_when_opened,
	.get_size = k_get_size,
	.resize = k_resize,
	.insert = k_insert,
	.remove = k_remove,
	.set_dirty = k_set_dirty,
	.walk_mappings = k_walk_mappings,
	.write_hints = k_write_hints,
	.get_policy = k_get_policy,
	.discard_resize = k_discard_resize,
	.set_discard = k_set_discard,
	.walk_discards = k_walk_discards,
	.set_needs_check = k_set_needs_check,
	.get_needs_check = k_get_needs_check,
};
