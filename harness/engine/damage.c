/* harness/engine/damage.c - the damage step's pieces (see damage.h): the
 * plan of an image's metadata blocks, the damage kinds, the recovery of
 * one damaged image, and damage ids.  damage_run.c runs them over the
 * scenarios in worker processes.
 *
 * The plan reads the image the way the format says (FORMAT.md 1.2-1.9),
 * not through the core: it must find every block even where the core's
 * own walk would differ, and it stops at nothing but a block that is not
 * what its parent says it is (a committed image has none).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "bm.h"
#include "bt.h"
#include "cache.h"
#include "client_digest.h"
#include "damage_internal.h"
#include "errors.h"
#include "explore.h"
#include "grow.h"
#include "sm_common.h"
#include "thin.h"
#include "util.h"

/* Superblock fields this file touches (FORMAT.md 1.2). */
enum {
	SBO_MAGIC = 32, SBO_HELD = 56, SBO_DATA_SM = 64,
	SBO_META_SM = 192, SBO_MAP_ROOT = 320, SBO_DETAILS_ROOT = 328,
	SBO_DATA_BLOCK_SIZE = 336, SBO_COMPAT_RO = 356, SBO_INCOMPAT = 360,
};
/* Cache superblock fields (FORMAT.md 1.12, core/cache.h). */
enum {
	CSO_FLAGS = 4, CSO_MAGIC = 32, CSO_VERSION = 40, CSO_HINT_SIZE = 60,
	CSO_META_SM = 64, CSO_MAP_ROOT = 192, CSO_HINT_ROOT = 200,
	CSO_DISCARD_ROOT = 208, CSO_DISCARD_NR = 224, CSO_DATA_BS = 232,
	CSO_META_BS = 236, CSO_CACHE_BLOCKS = 240, CSO_COMPAT_RO = 248,
	CSO_INCOMPAT = 252, CSO_DIRTY_ROOT = 284,
};
/* Array block header (FORMAT.md 1.11). */
enum { AO_MAX = 4, AO_NR = 8, AO_VSIZE = 12, AO_BLOCKNR = 16 };
/* Btree node header (FORMAT.md 1.3). */
enum {
	NO_FLAGS = 4, NO_NR = 16, NO_MAX = 20, NO_VSIZE = 24,
	NO_PADDING = 28, NO_KEYS = BT_NODE_HEADER_SIZE,
};

/* --- the plan ------------------------------------------------------------- */

static const uint32_t role_salt[DR_NR] = {
	[DR_SB] = THIN_SUPERBLOCK_CSUM_XOR,
	[DR_SB_COPY] = THIN_SUPERBLOCK_CSUM_XOR,
	[DR_NODE] = BT_CSUM_XOR,
	[DR_INDEX] = SM_INDEX_CSUM_XOR,
	[DR_BITMAP] = SM_BITMAP_CSUM_XOR,
	[DR_CSB] = CACHE_SUPERBLOCK_CSUM_XOR,
	[DR_ABLOCK] = ARRAY_CSUM_XOR,
};

/* A whole block of this role at b: checksum with its salt and its own
 * location (at offset 16 in an array block, 8 elsewhere). */
static int block_is(const uint8_t *d, pd_block_t b, enum dmg_role role)
{
	return le32_get(d) == pd_block_csum(d + 4, PD_BLOCK_SIZE - 4,
					    role_salt[role]) &&
	       le64_get(d + (role == DR_ABLOCK ? AO_BLOCKNR : 8)) == b;
}

static int is_cache_tree(unsigned tree)
{
	return tree >= DT_C_MAP && tree <= DT_C_DIRTY;
}

static int add_target(struct dmg_plan *p, const struct dmg_target *t)
{
	int r = grow_array(&p->t, &p->cap, p->nr, sizeof(*t));

	if (r)
		return r;
	p->t[p->nr++] = *t;
	p->seen[t->block] = 1;
	if (t->block > p->max_used)
		p->max_used = t->block;
	return 0;
}

/* Read b into buf if it is an unseen block of the device of this role. */
static int fetch(struct dmg_plan *p, struct bdev *bd, pd_block_t b,
		 enum dmg_role role, uint8_t *buf)
{
	return b < p->nr_blocks && !p->seen[b] && !bdev_read(bd, b, buf) &&
	       block_is(buf, b, role);
}

static uint32_t node_max_for(uint32_t vsize)
{
	return 3 * ((PD_BLOCK_SIZE - BT_NODE_HEADER_SIZE) / (8 + vsize) / 3);
}

static int plan_bitmap(struct dmg_plan *p, struct bdev *bd, pd_block_t b,
		       pd_block_t parent, enum dmg_tree tree, uint64_t sm_nr,
		       uint64_t index, uint8_t *buf)
{
	struct dmg_target t = { .block = b, .role = DR_BITMAP, .tree = tree,
				.parent = parent, .sm_nr_blocks = sm_nr,
				.bitmap_index = index };

	return fetch(p, bd, b, DR_BITMAP, buf) ? add_target(p, &t) : 0;
}

/* An array block of a dm-cache array: index is its key in the index
 * tree. */
static int plan_ablock(struct dmg_plan *p, struct bdev *bd, pd_block_t b,
		       pd_block_t parent, enum dmg_tree tree, uint64_t index,
		       uint8_t *buf)
{
	struct dmg_target t = { .block = b, .role = DR_ABLOCK, .tree = tree,
				.parent = parent, .bitmap_index = index };

	return fetch(p, bd, b, DR_ABLOCK, buf) ? add_target(p, &t) : 0;
}

static int plan_tree(struct dmg_plan *p, struct bdev *bd, pd_block_t b,
		     pd_block_t parent, enum dmg_tree tree, unsigned depth)
{
	struct dmg_target t = { .block = b, .role = DR_NODE, .tree = tree,
				.parent = parent };
	uint8_t *n = malloc(2 * PD_BLOCK_SIZE);	/* the node, a bitmap */
	uint32_t nr, max, vs;
	int r = 0;

	if (!n)
		return -ENOMEM;
	if (depth > BT_MAX_DEPTH || !fetch(p, bd, b, DR_NODE, n))
		goto out;
	t.leaf = le32_get(n + NO_FLAGS) == BT_LEAF_NODE;
	nr = le32_get(n + NO_NR);
	max = le32_get(n + NO_MAX);
	vs = le32_get(n + NO_VSIZE);
	if (nr && nr <= max && max <= (PD_BLOCK_SIZE - NO_KEYS) / 8) {
		t.has_keys = 1;
		t.key_lo = le64_get(n + NO_KEYS);
		t.key_hi = le64_get(n + NO_KEYS + 8u * (nr - 1));
	}
	r = add_target(p, &t);
	if (r || nr > max || (uint64_t)NO_KEYS + (8ull + vs) * max > PD_BLOCK_SIZE)
		goto out;
	for (uint32_t i = 0; i < nr && !r; i++) {
		const uint8_t *v = n + NO_KEYS + 8u * max + (size_t)i * vs;

		if (!t.leaf && vs == 8)
			r = plan_tree(p, bd, le64_get(v), b, tree, depth + 1);
		else if (is_cache_tree(tree) && vs == 8)
			r = plan_ablock(p, bd, le64_get(v), b, tree,
					le64_get(n + NO_KEYS + 8u * i),
					n + PD_BLOCK_SIZE);
		else if (tree == DT_MAP_BOTTOM && vs == 8 &&
			 le64_get(v) >> 24 >= p->data_used)
			p->data_used = (le64_get(v) >> 24) + 1;
		else if (tree == DT_MAP_TOP && vs == 8)
			r = plan_tree(p, bd, le64_get(v), b, DT_MAP_BOTTOM,
				      depth + 1);
		else if (tree == DT_DATA_INDEX && vs == 16)
			r = plan_bitmap(p, bd, le64_get(v + SM_IE_OFF_BLOCKNR),
					b, DT_DATA_INDEX, p->data_nr_blocks,
					le64_get(n + NO_KEYS + 8u * i),
					n + PD_BLOCK_SIZE);
	}
out:
	free(n);
	return r;
}

static int plan_meta_index(struct dmg_plan *p, struct bdev *bd, pd_block_t b,
			   uint8_t *buf)
{
	struct dmg_target t = { .block = b, .role = DR_INDEX, .tree = DT_NONE };
	uint64_t nr_bitmaps = (p->meta_nr_blocks + SM_ENTRIES_PER_BLOCK - 1) /
			      SM_ENTRIES_PER_BLOCK;
	uint8_t *bm;
	int r;

	if (!fetch(p, bd, b, DR_INDEX, buf))
		return 0;
	r = add_target(p, &t);
	if (r)
		return r;
	bm = malloc(PD_BLOCK_SIZE);
	if (!bm)
		return -ENOMEM;
	for (uint64_t i = 0; i < nr_bitmaps && i < SM_MAX_METADATA_BITMAPS &&
			     !r; i++)
		r = plan_bitmap(p, bd, le64_get(buf + SM_INDEX_OFF_ENTRIES +
						16 * i + SM_IE_OFF_BLOCKNR),
				b, DT_META_INDEX, p->meta_nr_blocks, i, bm);
	free(bm);
	return r;
}

static int cmp_target(const void *a, const void *b)
{
	pd_block_t x = ((const struct dmg_target *)a)->block;
	pd_block_t y = ((const struct dmg_target *)b)->block;

	return x < y ? -1 : x > y;
}

/* The trees a superblock (or its held copy: the first two) roots. */
static const struct { unsigned off; enum dmg_tree tree; } sb_trees[] = {
	{ SBO_MAP_ROOT, DT_MAP_TOP },
	{ SBO_DETAILS_ROOT, DT_DETAILS },
	{ SBO_DATA_SM + SM_ROOT_OFF_BITMAP_ROOT, DT_DATA_INDEX },
	{ SBO_DATA_SM + SM_ROOT_OFF_REF_COUNT_ROOT, DT_DATA_RC },
	{ SBO_META_SM + SM_ROOT_OFF_REF_COUNT_ROOT, DT_META_RC },
};

/* The superblock at b (0, or the held copy) and what it reaches. */
static int plan_superblock(struct dmg_plan *p, struct bdev *bd, pd_block_t b,
			   uint8_t *sb, uint8_t *buf)
{
	struct dmg_target t = { .block = b, .role = b ? DR_SB_COPY : DR_SB };
	size_t n = b ? 2 : PD_ARRAY_SIZE(sb_trees);
	int r;

	if (!fetch(p, bd, b, t.role, sb))
		return b ? 0 : -EILSEQ;
	r = add_target(p, &t);
	for (size_t i = 0; i < n && !r; i++)
		r = plan_tree(p, bd, le64_get(sb + sb_trees[i].off), b,
			      sb_trees[i].tree, 0);
	if (!r && !b)
		r = plan_meta_index(p, bd, le64_get(sb + SBO_META_SM +
						    SM_ROOT_OFF_BITMAP_ROOT), buf);
	return r;
}

/* The trees a cache superblock roots (the dirty bitset in format 2). */
static const struct { unsigned off; enum dmg_tree tree; } csb_trees[] = {
	{ CSO_MAP_ROOT, DT_C_MAP },
	{ CSO_HINT_ROOT, DT_C_HINT },
	{ CSO_DISCARD_ROOT, DT_C_DISCARD },
	{ CSO_META_SM + SM_ROOT_OFF_REF_COUNT_ROOT, DT_META_RC },
	{ CSO_DIRTY_ROOT, DT_C_DIRTY },
};

