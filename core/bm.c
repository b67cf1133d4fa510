/* core/bm.c - the block manager (see bm.h for the contract).
 *
 * Design: every cached block has a struct bm_block in a hash table keyed
 * by block number.  Unlocked blocks sit on an LRU list (least recent at the
 * head); locked ones are off it, so eviction (BM3) only ever sees blocks
 * nobody holds.  When the cache is at its bound and a new block is needed,
 * the head of the LRU list is evicted, written back first if dirty.  With
 * BM_CACHE_NONE (BM11) there is no bound: each lock call first empties the
 * LRU list, so only locked blocks stay.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "errors.h"
#include "mutant.h"
#include "util.h"

struct bm_block {
	struct block_manager *bm;
	pd_block_t loc;
	uint8_t *data;				/* block_size bytes */
	const struct bm_validator *v;		/* NULL: not validated yet */
	unsigned read_locks;
	int write_locked;
	int dirty;
	struct bm_block *hash_next;
	struct bm_block *lru_prev, *lru_next;	/* on the list iff unlocked */
};

struct block_manager {
	struct bdev *bd;
	uint32_t block_size;
	unsigned cache_max;			/* bound on cached blocks, or
						   BM_CACHE_NONE */
	unsigned nr_cached;
	unsigned nr_locked;			/* blocks holding any lock */
	int read_only;
	struct bm_block **hash;
	size_t hash_size;			/* power of two */
	struct bm_block lru;			/* list head (sentinel) */
	struct bm_stats stats;
	struct pd_damage damage;		/* BM10 */
	char fault[160];			/* bm_block_fault() of the
						   check() running now */
};

/* --- hash table ---------------------------------------------------------- */

static size_t hash_of(const struct block_manager *bm, pd_block_t b)
{
	return (size_t)((b * 0x9e3779b97f4a7c15ull) >> 20) & (bm->hash_size - 1);
}

static struct bm_block *hash_find(struct block_manager *bm, pd_block_t b)
{
	struct bm_block *blk = bm->hash[hash_of(bm, b)];

	while (blk && blk->loc != b)
		blk = blk->hash_next;
	return blk;
}

static void hash_remove(struct block_manager *bm, struct bm_block *blk)
{
	struct bm_block **pp = &bm->hash[hash_of(bm, blk->loc)];

	while (*pp != blk)
		pp = &(*pp)->hash_next;
	*pp = blk->hash_next;
}

static int hash_grow(struct block_manager *bm)
{
	size_t n = bm->hash_size * 2, old_n = bm->hash_size;
	struct bm_block **old = bm->hash, **h = pd_calloc(n, sizeof(*h));

	if (!h)
		return -ENOMEM;
	bm->hash = h;
	bm->hash_size = n;
	for (size_t i = 0; i < old_n; i++) {
		struct bm_block *blk = old[i], *next;

		for (; blk; blk = next) {
			size_t k = hash_of(bm, blk->loc);

			next = blk->hash_next;
			blk->hash_next = h[k];
			h[k] = blk;
		}
	}
	pd_free(old);
	return 0;
}

/* --- LRU list ------------------------------------------------------------ */

static void lru_del(struct bm_block *blk)
{
	blk->lru_prev->lru_next = blk->lru_next;
	blk->lru_next->lru_prev = blk->lru_prev;
	blk->lru_prev = blk->lru_next = NULL;
}

static void lru_add_tail(struct block_manager *bm, struct bm_block *blk)
{
	blk->lru_prev = bm->lru.lru_prev;
	blk->lru_next = &bm->lru;
	bm->lru.lru_prev->lru_next = blk;
	bm->lru.lru_prev = blk;
}

static int is_locked(const struct bm_block *blk)
{
	return blk->read_locks || blk->write_locked;
}

/* --- validation ------------------------------------------------------------ */

void bm_block_fault(struct bm_block *b, const char *fmt, ...)
{
	struct block_manager *bm = b->bm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(bm->fault, sizeof(bm->fault), fmt, ap);
	va_end(ap);
}

/* v's check() of blk; a refusal is noted (BM10). */
static int run_check(struct block_manager *bm, struct bm_block *blk,
		     const struct bm_validator *v)
{
	int r;

	bm->fault[0] = '\0';
	r = v->check(v, blk, bm->block_size);
	if (r)
		pd_damage_note(&bm->damage, blk->loc, "block %" PRIu64 " (%s): %s",
			       blk->loc, v->name,
			       bm->fault[0] ? bm->fault : pd_strerror(r));
	return r;
}

