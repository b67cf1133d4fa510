/* core/bt_internal.h - what the btree files share (bt_spine.c, bt.c,
 * bt_walk.c, bt_remove.c): the node layout, node accessors, the shadow
 * spine and the value type of upper levels.
 *
 * Node layout (FORMAT.md 1.3), all little-endian:
 *
 *   off  size  field
 *     0     4  csum         crc32c of bytes 4..4095, salt BT_CSUM_XOR
 *     4     4  flags        BT_INTERNAL_NODE or BT_LEAF_NODE
 *     8     8  blocknr      where the node lives (checked on read)
 *    16     4  nr_entries
 *    20     4  max_entries  bt_max_entries(value_size), a multiple of 3
 *    24     4  value_size   bytes; 8 in internal nodes (child block)
 *    28     4  padding      0
 *    32        keys[max_entries]      __le64 each
 *    32 + 8 * max_entries   values[max_entries], value_size bytes each
 *
 * Nothing here is part of the public API; the header may change with the
 * implementation.
 */
#ifndef PD_BT_INTERNAL_H
#define PD_BT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bt.h"
#include "util.h"

struct disk_node_header {
	uint32_t csum_le;
	uint32_t flags_le;
	uint64_t blocknr_le;
	uint32_t nr_entries_le;
	uint32_t max_entries_le;
	uint32_t value_size_le;
	uint32_t padding_le;
};
_Static_assert(sizeof(struct disk_node_header) == BT_NODE_HEADER_SIZE,
	       "btree node header is 32 bytes");

#define NODE_OFF_CSUM	 offsetof(struct disk_node_header, csum_le)
#define NODE_OFF_FLAGS	 offsetof(struct disk_node_header, flags_le)
#define NODE_OFF_BLOCKNR offsetof(struct disk_node_header, blocknr_le)
#define NODE_OFF_NR	 offsetof(struct disk_node_header, nr_entries_le)
#define NODE_OFF_MAX	 offsetof(struct disk_node_header, max_entries_le)
#define NODE_OFF_VSIZE	 offsetof(struct disk_node_header, value_size_le)

/* --- accessors (n is a whole node, PD_BLOCK_SIZE bytes) ----------------- */

static inline uint32_t bt_node_flags(const uint8_t *n)
{
	return le32_get(n + NODE_OFF_FLAGS);
}

static inline int bt_node_is_leaf(const uint8_t *n)
{
	return bt_node_flags(n) == BT_LEAF_NODE;
}

static inline uint32_t bt_node_nr(const uint8_t *n)
{
	return le32_get(n + NODE_OFF_NR);
}

static inline void bt_node_set_nr(uint8_t *n, uint32_t nr)
{
	le32_put(n + NODE_OFF_NR, nr);
}

static inline uint32_t bt_node_max(const uint8_t *n)
{
	return le32_get(n + NODE_OFF_MAX);
}

static inline uint32_t bt_node_vsize(const uint8_t *n)
{
	return le32_get(n + NODE_OFF_VSIZE);
}

static inline uint64_t bt_node_key(const uint8_t *n, uint32_t i)
{
	return le64_get(n + BT_NODE_HEADER_SIZE + 8u * (size_t)i);
}

static inline void bt_node_set_key(uint8_t *n, uint32_t i, uint64_t k)
{
	le64_put(n + BT_NODE_HEADER_SIZE + 8u * (size_t)i, k);
}

static inline uint8_t *bt_node_value(uint8_t *n, uint32_t i)
{
	return n + BT_NODE_HEADER_SIZE + 8u * (size_t)bt_node_max(n) +
	       (size_t)i * bt_node_vsize(n);
}

static inline const uint8_t *bt_node_cvalue(const uint8_t *n, uint32_t i)
{
	return n + BT_NODE_HEADER_SIZE + 8u * (size_t)bt_node_max(n) +
	       (size_t)i * bt_node_vsize(n);
}

/* Child block i of an internal node (or __le64 value i of a leaf). */
static inline uint64_t bt_node_value64(const uint8_t *n, uint32_t i)
{
	return le64_get(bt_node_cvalue(n, i));
}

/* Fill a fresh node's header (csum and blocknr come at write time). */
void bt_node_init(uint8_t *n, uint32_t flags, uint32_t value_size);

/* Index of the largest key <= key, or -1 (keys strictly increasing, BT1). */
int bt_node_lower_bound(const uint8_t *n, uint64_t key);
/* Index of the smallest key >= key, or nr_entries. */
int bt_node_upper_bound(const uint8_t *n, uint64_t key);

/* Insert (key, value) at index i <= nr_entries, shifting the rest up.  The
 * node has room: insert_raw (bt.c) splits or rebalances a full node before
 * it steps below it or inserts into it, so the leaf and the parent that
 * takes a new sibling always have a free slot, whatever the metadata says
 * (a node with more entries than max_entries fails the validator). */
