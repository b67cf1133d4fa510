/* core/bt_remove.c - removing keys from copy-on-write btrees (bt.h).
 *
 * Removal keeps BT2 (every non-root node holds at least max_entries / 3
 * entries) without ever walking back up: on the way down, before stepping
 * into a child, the child is rebalanced with its siblings so that it can
 * lose one entry.  With two siblings (an edge child):
 *     merge them if together they hold fewer than 2 * (max/3 + 1),
 *     else share the entries evenly;
 * with three (child in the middle):
 *     if together they hold fewer than 4 * (max/3) + 1, the centre node
 *     goes: its entries spread into the two others (which merge if they
 *     then fit the two-sibling rule),
 *     else the entries are spread over the three (left gets the remainder).
 * A node left with a single child absorbs it (this is how the tree loses
 * height).  These are the kernel's thresholds (dm-btree-remove.c); as
 * there, the siblings are shadowed on every descent.
 *
 * Removing an absent key changes nothing (bt.h): bt_remove looks the key
 * up first, since the descent above shadows and rebalances before it
 * knows whether the key is there.  bt_remove_range removes one key at a
 * time, each found with bt_lookup_next.  The key it asks from only goes
 * up: a damaged tree whose lookup_next answers a key below it is -EILSEQ,
 * so the loop ends after at most one round per key in the tree (BT5) and
 * never removes a key outside the range.
 */
#include <string.h>

#include "bt.h"
#include "bt_internal.h"
#include "errors.h"
#include "mutant.h"
#include "util.h"

/* A child of the current node, shadowed for rebalancing. */
struct child {
	uint32_t index;			/* slot in the parent */
	struct bm_block *blk;
	uint8_t *n;
};

static int init_children(struct shadow_spine *s, uint8_t *parent,
			 uint32_t first, unsigned count,
			 const struct bt_value_type *vt, uint32_t leaf_vsize,
			 struct child *c)
{
	for (unsigned j = 0; j < count; j++) {
		int r = bt_shadow_child(s, parent, first + j, vt, leaf_vsize,
					&c[j].blk);

		if (r) {
			while (j--)
				tm_unlock(s->tm, c[j].blk);
			return r;
		}
		c[j].index = first + j;
		c[j].n = bm_block_data(c[j].blk);
	}
	/* siblings of one parent are all leaves or all internal; mixing
	 * them would mix value sizes */
	for (unsigned j = 1; j < count; j++)
		if (bt_node_flags(c[j].n) != bt_node_flags(c[0].n)) {
			for (j = 0; j < count; j++)
				tm_unlock(s->tm, c[j].blk);
			return -EILSEQ;
		}
	return 0;
}

static void exit_children(struct shadow_spine *s, struct child *c,
			  unsigned count)
{
	for (unsigned j = 0; j < count; j++)
		tm_unlock(s->tm, c[j].blk);
}

/* Drop child c from parent: the node goes, its entries live on in a
 * sibling, so only the node's own count drops (its children keep theirs). */
static int drop_child(struct shadow_spine *s, uint8_t *parent,
		      const struct child *c)
{
	bt_node_delete_at(parent, c->index);
	return tm_dec(s->tm, bm_block_location(c->blk));
}

static int rebalance2(struct shadow_spine *s, const struct bt_value_type *vt,
		      uint32_t leaf_vsize, uint32_t left_index)
{
	uint8_t *parent = bm_block_data(bt_spine_current(s)), *nodes[2];
	struct child c[2];
	uint32_t total, threshold, t[2];
	int r;

	r = init_children(s, parent, left_index, 2, vt, leaf_vsize, c);
	if (r)
		return r;
	nodes[0] = c[0].n;
	nodes[1] = c[1].n;
	total = bt_node_nr(c[0].n) + bt_node_nr(c[1].n);
	threshold = 2 * (bt_node_max(c[0].n) / 3 + 1);
	if (PD_MUTANT(REBALANCE2_OLD_THRESHOLD))
		threshold = bt_node_max(c[0].n) / 3;	/* planted */
	if (total < threshold) {
		t[0] = total;
		t[1] = 0;
		bt_node_redistribute(nodes, 2, t);
		r = drop_child(s, parent, &c[1]);
	} else {
		t[0] = total / 2;
		t[1] = total - t[0];
		bt_node_redistribute(nodes, 2, t);
		bt_node_set_key(parent, c[1].index, bt_node_key(c[1].n, 0));
	}
	exit_children(s, c, 2);
	return r;
}

