/* harness/engine/client.h - one metadata client, several implementations
 * (DESIGN.md 8): the workload, the recovery and `pdcrash diff` drive thin
 * pool metadata through this ops table only.
 *
 * Backends (client_backend_find names them):
 *   core          our core (core/thin.h), harness/engine/client_core.c
 *   kernel-6.1    Linux's dm-thin-metadata.c and persistent-data, from
 *   kernel-6.12   Debian's linux-source packages, or KERNEL_SRC ("kernel"),
 *   kernel        through their own dm_pool_* / dm_thin_* API:
 *                 harness/kernel/client_kernel.c, compiled once per
 *                 version with that version's include path and rename.h,
 *                 and linked beside (not inside) the version's localised
 *                 object kthin.o; it exports <P>client_ops (k61_, k612_,
 *                 kcustom_) and calls nothing but the kernel's public API.
 *
 * Contract (both backends; a difference is named in CL-notes below, never
 * hidden in a conversion):
 *  CL1  every call returns 0 or a negative errno with core/thin.h's
 *       meanings; the kernel's own codes are passed on unchanged.
 *  CL2  format() leaves a committed, empty pool of nr_data_blocks data
 *       blocks.  A backend with format_steps == 2 commits twice: first the
 *       empty pool with a data device of size 0 (the kernel's format), then
 *       the resize (dm-thin does it in preresume); a crash between shows the
 *       first, and the workload counts it as a committed state of its own.
 *  CL3  destroy() frees without writing anything the caller could not
 *       have seen written (a crash); close() commits first.
 *  CL4  after_error() is the caller's policy after a failed metadata
 *       operation (dm-thin's metadata_operation_failed); it returns 0 if
 *       the pool may go on with a new transaction, 1 if it is alive but
 *       read-only for good (the workload stops), -errno if it is dead;
 *       -EPROTO (msg says which) if the abort broke its own contract (the
 *       core: TH4's durable superblock), which the workload reports.
 *  CL5  walk() reports what the committed-or-current pool holds: pool
 *       values, then each device's details and its mappings (vblock
 *       ascending) with their times.
 *
 * CL-notes, the kernel adapter (harness/kernel/client_kernel.c says more):
 *  K1  no mapping walk with times, and the pool time is private: walk()
 *      and get_time() read the image with our core, read-only, and compare
 *      every answer the kernel does give (transaction id, data device size,
 *      held root, each device's open and mapped count, every mapping's
 *      block and shared flag by dm_thin_find_mapped_range and
 *      dm_thin_find_block, the device list by probing open_thin_device);
 *      a disagreement is -EPROTO with client->msg saying which.  Only valid
 *      with nothing uncommitted (the workload and recovery call it right
 *      after an open, a commit or an abort).
 *  K2  no single-block remove in 6.1+: remove() is dm_thin_remove_range
 *      of one block, after dm_thin_find_block (-ENODATA when unmapped, the
 *      kernel's range remove would return 0).  remove_range() counts what
 *      it removed from dm_thin_get_mapped_count before and after.
 *  K3  abort(): dm_pool_abort_metadata keeps stale in-core device entries
 *      (tests/kernel/test_kthin.c), so the adapter then puts the metadata
 *      read-only (so close does not commit), closes and reopens, as a
 *      dm-thin reload does.  Unlike our core's thin_abort (TH4) nothing is
 *      rewritten: after a failed final flush the superblock reopened from
 *      may live only in the device's cache (abort_makes_durable = 0).
 *  K4  set_needs_check() only dirties the superblock in the kernel; it goes
 *      out with the next commit or the write-back at close.
 *  K5  lookup() gives no mapping time (time = CLIENT_NO_TIME).
 *  K6  open() of an all-zero block 0: the kernel's -EPERM ("unformatted,
 *      not asked to format") is reported as -ENODATA, our meaning.
 *  K7  destroy(): the kernel has no close without a commit, and dm-bufio
 *      writes dirty buffers back at destroy; the adapter detaches the
 *      device first (those writes go nowhere), then closes read-only.
 *  K8  dm_pool_delete_thin_device of a device created in the same
 *      transaction fails with -ENODATA after dropping its in-core entry
 *      (its details are written only at commit), leaving its mapping tree
 *      in the top-level tree.  dm-thin never does that: each create, snap,
 *      delete, set_transaction_id, reserve / release_metadata_snap is a
 *      pool message, and pool_message commits after it succeeded.  The
 *      workload does the same for a backend with message_commits.
 *  K9  a commit with nothing changed: the kernel skips it only before the
 *      first change since open (pmd->in_service, the fix "dm thin
 *      metadata: do not write metadata if no changes occurred"); later it
 *      flushes and rewrites the superblock (unchanged_commit_is_noop = 0).
 *  K10 get_nr_data_blocks(): dm_pool_get_data_dev_size answers the data
 *      space map's size at the last commit; a resize shows after the next
 *      commit (data_size_at_commit = 1).  The core answers the size now
 *      (core/sm_disk.c DS1).
 *  K11 get_free_data_blocks(): dm_pool_get_free_block_count is the size at
 *      the last commit less the blocks in use now, in unsigned arithmetic:
 *      after a grow and more allocations than the old size had free, in
 *      one transaction, it wraps to near 2^64 (free_data_wraps = 1); the
 *      core says 0 (DS2).  dm-thin commits right after each resize, so it
 *      never asks in between.
 *  K12 highest_mapped(): dm_thin_get_highest_mapped_block returns 1 and
 *      the block, or 0 and nothing when the device maps nothing (the
 *      number of tree levels dm_btree_find_highest_key found); the adapter
 *      reports that 0 as -ENODATA, thin.h's meaning.
 *  K13 a failed pool: the kernel's dm_pool_* calls refuse only once
 *      pmd->fail_io is set (a failed abort), not after any failed op, so
 *      the workload's probe of a failed pool (every read and write call
 *      must answer -EIO and change nothing, core thin.c TH4) runs on the
 *      core only (failed_refuses = 0).
 *  K14 argument checks: dm_pool_create_thin, dm_thin_insert_block and
 *      dm_pool_resize_data_dev leave a device id past 2^24-1, a data
 *      block past the data device and a size past 2^40 to dm-thin's
 *      target and message parsing, so the ops that pass such values
 *      (scenario.h, expect=EINVAL) run on the core only (checks_args = 0).
 *  K15 close(): dm_pool_metadata_close frees the in-core entry of every
 *      thin device not open before its own commit, so a device changed in
 *      this transaction loses its details (mapped_blocks stays as last
 *      committed while its mappings are written: the structural check
 *      finds the two disagree, scenarios/reach/close-reopen on 6.1 and
 *      6.12), and it returns 0 when that commit fails.  dm-thin commits at
 *      postsuspend before it closes; the adapter's close() does the same
 *      (dm_pool_commit_metadata, then the close).  Under injected faults
 *      (--io-errors and the like) the close op on the kernel met findings
 *      not yet told apart from the adapter's own (the reopened pool's
 *      walk -EPROTO, reference counts wrong after a failed close's commit
 *      and reopen), so there it is skipped (close_under_faults = 0): open.
 *  K16 a failed op: the kernel's calls go on answering until the caller's
 *      abort (pmd->fail_io is set only when an abort fails, K13), and
 *      dm-thin reads through them in that window (another bio's map path
 *      calls dm_thin_find_block before metadata_operation_failed aborts).
 *      They show the state before the failed op for every device the op
 *      does not name: dm_btree_insert and dm_btree_remove leave the root
 *      they were given when they fail (dm_btree_remove since the fix "dm
 *      btree remove: assign new_root only when removal succeeds", 2021;
 *      kernel mutant remove-root-despite-failure undoes it), and the nodes
 *      of the transaction they change in place (splits, rebalances) keep
 *      every key whenever they stop.  Not the device a failed remove,
 *      range remove, delete, create or snap names: __remove_range takes it
 *      out of the top-level tree before it removes its mappings and puts
 *      it back last; __delete_device frees its in-core entry and removes
 *      its details before its mapping tree.  A failed insert leaves its
 *      device as it was (its mapped count is raised only on success).  The
 *      workload checks it on a backend that says so (failed_reads_hold;
 *      workload.c probe_reads_before_abort); the core refuses every call
 *      instead (TH4, failed_refuses).
 *  K17 rebuild(): the kernel's metadata API has no call that sets a
 *      device's details or a mapping's time (thin_restore writes the
 *      metadata with a userspace library of its own), so the restore op
 *      runs on the core only (rebuild = NULL).
 *  K18 format(): the kernel has one way to format, the open of an
 *      all-zero device asked to format (dm_pool_metadata_open with
 *      format_device true, as dm-thin's pool constructor opens a writable
 *      pool), so format_by_open changes nothing there; the core formats
 *      with thin_pool_format, or with format_by_open through thin_pool_open
 *      and THIN_OPEN_FORMAT, the same path as the kernel's.
 *  K19 get_metadata_reserve(): dm-thin-metadata keeps its commit reserve
 *      private (pmd->metadata_reserve, only subtracted inside
 *      dm_pool_get_free_metadata_block_count), so the kernel adapter has
 *      none (NULL); the status op checks the free count against it on
 *      every backend all the same.
 */
