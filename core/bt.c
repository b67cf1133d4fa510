/* core/bt.c - copy-on-write btrees in the dm-btree format (see bt.h for the
 * contract, bt_internal.h for the node layout): the validator, node
 * helpers, the shadow spine, lookup, insert, whole-tree delete, walk,
 * cursor, the subtree value type and the structural checker.  Removal
 * lives in bt_remove.c.
 *
 * Design notes:
 *  - Mutations descend once from the root, shadowing every node on the way
 *    (tm_shadow_block, TM1) and holding at most two write locks (the
 *    shadow spine).  Insert makes room before it needs it: a full node met
 *    on the way down is split or relieved into a sibling, so the leaf and
 *    its parent always have a free slot when the key arrives (kernel
 *    dm-btree.c behaviour, including the sibling thresholds).
 *  - Walk, cursor, bt_check and bt_del copy each node out of the cache
 *    and drop the lock at once, so callbacks may do anything and
 *    deep multi-level trees never pin more than one cache block.
 *  - Damaged metadata (BT5): every node read goes through the validator
 *    (checksum, block number, header, key order BT1) and a shape check
 *    (value size and max_entries for its level, BT3); descents are bounded
 *    by BT_MAX_DEPTH; readers check that child keys lie in the range the
 *    parent gives them and that all leaves sit at one depth, which also
 *    makes a node reachable twice in one tree an error, so the work is
 *    linear in the size of the tree whatever the damage.
 */
#include <string.h>

#include "bt.h"
#include "bt_internal.h"
#include "errors.h"
#include "util.h"

/* Move entries into a sibling only if it has at least this many free
 * slots (kernel SPACE_THRESHOLD). */
#define SPACE_THRESHOLD 8u

/* --- validator ---------------------------------------------------------- */

static void node_prepare_for_write(const struct bm_validator *v,
				   struct bm_block *b, size_t block_size)
{
	uint8_t *n = bm_block_data(b);

	(void)v;
	le64_put(n + NODE_OFF_BLOCKNR, bm_block_location(b));
	le32_put(n + NODE_OFF_CSUM,
		 pd_block_csum(n + 4, block_size - 4, BT_CSUM_XOR));
}

static int node_check(const struct bm_validator *v, struct bm_block *b,
		      size_t block_size)
{
	const uint8_t *n = bm_block_cdata(b);
	uint32_t nr, max, vsize, flags;

	(void)v;
	if (block_size != PD_BLOCK_SIZE)
		return -EILSEQ;
	if (le64_get(n + NODE_OFF_BLOCKNR) != bm_block_location(b))
		return -ENOTBLK;
	if (le32_get(n + NODE_OFF_CSUM) !=
	    pd_block_csum(n + 4, block_size - 4, BT_CSUM_XOR))
		return -EILSEQ;
	nr = node_nr(n);
	max = node_max(n);
	vsize = node_vsize(n);
	flags = node_flags(n);
	if ((uint64_t)BT_NODE_HEADER_SIZE + (8ull + vsize) * max > block_size)
		return -EILSEQ;
	if (nr > max)
		return -EILSEQ;
	if (flags != BT_INTERNAL_NODE && flags != BT_LEAF_NODE)
		return -EILSEQ;
	for (uint32_t i = 1; i < nr; i++)	/* BT1 */
		if (node_key(n, i - 1) >= node_key(n, i))
			return -EILSEQ;
	return 0;
}

const struct bm_validator bt_node_validator = {
	.name = "btree_node",
	.prepare_for_write = node_prepare_for_write,
	.check = node_check,
};

/* --- node helpers ------------------------------------------------------- */

void node_init(uint8_t *n, uint32_t flags, uint32_t value_size)
{
	memset(n, 0, PD_BLOCK_SIZE);
	le32_put(n + NODE_OFF_FLAGS, flags);
	le32_put(n + NODE_OFF_NR, 0);
	le32_put(n + NODE_OFF_MAX, bt_max_entries(value_size));
	le32_put(n + NODE_OFF_VSIZE, value_size);
}

