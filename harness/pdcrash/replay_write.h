/* harness/pdcrash/replay_write.h - replay of a write id (replay_write.c). */
#ifndef PD_REPLAY_WRITE_H
#define PD_REPLAY_WRITE_H

#include "explore.h"
#include "workload.h"

/* id from write_id_parse (cut = the log entry); cfg carries --fiu.
 * Returns the exit status: 1 the write breaks a rule, 0 it does not,
 * 2 the id does not fit (a message on stderr). */
int replay_write(const char *idtext, const struct state_id *id,
		 struct run_config *cfg, int trace);

#endif /* PD_REPLAY_WRITE_H */
