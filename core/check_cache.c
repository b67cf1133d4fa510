/* core/check_cache.c - checks of arrays, bitsets and dm-cache metadata
 * (see check_cache.h for the numbered checks CC1..CC5).
 *
 * Everything is parsed here from raw blocks: the format constants below
 * are written down again rather than taken from array.h or cache.h, so
 * the checker does not share a mistake with the code it checks.
 *
 * Reference counting: each block has an expected count (exp) and a
 * "counted" bit.  The first time a btree node or array block is reached
 * its outgoing references are added; later visits (the block is shared)
 * only walk it again for its keys, adding nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bdev.h"
#include "bm.h"
#include "check_cache.h"
#include "util.h"

#define BS			4096u
#define SALT_NODE		121107u
#define SALT_ARRAY		595846735u
#define SALT_INDEX		160478u
#define SALT_BITMAP		240779u
#define SALT_CACHE_SB		9031977u
#define CACHE_MAGIC		1623043ull	/* 06142003 octal */
#define NODE_HEADER		32u
#define NODE_INTERNAL		1u
#define NODE_LEAF		2u
#define ARRAY_HEADER		24u
#define ENTRIES_PER_BITMAP	16320u
#define MAX_BITMAPS		255u
#define MAX_DEPTH		16u
#define MAPPINGS_PER_BLOCK	((BS - ARRAY_HEADER) / 8u)	/* 509 */
#define M_VALID			1u
#define M_DIRTY			2u

struct cc {
	struct bdev *bd;
	unsigned flags;
	check_msg_fn msg;
	void *ctx;
	struct check_cache_result *res;
	unsigned nmsg;
	pd_block_t nr_blocks;		/* metadata space map, clamped to bd */
	uint32_t *exp;			/* expected counts */
	uint8_t *counted;		/* references of this block added */
	int reach_only;			/* check_cache_reachable: no comparison */
	uint64_t *rc_keys;		/* ref-count tree, in key order */
	uint32_t *rc_vals;
	size_t rc_nr, rc_cap;
};

static void say(struct cc *c, const char *kind, const char *fmt, va_list ap)
{
	char text[256];
	int n;

	if (!c->msg || (c->nmsg >= CHECK_MAX_MESSAGES &&
			!(c->flags & CHECK_ALL_MESSAGES)))
		return;
	c->nmsg++;
	n = snprintf(text, sizeof(text), "%s: ", kind);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	c->msg(c->ctx, text);
}

static void __attribute__((format(printf, 2, 3)))
error(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	c->res->errors++;
	va_start(ap, fmt);
	say(c, "error", fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3)))
warn(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	if (c->flags & CHECK_STRICT)
		c->res->errors++;
	else
		c->res->warnings++;
	va_start(ap, fmt);
	say(c, c->flags & CHECK_STRICT ? "error" : "warning", fmt, ap);
	va_end(ap);
}

/* A warning even under CHECK_STRICT: what the kernel itself writes in
 * normal operation (a hint array of another length, CC5). */
static void __attribute__((format(printf, 2, 3)))
lenient(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	c->res->warnings++;
	va_start(ap, fmt);
	say(c, "warning", fmt, ap);
	va_end(ap);
}

/* Read b and check checksum and location; 0 or -1 (reported as what). */
static int read_checked(struct cc *c, pd_block_t b, uint32_t salt,
			unsigned blocknr_at, const char *what, uint8_t *d)
{
	int r;

	if (b >= c->nr_blocks) {
		error(c, "%s block %llu is past the metadata space map (%llu blocks)",
		      what, (unsigned long long)b, (unsigned long long)c->nr_blocks);
		return -1;
	}
	r = bdev_read(c->bd, b, d);
	if (r) {
		error(c, "%s block %llu: read error %d", what,
		      (unsigned long long)b, r);
		return -1;
	}
	if (le32_get(d) != pd_block_csum(d + 4, BS - 4, salt)) {
		error(c, "%s block %llu: bad checksum", what, (unsigned long long)b);
		return -1;
	}
	if (le64_get(d + blocknr_at) != b) {
		error(c, "%s block %llu: says it is block %llu", what,
		      (unsigned long long)b,
		      (unsigned long long)le64_get(d + blocknr_at));
		return -1;
	}
	return 0;
}

