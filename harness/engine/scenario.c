/* harness/engine/scenario.c - the scenario parser (grammar in scenario.h).
 *
 * Op fields:
 *   create/delete      a = dev
 *   snap               a = dev, b = origin
 *   map/unmap/lookup   a = dev, b = first vblock, c = last vblock (inclusive)
 *   dev-info           a = dev
 *   unmap-range        a = dev, b = begin, c = last (inclusive)
 *   trans-id           a = new id; with from=, b = the id given as current
 *   resize-data/-meta  a = blocks
 *   highest/mapped-count  a = dev
 *   find-range         a = dev, b = first vblock, c = last (inclusive)
 *   passdown           a = dev, b = first vblock, c = last (inclusive)
 * and expect= in op->expect (a negative errno) on any of them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_scenario.h"
#include "oracle.h"
#include "scenario.h"
#include "thin.h"

#define MAX_DEV ((1ull << 24) - 1)
#define MAX_LINE 4096

static const char *const kind_names[OP_NR_KINDS] = {
	[OP_CREATE] = "create",
	[OP_SNAP] = "snap",
	[OP_DELETE] = "delete",
	[OP_MAP] = "map",
	[OP_UNMAP] = "unmap",
	[OP_UNMAP_RANGE] = "unmap-range",
	[OP_COMMIT] = "commit",
	[OP_ABORT] = "abort",
	[OP_TRANS_ID] = "trans-id",
	[OP_RESIZE_DATA] = "resize-data",
	[OP_RESIZE_META] = "resize-meta",
	[OP_META_SNAP] = "meta-snap",
	[OP_META_SNAP_RELEASE] = "meta-snap-release",
	[OP_WRITE] = "write",
	[OP_LOOKUP] = "lookup",
	[OP_DEV_INFO] = "dev-info",
	[OP_NEEDS_CHECK] = "needs-check",
	[OP_CHECK] = "check",
	[OP_META_SNAP_CHECK] = "meta-snap-check",
	[OP_HIGHEST] = "highest",
	[OP_MAPPED_COUNT] = "mapped-count",
	[OP_FIND_RANGE] = "find-range",
	[OP_STATUS] = "status",
	[OP_AUDIT] = "audit",
	[OP_CLOSE] = "close",
	[OP_FORMAT] = "format",
	[OP_OPEN] = "open",
	[OP_RESTORE] = "restore",
	[OP_PASSDOWN] = "passdown",
	[OP_SETUP_DONE] = "setup-done",
	[OP_RANDOM] = "random",
	[OP_CACHE] = "cache",
};

const char *op_kind_name(enum op_kind k)
{
	return k < OP_NR_KINDS ? kind_names[k] : "?";
}

struct parser {
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(ps->err, ps->errlen, "%s:%u: ", ps->name, ps->line);
	if (n < 0 || (size_t)n >= ps->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A whole unsigned number, decimal or 0x hex, nothing else. */
static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

static int number(struct parser *ps, const char *what, const char *s,
		  uint64_t max, uint64_t *v)
{
	if (parse_u64(s, v))
		return fail(ps, "%s: '%s' is not a number", what, s);
	if (*v > max)
		return fail(ps, "%s %s is out of range (at most %llu)", what, s,
			    (unsigned long long)max);
	return 0;
}

/* V or A..B (inclusive, A <= B; A = B + 1 too with empty, the empty
 * range of unmap; A > B + 1 too with reversed, a misuse only expect=EINVAL
 * may name). */
