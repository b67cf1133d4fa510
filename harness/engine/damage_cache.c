/* harness/engine/damage_cache.c - the recovery of one damaged dm-cache
 * image (damage.h; issue 15), as damage.c's dmg_recover() is for thin.
 *
 * The checker (core/check_cache.c, strict) runs first on the image as
 * damaged; then the core's open, the whole metadata read (every mapping
 * with its dirty bit and hint, every discard bit: cache_client_digest) and
 * compared with the committed states the markers allow, the continue step
 * of the crash check (cache_continue_check: hints, mappings, a dirty bit,
 * a discard bit, a commit, a clean shutdown and reopen), then an exercise
 * of every other change the metadata knows (below), so the damaged
 * arrays, bitsets and space map are read, shadowed and decremented.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_client.h"
#include "cache_oracle.h"
#include "cache_scenario.h"
#include "damage_internal.h"
#include "errors.h"

/* What the exercise learns of the metadata before it changes it. */
struct cx {
	struct cache_client *cc;
	uint32_t nr_cblocks;
	uint32_t lo, hi;		/* first and last mapped cache block */
	uint32_t unmapped;		/* the first unmapped one, or nr */
	uint64_t nr_mapped, next_oblock;
	uint32_t nr_discard;		/* discard bits walked */
	int err;			/* the first core error */
	int dead;			/* an abort failed: nothing more */
	char msg[300];
};

static int cx_map(void *ctx, uint32_t cblock, uint64_t oblock, int dirty,
		  const void *hint)
{
	struct cx *x = ctx;

	(void)dirty;
	(void)hint;
	if (!x->nr_mapped++)
		x->lo = cblock;
	x->hi = cblock;
	if (x->unmapped == cblock)
		x->unmapped = cblock + 1;
	if (oblock >= x->next_oblock)
		x->next_oblock = oblock + 1;
	return 0;
}

static int cx_discard(void *ctx, uint32_t dblock, int discarded)
{
	struct cx *x = ctx;

	(void)discarded;
	if (dblock >= x->nr_discard)
		x->nr_discard = dblock + 1;
	return 0;
}

/* After each call, as dm-cache does after a failed metadata operation:
 * note the first error, abort (the metadata reopens from its superblock)
 * and go on with the next step.  Out of space is no finding. */
static void cx_done(struct cx *x, const char *what, int r)
{
	if (!r)
		return;
	if (r != -ENOSPC && !x->err) {
		x->err = r;
		snprintf(x->msg, sizeof(x->msg), "%s: %s%s%s", what,
			 pd_strerror(r), x->cc->msg[0] ? ": " : "", x->cc->msg);
	}
	if (x->cc->ops->abort(x->cc))
		x->dead = 1;
}

/*
 * The exercise: the mappings walked (their first and last cache blocks,
 * the first unmapped one), the discard bits walked; the first mapping
 * removed, the last one marked dirty, a new mapping, the cache grown by 8
 * blocks and shrunk back, the last discard bit set and cleared, hints
 * written when the policy has a width, a commit; an abort after a failed
 * step, and on.  0, or the first -errno; msg says which step.
 */
