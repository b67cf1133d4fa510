/* harness/kernel/shim.c - the shim's runtime, shared by every kernel
 * version linked into one program: logging, BUG, allocation.  The
 * per-version objects (kernel.mk) refer to these names; only names
 * starting with kshim_ are defined here.
 */
#include <linux/kernel.h>
#include <linux/slab.h>

int kshim_quiet;

void kshim_log(const char *fmt, ...)
{
	va_list ap;

	if (kshim_quiet)
		return;
	/* Drop the "<3>" level prefix the kernel's printk would consume. */
	if (fmt[0] == '<' && fmt[1] && fmt[2] == '>')
		fmt += 3;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void kshim_bug(const char *file, int line, const char *cond)
{
	fprintf(stderr, "kernel BUG at %s:%d: %s\n", file, line, cond);
	abort();
}

void *kshim_alloc(size_t size, gfp_t flags)
{
	if (flags & __GFP_ZERO)
		return calloc(1, size ? size : 1);
	return malloc(size ? size : 1);
}

void kshim_free(const void *p)
{
	free((void *)p);
}
