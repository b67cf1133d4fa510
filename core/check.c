/* core/check.c - structural checker of thin-pool metadata (see check.h).
 *
 * Design.  One pass over everything reachable from the superblock, then a
 * comparison with the space maps:
 *
 *   1. superblock (CK1), both space-map roots read;
 *   2. counting walks (CK2..CK4, CK6) of the live details tree, the live
 *      2-level mapping tree, the held snapshot's trees, the metadata
 *      space map's ref-count tree and the data space map's index and
 *      ref-count trees.  Every reference to a metadata block adds one to
 *      its expected count; a node is read and walked only the first time
 *      it is reached (a per-block record keeps what later referrers need:
 *      key range, height, number of leaf entries below it).  Data block
 *      references are gathered from bottom-level leaves as runs, once per
 *      leaf node;
 *   3. listing walks of the (small) details and top-level trees, which
 *      re-read shared nodes, to compare device ids and mapped_blocks (CK5);
 *   4. if nothing so far was an error: the on-disk space maps, bitmap by
 *      bitmap, against the expected counts (CK7, CK8).
 *
 * Every block is read through the block manager with no validator; its
 * checksum and location are checked here.  A node stays read-locked while
 * its children are walked, so at most 2 * CHECK_MAX_DEPTH blocks are locked
 * at once (top-level path + bottom-level path); the cache is sized for it.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "check.h"
#include "errors.h"
#include "util.h"

#define MD_BLOCK_SIZE		4096u
#define SB_CSUM_XOR		160774u
#define NODE_CSUM_XOR		121107u
#define BITMAP_CSUM_XOR		240779u
#define INDEX_CSUM_XOR		160478u
#define SB_MAGIC		27022010ull
#define NODE_INTERNAL		1u
#define NODE_LEAF		2u
#define NODE_HEADER		32u
#define BITMAP_HEADER		16u
#define ENTRIES_PER_BITMAP	((MD_BLOCK_SIZE - BITMAP_HEADER) * 4u)	/* 16320 */
#define MAX_META_BITMAPS	255u
#define MAX_META_BLOCKS		((pd_block_t)MAX_META_BITMAPS * ENTRIES_PER_BITMAP)
#define INDEX_ENTRY_SIZE	16u
#define DETAILS_SIZE		24u
#define CACHE_BLOCKS		(2 * CHECK_MAX_DEPTH + 32)
#define ALL_COUNT_1_WORD	0xaaaaaaaaaaaaaaaaull	/* 32 entries of count 1 */

/* Superblock offsets (FORMAT.md 1.2). */
#define SBO_FLAGS		4
#define SBO_BLOCKNR		8
#define SBO_MAGIC		32
#define SBO_VERSION		40
#define SBO_TIME		44
#define SBO_TRANS_ID		48
#define SBO_HELD_ROOT		56
#define SBO_DATA_SM_ROOT	64
#define SBO_META_SM_ROOT	192
#define SBO_MAPPING_ROOT	320
#define SBO_DETAILS_ROOT	328
#define SBO_DATA_BLOCK_SIZE	336
#define SBO_META_BLOCK_SIZE	340
#define SBO_INCOMPAT		360

/* What a metadata block was first reached as. */
enum kind {
	K_NONE,
	K_SUPERBLOCK,
	K_SNAP_SB,
	K_META_INDEX,
	K_META_BITMAP,
	K_DATA_BITMAP,
	K_DETAILS,
	K_MAP_TOP,
	K_MAP_BOTTOM,
	K_META_RC,
	K_DATA_RC,
	K_DATA_INDEX,
	K_NR
};

static const char *const kind_name[K_NR] = {
	[K_NONE] = "nothing",
	[K_SUPERBLOCK] = "superblock",
	[K_SNAP_SB] = "metadata snapshot superblock",
	[K_META_INDEX] = "metadata space map index block",
	[K_META_BITMAP] = "metadata space map bitmap",
	[K_DATA_BITMAP] = "data space map bitmap",
	[K_DETAILS] = "device details tree node",
	[K_MAP_TOP] = "top-level mapping tree node",
	[K_MAP_BOTTOM] = "bottom-level mapping tree node",
	[K_META_RC] = "metadata ref-count tree node",
	[K_DATA_RC] = "data ref-count tree node",
	[K_DATA_INDEX] = "data space map index tree node",
};

enum finding { F_ERROR, F_WARNING, F_LEAK, F_NOTE };

/* Per metadata block: expected count and what it is. */
struct mstate {
	uint32_t count;
	uint32_t info;			/* kind | (record index + 1) << 4 */
};

/* A btree node walked once; what later referrers need to know. */
struct node_rec {
	uint64_t min_key, max_key;	/* keys of the leaves below (if nr_values) */
	uint64_t nr_values;		/* leaf entries below, this tree's level */
	uint32_t tree;			/* last tree walk that reached it (CK4) */
	uint16_t nr_entries, max_entries;
	uint8_t height;			/* 0 for a leaf */
	uint8_t busy;			/* on the path being walked (CK4) */
	uint8_t bad;			/* damaged here or below */
};

/* The summary of a subtree handed to its parent. */
struct sub {
	int ok;
	unsigned height;
	uint64_t min_key, max_key, nr_values;
};

struct rc_entry {
	uint64_t block;
	uint32_t count;
};

struct idx_entry {
	uint64_t key, blocknr;
	uint32_t nr_free, none_free_before;
	pd_block_t leaf;		/* the index tree leaf holding it */
};

struct drange {
	uint64_t begin, len;
};

struct dev_entry {
	uint64_t id;
	uint64_t mapped_blocks;		/* details only */
	uint64_t root;			/* mapping tree only */
};

struct vec {
	void *p;
	size_t n, cap, esz;
};

/* Where a reference to a node was found (NULL: a root named by the
 * superblock or a space-map root); findings about the node name it. */
struct ref_from {
	pd_block_t b;
	enum kind kind;
	uint32_t entry;
};

struct tree_walk {
	enum kind kind;
	uint32_t value_size;		/* of the leaves */
	uint32_t tree;			/* id for CK4 */
	const char *what;		/* for messages */
};

struct checker {
	struct block_manager *bm;
	unsigned flags;
	check_msg_fn msg;
	void *ctx;
	struct check_result *res;
	unsigned nr_msgs, nr_hidden;

	pd_block_t nr_meta;		/* blocks a reference may name */
	pd_block_t meta_sm_nr_blocks;	/* as in the root, clamped */
	uint64_t data_nr_blocks;
	struct mstate *ms;		/* [nr_meta] */
	struct node_rec *recs;
	size_t nr_recs, cap_recs;
	uint32_t tree_seq;

	struct vec meta_rc;		/* struct rc_entry, ascending */
	struct vec data_rc;
	struct vec data_idx;		/* struct idx_entry */
	struct vec dranges;		/* struct drange */
	struct vec list;		/* struct dev_entry, listing walks */
	size_t list_start;		/* first entry of the current listing */
	int reach_only;			/* check_thin_reachable: stop after CK6 */
	pd_block_t from;		/* the block whose value names the node
					 * walk_node is given (a node, or the
					 * superblock or its copy for a root) */
	pd_block_t root_from;		/* the superblock walk_tree's roots
					 * come from: 0, or the held copy */
};

/* --- small helpers ------------------------------------------------------- */

static void vec_init(struct vec *v, size_t esz)
{
	v->p = NULL;
	v->n = v->cap = 0;
	v->esz = esz;
}

