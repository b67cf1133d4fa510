/* harness/pdtool/main.c - the pdtool command (DESIGN.md section 5): dump,
 * restore and check dm-thin and dm-cache metadata images, interoperating
 * with Debian's thin-provisioning-tools 0.9.0 (thin_dump, thin_restore,
 * thin_check; cache_dump, cache_restore, cache_check).
 *
 * The commands live in dump.c, restore.c, check.c and cache_*.c beside
 * this file; pdtool.h has their contract (arguments and exit codes).
 */
#include <stdio.h>
#include <string.h>

#include "pdtool.h"

static const char usage_text[] =
"usage: pdtool dump [-o XML] [--dev-id ID] [--skip-mappings] [-m[BLOCK]] IMAGE\n"
"       pdtool restore -i XML -o IMAGE\n"
"       pdtool check [-q] [--strict] [--all] IMAGE\n"
"       pdtool cache-dump [-o XML] IMAGE\n"
"       pdtool cache-restore -i XML -o IMAGE [--metadata-version 1|2]\n"
"       pdtool cache-check [-q] [--strict] [--all] IMAGE\n"
"       pdtool --help | pdtool COMMAND --help\n";

static const char help_text[] =
"pdtool - dump, restore and check dm-thin pool and dm-cache metadata images\n"
"\n"
"dump           Print the dm-thin metadata of IMAGE (or its held metadata\n"
"               snapshot) as thin_dump XML, byte for byte what thin_dump\n"
"               0.9.0 prints.\n"
"restore        Build dm-thin metadata in IMAGE from thin_dump XML, like\n"
"               thin_restore.\n"
"check          Check the structure of IMAGE, like thin_check: checksums,\n"
"               btrees, devices against mappings, and every reference count\n"
"               in both space maps.\n"
"cache-dump     Print the dm-cache metadata of IMAGE as cache_dump XML, byte\n"
"               for byte what cache_dump 0.9.0 prints for format 1 (format 2:\n"
"               0.9.0 prints every block clean, pdtool the real dirty bits).\n"
"cache-restore  Build dm-cache metadata (format 1 or 2) in IMAGE from\n"
"               cache_dump XML, like cache_restore.\n"
"cache-check    Check the structure of dm-cache metadata, like cache_check,\n"
"               plus every reference count in the metadata space map.\n"
"\n"
"Exit: 0 success (check: clean); 1 damaged metadata or a failed operation;\n"
"2 bad usage or an unreadable input.\n"
"`pdtool COMMAND --help` describes each command.\n";

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		fputc('\n', stdout);
		fputs(help_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "dump"))
		return pdtool_dump(argc - 1, argv + 1);
	if (!strcmp(cmd, "restore"))
		return pdtool_restore(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return pdtool_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "cache-dump"))
		return pdtool_cache_dump(argc - 1, argv + 1);
	if (!strcmp(cmd, "cache-restore"))
		return pdtool_cache_restore(argc - 1, argv + 1);
	if (!strcmp(cmd, "cache-check"))
		return pdtool_cache_check(argc - 1, argv + 1);
	fprintf(stderr, "pdtool: unknown command '%s'\n", cmd);
	fputs(usage_text, stderr);
	return 2;
}
