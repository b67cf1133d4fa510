/* harness/pdtool/xml.c - the streaming XML reader (see xml.h).
 *
 * Input is appended to one buffer; each pass takes whole tokens (text up
 * to '<', then a comment, processing instruction or tag up to its end) and
 * keeps an unfinished last token for the next xml_feed.  A tag is parsed in
 * place: names and decoded attribute values are cut out of the buffer with
 * NUL bytes, so reporting an element costs no allocation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml.h"

#define MAX_ATTRS 64		/* per element; thin_dump writes at most 7 */

struct xml_reader {
	struct xml_handler h;
	char *buf;			/* unconsumed input */
	size_t len, cap;
	unsigned long line;		/* line of buf[0] */
	unsigned long tok_line;		/* line of the token at hand */
	char **stack;			/* open elements, outermost first */
	size_t *stack_len;		/* bytes allocated per entry */
	size_t depth, stack_cap;	/* entries are kept for reuse */
	int seen_root, root_closed;
	int stopped;			/* a nonzero return was given */
	char err[160];
	const char *attrs[2 * MAX_ATTRS + 1];
};

int xml_reader_create(const struct xml_handler *h, struct xml_reader **result)
{
	struct xml_reader *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->h = *h;
	x->line = 1;
	*result = x;
	return 0;
}

void xml_reader_destroy(struct xml_reader *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->stack_cap; i++)
		free(x->stack[i]);
	free(x->stack);
	free(x->stack_len);
	free(x->buf);
	free(x);
}

unsigned long xml_line(const struct xml_reader *x)
{
	return x->tok_line ? x->tok_line : x->line;
}

const char *xml_error(const struct xml_reader *x)
{
	return x->err;
}

static int fail(struct xml_reader *x, const char *what)
{
	snprintf(x->err, sizeof(x->err), "%s", what);
	x->stopped = XML_ERR;
	return XML_ERR;
}

static unsigned long count_lines(const char *s, size_t n)
{
	unsigned long k = 0;
	const char *end = s + n;

	while ((s = memchr(s, '\n', (size_t)(end - s)))) {
		k++;
		s++;
	}
	return k;
}

static int is_name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || c >= 0x80;
}

