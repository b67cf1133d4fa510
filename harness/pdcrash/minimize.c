/* harness/pdcrash/minimize.c - `pdcrash minimize ID`: shrink a failing workload
 * (DESIGN.md 4.8).
 *
 * Steps:
 *  1. Rebuild the run of ID (its seed, its variant's cache, its fault) and
 *     check the state ID names, in a child process (a crash or a hang of
 *     recovery is a violation, as in `pdcrash run`).  It must be a
 *     violation: an id that does not fail in this build is bad input
 *     (exit 2).  The check is made without the failing first reopen of
 *     --io-errors, and if that passes, with it; the runs below use the
 *     setting that failed.
 *  2. The base list: the ops the run executed, expanded (one block per
 *     map, the ops a random line generated), up to and including the op
 *     running at the cut.  With the pool line as run (the variant's cache
 *     written in) it replays the same log up to the cut, so it fails too.
 *  3. ddmin over that list (remove halves, then quarters, ... down to
 *     single ops; after a removal go on at one granularity coarser).  A
 *     candidate "still fails" when `pdcrash run` of it (same seed, tear,
 *     base variant only, continue step on) finds a crash-state violation;
 *     live-run disagreements do not count (another kind of finding).
 *     A live-failure id (liveid.h) is the other way round: the base list
 *     is every op the run executed (it stops at the disagreement), and a
 *     candidate fails when its workload alone disagrees with its model
 *     (no crash exploration: much cheaper).
 *     With a fault: the same kind and stickiness, with the fault number
 *     searched: the IO at the same place in the op that met the fault
 *     (writes and flushes; reads are not logged; for an allocation
 *     failure the allocation hit), then the id's own N,
 *     then their neighbours, at most MIN_FAULT_TRIES numbers within the
 *     candidate's count of that IO.
 *  4. Budget: at most MIN_MAX_RUNS driver runs or MIN_MAX_SECONDS seconds,
 *     then the smallest failing list so far is the result.
 *  5. Write it (a comment header names the original id), run it from the
 *     file, and print the op counts and the new failure id: the
 *     violation with the smallest cut (then choice) in the new run, named
 *     by the file's path without .scn, so `pdcrash replay NEWID` works
 *     from the same directory.  Exit 1: it still fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache_scenario.h"
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "errors.h"
#include "forkpipe.h"
#include "writecheck.h"
#include "liveid.h"
#include "minimize.h"

#define MIN_MIN_RUNS 300		/* the run budget: at least this, */
#define MIN_RUNS_PER_LINE 8		/* or this many per line of the base, */
#define MIN_MAX_RUNS 5000		/* at most this (--max-runs: any) */
#define MIN_MAX_SECONDS 300.0
#define MIN_SINGLE_OPS 2000		/* single-op pass: at most this many ops */
#define MIN_FAULT_TRIES 4
#define LIVE_PREFIX "live run: "

/* One line of a candidate: an op (map and range unmap with their range)
 * and the base index of its first expanded op. */
struct unit {
	struct op op;
	size_t first;
};

struct minimizer {
	const struct op *base;		/* the base list (run_op copies) */
	unsigned max_runs;
	double max_seconds;
	struct pool_geometry geo;	/* as run */
	uint64_t seed;
	int tear;
	int recovery_fault;		/* run with --io-errors' first reopen */
	struct fault_spec fault;	/* FAULT_NONE, or the id's fault */
	size_t anchor;			/* base index of the op that met the
					 * fault; SIZE_MAX: none known */
	uint64_t anchor_k;		/* that IO is the k-th of its kind in
					 * the anchor op (1-based) */
	struct fault_spec cur_fault;	/* the fault of the best list */
	const char *mutant;
	const struct client_ops *client;	/* the id's @BACKEND */
	int live;			/* a live failure (liveid.h): a
					 * candidate fails when its workload
					 * disagrees with its model */
	unsigned runs;
	double t0;
	int over;			/* out of budget */
	int progress;
	unsigned jobs;
	int confirm;			/* the final run from the file */
};

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* op_format(), except that a one-block range unmap keeps its range form
 * (a plain `unmap D V` is another core call). */
static void format_op(const struct op *op, char *buf, size_t len)
{
	if (op->kind == OP_UNMAP_RANGE && op->b == op->c)
		snprintf(buf, len, "unmap %llu %llu..%llu", (unsigned long long)op->a,
			 (unsigned long long)op->b, (unsigned long long)op->c);
	else
		op_format(op, buf, len);
}

/* Blocks (expanded ops) of one unit. */
static uint64_t unit_len(const struct unit *u)
{
	return u->op.kind == OP_MAP ? u->op.c - u->op.b + 1 : 1;
}

static uint64_t units_ops(const struct unit *u, size_t n)
{
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += unit_len(&u[i]);
	return k;
}

