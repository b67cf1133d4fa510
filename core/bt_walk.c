/* core/bt_walk.c - reading whole btrees: bt_walk and bt_check (one
 * recursive traversal with the BT5 range and depth checks) and the cursor
 * over a one-level tree.
 *
 * Each node is copied out of the cache and its lock dropped at once, so
 * callbacks may do anything and deep multi-level trees never pin more than
 * one cache block.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bt.h"
#include "bt_internal.h"
#include "errors.h"
#include "mutant.h"
#include "util.h"

/* --- walk and check ----------------------------------------------------- */

/*
 * One recursive traversal serves bt_walk and bt_check.  Each node is
 * copied into the buffer of its depth; its keys must lie in [lo, hi) given
 * by the parent (hi unbounded for the rightmost path) and every leaf of one
 * tree must sit at the same depth (BT5).  Depth counts all levels together.
 * A child already on the path (all levels) is a cycle.  Damage found here
 * is noted in the bm's damage record (bm.h BM10) with the entry of the
 * node that named the block.
 */
struct trav {
	const struct bt_info *info;
	bt_walk_fn fn;			/* bt_walk: each value */
	void *context;
	bt_node_fn node_fn;		/* bt_check: each node */
	int check;			/* bt_check: occupancy (BT2) too */
	struct bt_check_stats *st;
	uint64_t keys[BT_MAX_LEVELS];
	uint8_t *bufs[BT_MAX_DEPTH];	/* node copy per depth; children and
					   subtrees use deeper ones */
	pd_block_t path[BT_MAX_DEPTH];	/* the node at each depth */
};

/* Note damage of block b, named by entry `entry` of path[depth - 1].  No
 * check fires at depth 0, the root the caller names: it has no parent
 * range, no ancestor, no leaf seen before it, and BT2 exempts roots. */
