/* core/mutant.h - planted bugs, for proving that pdcrash catches them.
 *
 * A mutant is a known historical or plausible bug, re-introduced at a
 * site marked `if (PD_MUTANT("name"))`.  Only the mutants build
 * (make mutants: -DPD_MUTANTS, build/pdcrash-mutants) compiles the sites
 * in; every other build compiles PD_MUTANT(...) to 0, so the bugs cannot
 * be switched on by accident.  The catalogue is pd_mutant_names[].
 */
#ifndef PD_MUTANT_H
#define PD_MUTANT_H

struct pd_mutant_info {
	const char *name;
	const char *what;		/* one line: the bug it plants */
};

/* The catalogue, terminated by { NULL, NULL }; present in every build. */
extern const struct pd_mutant_info pd_mutant_names[];

/* Switch one mutant on (NULL: none).  -EINVAL for an unknown name,
 * -EOPNOTSUPP in a build without mutants. */
int pd_mutant_set(const char *name);
const char *pd_mutant_get(void);

#ifdef PD_MUTANTS
int pd_mutant_active(const char *name);
#define PD_MUTANT(name) pd_mutant_active(name)
#else
#define PD_MUTANT(name) 0
#endif

#endif /* PD_MUTANT_H */
