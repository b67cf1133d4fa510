/* core/bt.c - copy-on-write btrees in the dm-btree format (see bt.h for the
 * contract, bt_internal.h for the node layout): lookup, insert and
 * whole-tree delete.  The validator, node helpers, value types and the
 * shadow spine are in bt_spine.c; walk, check and cursor in bt_walk.c;
 * removal in bt_remove.c.
 *
 * Design notes:
 *  - Mutations descend once from the root, shadowing every node on the way
 *    (tm_shadow_block, TM1) and holding at most two write locks (the
 *    shadow spine).  Insert makes room before it needs it: a full node met
 *    on the way down is split or relieved into a sibling, so the leaf and
 *    its parent always have a free slot when the key arrives (kernel
 *    dm-btree.c behaviour, including the sibling thresholds).
 *  - bt_del (like walk, cursor and bt_check) copies each node out of the
 *    cache and drops the lock at once, so callbacks may do anything and
 *    deep multi-level trees never pin more than one cache block.
 *  - Damaged metadata (BT5): every node read goes through the validator
 *    (checksum, block number, header, key order BT1) and a shape check
 *    (value size and max_entries for its level, BT3); descents are bounded
 *    by BT_MAX_DEPTH; readers check that child keys lie in the range the
 *    parent gives them and that all leaves sit at one depth, which also
 *    makes a node reachable twice in one tree an error, so the work is
 *    linear in the size of the tree whatever the damage.
 */
#include <inttypes.h>
#include <string.h>

#include "bt.h"
#include "bt_internal.h"
#include "errors.h"
#include "mutant.h"
#include "util.h"

/* Move entries into a sibling only if it has at least this many free
 * slots (kernel SPACE_THRESHOLD). */
#define SPACE_THRESHOLD 8u

/* --- empty tree --------------------------------------------------------- */

/* vsize is a level's value size of an info bt_info_ok accepted (both
 * callers check it first), so a node of it holds at least 3 entries. */
static int new_empty_leaf(struct transaction_manager *tm, uint32_t vsize,
			  pd_block_t *root)
{
	struct bm_block *blk;
	int r;

	r = bt_new_node(tm, &blk);
	if (r)
		return r;
	bt_node_init(bm_block_data(blk), BT_LEAF_NODE, vsize);
	*root = bm_block_location(blk);
	tm_unlock(tm, blk);
	return 0;
}

int bt_empty(const struct bt_info *info, pd_block_t *root)
{
	if (!bt_info_ok(info))
		return -EINVAL;
	return new_empty_leaf(info->tm, bt_level_vsize(info, 0), root);
}

/* --- lookups ------------------------------------------------------------ */

/*
 * Descend one tree of level `level` towards key.  On return *blk holds the
 * read-locked leaf and *index its lower_bound for key (-1 if none); if
 * next is not NULL, *next is the root of the subtree just right of the
 * path at the deepest level that has one, and *has_next says if there is.
 */
static int descend(const struct bt_info *info, unsigned level, pd_block_t b,
		   uint64_t key, struct bm_block **blk, int *index,
		   pd_block_t *next, int *has_next)
{
	struct transaction_manager *tm = info->tm;
	uint32_t vsize = bt_level_vsize(info, level);
	unsigned depth = 0;
	int r, child = level > 0;

	if (next)
		*has_next = 0;
	for (;;) {
		const uint8_t *n;
		int i;

		/* planted: no bound, a cycle spins */
		if (++depth > BT_MAX_DEPTH && !PD_MUTANT(LOOKUP_NO_DEPTH_LIMIT)) {
			pd_damage_note(bm_damage(tm_bm(tm)), b, "block %" PRIu64 " (btree node): the tree is deeper than %d levels",
				       (uint64_t)b, BT_MAX_DEPTH);
			return -EILSEQ;
		}
		if (child && !bt_child_in_range(tm, b))
			return -EILSEQ;
		r = bt_read_node(tm, b, vsize, blk);
		if (r)
			return child ? bt_child_err(r) : r;
		n = bm_block_cdata(*blk);
		i = bt_node_lower_bound(n, key);
		if (bt_node_is_leaf(n)) {
			*index = i;
			return 0;
		}
		if (i < 0)
			i = 0;
		if (next && (uint32_t)i + 1 < bt_node_nr(n)) {
			*next = bt_node_value64(n, (uint32_t)i + 1);
			*has_next = 1;
		}
		b = bt_node_value64(n, (uint32_t)i);
		tm_unlock(tm, *blk);
		child = 1;
	}
}

