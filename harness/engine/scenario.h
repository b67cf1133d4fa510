/* harness/engine/scenario.h - workloads as data (DESIGN.md section 6).
 *
 * A scenario file has one op per line; `#` starts a comment.  Grammar:
 *
 *   pool [data=N] [meta=N] [cache=N|default|none] [block-size=SECTORS]
 *        [format=open]   pool geometry; at most once, before any op.
 *                        cache=N is a bound of N >= 12 blocks.
 *                        cache=default names no cache size: the backend
 *                        takes its own default (core/thin.h
 *                        THIN_DEFAULT_CACHE_BLOCKS; a kernel backend its
 *                        dm-bufio bound, harness/kernel/bufio.h); without
 *                        cache= the harness names 4096.  cache=none keeps
 *                        only the blocks locked now (THIN_CACHE_NONE:
 *                        core/bm.h BM11, harness/kernel/bufio.h KB9): each
 *                        lock reads the device and each dirty block is
 *                        written back as soon as it is unlocked and
 *                        anything else is locked, as dm-bufio under memory
 *                        pressure; the +small variant (driver.h) does not
 *                        run for it.  format=open
 *                        formats the fresh device as dm-thin's pool
 *                        constructor does, through the open
 *                        (thin_pool_open with THIN_OPEN_FORMAT on an
 *                        all-zero block 0; the kernel backends always
 *                        format so, client.h K18) rather than with
 *                        thin_pool_format
 *   create DEV           new thin device
 *   snap DEV ORIGIN      snapshot of ORIGIN as DEV
 *   delete DEV
 *   map DEV V | A..B     provision vblock V (or each of A..B, inclusive)
 *   unmap DEV V          remove one mapping
 *   unmap DEV A..B       remove the range [A, B] (inclusive); A = B + 1
 *                        is the empty range [A, A), a legal call that
 *                        removes nothing, leaves the pool clean (a commit
 *                        right after writes nothing) and asks for no count
 *                        (thin_remove_range's nr_removed NULL, as dm-thin's
 *                        dm_thin_remove_range has none)
 *   passdown DEV V | A..B
 *                        dm-thin's discard passdown of [A, B] (inclusive),
 *                        in the open transaction (thin.h TH8): the mapped
 *                        runs found as find-range walks them, the range
 *                        removed as unmap A..B does, a reference taken on
 *                        each run's data blocks, each block asked whether
 *                        it is shared (thin_data_block_is_shared), the
 *                        references dropped.  The metadata changes as an
 *                        unmap of the range; each run and each answer is
 *                        checked against the oracle: a block is shared iff,
 *                        after the remove, a mapping of a live device or of
 *                        the held metadata snapshot (as it was reserved)
 *                        still names it.  The op's result is the remove's
 *                        (-ENODATA for an absent device)
 *   commit | abort
 *   close [cache=N|default|none]
 *                        a clean close (thin_pool_close: it commits
 *                        first, client.h CL3), then an open, as a reload
 *                        does; marked as a commit, and the reopened pool
 *                        must show the committed state.  With cache= the
 *                        pool comes back with that cache (the pool line's
 *                        values) for the rest of the live run: cache=none
 *                        there is memory pressure from then on, after a
 *                        setup a cache absorbed (crash states are still
 *                        recovered with the pool line's cache)
 *   restore              a storage engineer's repair with pdtool's code
 *                        (workload.c exec_restore): a commit (as the
 *                        deactivation before a repair), the committed
 *                        metadata dumped as thin_dump does (a fresh
 *                        read-only reader, pdtool dump's writer), then
 *                        the pool's devices dropped and rebuilt from that
 *                        XML with pdtool restore's builder (thin_set_time,
 *                        thin_set_dev_info, thin_insert_raw) and
 *                        committed.  The model does not change: devices,
 *                        details, mappings with their times, transaction
 *                        id, pool time and data device size come back as
 *                        they were, the held metadata snapshot and the
 *                        needs_check flag are kept, and the restored pool
 *                        must show that state.  Not the model's: in the
 *                        data space map a block mapped by several devices
 *                        has one reference per device after it (every
 *                        device gets trees of its own), and a data block
 *                        leaked by a failed data write stays allocated;
 *                        the free data count is unchanged.  Crash states:
 *                        both commits are marked as commits of the same
 *                        state; a cut inside the rebuild shows the state
 *                        its first commit published, a cut after the
 *                        rebuild's superblock the restored one, and an
 *                        error inside it aborts to the first.  The
 *                        rebuild runs in a transaction of the open pool,
 *                        not on a freshly formatted device as thin_restore
 *                        writes one: a format in place would overwrite
 *                        blocks the committed superblock still names, so
 *                        a cut in it would show neither state.  Kernel
 *                        backends skip it (client.h K17)
 *   trans-id N [from=M]  set the transaction id to N, giving the current one
 *                        (M with from=: -EINVAL unless M is current, the
 *                        kernel's "mismatched transaction id")
 *   resize-data N        data device to N blocks
 *   resize-meta N        metadata device to N blocks (grows the disk first)
 *   meta-snap | meta-snap-release
 *   write DEV V | A..B [fua]
 *                        write tagged data through thin device DEV
 *                        (harness/engine/datadev.h): provision an unmapped
 *                        vblock, copy-on-write a shared one, overwrite an
 *                        unshared one in place; fua: FUA writes (one that
 *                        provisions or copies completes after a commit)
 *   lookup DEV V | A..B  look each block up (thin_lookup): data block,
 *                        time and shared flag against the oracle, or
 *                        -ENODATA for an unmapped block or absent device
 *   dev-info DEV         the device's details (thin_dev_info) against the
 *                        oracle: mapped blocks, transaction id, creation
 *                        and snapshot times, or -ENODATA
 *   needs-check          set NEEDS_CHECK (thin_set_needs_check) and read
 *                        it back: it must be set
 *   check                the committed metadata on the device, read by our
 *                        core as a fresh reader: the structural checker
 *                        (core/check.h, CHECK_STRICT) finds nothing, and a
 *                        read-only open shows the last committed state
 *   meta-snap-check      the metadata snapshot the committed superblock
 *                        names, opened read-only (thin_pool_open_metadata_
 *                        snap), once through block 0 (the superblock's
 *                        held root) and once by its block number: devices,
 *                        details and mappings as the oracle had them at
 *                        the reservation; its data counts as thin.h has
 *                        them for a view without a data space map (0
 *                        blocks, the zeroed root; free, the count audit
 *                        and is-shared: -EOPNOTSUPP),
 *                        and an abort, a create and a data range's inc on
 *                        the read-only view refused (-EPERM); -ENODATA if
 *                        the committed
 *                        superblock holds none
 *   highest DEV          the highest mapped vblock (thin_get_highest_mapped,
 *                        dm-thin's thin status) against the oracle, or
 *                        -ENODATA (no device, nothing mapped)
 *   mapped-count DEV     the device's mapped count (thin_get_mapped_count),
 *                        this transaction included, or -ENODATA
 *   find-range DEV V | A..B
 *                        walk [A, B] run by run as dm-thin's discards do
 *                        (thin_find_mapped_range from A, then from each
 *                        run's end until -ENODATA); every run, its data
 *                        blocks and shared flag against the oracle.  The
 *                        op's result is the first call's
 *   audit                the reference counts of the open transaction
 *                        against its trees (thin_check_counts, thin.h
 *                        TH7): 0, else the block and both counts; the
 *                        kernel backends skip it (no such call)
 *   status               dm-thin's pool status line, as `dmsetup status
 *                        --noflush` reads it (no commit first): transaction
 *                        id, metadata size, data size (the kernel's: the
 *                        size at the last commit, client.h K10), held
 *                        root set or not, the free data blocks (exact: the
 *                        size at the last commit less the data blocks the
 *                        model's mappings and a held snapshot's use; below
 *                        zero 0, or wrapped on the kernel, K11) and the
 *                        free metadata blocks: exact where nothing is
 *                        uncommitted (the metadata size less the blocks
 *                        the structural checker finds in use on the
 *                        device, less the commit reserve min(4096, a
 *                        tenth)), only within [0, committed size - 1 -
 *                        reserve] otherwise, and when a device or mapping
 *                        changed since the commit at least one below the
 *                        committed recount (the changes shadowed a
 *                        committed node, a new block: FORMAT.md 2.3, SM2)
 *   setup-done           the lines above build the starting state the
 *                        rest of the scenario works on (a long-lived pool,
 *                        a deep tree): the fault sweeps (--io-errors,
 *                        --media-faults, --alloc-faults) plan no fault in
 *                        them, and --damage damages no commit of them nor,
 *                        later, a block the setup's last commit left as it
 *                        was (damage.h DG3).  Their crash states are still
 *                        all explored (every write and flush), and the
 *                        live run checks every op against the oracle.  At
 *                        most once, without expect=; a thin scenario's
 *                        (driver.h SW1)
 *   random ops=N [seed=S] [mix=KIND:W,...] [devs=N] [span=N]
 *          [aim=boundaries]
 *                        N generated ops; the seed defaults to the run's
 *                        --seed; KIND is one of map unmap unmap-range snap
 *                        delete create commit abort trans-id resize-data
 *                        meta-snap, and with an explicit weight only
 *                        (default 0) lookup dev-info needs-check check
 *                        meta-snap-check highest mapped-count find-range
 *                        status audit passdown.  aim=boundaries bends the ops drawn
 *                        (same kinds, same weights) towards the core's
 *                        edge cases (workload.c, aim_op), and adds, from a
 *                        PRNG stream of its own, about one op in eight of
 *                        the read ops above or an error a caller can meet
 *                        (workload.c, aim_extra); without it a line
 *                        generates exactly what it always did
 *
 * Caller misuse, accepted only with expect=EINVAL (any other line with
 * these values is a parse error): the core refuses the call with -EINVAL
 * and changes nothing (a commit right after writes nothing, TH1); a
 * kernel backend skips them (client.h K14):
 *   create DEV | snap DEV ORIGIN with DEV past 2^24-1
 *   unmap DEV A..B with A > B + 1 (thin_remove_range's begin past end)
 *   resize-data N with N past 2^40
 *   map DEV V at=BLOCK   insert V -> BLOCK (thin_insert) with BLOCK at or
 *                        past the data device's end
 *   format [block-size=SECTORS] [data=N] [read-only]
 *                        thin_pool_format on the pool's device with a
 *                        block size out of [128, 2097152] or not a
 *                        multiple of 128, or more than 2^40 data blocks,
 *                        or asked read-only (THIN_OPEN_READ_ONLY): refused
 *                        before anything is written (the log shows no
 *                        write)
 *   resize-meta N past-end
 *                        thin_resize_metadata to N blocks without growing
 *                        the device first, N past its end (thin.h: the
 *                        bdev must already have them); with N within
 *                        the device it is a plain resize, which the line's
 *                        expect=EINVAL then fails
 *   passdown DEV A..B at=BLOCK
 *                        the passdown's data calls alone, the caller
 *                        naming vblock v's data block BLOCK + v - A: the
 *                        inc and the dec of that range and the is-shared
 *                        question of its last block, with the range past
 *                        the data device's end, or reversed (A > B + 1):
 *                        each refused; nothing is removed
 *   open block-size=SECTORS
 *                        thin_pool_open of the pool's device with a data
 *                        block size other than the pool's (the superblock
 *                        says another): refused, nothing written
 *
 * Any op but random may end with expect=ERRNO (ENODATA EEXIST EINVAL
 * EBUSY ENOSPC EPERM): the line must fail with -ERRNO.  The oracle must
 * predict that error (else the scenario is wrong: a live failure naming
 * the line), the backend must return it, the pool must not be failed by
 * it, and on a backend that reads mid-transaction (not K1) the pool must
 * show the model's state after it (client_digest).  Without expect= the
 * oracle's prediction is checked all the same; and an error the oracle
 * predicted (other than meta-snap's -EBUSY: the kernel commits first)
 * leaves the pool as clean as it was: a commit right after writes
 * nothing (TH1).
 *
 * A dm-cache scenario starts with a `cache` line instead (its ops and
 * their grammar: cache_scenario.h); the two kinds of op never mix.
 *
 * DEV is 0..2^24-1; numbers are decimal or 0x hex.  Any bad line is an
 * error naming the file and line, and nothing runs.
 */
