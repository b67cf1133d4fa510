/* harness/engine/oracle.h - the plain in-memory model of a thin pool.
 *
 * Every op of a workload is applied to the core and to the oracle; the
 * oracle predicts each result (0 or the errno the core must return) and
 * holds the state the metadata must show: devices with their details,
 * mappings (vblock -> data block, time), pool time, transaction id, data
 * device size, whether a metadata snapshot is held.
 *
 * States are compared by digest: a 128-bit, order-independent hash of the
 * whole state (sum of per-item hashes, two independent lanes), so a
 * committed state costs 16 bytes to keep and a recovered pool is compared
 * by walking it once.  The data blocks come from the core's allocator (the
 * oracle records what it was given, it does not choose).
 */
#ifndef PD_ORACLE_H
#define PD_ORACLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "thin.h"

struct digest {
	uint64_t a, b;
};

static inline int digest_eq(struct digest x, struct digest y)
{
	return x.a == y.a && x.b == y.b;
}

struct oracle;

int oracle_create(uint64_t nr_data_blocks, struct oracle **result);
void oracle_destroy(struct oracle *o);
/* A deep copy (committed state kept for abort). */
int oracle_clone(const struct oracle *o, struct oracle **result);
/* Replace dst's content with a deep copy of src's. */
int oracle_assign(struct oracle *dst, const struct oracle *src);

/* Predictions and updates; each returns what the core must return.  They
 * change the model only when that is 0. */
int oracle_create_thin(struct oracle *o, uint64_t dev);
int oracle_create_snap(struct oracle *o, uint64_t dev, uint64_t origin);
int oracle_delete(struct oracle *o, uint64_t dev);
/* check before thin_insert: 0 or -ENODATA (no device) */
int oracle_can_map(const struct oracle *o, uint64_t dev);
int oracle_insert(struct oracle *o, uint64_t dev, uint64_t vblock,
		  uint64_t data_block);
int oracle_remove(struct oracle *o, uint64_t dev, uint64_t vblock);
int oracle_remove_range(struct oracle *o, uint64_t dev, uint64_t begin,
			uint64_t end, uint64_t *removed);
int oracle_set_trans_id(struct oracle *o, uint64_t current_id, uint64_t new_id);
/* thin_pool_format's answer to these parameters (thin.h): -EINVAL for a
 * data block size out of range or not a multiple of the minimum, more
 * than 2^40 data blocks, or a read-only format; else 0. */
int oracle_format(uint64_t block_size, uint64_t nr_data_blocks,
		  int read_only);
/* -EINVAL: a data block at or past the data device's end (thin_insert). */
int oracle_insert_at(const struct oracle *o, uint64_t dev, uint64_t block);
/* -EINVAL: [begin, end) is not within the data device (reversed, or
 * ending past it: thin_inc_data_range and the like), else 0. */
int oracle_data_range(const struct oracle *o, uint64_t begin, uint64_t end);
int oracle_resize_data(struct oracle *o, uint64_t nr_blocks);
/* The metadata device's size: kept beside the model (so abort and
 * recovery restore it) but not part of its digest. */
void oracle_set_meta_blocks(struct oracle *o, uint64_t nr_blocks);
int oracle_resize_meta(struct oracle *o, uint64_t nr_blocks);	/* -EINVAL smaller */
uint64_t oracle_nr_meta_blocks(const struct oracle *o);
int oracle_meta_snap(struct oracle *o);
/* A data block was allocated and will never be mapped (a failed data
 * write, datadev.h DD3): the pool holds one more leaked block, which the
 * structural check must find.  Kept beside the model, not in its digest. */
void oracle_leak_data(struct oracle *o);
uint64_t oracle_leaked_data(const struct oracle *o);
int oracle_meta_snap_release(struct oracle *o);

