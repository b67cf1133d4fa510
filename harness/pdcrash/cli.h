/* harness/pdcrash/cli.h - helpers shared by the pdcrash commands (harness/pdcrash/cli.c). */
#ifndef PD_CLI_H
#define PD_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "workload.h"

extern const char cli_usage_text[];

/* Print "pdcrash: <fmt with arg>" and the usage on stderr; returns 2. */
int cli_usage_error(const char *fmt, const char *arg);
/* The scenarios directory ($PDCRASH_SCENARIOS, scenarios/ beside build/). */
void cli_scenario_dir(char *out, size_t len);
/* Load a scenario by name (scenarios dir) or path; 0, or 2 after a
 * message on stderr. */
int cli_load_named(const char *arg, struct scenario **sc);
/* A SCENARIO argument into scs[*nr] (at most max): a name or a path as
 * cli_load_named takes, or a folder: every .scn below it, named as in the
 * scenarios directory when it is inside it (scenarios/cache: cache/basic,
 * ...).  0, or 2 after a message on stderr. */
int cli_load_arg(const char *arg, struct scenario **scs, size_t max,
		 size_t *nr);
/* Names of the scenarios in the directory, sorted; 0 or 2. */
int cli_list_scenarios(char ***names, size_t *nr);
/* 0, or 2 after a usage error naming flag. */
int cli_parse_u64_arg(const char *flag, const char *s, uint64_t *v);
/* Switch on a mutant; 0, or 2 after a message. */
int cli_set_mutant(const char *name);
unsigned cli_default_jobs(void);
/* NAME[+small][@BACKEND] -> scenario name and cache override; -EINVAL
 * if unknown. */
int cli_split_variant(const char *name, char *base, size_t len,
		      unsigned *cache);
/* --backend NAME (client.h): *ops NULL for core; 0, or 2 after a message
 * (unknown, or not built into this pdcrash). */
int cli_parse_backend(const char *name, const struct client_ops **ops);
/* The @BACKEND of an id's name part (none: core, *ops NULL); 0 or 2. */
int cli_split_backend(const char *name, const struct client_ops **ops);
/* One line of the op log, as replay prints it. */
void cli_print_op_line(const struct run_result *res, uint64_t i);

/* --fiu NAME[:N]: a fault point of core/fault.h failed at its Nth hit
 * (arg is split in place); 0, or 2 after a usage message. */
int cli_parse_fiu(char *arg, const char **name, uint64_t *nth);

#endif /* PD_CLI_H */
