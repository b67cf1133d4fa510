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

int pdtool_dump(int argc, char **argv);		/* dump.c */
int pdtool_restore(int argc, char **argv);	/* restore.c */
int pdtool_check(int argc, char **argv);	/* check.c */
int pdtool_cache_dump(int argc, char **argv);	/* cache_dump.c */
int pdtool_cache_restore(int argc, char **argv);	/* cache_restore.c */
int pdtool_cache_check(int argc, char **argv);	/* cache_check.c */

#endif /* PD_PDTOOL_H */
