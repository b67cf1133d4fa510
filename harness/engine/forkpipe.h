/* harness/engine/forkpipe.h - a worker process with a pipe back to its
 * parent, as pdcrash's workers are started (driver.c, damage_run.c). */
#ifndef PD_FORKPIPE_H
#define PD_FORKPIPE_H

#include <sys/types.h>

/* Make a pipe, flush stdio (so nothing buffered is written twice) and
 * fork.  In the parent: the child's pid, *fd the read end.  In the
 * child: 0, *fd the write end (the read end closed).  -errno (nothing
 * forked, no fd open) on failure. */
pid_t fork_piped(int *fd);

#endif /* PD_FORKPIPE_H */
