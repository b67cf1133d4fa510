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

/*
 * The crc32 instruction takes 3 cycles and can start one a cycle: three
 * lanes of CRC_LANE bytes each, run side by side, keep it busy, and are
 * joined after.  The register update is linear: crc(c, A B) =
 * shift(crc(c, A), |B|) ^ crc(0, B), shift(c, n) being c run over n zero
 * bytes, itself linear in c: four tables of 256 (one per byte of c) give
 * it for n = CRC_LANE.  Three lanes of 336 bytes take a metadata block's
 * 4092 checksummed bytes in four rounds and 56 bytes.  Checksums were
 * ~10% of pdcrash's CPU (perf: every block read is verified).
 */
#define CRC_LANE 336u
static uint32_t lane_shift[4][256];
static int lane_shift_ready;

__attribute__((target("sse4.2")))
static void lane_shift_init(void)
{
	for (unsigned j = 0; j < 4; j++)
		for (uint32_t b = 0; b < 256; b++) {
			uint64_t c = (uint64_t)b << (8 * j);

			for (unsigned w = 0; w < CRC_LANE / 8; w++)
				c = _mm_crc32_u64(c, 0);
			lane_shift[j][b] = (uint32_t)c;
		}
	lane_shift_ready = 1;
}

static uint32_t lane_shift_of(uint32_t c)
{
	return lane_shift[0][c & 0xff] ^ lane_shift[1][(c >> 8) & 0xff] ^
	       lane_shift[2][(c >> 16) & 0xff] ^ lane_shift[3][c >> 24];
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
	if (len >= 3 * CRC_LANE && !lane_shift_ready)
		lane_shift_init();
	while (len >= 3 * CRC_LANE) {
		uint64_t a = c, b = 0, d = 0;

		for (size_t i = 0; i < CRC_LANE; i += 8) {
			uint64_t x, y, z;

			memcpy(&x, p + i, 8);
			memcpy(&y, p + CRC_LANE + i, 8);
			memcpy(&z, p + 2 * CRC_LANE + i, 8);
			a = _mm_crc32_u64(a, x);
			b = _mm_crc32_u64(b, y);
			d = _mm_crc32_u64(d, z);
		}
		c = lane_shift_of(lane_shift_of((uint32_t)a) ^ (uint32_t)b) ^
		    (uint32_t)d;
		p += 3 * CRC_LANE;
		len -= 3 * CRC_LANE;
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