static int rebalance3(struct shadow_spine *s, const struct bt_value_type *vt,
		      uint32_t leaf_vsize, uint32_t left_index)
{
	uint8_t *parent = bm_block_data(bt_spine_current(s)), *nodes[3];
	struct child c[3];
	uint32_t total, max, t[3];
	int r;

	r = init_children(s, parent, left_index, 3, vt, leaf_vsize, c);
	if (r)
		return r;
	for (int j = 0; j < 3; j++)
		nodes[j] = c[j].n;
	total = bt_node_nr(c[0].n) + bt_node_nr(c[1].n) + bt_node_nr(c[2].n);
	max = bt_node_max(c[0].n);
	if (total < (max / 3) * 4 + 1) {
		/* the centre goes; left and right merge if they fit */
		if (total < 2 * (max / 3 + 1)) {
			t[0] = total;
			t[1] = t[2] = 0;
			bt_node_redistribute(nodes, 3, t);
			r = drop_child(s, parent, &c[2]);
		} else {
			t[0] = total / 2;
			t[1] = 0;
			t[2] = total - t[0];
			bt_node_redistribute(nodes, 3, t);
			bt_node_set_key(parent, c[2].index, bt_node_key(c[2].n, 0));
		}
		if (!r)
			r = drop_child(s, parent, &c[1]);
	} else {
		t[2] = total / 3;
		t[0] = t[2] + (t[2] * 3 != total);
		t[1] = total - t[0] - t[2];
		bt_node_redistribute(nodes, 3, t);
		bt_node_set_key(parent, c[1].index, bt_node_key(c[1].n, 0));
		bt_node_set_key(parent, c[2].index, bt_node_key(c[2].n, 0));
	}
	exit_children(s, c, 3);
	return r;
}

/* The current node has a single child: take over its contents.  If the
 * child is shared, what it references gains a referrer (BT4). */
static int absorb_child(struct shadow_spine *s, const struct bt_value_type *vt,
			uint32_t leaf_vsize)
{
	uint8_t *n = bm_block_data(bt_spine_current(s));
	pd_block_t b = bt_node_value64(n, 0);
	struct bm_block *child;
	uint32_t count;
	int r;

	if (b >= bm_nr_blocks(tm_bm(s->tm)) || bt_spine_seen(s, b))
		return -EILSEQ;
	r = tm_ref(s->tm, b, &count);
	if (r)
		return bt_child_err(r);
	r = bt_read_node(s->tm, b, leaf_vsize, &child);
	if (r)
		return bt_child_err(r);
	memcpy(n, bm_block_cdata(child), PD_BLOCK_SIZE);
	tm_unlock(s->tm, child);
	if (count > 1 && !PD_MUTANT(ABSORB_SHARED_NO_INC)) {
		r = bt_inc_children(s->tm, n, vt);
		if (r)
			return r;
	}
	return tm_dec(s->tm, b);
}

static int rebalance_children(struct shadow_spine *s,
			      const struct bt_value_type *vt,
			      uint32_t leaf_vsize, uint64_t key)
{
	const uint8_t *n = bm_block_cdata(bt_spine_current(s));
	uint32_t nr = bt_node_nr(n);
	int i;

	if (nr == 1)
		return absorb_child(s, vt, leaf_vsize);
	i = bt_node_lower_bound(n, key);
	if (i < 0)
		return -ENODATA;
	if (i == 0)
		return rebalance2(s, vt, leaf_vsize, 0);
	if ((uint32_t)i == nr - 1)
		return rebalance2(s, vt, leaf_vsize, (uint32_t)i - 1);
	return rebalance3(s, vt, leaf_vsize, (uint32_t)i - 1);
}

static int do_leaf(const uint8_t *n, uint64_t key, int *index)
{
	int i = bt_node_lower_bound(n, key);

	if (i < 0 || bt_node_key(n, (uint32_t)i) != key)
		return -ENODATA;
	*index = i;
	return 0;
}

