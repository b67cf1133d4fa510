/* harness/pdtool/cache_restore.c - `pdtool cache-restore`: cache_dump XML
 * to dm-cache metadata, built through core/cache.h.
 *
 * The XML (xml.h, streamed) is what cache_dump writes: one <superblock
 * uuid block_size nr_cache_blocks policy hint_width> holding <mappings>
 * (<mapping cache_block origin_block dirty/>), <hints> (<hint cache_block
 * data/>, base64) and <discards>.  The whole document is read and checked
 * first (file:line on the first error, exit 2) and only then is IMAGE
 * opened: a bad XML leaves it untouched.
 *
 * Steps: cache_md_format (block_size, --metadata-version), cache_resize to
 * nr_cache_blocks, cache_insert_mapping (+ cache_set_dirty) per mapping in
 * cache-block order, cache_set_uuid, cache_write_hints (policy name,
 * version 0.0.0, a hint per cache block: the XML's, zeroes for the rest),
 * cache_md_close (a commit with CLEAN_SHUTDOWN).
 *
 * Against Debian's cache_restore 0.9.0:
 *  - the same XML gives the same cache_dump (format 1); the images differ:
 *    0.9.0 stores policy_hint_size 0 for a width of 4 (its convention:
 *    only other widths are stored, with an incompat flag; the kernel reads
 *    0 as "no hints"), never stores the uuid, and leaks one metadata
 *    block.  This stores policy_hint_size 4 and the uuid, leaks nothing.
 *  - hint_width must be 4 (the kernel's only width; 0.9.0 fails on others)
 *    or 0 (no hint array at all: both dumps then print hint_width="4" and
 *    no hints).
 *  - <discard> elements are refused (exit 2): the XML does not give the
 *    discard block size or count, and 0.9.0 fails on them ("bitset index
 *    out of bounds").  An empty <discards> is accepted.
 *  - refused as well, where 0.9.0 writes them: a cache block or origin
 *    block mapped twice, a cache block past nr_cache_blocks, a hint whose
 *    data is not hint_width bytes, a uuid longer than 15 bytes (0.9.0's
 *    dump prints 16 bytes wrongly), a policy name of 0 or more than 15.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bdev.h"
#include "bm.h"
#include "cache.h"
#include "errors.h"
#include "pdtool.h"
#include "xml.h"

static const char cache_restore_help[] =
"usage: pdtool cache-restore -i XML -o IMAGE [--metadata-version 1|2] [-q]\n"
"\n"
"Build dm-cache metadata in IMAGE from XML written by cache_dump (or pdtool\n"
"cache-dump), through pdcrash's own dm-cache client: every mapping with its\n"
"dirty bit, the policy name and the hints, one commit with clean shutdown.\n"
"cache_check 0.9.0 passes the result and cache_dump 0.9.0 prints the XML\n"
"back (format 1; for format 2 it prints every block clean, pdtool\n"
"cache-dump the real dirty bits).\n"
"\n"
"  -i, --input XML           the XML to read\n"
"  -o, --output IMAGE        the metadata file or device to write.  An\n"
"                            existing one keeps its size; a missing file is\n"
"                            created, sparse, sized from the XML.\n"
"  --metadata-version 1|2    the metadata format (default 1); format 2 keeps\n"
"                            dirty bits in a bitset\n"
"  -q, --quiet               accepted for cache_restore compatibility\n"
"\n"
"Unlike cache_restore 0.9.0: the uuid is stored (0.9.0 drops it), the hint\n"
"width 4 is stored as policy_hint_size 4 (0.9.0 stores 0), no block leaks;\n"
"hint_width must be 4, or 0 for no hint array; <discard> elements are\n"
"refused (the XML has no discard block size; 0.9.0 fails on them too);\n"
"so are a block mapped twice, an origin block mapped twice, and hints\n"
"that are not hint_width bytes.\n"
"\n"
"Exit: 0 success; 1 the metadata could not be built (e.g. IMAGE too small);\n"
"2 bad usage, XML that cannot be read or is not cache_dump XML (the message\n"
"names the file and line; IMAGE is then left untouched), IMAGE that cannot\n"
"be opened.\n";

#define MAX_UUID	15u
#define MAX_POLICY	(CACHE_POLICY_NAME_SIZE - 1)

enum where { IN_NONE, IN_SB, IN_MAPPINGS, IN_HINTS, IN_DISCARDS, IN_LEAF };

struct parser {
	struct xml_reader *xp;
	const char *path;
	int failed;			/* exit code of the first error */
	enum where stack[8];
	int depth;
	int seen_superblock;

	char uuid[MAX_UUID + 1];
	char policy[MAX_POLICY + 1];
	uint64_t block_size, nr_cache_blocks, hint_width;

	/* per cache block */
	uint64_t *oblock;		/* valid: oblock + 1; 0 unmapped */
	uint8_t *dirty;
	uint8_t *hint;			/* hint_width bytes each */
	uint8_t *has_hint;
	uint64_t nr_mapped;
	uint64_t *sorted;		/* origin blocks, for duplicates */
};