/* dm-cache metadata: the superblock (in sb) and what it reaches. */
static int plan_cache(struct dmg_plan *p, struct bdev *bd, uint8_t *sb,
		      uint8_t *buf)
{
	struct dmg_target t = { .block = 0, .role = DR_CSB };
	size_t n = PD_ARRAY_SIZE(csb_trees);
	int r;

	p->cache = 1;
	p->cache_version = le32_get(sb + CSO_VERSION);
	p->cache_blocks = le32_get(sb + CSO_CACHE_BLOCKS);
	p->discard_nr_blocks = le64_get(sb + CSO_DISCARD_NR);
	p->map_root = le64_get(sb + CSO_MAP_ROOT);
	p->meta_nr_blocks = le64_get(sb + CSO_META_SM + SM_ROOT_OFF_NR_BLOCKS);
	if (p->cache_version < 2)
		n--;			/* no dirty bitset */
	r = add_target(p, &t);
	for (size_t i = 0; i < n && !r; i++)
		if (le64_get(sb + csb_trees[i].off))	/* hint_root 0: none */
			r = plan_tree(p, bd, le64_get(sb + csb_trees[i].off), 0,
				      csb_trees[i].tree, 0);
	if (!r)
		r = plan_meta_index(p, bd, le64_get(sb + CSO_META_SM +
						    SM_ROOT_OFF_BITMAP_ROOT), buf);
	return r;
}

int dmg_plan_build(struct bdev *bd, struct dmg_plan *p)
{
	uint8_t *sb = malloc(2 * PD_BLOCK_SIZE), *buf = sb + PD_BLOCK_SIZE;
	int r = -ENOMEM;

	memset(p, 0, sizeof(*p));
	p->nr_blocks = bdev_nr_blocks(bd);
	p->seen = calloc(p->nr_blocks ? p->nr_blocks : 1, 1);
	if (sb && p->seen && !bdev_read(bd, 0, sb) && block_is(sb, 0, DR_SB)) {
		p->map_root = le64_get(sb + SBO_MAP_ROOT);
		p->details_root = le64_get(sb + SBO_DETAILS_ROOT);
		p->data_nr_blocks = le64_get(sb + SBO_DATA_SM +
					     SM_ROOT_OFF_NR_BLOCKS);
		p->meta_nr_blocks = le64_get(sb + SBO_META_SM +
					     SM_ROOT_OFF_NR_BLOCKS);
		r = plan_superblock(p, bd, 0, sb, buf);
		if (!r && le64_get(sb + SBO_HELD))
			r = plan_superblock(p, bd, le64_get(sb + SBO_HELD), buf, buf);
	} else if (sb && p->seen && block_is(sb, 0, DR_CSB) &&
		   le64_get(sb + CSO_MAGIC) == CACHE_SUPERBLOCK_MAGIC) {
		r = plan_cache(p, bd, sb, buf);
	} else if (sb && p->seen) {
		r = -EILSEQ;
	}
	free(sb);
	if (r) {
		dmg_plan_free(p);
		return r;
	}
	qsort(p->t, p->nr, sizeof(*p->t), cmp_target);
	return 0;
}

void dmg_plan_free(struct dmg_plan *p)
{
	free(p->t);
	free(p->seen);
	*p = (struct dmg_plan) { .nr = 0 };
}

const struct dmg_target *dmg_plan_find(const struct dmg_plan *p, pd_block_t b)
{
	size_t lo = 0, hi = p->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->t[mid].block == b)
			return &p->t[mid];
		if (p->t[mid].block < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* --- the damage kinds ----------------------------------------------------- */

/* What a block is, for the kinds that fit it. */
enum dmg_class {
	DC_SB, DC_SB_COPY, DC_INDEX, DC_BITMAP, DC_INTERNAL,
	DC_LEAF_TOP,			/* values are subtree roots */
	DC_LEAF_MAP,			/* values are block_time */
	DC_LEAF_DETAILS, DC_LEAF_IE, DC_LEAF_RC,
	DC_LEAF_ARRAY,			/* values are array blocks (dm-cache) */
	DC_CSB,				/* the dm-cache superblock */
	DC_AB_MAP,			/* array blocks: mappings, */
	DC_AB_HINT,			/* hints, */
	DC_AB_BITS,			/* bitset words */
};
#define C(x) (1u << DC_##x)
#define C_LEAF (C(LEAF_TOP) | C(LEAF_MAP) | C(LEAF_DETAILS) | C(LEAF_IE) | \
		C(LEAF_RC) | C(LEAF_ARRAY))
#define C_NODE (C(INTERNAL) | C_LEAF)
#define C_PTR (C(INTERNAL) | C(LEAF_TOP) | C(LEAF_ARRAY))
#define C_IE (C(INDEX) | C(LEAF_IE))
#define C_SBS (C(SB) | C(SB_COPY))
#define C_AB (C(AB_MAP) | C(AB_HINT) | C(AB_BITS))
/* the blocks with their location at offset 8 */
#define C_ALL (C_NODE | C_SBS | C(INDEX) | C(BITMAP) | C(CSB))

static enum dmg_class class_of(const struct dmg_target *t)
{
	static const enum dmg_class leaf_class[] = {
		[DT_MAP_TOP] = DC_LEAF_TOP, [DT_MAP_BOTTOM] = DC_LEAF_MAP,
		[DT_DETAILS] = DC_LEAF_DETAILS, [DT_DATA_INDEX] = DC_LEAF_IE,
		[DT_DATA_RC] = DC_LEAF_RC, [DT_META_RC] = DC_LEAF_RC,
		[DT_C_MAP] = DC_LEAF_ARRAY, [DT_C_HINT] = DC_LEAF_ARRAY,
		[DT_C_DISCARD] = DC_LEAF_ARRAY, [DT_C_DIRTY] = DC_LEAF_ARRAY,
	};
	static const enum dmg_class role_class[DR_NR] = {
		[DR_SB] = DC_SB, [DR_SB_COPY] = DC_SB_COPY,
		[DR_INDEX] = DC_INDEX, [DR_BITMAP] = DC_BITMAP,
		[DR_CSB] = DC_CSB,
	};

	if (t->role == DR_ABLOCK)
		return t->tree == DT_C_MAP ? DC_AB_MAP :
		       t->tree == DT_C_HINT ? DC_AB_HINT : DC_AB_BITS;
	if (t->role != DR_NODE)
		return role_class[t->role];
	return t->leaf ? leaf_class[t->tree] : DC_INTERNAL;
}

/* Where a kind writes: a field of the block at a fixed offset, the last
 * or the first value of a node (a child pointer or subtree root: the
 * last is on the path of inserts past the highest key, the first on the
 * path of the lowest), a field of the first
 * space-map index entry, the first leaf value of a tree's value size, or
 * somewhere only its own function knows. */
enum dmg_where { W_LE32, W_LE64, W_CHILD, W_CHILD0, W_IE32, W_IE64,
		 W_VALUE32, W_VALUE64, W_SPECIAL };

/* What it writes there. */
enum dmg_val {
	V_ZERO, V_ONE, V_TWO, V_THREE, V_INC, V_U32_MAX, V_U64_MAX,
	V_END,			/* the first block past the device */
	V_SELF, V_NEXT,		/* the block itself, the one after it */
	V_PARENT,		/* what points at the block (not the superblock) */
	V_SIBLING,		/* the node's value before the last one */
	V_OTHER,		/* another btree node (other_node) */
	V_SB_MAP, V_SB_DETAILS,	/* the block's own (super)block roots */
	V_MAP_ROOT,		/* the live mapping root */
	V_MAX_USED,		/* the highest metadata block in use */
	V_DATA_LAST,		/* the highest data block mapped */
	V_META_HUGE,		/* one more block than 255 bitmaps hold */
	V_MAGIC1,		/* the superblock magic + 1 */
	V_NR_OVER,		/* max_entries + 1 */
	V_MAX_BIG,		/* one entry more than the block holds */
	V_NR_SMALL,		/* max_entries = nr_entries (>= 3) */
	V_BOTH_FLAGS, V_SWAP_FLAGS, V_OTHER_VSIZE,
	V_BITMAP_OVER,		/* one more entry than a bitmap holds */
	V_DATA_END,		/* block_time naming the first data block past
				 * the end */
	V_DEC,			/* the value - 1 */
	V_PLUS_WORD,		/* the value + 64 (one more bitset word) */
	V_CSB_DISCARD,		/* the cache superblock's discard root */
	V_NEEDS_CHECK,		/* the flags with NEEDS_CHECK set */
	V_DATA_NR_OVER,		/* the data block count + 1 */
	V_BIT40,		/* the value with bit 40 set */
	V_CHILD1,		/* the node's second value (child 1) */
	V_FIT,			/* fitting_internal() */
};

/* Everything a kind may look at: the plan, the target, its block. */
struct dmg_at {
	const struct dmg_plan *p;
	const struct dmg_target *t;
	const struct dmg_kind *k;
	uint8_t *d;
	uint32_t nr, max, vs;		/* nodes */
};

/* A special kind returns 0 when it changed the block, -1 when it does not
 * fit this block. */
typedef int (*dmg_fn)(struct dmg_at *a);

struct dmg_kind {
	const char *name, *what;
	unsigned classes;		/* C(...) bits it fits */
	enum dmg_where where;
	unsigned off;			/* W_LE*, W_IE*: byte offset */
	enum dmg_val val;
	dmg_fn fn;			/* W_SPECIAL */
	int raw;			/* the checksum is left as it was */
};

/* Another btree node of the plan: the first in block order that is not
 * the target, its parent or the child it points at; else 0. */
static pd_block_t other_node(const struct dmg_at *a, pd_block_t child)
{
	for (size_t i = 0; i < a->p->nr; i++) {
		const struct dmg_target *t = &a->p->t[i];

		if (t->role == DR_NODE && t->block != a->t->block &&
		    t->block != a->t->parent && t->block != child)
			return t->block;
	}
	return 0;
}

/* Another internal node of the target's kind of tree whose keys all lie
 * in the range the target gives its first child, [key 0, key 1): the
 * first in block order that is not the target, its parent or that child;
 * else 0.  Put there, the tree stays in order but gains a level on the
 * left: leaves at two depths. */
static pd_block_t fitting_internal(const struct dmg_at *a, pd_block_t child)
{
	uint64_t lo = le64_get(a->d + NO_KEYS), hi = le64_get(a->d + NO_KEYS + 8);

	for (size_t i = 0; a->nr >= 2 && i < a->p->nr; i++) {
		const struct dmg_target *t = &a->p->t[i];

		if (t->role == DR_NODE && !t->leaf && t->has_keys &&
		    t->tree == a->t->tree && t->block != a->t->block &&
		    t->block != a->t->parent && t->block != child &&
		    t->key_lo >= lo && t->key_hi < hi)
			return t->block;
	}
	return 0;
}

/* The value to write where cur is (the place's own neighbour for
 * V_SIBLING).  0, or -1 if there is none for this block. */