static void vec_free(struct vec *v)
{
	pd_free(v->p);
	v->p = NULL;
	v->n = v->cap = 0;
}

/* Room for one more element; returns it, or NULL (-ENOMEM). */
static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p;

		if (cap > SIZE_MAX / v->esz)
			return NULL;
		p = pd_realloc(v->p, cap * v->esz);
		if (!p)
			return NULL;
		v->p = p;
		v->cap = cap;
	}
	return (char *)v->p + v->esz * v->n++;
}

/* qsort, but not on an empty (possibly NULL) array. */
static void sort_array(void *p, size_t n, size_t size,
		       int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(p, n, size, cmp);
}

/*
 * LSD radix sort of n records of rsize bytes (a multiple of 8) by the
 * uint64 at their start, passes whose digit is the same everywhere
 * skipped.  Stable; linear in n: a million data runs sort in a few
 * milliseconds where qsort's comparisons took most of a pdtool check.
 * The digit is 16 bits for large n, 8 bits below RADIX_BIG: a pass costs
 * its n records plus its count table, and a table of 2^16 counts (512 KiB,
 * cleared and summed each pass, fresh pages from malloc each call) was
 * most of a small pool's check (pdcrash checks tens of thousands of those).
 * 0 or -ENOMEM.
 */
#define RADIX_BIG (1u << 16)

static int radix_sort_by_u64(void *base, size_t n, size_t rsize)
{
	size_t words = rsize / 8, *count;
	uint64_t *a = base, *tmp, *src, *dst, max = 0;
	unsigned bits = n < RADIX_BIG ? 8 : 16;
	size_t buckets = (size_t)1 << bits, mask = buckets - 1;

	if (n < 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (a[i * words] > max)
			max = a[i * words];
	tmp = pd_malloc(n * rsize);
	count = pd_malloc(buckets * sizeof(*count));
	if (!tmp || !count) {
		pd_free(tmp);
		pd_free(count);
		return -ENOMEM;
	}
	src = a;
	dst = tmp;
	for (unsigned shift = 0; shift < 64 && (max >> shift); shift += bits) {
		size_t sum = 0;

		memset(count, 0, buckets * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(src[i * words] >> shift) & mask]++;
		if (count[(src[0] >> shift) & mask] == n)
			continue;	/* one digit everywhere: nothing moves */
		for (size_t d = 0; d < buckets; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++) {
			size_t at = count[(src[i * words] >> shift) & mask]++;

			memcpy(dst + at * words, src + i * words, rsize);
		}
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * rsize);
	pd_free(count);
	pd_free(tmp);
	return 0;
}

static uint32_t max_entries_for(uint32_t value_size)
{
	return 3 * ((MD_BLOCK_SIZE - NODE_HEADER) / (8 + value_size) / 3);
}

static int csum_ok(const uint8_t *d, uint32_t salt)
{
	return le32_get(d) == pd_block_csum(d + 4, MD_BLOCK_SIZE - 4, salt);
}

static void say(struct checker *c, enum finding f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct checker *c, enum finding f, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[F_ERROR] = "error: ", [F_WARNING] = "warning: ",
		[F_LEAK] = "leak: ", [F_NOTE] = "",
	};
	char buf[320];
	size_t n;
	va_list ap;

	if (f == F_WARNING && (c->flags & CHECK_STRICT))
		f = F_ERROR;
	switch (f) {
	case F_ERROR:
		c->res->errors++;
		break;
	case F_WARNING:
		c->res->warnings++;
		break;
	case F_LEAK:
		c->res->leaks++;
		break;
	case F_NOTE:
		break;
	}
	if (!c->msg)
		return;
	if (f != F_NOTE && !(c->flags & CHECK_ALL_MESSAGES) &&
	    c->nr_msgs >= CHECK_MAX_MESSAGES) {
		c->nr_hidden++;
		return;
	}
	if (f != F_NOTE)
		c->nr_msgs++;
	n = (size_t)snprintf(buf, sizeof(buf), "%s", prefix[f]);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	c->msg(c->ctx, buf);
}

/* " (named by block P)": a reference finding names both ends, so it
 * names the damaged block whichever end the damage is at. */
static const char *named_by(const struct checker *c, char *buf, size_t len)
{
	snprintf(buf, len, " (named by %sblock %" PRIu64 ")",
		 c->from ? "" : "the superblock, ", c->from);
	return buf;
}

/*
 * Read-lock b (no validator).  0 and *blk set; 1 if the block could not be
 * read (reported as damage); -ENOMEM.
 */
static int read_block(struct checker *c, pd_block_t b, const char *what,
		      struct bm_block **blk)
{
	int r = bm_read_lock(c->bm, b, NULL, blk);

	if (r == -ENOMEM)
		return r;
	if (r) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): cannot read it: %s",
		    b, what, pd_strerror(r));
		return 1;
	}
	return 0;
}

/*
 * Checksum and location of a non-node block; 1 (reported) if wrong.
 */
static int check_block_header(struct checker *c, pd_block_t b, const uint8_t *d,
			      uint32_t salt, const char *what)
{
	if (!csum_ok(d, salt)) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): bad checksum", b, what);
		return 1;
	}
	if (le64_get(d + 8) != b) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): says it is block %" PRIu64,
		    b, what, le64_get(d + 8));
		return 1;
	}
	return 0;
}

/*
 * Count one reference to a block that is not a btree node (superblocks,
 * index block, bitmaps), made by block c->from.  1 if it is out of range
 * or already something else (reported), 0 if counted.
 */
static int ref_plain_block(struct checker *c, pd_block_t b, enum kind k,
			   const char *where)
{
	struct mstate *ms;
	enum kind old;
	char by[48];

	if (b >= c->nr_meta) {
		say(c, F_ERROR, "%s: block %" PRIu64 " is outside the metadata device (%" PRIu64 " blocks)%s",
		    where, b, c->nr_meta, named_by(c, by, sizeof(by)));
		return 1;
	}
	ms = &c->ms[b];
	if (ms->count < UINT32_MAX)
		ms->count++;
	old = (enum kind)(ms->info & 15);
	if (old != K_NONE) {
		say(c, F_ERROR, "block %" PRIu64 " is used as a %s and as a %s%s",
		    b, kind_name[old], kind_name[k], named_by(c, by, sizeof(by)));
		return 1;
	}
	ms->info = k;
	return 0;
}

/* --- counting walk of a btree (CK2..CK4, CK6) ---------------------------- */

static int walk_node(struct checker *c, const struct tree_walk *w,
		     const struct ref_from *from, pd_block_t b, uint64_t lo,
		     uint64_t hi, int has_hi, int is_root, unsigned depth,
		     struct sub *out);

/* ", in entry I of block P (kind)" for a finding about a node, or "". */
static const char *from_text(const struct ref_from *from, char *buf,
			     size_t size)
{
	if (!from)
		return "";
	snprintf(buf, size, ", in entry %u of block %" PRIu64 " (%s)",
		 from->entry, from->b, kind_name[from->kind]);
	return buf;
}

static int add_data_ref(struct checker *c, uint64_t block)
{
	struct drange *last = c->dranges.n ?
		(struct drange *)c->dranges.p + c->dranges.n - 1 : NULL;

	if (last && last->begin + last->len == block) {
		last->len++;
		return 0;
	}
	last = vec_push(&c->dranges);
	if (!last)
		return -ENOMEM;
	last->begin = block;
	last->len = 1;
	return 0;
}

