/* harness/pdcrash/cli.c - what the pdcrash commands share: usage errors,
 * finding and loading scenarios, numbers, mutants, variants, log lines. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "driver.h"
#include "errors.h"
#include "mutant.h"

const char cli_usage_text[] =
"usage: pdcrash run [SCENARIO...] [--seed N] [--tear] [--io-errors]\n"
"                   [--media-faults]\n"
"                   [--alloc-faults [--alloc-depth N] [--alloc-site KEY]]\n"
"                   [--jobs N] [--shard K/N] [--report DIR]\n"
"                   [--json] [--no-continue] [--no-memo] [--fiu NAME[:N]]\n"
"                   [--fail-fast] [--sample] [--damage]\n"
"                   [--max-branches N] [--backend core|kernel-6.1|kernel-6.12|kernel]\n"
"       pdcrash replay ID [--trace] [--save-image FILE] [--expected-xml FILE]\n"
"                         [--fiu NAME[:N]]\n"
"       pdcrash minimize ID [-o FILE] [--max-runs N] [--max-seconds S]\n"
"       pdcrash diff [SCENARIO...] [--backends A,B] [--seed N]\n"
"                        [--save-images DIR] [--causes] [--verbose]\n"
"       pdcrash search [--seconds S] [--runs N] [--seed N] [--jobs N] [--shard K/N]\n"
"                      [--corpus DIR] [--seed-dir DIR] [--faults N] [--keep-going]\n"
"                      [--no-minimize] [--max-branches N] [--mutant NAME]\n"
"       pdcrash merge FILE...\n"
"       pdcrash list\n"
"       pdcrash mutants\n"
"       pdcrash --help\n";

int cli_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "pdcrash: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", cli_usage_text);
	return 2;
}

/* The scenarios directory: $PDCRASH_SCENARIOS, else scenarios/ beside the
 * build directory holding this program, else ./scenarios.  (Names are
 * paths below it without .scn: deep, or reach/absorb-shared for a
 * subfolder's.) */
void cli_scenario_dir(char *out, size_t len)
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

/* A name of a scenario in a subfolder of the scenarios directory
 * (reach/absorb-shared): 1 and its path if DIR/NAME.scn exists. */
static int in_scenario_dir(const char *arg, char *path, size_t len)
{
	char dir[PATH_MAX];
	int k;

	if (!strchr(arg, '/') || strstr(arg, ".scn") || arg[0] == '/' ||
	    arg[0] == '.')
		return 0;
	cli_scenario_dir(dir, sizeof(dir));
	k = snprintf(path, len, "%s/%s.scn", dir, arg);
	return k > 0 && (size_t)k < len && access(path, R_OK) == 0;
}

