/* tests/fuzz/fuzz_thin_edit.c - the same as fuzz_thin_raw on valid thin
 * metadata built at start-up by core/ and damaged by edit instructions
 * (fuzz.h): bit flips, boundary values in header fields, pointers to other
 * blocks, to the block itself and past the end, a block replaced by
 * another of its kind (cycles, shared nodes), each with its checksum
 * recomputed.  Input: byte 0 picks the base image, byte 1 is enum
 * fz_thin_flags, then 8-byte edits.
 */
#include "fuzz_thin.h"

#define NR_BASES 4

static struct fz_bdev *base[NR_BASES];
static struct fz_image_info info[NR_BASES];

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz_thin_edit: building the base images: %s: %d\n",
		what, r);
	abort();
}

/* Base images: 0 an empty pool; 1 two devices, one with a two-level
 * mapping tree, and a snapshot; 2 the same with a held metadata snapshot
 * and a data space map with ref counts > 2; 3 after deletions and
 * removals (rebalanced nodes), on a larger device. */
static struct fz_bdev *build(unsigned which)
{
	struct fz_bdev *m = fz_bdev_new(which == 3 ? 256 : 96);
	struct thin_pool_params p = {
		.data_block_size = 128,
		.nr_data_blocks = which == 3 ? 40000 : 3000,
		.cache_blocks = 64,
	};
	struct thin_pool *pool;
	int r = thin_pool_format(&m->bd, &p, &pool);

	if (r)
		die("format", r);
	if (which >= 1) {
		r = thin_create_thin(pool, 0);
		for (uint64_t v = 0; v < 400 && !r; v++) {
			pd_block_t b;

			r = thin_alloc_data_block(pool, &b);
			if (!r)
				r = thin_insert(pool, 0, v * (v % 3 + 1), b);
		}
		if (!r)
			r = thin_create_thin(pool, 7);
		for (uint64_t v = 0; v < 20 && !r; v++)
			r = thin_insert_raw(pool, 7, v, 2000 + v, 5);
		if (!r)
			r = thin_commit(pool);
		if (!r)
			r = thin_create_snap(pool, 1, 0);
		if (r)
			die("populate", r);
	}
	if (which >= 2) {
		r = thin_create_snap(pool, 2, 1);
		if (!r)
			r = thin_reserve_metadata_snap(pool);
		for (uint64_t v = 0; v < 30 && (!r || r == -ENODATA); v++)
			r = thin_remove(pool, 0, v);
		if (r && r != -ENODATA)
			die("snapshot", r);
	}
	if (which >= 3) {
		r = thin_delete(pool, 1);
		if (!r)
			r = thin_remove_range(pool, 0, 100, 700, NULL);
		if (!r)
			r = thin_set_transaction_id(pool, 0, 42);
		if (r)
			die("delete", r);
	}
	r = thin_commit(pool);
	if (r)
		die("commit", r);
	thin_pool_destroy(pool);
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_bdev *m;
	unsigned which;

	if (size < 2)
		return 0;
	which = data[0] % NR_BASES;
	if (!base[which]) {
		base[which] = build(which);
		fz_classify(base[which], &info[which]);
	}
	m = fz_bdev_copy(base[which]);
	fz_apply_edits(m, &info[which], data + 2, size - 2);
	fz_thin_exercise(m, data[1]);
	fz_destroy(&m->bd);
	return 0;
}