/* Queries for generators and reports. */
uint64_t oracle_trans_id(const struct oracle *o);
uint32_t oracle_time(const struct oracle *o);	/* pool time */
uint64_t oracle_nr_data_blocks(const struct oracle *o);
size_t oracle_nr_devs(const struct oracle *o);
uint64_t oracle_dev_at(const struct oracle *o, size_t i);	/* any order */
int oracle_has_dev(const struct oracle *o, uint64_t dev);
uint64_t oracle_dev_mapped(const struct oracle *o, uint64_t dev);
/* The k-th mapped vblock of dev in no particular order (k < mapped). */
/* Lowest and highest mapped vblock of dev; -ENODATA if none. */
int oracle_dev_range(const struct oracle *o, uint64_t dev, uint64_t *lo,
		     uint64_t *hi);
uint64_t oracle_dev_vblock_at(const struct oracle *o, uint64_t dev, uint64_t k);
int oracle_held(const struct oracle *o);
/* A device's details as thin_dev_info gives them, or -ENODATA. */
int oracle_dev_info(const struct oracle *o, uint64_t dev,
		    struct thin_dev_info *info);
/* A mapping's (block, time) or -ENODATA. */
int oracle_lookup(const struct oracle *o, uint64_t dev, uint64_t vblock,
		  uint64_t *block, uint32_t *time);
/* What thin_find_mapped_range must answer (thin.h): the first run of dev's
 * mappings in [begin, end) with contiguous data blocks and one shared
 * flag, or -ENODATA.  O(mappings of dev) a call. */
int oracle_find_range(const struct oracle *o, uint64_t dev, uint64_t begin,
		      uint64_t end, struct thin_mapped_range *range);

/* 1 if a mapping of o (NULL: none) names data block, else 0: with the
 * model after a discard's remove and the held metadata snapshot's, what
 * thin_data_block_is_shared must answer under the discard's own
 * reference (thin.h TH8).  O(mappings) a call. */
int oracle_names_data_block(const struct oracle *o, uint64_t block);

/* Distinct data blocks the mappings of a and b (NULL: none) point at: a
 * lower bound of the blocks a data space map with both as its committed
 * and current transaction can not hand out (SM1).  -ENOMEM as
 * UINT64_MAX. */
uint64_t oracle_data_in_use(const struct oracle *a, const struct oracle *b);

struct digest oracle_digest(const struct oracle *o);
/* The same without the pool-wide values (devices, details and mappings
 * only): what a held metadata snapshot must show. */
struct digest oracle_digest_devs(const struct oracle *o);
/* The digest of what a pool shows (walks every device).  0 or -errno. */
int pool_digest(struct thin_pool *pool, struct digest *d);

/* Human-readable difference between the model and a pool, for reports:
 * at most max_lines lines into buf.  Returns the number of differences. */
size_t oracle_diff(const struct oracle *o, struct thin_pool *pool, char *buf,
		   size_t len, size_t max_lines);



/* The model as thin_dump 0.9.0 prints a pool in that state (devices and
 * mappings in order, runs coalesced into range_mapping).  0 or -errno. */
int oracle_write_xml(const struct oracle *o, uint32_t data_block_size,
		     FILE *f);

/* Digest pieces, for callers that predict a change to a known digest. */
void digest_add_dev(struct digest *d, uint64_t id, uint64_t mapped,
		    uint64_t trans_id, uint32_t ctime, uint32_t stime);
void digest_add_pool(struct digest *d, uint64_t trans_id, uint32_t time,
		     uint64_t nr_data, int held);
void digest_add_map(struct digest *d, uint64_t dev, uint64_t vblock,
		    uint64_t block, uint32_t time);
/* A data block mapped by two mappings must be one snapshot sharing: the
 * same vblock in two devices.  0; -EEXIST (msg names both mappings: an
 * allocator handed out a block in use); -ENOMEM. */
int oracle_check_data_sharing(const struct oracle *o, char *msg, size_t len);

#endif /* PD_ORACLE_H */
