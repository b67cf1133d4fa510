/* harness/engine/cache_scenario.c - the `cache` line and the cache ops of a
 * scenario (grammar in cache_scenario.h).
 *
 * Op fields (kind OP_CACHE, sub an enum cache_op):
 *   map                a = first cblock, b = last cblock, c = origin block
 *   unmap/dirty/clean  a = first cblock, b = last cblock
 *   discard/undiscard  a = first dblock, b = last dblock
 *   hints              c = V
 *   resize/discard-resize  a = blocks
 *   random             a = ops, seed/has_seed, mix[sub], span
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cache_scenario.h"

static const char *const names[CO_NR] = {
	[CO_MAP] = "map",
	[CO_UNMAP] = "unmap",
	[CO_DIRTY] = "dirty",
	[CO_CLEAN] = "clean",
	[CO_HINTS] = "hints",
	[CO_DISCARD] = "discard",
	[CO_UNDISCARD] = "undiscard",
	[CO_DISCARD_RESIZE] = "discard-resize",
	[CO_RESIZE] = "resize",
	[CO_COMMIT] = "commit",
	[CO_ABORT] = "abort",
	[CO_SHUTDOWN] = "shutdown",
	[CO_REOPEN] = "reopen",
	[CO_RANDOM] = "random",
};

const char *cache_op_name(unsigned sub)
{
	return sub < CO_NR ? names[sub] : "?";
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int num(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || *end || *v > max)
		return -EINVAL;
	return 0;
}

/* V or A..B, both at most max. */
static int range(const char *s, uint64_t max, uint64_t *a, uint64_t *b)
{
	const char *dots = strstr(s, "..");
	char first[32];

	if (!dots)
		return num(s, max, a) ?: (*b = *a, 0);
	if ((size_t)(dots - s) >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, dots - s);
	first[dots - s] = 0;
	if (num(first, max, a) || num(dots + 2, max, b) || *a > *b)
		return -EINVAL;
	return 0;
}

int cache_parse_geometry(char **argv, int argc, struct pool_geometry *g,
			 char *err, size_t errlen)
{
	struct cache_geometry *c = &g->cache;

	g->is_cache = 1;
	g->meta_blocks = CACHE_DEFAULT_META;
	c->cblocks = CACHE_DEFAULT_CBLOCKS;
	c->version = 1;
	c->hint_size = 4;
	c->dblocks = CACHE_DEFAULT_DBLOCKS;
	strcpy(c->policy, "smq");
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *key = argv[i], *val;
		uint64_t v;

		if (!eq)
			return fail(err, errlen, "cache: '%s' wants KEY=VALUE", argv[i]);
		*eq = 0;
		val = eq + 1;
		if (!strcmp(key, "policy")) {
			size_t n = strlen(val);

			if (!n || n >= CACHE_POLICY_NAME_SIZE)
				return fail(err, errlen, "cache policy: 1..15 characters");
			memset(c->policy, 0, sizeof(c->policy));
			memcpy(c->policy, val, n);
			continue;
		}
		if (!strcmp(key, "bm-cache") && !strcmp(val, "none")) {
			g->cache_blocks = CACHE_BM_CACHE_NONE;
			continue;
		}
		if (num(val, UINT32_MAX, &v))
			return fail(err, errlen, "cache %s: '%s' is not a number", key, val);
		if (!strcmp(key, "blocks")) {
			if (v > 1u << 22)
				return fail(err, errlen, "cache blocks: at most 4194304");
			c->cblocks = (uint32_t)v;
		} else if (!strcmp(key, "version")) {
			if (v < 1 || v > 2)
				return fail(err, errlen, "cache version: 1 or 2");
			c->version = (unsigned)v;
		} else if (!strcmp(key, "hint")) {
			if (v != 0 && v != 4)
				return fail(err, errlen, "cache hint: 0 or 4 (bytes)");
			c->hint_size = (unsigned)v;
		} else if (!strcmp(key, "meta")) {
			if (v < 64 || v > 4161600)
				return fail(err, errlen, "cache meta: 64..4161600 blocks");
			g->meta_blocks = v;
		} else if (!strcmp(key, "discard")) {
			if (v > 1u << 22)
				return fail(err, errlen, "cache discard: at most 4194304");
			c->dblocks = (uint32_t)v;
		} else if (!strcmp(key, "bm-cache")) {
			if (v < 12 || v > 1u << 20)
				return fail(err, errlen, "cache bm-cache: 12..1048576 blocks "
					    "(or none)");
			g->cache_blocks = (unsigned)v;
		} else if (!strcmp(key, "block-size")) {
			if (v < 64 || v % 64)
				return fail(err, errlen, "cache block-size: a multiple of 64 sectors");
			g->block_size = (uint32_t)v;
		} else {
			return fail(err, errlen, "cache: unknown key '%s' (blocks version "
				    "hint meta policy discard bm-cache block-size)", key);
		}
	}
	return 0;
}

