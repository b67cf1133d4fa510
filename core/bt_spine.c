/* core/bt_spine.c - what every btree operation stands on (see
 * bt_internal.h): the node validator, node helpers, the value types (plain
 * __le64 block numbers, and subtree roots for the upper levels of a
 * multi-level tree), locking nodes with their shape checked, and the shadow
 * spine that every mutation descends with.
 *
 * Design notes:
 *  - The validator checks what can be checked of a node alone (checksum,
 *    block number, header, key order BT1); bt_node_check_shape adds what
 *    depends on the tree (value size and max_entries of its level, BT3).
 *  - The spine holds at most two write locks and remembers every block it
 *    stepped into, so a child pointing back into the path is -EILSEQ
 *    rather than a lock clash or an endless descent (BT5).
 */
#include <inttypes.h>
#include <string.h>

#include "bt.h"
#include "bt_internal.h"
#include "errors.h"
#include "mutant.h"
#include "util.h"

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
	if (le64_get(n + NODE_OFF_BLOCKNR) != bm_block_location(b)) {
		bm_block_fault(b, "says it is block %" PRIu64,
			       le64_get(n + NODE_OFF_BLOCKNR));
		return -ENOTBLK;
	}
	if (le32_get(n + NODE_OFF_CSUM) !=
	    pd_block_csum(n + 4, block_size - 4, BT_CSUM_XOR)) {
		bm_block_fault(b, "bad checksum (not a btree node?)");
		return -EILSEQ;
	}
	nr = bt_node_nr(n);
	max = bt_node_max(n);
	vsize = bt_node_vsize(n);
	flags = bt_node_flags(n);
	if ((uint64_t)BT_NODE_HEADER_SIZE + (8ull + vsize) * max > block_size) {
		bm_block_fault(b, "max_entries %" PRIu32 " of %" PRIu32 "-byte values do not fit in a block",
			       max, vsize);
		return -EILSEQ;
	}
	if (nr > max) {
		bm_block_fault(b, "%" PRIu32 " entries, more than max_entries %" PRIu32,
			       nr, max);
		return -EILSEQ;
	}
	if (flags != BT_INTERNAL_NODE && flags != BT_LEAF_NODE) {
		bm_block_fault(b, "bad node flags %#" PRIx32, flags);
		return -EILSEQ;
	}
	for (uint32_t i = 1; i < nr; i++)	/* BT1 */
		if (bt_node_key(n, i - 1) >= bt_node_key(n, i)) {
			bm_block_fault(b, "key %" PRIu64 " at %" PRIu32 " is not above the one before it",
				       bt_node_key(n, i), i);
			return -EILSEQ;
		}
	return 0;
}

const struct bm_validator bt_node_validator = {
	.name = "btree node",
	.prepare_for_write = node_prepare_for_write,
	.check = node_check,
};

/* --- node helpers ------------------------------------------------------- */

void bt_node_init(uint8_t *n, uint32_t flags, uint32_t value_size)
{
	memset(n, 0, PD_BLOCK_SIZE);
	le32_put(n + NODE_OFF_FLAGS, flags);
	le32_put(n + NODE_OFF_NR, 0);
	le32_put(n + NODE_OFF_MAX, bt_max_entries(value_size));
	le32_put(n + NODE_OFF_VSIZE, value_size);
}

