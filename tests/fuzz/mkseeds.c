/* tests/fuzz/mkseeds.c - writes the seed images of the raw targets: the
 * base images of fuzz_thin_edit.c (or, with -DSEED_CACHE, fuzz_cache.c)
 * in the sparse form of fuzz.h, every block trimmed of trailing zeroes
 * and tagged with the kind its checksum says.  A one-off tool, not built
 * by make:
 *   cc -Icore -Iharness/pdtool -Itests/fuzz -D_DEFAULT_SOURCE \
 *      [-DSEED_CACHE] tests/fuzz/mkseeds.c build/libpdata.a -o /tmp/mkseeds
 *   /tmp/mkseeds tests/fuzz/corpus/fuzz_thin_raw
 */
#ifdef SEED_CACHE
#include "fuzz_cache.c"
#else
#include "fuzz_thin_edit.c"
#endif

static void emit(const struct fz_bdev *m, const char *dir, unsigned which,
		 unsigned flags)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%u-%u", dir, which, flags);
	if (!(f = fopen(path, "wb")))
		abort();
#ifdef SEED_CACHE
	fputc(0x80, f);		/* raw mode, 192 blocks */
#else
	fputc((int)(m->bd.nr_blocks - FZ_MIN_BLOCKS), f);
#endif
	fputc((int)flags, f);
	for (pd_block_t b = 0; b < m->bd.nr_blocks; b++) {
		const uint8_t *blk = m->data + b * FZ_BS;
		unsigned len = FZ_BS, kind = fz_kind_of(blk);

		while (len && !blk[len - 1])
			len--;
		if (!len)
			continue;
		fputc((int)b, f);
		fputc((int)kind, f);
		fputc((int)(len & 0xff), f);
		fputc((int)(len >> 8), f);
		fwrite(blk, 1, len, f);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	for (unsigned w = 0; w < NR_BASES; w++) {
		struct fz_bdev *m = build(w);

		emit(m, argv[1], w, 0);
		emit(m, argv[1], w, 1);
		fz_destroy(&m->bd);
	}
	return 0;
}