static int parse_mix(char *s, unsigned *mix, char *err, size_t errlen)
{
	unsigned total = 0;

	memset(mix, 0, sizeof(unsigned) * OP_NR_KINDS);
	for (char *save, *tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		uint64_t w;
		int k;

		if (!colon)
			return fail(err, errlen, "mix entry '%s' wants KIND:WEIGHT", tok);
		*colon = 0;
		for (k = 0; k < CO_RANDOM; k++)
			if (!strcmp(tok, names[k]) && k != CO_DISCARD_RESIZE)
				break;
		if (k == CO_RANDOM)
			return fail(err, errlen, "mix: unknown cache op kind '%s'", tok);
		if (num(colon + 1, 1000000, &w))
			return fail(err, errlen, "mix: bad weight '%s' for %s", colon + 1, tok);
		mix[k] = (unsigned)w;
		total += (unsigned)w;
	}
	if (!total)
		return fail(err, errlen, "mix: all weights are zero");
	return 0;
}

static void default_mix(unsigned *mix)
{
	memset(mix, 0, sizeof(unsigned) * OP_NR_KINDS);
	mix[CO_MAP] = 40;
	mix[CO_UNMAP] = 8;
	mix[CO_DIRTY] = 20;
	mix[CO_CLEAN] = 8;
	mix[CO_HINTS] = 2;
	mix[CO_DISCARD] = 6;
	mix[CO_UNDISCARD] = 3;
	mix[CO_RESIZE] = 2;
	mix[CO_COMMIT] = 8;
	mix[CO_ABORT] = 1;
	mix[CO_SHUTDOWN] = 1;
	mix[CO_REOPEN] = 1;
}

static int parse_random(char **argv, int argc, struct op *op, char *err,
			size_t errlen)
{
	int have_ops = 0;

	default_mix(op->mix);
	op->span = CACHE_DEFAULT_SPAN;
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int r = 0;

		if (!eq)
			return fail(err, errlen, "random: '%s' wants KEY=VALUE", argv[i]);
		*eq = 0;
		if (!strcmp(argv[i], "ops")) {
			r = num(eq + 1, 10000000, &op->a);
			have_ops = 1;
		} else if (!strcmp(argv[i], "seed")) {
			r = num(eq + 1, UINT64_MAX, &op->seed);
			op->has_seed = 1;
		} else if (!strcmp(argv[i], "span")) {
			r = num(eq + 1, CACHE_MAX_OBLOCK, &op->span);
			if (!r && !op->span)
				r = -EINVAL;
		} else if (!strcmp(argv[i], "mix")) {
			r = parse_mix(eq + 1, op->mix, err, errlen);
			if (r)
				return r;
		} else {
			return fail(err, errlen, "random: unknown key '%s' (ops seed mix span)",
				    argv[i]);
		}
		if (r)
			return fail(err, errlen, "random %s: bad value '%s'", argv[i], eq + 1);
	}
	if (!have_ops)
		return fail(err, errlen, "random needs ops=N");
	return 0;
}

