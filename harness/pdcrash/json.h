/* harness/pdcrash/json.h - a small JSON reader, for `pdcrash merge` (RFC 8259).
 *
 * json_parse() turns a text into a tree of struct json values: objects,
 * arrays, strings (escapes decoded, \uXXXX and surrogate pairs as UTF-8),
 * numbers, true, false, null.  It never reads past len, nests at most
 * JSON_MAX_DEPTH deep (deeper input is an error, not a deep recursion),
 * and on any error returns -EINVAL with the byte offset of the problem
 * and a message.  Strings may not contain \u0000 (they are C strings).
 * Numbers keep their double value; a non-negative integer that fits in
 * 64 bits is also kept exactly (is_u64, u64).  Nothing else is checked:
 * duplicate keys are kept, json_get() finds the first.
 */
#ifndef PD_JSON_H
#define PD_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 256

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type type;
	double num;			/* NUMBER */
	uint64_t u64;			/* NUMBER, when is_u64 */
	int is_u64;
	char *str;			/* STRING: decoded, NUL-terminated */
	size_t nr;			/* ARRAY, OBJECT: number of items */
	struct json *items;		/* ARRAY, OBJECT: the values */
	char **keys;			/* OBJECT: the keys, decoded */
};

/* 0 and *out, or -ENOMEM, or -EINVAL with *err_off (byte offset) and a
 * message in err. */
int json_parse(const char *text, size_t len, struct json **out,
	       size_t *err_off, char *err, size_t errlen);
void json_free(struct json *j);

/* The value of key in an object (the first if repeated), or NULL; NULL
 * too if obj is not an object. */
const struct json *json_get(const struct json *obj, const char *key);
const char *json_type_name(enum json_type t);

#endif /* PD_JSON_H */
