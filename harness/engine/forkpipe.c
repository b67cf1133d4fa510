/* harness/engine/forkpipe.c - see forkpipe.h. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "forkpipe.h"

pid_t fork_piped(int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		pid = -errno;
		close(p[0]);
		close(p[1]);
		return pid;
	}
	close(p[pid ? 1 : 0]);
	*fd = p[pid ? 0 : 1];
	return pid;
}
