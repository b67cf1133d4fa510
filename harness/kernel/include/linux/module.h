/* linux/module.h - module metadata: no-ops (no module loader). */
#ifndef KSHIM_LINUX_MODULE_H
#define KSHIM_LINUX_MODULE_H

#include <linux/export.h>
#include <linux/kernel.h>

#define MODULE_LICENSE(s) _Static_assert(1, s)
#define MODULE_AUTHOR(s) _Static_assert(1, s)
#define MODULE_DESCRIPTION(s) _Static_assert(1, s)

#endif /* KSHIM_LINUX_MODULE_H */
