/* harness/engine/cache_client.c - the backends of cache_client.h.
 *
 * As in client.c, the kernel backends are weak references: a KERNEL=0
 * build links and says the backend is missing (-ENOSYS).
 */
#include <errno.h>
#include <string.h>

#include "cache_client.h"

extern const struct cache_client_ops k61_cache_client_ops __attribute__((weak));
extern const struct cache_client_ops k612_cache_client_ops __attribute__((weak));
extern const struct cache_client_ops kcustom_cache_client_ops __attribute__((weak));

int cache_client_backend(const char *name, const struct cache_client_ops **ops)
{
	const struct cache_client_ops *o;

	if (!strcmp(name, "core"))
		o = &cache_client_core_ops;
	else if (!strcmp(name, "kernel-6.1"))
		o = &k61_cache_client_ops;
	else if (!strcmp(name, "kernel-6.12"))
		o = &k612_cache_client_ops;
	else if (!strcmp(name, "kernel"))
		o = &kcustom_cache_client_ops;
	else
		return -EINVAL;
	*ops = o;
	return o ? 0 : -ENOSYS;
}
