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
#include "cache_scenario.h"
#include "client_digest.h"
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

static const char fault_chars[] = { '0', 'r', 'w', 'f', 'b', 'z', 'm', 's',
				     'd', 'y' };
_Static_assert(sizeof(fault_chars) == FAULT_DATA_FLUSH + 1,
	       "one letter per fault kind (workload.h)");
#define NR_FAULT_CHARS ((int)sizeof(fault_chars))

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
	if (id->lazy)
		return snprintf(buf, len, "%s:s%" PRIu64 ":c%" PRIu64 ":l%s%s:e%s",
				id->name, id->seed, id->cut,
				id->leaf[0] ? id->leaf : "-",
				id->tear ? ":t" : "", fault);
	return snprintf(buf, len, "%s:s%" PRIu64 ":c%" PRIu64 ":p%" PRIu64
			"-of-%" PRIu64 "%s:e%s", id->name, id->seed, id->cut,
			id->choice, id->nr_choices, id->tear ? ":t" : "", fault);
}

static int leaf_syntax(const char *s, size_t len);

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
				"want NAME:sSEED:cCUT:pIDX-of-N[:t]:eFAULT or "
				"NAME:sSEED:cCUT:lLEAF[:t]:eFAULT");
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
	if (f[3][0] == 'l') {
		size_t ll = (size_t)(FIELD_END(3) - f[3] - 1);

		if (!ll || ll >= sizeof(id->leaf) || leaf_syntax(f[3] + 1, ll))
			return id_error(text, err, errlen, "field 4 is not lLEAF "
					"(- or bBLOCKvV / bBLOCKsXXXXXXXX joined by .)");
		memcpy(id->leaf, f[3] + 1, ll);
		id->leaf[ll] = 0;
		id->lazy = 1;
	} else if (f[3][0] != 'p' || !of || of > FIELD_END(3) ||
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
	for (k = 1; k < NR_FAULT_CHARS; k++)
		if (e[1] == fault_chars[k] ||
		    (e[1] == fault_chars[k] - 32 &&
		     fault_can_stick((enum fault_kind)k)))
			break;
	if (k == NR_FAULT_CHARS ||
	    parse_num(e + 2, e + strlen(e), &id->fault.nth) || !id->fault.nth)
		return id_error(text, err, errlen,
				"fault is not 0, rN, RN, wN, WN, fN, FN, bN, "
				"zN, mN or sN, or on the data device dN, DN, "
				"yN or YN (N >= 1)");
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
	/* a crash after the last op returned: markers after the last IO
	 * (a commit's end) make that a state of its own */
	if (c[k - 1] != n)
		c[k++] = n;
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

/* 0 clean; 1 damaged, 2 the checks disagree (what in msg); -errno could
 * not run.  Two checks that share no code: core/check.c on the image and,
 * when it finds nothing, the backend's own check of the trees cl has open
 * (core: bt_check; none when cl is NULL).  Damage only the second sees
 * means one of them is wrong: a finding either way, never "detected". */
int explore_structural(struct bdev *bd, struct client *cl, char *msg,
		       size_t len)
{
	return explore_structural_leaky(bd, cl, NULL, msg, len);
}

int explore_structural_leaky(struct bdev *bd, struct client *cl,
			     uint64_t *data_leaks, char *msg, size_t len)
{
	struct msg_buf m = { msg, len, 0, 0 };
	struct check_result cr;
	int r;

	msg[0] = 0;
	r = check_thin_metadata(bd, CHECK_STRICT, collect_msg, &m, &cr);
	if (r)
		return r;
	if (data_leaks)
		*data_leaks = cr.data_leaks;
	if (cr.errors || (cr.leaks && (!data_leaks || cr.leaks != cr.data_leaks)))
		return 1;
	if (!cl || !cl->ops->check_trees)
		return 0;
	r = cl->ops->check_trees(cl);
	if (!r || r == -ENOMEM)
		return r;
	snprintf(msg, len, "the structural checks disagree: core/check.c finds "
		 "nothing wrong, %.200s fails: %s",
		 cl->msg[0] ? cl->msg : "the backend's check of its trees",
		 pd_strerror(r));
	return 2;
}

static int next_free_dev(struct client *cl, uint64_t *dev)
{
	uint64_t *devs;
	size_t nr;
	int r = cl->ops->list_devs(cl, &devs, &nr);

	if (r)
		return r;
	/* the lowest id not in use (the highest may be THIN_MAX_DEV_ID) */
	*dev = 0;
	for (size_t i = 0; i < nr && devs[i] == *dev; i++)
		(*dev)++;
	free(devs);
	if (*dev > THIN_MAX_DEV_ID)
		return -ENOSPC;
	return 0;
}

int explore_continue(struct client *cl, struct bdev *image,
		     struct digest found, struct check_out *out)
{
	return explore_continue_leaky(cl, image, found, NULL, out);
}

int explore_continue_leaky(struct client *cl, struct bdev *image,
			   struct digest found, const uint64_t *data_leaks,
			   struct check_out *out)
{
	uint64_t leaks = 0;
	struct digest want = found, now;
	uint64_t dev, trans_id;
	uint32_t time;
	char msg[300];
	int r;

	r = next_free_dev(cl, &dev);
	if (!r)
		r = cl->ops->get_trans_id(cl, &trans_id);
	if (!r)
		r = cl->ops->get_time(cl, &time);
	if (!r)
		r = cl->ops->create_thin(cl, dev);
	for (uint64_t v = 0; v < CONT_MAPPINGS && !r; v++) {
		pd_block_t b;

		r = cl->ops->alloc_data_block(cl, &b);
		if (r == -ENOSPC) {
			r = 0;		/* a full data device is not a finding */
			break;
		}
		if (!r)
			r = cl->ops->insert(cl, dev, v * 7, b);
		if (!r)
			digest_add_map(&want, dev, v * 7, b, time);
	}
	if (!r)
		r = cl->ops->commit(cl);
	if (r == -ENOSPC)
		return 0;	/* metadata full: a path, not a finding (DESIGN.md
				 * 10); the structural check above saw no leak */
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing after recovery failed: %s",
			pd_strerror(r));
		return r;
	}
	struct thin_dev_info info;
	r = cl->ops->dev_info(cl, dev, &info);
	if (r) {
		set_out(out, OUT_VIOLATION, "continuing: the new device is unreadable: %s",
			pd_strerror(r));
		return r;
	}
	digest_add_dev(&want, dev, info.mapped_blocks, trans_id, time, time);
	r = client_digest(cl, &now);
	if (r || !digest_eq(now, want)) {
		set_out(out, OUT_VIOLATION, "continuing after recovery: the state "
			"is not the recovered one plus the new device%s%s%s%s",
			r ? ": " : "", r ? pd_strerror(r) : "",
			r && cl->msg[0] ? ": " : "", r ? cl->msg : "");
		return r ? r : 1;
	}
	r = explore_structural_leaky(image, cl, data_leaks ? &leaks : NULL,
				     msg, sizeof(msg));
	if (!r && data_leaks && leaks != *data_leaks) {
		snprintf(msg, sizeof(msg), "%" PRIu64 " data blocks leaked, "
			 "the recovered state left %" PRIu64, leaks, *data_leaks);
		r = 1;
	}
	if (r)
		set_out(out, OUT_VIOLATION, "continuing after recovery: %s",
			r < 0 ? pd_strerror(r) : msg);
	return r ? 1 : 0;
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

