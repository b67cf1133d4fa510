/* core/util.h - allocation, little-endian access and small helpers.
 *
 * All of core/ allocates through pd_malloc/pd_calloc/pd_realloc: the choke
 * point where the libfiu point core/alloc makes an allocation fail (NULL).
 * Memory from them is released with pd_free (plain free).
 */
#ifndef PD_UTIL_H
#define PD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#define PD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define pd_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void *pd_malloc(size_t n)
{
	if (fiu_fail(FP_CORE_ALLOC))
		return NULL;
	return malloc(n);
}

static inline void *pd_calloc(size_t nmemb, size_t size)
{
	if (fiu_fail(FP_CORE_ALLOC))
		return NULL;
	return calloc(nmemb, size);
}

static inline void *pd_realloc(void *p, size_t n)
{
	if (fiu_fail(FP_CORE_ALLOC))
		return NULL;
	return realloc(p, n);
}

static inline void pd_free(void *p)
{
	free(p);
}

/* Little-endian loads and stores at any alignment. */
static inline uint32_t le32_get(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t le64_get(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)le32_get(b) | (uint64_t)le32_get(b + 4) << 32;
}

static inline void le32_put(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void le64_put(void *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#endif /* PD_UTIL_H */
