/* harness/pdcrash/diff_cache.c - `pdcrash diff` of a dm-cache scenario: one
 * workload on the cache clients (cache_client.h) of two backends, in lock
 * step, each on its own simdisk from an empty image (DESIGN.md 8).
 *
 * The scenario is expanded once (random lines, ranges, the setup ops of
 * line 0) by a run of the cache workload on the backend whose caller
 * policy diff follows (the kernel's when one is a kernel: ops it skips,
 * cache_client.h KC5, are skipped on both); then each op is applied to
 * both, as diff.c does for thin pools:
 *
 *  DC1  after every op both return the same result.  A difference is
 *       reported with the op and both results and ends the scenario.
 *  DC2  after the format, each commit, abort, shutdown (after the close,
 *       and again after the reopen) and reopen, both images are read whole:
 *       a. the superblock fields that do not depend on where blocks were
 *          allocated (flags, version, policy, hint width, sizes, block
 *          sizes, feature flags, statistics) must be equal;
 *       b. block by block: equal, or every differing block explained by a
 *          named cause (causes[] below), else counted as unexplained.  With
 *          the same blocks in use in both (every count of the two
 *          metadata space maps equal), blocks in other roles are the
 *          array shadow order; a difference in the blocks in use is put
 *          down to the op since the last identical images that is known
 *          to lay the metadata out otherwise, and from then on the images
 *          are compared by DC2a, DC2c and DC2d only;
 *       c. each image opens in both backends (copies), and the four opens
 *          give the same digest (cache_oracle.h) and the same dump (the
 *          cache, the policy, every mapping with its dirty bit and hint,
 *          every discard bit);
 *       d. both images pass our checker (core/check_cache.h, strict): no
 *          error, no leaked block.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "cache_client.h"
#include "cache_oracle.h"
#include "cache_scenario.h"
#include "check_cache.h"
#include "diff.h"
#include "errors.h"
#include "simdisk.h"
#include "util.h"
#include "workload.h"

#define BS 4096u

/* Salts (FORMAT.md 1.1, 1.12). */
#define SALT_CACHE_SB 9031977u
#define SALT_BTREE 121107u
#define SALT_ARRAY 595846735u
#define SALT_BITMAP 240779u
#define SALT_INDEX 160478u
#define SM_ROOT 64u			/* the cache superblock's */

/* The named differences and what diff does with each. */
static const struct diff_cause ccauses[] = {
	{ "cache-array-shadow-order", "our core's shadow_ablock reinserts the "
	  "array block's key first (unsharing the btree path, core/array.c) "
	  "and then shadows the block; the kernel's shadows the block, then "
	  "reinserts it: the same blocks in use (every count of the two "
	  "metadata space maps equal), the btree node and the array block in "
	  "each other's places" },
	{ "cache-dirty-bitset-rebuilt", "format 2: the kernel has no call to "
	  "set one dirty bit; dm_cache_set_dirty_bits builds the whole dirty "
	  "bitset anew (KC3), our core sets the bit in place: other blocks "
	  "from then on, compared by the dumps" },
	{ "cache-shutdown-rewrites", "the kernel adapter's clean shutdown is "
	  "dm-cache's sync_metadata (KC5): every dirty bit, every discard bit "
	  "and the hints written again; our core writes only what changed: "
	  "other blocks from then on, compared by the dumps" },
	{ "cache-hints-not-resized", "dm_cache_resize leaves the hint array "
	  "at its old length (KC5), our core resizes it with the cache: other "
	  "blocks from then on, compared by the dumps" },
	{ "cache-untrusted-first-change", "after an open without a clean "
	  "shutdown our core stores every dirty bit (CA3) or clears every "
	  "discard bit at the first change; the kernel changes only what it "
	  "is told (KC2): other blocks from then on, compared by the dumps" },
	{ "cache-abort-write-back", "the kernel's abort tears its block "
	  "manager down and dm-bufio writes the aborted transaction's dirty "
	  "buffers to free blocks, which the reload then allocates "
	  "otherwise; our core drops them: other blocks from then on, "
	  "compared by the dumps" },
	{ "stale-node-slots", "btree node slots past nr_entries (the array's "
	  "btree of array blocks): stale in the kernel, zeroes in ours; no "
	  "reader looks at them" },
	{ "free-block-contents", "blocks free in both images' metadata space "
	  "maps hold what a transaction wrote and then freed, or an aborted "
	  "one wrote back; no reader looks at them" },
};

