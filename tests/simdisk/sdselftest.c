/* tests/simdisk/sdselftest.c - build/sdselftest: the simulated disk checked
 * against its own crash model, at every cut point.
 *
 * A seeded random workload of writes, FUA writes, flushes and verifying
 * reads runs on a small simdisk.  Every block written carries, in each
 * 512-byte sector, the id of its write, its block and sector number, then a
 * pattern derived from them, so any sector of any image says exactly which
 * write it came from.  Alongside, this program keeps its own model of the
 * disk (simdisk.h D1-D4, written again here from the rules, not from
 * simdisk.c): per block the durable write, and the list of writes whose fate
 * is open, marked doubtful once a flush failed under them.
 *
 * Then, for every cut point of the log, it checks that the cutter's pending
 * set is the model's, enumerates persistence choices (every subset when at
 * most 10 writes are pending; otherwise none, all, each left out, each
 * alone and seeded random subsets; with --tear also torn variants), builds
 * each crash image and checks every sector of every block the workload
 * wrote (and of a few it did not, which must read as zeroes; on a disk of
 * more than 64 such blocks, those without a pending write only in every
 * 16th state of a cut, as they read the same in all): it must hold the
 * durable write or one of the block's pending writes (the crash model), and
 * exactly the one the choice implies (the builder).
 *
 * Errors the workload meets (injected by the default fault plan, or from
 * outside through libfiu: fiu-run -c 'enable name=simdisk/flush,onetime')
 * are reported on stderr and the run goes on; the model follows D4.
 *
 * Exit: 0 no violation, 1 a violation, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bdev.h"
#include "errors.h"
#include "prng.h"
#include "simdisk.h"
#include "util.h"

#define BS		4096u
#define NSECT		(BS / PD_SECTOR_SIZE)
#define FULL_MASK	((NSECT == 64) ? ~0ull : (1ull << NSECT) - 1)
#define MAX_SUBSETS_P	10	/* every subset up to this many pending */
#define RANDOM_CHOICES	32	/* seeded random subsets beyond it */
#define MAX_REPORTED	10	/* violations printed in full */

static const char *prog = "sdselftest";

struct options {
	uint64_t seed;
	uint64_t writes;
	pd_block_t blocks;
	int tear;
	int faults;		/* the built-in fault plan */
};

/* What the workload did, one entry per log entry (reads are not logged). */
struct wop {
	enum sd_op_kind kind;
	pd_block_t block;
	uint32_t id;		/* writes: the write's id, from 1 */
	int failed;
};

struct mpend {
	uint64_t seq;
	uint32_t id;
	pd_block_t block;
	int doubtful;		/* pending at a failed flush (D4) */
};

/* The model of the disk at a cut point. */
struct model {
	pd_block_t nr;
	uint32_t *durable;	/* per block, write id (0: never) */
	struct mpend *pend;	/* log order */
	size_t nr_pend, cap_pend;
};

struct run {
	struct options opt;
	struct simdisk *sd;
	struct wop *ops;
	uint64_t nr_ops, cap_ops;
	uint32_t *current;	/* D1: newest successful write per block */
	uint64_t nr_writes, nr_fua, nr_flushes, failed_flushes,
		 failed_writes, failed_reads, reads;
	/* checking */
	struct model m;
	struct prng choice_rng;
	uint64_t states, violations, max_pending;
	uint32_t (*expect)[NSECT];	/* per block and sector, scratch */
	pd_block_t *checked;	/* blocks read in every image: all the
				 * workload wrote, and a few it did not */
	size_t nr_checked;
	pd_block_t *pend_blocks;	/* blocks with a pending write, per cut */
	size_t nr_pend_blocks;
	uint8_t *is_pend_block;	/* per block, scratch */
	uint8_t *buf;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [--seed N] [--writes N] [--blocks N] [--tear] [--no-faults]\n"
"\n"
"Runs a seeded random workload of writes, FUA writes and flushes on a\n"
"simulated disk, then at every cut point of its op log builds crash states\n"
"(all subsets of the pending writes when there are at most %d, otherwise\n"
"none, all, each left out, each alone and %d seeded random subsets) and\n"
"checks every sector against the crash model.\n"
"\n"
"  --seed N      workload and choice seed (default 1); printed at the start\n"
"  --writes N    writes to issue (default 2000)\n"
"  --blocks N    disk size in 4096-byte blocks (default 16)\n"
"  --tear        also build torn states (512-byte sectors of a write land\n"
"                or not)\n"
"  --no-faults   no built-in fault plan (by default one flush and one write\n"
"                of the workload fail, to exercise DESIGN D4)\n"
"  --help        this text\n"
"\n"
"Errors met by the workload, built-in or injected from outside with libfiu\n"
"(e.g. fiu-run -x -c 'enable name=simdisk/flush,onetime' %s), are\n"
"reported on stderr (\"flush failed at op N: ...\") and the run goes on.\n"
"Exit status: 0 no violation, 1 a violation, 2 bad usage.\n",
		prog, MAX_SUBSETS_P, RANDOM_CHOICES, prog);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