static int is_name_char(unsigned char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.';
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A code point XML allows, as UTF-8 at *out; its length, or 0 if not. */
static size_t put_utf8(uint32_t cp, char *out)
{
	if (!(cp == 0x9 || cp == 0xa || cp == 0xd ||
	      (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	      (cp >= 0x10000 && cp <= 0x10ffff)))
		return 0;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the attribute value s[0..n) in place (entities, character
 * references, white space as spaces); its new length, or -1 if bad. */
static long decode_value(char *s, size_t n)
{
	static const struct { const char *name; char c; } ents[] = {
		{ "lt", '<' }, { "gt", '>' }, { "amp", '&' },
		{ "quot", '"' }, { "apos", '\'' },
	};
	size_t i = 0, o = 0;

	while (i < n) {
		char c = s[i];

		if (c == '<')
			return -1;
		if (c != '&') {
			s[o++] = is_space((unsigned char)c) ? ' ' : c;
			i++;
			continue;
		}
		char *semi = memchr(s + i, ';', n - i);
		size_t k = semi ? (size_t)(semi - (s + i)) : 0;	/* "&...;" */

		if (!semi || k < 2)
			return -1;
		if (s[i + 1] == '#') {
			int hex = s[i + 2] == 'x';
			uint32_t cp = 0;
			size_t j = i + 2 + hex, digits = 0;

			for (; j < i + k; j++, digits++) {
				unsigned char d = (unsigned char)s[j];
				unsigned v;

				if (d >= '0' && d <= '9')
					v = d - '0';
				else if (hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f')
					v = (d | 0x20) - 'a' + 10;
				else
					return -1;
				cp = cp * (hex ? 16 : 10) + v;
				if (cp > 0x10ffff)
					return -1;
			}
			if (!digits)
				return -1;
			char u[4];
			size_t ul = put_utf8(cp, u);

			if (!ul)
				return -1;
			memcpy(s + o, u, ul);	/* "&#N;" is at least 4 bytes */
			o += ul;
		} else {
			size_t e = 0;

			while (e < sizeof(ents) / sizeof(ents[0]) &&
			       (strlen(ents[e].name) != k - 1 ||
				memcmp(ents[e].name, s + i + 1, k - 1)))
				e++;
			if (e == sizeof(ents) / sizeof(ents[0]))
				return -1;
			s[o++] = ents[e].c;
		}
		i += k + 1;
	}
	return (long)o;
}

static size_t scan_name(const char *s, size_t i, size_t end)
{
	if (i >= end || !is_name_start((unsigned char)s[i]))
		return i;
	for (i++; i < end && is_name_char((unsigned char)s[i]); i++)
		;
	return i;
}

static int push(struct xml_reader *x, const char *name)
{
	size_t len = strlen(name) + 1;

	if (x->depth == x->stack_cap) {
		size_t cap = x->stack_cap ? 2 * x->stack_cap : 8;
		char **n = realloc(x->stack, cap * sizeof(*n));
		size_t *l;

		if (!n)
			return -ENOMEM;
		x->stack = n;
		l = realloc(x->stack_len, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		x->stack_len = l;
		for (size_t i = x->stack_cap; i < cap; i++) {
			x->stack[i] = NULL;
			x->stack_len[i] = 0;
		}
		x->stack_cap = cap;
	}
	if (x->stack_len[x->depth] < len) {
		char *e = realloc(x->stack[x->depth], len);

		if (!e)
			return -ENOMEM;
		x->stack[x->depth] = e;
		x->stack_len[x->depth] = len;
	}
	memcpy(x->stack[x->depth], name, len);
	x->depth++;
	return 0;
}

static int end_element(struct xml_reader *x, const char *name)
{
	x->depth--;
	if (!x->depth)
		x->root_closed = 1;
	return x->h.end ? x->h.end(x->h.ctx, name) : 0;
}

/* The start tag s[0..q] ('<' at 0, '>' at q). */
static int start_tag(struct xml_reader *x, char *s, size_t q)
{
	size_t cut[2 * MAX_ATTRS + 1], nc = 0, na = 0;
	size_t i = 1, e = scan_name(s, 1, q);
	int empty = 0, r;

	if (e == 1)
		return fail(x, "not well-formed (invalid token)");
	cut[nc++] = e;
	i = e;
	for (;;) {
		size_t sp = i, ns, ne, v0, v1;
		char quote, *close;
		long dl;

		while (i < q && is_space((unsigned char)s[i]))
			i++;
		if (i == q)
			break;
		if (s[i] == '/' && i + 1 == q) {
			empty = 1;
			break;
		}
		if (i == sp)
			return fail(x, "not well-formed (invalid token)");
		ns = i;
		ne = scan_name(s, i, q);
		if (ne == ns)
			return fail(x, "not well-formed (invalid token)");
		for (i = ne; i < q && is_space((unsigned char)s[i]); i++)
			;
		if (i == q || s[i] != '=')
			return fail(x, "not well-formed (invalid token)");
		for (i++; i < q && is_space((unsigned char)s[i]); i++)
			;
		if (i == q || (s[i] != '"' && s[i] != '\''))
			return fail(x, "not well-formed (invalid token)");
		quote = s[i];
		v0 = i + 1;
		close = memchr(s + v0, quote, q - v0);
		if (!close)
			return fail(x, "not well-formed (invalid token)");
		v1 = (size_t)(close - s);
		for (size_t a = 0; a < na; a++) {
			const char *other = x->attrs[2 * a];
			size_t ol = cut[1 + 2 * a] - (size_t)(other - s);

			if (ol == ne - ns && !memcmp(other, s + ns, ol))
				return fail(x, "duplicate attribute");
		}
		if (na == MAX_ATTRS)
			return fail(x, "too many attributes");
		dl = decode_value(s + v0, v1 - v0);
		if (dl < 0)
			return fail(x, "not well-formed (bad value: '<', or an "
				    "unknown entity or character reference)");
		x->attrs[2 * na] = s + ns;
		x->attrs[2 * na + 1] = s + v0;
		cut[nc++] = ne;
		cut[nc++] = v0 + (size_t)dl;
		na++;
		i = v1 + 1;
	}
	for (size_t k = 0; k < nc; k++)
		s[cut[k]] = 0;
	x->attrs[2 * na] = NULL;
	if (x->root_closed)
		return fail(x, "junk after document element");
	x->seen_root = 1;
	r = push(x, s + 1);
	if (r)
		return r;
	r = x->h.start ? x->h.start(x->h.ctx, s + 1, x->attrs) : 0;
	if (r)
		return r;
	return empty ? end_element(x, s + 1) : 0;
}

/* The end tag s[0..q]. */
static int end_tag(struct xml_reader *x, char *s, size_t q)
{
	size_t e = scan_name(s, 2, q), i;

	if (e == 2)
		return fail(x, "not well-formed (invalid token)");
	for (i = e; i < q && is_space((unsigned char)s[i]); i++)
		;
	if (i != q)
		return fail(x, "not well-formed (invalid token)");
	s[e] = 0;
	if (!x->depth || strcmp(x->stack[x->depth - 1], s + 2))
		return fail(x, "mismatched tag");
	return end_element(x, s + 2);
}

/* End of the tag starting at s[0], '>' outside quotes; 0 if not there. */
static size_t tag_end(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if (c == '>')
			return i;
		if (c == '"' || c == '\'') {
			const char *close = memchr(s + i + 1, c, n - i - 1);

			if (!close)
				return 0;
			i = (size_t)(close - s);
		}
	}
	return 0;
}

static size_t find(const char *s, size_t n, const char *what)
{
	size_t w = strlen(what);

	for (size_t i = 0; i + w <= n; i++) {
		const char *p = memchr(s + i, what[0], n - i);

		if (!p)
			return 0;
		i = (size_t)(p - s);
		if (i + w <= n && !memcmp(p, what, w))
			return i;
	}
	return 0;
}

/* Take every whole token of the buffer; 0, or nonzero to stop. */
static int take_tokens(struct xml_reader *x, int final, size_t *used)
{
	char *s = x->buf;
	size_t n = x->len, pos = 0;
	int r = 0;

	while (pos < n) {
		char *lt = memchr(s + pos, '<', n - pos);
		size_t text_end = lt ? (size_t)(lt - s) : n;

		if (!x->depth) {
			for (size_t i = pos; i < text_end; i++) {
				if (!is_space((unsigned char)s[i])) {
					x->tok_line = x->line +
						count_lines(s + pos, i - pos);
					return fail(x, x->root_closed ?
						    "junk after document element" :
						    "syntax error");
				}
			}
		}
		x->line += count_lines(s + pos, text_end - pos);
		pos = text_end;
		if (!lt)
			break;
		char *t = s + pos;
		size_t left = n - pos, len;

		x->tok_line = x->line;
		if (left < 4 && !final &&
		    (!memcmp(t, "<!--", left) || (left >= 2 && t[1] == '!')))
			break;		/* too short to know what it is */
		if (left >= 4 && !memcmp(t, "<!--", 4)) {
			size_t e = find(t + 4, left - 4, "-->");

			if (!e && (left < 7 || memcmp(t + 4, "-->", 3))) {
				if (final)
					return fail(x, "unclosed token");
				break;
			}
			len = 4 + e + 3;
		} else if (left >= 2 && t[1] == '?') {
			size_t e = find(t + 2, left - 2, "?>");

			if (!e && (left < 4 || memcmp(t + 2, "?>", 2))) {
				if (final)
					return fail(x, "unclosed token");
				break;
			}
			len = 2 + e + 2;
		} else if (left >= 2 && t[1] == '!') {
			return fail(x, "DOCTYPE, CDATA and declarations are not "
				    "supported");
		} else {
			size_t q = tag_end(t, left);

			if (!q) {
				if (final)
					return fail(x, "unclosed token");
				break;
			}
			len = q + 1;
			unsigned long nl = count_lines(t, len);

			r = t[1] == '/' ? end_tag(x, t, q) : start_tag(x, t, q);
			x->line += nl;
			pos += len;
			if (r) {
				if (!x->stopped)
					x->stopped = r;
				break;
			}
			continue;
		}
		x->line += count_lines(t, len);
		pos += len;
	}
	*used = pos;
	return r;
}

int xml_feed(struct xml_reader *x, const char *buf, size_t len, int final)
{
	size_t used = 0;
	int r;

	if (x->stopped)
		return x->stopped;
	if (x->len + len > x->cap) {
		size_t cap = x->cap ? x->cap : 1 << 16;
		char *n;

		while (cap < x->len + len)
			cap *= 2;
		n = realloc(x->buf, cap);
		if (!n)
			return x->stopped = -ENOMEM;
		x->buf = n;
		x->cap = cap;
	}
	if (len)	/* buf may be NULL with len 0, and x->buf too */
		memcpy(x->buf + x->len, buf, len);
	x->len += len;
	r = take_tokens(x, final, &used);
	if (r)
		return r;
	if (used)	/* x->buf is NULL until the first byte */
		memmove(x->buf, x->buf + used, x->len - used);
	x->len -= used;
	if (final) {
		x->tok_line = x->line;
		if (x->len)
			return fail(x, "unclosed token");
		if (!x->seen_root)
			return fail(x, "no element found");
		if (x->depth)
			return fail(x, "no closing tag for an open element");
	}
	return 0;
}

int xml_parse_file(const char *path, const char *prog,
		   const struct xml_handler *h, struct xml_reader **reader)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	int done = 0, r = 0;

	*reader = NULL;
	if (!f) {
		fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path,
			strerror(errno));
		return 2;
	}
	if (xml_reader_create(h, reader)) {
		fclose(f);
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	while (!done && !r) {
		size_t n = fread(buf, 1, sizeof(buf), f);

		if (ferror(f)) {
			fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path,
				strerror(errno));
			r = 2;
			break;
		}
		done = feof(f);
		r = xml_feed(*reader, buf, n, done);
		if (r == -ENOMEM) {
			fprintf(stderr, "%s: out of memory\n", prog);
			r = 1;
		} else if (r == XML_ERR) {
			fprintf(stderr, "%s: %s:%lu: XML error: %s\n", prog, path,
				xml_line(*reader), xml_error(*reader));
			r = 2;
		}
	}
	xml_reader_destroy(*reader);
	*reader = NULL;
	fclose(f);
	return r;
}