static int value_of(const struct dmg_at *a, const uint8_t *where, uint64_t cur,
		    uint64_t *v)
{
	const struct dmg_plan *p = a->p;

	*v = 0;
	switch (a->k->val) {
	case V_ZERO:	*v = 0; break;
	case V_ONE:	*v = 1; break;
	case V_TWO:	*v = 2; break;
	case V_THREE:	*v = 3; break;
	case V_INC:	*v = cur + 1; break;
	case V_U32_MAX:	*v = UINT32_MAX; break;
	case V_U64_MAX:	*v = UINT64_MAX; break;
	case V_END:	*v = p->nr_blocks; break;
	case V_SELF:	*v = a->t->block; break;
	case V_NEXT:	*v = a->t->block + 1; break;
	case V_PARENT:	*v = a->t->parent; break;
	case V_SIBLING:	*v = a->nr >= 2 ? le64_get(where - 8) : 0; break;
	case V_OTHER:	*v = other_node(a, cur); break;
	case V_SB_MAP:	*v = le64_get(a->d + SBO_MAP_ROOT); break;
	case V_SB_DETAILS: *v = le64_get(a->d + SBO_DETAILS_ROOT); break;
	case V_MAP_ROOT: *v = p->map_root; break;
	case V_MAX_USED: *v = p->max_used; break;
	case V_DATA_LAST: *v = p->data_used ? p->data_used - 1 : 0; break;
	case V_META_HUGE: *v = SM_METADATA_MAX_BLOCKS + 1; break;
	case V_MAGIC1:	*v = THIN_SUPERBLOCK_MAGIC + 1; break;
	case V_NR_OVER:	*v = a->max + 1; break;
	case V_MAX_BIG:	*v = (PD_BLOCK_SIZE - NO_KEYS) / (8 + a->vs) + 1; break;
	case V_NR_SMALL: *v = a->nr >= 3 ? a->nr : 0; break;
	case V_BOTH_FLAGS: *v = BT_INTERNAL_NODE | BT_LEAF_NODE; break;
	case V_SWAP_FLAGS: *v = a->t->leaf ? BT_INTERNAL_NODE : BT_LEAF_NODE; break;
	case V_OTHER_VSIZE: *v = a->vs == 8 ? 4 : 8; break;
	case V_BITMAP_OVER: *v = SM_ENTRIES_PER_BLOCK + 1; break;
	case V_DATA_END: *v = p->data_nr_blocks << 24 | (cur & 0xffffff); break;
	case V_DEC:	*v = cur ? cur - 1 : cur; break;
	case V_PLUS_WORD: *v = cur + 64; break;
	case V_CSB_DISCARD: *v = le64_get(a->d + CSO_DISCARD_ROOT); break;
	case V_NEEDS_CHECK: *v = cur | CACHE_FLAG_NEEDS_CHECK; break;
	case V_DATA_NR_OVER: *v = p->data_nr_blocks + 1; break;
	case V_BIT40:	*v = cur | 1ull << 40; break;
	case V_CHILD1:	*v = a->nr >= 2 ? le64_get(where + 8) : 0; break;
	case V_FIT:	*v = fitting_internal(a, cur); break;
	}
	/* the kinds that name a block or a count that may not exist */
	if (!*v && (a->k->val == V_PARENT || a->k->val == V_SIBLING ||
		    a->k->val == V_OTHER || a->k->val == V_DATA_LAST ||
		    a->k->val == V_NR_SMALL || a->k->val == V_CHILD1 ||
		    a->k->val == V_FIT))
		return -1;
	if (a->k->val == V_DATA_LAST && !p->data_used)
		return -1;
	return *v == cur ? -1 : 0;
}

/* Where the kind writes in this block, or NULL if the block has no such
 * place (an empty node, another value size). */
static uint8_t *place_of(const struct dmg_at *a)
{
	const uint8_t *vals = a->d + NO_KEYS + 8u * a->max;
	int node_ok = a->nr && a->nr <= a->max;

	switch (a->k->where) {
	case W_LE32:
	case W_LE64:
		return a->d + a->k->off;
	case W_CHILD:
		return node_ok && a->vs == 8 ?
		       (uint8_t *)vals + 8u * (a->nr - 1) : NULL;
	case W_CHILD0:
		return node_ok && a->vs == 8 ? (uint8_t *)vals : NULL;
	case W_IE32:
	case W_IE64:
		if (a->t->role == DR_INDEX)
			return a->d + SM_INDEX_OFF_ENTRIES + a->k->off;
		return node_ok && a->vs == 16 ? (uint8_t *)vals + a->k->off : NULL;
	case W_VALUE32:
	case W_VALUE64:
		return node_ok && a->vs == a->k->off ? (uint8_t *)vals : NULL;
	default:
		return NULL;
	}
}

static int put(struct dmg_at *a)
{
	uint8_t *at = place_of(a);
	int wide = a->k->where != W_LE32 && a->k->where != W_IE32 &&
		   a->k->where != W_VALUE32;
	uint64_t v;

	if (!at || value_of(a, at, wide ? le64_get(at) : le32_get(at), &v))
		return -1;
	if (wide)
		le64_put(at, v);
	else
		le32_put(at, (uint32_t)v);
	return 0;
}

/* one bit of the payload flipped, the checksum not recomputed */
static int k_flip(struct dmg_at *a)
{
	a->d[a->k->off] ^= 1;
	return 0;
}

/* the whole block zeroed (a lost or discarded block) */
static int k_zero(struct dmg_at *a)
{
	memset(a->d, 0, PD_BLOCK_SIZE);
	return 0;
}

/* An internal node left with one entry whose child is the node's own
 * parent (a single-entry node is what remove absorbs, and through a
 * parent that is a leaf of 8-byte values, the top level's, a lookup
 * still goes). */
static int k_one_child_parent(struct dmg_at *a)
{
	if (a->nr < 2 || a->nr > a->max || a->vs != 8 || !a->t->parent)
		return -1;
	le32_put(a->d + NO_NR, 1);
	le64_put(a->d + NO_KEYS + 8u * a->max, a->t->parent);
	return 0;
}

static int k_keys_swap(struct dmg_at *a)
{
	uint64_t k0 = le64_get(a->d + NO_KEYS), k1 = le64_get(a->d + NO_KEYS + 8);

	if (a->nr < 2 || a->nr > a->max)
		return -1;
	le64_put(a->d + NO_KEYS, k1);
	le64_put(a->d + NO_KEYS + 8, k0);
	return 0;
}

/* An internal node's first key raised by one, still below its second:
 * the lowest key of its first child falls below the range the node
 * gives that child.  A lookup of it still takes child 0 (nothing lies
 * left of it), the remove's descent finds no slot for it. */
static int k_key0_raised(struct dmg_at *a)
{
	uint64_t k0 = le64_get(a->d + NO_KEYS), k1 = le64_get(a->d + NO_KEYS + 8);

	if (a->nr < 2 || a->nr > a->max || k0 + 1 >= k1)
		return -1;
	le64_put(a->d + NO_KEYS, k0 + 1);
	return 0;
}

static int k_key_dup(struct dmg_at *a)
{
	uint8_t *last = a->d + NO_KEYS + 8u * (a->nr - 1);

	if (a->nr < 2 || a->nr > a->max)
		return -1;
	le64_put(last, le64_get(last - 8));
	return 0;
}

/* an unused slot of the metadata index: nothing reads it */
static int k_ie_unused(struct dmg_at *a)
{
	uint8_t *e = a->d + SM_INDEX_OFF_ENTRIES + 16u * (SM_MAX_METADATA_BITMAPS - 1);

	if (a->p->meta_nr_blocks >
	    (uint64_t)(SM_MAX_METADATA_BITMAPS - 1) * SM_ENTRIES_PER_BLOCK)
		return -1;
	le64_put(e + SM_IE_OFF_BLOCKNR, a->t->block);
	return 0;
}

/* bitmaps: the 2-bit entry i (high bit at 2k, low at 2k+1 of word i/32) */
static unsigned bm_get(const uint8_t *d, uint64_t i)
{
	uint64_t w = le64_get(d + SM_BITMAP_HEADER_SIZE + 8 * (i / 32));
	unsigned k = (unsigned)(i % 32);

	return (unsigned)(((w >> (2 * k)) & 1) << 1 | ((w >> (2 * k + 1)) & 1));
}

static void bm_set(uint8_t *d, uint64_t i, unsigned v)
{
	uint8_t *p = d + SM_BITMAP_HEADER_SIZE + 8 * (i / 32);
	uint64_t w = le64_get(p);
	unsigned k = (unsigned)(i % 32);

	w &= ~(3ull << (2 * k));
	w |= (uint64_t)((v >> 1) & 1) << (2 * k) | (uint64_t)(v & 1) << (2 * k + 1);
	le64_put(p, w);
}

/* The first entry of the bitmap, inside its space map, holding count
 * a->k->off becomes a->k->val (V_ZERO, V_ONE or V_THREE). */
static int k_bitmap(struct dmg_at *a)
{
	unsigned to = a->k->val == V_ZERO ? 0 : a->k->val == V_ONE ? 1 : 3;
	uint64_t base = a->t->bitmap_index * SM_ENTRIES_PER_BLOCK;
	uint64_t n = a->t->sm_nr_blocks > base ? a->t->sm_nr_blocks - base : 0;

	if (n > SM_ENTRIES_PER_BLOCK)
		n = SM_ENTRIES_PER_BLOCK;
	for (uint64_t i = 0; i < n; i++) {
		if (bm_get(a->d, i) == a->k->off) {
			bm_set(a->d, i, to);
			return 0;
		}
	}
	return -1;
}

/* dm-cache array blocks: the value i of the block. */
static uint8_t *ab_val(struct dmg_at *a, uint32_t i)
{
	return a->d + ARRAY_BLOCK_HEADER_SIZE + (size_t)i * a->vs;
}

/* A mapping value of the block (a->k->off says which change): 0, or -1
 * if the block has no entry it fits. */
enum { AM_FLAGS = 1, AM_DUP, AM_UNMAPPED, AM_DIRTY2, AM_ONES };

static int k_ab_map(struct dmg_at *a)
{
	uint32_t first = UINT32_MAX;

	if (a->vs != 8 || a->nr > a->max ||
	    (a->k->off == AM_DIRTY2 && a->p->cache_version != 2))
		return -1;
	for (uint32_t i = 0; i < a->nr; i++) {
		uint64_t v = le64_get(ab_val(a, i));

		switch (a->k->off) {
		case AM_ONES:
			le64_put(ab_val(a, i), UINT64_MAX);
			return 0;
		case AM_UNMAPPED:
			if (v)
				continue;
			le64_put(ab_val(a, i), 1ull << 16);
			return 0;
		}
		if (!(v & CACHE_M_VALID))
			continue;
		if (a->k->off == AM_FLAGS || a->k->off == AM_DIRTY2) {
			le64_put(ab_val(a, i), v | (a->k->off == AM_FLAGS ? 4 :
						    CACHE_M_DIRTY));
			return 0;
		}
		if (first == UINT32_MAX) {
			first = i;
			continue;
		}
		le64_put(ab_val(a, i), le64_get(ab_val(a, first)));
		return 0;
	}
	return -1;
}

/* A value slot past nr_entries of a block that is not full: all ones
 * (nothing reads it). */
static int k_ab_slack(struct dmg_at *a)
{
	if (a->nr >= a->max || !a->vs)
		return -1;
	memset(ab_val(a, a->nr), 0xff, a->vs);
	return 0;
}

/* The first bit past a bitset's length set, in its last word (nothing
 * reads it). */
static int k_bits_tail(struct dmg_at *a)
{
	uint64_t bits = a->t->tree == DT_C_DISCARD ? a->p->discard_nr_blocks :
			a->p->cache_blocks;
	uint64_t w = bits / 64;
	uint8_t *at;

	if (!(bits % 64) || a->vs != 8 || !a->max ||
	    a->t->bitmap_index != w / a->max || w % a->max >= a->nr)
		return -1;
	at = ab_val(a, (uint32_t)(w % a->max));
	le64_put(at, le64_get(at) | 1ull << (bits % 64));
	return 0;
}

#define KIND(name, what, classes, where, off, val) \
	{ name, what, classes, where, off, val, NULL, 0 }
#define SPECIAL(name, what, classes, fn, off, val) \
	{ name, what, classes, W_SPECIAL, off, val, fn, 0 }
#define ROOT(sm, field) (SBO_##sm + SM_ROOT_OFF_##field)
#define CROOT(field) (CSO_META_SM + SM_ROOT_OFF_##field)

