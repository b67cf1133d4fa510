/* harness/engine/driver.c - pdcrash run: workers, aggregation (see driver.h). */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache_client.h"
#include "covdump.h"
#include "driver.h"
#include "errors.h"
#include "grow.h"
#include "prng.h"
#include "thin.h"
#include "forkpipe.h"
#include "writecheck.h"
#include "liveid.h"

enum rec_type { REC_BEGIN = 1, REC_RESULT = 2, REC_DONE = 3,
		REC_LEAF = 4,		/* exhaustive: msg = the leaf of the next
					 * violation */
		REC_COVER = 5,		/* exhaustive: msg = a piece of the hex
					 * count of states covered */
		REC_CUT = 6 };		/* exhaustive: a cut done (see
					 * worker_main_lazy) */

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
	int lazy;			/* exhaustive mode */
	struct bignum *cut_total;	/* exhaustive: states of each cut */
	uint64_t *cut_sampled;		/* exhaustive: --sample's count */
	/* the write check (writecheck.h): a fault-free run keeps its trail
	 * in *wc_record for the sweeps; a sweep's fault run resumes from
	 * wc_resume, its first wc_shared log entries being that run's */
	struct writecheck_trail **wc_record;
	const struct writecheck_trail *wc_resume;
	uint64_t wc_shared;
	int inproc;			/* explore in this process (see
					 * explore_inproc) */
};

#define PD_NR_VARIANTS 2

/* The IO kinds --io-errors fails, in the plan's order: the metadata
 * disk's reads, writes, flushes, then the data disk's writes and flushes
 * (datadev.h DD3, DD4; none without a data device). */
#define NR_IO_KINDS 5
static const enum fault_kind io_fault_kinds[NR_IO_KINDS] = {
	FAULT_READ, FAULT_WRITE, FAULT_FLUSH, FAULT_DATA_WRITE, FAULT_DATA_FLUSH,
};

struct worker {
	pid_t pid;
	int fd;
	unsigned slot;			/* j of jobs */
	uint64_t next_rank;		/* where a restart begins */
	int busy;			/* a BEGIN without its RESULT */
	struct record inflight;
	double last_heard;
	int done;
	struct lazy_worker *lz;		/* exhaustive mode */
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
	/* explore_inproc: the records go to sink, not to fd */
	void (*sink)(void *ctx, const struct record *rec, unsigned n);
	void *sink_ctx;
};

static void out_flush(struct outbuf *b)
{
	if (b->n && b->sink)
		b->sink(b->sink_ctx, b->rec, b->n);
	else if (b->n && write_all(b->fd, b->rec, b->n * sizeof(b->rec[0])))
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
		.recovery_fault = o->io_errors &&
				  !fault_is_media(jb->cfg.fault.kind) &&
				  !fault_is_alloc(jb->cfg.fault.kind),
		.recovery_alloc_fault = fault_is_alloc(jb->cfg.fault.kind),
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

static void worker_main_lazy(const struct job *jb, const struct run_opts *o,
			     const struct worker *w, int fd);
static int lazy_record(const struct job *jb, const struct run_opts *o,
		       struct worker *w, struct variant_stats *vs,
		       struct run_summary *sum, const struct record *rec);
static void lazy_died(struct worker *w, const struct record *bad);
static void lazy_worker_free(struct worker *w);

static int spawn(const struct job *jb, const struct run_opts *o,
		 struct worker *w)
{
	int fd;

	w->pid = fork_piped(&fd);
	if (w->pid < 0)
		return (int)w->pid;
	if (w->pid == 0) {
		cov_worker_start();
		if (!o->sample)
			worker_main_lazy(jb, o, w, fd);
		worker_main(jb, o, w->slot, w->next_rank, fd);
	}
	w->fd = fd;
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
	if (sum->nr_violations == 1) {
		snprintf(sum->first_id, sizeof(sum->first_id), "%s", id);
		sum->first_seconds = now_sec() - sum->started;
	}
	return 0;
}

/* --fail-fast: a violation was found, start nothing more. */
static int stop_now(const struct run_opts *o, const struct run_summary *sum)
{
	return o->fail_fast && sum->nr_violations;
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

static int inproc_ok(const struct run_opts *o);
static int explore_inproc(const struct job *jb, const struct run_opts *o,
			  struct variant_stats *vs, struct run_summary *sum);

static int explore_job(const struct job *jb, const struct run_opts *o,
		       struct variant_stats *vs, struct run_summary *sum)
{
	unsigned nw = o->jobs;
	struct worker *ws = calloc(nw, sizeof(*ws));
	uint64_t done = 0, kept = 0, rank;
	double t0 = now_sec(), last = 0;
	double timeout = (double)env_u64("PDCRASH_STATE_TIMEOUT", STATE_TIMEOUT_SEC);
	int r = 0;

	if (jb->inproc && inproc_ok(o)) {
		free(ws);
		return explore_inproc(jb, o, vs, sum);
	}
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
					if (!o->sample && rec.type != REC_BEGIN &&
					    rec.type != REC_DONE) {
						done += lazy_record(jb, o, w, vs, sum, &rec);
					} else if (rec.type == REC_BEGIN) {
						w->busy = 1;
						w->inflight = rec;
					} else if (rec.type == REC_RESULT) {
						w->busy = 0;
						w->next_rank = rec.rank + 1;
						account(jb, o, vs, sum, &rec);
						done++;
						if (stop_now(o, sum))
							break;
					} else {
						w->done = 1;
					}
				}
				if (w->done) {
					close(w->fd);
					waitpid(w->pid, NULL, 0);
				}
				if (stop_now(o, sum))
					break;
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
			if (o->sample) {
				account(jb, o, vs, sum, &bad);
				w->next_rank = bad.rank + 1;
			} else {
				lazy_died(w, &bad);
				lazy_record(jb, o, w, vs, sum, &bad);
			}
			done++;
			if (stop_now(o, sum))
				break;
			r = spawn(jb, o, w);
			if (r)
				goto out;
		}
		progress(o, jb->name, done, kept, t0, &last);
		if (stop_now(o, sum))
			break;
	}
	vs->states += done;
