/* core/mutant.h - planted bugs, for proving that pdcrash catches them.
 *
 * A mutant is a known historical or plausible bug, re-introduced at a
 * site marked `if (PD_MUTANT(ID))`, ID one of the PD_MUTANT_LIST entries
 * below.  A misspelt ID does not compile, in any build, so a typo cannot
 * leave a site inert.  Only the mutants build (make mutants: -DPD_MUTANTS,
 * build/pdcrash-mutants) compiles the sites in; every other build compiles
 * PD_MUTANT(...) to 0, so the bugs cannot be switched on by accident.
 * The catalogue, with the names the command line uses, is
 * pd_mutant_names[] (same order as the list).
 */
#ifndef PD_MUTANT_H
#define PD_MUTANT_H

/* X(ID, "name", "one line: the bug it plants") */
#define PD_MUTANT_LIST(X) \
	X(NO_FLUSH_BEFORE_SUPERBLOCK, "no-flush-before-superblock", \
	  "pre_commit writes the metadata but issues no device flush, so the " \
	  "superblock may land before the blocks it points to") \
	X(SUPERBLOCK_FIRST, "superblock-first", \
	  "commit writes the superblock before the other dirty metadata " \
	  "blocks, with one flush after all of them") \
	X(SUPERBLOCK_DESPITE_FLUSH_ERROR, "superblock-despite-flush-error", \
	  "commit locks and fills the superblock before the metadata flush, " \
	  "and after that flush fails the dirty superblock is still written") \
	X(REMOVE_KEEPS_MAPPING, "remove-keeps-mapping", \
	  "thin_remove of a mapped block reports success but leaves the " \
	  "mapping in place: the live run disagrees with its model")

enum pd_mutant_id {
#define PD_MUTANT_ENUM(id, name, what) PD_MUT_##id,
	PD_MUTANT_LIST(PD_MUTANT_ENUM)
#undef PD_MUTANT_ENUM
	PD_MUT_NR
};

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
int pd_mutant_active(enum pd_mutant_id id);
#define PD_MUTANT(id) pd_mutant_active(PD_MUT_##id)
#else
#define PD_MUTANT(id) ((void)PD_MUT_##id, 0)
#endif

#endif /* PD_MUTANT_H */