static int range_as(struct parser *ps, const char *s, uint64_t *a, uint64_t *b,
		    int empty, int reversed)
{
	const char *dots = strstr(s, "..");
	char first[64];

	if (!dots)
		return number(ps, "vblock", s, UINT64_MAX - 1, a) ?: (*b = *a, 0);
	if ((size_t)(dots - s) >= sizeof(first))
		return fail(ps, "bad range '%s'", s);
	memcpy(first, s, dots - s);
	first[dots - s] = 0;
	if (parse_u64(first, a) || parse_u64(dots + 2, b))
		return fail(ps, "bad range '%s' (want A..B)", s);
	if (*a > *b && !empty)
		return fail(ps, "empty range '%s' (A > B; only unmap A..B takes "
			    "A = B + 1, and A > B + 1 with expect=EINVAL)", s);
	if (*a > *b && *a == *b + 1 && reversed)
		return fail(ps, "empty range '%s' (A = B + 1 is a legal empty "
			    "range; with expect=EINVAL, A > B + 1)", s);
	if (*a > *b && *a != *b + 1 && !reversed)
		return fail(ps, "range '%s' (A > B + 1 only with expect=EINVAL; "
			    "A = B + 1 is the empty range)", s);
	if (*b == UINT64_MAX)	/* the op runs A..B+1 and would wrap */
		return fail(ps, "range '%s' ends at 2^64-1 (at most 2^64-2)", s);
	if (*a <= *b && *b - *a >= (1ull << 24))
		return fail(ps, "range '%s' is too long (at most 2^24 blocks)", s);
	return 0;
}

static int range(struct parser *ps, const char *s, uint64_t *a, uint64_t *b)
{
	return range_as(ps, s, a, b, 0, 0);
}

static int format_refused(const struct op *op)
{
	return oracle_format(op->a, op->b, op->read_only) != 0;
}

/* A misuse value (scenario.h) passes with expect=EINVAL only. */
static uint64_t misuse_max(const struct op *op, uint64_t max)
{
	return op->expect == -EINVAL ? UINT64_MAX : max;
}

static int want_args(struct parser *ps, const char *cmd, int got, int want)
{
	if (got != want)
		return fail(ps, "'%s' takes %d argument%s, got %d", cmd, want,
			    want == 1 ? "" : "s", got);
	return 0;
}

/* The errors expect= may name: those a caller can meet (thin.h). */
static const struct {
	const char *name;
	int err;
} expect_names[] = {
	{ "ENODATA", -ENODATA }, { "EEXIST", -EEXIST }, { "EINVAL", -EINVAL },
	{ "EBUSY", -EBUSY }, { "ENOSPC", -ENOSPC }, { "EPERM", -EPERM },
};

static const char *expect_name(int err)
{
	for (size_t i = 0; i < sizeof(expect_names) / sizeof(expect_names[0]); i++)
		if (expect_names[i].err == err)
			return expect_names[i].name;
	return "?";
}

/* Take the first KEY=VALUE word after the op's name off argv; its value,
 * or NULL if there is none. */
static const char *take_suffix(char **argv, int *argc, const char *key)
{
	size_t n = strlen(key);

	for (int i = 1; i < *argc; i++) {
		const char *v = argv[i];

		if (strncmp(v, key, n) || v[n] != '=')
			continue;
		memmove(argv + i, argv + i + 1, (size_t)(*argc - i - 1) * sizeof(*argv));
		--*argc;
		return v + n + 1;
	}
	return NULL;
}

/* A bare word among argv[1..] (a flag): removed, 1 if it was there. */
static int take_flag(char **argv, int *argc, const char *word)
{
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], word))
			continue;
		memmove(argv + i, argv + i + 1, (size_t)(*argc - i - 1) * sizeof(*argv));
		--*argc;
		return 1;
	}
	return 0;
}

static int parse_expect(struct parser *ps, const char *v, struct op *op)
{
	for (size_t i = 0; i < sizeof(expect_names) / sizeof(expect_names[0]); i++) {
		if (!strcmp(v, expect_names[i].name)) {
			op->expect = expect_names[i].err;
			return 0;
		}
	}
	return fail(ps, "expect: unknown error '%s' (ENODATA EEXIST EINVAL EBUSY "
		    "ENOSPC EPERM)", v);
}

