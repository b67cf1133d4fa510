/* tests/fuzz/fuzz_json.c - `pdcrash merge`'s JSON reader
 * (harness/pdcrash/json.h) on arbitrary bytes (the tree is then walked),
 * and merge itself (cmd_merge) on one or two such files, written to
 * memory files: the input is split at its first NUL byte, if any.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "json.h"
#include "commands.h"

static size_t walk(const struct json *j, unsigned depth)
{
	size_t n = 1;

	if (depth > JSON_MAX_DEPTH + 1)
		abort();		/* deeper than json.h promises */
	json_type_name(j->type);
	if (j->type == JSON_STRING)
		n += strlen(j->str);
	for (size_t i = 0; (j->type == JSON_ARRAY || j->type == JSON_OBJECT) &&
	     i < j->nr; i++) {
		if (j->type == JSON_OBJECT)
			n += json_get(j, j->keys[i]) ? 1 : 0;
		n += walk(&j->items[i], depth + 1);
	}
	return n;
}

static int memfile(const uint8_t *d, size_t len, char *path, size_t plen)
{
	int fd = memfd_create("fuzz-json", 0);

	if (fd < 0)
		abort();
	if (len && write(fd, d, len) != (ssize_t)len)
		abort();
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	char err[200], p1[64], p2[64];
	struct json *j;
	size_t off;
	const uint8_t *nul = memchr(data, 0, size);

	if (!quiet) {	/* merge prints its JSON on stdout */
		int fd = open("/dev/null", 1);

		if (fd >= 0)
			dup2(fd, 1);
		quiet = 1;
	}
	if (!json_parse((const char *)data, size, &j, &off, err, sizeof(err))) {
		walk(j, 0);
		json_free(j);
	}
	size_t l1 = nul ? (size_t)(nul - data) : size;
	int fd1 = memfile(data, l1, p1, sizeof(p1)), fd2 = -1;
	char *argv[3] = { p1, p2, NULL };

	if (nul)
		fd2 = memfile(nul + 1, size - l1 - 1, p2, sizeof(p2));
	cmd_merge(nul ? 2 : 1, argv);
	close(fd1);
	if (fd2 >= 0)
		close(fd2);
	return 0;
}