static const struct dmg_kind kinds[] = {
	KIND("nr-over-max", "nr_entries = max_entries + 1", C_NODE, W_LE32,
	     NO_NR, V_NR_OVER),
	KIND("nr-huge", "nr_entries = 2^32 - 1", C_NODE, W_LE32, NO_NR,
	     V_U32_MAX),
	KIND("nr-zero", "nr_entries = 0", C_NODE, W_LE32, NO_NR, V_ZERO),
	KIND("max-zero", "max_entries = 0", C_NODE, W_LE32, NO_MAX, V_ZERO),
	KIND("max-too-big", "max_entries one more than the block holds for "
	     "the value size", C_NODE, W_LE32, NO_MAX, V_MAX_BIG),
	KIND("max-small", "max_entries = nr_entries (fits the block, not the "
	     "formula; the values move)", C_NODE, W_LE32, NO_MAX, V_NR_SMALL),
	KIND("flags-zero", "flags = 0 (neither internal nor leaf)", C_NODE,
	     W_LE32, NO_FLAGS, V_ZERO),
	KIND("flags-both", "flags = internal | leaf", C_NODE, W_LE32, NO_FLAGS,
	     V_BOTH_FLAGS),
	KIND("flags-swap", "an internal node says leaf, a leaf internal",
	     C_NODE, W_LE32, NO_FLAGS, V_SWAP_FLAGS),
	KIND("vsize-zero", "value_size = 0", C_NODE, W_LE32, NO_VSIZE, V_ZERO),
	KIND("vsize-other", "value_size = 4 (8 where it was not 8)", C_NODE,
	     W_LE32, NO_VSIZE, V_OTHER_VSIZE),
	KIND("padding", "the node header's padding word set (nothing reads "
	     "it)", C_NODE, W_LE32, NO_PADDING, V_U32_MAX),
	KIND("blocknr-other", "the block's location field names the next "
	     "block", C_ALL, W_LE64, 8, V_NEXT),
	{ "csum-bad", "a bit of the payload flipped, the checksum left as it "
	  "was (the only kinds whose checksum is not recomputed: this and "
	  "zero)", C_ALL | C_AB,
	  W_SPECIAL, PD_BLOCK_SIZE - 96, V_ZERO, k_flip, 1 },
	{ "zero", "the whole block zeroes, checksum too (a block lost or "
	  "discarded; an all-zero superblock reads as unformatted)",
	  C_ALL | C_AB,
	  W_SPECIAL, 0, V_ZERO, k_zero, 1 },
	SPECIAL("keys-swap", "keys 0 and 1 swapped (out of order)", C_NODE,
		k_keys_swap, 0, V_ZERO),
	SPECIAL("key-dup", "the last key = the one before it", C_NODE,
		k_key_dup, 0, V_ZERO),
	KIND("child-self", "the last child pointer (or subtree root) = the "
	     "node itself", C_PTR, W_CHILD, 0, V_SELF),
	KIND("child0-self", "the first child pointer = the node itself",
	     C_PTR, W_CHILD0, 0, V_SELF),
	KIND("child-parent", "the last child pointer = the node's parent",
	     C_PTR, W_CHILD, 0, V_PARENT),
	KIND("child-zero", "the last child pointer = block 0 (the "
	     "superblock)", C_PTR, W_CHILD, 0, V_ZERO),
	SPECIAL("one-child-parent", "nr_entries = 1 and that child = the "
		"node's parent", C(INTERNAL), k_one_child_parent, 0, V_ZERO),
	KIND("child0-next", "the first child pointer = the second (a node "
	     "shared within one tree, its keys above the first slot's range)",
	     C(INTERNAL), W_CHILD0, 0, V_CHILD1),
	KIND("child0-fit", "the first child pointer = another internal node "
	     "of the same kind of tree whose keys fit that child's range "
	     "(another device's root: a level more on the left, leaves at two "
	     "depths)", C(INTERNAL), W_CHILD0, 0, V_FIT),
	SPECIAL("key0-raised", "an internal node's first key + 1 (its first "
		"child's lowest key below the node's range for it)",
		C(INTERNAL), k_key0_raised, 0, V_ZERO),
	KIND("child0-zero", "the first child pointer = block 0 (the "
	     "superblock; a full last leaf's left sibling when the parent has "
	     "two)", C_PTR, W_CHILD0, 0, V_ZERO),
	KIND("child-end", "the last child pointer = the first block past the "
	     "end of the device", C_PTR, W_CHILD, 0, V_END),
	KIND("child0-end", "the first child pointer = the first block past "
	     "the end of the device", C_PTR, W_CHILD0, 0, V_END),
	KIND("child-max", "the last child pointer = 2^64 - 1", C_PTR, W_CHILD,
	     0, V_U64_MAX),
	KIND("child-sibling", "the last child pointer = the one before it (a "
	     "node shared within one tree)", C_PTR, W_CHILD, 0, V_SIBLING),
	KIND("child-other", "the last child pointer = another btree node of "
	     "the image (another tree's, or a cycle)", C_PTR, W_CHILD, 0,
	     V_OTHER),
	KIND("child0-other", "the first child pointer = another btree node of "
	     "the image", C_PTR, W_CHILD0, 0, V_OTHER),
	KIND("sb-magic", "magic + 1", C_SBS, W_LE64, SBO_MAGIC, V_MAGIC1),
	KIND("sb-map-end", "mapping root past the end of the device", C_SBS,
	     W_LE64, SBO_MAP_ROOT, V_END),
	KIND("sb-details-end", "details root past the end of the device",
	     C_SBS, W_LE64, SBO_DETAILS_ROOT, V_END),
	KIND("sb-map-zero", "mapping root = block 0", C_SBS, W_LE64,
	     SBO_MAP_ROOT, V_ZERO),
	KIND("sb-map-details", "mapping root = the details root (another "
	     "tree's node)", C_SBS, W_LE64, SBO_MAP_ROOT, V_SB_DETAILS),
	KIND("sb-dsm-index-end", "data space map index root past the end",
	     C(SB), W_LE64, ROOT(DATA_SM, BITMAP_ROOT), V_END),
	KIND("sb-dsm-rc-end", "data space map ref-count root past the end",
	     C(SB), W_LE64, ROOT(DATA_SM, REF_COUNT_ROOT), V_END),
	KIND("sb-msm-index-end", "metadata space map index block past the "
	     "end", C(SB), W_LE64, ROOT(META_SM, BITMAP_ROOT), V_END),
	KIND("sb-msm-index-node", "metadata space map index block = the "
	     "mapping root (a btree node)", C(SB), W_LE64,
	     ROOT(META_SM, BITMAP_ROOT), V_SB_MAP),
	KIND("sb-msm-rc-end", "metadata space map ref-count root past the "
	     "end", C(SB), W_LE64, ROOT(META_SM, REF_COUNT_ROOT), V_END),
	KIND("sb-meta-nr-small", "metadata block count = the highest block in "
	     "use (smaller than used)", C(SB), W_LE64, ROOT(META_SM, NR_BLOCKS),
	     V_MAX_USED),
	KIND("sb-meta-nr-zero", "metadata block count = 0", C(SB), W_LE64,
	     ROOT(META_SM, NR_BLOCKS), V_ZERO),
	KIND("sb-meta-nr-huge", "metadata block count one more than 255 "
	     "bitmaps hold", C(SB), W_LE64, ROOT(META_SM, NR_BLOCKS),
	     V_META_HUGE),
	KIND("sb-meta-alloc", "metadata nr_allocated + 1", C(SB), W_LE64,
	     ROOT(META_SM, NR_ALLOCATED), V_INC),
	KIND("sb-data-nr-small", "data block count = the highest mapped data "
	     "block (smaller than used)", C(SB), W_LE64,
	     ROOT(DATA_SM, NR_BLOCKS), V_DATA_LAST),
	KIND("sb-data-bs-zero", "data block size = 0", C(SB), W_LE32,
	     SBO_DATA_BLOCK_SIZE, V_ZERO),
	KIND("sb-held-end", "held metadata snapshot root past the end", C(SB),
	     W_LE64, SBO_HELD, V_END),
	KIND("sb-held-node", "held root = the mapping root (a btree node, not "
	     "a superblock copy)", C(SB), W_LE64, SBO_HELD, V_SB_MAP),
	KIND("sb-incompat", "an unknown incompat feature flag", C(SB), W_LE32,
	     SBO_INCOMPAT, V_ONE),
	KIND("sb-compat-ro", "an unknown compat_ro feature flag (a read-write "
	     "open must refuse it)", C(SB), W_LE32, SBO_COMPAT_RO, V_ONE),
	KIND("sb-data-alloc-over", "data nr_allocated = nr_blocks + 1", C(SB),
	     W_LE64, ROOT(DATA_SM, NR_ALLOCATED), V_DATA_NR_OVER),
	KIND("sb-data-nr-bit40", "data block count with bit 40 set (a flipped "
	     "bit: more data blocks than the 40 bits of a mapping name)", C(SB),
	     W_LE64, ROOT(DATA_SM, NR_BLOCKS), V_BIT40),
	KIND("ie-free-zero", "index entry 0: nr_free = 0", C_IE, W_IE32,
	     SM_IE_OFF_NR_FREE, V_ZERO),
	KIND("ie-free-over", "index entry 0: nr_free = 16321 (more than a "
	     "bitmap holds)", C_IE, W_IE32, SM_IE_OFF_NR_FREE, V_BITMAP_OVER),
	KIND("ie-free-inc", "index entry 0: nr_free + 1", C_IE, W_IE32,
	     SM_IE_OFF_NR_FREE, V_INC),
	KIND("ie-nfb-over", "index entry 0: none_free_before = 16321", C_IE,
	     W_IE32, SM_IE_OFF_NONE_FREE_BEFORE, V_BITMAP_OVER),
	KIND("ie-bitmap-end", "index entry 0: bitmap past the end of the "
	     "device", C_IE, W_IE64, SM_IE_OFF_BLOCKNR, V_END),
	KIND("ie-bitmap-zero", "index entry 0: bitmap = block 0", C_IE, W_IE64,
	     SM_IE_OFF_BLOCKNR, V_ZERO),
	KIND("ie-bitmap-node", "index entry 0: bitmap = a btree node (the "
	     "mapping root)", C_IE, W_IE64, SM_IE_OFF_BLOCKNR, V_MAP_ROOT),
	SPECIAL("ie-unused", "an unused slot of the metadata index (nothing "
		"reads it)", C(INDEX), k_ie_unused, 0, V_ZERO),
	SPECIAL("bm-used-to-free", "the first count-1 entry of a bitmap = 0",
		C(BITMAP), k_bitmap, 1, V_ZERO),
	SPECIAL("bm-free-to-used", "the first free entry of a bitmap = 1",
		C(BITMAP), k_bitmap, 0, V_ONE),
	SPECIAL("bm-one-to-three", "the first count-1 entry = 3 with no "
		"ref-count entry", C(BITMAP), k_bitmap, 1, V_THREE),
	KIND("rc-below-three", "a ref-count tree value = 2", C(LEAF_RC),
	     W_VALUE32, 4, V_TWO),
	KIND("rc-zero", "a ref-count tree value = 0", C(LEAF_RC), W_VALUE32, 4,
	     V_ZERO),
	KIND("details-mapped", "a device's mapped_blocks + 1", C(LEAF_DETAILS),
	     W_VALUE64, 24, V_INC),
	KIND("map-data-end", "a mapping's data block = the first past the end "
	     "of the data device", C(LEAF_MAP), W_VALUE64, 8, V_DATA_END),
	/* dm-cache: the superblock */
	KIND("csb-magic", "cache superblock: magic + 1", C(CSB), W_LE64,
	     CSO_MAGIC, V_INC),
	KIND("csb-version-zero", "cache superblock: version = 0", C(CSB),
	     W_LE32, CSO_VERSION, V_ZERO),
	KIND("csb-version-three", "cache superblock: version = 3", C(CSB),
	     W_LE32, CSO_VERSION, V_THREE),
	KIND("csb-hint-size", "cache superblock: policy_hint_size = 3", C(CSB),
	     W_LE32, CSO_HINT_SIZE, V_THREE),
	KIND("csb-needs-check", "cache superblock: the NEEDS_CHECK flag set",
	     C(CSB), W_LE32, CSO_FLAGS, V_NEEDS_CHECK),
	KIND("csb-map-end", "cache superblock: mapping root past the end of "
	     "the device", C(CSB), W_LE64, CSO_MAP_ROOT, V_END),
	KIND("csb-map-zero", "cache superblock: mapping root = block 0",
	     C(CSB), W_LE64, CSO_MAP_ROOT, V_ZERO),
	KIND("csb-map-discard", "cache superblock: mapping root = the discard "
	     "root (another array's tree)", C(CSB), W_LE64, CSO_MAP_ROOT,
	     V_CSB_DISCARD),
	KIND("csb-hint-end", "cache superblock: hint root past the end",
	     C(CSB), W_LE64, CSO_HINT_ROOT, V_END),
	KIND("csb-discard-end", "cache superblock: discard root past the end",
	     C(CSB), W_LE64, CSO_DISCARD_ROOT, V_END),
	KIND("csb-dirty-end", "cache superblock: dirty root past the end (read "
	     "in format 2 only)", C(CSB), W_LE64, CSO_DIRTY_ROOT, V_END),
	KIND("csb-cblocks-inc", "cache superblock: cache_blocks + 1", C(CSB),
	     W_LE32, CSO_CACHE_BLOCKS, V_INC),
	KIND("csb-cblocks-zero", "cache superblock: cache_blocks = 0", C(CSB),
	     W_LE32, CSO_CACHE_BLOCKS, V_ZERO),
	KIND("csb-discard-nr-word", "cache superblock: discard_nr_blocks + 64 "
	     "(one bitset word more than stored)", C(CSB), W_LE64,
	     CSO_DISCARD_NR, V_PLUS_WORD),
	KIND("csb-data-bs-zero", "cache superblock: data_block_size = 0",
	     C(CSB), W_LE32, CSO_DATA_BS, V_ZERO),
	KIND("csb-meta-bs-zero", "cache superblock: metadata_block_size = 0",
	     C(CSB), W_LE32, CSO_META_BS, V_ZERO),
	KIND("csb-incompat", "cache superblock: an unknown incompat flag",
	     C(CSB), W_LE32, CSO_INCOMPAT, V_ONE),
	KIND("csb-compat-ro", "cache superblock: an unknown compat_ro flag",
	     C(CSB), W_LE32, CSO_COMPAT_RO, V_ONE),
	KIND("csb-msm-index-end", "cache superblock: metadata space map index "
	     "block past the end", C(CSB), W_LE64, CROOT(BITMAP_ROOT), V_END),
	KIND("csb-msm-index-node", "cache superblock: metadata space map index "
	     "block = the mapping root (a btree node)", C(CSB), W_LE64,
	     CROOT(BITMAP_ROOT), V_MAP_ROOT),
	KIND("csb-msm-rc-end", "cache superblock: metadata space map "
	     "ref-count root past the end", C(CSB), W_LE64,
	     CROOT(REF_COUNT_ROOT), V_END),
	KIND("csb-meta-nr-small", "cache superblock: metadata block count = "
	     "the highest block in use", C(CSB), W_LE64, CROOT(NR_BLOCKS),
	     V_MAX_USED),
	KIND("csb-meta-nr-zero", "cache superblock: metadata block count = 0",
	     C(CSB), W_LE64, CROOT(NR_BLOCKS), V_ZERO),
	KIND("csb-meta-nr-huge", "cache superblock: metadata block count one "
	     "more than 255 bitmaps hold", C(CSB), W_LE64, CROOT(NR_BLOCKS),
	     V_META_HUGE),
	KIND("csb-meta-alloc", "cache superblock: metadata nr_allocated + 1",
	     C(CSB), W_LE64, CROOT(NR_ALLOCATED), V_INC),
	/* dm-cache: array blocks */
	KIND("ab-max-zero", "array block: max_entries = 0", C_AB, W_LE32,
	     AO_MAX, V_ZERO),
	KIND("ab-max-inc", "array block: max_entries + 1", C_AB, W_LE32,
	     AO_MAX, V_INC),
	KIND("ab-nr-zero", "array block: nr_entries = 0", C_AB, W_LE32, AO_NR,
	     V_ZERO),
	KIND("ab-nr-over", "array block: nr_entries = max_entries + 1", C_AB,
	     W_LE32, AO_NR, V_NR_OVER),
	KIND("ab-nr-dec", "array block: nr_entries - 1", C_AB, W_LE32, AO_NR,
	     V_DEC),
	KIND("ab-vsize-zero", "array block: value_size = 0", C_AB, W_LE32,
	     AO_VSIZE, V_ZERO),
	KIND("ab-vsize-other", "array block: value_size = 4 (8 where it was "
	     "4)", C_AB, W_LE32, AO_VSIZE, V_OTHER_VSIZE),
	KIND("ab-blocknr-other", "array block: its location field (offset 16) "
	     "names the next block", C_AB, W_LE64, AO_BLOCKNR, V_NEXT),
	SPECIAL("ab-slack", "array block: the first slot past nr_entries of a "
		"block not full set to all ones (nothing reads it)", C_AB,
		k_ab_slack, 0, V_ZERO),
	SPECIAL("ab-map-flags", "mapping array: a mapping's flags get the "
		"unknown bit 4", C(AB_MAP), k_ab_map, AM_FLAGS, V_ZERO),
	SPECIAL("ab-map-dup", "mapping array: a mapping = the one before it "
		"(one origin block cached twice)", C(AB_MAP), k_ab_map, AM_DUP,
		V_ZERO),
	SPECIAL("ab-map-unmapped", "mapping array: an unmapped entry gets "
		"origin block 1 without the VALID flag", C(AB_MAP), k_ab_map,
		AM_UNMAPPED, V_ZERO),
	SPECIAL("ab-map-dirty2", "mapping array, format 2: a mapping gets the "
		"DIRTY flag (format 2 keeps dirty bits in their bitset)",
		C(AB_MAP), k_ab_map, AM_DIRTY2, V_ZERO),
	SPECIAL("ab-map-ones", "mapping array: the first entry = 2^64 - 1 "
		"(origin block 2^48 - 1, every flag)", C(AB_MAP), k_ab_map,
		AM_ONES, V_ZERO),
	SPECIAL("ab-bits-tail", "bitset: the first bit past its length set "
		"(nothing reads it)", C(AB_BITS), k_bits_tail, 0, V_ZERO),
};