/* 0, 1 (--help shown), or 2 (bad usage, reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	o->seed = 1;
	o->writes = 2000;
	o->blocks = 16;
	o->tear = 0;
	o->faults = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t *num = NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(a, "--tear")) {
			o->tear = 1;
		} else if (!strcmp(a, "--no-faults")) {
			o->faults = 0;
		} else if (!strcmp(a, "--seed")) {
			num = &o->seed;
		} else if (!strcmp(a, "--writes")) {
			num = &o->writes;
		} else if (!strcmp(a, "--blocks")) {
			num = &o->blocks;
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", prog, a);
			usage(stderr);
			return 2;
		}
		if (!num)
			continue;
		if (i + 1 >= argc || parse_u64(argv[i + 1], num)) {
			fprintf(stderr, "%s: %s needs a non-negative number\n",
				prog, a);
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (o->writes < 1 || o->writes > 1000000 || o->blocks < 1 ||
	    o->blocks > 65536) {
		fprintf(stderr, "%s: --writes must be 1..1000000 and --blocks "
			"1..65536\n", prog);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* ---- block contents ----------------------------------------------------- */

static void make_sector(uint8_t *p, uint32_t id, pd_block_t b, unsigned s)
{
	if (!id) {
		memset(p, 0, PD_SECTOR_SIZE);
		return;
	}
	le32_put(p, id);
	le64_put(p + 4, b);
	le32_put(p + 12, s);
	for (unsigned i = 16; i < PD_SECTOR_SIZE; i++)
		p[i] = (uint8_t)(id * 29u + s * 7u + i + (i >> 8));
}

static void make_block(uint8_t *buf, uint32_t id, pd_block_t b)
{
	for (unsigned s = 0; s < NSECT; s++)
		make_sector(buf + s * PD_SECTOR_SIZE, id, b, s);
}

/* The write id a sector holds, or -1 if it is no sector we ever wrote. */
static int64_t sector_id(const uint8_t *p, pd_block_t b, unsigned s)
{
	uint8_t want[PD_SECTOR_SIZE];
	uint32_t id = le32_get(p);

	make_sector(want, id, b, s);
	return memcmp(p, want, PD_SECTOR_SIZE) ? -1 : (int64_t)id;
}

/* ---- workload ----------------------------------------------------------- */

static int record(struct run *rn, enum sd_op_kind kind, pd_block_t b,
		  uint32_t id, int failed)
{
	if (rn->nr_ops == rn->cap_ops) {
		uint64_t n = rn->cap_ops ? rn->cap_ops * 2 : 1024;
		struct wop *o = realloc(rn->ops, n * sizeof(*o));

		if (!o)
			return -ENOMEM;
		rn->ops = o;
		rn->cap_ops = n;
	}
	rn->ops[rn->nr_ops++] = (struct wop){ kind, b, id, failed };
	return 0;
}

/*
 * One op through the bdev interface.  logged says whether the simdisk put it
 * in its log (an error from the bdev/ wrapper points never reaches it); the
 * program's own record must stay one entry per log entry.
 */
