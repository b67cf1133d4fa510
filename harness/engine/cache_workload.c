/* harness/engine/cache_workload.c - a dm-cache scenario on simdisk with the
 * cache oracle beside it, and the recovery check of its crash states (see
 * cache_scenario.h).
 *
 * The run_result it fills is the thin workload's (workload.h): the log with
 * its markers (MK_OP, MK_COMMIT_BEGIN/END), the digests of the committed
 * states, the ops.  The digest of committed state k is that of what a
 * reopen of it reports (cache_oracle.h CO1), so the recovery compares the
 * reopened metadata with digests[lo..hi] as thin recovery does.
 *
 * The on-disk CLEAN_SHUTDOWN flag is clear from the format on: the open
 * clears it (CA2) and only `shutdown` sets it, between its close (state k,
 * the clean view) and its reopen (state k+1, the same metadata with the
 * flag cleared: every mapped block dirty after a crash).  So an abort, or a
 * recovery from an injected error, always reopens without it (CA3): the
 * model becomes the unclean view of the committed state.
 *
 * Faults as in the thin workload (workload.h): IO errors, media faults,
 * allocation failures (counted through workload_faults_arm's watch, the
 * harness's own reads of the metadata paused) and a --fiu point.  An
 * error counts as injected only as injected() says; then the metadata is
 * aborted (needs_check set) and the run goes on, and with
 * stop_after_recovery it ends after the next good commit once the fault
 * fired.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "cache.h"
#include "cache_client.h"
#include "cache_oracle.h"
#include "cache_scenario.h"
#include "check.h"
#include "check_cache.h"
#include "errors.h"
#include "faultbdev.h"
#include "prng.h"

struct crun {
	const struct run_config *cfg;
	struct run_result *res;
	struct bdev *bd;
	const struct cache_client_ops *ops;	/* the run's backend */
	struct cache_client *cc;
	struct cache_client_params params;
	struct cache_oracle *model;	/* current transaction, as reported */
	struct cache_oracle *committed;	/* last committed, as stored */
	size_t cap_ops, cap_states;
	int done;
	int setup_err;
	int skip_noted;			/* a skip was named on stderr */
	struct alloc_watch aw;		/* allocation hits (workload.h);
					 * aw.paused: the harness reading */
	uint64_t next_oblock;		/* for generated maps */
};

__attribute__((format(printf, 2, 3)))
static void live_fail(struct crun *w, const char *fmt, ...)
{
	va_list ap;

	if (w->res->live_failed)
		return;
	w->res->live_failed = 1;
	va_start(ap, fmt);
	vsnprintf(w->res->live_msg, sizeof(w->res->live_msg), fmt, ap);
	va_end(ap);
	w->done = 1;
}

static void mark(struct crun *w, enum marker m, uint64_t value)
{
	int r = simdisk_mark(w->res->sd, m, value);

	if (r && !w->setup_err) {
		w->setup_err = r;
		w->done = 1;
	}
}

