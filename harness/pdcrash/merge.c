/* harness/pdcrash/merge.c - `pdcrash merge FILE...`: the JSON of shards (`pdcrash
 * run --json --shard K/N`) merged into the JSON of the whole run.
 *
 * Every shard runs every workload in full and checks only its share of
 * the crash states (driver.h), so the keys fall in three groups:
 *   summed      states, outcomes.*, per_variant[].states and .outcomes.*;
 *               writes_checked, write_violations (top and per variant) and
 *               per_variant[].write_walks (write-time rules: shard 0 only);
 *   the same    scenarios, variants, seed, tear, io_errors, mutant, and
 *   in every    what comes from the workloads: cut_points,
 *   file        injected_errors, data_faults (--io-errors: the data
 *               device's fault runs), per_variant[] names (in order),
 *               cut_points, log_ops, commits, runs, setup_io (driver.h
 *               SW1); a difference means the
 *               files are not shards of one run: exit 2 naming the file
 *               and the key;
 *   combined    violations: joined and sorted (as run sorts them); an id
 *               in several files is a live-run failure, which every
 *               shard reports, so it is kept once and its extra counts
 *               come off outcomes.violation; violation_messages: joined;
 *               seconds: the longest shard's, so states_per_second is
 *               the throughput of the shards together; jobs: the sum;
 *               shard: null.
 * Exhaustive runs (mode "exhaustive") add: summed states_total and
 * states_covered (exact decimal strings; their _log2 and covered_all
 * recomputed), recoveries, states_sampled, incomplete_cuts, at the top
 * and per variant; first_incomplete: the first file's that has one.
 * The shards must share N and be distinct; missing shards are merged with
 * a warning on stderr (the result is then not the whole run).  A single
 * whole-run file (shard null) merges into itself.  With all N shards the
 * output equals `pdcrash run --json` of the whole run apart from
 * seconds, states_per_second and jobs.
 * A key it does not know, at the top or in per_variant[], is refused
 * (exit 2) rather than dropped.
 * Exit: 0 no violation, 1 violations, 2 an unreadable or bad file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "report.h"
#include "json.h"

struct shard_file {
	const char *path;
	struct json *root;
	unsigned k, n;			/* n == 0: a whole run */
};

static int bad(const char *path, const char *key, const char *what)
{
	fprintf(stderr, "pdcrash: %s: '%s' %s\n", path, key, what);
	return 2;
}

static int get_u64(const struct shard_file *sf, const struct json *obj,
		   const char *key, uint64_t *v)
{
	const struct json *j = json_get(obj, key);

	if (!j)
		return bad(sf->path, key, "is missing");
	if (j->type != JSON_NUMBER || !j->is_u64)
		return bad(sf->path, key, "is not a whole number");
	*v = j->u64;
	return 0;
}

/* per_variant[].setup_io (driver.h SW1): absent (no setup), null (it
 * never ended: UINT64_MAX each, as the run keeps it) or five numbers. */
static int get_setup(const struct shard_file *sf, const struct json *obj,
		     int *has, uint64_t io[5])
{
	const struct json *j = json_get(obj, "setup_io");

	*has = j != NULL;
	for (int k = 0; k < 5; k++)
		io[k] = j && j->type == JSON_NULL ? UINT64_MAX : 0;
	if (!j || j->type == JSON_NULL)
		return 0;
	if (j->type != JSON_ARRAY || j->nr != 5)
		return bad(sf->path, "per_variant[].setup_io",
			   "is not null or an array of 5 numbers");
	for (int k = 0; k < 5; k++) {
		if (j->items[k].type != JSON_NUMBER || !j->items[k].is_u64)
			return bad(sf->path, "per_variant[].setup_io",
				   "holds something other than whole numbers");
		io[k] = j->items[k].u64;
	}
	return 0;
}

static int get_bool(const struct shard_file *sf, const char *key, int *v)
{
	const struct json *j = json_get(sf->root, key);

	if (!j)
		return bad(sf->path, key, "is missing");
	if (j->type != JSON_TRUE && j->type != JSON_FALSE)
		return bad(sf->path, key, "is not true or false");
	*v = j->type == JSON_TRUE;
	return 0;
}