enum cevent {
	CE_DIRTY_V2 = 0, CE_SHUTDOWN, CE_RESIZE, CE_UNTRUSTED, CE_ABORT,
	CE_NR
};

static const struct diff_cause *ccause_find(const char *id)
{
	return diff_cause_find(ccauses, sizeof(ccauses) / sizeof(ccauses[0]), id);
}

void diff_cache_print_causes(void)
{
	printf("dm-cache (cache_client.h):\n");
	for (size_t i = 0; i < sizeof(ccauses) / sizeof(ccauses[0]); i++)
		printf("  %-30s %s\n", ccauses[i].id, ccauses[i].what);
}

/* --- one side ----------------------------------------------------------- */

struct cside {
	const struct cache_client_ops *ops;
	struct simdisk *sd;
	struct bdev *bd;
	struct cache_client *cc;
	uint8_t *img;
	pd_block_t nr_img;
};

struct cdiff {
	struct cside s[2];
	const struct scenario *sc;
	struct cache_client_params params;
	struct diff_stats st;
	int verbose;
	unsigned version;
	size_t event_op[CE_NR];		/* the first op of each kind since
					 * the images were identical, or
					 * SIZE_MAX */
	size_t op;			/* the op being applied */
	int unclean;			/* opened without a clean shutdown */
	const struct diff_cause *diverged;	/* layouts apart: dumps only */
};

static const char *cname(const struct cdiff *df, int i)
{
	return df->s[i].ops->name;
}

__attribute__((format(printf, 2, 3)))
static void cunexplained(struct cdiff *df, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diff_vunexplained(&df->st, df->sc->name, fmt, ap);
	va_end(ap);
}

/* --- DC2a: the superblock fields no allocation decides -------------------- */

static const struct { unsigned off, len; const char *name; } sb_fields[] = {
	{ 4, 4, "flags" }, { 8, 8, "blocknr" }, { 16, 16, "uuid" },
	{ 32, 8, "magic" }, { 40, 4, "version" }, { 44, 16, "policy_name" },
	{ 60, 4, "policy_hint_size" }, { 216, 8, "discard_block_size" },
	{ 224, 8, "discard_nr_blocks" }, { 232, 4, "data_block_size" },
	{ 236, 4, "metadata_block_size" }, { 240, 4, "cache_blocks" },
	{ 244, 12, "compat, compat_ro, incompat flags" },
	{ 256, 16, "read/write hits and misses" },
	{ 272, 12, "policy_version" },
};

static int compare_sb(struct cdiff *df, const char *where)
{
	const uint8_t *a = df->s[0].img, *b = df->s[1].img;

	for (size_t i = 0; i < sizeof(sb_fields) / sizeof(sb_fields[0]); i++) {
		unsigned o = sb_fields[i].off;

		if (memcmp(a + o, b + o, sb_fields[i].len)) {
			cunexplained(df, "%s: superblock field %s (byte %u) "
				     "differs: %s 0x%02x, %s 0x%02x", where,
				     sb_fields[i].name, o, cname(df, 0), a[o],
				     cname(df, 1), b[o]);
			return -1;
		}
	}
	return 0;
}

/* --- DC2b: block by block ------------------------------------------------- */

