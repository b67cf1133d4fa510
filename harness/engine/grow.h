/* harness/engine/grow.h - room for one more element of a growing array. */
#ifndef PD_GROW_H
#define PD_GROW_H

#include <errno.h>
#include <stdlib.h>

/* Room for element nr of the array *array (a pointer to any element type,
 * passed by address) of *cap elements of esz bytes: doubled when full, 64
 * at first.  0, or -ENOMEM with *array and *cap as they were. */
static inline int grow_array(void *array, size_t *cap, size_t nr, size_t esz)
{
	void **a = array;
	size_t n = *cap ? 2 * *cap : 64;
	void *m;

	if (nr < *cap)
		return 0;
	m = realloc(*a, n * esz);
	if (!m)
		return -ENOMEM;
	*a = m;
	*cap = n;
	return 0;
}

#endif /* PD_GROW_H */
