/* harness/pdtool/pdtool.h - the commands of build/pdtool.
 *
 * Each is `int pdtool_NAME(int argc, char **argv)` with argv[0] the command
 * name, and returns the exit code:
 *   0  success (check: the metadata is clean)
 *   1  damaged metadata, or the operation failed on the metadata
 *   2  bad usage, or an input that cannot be read (the message names it)
 *
 * pdtool sees core/ only (thin.h, check.h, cache.h, check_cache.h and below) and links against
 * libpdata alone, nothing of the harness (its XML reader is xml.h).
 */
#ifndef PD_PDTOOL_H
#define PD_PDTOOL_H

#include "bdev.h"
#include "errors.h"

int pdtool_dump(int argc, char **argv);		/* dump.c */
int pdtool_restore(int argc, char **argv);	/* restore.c */
int pdtool_check(int argc, char **argv);	/* check.c */
int pdtool_cache_dump(int argc, char **argv);	/* cache_dump.c */
int pdtool_cache_restore(int argc, char **argv);	/* cache_restore.c */
int pdtool_cache_check(int argc, char **argv);	/* cache_check.c */

/* --- shared by the commands (common.c) --------------------------------- */

/* Open IMAGE read-only (a file or block device): 0, or 2 after a message
 * "PROG: ..." naming it. */
int pdtool_open_image(const char *prog, const char *path, struct bdev **bd);

/* The command line of check and cache-check: [-q] [--strict] [--all]
 * IMAGE, or --help. */
struct check_args {
	const char *path;
	unsigned flags;			/* CHECK_STRICT, CHECK_ALL_MESSAGES */
	int quiet;			/* -q: nothing printed */
};
/* -1: go on with *a; else the exit code (0 after --help, 2 after a usage
 * message naming what is wrong). */
int pdtool_check_args(int argc, char **argv, const char *prog,
		      const char *help, struct check_args *a);
/* What failed a reader with r: the damage record d (errors.h) if it
 * holds a note, else pd_strerror(r). */
const char *pdtool_damage_text(const struct pd_damage *d, int r);
/* A checker's finding on stderr, indented, unless -q (ctx: check_args). */
void pdtool_print_finding(void *ctx, const char *text);

#endif /* PD_PDTOOL_H */