static int parse_mix(struct parser *ps, char *s, unsigned *mix)
{
	memset(mix, 0, sizeof(unsigned) * OP_NR_KINDS);
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *colon = strchr(tok, ':');
		uint64_t w;
		int k;

		if (!colon)
			return fail(ps, "mix entry '%s' wants KIND:WEIGHT", tok);
		*colon = 0;
		for (k = 0; k < OP_NR_KINDS; k++)
			if (k != OP_RANDOM && k != OP_CACHE && k != OP_RESIZE_META &&
			    k != OP_CLOSE && k != OP_FORMAT && k != OP_OPEN &&
			    k != OP_RESTORE && k != OP_SETUP_DONE &&
			    k != OP_META_SNAP_RELEASE && k != OP_WRITE &&
			    !strcmp(tok, kind_names[k]))
				break;
		if (k == OP_NR_KINDS)
			return fail(ps, "mix: unknown op kind '%s'", tok);
		if (parse_u64(colon + 1, &w) || w > 1000000)
			return fail(ps, "mix: bad weight '%s' for %s", colon + 1, tok);
		mix[k] = (unsigned)w;
	}
	unsigned total = 0;
	for (int k = 0; k < OP_NR_KINDS; k++)
		total += mix[k];
	if (!total)
		return fail(ps, "mix: all weights are zero");
	return 0;
}

static void default_mix(unsigned *mix)
{
	memset(mix, 0, sizeof(unsigned) * OP_NR_KINDS);
	mix[OP_MAP] = 60;
	mix[OP_UNMAP] = 10;
	mix[OP_UNMAP_RANGE] = 2;
	mix[OP_SNAP] = 3;
	mix[OP_CREATE] = 2;
	mix[OP_DELETE] = 2;
	mix[OP_COMMIT] = 8;
	mix[OP_ABORT] = 1;
	mix[OP_TRANS_ID] = 1;
	mix[OP_RESIZE_DATA] = 1;
	mix[OP_META_SNAP] = 1;
}

static int parse_random(struct parser *ps, char **argv, int argc, struct op *op)
{
	int have_ops = 0, r;

	default_mix(op->mix);
	op->devs = 8;
	op->span = 4096;
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			return fail(ps, "random: '%s' wants KEY=VALUE", argv[i]);
		*eq = 0;
		const char *key = argv[i], *val = eq + 1;
		if (!strcmp(key, "ops")) {
			r = number(ps, "random ops", val, 10000000, &op->a);
			have_ops = 1;
		} else if (!strcmp(key, "seed")) {
			r = number(ps, "random seed", val, UINT64_MAX, &op->seed);
			op->has_seed = 1;
		} else if (!strcmp(key, "devs")) {
			r = number(ps, "random devs", val, 1000, &op->devs);
			if (!r && !op->devs)
				r = fail(ps, "random devs must be at least 1");
		} else if (!strcmp(key, "span")) {
			r = number(ps, "random span", val, 1ull << 32, &op->span);
			if (!r && !op->span)
				r = fail(ps, "random span must be at least 1");
		} else if (!strcmp(key, "aim")) {
			r = 0;
			if (!strcmp(val, "boundaries"))
				op->aim = AIM_BOUNDARIES;
			else
				r = fail(ps, "random aim: unknown '%s' (boundaries)", val);
		} else if (!strcmp(key, "mix")) {
			r = parse_mix(ps, eq + 1, op->mix);
		} else {
			r = fail(ps, "random: unknown key '%s' (ops seed mix devs span aim)", key);
		}
		if (r)
			return r;
	}
	if (!have_ops)
		return fail(ps, "random needs ops=N");
	return 0;
}

/* A cache= value: N >= 12 blocks, default (0) or none (THIN_CACHE_NONE). */
static int cache_value(struct parser *ps, const char *what, const char *val,
		       unsigned *cache_blocks)
{
	uint64_t v;
	int r;

	if (!strcmp(val, "default")) {
		*cache_blocks = 0;	/* the backend's own */
		return 0;
	}
	if (!strcmp(val, "none")) {
		*cache_blocks = THIN_CACHE_NONE;
		return 0;
	}
	r = number(ps, what, val, 1u << 20, &v);
	if (!r && v < 12)
		r = fail(ps, "%s must be at least 12 blocks (or default, or none)",
			 what);
	*cache_blocks = (unsigned)v;
	return r;
}

static int parse_pool(struct parser *ps, char **argv, int argc,
		      struct pool_geometry *g)
{
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		uint64_t v;
		int r;