#define NR_KINDS PD_ARRAY_SIZE(kinds)
_Static_assert(NR_KINDS <= DAMAGE_MAX_KINDS, "DAMAGE_MAX_KINDS is too small");

unsigned damage_nr_kinds(void)
{
	return (unsigned)NR_KINDS;
}

const char *damage_kind_name(unsigned k)
{
	return k < NR_KINDS ? kinds[k].name : "?";
}

const char *damage_kind_what(unsigned k)
{
	return k < NR_KINDS ? kinds[k].what : "?";
}

int dmg_kind_breaks_block(unsigned k)
{
	static const char *const own[] = {
		"csum-bad", "zero", "blocknr-other", "sb-magic",
	};

	for (size_t i = 0; i < PD_ARRAY_SIZE(own); i++)
		if (!strcmp(damage_kind_name(k), own[i]))
			return 1;
	return 0;
}

int dmg_kind_find(const char *name, size_t len)
{
	for (unsigned k = 0; k < NR_KINDS; k++)
		if (strlen(kinds[k].name) == len &&
		    !memcmp(kinds[k].name, name, len))
			return (int)k;
	return -1;
}

int dmg_apply(const struct dmg_plan *p, const struct dmg_target *t,
	      unsigned kind, uint8_t *blk)
{
	struct dmg_at a = { p, t, &kinds[kind < NR_KINDS ? kind : 0], blk,
			    0, 0, 0 };

	if (kind >= NR_KINDS || !(a.k->classes & (1u << class_of(t))))
		return -1;
	if (t->role == DR_NODE) {
		a.nr = le32_get(blk + NO_NR);
		a.max = le32_get(blk + NO_MAX);
		a.vs = le32_get(blk + NO_VSIZE);
		if (a.max != node_max_for(a.vs))
			return -1;		/* not a node of a committed tree */
	} else if (t->role == DR_ABLOCK) {
		a.nr = le32_get(blk + AO_NR);
		a.max = le32_get(blk + AO_MAX);
		a.vs = le32_get(blk + AO_VSIZE);
		if (!a.vs || a.max != array_max_entries(a.vs))
			return -1;		/* not a committed array block */
	}
	if (a.k->fn ? a.k->fn(&a) : put(&a))
		return -1;
	if (!a.k->raw)
		le32_put(blk, pd_block_csum(blk + 4, PD_BLOCK_SIZE - 4,
					    role_salt[t->role]));
	return 0;
}

pd_block_t dmg_zeroed_data_block(const struct dmg_target *t, unsigned kind,
				 const uint8_t *blk)
{
	uint64_t base = t->bitmap_index * SM_ENTRIES_PER_BLOCK;
	uint64_t n = t->sm_nr_blocks > base ? t->sm_nr_blocks - base : 0;

	if (kind >= NR_KINDS || kinds[kind].fn != k_bitmap ||
	    kinds[kind].off != 1 || kinds[kind].val != V_ZERO ||
	    t->role != DR_BITMAP || t->tree != DT_DATA_INDEX)
		return DMG_NO_BLOCK;
	if (n > SM_ENTRIES_PER_BLOCK)
		n = SM_ENTRIES_PER_BLOCK;
	for (uint64_t i = 0; i < n; i++)	/* as k_bitmap looks */
		if (bm_get(blk, i) == 1)
			return base + i;
	return DMG_NO_BLOCK;
}

/* --- ids -------------------------------------------------------------------- */

int damage_id_format(const struct damage_id *id, char *buf, size_t len)
{
	return snprintf(buf, len, "%s:s%" PRIu64 ":d%" PRIu64 ".%" PRIu64 ".%s:e0",
			id->name, id->seed, id->commit, (uint64_t)id->block,
			damage_kind_name(id->kind));
}

static int num(const char **s, const char *end, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;

	if (p == end || *p < '0' || *p > '9')
		return -EINVAL;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	*s = p;
	return 0;
}

int damage_id_parse(const char *text, struct damage_id *id, char *err,
		    size_t errlen)
{
	const char *f[5], *p, *end;
	size_t nf = 0;
	uint64_t block;
	int k;

	f[nf++] = text;
	for (p = text; *p; p++)
		if (*p == ':') {
			if (nf == 5)
				return 0;
			f[nf++] = p + 1;
		}
	if (nf != 4 || f[2][0] != 'd' || f[2][1] < '0' || f[2][1] > '9')
		return 0;
	memset(id, 0, sizeof(*id));
	if (f[1] - 1 - text <= 0 || (size_t)(f[1] - 1 - text) >= sizeof(id->name))
		goto bad;
	memcpy(id->name, text, (size_t)(f[1] - 1 - text));
	p = f[1] + 1;
	if (f[1][0] != 's' || num(&p, f[2] - 1, &id->seed) || p != f[2] - 1)
		goto bad;
	p = f[2] + 1;
	end = f[3] - 1;
	if (num(&p, end, &id->commit) || p == end || *p++ != '.' ||
	    num(&p, end, &block) || p == end || *p++ != '.')
		goto bad;
	id->block = block;
	k = dmg_kind_find(p, (size_t)(end - p));
	if (k < 0 || strcmp(f[3], "e0"))
		goto bad;
	id->kind = (unsigned)k;
	return 1;
bad:
	snprintf(err, errlen, "malformed damage id '%s': want NAME:sSEED:"
		 "dK.BLOCK.KIND:e0 (KIND one of the damage kinds of `pdcrash "
		 "--help`)", text);
	return -EINVAL;
}

