/* harness/pdtool/thin_xml.h - pdtool's thin_dump writer and thin_restore
 * builder as calls on a pool the caller has open: the crash suite's
 * `restore` op (harness/engine/workload.c) repairs a pool with the very
 * code `pdtool dump` and `pdtool restore` run.
 *
 * Both see core/thin.h only, as the commands do (pdtool.h).
 */
#ifndef PD_THIN_XML_H
#define PD_THIN_XML_H

#include <stddef.h>
#include <stdio.h>

#include "thin.h"

/* The pool as `pdtool dump` prints it (dump.c: thin_dump 0.9.0's XML),
 * with sb the superblock it was opened from (its time, transaction id,
 * flags, version and data block size head the document).  0, or the
 * core's -errno: out then holds a cut-short document. */
int thin_xml_dump(struct thin_pool *pool, const struct thin_sb_info *sb,
		  FILE *out);

/*
 * Rebuild the open pool from the dump in xml[0..len), with `pdtool
 * restore`'s builder (restore.c): every device of the pool is deleted,
 * then the pool time and transaction id are set from <superblock>, each
 * <device> is made with thin_set_dev_info and each mapping put back with
 * thin_insert_raw (its own time, a new reference on its data block), all
 * in the pool's current transaction: the caller commits (or aborts).  The
 * dump must be of a pool of the same data block size and data device
 * size.  The held metadata snapshot, the needs_check flag and the space
 * maps' sizes are the open pool's own and stay as they are.
 *
 * 0; the core's -errno of the failed call (the pool is failed by it,
 * thin.h TH4); -EINVAL for XML that is not such a dump; -ENOMEM.  On an
 * error msg says what failed and where ("NAME:LINE: ..."); nothing is
 * printed.
 */
int thin_xml_rebuild(struct thin_pool *pool, const char *xml, size_t len,
		     const char *name, char *msg, size_t msglen);

#endif /* PD_THIN_XML_H */
