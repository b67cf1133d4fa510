/* harness/main_pdcrash.c - the pdcrash command (DESIGN.md section 5). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "driver.h"
#include "errors.h"
#include "mutant.h"

#define MAX_SCENARIOS 256

static const char help_text[] =
"pdcrash - crash-consistency harness for dm persistent-data / dm-thin metadata\n"
"\n"
"run       Run each scenario (default: every scenarios/*.scn) on the simulated\n"
"          disk, cut the power after every write and flush, build the crash\n"
"          states the disk model allows, reopen each one and check it: the\n"
"          structure must be clean and the state a committed one (rollback,\n"
"          or rollforward to the commit in flight); then more ops and a commit\n"
"          must work.  Each scenario runs twice: NAME with its own cache and\n"
"          NAME+small with a 16-block cache (dirty blocks written back in the\n"
"          middle of transactions).  SCENARIO is a name in scenarios/ or a\n"
"          path to a .scn file.\n"
"  --seed N        seed for random workloads and random persistence choices\n"
"                  (default 1); the same seed gives the same result anywhere\n"
"  --tear          also torn writes (a write lands in part, 512-byte sectors)\n"
"  --io-errors     also, for every read, write and flush N of each run, a run\n"
"                  where op N fails once and one where it fails from N on (a\n"
"                  run with more than 1000 reads: 1000 of them spread evenly,\n"
"                  said in the summary); the\n"
"                  workload aborts and goes on as a caller would, and the\n"
"                  states from that op to the next good commit are checked,\n"
"                  each first reopened with a read error (that open must fail\n"
"                  cleanly) and then without\n"
"  --jobs N        worker processes (default: the number of CPUs); results\n"
"                  do not depend on N\n"
"  --shard K/N     check only states g with g %% N == K (0 <= K < N), to split\n"
"                  one run over machines\n"
"  --report DIR    write DIR/summary.md, DIR/summary.json and DIR/index.html\n"
"  --json          print one JSON object on stdout instead of the table\n"
"  --no-continue   skip the continue-after-recovery step (faster)\n"
"  --fiu NAME[:N]   fail the libfiu point NAME (core/fault.h: bdev/read,\n"
"                  bdev/write, bdev/flush, simdisk/..., core/alloc) at its Nth\n"
"                  hit (default 1) in every workload run; the workload aborts\n"
"                  and goes on, and the states from there on are checked.\n"
"                  The failure ids do not carry it: replay with the same\n"
"                  --fiu.  From outside, fiu-run and fiu-ctrl work too\n"
"  --no-memo       check every state in full; by default a state whose\n"
"                  landed writes miss every block the recovery of the same\n"
"                  cut's base state (nothing landed) read takes that state's\n"
"                  result, since recovery is deterministic\n"
"replay    Rebuild the crash state ID (printed by run for each violation)\n"
"          exactly, check it, print the ops around the cut and the expected\n"
"          state against the found one.\n"
"  --trace         print the whole op log up to the cut\n"
"  --save-image F  write the crash image to F (for thin_check, thin_dump)\n"
"  --expected-xml F  write the model of the state the image recovered to\n"
"                  as thin_dump XML (compare with thin_dump of the image)\n"
"minimize  Shrink the workload of the failing state ID: the ops the run\n"
"          executed up to the cut, then ddmin (remove halves, quarters, ...\n"
"          single ops) while a run of the rest still finds a violation (base\n"
"          variant, same seed, tear and fault kind); at most 300 runs or\n"
"          120 s.  Writes the scenario, prints the op counts and the new id.\n"
"          Exit 1 (it still fails); 2 if ID does not fail in this build.\n"
"  -o FILE         where to write it (default ./NAME-min.scn; must end in\n"
"                  .scn: the new id names it by its path)\n"
"merge     Merge the --json outputs of the shards of one run (--shard K/N)\n"
"          into the JSON of the whole run on stdout: states and outcomes\n"
"          summed, violations joined; seconds is the longest shard's (so\n"
"          states_per_second is the throughput of the shards together),\n"
"          jobs the sum.  The runs must agree on everything else (exit 2).\n"
"list      The scenarios in scenarios/.\n"
"mutants   The planted bugs of the mutants build (make mutants).\n"
"\n"
"Every command but list, mutants and merge also takes --mutant NAME in the\n"
"mutants build (build/pdcrash-mutants) to switch one planted bug on.\n"
"Failure ids: NAME:sSEED:cCUT:pIDX-of-N[:t]:eFAULT (scenario and variant, seed,\n"
"cut point, persistence choice, torn, fault).\n"
"Exit: 0 every state survived; 1 a violation (ids printed); 2 bad usage or\n"
"bad input.\n";

/* NAME[:N]: a fault point of core/fault.h, failed at its Nth hit. */
static int parse_fiu(char *arg, const char **name, uint64_t *nth)
{
	char *colon = strchr(arg, ':');
	int r;

	*nth = 1;
	if (colon) {
		*colon = 0;
		if (cli_parse_u64_arg("--fiu", colon + 1, nth))
			return 2;
		if (!*nth)
			return cli_usage_error("--fiu %s:0: N counts from 1", arg);
	}
	r = workload_fiu_check(arg);
	if (r == -EOPNOTSUPP)
		return cli_usage_error("--fiu %s needs a build with libfiu points "
				       "(FIU=1, the default)", arg);
	if (r)
		return cli_usage_error("--fiu: no fault point '%s' (see core/fault.h)",
				       arg);
	*name = arg;
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct scenario *scs[MAX_SCENARIOS];
	struct run_opts o = { .scenarios = scs, .seed = 1, .jobs = cli_default_jobs() };
	struct run_summary sum;
	const char *args[MAX_SCENARIOS];
	size_t nr_args = 0;
	char **names = NULL;
	size_t nr_names = 0;
	int rc = 0, r;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;

		if (!strcmp(a, "--seed")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", a);
			if ((rc = cli_parse_u64_arg(a, argv[++i], &o.seed)))
				return rc;
		} else if (!strcmp(a, "--tear")) {
			o.tear = 1;
		} else if (!strcmp(a, "--io-errors")) {
			o.io_errors = 1;
		} else if (!strcmp(a, "--jobs")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", a);
			if ((rc = cli_parse_u64_arg(a, argv[++i], &v)))
				return rc;
			if (v < 1 || v > 64)
				return cli_usage_error("--jobs must be 1..64, got %s", argv[i]);
			o.jobs = (unsigned)v;
		} else if (!strcmp(a, "--shard")) {
			unsigned k, n;
			char extra;

			if (i + 1 >= argc)
				return cli_usage_error("%s needs K/N", a);
			if (sscanf(argv[++i], "%u/%u%c", &k, &n, &extra) != 2 ||
			    !n || k >= n)
				return cli_usage_error("bad --shard '%s' (want K/N, 0 <= K < N)",
						   argv[i]);
			o.shard_k = k;
			o.shard_n = n;
		} else if (!strcmp(a, "--report")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a directory", a);
			o.report_dir = argv[++i];
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "--no-continue")) {
			o.no_continue = 1;
		} else if (!strcmp(a, "--no-memo")) {
			o.no_memo = 1;
		} else if (!strcmp(a, "--fiu")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs NAME[:N]", a);
			if ((rc = parse_fiu(argv[++i], &o.fiu_name, &o.fiu_nth)))
				return rc;
		} else if (!strcmp(a, "--mutant")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a name", a);
			o.mutant = argv[++i];
			if ((rc = cli_set_mutant(o.mutant)))
				return rc;
		} else if (a[0] == '-') {
			return cli_usage_error("unknown option '%s'", a);
		} else {
			if (nr_args == MAX_SCENARIOS)
				return cli_usage_error("too many scenarios (at most 256)%s", "");
			args[nr_args++] = a;
		}
	}
	/* Options first, then the scenarios: a usage error leaves nothing
	 * loaded behind. */
	for (size_t i = 0; i < nr_args; i++) {
		if ((rc = cli_load_named(args[i], &scs[o.nr_scenarios])))
			goto out;
		o.nr_scenarios++;
	}
	if (!o.nr_scenarios) {
		if ((rc = cli_list_scenarios(&names, &nr_names)))
			return rc;
		if (!nr_names) {
			fprintf(stderr, "pdcrash: no scenarios found\n");
			rc = 2;
			goto out;
		}
		for (size_t i = 0; i < nr_names && i < MAX_SCENARIOS; i++) {
			if ((rc = cli_load_named(names[i], &scs[o.nr_scenarios])))
				goto out;
			o.nr_scenarios++;
		}
	}
	o.progress = !o.json && isatty(2);
	r = driver_run(&o, &sum);
	if (r) {
		fprintf(stderr, "pdcrash: run failed: %s\n", pd_strerror(r));
		rc = 2;
		run_summary_free(&sum);
		goto out;
	}
	if (o.json)
		report_print_json(&o, &sum, stdout);
	else
		report_print_text(&o, &sum, stdout);
	if (o.report_dir) {
		r = report_write(&o, &sum, o.report_dir);
		if (r) {
			fprintf(stderr, "pdcrash: cannot write the report in %s: %s\n",
				o.report_dir, strerror(-r));
			rc = 2;
		} else if (!o.json) {
			printf("report: %s/index.html, summary.md, summary.json\n",
			       o.report_dir);
		}
	}
	if (!rc)
		rc = sum.nr_violations ? 1 : 0;
	run_summary_free(&sum);