static void ref(struct cc *c, pd_block_t b)
{
	if (b < c->nr_blocks)
		c->exp[b]++;
	else
		error(c, "reference to block %llu past the metadata space map",
		      (unsigned long long)b);
}

/* 1 the first time b is reached (its references are to be added). */
static int first_visit(struct cc *c, pd_block_t b)
{
	if (b >= c->nr_blocks || c->counted[b])
		return 0;
	c->counted[b] = 1;
	return 1;
}

/* --- btrees (CC2) ---------------------------------------------------------- */

typedef void (*leaf_fn)(struct cc *c, void *ctx, uint64_t key,
			const uint8_t *value, int first);

struct tree_walk {
	const char *what;
	uint32_t vsize;			/* leaf value size */
	leaf_fn fn;
	void *ctx;
	int leaf_depth;			/* -1 until the first leaf */
};

static uint32_t node_max_entries(uint32_t vsize)
{
	return 3 * ((BS - NODE_HEADER) / (8 + vsize) / 3);
}

/* Walk the node at b whose keys must lie in [lo, hi] (hi inclusive). */
static void walk_node(struct cc *c, struct tree_walk *w, pd_block_t b,
		      uint64_t lo, uint64_t hi, unsigned depth, int is_root)
{
	uint8_t d[BS];
	uint32_t flags, nr, max, vsize;
	int first;

	if (depth >= MAX_DEPTH) {
		error(c, "%s: tree deeper than %u at block %llu", w->what,
		      MAX_DEPTH, (unsigned long long)b);
		return;
	}
	first = first_visit(c, b);
	if (read_checked(c, b, SALT_NODE, 8, w->what, d))
		return;
	flags = le32_get(d + 4);
	nr = le32_get(d + 16);
	max = le32_get(d + 20);
	vsize = le32_get(d + 24);
	if (flags != NODE_INTERNAL && flags != NODE_LEAF) {
		error(c, "%s node %llu: flags %u", w->what,
		      (unsigned long long)b, flags);
		return;
	}
	if (vsize != (flags == NODE_LEAF ? w->vsize : 8) ||
	    max != node_max_entries(vsize) || nr > max) {
		error(c, "%s node %llu: value size %u, max_entries %u, nr_entries %u",
		      w->what, (unsigned long long)b, vsize, max, nr);
		return;
	}
	if (!is_root && nr < max / 3 && first)
		warn(c, "%s node %llu: too few entries (%u of %u)", w->what,
		     (unsigned long long)b, nr, max);
	if (!nr && !(is_root && flags == NODE_LEAF)) {
		error(c, "%s node %llu: empty", w->what, (unsigned long long)b);
		return;
	}
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t k = le64_get(d + NODE_HEADER + 8 * i);

		if (k < lo || k > hi ||
		    (i && k <= le64_get(d + NODE_HEADER + 8 * (i - 1)))) {
			error(c, "%s node %llu: key %llu out of order or range",
			      w->what, (unsigned long long)b,
			      (unsigned long long)k);
			return;
		}
	}
	if (flags == NODE_LEAF) {
		if (w->leaf_depth < 0)
			w->leaf_depth = (int)depth;
		else if (w->leaf_depth != (int)depth && first)
			error(c, "%s node %llu: leaves at depths %d and %u",
			      w->what, (unsigned long long)b, w->leaf_depth, depth);
		for (uint32_t i = 0; i < nr; i++)
			w->fn(c, w->ctx, le64_get(d + NODE_HEADER + 8 * i),
			      d + NODE_HEADER + 8 * max + (size_t)i * vsize, first);
		return;
	}
	for (uint32_t i = 0; i < nr; i++) {
		pd_block_t child = le64_get(d + NODE_HEADER + 8 * max + 8 * i);
		uint64_t chi = i + 1 < nr ?
			le64_get(d + NODE_HEADER + 8 * (i + 1)) - 1 : hi;

		if (first)
			ref(c, child);
		walk_node(c, w, child, le64_get(d + NODE_HEADER + 8 * i), chi,
			  depth + 1, 0);
	}
}

static void walk_tree(struct cc *c, pd_block_t root, const char *what,
		      uint32_t vsize, leaf_fn fn, void *ctx)
{
	struct tree_walk w = { what, vsize, fn, ctx, -1 };

	walk_node(c, &w, root, 0, UINT64_MAX, 0, 1);
}

