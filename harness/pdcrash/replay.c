/* harness/pdcrash/replay.c - `pdcrash replay ID`: rebuild one crash state
 * exactly and show it.
 *
 * The id names scenario (and variant), seed, cut, persistence choice, tear
 * and injected fault (explore.h, struct state_id).  Replay runs the
 * workload again with the same seed and fault (the run is deterministic),
 * cuts the log at the same point, builds the same image, and checks it as
 * `run` did, through a failing first read when the id carries a fault.  It
 * prints the ops around the cut, which pending writes landed, the outcome,
 * and on a violation the found state against every committed state the
 * markers allow, field by field against the closest.  A live-failure id
 * (liveid.h) runs the workload again and reports the disagreement.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache_scenario.h"
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "errors.h"
#include "replay_write.h"
#include "writecheck.h"
#include "liveid.h"

struct replay_args {
	const char *idtext;
	const char *save;		/* --save-image */
	const char *xml;		/* --expected-xml */
	int trace;
};

/* A rebuilt state: its id, run, cut and the choice it names. */
struct replay {
	struct state_id id;
	struct run_config cfg;
	struct run_result res;
	int have_res;
	struct scenario *sc;
	struct sd_cutter *cutter;
	struct expect e;
	char base[128];
	size_t np;			/* pending writes at the cut */
	uint8_t *landed;		/* per pending write */
	uint64_t *sectors;		/* per pending write, with --tear */
};

static int parse_args(int argc, char **argv, struct replay_args *a,
		      struct run_config *cfg)
{
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--trace")) {
			a->trace = 1;
		} else if (!strcmp(argv[i], "--save-image")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return cli_usage_error("%s needs a file name", argv[i]);
			a->save = argv[++i];
		} else if (!strcmp(argv[i], "--fiu")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs NAME[:N]", argv[i]);
			if ((rc = cli_parse_fiu(argv[++i], &cfg->fiu_name,
						&cfg->fiu_nth)))
				return rc;
		} else if (!strcmp(argv[i], "--expected-xml")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return cli_usage_error("%s needs a file name", argv[i]);
			a->xml = argv[++i];
		} else if (!strcmp(argv[i], "--mutant")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a name", argv[i]);
			if ((rc = cli_set_mutant(argv[++i])))
				return rc;
		} else if (argv[i][0] == '-') {
			return cli_usage_error("unknown option '%s'", argv[i]);
		} else if (a->idtext) {
			return cli_usage_error("replay takes one id, got '%s' too", argv[i]);
		} else {
			a->idtext = argv[i];
		}
	}
	if (!a->idtext)
		return cli_usage_error("replay needs an id%s", "");
	return 0;
}

/* Does the workload run to its end?  It runs first in a child, so that a
 * run that dies (a crash or a BUG_ON in the code under test: `run` reports
 * such a fault run as a violation) is reported here too, as the outcome of
 * the id (exit 1), rather than killing replay.  0 if it survives. */
