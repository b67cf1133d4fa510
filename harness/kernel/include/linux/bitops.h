/* linux/bitops.h - bit operations on unsigned long arrays.
 * Models: set_bit/clear_bit are atomic in the kernel; one thread, so they
 * are the same as the non-atomic __set_bit/__clear_bit.  The _le variants
 * (little-endian bit numbering) are the same on a little-endian host.
 */
#ifndef KSHIM_LINUX_BITOPS_H
#define KSHIM_LINUX_BITOPS_H

#include <linux/types.h>

#define BITS_PER_LONG (8 * (int)sizeof(long))
#define BIT_WORD(nr) ((nr) / BITS_PER_LONG)
#define BIT_MASK(nr) (1UL << ((nr) % BITS_PER_LONG))

static inline void set_bit(unsigned long nr, volatile unsigned long *addr)
{
	addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void clear_bit(unsigned long nr, volatile unsigned long *addr)
{
	addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline int test_bit(unsigned long nr, const volatile unsigned long *addr)
{
	return (addr[BIT_WORD(nr)] >> (nr % BITS_PER_LONG)) & 1;
}

#define __set_bit(nr, addr) set_bit(nr, addr)
#define __clear_bit(nr, addr) clear_bit(nr, addr)

#define test_bit_le(nr, addr) test_bit(nr, (const unsigned long *)(addr))
#define __set_bit_le(nr, addr) set_bit(nr, (unsigned long *)(addr))
#define __clear_bit_le(nr, addr) clear_bit(nr, (unsigned long *)(addr))

#endif /* KSHIM_LINUX_BITOPS_H */
