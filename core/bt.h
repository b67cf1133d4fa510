/* core/bt.h - copy-on-write B+trees in the dm-btree on-disk format
 * (FORMAT.md 1.3, 2.4).
 *
 * A tree is named by its root block; every mutation shadows the path from
 * the root (tm.h TM1) and returns the new root, which the caller must store.
 * Keys are uint64_t; values are fixed-size little-endian byte strings whose
 * size and reference counting come from the value type.  A multi-level
 * tree (info->levels = L) takes L keys: levels 0..L-2 are ordinary trees
 * whose leaf values are the __le64 root of the next level's tree.
 *
 * Invariants:
 *  BT1  keys in a node are strictly increasing; keys[i] of an internal node
 *       is the lowest key under child i.
 *  BT2  every non-root node holds at least max_entries / 3 entries.
 *  BT3  max_entries = 3 * floor((4096 - 32) / (8 + value_size) / 3); internal
 *       nodes have value_size 8.
 *  BT4  refcounts: shadowing a shared node incs what the copy references
 *       (child blocks, or leaf values through value_type.inc); removing or
 *       overwriting a value calls value_type.dec on it (overwrite not when
 *       value_type.equal says the values are equal); bt_del decs a shared
 *       node only, and frees an unshared one with everything it references.
 *  BT5  a lookup, walk, cursor or range removal never loops or crashes on
 *       damaged metadata: depth is bounded (BT_MAX_DEPTH), every node is
 *       validated, and bt_remove_range's key only goes up.
 *
 * Errors: -ENODATA (key absent), -EILSEQ (damaged node: checksum, bad
 * header, keys out of order, depth over BT_MAX_DEPTH), -ENOTBLK, -EIO,
 * -ENOMEM, -ENOSPC, -EINVAL (misuse).  On an error in a mutation the tree
 * is in an undefined state in this transaction: the caller aborts.  The
 * mutations (bt_insert, bt_remove, bt_remove_range, bt_del) mark the tm
 * failed (tm_set_failed, TM4) on any error raised after they may have
 * changed something; an absent key (-ENODATA from bt_remove) changes
 * nothing and fails nothing.  Readers never mark the tm.  BT6: a mutation
 * that fails leaves *new_root as it was, so no caller can keep the root of
 * a half-done spine (the Linux fix "dm btree remove: assign new_root only
 * when removal succeeds").
 */
#ifndef PD_BT_H
#define PD_BT_H

#include <stddef.h>
#include <stdint.h>

#include "tm.h"

#define BT_MAX_LEVELS 4
#define BT_MAX_DEPTH 64			/* far above any real tree */

/* Node header (FORMAT.md 1.3), 32 bytes, then keys, then values. */
#define BT_INTERNAL_NODE 1u
#define BT_LEAF_NODE	 2u
#define BT_CSUM_XOR	 121107u
#define BT_NODE_HEADER_SIZE 32u

struct bt_value_type {
	void *context;
	uint32_t size;			/* bytes of one value */
	/* Called with count values packed back to back (little-endian).
	 * Any of inc, dec, equal may be NULL: no refcounting, and equality by
	 * memcmp.  Upper levels of a multi-level tree use an internal type
	 * whose inc/dec are tm_inc/tm_dec of the subtree root (dec does not
	 * free the subtree, as in the kernel); bt_del frees nested trees. */
	int (*inc)(void *context, const void *values, unsigned count);
	int (*dec)(void *context, const void *values, unsigned count);
	/* nonzero if equal for refcounting (e.g. same data block) */
	int (*equal)(void *context, const void *value1, const void *value2);
};

struct bt_info {
	struct transaction_manager *tm;
	unsigned levels;		/* 1 .. BT_MAX_LEVELS */
	struct bt_value_type value_type;	/* of the bottom level */
};

extern const struct bm_validator bt_node_validator;

static inline uint32_t bt_max_entries(uint32_t value_size)
{
	return 3 * (((4096u - BT_NODE_HEADER_SIZE) / (8u + value_size)) / 3);
}

/* A new empty tree: one empty leaf, with the bottom-level value size for a
 * single-level tree, 8 (subtree roots) for a multi-level one.  -EINVAL if
 * info is unusable (levels out of range, a value size leaving fewer than
 * 3 entries per node). */
int bt_empty(const struct bt_info *info, pd_block_t *root);
/* Release a whole tree (BT4). */
int bt_del(const struct bt_info *info, pd_block_t root);

/* Exact lookup: value (value_type.size bytes) or -ENODATA. */
int bt_lookup(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, void *value);
/* The lowest key >= keys[levels-1] in the bottom tree reached by
 * keys[0..levels-2]: its key and value, or -ENODATA. */
