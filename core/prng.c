/* core/prng.c - xoshiro256** seeded by splitmix64 (see prng.h). */
#include "prng.h"

uint64_t prng_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void prng_seed(struct prng *p, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		p->s[i] = prng_splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t prng_next(struct prng *p)
{
	uint64_t *s = p->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t prng_below(struct prng *p, uint64_t n)
{
	/* Reject the top sliver that would bias the modulo. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = prng_next(p);
	while (x >= limit);
	return x % n;
}

uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi)
{
	if (hi - lo == UINT64_MAX)
		return prng_next(p);
	return lo + prng_below(p, hi - lo + 1);
}

uint64_t prng_derive(uint64_t seed, uint64_t tag)
{
	uint64_t s = seed ^ (tag * 0xd1342543de82ef95ull);

	prng_splitmix64(&s);
	return prng_splitmix64(&s);
}
