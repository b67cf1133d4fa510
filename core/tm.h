/* core/tm.h - the transaction manager: copy-on-write shadowing of metadata
 * blocks and the two-phase commit (dm-transaction-manager).
 *
 * States and transitions:
 *
 *     open --(new_block/shadow/inc/dec)--> dirty --(pre_commit)--> prepared
 *       ^                                                              |
 *       +------------------------- commit(superblock) -----------------+
 *     any state --(an error in a mutating call)--> failed (sticky)
 *
 *   transition                      function
 *   start a transaction             tm_create() / after tm_commit()
 *   change metadata                 tm_new_block, tm_shadow_block, tm_inc, tm_dec
 *   make all but the superblock     tm_pre_commit: commit the metadata space
 *     durable                         map, then bm_flush (writes + FLUSH)
 *   publish                         tm_commit: unlock the superblock (dirty),
 *                                     bm_flush (superblock write + FLUSH)
 *   poison                          any error in the calls above
 *
 * Invariants:
 *  TM1  a block reachable from the last committed superblock is never
 *       written: mutation goes through tm_shadow_block(), which copies it to
 *       a new block unless it is already a shadow made in this transaction
 *       and not shared (count 1).
 *  TM2  tm_shadow_block() reports in *inc_children whether the original was
 *       shared (count > 1); the caller must then inc everything the copy
 *       references, since the original still references it too.
 *  TM3  the caller locks the superblock only after tm_pre_commit() returned
 *       0, changes it with nothing that can fail, and passes it to
 *       tm_commit(), which is the only write of the superblock.
 *  TM4  after any error in a mutating call (new_block, shadow, inc, dec,
 *       pre_commit, commit) the tm is failed: every later mutating call and
 *       commit returns -EIO without touching the disk, until the tm is
 *       destroyed and the metadata reopened.
 *
 * Errors: as bm.h and sm.h; -EIO when failed (TM4).
 * Ownership: the tm does not own the bm or the space map, except that
 * tm_destroy() after tm_create_with_sm()/tm_open_with_sm() leaves the
 * metadata space map for the caller to sm_destroy() (as the kernel does).
 * Blocks from tm_new_block / tm_shadow_block / tm_read_lock are released
 * with tm_unlock() (or bm_unlock()).
 */
#ifndef PD_TM_H
#define PD_TM_H

#include <stddef.h>
#include <stdint.h>

#include "bm.h"
#include "sm.h"

struct transaction_manager;

/* A tm allocating from any space map (sm_core in tests). */
int tm_create(struct block_manager *bm, struct space_map *sm,
	      struct transaction_manager **result);
void tm_destroy(struct transaction_manager *tm);

/*
 * A tm with a new metadata space map on bm's device, whose blocks
 * [0, superblock] are reserved, every other block free (format).
 * The pair is returned together because each needs the other.
 */
int tm_create_with_sm(struct block_manager *bm, pd_block_t superblock,
		      struct transaction_manager **tm, struct space_map **sm);
/* The same, opening the metadata space map from its 32-byte root. */
int tm_open_with_sm(struct block_manager *bm, pd_block_t superblock,
		    const void *sm_root, size_t root_len,
		    struct transaction_manager **tm, struct space_map **sm);

int tm_pre_commit(struct transaction_manager *tm);
/* Unlocks superblock (always, even on error), then flushes. */
int tm_commit(struct transaction_manager *tm, struct bm_block *superblock);

int tm_new_block(struct transaction_manager *tm, const struct bm_validator *v,
		 struct bm_block **result);
int tm_shadow_block(struct transaction_manager *tm, pd_block_t orig,
		    const struct bm_validator *v, struct bm_block **result,
		    int *inc_children);
int tm_read_lock(struct transaction_manager *tm, pd_block_t b,
		 const struct bm_validator *v, struct bm_block **result);
void tm_unlock(struct transaction_manager *tm, struct bm_block *b);

int tm_inc(struct transaction_manager *tm, pd_block_t b);
int tm_inc_range(struct transaction_manager *tm, pd_block_t b, pd_block_t e);
int tm_dec(struct transaction_manager *tm, pd_block_t b);
int tm_dec_range(struct transaction_manager *tm, pd_block_t b, pd_block_t e);
int tm_ref(struct transaction_manager *tm, pd_block_t b, uint32_t *count);
int tm_block_is_shared(struct transaction_manager *tm, pd_block_t b,
		       int *result);

struct block_manager *tm_bm(struct transaction_manager *tm);
struct space_map *tm_sm(struct transaction_manager *tm);
int tm_is_failed(const struct transaction_manager *tm);
/* Mark failed from outside (a caller that saw an error of its own). */
void tm_set_failed(struct transaction_manager *tm);

/* For the metadata space map only: is b a block made in this transaction
 * (new or shadow)? */
int tm_is_shadow(struct transaction_manager *tm, pd_block_t b);

#endif /* PD_TM_H */
