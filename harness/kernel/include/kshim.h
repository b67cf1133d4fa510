/* kshim.h - the prelude of every kernel translation unit (gcc -include).
 *
 * The kernel's files are compiled unmodified; this file and the headers
 * under include/linux/ (each a subset of the kernel header of that name)
 * are all that makes them build in userspace.  Model: one thread, no
 * preemption, no interrupts, memory from malloc, I/O through our struct
 * bdev (core/bdev.h) via our dm-bufio (harness/kernel/bufio.c).
 *
 * The libc headers come first, so that the names below can be taken over
 * afterwards without clashing with a libc prototype:
 *  - bsearch: dm-btree.c defines a static bsearch(node, key, want_hi); libc
 *    declares bsearch(3) in <stdlib.h>.  Renaming it in every kernel
 *    translation unit (after <stdlib.h> was read) keeps both intact.
 */
#ifndef KSHIM_H
#define KSHIM_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define bsearch kshim_btree_bsearch

/* Kernel errno values libc lacks (include/linux/errno.h). */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

#endif /* KSHIM_H */