static int push_digest(struct crun *w, struct digest d)
{
	struct run_result *res = w->res;

	if (res->nr_states == w->cap_states) {
		size_t cap = w->cap_states ? w->cap_states * 2 : 64;
		struct digest *n = realloc(res->digests, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		res->digests = n;
		w->cap_states = cap;
	}
	res->digests[res->nr_states++] = d;
	return 0;
}

/* The digest of what a reopen of o reports (CO1). */
static int reopen_digest(const struct cache_oracle *o, int clean,
			 struct digest *d)
{
	struct cache_oracle *v;
	int r;

	if (clean) {
		*d = cache_oracle_digest(o);
		return 0;
	}
	r = cache_oracle_clone(o, &v);
	if (r)
		return r;
	cache_oracle_reopen(v, 0);
	*d = cache_oracle_digest(v);
	cache_oracle_destroy(v);
	return 0;
}

static int push_state(struct crun *w, const struct cache_oracle *o, int clean)
{
	struct digest d;
	int r = reopen_digest(o, clean, &d);

	return r ? r : push_digest(w, d);
}

static struct run_op *push_op(struct crun *w, const struct op *op)
{
	struct run_result *res = w->res;
	struct run_op *ro;

	if (res->nr_ops == w->cap_ops) {
		size_t cap = w->cap_ops ? w->cap_ops * 2 : 256;
		struct run_op *n = realloc(res->ops, cap * sizeof(*n));

		if (!n)
			return NULL;
		res->ops = n;
		w->cap_ops = cap;
	}
	ro = &res->ops[res->nr_ops++];
	memset(ro, 0, sizeof(*ro));
	ro->op = *op;
	ro->seq = simdisk_nr_ops(res->sd);
	ro->alloc_before[0] = res->alloc_hits[0];
	ro->alloc_before[1] = res->alloc_hits[1];
	mark(w, MK_OP, res->nr_ops - 1);
	return ro;
}

/* Keep the reopen view of committed state k if the caller asked for it. */
static void keep_model(struct crun *w, uint64_t k, int clean)
{
	if (w->cfg->keep_state < 0 || (uint64_t)w->cfg->keep_state != k)
		return;
	cache_oracle_destroy(w->res->cache_kept);
	w->res->cache_kept = NULL;
	if (cache_oracle_clone(w->committed, &w->res->cache_kept)) {
		live_fail(w, "out of memory");
		return;
	}
	cache_oracle_reopen(w->res->cache_kept, clean);
}

static int faults_planned(const struct crun *w)
{
	return w->cfg->fault.kind != FAULT_NONE || w->cfg->fiu_name;
}

static int cc_failed(struct crun *w)
{
	return w->cc && w->ops->is_failed(w->cc);
}

/* The planned allocation failure fired in the op now running (the
 * format: before the first op). */
static int alloc_in_this_op(const struct crun *w)
{
	const struct run_result *res = w->res;

	return res->alloc_fired &&
	       res->alloc_op == (res->nr_ops ? res->nr_ops - 1 : SIZE_MAX);
}

/* The planned media fault fired and r is a refusal of what it damaged:
 * a validator's (-EILSEQ; -ENOTBLK, a flip in the location field), or
 * the metadata it failed refusing everything from then on. */
static int media_explains(struct crun *w, int r)
{
	return simdisk_media_hit(w->res->sd)->fired &&
	       (r == -EILSEQ || r == -ENOTBLK || cc_failed(w));
}

/*
 * An error this run injected (workload.h, as for thin): an IO error of
 * the plan (-EIO, or anything from the metadata it failed); the libfiu
 * point's error once it fired (workload_fiu_explains), or anything from
 * the metadata it failed; a media fault's refusal (media_explains); an
 * allocation failure's own error (-ENOMEM, -ENOSPC) in the op it fired
 * in, or anything from the metadata it failed.  Anything else is compared
 * with the model, so an error the run did not inject stays a
 * disagreement.
 */
static int injected(struct crun *w, int r)
{
	enum fault_kind k = w->cfg->fault.kind;

	if (!faults_planned(w) || !r)
		return 0;
	if (k == FAULT_NONE)		/* --fiu NAME[:N] */
		return workload_fiu_explains(w->cfg, r) ||
		       (cc_failed(w) && workload_fiu_explains(w->cfg, -EIO));
	if (fault_is_alloc(k))
		return w->res->alloc_fired &&
		       (cc_failed(w) || (r == workload_alloc_errno(k) &&
					 alloc_in_this_op(w)));
	if (fault_is_media(k))
		return media_explains(w, r);
	return r == -EIO || cc_failed(w);
}

/* The same for a call that leaves no metadata object behind (format,
 * open, close; the run stops there): an IO error of the plan, or the
 * libfiu point once it fired, may come back as any error of the path it
 * failed; an allocation failure as its own error or -EIO, in that op; a
 * media fault as a refusal, or as an all-zero superblock (-ENODATA: its
 * only non-zero sector lost) read as "unformatted". */
static int injected_dead(struct crun *w, int r)
{
	enum fault_kind k = w->cfg->fault.kind;
	const struct sd_media_hit *h = simdisk_media_hit(w->res->sd);

	if (!faults_planned(w) || !r)
		return 0;
	if (fault_is_alloc(k))
		return alloc_in_this_op(w) &&
		       (r == workload_alloc_errno(k) || r == -EIO);
	if (fault_is_media(k))
		return media_explains(w, r) ||
		       (h->fired && h->kind == SD_MEDIA_LOST_SECTOR &&
			h->block == 0 && r == -ENODATA);
	if (k == FAULT_NONE)		/* --fiu NAME[:N] */
		return workload_fiu_explains(w->cfg, -EIO);
	return 1;
}

static void note_error(struct crun *w)
{
	struct run_result *res = w->res;

	if (!res->injected++)
		res->first_error_seq = res->nr_ops ? res->ops[res->nr_ops - 1].seq : 1;
}

/* The run ends after an injected error it does not recover from. */
static void stop(struct crun *w)
{
	struct run_result *res = w->res;
	int first = !res->injected;

	note_error(w);
	if (first)
		res->recovered_seq = simdisk_nr_ops(res->sd);
	res->stopped = 1;
	w->done = 1;
}

/* After an injected error: the caller's policy (cache_client.h CC5: our
 * core aborts (CA5) and goes on; dm-cache aborts, sets needs_check and
 * stays read-only, KC11) and follow the metadata to the state it reopened
 * in.  cand: the state a failed commit was making, or -1. */
static void recover(struct crun *w, int64_t cand)
{
	struct run_result *res = w->res;
	uint64_t last = cand >= 0 ? (uint64_t)cand - 1 : res->nr_states - 1;
	int first = !res->injected;
	struct digest d;
	int r;

	note_error(w);
	r = w->ops->after_error(w->cc);
	if (r == 1) {
		res->read_only = 1;	/* checked, then nothing more runs */
		w->done = 1;
		r = 0;
	} else if (!r) {
		int nc = 0;

		/* going on, failed safe: needs_check set, as dm-cache's
		 * abort_transaction does after every failed metadata
		 * operation (dm_cache_metadata_set_needs_check) */
		r = w->ops->get_needs_check(w->cc, &nc);
		if (!r && !nc) {
			live_fail(w, "after an injected error the metadata "
				  "goes on with needs_check clear");
			goto out;
		}
	}
	if (!r) {
		w->aw.paused++;		/* the harness reading the metadata */
		r = cache_client_digest(w->cc, &d);
		w->aw.paused--;
	}
	if (r) {
		res->stopped = 1;	/* dead: nothing more runs */
		w->done = 1;
		goto out;
	}
	if (digest_eq(d, res->digests[last])) {
		if (cand >= 0)
			res->nr_states--;	/* it did not happen */
	} else if (cand >= 0 && digest_eq(d, res->digests[cand])) {
		/* the superblock of cand had landed; the core's abort wrote
		 * it back and flushed it, so did the kernel adapter's reload
		 * (KC6): durable from here on (else cand - 1 stays possible) */
		if (cache_oracle_assign(w->committed, w->model)) {
			live_fail(w, "out of memory");
			goto out;
		}
		mark(w, MK_COMMIT_END, (uint64_t)cand |
		     (w->ops->abort_makes_durable ? 0 : MK_UNCERTAIN));
		keep_model(w, (uint64_t)cand, 0);
	} else {
		live_fail(w, "after abort the metadata shows neither committed "
			  "state %" PRIu64 " nor the one being committed", last);
		goto out;
	}
	if (cache_oracle_assign(w->model, w->committed))
		live_fail(w, "out of memory");
	cache_oracle_reopen(w->model, 0);
out:
	if (first)
		res->recovered_seq = simdisk_nr_ops(res->sd);
}

static int settle(struct crun *w, struct run_op *ro, int core, int expect)
{
	ro->result = core;
	if (injected(w, core)) {
		recover(w, -1);
		return 0;
	}
	if (core != expect) {
		char buf[128];

		op_format(&ro->op, buf, sizeof(buf));
		live_fail(w, "op %zu '%s': %s returned %d (%s), the model %d (%s)",
			  (size_t)(ro - w->res->ops), buf, w->ops->name, core,
			  pd_strerror(core), expect, pd_strerror(expect));
		return 0;
	}
	return core == 0;
}

/* What the metadata reports must be the model (after commits and reopens). */
static void live_check(struct crun *w, const char *when)
{
	struct digest d;
	int r;

	w->aw.paused++;			/* the harness reading the metadata */
	r = cache_client_digest(w->cc, &d);
	w->aw.paused--;
	if (injected(w, r)) {
		recover(w, -1);
		return;
	}
	if (r) {
		live_fail(w, "%s: reading the metadata failed: %s%s%s", when,
			  pd_strerror(r), w->cc->msg[0] ? ": " : "", w->cc->msg);
		return;
	}
	if (!digest_eq(d, cache_oracle_digest(w->model))) {
		struct cache_oracle *found;
		char diff[300] = "";

		w->aw.paused++;
		r = cache_oracle_from_client(w->cc, &found);
		w->aw.paused--;
		if (!r) {
			cache_oracle_diff(w->model, found, diff, sizeof(diff), 3);
			cache_oracle_destroy(found);
		}
		live_fail(w, "%s: the metadata reports other than the model:\n%s",
			  when, diff);
	}
}

/* With stop_after_recovery, after the first good commit once the fault
 * fired (an injected error, an IO error no op returned, a media fault
 * refused or not, an allocation failure absorbed or not; workload.h). */
static void stop_if_recovered(struct crun *w)
{
	const struct run_result *res = w->res;

	if (w->cfg->stop_after_recovery &&
	    (res->injected || simdisk_media_hit(res->sd)->fired ||
	     simdisk_plan_fired(res->sd, NULL) || res->alloc_fired))
		w->done = 1;
}

static void do_commit(struct crun *w, struct run_op *ro)
{
	struct run_result *res = w->res;
	uint64_t k = res->nr_states;
	int r;

	if (push_state(w, w->model, 0)) {
		live_fail(w, "out of memory");
		return;
	}
	mark(w, MK_COMMIT_BEGIN, k);
	r = w->ops->commit(w->cc);
	ro->result = r;
	if (injected(w, r)) {
		recover(w, (int64_t)k);
		return;
	}
	if (r) {
		live_fail(w, "op %zu 'commit': %d (%s)", (size_t)(ro - res->ops), r,
			  pd_strerror(r));
		return;
	}
	if (cache_oracle_assign(w->committed, w->model)) {
		live_fail(w, "out of memory");
		return;
	}
	mark(w, MK_COMMIT_END, k);
	keep_model(w, k, 0);
	live_check(w, "after a commit");
	stop_if_recovered(w);
}

/* Open again; clean: CLEAN_SHUTDOWN is set on disk (state k = nr_states - 1,
 * the clean view), and the open that clears it makes state k + 1. */
static void do_open(struct crun *w, struct run_op *ro, int clean)
{
	struct run_result *res = w->res;
	uint64_t k = res->nr_states;
	int r;

	if (clean) {
		if (push_state(w, w->committed, 0)) {
			live_fail(w, "out of memory");
			return;
		}
		mark(w, MK_COMMIT_BEGIN, k);
	}
	r = w->ops->open(w->bd, &w->params, &w->cc);
	ro->result = r;
	if (r) {
		w->cc = NULL;
		if (injected_dead(w, r))
			stop(w);
		else
			live_fail(w, "op %zu: reopen failed: %d (%s)",
				  (size_t)(ro - res->ops), r, pd_strerror(r));
		return;
	}
	if (w->ops->clean_when_opened(w->cc) != clean) {
		live_fail(w, "op %zu: reopened %s a clean shutdown, the superblock "
			  "says otherwise", (size_t)(ro - res->ops),
			  clean ? "after" : "without");
		return;
	}
	if (clean) {
		mark(w, MK_COMMIT_END, k);
		keep_model(w, k, 0);
	}
	if (cache_oracle_assign(w->model, w->committed)) {
		live_fail(w, "out of memory");
		return;
	}
	cache_oracle_reopen(w->model, clean);
	live_check(w, clean ? "after a clean shutdown and reopen" :
			      "after a reopen");
	if (clean)
		stop_if_recovered(w);
}

/* Clean shutdown (a commit with CLEAN_SHUTDOWN, close), then reopen. */
static void do_shutdown(struct crun *w, struct run_op *ro)
{
	struct run_result *res = w->res;
	uint64_t k = res->nr_states;
	int r;

	if (push_state(w, w->model, 1)) {
		live_fail(w, "out of memory");
		return;
	}
	mark(w, MK_COMMIT_BEGIN, k);
	r = w->ops->close(w->cc);
	w->cc = NULL;
	ro->result = r;
	if (r) {
		if (injected_dead(w, r))
			stop(w);
		else
			live_fail(w, "op %zu 'shutdown': %d (%s)",
				  (size_t)(ro - res->ops), r, pd_strerror(r));
		return;
	}
	if (cache_oracle_assign(w->committed, w->model)) {
		live_fail(w, "out of memory");
		return;
	}
	mark(w, MK_COMMIT_END, k);
	keep_model(w, k, 1);
	do_open(w, ro, 1);
}

static void exec_op(struct crun *w, const struct op *op);

/* An op this backend cannot do as the grammar means it (workload.h). */
static void note_skip(struct crun *w, struct run_op *ro, const char *why)
{
	workload_note_skip(w->cfg, w->res, ro, w->ops->name, &w->skip_noted,
			   why);
}

/* --- random ops ------------------------------------------------------------ */

static uint32_t pick_mapped(struct crun *w, struct prng *p)
{
	uint32_t n = w->model->nr_cblocks, start = (uint32_t)prng_below(p, n);

	if (prng_below(p, 8))
		for (uint32_t i = 0; i < n; i++) {
			uint32_t cb = (start + i) % n;

			if (w->model->cb[cb].mapped)
				return cb;
		}
	return start;
}

static uint64_t fresh_oblock(struct crun *w, struct prng *p, uint64_t span)
{
	for (int i = 0; i < 8; i++) {
		uint64_t ob = prng_below(p, span);

		if (!cache_oracle_oblock_mapped(w->model, ob))
			return ob;
	}
	while (cache_oracle_oblock_mapped(w->model, w->next_oblock))
		w->next_oblock++;
	return w->next_oblock++;
}

static void gen_op(struct crun *w, struct prng *p, const struct op *spec,
		   struct op *out)
{
	unsigned total = 0, x;
	unsigned k;
	uint32_t n = w->model->nr_cblocks;

	for (k = 0; k < CO_RANDOM; k++)
		total += spec->mix[k];
	x = (unsigned)prng_below(p, total);
	for (k = 0; k < CO_RANDOM; k++) {
		if (x < spec->mix[k])
			break;
		x -= spec->mix[k];
	}
	memset(out, 0, sizeof(*out));
	out->kind = OP_CACHE;
	out->sub = k;
	if (!n && (k == CO_MAP || k == CO_UNMAP || k == CO_DIRTY || k == CO_CLEAN))
		out->sub = k = CO_RESIZE;
	if (!w->model->nr_dblocks && (k == CO_DISCARD || k == CO_UNDISCARD))
		out->sub = k = CO_COMMIT;
	switch (k) {
	case CO_MAP:
		out->a = out->b = (uint32_t)prng_below(p, n);
		out->c = fresh_oblock(w, p, spec->span);
		break;
	case CO_UNMAP:
	case CO_DIRTY:
	case CO_CLEAN:
		out->a = out->b = pick_mapped(w, p);
		break;
	case CO_HINTS:
		out->c = prng_below(p, 1ull << 32);
		break;
	case CO_DISCARD:
	case CO_UNDISCARD:
		out->a = out->b = prng_below(p, w->model->nr_dblocks);
		break;
	case CO_RESIZE: {
		uint64_t base = w->res->geo.cache.cblocks, d = base / 4 + 2;
		uint64_t v = n + prng_below(p, 2 * d + 1);

		v = v > d ? v - d : 1;
		if (v > 2 * base + 8)
			v = 2 * base + 8;
		out->a = v;
		break;
	}
	default:
		break;
	}
}

static void exec_random(struct crun *w, const struct op *spec)
{
	struct prng p;
	uint64_t seed = spec->has_seed ? spec->seed : w->cfg->seed;

	prng_seed(&p, prng_derive(seed, spec->line));
	for (uint64_t i = 0; i < spec->a && !w->done; i++) {
		struct op g;

		gen_op(w, &p, spec, &g);
		g.line = spec->line;
		exec_op(w, &g);
	}
}

/* --- one op ------------------------------------------------------------------- */

static int ranged(unsigned sub)
{
	return sub == CO_MAP || sub == CO_UNMAP || sub == CO_DIRTY ||
	       sub == CO_CLEAN || sub == CO_DISCARD || sub == CO_UNDISCARD;
}

static void exec_op(struct crun *w, const struct op *op)
{
	struct run_result *res = w->res;
	struct cache_oracle *m = w->model;
	const struct cache_geometry *g = &res->geo.cache;
	struct run_op *ro;
	uint32_t a = (uint32_t)op->a;
	int r;

	if (w->done)
		return;
	if (op->sub == CO_RANDOM) {
		exec_random(w, op);
		return;
	}
	if (ranged(op->sub) && op->a != op->b) {
		for (uint64_t v = op->a; v <= op->b && !w->done; v++) {
			struct op one = *op;

			one.a = one.b = v;
			if (op->sub == CO_MAP)
				one.c = op->c + (v - op->a);
			exec_op(w, &one);
		}
		return;
	}
	if (w->cfg->op_limit && res->nr_ops >= w->cfg->op_limit) {
		w->done = 1;
		return;
	}
	ro = push_op(w, op);
	if (!ro) {
		live_fail(w, "out of memory");
		return;
	}
	switch (op->sub) {
	case CO_MAP:
		if (a < m->nr_cblocks && cache_oracle_oblock_mapped(m, op->c) &&
		    !(m->cb[a].mapped && m->cb[a].oblock == op->c)) {
			live_fail(w, "op %zu: the scenario maps origin block %llu "
				  "twice", (size_t)(ro - res->ops),
				  (unsigned long long)op->c);
			break;
		}
		r = w->ops->insert(w->cc, a, op->c);
		settle(w, ro, r, injected(w, r) ? 0 : cache_oracle_insert(m, a, op->c));
		break;
	case CO_UNMAP:
		r = w->ops->remove(w->cc, a);
		settle(w, ro, r, injected(w, r) ? 0 : cache_oracle_remove(m, a));
		break;
	case CO_DIRTY:
	case CO_CLEAN: {
		int dirty = op->sub == CO_DIRTY;

		r = w->ops->set_dirty(w->cc, a, dirty);
		settle(w, ro, r, injected(w, r) ? 0 :
		       cache_oracle_set_dirty(m, a, dirty));
		break;
	}
	case CO_HINTS: {
		uint32_t *h = malloc(((size_t)m->nr_cblocks + 1) * sizeof(*h));
		const uint32_t version[3] = { 2, 0, 0 };

		if (!h) {
			live_fail(w, "out of memory");
			break;
		}
		for (uint32_t i = 0; i < m->nr_cblocks; i++)
			h[i] = cache_hint_value((uint32_t)op->c, i);
		r = w->ops->write_hints(w->cc, g->policy, version, g->hint_size, h);
		free(h);
		settle(w, ro, r, injected(w, r) ? 0 :
		       cache_oracle_write_hints(m, g->policy, g->hint_size,
						(uint32_t)op->c));
		break;
	}
	case CO_DISCARD:
	case CO_UNDISCARD: {
		int on = op->sub == CO_DISCARD;

		r = w->ops->set_discard(w->cc, a, on);
		settle(w, ro, r, injected(w, r) ? 0 :
		       cache_oracle_set_discard(m, a, on));
		break;
	}
	case CO_DISCARD_RESIZE:
		r = w->ops->discard_resize(w->cc, (uint64_t)res->geo.block_size * 4, a);
		settle(w, ro, r, injected(w, r) ? 0 : cache_oracle_discard_resize(m, a));
		break;
	case CO_RESIZE:
		r = w->ops->resize(w->cc, a);
		settle(w, ro, r, injected(w, r) ? 0 : cache_oracle_resize(m, a));
		break;
	case CO_COMMIT:
		do_commit(w, ro);
		break;
	case CO_ABORT:
		r = w->ops->abort(w->cc);
		if (settle(w, ro, r, 0)) {
			if (cache_oracle_assign(m, w->committed))
				live_fail(w, "out of memory");
			cache_oracle_reopen(m, 0);
			live_check(w, "after an abort");
		}
		break;
	case CO_SHUTDOWN:
		if (w->ops->shutdown_needs_hints && m->hint_size &&
		    !m->hints_valid)
			note_skip(w, ro, "the kernel cannot store a clean "
				  "shutdown without valid hints (cache_client.h "
				  "KC5): no hints were written since an unclean "
				  "open");
		else
			do_shutdown(w, ro);
		break;
	case CO_REOPEN:
		w->ops->destroy(w->cc);
		w->cc = NULL;
		do_open(w, ro, 0);
		break;
	default:
		live_fail(w, "unknown cache op %u", op->sub);
		break;
	}
}

int cache_workload_run(const struct run_config *cfg, struct run_result *res)
{
	const struct scenario *sc = cfg->sc;
	const struct cache_geometry *g;
	struct crun w = { .cfg = cfg, .res = res,
			  .aw = { .cfg = cfg, .res = res } };
	struct op setup[4];
	int r;

	memset(res, 0, sizeof(*res));
	res->client = cfg->client ? cfg->client : &client_core_ops;
	r = cache_client_backend(res->client->name, &w.ops);
	if (r)
		return r;
	res->geo = sc->geo;
	g = &res->geo.cache;
	if (cfg->cache_blocks)
		res->geo.cache_blocks = cfg->cache_blocks;
	w.params = (struct cache_client_params) {
		.data_block_size = res->geo.block_size,
		.version = g->version,
		.cache_blocks = res->geo.cache_blocks,
	};
	w.next_oblock = CACHE_DEFAULT_SPAN;
	r = simdisk_create(PD_BLOCK_SIZE, res->geo.meta_blocks, &res->sd);
	if (r)
		return r;
	simdisk_log_reads(res->sd, 0);
	if (cfg->sd_hook)
		simdisk_set_op_hook(res->sd, cfg->sd_hook, cfg->sd_hook_ctx);
	w.bd = simdisk_bdev(res->sd);
	r = cache_oracle_create(&w.model);
	if (!r)
		r = cache_oracle_create(&w.committed);
	if (r)
		goto out;
	if (fault_is_data(cfg->fault.kind)) {
		if (!cfg->quiet)
			fprintf(stderr, "%s: a data-device fault, but a dm-cache "
				"scenario has no data device\n", cfg->sc->name);
		r = -EINVAL;
		goto out;
	}
	r = workload_faults_arm(&w.aw, res->sd);
	if (r)
		goto out;
	/* state 0: the formatted, empty metadata */
	r = push_state(&w, w.model, 0);
	if (r)
		goto out;
	mark(&w, MK_COMMIT_BEGIN, 0);
	r = w.ops->format(w.bd, &w.params, &w.cc);
	if (r) {
		w.cc = NULL;
		if (!injected_dead(&w, r)) {
			live_fail(&w, "format failed: %d (%s)", r, pd_strerror(r));
		} else {
			res->injected++;
			res->first_error_seq = 1;
			res->stopped = 1;
		}
		r = 0;
		goto out;
	}
	mark(&w, MK_COMMIT_END, 0);
	keep_model(&w, 0, 0);
	/* the setup of a first resume, as ops of line 0 */
	memset(setup, 0, sizeof(setup));
	for (int i = 0; i < 4; i++)
		setup[i].kind = OP_CACHE;
	setup[0].sub = CO_RESIZE;
	setup[0].a = g->cblocks;
	setup[1].sub = CO_DISCARD_RESIZE;
	setup[1].a = g->dblocks;
	setup[2].sub = CO_HINTS;
	setup[3].sub = CO_COMMIT;
	for (int i = 0; i < 4 && !w.done; i++)
		exec_op(&w, &setup[i]);
	for (size_t i = 0; i < sc->nr_ops && !w.done; i++)
		exec_op(&w, &sc->ops[i]);
	r = w.setup_err;
out:
	res->fault = cfg->fault;
	workload_faults_disarm(&w.aw);
	if (w.cc)
		w.ops->destroy(w.cc);
	cache_oracle_destroy(w.model);
	cache_oracle_destroy(w.committed);
	return r;
}

/* --- recovery ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static void set_out(struct check_out *out, enum outcome o, const char *fmt, ...)
{
	va_list ap;

	out->outcome = o;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
}

struct msg_buf {
	char *buf;
	size_t len, used;
	unsigned n;
};

static void collect_msg(void *ctx, const char *text)
{
	struct msg_buf *m = ctx;
	int k;

	m->n++;
	if (m->n > 3 || m->used + 3 >= m->len)
		return;
	k = snprintf(m->buf + m->used, m->len - m->used, "%s%s",
		     m->used ? "; " : "", text);
	if (k > 0)
		m->used += (size_t)k < m->len - m->used ? (size_t)k
							: m->len - m->used - 1;
}

int cache_structural(struct bdev *bd, struct cache_client *cc, char *msg,
		     size_t len)
{
	struct msg_buf m = { msg, len, 0, 0 };
	struct check_cache_result cr;
	int r;

	msg[0] = 0;
	r = check_cache_metadata(bd, CHECK_STRICT, collect_msg, &m, &cr);
	if (r)
		return r;
	if (cr.errors || cr.leaks || !cr.superblock_ok)
		return 1;
	if (!cc || !cc->ops->check_trees)
		return 0;
	r = cc->ops->check_trees(cc);
	if (!r || r == -ENOMEM)
		return r;
	snprintf(msg, len, "the structural checks disagree: core/check_cache.c "
		 "finds nothing wrong, %.200s fails: %s",
		 cc->msg[0] ? cc->msg : "the backend's check of its arrays",
		 pd_strerror(r));
	return 2;
}

/* ": " and the first differences between what cc reports and o, or "". */
static void diff_text(struct cache_client *cc, const struct cache_oracle *o,
		      char *buf, size_t len)
{
	struct cache_oracle *found;

	buf[0] = 0;
	if (len < 8 || cache_oracle_from_client(cc, &found))
		return;
	strcpy(buf, ": ");
	cache_oracle_diff(o, found, buf + 2, len - 2, 2);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	cache_oracle_destroy(found);
}

#define CONT_MAPPINGS 3		/* mappings the continue step makes */

int cache_continue_check(struct cache_client **ccp, struct bdev *image,
			 const struct cache_client_params *params,
			 struct check_out *out)
{
	struct cache_client *cc = *ccp;
	const struct cache_client_ops *ops = cc->ops;
	struct cache_oracle *o = NULL;
	const uint32_t version[3] = { 2, 0, 0 };
	uint32_t *h = NULL;
	struct digest d;
	char msg[300];
	uint64_t ob = 0;
	int made = 0, ret = 0, r;

	r = cache_oracle_from_client(cc, &o);
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing: reading the metadata: %s",
			pd_strerror(r));
		return r;
	}
	for (uint32_t i = 0; i < o->nr_cblocks; i++)
		if (o->cb[i].mapped && o->cb[i].oblock >= ob)
			ob = o->cb[i].oblock + 1;
	if (o->hint_size && o->policy[0]) {
		h = malloc(((size_t)o->nr_cblocks + 1) * sizeof(*h));
		if (!h) {
			r = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < o->nr_cblocks; i++)
			h[i] = cache_hint_value(0xc0ffee, i);
		r = ops->write_hints(cc, o->policy, version, o->hint_size, h);
		if (!r)
			r = cache_oracle_write_hints(o, o->policy, o->hint_size, 0xc0ffee);
	}
	for (uint32_t i = 0; i < o->nr_cblocks && made < CONT_MAPPINGS && !r; i++) {
		if (o->cb[i].mapped)
			continue;
		r = ops->insert(cc, i, ob);
		if (!r)
			r = cache_oracle_insert(o, i, ob);
		if (!r && !made) {
			r = ops->set_dirty(cc, i, 1);
			if (!r)
				r = cache_oracle_set_dirty(o, i, 1);
		}
		ob++;
		made++;
	}
	if (!r && o->nr_dblocks) {
		r = ops->set_discard(cc, o->nr_dblocks - 1, 1);
		if (!r)
			r = cache_oracle_set_discard(o, o->nr_dblocks - 1, 1);
	}
	if (!r)
		r = ops->commit(cc);
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing after recovery failed: %s",
			pd_strerror(r));
		ret = r;
		goto out;
	}
	r = cache_client_digest(cc, &d);
	if (r || !digest_eq(d, cache_oracle_digest(o))) {
		diff_text(cc, o, msg, sizeof(msg));
		set_out(out, OUT_VIOLATION, "continuing after recovery: the metadata "
			"does not report the recovered state plus the changes%s%s%s",
			r ? ": " : "", r ? pd_strerror(r) : "", msg);
		ret = r ? r : 1;
		goto out;
	}
	r = cache_structural(image, cc, msg, sizeof(msg));
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing after recovery: %s",
			r < 0 ? pd_strerror(r) : msg);
		ret = 1;
		goto out;
	}
	/* clean shutdown and reopen: everything trusted, as reported */
	r = ops->close(cc);
	*ccp = NULL;
	if (!r)
		r = ops->open(image, params, ccp);
	if (!r)
		r = ops->clean_when_opened(*ccp) ? cache_client_digest(*ccp, &d) : -EPROTO;
	if (r || !digest_eq(d, cache_oracle_digest(o))) {
		if (!r)
			diff_text(*ccp, o, msg, sizeof(msg));
		set_out(out, OUT_VIOLATION, "continuing: after a clean shutdown and "
			"reopen the metadata does not report what it did%s%s%s",
			r ? ": " : "", r ? pd_strerror(r) : "", r ? "" : msg);
		ret = r && r != -EPROTO ? r : 1;
		goto out;
	}
	r = cache_structural(image, *ccp, msg, sizeof(msg));
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing, after a clean shutdown: %s",
			r < 0 ? pd_strerror(r) : msg);
		ret = 1;
	}