/* --- recovery of one damaged image ---------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void say(struct dmg_result *out, enum damage_outcome o,
		const char *fmt, ...)
{
	va_list ap;

	out->outcome = o;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
}

/* What the exercise learns of the first devices before it changes them. */
#define EX_DEVS 4
/* The blocks past a device's highest that its remove_range asks for. */
#define EX_PAST 16

struct ex_dev {
	uint64_t id, n, lo, hi;
	pd_block_t lo_block, hi_block;
	uint64_t core_hi;		/* highest_mapped's answer, */
	int has_core_hi;		/* when the walk met no mapping */
	int core_has0;			/* the walk met no mapping, a lookup
					 * of block 0 found one */
	uint64_t *v;			/* the vblocks the walk met, in order */
	size_t nv, cap;			/* (nv < n: memory ran out) */
};

struct ex {
	struct client *cl;
	struct ex_dev dev[EX_DEVS];
	size_t nr;
	uint64_t max_id;
	pd_block_t nr_data;		/* the data device, as the walk saw it */
	int walked;			/* the walk went through: lookups must
					 * agree with it */
	int err;			/* the first core error, or 1 a wrong
					 * answer */
	int dead;			/* an abort failed: nothing more */
	char msg[300];
	pd_block_t zeroed;		/* a data block counted 0 by the damage
					 * (DMG_NO_BLOCK: none) */
	uint64_t z_dev, z_vblock;	/* its first mapping in the walk */
	uint64_t z_seen;		/* how many mappings the walk met */
	int silent;			/* its remove succeeded (SM4), or a
					 * data block past 40 bits was
					 * mapped (ex_probe_last_data) */
	char silent_msg[300];
};

static int ex_pool(void *ctx, const struct client_pool_info *info)
{
	struct ex *x = ctx;

	x->nr_data = info->nr_data_blocks;
	return 0;
}

static void ex_add_dev(struct ex *x, uint64_t id)
{
	if (!x->nr || id > x->max_id)
		x->max_id = id;
	if (x->nr < EX_DEVS)
		x->dev[x->nr++] = (struct ex_dev) { .id = id };
}

static int ex_dev_cb(void *ctx, const struct thin_dev_info *info)
{
	ex_add_dev(ctx, info->dev);
	return 0;
}

static int ex_map(void *ctx, uint64_t dev, uint64_t vblock, pd_block_t block,
		  uint32_t time)
{
	struct ex *x = ctx;

	(void)time;
	if (block == x->zeroed && !x->z_seen++) {
		x->z_dev = dev;
		x->z_vblock = vblock;
	}
	for (size_t i = 0; i < x->nr; i++) {
		struct ex_dev *d = &x->dev[i];

		if (d->id != dev)
			continue;
		if (!d->n++) {
			d->lo = vblock;
			d->lo_block = block;
		}
		if (d->nv + 1 == d->n &&
		    !grow_array(&d->v, &d->cap, d->nv, sizeof(*d->v)))
			d->v[d->nv++] = vblock;
		d->hi = vblock;
		d->hi_block = block;
	}
	return 0;
}

/* After each call, as dm-thin's caller does after a failed metadata
 * operation: note the first error, ask the failed pool what a status line
 * would (it must answer or fail cleanly), abort (the pool reopens from the
 * superblock) and go on with the next step.  Out of space is a path of
 * its own (README, "Running out of space"), not a finding. */
static void ex_done(struct ex *x, const char *what, int r)
{
	pd_block_t nr;
	uint64_t id;

	if (!r)
		return;
	if (r != -ENOSPC && !x->err) {
		x->err = r;
		snprintf(x->msg, sizeof(x->msg), "%s: %s", what, pd_strerror(r));
	}
	x->cl->ops->get_nr_metadata_blocks(x->cl, &nr);
	x->cl->ops->get_free_metadata_blocks(x->cl, &nr);
	x->cl->ops->get_trans_id(x->cl, &id);
	if (x->cl->ops->abort(x->cl))
		x->dead = 1;
}

/* A lookup that must find (dev, vblock) -> want_block, or nothing
 * (want_block UINT64_MAX), when the walk went through.  1 if it found a
 * mapping. */
static int ex_lookup(struct ex *x, uint64_t dev, uint64_t vblock,
		     uint64_t want_block)
{
	struct thin_lookup_result lr;
	int r = x->cl->ops->lookup(x->cl, dev, vblock, &lr);

	if (r && r != -ENODATA) {
		ex_done(x, "lookup", r);
		return 0;
	}
	if (!x->walked || x->err || (want_block == UINT64_MAX ? r == -ENODATA :
				     !r && lr.data_block == want_block))
		return !r;
	x->err = 1;
	snprintf(x->msg, sizeof(x->msg), "lookup of device %" PRIu64 " block %"
		 PRIu64 " gave %s%" PRIu64 ", the walk %s%" PRIu64, dev, vblock,
		 r ? "nothing" : "", r ? 0 : (uint64_t)lr.data_block,
		 want_block == UINT64_MAX ? "nothing" : "",
		 want_block == UINT64_MAX ? 0 : want_block);
	return !r;
}

/* The status-line and discard reads of one device: its highest mapped
 * block (find_key's descent to the right edge, which a lookup does not
 * take) and the mapped range from its lowest (bt_lookup_next); both must
 * agree with the walk when it went through.  The range asked is one
 * block, so the read costs two lookups whatever the device maps. */
static void ex_reads(struct ex *x, struct ex_dev *d)
{
	struct thin_mapped_range mr;
	uint64_t hi = 0;
	int r;

	r = x->cl->ops->highest_mapped(x->cl, d->id, &hi);
	if (!r && !d->n) {
		d->core_hi = hi;
		d->has_core_hi = 1;
	}
	if (r && r != -ENODATA) {
		ex_done(x, "highest_mapped", r);
	} else if (x->walked && !x->err && (d->n ? r || hi != d->hi : !r)) {
		x->err = 1;
		snprintf(x->msg, sizeof(x->msg), "highest_mapped of device %"
			 PRIu64 " gave %s%" PRIu64 ", the walk %s%" PRIu64, d->id,
			 r ? "nothing" : "", r ? 0 : hi, d->n ? "" : "nothing",
			 d->n ? d->hi : 0);
	}
	if (x->dead || !d->n || d->lo == UINT64_MAX)
		return;
	r = x->cl->ops->find_mapped_range(x->cl, d->id, d->lo, d->lo + 1, &mr);
	if (r && r != -ENODATA) {
		ex_done(x, "find_mapped_range", r);
	} else if (x->walked && !x->err &&
		   (r || mr.thin_begin != d->lo || mr.pool_begin != d->lo_block)) {
		x->err = 1;
		snprintf(x->msg, sizeof(x->msg), "find_mapped_range of device %"
			 PRIu64 " from block %" PRIu64 " gave %s%" PRIu64 " -> %"
			 PRIu64 ", the walk %" PRIu64 " -> %" PRIu64, d->id, d->lo,
			 r ? "nothing " : "", r ? 0 : mr.thin_begin,
			 r ? 0 : (uint64_t)mr.pool_begin, d->lo,
			 (uint64_t)d->lo_block);
	}
}

/* The mapped range past the highest block the walk met (from block 0
 * where it met none), to the end of the device: the cursor's descent to
 * the right of the walk's (where a walk stopped by damage stopped), and
 * its steps from leaf to leaf.  Nothing is mapped there when the walk
 * went through. */
static void ex_range_past(struct ex *x, const struct ex_dev *d)
{
	struct thin_mapped_range mr;
	uint64_t from = d->n ? d->hi + 1 : 0;
	int r;

	if (d->n && d->hi == UINT64_MAX)
		return;
	r = x->cl->ops->find_mapped_range(x->cl, d->id, from, UINT64_MAX, &mr);
	if (r && r != -ENODATA) {
		ex_done(x, "find_mapped_range", r);
	} else if (x->walked && !x->err && !r) {
		x->err = 1;
		snprintf(x->msg, sizeof(x->msg), "find_mapped_range of device %"
			 PRIu64 " from block %" PRIu64 " gave %" PRIu64 " -> %"
			 PRIu64 ", the walk nothing there", d->id, from,
			 mr.thin_begin, (uint64_t)mr.pool_begin);
	}
}

/* The status line's data counts (dm-thin's pool status): the free data
 * blocks are never more than the data device has, whatever the space
 * map's root says. */
static void ex_status(struct ex *x)
{
	pd_block_t nr = 0, nfree = 0;
	int r = x->cl->ops->get_nr_data_blocks(x->cl, &nr);

	if (!r)
		r = x->cl->ops->get_free_data_blocks(x->cl, &nfree);
	if (r) {
		ex_done(x, "get_free_data_blocks", r);
	} else if (nfree > nr && !x->err) {
		x->err = 1;
		snprintf(x->msg, sizeof(x->msg), "get_free_data_blocks gave %"
			 PRIu64 " of %" PRIu64 " data blocks", (uint64_t)nfree,
			 (uint64_t)nr);
	}
}

/*
 * The damage set the count of data block x->zeroed to 0 (bm-used-to-free).
 * When the walk met it mapped once and no metadata snapshot is held (its
 * leaf is then shared with nothing, so no shadowing incs it first), the
 * remove of that mapping decrements a count of 0, and the core must
 * refuse it (core/sm.h SM4, the Linux fix "dm space map: disallow
 * decrementing a reference count below zero").  A success means the
 * core went on silently over the damage.  An abort after either answer:
 * the rest of the exercise starts from the image as it was.
 */
static void ex_probe_zeroed(struct ex *x)
{
	pd_block_t held = 0;
	int r;

	if (x->zeroed == DMG_NO_BLOCK || !x->walked || x->z_seen != 1 ||
	    x->cl->ops->get_meta_snap(x->cl, &held) || held)
		return;
	r = x->cl->ops->remove(x->cl, x->z_dev, x->z_vblock);
	if (!r) {
		x->silent = 1;
		snprintf(x->silent_msg, sizeof(x->silent_msg), "the remove of "
			 "device %" PRIu64 " block %" PRIu64 ", mapped once to "
			 "data block %" PRIu64 " whose count the damage set to "
			 "0, succeeded: a count of 0 was decremented silently "
			 "(core/sm.h SM4)", x->z_dev, x->z_vblock,
			 (uint64_t)x->zeroed);
	}
	if (x->cl->ops->abort(x->cl))
		x->dead = 1;
}

/*
 * The last data block the pool says it has, mapped past the first
 * device's highest block (where the walk met nothing): the insert's
 * bound.  A mapping packs its data block into 40 bits, so a block past
 * them must be refused (-EINVAL) even below the pool's count (a count
 * damaged past 2^40: sb-data-nr-bit40); a success would map another
 * block than asked, silently, whatever the checker says of the image
 * (x->silent, as ex_probe_zeroed's).  Below them the insert succeeds and
 * a lookup finds it.  No data block was allocated for it: probes() aborts
 * after it.
 */