/* The scenario text of u[0..n-1], after an optional header. */
static char *scenario_text(const struct minimizer *m, const struct unit *u,
			   size_t n, const char *header)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (header)
		fputs(header, f);
	if (m->geo.is_cache) {		/* a dm-cache scenario */
		char line[300];

		cache_geometry_format(&m->geo, line, sizeof(line));
		fprintf(f, "%s\n", line);
	} else {
		char line[160];

		pool_geometry_format(&m->geo, line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	for (size_t i = 0; i < n; i++) {
		char buf[160];

		format_op(&u[i].op, buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	}
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

static int fault_sd_kind(enum fault_kind k, enum sd_op_kind *a, enum sd_op_kind *b)
{
	switch (k) {
	case FAULT_WRITE:
	case FAULT_LOST_SECTOR:
		*a = SD_WRITE;
		*b = SD_WRITE_FUA;
		return 1;
	case FAULT_FLUSH:
		*a = *b = SD_FLUSH;
		return 1;
	default:
		return 0;		/* reads are not in the log */
	}
}

/* Log entries of the fault's kind in [from, to). */
static uint64_t count_kind(const struct run_result *res, enum fault_kind k,
			   uint64_t from, uint64_t to)
{
	enum sd_op_kind a, b;
	uint64_t n = 0;

	if (!fault_sd_kind(k, &a, &b))
		return 0;
	for (uint64_t i = from; i < to && i < simdisk_nr_ops(res->sd); i++) {
		const struct sd_op *op = simdisk_op(res->sd, i);

		n += op->kind == a || op->kind == b;
	}
	return n;
}

/* Where the fault of the original run fired: the base op and which IO of
 * its kind in that op. */
static void find_anchor(struct minimizer *m, const struct run_result *res,
			size_t nbase)
{
	enum sd_op_kind a, b;

	m->anchor = SIZE_MAX;
	if (fault_is_alloc(m->fault.kind)) {
		int k = m->fault.kind == FAULT_NOSPACE;

		/* in the format (SIZE_MAX): N stays right */
		if (res->alloc_fired && res->alloc_op < nbase) {
			m->anchor = res->alloc_op;
			m->anchor_k = m->fault.nth -
				      res->ops[res->alloc_op].alloc_before[k];
		}
		return;
	}
	if (!fault_sd_kind(m->fault.kind, &a, &b) || !res->nr_ops)
		return;
	for (uint64_t i = 0; i < simdisk_nr_ops(res->sd); i++) {
		const struct sd_op *op = simdisk_op(res->sd, i);

		if (!op->failed || (op->kind != a && op->kind != b))
			continue;
		if (i < res->ops[0].seq)
			return;		/* in the format: N stays right */
		size_t f = workload_op_at(res, i);
		if (f >= nbase)
			return;
		m->anchor = f;
		m->anchor_k = count_kind(res, m->fault.kind, res->ops[f].seq, i + 1);
		return;
	}
}

static void add_try(uint64_t *tries, unsigned *nt, uint64_t v, uint64_t count)
{
	if (*nt >= MIN_FAULT_TRIES || v < 1 || v > count)
		return;
	for (unsigned i = 0; i < *nt; i++)
		if (tries[i] == v)
			return;
	tries[(*nt)++] = v;
}

/* The ops a cache run makes before the scenario's first line (the setup
 * of a first resume: cache_workload.c, ops of line 0); 0 for thin, whose
 * generated ops may have line 0 anywhere. */
static size_t cache_setup_ops(const struct run_result *res)
{
	size_t k = 0;

	if (!res->geo.is_cache)
		return 0;
	while (k < res->nr_ops && res->ops[k].op.line == 0)
		k++;
	return k;
}

/* Fault numbers to try for a candidate, best guess first; 0 if the
 * candidate cannot be run. */
static unsigned fault_tries(struct minimizer *m, const struct scenario *sc,
			    const struct unit *u, size_t n, uint64_t *tries)
{
	static const enum sd_op_kind kinds[] = {
		[FAULT_READ] = SD_READ, [FAULT_WRITE] = SD_WRITE,
		[FAULT_FLUSH] = SD_FLUSH, [FAULT_BITROT] = SD_READ,
		[FAULT_LOST_SECTOR] = SD_WRITE,
	};
	struct run_config cfg = { .sc = sc, .seed = m->seed, .keep_state = -1,
				  .quiet = 1, .client = m->client };
	struct run_result res;
	uint64_t count, guess = 0;
	unsigned nt = 0;

	if (fault_is_alloc(m->fault.kind))
		cfg.fault.kind = m->fault.kind;	/* counts the hits (nth 0:
						 * none fails) */
	if (workload_run(&cfg, &res))
		return 0;
	if (fault_is_alloc(m->fault.kind))
		count = res.alloc_hits[m->fault.kind == FAULT_NOSPACE];
	else if (fault_is_data(m->fault.kind))	/* on the data disk */
		count = !res.dd ? 0 : simdisk_count(datadev_disk(res.dd),
			m->fault.kind == FAULT_DATA_WRITE ? SD_WRITE : SD_FLUSH);
	else
		count = simdisk_count(res.sd, kinds[m->fault.kind]);
	if (m->anchor != SIZE_MAX) {
		/* the anchor's place among the expanded ops */
		uint64_t e = cache_setup_ops(&res);

		for (size_t i = 0; i < n; e += unit_len(&u[i]), i++) {
			if (m->anchor < u[i].first ||
			    m->anchor >= u[i].first + unit_len(&u[i]))
				continue;
			e += m->anchor - u[i].first;
			if (e < res.nr_ops && fault_is_alloc(m->fault.kind))
				guess = res.ops[e].alloc_before[
					m->fault.kind == FAULT_NOSPACE] +
					m->anchor_k;
			else if (e < res.nr_ops)
				guess = count_kind(&res, m->fault.kind, 0,
						   res.ops[e].seq) + m->anchor_k;
			break;
		}
	}
	run_result_free(&res);
	add_try(tries, &nt, guess, count);
	add_try(tries, &nt, m->fault.nth, count);
	for (uint64_t d = 1; d <= MIN_FAULT_TRIES && nt < MIN_FAULT_TRIES; d++) {
		if (guess) {
			add_try(tries, &nt, guess - d, count);
			add_try(tries, &nt, guess + d, count);
		}
		add_try(tries, &nt, m->fault.nth - d, count);
		add_try(tries, &nt, m->fault.nth + d, count);
	}
	return nt;
}

/* Order of violation ids by cut, then choice (numbers, not text). */
static int id_before(const char *a, const char *b)
{
	struct state_id x, y;
	char err[8];

	if (state_id_parse(a, &x, err, sizeof(err)) ||
	    state_id_parse(b, &y, err, sizeof(err)))
		return strcmp(a, b) < 0;
	if (x.cut != y.cut)
		return x.cut < y.cut;
	return x.choice < y.choice;
}

/* The workload of sc alone, as `run` runs it; 1 if it disagrees with
 * its model (its live id and message in v), 0 if not, -errno. */
static int live_once(struct minimizer *m, struct scenario *sc,
		     const struct fault_spec *fault, struct violation *v)
{
	struct run_config cfg = {
		.sc = sc, .seed = m->seed, .fault = *fault, .keep_state = -1,
		.quiet = 1, .stop_after_recovery = fault->kind != FAULT_NONE,
		.client = m->client,
	};
	struct run_result res;
	int r = workload_run(&cfg, &res);

	if (r)
		return r;
	r = res.live_failed;
	if (r) {
		char name[sizeof(v->id)];

		snprintf(name, sizeof(name), "%s%s%s", sc->name,
			 m->client ? "@" : "", m->client ? m->client->name : "");
		live_id_format(name, m->seed, fault, v->id, sizeof(v->id));
		snprintf(v->msg, sizeof(v->msg), "%s%.380s", LIVE_PREFIX,
			 res.live_msg);
	}
	run_result_free(&res);
	return r;
}

/* One driver run of sc; 1 if a crash-state violation came out (the
 * first one copied to first), 0 if none, -errno if it could not run.
 * For a live failure, the workload alone (live_once). */
static int run_once(struct minimizer *m, struct scenario *sc,
		    const struct fault_spec *fault, struct violation *first)
{
	struct scenario *scs[1] = { sc };
	struct run_opts o = {
		.scenarios = scs,
		.nr_scenarios = 1,
		.seed = m->seed,
		.tear = m->tear,
		.io_errors = m->recovery_fault,
		.jobs = m->jobs,
		.mutant = m->mutant,
		.client = m->client,
		.variants_mask = 1,
		.fault = fault,
		/* a candidate needs one violation; the final run all of them,
		 * for the first id */
		.fail_fast = !m->confirm,
	};
	struct run_summary sum;
	int r, found = 0;

	if (m->live)
		return live_once(m, sc, fault, first);
	r = driver_run(&o, &sum);
	if (r) {
		run_summary_free(&sum);
		return r;
	}
	for (size_t i = 0; i < sum.nr_violations; i++) {
		const struct violation *v = &sum.violations[i];

		if (!strncmp(v->msg, LIVE_PREFIX, strlen(LIVE_PREFIX)))
			continue;
		if (!found || id_before(v->id, first->id))
			*first = *v;
		found = 1;
	}
	run_summary_free(&sum);
	return found;
}

static int over_budget(struct minimizer *m)
{
	if (m->runs >= m->max_runs || now_sec() - m->t0 >= m->max_seconds)
		m->over = 1;
	return m->over;
}

/* Does u[0..n-1] still fail?  1 yes (m->cur_fault updated when the
 * fault number moved), 0 no or out of budget. */
static int still_fails(struct minimizer *m, const struct unit *u, size_t n)
{
	struct scenario *sc;
	struct violation v;
	uint64_t tries[MIN_FAULT_TRIES];
	unsigned nt = 1;
	char err[512];
	int r = 0;

	if (!n)
		return 0;
	char *text = scenario_text(m, u, n, NULL);
	if (!text)
		return 0;
	r = scenario_parse("candidate", text, &sc, err, sizeof(err));
	free(text);
	if (r)
		return 0;
	if (m->fault.kind != FAULT_NONE)
		nt = fault_tries(m, sc, u, n, tries);
	r = 0;
	for (unsigned t = 0; t < nt && !r && !over_budget(m); t++) {
		struct fault_spec f = m->fault;

		if (m->fault.kind != FAULT_NONE)
			f.nth = tries[t];
		m->runs++;
		r = run_once(m, sc, &f, &v);
		if (r < 0) {
			/* Harness trouble (fork, memory): stop with the best
			 * so far, which the final run checks again. */
			fprintf(stderr, "pdcrash: a candidate run failed: %s; "
				"stopping\n", pd_strerror(r));
			m->over = 1;
			r = 0;
		}
		if (r)
			m->cur_fault = f;
	}
	scenario_free(sc);
	if (m->progress) {
		fprintf(stderr, "\rminimize: %zu lines, %" PRIu64 " ops, %u runs, "
			"%.0f s   ", n, units_ops(u, n), m->runs, now_sec() - m->t0);
		fflush(stderr);
	}
	return r;
}

/* ddmin over whole lines, removing complements only; returns the new
 * length of u. */
static size_t ddmin(struct minimizer *m, struct unit *u, size_t n)
{
	size_t parts = 2;
	struct unit *cand = malloc(n * sizeof(*cand));

	if (!cand)
		return n;
	while (n >= 2 && !m->over) {
		size_t chunk = (n + parts - 1) / parts;
		int reduced = 0;

		for (size_t start = 0; start < n && !m->over; start += chunk) {
			size_t end = start + chunk < n ? start + chunk : n, k = 0;

			for (size_t i = 0; i < n; i++)
				if (i < start || i >= end)
					cand[k++] = u[i];
			if (still_fails(m, cand, k)) {
				memcpy(u, cand, k * sizeof(*u));
				n = k;
				parts = parts > 2 ? parts - 1 : 2;
				reduced = 1;
				break;
			}
		}
		if (!reduced) {
			if (parts >= n)
				break;
			parts = parts * 2 < n ? parts * 2 : n;
		}
	}
	free(cand);
	return n;
}

static int is_range_unit(const struct unit *u)
{
	return (u->op.kind == OP_MAP || u->op.kind == OP_UNMAP_RANGE) &&
	       u->op.c > u->op.b;
}

/* Try u[i]'s range as [b, c]; keep it if it still fails. */
static int try_range(struct minimizer *m, struct unit *u, size_t n, size_t i,
		     uint64_t b, uint64_t c)
{
	struct unit old = u[i];

	if (u[i].op.kind == OP_MAP)
		u[i].first += b - u[i].op.b;
	u[i].op.b = b;
	u[i].op.c = c;
	if (still_fails(m, u, n))
		return 1;
	u[i] = old;
	return 0;
}

/* Halve every range while it still fails: keep the lower or the upper
 * half, else drop a quarter at either end, down to one block. */
static void shrink_ranges(struct minimizer *m, struct unit *u, size_t n)
{
	for (size_t i = n; i-- > 0 && !m->over; ) {
		while (is_range_unit(&u[i]) && !m->over) {
			uint64_t b = u[i].op.b, c = u[i].op.c, len = c - b + 1;
			uint64_t half = len / 2, q = len / 4 ? len / 4 : 1;

			if (try_range(m, u, n, i, b, b + half - 1) ||
			    try_range(m, u, n, i, b + half, c) ||
			    try_range(m, u, n, i, b + q, c) ||
			    try_range(m, u, n, i, b, c - q))
				continue;
			break;
		}
	}
}

/* Lines as written: a map of a single block goes back into the range of
 * the line before when the device is the same and the block the next.
 * (Only maps: `map D A..B` is exactly the maps A..B one by one, where a
 * range unmap is another core call than single unmaps.) */
static size_t fold(struct unit *u, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct unit *p = k ? &u[k - 1] : NULL;

		if (p && p->op.kind == OP_MAP && u[i].op.kind == OP_MAP &&
		    p->op.a == u[i].op.a && u[i].op.b == p->op.c + 1 &&
		    p->first + unit_len(p) == u[i].first) {
			p->op.c = u[i].op.c;
			continue;
		}
		u[k++] = u[i];
	}
	return k;
}

static int is_unmap(const struct unit *u)
{
	return u->op.kind == OP_UNMAP || u->op.kind == OP_UNMAP_RANGE;
}

/* Runs of unmaps of one device over consecutive blocks, each tried as one
 * range unmap (another core call, so kept only when it still fails);
 * returns the new length of u. */
static size_t join_unmaps(struct minimizer *m, struct unit *u, size_t n)
{
	struct unit *cand = malloc(n * sizeof(*cand));

	if (!cand)
		return n;
	for (size_t i = 0; i < n && !m->over; i++) {
		size_t j = i;

		while (j + 1 < n && is_unmap(&u[i]) && is_unmap(&u[j + 1]) &&
		       u[j + 1].op.a == u[i].op.a &&
		       u[j + 1].op.b == u[j].op.c + 1)
			j++;
		if (j == i)
			continue;
		size_t k = 0;
		for (size_t x = 0; x < n; x++) {
			if (x > i && x <= j)
				continue;
			cand[k] = u[x];
			if (x == i) {
				cand[k].op.kind = OP_UNMAP_RANGE;
				cand[k].op.c = u[j].op.c;
			}
			k++;
		}
		if (still_fails(m, cand, k)) {
			memcpy(u, cand, k * sizeof(*u));
			n = k;
		}
	}
	free(cand);
	return n;
}

/* Every range cut into single ops (u has room for units_ops). */
static size_t expand(const struct unit *in, size_t n, struct unit *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		for (uint64_t j = 0; j < unit_len(&in[i]); j++) {
			out[k] = in[i];
			if (in[i].op.kind == OP_MAP) {
				out[k].op.b = out[k].op.c = in[i].op.b + j;
				out[k].first = in[i].first + j;
			}
			k++;
		}
	}
	return k;
}

/*
 * The shrinking: lines first (ddmin over the lines, ranges kept whole),
 * runs of unmaps over consecutive blocks joined into range unmaps, then
 * each range halved, then lines again; then, while the budget lasts
 * and the workload is small enough, single ops (every range cut into its
 * blocks, ddmin, folded back), kept only when it does not add lines.
 */
static size_t shrink(struct minimizer *m, struct unit **pu, size_t n)
{
	struct unit *u = *pu;
	uint64_t nops;

	n = ddmin(m, u, n);
	n = join_unmaps(m, u, n);
	shrink_ranges(m, u, n);
	n = ddmin(m, u, n);
	nops = units_ops(u, n);
	if (m->over || nops <= n || nops > MIN_SINGLE_OPS)
		return n;
	struct unit *e = malloc(nops * sizeof(*e));
	if (!e)
		return n;
	size_t ne = expand(u, n, e);
	unsigned runs0 = m->runs;
	ne = ddmin(m, e, ne);
	ne = fold(e, ne);
	if (ne <= n && m->runs > runs0) {
		free(u);
		*pu = e;
		return ne;
	}
	free(e);
	return n;
}

/* Check state id of res in a child: 1 violation, 0 not, -errno. */
static int state_fails(const struct run_result *res, const struct state_id *id,
		       int recovery_fault, char *msg, size_t msglen)
{
	/* as the driver does: the faulted pass follows the run's fault */
	struct check_opts copts = {
		.recovery_fault = recovery_fault &&
				  !fault_is_alloc(id->fault.kind),
		.recovery_alloc_fault = fault_is_alloc(id->fault.kind),
	};
	struct sd_cutter *cutter;
	int fd, status;
	pid_t pid;

	pid = fork_piped(&fd);
	if (pid < 0)
		return (int)pid;
	if (pid == 0) {
		struct check_out out;

		alarm(STATE_TIMEOUT_SEC);
		if (sd_cutter_create(res->sd, &cutter) ||
		    sd_cutter_seek(cutter, id->cut))
			_exit(100);
		check_state(res, cutter, id, &copts, NULL, &out);
		ssize_t k = write(fd, out.msg, strlen(out.msg));
		(void)k;
		_exit(out.outcome);
	}
	ssize_t got = read(fd, msg, msglen - 1);
	msg[got > 0 ? got : 0] = 0;
	close(fd);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (WIFSIGNALED(status)) {
		snprintf(msg, msglen, "recovery %s (signal %d)",
			 WTERMSIG(status) == SIGALRM ? "hung" : "crashed",
			 WTERMSIG(status));
		return 1;
	}
	if (WEXITSTATUS(status) == 100)
		return -EIO;
	return WEXITSTATUS(status) == OUT_VIOLATION;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f))
		return -errno;
	return 0;
}

