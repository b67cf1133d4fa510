/* harness/engine/faultbdev.c - see faultbdev.h. */
#include <stdlib.h>

#include "faultbdev.h"
#include "util.h"

struct fault_bdev {
	struct bdev bd;
	struct bdev *inner;
	enum fb_kind kind;
	uint64_t nth;			/* 1-based */
	int sticky;
	uint64_t count[3];
	uint64_t failed;
	uint64_t unrecovered;		/* failures not made good since */
	pd_block_t failed_block;	/* of the last failed read */
	uint64_t *read_bits;		/* blocks read, or NULL */
	uint64_t nbits;
};

static struct fault_bdev *to_fb(struct bdev *bd)
{
	return pd_container_of(bd, struct fault_bdev, bd);
}

/* Count a call of kind k; nonzero if it must fail. */
static int fires(struct fault_bdev *fb, enum fb_kind k)
{
	uint64_t n = ++fb->count[k];

	if (k != fb->kind || fb->kind == FB_NONE || n < fb->nth ||
	    (n > fb->nth && !fb->sticky))
		return 0;
	fb->failed++;
	fb->unrecovered++;
	return 1;
}

static int fb_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct fault_bdev *fb = to_fb(bd);

	int r;

	if (fb->read_bits && b < fb->nbits)
		fb->read_bits[b / 64] |= 1ull << (b % 64);
	if (fires(fb, FB_READ)) {
		fb->failed_block = b;
		return -EIO;
	}
	r = bdev_read(fb->inner, b, buf);
	if (!r && fb->unrecovered && b == fb->failed_block && !fb->sticky)
		fb->unrecovered--;	/* the block was read again, good */
	return r;
}

static int fb_write(struct bdev *bd, pd_block_t b, const void *buf,
		    unsigned flags)
{
	struct fault_bdev *fb = to_fb(bd);

	return fires(fb, FB_WRITE) ? -EIO : bdev_write(fb->inner, b, buf, flags);
}

static int fb_flush(struct bdev *bd)
{
	struct fault_bdev *fb = to_fb(bd);

	return fires(fb, FB_FLUSH) ? -EIO : bdev_flush(fb->inner);
}

static void fb_destroy(struct bdev *bd)
{
	free(to_fb(bd));
}

static const struct bdev_ops fault_ops = {
	.read = fb_read,
	.write = fb_write,
	.flush = fb_flush,
	.resize = NULL,
	.destroy = fb_destroy,
};

int fault_bdev_wrap(struct bdev *inner, enum fb_kind kind, uint64_t nth,
		    int sticky, struct bdev **result)
{
	struct fault_bdev *fb = calloc(1, sizeof(*fb));

	if (!fb)
		return -ENOMEM;
	fb->bd.ops = &fault_ops;
	fb->bd.block_size = inner->block_size;
	fb->bd.nr_blocks = inner->nr_blocks;
	fb->bd.caps = inner->caps;
	fb->inner = inner;
	fb->kind = kind;
	fb->nth = nth;
	fb->sticky = sticky;
	*result = &fb->bd;
	return 0;
}

void fault_bdev_arm(struct bdev *bd, enum fb_kind kind, uint64_t nth,
		    int sticky)
{
	struct fault_bdev *fb = to_fb(bd);

	fb->kind = kind;
	fb->nth = kind == FB_NONE ? 0 : fb->count[kind] + nth;
	fb->sticky = sticky;
}

uint64_t fault_bdev_count(struct bdev *bd, enum fb_kind kind)
{
	return to_fb(bd)->count[kind];
}

uint64_t fault_bdev_failed(struct bdev *bd)
{
	return to_fb(bd)->failed;
}

uint64_t fault_bdev_unrecovered(struct bdev *bd)
{
	return to_fb(bd)->unrecovered;
}

void fault_bdev_record_reads(struct bdev *bd, uint64_t *bits, uint64_t nbits)
{
	struct fault_bdev *fb = to_fb(bd);

	fb->read_bits = bits;
	fb->nbits = nbits;
}
