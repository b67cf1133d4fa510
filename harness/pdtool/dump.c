/* harness/pdtool/dump.c - `pdtool dump`: thin_dump-compatible XML.
 *
 * The output is byte for byte what Debian's thin_dump 0.9.0 prints:
 *
 *   <superblock uuid="" time="T" transaction="X" flags="F" version="V"
 *               data_block_size="S" nr_data_blocks="N">      (one line)
 *     <device dev_id="D" mapped_blocks="M" transaction="X"
 *             creation_time="C" snap_time="S">               (one line)
 *       <range_mapping origin_begin="O" data_begin="B" length="L" time="T"/>
 *       <single_mapping origin_block="O" data_block="B" time="T"/>
 *     </device>
 *   </superblock>
 *
 * Two-space indentation per level.  uuid is always empty (0.9.0 does not
 * print the on-disk uuid), there is no metadata_snap attribute and no
 * <def>/<ref> sharing: every device is dumped in full, in id order.
 * Mappings whose virtual and data blocks both go up by one with an equal
 * time are one run (across leaf boundaries); a run of one is a
 * single_mapping.  nr_data_blocks is the data space map's size.
 *
 * The metadata is read through core/thin.h opened read-only: nothing is
 * ever written to IMAGE.  The held metadata snapshot (-m) is opened the
 * same way (thin_pool_open_metadata_snap); its superblock copy has zero
 * space-map roots, so nr_data_blocks prints 0, as thin_dump 0.9.0 does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev.h"
#include "bm.h"
#include "errors.h"
#include "pdtool.h"
#include "thin.h"
#include "thin_xml.h"


static const char dump_help[] =
"usage: pdtool dump [-o XML] [--dev-id ID] [--skip-mappings]\n"
"                   [-m[BLOCK] | --metadata-snap[=BLOCK]] IMAGE\n"
"\n"
"Print the dm-thin metadata in IMAGE as XML, exactly as thin_dump 0.9.0\n"
"does (devices in id order, consecutive mappings with the same time as\n"
"range_mapping).  IMAGE is opened read-only.\n"
"\n"
"  -o XML           write to XML instead of stdout\n"
"  -m, --metadata-snap[=BLOCK]\n"
"                   dump the held metadata snapshot (the one the superblock\n"
"                   names, or the copy at BLOCK) instead of the live trees\n"
"  --dev-id ID      only device ID (none if it does not exist)\n"
"  --skip-mappings  devices without their mappings\n"
"\n"
"Exit: 0 success; 1 damaged metadata (nothing useful can be read, or a\n"
"tree is damaged part way: the output is then incomplete; the message\n"
"names the damaged block and what is wrong with it); 2 bad usage,\n"
"IMAGE cannot be opened or XML cannot be written.\n";

struct run {
	int open;
	uint64_t vbegin, dbegin, len;
	uint32_t time;
};

struct dump_ctx {
	FILE *out;
	struct run run;
	int one_dev;			/* --dev-id given */
	uint64_t dev;
	int skip_mappings;
};

static void flush_run(struct dump_ctx *dc)
{
	struct run *r = &dc->run;

	if (!r->open)
		return;
	if (r->len == 1)
		fprintf(dc->out,
			"    <single_mapping origin_block=\"%" PRIu64 "\" data_block=\"%" PRIu64 "\" time=\"%" PRIu32 "\"/>\n",
			r->vbegin, r->dbegin, r->time);
	else
		fprintf(dc->out,
			"    <range_mapping origin_begin=\"%" PRIu64 "\" data_begin=\"%" PRIu64 "\" length=\"%" PRIu64 "\" time=\"%" PRIu32 "\"/>\n",
			r->vbegin, r->dbegin, r->len, r->time);
	r->open = 0;
}

static int on_mapping(void *ctx, uint64_t vblock, pd_block_t data_block,
		      uint32_t time)
{
	struct dump_ctx *dc = ctx;
	struct run *r = &dc->run;

	if (r->open && time == r->time && vblock == r->vbegin + r->len &&
	    data_block == r->dbegin + r->len) {
		r->len++;
		return 0;
	}
	flush_run(dc);
	r->open = 1;
	r->vbegin = vblock;
	r->dbegin = data_block;
	r->len = 1;
	r->time = time;
	return 0;
}