/*
 * After a lost sector (fault zN) the media holds that write's data with the
 * sector zeroed (simdisk.h), in every crash state where that write is the
 * block's content.  A device over the image notes whether recovery read
 * that damaged version: only then may a checksum error be "detected".
 */
struct lost_watch {
	struct bdev bd;
	struct bdev *inner;
	pd_block_t block;
	const uint8_t *damaged;		/* the write's data, as on the media */
	int seen;			/* a read returned it */
};

static int lw_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct lost_watch *lw = (struct lost_watch *)bd;
	int r = lw->inner->ops->read(lw->inner, b, buf);

	if (!r && b == lw->block && !memcmp(buf, lw->damaged, bd->block_size))
		lw->seen = 1;
	return r;
}

static int lw_write(struct bdev *bd, pd_block_t b, const void *buf,
		    unsigned flags)
{
	struct lost_watch *lw = (struct lost_watch *)bd;

	return lw->inner->ops->write(lw->inner, b, buf, flags);
}

static int lw_flush(struct bdev *bd)
{
	struct lost_watch *lw = (struct lost_watch *)bd;

	return lw->inner->ops->flush(lw->inner);
}

static int lw_resize(struct bdev *bd, pd_block_t nr_blocks)
{
	struct lost_watch *lw = (struct lost_watch *)bd;
	int r = bdev_resize(lw->inner, nr_blocks);

	bd->nr_blocks = lw->inner->nr_blocks;
	return r;
}

static void lw_destroy(struct bdev *bd)
{
	(void)bd;	/* on the caller's stack; the image is the caller's */
}

static const struct bdev_ops lost_watch_ops = {
	.read = lw_read, .write = lw_write, .flush = lw_flush,
	.resize = lw_resize, .destroy = lw_destroy,
};

/* 1 and *lw set up over image if the id's fault lost a sector before its
 * cut; else 0. */
static int lost_watch_init(const struct run_result *res,
			   const struct state_id *id, struct bdev *image,
			   struct lost_watch *lw)
{
	const struct sd_media_hit *h;

	if (id->fault.kind != FAULT_LOST_SECTOR || !res->sd)
		return 0;
	h = simdisk_media_hit(res->sd);
	if (!h->fired || h->where < 0 || h->seq >= id->cut)
		return 0;
	*lw = (struct lost_watch) {
		.bd = { &lost_watch_ops, image->block_size, image->nr_blocks,
			image->caps },
		.inner = image,
		.block = h->block,
		.damaged = simdisk_op(res->sd, h->seq)->data,
	};
	return 1;
}