/* The values of a leaf walked for the first time. */
static int leaf_values(struct checker *c, const struct tree_walk *w,
		       pd_block_t b, const uint8_t *d, uint32_t nr)
{
	uint32_t max = le32_get(d + 20), vs = w->value_size;
	const uint8_t *keys = d + NODE_HEADER;
	const uint8_t *vals = keys + 8 * (size_t)max;
	int r;

	for (uint32_t i = 0; i < nr; i++) {
		const uint8_t *v = vals + (size_t)i * vs;
		uint64_t key = le64_get(keys + 8 * (size_t)i);

		switch (w->kind) {
		case K_MAP_TOP: {
			struct tree_walk bw = {
				.kind = K_MAP_BOTTOM, .value_size = 8,
				.tree = ++c->tree_seq, .what = "mapping tree",
			};
			struct ref_from from = { b, w->kind, i };
			struct sub s;

			r = walk_node(c, &bw, &from, le64_get(v), 0, 0, 0, 1, 0,
				      &s);
			if (r)
				return r;
			break;
		}
		case K_MAP_BOTTOM: {
			uint64_t data = le64_get(v) >> 24;

			if (data >= c->data_nr_blocks) {
				say(c, F_ERROR, "block %" PRIu64 " (%s): virtual block %" PRIu64 " maps to data block %" PRIu64 ", beyond the data device (%" PRIu64 " blocks)",
				    b, kind_name[w->kind], key, data,
				    c->data_nr_blocks);
				break;
			}
			r = add_data_ref(c, data);
			if (r)
				return r;
			break;
		}
		case K_META_RC:
		case K_DATA_RC: {
			struct rc_entry *e = vec_push(w->kind == K_META_RC ?
						      &c->meta_rc : &c->data_rc);

			if (!e)
				return -ENOMEM;
			e->block = key;
			e->count = le32_get(v);
			break;
		}
		case K_DATA_INDEX: {
			struct idx_entry *e = vec_push(&c->data_idx);

			if (!e)
				return -ENOMEM;
			e->key = key;
			e->leaf = b;
			e->blocknr = le64_get(v);
			e->nr_free = le32_get(v + 8);
			e->none_free_before = le32_get(v + 12);
			break;
		}
		default:
			break;		/* details: listed later (CK5) */
		}
	}
	return 0;
}

static int new_rec(struct checker *c, size_t *idx)
{
	if (c->nr_recs == c->cap_recs) {
		size_t cap = c->cap_recs ? c->cap_recs * 2 : 64;
		struct node_rec *p = pd_realloc(c->recs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->recs = p;
		c->cap_recs = cap;
	}
	*idx = c->nr_recs++;
	memset(&c->recs[*idx], 0, sizeof(c->recs[*idx]));
	return 0;
}

/* A node reached again: count it (done by the caller), check it fits. */
static void revisit(struct checker *c, const struct tree_walk *w,
		    const struct ref_from *from, pd_block_t b,
		    struct node_rec *rec, uint64_t lo, uint64_t hi, int has_hi,
		    int is_root, struct sub *out)
{
	char ft[128];

	if (rec->busy) {
		say(c, F_ERROR, "block %" PRIu64 " (%s in the %s) is its own ancestor: a cycle%s",
		    b, kind_name[w->kind], w->what, from_text(from, ft, sizeof(ft)));
		return;
	}
	if (rec->tree == w->tree) {
		say(c, F_ERROR, "block %" PRIu64 " (%s) is referenced twice in one %s%s",
		    b, kind_name[w->kind], w->what, from_text(from, ft, sizeof(ft)));
		return;
	}
	rec->tree = w->tree;
	if (rec->bad)
		return;			/* reported when first walked */
	if (!is_root && rec->nr_entries < rec->max_entries / 3)
		say(c, F_WARNING, "block %" PRIu64 " (%s): too few entries for a non-root node (%u of %u)",
		    b, kind_name[w->kind], rec->nr_entries, rec->max_entries);
	if (rec->nr_values &&
	    (rec->min_key < lo || (has_hi && rec->max_key >= hi))) {
		say(c, F_ERROR, "block %" PRIu64 " (%s, shared): keys %" PRIu64 "..%" PRIu64 " outside the range its parent gives%s",
		    b, kind_name[w->kind], rec->min_key, rec->max_key,
		    from_text(from, ft, sizeof(ft)));
		return;
	}
	out->ok = 1;
	out->height = rec->height;
	out->min_key = rec->min_key;
	out->max_key = rec->max_key;
	out->nr_values = rec->nr_values;
}

/*
 * Header checks of a node read for the first time (CK2, CK3); 0 if the
 * node can be used, 1 if not (reported).
 */
static int check_node_header(struct checker *c, const struct tree_walk *w,
			     pd_block_t b, const uint8_t *d, uint64_t lo,
			     uint64_t hi, int has_hi, int is_root)
{
	const char *what = kind_name[w->kind];
	uint32_t flags = le32_get(d + 4), nr = le32_get(d + 16);
	uint32_t max = le32_get(d + 20), vs = le32_get(d + 24), want_vs;
	uint64_t prev = 0;
	char by[48];
	/* the finding may be the referrer's damage: name it too */
	const char *nb = named_by(c, by, sizeof(by));

	if (!csum_ok(d, NODE_CSUM_XOR)) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): bad checksum (not a btree node?)%s",
		    b, what, nb);
		return 1;
	}
	if (le64_get(d + 8) != b) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): says it is block %" PRIu64 "%s",
		    b, what, le64_get(d + 8), nb);
		return 1;
	}
	if (flags != NODE_INTERNAL && flags != NODE_LEAF) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): bad node flags %#x%s",
		    b, what, flags, nb);
		return 1;
	}
	want_vs = flags == NODE_LEAF ? w->value_size : 8;
	if (vs != want_vs) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): value size %u, expected %u%s",
		    b, what, vs, want_vs, nb);
		return 1;
	}
	if (max != max_entries_for(vs)) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): max_entries %u, expected %u%s",
		    b, what, max, max_entries_for(vs), nb);
		return 1;
	}
	if (nr > max) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): %u entries, more than max_entries %u",
		    b, what, nr, max);
		return 1;
	}
	if (flags == NODE_INTERNAL && nr == 0) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): internal node with no entries",
		    b, what);
		return 1;
	}
	if (!is_root && nr < max / 3)
		say(c, F_WARNING, "block %" PRIu64 " (%s): too few entries for a non-root node (%u of %u)",
		    b, what, nr, max);
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t k = le64_get(d + NODE_HEADER + 8 * (size_t)i);

		if (i ? k <= prev : k < lo) {
			say(c, F_ERROR, "block %" PRIu64 " (%s): key %" PRIu64 " at %u is %s%s",
			    b, what, k, i,
			    i ? "not above the one before it" :
				"below the range its parent gives", i ? "" : nb);
			return 1;
		}
		if (has_hi && k >= hi) {
			say(c, F_ERROR, "block %" PRIu64 " (%s): key %" PRIu64 " at %u is above the range its parent gives%s",
			    b, what, k, i, nb);
			return 1;
		}
		prev = k;
	}
	return 0;
}

/*
 * Count a reference to node b and, the first time, check and walk it.
 * Children of an internal node i get keys [keys[i], keys[i+1]) (the last
 * one the parent's upper bound).  Returns 0 or -ENOMEM; damage is reported
 * and leaves out->ok 0.
 */
