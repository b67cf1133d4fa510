/* harness/engine/explore.c - persistence choices, failure ids, and the check of
 * one crash state (see explore.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm.h"
#include "check.h"
#include "errors.h"
#include "explore.h"
#include "faultbdev.h"
#include "prng.h"
#include "thin.h"

#define CONT_MAPPINGS 8		/* mappings made by the continue step */

static const char *const outcome_names[OUT_NR] = {
	"rollback", "rollforward", "detected", "violation"
};

const char *outcome_name(enum outcome o)
{
	return o < OUT_NR ? outcome_names[o] : "?";
}

/* --- failure ids ------------------------------------------------------------ */

static const char fault_chars[] = { '0', 'r', 'w', 'f' };

int state_id_format(const struct state_id *id, char *buf, size_t len)
{
	char fault[32];

	if (id->fault.kind == FAULT_NONE)
		snprintf(fault, sizeof(fault), "0");
	else
		snprintf(fault, sizeof(fault), "%c%" PRIu64,
			 id->fault.sticky ? fault_chars[id->fault.kind] - 32 :
					    fault_chars[id->fault.kind],
			 id->fault.nth);
	return snprintf(buf, len, "%s:s%" PRIu64 ":c%" PRIu64 ":p%" PRIu64
			"-of-%" PRIu64 "%s:e%s", id->name, id->seed, id->cut,
			id->choice, id->nr_choices, id->tear ? ":t" : "", fault);
}

