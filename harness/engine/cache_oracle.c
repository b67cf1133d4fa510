/* harness/engine/cache_oracle.c - the model of dm-cache metadata (see
 * cache_oracle.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_oracle.h"

int cache_oracle_create(struct cache_oracle **result)
{
	struct cache_oracle *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	*result = o;
	return 0;
}

void cache_oracle_destroy(struct cache_oracle *o)
{
	if (!o)
		return;
	free(o->cb);
	free(o->discard);
	free(o);
}

int cache_oracle_assign(struct cache_oracle *dst, const struct cache_oracle *src)
{
	struct cache_entry *cb = NULL;
	uint8_t *d = NULL;

	if (dst == src)
		return 0;
	if (src->nr_cblocks) {
		cb = malloc(src->nr_cblocks * sizeof(*cb));
		if (!cb)
			return -ENOMEM;
		memcpy(cb, src->cb, src->nr_cblocks * sizeof(*cb));
	}
	if (src->nr_dblocks) {
		d = malloc(src->nr_dblocks);
		if (!d) {
			free(cb);
			return -ENOMEM;
		}
		memcpy(d, src->discard, src->nr_dblocks);
	}
	free(dst->cb);
	free(dst->discard);
	*dst = *src;
	dst->cb = cb;
	dst->discard = d;
	return 0;
}

int cache_oracle_clone(const struct cache_oracle *o,
		       struct cache_oracle **result)
{
	struct cache_oracle *c;
	int r = cache_oracle_create(&c);

	if (r)
		return r;
	r = cache_oracle_assign(c, o);
	if (r) {
		cache_oracle_destroy(c);
		return r;
	}
	*result = c;
	return 0;
}

int cache_oracle_insert(struct cache_oracle *o, uint32_t cb, uint64_t ob)
{
	if (cb >= o->nr_cblocks || ob > CACHE_MAX_OBLOCK)
		return -EINVAL;
	o->cb[cb].mapped = 1;
	o->cb[cb].dirty = 0;
	o->cb[cb].oblock = ob;
	return 0;
}

int cache_oracle_remove(struct cache_oracle *o, uint32_t cb)
{
	if (cb >= o->nr_cblocks)
		return -EINVAL;
	o->cb[cb].mapped = 0;
	o->cb[cb].dirty = 0;
	o->cb[cb].oblock = 0;
	return 0;
}

int cache_oracle_set_dirty(struct cache_oracle *o, uint32_t cb, int dirty)
{
	if (cb >= o->nr_cblocks)
		return -EINVAL;
	if (!o->cb[cb].mapped)
		return -ENODATA;
	o->cb[cb].dirty = !!dirty;
	return 0;
}

int cache_oracle_resize(struct cache_oracle *o, uint32_t nr)
{
	struct cache_entry *cb;

	if (nr == o->nr_cblocks)
		return 0;
	for (uint32_t i = nr; i < o->nr_cblocks; i++)
		if (o->cb[i].mapped && o->cb[i].dirty)
			return -EINVAL;		/* CA6 */
	cb = realloc(o->cb, (nr ? nr : 1) * sizeof(*cb));
	if (!cb)
		return -ENOMEM;
	if (nr > o->nr_cblocks)
		memset(cb + o->nr_cblocks, 0,
		       (nr - o->nr_cblocks) * sizeof(*cb));
	o->cb = cb;
	o->nr_cblocks = nr;
	return 0;
}

int cache_oracle_discard_resize(struct cache_oracle *o, uint32_t nr)
{
	uint8_t *d = realloc(o->discard, nr ? nr : 1);

	if (!d)
		return -ENOMEM;
	if (nr > o->nr_dblocks)
		memset(d + o->nr_dblocks, 0, nr - o->nr_dblocks);
	o->discard = d;
	o->nr_dblocks = nr;
	return 0;
}

int cache_oracle_set_discard(struct cache_oracle *o, uint32_t d, int on)
{
	if (d >= o->nr_dblocks)
		return -EINVAL;
	o->discard[d] = !!on;
	return 0;
}

int cache_oracle_write_hints(struct cache_oracle *o, const char *policy,
			     uint32_t hint_size, uint32_t v)
{
	char name[CACHE_POLICY_NAME_SIZE + 1] = { 0 };
	size_t n = strlen(policy);

	if (!n || n >= CACHE_POLICY_NAME_SIZE || (hint_size && hint_size != 4))
		return -EINVAL;
	memcpy(name, policy, n);	/* policy may be o->policy */
	memcpy(o->policy, name, sizeof(o->policy));
	o->pversion[0] = 2;
	o->pversion[1] = 0;
	o->pversion[2] = 0;
	o->hint_size = hint_size;
	o->hints_valid = hint_size != 0;
	for (uint32_t i = 0; i < o->nr_cblocks; i++)
		o->cb[i].hint = hint_size ? cache_hint_value(v, i) : 0;
	return 0;
}