		if (!eq)
			return fail(ps, "pool: '%s' wants KEY=VALUE", argv[i]);
		*eq = 0;
		if (!strcmp(argv[i], "data")) {
			r = number(ps, "pool data", eq + 1, 1ull << 40, &g->data_blocks);
		} else if (!strcmp(argv[i], "meta")) {
			r = number(ps, "pool meta", eq + 1, 4161600, &g->meta_blocks);
			if (!r && g->meta_blocks < 64)
				r = fail(ps, "pool meta must be at least 64 blocks");
		} else if (!strcmp(argv[i], "cache")) {
			r = cache_value(ps, "pool cache", eq + 1, &g->cache_blocks);
		} else if (!strcmp(argv[i], "format")) {
			r = 0;
			if (!strcmp(eq + 1, "open"))
				g->format_open = 1;
			else
				r = fail(ps, "pool format: unknown '%s' (open)",
					 eq + 1);
		} else if (!strcmp(argv[i], "block-size")) {
			r = number(ps, "pool block-size", eq + 1, 2097152, &v);
			if (!r && (v < 128 || v % 128))
				r = fail(ps, "pool block-size must be a multiple of 128 sectors");
			g->block_size = (uint32_t)v;
		} else {
			r = fail(ps, "pool: unknown key '%s' (data meta cache "
				 "block-size format)", argv[i]);
		}
		if (r)
			return r;
	}
	return 0;
}

