/* harness/engine/mutate.c - scenario mutations (see mutate.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mutate.h"

#define MAX_DEV ((1ull << 24) - 1)
#define WINDOW_MAX 48		/* blocks of a range cut into single ops, */
#define WINDOW_WIDE 400		/* or, one time in two, up to this many */
#define COST_PER_MAPPING 16	/* the oracle's work per mapping at a commit */

int scenario_clone(const struct scenario *src, const char *name,
		   struct scenario **result)
{
	struct scenario *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->name = strdup(name);
	s->geo = src->geo;
	s->nr_ops = src->nr_ops;
	s->ops = malloc((src->nr_ops + 1) * sizeof(*s->ops));
	if (!s->name || !s->ops) {
		scenario_free(s);
		return -ENOMEM;
	}
	if (src->nr_ops)
		memcpy(s->ops, src->ops, src->nr_ops * sizeof(*s->ops));
	*result = s;
	return 0;
}

static int is_range(const struct op *op)
{
	return op->kind == OP_MAP || op->kind == OP_UNMAP ||
	       op->kind == OP_UNMAP_RANGE || op->kind == OP_PASSDOWN;
}

static int has_dev(const struct op *op)
{
	return op->kind == OP_CREATE || op->kind == OP_SNAP ||
	       op->kind == OP_DELETE || is_range(op);
}

uint64_t scenario_weight(const struct scenario *sc)
{
	uint64_t w = 0;

	for (size_t i = 0; i < sc->nr_ops; i++) {
		const struct op *op = &sc->ops[i];

		if (op->kind == OP_MAP || op->kind == OP_UNMAP)
			w += op->c - op->b + 1;
		else if (op->kind == OP_RANDOM)
			w += op->a;
		else
			w++;
	}
	return w;
}

/* Devices and their mapped blocks, counted (scenario_cost). */
struct tally {
	struct { uint64_t dev, mapped; int shared; } *d;
	size_t n, cap;
	uint64_t total;			/* mapped blocks of all devices */
};

static uint64_t *tally_dev(struct tally *t, uint64_t dev, int make,
			   int **shared)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->d[i].dev == dev) {
			*shared = &t->d[i].shared;
			return &t->d[i].mapped;
		}
	if (!make)
		return NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		void *d = realloc(t->d, cap * sizeof(*t->d));

		if (!d)
			return NULL;
		t->d = d;
		t->cap = cap;
	}
	t->d[t->n].dev = dev;
	t->d[t->n].mapped = 0;
	t->d[t->n].shared = 0;
	*shared = &t->d[t->n].shared;
	return &t->d[t->n++].mapped;
}

uint64_t scenario_cost(const struct scenario *sc)
{
	struct tally t = { 0 };
	uint64_t cost = 0, used = 0, room = sc->geo.data_blocks;

	for (size_t i = 0; i < sc->nr_ops; i++) {
		const struct op *op = &sc->ops[i];
		uint64_t n = op->c >= op->b ? op->c - op->b + 1 : 1, ok, *m;
		int *shared;

		cost++;
		switch (op->kind) {
		case OP_CREATE:
			tally_dev(&t, op->a, 1, &shared);
			break;
		case OP_MAP:
		case OP_WRITE:
			ok = used < room ? (n < room - used ? n : room - used) : 0;
			cost += n + (n - ok) * COST_PER_MAPPING * t.total;
			used += ok;
			if ((m = tally_dev(&t, op->a, 1, &shared))) {
				*m += ok;
				t.total += ok;
			}
			break;
		case OP_UNMAP:
		case OP_UNMAP_RANGE:
		case OP_PASSDOWN:
			cost += n;
			if ((m = tally_dev(&t, op->a, 0, &shared))) {
				ok = n < *m ? n : *m;
				*m -= ok;
				t.total -= ok;
				if (!*shared)	/* else a snapshot may hold them */
					used -= ok < used ? ok : used;
			}
			break;
		case OP_SNAP:
			ok = 0;
			if ((m = tally_dev(&t, op->b, 0, &shared))) {
				ok = *m;
				*shared = 1;
			}
			if ((m = tally_dev(&t, op->a, 1, &shared))) {
				t.total += ok - *m;
				*m = ok;
				*shared = 1;
			}
			cost += ok;
			break;
		case OP_DELETE:
			if ((m = tally_dev(&t, op->a, 0, &shared))) {
				t.total -= *m;
				if (!*shared)
					used -= *m < used ? *m : used;
				*m = 0;
			}
			break;
		case OP_COMMIT:
			cost += COST_PER_MAPPING * t.total;
			break;
		case OP_RESIZE_DATA:
			room = op->a;
			break;
		case OP_RANDOM:
			cost += op->a;
			break;
		default:
			break;
		}
	}
	free(t.d);
	return cost;
}