#ifndef PD_SCENARIO_H
#define PD_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

enum op_kind {
	OP_CREATE,
	OP_SNAP,
	OP_DELETE,
	OP_MAP,
	OP_UNMAP,
	OP_UNMAP_RANGE,
	OP_COMMIT,
	OP_ABORT,
	OP_TRANS_ID,
	OP_RESIZE_DATA,
	OP_RESIZE_META,
	OP_META_SNAP,
	OP_META_SNAP_RELEASE,
	OP_WRITE,
	OP_LOOKUP,
	OP_DEV_INFO,
	OP_NEEDS_CHECK,
	OP_CHECK,
	OP_META_SNAP_CHECK,
	OP_HIGHEST,
	OP_MAPPED_COUNT,
	OP_FIND_RANGE,
	OP_STATUS,
	OP_AUDIT,
	OP_CLOSE,
	OP_FORMAT,
	OP_OPEN,
	OP_RESTORE,
	OP_PASSDOWN,
	OP_SETUP_DONE,
	OP_RANDOM,
	OP_CACHE,		/* a dm-cache op: op.sub (cache_scenario.h) */
	OP_NR_KINDS
};

#define MIX_KINDS 21		/* kinds a random line can generate */

struct op {
	enum op_kind kind;
	uint64_t a, b, c;	/* dev/origin/values; see scenario.c */
	unsigned line;		/* 1-based line in the file, 0 if generated */
	int fua;		/* OP_WRITE: FUA writes */
	int expect;		/* expect=: the -errno the op must return;
				 * 0 none */
	int has_from;		/* OP_TRANS_ID: from=M given, M in b */
	int has_at;		/* OP_MAP: at=BLOCK given, BLOCK in at */
	int read_only;		/* OP_FORMAT: read-only given */
	int past_end;		/* OP_RESIZE_META: past-end given */
	int has_cache;		/* OP_CLOSE: cache= given, its cache_blocks
				 * (pool_geometry's) in a */
	uint64_t at;
	int aim_extra;		/* generated: an op aim=boundaries added
				 * (workload.c aim_extra) */
	/* OP_RANDOM only */
	uint64_t seed;
	int has_seed;
	unsigned mix[OP_NR_KINDS];	/* weights */
	uint64_t devs, span;
	unsigned aim;		/* enum random_aim */
	unsigned sub;		/* OP_CACHE: enum cache_op (cache_scenario.h) */
};

