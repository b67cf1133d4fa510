/* harness/pdcrash/search.c - `pdcrash search`: coverage-guided workloads
 * (DESIGN.md 9), as syzkaller searches system-call programs.
 *
 * The corpus starts as the seed scenarios (scenarios/ and its subfolders,
 * or --seed-dir) and the .scn files already in the corpus folder.  Each
 * candidate is a corpus entry mutated (harness/engine/mutate.h: lines
 * inserted, deleted, duplicated, moved; ranges changed and cut; devices
 * changed; two scenarios spliced; geometry and cache changed; commits,
 * aborts, snapshots, metadata snapshots and resizes put at new places),
 * and ends with a `check` op, so a reference count gone wrong is a live
 * failure whatever its coverage.
 *
 * Which entry: three times in four pick_rare (an edge drawn with weight
 * 1/(entries that reach it), the cheapest entry reaching it), else any,
 * recent finds favoured (dm-cache scenarios are run, not mutated).
 * Targeted steps: one candidate in two is its entry with one to three
 * steps (a snapshot of the op's device most often, a commit, both, an
 * abort, a metadata snapshot; scenario_step_before), each right before the
 * place where an edge its ops reach is first reached, a rare edge most often
 * (pick_tedge).  Which op first reaches each edge comes from one run of
 * the entry with an op hook (targets_of); the place inside a range or a
 * random line from prefixes of the entry, when an edge is drawn
 * (place_edge).  A rare path then runs on shared, committed or
 * rolled-back metadata, the shape of most edge cases in scenarios/reach/.
 *
 * Coverage signal: the edges of core/, counted by SanitizerCoverage's
 * inline 8-bit counters (make search builds build/search/pdcrash with
 * core/ alone instrumented by clang; harness/engine/sancov.h reads them in
 * process).  A candidate is kept when its live run reaches an edge no
 * earlier run reached.
 *
 * Each candidate runs live against the oracle (workload_run) in a forked
 * child, which hands back its counters through shared memory; a crash or
 * hang of that child (more than SEARCH_LIVE_CPU seconds of CPU), or a
 * disagreement with the oracle, is a finding.
 * A kept candidate is written to the corpus folder (cNNNNNNN.scn, NNN the
 * candidate's number) and, named by that path, goes through the full crash
 * exploration of `pdcrash run` (exhaustive, both cache variants; a costly
 * one later, SEARCH_LATER_*), then
 * through --faults IO-error runs: the fault plans are drawn from the
 * reads, writes and flushes of its live run (kind, number, once or
 * sticky), each run with the failing first reopen of --io-errors.
 *
 * Determinism (SE1): candidate g is made from a PRNG seeded by (--seed, g)
 * and the corpus as it stood at the start of g's batch (SEARCH_BATCH
 * candidates; the targets, the edge counts and the entries' costs are
 * functions of it); a batch's results are taken in candidate order, so the
 * corpus, the findings and the files do not depend on --jobs.  Every child
 * starts from the same core state: the core's lazily set statics are set
 * before the first run (explorations run core/ in this process).  --shard K/N
 * keeps candidates g with g % N == K.  --runs bounds the candidates,
 * --seconds the time (checked between batches).
 *
 * A violation is printed with its id and minimized (minimize.c's
 * machinery, minimize_id()) into the corpus folder; the search stops at
 * the first one unless --keep-going.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crc32c.h"
#include "commands.h"
#include "driver.h"
#include "errors.h"
#include "liveid.h"
#include "minimize.h"
#include "mutate.h"
#include "sancov.h"

#define SEARCH_BATCH 8
#define SEARCH_RARE_SCALE 720720	/* lcm(1..16): edge weights 1/count */
#define SEARCH_TARGET_ONE_IN 2		/* targeted candidates (targets_of) */
#define SEARCH_TARGET_STEPS 3		/* steps in one, at most */
#define SEARCH_PROBE_WAYS 2		/* prefixes run a round (place_edge) */
#define SEARCH_TARGET_PROBES 160	/* runs to place them, at most */
#define SEARCH_TARGET_BUDGET 200000000	/* probes times the entry's cost */
#define SEARCH_HEADER_LINES 2		/* comment lines atop a corpus file */
/* A kept candidate over either bound (scenario_cost: the oracle's work,
 * which each crash state's check repeats; writes and flushes of its live
 * run: the cuts) is explored later, the oldest one every
 * SEARCH_LATER_EVERY candidates: one such exploration took minutes, the
 * live runs meanwhile none. */
#define SEARCH_LATER_COST 2000000
#define SEARCH_LATER_IO 5000
#define SEARCH_LATER_EVERY 256
#define SEARCH_FAULTS 3
#define SEARCH_HEAVY 5000		/* blocks: a costly entry to mutate */
#define SEARCH_MAX_BRANCHES 20000
/* A live run that takes more than this much CPU is a hang: CPU time, so
 * that a loaded machine does not make slow candidates findings; the wall
 * clock bound catches a run that waits on nothing. */
#define SEARCH_LIVE_CPU 60
#define SEARCH_LIVE_WALL 900
#define LIVE_MSG_MAX 400
/* A live disagreement that is the core running out of metadata space,
 * which the oracle does not model yet (DESIGN.md 10): such a candidate is
 * kept for its coverage but not reported. */
#define NOSPACE_MSG "-28 (no space left in the space map)"

struct search_opts {
	uint64_t seed;
	double seconds;			/* 0: no time bound */
	uint64_t runs;			/* 0: no bound on candidates */
	unsigned jobs;
	unsigned shard_k, shard_n;
	const char *corpus;
	const char *seed_dir;
	const char *mutant;
	unsigned faults;
	uint64_t max_branches;
	int keep_going;
	int no_minimize;
	int live_only;			/* no crash exploration (measuring) */
	int progress;
};

/* A place in a scenario: op `op`, and for a range its at-th block (for
 * a random line its at-th generated op). */
struct target {
	size_t op;
	uint64_t at;
};

