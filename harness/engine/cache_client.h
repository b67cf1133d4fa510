/* harness/engine/cache_client.h - one dm-cache metadata client, two
 * implementations (DESIGN.md 8): the cache workload, its recovery check
 * and `pdcrash diff` drive dm-cache metadata through this ops table only,
 * as client.h does for thin pools.
 *
 * Backends (cache_client_backend() finds the one of a thin backend, by its
 * name, so --backend and the @BACKEND of an id choose both):
 *   core          our core/cache.h, harness/engine/cache_client_core.c
 *   kernel-6.1    Linux's dm-cache-metadata.c and persistent-data, through
 *   kernel-6.12   their own dm_cache_* API: harness/kernel/
 *   kernel        client_kernel_cache.c, compiled once per version beside
 *                 that version's localised object (kernel.mk); it exports
 *                 <P>cache_client_ops.
 *
 * Contract (both backends; a difference is named below, never hidden in a
 * conversion):
 *  CC1  every call returns 0 or a negative errno with core/cache.h's
 *       meanings (-EINVAL bad argument or a refused shrink (CA6), -ENODATA
 *       unmapped block or unformatted device, -EILSEQ / -ENOTBLK damaged,
 *       -ENOSPC, -EIO); a kernel code is passed on unchanged.
 *  CC2  what walk_mappings, walk_discards and get_policy report is the
 *       current transaction as core/cache.h CA3 defines it: after an open
 *       without CLEAN_SHUTDOWN every mapped block dirty, no discard bit,
 *       no hints, until the caller changes them; after a clean open what
 *       was stored.  format() counts as a clean open.
 *  CC3  close() is a clean shutdown (a commit that sets CLEAN_SHUTDOWN,
 *       then the end of the object); destroy() writes nothing the caller
 *       could not have seen written (a crash).
 *  CC4  open() with CC_OPEN_READ_ONLY leaves the device as it was.
 *  CC5  after_error() is the caller's policy after a failed metadata
 *       operation: abort, then set needs_check (dm-cache's
 *       abort_transaction); 0 the metadata may go on with a new
 *       transaction (the workload checks needs_check is set), 1 it is
 *       alive but read-only for good (the workload stops), -errno dead.
 *       abort_makes_durable: the metadata after abort() / after_error()
 *       shows a superblock that is durable (flushed), not one that may
 *       live only in the device's cache.
 *
 * Kernel notes (harness/kernel/client_kernel_cache.c says more):
 *  KC1  the kernel keeps the policy name, version and hint width and the
 *       CLEAN_SHUTDOWN flag private, and reports the hints of mapped blocks
 *       only: the adapter reads those fields (cache_client_read_sb) and,
 *       after a clean open, the hints of every block (cache_client_read_
 *       hints) with our core, before the kernel's open clears the flag,
 *       and keeps what it writes since, as dm-cache's policy object knows
 *       its own.  The kernel confirms each hint once it reports it (KC2).
 *  KC2  dm_cache_load_mappings / _load_discards report the view of the
 *       open (clean_when_opened is fixed for the object's life): after an
 *       unclean open every mapped block dirty, no hints, no discards, even
 *       after the caller changed them.  The adapter keeps the in-core state
 *       dm-cache keeps (mapping table, dirty and discard bitsets, the
 *       policy's hints), loaded by those calls at open and changed by each
 *       op after its kernel call succeeded; the walks report it and
 *       compare it with every answer the kernel does give (each mapping
 *       always; dirty bits, hints and discards after a clean open); a
 *       disagreement is -EPROTO with msg saying which.
 *  KC3  set_dirty(): no call for one block; dm_cache_set_dirty_bits with
 *       the whole in-core bitset (format 1: one array update per changed
 *       block; format 2: the bitset built anew).  A format-2 insert or
 *       remove of a block whose bit is set is followed by it too (CA4:
 *       the kernel's shrink check assumes unmapped blocks clean).
 *  KC4  resize(): dm_cache_resize as dm-cache's first resume calls it,
 *       with nothing stored first.  Its shrink check reads the stored
 *       dirty bits even after an unclean open, where its own
 *       load_mappings reports every mapped block dirty: a shrink over
 *       blocks stored clean succeeds where CA6 refuses it (a finding,
 *       README "dm-cache on the kernel backend").
 *  KC5  close() is dm-cache's sync_metadata: every dirty bit, every discard
 *       bit and the policy's hints are written, then dm_cache_commit(cmd,
 *       true) and dm_cache_metadata_close.  The kernel cannot store "no
 *       valid hints" with a hint width (dm_cache_write_hints with width 0
 *       keeps the array; dm-cache always writes its policy's), so a
 *       `shutdown` while no hints are trusted is skipped by name in the
 *       workload (shutdown_needs_hints); and it does not resize the hint
 *       array with the cache: the hints written at shutdown cover it.
 *  KC6  abort(): dm_cache_metadata_abort reopens the transaction manager
 *       but keeps the in-core roots and sizes of the aborted transaction
 *       (__open_metadata reads no superblock field); a commit after it
 *       would store them (tests/kernel/test_kcache.c).  dm-cache never
 *       goes on after an abort (read-only, needs_check); the adapter closes
 *       and reopens, as a reload does, and the reopen writes the superblock
 *       back with CLEAN_SHUTDOWN cleared and flushes it
 *       (abort_makes_durable).
 *  KC7  no read-only open (every open clears CLEAN_SHUTDOWN, writes the
 *       superblock and flushes): CC_OPEN_READ_ONLY gives the kernel a
 *       device whose writes are dropped, then sets the metadata read-only.
 *  KC8  destroy(): no close without write-back in the kernel; the adapter
 *       detaches the device first (writes go nowhere), as client.h K7.
 *  KC9  open() of an all-zero block 0: the kernel's -EPERM is reported as
 *       -ENODATA, core/cache.h's "unformatted" (as client.h K6).
 *  KC10 what core/cache.h refuses with -EINVAL before any I/O the adapter
 *       refuses too without calling the kernel: a cache block or discard
 *       block past the end (dm-array would say -ENODATA), an origin block
 *       of 2^48 or more (pack_value would drop its high bits), a hint width
 *       other than 0 or 4, a change of hint width to 0 (write_hints would
 *       keep the old array: -EOPNOTSUPP, named).
 *  KC11 after_error() is dm-cache's metadata_operation_failed:
 *       dm_cache_metadata_abort, dm_cache_metadata_set_needs_check,
 *       read-only; then a reload (KC6) and 1: no new transaction.
 *  KC12 set_needs_check() only dirties the superblock; it is written with
 *       the next commit or at close (as client.h K4).
 *  KC13 a failed write-back reaches the kernel only at the next flush
 *       (dm-bufio records it); until then the kernel goes on from what its
 *       cache holds and the disk lacks, and an op may fail with any code
 *       (a validator mismatch is -EINVAL).  The adapter counts the errors
 *       the device returns: after one, the metadata is failed (is_failed),
 *       as dm-cache would find at its next commit.
 */
