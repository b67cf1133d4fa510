/* harness/pdtool/restore.c - `pdtool restore`: thin_dump XML to metadata,
 * like thin_restore 0.9.0, built through core/thin.h.
 *
 * The XML (xml.h, streamed) is what thin_dump writes: one <superblock>
 * holding <device> elements holding <range_mapping> and <single_mapping>.
 * As thin_restore does: a device's mapped_blocks attribute is ignored (the
 * count of its mappings is stored), mapping times keep their low 24 bits,
 * an unknown element is an error, the uuid, flags and version attributes
 * are stored in the superblock (version 1 when absent).  Unlike
 * thin_restore, a mapping time that does not fit 24 bits is an error
 * (thin_restore ORs its high bits into the data block number).
 *
 * Steps: format the pool (data_block_size, nr_data_blocks), set the time
 * and transaction id, then per device thin_set_dev_info and one
 * thin_insert_raw per mapping, one thin_commit at the end, close.  The core
 * has no call for the superblock's version, flags or uuid, so they are
 * patched into block 0 afterwards (checksum recomputed, then a flush).
 *
 * The output: an existing file or block device keeps its size, as
 * thin_restore requires.  A missing file is created, sized from a first
 * pass over the XML (mapping and device counts, data size) with room to
 * spare; the file is sparse.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev.h"
#include "bm.h"
#include "errors.h"
#include "pdtool.h"
#include "thin.h"
#include "thin_xml.h"
#include "util.h"
#include "xml.h"


static const char restore_help[] =
"usage: pdtool restore -i XML -o IMAGE [--transaction-id N]\n"
"                      [--data-block-size N] [--nr-data-blocks N] [-q]\n"
"\n"
"Build dm-thin metadata in IMAGE from XML written by thin_dump (or pdtool\n"
"dump), as thin_restore does: devices with their details, every mapping\n"
"with its time, the pool's time and transaction id, one commit.\n"
"\n"
"  -i, --input XML        the XML to read\n"
"  -o, --output IMAGE     the metadata file or device to write.  An existing\n"
"                         file or device keeps its size (thin_restore needs\n"
"                         one that is large enough; so does this).  A file\n"
"                         that does not exist is created, sparse, sized from\n"
"                         the XML with room to spare (thin_restore refuses).\n"
"  --transaction-id N     override the superblock's transaction id\n"
"  --data-block-size N    override data_block_size (sectors)\n"
"  --nr-data-blocks N     override nr_data_blocks\n"
"  -q, --quiet            accepted for thin_restore compatibility\n"
"\n"
"Exit: 0 success; 1 the metadata could not be built (e.g. IMAGE too small);\n"
"2 bad usage, XML that cannot be read or is not thin_dump XML (the message\n"
"names the file and line), IMAGE that cannot be opened.\n";

#define SB_UUID_OFF	16
#define SB_UUID_LEN	16
#define SB_FLAGS_OFF	4
#define SB_VERSION_OFF	40
#define TIME_MASK	0xffffffu

struct overrides {
	int has_trans_id, has_dbs, has_nr_data;
	uint64_t trans_id, dbs, nr_data;
};

/* Whole-document state of one parse. */
struct parser {
	struct xml_reader *xp;
	const char *path;
	int count_only;			/* first pass: sizes only */
	int into;			/* thin_xml_rebuild: the pool is open */
	int quiet;			/* messages into msg only */
	int failed;			/* 2 bad XML, 1 core failure */
	int core_r;			/* the core's -errno of a failure 1 */
	char msg[256];			/* the first failure */
	int depth_in;			/* 0 none, 1 superblock, 2 device, 3 mapping */
	int seen_superblock;

	/* superblock */
	char uuid[SB_UUID_LEN + 1];
	uint64_t time, trans_id, flags, version, dbs, nr_data;

	/* counts (first pass) */
	uint64_t nr_devices, nr_mappings;

	/* building */
	const struct overrides *ov;
	struct bdev *bd;
	struct thin_pool *pool;
	uint64_t dev;
};

