/* core/fiu-local.h - libfiu hooks, or nothing.
 *
 * Built with -DFIU_ENABLE=1 (make FIU=1, the default) the fault points are
 * real libfiu points that fiu-run, fiu-ctrl, the python fiu module or our own
 * harness can switch on.  Built without it they compile to nothing, so a
 * FIU=0 build carries no trace of them.
 */
#ifndef PD_FIU_LOCAL_H
#define PD_FIU_LOCAL_H

#if defined(FIU_ENABLE) && FIU_ENABLE

#include <fiu.h>

#else

#define fiu_init(flags) 0
#define fiu_fail(name) 0
#define fiu_failinfo() NULL
#define fiu_do_on(name, action)
#define fiu_exit_on(name)
#define fiu_return_on(name, retval)

#endif

#endif /* PD_FIU_LOCAL_H */
