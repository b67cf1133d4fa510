/* harness/pdtool/common.c - what several pdtool commands share: opening
 * IMAGE for reading, and the command line of the two checks (pdtool.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bm.h"
#include "check.h"
#include "pdtool.h"

int pdtool_open_image(const char *prog, const char *path, struct bdev **bd)
{
	struct stat st;
	int r;

	if (!stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "%s: '%s' is not a file or block device\n", prog,
			path);
		return 2;
	}
	r = bdev_file_open(path, PD_BLOCK_SIZE, 0, BDEV_FILE_READONLY, bd);
	if (r) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", prog, path,
			strerror(-r));
		return 2;
	}
	return 0;
}

int pdtool_check_args(int argc, char **argv, const char *prog,
		      const char *help, struct check_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			fputs(help, stdout);
			return 0;
		} else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
			a->quiet = 1;
		} else if (!strcmp(s, "--strict")) {
			a->flags |= CHECK_STRICT;
		} else if (!strcmp(s, "--all")) {
			a->flags |= CHECK_ALL_MESSAGES;
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, s);
			fputs(help, stderr);
			return 2;
		} else if (a->path) {
			fprintf(stderr, "%s: one IMAGE only ('%s' and '%s')\n",
				prog, a->path, s);
			return 2;
		} else {
			a->path = s;
		}
	}
	if (!a->path) {
		fprintf(stderr, "%s: no IMAGE given\n", prog);
		fputs(help, stderr);
		return 2;
	}
	return -1;
}

const char *pdtool_damage_text(const struct pd_damage *d, int r)
{
	return d && d->seq ? d->text : pd_strerror(r);
}

void pdtool_print_finding(void *ctx, const char *text)
{
	const struct check_args *a = ctx;

	if (!a->quiet)
		fprintf(stderr, "  %s\n", text);
}
