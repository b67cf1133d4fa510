/* linux/vmalloc.h - vzalloc and vfree on our kmalloc.
 * Models: virtually contiguous memory is malloc(3) memory (dm-cache's
 * policy headers allocate bitsets with it).  Ignores: GFP, vmap.
 */
#ifndef KSHIM_LINUX_VMALLOC_H
#define KSHIM_LINUX_VMALLOC_H

#include <linux/slab.h>

static inline void *vzalloc(size_t size)
{
	return kzalloc(size, GFP_KERNEL);
}

static inline void vfree(const void *p)
{
	kfree(p);
}

#endif /* KSHIM_LINUX_VMALLOC_H */
