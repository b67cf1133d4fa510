/* linux/rwsem.h - read-write semaphores as counters.
 * Models: one thread; readers is the number of read holds, writer a flag.
 * down_write with any holder, down_read with a writer, and an up without
 * the matching down are BUGs (in the kernel: a self-deadlock or a
 * corrupted semaphore).  Nested read holds are allowed, as in the kernel.
 */
#ifndef KSHIM_LINUX_RWSEM_H
#define KSHIM_LINUX_RWSEM_H

#include <linux/kernel.h>

struct rw_semaphore {
	int readers;
	int writer;
};

#define init_rwsem(s) ((s)->readers = 0, (s)->writer = 0)
#define down_read(s) do { BUG_ON((s)->writer); (s)->readers++; } while (0)
#define up_read(s) do { BUG_ON((s)->readers <= 0); (s)->readers--; } while (0)
#define down_write(s) do { BUG_ON((s)->writer || (s)->readers); (s)->writer = 1; } while (0)
#define up_write(s) do { BUG_ON(!(s)->writer); (s)->writer = 0; } while (0)
#define rwsem_is_locked(s) ((s)->writer || (s)->readers > 0)

#endif /* KSHIM_LINUX_RWSEM_H */
