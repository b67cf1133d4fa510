/* tests/unit/test_xml.c - the streaming XML reader of pdtool restore
 * (harness/pdtool/xml.h): events, entities, errors with their lines, and
 * the same events whatever the chunking of the input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "prng.h"
#include "test.h"
#include "xml.h"

/* Every event as text: "<el a=v b=w>" and "</el>", one per line. */
struct trace {
	char text[4096];
	size_t len;
	int stop_at;			/* stop (return 7) at this start, 0 never */
	int starts;
};

static void add(struct trace *t, const char *s)
{
	size_t n = strlen(s);

	ASSERT_TRUE(t->len + n + 1 < sizeof(t->text));
	memcpy(t->text + t->len, s, n + 1);
	t->len += n;
}

static int on_start(void *ctx, const char *el, const char **attrs)
{
	struct trace *t = ctx;

	add(t, "<");
	add(t, el);
	for (size_t i = 0; attrs[i]; i += 2) {
		add(t, " ");
		add(t, attrs[i]);
		add(t, "=");
		add(t, attrs[i + 1]);
	}
	add(t, ">\n");
	return ++t->starts == t->stop_at ? 7 : 0;
}

static int on_end(void *ctx, const char *el)
{
	struct trace *t = ctx;

	add(t, "</");
	add(t, el);
	add(t, ">\n");
	return 0;
}

/* Parse doc in chunks of `chunk` bytes (0: all at once). */
static int parse(const char *doc, size_t chunk, struct trace *t,
		 char *err, size_t errlen, unsigned long *line)
{
	struct xml_handler h = { t, on_start, on_end };
	struct xml_reader *x;
	size_t n = strlen(doc), at = 0;
	int r = 0;

	ASSERT_OK(xml_reader_create(&h, &x));
	if (!chunk)
		chunk = n ? n : 1;
	while (!r) {
		size_t k = n - at < chunk ? n - at : chunk;

		r = xml_feed(x, doc + at, k, at + k == n);
		at += k;
		if (at == n)
			break;
	}
	snprintf(err, errlen, "%s", xml_error(x));
	*line = xml_line(x);
	xml_reader_destroy(x);
	return r;
}

static const char doc_ok[] =
	"<?xml version=\"1.0\"?>\n"
	"<!-- a comment -->\n"
	"<superblock uuid=\"\" time='3' name=\"a&amp;b&lt;&#65;&#x42;\">\n"
	"  <device dev_id=\"1\">\n"
	"    <single_mapping origin_block=\"0\" data_block=\"5\" time=\"0\"/>\n"
	"    <!-- <not_an_element/> -->\n"
	"  </device >\n"
	"</superblock>\n"
	"<!-- trailing comment -->\n";

static const char trace_ok[] =
	"<superblock uuid= time=3 name=a&b<AB>\n"
	"<device dev_id=1>\n"
	"<single_mapping origin_block=0 data_block=5 time=0>\n"
	"</single_mapping>\n"
	"</device>\n"
	"</superblock>\n";

TEST(xml_events_and_entities)
{
	struct trace t = { 0 };
	unsigned long line;
	char err[200];

	ASSERT_OK(parse(doc_ok, 0, &t, err, sizeof(err), &line));
	ASSERT_TRUE(!strcmp(t.text, trace_ok));
}

/* Any split of the input gives the same events: every chunk size from
 * 1 byte up, and seeded random chunkings. */
TEST(xml_same_events_for_any_chunking)
{
	struct prng p;
	unsigned long line;
	char err[200];

	for (size_t chunk = 1; chunk <= sizeof(doc_ok); chunk++) {
		struct trace t = { 0 };

		ASSERT_OK(parse(doc_ok, chunk, &t, err, sizeof(err), &line));
		if (strcmp(t.text, trace_ok))
			test_fail(__FILE__, __LINE__, "chunk %zu:\n%s", chunk, t.text);
	}
	prng_seed(&p, test_seed(5));
	for (int k = 0; k < 200; k++) {
		struct trace t = { 0 };
		size_t chunk = 1 + prng_below(&p, 40);

		ASSERT_OK(parse(doc_ok, chunk, &t, err, sizeof(err), &line));
		ASSERT_TRUE(!strcmp(t.text, trace_ok));
	}
}

/* Each bad document: the error and the line it names. */
TEST(xml_errors_name_what_and_line)
{
	static const struct {
		const char *doc, *needle;
		unsigned long line;
	} bad[] = {
		{ "<a x=\"1\"", "unclosed token", 1 },
		{ "<a>\n<b>\n</a>", "mismatched tag", 3 },
		{ "<a/>\n<b/>", "junk after document element", 2 },
		{ "<a/>\ntext", "junk after document element", 2 },
		{ "text<a/>", "syntax error", 1 },
		{ "<a x=\"1\" x=\"2\"/>", "duplicate attribute", 1 },
		{ "<a x=\"<\"/>", "bad value", 1 },
		{ "<a x=\"&bogus;\"/>", "bad value", 1 },
		{ "<a x=\"&#0;\"/>", "bad value", 1 },
		{ "<a x=1/>", "invalid token", 1 },
		{ "<a x=\"1\"y=\"2\"/>", "invalid token", 1 },
		{ "<1a/>", "invalid token", 1 },
		{ "<a>\n\n<!-- never closed", "unclosed token", 3 },
		{ "<!DOCTYPE a>\n<a/>", "not supported", 1 },
		{ "<a>\n<b>\n", "no closing tag", 3 },
		{ "", "no element found", 1 },
		{ "</a>", "mismatched tag", 1 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t chunk = 0; chunk <= 3; chunk++) {
			struct trace t = { 0 };
			unsigned long line;
			char err[200];
			int r = parse(bad[i].doc, chunk, &t, err, sizeof(err), &line);

			if (r != XML_ERR || !strstr(err, bad[i].needle) ||
			    line != bad[i].line)
				test_fail(__FILE__, __LINE__, "'%s' (chunk %zu): %d '%s' "
					  "line %lu; want '%s' line %lu", bad[i].doc,
					  chunk, r, err, line, bad[i].needle,
					  bad[i].line);
		}
	}
}

/* A handler's nonzero return stops the reader and is what xml_feed
 * returns, then and after. */
TEST(xml_handler_stop_is_returned)
{
	struct trace t = { .stop_at = 2 };
	struct xml_handler h = { &t, on_start, on_end };
	struct xml_reader *x;

	ASSERT_OK(xml_reader_create(&h, &x));
	ASSERT_EQ(xml_feed(x, doc_ok, strlen(doc_ok), 1), 7);
	ASSERT_EQ(t.starts, 2);
	ASSERT_EQ(xml_line(x), 4);
	ASSERT_EQ(xml_feed(x, "", 0, 1), 7);
	xml_reader_destroy(x);
}
