/* harness/engine/damage_run.c - `pdcrash run --damage` (see damage.h): the
 * scenarios' runs, the selection of commits and blocks, the damaged
 * images recovered in worker processes, the summary and its reports, and
 * the replay of one damage id.
 *
 * Workers: the jobs of one scenario (commit, block, kind) are cut into
 * chunks; a worker is forked per chunk and sends one record per job, in
 * order, so the parent always knows which job is running.  A worker that
 * dies (a signal) or sends nothing for the timeout is a violation of that
 * job, and a new worker takes the rest of the chunk.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bm.h"
#include "covdump.h"
#include "damage_internal.h"
#include "errors.h"
#include "forkpipe.h"
#include "grow.h"
#include "liveid.h"
#include "simdisk.h"
#include "util.h"

static const char *const outcome_names[DMG_NR] = {
	"detected", "harmless", "violation"
};

const char *damage_outcome_name(enum damage_outcome o)
{
	return o < DMG_NR ? outcome_names[o] : "?";
}

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t env_num(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* --- one scenario's run and its damaged images ----------------------------- */

struct dmg_commit {
	uint64_t k, cut;
	struct dmg_plan plan;
};

struct dmg_job {
	uint32_t commit;		/* index in scn.commits */
	uint32_t target;		/* index in that commit's plan */
	uint32_t kind;
};

struct dmg_scn {
	const struct run_result *res;
	struct sd_cutter *cutter;	/* seeked by the worker as it goes */
	struct dmg_commit *commits;	/* the selected ones (DG1) */
	size_t nr_commits;
	struct dmg_job *jobs;
	size_t nr_jobs, cap_jobs;
	uint64_t first_image;		/* run-wide number of jobs[0] */
};

/* The first commit-end marker of each committed state: (k, cut after it). */
static size_t commit_points(const struct run_result *res, uint64_t **ks,
			    uint64_t **cuts)
{
	size_t n = 0;
	int64_t last = -1;

	*ks = malloc((res->nr_marks + 1) * sizeof(**ks));
	*cuts = malloc((res->nr_marks + 1) * sizeof(**cuts));
	if (!*ks || !*cuts)
		return 0;
	for (size_t i = 0; i < res->nr_marks; i++) {
		const struct mark_state *m = &res->marks[i];

		if (m->begun >= 0 || m->committed <= last)
			continue;
		last = m->committed;
		(*ks)[n] = (uint64_t)m->committed;
		(*cuts)[n++] = m->seq + 1;
	}
	return n;
}

/* The durable image at the cutter's cut (nothing pending landed). */
static int durable_image(struct sd_cutter *c, struct bdev **image)
{
	size_t np = sd_cutter_nr_pending(c);
	uint8_t *landed = calloc(np + 1, 1);
	struct sd_choice none = { np, landed, NULL };
	int r;

	if (!landed)
		return -ENOMEM;
	r = sd_cutter_image(c, &none, image);
	free(landed);
	return r;
}

/* The damaged image of job j (the worker's cutter seeks to its commit). */
static int damaged_image(const struct dmg_scn *s, const struct dmg_job *j,
			 struct bdev **image, pd_block_t *zeroed)
{
	const struct dmg_commit *c = &s->commits[j->commit];
	const struct dmg_target *t = &c->plan.t[j->target];
	uint8_t *buf = malloc(PD_BLOCK_SIZE);
	int r = -ENOMEM;

	*image = NULL;
	if (!buf)
		return r;
	r = sd_cutter_cut(s->cutter) == c->cut ? 0 :
	    sd_cutter_seek(s->cutter, c->cut);
	if (!r)
		r = durable_image(s->cutter, image);
	if (!r)
		r = bdev_read(*image, t->block, buf);
	if (!r && zeroed)
		*zeroed = dmg_zeroed_data_block(t, j->kind, buf);
	if (!r)
		r = dmg_apply(&c->plan, t, j->kind, buf) ? -EINVAL : 0;
	if (!r)
		r = bdev_write(*image, t->block, buf, 0);
	free(buf);
	if (r) {
		bdev_destroy(*image);
		*image = NULL;
	}
	return r;
}

