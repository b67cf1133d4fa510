/* tests/fuzz/fuzz_thin.h - what pdtool and the core do with a thin
 * metadata image, run on a possibly damaged one: the structural checker
 * (pdtool check), the open-and-walk path of core/thin.h (list devices,
 * details, lookups, walks) through pdtool dump's own code (dump.c is
 * included, so its static dump_pool / dump_snapshot run as they are), the
 * held metadata snapshot, and optionally a few changes and a commit on a
 * read-write open of a copy.  Nothing here may crash, hang or leak.
 */
#ifndef PD_FUZZ_THIN_H
#define PD_FUZZ_THIN_H

#include "fuzz.h"
#include "check.h"
#include "thin.h"

#include "../../harness/pdtool/dump.c"

enum fz_thin_flags {
	FZ_THIN_WRITE = (1 << 0),	/* also change and commit a copy */
	FZ_THIN_STRICT = (1 << 1),	/* checker with CHECK_STRICT */
};

static FILE *fz_devnull(void)
{
	static FILE *f;

	if (!f && !(f = fopen("/dev/null", "w")))
		abort();
	return f;
}

static void fz_thin_lookups(struct thin_pool *pool)
{
	uint64_t *devs = NULL;
	size_t nr = 0;
	pd_block_t n;
	uint64_t tid;
	uint32_t t;
	int nc;

	thin_get_nr_data_blocks(pool, &n);
	thin_get_free_data_blocks(pool, &n);
	thin_get_nr_metadata_blocks(pool, &n);
	thin_get_free_metadata_blocks(pool, &n);
	thin_get_transaction_id(pool, &tid);
	thin_get_time(pool, &t);
	thin_get_needs_check(pool, &nc);
	thin_get_metadata_snap(pool, &n);
	if (thin_list_devs_alloc(pool, &devs, &nr))
		return;
	for (size_t i = 0; i < nr && i < 8; i++) {
		static const uint64_t vb[] = { 0, 1, 83, 84, 200, 1000,
					       UINT64_MAX };
		struct thin_lookup_result lr;
		struct thin_dev_info info;

		thin_dev_info(pool, devs[i], &info);
		for (size_t j = 0; j < PD_ARRAY_SIZE(vb); j++)
			thin_lookup(pool, devs[i], vb[j], &lr);
	}
	free(devs);
}

/* Changes on a read-write open: whatever fails, it must fail cleanly. */
static void fz_thin_write(const struct fz_bdev *img)
{
	struct fz_bdev *m = fz_bdev_copy(img);
	struct thin_pool_params p = { .cache_blocks = 16 };
	struct thin_pool *pool;
	uint64_t *devs = NULL;
	size_t nr = 0;
	int r;

	if (thin_pool_open(&m->bd, &p, &pool)) {
		fz_destroy(&m->bd);
		return;
	}
	r = thin_list_devs_alloc(pool, &devs, &nr);
	if (!r && nr) {
		pd_block_t b;

		for (uint64_t v = 0; v < 4 && !r; v++) {
			r = thin_alloc_data_block(pool, &b);
			if (!r)
				r = thin_insert(pool, devs[0], v * 50, b);
		}
		if (!r)
			r = thin_remove(pool, devs[nr - 1], 1);
		if (!r || r == -ENODATA)
			r = thin_remove_range(pool, devs[0], 100, 300, NULL);
		if (!r && nr > 1)
			r = thin_delete(pool, devs[1]);
	}
	if (!r)
		r = thin_create_snap(pool, THIN_MAX_DEV_ID, nr ? devs[0] : 0);
	if (!r || r == -ENODATA)
		r = thin_commit(pool);
	if (r)
		thin_abort(pool);
	free(devs);
	thin_pool_destroy(pool);
	{
		struct check_result res;
		size_t n = 0;

		check_thin_metadata(&m->bd, 0, fz_msg, &n, &res);
	}
	fz_destroy(&m->bd);
}

static void fz_thin_exercise(struct fz_bdev *m, unsigned flags)
{
	struct thin_pool_params p = { .cache_blocks = 16,
				      .flags = THIN_OPEN_READ_ONLY };
	struct dump_ctx dc = { .out = fz_devnull() };
	struct check_result res;
	struct thin_sb_info sb;
	struct thin_pool *pool;
	size_t n = 0;

	m->read_only = 1;
	/* memory for a check is bounded by the device (check.h): -ENOMEM
	 * on 256 blocks is a bug */
	if (check_thin_metadata(&m->bd, (flags & FZ_THIN_STRICT) ?
				CHECK_STRICT : 0, fz_msg, &n, &res) == -ENOMEM)
		abort();
	if (thin_read_superblock(&m->bd, &sb))
		return;
	if (!thin_pool_open(&m->bd, &p, &pool)) {
		dump_pool(pool, &sb, &dc, "fuzz");
		fz_thin_lookups(pool);
		thin_pool_destroy(pool);
	}
	if (sb.held_root)
		dump_snapshot(&m->bd, &sb, 0, &dc, "fuzz");
	if (flags & FZ_THIN_WRITE) {
		m->read_only = 0;
		fz_thin_write(m);
	}
}

#endif /* PD_FUZZ_THIN_H */