static int walk_node(struct checker *c, const struct tree_walk *w,
		     const struct ref_from *from, pd_block_t b, uint64_t lo,
		     uint64_t hi, int has_hi, int is_root, unsigned depth,
		     struct sub *out)
{
	char ft[128];
	struct bm_block *blk;
	struct mstate *ms;
	struct node_rec *rec;
	const uint8_t *d;
	uint32_t nr, max;
	size_t idx;
	int r, ok = 1, first = 1;
	enum kind k;

	memset(out, 0, sizeof(*out));
	c->from = from ? from->b : 0;	/* named_by: the referrer */
	if (depth >= CHECK_MAX_DEPTH) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): the %s is deeper than %u levels",
		    b, kind_name[w->kind], w->what, CHECK_MAX_DEPTH);
		return 0;
	}
	if (b >= c->nr_meta) {
		say(c, F_ERROR, "%s: reference to block %" PRIu64 ", outside the metadata device (%" PRIu64 " blocks)%s",
		    w->what, b, c->nr_meta, from_text(from, ft, sizeof(ft)));
		return 0;
	}
	ms = &c->ms[b];
	if (ms->count < UINT32_MAX)
		ms->count++;
	k = (enum kind)(ms->info & 15);
	if (k != K_NONE) {
		if (k != w->kind) {
			say(c, F_ERROR, "block %" PRIu64 " is used as a %s and as a %s%s",
			    b, kind_name[k], kind_name[w->kind],
			    from_text(from, ft, sizeof(ft)));
			return 0;
		}
		revisit(c, w, from, b, &c->recs[(ms->info >> 4) - 1], lo, hi,
			has_hi, is_root, out);
		return 0;
	}

	r = new_rec(c, &idx);
	if (r)
		return r;
	ms->info = (uint32_t)w->kind | (uint32_t)(idx + 1) << 4;
	rec = &c->recs[idx];
	rec->busy = 1;
	rec->tree = w->tree;
	rec->bad = 1;

	r = read_block(c, b, kind_name[w->kind], &blk);
	if (r) {
		c->recs[idx].busy = 0;
		return r < 0 ? r : 0;
	}
	d = bm_block_cdata(blk);
	if (check_node_header(c, w, b, d, lo, hi, has_hi, is_root)) {
		bm_unlock(blk);
		c->recs[idx].busy = 0;
		return 0;
	}
	nr = le32_get(d + 16);
	max = le32_get(d + 20);
	rec->nr_entries = (uint16_t)nr;
	rec->max_entries = (uint16_t)max;

	if (le32_get(d + 4) == NODE_LEAF) {
		r = leaf_values(c, w, b, d, nr);
		if (r)
			goto out_unlock;
		out->height = 0;
		out->nr_values = nr;
		if (nr) {
			out->min_key = le64_get(d + NODE_HEADER);
			out->max_key = le64_get(d + NODE_HEADER + 8 * (size_t)(nr - 1));
		}
	} else {
		const uint8_t *keys = d + NODE_HEADER;
		const uint8_t *vals = keys + 8 * (size_t)max;

		for (uint32_t i = 0; i < nr; i++) {
			uint64_t clo = le64_get(keys + 8 * (size_t)i);
			int last = i + 1 == nr;
			uint64_t chi = last ? hi : le64_get(keys + 8 * (size_t)(i + 1));
			struct ref_from child = { b, w->kind, i };
			struct sub s;

			r = walk_node(c, w, &child, le64_get(vals + 8 * (size_t)i),
				      clo, chi, last ? has_hi : 1, 0, depth + 1, &s);
			if (r)
				goto out_unlock;
			if (!s.ok) {
				ok = 0;
				continue;
			}
			if (first) {
				out->height = s.height + 1;
				out->min_key = s.min_key;
			} else if (s.height + 1 != out->height) {
				say(c, F_ERROR, "block %" PRIu64 " (%s): its subtrees have leaves at different depths",
				    b, kind_name[w->kind]);
				ok = 0;
			}
			if (s.nr_values) {
				if (!out->nr_values)
					out->min_key = s.min_key;
				out->max_key = s.max_key;
			}
			out->nr_values += s.nr_values;
			first = 0;
		}
		if (out->height > 255)
			ok = 0;
	}
	out->ok = ok;
	rec = &c->recs[idx];
	rec->min_key = out->min_key;
	rec->max_key = out->max_key;
	rec->nr_values = out->nr_values;
	rec->height = (uint8_t)out->height;
	rec->bad = !ok;
	r = 0;
out_unlock:
	bm_unlock(blk);
	c->recs[idx].busy = 0;
	return r;
}

static int walk_tree(struct checker *c, enum kind kind, uint32_t value_size,
		     const char *what, pd_block_t root, struct sub *s)
{
	struct tree_walk w = {
		.kind = kind, .value_size = value_size,
		.tree = ++c->tree_seq, .what = what,
	};

	return walk_node(c, &w, NULL, root, 0, 0, 0, 1, 0, s);
}

/* --- listing walks (CK5) ------------------------------------------------- */

/*
 * Append every (key, value) of a tree whose counting walk was clean to
 * c->list.  Nodes are re-read (shared ones too); *budget bounds the nodes
 * read, so even a tree that sneaked a DAG past CK4 cannot blow up.
 */
static int list_node(struct checker *c, enum kind kind, pd_block_t b,
		     unsigned depth, uint64_t *budget, int *ok)
{
	struct bm_block *blk;
	const uint8_t *d;
	uint32_t nr, max, vs;
	int r;

	if (!*ok)
		return 0;
	if (depth >= CHECK_MAX_DEPTH || b >= c->nr_meta || !*budget) {
		*ok = 0;
		return 0;
	}
	(*budget)--;
	r = bm_read_lock(c->bm, b, NULL, &blk);
	if (r == -ENOMEM)
		return r;
	if (r) {
		*ok = 0;
		return 0;
	}
	d = bm_block_cdata(blk);
	nr = le32_get(d + 16);
	max = le32_get(d + 20);
	vs = le32_get(d + 24);
	if (vs > MD_BLOCK_SIZE || max > max_entries_for(vs) || nr > max) {
		*ok = 0;
		goto out_unlock;
	}
	for (uint32_t i = 0; i < nr && *ok; i++) {
		uint64_t key = le64_get(d + NODE_HEADER + 8 * (size_t)i);
		const uint8_t *v = d + NODE_HEADER + 8 * (size_t)max +
				   (size_t)i * vs;
		struct dev_entry *e;

		if (le32_get(d + 4) == NODE_INTERNAL) {
			r = list_node(c, kind, le64_get(v), depth + 1, budget, ok);
			if (r)
				goto out_unlock;
			continue;
		}
		if (c->list.n > c->list_start &&
		    ((struct dev_entry *)c->list.p)[c->list.n - 1].id >= key) {
			*ok = 0;
			break;
		}
		e = vec_push(&c->list);
		if (!e) {
			r = -ENOMEM;
			goto out_unlock;
		}
		e->id = key;
		e->mapped_blocks = kind == K_DETAILS ? le64_get(v) : 0;
		e->root = kind == K_MAP_TOP ? le64_get(v) : 0;
	}
	r = 0;
out_unlock:
	bm_unlock(blk);
	return r;
}

