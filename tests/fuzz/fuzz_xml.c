/* tests/fuzz/fuzz_xml.c - pdtool's XML reader (harness/pdtool/xml.h) fed
 * in chunks of every size, and pdtool restore's parse of it: both passes
 * (count, then build the pool on a 128-block memory device), with
 * restore.c's own handlers (the file is included, so its static
 * functions run as they are), then a commit and a structural check.
 * Byte 0 picks the chunk size (1..256, 0 = all at once); the rest is the
 * document.
 */
#include "fuzz.h"
#include "check.h"
#include "thin.h"
#include "xml.h"

#include "../../harness/pdtool/restore.c"

static int count_start(void *ctx, const char *el, const char **attrs)
{
	size_t *n = ctx;

	*n += strlen(el);
	for (size_t i = 0; attrs[i]; i += 2)
		*n += strlen(attrs[i]) + strlen(attrs[i + 1]);
	return 0;
}

static int count_end(void *ctx, const char *el)
{
	(void)el;
	(*(size_t *)ctx)++;
	return 0;
}

/* 0 or nonzero, as parse_file() (without the file). */
static int feed(struct xml_handler *h, struct xml_reader **xp,
		const uint8_t *doc, size_t len, size_t chunk, int *failed)
{
	size_t off = 0;
	int r = 0;

	if (xml_reader_create(h, xp))
		return 1;
	do {
		size_t n = len - off < chunk ? len - off : chunk;

		r = xml_feed(*xp, (const char *)doc + off, n, off + n == len);
		if (r) {
			xml_error(*xp);
			xml_line(*xp);
		}
		off += n;
	} while (!r && off < len && !(failed && *failed));
	xml_reader_destroy(*xp);
	*xp = NULL;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct overrides ov = { 0 };
	struct xml_reader *x;
	struct parser p;
	size_t chunk, n = 0;

	if (size < 1)
		return 0;
	chunk = data[0] ? data[0] : SIZE_MAX;
	data++;
	size--;

	/* the reader alone */
	struct xml_handler hc = { &n, count_start, count_end };
	feed(&hc, &x, data, size, chunk, NULL);

	/* restore's two passes */
	memset(&p, 0, sizeof(p));
	p.path = "fuzz.xml";
	p.ov = &ov;
	p.count_only = 1;
	struct xml_handler h = { &p, start_el, end_el };
	if (feed(&h, &p.xp, data, size, chunk, &p.failed) || p.failed ||
	    !p.seen_superblock)
		return 0;

	struct fz_bdev *m = fz_bdev_new(128);

	memset(&p, 0, sizeof(p));
	p.path = "fuzz.xml";
	p.ov = &ov;
	p.bd = &m->bd;
	h.ctx = &p;
	if (!feed(&h, &p.xp, data, size, chunk, &p.failed) && !p.failed &&
	    p.pool && !thin_commit(p.pool)) {
		struct check_result res;

		thin_pool_destroy(p.pool);
		p.pool = NULL;
		if (!patch_superblock(&m->bd, &p))
			check_thin_metadata(&m->bd, 0, fz_msg, &n, &res);
	}
	if (p.pool)
		thin_pool_destroy(p.pool);
	fz_destroy(&m->bd);
	return 0;
}
