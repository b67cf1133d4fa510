/* linux/crc32c.h - crc32c() on our pd_crc32c (core/crc32c.c).
 * Both are the raw update (no inversion in or out), so the kernel's
 * dm_bm_checksum, crc32c(~0, data, len) ^ salt, equals our pd_block_csum.
 * pd_crc32c is declared here rather than by including core/bm.h, which
 * would bring core's names into the kernel's translation units.
 */
#ifndef KSHIM_LINUX_CRC32C_H
#define KSHIM_LINUX_CRC32C_H

#include <linux/types.h>

uint32_t pd_crc32c(uint32_t seed, const void *data, size_t len);

static inline u32 crc32c(u32 crc, const void *address, unsigned int length)
{
	return pd_crc32c(crc, address, length);
}

#endif /* KSHIM_LINUX_CRC32C_H */