static int trav_damage(struct trav *t, pd_block_t b, unsigned depth,
		       uint32_t entry, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int trav_damage(struct trav *t, pd_block_t b, unsigned depth,
		       uint32_t entry, const char *fmt, ...)
{
	struct pd_damage *d = bm_damage(tm_bm(t->info->tm));
	char what[160];
	unsigned seq;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	seq = d->seq;
	pd_damage_note(d, b, "block %" PRIu64 " (btree node)%s", (uint64_t)b,
		       what);
#ifdef PD_MUTANTS
	if (!depth)	/* the planted bt-check-root-occupancy: BT2 at a root */
		return -EILSEQ;
#endif
	pd_damage_from(d, seq, b, t->path[depth - 1], entry);
	return -EILSEQ;
}

struct range {
	uint64_t lo, hi;
	int has_hi;
};

static int trav_tree(struct trav *t, unsigned level, pd_block_t root,
		     unsigned depth, int child, uint32_t entry);

/* b is named by entry `entry` of path[depth - 1] when child is set. */
static int trav_node(struct trav *t, unsigned level, pd_block_t b,
		     unsigned depth, int is_root, int child, uint32_t entry,
		     const struct range *rg, int *leaf_depth)
{
	struct pd_damage *d = bm_damage(tm_bm(t->info->tm));
	const struct bt_info *info = t->info;
	uint32_t nr, vsize = bt_level_vsize(info, level);
	unsigned seq = d->seq;
	uint8_t *n;
	int r;

	if (depth >= BT_MAX_DEPTH)
		return trav_damage(t, b, depth, entry,
				   ": the tree is deeper than %d levels",
				   BT_MAX_DEPTH);
	for (unsigned i = 0; child && i < depth; i++)
		if (t->path[i] == b)
			return trav_damage(t, b, depth, entry,
					   " is its own ancestor: a cycle");
	if (!t->bufs[depth]) {
		t->bufs[depth] = pd_malloc(PD_BLOCK_SIZE);
		if (!t->bufs[depth])
			return -ENOMEM;
	}
	n = t->bufs[depth];
	r = bt_read_copy(info->tm, b, vsize, child, n);
	if (r) {
		if (child)
			pd_damage_from(d, seq, b, t->path[depth - 1], entry);
		return r;
	}
	t->path[depth] = b;
	nr = bt_node_nr(n);
	if (nr && bt_node_key(n, 0) < rg->lo)
		return trav_damage(t, b, depth, entry,
				   ": key %" PRIu64 " at 0 is below the range its parent gives",
				   bt_node_key(n, 0));
	if (nr && rg->has_hi && bt_node_key(n, nr - 1) >= rg->hi)
		return trav_damage(t, b, depth, entry,
				   ": key %" PRIu64 " at %" PRIu32 " is above the range its parent gives",
				   bt_node_key(n, nr - 1), nr - 1);
	if (t->check && (!is_root || PD_MUTANT(BT_CHECK_ROOT_OCCUPANCY)) &&
	    nr < bt_node_max(n) / 3)		/* BT2 */
		return trav_damage(t, b, depth, entry,
				   ": too few entries for a non-root node (%" PRIu32 " of %" PRIu32 ")",
				   nr, bt_node_max(n));
	if (!bt_node_is_leaf(n) && *leaf_depth >= 0 &&
	    depth >= (unsigned)*leaf_depth)
		return trav_damage(t, b, depth, entry,
				   ": an internal node at depth %u, where the tree's leaves are at depth %d",
				   depth, *leaf_depth);
	if (bt_node_is_leaf(n)) {
		if (*leaf_depth < 0)
			*leaf_depth = (int)depth;
		else if ((unsigned)*leaf_depth != depth)
			return trav_damage(t, b, depth, entry,
					   ": a leaf at depth %u, where the tree's other leaves are at depth %d",
					   depth, *leaf_depth);
	}
	if (t->node_fn) {
		r = t->node_fn(t->context, b, n, level);
		if (r < 0)
			return r;
		if (r > 0)
			return 0;		/* seen before: skip below */
	}
	if (t->st) {
		t->st->nr_nodes++;
		if (bt_node_is_leaf(n)) {
			t->st->nr_leaves++;
			if (level + 1 == info->levels)
				t->st->nr_entries += nr;
		}
		if (depth + 1 > t->st->max_depth)
			t->st->max_depth = depth + 1;
	}
	for (uint32_t i = 0; i < nr; i++) {
		if (!bt_node_is_leaf(n)) {
			struct range sub = {
				.lo = bt_node_key(n, i),
				.hi = i + 1 < nr ? bt_node_key(n, i + 1) : rg->hi,
				.has_hi = i + 1 < nr ? 1 : rg->has_hi,
			};

			r = trav_node(t, level, bt_node_value64(n, i), depth + 1,
				      0, 1, i, &sub, leaf_depth);
		} else if (level + 1 < info->levels) {
			t->keys[level] = bt_node_key(n, i);
			r = trav_tree(t, level + 1, bt_node_value64(n, i),
				      depth + 1, 1, i);
		} else if (t->fn) {
			t->keys[level] = bt_node_key(n, i);
			r = t->fn(t->context, t->keys, bt_node_cvalue(n, i));
		}
		if (r)
			return r;
	}
	return 0;
}

static int trav_tree(struct trav *t, unsigned level, pd_block_t root,
		     unsigned depth, int child, uint32_t entry)
{
	struct range rg = { 0, 0, 0 };
	int leaf_depth = -1;

	return trav_node(t, level, root, depth, 1, child, entry, &rg,
			 &leaf_depth);
}

static void trav_free(struct trav *t)
{
	for (int i = 0; i < BT_MAX_DEPTH; i++)
		pd_free(t->bufs[i]);
}

int bt_walk(const struct bt_info *info, pd_block_t root, bt_walk_fn fn,
	    void *context)
{
	struct trav *t;
	int r;

	if (!bt_info_ok(info) || !fn)
		return -EINVAL;
	t = pd_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->info = info;
	t->fn = fn;
	t->context = context;
	r = trav_tree(t, 0, root, 0, 0, 0);
	trav_free(t);
	pd_free(t);
	return r;
}

void bt_node_view(const void *node, struct bt_node_view *v)
{
	const uint8_t *n = node;

	v->leaf = bt_node_is_leaf(n);
	v->nr_entries = bt_node_nr(n);
	v->value_size = bt_node_vsize(n);
	v->values = bt_node_cvalue(n, 0);
}

int bt_check(const struct bt_info *info, pd_block_t root, bt_node_fn fn,
	     void *context, struct bt_check_stats *st)
{
	struct trav *t;
	int r;

	if (!bt_info_ok(info))
		return -EINVAL;
	t = pd_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (st)
		memset(st, 0, sizeof(*st));
	t->info = info;
	t->node_fn = fn;
	t->context = context;
	t->check = 1;
	t->st = st;
	r = trav_tree(t, 0, root, 0, 0, 0);
	trav_free(t);
	pd_free(t);
	return r;
}

/* --- cursor ------------------------------------------------------------- */

struct cursor_node {
	uint8_t *n;			/* copy of the node */
	pd_block_t b;			/* where it was read */
	uint32_t index;
	struct range rg;
};

struct bt_cursor {
	struct bt_info info;
	uint64_t from;			/* begin's key: no entry below it */
	unsigned depth;			/* nodes on the path */
	int leaf_depth;
	struct cursor_node path[BT_MAX_DEPTH];
};

/* Note damage of block b, the child the cursor's deepest node names
 * (none: the root); -EILSEQ. */
static int cursor_damage(struct bt_cursor *c, pd_block_t b, const char *what)
{
	struct pd_damage *d = bm_damage(tm_bm(c->info.tm));
	unsigned seq = d->seq;

	pd_damage_note(d, b, "block %" PRIu64 " (btree node)%s", (uint64_t)b,
		       what);
	if (c->depth)
		pd_damage_from(d, seq, b, c->path[c->depth - 1].b,
			       c->path[c->depth - 1].index);
	return -EILSEQ;
}

static int cursor_push(struct bt_cursor *c, pd_block_t b,
		       const struct range *rg)
{
	struct pd_damage *d = bm_damage(tm_bm(c->info.tm));
	unsigned seq = d->seq;
	struct cursor_node *cn;
	uint32_t nr;
	int r;

	if (c->depth >= BT_MAX_DEPTH)
		return cursor_damage(c, b, ": the tree is too deep");
	for (unsigned i = 0; i < c->depth; i++)
		if (c->path[i].b == b)
			return cursor_damage(c, b, " is its own ancestor: a cycle");
	cn = &c->path[c->depth];
	if (!cn->n) {
		cn->n = pd_malloc(PD_BLOCK_SIZE);
		if (!cn->n)
			return -ENOMEM;
	}
	r = bt_read_copy(c->info.tm, b, c->info.value_type.size, c->depth > 0,
		      cn->n);
	if (r) {
		if (c->depth)
			pd_damage_from(d, seq, b, c->path[c->depth - 1].b,
				       c->path[c->depth - 1].index);
		return r;
	}
	nr = bt_node_nr(cn->n);
	if (nr && (bt_node_key(cn->n, 0) < rg->lo ||
		   (rg->has_hi && bt_node_key(cn->n, nr - 1) >= rg->hi)))
		return cursor_damage(c, b, ": keys outside the range its parent gives");
	if (bt_node_is_leaf(cn->n)) {
		if (c->leaf_depth < 0)
			c->leaf_depth = (int)c->depth;
		else if ((unsigned)c->leaf_depth != c->depth)
			return cursor_damage(c, b, ": leaves of one tree at different depths");
	} else if (c->leaf_depth >= 0 && c->depth >= (unsigned)c->leaf_depth) {
		return cursor_damage(c, b, ": leaves of one tree at different depths");
	}
	cn->b = b;
	/* Start at the lowest key >= from: the child whose range holds it,
	 * the first leaf entry not below it.  A node pushed after the first
	 * path lies right of it, its keys above from (BT1 and the range
	 * check above), so both bounds give slot 0 there. */
	if (bt_node_is_leaf(cn->n)) {
		cn->index = (uint32_t)bt_node_upper_bound(cn->n, c->from);
	} else {
		int i = bt_node_lower_bound(cn->n, c->from);

		cn->index = i < 0 ? 0 : (uint32_t)i;
	}
	cn->rg = *rg;
	c->depth++;
	return 0;
}

/* Step to the next slot at the deepest node that has one; -ENODATA at
 * the end. */
static int cursor_advance(struct bt_cursor *c)
{
	while (c->depth) {
		struct cursor_node *cn = &c->path[c->depth - 1];

		if (++cn->index < bt_node_nr(cn->n))
			return 0;
		c->depth--;
	}
	return -ENODATA;
}

/* From the current slot, descend to the leftmost leaf entry below it,
 * skipping empty leaves. */
static int cursor_find_leaf(struct bt_cursor *c)
{
	for (;;) {
		struct cursor_node *cn = &c->path[c->depth - 1];
		uint32_t nr = bt_node_nr(cn->n), i = cn->index;
		int r;

		if (bt_node_is_leaf(cn->n)) {
			if (i < nr)
				return 0;
			r = cursor_advance(c);
			if (r)
				return r;
			continue;
		}
		{
			struct range sub = {
				.lo = bt_node_key(cn->n, i),
				.hi = i + 1 < nr ? bt_node_key(cn->n, i + 1) :
						   cn->rg.hi,
				.has_hi = i + 1 < nr ? 1 : cn->rg.has_hi,
			};

			r = cursor_push(c, bt_node_value64(cn->n, i), &sub);
			if (r)
				return r;
		}
	}
}

int bt_cursor_begin(const struct bt_info *info, pd_block_t root,
		    uint64_t from, struct bt_cursor **result)
{
	struct range rg = { 0, 0, 0 };
	struct bt_cursor *c;
	int r;

	if (!bt_info_ok(info) || info->levels != 1)
		return -EINVAL;
	c = pd_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->info = *info;
	c->from = from;
	c->leaf_depth = -1;
	r = cursor_push(c, root, &rg);
	if (!r)
		r = cursor_find_leaf(c);
	if (r) {
		bt_cursor_end(c);
		return r;
	}
	*result = c;
	return 0;
}

int bt_cursor_next(struct bt_cursor *c)
{
	int r;

	if (!c->depth)
		return -ENODATA;
	r = cursor_advance(c);
	if (!r)
		r = cursor_find_leaf(c);
	if (r)
		c->depth = 0;			/* at the end, or broken */
	return r;
}

int bt_cursor_get(struct bt_cursor *c, uint64_t *key, void *value)
{
	struct cursor_node *cn;

	if (!c->depth)
		return -ENODATA;
	cn = &c->path[c->depth - 1];
	*key = bt_node_key(cn->n, cn->index);
	memcpy(value, bt_node_cvalue(cn->n, cn->index), c->info.value_type.size);
	return 0;
}

void bt_cursor_end(struct bt_cursor *c)
{
	if (!c)
		return;
	for (int i = 0; i < BT_MAX_DEPTH; i++)
		pd_free(c->path[i].n);
	pd_free(c);
}
