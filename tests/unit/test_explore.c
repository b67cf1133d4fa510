/* tests/unit/test_explore.c - lazy, exhaustive exploration (explore.h): the
 * counting, proved on tiny synthetic recovery functions.
 *
 * k pending writes to k distinct blocks (tag byte != the durable zeroes);
 * a synthetic "recovery" reads j of them.  The exploration must run
 * exactly 2^j leaves (one per combination of what it read), cover
 * states_total = 2^k states, and never decide a block it did not read.
 * With tearing, a block whose write differs from the durable content in
 * every sector has 2^8 contents; one whose write differs in one sector 2.
 */
#include <stdio.h>
#include <string.h>

#include "bignum.h"
#include "explore.h"
#include "prng.h"
#include "simdisk.h"
#include "test.h"

#define BS 4096u

struct synth {
	pd_block_t reads[16];
	unsigned nr_reads;
	int depends;		/* read block i+1 only if block i is new */
	uint64_t leaves;
	uint64_t seen[512];	/* distinct read results, as bit masks */
	unsigned nseen;
};

static void synth_recover(void *ctx, struct bdev *image, struct check_out *out)
{
	struct synth *s = ctx;
	uint8_t buf[BS];
	uint64_t got = 0;

	for (unsigned i = 0; i < s->nr_reads; i++) {
		if (bdev_read(image, s->reads[i], buf))
			break;
		for (unsigned x = 0; x < 8; x++)	/* which sectors are new */
			got |= (uint64_t)(buf[x * 512] != 0) << (i * 8 + x);
		if (s->depends && !buf[0])
			break;
	}
	for (unsigned i = 0; i < s->nseen; i++)
		ASSERT_TRUE(s->seen[i] != got);	/* every leaf distinct */
	if (s->nseen < 512)
		s->seen[s->nseen++] = got;
	s->leaves++;
	out->outcome = OUT_ROLLBACK;
	out->state = 0;
	out->msg[0] = 0;
}

/* A disk with k pending writes (blocks 10..10+k-1), cut at the end. */
static void setup(unsigned k, int tear_one_sector, struct simdisk **sd,
		  struct sd_cutter **c)
{
	uint8_t buf[BS];

	ASSERT_OK(simdisk_create(BS, 64, sd));
	ASSERT_OK(bdev_flush(simdisk_bdev(*sd)));
	for (unsigned i = 0; i < k; i++) {
		memset(buf, 0, BS);
		memset(buf, (int)(i + 1), tear_one_sector ? 512 : BS);
		ASSERT_OK(bdev_write(simdisk_bdev(*sd), 10 + i, buf, 0));
	}
	ASSERT_OK(sd_cutter_create(*sd, c));
	ASSERT_OK(sd_cutter_seek(*c, simdisk_nr_ops(*sd)));
	ASSERT_EQ(sd_cutter_nr_pending(*c), k);
}

static void explore(struct sd_cutter *c, struct synth *s, int tear,
		    uint64_t max, struct cut_cover *cc)
{
	struct check_opts o = { .recover = synth_recover, .recover_ctx = s };
	struct state_id id = { .name = "synth", .tear = tear };

	ASSERT_OK(explore_cut(NULL, c, &id, &o, NULL, max, NULL, NULL, cc));
}

static void check_pow2(const struct bignum *b, unsigned e)
{
	struct bignum want = BN_INIT;

	ASSERT_OK(bn_set_u64(&want, 1));
	for (unsigned i = 0; i < e; i++)
		ASSERT_OK(bn_mul_u64(&want, 2));
	ASSERT_EQ(bn_cmp(b, &want), 0);
	bn_free(&want);
}

/* k pending, j read: 2^j leaves, 2^k states covered, for all j <= k <= 12
 * and random read orders (the seed is printed). */