/* --- arrays (CC3) ------------------------------------------------------------ */

/* Value `index` of an array, held in array block ablock. */
typedef void (*value_fn)(struct cc *c, void *ctx, uint64_t index,
			 const uint8_t *value, pd_block_t ablock);

struct array_walk {
	const char *what;
	uint32_t vsize, max;
	uint64_t next_key;
	uint64_t entries;
	pd_block_t last_block;		/* the last array block read */
	int short_seen;			/* a block that is not full */
	value_fn fn;
	void *ctx;
};

static void array_leaf(struct cc *c, void *ctx, uint64_t key,
		       const uint8_t *value, int first)
{
	struct array_walk *a = ctx;
	pd_block_t b = le64_get(value);
	uint8_t d[BS];
	uint32_t nr;

	if (key != a->next_key) {
		error(c, "%s: array block key %llu where %llu was expected",
		      a->what, (unsigned long long)key,
		      (unsigned long long)a->next_key);
	}
	a->next_key = key + 1;
	if (first)
		ref(c, b);
	if (read_checked(c, b, SALT_ARRAY, 16, a->what, d))
		return;
	a->last_block = b;
	nr = le32_get(d + 8);
	if (!a->vsize && le32_get(d + 12) && le32_get(d + 12) <= BS - ARRAY_HEADER) {
		a->vsize = le32_get(d + 12);	/* width learnt from the array */
		a->max = (BS - ARRAY_HEADER) / a->vsize;
	}
	if (le32_get(d + 12) != a->vsize || le32_get(d + 4) != a->max ||
	    nr > a->max) {
		error(c, "%s: array block %llu: value_size %u, max_entries %u, nr_entries %u",
		      a->what, (unsigned long long)b, le32_get(d + 12),
		      le32_get(d + 4), nr);
		return;
	}
	if (!nr || a->short_seen)
		error(c, "%s: array block %llu (index %llu): %u entries after a short block or none",
		      a->what, (unsigned long long)b, (unsigned long long)key, nr);
	if (nr < a->max)
		a->short_seen = 1;
	a->entries += nr;
	if (a->fn)
		for (uint32_t i = 0; i < nr; i++)
			a->fn(c, a->ctx, key * a->max + i,
			      d + ARRAY_HEADER + (size_t)i * a->vsize, b);
}

/* Returns the entries found. */
static uint64_t check_one_array(struct cc *c, const char *what,
				pd_block_t root, uint32_t vsize,
				uint64_t nr_entries, value_fn fn, void *ctx)
{
	struct array_walk a = { what, vsize, 0, 0, 0, UINT64_MAX, 0, fn, ctx };

	if (vsize > BS - ARRAY_HEADER) {
		error(c, "%s: value size %u", what, vsize);
		return 0;
	}
	a.max = vsize ? (BS - ARRAY_HEADER) / vsize : 0;
	walk_tree(c, root, what, 8, array_leaf, &a);
	if (nr_entries == CHECK_ARRAY_ANY_SIZE || a.entries == nr_entries)
		return a.entries;
	if (a.last_block == UINT64_MAX)
		error(c, "%s (btree root block %llu): %llu entries, %llu expected",
		      what, (unsigned long long)root,
		      (unsigned long long)a.entries,
		      (unsigned long long)nr_entries);
	else
		error(c, "%s (btree root block %llu, last array block %llu): %llu entries, %llu expected",
		      what, (unsigned long long)root,
		      (unsigned long long)a.last_block,
		      (unsigned long long)a.entries,
		      (unsigned long long)nr_entries);
	return a.entries;
}

/* --- the metadata space map (CC4) ------------------------------------------ */

static void rc_leaf(struct cc *c, void *ctx, uint64_t key,
		    const uint8_t *value, int first)
{
	(void)ctx;
	if (!first)
		return;
	if (c->rc_nr == c->rc_cap) {
		size_t cap = c->rc_cap ? c->rc_cap * 2 : 256;
		uint64_t *k = pd_realloc(c->rc_keys, cap * sizeof(*k));
		uint32_t *v;

		if (!k)
			return;
		c->rc_keys = k;
		v = pd_realloc(c->rc_vals, cap * sizeof(*v));
		if (!v)
			return;
		c->rc_vals = v;
		c->rc_cap = cap;
	}
	c->rc_keys[c->rc_nr] = key;
	c->rc_vals[c->rc_nr++] = le32_get(value);
}

