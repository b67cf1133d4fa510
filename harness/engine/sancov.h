/* harness/engine/sancov.h - SanitizerCoverage edge counters of core/, read
 * in process (for `pdcrash search`).
 *
 * `make search` compiles core/ alone with clang's
 * -fsanitize-coverage=edge,inline-8bit-counters: every edge (branch) of
 * core/ gets one byte counter, incremented inline (no call), in one array
 * the compiler's module constructors hand to
 * __sanitizer_cov_8bit_counters_init() before main().  This module is that
 * callback, and the only reader.  With SEARCH_COV=trace-pc-guard (a call
 * per edge; kept to measure the two) the guard callbacks number the edges
 * and count into an array of our own, so the interface is the same.
 *
 *  SC1  sancov_edges() is 0 in a build without the counters (every build
 *       but build/search): the search refuses to run there.
 *  SC2  the counters are per process; a forked child inherits the
 *       parent's values, so it calls sancov_reset() before the work it
 *       measures.  Counters saturate at 255 (edges, not counts, matter).
 *  SC3  edge numbers are stable for one binary, not across builds.
 *
 * The callbacks are weak, so a libFuzzer link (make fuzz), whose runtime
 * defines them too, keeps its own.
 */
#ifndef PD_SANCOV_H
#define PD_SANCOV_H

#include <stddef.h>
#include <stdint.h>

/* Number of edges of core/ instrumented (0: not an instrumented build). */
size_t sancov_edges(void);
/* The counters, sancov_edges() bytes; NULL when there are none. */
const uint8_t *sancov_counters(void);
/* Zero the counters (before the run to measure). */
void sancov_reset(void);
/* "inline-8bit-counters", "trace-pc-guard" or "none". */
const char *sancov_mode(void);

#endif /* PD_SANCOV_H */