static const char *block_kind(const uint8_t *d)
{
	uint32_t c = le32_get(d);

	if (c == pd_block_csum(d + 4, BS - 4, SALT_CACHE_SB))
		return "superblock";
	if (c == pd_block_csum(d + 4, BS - 4, SALT_BTREE))
		return le32_get(d + 4) & 1 ? "btree internal node" :
					     "btree leaf (array blocks)";
	if (c == pd_block_csum(d + 4, BS - 4, SALT_ARRAY))
		return "array block";
	if (c == pd_block_csum(d + 4, BS - 4, SALT_BITMAP))
		return "space-map bitmap";
	if (c == pd_block_csum(d + 4, BS - 4, SALT_INDEX))
		return "metadata space-map index block";
	return "no valid checksum (free or unformatted)";
}

static int is_node(const uint8_t *d)
{
	return le32_get(d) == pd_block_csum(d + 4, BS - 4, SALT_BTREE);
}

/* The named cause that explains block b by its own bytes, or NULL. */
static const struct diff_cause *explain_block(const struct cdiff *df, pd_block_t b)
{
	const struct cside *sa = &df->s[0], *sb = &df->s[1];
	const uint8_t *da = sa->img + b * BS, *db = sb->img + b * BS;

	if (b && !diff_meta_count(sa->img, sa->nr_img, b, SALT_CACHE_SB, SM_ROOT) &&
	    !diff_meta_count(sb->img, sb->nr_img, b, SALT_CACHE_SB, SM_ROOT))
		return ccause_find("free-block-contents");
	if (is_node(da) && is_node(db) && diff_node_used_bytes_equal(da, db))
		return ccause_find("stale-node-slots");
	return NULL;
}

/* Every block has the same count in both metadata space maps. */
static int same_blocks_in_use(const struct cdiff *df)
{
	const struct cside *a = &df->s[0], *b = &df->s[1];

	for (pd_block_t i = 0; i < a->nr_img; i++) {
		int ca = diff_meta_count(a->img, a->nr_img, i, SALT_CACHE_SB, SM_ROOT);

		if (ca < 0 || ca != diff_meta_count(b->img, b->nr_img, i,
						     SALT_CACHE_SB, SM_ROOT))
			return 0;
	}
	return 1;
}

static void clear_events(struct cdiff *df)
{
	for (int e = 0; e < CE_NR; e++)
		df->event_op[e] = SIZE_MAX;
}

static void note_event(struct cdiff *df, enum cevent e)
{
	if (df->event_op[e] == SIZE_MAX)
		df->event_op[e] = df->op;
}

/* The layout cause of the first event since the images were identical. */
static const struct diff_cause *layout_cause(const struct cdiff *df)
{
	static const char *const ids[CE_NR] = {
		[CE_DIRTY_V2] = "cache-dirty-bitset-rebuilt",
		[CE_SHUTDOWN] = "cache-shutdown-rewrites",
		[CE_RESIZE] = "cache-hints-not-resized",
		[CE_UNTRUSTED] = "cache-untrusted-first-change",
		[CE_ABORT] = "cache-abort-write-back",
	};

	int first = -1;

	for (int e = 0; e < CE_NR; e++)
		if (df->event_op[e] != SIZE_MAX &&
		    (first < 0 || df->event_op[e] < df->event_op[first]))
			first = e;
	return first < 0 ? NULL : ccause_find(ids[first]);
}

