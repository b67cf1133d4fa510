/* harness/pdtool/cache_dump.c - `pdtool cache-dump`: dm-cache metadata as
 * the XML of Debian's cache_dump 0.9.0, byte for byte (format 1):
 *
 *   <superblock uuid="U" block_size="S" nr_cache_blocks="N" policy="P" hint_width="4">
 *     <mappings>
 *       <mapping cache_block="C" origin_block="O" dirty="true|false"/>
 *     </mappings>
 *     <hints>
 *       <hint cache_block="C" data="BASE64"/>
 *     </hints>
 *   </superblock>
 *
 * Two-space indentation per level.  uuid and policy are the stored bytes
 * up to the first NUL (at most 16), printed without escaping, as 0.9.0
 * does.  hint_width is 4: 0.9.0 prints the stored policy_hint_size only
 * when an incompat flag marks a variable width, and core/cache.h opens no
 * image with an incompat flag.  A mapping is printed for every cache block
 * whose VALID flag is set, and a hint (policy_hint_size bytes, base64 with
 * padding) for every such block when the image has a hint array; <hints>
 * is printed (empty) without one.  The discard bitset is never printed
 * (0.9.0 does not walk it).
 *
 * What differs from 0.9.0, on purpose:
 *  - format 2: 0.9.0 prints every block dirty="false" (it reads only the
 *    mapping's DIRTY flag, which format 2 does not use); this prints the
 *    dirty bit from the dirty bitset, what the kernel would use.
 *  - nr_cache_blocks 0: 0.9.0 fails part way ("metadata contains
 *    errors"); this prints empty <mappings> and <hints>.
 * Everything is read as stored (cache.h CA7): an image without
 * CLEAN_SHUTDOWN dumps its stored dirty bits and hints, as 0.9.0 does
 * (the kernel would treat every block as dirty and the hints as invalid).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev.h"
#include "bm.h"
#include "cache.h"
#include "errors.h"
#include "pdtool.h"

#define HINT_WIDTH 4u

static const char cache_dump_help[] =
"usage: pdtool cache-dump [-o XML] IMAGE\n"
"\n"
"Print the dm-cache metadata in IMAGE as XML, byte for byte what\n"
"cache_dump 0.9.0 prints for metadata format 1: the superblock line (uuid,\n"
"block_size, nr_cache_blocks, policy, hint_width), every valid mapping\n"
"with its dirty bit, and the hint (base64) of every mapped block.  The\n"
"discard bitset is not printed (0.9.0 does not either).  Dirty bits and\n"
"hints are printed as stored, even without a clean shutdown (as 0.9.0).\n"
"IMAGE is opened read-only.\n"
"\n"
"Differences from cache_dump 0.9.0:\n"
"  format 2   0.9.0 prints every block dirty=\"false\"; pdtool prints the\n"
"             real dirty bit from the format-2 dirty bitset.\n"
"  0 blocks   0.9.0 fails on nr_cache_blocks=\"0\"; pdtool prints empty\n"
"             <mappings> and <hints>.\n"
"\n"
"  -o XML     write to XML instead of stdout\n"
"\n"
"Exit: 0 success; 1 damaged or unsupported metadata (the output may then be\n"
"incomplete; the message names the damaged block and what is wrong with\n"
"it); 2 bad usage, IMAGE cannot be opened or XML cannot be written.\n";

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(FILE *out, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)d[i + 1] << 8;
		if (left > 2)
			v |= d[i + 2];
		fputc(b64[v >> 18 & 63], out);
		fputc(b64[v >> 12 & 63], out);
		fputc(left > 1 ? b64[v >> 6 & 63] : '=', out);
		fputc(left > 2 ? b64[v & 63] : '=', out);
	}
}

/* The bytes of a fixed-size field up to its first NUL. */
static void put_field(FILE *out, const uint8_t *s, size_t max)
{
	for (size_t i = 0; i < max && s[i]; i++)
		fputc(s[i], out);
}

struct hint_list {
	uint32_t *cb;			/* mapped blocks with a hint, in order */
	uint8_t *data;			/* HINT_WIDTH bytes each */
	size_t nr;
};

struct dump_ctx {
	FILE *out;
	struct hint_list hints;
};

static int on_mapping(void *ctx, uint32_t cblock, uint64_t oblock, int dirty,
		      const void *hint)
{
	struct dump_ctx *dc = ctx;
	struct hint_list *h = &dc->hints;

	fprintf(dc->out,
		"    <mapping cache_block=\"%" PRIu32 "\" origin_block=\"%" PRIu64 "\" dirty=\"%s\"/>\n",
		cblock, oblock, dirty ? "true" : "false");
	if (hint) {
		h->cb[h->nr] = cblock;
		memcpy(h->data + h->nr * HINT_WIDTH, hint, HINT_WIDTH);
		h->nr++;
	}
	return 0;
}

