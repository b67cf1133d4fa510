/* harness/pdtool/cache_check.c - `pdtool cache-check`: core/check_cache.h
 * (check_cache_metadata, CC1..CC5) on an image file, with cache_check's
 * conventions: -q prints nothing, the exit code tells.
 *
 * Leaked blocks (space map count 1, no reference) and warnings do not fail
 * the check unless --strict: Debian's cache_restore 0.9.0 leaks a block in
 * every image it writes and leaves policy_hint_size 0 under a hint array,
 * and cache_check 0.9.0 (which counts no references) calls those clean.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bdev.h"
#include "bm.h"
#include "check_cache.h"
#include "errors.h"
#include "pdtool.h"

static const char cache_check_help[] =
"usage: pdtool cache-check [-q] [--strict] [--all] IMAGE\n"
"\n"
"Check the dm-cache metadata in IMAGE (format 1 or 2), as cache_check\n"
"does and more: the superblock (checksum, location, magic, version, hint\n"
"size, flags), every btree node and array block of the mapping array, the\n"
"hint array, the discard bitset and the format-2 dirty bitset (checksum,\n"
"location, sizes, lengths), mapping values (flags, no origin block mapped\n"
"twice), and the reference count of every metadata block in the metadata\n"
"space map.  Findings go to stderr, each naming its block; a clean image\n"
"prints one summary line on stdout.\n"
"\n"
"  -q, --quiet   print nothing; the exit code tells\n"
"  --strict      also fail on leaked blocks and on warnings (underfull\n"
"                nodes, space-map bookkeeping, a hint array under\n"
"                policy_hint_size 0).  Without it they are reported but\n"
"                pass: cache_restore 0.9.0 leaks one block and leaves\n"
"                policy_hint_size 0 in every image, and cache_check 0.9.0\n"
"                calls that clean.\n"
"  --all         print every finding (default: the first 100)\n"
"\n"
"Exit: 0 clean; 1 damaged (the findings say what and which block);\n"
"2 bad usage or IMAGE cannot be opened.\n";

struct check_out {
	int quiet;
};

static void print_finding(void *ctx, const char *text)
{
	struct check_out *o = ctx;

	if (!o->quiet)
		fprintf(stderr, "  %s\n", text);
}

static const char *plural(unsigned n)
{
	return n == 1 ? "" : "s";
}

int pdtool_cache_check(int argc, char **argv)
{
	struct check_out out = { 0 };
	struct check_cache_result res;
	const char *path = NULL;
	unsigned flags = 0;
	struct bdev *bd;
	struct stat st;
	int r, damaged;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(cache_check_help, stdout);
			return 0;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			out.quiet = 1;
		} else if (!strcmp(a, "--strict")) {
			flags |= CHECK_STRICT;
		} else if (!strcmp(a, "--all")) {
			flags |= CHECK_ALL_MESSAGES;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "pdtool cache-check: unknown option '%s'\n", a);
			fputs(cache_check_help, stderr);
			return 2;
		} else if (path) {
			fprintf(stderr, "pdtool cache-check: one IMAGE only ('%s' and '%s')\n",
				path, a);
			return 2;
		} else {
			path = a;
		}
	}
	if (!path) {
		fputs("pdtool cache-check: no IMAGE given\n", stderr);
		fputs(cache_check_help, stderr);
		return 2;
	}
	if (!stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "pdtool cache-check: '%s' is not a file or block device\n",
			path);
		return 2;
	}
	r = bdev_file_open(path, PD_BLOCK_SIZE, 0, BDEV_FILE_READONLY, &bd);
	if (r) {
		fprintf(stderr, "pdtool cache-check: cannot open '%s': %s\n", path,
			strerror(-r));
		return 2;
	}
	r = check_cache_metadata(bd, flags, print_finding, &out, &res);
	bdev_destroy(bd);
	if (r) {
		fprintf(stderr, "pdtool cache-check: '%s': cannot check: %s\n", path,
			pd_strerror(r));
		return 2;
	}
	damaged = res.errors || ((flags & CHECK_STRICT) && res.leaks);
	if (out.quiet)
		return damaged ? 1 : 0;
	if (damaged) {
		fprintf(stderr, "%s: damaged: %u error%s, %u leaked block%s, %u warning%s\n",
			path, res.errors, plural(res.errors), res.leaks,
			plural(res.leaks), res.warnings, plural(res.warnings));
		return 1;
	}
	printf("%s: clean: format %" PRIu32 ", %" PRIu32 " cache blocks, %" PRIu64
	       " mapped, %" PRIu64 " dirty, %" PRIu64 " of %" PRIu64 " discard blocks discarded, %" PRIu64
	       " metadata blocks in use of %" PRIu64 "\n",
	       path, res.version, res.cache_blocks, res.nr_mapped, res.nr_dirty,
	       res.nr_discarded, res.discard_nr_blocks, res.metadata_blocks_used,
	       res.metadata_nr_blocks);
	if (res.leaks || res.warnings)
		fprintf(stderr, "%s: passes with %u leaked block%s and %u warning%s (--strict fails on them)\n",
			path, res.leaks, plural(res.leaks), res.warnings,
			plural(res.warnings));
	return 0;
}
