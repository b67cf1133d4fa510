/* harness/main_pdcrash.c - the pdcrash command (DESIGN.md section 5). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "errors.h"
#include "mutant.h"

#define MAX_SCENARIOS 256

static const char usage_text[] =
"usage: pdcrash run [SCENARIO...] [--seed N] [--tear] [--io-errors] [--jobs N]\n"
"                   [--shard K/N] [--report DIR] [--json] [--no-continue]\n"
"       pdcrash replay ID [--trace] [--save-image FILE]\n"
"       pdcrash list\n"
"       pdcrash mutants\n"
"       pdcrash --help\n";

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
"                  where op N fails once and one where it fails from N on; the\n"
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
"replay    Rebuild the crash state ID (printed by run for each violation)\n"
"          exactly, check it, print the ops around the cut and the expected\n"
"          state against the found one.\n"
"  --trace         print the whole op log up to the cut\n"
"  --save-image F  write the crash image to F (for thin_check, thin_dump)\n"
"list      The scenarios in scenarios/.\n"
"mutants   The planted bugs of the mutants build (make mutants).\n"
"\n"
"Every command but list and mutants also takes --mutant NAME in the mutants\n"
"build (build/pdcrash-mutants) to switch one planted bug on.\n"
"Failure ids: NAME:sSEED:cCUT:pIDX-of-N[:t]:eFAULT (scenario and variant, seed,\n"
"cut point, persistence choice, torn, fault).\n"
"Exit: 0 every state survived; 1 a violation (ids printed); 2 bad usage or\n"
"bad input.\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "pdcrash: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	return 2;
}

/* The scenarios directory: $PDCRASH_SCENARIOS, else scenarios/ beside the
 * build directory holding this program, else ./scenarios.  (Names are
 * plain file names there, without .scn.) */
static void scenario_dir(char *out, size_t len)
{
	const char *env = getenv("PDCRASH_SCENARIOS");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			slash = strrchr(exe, '/');
			if (slash) {
				*slash = 0;
				int k = snprintf(out, len, "%s/scenarios", exe);

				if (k > 0 && (size_t)k < len && access(out, R_OK) == 0)
					return;
			}
		}
	}
	snprintf(out, len, "scenarios");
}

static int load_named(const char *arg, struct scenario **sc)
{
	char path[PATH_MAX + 64], dir[PATH_MAX], err[512];
	int r;

	if (strchr(arg, '/') || strstr(arg, ".scn")) {
		snprintf(path, sizeof(path), "%s%s", arg,
			 strstr(arg, ".scn") ? "" : ".scn");
	} else {
		scenario_dir(dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/%s.scn", dir, arg);
	}
	r = scenario_load(path, sc, err, sizeof(err));
	if (!r && (strchr(arg, '/') || strstr(arg, ".scn"))) {
		/* A scenario given by path is named by its path, so that its
		 * failure ids replay from anywhere the path is valid. */
		char *name = strdup(path);

		if (!name) {
			scenario_free(*sc);
			return 2;
		}
		name[strlen(name) - 4] = 0;
		free((*sc)->name);
		(*sc)->name = name;
	}
	if (r) {
		if (r == -ENOENT && !strchr(arg, '/'))
			fprintf(stderr, "pdcrash: no scenario '%s' (%s); "
				"'pdcrash list' shows them\n", arg, path);
		else
			fprintf(stderr, "pdcrash: %s\n", err);
		return 2;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .scn file of the scenarios directory, sorted by name. */
static int list_scenarios(char ***names, size_t *nr)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	scenario_dir(dir, sizeof(dir));
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "pdcrash: cannot read %s: %s\n", dir, strerror(errno));
		return 2;
	}
	*names = NULL;
	*nr = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n <= 4 || strcmp(de->d_name + n - 4, ".scn"))
			continue;
		char **nn = realloc(*names, (*nr + 1) * sizeof(*nn));
		if (!nn)
			break;
		*names = nn;
		(*names)[*nr] = strndup(de->d_name, n - 4);
		(*nr)++;
	}
	closedir(d);
	qsort(*names, *nr, sizeof(**names), cmp_str);
	return 0;
}

static int parse_u64_arg(const char *flag, const char *s, uint64_t *v)
{
	char *end;

	if (!s)
		return usage_error("%s needs a value", flag);
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || !*s || *end || *s == '-')
		return usage_error("bad number for %s", flag);
	return 0;
}

static int set_mutant(const char *name)
{
	int r = pd_mutant_set(name);

	if (r == -EOPNOTSUPP) {
		fprintf(stderr, "pdcrash: --mutant needs the mutants build "
			"(make mutants; build/pdcrash-mutants)\n");
		return 2;
	}
	if (r) {
		fprintf(stderr, "pdcrash: unknown mutant '%s' ('pdcrash mutants' "
			"lists them)\n", name);
		return 2;
	}
	return 0;
}

static unsigned default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
}