/* Exact lookup in the tree of `level`; value gets the level's value size. */
static int lookup_level(const struct bt_info *info, unsigned level,
			pd_block_t root, uint64_t key, void *value)
{
	struct bm_block *blk;
	const uint8_t *n;
	int i, r;

	r = descend(info, level, root, key, &blk, &i, NULL, NULL);
	if (r)
		return r;
	n = bm_block_cdata(blk);
	if (i < 0 || bt_node_key(n, (uint32_t)i) != key) {
		r = -ENODATA;
	} else {
		memcpy(value, bt_node_cvalue(n, (uint32_t)i), bt_node_vsize(n));
		r = 0;
	}
	tm_unlock(info->tm, blk);
	return r;
}

/* Follow keys[0..levels-2] to the root of the bottom tree. */
static int bottom_root(const struct bt_info *info, pd_block_t root,
		       const uint64_t *keys, pd_block_t *result)
{
	uint8_t v[8];

	for (unsigned level = 0; level + 1 < info->levels; level++) {
		int r = lookup_level(info, level, root, keys[level], v);

		if (r)
			return r;
		root = le64_get(v);
		if (!bt_block_in_range(info->tm, root))
			return -EILSEQ;
	}
	*result = root;
	return 0;
}

int bt_lookup(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, void *value)
{
	int r;

	if (!bt_info_ok(info))
		return -EINVAL;
	r = bottom_root(info, root, keys, &root);
	if (r)
		return r;
	return lookup_level(info, info->levels - 1, root,
			    keys[info->levels - 1], value);
}

/* Lowest or highest key (and value) below b in the tree of `level`; b is
 * that tree's root if is_root (else an empty node there is damage), named
 * by a node if child. */
static int find_edge(const struct bt_info *info, unsigned level,
		     pd_block_t b, int highest, int is_root, int child,
		     uint64_t *rkey, void *value)
{
	struct transaction_manager *tm = info->tm;
	uint32_t vsize = bt_level_vsize(info, level);

	for (unsigned depth = 1; ; depth++) {
		struct bm_block *blk;
		const uint8_t *n;
		uint32_t nr, i;
		int r;

		if (depth > BT_MAX_DEPTH)
			return -EILSEQ;
		if (child && !bt_child_in_range(tm, b))
			return -EILSEQ;
		r = bt_read_node(tm, b, vsize, &blk);
		if (r)
			return child ? bt_child_err(r) : r;
		n = bm_block_cdata(blk);
		nr = bt_node_nr(n);
		if (!nr) {
			tm_unlock(tm, blk);
			return is_root && depth == 1 ? -ENODATA : -EILSEQ;
		}
		i = highest ? nr - 1 : 0;
		if (bt_node_is_leaf(n)) {
			*rkey = bt_node_key(n, i);
			if (value)
				memcpy(value, bt_node_cvalue(n, i), vsize);
			tm_unlock(tm, blk);
			return 0;
		}
		b = bt_node_value64(n, i);
		tm_unlock(tm, blk);
		child = 1;
	}
}

int bt_lookup_next(const struct bt_info *info, pd_block_t root,
		   const uint64_t *keys, uint64_t *rkey, void *value)
{
	unsigned last;
	struct bm_block *blk;
	pd_block_t next;
	const uint8_t *n;
	uint64_t key;
	int i, r, has_next;

	if (!bt_info_ok(info))
		return -EINVAL;
	last = info->levels - 1;
	key = keys[last];
	r = bottom_root(info, root, keys, &root);
	if (r)
		return r;
	r = descend(info, last, root, key, &blk, &i, &next, &has_next);
	if (r)
		return r;
	n = bm_block_cdata(blk);
	if (i < 0 || bt_node_key(n, (uint32_t)i) != key)
		i++;
	if ((uint32_t)i < bt_node_nr(n)) {
		*rkey = bt_node_key(n, (uint32_t)i);
		memcpy(value, bt_node_cvalue(n, (uint32_t)i), bt_node_vsize(n));
		tm_unlock(info->tm, blk);
		return 0;
	}
	tm_unlock(info->tm, blk);
	if (!has_next)
		return -ENODATA;
	/* Everything in the subtree right of the path is above key. */
	return find_edge(info, last, next, 0, 0, 1, rkey, value);
}

