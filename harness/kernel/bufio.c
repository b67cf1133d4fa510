/* harness/kernel/bufio.c - dm-bufio on struct bdev; the contract is
 * harness/kernel/bufio.h (KB1..KB9).
 *
 * Compiled once per kernel version, against that version's
 * include/linux/dm-bufio.h, so the compiler checks every prototype.
 * One thread: no locks, and every I/O is synchronous, so "async" writes
 * have completed when the call that issued them returns.
 *
 * Buffers live in a hash table (by block) and on one LRU list (most
 * recently used at the head); a buffer moves to the head when it is taken
 * and when it is released.  Eviction and write-back walk from the tail.
 */
#include <linux/dm-bufio.h>
#include <linux/slab.h>
#include <linux/device-mapper.h>

#include "bdev.h"
#include "bufio.h"

#define DM_MSG_PREFIX "bufio"

struct dm_buffer {
	struct dm_bufio_client *c;
	sector_t block;
	unsigned hold;			/* read/get/new not yet released */
	bool dirty;
	int read_error;			/* KB5: a failed prefetch */
	int write_error;		/* KB3 */
	struct list_head lru;		/* c->lru, most recent first */
	struct dm_buffer *hash_next;
	void *data;			/* block_size bytes */
	max_align_t aux[];		/* aux_size bytes */
};

struct dm_bufio_client {
	struct block_device *bdev;
	struct bdev *bd;
	unsigned block_size;		/* bytes */
	unsigned aux_size;
	void (*alloc_callback)(struct dm_buffer *);
	void (*write_callback)(struct dm_buffer *);
	unsigned long bound;		/* KB1 */
	bool none;			/* KB9: held buffers only */
	unsigned long minimum;		/* dm_bufio_set_minimum_buffers */
	int ratio;			/* KB2; < 0 off */
	int async_write_error;		/* KB3: first since the last KB4 */
	struct list_head lru;
	struct dm_buffer **hash;
	unsigned long hash_mask;
	struct kbufio_stats stats;	/* nr_buffers, nr_dirty, nr_held kept live */
};

static struct dm_buffer **bucket(struct dm_bufio_client *c, sector_t block)
{
	return &c->hash[(block * 0x9E3779B97F4A7C15ull >> 20) & c->hash_mask];
}

static struct dm_buffer *find(struct dm_bufio_client *c, sector_t block)
{
	struct dm_buffer *b;

	for (b = *bucket(c, block); b; b = b->hash_next)
		if (b->block == block)
			return b;
	return NULL;
}

static void touch(struct dm_buffer *b)
{
	list_del(&b->lru);
	list_add(&b->lru, &b->c->lru);
}

static void set_dirty(struct dm_buffer *b, bool dirty)
{
	if (b->dirty != dirty)
		b->c->stats.nr_dirty += dirty ? 1 : -1;
	b->dirty = dirty;
}

static void free_buffer(struct dm_buffer *b)
{
	struct dm_bufio_client *c = b->c;
	struct dm_buffer **pp = bucket(c, b->block);

	while (*pp != b)
		pp = &(*pp)->hash_next;
	*pp = b->hash_next;
	list_del(&b->lru);
	set_dirty(b, false);
	c->stats.nr_buffers--;
	free(b->data);
	kfree(b);
}

/* KB3 */
static void write_buffer(struct dm_buffer *b)
{
	struct dm_bufio_client *c = b->c;
	int r;

	if (c->write_callback)
		c->write_callback(b);
	set_dirty(b, false);
	b->write_error = 0;
	r = bdev_write(c->bd, b->block, b->data, 0);
	if (r) {
		b->write_error = r;
		if (!c->async_write_error)
			c->async_write_error = r;
	}
}

/* Every dirty buffer, least recently used first; held ones only if asked. */
static void write_dirty(struct dm_bufio_client *c, bool held_too, bool count)
{
	struct dm_buffer *b, *prev;

	for (b = list_entry(c->lru.prev, struct dm_buffer, lru);
	     &b->lru != &c->lru; b = prev) {
		prev = list_entry(b->lru.prev, struct dm_buffer, lru);
		if (!b->dirty || (b->hold && !held_too))
			continue;
		write_buffer(b);
		if (count)
			c->stats.writebacks++;
	}
}

/* An unheld buffer out of the cache, written back first if dirty (KB1,
 * KB9). */
static void evict_buffer(struct dm_buffer *b)
{
	struct dm_bufio_client *c = b->c;

	if (b->dirty) {
		write_buffer(b);
		c->stats.writebacks++;
	}
	free_buffer(b);
	c->stats.evictions++;
}