/*
 * The faulted pass.  With check_opts.recovery_fault (--io-errors) or
 * recovery_alloc_fault (--alloc-faults' runs) each recovery runs twice:
 * first with one read failing (-EIO, once or from then on) or one
 * allocation failing (-ENOMEM, once), then as usual.  The fault sits in
 * one step of the first pass, counted from that step's start: the open
 * (read 1..6, allocation 1..16: a pool's open reads a few blocks and
 * allocates a dozen times), the backend's check of its trees after a
 * clean open, or the digest (the walk of every device's mappings) after
 * a clean open (read or allocation 1..16 of the step: the first nodes
 * past the open's cache).  The step and the call come from the durable
 * image (fault_key) and the seed, so every state with the same durable
 * image takes the same one (the memo) and an id replays.  A faulted step
 * must answer the fault's error or succeed as if nothing had failed: a
 * failed read never read again must not let it succeed, and a digest
 * that succeeds must be the clean pass's.  The check and the digest are
 * faulted on the core backend only (a kernel backend's are the adapter's
 * reads, outside the code under test), and a kernel's open may answer
 * any error (its errno is the kernel's to choose); a dm-cache run keeps
 * its own pass (cache_check_image: the open through a failing read, or
 * on the core the check of its arrays after a clean open).
 * Then the clean pass must still recover.
 */
enum fault_step { STEP_OPEN, STEP_CHECK, STEP_DIGEST, NR_STEPS };

struct fault_pass {
	int alloc;			/* an allocation fails, not a read */
	enum fault_step step;
	uint64_t nth;			/* of the step's reads or allocations */
	int sticky;			/* reads only */
	int core;			/* the core backend: every step, and
					 * only the fault's error is right */
	int digest_ok;			/* the faulted digest succeeded: */
	struct digest d;		/* it, to compare with the clean one */
};

static const char *const step_names[NR_STEPS] = {
	"the open", "the check of the trees", "the digest",
};

static void fault_pass_plan(const struct state_id *id, uint64_t fault_key,
			    int alloc, int core, struct fault_pass *fp)
{
	struct prng p;
	uint64_t n, sticky;

	memset(fp, 0, sizeof(*fp));
	prng_seed(&p, prng_derive(id->seed, fault_key * 7919));
	n = 1 + prng_below(&p, 6);
	sticky = prng_below(&p, 2);
	fp->alloc = alloc;
	fp->core = core;
	fp->step = core ? (enum fault_step)prng_below(&p, NR_STEPS) : STEP_OPEN;
	fp->nth = fp->step == STEP_OPEN && !alloc ? n : 1 + prng_below(&p, 16);
	fp->sticky = !alloc && (int)sticky;
}

static int fault_step_arm(struct fault_pass *fp, struct bdev *fb,
			  enum fault_step step)
{
	if (step != fp->step)
		return 0;
	if (fp->alloc)
		return workload_recovery_alloc_arm(fp->nth);
	fault_bdev_arm(fb, FB_READ, fp->nth, fp->sticky);
	return 0;
}

/* The step's fault fired (and stop it). */
static int fault_step_fired(struct fault_pass *fp, struct bdev *fb,
			    enum fault_step step)
{
	if (step != fp->step)
		return 0;
	if (fp->alloc)
		return workload_recovery_alloc_disarm();
	fault_bdev_arm(fb, FB_NONE, 0, 0);
	return fault_bdev_failed(fb) != 0;
}

/* Judge step's answer r: 0 fine, 1 a violation (out set). */
static int fault_step_judge(struct fault_pass *fp, struct bdev *fb,
			    enum fault_step step, int r, struct check_out *out)
{
	int fired = fault_step_fired(fp, fb, step);
	int want = fp->alloc ? -ENOMEM : -EIO;

	if (step == fp->step)
		snprintf(out->pass, sizeof(out->pass), "%s %" PRIu64 "%s of %s "
			 "%s; it answered %s", fp->alloc ? "allocation" : "read",
			 fp->nth, fp->sticky ? ", sticky," : "", step_names[step],
			 fired ? "failed" : "never came", r ? pd_strerror(r) :
			 "success");
	if (!fired)
		return 0;	/* the clean pass judges the same answer */
	if (r && r != want && fp->core) {
		set_out(out, OUT_VIOLATION, "%s answered %s after a failed %s "
			"(%s %" PRIu64 " of it); only %s is right",
			step_names[step], pd_strerror(r), fp->alloc ?
			"allocation" : "read", fp->alloc ? "allocation" : "read",
			fp->nth, pd_strerror(want));
		return 1;
	}
	if (!r && !fp->alloc && fault_bdev_unrecovered(fb)) {
		set_out(out, OUT_VIOLATION, "%s succeeded although a read failed "
			"(read %" PRIu64 " of it)", step_names[step], fp->nth);
		return 1;
	}
	return 0;
}

/* The first pass (see above): 0 and fp->digest_ok, d if its digest
 * succeeded; 1 with out set on a violation. */
static int faulted_pass(const struct client_ops *ops,
			const struct client_params *params, struct bdev *image,
			struct fault_pass *fp, struct check_out *out)
{
	struct client *pool = NULL;
	struct bdev *fb;
	int r, bad = 0;

