/* core/crc32c.c - CRC-32C, table and SSE4.2 (see crc32c.h). */
#include <string.h>

#include "bm.h"
#include "crc32c.h"

#define CRC32C_POLY_REFLECTED 0x82f63b78u

static uint32_t table[8][256];
static int table_ready;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? CRC32C_POLY_REFLECTED : 0);
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
	table_ready = 1;
}

uint32_t pd_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!table_ready)
		table_init();
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		      table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		      table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

int pd_crc32c_hw_available(void)
{
	static int cached = -1;

	if (cached < 0) {
		__builtin_cpu_init();
		cached = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return cached;
}

__attribute__((target("sse4.2")))
uint32_t pd_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}
#else
int pd_crc32c_hw_available(void)
{
	return 0;
}

uint32_t pd_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	return pd_crc32c_sw(crc, data, len);
}
#endif

uint32_t pd_crc32c(uint32_t seed, const void *data, size_t len)
{
	if (pd_crc32c_hw_available())
		return pd_crc32c_hw(seed, data, len);
	return pd_crc32c_sw(seed, data, len);
}

uint32_t pd_block_csum(const void *data, size_t len, uint32_t salt)
{
	return pd_crc32c(0xffffffffu, data, len) ^ salt;
}