out:
	if (r == -ENOMEM) {
		set_out(out, OUT_VIOLATION, "harness: out of memory");
		ret = 1;
	}
	free(h);
	cache_oracle_destroy(o);
	return ret;
}

/* Recovery has read the damaged version of the block a lost sector hit
 * (lost: cache_check_image's watch, or NULL). */
static int lost_read(const int *lost)
{
	return lost && *lost;
}

void cache_check_image(const struct run_result *res, struct bdev *image,
		       const struct state_id *id, const struct check_opts *opts,
		       uint64_t fault_key, const int *torn,
		       const int *lost_seen, pd_block_t lost_block,
		       struct check_out *out)
{
	struct cache_client_params params = {
		.data_block_size = res->geo.block_size,
		.version = res->geo.cache.version,
		.cache_blocks = res->geo.cache_blocks,
	};
	const struct cache_client_ops *ops;
	struct cache_client *cc = NULL;
	struct bdev *fb = NULL;
	struct expect e;
	struct digest d;
	char msg[300];
	int r;

	out->state = -2;
	out->msg[0] = 0;
	r = cache_client_backend(res->client ? res->client->name : "core", &ops);
	if (r) {
		set_out(out, OUT_VIOLATION, "harness: no cache client for backend "
			"%s: %s", res->client ? res->client->name : "core",
			pd_strerror(r));
		return;
	}
	workload_expect(res, id->cut, &e);
	if (opts && opts->recovery_fault) {
		struct prng p;
		uint64_t nth;
		int sticky, in_check;

		/* the same read fails for every state with the same durable
		 * image (see the memo in explore.c): one of the open's first
		 * six, or, on a backend with a check of its arrays (the
		 * core's) and for half the images, one of that check's first
		 * sixteen after a clean open, as a thin pool's check of its
		 * trees is faulted (explore.c) */
		prng_seed(&p, prng_derive(id->seed, fault_key * 7919));
		nth = 1 + prng_below(&p, 6);
		sticky = (int)prng_below(&p, 2);
		in_check = ops->check_trees && prng_below(&p, 2);
		r = fault_bdev_wrap(image, FB_READ, nth, sticky, &fb);
		if (r) {
			set_out(out, OUT_VIOLATION, "harness: %s", pd_strerror(r));
			return;
		}
		if (in_check)
			fault_bdev_arm(fb, FB_NONE, 0, 0);
		/* read-only: a read-write open that met no failing read would
		 * clear CLEAN_SHUTDOWN (CA2), and the open below would see
		 * another state; the reads of an open are the same */
		params.flags = CC_OPEN_READ_ONLY;
		r = ops->open(fb, &params, &cc);
		params.flags = 0;
		if (!r && fault_bdev_unrecovered(fb)) {
			set_out(out, OUT_VIOLATION, "open succeeded although a "
				"read failed (read %" PRIu64 ")",
				fault_bdev_count(fb, FB_READ));
			ops->destroy(cc);
			bdev_destroy(fb);
			return;
		}
		if (!r && in_check) {
			uint64_t n = 1 + prng_below(&p, 16);
			int fired;

			fault_bdev_arm(fb, FB_READ, n, sticky);
			r = ops->check_trees(cc);
			fired = fault_bdev_failed(fb) != 0;
			fault_bdev_arm(fb, FB_NONE, 0, 0);
			if (fired && ((r && r != -EIO) ||
				      (!r && fault_bdev_unrecovered(fb)))) {
				set_out(out, OUT_VIOLATION, "the check of the "
					"arrays answered %s after a failed read "
					"(read %" PRIu64 "%s of it): only %s is "
					"right", r ? pd_strerror(r) : "success",
					n, sticky ? ", sticky," : "", r ?
					"-EIO" : "-EIO, or success once the "
					"block is read again,");
				ops->destroy(cc);
				bdev_destroy(fb);
				return;
			}
			r = 0;
		}
		if (!r)
			ops->destroy(cc);
		cc = NULL;
		bdev_destroy(fb);
		fb = NULL;
	}
	r = ops->open(image, &params, &cc);
	if (r == -ENODATA && e.lo < 0) {
		out->state = -1;
		set_out(out, OUT_ROLLBACK, "unformatted, as before the format committed");
		goto out;
	}
	if (r) {
		cc = NULL;
		if ((torn ? *torn : id->tear) && (r == -EILSEQ || r == -ENOTBLK))
			set_out(out, OUT_DETECTED, "open refused a torn image: %s",
				pd_strerror(r));
		else if (lost_read(lost_seen) && (r == -EILSEQ || r == -ENOTBLK))
			set_out(out, OUT_DETECTED, "open refused block %" PRIu64
				" (a sector lost on the media): %s",
				(uint64_t)lost_block, pd_strerror(r));
		else if (lost_read(lost_seen) && r == -ENODATA && lost_block == 0)
			/* the superblock's only non-zero sector was lost: an
			 * all-zero superblock reads as unformatted */
			set_out(out, OUT_DETECTED, "open refused the superblock (a "
				"sector lost on the media left it all zeroes): %s",
				pd_strerror(r));
		else
			set_out(out, OUT_VIOLATION, "open failed: %s", pd_strerror(r));
		goto out;
	}
	r = cache_structural(image, cc, msg, sizeof(msg));
	if (r == 1 && lost_read(lost_seen)) {
		char needle[64];

		/* check_cache_metadata names the block it refused */
		snprintf(needle, sizeof(needle), " block %" PRIu64 ": bad checksum",
			 (uint64_t)lost_block);
		if (strstr(msg, needle)) {
			set_out(out, OUT_DETECTED, "a sector lost on the media "
				"(block %" PRIu64 "): structural check: %s",
				(uint64_t)lost_block, msg);
			goto out;
		}
	}
	if (r) {
		set_out(out, OUT_VIOLATION, "structural check: %s",
			r < 0 ? pd_strerror(r) : msg);
		goto out;
	}
	r = cache_client_digest(cc, &d);
	if (lost_read(lost_seen) && (r == -EILSEQ || r == -ENOTBLK)) {
		set_out(out, OUT_DETECTED, "reading the recovered metadata met "
			"block %" PRIu64 " (a sector lost on the media): %s",
			(uint64_t)lost_block, pd_strerror(r));
		goto out;
	}
	if (r) {
		set_out(out, OUT_VIOLATION, "reading the recovered metadata: %s%s%s",
			pd_strerror(r), cc->msg[0] ? ": " : "", cc->msg);
		goto out;
	}
	for (int64_t k = e.lo < 0 ? 0 : e.lo; k <= e.hi; k++) {
		if ((uint64_t)k < res->nr_states && digest_eq(d, res->digests[k])) {
			out->state = k;
			break;
		}
	}
	if (out->state < 0) {
		set_out(out, OUT_VIOLATION, "recovered state is none of the "
			"committed states %" PRId64 "..%" PRId64 " (as a reopen "
			"reports them: %s)", e.lo < 0 ? 0 : e.lo, e.hi,
			ops->clean_when_opened(cc) ? "after a clean shutdown" :
			"every mapped block dirty, no discards, no hints");
		goto out;
	}
	if (out->state > e.committed)
		set_out(out, OUT_ROLLFORWARD, "state %" PRId64, out->state);
	else
		set_out(out, OUT_ROLLBACK, "state %" PRId64, out->state);
	if (!opts || !opts->no_continue)
		cache_continue_check(&cc, image, &params, out);
out:
	if (cc)
		ops->destroy(cc);
	if (fb)
		bdev_destroy(fb);
}