/* The mappings under a bottom-level root, if its walk was clean. */
static int mappings_under(struct checker *c, pd_block_t root, uint64_t *nr)
{
	struct mstate *ms;
	struct node_rec *rec;

	if (root >= c->nr_meta)
		return 0;
	ms = &c->ms[root];
	if ((ms->info & 15) != K_MAP_BOTTOM || !(ms->info >> 4))
		return 0;
	rec = &c->recs[(ms->info >> 4) - 1];
	if (rec->bad || rec->busy)
		return 0;
	*nr = rec->nr_values;
	return 1;
}

/*
 * CK5 for one pair of details / mapping roots (live or snapshot), after
 * their counting walks.  live: fill res->nr_devices / nr_mappings.
 */
static int check_devices(struct checker *c, pd_block_t details_root,
			 int details_ok, pd_block_t mapping_root,
			 int mapping_ok, const char *which, int live)
{
	struct dev_entry *det, *map;
	size_t nr_det, nr_map, i = 0, j = 0;
	uint64_t budget = 2 * (uint64_t)c->nr_meta + 16;
	int ok = 1, r;

	if (!details_ok || !mapping_ok) {
		say(c, F_NOTE, "%s: trees damaged, devices not compared", which);
		return 0;
	}
	c->list.n = c->list_start = 0;
	r = list_node(c, K_DETAILS, details_root, 0, &budget, &ok);
	if (r)
		return r;
	nr_det = c->list_start = c->list.n;
	r = list_node(c, K_MAP_TOP, mapping_root, 0, &budget, &ok);
	if (r)
		return r;
	if (!ok) {
		say(c, F_ERROR, "%s: the details or mapping tree changed between two reads, or is not a tree",
		    which);
		return 0;
	}
	nr_map = c->list.n - nr_det;
	det = c->list.p;
	map = nr_det ? det + nr_det : det;	/* no offset on NULL (UB) */
	if (live)
		c->res->nr_devices = nr_det;
	while (i < nr_det || j < nr_map) {
		uint64_t nr;

		if (j == nr_map || (i < nr_det && det[i].id < map[j].id)) {
			say(c, F_ERROR, "%s: device %" PRIu64 " is in the details tree but has no mapping tree",
			    which, det[i].id);
			i++;
			continue;
		}
		if (i == nr_det || map[j].id < det[i].id) {
			say(c, F_ERROR, "%s: device %" PRIu64 " has a mapping tree but no details",
			    which, map[j].id);
			j++;
			continue;
		}
		if (mappings_under(c, map[j].root, &nr)) {
			if (nr != det[i].mapped_blocks)
				say(c, F_ERROR, "%s: device %" PRIu64 " has %" PRIu64 " mappings but mapped_blocks says %" PRIu64,
				    which, det[i].id, nr, det[i].mapped_blocks);
			if (live)
				c->res->nr_mappings += nr;
		}
		i++;
		j++;
	}
	return 0;
}

/* --- superblocks --------------------------------------------------------- */

/* The trees of one superblock (live or snapshot copy), CK2..CK6. */
static int walk_sb_trees(struct checker *c, const uint8_t *sb, const char *which,
			 int live)
{
	pd_block_t details_root = le64_get(sb + SBO_DETAILS_ROOT);
	pd_block_t mapping_root = le64_get(sb + SBO_MAPPING_ROOT);
	char what[64];
	struct sub ds, msub;
	int r;

	snprintf(what, sizeof(what), "%s details tree", which);
	r = walk_tree(c, K_DETAILS, DETAILS_SIZE, what, details_root, &ds);
	if (r)
		return r;
	snprintf(what, sizeof(what), "%s mapping tree", which);
	r = walk_tree(c, K_MAP_TOP, 8, what, mapping_root, &msub);
	if (r)
		return r;
	return check_devices(c, details_root, ds.ok, mapping_root, msub.ok,
			     which, live);
}

static int check_snapshot(struct checker *c, pd_block_t held)
{
	struct bm_block *blk;
	uint8_t *copy;
	int r;

	c->from = 0;
	if (ref_plain_block(c, held, K_SNAP_SB, "held metadata snapshot"))
		return 0;
	r = read_block(c, held, kind_name[K_SNAP_SB], &blk);
	if (r)
		return r < 0 ? r : 0;
	if (check_block_header(c, held, bm_block_cdata(blk), SB_CSUM_XOR,
			       kind_name[K_SNAP_SB])) {
		bm_unlock(blk);
		return 0;
	}
	if (le64_get((const uint8_t *)bm_block_cdata(blk) + SBO_MAGIC) != SB_MAGIC) {
		say(c, F_ERROR, "block %" PRIu64 " (%s): bad magic", held,
		    kind_name[K_SNAP_SB]);
		bm_unlock(blk);
		return 0;
	}
	copy = pd_malloc(MD_BLOCK_SIZE);
	if (!copy) {
		bm_unlock(blk);
		return -ENOMEM;
	}
	memcpy(copy, bm_block_cdata(blk), MD_BLOCK_SIZE);
	bm_unlock(blk);
	c->root_from = held;
	r = walk_sb_trees(c, copy, "snapshot", 0);
	c->root_from = 0;
	pd_free(copy);
	return r;
}

/* --- space maps (CK7, CK8) ----------------------------------------------- */

struct meta_bitmap {
	uint64_t blocknr;
	uint32_t nr_free, none_free_before;
	int ok;				/* counted; header checked at compare */
};

struct sm_root {
	uint64_t nr_blocks, nr_allocated, bitmap_root, ref_count_root;
};

static void read_sm_root(const uint8_t *p, struct sm_root *r)
{
	r->nr_blocks = le64_get(p);
	r->nr_allocated = le64_get(p + 8);
	r->bitmap_root = le64_get(p + 16);
	r->ref_count_root = le64_get(p + 24);
}

/* Metadata space map structures: index block, bitmaps, ref-count tree. */
static int count_meta_sm(struct checker *c, const struct sm_root *root,
			 struct meta_bitmap *bms, unsigned nr_bitmaps,
			 int *index_ok)
{
	struct bm_block *blk;
	const uint8_t *d;
	struct sub s;
	int r;

	*index_ok = 0;
	r = walk_tree(c, K_META_RC, 4, "metadata ref-count tree",
		      root->ref_count_root, &s);
	if (r)
		return r;
	c->from = 0;
	if (ref_plain_block(c, root->bitmap_root, K_META_INDEX,
			    "metadata space map root"))
		return 0;
	r = read_block(c, root->bitmap_root, kind_name[K_META_INDEX], &blk);
	if (r)
		return r < 0 ? r : 0;
	d = bm_block_cdata(blk);
	if (check_block_header(c, root->bitmap_root, d, INDEX_CSUM_XOR,
			       kind_name[K_META_INDEX])) {
		bm_unlock(blk);
		return 0;
	}
	*index_ok = 1;
	for (unsigned i = 0; i < nr_bitmaps; i++) {
		const uint8_t *e = d + 16 + INDEX_ENTRY_SIZE * (size_t)i;
		char where[128];

		bms[i].blocknr = le64_get(e);
		bms[i].nr_free = le32_get(e + 8);
		bms[i].none_free_before = le32_get(e + 12);
		snprintf(where, sizeof(where), "block %" PRIu64 " (%s), metadata index entry %u",
			 root->bitmap_root, kind_name[K_META_INDEX], i);
		bms[i].ok = !ref_plain_block(c, bms[i].blocknr, K_META_BITMAP,
					     where);
	}
	bm_unlock(blk);
	return 0;
}

