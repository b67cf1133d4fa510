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

static const char *plural(unsigned n)
{
	return n == 1 ? "" : "s";
}

int pdtool_cache_check(int argc, char **argv)
{
	struct check_args a;
	struct check_cache_result res;
	struct bdev *bd;
	int r, damaged;

	if ((r = pdtool_check_args(argc, argv, "pdtool cache-check", cache_check_help, &a)) >= 0)
		return r;
	if ((r = pdtool_open_image("pdtool cache-check", a.path, &bd)))
		return r;
	r = check_cache_metadata(bd, a.flags, pdtool_print_finding, &a, &res);
	bdev_destroy(bd);
	if (r) {
		fprintf(stderr, "pdtool cache-check: '%s': cannot check: %s\n", a.path,
			pd_strerror(r));
		return 2;
	}
	damaged = res.errors || ((a.flags & CHECK_STRICT) && res.leaks);
	if (a.quiet)
		return damaged ? 1 : 0;
	if (damaged) {
		fprintf(stderr, "%s: damaged: %u error%s, %u leaked block%s, %u warning%s\n",
			a.path, res.errors, plural(res.errors), res.leaks,
			plural(res.leaks), res.warnings, plural(res.warnings));
		return 1;
	}
	printf("%s: clean: format %" PRIu32 ", %" PRIu32 " cache blocks, %" PRIu64
	       " mapped, %" PRIu64 " dirty, %" PRIu64 " of %" PRIu64 " discard blocks discarded, %" PRIu64
	       " metadata blocks in use of %" PRIu64 "\n",
	       a.path, res.version, res.cache_blocks, res.nr_mapped, res.nr_dirty,
	       res.nr_discarded, res.discard_nr_blocks, res.metadata_blocks_used,
	       res.metadata_nr_blocks);
	if (res.leaks || res.warnings)
		fprintf(stderr, "%s: passes with %u leaked block%s and %u warning%s (--strict fails on them)\n",
			a.path, res.leaks, plural(res.leaks), res.warnings,
			plural(res.warnings));
	return 0;
}