static int rc_lookup(struct cc *c, uint64_t key, uint32_t *count)
{
	size_t lo = 0, hi = c->rc_nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->rc_keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->rc_nr && c->rc_keys[lo] == key) {
		*count = c->rc_vals[lo];
		return 0;
	}
	return -1;
}

/* CC4: index entry i (at e in index block index) against its bitmap bm
 * of nr entries: nr_free is the bitmap's free entries (the kernel also
 * counts a partial last bitmap's entries past the end of the device as
 * free; cache_restore does not), and no entry before none_free_before is
 * free.  The allocator trusts both: a wrong one hides free blocks. */
static void check_index_entry(struct cc *c, pd_block_t index, uint32_t i,
			      const uint8_t *e, const uint8_t *bm, uint32_t nr)
{
	uint32_t nr_free = le32_get(e + 8), nfb = le32_get(e + 12);
	uint32_t free_here = 0, first_free = UINT32_MAX;

	for (uint32_t j = 0; j < nr; j++) {
		uint64_t w = le64_get(bm + 16 + 8 * (j / 32));

		if ((w >> (2 * (j % 32))) & 3)
			continue;
		free_here++;
		if (first_free == UINT32_MAX)
			first_free = j;
	}
	if (nr_free != free_here &&
	    nr_free != free_here + (ENTRIES_PER_BITMAP - nr))
		warn(c, "metadata space map index block %llu, entry %u: nr_free "
		     "%u, its bitmap block %llu has %u free",
		     (unsigned long long)index, i, nr_free,
		     (unsigned long long)le64_get(e), free_here);
	if (first_free < nfb)
		warn(c, "metadata space map index block %llu, entry %u: "
		     "none_free_before %u, entry %u of its bitmap block %llu is "
		     "free", (unsigned long long)index, i, nfb, first_free,
		     (unsigned long long)le64_get(e));
}

/* Index block, bitmaps and ref-count tree: add their references, check
 * the index entries against their bitmaps (not for check_cache_reachable)
 * and keep the bitmaps (*bitmaps, nr_bitmaps blocks) for the comparison. */
static int read_space_map(struct cc *c, const uint8_t *root,
			  uint8_t **bitmaps, uint32_t *nr_bitmaps)
{
	pd_block_t index = le64_get(root + 16), rc_root = le64_get(root + 24);
	uint64_t nr = le64_get(root);
	uint8_t d[BS];
	uint32_t n;

	n = (uint32_t)((nr + ENTRIES_PER_BITMAP - 1) / ENTRIES_PER_BITMAP);
	if (n > MAX_BITMAPS) {
		error(c, "metadata space map: %llu blocks need %u bitmaps (max %u)",
		      (unsigned long long)nr, n, MAX_BITMAPS);
		return -1;
	}
	ref(c, index);
	first_visit(c, index);
	if (read_checked(c, index, SALT_INDEX, 8, "metadata space map index", d))
		return -1;
	*bitmaps = pd_calloc(n ? n : 1, BS);
	if (!*bitmaps)
		return -ENOMEM;
	*nr_bitmaps = n;
	for (uint32_t i = 0; i < n; i++) {
		pd_block_t b = le64_get(d + 16 + 16 * i);

		ref(c, b);
		first_visit(c, b);
		if (read_checked(c, b, SALT_BITMAP, 8, "metadata space map bitmap",
				 *bitmaps + (size_t)i * BS))
			memset(*bitmaps + (size_t)i * BS, 0, BS);
		else if (!c->reach_only)
			check_index_entry(c, index, i, d + 16 + 16 * i,
					  *bitmaps + (size_t)i * BS,
					  i + 1 < n ? ENTRIES_PER_BITMAP :
					  (uint32_t)(nr - (uint64_t)i *
						     ENTRIES_PER_BITMAP));
	}
	ref(c, rc_root);
	walk_tree(c, rc_root, "metadata ref-count tree", 4, rc_leaf, NULL);
	return 0;
}

