/* harness/pdcrash/diff.c - `pdcrash diff`: one workload on two backends
 * (client.h), in lock step, from identical images (DESIGN.md 8).
 *
 * The scenario is expanded once (random lines, ranges) by a run of the
 * workload on the backend whose caller policy diff follows (below); then
 * each expanded op is applied to both pools, each on its own simdisk:
 *
 *  D1  after every op both backends return the same result (the same
 *      errno; for a map the same data block, for a range remove the same
 *      count).  A difference is reported with the op and both results and
 *      ends the scenario (the pools no longer run the same workload).
 *  D2  at every point where neither pool holds anything uncommitted (each
 *      format step, each commit, each abort) both images are read whole:
 *      a. block by block: equal, or the first differing block is named with
 *         its type (decoded from its checksum salt and header, FORMAT.md 1)
 *         and the field that differs, and the difference is explained by a
 *         named cause (causes[] below) or counted as unexplained;
 *      b. each image opens in both backends (copies: nothing is written to
 *         the pools under test), and the four opens give the same digest
 *         (oracle.h) and the same thin_dump-style text (pool, devices,
 *         every mapping with its time).
 *
 * Caller policy: the known deliberate differences of client.h that belong
 * to the caller are removed by running both backends under one policy, the
 * stricter of the two:
 *   - format_steps: if either backend formats in two steps (CL2, the
 *     kernel), both do: a one-step backend formats with a data device of
 *     0 blocks, then resizes it and commits (what dm-thin's preresume does);
 *   - message_commits: if either backend's caller commits after every pool
 *     message (K8), diff commits both after every message.
 * The differences that stay in the backends are named in causes[]; one of
 * them is given as the cause only when the images can show it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "cli.h"
#include "client.h"
#include "client_digest.h"
#include "commands.h"
#include "diff.h"
#include "errors.h"
#include "simdisk.h"
#include "workload.h"

#define DIFF_MAX_SCENARIOS 256
#define BS 4096u

/* Salts of FORMAT.md 1.1. */
#define SALT_SB 160774u
#define SALT_BTREE 121107u
#define SALT_BITMAP 240779u
#define SALT_INDEX 160478u

/* The named deliberate differences (client.h K1..K12, core TH1/TH4) and
 * what diff does with each. */
static const struct diff_cause causes[] = {
	{ "format-two-step", "the kernel formats with a data device of 0 blocks "
	  "and resizes in a second commit (CL2): removed, both backends format "
	  "in two steps" },
	{ "message-commits", "the kernel caller commits after every pool "
	  "message (K8): removed, diff commits both after every message" },
	{ "abort-rewrites-superblock", "our abort writes back the superblock it "
	  "reopened from (TH4, K3): the same bytes, so images compared after "
	  "an abort are equal; only the op log differs" },
	{ "unchanged-commit", "the kernel rewrites an unchanged superblock "
	  "after the first change since open (K9): the same bytes; only the "
	  "op log differs" },
	{ "remove-absent", "btree remove of an absent key: the kernel's range "
	  "remove returns 0, the adapter looks first and returns -ENODATA (K2): "
	  "the same result, nothing written" },
	{ "range-remove", "a remove in Linux 6.1+ is __remove_range (K2): "
	  "dm_tm_inc of the device's mapping root (the metadata space-map "
	  "bitmap is shadowed first), the top-level entry removed and "
	  "re-inserted, dm_btree_remove_leaves removing a run of a leaf after "
	  "one rebalance and decrementing runs of data blocks with one "
	  "space-map call, all of it even for a range with nothing mapped; "
	  "our core removes key by key through the 2-level tree.  Same "
	  "mappings and counts, other block numbers and node "
	  "fill: from the first commit with a remove on, the images are "
	  "compared by their dumps (D2b), and byte differences are put down "
	  "to this cause" },
	{ "meta-snap-at-next-commit", "the metadata snapshot's held_root is "
	  "published by the next commit on both (reserve commits first, the "
	  "copy goes out with the following commit); diff compares at commits "
	  "only" },
	{ "stale-node-slots", "btree node slots past nr_entries: the kernel "
	  "leaves stale keys and values there (entries are moved, the rest "
	  "never cleared), our core zeroes them; no reader looks at them, so a "
	  "block that differs only there (and in its checksum) is explained" },
	{ "free-block-contents", "blocks free in both images' metadata space "
	  "maps (nothing reachable points at them) hold what an aborted "
	  "transaction wrote: the kernel's abort tears the block manager "
	  "down and dm-bufio writes its dirty buffers back; our core's abort "
	  "drops them" },
	{ "sm-root-padding", "superblock bytes 96..191 and 224..319, the "
	  "space-map root slots past the 32 bytes of disk_sm_root: the kernel "
	  "copies all 128 bytes from a kmalloc'd, never zeroed buffer "
	  "(FORMAT.md 1.2), our core writes zeroes; no reader looks at them" },
	{ "needs-check-deferred", "set_needs_check only dirties the superblock "
	  "in the kernel (K4): not in a workload without faults" },
	{ "metadata-space", "the two lay metadata out differently (stale-node-"
	  "slots, range-remove: other blocks shadowed, other node fill), so "
	  "on a nearly full metadata device -ENOSPC (or the pool failing on "
	  "it) comes at a different op, or on one backend only; diff names "
	  "the op and compares no further in that scenario" },
	{ "data-size-at-commit", "the status op's data device size: the "
	  "kernel answers the size at the last commit, our core the size now "
	  "(K10): explained where a resize is uncommitted" },
	{ "free-data-wraps", "the status op's free data blocks below zero (a "
	  "grow and more allocations than the old size had free, in one "
	  "transaction): the kernel's count wraps, our core says 0 (K11)" },
	{ "caller-misuse", "an op that passes a value out of the core's "
	  "contract (scenario.h, expect=EINVAL): the kernel's metadata API "
	  "leaves those checks to dm-thin's target and message parsing and "
	  "may take the call (K14): run on neither" },
	{ "free-metadata-layout", "the status op's free metadata blocks: once "
	  "a remove has laid the metadata out differently (range-remove), the "
	  "two use other numbers of blocks" },
	{ "no-restore-api", "the restore op rebuilds the pool with calls the "
	  "kernel's metadata API does not have (setting a device's details, "
	  "a mapping's time: K17): run on neither" },
};

const struct diff_cause *diff_cause_find(const struct diff_cause *table,
					 size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(table[i].id, id))
			return &table[i];
	return NULL;
}

static const struct diff_cause *cause_find(const char *id)
{
	return diff_cause_find(causes, sizeof(causes) / sizeof(causes[0]), id);
}

/* A block device in memory: the copy of an image an open in the other
 * backend may write to. */
struct membd {
	struct bdev bd;		/* first */
	uint8_t *data;
};

#define MB(bd) ((struct membd *)(bd))

static int mb_read(struct bdev *bd, pd_block_t b, void *buf)
{
	memcpy(buf, MB(bd)->data + b * bd->block_size, bd->block_size);
	return 0;
}

static int mb_write(struct bdev *bd, pd_block_t b, const void *buf,
		    unsigned flags)
{
	(void)flags;
	memcpy(MB(bd)->data + b * bd->block_size, buf, bd->block_size);
	return 0;
}