/* --- write-back and eviction --------------------------------------------- */

static int write_back(struct block_manager *bm, struct bm_block *blk)
{
	int r;

	if (blk->v && blk->v->prepare_for_write)
		blk->v->prepare_for_write(blk->v, blk, bm->block_size);
	/* BM8: what the validator would refuse on read never goes out */
	if (blk->v && blk->v->check && run_check(bm, blk, blk->v))
		return -EILSEQ;
	r = bdev_write(bm->bd, blk->loc, blk->data, 0);
	if (r)
		return r;
	bm->stats.writes++;
	blk->dirty = 0;
	return 0;
}

static void free_block(struct block_manager *bm, struct bm_block *blk)
{
	hash_remove(bm, blk);
	if (blk->lru_next)
		lru_del(blk);
	bm->nr_cached--;
	pd_free(blk->data);
	pd_free(blk);
}

/* Evict the least recently used unlocked block, writing it back first if
 * it is dirty (BM3); on a write-back error it stays.  -ENOMEM if every
 * cached block is locked. */
static int evict_one(struct block_manager *bm)
{
	struct bm_block *victim = bm->lru.lru_next;
	int r;

	if (victim == &bm->lru)
		return -ENOMEM;
	if (victim->dirty) {
		r = write_back(bm, victim);
		if (r)
			return r;
	}
	free_block(bm, victim);
	bm->stats.evictions++;
	return 0;
}

/* Make room for one more block; with no cache (BM11) a locked block always
 * gets a slot. */
static int make_room(struct block_manager *bm)
{
	while (bm->cache_max != BM_CACHE_NONE && bm->nr_cached >= bm->cache_max) {
		int r = evict_one(bm);

		if (r)
			return r;
	}
	return 0;
}

/* BM11: the start of a lock call with no cache drops every unlocked block. */
static int drop_unlocked(struct block_manager *bm)
{
	if (bm->cache_max != BM_CACHE_NONE)
		return 0;
	while (bm->lru.lru_next != &bm->lru) {
		int r = evict_one(bm);

		if (r)
			return r;
	}
	return 0;
}

/* A new, unlocked, zeroed cache entry for b (not yet on the LRU list). */
static int alloc_block(struct block_manager *bm, pd_block_t b,
		       struct bm_block **result)
{
	struct bm_block *blk;
	int r;

	r = make_room(bm);
	if (r)
		return r;
	if (bm->nr_cached + 1 > bm->hash_size) {
		r = hash_grow(bm);
		if (r)
			return r;
	}
	blk = pd_calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->data = pd_calloc(1, bm->block_size);
	if (!blk->data) {
		pd_free(blk);
		return -ENOMEM;
	}
	blk->bm = bm;
	blk->loc = b;
	size_t k = hash_of(bm, b);
	blk->hash_next = bm->hash[k];
	bm->hash[k] = blk;
	bm->nr_cached++;
	*result = blk;
	return 0;
}

/* --- public API ---------------------------------------------------------- */

int bm_create(struct bdev *bd, unsigned cache_blocks,
	      struct block_manager **result)
{
	struct block_manager *bm;

	if (!bd || bd->block_size != PD_BLOCK_SIZE ||
	    (cache_blocks < 8 && cache_blocks != BM_CACHE_NONE))
		return -EINVAL;
	bm = pd_calloc(1, sizeof(*bm));
	if (!bm)
		return -ENOMEM;
	/* The table grows with the blocks cached (alloc_block), not with the
	 * bound: a bm over a small image stays cheap to flush and destroy. */
	bm->hash_size = 64;
	bm->hash = pd_calloc(bm->hash_size, sizeof(*bm->hash));
	if (!bm->hash) {
		pd_free(bm);
		return -ENOMEM;
	}
	bm->bd = bd;
	bm->block_size = bd->block_size;
	bm->cache_max = cache_blocks;
	bm->lru.lru_next = bm->lru.lru_prev = &bm->lru;
	*result = bm;
	return 0;
}

unsigned bm_destroy(struct block_manager *bm)
{
	unsigned locked = 0;

	if (!bm)
		return 0;
	for (size_t i = 0; i < bm->hash_size; i++) {
		struct bm_block *blk = bm->hash[i], *next;

		for (; blk; blk = next) {
			next = blk->hash_next;
			if (is_locked(blk)) {
				fprintf(stderr, "bm: block %llu still %s-locked at close (a bug)\n",
					(unsigned long long)blk->loc,
					blk->write_locked ? "write" : "read");
				locked++;
			}
			pd_free(blk->data);
			pd_free(blk);
		}
	}
	pd_free(bm->hash);
	pd_free(bm);
	return locked;
}