enum random_aim {
	AIM_NONE = 0,
	AIM_BOUNDARIES = 1,
};

/* A dm-cache scenario's `cache` line (cache_scenario.h). */
struct cache_geometry {
	uint32_t cblocks;		/* cache blocks after the setup */
	unsigned version;		/* metadata format 1 or 2 */
	unsigned hint_size;		/* 0 or 4 */
	uint32_t dblocks;		/* discard blocks */
	char policy[16];		/* policy name */
};

struct pool_geometry {
	uint64_t data_blocks;		/* default 100000 */
	uint64_t meta_blocks;		/* default 2048 */
	unsigned cache_blocks;		/* default 4096; 0: cache=default,
					 * the backend's own;
					 * THIN_CACHE_NONE: cache=none */
	uint32_t block_size;		/* sectors, default 128 */
	int is_cache;			/* a `cache` line: dm-cache metadata */
	struct cache_geometry cache;	/* when is_cache */
	int format_open;		/* format=open: format through the
					 * open (client_params.format_by_open) */
};

struct scenario {
	char *name;			/* file name without directory and .scn */
	char *path;
	struct pool_geometry geo;
	struct op *ops;
	size_t nr_ops;
};

/* Parse path.  On a bad line: -EINVAL and a message in err ("FILE:LINE:
 * what").  -ENOENT / -EIO with a message if unreadable. */
int scenario_load(const char *path, struct scenario **result, char *err,
		  size_t errlen);
/* The same from a string (tests; name is used in messages). */
int scenario_parse(const char *name, const char *text, struct scenario **result,
		   char *err, size_t errlen);
void scenario_free(struct scenario *s);
const char *op_kind_name(enum op_kind k);
/* 1 if op passes a value out of the core's contract (the caller-misuse
 * ops above, accepted with expect=EINVAL only). */
int op_is_misuse(const struct op *op);
/* The `pool` line of a thin scenario's geometry, as scenario_parse reads
 * it back (cache=default, format=open included). */
void pool_geometry_format(const struct pool_geometry *g, char *buf,
			  size_t len);
/* cache_blocks as cache= says it: "N", "default" or "none"; returns buf. */
const char *pool_cache_text(unsigned cache_blocks, char *buf, size_t len);
/* One line of text for an op, as it would appear in a scenario file. */
void op_format(const struct op *op, char *buf, size_t len);

#endif /* PD_SCENARIO_H */
