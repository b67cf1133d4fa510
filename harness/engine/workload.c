/* harness/engine/workload.c - run a scenario on simdisk with the oracle beside it
 * (see workload.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "cache_oracle.h"
#include "cache_scenario.h"
#include "check.h"
#include "client_digest.h"
#include "bt.h"
#include "sm_common.h"
#include "errors.h"
#include "mutant.h"
#include "prng.h"
#include "thin_xml.h"
#include "workload.h"

struct run {
	const struct run_config *cfg;
	struct run_result *res;
	struct bdev *bd;
	struct client *cl;		/* the backend's pool; NULL once a
					 * close's reopen failed */
	struct client_params params;	/* how it was formatted (reopen) */
	const struct client_ops *ops;
	struct oracle *model;		/* current transaction */
	struct oracle *committed;	/* last committed state */
	size_t cap_ops, cap_states;
	uint64_t next_dev;		/* for generated creates/snaps */
	int done;			/* stop: pool dead or live failure */
	int setup_err;			/* a marker could not be logged:
					 * the run is void (-errno) */
	int64_t clean_op;		/* the last op after which the pool
					 * had nothing to commit (a commit, an
					 * abort, a recovery); -1 the format */
	int ooms;			/* out of metadata space (dm-thin's
					 * PM_OUT_OF_METADATA_SPACE): nothing
					 * but resize-meta runs */
	uint64_t meta_free;		/* free metadata blocks beyond the
					 * reserve when the op began */
	struct oracle *snap_model;	/* the model at the last metadata
					 * snapshot reservation (meta-snap-check) */
	int skip_noted;			/* a skipped op was reported */
	struct alloc_watch aw;		/* the allocation hits of the run
					 * (aw.paused: the harness's own
					 * calls into the core) */
	int recovered;			/* the workload recovered from an
					 * error (recover_inner): the pool may
					 * be in an earlier state than the
					 * scenario's lines assume */
	const char *dump;		/* the restore op's XML while it is
					 * rebuilt (rebuild_commit) */
	size_t dump_len;
};

/*
 * Running out of space is a path, not a violation (DESIGN.md 10).  The
 * workload is dm-thin's caller here:
 *  - after each new mapping, if no metadata block is free beyond the
 *    commit reserve (client.h get_free_metadata_blocks), it commits ("let's
 *    commit before we use up the metadata reserve", dm-thin's
 *    alloc_data_block), and after every commit that leaves none free the
 *    pool is out of metadata space: every op but resize-meta is refused
 *    with -ENOSPC, without reaching the metadata, until a resize-meta
 *    leaves blocks free again (dm-thin's check_for_metadata_space and
 *    pool_preresume);
 *  - -ENOSPC from the metadata itself (the reserve did not cover an op)
 *    is accepted when fewer than ENOSPC_SLACK blocks were free beyond the
 *    reserve as the op began, and if the backend's own count finds no
 *    block its allocator could still have handed out (allocator_refused):
 *    the caller aborts (metadata_operation_failed, client.h CL4) and the
 *    pool is out of metadata space as above;
 *  - -ENOSPC from a data block allocation first commits, which may free
 *    the blocks unmapped in this transaction, and tries once more
 *    (alloc_data_block); a second -ENOSPC is accepted only if the data
 *    device is full by the model's count (oracle_data_in_use) or a
 *    metadata snapshot holds blocks the model does not count.  The map
 *    fails; a resize-data gives it room again.
 */
#define ENOSPC_SLACK 64

static void keep_model(struct run *w, uint64_t k);
static int index_marks(struct run_result *res);

__attribute__((format(printf, 2, 3)))
static void live_fail(struct run *w, const char *fmt, ...)
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

/* Log a marker; without one the log cannot be read, so the run stops. */
static void mark(struct run *w, enum marker m, uint64_t value)
{
	int r = simdisk_mark(w->res->sd, m, value);

	if (r && !w->setup_err) {
		w->setup_err = r;
		w->done = 1;
	}
}

static int push_state(struct run *w, struct digest d)
{
	struct run_result *res = w->res;

	if (res->nr_states == w->cap_states) {
		size_t cap = w->cap_states ? w->cap_states * 2 : 64;
		struct digest *n = realloc(res->digests, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		res->digests = n;
		if (res->dd) {
			uint64_t *l = realloc(res->data_leaks, cap * sizeof(*l));

			if (!l)
				return -ENOMEM;
			res->data_leaks = l;
		}
		w->cap_states = cap;
	}
	if (res->dd)
		res->data_leaks[res->nr_states] = oracle_leaked_data(w->model);
	res->digests[res->nr_states++] = d;
	return 0;
}

/* A data write of op ro failed with an injected error (datadev.h DD3):
 * the bio fails, nothing is mapped, and a block allocated for it (fresh)
 * stays allocated in the transaction, unmapped.  The pool goes on. */
static void data_write_failed(struct run *w, struct run_op *ro, int r,
			      int fresh)
{
	struct run_result *res = w->res;

	if (r != -EIO || !fault_is_data(w->cfg->fault.kind)) {
		live_fail(w, "op %zu: the data device: %s",
			  (size_t)(ro - res->ops), pd_strerror(r));
		return;
	}
	ro->result = r;
	if (fresh)
		oracle_leak_data(w->model);
	if (!res->injected++) {
		res->first_error_seq = ro->seq;
		res->recovered_seq = simdisk_nr_ops(res->sd);
	}
}

static struct run_op *push_op(struct run *w, const struct op *op)
{
	struct run_result *res = w->res;

	if (res->nr_ops == w->cap_ops) {
		size_t cap = w->cap_ops ? w->cap_ops * 2 : 256;
		struct run_op *n = realloc(res->ops, cap * sizeof(*n));
		if (!n)
			return NULL;
		res->ops = n;
		w->cap_ops = cap;
	}
	struct run_op *ro = &res->ops[res->nr_ops++];
	memset(ro, 0, sizeof(*ro));
	ro->op = *op;
	ro->seq = simdisk_nr_ops(res->sd);
	ro->alloc_before[0] = res->alloc_hits[0];
	ro->alloc_before[1] = res->alloc_hits[1];
	mark(w, MK_OP, res->nr_ops - 1);
	return ro;
}

#if defined(FIU_ENABLE) && FIU_ENABLE
#include <fiu-control.h>

static uint64_t fiu_countdown;
static int fiu_fired;

/* A countdown of hits: 1 (and *fired set) at the one that reaches 0. */
static int countdown_hit(uint64_t *left, int *fired)
{
	if (!*left || --*left)
		return 0;
	*fired = 1;
	return 1;
}

static int fiu_nth_hit(const char *name, int *failnum, void **failinfo,
		       unsigned int *flags)
{
	(void)name, (void)failnum, (void)failinfo, (void)flags;
	return countdown_hit(&fiu_countdown, &fiu_fired);
}

static int fiu_arm(const struct run_config *cfg)
{
	fiu_fired = 0;
	if (!cfg->fiu_name)
		return 0;
	fiu_init(0);
	fiu_countdown = cfg->fiu_nth ? cfg->fiu_nth : 1;
	return fiu_enable_external(cfg->fiu_name, 1, NULL, 0, fiu_nth_hit) ?
	       -EINVAL : 0;
}

static void fiu_disarm(const struct run_config *cfg)
{
	if (cfg->fiu_name)
		fiu_disable(cfg->fiu_name);
	fiu_countdown = 0;
}

/*
 * Allocation failures (FAULT_NOMEM, FAULT_NOSPACE) through libfiu's
 * external callback on core/alloc, sm/copy_root and sm/new_block: no hook
 * in core/ beyond its named points.  FAULT_NOMEM counts the hits of the
 * first two together: a space map's root copy answers -ENOMEM as an
 * allocation does (core/fault.h), and the commit paths that copy the roots
 * must unwind it like one.  A callback has no context, so the run being
 * counted is a static (one workload runs at a time in a process).  Every
 * hit is counted, the sweep's hook sees it, and the planned one fails.
 */
static struct alloc_watch *alloc_run;

#define NR_ALLOC_POINTS 3
static const char *const alloc_points[NR_ALLOC_POINTS] = {
	FP_CORE_ALLOC, FP_SM_COPY_ROOT, FP_SM_NEW_BLOCK
};

static int alloc_hit(const char *name, int *failnum, void **failinfo,
		     unsigned int *flags)
{
	struct alloc_watch *aw = alloc_run;
	int k = strcmp(name, FP_SM_NEW_BLOCK) == 0;
	enum fault_kind fk = k ? FAULT_NOSPACE : FAULT_NOMEM;
	struct run_result *res;
	uint64_t n;

	(void)failnum;
	(void)failinfo;
	(void)flags;
	if (!aw || aw->paused)
		return 0;
	res = aw->res;
	n = ++res->alloc_hits[k];
	if (aw->cfg->alloc_hook)
		aw->cfg->alloc_hook(aw->cfg->alloc_hook_ctx, fk, n);
	/* (a sweep's kid has just planned its fault in cfg) */
	if (aw->cfg->fault.kind != fk || aw->cfg->fault.nth != n ||
	    res->alloc_fired)
		return 0;
	res->alloc_fired = 1;
	res->alloc_seq = simdisk_nr_ops(res->sd);
	res->alloc_op = res->nr_ops ? res->nr_ops - 1 : SIZE_MAX;
	return 1;
}

static int alloc_arm(struct alloc_watch *aw)
{
	const struct run_config *cfg = aw->cfg;

	if (!cfg->alloc_hook && !fault_is_alloc(cfg->fault.kind))
		return 0;
	for (int k = 0; k < NR_ALLOC_POINTS; k++)
		if (cfg->fiu_name && !strcmp(cfg->fiu_name, alloc_points[k]))
			return -EBUSY;	/* --fiu already fails that point */
	fiu_init(0);
	alloc_run = aw;
	for (int k = 0; k < NR_ALLOC_POINTS; k++)
		if (fiu_enable_external(alloc_points[k], 1, NULL, 0, alloc_hit))
			return -EINVAL;
	return 0;
}

static void alloc_disarm(struct alloc_watch *aw)
{
	if (alloc_run != aw)
		return;
	for (int k = 0; k < NR_ALLOC_POINTS; k++)
		fiu_disable(alloc_points[k]);
	alloc_run = NULL;
}

/* Recovery's allocation fault: a countdown of its own, since recovery runs
 * in a worker with no workload armed. */
static uint64_t recovery_countdown;
static int recovery_armed, recovery_fired;

static int recovery_alloc_hit(const char *name, int *failnum, void **failinfo,
			      unsigned int *flags)
{
	(void)name, (void)failnum, (void)failinfo, (void)flags;
	return countdown_hit(&recovery_countdown, &recovery_fired);
}

int workload_recovery_alloc_arm(uint64_t nth)
{
	if (alloc_run || recovery_armed)
		return -EBUSY;
	fiu_init(0);
	recovery_countdown = nth ? nth : 1;
	recovery_fired = 0;
	if (fiu_enable_external(FP_CORE_ALLOC, 1, NULL, 0, recovery_alloc_hit))
		return -EINVAL;
	recovery_armed = 1;
	return 0;
}

int workload_recovery_alloc_disarm(void)
{
	if (!recovery_armed)
		return 0;
	fiu_disable(FP_CORE_ALLOC);
	recovery_armed = 0;
	recovery_countdown = 0;
	return recovery_fired;
}
#else
static const int fiu_fired = 0;

static int fiu_arm(const struct run_config *cfg)
{
	return cfg->fiu_name ? -EOPNOTSUPP : 0;
}

static void fiu_disarm(const struct run_config *cfg)
{
	(void)cfg;
}

static int alloc_arm(struct alloc_watch *aw)
{
	return aw->cfg->alloc_hook || fault_is_alloc(aw->cfg->fault.kind) ?
	       -EOPNOTSUPP : 0;
}

static void alloc_disarm(struct alloc_watch *aw)
{
	(void)aw;
}

int workload_recovery_alloc_arm(uint64_t nth)
{
	(void)nth;
	return -EOPNOTSUPP;
}

int workload_recovery_alloc_disarm(void)
{
	return 0;
}
#endif

/* Plan cfg's IO error or media fault on sd (nothing for the others). */
static int plan_fault(const struct run_config *cfg, struct simdisk *sd)
{
	static const enum sd_op_kind kinds[] = {
		[FAULT_READ] = SD_READ,
		[FAULT_WRITE] = SD_WRITE,
		[FAULT_FLUSH] = SD_FLUSH,
	};

	if (fault_is_media(cfg->fault.kind))
		return simdisk_media_fault(sd, cfg->fault.kind == FAULT_BITROT ?
					   SD_MEDIA_BITROT : SD_MEDIA_LOST_SECTOR,
					   cfg->fault.nth, cfg->seed);
	if (fault_can_stick(cfg->fault.kind) && !fault_is_data(cfg->fault.kind))
		return simdisk_fail_nth(sd, kinds[cfg->fault.kind],
					cfg->fault.nth, cfg->fault.sticky);
	return 0;	/* none, an allocation failure, or a data-disk fault
			 * (armed on the data disk when it is made) */
}

int workload_faults_arm(struct alloc_watch *aw, struct simdisk *sd)
{
	int r = plan_fault(aw->cfg, sd);

	if (!r)
		r = fiu_arm(aw->cfg);
	return r ? r : alloc_arm(aw);
}

void workload_faults_disarm(struct alloc_watch *aw)
{
	fiu_disarm(aw->cfg);
	alloc_disarm(aw);
}

int workload_fiu_explains(const struct run_config *cfg, int r)
{
	static const struct { const char *name; int err; } own[] = {
		{ FP_CORE_ALLOC, -ENOMEM },
		{ FP_SM_NEW_BLOCK, -ENOSPC },
		{ FP_SM_COPY_ROOT, -ENOMEM },
	};

	if (!cfg->fiu_name || !fiu_fired || !r)
		return 0;
	if (r == -EIO)
		return 1;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!strcmp(cfg->fiu_name, own[i].name))
			return r == own[i].err;
	return 0;
}

int workload_fiu_check(const char *name)
{
	static const char *const points[] = PD_FAULT_POINTS;

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		if (!strcmp(points[i], name)) {
#if defined(FIU_ENABLE) && FIU_ENABLE
			return 0;
#else
			return -EOPNOTSUPP;
#endif
		}
	}
	return -EINVAL;
}

/* r is the planned allocation failure's doing: it fired in the op now
 * running and r is its error, or the pool it poisoned refuses (any
 * error: -EIO from then on). */
static int alloc_explains(struct run *w, int r)
{
	const struct run_result *res = w->res;

	if (!res->alloc_fired)
		return 0;
	if (!w->cl || w->ops->is_failed(w->cl))
		return 1;
	return r == workload_alloc_errno(w->cfg->fault.kind) && res->nr_ops &&
	       res->alloc_op == res->nr_ops - 1;
}

/* An error the fault plan, the libfiu point, or a pool they poisoned
 * explains. */