static void xml_fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void xml_fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = 2;
	fprintf(stderr, "pdtool cache-restore: %s:%lu: ", p->path,
		p->xp ? xml_line(p->xp) : 0ul);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *find_attr(const char **attrs, const char *name)
{
	for (size_t i = 0; attrs[i]; i += 2)
		if (!strcmp(attrs[i], name))
			return attrs[i + 1];
	return NULL;
}

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

static int get_num(struct parser *p, const char *el, const char **attrs,
		   const char *name, uint64_t max, uint64_t *v)
{
	const char *s = find_attr(attrs, name);

	if (!s) {
		xml_fail(p, "<%s> has no %s attribute", el, name);
		return -1;
	}
	if (parse_u64(s, v) || *v > max) {
		xml_fail(p, "<%s %s=\"%s\">: not a number up to %" PRIu64,
			 el, name, s, max);
		return -1;
	}
	return 0;
}

static const char *get_str(struct parser *p, const char *el,
			   const char **attrs, const char *name)
{
	const char *s = find_attr(attrs, name);

	if (!s)
		xml_fail(p, "<%s> has no %s attribute", el, name);
	return s;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Padded base64 into out (room for max bytes); the length or -1. */
static long b64_decode(const char *s, uint8_t *out, size_t max)
{
	size_t len = strlen(s), n = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad || (v[j] = b64_val(s[i + j])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		for (int j = 0; j < 3 - pad; j++) {
			if (n == max)
				return -1;
			out[n++] = (uint8_t)(w >> (16 - 8 * j));
		}
	}
	return (long)n;
}

static enum where top(const struct parser *p)
{
	return p->depth ? p->stack[p->depth - 1] : IN_NONE;
}

static void on_superblock(struct parser *p, const char **attrs)
{
	const char *uuid, *policy;
	size_t n;

	if (top(p) != IN_NONE || p->seen_superblock) {
		xml_fail(p, "<superblock> must be the one top element");
		return;
	}
	p->seen_superblock = 1;
	if (!(uuid = get_str(p, "superblock", attrs, "uuid")) ||
	    get_num(p, "superblock", attrs, "block_size", UINT32_MAX,
		    &p->block_size) ||
	    get_num(p, "superblock", attrs, "nr_cache_blocks", UINT32_MAX,
		    &p->nr_cache_blocks) ||
	    !(policy = get_str(p, "superblock", attrs, "policy")) ||
	    get_num(p, "superblock", attrs, "hint_width", UINT32_MAX,
		    &p->hint_width))
		return;
	if (strlen(uuid) > MAX_UUID) {
		xml_fail(p, "uuid \"%s\" is longer than %u bytes", uuid, MAX_UUID);
		return;
	}
	n = strlen(policy);
	if (!n || n > MAX_POLICY) {
		xml_fail(p, "policy \"%s\": a name of 1 to %u bytes is needed",
			 policy, MAX_POLICY);
		return;
	}
	if (!p->block_size) {
		xml_fail(p, "block_size 0");
		return;
	}
	if (p->hint_width != 4 && p->hint_width != 0) {
		xml_fail(p, "hint_width %" PRIu64 " not supported (4, the kernel's, or 0 for no hints)",
			 p->hint_width);
		return;
	}
	memcpy(p->uuid, uuid, strlen(uuid) + 1);
	memcpy(p->policy, policy, n + 1);
	n = (size_t)p->nr_cache_blocks + 1;
	p->oblock = calloc(n, sizeof(uint64_t));
	p->dirty = calloc(n, 1);
	p->has_hint = calloc(n, 1);
	p->hint = calloc(n, 4);
	if (!p->oblock || !p->dirty || !p->has_hint || !p->hint) {
		fputs("pdtool cache-restore: out of memory\n", stderr);
		p->failed = 1;
	}
}

static void on_mapping(struct parser *p, const char **attrs)
{
	uint64_t cb, ob;
	const char *d;

	if (get_num(p, "mapping", attrs, "cache_block", UINT32_MAX, &cb) ||
	    get_num(p, "mapping", attrs, "origin_block", CACHE_MAX_OBLOCK, &ob) ||
	    !(d = get_str(p, "mapping", attrs, "dirty")))
		return;
	if (strcmp(d, "true") && strcmp(d, "false")) {
		xml_fail(p, "<mapping dirty=\"%s\">: true or false", d);
		return;
	}
	if (cb >= p->nr_cache_blocks) {
		xml_fail(p, "cache_block %" PRIu64 " is past nr_cache_blocks %" PRIu64,
			 cb, p->nr_cache_blocks);
		return;
	}
	if (p->oblock[cb]) {
		xml_fail(p, "cache_block %" PRIu64 " is mapped twice", cb);
		return;
	}
	p->oblock[cb] = ob + 1;
	p->dirty[cb] = !strcmp(d, "true");
	p->nr_mapped++;
}

static void on_hint(struct parser *p, const char **attrs)
{
	uint8_t buf[8];
	const char *data;
	uint64_t cb;
	long n;

	if (get_num(p, "hint", attrs, "cache_block", UINT32_MAX, &cb) ||
	    !(data = get_str(p, "hint", attrs, "data")))
		return;
	if (cb >= p->nr_cache_blocks) {
		xml_fail(p, "hint for cache_block %" PRIu64 " past nr_cache_blocks %" PRIu64,
			 cb, p->nr_cache_blocks);
		return;
	}
	n = b64_decode(data, buf, sizeof(buf));
	if (n < 0 || (uint64_t)n != p->hint_width || !p->hint_width) {
		xml_fail(p, "hint for cache_block %" PRIu64 ": data \"%s\" is not %" PRIu64 " bytes of base64",
			 cb, data, p->hint_width);
		return;
	}
	if (p->has_hint[cb]) {
		xml_fail(p, "two hints for cache_block %" PRIu64, cb);
		return;
	}
	p->has_hint[cb] = 1;
	memcpy(p->hint + cb * 4, buf, 4);
}

static int start_el(void *ctx, const char *el, const char **attrs)
{
	struct parser *p = ctx;
	enum where w = top(p), next = IN_LEAF;

	if (p->failed)
		return p->failed;
	if (p->depth == (int)(sizeof(p->stack) / sizeof(p->stack[0]))) {
		xml_fail(p, "elements nested too deep");
		return p->failed;
	}
	if (!strcmp(el, "superblock")) {
		on_superblock(p, attrs);
		next = IN_SB;
	} else if (!strcmp(el, "mappings") || !strcmp(el, "hints") ||
		   !strcmp(el, "discards")) {
		if (w != IN_SB)
			xml_fail(p, "<%s> outside <superblock>", el);
		next = el[0] == 'm' ? IN_MAPPINGS : el[0] == 'h' ? IN_HINTS :
		       IN_DISCARDS;
	} else if (!strcmp(el, "mapping")) {
		if (w != IN_MAPPINGS)
			xml_fail(p, "<mapping> outside <mappings>");
		else
			on_mapping(p, attrs);
	} else if (!strcmp(el, "hint")) {
		if (w != IN_HINTS)
			xml_fail(p, "<hint> outside <hints>");
		else
			on_hint(p, attrs);
	} else if (!strcmp(el, "discard")) {
		xml_fail(p, "<discard> cannot be restored: the XML gives no discard block size or count");
	} else {
		xml_fail(p, "unknown element <%s>", el);
	}
	p->stack[p->depth++] = next;
	return p->failed;
}

static int end_el(void *ctx, const char *el)
{
	struct parser *p = ctx;

	(void)el;
	if (p->failed)
		return p->failed;
	p->depth--;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* An origin block mapped by two cache blocks (cache_check calls it damage). */
static void check_origins(struct parser *p)
{
	size_t n = 0;

	if (p->nr_mapped < 2)
		return;
	p->sorted = malloc(p->nr_mapped * sizeof(uint64_t));
	if (!p->sorted) {
		fputs("pdtool cache-restore: out of memory\n", stderr);
		p->failed = 1;
		return;
	}
	for (uint64_t cb = 0; cb < p->nr_cache_blocks; cb++)
		if (p->oblock[cb])
			p->sorted[n++] = p->oblock[cb] - 1;
	qsort(p->sorted, n, sizeof(uint64_t), cmp_u64);
	for (size_t i = 1; i < n; i++) {
		if (p->sorted[i] == p->sorted[i - 1]) {
			fprintf(stderr, "pdtool cache-restore: %s: origin_block %" PRIu64 " is mapped by two cache blocks\n",
				p->path, p->sorted[i]);
			p->failed = 2;
			return;
		}
	}
}

static int parse_file(struct parser *p)
{
	struct xml_handler h = { p, start_el, end_el };
	int r = xml_parse_file(p->path, "pdtool cache-restore", &h, &p->xp);

	if (r && !p->failed)
		p->failed = r;
	if (!p->failed && !p->seen_superblock) {
		fprintf(stderr, "pdtool cache-restore: %s: no <superblock> element\n",
			p->path);
		p->failed = 2;
	}
	if (!p->failed)
		check_origins(p);
	return p->failed;
}

static void free_parser(struct parser *p)
{
	free(p->sorted);
	free(p->hint);
	free(p->has_hint);
	free(p->dirty);
	free(p->oblock);
}

/* Metadata blocks for a new image (sparse): the mapping array (509 values
 * a block), the hint array (1018), the dirty bitset (format 2), their
 * index trees, tripled for shadowing, and room to spare. */
static pd_block_t estimate_blocks(const struct parser *p)
{
	uint64_t n = p->nr_cache_blocks;
	uint64_t est = n / 509 + n / 1018 + n / (64 * 509) + 8;

	return (pd_block_t)(est * 3 + 1024);
}

static int build(struct parser *p, struct bdev *bd, unsigned version,
		 const char *out)
{
	struct cache_params params = { .data_block_size = (uint32_t)p->block_size,
				       .version = version };
	static const uint32_t policy_version[CACHE_POLICY_VERSION_SIZE];
	uint8_t uuid[CACHE_UUID_SIZE] = { 0 };
	struct cache_md *cmd;
	const char *what;
	char what_buf[64];
	uint32_t cb = 0;
	int r;

	what = "cannot format the metadata";
	r = cache_md_format(bd, &params, &cmd);
	if (r)
		goto out;
	what = "cannot size the cache";
	r = cache_resize(cmd, (uint32_t)p->nr_cache_blocks);
	for (; !r && cb < p->nr_cache_blocks; cb++) {
		if (!p->oblock[cb])
			continue;
		snprintf(what_buf, sizeof(what_buf),
			 "cannot map cache block %" PRIu32, cb);
		what = what_buf;
		r = cache_insert_mapping(cmd, cb, p->oblock[cb] - 1);
		if (!r && p->dirty[cb])
			r = cache_set_dirty(cmd, cb, 1);
	}
	if (!r) {
		what = "cannot store the uuid";
		memcpy(uuid, p->uuid, strlen(p->uuid));
		r = cache_set_uuid(cmd, uuid);
	}
	if (!r) {
		what = "cannot write the policy and hints";
		r = cache_write_hints(cmd, p->policy, policy_version,
				      (uint32_t)p->hint_width, p->hint);
	}
	if (r) {
		cache_md_destroy(cmd);
		goto out;
	}
	what = "cannot commit";
	r = cache_md_close(cmd);
out:
	if (r)
		fprintf(stderr, "pdtool cache-restore: '%s': %s: %s%s\n", out,
			what, pd_strerror(r),
			r == -ENOSPC ? " (is the output large enough?)" : "");
	return r ? 1 : 0;
}

int pdtool_cache_restore(int argc, char **argv)
{
	struct parser p;
	const char *in = NULL, *out = NULL;
	unsigned version = 1;
	pd_block_t nr_blocks = 0;
	unsigned flags = 0;
	struct bdev *bd;
	struct stat st;
	int r, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(cache_restore_help, stdout);
			return 0;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			continue;
		} else if (!strcmp(a, "-i") || !strcmp(a, "--input") ||
			   !strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (!next) {
				fprintf(stderr, "pdtool cache-restore: %s needs a file name\n", a);
				return 2;
			}
			if (a[1] == 'i' || a[2] == 'i')
				in = next;
			else
				out = next;
			i++;
		} else if (!strcmp(a, "--metadata-version")) {
			if (!next || (strcmp(next, "1") && strcmp(next, "2"))) {
				fputs("pdtool cache-restore: --metadata-version needs 1 or 2\n",
				      stderr);
				return 2;
			}
			version = (unsigned)(next[0] - '0');
			i++;
		} else {
			fprintf(stderr, "pdtool cache-restore: unexpected argument '%s'\n", a);
			fputs(cache_restore_help, stderr);
			return 2;
		}
	}
	if (!in || !out) {
		fprintf(stderr, "pdtool cache-restore: %s\n",
			!in ? "no input XML (-i)" : "no output IMAGE (-o)");
		fputs(cache_restore_help, stderr);
		return 2;
	}

	memset(&p, 0, sizeof(p));
	p.path = in;
	rc = parse_file(&p);		/* before the output is touched */
	if (rc)
		goto out_free;
	if (stat(out, &st)) {
		if (errno != ENOENT) {
			fprintf(stderr, "pdtool cache-restore: cannot open '%s': %s\n",
				out, strerror(errno));
			rc = 2;
			goto out_free;
		}
		nr_blocks = estimate_blocks(&p);
		flags = BDEV_FILE_CREATE;
	}
	r = bdev_file_open(out, PD_BLOCK_SIZE, nr_blocks, flags, &bd);
	if (r) {
		fprintf(stderr, "pdtool cache-restore: cannot open '%s': %s\n", out,
			strerror(-r));
		rc = 2;
		goto out_free;
	}
	if (bdev_nr_blocks(bd) < 16) {
		fprintf(stderr, "pdtool cache-restore: '%s' is too small (%" PRIu64 " blocks of 4096 bytes) for metadata\n",
			out, (uint64_t)bdev_nr_blocks(bd));
		rc = 1;
	} else {
		rc = build(&p, bd, version, out);
	}
	bdev_destroy(bd);
out_free:
	free_parser(&p);
	return rc;
}