/* KB1: make room for one more buffer. */
static void evict(struct dm_bufio_client *c)
{
	unsigned long bound = max(c->bound, c->minimum);
	struct dm_buffer *b, *prev;
	int pass;

	for (pass = 0; pass < 2 && c->stats.nr_buffers >= bound; pass++) {
		for (b = list_entry(c->lru.prev, struct dm_buffer, lru);
		     &b->lru != &c->lru && c->stats.nr_buffers >= bound;
		     b = prev) {
			prev = list_entry(b->lru.prev, struct dm_buffer, lru);
			if (!b->hold && (pass == 1 || !b->dirty))
				evict_buffer(b);
		}
	}
}

/* KB9: free every unheld buffer, writing the dirty ones back first. */
static void drop_unheld(struct dm_bufio_client *c)
{
	struct dm_buffer *b, *prev;

	if (!c->none)
		return;
	for (b = list_entry(c->lru.prev, struct dm_buffer, lru);
	     &b->lru != &c->lru; b = prev) {
		prev = list_entry(b->lru.prev, struct dm_buffer, lru);
		if (!b->hold)
			evict_buffer(b);
	}
}

/* KB2 */
static void check_watermark(struct dm_bufio_client *c)
{
	unsigned long clean = c->stats.nr_buffers - c->stats.nr_dirty;

	if (c->ratio >= 0 && c->stats.nr_dirty > clean * (unsigned long)c->ratio)
		write_dirty(c, false, true);
}

/* A new unheld clean buffer for block (not cached), or NULL. */
static struct dm_buffer *add_buffer(struct dm_bufio_client *c, sector_t block)
{
	struct dm_buffer *b, **head;

	evict(c);
	check_watermark(c);
	b = kzalloc(sizeof(*b) + c->aux_size, GFP_NOIO);
	if (!b)
		return NULL;
	b->data = calloc(1, c->block_size);
	if (!b->data) {
		kfree(b);
		return NULL;
	}
	b->c = c;
	b->block = block;
	head = bucket(c, block);
	b->hash_next = *head;
	*head = b;
	list_add(&b->lru, &c->lru);
	c->stats.nr_buffers++;
	if (c->alloc_callback)
		c->alloc_callback(b);
	return b;
}

static void hold(struct dm_buffer *b)
{
	if (!b->hold++)
		b->c->stats.nr_held++;
	touch(b);
}

enum new_mode { NF_READ, NF_GET, NF_FRESH };

static void *new_read(struct dm_bufio_client *c, sector_t block,
		      enum new_mode mode, struct dm_buffer **bp)
{
	struct dm_buffer *b;
	int r;

	drop_unheld(c);
	b = find(c, block);
	if (!b) {
		if (mode == NF_GET)
			return NULL;
		b = add_buffer(c, block);
		if (!b)
			return ERR_PTR(-ENOMEM);
		if (mode == NF_READ) {
			r = bdev_read(c->bd, block, b->data);
			if (r) {
				free_buffer(b);
				return ERR_PTR(r);
			}
		}
	}
	hold(b);
	if (b->read_error) {
		r = b->read_error;
		dm_bufio_release(b);
		return ERR_PTR(r);
	}
	*bp = b;
	return b->data;
}

void *dm_bufio_read(struct dm_bufio_client *c, sector_t block,
		    struct dm_buffer **bp)
{
	return new_read(c, block, NF_READ, bp);
}

void *dm_bufio_get(struct dm_bufio_client *c, sector_t block,
		   struct dm_buffer **bp)
{
	return new_read(c, block, NF_GET, bp);
}

void *dm_bufio_new(struct dm_bufio_client *c, sector_t block,
		   struct dm_buffer **bp)
{
	return new_read(c, block, NF_FRESH, bp);
}

void dm_bufio_prefetch(struct dm_bufio_client *c, sector_t block,
		       unsigned int n_blocks)
{
	struct dm_buffer *b;

	drop_unheld(c);
	for (; n_blocks--; block++) {
		if (find(c, block))
			continue;
		b = add_buffer(c, block);
		if (!b)
			return;
		b->read_error = bdev_read(c->bd, block, b->data);
	}
}

void dm_bufio_release(struct dm_buffer *b)
{
	struct dm_bufio_client *c = b->c;

	BUG_ON(!b->hold);
	touch(b);
	if (--b->hold)
		return;
	c->stats.nr_held--;
	if ((b->read_error || b->write_error) && !b->dirty)
		free_buffer(b);
}

void dm_bufio_mark_partial_buffer_dirty(struct dm_buffer *b,
					unsigned int start, unsigned int end)
{
	BUG_ON(!b->hold);
	BUG_ON(start >= end || end > b->c->block_size);
	set_dirty(b, true);
}

void dm_bufio_mark_buffer_dirty(struct dm_buffer *b)
{
	dm_bufio_mark_partial_buffer_dirty(b, 0, b->c->block_size);
}

void dm_bufio_write_dirty_buffers_async(struct dm_bufio_client *c)
{
	write_dirty(c, true, false);
}