static void run_job(const struct dmg_scn *s, size_t i, struct dmg_result *out)
{
	const struct dmg_job *j = &s->jobs[i];
	struct bdev *image;
	pd_block_t zeroed = DMG_NO_BLOCK;
	int r = damaged_image(s, j, &image, &zeroed);

	memset(out, 0, sizeof(*out));
	if (r) {
		out->outcome = DMG_VIOLATION;
		snprintf(out->msg, sizeof(out->msg), "harness: cannot build the "
			 "damaged image: %s", pd_strerror(r));
		return;
	}
	if (s->res->geo.is_cache)
		dmg_recover_cache(s->res, s->commits[j->commit].cut, image,
				  s->commits[j->commit].plan.t[j->target].block,
				  out);
	else
		dmg_recover(s->res, s->commits[j->commit].cut, image,
			    s->commits[j->commit].plan.t[j->target].block,
			    j->kind, zeroed, out);
	bdev_destroy(image);
}

/* --- workers ---------------------------------------------------------------- */

struct wrec {
	uint64_t idx;
	struct dmg_result res;
};
_Static_assert(sizeof(struct wrec) <= PIPE_BUF, "one atomic write per record");

struct slot {
	pid_t pid;
	int fd;
	size_t next, end;		/* jobs [next, end) still to report */
	double last;			/* when it last reported (or started) */
};

static void worker(const struct dmg_scn *s, size_t from, size_t to, int fd)
{
	uint64_t crash = env_num("PDCRASH_SELFTEST_CRASH", UINT64_MAX);
	uint64_t hang = env_num("PDCRASH_SELFTEST_HANG", UINT64_MAX);

	cov_worker_start();
	for (size_t i = from; i < to; i++) {
		struct wrec w = { .idx = i };

		/* self-test hooks: recovery of image N crashes or hangs */
		if (s->first_image + i == crash)
			raise(SIGSEGV);
		if (s->first_image + i == hang)
			for (;;)
				pause();
		run_job(s, i, &w.res);
		if (write(fd, &w, sizeof(w)) != (ssize_t)sizeof(w))
			_exit(3);
	}
	cov_worker_exit();
	_exit(0);
}

static int spawn(const struct dmg_scn *s, struct slot *sl, size_t from,
		 size_t to, const struct slot *all, unsigned nr_slots)
{
	int fd;

	sl->pid = fork_piped(&fd);
	if (sl->pid < 0)
		return (int)sl->pid;
	if (sl->pid == 0) {
		for (unsigned i = 0; i < nr_slots; i++)
			if (all[i].pid > 0 && &all[i] != sl)
				close(all[i].fd);
		worker(s, from, to, fd);
	}
	sl->fd = fd;
	sl->next = from;
	sl->end = to;
	sl->last = now_sec();
	return 0;
}

static void slot_lost(struct slot *sl, struct dmg_result *results, int status,
		      int hung, unsigned timeout)
{
	struct dmg_result *r = &results[sl->next];

	memset(r, 0, sizeof(*r));
	r->outcome = DMG_VIOLATION;
	if (hung)
		snprintf(r->msg, sizeof(r->msg), "hang: recovery gave no result "
			 "in %u s", timeout);
	else if (WIFSIGNALED(status))
		snprintf(r->msg, sizeof(r->msg), "recovery crashed: signal %d "
			 "(%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(r->msg, sizeof(r->msg), "recovery died: exit status %d "
			 "before its result", WEXITSTATUS(status));
	sl->next++;
}

/* Take what a worker sent; on its end (EOF) or a timeout, reap it and
 * restart the rest of its chunk.  0 or -errno. */
