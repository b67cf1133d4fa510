/* harness/engine/covdump.h - gcov counters of worker processes.
 *
 * Workers check crash states in forked children that leave with _exit(),
 * which skips gcov's exit handler: without help their coverage is lost.
 * In a coverage build (make COV=1 defines PD_COVERAGE) a worker resets
 * the counters it inherited from the parent when it starts, so that what
 * it writes is what recovery reached and nothing the workload did, and
 * dumps them before it exits.  PDCRASH_GCOV_WORKER_PREFIX, when set,
 * becomes the worker's GCOV_PREFIX (libgcov reads it at dump time), so
 * `make coverage-crash` gets the workloads' counters (the parent's, under
 * its own GCOV_PREFIX) and recovery's in separate trees.  A fault run of
 * the --io-errors sweep runs in a fork of the workload process: it keeps
 * the counters (and GCOV_PREFIX) it inherited, so they count as workload,
 * and dumps them before its _exit (cov_fault_run_exit).  In any other
 * build the calls are empty.
 */
#ifndef PD_COVDUMP_H
#define PD_COVDUMP_H

#ifdef PD_COVERAGE
#include <stdlib.h>

void __gcov_reset(void);
void __gcov_dump(void);

static inline void cov_worker_start(void)
{
	const char *p = getenv("PDCRASH_GCOV_WORKER_PREFIX");

	if (p && *p)
		setenv("GCOV_PREFIX", p, 1);
	__gcov_reset();
}

static inline void cov_worker_exit(void)
{
	__gcov_dump();
}

static inline void cov_fault_run_exit(void)
{
	__gcov_dump();
}
#else
static inline void cov_worker_start(void) {}
static inline void cov_worker_exit(void) {}
static inline void cov_fault_run_exit(void) {}
#endif

#endif /* PD_COVDUMP_H */