int cli_load_named(const char *arg, struct scenario **sc)
{
	char path[PATH_MAX + 64], dir[PATH_MAX], err[512];
	int r;

	if (in_scenario_dir(arg, path, sizeof(path))) {
		r = scenario_load(path, sc, err, sizeof(err));
		if (r) {
			fprintf(stderr, "pdcrash: %s\n", err);
			return 2;
		}
		char *name = strdup(arg);

		if (!name) {
			scenario_free(*sc);
			return 2;
		}
		free((*sc)->name);
		(*sc)->name = name;
		return 0;
	}
	if (strchr(arg, '/') || strstr(arg, ".scn")) {
		snprintf(path, sizeof(path), "%s%s", arg,
			 strstr(arg, ".scn") ? "" : ".scn");
	} else {
		cli_scenario_dir(dir, sizeof(dir));
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

/* Add every .scn file under dir/sub (sub "" for the top) to names, as
 * SUB/NAME without .scn, subfolders included.  0, or -ENOMEM. */
static int list_dir(const char *dir, const char *sub, char ***names,
		    size_t *nr, int depth)
{
	char path[PATH_MAX], rel[PATH_MAX];
	struct dirent *de;
	int r = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s%s%s", dir, *sub ? "/" : "", sub);
	d = opendir(path);
	if (!d)
		return depth ? 0 : -errno;
	while (!r && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat st;
		char full[PATH_MAX * 2];

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "",
			 de->d_name);
		snprintf(full, sizeof(full), "%s/%s", dir, rel);
		if (stat(full, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < 8)
				r = list_dir(dir, rel, names, nr, depth + 1);
			continue;
		}
		if (n <= 4 || strcmp(de->d_name + n - 4, ".scn"))
			continue;
		char **nn = realloc(*names, (*nr + 1) * sizeof(*nn));
		if (!nn) {
			r = -ENOMEM;
			break;
		}
		*names = nn;
		(*names)[*nr] = strndup(rel, strlen(rel) - 4);
		(*nr)++;
	}
	closedir(d);
	return r;
}

/* Every .scn file of the scenarios directory and its subfolders, sorted
 * by name (a subfolder's as SUB/NAME, e.g. reach/absorb-shared). */
int cli_list_scenarios(char ***names, size_t *nr)
{
	char dir[PATH_MAX];
	int r;

	cli_scenario_dir(dir, sizeof(dir));
	*names = NULL;
	*nr = 0;
	r = list_dir(dir, "", names, nr, 0);
	if (r) {
		fprintf(stderr, "pdcrash: cannot read %s: %s\n", dir, strerror(-r));
		return 2;
	}
	if (*nr > 1)		/* qsort of NULL, 0 is undefined */
		qsort(*names, *nr, sizeof(**names), cmp_str);
	return 0;
}

/* Every .scn below the folder arg, sorted, as names cli_load_named takes:
 * relative to the scenarios directory when the folder is in it
 * (cache/basic), else as paths (DIR/NAME.scn). */
static int folder_names(const char *arg, char ***names, size_t *nr)
{
	char dir[PATH_MAX], rdir[PATH_MAX], rarg[PATH_MAX];
	size_t n;
	int inside, r;

	cli_scenario_dir(dir, sizeof(dir));
	inside = realpath(dir, rdir) && realpath(arg, rarg) &&
		 !strncmp(rarg, rdir, (n = strlen(rdir))) &&
		 (rarg[n] == '/' || !rarg[n]);
	*names = NULL;
	*nr = 0;
	r = inside ? list_dir(rdir, rarg[n] ? rarg + n + 1 : "", names, nr, 0) :
		     list_dir(arg, "", names, nr, 0);
	for (size_t i = 0; !r && !inside && i < *nr; i++) {
		char *path = malloc(strlen(arg) + strlen((*names)[i]) + 6);

		if (!path) {
			r = -ENOMEM;
			break;
		}
		sprintf(path, "%s/%s.scn", arg, (*names)[i]);
		free((*names)[i]);
		(*names)[i] = path;
	}
	if (!r)
		qsort(*names, *nr, sizeof(**names), cmp_str);
	return r;
}

int cli_load_arg(const char *arg, struct scenario **scs, size_t max,
		 size_t *nr)
{
	struct stat st;
	char **names;
	size_t nn;
	int r, rc = 0;

	if ((stat(arg, &st) || !S_ISDIR(st.st_mode)) && !strstr(arg, ".scn")) {
		/* A folder of the scenarios directory by its name (cache,
		 * reach), when no scenario has that name. */
		char dir[PATH_MAX], sub[PATH_MAX + 64];

		cli_scenario_dir(dir, sizeof(dir));
		snprintf(sub, sizeof(sub), "%s/%s.scn", dir, arg);
		if (stat(sub, &st)) {
			snprintf(sub, sizeof(sub), "%s/%s", dir, arg);
			if (!stat(sub, &st) && S_ISDIR(st.st_mode))
				return cli_load_arg(sub, scs, max, nr);
		}
	}
	if (stat(arg, &st) || !S_ISDIR(st.st_mode)) {
		if (*nr == max)
			return cli_usage_error("too many scenarios (at most %s)",
					       "256");
		rc = cli_load_named(arg, &scs[*nr]);
		if (!rc)
			(*nr)++;
		return rc;
	}
	r = folder_names(arg, &names, &nn);
	if (r) {
		fprintf(stderr, "pdcrash: cannot read %s: %s\n", arg, strerror(-r));
		return 2;
	}
	if (!nn) {
		fprintf(stderr, "pdcrash: no scenarios in %s\n", arg);
		rc = 2;
	}
	for (size_t i = 0; i < nn && !rc; i++)
		rc = cli_load_arg(names[i], scs, max, nr);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	return rc;
}

int cli_parse_u64_arg(const char *flag, const char *s, uint64_t *v)
{
	char *end;

	if (!s)
		return cli_usage_error("%s needs a value", flag);
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || !*s || *end || *s == '-')
		return cli_usage_error("bad number for %s", flag);
	return 0;
}