static void xml_fail(struct parser *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xml_fail(struct parser *p, int code, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = code;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	if (!p->quiet)
		fprintf(stderr, "pdtool restore: %s:%lu: %s\n", p->path,
			xml_line(p->xp), p->msg);
}

static const char *find_attr(const char **attrs, const char *name)
{
	for (size_t i = 0; attrs[i]; i += 2)
		if (!strcmp(attrs[i], name))
			return attrs[i + 1];
	return NULL;
}

/* Strict decimal u64: digits only, no overflow.  0 on success. */
static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

/* A required (dflt NULL) or optional numeric attribute, at most max. */
static int get_num(struct parser *p, const char *el, const char **attrs,
		   const char *name, uint64_t max, const uint64_t *dflt,
		   uint64_t *v)
{
	const char *s = find_attr(attrs, name);

	if (!s) {
		if (dflt) {
			*v = *dflt;
			return 0;
		}
		xml_fail(p, 2, "<%s> has no %s attribute", el, name);
		return -1;
	}
	if (parse_u64(s, v) || *v > max) {
		xml_fail(p, 2, "<%s %s=\"%s\">: not a number up to %" PRIu64,
			 el, name, s, max);
		return -1;
	}
	return 0;
}

static void core_fail(struct parser *p, const char *what, int r)
{
	const char *hint = r == -ENOSPC && !p->into ?
		" (is the output large enough for this metadata?)" : "";

	if (!p->failed)
		p->core_r = r;
	xml_fail(p, 1, "%s: %s%s", what, pd_strerror(r), hint);
}

/* thin_xml_rebuild: the dump must be of a pool of the open one's sizes. */
static int same_sizes(struct parser *p)
{
	uint32_t dbs;
	pd_block_t nr_data;
	int r = thin_get_data_block_size(p->pool, &dbs) ?:
		thin_get_nr_data_blocks(p->pool, &nr_data);

	if (r) {
		core_fail(p, "cannot read the pool's sizes", r);
		return 0;
	}
	if (dbs == p->dbs && nr_data == p->nr_data)
		return 1;
	xml_fail(p, 2, "a dump of data_block_size %" PRIu64 ", nr_data_blocks %"
		 PRIu64 " for a pool of %" PRIu32 ", %" PRIu64, p->dbs,
		 p->nr_data, dbs, (uint64_t)nr_data);
	return 0;
}

/* The pool, formatted when <superblock> is seen (second pass), or the
 * open one of thin_xml_rebuild. */
static void start_pool(struct parser *p)
{
	struct thin_pool_params params = { 0 };
	uint64_t tid;
	int r;

	params.data_block_size = (uint32_t)p->dbs;
	params.nr_data_blocks = p->nr_data;
	if (p->into && !same_sizes(p))
		return;
	r = p->into ? 0 : thin_pool_format(p->bd, &params, &p->pool);
	if (r) {
		char what[128];

		snprintf(what, sizeof(what),
			 "cannot format the pool (data_block_size %" PRIu64 ", nr_data_blocks %" PRIu64 ")",
			 p->dbs, p->nr_data);
		core_fail(p, what, r);
		return;
	}
	r = thin_set_time(p->pool, (uint32_t)p->time);
	if (r) {
		core_fail(p, "cannot set the pool time", r);
		return;
	}
	r = thin_get_transaction_id(p->pool, &tid);
	if (!r)
		r = thin_set_transaction_id(p->pool, tid, p->trans_id);
	if (r)
		core_fail(p, "cannot set the transaction id", r);
}

static void on_superblock(struct parser *p, const char **attrs)
{
	static const uint64_t zero = 0, one = 1;
	const char *uuid = find_attr(attrs, "uuid");
	const struct overrides *ov = p->ov;

	if (p->depth_in != 0 || p->seen_superblock) {
		xml_fail(p, 2, "<superblock> must be the one top element");
		return;
	}
	p->seen_superblock = 1;
	p->depth_in = 1;
	if (!uuid) {
		xml_fail(p, 2, "<superblock> has no uuid attribute");
		return;
	}
	snprintf(p->uuid, sizeof(p->uuid), "%s", uuid);
	if (get_num(p, "superblock", attrs, "time", UINT32_MAX, NULL, &p->time) ||
	    get_num(p, "superblock", attrs, "transaction", UINT64_MAX, NULL,
		    &p->trans_id) ||
	    get_num(p, "superblock", attrs, "flags", UINT32_MAX, &zero,
		    &p->flags) ||
	    get_num(p, "superblock", attrs, "version", UINT32_MAX, &one,
		    &p->version) ||
	    get_num(p, "superblock", attrs, "data_block_size", UINT32_MAX,
		    NULL, &p->dbs) ||
	    get_num(p, "superblock", attrs, "nr_data_blocks", UINT64_MAX,
		    NULL, &p->nr_data))
		return;
	if (find_attr(attrs, "metadata_snap") && !p->quiet)
		fprintf(stderr, "pdtool restore: %s: metadata_snap ignored (no snapshot is restored)\n",
			p->path);
	if (ov->has_trans_id)
		p->trans_id = ov->trans_id;
	if (ov->has_dbs)
		p->dbs = ov->dbs;
	if (ov->has_nr_data)
		p->nr_data = ov->nr_data;
	if (!p->count_only)
		start_pool(p);
}

static void on_device(struct parser *p, const char **attrs)
{
	uint64_t id, mapped, tid, ctime, stime;
	struct thin_dev_info info;
	int r;

	if (p->depth_in != 1) {
		xml_fail(p, 2, "<device> outside <superblock>");
		return;
	}
	p->depth_in = 2;
	if (get_num(p, "device", attrs, "dev_id", THIN_MAX_DEV_ID, NULL, &id) ||
	    get_num(p, "device", attrs, "mapped_blocks", UINT64_MAX, NULL,
		    &mapped) ||
	    get_num(p, "device", attrs, "transaction", UINT64_MAX, NULL, &tid) ||
	    get_num(p, "device", attrs, "creation_time", UINT32_MAX, NULL,
		    &ctime) ||
	    get_num(p, "device", attrs, "snap_time", UINT32_MAX, NULL, &stime))
		return;
	p->dev = id;
	p->nr_devices++;
	if (p->count_only)
		return;
	/* only -ENODATA means "not there yet": a failed read must stop the
	 * restore, not pass for an absent device */
	r = thin_dev_info(p->pool, id, &info);
	if (!r) {
		xml_fail(p, 2, "device %" PRIu64 " appears twice", id);
		return;
	}
	if (r != -ENODATA) {
		core_fail(p, "cannot look the device up", r);
		return;
	}
	info.dev = id;
	info.mapped_blocks = 0;		/* counted by the inserts */
	info.transaction_id = tid;
	info.creation_time = (uint32_t)ctime;
	info.snapshotted_time = (uint32_t)stime;
	r = thin_set_dev_info(p->pool, &info);
	if (r)
		core_fail(p, "cannot create the device", r);
}

static void insert_run(struct parser *p, uint64_t vbegin, uint64_t dbegin,
		       uint64_t len, uint64_t time)
{
	if (vbegin + len < vbegin || dbegin + len < dbegin) {
		xml_fail(p, 2, "mapping run wraps around");
		return;
	}
	if (dbegin + len > p->nr_data) {
		xml_fail(p, 2, "data block %" PRIu64 " is beyond nr_data_blocks %" PRIu64,
			 dbegin + len - 1, p->nr_data);
		return;
	}
	p->nr_mappings += len;
	if (p->count_only)
		return;
	for (uint64_t i = 0; i < len; i++) {
		int r = thin_insert_raw(p->pool, p->dev, vbegin + i, dbegin + i,
					(uint32_t)time);

		if (r) {
			char what[128];

			snprintf(what, sizeof(what),
				 "cannot map block %" PRIu64 " of device %" PRIu64 " to data block %" PRIu64,
				 vbegin + i, p->dev, dbegin + i);
			core_fail(p, what, r);
			return;
		}
	}
}

static void on_mapping(struct parser *p, const char *el, const char **attrs)
{
	uint64_t v, d, len = 1, t;

	if (p->depth_in != 2) {
		xml_fail(p, 2, "<%s> outside <device>", el);
		return;
	}
	p->depth_in = 3;
	if (!strcmp(el, "range_mapping")) {
		if (get_num(p, el, attrs, "origin_begin", UINT64_MAX, NULL, &v) ||
		    get_num(p, el, attrs, "data_begin", UINT64_MAX, NULL, &d) ||
		    get_num(p, el, attrs, "length", UINT64_MAX, NULL, &len) ||
		    get_num(p, el, attrs, "time", TIME_MASK, NULL, &t))
			return;
	} else {
		if (get_num(p, el, attrs, "origin_block", UINT64_MAX, NULL, &v) ||
		    get_num(p, el, attrs, "data_block", UINT64_MAX, NULL, &d) ||
		    get_num(p, el, attrs, "time", TIME_MASK, NULL, &t))
			return;
	}
	insert_run(p, v, d, len, t);
}

static int start_el(void *ctx, const char *el, const char **attrs)
{
	struct parser *p = ctx;

	if (p->failed)
		return p->failed;
	if (!strcmp(el, "superblock"))
		on_superblock(p, attrs);
	else if (!strcmp(el, "device"))
		on_device(p, attrs);
	else if (!strcmp(el, "range_mapping") || !strcmp(el, "single_mapping"))
		on_mapping(p, el, attrs);
	else
		xml_fail(p, 2, "unknown element <%s>", el);
	return p->failed;
}

static int end_el(void *ctx, const char *el)
{
	struct parser *p = ctx;

	(void)el;
	if (p->failed)
		return p->failed;
	p->depth_in--;
	return 0;
}

/* One pass over the XML file; 0 or the exit code. */
static int parse_file(struct parser *p)
{
	struct xml_handler h = { p, start_el, end_el };
	int r = xml_parse_file(p->path, "pdtool restore", &h, &p->xp);

	if (r && !p->failed)
		p->failed = r;
	if (!p->failed && !p->seen_superblock) {
		fprintf(stderr, "pdtool restore: %s: no <superblock> element\n",
			p->path);
		p->failed = 2;
	}
	return p->failed;
}

int thin_xml_rebuild(struct thin_pool *pool, const char *xml, size_t len,
		     const char *name, char *msg, size_t msglen)
{
	static const struct overrides none;
	struct parser p;
	struct xml_handler h = { &p, start_el, end_el };
	uint64_t *devs = NULL;
	size_t nr = 0;
	int r;

	memset(&p, 0, sizeof(p));
	p.path = name;
	p.ov = &none;
	p.pool = pool;
	p.into = 1;
	p.quiet = 1;
	/* Every device goes first: their trees are freed in this
	 * transaction and the dump's are built anew beside them. */
	r = thin_list_devs_alloc(pool, &devs, &nr);
	for (size_t i = 0; !r && i < nr; i++)
		r = thin_delete(pool, devs[i]);
	free(devs);
	if (r) {
		snprintf(msg, msglen, "cannot drop the pool's devices: %s",
			 pd_strerror(r));
		return r;
	}
	r = xml_reader_create(&h, &p.xp);
	if (r) {
		snprintf(msg, msglen, "%s", pd_strerror(r));
		return r;
	}
	r = xml_feed(p.xp, xml, len, 1);
	if (r == XML_ERR)
		xml_fail(&p, 2, "%s", xml_error(p.xp));
	else if (!r && !p.seen_superblock)
		xml_fail(&p, 2, "no <superblock> element");
	if (p.failed)
		snprintf(msg, msglen, "%s:%lu: %s", name, xml_line(p.xp), p.msg);
	xml_reader_destroy(p.xp);
	if (p.failed)
		return p.failed == 1 ? p.core_r : -EINVAL;
	return r;	/* 0 or -ENOMEM */
}

/*
 * Metadata blocks to create a new image with: generous (the file is
 * sparse), from the counts of the first pass.  A bottom-level leaf holds at
 * least 84 mappings, a ref-count leaf 112 entries; inner nodes, the data
 * space map's bitmaps and index, devices and slack on top, doubled.
 */
static pd_block_t estimate_blocks(const struct parser *p)
{
	uint64_t est = 128;
	uint64_t max = 255ull * 16320;

	est += p->nr_devices * 4;
	est += p->nr_mappings / 84 + p->nr_mappings / (84 * 84);
	est += p->nr_mappings / 112;
	est += p->nr_data / 16320 + p->nr_data / (16320 * 56) + 2;
	est = est * 2 + 1024;
	return est > max ? max : est;
}

/* Store uuid, flags and version in block 0 (see the file comment). */
static int patch_superblock(struct bdev *bd, const struct parser *p)
{
	uint8_t *d = malloc(PD_BLOCK_SIZE);
	int r;

	if (!d)
		return -ENOMEM;
	r = bdev_read(bd, 0, d);
	if (r)
		goto out_free;
	memset(d + SB_UUID_OFF, 0, SB_UUID_LEN);
	memcpy(d + SB_UUID_OFF, p->uuid, strlen(p->uuid));
	le32_put(d + SB_FLAGS_OFF, (uint32_t)p->flags);
	le32_put(d + SB_VERSION_OFF, (uint32_t)p->version);
	le32_put(d, pd_block_csum(d + 4, PD_BLOCK_SIZE - 4,
				  THIN_SUPERBLOCK_CSUM_XOR));
	r = bdev_write(bd, 0, d, 0);
	if (!r)
		r = bdev_flush(bd);
out_free:
	free(d);
	return r;
}

static int parse_opt_u64(const char *opt, const char *s, uint64_t *v)
{
	if (!s || parse_u64(s, v)) {
		fprintf(stderr, "pdtool restore: %s needs a number\n", opt);
		return -1;
	}
	return 0;
}

int pdtool_restore(int argc, char **argv)
{
	struct overrides ov = { 0 };
	struct parser p;
	const char *in = NULL, *out = NULL;
	struct stat st;
	pd_block_t nr_blocks = 0;
	unsigned flags = 0;
	int r, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(restore_help, stdout);
			return 0;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			continue;
		} else if (!strcmp(a, "-i") || !strcmp(a, "--input") ||
			   !strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (!next || !next[0]) {
				fprintf(stderr, "pdtool restore: %s needs a file name\n", a);
				return 2;
			}
			if (a[1] == 'i' || a[2] == 'i')
				in = next;
			else
				out = next;
			i++;
		} else if (!strcmp(a, "--transaction-id")) {
			if (parse_opt_u64(a, next, &ov.trans_id))
				return 2;
			ov.has_trans_id = 1;
			i++;
		} else if (!strcmp(a, "--data-block-size")) {
			if (parse_opt_u64(a, next, &ov.dbs) || ov.dbs > UINT32_MAX)
				return 2;
			ov.has_dbs = 1;
			i++;
		} else if (!strcmp(a, "--nr-data-blocks")) {
			if (parse_opt_u64(a, next, &ov.nr_data))
				return 2;
			ov.has_nr_data = 1;
			i++;
		} else {
			fprintf(stderr, "pdtool restore: unexpected argument '%s'\n", a);
			fputs(restore_help, stderr);
			return 2;
		}
	}
	if (!in || !out) {
		fprintf(stderr, "pdtool restore: %s\n",
			!in ? "no input XML (-i)" : "no output IMAGE (-o)");
		fputs(restore_help, stderr);
		return 2;
	}

	memset(&p, 0, sizeof(p));
	p.path = in;
	p.ov = &ov;
	if (stat(out, &st)) {
		if (errno != ENOENT) {
			fprintf(stderr, "pdtool restore: cannot open '%s': %s\n",
				out, strerror(errno));
			return 2;
		}
		p.count_only = 1;
		rc = parse_file(&p);
		if (rc)
			return rc;
		nr_blocks = estimate_blocks(&p);
		flags = BDEV_FILE_CREATE;
		memset(&p, 0, sizeof(p));
		p.path = in;
		p.ov = &ov;
	} else {
		/* The XML is read before the output is touched: a bad XML
		 * leaves an existing image as it was. */
		p.count_only = 1;
		rc = parse_file(&p);
		if (rc)
			return rc;
		memset(&p, 0, sizeof(p));
		p.path = in;
		p.ov = &ov;
	}
	r = bdev_file_open(out, PD_BLOCK_SIZE, nr_blocks, flags, &p.bd);
	if (r) {
		fprintf(stderr, "pdtool restore: cannot open '%s': %s\n", out,
			strerror(-r));
		return 2;
	}
	if (bdev_nr_blocks(p.bd) < 16) {
		fprintf(stderr, "pdtool restore: '%s' is too small (%" PRIu64 " blocks of 4096 bytes) for metadata\n",
			out, (uint64_t)bdev_nr_blocks(p.bd));
		bdev_destroy(p.bd);
		return 1;
	}
	rc = parse_file(&p);
	if (!rc) {
		r = thin_commit(p.pool);
		if (r) {
			fprintf(stderr, "pdtool restore: '%s': commit failed: %s\n",
				out, pd_strerror(r));
			rc = 1;
		}
	}
	if (p.pool && rc) {
		thin_pool_destroy(p.pool);	/* nothing more is written */
	} else if (p.pool) {
		r = thin_pool_close(p.pool);
		if (r) {
			fprintf(stderr, "pdtool restore: '%s': close failed: %s\n",
				out, pd_strerror(r));
			rc = 1;
		}
	}
	if (!rc) {
		r = patch_superblock(p.bd, &p);
		if (r) {
			fprintf(stderr, "pdtool restore: '%s': cannot write the superblock: %s\n",
				out, pd_strerror(r));
			rc = 1;
		}
	}
	bdev_destroy(p.bd);
	return rc;
}
