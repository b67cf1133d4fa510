/* linux/blkdev.h - struct block_device wraps our struct bdev.
 * Models: the metadata device.  The kernel passes a struct block_device *
 * to dm_pool_metadata_open and on to dm_bufio_client_create; here it holds
 * our block device (core/bdev.h) and the knobs of our dm-bufio
 * (harness/kernel/bufio.h), filled by the caller.  The kernel never
 * frees it.  Ignores: partitions, queues, the page cache.
 */
#ifndef KSHIM_LINUX_BLKDEV_H
#define KSHIM_LINUX_BLKDEV_H

#include <linux/kernel.h>

#define SECTOR_SHIFT 9
#define SECTOR_SIZE (1 << SECTOR_SHIFT)

struct bdev;

struct block_device {
	struct bdev *bd;		/* the device; not owned */
	unsigned cache_blocks;		/* dm-bufio bound; 0 = KBUFIO_DEFAULT_CACHE,
					 * KBUFIO_CACHE_NONE = none (KB9) */
	int writeback_ratio;		/* dirty > ratio * clean writes back; 0 = 3, as
				 * the kernel; < 0 never */
	bool read_only;			/* bdev_read_only() */
};

sector_t bdev_nr_sectors(struct block_device *bdev);

static inline bool bdev_read_only(struct block_device *bdev)
{
	return bdev->read_only;
}

#endif /* KSHIM_LINUX_BLKDEV_H */
