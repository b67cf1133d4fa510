/* core/crc32c.h - CRC-32C (Castagnoli) as dm persistent-data uses it.
 *
 * pd_crc32c(seed, data, len) is the raw update: no inversion on the way in
 * or out, like the kernel's crc32c().  A standard CRC-32C of data is
 * ~pd_crc32c(~0u, data, len).  Block checksums (FORMAT.md 1.1) are
 * pd_crc32c(~0u, block + 4, size - 4) ^ salt: pd_block_csum() in bm.h.
 *
 * Two implementations give the same result: the SSE4.2 crc32 instruction
 * where the CPU has it (chosen once at first use), and a slicing-by-8 table
 * otherwise.  Both are exported for tests.
 */
#ifndef PD_CRC32C_H
#define PD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t pd_crc32c_sw(uint32_t seed, const void *data, size_t len);
/* 0 when the CPU has no crc32 instruction (then use _sw). */
int pd_crc32c_hw_available(void);
uint32_t pd_crc32c_hw(uint32_t seed, const void *data, size_t len);

#endif /* PD_CRC32C_H */