/* A string or null (*v = NULL). */
static int get_str_or_null(const struct shard_file *sf, const char *key,
			   const char **v)
{
	const struct json *j = json_get(sf->root, key);

	if (!j)
		return bad(sf->path, key, "is missing");
	if (j->type != JSON_STRING && j->type != JSON_NULL)
		return bad(sf->path, key, "is not a string or null");
	*v = j->type == JSON_STRING ? j->str : NULL;
	return 0;
}

static int get_outcomes(const struct shard_file *sf, const struct json *obj,
			const char *where, uint64_t out[OUT_NR])
{
	const struct json *o = json_get(obj, "outcomes");
	char key[160];

	snprintf(key, sizeof(key), "%soutcomes", where);
	if (!o)
		return bad(sf->path, key, "is missing");
	if (o->type != JSON_OBJECT)
		return bad(sf->path, key, "is not an object");
	for (int k = 0; k < OUT_NR; k++) {
		snprintf(key, sizeof(key), "%soutcomes.%s", where,
			 outcome_name((enum outcome)k));
		const struct json *j = json_get(o, outcome_name((enum outcome)k));
		if (!j)
			return bad(sf->path, key, "is missing");
		if (j->type != JSON_NUMBER || !j->is_u64)
			return bad(sf->path, key, "is not a whole number");
		out[k] = j->u64;
	}
	return 0;
}

static int read_all(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, n;
	char *buf = NULL;

	if (!f)
		return -errno;
	*len = 0;
	for (;;) {
		if (cap - *len < 65536) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (!n)
			break;
	}
	if (ferror(f)) {
		int e = errno ? -errno : -EIO;

		free(buf);
		fclose(f);
		return e;
	}
	fclose(f);
	*text = buf;
	return 0;
}

static int load(struct shard_file *sf)
{
	char *text = NULL, err[200];
	size_t len = 0, off = 0;
	const char *shard;
	int r;

	r = read_all(sf->path, &text, &len);
	if (r) {
		fprintf(stderr, "pdcrash: cannot read %s: %s\n", sf->path, strerror(-r));
		return 2;
	}
	r = json_parse(text, len, &sf->root, &off, err, sizeof(err));
	free(text);
	if (r) {
		fprintf(stderr, "pdcrash: %s: not JSON: %s at byte %zu\n", sf->path,
			err, off);
		return 2;
	}
	if (sf->root->type != JSON_OBJECT) {
		fprintf(stderr, "pdcrash: %s: not a JSON object (pdcrash run "
			"--json writes one)\n", sf->path);
		return 2;
	}
	if ((r = get_str_or_null(sf, "shard", &shard)))
		return r;
	sf->k = sf->n = 0;
	if (shard) {
		char extra;

		if (sscanf(shard, "%u/%u%c", &sf->k, &sf->n, &extra) != 2 ||
		    !sf->n || sf->k >= sf->n)
			return bad(sf->path, "shard", "is not K/N (0 <= K < N)");
	}
	return 0;
}

/* The keys report_print_json() writes; any other is refused, not dropped:
 * a key this merge does not know could be one the shards disagree on. */
static const char *const known_keys[] = {
	"scenarios", "variants", "cut_points", "states", "outcomes", "seconds",
	"states_per_second", "jobs", "seed", "tear", "io_errors",
	"injected_errors", "shard", "mutant", "violations",
	"violation_messages", "per_variant", "mode", "states_total",
	"states_total_log2", "states_covered", "states_covered_log2",
	"covered_all", "incomplete_cuts", "recoveries", "states_sampled",
	"writes_checked", "write_violations", "media_faults", "alloc_faults",
	"data_faults", NULL
};

/* The same for each element of per_variant. */
static const char *const known_variant_keys[] = {
	"name", "cut_points", "states", "log_ops", "commits", "outcomes",
	"writes_checked", "write_walks", "write_violations", "runs",
	"setup_io", "states_total", "states_total_log2", "states_covered",
	"states_covered_log2", "covered_all", "incomplete_cuts", "recoveries",
	"states_sampled", "first_incomplete", NULL
};