struct pd_damage *bm_damage(struct block_manager *bm)
{
	return &bm->damage;
}

struct bdev *bm_bdev(struct block_manager *bm)
{
	return bm->bd;
}

pd_block_t bm_nr_blocks(struct block_manager *bm)
{
	return bdev_nr_blocks(bm->bd);
}

uint32_t bm_block_size(struct block_manager *bm)
{
	return bm->block_size;
}

/* Find b in the cache or read it; validate on first use with v (BM5). */
static int get_block(struct block_manager *bm, pd_block_t b,
		     const struct bm_validator *v, struct bm_block **result)
{
	struct bm_block *blk;
	int r;

	if (b >= bdev_nr_blocks(bm->bd)) {
		pd_damage_note(&bm->damage, b, "reference to block %" PRIu64 ", outside the metadata device (%" PRIu64 " blocks)",
			       b, (uint64_t)bdev_nr_blocks(bm->bd));
		return -EINVAL;
	}
	blk = hash_find(bm, b);
	if (blk) {
		bm->stats.hits++;
		if (blk->v && v && blk->v != v) {
			pd_damage_note(&bm->damage, b, "block %" PRIu64 " is used as a %s and as a %s",
				       b, blk->v->name, v->name);
			return -EINVAL;
		}
		if (!blk->v && v) {
			r = v->check ? run_check(bm, blk, v) : 0;
			if (r)
				return r;
			blk->v = v;
		}
		*result = blk;
		return 0;
	}
	bm->stats.misses++;
	r = alloc_block(bm, b, &blk);
	if (r)
		return r;
	r = bdev_read(bm->bd, b, blk->data);
	if (r) {
		pd_damage_note(&bm->damage, b, "block %" PRIu64 "%s%s%s: cannot read it: %s",
			       b, v ? " (" : "", v ? v->name : "", v ? ")" : "",
			       pd_strerror(r));
		goto out_free;
	}
	bm->stats.reads++;
	if (PD_MUTANT(SKIP_READ_CHECKSUM) && v && v->prepare_for_write)
		v->prepare_for_write(v, blk, bm->block_size);
	if (v && v->check) {
		r = run_check(bm, blk, v);
		if (r)
			goto out_free;
	}
	blk->v = v;
	lru_add_tail(bm, blk);
	*result = blk;
	return 0;

out_free:
	free_block(bm, blk);
	return r;
}

static void take_lock(struct block_manager *bm, struct bm_block *blk, int write)
{
	if (!is_locked(blk)) {
		if (blk->lru_next)
			lru_del(blk);
		bm->nr_locked++;
	}
	if (write)
		blk->write_locked = 1;
	else
		blk->read_locks++;
}

int bm_read_lock(struct block_manager *bm, pd_block_t b,
		 const struct bm_validator *v, struct bm_block **result)
{
	struct bm_block *blk;
	int r;

	r = drop_unlocked(bm);
	if (r)
		return r;
	r = get_block(bm, b, v, &blk);
	if (r)
		return r;
	if (blk->write_locked)
		return -EBUSY;			/* BM7 */
	take_lock(bm, blk, 0);
	*result = blk;
	return 0;
}

int bm_write_lock(struct block_manager *bm, pd_block_t b,
		  const struct bm_validator *v, struct bm_block **result)
{
	struct bm_block *blk;
	int r;

	if (bm->read_only)
		return -EPERM;			/* BM6 */
	r = drop_unlocked(bm);
	if (r)
		return r;
	r = get_block(bm, b, v, &blk);
	if (r)
		return r;
	if (is_locked(blk))
		return -EBUSY;			/* BM7 */
	take_lock(bm, blk, 1);
	*result = blk;
	return 0;
}

int bm_write_lock_zero(struct block_manager *bm, pd_block_t b,
		       const struct bm_validator *v, struct bm_block **result)
{
	struct bm_block *blk;
	int r;

	if (bm->read_only)
		return -EPERM;
	if (b >= bdev_nr_blocks(bm->bd))
		return -EINVAL;
	r = drop_unlocked(bm);
	if (r)
		return r;
	blk = hash_find(bm, b);
	if (blk) {
		if (is_locked(blk))
			return -EBUSY;
	} else {
		r = alloc_block(bm, b, &blk);
		if (r)
			return r;
	}
	memset(blk->data, 0, bm->block_size);
	blk->v = v;
	take_lock(bm, blk, 1);
	*result = blk;
	return 0;
}

