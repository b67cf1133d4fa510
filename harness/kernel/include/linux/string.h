/* linux/string.h - the kernel's bounded string copies and formats.
 * Models: strscpy copies at most size - 1 bytes and always terminates
 * (-E2BIG when src did not fit), scnprintf returns what it wrote, not what
 * it would have (6.12's dm-cache-metadata.c copies policy names with
 * strscpy; DMEMIT formats with scnprintf).  The rest is libc's
 * <string.h> (kshim.h includes it).
 */
#ifndef KSHIM_LINUX_STRING_H
#define KSHIM_LINUX_STRING_H

#include <linux/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* void pointers: the kernel passes __u8 arrays too (its strscpy is a macro). */
static inline ssize_t strscpy(void *dst, const void *src, size_t size)
{
	size_t n = strnlen(src, size);

	if (!size)
		return -E2BIG;
	if (n == size) {
		memcpy(dst, src, size - 1);
		((char *)dst)[size - 1] = 0;
		return -E2BIG;
	}
	memcpy(dst, src, n + 1);
	return (ssize_t)n;
}

static inline int scnprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int scnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!size)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return 0;
	return (size_t)n < size ? n : (int)(size - 1);
}

#endif /* KSHIM_LINUX_STRING_H */