static int parse_num(const char *s, const char *end, uint64_t *v)
{
	uint64_t x = 0;

	if (s == end)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

__attribute__((format(printf, 4, 5)))
static int id_error(const char *text, char *err, size_t errlen,
		    const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "malformed id '%s': ", text);

	if (n > 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int state_id_parse(const char *text, struct state_id *id, char *err,
		   size_t errlen)
{
	const char *f[8];
	size_t nf = 0;
	const char *p = text;

	memset(id, 0, sizeof(*id));
	f[nf++] = p;
	for (; *p; p++) {
		if (*p == ':') {
			if (nf == 7)
				return id_error(text, err, errlen, "too many fields");
			f[nf++] = p + 1;
		}
	}
	if (nf != 5 && nf != 6)
		return id_error(text, err, errlen,
				"want NAME:sSEED:cCUT:pIDX-of-N[:t]:eFAULT");
	size_t nlen = (size_t)(f[1] - 1 - f[0]);
	if (!nlen || nlen >= sizeof(id->name))
		return id_error(text, err, errlen, "bad scenario name");
	memcpy(id->name, f[0], nlen);
	id->name[nlen] = 0;
#define FIELD_END(i) ((i) + 1 < nf ? f[(i) + 1] - 1 : f[i] + strlen(f[i]))
	if (f[1][0] != 's' || parse_num(f[1] + 1, FIELD_END(1), &id->seed))
		return id_error(text, err, errlen, "field 2 is not sSEED");
	if (f[2][0] != 'c' || parse_num(f[2] + 1, FIELD_END(2), &id->cut))
		return id_error(text, err, errlen, "field 3 is not cCUT");
	const char *of = strstr(f[3], "-of-");
	if (f[3][0] != 'p' || !of || of > FIELD_END(3) ||
	    parse_num(f[3] + 1, of, &id->choice) ||
	    parse_num(of + 4, FIELD_END(3), &id->nr_choices) ||
	    id->choice >= id->nr_choices)
		return id_error(text, err, errlen, "field 4 is not pIDX-of-N (IDX < N)");
	size_t ef = 4;
	if (nf == 6) {
		if (FIELD_END(4) - f[4] != 1 || f[4][0] != 't')
			return id_error(text, err, errlen, "field 5 is not t");
		id->tear = 1;
		ef = 5;
	}
	const char *e = f[ef];
	if (e[0] != 'e')
		return id_error(text, err, errlen, "last field is not eFAULT");
	if (!strcmp(e, "e0")) {
		id->fault.kind = FAULT_NONE;
		return 0;
	}
	int k;
	for (k = 1; k < 4; k++)
		if (e[1] == fault_chars[k] || e[1] == fault_chars[k] - 32)
			break;
	if (k == 4 || parse_num(e + 2, e + strlen(e), &id->fault.nth) ||
	    !id->fault.nth)
		return id_error(text, err, errlen,
				"fault is not 0, rN, RN, wN, WN, fN or FN (N >= 1)");
	id->fault.kind = (enum fault_kind)k;
	id->fault.sticky = e[1] == fault_chars[k] - 32;
#undef FIELD_END
	return 0;
}

/* --- persistence choices ------------------------------------------------------ */

uint64_t nr_choices(size_t n, int tear)
{
	uint64_t base = n <= EXHAUSTIVE_MAX ? (1ull << n)
					    : 2 + 2 * (uint64_t)n + NR_RANDOM_CHOICES;

	return base + (tear ? n : 0);
}

void make_choice(size_t n, int tear, uint64_t seed, uint64_t cut, uint64_t idx,
		 uint8_t *landed, uint64_t *sectors)
{
	uint64_t base = nr_choices(n, 0);
	struct prng p;

	for (size_t j = 0; j < n; j++) {
		landed[j] = 0;
		if (sectors)
			sectors[j] = UINT64_MAX;
	}
	prng_seed(&p, prng_derive(seed, cut * 0x10001ull + idx));
	if (idx >= base) {
		/* torn: writes before j whole, j in part, none after */
		size_t j = (size_t)(idx - base);

		(void)tear;
		for (size_t i = 0; i < j; i++)
			landed[i] = 1;
		landed[j] = 1;
		if (sectors)	/* a mask with at least one sector in, one out */
			sectors[j] = 1 + prng_below(&p, (1ull << 8) - 2);
		return;
	}
	if (n <= EXHAUSTIVE_MAX) {
		for (size_t j = 0; j < n; j++)
			landed[j] = (idx >> j) & 1;
		return;
	}
	if (idx == 0)
		return;					/* none */
	if (idx == 1) {					/* all */
		memset(landed, 1, n);
		return;
	}
	idx -= 2;
	if (idx < n) {					/* each left out */
		memset(landed, 1, n);
		landed[idx] = 0;
		return;
	}
	idx -= n;
	if (idx < n) {					/* each alone */
		landed[idx] = 1;
		return;
	}
	for (size_t j = 0; j < n; j++)			/* seeded random */
		landed[j] = (uint8_t)(prng_next(&p) & 1);
}

size_t cut_points(const struct run_result *res, uint64_t **cuts)
{
	uint64_t n = simdisk_nr_ops(res->sd), k = 0;
	uint64_t *c = malloc((n + 1) * sizeof(*c));

	if (!c)
		return 0;
	c[k++] = 0;
	for (uint64_t i = 0; i < n; i++) {
		const struct sd_op *op = simdisk_op(res->sd, i);

		if (op->kind == SD_WRITE || op->kind == SD_WRITE_FUA ||
		    op->kind == SD_FLUSH)
			c[k++] = i + 1;
	}
	*cuts = c;
	return (size_t)k;
}

/* --- the check of one state ------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void set_out(struct check_out *out, enum outcome o, const char *fmt, ...)
{
	va_list ap;

	out->outcome = o;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
}

struct msg_buf {
	char *buf;
	size_t len, used;
	unsigned n;
};

static void collect_msg(void *ctx, const char *text)
{
	struct msg_buf *m = ctx;

	m->n++;
	if (m->n > 3 || m->used + 3 >= m->len)
		return;
	int k = snprintf(m->buf + m->used, m->len - m->used, "%s%s",
			 m->used ? "; " : "", text);
	if (k > 0)
		m->used += (size_t)k < m->len - m->used ? (size_t)k
							: m->len - m->used - 1;
}

/* 0 clean; 1 damaged (what in msg); -errno could not run. */
static int structural(struct bdev *bd, char *msg, size_t len)
{
	struct msg_buf m = { msg, len, 0, 0 };
	struct check_result cr;
	int r;

	msg[0] = 0;
	r = check_thin_metadata(bd, CHECK_STRICT, collect_msg, &m, &cr);
	if (r)
		return r;
	return (cr.errors || cr.leaks) ? 1 : 0;
}

static int next_free_dev(struct thin_pool *pool, uint64_t *dev)
{
	uint64_t *devs;
	size_t nr;
	int r = thin_list_devs_alloc(pool, &devs, &nr);

	if (r)
		return r;
	*dev = nr ? devs[nr - 1] + 1 : 0;
	free(devs);
	if (*dev > THIN_MAX_DEV_ID)
		return -ENOSPC;
	return 0;
}

/* Continue after recovery: a new device with a few mappings, a commit;
 * then the structure must be clean and the state what it was plus them. */
static void continue_and_check(struct thin_pool *pool, struct bdev *image,
			       struct digest found, struct check_out *out)
{
	struct digest want = found, now;
	uint64_t dev, trans_id;
	uint32_t time;
	char msg[300];
	int r;

	r = next_free_dev(pool, &dev);
	if (!r)
		r = thin_get_transaction_id(pool, &trans_id);
	if (!r)
		r = thin_get_time(pool, &time);
	if (!r)
		r = thin_create_thin(pool, dev);
	for (uint64_t v = 0; v < CONT_MAPPINGS && !r; v++) {
		pd_block_t b;

		r = thin_alloc_data_block(pool, &b);
		if (r == -ENOSPC) {
			r = 0;		/* a full data device is not a finding */
			break;
		}
		if (!r)
			r = thin_insert(pool, dev, v * 7, b);
		if (!r)
			digest_add_map(&want, dev, v * 7, b, time);
	}
	if (!r)
		r = thin_commit(pool);
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing after recovery failed: %s",
			pd_strerror(r));
		return;
	}
	struct thin_dev_info info;
	r = thin_dev_info(pool, dev, &info);
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing: the new device is unreadable: %s",
			pd_strerror(r));
		return;
	}
	digest_add_dev(&want, dev, info.mapped_blocks, trans_id, time, time);
	r = pool_digest(pool, &now);
	if (r || !digest_eq(now, want)) {
		set_out(out, OUT_VIOLATION, "continuing after recovery: the state "
			"is not the recovered one plus the new device%s%s",
			r ? ": " : "", r ? pd_strerror(r) : "");
		return;
	}
	r = structural(image, msg, sizeof(msg));
	if (r)
		set_out(out, OUT_VIOLATION, "continuing after recovery: %s",
			r < 0 ? pd_strerror(r) : msg);
}

