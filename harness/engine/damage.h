/* harness/engine/damage.h - `pdcrash run --damage`: structure-aware damage
 * of every metadata block of the committed images (issues 10 and 16).
 *
 * The crash states the disk model allows are whole committed trees or are
 * stopped by a checksum first, so they never reach the core's defensive
 * checks on corrupt metadata.  This step does: for each scenario, thin
 * or dm-cache (core backend, the NAME variant: the +small one commits the
 * same images), at the selected commits (below) it takes the durable
 * image just after the commit's superblock flush, and for each metadata
 * block the superblock reaches (thin: the superblock, the held snapshot's
 * copy, every node of the mapping, details, data index and both
 * ref-count trees; dm-cache: the cache superblock, the index trees of the
 * mapping, hint, discard and dirty arrays and their array blocks, the
 * metadata ref-count tree; both: the metadata index block, every bitmap)
 * applies each damage of a fixed list (damage_kind_name(), README
 * "pdcrash run --damage") that fits the block, with the block's checksum
 * recomputed so the damage gets past the validators.
 *
 * Selection, bounded and deterministic:
 *  DG1  commits: every DAMAGE_EVERY-th committed state (0, N, 2N, ...) and
 *       the last one of the run;
 *  DG2  blocks: a block whose location and content were damaged at an
 *       earlier selected commit of the same run is not damaged again (the
 *       superblock changes at every commit, so it always is).
 *  DG3  a scenario's setup (scenario.h setup-done): no commit before its
 *       end is selected, and the blocks of its last commit count as
 *       damaged already (DG2), so only what the ops after it wrote is
 *       damaged; a setup that never ended selects nothing.
 *
 * Recovery of each damaged image runs in a worker process (a crash is a
 * signal, a hang a timeout: DAMAGE_TIMEOUT_SEC, PDCRASH_DAMAGE_TIMEOUT):
 * open; core/check.c (strict) on the image as damaged; the core reads the
 * whole pool (the oracle's digest walk) and it is compared with the
 * committed state; the held metadata snapshot read; the probes, then an
 * abort: a walk, the remove of each device's middle mapping (three
 * siblings rebalanced: it must go, a lookup then finds nothing) and the
 * insert of the last data block the pool says it has past the first
 * device's highest block (past the 40 bits a mapping holds, which
 * sb-data-nr-bit40's bit 40 of the data block count allows, the core
 * must refuse it, -EINVAL; below them map it); the continue step (a new
 * device, mappings, a commit); then the exercise: the core's check of
 * its trees, the status line's free data count, lookups, the highest
 * mapped block, the mapped ranges from the lowest and from past the
 * highest, a remove_range past the highest, an insert, removes, a
 * snapshot and a delete on the existing devices, the held metadata
 * snapshot released, a commit (an abort after an error), so the damaged
 * trees and space maps are read, shadowed and decremented.  Before its
 * changes, when the damage (bm-used-to-free) set the count of a data
 * block to 0 and the walk met that block mapped once with no metadata
 * snapshot held, the exercise removes that mapping and aborts: the core
 * must refuse to decrement a count of 0 (core/sm.h SM4).  A dm-cache
 * image (damage_cache.c):
 * core/check_cache.c, the open, every mapping, dirty bit, hint and discard
 * bit read and compared, the crash check's continue step (ending in a
 * clean shutdown and reopen), an exercise (a remove, a dirty bit, an
 * insert, a grow and shrink, a discard bit, hints, a commit).  Outcomes:
 *  detected   the core returned an error (open, reading the pool) or the
 *             checker reported the damage (its messages name the block);
 *             whatever the continue step and the exercise do after that
 *             counts only if it crashes or hangs;
 *  harmless   the checker passes, the core reads a committed state the
 *             oracle allows, and the continue step and the exercise
 *             succeed with a clean structure after each commit;
 *  violation  a crash or a hang anywhere; or silently wrong: the core and
 *             the checker both accept the image and the state read is
 *             none of those the oracle allows (dm-cache: unless the
 *             checker warned: detected); or, on an image the checker
 *             passes with the right state, a core error later on (the
 *             core refuses what the checker accepts, or the checker
 *             misses damage the core trips on); or, whatever the checker
 *             says, the remove of that block counted 0 succeeding or
 *             the insert of a data block past 40 bits succeeding; or
 *             a refusal for damage (-EILSEQ, -ENOTBLK) of the open or of
 *             the held snapshot's read whose damage record (core/
 *             errors.h, thin_pool_params.damage) names no block, or,
 *             where the damage leaves the damaged block failing its own
 *             validation (csum-bad, zero, blocknr-other, sb-magic: the
 *             one block a reader can find damaged), names another (the
 *             record's text is in the finding).
 *
 * Ids: NAME:sSEED:dK.BLOCK.KIND:e0 (committed state K, block, damage kind
 * by name), e.g. snapshots:s1:d3.17.child-self:e0.  `pdcrash replay ID`
 * rebuilds the damaged image and reruns its recovery; --save-image writes
 * the damaged image.
 *
 * Environment: PDCRASH_DAMAGE_TIMEOUT (seconds a recovery may take),
 * PDCRASH_DAMAGE_EVERY (DG1's N), PDCRASH_DAMAGE_LOG (every image's id,
 * outcome and message on stderr), and the self-test hooks of driver.h:
 * PDCRASH_SELFTEST_CRASH=N / PDCRASH_SELFTEST_HANG=N make the recovery of
 * damaged image N (counted over the whole run from 0) crash or hang.
 */