#ifndef PD_CLIENT_H
#define PD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "bdev.h"
#include "thin.h"

#define CLIENT_NO_TIME UINT32_MAX

struct client {
	const struct client_ops *ops;
	struct bdev *bd;		/* not owned */
	char msg[256];			/* detail of the last -EPROTO, or "" */
};

struct client_params {
	uint32_t data_block_size;	/* sectors */
	pd_block_t nr_data_blocks;	/* for a format */
	unsigned cache_blocks;		/* 0: the backend's default;
					 * THIN_CACHE_NONE: no cache (cache=none) */
	int read_only;			/* format: asked read-only (a misuse
					 * the core refuses, scenario.h) */
	int format_by_open;		/* format: through the open of the
					 * all-zero device, as dm-thin (K18) */
	struct pd_damage *damage;	/* open, core only: the damage record
					 * of a refused open (thin.h), or NULL */
};

struct client_pool_info {
	uint64_t trans_id;
	uint32_t time;
	pd_block_t nr_data_blocks;
	pd_block_t held_root;		/* 0: no metadata snapshot */
};

struct client_walker {
	int (*pool)(void *ctx, const struct client_pool_info *info);
	int (*dev)(void *ctx, const struct thin_dev_info *info);
	int (*map)(void *ctx, uint64_t dev, uint64_t vblock, pd_block_t block,
		   uint32_t time);
};

