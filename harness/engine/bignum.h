/* harness/engine/bignum.h - unsigned integers of any size, for counting crash
 * states exactly (a cut with n pending blocks and tearing has up to 2^(8n)
 * of them).
 *
 * Only what counting needs: set, multiply by a 64-bit number, add, compare,
 * decimal and hex text, log2.  Limbs are 32 bits, least significant first,
 * no leading zero limbs (zero has n == 0).  Every function returns 0 or
 * -ENOMEM (the value is then unchanged or, for mul/add, undefined); the
 * caller owns the struct and frees it with bn_free().
 */
#ifndef PD_BIGNUM_H
#define PD_BIGNUM_H

#include <stddef.h>
#include <stdint.h>

struct bignum {
	uint32_t *limb;
	size_t n, cap;
};

#define BN_INIT { NULL, 0, 0 }

void bn_free(struct bignum *a);
int bn_set_u64(struct bignum *a, uint64_t v);
int bn_copy(struct bignum *dst, const struct bignum *src);
int bn_mul_u64(struct bignum *a, uint64_t m);
int bn_add(struct bignum *a, const struct bignum *b);
int bn_cmp(const struct bignum *a, const struct bignum *b);
int bn_is_zero(const struct bignum *a);
double bn_log2(const struct bignum *a);
/* Decimal text, malloc'd (NULL: no memory). */
char *bn_to_dec(const struct bignum *a);
/* Hex text (no 0x), malloc'd; "0" for zero. */
char *bn_to_hex(const struct bignum *a);
/* -EINVAL if text is not all decimal (or hex) digits. */
int bn_from_dec(struct bignum *a, const char *text);
int bn_from_hex(struct bignum *a, const char *text);

#endif /* PD_BIGNUM_H */