TEST(explore_counts_leaves_and_states)
{
	uint64_t seed = 20240611;
	struct prng p;

	printf("# seed %llu\n", (unsigned long long)seed);
	prng_seed(&p, seed);
	for (unsigned k = 0; k <= 12; k += 3) {
		for (unsigned j = 0; j <= k && j <= 6; j++) {
			struct simdisk *sd;
			struct sd_cutter *c;
			struct synth s = { 0 };
			struct cut_cover cc;
			unsigned perm[16];

			setup(k, 0, &sd, &c);
			for (unsigned i = 0; i < k; i++)
				perm[i] = i;
			for (unsigned i = k; i > 1; i--) {
				unsigned x = (unsigned)prng_below(&p, i), t = perm[i - 1];

				perm[i - 1] = perm[x];
				perm[x] = t;
			}
			s.nr_reads = j;
			for (unsigned i = 0; i < j; i++)
				s.reads[i] = 10 + perm[i];
			explore(c, &s, 0, 0, &cc);
			ASSERT_EQ(s.leaves, 1ull << j);
			ASSERT_EQ(cc.leaves, 1ull << j);
			ASSERT_EQ(cc.recoveries, 1ull << j);
			ASSERT_TRUE(cc.complete);
			check_pow2(&cc.total, k);
			check_pow2(&cc.covered, k);
			cut_cover_free(&cc);
			sd_cutter_destroy(c);
			simdisk_destroy(sd);
		}
	}
}

/* Reads that depend on what was read: block i+1 only when block i holds
 * its new version; j + 1 leaves, still 2^k covered. */