static int parse_args(int argc, char **argv, struct minimize_req *a)
{
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--mutant")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a name", argv[i]);
			a->mutant = argv[++i];
			if ((rc = cli_set_mutant(a->mutant)))
				return rc;
		} else if (!strcmp(argv[i], "--max-runs") ||
			   !strcmp(argv[i], "--max-seconds")) {
			uint64_t v;

			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", argv[i]);
			if ((rc = cli_parse_u64_arg(argv[i], argv[i + 1], &v)))
				return rc;
			if (!v || v > 1000000)
				return cli_usage_error("%s must be 1..1000000",
						       argv[i]);
			if (!strcmp(argv[i], "--max-runs"))
				a->max_runs = (unsigned)v;
			else
				a->max_seconds = (double)v;
			i++;
		} else if (!strcmp(argv[i], "-o")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return cli_usage_error("%s needs a file name", argv[i]);
			a->outpath = argv[++i];
		} else if (argv[i][0] == '-') {
			return cli_usage_error("unknown option '%s'", argv[i]);
		} else if (a->idtext) {
			return cli_usage_error("minimize takes one id, got '%s' too",
					       argv[i]);
		} else {
			a->idtext = argv[i];
		}
	}
	if (!a->idtext)
		return cli_usage_error("minimize needs an id%s", "");
	return 0;
}