static int find_key(const struct bt_info *info, pd_block_t root,
		    const uint64_t *keys, int highest, uint64_t *rkey)
{
	int r;

	if (!bt_info_ok(info))
		return -EINVAL;
	r = bottom_root(info, root, keys, &root);
	if (r)
		return r;
	return find_edge(info, info->levels - 1, root, highest, 1,
			 info->levels > 1, rkey, NULL);
}

int bt_find_lowest_key(const struct bt_info *info, pd_block_t root,
		       const uint64_t *keys, uint64_t *rkey)
{
	return find_key(info, root, keys, 0, rkey);
}

int bt_find_highest_key(const struct bt_info *info, pd_block_t root,
			const uint64_t *keys, uint64_t *rkey)
{
	return find_key(info, root, keys, 1, rkey);
}

/* --- insert: making room ------------------------------------------------ */

/*
 * The full root gets two new children holding its entries and becomes an
 * internal node with two entries; it keeps its block, so the pointer to it
 * (the caller's root, or an upper level's leaf value) stays valid.
 */
static int split_beneath(struct shadow_spine *s)
{
	struct bm_block *lb, *rb;
	uint8_t *pn = bm_block_data(bt_spine_current(s)), *ln, *rn;
	uint32_t nr = bt_node_nr(pn), nr_left = nr / 2, vsize = bt_node_vsize(pn);
	uint32_t targets[2] = { nr_left, nr - nr_left };
	uint8_t *nodes[3];
	int r;

	r = bt_new_node(s->tm, &lb);
	if (r)
		return r;
	ln = bm_block_data(lb);
	/* Initialise the left node before anything else can fail: unlocking
	 * it dirties it (the Linux fix "dm btree: fix order of block
	 * initialization in btree_split_beneath"); planted: not yet. */
	if (!PD_MUTANT(SPLIT_BENEATH_UNINIT_LEFT))
		bt_node_init(ln, bt_node_flags(pn), vsize);
	r = bt_new_node(s->tm, &rb);
	if (r) {
		tm_unlock(s->tm, lb);
		return r;
	}
	rn = bm_block_data(rb);
	bt_node_init(ln, bt_node_flags(pn), vsize);
	bt_node_init(rn, bt_node_flags(pn), vsize);
	/* pn's entries go to ln, then half of them on to rn */
	nodes[0] = pn;
	nodes[1] = ln;
	{
		uint32_t t[2] = { 0, nr };

		bt_node_redistribute(nodes, 2, t);
	}
	nodes[0] = ln;
	nodes[1] = rn;
	bt_node_redistribute(nodes, 2, targets);

	bt_node_init(pn, BT_INTERNAL_NODE, 8);
	bt_node_set_key(pn, 0, bt_node_key(ln, 0));
	le64_put(bt_node_value(pn, 0), bm_block_location(lb));
	bt_node_set_key(pn, 1, bt_node_key(rn, 0));
	le64_put(bt_node_value(pn, 1), bm_block_location(rb));
	bt_node_set_nr(pn, 2);
	tm_unlock(s->tm, lb);
	tm_unlock(s->tm, rb);
	return 0;
}

/* Make `keep` the current node of the spine and unlock `drop`. */
static void spine_switch(struct shadow_spine *s, struct bm_block *keep,
			 struct bm_block *drop)
{
	if (drop)
		tm_unlock(s->tm, drop);
	s->nodes[s->count - 1] = keep;
}

static void targets2(uint32_t total, uint32_t *t)
{
	t[0] = total / 2;
	t[1] = total - t[0];
}

