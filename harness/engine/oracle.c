/* harness/engine/oracle.c - the model of a thin pool (see oracle.h).
 *
 * Devices are kept in an array; each device's mappings in an open-address
 * hash table keyed by vblock (linear probing, deletion by backward shift).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "oracle.h"
#include "sm_common.h"

#define EMPTY UINT64_MAX
#define TIME_MASK 0xffffffu

struct mapping {
	uint64_t vblock;		/* EMPTY: free slot */
	uint64_t block;
	uint32_t time;
};

struct odev {
	uint64_t id;
	uint64_t trans_id;
	uint32_t ctime, stime;
	struct mapping *slots;
	size_t cap;			/* power of two, or 0 */
	size_t nr;
};

struct oracle {
	struct odev *devs;
	size_t nr_devs, cap_devs;
	uint64_t trans_id;
	uint32_t time;
	uint64_t nr_data_blocks;
	uint64_t nr_meta_blocks;	/* not in the digest: the metadata
					 * device's size is not the model's */
	int held;
	uint64_t leaked_data;		/* not in the digest: data blocks
					 * allocated, never mapped (a failed
					 * data write, datadev.h DD3) */
};

/* --- hashing -------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t mix_b(uint64_t z)
{
	z ^= z >> 33;
	z *= 0xff51afd7ed558ccdull;
	z ^= z >> 33;
	z *= 0xc4ceb9fe1a85ec53ull;
	return z ^ (z >> 33);
}

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Add the hash of a tuple (tag and four words) to d.  The words are first
 * folded with distinct odd multipliers and rotations (so no two positions
 * can trade places), then each lane finalises the fold with its own mixer:
 * two independent 64-bit sums, cheap enough to run over every mapping of
 * every crash state. */
static void digest_add(struct digest *d, uint64_t tag, uint64_t w1, uint64_t w2,
		       uint64_t w3, uint64_t w4)
{
	uint64_t h = tag * 0x9e3779b97f4a7c15ull;

	h ^= w1 * 0xbf58476d1ce4e5b9ull;
	h ^= rotl64(w2 * 0x94d049bb133111ebull, 17);
	h ^= rotl64(w3 * 0xd6e8feb86659fd93ull, 31);
	h ^= rotl64(w4 * 0xff51afd7ed558ccdull, 47);
	d->a += mix64(h);
	d->b += mix_b(h ^ 0x6a09e667f3bcc909ull);
}

enum { TAG_POOL = 1, TAG_DEV = 2, TAG_MAP = 3 };

static void digest_pool(struct digest *d, uint64_t trans_id, uint32_t time,
			uint64_t nr_data, int held)
{
	digest_add(d, TAG_POOL, trans_id, time, nr_data, held);
}

static void digest_dev(struct digest *d, uint64_t id, uint64_t mapped,
		       uint64_t trans_id, uint32_t ctime, uint32_t stime)
{
	digest_add(d, TAG_DEV, id, mapped, trans_id,
		   (uint64_t)ctime << 32 | stime);
}

static void digest_map(struct digest *d, uint64_t dev, uint64_t v,
		       uint64_t block, uint32_t time)
{
	digest_add(d, TAG_MAP, dev, v, block, time);
}

/* --- per-device mapping table ----------------------------------------------- */

static size_t slot_of(uint64_t v, size_t cap)
{
	return (size_t)mix64(v) & (cap - 1);
}

static struct mapping *map_find(const struct odev *d, uint64_t v)
{
	if (!d->cap)
		return NULL;
	for (size_t i = slot_of(v, d->cap);; i = (i + 1) & (d->cap - 1)) {
		if (d->slots[i].vblock == v)
			return &d->slots[i];
		if (d->slots[i].vblock == EMPTY)
			return NULL;
	}
}