static void compare_blocks(struct cdiff *df, const char *where)
{
	const struct cside *a = &df->s[0], *b = &df->s[1];
	pd_block_t first = UINT64_MAX, bad = UINT64_MAX, nr_diff = 0;
	const struct diff_cause *fc = NULL, *lc;

	for (pd_block_t i = 0; i < a->nr_img; i++) {
		const struct diff_cause *c;

		if (!memcmp(a->img + i * BS, b->img + i * BS, BS))
			continue;
		nr_diff++;
		c = explain_block(df, i);
		if (first == UINT64_MAX) {
			first = i;
			fc = c;
		}
		if (!c && bad == UINT64_MAX)
			bad = i;
	}
	if (first == UINT64_MAX) {
		df->st.identical++;
		clear_events(df);
		return;
	}
	df->st.explained++;
	if (bad == UINT64_MAX) {
		if (df->verbose || !df->st.first_shown)
			printf("  %s: %s: %" PRIu64 " blocks differ, first %" PRIu64
			       " (%s): explained: %s\n", df->sc->name, where,
			       (uint64_t)nr_diff, (uint64_t)first,
			       block_kind(a->img + first * BS), fc->id);
		df->st.first_shown = 1;
		return;
	}
	if (df->diverged)
		return;
	if (same_blocks_in_use(df)) {
		if (df->verbose || !df->st.first_shown)
			printf("  %s: %s: %" PRIu64 " blocks differ, first %" PRIu64
			       " (%s in %s, %s in %s), the same blocks in use: "
			       "explained: cache-array-shadow-order\n",
			       df->sc->name, where, (uint64_t)nr_diff,
			       (uint64_t)bad, block_kind(a->img + bad * BS),
			       cname(df, 0), block_kind(b->img + bad * BS),
			       cname(df, 1));
		df->st.first_shown = 1;
		return;
	}
	lc = layout_cause(df);
	if (!lc) {
		df->st.explained--;
		cunexplained(df, "%s: %" PRIu64 " blocks differ; block %" PRIu64
			     " (%s in %s, %s in %s)", where, (uint64_t)nr_diff,
			     (uint64_t)bad, block_kind(a->img + bad * BS),
			     cname(df, 0), block_kind(b->img + bad * BS),
			     cname(df, 1));
		return;
	}
	df->diverged = lc;
	printf("  %s: %s: block %" PRIu64 " (%s): the layouts part here: "
	       "explained: %s; from here on the images are compared by their "
	       "superblock fields and dumps\n", df->sc->name, where,
	       (uint64_t)bad, block_kind(a->img + bad * BS), lc->id);
}

/* --- DC2c: each image in each backend --------------------------------------- */

static int tx_mapping(void *ctx, uint32_t cb, uint64_t ob, int dirty,
		      const void *hint)
{
	if (hint)
		diff_text_add(ctx, "  mapping %" PRIu32 " -> %" PRIu64 " %s hint %"
			 PRIu32 "\n", cb, ob, dirty ? "dirty" : "clean",
			 le32_get(hint));
	else
		diff_text_add(ctx, "  mapping %" PRIu32 " -> %" PRIu64 " %s\n", cb,
			 ob, dirty ? "dirty" : "clean");
	return 0;
}

static int tx_discard(void *ctx, uint32_t d, int discarded)
{
	if (discarded)
		diff_text_add(ctx, "  discarded %" PRIu32 "\n", d);
	return 0;
}

/* Open a copy of img with ops, read it: digest and text. */
static int open_dump(const struct cache_client_ops *ops, const uint8_t *img,
		     pd_block_t nr, const struct cache_client_params *p,
		     struct digest *d, struct diff_text *t, char *msg, size_t len)
{
	char name[CC_POLICY_NAME_SIZE + 1];
	uint32_t pv[CC_POLICY_VERSION_SIZE], hs, size;
	struct bdev *bd = diff_copy(img, nr, msg, len);
	struct cache_client *c;
	int r;

	if (!bd)
		return -ENOMEM;
	r = ops->open(bd, p, &c);
	if (r)
		return diff_open_failed(r, bd, msg, len);
	r = cache_client_digest(c, d);
	if (!r)
		r = ops->get_size(c, &size);
	if (!r)
		r = ops->get_policy(c, name, pv, &hs);
	if (!r) {
		diff_text_add(t, "cache %" PRIu32 " blocks, %s, policy '%s' %" PRIu32
			 ".%" PRIu32 ".%" PRIu32 " hint width %" PRIu32 "\n",
			 size, ops->clean_when_opened(c) ? "clean" : "not clean",
			 name, pv[0], pv[1], pv[2], hs);
		r = ops->walk_mappings(c, tx_mapping, t);
	}
	if (!r)
		r = ops->walk_discards(c, tx_discard, t);
	if (r)
		snprintf(msg, len, "reading it failed: %d (%s)%s%s", r,
			 pd_strerror(r), c->msg[0] ? ": " : "", c->msg);
	else if (t->oom)
		r = -ENOMEM;
	ops->destroy(c);
	bdev_destroy(bd);
	return r;
}

