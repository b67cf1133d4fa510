/* harness/engine/writecheck.c - write-time invariants on the op log (see
 * writecheck.h). */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_cache.h"
#include "errors.h"
#include "grow.h"
#include "writecheck.h"

/* A set of blocks, as a growable bit array. */
struct blockset {
	uint64_t *w;
	size_t nw;
};

static void bs_clear(struct blockset *s)
{
	if (s->w)
		memset(s->w, 0, s->nw * sizeof(*s->w));
}

static int bs_add(struct blockset *s, pd_block_t b)
{
	size_t i = (size_t)(b / 64);

	if (i >= s->nw) {
		size_t n = s->nw ? s->nw : 64;
		uint64_t *w;

		while (n <= i)
			n *= 2;
		w = realloc(s->w, n * sizeof(*w));
		if (!w)
			return -ENOMEM;
		memset(w + s->nw, 0, (n - s->nw) * sizeof(*w));
		s->w = w;
		s->nw = n;
	}
	s->w[i] |= 1ull << (b % 64);
	return 0;
}

static int bs_has(const struct blockset *s, pd_block_t b)
{
	size_t i = (size_t)(b / 64);

	return i < s->nw && (s->w[i] >> (b % 64)) & 1;
}

struct reach_ctx {
	struct blockset *set;
	int err;
	char first[200];		/* the walk's first finding */
};

static void reach_msg(void *ctx, const char *text)
{
	struct reach_ctx *rc = ctx;

	if (!rc->first[0])
		snprintf(rc->first, sizeof(rc->first), "%s", text);
}

static void reach_one(void *ctx, pd_block_t b)
{
	struct reach_ctx *rc = ctx;

	if (!rc->err)
		rc->err = bs_add(rc->set, b);
}

/* The blocks the superblock of the cutter's image reaches (all pending
 * writes landed, or none) into set; sb (block_size bytes) gets block 0;
 * rc (may be NULL) the walk's findings. */
static int walk_image(struct sd_cutter *c, int all, struct blockset *set,
		      uint8_t *sb, struct writecheck *wc,
		      struct reach_ctx *rcp, struct check_result *cr)
{
	struct reach_ctx rc0;
	size_t np = sd_cutter_nr_pending(c);
	uint8_t *landed = malloc(np + 1);
	struct sd_choice ch = { np, landed, NULL };
	struct reach_ctx *rc = rcp ? rcp : &rc0;
	struct check_result cr0;
	struct bdev *image;
	int r;

	if (!landed)
		return -ENOMEM;
	memset(landed, all ? 1 : 0, np + 1);
	r = sd_cutter_image(c, &ch, &image);
	free(landed);
	if (r)
		return r;
	if (set)
		bs_clear(set);
	r = sb ? bdev_read(image, 0, sb) : 0;
	if (!r && set) {
		wc->walks++;
		memset(rc, 0, sizeof(*rc));
		rc->set = set;
		if (wc->cache) {	/* dm-cache metadata */
			struct check_cache_result ccr;

			r = check_cache_reachable(image, reach_one, reach_msg,
						  rc, &ccr);
			memset(cr ? cr : &cr0, 0, sizeof(cr0));
			(cr ? cr : &cr0)->errors = ccr.errors;
		} else {
			r = check_thin_reachable(image, reach_one, reach_msg, rc,
						 cr ? cr : &cr0);
		}
		if (!r)
			r = rc->err;
	}
	bdev_destroy(image);
	return r;
}

