/* harness/pdtool/check.c - `pdtool check`: core/check.h on an image file,
 * with thin_check's output conventions (TRANSACTION_ID and
 * METADATA_FREE_BLOCKS on stdout, findings on stderr).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bdev.h"
#include "bm.h"
#include "check.h"
#include "errors.h"
#include "pdtool.h"


static const char check_help[] =
"usage: pdtool check [-q] [--strict] [--all] IMAGE\n"
"\n"
"Check the dm-thin metadata in IMAGE (a file or block device), as\n"
"thin_check does: superblock, every btree node (checksum, location, order,\n"
"ranges, occupancy, depth, cycles), the details tree against the mapping\n"
"tree (device ids, mapped_blocks), the held metadata snapshot, and the\n"
"reference count of every metadata and data block in both space maps.\n"
"Prints TRANSACTION_ID and METADATA_FREE_BLOCKS on stdout (the free count\n"
"is the metadata space map's nr_blocks - nr_allocated; thin_check 0.9.0\n"
"prints the device size - 1 instead), findings on stderr.\n"
"\n"
"  -q, --quiet   print nothing; the exit code tells\n"
"  --strict      also fail on what thin_check tolerates: underfull nodes,\n"
"                space-map bookkeeping (nr_allocated, nr_free) off\n"
"  --all         print every finding (default: the first 100)\n"
"\n"
"Exit: 0 clean (warnings allowed); 1 damaged (errors or leaked blocks);\n"
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

int pdtool_check(int argc, char **argv)
{
	struct check_out out = { 0 };
	struct check_result res;
	struct bdev *bd;
	struct stat st;
	const char *path = NULL;
	unsigned flags = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(check_help, stdout);
			return 0;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			out.quiet = 1;
		} else if (!strcmp(a, "--strict")) {
			flags |= CHECK_STRICT;
		} else if (!strcmp(a, "--all")) {
			flags |= CHECK_ALL_MESSAGES;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "pdtool check: unknown option '%s'\n", a);
			fputs(check_help, stderr);
			return 2;
		} else if (path) {
			fprintf(stderr, "pdtool check: one IMAGE only ('%s' and '%s')\n",
				path, a);
			return 2;
		} else {
			path = a;
		}
	}
	if (!path) {
		fputs("pdtool check: no IMAGE given\n", stderr);
		fputs(check_help, stderr);
		return 2;
	}
	if (!stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "pdtool check: '%s' is not a file or block device\n",
			path);
		return 2;
	}
	r = bdev_file_open(path, PD_BLOCK_SIZE, 0, BDEV_FILE_READONLY, &bd);
	if (r) {
		fprintf(stderr, "pdtool check: cannot open '%s': %s\n", path,
			strerror(-r));
		return 2;
	}
	r = check_thin_metadata(bd, flags, print_finding, &out, &res);
	bdev_destroy(bd);
	if (r) {
		fprintf(stderr, "pdtool check: '%s': cannot check: %s\n", path,
			pd_strerror(r));
		return 2;
	}
	if (!out.quiet) {
		if (res.superblock_ok) {
			printf("TRANSACTION_ID=%" PRIu64 "\n", res.trans_id);
			printf("METADATA_FREE_BLOCKS=%" PRIu64 "\n",
			       res.metadata_nr_blocks >= res.metadata_nr_allocated ?
			       res.metadata_nr_blocks - res.metadata_nr_allocated : 0);
			fflush(stdout);
		}
		if (res.errors || res.leaks)
			fprintf(stderr, "%s: damaged: %u error%s, %u leaked block%s, %u warning%s\n",
				path, res.errors, res.errors == 1 ? "" : "s",
				res.leaks, res.leaks == 1 ? "" : "s",
				res.warnings, res.warnings == 1 ? "" : "s");
		else if (res.warnings)
			fprintf(stderr, "%s: clean, with %u warning%s\n", path,
				res.warnings, res.warnings == 1 ? "" : "s");
	}
	return res.errors || res.leaks ? 1 : 0;
}
