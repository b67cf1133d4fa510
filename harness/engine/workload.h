/* harness/engine/workload.h - run a scenario on simdisk, with the oracle beside.
 *
 * The run formats a pool on a fresh simdisk, then applies each op to the
 * core and to the oracle, checking that every result is the one the
 * oracle predicts.  It writes markers into the simdisk log:
 *
 *   MK_OP i            op i (of the expanded op list) starts here
 *   MK_COMMIT_BEGIN k  a commit that would create committed state k
 *   MK_COMMIT_END k    committed state k is durable (after a commit, or
 *                      after an abort that reopened in state k when the
 *                      final flush of commit k failed: thin_abort()
 *                      rewrites and flushes the superblock it reopened
 *                      from).  MK_UNCERTAIN in the value marks a state
 *                      whose superblock may still be lost (k-1 stays
 *                      possible until the next commit-end).
 *
 * State 0 is the freshly formatted pool.  digests[k] is the oracle's digest
 * of committed state k.  With a fault planned, an op that fails with an
 * injected error makes the workload abort (thin_abort) and go on from
 * whatever state the reopened pool shows (k or, after a failed final
 * flush, k+1); when abort itself fails the workload stops.  An IO error
 * that no op returns (the backend read the block again, or dropped the
 * error) is compared with the oracle no differently; with
 * stop_after_recovery the run stops after the next good commit once the
 * fault fired (simdisk_plan_fired), and the states from it are checked.
 *
 * An allocation failure (FAULT_NOMEM, FAULT_NOSPACE) counts as injected
 * only in the op during which it fired, and only as its own error (-ENOMEM,
 * -ENOSPC) or, once the pool is failed, any error: then abort and go on as
 * above.  Any other result is compared with the oracle as usual.
 *
 * A media fault (FAULT_BITROT, FAULT_LOST_SECTOR) returns no error: the
 * core must refuse the damaged block (-EILSEQ; -ENOTBLK when the damage
 * is in its location field; or -EIO from the pool it
 * poisoned), which counts as the injected error above, or carry on with
 * results the oracle agrees with.  With stop_after_recovery the run stops
 * after the first good commit after the fault fired, refused or not.
 *
 * A dm-cache scenario runs the cache workload (cache_scenario.h,
 * cache_workload.c) under the same rules, every fault kind and --fiu
 * alike; its caller policy after an injected error is the cache client's
 * (cache_client.h CC5).
 */
#ifndef PD_WORKLOAD_H
#define PD_WORKLOAD_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "datadev.h"
#include "oracle.h"
#include "scenario.h"
#include "simdisk.h"

struct cache_oracle;

enum marker {
	MK_OP = 1,
	MK_COMMIT_BEGIN = 2,
	MK_COMMIT_END = 3,
};

#define MK_UNCERTAIN (1ull << 63)

enum fault_kind {
	FAULT_NONE = 0,
	FAULT_READ,
	FAULT_WRITE,
	FAULT_FLUSH,
	/* media faults (simdisk.h, --media-faults): no error returned, the
	 * bytes differ; never sticky */
	FAULT_BITROT,			/* read nth returns a bit flipped */
	FAULT_LOST_SECTOR,		/* write nth loses a sector */
	/* allocation failures (--alloc-faults): hit nth of a libfiu point
	 * of the core fails, once (never sticky); hits are counted from the
	 * format on, in the pool's own calls only (see workload.c) */
	FAULT_NOMEM,			/* allocation nth (pd_malloc, pd_calloc,
					 * pd_realloc: core/alloc) returns
					 * NULL, or a space map's root copy
					 * (sm/copy_root, counted with them)
					 * answers -ENOMEM: the core returns
					 * -ENOMEM */
	FAULT_NOSPACE,			/* space-map new_block call nth
					 * (sm/new_block, metadata or data)
					 * returns -ENOSPC */
	/* IO errors on the data disk (datadev.h), counted on it alone, once
	 * or sticky: what dm-thin does with them is in datadev.h DD3, DD4 */
	FAULT_DATA_WRITE,		/* data write nth (FUA too) fails */
	FAULT_DATA_FLUSH,		/* data flush nth (the pre-commit
					 * callback, DD1) fails */
};

static inline int fault_is_media(enum fault_kind k)
{
	return k == FAULT_BITROT || k == FAULT_LOST_SECTOR;
}

static inline int fault_is_alloc(enum fault_kind k)
{
	return k == FAULT_NOMEM || k == FAULT_NOSPACE;
}