/* Data space map structures: index btree, bitmaps, ref-count tree. */
static int count_data_sm(struct checker *c, const struct sm_root *root,
			 int *index_ok)
{
	struct idx_entry *e;
	struct sub s;
	int r;

	r = walk_tree(c, K_DATA_INDEX, INDEX_ENTRY_SIZE,
		      "data space map index tree", root->bitmap_root, &s);
	if (r)
		return r;
	*index_ok = s.ok;
	r = walk_tree(c, K_DATA_RC, 4, "data ref-count tree",
		      root->ref_count_root, &s);
	if (r)
		return r;
	e = c->data_idx.p;
	for (size_t i = 0; i < c->data_idx.n; i++) {
		char where[128];

		snprintf(where, sizeof(where), "block %" PRIu64 " (%s), data index entry %" PRIu64,
			 e[i].leaf, kind_name[K_DATA_INDEX], e[i].key);
		if (ref_plain_block(c, e[i].blocknr, K_DATA_BITMAP, where))
			e[i].blocknr = UINT64_MAX;	/* not to be read */
	}
	return 0;
}

/*
 * Walks the ref-count entries of one space map in block order alongside
 * the bitmaps, so a value 3 finds its count and stale entries are seen.
 */
struct rc_cursor {
	const struct rc_entry *e;
	size_t n, i;
	const char *what;
};

static void rc_skip_to(struct checker *c, struct rc_cursor *rc, uint64_t b)
{
	while (rc->i < rc->n && rc->e[rc->i].block < b) {
		say(c, F_WARNING, "%s block %" PRIu64 ": ref-count tree entry (%u) but its bitmap value is not 3",
		    rc->what, rc->e[rc->i].block, rc->e[rc->i].count);
		rc->i++;
	}
}

static uint32_t rc_count(struct checker *c, struct rc_cursor *rc, uint64_t b)
{
	uint32_t n;

	rc_skip_to(c, rc, b);
	if (rc->i == rc->n || rc->e[rc->i].block != b) {
		say(c, F_ERROR, "%s block %" PRIu64 ": bitmap value 3 but no ref-count tree entry",
		    rc->what, b);
		return 3;
	}
	n = rc->e[rc->i++].count;
	if (n < 3)
		say(c, F_WARNING, "%s block %" PRIu64 ": ref-count tree entry %u, below 3",
		    rc->what, b, n);
	return n;
}

/* A count on disk against the expected one; loc is the bitmap holding it. */
static void compare_count(struct checker *c, const char *what, pd_block_t loc,
			  uint64_t b, uint64_t disk, uint64_t expected)
{
	if (disk == expected)
		return;
	if (disk == 1 && expected == 0) {
		say(c, F_LEAK, "%s block %" PRIu64 ": leaked (count 1 on disk, nothing references it; bitmap block %" PRIu64 ")",
		    what, b, loc);
		if (!strcmp(what, "data"))
			c->res->data_leaks++;
	} else
		say(c, F_ERROR, "%s block %" PRIu64 ": bad reference count: %" PRIu64 " on disk, %" PRIu64 " expected (bitmap block %" PRIu64 ")",
		    what, b, disk, expected, loc);
}

/* Source of expected counts for one space map, in block order. */
struct expect {
	const struct mstate *ms;	/* metadata: dense */
	const struct drange *ev_begin;	/* data: runs sorted by begin */
	const uint64_t *ends;		/* data: run ends, sorted */
	size_t nr_runs, bi, ei;
	uint64_t cur;			/* data: runs covering the block */
};

/* Expected count of b; calls must come with b ascending. */
static uint64_t expect_at(struct expect *x, uint64_t b)
{
	if (x->ms)
		return x->ms[b].count;
	while (x->bi < x->nr_runs && x->ev_begin[x->bi].begin <= b) {
		x->cur++;
		x->bi++;
	}
	while (x->ei < x->nr_runs && x->ends[x->ei] <= b) {
		x->cur--;
		x->ei++;
	}
	return x->cur;
}

/* The first block >= b where a data expectation may change. */
static uint64_t expect_next_change(const struct expect *x)
{
	uint64_t n = UINT64_MAX;

	if (x->ms)
		return 0;
	if (x->bi < x->nr_runs)
		n = x->ev_begin[x->bi].begin;
	if (x->ei < x->nr_runs && x->ends[x->ei] < n)
		n = x->ends[x->ei];
	return n;
}

/*
 * Compare one bitmap (nr entries from block base) with the expectation.
 * Adds the blocks in use on disk to *allocated.
 */
static int compare_bitmap(struct checker *c, const char *what, pd_block_t loc,
			  pd_block_t index_at, uint64_t base, uint32_t nr,
			  uint32_t nr_free, uint32_t none_free_before,
			  struct expect *x, struct rc_cursor *rc,
			  uint64_t *allocated)
{
	struct bm_block *blk;
	const uint8_t *d;
	uint32_t free_here = 0, first_free = UINT32_MAX;
	char bwhat[48];
	int r;

	snprintf(bwhat, sizeof(bwhat), "%s space map bitmap", what);
	r = read_block(c, loc, bwhat, &blk);
	if (r)
		return r < 0 ? r : 1;
	d = bm_block_cdata(blk);
	if (check_block_header(c, loc, d, BITMAP_CSUM_XOR, bwhat)) {
		bm_unlock(blk);
		return 1;
	}
	for (uint32_t w = 0; w < ENTRIES_PER_BITMAP / 32; w++) {
		uint64_t word = le64_get(d + BITMAP_HEADER + 8 * (size_t)w);
		uint32_t j0 = w * 32;

		if (j0 >= nr) {
			if (word) {
				say(c, F_WARNING, "%s space map bitmap %" PRIu64 ": entries in use past the end of the device",
				    what, loc);
				break;
			}
			continue;
		}
		/* Fast path: a whole word of 0s or 1s, expectation constant. */
		if (!x->ms && j0 + 32 <= nr &&
		    expect_next_change(x) > base + j0 + 31) {
			uint64_t e = expect_at(x, base + j0);

			if (e == 0 && word == 0) {
				free_here += 32;
				if (first_free == UINT32_MAX)
					first_free = j0;
				continue;
			}
			if (e == 1 && word == ALL_COUNT_1_WORD) {
				*allocated += 32;
				continue;
			}
		}
		/* The same for metadata, whose expectation is per block. */
		if (x->ms && j0 + 32 <= nr &&
		    (word == 0 || word == ALL_COUNT_1_WORD)) {
			uint32_t want = word ? 1 : 0, k;

			for (k = 0; k < 32 && x->ms[base + j0 + k].count == want; k++)
				;
			if (k == 32) {
				if (want) {
					*allocated += 32;
				} else {
					free_here += 32;
					if (first_free == UINT32_MAX)
						first_free = j0;
				}
				continue;
			}
		}
		for (uint32_t k = 0; k < 32 && j0 + k < nr; k++) {
			uint64_t b = base + j0 + k;
			unsigned hi = (unsigned)(word >> (2 * k)) & 1;
			unsigned lo = (unsigned)(word >> (2 * k + 1)) & 1;
			uint64_t disk = hi << 1 | lo;

			if (disk == 3)
				disk = rc_count(c, rc, b);
			if (disk)
				(*allocated)++;
			else {
				free_here++;
				if (first_free == UINT32_MAX)
					first_free = j0 + k;
			}
			compare_count(c, what, loc, b, disk, expect_at(x, b));
		}
	}
	bm_unlock(blk);
	rc_skip_to(c, rc, base + nr);
	/* The kernel counts a partial last bitmap's entries past the end of
	 * the device as free (FORMAT.md 1.8); thin_restore does not. */
	if (nr_free != free_here &&
	    nr_free != free_here + (ENTRIES_PER_BITMAP - nr))
		say(c, F_WARNING, "%s space map bitmap %" PRIu64 " (blocks from %" PRIu64 "): index says %u free (its entry in block %" PRIu64 "), bitmap has %u",
		    what, loc, base, nr_free, index_at, free_here);
	if (first_free < none_free_before)
		say(c, F_WARNING, "%s space map bitmap %" PRIu64 ": block %" PRIu64 " is free but none_free_before is %u (its entry in block %" PRIu64 ")",
		    what, loc, base + first_free, none_free_before, index_at);
	return 0;
}

