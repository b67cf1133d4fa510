/* core/errors.h - error codes of libpdata.
 *
 * Every call returns 0 or a negative errno, one meaning each:
 *   -EIO      the device failed, or the object is poisoned by an earlier
 *             failure (see tm.h TM4)
 *   -ENOSPC   a space map is full
 *   -ENOMEM   out of memory (or too many recursive space-map operations)
 *   -EINVAL   misuse: bad argument, block past the end, dec of a free block
 *   -ENODATA  the key is absent
 *   -EILSEQ   a block failed its checksum, magic or structure check
 *   -ENOTBLK  a block says it lives somewhere else
 *   -EPERM    a write to a read-only block manager
 *   -EEXIST   the object (thin device, key) already exists
 *   -EBUSY    the object is in use (a block still locked, a held snapshot)
 */
#ifndef PD_ERRORS_H
#define PD_ERRORS_H

#include <errno.h>

/* A short static description of r (0 or -errno); never NULL. */
const char *pd_strerror(int r);

#endif /* PD_ERRORS_H */