/* Where the result goes: its path names it in the new id, so it must end
 * in .scn, hold no ':' or '+', and have a '/' (else replay would look in
 * the scenarios directory).  0, or 2 after a usage message. */
static int result_path(const char *base, const char *outpath, char *path,
		       size_t len)
{
	char defpath[PATH_MAX];
	size_t ol;

	if (!outpath) {
		const char *slash = strrchr(base, '/');

		snprintf(defpath, sizeof(defpath), "%s-min.scn",
			 slash ? slash + 1 : base);
		outpath = defpath;
	}
	ol = strlen(outpath);
	if (ol < 5 || strcmp(outpath + ol - 4, ".scn"))
		return cli_usage_error("-o %s: the file name must end in .scn",
				       outpath);
	if (strchr(outpath, ':') || strchr(outpath, '+'))
		return cli_usage_error("-o %s: no ':' or '+' in the path "
				       "(it becomes part of a failure id)",
				       outpath);
	snprintf(path, len, "%s%s", strchr(outpath, '/') ? "" : "./", outpath);
	return 0;
}

/* Is id an id of this run (cut inside the log, the same number of
 * choices)?  0, or 2 after a message. */
static int id_fits_run(const struct run_result *res, const struct state_id *id,
		       const char *idtext)
{
	struct sd_cutter *cutter;
	size_t np;
	int r;

	if (id->cut > simdisk_nr_ops(res->sd)) {
		fprintf(stderr, "pdcrash: id %s: cut %" PRIu64 " is past the end "
			"of the log (%" PRIu64 " entries): not an id of this "
			"scenario and seed\n", idtext, id->cut,
			simdisk_nr_ops(res->sd));
		return 2;
	}
	r = sd_cutter_create(res->sd, &cutter);
	if (!r)
		r = sd_cutter_seek(cutter, id->cut);
	if (r) {
		fprintf(stderr, "pdcrash: cannot cut the log: %s\n", pd_strerror(r));
		sd_cutter_destroy(cutter);
		return 2;
	}
	np = sd_cutter_nr_pending(cutter);
	if (id->lazy) {
		char msg[200];

		r = leaf_id_fits(cutter, id, msg, sizeof(msg));
		sd_cutter_destroy(cutter);
		if (r)
			fprintf(stderr, "pdcrash: id %s: %s: not an id of this "
				"scenario and seed\n", idtext, msg);
		return r ? 2 : 0;
	}
	sd_cutter_destroy(cutter);
	if (nr_choices(np, id->tear) != id->nr_choices) {
		fprintf(stderr, "pdcrash: id %s: the cut has %zu pending writes, "
			"so %" PRIu64 " choices, not %" PRIu64 ": not an id of "
			"this scenario and seed\n", idtext, np,
			nr_choices(np, id->tear), id->nr_choices);
		return 2;
	}
	return 0;
}