static int cmp_rc(const void *a, const void *b)
{
	const struct rc_entry *x = a, *y = b;

	return x->block < y->block ? -1 : x->block > y->block;
}

static int compare_meta_sm(struct checker *c, const struct sm_root *root,
			   const struct meta_bitmap *bms, unsigned nr_bitmaps)
{
	struct expect x = { .ms = c->ms };
	struct rc_cursor rc = {
		.e = c->meta_rc.p, .n = c->meta_rc.n, .what = "metadata",
	};
	uint64_t allocated = 0;
	int r, complete = 1;

	sort_array(c->meta_rc.p, c->meta_rc.n, sizeof(struct rc_entry), cmp_rc);
	for (unsigned i = 0; i < nr_bitmaps; i++) {
		uint64_t base = (uint64_t)i * ENTRIES_PER_BITMAP;
		uint64_t n = c->meta_sm_nr_blocks - base;

		if (n > ENTRIES_PER_BITMAP)
			n = ENTRIES_PER_BITMAP;
		if (!bms[i].ok) {
			complete = 0;
			continue;
		}
		r = compare_bitmap(c, "metadata", bms[i].blocknr,
				   root->bitmap_root, base, (uint32_t)n,
				   bms[i].nr_free,
				   bms[i].none_free_before, &x, &rc, &allocated);
		if (r < 0)
			return r;
		if (r)
			complete = 0;
	}
	rc_skip_to(c, &rc, UINT64_MAX);
	if (complete && allocated != root->nr_allocated)
		say(c, F_WARNING, "metadata space map: nr_allocated is %" PRIu64 " (the superblock's root) but %" PRIu64 " blocks are in use",
		    root->nr_allocated, allocated);
	return 0;
}