static int map_grow(struct odev *d)
{
	size_t cap = d->cap ? d->cap * 2 : 16;
	struct mapping *s = malloc(cap * sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		s[i].vblock = EMPTY;
	for (size_t i = 0; i < d->cap; i++) {
		if (d->slots[i].vblock == EMPTY)
			continue;
		size_t k = slot_of(d->slots[i].vblock, cap);
		while (s[k].vblock != EMPTY)
			k = (k + 1) & (cap - 1);
		s[k] = d->slots[i];
	}
	free(d->slots);
	d->slots = s;
	d->cap = cap;
	return 0;
}

static int map_put(struct odev *d, uint64_t v, uint64_t block, uint32_t time)
{
	struct mapping *m = map_find(d, v);

	if (m) {
		m->block = block;
		m->time = time;
		return 0;
	}
	if ((d->nr + 1) * 4 > d->cap * 3) {
		int r = map_grow(d);
		if (r)
			return r;
	}
	size_t k = slot_of(v, d->cap);
	while (d->slots[k].vblock != EMPTY)
		k = (k + 1) & (d->cap - 1);
	d->slots[k] = (struct mapping) { v, block, time };
	d->nr++;
	return 0;
}

/* Remove by backward-shift deletion, keeping every probe chain whole. */
static void map_del(struct odev *d, struct mapping *m)
{
	size_t mask = d->cap - 1, i = (size_t)(m - d->slots), j = i;

	d->slots[i].vblock = EMPTY;
	for (;;) {
		j = (j + 1) & mask;
		if (d->slots[j].vblock == EMPTY)
			break;
		size_t k = slot_of(d->slots[j].vblock, d->cap);
		/* move j back to i unless its home k lies cyclically in (i, j] */
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		d->slots[i] = d->slots[j];
		d->slots[j].vblock = EMPTY;
		i = j;
	}
	d->nr--;
}

static int dev_copy(struct odev *dst, const struct odev *src)
{
	*dst = *src;
	dst->slots = NULL;
	if (src->cap) {
		dst->slots = malloc(src->cap * sizeof(*dst->slots));
		if (!dst->slots)
			return -ENOMEM;
		memcpy(dst->slots, src->slots, src->cap * sizeof(*dst->slots));
	}
	return 0;
}

/* --- the oracle ------------------------------------------------------------- */

int oracle_create(uint64_t nr_data_blocks, struct oracle **result)
{
	struct oracle *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->nr_data_blocks = nr_data_blocks;
	*result = o;
	return 0;
}

static void clear_devs(struct oracle *o)
{
	for (size_t i = 0; i < o->nr_devs; i++)
		free(o->devs[i].slots);
	o->nr_devs = 0;
}

void oracle_destroy(struct oracle *o)
{
	if (!o)
		return;
	clear_devs(o);
	free(o->devs);
	free(o);
}

int oracle_assign(struct oracle *dst, const struct oracle *src)
{
	if (dst == src)
		return 0;
	clear_devs(dst);
	if (dst->cap_devs < src->nr_devs) {
		struct odev *d = realloc(dst->devs, src->nr_devs * sizeof(*d));
		if (!d)
			return -ENOMEM;
		dst->devs = d;
		dst->cap_devs = src->nr_devs;
	}
	for (size_t i = 0; i < src->nr_devs; i++) {
		int r = dev_copy(&dst->devs[i], &src->devs[i]);
		if (r)
			return r;
		dst->nr_devs = i + 1;
	}
	dst->trans_id = src->trans_id;
	dst->time = src->time;
	dst->nr_data_blocks = src->nr_data_blocks;
	dst->nr_meta_blocks = src->nr_meta_blocks;
	dst->held = src->held;
	dst->leaked_data = src->leaked_data;
	return 0;
}

void oracle_leak_data(struct oracle *o)
{
	o->leaked_data++;
}

uint64_t oracle_leaked_data(const struct oracle *o)
{
	return o->leaked_data;
}

int oracle_clone(const struct oracle *o, struct oracle **result)
{
	struct oracle *c;
	int r = oracle_create(o->nr_data_blocks, &c);

	if (r)
		return r;
	r = oracle_assign(c, o);
	if (r) {
		oracle_destroy(c);
		return r;
	}
	*result = c;
	return 0;
}

static struct odev *find(const struct oracle *o, uint64_t id)
{
	for (size_t i = 0; i < o->nr_devs; i++)
		if (o->devs[i].id == id)
			return &o->devs[i];
	return NULL;
}

static int add(struct oracle *o, uint64_t id, struct odev **result)
{
	if (o->nr_devs == o->cap_devs) {
		size_t cap = o->cap_devs ? o->cap_devs * 2 : 8;
		struct odev *d = realloc(o->devs, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		o->devs = d;
		o->cap_devs = cap;
	}
	struct odev *d = &o->devs[o->nr_devs++];
	memset(d, 0, sizeof(*d));
	d->id = id;
	d->trans_id = o->trans_id;
	d->ctime = d->stime = o->time;
	*result = d;
	return 0;
}

int oracle_create_thin(struct oracle *o, uint64_t dev)
{
	struct odev *d;

	if (dev > THIN_MAX_DEV_ID)
		return -EINVAL;
	if (find(o, dev))
		return -EEXIST;
	return add(o, dev, &d);
}

int oracle_create_snap(struct oracle *o, uint64_t dev, uint64_t origin)
{
	struct odev *d, *orig;
	int r;

	if (dev > THIN_MAX_DEV_ID)
		return -EINVAL;
	if (find(o, dev))
		return -EEXIST;
	if (!find(o, origin))
		return -ENODATA;
	o->time++;
	r = add(o, dev, &d);
	if (r)
		return r;
	orig = find(o, origin);
	r = dev_copy(d, orig);
	if (r)
		return r;
	d->id = dev;
	d->trans_id = o->trans_id;
	d->ctime = d->stime = o->time;
	orig->stime = o->time;
	return 0;
}

int oracle_delete(struct oracle *o, uint64_t dev)
{
	struct odev *d = find(o, dev);

	if (!d)
		return -ENODATA;
	free(d->slots);
	*d = o->devs[--o->nr_devs];
	return 0;
}

int oracle_can_map(const struct oracle *o, uint64_t dev)
{
	return find(o, dev) ? 0 : -ENODATA;
}

int oracle_insert(struct oracle *o, uint64_t dev, uint64_t vblock,
		  uint64_t data_block)
{
	struct odev *d = find(o, dev);

	if (!d)
		return -ENODATA;
	return map_put(d, vblock, data_block, o->time & TIME_MASK);
}

int oracle_remove(struct oracle *o, uint64_t dev, uint64_t vblock)
{
	struct odev *d = find(o, dev);
	struct mapping *m;

	if (!d)
		return -ENODATA;
	m = map_find(d, vblock);
	if (!m)
		return -ENODATA;
	map_del(d, m);
	return 0;
}

int oracle_remove_range(struct oracle *o, uint64_t dev, uint64_t begin,
			uint64_t end, uint64_t *removed)
{
	struct odev *d = find(o, dev);
	uint64_t n = 0;

	if (begin > end)		/* refused before the device is looked up */
		return -EINVAL;
	if (!d)
		return -ENODATA;
	if (end - begin < d->nr * 2) {
		for (uint64_t v = begin; v < end; v++) {
			struct mapping *m = map_find(d, v);
			if (m) {
				map_del(d, m);
				n++;
			}
		}
	} else {
		/* Sparse device, long range: scan the table instead.  A
		 * deletion may shift an entry into the slot just scanned. */
		for (size_t i = 0; i < d->cap; ) {
			struct mapping *m = &d->slots[i];
			if (m->vblock != EMPTY && m->vblock >= begin && m->vblock < end) {
				map_del(d, m);
				n++;
				continue;
			}
			i++;
		}
	}
	if (removed)
		*removed = n;
	return 0;
}

int oracle_set_trans_id(struct oracle *o, uint64_t current_id, uint64_t new_id)
{
	if (o->trans_id != current_id)
		return -EINVAL;
	o->trans_id = new_id;
	return 0;
}

int oracle_format(uint64_t block_size, uint64_t nr_data_blocks,
		  int read_only)
{
	if (read_only || block_size < THIN_MIN_DATA_BLOCK_SIZE ||
	    block_size > THIN_MAX_DATA_BLOCK_SIZE ||
	    block_size % THIN_MIN_DATA_BLOCK_SIZE ||
	    nr_data_blocks > (1ull << 40))
		return -EINVAL;
	return 0;
}

int oracle_insert_at(const struct oracle *o, uint64_t dev, uint64_t block)
{
	if (!find(o, dev))
		return -ENODATA;
	return block >= o->nr_data_blocks ? -EINVAL : 0;
}

int oracle_data_range(const struct oracle *o, uint64_t begin, uint64_t end)
{
	return begin > end || end > o->nr_data_blocks ? -EINVAL : 0;
}

int oracle_resize_data(struct oracle *o, uint64_t nr_blocks)
{
	if (nr_blocks < o->nr_data_blocks || nr_blocks > (1ull << 40))
		return -EINVAL;
	o->nr_data_blocks = nr_blocks;
	return 0;
}

void oracle_set_meta_blocks(struct oracle *o, uint64_t nr_blocks)
{
	o->nr_meta_blocks = nr_blocks;
}

/*
 * Growing the metadata device.  The metadata space map takes every block
 * its extension needs from the new area (MS4): the new bitmap, the index
 * block's shadow, and the shadow of the bitmap that counts the old index
 * block, which the commit decrements (seen in gdb on our core).  An
 * extension that adds a bitmap but fewer than EXTEND_MIN_NEW blocks runs
 * out of them: -ENOSPC, the same on our core and on Linux 6.1 and 6.12
 * (tests/test_scenario_ops.py, test_resize_meta_across_bitmap_boundary).
 */
#define EXTEND_MIN_NEW 3

int oracle_resize_meta(struct oracle *o, uint64_t nr_blocks)
{
	if (nr_blocks < o->nr_meta_blocks || nr_blocks > SM_METADATA_MAX_BLOCKS)
		return -EINVAL;
	if (sm_nr_bitmaps(nr_blocks) > sm_nr_bitmaps(o->nr_meta_blocks) &&
	    nr_blocks - o->nr_meta_blocks < EXTEND_MIN_NEW)
		return -ENOSPC;
	o->nr_meta_blocks = nr_blocks;
	return 0;
}

uint64_t oracle_nr_meta_blocks(const struct oracle *o)
{
	return o->nr_meta_blocks;
}

int oracle_meta_snap(struct oracle *o)
{
	if (o->held)
		return -EBUSY;
	o->held = 1;
	return 0;
}

int oracle_meta_snap_release(struct oracle *o)
{
	if (!o->held)
		return -EINVAL;
	o->held = 0;
	return 0;
}

uint64_t oracle_trans_id(const struct oracle *o)
{
	return o->trans_id;
}

uint32_t oracle_time(const struct oracle *o)
{
	return o->time;
}

uint64_t oracle_nr_data_blocks(const struct oracle *o)
{
	return o->nr_data_blocks;
}

size_t oracle_nr_devs(const struct oracle *o)
{
	return o->nr_devs;
}

uint64_t oracle_dev_at(const struct oracle *o, size_t i)
{
	return o->devs[i].id;
}

int oracle_has_dev(const struct oracle *o, uint64_t dev)
{
	return find(o, dev) != NULL;
}

uint64_t oracle_dev_mapped(const struct oracle *o, uint64_t dev)
{
	const struct odev *d = find(o, dev);

	return d ? d->nr : 0;
}

int oracle_dev_range(const struct oracle *o, uint64_t dev, uint64_t *lo,
		     uint64_t *hi)
{
	const struct odev *d = find(o, dev);
	int any = 0;

	*lo = UINT64_MAX;
	*hi = 0;
	for (size_t i = 0; d && i < d->cap; i++) {
		uint64_t v = d->slots[i].vblock;

		if (v == EMPTY)
			continue;
		any = 1;
		*lo = v < *lo ? v : *lo;
		*hi = v > *hi ? v : *hi;
	}
	return any ? 0 : -ENODATA;
}

uint64_t oracle_dev_vblock_at(const struct oracle *o, uint64_t dev, uint64_t k)
{
	const struct odev *d = find(o, dev);

	if (!d)
		return 0;
	for (size_t i = 0; i < d->cap; i++)
		if (d->slots[i].vblock != EMPTY && k-- == 0)
			return d->slots[i].vblock;
	return 0;
}

int oracle_held(const struct oracle *o)
{
	return o->held;
}

int oracle_dev_info(const struct oracle *o, uint64_t dev,
		    struct thin_dev_info *info)
{
	const struct odev *d = find(o, dev);

	if (!d)
		return -ENODATA;
	info->dev = d->id;
	info->mapped_blocks = d->nr;
	info->transaction_id = d->trans_id;
	info->creation_time = d->ctime;
	info->snapshotted_time = d->stime;
	return 0;
}

int oracle_lookup(const struct oracle *o, uint64_t dev, uint64_t vblock,
		  uint64_t *block, uint32_t *time)
{
	const struct odev *d = find(o, dev);
	const struct mapping *m;

	if (!d)
		return -ENODATA;
	m = map_find(d, vblock);
	if (!m)
		return -ENODATA;
	*block = m->block;
	*time = m->time;
	return 0;
}

int oracle_find_range(const struct oracle *o, uint64_t dev, uint64_t begin,
		      uint64_t end, struct thin_mapped_range *range)
{
	const struct odev *d = find(o, dev);
	const struct mapping *m = NULL, *n;
	uint64_t v;

	for (size_t i = 0; d && i < d->cap; i++) {
		const struct mapping *s = &d->slots[i];

		if (s->vblock != EMPTY && s->vblock >= begin && s->vblock < end &&
		    (!m || s->vblock < m->vblock))
			m = s;
	}
	if (!m)
		return -ENODATA;
	range->thin_begin = m->vblock;
	range->pool_begin = m->block;
	range->maybe_shared = d->stime > m->time;		/* TH3 */
	for (v = m->vblock + 1; v < end; v++) {
		n = map_find(d, v);
		if (!n || n->block != m->block + (v - m->vblock) ||
		    (d->stime > n->time) != range->maybe_shared)
			break;
	}
	range->thin_end = v;
	return 0;
}

int oracle_names_data_block(const struct oracle *o, uint64_t block)
{
	for (size_t i = 0; o && i < o->nr_devs; i++)
		for (size_t j = 0; j < o->devs[i].cap; j++)
			if (o->devs[i].slots[j].vblock != EMPTY &&
			    o->devs[i].slots[j].block == block)
				return 1;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t collect_blocks(const struct oracle *o, uint64_t *out)
{
	size_t n = 0;

	for (size_t i = 0; o && i < o->nr_devs; i++)
		for (size_t j = 0; j < o->devs[i].cap; j++)
			if (o->devs[i].slots[j].vblock != EMPTY)
				out[n++] = o->devs[i].slots[j].block;
	return n;
}

static size_t nr_mappings(const struct oracle *o)
{
	size_t n = 0;

	for (size_t i = 0; o && i < o->nr_devs; i++)
		n += o->devs[i].nr;
	return n;
}

uint64_t oracle_data_in_use(const struct oracle *a, const struct oracle *b)
{
	size_t n = nr_mappings(a) + nr_mappings(b), k, distinct = 0;
	uint64_t *v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return UINT64_MAX;
	k = collect_blocks(a, v);
	k += collect_blocks(b, v + k);
	qsort(v, k, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < k; i++)
		if (!i || v[i] != v[i - 1])
			distinct++;
	free(v);
	return distinct;
}

struct digest oracle_digest(const struct oracle *o)
{
	struct digest d = oracle_digest_devs(o);

	digest_pool(&d, o->trans_id, o->time, o->nr_data_blocks, o->held);
	return d;
}

struct digest oracle_digest_devs(const struct oracle *o)
{
	struct digest d = { 0, 0 };

	for (size_t i = 0; i < o->nr_devs; i++) {
		const struct odev *v = &o->devs[i];

		digest_dev(&d, v->id, v->nr, v->trans_id, v->ctime, v->stime);
		for (size_t k = 0; k < v->cap; k++)
			if (v->slots[k].vblock != EMPTY)
				digest_map(&d, v->id, v->slots[k].vblock,
					   v->slots[k].block, v->slots[k].time);
	}
	return d;
}

/* --- the pool side ------------------------------------------------------------ */

struct pool_walk {
	struct digest *d;
	uint64_t dev;
	uint64_t n;
};

static int digest_one(void *ctx, uint64_t vblock, pd_block_t block,
		      uint32_t time)
{
	struct pool_walk *w = ctx;

	digest_map(w->d, w->dev, vblock, block, time);
	w->n++;
	return 0;
}

int pool_digest(struct thin_pool *pool, struct digest *out)
{
	struct digest d = { 0, 0 };
	uint64_t trans_id, *devs;
	pd_block_t nr_data, held;
	uint32_t time;
	size_t nr;
	int r;

	r = thin_get_transaction_id(pool, &trans_id);
	if (!r)
		r = thin_get_time(pool, &time);
	if (!r)
		r = thin_get_nr_data_blocks(pool, &nr_data);
	if (!r)
		r = thin_get_metadata_snap(pool, &held);
	if (r)
		return r;
	digest_pool(&d, trans_id, time, nr_data, held != 0);
	r = thin_list_devs_alloc(pool, &devs, &nr);
	if (r)
		return r;
	for (size_t i = 0; i < nr && !r; i++) {
		struct thin_dev_info info;
		struct pool_walk w = { &d, devs[i], 0 };

		r = thin_dev_info(pool, devs[i], &info);
		if (r)
			break;
		digest_dev(&d, info.dev, info.mapped_blocks, info.transaction_id,
			   info.creation_time, info.snapshotted_time);
		r = thin_walk_mappings(pool, devs[i], digest_one, &w);
	}
	free(devs);
	if (!r)
		*out = d;
	return r;
}

/* --- differences, for humans ------------------------------------------------- */

struct diff_ctx {
	const struct oracle *o;
	char *buf;
	size_t len, used, lines, max_lines, count;
	uint64_t dev;
	size_t seen;
};

__attribute__((format(printf, 2, 3)))
static void say(struct diff_ctx *c, const char *fmt, ...)
{
	va_list ap;

	c->count++;
	if (c->lines >= c->max_lines || c->used + 1 >= c->len)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(c->buf + c->used, c->len - c->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->used += (size_t)n < c->len - c->used ? (size_t)n : c->len - c->used - 1;
	c->lines++;
}

static int diff_one(void *ctx, uint64_t vblock, pd_block_t block, uint32_t time)
{
	struct diff_ctx *c = ctx;
	uint64_t eb;
	uint32_t et;

	c->seen++;
	if (oracle_lookup(c->o, c->dev, vblock, &eb, &et))
		say(c, "  dev %llu vblock %llu: found -> block %llu time %u, expected unmapped\n",
		    (unsigned long long)c->dev, (unsigned long long)vblock,
		    (unsigned long long)block, time);
	else if (eb != block || et != time)
		say(c, "  dev %llu vblock %llu: found -> block %llu time %u, expected block %llu time %u\n",
		    (unsigned long long)c->dev, (unsigned long long)vblock,
		    (unsigned long long)block, time, (unsigned long long)eb, et);
	return 0;
}

size_t oracle_diff(const struct oracle *o, struct thin_pool *pool, char *buf,
		   size_t len, size_t max_lines)
{
	struct diff_ctx c = { o, buf, len, 0, 0, max_lines, 0, 0, 0 };
	uint64_t trans_id, *devs = NULL;
	pd_block_t nr_data, held;
	uint32_t time;
	size_t nr = 0;
	int r;

	if (len)
		buf[0] = 0;
	r = thin_get_transaction_id(pool, &trans_id);
	if (!r)
		r = thin_get_time(pool, &time);
	if (!r)
		r = thin_get_nr_data_blocks(pool, &nr_data);
	if (!r)
		r = thin_get_metadata_snap(pool, &held);
	if (r) {
		say(&c, "  cannot read the pool: %s\n", pd_strerror(r));
		return c.count;
	}
	if (trans_id != o->trans_id)
		say(&c, "  transaction id: found %llu, expected %llu\n",
		    (unsigned long long)trans_id, (unsigned long long)o->trans_id);
	if (time != o->time)
		say(&c, "  pool time: found %u, expected %u\n", time, o->time);
	if (nr_data != o->nr_data_blocks)
		say(&c, "  data blocks: found %llu, expected %llu\n",
		    (unsigned long long)nr_data, (unsigned long long)o->nr_data_blocks);
	if ((held != 0) != o->held)
		say(&c, "  metadata snapshot: found %s, expected %s\n",
		    held ? "held" : "none", o->held ? "held" : "none");
	r = thin_list_devs_alloc(pool, &devs, &nr);
	if (r) {
		say(&c, "  cannot list devices: %s\n", pd_strerror(r));
		return c.count;
	}
	for (size_t i = 0; i < nr; i++) {
		const struct odev *d = find(o, devs[i]);
		struct thin_dev_info info;

		if (!d) {
			say(&c, "  dev %llu: found, expected absent\n",
			    (unsigned long long)devs[i]);
			continue;
		}
		r = thin_dev_info(pool, devs[i], &info);
		if (r) {
			say(&c, "  dev %llu: details unreadable: %s\n",
			    (unsigned long long)devs[i], pd_strerror(r));
			continue;
		}
		if (info.mapped_blocks != d->nr || info.transaction_id != d->trans_id ||
		    info.creation_time != d->ctime || info.snapshotted_time != d->stime)
			say(&c, "  dev %llu details: found mapped=%llu trans=%llu ctime=%u stime=%u, "
			    "expected mapped=%llu trans=%llu ctime=%u stime=%u\n",
			    (unsigned long long)devs[i],
			    (unsigned long long)info.mapped_blocks,
			    (unsigned long long)info.transaction_id,
			    info.creation_time, info.snapshotted_time,
			    (unsigned long long)d->nr, (unsigned long long)d->trans_id,
			    d->ctime, d->stime);
		c.dev = devs[i];
		c.seen = 0;
		r = thin_walk_mappings(pool, devs[i], diff_one, &c);
		if (r)
			say(&c, "  dev %llu: mappings unreadable: %s\n",
			    (unsigned long long)devs[i], pd_strerror(r));
		else if (c.seen != d->nr)
			say(&c, "  dev %llu: %zu mappings found, %zu expected\n",
			    (unsigned long long)devs[i], c.seen, d->nr);
	}
	for (size_t i = 0; i < o->nr_devs; i++) {
		size_t k;

		for (k = 0; k < nr && devs[k] != o->devs[i].id; k++)
			;
		if (k == nr)
			say(&c, "  dev %llu: absent, expected with %zu mappings\n",
			    (unsigned long long)o->devs[i].id, o->devs[i].nr);
	}
	free(devs);
	return c.count;
}

void digest_add_dev(struct digest *d, uint64_t id, uint64_t mapped,
		    uint64_t trans_id, uint32_t ctime, uint32_t stime)
{
	digest_dev(d, id, mapped, trans_id, ctime, stime);
}

void digest_add_pool(struct digest *d, uint64_t trans_id, uint32_t time,
		     uint64_t nr_data, int held)
{
	digest_pool(d, trans_id, time, nr_data, held);
}

void digest_add_map(struct digest *d, uint64_t dev, uint64_t vblock,
		    uint64_t block, uint32_t time)
{
	digest_map(d, dev, vblock, block, time);
}

static int cmp_mapping(const void *a, const void *b)
{
	uint64_t x = ((const struct mapping *)a)->vblock;
	uint64_t y = ((const struct mapping *)b)->vblock;

	return x < y ? -1 : x > y;
}

static int cmp_dev_id(const void *a, const void *b)
{
	uint64_t x = (*(const struct odev *const *)a)->id;
	uint64_t y = (*(const struct odev *const *)b)->id;

	return x < y ? -1 : x > y;
}

static void xml_run(FILE *f, const struct mapping *first, uint64_t len)
{
	if (len == 1)
		fprintf(f, "    <single_mapping origin_block=\"%llu\" "
			"data_block=\"%llu\" time=\"%u\"/>\n",
			(unsigned long long)first->vblock,
			(unsigned long long)first->block, first->time);
	else
		fprintf(f, "    <range_mapping origin_begin=\"%llu\" "
			"data_begin=\"%llu\" length=\"%llu\" time=\"%u\"/>\n",
			(unsigned long long)first->vblock,
			(unsigned long long)first->block,
			(unsigned long long)len, first->time);
}

int oracle_write_xml(const struct oracle *o, uint32_t data_block_size, FILE *f)
{
	const struct odev **devs = malloc((o->nr_devs + 1) * sizeof(*devs));

	if (!devs)
		return -ENOMEM;
	for (size_t i = 0; i < o->nr_devs; i++)
		devs[i] = &o->devs[i];
	qsort(devs, o->nr_devs, sizeof(*devs), cmp_dev_id);
	fprintf(f, "<superblock uuid=\"\" time=\"%u\" transaction=\"%llu\" "
		"flags=\"0\" version=\"2\" data_block_size=\"%u\" "
		"nr_data_blocks=\"%llu\">\n", o->time,
		(unsigned long long)o->trans_id, data_block_size,
		(unsigned long long)o->nr_data_blocks);
	for (size_t i = 0; i < o->nr_devs; i++) {
		const struct odev *d = devs[i];
		struct mapping *m = malloc((d->nr + 1) * sizeof(*m));
		size_t n = 0;

		if (!m) {
			free(devs);
			return -ENOMEM;
		}
		for (size_t k = 0; k < d->cap; k++)
			if (d->slots[k].vblock != EMPTY)
				m[n++] = d->slots[k];
		qsort(m, n, sizeof(*m), cmp_mapping);
		fprintf(f, "  <device dev_id=\"%llu\" mapped_blocks=\"%zu\" "
			"transaction=\"%llu\" creation_time=\"%u\" "
			"snap_time=\"%u\">\n", (unsigned long long)d->id, n,
			(unsigned long long)d->trans_id, d->ctime, d->stime);
		for (size_t k = 0; k < n; ) {
			uint64_t len = 1;

			while (k + len < n && m[k + len].time == m[k].time &&
			       m[k + len].vblock == m[k].vblock + len &&
			       m[k + len].block == m[k].block + len)
				len++;
			xml_run(f, &m[k], len);
			k += len;
		}
		fputs("  </device>\n", f);
		free(m);
	}
	fputs("</superblock>\n", f);
	free(devs);
	return ferror(f) ? -EIO : 0;
}

/* --- data blocks shared only by snapshots ---------------------------------- */

static int cmp_use(const void *x, const void *y)
{
	const uint64_t *a = x, *b = y;

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* 1 if some data block is mapped at two different virtual blocks, 0 if
 * none, -ENOMEM: one pass over a table of block -> vblock, the cheap
 * answer for the live run, which asks at every commit. */
static int sharing_seen(const struct oracle *o, size_t n)
{
	size_t cap = 16;
	struct mapping *t;		/* .block -> .vblock; EMPTY: free */
	int r = 0;

	while (cap < 2 * n)
		cap *= 2;
	t = malloc(cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		t[i].vblock = EMPTY;
	for (size_t i = 0; i < o->nr_devs && !r; i++) {
		const struct odev *d = &o->devs[i];

		for (size_t s = 0; s < d->cap && !r; s++) {
			const struct mapping *m = &d->slots[s];
			size_t h = slot_of(m->block, cap);

			if (m->vblock == EMPTY)
				continue;
			while (t[h].vblock != EMPTY && t[h].block != m->block)
				h = (h + 1) & (cap - 1);
			if (t[h].vblock == EMPTY)
				t[h] = *m;
			else if (t[h].vblock != m->vblock)
				r = 1;
		}
	}
	free(t);
	return r;
}

int oracle_check_data_sharing(const struct oracle *o, char *msg, size_t len)
{
	size_t n = 0, k = 0;
	uint64_t *use;			/* (block, vblock, dev) triples */
	int r = 0;

	for (size_t i = 0; i < o->nr_devs; i++)
		n += o->devs[i].nr;
	if (!n)
		return 0;
	/* the sort below only to name the first such block */
	r = sharing_seen(o, n);
	if (r <= 0)
		return r;
	r = 0;
	use = malloc(n * 3 * sizeof(*use));
	if (!use)
		return -ENOMEM;
	for (size_t i = 0; i < o->nr_devs; i++) {
		const struct odev *d = &o->devs[i];

		for (size_t s = 0; s < d->cap; s++) {
			if (d->slots[s].vblock == EMPTY)
				continue;
			use[3 * k] = d->slots[s].block;
			use[3 * k + 1] = d->slots[s].vblock;
			use[3 * k + 2] = d->id;
			k++;
		}
	}
	qsort(use, k, 3 * sizeof(*use), cmp_use);
	for (size_t i = 1; i < k; i++) {
		if (use[3 * i] != use[3 * (i - 1)] ||
		    use[3 * i + 1] == use[3 * (i - 1) + 1])
			continue;
		snprintf(msg, len, "data block %llu is mapped by device %llu "
			 "block %llu and device %llu block %llu (a new block "
			 "handed out while in use)",
			 (unsigned long long)use[3 * i],
			 (unsigned long long)use[3 * (i - 1) + 2],
			 (unsigned long long)use[3 * (i - 1) + 1],
			 (unsigned long long)use[3 * i + 2],
			 (unsigned long long)use[3 * i + 1]);
		r = -EEXIST;
		break;
	}
	free(use);
	return r;
}