int cache_parse_op(char **argv, int argc, struct op *op, char *err,
		   size_t errlen)
{
	const char *cmd = argv[0];
	unsigned k;

	for (k = 0; k < CO_NR; k++)
		if (!strcmp(cmd, names[k]))
			break;
	if (k == CO_NR)
		return fail(err, errlen, "unknown cache op '%s'", cmd);
	op->kind = OP_CACHE;
	op->sub = k;
	switch (k) {
	case CO_MAP:
		if (argc != 3)
			return fail(err, errlen, "'map' takes CBLOCK|A..B OBLOCK");
		if (range(argv[1], UINT32_MAX - 1, &op->a, &op->b) ||
		    num(argv[2], CACHE_MAX_OBLOCK, &op->c) ||
		    op->c + (op->b - op->a) > CACHE_MAX_OBLOCK)
			return fail(err, errlen, "map: bad cblock range or origin block");
		return 0;
	case CO_UNMAP:
	case CO_DIRTY:
	case CO_CLEAN:
	case CO_DISCARD:
	case CO_UNDISCARD:
		if (argc != 2 || range(argv[1], UINT32_MAX - 1, &op->a, &op->b))
			return fail(err, errlen, "'%s' takes BLOCK or A..B", cmd);
		return 0;
	case CO_HINTS:
		if (argc != 2 || num(argv[1], UINT32_MAX, &op->c))
			return fail(err, errlen, "'hints' takes a 32-bit value");
		return 0;
	case CO_RESIZE:
	case CO_DISCARD_RESIZE:
		if (argc != 2 || num(argv[1], 1u << 22, &op->a))
			return fail(err, errlen, "'%s' takes a block count (at most 4194304)",
				    cmd);
		return 0;
	case CO_RANDOM:
		return parse_random(argv, argc, op, err, errlen);
	default:
		if (argc != 1)
			return fail(err, errlen, "'%s' takes no argument", cmd);
		return 0;
	}
}

void cache_op_format(const struct op *op, char *buf, size_t len)
{
	const char *n = cache_op_name(op->sub);
	unsigned long long a = op->a, b = op->b, c = op->c;

	switch (op->sub) {
	case CO_MAP:
		if (a == b)
			snprintf(buf, len, "map %llu %llu", a, c);
		else
			snprintf(buf, len, "map %llu..%llu %llu", a, b, c);
		break;
	case CO_UNMAP:
	case CO_DIRTY:
	case CO_CLEAN:
	case CO_DISCARD:
	case CO_UNDISCARD:
		if (a == b)
			snprintf(buf, len, "%s %llu", n, a);
		else
			snprintf(buf, len, "%s %llu..%llu", n, a, b);
		break;
	case CO_HINTS:
		snprintf(buf, len, "hints %llu", c);
		break;
	case CO_RESIZE:
	case CO_DISCARD_RESIZE:
		snprintf(buf, len, "%s %llu", n, a);
		break;
	case CO_RANDOM:
		snprintf(buf, len, "random ops=%llu%s", a,
			 op->has_seed ? " seed=..." : "");
		break;
	default:
		snprintf(buf, len, "%s", n);
		break;
	}
}

void cache_geometry_format(const struct pool_geometry *g, char *buf,
			   size_t len)
{
	const struct cache_geometry *c = &g->cache;
	char bm[16];

	if (g->cache_blocks == CACHE_BM_CACHE_NONE)
		snprintf(bm, sizeof(bm), "none");
	else
		snprintf(bm, sizeof(bm), "%u", g->cache_blocks);
	snprintf(buf, len, "cache blocks=%u version=%u hint=%u meta=%llu "
		 "policy=%s discard=%u bm-cache=%s block-size=%u", c->cblocks,
		 c->version, c->hint_size, (unsigned long long)g->meta_blocks,
		 c->policy, c->dblocks, bm, g->block_size);
}