/* --- text ------------------------------------------------------------ */

static void format_full(const struct op *op, FILE *f)
{
	switch (op->kind) {
	case OP_RANDOM: {
		const char *sep = " mix=";

		fprintf(f, "random ops=%llu", (unsigned long long)op->a);
		if (op->has_seed)
			fprintf(f, " seed=%" PRIu64, op->seed);
		fprintf(f, " devs=%" PRIu64 " span=%" PRIu64, op->devs, op->span);
		for (int k = 0; k < OP_NR_KINDS; k++) {
			if (!op->mix[k])
				continue;
			fprintf(f, "%s%s:%u", sep, op_kind_name(k), op->mix[k]);
			sep = ",";
		}
		if (op->aim == AIM_BOUNDARIES)
			fputs(" aim=boundaries", f);
		fputc('\n', f);
		return;
	}
	default: {
		char buf[160];

		op_format(op, buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
		return;
	}
	}
}

char *scenario_to_text(const struct scenario *sc, const char *header)
{
	char *text = NULL, line[160];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (header)
		fputs(header, f);
	pool_geometry_format(&sc->geo, line, sizeof(line));
	fprintf(f, "%s\n", line);
	for (size_t i = 0; i < sc->nr_ops; i++)
		format_full(&sc->ops[i], f);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

void scenario_number_lines(struct scenario *sc, unsigned header_lines)
{
	for (size_t i = 0; i < sc->nr_ops; i++)
		sc->ops[i].line = header_lines + 2 + (unsigned)i;	/* after the pool line */
}

/* --- helpers ---------------------------------------------------------- */

struct mctx {
	struct scenario *sc;
	const struct scenario *other;
	struct prng *p;
	FILE *what;
	uint64_t devs[64];	/* devices named in sc */
	size_t nr_devs;
	uint64_t max_dev, max_block;
};

static void scan(struct mctx *m)
{
	m->nr_devs = 0;
	m->max_dev = 0;
	m->max_block = 0;
	for (size_t i = 0; i < m->sc->nr_ops; i++) {
		const struct op *op = &m->sc->ops[i];

		if (!has_dev(op))
			continue;
		if (op->a > m->max_dev)
			m->max_dev = op->a;
		if (is_range(op) && op->c > m->max_block)
			m->max_block = op->c;
		size_t k;
		for (k = 0; k < m->nr_devs && m->devs[k] != op->a; k++)
			;
		if (k == m->nr_devs && k < 64)
			m->devs[m->nr_devs++] = op->a;
	}
}

static uint64_t pick_dev(struct mctx *m)
{
	if (!m->nr_devs || !prng_below(m->p, 8))
		return prng_below(m->p, 4);
	return m->devs[prng_below(m->p, m->nr_devs)];
}

static uint64_t new_dev(struct mctx *m)
{
	uint64_t d = m->max_dev + 1 + prng_below(m->p, 3);

	if (d > MAX_DEV)
		d = prng_below(m->p, 64);
	if (d > m->max_dev)
		m->max_dev = d;
	return d;
}

/* Room for k more lines at position at (0..nr_ops); 0 or -ENOMEM/-E2BIG. */
static int open_gap(struct scenario *sc, size_t at, size_t k)
{
	if (sc->nr_ops + k > MUTATE_MAX_LINES)
		return -E2BIG;
	struct op *ops = realloc(sc->ops, (sc->nr_ops + k + 1) * sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	sc->ops = ops;
	memmove(&ops[at + k], &ops[at], (sc->nr_ops - at) * sizeof(*ops));
	memset(&ops[at], 0, k * sizeof(*ops));
	sc->nr_ops += k;
	return 0;
}

int scenario_end_with_check(struct scenario *sc)
{
	int r;

	if (sc->nr_ops && sc->ops[sc->nr_ops - 1].kind == OP_CHECK)
		return 0;
	r = open_gap(sc, sc->nr_ops, 1);
	if (!r)
		sc->ops[sc->nr_ops - 1].kind = OP_CHECK;
	return r;
}

static void remove_lines(struct scenario *sc, size_t at, size_t k)
{
	memmove(&sc->ops[at], &sc->ops[at + k],
		(sc->nr_ops - at - k) * sizeof(*sc->ops));
	sc->nr_ops -= k;
}

/* A random index of an op for which want() holds; -1 if none. */
static long pick_op(struct mctx *m, int (*want)(const struct op *))
{
	size_t n = 0;

	for (size_t i = 0; i < m->sc->nr_ops; i++)
		n += want(&m->sc->ops[i]);
	if (!n)
		return -1;
	n = prng_below(m->p, n);
	for (size_t i = 0; i < m->sc->nr_ops; i++)
		if (want(&m->sc->ops[i]) && !n--)
			return (long)i;
	return -1;
}


static int range_op(const struct op *op)
{
	return is_range(op);
}

static int wide_range_op(const struct op *op)
{
	return is_range(op) && op->c > op->b;
}

static int dev_op(const struct op *op)
{
	return has_dev(op);
}

static int random_op(const struct op *op)
{
	return op->kind == OP_RANDOM;
}

static void note(struct mctx *m, const char *verb, size_t at,
		 const struct op *op)
{
	char buf[160];

	if (op) {
		op_format(op, buf, sizeof(buf));
		fprintf(m->what, "%s '%s' at %zu; ", verb, buf, at);
	} else {
		fprintf(m->what, "%s at %zu; ", verb, at);
	}
}

/* A fresh op of a random kind, near what the scenario already does. */
static void make_op(struct mctx *m, struct op *op, int kind)
{
	uint64_t span = m->max_block + 64, len;

	memset(op, 0, sizeof(*op));
	op->kind = kind;
	switch (kind) {
	case OP_CREATE:
		op->a = new_dev(m);
		break;
	case OP_SNAP:
		op->b = pick_dev(m);
		op->a = new_dev(m);
		break;
	case OP_DELETE:
		op->a = pick_dev(m);
		break;
	case OP_MAP:
	case OP_UNMAP:
	case OP_UNMAP_RANGE:
	case OP_PASSDOWN:
		op->a = pick_dev(m);
		op->b = prng_below(m->p, span);
		len = prng_below(m->p, 4) ? prng_below(m->p, 4) :
					    prng_below(m->p, 400);
		if (kind == OP_UNMAP && prng_below(m->p, 2))
			len = 0;
		op->c = op->b + len;
		break;
	case OP_TRANS_ID:
		op->a = prng_below(m->p, 8);
		break;
	case OP_RESIZE_DATA:
		op->a = m->sc->geo.data_blocks + prng_below(m->p, 20000);
		break;
	case OP_RESIZE_META:
		op->a = m->sc->geo.meta_blocks + prng_below(m->p, 2) *
			prng_below(m->p, 20000) + 1;
		break;
	default:
		break;
	}
}

/* Kinds an inserted line takes: protocol steps weigh as much as data. */
static int pick_kind(struct mctx *m)
{
	static const int kinds[] = {
		OP_COMMIT, OP_COMMIT, OP_COMMIT, OP_ABORT, OP_SNAP, OP_SNAP,
		OP_SNAP, OP_META_SNAP, OP_META_SNAP_RELEASE, OP_RESIZE_DATA,
		OP_RESIZE_META, OP_CREATE, OP_DELETE, OP_DELETE, OP_MAP,
		OP_MAP, OP_UNMAP, OP_UNMAP, OP_UNMAP_RANGE, OP_TRANS_ID,
		OP_PASSDOWN,
	};
	return kinds[prng_below(m->p, sizeof(kinds) / sizeof(kinds[0]))];
}

/* --- the mutations ------------------------------------------------------ */

static int mu_insert(struct mctx *m)
{
	size_t at = prng_below(m->p, m->sc->nr_ops + 1);
	int r = open_gap(m->sc, at, 1);

	if (r)
		return r;
	make_op(m, &m->sc->ops[at], pick_kind(m));
	note(m, "insert", at, &m->sc->ops[at]);
	return 0;
}

static int mu_delete(struct mctx *m)
{
	if (!m->sc->nr_ops)
		return mu_insert(m);
	size_t at = prng_below(m->p, m->sc->nr_ops);
	size_t k = 1 + (prng_below(m->p, 4) ? 0 : prng_below(m->p, 4));

	if (at + k > m->sc->nr_ops)
		k = m->sc->nr_ops - at;
	note(m, "delete", at, &m->sc->ops[at]);
	remove_lines(m->sc, at, k);
	return 0;
}

static int mu_duplicate(struct mctx *m)
{
	if (!m->sc->nr_ops)
		return mu_insert(m);
	size_t from = prng_below(m->p, m->sc->nr_ops);
	size_t to = prng_below(m->p, 2) ? from + 1 :
		    prng_below(m->p, m->sc->nr_ops + 1);
	struct op copy = m->sc->ops[from];
	int r = open_gap(m->sc, to, 1);

	if (r)
		return r;
	m->sc->ops[to] = copy;
	note(m, "duplicate", to, &copy);
	return 0;
}

static int mu_move(struct mctx *m)
{
	if (m->sc->nr_ops < 2)
		return mu_insert(m);
	size_t from = prng_below(m->p, m->sc->nr_ops);
	size_t to = prng_below(m->p, m->sc->nr_ops - 1);
	struct op op = m->sc->ops[from];

	remove_lines(m->sc, from, 1);
	open_gap(m->sc, to, 1);		/* cannot fail: one line was freed */
	m->sc->ops[to] = op;
	note(m, "move", to, &op);
	return 0;
}

static int mu_range(struct mctx *m)
{
	long i = pick_op(m, range_op);

	if (i < 0)
		return mu_insert(m);
	struct op *op = &m->sc->ops[i];
	uint64_t len = op->c - op->b, d = 1 + prng_below(m->p, 8);

	switch (prng_below(m->p, 7)) {
	case 0:		/* halve from the end */
		op->c = op->b + len / 2;
		break;
	case 1:		/* halve from the start */
		op->b = op->c - len / 2;
		break;
	case 2:		/* widen */
		op->c += d * (1 + prng_below(m->p, 1 + len));
		break;
	case 3:		/* end by a little */
		op->c = prng_below(m->p, 2) ? op->c + d :
			(op->c - op->b >= d ? op->c - d : op->b);
		break;
	case 4:		/* start by a little */
		op->b = prng_below(m->p, 2) ? (op->b >= d ? op->b - d : 0) :
			(op->b + d <= op->c ? op->b + d : op->c);
		break;
	case 5:		/* shift */
		if (prng_below(m->p, 2) || op->b < d * 16) {
			op->b += d * 16;
			op->c += d * 16;
		} else {
			op->b -= d * 16;
			op->c -= d * 16;
		}
		break;
	default:	/* one block of it */
		op->b = op->c = op->b + prng_below(m->p, len + 1);
		break;
	}
	if (op->kind == OP_UNMAP && op->c > op->b)
		op->kind = OP_UNMAP_RANGE;
	note(m, "range", (size_t)i, op);
	return 0;
}

static int mu_device(struct mctx *m)
{
	long i = pick_op(m, dev_op);

	if (i < 0)
		return mu_insert(m);
	struct op *op = &m->sc->ops[i];

	if (op->kind == OP_SNAP && prng_below(m->p, 2))
		op->b = pick_dev(m);
	else
		op->a = prng_below(m->p, 4) ? pick_dev(m) : new_dev(m);
	note(m, "device", (size_t)i, op);
	return 0;
}

/* A protocol step (commit, abort, snapshot, ...) at a new place. */
static int mu_step(struct mctx *m)
{
	static const int kinds[] = {
		OP_COMMIT, OP_COMMIT, OP_ABORT, OP_SNAP, OP_SNAP, OP_META_SNAP,
		OP_META_SNAP_RELEASE, OP_RESIZE_DATA, OP_RESIZE_META,
	};
	size_t at = prng_below(m->p, m->sc->nr_ops + 1);
	int r = open_gap(m->sc, at, 1);

	if (r)
		return r;
	make_op(m, &m->sc->ops[at],
		kinds[prng_below(m->p, sizeof(kinds) / sizeof(kinds[0]))]);
	note(m, "step", at, &m->sc->ops[at]);
	return 0;
}

/* Cut a range op in two at a random block, with a step between. */
static int mu_split(struct mctx *m)
{
	long i = pick_op(m, wide_range_op);

	if (i < 0)
		return mu_step(m);
	int r = open_gap(m->sc, (size_t)i + 1, 2);
	if (r)
		return r;
	struct op *op = &m->sc->ops[i];
	uint64_t cut = op->b + prng_below(m->p, op->c - op->b);
	struct op tail = *op;

	tail.b = cut + 1;
	op->c = cut;
	if (op->kind == OP_UNMAP_RANGE && op->b == op->c)
		op->kind = OP_UNMAP;
	if (tail.kind == OP_UNMAP_RANGE && tail.b == tail.c)
		tail.kind = OP_UNMAP;
	static const int kinds[] = { OP_COMMIT, OP_SNAP, OP_SNAP, OP_ABORT,
				     OP_META_SNAP };
	make_op(m, &m->sc->ops[i + 1],
		kinds[prng_below(m->p, sizeof(kinds) / sizeof(kinds[0]))]);
	if (m->sc->ops[i + 1].kind == OP_SNAP)
		m->sc->ops[i + 1].b = op->a;
	m->sc->ops[i + 2] = tail;
	note(m, "split", (size_t)i + 1, &m->sc->ops[i + 1]);
	return 0;
}

/* Cut a window of a range op into single ops, a step after each (a
 * snapshot of the device, or a commit). */
static int mu_interleave(struct mctx *m)
{
	long i = pick_op(m, wide_range_op);

	if (i < 0)
		return mu_step(m);
	struct op op = m->sc->ops[i];
	uint64_t len = op.c - op.b + 1;
	uint64_t w = 2 + prng_below(m->p, (prng_below(m->p, 2) ? WINDOW_WIDE :
					     WINDOW_MAX) - 1);
	if (w > len)
		w = len;
	uint64_t x = op.b + prng_below(m->p, len - w + 1), y = x + w - 1;
	int step = (int)prng_below(m->p, 4);	/* 0,1 snap; 2 commit; 3 both */
	size_t per = step == 3 ? 3 : 2;
	size_t k = (x > op.b) + (size_t)w * per + (y < op.c);
	int r = open_gap(m->sc, (size_t)i + 1, k - 1);

	if (r)
		return r;
	struct op *o = &m->sc->ops[i];
	if (x > op.b) {
		*o = op;
		o->c = x - 1;
		if (o->kind == OP_UNMAP_RANGE && o->b == o->c)
			o->kind = OP_UNMAP;
		o++;
	}
	for (uint64_t v = x; v <= y; v++) {
		*o = op;
		o->b = o->c = v;
		if (o->kind == OP_UNMAP_RANGE)
			o->kind = OP_UNMAP;
		o++;
		if (step != 2) {
			memset(o, 0, sizeof(*o));
			o->kind = OP_SNAP;
			o->a = new_dev(m);
			o->b = op.a;
			o++;
		}
		if (step >= 2) {
			memset(o, 0, sizeof(*o));
			o->kind = OP_COMMIT;
			o++;
		}
	}
	if (y < op.c) {
		*o = op;
		o->b = y + 1;
		if (o->kind == OP_UNMAP_RANGE && o->b == o->c)
			o->kind = OP_UNMAP;
	}
	fprintf(m->what, "interleave %" PRIu64 "..%" PRIu64 " of line %ld; ",
		x, y, i);
	return 0;
}

static int mu_splice(struct mctx *m)
{
	if (!m->other || !m->other->nr_ops)
		return mu_insert(m);
	size_t i = prng_below(m->p, m->sc->nr_ops + 1);
	size_t j = prng_below(m->p, m->other->nr_ops);
	size_t k = m->other->nr_ops - j;

	if (i + k > MUTATE_MAX_LINES)
		k = MUTATE_MAX_LINES - i;
	m->sc->nr_ops = i;
	int r = open_gap(m->sc, i, k);
	if (r)
		return r;
	memcpy(&m->sc->ops[i], &m->other->ops[j], k * sizeof(struct op));
	fprintf(m->what, "splice %s from %zu at %zu; ", m->other->name, j, i);
	return 0;
}

static uint64_t scale(struct prng *p, uint64_t v, uint64_t lo, uint64_t hi)
{
	switch (prng_below(p, 4)) {
	case 0: v *= 2; break;
	case 1: v /= 2; break;
	case 2: v += 1 + prng_below(p, v / 4 + 1); break;
	default: v -= prng_below(p, v / 4 + 1); break;
	}
	return v < lo ? lo : v > hi ? hi : v;
}

static int mu_geometry(struct mctx *m)
{
	static const unsigned caches[] = { 12, 16, 24, 32, 64, 4096 };
	struct pool_geometry *g = &m->sc->geo;

	switch (prng_below(m->p, 3)) {
	case 0:
		g->data_blocks = scale(m->p, g->data_blocks, 64, 200000);
		break;
	case 1:
		g->meta_blocks = scale(m->p, g->meta_blocks, 128, 32768);
		break;
	default:
		g->cache_blocks = prng_below(m->p, 2) ?
			caches[prng_below(m->p, sizeof(caches) / sizeof(caches[0]))] :
			(unsigned)scale(m->p, g->cache_blocks, 12, 8192);
		break;
	}
	fprintf(m->what, "pool data=%" PRIu64 " meta=%" PRIu64 " cache=%u; ",
		g->data_blocks, g->meta_blocks, g->cache_blocks);
	return 0;
}

static int mu_random(struct mctx *m)
{
	long i = pick_op(m, random_op);

	if (i < 0)
		return mu_range(m);
	struct op *op = &m->sc->ops[i];

	switch (prng_below(m->p, 3)) {
	case 0:
		op->seed = prng_next(m->p) % 1000000;
		op->has_seed = 1;
		break;
	case 1:
		op->a = scale(m->p, op->a, 1, 3000);
		break;
	default:
		op->aim = op->aim == AIM_BOUNDARIES ? AIM_NONE : AIM_BOUNDARIES;
		break;
	}
	note(m, "random", (size_t)i, NULL);
	return 0;
}

static int parses(const struct scenario *sc)
{
	char *text = scenario_to_text(sc, NULL), err[256];
	struct scenario *back;
	int r;

	if (!text)
		return 0;
	r = scenario_parse(sc->name, text, &back, err, sizeof(err));
	free(text);
	if (r)
		return 0;
	scenario_free(back);
	return 1;
}

static int (*const mutations[])(struct mctx *) = {
	mu_insert, mu_insert, mu_delete, mu_delete, mu_duplicate, mu_move,
	mu_range, mu_range, mu_range, mu_device, mu_step, mu_step, mu_split,
	mu_split, mu_interleave, mu_interleave, mu_splice, mu_geometry,
	mu_random,
};

/* Before a mutation: a copy to go back to and the description's stream.
 * 0 or -ENOMEM. */
static int begin(struct mctx *m, struct scenario **keep, char *what,
		 size_t len)
{
	int r = scenario_clone(m->sc, m->sc->name, keep);

	if (r)
		return r;
	m->what = fmemopen(what, len, "w");
	if (!m->what) {
		scenario_free(*keep);
		return -ENOMEM;
	}
	setvbuf(m->what, NULL, _IONBF, 0);
	return 0;
}

/* After it: snapshots of themselves renamed; MU4; MU2. */
static int finish(struct scenario *sc, struct scenario *keep, FILE *wf,
		  int r, char *what, size_t len)
{
	fclose(wf);
	for (size_t i = 0; i < sc->nr_ops; i++) {
		if (sc->ops[i].kind == OP_SNAP && sc->ops[i].a == sc->ops[i].b)
			sc->ops[i].a = sc->ops[i].b + 1 <= MAX_DEV ? sc->ops[i].b + 1 : 0;
		sc->ops[i].expect = 0;		/* MU4 */
	}
	/* MU2: a candidate too big, or one the parser refuses, goes back to
	 * where it was */
	if (!r && (sc->nr_ops > MUTATE_MAX_LINES ||
		   scenario_weight(sc) > MUTATE_MAX_BLOCKS ||
		   scenario_cost(sc) > MUTATE_MAX_COST || !parses(sc))) {
		free(sc->ops);
		sc->ops = keep->ops;
		sc->nr_ops = keep->nr_ops;
		sc->geo = keep->geo;
		keep->ops = NULL;
		snprintf(what, len, "(too big or refused: undone)");
	}
	scenario_free(keep);
	return r;
}

int scenario_mutate(struct scenario *sc, const struct scenario *other,
		    struct prng *p, char *what, size_t len)
{
	struct mctx m = { .sc = sc, .other = other, .p = p };
	unsigned n = 1 + (prng_below(p, 2) ? 0 : (unsigned)prng_below(p, 4));
	struct scenario *keep;
	int r = begin(&m, &keep, what, len);

	if (r)
		return r;
	for (unsigned k = 0; k < n; k++) {
		scan(&m);
		r = mutations[prng_below(p, sizeof(mutations) / sizeof(mutations[0]))](&m);
		if (r == -E2BIG)
			r = mu_delete(&m);
		if (r)
			break;
	}
	return finish(sc, keep, m.what, r, what, len);
}

/* Ranges scenario_step_before cuts: their blocks run one at a time. */
static int cuttable(const struct op *op)
{
	return (is_range(op) || op->kind == OP_WRITE ||
		op->kind == OP_LOOKUP) && op->c > op->b;
}

static void fix_unmap(struct op *op)
{
	if (op->kind == OP_UNMAP_RANGE && op->b == op->c)
		op->kind = OP_UNMAP;
}

static int step_before(struct mctx *m, size_t i, uint64_t at)
{
	/* 0 snapshot, 1 commit, 2 commit then snapshot, 3 snapshot then
	 * commit, 4 abort, 5 metadata snapshot */
	static const int shapes[] = { 0, 0, 0, 1, 2, 3, 4, 5 };
	struct op op = m->sc->ops[i];
	int shape = shapes[prng_below(m->p, sizeof(shapes) / sizeof(shapes[0]))];
	size_t k = shape == 2 || shape == 3 ? 2 : 1;
	size_t cut = cuttable(&op) && at && at <= op.c - op.b;
	uint64_t dev = has_dev(&op) ? op.a : pick_dev(m);
	int r = open_gap(m->sc, i + cut, k + cut);

	if (r)
		return r;
	struct op *o = &m->sc->ops[i];
	if (cut) {
		o->c = op.b + at - 1;
		fix_unmap(o);
		o[k + 1] = op;
		o[k + 1].b = op.b + at;
		fix_unmap(&o[k + 1]);
		o++;
	}
	for (size_t j = 0; j < k; j++) {
		int snap = shape == 0 || (shape == 2 && j == 1) ||
			   (shape == 3 && j == 0);
		static const int others[] = { 0, OP_COMMIT, OP_COMMIT,
					      OP_COMMIT, OP_ABORT, OP_META_SNAP };

		o[j].kind = snap ? OP_SNAP : others[shape];
		if (snap) {
			o[j].b = dev;
			o[j].a = new_dev(m);
		}
		note(m, "step", (size_t)(o + j - m->sc->ops), &o[j]);
	}
	if (cut)
		fprintf(m->what, "cut line %zu before %" PRIu64 "; ", i,
			op.b + at);
	return 0;
}

int scenario_step_before(struct scenario *sc, size_t i, uint64_t at,
			 struct prng *p, char *what, size_t len)
{
	struct mctx m = { .sc = sc, .p = p };
	struct scenario *keep;
	int r;

	if (i >= sc->nr_ops)
		return -EINVAL;
	r = begin(&m, &keep, what, len);
	if (r)
		return r;
	scan(&m);
	r = step_before(&m, i, at);
	if (r == -E2BIG)
		r = 0;		/* no room: left as it was */
	return finish(sc, keep, m.what, r, what, len);
}
