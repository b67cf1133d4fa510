/* tests/bench/bench_simdisk.c - what crash states cost on a 1 GiB disk.
 *
 * A simulated disk of 262144 blocks of 4096 bytes gets a log shaped like
 * metadata commits: batches of shadowed btree/space-map blocks written to a
 * working area, a flush, the superblock, a flush.  Then 100,000 crash
 * states are built from it across every cut point (none, all, one left out,
 * one alone, random and torn subsets of the pending writes), and a few
 * blocks of each are read.  Prints figures; it does not pass or fail on
 * time.  BENCH_STATES overrides the number of states.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bdev.h"
#include "prng.h"
#include "simdisk.h"

#define BS		4096u
#define NR_BLOCKS	262144ull	/* 1 GiB */
#define COMMITS		150
#define WORKING_SET	30000ull	/* metadata lives in the first blocks */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;	/* KiB on Linux */
}

static int die(const char *what, int r)
{
	fprintf(stderr, "bench_simdisk: %s: error %d\n", what, r);
	return 1;
}

int main(void)
{
	const char *env = getenv("BENCH_STATES");
	uint64_t want = env && *env ? strtoull(env, NULL, 10) : 100000;
	uint64_t nr_writes = 0, nr_flushes = 0, states = 0, cuts = 0, sum = 0;
	struct simdisk *sd;
	struct sd_cutter *c;
	struct bdev *bd;
	struct prng p;
	uint8_t buf[BS];
	uint8_t *landed = NULL;
	uint64_t *sectors = NULL;
	size_t cap = 0;
	double t0, t_log, t_states;
	long rss0;
	int r;

	prng_seed(&p, 20261123);
	rss0 = peak_rss_kib();
	t0 = now();
	r = simdisk_create(BS, NR_BLOCKS, &sd);
	if (r)
		return die("simdisk_create", r);
	bd = simdisk_bdev(sd);
	simdisk_log_reads(sd, 0);
	for (int k = 0; k < COMMITS; k++) {
		uint64_t n = prng_range(&p, 8, 40);

		simdisk_mark(sd, 2, (uint64_t)k);
		for (uint64_t i = 0; i < n; i++) {
			memset(buf, (int)(1 + (k + i) % 250), BS);
			buf[0] = (uint8_t)i;
			r = bdev_write(bd, 1 + prng_below(&p, WORKING_SET),
				       buf, 0);
			if (r)
				return die("write", r);
			nr_writes++;
		}
		r = bdev_flush(bd);
		memset(buf, k & 0xff, BS);
		if (!r)
			r = bdev_write(bd, 0, buf, 0);	/* superblock */
		if (!r)
			r = bdev_flush(bd);
		if (r)
			return die("commit", r);
		nr_writes++;
		nr_flushes += 2;
		simdisk_mark(sd, 3, (uint64_t)k);
	}
	t_log = now() - t0;

	r = sd_cutter_create(sd, &c);
	if (r)
		return die("sd_cutter_create", r);
	uint64_t nr_ops = simdisk_nr_ops(sd);
	uint64_t per_cut = want / (nr_ops + 1) + 1;

	t0 = now();
	for (uint64_t cut = 0; cut <= nr_ops && states < want; cut++) {
		size_t np;

		r = sd_cutter_seek(c, cut);
		if (r)
			return die("seek", r);
		cuts++;
		np = sd_cutter_nr_pending(c);
		if (np + 1 > cap) {
			cap = 2 * (np + 1);
			landed = realloc(landed, cap);
			sectors = realloc(sectors, cap * sizeof(*sectors));
			if (!landed || !sectors)
				return die("realloc", -ENOMEM);
		}
		for (uint64_t v = 0; v < per_cut && states < want; v++) {
			struct sd_choice ch = { np, landed, NULL };
			uint64_t pick = np ? prng_below(&p, np) : 0;
			struct bdev *im;

			for (size_t i = 0; i < np; i++) {
				switch (v % 6) {
				case 0: landed[i] = 0; break;
				case 1: landed[i] = 1; break;
				case 2: landed[i] = i != pick; break;
				case 3: landed[i] = i == pick; break;
				default: landed[i] = prng_next(&p) & 1; break;
				}
				sectors[i] = prng_next(&p);
			}
			if (v % 6 == 5)
				ch.sectors = sectors;	/* torn */
			r = sd_cutter_image(c, &ch, &im);
			if (r)
				return die("image", r);
			/* the superblock, a pending block, two others */
			r = bdev_read(im, 0, buf);
			sum += buf[0];
			if (!r && np)
				r = bdev_read(im, sd_cutter_pending(c)[pick].block,
					      buf);
			sum += buf[1];
			if (!r)
				r = bdev_read(im, 1 + prng_below(&p, WORKING_SET),
					      buf);
			if (!r)
				r = bdev_read(im, NR_BLOCKS - 1 -
					      prng_below(&p, 1000), buf);
			sum += buf[2];
			if (r)
				return die("read", r);
			bdev_destroy(im);
			states++;
		}
	}
	t_states = now() - t0;

	printf("disk: %llu blocks of %u bytes (one full copy would be %llu MiB)\n",
	       NR_BLOCKS, BS, NR_BLOCKS * BS >> 20);
	printf("log: %" PRIu64 " entries, %" PRIu64 " writes (%" PRIu64
	       " MiB of data), %" PRIu64 " flushes, built in %.3f s\n", nr_ops,
	       nr_writes, nr_writes * BS >> 20, nr_flushes, t_log);
	printf("states built: %" PRIu64 " over %" PRIu64 " cut points, 4 block "
	       "reads each\n", states, cuts);
	printf("seconds: %.3f\n", t_states);
	printf("states/s: %.0f\n", t_states > 0 ? (double)states / t_states : 0.0);
	printf("peak RSS: %ld KiB (%.1f MiB; %.1f MiB at start)\n",
	       peak_rss_kib(), peak_rss_kib() / 1024.0, rss0 / 1024.0);
	printf("(checksum %" PRIu64 ")\n", sum);
	free(sectors);
	free(landed);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
	return 0;
}
