/* linux/slab.h - kmalloc and friends on malloc(3).
 * Models: kmalloc = malloc, kzalloc = calloc, kvmalloc = kmalloc; a NULL
 * return is -ENOMEM to the caller as in the kernel.  Ignores: GFP flags
 * (no reclaim, no atomic context: one thread).  No fault point yet: an
 * allocation failure test would add one to kshim_alloc (harness/kernel/shim.c).
 */
#ifndef KSHIM_LINUX_SLAB_H
#define KSHIM_LINUX_SLAB_H

#include <linux/kernel.h>

#define GFP_KERNEL 0u
#define GFP_NOFS 0u
#define GFP_NOIO 0u
#define GFP_NOWAIT 0u
#define __GFP_NOWARN 0u
#define __GFP_ZERO 1u

void *kshim_alloc(size_t size, gfp_t flags);
void kshim_free(const void *p);

static inline void *kmalloc(size_t size, gfp_t flags)
{
	return kshim_alloc(size, flags);
}

static inline void *kzalloc(size_t size, gfp_t flags)
{
	return kshim_alloc(size, flags | __GFP_ZERO);
}

static inline void *kmalloc_array(size_t n, size_t size, gfp_t flags)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return kshim_alloc(n * size, flags);
}

static inline void *kcalloc(size_t n, size_t size, gfp_t flags)
{
	return kmalloc_array(n, size, flags | __GFP_ZERO);
}

static inline void *kvmalloc(size_t size, gfp_t flags)
{
	return kshim_alloc(size, flags);
}

static inline void kfree(const void *p)
{
	kshim_free(p);
}

static inline void kvfree(const void *p)
{
	kshim_free(p);
}

#endif /* KSHIM_LINUX_SLAB_H */
