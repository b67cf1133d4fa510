/* harness/pdcrash/main.c - the pdcrash command (DESIGN.md section 5). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "report.h"
#include "errors.h"
#include "mutant.h"

#define MAX_SCENARIOS 256
_Static_assert(ALLOC_DEPTH_MAX == 32, "the --alloc-depth message says 1..32");

static const char help_text[] =
"pdcrash - crash-consistency harness for dm persistent-data / dm-thin metadata\n"
"\n"
"run       Run each scenario (default: every .scn under scenarios/, subfolders\n"
"          included, named like reach/absorb-shared) on the simulated\n"
"          disk, cut the power after every write and flush, build the crash\n"
"          states the disk model allows, reopen each one and check it: the\n"
"          structure must be clean and the state a committed one (rollback,\n"
"          or rollforward to the commit in flight); then more ops and a commit\n"
"          must work.  Each scenario runs twice: NAME with its own cache and\n"
"          NAME+small with a 16-block cache (dirty blocks written back in the\n"
"          middle of transactions); a `pool ... cache=none` scenario (no\n"
"          cache: each lock reads the device, each dirty block goes out at\n"
"          the next lock) runs once.  SCENARIO is a name in scenarios/, a\n"
"          path to a .scn file, or a folder (every .scn below it; a\n"
"          folder of scenarios/ by its name too: cache, reach).\n"
"  --backend B     the metadata code under test: core (ours, the default),\n"
"                  kernel-6.1, kernel-6.12 (Linux's dm-thin-metadata.c,\n"
"                  dm-cache-metadata.c and persistent-data from Debian's\n"
"                  linux-source), kernel (the\n"
"                  tree make was given as KERNEL_SRC).  Ids then carry it:\n"
"                  NAME[+small]@B:..., so replay and minimize use it too\n"
"  --seed N        seed for random workloads and random persistence choices\n"
"                  (default 1); the same seed gives the same result anywhere\n"
"  --tear          also torn writes (a write lands in part, 512-byte sectors)\n"
"  --io-errors     also, for every read, write and flush N of each run, a run\n"
"                  where op N fails once and one where it fails from N on (a\n"
"                  run with more than 1000 reads: 1000 of them spread evenly,\n"
"                  said in the summary); the\n"
"                  workload aborts and goes on as a caller would (on the\n"
"                  core, a pool the error failed is first probed with every\n"
"                  read and write call: each must answer -EIO and write\n"
"                  nothing, thin.h TH4; so after --media-faults and\n"
"                  --alloc-faults), and the\n"
"                  states from that op to the next good commit are checked,\n"
"                  each first recovered with a read error in its open or\n"
"                  (core) its check of the trees or its digest (that step\n"
"                  must answer -EIO or succeed alike) and then without (a\n"
"                  fault no op returned: from where it fired).  The fault\n"
"                  runs share their\n"
"                  prefix: the workload runs once more and forks each one\n"
"                  off at its op, --jobs at a time (PDCRASH_SWEEP=serial\n"
"                  runs each from the start instead: the same results).\n"
"                  A scenario with a data device (write ops) also gets a\n"
"                  run for every data write and data flush N (id parts\n"
"                  dN/DN, yN/YN): a failed write fails its op and leaves\n"
"                  its new block leaked, a failed flush fails the commit\n"
"                  (harness/engine/datadev.h DD3, DD4)\n"
"  --media-faults  also, for every read N of each run, a run where read N\n"
"                  returns the block with a bit flipped (bit rot; id part bN),\n"
"                  and for every write N one where that write loses a sector\n"
"                  on the media (it reads as zeroes until the block is written\n"
"                  again; zN); which bit or sector: a hash of seed and N.  The\n"
"                  core must refuse the block (EILSEQ) or return right data;\n"
"                  the states from the fault to the next good commit are\n"
"                  checked, and a crash state whose recovery meets the lost\n"
"                  sector may be refused with a checksum error (detected).\n"
"                  Thin and dm-cache scenarios (a refused block aborts, sets\n"
"                  needs_check and goes on); dm-cache scenarios on a kernel\n"
"                  backend are skipped, named on stderr\n"
"  --alloc-faults  also allocation failures: the fault-free run counts every\n"
"                  allocation of the core (pd_malloc, pd_calloc, pd_realloc:\n"
"                  libfiu point core/alloc) with every space map's root\n"
"                  copy (sm/copy_root), and every space-map new_block\n"
"                  call (sm/new_block, metadata and data), and the first hit\n"
"                  of each call site gets a run of its own where that hit\n"
"                  fails: NULL or a failed copy, so -ENOMEM (id part mN),\n"
"                  or -ENOSPC (sN).\n"
"                  A call site is the call stack of the hit, its innermost\n"
"                  --alloc-depth frames from the allocating function up,\n"
"                  and the kind of the op running (--alloc-site; a\n"
"                  deterministic rule; which hits it picks depends on the\n"
"                  build's inlining, the ids do not).  The op must fail with\n"
"                  that error (or leave the pool failed), else the live run\n"
"                  is a violation; the workload aborts and goes on as after\n"
"                  an IO error (an abort failing with a checksum or\n"
"                  structure error is a violation: a half-built block left\n"
"                  dirty, core/bm.h BM9), and the states from the fault to\n"
"                  the next good commit are checked, each first recovered\n"
"                  with an allocation failing in its open or (core) its\n"
"                  check or digest (-ENOMEM or success).  The meta-snap-check\n"
"                  op's view of the held snapshot counts as the pool's own\n"
"                  calls; other harness reads do not.  The summary gives\n"
"                  the hits and the runs of each kind.  Forked at each hit\n"
"                  like --io-errors.  Thin and dm-cache scenarios; core\n"
"                  backend only\n"
"  --alloc-depth N  frames that make a call site for --alloc-faults (1..32,\n"
"                  default 16): more frames, more sites, more runs\n"
"  --alloc-site KEY  what else makes a call site for --alloc-faults: frames\n"
"                  (the frames alone: the first hit in the run), op (and the\n"
"                  kind of the op running: the same allocation under another\n"
"                  op gets its own run; the default), line (and the op's\n"
"                  scenario line), each-op (and the op itself: the first hit\n"
"                  of each site in every op; the most runs)\n"
"  --damage        instead of crash states: the damage step.  At every 4th\n"
"                  commit and the last of each scenario (thin and dm-cache),\n"
"                  every metadata block the superblock reaches is damaged by\n"
"                  each kind that fits it (node headers nr/max/flags/value\n"
"                  size, keys, child pointers to itself, its parent, block 0,\n"
"                  past the end, another node; superblock roots and counts,\n"
"                  data block size 0; index entries' free counts and bitmaps;\n"
"                  bitmap and ref-count values; location fields; a bad\n"
"                  checksum; dm-cache: superblock roots, sizes, version,\n"
"                  flags, csb-*; array block headers and mapping values,\n"
"                  ab-*), the checksum recomputed, and recovered in a worker\n"
"                  (10 s at most): checker, open, the whole pool or cache\n"
"                  metadata read and compared, continue, and an exercise of\n"
"                  the damaged trees.  detected (an error, or the checker's\n"
"                  finding), harmless (it did not matter), violation (a\n"
"                  crash, a hang, the core and the checker accepting a\n"
"                  wrong state, or the core removing a mapping to a block\n"
"                  the damage counted 0).  Ids\n"
"                  NAME:sSEED:dK.BLOCK.KIND:e0 (committed state K); README\n"
"                  lists the kinds\n"
"  --jobs N        worker processes (default: the number of CPUs); results\n"
"                  do not depend on N\n"
"  --shard K/N     check only the share K of N (0 <= K < N) of the work, to\n"
"                  split one run over machines: the cuts c with c mod N == K\n"
"                  (exhaustive), the states g with g mod N == K (--sample)\n"
"  --report DIR    write DIR/summary.md, DIR/summary.json and DIR/index.html\n"
"  --json          print one JSON object on stdout instead of the table\n"
"  --no-continue   skip the continue-after-recovery step (faster)\n"
"  --fiu NAME[:N]   fail the libfiu point NAME (core/fault.h: bdev/read,\n"
"                  bdev/write, bdev/flush, simdisk/..., core/alloc,\n"
"                  sm/new_block, sm/copy_root) at its Nth\n"
"                  hit (default 1) in every workload run, thin or dm-cache;\n"
"                  the workload aborts and goes on, and the states from\n"
"                  there on are checked.\n"
"                  The failure ids do not carry it: replay with the same\n"
"                  --fiu.  From outside, fiu-run and fiu-ctrl work too\n"
"  --fail-fast     stop at the first violation (once the state that showed\n"
"                  it is checked): print its id, the command that replays\n"
"                  it and the seconds to it, and exit 1\n"
"  --sample        the old bounded choices instead of every state: at a cut\n"
"                  with n pending writes every subset when n <= 10, else\n"
"                  none, all, each one alone or left out and 16 random ones\n"
"                  (ids pIDX-of-N); with --tear one seeded torn mask per write\n"
"  --max-branches N  exhaustive mode: at most N leaves per cut (default\n"
"                  1000000); a cut cut short is reported, never silent\n"
"  Coverage (default, exhaustive): a pending block stays undecided until\n"
"  recovery (open, check, compare, continue) first reads it; then every\n"
"  distinct content it may hold (durable, each pending version, with\n"
"  --tear every per-sector mix) is a branch, and recovery re-runs.  Each\n"
"  leaf stands for every state that differs only in blocks it never read.\n"
"  states_total = the distinct crash images the model allows (product over\n"
"  pending blocks of their distinct contents); states_covered = those whose\n"
"  leaf ran, under deterministic recovery; recoveries = leaves run.  Ids:\n"
"  NAME:sSEED:cCUT:lLEAF[:t]:eFAULT, LEAF the blocks read and their\n"
"  versions (bBvV, torn bBsXXXXXXXX; - none)\n"
"  Write-time rules, on every run's op log (both modes, --io-errors too):\n"
"  (a) no write to a block the durable committed superblock (or its held\n"
"  snapshot) reaches; (b) no superblock write while a block it reaches is\n"
"  not yet durable.  Counted apart (write_violations); ids\n"
"  NAME:sSEED:wSEQ:eFAULT name the offending write (log entry SEQ)\n"
"  --no-memo       check every state in full; by default a state whose\n"
"                  landed writes miss every block the recovery of the same\n"
"                  cut's base state (nothing landed) read takes that state's\n"
"                  result, since recovery is deterministic\n"
"replay    Rebuild the crash state ID (printed by run for each violation)\n"
"          exactly, check it, print the ops around the cut and the expected\n"
"          state against the found one.  A write id (wSEQ) runs the\n"
"          workload again and shows the write and the rule it breaks.  A\n"
"          damage id (dK.BLOCK.KIND) rebuilds the damaged image, says what\n"
"          the block is, and recovers it as run --damage did.\n"
"  --trace         print the whole op log up to the cut\n"
"  --save-image F  write the crash image to F (for thin_check, thin_dump)\n"
"  --expected-xml F  write the model of the state the image recovered to\n"
"                  as thin_dump XML (compare with thin_dump of the image)\n"
"minimize  Shrink the workload of the failing state ID: the ops the run\n"
"          executed up to the cut, as lines (runs of single maps folded into\n"
"          ranges); ddmin over the lines, runs of unmaps joined into range\n"
"          unmaps, each range halved, lines again, then single ops if that\n"
"          adds no line; each step kept while a run of the rest still finds\n"
"          a violation (base variant, same seed, tear and fault kind).\n"
"          Writes the scenario, prints the line and op counts and the new id.\n"
"  --max-runs N    candidate runs, at most (default 8 per line, 300..5000)\n"
"  --max-seconds S seconds, at most (default 300)\n"
"          Exit 1 (it still fails); 2 if ID does not fail in this build.\n"
"  -o FILE         where to write it (default ./NAME-min.scn; must end in\n"
"                  .scn: the new id names it by its path)\n"
"merge     Merge the --json outputs of the shards of one run (--shard K/N)\n"
"          into the JSON of the whole run on stdout: states and outcomes\n"
"          summed, violations joined; seconds is the longest shard's (so\n"
"          states_per_second is the throughput of the shards together),\n"
"          jobs the sum.  The runs must agree on everything else (exit 2).\n"
"diff      Run each scenario on two backends in lock step (two simdisks,\n"
"          identical images): after every op the same result, at every\n"
"          format step, commit and abort the images compared block by\n"
"          block (the first difference named: block, type, field) and\n"
"          each image opened in both backends with the same dump.  Prints\n"
"          per scenario: ops, commits, byte-identical commits, explained\n"
"          (with the named cause) and unexplained differences.  Exit 1 if\n"
"          any unexplained.\n"
"  --backends A,B  the two (default core,kernel-6.1)\n"
"  --seed N        for random scenarios (default 1)\n"
"  --save-images DIR  write DIR/NAME.BACKEND.img at the last compare point\n"
"  --causes        list the named deliberate differences and what diff\n"
"                  does with each\n"
"  --verbose       print every explained difference, not the first\n"
"search    Coverage-guided workload search (build/search/pdcrash: make search,\n"
"          core/ built with SanitizerCoverage edge counters).  Mutates the\n"
"          corpus (seed scenarios, default scenarios/ and its subfolders, and\n"
"          the .scn files of the corpus folder): lines inserted, deleted,\n"
"          duplicated, moved; ranges widened, halved, shifted, split or cut\n"
"          into single ops with a snapshot or commit after each; devices\n"
"          changed; two scenarios spliced; pool geometry and cache changed;\n"
"          commits, aborts, snapshots, metadata snapshots and resizes put at\n"
"          new places; one candidate in two one to three steps (snapshot,\n"
"          commit, abort, metadata snapshot) put right before places where\n"
"          its entry's edges (rare ones most often) are first reached.\n"
"          dm-cache seeds are run, not mutated.  Every candidate ends with a\n"
"          check op and runs live against the oracle; one that reaches an\n"
"          edge of core/ no run reached before is written to the corpus\n"
"          folder (cNNNNNNN.scn) and goes through the full crash exploration\n"
"          (both cache variants) and --faults IO-error runs drawn from its\n"
"          reads, writes and flushes (a costly one later, one every 256\n"
"          candidates).  A violation is printed\n"
"          with its id and minimized into the corpus folder (min-K.scn); the\n"
"          search stops there unless --keep-going.  Deterministic for a\n"
"          --seed whatever --jobs (batches of 8 candidates, taken in order).\n"
"  --seconds S     stop after S seconds (default 60 when --runs is not given)\n"
"  --runs N        stop after N candidates\n"
"  --seed N        the search's seed (default 1); workloads run with seed 1\n"
"  --jobs N        candidates (and crash states) run in N worker processes\n"
"  --shard K/N     only candidates g with g %% N == K\n"
"  --corpus DIR    the corpus folder (default build/search-corpus)\n"
"  --seed-dir DIR  seed scenarios (default the scenarios directory)\n"
"  --faults N      IO-error runs per kept candidate (default 3, 0..16)\n"
"  --max-branches N  crash exploration: leaves per cut (default 20000)\n"
"  --keep-going    go on after a violation; --no-minimize: do not minimize\n"
"  --live-only     no crash exploration or IO-error runs (coverage and live\n"
"                  checks only: to measure the candidates/s of the signal)\n"
"list      The scenarios in scenarios/.\n"
"mutants   The planted bugs of the mutants build (make mutants).\n"
"\n"
"Every command but list, mutants and merge also takes --mutant NAME in the\n"
"mutants build (build/pdcrash-mutants) to switch one planted bug on.\n"
"Failure ids: NAME:sSEED:cCUT:lLEAF[:t]:eFAULT (a crash state: scenario and\n"
"variant, seed, cut point, the leaf of the exploration, torn, fault),\n"
"NAME:sSEED:cCUT:pIDX-of-N[:t]:eFAULT (a --sample state), NAME:sSEED:wSEQ:eFAULT\n"
"(a write that breaks a write-time rule), NAME:sSEED:live:eFAULT (the live\n"
"run disagreed with its model), NAME:sSEED:dK.BLOCK.KIND:e0 (a damaged image\n"
"of run --damage); NAME ends in @BACKEND when the backend is not\n"
"core.  FAULT: e0 none; ewN / eWN the Nth write failed once / from then on;\n"
"r reads, f flushes; ebN bit rot at read N, ezN a sector lost by write N\n"
"(--media-faults); emN allocation N returns NULL (-ENOMEM), esN space-map\n"
"new_block call N returns -ENOSPC (--alloc-faults; N counts from the format\n"
"on, the pool's own calls).\n"
"Exit: 0 every state survived; 1 a violation (ids printed); 2 bad usage or\n"
"bad input.\n";

const char *pdcrash_prog_name = "pdcrash";

/* --fail-fast: the first violation, how to replay it, when it came. */
static void print_first_failure(const struct run_opts *o,
				const struct run_summary *sum, FILE *f)
{
	fprintf(f, "first violation: %s\n", sum->first_id);
	fprintf(f, "replay: %s replay %s", pdcrash_prog_name, sum->first_id);
	if (o->mutant)
		fprintf(f, " --mutant %s", o->mutant);
	if (o->fiu_name)
		fprintf(f, " --fiu %s:%" PRIu64, o->fiu_name,
			o->fiu_nth ? o->fiu_nth : 1);
	fprintf(f, "\ntime to first failure: %.2f s\n", sum->first_seconds);
}