static int parse_line(struct parser *ps, char *text, struct scenario *s,
		      int *pool_seen, struct op *op)
{
	char *argv[16];
	int argc = 0, r;
	const char *cmd;

	for (char *tok = strtok(text, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
		if (argc == 16)
			return fail(ps, "too many words");
		argv[argc++] = tok;
	}
	if (!argc)
		return 1;		/* blank */
	cmd = argv[0];
	memset(op, 0, sizeof(*op));
	op->line = ps->line;
	if (!strcmp(cmd, "cache") || s->geo.is_cache) {
		/* a dm-cache scenario (cache_scenario.h) */
		char what[200];

		if (!strcmp(cmd, "cache")) {
			if (*pool_seen || s->nr_ops)
				return fail(ps, "'cache' must come once, first, "
					    "instead of a 'pool' line");
			*pool_seen = 1;
			r = cache_parse_geometry(argv, argc, &s->geo, what,
						 sizeof(what));
		} else {
			r = cache_parse_op(argv, argc, op, what, sizeof(what));
		}
		if (r)
			return fail(ps, "%s", what);
		return strcmp(cmd, "cache") ? 0 : 1;
	}
	if (!strcmp(cmd, "pool")) {
		if (*pool_seen || s->nr_ops)
			return fail(ps, "'pool' must come once, before any op");
		*pool_seen = 1;
		r = parse_pool(ps, argv, argc, &s->geo);
		return r ? r : 1;
	}
	if (strcmp(cmd, "random")) {
		const char *v = take_suffix(argv, &argc, "expect");

		if (v && (r = parse_expect(ps, v, op)))
			return r;
	}
	if (!strcmp(cmd, "create") || !strcmp(cmd, "delete") ||
	    !strcmp(cmd, "dev-info") || !strcmp(cmd, "highest") ||
	    !strcmp(cmd, "mapped-count")) {
		op->kind = !strcmp(cmd, "create") ? OP_CREATE :
			   !strcmp(cmd, "delete") ? OP_DELETE :
			   !strcmp(cmd, "dev-info") ? OP_DEV_INFO :
			   !strcmp(cmd, "highest") ? OP_HIGHEST : OP_MAPPED_COUNT;
		return want_args(ps, cmd, argc - 1, 1) ?:
		       number(ps, "device", argv[1], op->kind == OP_CREATE ?
			      misuse_max(op, MAX_DEV) : MAX_DEV, &op->a);
	}
	if (!strcmp(cmd, "lookup") || !strcmp(cmd, "find-range")) {
		op->kind = cmd[0] == 'l' ? OP_LOOKUP : OP_FIND_RANGE;
		return want_args(ps, cmd, argc - 1, 2) ?:
		       number(ps, "device", argv[1], MAX_DEV, &op->a) ?:
		       range(ps, argv[2], &op->b, &op->c);
	}
	if (!strcmp(cmd, "passdown")) {
		const char *at = take_suffix(argv, &argc, "at");

		op->kind = OP_PASSDOWN;
		op->has_at = at != NULL;
		if (at && op->expect != -EINVAL)
			return fail(ps, "passdown: at= only with expect=EINVAL "
				    "(data blocks past the data device, "
				    "scenario.h)");
		return want_args(ps, cmd, argc - 1, 2) ?:
		       number(ps, "device", argv[1], MAX_DEV, &op->a) ?:
		       range_as(ps, argv[2], &op->b, &op->c, at != NULL,
				at != NULL) ?:
		       (at ? number(ps, "at", at, UINT64_MAX, &op->at) : 0);
	}
	if (!strcmp(cmd, "needs-check") || !strcmp(cmd, "check") ||
	    !strcmp(cmd, "meta-snap-check") || !strcmp(cmd, "status") ||
	    !strcmp(cmd, "audit")) {
		op->kind = !strcmp(cmd, "needs-check") ? OP_NEEDS_CHECK :
			   !strcmp(cmd, "check") ? OP_CHECK :
			   !strcmp(cmd, "status") ? OP_STATUS :
			   !strcmp(cmd, "audit") ? OP_AUDIT : OP_META_SNAP_CHECK;
		return want_args(ps, cmd, argc - 1, 0);
	}
	if (!strcmp(cmd, "snap")) {
		op->kind = OP_SNAP;
		r = want_args(ps, cmd, argc - 1, 2) ?:
		    number(ps, "device", argv[1], misuse_max(op, MAX_DEV),
			   &op->a) ?:
		    number(ps, "origin", argv[2], MAX_DEV, &op->b);
		if (!r && op->a == op->b)
			r = fail(ps, "a device cannot be its own snapshot");
		return r;
	}
	if (!strcmp(cmd, "map") || !strcmp(cmd, "unmap")) {
		const char *at = cmd[0] == 'm' ?
				 take_suffix(argv, &argc, "at") : NULL;

		op->kind = cmd[0] == 'm' ? OP_MAP : OP_UNMAP;
		op->has_at = at != NULL;
		r = want_args(ps, cmd, argc - 1, 2) ?:
		    number(ps, "device", argv[1], MAX_DEV, &op->a) ?:
		    range_as(ps, argv[2], &op->b, &op->c,
			     op->kind == OP_UNMAP && strstr(argv[2], ".."),
			     op->kind == OP_UNMAP && op->expect == -EINVAL);
		if (!r && at && op->expect != -EINVAL)
			r = fail(ps, "map: at= only with expect=EINVAL (a data "
				 "block past the data device, scenario.h)");
		if (!r && at && op->b != op->c)
			r = fail(ps, "map: at= takes one vblock, not a range");
		if (!r && at)
			r = number(ps, "at", at, UINT64_MAX, &op->at);
		if (!r && op->kind == OP_UNMAP && strstr(argv[2], ".."))
			op->kind = OP_UNMAP_RANGE;
		return r;
	}
	if (!strcmp(cmd, "format")) {
		const char *bs = take_suffix(argv, &argc, "block-size");
		const char *data = take_suffix(argv, &argc, "data");

		op->kind = OP_FORMAT;
		op->a = 128;
		op->b = 100000;
		op->read_only = take_flag(argv, &argc, "read-only");
		r = want_args(ps, cmd, argc - 1, 0) ?:
		    (bs ? number(ps, "format block-size", bs, UINT32_MAX,
				 &op->a) : 0) ?:
		    (data ? number(ps, "format data", data, UINT64_MAX,
				   &op->b) : 0);
		if (!r && op->expect != -EINVAL)
			r = fail(ps, "format: only with expect=EINVAL (a refused "
				 "format, scenario.h)");
		if (!r && !format_refused(op))
			r = fail(ps, "format: block-size=%llu data=%llu is a valid "
				 "format; the op only checks a refusal",
				 (unsigned long long)op->a,
				 (unsigned long long)op->b);
		return r;
	}
	if (!strcmp(cmd, "open")) {
		const char *bs = take_suffix(argv, &argc, "block-size");

		op->kind = OP_OPEN;
		r = want_args(ps, cmd, argc - 1, 0);
		if (!r && !bs)
			r = fail(ps, "open: block-size= wanted");
		if (!r)
			r = number(ps, "open block-size", bs, UINT32_MAX, &op->a);
		if (!r && op->expect != -EINVAL)
			r = fail(ps, "open: only with expect=EINVAL (a refused "
				 "open, scenario.h)");
		if (!r && op->a == s->geo.block_size)
			r = fail(ps, "open: block-size=%llu is the pool's own; the "
				 "op only checks a refusal",
				 (unsigned long long)op->a);
		return r;
	}
	if (!strcmp(cmd, "write")) {
		op->kind = OP_WRITE;
		op->fua = argc == 4 && !strcmp(argv[3], "fua");
		if (argc == 4 && !op->fua)
			return fail(ps, "write: unknown flag '%s' (fua?)", argv[3]);
		return want_args(ps, cmd, argc - 1 - op->fua, 2) ?:
		       number(ps, "device", argv[1], MAX_DEV, &op->a) ?:
		       range(ps, argv[2], &op->b, &op->c);
	}
	if (!strcmp(cmd, "close") && argc == 2) {
		unsigned cache;

		op->kind = OP_CLOSE;
		if (strncmp(argv[1], "cache=", 6))
			return fail(ps, "close: unknown argument '%s' (cache=)",
				    argv[1]);
		op->has_cache = 1;
		r = cache_value(ps, "close cache", argv[1] + 6, &cache);
		op->a = cache;
		return r;
	}
	if (!strcmp(cmd, "close") || !strcmp(cmd, "restore")) {
		op->kind = cmd[0] == 'c' ? OP_CLOSE : OP_RESTORE;
		return want_args(ps, cmd, argc - 1, 0);
	}
	if (!strcmp(cmd, "commit") || !strcmp(cmd, "abort") ||
	    !strcmp(cmd, "meta-snap") || !strcmp(cmd, "meta-snap-release")) {
		op->kind = !strcmp(cmd, "commit") ? OP_COMMIT :
			   !strcmp(cmd, "abort") ? OP_ABORT :
			   !strcmp(cmd, "meta-snap") ? OP_META_SNAP :
						       OP_META_SNAP_RELEASE;
		return want_args(ps, cmd, argc - 1, 0);
	}
	if (!strcmp(cmd, "setup-done")) {
		op->kind = OP_SETUP_DONE;
		if (op->expect)
			return fail(ps, "setup-done: expect= belongs on ops that "
				    "call the pool");
		for (size_t i = 0; i < s->nr_ops; i++)
			if (s->ops[i].kind == OP_SETUP_DONE)
				return fail(ps, "setup-done: once per scenario "
					    "(line %u has it already)",
					    s->ops[i].line);
		return want_args(ps, cmd, argc - 1, 0);
	}
	if (!strcmp(cmd, "trans-id")) {
		const char *from = take_suffix(argv, &argc, "from");

		op->kind = OP_TRANS_ID;
		op->has_from = from != NULL;
		return want_args(ps, cmd, argc - 1, 1) ?:
		       number(ps, "transaction id", argv[1], UINT64_MAX, &op->a) ?:
		       (from ? number(ps, "from", from, UINT64_MAX, &op->b) : 0);
	}
	if (!strcmp(cmd, "resize-data")) {
		op->kind = OP_RESIZE_DATA;
		return want_args(ps, cmd, argc - 1, 1) ?:
		       number(ps, "data blocks", argv[1],
			      misuse_max(op, 1ull << 40), &op->a);
	}
	if (!strcmp(cmd, "resize-meta")) {
		op->kind = OP_RESIZE_META;
		op->past_end = take_flag(argv, &argc, "past-end");
		r = want_args(ps, cmd, argc - 1, 1) ?:
		    number(ps, "metadata blocks", argv[1],
			   misuse_max(op, 4161600), &op->a);
		if (!r && op->past_end && op->expect != -EINVAL)
			r = fail(ps, "resize-meta: past-end only with expect=EINVAL "
				 "(a size past the device's end, scenario.h)");
		return r;
	}
	if (!strcmp(cmd, "random")) {
		op->kind = OP_RANDOM;
		for (int i = 1; i < argc; i++)
			if (!strncmp(argv[i], "expect=", 7))
				return fail(ps, "random: expect= belongs on "
					    "single ops");
		return parse_random(ps, argv, argc, op);
	}
	return fail(ps, "unknown op '%s'", cmd);
}

int op_is_misuse(const struct op *op)
{
	switch (op->kind) {
	case OP_CREATE:
	case OP_SNAP:
		return op->a > MAX_DEV;
	case OP_UNMAP_RANGE:	/* A = B + 1 is the empty range, legal */
		return op->b > op->c && op->b != op->c + 1;
	case OP_RESIZE_DATA:
		return op->a > (1ull << 40);
	case OP_MAP:
	case OP_PASSDOWN:
		return op->has_at;
	case OP_RESIZE_META:	/* past 255 bitmaps' worth, or of the device */
		return op->past_end || op->a > 4161600;
	case OP_FORMAT:
	case OP_OPEN:
		return 1;
	default:
		return 0;
	}
}

static char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *b = slash ? slash + 1 : path;
	size_t n = strlen(b);
	char *s;

	if (n > 4 && !strcmp(b + n - 4, ".scn"))
		n -= 4;
	s = malloc(n + 1);
	if (s) {
		memcpy(s, b, n);
		s[n] = 0;
	}
	return s;
}