/* Share the current node's entries with its left sibling. */
static int rebalance_left(struct shadow_spine *s,
			  const struct bt_value_type *vt, uint32_t leaf_vsize,
			  uint32_t pi, uint64_t key)
{
	uint8_t *parent = bm_block_data(bt_spine_parent(s)), *nodes[2];
	struct bm_block *sib, *cur = bt_spine_current(s);
	uint32_t t[2];
	int r;

	r = bt_shadow_child(s, parent, pi - 1, vt, leaf_vsize, &sib);
	if (r)
		return r;
	nodes[0] = bm_block_data(sib);
	nodes[1] = bm_block_data(cur);
	targets2(bt_node_nr(nodes[0]) + bt_node_nr(nodes[1]), t);
	bt_node_redistribute(nodes, 2, t);
	bt_node_set_key(parent, pi, bt_node_key(nodes[1], 0));
	if (key < bt_node_key(nodes[1], 0))
		spine_switch(s, sib, cur);
	else
		tm_unlock(s->tm, sib);
	return 0;
}

/* Share the current node's entries with its right sibling. */
static int rebalance_right(struct shadow_spine *s,
			   const struct bt_value_type *vt, uint32_t leaf_vsize,
			   uint32_t pi, uint64_t key)
{
	uint8_t *parent = bm_block_data(bt_spine_parent(s)), *nodes[2];
	struct bm_block *sib, *cur = bt_spine_current(s);
	uint32_t t[2];
	int r;

	r = bt_shadow_child(s, parent, pi + 1, vt, leaf_vsize, &sib);
	if (r)
		return r;
	nodes[0] = bm_block_data(cur);
	nodes[1] = bm_block_data(sib);
	targets2(bt_node_nr(nodes[0]) + bt_node_nr(nodes[1]), t);
	bt_node_redistribute(nodes, 2, t);
	bt_node_set_key(parent, pi + 1, bt_node_key(nodes[1], 0));
	if (key < bt_node_key(nodes[1], 0))
		tm_unlock(s->tm, sib);
	else
		spine_switch(s, sib, cur);
	return 0;
}

static int split_one_into_two(struct shadow_spine *s, uint32_t pi,
			      uint64_t key)
{
	uint8_t *parent = bm_block_data(bt_spine_parent(s)), *nodes[2], loc[8];
	struct bm_block *cur = bt_spine_current(s), *rb;
	uint32_t t[2];
	int r;

	r = bt_new_node(s->tm, &rb);
	if (r)
		return r;
	nodes[0] = bm_block_data(cur);
	nodes[1] = bm_block_data(rb);
	bt_node_init(nodes[1], bt_node_flags(nodes[0]), bt_node_vsize(nodes[0]));
	targets2(bt_node_nr(nodes[0]), t);
	bt_node_redistribute(nodes, 2, t);
	le64_put(loc, bm_block_location(rb));
	bt_node_insert_at(parent, pi + 1, bt_node_key(nodes[1], 0), loc);
	if (key < bt_node_key(nodes[1], 0))
		tm_unlock(s->tm, rb);
	else
		spine_switch(s, rb, cur);
	return 0;
}

/*
 * The current node (full) and its full left sibling become three.  Only
 * rebalance_or_split calls this, with 0 < pi < nr_parent - 1 (a node at
 * either edge is split one into two), so the sibling is always the left
 * one and the current node the right one of the pair.
 */