struct entry {
	struct scenario *sc;
	uint64_t weight;
	uint64_t cost;			/* scenario_cost */
	uint8_t *cov;			/* edges its live run reached (non-zero),
					 * NULL until it ran */
	uint32_t *tedge;		/* edges its ops first reach (targets_of) */
	uint32_t *top;			/* per tedge: the op that does */
	int64_t *tlo, *thi;		/* per tedge: a place whose prefix does
					 * not reach it, and one whose does */
	size_t nr_tedges;
	int targeted;			/* targets_of ran */
};

/* What a child hands back (followed by the counters, then, of a
 * first-reach run, per edge the op before which it was not yet reached:
 * FIRST_NONE never, FIRST_SETUP before the first op). */
#define FIRST_NONE UINT32_MAX
#define FIRST_SETUP (UINT32_MAX - 1)

struct slot {
	int done;
	int live_failed;
	uint64_t reads, writes, flushes;
	char msg[LIVE_MSG_MAX];
};

/* A kept candidate whose exploration waits (search_loop). */
struct later {
	size_t idx;			/* in the corpus */
	uint64_t g;			/* candidate number */
	struct slot io;			/* its live run's counts */
};

struct search {
	struct search_opts o;
	struct entry *corpus;
	size_t nr_corpus, cap_corpus;
	size_t nr_seeds;
	size_t nr_cache;		/* dm-cache scenarios among them */
	uint8_t *seen;
	size_t nr_edges, nr_seen;
	uint32_t *freq;			/* per edge: entries that reach it */
	uint32_t *top;			/* per edge: the cheapest entry that
					 * reaches it (index) */
	uint64_t candidates, kept, crash_runs, fault_runs, states;
	uint64_t targeted, probes;	/* targeted candidates, their probe runs */
	uint64_t violations, nospace;
	double t0, first_seconds;
	double t_live, t_targets, t_crash, t_faults;	/* seconds in each */
	char first_id[200];
	int stop;
	struct later *later;		/* kept, their exploration deferred */
	size_t nr_later, cap_later, later_done;
	uint64_t later_at;		/* candidates: the next one explored */
};

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The entry's live run reached the edges of cov: count them. */
static int entry_cover(struct search *s, size_t i, const uint8_t *cov)
{
	struct entry *e = &s->corpus[i];
	uint64_t cost = e->cost;

	e->cov = malloc(s->nr_edges);
	if (!e->cov)
		return -ENOMEM;
	memcpy(e->cov, cov, s->nr_edges);
	if (e->sc->geo.is_cache)
		return 0;	/* not mutated (pick_entry): no edge held */
	for (size_t k = 0; k < s->nr_edges; k++) {
		if (!cov[k])
			continue;
		if (!s->freq[k]++ || s->corpus[s->top[k]].cost > cost)
			s->top[k] = (uint32_t)i;
	}
	return 0;
}

