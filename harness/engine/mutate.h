/* harness/engine/mutate.h - scenario mutations for `pdcrash search`.
 *
 * A scenario is mutated line by line, as a person would edit it: insert,
 * delete, duplicate and move lines; widen, shrink, shift or split a
 * range; change a device; splice the start of one scenario with the end
 * of another; change the pool geometry and the block-manager cache; put
 * commits, aborts, snapshots, metadata snapshots and resizes at new
 * places, or between the blocks of a range (a range op cut into single
 * ops with a snapshot or a commit after each, the shape of the edge cases
 * in scenarios/reach/).
 *
 *  MU1  deterministic: the same scenario, other and PRNG state give the
 *       same result on every machine (core/prng.h only).
 *  MU2  the result always parses (scenario_to_text, then scenario_parse)
 *       and stays within MUTATE_MAX_LINES lines, MUTATE_MAX_BLOCKS
 *       blocks of expanded range ops and MUTATE_MAX_COST (scenario_cost),
 *       so every candidate stays cheap.
 *  MU3  ops that the oracle answers with an error (a map to a device that
 *       does not exist, ...) are allowed: the workload checks the core
 *       returns the same error.
 *  MU4  a candidate carries no expect= (scenario.h): an edited line may no
 *       longer meet the error its author wrote down; the oracle's own
 *       prediction is still checked (MU3).
 */
#ifndef PD_MUTATE_H
#define PD_MUTATE_H

#include <stddef.h>
#include <stdint.h>

#include "prng.h"
#include "scenario.h"

#define MUTATE_MAX_LINES 2000
#define MUTATE_MAX_BLOCKS 40000
#define MUTATE_MAX_COST 20000000	/* about 0.2 s of CPU */
/* room for a candidate's history after its parent's path (a corpus in a
 * long directory takes a hundred bytes of it) */
#define MUTATE_WHAT_MAX 1024

/* A deep copy of src named name (path NULL).  0 or -ENOMEM. */
int scenario_clone(const struct scenario *src, const char *name,
		   struct scenario **result);

/* Apply one to four mutations to sc in place; other (may be NULL) is the
 * splice partner.  what: a short description ("insert snap 7 0 at 12;
 * ...").  0, or -ENOMEM. */
int scenario_mutate(struct scenario *sc, const struct scenario *other,
		    struct prng *p, char *what, size_t len);

/* Put a protocol step right before the at-th block (0-based) of op i, a
 * range op then cut there in two, or right before op i when at is 0 or op
 * i is no range: a snapshot of the op's device most often (what follows
 * then runs on shared nodes), a commit (on committed ones), both in either
 * order, an abort, a metadata snapshot.  For `pdcrash search`, which puts
 * it where a rare edge of core/ is first reached.  MU1, MU2; what as for
 * scenario_mutate.  0, -EINVAL (no op i) or -ENOMEM. */
int scenario_step_before(struct scenario *sc, size_t i, uint64_t at,
			 struct prng *p, char *what, size_t len);

/* Append a `check` op unless sc already ends with one: the live run then
 * ends with the structural check of the last committed state, so a bad
 * reference count shows without a crash state.  0, -ENOMEM, or -E2BIG at
 * MUTATE_MAX_LINES lines. */
int scenario_end_with_check(struct scenario *sc);

/* Number sc's ops as scenario_to_text(sc, header) numbers its lines, for a
 * header of header_lines lines: a random line's ops are drawn from its
 * line number (workload.c), so a candidate run from memory runs as its
 * file will. */
void scenario_number_lines(struct scenario *sc, unsigned header_lines);

/* The text of a scenario file for sc (the pool line, then one line per
 * op, random lines in full), after header (may be NULL).  malloc'd; NULL
 * when out of memory. */
char *scenario_to_text(const struct scenario *sc, const char *header);

/* Blocks of the expanded range ops plus generated random ops: the cost
 * of a run, roughly. */
uint64_t scenario_weight(const struct scenario *sc);

/* The work of a live run, roughly, in the harness's units (about 10 ns
 * each): each op, each block of a range, and the oracle's work on every
 * mapping of every device at each commit and at each map the data device
 * refuses (workload.c: the model's digest and checks; data_full); the
 * mappings counted by a small model of the ops, without their results. */
uint64_t scenario_cost(const struct scenario *sc);

#endif /* PD_MUTATE_H */