static int split_two_into_three(struct shadow_spine *s,
				const struct bt_value_type *vt,
				uint32_t leaf_vsize, uint32_t pi, uint64_t key)
{
	uint8_t *parent = bm_block_data(bt_spine_parent(s)), *nodes[3], loc[8];
	struct bm_block *rb = bt_spine_current(s), *lb, *mb, *keep;
	uint32_t total, t[3];
	int r;

	r = bt_shadow_child(s, parent, pi - 1, vt, leaf_vsize, &lb);
	if (r)
		return r;
	r = bt_new_node(s->tm, &mb);
	if (r) {
		tm_unlock(s->tm, lb);
		return r;
	}
	nodes[0] = bm_block_data(lb);
	nodes[1] = bm_block_data(mb);
	nodes[2] = bm_block_data(rb);
	bt_node_init(nodes[1], bt_node_flags(nodes[0]), bt_node_vsize(nodes[0]));
	total = bt_node_nr(nodes[0]) + bt_node_nr(nodes[2]);
	t[0] = total / 3;
	t[1] = (total - t[0]) / 2;
	t[2] = total - t[0] - t[1];
	bt_node_redistribute(nodes, 3, t);

	bt_node_set_key(parent, pi, bt_node_key(nodes[2], 0));
	le64_put(loc, bm_block_location(mb));
	bt_node_insert_at(parent, pi, bt_node_key(nodes[1], 0), loc);
	if (key < bt_node_key(nodes[1], 0))
		keep = lb;
	else if (key < bt_node_key(nodes[2], 0))
		keep = mb;
	else
		keep = rb;
	if (lb != keep)
		tm_unlock(s->tm, lb);
	if (mb != keep)
		tm_unlock(s->tm, mb);
	spine_switch(s, keep, keep == rb ? NULL : rb);
	return 0;
}

/* Free slots of node b (a sibling named by the parent, which
 * sibling_shared found inside the device). */
static int node_free_space(struct shadow_spine *s, pd_block_t b,
			   uint32_t leaf_vsize, uint32_t *space)
{
	struct bm_block *blk;
	const uint8_t *n;
	int r;

	if (bt_spine_seen(s, b))
		return -EILSEQ;
	r = bt_read_node(s->tm, b, leaf_vsize, &blk);
	if (r)
		return bt_child_err(r);
	n = bm_block_cdata(blk);
	*space = bt_node_max(n) - bt_node_nr(n);
	tm_unlock(s->tm, blk);
	return 0;
}

static int sibling_shared(struct shadow_spine *s, pd_block_t b, int *shared)
{
	if (!bt_block_in_range(s->tm, b))
		return -EILSEQ;
	return bt_child_err(tm_block_is_shared(s->tm, b, shared));
}

/*
 * The current (non-root) node is full: move entries into an unshared
 * sibling with room, else split it.  Shared siblings are left alone, since
 * touching them would break the sharing and cost more than it saves.
 */
static int rebalance_or_split(struct shadow_spine *s,
			      const struct bt_value_type *vt,
			      uint32_t leaf_vsize, uint32_t pi, uint64_t key)
{
	const uint8_t *parent = bm_block_cdata(bt_spine_parent(s));
	uint32_t nr_parent = bt_node_nr(parent), space;
	int left_shared = 0, right_shared = 0, r;

	if (pi > 0) {
		pd_block_t lb = bt_node_value64(parent, pi - 1);

		r = sibling_shared(s, lb, &left_shared);
		if (r)
			return r;
		if (!left_shared) {
			r = node_free_space(s, lb, leaf_vsize, &space);
			if (r)
				return r;
			if (space >= SPACE_THRESHOLD)
				return rebalance_left(s, vt, leaf_vsize, pi,
						      key);
		}
	}
	if (pi + 1 < nr_parent) {
		pd_block_t rb = bt_node_value64(parent, pi + 1);

		r = sibling_shared(s, rb, &right_shared);
		if (r)
			return r;
		if (!right_shared) {
			r = node_free_space(s, rb, leaf_vsize, &space);
			if (r)
				return r;
			if (space >= SPACE_THRESHOLD)
				return rebalance_right(s, vt, leaf_vsize, pi,
						       key);
		}
	}
	/* Two into three packs nodes fuller, but at the edges (sequential
	 * inserts) or next to shared siblings one into two is better. */
	if (left_shared || right_shared || nr_parent <= 2 || pi == 0 ||
	    pi + 1 == nr_parent)
		return split_one_into_two(s, pi, key);
	return split_two_into_three(s, vt, leaf_vsize, pi, key);
}

