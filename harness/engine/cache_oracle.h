/* harness/engine/cache_oracle.h - the plain in-memory model of dm-cache
 * metadata (core/cache.h), for the cache workload and its recovery check.
 *
 * It holds what the metadata reports: per cache block the mapping (origin
 * block, dirty) and the hint stored for it; whether hints are valid; the
 * policy (name, version, hint width); the discard bits.  Predictions
 * return what core/cache.h must return (0 or -errno) and change the model
 * only on 0.
 *
 * What a reopen reports (CO1, the kernel's clean_when_opened, cache.h
 * CA3): after a clean shutdown, what was stored; otherwise every mapped
 * block dirty, no discard bit set and no hints (cache_oracle_reopen).
 * A committed state is kept as the digest of what its reopen reports.
 *
 * Digests as oracle.h's (struct digest): a sum of per-item hashes over
 * the header (cache blocks, discard blocks, policy, hint width), every
 * mapped block (cblock, oblock, dirty, hint or none) and every discarded
 * block, so a state costs 16 bytes to keep and a metadata object is
 * compared by walking it once.
 */
#ifndef PD_CACHE_ORACLE_H
#define PD_CACHE_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cache_client.h"
#include "oracle.h"

struct cache_entry {
	uint64_t oblock;
	uint32_t hint;			/* stored for this cblock */
	uint8_t mapped, dirty;
};

struct cache_oracle {
	uint32_t nr_cblocks;
	struct cache_entry *cb;		/* nr_cblocks */
	uint32_t nr_dblocks;
	uint8_t *discard;		/* nr_dblocks */
	int hints_valid;
	uint32_t hint_size;
	char policy[CACHE_POLICY_NAME_SIZE + 1];
	uint32_t pversion[CACHE_POLICY_VERSION_SIZE];
};

int cache_oracle_create(struct cache_oracle **result);
void cache_oracle_destroy(struct cache_oracle *o);
int cache_oracle_clone(const struct cache_oracle *o,
		       struct cache_oracle **result);
int cache_oracle_assign(struct cache_oracle *dst, const struct cache_oracle *src);

int cache_oracle_insert(struct cache_oracle *o, uint32_t cb, uint64_t ob);
int cache_oracle_remove(struct cache_oracle *o, uint32_t cb);
int cache_oracle_set_dirty(struct cache_oracle *o, uint32_t cb, int dirty);
/* -ENOMEM aside, what cache_resize() returns (CA6). */
int cache_oracle_resize(struct cache_oracle *o, uint32_t nr);
int cache_oracle_discard_resize(struct cache_oracle *o, uint32_t nr);
int cache_oracle_set_discard(struct cache_oracle *o, uint32_t d, int on);
/* Hint i = cache_hint_value(v, i) for every cache block. */
int cache_oracle_write_hints(struct cache_oracle *o, const char *policy,
			     uint32_t hint_size, uint32_t v);
static inline uint32_t cache_hint_value(uint32_t v, uint32_t i)
{
	return v * 2654435761u + i;
}
/* What a reopen reports (CO1): clean keeps everything; otherwise every
 * mapped block dirty, no discards, no hints. */
void cache_oracle_reopen(struct cache_oracle *o, int clean);
/* Whether oblock is mapped by some cache block. */
int cache_oracle_oblock_mapped(const struct cache_oracle *o, uint64_t ob);

struct digest cache_oracle_digest(const struct cache_oracle *o);
/* The digest of what c reports (cache_client.h CC2: walks every mapping
 * and discard bit, through whichever backend); 0 or -errno. */
int cache_client_digest(struct cache_client *c, struct digest *d);
/* A model of what c reports; hints_valid when a mapped block showed a
 * hint (the hints of unmapped blocks cannot be seen: 0).  0 or -errno. */
int cache_oracle_from_client(struct cache_client *c,
			     struct cache_oracle **result);
/* Lines "- what the model holds / + what was found" into buf (at most
 * max_lines differences; 0 no limit); returns the number of differences. */
size_t cache_oracle_diff(const struct cache_oracle *want,
			 const struct cache_oracle *found, char *buf,
			 size_t len, size_t max_lines);

#endif /* PD_CACHE_ORACLE_H */
