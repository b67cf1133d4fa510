/* tests/unit/test.h - the C unit-test kit.
 *
 * A test is `TEST(name) { ... }` in tests/unit/test_<component>.c; the
 * Makefile finds every TEST( line and registers it (build/test_list.h), so
 * adding a test is adding a function.  The runner (runner.c) runs each test
 * in a forked child with a timeout, prints TAP, and ends with the line
 * `N passed, N failed, N skipped`.  Asserts print both sides and stop the
 * test.  A test that cannot run here (a tool or CPU feature missing, a
 * build without fault points) calls TEST_SKIP(reason): it is counted as
 * skipped, never as passed.
 *
 * Knobs in the environment:
 *   PD_TEST_TIMEOUT  seconds per test (default 60)
 *   PD_TEST_SEED     seed for randomised tests (default: fixed per test)
 *   PD_TEST_NOFORK   run in-process (for gdb; a failure stops the run)
 *   PD_BUILD         where the programs some tests run are (default build)
 */
#ifndef PD_TEST_H
#define PD_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

#define TEST(name) void test_##name(void)

void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
/* End the test as skipped, with the reason (TAP `# SKIP reason`). */
void test_skip(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
#define TEST_SKIP(...) test_skip(__VA_ARGS__)
/* Exit status of a test process that skipped (as automake's). */
#define TEST_EXIT_SKIP 77
/* Seed for a randomised test: PD_TEST_SEED or dflt; printed once. */
uint64_t test_seed(uint64_t dflt);
/* A scratch directory for this test, removed after it passes. */
const char *test_tmpdir(void);
/* The build directory with the programs ($PD_BUILD, default "build"). */
const char *test_build_dir(void);

#define ASSERT_TRUE(c) do { \
	if (!(c)) \
		test_fail(__FILE__, __LINE__, "expected true: %s", #c); \
} while (0)

#define ASSERT_EQ(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) \
		test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", \
			  #a, #b, a_, b_); \
} while (0)

#define ASSERT_NE(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ == b_) \
		test_fail(__FILE__, __LINE__, "%s != %s: both %lld", \
			  #a, #b, a_); \
} while (0)

#define ASSERT_UEQ(a, b) do { \
	unsigned long long a_ = (unsigned long long)(a), \
			   b_ = (unsigned long long)(b); \
	if (a_ != b_) \
		test_fail(__FILE__, __LINE__, "%s == %s: %llu (0x%llx) != %llu (0x%llx)", \
			  #a, #b, a_, a_, b_, b_); \
} while (0)

/* r is 0 or -errno */
#define ASSERT_OK(r) do { \
	int r_ = (r); \
	if (r_ != 0) \
		test_fail(__FILE__, __LINE__, "%s returned %d (%s)", \
			  #r, r_, pd_strerror(r_)); \
} while (0)

#define ASSERT_ERR(r, e) do { \
	int r_ = (r), e_ = (e); \
	if (r_ != e_) \
		test_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s)", \
			  #r, r_, pd_strerror(r_), e_, pd_strerror(e_)); \
} while (0)

#define ASSERT_MEMEQ(a, b, n) do { \
	const unsigned char *a_ = (const void *)(a), *b_ = (const void *)(b); \
	size_t n_ = (n), i_; \
	for (i_ = 0; i_ < n_ && a_[i_] == b_[i_]; i_++) \
		; \
	if (i_ < n_) \
		test_fail(__FILE__, __LINE__, "%s and %s differ at byte %zu: 0x%02x != 0x%02x", \
			  #a, #b, i_, a_[i_], b_[i_]); \
} while (0)

#define ASSERT_STREQ(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (strcmp(a_, b_)) \
		test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", \
			  #a, #b, a_, b_); \
} while (0)

#endif /* PD_TEST_H */
