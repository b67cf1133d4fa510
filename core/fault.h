/* core/fault.h - every libfiu fault point of the project, by name.
 *
 * Code, C tests and pytest share these names; `grep FP_ core/fault.h` lists
 * them all.  A point fires before any side effect and makes its function
 * return the error named here.  Points sit only at choke points: the bdev
 * wrappers (core/bdev.h), the simdisk backend, the allocator (core/util.h)
 * and a few named protocol steps.
 */
#ifndef PD_FAULT_H
#define PD_FAULT_H

#include "fiu-local.h"

/* core/bdev.h wrappers: any backend; the call returns -EIO. */
#define FP_BDEV_READ		"bdev/read"
#define FP_BDEV_WRITE		"bdev/write"
#define FP_BDEV_FLUSH		"bdev/flush"

/* simdisk backend: the op is logged as failed and returns -EIO (DESIGN D4). */
#define FP_SIMDISK_READ		"simdisk/read"
#define FP_SIMDISK_WRITE	"simdisk/write"
#define FP_SIMDISK_FLUSH	"simdisk/flush"

/* pd_malloc() and friends return NULL; callers return -ENOMEM. */
#define FP_CORE_ALLOC		"core/alloc"

/* A named protocol step: copying a space-map root for the superblock
 * (sm_copy_root, core/sm.h) returns -ENOMEM, as the kernel's may fail. */
#define FP_SM_COPY_ROOT		"sm/copy_root"

/* A named protocol step: a space map (metadata or data) is asked for a
 * new block (sm_new_block, core/sm.h) and answers -ENOSPC, before it
 * looks for one: nothing is allocated or queued. */
#define FP_SM_NEW_BLOCK		"sm/new_block"

/* The names above, for tests that check every point is reachable. */
#define PD_FAULT_POINTS { FP_BDEV_READ, FP_BDEV_WRITE, FP_BDEV_FLUSH, \
			  FP_SIMDISK_READ, FP_SIMDISK_WRITE, FP_SIMDISK_FLUSH, \
			  FP_CORE_ALLOC, FP_SM_COPY_ROOT, FP_SM_NEW_BLOCK }

#endif /* PD_FAULT_H */
