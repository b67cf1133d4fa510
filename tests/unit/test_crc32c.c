/* tests/unit/test_crc32c.c - both CRC-32C implementations against the
 * RFC 3720 vectors and against each other. */
#include "bm.h"
#include "crc32c.h"
#include "prng.h"
#include "test.h"

static uint32_t std_crc(uint32_t (*fn)(uint32_t, const void *, size_t),
			const void *data, size_t len)
{
	return ~fn(0xffffffffu, data, len);
}

static void check_vectors(uint32_t (*fn)(uint32_t, const void *, size_t))
{
	uint8_t buf[32];

	ASSERT_UEQ(std_crc(fn, "123456789", 9), 0xe3069283u);
	memset(buf, 0, sizeof(buf));
	ASSERT_UEQ(std_crc(fn, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	ASSERT_UEQ(std_crc(fn, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ASSERT_UEQ(std_crc(fn, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ASSERT_UEQ(std_crc(fn, buf, 32), 0x113fdb5cu);
}

TEST(crc32c_sw_vectors)
{
	check_vectors(pd_crc32c_sw);
}

TEST(crc32c_hw_vectors)
{
	if (!pd_crc32c_hw_available())
		TEST_SKIP("no crc32 instruction on this CPU");
	check_vectors(pd_crc32c_hw);
}

TEST(crc32c_hw_equals_sw_any_alignment)
{
	static uint8_t buf[4096 + 16];
	struct prng p;

	if (!pd_crc32c_hw_available())
		TEST_SKIP("no crc32 instruction on this CPU");
	prng_seed(&p, test_seed(11));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)prng_next(&p);
	for (int k = 0; k < 2000; k++) {
		size_t off = prng_below(&p, 16), len = prng_below(&p, 4097);
		uint32_t seed = (uint32_t)prng_next(&p);

		ASSERT_UEQ(pd_crc32c_sw(seed, buf + off, len),
			   pd_crc32c_hw(seed, buf + off, len));
	}
	/* whole blocks (the lanes of pd_crc32c_hw) at every alignment */
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 4088; len <= 4096; len++)
			ASSERT_UEQ(pd_crc32c_sw(~0u, buf + off, len),
				   pd_crc32c_hw(~0u, buf + off, len));
	/* incremental == one-shot */
	uint32_t a = pd_crc32c(0xffffffffu, buf, 4092);
	uint32_t b = pd_crc32c(pd_crc32c(0xffffffffu, buf, 1000), buf + 1000, 3092);
	ASSERT_UEQ(a, b);
}

TEST(crc32c_block_csum_is_dm_formula)
{
	static uint8_t blk[4096];

	/* dm: crc32c(~0, data, len) ^ salt, no final inversion, i.e. the
	 * standard CRC-32C xor ~0 xor salt (FORMAT.md 1.1). */
	for (int i = 0; i < 4096; i++)
		blk[i] = (uint8_t)(i * 7);
	uint32_t stdc = std_crc(pd_crc32c_sw, blk + 4, 4092);
	ASSERT_UEQ(pd_block_csum(blk + 4, 4092, 121107), stdc ^ 0xffffffffu ^ 121107u);
}