static int unknown_in(const struct shard_file *sf, const struct json *obj,
		      const char *const *known)
{
	for (size_t i = 0; i < obj->nr; i++) {
		const char *const *k;

		for (k = known; *k && strcmp(*k, obj->keys[i]); k++)
			;
		if (!*k)
			return bad(sf->path, obj->keys[i],
				   "is a key merge does not know");
	}
	return 0;
}

static int unknown_key(const struct shard_file *sf)
{
	return unknown_in(sf, sf->root, known_keys);
}

static int differs(const struct shard_file *sf, const struct shard_file *first,
		   const char *key)
{
	fprintf(stderr, "pdcrash: %s: '%s' differs from %s: not shards of one "
		"run\n", sf->path, key, first->path);
	return 2;
}

static int cmp_violation(const void *a, const void *b)
{
	return strcmp(((const struct violation *)a)->id,
		      ((const struct violation *)b)->id);
}

static int add_violations(const struct shard_file *sf, struct run_summary *sum)
{
	const struct json *ids = json_get(sf->root, "violations");
	const struct json *msgs = json_get(sf->root, "violation_messages");

	if (!ids)
		return bad(sf->path, "violations", "is missing");
	if (ids->type != JSON_ARRAY)
		return bad(sf->path, "violations", "is not an array");
	if (!msgs)
		return bad(sf->path, "violation_messages", "is missing");
	if (msgs->type != JSON_OBJECT)
		return bad(sf->path, "violation_messages", "is not an object");
	for (size_t i = 0; i < ids->nr; i++) {
		const struct json *id = &ids->items[i], *msg;
		struct violation *v;

		if (id->type != JSON_STRING)
			return bad(sf->path, "violations", "holds a non-string");
		if (strlen(id->str) >= sizeof(v->id))
			return bad(sf->path, "violations", "holds an over-long id");
		msg = json_get(msgs, id->str);
		if (msg && msg->type != JSON_STRING)
			return bad(sf->path, "violation_messages",
				   "holds a non-string");
		v = realloc(sum->violations, (sum->nr_violations + 1) * sizeof(*v));
		if (!v) {
			fprintf(stderr, "pdcrash: out of memory\n");
			return 2;
		}
		sum->violations = v;
		v = &sum->violations[sum->nr_violations++];
		snprintf(v->id, sizeof(v->id), "%s", id->str);
		snprintf(v->msg, sizeof(v->msg), "%s", msg ? msg->str : "");
	}
	return 0;
}

/* The coverage keys of an exhaustive run in obj (driver.h), added. */
static int add_cover(const struct shard_file *sf, const struct json *obj,
		     struct variant_stats *vs)
{
	static const char *const keys[2] = { "states_total", "states_covered" };
	struct bignum *dst[2] = { &vs->states_total, &vs->states_covered };
	uint64_t rec, smp, inc;
	const struct json *fi;
	int r;

	for (int k = 0; k < 2; k++) {
		const struct json *v = json_get(obj, keys[k]);
		struct bignum b = BN_INIT;

		if (!v || v->type != JSON_STRING || bn_from_dec(&b, v->str))
			return bad(sf->path, keys[k], "is missing or not a "
				   "decimal string");
		r = bn_add(dst[k], &b);
		bn_free(&b);
		if (r) {
			fprintf(stderr, "pdcrash: out of memory\n");
			return 2;
		}
	}
	if ((r = get_u64(sf, obj, "recoveries", &rec)) ||
	    (r = get_u64(sf, obj, "states_sampled", &smp)) ||
	    (r = get_u64(sf, obj, "incomplete_cuts", &inc)))
		return r;
	vs->recoveries += rec;
	vs->sampled += smp;
	vs->incomplete_cuts += inc;
	fi = json_get(obj, "first_incomplete");
	if (fi && fi->type == JSON_STRING && !vs->first_incomplete[0])
		snprintf(vs->first_incomplete, sizeof(vs->first_incomplete),
			 "%s", fi->str);
	return 0;
}

/* The per_variant list: the first file defines it, the others must
 * match it and add their states and outcomes. */