/* 1 + the log index of the last op before cut that changed the durable
 * content (a good flush, a good FUA write, a resize), 0 if none: two cuts
 * with the same value have the same durable image, so the same base state
 * (nothing pending landed).  Incremental when cuts come in order. */
static uint64_t durable_version(const struct run_result *res, uint64_t cut,
				uint64_t *scan_pos, uint64_t *version)
{
	if (cut < *scan_pos) {
		*scan_pos = 0;
		*version = 0;
	}
	for (uint64_t i = *scan_pos; i < cut && i < simdisk_nr_ops(res->sd); i++) {
		const struct sd_op *op = simdisk_op(res->sd, i);

		if (((op->kind == SD_FLUSH || op->kind == SD_WRITE_FUA) &&
		     !op->failed) ||
		    (op->kind == SD_MARKER && op->marker == SD_MARKER_RESIZE))
			*version = i + 1;
	}
	*scan_pos = cut;
	return *version;
}

/* Everything after the image is built: reopen (first through a failing
 * read when asked, which read is chosen by fault_key), structural check,
 * compare, continue. */
static void check_image(const struct run_result *res, struct bdev *image,
			const struct state_id *id, const struct check_opts *opts,
			uint64_t fault_key, struct check_out *out)
{
	struct thin_pool_params params = {
		.data_block_size = res->geo.block_size,
		.cache_blocks = res->geo.cache_blocks,
	};
	struct thin_pool *pool = NULL;
	struct expect e;
	struct digest d;
	char msg[300];
	int r;

	out->state = -2;
	out->msg[0] = 0;
	workload_expect(res, id->cut, &e);
	if (opts && opts->recovery_fault) {
		struct prng p;
		struct bdev *fb;

		/* the same read fails for every state with the same durable
		 * image (see the memo) */
		prng_seed(&p, prng_derive(id->seed, fault_key * 7919));
		r = fault_bdev_wrap(image, FB_READ, 1 + prng_below(&p, 6),
				    (int)prng_below(&p, 2), &fb);
		if (r) {
			set_out(out, OUT_VIOLATION, "harness: %s", pd_strerror(r));
			return;
		}
		r = thin_pool_open(fb, &params, &pool);
		if (!r && fault_bdev_failed(fb)) {
			set_out(out, OUT_VIOLATION, "open succeeded although a "
				"read failed (read %" PRIu64 ")",
				fault_bdev_count(fb, FB_READ));
			thin_pool_destroy(pool);
			bdev_destroy(fb);
			return;
		}
		thin_pool_destroy(pool);
		pool = NULL;
		bdev_destroy(fb);
	}

	r = thin_pool_open(image, &params, &pool);
	if (r == -ENODATA && e.lo < 0) {
		out->state = -1;
		set_out(out, OUT_ROLLBACK, "unformatted, as before the format committed");
		return;
	}
	if (r) {
		if (id->tear && (r == -EILSEQ || r == -ENOTBLK))
			set_out(out, OUT_DETECTED, "open refused a torn image: %s",
				pd_strerror(r));
		else
			set_out(out, OUT_VIOLATION, "open failed: %s", pd_strerror(r));
		return;
	}
	r = structural(image, msg, sizeof(msg));
	if (r) {
		set_out(out, OUT_VIOLATION, "structural check: %s",
			r < 0 ? pd_strerror(r) : msg);
		goto out;
	}
	r = pool_digest(pool, &d);
	if (r) {
		set_out(out, OUT_VIOLATION, "reading the recovered pool: %s",
			pd_strerror(r));
		goto out;
	}
	for (int64_t k = e.lo < 0 ? 0 : e.lo; k <= e.hi; k++) {
		if ((uint64_t)k < res->nr_states && digest_eq(d, res->digests[k])) {
			out->state = k;
			break;
		}
	}
	if (out->state < 0) {
		set_out(out, OUT_VIOLATION, "recovered state is none of the "
			"committed states %" PRId64 "..%" PRId64,
			e.lo < 0 ? 0 : e.lo, e.hi);
		goto out;
	}
	if (out->state > e.committed)
		set_out(out, OUT_ROLLFORWARD, "state %" PRId64, out->state);
	else
		set_out(out, OUT_ROLLBACK, "state %" PRId64, out->state);
	if (!opts || !opts->no_continue)
		continue_and_check(pool, image, d, out);
out:
	thin_pool_destroy(pool);
}

