/* harness/engine/cache_client_core.c - the cache client (cache_client.h) on
 * our core (core/cache.h): every op is the cache_* call of the same name.
 *
 * Caller policy after a failed metadata operation (CC5): cache_abort (which
 * reopens from the superblock on disk, writes it back and flushes it, CA5),
 * then cache_set_needs_check (block 0 written and flushed at once), as
 * dm-cache's abort_transaction does after every failed metadata operation,
 * and go on with a new transaction (dm-cache would stay read-only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cache_client.h"

_Static_assert(CC_POLICY_NAME_SIZE == CACHE_POLICY_NAME_SIZE, "policy name");
_Static_assert(CC_POLICY_VERSION_SIZE == CACHE_POLICY_VERSION_SIZE,
	       "policy version");
_Static_assert(CC_FLAG_CLEAN_SHUTDOWN == CACHE_FLAG_CLEAN_SHUTDOWN &&
	       CC_FLAG_NEEDS_CHECK == CACHE_FLAG_NEEDS_CHECK, "flags");
_Static_assert(CC_MAX_OBLOCK == CACHE_MAX_OBLOCK, "origin blocks");
_Static_assert(CC_CACHE_NONE == CACHE_BM_CACHE_NONE, "no block cache");

struct core_cc {
	struct cache_client c;		/* first */
	struct cache_md *cmd;
};

#define CMD(cl) (((struct core_cc *)(cl))->cmd)

static int core_start(struct bdev *bd, const struct cache_client_params *p,
		      int format, struct cache_client **result)
{
	struct cache_params cp = {
		.data_block_size = p->data_block_size,
		.version = p->version,
		.cache_blocks = p->cache_blocks,
		.flags = p->flags & CC_OPEN_READ_ONLY ? CACHE_OPEN_READ_ONLY : 0,
	};
	struct core_cc *cc = calloc(1, sizeof(*cc));
	int r;

	if (!cc)
		return -ENOMEM;
	r = format ? cache_md_format(bd, &cp, &cc->cmd) :
		     cache_md_open(bd, &cp, &cc->cmd);
	if (r) {
		free(cc);
		return r;
	}
	cc->c.ops = &cache_client_core_ops;
	cc->c.bd = bd;
	*result = &cc->c;
	return 0;
}

static int core_format(struct bdev *bd, const struct cache_client_params *p,
		       struct cache_client **result)
{
	return core_start(bd, p, 1, result);
}

static int core_open(struct bdev *bd, const struct cache_client_params *p,
		     struct cache_client **result)
{
	return core_start(bd, p, 0, result);
}

static int core_close(struct cache_client *c)
{
	int r = cache_md_close(CMD(c));

	free(c);
	return r;
}

static void core_destroy(struct cache_client *c)
{
	if (!c)
		return;
	cache_md_destroy(CMD(c));
	free(c);
}

static int core_commit(struct cache_client *c)
{
	return cache_commit(CMD(c), 0);
}

static int core_abort(struct cache_client *c)
{
	return cache_abort(CMD(c));
}

static int core_after_error(struct cache_client *c)
{
	int r = cache_abort(CMD(c));

	if (!r)
		r = cache_set_needs_check(CMD(c));
	return r;
}

static int core_is_failed(struct cache_client *c)
{
	return cache_is_failed(CMD(c));
}

static int core_clean_when_opened(struct cache_client *c)
{
	return cache_clean_when_opened(CMD(c));
}

static int core_get_size(struct cache_client *c, uint32_t *nr)
{
	return cache_get_size(CMD(c), nr);
}

static int core_resize(struct cache_client *c, uint32_t nr)
{
	return cache_resize(CMD(c), nr);
}

static int core_insert(struct cache_client *c, uint32_t cb, uint64_t ob)
{
	return cache_insert_mapping(CMD(c), cb, ob);
}

static int core_remove(struct cache_client *c, uint32_t cb)
{
	return cache_remove_mapping(CMD(c), cb);
}

static int core_set_dirty(struct cache_client *c, uint32_t cb, int dirty)
{
	return cache_set_dirty(CMD(c), cb, dirty);
}

static int core_walk_mappings(struct cache_client *c,
			      cache_client_mapping_fn fn, void *ctx)
{
	return cache_walk_mappings(CMD(c), fn, ctx);
}

