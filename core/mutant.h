/* core/mutant.h - planted bugs, for proving that pdcrash catches them.
 *
 * A mutant is a known historical or plausible bug, re-introduced at a
 * site marked `if (PD_MUTANT(ID))`, ID one of the PD_MUTANT_LIST entries
 * below.  A misspelt ID does not compile, in any build, so a typo cannot
 * leave a site inert.  Only the mutants build (make mutants: -DPD_MUTANTS,
 * build/pdcrash-mutants) compiles the sites in; every other build compiles
 * PD_MUTANT(...) to 0, so the bugs cannot be switched on by accident.
 * Code that only a planted bug runs (a whole function, a call of one)
 * sits inside #ifdef PD_MUTANTS as well, so product builds do not carry
 * it.
 * The catalogue, with the names the command line uses, is
 * pd_mutant_names[] (same order as the list).
 */
#ifndef PD_MUTANT_H
#define PD_MUTANT_H

/* X(ID, "name", "one line: the bug it plants",
 *   "the Linux fix it undoes (title, year)", or "" for a plausible bug
 *   with no fix of its own) */
#define PD_MUTANT_LIST(X) \
	X(NO_FLUSH_BEFORE_SUPERBLOCK, "no-flush-before-superblock", \
	  "pre_commit writes the metadata but issues no device flush, so the " \
	  "superblock may land before the blocks it points to", "") \
	X(NO_FLUSH_AFTER_SUPERBLOCK, "no-flush-after-superblock", \
	  "commit writes the superblock but issues no flush after it, so " \
	  "a commit that returned may still roll back", "") \
	X(SUPERBLOCK_FIRST, "superblock-first", \
	  "commit writes the superblock before the other dirty metadata " \
	  "blocks, with one flush after all of them", "") \
	X(SUPERBLOCK_DESPITE_FLUSH_ERROR, "superblock-despite-flush-error", \
	  "commit locks and fills the superblock before the metadata flush, " \
	  "and after that flush fails the dirty superblock is still written", \
	  "dm transaction manager: fix corruption due to non-atomic " \
	  "transaction commit (2015)") \
	X(SM_ROOTS_COPIED_UNDER_LOCK, "sm-roots-copied-under-lock", \
	  "the space-map roots are copied into the superblock after it is " \
	  "locked and filled; when a copy fails the dirty superblock is " \
	  "unlocked and written back with the new tree roots and stale " \
	  "space-map roots", \
	  "dm: take care to copy the space map roots before locking the " \
	  "superblock (2015)") \
	X(SM_ROOT_BEFORE_PRE_COMMIT, "sm-root-before-pre-commit", \
	  "the metadata space-map root is saved before pre_commit, which " \
	  "moves it, so the superblock points at a stale root", \
	  "dm era: save spacemap metadata root after the pre-commit " \
	  "(year not verified)") \
	X(TOP_LEVEL_LEAF_NO_INC, "top-level-leaf-no-inc", \
	  "shadowing a shared leaf of an upper-level tree does not inc the " \
	  "subtree roots it holds", \
	  "dm btree: add ref counting ops for the leaves of top level " \
	  "btrees (2014)") \
	X(EXTEND_COMMIT_ONCE, "extend-commit-once", \
	  "extending the metadata space map commits once instead of until " \
	  "the commit allocates nothing more; the last block it took keeps " \
	  "a count of 0", \
	  "dm space map metadata: fix bug in resizing of thin metadata (2015)") \
	X(REBALANCE2_OLD_THRESHOLD, "rebalance2-old-threshold", \
	  "remove merges two siblings only below max/3 entries, so sharing " \
	  "them can leave a node under a third full", \
	  "dm btree: increase rebalance threshold in __rebalance2() (2019)") \
	X(META_SNAP_UNCOMMITTED, "meta-snap-uncommitted", \
	  "a metadata snapshot is taken without committing first: the copy " \
	  "names the committed roots while the uncommitted trees share " \
	  "their children uncounted", \
	  "dm thin: commit metadata before creating metadata snapshot (2013)") \
	X(REMOVE_ROOT_DESPITE_FAILURE, "remove-root-despite-failure", \
	  "btree remove stores the spine's root in *new_root even when the " \
	  "removal failed", \
	  "dm btree remove: assign new_root only when removal succeeds (2021)") \
	X(SPLIT_BENEATH_UNINIT_LEFT, "split-beneath-uninit-left", \
	  "split_beneath allocates both children before initialising the " \
	  "left one, so a failed right allocation unlocks (dirties) a " \
	  "zeroed node", \
	  "dm btree: fix order of block initialization in " \
	  "btree_split_beneath (2019)") \
	X(COMMIT_UNCHANGED_WRITES, "commit-unchanged-writes", \
	  "a commit with nothing changed still rewrites the superblock", \
	  "dm thin metadata: do not write metadata if no changes occurred " \
	  "(2019)") \
	X(REUSE_BEFORE_COMMIT, "reuse-before-commit", \
	  "the allocator checks only the current space map, so a block " \
	  "freed in this transaction (still referenced by the last " \
	  "commit) is handed out and overwritten before the commit (SM1)", \
	  "") \
	X(SKIP_READ_CHECKSUM, "skip-read-checksum", \
	  "the block manager accepts a block read from the device without " \
	  "verifying its checksum (it re-seals the block's checksum and " \
	  "location before the validator's first check, BM5)", "") \
	X(DEC_BELOW_ZERO, "dec-below-zero", \
	  "decrementing a reference count of 0 is accepted silently", \
	  "dm space map: disallow decrementing a reference count below zero " \
	  "(2014)") \
	X(REMOVE_KEEPS_MAPPING, "remove-keeps-mapping", \
	  "thin_remove of a mapped block reports success but leaves the " \
	  "mapping in place: the live run disagrees with its model", \
	  "") \
	X(ARRAY_SHADOW_NO_INC, "array-shadow-no-inc", \
	  "an array block copied from a shared block does not take a " \
	  "reference on the values it holds, so releasing either copy " \
	  "drops values the other still holds", \
	  "dm array: fix a reference counting bug in shadow_ablock " \
	  "(year not verified)") \
	X(CACHE_UNCLEAN_TRUSTS_DIRTY, "cache-unclean-trusts-dirty", \
	  "dm-cache metadata opened without CLEAN_SHUTDOWN reports the dirty " \
	  "bits as stored instead of every mapped block dirty, so blocks " \
	  "written since the last commit pass for clean after a crash", \
	  "") \
	X(ARRAY_CURSOR_SKIP_BOUNDARY, "array-cursor-skip-boundary", \
	  "a dm-array cursor that skips across an array-block boundary " \
	  "lands one entry too far, so the dirty-bit check of a cache " \
	  "shrink (format 2) misses a dirty block", \
	  "dm array: fix cursor index when skipping across block " \
	  "boundaries (2025)") \
	X(NO_DATA_FLUSH_BEFORE_COMMIT, "no-data-flush-before-commit", \
	  "commit never calls the pre-commit callback, so the data device is " \
	  "not flushed and a committed mapping may point at data still in " \
	  "its volatile cache", \
	  "dm thin: Flush data device before committing metadata (2019)") \
	X(FUA_OVERWRITE_BEFORE_COMMIT, "fua-overwrite-before-commit", \
	  "a FUA write that provisions or copies a block completes at once, " \
	  "before the commit that maps it (the caller's side: " \
	  "harness/engine/workload.c)", \
	  "dm thin: fix bug where bio that overwrites thin block ignores FUA " \
	  "(2019)") \
	X(ABSORB_SHARED_NO_INC, "absorb-shared-no-inc", \
	  "a node left with a single entry absorbs a child shared with a " \
	  "snapshot without incrementing the grandchildren, so they are " \
	  "referenced twice and counted once", "") \
	X(LOOKUP_NO_DEPTH_LIMIT, "lookup-no-depth-limit", \
	  "a btree lookup descends without a depth bound (as the kernel's " \
	  "btree_lookup_raw does), so a child pointer that leads back to " \
	  "its own node makes it spin for ever", "") \
	X(BT_CHECK_ROOT_OCCUPANCY, "bt-check-root-occupancy", \
	  "bt_check holds a root to BT2 (a third full) as well, so it " \
	  "rejects every small tree the structural checker accepts: a " \
	  "disagreement between the two checks", "") \
	X(OPEN_REFUSES_REORDERED_WRITEBACK, \
	  "open-refuses-reordered-writeback", \
	  "open reads the free metadata blocks and, when the two highest " \
	  "written ones sit on twelve unwritten ones (writes reordered further " \
	  "than it believes a device can), refuses the pool as damaged", "") \
	X(INSERT_PAST_40_BITS, "insert-past-40-bits", \
	  "an insert checks its data block against the pool's data block " \
	  "count only, not the 40 bits a mapping packs it into, so on a " \
	  "pool whose count a damaged root puts past 2^40 the mapping " \
	  "names another block", "") \
	X(CACHE_CHECK_EIO_AS_DAMAGE, "cache-check-eio-as-damage", \
	  "the core's check of a dm-cache array reports any error of its " \
	  "length's read as damage (-EILSEQ), so a read error at recovery " \
	  "passes for corrupt metadata", "") \
	X(PASSDOWN_SHARED_WRONG, "passdown-shared-wrong", \
	  "thin_data_block_is_shared counts the caller's own reference " \
	  "twice (count > 2), so a discard passdown takes a block one " \
	  "snapshot still maps for unshared and would discard its data", "") \
	X(WRAP_MISSES_LAST, "wrap-misses-last", \
	  "the metadata allocator's search, wrapping to the start, stops " \
	  "one block short of its cursor, so the last free block is never " \
	  "found and a nearly full device answers -ENOSPC early", "")

enum pd_mutant_id {
#define PD_MUTANT_ENUM(id, name, what, fix) PD_MUT_##id,
	PD_MUTANT_LIST(PD_MUTANT_ENUM)
#undef PD_MUTANT_ENUM
	PD_MUT_NR
};

struct pd_mutant_info {
	const char *name;
	const char *what;		/* one line: the bug it plants */
	const char *fix;		/* the Linux fix it undoes, or "" */
};

/* The catalogue, terminated by a NULL name; present in every build. */
extern const struct pd_mutant_info pd_mutant_names[];

/* Switch one mutant on (NULL: none).  -EINVAL for an unknown name,
 * -EOPNOTSUPP in a build without mutants. */
int pd_mutant_set(const char *name);
const char *pd_mutant_get(void);

#ifdef PD_MUTANTS
int pd_mutant_active(enum pd_mutant_id id);
#define PD_MUTANT(id) pd_mutant_active(PD_MUT_##id)
#else
#define PD_MUTANT(id) ((void)PD_MUT_##id, 0)
#endif

#endif /* PD_MUTANT_H */
