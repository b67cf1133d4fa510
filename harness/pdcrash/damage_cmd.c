/* harness/pdcrash/damage_cmd.c - `pdcrash run --damage` and the replay of a
 * damage id (harness/engine/damage.h): the command-line side. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "damage.h"
#include "driver.h"
#include "errors.h"

int cmd_run_damage(const struct run_opts *o)
{
	struct damage_summary sum;
	int rc = 0, r;

	if (o->io_errors || o->media_faults || o->client || o->shard_n ||
	    o->sample || o->fiu_name)
		return cli_usage_error("--damage runs on its own, on core, whole: "
				       "not with --io-errors, --media-faults, "
				       "--backend, --shard, --sample or --fiu%s", "");
	r = damage_run(o, &sum);
	if (r) {
		fprintf(stderr, "pdcrash: run --damage failed: %s\n",
			pd_strerror(r));
		damage_summary_free(&sum);
		return 2;
	}
	if (o->json)
		damage_print_json(o, &sum, stdout);
	else
		damage_print_text(o, &sum, stdout);
	if (o->report_dir) {
		r = damage_write_report(o, &sum, o->report_dir);
		if (r) {
			fprintf(stderr, "pdcrash: cannot write the report in %s: %s\n",
				o->report_dir, pd_strerror(r));
			rc = 2;
		} else if (!o->json) {
			printf("report: %s/summary.md, summary.json\n",
			       o->report_dir);
		}
	}
	if (o->fail_fast && sum.nr_violations)
		fprintf(o->json ? stderr : stdout, "first violation: %s\n"
			"replay: pdcrash replay %s%s%s\ntime to first failure: "
			"%.2f s\n", sum.violations[0].id, sum.violations[0].id,
			o->mutant ? " --mutant " : "", o->mutant ? o->mutant : "",
			sum.first_seconds);
	if (!rc)
		rc = sum.nr_violations ? 1 : 0;
	damage_summary_free(&sum);
	return rc;
}

int replay_damage(const char *idtext, const char *save_image)
{
	struct damage_id id;
	struct scenario *sc;
	const struct client_ops *backend;
	char err[512], base[128];
	unsigned cache = 0;
	int r = damage_id_parse(idtext, &id, err, sizeof(err));

	if (r < 0)
		return cli_usage_error("%s", err);
	if (cli_split_variant(id.name, base, sizeof(base), &cache))
		return cli_usage_error("unknown variant in '%s' (only +small)",
				       id.name);
	if ((r = cli_split_backend(id.name, &backend)))
		return r;
	if (backend)
		return cli_usage_error("damage ids are of the core backend: '%s'",
				       id.name);
	if ((r = cli_load_named(base, &sc)))
		return r;
	r = damage_replay(&id, sc, cache, save_image, stdout);
	scenario_free(sc);
	return r;
}