static int core_write_hints(struct cache_client *c, const char *policy,
			    const uint32_t version[CC_POLICY_VERSION_SIZE],
			    uint32_t hint_size, const void *hints)
{
	return cache_write_hints(CMD(c), policy, version, hint_size, hints);
}

static int core_get_policy(struct cache_client *c,
			   char name[CC_POLICY_NAME_SIZE + 1],
			   uint32_t version[CC_POLICY_VERSION_SIZE],
			   uint32_t *hint_size)
{
	return cache_get_policy(CMD(c), name, version, hint_size);
}

static int core_discard_resize(struct cache_client *c, uint64_t dbs,
			       uint32_t nr)
{
	return cache_discard_resize(CMD(c), dbs, nr);
}

static int core_set_discard(struct cache_client *c, uint32_t d, int on)
{
	return cache_set_discard(CMD(c), d, on);
}

static int core_walk_discards(struct cache_client *c,
			      cache_client_discard_fn fn, void *ctx)
{
	return cache_walk_discards(CMD(c), fn, ctx);
}

static int core_set_needs_check(struct cache_client *c)
{
	return cache_set_needs_check(CMD(c));
}

static int core_get_needs_check(struct cache_client *c, int *nc)
{
	return cache_get_needs_check(CMD(c), nc);
}

static int core_check_trees(struct cache_client *c)
{
	const char *what = "";
	int r = cache_check_trees(CMD(c), &what);

	c->msg[0] = 0;
	if (r)
		snprintf(c->msg, sizeof(c->msg), "bt_check of the %s's index "
			 "tree", what);
	return r;
}

const struct cache_client_ops cache_client_core_ops = {
	.name = "core",
	.abort_makes_durable = 1,		/* CA5 */
	.shutdown_needs_hints = 0,
	.format = core_format,
	.open = core_open,
	.close = core_close,
	.destroy = core_destroy,
	.commit = core_commit,
	.abort = core_abort,
	.after_error = core_after_error,	/* CC5: and go on */
	.is_failed = core_is_failed,
	.clean_when_opened = core_clean_when_opened,
	.get_size = core_get_size,
	.resize = core_resize,
	.insert = core_insert,
	.remove = core_remove,
	.set_dirty = core_set_dirty,
	.walk_mappings = core_walk_mappings,
	.write_hints = core_write_hints,
	.get_policy = core_get_policy,
	.discard_resize = core_discard_resize,
	.set_discard = core_set_discard,
	.walk_discards = core_walk_discards,
	.set_needs_check = core_set_needs_check,
	.get_needs_check = core_get_needs_check,
	.check_trees = core_check_trees,
};

int cache_client_read_sb(struct bdev *bd, struct cache_client_sb *sb)
{
	struct cache_sb_info info;
	int r = cache_read_superblock(bd, &info);

	if (r)
		return r;
	memset(sb, 0, sizeof(*sb));
	sb->flags = info.flags;
	sb->version = info.version;
	memcpy(sb->policy, info.policy_name, sizeof(sb->policy));
	memcpy(sb->policy_version, info.policy_version,
	       sizeof(sb->policy_version));
	sb->hint_size = info.policy_hint_size;
	sb->hint_root = info.hint_root;
	sb->cache_blocks = info.cache_blocks;
	sb->discard_nr_blocks = info.discard_nr_blocks;
	return 0;
}

struct hint_read {
	uint32_t *hints;
	uint32_t nr;
};

static int keep_hint(void *ctx, uint32_t cblock, const void *hint)
{
	struct hint_read *h = ctx;

	if (cblock < h->nr)
		memcpy(&h->hints[cblock], hint, sizeof(uint32_t));
	return 0;
}

int cache_client_read_hints(struct bdev *bd, uint32_t *hints, uint32_t nr)
{
	struct cache_params cp = {
		.flags = CACHE_OPEN_READ_ONLY | CACHE_OPEN_AS_STORED,
	};
	struct hint_read h = { hints, nr };
	struct cache_md *cmd;
	int r;

	memset(hints, 0, (size_t)nr * sizeof(*hints));
	r = cache_md_open(bd, &cp, &cmd);
	if (r)
		return r;
	r = cache_walk_hints(cmd, keep_hint, &h);
	cache_md_destroy(cmd);
	return r;
}
