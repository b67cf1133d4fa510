/* harness/kernel/bufio.h - our dm-bufio: the kernel's buffer cache API
 * (include/linux/dm-bufio.h of the version being built, taken from the
 * kernel tree unchanged) implemented on our struct bdev (core/bdev.h).
 * The kernel's block manager (dm-block-manager.c) sits on top of it, so
 * every I/O the kernel's metadata code does passes through here.
 *
 * The device: dm_bufio_client_create() takes a struct block_device
 * (linux/blkdev.h of the shim), which holds our struct bdev and two knobs:
 * cache_blocks (the bound of KB1) and writeback_ratio (KB2).  The bufio
 * block size must equal the bdev's block size (-EINVAL otherwise); a
 * bufio block number is a bdev block number.
 *
 * "Held" below means taken by dm_bufio_read/get/new and not yet given back
 * by dm_bufio_release: the block manager holds a buffer exactly while it
 * has it read- or write-locked.
 *
 * Invariants:
 *  KB1  bounded cache: when a buffer must be added while the cache holds
 *       cache_blocks buffers (default KBUFIO_DEFAULT_CACHE), unheld
 *       buffers are evicted first, least recently used first, clean ones
 *       before dirty ones; a dirty one is written back before it goes.
 *       A held buffer is never evicted or written back by KB1/KB2, so the
 *       cache may exceed the bound only by held buffers.
 *  KB2  write-back under pressure (the kernel's __check_watermark): when a
 *       buffer is added and dirty buffers outnumber writeback_ratio times
 *       the clean ones (ratio 0 means the kernel's 3; < 0 disables it),
 *       every unheld dirty buffer is written back, least recently used
 *       first.  Difference from the kernel: its watermark write-back also
 *       writes held dirty buffers; ours never does (KB1).
 *  KB3  a write-back (KB1, KB2, KB4, KB6) first calls the client's
 *       write_callback (the block manager recomputes the checksum), then
 *       writes the block with no FUA.  The buffer is clean from then on,
 *       even if the write failed, as in the kernel; a failed write keeps
 *       its error in the buffer (it is dropped at its last release, so
 *       the next read sees the disk) and the client records the first one.
 *  KB4  dm_bufio_write_dirty_buffers writes every dirty buffer, held or not
 *       (least recently used first), then issues one flush, always, even
 *       after a failed write; it returns the first write error recorded
 *       since the previous call (KB3, by any write-back), else the flush's
 *       result.  It clears the recorded error.  This is the kernel's order
 *       and its error rule.
 *  KB5  reads: dm_bufio_read/new/get return the cached buffer if there is
 *       one; read reads the block on a miss; new does no I/O (the data is
 *       zeroes, the kernel leaves it undefined); get never adds a buffer
 *       and returns NULL on a miss.  A failed read returns ERR_PTR(-errno)
 *       and caches nothing.  dm_bufio_prefetch reads every absent block
 *       into an unheld clean buffer (KB1 and KB2 apply); a read error
 *       there is kept in the buffer and returned by the next read/get of
 *       that block, which drops it.
 *  KB6  dm_bufio_client_reset and dm_bufio_client_destroy first write back
 *       every dirty buffer, held or not, with no flush (the kernel's
 *       drop_buffers), then drop every unheld buffer; a held buffer left at
 *       destroy is reported (DMERR) and leaked, as in the kernel.  Write
 *       errors there are recorded (KB3) and reported by nobody.
 *  KB7  dm_bufio_forget drops an unheld clean buffer; otherwise nothing.
 *  KB8  dm_bufio_issue_flush is one bdev flush; its result is returned.
 *  KB9  with cache_blocks KBUFIO_CACHE_NONE (the scenario's cache=none,
 *       core/bm.h BM11) the client keeps only held buffers: at the start
 *       of every dm_bufio_read/get/new/prefetch each unheld buffer is
 *       written back if dirty (KB3: an error is recorded and reported by
 *       the next dm_bufio_write_dirty_buffers, the buffer is clean and
 *       goes all the same) and freed, least recently used first.  The
 *       kernel under memory pressure: its shrinker frees every clean
 *       unheld buffer and its writeback cleans the dirty ones.  KB1 and
 *       KB2 have nothing left to do then; a prefetched buffer lives until
 *       the next call.  Difference from the core (BM11): there a failed
 *       write-back fails the lock and the block stays dirty; here the
 *       call goes on and the error waits for the commit's flush (KB4).
 *
 * Errors: 0 or -errno as the bdev returns them (-EIO; -EINVAL for a block
 * past the end of the device), through ERR_PTR where the API returns a
 * pointer; -ENOMEM.  Misuse the kernel would BUG on (releasing or dirtying
 * an unheld buffer) aborts.
 * Ownership: the client does not own the struct block_device or its bdev.
 *
 * Besides the kernel API, for tests (these names stay global in each
 * version's object, with its prefix, see kernel.mk):
 */
#ifndef PD_KERNEL_BUFIO_H
#define PD_KERNEL_BUFIO_H

#define KBUFIO_DEFAULT_CACHE 1024u	/* blocks, when cache_blocks is 0 */
#define KBUFIO_CACHE_NONE 1u		/* cache_blocks: KB9 */
#define KBUFIO_WRITEBACK_RATIO 3	/* the kernel's DM_BUFIO_WRITEBACK_RATIO */

struct dm_bufio_client;

struct kbufio_stats {
	unsigned long nr_buffers;	/* cached now, held or not */
	unsigned long nr_dirty;		/* dirty now */
	unsigned long nr_held;		/* buffers with a hold count > 0 */
	unsigned long evictions;	/* KB1 and KB9, since create */
	unsigned long writebacks;	/* writes by KB1/KB2/KB9 (not KB4/KB6) */
};

void kbufio_get_stats(struct dm_bufio_client *c, struct kbufio_stats *s);

#endif /* PD_KERNEL_BUFIO_H */