static int cmd_run(int argc, char **argv)
{
	struct scenario *scs[MAX_SCENARIOS];
	struct run_opts o = { .scenarios = scs, .seed = 1, .jobs = default_jobs() };
	struct run_summary sum;
	char **names = NULL;
	size_t nr_names = 0;
	int rc = 0, r;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;

		if (!strcmp(a, "--seed")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", a);
			if ((rc = parse_u64_arg(a, argv[++i], &o.seed)))
				return rc;
		} else if (!strcmp(a, "--tear")) {
			o.tear = 1;
		} else if (!strcmp(a, "--io-errors")) {
			o.io_errors = 1;
		} else if (!strcmp(a, "--jobs")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", a);
			if ((rc = parse_u64_arg(a, argv[++i], &v)))
				return rc;
			if (v < 1 || v > 64)
				return usage_error("--jobs must be 1..64, got %s", argv[i]);
			o.jobs = (unsigned)v;
		} else if (!strcmp(a, "--shard")) {
			unsigned k, n;
			char extra;

			if (i + 1 >= argc)
				return usage_error("%s needs K/N", a);
			if (sscanf(argv[++i], "%u/%u%c", &k, &n, &extra) != 2 ||
			    !n || k >= n)
				return usage_error("bad --shard '%s' (want K/N, 0 <= K < N)",
						   argv[i]);
			o.shard_k = k;
			o.shard_n = n;
		} else if (!strcmp(a, "--report")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a directory", a);
			o.report_dir = argv[++i];
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "--no-continue")) {
			o.no_continue = 1;
		} else if (!strcmp(a, "--mutant")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a name", a);
			o.mutant = argv[++i];
			if ((rc = set_mutant(o.mutant)))
				return rc;
		} else if (a[0] == '-') {
			return usage_error("unknown option '%s'", a);
		} else {
			if (o.nr_scenarios == MAX_SCENARIOS)
				return usage_error("too many scenarios (at most 256)%s", "");
			if ((rc = load_named(a, &scs[o.nr_scenarios])))
				goto out;
			o.nr_scenarios++;
		}
	}
	if (!o.nr_scenarios) {
		if ((rc = list_scenarios(&names, &nr_names)))
			return rc;
		if (!nr_names) {
			fprintf(stderr, "pdcrash: no scenarios found\n");
			rc = 2;
			goto out;
		}
		for (size_t i = 0; i < nr_names && i < MAX_SCENARIOS; i++) {
			if ((rc = load_named(names[i], &scs[o.nr_scenarios])))
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
		return usage_error("list takes no arguments%s", "");
	if ((rc = list_scenarios(&names, &nr)))
		return rc;
	for (size_t i = 0; i < nr; i++) {
		struct scenario *sc;

		if (load_named(names[i], &sc) == 0) {
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
		return usage_error("mutants takes no arguments%s", "");
	for (const struct pd_mutant_info *m = pd_mutant_names; m->name; m++)
		printf("%-28s %s\n", m->name, m->what);
#ifndef PD_MUTANTS
	printf("(this build has none compiled in: use build/pdcrash-mutants)\n");
#endif
	return 0;
}

static void print_op_line(const struct run_result *res, uint64_t i)
{
	const struct sd_op *op = simdisk_op(res->sd, i);

	switch (op->kind) {
	case SD_MARKER:
		if (op->marker == MK_OP) {
			char buf[128];
			const struct run_op *ro = &res->ops[op->value];

			op_format(&ro->op, buf, sizeof(buf));
			printf("  %6" PRIu64 "  -- op %" PRIu64 ": %s", i, op->value, buf);
			if (ro->op.line)
				printf("  (line %u)", ro->op.line);
			printf("\n");
		} else {
			uint64_t v = op->value & ~MK_UNCERTAIN;

			printf("  %6" PRIu64 "  -- %s %" PRIu64 "%s\n", i,
			       op->marker == MK_COMMIT_BEGIN ? "commit-begin" :
							      "commit-end",
			       v, op->value & MK_UNCERTAIN ? " (uncertain)" : "");
		}
		break;
	case SD_FLUSH:
		printf("  %6" PRIu64 "  flush%s\n", i, op->failed ? "  FAILED" : "");
		break;
	default:
		printf("  %6" PRIu64 "  %s block %" PRIu64 "%s\n", i,
		       sd_op_kind_name(op->kind), op->block,
		       op->failed ? "  FAILED" : "");
		break;
	}
}

/* Split NAME+VARIANT into the scenario and its cache override. */
static int split_variant(const char *name, char *base, size_t len,
			 unsigned *cache)
{
	const char *plus = strrchr(name, '+');

	*cache = 0;
	if (!plus) {
		snprintf(base, len, "%s", name);
		return 0;
	}
	if (strcmp(plus + 1, "small"))
		return -EINVAL;
	snprintf(base, len, "%.*s", (int)(plus - name), name);
	*cache = SMALL_CACHE_BLOCKS;
	return 0;
}

static int cmd_replay(int argc, char **argv)
{
	const char *idtext = NULL, *save = NULL;
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
				return usage_error("%s needs a file name", argv[i]);
			save = argv[++i];
		} else if (!strcmp(argv[i], "--mutant")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a name", argv[i]);
			if ((rc = set_mutant(argv[++i])))
				return rc;
		} else if (argv[i][0] == '-') {
			return usage_error("unknown option '%s'", argv[i]);
		} else if (idtext) {
			return usage_error("replay takes one id, got '%s' too", argv[i]);
		} else {
			idtext = argv[i];
		}
	}
	if (!idtext)
		return usage_error("replay needs an id%s", "");
	if (state_id_parse(idtext, &id, err, sizeof(err)))
		return usage_error("%s", err);
	if (split_variant(id.name, base, sizeof(base), &cfg.cache_blocks))
		return usage_error("unknown variant in '%s' (only +small)", id.name);
	if ((rc = load_named(base, &sc)))
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
		print_op_line(&res, i);
	printf("  ------  power cut here\n");
	for (uint64_t i = id.cut; i < simdisk_nr_ops(res.sd) && i < id.cut + 5; i++)
		print_op_line(&res, i);
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
	check_state(&res, cutter, &id, &copts, &out);
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
		return usage_error("no command%s", "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		printf("%s\n%s", usage_text, help_text);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s\n%s", usage_text, help_text);
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
	return usage_error("unknown command '%s'", argv[1]);
}
