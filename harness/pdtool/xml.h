/* harness/pdtool/xml.h - a small streaming XML reader for the documents
 * thin_dump and cache_dump write.
 *
 * It reports elements (start, with their attributes, and end) and nothing
 * else: character data is skipped, as thin_restore ignores it.  What it
 * accepts is well-formed XML 1.0 without a DOCTYPE: one root element, an
 * optional prolog of <?...?> processing instructions, comments anywhere
 * outside tags, attributes in '...' or "...", the five predefined entities
 * and character references (&#N; &#xN;, stored as UTF-8) in attribute
 * values.  Anything else is an error with the line it starts on:
 * unterminated tags or comments, mismatched end tags, a second root,
 * duplicate attributes, '<' in an attribute value, unknown entities, text
 * or elements after the root, a document that ends inside an element.
 *
 * Why not expat: restoring a million mappings spent more than half of its
 * time in expat's general machinery; this reader does the one job in a
 * single pass over each byte (tests/bench_pdtool.py measures it).
 *
 * Ownership: the reader copies what it keeps; buffers passed to xml_feed
 * may be reused at once.  The element name and attribute strings passed to
 * the handlers live until the handler returns.
 */
#ifndef PD_XML_H
#define PD_XML_H

#include <stddef.h>

struct xml_handler {
	void *ctx;
	/* attrs: name, value, name, value, ..., NULL.  A nonzero return
	 * stops the reader; xml_feed returns it. */
	int (*start)(void *ctx, const char *el, const char **attrs);
	int (*end)(void *ctx, const char *el);
};

struct xml_reader;

/* 0 or -ENOMEM. */
int xml_reader_create(const struct xml_handler *h, struct xml_reader **result);
void xml_reader_destroy(struct xml_reader *x);

/*
 * Feed the next len bytes of the document; final = 1 with the last (len
 * may be 0).  Returns 0, XML_ERR (a syntax error: xml_error() says what,
 * xml_line() where), a handler's nonzero return, or -ENOMEM.  After a
 * nonzero return the reader takes no more input.
 */
#define XML_ERR 1000
int xml_feed(struct xml_reader *x, const char *buf, size_t len, int final);

/*
 * Read the file at path through a new reader with handler h, in 64 KiB
 * chunks.  *reader is the reader while it runs (handlers may ask it for
 * xml_line) and NULL after.  Returns 0; a handler's nonzero return as it
 * is (the handler has said why); else, after a message "PROG: ..." on
 * stderr, 2 when the file cannot be read or is not well-formed XML (the
 * message names file and line) and 1 when out of memory.
 */
int xml_parse_file(const char *path, const char *prog,
		   const struct xml_handler *h, struct xml_reader **reader);

/* The line (from 1) of the token being reported or that failed. */
unsigned long xml_line(const struct xml_reader *x);
/* The syntax error, or "" if none. */
const char *xml_error(const struct xml_reader *x);

#endif /* PD_XML_H */