static int mb_flush(struct bdev *bd)
{
	(void)bd;
	return 0;
}

static void mb_destroy(struct bdev *bd)
{
	free(MB(bd)->data);
	free(bd);
}

static const struct bdev_ops membd_ops = {
	.read = mb_read, .write = mb_write, .flush = mb_flush,
	.destroy = mb_destroy,
};

int diff_membd_create(const uint8_t *img, pd_block_t nr, struct bdev **out)
{
	struct membd *m = calloc(1, sizeof(*m));

	if (!m || !(m->data = malloc(nr * BS))) {
		free(m);
		return -ENOMEM;
	}
	memcpy(m->data, img, nr * BS);
	m->bd.ops = &membd_ops;
	m->bd.block_size = BS;
	m->bd.nr_blocks = nr;
	m->bd.caps = BDEV_ATOMIC_BLOCK;
	*out = &m->bd;
	return 0;
}

struct bdev *diff_copy(const uint8_t *img, pd_block_t nr, char *msg, size_t len)
{
	struct bdev *bd;
	int r = diff_membd_create(img, nr, &bd);

	if (r) {
		snprintf(msg, len, "%s", pd_strerror(r));
		return NULL;
	}
	return bd;
}

int diff_open_failed(int r, struct bdev *bd, char *msg, size_t len)
{
	snprintf(msg, len, "open failed: %d (%s)", r, pd_strerror(r));
	bdev_destroy(bd);
	return r;
}

/* --- decoding a block: type and the field at a byte offset ------------ */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

enum btype { BT_NONE, BT_SB, BT_INTERNAL, BT_LEAF, BT_BITMAP, BT_INDEX };

static enum btype block_type(const uint8_t *d, pd_block_t b)
{
	uint32_t c = le32(d);

	if (c == pd_block_csum(d + 4, BS - 4, SALT_SB))
		return b == 0 ? BT_SB : BT_SB;	/* also a held copy */
	if (c == pd_block_csum(d + 4, BS - 4, SALT_BTREE))
		return (le32(d + 4) & 1) ? BT_INTERNAL : BT_LEAF;
	if (c == pd_block_csum(d + 4, BS - 4, SALT_BITMAP))
		return BT_BITMAP;
	if (c == pd_block_csum(d + 4, BS - 4, SALT_INDEX))
		return BT_INDEX;
	return BT_NONE;
}

static const char *leaf_kind(uint32_t value_size)
{
	switch (value_size) {
	case 4: return "space-map ref-count tree";
	case 8: return "mapping tree (top or bottom level)";
	case 16: return "data space-map index tree";
	case 24: return "device details tree";
	default: return "unknown tree";
	}
}

static void type_name(const uint8_t *d, enum btype t, pd_block_t b,
		      char *out, size_t len)
{
	switch (t) {
	case BT_SB:
		snprintf(out, len, "%s", b == 0 ? "superblock" :
			 "superblock copy (metadata snapshot)");
		break;
	case BT_INTERNAL:
		snprintf(out, len, "btree internal node");
		break;
	case BT_LEAF:
		snprintf(out, len, "btree leaf, %s (value_size %u)",
			 leaf_kind(le32(d + 24)), le32(d + 24));
		break;
	case BT_BITMAP:
		snprintf(out, len, "space-map bitmap");
		break;
	case BT_INDEX:
		snprintf(out, len, "metadata space-map index block");
		break;
	default:
		snprintf(out, len, "no valid checksum (free or unformatted)");
		break;
	}
}

static void sm_root_field(const char *root, unsigned off, char *out,
			  size_t len)
{
	static const char *f[] = { "nr_blocks", "nr_allocated", "bitmap_root",
				   "ref_count_root" };

	if (off < 32)
		snprintf(out, len, "%s.%s", root, f[off / 8]);
	else
		snprintf(out, len, "%s (unused bytes %u)", root, off);
}

/* The field of a block of type t that holds byte off (d: either image's
 * copy of the block; the header is decoded from it). */
static void field_name(const uint8_t *d, enum btype t, unsigned off,
		       char *out, size_t len)
{
	static const struct { unsigned off; const char *name; } sb[] = {
		{ 0, "csum" }, { 4, "flags" }, { 8, "blocknr" }, { 16, "uuid" },
		{ 32, "magic" }, { 40, "version" }, { 44, "time" },
		{ 48, "trans_id" }, { 56, "held_root" },
		{ 64, "data_space_map_root" }, { 192, "metadata_space_map_root" },
		{ 320, "data_mapping_root" }, { 328, "device_details_root" },
		{ 336, "data_block_size" }, { 340, "metadata_block_size" },
		{ 344, "metadata_nr_blocks" }, { 352, "compat_flags" },
		{ 356, "compat_ro_flags" }, { 360, "incompat_flags" },
		{ 364, "unused tail" },
	};
	static const char *hdr[] = { "csum", "flags", "blocknr", "blocknr",
				     "nr_entries", "max_entries", "value_size",
				     "padding" };

	switch (t) {
	case BT_SB: {
		size_t i = sizeof(sb) / sizeof(sb[0]) - 1;

		while (sb[i].off > off)
			i--;
		if (sb[i].off == 64 || sb[i].off == 192)
			sm_root_field(sb[i].name, off - sb[i].off, out, len);
		else
			snprintf(out, len, "%s", sb[i].name);
		break;
	}
	case BT_INTERNAL:
	case BT_LEAF: {
		uint32_t max = le32(d + 20), vs = le32(d + 24);

		if (off < 32)
			snprintf(out, len, "header.%s", hdr[off / 4]);
		else if (off < 32 + 8 * max)
			snprintf(out, len, "keys[%u] (nr_entries %u)",
				 (off - 32) / 8, le32(d + 16));
		else if (vs && off < 32 + (8 + vs) * max)
			snprintf(out, len, "values[%u] (nr_entries %u)",
				 (off - 32 - 8 * max) / vs, le32(d + 16));
		else
			snprintf(out, len, "unused tail (byte %u)", off);
		break;
	}
	case BT_BITMAP:
		if (off < 16)
			snprintf(out, len, "header.%s", off < 4 ? "csum" :
				 off < 8 ? "not_used" : "blocknr");
		else
			snprintf(out, len, "entries %u..%u (2 bits each)",
				 (off - 16) * 4, (off - 16) * 4 + 3);
		break;
	case BT_INDEX:
		if (off < 16)
			snprintf(out, len, "header.%s", off < 4 ? "csum" :
				 off < 8 ? "padding" : "blocknr");
		else
			snprintf(out, len, "index[%u].%s", (off - 16) / 16,
				 (off - 16) % 16 < 8 ? "blocknr" :
				 (off - 16) % 16 < 12 ? "nr_free" :
				 "none_free_before");
		break;
	default:
		snprintf(out, len, "byte %u", off);
		break;
	}
}

/* --- one side --------------------------------------------------------- */

struct side {
	const struct client_ops *ops;
	struct simdisk *sd;
	struct bdev *bd;
	struct client *cl;
	uint8_t *img;			/* the image at the last compare point */
	pd_block_t nr_img;
};