static int do_op(struct run *rn, enum sd_op_kind kind, pd_block_t b,
		 uint32_t id)
{
	struct bdev *bd = simdisk_bdev(rn->sd);
	uint64_t before = simdisk_nr_ops(rn->sd), seq = before;
	const char *what;
	int r, logged;

	switch (kind) {
	case SD_FLUSH:
		what = "flush";
		r = bdev_flush(bd);
		break;
	case SD_READ:
		what = "read";
		r = bdev_read(bd, b, rn->buf);
		break;
	default:
		what = kind == SD_WRITE_FUA ? "FUA write" : "write";
		make_block(rn->buf, id, b);
		r = bdev_write(bd, b, rn->buf,
			       kind == SD_WRITE_FUA ? BDEV_FUA : 0);
		break;
	}
	logged = simdisk_nr_ops(rn->sd) > before;
	if (r)
		fprintf(stderr, "%s: %s failed at op %" PRIu64 ": %s%s\n", prog,
			what, seq, pd_strerror(r),
			logged ? "" : " (before the disk: not logged)");
	if (r == -ENOMEM)
		return r;
	if (kind == SD_READ) {
		if (r) {
			rn->failed_reads++;
			return 0;
		}
		rn->reads++;
		for (unsigned s = 0; s < NSECT; s++) {
			int64_t got = sector_id(rn->buf + s * PD_SECTOR_SIZE,
						b, s);

			if (got != rn->current[b]) {	/* D1 */
				rn->violations++;
				fprintf(stderr, "%s: VIOLATION: read of block "
					"%" PRIu64 " sector %u after op %" PRIu64
					" gave write %" PRId64 ", newest is %u\n",
					prog, b, s, seq, got, rn->current[b]);
				break;
			}
		}
		return 0;
	}
	if (kind == SD_FLUSH) {
		rn->nr_flushes++;
		rn->failed_flushes += !!r;
	} else {
		rn->nr_writes++;
		rn->nr_fua += kind == SD_WRITE_FUA;
		rn->failed_writes += !!r;
		if (!r)
			rn->current[b] = id;
	}
	if (!logged)
		return 0;
	return record(rn, kind, b, id, !!r);
}

static int run_workload(struct run *rn)
{
	const struct options *o = &rn->opt;
	struct prng p;
	uint32_t id = 0;
	int r;

	prng_seed(&p, prng_derive(o->seed, 1));
	if (o->faults) {
		/* one flush and one write of the workload fail (D4) */
		r = simdisk_fail_nth(rn->sd, SD_FLUSH,
				     1 + prng_below(&p, o->writes / 6 + 1), 0);
		if (!r)
			r = simdisk_fail_nth(rn->sd, SD_WRITE,
					     1 + prng_below(&p, o->writes), 0);
		if (r)
			return r;
	}
	while (rn->nr_writes < o->writes) {
		uint64_t x = prng_below(&p, 100);
		pd_block_t b = prng_below(&p, o->blocks);

		if (x < 8)
			r = do_op(rn, SD_READ, b, 0);
		else if (x < 14)
			r = do_op(rn, SD_WRITE_FUA, b, ++id);
		else if (x < 78)
			r = do_op(rn, SD_WRITE, b, ++id);
		else
			r = do_op(rn, SD_FLUSH, 0, 0);
		if (r)
			return r;
	}
	/* D1 over the whole disk at the end */
	for (pd_block_t b = 0; b < o->blocks; b++) {
		r = do_op(rn, SD_READ, b, 0);
		if (r)
			return r;
	}
	return 0;
}

/* ---- the model, applied op by op ---------------------------------------- */

static int model_apply(struct model *m, const struct wop *op, uint64_t seq)
{
	size_t j;

	if (op->failed && op->kind != SD_FLUSH)
		return 0;		/* a failed write stores nothing */
	switch (op->kind) {
	case SD_WRITE:
		if (m->nr_pend == m->cap_pend) {
			size_t n = m->cap_pend ? m->cap_pend * 2 : 64;
			struct mpend *np = realloc(m->pend, n * sizeof(*np));

			if (!np)
				return -ENOMEM;
			m->pend = np;
			m->cap_pend = n;
		}
		m->pend[m->nr_pend++] = (struct mpend){ seq, op->id,
							op->block, 0 };
		return 0;
	case SD_WRITE_FUA:
		/* durable at once; older open writes of the block are moot */
		m->durable[op->block] = op->id;
		for (size_t i = j = 0; i < m->nr_pend; i++)
			if (m->pend[i].block != op->block)
				m->pend[j++] = m->pend[i];
		m->nr_pend = j;
		return 0;
	case SD_FLUSH:
		if (op->failed) {
			for (size_t i = 0; i < m->nr_pend; i++)
				m->pend[i].doubtful = 1;
			return 0;
		}
		/* every write acknowledged since the last good flush becomes
		 * durable; a doubtful write stays open unless a newer write of
		 * its block just became durable */
		for (size_t i = 0; i < m->nr_pend; i++)
			if (!m->pend[i].doubtful)
				m->durable[m->pend[i].block] = m->pend[i].id;
		for (size_t i = j = 0; i < m->nr_pend; i++) {
			int superseded = 0;

			if (!m->pend[i].doubtful)
				continue;
			for (size_t k = i + 1; k < m->nr_pend; k++)
				if (!m->pend[k].doubtful &&
				    m->pend[k].block == m->pend[i].block)
					superseded = 1;
			if (!superseded)
				m->pend[j++] = m->pend[i];
		}
		m->nr_pend = j;
		return 0;
	default:
		return 0;
	}
}