static int dump_cache(struct cache_md *cmd, const struct cache_sb_info *sb,
		      FILE *out, const char *path)
{
	struct dump_ctx dc = { out, { NULL, NULL, 0 } };
	uint32_t n = sb->cache_blocks;
	int r;

	/* hints come after all mappings: kept in memory, 8 bytes a block */
	dc.hints.cb = malloc(((size_t)n + 1) * sizeof(uint32_t));
	dc.hints.data = malloc(((size_t)n + 1) * HINT_WIDTH);
	if (!dc.hints.cb || !dc.hints.data) {
		r = -ENOMEM;
		goto out_free;
	}
	fputs("<superblock uuid=\"", out);
	put_field(out, sb->uuid, sizeof(sb->uuid));
	fprintf(out, "\" block_size=\"%" PRIu32 "\" nr_cache_blocks=\"%" PRIu32 "\" policy=\"",
		sb->data_block_size, n);
	put_field(out, (const uint8_t *)sb->policy_name, CACHE_POLICY_NAME_SIZE);
	fprintf(out, "\" hint_width=\"%u\">\n", HINT_WIDTH);
	fputs("  <mappings>\n", out);
	pd_damage_clear(cache_damage(cmd));
	r = cache_walk_mappings(cmd, on_mapping, &dc);
	if (r)
		goto out_free;
	fputs("  </mappings>\n", out);
	fputs("  <hints>\n", out);
	for (size_t i = 0; i < dc.hints.nr; i++) {
		fprintf(out, "    <hint cache_block=\"%" PRIu32 "\" data=\"",
			dc.hints.cb[i]);
		put_base64(out, dc.hints.data + i * HINT_WIDTH, HINT_WIDTH);
		fputs("\"/>\n", out);
	}
	fputs("  </hints>\n", out);
	fputs("</superblock>\n", out);
	free(dc.hints.data);
	free(dc.hints.cb);
	return 0;

out_free:
	free(dc.hints.data);
	free(dc.hints.cb);
	fprintf(stderr, "pdtool cache-dump: '%s': %s: %s\n", path,
		r == -ENOMEM ? "out of memory" : "damaged metadata",
		pdtool_damage_text(cache_damage(cmd), r));
	return 1;
}

int pdtool_cache_dump(int argc, char **argv)
{
	struct pd_damage why = { 0 };
	struct cache_params p = {
		.flags = CACHE_OPEN_READ_ONLY | CACHE_OPEN_AS_STORED,
		.damage = &why,
	};
	const char *path = NULL, *out_path = NULL;
	struct cache_sb_info sb;
	struct cache_md *cmd;
	struct bdev *bd;
	FILE *out = stdout;
	int r, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(cache_dump_help, stdout);
			return 0;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (++i == argc) {
				fprintf(stderr, "pdtool cache-dump: %s needs a file name\n", a);
				return 2;
			}
			out_path = argv[i];
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "pdtool cache-dump: unknown option '%s'\n", a);
			fputs(cache_dump_help, stderr);
			return 2;
		} else if (path) {
			fprintf(stderr, "pdtool cache-dump: one IMAGE only ('%s' and '%s')\n",
				path, a);
			return 2;
		} else {
			path = a;
		}
	}
	if (!path) {
		fputs("pdtool cache-dump: no IMAGE given\n", stderr);
		fputs(cache_dump_help, stderr);
		return 2;
	}
	if ((r = pdtool_open_image("pdtool cache-dump", path, &bd)))
		return r;
	r = cache_read_superblock_why(bd, &sb, &why);
	if (r) {
		fprintf(stderr, "pdtool cache-dump: '%s': %s%s\n", path,
			r == -ENODATA ? "superblock is all zeroes (not formatted)" :
			r == -EINVAL ? "too small to hold a superblock" :
			r == -EIO ? "cannot read the superblock: " :
			"bad cache superblock: ", r == -EIO || r == -EILSEQ ||
			r == -ENOTBLK ? pdtool_damage_text(&why, r) : "");
		bdev_destroy(bd);
		return 1;
	}
	r = cache_md_open(bd, &p, &cmd);
	if (r) {
		fprintf(stderr, "pdtool cache-dump: '%s': cannot open the cache metadata: %s%s\n",
			path, pdtool_damage_text(&why, r),
			r == -EINVAL ? " (unsupported version, features or hint size)" : "");
		bdev_destroy(bd);
		return 1;
	}
	if (out_path && !(out = fopen(out_path, "w"))) {
		fprintf(stderr, "pdtool cache-dump: cannot write '%s': %s\n",
			out_path, strerror(errno));
		cache_md_destroy(cmd);
		bdev_destroy(bd);
		return 2;
	}
	rc = dump_cache(cmd, &sb, out, path);
	if (fflush(out) || ferror(out)) {
		fprintf(stderr, "pdtool cache-dump: cannot write '%s': %s\n",
			out_path ? out_path : "standard output", strerror(errno));
		rc = 2;
	}
	if (out_path)
		fclose(out);
	cache_md_destroy(cmd);
	bdev_destroy(bd);
	return rc;
}