int scenario_parse(const char *name, const char *text, struct scenario **result,
		   char *err, size_t errlen)
{
	struct parser ps = { name, 0, err, errlen };
	struct scenario *s = calloc(1, sizeof(*s));
	size_t cap = 0;
	int pool_seen = 0, r = 0;
	char line[MAX_LINE];

	if (!s)
		return -ENOMEM;
	s->geo = (struct pool_geometry) { 100000, 2048, 4096, 128, 0, { 0 }, 0 };
	s->name = base_name(name);
	s->path = strdup(name);
	if (!s->name || !s->path) {
		r = -ENOMEM;
		goto out_free;
	}
	for (const char *p = text; *p; ) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		struct op op;

		ps.line++;
		if (n >= sizeof(line)) {
			r = fail(&ps, "line longer than %d bytes", MAX_LINE - 1);
			goto out_free;
		}
		memcpy(line, p, n);
		line[n] = 0;
		p += n + (nl ? 1 : 0);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		r = parse_line(&ps, line, s, &pool_seen, &op);
		if (r < 0)
			goto out_free;
		if (r == 1)
			continue;
		if (s->nr_ops == cap) {
			cap = cap ? cap * 2 : 64;
			struct op *ops = realloc(s->ops, cap * sizeof(*ops));
			if (!ops) {
				r = -ENOMEM;
				goto out_free;
			}
			s->ops = ops;
		}
		s->ops[s->nr_ops++] = op;
	}
	if (!s->nr_ops) {
		ps.line = 0;
		snprintf(err, errlen, "%s: no ops in scenario", name);
		r = -EINVAL;
		goto out_free;
	}
	*result = s;
	return 0;

