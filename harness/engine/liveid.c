/* harness/engine/liveid.c - ids of live-run failures (see liveid.h).
 * Both directions go through state_id_format / state_id_parse with the
 * cut and choice fields standing in for the `live` tag, so the name,
 * seed and fault fields keep one spelling. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "liveid.h"

#define STAND_IN ":c0:p0-of-1:"

int live_id_format(const char *name, uint64_t seed,
		   const struct fault_spec *fault, char *buf, size_t len)
{
	struct state_id id;
	char full[256];
	const char *at;
	int r;

	memset(&id, 0, sizeof(id));
	snprintf(id.name, sizeof(id.name), "%s", name);
	id.seed = seed;
	id.choice = 0;
	id.nr_choices = 1;
	id.fault = *fault;
	r = state_id_format(&id, full, sizeof(full));
	if (r < 0)
		return r;
	at = strstr(full, STAND_IN);
	if (!at)
		return -EINVAL;
	r = snprintf(buf, len, "%.*s%s%s", (int)(at - full), full, LIVE_ID_TAG,
		     at + strlen(STAND_IN));
	return r > 0 && (size_t)r < len ? 0 : -ENAMETOOLONG;
}

int live_id_parse(const char *text, struct state_id *id, char *err,
		  size_t errlen)
{
	const char *at = strstr(text, LIVE_ID_TAG);
	char full[256];
	int r;

	if (!at)
		return 0;
	r = snprintf(full, sizeof(full), "%.*s%s%s", (int)(at - text), text,
		     STAND_IN, at + strlen(LIVE_ID_TAG));
	if (r < 0 || (size_t)r >= sizeof(full)) {
		snprintf(err, errlen, "bad id '%s': too long", text);
		return -EINVAL;
	}
	if (state_id_parse(full, id, err, errlen)) {
		snprintf(err, errlen, "bad id '%s': want NAME:sSEED:live:eFAULT",
			 text);
		return -EINVAL;
	}
	return 1;
}