/* Build the image of choice idx at the cutter's cut. */
static int build_image(struct sd_cutter *cutter, const struct state_id *id,
		       uint64_t idx, uint8_t *landed, uint64_t *sectors,
		       struct bdev **image)
{
	size_t n = sd_cutter_nr_pending(cutter);
	struct sd_choice ch = { n, landed, sectors };

	make_choice(n, id->tear, id->seed, id->cut, idx, landed, sectors);
	return sd_cutter_image(cutter, &ch, image);
}

/* The base state of a cut (choice 0: nothing pending landed), checked
 * through a device that records every block recovery read. */
static int memo_base(const struct run_result *res, struct sd_cutter *cutter,
		     const struct state_id *id, const struct check_opts *opts,
		     struct check_memo *m, const struct memo_key *key,
		     uint8_t *landed, uint64_t *sectors)
{
	struct bdev *image, *rec;
	uint64_t nbits;
	int r;

	r = build_image(cutter, id, 0, landed, sectors, &image);
	if (r)
		return r;
	nbits = bdev_nr_blocks(image);
	if (nbits > m->cap_bits) {
		uint64_t *b = realloc(m->read_bits, (nbits + 63) / 64 * 8);

		if (!b) {
			bdev_destroy(image);
			return -ENOMEM;
		}
		m->read_bits = b;
		m->cap_bits = nbits;
	}
	m->nbits = nbits;
	memset(m->read_bits, 0, (nbits + 63) / 64 * 8);
	r = fault_bdev_wrap(image, FB_NONE, 0, 0, &rec);
	if (r) {
		bdev_destroy(image);
		return r;
	}
	fault_bdev_record_reads(rec, m->read_bits, nbits);
	struct state_id base = *id;
	base.choice = 0;
	check_image(res, rec, &base, opts, key->durable, &m->base);
	bdev_destroy(rec);
	bdev_destroy(image);
	m->key = *key;
	m->valid = 1;
	return 0;
}

/* What the base state of a cut depends on: the durable image and what the
 * markers allow there. */
static void memo_key_of(const struct run_result *res, uint64_t cut,
			struct check_memo *m, struct memo_key *k)
{
	struct expect e;

	workload_expect(res, cut, &e);
	k->durable = durable_version(res, cut, &m->scan_pos, &m->scan_version);
	k->lo = e.lo;
	k->hi = e.hi;
	k->committed = e.committed;
}

