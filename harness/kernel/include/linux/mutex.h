/* linux/mutex.h - mutexes as flags.
 * Models: one thread; a mutex is a flag that asserts correct pairing
 * (locking a held mutex would deadlock in the kernel: BUG).
 */
#ifndef KSHIM_LINUX_MUTEX_H
#define KSHIM_LINUX_MUTEX_H

#include <linux/kernel.h>
#include <linux/spinlock.h>

struct mutex {
	int held;
};

#define DEFINE_MUTEX(name) struct mutex name = { 0 }
#define mutex_init(m) ((m)->held = 0)
#define mutex_lock(m) do { BUG_ON((m)->held); (m)->held = 1; } while (0)
#define mutex_unlock(m) do { BUG_ON(!(m)->held); (m)->held = 0; } while (0)

#endif /* KSHIM_LINUX_MUTEX_H */
