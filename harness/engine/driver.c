/* harness/engine/driver.c - pdcrash run: workers, aggregation (see driver.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "covdump.h"
#include "driver.h"
#include "errors.h"
#include "liveid.h"

enum rec_type { REC_BEGIN = 1, REC_RESULT = 2, REC_DONE = 3 };

/* What a worker sends for each state (fixed size: one write each). */
struct record {
	uint32_t type;
	int32_t outcome;
	uint64_t rank;			/* among the states this run keeps */
	uint64_t cut;
	uint64_t choice, nr_choices;
	int64_t state;
	char msg[400];
};

/* One variant of one scenario, run once; the states come from its log. */
struct job {
	const struct scenario *sc;
	struct run_config cfg;
	struct run_result res;
	uint64_t *cuts;
	size_t nr_cuts;
	uint64_t *first;		/* first global state index of each cut */
	uint64_t *nch;			/* choices at each cut */
	uint64_t *seg;			/* durable-image segment of each cut:
					 * a worker takes whole segments, so
					 * each base state is checked once */
	uint64_t total;			/* states in all */
	int cfg_tear;
	char name[128];
};

#define PD_NR_VARIANTS 2

struct worker {
	pid_t pid;
	int fd;
	unsigned slot;			/* j of jobs */
	uint64_t next_rank;		/* where a restart begins */
	int busy;			/* a BEGIN without its RESULT */
	struct record inflight;
	double last_heard;
	int done;
};

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int keep(const struct run_opts *o, uint64_t g, uint64_t *rank)
{
	if (!o->shard_n) {
		*rank = g;
		return 1;
	}
	if (g % o->shard_n != o->shard_k)
		return 0;
	*rank = g / o->shard_n;
	return 1;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* --- the worker side ------------------------------------------------------------ */

static void fill_id(const struct job *jb, const struct run_opts *o, uint64_t cut,
		    uint64_t choice, uint64_t nch, struct state_id *id)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->name, sizeof(id->name), "%s", jb->name);
	id->seed = o->seed;
	id->cut = cut;
	id->choice = choice;
	id->nr_choices = nch;
	id->tear = o->tear;
	id->fault = jb->cfg.fault;
}

/* A number from the environment, or dflt. */
static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* Results go out in batches of whole records, each batch one write of at
 * most PIPE_BUF bytes (atomic), so the parent always reads whole records. */
#define BATCH 8

struct outbuf {
	int fd;
	unsigned n;
	struct record rec[BATCH];
};

static void out_flush(struct outbuf *b)
{
	if (b->n && write_all(b->fd, b->rec, b->n * sizeof(b->rec[0])))
		_exit(3);
	b->n = 0;
}

static void out_add(struct outbuf *b, const struct record *rec)
{
	b->rec[b->n++] = *rec;
	if (b->n == BATCH)
		out_flush(b);
}

