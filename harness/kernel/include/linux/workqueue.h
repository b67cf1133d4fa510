/* linux/workqueue.h - empty: dm-thin-metadata.c includes it but uses
 * nothing from it. */
#ifndef KSHIM_LINUX_WORKQUEUE_H
#define KSHIM_LINUX_WORKQUEUE_H
#endif
