/* core/bm.h - the block manager: a bounded cache of metadata blocks over a
 * block device, with per-block locks and validators (dm-block-manager and
 * dm-bufio, in one layer).
 *
 * Invariants:
 *  BM1  a block is in the cache at most once; its data is the newest
 *       content (cache over device).
 *  BM2  unlocking a write lock marks the block dirty, modified or not.
 *  BM3  a dirty block may be written back at any moment once it is unlocked
 *       and the cache needs room (as dm-bufio does under memory pressure):
 *       the validator's prepare_for_write() runs just before each write.
 *  BM4  flush() writes every dirty unlocked block (in block order), then
 *       issues one device flush; it unlocks nothing and leaves locked
 *       blocks dirty for later.  It returns the first error it met.
 *  BM5  the first lock of a block read from the device with a validator runs
 *       its check(); a block already cached with another validator is
 *       -EINVAL.  write_lock_zero() reads nothing and checks nothing.
 *  BM6  in read-only mode every write lock and flush is -EPERM.
 *  BM7  a block may hold many read locks or one write lock; a conflicting
 *       lock is -EBUSY (a bug in the caller: there is one thread).
 *  BM8  a block whose own validator would refuse it on read is never
 *       written: after prepare_for_write() the check() runs on it, and on
 *       a refusal the write-back is -EILSEQ and the block stays dirty (a
 *       node left half-built by a failed operation cannot reach the disk).
 *  BM9  reset() (an abort) drops every cached block unwritten, but first
 *       holds each dirty one to BM8 as a write-back would: dm-bufio writes
 *       every dirty buffer back when its client is reset (the kernel
 *       abort's dm_block_manager_reset), so a block its own validator
 *       refuses would reach the disk there.  Such a block is a bug of the
 *       operation that left it: reset() drops the cache all the same and
 *       returns -EILSEQ.
 *  BM10 every block the bm refuses (check() failed, read error, past the
 *       end, validator clash) is noted in its damage record (errors.h):
 *       "block B (VALIDATOR NAME): FAULT", FAULT what check() said through
 *       bm_block_fault(), else pd_strerror() of its return.
 *  BM11 with cache_blocks BM_CACHE_NONE the cache keeps only the blocks
 *       locked now: at the start of every lock call (read_lock, write_lock,
 *       write_lock_zero) each cached block nobody holds is written back if
 *       dirty (BM3, BM8) and dropped, least recently used first, so every
 *       lock of a block not already held reads it from the device.  This is
 *       dm-bufio under the worst memory pressure: its shrinker frees every
 *       clean buffer nobody holds and its writeback cleans the dirty ones.
 *       A write-back error stops the drop and is that lock call's return;
 *       the block stays dirty and cached (as any failed write-back).  There
 *       is no bound: a lock never fails for want of a slot.  flush() and
 *       reset() are as in any other mode.
 *
 * Errors: -EIO (device), -EILSEQ / -ENOTBLK (check failed, the block is
 * dropped from the cache), -EINVAL (block past the end, validator clash),
 * -ENOMEM (every cache slot locked, never with BM_CACHE_NONE; or
 * allocation), -EPERM, -EBUSY.
 * After a failed write-back the block stays dirty and cached.
 *
 * Ownership: the bm does not own the bdev.  A struct bm_block is valid from
 * a successful lock until its unlock.  bm_destroy() reports (stderr, and
 * bm_destroy's return) every block still locked: a bug in the caller.
 */
#ifndef PD_BM_H
#define PD_BM_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"

struct pd_damage;			/* errors.h */

#define PD_BLOCK_SIZE 4096u		/* metadata block size, bytes */

struct block_manager;
struct bm_block;

struct bm_validator {
	const char *name;
	/* Set checksum and block number before the block is written. */
	void (*prepare_for_write)(const struct bm_validator *v,
				  struct bm_block *b, size_t block_size);
	/* 0, -EILSEQ (checksum, magic, structure) or -ENOTBLK (location);
	 * on a refusal it may say what is wrong with bm_block_fault(). */
	int (*check)(const struct bm_validator *v, struct bm_block *b,
		     size_t block_size);
};

/* For a validator's check(): what is wrong with b ("bad checksum", "says
 * it is block 7"), for the damage record (BM10). */
void bm_block_fault(struct bm_block *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cache_blocks for a cache that keeps only the blocks locked now (BM11);
 * below the least bound, so no bound means it. */
#define BM_CACHE_NONE 1u

/* cache_blocks: how many blocks the cache may hold (>= 8), or
 * BM_CACHE_NONE. */
int bm_create(struct bdev *bd, unsigned cache_blocks,
	      struct block_manager **result);
/* Drops the cache without writing it; returns the number of blocks still
 * locked (0 when the caller behaved). */
unsigned bm_destroy(struct block_manager *bm);

struct bdev *bm_bdev(struct block_manager *bm);
/* The damage record (BM10, errors.h): layers above note in it too. */
struct pd_damage *bm_damage(struct block_manager *bm);
pd_block_t bm_nr_blocks(struct block_manager *bm);
uint32_t bm_block_size(struct block_manager *bm);

int bm_read_lock(struct block_manager *bm, pd_block_t b,
		 const struct bm_validator *v, struct bm_block **result);
int bm_write_lock(struct block_manager *bm, pd_block_t b,
		  const struct bm_validator *v, struct bm_block **result);
int bm_write_lock_zero(struct block_manager *bm, pd_block_t b,
		       const struct bm_validator *v, struct bm_block **result);
void bm_unlock(struct bm_block *b);

pd_block_t bm_block_location(const struct bm_block *b);
void *bm_block_data(struct bm_block *b);
const void *bm_block_cdata(const struct bm_block *b);

int bm_flush(struct block_manager *bm);
#ifdef PD_MUTANTS
/* Write every dirty unlocked block, with no device flush: only the planted
 * bug no-flush-before-superblock needs it, so only the mutants build has
 * it. */
int bm_write_dirty(struct block_manager *bm);
#endif
/* Write block b now if it is cached, dirty and unlocked (no flush). */
int bm_write_block(struct block_manager *bm, pd_block_t b);
/* Drop block b from the cache unwritten, dirty or not; nothing if it is
 * absent or locked. */
void bm_forget(struct block_manager *bm, pd_block_t b);
/* Forget every cached block, dirty or not (abort); -EBUSY if any is locked
 * (nothing dropped), -EILSEQ if a dirty one failed BM9 (all dropped). */
int bm_reset(struct block_manager *bm);
void bm_set_read_only(struct block_manager *bm, int ro);
int bm_is_read_only(const struct block_manager *bm);
/* Number of blocks locked now (debug / leak checks). */
unsigned bm_nr_locked(const struct block_manager *bm);
/* Change the cache bound (BM_CACHE_NONE too); shrinking writes back /
 * evicts lazily. */
void bm_set_cache_blocks(struct block_manager *bm, unsigned cache_blocks);

/* Statistics for benchmarks. */
struct bm_stats {
	uint64_t reads, writes, flushes, hits, misses, evictions;
};
void bm_get_stats(const struct block_manager *bm, struct bm_stats *st);

/* crc32c as dm uses it: ~crc32c_std(data) ^ salt (FORMAT.md 1.1). */
uint32_t pd_crc32c(uint32_t seed, const void *data, size_t len);
uint32_t pd_block_csum(const void *data, size_t len, uint32_t salt);

#endif /* PD_BM_H */