static void side_free(struct side *s)
{
	if (s->cl)
		s->ops->destroy(s->cl);
	s->cl = NULL;
	simdisk_destroy(s->sd);
	s->sd = NULL;
	free(s->img);
	s->img = NULL;
}

int diff_read_image(struct bdev *bd, uint8_t **img, pd_block_t *nr)
{
	pd_block_t n = bd->nr_blocks;
	uint8_t *p = realloc(*img, n * BS);
	int r;

	if (!p)
		return -ENOMEM;
	*img = p;
	*nr = n;
	for (pd_block_t b = 0; b < n; b++)
		if ((r = bdev_read(bd, b, p + b * BS)))
			return r;
	return 0;
}

/* --- thin_dump-style text through the client walk -------------------- */

void diff_text_add(struct diff_text *t, const char *fmt, ...)
{
	va_list ap;
	char line[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || t->oom)
		return;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *b;

		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		if (!(b = realloc(t->buf, cap))) {
			t->oom = 1;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)n + 1);
	t->len += (size_t)n;
}

const char *diff_text_mismatch(const struct diff_text *a,
			       const struct diff_text *b)
{
	size_t o = 0, ls = 0;

	if (a->len == b->len && !memcmp(a->buf, b->buf, a->len))
		return NULL;
	while (o < a->len && o < b->len && a->buf[o] == b->buf[o])
		if (a->buf[o++] == '\n')
			ls = o;
	return b->buf ? b->buf + ls : "";
}

struct text {
	struct diff_text t;		/* first */
	int in_dev;
	uint32_t data_block_size;
};

#define text_add(tx, ...) diff_text_add(&(tx)->t, __VA_ARGS__)

static int tx_pool(void *ctx, const struct client_pool_info *pi)
{
	struct text *t = ctx;

	text_add(t, "<superblock uuid=\"\" time=\"%" PRIu32 "\" transaction=\"%"
		 PRIu64 "\" version=\"2\" data_block_size=\"%" PRIu32
		 "\" nr_data_blocks=\"%" PRIu64 "\" metadata_snap=\"%s\">\n",
		 pi->time, pi->trans_id, t->data_block_size,
		 (uint64_t)pi->nr_data_blocks, pi->held_root ? "held" : "none");
	return 0;
}

static int tx_dev(void *ctx, const struct thin_dev_info *d)
{
	struct text *t = ctx;

	if (t->in_dev)
		text_add(t, "  </device>\n");
	t->in_dev = 1;
	text_add(t, "  <device dev_id=\"%" PRIu64 "\" mapped_blocks=\"%" PRIu64
		 "\" transaction=\"%" PRIu64 "\" creation_time=\"%" PRIu32
		 "\" snap_time=\"%" PRIu32 "\">\n", d->dev, d->mapped_blocks,
		 d->transaction_id, d->creation_time, d->snapshotted_time);
	return 0;
}

static int tx_map(void *ctx, uint64_t dev, uint64_t v, pd_block_t b,
		  uint32_t time)
{
	(void)dev;
	diff_text_add(ctx, "    <single_mapping origin_block=\"%" PRIu64
		 "\" data_block=\"%" PRIu64 "\" time=\"%" PRIu32 "\"/>\n",
		 v, (uint64_t)b, time);
	return 0;
}

/* Open a copy of img in backend ops, walk it: digest and text. */
static int open_walk(const struct client_ops *ops, const uint8_t *img,
		     pd_block_t nr, const struct client_params *p,
		     struct digest *d, struct text *t, char *msg, size_t len)
{
	static const struct client_walker w = { tx_pool, tx_dev, tx_map };
	struct bdev *bd = diff_copy(img, nr, msg, len);
	struct client *c;
	int r;

	if (!bd)
		return -ENOMEM;
	r = ops->open(bd, p, &c);
	if (r)
		return diff_open_failed(r, bd, msg, len);
	r = client_digest(c, d);
	if (!r)
		r = ops->walk(c, &w, t);
	if (!r && t->in_dev)
		text_add(t, "  </device>\n");
	if (!r)
		text_add(t, "</superblock>\n");
	if (r)
		snprintf(msg, len, "walk failed: %d (%s)%s%s", r,
			 pd_strerror(r), c->msg[0] ? ": " : "", c->msg);
	else if (t->t.oom)
		r = -ENOMEM;
	ops->destroy(c);
	bdev_destroy(bd);
	return r;
}

/* --- the comparison of one scenario ---------------------------------- */

struct diff {
	struct side s[2];
	const struct scenario *sc;
	struct client_params params;
	struct diff_stats st;
	const char *save_dir;
	int verbose;
	int removed;			/* a mapping was removed since the
					 * last compare point */
	const struct diff_cause *diverged;	/* the block numbers went apart */
};

static const char *bname(const struct diff *df, int i)
{
	return df->s[i].ops->name;
}

void diff_vunexplained(struct diff_stats *st, const char *scenario,
		       const char *fmt, va_list ap)
{
	st->unexplained++;
	printf("  %s: UNEXPLAINED: ", scenario);
	vprintf(fmt, ap);
	printf("\n");
}

__attribute__((format(printf, 2, 3)))
static void unexplained(struct diff *df, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diff_vunexplained(&df->st, df->sc->name, fmt, ap);
	va_end(ap);
}

/* The bytes of a btree node a reader uses: the header past the checksum,
 * keys[0..nr_entries) and values[0..nr_entries).  The kernel moves entries
 * with memmove/memcpy and never clears the slots past nr_entries (a split
 * leaves the moved entries behind in the left node, a remove the last one);
 * nothing reads them. */