int cmd_run(int argc, char **argv)
{
	struct scenario *scs[MAX_SCENARIOS];
	struct run_opts o = { .scenarios = scs, .seed = 1, .jobs = cli_default_jobs() };
	struct run_summary sum;
	const char *args[MAX_SCENARIOS];
	size_t nr_args = 0;
	char **names = NULL;
	size_t nr_names = 0;
	int rc = 0, r, damage = 0;

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
		} else if (!strcmp(a, "--media-faults")) {
			o.media_faults = 1;
		} else if (!strcmp(a, "--alloc-faults")) {
			o.alloc_faults = 1;
		} else if (!strcmp(a, "--alloc-depth")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", a);
			if ((rc = cli_parse_u64_arg(a, argv[++i], &v)))
				return rc;
			if (v < 1 || v > ALLOC_DEPTH_MAX)
				return cli_usage_error("--alloc-depth must be 1..32, "
						       "got %s", argv[i]);
			o.alloc_depth = (unsigned)v;
		} else if (!strcmp(a, "--alloc-site")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", a);
			o.alloc_site = 0;
			for (int k = 0; k < ALLOC_SITE_NR; k++)
				if (!strcmp(argv[i + 1], alloc_site_names[k]))
					o.alloc_site = k + 1;
			if (!o.alloc_site)
				return cli_usage_error("--alloc-site must be frames, "
						       "op, line or each-op, got %s",
						       argv[i + 1]);
			i++;
		} else if (!strcmp(a, "--damage")) {
			damage = 1;
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
			if (i + 1 >= argc || !argv[i + 1][0])
				return cli_usage_error("%s needs a directory", a);
			o.report_dir = argv[++i];
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "--no-continue")) {
			o.no_continue = 1;
		} else if (!strcmp(a, "--no-memo")) {
			o.no_memo = 1;
		} else if (!strcmp(a, "--fail-fast")) {
			o.fail_fast = 1;
		} else if (!strcmp(a, "--sample")) {
			o.sample = 1;
		} else if (!strcmp(a, "--max-branches")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a value", a);
			if ((rc = cli_parse_u64_arg(a, argv[++i], &o.max_branches)))
				return rc;
			if (!o.max_branches)
				return cli_usage_error("--max-branches must be at "
						       "least 1, got %s", argv[i]);
		} else if (!strcmp(a, "--fiu")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs NAME[:N]", a);
			if ((rc = cli_parse_fiu(argv[++i], &o.fiu_name, &o.fiu_nth)))
				return rc;
		} else if (!strcmp(a, "--backend")) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a name", a);
			if ((rc = cli_parse_backend(argv[++i], &o.client)))
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
	if (o.alloc_depth && !o.alloc_faults)
		return cli_usage_error("--alloc-depth needs --alloc-faults%s", "");
	if (o.alloc_site && !o.alloc_faults)
		return cli_usage_error("--alloc-site needs --alloc-faults%s", "");
	if (o.alloc_faults && o.fiu_name)
		return cli_usage_error("--alloc-faults and --fiu cannot be combined "
				       "(both fail libfiu points of the core)%s", "");
	if (o.alloc_faults && o.client && o.client != &client_core_ops)
		return cli_usage_error("--alloc-faults: backend %s does not "
				       "allocate through the core's fault points "
				       "(core only)", o.client->name);