/* --- replay ---------------------------------------------------------------------- */

/* The reopen view of committed state k, from one more run keeping it. */
static struct cache_oracle *model_of(const struct run_config *cfg0, int64_t k)
{
	struct run_config cfg = *cfg0;
	struct run_result res2;
	struct cache_oracle *o;

	cfg.keep_state = k;
	cfg.quiet = 1;
	if (workload_run(&cfg, &res2))
		return NULL;
	o = res2.cache_kept;
	res2.cache_kept = NULL;
	run_result_free(&res2);
	return o;
}

void cache_replay_show(const struct run_config *cfg, const struct run_result *res,
		       struct bdev *image, int64_t lo, int64_t hi)
{
	struct cache_client_params params = {
		.data_block_size = res->geo.block_size,
		.version = res->geo.cache.version,
		.cache_blocks = res->geo.cache_blocks,
		.flags = CC_OPEN_READ_ONLY,
	};
	struct cache_oracle *found = NULL;
	const struct cache_client_ops *ops;
	struct cache_client *cc;
	char diff[8192];
	int64_t best = -1;
	size_t best_nd = SIZE_MAX;
	int r;

	r = cache_client_backend(res->client ? res->client->name : "core", &ops);
	if (!r)
		r = ops->open(image, &params, &cc);
	if (r) {
		printf("found: the metadata does not open: %s\n", pd_strerror(r));
		return;
	}
	r = cache_oracle_from_client(cc, &found);
	if (r) {
		printf("found: the metadata cannot be read: %s\n", pd_strerror(r));
		goto out;
	}
	printf("found: %u cache blocks, %u discard blocks, opened %s\n",
	       found->nr_cblocks, found->nr_dblocks,
	       ops->clean_when_opened(cc) ? "after a clean shutdown" :
	       "without a clean shutdown (every mapped block dirty)");
	for (int64_t s = lo; s <= hi; s++) {
		struct cache_oracle *o = model_of(cfg, s);
		size_t nd;

		if (!o) {
			printf("  state %" PRId64 ": not reached by the run\n", s);
			continue;
		}
		nd = cache_oracle_diff(o, found, diff, sizeof(diff), 0);
		printf("  state %" PRId64 ": %zu difference%s\n", s, nd,
		       nd == 1 ? "" : "s");
		if (nd < best_nd) {
			best_nd = nd;
			best = s;
		}
		cache_oracle_destroy(o);
	}
	if (best >= 0) {
		struct cache_oracle *o = model_of(cfg, best);

		if (o) {
			size_t nd = cache_oracle_diff(o, found, diff, sizeof(diff), 40);

			printf("found against the closest allowed state, %" PRId64
			       ": %zu difference%s\n%s", best, nd,
			       nd == 1 ? "" : "s", diff);
			cache_oracle_destroy(o);
		}
	}
out:
	cache_oracle_destroy(found);
	ops->destroy(cc);
}
