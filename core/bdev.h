/* core/bdev.h - block devices: the only way core/ reaches storage.
 *
 * Crash model (simdisk enforces it, harness/ checks against it):
 *  B1  a write may be lost or reordered until a later flush() returns 0;
 *  B2  after flush() returns 0, every write that returned before it is
 *      durable; a write with BDEV_FUA is durable when it returns 0;
 *  B3  a block write is atomic only with BDEV_ATOMIC_BLOCK in caps, else a
 *      crash may leave any mix of old and new 512-byte sectors;
 *  B4  a failed write stores nothing, or (when tearing) some sectors; a
 *      failed flush leaves the fate of every write since the last good
 *      flush open, acknowledged or not.
 *
 * All calls return 0 or a negative errno: -EIO device error, -EINVAL a
 * block past the end or a bad argument, -ENOMEM, -EOPNOTSUPP (resize on a
 * backend that cannot).  buf is block_size bytes, owned by the caller and
 * never kept after the call returns.  After destroy() bd is gone.
 *
 * Every call goes through the inline wrappers below: the one choke point
 * for I/O, where the libfiu points bdev/read, bdev/write and bdev/flush sit.
 */
#ifndef PD_BDEV_H
#define PD_BDEV_H

#include <errno.h>
#include <stdint.h>

#include "fault.h"

typedef uint64_t pd_block_t;

#define PD_SECTOR_SIZE 512u

enum bdev_write_flags {
	BDEV_FUA = (1 << 0),	/* durable when the write returns */
};

enum bdev_caps {
	BDEV_ATOMIC_BLOCK = (1 << 0),	/* a block write never tears */
};

struct bdev;

struct bdev_ops {
	int  (*read)(struct bdev *bd, pd_block_t b, void *buf);
	int  (*write)(struct bdev *bd, pd_block_t b, const void *buf,
		      unsigned flags);
	int  (*flush)(struct bdev *bd);
	/* Grow or shrink to nr_blocks; new blocks read as zeroes.  May be NULL. */
	int  (*resize)(struct bdev *bd, pd_block_t nr_blocks);
	void (*destroy)(struct bdev *bd);
};

struct bdev {
	const struct bdev_ops *ops;	/* backends embed struct bdev first */
	uint32_t block_size;		/* bytes, a multiple of PD_SECTOR_SIZE */
	pd_block_t nr_blocks;		/* device size in blocks */
	unsigned caps;			/* enum bdev_caps */
};

static inline int bdev_read(struct bdev *bd, pd_block_t b, void *buf)
{
	fiu_return_on(FP_BDEV_READ, -EIO);
	if (b >= bd->nr_blocks)
		return -EINVAL;
	return bd->ops->read(bd, b, buf);
}

static inline int bdev_write(struct bdev *bd, pd_block_t b, const void *buf,
			     unsigned flags)
{
	fiu_return_on(FP_BDEV_WRITE, -EIO);
	if (b >= bd->nr_blocks || (flags & ~(unsigned)BDEV_FUA))
		return -EINVAL;
	return bd->ops->write(bd, b, buf, flags);
}

static inline int bdev_flush(struct bdev *bd)
{
	fiu_return_on(FP_BDEV_FLUSH, -EIO);
	return bd->ops->flush(bd);
}

static inline int bdev_resize(struct bdev *bd, pd_block_t nr_blocks)
{
	if (!bd->ops->resize)
		return -EOPNOTSUPP;
	return bd->ops->resize(bd, nr_blocks);
}

static inline pd_block_t bdev_nr_blocks(const struct bdev *bd)
{
	return bd->nr_blocks;
}

static inline void bdev_destroy(struct bdev *bd)
{
	if (bd)
		bd->ops->destroy(bd);
}

/*
 * The file backend: pread/pwrite with EINTR retry, fdatasync for flush (and
 * after a FUA write); short I/O is -EIO.  With BDEV_FILE_CREATE the file is
 * created (or truncated) to nr_blocks; otherwise nr_blocks 0 means "the
 * file's size, rounded down to whole blocks" and a file that is not a whole
 * number of blocks is still opened (the tail is unreachable).
 */
enum bdev_file_flags {
	BDEV_FILE_CREATE   = (1 << 0),
	BDEV_FILE_READONLY = (1 << 1),
};

int bdev_file_open(const char *path, uint32_t block_size, pd_block_t nr_blocks,
		   unsigned flags, struct bdev **result);

#endif /* PD_BDEV_H */