struct client_ops {
	const char *name;		/* "core", "kernel-6.1", ... */
	int format_steps;		/* CL2: 1 or 2 */
	int abort_makes_durable;	/* abort() flushes the superblock it
					 * reopened from (core TH4) */
	int needs_check_durable;	/* set_needs_check() returns with the
					 * flag durable (core: block 0 written
					 * and flushed; not K4) */
	int unchanged_commit_is_noop;	/* a commit with nothing changed since
					 * the last one writes nothing (core
					 * TH1); the kernel only skips commits
					 * before the first change since open
					 * (pmd->in_service) */
	int message_commits;		/* the caller commits right after each
					 * create, snap and delete, as dm-thin's
					 * pool_message does (K8) */
	int committed_only_queries;	/* dev_info, list_devs, walk and
					 * get_time answer for the last commit
					 * only (K1): the workload asks them
					 * only with nothing uncommitted */
	int data_size_at_commit;	/* get_nr_data_blocks answers the size
					 * at the last commit (K10) */
	int free_data_wraps;		/* get_free_data_blocks wraps below
					 * zero (K11); else it says 0 */
	int failed_refuses;		/* a failed pool answers -EIO to every
					 * call and changes nothing (core TH4;
					 * K13) */
	int checks_args;		/* the calls refuse out-of-range
					 * arguments with -EINVAL (K14) */
	int close_under_faults;		/* the close op runs under injected
					 * faults too (K15) */
	int failed_reads_hold;		/* after a failed op and until the
					 * abort, reads answer the state before
					 * the op (K16) */
	int (*format)(struct bdev *bd, const struct client_params *p,
		      struct client **result);
	int (*format_finish)(struct client *c, pd_block_t nr_data_blocks);
	int (*open)(struct bdev *bd, const struct client_params *p,
		    struct client **result);
	int (*close)(struct client *c);
	void (*destroy)(struct client *c);

	int (*create_thin)(struct client *c, uint64_t dev);
	int (*create_snap)(struct client *c, uint64_t dev, uint64_t origin);
	int (*delete_dev)(struct client *c, uint64_t dev);
	int (*insert)(struct client *c, uint64_t dev, uint64_t vblock,
		      pd_block_t block);
	int (*remove)(struct client *c, uint64_t dev, uint64_t vblock);
	int (*remove_range)(struct client *c, uint64_t dev, uint64_t begin,
			    uint64_t end, uint64_t *nr_removed);
	int (*lookup)(struct client *c, uint64_t dev, uint64_t vblock,
		      struct thin_lookup_result *result);
	int (*alloc_data_block)(struct client *c, pd_block_t *result);
	/* dm-thin's discard passdown (thin.h TH8; the kernel's
	 * dm_pool_inc_data_range, dm_pool_dec_data_range and
	 * dm_pool_block_is_shared): a reference of the caller's own on each
	 * data block of [begin, end), taken and dropped, and whether a block
	 * is counted more than once. */
	int (*inc_data_range)(struct client *c, pd_block_t begin,
			      pd_block_t end);
	int (*dec_data_range)(struct client *c, pd_block_t begin,
			      pd_block_t end);
	int (*data_block_is_shared)(struct client *c, pd_block_t b,
				    int *shared);

	/* Call fn(ctx) first in every commit that writes (core TH1; the
	 * kernel's dm_pool_register_pre_commit_callback): the caller flushes
	 * its data device there.  It survives abort and reopen. */
	void (*set_pre_commit)(struct client *c, int (*fn)(void *ctx),
			       void *ctx);
	int (*commit)(struct client *c);
	int (*abort)(struct client *c);
	int (*after_error)(struct client *c);	/* CL4 */
	int (*is_failed)(struct client *c);