/* The state of the id must fail (with the failing first reopen of
 * --io-errors if not without).  0, or 2 after a message. */
static int original_fails(struct minimizer *m, const struct run_result *res,
			  const struct state_id *id, const char *idtext)
{
	char msg[512];
	int r = state_fails(res, id, 0, msg, sizeof(msg));

	if (r == 0) {
		r = state_fails(res, id, 1, msg, sizeof(msg));
		m->recovery_fault = 1;
	}
	if (r < 0) {
		fprintf(stderr, "pdcrash: cannot check %s: %s\n", idtext,
			pd_strerror(r));
		return 2;
	}
	if (!r) {
		fprintf(stderr, "pdcrash: %s does not fail in this build (%s%s); "
			"nothing to minimise\n", idtext, msg,
			m->mutant ? "" : "; a mutant's id needs --mutant NAME");
		return 2;
	}
	if (!res->nr_ops) {
		fprintf(stderr, "pdcrash: %s fails before the first op: no op to "
			"remove\n", idtext);
		return 2;
	}
	return 0;
}

/* A write id: 0 if the write at its log entry breaks a write-time rule
 * in this build, else 2 after a message. */
static int write_fails(const struct run_result *res, const struct state_id *id,
		       const char *idtext)
{
	struct write_violation v;
	int r = writecheck_at(res, id->cut, &v);

	if (r < 0) {
		fprintf(stderr, "pdcrash: cannot check %s: %s\n", idtext,
			pd_strerror(r));
		return 2;
	}
	if (!r) {
		fprintf(stderr, "pdcrash: %s breaks no write-time rule in this "
			"build; nothing to minimise%s\n", idtext,
			getenv("PD_MUTANT") ? "" :
			" (a mutant's id needs --mutant NAME)");
		return 2;
	}
	return 0;
}

