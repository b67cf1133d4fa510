/* linux/sched/task.h - empty: only CONFIG_DM_DEBUG_BLOCK_MANAGER_LOCKING
 * code uses task structs, and that config is off (the block manager's
 * per-block locks then compile to nothing). */
#ifndef KSHIM_LINUX_SCHED_TASK_H
#define KSHIM_LINUX_SCHED_TASK_H
#endif