static void compare_space_map(struct cc *c, const uint8_t *root,
			      const uint8_t *bitmaps, uint32_t nr_bitmaps)
{
	uint64_t nr = le64_get(root), used = 0;

	for (uint64_t b = 0; b < nr && b / ENTRIES_PER_BITMAP < nr_bitmaps; b++) {
		const uint8_t *bm = bitmaps + (b / ENTRIES_PER_BITMAP) * BS;
		uint32_t i = (uint32_t)(b % ENTRIES_PER_BITMAP);
		uint64_t w = le64_get(bm + 16 + 8 * (i / 32));
		unsigned pos = 2 * (i % 32);
		uint32_t disk = (uint32_t)(((w >> pos) & 1) << 1 |
					   ((w >> (pos + 1)) & 1));
		uint32_t want = b < c->nr_blocks ? c->exp[b] : 0;

		if (disk == 3 && rc_lookup(c, b, &disk)) {
			error(c, "block %llu: bitmap says 3+, no ref-count entry",
			      (unsigned long long)b);
			continue;
		}
		if (disk)
			used++;
		if (want)
			c->res->metadata_blocks_used++;
		if (disk == want)
			continue;
		if (disk == 1 && want == 0) {
			c->res->leaks++;
			if (c->nmsg < CHECK_MAX_MESSAGES && c->msg) {
				char text[96];

				snprintf(text, sizeof(text),
					 "leak: block %llu in use, referenced by nothing",
					 (unsigned long long)b);
				c->msg(c->ctx, text);
				c->nmsg++;
			}
			continue;
		}
		error(c, "block %llu: reference count %u on disk, %u expected",
		      (unsigned long long)b, disk, want);
	}
	if (used != le64_get(root + 8))
		warn(c, "metadata space map: nr_allocated %llu, %llu blocks in use",
		     (unsigned long long)le64_get(root + 8),
		     (unsigned long long)used);
}

/* --- setup -------------------------------------------------------------------- */

static int cc_init(struct cc *c, struct bdev *bd, const uint8_t *sm_root,
		   unsigned flags, check_msg_fn msg, void *ctx,
		   struct check_cache_result *res)
{
	memset(c, 0, sizeof(*c));
	c->bd = bd;
	c->flags = flags;
	c->msg = msg;
	c->ctx = ctx;
	c->res = res;
	c->nr_blocks = le64_get(sm_root);
	if (c->nr_blocks > bdev_nr_blocks(bd))
		c->nr_blocks = bdev_nr_blocks(bd);
	if (c->nr_blocks > (uint64_t)MAX_BITMAPS * ENTRIES_PER_BITMAP)
		c->nr_blocks = (uint64_t)MAX_BITMAPS * ENTRIES_PER_BITMAP;
	res->metadata_nr_blocks = le64_get(sm_root);
	c->exp = pd_calloc(c->nr_blocks ? c->nr_blocks : 1, sizeof(*c->exp));
	c->counted = pd_calloc(c->nr_blocks ? c->nr_blocks : 1, 1);
	if (!c->exp || !c->counted) {
		pd_free(c->exp);
		pd_free(c->counted);
		return -ENOMEM;
	}
	return 0;
}

static void cc_exit(struct cc *c)
{
	pd_free(c->exp);
	pd_free(c->counted);
	pd_free(c->rc_keys);
	pd_free(c->rc_vals);
}

/* Space map references first, then fn adds the owner's, then compare. */
static int run_check(struct cc *c, const uint8_t *sm_root,
		     void (*fn)(struct cc *c, void *ctx), void *ctx)
{
	uint8_t *bitmaps = NULL;
	uint32_t nr_bitmaps = 0;
	unsigned errors_before;
	int r;

	ref(c, 0);			/* the superblock */
	first_visit(c, 0);
	r = read_space_map(c, sm_root, &bitmaps, &nr_bitmaps);
	if (r == -ENOMEM)
		return r;
	errors_before = c->res->errors;
	fn(c, ctx);
	if (c->reach_only) {
		pd_free(bitmaps);
		return r == -1 ? 0 : r;
	}
	/* Damaged trees make every expected count wrong: say so once. */
	if (!r && c->res->errors == errors_before)
		compare_space_map(c, sm_root, bitmaps, nr_bitmaps);
	pd_free(bitmaps);
	return 0;
}

struct arrays_ctx {
	const struct check_array_spec *arrays;
	unsigned nr;
};