out:
	for (unsigned j = 0; j < nw; j++) {
		if (!ws[j].done && ws[j].pid > 0) {
			kill(ws[j].pid, SIGKILL);
			close(ws[j].fd);
			waitpid(ws[j].pid, NULL, 0);
		}
		lazy_worker_free(&ws[j]);
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

	uint64_t first = res->first_error_seq, recovered = res->recovered_seq;

	if (fault_is_media(jb->cfg.fault.kind)) {
		/* From the op the media fault hit (a lost sector: the cut
		 * after its write) to the core's recovery if it refused the
		 * block, then the next commit's flushes (the run stops after
		 * that commit, workload.h). */
		const struct sd_media_hit *h = simdisk_media_hit(res->sd);
		uint64_t at = h->seq + (h->kind == SD_MEDIA_LOST_SECTOR);

		if (!h->fired) {
			jb->nr_cuts = 0;
			return;
		}
		if (!res->injected || at < first)
			first = at;
		if (!res->injected || recovered < at)
			recovered = at;
	} else if (fault_is_alloc(jb->cfg.fault.kind) && !res->injected) {
		/* The failure happened and every op still answered as the
		 * model says (the core absorbed it): from there to the next
		 * commit (the run stops after it). */
		if (!res->alloc_fired) {
			jb->nr_cuts = 0;
			return;
		}
		first = recovered = res->alloc_seq;
	} else if (!res->injected) {
		/* An IO error no op returned: the backend absorbed it (the
		 * kernel's dm-bufio reads a failed prefetch again) or dropped
		 * it (README, kernel findings).  From there to the next commit
		 * (the run stops after it), as for an allocation failure. */
		if (!simdisk_plan_fired(res->sd, &first)) {
			jb->nr_cuts = 0;	/* the fault never fired */
			return;
		}
		recovered = first;
	}
	for (uint64_t i = recovered; i < n; i++) {
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

		if ((c >= first && c <= recovered) ||
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
	if (jb->lazy) {
		jb->cut_total = calloc(jb->nr_cuts + 1, sizeof(*jb->cut_total));
		jb->cut_sampled = calloc(jb->nr_cuts + 1, sizeof(*jb->cut_sampled));
		if (!jb->cut_total || !jb->cut_sampled)
			return -ENOMEM;
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
		if (jb->lazy) {
			/* exhaustive: one unit per cut */
			jb->cut_sampled[i] = jb->nch[i];
			jb->nch[i] = 1;
			/* explore_inproc takes it from explore_cut, which
			 * builds the cut's choice table anyway */
			if (!jb->inproc)
				r = cut_states_total(c, jb->cfg_tear,
						     &jb->cut_total[i]);
			if (r)
				break;
		}
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
	if (jb->cut_total)
		for (size_t i = 0; i < jb->nr_cuts; i++)
			bn_free(&jb->cut_total[i]);
	free(jb->cut_total);
	free(jb->cut_sampled);
}

static int lazy_job_totals(const struct job *jb, const struct run_opts *o,
			   struct variant_stats *vs);

/* The write-time invariants on the run's log (once: shard 0 only), each
 * violation listed with its write id and counted apart. */
static int run_writecheck(const struct job *jb, const struct run_opts *o,
			  struct run_summary *sum, struct variant_stats *vs)
{
	struct writecheck wc;
	int r;

	if (o->shard_n && o->shard_k)
		return 0;
	r = writecheck_run_trail(&jb->res, o->fail_fast ? 1 : 0, jb->wc_resume,
				 jb->wc_shared, jb->wc_record, &wc);
	if (r)
		return r;
	vs->writes_checked += wc.writes;
	vs->write_walks += wc.walks;
	for (size_t i = 0; i < wc.nr && !r; i++) {
		char text[200];

		write_id_format(jb->name, o->seed, wc.v[i].seq, &jb->cfg.fault,
				text, sizeof(text));
		r = add_violation(sum, text, wc.v[i].msg);
		vs->write_violations++;
	}
	writecheck_free(&wc);
	return r;
}

static void job_init(struct job *jb, const struct run_opts *o,
		     const struct scenario *sc, const char *variant,
		     unsigned cache, struct fault_spec fault)
{
	memset(jb, 0, sizeof(*jb));
	snprintf(jb->name, sizeof(jb->name), "%s%s%s%s", sc->name, variant,
		 o->client ? "@" : "", o->client ? o->client->name : "");
	jb->cfg.client = o->client;
	jb->sc = sc;
	jb->cfg.sc = sc;
	jb->cfg.seed = o->seed;
	jb->cfg.cache_blocks = cache;
	jb->cfg.fault = fault;
	jb->cfg.keep_state = -1;
	jb->cfg.fiu_name = o->fiu_name;
	jb->cfg.fiu_nth = o->fiu_nth;
	jb->cfg.stop_after_recovery = fault.kind != FAULT_NONE;
	jb->cfg_tear = o->tear;
	jb->lazy = !o->sample;
}

/* SW1: where the fault-free run's setup ended, for the sweeps; a run
 * whose setup never ended (the pool died in it) plans nothing. */
static void setup_counts(const struct run_result *res,
			 struct variant_stats *vs)
{
	_Static_assert(NR_IO_KINDS * sizeof(uint64_t) == sizeof(res->setup_io),
		       "run_result.setup_io has the plan's IO kinds");
	vs->has_setup = res->has_setup;
	for (int k = 0; k < NR_IO_KINDS; k++)
		vs->setup_io[k] = !res->has_setup ? 0 :
				  res->in_setup ? UINT64_MAX : res->setup_io[k];
}

/* The IO ops of kind k the sweeps may fail: those after the setup. */
static uint64_t after_setup(const struct variant_stats *vs,
			    const uint64_t counts[NR_IO_KINDS], int k)
{
	return counts[k] > vs->setup_io[k] ? counts[k] - vs->setup_io[k] : 0;
}

/* The x-th (1-based) of the m faults spread over the c ops of kind k
 * after the setup: its number in the whole run. */
static uint64_t spread_nth(const struct variant_stats *vs, int k,
			   uint64_t x, uint64_t m, uint64_t c)
{
	return vs->setup_io[k] + (m == c ? x : 1 + (x - 1) * c / m);
}

/* A run's workload has run (jb->res): its live verdict, then its crash
 * states; frees the job.  counts (fault-free run with --io-errors, may be
 * NULL) gets its reads, writes and flushes. */
static int check_variant_run(const struct run_opts *o, struct job *jb,
			     struct run_summary *sum, struct variant_stats *vs,
			     uint64_t counts[NR_IO_KINDS])
{
	int r;

	vs->runs++;
	vs->injected += jb->res.injected;
	if (fault_is_media(jb->cfg.fault.kind)) {
		vs->media_runs++;
		vs->media_fired += simdisk_media_hit(jb->res.sd)->fired;
		vs->media_refused += jb->res.injected != 0;
	}
	if (fault_is_data(jb->cfg.fault.kind)) {
		vs->data_runs++;
		vs->data_fired += jb->res.injected != 0;
	}
	if (fault_is_alloc(jb->cfg.fault.kind)) {
		vs->alloc_fired += jb->res.alloc_fired != 0;
		vs->alloc_failed += jb->res.injected || jb->res.stopped;
	}
	if (jb->res.live_failed) {
		char text[200], msg[600];

		/* no crash state: an id of its own kind (liveid.h) */
		live_id_format(jb->name, o->seed, &jb->cfg.fault, text,
			       sizeof(text));
		snprintf(msg, sizeof(msg), "live run: %s", jb->res.live_msg);
		add_violation(sum, text, msg);
		sum->live_failures++;
		vs->outcomes[OUT_VIOLATION]++;
	}
	r = run_writecheck(jb, o, sum, vs);
	if (r)
		goto out_free;
	if (counts && (o->io_errors || o->media_faults) &&
	    jb->cfg.fault.kind == FAULT_NONE) {
		counts[0] = simdisk_count(jb->res.sd, SD_READ);
		counts[1] = simdisk_count(jb->res.sd, SD_WRITE);
		counts[2] = simdisk_count(jb->res.sd, SD_FLUSH);
		if (jb->res.dd) {
			struct simdisk *dsd = datadev_disk(jb->res.dd);

			counts[3] = simdisk_count(dsd, SD_WRITE);
			counts[4] = simdisk_count(dsd, SD_FLUSH);
		}
	}
	if (counts && jb->cfg.fault.kind == FAULT_NONE)
		setup_counts(&jb->res, vs);
	r = prepare_job(jb);
	if (!r && jb->nr_cuts && !stop_now(o, sum)) {
		vs->cut_points += jb->nr_cuts;
		vs->log_ops += simdisk_nr_ops(jb->res.sd);
		vs->commits += jb->res.nr_states;
		r = explore_job(jb, o, vs, sum);
		if (!r && !o->sample)
			r = lazy_job_totals(jb, o, vs);
	}
out_free:
	free_job(jb);
	return r;
}

/*
 * The allocation plan of --alloc-faults.  Allocations are far more
 * numerous than IO ops (every cache miss of the block manager allocates),
 * and most of them fail the same way as the one before: what differs is
 * the path the error takes back up.  So a site is the call stack of the
 * hit, its innermost `depth` frames from the allocating function (the
 * frame that called pd_malloc or sm_new_block, or at -O0 that inline
 * wrapper itself) up, and the fault-free run
 * plans one fault run for each hit whose (kind, site) it has not seen
 * before in this variant: the first hit of each site fails.  The rule is
 * deterministic (the run is; the frames are compared, never printed), the
 * ids name only the hit number (emN, esN), so they replay on any build;
 * which hits the plan picks depends on the binary's inlining.
 *
 * The frames alone (--alloc-site frames) stop short of the caller that
 * handles the error: the same bm read under a thin_delete and under a
 * thin_map is one site, and only the first of them fails.  So by default
 * (--alloc-site op) the kind of the op running is part of the site (and
 * the dm-cache sub-op); --alloc-site line adds the op's scenario line
 * (one site per line and kind: a random line is one line), each-op the
 * op's index (the first hit of each site in every op).
 */
struct alloc_plan {
	unsigned depth;
	enum alloc_site site;
	const struct run_result *res;	/* the run: its op now */
	uint64_t *nth[2];		/* per kind, the hits to fail, ascending */
	size_t nr[2], cap[2];
	uint64_t *seen;			/* open-addressing set of site keys */
	size_t nr_seen, cap_seen;	/* cap a power of two */
	int err;
};

#define ALLOC_FRAMES_SKIP 3		/* plan_hook, alloc_hit, fiu_fail */

/* 1 if key was new (now kept), 0 if seen, -errno. */
static int plan_seen_add(struct alloc_plan *p, uint64_t key)
{
	size_t i;

	key |= 1;			/* 0 marks a free slot */
	if ((p->nr_seen + 1) * 2 > p->cap_seen) {
		size_t cap = p->cap_seen ? p->cap_seen * 2 : 1024;
		uint64_t *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t j = 0; j < p->cap_seen; j++) {
			if (!p->seen[j])
				continue;
			for (i = prng_derive(p->seen[j], 0) & (cap - 1); n[i];
			     i = (i + 1) & (cap - 1))
				;
			n[i] = p->seen[j];
		}
		free(p->seen);
		p->seen = n;
		p->cap_seen = cap;
	}
	for (i = prng_derive(key, 0) & (p->cap_seen - 1); p->seen[i];
	     i = (i + 1) & (p->cap_seen - 1))
		if (p->seen[i] == key)
			return 0;
	p->seen[i] = key;
	p->nr_seen++;
	return 1;
}

const char *const alloc_site_names[ALLOC_SITE_NR] = {
	[ALLOC_SITE_FRAMES] = "frames",
	[ALLOC_SITE_OP] = "op",
	[ALLOC_SITE_LINE] = "line",
	[ALLOC_SITE_EACH_OP] = "each-op",
};

/* What the op running adds to a site's key under p->site (0: nothing, or
 * the format, before the first op). */
static uint64_t plan_op_key(const struct alloc_plan *p)
{
	const struct run_result *res = p->res;
	const struct op *op;
	uint64_t key;

	if (p->site == ALLOC_SITE_FRAMES || !res || !res->nr_ops)
		return 0;
	op = &res->ops[res->nr_ops - 1].op;
	key = 1 + (uint64_t)op->kind + ((uint64_t)op->sub << 8);
	if (p->site == ALLOC_SITE_LINE)
		key = prng_derive(key, op->line);
	else if (p->site == ALLOC_SITE_EACH_OP)
		key = prng_derive(key, res->nr_ops);
	return key;
}

static void plan_hook(void *ctx, enum fault_kind kind, uint64_t n)
{
	struct alloc_plan *p = ctx;
	void *frames[ALLOC_FRAMES_SKIP + ALLOC_DEPTH_MAX];
	int k = kind == FAULT_NOSPACE, nf, r;
	uint64_t key = (uint64_t)k + 1;

	if (p->err || (p->res && p->res->in_setup))
		return;		/* SW1: nothing planned, no site seen */
	nf = backtrace(frames, ALLOC_FRAMES_SKIP + (int)p->depth);
	for (int i = ALLOC_FRAMES_SKIP; i < nf; i++)
		key = prng_derive(key, (uint64_t)(uintptr_t)frames[i]);
	key = prng_derive(key, plan_op_key(p));
	r = plan_seen_add(p, key);
	if (r < 0)
		p->err = r;
	if (r <= 0)
		return;		/* a site seen before */
	if (p->nr[k] == p->cap[k]) {
		size_t cap = p->cap[k] ? p->cap[k] * 2 : 64;
		uint64_t *a = realloc(p->nth[k], cap * sizeof(*a));

		if (!a) {
			p->err = -ENOMEM;
			return;
		}
		p->nth[k] = a;
		p->cap[k] = cap;
	}
	p->nth[k][p->nr[k]++] = n;
}

static void plan_free(struct alloc_plan *p)
{
	free(p->nth[0]);
	free(p->nth[1]);
	free(p->seen);
	memset(p, 0, sizeof(*p));
}

static int run_variant(const struct run_opts *o, const struct scenario *sc,
		       const char *variant, unsigned cache,
		       struct fault_spec fault, struct run_summary *sum,
		       struct variant_stats *vs, uint64_t counts[NR_IO_KINDS],
		       struct alloc_plan *plan, struct writecheck_trail **trail)
{
	struct job jb;
	int r;

	job_init(&jb, o, sc, variant, cache, fault);
	jb.wc_record = trail;
	if (plan) {
		jb.cfg.alloc_hook = plan_hook;
		jb.cfg.alloc_hook_ctx = plan;
		plan->res = &jb.res;
	}
	r = workload_run(&jb.cfg, &jb.res);
	if (plan)
		plan->res = NULL;
	if (r)
		return r;
	if (plan) {
		if (plan->err) {
			free_job(&jb);
			return plan->err;
		}
		vs->alloc_hits[0] = jb.res.alloc_hits[0];
		vs->alloc_hits[1] = jb.res.alloc_hits[1];
		vs->alloc_runs[0] = plan->nr[0];
		vs->alloc_runs[1] = plan->nr[1];
	}
	return check_variant_run(o, &jb, sum, vs, counts);
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
 * N on, each a run of its own, in that order (reads, writes, flushes of
 * the metadata disk, then writes and flushes of the data disk when the
 * scenario has one; N ascending; once before sticky).  Reads beyond
 * MAX_READ_FAULTS are sampled: that many, spread evenly.
 */
struct fault_plan {
	const struct variant_stats *vs;	/* its setup_io (SW1) */
	uint64_t counts[NR_IO_KINDS];	/* the run's IO ops of each kind
					 * after the setup */
	uint64_t limit[NR_IO_KINDS];	/* how many of each are failed */
	int kind;			/* 0..4; NR_IO_KINDS when done */
	uint64_t x;			/* 1..limit[kind] */
	int sticky;
	int started;
};

static void fault_plan_init(struct fault_plan *p,
			    const uint64_t counts[NR_IO_KINDS],
			    struct variant_stats *vs)
{
	memset(p, 0, sizeof(*p));
	p->vs = vs;
	for (int k = 0; k < NR_IO_KINDS; k++)
		p->counts[k] = p->limit[k] = after_setup(vs, counts, k);
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
	while (p->kind < NR_IO_KINDS && p->x > p->limit[p->kind]) {
		p->kind++;
		p->x = 1;
		p->sticky = 0;
	}
	if (p->kind >= NR_IO_KINDS)
		return 0;
	c = p->counts[p->kind];
	m = p->limit[p->kind];
	f->kind = io_fault_kinds[p->kind];
	f->nth = spread_nth(p->vs, p->kind, p->x, m, c);
	f->sticky = p->sticky;
	return 1;
}

static const struct { const char *suffix; unsigned cache; } variants[] = {
	{ "", 0 },
	{ "+small", SMALL_CACHE_BLOCKS },
};

/* The sweeps: IO errors (once and sticky at every read, write, flush),
 * media faults (bit rot at every read, a lost sector at every write),
 * allocation failures (the allocation plan's hits). */
enum sweep_mode { SWEEP_IO, SWEEP_MEDIA, SWEEP_ALLOC };

static int sweep_variant(const struct run_opts *o, const struct scenario *sc,
			 size_t v, enum sweep_mode mode, const uint64_t counts[NR_IO_KINDS],
			 const struct alloc_plan *plan,
			 const struct writecheck_trail *trail,
			 struct run_summary *sum, struct variant_stats *vs);

/* The fault runs one after another, each from the start (the linear sweep
 * is the default; this is its reference). */
static int sweep_serial(const struct run_opts *o)
{
	const char *e = getenv("PDCRASH_SWEEP");

	return o->fiu_name || (e && !strcmp(e, "serial"));
}

/* The fault runs of one sweep (mode) one after another, each from the
 * start, in the sweep's order. */
static int serial_runs(const struct run_opts *o, const struct scenario *sc,
		       size_t v, enum sweep_mode mode,
		       const uint64_t counts[NR_IO_KINDS],
		       const struct alloc_plan *plan, struct run_summary *sum,
		       struct variant_stats *vs)
{
	struct fault_spec f = { FAULT_NONE, 0, 0 };
	struct fault_plan fp;
	int r = 0;

	if (mode == SWEEP_IO) {
		fault_plan_init(&fp, counts, vs);
		while (!r && !stop_now(o, sum) && fault_plan_next(&fp, &f))
			r = run_variant(o, sc, variants[v].suffix,
					variants[v].cache, f, sum, vs, NULL, NULL,
					NULL);
		return r;
	}
	for (int k = 0; k < 2 && !r; k++) {
		uint64_t c = mode == SWEEP_ALLOC ? plan->nr[k] :
			     after_setup(vs, counts, k);
		uint64_t m = mode == SWEEP_MEDIA && k == 0 &&
			     c > MAX_READ_FAULTS ? MAX_READ_FAULTS : c;

		for (uint64_t x = 1; x <= m && !r && !stop_now(o, sum); x++) {
			if (mode == SWEEP_ALLOC) {
				f.kind = k ? FAULT_NOSPACE : FAULT_NOMEM;
				f.nth = plan->nth[k][x - 1];
			} else {
				/* bit rot at each read (sampled as
				 * --io-errors does), then a lost sector at
				 * each write */
				f.kind = k ? FAULT_LOST_SECTOR : FAULT_BITROT;
				f.nth = spread_nth(vs, k, x, m, c);
			}
			f.sticky = 0;
			r = run_variant(o, sc, variants[v].suffix,
					variants[v].cache, f, sum, vs, NULL, NULL,
					NULL);
		}
	}
	return r;
}

/* --media-faults on a dm-cache scenario on a kernel backend: not modelled
 * yet, named on stderr, never silently passed.  The adapter reads fields
 * the kernel keeps private with our core beside the kernel's own reads
 * (cache_client.h KC1), so bit rot in one of its reads is a disagreement
 * (-EPROTO), not the kernel's refusal; the core backend runs it.  1 if
 * skipped. */
static int kernel_cache_media_skip(const struct run_opts *o,
				   const struct scenario *sc, size_t v)
{
	if (!sc->geo.is_cache || !o->client ||
	    !strcmp(o->client->name, "core"))
		return 0;
	if (v == 0)
		fprintf(stderr, "%s: --media-faults: skipped: not modelled for "
			"dm-cache scenarios on backend %s yet\n", sc->name,
			o->client->name);
	return 1;
}

/* Every run of variant v of sc: the one fault given (minimize), or the
 * fault-free run and then the sweeps asked for (--io-errors,
 * --media-faults, --alloc-faults), each fault run by the linear sweep or,
 * with sweep_serial, from the start. */
static int run_all_of_variant(const struct run_opts *o,
			      const struct scenario *sc, size_t v,
			      struct run_summary *sum, struct variant_stats *vs)
{
	struct fault_spec f = { FAULT_NONE, 0, 0 };
	struct alloc_plan plan;
	struct writecheck_trail *trail = NULL;
	uint64_t counts[NR_IO_KINDS] = { 0, 0, 0, 0, 0 };
	int serial = sweep_serial(o), want_plan;
	int r;

	snprintf(vs->name, sizeof(vs->name), "%s%s%s%s", sc->name,
		 variants[v].suffix, o->client ? "@" : "",
		 o->client ? o->client->name : "");
	if (o->fault)
		return run_variant(o, sc, variants[v].suffix, variants[v].cache,
				   *o->fault, sum, vs, counts, NULL, NULL);
	memset(&plan, 0, sizeof(plan));
	plan.depth = o->alloc_depth ? o->alloc_depth : ALLOC_DEPTH_DEFAULT;
	plan.site = o->alloc_site ? (enum alloc_site)(o->alloc_site - 1) :
		    ALLOC_SITE_DEFAULT;
	want_plan = o->alloc_faults;
	/* the sweeps' fault runs check their writes from where they leave
	 * the fault-free run (writecheck.h, the trail) */
	r = run_variant(o, sc, variants[v].suffix, variants[v].cache, f, sum,
			vs, counts, want_plan ? &plan : NULL,
			serial ? NULL : &trail);
	if (!r && o->io_errors && !stop_now(o, sum))
		r = serial ? serial_runs(o, sc, v, SWEEP_IO, counts, NULL, sum, vs)
			   : sweep_variant(o, sc, v, SWEEP_IO, counts, NULL,
					   trail, sum, vs);
	if (!r && o->media_faults && !stop_now(o, sum) &&
	    !kernel_cache_media_skip(o, sc, v))
		r = serial ? serial_runs(o, sc, v, SWEEP_MEDIA, counts, NULL, sum, vs)
			   : sweep_variant(o, sc, v, SWEEP_MEDIA, counts, NULL,
					   trail, sum, vs);
	if (!r && want_plan && !stop_now(o, sum))
		r = serial ? serial_runs(o, sc, v, SWEEP_ALLOC, NULL, &plan, sum, vs)
			   : sweep_variant(o, sc, v, SWEEP_ALLOC, NULL, &plan,
					   trail, sum, vs);
	writecheck_trail_free(trail);
	plan_free(&plan);
	return r;
}

/* --- the linear sweep of --io-errors -------------------------------------
 *
 * Running every fault run of the plan from the start makes the sweep grow
 * with the square of the IO ops.  Instead the workload runs once more with
 * a simdisk op hook (simdisk_set_op_hook): at each op the plan fails, the
 * parent forks twice (the op failed once, and from then on); the child
 * plans that fault for that very op, goes on as that fault run, explores
 * its crash states with a worker of its own, sends its figures and
 * violations back and exits.  The prefix up to the op ran once, in the
 * parent.  At most o->jobs children run at once, so every core works,
 * while the parent only runs the fault-free workload and waits.
 *
 * A fault run is deterministic whatever process runs it, and the results
 * are merged in the plan's order (reads, writes, flushes; N ascending; once
 * before sticky), so figures, ids and messages are those of running the
 * fault runs one after another, as PDCRASH_SWEEP=serial still does (a test
 * compares the two).
 *
 * --media-faults forks the same way at each read and write, and
 * --alloc-faults at each hit of the allocation plan: there the hook is the
 * workload's allocation hook (workload.h, alloc_hook_fn), called from the
 * libfiu callback of core/alloc or sm/new_block, and the kid returns into
 * that callback with the fault planned, so that very hit fails.
 */
struct sweep_kid {
	pid_t pid;
	int fd;
	uint64_t order;			/* its fault's position in the plan */
	struct fault_spec fault;
	int inproc;			/* it explores without a worker: run
					 * it again if it dies (sweep_retry) */
	char *buf;			/* what it sent so far */
	size_t len, cap;
};

struct sweep_done {
	uint64_t order;
	struct fault_spec fault;
	char *buf;			/* the kid's message (see sweep_send) */
	size_t len;
	int status;			/* waitpid status */
};

struct sweep {
	const struct run_opts *o;
	struct run_summary *sum;
	struct job *jb;			/* the sweep's run; a kid changes its
					 * cfg to its fault */
	const struct scenario *sc;		/* the sweep's variant */
	size_t v;
	const struct writecheck_trail *trail;	/* the fault-free run's */
	struct writecheck_follow follow;	/* this run's log along it */
	uint64_t *nth[NR_IO_KINDS];	/* per kind, the ops the plan fails */
	uint64_t limit[NR_IO_KINDS];
	uint64_t base[NR_IO_KINDS];	/* order of a kind's first fault */
	struct sweep_kid *kids;
	unsigned nr_kids;
	struct sweep_done *done;
	size_t nr_done, cap_done;
	struct sweep_kid *retry;	/* kids to run again (sweep_retry) */
	size_t nr_retry, cap_retry;
	enum sweep_mode mode;
	int in_kid;			/* this process is a kid */
	int kid_fd;			/* kid: where its message goes */
	int stop;			/* --fail-fast: a violation came */
	int err;
};

/* Position of op n of kind k in the plan (1-based), 0 if not planned. */
static uint64_t sweep_position(const struct sweep *sw, int k, uint64_t n)
{
	uint64_t lo = 0, hi = sw->limit[k];

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (sw->nth[k][mid] < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sw->limit[k] && sw->nth[k][lo] == n ? lo + 1 : 0;
}

static const uint64_t inproc_mark = 0x70646372617368ull;	/* "pdcrash" */

/* Read what kid i has to say; at its end reap it and keep its message.
 * 1 when the kid is done, 0 if not yet, -errno. */
static int sweep_read_kid(struct sweep *sw, unsigned i)
{
	struct sweep_kid *kd = &sw->kids[i];
	char chunk[65536];
	ssize_t got = read(kd->fd, chunk, sizeof(chunk));

	if (got < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (got > 0) {
		if (kd->len + (size_t)got > kd->cap) {
			size_t cap = kd->cap ? kd->cap : 65536;
			char *n;

			while (cap < kd->len + (size_t)got)
				cap *= 2;
			n = realloc(kd->buf, cap);
			if (!n)
				return -ENOMEM;
			kd->buf = n;
			kd->cap = cap;
		}
		memcpy(kd->buf + kd->len, chunk, (size_t)got);
		kd->len += (size_t)got;
		return 0;
	}
	/* EOF: the kid is done (or died) */
	int status = 0;

	close(kd->fd);
	while (waitpid(kd->pid, &status, 0) < 0 && errno == EINTR)
		;
	/* an in-process kid's message begins with INPROC_MARK, sent when
	 * its workload was done: one that died before it died in its
	 * workload, as with a worker (sweep_died); after it, to run again
	 * with a worker (sweep_retry) */
	int marked = kd->inproc && kd->len >= sizeof(uint64_t) &&
		     !memcmp(kd->buf, &inproc_mark, sizeof(uint64_t));

	if (marked) {
		kd->len -= sizeof(uint64_t);
		memmove(kd->buf, kd->buf + sizeof(uint64_t), kd->len);
	}
	if (marked && (!WIFEXITED(status) || WEXITSTATUS(status))) {
		/* without memory for the retry, it counts as died */
		if (!grow_array(&sw->retry, &sw->cap_retry, sw->nr_retry,
				sizeof(*sw->retry))) {
			free(kd->buf);
			sw->retry[sw->nr_retry++] = *kd;
			sw->kids[i] = sw->kids[--sw->nr_kids];
			return 1;
		}
	}
	if (grow_array(&sw->done, &sw->cap_done, sw->nr_done,
		       sizeof(*sw->done)))
		return -ENOMEM;
	struct sweep_done *d = &sw->done[sw->nr_done++];
	d->order = kd->order;
	d->fault = kd->fault;
	d->buf = kd->buf;
	d->len = kd->len;
	d->status = status;
	if (sw->o->fail_fast && d->len >= 2 * sizeof(uint64_t) &&
	    ((const uint64_t *)d->buf)[1])
		sw->stop = 1;	/* it found a violation */
	sw->kids[i] = sw->kids[--sw->nr_kids];
	return 1;
}

/* Wait until at most `most` kids run. */
static int sweep_wait(struct sweep *sw, unsigned most)
{
	while (sw->nr_kids > most) {
		struct pollfd pf[64];
		unsigned n = sw->nr_kids < 64 ? sw->nr_kids : 64;
		int r;

		for (unsigned i = 0; i < n; i++) {
			pf[i].fd = sw->kids[i].fd;
			pf[i].events = POLLIN;
		}
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (unsigned i = n; i-- > 0;) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = sweep_read_kid(sw, i);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void sweep_send(struct sweep *sw, int r, const struct variant_stats *vs,
		       const struct run_summary *ksum);

/* A kid that explored without a worker died (explore_inproc): its fault
 * run again, from the start and with a worker, in a new kid in its place
 * (what it sends is what the first would have sent with a worker).  Run
 * once the sweep's own workload is done, so that the new kid starts from
 * a process with no run under way.  0, or -errno. */
static int sweep_retry(struct sweep *sw, const struct sweep_kid *dead)
{
	int fd, r;
	pid_t pid;

	r = sweep_wait(sw, sw->o->jobs - 1);
	if (r)
		return r;
	pid = fork_piped(&fd);
	if (pid < 0)
		return (int)pid;
	if (pid == 0) {
		struct run_opts ko = *sw->o;
		struct variant_stats vs;
		struct run_summary ksum;

		for (unsigned i = 0; i < sw->nr_kids; i++)
			close(sw->kids[i].fd);
		sw->nr_kids = 0;
		sw->in_kid = 1;
		sw->kid_fd = fd;
		memset(&vs, 0, sizeof(vs));
		memset(&ksum, 0, sizeof(ksum));
		ksum.started = now_sec();
		ko.jobs = 1;
		ko.progress = 0;
		r = run_variant(&ko, sw->sc, variants[sw->v].suffix,
				variants[sw->v].cache, dead->fault, &ksum, &vs,
				NULL, NULL, NULL);
		sweep_send(sw, r, &vs, &ksum);
		close(fd);
		cov_fault_run_exit();
		_exit(0);
	}
	sw->kids[sw->nr_kids++] = (struct sweep_kid) {
		.pid = pid, .fd = fd, .order = dead->order,
		.fault = dead->fault, .inproc = 0,
	};
	return 0;
}

/* Fault runs of one sweep per op (or hit) it forks at: IO errors twice
 * (once, then sticky), media and allocation faults once. */
static int sweep_per_op(const struct sweep *sw)
{
	return sw->mode == SWEEP_IO ? 2 : 1;
}

/* Fork the fault run f, plan position x of kind k.  1 in the kid (its
 * cfg now plans f), 0 in the parent, -errno. */
static int sweep_fork(struct sweep *sw, int k, uint64_t x, struct fault_spec f)
{
	uint64_t shared;
	pid_t pid;
	int fd, r;

	r = sweep_wait(sw, sw->o->jobs - 1);
	if (r)
		return r;
	if (sw->stop)
		return 0;
	/* the log so far is the fault-free run's (the op hook runs before
	 * its op is logged, the allocation hook inside one) as far as the
	 * trail's hashes say; followed here, in the parent, once for all */
	shared = writecheck_trail_follow(sw->trail, sw->jb->res.sd, &sw->follow);
	pid = fork_piped(&fd);
	if (pid < 0)
		return (int)pid;
	if (pid == 0) {
		for (unsigned i = 0; i < sw->nr_kids; i++)
			close(sw->kids[i].fd);
		sw->nr_kids = 0;
		sw->in_kid = 1;
		sw->kid_fd = fd;
		sw->jb->cfg.fault = f;
		sw->jb->cfg.stop_after_recovery = 1;
		sw->jb->wc_resume = sw->trail;
		sw->jb->wc_shared = shared;
		return 1;		/* on as this fault run */
	}
	sw->kids[sw->nr_kids++] = (struct sweep_kid) {
		.pid = pid, .fd = fd,
		.order = sw->base[k] + (uint64_t)sweep_per_op(sw) * (x - 1) +
			 (uint64_t)f.sticky,
		.fault = f,
		.inproc = inproc_ok(sw->o),
	};
	return 0;
}

static void sweep_hook(void *ctx, struct simdisk *sd, enum sd_op_kind kind,
		       uint64_t n)
{
	struct sweep *sw = ctx;
	int data = sd != sw->jb->res.sd;	/* the data disk's op */
	int k = kind == SD_READ ? 0 : kind == SD_FLUSH ? 2 : 1;
	int media = sw->mode == SWEEP_MEDIA;
	uint64_t x;

	if (sw->mode == SWEEP_ALLOC || sw->in_kid || sw->err || sw->stop ||
	    (data && (media || kind == SD_READ)))
		return;
	if (data)
		k += 2;				/* 3 data writes, 4 flushes */
	x = sweep_position(sw, k, n);
	if (!x)
		return;
	for (int sticky = 0; sticky < sweep_per_op(sw); sticky++) {
		enum fault_kind fk = media ?
			(k ? FAULT_LOST_SECTOR : FAULT_BITROT) :
			io_fault_kinds[k];
		int r = sweep_fork(sw, k, x, (struct fault_spec) { fk, n, sticky });

		if (r < 0)
			sw->err = r;
		if (r <= 0)
			continue;
		if (media ? simdisk_media_fault(sd, k ? SD_MEDIA_LOST_SECTOR :
						SD_MEDIA_BITROT, n, sw->jb->cfg.seed) :
			    simdisk_fail_nth(sd, kind, n, sticky))
			_exit(3);
		return;
	}
}

static void sweep_alloc_hook(void *ctx, enum fault_kind kind, uint64_t n)
{
	struct sweep *sw = ctx;
	int k = kind == FAULT_NOSPACE, r;
	uint64_t x;

	if (sw->in_kid || sw->err || sw->stop)
		return;
	x = sweep_position(sw, k, n);
	if (!x)
		return;
	r = sweep_fork(sw, k, x, (struct fault_spec) { kind, n, 0 });
	if (r < 0)
		sw->err = r;
}

/*
 * A kid's message: u64 r (0 or -errno as u64), u64 nr_violations, u64
 * live_failures, u64 length of each of the two hex counts, the variant
 * stats (bignums as the hex texts that follow), then the violations.
 */
static void sweep_send(struct sweep *sw, int r, const struct variant_stats *vs,
		       const struct run_summary *ksum)
{
	char *tot = bn_to_hex(&vs->states_total);
	char *cov = bn_to_hex(&vs->states_covered);
	uint64_t h[5] = { (uint64_t)(int64_t)r, ksum->nr_violations,
			  (uint64_t)ksum->live_failures,
			  tot ? strlen(tot) : 0, cov ? strlen(cov) : 0 };
	struct variant_stats plain = *vs;

	memset(&plain.states_total, 0, sizeof(plain.states_total));
	memset(&plain.states_covered, 0, sizeof(plain.states_covered));
	if (!tot || !cov)
		h[0] = (uint64_t)(int64_t)-ENOMEM;
	if (write_all(sw->kid_fd, h, sizeof(h)) ||
	    write_all(sw->kid_fd, &plain, sizeof(plain)) ||
	    write_all(sw->kid_fd, tot ? tot : "", h[3]) ||
	    write_all(sw->kid_fd, cov ? cov : "", h[4]) ||
	    write_all(sw->kid_fd, ksum->violations,
		      ksum->nr_violations * sizeof(*ksum->violations)))
		_exit(4);
}

/* The kid's life after its workload: check the run as run_variant does,
 * with one worker, send the figures, exit. */
static void sweep_kid_finish(struct sweep *sw)
{
	struct run_opts ko = *sw->o;
	struct variant_stats vs;
	struct run_summary ksum;
	int r;

	memset(&vs, 0, sizeof(vs));
	memset(&ksum, 0, sizeof(ksum));
	ksum.started = now_sec();
	ko.jobs = 1;
	ko.progress = 0;
	sw->jb->inproc = inproc_ok(&ko);
	if (sw->jb->inproc && write_all(sw->kid_fd, &inproc_mark,
					sizeof(inproc_mark)))
		_exit(4);
	r = check_variant_run(&ko, sw->jb, &ksum, &vs, NULL);
	sweep_send(sw, r, &vs, &ksum);
	close(sw->kid_fd);
	cov_fault_run_exit();
	_exit(0);
}

/*
 * A fault run whose process died (a signal: a crash, or an abort such as a
 * kernel BUG_ON in the code under test) is a violation of that run, with
 * the id of the run (cut 0: replay runs the same workload and fault, and
 * dies the same way).
 */
static int sweep_died(const struct sweep *sw, const struct sweep_done *d,
		      const struct run_opts *o, struct variant_stats *vs,
		      struct run_summary *sum)
{
	struct job jb = *sw->jb;
	struct state_id id;
	char text[200], msg[200];

	jb.cfg.fault = d->fault;
	fill_id(&jb, o, 0, 0, 1, &id);
	state_id_format(&id, text, sizeof(text));
	if (WIFSIGNALED(d->status))
		snprintf(msg, sizeof(msg), "the fault run died: signal %d (%s)%s",
			 WTERMSIG(d->status), strsignal(WTERMSIG(d->status)),
			 WTERMSIG(d->status) == SIGABRT ?
			 "; a BUG_ON or abort in the code under test" : "");
	else
		snprintf(msg, sizeof(msg), "the fault run exited with status %d",
			 WEXITSTATUS(d->status));
	vs->runs++;
	vs->outcomes[OUT_VIOLATION]++;
	return add_violation(sum, text, msg);
}

/* Merge one kid's message into vs and sum (0, or -errno when the kid's
 * own run could not be set up, as a failed run_variant). */
static int sweep_merge(const struct sweep *sw, const struct sweep_done *d,
		       struct variant_stats *vs, struct run_summary *sum)
{
	const char *p = d->buf;
	struct variant_stats ks;
	uint64_t h[5];
	char *hex;
	int r = 0;

	if (!WIFEXITED(d->status) || WEXITSTATUS(d->status) ||
	    d->len < sizeof(h))
		return sweep_died(sw, d, sw->o, vs, sum);
	memcpy(h, p, sizeof(h));
	if ((int64_t)h[0])
		return (int)(int64_t)h[0];
	if (d->len < sizeof(h) + sizeof(ks))
		return sweep_died(sw, d, sw->o, vs, sum);
	p += sizeof(h);
	if (d->len != sizeof(h) + sizeof(ks) + h[3] + h[4] +
		      h[1] * sizeof(struct violation))
		return -EIO;	/* a short message from a kid that exited 0 */
	memcpy(&ks, p, sizeof(ks));
	p += sizeof(ks);
	vs->cut_points += ks.cut_points;
	vs->states += ks.states;
	vs->log_ops += ks.log_ops;
	vs->commits += ks.commits;
	vs->injected += ks.injected;
	vs->runs += ks.runs;
	vs->media_runs += ks.media_runs;
	vs->data_runs += ks.data_runs;
	vs->data_fired += ks.data_fired;
	vs->media_fired += ks.media_fired;
	vs->media_refused += ks.media_refused;
	vs->alloc_fired += ks.alloc_fired;
	vs->alloc_failed += ks.alloc_failed;
	vs->recoveries += ks.recoveries;
	vs->sampled += ks.sampled;
	vs->incomplete_cuts += ks.incomplete_cuts;
	vs->writes_checked += ks.writes_checked;
	vs->write_walks += ks.write_walks;
	vs->write_violations += ks.write_violations;
	if (!vs->first_incomplete[0])
		memcpy(vs->first_incomplete, ks.first_incomplete,
		       sizeof(vs->first_incomplete));
	for (int k = 0; k < OUT_NR; k++)
		vs->outcomes[k] += ks.outcomes[k];
	for (int b = 0; b < PLOT_BINS; b++)
		for (int k = 0; k < OUT_NR; k++)
			vs->plot[b][k] += ks.plot[b][k];
	for (int t = 0; t < 2 && !r; t++) {
		struct bignum x = BN_INIT;

		hex = strndup(p, h[3 + t]);
		p += h[3 + t];
		r = !hex ? -ENOMEM : bn_from_hex(&x, hex);
		if (!r)
			r = bn_add(t ? &vs->states_covered : &vs->states_total, &x);
		bn_free(&x);
		free(hex);
	}
	sum->live_failures += (int)h[2];
	for (uint64_t i = 0; i < h[1] && !r; i++) {
		struct violation v;

		memcpy(&v, p, sizeof(v));
		p += sizeof(v);
		r = add_violation(sum, v.id, v.msg);
	}
	return r;
}

static int cmp_done(const void *a, const void *b)
{
	uint64_t x = ((const struct sweep_done *)a)->order;
	uint64_t y = ((const struct sweep_done *)b)->order;

	return x < y ? -1 : x > y;
}

/* The whole plan of a variant by the linear sweep (see above). */
static int sweep_variant(const struct run_opts *o, const struct scenario *sc,
			 size_t v, enum sweep_mode mode,
			 const uint64_t counts[NR_IO_KINDS],
			 const struct alloc_plan *plan,
			 const struct writecheck_trail *trail,
			 struct run_summary *sum, struct variant_stats *vs)
{
	struct sweep sw;
	struct job jb;
	int r = 0;

	memset(&sw, 0, sizeof(sw));
	sw.mode = mode;
	sw.sc = sc;
	sw.v = v;
	sw.trail = trail;
	sw.o = o;
	sw.sum = sum;
	sw.jb = &jb;
	sw.kids = calloc(o->jobs ? o->jobs : 1, sizeof(*sw.kids));
	if (!sw.kids)
		return -ENOMEM;
	for (int k = 0; k < NR_IO_KINDS; k++) {
		uint64_t c, m;

		if (mode == SWEEP_ALLOC)
			c = k < 2 ? plan->nr[k] : 0;
		else
			c = mode == SWEEP_MEDIA && k >= 2 ? 0 :
			    after_setup(vs, counts, k);
		m = c;
		if (mode != SWEEP_ALLOC && k == 0 && m > MAX_READ_FAULTS) {
			vs->reads_sampled = c;
			m = MAX_READ_FAULTS;
		}
		sw.limit[k] = m;
		sw.base[k] = k ? sw.base[k - 1] +
				 (uint64_t)sweep_per_op(&sw) * sw.limit[k - 1] : 0;
		sw.nth[k] = malloc((m ? m : 1) * sizeof(uint64_t));
		if (!sw.nth[k]) {
			r = -ENOMEM;
			goto out;
		}
		if (mode == SWEEP_ALLOC && m)
			memcpy(sw.nth[k], plan->nth[k], m * sizeof(uint64_t));
		else
			for (uint64_t x = 1; x <= m; x++)	/* as fault_plan_next */
				sw.nth[k][x - 1] = spread_nth(vs, k, x, m, c);
	}
	job_init(&jb, o, sc, variants[v].suffix, variants[v].cache,
		 (struct fault_spec) { FAULT_NONE, 0, 0 });
	if (mode == SWEEP_ALLOC) {
		jb.cfg.alloc_hook = sweep_alloc_hook;
		jb.cfg.alloc_hook_ctx = &sw;
	} else {
		jb.cfg.sd_hook = sweep_hook;
		jb.cfg.sd_hook_ctx = &sw;
	}
	r = workload_run(&jb.cfg, &jb.res);
	if (sw.in_kid) {
		if (r) {
			uint64_t h[5] = { (uint64_t)(int64_t)r, 0, 0, 0, 0 };

			(void)!write(sw.kid_fd, h, sizeof(h));
			_exit(0);
		}
		sweep_kid_finish(&sw);
	}
	if (!r)
		run_result_free(&jb.res);	/* the fault-free run, again */
	if (!r)
		r = sw.err;
	{
		int w = sweep_wait(&sw, 0);	/* reap them all in any case */

		/* then the fault runs whose kid died, with a worker */
		while (!w && sw.nr_retry) {
			struct sweep_kid dead = sw.retry[--sw.nr_retry];

			w = sweep_retry(&sw, &dead);
			if (!w && !sw.nr_retry)
				w = sweep_wait(&sw, 0);
		}
		if (w)
			sweep_wait(&sw, 0);
		if (!r)
			r = w;
	}
	qsort(sw.done, sw.nr_done, sizeof(*sw.done), cmp_done);
	for (size_t i = 0; i < sw.nr_done && !r; i++)
		r = sweep_merge(&sw, &sw.done[i], vs, sum);
out:
	for (size_t i = 0; i < sw.nr_done; i++)
		free(sw.done[i].buf);
	free(sw.done);
	free(sw.retry);
	for (int k = 0; k < NR_IO_KINDS; k++)
		free(sw.nth[k]);
	free(sw.kids);
	return r;
}

int driver_run(const struct run_opts *o, struct run_summary *sum)
{
	const struct cache_client_ops *cops;
	double t0 = now_sec();
	int r = 0;

	memset(sum, 0, sizeof(*sum));
	sum->started = t0;
	sum->jobs = o->jobs;
	sum->sample = o->sample;
	sum->variants = calloc(o->nr_scenarios * PD_NR_VARIANTS,
			       sizeof(*sum->variants));
	if (!sum->variants)
		return -ENOMEM;
	for (size_t i = 0; i < o->nr_scenarios && !r && !stop_now(o, sum); i++) {
		/* a dm-cache scenario needs the backend's cache client
		 * (cache_client.h); a backend without one skips it, named */
		if (o->scenarios[i]->geo.is_cache && o->client &&
		    cache_client_backend(o->client->name, &cops)) {
			fprintf(stderr, "%s: skipped: backend %s has no dm-cache "
				"client\n", o->scenarios[i]->name, o->client->name);
			continue;
		}
		for (size_t v = 0; v < PD_NR_VARIANTS && !r && !stop_now(o, sum); v++) {
			if (o->variants_mask && !(o->variants_mask & (1u << v)))
				continue;
			/* cache=none is already smaller than +small's cache:
			 * that variant would only run the workload again with
			 * a bigger one */
			if (variants[v].cache &&
			    o->scenarios[i]->geo.cache_blocks == THIN_CACHE_NONE)
				continue;
			r = run_all_of_variant(o, o->scenarios[i], v, sum,
					       &sum->variants[sum->nr_variants++]);
		}
	}
	for (size_t v = 0; v < sum->nr_variants; v++) {
		const struct variant_stats *vs = &sum->variants[v];

		sum->states += vs->states;
		sum->cut_points += vs->cut_points;
		sum->recoveries += vs->recoveries;
		sum->sampled += vs->sampled;
		sum->incomplete_cuts += vs->incomplete_cuts;
		sum->writes_checked += vs->writes_checked;
		sum->write_violations += vs->write_violations;
		if (!o->sample &&
		    (bn_add(&sum->states_total, &vs->states_total) ||
		     bn_add(&sum->states_covered, &vs->states_covered)))
			r = -ENOMEM;
		sum->injected += vs->injected;
		sum->media_runs += vs->media_runs;
		sum->data_runs += vs->data_runs;
		sum->data_fired += vs->data_fired;
		sum->media_fired += vs->media_fired;
		sum->media_refused += vs->media_refused;
		for (int k = 0; k < 2; k++) {
			sum->alloc_hits[k] += vs->alloc_hits[k];
			sum->alloc_runs[k] += vs->alloc_runs[k];
		}
		sum->alloc_fired += vs->alloc_fired;
		sum->alloc_failed += vs->alloc_failed;
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
	for (size_t v = 0; v < sum->nr_variants; v++) {
		bn_free(&sum->variants[v].states_total);
		bn_free(&sum->variants[v].states_covered);
	}
	bn_free(&sum->states_total);
	bn_free(&sum->states_covered);
	free(sum->variants);
	free(sum->violations);
	memset(sum, 0, sizeof(*sum));
}

/* --- exhaustive mode (explore.h, explore_cut) ---------------------------------
 *
 * The unit of work is a cut (global index = cut index, so --shard K/N keeps
 * the cuts whose index is K mod N).  For each cut a worker sends, per leaf,
 * REC_BEGIN (msg: the decision prefix) before a recovery runs, REC_LEAF
 * (msg: the leaf) before a violation, REC_RESULT; then REC_COVER pieces (the
 * hex count of states covered, only when the cut was not covered in full)
 * and REC_CUT (choice: recoveries run, nr_choices: cut index, state: 1 if
 * covered in full).  A worker that dies in a leaf is restarted at that cut
 * with the leaf's prefix to resume after; that cut then counts as not
 * covered in full (the leaves under that prefix are skipped).
 */
struct lazy_worker {
	char leaf[LEAF_TEXT_MAX];	/* parent: of the next violation */
	char *cover;			/* parent: REC_COVER pieces */
	size_t cover_len;
	char resume[LEAF_TEXT_MAX];	/* restart: resume after this prefix */
	int resume_set;
};

struct lazy_ctx {
	struct outbuf *ob;
	uint64_t rank, cut, crash_rank, hang_rank;
	int resumed;
	unsigned alarm_s;		/* explore_inproc: a recovery's time */
};

static struct lazy_worker *lazy_get(struct worker *w)
{
	if (!w->lz)
		w->lz = calloc(1, sizeof(*w->lz));
	return w->lz;
}

static void lazy_worker_free(struct worker *w)
{
	if (w->lz)
		free(w->lz->cover);
	free(w->lz);
	w->lz = NULL;
}

static void lazy_begin(void *ctx, const char *leaf)
{
	struct lazy_ctx *lc = ctx;
	struct record rec;

	memset(&rec, 0, sizeof(rec));
	rec.type = REC_BEGIN;
	rec.rank = lc->rank;
	rec.cut = lc->cut;
	snprintf(rec.msg, sizeof(rec.msg), "%s", leaf);
	out_add(lc->ob, &rec);
	out_flush(lc->ob);
	if (lc->alarm_s)
		alarm(lc->alarm_s);
	if (!lc->resumed && (lc->rank == lc->crash_rank ||
			     lc->rank == lc->hang_rank)) {
		/* self-test hooks: the first recovery of cut N crashes or
		 * hangs */
		if (lc->rank == lc->crash_rank)
			raise(SIGSEGV);
		for (;;)
			pause();
	}
}

static void lazy_leaf(void *ctx, const char *leaf, const struct check_out *out,
		      int ran)
{
	struct lazy_ctx *lc = ctx;
	struct record rec;

	(void)ran;
	memset(&rec, 0, sizeof(rec));
	rec.rank = lc->rank;
	rec.cut = lc->cut;
	if (out->outcome == OUT_VIOLATION) {
		rec.type = REC_LEAF;
		snprintf(rec.msg, sizeof(rec.msg), "%s", leaf);
		out_add(lc->ob, &rec);
	}
	rec.type = REC_RESULT;
	rec.outcome = out->outcome;
	rec.state = out->state;
	snprintf(rec.msg, sizeof(rec.msg), "%s", out->msg);
	out_add(lc->ob, &rec);
}

/* The cuts of worker w, their records into ob, REC_DONE last: 0, or -1
 * on harness trouble (a worker exits with status 3). */
static int lazy_walk(const struct job *jb, const struct run_opts *o,
		     const struct worker *w, struct outbuf *ob,
		     unsigned alarm_s)
{
	struct check_opts copts = {
		.no_continue = o->no_continue,
		.recovery_fault = o->io_errors &&
				  !fault_is_media(jb->cfg.fault.kind) &&
				  !fault_is_alloc(jb->cfg.fault.kind),
		.recovery_alloc_fault = fault_is_alloc(jb->cfg.fault.kind),
	};
	struct check_memo memo = { 0 };
	struct lazy_ctx lc = {
		.ob = ob,
		.alarm_s = alarm_s,
		.crash_rank = env_u64("PDCRASH_SELFTEST_CRASH", UINT64_MAX),
		.hang_rank = env_u64("PDCRASH_SELFTEST_HANG", UINT64_MAX),
	};
	struct lazy_cb cb = { lazy_begin, lazy_leaf, &lc };
	uint64_t maxb = o->max_branches ? o->max_branches : DEFAULT_MAX_BRANCHES;
	struct sd_cutter *cutter;
	struct record rec;

	int r = 0;

	if (sd_cutter_create(jb->res.sd, &cutter))
		return -1;
	for (size_t ci = 0; ci < jb->nr_cuts; ci++) {
		struct state_id id;
		struct cut_cover cc;
		uint64_t rank;
		const char *resume = NULL;

		if (!keep(o, ci, &rank) || jb->seg[ci] % o->jobs != w->slot ||
		    rank < w->next_rank)
			continue;
		if (rank == w->next_rank && w->lz && w->lz->resume_set)
			resume = w->lz->resume;
		if (sd_cutter_seek(cutter, jb->cuts[ci])) {
			r = -1;
			break;
		}
		fill_id(jb, o, jb->cuts[ci], 0, 1, &id);
		lc.rank = rank;
		lc.cut = jb->cuts[ci];
		lc.resumed = resume != NULL;
		if (explore_cut(&jb->res, cutter, &id, &copts,
				o->no_memo ? NULL : &memo, maxb, resume, &cb, &cc) ||
		    (jb->inproc && bn_copy(&jb->cut_total[ci], &cc.total))) {
			cut_cover_free(&cc);
			r = -1;
			break;
		}
		memset(&rec, 0, sizeof(rec));
		rec.rank = rank;
		rec.cut = jb->cuts[ci];
		if (!cc.complete) {
			char *hex = bn_to_hex(&cc.covered);
			size_t len, piece = sizeof(rec.msg) - 1;

			if (!hex) {
				cut_cover_free(&cc);
				r = -1;
				break;
			}
			len = strlen(hex);
			rec.type = REC_COVER;
			for (size_t at = 0; at < len; at += piece) {
				snprintf(rec.msg, sizeof(rec.msg), "%.*s",
					 (int)piece, hex + at);
				out_add(ob, &rec);
			}
			free(hex);
		}
		rec.type = REC_CUT;
		rec.choice = cc.recoveries;
		rec.nr_choices = ci;
		rec.state = cc.complete;
		rec.msg[0] = 0;
		out_add(ob, &rec);
		cut_cover_free(&cc);
	}
	if (alarm_s)
		alarm(0);
	sd_cutter_destroy(cutter);
	check_memo_free(&memo);
	if (r)
		return r;
	memset(&rec, 0, sizeof(rec));
	rec.type = REC_DONE;
	out_add(ob, &rec);
	out_flush(ob);
	return 0;
}

static void worker_main_lazy(const struct job *jb, const struct run_opts *o,
			     const struct worker *w, int fd)
{
	struct outbuf ob = { .fd = fd };

	if (lazy_walk(jb, o, w, &ob, 0))
		_exit(3);
	cov_worker_exit();
	_exit(0);
}

/*
 * A fault run of the sweep is a process of its own already (a fork of the
 * sweep's workload, sweep_fork): it explores its cuts itself, without a
 * worker, the records going straight to what the parent of a worker does
 * with them.  A recovery that crashes, or hangs past the state timeout
 * (SIGALRM), ends the fault run; the sweep then runs that fault run again
 * from the start with a worker, as PDCRASH_SWEEP=serial does
 * (sweep_retry), which reports the crash or hang of that leaf and goes on
 * after it.  So the figures and violations are those of a worker's run.
 * Not in a coverage build (a worker's counters are recovery's, covdump.h),
 * with --fail-fast (a worker is stopped at the first violation) or
 * --sample.
 */
struct inproc {
	const struct job *jb;
	const struct run_opts *o;
	struct worker *w;
	struct variant_stats *vs;
	struct run_summary *sum;
	uint64_t done;
};

static int inproc_ok(const struct run_opts *o)
{
#ifdef PD_COVERAGE
	(void)o;
	return 0;
#else
	return !o->fail_fast && !o->sample;
#endif
}

static void inproc_sink(void *ctx, const struct record *recs, unsigned n)
{
	struct inproc *ip = ctx;

	for (unsigned x = 0; x < n; x++) {
		const struct record *rec = &recs[x];

		if (rec->type == REC_BEGIN) {
			ip->w->busy = 1;
			ip->w->inflight = *rec;
		} else if (rec->type == REC_DONE) {
			ip->w->done = 1;
		} else {
			ip->done += lazy_record(ip->jb, ip->o, ip->w, ip->vs,
						ip->sum, rec);
		}
	}
}

static int explore_inproc(const struct job *jb, const struct run_opts *o,
			  struct variant_stats *vs, struct run_summary *sum)
{
	double timeout = (double)env_u64("PDCRASH_STATE_TIMEOUT", STATE_TIMEOUT_SEC);
	/* the walk's worker as forked (slot 0, from the start); the
	 * parent's side of it is w */
	const struct worker start = { .slot = 0 };
	struct worker w = start;
	struct inproc ip = { jb, o, &w, vs, sum, 0 };
	struct outbuf ob = { .fd = -1, .sink = inproc_sink, .sink_ctx = &ip };
	int r = lazy_walk(jb, o, &start, &ob, (unsigned)timeout + 1);

	if (!r && !w.done)
		r = -1;
	lazy_worker_free(&w);
	if (r) {
		/* as a worker that exited outside a state */
		fprintf(stderr, "pdcrash: %s: the fault run's exploration "
			"failed\n", jb->name);
		return -EIO;
	}
	vs->states += ip.done;
	return 0;
}

/* A worker died inside a leaf: restart it at that cut, after that leaf's
 * prefix; the violation gets the prefix as its leaf. */
static void lazy_died(struct worker *w, const struct record *bad)
{
	struct lazy_worker *lz = lazy_get(w);

	if (!lz)
		return;
	snprintf(lz->leaf, sizeof(lz->leaf), "%s", w->inflight.msg);
	snprintf(lz->resume, sizeof(lz->resume), "%s", w->inflight.msg);
	lz->resume_set = 1;
	lz->cover_len = 0;
	w->next_rank = bad->rank;
}

/* One record of an exhaustive worker; returns the leaves it completes. */
static int lazy_record(const struct job *jb, const struct run_opts *o,
		       struct worker *w, struct variant_stats *vs,
		       struct run_summary *sum, const struct record *rec)
{
	struct lazy_worker *lz = lazy_get(w);

	if (!lz)
		return 0;
	if (rec->type == REC_LEAF) {
		snprintf(lz->leaf, sizeof(lz->leaf), "%s", rec->msg);
	} else if (rec->type == REC_COVER) {
		size_t n = strlen(rec->msg);
		char *c = realloc(lz->cover, lz->cover_len + n + 1);

		if (!c)
			return 0;
		memcpy(c + lz->cover_len, rec->msg, n + 1);
		lz->cover = c;
		lz->cover_len += n;
	} else if (rec->type == REC_RESULT) {
		uint64_t len = simdisk_nr_ops(jb->res.sd) + 1;
		size_t bin = (size_t)(rec->cut * PLOT_BINS / len);
		enum outcome oc = (enum outcome)rec->outcome;

		w->busy = 0;
		if (oc >= OUT_NR)
			oc = OUT_VIOLATION;
		vs->outcomes[oc]++;
		vs->plot[bin < PLOT_BINS ? bin : PLOT_BINS - 1][oc]++;
		if (oc == OUT_VIOLATION) {
			struct state_id id;
			char text[sizeof(((struct violation *)0)->id)];

			fill_id(jb, o, rec->cut, 0, 1, &id);
			id.lazy = 1;
			snprintf(id.leaf, sizeof(id.leaf), "%s", lz->leaf);
			state_id_format(&id, text, sizeof(text));
			add_violation(sum, text, rec->msg);
		}
		lz->leaf[0] = 0;
		return 1;
	} else if (rec->type == REC_CUT) {
		size_t ci = (size_t)rec->nr_choices;
		struct bignum cov = BN_INIT;

		vs->recoveries += rec->choice;
		if (rec->state && ci < jb->nr_cuts) {
			bn_add(&vs->states_covered, &jb->cut_total[ci]);
		} else {
			if (lz->cover_len && !bn_from_hex(&cov, lz->cover))
				bn_add(&vs->states_covered, &cov);
			bn_free(&cov);
			if (!vs->incomplete_cuts++)
				snprintf(vs->first_incomplete,
					 sizeof(vs->first_incomplete),
					 "%.128s cut %" PRIu64 ": %s", jb->name,
					 rec->cut, lz->resume_set ?
					 "a recovery crashed or hung" :
					 "--max-branches reached");
		}
		lz->cover_len = 0;
		lz->resume_set = 0;
		w->next_rank = rec->rank + 1;
	}
	return 0;
}

/* The states of the cuts this run keeps (the shard's). */
static int lazy_job_totals(const struct job *jb, const struct run_opts *o,
			   struct variant_stats *vs)
{
	uint64_t rank;

	for (size_t ci = 0; ci < jb->nr_cuts; ci++) {
		if (!keep(o, ci, &rank))
			continue;
		if (bn_add(&vs->states_total, &jb->cut_total[ci]))
			return -ENOMEM;
		vs->sampled += jb->cut_sampled[ci];
	}
	return 0;
}