static inline int fault_is_data(enum fault_kind k)
{
	return k == FAULT_DATA_WRITE || k == FAULT_DATA_FLUSH;
}

/* Which kinds may be sticky (failed from nth on): the IO errors. */
static inline int fault_can_stick(enum fault_kind k)
{
	return k == FAULT_READ || k == FAULT_WRITE || k == FAULT_FLUSH ||
	       fault_is_data(k);
}

/* Called at every allocation hit n (1-based, per kind) of a run, before
 * the hit is failed or not; the sweep forks there (driver.c). */
typedef void (*alloc_hook_fn)(void *ctx, enum fault_kind kind, uint64_t n);

struct fault_spec {
	enum fault_kind kind;
	uint64_t nth;			/* 1-based, of that kind of IO */
	int sticky;			/* from nth on */
};

struct run_config {
	const struct scenario *sc;
	uint64_t seed;			/* for random ops and choices */
	unsigned cache_blocks;		/* 0: the scenario's */
	struct fault_spec fault;
	size_t op_limit;		/* run only the first N expanded ops; 0 all */
	int quiet;			/* no messages on stderr */
	int64_t keep_state;		/* keep the model of this committed
					 * state in res->kept (-1: none) */
	int stop_after_recovery;	/* stop once a commit succeeded after
					 * the first injected error */
	const char *fiu_name;		/* a libfiu point (core/fault.h) to fail
					 * at its fiu_nth hit, or NULL */
	uint64_t fiu_nth;
	simdisk_op_hook_fn sd_hook;	/* installed on the run's simdisk
					 * (simdisk_set_op_hook), or NULL */
	void *sd_hook_ctx;
	alloc_hook_fn alloc_hook;	/* counts the allocation hits (both
					 * kinds) and calls this at each, or
					 * NULL (a FAULT_NOMEM/NOSPACE run
					 * counts them without it) */
	void *alloc_hook_ctx;
	const struct client_ops *client;	/* the backend; NULL: core */
	int no_aim_extras;		/* aim=boundaries without the ops it
					 * adds (workload.c aim_extra): tests */
	void (*op_hook)(void *ctx, size_t i);	/* called before op i of
					 * the scenario runs, and with i =
					 * nr_ops after the last; or NULL (a
					 * thin pool run only) */
	void *op_hook_ctx;
};

/* 0 if name is a fault point of core/fault.h and this build has libfiu
 * points compiled in; -EINVAL unknown name; -EOPNOTSUPP FIU=0 build. */
int workload_fiu_check(const char *name);

/* One executed op, after expansion (map A..B becomes B-A+1 maps, random
 * lines become the ops they generated). */
struct run_op {
	struct op op;			/* kind, a, b, c (b == c for one block) */
	uint64_t seq;			/* simdisk log index where it started */
	int result;			/* what the core returned */
	uint64_t data_block;		/* map, write: the block allocated or
					 * written */
	uint64_t alloc_before[2];	/* allocation hits (FAULT_NOMEM,
					 * FAULT_NOSPACE) before it began */
};

struct run_result {
	struct simdisk *sd;		/* the log; owned */
	struct digest *digests;		/* committed states 0..nr_states-1 */
	uint64_t nr_states;
	struct run_op *ops;
	size_t nr_ops;
	uint64_t injected;		/* IO errors returned to the core */
	uint64_t first_error_seq;	/* log index where the op that met the
					 * first injected error began; 0 none */
	uint64_t recovered_seq;		/* log length when the recovery from
					 * it (abort, needs_check) was done */
	uint64_t needs_check_seq;	/* log length when the first needs-check
					 * op returned 0; 0 none */
	int stopped;			/* the pool died (abort failed) */
	int read_only;			/* the caller's policy left the pool
					 * read-only after an error (kernel) */
	const struct client_ops *client;	/* the backend it ran on */
	uint64_t skipped_ops;		/* ops this backend cannot answer
					 * here, named on stderr (workload.c
					 * note_skip); their result -EOPNOTSUPP */
	int live_failed;		/* the core disagreed with the oracle */
	char live_msg[512];
	struct pool_geometry geo;	/* as run */
	struct fault_spec fault;	/* as run (a sweep's fault run plans
					 * its fault part way) */
	struct oracle *kept;		/* see run_config.keep_state */
	struct cache_oracle *cache_kept;	/* the same, of a cache run: the
					 * state as a reopen reports it */
	struct mark_state *marks;	/* after each commit marker, in order */
	size_t nr_marks;
	struct datadev *dd;		/* the data device, when the scenario
					 * writes data (OP_WRITE); owned */
	uint64_t *data_leaks;		/* per committed state, the data
					 * blocks a failed data write left
					 * allocated and unmapped (datadev.h
					 * DD3); NULL when none ever was */
	/* allocation hits, counted when alloc_hook is set or the fault is an
	 * allocation failure: [0] core/alloc, [1] sm/new_block */
	uint64_t alloc_hits[2];
	int alloc_fired;		/* the planned allocation failure
					 * happened (at log index alloc_seq, */
	uint64_t alloc_seq;		/* in op alloc_op; SIZE_MAX: the format) */
	size_t alloc_op;
	/* The scenario's setup (scenario.h setup-done, driver.h SW1): */
	int has_setup;			/* the scenario has the line */
	int in_setup;			/* its ops before the line run now */
	uint64_t setup_seq;		/* log index where it ended */
	uint64_t setup_io[5];		/* IO ops before it: the metadata
					 * disk's reads, writes, flushes, the
					 * data disk's writes, flushes */
};

