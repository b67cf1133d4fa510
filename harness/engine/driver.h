/* harness/engine/driver.h - `pdcrash run`: scenarios x variants x crash states,
 * over worker processes, with the summary and the reports.
 *
 * Every scenario runs in two variants: NAME with its own cache size, and
 * NAME+small with a cache of SMALL_CACHE_BLOCKS, so dirty blocks are
 * written back in the middle of transactions; a cache=none scenario
 * (scenario.h) runs NAME alone, as it has no cache to shrink.  States are numbered in a
 * fixed order (cut, then choice); --shard K/N keeps state g iff
 * g % N == K, and --jobs spreads the kept states over worker processes
 * by segments of cuts that share a durable image (one base check each).
 * A worker checks states one after another and reports each result; a
 * worker that crashes or stops answering (a state hung) is replaced and
 * that state counts as a violation, so one bad state never ends a run.
 *
 * The sweeps (--io-errors, --media-faults, --alloc-faults) plan their
 * fault runs from the scenario's fault-free run:
 *  SW1  a scenario with a setup (scenario.h setup-done) has no fault
 *       planned in the IO ops and allocations before it: each sweep plans
 *       the ops after it as the ops of a whole run, numbered as in the
 *       whole run (ids replay without a setup of their own), and the
 *       allocation plan sees no site before it.  A setup that never ended
 *       (the pool died in it) plans nothing.  The crash states of the
 *       setup are explored all the same: a cut costs little, a fault run
 *       of a long setup the setup's length each.
 *
 * Environment: PDCRASH_STATE_TIMEOUT (seconds a state may take, default
 * STATE_TIMEOUT_SEC); self-test hooks PDCRASH_SELFTEST_CRASH=N and
 * PDCRASH_SELFTEST_HANG=N make recovery of kept state N crash (SIGSEGV)
 * or hang, to prove the run survives both.
 */
#ifndef PD_DRIVER_H
#define PD_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "explore.h"
#include "scenario.h"

#define SMALL_CACHE_BLOCKS 16
#define STATE_TIMEOUT_SEC 30
#define PLOT_BINS 100
#define MAX_READ_FAULTS 1000	/* --io-errors: reads failed per run, at most */
#define ALLOC_DEPTH_DEFAULT 16	/* --alloc-faults: innermost frames that
				 * make an allocation site */
#define ALLOC_DEPTH_MAX 32

/* --alloc-site: what else, beside the frames, makes an allocation site
 * (driver.c, "The allocation plan"): the first hit of each site fails. */
enum alloc_site {
	ALLOC_SITE_FRAMES,		/* the frames alone: once per run */
	ALLOC_SITE_OP,			/* and the kind of the op running */
	ALLOC_SITE_LINE,		/* and its scenario line and kind */
	ALLOC_SITE_EACH_OP,		/* and the op itself: once per op */
	ALLOC_SITE_NR
};
#define ALLOC_SITE_DEFAULT ALLOC_SITE_OP
extern const char *const alloc_site_names[ALLOC_SITE_NR];