static void ex_probe_last_data(struct ex *x)
{
	const struct ex_dev *d = &x->dev[0];
	uint64_t v = d->n ? d->hi + 1 : 0;
	pd_block_t nr = 0;
	int past, r;

	if (!x->nr || (d->n && d->hi == UINT64_MAX) ||
	    x->cl->ops->get_nr_data_blocks(x->cl, &nr) || !nr)
		return;
	past = nr - 1 >= 1ull << 40;
	r = x->cl->ops->insert(x->cl, d->id, v, nr - 1);
	if (r && r != -EINVAL) {
		ex_done(x, "insert", r);
		return;
	}
	if (past && !r) {
		x->silent = 1;
		snprintf(x->silent_msg, sizeof(x->silent_msg), "the insert of "
			 "device %" PRIu64 " block %" PRIu64 " -> data block %"
			 PRIu64 ", the last of the pool's %" PRIu64 " but past "
			 "the 40 bits a mapping holds, succeeded", d->id, v,
			 (uint64_t)nr - 1, (uint64_t)nr);
	} else if (!past && r && !x->err) {
		x->err = 1;
		snprintf(x->msg, sizeof(x->msg), "insert of device %" PRIu64
			 " block %" PRIu64 " -> data block %" PRIu64 ", the "
			 "last of %" PRIu64 ", refused: %s", d->id, v,
			 (uint64_t)nr - 1, (uint64_t)nr, pd_strerror(r));
	} else if (!r) {
		ex_lookup(x, d->id, v, nr - 1);
	}
}

/* The remove of the walk's middle mapping: a descent through a middle
 * child, which rebalances three siblings (the removes of the lowest and
 * the highest take edge children).  The walk met it: when the walk went
 * through, the remove must take it and a lookup then find nothing. */
static void ex_remove_mid(struct ex *x, const struct ex_dev *d)
{
	uint64_t mid;
	int r;

	if (d->n < 3 || d->nv != d->n)
		return;
	mid = d->v[d->n / 2];
	r = x->cl->ops->remove(x->cl, d->id, mid);
	if (!r) {
		ex_lookup(x, d->id, mid, UINT64_MAX);
	} else if (r != -ENODATA) {
		ex_done(x, "remove", r);
	} else if (x->walked && !x->err) {
		x->err = 1;
		snprintf(x->msg, sizeof(x->msg), "remove of device %" PRIu64
			 " block %" PRIu64 " (the middle mapping the walk met) "
			 "found nothing", d->id, mid);
	}
}

static void ex_change_dev(struct ex *x, const struct ex_dev *d)
{
	uint64_t nr;
	pd_block_t b;
	int r;

	/* a few blocks past the walk's highest: bt_lookup_next's step right
	 * of its path, where nothing is mapped when the walk went through */
	if (d->n && d->hi < UINT64_MAX - EX_PAST) {
		r = x->cl->ops->remove_range(x->cl, d->id, d->hi + 1,
					     d->hi + 1 + EX_PAST, &nr);
		if (!r && nr && x->walked && !x->err) {
			x->err = 1;
			snprintf(x->msg, sizeof(x->msg), "remove_range of device %"
				 PRIu64 " past block %" PRIu64 " removed %" PRIu64
				 ", the walk met nothing there", d->id, d->hi, nr);
		}
		ex_done(x, "remove_range", r);
	}
	if (x->dead)
		return;
	/* where the walk met none of the device's mappings but a lookup of
	 * block 0 found one: its remove descends as the lookup did only if
	 * the nodes on the way hold it in the range they give it */
	if (d->core_has0)
		ex_done(x, "remove", x->cl->ops->remove(x->cl, d->id, 0));
	if (x->dead)
		return;
	r = x->cl->ops->alloc_data_block(x->cl, &b);
	if (!r && (!d->n || d->hi < UINT64_MAX))
		r = x->cl->ops->insert(x->cl, d->id, d->n ? d->hi + 1 : 0, b);
	ex_done(x, "insert", r);
	/* where the walk met none of the device's mappings (damage on the
	 * left of its tree), also past the highest the core answered: that
	 * insert goes down the right of the tree, past the damage */
	if (!x->dead && !d->n && d->has_core_hi && d->core_hi < UINT64_MAX) {
		r = x->cl->ops->alloc_data_block(x->cl, &b);
		if (!r)
			r = x->cl->ops->insert(x->cl, d->id, d->core_hi + 1, b);
		ex_done(x, "insert", r);
	}
	/* and the one mapping the core named there is removed */
	if (!x->dead && !d->n && d->has_core_hi)
		ex_done(x, "remove", x->cl->ops->remove(x->cl, d->id, d->core_hi));
	if (!x->dead && d->n)
		ex_done(x, "remove", x->cl->ops->remove(x->cl, d->id, d->lo));
	if (!x->dead && d->n)
		ex_done(x, "remove_range", x->cl->ops->remove_range(x->cl, d->id,
			d->lo, d->lo + (d->hi - d->lo) / 2 + 1, &nr));
}

static void ex_walk(struct ex *x)
{
	static const struct client_walker walker = { ex_pool, ex_dev_cb, ex_map };
	int r = x->cl->ops->walk(x->cl, &walker, x);

	x->walked = !r;
	ex_done(x, "walk", r);
}

/* Where the walk did not go through, the devices from the device list;
 * that walks the mapping tree's top level: when that is damaged, ask the
 * details tree for the first few ids instead. */
static void ex_find_devs(struct ex *x)
{
	struct client *cl = x->cl;
	uint64_t *devs = NULL;
	size_t nr_devs = 0;
	int r;

	if (!x->dead && !x->walked) {
		r = cl->ops->list_devs(cl, &devs, &nr_devs);
		ex_done(x, "list_devs", r);
		for (size_t i = 0; !r && i < nr_devs; i++)
			if (!x->nr || devs[i] > x->dev[x->nr - 1].id)
				ex_add_dev(x, devs[i]);
		free(devs);
	}
	for (uint64_t id = 0; !x->dead && !x->nr && id < EX_DEVS; id++) {
		struct thin_dev_info info;

		r = cl->ops->dev_info(cl, id, &info);
		if (!r)
			ex_add_dev(x, id);
		else if (r != -ENODATA)
			ex_done(x, "dev_info", r);
	}
}

/* The answer of an exercise or of the probes. */
static int ex_end(struct ex *x, char *msg, size_t len, int *silent)
{
	*silent = x->silent;
	snprintf(msg, len, "%s", x->silent ? x->silent_msg : x->msg);
	for (size_t i = 0; i < x->nr; i++)
		free(x->dev[i].v);
	return x->err;
}

/*
 * The exercise (damage.h): the core's check of its trees and its count
 * audit, the devices (the walk, else the device list, else the details
 * of ids 0..EX_DEVS-1), the status line's free data count (ex_status), lookups
 * of each one's lowest, highest and one past the highest mapped block
 * (they must agree with the walk when it went through), its highest
 * mapped block and the mapped range from its lowest (ex_reads) and from
 * past its highest (ex_range_past), the probe of a count of 0
 * (ex_probe_zeroed), a remove_range past the highest, the remove of
 * block 0 where only the lookup found it,
 * an insert past the highest, removes of the lowest and of a range, a
 * snapshot of the first, a delete of the last, the held metadata
 * snapshot released (or one reserved), a data device resize and a
 * commit; after a failed step an abort, and on.  0, 1 a wrong answer,
 * or the first -errno; msg says which step.
 */
static int exercise(struct client *cl, pd_block_t zeroed, char *msg,
		    size_t len, int *silent)
{
	struct ex x = { .cl = cl, .zeroed = zeroed };
	pd_block_t held = 0;
	int r;

	/* the core's own check of its trees (bt_check's key ranges,
	 * occupancy and leaf depths, TH2), which recovery runs only on an
	 * image core/check.c passes */
	if (cl->ops->check_trees)
		ex_done(&x, "check_trees", cl->ops->check_trees(cl));
	/* and its audit of the counts against the trees (thin.h TH7): a
	 * damaged bitmap or ref-count tree shows there before any walk */
	if (cl->ops->check_counts && !x.dead)
		ex_done(&x, "check_counts", cl->ops->check_counts(cl));
	ex_walk(&x);
	if (!x.dead)
		ex_status(&x);
	ex_find_devs(&x);
	for (size_t i = 0; i < x.nr && !x.dead; i++) {
		struct ex_dev *d = &x.dev[i];

		r = ex_lookup(&x, d->id, d->n ? d->lo : 0, d->n ? d->lo_block :
			      UINT64_MAX);
		d->core_has0 = !d->n && r;
		if (d->n)
			ex_lookup(&x, d->id, d->hi, d->hi_block);
		if (d->n && d->hi < UINT64_MAX)
			ex_lookup(&x, d->id, d->hi + 1, UINT64_MAX);
		if (!x.dead)
			ex_reads(&x, d);
		if (!x.dead)
			ex_range_past(&x, d);
	}
	if (!x.dead)
		ex_probe_zeroed(&x);
	for (size_t i = 0; i < x.nr && !x.dead; i++)
		ex_change_dev(&x, &x.dev[i]);
	if (!x.dead && x.nr && x.max_id < THIN_MAX_DEV_ID)
		ex_done(&x, "create_snap", cl->ops->create_snap(cl, x.max_id + 1,
								  x.dev[0].id));
	if (!x.dead && x.nr > 1)
		ex_done(&x, "delete", cl->ops->delete_dev(cl, x.dev[x.nr - 1].id));
	if (!x.dead) {
		r = cl->ops->get_meta_snap(cl, &held);
		ex_done(&x, "get_meta_snap", r);
		if (!r)
			ex_done(&x, held ? "release_meta_snap" : "reserve_meta_snap",
				held ? cl->ops->release_meta_snap(cl) :
				cl->ops->reserve_meta_snap(cl));
	}
	if (!x.dead && x.nr_data)
		ex_done(&x, "resize_data", cl->ops->resize_data(cl, x.nr_data + 16));
	if (!x.dead)
		ex_done(&x, "commit", cl->ops->commit(cl));
	return ex_end(&x, msg, len, silent);
}

/*
 * The probes that change the pool and abort, run before the continue
 * step: the remove of each device's middle mapping (ex_remove_mid) and
 * the insert of the last data block (ex_probe_last_data).  The abort
 * reopens the pool from the image, as the open left it, so the continue
 * step and the exercise meet the pool as they would without the probes
 * (an abort after the continue step's commit would not: it resets the
 * metadata space map's allocation cursor that commit left).  0, 1 a
 * wrong answer, or the first -errno; msg says which step; *silent as the
 * exercise's.
 */
static int probes(struct client *cl, char *msg, size_t len, int *silent)
{
	struct ex x = { .cl = cl, .zeroed = DMG_NO_BLOCK };

	ex_walk(&x);
	ex_find_devs(&x);
	for (size_t i = 0; i < x.nr && !x.dead; i++)
		ex_remove_mid(&x, &x.dev[i]);
	if (!x.dead)
		ex_probe_last_data(&x);
	if (!x.dead && cl->ops->abort(cl))
		x.dead = 1;
	return ex_end(&x, msg, len, silent);
}

static int snap_map(void *ctx, uint64_t vblock, pd_block_t block,
		    uint32_t time)
{
	(void)ctx;
	(void)vblock;
	(void)block;
	(void)time;
	return 0;
}

/* The held metadata snapshot, read as userspace tools do: every device
 * and mapping of the copy.  0 (also when none is held) or -errno; why:
 * the damage record of the open, or of the read that failed after it. */