static int compare_dumps(struct cdiff *df, const char *where)
{
	struct digest d[4];
	struct diff_text t[4];
	char msg[320];
	int bad = 0;

	memset(t, 0, sizeof(t));
	for (int k = 0; k < 4; k++) {
		int i = k / 2, j = k % 2;

		if (open_dump(df->s[j].ops, df->s[i].img, df->s[i].nr_img,
			      &df->params, &d[k], &t[k], msg, sizeof(msg))) {
			cunexplained(df, "%s: the image of %s in %s: %s", where,
				     cname(df, i), cname(df, j), msg);
			bad = 1;
		}
	}
	for (int k = 1; k < 4 && !bad; k++) {
		const char *from = diff_text_mismatch(&t[0], &t[k]);

		if (!from && digest_eq(d[k], d[0]))
			continue;
		cunexplained(df, "%s: the image of %s in %s dumps otherwise than "
			     "the image of %s in %s, from: %.120s", where,
			     cname(df, k / 2), cname(df, k % 2), cname(df, 0),
			     cname(df, 0), from ? from : "(the same dump, "
			     "another digest)");
		bad = 1;
	}
	for (int k = 0; k < 4; k++)
		free(t[k].buf);
	return bad ? -1 : 0;
}

/* DC2d: our checker, strict, on both images. */
static int check_images(struct cdiff *df, const char *where)
{
	for (int i = 0; i < 2; i++) {
		struct check_cache_result res;
		struct bdev *bd;
		int r = diff_membd_create(df->s[i].img, df->s[i].nr_img, &bd);

		if (!r) {
			r = check_cache_metadata(bd, CHECK_STRICT, NULL, NULL, &res);
			bdev_destroy(bd);
		}
		if (r || !res.superblock_ok || res.errors || res.leaks) {
			cunexplained(df, "%s: the image of %s fails our checker "
				     "(%s, %u errors, %u leaks)", where,
				     cname(df, i), r ? pd_strerror(r) : "ran",
				     r ? 0 : res.errors, r ? 0 : res.leaks);
			return -1;
		}
	}
	return 0;
}

/* DC2: nothing uncommitted on either side. */
static int compare_point(struct cdiff *df, const char *where)
{
	int r;

	df->st.commits++;
	for (int i = 0; i < 2; i++)
		if ((r = diff_read_image(df->s[i].bd, &df->s[i].img,
					 &df->s[i].nr_img))) {
			cunexplained(df, "%s: reading the image of %s: %s", where,
				     cname(df, i), pd_strerror(r));
			return -1;
		}
	if (compare_sb(df, where) || check_images(df, where))
		return -1;
	compare_blocks(df, where);
	return compare_dumps(df, where);
}

/* --- the ops ---------------------------------------------------------------- */