#ifndef PD_CACHE_CLIENT_H
#define PD_CACHE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"

#define CC_POLICY_NAME_SIZE	16u	/* with the NUL: 15 characters */
#define CC_POLICY_VERSION_SIZE	3u
#define CC_FLAG_CLEAN_SHUTDOWN	(1u << 0)
#define CC_FLAG_NEEDS_CHECK	(1u << 1)
#define CC_MAX_OBLOCK		((1ull << 48) - 1)
#define CC_CACHE_NONE		1u	/* cache_blocks: no block cache */

struct cache_client {
	const struct cache_client_ops *ops;
	struct bdev *bd;		/* not owned */
	char msg[256];			/* detail of the last -EPROTO, or "" */
};

enum cache_client_flags {
	CC_OPEN_READ_ONLY = (1 << 0),	/* CC4 */
};

struct cache_client_params {
	uint32_t data_block_size;	/* sectors */
	unsigned version;		/* format: 1 or 2 */
	unsigned cache_blocks;		/* block-manager cache; 0: default,
					 * CC_CACHE_NONE: none (bm-cache=none) */
	unsigned flags;			/* enum cache_client_flags */
};

/* Every mapped block in cblock order; hint (4 bytes, little-endian) or
 * NULL when not valid.  A nonzero return stops the walk and is returned. */
typedef int (*cache_client_mapping_fn)(void *ctx, uint32_t cblock,
				       uint64_t oblock, int dirty,
				       const void *hint);
