/* harness/main_pdtool.c - the pdtool command (DESIGN.md section 5): dump,
 * restore and check dm-thin metadata images, interoperating with Debian's
 * thin-provisioning-tools 0.9.0 (thin_dump, thin_restore, thin_check).
 *
 * The commands live in harness/pdtool_dump.c, pdtool_restore.c and
 * pdtool_check.c; each is `int pdtool_NAME(int argc, char **argv)` with
 * argv[0] the command name, and returns the exit code:
 *   0  success (check: the metadata is clean)
 *   1  damaged metadata, or the operation failed on the metadata
 *   2  bad usage, or an input that cannot be read (the message names it)
 */
#include <stdio.h>
#include <string.h>

/* Defined in harness/pdtool_<name>.c. */
int pdtool_dump(int argc, char **argv);
int pdtool_restore(int argc, char **argv);
int pdtool_check(int argc, char **argv);

static const char usage_text[] =
"usage: pdtool dump [-o XML] [--dev-id ID] [--skip-mappings] [-m[BLOCK]] IMAGE\n"
"       pdtool restore -i XML -o IMAGE\n"
"       pdtool check [-q] [--strict] [--all] IMAGE\n"
"       pdtool --help | pdtool COMMAND --help\n";

static const char help_text[] =
"pdtool - dump, restore and check dm-thin pool metadata images\n"
"\n"
"dump      Print the metadata of IMAGE (or its held metadata snapshot) as\n"
"          thin_dump XML, byte for byte what thin_dump 0.9.0 prints.\n"
"restore   Build metadata in IMAGE from thin_dump XML, like thin_restore.\n"
"check     Check the structure of IMAGE, like thin_check: checksums, btrees,\n"
"          devices against mappings, and every reference count in both\n"
"          space maps.\n"
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
	fprintf(stderr, "pdtool: unknown command '%s'\n", cmd);
	fputs(usage_text, stderr);
	return 2;
}
