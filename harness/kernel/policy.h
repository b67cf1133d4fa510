/* harness/kernel/policy.h - a stand-in for a dm-cache policy: the one
 * object dm-cache-metadata.c takes from the policy layer, as a shim piece
 * (DESIGN.md 8; STYLE.md 2.10).
 *
 * What dm-cache-metadata.c (Linux 6.1, 6.12) asks of a policy:
 *   dm_cache_policy_get_name, _get_version, _get_hint_size (the kernel's
 *     dm-cache-policy.c, here policy.c): dm_cache_load_mappings compares
 *     them with the superblock's (policy_unchanged: name, major version,
 *     hint width) to decide whether the stored hints are valid, and
 *     dm_cache_write_hints stores them;
 *   policy_get_hint (dm-cache-policy-internal.h: p->get_hint, 0 when it
 *     is NULL): the hint of every cache block, by dm_cache_write_hints.
 * Nothing else: no lookup, migration, dirty tracking, tick or config.  The
 * stand-in's other methods are NULL (a call would fault at once); its
 * `private` points at itself (the kernel's points at the policy type).
 *
 * Invariants:
 *  PO1  name, version and hint width are fixed at create and reported as
 *       given (the name is not cut to 15 characters: the kernel's own
 *       length check in write_hints sees what the caller gave).
 *  PO2  get_hint(cblock) is hints[cblock] for cblock < nr_hints, else 0
 *       (what a policy reports for a block it holds no hint for).  The
 *       array is read at the call, never copied.
 *
 * Ownership: kpolicy_create copies the name and the version; it does not
 * own hints, which the caller keeps alive and unchanged while a kernel
 * call holds the policy.  kpolicy_destroy frees what create allocated.
 * These two names stay global in each version's object (kernel.mk), with
 * its prefix: k61_kpolicy_create, ...
 */
#ifndef PD_KERNEL_POLICY_H
#define PD_KERNEL_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct dm_cache_policy;

/* NULL when out of memory. */
struct dm_cache_policy *kpolicy_create(const char *name,
				       const unsigned int version[3],
				       size_t hint_size, const uint32_t *hints,
				       uint32_t nr_hints);
void kpolicy_destroy(struct dm_cache_policy *p);

#endif /* PD_KERNEL_POLICY_H */
