/* linux/stacktrace.h - empty: only CONFIG_DM_DEBUG_BLOCK_STACK_TRACING
 * code uses it, and that config is off. */
#ifndef KSHIM_LINUX_STACKTRACE_H
#define KSHIM_LINUX_STACKTRACE_H
#endif
