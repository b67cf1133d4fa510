/* harness/engine/bignum.c - unsigned integers of any size (see bignum.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bignum.h"

void bn_free(struct bignum *a)
{
	free(a->limb);
	a->limb = NULL;
	a->n = a->cap = 0;
}

static int bn_reserve(struct bignum *a, size_t n)
{
	uint32_t *l;
	size_t cap;

	if (n <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 4;
	while (cap < n)
		cap *= 2;
	l = realloc(a->limb, cap * sizeof(*l));
	if (!l)
		return -ENOMEM;
	a->limb = l;
	a->cap = cap;
	return 0;
}

static void bn_trim(struct bignum *a)
{
	while (a->n && !a->limb[a->n - 1])
		a->n--;
}

int bn_set_u64(struct bignum *a, uint64_t v)
{
	if (bn_reserve(a, 2))
		return -ENOMEM;
	a->limb[0] = (uint32_t)v;
	a->limb[1] = (uint32_t)(v >> 32);
	a->n = 2;
	bn_trim(a);
	return 0;
}

int bn_copy(struct bignum *dst, const struct bignum *src)
{
	if (bn_reserve(dst, src->n))
		return -ENOMEM;
	if (src->n)
		memcpy(dst->limb, src->limb, src->n * sizeof(*src->limb));
	dst->n = src->n;
	return 0;
}

static int bn_mul_u32(struct bignum *a, uint32_t m)
{
	uint64_t carry = 0;

	for (size_t i = 0; i < a->n; i++) {
		uint64_t t = (uint64_t)a->limb[i] * m + carry;

		a->limb[i] = (uint32_t)t;
		carry = t >> 32;
	}
	if (carry) {
		if (bn_reserve(a, a->n + 1))
			return -ENOMEM;
		a->limb[a->n++] = (uint32_t)carry;
	}
	bn_trim(a);
	return 0;
}

int bn_mul_u64(struct bignum *a, uint64_t m)
{
	if (m >> 32) {
		/* a*m = a*hi*2^32 + a*lo */
		struct bignum hi = BN_INIT;
		int r = bn_copy(&hi, a);

		if (!r)
			r = bn_mul_u32(&hi, (uint32_t)(m >> 32));
		if (!r && hi.n) {
			r = bn_reserve(&hi, hi.n + 1);
			if (!r) {
				memmove(hi.limb + 1, hi.limb, hi.n * sizeof(*hi.limb));
				hi.limb[0] = 0;
				hi.n++;
			}
		}
		if (!r)
			r = bn_mul_u32(a, (uint32_t)m);
		if (!r)
			r = bn_add(a, &hi);
		bn_free(&hi);
		return r;
	}
	return bn_mul_u32(a, (uint32_t)m);
}

int bn_add(struct bignum *a, const struct bignum *b)
{
	size_t n = a->n > b->n ? a->n : b->n;
	uint64_t carry = 0;

	if (bn_reserve(a, n + 1))
		return -ENOMEM;
	for (size_t i = a->n; i < n; i++)
		a->limb[i] = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t = (uint64_t)a->limb[i] + (i < b->n ? b->limb[i] : 0) +
			     carry;

		a->limb[i] = (uint32_t)t;
		carry = t >> 32;
	}
	a->n = n;
	if (carry)
		a->limb[a->n++] = (uint32_t)carry;
	return 0;
}

int bn_cmp(const struct bignum *a, const struct bignum *b)
{
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (size_t i = a->n; i-- > 0;)
		if (a->limb[i] != b->limb[i])
			return a->limb[i] < b->limb[i] ? -1 : 1;
	return 0;
}

int bn_is_zero(const struct bignum *a)
{
	return a->n == 0;
}

double bn_log2(const struct bignum *a)
{
	double top = 0;
	size_t k = a->n < 3 ? a->n : 3;

	if (!a->n)
		return -INFINITY;
	for (size_t i = 0; i < k; i++)
		top = top * 4294967296.0 + a->limb[a->n - 1 - i];
	return log2(top) + 32.0 * (double)(a->n - k);
}

/* Divide by d in place, return the remainder. */
static uint32_t bn_divmod_u32(struct bignum *a, uint32_t d)
{
	uint64_t rem = 0;

	for (size_t i = a->n; i-- > 0;) {
		uint64_t cur = (rem << 32) | a->limb[i];

		a->limb[i] = (uint32_t)(cur / d);
		rem = cur % d;
	}
	bn_trim(a);
	return (uint32_t)rem;
}

char *bn_to_dec(const struct bignum *a)
{
	struct bignum t = BN_INIT;
	size_t cap = a->n * 10 + 2, len = 0;
	char *s = malloc(cap);

	if (!s || bn_copy(&t, a)) {
		free(s);
		bn_free(&t);
		return NULL;
	}
	do {
		uint32_t r = bn_divmod_u32(&t, 1000000000u);

		for (int k = 0; k < 9; k++) {
			s[len++] = (char)('0' + r % 10);
			r /= 10;
			if (!t.n && !r)
				break;
		}
	} while (t.n);
	s[len] = 0;
	for (size_t i = 0; i < len / 2; i++) {
		char c = s[i];

		s[i] = s[len - 1 - i];
		s[len - 1 - i] = c;
	}
	bn_free(&t);
	return s;
}

char *bn_to_hex(const struct bignum *a)
{
	char *s = malloc(a->n * 8 + 2), *p = s;

	if (!s)
		return NULL;
	if (!a->n) {
		strcpy(s, "0");
		return s;
	}
	for (size_t i = a->n; i-- > 0;) {
		for (int sh = 28; sh >= 0; sh -= 4) {
			unsigned d = (a->limb[i] >> sh) & 15;

			if (p == s && !d)
				continue;
			*p++ = "0123456789abcdef"[d];
		}
	}
	*p = 0;
	return s;
}

static int bn_from_text(struct bignum *a, const char *text, unsigned base)
{
	int r = bn_set_u64(a, 0);

	if (r)
		return r;
	if (!*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else
			return -EINVAL;
		struct bignum dd = BN_INIT;
		r = bn_mul_u32(a, base);
		if (!r)
			r = bn_set_u64(&dd, d);
		if (!r)
			r = bn_add(a, &dd);
		bn_free(&dd);
		if (r)
			return r;
	}
	return 0;
}

int bn_from_dec(struct bignum *a, const char *text)
{
	return bn_from_text(a, text, 10);
}

int bn_from_hex(struct bignum *a, const char *text)
{
	return bn_from_text(a, text, 16);
}