static int has_space_for_insert(const uint8_t *n, uint64_t key)
{
	int i;

	if (bt_node_nr(n) < bt_node_max(n))
		return 1;
	if (!bt_node_is_leaf(n))
		return 0;
	i = bt_node_lower_bound(n, key);	/* an overwrite needs no room */
	return i >= 0 && bt_node_key(n, (uint32_t)i) == key;
}

/*
 * Descend one level's tree from root towards key, shadowing and making
 * room.  *index is on entry the parent's slot pointing at root (-1: no
 * parent), on return the slot of key in the leaf: its index if present,
 * else where it goes.  The spine bounds the descent (BT5: a path of more
 * than BT_MAX_DEPTH nodes over all levels is -EILSEQ), and i is a slot
 * of the parent whenever the spine has one: -1 only on the first step of
 * level 0.
 */
static int insert_raw(struct shadow_spine *s, pd_block_t root,
		      const struct bt_value_type *vt, uint32_t leaf_vsize,
		      uint64_t key, int *index)
{
	int i = *index, top = 1, r;
	uint8_t *n;

	for (;;) {
		r = bt_spine_step(s, root, vt, leaf_vsize);
		if (r)
			return r;
		if (bt_spine_parent(s))
			le64_put(bt_node_value(bm_block_data(bt_spine_parent(s)),
					    (uint32_t)i),
				 bm_block_location(bt_spine_current(s)));
		n = bm_block_data(bt_spine_current(s));
		if (!has_space_for_insert(n, key)) {
			if (top)
				r = split_beneath(s);
			else
				r = rebalance_or_split(s, vt, leaf_vsize,
						       (uint32_t)i, key);
			if (r)
				return r;
			n = bm_block_data(bt_spine_current(s));
		}
		i = bt_node_lower_bound(n, key);
		if (bt_node_is_leaf(n))
			break;
		if (i < 0) {
			bt_node_set_key(n, 0, key);	/* new lowest key */
			i = 0;
		}
		root = bt_node_value64(n, (uint32_t)i);
		top = 0;
	}
	if (i < 0 || bt_node_key(n, (uint32_t)i) != key)
		i++;
	*index = i;
	return 0;
}

static int need_insert(const uint8_t *n, uint64_t key, int index)
{
	return (uint32_t)index >= bt_node_nr(n) ||
	       bt_node_key(n, (uint32_t)index) != key;
}

static int values_equal(const struct bt_value_type *vt, const void *a,
			const void *b)
{
	if (vt->equal)
		return vt->equal(vt->context, a, b);
	return !memcmp(a, b, vt->size);
}

int bt_insert(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, const void *value, pd_block_t *new_root,
	      int *inserted)
{
	const struct bt_value_type *bvt = &info->value_type;
	struct shadow_spine s;
	struct bt_value_type vt;
	unsigned level, last;
	pd_block_t block = root;
	int index = -1, r;
	uint8_t *n;

	if (!bt_info_ok(info))
		return -EINVAL;
	last = info->levels - 1;
	bt_spine_init(&s, info);
	for (level = 0; level < last; level++) {
		bt_level_type(info, level, &vt);
		r = insert_raw(&s, block, &vt, 8, keys[level], &index);
		if (r)
			goto out_exit_spine;
		n = bm_block_data(bt_spine_current(&s));
		if (need_insert(n, keys[level], index)) {
			pd_block_t sub;
			uint8_t v[8];

			r = new_empty_leaf(info->tm,
					   bt_level_vsize(info, level + 1),
					   &sub);
			if (r)
				goto out_exit_spine;
			le64_put(v, sub);
			bt_node_insert_at(n, (uint32_t)index, keys[level], v);
		}
		block = bt_node_value64(n, (uint32_t)index);
	}

	r = insert_raw(&s, block, bvt, bvt->size, keys[last], &index);
	if (r)
		goto out_exit_spine;
	n = bm_block_data(bt_spine_current(&s));
	if (need_insert(n, keys[last], index)) {
		bt_node_insert_at(n, (uint32_t)index, keys[last], value);
		if (inserted)
			*inserted = 1;
	} else {
		uint8_t *old = bt_node_value(n, (uint32_t)index);

		/* BT4: the old value loses the reference the tree held */
		if (bvt->dec && !values_equal(bvt, old, value)) {
			r = bvt->dec(bvt->context, old, 1);
			if (r)
				goto out_exit_spine;
		}
		memcpy(old, value, bvt->size);
		if (inserted)
			*inserted = 0;
	}
	*new_root = s.root;
	bt_spine_exit(&s);
	return 0;

out_exit_spine:
	bt_spine_exit(&s);
	tm_set_failed(info->tm);
	return r;
}

