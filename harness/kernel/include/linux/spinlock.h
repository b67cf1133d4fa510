/* linux/spinlock.h - spinlocks as flags.
 * Models: one thread, so a spinlock never spins; it is a flag that asserts
 * correct pairing (taking a held lock or dropping a free one is a BUG,
 * i.e. a self-deadlock in the kernel).  Ignores: irq variants, lockdep.
 */
#ifndef KSHIM_LINUX_SPINLOCK_H
#define KSHIM_LINUX_SPINLOCK_H

#include <linux/kernel.h>

typedef struct {
	int held;
} spinlock_t;

#define spin_lock_init(l) ((l)->held = 0)
#define spin_lock(l) do { BUG_ON((l)->held); (l)->held = 1; } while (0)
#define spin_unlock(l) do { BUG_ON(!(l)->held); (l)->held = 0; } while (0)

#endif /* KSHIM_LINUX_SPINLOCK_H */
