/* tests/unit/test_oracle.c - the model's check that no data block is
 * mapped at two virtual blocks (oracle_check_data_sharing), against a
 * brute-force answer on random pools.
 *
 * The check answers from a hash table and sorts only to name the first
 * such block; both must agree with comparing every pair of mappings, and
 * the block it names must be the lowest shared one.
 */
#include <stdio.h>
#include <string.h>

#include "oracle.h"
#include "prng.h"
#include "test.h"

#define NDEV 3
#define NV 40

TEST(oracle_data_sharing_matches_brute_force)
{
	uint64_t seed = test_seed(11);
	struct prng p;

	prng_seed(&p, seed);
	for (int round = 0; round < 300; round++) {
		/* map[d][v]: the data block, or UINT64_MAX for none */
		uint64_t map[NDEV][NV], lowest = UINT64_MAX;
		struct oracle *o;
		char msg[256] = "";
		int shared = 0, r;

		ASSERT_EQ(oracle_create(1000, &o), 0);
		for (int d = 0; d < NDEV; d++) {
			ASSERT_EQ(oracle_create_thin(o, (uint64_t)d), 0);
			for (int v = 0; v < NV; v++) {
				map[d][v] = UINT64_MAX;
				if (prng_below(&p, 3))
					continue;
				/* few blocks: collisions are common; the
				 * same vblock in two devices shares legally */
				map[d][v] = prng_below(&p, round % 2 ? 400 : 60);
				ASSERT_EQ(oracle_insert(o, (uint64_t)d, (uint64_t)v,
							map[d][v]), 0);
			}
		}
		for (int a = 0; a < NDEV * NV; a++)
			for (int b = 0; b < NDEV * NV; b++) {
				uint64_t x = map[a / NV][a % NV], y = map[b / NV][b % NV];

				if (x != UINT64_MAX && x == y && a % NV != b % NV) {
					shared = 1;
					if (x < lowest)
						lowest = x;
				}
			}
		r = oracle_check_data_sharing(o, msg, sizeof(msg));
		ASSERT_EQ(r, shared ? -EEXIST : 0);
		if (shared) {
			char want[64];

			snprintf(want, sizeof(want), "data block %" PRIu64 " ",
				 lowest);
			ASSERT_TRUE(strncmp(msg, want, strlen(want)) == 0);
		}
		oracle_destroy(o);
	}
}