static void arrays_fn(struct cc *c, void *ctx)
{
	struct arrays_ctx *a = ctx;

	for (unsigned i = 0; i < a->nr; i++) {
		char what[32];

		snprintf(what, sizeof(what), "array %u", i);
		ref(c, a->arrays[i].root);
		check_one_array(c, what, a->arrays[i].root, a->arrays[i].value_size,
				a->arrays[i].nr_entries, NULL, NULL);
	}
}

int check_arrays(struct bdev *bd, const void *sm_root,
		 const struct check_array_spec *arrays, unsigned nr_arrays,
		 unsigned flags, check_msg_fn msg, void *ctx,
		 struct check_cache_result *res)
{
	struct arrays_ctx a = { arrays, nr_arrays };
	struct cc c;
	int r;

	if (!bd || !sm_root || !res || bd->block_size != BS)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	r = cc_init(&c, bd, sm_root, flags, msg, ctx, res);
	if (r)
		return r;
	r = run_check(&c, sm_root, arrays_fn, &a);
	cc_exit(&c);
	return r;
}

/* --- dm-cache (CC1, CC5) --------------------------------------------------------- */

/* Cache superblock offsets (FORMAT.md 1.12; cache.h has the table). */
#define SB_FLAGS		4
#define SB_BLOCKNR		8
#define SB_MAGIC		32
#define SB_VERSION		40
#define SB_POLICY_NAME		44
#define SB_POLICY_HINT_SIZE	60
#define SB_SM_ROOT		64
#define SB_MAPPING_ROOT		192
#define SB_HINT_ROOT		200
#define SB_DISCARD_ROOT		208
#define SB_DISCARD_BLOCK_SIZE	216
#define SB_DISCARD_NR_BLOCKS	224
#define SB_DATA_BLOCK_SIZE	232
#define SB_METADATA_BLOCK_SIZE	236
#define SB_CACHE_BLOCKS		240
#define SB_INCOMPAT_FLAGS	252
#define SB_DIRTY_ROOT		284

/* A valid mapping: its origin block and where it is. */
struct oref {
	uint64_t oblock;
	uint32_t cblock;
};

struct cache_ctx {
	const uint8_t *sb;
	uint32_t version;
	struct oref *oblocks;		/* valid mappings */
	size_t nr_oblocks;
	uint8_t *mapped;		/* per cache block */
	pd_block_t *ablocks;		/* mapping array block of each key */
	size_t nr_ablocks;
};

static void mapping_value(struct cc *c, void *ctx, uint64_t index,
			  const uint8_t *value, pd_block_t ablock)
{
	struct cache_ctx *k = ctx;
	uint64_t v = le64_get(value);
	uint32_t fl = (uint32_t)(v & 0xffff);
	uint32_t allowed = k->version >= 2 ? M_VALID : (M_VALID | M_DIRTY);

	if (index / MAPPINGS_PER_BLOCK < k->nr_ablocks)
		k->ablocks[index / MAPPINGS_PER_BLOCK] = ablock;
	if (fl & ~allowed)
		error(c, "mapping %llu (array block %llu): flags 0x%x",
		      (unsigned long long)index, (unsigned long long)ablock, fl);
	if (!(fl & M_VALID)) {
		if (v)
			warn(c, "mapping %llu (array block %llu): unmapped but not zero (0x%llx)",
			     (unsigned long long)index,
			     (unsigned long long)ablock, (unsigned long long)v);
		return;
	}
	c->res->nr_mapped++;
	if (fl & M_DIRTY)
		c->res->nr_dirty++;
	if (k->mapped && index < c->res->cache_blocks)
		k->mapped[index] = 1;
	if (k->oblocks && k->nr_oblocks < c->res->cache_blocks) {
		k->oblocks[k->nr_oblocks].oblock = v >> 16;
		k->oblocks[k->nr_oblocks++].cblock = (uint32_t)index;
	}
}

/* The mapping array block holding cache block cb (UINT64_MAX: unknown). */
static unsigned long long mapping_ablock(const struct cache_ctx *k, uint32_t cb)
{
	return cb / MAPPINGS_PER_BLOCK < k->nr_ablocks ?
	       (unsigned long long)k->ablocks[cb / MAPPINGS_PER_BLOCK] :
	       (unsigned long long)UINT64_MAX;
}

