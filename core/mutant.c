/* core/mutant.c - the catalogue of planted bugs (see mutant.h). */
#include <errno.h>
#include <string.h>

#include "mutant.h"

const struct pd_mutant_info pd_mutant_names[] = {
	{ "no-flush-before-superblock",
	  "pre_commit writes the metadata but issues no device flush, so the "
	  "superblock may land before the blocks it points to" },
	{ "superblock-first",
	  "commit writes the superblock before the other dirty metadata "
	  "blocks, with one flush after all of them" },
	{ "superblock-despite-flush-error",
	  "commit locks and fills the superblock before the metadata flush, "
	  "and after that flush fails the dirty superblock is still written" },
	{ NULL, NULL },
};

static const char *active;

int pd_mutant_set(const char *name)
{
	if (!name) {
		active = NULL;
		return 0;
	}
	for (const struct pd_mutant_info *m = pd_mutant_names; m->name; m++) {
		if (!strcmp(m->name, name)) {
#ifdef PD_MUTANTS
			active = m->name;
			return 0;
#else
			return -EOPNOTSUPP;
#endif
		}
	}
	return -EINVAL;
}

const char *pd_mutant_get(void)
{
	return active;
}

#ifdef PD_MUTANTS
int pd_mutant_active(const char *name)
{
	return active && !strcmp(active, name);
}
#endif