static int cmp_idx(const void *a, const void *b)
{
	const struct idx_entry *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static int compare_data_sm(struct checker *c, const struct sm_root *root)
{
	struct idx_entry *idx = c->data_idx.p;
	struct drange *runs = c->dranges.p;
	size_t nr_idx = c->data_idx.n, nr_runs = c->dranges.n;
	uint64_t nr_bitmaps = root->nr_blocks / ENTRIES_PER_BITMAP +
			      !!(root->nr_blocks % ENTRIES_PER_BITMAP);
	uint64_t allocated = 0, want = 0;
	uint64_t *ends;
	struct rc_cursor rc = {
		.e = c->data_rc.p, .n = c->data_rc.n, .what = "data",
	};
	struct expect x = { 0 };
	int r = 0, complete = 1;

	_Static_assert(offsetof(struct drange, begin) == 0 &&
		       sizeof(struct drange) % 8 == 0, "radix sort by begin");
	ends = pd_malloc((nr_runs ? nr_runs : 1) * sizeof(*ends));
	if (!ends)
		return -ENOMEM;
	r = radix_sort_by_u64(runs, nr_runs, sizeof(*runs));
	for (size_t i = 0; i < nr_runs; i++)
		ends[i] = runs[i].begin + runs[i].len;
	if (!r)
		r = radix_sort_by_u64(ends, nr_runs, sizeof(*ends));
	if (r)
		goto out_free;
	sort_array(idx, nr_idx, sizeof(*idx), cmp_idx);
	sort_array(c->data_rc.p, c->data_rc.n, sizeof(struct rc_entry), cmp_rc);
	x.ev_begin = runs;
	x.ends = ends;
	x.nr_runs = nr_runs;

	for (size_t i = 0; i < nr_idx; i++) {
		uint64_t base, n;

		if (idx[i].key >= nr_bitmaps) {
			say(c, F_ERROR, "data space map: index entry for bitmap %" PRIu64 ", beyond the %" PRIu64 " bitmaps of %" PRIu64 " blocks (the superblock's root)",
			    idx[i].key, nr_bitmaps, root->nr_blocks);
			continue;
		}
		if (idx[i].key != want) {
			say(c, F_ERROR, "data space map: no index entry for blocks %" PRIu64 "..%" PRIu64,
			    want * ENTRIES_PER_BITMAP,
			    idx[i].key * ENTRIES_PER_BITMAP - 1);
			complete = 0;
		}
		want = idx[i].key + 1;
		if (idx[i].blocknr == UINT64_MAX) {
			complete = 0;
			continue;
		}
		base = idx[i].key * ENTRIES_PER_BITMAP;
		n = root->nr_blocks - base;
		if (n > ENTRIES_PER_BITMAP)
			n = ENTRIES_PER_BITMAP;
		r = compare_bitmap(c, "data", idx[i].blocknr, idx[i].leaf, base,
				   (uint32_t)n, idx[i].nr_free,
				   idx[i].none_free_before, &x, &rc, &allocated);
		if (r < 0)
			goto out_free;
		if (r)
			complete = 0;
		r = 0;
	}
	if (want < nr_bitmaps) {
		say(c, F_ERROR, "data space map: no index entry for blocks %" PRIu64 "..%" PRIu64,
		    want * ENTRIES_PER_BITMAP, root->nr_blocks - 1);
		complete = 0;
	}
	rc_skip_to(c, &rc, UINT64_MAX);
	if (complete && allocated != root->nr_allocated)
		say(c, F_WARNING, "data space map: nr_allocated is %" PRIu64 " (the superblock's root) but %" PRIu64 " blocks are in use",
		    root->nr_allocated, allocated);
out_free:
	pd_free(ends);
	return r;
}

/* --- the whole check ----------------------------------------------------- */

/* CK1.  1 if the superblock is unusable (reported), else 0. */
static int check_superblock(struct checker *c, const uint8_t *d)
{
	struct check_result *res = c->res;
	size_t i;

	for (i = 0; i < MD_BLOCK_SIZE && !d[i]; i++)
		;
	if (i == MD_BLOCK_SIZE) {
		say(c, F_ERROR, "superblock (block 0) is all zeroes: not formatted");
		return 1;
	}
	if (!csum_ok(d, SB_CSUM_XOR)) {
		say(c, F_ERROR, "superblock (block 0): bad checksum");
		return 1;
	}
	if (le64_get(d + SBO_BLOCKNR) != 0) {
		say(c, F_ERROR, "superblock (block 0): says it is block %" PRIu64,
		    le64_get(d + SBO_BLOCKNR));
		return 1;
	}
	if (le64_get(d + SBO_MAGIC) != SB_MAGIC) {
		say(c, F_ERROR, "superblock (block 0): bad magic %" PRIu64,
		    le64_get(d + SBO_MAGIC));
		return 1;
	}
	res->superblock_ok = 1;
	res->flags = le32_get(d + SBO_FLAGS);
	res->version = le32_get(d + SBO_VERSION);
	res->time = le32_get(d + SBO_TIME);
	res->trans_id = le64_get(d + SBO_TRANS_ID);
	res->held_root = le64_get(d + SBO_HELD_ROOT);
	res->data_block_size = le32_get(d + SBO_DATA_BLOCK_SIZE);
	if (res->version < 1 || res->version > 2)
		say(c, F_WARNING, "superblock: unknown version %u", res->version);
	if (le32_get(d + SBO_META_BLOCK_SIZE) != 8)
		say(c, F_WARNING, "superblock: metadata block size %u sectors, not 8",
		    le32_get(d + SBO_META_BLOCK_SIZE));
	if (le32_get(d + SBO_INCOMPAT))
		say(c, F_WARNING, "superblock: unknown incompatible features %#x",
		    le32_get(d + SBO_INCOMPAT));
	if (res->data_block_size < 128 || res->data_block_size > 2097152 ||
	    res->data_block_size % 128)
		say(c, F_WARNING, "superblock: data block size %u sectors, not a multiple of 128 in 128..2097152 (64 KiB..1 GiB)",
		    res->data_block_size);
	return 0;
}

static int run_check(struct checker *c, struct bdev *bd)
{
	struct check_result *res = c->res;
	struct meta_bitmap bms[MAX_META_BITMAPS];
	struct sm_root mroot, droot;
	struct bm_block *blk;
	uint8_t sb[MD_BLOCK_SIZE];
	unsigned nr_meta_bitmaps;
	pd_block_t dev_blocks = bdev_nr_blocks(bd);
	int r, meta_index_ok, data_index_ok;

	if (dev_blocks == 0) {
		say(c, F_ERROR, "the metadata device is empty (no block 0)");
		return 0;
	}
	r = read_block(c, 0, "superblock", &blk);
	if (r)
		return r < 0 ? r : 0;
	memcpy(sb, bm_block_cdata(blk), MD_BLOCK_SIZE);
	bm_unlock(blk);
	if (check_superblock(c, sb))
		return 0;

	read_sm_root(sb + SBO_META_SM_ROOT, &mroot);
	read_sm_root(sb + SBO_DATA_SM_ROOT, &droot);
	res->metadata_nr_blocks = mroot.nr_blocks;
	res->metadata_nr_allocated = mroot.nr_allocated;
	res->data_nr_blocks = droot.nr_blocks;
	res->data_nr_allocated = droot.nr_allocated;
	c->data_nr_blocks = droot.nr_blocks;

	c->nr_meta = mroot.nr_blocks;
	if (c->nr_meta == 0) {
		say(c, F_ERROR, "metadata space map: 0 blocks (the superblock's root)");
		return 0;
	}
	if (c->nr_meta > MAX_META_BLOCKS) {
		say(c, F_ERROR, "metadata space map: %" PRIu64 " blocks (the superblock's root), more than 255 bitmaps can hold",
		    c->nr_meta);
		c->nr_meta = MAX_META_BLOCKS;
	}
	if (c->nr_meta > dev_blocks) {
		say(c, F_ERROR, "metadata space map: %" PRIu64 " blocks (the superblock's root), but the device has only %" PRIu64 " (truncated?)",
		    c->nr_meta, dev_blocks);
		c->nr_meta = dev_blocks;
	}
	c->meta_sm_nr_blocks = c->nr_meta;
	if (mroot.nr_allocated > mroot.nr_blocks)
		say(c, F_ERROR, "metadata space map: nr_allocated %" PRIu64 " > nr_blocks %" PRIu64 " (the superblock's root)",
		    mroot.nr_allocated, mroot.nr_blocks);
	if (droot.nr_allocated > droot.nr_blocks)
		say(c, F_ERROR, "data space map: nr_allocated %" PRIu64 " > nr_blocks %" PRIu64 " (the superblock's root)",
		    droot.nr_allocated, droot.nr_blocks);
	nr_meta_bitmaps = (unsigned)((c->nr_meta + ENTRIES_PER_BITMAP - 1) /
				     ENTRIES_PER_BITMAP);

	c->ms = pd_calloc((size_t)c->nr_meta, sizeof(*c->ms));
	if (!c->ms)
		return -ENOMEM;
	ref_plain_block(c, 0, K_SUPERBLOCK, "superblock");

	/* CK2..CK6: live trees, the snapshot, the space maps' own blocks. */
	r = walk_sb_trees(c, sb, "live", 1);
	if (r)
		return r;
	if (res->held_root) {
		r = check_snapshot(c, res->held_root);
		if (r)
			return r;
	}
	r = count_meta_sm(c, &mroot, bms, nr_meta_bitmaps, &meta_index_ok);
	if (r)
		return r;
	r = count_data_sm(c, &droot, &data_index_ok);
	if (r)
		return r;
	for (pd_block_t b = 0; b < c->nr_meta; b++)
		res->metadata_blocks_used += c->ms[b].count != 0;
	if (c->reach_only)
		return 0;

	/* CK7, CK8 */
	if (res->errors) {
		say(c, F_NOTE, "the trees are damaged: reference counts not compared");
		return 0;
	}
	if (meta_index_ok) {
		r = compare_meta_sm(c, &mroot, bms, nr_meta_bitmaps);
		if (r)
			return r;
	}
	if (data_index_ok) {
		r = compare_data_sm(c, &droot);
		if (r)
			return r;
	}
	return 0;
}

static int check_common(struct bdev *bd, unsigned flags, check_msg_fn msg,
			void *ctx, struct check_result *res,
			check_reach_fn reach, void *reach_ctx)
{
	struct checker c;
	int r;

	if (!bd || !res || bd->block_size != MD_BLOCK_SIZE)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.flags = flags;
	c.msg = msg;
	c.ctx = ctx;
	c.res = res;
	vec_init(&c.meta_rc, sizeof(struct rc_entry));
	vec_init(&c.data_rc, sizeof(struct rc_entry));
	vec_init(&c.data_idx, sizeof(struct idx_entry));
	vec_init(&c.dranges, sizeof(struct drange));
	vec_init(&c.list, sizeof(struct dev_entry));

	r = bm_create(bd, CACHE_BLOCKS, &c.bm);
	if (r)
		return r;
	c.reach_only = reach != NULL;
	r = run_check(&c, bd);
	if (!r && reach && c.ms)
		for (pd_block_t b = 0; b < c.nr_meta; b++)
			if (c.ms[b].count)
				reach(reach_ctx, b);
	if (!r && c.nr_hidden && msg) {
		char buf[96];

		snprintf(buf, sizeof(buf), "... and %u more findings not shown",
			 c.nr_hidden);
		msg(ctx, buf);
	}
	vec_free(&c.list);
	vec_free(&c.dranges);
	vec_free(&c.data_idx);
	vec_free(&c.data_rc);
	vec_free(&c.meta_rc);
	pd_free(c.recs);
	pd_free(c.ms);
	bm_destroy(c.bm);
	return r;
}

int check_thin_metadata(struct bdev *bd, unsigned flags, check_msg_fn msg,
			void *ctx, struct check_result *res)
{
	return check_common(bd, flags, msg, ctx, res, NULL, NULL);
}

int check_thin_reachable(struct bdev *bd, check_reach_fn reach,
			 check_msg_fn msg, void *ctx, struct check_result *res)
{
	if (!reach)
		return -EINVAL;
	return check_common(bd, 0, msg, ctx, res, reach, ctx);
}
