/* linux/device-mapper.h - the dm message macros and division helpers.
 * Models: DMERR/DMWARN/DMINFO print "device-mapper: PREFIX: msg" through
 * kshim_log (stderr, silenced by kshim_quiet); the _LIMIT variants are not
 * rate limited; DMEMIT (a target's status text) appends to result.  The
 * real header reaches linux/mutex.h through bio.h; this one includes it
 * directly (dm-cache-metadata.c locks its table of open devices).
 * Ignores: targets, tables, bios (we host metadata code only).
 */
#ifndef KSHIM_LINUX_DEVICE_MAPPER_H
#define KSHIM_LINUX_DEVICE_MAPPER_H

#include <linux/kernel.h>
#include <linux/blkdev.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/slab.h>

#define DM_NAME "device-mapper"
#define DM_FMT(fmt) DM_NAME ": " DM_MSG_PREFIX ": " fmt "\n"
#define DMERR(fmt, ...) pr_err(DM_FMT(fmt), ##__VA_ARGS__)
#define DMERR_LIMIT(fmt, ...) pr_err_ratelimited(DM_FMT(fmt), ##__VA_ARGS__)
#define DMWARN(fmt, ...) pr_warn(DM_FMT(fmt), ##__VA_ARGS__)
#define DMWARN_LIMIT(fmt, ...) pr_warn_ratelimited(DM_FMT(fmt), ##__VA_ARGS__)
#define DMINFO(fmt, ...) pr_info(DM_FMT(fmt), ##__VA_ARGS__)
#define DMDEBUG(fmt, ...) pr_debug(DM_FMT(fmt), ##__VA_ARGS__)

#define DMEMIT(x...) (sz += ((sz >= maxlen) ? 0 : \
	scnprintf(result + sz, maxlen - sz, x)))

#define dm_div_up(n, sz) (((n) + (sz) - 1) / (sz))
#define dm_sector_div_up(n, sz) ({ sector_t kdu_r = ((n) + (sz) - 1); sector_div(kdu_r, (sz)); kdu_r; })
#define dm_round_up(n, sz) (dm_div_up((n), (sz)) * (sz))

#endif /* KSHIM_LINUX_DEVICE_MAPPER_H */
