/* linux/export.h - symbol exports: no-ops (no module loader).  Which
 * symbols leave a version's object is decided by harness/kernel/kernel.mk.
 */
#ifndef KSHIM_LINUX_EXPORT_H
#define KSHIM_LINUX_EXPORT_H

#define EXPORT_SYMBOL(sym) _Static_assert(1, #sym)
#define EXPORT_SYMBOL_GPL(sym) _Static_assert(1, #sym)

#endif /* KSHIM_LINUX_EXPORT_H */