static int read_meta_snap(struct bdev *image, const struct client_params *cp,
			  struct pd_damage *why)
{
	struct thin_pool_params p = {
		.data_block_size = cp->data_block_size,
		.cache_blocks = cp->cache_blocks,
		.flags = THIN_OPEN_READ_ONLY,
		.damage = why,
	};
	struct thin_pool *snap;
	uint64_t *devs = NULL;
	pd_block_t nr_data;
	size_t nr = 0;
	int r = thin_pool_open_metadata_snap(image, 0, &p, &snap);

	if (r == -ENODATA)
		return 0;
	if (r)
		return r;
	r = thin_get_nr_data_blocks(snap, &nr_data);
	if (!r)
		r = thin_list_devs_alloc(snap, &devs, &nr);
	for (size_t i = 0; i < nr && !r; i++) {
		struct thin_dev_info info;

		r = thin_dev_info(snap, devs[i], &info);
		if (!r)
			r = thin_walk_mappings(snap, devs[i], snap_map, NULL);
	}
	if (r)
		*why = *thin_damage(snap);
	free(devs);
	thin_pool_destroy(snap);
	return r;
}

int dmg_names_block(const char *text, pd_block_t b)
{
	static const char *const words[] = { "block ", "bitmap ", "node " };
	char num[32];

	snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)b);
	if (!b && strstr(text, "superblock"))
		return 1;
	for (const char *p = text; (p = strstr(p, num)); p++) {
		if (p[strlen(num)] >= '0' && p[strlen(num)] <= '9')
			continue;
		for (size_t w = 0; w < PD_ARRAY_SIZE(words); w++) {
			size_t n = strlen(words[w]);

			if ((size_t)(p - text) >= n && !memcmp(p - n, words[w], n))
				return 1;
		}
	}
	return 0;
}

/* o->lo, o->hi: the committed states a cut just after a commit allows. */
static void obs_expect(struct dmg_obs *o, const struct run_result *res,
		       uint64_t cut)
{
	struct expect e;

	workload_expect(res, cut, &e);
	o->lo = e.lo < 0 ? 0 : e.lo;
	o->hi = e.hi;
}

/* 1 if d is the digest of one of them. */
static int state_allowed(const struct run_result *res, const struct dmg_obs *o,
			 struct digest d)
{
	for (int64_t k = o->lo; k <= o->hi; k++)
		if ((uint64_t)k < res->nr_states && digest_eq(d, res->digests[k]))
			return 1;
	return 0;
}

/* The damage record of a step the core refused with r (o->open_why or
 * o->snap_why): note gets " (its text)", "" if it has none or the
 * backend keeps none; 1 if it is wrong.  A refusal for damage (-EILSEQ,
 * -ENOTBLK) must name a block (errors.h DR2: a caller that clears the
 * record finds the block that failed the call), and when the damage
 * leaves the damaged block failing its own validation, that block is
 * the only one a reader can find damaged, so the record must name it. */
static int why_wrong(const struct dmg_obs *o, int r,
		     const struct pd_damage *why, char *note, size_t len)
{
	int damage = r == -EILSEQ || r == -ENOTBLK;

	note[0] = 0;
	if (!why)
		return 0;
	if (!why->seq) {
		if (damage)
			snprintf(note, len, " with no damage record");
		return damage;
	}
	if (damage && o->own && why->block != o->block) {
		snprintf(note, len, " (%s), noted for block %" PRIu64 ", but "
			 "the damaged block is %" PRIu64, why->text,
			 (uint64_t)why->block, (uint64_t)o->block);
		return 1;
	}
	snprintf(note, len, " (%s)", why->text);
	return 0;
}

void dmg_verdict(const struct dmg_obs *o, struct dmg_result *out)
{
	char msg[300], note[360];
	int chk;

	out->core_only = 0;
	if (o->opened && why_wrong(o, o->opened, o->open_why, note,
				   sizeof(note))) {
		say(out, DMG_VIOLATION, "open refused the image: %s%s",
		    pd_strerror(o->opened), note);
	} else if (o->opened) {
		say(out, DMG_DETECTED, "open refused the image: %s%s%s%s",
		    pd_strerror(o->opened), note,
		    o->chk > 0 ? "; checker: " : "",
		    o->chk > 0 ? o->chk_msg : "");
	} else if (o->rs && why_wrong(o, o->rs, o->snap_why, note,
				      sizeof(note))) {
		/* whatever the checker says: the core's own record */
		say(out, DMG_VIOLATION, "the core refused the held metadata "
		    "snapshot: %s%s", pd_strerror(o->rs), note);
	} else if (o->chk < 0) {
		say(out, DMG_VIOLATION, "the checker could not run: %s",
		    pd_strerror(o->chk));
	} else if (o->silent) {
		say(out, DMG_VIOLATION, "exercise: %s", o->ex_msg);
	} else if (o->chk > 0) {
		say(out, DMG_DETECTED, "checker: %s", o->chk_msg);
	} else if (o->rd) {
		say(out, DMG_DETECTED, "the core refused reading the %s: %s",
		    o->what, pd_strerror(o->rd));
		out->core_only = 1;
	} else if (!o->matched && o->chk_msg[0]) {
		/* the checker passed with a warning only (dm-cache: a hint
		 * array shorter than the cache, which the kernel's resize
		 * leaves behind): it did not accept the image silently */
		say(out, DMG_DETECTED, "the checker warns: %s; the state read is "
		    "none of the committed states %" PRId64 "..%" PRId64,
		    o->chk_msg, o->lo, o->hi);
	} else if (!o->matched) {
		say(out, DMG_VIOLATION, "silently wrong: the checker passes, the "
		    "core reads the %s, and the state is none of the committed "
		    "states %" PRId64 "..%" PRId64, o->what, o->lo, o->hi);
	} else if (o->rs) {
		say(out, DMG_DETECTED, "the core refused the held metadata "
		    "snapshot: %s%s", pd_strerror(o->rs), note);
		out->core_only = 1;
	} else if (o->rc < 0 || (!o->rc && o->rx < 0)) {
		say(out, DMG_DETECTED, "the core refused %s: %s",
		    o->rc < 0 ? "the continue step" : "the exercise",
		    o->rc < 0 ? o->cont_msg : o->ex_msg);
		out->core_only = 1;
	} else if (o->rc > 0) {
		say(out, DMG_VIOLATION, "%s", o->cont_msg);
	} else if (o->rx > 0) {
		say(out, DMG_VIOLATION, "exercise: %s", o->ex_msg);
	} else {
		chk = o->recheck(o->image, msg, sizeof(msg));
		if (chk)
			say(out, DMG_VIOLATION, "after the exercise's commit: %s",
			    chk < 0 ? pd_strerror(chk) : msg);
		else
			say(out, DMG_HARMLESS, "the damage did not matter: state "
			    "allowed, continue and exercise clean");
	}
	out->named = dmg_names_block(out->msg, o->block);
}

void dmg_recover_with(const struct dmg_backend *be, void *ctx,
		      const struct run_result *res, uint64_t cut,
		      struct bdev *image, pd_block_t block, int own,
		      struct dmg_result *out)
{
	struct check_out cont = { .outcome = OUT_ROLLBACK };
	char chk_msg[300], ex_msg[300] = "";
	struct digest d = { 0, 0 };
	struct dmg_obs o = { .what = be->what, .chk_msg = chk_msg,
			     .cont_msg = cont.msg, .ex_msg = ex_msg,
			     .recheck = be->check, .image = image,
			     .block = block, .own = own };

	obs_expect(&o, res, cut);
	/* the checker first, on the image as damaged: its findings name the
	 * block even where the core's error cannot (issue 16) */
	o.chk = be->check(image, chk_msg, sizeof(chk_msg));
	o.opened = be->open(ctx, image);
	o.open_why = be->why ? be->why(ctx, 0) : NULL;
	if (o.opened) {
		dmg_verdict(&o, out);
		return;
	}
	o.rd = be->digest(ctx, &d);
	o.matched = !o.rd && state_allowed(res, &o, d);
	o.rs = be->snap ? be->snap(ctx, image) : 0;
	o.snap_why = be->why ? be->why(ctx, 1) : NULL;
	/* after that the image changes: the probes, continue, then the
	 * exercise, each run whatever the verdict so far (what they reach
	 * counts too) */
	if (be->probe)
		be->probe(ctx);
	o.rc = o.rd ? 0 : be->cont(ctx, image, d, &cont);
	o.rx = be->exercise(ctx, image, ex_msg, sizeof(ex_msg), &o.silent);
	dmg_verdict(&o, out);
	be->destroy(ctx);
}

/* --- the thin backend of the recovery --------------------------------------- */

struct thin_rec {
	struct client_params params;
	struct client *pool;
	pd_block_t zeroed;	/* dmg_zeroed_data_block's, or DMG_NO_BLOCK */
	struct pd_damage open_why, snap_why;
	int probe_r, probe_silent;	/* probes()' answer */
	char probe_msg[300];
};

/* A finding counts, a warning does not (strict mode makes warnings
 * findings): msg is emptied when there is none. */
static int thin_check(struct bdev *image, char *msg, size_t len)
{
	int r = explore_structural(image, NULL, msg, len);

	if (!r)
		msg[0] = 0;
	return r;
}

static int thin_open(void *ctx, struct bdev *image)
{
	struct thin_rec *t = ctx;

	pd_damage_clear(&t->open_why);
	t->params.damage = &t->open_why;
	return client_core_ops.open(image, &t->params, &t->pool);
}

static int thin_digest(void *ctx, struct digest *d)
{
	return client_digest(((struct thin_rec *)ctx)->pool, d);
}

static int thin_snap(void *ctx, struct bdev *image)
{
	struct thin_rec *t = ctx;

	pd_damage_clear(&t->snap_why);
	return read_meta_snap(image, &t->params, &t->snap_why);
}

static const struct pd_damage *thin_why(void *ctx, int snap)
{
	struct thin_rec *t = ctx;

	return snap ? &t->snap_why : &t->open_why;
}

static int thin_cont(void *ctx, struct bdev *image, struct digest d,
		     struct check_out *out)
{
	return explore_continue(((struct thin_rec *)ctx)->pool, image, d, out);
}

static void thin_probe(void *ctx)
{
	struct thin_rec *t = ctx;

	t->probe_r = probes(t->pool, t->probe_msg, sizeof(t->probe_msg),
			    &t->probe_silent);
}

/* The exercise, after the probes: their answer first (they ran first),
 * and a silent success of either is the one told. */
static int thin_exercise(void *ctx, struct bdev *image, char *msg, size_t len,
			 int *silent)
{
	struct thin_rec *t = ctx;
	int r;

	(void)image;
	r = exercise(t->pool, t->zeroed, msg, len, silent);
	if (t->probe_silent && !*silent) {
		*silent = 1;
		snprintf(msg, len, "%s", t->probe_msg);
	} else if (t->probe_r && !*silent) {
		r = t->probe_r;
		snprintf(msg, len, "%s", t->probe_msg);
	}
	return r;
}

static void thin_destroy(void *ctx)
{
	client_core_ops.destroy(((struct thin_rec *)ctx)->pool);
}

static const struct dmg_backend thin_backend = {
	"pool", thin_check, thin_open, thin_digest, thin_snap, thin_cont,
	thin_exercise, thin_destroy, thin_why, thin_probe,
};

void dmg_recover(const struct run_result *res, uint64_t cut,
		 struct bdev *image, pd_block_t block, unsigned kind,
		 pd_block_t zeroed, struct dmg_result *out)
{
	struct thin_rec t = {
		.params = {
			.data_block_size = res->geo.block_size,
			.cache_blocks = res->geo.cache_blocks,
		},
		.zeroed = zeroed,
	};

	dmg_recover_with(&thin_backend, &t, res, cut, image, block,
			 dmg_kind_breaks_block(kind), out);
}