static void worker_main(const struct job *jb, const struct run_opts *o,
			unsigned slot, uint64_t start_rank, int fd)
{
	struct check_opts copts = {
		.no_continue = o->no_continue,
		.recovery_fault = o->io_errors,
	};
	struct check_memo memo = { 0 };
	struct outbuf ob = { .fd = fd };
	uint64_t crash_rank = env_u64("PDCRASH_SELFTEST_CRASH", UINT64_MAX);
	uint64_t hang_rank = env_u64("PDCRASH_SELFTEST_HANG", UINT64_MAX);
	struct sd_cutter *cutter;
	struct record rec;
	int r;

	r = sd_cutter_create(jb->res.sd, &cutter);
	if (r)
		_exit(3);
	for (size_t ci = 0; ci < jb->nr_cuts; ci++) {
		int seeked = 0;

		for (uint64_t c = 0; c < jb->nch[ci]; c++) {
			uint64_t g = jb->first[ci] + c, rank;
			struct state_id id;
			struct check_out out;

			if (!keep(o, g, &rank) || jb->seg[ci] % o->jobs != slot ||
			    rank < start_rank)
				continue;
			if (!seeked) {
				if (sd_cutter_seek(cutter, jb->cuts[ci]))
					_exit(3);
				seeked = 1;
			}
			memset(&rec, 0, sizeof(rec));
			rec.rank = rank;
			rec.cut = jb->cuts[ci];
			rec.choice = c;
			rec.nr_choices = jb->nch[ci];
			fill_id(jb, o, jb->cuts[ci], c, jb->nch[ci], &id);
			if (rank == crash_rank || rank == hang_rank) {
				/* self-test hooks: recovery that crashes or
				 * hangs in this state */
				rec.type = REC_BEGIN;
				out_add(&ob, &rec);
				out_flush(&ob);
				if (rank == crash_rank)
					raise(SIGSEGV);
				for (;;)
					pause();
			}
			if (o->no_memo ||
			    !check_state_cached(&jb->res, cutter, &id, &memo,
						&out)) {
				/* Recovery runs: say which state, in case it
				 * crashes or hangs. */
				rec.type = REC_BEGIN;
				out_add(&ob, &rec);
				out_flush(&ob);
				check_state(&jb->res, cutter, &id, &copts,
					    o->no_memo ? NULL : &memo, &out);
			}
			rec.type = REC_RESULT;
			rec.outcome = out.outcome;
			rec.state = out.state;
			snprintf(rec.msg, sizeof(rec.msg), "%s", out.msg);
			out_add(&ob, &rec);
		}
	}
	sd_cutter_destroy(cutter);
	check_memo_free(&memo);
	memset(&rec, 0, sizeof(rec));
	rec.type = REC_DONE;
	out_add(&ob, &rec);
	out_flush(&ob);
	cov_worker_exit();
	_exit(0);
}

static int spawn(const struct job *jb, const struct run_opts *o,
		 struct worker *w)
{
	int p[2];