int node_lower_bound(const uint8_t *n, uint64_t key)
{
	int lo = -1, hi = (int)node_nr(n);

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;
		uint64_t k = node_key(n, (uint32_t)mid);

		if (k == key)
			return mid;
		if (k < key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int node_upper_bound(const uint8_t *n, uint64_t key)
{
	int i = node_lower_bound(n, key);

	if (i >= 0 && node_key(n, (uint32_t)i) == key)
		return i;
	return i + 1;
}

int node_insert_at(uint8_t *n, uint32_t i, uint64_t key, const void *value)
{
	uint32_t nr = node_nr(n), vsize = node_vsize(n);
	uint8_t *keys = n + BT_NODE_HEADER_SIZE;

	if (nr >= node_max(n) || i > nr)
		return -EILSEQ;
	memmove(keys + 8u * (i + 1), keys + 8u * i, 8u * (nr - i));
	memmove(node_value(n, i + 1), node_value(n, i),
		(size_t)vsize * (nr - i));
	node_set_key(n, i, key);
	memcpy(node_value(n, i), value, vsize);
	node_set_nr(n, nr + 1);
	return 0;
}

void node_delete_at(uint8_t *n, uint32_t i)
{
	uint32_t nr = node_nr(n), vsize = node_vsize(n);
	uint8_t *keys = n + BT_NODE_HEADER_SIZE;

	if (i >= nr)
		return;
	memmove(keys + 8u * i, keys + 8u * (i + 1), 8u * (nr - i - 1));
	memmove(node_value(n, i), node_value(n, i + 1),
		(size_t)vsize * (nr - i - 1));
	node_set_nr(n, nr - 1);
}

void node_redistribute(uint8_t **nodes, unsigned count,
		       const uint32_t *targets)
{
	enum { AREA = PD_BLOCK_SIZE - BT_NODE_HEADER_SIZE };
	uint8_t keys[3 * AREA], vals[3 * AREA];
	uint32_t vsize = node_vsize(nodes[0]);
	size_t nk = 0, nv = 0;

	if (count > 3)
		return;
	for (unsigned j = 0; j < count; j++) {
		uint32_t nr = node_nr(nodes[j]);

		memcpy(keys + nk, nodes[j] + BT_NODE_HEADER_SIZE, 8u * nr);
		memcpy(vals + nv, node_value(nodes[j], 0), (size_t)vsize * nr);
		nk += 8u * nr;
		nv += (size_t)vsize * nr;
	}
	nk = nv = 0;
	for (unsigned j = 0; j < count; j++) {
		uint32_t t = targets[j];

		memcpy(nodes[j] + BT_NODE_HEADER_SIZE, keys + nk, 8u * t);
		memcpy(node_value(nodes[j], 0), vals + nv, (size_t)vsize * t);
		node_set_nr(nodes[j], t);
		nk += 8u * t;
		nv += (size_t)vsize * t;
	}
}

/* BT3: the value size and max_entries a node must have at its level. */
int node_check_shape(const uint8_t *n, uint32_t leaf_vsize)
{
	if (node_is_leaf(n)) {
		if (node_vsize(n) != leaf_vsize ||
		    node_max(n) != bt_max_entries(leaf_vsize))
			return -EILSEQ;
		return 0;
	}
	if (node_vsize(n) != 8 || node_max(n) != bt_max_entries(8) ||
	    node_nr(n) == 0)
		return -EILSEQ;
	return 0;
}

/* --- value types -------------------------------------------------------- */

/* Apply fn to runs of consecutive block numbers among count __le64s. */
static int with_runs(struct transaction_manager *tm, const void *values,
		     unsigned count,
		     int (*fn)(struct transaction_manager *, pd_block_t,
			       pd_block_t))
{
	const uint8_t *v = values;
	unsigned i = 0;

	while (i < count) {
		pd_block_t b = le64_get(v + 8u * i), e = b + 1;
		int r;

		for (i++; i < count && le64_get(v + 8u * i) == e; i++)
			e++;
		r = fn(tm, b, e);
		if (r)
			return r;
	}
	return 0;
}

static int le64_inc(void *context, const void *values, unsigned count)
{
	return with_runs(context, values, count, tm_inc_range);
}

static int le64_dec(void *context, const void *values, unsigned count)
{
	return with_runs(context, values, count, tm_dec_range);
}

static int le64_equal(void *context, const void *value1, const void *value2)
{
	(void)context;
	return le64_get(value1) == le64_get(value2);
}

void bt_level_type(const struct bt_info *info, unsigned level,
		   struct bt_value_type *vt)
{
	if (level + 1 < info->levels) {
		vt->context = info->tm;
		vt->size = 8;
		vt->inc = le64_inc;
		vt->dec = le64_dec;
		vt->equal = le64_equal;
	} else {
		*vt = info->value_type;
	}
}

int bt_inc_children(struct transaction_manager *tm, const uint8_t *n,
		    const struct bt_value_type *vt)
{
	uint32_t nr = node_nr(n);

	if (!node_is_leaf(n))
		return with_runs(tm, node_cvalue(n, 0), nr, tm_inc_range);
	if (vt->inc && nr)
		return vt->inc(vt->context, node_cvalue(n, 0), nr);
	return 0;
}

/* --- locking nodes ------------------------------------------------------ */

static int block_in_range(struct transaction_manager *tm, pd_block_t b)
{
	return b < bm_nr_blocks(tm_bm(tm));
}

int bt_read_node(struct transaction_manager *tm, pd_block_t b,
		 uint32_t leaf_vsize, struct bm_block **result)
{
	int r = tm_read_lock(tm, b, &bt_node_validator, result);

	if (r)
		return r;
	r = node_check_shape(bm_block_cdata(*result), leaf_vsize);
	if (r) {
		tm_unlock(tm, *result);
		return r;
	}
	return 0;
}

/* Copy node b into buf (PD_BLOCK_SIZE bytes); b was named by a node
 * (child) or by the caller (root). */
static int read_copy(struct transaction_manager *tm, pd_block_t b,
		     uint32_t leaf_vsize, int child, uint8_t *buf)
{
	struct bm_block *blk;
	int r;

	if (child && !block_in_range(tm, b))
		return -EILSEQ;
	r = bt_read_node(tm, b, leaf_vsize, &blk);
	if (r)
		return child ? bt_child_err(r) : r;
	memcpy(buf, bm_block_cdata(blk), PD_BLOCK_SIZE);
	tm_unlock(tm, blk);
	return 0;
}

int bt_new_node(struct transaction_manager *tm, struct bm_block **result)
{
	return tm_new_block(tm, &bt_node_validator, result);
}

/* --- the shadow spine --------------------------------------------------- */

void spine_init(struct shadow_spine *s, const struct bt_info *info)
{
	s->info = info;
	s->tm = info->tm;
	s->count = 0;
	s->root = 0;
	s->nr_path = 0;
}

void spine_exit(struct shadow_spine *s)
{
	for (unsigned i = 0; i < s->count; i++)
		tm_unlock(s->tm, s->nodes[i]);
	s->count = 0;
}

int spine_seen(const struct shadow_spine *s, pd_block_t b)
{
	for (unsigned i = 0; i < s->nr_path; i++)
		if (s->path[i] == b)
			return 1;
	return 0;
}

/* Shadow b, check its shape, inc its children if it was shared (TM2,
 * BT4): the copy and the original both reference them now. */
static int shadow_node(struct shadow_spine *s, pd_block_t b,
		       const struct bt_value_type *vt, uint32_t leaf_vsize,
		       struct bm_block **result)
{
	struct bm_block *blk;
	int inc, r;

	if (!block_in_range(s->tm, b) || spine_seen(s, b))
		return -EILSEQ;
	r = tm_shadow_block(s->tm, b, &bt_node_validator, &blk, &inc);
	if (r)
		return bt_child_err(r);
	r = node_check_shape(bm_block_cdata(blk), leaf_vsize);
	if (!r && inc)
		r = bt_inc_children(s->tm, bm_block_cdata(blk), vt);
	if (r) {
		tm_unlock(s->tm, blk);
		return r;
	}
	*result = blk;
	return 0;
}

int spine_step(struct shadow_spine *s, pd_block_t b,
	       const struct bt_value_type *vt, uint32_t leaf_vsize)
{
	struct bm_block *blk;
	int r;

	if (s->nr_path + 2 > BT_SPINE_PATH)
		return -EILSEQ;			/* BT5: too deep */
	r = shadow_node(s, b, vt, leaf_vsize, &blk);
	if (r)
		return r;
	if (s->count == 2) {
		tm_unlock(s->tm, s->nodes[0]);
		s->nodes[0] = s->nodes[1];
		s->count = 1;
	}
	if (!s->nr_path)
		s->root = bm_block_location(blk);
	s->path[s->nr_path++] = b;
	s->path[s->nr_path++] = bm_block_location(blk);
	s->nodes[s->count++] = blk;
	return 0;
}

int bt_shadow_child(struct shadow_spine *s, uint8_t *parent, uint32_t i,
		    const struct bt_value_type *vt, uint32_t leaf_vsize,
		    struct bm_block **result)
{
	int r = shadow_node(s, node_value64(parent, i), vt, leaf_vsize, result);

	if (r)
		return r;
	le64_put(node_value(parent, i), bm_block_location(*result));
	return 0;
}

/* --- empty tree --------------------------------------------------------- */

static int new_empty_leaf(struct transaction_manager *tm, uint32_t vsize,
			  pd_block_t *root)
{
	struct bm_block *blk;
	int r;

	if (bt_max_entries(vsize) < 3)
		return -EINVAL;
	r = bt_new_node(tm, &blk);
	if (r)
		return r;
	node_init(bm_block_data(blk), BT_LEAF_NODE, vsize);
	*root = bm_block_location(blk);
	tm_unlock(tm, blk);
	return 0;
}

static int info_ok(const struct bt_info *info)
{
	return info && info->tm && info->levels >= 1 &&
	       info->levels <= BT_MAX_LEVELS &&
	       bt_max_entries(info->value_type.size) >= 3;
}

int bt_empty(const struct bt_info *info, pd_block_t *root)
{
	if (!info_ok(info))
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

		if (++depth > BT_MAX_DEPTH)
			return -EILSEQ;
		if (child && !block_in_range(tm, b))
			return -EILSEQ;
		r = bt_read_node(tm, b, vsize, blk);
		if (r)
			return child ? bt_child_err(r) : r;
		n = bm_block_cdata(*blk);
		i = node_lower_bound(n, key);
		if (node_is_leaf(n)) {
			*index = i;
			return 0;
		}
		if (i < 0)
			i = 0;
		if (next && (uint32_t)i + 1 < node_nr(n)) {
			*next = node_value64(n, (uint32_t)i + 1);
			*has_next = 1;
		}
		b = node_value64(n, (uint32_t)i);
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
	if (i < 0 || node_key(n, (uint32_t)i) != key) {
		r = -ENODATA;
	} else {
		memcpy(value, node_cvalue(n, (uint32_t)i), node_vsize(n));
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
		if (!block_in_range(info->tm, root))
			return -EILSEQ;
	}
	*result = root;
	return 0;
}

int bt_lookup(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, void *value)
{
	int r;

	if (!info_ok(info))
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
		if (child && !block_in_range(tm, b))
			return -EILSEQ;
		r = bt_read_node(tm, b, vsize, &blk);
		if (r)
			return child ? bt_child_err(r) : r;
		n = bm_block_cdata(blk);
		nr = node_nr(n);
		if (!nr) {
			tm_unlock(tm, blk);
			return is_root && depth == 1 ? -ENODATA : -EILSEQ;
		}
		i = highest ? nr - 1 : 0;
		if (node_is_leaf(n)) {
			*rkey = node_key(n, i);
			if (value)
				memcpy(value, node_cvalue(n, i), vsize);
			tm_unlock(tm, blk);
			return 0;
		}
		b = node_value64(n, i);
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

	if (!info_ok(info))
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
	if (i < 0 || node_key(n, (uint32_t)i) != key)
		i++;
	if ((uint32_t)i < node_nr(n)) {
		*rkey = node_key(n, (uint32_t)i);
		memcpy(value, node_cvalue(n, (uint32_t)i), node_vsize(n));
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

	if (!info_ok(info))
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
	uint8_t *pn = bm_block_data(spine_current(s)), *ln, *rn;
	uint32_t nr = node_nr(pn), nr_left = nr / 2, vsize = node_vsize(pn);
	uint32_t targets[2] = { nr_left, nr - nr_left };
	uint8_t *nodes[3];
	int r;

	r = bt_new_node(s->tm, &lb);
	if (r)
		return r;
	r = bt_new_node(s->tm, &rb);
	if (r) {
		tm_unlock(s->tm, lb);
		return r;
	}
	ln = bm_block_data(lb);
	rn = bm_block_data(rb);
	node_init(ln, node_flags(pn), vsize);
	node_init(rn, node_flags(pn), vsize);
	/* pn's entries go to ln, then half of them on to rn */
	nodes[0] = pn;
	nodes[1] = ln;
	{
		uint32_t t[2] = { 0, nr };

		node_redistribute(nodes, 2, t);
	}
	nodes[0] = ln;
	nodes[1] = rn;
	node_redistribute(nodes, 2, targets);

	node_init(pn, BT_INTERNAL_NODE, 8);
	node_set_key(pn, 0, node_key(ln, 0));
	le64_put(node_value(pn, 0), bm_block_location(lb));
	node_set_key(pn, 1, node_key(rn, 0));
	le64_put(node_value(pn, 1), bm_block_location(rb));
	node_set_nr(pn, 2);
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
	uint8_t *parent = bm_block_data(spine_parent(s)), *nodes[2];
	struct bm_block *sib, *cur = spine_current(s);
	uint32_t t[2];
	int r;

	r = bt_shadow_child(s, parent, pi - 1, vt, leaf_vsize, &sib);
	if (r)
		return r;
	nodes[0] = bm_block_data(sib);
	nodes[1] = bm_block_data(cur);
	targets2(node_nr(nodes[0]) + node_nr(nodes[1]), t);
	node_redistribute(nodes, 2, t);
	node_set_key(parent, pi, node_key(nodes[1], 0));
	if (key < node_key(nodes[1], 0))
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
	uint8_t *parent = bm_block_data(spine_parent(s)), *nodes[2];
	struct bm_block *sib, *cur = spine_current(s);
	uint32_t t[2];
	int r;

	r = bt_shadow_child(s, parent, pi + 1, vt, leaf_vsize, &sib);
	if (r)
		return r;
	nodes[0] = bm_block_data(cur);
	nodes[1] = bm_block_data(sib);
	targets2(node_nr(nodes[0]) + node_nr(nodes[1]), t);
	node_redistribute(nodes, 2, t);
	node_set_key(parent, pi + 1, node_key(nodes[1], 0));
	if (key < node_key(nodes[1], 0))
		tm_unlock(s->tm, sib);
	else
		spine_switch(s, sib, cur);
	return 0;
}

static int split_one_into_two(struct shadow_spine *s, uint32_t pi,
			      uint64_t key)
{
	uint8_t *parent = bm_block_data(spine_parent(s)), *nodes[2], loc[8];
	struct bm_block *cur = spine_current(s), *rb;
	uint32_t t[2];
	int r;

	r = bt_new_node(s->tm, &rb);
	if (r)
		return r;
	nodes[0] = bm_block_data(cur);
	nodes[1] = bm_block_data(rb);
	node_init(nodes[1], node_flags(nodes[0]), node_vsize(nodes[0]));
	targets2(node_nr(nodes[0]), t);
	node_redistribute(nodes, 2, t);
	le64_put(loc, bm_block_location(rb));
	r = node_insert_at(parent, pi + 1, node_key(nodes[1], 0), loc);
	if (r) {
		tm_unlock(s->tm, rb);
		return r;
	}
	if (key < node_key(nodes[1], 0))
		tm_unlock(s->tm, rb);
	else
		spine_switch(s, rb, cur);
	return 0;
}

static int split_two_into_three(struct shadow_spine *s,
				const struct bt_value_type *vt,
				uint32_t leaf_vsize, uint32_t pi, uint64_t key)
{
	uint8_t *parent = bm_block_data(spine_parent(s)), *nodes[3], loc[8];
	struct bm_block *cur = spine_current(s), *lb, *mb, *rb, *keep;
	uint32_t middle_index, total, t[3];
	int r;

	if (pi == 0) {
		middle_index = 1;
		lb = cur;
		r = bt_shadow_child(s, parent, pi + 1, vt, leaf_vsize, &rb);
	} else {
		middle_index = pi;
		rb = cur;
		r = bt_shadow_child(s, parent, pi - 1, vt, leaf_vsize, &lb);
	}
	if (r)
		return r;
	r = bt_new_node(s->tm, &mb);
	if (r)
		goto out_unlock_sibling;
	nodes[0] = bm_block_data(lb);
	nodes[1] = bm_block_data(mb);
	nodes[2] = bm_block_data(rb);
	node_init(nodes[1], node_flags(nodes[0]), node_vsize(nodes[0]));
	total = node_nr(nodes[0]) + node_nr(nodes[2]);
	t[0] = total / 3;
	t[1] = (total - t[0]) / 2;
	t[2] = total - t[0] - t[1];
	node_redistribute(nodes, 3, t);

	node_set_key(parent, middle_index, node_key(nodes[2], 0));
	le64_put(loc, bm_block_location(mb));
	r = node_insert_at(parent, middle_index, node_key(nodes[1], 0), loc);
	if (r) {
		tm_unlock(s->tm, mb);
		goto out_unlock_sibling;
	}
	if (key < node_key(nodes[1], 0))
		keep = lb;
	else if (key < node_key(nodes[2], 0))
		keep = mb;
	else
		keep = rb;
	if (lb != keep && lb != cur)
		tm_unlock(s->tm, lb);
	if (mb != keep)
		tm_unlock(s->tm, mb);
	if (rb != keep && rb != cur)
		tm_unlock(s->tm, rb);
	spine_switch(s, keep, keep == cur ? NULL : cur);
	return 0;

out_unlock_sibling:
	tm_unlock(s->tm, pi == 0 ? rb : lb);
	return r;
}

/* Free slots of node b (a sibling named by the parent). */
static int node_free_space(struct shadow_spine *s, pd_block_t b,
			   uint32_t leaf_vsize, uint32_t *space)
{
	struct bm_block *blk;
	const uint8_t *n;
	int r;

	if (!block_in_range(s->tm, b) || spine_seen(s, b))
		return -EILSEQ;
	r = bt_read_node(s->tm, b, leaf_vsize, &blk);
	if (r)
		return bt_child_err(r);
	n = bm_block_cdata(blk);
	*space = node_max(n) - node_nr(n);
	tm_unlock(s->tm, blk);
	return 0;
}

static int sibling_shared(struct shadow_spine *s, pd_block_t b, int *shared)
{
	if (!block_in_range(s->tm, b))
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
	const uint8_t *parent = bm_block_cdata(spine_parent(s));
	uint32_t nr_parent = node_nr(parent), space;
	int left_shared = 0, right_shared = 0, r;

	if (pi > 0) {
		pd_block_t lb = node_value64(parent, pi - 1);

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
		pd_block_t rb = node_value64(parent, pi + 1);

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

	if (node_nr(n) < node_max(n))
		return 1;
	if (!node_is_leaf(n))
		return 0;
	i = node_lower_bound(n, key);	/* an overwrite needs no room */
	return i >= 0 && node_key(n, (uint32_t)i) == key;
}

/*
 * Descend one level's tree from root towards key, shadowing and making
 * room.  *index is on entry the parent's slot pointing at root (-1: no
 * parent), on return the slot of key in the leaf: its index if present,
 * else where it goes.
 */
static int insert_raw(struct shadow_spine *s, pd_block_t root,
		      const struct bt_value_type *vt, uint32_t leaf_vsize,
		      uint64_t key, int *index)
{
	int i = *index, top = 1, r;
	unsigned depth = 0;
	uint8_t *n;

	for (;;) {
		if (++depth > BT_MAX_DEPTH)
			return -EILSEQ;
		r = spine_step(s, root, vt, leaf_vsize);
		if (r)
			return r;
		if (spine_parent(s) && i >= 0)
			le64_put(node_value(bm_block_data(spine_parent(s)),
					    (uint32_t)i),
				 bm_block_location(spine_current(s)));
		n = bm_block_data(spine_current(s));
		if (!has_space_for_insert(n, key)) {
			if (top)
				r = split_beneath(s);
			else
				r = rebalance_or_split(s, vt, leaf_vsize,
						       (uint32_t)i, key);
			if (r)
				return r;
			n = bm_block_data(spine_current(s));
		}
		i = node_lower_bound(n, key);
		if (node_is_leaf(n))
			break;
		if (i < 0) {
			node_set_key(n, 0, key);	/* new lowest key */
			i = 0;
		}
		root = node_value64(n, (uint32_t)i);
		top = 0;
	}
	if (i < 0 || node_key(n, (uint32_t)i) != key)
		i++;
	*index = i;
	return 0;
}

static int need_insert(const uint8_t *n, uint64_t key, int index)
{
	return (uint32_t)index >= node_nr(n) ||
	       node_key(n, (uint32_t)index) != key;
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

	if (!info_ok(info))
		return -EINVAL;
	last = info->levels - 1;
	spine_init(&s, info);
	for (level = 0; level < last; level++) {
		bt_level_type(info, level, &vt);
		r = insert_raw(&s, block, &vt, 8, keys[level], &index);
		if (r)
			goto out_exit_spine;
		n = bm_block_data(spine_current(&s));
		if (need_insert(n, keys[level], index)) {
			pd_block_t sub;
			uint8_t v[8];

			r = new_empty_leaf(info->tm,
					   bt_level_vsize(info, level + 1),
					   &sub);
			if (r)
				goto out_exit_spine;
			le64_put(v, sub);
			r = node_insert_at(n, (uint32_t)index, keys[level], v);
			if (r)
				goto out_exit_spine;
		}
		block = node_value64(n, (uint32_t)index);
	}

	r = insert_raw(&s, block, bvt, bvt->size, keys[last], &index);
	if (r)
		goto out_exit_spine;
	n = bm_block_data(spine_current(&s));
	if (need_insert(n, keys[last], index)) {
		r = node_insert_at(n, (uint32_t)index, keys[last], value);
		if (r)
			goto out_exit_spine;
		if (inserted)
			*inserted = 1;
	} else {
		uint8_t *old = node_value(n, (uint32_t)index);

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
	spine_exit(&s);
	return 0;

out_exit_spine:
	spine_exit(&s);
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
	if (!block_in_range(tm, b))
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
	r = read_copy(tm, b, bt_level_vsize(s->info, level), child,
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
		uint32_t nr = node_nr(f->n);

		if (f->cur < nr && !node_is_leaf(f->n)) {
			r = del_push(s, node_value64(f->n, f->cur++),
				     f->level, 1);
		} else if (f->cur < nr && f->level + 1 < info->levels) {
			r = del_push(s, node_value64(f->n, f->cur++),
				     f->level + 1, 1);
		} else {
			const struct bt_value_type *vt = &info->value_type;

			if (node_is_leaf(f->n) && f->cur == 0 && nr &&
			    f->level + 1 == info->levels && vt->dec) {
				r = vt->dec(vt->context, node_cvalue(f->n, 0),
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

	if (!info_ok(info))
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

/* --- walk and check ----------------------------------------------------- */

/*
 * One recursive traversal serves bt_walk and bt_check.  Each node is
 * copied into the buffer of its depth; its keys must lie in [lo, hi) given
 * by the parent (hi unbounded for the rightmost path) and every leaf of one
 * tree must sit at the same depth (BT5).  Depth counts all levels together.
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
};

struct range {
	uint64_t lo, hi;
	int has_hi;
};

static int trav_tree(struct trav *t, unsigned level, pd_block_t root,
		     unsigned depth, int child);

static int trav_node(struct trav *t, unsigned level, pd_block_t b,
		     unsigned depth, int is_root, int child,
		     const struct range *rg, int *leaf_depth)
{
	const struct bt_info *info = t->info;
	uint32_t nr, vsize = bt_level_vsize(info, level);
	uint8_t *n;
	int r;

	if (depth >= BT_MAX_DEPTH)
		return -EILSEQ;
	if (!t->bufs[depth]) {
		t->bufs[depth] = pd_malloc(PD_BLOCK_SIZE);
		if (!t->bufs[depth])
			return -ENOMEM;
	}
	n = t->bufs[depth];
	r = read_copy(info->tm, b, vsize, child, n);
	if (r)
		return r;
	nr = node_nr(n);
	if (nr && (node_key(n, 0) < rg->lo ||
		   (rg->has_hi && node_key(n, nr - 1) >= rg->hi)))
		return -EILSEQ;
	if (t->check && !is_root && nr < node_max(n) / 3)
		return -EILSEQ;			/* BT2 */
	if (!node_is_leaf(n) && *leaf_depth >= 0 &&
	    depth >= (unsigned)*leaf_depth)
		return -EILSEQ;
	if (node_is_leaf(n)) {
		if (*leaf_depth < 0)
			*leaf_depth = (int)depth;
		else if ((unsigned)*leaf_depth != depth)
			return -EILSEQ;
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
		if (node_is_leaf(n)) {
			t->st->nr_leaves++;
			if (level + 1 == info->levels)
				t->st->nr_entries += nr;
		}
		if (depth + 1 > t->st->max_depth)
			t->st->max_depth = depth + 1;
	}
	for (uint32_t i = 0; i < nr; i++) {
		if (!node_is_leaf(n)) {
			struct range sub = {
				.lo = node_key(n, i),
				.hi = i + 1 < nr ? node_key(n, i + 1) : rg->hi,
				.has_hi = i + 1 < nr ? 1 : rg->has_hi,
			};

			r = trav_node(t, level, node_value64(n, i), depth + 1,
				      0, 1, &sub, leaf_depth);
		} else if (level + 1 < info->levels) {
			t->keys[level] = node_key(n, i);
			r = trav_tree(t, level + 1, node_value64(n, i),
				      depth + 1, 1);
		} else if (t->fn) {
			t->keys[level] = node_key(n, i);
			r = t->fn(t->context, t->keys, node_cvalue(n, i));
		}
		if (r)
			return r;
	}
	return 0;
}

static int trav_tree(struct trav *t, unsigned level, pd_block_t root,
		     unsigned depth, int child)
{
	struct range rg = { 0, 0, 0 };
	int leaf_depth = -1;

	return trav_node(t, level, root, depth, 1, child, &rg, &leaf_depth);
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

	if (!info_ok(info) || !fn)
		return -EINVAL;
	t = pd_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->info = info;
	t->fn = fn;
	t->context = context;
	r = trav_tree(t, 0, root, 0, 0);
	trav_free(t);
	pd_free(t);
	return r;
}

int bt_check(const struct bt_info *info, pd_block_t root, bt_node_fn fn,
	     void *context, struct bt_check_stats *st)
{
	struct trav *t;
	int r;

	if (!info_ok(info))
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
	r = trav_tree(t, 0, root, 0, 0);
	trav_free(t);
	pd_free(t);
	return r;
}

/* --- cursor ------------------------------------------------------------- */

struct cursor_node {
	uint8_t *n;			/* copy of the node */
	uint32_t index;
	struct range rg;
};

struct bt_cursor {
	struct bt_info info;
	unsigned depth;			/* nodes on the path */
	int leaf_depth;
	struct cursor_node path[BT_MAX_DEPTH];
};

static int cursor_push(struct bt_cursor *c, pd_block_t b,
		       const struct range *rg)
{
	struct cursor_node *cn;
	uint32_t nr;
	int r;

	if (c->depth >= BT_MAX_DEPTH)
		return -EILSEQ;
	cn = &c->path[c->depth];
	if (!cn->n) {
		cn->n = pd_malloc(PD_BLOCK_SIZE);
		if (!cn->n)
			return -ENOMEM;
	}
	r = read_copy(c->info.tm, b, c->info.value_type.size, c->depth > 0,
		      cn->n);
	if (r)
		return r;
	nr = node_nr(cn->n);
	if (nr && (node_key(cn->n, 0) < rg->lo ||
		   (rg->has_hi && node_key(cn->n, nr - 1) >= rg->hi)))
		return -EILSEQ;
	if (node_is_leaf(cn->n)) {
		if (c->leaf_depth < 0)
			c->leaf_depth = (int)c->depth;
		else if ((unsigned)c->leaf_depth != c->depth)
			return -EILSEQ;
	} else if (c->leaf_depth >= 0 && c->depth >= (unsigned)c->leaf_depth) {
		return -EILSEQ;
	}
	cn->index = 0;
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

		if (++cn->index < node_nr(cn->n))
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
		uint32_t nr = node_nr(cn->n), i = cn->index;
		int r;

		if (node_is_leaf(cn->n)) {
			if (i < nr)
				return 0;
			r = cursor_advance(c);
			if (r)
				return r;
			continue;
		}
		{
			struct range sub = {
				.lo = node_key(cn->n, i),
				.hi = i + 1 < nr ? node_key(cn->n, i + 1) :
						   cn->rg.hi,
				.has_hi = i + 1 < nr ? 1 : cn->rg.has_hi,
			};

			r = cursor_push(c, node_value64(cn->n, i), &sub);
			if (r)
				return r;
		}
	}
}

int bt_cursor_begin(const struct bt_info *info, pd_block_t root,
		    struct bt_cursor **result)
{
	struct range rg = { 0, 0, 0 };
	struct bt_cursor *c;
	int r;

	if (!info_ok(info) || info->levels != 1)
		return -EINVAL;
	c = pd_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->info = *info;
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
	*key = node_key(cn->n, cn->index);
	memcpy(value, node_cvalue(cn->n, cn->index), c->info.value_type.size);
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

/* --- subtree value type ------------------------------------------------- */

int bt_subtree_inc(void *context, const void *values, unsigned count)
{
	struct bt_subtree_ctx *ctx = context;

	return with_runs(ctx->sub.tm, values, count, tm_inc_range);
}

int bt_subtree_dec(void *context, const void *values, unsigned count)
{
	struct bt_subtree_ctx *ctx = context;
	const uint8_t *v = values;

	for (unsigned i = 0; i < count; i++) {
		int r = bt_del(&ctx->sub, le64_get(v + 8u * i));

		if (r)
			return r;
	}
	return 0;
}

int bt_subtree_equal(void *context, const void *value1, const void *value2)
{
	(void)context;
	return le64_get(value1) == le64_get(value2);
}