static int exercise(struct cache_client *cc, char *msg, size_t len)
{
	const uint32_t version[CC_POLICY_VERSION_SIZE] = { 3, 1, 4 };
	char policy[CC_POLICY_NAME_SIZE + 1];
	struct cx x = { .cc = cc };
	uint32_t hint_size = 0, pv[CC_POLICY_VERSION_SIZE];
	int r;

	r = cc->ops->get_size(cc, &x.nr_cblocks);
	cx_done(&x, "get_size", r);
	if (!x.dead) {
		r = cc->ops->walk_mappings(cc, cx_map, &x);
		cx_done(&x, "walk_mappings", r);
	}
	if (!x.dead) {
		r = cc->ops->walk_discards(cc, cx_discard, &x);
		cx_done(&x, "walk_discards", r);
	}
	if (!x.dead && x.nr_mapped)
		cx_done(&x, "remove", cc->ops->remove(cc, x.lo));
	if (!x.dead && x.nr_mapped > 1)
		cx_done(&x, "set_dirty", cc->ops->set_dirty(cc, x.hi, 1));
	if (!x.dead && x.unmapped < x.nr_cblocks &&
	    x.next_oblock <= CC_MAX_OBLOCK)
		cx_done(&x, "insert", cc->ops->insert(cc, x.unmapped,
						      x.next_oblock));
	if (!x.dead && x.nr_cblocks && x.nr_cblocks <= UINT32_MAX - 8) {
		cx_done(&x, "resize (grow)", cc->ops->resize(cc, x.nr_cblocks + 8));
		if (!x.dead)
			cx_done(&x, "resize (shrink)", cc->ops->resize(cc,
								      x.nr_cblocks));
	}
	if (!x.dead && x.nr_discard) {
		cx_done(&x, "set_discard", cc->ops->set_discard(cc,
					x.nr_discard - 1, 1));
		if (!x.dead)
			cx_done(&x, "set_discard (clear)", cc->ops->set_discard(cc,
					x.nr_discard - 1, 0));
	}
	if (!x.dead) {
		r = cc->ops->get_policy(cc, policy, pv, &hint_size);
		cx_done(&x, "get_policy", r);
		if (!r && hint_size && policy[0] && x.nr_cblocks) {
			uint32_t *h = calloc(x.nr_cblocks, sizeof(*h));

			if (h)
				cx_done(&x, "write_hints", cc->ops->write_hints(cc,
					policy, version, hint_size, h));
			free(h);
		}
	}
	if (!x.dead)
		cx_done(&x, "commit", cc->ops->commit(cc));
	snprintf(msg, len, "%s", x.msg);
	return x.err;
}

struct cache_rec {
	struct cache_client_params params;
	struct cache_client *cc;
};

static int cache_check(struct bdev *image, char *msg, size_t len)
{
	return cache_structural(image, NULL, msg, len);
}

static int cache_open(void *ctx, struct bdev *image)
{
	struct cache_rec *c = ctx;

	return cache_client_core_ops.open(image, &c->params, &c->cc);
}

/* every mapping with its dirty bit and hint, every discard bit */
static int cache_digest(void *ctx, struct digest *d)
{
	return cache_client_digest(((struct cache_rec *)ctx)->cc, d);
}

/* it ends with a clean shutdown and reopen (cc replaced, NULL if the
 * reopen failed) */
static int cache_cont(void *ctx, struct bdev *image, struct digest d,
		      struct check_out *out)
{
	struct cache_rec *c = ctx;

	(void)d;
	return cache_continue_check(&c->cc, image, &c->params, out);
}

static int cache_exercise(void *ctx, struct bdev *image, char *msg,
			  size_t len, int *silent)
{
	struct cache_rec *c = ctx;
	int r = 0;

	*silent = 0;		/* no count-0 probe for dm-cache */

	if (!c->cc)
		r = cache_client_core_ops.open(image, &c->params, &c->cc);
	if (r) {
		c->cc = NULL;
		snprintf(msg, len, "reopen: %s", pd_strerror(r));
		return r;
	}
	return exercise(c->cc, msg, len);
}

static void cache_destroy(void *ctx)
{
	struct cache_rec *c = ctx;

	if (c->cc)
		cache_client_core_ops.destroy(c->cc);
}

static const struct dmg_backend cache_backend = {
	"metadata", cache_check, cache_open, cache_digest, NULL, cache_cont,
	cache_exercise, cache_destroy, NULL, NULL,
};

void dmg_recover_cache(const struct run_result *res, uint64_t cut,
		       struct bdev *image, pd_block_t block,
		       struct dmg_result *out)
{
	struct cache_rec c = {
		.params = {
			.data_block_size = res->geo.block_size,
			.version = res->geo.cache.version,
			.cache_blocks = res->geo.cache_blocks,
		},
	};

	dmg_recover_with(&cache_backend, &c, res, cut, image, block, 0, out);
}