	r = fault_bdev_wrap(image, FB_NONE, 0, 0, &fb);
	if (!r)
		r = fault_step_arm(fp, fb, STEP_OPEN);
	if (r) {
		set_out(out, OUT_VIOLATION, "harness: %s", pd_strerror(r));
		if (fb)
			bdev_destroy(fb);
		return 1;
	}
	r = ops->open(fb, params, &pool);
	if (fault_step_judge(fp, fb, STEP_OPEN, r, out)) {
		bad = 1;
	} else if (!r && fp->step == STEP_CHECK && ops->check_trees) {
		r = fault_step_arm(fp, fb, STEP_CHECK);
		if (!r)
			r = ops->check_trees(pool);
		bad = fault_step_judge(fp, fb, STEP_CHECK, r, out);
	} else if (!r && fp->step == STEP_DIGEST) {
		r = fault_step_arm(fp, fb, STEP_DIGEST);
		if (!r)
			r = client_digest(pool, &fp->d);
		bad = fault_step_judge(fp, fb, STEP_DIGEST, r, out);
		fp->digest_ok = !bad && !r;
	}
	if (!bad && !out->pass[0])
		snprintf(out->pass, sizeof(out->pass), "%s %" PRIu64 " of %s "
			 "planned; the open answered %s first",
			 fp->alloc ? "allocation" : "read", fp->nth,
			 step_names[fp->step], pd_strerror(r));
	if (fp->alloc)
		workload_recovery_alloc_disarm();	/* a step never reached */
	if (pool)
		ops->destroy(pool);
	bdev_destroy(fb);
	return bad;
}

/* Everything after the image is built: the faulted pass when asked (see
 * above), reopen, structural check, compare, continue. */
static void check_image(const struct run_result *res, struct bdev *image,
			const struct state_id *id, const struct check_opts *opts,
			uint64_t fault_key, const int *torn, struct check_out *out)
{
	struct client_params params = {
		.data_block_size = res->geo.block_size,
		.cache_blocks = res->geo.cache_blocks,
	};
	const struct client_ops *ops = res && res->client ? res->client :
				       &client_core_ops;
	struct client *pool = NULL;
	struct fault_pass fp = { .digest_ok = 0 };
	struct expect e;
	struct digest d;
	uint64_t leaks = 0;
	char msg[300];
	int r;

	struct lost_watch lw = { .seen = 0 };
	int watched = lost_watch_init(res, id, image, &lw);

	out->pass[0] = 0;
	if (watched)
		image = &lw.bd;
	if (res->geo.is_cache) {	/* a dm-cache run */
		cache_check_image(res, image, id, opts, fault_key, torn,
				  watched ? &lw.seen : NULL, lw.block, out);
		return;
	}
	out->state = -2;
	out->msg[0] = 0;
	workload_expect(res, id->cut, &e);
	if (opts && (opts->recovery_fault || opts->recovery_alloc_fault)) {
		fault_pass_plan(id, fault_key, !opts->recovery_fault,
				ops == &client_core_ops, &fp);
		if (faulted_pass(ops, &params, image, &fp, out))
			return;
	}

	r = ops->open(image, &params, &pool);
	if (r == -ENODATA && e.lo < 0) {
		out->state = -1;
		set_out(out, OUT_ROLLBACK, "unformatted, as before the format committed");
		return;
	}
	if (r) {
		/* allowed only where a torn block was read (lazy: torn
		 * says; sampled: some write was torn) */
		if ((torn ? *torn : id->tear) && (r == -EILSEQ || r == -ENOTBLK))
			set_out(out, OUT_DETECTED, "open refused a torn image: %s",
				pd_strerror(r));
		else if (lw.seen && (r == -EILSEQ || r == -ENOTBLK))
			set_out(out, OUT_DETECTED, "open refused block %" PRIu64
				" (a sector lost on the media): %s",
				(uint64_t)lw.block, pd_strerror(r));
		else if (lw.seen && r == -ENODATA && lw.block == 0)
			/* the superblock's only non-zero sector was lost: an
			 * all-zero superblock is "unformatted" (a caller that
			 * formats it then, as dm-thin does, loses the pool) */
			set_out(out, OUT_DETECTED, "open refused the superblock (a "
				"sector lost on the media left it all zeroes): %s",
				pd_strerror(r));
		else
			set_out(out, OUT_VIOLATION, "open failed: %s", pd_strerror(r));
		return;
	}
	/* thin.h: thin_set_needs_check writes and flushes block 0, and every
	 * commit and abort after it keeps the flag, so a cut after the op
	 * returned must show it (the kernel only dirties the superblock, K4) */
	if (ops->needs_check_durable && res->needs_check_seq &&
	    id->cut >= res->needs_check_seq) {
		int nc = 0;

		r = ops->get_needs_check(pool, &nc);
		if (r || !nc) {
			set_out(out, OUT_VIOLATION, "needs_check %s after the "
				"needs-check op returned (log entry %" PRIu64
				"): the flag was not durable", r ?
				pd_strerror(r) : "clear", res->needs_check_seq);
			goto out;
		}
	}
	r = explore_structural_leaky(image, pool, res->data_leaks ? &leaks : NULL,
				     msg, sizeof(msg));
	if (r == 1 && lw.seen && strstr(msg, "bad checksum")) {
		set_out(out, OUT_DETECTED, "a sector lost on the media (block %"
			PRIu64 "): structural check: %s", (uint64_t)lw.block, msg);
		goto out;
	}
	if (r) {
		set_out(out, OUT_VIOLATION, "structural check: %s",
			r < 0 ? pd_strerror(r) : msg);
		goto out;
	}
	r = client_digest(pool, &d);
	if (r == -EILSEQ && lw.seen) {
		set_out(out, OUT_DETECTED, "reading the recovered pool met block %"
			PRIu64 " (a sector lost on the media): %s",
			(uint64_t)lw.block, pd_strerror(r));
		goto out;
	}
	if (r) {
		set_out(out, OUT_VIOLATION, "reading the recovered pool: %s%s%s",
			pd_strerror(r), pool->msg[0] ? ": " : "", pool->msg);
		goto out;
	}
	/* Two states may differ only in their leaked data blocks (a commit
	 * whose one change is a failed data write's block, datadev.h DD3):
	 * the one with the leaks found first, else the first by digest. */
	for (int64_t k = e.lo < 0 ? 0 : e.lo; k <= e.hi; k++) {
		if ((uint64_t)k < res->nr_states && digest_eq(d, res->digests[k])) {
			if (out->state < 0)
				out->state = k;
			if (res->data_leaks && res->data_leaks[k] == leaks) {
				out->state = k;
				break;
			}
		}
	}
	if (out->state < 0) {
		set_out(out, OUT_VIOLATION, "recovered state is none of the "
			"committed states %" PRId64 "..%" PRId64,
			e.lo < 0 ? 0 : e.lo, e.hi);
		goto out;
	}
	if (fp.digest_ok && !digest_eq(fp.d, d)) {
		set_out(out, OUT_VIOLATION, "the digest after a failed %s (%s %"
			PRIu64 " of it) succeeded with another pool than the "
			"clean reopen's", fp.alloc ? "allocation" : "read",
			fp.alloc ? "allocation" : "read", fp.nth);
		goto out;
	}
	if (res->data_leaks && leaks != res->data_leaks[out->state]) {
		/* datadev.h DD3: exactly the blocks failed data writes left */
		set_out(out, OUT_VIOLATION, "structural check: %" PRIu64 " data "
			"blocks leaked; failed data writes left %" PRIu64
			" in committed state %" PRId64 ": %s", leaks,
			res->data_leaks[out->state], out->state, msg);
		goto out;
	}
	if (res->dd) {		/* the data device (datadev.h) */
		r = datadev_check(res->dd, id->cut,
				  workload_commit_begin(res, out->state), pool,
				  out->msg, sizeof(out->msg));
		if (r) {
			if (r < 0)
				set_out(out, OUT_VIOLATION, "data check: %s",
					pd_strerror(r));
			out->outcome = OUT_VIOLATION;
			goto out;
		}
	}
	if (out->state > e.committed)
		set_out(out, OUT_ROLLFORWARD, "state %" PRId64, out->state);
	else
		set_out(out, OUT_ROLLBACK, "state %" PRId64, out->state);
	if (!opts || !opts->no_continue)
		explore_continue_leaky(pool, image, d, res->data_leaks ?
				       &res->data_leaks[out->state] : NULL, out);
out:
	ops->destroy(pool);
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
	check_image(res, rec, &base, opts, key->durable, NULL, &m->base);
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
	/* the data check: the cut's window of data positions and the
	 * promises alive in it (datadev.h DD5) */
	k->data = res->dd ? datadev_cut_key(res->dd, cut) : 0;
}