static int run_survives(const struct run_config *cfg, const char *idtext)
{
	struct run_result res;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 0;	/* replay in-process then */
	if (pid == 0) {
		if (!workload_run(cfg, &res))
			run_result_free(&res);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	if (!WIFSIGNALED(status))
		return 0;
	printf("state %s\n", idtext);
	printf("outcome: violation: the run died: signal %d (%s)%s\n",
	       WTERMSIG(status), strsignal(WTERMSIG(status)),
	       WTERMSIG(status) == SIGABRT ?
	       "; a BUG_ON or abort in the code under test (its message went "
	       "to stderr)" : "");
	return 1;
}

/* Run the workload of the id, keeping the model of the last committed
 * state at the cut, and cut the log there.  0, or the exit status 2. */
static int rebuild(struct replay *rp, const char *idtext)
{
	char err[512];
	int r;

	if (state_id_parse(idtext, &rp->id, err, sizeof(err)))
		return cli_usage_error("%s", err);
	if (cli_split_variant(rp->id.name, rp->base, sizeof(rp->base),
			      &rp->cfg.cache_blocks))
		return cli_usage_error("unknown variant in '%s' (only +small)",
				       rp->id.name);
	if ((r = cli_split_backend(rp->id.name, &rp->cfg.client)))
		return r;
	if ((r = cli_load_named(rp->base, &rp->sc)))
		return r;
	rp->cfg.sc = rp->sc;
	rp->cfg.seed = rp->id.seed;
	rp->cfg.fault = rp->id.fault;
	rp->cfg.keep_state = -1;
	/* as the fault run did: its log (and the data positions a cut's
	 * window holds, datadev.h DD5) ends after the first good commit */
	rp->cfg.stop_after_recovery = rp->id.fault.kind != FAULT_NONE;
	if ((r = run_survives(&rp->cfg, idtext)))
		return r;
	/* A first run finds the committed state at the cut, a second keeps
	 * its model, for the expected-against-found difference. */
	for (int pass = 0; pass < 2; pass++) {
		if (rp->have_res) {
			run_result_free(&rp->res);
			rp->have_res = 0;
		}
		r = workload_run(&rp->cfg, &rp->res);
		if (r) {
			fprintf(stderr, "pdcrash: cannot run %s: %s\n", rp->base,
				pd_strerror(r));
			return 2;
		}
		rp->have_res = 1;
		if (rp->id.cut > simdisk_nr_ops(rp->res.sd)) {
			fprintf(stderr, "pdcrash: id %s: cut %" PRIu64 " is past "
				"the end of the log (%" PRIu64 " entries): not an "
				"id of this scenario and seed\n", idtext,
				rp->id.cut, simdisk_nr_ops(rp->res.sd));
			return 2;
		}
		workload_expect(&rp->res, rp->id.cut, &rp->e);
		rp->cfg.keep_state = rp->e.committed;
	}
	r = sd_cutter_create(rp->res.sd, &rp->cutter);
	if (!r)
		r = sd_cutter_seek(rp->cutter, rp->id.cut);
	if (r) {
		fprintf(stderr, "pdcrash: cannot cut the log: %s\n", pd_strerror(r));
		return 2;
	}
	rp->np = sd_cutter_nr_pending(rp->cutter);
	if (rp->id.lazy) {
		if (leaf_id_fits(rp->cutter, &rp->id, err, sizeof(err))) {
			fprintf(stderr, "pdcrash: id %s: %s: not an id of this "
				"scenario and seed\n", idtext, err);
			return 2;
		}
	} else if (nr_choices(rp->np, rp->id.tear) != rp->id.nr_choices) {
		fprintf(stderr, "pdcrash: id %s: the cut has %zu pending writes, "
			"so %" PRIu64 " choices, not %" PRIu64 ": not an id of "
			"this scenario and seed\n", idtext, rp->np,
			nr_choices(rp->np, rp->id.tear), rp->id.nr_choices);
		return 2;
	}
	rp->landed = malloc(rp->np + 1);
	rp->sectors = malloc((rp->np + 1) * sizeof(*rp->sectors));
	if (!rp->landed || !rp->sectors) {
		fprintf(stderr, "pdcrash: %s\n", pd_strerror(-ENOMEM));
		return 2;
	}
	if (!rp->id.lazy)
		make_choice(rp->np, rp->id.tear, rp->id.seed, rp->id.cut,
			    rp->id.choice, rp->landed, rp->sectors);
	return 0;
}

/* The data device (datadev.h): the injected data fault, the data
 * positions this cut covers (DD5) and the leaks the states may show
 * (DD3). */
static void print_data_fault(const struct replay *rp)
{
	const struct run_result *res = &rp->res;
	const struct fault_spec *f = &rp->id.fault;
	uint64_t lo, hi;

	if (!res->dd) {
		if (fault_is_data(f->kind))
			printf("data fault: never happened (the scenario writes "
			       "no data)\n");
		return;
	}
	if (fault_is_data(f->kind)) {
		const char *what = f->kind == FAULT_DATA_WRITE ? "write" : "flush";

		if (!res->injected) {
			printf("data fault: never happened (the run has no data "
			       "%s %" PRIu64 ")\n", what, f->nth);
		} else {
			char buf[128];
			size_t i = workload_op_at(res, res->first_error_seq);

			op_format(&res->ops[i].op, buf, sizeof(buf));
			printf("data fault: data %s %" PRIu64 " failed%s, first in "
			       "op %zu '%s' (result %d)\n", what, f->nth,
			       f->sticky ? ", and every later one" : "", i, buf,
			       res->ops[i].result);
		}
	}
	datadev_window(res->dd, rp->id.cut, &lo, &hi);
	printf("data device: %" PRIu64 " ops in its log; this cut covers data "
	       "positions %" PRIu64 "..%" PRIu64 "\n",
	       simdisk_nr_ops(datadev_disk(res->dd)), lo, hi);
	for (int64_t k = rp->e.lo < 0 ? 0 : rp->e.lo;
	     res->data_leaks && k <= rp->e.hi && (uint64_t)k < res->nr_states; k++)
		printf("committed state %" PRId64 ": %" PRIu64 " data blocks "
		       "leaked by failed data writes\n", k, res->data_leaks[k]);
}

static void print_context(const struct replay *rp, const char *idtext,
			  int trace)
{
	const struct run_result *res = &rp->res;
	const struct state_id *id = &rp->id;
	const struct sd_pending *pend = sd_cutter_pending(rp->cutter);
	char cache[16];

	printf("state %s\n", idtext);
	printf("scenario %s (%s), seed %" PRIu64 ", cache=%s\n",
	       rp->base, rp->sc->path, id->seed,
	       pool_cache_text(res->geo.cache_blocks, cache, sizeof(cache)));
	if (res->live_failed)
		printf("live run failed: %s\n", res->live_msg);
	cli_print_alloc_fault(res, &id->fault);
	if (fault_can_stick(id->fault.kind)) {
		uint64_t at;
		static const char *const what[] = {
			[FAULT_READ] = "read", [FAULT_WRITE] = "write",
			[FAULT_FLUSH] = "flush",
		};

		if (!simdisk_plan_fired(res->sd, &at))
			printf("IO fault: never happened (the run has no such op)\n");
		else
			printf("IO fault: %s %" PRIu64 "%s failed first at log "
			       "position %" PRIu64 "; %s\n", what[id->fault.kind],
			       id->fault.nth, id->fault.sticky ? " and on" : "",
			       at, res->injected ? "an op failed with it" :
			       "no op returned it (the backend absorbed or "
			       "dropped it)");
	}
	if (fault_is_media(id->fault.kind)) {
		const struct sd_media_hit *h = simdisk_media_hit(res->sd);

		if (!h->fired)
			printf("media fault: never happened (the run has no such op)\n");
		else if (h->kind == SD_MEDIA_BITROT)
			printf("media fault: read %" PRIu64 " of block %" PRIu64
			       " returned bit %ld flipped (at log position %" PRIu64
			       "); the core %s\n", id->fault.nth, h->block,
			       h->where, h->seq, res->injected ?
			       "refused it" : "did not refuse it");
		else if (h->where < 0)
			printf("media fault: write %" PRIu64 " (log entry %" PRIu64
			       ", block %" PRIu64 ") was all zeroes: nothing lost\n",
			       id->fault.nth, h->seq, h->block);
		else
			printf("media fault: write %" PRIu64 " (log entry %" PRIu64
			       ", block %" PRIu64 ") lost sector %ld on the media; "
			       "the core %s\n", id->fault.nth, h->seq, h->block,
			       h->where, res->injected ? "met it and refused it" :
			       "did not read it back");
	}
	print_data_fault(rp);
	if (id->lazy)
		printf("cut after log entry %" PRIu64 " of %" PRIu64 "; %zu pending "
		       "writes; leaf %s (the blocks recovery read, in order, and "
		       "the version each holds; other pending blocks durable)%s\n",
		       id->cut, simdisk_nr_ops(res->sd), rp->np, id->leaf,
		       id->tear ? " (torn writes on)" : "");
	else
		printf("cut after log entry %" PRIu64 " of %" PRIu64 "; %zu pending "
		       "writes; choice %" PRIu64 " of %" PRIu64 "%s\n", id->cut,
		       simdisk_nr_ops(res->sd), rp->np, id->choice, id->nr_choices,
		       id->tear ? " (torn writes on)" : "");
	printf("expected: committed state %" PRId64 "%s%s\n", rp->e.committed,
	       rp->e.hi > rp->e.committed ? ", or the one in flight" : "",
	       rp->e.lo < rp->e.committed ?
	       ", or the one before (uncertain commit)" : "");
	printf("log around the cut:\n");
	uint64_t from = trace || id->cut < 40 ? 0 : id->cut - 40;
	for (uint64_t i = from; i < id->cut; i++)
		cli_print_op_line(res, i);
	printf("  ------  power cut here\n");
	for (uint64_t i = id->cut; i < simdisk_nr_ops(res->sd) &&
	     i < id->cut + 5; i++)
		cli_print_op_line(res, i);
	for (size_t j = 0; j < rp->np && !id->lazy; j++) {
		printf("  pending write %zu: log entry %" PRIu64 ", block %"
		       PRIu64 ": %s", j, pend[j].seq, pend[j].block,
		       rp->landed[j] ? "landed" : "lost");
		if (rp->landed[j] && rp->sectors[j] != UINT64_MAX)
			printf(" (sectors 0x%02" PRIx64 ")", rp->sectors[j] & 0xff);
		printf("\n");
	}
}

/* The model of committed state `state`, from one more run keeping it
 * (the replay's own run keeps only the last committed one); NULL if the
 * run never reached it. */
static struct oracle *model_of(const struct replay *rp, int64_t state)
{
	struct run_config cfg = rp->cfg;
	struct run_result res2;
	struct oracle *o = NULL;

	if (state == rp->e.committed && rp->res.kept)
		return oracle_clone(rp->res.kept, &o) ? NULL : o;
	cfg.keep_state = state;
	cfg.quiet = 1;
	if (workload_run(&cfg, &res2))
		return NULL;
	o = res2.kept;
	res2.kept = NULL;
	run_result_free(&res2);
	return o;
}

/* The found state against every state the markers allow (lo..hi), field
 * by field against the closest (fewest differences; the earlier on a
 * tie). */
static void print_diff(const struct replay *rp)
{
	struct thin_pool_params p = {
		.data_block_size = rp->res.geo.block_size,
		.cache_blocks = rp->res.geo.cache_blocks,
		.flags = THIN_OPEN_READ_ONLY,
	};
	struct sd_choice ch = { rp->np, rp->landed,
				rp->id.tear ? rp->sectors : NULL };
	struct leaf_image *li = NULL;
	struct thin_pool *pool;
	struct bdev *image;
	char diff[8192];
	int64_t lo = rp->e.lo < 0 ? 0 : rp->e.lo, best = -1;
	size_t best_nd = SIZE_MAX;
	uint64_t tid;
	uint32_t time;

	/* a leaf id: its decisions, the other pending blocks durable */
	if (rp->id.lazy ? leaf_image_create(rp->cutter, &rp->id, &image, &li)
			: sd_cutter_image(rp->cutter, &ch, &image))
		return;
	if (rp->res.geo.is_cache) {	/* a dm-cache run */
		cache_replay_show(&rp->cfg, &rp->res, image, lo, rp->e.hi);
		goto out_image;
	}
	if (thin_pool_open(image, &p, &pool))
		goto out_image;
	if (!thin_get_transaction_id(pool, &tid) && !thin_get_time(pool, &time))
		printf("found: transaction id %" PRIu64 ", pool time %u\n", tid,
		       time);
	for (int64_t s = lo; s <= rp->e.hi; s++) {
		struct oracle *o = model_of(rp, s);

		if (!o) {
			printf("  state %" PRId64 ": not reached by the run\n", s);
			continue;
		}
		size_t nd = oracle_diff(o, pool, diff, sizeof(diff), 0);
		printf("  state %" PRId64 " (transaction id %" PRIu64 ", pool time "
		       "%u): %zu difference%s\n", s, oracle_trans_id(o),
		       oracle_time(o), nd, nd == 1 ? "" : "s");
		if (nd < best_nd) {
			best_nd = nd;
			best = s;
		}
		oracle_destroy(o);
	}
	if (best >= 0) {
		struct oracle *o = model_of(rp, best);

		if (o) {
			size_t nd = oracle_diff(o, pool, diff, sizeof(diff), 40);

			printf("found against the closest allowed state, %" PRId64
			       ": %zu difference%s\n%s", best, nd,
			       nd == 1 ? "" : "s", diff);
			oracle_destroy(o);
		}
	}
	thin_pool_destroy(pool);
out_image:
	if (li)
		leaf_image_free(li, image);
	else
		bdev_destroy(image);
}

/* The model of committed state `state` as thin_dump XML, from one more
 * run keeping it.  0, or the exit status 2. */
static int write_expected_xml(struct replay *rp, int64_t state,
			      const char *xml)
{
	struct run_config cfg = rp->cfg;
	struct run_result res2;
	FILE *f;
	int r;

	cfg.keep_state = state;
	r = workload_run(&cfg, &res2);
	if (r)
		goto out_report;
	if (!res2.kept) {
		r = -ENODATA;
	} else if (!(f = fopen(xml, "w"))) {
		r = -errno;
	} else {
		r = oracle_write_xml(res2.kept, res2.geo.block_size, f);
		if (fclose(f) && !r)
			r = -EIO;
	}
	run_result_free(&res2);
out_report:
	if (r) {
		fprintf(stderr, "pdcrash: cannot write %s: %s\n", xml,
			pd_strerror(r));
		return 2;
	}
	printf("expected state %" PRId64 " written to %s\n", state, xml);
	return 0;
}

static void replay_free(struct replay *rp)
{
	free(rp->landed);
	free(rp->sectors);
	sd_cutter_destroy(rp->cutter);
	if (rp->have_res)
		run_result_free(&rp->res);
	scenario_free(rp->sc);
}

/* A live-failure id: run the workload again (as `run` did: with its
 * fault, stopping after the recovery from it) and report whether it
 * still disagrees with its model.  1 it does, 0 it does not, 2 bad id. */
static int replay_live(const struct replay_args *a, struct run_config *cfg)
{
	struct state_id id;
	struct scenario *sc = NULL;
	struct run_result res;
	char base[128], err[512], cache[16];
	int r;

	if (live_id_parse(a->idtext, &id, err, sizeof(err)) < 0)
		return cli_usage_error("%s", err);
	if (cli_split_variant(id.name, base, sizeof(base), &cfg->cache_blocks))
		return cli_usage_error("unknown variant in '%s' (only +small)",
				       id.name);
	if ((r = cli_split_backend(id.name, &cfg->client)))
		return r;
	if ((r = cli_load_named(base, &sc)))
		return r;
	cfg->sc = sc;
	cfg->seed = id.seed;
	cfg->fault = id.fault;
	cfg->keep_state = -1;
	cfg->quiet = 1;
	cfg->stop_after_recovery = id.fault.kind != FAULT_NONE;
	r = workload_run(cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", base,
			pd_strerror(r));
		scenario_free(sc);
		return 2;
	}
	printf("state %s\n", a->idtext);
	printf("scenario %s (%s), seed %" PRIu64 ", cache=%s: the live "
	       "run against its model (no crash state)\n", base, sc->path,
	       id.seed, pool_cache_text(res.geo.cache_blocks, cache,
					sizeof(cache)));
	printf("%zu ops ran, %" PRIu64 " log entries, %" PRIu64 " committed "
	       "states\n", res.nr_ops, simdisk_nr_ops(res.sd), res.nr_states);
	cli_print_alloc_fault(&res, &id.fault);
	uint64_t end = simdisk_nr_ops(res.sd);
	uint64_t from = a->trace || end < 40 ? 0 : end - 40;
	printf("log up to where it stopped:\n");
	for (uint64_t i = from; i < end; i++)
		cli_print_op_line(&res, i);
	if (res.live_failed)
		printf("outcome: violation: live run: %s\n", res.live_msg);
	else
		printf("outcome: agrees: the live run matches its model in this "
		       "build\n");
	r = res.live_failed ? 1 : 0;
	run_result_free(&res);
	scenario_free(sc);
	return r;
}