/* The XML of pool; 0 or the core's -errno (the output is then cut short). */
static int dump_xml(struct thin_pool *pool, const struct thin_sb_info *sb,
		    const struct dump_ctx *dcp)
{
	struct dump_ctx dc = *dcp;
	FILE *out = dc.out;
	pd_block_t nr_data;
	uint64_t *devs = NULL;
	size_t nr = 0;
	int r;

	r = thin_get_nr_data_blocks(pool, &nr_data);
	if (r)
		return r;
	r = thin_list_devs_alloc(pool, &devs, &nr);
	if (r)
		return r;
	fprintf(out,
		"<superblock uuid=\"\" time=\"%" PRIu32 "\" transaction=\"%" PRIu64 "\" flags=\"%" PRIu32 "\" version=\"%" PRIu32 "\" data_block_size=\"%" PRIu32 "\" nr_data_blocks=\"%" PRIu64 "\">\n",
		sb->time, sb->trans_id, sb->flags, sb->version,
		sb->data_block_size, (uint64_t)nr_data);
	for (size_t i = 0; i < nr; i++) {
		struct thin_dev_info info;

		if (dc.one_dev && devs[i] != dc.dev)
			continue;
		r = thin_dev_info(pool, devs[i], &info);
		if (r)
			goto out_free;
		fprintf(out,
			"  <device dev_id=\"%" PRIu64 "\" mapped_blocks=\"%" PRIu64 "\" transaction=\"%" PRIu64 "\" creation_time=\"%" PRIu32 "\" snap_time=\"%" PRIu32 "\">\n",
			info.dev, info.mapped_blocks, info.transaction_id,
			info.creation_time, info.snapshotted_time);
		dc.run.open = 0;
		r = dc.skip_mappings ? 0 :
			thin_walk_mappings(pool, devs[i], on_mapping, &dc);
		if (r)
			goto out_free;
		flush_run(&dc);
		fputs("  </device>\n", out);
	}
	fputs("</superblock>\n", out);
out_free:
	free(devs);
	return r;
}

int thin_xml_dump(struct thin_pool *pool, const struct thin_sb_info *sb,
		  FILE *out)
{
	struct dump_ctx dc = { .out = out };

	return dump_xml(pool, sb, &dc);
}

static int dump_pool(struct thin_pool *pool, const struct thin_sb_info *sb,
		     struct dump_ctx *dc, const char *path)
{
	int r;

	pd_damage_clear(thin_damage(pool));
	r = dump_xml(pool, sb, dc);
	if (!r)
		return 0;
	fprintf(stderr, "pdtool dump: '%s': %s: %s\n", path,
		r == -ENOMEM ? "out of memory" : "damaged metadata",
		pdtool_damage_text(thin_damage(pool), r));
	return 1;
}

/* --- the held metadata snapshot (-m) ------------------------------------ */

/* The snapshot at snap (0: the one the superblock names) is opened as a
 * read-only pool of its own and dumped like the live one; its copy of the
 * superblock gives the header line. */
static int dump_snapshot(struct bdev *bd, const struct thin_sb_info *sb,
			 pd_block_t snap, struct dump_ctx *dc, const char *path)
{
	struct pd_damage why = { 0 };
	struct thin_pool_params p = { .cache_blocks = 64,
				      .flags = THIN_OPEN_READ_ONLY,
				      .damage = &why };
	struct thin_sb_info copy;
	struct thin_pool *pool;
	int r;

	if (!snap)
		snap = sb->held_root;
	if (!snap) {
		fprintf(stderr, "pdtool dump: '%s': no current metadata snapshot\n",
			path);
		return 1;
	}
	r = thin_read_superblock_why(bd, snap, &copy, &why);
	if (r) {
		fprintf(stderr, "pdtool dump: '%s': block %" PRIu64 " is not a "
			"metadata snapshot: %s\n", path, (uint64_t)snap,
			pdtool_damage_text(&why, r));
		return 1;
	}
	r = thin_pool_open_metadata_snap(bd, snap, &p, &pool);
	if (r) {
		fprintf(stderr, "pdtool dump: '%s': damaged metadata snapshot: "
			"%s\n", path, pdtool_damage_text(&why, r));
		return 1;
	}
	r = dump_pool(pool, &copy, dc, path);
	thin_pool_destroy(pool);
	return r;
}