static int add_variants(const struct shard_file *sf, int first,
			const struct shard_file *first_sf, struct run_summary *sum)
{
	const struct json *pv = json_get(sf->root, "per_variant");

	if (!pv)
		return bad(sf->path, "per_variant", "is missing");
	if (pv->type != JSON_ARRAY)
		return bad(sf->path, "per_variant", "is not an array");
	if (first) {
		sum->variants = calloc(pv->nr ? pv->nr : 1, sizeof(*sum->variants));
		if (!sum->variants) {
			fprintf(stderr, "pdcrash: out of memory\n");
			return 2;
		}
		sum->nr_variants = pv->nr;
	} else if (pv->nr != sum->nr_variants) {
		return differs(sf, first_sf, "per_variant");
	}
	for (size_t i = 0; i < pv->nr; i++) {
		const struct json *e = &pv->items[i], *name;
		struct variant_stats *vs = &sum->variants[i];
		uint64_t cuts, states, log_ops, commits, oc[OUT_NR];
		uint64_t wchk, wwalk, wviol, runs, setup[5];
		int has_setup;
		char where[64];
		int r;

		snprintf(where, sizeof(where), "per_variant[%zu].", i);
		if (e->type != JSON_OBJECT)
			return bad(sf->path, "per_variant", "holds a non-object");
		name = json_get(e, "name");
		if (!name || name->type != JSON_STRING ||
		    strlen(name->str) >= sizeof(vs->name))
			return bad(sf->path, "per_variant[].name",
				   "is missing, not a string or too long");
		if ((r = unknown_in(sf, e, known_variant_keys)) ||
		    (r = get_u64(sf, e, "runs", &runs)) ||
		    (r = get_setup(sf, e, &has_setup, setup)) ||
		    (r = get_u64(sf, e, "cut_points", &cuts)) ||
		    (r = get_u64(sf, e, "states", &states)) ||
		    (r = get_u64(sf, e, "log_ops", &log_ops)) ||
		    (r = get_u64(sf, e, "commits", &commits)) ||
		    (r = get_outcomes(sf, e, where, oc)) ||
		    (r = get_u64(sf, e, "writes_checked", &wchk)) ||
		    (r = get_u64(sf, e, "write_walks", &wwalk)) ||
		    (r = get_u64(sf, e, "write_violations", &wviol)))
			return r;
		/* write-time rules run in shard 0 only: summed */
		vs->writes_checked += wchk;
		vs->write_walks += wwalk;
		vs->write_violations += wviol;
		if (first) {
			snprintf(vs->name, sizeof(vs->name), "%s", name->str);
			vs->cut_points = cuts;
			vs->log_ops = log_ops;
			vs->commits = commits;
			vs->runs = runs;
			vs->has_setup = has_setup;
			memcpy(vs->setup_io, setup, sizeof(setup));
		} else {
			snprintf(where, sizeof(where), "per_variant[%zu].", i);
			if (strcmp(vs->name, name->str))
				return differs(sf, first_sf, "per_variant[].name");
			if (vs->cut_points != cuts)
				return differs(sf, first_sf, "per_variant[].cut_points");
			if (vs->log_ops != log_ops)
				return differs(sf, first_sf, "per_variant[].log_ops");
			if (vs->commits != commits)
				return differs(sf, first_sf, "per_variant[].commits");
			if (vs->runs != runs)
				return differs(sf, first_sf, "per_variant[].runs");
			if (vs->has_setup != has_setup ||
			    memcmp(vs->setup_io, setup, sizeof(setup)))
				return differs(sf, first_sf, "per_variant[].setup_io");
		}
		vs->states += states;
		for (int k = 0; k < OUT_NR; k++)
			vs->outcomes[k] += oc[k];
		if (!sum->sample && (r = add_cover(sf, e, vs)))
			return r;
	}
	return 0;
}

/* An id reported by several shards (a live-run failure) once; its extra
 * copies had each counted one violation. */