/* A live id must disagree in this build.  0, or 2 after a message. */
static int live_fails_here(const struct minimizer *m,
			   const struct run_result *res, const char *idtext)
{
	if (!res->live_failed) {
		fprintf(stderr, "pdcrash: %s: the live run agrees with its model "
			"in this build; nothing to minimise%s\n", idtext,
			m->mutant ? "" : " (a mutant's id needs --mutant NAME)");
		return 2;
	}
	if (!res->nr_ops) {
		fprintf(stderr, "pdcrash: %s fails before the first op: no op to "
			"remove\n", idtext);
		return 2;
	}
	return 0;
}

/* Write the n ops left to path, run it from the file, and fill v with the
 * violation it finds.  0, or 2 after a message. */
static int write_and_confirm(struct minimizer *m, const struct unit *u, size_t n,
			     size_t nbase, const char *idtext,
			     const struct state_id *id, const char *path,
			     struct violation *v)
{
	struct scenario *msc = NULL;
	char header[1024], *text;
	int r, rc = 2;

	snprintf(header, sizeof(header),
		 "# Minimised by pdcrash minimize from\n#   %s%s%s\n"
		 "# %zu ops up to the cut (or the live failure) -> %zu lines, %" PRIu64
		 " ops (%u candidate runs%s).\n"
		 "# The pool line carries the variant's cache; seed %" PRIu64
		 "%s.\n", idtext, m->mutant ? " --mutant " : "",
		 m->mutant ? m->mutant : "", nbase, n, units_ops(u, n), m->runs,
		 m->over ? ", budget used up" : "", id->seed,
		 id->tear ? ", torn writes" : "");
	text = scenario_text(m, u, n, header);
	if (!text) {
		fprintf(stderr, "pdcrash: out of memory\n");
		return 2;
	}
	r = write_file(path, text);
	free(text);
	if (r) {
		fprintf(stderr, "pdcrash: cannot write %s: %s\n", path, strerror(-r));
		return 2;
	}
	if ((r = cli_load_named(path, &msc)))
		return r;
	m->confirm = 1;
	r = run_once(m, msc, &m->cur_fault, v);
	if (r < 0)
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", path, pd_strerror(r));
	else if (!r)
		fprintf(stderr, "pdcrash: %s does not fail when run from the file "
			"(a harness bug)\n", path);
	else
		rc = 0;
	scenario_free(msc);
	return rc;
}