/* --- whole-tree delete -------------------------------------------------- */

/*
 * Iterative, with an explicit stack bounded by BT_MAX_DEPTH (all levels
 * together).  A node referenced elsewhere is only dec'd: its children stay
 * with the other referrer (BT4).  Nodes are copied out, so no lock is held
 * while value_type.dec runs (it may delete nested trees itself).
 */
struct del_frame {
	pd_block_t b;
	uint8_t *n;			/* copy of the node */
	unsigned level;			/* level of its tree */
	uint32_t cur;			/* next entry to visit */
};

struct del_stack {
	const struct bt_info *info;
	int top;			/* frames in use */
	struct del_frame f[BT_MAX_DEPTH];
	uint8_t *bufs[BT_MAX_DEPTH];	/* node buffer per depth, lazily */
};

static int del_push(struct del_stack *s, pd_block_t b, unsigned level,
		    int child)
{
	struct transaction_manager *tm = s->info->tm;
	struct del_frame *f;
	uint32_t count;
	int r;

	if (s->top >= BT_MAX_DEPTH)
		return -EILSEQ;
	if (!bt_block_in_range(tm, b))
		return child ? -EILSEQ : -EINVAL;
	for (int i = 0; i < s->top; i++)
		if (s->f[i].b == b)
			return -EILSEQ;		/* a cycle */
	r = tm_ref(tm, b, &count);
	if (r)
		return r;
	if (count == 0)
		return -EILSEQ;			/* referenced but free */
	if (count > 1)
		return tm_dec(tm, b);
	if (!s->bufs[s->top]) {
		s->bufs[s->top] = pd_malloc(PD_BLOCK_SIZE);
		if (!s->bufs[s->top])
			return -ENOMEM;
	}
	f = &s->f[s->top];
	r = bt_read_copy(tm, b, bt_level_vsize(s->info, level), child,
		      s->bufs[s->top]);
	if (r)
		return r;
	f->b = b;
	f->n = s->bufs[s->top];
	f->level = level;
	f->cur = 0;
	s->top++;
	return 0;
}

static int del_run(struct del_stack *s, pd_block_t root)
{
	const struct bt_info *info = s->info;
	int r = del_push(s, root, 0, 0);

	while (!r && s->top) {
		struct del_frame *f = &s->f[s->top - 1];
		uint32_t nr = bt_node_nr(f->n);

		if (f->cur < nr && !bt_node_is_leaf(f->n)) {
			r = del_push(s, bt_node_value64(f->n, f->cur++),
				     f->level, 1);
		} else if (f->cur < nr && f->level + 1 < info->levels) {
			r = del_push(s, bt_node_value64(f->n, f->cur++),
				     f->level + 1, 1);
		} else {
			const struct bt_value_type *vt = &info->value_type;

			/* a leaf with entries gets here only at the
			 * bottom level (an upper level's went down the arm
			 * above), so its values are of info's type */
			if (bt_node_is_leaf(f->n) && f->cur == 0 && nr &&
			    vt->dec) {
				r = vt->dec(vt->context, bt_node_cvalue(f->n, 0),
					    nr);
				if (r)
					break;
			}
			r = tm_dec(info->tm, f->b);
			s->top--;
		}
	}
	return r;
}

int bt_del(const struct bt_info *info, pd_block_t root)
{
	struct del_stack *s;
	int r;

	if (!bt_info_ok(info))
		return -EINVAL;
	s = pd_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->info = info;
	r = del_run(s, root);
	for (int i = 0; i < BT_MAX_DEPTH; i++)
		pd_free(s->bufs[i]);
	pd_free(s);
	if (r)
		tm_set_failed(info->tm);
	return r;
}