static int injected(struct run *w, int r)
{
	if ((w->cfg->fault.kind == FAULT_NONE && !w->cfg->fiu_name) || !r)
		return 0;
	if (fault_is_alloc(w->cfg->fault.kind))
		return alloc_explains(w, r);
	if (fault_is_media(w->cfg->fault.kind) &&
	    (r == -EILSEQ || r == -ENOTBLK) &&
	    simdisk_media_hit(w->res->sd)->fired)
		return 1;	/* a validator refused the damaged block (a
				 * flip in its location field: -ENOTBLK) */
	return r == -EIO || !w->cl || w->ops->is_failed(w->cl);
}

/* No fault of this run can have damaged a block: with none, or only
 * allocation failures, nothing is lost, torn or flipped on the disk. */
static int no_damage(const struct run *w)
{
	return (w->cfg->fault.kind == FAULT_NONE ||
		fault_is_alloc(w->cfg->fault.kind)) && !w->cfg->fiu_name;
}

/*
 * A failed pool fails safe (core/thin.h TH4): from the error that failed
 * it until the abort, every read and every write call answers -EIO and
 * touches nothing on the device.  Probed once per recovery, right before
 * the caller's abort, on a backend that promises it (client.h K13): every
 * call of the client interface, the restore builder's and the metadata
 * reserve where the backend has them; the needs_check flag is the one
 * value still read (it lives in core), and the data block size is fixed
 * at open (thin_get_data_block_size answers it from memory).
 */
static void probe_failed_pool(struct run *w)
{
	struct client *c = w->cl;
	const struct client_ops *o = w->ops;
	uint64_t dev = oracle_nr_devs(w->model) ? oracle_dev_at(w->model, 0) : 0;
	uint64_t id = oracle_trans_id(w->model), u64, nr = 0, *devs = NULL;
	uint64_t log = simdisk_nr_ops(w->res->sd);
	struct thin_lookup_result lr;
	struct thin_mapped_range mr;
	struct thin_dev_info di;
	pd_block_t b;
	uint32_t t;
	size_t n;
	int shared;
	struct {
		const char *call;
		int r;
	} got[40];
	size_t k = 0;

	if (!o->failed_refuses || !o->is_failed(c))
		return;
	w->aw.paused++;		/* the harness's probe, not the pool's calls */
#define PROBE(name, res) (got[k].call = (name), got[k++].r = (res))
	PROBE("get_trans_id", o->get_trans_id(c, &u64));
	PROBE("get_time", o->get_time(c, &t));
	PROBE("get_nr_metadata_blocks", o->get_nr_metadata_blocks(c, &b));
	PROBE("get_free_metadata_blocks", o->get_free_metadata_blocks(c, &b));
	PROBE("get_nr_data_blocks", o->get_nr_data_blocks(c, &b));
	PROBE("get_free_data_blocks", o->get_free_data_blocks(c, &b));
	PROBE("get_meta_snap", o->get_meta_snap(c, &b));
	PROBE("dev_info", o->dev_info(c, dev, &di));
	PROBE("lookup", o->lookup(c, dev, 0, &lr));
	PROBE("highest_mapped", o->highest_mapped(c, dev, &u64));
	PROBE("mapped_count", o->mapped_count(c, dev, &u64));
	PROBE("find_mapped_range", o->find_mapped_range(c, dev, 0, 1, &mr));
	PROBE("list_devs", o->list_devs(c, &devs, &n));
	free(devs);
	if (o->check_trees)
		PROBE("check_trees", o->check_trees(c));
	if (o->check_counts)
		PROBE("check_counts", o->check_counts(c));
	if (o->get_metadata_reserve)
		PROBE("get_metadata_reserve", o->get_metadata_reserve(c, &b));
	PROBE("create_thin", o->create_thin(c, w->next_dev));
	PROBE("create_snap", o->create_snap(c, w->next_dev, dev));
	PROBE("delete_dev", o->delete_dev(c, dev));
	PROBE("insert", o->insert(c, dev, 0, 0));
	PROBE("remove", o->remove(c, dev, 0));
	PROBE("remove_range", o->remove_range(c, dev, 0, 1, &nr));
	PROBE("alloc_data_block", o->alloc_data_block(c, &b));
	PROBE("inc_data_range", o->inc_data_range(c, 0, 1));
	PROBE("dec_data_range", o->dec_data_range(c, 0, 1));
	PROBE("data_block_is_shared", o->data_block_is_shared(c, 0, &shared));
	PROBE("set_trans_id", o->set_trans_id(c, id, id + 1));
	PROBE("resize_data", o->resize_data(c, oracle_nr_data_blocks(w->model)));
	PROBE("resize_metadata", o->resize_metadata(c,
					oracle_nr_meta_blocks(w->model)));
	PROBE("reserve_meta_snap", o->reserve_meta_snap(c));
	PROBE("release_meta_snap", o->release_meta_snap(c));
	PROBE("set_needs_check", o->set_needs_check(c));
	if (o->set_time)	/* the restore builder's calls (K17) */
		PROBE("set_time", o->set_time(c, 0));
	if (o->set_dev_info) {
		struct thin_dev_info ni = { .dev = dev };

		PROBE("set_dev_info", o->set_dev_info(c, &ni));
	}
	if (o->insert_raw)
		PROBE("insert_raw", o->insert_raw(c, dev, 0, 0, 0));
	PROBE("commit", o->commit(c));
#undef PROBE
	w->aw.paused--;
	for (size_t i = 0; i < k; i++)
		if (got[i].r != -EIO) {
			live_fail(w, "a failed pool answered %s with %d (%s), not "
				  "-EIO (core/thin.h TH4: it refuses every call "
				  "until the abort)", got[i].call, got[i].r,
				  pd_strerror(got[i].r));
			return;
		}
	if (simdisk_nr_ops(w->res->sd) != log)
		live_fail(w, "a failed pool wrote to the device when probed (log "
			  "entries %llu..%llu; core/thin.h TH4)",
			  (unsigned long long)log,
			  (unsigned long long)simdisk_nr_ops(w->res->sd) - 1);
}

/* The device still holds what the pool last wrote and reads it back: no
 * fault of this run loses, tears or flips a metadata write (a read error
 * fails a read and changes nothing). */
static int device_kept_writes(const struct run *w)
{
	enum fault_kind k = w->cfg->fault.kind;
	const char *f = w->cfg->fiu_name;

	if (f && strcmp(f, FP_BDEV_READ) && strcmp(f, FP_SIMDISK_READ))
		return 0;
	return k == FAULT_NONE || k == FAULT_READ || fault_is_alloc(k) ||
	       fault_is_data(k);
}

/* A device a failed op of this kind may leave changed part way in the
 * kernel's own code (client.h K16), or that the model changed for it. */
static int op_names_dev(const struct op *op, uint64_t dev)
{
	switch (op->kind) {
	case OP_MAP:
	case OP_WRITE:
		return 0;	/* an insert keeps the root it failed on */
	default:
		return dev == op->a;
	}
}

/* One read of the probe: 0 if it agrees with the model (got, or error
 * want) or a read fault explains its error, else a live failure naming it. */
static int probe_answer(struct run *w, const struct run_op *ro, uint64_t dev,
			const char *what, int r, int want, uint64_t got,
			uint64_t expect)
{
	char buf[128], was[64], now[64];

	if (r == want && (r || got == expect))
		return 0;
	if (r == -EIO && w->cfg->fault.kind == FAULT_READ)
		return 0;	/* a sticky read error: the read says so */
	op_format(&ro->op, buf, sizeof(buf));
	if (r)
		snprintf(now, sizeof(now), "%s", pd_strerror(r));
	else
		snprintf(now, sizeof(now), "%llu", (unsigned long long)got);
	if (want)
		snprintf(was, sizeof(was), "%s", pd_strerror(want));
	else
		snprintf(was, sizeof(was), "%llu", (unsigned long long)expect);
	live_fail(w, "op %zu '%s' failed, and before the abort dev %llu %s "
		  "answers %s, %s before the op (client.h K16: until the abort "
		  "the reads show the state before the failed op)",
		  (size_t)(ro - w->res->ops), buf, (unsigned long long)dev, what,
		  now, was);
	return 1;
}

static int probe_vblock(struct run *w, const struct run_op *ro, uint64_t dev,
			uint64_t vblock)
{
	struct thin_lookup_result lr;
	uint64_t block = 0;
	uint32_t t;
	char what[64];
	int want = oracle_lookup(w->model, dev, vblock, &block, &t);
	int r = w->ops->lookup(w->cl, dev, vblock, &lr);

	snprintf(what, sizeof(what), "vblock %llu", (unsigned long long)vblock);
	return probe_answer(w, ro, dev, what, r, want, r ? 0 : lr.data_block,
			    block);
}

/*
 * A failed op, on a backend whose pool still answers reads until the
 * caller's abort (client.h K16; the kernel, where dm-thin maps other bios
 * through dm_thin_find_block in that window): every device the op does
 * not name reads as before the op, by its mapped count and its lowest
 * and highest mapping, and a map's own device by its vblock too.  The
 * model is that state: the workload applies an op to it only once it
 * succeeded, or (an -ENOSPC no fault injected) one that changes only the
 * devices the op names.  Shared flags are not compared: a failed snap's
 * model has its origin snapshotted.  Only where the device kept every
 * write: a lost write-back leaves stale nodes that no op reported.
 */
static void probe_reads_before_abort(struct run *w)
{
	const struct run_result *res = w->res;
	const struct run_op *ro = res->nr_ops ? &res->ops[res->nr_ops - 1] : NULL;
	enum op_kind k = ro ? ro->op.kind : OP_NR_KINDS;

	if (w->done || !w->ops->failed_reads_hold || !w->cl ||
	    !device_kept_writes(w) ||
	    (k != OP_CREATE && k != OP_SNAP && k != OP_DELETE && k != OP_MAP &&
	     k != OP_WRITE && k != OP_UNMAP && k != OP_UNMAP_RANGE &&
	     k != OP_PASSDOWN))
		return;
	w->aw.paused++;		/* the harness's probe, not the pool's calls */
	for (size_t i = 0; i < oracle_nr_devs(w->model) && !w->done; i++) {
		uint64_t dev = oracle_dev_at(w->model, i), lo, hi, n = 0;
		int r;

		if (op_names_dev(&ro->op, dev))
			continue;
		r = w->ops->mapped_count(w->cl, dev, &n);
		if (probe_answer(w, ro, dev, "mapped count", r, 0, n,
				 oracle_dev_mapped(w->model, dev)) || r)
			continue;
		if (!oracle_dev_range(w->model, dev, &lo, &hi) &&
		    !probe_vblock(w, ro, dev, lo))
			probe_vblock(w, ro, dev, hi);
		if (!w->done && (k == OP_MAP || k == OP_WRITE) && ro->op.a == dev)
			probe_vblock(w, ro, dev, ro->op.b);
	}
	w->aw.paused--;
}

/*
 * A pool the abort could not bring back stays failed (the run stopped
 * there); dm-thin tears such a pool down with a close of its metadata
 * (pool destroy: dm_pool_metadata_close, which commits nothing once the
 * metadata failed).  On a backend whose failed pool refuses every call
 * (K13) the close must return 0 and write nothing (core/thin.h TH4:
 * thin_pool_close commits only a healthy read-write pool).
 */
static void close_failed_pool(struct run *w)
{
	uint64_t log = simdisk_nr_ops(w->res->sd);
	int r;

	if (!w->cl || !w->ops->failed_refuses || !w->ops->is_failed(w->cl))
		return;
	r = w->ops->close(w->cl);
	w->cl = NULL;
	if (r || simdisk_nr_ops(w->res->sd) != log)
		live_fail(w, "the close of a failed pool returned %d (%s); the "
			  "log had %llu entries before it, %llu after (a failed "
			  "pool's close commits nothing, core/thin.h TH4)", r,
			  pd_strerror(r), (unsigned long long)log,
			  (unsigned long long)simdisk_nr_ops(w->res->sd));
}

/* After an injected error: abort, and follow the pool to whatever state
 * it reopened in.  cand is the index of the state a failed commit was
 * making (its digest already pushed), or -1 outside a commit. */
static void recover_inner(struct run *w, int64_t cand)
{
	struct run_result *res = w->res;
	uint64_t last = cand >= 0 ? (uint64_t)cand - 1 : res->nr_states - 1;
	struct digest d;
	int r, read_only, is_last, is_cand, fired;

	/* The caller's policy after a failed metadata operation (client.h
	 * CL4): the core aborts, sets needs_check and goes on; the kernel's
	 * caller (dm-thin) aborts, sets needs_check, goes read-only and is
	 * reloaded, and stays read-only: nothing more runs after the check
	 * of the state it shows. */
	w->recovered = 1;
	if (!w->cl) {
		/* a close whose reopen failed: no pool to go on with */
		res->stopped = 1;
		w->done = 1;
		return;
	}
	probe_failed_pool(w);
	probe_reads_before_abort(w);
	if (w->done)
		return;
	fired = res->alloc_fired;
	r = w->ops->after_error(w->cl);
	if (r == -EPROTO) {	/* the caller saw the abort break its contract */
		live_fail(w, "the abort after an error: %s", w->cl->msg);
		return;
	}
	/* A validator's refusal where nothing on the disk was damaged: a
	 * block the failed op left dirty fails its own validator (core/bm.h
	 * BM9), or the reopen read a block that was never valid.  In an
	 * allocation-failure run, any failure of an abort the fault did not
	 * fire in: one allocation fails per run, so the abort then allocates
	 * and reads freely, and -EBUSY (a lock the failed op kept) or the
	 * like is the op's bug, not the fault's. */
	if ((r == -EILSEQ || r == -ENOTBLK) && no_damage(w))
		live_fail(w, "the abort after an error failed with %s, and no "
			  "device or media fault touched the disk: a block the "
			  "failed op left dirty fails its own validator (core/"
			  "bm.h BM9), or a block read back was never valid",
			  pd_strerror(r));
	else if (r < 0 && fault_is_alloc(w->cfg->fault.kind) && no_damage(w) &&
		 res->alloc_fired == fired)
		live_fail(w, "the abort after an allocation failure failed with "
			  "%s, and nothing else failed: the failed op left the "
			  "pool unable to reopen (core/thin.h TH4)",
			  pd_strerror(r));
	read_only = r == 1;
	if (read_only)
		r = 0;
	if (!r) {
		w->aw.paused++;	/* the harness reading the pool */
		r = client_digest(w->cl, &d);
		w->aw.paused--;
	}
	if (r) {
		/* The pool is dead: nothing more runs.  A commit's candidate
		 * stays, its superblock may have landed. */
		res->stopped = 1;
		w->done = 1;
		return;
	}
	if (read_only) {
		res->read_only = 1;
		w->done = 1;
	}
	w->clean_op = res->nr_ops ? (int64_t)res->nr_ops - 1 : -1;
	is_last = digest_eq(d, res->digests[last]);
	is_cand = cand >= 0 && digest_eq(d, res->digests[cand]);
	if (is_last && is_cand) {
		/* A commit of a metadata resize alone: the digest (which has
		 * no metadata size) cannot tell, the pool's size can. */
		pd_block_t nr;

		is_last = w->ops->get_nr_metadata_blocks(w->cl, &nr) ||
			  nr != oracle_nr_meta_blocks(w->model);
	}
	if (is_last) {
		if (cand >= 0)
			res->nr_states--;	/* it did not happen */
		if (oracle_assign(w->model, w->committed))
			live_fail(w, "out of memory");
		return;
	}
	if (is_cand) {
		if (oracle_assign(w->committed, w->model)) {
			live_fail(w, "out of memory");
			return;
		}
		/* The core's thin_abort() wrote the superblock it reopened
		 * from back and flushed it (TH4): state cand is durable from
		 * here on.  The kernel's abort does not (client.h K3): the
		 * superblock may live only in the device's cache, so state
		 * cand - 1 stays possible. */
		mark(w, MK_COMMIT_END, (uint64_t)cand |
		     (w->ops->abort_makes_durable ? 0 : MK_UNCERTAIN));
		keep_model(w, (uint64_t)cand);
		return;
	}
	live_fail(w, "after abort the pool shows neither committed state %llu "
		  "nor the one being committed", (unsigned long long)last);
}

