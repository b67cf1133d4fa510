/* harness/pdcrash/json.c - the small JSON reader (see json.h).
 *
 * A recursive-descent parser over (text, len) with an explicit depth
 * bound.  Values are built into caller-owned trees: every value owns its
 * string, its items and its keys; json_free() releases a tree whole, and
 * a failed parse frees whatever it had built.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct jparser {
	const char *s;
	size_t len, pos;
	int depth;
	size_t err_off;
	char *err;
	size_t errlen;
	int nomem;
};

__attribute__((format(printf, 2, 3)))
static int jfail(struct jparser *p, const char *fmt, ...)
{
	va_list ap;

	p->err_off = p->pos;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int jnomem(struct jparser *p)
{
	p->nomem = 1;
	p->err_off = p->pos;
	snprintf(p->err, p->errlen, "out of memory");
	return -ENOMEM;
}

static void skip_ws(struct jparser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int peek(const struct jparser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void free_value(struct json *j)
{
	if (j->type == JSON_STRING)
		free(j->str);
	if (j->type == JSON_ARRAY || j->type == JSON_OBJECT) {
		for (size_t i = 0; i < j->nr; i++) {
			free_value(&j->items[i]);
			if (j->keys)
				free(j->keys[i]);
		}
		free(j->items);
		free(j->keys);
	}
	memset(j, 0, sizeof(*j));
}

void json_free(struct json *j)
{
	if (!j)
		return;
	free_value(j);
	free(j);
}

static int hex4(struct jparser *p, unsigned *v)
{
	*v = 0;
	if (p->len - p->pos < 4)
		return jfail(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		int c = p->s[p->pos + i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return jfail(p, "bad hex digit in \\u escape");
	}
	p->pos += 4;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote.  The decoded text is never longer than the
 * source span, so one buffer of that size is enough. */
static int parse_string(struct jparser *p, char **out)
{
	size_t start = ++p->pos, end = start;
	char *buf, *o;
	int r;

	while (end < p->len && p->s[end] != '"')
		end += p->s[end] == '\\' ? 2 : 1;
	if (end >= p->len) {
		p->pos = start - 1;
		return jfail(p, "unterminated string");
	}
	buf = malloc(end - start + 1);
	if (!buf)
		return jnomem(p);
	o = buf;
	while (p->s[p->pos] != '"') {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c < 0x20) {
			r = jfail(p, "control character in string");
			goto out_free;
		}
		if (c != '\\') {
			*o++ = (char)c;
			p->pos++;
			continue;
		}
		p->pos++;
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if ((r = hex4(p, &cp)))
				goto out_free;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				r = jfail(p, "lone low surrogate in \\u escape");
				goto out_free;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
				    p->s[p->pos + 1] != 'u') {
					r = jfail(p, "high surrogate without its low half");
					goto out_free;
				}
				p->pos += 2;
				if ((r = hex4(p, &lo)))
					goto out_free;
				if (lo < 0xdc00 || lo > 0xdfff) {
					r = jfail(p, "bad low surrogate in \\u escape");
					goto out_free;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (!cp) {
				r = jfail(p, "\\u0000 in a string is not supported");
				goto out_free;
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			p->pos--;
			r = jfail(p, "bad escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
			goto out_free;
		}
	}
	p->pos++;
	*o = 0;
	*out = buf;
	return 0;

out_free:
	free(buf);
	return r;
}

static int parse_number(struct jparser *p, struct json *j)
{
	size_t start = p->pos;
	int integer = 1, neg = 0;
	char tmp[400];
	char *end;

	if (peek(p) == '-') {
		neg = 1;
		p->pos++;
	}
	if (peek(p) == '0') {
		p->pos++;
	} else if (peek(p) >= '1' && peek(p) <= '9') {
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	} else {
		return jfail(p, "bad number");
	}
	if (peek(p) == '.') {
		integer = 0;
		p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return jfail(p, "bad number: no digit after '.'");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		integer = 0;
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return jfail(p, "bad number: no digit in the exponent");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof(tmp)) {
		p->pos = start;
		return jfail(p, "number too long");
	}
	memcpy(tmp, p->s + start, p->pos - start);
	tmp[p->pos - start] = 0;
	j->type = JSON_NUMBER;
	j->num = strtod(tmp, &end);
	if (integer && !neg) {
		errno = 0;
		j->u64 = strtoull(tmp, &end, 10);
		j->is_u64 = !errno && !*end;
	}
	return 0;
}