out_free:
	scenario_free(s);
	return r;
}

int scenario_load(const char *path, struct scenario **result, char *err,
		  size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			char *t = realloc(text, cap + 1);
			if (!t) {
				free(text);
				fclose(f);
				return -ENOMEM;
			}
			text = t;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		free(text);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	text[len] = 0;
	if (strlen(text) != len) {
		snprintf(err, errlen, "%s: contains a NUL byte (not a text file)", path);
		free(text);
		return -EINVAL;
	}
	r = scenario_parse(path, text, result, err, errlen);
	free(text);
	return r;
}

void scenario_free(struct scenario *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->path);
	free(s->ops);
	free(s);
}

static void format_op(const struct op *op, char *buf, size_t len);

const char *pool_cache_text(unsigned cache_blocks, char *buf, size_t len)
{
	if (!cache_blocks)
		snprintf(buf, len, "default");
	else if (cache_blocks == THIN_CACHE_NONE)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%u", cache_blocks);
	return buf;
}

void pool_geometry_format(const struct pool_geometry *g, char *buf,
			  size_t len)
{
	char cache[16];

	snprintf(buf, len, "pool data=%llu meta=%llu cache=%s block-size=%u%s",
		 (unsigned long long)g->data_blocks,
		 (unsigned long long)g->meta_blocks,
		 pool_cache_text(g->cache_blocks, cache, sizeof(cache)),
		 g->block_size, g->format_open ? " format=open" : "");
}