	int (*get_trans_id)(struct client *c, uint64_t *id);
	int (*set_trans_id)(struct client *c, uint64_t current_id,
			    uint64_t new_id);
	int (*get_time)(struct client *c, uint32_t *time);
	int (*resize_data)(struct client *c, pd_block_t nr_blocks);
	int (*resize_metadata)(struct client *c, pd_block_t nr_blocks);
	int (*get_nr_metadata_blocks)(struct client *c, pd_block_t *nr);
	/* free metadata blocks less the commit reserve, as dm-thin sees them
	 * (thin.h thin_get_free_metadata_blocks) */
	int (*get_free_metadata_blocks)(struct client *c, pd_block_t *nr);
	/* the metadata blocks the allocator could hand out now, on a failed
	 * pool too (thin.h thin_get_allocatable_metadata_blocks): the
	 * workload's check of an -ENOSPC.  NULL where the backend cannot
	 * tell (the kernel's). */
	int (*get_allocatable_metadata_blocks)(struct client *c,
					       pd_block_t *nr);
	/* the rest of dm-thin's pool status line (thin.h; K10, K11) */
	int (*get_nr_data_blocks)(struct client *c, pd_block_t *nr);
	int (*get_free_data_blocks)(struct client *c, pd_block_t *nr);
	int (*reserve_meta_snap)(struct client *c);
	int (*release_meta_snap)(struct client *c);
	int (*get_meta_snap)(struct client *c, pd_block_t *block);
	int (*set_needs_check)(struct client *c);
	int (*get_needs_check)(struct client *c, int *needs_check);

	int (*dev_info)(struct client *c, uint64_t dev,
			struct thin_dev_info *info);
	/* dm-thin's reads of one device, mid-transaction too (thin.h):
	 * -ENODATA for no device, or (highest, a range) nothing mapped. */
	int (*highest_mapped)(struct client *c, uint64_t dev, uint64_t *vblock);
	int (*mapped_count)(struct client *c, uint64_t dev, uint64_t *count);
	int (*find_mapped_range)(struct client *c, uint64_t dev, uint64_t begin,
				 uint64_t end, struct thin_mapped_range *range);
	/* Ids ascending, in an array it allocates (free()). */
	int (*list_devs)(struct client *c, uint64_t **devs, size_t *nr);
	int (*walk)(struct client *c, const struct client_walker *w,
		    void *ctx);			/* CL5 */
	/* The backend's own structural check of the trees it has open (core:
	 * thin_check_trees, bt_check of each tree); 0, or an error with the
	 * tree named in c->msg.  NULL for a backend without one (the
	 * kernel's). */
	int (*check_trees)(struct client *c);
	/* The backend's own audit of the open transaction's reference counts
	 * against its trees (core: thin_check_counts, thin.h TH7); 0, or an
	 * error with c->msg saying which block.  NULL for a backend without
	 * one (the kernel's). */
	int (*check_counts)(struct client *c);
	/* Drop every device and build the pool's devices, details,
	 * mappings (with their times), pool time and transaction id anew
	 * from thin_dump XML of a pool of the same sizes, in this
	 * transaction; the caller commits (the scenario op restore).  Core:
	 * pdtool restore's builder (harness/pdtool/thin_xml.h: thin_set_time,
	 * thin_set_dev_info, thin_insert_raw), c->msg saying what failed.
	 * NULL where the backend has no such calls (K17). */
	int (*rebuild)(struct client *c, const char *xml, size_t len);
	/* The calls rebuild makes, one by one (thin.h thin_set_time,
	 * thin_set_dev_info, thin_insert_raw): the probe of a failed pool
	 * asks them too (workload.c probe_failed_pool).  NULL with rebuild
	 * (K17). */
	int (*set_time)(struct client *c, uint32_t time);
	int (*set_dev_info)(struct client *c, const struct thin_dev_info *info);
	int (*insert_raw)(struct client *c, uint64_t dev, uint64_t vblock,
			  pd_block_t block, uint32_t time);
	/* The commit reserve get_free_metadata_blocks keeps back (thin.h
	 * thin_get_metadata_reserve).  NULL where it is private (K19). */
	int (*get_metadata_reserve)(struct client *c, pd_block_t *nr);
};

extern const struct client_ops client_core_ops;

/* The backend called name: "core", "kernel-6.1", "kernel-6.12", "kernel"
 * (KERNEL_SRC).  0; -EINVAL unknown; -ENOSYS known but not linked in (a
 * KERNEL=0 build, or no KERNEL_SRC given to make). */
int client_backend_find(const char *name, const struct client_ops **ops);
/* "core, kernel-6.1, ..." of what this program has, for messages. */
const char *client_backends_built(void);

#endif /* PD_CLIENT_H */