out:
	for (size_t i = 0; i < o.nr_scenarios; i++)
		scenario_free(scs[i]);
	for (size_t i = 0; i < nr_names; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	char **names;
	size_t nr;
	int rc;

	(void)argv;
	if (argc)
		return cli_usage_error("list takes no arguments%s", "");
	if ((rc = cli_list_scenarios(&names, &nr)))
		return rc;
	for (size_t i = 0; i < nr; i++) {
		struct scenario *sc;

		if (cli_load_named(names[i], &sc) == 0) {
			printf("%-24s %zu ops, data=%" PRIu64 " meta=%" PRIu64
			       " cache=%u\n", names[i], sc->nr_ops,
			       sc->geo.data_blocks, sc->geo.meta_blocks,
			       sc->geo.cache_blocks);
			scenario_free(sc);
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

static int cmd_mutants(int argc, char **argv)
{
	(void)argv;
	if (argc)
		return cli_usage_error("mutants takes no arguments%s", "");
	for (const struct pd_mutant_info *m = pd_mutant_names; m->name; m++)
		printf("%-28s %s\n", m->name, m->what);
#ifndef PD_MUTANTS
	printf("(this build has none compiled in: use build/pdcrash-mutants)\n");
#endif
	return 0;
}

static int cmd_replay(int argc, char **argv)
{
	const char *idtext = NULL, *save = NULL, *xml = NULL;
	struct check_opts copts = { 0 };
	struct run_config cfg = { 0 };
	struct run_result res;
	struct sd_cutter *cutter = NULL;
	struct scenario *sc = NULL;
	struct check_out out;
	struct state_id id;
	struct expect e;
	char err[512], base[128];
	int trace = 0, rc = 0, r;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--trace")) {
			trace = 1;
		} else if (!strcmp(argv[i], "--save-image")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a file name", argv[i]);
			save = argv[++i];
		} else if (!strcmp(argv[i], "--fiu")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs NAME[:N]", argv[i]);
			if ((rc = parse_fiu(argv[++i], &cfg.fiu_name, &cfg.fiu_nth)))
				return rc;
		} else if (!strcmp(argv[i], "--expected-xml")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a file name", argv[i]);
			xml = argv[++i];
		} else if (!strcmp(argv[i], "--mutant")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a name", argv[i]);
			if ((rc = cli_set_mutant(argv[++i])))
				return rc;
		} else if (argv[i][0] == '-') {
			return cli_usage_error("unknown option '%s'", argv[i]);
		} else if (idtext) {
			return cli_usage_error("replay takes one id, got '%s' too", argv[i]);
		} else {
			idtext = argv[i];
		}
	}
	if (!idtext)
		return cli_usage_error("replay needs an id%s", "");
	if (state_id_parse(idtext, &id, err, sizeof(err)))
		return cli_usage_error("%s", err);
	if (cli_split_variant(id.name, base, sizeof(base), &cfg.cache_blocks))
		return cli_usage_error("unknown variant in '%s' (only +small)", id.name);
	if ((rc = cli_load_named(base, &sc)))
		return rc;
	cfg.sc = sc;
	cfg.seed = id.seed;
	cfg.fault = id.fault;
	cfg.keep_state = -1;
	r = workload_run(&cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", base, pd_strerror(r));
		scenario_free(sc);
		return 2;
	}
	if (id.cut > simdisk_nr_ops(res.sd)) {
		fprintf(stderr, "pdcrash: id %s: cut %" PRIu64 " is past the end "
			"of the log (%" PRIu64 " entries): not an id of this "
			"scenario and seed\n", idtext, id.cut, simdisk_nr_ops(res.sd));
		rc = 2;
		goto out;
	}
	workload_expect(&res, id.cut, &e);
	/* Run again keeping the model of the last committed state, for the
	 * expected-against-found difference. */
	run_result_free(&res);
	cfg.keep_state = e.committed;
	r = workload_run(&cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", base, pd_strerror(r));
		rc = 2;
		goto out;
	}
	r = sd_cutter_create(res.sd, &cutter);
	if (!r)
		r = sd_cutter_seek(cutter, id.cut);
	if (r) {
		fprintf(stderr, "pdcrash: cannot cut the log: %s\n", pd_strerror(r));
		rc = 2;
		goto out;
	}
	size_t np = sd_cutter_nr_pending(cutter);
	if (nr_choices(np, id.tear) != id.nr_choices) {
		fprintf(stderr, "pdcrash: id %s: the cut has %zu pending writes, "
			"so %" PRIu64 " choices, not %" PRIu64 ": not an id of this "
			"scenario and seed\n", idtext, np, nr_choices(np, id.tear),
			id.nr_choices);
		rc = 2;
		goto out;
	}
	printf("state %s\n", idtext);
	printf("scenario %s (%s), seed %" PRIu64 ", cache %u blocks\n", base,
	       sc->path, id.seed, res.geo.cache_blocks);
	if (res.live_failed)
		printf("live run failed: %s\n", res.live_msg);
	printf("cut after log entry %" PRIu64 " of %" PRIu64 "; %zu pending "
	       "writes; choice %" PRIu64 " of %" PRIu64 "%s\n", id.cut,
	       simdisk_nr_ops(res.sd), np, id.choice, id.nr_choices,
	       id.tear ? " (torn writes on)" : "");
	printf("expected: committed state %" PRId64 "%s%s\n", e.committed,
	       e.hi > e.committed ? ", or the one in flight" : "",
	       e.lo < e.committed ? ", or the one before (uncertain commit)" : "");
	printf("log around the cut:\n");
	uint64_t from = trace || id.cut < 40 ? 0 : id.cut - 40;
	for (uint64_t i = from; i < id.cut; i++)
		cli_print_op_line(&res, i);
	printf("  ------  power cut here\n");
	for (uint64_t i = id.cut; i < simdisk_nr_ops(res.sd) && i < id.cut + 5; i++)
		cli_print_op_line(&res, i);
	const struct sd_pending *pend = sd_cutter_pending(cutter);
	{
		uint8_t *landed = malloc(np + 1);
		uint64_t *sectors = malloc((np + 1) * sizeof(*sectors));

		if (landed && sectors) {
			make_choice(np, id.tear, id.seed, id.cut, id.choice, landed,
				    sectors);
			for (size_t j = 0; j < np; j++) {
				printf("  pending write %zu: log entry %" PRIu64
				       ", block %" PRIu64 ": %s", j, pend[j].seq,
				       pend[j].block, landed[j] ? "landed" : "lost");
				if (landed[j] && sectors[j] != UINT64_MAX)
					printf(" (sectors 0x%02" PRIx64 ")", sectors[j] & 0xff);
				printf("\n");
			}
		}
		free(landed);
		free(sectors);
	}
	copts.save_image = save;
	/* ids with a fault come from --io-errors runs, which reopen each
	 * state through a failing read first: do the same */
	copts.recovery_fault = id.fault.kind != FAULT_NONE;
	check_state(&res, cutter, &id, &copts, NULL, &out);
	printf("outcome: %s: %s\n", outcome_name(out.outcome), out.msg);
	if (save)
		printf("image saved to %s\n", save);
	if (out.outcome == OUT_VIOLATION && res.kept) {
		/* The found state, against the last committed one. */
		struct thin_pool_params p = {
			.data_block_size = res.geo.block_size,
			.cache_blocks = res.geo.cache_blocks,
			.flags = THIN_OPEN_READ_ONLY,
		};
		struct thin_pool *pool;
		struct bdev *image;
		uint8_t *landed = malloc(np + 1);
		uint64_t *sectors = malloc((np + 1) * sizeof(*sectors));
		char diff[8192];

		if (landed && sectors) {
			make_choice(np, id.tear, id.seed, id.cut, id.choice, landed,
				    sectors);
			struct sd_choice ch = { np, landed, id.tear ? sectors : NULL };
			if (!sd_cutter_image(cutter, &ch, &image)) {
				if (!thin_pool_open(image, &p, &pool)) {
					size_t nd = oracle_diff(res.kept, pool, diff,
								sizeof(diff), 40);
					printf("found against committed state %" PRId64
					       ": %zu difference%s\n%s", e.committed,
					       nd, nd == 1 ? "" : "s", diff);
					thin_pool_destroy(pool);
				}
				bdev_destroy(image);
			}
		}
		free(landed);
		free(sectors);
	}
	if (xml && out.state >= 0) {
		/* The model of the state the image recovered to, as thin_dump
		 * would print it: run once more keeping that state. */
		struct run_result res2;
		FILE *f;

		cfg.keep_state = out.state;
		r = workload_run(&cfg, &res2);
		int ran = !r;
		if (!r && res2.kept && (f = fopen(xml, "w"))) {
			r = oracle_write_xml(res2.kept, res2.geo.block_size, f);
			if (fclose(f) && !r)
				r = -EIO;
		} else if (!r) {
			r = res2.kept ? -errno : -ENODATA;
		}
		if (r) {
			fprintf(stderr, "pdcrash: cannot write %s: %s\n", xml,
				pd_strerror(r));
			rc = 2;
		} else {
			printf("expected state %" PRId64 " written to %s\n",
			       out.state, xml);
		}
		if (ran)
			run_result_free(&res2);
		if (rc)
			goto out;
	}
	rc = out.outcome == OUT_VIOLATION ? 1 : 0;
out:
	sd_cutter_destroy(cutter);
	run_result_free(&res);
	scenario_free(sc);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("no command%s", "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		printf("%s\n%s", cli_usage_text, help_text);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s\n%s", cli_usage_text, help_text);
			return 0;
		}
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "replay"))
		return cmd_replay(argc - 2, argv + 2);
	if (!strcmp(argv[1], "list"))
		return cmd_list(argc - 2, argv + 2);
	if (!strcmp(argv[1], "mutants"))
		return cmd_mutants(argc - 2, argv + 2);
	if (!strcmp(argv[1], "minimize"))
		return cmd_minimize(argc - 2, argv + 2);
	if (!strcmp(argv[1], "merge"))
		return cmd_merge(argc - 2, argv + 2);
	return cli_usage_error("unknown command '%s'", argv[1]);
}
