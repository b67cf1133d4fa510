/* harness/engine/liveid.h - ids of live-run failures.
 *
 * A live failure is the workload itself disagreeing with the oracle (a
 * result, a lookup, a digest): no crash state is involved, so it has no
 * cut or persistence choice.  Its id is
 *
 *   NAME:sSEED:live:eFAULT        e.g. deep+small:s1:live:e0
 *
 * (scenario and variant, seed, injected fault as in explore.h).  `pdcrash
 * replay` runs that workload again and reports the disagreement; `pdcrash
 * minimize` shrinks it to the fewest ops that still disagree.
 */
#ifndef PD_LIVEID_H
#define PD_LIVEID_H

#include <stddef.h>

#include "explore.h"

#define LIVE_ID_TAG ":live:"

/* The id of a live failure of run `name` (with variant), seed and fault. */
int live_id_format(const char *name, uint64_t seed,
		   const struct fault_spec *fault, char *buf, size_t len);
/* 1 and id filled (cut 0, choice 0 of 1) if text is a live id; 0 if it
 * is not one (parse it with state_id_parse); -EINVAL if it is a
 * malformed one (err says what). */
int live_id_parse(const char *text, struct state_id *id, char *err,
		  size_t errlen);

#endif /* PD_LIVEID_H */
