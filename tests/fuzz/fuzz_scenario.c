/* tests/fuzz/fuzz_scenario.c - the scenario parser
 * (harness/engine/scenario.h) on arbitrary text; every op of a scenario
 * it accepts is formatted back (op_format), and that text must parse to
 * the same ops again (except `random` lines: op_format abbreviates
 * their seed as "seed=..." and leaves out mix, devs and span, so they are
 * left out of the round trip; a dm-cache scenario's random lines too).
 * A dm-cache scenario's ops are cache ops only after a `cache` line, so
 * its text again starts with one (the geometry does not change how an op
 * parses).
 */
#include "fuzz.h"
#include "cache_scenario.h"
#include "scenario.h"

/* a random line, thin or dm-cache: left out of the round trip */
static int is_random(const struct op *op)
{
	return op->kind == OP_RANDOM ||
	       (op->kind == OP_CACHE && op->sub == CO_RANDOM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strdup(data, size), err[256];
	struct scenario *s;

	if (!scenario_parse("fuzz", text, &s, err, sizeof(err))) {
		size_t cap = 64 * (s->nr_ops + 2), len = 0, start;
		char *again = malloc(cap), line[256];
		struct scenario *s2;

		if (!again)
			abort();
		len = start = (size_t)snprintf(again, cap, "%s",
					       s->geo.is_cache ? "cache\n" : "");
		for (size_t i = 0; i < s->nr_ops; i++) {
			if (is_random(&s->ops[i]))
				continue;
			op_format(&s->ops[i], line, sizeof(line));
			len += (size_t)snprintf(again + len, cap - len, "%s\n",
						line);
			if (len >= cap)
				abort();	/* an op line over 64 bytes */
		}
		if (len == start) {	/* only random lines */
			free(again);
			scenario_free(s);
			free(text);
			return 0;
		}
		if (scenario_parse("fuzz-again", again, &s2, err, sizeof(err))) {
			fprintf(stderr, "op_format wrote what the parser refuses: %s\n%s",
				err, again);
			abort();
		}
		for (size_t i = 0, j = 0; i < s->nr_ops; i++) {
			if (is_random(&s->ops[i]))
				continue;
			if (j >= s2->nr_ops || s2->ops[j].kind != s->ops[i].kind ||
			    s2->ops[j].a != s->ops[i].a ||
			    s2->ops[j].b != s->ops[i].b)
				abort();
			j++;
		}
		scenario_free(s2);
		free(again);
		scenario_free(s);
	}
	free(text);
	return 0;
}
