/* harness/pdtool/check.c - `pdtool check`: core/check.h on an image file,
 * with thin_check's output conventions (TRANSACTION_ID and
 * METADATA_FREE_BLOCKS on stdout, findings on stderr).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

int pdtool_check(int argc, char **argv)
{
	struct check_args a;
	struct check_result res;
	struct bdev *bd;
	int r;

	if ((r = pdtool_check_args(argc, argv, "pdtool check", check_help, &a)) >= 0)
		return r;
	if ((r = pdtool_open_image("pdtool check", a.path, &bd)))
		return r;
	r = check_thin_metadata(bd, a.flags, pdtool_print_finding, &a, &res);
	bdev_destroy(bd);
	if (r) {
		fprintf(stderr, "pdtool check: '%s': cannot check: %s\n", a.path,
			pd_strerror(r));
		return 2;
	}
	if (!a.quiet) {
		if (res.superblock_ok) {
			printf("TRANSACTION_ID=%" PRIu64 "\n", res.trans_id);
			printf("METADATA_FREE_BLOCKS=%" PRIu64 "\n",
			       res.metadata_nr_blocks >= res.metadata_nr_allocated ?
			       res.metadata_nr_blocks - res.metadata_nr_allocated : 0);
			fflush(stdout);
		}
		if (res.errors || res.leaks)
			fprintf(stderr, "%s: damaged: %u error%s, %u leaked block%s, %u warning%s\n",
				a.path, res.errors, res.errors == 1 ? "" : "s",
				res.leaks, res.leaks == 1 ? "" : "s",
				res.warnings, res.warnings == 1 ? "" : "s");
		else if (res.warnings)
			fprintf(stderr, "%s: clean, with %u warning%s\n", a.path,
				res.warnings, res.warnings == 1 ? "" : "s");
	}
	return res.errors || res.leaks ? 1 : 0;
}