/* ---- checking ----------------------------------------------------------- */

static void report(struct run *rn, uint64_t cut, uint64_t choice,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void report(struct run *rn, uint64_t cut, uint64_t choice,
		   const char *fmt, ...)
{
	va_list ap;

	if (rn->violations++ >= MAX_REPORTED)
		return;
	fprintf(stderr, "%s: VIOLATION at cut %" PRIu64 " choice %" PRIu64
		": ", prog, cut, choice);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int in_model(const struct model *m, pd_block_t b, int64_t id)
{
	if (id == m->durable[b])
		return 1;
	for (size_t i = 0; i < m->nr_pend; i++)
		if (m->pend[i].block == b && m->pend[i].id == id)
			return 1;
	return 0;
}

static int check_state(struct run *rn, struct sd_cutter *c, uint64_t cut,
		       uint64_t choice, const uint8_t *landed,
		       const uint64_t *sectors)
{
	const struct model *m = &rn->m;
	struct sd_choice ch = { m->nr_pend, landed, sectors };
	const pd_block_t *list;
	size_t nr_list;
	struct bdev *im;
	int r;

	r = sd_cutter_image(c, &ch, &im);
	if (r) {
		fprintf(stderr, "%s: building the image at cut %" PRIu64
			" failed: %s\n", prog, cut, pd_strerror(r));
		return r;
	}
	rn->states++;
	if (bdev_nr_blocks(im) != m->nr)
		report(rn, cut, choice, "image has %" PRIu64 " blocks, not %"
		       PRIu64, bdev_nr_blocks(im), m->nr);
	/* Blocks without a pending write read the same in every state of a
	 * cut: on a large disk they are checked in every 16th state only. */
	if (rn->nr_checked <= 64 || choice % 16 == 0) {
		list = rn->checked;
		nr_list = rn->nr_checked;
	} else {
		list = rn->pend_blocks;
		nr_list = rn->nr_pend_blocks;
	}
	/* what the choice implies: landed writes in log order over durable */
	for (size_t k = 0; k < nr_list; k++)
		for (unsigned s = 0; s < NSECT; s++)
			rn->expect[list[k]][s] = m->durable[list[k]];
	for (size_t i = 0; i < m->nr_pend; i++) {
		uint64_t mask = sectors ? sectors[i] & FULL_MASK : FULL_MASK;

		if (!landed[i])
			continue;
		for (unsigned s = 0; s < NSECT; s++)
			if (mask >> s & 1)
				rn->expect[m->pend[i].block][s] = m->pend[i].id;
	}
	for (size_t k = 0; k < nr_list; k++) {
		pd_block_t b = list[k];
		int64_t first = -2;

		r = bdev_read(im, b, rn->buf);
		if (r) {
			report(rn, cut, choice, "reading block %" PRIu64
			       " of the image: %s", b, pd_strerror(r));
			continue;
		}
		for (unsigned s = 0; s < NSECT; s++) {
			int64_t got = sector_id(rn->buf + s * PD_SECTOR_SIZE,
						b, s);

			if (!in_model(m, b, got))
				report(rn, cut, choice, "block %" PRIu64
				       " sector %u holds write %" PRId64
				       ", neither durable (%u) nor pending",
				       b, s, got, m->durable[b]);
			else if (got != rn->expect[b][s])
				report(rn, cut, choice, "block %" PRIu64
				       " sector %u holds write %" PRId64
				       ", the choice implies %u", b, s, got,
				       rn->expect[b][s]);
			if (first == -2)
				first = got;
			else if (!sectors && got != first)
				report(rn, cut, choice, "block %" PRIu64
				       " is torn but tearing is off", b);
		}
	}
	bdev_destroy(im);
	return 0;
}

/* The pending set of the cutter must be the model's, in the same order;
 * 0 if it is. */
static int check_pending(struct run *rn, const struct sd_cutter *c,
			  uint64_t cut)
{
	const struct sd_pending *p = sd_cutter_pending(c);
	size_t n = sd_cutter_nr_pending(c);

	if (n != rn->m.nr_pend) {
		report(rn, cut, 0, "cutter has %zu pending writes, the model "
		       "%zu", n, rn->m.nr_pend);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i].seq != rn->m.pend[i].seq ||
		    p[i].block != rn->m.pend[i].block) {
			report(rn, cut, 0, "pending write %zu is op %" PRIu64
			       " (block %" PRIu64 "), the model says op %"
			       PRIu64, i, p[i].seq, p[i].block,
			       rn->m.pend[i].seq);
			return 1;
		}
	return 0;
}

static int check_cut(struct run *rn, struct sd_cutter *c, uint64_t cut)
{
	size_t n = rn->m.nr_pend;
	uint8_t *landed = calloc(n + 1, 1);
	uint64_t *sectors = calloc(n + 1, sizeof(*sectors));
	uint64_t k = 0;
	int r = -ENOMEM;

	if (!landed || !sectors)
		goto out_free;
	if (n > rn->max_pending)
		rn->max_pending = n;
	r = 0;
	if (check_pending(rn, c, cut))
		goto out_free;	/* reported; its states cannot be built */
	rn->nr_pend_blocks = 0;
	for (size_t i = 0; i < n; i++) {
		pd_block_t b = rn->m.pend[i].block;

		if (!rn->is_pend_block[b]) {
			rn->is_pend_block[b] = 1;
			rn->pend_blocks[rn->nr_pend_blocks++] = b;
		}
	}
	for (size_t i = 0; i < rn->nr_pend_blocks; i++)
		rn->is_pend_block[rn->pend_blocks[i]] = 0;
	if (n <= MAX_SUBSETS_P) {
		for (uint64_t bits = 0; bits < (1ull << n); bits++) {
			for (size_t i = 0; i < n; i++)
				landed[i] = bits >> i & 1;
			r = check_state(rn, c, cut, k++, landed, NULL);
			if (r)
				goto out_free;
		}
	} else {
		/* none, all, each left out, each alone, random */
		for (uint64_t v = 0; v < 2 + 2 * n + RANDOM_CHOICES; v++) {
			for (size_t i = 0; i < n; i++) {
				if (v < 2)
					landed[i] = (uint8_t)v;
				else if (v < 2 + n)
					landed[i] = i != v - 2;
				else if (v < 2 + 2 * n)
					landed[i] = i == v - 2 - n;
				else
					landed[i] = prng_next(&rn->choice_rng) & 1;
			}
			r = check_state(rn, c, cut, k++, landed, NULL);
			if (r)
				goto out_free;
		}
	}
	if (rn->opt.tear && n) {
		/* each write alone, torn; then random subsets, torn */
		for (uint64_t v = 0; v < 2 * n + 8; v++) {
			for (size_t i = 0; i < n; i++) {
				landed[i] = v < 2 * n ? i == v / 2 :
					    prng_next(&rn->choice_rng) & 1;
				sectors[i] = prng_next(&rn->choice_rng);
			}
			r = check_state(rn, c, cut, k++, landed, sectors);
			if (r)
				goto out_free;
		}
	}
	r = 0;
out_free:
	free(sectors);
	free(landed);
	return r;
}

static int check_all_cuts(struct run *rn)
{
	struct sd_cutter *c;
	uint8_t *written;
	int r;

	if (simdisk_nr_ops(rn->sd) != rn->nr_ops) {
		report(rn, 0, 0, "the log has %" PRIu64 " entries, the "
		       "workload made %" PRIu64, simdisk_nr_ops(rn->sd),
		       rn->nr_ops);
		return 0;
	}
	for (uint64_t i = 0; i < rn->nr_ops; i++) {
		const struct sd_op *op = simdisk_op(rn->sd, i);

		if (op->kind != rn->ops[i].kind || !op->failed !=
		    !rn->ops[i].failed || (op->kind != SD_FLUSH &&
					   op->block != rn->ops[i].block))
			report(rn, i, 0, "log entry differs from the op made");
	}
	prng_seed(&rn->choice_rng, prng_derive(rn->opt.seed, 2));
	rn->checked = malloc(rn->opt.blocks * sizeof(*rn->checked));
	written = calloc(rn->opt.blocks, 1);
	if (!rn->checked || !written) {
		free(written);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < rn->nr_ops; i++)
		if (rn->ops[i].kind != SD_FLUSH)
			written[rn->ops[i].block] = 1;
	for (pd_block_t b = 0, unwritten = 0; b < rn->opt.blocks; b++)
		if (written[b] || unwritten++ < 8)
			rn->checked[rn->nr_checked++] = b;
	free(written);
	r = sd_cutter_create(rn->sd, &c);
	if (r)
		return r;
	for (uint64_t cut = 0; cut <= rn->nr_ops; cut++) {
		if (cut) {
			r = model_apply(&rn->m, &rn->ops[cut - 1], cut - 1);
			if (r)
				break;
		}
		r = sd_cutter_seek(c, cut);
		if (r) {
			fprintf(stderr, "%s: seek to cut %" PRIu64 ": %s\n",
				prog, cut, pd_strerror(r));
			break;
		}
		r = check_cut(rn, c, cut);
		if (r)
			break;
	}
	sd_cutter_destroy(c);
	return r;
}

int main(int argc, char **argv)
{
	struct run rn = { 0 };
	struct timespec t0, t1;
	double secs;
	int r;

	r = parse_args(argc, argv, &rn.opt);
	if (r)
		return r == 1 ? 0 : 2;
	(void)fiu_init(0);	/* a no-op if fiu-run already did it */
	printf("%s: seed %" PRIu64 ", %" PRIu64 " writes on %" PRIu64
	       " blocks of %u bytes, tearing %s, built-in faults %s\n", prog,
	       rn.opt.seed, rn.opt.writes, rn.opt.blocks, BS,
	       rn.opt.tear ? "on" : "off", rn.opt.faults ? "on" : "off");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rn.m.nr = rn.opt.blocks;
	rn.current = calloc(rn.opt.blocks, sizeof(*rn.current));
	rn.m.durable = calloc(rn.opt.blocks, sizeof(*rn.m.durable));
	rn.expect = calloc(rn.opt.blocks, sizeof(*rn.expect));
	rn.buf = malloc(BS);
	rn.pend_blocks = calloc(rn.opt.blocks, sizeof(*rn.pend_blocks));
	rn.is_pend_block = calloc(rn.opt.blocks, 1);
	if (!rn.current || !rn.m.durable || !rn.expect || !rn.buf ||
	    !rn.pend_blocks || !rn.is_pend_block) {
		r = -ENOMEM;
		goto out_free;
	}
	r = simdisk_create(BS, rn.opt.blocks, &rn.sd);
	if (r)
		goto out_free;
	simdisk_log_reads(rn.sd, 0);
	r = run_workload(&rn);
	if (!r)
		r = check_all_cuts(&rn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s: workload: %" PRIu64 " writes (%" PRIu64 " FUA, %" PRIu64
	       " failed), %" PRIu64 " flushes (%" PRIu64 " failed), %" PRIu64
	       " verifying reads (%" PRIu64 " failed)\n", prog, rn.nr_writes,
	       rn.nr_fua, rn.failed_writes, rn.nr_flushes, rn.failed_flushes,
	       rn.reads, rn.failed_reads);
	printf("%s: %" PRIu64 " cut points, %" PRIu64 " crash states checked, "
	       "at most %" PRIu64 " pending, %" PRIu64 " violation%s "
	       "(%.2f s)\n", prog, rn.nr_ops + 1, rn.states, rn.max_pending,
	       rn.violations, rn.violations == 1 ? "" : "s", secs);
	fflush(stdout);
	simdisk_destroy(rn.sd);
out_free:
	free(rn.checked);
	free(rn.pend_blocks);
	free(rn.is_pend_block);
	free(rn.m.pend);
	free(rn.ops);
	free(rn.buf);
	free(rn.expect);
	free(rn.m.durable);
	free(rn.current);
	if (r) {
		fprintf(stderr, "%s: stopped: %s\n", prog, pd_strerror(r));
		return 1;
	}
	return rn.violations ? 1 : 0;
}
