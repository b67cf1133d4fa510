/* harness/engine/sancov.c - the SanitizerCoverage callbacks (see sancov.h). */
#include <stdlib.h>
#include <string.h>

#include "sancov.h"

static uint8_t *counters;	/* inline-8bit-counters: the compiler's array;
				 * trace-pc-guard: guard_counts */
static size_t nr_edges;
static const char *mode = "none";
static uint8_t *guard_counts;	/* trace-pc-guard: ours, one per guard */

void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop)
	__attribute__((weak));
void __sanitizer_cov_trace_pc_guard_init(uint32_t *start, uint32_t *stop)
	__attribute__((weak));
void __sanitizer_cov_trace_pc_guard(uint32_t *guard) __attribute__((weak));

/* Called by each module constructor; with one instrumented library all
 * calls name the same section, so keep the widest. */
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop)
{
	if (stop <= start || (counters && start >= counters &&
			      stop <= counters + nr_edges))
		return;
	counters = start;
	nr_edges = (size_t)(stop - start);
	mode = "inline-8bit-counters";
}

void __sanitizer_cov_trace_pc_guard_init(uint32_t *start, uint32_t *stop)
{
	if (start == stop || *start)
		return;		/* already numbered */
	for (uint32_t *g = start; g < stop; g++)
		*g = (uint32_t)++nr_edges;
	uint8_t *c = realloc(guard_counts, nr_edges + 1);
	if (!c)
		abort();	/* before main(): nothing else to do */
	memset(c, 0, nr_edges + 1);
	guard_counts = c;
	counters = c + 1;
	mode = "trace-pc-guard";
}

void __sanitizer_cov_trace_pc_guard(uint32_t *guard)
{
	uint8_t *c = &guard_counts[*guard];

	if (*c != 255)
		(*c)++;
}

size_t sancov_edges(void)
{
	return nr_edges;
}

const uint8_t *sancov_counters(void)
{
	return counters;
}

void sancov_reset(void)
{
	if (counters)
		memset(counters, 0, nr_edges);
}

const char *sancov_mode(void)
{
	return mode;
}
