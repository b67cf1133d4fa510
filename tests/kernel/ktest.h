/* tests/kernel/ktest.h - the kernel backend's C tests.
 *
 * Each tests/kernel/test_*.c is compiled once per kernel version (see
 * harness/kernel/kernel.mk) with that version's kernel include paths and
 * -include rename.h, so it calls the kernel's API by its own names
 * (dm_pool_metadata_open, dm_bufio_read, ...) and links against that
 * version's prefixed symbols.  TEST(name) here defines test_k61_name,
 * test_k612_name, ...; build/ktest runs them all (tests/unit/runner.c).
 */
#ifndef PD_KTEST_H
#define PD_KTEST_H

#include <linux/blkdev.h>
#include <stdio.h>

#include "test.h"
#include "bdev.h"
#include "simdisk.h"

#undef TEST
#define KTEST_NAME2(v, n) test_k##v##_##n
#define KTEST_NAME(v, n) KTEST_NAME2(v, n)
#define TEST(name) void KTEST_NAME(KTEST_VERSION, name)(void)

#define KBLOCK 4096u

/* A struct block_device on bd with the given dm-bufio knobs. */
static inline struct block_device ktest_bdev(struct bdev *bd, unsigned cache_blocks,
					     int writeback_ratio)
{
	struct block_device b = {
		.bd = bd,
		.cache_blocks = cache_blocks,
		.writeback_ratio = writeback_ratio,
	};
	return b;
}

/* A checker's message callback: each message on stderr. */
static inline void ktest_check_msg(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "check: %s\n", text);
}

/* name in the test's scratch directory (static buffer). */
static inline const char *ktest_image_path(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	return path;
}

#endif /* PD_KTEST_H */