static void dirty_value(struct cc *c, void *ctx, uint64_t index,
			const uint8_t *value, pd_block_t ablock)
{
	struct cache_ctx *k = ctx;
	uint64_t w = le64_get(value);

	for (unsigned i = 0; i < 64; i++) {
		uint64_t cb = index * 64 + i;

		if (!(w >> i & 1))
			continue;
		if (cb >= c->res->cache_blocks) {
			warn(c, "dirty bit %llu (array block %llu) past cache_blocks",
			     (unsigned long long)cb, (unsigned long long)ablock);
			continue;
		}
		c->res->nr_dirty++;
		if (k->mapped && !k->mapped[cb])
			warn(c, "cache block %llu: dirty but not mapped",
			     (unsigned long long)cb);
	}
}

static void discard_value(struct cc *c, void *ctx, uint64_t index,
			  const uint8_t *value, pd_block_t ablock)
{
	uint64_t w = le64_get(value);

	(void)ctx;
	(void)ablock;
	for (unsigned i = 0; i < 64; i++)
		if ((w >> i & 1) && index * 64 + i < c->res->discard_nr_blocks)
			c->res->nr_discarded++;
}

static int cmp_oref(const void *a, const void *b)
{
	const struct oref *x = a, *y = b;

	if (x->oblock != y->oblock)
		return x->oblock < y->oblock ? -1 : 1;
	return x->cblock < y->cblock ? -1 : x->cblock > y->cblock;
}

static void cache_fn(struct cc *c, void *ctx)
{
	struct cache_ctx *k = ctx;
	const uint8_t *sb = k->sb;
	struct check_cache_result *res = c->res;
	pd_block_t mroot = le64_get(sb + SB_MAPPING_ROOT);
	pd_block_t hroot = le64_get(sb + SB_HINT_ROOT);
	pd_block_t droot = le64_get(sb + SB_DISCARD_ROOT);
	uint64_t nr_hints = res->cache_blocks;

	ref(c, mroot);
	check_one_array(c, "mapping array", mroot, 8, res->cache_blocks,
			mapping_value, k);
	if (k->oblocks && k->nr_oblocks > 1) {
		qsort(k->oblocks, k->nr_oblocks, sizeof(*k->oblocks), cmp_oref);
		for (size_t i = 1; i < k->nr_oblocks; i++) {
			const struct oref *x = &k->oblocks[i - 1], *y = &k->oblocks[i];

			if (x->oblock == y->oblock)
				error(c, "origin block %llu mapped twice: cache block %u (array block %llu) and cache block %u (array block %llu)",
				      (unsigned long long)y->oblock, x->cblock,
				      mapping_ablock(k, x->cblock), y->cblock,
				      mapping_ablock(k, y->cblock));
		}
	}
	if (hroot && res->policy_hint_size) {
		ref(c, hroot);
		nr_hints = check_one_array(c, "hint array", hroot,
					   res->policy_hint_size,
					   CHECK_ARRAY_ANY_SIZE, NULL, NULL);
	} else if (hroot) {
		/* Debian's cache_restore 0.9.0 writes a hint array but leaves
		 * policy_hint_size 0 (the kernel then ignores the hints): take
		 * the width from the array blocks. */
		warn(c, "hint_root %llu with policy_hint_size 0",
		     (unsigned long long)hroot);
		ref(c, hroot);
		nr_hints = check_one_array(c, "hint array", hroot, 0,
					   CHECK_ARRAY_ANY_SIZE, NULL, NULL);
	}
	if (nr_hints != res->cache_blocks)	/* CC5: the kernel's resize */
		lenient(c, "hint array: %llu entries, %llu cache blocks",
		     (unsigned long long)nr_hints,
		     (unsigned long long)res->cache_blocks);
	ref(c, droot);
	check_one_array(c, "discard bitset", droot, 8,
			(res->discard_nr_blocks + 63) / 64, discard_value, k);
	if (k->version >= 2) {
		pd_block_t dirty = le64_get(sb + SB_DIRTY_ROOT);

		ref(c, dirty);
		check_one_array(c, "dirty bitset", dirty, 8,
				((uint64_t)res->cache_blocks + 63) / 64,
				dirty_value, k);
	}
}

static int check_cache_common(struct bdev *bd, unsigned flags,
			      check_msg_fn msg, void *ctx,
			      struct check_cache_result *res,
			      check_reach_fn reach, void *reach_ctx);

int check_cache_metadata(struct bdev *bd, unsigned flags, check_msg_fn msg,
			 void *ctx, struct check_cache_result *res)
{
	return check_cache_common(bd, flags, msg, ctx, res, NULL, NULL);
}