struct run_opts {
	struct scenario **scenarios;
	size_t nr_scenarios;
	uint64_t seed;
	int tear;
	int io_errors;
	int media_faults;		/* --media-faults: bit rot at every read
					 * (bN), a lost sector at every write
					 * (zN), one run each */
	int alloc_faults;		/* --alloc-faults: an allocation failure
					 * (mN) and a space-map -ENOSPC (sN) at
					 * each new allocation site, a run each
					 * (driver.c, "The allocation plan") */
	unsigned alloc_depth;		/* --alloc-depth: frames of the call
					 * stack that make a site (0: default) */
	int alloc_site;			/* --alloc-site: enum alloc_site + 1
					 * (0: ALLOC_SITE_DEFAULT) */
	unsigned jobs;
	unsigned shard_k, shard_n;	/* n == 0: no sharding */
	const char *report_dir;		/* NULL: no files */
	int json;
	int progress;			/* a progress line on stderr */
	int no_continue;
	int no_memo;			/* check every state in full */
	int sample;			/* --sample: the bounded choices of
					 * explore.h; else exhaustive */
	uint64_t max_branches;		/* exhaustive: leaves per cut, at most
					 * (0: DEFAULT_MAX_BRANCHES) */
	const char *mutant;		/* for the report only */
	const struct client_ops *client;	/* --backend; NULL: core (ids
					 * then carry no @BACKEND) */
	const char *fiu_name;		/* --fiu NAME[:N] */
	uint64_t fiu_nth;
	int fail_fast;			/* stop at the first violation, once
					 * the state that showed it is done */
	/* For pdcrash minimize: */
	unsigned variants_mask;		/* bit v: run variant v (bit 0 NAME,
					 * bit 1 NAME+small); 0: both */
	const struct fault_spec *fault;	/* non-NULL: each variant runs once,
					 * with this fault (may be FAULT_NONE),
					 * and io_errors only turns on the
					 * failing first reopen, no sweep */
};

struct variant_stats {
	char name[128];
	uint64_t cut_points, states, log_ops, commits, injected, runs;
	uint64_t reads_sampled;		/* reads of the run when more than
					 * MAX_READ_FAULTS were failed in turn */
	uint64_t outcomes[OUT_NR];
	uint64_t media_runs;		/* runs with a media fault planned, */
	uint64_t media_fired;		/* in which it happened, */
	uint64_t media_refused;		/* and the core returned an error */
	uint64_t data_runs;		/* runs with a data-disk IO error
					 * planned (--io-errors), */
	uint64_t data_fired;		/* in which an op met it */
	uint64_t alloc_hits[2];		/* --alloc-faults: allocations and
					 * space-map new_block calls of the
					 * fault-free run, */
	uint64_t alloc_runs[2];		/* the fault runs planned of each, */
	uint64_t alloc_fired;		/* in how many the failure happened, */
	uint64_t alloc_failed;		/* and an op returned it */
	int has_setup;			/* SW1: the scenario has setup-done; */
	uint64_t setup_io[5];		/* the IO ops before it, of each
					 * kind the sweeps fail (UINT64_MAX:
					 * the setup never ended) */
	uint64_t plot[PLOT_BINS][OUT_NR];	/* outcomes along the op log */
	/* exhaustive mode (states counts leaves there): */
	uint64_t recoveries;		/* leaves whose recovery ran */
	uint64_t sampled;		/* states --sample would check */
	uint64_t incomplete_cuts;	/* cuts not covered in full */
	char first_incomplete[256];	/* where, and why */
	struct bignum states_total, states_covered;
	/* write-time invariants (writecheck.h), on every run's log: */
	uint64_t writes_checked, write_walks, write_violations;
};

struct violation {
	char id[200];
	char msg[400];
};

struct run_summary {
	struct variant_stats *variants;
	size_t nr_variants;
	struct violation *violations;
	size_t nr_violations;
	uint64_t states, cut_points, injected;
	uint64_t outcomes[OUT_NR];
	uint64_t media_runs, media_fired, media_refused;
	uint64_t data_runs, data_fired;	/* see variant_stats */
	uint64_t alloc_hits[2], alloc_runs[2], alloc_fired, alloc_failed;
	int sample;
	uint64_t recoveries, sampled, incomplete_cuts;
	struct bignum states_total, states_covered;
	uint64_t writes_checked, write_violations;	/* writecheck.h */
	double seconds;
	unsigned jobs;
	int live_failures;		/* a workload disagreed with its model */
	/* The first violation found, in the order found (violations[] is
	 * sorted by id): its id and the seconds from the start to it. */
	char first_id[200];
	double first_seconds;
	double started;			/* internal: when the run began */
};

/* 0 when it ran (look at the summary for violations), -errno otherwise. */
int driver_run(const struct run_opts *opts, struct run_summary *sum);
void run_summary_free(struct run_summary *sum);


#endif /* PD_DRIVER_H */