int cmd_replay(int argc, char **argv)
{
	struct replay_args a = { 0 };
	struct replay rp = { 0 };
	struct check_opts copts = { 0 };
	struct check_out out = { .outcome = OUT_ROLLBACK };
	int rc;

	if ((rc = parse_args(argc, argv, &a, &rp.cfg)))
		return rc;
	{
		char err[512];
		int w = write_id_parse(a.idtext, &rp.id, err, sizeof(err));

		if (w < 0)
			return cli_usage_error("%s", err);
		if (w)		/* NAME:sSEED:wSEQ:eFAULT */
			return replay_write(a.idtext, &rp.id, &rp.cfg, a.trace);
	}
	if (strstr(a.idtext, LIVE_ID_TAG))
		return replay_live(&a, &rp.cfg);
	if (strstr(a.idtext, ":d") && !strstr(a.idtext, ":c"))
		return replay_damage(a.idtext, a.save);	/* damage.h */
	if ((rc = rebuild(&rp, a.idtext)))
		goto out;
	print_context(&rp, a.idtext, a.trace);
	copts.save_image = a.save;
	/* ids with an IO fault come from --io-errors runs, which recover
	 * each state first through a failing read, and ids with an
	 * allocation failure from --alloc-faults runs, which do so through
	 * a failing allocation (explore.c, "The faulted pass"): do the same.
	 * An id with no fault (e0) may come from an --io-errors run too (its
	 * fault-free run's states get the faulted pass as well): it runs
	 * first here also, and a state the plain run found wrong is found
	 * wrong again by the clean pass after it. */
	copts.recovery_fault = !fault_is_media(rp.id.fault.kind) &&
			       !fault_is_alloc(rp.id.fault.kind);
	copts.recovery_alloc_fault = fault_is_alloc(rp.id.fault.kind);
	check_state(&rp.res, rp.cutter, &rp.id, &copts, NULL, &out);
	if (out.pass[0])
		printf("faulted pass: %s\n", out.pass);
	printf("outcome: %s: %s\n", outcome_name(out.outcome), out.msg);
	if (a.save)
		printf("image saved to %s\n", a.save);
	if (out.outcome == OUT_VIOLATION)
		print_diff(&rp);
	if (a.xml && out.state >= 0 &&
	    (rc = write_expected_xml(&rp, out.state, a.xml)))
		goto out;
	/* A live failure (the run itself disagreed with its model, id at
	 * the end of the log) replays as the failed run. */
	rc = out.outcome == OUT_VIOLATION || rp.res.live_failed ? 1 : 0;
out:
	replay_free(&rp);
	return rc;
}
