/* linux/refcount.h - reference counts as plain integers.
 * Models: one thread, so no atomics; dm-cache-metadata.c counts the
 * openers of one metadata device with it.  Ignores: saturation (an
 * overflow or a decrement below zero is a BUG here, a warning there).
 */
#ifndef KSHIM_LINUX_REFCOUNT_H
#define KSHIM_LINUX_REFCOUNT_H

#include <linux/kernel.h>

typedef struct {
	unsigned int refs;
} refcount_t;

static inline void refcount_set(refcount_t *r, unsigned int n)
{
	r->refs = n;
}

static inline void refcount_inc(refcount_t *r)
{
	BUG_ON(!r->refs || r->refs == UINT_MAX);
	r->refs++;
}

/* True when the count dropped to zero. */
static inline bool refcount_dec_and_test(refcount_t *r)
{
	BUG_ON(!r->refs);
	return --r->refs == 0;
}

#endif /* KSHIM_LINUX_REFCOUNT_H */