void bm_unlock(struct bm_block *blk)
{
	struct block_manager *bm = blk->bm;

	if (blk->write_locked) {
		blk->write_locked = 0;
		blk->dirty = 1;			/* BM2 */
	} else if (blk->read_locks) {
		blk->read_locks--;
	} else {
		return;				/* not locked: caller bug */
	}
	if (!is_locked(blk)) {
		bm->nr_locked--;
		lru_add_tail(bm, blk);
	}
}

pd_block_t bm_block_location(const struct bm_block *b)
{
	return b->loc;
}

void *bm_block_data(struct bm_block *b)
{
	return b->data;
}

const void *bm_block_cdata(const struct bm_block *b)
{
	return b->data;
}

static int cmp_loc(const void *a, const void *b)
{
	pd_block_t x = (*(struct bm_block *const *)a)->loc;
	pd_block_t y = (*(struct bm_block *const *)b)->loc;

	return x < y ? -1 : x > y;
}

/* Write every dirty block that is not write-locked, in block order. */
static int write_dirty(struct block_manager *bm)
{
	struct bm_block **list;
	size_t n = 0;
	int r = 0;

	list = pd_malloc((bm->nr_cached + 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < bm->hash_size; i++)
		for (struct bm_block *blk = bm->hash[i]; blk; blk = blk->hash_next)
			if (blk->dirty && !blk->write_locked)
				list[n++] = blk;
	qsort(list, n, sizeof(*list), cmp_loc);
	for (size_t i = 0; i < n; i++) {
		int w = write_back(bm, list[i]);

		if (w && !r)
			r = w;
	}
	pd_free(list);
	return r;
}

int bm_flush(struct block_manager *bm)
{
	int r, f;

	if (bm->read_only)
		return -EPERM;
	r = write_dirty(bm);
	/* BM4: the device flush is issued even after a write error, as
	 * dm-bufio does; the write error is what the caller hears. */
	f = bdev_flush(bm->bd);
	if (!f)
		bm->stats.flushes++;
	return r ? r : f;
}

#ifdef PD_MUTANTS
int bm_write_dirty(struct block_manager *bm)
{
	if (bm->read_only)
		return -EPERM;
	return write_dirty(bm);
}
#endif

int bm_reset(struct block_manager *bm)
{
	int r = 0;

	if (bm->nr_locked)
		return -EBUSY;
	for (size_t i = 0; i < bm->hash_size; i++) {
		struct bm_block *blk = bm->hash[i], *next;

		for (; blk; blk = next) {
			next = blk->hash_next;
			/* BM9: what dm-bufio would write here must pass BM8 */
			if (blk->dirty && blk->v && blk->v->check) {
				if (blk->v->prepare_for_write)
					blk->v->prepare_for_write(blk->v, blk,
								  bm->block_size);
				if (blk->v->check(blk->v, blk, bm->block_size))
					r = -EILSEQ;
			}
			pd_free(blk->data);
			pd_free(blk);
		}
		bm->hash[i] = NULL;
	}
	bm->nr_cached = 0;
	bm->lru.lru_next = bm->lru.lru_prev = &bm->lru;
	return r;
}

void bm_set_read_only(struct block_manager *bm, int ro)
{
	bm->read_only = !!ro;
}

int bm_is_read_only(const struct block_manager *bm)
{
	return bm->read_only;
}

unsigned bm_nr_locked(const struct block_manager *bm)
{
	return bm->nr_locked;
}

void bm_set_cache_blocks(struct block_manager *bm, unsigned cache_blocks)
{
	bm->cache_max = cache_blocks < 8 && cache_blocks != BM_CACHE_NONE ?
			8 : cache_blocks;
}

void bm_get_stats(const struct block_manager *bm, struct bm_stats *st)
{
	*st = bm->stats;
}

int bm_write_block(struct block_manager *bm, pd_block_t b)
{
	struct bm_block *blk = hash_find(bm, b);

	if (bm->read_only)
		return -EPERM;
	if (!blk || !blk->dirty || is_locked(blk))
		return 0;
	return write_back(bm, blk);
}

void bm_forget(struct block_manager *bm, pd_block_t b)
{
	struct bm_block *blk = hash_find(bm, b);

	if (blk && !is_locked(blk))
		free_block(bm, blk);
}
