/* harness/pdcrash/replay_write.c - `pdcrash replay NAME:sSEED:wSEQ:eFAULT`:
 * a write-time violation (harness/engine/writecheck.h) shown again.
 *
 * The workload runs again with the id's seed and fault (deterministic),
 * the write-time rules are checked on its log, and the write at log entry
 * SEQ is shown in the op trace with the rule it breaks.  Exit 1 when it
 * breaks one, 0 when it does not (another build, no --mutant), 2 when the
 * id does not fit the run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "errors.h"
#include "replay_write.h"
#include "writecheck.h"

int replay_write(const char *idtext, const struct state_id *id,
		 struct run_config *cfg, int trace)
{
	struct scenario *sc = NULL;
	struct run_result res;
	struct write_violation v;
	const struct sd_op *op;
	char base[128], cache[16];
	uint64_t n, from;
	int r, rc = 2;

	if (cli_split_variant(id->name, base, sizeof(base), &cfg->cache_blocks))
		return cli_usage_error("unknown variant in '%s' (only +small)",
				       id->name);
	if ((r = cli_split_backend(id->name, &cfg->client)))
		return r;
	if ((rc = cli_load_named(base, &sc)))
		return rc;
	rc = 2;
	cfg->sc = sc;
	cfg->seed = id->seed;
	cfg->fault = id->fault;
	cfg->keep_state = -1;
	cfg->stop_after_recovery = id->fault.kind != FAULT_NONE;
	r = workload_run(cfg, &res);
	if (r) {
		fprintf(stderr, "pdcrash: cannot run %s: %s\n", base,
			pd_strerror(r));
		goto out_free_sc;
	}
	n = simdisk_nr_ops(res.sd);
	op = id->cut < n ? simdisk_op(res.sd, id->cut) : NULL;
	if (!op || (op->kind != SD_WRITE && op->kind != SD_WRITE_FUA)) {
		fprintf(stderr, "pdcrash: id %s: log entry %" PRIu64 " is not a "
			"write (the log has %" PRIu64 " entries): not an id of "
			"this scenario and seed\n", idtext, id->cut, n);
		goto out_free_res;
	}
	printf("write %s\n", idtext);
	printf("scenario %s (%s), seed %" PRIu64 ", cache=%s\n", base,
	       sc->path, id->seed,
	       pool_cache_text(res.geo.cache_blocks, cache, sizeof(cache)));
	if (res.live_failed)
		printf("live run failed: %s\n", res.live_msg);
	cli_print_alloc_fault(&res, &id->fault);
	printf("log entry %" PRIu64 " of %" PRIu64 ": write of block %" PRIu64
	       "; log around it:\n", id->cut, n, op->block);
	from = trace || id->cut < 40 ? 0 : id->cut - 40;
	for (uint64_t i = from; i < id->cut; i++)
		cli_print_op_line(&res, i);
	printf("  >>>>>>  the write checked:\n");
	cli_print_op_line(&res, id->cut);
	for (uint64_t i = id->cut + 1; i < n && i < id->cut + 5; i++)
		cli_print_op_line(&res, i);
	r = writecheck_at(&res, id->cut, &v);
	if (r < 0) {
		fprintf(stderr, "pdcrash: cannot check the log: %s\n",
			pd_strerror(r));
		goto out_free_res;
	}
	if (r) {
		printf("outcome: violation: %s\n", v.msg);
		rc = 1;
	} else {
		printf("outcome: no write-time violation at this write\n");
		rc = res.live_failed ? 1 : 0;
	}
out_free_res:
	run_result_free(&res);
out_free_sc:
	scenario_free(sc);
	return rc;
}