/* What the commit markers say after one of them (for workload_expect). */
struct mark_state {
	uint64_t seq;			/* log index of the marker */
	int64_t committed, begun;
	int uncertain;
};

/* 0, or -errno when the run could not be set up (not a finding). */
int workload_run(const struct run_config *cfg, struct run_result *res);
void run_result_free(struct run_result *res);

/* The expected-state window at a cut: states lo..hi are acceptable
 * (hi = lo + 1 or lo + 2 around uncertain and in-flight commits); lo is
 * -1 before the format committed (unformatted is acceptable). */
struct expect {
	int64_t lo, hi;
	int64_t committed;		/* the last committed state at the cut */
};
void workload_expect(const struct run_result *res, uint64_t cut,
		     struct expect *e);

/* The metadata log index of committed state k's commit-begin marker (0
 * for a state no commit-begin names, the format). */
uint64_t workload_commit_begin(const struct run_result *res, int64_t k);

/* An op the backend cannot answer as the grammar means it: its result
 * -EOPNOTSUPP, counted in res->skipped_ops, named on stderr the first time
 * of a run (*noted) unless cfg->quiet. */
void workload_note_skip(const struct run_config *cfg, struct run_result *res,
			struct run_op *ro, const char *backend, int *noted,
			const char *why);

/* The allocation hits of one run (thin or cache workload), counted and
 * the planned one failed (cfg->fault, FAULT_NOMEM / FAULT_NOSPACE) when
 * cfg->alloc_hook is set or the fault is an allocation failure; res gets
 * alloc_hits, alloc_fired, alloc_seq and alloc_op (the op running:
 * res->nr_ops - 1).  paused > 0: the harness's own calls into the core
 * (reading the metadata to compare it), whose allocations are not the
 * run's, neither counted nor failed. */
struct alloc_watch {
	const struct run_config *cfg;
	struct run_result *res;
	int paused;
};

/* Plan aw->cfg's fault on the run's simdisk sd (an IO error, a media
 * fault), arm cfg->fiu_name (fail its fiu_nth hit) and the allocation
 * points for aw (one run at a time in a process): 0; -EOPNOTSUPP a build
 * without libfiu points; -EBUSY --fiu names an allocation point the fault
 * plan fails too; -EINVAL.  Disarm after the run, also after a failed
 * arm. */
int workload_faults_arm(struct alloc_watch *aw, struct simdisk *sd);
void workload_faults_disarm(struct alloc_watch *aw);

/* 1 if the point cfg->fiu_name has failed in the run now armed and r is
 * its error: -EIO, or the point's own (core/alloc -ENOMEM, sm/new_block
 * -ENOSPC, sm/copy_root -ENOMEM). */
int workload_fiu_explains(const struct run_config *cfg, int r);

/* Recovery's allocation fault (explore.c, check_opts.recovery_alloc_fault):
 * the nth allocation (core/alloc) from now fails, once.  0; -EOPNOTSUPP a
 * build without libfiu points; -EBUSY while a workload's own allocation
 * points are armed (one user at a time in a process).  Disarm returns 1
 * if the allocation failed, else 0. */
int workload_recovery_alloc_arm(uint64_t nth);
int workload_recovery_alloc_disarm(void);

/* The error an allocation failure of kind k makes the core return. */
static inline int workload_alloc_errno(enum fault_kind k)
{
	return k == FAULT_NOMEM ? -ENOMEM : -ENOSPC;
}

/* Index of the op running at log position seq (or the last before it). */
size_t workload_op_at(const struct run_result *res, uint64_t seq);

#endif /* PD_WORKLOAD_H */