static int apply(struct cdiff *df, int i, const struct op *op, uint32_t *h,
		 uint32_t nr_h)
{
	const struct cache_client_ops *o = df->s[i].ops;
	struct cache_client *c = df->s[i].cc;
	const struct cache_geometry *g = &df->sc->geo.cache;
	static const uint32_t version[3] = { 2, 0, 0 };
	uint32_t a = (uint32_t)op->a;
	int r;

	switch (op->sub) {
	case CO_MAP:
		return o->insert(c, a, op->c);
	case CO_UNMAP:
		return o->remove(c, a);
	case CO_DIRTY:
	case CO_CLEAN:
		return o->set_dirty(c, a, op->sub == CO_DIRTY);
	case CO_HINTS:
		for (uint32_t k = 0; k < nr_h; k++)
			h[k] = cache_hint_value((uint32_t)op->c, k);
		return o->write_hints(c, g->policy, version, g->hint_size, h);
	case CO_DISCARD:
	case CO_UNDISCARD:
		return o->set_discard(c, a, op->sub == CO_DISCARD);
	case CO_DISCARD_RESIZE:
		return o->discard_resize(c, (uint64_t)df->sc->geo.block_size * 4,
					 a);
	case CO_RESIZE:
		return o->resize(c, a);
	case CO_COMMIT:
		return o->commit(c);
	case CO_ABORT:
		return o->abort(c);
	case CO_SHUTDOWN:
		r = o->close(c);
		df->s[i].cc = NULL;
		return r;
	case CO_REOPEN:
		o->destroy(c);
		df->s[i].cc = NULL;
		return o->open(df->s[i].bd, &df->params, &df->s[i].cc);
	default:
		return -EINVAL;
	}
}

/* The events an op brings that lay the two out otherwise (causes[]). */
static void note_events(struct cdiff *df, const struct op *op)
{
	int change = op->sub == CO_MAP || op->sub == CO_UNMAP ||
		     op->sub == CO_DIRTY || op->sub == CO_CLEAN ||
		     op->sub == CO_RESIZE;

	if (df->version >= 2 && change && op->sub != CO_RESIZE)
		note_event(df, CE_DIRTY_V2);
	if (df->unclean && (change || op->sub == CO_DISCARD ||
			    op->sub == CO_UNDISCARD))
		note_event(df, CE_UNTRUSTED);
	if (op->sub == CO_SHUTDOWN)
		note_event(df, CE_SHUTDOWN);
	if (op->sub == CO_RESIZE)
		note_event(df, CE_RESIZE);
	if (op->sub == CO_ABORT) {
		note_event(df, CE_ABORT);
		df->unclean = 1;
	}
	if (op->sub == CO_REOPEN)
		df->unclean = 1;
	if (op->sub == CO_SHUTDOWN)
		df->unclean = 0;
}

/* Apply op idx to both: 0 go on, -1 stop the scenario. */
static int step(struct cdiff *df, size_t idx, const struct op *op)
{
	uint32_t nr[2] = { 0, 0 }, *h = NULL;
	int r[2];
	char ob[128], where[192];

	df->st.ops++;
	df->op = idx;
	cache_op_format(op, ob, sizeof(ob));
	if (op->sub == CO_HINTS) {
		for (int i = 0; i < 2; i++)
			if (df->s[i].ops->get_size(df->s[i].cc, &nr[i]))
				nr[i] = 0;
		h = malloc(((size_t)nr[0] + 1) * sizeof(*h));
		if (!h)
			return -1;
	}
	for (int i = 0; i < 2; i++)
		r[i] = apply(df, i, op, h, nr[0]);
	free(h);
	note_events(df, op);
	if (r[0] != r[1]) {
		cunexplained(df, "op %zu '%s': %s returned %d (%s), %s %d (%s)",
			     idx, ob, cname(df, 0), r[0], pd_strerror(r[0]),
			     cname(df, 1), r[1], pd_strerror(r[1]));
		return -1;
	}
	if (r[0] && (op->sub == CO_SHUTDOWN || op->sub == CO_REOPEN ||
		     df->s[0].ops->is_failed(df->s[0].cc) ||
		     df->s[1].ops->is_failed(df->s[1].cc))) {
		cunexplained(df, "op %zu '%s' failed on both with %d (%s)", idx,
			     ob, r[0], pd_strerror(r[0]));
		return -1;
	}
	if (r[0])
		return 0;
	switch (op->sub) {
	case CO_COMMIT:
	case CO_ABORT:
	case CO_REOPEN:
		snprintf(where, sizeof(where), "%s (op %zu)", ob, idx);
		return compare_point(df, where) ? -1 : 0;
	case CO_SHUTDOWN:
		snprintf(where, sizeof(where), "shutdown (op %zu), closed", idx);
		if (compare_point(df, where))
			return -1;
		for (int i = 0; i < 2; i++)
			r[i] = df->s[i].ops->open(df->s[i].bd, &df->params,
						  &df->s[i].cc);
		if (r[0] || r[1]) {
			cunexplained(df, "op %zu: the reopen after the shutdown: "
				     "%s %d, %s %d", idx, cname(df, 0), r[0],
				     cname(df, 1), r[1]);
			return -1;
		}
		snprintf(where, sizeof(where), "shutdown (op %zu), reopened", idx);
		return compare_point(df, where) ? -1 : 0;
	default:
		return 0;
	}
}