#ifndef PD_DAMAGE_H
#define PD_DAMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bdev.h"
#include "driver.h"
#include "scenario.h"

#define DAMAGE_EVERY 4			/* DG1 */
#define DAMAGE_TIMEOUT_SEC 10		/* per recovery */
#define DAMAGE_MSG_MAX 400

enum damage_outcome {
	DMG_DETECTED,
	DMG_HARMLESS,
	DMG_VIOLATION,
	DMG_NR
};

const char *damage_outcome_name(enum damage_outcome o);

/* The damage kinds, in list order: name (as ids spell it) and what it
 * does.  A name out of range is "?". */
#define DAMAGE_MAX_KINDS 128
unsigned damage_nr_kinds(void);
const char *damage_kind_name(unsigned k);
const char *damage_kind_what(unsigned k);

struct damage_id {
	char name[128];			/* scenario (and variant) */
	uint64_t seed;
	uint64_t commit;		/* committed state K */
	pd_block_t block;
	unsigned kind;			/* 0 .. damage_nr_kinds() - 1 */
};

int damage_id_format(const struct damage_id *id, char *buf, size_t len);
/* 1 and *id if text is a damage id; 0 if it is not one (another kind of
 * id); -EINVAL if it is a malformed one (err says what). */
int damage_id_parse(const char *text, struct damage_id *id, char *err,
		    size_t errlen);

struct damage_scn_stats {
	char name[128];
	uint64_t commits;		/* committed states of the run */
	uint64_t commits_damaged;	/* DG1 */
	uint64_t blocks;		/* block versions damaged (DG2) */
	uint64_t images;		/* damaged images recovered */
	uint64_t outcomes[DMG_NR];
	uint64_t core_only;		/* detected by a core error on an image
					 * the checker passes */
	uint64_t named;			/* detected, the message naming the
					 * damaged block (issue 16) */
	int live_failed;		/* the workload disagreed with its model */
};

struct damage_violation {
	char id[200];
	char msg[DAMAGE_MSG_MAX];
};

struct damage_summary {
	struct damage_scn_stats *scn;
	size_t nr_scn;
	uint64_t images, outcomes[DMG_NR], core_only, named;
	uint64_t commits, commits_damaged, blocks;
	uint64_t per_kind[DAMAGE_MAX_KINDS][DMG_NR];	/* by damage kind */
	uint64_t per_kind_named[DAMAGE_MAX_KINDS];
	struct damage_violation *violations;
	size_t nr_violations, cap_violations;
	double seconds;
	double first_seconds;		/* from the start to the first
					 * violation (violations[0]) */
	double started;			/* internal: when the run began */
	unsigned jobs;
	uint64_t seed;
	uint64_t every;			/* DG1's N, as run */
};

/* Of opts, run --damage uses: the scenarios, seed, jobs, fail_fast
 * (start no more work after a violation), progress, and mutant (for the
 * report).  0 when it ran (look at the summary for violations), -errno
 * otherwise. */
int damage_run(const struct run_opts *opts, struct damage_summary *sum);
void damage_summary_free(struct damage_summary *sum);

/* The table a person reads; one JSON object (--json: `states` is the
 * damaged images and `outcomes` has detected, harmless and violation, so
 * tests/crashtest.sh reads it as it reads the other steps'); DIR/summary.md
 * and DIR/summary.json (DIR created; 0 or -errno). */
void damage_print_text(const struct run_opts *opts,
		       const struct damage_summary *sum, FILE *f);
void damage_print_json(const struct run_opts *opts,
		       const struct damage_summary *sum, FILE *f);
int damage_write_report(const struct run_opts *opts,
			const struct damage_summary *sum, const char *dir);

/*
 * Replay of one damage id, for `pdcrash replay`: sc is the id's scenario,
 * cache_blocks its variant's cache (0: the scenario's).  Runs the workload,
 * rebuilds the damaged image, writes it to save_image (NULL: not), prints
 * what was damaged, then recovers it in a worker process as the run did
 * and prints the outcome.  Returns the exit status: 0 detected or
 * harmless, 1 a violation, 2 the id does not fit (a message on stderr).
 */
int damage_replay(const struct damage_id *id, const struct scenario *sc,
		  unsigned cache_blocks, const char *save_image, FILE *f);

#endif /* PD_DAMAGE_H */