static int parse_value(struct jparser *p, struct json *j);

/* At '[' or '{'. */
static int parse_container(struct jparser *p, struct json *j, int object)
{
	size_t cap = 0;
	int r;

	if (++p->depth > JSON_MAX_DEPTH)
		return jfail(p, "nested deeper than %d", JSON_MAX_DEPTH);
	j->type = object ? JSON_OBJECT : JSON_ARRAY;
	p->pos++;
	skip_ws(p);
	if (peek(p) == (object ? '}' : ']')) {
		p->pos++;
		p->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;

		skip_ws(p);
		if (object) {
			if (peek(p) != '"')
				return jfail(p, "expected a string key");
			if ((r = parse_string(p, &key)))
				return r;
			skip_ws(p);
			if (peek(p) != ':') {
				free(key);
				return jfail(p, "expected ':' after a key");
			}
			p->pos++;
		}
		if (j->nr == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct json *items = realloc(j->items, ncap * sizeof(*items));

			if (!items) {
				free(key);
				return jnomem(p);
			}
			j->items = items;
			if (object) {
				char **keys = realloc(j->keys, ncap * sizeof(*keys));

				if (!keys) {
					free(key);
					return jnomem(p);
				}
				j->keys = keys;
			}
			cap = ncap;
		}
		memset(&j->items[j->nr], 0, sizeof(j->items[0]));
		if (object)
			j->keys[j->nr] = key;
		j->nr++;
		if ((r = parse_value(p, &j->items[j->nr - 1])))
			return r;
		skip_ws(p);
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == (object ? '}' : ']')) {
			p->pos++;
			p->depth--;
			return 0;
		}
		return jfail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int literal(struct jparser *p, const char *word, enum json_type t,
		   struct json *j)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
		return jfail(p, "unexpected text (not a JSON value)");
	p->pos += n;
	j->type = t;
	return 0;
}

/* On error the value may hold a partly built tree: the caller frees it. */
static int parse_value(struct jparser *p, struct json *j)
{
	int c;

	skip_ws(p);
	c = peek(p);
	switch (c) {
	case -1:
		return jfail(p, "unexpected end of input");
	case '{':
		return parse_container(p, j, 1);
	case '[':
		return parse_container(p, j, 0);
	case '"':
		j->type = JSON_STRING;
		return parse_string(p, &j->str);
	case 't':
		return literal(p, "true", JSON_TRUE, j);
	case 'f':
		return literal(p, "false", JSON_FALSE, j);
	case 'n':
		return literal(p, "null", JSON_NULL, j);
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return parse_number(p, j);
		return jfail(p, "unexpected character '%c'",
			     c >= 0x20 && c < 0x7f ? c : '?');
	}
}

int json_parse(const char *text, size_t len, struct json **out,
	       size_t *err_off, char *err, size_t errlen)
{
	struct jparser p = { text, len, 0, 0, 0, err, errlen, 0 };
	struct json *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	r = parse_value(&p, j);
	if (!r) {
		skip_ws(&p);
		if (p.pos < p.len)
			r = jfail(&p, "text after the JSON value");
	}
	if (r) {
		json_free(j);
		*err_off = p.err_off;
		return p.nomem ? -ENOMEM : r;
	}
	*out = j;
	return 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->nr; i++)
		if (!strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

const char *json_type_name(enum json_type t)
{
	static const char *const names[] = {
		[JSON_NULL] = "null", [JSON_FALSE] = "false", [JSON_TRUE] = "true",
		[JSON_NUMBER] = "a number", [JSON_STRING] = "a string",
		[JSON_ARRAY] = "an array", [JSON_OBJECT] = "an object",
	};

	return t <= JSON_OBJECT ? names[t] : "?";
}