static uint64_t meta_free(struct run *w)
{
	pd_block_t n;

	if (!w->ops->get_free_metadata_blocks ||
	    w->ops->get_free_metadata_blocks(w->cl, &n))
		return UINT64_MAX;
	return n;
}

/* -ENOSPC from the metadata is an answer when it was nearly full. */
static int meta_enospc(struct run *w, int r)
{
	return r == -ENOSPC && w->meta_free < ENOSPC_SLACK;
}

/*
 * An -ENOSPC from the metadata that meta_enospc accepted for op ro: the
 * allocator may refuse only when it has no block left to hand out,
 * wherever its cursor stood (core/sm_metadata.c SM1, MS2), so the
 * backend's own count of those, read one bitmap entry at a time, must
 * be 0.  Not for resize-meta (extend hands out only blocks of the new
 * space, MS4), nor for an -ENOSPC a libfiu point or an allocation fault
 * may have made, nor where the backend cannot count (the kernel's) or
 * the count fails.  Returns 1 if it failed the run.
 */
static int allocator_refused(struct run *w, const struct run_op *ro)
{
	pd_block_t n;

	if (!ro || !w->cl || fiu_fired || w->res->alloc_fired ||
	    ro->op.kind == OP_RESIZE_META ||
	    !w->ops->get_allocatable_metadata_blocks ||
	    w->ops->get_allocatable_metadata_blocks(w->cl, &n) || !n)
		return 0;
	live_fail(w, "op %zu '%s': the metadata answered -ENOSPC, yet its "
		  "allocator could still hand out %llu block%s (free now and at "
		  "the last commit, none queued): its search missed %s",
		  (size_t)(ro - w->res->ops), op_kind_name(ro->op.kind),
		  (unsigned long long)n, n == 1 ? "" : "s",
		  n == 1 ? "it" : "them");
	return 1;
}

/* The metadata ran out during op ro (cand as for recover_inner): unless
 * the allocator refused wrongly, abort as dm-thin does, and wait for a
 * metadata resize. */
static void out_of_meta_space(struct run *w, const struct run_op *ro,
			      int64_t cand)
{
	if (allocator_refused(w, ro))
		return;
	recover_inner(w, cand);
	if (!w->done)
		w->ooms = 1;
}

static void recover(struct run *w, int64_t cand)
{
	struct run_result *res = w->res;
	int first = !res->injected++;

	if (first)
		res->first_error_seq = res->nr_ops ? res->ops[res->nr_ops - 1].seq : 1;
	recover_inner(w, cand);
	if (first)
		res->recovered_seq = simdisk_nr_ops(res->sd);
}

/* Op ro changed nothing (a read, or an error the oracle predicted): the
 * pool is as clean as before it, so a commit right after must write
 * nothing (TH1) and the committed-only queries (client.h K1) stay valid.
 * Not meta-snap's -EBUSY: the kernel commits before it refuses. */
static void keep_clean(struct run *w, const struct run_op *ro)
{
	int64_t i = (int64_t)(ro - w->res->ops);

	if (!w->done && w->clean_op == i - 1 && ro->op.kind != OP_META_SNAP)
		w->clean_op = i;
}

/* Compare the core's result with the oracle's; on an injected error go
 * to recovery instead.  Returns 1 if the op took effect in both. */
static int settle(struct run *w, struct run_op *ro, int core, int expect)
{
	ro->result = core;
	if (fault_is_alloc(w->cfg->fault.kind) && injected(w, core)) {
		recover(w, -1);	/* its -ENOSPC is not the metadata's */
		return 0;
	}
	if (expect != core && meta_enospc(w, core)) {
		out_of_meta_space(w, ro, -1);
		return 0;
	}
	if (injected(w, core)) {
		recover(w, -1);
		return 0;
	}
	if (core != expect) {
		char buf[128];

		op_format(&ro->op, buf, sizeof(buf));
		live_fail(w, "op %zu '%s': core returned %d (%s), the model %d (%s)",
			  (size_t)(ro - w->res->ops), buf, core, pd_strerror(core),
			  expect, pd_strerror(expect));
		return 0;
	}
	if (core)
		keep_clean(w, ro);
	return core == 0;
}

/*
 * A commit of an unchanged pool writes nothing (the Linux fix "dm thin
 * metadata: do not write metadata if no changes occurred"): nothing ran
 * since the last commit, abort or recovery, so no write and no flush may
 * sit between its begin marker (log index from) and now.
 */
static void check_commit_wrote_nothing(struct run *w, uint64_t from,
				       uint64_t k)
{
	const struct simdisk *sd = w->res->sd;

	for (uint64_t i = from; i < simdisk_nr_ops(sd); i++) {
		const struct sd_op *op = simdisk_op(sd, i);

		if (op->kind == SD_FLUSH) {
			live_fail(w, "commit %llu: nothing changed since the last "
				  "commit, yet log entry %llu is a flush (a commit "
				  "of an unchanged pool writes nothing)",
				  (unsigned long long)k, (unsigned long long)i);
			return;
		}
		if (op->kind == SD_WRITE || op->kind == SD_WRITE_FUA) {
			live_fail(w, "commit %llu: nothing changed since the last "
				  "commit, yet log entry %llu writes block %llu (a "
				  "commit of an unchanged pool writes nothing)",
				  (unsigned long long)k, (unsigned long long)i,
				  (unsigned long long)op->block);
			return;
		}
	}
}

/* The close op: a clean close (client.h CL3: it commits first), then an
 * open as the workload's own, as a reload does.  w->cl is NULL if the
 * open failed. */
static int close_reopen(struct run *w)
{
	int r = w->ops->close(w->cl), r2;

	w->cl = NULL;
	r2 = w->ops->open(w->bd, &w->params, &w->cl);
	if (r2) {
		w->cl = NULL;
		return r ? r : r2;
	}
	if (w->res->dd)
		w->ops->set_pre_commit(w->cl, datadev_pre_commit, w->res->dd);
	return r;
}

/* The restore op's rebuild from w->dump, then its commit. */
static int rebuild_commit(struct run *w)
{
	int r = w->ops->rebuild(w->cl, w->dump, w->dump_len);

	return r ? r : w->ops->commit(w->cl);
}

/* A commit, marked as one: fn is the backend's commit, an op that commits
 * first (reserve_meta_snap), or NULL: the op's own, which leaves the pool
 * clean and must show the committed state after it: a clean close and
 * reopen (close_reopen) or a restore's rebuild and commit
 * (rebuild_commit). */
static void do_commit_with(struct run *w, struct run_op *ro,
			   int (*fn)(struct client *))
{
	struct run_result *res = w->res;
	uint64_t k = res->nr_states, from;
	int plain = fn == w->ops->commit || !fn;
	int unchanged = plain && (ro->op.kind == OP_COMMIT ||
				  ro->op.kind == OP_CLOSE) &&
			(int64_t)(ro - res->ops) == w->clean_op + 1;
	int r;

	/* The candidate is pushed first: from the superblock write on, a
	 * crash may show it. */
	if (push_state(w, oracle_digest(w->model))) {
		live_fail(w, "out of memory");
		return;
	}
	from = simdisk_nr_ops(res->sd);
	mark(w, MK_COMMIT_BEGIN, k);
	r = fn ? fn(w->cl) : ro->op.kind == OP_RESTORE ? rebuild_commit(w) :
						       close_reopen(w);
	ro->result = r;
	if (fault_is_alloc(w->cfg->fault.kind) && injected(w, r)) {
		recover(w, (int64_t)k);
		return;
	}
	if (meta_enospc(w, r)) {
		out_of_meta_space(w, ro, (int64_t)k);
		return;
	}
	if (injected(w, r)) {
		recover(w, (int64_t)k);
		return;
	}
	if (r) {
		live_fail(w, "op %zu '%s': %d (%s)%s%s", (size_t)(ro - res->ops),
			  ro->op.kind == OP_RESTORE ? "restore" : "commit", r,
			  pd_strerror(r), w->cl && w->cl->msg[0] ? ": " : "",
			  w->cl ? w->cl->msg : "");
		return;
	}
	if (oracle_assign(w->committed, w->model)) {
		live_fail(w, "out of memory");
		return;
	}
	{
		char why[256];

		if (oracle_check_data_sharing(w->model, why, sizeof(why)) == -EEXIST) {
			live_fail(w, "commit %llu: %s", (unsigned long long)k, why);
			return;
		}
	}
	if (unchanged && w->ops->unchanged_commit_is_noop)
		check_commit_wrote_nothing(w, from, k);
	if (!fn) {		/* the pool shows what was committed */
		struct digest d;

		w->aw.paused++;
		r = client_digest(w->cl, &d);
		w->aw.paused--;
		if (injected(w, r)) {
			recover(w, -1);
			return;
		}
		if (r || !digest_eq(d, oracle_digest(w->committed))) {
			live_fail(w, "op %zu '%s': the %s pool shows %s",
				  (size_t)(ro - res->ops),
				  op_kind_name(ro->op.kind),
				  ro->op.kind == OP_CLOSE ? "reopened" : "restored",
				  r ? pd_strerror(r) :
				  "another state than the one committed");
			return;
		}
	}
	if (plain)
		w->clean_op = (int64_t)(ro - res->ops);
	mark(w, MK_COMMIT_END, k);
	keep_model(w, k);
	if (meta_free(w) == 0)
		w->ooms = 1;
	if (w->cfg->stop_after_recovery &&
	    (res->injected || simdisk_media_hit(res->sd)->fired ||
	     simdisk_plan_fired(res->sd, NULL) || res->alloc_fired))
		w->done = 1;
}

static void do_commit(struct run *w, struct run_op *ro)
{
	do_commit_with(w, ro, w->ops->commit);
}

static void exec_op(struct run *w, const struct op *op);

/* Keep a copy of committed state k if the caller asked for it. */
static void keep_model(struct run *w, uint64_t k)
{
	if (w->cfg->keep_state < 0 || (uint64_t)w->cfg->keep_state != k)
		return;
	oracle_destroy(w->res->kept);
	w->res->kept = NULL;
	if (oracle_clone(w->committed, &w->res->kept))
		live_fail(w, "out of memory");
}

static uint64_t pick_dev(struct run *w, struct prng *p)
{
	size_t n = oracle_nr_devs(w->model);

	return n ? oracle_dev_at(w->model, prng_below(p, n)) : 0;
}

/* One generated op, valid for the current model (mostly: a few unmaps
 * miss on purpose, to check -ENODATA). */
static void gen_op(struct run *w, struct prng *p, const struct op *spec,
		   struct op *out)
{
	unsigned total = 0, x;
	int k;

	for (k = 0; k < OP_NR_KINDS; k++)
		total += spec->mix[k];
	x = (unsigned)prng_below(p, total);
	for (k = 0; k < OP_NR_KINDS; k++) {
		if (x < spec->mix[k])
			break;
		x -= spec->mix[k];
	}
	memset(out, 0, sizeof(*out));
	out->kind = (enum op_kind)k;
	size_t ndev = oracle_nr_devs(w->model);
	if (!ndev && k != OP_COMMIT && k != OP_TRANS_ID && k != OP_RESIZE_DATA &&
	    k != OP_NEEDS_CHECK && k != OP_CHECK && k != OP_META_SNAP_CHECK &&
	    k != OP_STATUS && k != OP_AUDIT)
		out->kind = k = OP_CREATE;
	switch (k) {
	case OP_CREATE:
		if (ndev >= spec->devs) {	/* full: map instead */
			out->kind = OP_MAP;
			goto map;
		}
		out->a = w->next_dev++;
		break;
	case OP_SNAP:
		if (ndev >= spec->devs) {
			out->kind = OP_DELETE;
			out->a = pick_dev(w, p);
			break;
		}
		out->a = w->next_dev++;
		out->b = pick_dev(w, p);
		break;
	case OP_DELETE:
		if (ndev < 2) {
			out->kind = OP_MAP;
			goto map;
		}
		out->a = pick_dev(w, p);
		break;
	case OP_MAP:
	map:
		out->a = pick_dev(w, p);
		out->b = out->c = prng_below(p, spec->span);
		break;
	case OP_UNMAP: {
		uint64_t dev = pick_dev(w, p), n = oracle_dev_mapped(w->model, dev);

		out->a = dev;
		if (n && prng_below(p, 8))
			out->b = oracle_dev_vblock_at(w->model, dev, prng_below(p, n));
		else
			out->b = prng_below(p, spec->span);
		out->c = out->b;
		break;
	}
	case OP_UNMAP_RANGE:
		out->a = pick_dev(w, p);
		out->b = prng_below(p, spec->span);
		out->c = out->b + prng_below(p, 256);
		break;
	case OP_TRANS_ID:
		out->a = oracle_trans_id(w->model) + 1;
		break;
	case OP_RESIZE_DATA:
		out->a = oracle_nr_data_blocks(w->model) + 1 + prng_below(p, 4096);
		break;
	case OP_META_SNAP:
		if (oracle_held(w->model))
			out->kind = OP_META_SNAP_RELEASE;
		break;
	case OP_LOOKUP: {	/* kinds drawn only with an explicit weight */
		uint64_t dev = pick_dev(w, p), n = oracle_dev_mapped(w->model, dev);

		out->a = dev;
		if (n && prng_below(p, 8))
			out->b = oracle_dev_vblock_at(w->model, dev, prng_below(p, n));
		else
			out->b = prng_below(p, spec->span);
		out->c = out->b;
		break;
	}
	case OP_DEV_INFO:
	case OP_HIGHEST:
	case OP_MAPPED_COUNT:
		out->a = pick_dev(w, p);
		break;
	case OP_FIND_RANGE:
	case OP_PASSDOWN:
		out->a = pick_dev(w, p);
		out->b = prng_below(p, spec->span);
		out->c = out->b + prng_below(p, 256);
		break;
	default:
		break;
	}
}