static int add_entry(struct search *s, struct scenario *sc)
{
	if (s->nr_corpus == s->cap_corpus) {
		size_t cap = s->cap_corpus ? s->cap_corpus * 2 : 64;
		struct entry *e = realloc(s->corpus, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		s->corpus = e;
		s->cap_corpus = cap;
	}
	memset(&s->corpus[s->nr_corpus], 0, sizeof(s->corpus[0]));
	s->corpus[s->nr_corpus].sc = sc;
	s->corpus[s->nr_corpus].weight = scenario_weight(sc);
	s->corpus[s->nr_corpus].cost = scenario_cost(sc);
	s->nr_cache += sc->geo.is_cache != 0;
	s->nr_corpus++;
	return 0;
}

/* add_entry, with the coverage of its live run (from a slot). */
static int add_covered(struct search *s, struct scenario *sc,
		       const struct slot *sl)
{
	int r = add_entry(s, sc);

	if (!r)
		r = entry_cover(s, s->nr_corpus - 1, (const uint8_t *)(sl + 1));
	return r;
}

static size_t slot_size(const struct search *s)
{
	return (sizeof(struct slot) + s->nr_edges * 5 + 4 + 63) & ~(size_t)63;
}

static uint32_t *slot_firsts(const struct search *s, struct slot *sl)
{
	return (uint32_t *)((uint8_t *)(sl + 1) +
			    ((s->nr_edges + 3) & ~(size_t)3));
}

/* The op hook of a probe: the counters as the last op left them (not
 * the teardown's, which a prefix would reach early); of a first-reach
 * run also the edges reached since the last call, first reached by the
 * op that ran since (or the setup). */
enum live_mode { LIVE_RUN, LIVE_FIRSTS, LIVE_PROBE };

struct first_ctx {
	const struct search *s;
	struct slot *out;
	uint32_t *first;		/* NULL: a probe */
	uint32_t last;			/* the op running, or FIRST_SETUP */
	size_t nr_ops;
};

static void first_hook(void *ctx, size_t i)
{
	struct first_ctx *f = ctx;
	const uint8_t *c = sancov_counters();

	if (f->first)
		for (size_t k = 0; k < f->s->nr_edges; k++)
			if (c[k] && f->first[k] == FIRST_NONE)
				f->first[k] = f->last;
	f->last = (uint32_t)i;
	if (i == f->nr_ops)
		memcpy((uint8_t *)(f->out + 1), c, f->s->nr_edges);
}

/* The child: run sc live, hand back counters and verdict (enum
 * live_mode: first_hook); never returns. */
static void live_child(const struct search *s, const struct scenario *sc,
		       struct slot *out, enum live_mode mode)
{
	struct run_config cfg = { .sc = sc, .seed = 1, .keep_state = -1,
				  .quiet = 1 };
	struct first_ctx f = { s, out, NULL, FIRST_SETUP, sc->nr_ops };
	struct run_result res;
	int r;

	if (mode == LIVE_FIRSTS) {
		f.first = slot_firsts(s, out);
		for (size_t k = 0; k < s->nr_edges; k++)
			f.first[k] = FIRST_NONE;
	}
	if (mode != LIVE_RUN) {
		cfg.op_hook = first_hook;
		cfg.op_hook_ctx = &f;
	}

	struct rlimit cpu = { SEARCH_LIVE_CPU, SEARCH_LIVE_CPU + 1 };
	struct rlimit core = { 0, 0 };

	setrlimit(RLIMIT_CPU, &cpu);
	setrlimit(RLIMIT_CORE, &core);
	alarm(SEARCH_LIVE_WALL);
	sancov_reset();
	r = workload_run(&cfg, &res);
	if (mode == LIVE_RUN)
		memcpy((uint8_t *)(out + 1), sancov_counters(), s->nr_edges);
	if (r) {
		snprintf(out->msg, sizeof(out->msg), "the run could not be set "
			 "up: %s", pd_strerror(r));
		_exit(3);
	}
	out->live_failed = res.live_failed;
	if (res.live_failed)
		snprintf(out->msg, sizeof(out->msg), "%.390s", res.live_msg);
	out->reads = simdisk_count(res.sd, SD_READ);
	out->writes = simdisk_count(res.sd, SD_WRITE);
	out->flushes = simdisk_count(res.sd, SD_FLUSH);
	out->done = 1;
	_exit(0);
}

/* Run scs[0..n-1] live, at most jobs at a time; slots filled (as mode
 * says); status[i] the child's wait status.  0 or -errno. */
static int run_live_mode(const struct search *s, struct scenario **scs,
			 size_t n, uint8_t *mem, int *status,
			 enum live_mode mode)
{
	pid_t pids[SEARCH_BATCH];
	size_t next = 0, running = 0, done = 0;

	memset(mem, 0, n * slot_size(s));
	fflush(NULL);
	while (done < n) {
		while (next < n && running < s->o.jobs) {
			pid_t pid = fork();

			if (pid < 0)
				return -errno;
			if (pid == 0)
				live_child(s, scs[next],
					   (struct slot *)(mem + next * slot_size(s)),
					   mode);
			pids[next++] = pid;
			running++;
		}
		int st;
		pid_t pid = wait(&st);
		if (pid < 0)
			return -errno;
		for (size_t i = 0; i < next; i++)
			if (pids[i] == pid) {
				status[i] = st;
				running--;
				done++;
			}
	}
	return 0;
}

static int run_live(const struct search *s, struct scenario **scs, size_t n,
		    uint8_t *mem, int *status)
{
	return run_live_mode(s, scs, n, mem, status, LIVE_RUN);
}

/* New edges in counters (and mark them seen when add). */
static size_t new_edges(struct search *s, const uint8_t *c, int add)
{
	size_t k = 0;

	for (size_t i = 0; i < s->nr_edges; i++) {
		if (c[i] && !s->seen[i]) {
			k++;
			if (add) {
				s->seen[i] = 1;
				s->nr_seen++;
			}
		}
	}
	return k;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static void found(struct search *s, const char *id, const char *msg)
{
	s->violations++;
	if (!s->first_id[0]) {
		snprintf(s->first_id, sizeof(s->first_id), "%s", id);
		s->first_seconds = now_sec() - s->t0;
	}
	if (s->o.progress)
		fprintf(stderr, "\r%*s\r", 78, "");
	printf("violation: %s\n  %s\n", id, msg);
	printf("replay: %s replay %s%s%s\n", pdcrash_prog_name, id,
	       s->o.mutant ? " --mutant " : "", s->o.mutant ? s->o.mutant : "");
	printf("found after %.1f s, %" PRIu64 " candidates\n",
	       now_sec() - s->t0, s->candidates);
	fflush(stdout);
	if (!s->o.no_minimize) {
		char out[PATH_MAX];

		snprintf(out, sizeof(out), "%s/min-%" PRIu64 ".scn", s->o.corpus,
			 s->violations);
		struct minimize_req req = {
			.idtext = id, .mutant = s->o.mutant, .outpath = out,
			.quiet_progress = 1,
		};
		minimize_id(&req);
		fflush(stdout);
	}
	if (!s->o.keep_going)
		s->stop = 1;
}

/* One driver run of sc (named by its corpus path): 0, or -errno. */
static int explore(struct search *s, struct scenario *sc,
		   const struct fault_spec *fault)
{
	struct scenario *scs[1] = { sc };
	struct run_opts o = {
		.scenarios = scs, .nr_scenarios = 1, .seed = 1,
		.jobs = s->o.jobs, .max_branches = s->o.max_branches,
		.mutant = s->o.mutant, .fault = fault,
		.io_errors = fault != NULL,
		.variants_mask = fault ? 1 : 0,
	};
	struct run_summary sum;
	int r = driver_run(&o, &sum);

	if (r) {
		run_summary_free(&sum);
		return r;
	}
	s->states += sum.states;
	/* live failures come first in the sorted list, then crash states */
	if (sum.nr_violations)
		found(s, sum.violations[0].id, sum.violations[0].msg);
	run_summary_free(&sum);
	return 0;
}

static void sample_faults(struct search *s, uint64_t g, const struct slot *sl,
			  struct fault_spec *f, unsigned *nf)
{
	struct prng p;
	uint64_t counts[3] = { sl->reads, sl->writes, sl->flushes };
	static const enum fault_kind kinds[3] = { FAULT_READ, FAULT_WRITE,
						  FAULT_FLUSH };

	prng_seed(&p, prng_derive(s->o.seed, g * 2 + 1));
	*nf = 0;
	if (!counts[0] && !counts[1] && !counts[2])
		return;
	for (unsigned i = 0; i < s->o.faults; i++) {
		unsigned k;

		do
			k = (unsigned)prng_below(&p, 3);
		while (!counts[k]);
		f[*nf].kind = kinds[k];
		f[*nf].nth = 1 + prng_below(&p, counts[k]);
		f[*nf].sticky = (int)prng_below(&p, 2);
		(*nf)++;
	}
}

/* The crash exploration and the IO-error runs of a kept candidate (sl:
 * its live run's counts).  0 or -errno. */
static int explore_kept(struct search *s, uint64_t g, struct scenario *sc,
			const struct slot *sl)
{
	struct fault_spec f[16];
	unsigned nf;
	int r;

	s->crash_runs++;
	double t = now_sec();
	r = explore(s, sc, NULL);
	s->t_crash += now_sec() - t;
	t = now_sec();
	sample_faults(s, g, sl, f, &nf);
	for (unsigned i = 0; !r && !s->stop && i < nf; i++) {
		s->fault_runs++;
		r = explore(s, sc, &f[i]);
	}
	s->t_faults += now_sec() - t;
	return r;
}

/* A kept candidate: write it, load it by its path, explore it (a costly
 * one later: search_loop). */
static int keep(struct search *s, uint64_t g, struct scenario *cand,
		const struct slot *sl, size_t nnew, const char *what)
{
	char path[PATH_MAX], header[600];
	struct scenario *sc;
	char *text;
	int r;

	snprintf(path, sizeof(path), "%s/c%07" PRIu64 ".scn", s->o.corpus, g);
	snprintf(header, sizeof(header),
		 "# pdcrash search --seed %" PRIu64 ", candidate %" PRIu64
		 ": %zu new edges of core/\n# %s\n", s->o.seed, g, nnew, what);
	text = scenario_to_text(cand, header);
	if (!text)
		return -ENOMEM;
	r = write_text(path, text);
	free(text);
	if (r) {
		fprintf(stderr, "pdcrash: cannot write %s: %s\n", path, strerror(-r));
		return r;
	}
	if (cli_load_named(path, &sc))
		return -EINVAL;
	s->kept++;
	if (sl->live_failed && strstr(sl->msg, NOSPACE_MSG)) {
		/* out of metadata space: not modelled yet (DESIGN.md 10) */
		s->nospace++;
		return add_covered(s, sc, sl);
	}
	if (sl->live_failed) {
		char id[200];
		struct fault_spec none = { 0 };

		live_id_format(sc->name, 1, &none, id, sizeof(id));
		found(s, id, sl->msg);
		return add_covered(s, sc, sl);
	}
	if (s->o.live_only)
		return add_covered(s, sc, sl);
	if (scenario_cost(sc) > SEARCH_LATER_COST ||
	    sl->writes + sl->flushes > SEARCH_LATER_IO) {
		struct later *l;

		if (s->nr_later == s->cap_later) {
			size_t cap = s->cap_later ? s->cap_later * 2 : 16;

			l = realloc(s->later, cap * sizeof(*l));
			if (!l) {
				scenario_free(sc);
				return -ENOMEM;
			}
			s->later = l;
			s->cap_later = cap;
		}
		l = &s->later[s->nr_later++];
		l->idx = s->nr_corpus;
		l->g = g;
		l->io = *sl;
		return add_covered(s, sc, sl);
	}
	r = explore_kept(s, g, sc, sl);
	if (r) {
		scenario_free(sc);
		return r;
	}
	return add_covered(s, sc, sl);
}

/* A child that died: a crash or hang of the live run is a finding. */
static int child_died(struct search *s, uint64_t g, struct scenario *cand,
		      int st, const struct slot *sl)
{
	char path[PATH_MAX], id[200], msg[200];
	char *text = scenario_to_text(cand, "# pdcrash search: the live run "
				      "of this candidate crashed or hung\n#\n");
	struct fault_spec none = { 0 };

	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/c%07" PRIu64 ".scn", s->o.corpus, g);
	write_text(path, text);
	free(text);
	path[strlen(path) - 4] = 0;
	live_id_format(path, 1, &none, id, sizeof(id));
	if (WIFSIGNALED(st))
		snprintf(msg, sizeof(msg), "the live run %s (signal %d)",
			 WTERMSIG(st) == SIGALRM || WTERMSIG(st) == SIGXCPU ?
			 "hung" : "crashed",
			 WTERMSIG(st));
	else
		snprintf(msg, sizeof(msg), "the live run exited %d: %s",
			 WEXITSTATUS(st), sl->msg);
	s->violations++;
	if (!s->first_id[0]) {
		snprintf(s->first_id, sizeof(s->first_id), "%s", id);
		s->first_seconds = now_sec() - s->t0;
	}
	printf("violation: %s\n  %s\n", id, msg);
	if (!s->o.keep_going)
		s->stop = 1;
	return 0;
}

/* Any entry but a dm-cache scenario: mutate.h's mutations are of thin
 * pool ops (the seeds' first entry is one when they hold any). */
static size_t pick_thin(const struct search *s, struct prng *p)
{
	size_t n = s->nr_corpus - s->nr_cache, i = prng_below(p, n ? n : 1);

	for (size_t k = 0; k < s->nr_corpus; k++)
		if (!s->corpus[k].sc->geo.is_cache && !i--)
			return k;
	return 0;
}

/* An edge drawn with weight 1/(entries that reach it), and the cheapest
 * entry that reaches it; SIZE_MAX when no entry has run. */
static size_t pick_rare(const struct search *s, struct prng *p)
{
	uint64_t total = 0, x;

	for (size_t k = 0; k < s->nr_edges; k++)
		if (s->freq[k])
			total += SEARCH_RARE_SCALE / s->freq[k];
	if (!total)
		return SIZE_MAX;
	x = prng_below(p, total);
	for (size_t k = 0; k < s->nr_edges; k++) {
		uint64_t w = s->freq[k] ? SEARCH_RARE_SCALE / s->freq[k] : 0;

		if (x < w)
			return s->top[k];
		x -= w;
	}
	return SIZE_MAX;
}

/* The entry to mutate.  Three times in four by pick_rare: the entries
 * that hold rare edges, and the small ones among them, are mutated most.
 * Else recent finds weigh as much as the rest, and an entry of more than
 * SEARCH_HEAVY blocks is taken one time in four. */
static size_t pick_entry(struct search *s, struct prng *p)
{
	size_t n = s->nr_corpus, added = n - s->nr_seeds, i;

	if (prng_below(p, 4) && (i = pick_rare(s, p)) != SIZE_MAX)
		return i;
	for (int tries = 0; ; tries++) {
		if (added && prng_below(p, 2))
			i = n - 1 - prng_below(p, added < 16 ? added : 16);
		else
			i = pick_thin(s, p);
		if (tries == 3 || s->corpus[i].weight <= SEARCH_HEAVY ||
		    !prng_below(p, 4))
			return i;
	}
}

/* Places in a scenario: each block of a range, each op of a random line,
 * each other op.  Op i has op_places() of them. */
static uint64_t op_places(const struct op *op)
{
	switch (op->kind) {
	case OP_MAP:
	case OP_UNMAP:
	case OP_UNMAP_RANGE:
	case OP_WRITE:
	case OP_LOOKUP:
		return op->c > op->b ? op->c - op->b + 1 : 1;
	case OP_RANDOM:
		return op->a > 1 ? op->a : 1;
	default:
		return 1;
	}
}

/* Place t (counted from 0 over the whole scenario) as op and offset. */
static struct target place(const struct scenario *sc, uint64_t t)
{
	struct target x = { .op = 0 };

	for (size_t i = 0; i < sc->nr_ops; i++) {
		uint64_t n = op_places(&sc->ops[i]);

		if (t < n) {
			x.op = i;
			x.at = t;
			return x;
		}
		t -= n;
	}
	return x;
}

/* sc run up to place t, inclusive: ops run in order, so its edges are
 * those the whole run reached by then. */
static int prefix(const struct scenario *sc, uint64_t t, struct scenario **out)
{
	struct target x = place(sc, t);
	struct op *op;
	int r = scenario_clone(sc, sc->name, out);

	if (r)
		return r;
	(*out)->nr_ops = x.op + 1;
	op = &(*out)->ops[x.op];
	if (op->kind == OP_RANDOM)
		op->a = x.at + 1;
	else if (op_places(op) > 1)
		op->c = op->b + x.at;
	return 0;
}

/*
 * Which edges entry i's ops first reach, and where: one first-reach run
 * (LIVE_FIRSTS) says by which op, so an edge of a one-place op is placed;
 * inside an op of several places (the blocks of a range, the ops of a
 * random line) its place is found when a candidate draws it (place_edge).
 * Computed once per entry.  0 or -errno.
 */
static int targets_of(struct search *s, size_t i, uint8_t *mem)
{
	struct entry *e = &s->corpus[i];
	const uint32_t *first = slot_firsts(s, (struct slot *)mem);
	uint64_t *start;
	int status[1], r;
	double t0 = now_sec();

	if (e->targeted || !e->cov)
		return 0;
	e->targeted = 1;
	start = malloc((e->sc->nr_ops + 1) * sizeof(*start));
	e->tedge = malloc(s->nr_edges * sizeof(*e->tedge));
	e->tlo = malloc(s->nr_edges * sizeof(*e->tlo));
	e->thi = malloc(s->nr_edges * sizeof(*e->thi));
	e->top = malloc(s->nr_edges * sizeof(*e->top));
	if (!start || !e->tedge || !e->tlo || !e->thi || !e->top) {
		free(start);
		return -ENOMEM;
	}
	start[0] = 0;
	for (size_t k = 0; k < e->sc->nr_ops; k++)
		start[k + 1] = start[k] + op_places(&e->sc->ops[k]);
	r = run_live_mode(s, &e->sc, 1, mem, status, LIVE_FIRSTS);
	s->probes++;
	for (size_t k = 0; !r && ((struct slot *)mem)->done &&
			   k < s->nr_edges; k++) {
		uint32_t op = first[k];

		if (!e->cov[k] || op >= e->sc->nr_ops)
			continue;	/* not reached, or by setup, teardown */
		e->tedge[e->nr_tedges] = (uint32_t)k;
		e->top[e->nr_tedges] = op;
		e->tlo[e->nr_tedges] = (int64_t)start[op] - 1;
		e->thi[e->nr_tedges++] = (int64_t)start[op + 1] - 1;
	}
	free(start);
	s->t_targets += now_sec() - t0;
	return r;
}

/*
 * Place entry i's tedge j: SEARCH_PROBE_WAYS prefixes a round, evenly
 * inside its interval, run as probes (LIVE_PROBE); every edge of the
 * entry whose interval holds a probe learns from it.  A fixed number a
 * round, so that the place found does not depend on --jobs even for an
 * edge a longer prefix may miss.  At most SEARCH_TARGET_PROBES runs, fewer
 * for a costly entry.  0 (placed when thi - tlo == 1) or -errno.
 */
static int place_edge(struct search *s, size_t i, size_t j, uint8_t *mem)
{
	struct entry *e = &s->corpus[i];
	uint64_t budget = SEARCH_TARGET_BUDGET / (e->cost + 1), probes = 0;
	size_t ss = slot_size(s);
	double t0 = now_sec();
	int r = 0;

	if (budget > SEARCH_TARGET_PROBES)
		budget = SEARCH_TARGET_PROBES;
	while (e->thi[j] - e->tlo[j] > 1 && probes < budget) {
		struct scenario *scs[SEARCH_PROBE_WAYS];
		int64_t at[SEARCH_PROBE_WAYS], lo = e->tlo[j], hi = e->thi[j];
		int status[SEARCH_PROBE_WAYS];
		size_t nm = 0;

		for (int64_t m = 1; m <= SEARCH_PROBE_WAYS; m++) {
			int64_t x = lo + (hi - lo) * m / (SEARCH_PROBE_WAYS + 1);

			if (x <= lo || x >= hi || (nm && at[nm - 1] == x))
				continue;
			r = prefix(e->sc, (uint64_t)x, &scs[nm]);
			if (r)
				break;
			at[nm++] = x;
		}
		if (!r && nm)
			r = run_live_mode(s, scs, nm, mem, status, LIVE_PROBE);
		for (size_t m = 0; m < nm; m++)
			scenario_free(scs[m]);
		if (r || !nm)
			break;
		probes += nm;
		s->probes += nm;
		for (size_t m = 0; m < nm; m++) {
			const struct slot *sl = (const struct slot *)(mem + m * ss);

			if (!sl->done)
				continue;
			for (size_t t = 0; t < e->nr_tedges; t++) {
				if (at[m] <= e->tlo[t] || at[m] >= e->thi[t])
					continue;
				if (((const uint8_t *)(sl + 1))[e->tedge[t]])
					e->thi[t] = at[m];
				else
					e->tlo[t] = at[m];
			}
		}
	}
	s->t_targets += now_sec() - t0;
	return r;
}

/*
 * One of e's tedges drawn, the places of rare edges stepped before most:
 * an edge weighs SEARCH_RARE_SCALE / (entries that reach it), scaled so
 * that the edges an op first reaches weigh together what the rarest of
 * them does (an op that first reaches many rare edges, as the first of
 * its kind does, is one place; a range's places share its weight).
 * SIZE_MAX on -ENOMEM.
 */
static size_t pick_tedge(const struct search *s, const struct entry *e,
			 struct prng *p)
{
	uint64_t *mx = calloc(e->sc->nr_ops * 2, sizeof(*mx)), *sum, total = 0;
	size_t j, pick = e->nr_tedges - 1;

	if (!mx)
		return SIZE_MAX;
	sum = mx + e->sc->nr_ops;
	for (j = 0; j < e->nr_tedges; j++) {
		uint64_t w = SEARCH_RARE_SCALE / s->freq[e->tedge[j]];

		if (w > mx[e->top[j]])
			mx[e->top[j]] = w;
		sum[e->top[j]] += w;
	}
	for (j = 0; j < e->nr_tedges; j++)
		total += SEARCH_RARE_SCALE / s->freq[e->tedge[j]] *
			 mx[e->top[j]] / sum[e->top[j]];
	uint64_t x = prng_below(p, total ? total : 1);
	for (j = 0; j < e->nr_tedges; j++) {
		uint64_t w = SEARCH_RARE_SCALE / s->freq[e->tedge[j]] *
			     mx[e->top[j]] / sum[e->top[j]];

		if (x < w) {
			pick = j;
			break;
		}
		x -= w;
	}
	free(mx);
	return pick;
}

static int make_candidate(struct search *s, uint64_t g, struct scenario **out,
			  char *what, size_t len, uint8_t *mem)
{
	struct prng p;
	char name[64];
	size_t a, b;
	int r;

	prng_seed(&p, prng_derive(s->o.seed, g * 2));
	a = pick_entry(s, &p);
	b = pick_thin(s, &p);
	snprintf(name, sizeof(name), "c%07" PRIu64, g);
	r = scenario_clone(s->corpus[a].sc, name, out);
	if (r)
		return r;
	int k = snprintf(what, len, "from %s: ", s->corpus[a].sc->name);
	const struct entry *e = &s->corpus[a];
	struct target t[SEARCH_TARGET_STEPS];
	size_t nt = 0;

	if (!prng_below(&p, SEARCH_TARGET_ONE_IN)) {
		size_t steps = 1 + prng_below(&p, SEARCH_TARGET_STEPS);

		if ((r = targets_of(s, a, mem)))
			return r;
		for (size_t m = 0; m < steps && e->nr_tedges; m++) {
			size_t j = pick_tedge(s, e, &p), x;

			if (j == SIZE_MAX)
				return -ENOMEM;
			if ((r = place_edge(s, a, j, mem)))
				return r;
			if (e->thi[j] - e->tlo[j] != 1)
				continue;	/* not placed */
			struct target y = place(e->sc, (uint64_t)e->thi[j]);
			for (x = nt; x && (t[x - 1].op < y.op || (t[x - 1].op ==
			     y.op && t[x - 1].at < y.at)); x--)
				t[x] = t[x - 1];	/* last place first */
			t[x] = y;
			nt++;
		}
	}
	if (nt) {
		s->targeted++;
		k += snprintf(what + k, len - k, "target: ");
		for (size_t m = 0; m < nt && !r; m++) {
			if (m && t[m].op == t[m - 1].op && t[m].at == t[m - 1].at)
				continue;
			r = scenario_step_before(*out, t[m].op, t[m].at, &p,
						 what + k, len - k);
			k += (int)strlen(what + k);
		}
	} else {
		r = scenario_mutate(*out, s->corpus[b].sc, &p, what + k, len - k);
	}
	if (!r && scenario_end_with_check(*out) == -ENOMEM)
		r = -ENOMEM;
	scenario_number_lines(*out, SEARCH_HEADER_LINES);
	return r;
}

static int search_loop(struct search *s)
{
	size_t ss = slot_size(s);
	uint8_t *mem = mmap(NULL, SEARCH_BATCH * ss, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t g = 0;
	double last = 0;
	int r = 0;

	if (mem == MAP_FAILED)
		return -errno;
	while (!s->stop && !r) {
		struct scenario *scs[SEARCH_BATCH];
		char whats[SEARCH_BATCH][MUTATE_WHAT_MAX];
		uint64_t gs[SEARCH_BATCH];
		int status[SEARCH_BATCH];
		size_t n = 0;

		if (s->o.seconds && now_sec() - s->t0 >= s->o.seconds)
			break;
		while (n < SEARCH_BATCH && (!s->o.runs ||
					    s->candidates + n < s->o.runs)) {
			if (!s->o.shard_n || g % s->o.shard_n == s->o.shard_k) {
				r = make_candidate(s, g, &scs[n], whats[n],
						   sizeof(whats[n]), mem);
				if (r)
					break;
				gs[n++] = g;
			}
			g++;
		}
		if (!n)
			break;
		if (!r) {
			double t = now_sec();

			r = run_live(s, scs, n, mem, status);
			s->t_live += now_sec() - t;
		}
		for (size_t i = 0; i < n; i++) {
			const struct slot *sl = (const struct slot *)(mem + i * ss);

			if (!r && !s->stop) {
				s->candidates++;
				if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) ||
				    !sl->done) {
					r = child_died(s, gs[i], scs[i], status[i], sl);
				} else {
					size_t k = new_edges(s, (const uint8_t *)(sl + 1), 1);

					int nospace = sl->live_failed &&
						      strstr(sl->msg, NOSPACE_MSG);

					s->nospace += nospace && !k;
					if (k || (sl->live_failed && !nospace)) {
						r = keep(s, gs[i], scs[i], sl, k, whats[i]);
						if (s->o.progress)
							fprintf(stderr, "\r%*s\r", 78, "");
						printf("c%07" PRIu64 ": +%zu edges (%zu of %zu) %s\n",
						       gs[i], k, s->nr_seen, s->nr_edges, whats[i]);
						fflush(stdout);
					}
				}
			}
			scenario_free(scs[i]);
		}
		if (!r && !s->stop && s->later_done < s->nr_later &&
		    s->candidates >= s->later_at) {
			const struct later *l = &s->later[s->later_done++];

			r = explore_kept(s, l->g, s->corpus[l->idx].sc, &l->io);
			s->later_at = s->candidates + SEARCH_LATER_EVERY;
		}
		if (s->o.progress && now_sec() - last > 0.5) {
			last = now_sec();
			fprintf(stderr, "\rsearch: %" PRIu64 " candidates, %" PRIu64
				" kept, %zu edges, %.0f s   ", s->candidates,
				s->kept, s->nr_seen, last - s->t0);
		}
	}
	if (s->o.progress)
		fprintf(stderr, "\r%*s\r", 78, "");
	munmap(mem, SEARCH_BATCH * ss);
	return r;
}

/* Seeds' coverage: every corpus entry run live once. */
static int seed_coverage(struct search *s)
{
	size_t ss = slot_size(s);
	uint8_t *mem = mmap(NULL, SEARCH_BATCH * ss, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int r = 0;

	if (mem == MAP_FAILED)
		return -errno;
	for (size_t at = 0; at < s->nr_corpus && !r; at += SEARCH_BATCH) {
		struct scenario *scs[SEARCH_BATCH];
		int status[SEARCH_BATCH];
		size_t n = s->nr_corpus - at < SEARCH_BATCH ?
			   s->nr_corpus - at : SEARCH_BATCH;

		for (size_t i = 0; i < n; i++)
			scs[i] = s->corpus[at + i].sc;
		r = run_live(s, scs, n, mem, status);
		for (size_t i = 0; i < n && !r; i++) {
			const struct slot *sl = (const struct slot *)(mem + i * ss);

			if (sl->done) {
				new_edges(s, (const uint8_t *)(sl + 1), 1);
				r = entry_cover(s, at + i, (const uint8_t *)(sl + 1));
			} else
				fprintf(stderr, "pdcrash: seed %s: its live run "
					"failed (%s)\n", scs[i]->name, sl->msg);
		}
	}
	munmap(mem, SEARCH_BATCH * ss);
	return r;
}

static int load_dir(struct search *s, const char *dir, int quiet_missing)
{
	char **names = NULL;
	size_t nr = 0;
	int rc = 0;

	if (setenv("PDCRASH_SCENARIOS", dir, 1))
		return 2;
	if (quiet_missing && access(dir, R_OK))
		return 0;
	if ((rc = cli_list_scenarios(&names, &nr)))
		return rc;
	for (size_t i = 0; i < nr; i++) {
		struct scenario *sc;

		if (!rc && !(rc = cli_load_named(names[i], &sc)) &&
		    add_entry(s, sc)) {
			scenario_free(sc);
			rc = 2;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int parse_args(int argc, char **argv, struct search_opts *o)
{
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;

		if (!strcmp(a, "--keep-going")) {
			o->keep_going = 1;
			continue;
		}
		if (!strcmp(a, "--no-minimize")) {
			o->no_minimize = 1;
			continue;
		}
		if (!strcmp(a, "--live-only")) {
			o->live_only = 1;
			continue;
		}
		if (a[0] != '-')
			return cli_usage_error("search takes no scenario ('%s'): "
					       "use --seed-dir", a);
		char word[64];

		snprintf(word, sizeof(word), " %s ", a);
		if (strlen(a) > 32 || !strstr(" --corpus --seed-dir --mutant --shard"
					      " --seed --seconds --runs --jobs"
					      " --faults --max-branches ", word))
			return cli_usage_error("unknown option '%s'", a);
		if (i + 1 >= argc)
			return cli_usage_error("%s needs a value", a);
		const char *val = argv[++i];
		if (!strcmp(a, "--corpus") || !strcmp(a, "--seed-dir") ||
		    !strcmp(a, "--mutant")) {
			if (!*val)
				return cli_usage_error("%s needs a value", a);
			if (!strcmp(a, "--corpus"))
				o->corpus = val;
			else if (!strcmp(a, "--seed-dir"))
				o->seed_dir = val;
			else if ((rc = cli_set_mutant(o->mutant = val)))
				return rc;
			continue;
		}
		if (!strcmp(a, "--shard")) {
			unsigned k, n;
			char extra;

			if (sscanf(val, "%u/%u%c", &k, &n, &extra) != 2 || !n ||
			    k >= n)
				return cli_usage_error("bad --shard '%s' (want K/N, "
						       "0 <= K < N)", val);
			o->shard_k = k;
			o->shard_n = n;
			continue;
		}
		if ((rc = (!strcmp(a, "--seed") || !strcmp(a, "--seconds") ||
			   !strcmp(a, "--runs") || !strcmp(a, "--jobs") ||
			   !strcmp(a, "--faults") || !strcmp(a, "--max-branches")) ?
			  cli_parse_u64_arg(a, val, &v) :
			  cli_usage_error("unknown option '%s'", a)))
			return rc;
		if (!strcmp(a, "--seed")) {
			o->seed = v;
		} else if (!strcmp(a, "--seconds")) {
			if (!v || v > 1000000)
				return cli_usage_error("--seconds must be 1..1000000, "
						       "got %s", val);
			o->seconds = (double)v;
		} else if (!strcmp(a, "--runs")) {
			if (!v)
				return cli_usage_error("--runs must be at least 1, got %s",
						       val);
			o->runs = v;
		} else if (!strcmp(a, "--jobs")) {
			if (v < 1 || v > 64)
				return cli_usage_error("--jobs must be 1..64, got %s", val);
			o->jobs = (unsigned)v;
		} else if (!strcmp(a, "--faults")) {
			if (v > 16)
				return cli_usage_error("--faults must be 0..16, got %s", val);
			o->faults = (unsigned)v;
		} else {
			if (!v)
				return cli_usage_error("--max-branches must be at "
						       "least 1, got %s", val);
			o->max_branches = v;
		}
	}
	return 0;
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *q = tmp + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = 0;
		if (mkdir(tmp, 0777) && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	if (mkdir(tmp, 0777) && errno != EEXIST)
		return -errno;
	return 0;
}

int cmd_search(int argc, char **argv)
{
	struct search s = { 0 };
	char seeddir[PATH_MAX];
	int rc, r;

	s.o.seed = 1;
	s.o.jobs = cli_default_jobs();
	s.o.corpus = "build/search-corpus";
	s.o.faults = SEARCH_FAULTS;
	s.o.max_branches = SEARCH_MAX_BRANCHES;
	if ((rc = parse_args(argc, argv, &s.o)))
		return rc;
	if (!s.o.seconds && !s.o.runs)
		s.o.seconds = 60;
	s.nr_edges = sancov_edges();
	if (!s.nr_edges) {
		fprintf(stderr, "pdcrash: search needs the coverage counters of "
			"core/: run build/search/pdcrash (make search)\n");
		return 2;
	}
	s.seen = calloc(s.nr_edges, 1);
	s.freq = calloc(s.nr_edges, sizeof(*s.freq));
	s.top = calloc(s.nr_edges, sizeof(*s.top));
	if (!s.seen || !s.freq || !s.top) {
		rc = 2;
		goto out;
	}
	if ((r = mkdir_p(s.o.corpus))) {
		fprintf(stderr, "pdcrash: cannot make the corpus folder %s: %s\n",
			s.o.corpus, strerror(-r));
		rc = 2;
		goto out;
	}
	if (s.o.seed_dir)
		snprintf(seeddir, sizeof(seeddir), "%s", s.o.seed_dir);
	else
		cli_scenario_dir(seeddir, sizeof(seeddir));
	if (access(seeddir, R_OK)) {
		fprintf(stderr, "pdcrash: seed folder %s: %s\n", seeddir,
			strerror(errno));
		rc = 2;
		goto out;
	}
	if ((rc = load_dir(&s, seeddir, 0)) ||
	    (rc = load_dir(&s, s.o.corpus, 1)))
		goto out;
	s.nr_seeds = s.nr_corpus;
	if (s.nr_corpus == s.nr_cache) {
		fprintf(stderr, "pdcrash: no thin-pool seed scenarios in %s (the "
			"dm-cache ones are run, not mutated)\n", seeddir);
		rc = 2;
		goto out;
	}
	/* The core's lazily set statics (the crc32c table and the CPU's
	 * answer), set here: the children would inherit them set or not
	 * depending on what ran in this process before (explorations), and
	 * reach their edges or not. */
	{
		uint8_t byte = 0;

		pd_crc32c_sw(0, &byte, 1);
		pd_crc32c_hw_available();
	}
	s.o.progress = isatty(2);
	s.later_at = SEARCH_LATER_EVERY;
	s.t0 = now_sec();
	printf("search: seed %" PRIu64 ", %zu seed scenarios from %s and %s, "
	       "%s on %zu edges of core/, %u jobs%s%s\n", s.o.seed, s.nr_corpus,
	       seeddir, s.o.corpus, sancov_mode(), s.nr_edges, s.o.jobs,
	       s.o.mutant ? ", mutant " : "", s.o.mutant ? s.o.mutant : "");
	fflush(stdout);
	r = seed_coverage(&s);
	if (!r) {
		printf("seeds reach %zu of %zu edges\n", s.nr_seen, s.nr_edges);
		fflush(stdout);
		r = search_loop(&s);
	}
	if (r) {
		fprintf(stderr, "pdcrash: search failed: %s\n", pd_strerror(r));
		rc = 2;
		goto out;
	}
	double secs = now_sec() - s.t0;
	printf("candidates: %" PRIu64 " in %.1f s (%.1f/s), kept %" PRIu64
	       ", edges %zu of %zu\n", s.candidates, secs,
	       secs > 0 ? s.candidates / secs : 0.0, s.kept, s.nr_seen,
	       s.nr_edges);
	printf("crash explorations: %" PRIu64 ", IO-error runs: %" PRIu64
	       ", states: %" PRIu64 ", violations: %" PRIu64 "\n", s.crash_runs,
	       s.fault_runs, s.states, s.violations);
	printf("seconds: live runs %.1f, placing targets %.1f, crash "
	       "explorations %.1f, IO-error runs %.1f\n", s.t_live, s.t_targets,
	       s.t_crash, s.t_faults);
	if (s.targeted)
		printf("targeted candidates: %" PRIu64 " (%" PRIu64 " probe runs "
		       "to place the targets)\n", s.targeted, s.probes);
	if (s.nr_later)
		printf("costly kept candidates, explored one every %d candidates: "
		       "%zu, %zu of them not explored yet\n", SEARCH_LATER_EVERY,
		       s.nr_later, s.nr_later - s.later_done);
	if (s.nospace)
		printf("out of metadata space (not modelled, not reported): %"
		       PRIu64 " candidates\n", s.nospace);
	if (s.first_id[0])
		printf("first violation: %s after %.1f s\n", s.first_id,
		       s.first_seconds);
	rc = s.violations ? 1 : 0;
out:
	for (size_t i = 0; i < s.nr_corpus; i++) {
		scenario_free(s.corpus[i].sc);
		free(s.corpus[i].cov);
		free(s.corpus[i].tedge);
		free(s.corpus[i].tlo);
		free(s.corpus[i].thi);
		free(s.corpus[i].top);
	}
	free(s.corpus);
	free(s.later);
	free(s.seen);
	free(s.freq);
	free(s.top);
	return rc;
}
