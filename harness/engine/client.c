/* harness/engine/client.c - the backends of client.h, and the oracle's
 * digest of a pool through any of them.
 *
 * The kernel backends are linked in only when built (make KERNEL=1, the
 * default): their ops tables are weak references here, and the Makefile
 * links every version's adapter object by name, so a KERNEL=0 build (no
 * linux-source packages) still links and says the backend is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "client_digest.h"

extern const struct client_ops k61_client_ops __attribute__((weak));
extern const struct client_ops k612_client_ops __attribute__((weak));
extern const struct client_ops kcustom_client_ops __attribute__((weak));

static const struct {
	const char *name;
	const struct client_ops *ops;
} backends[] = {
	{ "core", &client_core_ops },
	{ "kernel-6.1", &k61_client_ops },
	{ "kernel-6.12", &k612_client_ops },
	{ "kernel", &kcustom_client_ops },
};

int client_backend_find(const char *name, const struct client_ops **ops)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i].name, name))
			continue;
		*ops = backends[i].ops;
		return *ops ? 0 : -ENOSYS;
	}
	return -EINVAL;
}

const char *client_backends_built(void)
{
	static char buf[128];
	size_t used = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!backends[i].ops)
			continue;
		int n = snprintf(buf + used, sizeof(buf) - used, "%s%s",
				 used ? ", " : "", backends[i].name);
		if (n > 0 && (size_t)n < sizeof(buf) - used)
			used += (size_t)n;
	}
	return buf;
}

static int dg_pool(void *ctx, const struct client_pool_info *pi)
{
	digest_add_pool(ctx, pi->trans_id, pi->time, pi->nr_data_blocks,
			pi->held_root != 0);
	return 0;
}

static int dg_dev(void *ctx, const struct thin_dev_info *info)
{
	digest_add_dev(ctx, info->dev, info->mapped_blocks, info->transaction_id,
		       info->creation_time, info->snapshotted_time);
	return 0;
}

static int dg_map(void *ctx, uint64_t dev, uint64_t vblock, pd_block_t block,
		  uint32_t time)
{
	digest_add_map(ctx, dev, vblock, block, time);
	return 0;
}

int client_digest(struct client *c, struct digest *out)
{
	static const struct client_walker w = { dg_pool, dg_dev, dg_map };
	struct digest d = { 0, 0 };
	int r = c->ops->walk(c, &w, &d);

	if (!r)
		*out = d;
	return r;
}