int pdtool_dump(int argc, char **argv)
{
	struct pd_damage why = { 0 };
	struct thin_pool_params p = { .flags = THIN_OPEN_READ_ONLY,
				      .damage = &why };
	struct dump_ctx dc = { 0 };
	int use_snap = 0;
	pd_block_t snap_block = 0;
	const char *path = NULL, *out_path = NULL;
	struct thin_sb_info sb;
	struct thin_pool *pool;
	struct bdev *bd;
	FILE *out = stdout;
	int r, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(dump_help, stdout);
			return 0;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (++i == argc || !argv[i][0]) {
				fprintf(stderr, "pdtool dump: %s needs a file name\n", a);
				return 2;
			}
			out_path = argv[i];
		} else if (!strcmp(a, "--dev-id")) {
			char *end;

			errno = 0;
			if (++i == argc || !argv[i][0] ||
			    (dc.dev = strtoull(argv[i], &end, 10), *end) ||
			    argv[i][0] == '-' || errno || dc.dev > THIN_MAX_DEV_ID) {
				fprintf(stderr, "pdtool dump: --dev-id needs a number up to %llu\n",
					(unsigned long long)THIN_MAX_DEV_ID);
				return 2;
			}
			dc.one_dev = 1;
		} else if (!strcmp(a, "--skip-mappings")) {
			dc.skip_mappings = 1;
		} else if (!strncmp(a, "-m", 2) ||
			   !strncmp(a, "--metadata-snap", 15)) {
			/* the block, if any, is attached: -m20, --metadata-snap=20 */
			const char *v = a[1] == 'm' ? a + 2 :
					a[15] == '=' ? a + 16 : a + 15;
			char *end;

			errno = 0;
			if ((a[1] == '-' && a[15] && a[15] != '=') ||
			    (*v && ((snap_block = strtoull(v, &end, 10)), *end)) ||
			    (a[1] == '-' && a[15] == '=' && !*v) || *v == '-' ||
			    errno) {
				fprintf(stderr, "pdtool dump: bad option '%s'\n", a);
				return 2;
			}
			use_snap = 1;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "pdtool dump: unknown option '%s'\n", a);
			fputs(dump_help, stderr);
			return 2;
		} else if (path) {
			fprintf(stderr, "pdtool dump: one IMAGE only ('%s' and '%s')\n",
				path, a);
			return 2;
		} else {
			path = a;
		}
	}
	if (!path) {
		fputs("pdtool dump: no IMAGE given\n", stderr);
		fputs(dump_help, stderr);
		return 2;
	}
	if ((r = pdtool_open_image("pdtool dump", path, &bd)))
		return r;
	r = thin_read_superblock_why(bd, 0, &sb, &why);
	if (r) {
		fprintf(stderr, "pdtool dump: '%s': %s%s\n", path,
			r == -ENODATA ? "superblock is all zeroes (not formatted)" :
			r == -EINVAL ? "too small to hold a superblock" :
			r == -ENOMEM ? "out of memory" :
			r == -EIO ? "cannot read the superblock: " :
			"bad superblock: ", r == -EIO || r == -EILSEQ ||
			r == -ENOTBLK ? pdtool_damage_text(&why, r) : "");
		bdev_destroy(bd);
		return 1;
	}
	if (use_snap) {
		if (out_path && !(out = fopen(out_path, "w"))) {
			fprintf(stderr, "pdtool dump: cannot write '%s': %s\n",
				out_path, strerror(errno));
			bdev_destroy(bd);
			return 2;
		}
		dc.out = out;
		rc = dump_snapshot(bd, &sb, snap_block, &dc, path);
		if (fflush(out) || ferror(out))
			rc = 2;
		if (out_path)
			fclose(out);
		bdev_destroy(bd);
		return rc;
	}
	r = thin_pool_open(bd, &p, &pool);
	if (r) {
		fprintf(stderr, "pdtool dump: '%s': cannot open the pool metadata: %s\n",
			path, pdtool_damage_text(&why, r));
		bdev_destroy(bd);
		return 1;
	}
	if (out_path) {
		out = fopen(out_path, "w");
		if (!out) {
			fprintf(stderr, "pdtool dump: cannot write '%s': %s\n",
				out_path, strerror(errno));
			thin_pool_destroy(pool);
			bdev_destroy(bd);
			return 2;
		}
	}
	dc.out = out;
	rc = dump_pool(pool, &sb, &dc, path);
	if (fflush(out) || ferror(out)) {
		fprintf(stderr, "pdtool dump: cannot write '%s': %s\n",
			out_path ? out_path : "standard output", strerror(errno));
		rc = 2;
	}
	if (out_path)
		fclose(out);
	thin_pool_destroy(pool);
	bdev_destroy(bd);
	return rc;
}