static int memo_key_eq(const struct memo_key *a, const struct memo_key *b)
{
	return a->durable == b->durable && a->lo == b->lo && a->hi == b->hi &&
	       a->committed == b->committed;
}

void check_memo_free(struct check_memo *m)
{
	free(m->read_bits);
	memset(m, 0, sizeof(*m));
}

/* 1 if the memo's base state answers for this choice. */
static int memo_answers(struct sd_cutter *cutter, const struct state_id *id,
			const struct check_memo *memo, uint8_t *landed,
			uint64_t *sectors)
{
	size_t n = sd_cutter_nr_pending(cutter);
	const struct sd_pending *p = sd_cutter_pending(cutter);

	/* Recovery is deterministic: if nothing it read differs, it does
	 * the same and ends the same. */
	make_choice(n, id->tear, id->seed, id->cut, id->choice, landed, sectors);
	for (size_t j = 0; j < n; j++)
		if (landed[j] && (p[j].block >= memo->nbits ||
				  (memo->read_bits[p[j].block / 64] >>
				   (p[j].block % 64)) & 1))
			return 0;
	return 1;
}

int check_state_cached(const struct run_result *res, struct sd_cutter *cutter,
		       const struct state_id *id, struct check_memo *memo,
		       struct check_out *out)
{
	size_t n = sd_cutter_nr_pending(cutter);
	struct memo_key key;
	uint8_t *landed;
	uint64_t *sectors;
	int hit;

	if (!memo->valid || id->nr_choices != nr_choices(n, id->tear) ||
	    id->choice >= id->nr_choices)
		return 0;
	memo_key_of(res, id->cut, memo, &key);
	if (!memo_key_eq(&key, &memo->key))
		return 0;
	landed = malloc(n + 1);
	sectors = malloc((n + 1) * sizeof(*sectors));
	hit = landed && sectors && memo_answers(cutter, id, memo, landed, sectors);
	free(landed);
	free(sectors);
	if (hit) {
		*out = memo->base;
		memo->hits++;
	}
	return hit;
}

void check_state(const struct run_result *res, struct sd_cutter *cutter,
		 const struct state_id *id, const struct check_opts *opts,
		 struct check_memo *memo, struct check_out *out)
{
	size_t n = sd_cutter_nr_pending(cutter);
	uint8_t *landed = malloc(n + 1);
	uint64_t *sectors = id->tear ? malloc((n + 1) * sizeof(*sectors)) : NULL;
	struct bdev *image = NULL;
	int r;

	out->state = -2;
	out->msg[0] = 0;
	if (!landed || (id->tear && !sectors)) {
		set_out(out, OUT_VIOLATION, "harness: out of memory");
		goto out;
	}
	if (id->nr_choices != nr_choices(n, id->tear) ||
	    id->choice >= id->nr_choices) {
		set_out(out, OUT_VIOLATION, "harness: the id says %" PRIu64
			" choices, the cut has %" PRIu64 " (%zu pending writes)",
			id->nr_choices, nr_choices(n, id->tear), n);
		goto out;
	}
	struct check_memo scratch = { 0 };
	struct memo_key key;

	memo_key_of(res, id->cut, memo ? memo : &scratch, &key);
	if (memo) {
		if (!memo->valid || !memo_key_eq(&key, &memo->key)) {
			r = memo_base(res, cutter, id, opts, memo, &key, landed,
				      sectors);
			if (r) {
				set_out(out, OUT_VIOLATION, "harness: %s",
					pd_strerror(r));
				goto out;
			}
		}
		if (memo_answers(cutter, id, memo, landed, sectors)) {
			*out = memo->base;
			memo->hits++;
			goto out;
		}
		memo->misses++;
	}
	r = build_image(cutter, id, id->choice, landed, sectors, &image);
	if (r) {
		set_out(out, OUT_VIOLATION, "harness: cannot build the image: %s",
			pd_strerror(r));
		goto out;
	}
	if (opts && opts->save_image) {
		r = bdev_export(image, opts->save_image);
		if (r)
			fprintf(stderr, "pdcrash: cannot save %s: %s\n",
				opts->save_image, pd_strerror(r));
	}
	check_image(res, image, id, opts, key.durable, out);
out:
	bdev_destroy(image);
	free(landed);
	free(sectors);
}
