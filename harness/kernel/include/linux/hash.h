/* linux/hash.h - hash_64 (multiplicative hashing), the kernel's formula,
 * so cache buckets (dm-transaction-manager's shadow table) match it.
 */
#ifndef KSHIM_LINUX_HASH_H
#define KSHIM_LINUX_HASH_H

#include <linux/kernel.h>

#define GOLDEN_RATIO_64 0x61C8864680B583EBull

static inline u32 hash_64(u64 val, unsigned int bits)
{
	return (u32)((val * GOLDEN_RATIO_64) >> (64 - bits));
}

#endif /* KSHIM_LINUX_HASH_H */