/*
 * aim=boundaries: the op gen_op drew, bent towards the core's edge cases
 * (same kind unless a burst is running).  The extra draws come from the
 * same generator, so a line without aim generates what it always did.
 *  - map: a burst of appends that fills the right-most leaf to full and
 *    past (splits with the new key above every key); single keys above
 *    every key, below every key, or at a multiple of the leaf's capacity;
 *  - unmap: the lowest or highest key (leaves drained at the edges:
 *    underfull merges, then single-entry roots);
 *  - unmap-range: all but one mapping (a single-entry root), or a third
 *    of a leaf (the underfull threshold);
 *  - snap: again of the last snapshot's origin (a tree shared three ways:
 *    reference counts 2 -> 3), and the next map or unmap goes to that
 *    origin (a root shared after a snapshot is shadowed);
 *  - delete: the last snapshot (counts back 3 -> 2);
 *  - resize-data: to one block either side of a space-map bitmap
 *    boundary (SM_ENTRIES_PER_BLOCK blocks a bitmap).
 */
struct aim_state {
	uint64_t origin, snap;		/* of the last snapshot; UINT64_MAX none */
	int touch_origin;		/* the next map/unmap goes to origin */
	uint64_t burst_dev, burst_next, burst_left;
};

#define AIM_LEAF_ENTRIES bt_max_entries(8)	/* a mapping leaf, full */

static void aim_op(struct run *w, struct prng *p, const struct op *spec,
		   struct aim_state *st, struct op *out)
{
	const uint64_t leaf = AIM_LEAF_ENTRIES;
	uint64_t lo, hi, x;
	int have;

	if (st->burst_left && oracle_has_dev(w->model, st->burst_dev) &&
	    (out->kind == OP_MAP || out->kind == OP_UNMAP ||
	     out->kind == OP_COMMIT)) {
		memset(out, 0, sizeof(*out));
		out->kind = OP_MAP;
		out->a = st->burst_dev;
		out->b = out->c = st->burst_next++;
		st->burst_left--;
		return;
	}
	st->burst_left = 0;
	if ((out->kind == OP_MAP || out->kind == OP_UNMAP) && st->touch_origin &&
	    oracle_has_dev(w->model, st->origin)) {
		out->a = st->origin;
		st->touch_origin = 0;
	}
	have = (out->kind == OP_MAP || out->kind == OP_UNMAP ||
		out->kind == OP_UNMAP_RANGE) &&
	       !oracle_dev_range(w->model, out->a, &lo, &hi);
	switch (out->kind) {
	case OP_MAP:
		x = prng_below(p, 16);
		if (x == 0 && have) {
			st->burst_dev = out->a;
			st->burst_next = hi + 1;
			st->burst_left = leaf - oracle_dev_mapped(w->model, out->a) %
				leaf + prng_below(p, 3);
			out->b = out->c = st->burst_next++;
		} else if (x <= 3 && have) {
			out->b = out->c = hi + 1;
		} else if (x <= 5 && have && lo > 0) {
			out->b = out->c = lo - 1;
		} else if (x == 6) {
			uint64_t k = prng_below(p, spec->span / leaf + 1);

			out->b = out->c = k * leaf + prng_below(p, 3) + (k ? -1 : 0);
		}
		break;
	case OP_UNMAP:
		x = prng_below(p, 8);
		if (x <= 1 && have)
			out->b = out->c = lo;
		else if (x <= 3 && have)
			out->b = out->c = hi;
		break;
	case OP_UNMAP_RANGE:
		x = prng_below(p, 4);
		if (x == 0 && have && hi > lo) {
			out->b = lo + 1;
			out->c = hi;
		} else if (x == 1 && have) {
			out->b = lo;
			out->c = lo + leaf / 3 + prng_below(p, 3) - 1;
		}
		break;
	case OP_SNAP:
		if (st->origin != UINT64_MAX && oracle_has_dev(w->model, st->origin) &&
		    prng_below(p, 2))
			out->b = st->origin;
		st->origin = out->b;
		st->snap = out->a;
		st->touch_origin = 1;
		break;
	case OP_DELETE:
		if (st->snap != UINT64_MAX && oracle_has_dev(w->model, st->snap) &&
		    oracle_nr_devs(w->model) >= 2 && prng_below(p, 2)) {
			out->a = st->snap;
			st->snap = UINT64_MAX;
		}
		break;
	case OP_RESIZE_DATA: {
		uint64_t cur = oracle_nr_data_blocks(w->model), per = SM_ENTRIES_PER_BLOCK;
		uint64_t edge = (cur / per + 1) * per;

		x = edge + prng_below(p, 3) - 1;
		out->a = x > cur ? x : edge + 1;
		break;
	}
	default:
		break;
	}
}

/*
 * aim=boundaries also adds, after about one generated op in eight, an op
 * that reads the pool or meets an error a caller can meet.  Its draws come
 * from a stream of their own and it changes nothing in the model (the
 * next free device id is put back after it), so the ops the line
 * generates stay exactly what they were:
 *  - highest and mapped-count of a device (sometimes a missing one);
 *    find-range across the device's lowest or highest mapping, or a leaf's
 *    worth of keys anywhere between (runs that cross leaves); status or
 *    audit (the reference counts of the open transaction, thin.h TH7);
 *  - create of an existing device (-EEXIST); snap of a missing origin,
 *    delete, map and unmap of a missing device (-ENODATA); resize-data and
 *    resize-meta to fewer blocks, trans-id from a wrong id, meta-snap-
 *    release with none held (-EINVAL).
 */
#define AIM_EXTRA_TAG 0x61696d2d65787472ull	/* "aim-extr" */

static void aim_extra(struct run *w, struct prng *q, struct op *out)
{
	const uint64_t leaf = AIM_LEAF_ENTRIES;
	size_t ndev = oracle_nr_devs(w->model);
	uint64_t dev = ndev ? oracle_dev_at(w->model, prng_below(q, ndev)) : 0;
	uint64_t missing = w->next_dev, lo = 0, hi = 0, x;
	int have = ndev && !oracle_dev_range(w->model, dev, &lo, &hi);

	memset(out, 0, sizeof(*out));
	out->kind = OP_STATUS;
	switch (prng_below(q, 12)) {
	case 0:
	case 1:
		out->kind = prng_below(q, 2) ? OP_HIGHEST : OP_MAPPED_COUNT;
		out->a = ndev && prng_below(q, 4) ? dev : missing;
		break;
	case 2:
	case 3:
		out->kind = OP_FIND_RANGE;
		out->a = dev;
		x = have ? prng_below(q, 3) : 3;
		out->b = x == 0 ? (lo ? lo - 1 : 0) :
			 x == 1 ? (hi > leaf ? hi - leaf : 0) :
			 x == 2 ? lo + prng_below(q, hi - lo + 1) : 0;
		out->c = x == 0 ? lo + prng_below(q, 2 * leaf) :
			 x == 1 ? hi + 1 + prng_below(q, 3) : out->b + leaf;
		break;
	case 4:				/* status, or every other time audit
					 * (no draw: the stream stays as it was) */
		if (w->res->nr_ops & 1)
			out->kind = OP_AUDIT;
		break;
	case 5:
		out->kind = ndev ? OP_CREATE : OP_DELETE;
		out->a = ndev ? dev : missing;
		break;
	case 6:
		out->kind = OP_SNAP;
		out->a = missing;
		out->b = missing + 1;
		break;
	case 7:
		out->kind = prng_below(q, 2) ? OP_DELETE : OP_UNMAP;
		out->a = missing;
		out->b = out->c = prng_below(q, leaf);
		break;
	case 8:
		out->kind = OP_MAP;
		out->a = missing;
		out->b = out->c = have ? hi + 1 : prng_below(q, leaf);
		break;
	case 9:
		x = oracle_nr_data_blocks(w->model);
		if (x > 4) {
			out->kind = OP_RESIZE_DATA;
			out->a = x - 1 - prng_below(q, 4);
		}
		break;
	case 10:
		out->kind = OP_RESIZE_META;
		out->a = oracle_nr_meta_blocks(w->model) - 1 - prng_below(q, 16);
		break;
	default:
		if (!oracle_held(w->model) && prng_below(q, 2)) {
			out->kind = OP_META_SNAP_RELEASE;
			break;
		}
		out->kind = OP_TRANS_ID;
		out->a = oracle_trans_id(w->model) + 1;
		out->b = out->a + prng_below(q, 3);	/* never the current one */
		out->has_from = 1;
		break;
	}
}

static void exec_random(struct run *w, const struct op *spec)
{
	struct prng p, q;
	uint64_t seed = spec->has_seed ? spec->seed : w->cfg->seed;
	struct aim_state aim = { UINT64_MAX, UINT64_MAX, 0, 0, 0, 0 };

	prng_seed(&p, prng_derive(seed, spec->line));
	prng_seed(&q, prng_derive(seed ^ AIM_EXTRA_TAG, spec->line));
	for (uint64_t i = 0; i < spec->a && !w->done; i++) {
		struct op g;

		gen_op(w, &p, spec, &g);
		if (spec->aim == AIM_BOUNDARIES)
			aim_op(w, &p, spec, &aim, &g);
		g.line = spec->line;
		exec_op(w, &g);
		if (spec->aim == AIM_BOUNDARIES && !w->done &&
		    !prng_below(&q, 8) && !w->cfg->no_aim_extras) {
			uint64_t next_dev = w->next_dev;

			aim_extra(w, &q, &g);
			g.line = spec->line;
			g.aim_extra = 1;
			exec_op(w, &g);
			w->next_dev = next_dev;
		}
	}
}

/* The data device answered -ENOSPC to an allocation (the pool is not
 * failed): the model must agree it is full. */
static void data_full(struct run *w, struct run_op *ro)
{
	uint64_t used, nr = oracle_nr_data_blocks(w->model);

	ro->result = -ENOSPC;
	if (oracle_held(w->model) || oracle_held(w->committed))
		return;
	used = oracle_data_in_use(w->model, w->committed);
	if (used >= nr)
		return;
	if (w->meta_free < ENOSPC_SLACK) {
		/* the data space map's own metadata ran out */
		out_of_meta_space(w, ro, -1);
		return;
	}
	live_fail(w, "op %zu: the data device is full by the core's answer "
		  "(-ENOSPC) but the model counts %llu of its %llu blocks in use",
		  (size_t)(ro - w->res->ops), (unsigned long long)used,
		  (unsigned long long)nr);
}

/* A write through the thin device that needs a new block (datadev.h):
 * the data goes to the block between its allocation and the insert. */
struct data_req {
	int fua;
	uint64_t gen;			/* out */
};

static void exec_map_one(struct run *w, struct run_op *ro, uint64_t dev,
			 uint64_t v, struct data_req *dr);

/* Does the last committed state map (dev, v) to block b? */
static int mapping_committed(const struct run *w, uint64_t dev, uint64_t v,
			     uint64_t b)
{
	uint64_t cb = 0;
	uint32_t ct;

	return !oracle_lookup(w->committed, dev, v, &cb, &ct) && cb == b;
}

/*
 * write DEV V [fua] (datadev.h): in place when mapped and not shared;
 * else a new block, written, then mapped (provision or copy-on-write).
 * A FUA write of a new block completes after a commit (DD2), and so does
 * one in place whose mapping is not yet committed (made in this
 * transaction): dm-thin defers a FUA bio to a thin device changed in this
 * transaction until a commit (bio_triggers_commit); the workload commits
 * only when the mapping itself is new, the case DD2 needs.
 */
static void exec_write_one(struct run *w, struct run_op *ro, const struct op *op)
{
	struct datadev *dd = w->res->dd;
	struct thin_lookup_result lr;
	struct data_req dr = { op->fua, 0 };
	uint64_t mb = 0;
	uint32_t mt;
	int r, e;

	e = oracle_can_map(w->model, op->a);
	if (e) {
		ro->result = e;		/* no such device: the IO fails */
		return;
	}
	r = w->ops->lookup(w->cl, op->a, op->b, &lr);
	if (injected(w, r)) {
		settle(w, ro, r, 0);
		return;
	}
	e = oracle_lookup(w->model, op->a, op->b, &mb, &mt);
	if (r != e || (!r && lr.data_block != mb)) {
		live_fail(w, "op %zu: lookup of dev %llu vblock %llu: core %d "
			  "block %llu, the model %d block %llu",
			  (size_t)(ro - w->res->ops), (unsigned long long)op->a,
			  (unsigned long long)op->b, r,
			  (unsigned long long)(r ? 0 : lr.data_block), e,
			  (unsigned long long)mb);
		return;
	}
	if (!r && !lr.shared) {
		ro->data_block = lr.data_block;
		r = datadev_write(dd, op->a, op->b, lr.data_block, op->fua,
				  &dr.gen);
		if (r) {
			data_write_failed(w, ro, r, 0);
			return;
		}
		if (op->fua && !mapping_committed(w, op->a, op->b, mb)) {
			do_commit(w, ro);
			if (w->done || ro->result)
				return;
		}
		if (op->fua)
			r = datadev_fua_done(dd, op->a, op->b, dr.gen);
		if (r)
			live_fail(w, "op %zu: the data device: %s",
				  (size_t)(ro - w->res->ops), pd_strerror(r));
		ro->result = r;
		return;
	}
	exec_map_one(w, ro, op->a, op->b, &dr);
	if (w->done || ro->result || !op->fua)
		return;
	if (!PD_MUTANT(FUA_OVERWRITE_BEFORE_COMMIT)) {
		do_commit(w, ro);
		if (w->done || ro->result)
			return;
	}
	if (datadev_fua_done(dd, op->a, op->b, dr.gen))
		live_fail(w, "out of memory");
}

static void exec_map_one(struct run *w, struct run_op *ro, uint64_t dev,
			 uint64_t v, struct data_req *dr)
{
	pd_block_t b;
	int r, e;

	e = oracle_can_map(w->model, dev);
	if (e) {
		settle(w, ro, w->ops->insert(w->cl, dev, v, 0), e);
		return;
	}
	r = w->ops->alloc_data_block(w->cl, &b);
	if (r == -ENOSPC && !w->ops->is_failed(w->cl) && !injected(w, r) &&
	    !digest_eq(oracle_digest(w->model), oracle_digest(w->committed))) {
		/* Commit: the blocks unmapped in this transaction are free
		 * after it (SM1).  The map itself then goes on uncommitted. */
		do_commit(w, ro);
		if (w->done || ro->result)
			return;
		if (w->ooms) {
			ro->result = -ENOSPC;
			return;
		}
		w->clean_op = (int64_t)(ro - w->res->ops) - 1;
		r = w->ops->alloc_data_block(w->cl, &b);
	}
	if (r == -ENOSPC && !w->ops->is_failed(w->cl) && !injected(w, r)) {
		data_full(w, ro);
		return;
	}
	if (!settle(w, ro, r, 0))
		return;
	ro->data_block = b;
	if (w->res->dd) {
		r = dr ? datadev_write(w->res->dd, dev, v, b, dr->fua, &dr->gen) :
			 datadev_blank(w->res->dd, dev, v, b);
		if (r) {
			data_write_failed(w, ro, r, 1);
			return;
		}
	}
	r = w->ops->insert(w->cl, dev, v, b);
	if (settle(w, ro, r, 0) && oracle_insert(w->model, dev, v, b))
		live_fail(w, "out of memory");
	else if (!ro->result && !w->done && meta_free(w) == 0)
		do_commit(w, ro);	/* before the reserve is touched */
}

