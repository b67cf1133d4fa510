/* harness/pdcrash/minimize.h - the minimizer of `pdcrash minimize`, also
 * used by `pdcrash search` (minimize.c says how it works). */
#ifndef PD_MINIMIZE_H
#define PD_MINIMIZE_H

struct minimize_req {
	const char *idtext;		/* the failing id */
	const char *mutant;		/* switched on by the caller, or NULL */
	const char *outpath;		/* NULL: ./NAME-min.scn */
	unsigned max_runs;		/* 0: scaled with the workload */
	double max_seconds;		/* 0: MIN_MAX_SECONDS */
	unsigned jobs;			/* 0: cli_default_jobs() */
	int quiet_progress;		/* no progress line even on a tty */
};

/* Shrink the workload of req->idtext, write it, print the result.
 * Returns the exit status: 1 (it still fails, written), 2 (bad input or
 * the id does not fail; a message on stderr). */
int minimize_id(const struct minimize_req *req);

#endif /* PD_MINIMIZE_H */