void cache_oracle_reopen(struct cache_oracle *o, int clean)
{
	if (clean)
		return;
	for (uint32_t i = 0; i < o->nr_cblocks; i++)
		if (o->cb[i].mapped)
			o->cb[i].dirty = 1;
	if (o->nr_dblocks)
		memset(o->discard, 0, o->nr_dblocks);
	o->hints_valid = 0;
}

int cache_oracle_oblock_mapped(const struct cache_oracle *o, uint64_t ob)
{
	for (uint32_t i = 0; i < o->nr_cblocks; i++)
		if (o->cb[i].mapped && o->cb[i].oblock == ob)
			return 1;
	return 0;
}

/* --- digests -------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void add_item(struct digest *d, uint64_t tag, uint64_t x, uint64_t y,
		     uint64_t z)
{
	uint64_t h = mix64(tag * 0x9e3779b97f4a7c15ull ^ mix64(x) ^
			   mix64(y + 0x632be59bd9b4e019ull) * 3 ^
			   mix64(z + 0x85157af5ull) * 5);

	d->a += h;
	d->b += mix64(h ^ 0xd6e8feb86659fd93ull) | 1;
}

#define NO_HINT (1ull << 40)

static void add_header(struct digest *d, uint32_t nr_cblocks, uint32_t nr_dblocks,
		       const char *policy, const uint32_t pv[3], uint32_t hint_size)
{
	uint64_t p0 = 0, p1 = 0;

	memcpy(&p0, policy, 8);
	memcpy(&p1, policy + 8, 8);
	add_item(d, 1, nr_cblocks, nr_dblocks, hint_size);
	add_item(d, 2, p0, p1, (uint64_t)pv[0] << 32 ^ (uint64_t)pv[1] << 16 ^ pv[2]);
}

static void add_mapping(struct digest *d, uint32_t cb, uint64_t ob, int dirty,
			const void *hint)
{
	uint32_t h = 0;

	if (hint)
		memcpy(&h, hint, 4);	/* little-endian hosts only, as core/ */
	add_item(d, 3, cb, ob, (uint64_t)!!dirty << 41 | (hint ? h : NO_HINT));
}

struct digest cache_oracle_digest(const struct cache_oracle *o)
{
	struct digest d = { 0, 0 };
	char policy[16] = { 0 };

	memcpy(policy, o->policy, 15);
	add_header(&d, o->nr_cblocks, o->nr_dblocks, policy, o->pversion,
		   o->hint_size);
	for (uint32_t i = 0; i < o->nr_cblocks; i++) {
		uint32_t h = o->cb[i].hint;

		if (o->cb[i].mapped)
			add_mapping(&d, i, o->cb[i].oblock, o->cb[i].dirty,
				    o->hints_valid ? (const void *)&h : NULL);
	}
	for (uint32_t i = 0; i < o->nr_dblocks; i++)
		if (o->discard[i])
			add_item(&d, 4, i, 0, 0);
	return d;
}

struct md_walk {
	struct digest *d;
	struct cache_oracle *o;
	uint32_t nr_dblocks;
};

static int digest_mapping(void *ctx, uint32_t cblock, uint64_t oblock,
			  int dirty, const void *hint)
{
	struct md_walk *w = ctx;

	add_mapping(w->d, cblock, oblock, dirty, hint);
	return 0;
}

static int digest_discard(void *ctx, uint32_t dblock, int discarded)
{
	struct md_walk *w = ctx;

	w->nr_dblocks = dblock + 1;
	if (discarded)
		add_item(w->d, 4, dblock, 0, 0);
	return 0;
}

int cache_client_digest(struct cache_client *c, struct digest *d)
{
	char name[CACHE_POLICY_NAME_SIZE + 1];
	uint32_t pv[CACHE_POLICY_VERSION_SIZE], hint_size, nr;
	struct md_walk w = { d, NULL, 0 };
	int r;

	*d = (struct digest) { 0, 0 };
	r = c->ops->get_size(c, &nr);
	if (!r)
		r = c->ops->get_policy(c, name, pv, &hint_size);
	if (!r)
		r = c->ops->walk_mappings(c, digest_mapping, &w);
	if (!r)
		r = c->ops->walk_discards(c, digest_discard, &w);
	if (r)
		return r;
	add_header(d, nr, w.nr_dblocks, name, pv, hint_size);
	return 0;
}