TEST(explore_counts_dependent_reads)
{
	struct simdisk *sd;
	struct sd_cutter *c;
	struct synth s = { .nr_reads = 5, .depends = 1 };
	struct cut_cover cc;

	setup(8, 0, &sd, &c);
	for (unsigned i = 0; i < 5; i++)
		s.reads[i] = 10 + i;
	explore(c, &s, 0, 0, &cc);
	ASSERT_EQ(cc.leaves, 6);
	check_pow2(&cc.covered, 8);
	check_pow2(&cc.total, 8);
	cut_cover_free(&cc);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

/* Tearing: a write that differs in all 8 sectors gives 2^8 contents, one
 * that differs in one sector 2 (dedup by sector content). */
TEST(explore_counts_torn_contents)
{
	for (int one = 0; one <= 1; one++) {
		struct simdisk *sd;
		struct sd_cutter *c;
		struct synth s = { .nr_reads = 1, .reads = { 10 } };
		struct cut_cover cc;

		setup(3, one, &sd, &c);
		explore(c, &s, 1, 0, &cc);
		ASSERT_EQ(cc.leaves, one ? 2 : 256);
		check_pow2(&cc.total, one ? 3 : 24);
		check_pow2(&cc.covered, one ? 3 : 24);
		cut_cover_free(&cc);
		sd_cutter_destroy(c);
		simdisk_destroy(sd);
	}
}

/* A bound: fewer leaves, covered < total, and it says so. */
TEST(explore_bound_is_reported)
{
	struct simdisk *sd;
	struct sd_cutter *c;
	struct synth s = { .nr_reads = 4, .reads = { 10, 11, 12, 13 } };
	struct cut_cover cc;

	setup(6, 0, &sd, &c);
	explore(c, &s, 0, 5, &cc);
	ASSERT_EQ(cc.leaves, 5);
	ASSERT_TRUE(!cc.complete);
	ASSERT_TRUE(bn_cmp(&cc.covered, &cc.total) < 0);
	/* 5 leaves of 16, each 2^2 states: 20 */
	char *d = bn_to_dec(&cc.covered);
	ASSERT_STREQ(d, "20");
	free(d);
	cut_cover_free(&cc);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

/* A state that needs three particular writes landed and three others
 * missing, at a cut with 12 pending writes: block 10 stands for the
 * superblock; when it is new, recovery reads 11..15 and fails on 10, 11,
 * 12 new with 13, 14, 15 durable.  Exhaustive finds that one leaf; none of
 * --sample's 42 choices at this cut (seed 1) is that state: none, all,
 * each left out and each alone cannot be (it needs three of each), and
 * each random subset hits it with probability 2^-6. */
struct combo {
	uint64_t violations;
	char leaf[LEAF_TEXT_MAX];
};

static void combo_recover(void *ctx, struct bdev *image, struct check_out *out)
{
	static const int want[6] = { 1, 1, 1, 0, 0, 0 };	/* blocks 10..15 */
	uint8_t buf[BS];
	int bad = 1;

	(void)ctx;
	out->outcome = OUT_ROLLBACK;
	out->state = 0;
	out->msg[0] = 0;
	for (unsigned i = 0; i < 6; i++) {
		ASSERT_OK(bdev_read(image, 10 + i, buf));
		bad &= (buf[0] != 0) == want[i];
		if (i == 0 && !buf[0])
			return;			/* old "superblock": reads no more */
	}
	if (bad)
		out->outcome = OUT_VIOLATION;
}

static void combo_leaf(void *ctx, const char *leaf, const struct check_out *out,
		       int ran)
{
	struct combo *k = ctx;

	(void)ran;
	if (out->outcome == OUT_VIOLATION) {
		k->violations++;
		snprintf(k->leaf, sizeof(k->leaf), "%s", leaf);
	}
}

TEST(explore_finds_combination_sample_misses)
{
	struct simdisk *sd;
	struct sd_cutter *c;
	struct combo k = { 0 };
	struct check_opts o = { .recover = combo_recover };
	struct lazy_cb cb = { .leaf = combo_leaf, .ctx = &k };
	struct state_id id = { .name = "combo", .seed = 1 };
	struct cut_cover cc;
	uint8_t landed[12];
	uint64_t n, hits = 0;

	setup(12, 0, &sd, &c);
	id.cut = simdisk_nr_ops(sd);
	ASSERT_OK(explore_cut(NULL, c, &id, &o, NULL, 0, NULL, &cb, &cc));
	ASSERT_EQ(k.violations, 1);
	ASSERT_STREQ(k.leaf, "b10v1.b11v1.b12v1.b13v0.b14v0.b15v0");
	ASSERT_EQ(cc.leaves, 33);		/* 1 + 2^5 */
	ASSERT_TRUE(cc.complete);
	check_pow2(&cc.covered, 12);
	n = nr_choices(12, 0);
	ASSERT_EQ(n, 42);
	for (uint64_t i = 0; i < n; i++) {
		make_choice(12, 0, id.seed, id.cut, i, landed, NULL);
		hits += landed[0] && landed[1] && landed[2] && !landed[3] &&
			!landed[4] && !landed[5];
	}
	ASSERT_EQ(hits, 0);
	cut_cover_free(&cc);
	sd_cutter_destroy(c);
	simdisk_destroy(sd);
}

TEST(bignum_decimal_and_hex)
{
	struct bignum a = BN_INIT, b = BN_INIT;
	char *d, *h;

	ASSERT_OK(bn_set_u64(&a, 1));
	for (int i = 0; i < 100; i++)
		ASSERT_OK(bn_mul_u64(&a, 256));
	d = bn_to_dec(&a);
	ASSERT_STREQ(d, "6668014432879854274079851790721257797144758322315908160396257811764037237817632071521432200871554290742929910593433240445888801654119365080363356052330830046095157579514014558463078285911814024728965016135886601981690748037476461291163877376");
	h = bn_to_hex(&a);
	ASSERT_OK(bn_from_hex(&b, h));
	ASSERT_EQ(bn_cmp(&a, &b), 0);
	ASSERT_OK(bn_from_dec(&b, d));
	ASSERT_EQ(bn_cmp(&a, &b), 0);
	ASSERT_OK(bn_mul_u64(&b, 0xffffffffffffffffull));
	ASSERT_TRUE(bn_cmp(&a, &b) < 0);
	ASSERT_ERR(bn_from_dec(&b, "12x"), -EINVAL);
	free(d);
	free(h);
	bn_free(&a);
	bn_free(&b);
}