static void print_result(const struct minimizer *m, const char *idtext,
			 size_t nbase, size_t n, uint64_t nops, const char *path,
			 const struct violation *v)
{
	printf("minimised %s\n", idtext);
	printf("ops: %zu up to the cut -> %zu lines, %" PRIu64 " ops (%u candidate "
	       "runs of at most %u in %.1f s%s)\n", nbase, n, nops, m->runs,
	       m->max_runs, now_sec() - m->t0,
	       m->over ? "; budget used up, the best so far" : "");
	printf("wrote %s\n", path);
	printf("new id: %s\n", v->id);
	printf("  %s\n", v->msg);
	printf("replay: %s replay %s%s%s%s\n", pdcrash_prog_name, v->id,
	       m->mutant ? " --mutant " : "", m->mutant ? m->mutant : "",
	       m->recovery_fault ? "  (it failed with --io-errors' failing "
	       "first reopen, which replay does not do)" : "");
}

/*
 * 1. the state of the id must fail; 2. the base list is the ops executed
 * up to the one running at the cut, and it must fail as a scenario of its
 * own; 3. ddmin; 4. write it, run it from the file, print the new id.
 */
int cmd_minimize(int argc, char **argv)
{
	struct minimize_req a = { 0 };
	int rc;

	if ((rc = parse_args(argc, argv, &a)))
		return rc;
	return minimize_id(&a);
}

