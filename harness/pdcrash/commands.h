/* harness/pdcrash/commands.h - the subcommands of build/pdcrash.
 *
 * Each takes the arguments after its name and returns the exit status:
 * 0 every state survived (or nothing to report), 1 a violation, 2 bad usage
 * or bad input (a message on stderr names it).  main.c dispatches.
 */
#ifndef PD_COMMANDS_H
#define PD_COMMANDS_H

int cmd_run(int argc, char **argv);		/* main.c */
int cmd_list(int argc, char **argv);		/* main.c */
int cmd_mutants(int argc, char **argv);		/* main.c */
int cmd_replay(int argc, char **argv);		/* replay.c */
int cmd_minimize(int argc, char **argv);	/* minimize.c */
int cmd_search(int argc, char **argv);		/* search.c */
int cmd_merge(int argc, char **argv);		/* merge.c */
int cmd_diff(int argc, char **argv);		/* diff.c */

/* How this program was invoked (argv[0]), for the replay hints it prints:
 * build/search/pdcrash's ids replay with that binary, not another. */
extern const char *pdcrash_prog_name;			/* main.c */

/* run --damage (scenarios loaded, options parsed) and the replay of a
 * damage id: damage_cmd.c */
struct run_opts;
int cmd_run_damage(const struct run_opts *o);
int replay_damage(const char *idtext, const char *save_image);

#endif /* PD_COMMANDS_H */