#if !(defined(FIU_ENABLE) && FIU_ENABLE)
	if (o.alloc_faults)
		return cli_usage_error("--alloc-faults needs a build with libfiu "
				       "points (FIU=1, the default)%s", "");
#endif
	/* Options first, then the scenarios: a usage error leaves nothing
	 * loaded behind. */
	for (size_t i = 0; i < nr_args; i++)
		if ((rc = cli_load_arg(args[i], scs, MAX_SCENARIOS,
				       &o.nr_scenarios)))
			goto out;
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
	if (damage) {
		rc = cmd_run_damage(&o);
		goto out;
	}
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
	if (o.fail_fast && sum.nr_violations)
		print_first_failure(&o, &sum, o.json ? stderr : stdout);
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

int cmd_list(int argc, char **argv)
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

		int ok = cli_load_named(names[i], &sc) == 0;

		if (ok && sc->geo.is_cache) {
			char cache[16];

			printf("%-24s %zu ops, dm-cache blocks=%u version=%u "
			       "meta=%" PRIu64 " cache=%s\n", names[i], sc->nr_ops,
			       sc->geo.cache.cblocks, sc->geo.cache.version,
			       sc->geo.meta_blocks,
			       pool_cache_text(sc->geo.cache_blocks, cache,
					       sizeof(cache)));
			scenario_free(sc);
		} else if (ok) {
			char pool[160];

			/* "pool data=... cache=default format=open": the
			 * line as the file says it, less its "pool " */
			pool_geometry_format(&sc->geo, pool, sizeof(pool));
			printf("%-24s %zu ops, %s\n", names[i], sc->nr_ops,
			       pool + 5);
			scenario_free(sc);
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

int cmd_mutants(int argc, char **argv)
{
	(void)argv;
	if (argc)
		return cli_usage_error("mutants takes no arguments%s", "");
	for (const struct pd_mutant_info *m = pd_mutant_names; m->name; m++) {
		printf("%-28s %s\n", m->name, m->what);
		printf("%-28s   undoes: %s\n", "",
		       *m->fix ? m->fix : "(no Linux fix: a plausible bug)");
	}
#ifndef PD_MUTANTS
	printf("(this build has none compiled in: use build/pdcrash-mutants)\n");
#endif
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("no command%s", "");
	pdcrash_prog_name = argv[0];
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
	if (!strcmp(argv[1], "diff"))
		return cmd_diff(argc - 2, argv + 2);
	if (!strcmp(argv[1], "search"))
		return cmd_search(argc - 2, argv + 2);
	return cli_usage_error("unknown command '%s'", argv[1]);
}
