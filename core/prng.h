/* core/prng.h - the project's one pseudo-random generator.
 *
 * xoshiro256** (Blackman and Vigna), its 256-bit state filled from a 64-bit
 * seed by splitmix64.  Pure integer arithmetic on uint64_t: the same seed
 * gives the same sequence on every machine, compiler and build.  All
 * randomness in pdcrash (workloads, persistence subsets, tests) comes from
 * here, and every user prints the seed it started from.
 */
#ifndef PD_PRNG_H
#define PD_PRNG_H

#include <stdint.h>

struct prng {
	uint64_t s[4];
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, n); n > 0.  Unbiased (rejection sampling). */
uint64_t prng_below(struct prng *p, uint64_t n);
/* Uniform in [lo, hi]; lo <= hi. */
uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi);
/* splitmix64 step: also a good 64-bit mixer for deriving sub-seeds. */
uint64_t prng_splitmix64(uint64_t *state);
/* A seed for a named sub-stream: the same (seed, tag) always gives the same. */
uint64_t prng_derive(uint64_t seed, uint64_t tag);

#endif /* PD_PRNG_H */
