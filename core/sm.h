/* core/sm.h - space maps: reference counts of the blocks of a device.
 *
 * One ops table, several implementations:
 *   sm_core      counts in memory only (tests, bootstrap, the checker);
 *   sm_disk      data blocks: bitmap index btree + bitmaps + ref-count btree;
 *   sm_metadata  metadata blocks: one index block + bitmaps + ref-count
 *                btree, managing the very device it lives on (bootstrap,
 *                recursion through a FIFO of deferred ops, extend).
 *
 * Invariants:
 *  SM1  new_block() never returns a block referenced by the last committed
 *       transaction, even if its count is now 0: a block freed in this
 *       transaction is not reused before the next commit (rollback needs it
 *       intact).  A block is handed out only if free now and at the commit.
 *  SM2  get_nr_free() = committed nr_blocks - committed nr_allocated - net
 *       allocations this transaction (FORMAT.md 2.3): with no frees or
 *       extends in the transaction it is exactly what new_block() can
 *       return.  get_nr_blocks() is the current size (extends included);
 *       every map keeps it in memory, so it cannot fail.
 *  SM3  after commit() returns 0, copy_root() describes the committed state
 *       and a space map opened from that root has the same counts.
 *  SM4  dec of a count that is 0 is -EINVAL and changes nothing.
 *  SM5  the allocation cursor moves forward past each allocation and is not
 *       reset at commit; the search wraps at the end of the device.
 *
 * Errors: -ENOSPC (no free block), -EINVAL (misuse, block out of range, SM4),
 * -ENOMEM, -EIO / -EILSEQ / -ENOTBLK from the metadata below.
 * Ownership: the caller owns the space map and destroys it.
 */
#ifndef PD_SM_H
#define PD_SM_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"

#define SM_ROOT_SIZE 32u		/* struct disk_sm_root */

struct space_map;

struct space_map_ops {
	void (*destroy)(struct space_map *sm);
	int (*extend)(struct space_map *sm, pd_block_t extra_blocks);
	pd_block_t (*get_nr_blocks)(struct space_map *sm);	/* in memory */
	int (*get_nr_free)(struct space_map *sm, pd_block_t *count);
	int (*get_count)(struct space_map *sm, pd_block_t b, uint32_t *result);
	int (*count_is_more_than_one)(struct space_map *sm, pd_block_t b,
				      int *result);
	int (*commit)(struct space_map *sm);
	/* [b, e) each +1 / -1 */
	int (*inc_blocks)(struct space_map *sm, pd_block_t b, pd_block_t e);
	int (*dec_blocks)(struct space_map *sm, pd_block_t b, pd_block_t e);
	/* find a free block (SM1), set its count to 1 */
	int (*new_block)(struct space_map *sm, pd_block_t *b);
	int (*root_size)(struct space_map *sm, size_t *result);
	int (*copy_root)(struct space_map *sm, void *where, size_t max);
};

struct space_map {
	const struct space_map_ops *ops;	/* implementations embed this first */
};

static inline void sm_destroy(struct space_map *sm)
{
	if (sm)
		sm->ops->destroy(sm);
}
static inline int sm_extend(struct space_map *sm, pd_block_t extra)
{
	return sm->ops->extend(sm, extra);
}
static inline pd_block_t sm_get_nr_blocks(struct space_map *sm)
{
	return sm->ops->get_nr_blocks(sm);
}
static inline int sm_get_nr_free(struct space_map *sm, pd_block_t *count)
{
	return sm->ops->get_nr_free(sm, count);
}
static inline int sm_get_count(struct space_map *sm, pd_block_t b,
			       uint32_t *result)
{
	return sm->ops->get_count(sm, b, result);
}
static inline int sm_count_is_more_than_one(struct space_map *sm, pd_block_t b,
					    int *result)
{
	return sm->ops->count_is_more_than_one(sm, b, result);
}
static inline int sm_commit(struct space_map *sm)
{
	return sm->ops->commit(sm);
}
static inline int sm_inc_blocks(struct space_map *sm, pd_block_t b,
				pd_block_t e)
{
	return sm->ops->inc_blocks(sm, b, e);
}
static inline int sm_dec_blocks(struct space_map *sm, pd_block_t b,
				pd_block_t e)
{
	return sm->ops->dec_blocks(sm, b, e);
}
static inline int sm_inc_block(struct space_map *sm, pd_block_t b)
{
	return sm_inc_blocks(sm, b, b + 1);
}
static inline int sm_dec_block(struct space_map *sm, pd_block_t b)
{
	return sm_dec_blocks(sm, b, b + 1);
}
static inline int sm_new_block(struct space_map *sm, pd_block_t *b)
{
	fiu_return_on(FP_SM_NEW_BLOCK, -ENOSPC);
	return sm->ops->new_block(sm, b);
}
static inline int sm_root_size(struct space_map *sm, size_t *result)
{
	return sm->ops->root_size(sm, result);
}
static inline int sm_copy_root(struct space_map *sm, void *where, size_t max)
{
	fiu_return_on(FP_SM_COPY_ROOT, -ENOMEM);
	return sm->ops->copy_root(sm, where, max);
}

/* In-memory space map of nr_blocks blocks, all free (core/sm_core.c).  It
 * keeps SM1 like the others; commit() only moves the "committed" copy;
 * root_size/copy_root are -EINVAL (it has no on-disk form). */
int sm_core_create(pd_block_t nr_blocks, struct space_map **result);

struct transaction_manager;

/* Data-block space map on metadata managed by tm (core/sm_disk.c). */
int sm_disk_create(struct transaction_manager *tm, pd_block_t nr_blocks,
		   struct space_map **result);
int sm_disk_open(struct transaction_manager *tm, const void *root,
		 size_t len, struct space_map **result);
/* Blocks a data-block space map counts now, this transaction included: not
 * get_nr_free()'s view from the last commit (sm_disk.c DS1, DS2), which
 * a grow and more allocations than the old size had free push below 0
 * (answered as 0). */
pd_block_t sm_disk_nr_in_use(struct space_map *sm);

/*
 * The metadata space map (core/sm_metadata.c) is created together with the
 * transaction manager that uses it: see tm_create_with_sm() and
 * tm_open_with_sm() in tm.h.
 */

#endif /* PD_SM_H */