void bt_node_insert_at(uint8_t *n, uint32_t i, uint64_t key,
		       const void *value);
/* Delete entry i < nr_entries (a live slot), shifting the rest down. */
void bt_node_delete_at(uint8_t *n, uint32_t i);

/*
 * Spread the entries of nodes[0..count-1] (in key order) so that node j
 * holds targets[j] entries, keeping the order.  The nodes must agree on
 * value_size and max_entries and the targets add up to the total.
 */
void bt_node_redistribute(uint8_t **nodes, unsigned count,
		       const uint32_t *targets);

/* Header checks beyond the validator's for a node met in a tree whose
 * leaves hold leaf_vsize-byte values: -EILSEQ if it does not fit. */
int bt_node_check_shape(const uint8_t *n, uint32_t leaf_vsize);

/* Map errors from locking a block named by a node: a pointer past the end
 * of the device, to a block cached with another validator, or to a block
 * already locked on our own path is damaged metadata. */
static inline int bt_child_err(int r)
{
	return (r == -EINVAL || r == -EBUSY) ? -EILSEQ : r;
}

/* --- value types -------------------------------------------------------- */

/* The type of level l of info (l < levels - 1: subtree roots). */
void bt_level_type(const struct bt_info *info, unsigned level,
		   struct bt_value_type *vt);
static inline uint32_t bt_level_vsize(const struct bt_info *info,
				      unsigned level)
{
	return level + 1 < info->levels ? 8u : info->value_type.size;
}

/* Inc what a node references (TM2, BT4): children of an internal node,
 * values of a leaf through vt->inc. */
int bt_inc_children(struct transaction_manager *tm, const uint8_t *n,
		    const struct bt_value_type *vt);

/* A usable bt_info: a tm, 1..BT_MAX_LEVELS levels, room for 3 values. */
static inline int bt_info_ok(const struct bt_info *info)
{
	return info && info->tm && info->levels >= 1 &&
	       info->levels <= BT_MAX_LEVELS &&
	       bt_max_entries(info->value_type.size) >= 3;
}

/* Is b a block of the metadata device at all? */
int bt_block_in_range(struct transaction_manager *tm, pd_block_t b);
/* The same for b named by a node; noted as damage if not (bm.h BM10). */
int bt_child_in_range(struct transaction_manager *tm, pd_block_t b);
int bt_read_node(struct transaction_manager *tm, pd_block_t b,
		 uint32_t leaf_vsize, struct bm_block **result);
/* Copy node b into buf (PD_BLOCK_SIZE bytes) and unlock it; b was named by
 * a node (child: damage is -EILSEQ) or by the caller (root). */
int bt_read_copy(struct transaction_manager *tm, pd_block_t b,
		 uint32_t leaf_vsize, int child, uint8_t *buf);
int bt_new_node(struct transaction_manager *tm, struct bm_block **result);

/* --- the shadow spine --------------------------------------------------- */

/*
 * At most two nodes write-locked at a time: the current node and its
 * parent.  Every block stepped into is remembered (original and shadow
 * location) so that a child pointing back into the path is -EILSEQ rather
 * than a lock clash or an endless descent (BT5).
 */
#define BT_SPINE_PATH (2 * BT_MAX_DEPTH)

struct shadow_spine {
	const struct bt_info *info;
	struct transaction_manager *tm;
	unsigned count;			/* nodes held: 0, 1 or 2 */
	struct bm_block *nodes[2];	/* [count-1] is the current node */
	pd_block_t root;		/* location of the first shadow */
	unsigned nr_path;
	pd_block_t path[BT_SPINE_PATH];	/* every block met on the way */
};

void bt_spine_init(struct shadow_spine *s, const struct bt_info *info);
void bt_spine_exit(struct shadow_spine *s);
/* Is b on the path already (original or shadow)? */
int bt_spine_seen(const struct shadow_spine *s, pd_block_t b);
/* Shadow b and make it current (the old parent is unlocked).  vt is the
 * type of the tree's leaves at this level, leaf_vsize its size. */
int bt_spine_step(struct shadow_spine *s, pd_block_t b,
	       const struct bt_value_type *vt, uint32_t leaf_vsize);

static inline struct bm_block *bt_spine_current(struct shadow_spine *s)
{
	return s->nodes[s->count - 1];
}

static inline struct bm_block *bt_spine_parent(struct shadow_spine *s)
{
	return s->count == 2 ? s->nodes[0] : NULL;
}

/* Shadow child i of parent (a sibling on the path's level), patch the
 * parent's pointer, inc its children if it was shared. */
int bt_shadow_child(struct shadow_spine *s, uint8_t *parent, uint32_t i,
		    const struct bt_value_type *vt, uint32_t leaf_vsize,
		    struct bm_block **result);

#endif /* PD_BT_INTERNAL_H */