int diff_node_used_bytes_equal(const uint8_t *a, const uint8_t *b)
{
	uint32_t nr = le32(a + 16), max = le32(a + 20), vs = le32(a + 24);

	if (memcmp(a + 4, b + 4, 28) || nr > max || vs > BS ||
	    32 + (uint64_t)(8 + vs) * max > BS)
		return 0;
	return !memcmp(a + 32, b + 32, 8 * (size_t)nr) &&
	       !memcmp(a + 32 + 8 * (size_t)max, b + 32 + 8 * (size_t)max,
		       (size_t)vs * nr);
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

int diff_meta_count(const uint8_t *img, pd_block_t nr, pd_block_t b,
		    uint32_t sb_salt, unsigned sm_root)
{
	uint64_t index = le64(img + sm_root + 16), bm;
	uint64_t i = b / 16320, j = b % 16320, w;

	if (le32(img) != pd_block_csum(img + 4, BS - 4, sb_salt) ||
	    index >= nr || b >= le64(img + sm_root) || i >= 255)
		return -1;
	if (block_type(img + index * BS, index) != BT_INDEX)
		return -1;
	bm = le64(img + index * BS + 16 + 16 * i);
	if (bm >= nr || block_type(img + bm * BS, bm) != BT_BITMAP)
		return -1;
	w = le64(img + bm * BS + 16 + 8 * (j / 32));
	return (int)(((w >> (2 * (j % 32))) & 1) << 1 |
		     ((w >> (2 * (j % 32) + 1)) & 1));
}

/* Which named cause explains the difference of a block (both images'
 * copies and their types), or NULL. */
static const struct diff_cause *explain(const struct side *sa,
				   const struct side *sb, pd_block_t b)
{
	const uint8_t *da = sa->img + b * BS, *db = sb->img + b * BS;
	enum btype ta = block_type(da, b), tb = block_type(db, b);

	if (ta == BT_SB && tb == BT_SB && !memcmp(da + 4, db + 4, 92) &&
	    !memcmp(da + 192, db + 192, 32) && !memcmp(da + 320, db + 320,
						     BS - 320))
		return cause_find("sm-root-padding");
	if (b && !diff_meta_count(sa->img, sa->nr_img, b, SALT_SB, 192) &&
	    !diff_meta_count(sb->img, sb->nr_img, b, SALT_SB, 192))
		return cause_find("free-block-contents");
	if (ta == tb && (ta == BT_INTERNAL || ta == BT_LEAF) &&
	    diff_node_used_bytes_equal(da, db))
		return cause_find("stale-node-slots");
	return NULL;
}

/* D2a.  Every differing block must be explained for the commit to count
 * as explained; the first unexplained one (or, if all are explained, the
 * first one) is described. */
static void compare_bytes(struct diff *df, const char *where)
{
	struct side *a = &df->s[0], *b = &df->s[1];
	pd_block_t nr = a->nr_img < b->nr_img ? a->nr_img : b->nr_img;
	pd_block_t first = UINT64_MAX, bad = UINT64_MAX, nr_diff = 0;
	const struct diff_cause *c = NULL, *fc = NULL;

	if (a->nr_img != b->nr_img) {
		unexplained(df, "%s: the images have %" PRIu64 " and %" PRIu64
			    " blocks", where, (uint64_t)a->nr_img,
			    (uint64_t)b->nr_img);
		return;
	}
	for (pd_block_t i = 0; i < nr; i++) {
		const uint8_t *da = a->img + i * BS, *db = b->img + i * BS;

		if (!memcmp(da, db, BS))
			continue;
		nr_diff++;
		c = explain(a, b, i);
		if (first == UINT64_MAX) {
			first = i;
			fc = c;
		}
		if (!c && bad == UINT64_MAX)
			bad = i;
	}
	if (first == UINT64_MAX) {
		df->st.identical++;
		return;
	}
	pd_block_t blk = bad != UINT64_MAX ? bad : first;
	const uint8_t *da = a->img + blk * BS, *db = b->img + blk * BS;
	enum btype ta = block_type(da, blk), tb = block_type(db, blk);
	const uint8_t *hd = ta != BT_NONE ? da : db;
	enum btype t = ta != BT_NONE ? ta : tb;
	unsigned off = 0;
	char tname[128], fname[192], tother[128];

	/* the first differing byte past the checksum (which always differs
	 * when anything else does) */
	for (unsigned i = 4; i < BS; i++)
		if (da[i] != db[i]) {
			off = i;
			break;
		}
	type_name(hd, t, blk, tname, sizeof(tname));
	field_name(hd, t, off, fname, sizeof(fname));
	if (ta != tb) {
		type_name(ta == t ? db : da, ta == t ? tb : ta, blk, tother,
			  sizeof(tother));
		snprintf(fname + strlen(fname), sizeof(fname) - strlen(fname),
			 "; in %s the block is: %s", ta == t ? bname(df, 1) :
			 bname(df, 0), tother);
	}
	if (bad != UINT64_MAX && !df->diverged && df->removed) {
		df->diverged = cause_find("range-remove");
		printf("  %s: %s: block %" PRIu64 " (%s), field %s: the "
		       "allocations diverge here, after a remove: explained: "
		       "range-remove; from here on the images are compared by "
		       "their dumps\n", df->sc->name, where, (uint64_t)blk,
		       tname, fname);
		df->st.explained++;
		return;
	}
	if (bad != UINT64_MAX && df->diverged) {
		df->st.explained++;
		return;
	}
	if (bad == UINT64_MAX) {
		df->st.explained++;
		if (df->verbose || !df->st.first_shown)
			printf("  %s: %s: %" PRIu64 " blocks differ, first %"
			       PRIu64 " (%s), field %s: explained: %s\n",
			       df->sc->name, where, (uint64_t)nr_diff,
			       (uint64_t)first, tname, fname, fc->id);
		df->st.first_shown = 1;
		return;
	}
	unexplained(df, "%s: %" PRIu64 " blocks differ; block %" PRIu64
		    " (%s), field %s (byte %u): %s 0x%02x, %s 0x%02x", where,
		    (uint64_t)nr_diff, (uint64_t)blk, tname, fname, off,
		    bname(df, 0), da[off], bname(df, 1), db[off]);
}

/* D2: both pools have nothing uncommitted. */
static int compare_point(struct diff *df, const char *where)
{
	struct digest d[4];
	struct text t[4];
	char msg[320];
	int r, bad = 0;

	df->st.commits++;
	for (int i = 0; i < 2; i++)
		if ((r = diff_read_image(df->s[i].bd, &df->s[i].img,
					 &df->s[i].nr_img))) {
			unexplained(df, "%s: reading the image of %s: %s", where,
				    bname(df, i), pd_strerror(r));
			return -1;
		}
	compare_bytes(df, where);
	df->removed = 0;
	/* each image in each backend: i = image, j = backend */
	memset(t, 0, sizeof(t));
	for (int k = 0; k < 4; k++) {
		int i = k / 2, j = k % 2;

		t[k].data_block_size = df->params.data_block_size;
		r = open_walk(df->s[j].ops, df->s[i].img, df->s[i].nr_img,
			      &df->params, &d[k], &t[k], msg, sizeof(msg));
		if (r) {
			unexplained(df, "%s: the image of %s in %s: %s", where,
				    bname(df, i), bname(df, j), msg);
			bad = 1;
		}
	}
	for (int k = 1; k < 4 && !bad; k++) {
		const char *from = diff_text_mismatch(&t[0].t, &t[k].t);

		if (!from && digest_eq(d[k], d[0]))
			continue;
		unexplained(df, "%s: the image of %s in %s dumps otherwise than "
			    "the image of %s in %s, from: %.120s", where,
			    bname(df, k / 2), bname(df, k % 2), bname(df, 0),
			    bname(df, 0), from ? from : "(the same dump, "
			    "another digest)");
		bad = 1;
		break;
	}
	for (int k = 0; k < 4; k++)
		free(t[k].t.buf);
	return bad ? -1 : 0;
}

static void print_op(const struct op *op, char *buf, size_t len)
{
	op_format(op, buf, len);
}

/* Is a difference in -ENOSPC down to metadata space: every backend that
 * returned it has fewer than METADATA_SLACK metadata blocks free (beyond
 * the commit reserve), or, where the pool failed on it and answers no
 * free count, its allocator can hand out none (the core's count, client.h
 * get_allocatable_metadata_blocks)?  A data device running out is never
 * explained so. */
#define METADATA_SLACK 64
static int metadata_space(struct diff *df, int r0, int r1)
{
	int r[2] = { r0, r1 }, any = 0;

	for (int i = 0; i < 2; i++) {
		const struct client_ops *o = df->s[i].ops;
		pd_block_t nr;

		if (r[i] != -ENOSPC)
			continue;
		any = 1;
		if (o->get_allocatable_metadata_blocks &&
		    !o->get_allocatable_metadata_blocks(df->s[i].cl, &nr) && !nr)
			continue;
		if (!o->get_free_metadata_blocks ||
		    o->get_free_metadata_blocks(df->s[i].cl, &nr) ||
		    nr >= METADATA_SLACK)
			return 0;
	}
	return any;
}

/* D1: the two results of op idx. */
static int same_result(struct diff *df, size_t idx, const struct op *op,
		       const char *what, int r0, int r1, uint64_t v0,
		       uint64_t v1)
{
	char ob[128];

	if (r0 == r1 && v0 == v1)
		return 1;
	print_op(op, ob, sizeof(ob));
	if (metadata_space(df, r0, r1)) {	/* an op, not a commit: the
						 * table counts commits */
		printf("  %s: op %zu '%s': %s returned %d, %s %d: explained: "
		       "metadata-space; not compared further\n", df->sc->name,
		       idx, ob, bname(df, 0), r0, bname(df, 1), r1);
		return 0;
	}
	unexplained(df, "op %zu '%s'%s%s: %s returned %d (%s)%s, %s %d (%s)%s",
		    idx, ob, *what ? " " : "", what, bname(df, 0), r0,
		    pd_strerror(r0), "", bname(df, 1), r1, pd_strerror(r1), "");
	if (r0 == r1)
		printf("    %s: %" PRIu64 ", %s: %" PRIu64 "\n", bname(df, 0),
		       v0, bname(df, 1), v1);
	return 0;
}

static int both_commit(struct diff *df, size_t idx, const struct op *op,
		       const char *why)
{
	char where[192], ob[128];
	int r[2];

	for (int i = 0; i < 2; i++)
		r[i] = df->s[i].ops->commit(df->s[i].cl);
	if (!same_result(df, idx, op, why, r[0], r[1], 0, 0))
		return -1;
	print_op(op, ob, sizeof(ob));
	if (r[0]) {
		unexplained(df, "op %zu '%s': %s commit failed on both: %d (%s)",
			    idx, ob, why, r[0], pd_strerror(r[0]));
		return -1;
	}
	snprintf(where, sizeof(where), "commit %" PRIu64 " (%s op %zu '%s')",
		 df->st.commits, why, idx, ob);
	return compare_point(df, where);
}

static void explained_op(struct diff *df, size_t idx, const struct op *op,
			 const char *what, uint64_t v0, uint64_t v1,
			 const char *cause)
{
	char ob[128];

	print_op(op, ob, sizeof(ob));
	printf("  %s: op %zu '%s': %s %s %" PRIu64 ", %s %" PRIu64 ": explained: "
	       "%s\n", df->sc->name, idx, ob, what, bname(df, 0), v0,
	       bname(df, 1), v1, cause);
}

/* status on both (scenario.h): each count of the pool status line; the
 * named differences K10, K11 and the metadata layout are explained. */
static int status_both(struct diff *df, size_t idx, const struct op *op)
{
	uint64_t v[2][6];
	int r[2];

	for (int i = 0; i < 2; i++) {
		const struct client_ops *o = df->s[i].ops;
		struct client *c = df->s[i].cl;

		r[i] = o->get_trans_id(c, &v[i][0]) ?:
		       o->get_free_metadata_blocks(c, &v[i][1]) ?:
		       o->get_nr_metadata_blocks(c, &v[i][2]) ?:
		       o->get_free_data_blocks(c, &v[i][3]) ?:
		       o->get_nr_data_blocks(c, &v[i][4]) ?:
		       o->get_meta_snap(c, &v[i][5]);
		v[i][5] = v[i][5] != 0;
	}
	if (!same_result(df, idx, op, "", r[0], r[1], 0, 0))
		return -1;
	for (int k = 0; k < 6 && !r[0]; k++) {
		static const char *const what[6] = {
			"transaction id", "free metadata blocks",
			"metadata blocks", "free data blocks", "data blocks",
			"held root set",
		};
		const struct client_ops *o0 = df->s[0].ops, *o1 = df->s[1].ops;
		const char *cause = NULL;

		if (v[0][k] == v[1][k])
			continue;
		if (k == 1 && (df->diverged || df->removed))
			cause = "free-metadata-layout";
		if (k == 3 && o0->free_data_wraps != o1->free_data_wraps &&
		    !v[o0->free_data_wraps ? 1 : 0][3] &&
		    v[o0->free_data_wraps ? 0 : 1][3] > v[o0->free_data_wraps ? 0 : 1][4])
			cause = "free-data-wraps";
		if (k == 4 && o0->data_size_at_commit != o1->data_size_at_commit)
			cause = "data-size-at-commit";
		if (cause) {
			explained_op(df, idx, op, what[k], v[0][k], v[1][k], cause);
			continue;
		}
		return same_result(df, idx, op, what[k], 0, 0, v[0][k], v[1][k]) ?
		       0 : -1;
	}
	return 0;
}

/* A call of a passdown failed alike on both: nothing to compare it to
 * (diff runs no faults), so the scenario stops.  -1. */
static int passdown_failed(struct diff *df, size_t idx, const char *what,
			   int r)
{
	unexplained(df, "op %zu 'passdown': %s failed on both: %d (%s)", idx,
		    what, r, pd_strerror(r));
	return -1;
}

/* inc or dec (dec set) of each run's data blocks on both.  0, or -1 stop
 * (reported). */
static int data_ranges_both(struct diff *df, size_t idx, const struct op *op,
			    const struct thin_mapped_range *runs, size_t nr,
			    int dec)
{
	const char *what = dec ? "dec" : "inc";

	for (size_t k = 0; k < nr; k++) {
		pd_block_t b = runs[k].pool_begin;
		pd_block_t e = b + runs[k].thin_end - runs[k].thin_begin;
		int r[2];

		for (int i = 0; i < 2; i++) {
			const struct client_ops *o = df->s[i].ops;

			r[i] = dec ? o->dec_data_range(df->s[i].cl, b, e) :
				     o->inc_data_range(df->s[i].cl, b, e);
		}
		if (!same_result(df, idx, op, what, r[0], r[1], b, b))
			return -1;
		if (r[0])
			return passdown_failed(df, idx, what, r[0]);
	}
	return 0;
}

/* Each run's data blocks asked on both. */
static int shared_both(struct diff *df, size_t idx, const struct op *op,
		       const struct thin_mapped_range *runs, size_t nr)
{
	for (size_t k = 0; k < nr; k++) {
		pd_block_t b = runs[k].pool_begin;
		pd_block_t e = b + runs[k].thin_end - runs[k].thin_begin;

		for (; b < e; b++) {
			int sh[2] = { -1, -1 }, r[2];

			for (int i = 0; i < 2; i++)
				r[i] = df->s[i].ops->data_block_is_shared(
					df->s[i].cl, b, &sh[i]);
			if (!same_result(df, idx, op, "is-shared", r[0], r[1],
					 (uint64_t)sh[0], (uint64_t)sh[1]))
				return -1;
			if (r[0])
				return passdown_failed(df, idx, "is-shared", r[0]);
		}
	}
	return 0;
}

/* The mapped runs of [op->b, op->c] on both, call by call as the workload
 * walks them (find-range, passdown): each run compared, and kept in *runs
 * (allocated; runs NULL: not kept), *nr of them.  0 with *err the error
 * both ended the walk with (-ENODATA: its normal end), or -1 stop
 * (reported). */
static int runs_both(struct diff *df, size_t idx, const struct op *op,
		     struct thin_mapped_range **runs, size_t *nr, int *err)
{
	uint64_t v = op->b, end = op->c + 1;
	size_t cap = 0;

	*nr = 0;
	for (;;) {
		struct thin_mapped_range m[2];
		int r[2];

		for (int i = 0; i < 2; i++) {
			memset(&m[i], 0, sizeof(m[i]));
			r[i] = df->s[i].ops->find_mapped_range(df->s[i].cl, op->a,
								v, end, &m[i]);
		}
		if (!same_result(df, idx, op, "", r[0], r[1], m[0].thin_begin,
				 m[1].thin_begin) ||
		    !same_result(df, idx, op, "run end", r[0], r[1],
				 m[0].thin_end, m[1].thin_end) ||
		    !same_result(df, idx, op, "data block", r[0], r[1],
				 m[0].pool_begin, m[1].pool_begin) ||
		    !same_result(df, idx, op, "shared", r[0], r[1],
				 !!m[0].maybe_shared, !!m[1].maybe_shared))
			return -1;
		if (r[0]) {
			*err = r[0];
			return 0;
		}
		if (runs && *nr == cap) {
			void *p = realloc(*runs, (cap = cap ? 2 * cap : 8) *
					  sizeof(**runs));

			if (!p)
				return passdown_failed(df, idx, "a run's room",
						       -ENOMEM);
			*runs = p;
		}
		if (runs)
			(*runs)[*nr] = m[0];
		++*nr;
		v = m[0].thin_end;
	}
}

static int find_range_both(struct diff *df, size_t idx, const struct op *op)
{
	size_t nr;
	int err;

	return runs_both(df, idx, op, NULL, &nr, &err);
}

/* passdown on both (scenario.h), call by call as the workload makes them:
 * the runs, the remove, each run's inc, each block's is-shared answer,
 * each run's dec. */
static int passdown_both(struct diff *df, size_t idx, const struct op *op)
{
	struct thin_mapped_range *runs = NULL;
	uint64_t n[2] = { 0, 0 };
	size_t nr;
	int r[2], ret, err = 0;

	ret = runs_both(df, idx, op, &runs, &nr, &err);
	if (!ret && err != -ENODATA)
		ret = passdown_failed(df, idx, "find-range", err);
	for (int i = 0; !ret && i < 2; i++)
		r[i] = df->s[i].ops->remove_range(df->s[i].cl, op->a, op->b,
						  op->c + 1, &n[i]);
	if (!ret && !same_result(df, idx, op, "remove", r[0], r[1],
				 r[0] ? 0 : n[0], r[1] ? 0 : n[1]))
		ret = -1;
	if (!ret && !r[0]) {		/* else no device: as the unmap's */
		df->removed = 1;
		ret = data_ranges_both(df, idx, op, runs, nr, 0) ?:
		      shared_both(df, idx, op, runs, nr) ?:
		      data_ranges_both(df, idx, op, runs, nr, 1);
	}
	free(runs);
	return ret;
}

static int is_message(enum op_kind k)
{
	return k == OP_CREATE || k == OP_SNAP || k == OP_DELETE ||
	       k == OP_TRANS_ID || k == OP_META_SNAP ||
	       k == OP_META_SNAP_RELEASE;
}

static int step(struct diff *df, size_t idx, const struct op *op,
		int message_commits);

/* A data write, as far as the metadata goes (workload.c exec_write_one,
 * dm-thin's write path): the block is looked up; where it is unmapped or
 * shared, a new data block is mapped there (the map op), and a FUA write
 * that mapped one commits (the commit op).  A FUA overwrite of a mapping
 * the workload finds uncommitted commits there too; diff cannot tell
 * committed from not and leaves that commit out, on both backends alike.
 * The data device itself is not compared. */
static int write_both(struct diff *df, size_t idx, const struct op *op,
		      int message_commits)
{
	struct thin_lookup_result lr[2];
	struct op part = *op;
	int r[2];

	for (int i = 0; i < 2; i++) {
		memset(&lr[i], 0, sizeof(lr[i]));
		r[i] = df->s[i].ops->lookup(df->s[i].cl, op->a, op->b, &lr[i]);
	}
	if (!same_result(df, idx, op, "lookup", r[0], r[1], lr[0].data_block,
			 lr[1].data_block) ||
	    !same_result(df, idx, op, "shared", r[0], r[1], !!lr[0].shared,
			 !!lr[1].shared))
		return -1;
	if ((r[0] && r[0] != -ENODATA) || (!r[0] && !lr[0].shared))
		return 0;
	df->st.ops--;		/* the parts count as this one op */
	part.kind = OP_MAP;
	if (step(df, idx, &part, message_commits))
		return -1;
	if (!op->fua)
		return 0;
	df->st.ops--;
	part.kind = OP_COMMIT;
	return step(df, idx, &part, message_commits);
}

/* Apply op idx to both; 0 go on, -1 stop the scenario. */
static int step(struct diff *df, size_t idx, const struct op *op,
		int message_commits)
{
	struct side *s = df->s;
	int r[2] = { 0, 0 };
	uint64_t v[2] = { 0, 0 };

	if (op->kind == OP_SETUP_DONE)
		return 0;	/* the sweeps' mark (driver.h SW1), no call */
	df->st.ops++;
	if (op_is_misuse(op) && (!s[0].ops->checks_args ||
				 !s[1].ops->checks_args)) {
		char ob[128];

		print_op(op, ob, sizeof(ob));
		printf("  %s: op %zu '%s': not run: explained: caller-misuse\n",
		       df->sc->name, idx, ob);
		return 0;
	}
	if (op->kind == OP_RESTORE && (!s[0].ops->rebuild ||
					 !s[1].ops->rebuild)) {
		printf("  %s: op %zu 'restore': not run: explained: "
		       "no-restore-api (a backend without the rebuild "
		       "calls, client.h K17)\n", df->sc->name, idx);
		return 0;
	}
	if (op->kind == OP_STATUS)
		return status_both(df, idx, op);
	if (op->kind == OP_FIND_RANGE)
		return find_range_both(df, idx, op);
	if (op->kind == OP_PASSDOWN)
		return passdown_both(df, idx, op);
	if (op->kind == OP_WRITE)
		return write_both(df, idx, op, message_commits);
	for (int i = 0; i < 2; i++) {
		const struct client_ops *o = s[i].ops;
		struct client *c = s[i].cl;
		pd_block_t b;
		uint64_t cur;

		switch (op->kind) {
		case OP_CREATE:
			r[i] = o->create_thin(c, op->a);
			break;
		case OP_SNAP:
			r[i] = o->create_snap(c, op->a, op->b);
			break;
		case OP_DELETE:
			r[i] = o->delete_dev(c, op->a);
			break;
		case OP_MAP:
			r[i] = o->alloc_data_block(c, &b);
			if (!r[i]) {
				v[i] = b;
				r[i] = o->insert(c, op->a, op->b, b);
			}
			break;
		case OP_UNMAP:
			r[i] = o->remove(c, op->a, op->b);
			break;
		case OP_UNMAP_RANGE:
			r[i] = o->remove_range(c, op->a, op->b, op->c + 1, &v[i]);
			break;
		case OP_COMMIT:
			r[i] = o->commit(c);
			break;
		case OP_ABORT:
			r[i] = o->abort(c);
			break;
		case OP_CLOSE:		/* a clean close, then a reopen */
			if (op->has_cache)
				df->params.cache_blocks = (unsigned)op->a;
			r[i] = o->close(c);
			s[i].cl = NULL;
			if (!r[i])
				r[i] = o->open(s[i].bd, &df->params, &s[i].cl);
			if (r[i]) {
				s[i].cl = NULL;
				unexplained(df, "op %zu 'close' on %s: %d (%s)", idx,
					    bname(df, i), r[i], pd_strerror(r[i]));
				return -1;
			}
			break;
		case OP_TRANS_ID:
			r[i] = op->has_from ? 0 : o->get_trans_id(c, &cur);
			if (!r[i])
				r[i] = o->set_trans_id(c, op->has_from ? op->b : cur,
						       op->a);
			break;
		case OP_HIGHEST:
			r[i] = o->highest_mapped(c, op->a, &v[i]);
			break;
		case OP_MAPPED_COUNT:
			r[i] = o->mapped_count(c, op->a, &v[i]);
			break;
		case OP_RESIZE_DATA:
			r[i] = o->resize_data(c, op->a);
			break;
		case OP_RESIZE_META:
			/* A misuse (past-end, or past 255 bitmaps' worth)
			 * does not grow the devices here: diff reads its
			 * images whole, and both sides refuse it anyway. */
			if (op->a > bdev_nr_blocks(s[i].bd) && !op_is_misuse(op))
				r[i] = bdev_resize(s[i].bd, op->a);
			if (!r[i])
				r[i] = o->resize_metadata(c, op->a);
			break;
		case OP_META_SNAP:
			r[i] = o->reserve_meta_snap(c);
			break;
		case OP_META_SNAP_RELEASE:
			r[i] = o->release_meta_snap(c);
			break;
		default:
			r[i] = -EINVAL;
			break;
		}
	}
	if (!same_result(df, idx, op, "", r[0], r[1], v[0], v[1]))
		return -1;
	/* A range that removed nothing counts too, the empty one as well:
	 * __remove_range takes the device's mapping tree out of the top level
	 * and puts it back (and incs its root) before it looks for a mapping
	 * in the range. */
	if (!r[0] && (op->kind == OP_UNMAP ||
		      (op->kind == OP_UNMAP_RANGE && !op_is_misuse(op))))
		df->removed = 1;
	if (r[0] && (s[0].ops->is_failed(s[0].cl) ||
		     s[1].ops->is_failed(s[1].cl))) {
		char ob[128];

		print_op(op, ob, sizeof(ob));
		if (r[0] == -ENOSPC && r[1] == -ENOSPC) {
			/* no difference: the workload ran both out of space */
			printf("  %s: op %zu '%s': both ran out of metadata "
			       "space and failed the pool: not compared "
			       "further\n", df->sc->name, idx, ob);
			return -1;
		}
		unexplained(df, "op %zu '%s' failed with %d (%s) and left a "
			    "pool failed", idx, ob, r[0], pd_strerror(r[0]));
		return -1;
	}
	if (!r[0] && (op->kind == OP_COMMIT || op->kind == OP_ABORT ||
		      op->kind == OP_CLOSE)) {
		char where[192];

		snprintf(where, sizeof(where), "%s %" PRIu64 " (op %zu)",
			 op->kind == OP_ABORT ? "abort" : op_kind_name(op->kind),
			 df->st.commits, idx);
		return compare_point(df, where) ? -1 : 0;
	}
	if (!r[0] && message_commits && is_message(op->kind))
		return both_commit(df, idx, op, "the caller's commit after");
	return 0;
}

/* The format, under the two-step policy when either backend needs it. */
static int format_both(struct diff *df, int two_step)
{
	struct client_params p = df->params;
	int r[2];

	for (int i = 0; i < 2; i++) {
		const struct client_ops *o = df->s[i].ops;

		if (o->format_steps == 2) {
			r[i] = o->format(df->s[i].bd, &p, &df->s[i].cl);
		} else {
			p.nr_data_blocks = two_step ? 0 : df->params.nr_data_blocks;
			r[i] = o->format(df->s[i].bd, &p, &df->s[i].cl);
		}
		if (r[i]) {
			df->s[i].cl = NULL;
			unexplained(df, "format on %s failed: %d (%s)",
				    bname(df, i), r[i], pd_strerror(r[i]));
			return -1;
		}
	}
	if (compare_point(df, two_step ? "format step 1 (0 data blocks)" :
			  "format"))
		return -1;
	if (!two_step)
		return 0;
	for (int i = 0; i < 2; i++) {
		const struct client_ops *o = df->s[i].ops;
		struct client *c = df->s[i].cl;

		if (o->format_steps == 2) {
			r[i] = o->format_finish(c, df->params.nr_data_blocks);
		} else {
			r[i] = o->resize_data(c, df->params.nr_data_blocks);
			if (!r[i])
				r[i] = o->commit(c);
		}
	}
	if (r[0] || r[1]) {
		unexplained(df, "format step 2 (resize, commit): %s %d, %s %d",
			    bname(df, 0), r[0], bname(df, 1), r[1]);
		return -1;
	}
	return compare_point(df, "format step 2 (resize)");
}

int diff_save_image(const char *dir, const char *scenario,
		    const char *backend, int second, const uint8_t *img,
		    pd_block_t nr)
{
	const char *base = strrchr(scenario, '/');
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s%s.img", dir,
		 base ? base + 1 : scenario, backend, second ? "-2" : "");
	f = fopen(path, "wb");
	if (!f || fwrite(img, BS, nr, f) != nr) {
		fprintf(stderr, "pdcrash: cannot write %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	if (fclose(f)) {
		fprintf(stderr, "pdcrash: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

static int save_images(struct diff *df)
{
	for (int i = 0; i < 2; i++)
		if (df->s[i].img &&
		    diff_save_image(df->save_dir, df->sc->name, bname(df, i),
				    i && !strcmp(bname(df, 0), bname(df, 1)),
				    df->s[i].img, df->s[i].nr_img))
			return -1;
	return 0;
}

static int diff_scenario(const struct scenario *sc,
			 const struct client_ops *ops[2], uint64_t seed,
			 const char *save_dir, int verbose,
			 struct diff_stats *out)
{
	struct diff df = { .sc = sc, .save_dir = save_dir, .verbose = verbose };
	int two_step = ops[0]->format_steps == 2 || ops[1]->format_steps == 2;
	int msg = ops[0]->message_commits || ops[1]->message_commits;
	const struct client_ops *policy = ops[1]->message_commits ? ops[1] : ops[0];
	struct run_config cfg = {
		.sc = sc, .seed = seed, .quiet = 1, .keep_state = -1,
		.client = policy,
	};
	struct run_result res;
	int r;

	if (sc->geo.is_cache)		/* dm-cache metadata: diff_cache.c */
		return diff_cache_scenario(sc, ops, seed, save_dir, verbose, out);
	/* The expanded ops, from the workload under the policy's caller. */
	r = workload_run(&cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: %s: the workload could not run: %s\n",
			sc->name, pd_strerror(r));
		return 2;
	}
	if (res.live_failed) {
		df.st.unexplained++;
		printf("  %s: UNEXPLAINED: the workload on %s disagreed with the "
		       "oracle and stopped at op %zu: %s\n", sc->name,
		       policy->name, res.nr_ops, res.live_msg);
	}
	df.params = (struct client_params) {
		.data_block_size = res.geo.block_size,
		.nr_data_blocks = res.geo.data_blocks,
		.cache_blocks = res.geo.cache_blocks,
	};
	for (int i = 0; i < 2; i++) {
		df.s[i].ops = ops[i];
		r = simdisk_create(BS, res.geo.meta_blocks, &df.s[i].sd);
		if (r) {
			run_result_free(&res);
			side_free(&df.s[0]);
			fprintf(stderr, "pdcrash: %s\n", pd_strerror(r));
			return 2;
		}
		simdisk_log_reads(df.s[i].sd, 0);
		df.s[i].bd = simdisk_bdev(df.s[i].sd);
	}
	if (!format_both(&df, two_step))
		for (size_t i = 0; i < res.nr_ops; i++)
			if (step(&df, i, &res.ops[i].op, msg))
				break;
	if (save_dir && save_images(&df))
		df.st.unexplained++;
	*out = df.st;
	run_result_free(&res);
	side_free(&df.s[0]);
	side_free(&df.s[1]);
	return 0;
}

static void print_causes(void)
{
	printf("named differences (client.h) and what diff does with them:\n");
	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++)
		printf("  %-26s %s\n", causes[i].id, causes[i].what);
	diff_cache_print_causes();
}

int cmd_diff(int argc, char **argv)
{
	static struct scenario *scs[DIFF_MAX_SCENARIOS];
	const struct client_ops *ops[2] = { &client_core_ops, NULL };
	const char *args[DIFF_MAX_SCENARIOS];
	const char *save_dir = NULL;
	size_t nr_args = 0, nr_sc = 0;
	char **names = NULL;
	size_t nr_names = 0;
	uint64_t seed = 1;
	int rc = 0, verbose = 0, causes_only = 0;
	struct diff_stats tot = { 0 };
	char *bk = NULL;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--backends")) {
			char *comma;

			if (i + 1 >= argc)
				return cli_usage_error("%s needs A,B", a);
			free(bk);
			bk = strdup(argv[++i]);
			if (!bk)
				return 2;
			comma = strchr(bk, ',');
			if (!comma || strchr(comma + 1, ',') || !comma[1] ||
			    comma == bk) {
				rc = cli_usage_error("bad --backends '%s' (want "
						     "two names: A,B)", argv[i]);
				free(bk);
				return rc;
			}
			*comma = 0;
			for (int k = 0; k < 2; k++) {
				const char *n = k ? comma + 1 : bk;

				if ((rc = cli_parse_backend(n, &ops[k]))) {
					free(bk);
					return rc;
				}
				if (!ops[k])
					ops[k] = &client_core_ops;
			}
			free(bk);
			bk = NULL;
		} else if (!strcmp(a, "--seed")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", a);
			if ((rc = cli_parse_u64_arg(a, argv[++i], &seed)))
				return rc;
		} else if (!strcmp(a, "--save-images")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return cli_usage_error("%s needs a directory", a);
			save_dir = argv[++i];
		} else if (!strcmp(a, "--verbose")) {
			verbose = 1;
		} else if (!strcmp(a, "--causes")) {
			causes_only = 1;
		} else if (!strcmp(a, "--mutant")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a name", a);
			if ((rc = cli_set_mutant(argv[++i])))
				return rc;
		} else if (a[0] == '-') {
			return cli_usage_error("unknown option '%s'", a);
		} else {
			if (nr_args == DIFF_MAX_SCENARIOS)
				return cli_usage_error("too many scenarios (at most 256)%s", "");
			args[nr_args++] = a;
		}
	}
	if (causes_only) {
		print_causes();
		return 0;
	}
	if (!ops[1]) {
		int r = client_backend_find("kernel-6.1", &ops[1]);

		if (r) {
			fprintf(stderr, "pdcrash: diff: backend 'kernel-6.1' is "
				"not built into this pdcrash (it has: %s); give "
				"--backends A,B\n", client_backends_built());
			return 2;
		}
	}
	for (size_t i = 0; i < nr_args; i++)
		if ((rc = cli_load_arg(args[i], scs, DIFF_MAX_SCENARIOS, &nr_sc)))
			goto out;
	if (!nr_sc) {
		if ((rc = cli_list_scenarios(&names, &nr_names)))
			return rc;
		for (size_t i = 0; i < nr_names && i < DIFF_MAX_SCENARIOS; i++) {
			if ((rc = cli_load_named(names[i], &scs[nr_sc])))
				goto out;
			nr_sc++;
		}
	}
	printf("pdcrash diff: %s against %s, seed %" PRIu64 "\n",
	       ops[0]->name, ops[1]->name, seed);
	struct diff_stats *per = calloc(nr_sc ? nr_sc : 1, sizeof(*per));
	if (!per) {
		rc = 2;
		goto out;
	}
	for (size_t i = 0; i < nr_sc; i++) {
		rc = diff_scenario(scs[i], ops, seed, save_dir, verbose, &per[i]);
		if (rc)
			break;
	}
	if (!rc) {
		printf("\n%-22s %7s %8s %10s %10s %12s\n", "scenario", "ops",
		       "commits", "identical", "explained", "unexplained");
		for (size_t i = 0; i < nr_sc; i++) {
			printf("%-22s %7" PRIu64 " %8" PRIu64 " %10" PRIu64 " %10"
			       PRIu64 " %12" PRIu64 "\n", scs[i]->name, per[i].ops,
			       per[i].commits, per[i].identical, per[i].explained,
			       per[i].unexplained);
			tot.ops += per[i].ops;
			tot.commits += per[i].commits;
			tot.identical += per[i].identical;
			tot.explained += per[i].explained;
			tot.unexplained += per[i].unexplained;
		}
		printf("%-22s %7" PRIu64 " %8" PRIu64 " %10" PRIu64 " %10" PRIu64
		       " %12" PRIu64 "\n", "total", tot.ops, tot.commits,
		       tot.identical, tot.explained, tot.unexplained);
		printf("%s\n", tot.unexplained ? "unexplained differences: exit 1" :
		       "no unexplained difference");
		rc = tot.unexplained ? 1 : 0;
	}
	free(per);
out:
	for (size_t i = 0; i < nr_sc; i++)
		scenario_free(scs[i]);
	for (size_t i = 0; i < nr_names; i++)
		free(names[i]);
	free(names);
	return rc;
}
