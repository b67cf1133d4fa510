/* tests/fuzz/fuzz_cache.c - the dm-cache client (core/cache.h: open, walk
 * mappings and discards, lookups, policy) and its checker
 * (core/check_cache.h, which covers the array and bitset formats) on
 * damaged cache metadata.
 *
 * Input: byte 0 bit 7 set: a raw image in the sparse form of fuzz.h (the
 * whole input); clear: byte 0 picks a valid base image built at start-up
 * by core/, byte 1 is flags (bit 0: also open read-write, change and
 * commit), then 8-byte edits (fuzz.h).
 */
#include "fuzz.h"
#include "cache.h"
#include "check_cache.h"

#define NR_BASES 3

static struct fz_bdev *base[NR_BASES];
static struct fz_image_info info[NR_BASES];

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz_cache: building the base images: %s: %d\n",
		what, r);
	abort();
}

/* 0 format 1, a few mappings; 1 format 2 with dirty bits, hints and
 * discards; 2 format 2, 2000 cache blocks (multi-node index trees). */
static struct fz_bdev *build(unsigned which)
{
	struct fz_bdev *m = fz_bdev_new(which == 2 ? 256 : 64);
	struct cache_params p = {
		.data_block_size = 64,
		.version = which ? 2 : 1,
		.cache_blocks = 64,
	};
	uint32_t nr = which == 2 ? 2000 : 300;
	struct cache_md *cmd;
	int r = cache_md_format(&m->bd, &p, &cmd);

	if (r)
		die("format", r);
	r = cache_resize(cmd, nr);
	for (uint32_t c = 0; c < nr && !r; c += 3)
		r = cache_insert_mapping(cmd, c, 1000 + 7 * c);
	for (uint32_t c = 0; c < nr && !r; c += 9)
		r = cache_set_dirty(cmd, c, 1);
	if (!r && which) {
		static const uint32_t ver[3] = { 2, 0, 0 };
		uint32_t *hints = calloc(nr, 4);

		if (!hints)
			abort();
		for (uint32_t c = 0; c < nr; c++)
			hints[c] = c * 5;
		r = cache_write_hints(cmd, "smq", ver, 4, hints);
		free(hints);
		if (!r)
			r = cache_discard_resize(cmd, 1024, 500);
		for (uint32_t d = 0; d < 500 && !r; d += 7)
			r = cache_set_discard(cmd, d, 1);
	}
	if (!r)
		r = cache_commit(cmd, 1);
	if (r)
		die("populate", r);
	cache_md_destroy(cmd);
	return m;
}

static int on_mapping(void *ctx, uint32_t cblock, uint64_t oblock, int dirty,
		      const void *hint)
{
	(void)cblock;
	(void)oblock;
	(void)dirty;
	if (hint)
		(*(size_t *)ctx) += ((const uint8_t *)hint)[0];
	return 0;
}

/* No device of ours can hold a discard bitset of more bits than this
 * (509 words a block): a walk past it follows a damaged size. */
#define MAX_DISCARD_BITS ((uint64_t)4 * FZ_MAX_BLOCKS * 509 * 64)

static int on_discard(void *ctx, uint32_t dblock, int discarded)
{
	if (dblock >= MAX_DISCARD_BITS) {
		fprintf(stderr, "cache_walk_discards walks past %llu blocks\n",
			(unsigned long long)MAX_DISCARD_BITS);
		abort();
	}
	(*(size_t *)ctx) += (size_t)discarded;
	return 0;
}

static void write_some(struct fz_bdev *img)
{
	struct fz_bdev *m = fz_bdev_copy(img);
	struct cache_params p = { .cache_blocks = 16 };
	struct check_cache_result res;
	struct cache_md *cmd;
	uint32_t size = 0;
	size_t n = 0;
	int r;

	m->read_only = 0;
	if (cache_md_open(&m->bd, &p, &cmd)) {
		fz_destroy(&m->bd);
		return;
	}
	r = cache_get_size(cmd, &size);
	if (!r && size)
		r = cache_insert_mapping(cmd, size - 1, 99);
	if (!r && size > 1)
		r = cache_remove_mapping(cmd, 0);
	if (!r && size > 4)
		r = cache_set_dirty(cmd, 3, 1);
	if (!r || r == -ENODATA)
		r = cache_set_discard(cmd, 1, 1);
	if (!r || r == -ENODATA)
		r = cache_resize(cmd, size + 10);
	if (!r)
		r = cache_commit(cmd, 1);
	if (r)
		cache_abort(cmd);
	cache_md_destroy(cmd);
	check_cache_metadata(&m->bd, 0, fz_msg, &n, &res);
	fz_destroy(&m->bd);
}

static void exercise(struct fz_bdev *m, unsigned flags)
{
	struct cache_params p = { .cache_blocks = 16,
				  .flags = CACHE_OPEN_READ_ONLY };
	struct check_cache_result res;
	struct cache_sb_info sb;
	struct cache_md *cmd;
	size_t n = 0;

	m->read_only = 1;
	/* memory for a check is bounded by the device, not by what a damaged
	 * superblock says: -ENOMEM on 256 blocks is a bug */
	if (check_cache_metadata(&m->bd, flags & 2 ? CHECK_STRICT : 0, fz_msg,
				 &n, &res) == -ENOMEM)
		abort();
	if (cache_read_superblock(&m->bd, &sb))
		return;
	if (!cache_md_open(&m->bd, &p, &cmd)) {
		char name[CACHE_POLICY_NAME_SIZE + 1];
		uint32_t ver[CACHE_POLICY_VERSION_SIZE], hs, size = 0;
		struct cache_mapping cm;
		struct cache_stats st;
		pd_block_t nb;
		int nc;

		cache_walk_mappings(cmd, on_mapping, &n);
		cache_walk_discards(cmd, on_discard, &n);
		cache_get_policy(cmd, name, ver, &hs);
		cache_get_stats(cmd, &st);
		cache_get_needs_check(cmd, &nc);
		cache_get_nr_metadata_blocks(cmd, &nb);
		cache_get_free_metadata_blocks(cmd, &nb);
		cache_get_size(cmd, &size);
		for (uint32_t c = 0; c < 8; c++)
			cache_lookup_mapping(cmd, c * 97, &cm);
		cache_lookup_mapping(cmd, UINT32_MAX, &cm);
		cache_md_destroy(cmd);
	}
	if (flags & 1)
		write_some(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_bdev *m;
	unsigned flags;

	if (size < 2)
		return 0;
	if (data[0] & 0x80) {
		m = fz_sparse_image(data, size, &flags);
	} else {
		unsigned which = data[0] % NR_BASES;

		if (!base[which]) {
			base[which] = build(which);
			fz_classify(base[which], &info[which]);
		}
		m = fz_bdev_copy(base[which]);
		fz_apply_edits(m, &info[which], data + 2, size - 2);
		flags = data[1];
	}
	exercise(m, flags);
	fz_destroy(&m->bd);
	return 0;
}