int cli_set_mutant(const char *name)
{
	int r = pd_mutant_set(name);

	if (r == -EOPNOTSUPP) {
		fprintf(stderr, "pdcrash: --mutant needs the mutants build "
			"(make mutants; build/pdcrash-mutants)\n");
		return 2;
	}
	if (r) {
		fprintf(stderr, "pdcrash: --mutant: unknown mutant '%s' ('pdcrash "
			"mutants' lists them)\n", name);
		return 2;
	}
	return 0;
}

unsigned cli_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
}

void cli_print_op_line(const struct run_result *res, uint64_t i)
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
				printf("  (line %u%s)", ro->op.line,
				       ro->op.aim_extra ? ", aim extra" : "");
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

void cli_print_alloc_fault(const struct run_result *res,
			   const struct fault_spec *f)
{
	int k = f->kind == FAULT_NOSPACE;
	const char *what = k ? "space-map new_block call" : "allocation";
	const char *err = k ? "-ENOSPC" : "NULL (-ENOMEM)";

	if (!fault_is_alloc(f->kind))
		return;
	if (!res->alloc_fired) {
		printf("allocation failure: never happened (the run makes %"
		       PRIu64 " %ss)\n", res->alloc_hits[k], what);
		return;
	}
	printf("allocation failure: %s %" PRIu64 " returned %s at log entry %"
	       PRIu64, what, f->nth, err, res->alloc_seq);
	if (res->alloc_op == SIZE_MAX) {
		printf(", in the format\n");
		return;
	}
	char buf[128];

	op_format(&res->ops[res->alloc_op].op, buf, sizeof(buf));
	printf(", in op %zu '%s'; %s\n", res->alloc_op, buf,
	       res->injected && !res->stopped ? "an op failed with it, the "
	       "pool was aborted and went on" :
	       res->stopped ? "the pool's abort failed (with it, or after "
	       "it): the pool is dead, the run stopped" :
	       "no op failed (the core absorbed it)");
}

/* Split NAME+VARIANT into the scenario and its cache override. */
int cli_split_variant(const char *name, char *base, size_t len,
			 unsigned *cache)
{
	const char *plus = strrchr(name, '+');

	*cache = 0;
	if (!plus) {
		snprintf(base, len, "%.*s", (int)strcspn(name, "@"), name);
		return 0;
	}
	if (strncmp(plus + 1, "small", 5) ||
	    (plus[6] && plus[6] != '@'))
		return -EINVAL;
	snprintf(base, len, "%.*s", (int)(plus - name), name);
	*cache = SMALL_CACHE_BLOCKS;
	return 0;
}

int cli_parse_backend(const char *name, const struct client_ops **ops)
{
	const struct client_ops *o = NULL;
	int r = client_backend_find(name, &o);

	if (r == -EINVAL)
		return cli_usage_error("unknown backend '%s' (core, kernel-6.1, "
				       "kernel-6.12, kernel)", name);
	if (r) {
		fprintf(stderr, "pdcrash: backend '%s' is not built into this "
			"pdcrash (it has: %s); make with the linux-source "
			"packages (KERNEL=1), and KERNEL_SRC=DIR for 'kernel'\n",
			name, client_backends_built());
		return 2;
	}
	*ops = o == &client_core_ops ? NULL : o;
	return 0;
}

int cli_split_backend(const char *name, const struct client_ops **ops)
{
	const char *at = strrchr(name, '@');

	*ops = NULL;
	if (!at)
		return 0;
	return cli_parse_backend(at + 1, ops);
}

/* NAME[:N]: a fault point of core/fault.h, failed at its Nth hit. */
int cli_parse_fiu(char *arg, const char **name, uint64_t *nth)
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