static int slot_service(const struct dmg_scn *s, struct slot *sl,
			struct slot *all, unsigned nr_slots,
			struct dmg_result *results, int readable,
			unsigned timeout)
{
	int status = 0, hung = 0;
	size_t got = 0;

	if (readable) {
		struct wrec w;

		while (got < sizeof(w)) {
			ssize_t k = read(sl->fd, (char *)&w + got, sizeof(w) - got);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		if (got == sizeof(w) && w.idx == sl->next && w.idx < sl->end) {
			results[sl->next++] = w.res;
			sl->last = now_sec();
			return 0;
		}
	} else if (now_sec() - sl->last <= timeout) {
		return 0;
	} else {
		hung = 1;
		kill(sl->pid, SIGKILL);
	}
	if (got)		/* not the end but no record in order: a bug */
		kill(sl->pid, SIGKILL);
	close(sl->fd);
	while (waitpid(sl->pid, &status, 0) < 0 && errno == EINTR)
		;
	sl->pid = 0;
	if (sl->next < sl->end)
		slot_lost(sl, results, status, hung, timeout);
	if (sl->next < sl->end)
		return spawn(s, sl, sl->next, sl->end, all, nr_slots);
	return 0;
}

/* Recover every job of s, jobs workers at a time; results[i] for job i.
 * With stop (--fail-fast; may be NULL), the first violation sets *stop
 * and ends it: the other workers are killed, their jobs left unrun (an
 * empty msg). */
static int run_jobs(const struct dmg_scn *s, unsigned jobs,
		    struct dmg_result *results, int *stop)
{
	unsigned timeout = (unsigned)env_num("PDCRASH_DAMAGE_TIMEOUT",
					     DAMAGE_TIMEOUT_SEC);
	size_t chunk = (s->nr_jobs + 2 * jobs - 1) / (2 * jobs), next = 0;
	struct slot *sl = calloc(jobs, sizeof(*sl));
	struct pollfd *pf = calloc(jobs, sizeof(*pf));
	int r = 0;

	if (!sl || !pf) {
		free(sl);
		free(pf);
		return -ENOMEM;
	}
	if (!chunk)
		chunk = 1;
	for (;;) {
		unsigned busy = 0;

		for (unsigned i = 0; i < jobs && !r; i++) {
			if (!sl[i].pid && next < s->nr_jobs && !(stop && *stop)) {
				size_t to = next + chunk < s->nr_jobs ?
					    next + chunk : s->nr_jobs;

				r = spawn(s, &sl[i], next, to, sl, jobs);
				next = to;
			}
			busy += sl[i].pid > 0;
		}
		if (r || !busy)
			break;
		for (unsigned i = 0; i < jobs; i++) {
			pf[i].fd = sl[i].pid > 0 ? sl[i].fd : -1;
			pf[i].events = POLLIN;
			pf[i].revents = 0;
		}
		if (poll(pf, jobs, 200) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (unsigned i = 0; i < jobs && !r; i++) {
			size_t done = sl[i].next;

			if (sl[i].pid > 0)
				r = slot_service(s, &sl[i], sl, jobs, results,
						 pf[i].revents != 0, timeout);
			for (; stop && done < sl[i].next; done++)
				if (results[done].outcome == DMG_VIOLATION)
					*stop = 1;
		}
		if (stop && *stop)
			break;
	}
	for (unsigned i = 0; i < jobs; i++) {
		if (sl[i].pid > 0) {
			kill(sl[i].pid, SIGKILL);
			close(sl[i].fd);
			waitpid(sl[i].pid, NULL, 0);
		}
	}
	free(sl);
	free(pf);
	return r;
}

/* --- planning a scenario ---------------------------------------------------- */

/* DG2: block versions already damaged in this run (open addressing). */
struct seen_set {
	uint64_t *v;
	size_t cap, nr;
};

static uint64_t block_hash(pd_block_t b, const uint8_t *d)
{
	uint64_t h = 1469598103934665603ull ^ b;

	for (size_t i = 0; i < PD_BLOCK_SIZE; i++)
		h = (h ^ d[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* 1 if h was there, 0 if added, -ENOMEM. */
static int seen_add(struct seen_set *ss, uint64_t h)
{
	if (2 * (ss->nr + 1) > ss->cap) {
		struct seen_set n = { calloc(ss->cap ? 2 * ss->cap : 1024, 8),
				      ss->cap ? 2 * ss->cap : 1024, 0 };

		if (!n.v)
			return -ENOMEM;
		for (size_t i = 0; i < ss->cap; i++)
			if (ss->v[i])
				seen_add(&n, ss->v[i]);
		free(ss->v);
		*ss = n;
	}
	for (size_t i = h % ss->cap;; i = (i + 1) % ss->cap) {
		if (ss->v[i] == h)
			return 1;
		if (!ss->v[i]) {
			ss->v[i] = h;
			ss->nr++;
			return 0;
		}
	}
}

static int add_job(struct dmg_scn *s, const struct dmg_job *j)
{
	int r = grow_array(&s->jobs, &s->cap_jobs, s->nr_jobs, sizeof(*j));

	if (!r)
		s->jobs[s->nr_jobs++] = *j;
	return r;
}

/* Plan commit ci: its blocks not seen before (DG2), each kind that fits
 * one a job.  seen_only (DG3): only mark its blocks seen. */
static int plan_commit(struct dmg_scn *s, uint32_t ci, struct seen_set *ss,
		       struct damage_scn_stats *st, int seen_only)
{
	struct dmg_commit *c = &s->commits[ci];
	uint8_t *blk = malloc(2 * PD_BLOCK_SIZE), *tmp = blk + PD_BLOCK_SIZE;
	struct bdev *image = NULL;
	int r = -ENOMEM;

	if (!blk)
		return r;
	r = sd_cutter_seek(s->cutter, c->cut);
	if (!r)
		r = durable_image(s->cutter, &image);
	if (!r)
		r = dmg_plan_build(image, &c->plan);
	for (uint32_t ti = 0; !r && ti < c->plan.nr; ti++) {
		const struct dmg_target *t = &c->plan.t[ti];

		r = bdev_read(image, t->block, blk);
		if (!r)
			r = seen_add(ss, block_hash(t->block, blk));
		if (r || seen_only) {
			r = r > 0 ? 0 : r;
			continue;
		}
		st->blocks++;
		for (uint32_t k = 0; k < damage_nr_kinds() && !r; k++) {
			struct dmg_job j = { ci, ti, k };

			memcpy(tmp, blk, PD_BLOCK_SIZE);
			if (!dmg_apply(&c->plan, t, k, tmp))
				r = add_job(s, &j);
		}
	}
	free(c->plan.seen);		/* the workers need the targets only */
	c->plan.seen = NULL;
	bdev_destroy(image);
	free(blk);
	return r;
}

static int add_violation(struct damage_summary *sum, const char *id,
			 const char *msg)
{
	struct damage_violation *v;
	int r = grow_array(&sum->violations, &sum->cap_violations,
			 sum->nr_violations, sizeof(*v));

	if (r)
		return r;
	if (!sum->nr_violations)
		sum->first_seconds = now_sec() - sum->started;
	v = &sum->violations[sum->nr_violations++];
	snprintf(v->id, sizeof(v->id), "%s", id);
	snprintf(v->msg, sizeof(v->msg), "%s", msg);
	return 0;
}

static void scn_free(struct dmg_scn *s)
{
	for (size_t i = 0; i < s->nr_commits; i++)
		dmg_plan_free(&s->commits[i].plan);
	free(s->commits);
	free(s->jobs);
	sd_cutter_destroy(s->cutter);
}

/* 1 if the commit whose durable image is at cut came before the end of
 * the scenario's setup (DG3), or the setup never ended. */
static int in_setup(const struct run_result *res, uint64_t cut)
{
	return res->has_setup && (res->in_setup || cut <= res->setup_seq);
}

/* One scenario: run it, plan, recover every damaged image, count. */
static int damage_scenario(const struct run_opts *o, struct scenario *sc,
			   struct damage_summary *sum,
			   struct damage_scn_stats *st, uint64_t *image_no,
			   int *stop)
{
	struct run_config cfg = { .sc = sc, .seed = o->seed, .keep_state = -1,
				  .quiet = 1 };
	struct run_result res;
	struct dmg_scn s = { .res = &res };
	struct dmg_result *results = NULL;
	struct seen_set ss = { NULL, 0, 0 };
	uint64_t *ks = NULL, *cuts = NULL;
	size_t n;
	int r;

	r = workload_run(&cfg, &res);
	if (r)
		return r;
	if (res.live_failed) {
		char id[200], msg[600];
		struct fault_spec none = { FAULT_NONE, 0, 0 };

		live_id_format(st->name, o->seed, &none, id, sizeof(id));
		snprintf(msg, sizeof(msg), "live run: %s", res.live_msg);
		st->live_failed = 1;
		r = add_violation(sum, id, msg);
	}
	n = r ? 0 : commit_points(&res, &ks, &cuts);
	st->commits = n;
	s.commits = calloc(n + 1, sizeof(*s.commits));
	if (!r && (!s.commits || !ks || !cuts))
		r = -ENOMEM;
	if (!r)
		r = sd_cutter_create(res.sd, &s.cutter);
	for (size_t i = 0; i < n && !r; i++) {
		struct dmg_commit *c = &s.commits[s.nr_commits];

		c->k = ks[i];
		c->cut = cuts[i];
		if (in_setup(&res, cuts[i])) {
			if (i + 1 == n || !in_setup(&res, cuts[i + 1])) {
				/* DG3: the setup's last commit */
				r = plan_commit(&s, (uint32_t)s.nr_commits,
						&ss, st, 1);
				dmg_plan_free(&c->plan);
			}
			memset(c, 0, sizeof(*c));
			continue;
		}
		if (ks[i] % sum->every && i + 1 != n) {
			memset(c, 0, sizeof(*c));
			continue;		/* DG1 */
		}
		r = plan_commit(&s, (uint32_t)s.nr_commits++, &ss, st, 0);
	}
	st->commits_damaged = s.nr_commits;
	s.first_image = *image_no;
	if (!r && s.nr_jobs) {
		results = calloc(s.nr_jobs, sizeof(*results));
		r = results ? run_jobs(&s, sum->jobs, results,
				       o->fail_fast ? stop : NULL) : -ENOMEM;
	}
	for (size_t i = 0; i < s.nr_jobs && !r; i++) {
		const struct dmg_job *j = &s.jobs[i];
		const struct dmg_result *x = &results[i];
		enum damage_outcome oc = (enum damage_outcome)x->outcome;

		if (!x->msg[0])
			continue;		/* not run: --fail-fast */
		if (oc >= DMG_NR)
			oc = DMG_VIOLATION;
		st->images++;
		st->outcomes[oc]++;
		st->core_only += x->core_only;
		sum->per_kind[j->kind][oc]++;
		if (oc == DMG_DETECTED) {
			st->named += x->named != 0;
			sum->per_kind_named[j->kind] += x->named != 0;
		}
		if (oc == DMG_VIOLATION || getenv("PDCRASH_DAMAGE_LOG")) {
			struct damage_id id = {
				.seed = o->seed,
				.commit = s.commits[j->commit].k,
				.block = s.commits[j->commit].plan.t[j->target].block,
				.kind = j->kind,
			};
			char text[200];

			snprintf(id.name, sizeof(id.name), "%s", st->name);
			damage_id_format(&id, text, sizeof(text));
			if (getenv("PDCRASH_DAMAGE_LOG"))
				fprintf(stderr, "%s %s: %s\n", text,
					damage_outcome_name(oc), x->msg);
			if (oc == DMG_VIOLATION)
				r = add_violation(sum, text, x->msg);
			if (oc == DMG_VIOLATION && o->fail_fast)
				*stop = 1;
		}
	}
	*image_no += s.nr_jobs;
	free(results);
	free(ks);
	free(cuts);
	free(ss.v);
	scn_free(&s);
	run_result_free(&res);
	return r;
}

int damage_run(const struct run_opts *o, struct damage_summary *sum)
{
	double t0 = now_sec();
	uint64_t image_no = 0;
	int stop = 0, r = 0;

	memset(sum, 0, sizeof(*sum));
	sum->started = t0;
	sum->jobs = o->jobs ? o->jobs : 1;
	sum->every = env_num("PDCRASH_DAMAGE_EVERY", DAMAGE_EVERY);
	if (!sum->every)
		sum->every = 1;
	sum->seed = o->seed;
	sum->scn = calloc(o->nr_scenarios + 1, sizeof(*sum->scn));
	if (!sum->scn)
		return -ENOMEM;
	for (size_t i = 0; i < o->nr_scenarios && !r && !stop; i++) {
		struct damage_scn_stats *st = &sum->scn[sum->nr_scn++];

		snprintf(st->name, sizeof(st->name), "%s", o->scenarios[i]->name);
		if (o->progress)
			fprintf(stderr, "\rdamage: %-40s %.0f s", st->name,
				now_sec() - t0);
		r = damage_scenario(o, o->scenarios[i], sum, st, &image_no,
				    &stop);
		sum->images += st->images;
		for (int k = 0; k < DMG_NR; k++)
			sum->outcomes[k] += st->outcomes[k];
		sum->core_only += st->core_only;
		sum->named += st->named;
		sum->commits += st->commits;
		sum->commits_damaged += st->commits_damaged;
		sum->blocks += st->blocks;
	}
	if (o->progress)
		fprintf(stderr, "\r%60s\r", "");
	sum->seconds = now_sec() - t0;
	return r;
}

void damage_summary_free(struct damage_summary *sum)
{
	free(sum->scn);
	free(sum->violations);
	memset(sum, 0, sizeof(*sum));
}

/* --- reports ---------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void damage_print_json(const struct run_opts *o,
		       const struct damage_summary *sum, FILE *f)
{
	fprintf(f, "{\"mode\": \"damage\", \"scenarios\": %zu, \"states\": %"
		PRIu64 ", \"images\": %" PRIu64 ", \"outcomes\": {\"detected\": %"
		PRIu64 ", \"harmless\": %" PRIu64 ", \"violation\": %" PRIu64
		"}, \"core_only\": %" PRIu64 ", \"named\": %" PRIu64
		", \"commits\": %" PRIu64
		", \"commits_damaged\": %" PRIu64 ", \"blocks\": %" PRIu64
		", \"every\": %" PRIu64 ", \"seconds\": %.2f, \"jobs\": %u, \"seed\": %"
		PRIu64 ", \"mutant\": ", sum->nr_scn, sum->images, sum->images,
		sum->outcomes[DMG_DETECTED], sum->outcomes[DMG_HARMLESS],
		sum->outcomes[DMG_VIOLATION], sum->core_only, sum->named,
		sum->commits,
		sum->commits_damaged, sum->blocks, sum->every, sum->seconds,
		sum->jobs, sum->seed);
	if (o->mutant)
		json_str(f, o->mutant);
	else
		fputs("null", f);
	fputs(", \"violations\": [", f);
	for (size_t i = 0; i < sum->nr_violations; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, sum->violations[i].id);
	}
	fputs("], \"violation_messages\": {", f);
	for (size_t i = 0; i < sum->nr_violations; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, sum->violations[i].id);
		fputs(": ", f);
		json_str(f, sum->violations[i].msg);
	}
	fputs("}, \"per_scenario\": [", f);
	for (size_t i = 0; i < sum->nr_scn; i++) {
		const struct damage_scn_stats *st = &sum->scn[i];

		fputs(i ? ", " : "", f);
		fputs("{\"name\": ", f);
		json_str(f, st->name);
		fprintf(f, ", \"commits\": %" PRIu64
			", \"commits_damaged\": %" PRIu64 ", \"blocks\": %" PRIu64
			", \"images\": %" PRIu64 ", \"detected\": %" PRIu64
			", \"harmless\": %" PRIu64 ", \"violations\": %" PRIu64
			", \"core_only\": %" PRIu64 ", \"named\": %" PRIu64 "}",
			st->commits,
			st->commits_damaged, st->blocks, st->images,
			st->outcomes[DMG_DETECTED], st->outcomes[DMG_HARMLESS],
			st->outcomes[DMG_VIOLATION], st->core_only, st->named);
	}
	fputs("], \"per_kind\": {", f);
	for (unsigned k = 0; k < damage_nr_kinds(); k++) {
		fputs(k ? ", " : "", f);
		json_str(f, damage_kind_name(k));
		fprintf(f, ": {\"detected\": %" PRIu64 ", \"named\": %" PRIu64
			", \"harmless\": %" PRIu64 ", \"violation\": %" PRIu64 "}",
			sum->per_kind[k][DMG_DETECTED], sum->per_kind_named[k],
			sum->per_kind[k][DMG_HARMLESS],
			sum->per_kind[k][DMG_VIOLATION]);
	}
	fputs("}}\n", f);
}

static void print_rows(const struct damage_summary *sum, FILE *f, int md)
{
	fprintf(f, md ? "| scenario | commits | blocks | images | detected | "
		"harmless | violations |\n|---|---|---|---|---|---|---|\n" :
		"%-28s %9s %7s %7s %9s %9s %10s\n", "scenario", "commits",
		"blocks", "images", "detected", "harmless", "violations");
	for (size_t i = 0; i < sum->nr_scn; i++) {
		const struct damage_scn_stats *st = &sum->scn[i];
		char commits[32];

		snprintf(commits, sizeof(commits), "%" PRIu64 "/%" PRIu64,
			 st->commits_damaged, st->commits);
		if (md)
			fprintf(f, "| %s | %s | %" PRIu64 " | %" PRIu64 " | %"
				PRIu64 " | %" PRIu64 " | %" PRIu64 " |\n", st->name,
				commits, st->blocks, st->images,
				st->outcomes[DMG_DETECTED],
				st->outcomes[DMG_HARMLESS],
				st->outcomes[DMG_VIOLATION]);
		else
			fprintf(f, "%-28s %9s %7" PRIu64 " %7" PRIu64 " %9" PRIu64
				" %9" PRIu64 " %10" PRIu64 "\n", st->name, commits, st->blocks, st->images,
				st->outcomes[DMG_DETECTED],
				st->outcomes[DMG_HARMLESS],
				st->outcomes[DMG_VIOLATION]);
	}
	if (md)
		fprintf(f, "| **total** | %" PRIu64 "/%" PRIu64 " | %" PRIu64
			" | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64
			" |\n", sum->commits_damaged, sum->commits, sum->blocks,
			sum->images, sum->outcomes[DMG_DETECTED],
			sum->outcomes[DMG_HARMLESS],
			sum->outcomes[DMG_VIOLATION]);
	else
		fprintf(f, "%-28s %4" PRIu64 "/%-4" PRIu64 " %7" PRIu64 " %7"
			PRIu64 " %9" PRIu64 " %9" PRIu64 " %10" PRIu64 "\n",
			"total", sum->commits_damaged, sum->commits, sum->blocks,
			sum->images, sum->outcomes[DMG_DETECTED],
			sum->outcomes[DMG_HARMLESS],
			sum->outcomes[DMG_VIOLATION]);
}

void damage_print_text(const struct run_opts *o,
		       const struct damage_summary *sum, FILE *f)
{
	(void)o;
	print_rows(sum, f, 0);
	fprintf(f, "%" PRIu64 " damaged images in %.1f s (%u jobs): %" PRIu64
		" detected (%" PRIu64 " naming the block, %" PRIu64 " by the "
		"core alone), %" PRIu64 " harmless, %" PRIu64 " violations\n",
		sum->images, sum->seconds, sum->jobs,
		sum->outcomes[DMG_DETECTED], sum->named, sum->core_only,
		sum->outcomes[DMG_HARMLESS], sum->outcomes[DMG_VIOLATION]);
	for (size_t i = 0; i < sum->nr_violations; i++)
		fprintf(f, "VIOLATION %s: %s\n", sum->violations[i].id,
			sum->violations[i].msg);
}

int damage_write_report(const struct run_opts *o,
			const struct damage_summary *sum, const char *dir)
{
	char path[4096];
	FILE *f;

	if (mkdir(dir, 0777) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	damage_print_json(o, sum, f);
	if (fclose(f))
		return -EIO;
	snprintf(path, sizeof(path), "%s/summary.md", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# pdcrash run --damage\n\nEvery metadata block the "
		"superblock reaches, at every %" PRIu64 "th commit and the last of each "
		"run, damaged by each kind that fits it (checksum recomputed), "
		"then recovered (harness/engine/damage.h).  Seed %" PRIu64
		", %u jobs, %.1f s.\n\n", sum->every, sum->seed, sum->jobs,
		sum->seconds);
	print_rows(sum, f, 1);
	fprintf(f, "\nDetected with a message naming the damaged block: %"
		PRIu64 " of %" PRIu64 ".  Detected by a core error on an image "
		"the checker passes: %" PRIu64 ".\n\n## By damage kind\n\n"
		"| kind | detected | naming the block | harmless | violations | "
		"what |\n|---|---|---|---|---|---|\n", sum->named,
		sum->outcomes[DMG_DETECTED], sum->core_only);
	for (unsigned k = 0; k < damage_nr_kinds(); k++)
		fprintf(f, "| %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %"
			PRIu64 " | %s |\n", damage_kind_name(k),
			sum->per_kind[k][DMG_DETECTED], sum->per_kind_named[k],
			sum->per_kind[k][DMG_HARMLESS],
			sum->per_kind[k][DMG_VIOLATION], damage_kind_what(k));
	fprintf(f, "\n## Violations\n\n%s", sum->nr_violations ? "" : "None.\n");
	for (size_t i = 0; i < sum->nr_violations; i++)
		fprintf(f, "- `%s`: %s (`pdcrash replay %s`)\n",
			sum->violations[i].id, sum->violations[i].msg,
			sum->violations[i].id);
	return fclose(f) ? -EIO : 0;
}

/* --- replay ------------------------------------------------------------------ */

static const char *const role_names[DR_NR] = {
	"the superblock", "the held metadata snapshot's superblock copy",
	"a btree node", "the metadata space map's index block",
	"a space-map bitmap", "the cache superblock", "an array block",
};

static const char *const tree_names[] = {
	"", "the mapping tree's top level", "a device's mapping tree",
	"the details tree", "the data space map's index",
	"the data space map's ref counts", "the metadata space map",
	"the metadata space map's ref counts", "the mapping array",
	"the hint array", "the discard bitset", "the dirty bitset",
};

int damage_replay(const struct damage_id *id, const struct scenario *sc,
		  unsigned cache_blocks, const char *save_image, FILE *f)
{
	struct run_config cfg = { .sc = sc, .seed = id->seed, .keep_state = -1,
				  .quiet = 1, .cache_blocks = cache_blocks };
	struct run_result res;
	struct dmg_scn s = { .res = &res };
	struct dmg_commit c = { 0 };
	struct dmg_result out;
	const struct dmg_target *t;
	uint64_t *ks = NULL, *cuts = NULL;
	struct bdev *image = NULL;
	char text[200];
	size_t n;
	int r, rc = 2;

	r = workload_run(&cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", sc->name,
			pd_strerror(r));
		return 2;
	}
	damage_id_format(id, text, sizeof(text));
	n = commit_points(&res, &ks, &cuts);
	for (size_t i = 0; i < n; i++)
		if (ks[i] == id->commit)
			c.cut = cuts[i], c.k = ks[i];
	if (!c.cut) {
		fprintf(stderr, "pdcrash: id %s: the run has no committed state "
			"%" PRIu64 " (%zu commits): not an id of this scenario and "
			"seed\n", text, id->commit, n);
		goto out;
	}
	r = sd_cutter_create(res.sd, &s.cutter);
	if (!r)
		r = sd_cutter_seek(s.cutter, c.cut);
	if (!r)
		r = durable_image(s.cutter, &image);
	if (!r)
		r = dmg_plan_build(image, &c.plan);
	bdev_destroy(image);
	image = NULL;
	if (r) {
		fprintf(stderr, "pdcrash: id %s: cannot read the committed image: "
			"%s\n", text, pd_strerror(r));
		goto out;
	}
	s.commits = &c;
	s.nr_commits = 1;
	t = dmg_plan_find(&c.plan, id->block);
	struct dmg_job j = { 0, t ? (uint32_t)(t - c.plan.t) : 0, id->kind };

	s.jobs = &j;
	s.nr_jobs = 1;
	if (!t || damaged_image(&s, &j, &image, NULL)) {
		fprintf(stderr, "pdcrash: id %s: %s of committed state %" PRIu64
			": not an id of this scenario and seed\n", text, t ?
			"the damage kind does not fit this block" :
			"the block is no metadata block", id->commit);
		goto out;
	}
	fprintf(f, "damage %s\n", text);
	fprintf(f, "scenario %s (%s), seed %" PRIu64 ": committed state %" PRIu64
		", the durable image after log entry %" PRIu64 " of %" PRIu64 "\n",
		sc->name, sc->path, id->seed, c.k, c.cut, simdisk_nr_ops(res.sd));
	fprintf(f, "block %" PRIu64 ": %s%s%s%s (parent %" PRIu64 "); damage %s: "
		"%s; checksum recomputed\n", (uint64_t)t->block,
		role_names[t->role], t->tree ? " of " : "",
		tree_names[t->tree], t->role == DR_NODE ?
		(t->leaf ? ", a leaf" : ", an internal node") : "",
		(uint64_t)t->parent, damage_kind_name(id->kind),
		damage_kind_what(id->kind));
	if (save_image) {
		r = bdev_export(image, save_image);
		if (r)
			fprintf(stderr, "pdcrash: cannot save %s: %s\n", save_image,
				pd_strerror(r));
		else
			fprintf(f, "damaged image saved to %s\n", save_image);
	}
	bdev_destroy(image);
	image = NULL;
	/* recovered in a worker, as the run does: a crash or a hang is the
	 * outcome, not the end of replay */
	r = run_jobs(&s, 1, &out, NULL);
	if (r) {
		fprintf(stderr, "pdcrash: %s\n", pd_strerror(r));
		goto out;
	}
	fprintf(f, "outcome: %s: %s\n", damage_outcome_name(out.outcome),
		out.msg);
	rc = out.outcome == DMG_VIOLATION ? 1 : 0;
out:
	dmg_plan_free(&c.plan);
	sd_cutter_destroy(s.cutter);
	free(ks);
	free(cuts);
	run_result_free(&res);
	return rc;
}