void op_format(const struct op *op, char *buf, size_t len)
{
	size_t n;

	format_op(op, buf, len);
	n = strlen(buf);
	if (op->kind == OP_TRANS_ID && op->has_from && n < len)
		n += (size_t)snprintf(buf + n, len - n, " from=%llu",
				      (unsigned long long)op->b);
	if (op->expect && n < len)
		snprintf(buf + n, len - n, " expect=%s", expect_name(op->expect));
}

static void format_op(const struct op *op, char *buf, size_t len)
{
	const char *n = op_kind_name(op->kind);
	unsigned long long a = op->a, b = op->b, c = op->c;

	switch (op->kind) {
	case OP_MAP:
		if (op->has_at) {
			snprintf(buf, len, "map %llu %llu at=%llu", a, b,
				 (unsigned long long)op->at);
			break;
		}
		/* fall through */
	case OP_PASSDOWN:
		if (op->kind == OP_PASSDOWN && op->has_at) {
			snprintf(buf, len, "passdown %llu %llu..%llu at=%llu", a,
				 b, c, (unsigned long long)op->at);
			break;
		}
		/* fall through */
	case OP_UNMAP:
	case OP_LOOKUP:
	case OP_FIND_RANGE:
		if (b == c)
			snprintf(buf, len, "%s %llu %llu", n, a, b);
		else
			snprintf(buf, len, "%s %llu %llu..%llu", n, a, b, c);
		break;
	case OP_FORMAT:
		snprintf(buf, len, "format block-size=%llu data=%llu%s", a, b,
			 op->read_only ? " read-only" : "");
		break;
	case OP_OPEN:
		snprintf(buf, len, "open block-size=%llu", a);
		break;
	case OP_CREATE:
	case OP_DELETE:
	case OP_DEV_INFO:
	case OP_HIGHEST:
	case OP_MAPPED_COUNT:
		snprintf(buf, len, "%s %llu", n, a);
		break;
	case OP_SNAP:
		snprintf(buf, len, "%s %llu %llu", n, a, b);
		break;
	case OP_UNMAP_RANGE:
		snprintf(buf, len, "unmap %llu %llu..%llu", a, b, c);
		break;
	case OP_WRITE:
		if (b == c)
			snprintf(buf, len, "write %llu %llu%s", a, b,
				 op->fua ? " fua" : "");
		else
			snprintf(buf, len, "write %llu %llu..%llu%s", a, b, c,
				 op->fua ? " fua" : "");
		break;
	case OP_TRANS_ID:
	case OP_RESIZE_DATA:
	case OP_RESIZE_META:
		snprintf(buf, len, "%s %llu%s", n, a,
			 op->past_end ? " past-end" : "");
		break;
	case OP_CACHE:
		cache_op_format(op, buf, len);
		break;
	case OP_CLOSE: {
		char cache[16];

		if (op->has_cache)
			snprintf(buf, len, "close cache=%s",
				 pool_cache_text((unsigned)a, cache, sizeof(cache)));
		else
			snprintf(buf, len, "close");
		break;
	}
	case OP_RANDOM:
		snprintf(buf, len, "random ops=%llu%s%s", a, op->has_seed ? " seed=..." : "",
			 op->aim == AIM_BOUNDARIES ? " aim=boundaries" : "");
		break;
	default:
		snprintf(buf, len, "%s", n);
		break;
	}
}