static void dedup_violations(struct run_summary *sum)
{
	size_t w = 0;

	if (!sum->nr_violations)
		return;
	qsort(sum->violations, sum->nr_violations, sizeof(*sum->violations),
	      cmp_violation);
	for (size_t i = 0; i < sum->nr_violations; i++) {
		const struct violation *v = &sum->violations[i];

		if (w && !strcmp(sum->violations[w - 1].id, v->id)) {
			size_t nl = strcspn(v->id, ":");

			if (sum->outcomes[OUT_VIOLATION])
				sum->outcomes[OUT_VIOLATION]--;
			for (size_t j = 0; j < sum->nr_variants; j++) {
				struct variant_stats *vs = &sum->variants[j];

				if (strlen(vs->name) == nl &&
				    !strncmp(vs->name, v->id, nl) &&
				    vs->outcomes[OUT_VIOLATION]) {
					vs->outcomes[OUT_VIOLATION]--;
					break;
				}
			}
			continue;
		}
		sum->violations[w++] = *v;
	}
	sum->nr_violations = w;
}

static int merge(struct shard_file *sfs, size_t nr)
{
	struct run_opts o = { 0 };
	struct run_summary sum;
	const char *mutant0 = NULL;
	uint64_t scenarios = 0, variants = 0, cuts = 0, injected = 0;
	uint64_t data[2] = { 0, 0 };	/* data_faults runs, fired */
	unsigned char *seen = NULL;
	int rc = 2;

	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < nr; i++) {
		struct shard_file *sf = &sfs[i];
		uint64_t sc, va, cp, st, jobs, seed, inj, oc[OUT_NR];
		const struct json *secs;
		const char *mutant;
		int tear, ioe, r;

		if ((r = load(sf)) || (r = unknown_key(sf)))
			goto out;
		const struct json *mode = json_get(sf->root, "mode");
		int sample = mode && mode->type == JSON_STRING &&
			     !strcmp(mode->str, "sample");
		if (!mode || mode->type != JSON_STRING ||
		    (!sample && strcmp(mode->str, "exhaustive"))) {
			bad(sf->path, "mode", "is missing or not \"sample\" or "
			    "\"exhaustive\"");
			goto out;
		}
		if (!i) {
			o.sample = sum.sample = sample;
		} else if (sample != o.sample) {
			differs(sf, &sfs[0], "mode");
			goto out;
		}
		if ((r = get_u64(sf, sf->root, "scenarios", &sc)) ||
		    (r = get_u64(sf, sf->root, "variants", &va)) ||
		    (r = get_u64(sf, sf->root, "cut_points", &cp)) ||
		    (r = get_u64(sf, sf->root, "states", &st)) ||
		    (r = get_outcomes(sf, sf->root, "", oc)) ||
		    (r = get_u64(sf, sf->root, "jobs", &jobs)) ||
		    (r = get_u64(sf, sf->root, "seed", &seed)) ||
		    (r = get_bool(sf, "tear", &tear)) ||
		    (r = get_bool(sf, "io_errors", &ioe)) ||
		    (r = get_u64(sf, sf->root, "injected_errors", &inj)) ||
		    (r = get_str_or_null(sf, "mutant", &mutant)))
			goto out;
		uint64_t df[2] = { 0, 0 };
		const struct json *dfo = json_get(sf->root, "data_faults");

		if (ioe && (!dfo || dfo->type != JSON_OBJECT)) {
			bad(sf->path, "data_faults", "is missing or not an object");
			goto out;
		}
		if (ioe && ((r = get_u64(sf, dfo, "runs", &df[0])) ||
			    (r = get_u64(sf, dfo, "fired", &df[1]))))
			goto out;
		if (!i) {
			data[0] = df[0];
			data[1] = df[1];
		} else if (df[0] != data[0] || df[1] != data[1]) {
			differs(sf, &sfs[0], "data_faults");
			goto out;
		}
		secs = json_get(sf->root, "seconds");
		if (!secs || secs->type != JSON_NUMBER || secs->num < 0) {
			bad(sf->path, "seconds", "is missing or not a number >= 0");
			goto out;
		}
		if (!i) {
			scenarios = sc;
			variants = va;
			cuts = cp;
			injected = inj;
			o.seed = seed;
			o.tear = tear;
			o.io_errors = ioe;
			mutant0 = mutant;
			if (sf->n) {
				seen = calloc(sf->n, 1);
				if (!seen) {
					fprintf(stderr, "pdcrash: out of memory\n");
					goto out;
				}
			}
		} else {
			const char *key = sc != scenarios ? "scenarios" :
					  va != variants ? "variants" :
					  seed != o.seed ? "seed" :
					  tear != o.tear ? "tear" :
					  ioe != o.io_errors ? "io_errors" :
					  (!mutant != !mutant0 ||
					   (mutant && strcmp(mutant, mutant0))) ? "mutant" :
					  cp != cuts ? "cut_points" :
					  inj != injected ? "injected_errors" : NULL;
			if (key) {
				differs(sf, &sfs[0], key);
				goto out;
			}
		}
		/* The shards: one N, each K once, no whole run among them. */
		if (nr > 1 && !sf->n) {
			fprintf(stderr, "pdcrash: %s: 'shard' is null (a whole run): "
				"it cannot be merged with other files\n", sf->path);
			goto out;
		}
		if (sf->n) {
			if (sf->n != sfs[0].n) {
				differs(sf, &sfs[0], "shard");
				goto out;
			}
			if (seen[sf->k]) {
				fprintf(stderr, "pdcrash: %s: shard %u/%u is given "
					"twice\n", sf->path, sf->k, sf->n);
				goto out;
			}
			seen[sf->k] = 1;
		}
		if ((r = add_variants(sf, !i, &sfs[0], &sum)) ||
		    (r = add_violations(sf, &sum)))
			goto out;
		if (sum.nr_variants != va) {
			bad(sf->path, "variants", "is not the length of per_variant");
			goto out;
		}
		sum.states += st;
		for (int k = 0; k < OUT_NR; k++)
			sum.outcomes[k] += oc[k];
		{
			uint64_t wchk, wviol;

			if ((r = get_u64(sf, sf->root, "writes_checked", &wchk)) ||
			    (r = get_u64(sf, sf->root, "write_violations", &wviol)))
				goto out;
			sum.writes_checked += wchk;
			sum.write_violations += wviol;
		}
		if (!o.sample) {
			struct variant_stats top;

			memset(&top, 0, sizeof(top));
			r = add_cover(sf, sf->root, &top);
			if (!r && (bn_add(&sum.states_total, &top.states_total) ||
				   bn_add(&sum.states_covered, &top.states_covered)))
				r = 2;
			sum.recoveries += top.recoveries;
			sum.sampled += top.sampled;
			sum.incomplete_cuts += top.incomplete_cuts;
			bn_free(&top.states_total);
			bn_free(&top.states_covered);
			if (r)
				goto out;
		}
		if (secs->num > sum.seconds)
			sum.seconds = secs->num;
		sum.jobs += (unsigned)jobs;
	}
	if (sfs[0].n) {
		unsigned missing = 0;

		for (unsigned k = 0; k < sfs[0].n; k++)
			missing += !seen[k];
		if (missing) {
			fprintf(stderr, "pdcrash: warning: %u of %u shards missing:",
				missing, sfs[0].n);
			for (unsigned k = 0; k < sfs[0].n; k++)
				if (!seen[k])
					fprintf(stderr, " %u/%u", k, sfs[0].n);
			fprintf(stderr, "; this is not the whole run\n");
		}
	}
	dedup_violations(&sum);
	sum.cut_points = cuts;
	sum.injected = injected;
	sum.data_runs = data[0];
	sum.data_fired = data[1];
	o.nr_scenarios = scenarios;
	o.mutant = mutant0;
	report_print_json(&o, &sum, stdout);
	if (fflush(stdout)) {
		fprintf(stderr, "pdcrash: cannot write the output: %s\n",
			strerror(errno));
		goto out;
	}
	rc = sum.nr_violations ? 1 : 0;
out:
	free(seen);
	run_summary_free(&sum);
	return rc;
}

int cmd_merge(int argc, char **argv)
{
	struct shard_file *sfs;
	int rc;

	if (argc <= 0)
		return cli_usage_error("merge needs the JSON files of the shards%s", "");
	for (int i = 0; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return cli_usage_error("unknown option '%s'", argv[i]);
	sfs = calloc((size_t)argc, sizeof(*sfs));
	if (!sfs)
		return 2;
	for (int i = 0; i < argc; i++)
		sfs[i].path = argv[i];
	rc = merge(sfs, (size_t)argc);
	for (int i = 0; i < argc; i++)
		json_free(sfs[i].root);
	free(sfs);
	return rc;
}