int check_cache_reachable(struct bdev *bd, check_reach_fn reach,
			  check_msg_fn msg, void *ctx,
			  struct check_cache_result *res)
{
	if (!reach)
		return -EINVAL;
	return check_cache_common(bd, 0, msg, ctx, res, reach, ctx);
}

static int check_cache_common(struct bdev *bd, unsigned flags,
			      check_msg_fn msg, void *ctx,
			      struct check_cache_result *res,
			      check_reach_fn reach, void *reach_ctx)
{
	uint8_t sb[BS];
	struct cache_ctx k = { sb, 0, NULL, 0, NULL, NULL, 0 };
	struct cc c;
	int r;

	if (!bd || !res || bd->block_size != BS)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	/* CC1 */
	{
		uint8_t root[32] = { 0 };

		le64_put(root, bdev_nr_blocks(bd));
		r = cc_init(&c, bd, root, flags, msg, ctx, res);
		if (r)
			return r;
		r = read_checked(&c, 0, SALT_CACHE_SB, SB_BLOCKNR,
				 "cache superblock", sb);
		cc_exit(&c);
		if (r)
			return 0;
	}
	k.version = le32_get(sb + SB_VERSION);
	if (le64_get(sb + SB_MAGIC) != CACHE_MAGIC || k.version < 1 ||
	    k.version > 2 || le32_get(sb + SB_METADATA_BLOCK_SIZE) != 8 ||
	    le32_get(sb + SB_INCOMPAT_FLAGS) ||
	    (le32_get(sb + SB_POLICY_HINT_SIZE) != 0 &&
	     le32_get(sb + SB_POLICY_HINT_SIZE) != 4)) {
		memset(res, 0, sizeof(*res));
		res->errors = 1;
		if (msg)
			msg(ctx, "error: cache superblock: bad magic, version, "
				 "block size, hint size or incompat flags");
		return 0;
	}
	res->superblock_ok = 1;
	res->flags = le32_get(sb + SB_FLAGS);
	res->version = k.version;
	res->policy_hint_size = le32_get(sb + SB_POLICY_HINT_SIZE);
	res->data_block_size = le32_get(sb + SB_DATA_BLOCK_SIZE);
	res->cache_blocks = le32_get(sb + SB_CACHE_BLOCKS);
	memcpy(res->policy_name, sb + SB_POLICY_NAME, 16);
	res->policy_name[16] = 0;
	res->discard_block_size = le64_get(sb + SB_DISCARD_BLOCK_SIZE);
	res->discard_nr_blocks = le64_get(sb + SB_DISCARD_NR_BLOCKS);

	/* CC5 before any allocation sized by it: the mapping array holds
	 * cache_blocks __le64 entries, 509 to a block, on this device. */
	if (res->cache_blocks > bdev_nr_blocks(bd) * ((4096u - 24u) / 8u)) {
		res->errors = 1;
		if (msg)
			msg(ctx, "error: cache superblock: cache_blocks is more "
				 "than the metadata device can hold");
		return 0;
	}
	r = cc_init(&c, bd, sb + SB_SM_ROOT, flags, msg, ctx, res);
	if (r)
		return r;
	k.oblocks = pd_calloc(res->cache_blocks ? res->cache_blocks : 1,
			      sizeof(*k.oblocks));
	k.mapped = pd_calloc(res->cache_blocks ? res->cache_blocks : 1, 1);
	k.nr_ablocks = (res->cache_blocks + MAPPINGS_PER_BLOCK - 1) /
		       MAPPINGS_PER_BLOCK;
	k.ablocks = pd_calloc(k.nr_ablocks ? k.nr_ablocks : 1,
			      sizeof(*k.ablocks));
	c.reach_only = reach != NULL;
	if (!k.oblocks || !k.mapped || !k.ablocks)
		r = -ENOMEM;
	else
		r = run_check(&c, sb + SB_SM_ROOT, cache_fn, &k);
	for (pd_block_t b = 0; !r && reach && b < c.nr_blocks; b++)
		if (c.exp[b])
			reach(reach_ctx, b);
	pd_free(k.ablocks);
	pd_free(k.oblocks);
	pd_free(k.mapped);
	cc_exit(&c);
	return r;
}
