/* harness/engine/cache_scenario.h - dm-cache scenarios: the `cache` line,
 * the cache ops, their workload and their recovery check.
 *
 * A cache scenario starts with (before any op; no `pool` line):
 *
 *   cache blocks=N [version=1|2] [hint=0|4] [meta=N] [policy=NAME]
 *         [discard=N] [bm-cache=N|none] [block-size=SECTORS]
 *
 * blocks: cache blocks (default 256); version: metadata format (1);
 * hint: policy hint width in bytes (4; 0 keeps no hint array); meta:
 * metadata device blocks (1024); policy: the policy name (smq); discard:
 * discard blocks (64); bm-cache: block-manager cache in blocks (the
 * `cache=` of a thin pool line; the +small variant overrides it), or none
 * (CACHE_BM_CACHE_NONE, core/bm.h BM11, harness/kernel/bufio.h KB9: only
 * the blocks locked now stay, as the thin pool line's cache=none; no
 * +small variant then).
 *
 * The run formats the metadata (committed state 0: no cache blocks), then
 * a setup like the cache target's first resume, as ops of line 0:
 * resize N, discard-resize DBLOCKS, hints 0 (policy name, hint width),
 * commit (state 1).  Then the ops, one a line:
 *
 *   map CB OB | map A..B OB   cblock CB to origin block OB (A..B: A to OB,
 *                             A+1 to OB+1, ...); a mapped block is clean
 *   unmap CB | A..B           remove the mapping (unmapped: no effect)
 *   dirty CB | A..B           mark a mapped block dirty (-ENODATA unmapped)
 *   clean CB | A..B           mark it clean
 *   hints V                   write every hint: hint i = V * 2654435761 + i
 *                             (32 bits), with the policy name and width
 *   discard D | A..B          set discard bit D
 *   undiscard D | A..B        clear it
 *   discard-resize N          N discard blocks (new bits clear)
 *   resize N                  N cache blocks (-EINVAL shrinking over a
 *                             mapped dirty block)
 *   commit | abort
 *   shutdown                  clean shutdown (commit with CLEAN_SHUTDOWN,
 *                             close) and reopen: the reopen trusts the
 *                             dirty bits, discards and hints
 *   reopen                    drop what is uncommitted and reopen without
 *                             a clean shutdown (what a cache target sees
 *                             after a crash): every mapped block dirty,
 *                             no discards, no hints
 *   random ops=N [seed=S] [mix=KIND:W,...] [span=N]
 *                             N generated ops (KIND: map unmap dirty clean
 *                             hints discard undiscard resize commit abort
 *                             shutdown reopen); origin blocks below span
 *                             (default 1 << 20), never mapped twice
 *
 * The oracle (cache_oracle.h) holds what the metadata must report.  A
 * committed state is what a reopen of it reports: after a clean-shutdown
 * commit the stored dirty bits, discards and hints; after any other
 * commit every mapped block dirty, no block discarded and no hints
 * (core/cache.h CA3, the kernel's clean_when_opened).  An injected IO
 * error makes the workload abort (cache_abort) and go on from the state
 * it reopened in; a failed shutdown or reopen ends the run (an operator
 * would reload the device), after the crash states up to it.
 */
#ifndef PD_CACHE_SCENARIO_H
#define PD_CACHE_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "cache_client.h"
#include "explore.h"
#include "scenario.h"
#include "workload.h"

enum cache_op {
	CO_MAP,
	CO_UNMAP,
	CO_DIRTY,
	CO_CLEAN,
	CO_HINTS,
	CO_DISCARD,
	CO_UNDISCARD,
	CO_DISCARD_RESIZE,
	CO_RESIZE,
	CO_COMMIT,
	CO_ABORT,
	CO_SHUTDOWN,
	CO_REOPEN,
	CO_RANDOM,
	CO_NR
};

_Static_assert((int)CO_NR <= (int)OP_NR_KINDS, "a random line's mix holds cache kinds");

#define CACHE_DEFAULT_CBLOCKS	256u
#define CACHE_DEFAULT_DBLOCKS	64u
#define CACHE_DEFAULT_META	1024u
#define CACHE_DEFAULT_SPAN	(1u << 20)
#define CACHE_HINT_MUL		2654435761u

/* The `cache` line (argv[0] == "cache"): geometry into g.  0, or -EINVAL
 * with "what" in err (the caller adds file and line). */
int cache_parse_geometry(char **argv, int argc, struct pool_geometry *g,
			 char *err, size_t errlen);
/* One op line of a cache scenario into op (kind OP_CACHE).  0, or -EINVAL
 * with "what" in err. */
int cache_parse_op(char **argv, int argc, struct op *op, char *err,
		   size_t errlen);
void cache_op_format(const struct op *op, char *buf, size_t len);
const char *cache_op_name(unsigned sub);
/* The `cache` line of g, as a scenario would carry it (for minimize). */
void cache_geometry_format(const struct pool_geometry *g, char *buf,
			   size_t len);

/* workload_run() of a cache scenario (workload.h; res->geo.is_cache).  The
 * caller indexes the markers. */
int cache_workload_run(const struct run_config *cfg, struct run_result *res);

/* check_image() of a cache run (explore.c): reopen with core/cache.h,
 * check_cache_metadata(), compare with the committed states the markers
 * allow, then continue (hints, mappings, a dirty bit, a commit; a clean
 * shutdown and reopen) and check again.  After a lost sector (fault zN)
 * image is explore.c's watch over the crash image: lost_seen (else NULL)
 * says whether recovery has read the damaged version of lost_block, and
 * only then is a refusal of that block "detected". */
void cache_check_image(const struct run_result *res, struct bdev *image,
		       const struct state_id *id, const struct check_opts *opts,
		       uint64_t fault_key, const int *torn,
		       const int *lost_seen, pd_block_t lost_block,
		       struct check_out *out);

/* Pieces of cache_check_image(), shared with the damage step (damage.h).
 * cache_structural: core/check_cache.c (strict) on bd, then, when it finds
 * nothing and cc is not NULL, the backend's own check of the arrays cc
 * has open: 0 clean; 1 damaged, 2 the checks disagree (what in msg);
 * -errno could not run.
 * cache_continue_check: on metadata cc recovered: new hints, a few
 * mappings (one dirty), a discard bit, a commit; what is reported must be
 * the recovered state plus those and the structure clean; then a clean
 * shutdown and reopen (*ccp replaced, NULL if the reopen failed) must
 * report the same with the structure clean.  0 when all is well (out left
 * alone); else out says OUT_VIOLATION and why, and it returns the core's
 * -errno when a call failed, 1 when the state or the structure is wrong. */
int cache_structural(struct bdev *bd, struct cache_client *cc, char *msg,
		     size_t len);
int cache_continue_check(struct cache_client **ccp, struct bdev *image,
			 const struct cache_client_params *params,
			 struct check_out *out);

/* For replay: what the image shows (opened read-only) against the
 * committed states lo..hi of the run cfg makes (each from one more run
 * keeping it), on stdout. */
void cache_replay_show(const struct run_config *cfg, const struct run_result *res,
		       struct bdev *image, int64_t lo, int64_t hi);

#endif /* PD_CACHE_SCENARIO_H */