int bt_lookup_next(const struct bt_info *info, pd_block_t root,
		   const uint64_t *keys, uint64_t *rkey, void *value);
/* Lowest / highest key of a single-level tree (or of the bottom tree
 * reached by keys[0..levels-2]); -ENODATA if empty. */
int bt_find_lowest_key(const struct bt_info *info, pd_block_t root,
		       const uint64_t *keys, uint64_t *rkey);
int bt_find_highest_key(const struct bt_info *info, pd_block_t root,
			const uint64_t *keys, uint64_t *rkey);

/* Insert or overwrite.  *inserted (if not NULL) is 1 for a new key, 0 for
 * an overwrite.  The value is copied. */
int bt_insert(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, const void *value, pd_block_t *new_root,
	      int *inserted);
/* Remove one key; -ENODATA (and *new_root = root) if absent. */
int bt_remove(const struct bt_info *info, pd_block_t root,
	      const uint64_t *keys, pd_block_t *new_root);
/* Remove every key in [keys[levels-1], end_key) of the bottom tree reached
 * by keys[0..levels-2]; *nr_removed counts them. */
int bt_remove_range(const struct bt_info *info, pd_block_t root,
		    const uint64_t *keys, uint64_t end_key,
		    pd_block_t *new_root, uint64_t *nr_removed);

/* Visit every (keys, value) of the tree in key order; keys has `levels`
 * entries.  A nonzero return from fn stops the walk and is returned.  No
 * lock is held while fn runs (nodes are copied), so fn may use the tm. */
typedef int (*bt_walk_fn)(void *context, const uint64_t *keys,
			  const void *value);
int bt_walk(const struct bt_info *info, pd_block_t root, bt_walk_fn fn,
	    void *context);

/* A cursor over the leaves of a single-level tree (-EINVAL for more
 * levels), or of one bottom tree seen through a levels = 1 info.  It
 * starts at the lowest key >= from (-ENODATA if there is none) and reads
 * only the path to it and the leaves after it.  It keeps copies of the
 * nodes on its path and holds no lock; it does not see changes made to
 * the tree after it read a node, so do not change the tree while it
 * lives. */
struct bt_cursor;
int bt_cursor_begin(const struct bt_info *info, pd_block_t root,
		    uint64_t from, struct bt_cursor **result);
int bt_cursor_next(struct bt_cursor *c);	/* -ENODATA at the end */
int bt_cursor_get(struct bt_cursor *c, uint64_t *key, void *value);
void bt_cursor_end(struct bt_cursor *c);

/*
 * Structural check of a whole tree (all levels): BT1 (validator), key of
 * every child within the range its parent gives it, BT2 for every
 * non-root node (a subtree root of a multi-level tree is a root), BT3
 * (value size and max_entries of each level), all leaves of one tree at
 * one depth, BT5 (depth).  -EILSEQ / -ENOTBLK on the first violation.
 * fn (may be NULL) is called for every node reached, with its copy and the
 * level of its tree; it returns 0 to go on below the node, 1 to skip what
 * is below it (e.g. a node already seen through another referrer), or a
 * negative error to stop.  st (may be NULL) gets counts of what was
 * visited (nodes skipped by fn are not counted).
 */
struct bt_check_stats {
	uint64_t nr_nodes;		/* nodes visited */
	uint64_t nr_leaves;		/* leaves, all levels */
	uint64_t nr_entries;		/* bottom-level entries */
	unsigned max_depth;		/* nodes on the longest path, all levels */
};
typedef int (*bt_node_fn)(void *context, pd_block_t b, const void *node,
			  unsigned level);
/* What a bt_node_fn may read of the node it is given (already checked by
 * bt_check: its entries fit the block). */
struct bt_node_view {
	int leaf;			/* else internal: values are child blocks */
	uint32_t nr_entries;
	uint32_t value_size;		/* bytes */
	const uint8_t *values;		/* nr_entries * value_size bytes, LE */
};
void bt_node_view(const void *node, struct bt_node_view *v);
int bt_check(const struct bt_info *info, pd_block_t root, bt_node_fn fn,
	     void *context, struct bt_check_stats *st);

/* Value type of a top level whose values are roots of subtrees in `sub`:
 * inc = tm_inc of the root, dec = bt_del of the subtree when its count
 * drops to 0 (FORMAT.md 1.4). */
struct bt_subtree_ctx {
	struct bt_info sub;
};
int bt_subtree_inc(void *context, const void *values, unsigned count);
int bt_subtree_dec(void *context, const void *values, unsigned count);
int bt_subtree_equal(void *context, const void *value1, const void *value2);

#endif /* PD_BT_H */