static int add_violation(struct writecheck *wc, uint64_t seq, pd_block_t b,
			 enum write_rule rule, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int add_violation(struct writecheck *wc, uint64_t seq, pd_block_t b,
			 enum write_rule rule, const char *fmt, ...)
{
	struct write_violation *v;
	va_list ap;

	if (wc->nr && wc->v[wc->nr - 1].seq == seq)
		return 0;		/* one violation per write */
	v = realloc(wc->v, (wc->nr + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	wc->v = v;
	v = &wc->v[wc->nr++];
	v->seq = seq;
	v->block = b;
	v->rule = rule;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	va_end(ap);
	return 0;
}

const char *write_rule_text(enum write_rule r)
{
	return r == WRULE_A ?
	       "write-time rule (a): a write to a block reachable from the "
	       "durable committed superblock" :
	       "write-time rule (b): a superblock write before the flush that "
	       "makes its tree durable";
}

/* WB at the block-0 write seq: the blocks the new superblock reaches that
 * are still pending just before it. */
static int check_sb_write(struct sd_cutter *c, uint64_t seq,
			  struct blockset *pend, struct blockset *reach,
			  int lost_sector, struct writecheck *wc)
{
	const struct sd_pending *p;
	struct check_result cr;
	struct reach_ctx rc;
	size_t np, bad = 0;
	pd_block_t first = 0;
	int r;

	r = sd_cutter_seek(c, seq);
	if (r)
		return r;
	bs_clear(pend);
	p = sd_cutter_pending(c);
	np = sd_cutter_nr_pending(c);
	for (size_t j = 0; j < np; j++)
		if (p[j].block != 0 && (r = bs_add(pend, p[j].block)))
			return r;
	r = sd_cutter_seek(c, seq + 1);
	if (!r)
		r = walk_image(c, 1, reach, NULL, wc, &rc, &cr);
	if (r)
		return r;
	/* what it names must be there already, whole; in a run whose fault
	 * is a lost sector the damage is the media's, not an early
	 * superblock (the pending test below still holds) */
	if (cr.errors && !lost_sector)
		return add_violation(wc, seq, 0, WRULE_B,
			"%s: the superblock written at log entry %" PRIu64
			" names metadata not written yet (%u structural "
			"error%s in what it reaches, first: %s)",
			write_rule_text(WRULE_B), seq, cr.errors,
			cr.errors == 1 ? "" : "s", rc.first);
	for (size_t i = 0; i < pend->nw; i++) {
		uint64_t both = pend->w[i] & (i < reach->nw ? reach->w[i] : 0);

		for (; both; both &= both - 1) {
			if (!bad++)
				first = i * 64 + (pd_block_t)__builtin_ctzll(both);
		}
	}
	if (bad)
		return add_violation(wc, seq, 0, WRULE_B,
			"%s: superblock written at log entry %" PRIu64 " while "
			"%zu block%s it reaches %s still pending (first: block %"
			PRIu64 "); no flush made them durable first",
			write_rule_text(WRULE_B), seq, bad, bad == 1 ? "" : "s",
			bad == 1 ? "is" : "are", first);
	return 0;
}

/*
 * The trail (writecheck.h): after each entry that walked, the state the
 * walk of the log has there.  sb and reach change only where the durable
 * superblock does, so points share them by index.
 */
struct wc_point {
	uint64_t next;			/* the state before entry next */
	uint64_t writes, walks, durable_seq;
	uint64_t log_hash;		/* of entries 0..next-1 (log_hash) */
	size_t state;			/* index in states */
};

struct wc_state {
	uint8_t *sb;
	struct blockset reach;
};

struct writecheck_trail {
	struct wc_point *p;
	size_t np, cap_p;
	struct wc_state *s;
	size_t ns, cap_s;
	uint32_t bsize;
	int usable;			/* the run found no violation */
};

void writecheck_trail_free(struct writecheck_trail *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ns; i++) {
		free(t->s[i].sb);
		free(t->s[i].reach.w);
	}
	free(t->s);
	free(t->p);
	free(t);
}

/* FNV-1a over what a log entry did (its data aside): a fault run's prefix
 * must be the fault-free run's for the trail to stand for it. */
static uint64_t log_hash(uint64_t h, const struct sd_op *op)
{
	uint64_t v[5] = { op->kind, op->block, (uint64_t)op->failed,
			  (uint64_t)op->marker, op->value };
	const uint8_t *b = (const uint8_t *)v;

	for (size_t i = 0; i < sizeof(v); i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#define LOG_HASH_INIT 0xcbf29ce484222325ull

static int trail_state(struct writecheck_trail *t, const uint8_t *sb,
		       const struct blockset *reach)
{
	struct wc_state *st;

	if (grow_array(&t->s, &t->cap_s, t->ns, sizeof(*st)))
		return -ENOMEM;
	st = &t->s[t->ns];
	st->sb = malloc(t->bsize);
	st->reach.nw = reach->nw;
	st->reach.w = malloc((reach->nw ? reach->nw : 1) * sizeof(uint64_t));
	if (!st->sb || !st->reach.w) {
		free(st->sb);
		free(st->reach.w);
		return -ENOMEM;
	}
	memcpy(st->sb, sb, t->bsize);
	if (reach->nw)
		memcpy(st->reach.w, reach->w, reach->nw * sizeof(uint64_t));
	t->ns++;
	return 0;
}

static int trail_point(struct writecheck_trail *t, uint64_t next,
		       const struct writecheck *wc, uint64_t durable_seq,
		       uint64_t hash)
{
	if (grow_array(&t->p, &t->cap_p, t->np, sizeof(*t->p)))
		return -ENOMEM;
	t->p[t->np++] = (struct wc_point) {
		.next = next, .writes = wc->writes, .walks = wc->walks,
		.durable_seq = durable_seq, .log_hash = hash,
		.state = t->ns - 1,
	};
	return 0;
}

uint64_t writecheck_trail_follow(const struct writecheck_trail *t,
				 struct simdisk *sd, struct writecheck_follow *f)
{
	uint64_t n = simdisk_nr_ops(sd);

	if (!f->i && !f->k)
		f->h = LOG_HASH_INIT;
	while (t && !f->broken && f->k < t->np && t->p[f->k].next <= n) {
		for (; f->i < t->p[f->k].next; f->i++)
			f->h = log_hash(f->h, simdisk_op(sd, f->i));
		if (f->h != t->p[f->k].log_hash) {
			f->broken = 1;
			break;
		}
		f->upto = t->p[f->k++].next;
	}
	return f->broken ? f->upto : n;
}

/* The last point of the trail at or before entry shared; NULL if none. */
static const struct wc_point *trail_resume(const struct writecheck_trail *t,
					   struct simdisk *sd, uint64_t shared)
{
	size_t lo = 0, hi;

	if (!t || !t->usable || simdisk_bdev(sd)->block_size != t->bsize ||
	    shared > simdisk_nr_ops(sd))
		return NULL;
	hi = t->np;
	while (lo < hi) {		/* the first point past shared */
		size_t mid = (lo + hi) / 2;

		if (t->p[mid].next <= shared)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->p[lo - 1] : NULL;
}

int writecheck_run_trail(const struct run_result *res, size_t max_violations,
			 const struct writecheck_trail *resume, uint64_t shared,
			 struct writecheck_trail **record, struct writecheck *wc)
{
	struct simdisk *sd = res->sd;
	uint64_t n = simdisk_nr_ops(sd), durable_seq = 0, i = 0;
	uint64_t hash = LOG_HASH_INIT;
	uint32_t bsize = simdisk_bdev(sd)->block_size;
	struct blockset reach = { 0 }, tmp = { 0 }, pend = { 0 };
	struct sd_cutter *c = NULL;
	struct writecheck_trail *t = NULL;
	const struct wc_point *from = record ? NULL :
				      trail_resume(resume, sd, shared);
	uint8_t *sb = calloc(2, bsize), *sb_now = sb + bsize;
	int r;

	memset(wc, 0, sizeof(*wc));
	wc->cache = res->geo.is_cache;
	if (!sb)
		return -ENOMEM;
	if (record) {
		t = calloc(1, sizeof(*t));
		if (!t) {
			free(sb);
			return -ENOMEM;
		}
		t->bsize = bsize;
	}
	r = sd_cutter_create(sd, &c);
	if (r)
		goto out;
	if (from) {
		/* entries before from->next are the recorded run's: its
		 * walks there stand for ours (writecheck.h) */
		const struct wc_state *st = &resume->s[from->state];

		memcpy(sb, st->sb, bsize);
		reach.w = malloc((st->reach.nw ? st->reach.nw : 1) *
				 sizeof(uint64_t));
		if (!reach.w) {
			r = -ENOMEM;
			goto out;
		}
		reach.nw = st->reach.nw;
		if (reach.nw)
			memcpy(reach.w, st->reach.w, reach.nw * sizeof(uint64_t));
		wc->writes = from->writes;
		wc->walks = from->walks;
		durable_seq = from->durable_seq;
		i = from->next;
	} else {
		/* the durable superblock before the first entry (all zeroes
		 * on a fresh disk: reaches nothing) */
		r = walk_image(c, 0, &reach, sb, wc, NULL, NULL);
		if (!r && t)
			r = trail_state(t, sb, &reach);
		if (!r && t)
			r = trail_point(t, 0, wc, durable_seq, hash);
	}
	for (; !r && i < n; i++) {
		const struct sd_op *op = simdisk_op(sd, i);
		int w = op->kind == SD_WRITE || op->kind == SD_WRITE_FUA;
		uint64_t walks = wc->walks;

		if (t)
			hash = log_hash(hash, op);
		if (op->failed || (!w && op->kind != SD_FLUSH))
			continue;
		if (w) {
			wc->writes++;
			if (op->block != 0 && bs_has(&reach, op->block))
				r = add_violation(wc, i, op->block, WRULE_A,
					"%s: block %" PRIu64 " written at log "
					"entry %" PRIu64 " is reachable from the "
					"superblock durable since entry %" PRIu64,
					write_rule_text(WRULE_A), op->block, i,
					durable_seq);
			else if (op->block == 0)
				r = check_sb_write(c, i, &pend, &tmp,
						   res->fault.kind == FAULT_LOST_SECTOR,
						   wc);
			if (r || (max_violations && wc->nr >= max_violations))
				break;
			if (op->kind != SD_WRITE_FUA || op->block != 0)
				goto point;
		}
		/* a good flush or a FUA superblock: has block 0's durable
		 * content changed? */
		r = sd_cutter_seek(c, i + 1);
		if (!r)
			r = walk_image(c, 0, NULL, sb_now, wc, NULL, NULL);
		if (!r && memcmp(sb, sb_now, bsize)) {
			memcpy(sb, sb_now, bsize);
			durable_seq = i;
			r = walk_image(c, 0, &reach, NULL, wc, NULL, NULL);
			if (!r && t)
				r = trail_state(t, sb, &reach);
		}
point:
		if (!r && t && wc->walks != walks)
			r = trail_point(t, i + 1, wc, durable_seq, hash);
	}
out:
	sd_cutter_destroy(c);
	free(reach.w);
	free(tmp.w);
	free(pend.w);
	free(sb);
	if (t && !r) {
		t->usable = wc->nr == 0;
		*record = t;
	} else {
		writecheck_trail_free(t);
	}
	if (r)
		writecheck_free(wc);
	return r;
}

int writecheck_run(const struct run_result *res, size_t max_violations,
		   struct writecheck *wc)
{
	return writecheck_run_trail(res, max_violations, NULL, 0, NULL, wc);
}

void writecheck_free(struct writecheck *wc)
{
	free(wc->v);
	wc->v = NULL;
	wc->nr = 0;
}

int writecheck_at(const struct run_result *res, uint64_t seq,
		  struct write_violation *v)
{
	struct writecheck wc;
	int r = writecheck_run(res, 0, &wc);

	if (r)
		return r;
	for (size_t i = 0; i < wc.nr && !r; i++)
		if (wc.v[i].seq == seq) {
			*v = wc.v[i];
			r = 1;
		}
	writecheck_free(&wc);
	return r;
}

/* --- ids ------------------------------------------------------------------ */

int write_id_format(const char *name, uint64_t seed, uint64_t seq,
		    const struct fault_spec *fault, char *buf, size_t len)
{
	struct state_id id;
	char tmp[300];
	const char *e;

	memset(&id, 0, sizeof(id));
	snprintf(id.name, sizeof(id.name), "x");
	id.nr_choices = 1;
	id.fault = *fault;
	state_id_format(&id, tmp, sizeof(tmp));
	e = strrchr(tmp, ':');
	return snprintf(buf, len, "%s:s%" PRIu64 ":w%" PRIu64 "%s", name, seed,
			seq, e ? e : ":e0");
}

int write_id_parse(const char *text, struct state_id *id, char *err,
		   size_t errlen)
{
	const char *f[5];
	size_t nf = 0;
	char buf[400];

	f[nf++] = text;
	for (const char *p = text; *p; p++)
		if (*p == ':') {
			if (nf == 5)
				return 0;
			f[nf++] = p + 1;
		}
	if (nf != 4 || f[2][0] != 'w')
		return 0;
	/* the same fields as a --sample state id, with cut = SEQ */
	snprintf(buf, sizeof(buf), "%.*s:c%.*s:p0-of-1:%s",
		 (int)(f[2] - 1 - text), text, (int)(f[3] - 1 - f[2] - 1),
		 f[2] + 1, f[3]);
	if (state_id_parse(buf, id, err, errlen)) {
		snprintf(err, errlen, "'%s' is not a write id "
			 "NAME:sSEED:wSEQ:eFAULT", text);
		return -EINVAL;
	}
	id->choice = 0;
	id->nr_choices = 0;
	return 1;
}
