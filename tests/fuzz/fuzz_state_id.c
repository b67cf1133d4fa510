/* tests/fuzz/fuzz_state_id.c - the failure-id parser (state_id_parse,
 * harness/engine/explore.h) on arbitrary text; an id it accepts must
 * format and parse back to the same state.
 */
#include "fuzz.h"
#include "explore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strdup(data, size), err[256], buf[512];
	struct state_id id, id2;

	if (!state_id_parse(text, &id, err, sizeof(err))) {
		if (state_id_format(&id, buf, sizeof(buf)) < 0)
			abort();
		if (state_id_parse(buf, &id2, err, sizeof(err))) {
			fprintf(stderr, "'%s' formats as '%s', refused: %s\n",
				text, buf, err);
			abort();
		}
		if (strcmp(id.name, id2.name) || id.seed != id2.seed ||
		    id.cut != id2.cut || id.choice != id2.choice ||
		    id.nr_choices != id2.nr_choices || id.tear != id2.tear ||
		    id.fault.kind != id2.fault.kind ||
		    (id.fault.kind && (id.fault.nth != id2.fault.nth ||
				       id.fault.sticky != id2.fault.sticky)))
			abort();
	}
	free(text);
	return 0;
}