static int model_mapping(void *ctx, uint32_t cblock, uint64_t oblock,
			 int dirty, const void *hint)
{
	struct md_walk *w = ctx;

	if (cblock >= w->o->nr_cblocks)
		return -EILSEQ;
	w->o->cb[cblock].mapped = 1;
	w->o->cb[cblock].oblock = oblock;
	w->o->cb[cblock].dirty = !!dirty;
	if (hint) {
		memcpy(&w->o->cb[cblock].hint, hint, 4);
		w->o->hints_valid = 1;
	}
	return 0;
}

static int model_discard(void *ctx, uint32_t dblock, int discarded)
{
	struct md_walk *w = ctx;
	int r = 0;

	if (dblock >= w->o->nr_dblocks)
		r = cache_oracle_discard_resize(w->o, dblock + 1);
	if (!r)
		w->o->discard[dblock] = !!discarded;
	return r;
}

int cache_oracle_from_client(struct cache_client *c,
			     struct cache_oracle **result)
{
	struct cache_oracle *o;
	struct md_walk w = { NULL, NULL, 0 };
	uint32_t nr;
	int r;

	r = cache_oracle_create(&o);
	if (r)
		return r;
	w.o = o;
	r = c->ops->get_size(c, &nr);
	if (!r)
		r = cache_oracle_resize(o, nr);
	if (!r)
		r = c->ops->get_policy(c, o->policy, o->pversion, &o->hint_size);
	if (!r)
		r = c->ops->walk_mappings(c, model_mapping, &w);
	if (!r)
		r = c->ops->walk_discards(c, model_discard, &w);
	if (r) {
		cache_oracle_destroy(o);
		return r;
	}
	*result = o;
	return 0;
}

/* --- differences, for replay ------------------------------------------------ */

struct diff_out {
	char *buf;
	size_t len, used, max, n;
};

__attribute__((format(printf, 2, 3)))
static void line(struct diff_out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	o->n++;
	if ((o->max && o->n > o->max) || o->used + 2 >= o->len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->used += (size_t)k < o->len - o->used ? (size_t)k
							: o->len - o->used - 1;
}

static void entry_text(const struct cache_oracle *o, uint32_t i, char *buf,
		       size_t len)
{
	const struct cache_entry *e = &o->cb[i];

	if (!e->mapped)
		snprintf(buf, len, "unmapped");
	else if (o->hints_valid)
		snprintf(buf, len, "oblock %llu %s hint %u",
			 (unsigned long long)e->oblock, e->dirty ? "dirty" : "clean",
			 e->hint);
	else
		snprintf(buf, len, "oblock %llu %s no hint",
			 (unsigned long long)e->oblock, e->dirty ? "dirty" : "clean");
}

size_t cache_oracle_diff(const struct cache_oracle *want,
			 const struct cache_oracle *found, char *buf,
			 size_t len, size_t max_lines)
{
	struct diff_out o = { buf, len, 0, max_lines, 0 };
	uint32_t n;

	if (len)
		buf[0] = 0;
	if (want->nr_cblocks != found->nr_cblocks)
		line(&o, "  cache blocks: want %u, found %u\n", want->nr_cblocks,
		     found->nr_cblocks);
	if (want->nr_dblocks != found->nr_dblocks)
		line(&o, "  discard blocks: want %u, found %u\n", want->nr_dblocks,
		     found->nr_dblocks);
	if (strcmp(want->policy, found->policy) || want->hint_size != found->hint_size)
		line(&o, "  policy: want %s/%u, found %s/%u\n", want->policy,
		     want->hint_size, found->policy, found->hint_size);
	n = want->nr_cblocks < found->nr_cblocks ? want->nr_cblocks : found->nr_cblocks;
	for (uint32_t i = 0; i < n; i++) {
		char a[80], b[80];

		entry_text(want, i, a, sizeof(a));
		entry_text(found, i, b, sizeof(b));
		if (!want->cb[i].mapped && !found->cb[i].mapped)
			continue;
		if (strcmp(a, b))
			line(&o, "  cblock %u: want %s, found %s\n", i, a, b);
	}
	n = want->nr_dblocks < found->nr_dblocks ? want->nr_dblocks : found->nr_dblocks;
	for (uint32_t i = 0; i < n; i++)
		if (want->discard[i] != found->discard[i])
			line(&o, "  dblock %u: want %s, found %s\n", i,
			     want->discard[i] ? "discarded" : "not discarded",
			     found->discard[i] ? "discarded" : "not discarded");
	return o.n;
}