static int memo_key_eq(const struct memo_key *a, const struct memo_key *b)
{
	return a->durable == b->durable && a->lo == b->lo && a->hi == b->hi &&
	       a->committed == b->committed && a->data == b->data;
}

void check_memo_free(struct check_memo *m)
{
	free(m->read_bits);
	free(m->order);
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

	if (id->lazy || !memo->valid || id->nr_choices != nr_choices(n, id->tear) ||
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

static void check_leaf(const struct run_result *res, struct sd_cutter *cutter,
		       const struct state_id *id, const struct check_opts *opts,
		       struct check_out *out);

void check_state(const struct run_result *res, struct sd_cutter *cutter,
		 const struct state_id *id, const struct check_opts *opts,
		 struct check_memo *memo, struct check_out *out)
{
	if (id->lazy) {
		check_leaf(res, cutter, id, opts, out);
		return;
	}

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
	check_image(res, image, id, opts, key.durable, NULL, out);
out:
	bdev_destroy(image);
	free(landed);
	free(sectors);
}

/* --- lazy, exhaustive exploration (explore.h) ------------------------------- */

static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static int leaf_syntax(const char *s, size_t len)
{
	const char *end = s + len;

	if (len == 1 && *s == '-')
		return 0;
	while (s < end) {
		const char *q;

		if (*s++ != 'b')
			return -EINVAL;
		for (q = s; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q == s || q == end || (*q != 'v' && *q != 's'))
			return -EINVAL;
		s = q + 1;
		for (q = s; q < end && *q != '.'; q++)
			if (!strchr(b36, *q) || (s[-1] == 'v' && (*q < '0' || *q > '9')))
				return -EINVAL;
		if (q == s)
			return -EINVAL;
		s = q;
		if (s < end && ++s == end)
			return -EINVAL;		/* a trailing '.' */
	}
	return 0;
}

struct decision {
	size_t i;			/* index in the choice table */
	uint64_t k;			/* choice */
};

/* One run of recovery over a lazy image (the on_read callback's state). */
struct lazy_run {
	const struct sd_choices *t;
	struct decision *d;
	size_t nd, cap;
	size_t prefix, cur;		/* DFS: decisions given, reads seen */
	int fixed;			/* replay: d by block, others durable */
	size_t extra;			/* replay: pending blocks read not in d */
	int mismatch;			/* recovery read another block than
					 * the prefix said: not deterministic */
	pd_block_t want, got;
	int torn;			/* a torn content was read */
	pd_block_t **order;		/* record every first read, or NULL */
	size_t *nord, *cap_ord;
};

static int push_decision(struct lazy_run *lr, size_t i, uint64_t k)
{
	if (lr->nd == lr->cap) {
		size_t n = lr->cap ? lr->cap * 2 : 16;
		struct decision *d = realloc(lr->d, n * sizeof(*d));

		if (!d)
			return -ENOMEM;
		lr->d = d;
		lr->cap = n;
	}
	lr->d[lr->nd].i = i;
	lr->d[lr->nd].k = k;
	lr->nd++;
	return 0;
}

static int is_torn(const struct sd_choices *t, size_t i, uint64_t k)
{
	unsigned ver[64];

	return sd_choices_describe(t, i, k, ver) < 0;
}

static int lazy_on_read(void *ctx, pd_block_t b, long i, uint64_t *k)
{
	struct lazy_run *lr = ctx;

	if (lr->order) {
		if (*lr->nord == *lr->cap_ord) {
			size_t n = *lr->cap_ord ? *lr->cap_ord * 2 : 64;
			pd_block_t *o = realloc(*lr->order, n * sizeof(*o));

			if (!o)
				return -ENOMEM;
			*lr->order = o;
			*lr->cap_ord = n;
		}
		(*lr->order)[(*lr->nord)++] = b;
	}
	if (i < 0)
		return 0;
	*k = 0;
	if (lr->fixed) {
		size_t j;

		for (j = 0; j < lr->nd; j++)
			if (lr->d[j].i == (size_t)i)
				break;
		if (j < lr->nd)
			*k = lr->d[j].k;
		else
			lr->extra++;
	} else if (lr->cur < lr->prefix) {
		if (lr->d[lr->cur].i != (size_t)i && !lr->mismatch) {
			lr->mismatch = 1;
			lr->want = sd_choices_block(lr->t, lr->d[lr->cur].i);
			lr->got = b;
		}
		if (!lr->mismatch)
			*k = lr->d[lr->cur].k;
		lr->cur++;
	} else {
		int r = push_decision(lr, (size_t)i, 0);

		if (r)
			return r;
		lr->cur++;
	}
	if (*k && is_torn(lr->t, (size_t)i, *k))
		lr->torn = 1;
	return 0;
}

/* The text of decisions d[0..n). */
static void leaf_text(const struct sd_choices *t, const struct decision *d,
		      size_t n, char *buf, size_t len)
{
	size_t used = 0;

	snprintf(buf, len, "-");
	for (size_t j = 0; j < n && used + 1 < len; j++) {
		unsigned ver[64], ns = sd_choices_nr_sectors(t);
		int w = sd_choices_describe(t, d[j].i, d[j].k, ver);
		int k = snprintf(buf + used, len - used, "%sb%" PRIu64,
				 j ? "." : "", sd_choices_block(t, d[j].i));

		if (k < 0 || (size_t)k >= len - used)
			break;
		used += (size_t)k;
		if (w >= 0) {
			k = snprintf(buf + used, len - used, "v%d", w);
		} else {
			char s[66];

			for (unsigned x = 0; x < ns; x++)
				s[x] = ver[x] < 36 ? b36[ver[x]] : '?';
			s[ns] = 0;
			k = snprintf(buf + used, len - used, "s%s", s);
		}
		if (k < 0 || (size_t)k >= len - used)
			break;
		used += (size_t)k;
	}
}

/* Decisions from a leaf text; -EINVAL (msg says why) if it does not fit
 * the table. */
static int leaf_parse(const struct sd_choices *t, const char *text,
		      struct lazy_run *lr, char *msg, size_t len)
{
	const char *p = text;
	unsigned ns = sd_choices_nr_sectors(t);

	lr->nd = 0;
	if (!strcmp(text, "-") || !*text)
		return 0;
	while (*p) {
		char *q;
		uint64_t blk = strtoull(p + 1, &q, 10), k;
		unsigned ver[64];
		long i = sd_choices_find(t, blk);
		int mixed = *q == 's';

		if (i < 0) {
			snprintf(msg, len, "block %" PRIu64 " has no pending write "
				 "at this cut", blk);
			return -EINVAL;
		}
		if (*q == 'v') {
			unsigned long v = strtoul(q + 1, &q, 10);

			for (unsigned x = 0; x < ns; x++)
				ver[x] = (unsigned)v;
		} else {
			q++;
			for (unsigned x = 0; x < ns; x++, q++) {
				const char *c = *q ? strchr(b36, *q) : NULL;

				if (!c) {
					snprintf(msg, len, "block %" PRIu64 ": want "
						 "%u sector digits", blk, ns);
					return -EINVAL;
				}
				ver[x] = (unsigned)(c - b36);
			}
		}
		if (sd_choices_encode(t, (size_t)i, ver, &k)) {
			snprintf(msg, len, "block %" PRIu64 " has %u versions (0 "
				 "durable, 1..%u pending)%s", blk,
				 sd_choices_nr_versions(t, (size_t)i),
				 sd_choices_nr_versions(t, (size_t)i) - 1,
				 mixed ? "; a mix of versions needs :t" : "");
			return -EINVAL;
		}
		for (size_t j = 0; j < lr->nd; j++)
			if (lr->d[j].i == (size_t)i) {
				snprintf(msg, len, "block %" PRIu64 " twice", blk);
				return -EINVAL;
			}
		if (push_decision(lr, (size_t)i, k))
			return -ENOMEM;
		if (*q == '.')
			q++;
		else if (*q) {
			snprintf(msg, len, "junk after block %" PRIu64, blk);
			return -EINVAL;
		}
		p = q;
	}
	return 0;
}

void cut_cover_free(struct cut_cover *cc)
{
	bn_free(&cc->total);
	bn_free(&cc->covered);
	memset(cc, 0, sizeof(*cc));
}

static int table_total(const struct sd_choices *t, struct bignum *total)
{
	int r = bn_set_u64(total, 1);

	for (size_t i = 0; i < sd_choices_nr(t) && !r; i++)
		r = bn_mul_u64(total, sd_choices_count(t, i));
	return r;
}

int cut_states_total(struct sd_cutter *cutter, int tear, struct bignum *total)
{
	struct sd_choices *t;
	int r = sd_cutter_choices(cutter, tear, &t);

	if (r)
		return r;
	r = table_total(t, total);
	sd_choices_free(t);
	return r;
}

/* Run recovery once over a lazy image driven by lr. */
static void run_leaf(const struct run_result *res, struct sd_cutter *cutter,
		     const struct state_id *id, const struct check_opts *opts,
		     uint64_t fault_key, struct lazy_run *lr,
		     struct check_out *out)
{
	struct bdev *image;
	int r;

	lr->cur = 0;
	lr->mismatch = 0;
	lr->torn = 0;
	lr->extra = 0;
	out->state = -2;
	r = sd_cutter_lazy_image(cutter, lr->t, lazy_on_read, lr, &image);
	if (r) {
		set_out(out, OUT_VIOLATION, "harness: cannot build the image: %s",
			pd_strerror(r));
		return;
	}
	if (opts && opts->recover)
		opts->recover(opts->recover_ctx, image, out);
	else
		check_image(res, image, id, opts, fault_key, &lr->torn, out);
	bdev_destroy(image);
	if (lr->mismatch)
		set_out(out, OUT_VIOLATION, "harness: recovery is not "
			"deterministic: it read block %" PRIu64 " where the "
			"decisions say block %" PRIu64, lr->got, lr->want);
}

/* The states a leaf stands for: prod of the counts of unread blocks. */
static int leaf_weight(const struct sd_choices *t, const struct lazy_run *lr,
		       uint8_t *mark, struct bignum *w)
{
	size_t n = sd_choices_nr(t);
	int r;

	memset(mark, 0, n + 1);
	for (size_t j = 0; j < lr->nd; j++)
		mark[lr->d[j].i] = 1;
	r = bn_set_u64(w, 1);
	for (size_t i = 0; i < n && !r; i++)
		if (!mark[i])
			r = bn_mul_u64(w, sd_choices_count(t, i));
	return r;
}

/* Next leaf, depth first: the last decision with a choice left goes one
 * up, everything after it is forgotten.  0 when done. */
static int dfs_next(const struct sd_choices *t, struct lazy_run *lr)
{
	while (lr->nd) {
		struct decision *d = &lr->d[lr->nd - 1];

		if (d->k + 1 < sd_choices_count(t, d->i)) {
			d->k++;
			lr->prefix = lr->nd;
			return 1;
		}
		lr->nd--;
	}
	return 0;
}

int explore_cut(const struct run_result *res, struct sd_cutter *cutter,
		const struct state_id *tmpl, const struct check_opts *opts,
		struct check_memo *memo, uint64_t max_branches,
		const char *resume_after, const struct lazy_cb *cb,
		struct cut_cover *cc)
{
	struct check_memo scratch = { 0 };
	struct lazy_run lr = { 0 };
	struct sd_choices *t;
	struct memo_key key;
	struct state_id id = *tmpl;
	struct bignum w = BN_INIT;
	struct check_out out;
	uint8_t *mark = NULL;
	char text[LEAF_TEXT_MAX], msg[200];
	int r, first = 1;

	memset(cc, 0, sizeof(*cc));
	cc->complete = 1;
	r = sd_cutter_choices(cutter, tmpl->tear, &t);
	if (r)
		return r;
	lr.t = t;
	mark = malloc(sd_choices_nr(t) + 1);
	r = mark ? table_total(t, &cc->total) : -ENOMEM;
	if (!r)
		r = bn_set_u64(&cc->covered, 0);
	if (r)
		goto out;
	id.lazy = 1;
	memset(&key, 0, sizeof(key));
	if (res)
		memo_key_of(res, tmpl->cut, memo ? memo : &scratch, &key);
	if (resume_after) {
		first = 0;
		r = leaf_parse(t, resume_after, &lr, msg, sizeof(msg));
		if (r)
			goto out;
		cc->complete = 0;	/* the leaves before it are not counted */
		if (!dfs_next(t, &lr))
			goto out;
	}
	for (;;) {
		int ran = 1;

		if (first && memo && memo->lazy_valid &&
		    memo_key_eq(&key, &memo->key)) {
			/* the base leaf: the memo's run read these, in order */
			for (size_t j = 0; j < memo->nord && !r; j++) {
				long i = sd_choices_find(t, memo->order[j]);

				if (i >= 0)
					r = push_decision(&lr, (size_t)i, 0);
			}
			if (r)
				goto out;
			out = memo->base;
			memo->hits++;
			ran = 0;
		} else {
			if (first && memo) {
				lr.order = &memo->order;
				lr.nord = &memo->nord;
				lr.cap_ord = &memo->cap_ord;
				memo->nord = 0;
				memo->lazy_valid = 0;
			}
			leaf_text(t, lr.d, lr.prefix, text, sizeof(text));
			if (cb && cb->begin)
				cb->begin(cb->ctx, text);
			id.leaf[0] = 0;
			run_leaf(res, cutter, &id, opts, key.durable, &lr, &out);
			cc->recoveries++;
			if (lr.order) {
				lr.order = NULL;
				memo->key = key;
				memo->base = out;
				memo->lazy_valid = 1;
				memo->misses++;
			}
		}
		first = 0;
		cc->leaves++;
		leaf_text(t, lr.d, lr.nd, text, sizeof(text));
		if (cb && cb->leaf)
			cb->leaf(cb->ctx, text, &out, ran);
		r = leaf_weight(t, &lr, mark, &w);
		if (!r)
			r = bn_add(&cc->covered, &w);
		if (r)
			goto out;
		if (!dfs_next(t, &lr))
			break;
		if (max_branches && cc->leaves >= max_branches) {
			cc->complete = 0;
			break;
		}
	}
	/* the leaves partition the cut's states: a full walk covers all */
	if (cc->complete && bn_cmp(&cc->covered, &cc->total)) {
		fprintf(stderr, "pdcrash: harness bug: cut %" PRIu64 ": leaves "
			"cover %.1f of 2^%.1f states\n", tmpl->cut,
			bn_log2(&cc->covered), bn_log2(&cc->total));
		r = -EPROTO;
	}
out:
	bn_free(&w);
	free(mark);
	free(lr.d);
	sd_choices_free(t);
	return r;
}

/* pdcrash replay / minimize of a leaf id: the decisions it names, every
 * other pending block durable. */
static void check_leaf(const struct run_result *res, struct sd_cutter *cutter,
		       const struct state_id *id, const struct check_opts *opts,
		       struct check_out *out)
{
	struct check_memo scratch = { 0 };
	struct lazy_run lr = { 0 };
	struct sd_choices *t;
	struct memo_key key;
	char msg[200];
	int r;

	out->state = -2;
	out->msg[0] = 0;
	r = sd_cutter_choices(cutter, id->tear, &t);
	if (r) {
		set_out(out, OUT_VIOLATION, "harness: %s", pd_strerror(r));
		return;
	}
	lr.t = t;
	lr.fixed = 1;
	r = leaf_parse(t, id->leaf, &lr, msg, sizeof(msg));
	if (r) {
		set_out(out, OUT_VIOLATION, "harness: the id does not fit this "
			"cut: %s", r == -EINVAL ? msg : pd_strerror(r));
		goto out;
	}
	if (opts && opts->save_image) {
		struct bdev *image;

		r = sd_cutter_lazy_image(cutter, t, lazy_on_read, &lr, &image);
		if (!r) {
			r = bdev_export(image, opts->save_image);
			bdev_destroy(image);
		}
		if (r)
			fprintf(stderr, "pdcrash: cannot save %s: %s\n",
				opts->save_image, pd_strerror(r));
	}
	memo_key_of(res, id->cut, &scratch, &key);
	run_leaf(res, cutter, id, opts, key.durable, &lr, out);
	if (lr.extra) {
		size_t l = strlen(out->msg);

		snprintf(out->msg + l, sizeof(out->msg) - l, " (recovery read %zu "
			 "pending block%s the id does not decide: durable)",
			 lr.extra, lr.extra == 1 ? "" : "s");
	}
out:
	free(lr.d);
	sd_choices_free(t);
}

struct leaf_image {
	struct sd_choices *t;
	struct lazy_run lr;
};

int leaf_image_create(struct sd_cutter *cutter, const struct state_id *id,
		      struct bdev **image, struct leaf_image **result)
{
	struct leaf_image *li = calloc(1, sizeof(*li));
	char msg[200];
	int r;

	if (!li)
		return -ENOMEM;
	r = sd_cutter_choices(cutter, id->tear, &li->t);
	if (r)
		goto out_free;
	li->lr.t = li->t;
	li->lr.fixed = 1;
	r = leaf_parse(li->t, id->leaf, &li->lr, msg, sizeof(msg));
	if (!r)
		r = sd_cutter_lazy_image(cutter, li->t, lazy_on_read, &li->lr,
					 image);
	if (!r) {
		*result = li;
		return 0;
	}
	free(li->lr.d);
	sd_choices_free(li->t);
out_free:
	free(li);
	return r;
}

void leaf_image_free(struct leaf_image *li, struct bdev *image)
{
	if (image)
		bdev_destroy(image);
	if (li) {
		free(li->lr.d);
		sd_choices_free(li->t);
		free(li);
	}
}

/* 0 if a leaf id's decisions fit the cutter's cut, else -EINVAL and msg. */
int leaf_id_fits(struct sd_cutter *cutter, const struct state_id *id,
		 char *msg, size_t len)
{
	struct lazy_run lr = { 0 };
	struct sd_choices *t;
	int r = sd_cutter_choices(cutter, id->tear, &t);

	if (r) {
		snprintf(msg, len, "%s", pd_strerror(r));
		return r;
	}
	lr.t = t;
	r = leaf_parse(t, id->leaf, &lr, msg, len);
	free(lr.d);
	sd_choices_free(t);
	return r;
}