	if (pipe(p))
		return -errno;
	fflush(NULL);
	w->pid = fork();
	if (w->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (w->pid == 0) {
		close(p[0]);
		cov_worker_start();
		worker_main(jb, o, w->slot, w->next_rank, p[1]);
	}
	close(p[1]);
	w->fd = p[0];
	w->busy = 0;
	w->done = 0;
	w->last_heard = now_sec();
	return 0;
}

/* --- the parent side ------------------------------------------------------------ */

static int add_violation(struct run_summary *sum, const char *id,
			 const char *msg)
{
	struct violation *v = realloc(sum->violations,
				      (sum->nr_violations + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	sum->violations = v;
	v = &sum->violations[sum->nr_violations++];
	snprintf(v->id, sizeof(v->id), "%s", id);
	snprintf(v->msg, sizeof(v->msg), "%s", msg);
	return 0;
}

static void account(const struct job *jb, const struct run_opts *o,
		    struct variant_stats *vs, struct run_summary *sum,
		    const struct record *rec)
{
	uint64_t len = simdisk_nr_ops(jb->res.sd) + 1;
	size_t bin = (size_t)(rec->cut * PLOT_BINS / len);
	enum outcome oc = (enum outcome)rec->outcome;

	if (oc >= OUT_NR)
		oc = OUT_VIOLATION;
	vs->outcomes[oc]++;
	vs->plot[bin < PLOT_BINS ? bin : PLOT_BINS - 1][oc]++;
	if (oc == OUT_VIOLATION) {
		struct state_id id;
		char text[200];

		fill_id(jb, o, rec->cut, rec->choice, rec->nr_choices, &id);
		state_id_format(&id, text, sizeof(text));
		add_violation(sum, text, rec->msg);
	}
}

static void progress(const struct run_opts *o, const char *name, uint64_t done,
		     uint64_t total, double t0, double *last)
{
	double t = now_sec();

	if (!o->progress || t - *last < 0.5)
		return;
	*last = t;
	fprintf(stderr, "\r%-32s %10" PRIu64 " / %" PRIu64 " states, %.0f/s   ",
		name, done, total, done / (t - t0 + 1e-9));
	fflush(stderr);
}

static int explore_job(const struct job *jb, const struct run_opts *o,
		       struct variant_stats *vs, struct run_summary *sum)
{
	unsigned nw = o->jobs;
	struct worker *ws = calloc(nw, sizeof(*ws));
	uint64_t done = 0, kept = 0, rank;
	double t0 = now_sec(), last = 0;
	double timeout = (double)env_u64("PDCRASH_STATE_TIMEOUT", STATE_TIMEOUT_SEC);
	int r = 0;

	if (!ws)
		return -ENOMEM;
	for (uint64_t g = 0; g < jb->total; g++)
		kept += keep(o, g, &rank);
	for (unsigned j = 0; j < nw; j++) {
		ws[j].slot = j;
		r = spawn(jb, o, &ws[j]);
		if (r)
			goto out;
	}
	for (;;) {
		struct pollfd pf[64];
		unsigned map[64], n = 0;

		for (unsigned j = 0; j < nw && n < 64; j++)
			if (!ws[j].done) {
				pf[n].fd = ws[j].fd;
				pf[n].events = POLLIN;
				map[n++] = j;
			}
		if (!n)
			break;
		int k = poll(pf, n, 1000);
		if (k < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
		double t = now_sec();
		for (unsigned i = 0; i < n; i++) {
			struct worker *w = &ws[map[i]];
			struct record rec;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
				if (w->busy && t - w->last_heard > timeout)
					kill(w->pid, SIGKILL);	/* a hang */
				continue;
			}
			struct record recs[BATCH];
			ssize_t got = read(w->fd, recs, sizeof(recs));
			if (got > 0 && got % (ssize_t)sizeof(rec) == 0) {
				w->last_heard = t;
				for (ssize_t x = 0; x < got / (ssize_t)sizeof(rec); x++) {
					rec = recs[x];
					if (rec.type == REC_BEGIN) {
						w->busy = 1;
						w->inflight = rec;
					} else if (rec.type == REC_RESULT) {
						w->busy = 0;
						w->next_rank = rec.rank + 1;
						account(jb, o, vs, sum, &rec);
						done++;
					} else {
						w->done = 1;
					}
				}
				if (w->done) {
					close(w->fd);
					waitpid(w->pid, NULL, 0);
				}
				continue;
			}
			/* EOF or a short read: the worker died. */
			int status = 0;
			close(w->fd);
			waitpid(w->pid, &status, 0);
			if (!w->busy) {
				/* died between states: harness trouble */
				fprintf(stderr, "pdcrash: worker %u exited (status 0x%x) "
					"outside a state\n", w->slot, status);
				r = -EIO;
				w->done = 1;
				goto out;
			}
			struct record bad = w->inflight;
			bad.type = REC_RESULT;
			bad.outcome = OUT_VIOLATION;
			bad.state = -2;
			if (WIFSIGNALED(status))
				snprintf(bad.msg, sizeof(bad.msg),
					 WTERMSIG(status) == SIGKILL ?
					 "recovery hung (no answer in %d s)" :
					 "recovery crashed: signal %d",
					 WTERMSIG(status) == SIGKILL ?
					 (int)timeout : WTERMSIG(status));
			else
				snprintf(bad.msg, sizeof(bad.msg),
					 "recovery exited with status %d",
					 WEXITSTATUS(status));
			account(jb, o, vs, sum, &bad);
			done++;
			w->next_rank = bad.rank + 1;
			r = spawn(jb, o, w);
			if (r)
				goto out;
		}
		progress(o, jb->name, done, kept, t0, &last);
	}
	vs->states += done;
out:
	for (unsigned j = 0; j < nw; j++) {
		if (!ws[j].done && ws[j].pid > 0) {
			kill(ws[j].pid, SIGKILL);
			close(ws[j].fd);
			waitpid(ws[j].pid, NULL, 0);
		}
	}
	free(ws);
	if (o->progress)
		fprintf(stderr, "\r%*s\r", 80, "");
	return r;
}

/* In a fault run, the cut points that matter: every cut from the op that
 * met the first injected error to the end of the recovery from it (abort,
 * the needs_check write), then the next commit (the workload stops after
 * it) at its flush boundaries: the cut just before each flush and just
 * after it.  A cut inside a burst of writes has for states the durable
 * image plus subsets of the writes so far, which the cut at the end of the
 * burst also has; and the ops between the recovery and the next commit
 * build an ordinary transaction, whose crash states the fault-free run
 * covers. */
/* Is the next write or flush after log position c a flush? */
static int next_is_flush(const struct run_result *res, uint64_t c)
{
	for (uint64_t i = c; i < simdisk_nr_ops(res->sd); i++) {
		enum sd_op_kind k = simdisk_op(res->sd, i)->kind;

		if (k == SD_FLUSH)
			return 1;
		if (k == SD_WRITE || k == SD_WRITE_FUA)
			return 0;
	}
	return 1;
}

static void fault_window(struct job *jb)
{
	const struct run_result *res = &jb->res;
	uint64_t next_begin = UINT64_MAX, n = simdisk_nr_ops(res->sd);
	size_t k = 0;

	if (!res->injected) {
		jb->nr_cuts = 0;		/* the fault never fired */
		return;
	}
	for (uint64_t i = res->recovered_seq; i < n; i++) {
		const struct sd_op *op = simdisk_op(res->sd, i);

		if (op->kind == SD_MARKER && op->marker == MK_COMMIT_BEGIN) {
			next_begin = i;
			break;
		}
	}
	for (size_t i = 0; i < jb->nr_cuts; i++) {
		uint64_t c = jb->cuts[i];
		int at_flush = c == n || next_is_flush(res, c) ||
			(c && simdisk_op(res->sd, c - 1)->kind == SD_FLUSH);

		if ((c >= res->first_error_seq && c <= res->recovered_seq) ||
		    (c > next_begin && at_flush))
			jb->cuts[k++] = c;
	}
	jb->nr_cuts = k;
}

static int prepare_job(struct job *jb)
{
	struct sd_cutter *c;
	int r;

	jb->nr_cuts = cut_points(&jb->res, &jb->cuts);
	if (!jb->nr_cuts)
		return -ENOMEM;
	if (jb->cfg.fault.kind != FAULT_NONE || jb->cfg.fiu_name)
		fault_window(jb);
	jb->first = malloc((jb->nr_cuts + 1) * sizeof(*jb->first));
	jb->nch = malloc((jb->nr_cuts + 1) * sizeof(*jb->nch));
	jb->seg = malloc((jb->nr_cuts + 1) * sizeof(*jb->seg));
	if (!jb->first || !jb->nch || !jb->seg)
		return -ENOMEM;
	/* A new segment starts at every op that changes the durable image
	 * (good flush, good FUA write, resize) and at every marker. */
	uint64_t seg = 0, pos = 0;
	for (size_t i = 0; i < jb->nr_cuts; i++) {
		for (; pos < jb->cuts[i]; pos++) {
			const struct sd_op *op = simdisk_op(jb->res.sd, pos);

			if (op->kind == SD_MARKER ||
			    ((op->kind == SD_FLUSH || op->kind == SD_WRITE_FUA) &&
			     !op->failed))
				seg++;
		}
		jb->seg[i] = seg;
	}
	r = sd_cutter_create(jb->res.sd, &c);
	if (r)
		return r;
	jb->total = 0;
	for (size_t i = 0; i < jb->nr_cuts; i++) {
		r = sd_cutter_seek(c, jb->cuts[i]);
		if (r)
			break;
		jb->first[i] = jb->total;
		jb->nch[i] = nr_choices(sd_cutter_nr_pending(c), jb->cfg_tear);
		jb->total += jb->nch[i];
	}
	sd_cutter_destroy(c);
	return r;
}

static void free_job(struct job *jb)
{
	run_result_free(&jb->res);
	free(jb->cuts);
	free(jb->first);
	free(jb->nch);
	free(jb->seg);
}

static int run_variant(const struct run_opts *o, const struct scenario *sc,
		       const char *variant, unsigned cache,
		       struct fault_spec fault, struct run_summary *sum,
		       struct variant_stats *vs, uint64_t counts[3])
{
	struct job jb;
	int r;

	memset(&jb, 0, sizeof(jb));
	snprintf(jb.name, sizeof(jb.name), "%s%s", sc->name, variant);
	jb.sc = sc;
	jb.cfg.sc = sc;
	jb.cfg.seed = o->seed;
	jb.cfg.cache_blocks = cache;
	jb.cfg.fault = fault;
	jb.cfg.keep_state = -1;
	jb.cfg.fiu_name = o->fiu_name;
	jb.cfg.fiu_nth = o->fiu_nth;
	jb.cfg.stop_after_recovery = fault.kind != FAULT_NONE;
	jb.cfg_tear = o->tear;
	r = workload_run(&jb.cfg, &jb.res);
	if (r)
		return r;
	vs->runs++;
	vs->injected += jb.res.injected;
	if (jb.res.live_failed) {
		char text[200], msg[600];

		/* no crash state: an id of its own kind (liveid.h) */
		live_id_format(jb.name, o->seed, &jb.cfg.fault, text, sizeof(text));
		snprintf(msg, sizeof(msg), "live run: %s", jb.res.live_msg);
		add_violation(sum, text, msg);
		sum->live_failures++;
		vs->outcomes[OUT_VIOLATION]++;
	}
	if (o->io_errors && fault.kind == FAULT_NONE) {
		counts[0] = simdisk_count(jb.res.sd, SD_READ);
		counts[1] = simdisk_count(jb.res.sd, SD_WRITE);
		counts[2] = simdisk_count(jb.res.sd, SD_FLUSH);
	}
	r = prepare_job(&jb);
	if (!r && jb.nr_cuts) {
		vs->cut_points += jb.nr_cuts;
		vs->log_ops += simdisk_nr_ops(jb.res.sd);
		vs->commits += jb.res.nr_states;
		r = explore_job(&jb, o, vs, sum);
	}
	free_job(&jb);
	return r;
}

/* By id, live failures first: they come before, and explain, the crash
 * states of the same run that disagree. */
static int cmp_violation(const void *a, const void *b)
{
	const char *x = ((const struct violation *)a)->id;
	const char *y = ((const struct violation *)b)->id;
	int lx = strstr(x, LIVE_ID_TAG) != NULL, ly = strstr(y, LIVE_ID_TAG) != NULL;

	if (lx != ly)
		return ly - lx;
	return strcmp(x, y);
}

/*
 * The fault plan of one variant under --io-errors: after the fault-free
 * run, every read, write and flush N of that run failed once and then from
 * N on, each a run of its own, in that order (reads, writes, flushes; N
 * ascending; once before sticky).  Reads beyond MAX_READ_FAULTS are
 * sampled: that many, spread evenly.
 */
struct fault_plan {
	uint64_t counts[3];		/* reads, writes, flushes of the run */
	uint64_t limit[3];		/* how many of each are failed */
	int kind;			/* 0..2; 3 when done */
	uint64_t x;			/* 1..limit[kind] */
	int sticky;
	int started;
};

static void fault_plan_init(struct fault_plan *p, const uint64_t counts[3],
			    struct variant_stats *vs)
{
	memset(p, 0, sizeof(*p));
	for (int k = 0; k < 3; k++)
		p->counts[k] = p->limit[k] = counts[k];
	if (p->limit[0] > MAX_READ_FAULTS) {
		vs->reads_sampled = p->counts[0];
		p->limit[0] = MAX_READ_FAULTS;
	}
}

/* The next fault of the plan in *f: 1, or 0 when the plan is done. */
static int fault_plan_next(struct fault_plan *p, struct fault_spec *f)
{
	uint64_t c, m;

	if (!p->started) {
		p->started = 1;
		p->x = 1;
	} else if (!p->sticky) {
		p->sticky = 1;
	} else {
		p->sticky = 0;
		p->x++;
	}
	while (p->kind < 3 && p->x > p->limit[p->kind]) {
		p->kind++;
		p->x = 1;
		p->sticky = 0;
	}
	if (p->kind >= 3)
		return 0;
	c = p->counts[p->kind];
	m = p->limit[p->kind];
	f->kind = (enum fault_kind)(FAULT_READ + p->kind);
	f->nth = m == c ? p->x : 1 + (p->x - 1) * c / m;
	f->sticky = p->sticky;
	return 1;
}

static const struct { const char *suffix; unsigned cache; } variants[] = {
	{ "", 0 },
	{ "+small", SMALL_CACHE_BLOCKS },
};

/* Every run of variant v of sc: the one fault given (minimize), or the
 * fault-free run and then, with --io-errors, its fault plan. */
static int run_all_of_variant(const struct run_opts *o,
			      const struct scenario *sc, size_t v,
			      struct run_summary *sum, struct variant_stats *vs)
{
	struct fault_spec f = { FAULT_NONE, 0, 0 };
	struct fault_plan plan;
	uint64_t counts[3] = { 0, 0, 0 };
	int r;

	snprintf(vs->name, sizeof(vs->name), "%s%s", sc->name,
		 variants[v].suffix);
	if (o->fault)
		return run_variant(o, sc, variants[v].suffix, variants[v].cache,
				   *o->fault, sum, vs, counts);
	r = run_variant(o, sc, variants[v].suffix, variants[v].cache, f, sum,
			vs, counts);
	if (r || !o->io_errors)
		return r;
	fault_plan_init(&plan, counts, vs);
	while (!r && fault_plan_next(&plan, &f))
		r = run_variant(o, sc, variants[v].suffix, variants[v].cache, f,
				sum, vs, counts);
	return r;
}

int driver_run(const struct run_opts *o, struct run_summary *sum)
{
	double t0 = now_sec();
	int r = 0;

	memset(sum, 0, sizeof(*sum));
	sum->jobs = o->jobs;
	sum->variants = calloc(o->nr_scenarios * PD_NR_VARIANTS,
			       sizeof(*sum->variants));
	if (!sum->variants)
		return -ENOMEM;
	for (size_t i = 0; i < o->nr_scenarios && !r; i++) {
		for (size_t v = 0; v < PD_NR_VARIANTS && !r; v++) {
			if (o->variants_mask && !(o->variants_mask & (1u << v)))
				continue;
			r = run_all_of_variant(o, o->scenarios[i], v, sum,
					       &sum->variants[sum->nr_variants++]);
		}
	}
	for (size_t v = 0; v < sum->nr_variants; v++) {
		const struct variant_stats *vs = &sum->variants[v];

		sum->states += vs->states;
		sum->cut_points += vs->cut_points;
		sum->injected += vs->injected;
		for (int k = 0; k < OUT_NR; k++)
			sum->outcomes[k] += vs->outcomes[k];
	}
	if (sum->nr_violations)
		qsort(sum->violations, sum->nr_violations,
		      sizeof(*sum->violations), cmp_violation);
	sum->seconds = now_sec() - t0;
	return r;
}

void run_summary_free(struct run_summary *sum)
{
	free(sum->variants);
	free(sum->violations);
	memset(sum, 0, sizeof(*sum));
}
