/* tests/unit/runner.c - runs the registered C unit tests.
 *
 * Usage: unit_tests [-l] [SUBSTRING...]
 *   -l           list the test names and exit
 *   SUBSTRING    run only tests whose name contains one of them
 * Each test runs in a forked child with a timeout (PD_TEST_TIMEOUT seconds,
 * default 60); a crash, a signal or a timeout is a failure.  A test that
 * calls test_skip() exits TEST_EXIT_SKIP and is reported `ok N - name #
 * SKIP reason`.  Output is TAP, closed by `N passed, N failed, N skipped`.
 * Exit 0 iff nothing failed, 2 on bad usage or when no test matched.
 * In the mutants build (make mutants), PD_MUTANT=NAME switches that planted
 * bug on for every test: the contract tests that must then fail are how
 * `make mutants` catches bugs no crash state can show.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mutant.h"
#include "test.h"

#define TEST_ENTRY(name) void test_##name(void);
#include "test_list.h"
#undef TEST_ENTRY

struct test_case {
	const char *name;
	void (*fn)(void);
};

static const struct test_case all_tests[] = {
#define TEST_ENTRY(name) { #name, test_##name },
#include "test_list.h"
#undef TEST_ENTRY
};

static const char *current_test;
static char tmpdir[256];

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	printf("# %s: %s:%d: ", current_test, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	_exit(1);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw);

/* The reason of a skip travels from the child through this file. */
static char skip_path[256];

void test_skip(const char *fmt, ...)
{
	va_list ap;
	FILE *f;

	fflush(stdout);
	f = skip_path[0] ? fopen(skip_path, "w") : NULL;
	va_start(ap, fmt);
	if (f) {
		vfprintf(f, fmt, ap);
		fclose(f);
	} else {
		printf("# %s: skip: ", current_test);
		vprintf(fmt, ap);
		printf("\n");
	}
	va_end(ap);
	fflush(stdout);
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	_exit(TEST_EXIT_SKIP);
}

uint64_t test_seed(uint64_t dflt)
{
	const char *s = getenv("PD_TEST_SEED");
	uint64_t seed = dflt;

	if (s && *s)
		seed = strtoull(s, NULL, 0);
	printf("# %s: seed %" PRIu64 " (replay with PD_TEST_SEED=%" PRIu64
	       " build/unit_tests %s)\n", current_test, seed, seed, current_test);
	fflush(stdout);
	return seed;
}

const char *test_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/pd-unit-XXXXXX",
			 base && *base ? base : "/tmp");
		if (!mkdtemp(tmpdir))
			test_fail(__FILE__, __LINE__, "mkdtemp %s: %s", tmpdir,
				  strerror(errno));
	}
	return tmpdir;
}

const char *test_build_dir(void)
{
	const char *b = getenv("PD_BUILD");

	return b && *b ? b : "build";
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int matches(const char *name, int argc, char **argv)
{
	if (argc == 0)
		return 1;
	for (int i = 0; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

enum result { RES_PASS, RES_FAIL, RES_SKIP };

/* Prints the reason of a failure; a skip's reason goes to reason. */
static enum result run_one(const struct test_case *t, unsigned timeout,
			   char *reason, size_t len)
{
	int status;
	pid_t pid;

	current_test = t->name;
	reason[0] = 0;
	if (getenv("PD_TEST_NOFORK")) {
		t->fn();
		return RES_PASS;
	}
	remove(skip_path);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("# %s: fork: %s\n", t->name, strerror(errno));
		return RES_FAIL;
	}
	if (pid == 0) {
		alarm(timeout);
		t->fn();
		if (tmpdir[0])
			nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return RES_FAIL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_EXIT_SKIP) {
		FILE *f = fopen(skip_path, "r");

		if (f) {
			if (!fgets(reason, (int)len, f))
				reason[0] = 0;
			reason[strcspn(reason, "\n")] = 0;
			fclose(f);
		}
		return RES_SKIP;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status) != 0 ? RES_FAIL : RES_PASS;
	if (WTERMSIG(status) == SIGALRM)
		printf("# %s: timed out after %u s\n", t->name, timeout);
	else
		printf("# %s: killed by signal %d (%s)\n", t->name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	return RES_FAIL;
}

int main(int argc, char **argv)
{
	unsigned timeout = 60, passed = 0, failed = 0, skipped = 0;
	unsigned selected = 0;
	char reason[256];
	const char *env = getenv("PD_TEST_TIMEOUT");
	size_t n = sizeof(all_tests) / sizeof(all_tests[0]);

	if (env && *env)
		timeout = (unsigned)strtoul(env, NULL, 10);
	env = getenv("PD_MUTANT");
	if (env && *env && pd_mutant_set(env)) {
		fprintf(stderr, "%s: PD_MUTANT=%s: no such mutant in this build "
			"(make mutants builds build/mutants/unit_tests)\n",
			argv[0], env);
		return 2;
	}
	if (argc > 1 && !strcmp(argv[1], "-l")) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", all_tests[i].name);
		return 0;
	}
	if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "usage: %s [-l] [SUBSTRING...]\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		selected += matches(all_tests[i].name, argc - 1, argv + 1);
	if (!selected) {
		fprintf(stderr, "%s: no test matches\n", argv[0]);
		return 2;
	}
	snprintf(skip_path, sizeof(skip_path), "%s/pd-unit-skip-%ld",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (long)getpid());
	printf("1..%u\n", selected);
	unsigned k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct test_case *t = &all_tests[i];
		struct timespec t0, t1;

		if (!matches(t->name, argc - 1, argv + 1))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		enum result r = run_one(t, timeout, reason, sizeof(reason));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (t1.tv_sec - t0.tv_sec) * 1e3 +
			    (t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (r == RES_SKIP)
			printf("ok %u - %s # SKIP %s\n", ++k, t->name,
			       reason[0] ? reason : "(no reason given)");
		else
			printf("%s %u - %s (%.0f ms)\n",
			       r == RES_FAIL ? "not ok" : "ok", ++k, t->name, ms);
		fflush(stdout);
		if (r == RES_FAIL)
			failed++;
		else if (r == RES_SKIP)
			skipped++;
		else
			passed++;
	}
	remove(skip_path);
	printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