typedef int (*cache_client_discard_fn)(void *ctx, uint32_t dblock,
				       int discarded);

struct cache_client_ops {
	const char *name;		/* "core", "kernel-6.1", ... */
	int abort_makes_durable;	/* CC5 */
	int shutdown_needs_hints;	/* KC5: a clean shutdown stores hints */

	int (*format)(struct bdev *bd, const struct cache_client_params *p,
		      struct cache_client **result);
	int (*open)(struct bdev *bd, const struct cache_client_params *p,
		    struct cache_client **result);
	int (*close)(struct cache_client *c);		/* CC3 */
	void (*destroy)(struct cache_client *c);	/* CC3 */

	int (*commit)(struct cache_client *c);
	int (*abort)(struct cache_client *c);
	int (*after_error)(struct cache_client *c);	/* CC5 */
	int (*is_failed)(struct cache_client *c);
	/* CLEAN_SHUTDOWN was set when this object was opened (CC2). */
	int (*clean_when_opened)(struct cache_client *c);

	int (*get_size)(struct cache_client *c, uint32_t *nr_cblocks);
	int (*resize)(struct cache_client *c, uint32_t nr_cblocks);
	int (*insert)(struct cache_client *c, uint32_t cblock, uint64_t oblock);
	int (*remove)(struct cache_client *c, uint32_t cblock);
	int (*set_dirty)(struct cache_client *c, uint32_t cblock, int dirty);
	int (*walk_mappings)(struct cache_client *c,
			     cache_client_mapping_fn fn, void *ctx);

	/* hints: hint_size bytes a cache block (0 or 4), for every one. */
	int (*write_hints)(struct cache_client *c, const char *policy,
			   const uint32_t version[CC_POLICY_VERSION_SIZE],
			   uint32_t hint_size, const void *hints);
	int (*get_policy)(struct cache_client *c,
			  char name[CC_POLICY_NAME_SIZE + 1],
			  uint32_t version[CC_POLICY_VERSION_SIZE],
			  uint32_t *hint_size);

	int (*discard_resize)(struct cache_client *c,
			      uint64_t discard_block_size, uint32_t nr_dblocks);
	int (*set_discard)(struct cache_client *c, uint32_t dblock, int discard);
	int (*walk_discards)(struct cache_client *c,
			     cache_client_discard_fn fn, void *ctx);

	int (*set_needs_check)(struct cache_client *c);		/* KC12 */
	int (*get_needs_check)(struct cache_client *c, int *needs_check);
	/* The backend's own structural check of the array trees it has open
	 * (core: cache_check_trees, bt_check of each index tree); 0, or an
	 * error with the array named in c->msg.  NULL for a backend without
	 * one (the kernel's). */
	int (*check_trees)(struct cache_client *c);
};

extern const struct cache_client_ops cache_client_core_ops;

/* The cache client of the backend named name ("core", "kernel-6.1", ...,
 * a struct client_ops's name).  0; -EINVAL no such backend; -ENOSYS known
 * but not linked in (a KERNEL=0 build). */
int cache_client_backend(const char *name, const struct cache_client_ops **ops);

/* KC1: the superblock fields the kernel keeps private, as stored on bd,
 * read by our core (core/cache.h cache_read_superblock): 0, -ENODATA all
 * zeroes, -EILSEQ / -ENOTBLK damaged, -EIO. */
struct cache_client_sb {
	uint32_t flags;			/* CC_FLAG_* */
	uint32_t version;		/* metadata format */
	char policy[CC_POLICY_NAME_SIZE + 1];
	uint32_t policy_version[CC_POLICY_VERSION_SIZE];
	uint32_t hint_size;		/* as stored */
	uint64_t hint_root;		/* 0: no hint array */
	uint32_t cache_blocks;
	uint64_t discard_nr_blocks;
};
int cache_client_read_sb(struct bdev *bd, struct cache_client_sb *sb);
/* KC1: hints[i] = the 4-byte hint stored for cache block i < nr, mapped or
 * not (0 past the end of the hint array or without one), read by our core
 * (core/cache.h cache_walk_hints, read-only, as stored).  0 or -errno. */
int cache_client_read_hints(struct bdev *bd, uint32_t *hints, uint32_t nr);

#endif /* PD_CACHE_CLIENT_H */