int dm_bufio_issue_flush(struct dm_bufio_client *c)
{
	return bdev_flush(c->bd);
}

/* KB4 */
int dm_bufio_write_dirty_buffers(struct dm_bufio_client *c)
{
	int a, f;

	write_dirty(c, true, false);
	a = c->async_write_error;
	c->async_write_error = 0;
	f = dm_bufio_issue_flush(c);
	return a ? a : f;
}

int dm_bufio_issue_discard(struct dm_bufio_client *c, sector_t block,
			   sector_t count)
{
	(void)c;
	(void)block;
	(void)count;
	return -EOPNOTSUPP;
}

/* KB7 */
void dm_bufio_forget(struct dm_bufio_client *c, sector_t block)
{
	struct dm_buffer *b = find(c, block);

	if (b && !b->hold && !b->dirty)
		free_buffer(b);
}

void dm_bufio_forget_buffers(struct dm_bufio_client *c, sector_t block,
			     sector_t n_blocks)
{
	for (; n_blocks--; block++)
		dm_bufio_forget(c, block);
}

void dm_bufio_set_minimum_buffers(struct dm_bufio_client *c, unsigned int n)
{
	c->minimum = n;
}

unsigned int dm_bufio_get_block_size(struct dm_bufio_client *c)
{
	return c->block_size;
}

sector_t dm_bufio_get_device_size(struct dm_bufio_client *c)
{
	return bdev_nr_blocks(c->bd);
}

sector_t dm_bufio_get_block_number(struct dm_buffer *b)
{
	return b->block;
}

void *dm_bufio_get_block_data(struct dm_buffer *b)
{
	return b->data;
}

void *dm_bufio_get_aux_data(struct dm_buffer *b)
{
	return b->aux;
}

struct dm_bufio_client *dm_bufio_get_client(struct dm_buffer *b)
{
	return b->c;
}

void dm_bufio_set_sector_offset(struct dm_bufio_client *c, sector_t start)
{
	(void)c;
	BUG_ON(start);		/* the metadata device starts at sector 0 */
}

struct dm_bufio_client *
dm_bufio_client_create(struct block_device *bdev, unsigned int block_size,
		       unsigned int reserved_buffers, unsigned int aux_size,
		       void (*alloc_callback)(struct dm_buffer *),
		       void (*write_callback)(struct dm_buffer *),
		       unsigned int flags)
{
	struct dm_bufio_client *c;
	unsigned long n;

	(void)flags;
	if (!bdev || !bdev->bd || block_size != bdev->bd->block_size ||
	    !reserved_buffers)
		return ERR_PTR(-EINVAL);
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return ERR_PTR(-ENOMEM);
	c->bdev = bdev;
	c->bd = bdev->bd;
	c->block_size = block_size;
	c->aux_size = aux_size;
	c->alloc_callback = alloc_callback;
	c->write_callback = write_callback;
	c->none = bdev->cache_blocks == KBUFIO_CACHE_NONE;
	c->bound = bdev->cache_blocks && !c->none ? bdev->cache_blocks
						  : KBUFIO_DEFAULT_CACHE;
	c->minimum = reserved_buffers;
	c->ratio = bdev->writeback_ratio ? bdev->writeback_ratio
					 : KBUFIO_WRITEBACK_RATIO;
	INIT_LIST_HEAD(&c->lru);
	for (n = 64; n < 2 * c->bound && n < (1ul << 20); n <<= 1)
		;
	c->hash = kcalloc(n, sizeof(*c->hash), GFP_KERNEL);
	if (!c->hash) {
		kfree(c);
		return ERR_PTR(-ENOMEM);
	}
	c->hash_mask = n - 1;
	return c;
}

/* KB6 */
static void drop_buffers(struct dm_bufio_client *c)
{
	struct dm_buffer *b, *tmp;

	write_dirty(c, true, false);
	list_for_each_entry_safe(b, tmp, &c->lru, lru)
		if (!b->hold)
			free_buffer(b);
}

void dm_bufio_client_reset(struct dm_bufio_client *c)
{
	drop_buffers(c);
}

void dm_bufio_client_destroy(struct dm_bufio_client *c)
{
	struct dm_buffer *b;

	drop_buffers(c);
	if (c->stats.nr_buffers) {
		list_for_each_entry(b, &c->lru, lru)
			DMERR("leaked buffer %llx, hold count %u",
			      (unsigned long long)b->block, b->hold);
		WARN_ON(c->stats.nr_buffers);
	}
	kfree(c->hash);
	kfree(c);
}

void kbufio_get_stats(struct dm_bufio_client *c, struct kbufio_stats *s)
{
	*s = c->stats;
}

/* linux/blkdev.h */
sector_t bdev_nr_sectors(struct block_device *bdev)
{
	return bdev_nr_blocks(bdev->bd) * (bdev->bd->block_size >> SECTOR_SHIFT);
}
