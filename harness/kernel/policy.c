/* harness/kernel/policy.c - the dm-cache policy stand-in (policy.h), and
 * the three getters of the kernel's dm-cache-policy.c that
 * dm-cache-metadata.c calls.  Compiled once per kernel version against
 * that version's dm-cache-policy.h (kernel.mk). */
#include "dm-cache-policy-internal.h"

#include "policy.h"

struct kpolicy {
	struct dm_cache_policy p;	/* first; p.private == this */
	char *name;
	unsigned int version[CACHE_POLICY_VERSION_SIZE];
	size_t hint_size;
	const uint32_t *hints;		/* not owned (PO2) */
	uint32_t nr_hints;
};

static struct kpolicy *to_kpolicy(struct dm_cache_policy *p)
{
	return p->private;
}

static uint32_t kpolicy_get_hint(struct dm_cache_policy *p, dm_cblock_t cblock)
{
	struct kpolicy *k = to_kpolicy(p);
	uint32_t cb = from_cblock(cblock);

	return cb < k->nr_hints ? k->hints[cb] : 0;	/* PO2 */
}

struct dm_cache_policy *kpolicy_create(const char *name,
				       const unsigned int version[3],
				       size_t hint_size, const uint32_t *hints,
				       uint32_t nr_hints)
{
	struct kpolicy *k = kzalloc(sizeof(*k), GFP_KERNEL);

	if (!k)
		return NULL;
	k->name = strdup(name);
	if (!k->name) {
		kfree(k);
		return NULL;
	}
	memcpy(k->version, version, sizeof(k->version));
	k->hint_size = hint_size;
	k->hints = hints;
	k->nr_hints = hints ? nr_hints : 0;
	k->p.get_hint = kpolicy_get_hint;
	k->p.private = k;
	return &k->p;
}

void kpolicy_destroy(struct dm_cache_policy *p)
{
	struct kpolicy *k;

	if (!p)
		return;
	k = to_kpolicy(p);
	free(k->name);
	kfree(k);
}

/* --- the kernel's dm-cache-policy.c getters (PO1) ----------------------- */

const char *dm_cache_policy_get_name(struct dm_cache_policy *p)
{
	return to_kpolicy(p)->name;
}

const unsigned int *dm_cache_policy_get_version(struct dm_cache_policy *p)
{
	return to_kpolicy(p)->version;
}

size_t dm_cache_policy_get_hint_size(struct dm_cache_policy *p)
{
	return to_kpolicy(p)->hint_size;
}