/* A caller that commits after every pool message that succeeded (client.h
 * K8; dm-thin's pool_message): create, snap, delete, set_transaction_id,
 * reserve and release of the metadata snapshot.  Marked as a commit. */
static void message_commit(struct run *w, struct run_op *ro)
{
	enum op_kind k = ro->op.kind;

	if (!w->ops->message_commits || w->done || ro->result ||
	    (k != OP_CREATE && k != OP_SNAP && k != OP_DELETE &&
	     k != OP_TRANS_ID && k != OP_META_SNAP &&
	     k != OP_META_SNAP_RELEASE))
		return;
	do_commit_with(w, ro, w->ops->commit);
}

/* --- the read-only ops: lookup, dev-info, needs-check, check,
 * meta-snap-check (scenario.h) ----------------------------------------------- */

void workload_note_skip(const struct run_config *cfg, struct run_result *res,
			struct run_op *ro, const char *backend, int *noted,
			const char *why)
{
	char buf[128];

	ro->result = -EOPNOTSUPP;
	res->skipped_ops++;
	if (cfg->quiet || *noted)
		return;
	*noted = 1;
	op_format(&ro->op, buf, sizeof(buf));
	fprintf(stderr, "%s:%u: '%s' skipped on backend %s: %s (further "
		"skips of this run not shown; %s)\n", cfg->sc->path,
		ro->op.line, buf, backend, why,
		"run_result.skipped_ops counts them");
}

static void note_skip(struct run *w, struct run_op *ro, const char *why)
{
	workload_note_skip(w->cfg, w->res, ro, w->ops->name, &w->skip_noted,
			   why);
}

static void exec_lookup(struct run *w, struct run_op *ro)
{
	const struct op *op = &ro->op;
	struct thin_lookup_result lr = { 0, 0, 0 };
	struct thin_dev_info di;
	uint64_t eb = 0;
	uint32_t et = 0;
	int r, e, shared;

	r = w->ops->lookup(w->cl, op->a, op->b, &lr);
	e = oracle_lookup(w->model, op->a, op->b, &eb, &et);
	if (!settle(w, ro, r, injected(w, r) ? 0 : e))
		return;
	/* TH3: shared iff the device was snapshotted after the mapping's time */
	shared = !oracle_dev_info(w->model, op->a, &di) &&
		 di.snapshotted_time > et;
	if (lr.data_block != eb || !!lr.shared != shared ||
	    (lr.time != CLIENT_NO_TIME && lr.time != et))
		live_fail(w, "op %zu 'lookup %llu %llu': block %llu time %u "
			  "shared %d, the model block %llu time %u shared %d",
			  (size_t)(ro - w->res->ops), (unsigned long long)op->a,
			  (unsigned long long)op->b,
			  (unsigned long long)lr.data_block, lr.time, !!lr.shared,
			  (unsigned long long)eb, et, shared);
}

static void exec_dev_info(struct run *w, struct run_op *ro)
{
	const struct op *op = &ro->op;
	struct thin_dev_info got, want;
	int r, e;

	if (w->ops->committed_only_queries &&
	    w->clean_op != (int64_t)(ro - w->res->ops) - 1) {
		note_skip(w, ro, "its dev_info reads the committed image "
			  "(client.h K1) and this transaction has uncommitted "
			  "changes");
		return;
	}
	memset(&got, 0, sizeof(got));
	r = w->ops->dev_info(w->cl, op->a, &got);
	e = oracle_dev_info(w->model, op->a, &want);
	if (!settle(w, ro, r, injected(w, r) ? 0 : e))
		return;
	if (got.dev != want.dev || got.mapped_blocks != want.mapped_blocks ||
	    got.transaction_id != want.transaction_id ||
	    got.creation_time != want.creation_time ||
	    got.snapshotted_time != want.snapshotted_time)
		live_fail(w, "op %zu 'dev-info %llu': mapped %llu trans_id %llu "
			  "ctime %u stime %u, the model mapped %llu trans_id %llu "
			  "ctime %u stime %u", (size_t)(ro - w->res->ops),
			  (unsigned long long)op->a,
			  (unsigned long long)got.mapped_blocks,
			  (unsigned long long)got.transaction_id,
			  got.creation_time, got.snapshotted_time,
			  (unsigned long long)want.mapped_blocks,
			  (unsigned long long)want.transaction_id,
			  want.creation_time, want.snapshotted_time);
}

static void exec_needs_check(struct run *w, struct run_op *ro)
{
	int r, nc = 0;

	r = w->ops->set_needs_check(w->cl);
	if (!settle(w, ro, r, 0))
		return;
	r = w->ops->get_needs_check(w->cl, &nc);
	if (!settle(w, ro, r, 0))
		return;
	if (!nc)
		live_fail(w, "op %zu 'needs-check': set, yet read back as clear",
			  (size_t)(ro - w->res->ops));
	else if (!w->res->needs_check_seq)
		w->res->needs_check_seq = simdisk_nr_ops(w->res->sd);
}

/*
 * check and meta-snap-check read the device with our core as a fresh
 * reader would (thin_check, thin_dump -m on a live pool): the live pool's
 * caches play no part.  Their reads are not IO ops of the pool: they are
 * side reads (simdisk_side_reads), not counted for the fault plan, so no
 * planned read fault lands in them, in the sweep or in serial fault runs
 * alike; a lost sector stored on the media is seen (media_explains).
 */
struct image_read {
	uint64_t reads;
};

static void image_read_begin(struct run *w, struct image_read *ir)
{
	ir->reads = simdisk_count(w->res->sd, SD_READ);
	simdisk_side_reads(w->res->sd, 1);
	w->aw.paused++;	/* nor are its allocations the pool's */
}

/* 1 if a planned read fault hit one of the reads since begin. */
static int image_read_end(struct run *w, const struct image_read *ir)
{
	simdisk_side_reads(w->res->sd, 0);
	w->aw.paused--;
	(void)ir;
	/* a libfiu point (bdev/read in the core's own path) may have fired:
	 * not ours to judge */
	return w->cfg->fiu_name != NULL;
}

struct check_msgs {
	char first[200];
	unsigned n;
};

static void check_msg(void *ctx, const char *text)
{
	struct check_msgs *m = ctx;

	if (!m->n++)
		snprintf(m->first, sizeof(m->first), "%s", text);
}

static void sub_pool_term(struct digest *d, struct thin_pool *pool, int *r)
{
	struct digest t = { 0, 0 };
	uint64_t trans_id;
	uint32_t time;
	pd_block_t nr_data, held;

	*r = *r ?: thin_get_transaction_id(pool, &trans_id) ?:
	     thin_get_time(pool, &time) ?:
	     thin_get_nr_data_blocks(pool, &nr_data) ?:
	     thin_get_metadata_snap(pool, &held);
	if (*r)
		return;
	digest_add_pool(&t, trans_id, time, nr_data, held != 0);
	d->a -= t.a;
	d->b -= t.b;
}

/* A media fault of this run has damaged what a read-back op read: the
 * damage is found, which is the point (the op then goes the way of a block
 * the core refused: abort, needs_check). */
static int media_explains(const struct run *w)
{
	return fault_is_media(w->cfg->fault.kind) &&
	       simdisk_media_hit(w->res->sd)->fired;
}

/* The structural check of the committed metadata on the device, for op
 * ro (check, status).  0: nothing found, *cr filled; 1: the op is over (a
 * media fault explains the damage and the workload recovered, or a live
 * failure names it). */
static int check_committed(struct run *w, struct run_op *ro,
			   struct check_result *cr)
{
	struct check_msgs m = { "", 0 };
	struct image_read ir;
	char buf[128];
	int r, damaged;

	image_read_begin(w, &ir);
	r = check_thin_metadata(w->bd, CHECK_STRICT, check_msg, &m, cr);
	damaged = !r && (cr->errors || cr->leaks);
	if ((image_read_end(w, &ir) || media_explains(w)) && (r || damaged)) {
		ro->result = r ? r : -EIO;
		recover(w, -1);
		return 1;
	}
	ro->result = r;
	op_format(&ro->op, buf, sizeof(buf));
	if (damaged)
		live_fail(w, "op %zu '%s': the structural check of the "
			  "committed metadata found %u errors, %u leaks: %s",
			  (size_t)(ro - w->res->ops), buf, cr->errors, cr->leaks,
			  m.first);
	else if (r)
		live_fail(w, "op %zu '%s': reading the committed metadata: "
			  "%d (%s)", (size_t)(ro - w->res->ops), buf, r,
			  pd_strerror(r));
	return r || damaged;
}

/* Close a fresh read-only reader of the image as the tools that open one
 * do (thin_check, thin_dump: thin_pool_close, not a crash): a read-only
 * pool commits nothing, so the close returns 0 and writes nothing (the
 * log from entry log on).  0, or 1 after a live failure naming op ro. */
static int close_reader(struct run *w, const struct run_op *ro,
			struct thin_pool *pool, uint64_t log)
{
	int r = pool ? thin_pool_close(pool) : 0;

	if (!r && simdisk_nr_ops(w->res->sd) == log)
		return 0;
	live_fail(w, "op %zu '%s': closing its read-only reader returned %d "
		  "(%s); the log had %llu entries before it, %llu after (a "
		  "read-only pool's close commits nothing, core/thin.h)",
		  (size_t)(ro - w->res->ops), op_kind_name(ro->op.kind), r,
		  pd_strerror(r), (unsigned long long)log,
		  (unsigned long long)simdisk_nr_ops(w->res->sd));
	return 1;
}

static void exec_check(struct run *w, struct run_op *ro)
{
	struct thin_pool_params tp = { .cache_blocks = 64,
				       .flags = THIN_OPEN_READ_ONLY };
	struct check_result cr;
	struct image_read ir;
	struct thin_pool *pool = NULL;
	struct digest d = { 0, 0 }, want = oracle_digest(w->committed);
	uint64_t log;
	int r;

	if (check_committed(w, ro, &cr))
		return;
	log = simdisk_nr_ops(w->res->sd);
	image_read_begin(w, &ir);
	r = thin_pool_open(w->bd, &tp, &pool);
	if (!r)
		r = pool_digest(pool, &d);
	if (close_reader(w, ro, pool, log)) {
		image_read_end(w, &ir);
		return;
	}
	if ((image_read_end(w, &ir) || media_explains(w)) && r) {
		ro->result = r;
		recover(w, -1);
		return;
	}
	ro->result = r;
	if (r)
		live_fail(w, "op %zu 'check': reading the committed metadata: "
			  "%d (%s)", (size_t)(ro - w->res->ops), r, pd_strerror(r));
	else if (!digest_eq(d, want))
		live_fail(w, "op %zu 'check': the committed metadata on the device "
			  "differs from committed state %llu of the model",
			  (size_t)(ro - w->res->ops),
			  (unsigned long long)(w->res->nr_states - 1));
}

/*
 * restore (scenario.h): a storage engineer's repair of the pool with
 * pdtool's code.  Three steps:
 *  1. a commit, as the deactivation before a repair makes (marked as a
 *     commit: the model's state);
 *  2. thin_dump: the committed metadata read by a fresh read-only reader
 *     (side reads, as check's) and written as XML (thin_xml_dump);
 *  3. thin_restore: the pool's devices dropped and rebuilt from that XML
 *     (client rebuild, thin_xml_rebuild), then committed (marked as a
 *     commit of the same model state: a restore changes nothing the
 *     oracle holds) and the pool must show it.
 * The rebuild runs in a transaction of the open pool, not on a device
 * formatted afresh as thin_restore's: a format in place hands out the
 * metadata blocks from block 1 on (sm_metadata.c MS4), over blocks the
 * committed superblock still names, so a cut in it would show neither
 * state.  Here one superblock write publishes the rebuilt trees (TH1), and
 * every cut shows the state before the restore or the restored one.
 */
static void exec_restore(struct run *w, struct run_op *ro)
{
	struct thin_pool_params tp = { .cache_blocks = 64,
				       .flags = THIN_OPEN_READ_ONLY };
	struct thin_pool *pool = NULL;
	struct thin_sb_info sb;
	struct image_read ir;
	char *xml = NULL;
	size_t len = 0;
	uint64_t log;
	FILE *f;
	int r, closed;

	if (!w->ops->rebuild) {
		note_skip(w, ro, "the kernel's metadata API has no call that "
			  "sets a device's details or a mapping's time "
			  "(client.h K17)");
		return;
	}
	do_commit(w, ro);
	if (w->done || ro->result || w->ooms)
		return;		/* recovered, or out of metadata space */
	f = open_memstream(&xml, &len);
	if (!f) {
		live_fail(w, "out of memory");
		return;
	}
	log = simdisk_nr_ops(w->res->sd);
	image_read_begin(w, &ir);
	r = thin_read_superblock(w->bd, &sb);
	if (!r)
		r = thin_pool_open(w->bd, &tp, &pool);
	if (!r)
		r = thin_xml_dump(pool, &sb, f);
	closed = close_reader(w, ro, pool, log);
	if (fclose(f) && !r)
		r = -ENOMEM;
	if (closed) {
		image_read_end(w, &ir);
		free(xml);
		return;
	}
	if ((image_read_end(w, &ir) || media_explains(w)) && r) {
		free(xml);
		ro->result = r;
		recover(w, -1);
		return;
	}
	if (r) {
		free(xml);
		live_fail(w, "op %zu 'restore': the dump of the committed "
			  "metadata: %d (%s)", (size_t)(ro - w->res->ops), r,
			  pd_strerror(r));
		return;
	}
	w->dump = xml;
	w->dump_len = len;
	do_commit_with(w, ro, NULL);
	w->dump = NULL;
	free(xml);
}

/* What a metadata snapshot view opened at block (0: the one the
 * superblock names) shows: its devices and mappings, pool values, and its
 * two data counts (the free one's answer in v->free_r). */
struct snap_view {
	struct digest d;
	uint64_t trans_id;
	uint32_t time;
	pd_block_t nr_data, nr_free;
	int free_r, audit_r, shared_r;	/* no data space map: -EOPNOTSUPP
					 * all three */
	int abort_r, write_r, refs_r;	/* a read-only pool refuses all
					 * three: -EPERM */
	int close_r, close_wrote;	/* its close: 0, and nothing written */
	struct pd_damage damage;	/* the open's damage record */
};

