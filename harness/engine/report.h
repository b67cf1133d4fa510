/* harness/engine/report.h - the summary of a `pdcrash run`, three ways.
 *
 * report_print_text: the table a person reads on a terminal;
 * report_print_json: one JSON object (what --json prints, what `pdcrash
 *   merge` reads back: harness/pdcrash/merge.c refuses any key not written
 *   here, so the two change together);
 * report_write: DIR/summary.md, DIR/summary.json and DIR/index.html (an SVG
 *   plot of outcomes along the op log); DIR is created.  0 or -errno.
 * None of them takes ownership of opts or sum.
 */
#ifndef PD_REPORT_H
#define PD_REPORT_H

#include <stdio.h>

#include "driver.h"

int report_write(const struct run_opts *opts, const struct run_summary *sum,
		 const char *dir);
void report_print_json(const struct run_opts *opts,
		       const struct run_summary *sum, FILE *f);
void report_print_text(const struct run_opts *opts,
		       const struct run_summary *sum, FILE *f);

#endif /* PD_REPORT_H */