int diff_cache_scenario(const struct scenario *sc,
			const struct client_ops *ops[2], uint64_t seed,
			const char *save_dir, int verbose,
			struct diff_stats *out)
{
	struct cdiff df = { .sc = sc, .verbose = verbose };
	const struct client_ops *policy = strcmp(ops[1]->name, "core") ? ops[1] :
					  ops[0];
	struct run_config cfg = {
		.sc = sc, .seed = seed, .quiet = 1, .keep_state = -1,
		.client = policy,
	};
	struct run_result res;
	int r, rc = 0;

	clear_events(&df);
	for (int i = 0; i < 2; i++) {
		r = cache_client_backend(ops[i]->name, &df.s[i].ops);
		if (r) {
			fprintf(stderr, "pdcrash: %s: backend %s has no dm-cache "
				"client: %s\n", sc->name, ops[i]->name,
				pd_strerror(r));
			return 2;
		}
	}
	r = workload_run(&cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: %s: the workload could not run: %s\n",
			sc->name, pd_strerror(r));
		return 2;
	}
	if (res.live_failed)
		cunexplained(&df, "the workload on %s disagreed with the oracle "
			     "and stopped at op %zu: %s", policy->name,
			     res.nr_ops, res.live_msg);
	df.version = res.geo.cache.version;
	df.params = (struct cache_client_params) {
		.data_block_size = res.geo.block_size,
		.version = res.geo.cache.version,
		.cache_blocks = res.geo.cache_blocks,
	};
	for (int i = 0; i < 2 && !rc; i++) {
		r = simdisk_create(BS, res.geo.meta_blocks, &df.s[i].sd);
		if (r) {
			fprintf(stderr, "pdcrash: %s\n", pd_strerror(r));
			rc = 2;
			break;
		}
		simdisk_log_reads(df.s[i].sd, 0);
		df.s[i].bd = simdisk_bdev(df.s[i].sd);
		r = df.s[i].ops->format(df.s[i].bd, &df.params, &df.s[i].cc);
		if (r) {
			df.s[i].cc = NULL;
			cunexplained(&df, "format on %s failed: %d (%s)",
				     cname(&df, i), r, pd_strerror(r));
		}
	}
	if (!rc && df.s[0].cc && df.s[1].cc && !compare_point(&df, "format"))
		for (size_t i = 0; i < res.nr_ops; i++) {
			if (res.ops[i].result == -EOPNOTSUPP)
				continue;	/* skipped by name (KC5) */
			if (step(&df, i, &res.ops[i].op))
				break;
		}
	for (int i = 0; i < 2 && save_dir && !rc; i++)
		if (df.s[i].img &&
		    diff_save_image(save_dir, sc->name, cname(&df, i),
				    i && !strcmp(cname(&df, 0), cname(&df, 1)),
				    df.s[i].img, df.s[i].nr_img))
			df.st.unexplained++;
	for (int i = 0; i < 2; i++) {
		if (df.s[i].cc)
			df.s[i].ops->destroy(df.s[i].cc);
		simdisk_destroy(df.s[i].sd);
		free(df.s[i].img);
	}
	run_result_free(&res);
	*out = df.st;
	return rc;
}