static int read_snap_view(struct run *w, pd_block_t block, struct snap_view *v)
{
	struct thin_pool_params tp = { .cache_blocks = 64,
				       .flags = THIN_OPEN_READ_ONLY };
	struct thin_pool *snap = NULL;
	int r;

	memset(v, 0, sizeof(*v));
	tp.damage = &v->damage;		/* pdtool dump's way (thin_xml.h) */
	r = thin_pool_open_metadata_snap(w->bd, block, &tp, &snap);
	if (!r)
		r = pool_digest(snap, &v->d);
	sub_pool_term(&v->d, snap, &r);
	if (!r)
		r = thin_get_transaction_id(snap, &v->trans_id) ?:
		    thin_get_time(snap, &v->time) ?:
		    thin_get_nr_data_blocks(snap, &v->nr_data);
	if (!r) {
		char msg[160];
		int shared;

		v->free_r = thin_get_free_data_blocks(snap, &v->nr_free);
		v->audit_r = thin_check_counts(snap, msg, sizeof(msg));
		v->shared_r = thin_data_block_is_shared(snap, 0, &shared);
		v->abort_r = thin_abort(snap);
		v->write_r = thin_create_thin(snap, THIN_MAX_DEV_ID);
		v->refs_r = thin_inc_data_range(snap, 0, 1);
	}
	if (snap) {	/* closed as thin_dump closes it (close_reader) */
		uint64_t log = simdisk_nr_ops(w->res->sd);

		v->close_r = thin_pool_close(snap);
		v->close_wrote = simdisk_nr_ops(w->res->sd) != log;
	}
	return r;
}

static void exec_meta_snap_check(struct run *w, struct run_op *ro)
{
	struct image_read ir;
	struct thin_sb_info sb;
	struct snap_view v, by_block;
	struct digest want;
	int r, e = oracle_held(w->committed) ? 0 : -ENODATA;

	if (!e && !w->snap_model) {
		live_fail(w, "op %zu 'meta-snap-check': the model holds a "
			  "snapshot but kept no state of its reservation",
			  (size_t)(ro - w->res->ops));
		return;
	}
	image_read_begin(w, &ir);
	/* Unlike the other reads of the image, the view's allocations count
	 * as the pool's own and an --alloc-faults run fails them: opening a
	 * held snapshot (thin_pool_open_metadata_snap) is core code no other
	 * op runs, and an allocation failure in it must come back as -ENOMEM
	 * and nothing else. */
	memset(&by_block, 0, sizeof(by_block));
	w->aw.paused--;
	r = read_snap_view(w, 0, &v);
	/* the same view, asked for by its block number (pdtool dump's way) */
	if (!r)
		r = thin_read_superblock(w->bd, &sb) ?:
		    read_snap_view(w, sb.held_root, &by_block);
	w->aw.paused++;
	/* errors.h DR2: an open that succeeded, or failed for want of memory
	 * (the view's allocations fail under --alloc-faults), noted no
	 * damage: a record there would blame a whole block for it */
	if ((!r || r == -ENOMEM) && (v.damage.seq || by_block.damage.seq)) {
		live_fail(w, "op %zu 'meta-snap-check': opening the held "
			  "snapshot answered %d (%s) and left a damage record "
			  "(block %llu: %s), which only damage may leave "
			  "(errors.h DR2)", (size_t)(ro - w->res->ops), r,
			  pd_strerror(r),
			  (unsigned long long)(v.damage.seq ? v.damage.block :
					       by_block.damage.block),
			  v.damage.seq ? v.damage.text : by_block.damage.text);
		image_read_end(w, &ir);
		return;
	}
	if ((image_read_end(w, &ir) || media_explains(w) ||
	     (fault_is_alloc(w->cfg->fault.kind) && alloc_explains(w, r))) &&
	    r && r != -ENODATA) {
		ro->result = r;
		recover(w, -1);
		return;
	}
	ro->result = r;
	if (r != e) {
		live_fail(w, "op %zu 'meta-snap-check': opening the snapshot the "
			  "committed superblock names: %d (%s), the model %d (%s)",
			  (size_t)(ro - w->res->ops), r, pd_strerror(r), e,
			  pd_strerror(e));
		return;
	}
	if (r)
		return;
	want = oracle_digest_devs(w->snap_model);
	if (!digest_eq(v.d, want) || v.trans_id != oracle_trans_id(w->snap_model) ||
	    v.time != oracle_time(w->snap_model))
		live_fail(w, "op %zu 'meta-snap-check': the held snapshot (trans_id "
			  "%llu, time %u) differs from the model at its "
			  "reservation (trans_id %llu, time %u)%s",
			  (size_t)(ro - w->res->ops), (unsigned long long)v.trans_id,
			  v.time, (unsigned long long)oracle_trans_id(w->snap_model),
			  oracle_time(w->snap_model),
			  digest_eq(v.d, want) ? "" : "; devices or mappings differ");
	else if (v.nr_data || v.free_r != -EOPNOTSUPP ||
		 v.audit_r != -EOPNOTSUPP ||
		 v.shared_r != -EOPNOTSUPP)	/* thin.h */
		live_fail(w, "op %zu 'meta-snap-check': the view's data counts: "
			  "%llu blocks, free %d (%s), count audit %d (%s), "
			  "is-shared %d (%s); a view has no data space map: its "
			  "zeroed root says 0 blocks, the free count, the audit "
			  "and is-shared are -EOPNOTSUPP (core/thin.h)",
			  (size_t)(ro - w->res->ops),
			  (unsigned long long)v.nr_data, v.free_r,
			  pd_strerror(v.free_r), v.audit_r,
			  pd_strerror(v.audit_r), v.shared_r,
			  pd_strerror(v.shared_r));
	else if (v.abort_r != -EPERM || v.write_r != -EPERM ||
		 v.refs_r != -EPERM)
		live_fail(w, "op %zu 'meta-snap-check': the read-only view "
			  "answered an abort with %d (%s), a create with %d "
			  "(%s) and a data range's inc with %d (%s), not -EPERM "
			  "(core/thin.h)", (size_t)(ro - w->res->ops), v.abort_r,
			  pd_strerror(v.abort_r), v.write_r,
			  pd_strerror(v.write_r), v.refs_r,
			  pd_strerror(v.refs_r));
	else if (v.close_r || v.close_wrote || by_block.close_r ||
		 by_block.close_wrote)
		live_fail(w, "op %zu 'meta-snap-check': closing the read-only "
			  "view returned %d (%s)%s (a read-only pool's close "
			  "commits nothing, core/thin.h)",
			  (size_t)(ro - w->res->ops),
			  v.close_r ? v.close_r : by_block.close_r,
			  pd_strerror(v.close_r ? v.close_r : by_block.close_r),
			  v.close_wrote || by_block.close_wrote ?
			  " and wrote to the device" : "");
	else if (!digest_eq(by_block.d, v.d) || by_block.trans_id != v.trans_id ||
		 by_block.time != v.time || by_block.nr_data != v.nr_data)
		live_fail(w, "op %zu 'meta-snap-check': the view opened by its "
			  "block number %llu differs from the one opened through "
			  "the superblock", (size_t)(ro - w->res->ops),
			  (unsigned long long)sb.held_root);
}

/* --- dm-thin's reads of one device and of the pool status line
 * (scenario.h: highest, mapped-count, find-range, status) ------------------- */

static void exec_highest(struct run *w, struct run_op *ro)
{
	uint64_t dev = ro->op.a, got = 0, lo, hi = 0;
	int r = w->ops->highest_mapped(w->cl, dev, &got);
	int e = oracle_dev_range(w->model, dev, &lo, &hi);

	if (settle(w, ro, r, injected(w, r) ? 0 : e) && got != hi)
		live_fail(w, "op %zu 'highest %llu': vblock %llu, the model %llu",
			  (size_t)(ro - w->res->ops), (unsigned long long)dev,
			  (unsigned long long)got, (unsigned long long)hi);
}

static void exec_mapped_count(struct run *w, struct run_op *ro)
{
	uint64_t dev = ro->op.a, got = 0, want = oracle_dev_mapped(w->model, dev);
	int r = w->ops->mapped_count(w->cl, dev, &got);
	int e = oracle_has_dev(w->model, dev) ? 0 : -ENODATA;

	if (settle(w, ro, r, injected(w, r) ? 0 : e) && got != want)
		live_fail(w, "op %zu 'mapped-count %llu': %llu, the model %llu",
			  (size_t)(ro - w->res->ops), (unsigned long long)dev,
			  (unsigned long long)got, (unsigned long long)want);
}

/* A run of a find-range walk from begin (find-range, passdown) against
 * the model's: 1 and a live failure naming both if they differ. */
static int run_differs(struct run *w, const struct run_op *ro, uint64_t begin,
		       const struct thin_mapped_range *got,
		       const struct thin_mapped_range *want)
{
	char buf[128];

	if (got->thin_begin == want->thin_begin &&
	    got->thin_end == want->thin_end &&
	    got->pool_begin == want->pool_begin &&
	    !!got->maybe_shared == !!want->maybe_shared)
		return 0;
	op_format(&ro->op, buf, sizeof(buf));
	live_fail(w, "op %zu '%s' from %llu: %llu..%llu -> %llu%s, the model "
		  "%llu..%llu -> %llu%s", (size_t)(ro - w->res->ops), buf,
		  (unsigned long long)begin,
		  (unsigned long long)got->thin_begin,
		  (unsigned long long)got->thin_end,
		  (unsigned long long)got->pool_begin,
		  got->maybe_shared ? " shared" : "",
		  (unsigned long long)want->thin_begin,
		  (unsigned long long)want->thin_end,
		  (unsigned long long)want->pool_begin,
		  want->maybe_shared ? " shared" : "");
	return 1;
}

/* Run by run from op->b, as dm-thin's discard walks a range. */
static void exec_find_range(struct run *w, struct run_op *ro)
{
	const struct op *op = &ro->op;
	uint64_t begin = op->b, end = op->c + 1;
	int first = 0, r;

	for (int k = 0; !w->done; k++) {
		struct thin_mapped_range got = { 0, 0, 0, 0 }, want = got;
		int e = oracle_find_range(w->model, op->a, begin, end, &want);

		r = w->ops->find_mapped_range(w->cl, op->a, begin, end, &got);
		if (!k)
			first = r;
		if (!settle(w, ro, r, injected(w, r) ? 0 : e))
			break;
		if (run_differs(w, ro, begin, &got, &want))
			return;
		begin = got.thin_end;
	}
	if (!w->done && ro->result == -ENODATA)	/* the walk's normal end */
		ro->result = first;
}

/* The passdown's references on each run's data blocks: fn is the
 * backend's inc or dec.  1 if every call succeeded, else 0 (settled). */
static int passdown_refs(struct run *w, struct run_op *ro,
			 const struct thin_mapped_range *runs, size_t nr,
			 int (*fn)(struct client *, pd_block_t, pd_block_t))
{
	for (size_t i = 0; i < nr; i++) {
		pd_block_t b = runs[i].pool_begin;

		if (!settle(w, ro, fn(w->cl, b, b + runs[i].thin_end -
				      runs[i].thin_begin), 0))
			return 0;
	}
	return 1;
}

/* A call of passdown at= and what the model says it must return: 1 if
 * both agree (the op goes on), else 0 (settled: recovered, or a live
 * failure). */
static int refused_as(struct run *w, struct run_op *ro, int r, int want)
{
	settle(w, ro, r, injected(w, r) ? 0 : want);
	return !w->done && ro->result == want;
}

/* passdown A..B at=BLOCK expect=EINVAL (scenario.h): the data calls alone,
 * vblock v's data block named BLOCK + v - A by the caller: the inc and
 * the dec of that range and the is-shared question of its last block,
 * each refused as the model says (-EINVAL: reversed, or past the data
 * device's end), with nothing changed and the pool not failed
 * (check_expect).  A range within the device is the scenario's mistake:
 * nothing is called. */
static void exec_passdown_at(struct run *w, struct run_op *ro)
{
	const struct op *op = &ro->op;
	pd_block_t b = op->at, e = op->at + (op->c + 1 - op->b);
	int want = oracle_data_range(w->model, b, e), shared;
	char buf[128];

	if (!want) {
		op_format(op, buf, sizeof(buf));
		live_fail(w, "op %zu '%s': data blocks %llu..%llu lie within the "
			  "data device's %llu; the op only checks a refusal",
			  (size_t)(ro - w->res->ops), buf, (unsigned long long)b,
			  (unsigned long long)e - 1,
			  (unsigned long long)oracle_nr_data_blocks(w->model));
		return;
	}
	if (!refused_as(w, ro, w->ops->inc_data_range(w->cl, b, e), want))
		return;
	if (b < e && !refused_as(w, ro, w->ops->data_block_is_shared(w->cl,
			e - 1, &shared), oracle_data_range(w->model, e - 1, e)))
		return;
	refused_as(w, ro, w->ops->dec_data_range(w->cl, b, e), want);
}

/*
 * passdown (scenario.h): dm-thin's discard passdown of one range (thin.h
 * TH8; dm-thin.c's break_up_discard_bio finds the runs, then
 * process_prepared_discard_passdown_pt1 removes, incs and asks
 * (passdown_double_checking_shared_status), pt2 decs), in the open
 * transaction.  Every run is checked as find-range checks it, the remove
 * as unmap A..B is, and every is-shared answer against the model after
 * the remove and the held snapshot's.  An error of any call is settled
 * as the unmap's: recovery after an injected one, a live failure else.
 * The data device has no discard: a block answered unshared would be
 * discarded, and no answer passes unchecked.
 */
static void exec_passdown(struct run *w, struct run_op *ro)
{
	const struct op *op = &ro->op;
	const struct oracle *held = NULL;
	struct thin_mapped_range *runs = NULL;
	uint64_t v = op->b, end = op->c + 1, n = 0, n2 = 0, in_runs = 0;
	size_t nr = 0, cap = 0, i;
	char text[128];
	int r, e;

	if (op->has_at) {
		exec_passdown_at(w, ro);
		return;
	}
	op_format(op, text, sizeof(text));
	if (oracle_held(w->model) && !(held = w->snap_model)) {
		live_fail(w, "op %zu '%s': no model of the held metadata "
			  "snapshot", (size_t)(ro - w->res->ops), text);
		return;
	}
	for (;;) {
		struct thin_mapped_range got = { 0, 0, 0, 0 }, want = got;

		e = oracle_find_range(w->model, op->a, v, end, &want);
		r = w->ops->find_mapped_range(w->cl, op->a, v, end, &got);
		if (r == -ENODATA && e == -ENODATA)
			break;
		if (r || e) {
			settle(w, ro, r, injected(w, r) ? 0 : e);
			goto out;
		}
		if (run_differs(w, ro, v, &got, &want))
			goto out;
		if (nr == cap) {
			void *p = realloc(runs, (cap = cap ? 2 * cap : 8) *
					  sizeof(*runs));

			if (!p) {
				live_fail(w, "out of memory");
				goto out;
			}
			runs = p;
		}
		runs[nr++] = got;
		in_runs += got.thin_end - got.thin_begin;
		v = got.thin_end;
	}
	if (w->res->dd)
		datadev_forget(w->res->dd, op->a, op->b, end);
	r = w->ops->remove_range(w->cl, op->a, op->b, end, &n);
	if (injected(w, r)) {
		settle(w, ro, r, 0);
		goto out;
	}
	e = oracle_remove_range(w->model, op->a, op->b, end, &n2);
	if (!settle(w, ro, r, e))
		goto out;
	if (n != n2 || n != in_runs) {
		live_fail(w, "op %zu: the passdown's remove took %llu mappings, "
			  "the model %llu, its runs hold %llu",
			  (size_t)(ro - w->res->ops), (unsigned long long)n,
			  (unsigned long long)n2, (unsigned long long)in_runs);
		goto out;
	}
	if (!passdown_refs(w, ro, runs, nr, w->ops->inc_data_range))
		goto out;
	for (i = 0; i < nr; i++) {
		pd_block_t b = runs[i].pool_begin;
		pd_block_t e_b = b + runs[i].thin_end - runs[i].thin_begin;

		for (; b < e_b; b++) {
			int shared = -1, want;

			r = w->ops->data_block_is_shared(w->cl, b, &shared);
			if (!settle(w, ro, r, 0))
				goto out;
			want = oracle_names_data_block(w->model, b) ||
			       oracle_names_data_block(held, b);
			if (shared == want)
				continue;
			live_fail(w, "op %zu '%s': data block %llu (of vblock "
				  "%llu) answered %s, yet %s (thin.h TH8)",
				  (size_t)(ro - w->res->ops), text,
				  (unsigned long long)b,
				  (unsigned long long)(runs[i].thin_begin + b -
						       runs[i].pool_begin),
				  shared ? "shared" : "not shared",
				  want ? "a live device or the held metadata "
				  "snapshot still maps it: its data would be "
				  "discarded" : "nothing maps it after the remove");
			goto out;
		}
	}
	passdown_refs(w, ro, runs, nr, w->ops->dec_data_range);
out:
	free(runs);
}