int bt_node_lower_bound(const uint8_t *n, uint64_t key)
{
	int lo = -1, hi = (int)bt_node_nr(n);

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;
		uint64_t k = bt_node_key(n, (uint32_t)mid);

		if (k == key)
			return mid;
		if (k < key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int bt_node_upper_bound(const uint8_t *n, uint64_t key)
{
	int i = bt_node_lower_bound(n, key);

	if (i >= 0 && bt_node_key(n, (uint32_t)i) == key)
		return i;
	return i + 1;
}

void bt_node_insert_at(uint8_t *n, uint32_t i, uint64_t key,
		       const void *value)
{
	uint32_t nr = bt_node_nr(n), vsize = bt_node_vsize(n);
	uint8_t *keys = n + BT_NODE_HEADER_SIZE;

	memmove(keys + 8u * (i + 1), keys + 8u * i, 8u * (nr - i));
	memmove(bt_node_value(n, i + 1), bt_node_value(n, i),
		(size_t)vsize * (nr - i));
	bt_node_set_key(n, i, key);
	memcpy(bt_node_value(n, i), value, vsize);
	bt_node_set_nr(n, nr + 1);
}

void bt_node_delete_at(uint8_t *n, uint32_t i)
{
	uint32_t nr = bt_node_nr(n), vsize = bt_node_vsize(n);
	uint8_t *keys = n + BT_NODE_HEADER_SIZE;

	memmove(keys + 8u * i, keys + 8u * (i + 1), 8u * (nr - i - 1));
	memmove(bt_node_value(n, i), bt_node_value(n, i + 1),
		(size_t)vsize * (nr - i - 1));
	bt_node_set_nr(n, nr - 1);
}

void bt_node_redistribute(uint8_t **nodes, unsigned count,
		       const uint32_t *targets)
{
	enum { AREA = PD_BLOCK_SIZE - BT_NODE_HEADER_SIZE };
	uint8_t keys[3 * AREA], vals[3 * AREA];
	uint32_t vsize = bt_node_vsize(nodes[0]);
	size_t nk = 0, nv = 0;

	if (count > 3)
		return;
	for (unsigned j = 0; j < count; j++) {
		uint32_t nr = bt_node_nr(nodes[j]);

		memcpy(keys + nk, nodes[j] + BT_NODE_HEADER_SIZE, 8u * nr);
		memcpy(vals + nv, bt_node_value(nodes[j], 0), (size_t)vsize * nr);
		nk += 8u * nr;
		nv += (size_t)vsize * nr;
	}
	nk = nv = 0;
	for (unsigned j = 0; j < count; j++) {
		uint32_t t = targets[j];

		memcpy(nodes[j] + BT_NODE_HEADER_SIZE, keys + nk, 8u * t);
		memcpy(bt_node_value(nodes[j], 0), vals + nv, (size_t)vsize * t);
		bt_node_set_nr(nodes[j], t);
		nk += 8u * t;
		nv += (size_t)vsize * t;
	}
}

/* BT3: the value size and max_entries a node must have at its level. */
int bt_node_check_shape(const uint8_t *n, uint32_t leaf_vsize)
{
	if (bt_node_is_leaf(n)) {
		if (bt_node_vsize(n) != leaf_vsize ||
		    bt_node_max(n) != bt_max_entries(leaf_vsize))
			return -EILSEQ;
		return 0;
	}
	if (bt_node_vsize(n) != 8 || bt_node_max(n) != bt_max_entries(8) ||
	    bt_node_nr(n) == 0)
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
		/* planted: no inc of the subtree roots a shared leaf holds */
		vt->inc = PD_MUTANT(TOP_LEVEL_LEAF_NO_INC) ? NULL : le64_inc;
		vt->dec = le64_dec;
		vt->equal = le64_equal;
	} else {
		*vt = info->value_type;
	}
}

int bt_inc_children(struct transaction_manager *tm, const uint8_t *n,
		    const struct bt_value_type *vt)
{
	uint32_t nr = bt_node_nr(n);

	if (!bt_node_is_leaf(n))
		return with_runs(tm, bt_node_cvalue(n, 0), nr, tm_inc_range);
	if (vt->inc && nr)
		return vt->inc(vt->context, bt_node_cvalue(n, 0), nr);
	return 0;
}

/* --- locking nodes ------------------------------------------------------ */

int bt_block_in_range(struct transaction_manager *tm, pd_block_t b)
{
	return b < bm_nr_blocks(tm_bm(tm));
}

/* Note what bt_node_check_shape refused in node n at b (bm.h BM10). */
static void note_shape(struct transaction_manager *tm, pd_block_t b,
		       const uint8_t *n, uint32_t leaf_vsize)
{
	struct pd_damage *d = bm_damage(tm_bm(tm));
	uint32_t want_vs = bt_node_is_leaf(n) ? leaf_vsize : 8;

	if (bt_node_vsize(n) != want_vs)
		pd_damage_note(d, b, "block %" PRIu64 " (btree node): value size %" PRIu32 ", expected %" PRIu32,
			       (uint64_t)b, bt_node_vsize(n), want_vs);
	else if (bt_node_max(n) != bt_max_entries(want_vs))
		pd_damage_note(d, b, "block %" PRIu64 " (btree node): max_entries %" PRIu32 ", expected %" PRIu32,
			       (uint64_t)b, bt_node_max(n), bt_max_entries(want_vs));
	else
		pd_damage_note(d, b, "block %" PRIu64 " (btree node): internal node with no entries",
			       (uint64_t)b);
}

int bt_read_node(struct transaction_manager *tm, pd_block_t b,
		 uint32_t leaf_vsize, struct bm_block **result)
{
	int r = tm_read_lock(tm, b, &bt_node_validator, result);

	if (r)
		return r;
	r = bt_node_check_shape(bm_block_cdata(*result), leaf_vsize);
	if (r) {
		note_shape(tm, b, bm_block_cdata(*result), leaf_vsize);
		tm_unlock(tm, *result);
		return r;
	}
	return 0;
}

int bt_child_in_range(struct transaction_manager *tm, pd_block_t b)
{
	if (bt_block_in_range(tm, b))
		return 1;
	pd_damage_note(bm_damage(tm_bm(tm)), b, "reference to block %" PRIu64 ", outside the metadata device (%" PRIu64 " blocks)",
		       (uint64_t)b, (uint64_t)bm_nr_blocks(tm_bm(tm)));
	return 0;
}

int bt_read_copy(struct transaction_manager *tm, pd_block_t b,
		 uint32_t leaf_vsize, int child, uint8_t *buf)
{
	struct bm_block *blk;
	int r;

	if (child && !bt_child_in_range(tm, b))
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

void bt_spine_init(struct shadow_spine *s, const struct bt_info *info)
{
	s->info = info;
	s->tm = info->tm;
	s->count = 0;
	s->root = 0;
	s->nr_path = 0;
}

void bt_spine_exit(struct shadow_spine *s)
{
	for (unsigned i = 0; i < s->count; i++)
		tm_unlock(s->tm, s->nodes[i]);
	s->count = 0;
}

int bt_spine_seen(const struct shadow_spine *s, pd_block_t b)
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

	if (!bt_block_in_range(s->tm, b) || bt_spine_seen(s, b))
		return -EILSEQ;
	r = tm_shadow_block(s->tm, b, &bt_node_validator, &blk, &inc);
	if (r)
		return bt_child_err(r);
	r = bt_node_check_shape(bm_block_cdata(blk), leaf_vsize);
	if (!r && inc)
		r = bt_inc_children(s->tm, bm_block_cdata(blk), vt);
	if (r) {
		tm_unlock(s->tm, blk);
		return r;
	}
	*result = blk;
	return 0;
}

int bt_spine_step(struct shadow_spine *s, pd_block_t b,
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
	int r = shadow_node(s, bt_node_value64(parent, i), vt, leaf_vsize, result);

	if (r)
		return r;
	le64_put(bt_node_value(parent, i), bm_block_location(*result));
	return 0;
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