/*
 * Descend one level's tree from root to the leaf holding key, shadowing
 * and rebalancing on the way.  *index: on entry the parent's slot naming
 * root (-1: none), on return the key's slot in the leaf.  As in
 * insert_raw, the spine bounds the descent (BT5) and i is a slot of the
 * parent whenever the spine has one.
 */
static int remove_raw(struct shadow_spine *s, const struct bt_value_type *vt,
		      uint32_t leaf_vsize, pd_block_t root, uint64_t key,
		      int *index)
{
	int i = *index, r;
	const uint8_t *n;

	for (;;) {
		r = bt_spine_step(s, root, vt, leaf_vsize);
		if (r)
			return r;
		if (bt_spine_parent(s))
			le64_put(bt_node_value(bm_block_data(bt_spine_parent(s)),
					    (uint32_t)i),
				 bm_block_location(bt_spine_current(s)));
		n = bm_block_cdata(bt_spine_current(s));
		if (bt_node_is_leaf(n))
			return do_leaf(n, key, index);
		r = rebalance_children(s, vt, leaf_vsize, key);
		if (r)
			return r;
		n = bm_block_cdata(bt_spine_current(s));
		if (bt_node_is_leaf(n))
			return do_leaf(n, key, index);
		i = bt_node_lower_bound(n, key);
		if (i < 0)
			return -ENODATA;
		root = bt_node_value64(n, (uint32_t)i);
	}
}

/* Remove keys (present: the caller looked). */
static int remove_present(const struct bt_info *info, pd_block_t root,
			  const uint64_t *keys, pd_block_t *new_root)
{
	unsigned last = info->levels - 1;
	struct shadow_spine s;
	struct bt_value_type vt;
	int index = -1, r = 0;
	uint8_t *n;

	bt_spine_init(&s, info);
	for (unsigned level = 0; level <= last; level++) {
		bt_level_type(info, level, &vt);
		r = remove_raw(&s, &vt, bt_level_vsize(info, level), root,
			       keys[level], &index);
		if (r)
			goto out_exit_spine;
		n = bm_block_data(bt_spine_current(&s));
		if (level < last) {
			root = bt_node_value64(n, (uint32_t)index);
			continue;
		}
		if (vt.dec) {
			r = vt.dec(vt.context, bt_node_cvalue(n, (uint32_t)index),
				   1);
			if (r)
				goto out_exit_spine;
		}
		bt_node_delete_at(n, (uint32_t)index);
	}
	*new_root = s.root;
out_exit_spine:
	if (r && PD_MUTANT(REMOVE_ROOT_DESPITE_FAILURE))
		*new_root = s.root;	/* planted: a half-done spine's root */
	bt_spine_exit(&s);
	if (r == -ENODATA)
		r = -EILSEQ;	/* lookup found it, the descent did not */
	if (r)
		tm_set_failed(info->tm);
	return r;
}

int bt_remove(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, pd_block_t *new_root)
{
	uint8_t value[PD_BLOCK_SIZE];
	int r;

	r = bt_lookup(info, root, keys, value);
	if (r == -ENODATA)
		*new_root = root;
	if (r)
		return r;
	return remove_present(info, root, keys, new_root);
}

int bt_remove_range(const struct bt_info *info, pd_block_t root,
		    const uint64_t *keys, uint64_t end_key,
		    pd_block_t *new_root, uint64_t *nr_removed)
{
	uint8_t value[PD_BLOCK_SIZE];
	uint64_t k[BT_MAX_LEVELS], found;
	unsigned last;
	int r = 0;

	*nr_removed = 0;
	*new_root = root;
	if (!bt_info_ok(info))
		return -EINVAL;
	last = info->levels - 1;
	memcpy(k, keys, info->levels * sizeof(k[0]));
	while (k[last] < end_key) {
		r = bt_lookup_next(info, root, k, &found, value);
		if (r == -ENODATA) {
			r = 0;
			break;
		}
		if (r || found >= end_key)
			break;
		if (found < k[last]) {
			r = -EILSEQ;	/* keys out of order: never go back */
			break;
		}
		k[last] = found;
		r = remove_present(info, root, k, &root);
		if (r)
			break;
		(*nr_removed)++;
		*new_root = root;
		k[last] = found + 1;	/* found < end_key: no wrap */
	}
	return r;
}