int minimize_id(const struct minimize_req *req)
{
	const struct minimize_req a = *req;
	struct run_config cfg = { 0 };
	struct minimizer m = { 0 };
	struct run_result res;
	struct scenario *sc = NULL;
	struct state_id id;
	struct violation v;
	char err[512], base[128], path[PATH_MAX];
	struct unit *u = NULL;
	size_t nbase, n, nu;
	struct op *ops = NULL;
	int rc, r, is_write;

	/* a write id (NAME:sSEED:wSEQ:eFAULT) names log entry SEQ; a live
	 * id (liveid.h) no crash state */
	if ((is_write = write_id_parse(a.idtext, &id, err, sizeof(err))) < 0)
		return cli_usage_error("%s", err);
	r = is_write ? 0 : live_id_parse(a.idtext, &id, err, sizeof(err));
	if (r < 0 || (!is_write && !r &&
		      state_id_parse(a.idtext, &id, err, sizeof(err))))
		return cli_usage_error("%s", err);
	m.live = r;
	if (cli_split_variant(id.name, base, sizeof(base), &cfg.cache_blocks))
		return cli_usage_error("unknown variant in '%s' (only +small)", id.name);
	if ((rc = cli_split_backend(id.name, &cfg.client)))
		return rc;
	if ((rc = result_path(base, a.outpath, path, sizeof(path))))
		return rc;
	if ((rc = cli_load_named(base, &sc)))
		return rc;
	rc = 2;
	cfg.sc = sc;
	cfg.seed = id.seed;
	cfg.fault = id.fault;
	cfg.keep_state = -1;
	cfg.stop_after_recovery = id.fault.kind != FAULT_NONE;
	r = workload_run(&cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", base, pd_strerror(r));
		goto out_free_sc;
	}
	m.mutant = a.mutant;
	m.client = cfg.client;
	if (is_write) {
		if (write_fails(&res, &id, a.idtext))
			goto out_free_res;
		id.cut++;	/* the ops up to and with the write */
		nbase = workload_op_at(&res, id.cut - 1) + 1;
	} else if (m.live) {
		if (live_fails_here(&m, &res, a.idtext))
			goto out_free_res;
		nbase = res.nr_ops;
	} else {
		if (id_fits_run(&res, &id, a.idtext) ||
		    original_fails(&m, &res, &id, a.idtext))
			goto out_free_res;
		nbase = id.cut ? workload_op_at(&res, id.cut - 1) + 1 : 1;
	}
	u = malloc(nbase * sizeof(*u));
	ops = malloc(nbase * sizeof(*ops));
	if (!u || !ops) {
		fprintf(stderr, "pdcrash: out of memory\n");
		goto out_free_ops;
	}
	nu = 0;
	for (size_t i = 0; i < nbase; i++) {
		ops[i] = res.ops[i].op;
		if (i < cache_setup_ops(&res))
			continue;	/* every run of the candidate makes them */
		u[nu].op = ops[i];
		u[nu++].first = i;
	}
	/* the lines: runs of single maps folded back into ranges */
	nu = fold(u, nu);
	m.base = ops;
	m.geo = res.geo;
	m.seed = id.seed;
	m.tear = id.tear;
	m.fault = id.fault;
	m.cur_fault = id.fault;
	m.t0 = now_sec();
	m.progress = isatty(2) && !a.quiet_progress;
	m.jobs = a.jobs ? a.jobs : cli_default_jobs();
	m.max_runs = a.max_runs ? a.max_runs :
		     nu * MIN_RUNS_PER_LINE < MIN_MIN_RUNS ? MIN_MIN_RUNS :
		     nu * MIN_RUNS_PER_LINE > MIN_MAX_RUNS ? MIN_MAX_RUNS :
		     (unsigned)(nu * MIN_RUNS_PER_LINE);
	m.max_seconds = a.max_seconds > 0 ? a.max_seconds : MIN_MAX_SECONDS;
	find_anchor(&m, &res, nbase);
	/* If the prefix does not fail alone (a difference the prefix
	 * argument misses), there is nothing sound to shrink. */
	if (!still_fails(&m, u, nu)) {
		fprintf(stderr, "pdcrash: the ops up to the cut, run as a scenario, "
			"do not fail (%zu ops, %u runs)\n", nbase, m.runs);
		goto out_free_ops;
	}
	n = shrink(&m, &u, nu);
	if (m.progress)
		fprintf(stderr, "\r%*s\r", 70, "");
	if ((rc = write_and_confirm(&m, u, n, nbase, a.idtext, &id, path, &v)))
		goto out_free_ops;
	print_result(&m, a.idtext, nbase, n, units_ops(u, n), path, &v);
	rc = 1;
out_free_ops:
	free(ops);
	free(u);
out_free_res:
	run_result_free(&res);
out_free_sc:
	scenario_free(sc);
	return rc;
}