/* What the free data count must be (scenario.h, status; client.h K11). */
static int free_data_want(struct run *w, uint64_t *want)
{
	const struct oracle *held = oracle_held(w->model) ? w->snap_model : NULL;
	uint64_t nr = oracle_nr_data_blocks(w->committed), used;

	if (oracle_held(w->model) && !held)
		return -EPROTO;		/* no model of the held snapshot */
	used = oracle_data_in_use(w->model, held);
	if (used == UINT64_MAX)
		return -ENOMEM;
	*want = used <= nr || w->ops->free_data_wraps ? nr - used : 0;
	return 0;
}

/* The free metadata count: the recount where nothing is uncommitted, the
 * bounds otherwise (scenario.h, status).  0 agreed; 1 the op is over. */
static int status_free_meta(struct run *w, struct run_op *ro, uint64_t got,
			    uint64_t nr)
{
	uint64_t reserve = nr / 10 < THIN_METADATA_RESERVE_MAX ? nr / 10 :
			   THIN_METADATA_RESERVE_MAX;
	uint64_t committed = oracle_nr_meta_blocks(w->committed), used;
	struct check_result cr;

	if (w->ops->get_metadata_reserve) {	/* K19 */
		pd_block_t r_got = 0;
		int r = w->ops->get_metadata_reserve(w->cl, &r_got);

		if (r || r_got != reserve) {
			live_fail(w, "op %zu 'status': the metadata reserve "
				  "answered %d (%s), %llu blocks; of %llu it is "
				  "min(%u, a tenth) = %llu (core/thin.h)",
				  (size_t)(ro - w->res->ops), r, pd_strerror(r),
				  (unsigned long long)r_got,
				  (unsigned long long)nr,
				  THIN_METADATA_RESERVE_MAX,
				  (unsigned long long)reserve);
			return 1;
		}
	}
	if (w->clean_op != (int64_t)(ro - w->res->ops) - 1) {
		uint64_t hi = committed > reserve + 1 ? committed - reserve - 1 : 0;

		if (got > hi) {
			live_fail(w, "op %zu 'status': %llu free metadata blocks, more than "
				  "the committed %llu blocks less the superblock and the "
				  "reserve of %llu allow", (size_t)(ro - w->res->ops),
				  (unsigned long long)got, (unsigned long long)committed,
				  (unsigned long long)reserve);
			return 1;
		}
		/* A device or mapping changed since the commit was changed
		 * in a shadow of a committed node, a new block, and the free
		 * count answers for the commit less what this transaction
		 * has handed out (FORMAT.md 2.3, SM2): at least one below the
		 * committed free count, whatever was freed since. */
		if (digest_eq(oracle_digest_devs(w->model),
			      oracle_digest_devs(w->committed)))
			return 0;
		if (check_committed(w, ro, &cr))
			return 1;
		used = cr.metadata_blocks_used + 1 + reserve;
		if (got <= (used < cr.metadata_nr_blocks ?
			    cr.metadata_nr_blocks - used : 0))
			return 0;
		live_fail(w, "op %zu 'status': %llu free metadata blocks in a "
			  "transaction that changed the trees; the structural "
			  "checker finds %llu of the committed %llu in use, the "
			  "reserve is %llu, and the changes took at least one new "
			  "block", (size_t)(ro - w->res->ops),
			  (unsigned long long)got,
			  (unsigned long long)cr.metadata_blocks_used,
			  (unsigned long long)cr.metadata_nr_blocks,
			  (unsigned long long)reserve);
		return 1;
	}
	if (check_committed(w, ro, &cr))
		return 1;
	used = cr.metadata_blocks_used + reserve;
	if (cr.metadata_nr_blocks == nr &&
	    got == (used < nr ? nr - used : 0))
		return 0;
	live_fail(w, "op %zu 'status': %llu free metadata blocks of %llu; the "
		  "structural checker finds %llu of the committed %llu in use, "
		  "and the reserve is %llu", (size_t)(ro - w->res->ops),
		  (unsigned long long)got, (unsigned long long)nr,
		  (unsigned long long)cr.metadata_blocks_used,
		  (unsigned long long)cr.metadata_nr_blocks,
		  (unsigned long long)reserve);
	return 1;
}

static void exec_status(struct run *w, struct run_op *ro)
{
	const struct client_ops *o = w->ops;
	const struct oracle *sized = o->data_size_at_commit ? w->committed :
				     w->model;
	uint64_t tid = 0, free_want = 0;
	pd_block_t free_meta = 0, nr_meta = 0, free_data = 0, nr_data = 0,
		   held = 0;
	int r;

	/* in the order of dm-thin's pool_status */
	r = o->get_trans_id(w->cl, &tid) ?:
	    o->get_free_metadata_blocks(w->cl, &free_meta) ?:
	    o->get_nr_metadata_blocks(w->cl, &nr_meta) ?:
	    o->get_free_data_blocks(w->cl, &free_data) ?:
	    o->get_nr_data_blocks(w->cl, &nr_data) ?:
	    o->get_meta_snap(w->cl, &held);
	if (!settle(w, ro, r, 0))
		return;
	r = free_data_want(w, &free_want);
	if (r) {
		live_fail(w, "op %zu 'status': the free data count: %s",
			  (size_t)(ro - w->res->ops), pd_strerror(r));
		return;
	}
	const struct {
		const char *what;
		uint64_t got, want;
	} v[] = {
		{ "transaction id", tid, oracle_trans_id(w->model) },
		{ "metadata blocks", nr_meta, oracle_nr_meta_blocks(w->model) },
		{ "data blocks", nr_data, oracle_nr_data_blocks(sized) },
		{ "free data blocks", free_data, free_want },
		{ "held metadata snapshot", held != 0, oracle_held(w->model) },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i].got == v[i].want)
			continue;
		live_fail(w, "op %zu 'status': %s %llu, the model %llu",
			  (size_t)(ro - w->res->ops), v[i].what,
			  (unsigned long long)v[i].got,
			  (unsigned long long)v[i].want);
		return;
	}
	status_free_meta(w, ro, free_meta, nr_meta);
}

/* audit (scenario.h): the backend's audit of this transaction's reference
 * counts against its trees (core: thin.h TH7) finds nothing wrong.  A
 * read fault there (an injected error, a flipped bit a validator
 * refuses) is the fault's, as in any read op; a count that disagrees
 * (c->msg says which) is never a fault's: a read fault is refused, not
 * read. */
static void exec_audit(struct run *w, struct run_op *ro)
{
	int r;

	if (!w->ops->check_counts) {
		note_skip(w, ro, "the kernel's metadata API has no audit of its "
			  "reference counts (client.h check_counts)");
		return;
	}
	r = w->ops->check_counts(w->cl);
	if (r && (w->cl->msg[0] || !injected(w, r))) {
		ro->result = r;
		if (w->cl->msg[0])
			live_fail(w, "op %zu 'audit': %s", (size_t)(ro - w->res->ops),
				  w->cl->msg);
		else
			live_fail(w, "op %zu 'audit': %d (%s)",
				  (size_t)(ro - w->res->ops), r, pd_strerror(r));
		return;
	}
	settle(w, ro, r, 0);
}

/* The ops that only read (scenario.h): none changes the pool. */
static void (*const read_ops[OP_NR_KINDS])(struct run *, struct run_op *) = {
	[OP_LOOKUP] = exec_lookup,
	[OP_DEV_INFO] = exec_dev_info,
	[OP_CHECK] = exec_check,
	[OP_META_SNAP_CHECK] = exec_meta_snap_check,
	[OP_HIGHEST] = exec_highest,
	[OP_MAPPED_COUNT] = exec_mapped_count,
	[OP_FIND_RANGE] = exec_find_range,
	[OP_STATUS] = exec_status,
	[OP_AUDIT] = exec_audit,
};

/* After op ro with expect= (scenario.h): the error the scenario names, a
 * pool that is not failed, and (where the backend can read mid-
 * transaction) the model's state.  Not once the workload has recovered
 * from an error (an injected fault, metadata out of space): the lines
 * after it may meet another state than their author had in mind. */
static void check_expect(struct run *w, struct run_op *ro)
{
	struct digest d;
	char buf[128];
	int r;

	if (!ro->op.expect || w->done || w->recovered ||
	    ro->result == -EOPNOTSUPP)	/* this backend skipped it (note_skip) */
		return;
	op_format(&ro->op, buf, sizeof(buf));
	if (ro->result != ro->op.expect) {
		live_fail(w, "op %zu '%s': returned %d (%s), as the model predicts; "
			  "the scenario line expects %d (%s)",
			  (size_t)(ro - w->res->ops), buf, ro->result,
			  pd_strerror(ro->result), ro->op.expect,
			  pd_strerror(ro->op.expect));
		return;
	}
	if (w->ops->is_failed(w->cl)) {
		live_fail(w, "op %zu '%s': the expected error left the pool "
			  "failed", (size_t)(ro - w->res->ops), buf);
		return;
	}
	if (w->ops->committed_only_queries)
		return;
	w->aw.paused++;	/* the harness reading the pool */
	r = client_digest(w->cl, &d);
	w->aw.paused--;
	if (injected(w, r)) {
		recover(w, -1);
		return;
	}
	if (r || !digest_eq(d, oracle_digest(w->model)))
		live_fail(w, "op %zu '%s': after the expected error the pool "
			  "shows %s", (size_t)(ro - w->res->ops), buf,
			  r ? pd_strerror(r) : "another state than the model's");
}

/* format and open expect=EINVAL: the refused call writes nothing, and the
 * pool open on the device goes on as it was.  An open reads the
 * superblock first: a planned read fault or damaged media there is
 * recovered from as for the check op. */
static void exec_refused(struct run *w, struct run_op *ro)
{
	struct client_params p = w->params;
	struct client *fresh = NULL;
	uint64_t log = simdisk_nr_ops(w->res->sd);
	struct image_read ir;
	int r, want;

	p.data_block_size = (uint32_t)ro->op.a;	/* parsed <= UINT32_MAX */
	if (ro->op.kind == OP_FORMAT) {
		p.nr_data_blocks = ro->op.b;
		p.read_only = ro->op.read_only;
		p.format_by_open = 0;	/* thin_pool_format's own refusal */
		want = oracle_format(ro->op.a, ro->op.b, ro->op.read_only);
	} else {
		want = ro->op.a != w->params.data_block_size ? -EINVAL : 0;
	}
	image_read_begin(w, &ir);
	r = ro->op.kind == OP_FORMAT ? w->ops->format(w->bd, &p, &fresh) :
				       w->ops->open(w->bd, &p, &fresh);
	if ((image_read_end(w, &ir) || media_explains(w)) && r && r != want) {
		ro->result = r;
		recover(w, -1);
		return;
	}
	ro->result = r;
	if (!r) {
		w->ops->destroy(fresh);
		live_fail(w, "op %zu: a %s with block size %llu sectors "
			  "succeeded (thin.h: -EINVAL)", (size_t)(ro - w->res->ops),
			  op_kind_name(ro->op.kind), (unsigned long long)ro->op.a);
		return;
	}
	if (simdisk_nr_ops(w->res->sd) != log)
		live_fail(w, "op %zu: the refused %s wrote to the device",
			  (size_t)(ro - w->res->ops), op_kind_name(ro->op.kind));
	else if (r == want)
		keep_clean(w, ro);
}

/* setup-done (scenario.h, driver.h SW1): where the setup ended, for the
 * sweeps and --damage to start there. */
static void end_setup(struct run *w)
{
	struct run_result *res = w->res;

	res->in_setup = 0;
	res->setup_seq = simdisk_nr_ops(res->sd);
	res->setup_io[0] = simdisk_count(res->sd, SD_READ);
	res->setup_io[1] = simdisk_count(res->sd, SD_WRITE);
	res->setup_io[2] = simdisk_count(res->sd, SD_FLUSH);
	if (res->dd) {
		struct simdisk *dsd = datadev_disk(res->dd);

		res->setup_io[3] = simdisk_count(dsd, SD_WRITE);
		res->setup_io[4] = simdisk_count(dsd, SD_FLUSH);
	}
}

