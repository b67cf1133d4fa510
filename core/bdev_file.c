/* core/bdev_file.c - the file backend of core/bdev.h: a regular file (or a
 * block device) as a block device.
 *
 * Block b lives at byte offset b * block_size.  Reads and writes loop over
 * pread/pwrite, retrying EINTR and continuing after partial transfers; a
 * transfer that stops short (end of file on read, no progress on write) or
 * fails is -EIO.  flush() is fdatasync(); a BDEV_FUA write is followed by
 * fdatasync() before it returns, so B2 holds as far as the kernel keeps its
 * promises.  The backend never tears a write on its own, but it cannot
 * promise atomic blocks either (caps is 0: a power cut during pwrite may
 * leave any mix of sectors, B3).
 *
 * Sizes: with BDEV_FILE_CREATE the file is created or truncated, then sized
 * to nr_blocks.  Otherwise nr_blocks 0 takes the file's size rounded down to
 * whole blocks (a tail shorter than a block is unreachable), and a non-zero
 * nr_blocks is taken as given: blocks past the end of a shorter file read as
 * -EIO (short read) until written.  resize() is ftruncate().
 *
 * Errors: -EINVAL bad arguments; -EPERM a write or resize on a
 * BDEV_FILE_READONLY device (its flush is a no-op that succeeds); -EIO any
 * failed or short transfer, sync or truncate; -ENOMEM.  bdev_file_open()
 * passes open()'s own -errno through (-ENOENT, -EACCES, ...) so callers can
 * say what was wrong with the path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "bdev.h"
#include "util.h"

struct bdev_file {
	struct bdev bd;
	int fd;
	int readonly;			/* opened O_RDONLY */
};

static struct bdev_file *to_file(struct bdev *bd)
{
	return pd_container_of(bd, struct bdev_file, bd);
}

static int file_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct bdev_file *f = to_file(bd);
	off_t off = (off_t)(b * bd->block_size);
	size_t done = 0;

	if (b >= bd->nr_blocks)
		return -EINVAL;
	while (done < bd->block_size) {
		ssize_t n = pread(f->fd, (char *)buf + done,
				  bd->block_size - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;	/* error, or end of file: short read */
		done += (size_t)n;
	}
	return 0;
}

static int file_write(struct bdev *bd, pd_block_t b, const void *buf,
		      unsigned flags)
{
	struct bdev_file *f = to_file(bd);
	off_t off = (off_t)(b * bd->block_size);
	size_t done = 0;

	if (b >= bd->nr_blocks || (flags & ~(unsigned)BDEV_FUA))
		return -EINVAL;
	if (f->readonly)
		return -EPERM;
	while (done < bd->block_size) {
		ssize_t n = pwrite(f->fd, (const char *)buf + done,
				   bd->block_size - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	if ((flags & BDEV_FUA) && fdatasync(f->fd))
		return -EIO;
	return 0;
}

static int file_flush(struct bdev *bd)
{
	struct bdev_file *f = to_file(bd);

	if (f->readonly)
		return 0;	/* nothing was written */
	return fdatasync(f->fd) ? -EIO : 0;
}

static int file_resize(struct bdev *bd, pd_block_t nr_blocks)
{
	struct bdev_file *f = to_file(bd);

	if (f->readonly)
		return -EPERM;
	if (nr_blocks > (uint64_t)INT64_MAX / bd->block_size)
		return -EINVAL;
	if (ftruncate(f->fd, (off_t)(nr_blocks * bd->block_size)))
		return -EIO;
	bd->nr_blocks = nr_blocks;
	return 0;
}

static void file_destroy(struct bdev *bd)
{
	struct bdev_file *f = to_file(bd);

	close(f->fd);
	pd_free(f);
}

static const struct bdev_ops file_ops = {
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.resize = file_resize,
	.destroy = file_destroy,
};

int bdev_file_open(const char *path, uint32_t block_size, pd_block_t nr_blocks,
		   unsigned flags, struct bdev **result)
{
	const unsigned known = BDEV_FILE_CREATE | BDEV_FILE_READONLY;
	struct bdev_file *f;
	int oflags, r;
	off_t size;

	if (!path || !result || !block_size || block_size % PD_SECTOR_SIZE ||
	    (flags & ~known) ||
	    ((flags & BDEV_FILE_CREATE) && (flags & BDEV_FILE_READONLY)) ||
	    nr_blocks > (uint64_t)INT64_MAX / block_size)
		return -EINVAL;
	f = pd_calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	oflags = O_CLOEXEC;
	if (flags & BDEV_FILE_READONLY)
		oflags |= O_RDONLY;
	else
		oflags |= O_RDWR;
	if (flags & BDEV_FILE_CREATE)
		oflags |= O_CREAT | O_TRUNC;
	f->fd = open(path, oflags, 0644);
	if (f->fd < 0) {
		r = -errno;
		goto out_free;
	}
	if (flags & BDEV_FILE_CREATE) {
		if (ftruncate(f->fd, (off_t)(nr_blocks * block_size))) {
			r = -EIO;
			goto out_close;
		}
	} else if (!nr_blocks) {
		/* lseek, not fstat: it also sizes block devices. */
		size = lseek(f->fd, 0, SEEK_END);
		if (size < 0) {
			r = -EIO;
			goto out_close;
		}
		nr_blocks = (pd_block_t)size / block_size;
	}
	f->bd.ops = &file_ops;
	f->bd.block_size = block_size;
	f->bd.nr_blocks = nr_blocks;
	f->bd.caps = 0;
	f->readonly = !!(flags & BDEV_FILE_READONLY);
	*result = &f->bd;
	return 0;

out_close:
	close(f->fd);
out_free:
	pd_free(f);
	return r;
}
