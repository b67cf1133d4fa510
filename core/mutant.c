/* core/mutant.c - the catalogue of planted bugs (see mutant.h). */
#include <errno.h>
#include <string.h>

#include "mutant.h"

const struct pd_mutant_info pd_mutant_names[] = {
#define PD_MUTANT_INFO(id, name, what, fix) { name, what, fix },
	PD_MUTANT_LIST(PD_MUTANT_INFO)
#undef PD_MUTANT_INFO
	{ NULL, NULL, NULL },
};

static int active = -1;		/* enum pd_mutant_id, or -1 */

int pd_mutant_set(const char *name)
{
	if (!name) {
		active = -1;
		return 0;
	}
	for (int i = 0; i < PD_MUT_NR; i++) {
		if (!strcmp(pd_mutant_names[i].name, name)) {
#ifdef PD_MUTANTS
			active = i;
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
	return active < 0 ? NULL : pd_mutant_names[active].name;
}

#ifdef PD_MUTANTS
int pd_mutant_active(enum pd_mutant_id id)
{
	return active == (int)id;
}
#endif