static void exec_op(struct run *w, const struct op *op)
{
	struct run_result *res = w->res;
	struct run_op *ro;
	uint64_t n, n2;
	int r, e, want, empty;

	if (w->done)
		return;
	if (op->kind == OP_RANDOM) {
		exec_random(w, op);
		return;
	}
	if (op->kind == OP_SETUP_DONE) {	/* no op of the log: the ops
						 * after it keep their numbers */
		end_setup(w);
		return;
	}
	if ((op->kind == OP_MAP || op->kind == OP_UNMAP ||
	     op->kind == OP_WRITE || op->kind == OP_LOOKUP) && op->b != op->c) {
		for (uint64_t v = op->b; v <= op->c && !w->done; v++) {
			struct op one = *op;

			one.b = one.c = v;
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
	if ((op->kind == OP_CREATE || op->kind == OP_SNAP) &&
	    op->a >= w->next_dev)
		w->next_dev = op->a + 1;
	if (w->ooms && op->kind != OP_RESIZE_META) {
		ro->result = -ENOSPC;	/* refused by the caller */
		return;
	}
	w->meta_free = meta_free(w);
	if (!w->ops->checks_args && op_is_misuse(op)) {
		note_skip(w, ro, "a value out of the core's contract, which "
			  "this backend leaves to dm-thin's target and message "
			  "parsing (client.h K14)");
		return;
	}

	switch (op->kind) {
	case OP_CREATE:
		r = w->ops->create_thin(w->cl, op->a);
		settle(w, ro, r, injected(w, r) ? 0 : oracle_create_thin(w->model, op->a));
		break;
	case OP_SNAP:
		r = w->ops->create_snap(w->cl, op->a, op->b);
		settle(w, ro, r, injected(w, r) ? 0 :
		       oracle_create_snap(w->model, op->a, op->b));
		break;
	case OP_DELETE:
		if (w->res->dd)
			datadev_forget(w->res->dd, op->a, 0, UINT64_MAX);
		r = w->ops->delete_dev(w->cl, op->a);
		settle(w, ro, r, injected(w, r) ? 0 :
		       oracle_delete(w->model, op->a));
		break;
	case OP_MAP:
		if (op->has_at) {	/* a misuse: nothing to forget */
			r = w->ops->insert(w->cl, op->a, op->b, op->at);
			settle(w, ro, r, injected(w, r) ? 0 :
			       oracle_insert_at(w->model, op->a, op->at));
			break;
		}
		if (w->res->dd)
			datadev_forget(w->res->dd, op->a, op->b, op->b + 1);
		exec_map_one(w, ro, op->a, op->b, NULL);
		break;
	case OP_FORMAT:
	case OP_OPEN:
		exec_refused(w, ro);
		break;
	case OP_WRITE:
		exec_write_one(w, ro, op);
		break;
	case OP_UNMAP:
		if (w->res->dd)
			datadev_forget(w->res->dd, op->a, op->b, op->b + 1);
		r = w->ops->remove(w->cl, op->a, op->b);
		settle(w, ro, r, injected(w, r) ? 0 :
		       oracle_remove(w->model, op->a, op->b));
		break;
	case OP_UNMAP_RANGE:
		if (w->res->dd && op->b <= op->c)
			datadev_forget(w->res->dd, op->a, op->b, op->c + 1);
		/* The empty range A = B + 1 (scenario.h) asks for no count, as
		 * dm-thin's dm_thin_remove_range has none: it removes nothing,
		 * so it must leave the pool clean (the commit after it writes
		 * nothing, TH1). */
		empty = op->b == op->c + 1;
		n = 0;
		r = w->ops->remove_range(w->cl, op->a, op->b, op->c + 1,
					 empty ? NULL : &n);
		if (injected(w, r)) {
			settle(w, ro, r, 0);
			break;
		}
		e = oracle_remove_range(w->model, op->a, op->b, op->c + 1, &n2);
		if (!settle(w, ro, r, e))
			break;
		if (empty)
			keep_clean(w, ro);
		else if (n != n2)
			live_fail(w, "op %zu: range remove took %llu mappings, the model %llu",
				  (size_t)(ro - res->ops), (unsigned long long)n,
				  (unsigned long long)n2);
		break;
	case OP_PASSDOWN:
		exec_passdown(w, ro);
		break;
	case OP_COMMIT:
		do_commit(w, ro);
		break;
	case OP_CLOSE:
		/* a fault run, or the shared prefix the sweeps fork from */
		if (!w->ops->close_under_faults &&
		    (w->cfg->fault.kind != FAULT_NONE || w->cfg->fiu_name ||
		     w->cfg->sd_hook || w->cfg->alloc_hook)) {
			note_skip(w, ro, "a close under injected faults, open on "
				  "this backend (client.h K15)");
			break;
		}
		if (op->has_cache)	/* the reopen's, and any later one's */
			w->params.cache_blocks = (unsigned)op->a;
		do_commit_with(w, ro, NULL);
		break;
	case OP_RESTORE:
		exec_restore(w, ro);
		break;
	case OP_ABORT:
		r = w->ops->abort(w->cl);
		if (settle(w, ro, r, 0)) {
			w->clean_op = (int64_t)(ro - res->ops);
			if (oracle_assign(w->model, w->committed))
				live_fail(w, "out of memory");
		}
		break;
	case OP_TRANS_ID: {
		uint64_t cur = op->has_from ? op->b : oracle_trans_id(w->model);

		r = w->ops->set_trans_id(w->cl, cur, op->a);
		settle(w, ro, r, injected(w, r) ? 0 :
		       oracle_set_trans_id(w->model, cur, op->a));
		break;
	}
	case OP_RESIZE_DATA:
		r = w->ops->resize_data(w->cl, op->a);
		if (settle(w, ro, r, injected(w, r) ? 0 :
			   oracle_resize_data(w->model, op->a)) && w->res->dd &&
		    datadev_resize(w->res->dd, op->a))
			live_fail(w, "out of memory");
		break;
	case OP_RESIZE_META:
		/* past-end: the device is not grown first (a misuse) */
		n = bdev_nr_blocks(w->bd);
		r = op->a > n && !op->past_end ? bdev_resize(w->bd, op->a) : 0;
		if (!r)
			r = w->ops->resize_metadata(w->cl, op->a);
		want = injected(w, r) ? 0 : op->a > bdev_nr_blocks(w->bd) ?
		       -EINVAL : oracle_resize_meta(w->model, op->a);
		if (r == -ENOSPC && want == -ENOSPC) {
			/* too small to hold its own new bitmap: dm-thin aborts
			 * (metadata_operation_failed) and waits for a grow */
			ro->result = r;
			out_of_meta_space(w, ro, -1);
			break;
		}
		/* Out of metadata space, dm-thin's preresume leaves that mode
		 * and commits after the resize (the new blocks count as free
		 * from that commit on, SM2). */
		if (settle(w, ro, r, want) && w->ooms) {
			w->ooms = 0;
			do_commit(w, ro);
		}
		break;
	case OP_META_SNAP:
		/* Reserve commits first: that commit is marked as one, and
		 * the snapshot joins the model once it is done. */
		if (!oracle_held(w->model)) {
			do_commit_with(w, ro, w->ops->reserve_meta_snap);
			if (w->done || ro->result)
				break;
			oracle_destroy(w->snap_model);
			w->snap_model = NULL;
			if (oracle_clone(w->model, &w->snap_model))
				live_fail(w, "out of memory");
			else if (oracle_meta_snap(w->model))
				live_fail(w, "op %zu 'meta-snap': the model refused it",
					  (size_t)(ro - res->ops));
			break;
		}
		r = w->ops->reserve_meta_snap(w->cl);
		settle(w, ro, r, injected(w, r) ? 0 :
		       oracle_meta_snap(w->model));
		break;
	case OP_META_SNAP_RELEASE:
		r = w->ops->release_meta_snap(w->cl);
		settle(w, ro, r, injected(w, r) ? 0 :
		       oracle_meta_snap_release(w->model));
		break;
	case OP_NEEDS_CHECK:
		exec_needs_check(w, ro);
		break;
	default:
		if (read_ops[op->kind]) {
			read_ops[op->kind](w, ro);
			if (!ro->result)
				keep_clean(w, ro);
		} else {
			live_fail(w, "unknown op kind %d", op->kind);
		}
		break;
	}
	message_commit(w, ro);
	check_expect(w, ro);
}

int workload_run(const struct run_config *cfg, struct run_result *res)
{
	const struct scenario *sc = cfg->sc;
	struct run w = { .cfg = cfg, .res = res, .clean_op = -1,
			 .aw = { .cfg = cfg, .res = res } };
	const struct client_ops *ops = cfg->client ? cfg->client : &client_core_ops;
	struct client_params params;
	int r;

	if (sc->geo.is_cache) {		/* a dm-cache scenario */
		r = cache_workload_run(cfg, res);
		if (!r)
			r = index_marks(res);
		if (r)
			run_result_free(res);
		return r;
	}
	memset(res, 0, sizeof(*res));
	w.ops = ops;
	res->client = ops;
	res->geo = sc->geo;
	for (size_t i = 0; i < sc->nr_ops; i++)
		if (sc->ops[i].kind == OP_SETUP_DONE)
			res->has_setup = res->in_setup = 1;
	if (cfg->cache_blocks)
		res->geo.cache_blocks = cfg->cache_blocks;
	r = simdisk_create(PD_BLOCK_SIZE, res->geo.meta_blocks, &res->sd);
	if (r)
		return r;
	simdisk_log_reads(res->sd, 0);
	if (cfg->sd_hook)
		simdisk_set_op_hook(res->sd, cfg->sd_hook, cfg->sd_hook_ctx);
	w.bd = simdisk_bdev(res->sd);
	r = oracle_create(res->geo.data_blocks, &w.model);
	if (!r)
		r = oracle_create(res->geo.data_blocks, &w.committed);
	if (r)
		goto out;
	oracle_set_meta_blocks(w.model, res->geo.meta_blocks);
	oracle_set_meta_blocks(w.committed, res->geo.meta_blocks);
	r = workload_faults_arm(&w.aw, res->sd);
	if (r)
		goto out;
	for (size_t i = 0; i < sc->nr_ops && !res->dd; i++) {
		if (sc->ops[i].kind != OP_WRITE)
			continue;
		r = datadev_create(res->sd, res->geo.data_blocks, &res->dd);
		if (r)
			goto out;
		if (cfg->sd_hook)	/* told apart from res->sd by its sd */
			simdisk_set_op_hook(datadev_disk(res->dd), cfg->sd_hook,
					    cfg->sd_hook_ctx);
		if (fault_is_data(cfg->fault.kind))
			r = simdisk_fail_nth(datadev_disk(res->dd),
					     cfg->fault.kind == FAULT_DATA_WRITE ?
					     SD_WRITE : SD_FLUSH, cfg->fault.nth,
					     cfg->fault.sticky);
		if (r)
			goto out;
	}
	params = w.params = (struct client_params) {
		.data_block_size = res->geo.block_size,
		.nr_data_blocks = res->geo.data_blocks,
		.cache_blocks = res->geo.cache_blocks,
		.format_by_open = res->geo.format_open,
	};
	/* State 0, the empty pool, is known before the format runs: a
	 * format whose last flush failed may still have published it.  A
	 * two-step format (client.h CL2) first commits it with a data device
	 * of size 0: that is state 0, the resized pool state 1. */
	if (w.ops->format_steps == 2) {
		struct oracle *pre;

		r = oracle_create(0, &pre);
		if (r)
			goto out;
		r = push_state(&w, oracle_digest(pre));
		oracle_destroy(pre);
		if (r)
			goto out;
		mark(&w, MK_COMMIT_BEGIN, 0);
		r = w.ops->format(w.bd, &params, &w.cl);
		if (!r) {
			mark(&w, MK_COMMIT_END, 0);
			r = push_state(&w, oracle_digest(w.model));
			if (r)
				goto out;
			mark(&w, MK_COMMIT_BEGIN, 1);
			r = w.ops->format_finish(w.cl, res->geo.data_blocks);
		}
	} else {
		r = push_state(&w, oracle_digest(w.model));
		if (r)
			goto out;
		mark(&w, MK_COMMIT_BEGIN, 0);
		r = w.ops->format(w.bd, &params, &w.cl);
	}
	if (r) {
		int planned = cfg->fault.kind != FAULT_NONE || cfg->fiu_name;

		if (fault_is_alloc(cfg->fault.kind))	/* and no pool yet */
			planned = res->alloc_fired &&
				  (r == workload_alloc_errno(cfg->fault.kind) || r == -EIO);
		if (!planned) {
			live_fail(&w, "format failed: %d (%s)", r, pd_strerror(r));
		} else {
			res->injected++;
			res->first_error_seq = 1;
			res->stopped = 1;
		}
		r = 0;
		goto out;
	}
	mark(&w, MK_COMMIT_END, res->nr_states - 1);
	keep_model(&w, res->nr_states - 1);
	if (res->dd)
		w.ops->set_pre_commit(w.cl, datadev_pre_commit, res->dd);	/* DD1 */
	for (size_t i = 0; i < sc->nr_ops && !w.done; i++) {
		if (cfg->op_hook)
			cfg->op_hook(cfg->op_hook_ctx, i);
		exec_op(&w, &sc->ops[i]);
	}
	if (cfg->op_hook)
		cfg->op_hook(cfg->op_hook_ctx, sc->nr_ops);
	r = w.setup_err;
out:
	if (res->data_leaks) {		/* kept only if some state leaked */
		uint64_t any = 0;

		for (uint64_t k = 0; k < res->nr_states; k++)
			any |= res->data_leaks[k];
		if (!any) {
			free(res->data_leaks);
			res->data_leaks = NULL;
		}
	}
	res->fault = cfg->fault;
	if (!r)
		r = index_marks(res);
	if (res->stopped)
		close_failed_pool(&w);
	workload_faults_disarm(&w.aw);
	if (w.cl)
		w.ops->destroy(w.cl);
	oracle_destroy(w.model);
	oracle_destroy(w.committed);
	oracle_destroy(w.snap_model);
	if (r)
		run_result_free(res);
	return r;
}

void run_result_free(struct run_result *res)
{
	simdisk_destroy(res->sd);
	free(res->digests);
	free(res->data_leaks);
	free(res->ops);
	free(res->marks);
	oracle_destroy(res->kept);
	cache_oracle_destroy(res->cache_kept);
	datadev_destroy(res->dd);
	memset(res, 0, sizeof(*res));
}

/* Index the commit markers once, so workload_expect is a binary search
 * (it runs for every crash state). */
static int index_marks(struct run_result *res)
{
	int64_t committed = -1, begun = -1;
	int uncertain = 0;
	size_t n = 0, cap = 0;

	for (uint64_t i = 0; i < simdisk_nr_ops(res->sd); i++) {
		const struct sd_op *op = simdisk_op(res->sd, i);

		if (op->kind != SD_MARKER || (op->marker != MK_COMMIT_BEGIN &&
					      op->marker != MK_COMMIT_END))
			continue;
		if (op->marker == MK_COMMIT_BEGIN) {
			begun = (int64_t)op->value;
		} else {
			committed = (int64_t)(op->value & ~MK_UNCERTAIN);
			uncertain = !!(op->value & MK_UNCERTAIN);
			begun = -1;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct mark_state *m = realloc(res->marks, cap * sizeof(*m));
			if (!m)
				return -ENOMEM;
			res->marks = m;
		}
		res->marks[n++] = (struct mark_state) { i, committed, begun,
							uncertain };
	}
	res->nr_marks = n;
	return 0;
}

void workload_expect(const struct run_result *res, uint64_t cut,
		     struct expect *e)
{
	size_t lo = 0, hi = res->nr_marks;	/* marks[lo..hi) with seq < cut */
	int64_t committed = -1, begun = -1;
	int uncertain = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (res->marks[mid].seq < cut)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		const struct mark_state *m = &res->marks[lo - 1];

		committed = m->committed;
		begun = m->begun;
		uncertain = m->uncertain;
	}
	e->committed = committed;
	e->lo = uncertain ? committed - 1 : committed;
	e->hi = begun > committed ? begun : committed;
}

uint64_t workload_commit_begin(const struct run_result *res, int64_t k)
{
	uint64_t at = 0;

	/* the last commit-begin marker of k before its commit-end */
	for (size_t i = 0; i < res->nr_marks; i++) {
		const struct mark_state *m = &res->marks[i];

		if (m->begun == k)
			at = m->seq;
		if (m->committed == k && m->begun < 0)
			return at;
	}
	return at;
}

size_t workload_op_at(const struct run_result *res, uint64_t seq)
{
	size_t lo = 0, hi = res->nr_ops;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (res->ops[mid].seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
