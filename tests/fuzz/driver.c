/* tests/fuzz/driver.c - a plain main() for the fuzz targets, without
 * libFuzzer: every file named (or found in a folder named) on the command
 * line is fed to LLVMFuzzerTestOneInput once, each under an alarm of
 * PD_FUZZ_TIMEOUT seconds (default 20), so a hang kills the run (SIGALRM)
 * as a crash does.  Exit 0 only when every input ran; it says how many.
 * `make check` runs it on tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regress/<target>/ (tests/test_fuzz_regress.py).
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned timeout_s = 20;
static unsigned long nr_run;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return 1;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			if (!buf) {
				fclose(f);
				return 1;
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n);
	fclose(f);
	fprintf(stderr, "driver: %s (%zu bytes)\n", path, len);
	alarm(timeout_s);
	/* a copy of exactly len bytes, so ASan sees any read past the end */
	uint8_t *exact = malloc(len ? len : 1);

	if (!exact) {
		free(buf);
		return 1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	alarm(0);
	free(exact);
	nr_run++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t nr = 0;
	DIR *d;
	int rc = 0;

	if (stat(path, &st)) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	d = opendir(path);
	if (!d) {
		perror(path);
		return 1;
	}
	while ((de = readdir(d))) {
		char **nn;

		if (de->d_name[0] == '.')
			continue;
		nn = realloc(names, (nr + 1) * sizeof(*names));
		if (!nn)
			abort();
		names = nn;
		if (!(names[nr] = malloc(strlen(path) + strlen(de->d_name) + 2)))
			abort();
		sprintf(names[nr++], "%s/%s", path, de->d_name);
	}
	closedir(d);
	qsort(names, nr, sizeof(*names), cmp_str);
	for (size_t i = 0; i < nr; i++) {
		rc |= run_path(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *t = getenv("PD_FUZZ_TIMEOUT");
	int rc = 0;

	if (t && atoi(t) > 0)
		timeout_s = (unsigned)atoi(t);
#ifndef __SANITIZE_ADDRESS__
	/* As libFuzzer's -rss_limit_mb: an allocation sized by damaged
	 * metadata fails here instead of being overcommitted (ASan needs
	 * its address space, so not with SAN=1). */
	struct rlimit rl = { 4ul << 30, 4ul << 30 };

	setrlimit(RLIMIT_AS, &rl);
#endif
	signal(SIGALRM, SIG_DFL);
	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i]);
	fprintf(stderr, "driver: %lu inputs run%s\n", nr_run,
		rc ? ", some unreadable" : "");
	return rc;
}
