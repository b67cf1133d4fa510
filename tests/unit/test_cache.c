/* tests/unit/test_cache.c - dm-cache metadata (cache.h CA1-CA6) against a
 * model, formats 1 and 2, with clean and unclean reopens, aborts, a
 * failed commit, the checker (check_cache.h), and Debian's
 * thin-provisioning-tools 0.9.0 (cache_check, cache_dump, cache_restore)
 * as referees of the format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "bdev.h"
#include "bm.h"
#include "cache.h"
#include "check_cache.h"
#include "prng.h"
#include "simdisk.h"
#include "sm.h"
#include "test.h"
#include "tm.h"
#include "util.h"

#define META_BLOCKS 2048
#define MAXC 1500u
#define MAXD 3000u

struct cmodel {
	uint32_t nr;
	uint8_t valid[MAXC], dirty[MAXC];
	uint64_t oblock[MAXC];
	int hints_valid;
	uint32_t hint[MAXC];
	uint32_t nr_discard;
	uint8_t discard[MAXD];
	struct cache_stats st;
};

/* What an open without CLEAN_SHUTDOWN reports (CA3). */
static void model_untrusted(struct cmodel *m)
{
	for (uint32_t i = 0; i < m->nr; i++)
		if (m->valid[i])
			m->dirty[i] = 1;
	memset(m->discard, 0, sizeof(m->discard));
	m->hints_valid = 0;
}

struct walk_check {
	const struct cmodel *m;
	uint32_t seen;
};

static int check_mapping(void *ctx, uint32_t cb, uint64_t ob, int dirty,
			 const void *hint)
{
	struct walk_check *w = ctx;
	const struct cmodel *m = w->m;

	ASSERT_TRUE(cb < m->nr);
	if (!m->valid[cb])
		test_fail(__FILE__, __LINE__, "cblock %u reported, not in model", cb);
	ASSERT_UEQ(ob, m->oblock[cb]);
	if (dirty != m->dirty[cb])
		test_fail(__FILE__, __LINE__, "cblock %u: dirty %d, model %d",
			  cb, dirty, m->dirty[cb]);
	if (m->hints_valid) {
		ASSERT_TRUE(hint != NULL);
		ASSERT_UEQ(le32_get(hint), m->hint[cb]);
	} else {
		ASSERT_TRUE(hint == NULL);
	}
	w->seen++;
	return 0;
}

static int check_discard(void *ctx, uint32_t b, int discarded)
{
	const struct cmodel *m = ctx;

	ASSERT_TRUE(b < m->nr_discard);
	if (discarded != m->discard[b])
		test_fail(__FILE__, __LINE__, "dblock %u: %d, model %d", b,
			  discarded, m->discard[b]);
	return 0;
}

static void compare(struct cache_md *cmd, const struct cmodel *m)
{
	struct walk_check w = { m, 0 };
	struct cache_stats st;
	uint32_t nr, valid = 0;

	ASSERT_OK(cache_get_size(cmd, &nr));
	ASSERT_UEQ(nr, m->nr);
	ASSERT_OK(cache_walk_mappings(cmd, check_mapping, &w));
	for (uint32_t i = 0; i < m->nr; i++)
		valid += m->valid[i];
	ASSERT_UEQ(w.seen, valid);
	for (uint32_t i = 0; i < m->nr; i += 37) {
		struct cache_mapping cm;

		if (m->valid[i]) {
			ASSERT_OK(cache_lookup_mapping(cmd, i, &cm));
			ASSERT_UEQ(cm.oblock, m->oblock[i]);
			ASSERT_EQ(cm.dirty, m->dirty[i]);
		} else {
			ASSERT_ERR(cache_lookup_mapping(cmd, i, &cm), -ENODATA);
		}
	}
	ASSERT_OK(cache_walk_discards(cmd, check_discard, (void *)m));
	ASSERT_OK(cache_get_stats(cmd, &st));
	ASSERT_MEMEQ(&st, &m->st, sizeof(st));
}

struct msgs {
	char text[4096];
	size_t n;
};

static void collect(void *ctx, const char *text)
{
	struct msgs *m = ctx;
	int k = snprintf(m->text + m->n, sizeof(m->text) - m->n, "%s\n", text);

	if (k > 0 && m->n + (size_t)k < sizeof(m->text))
		m->n += (size_t)k;
}

/* Our images: no error, no leak.  Images from 0.9.0's cache_restore leak
 * one block (an empty btree leaf it never frees) and are audited with
 * leaks allowed, as cache_check allows them. */
static void audit_leaks(struct bdev *bd, unsigned flags, unsigned max_leaks)
{
	struct check_cache_result res;
	struct msgs m = { .n = 0 };

	ASSERT_OK(check_cache_metadata(bd, flags, collect, &m, &res));
	if (!res.superblock_ok || res.errors || res.leaks > max_leaks)
		test_fail(__FILE__, __LINE__, "cache metadata: %u errors, %u leaks:\n%s",
			  res.errors, res.leaks, m.text);
}

static void audit(struct bdev *bd, unsigned flags)
{
	audit_leaks(bd, flags, 0);
}

static void do_resize(struct cache_md *cmd, struct cmodel *m, uint32_t nr)
{
	int dirty = 0;

	for (uint32_t i = nr; i < m->nr; i++)
		dirty |= m->valid[i] && m->dirty[i];
	if (dirty) {
		ASSERT_ERR(cache_resize(cmd, nr), -EINVAL);
		return;
	}
	ASSERT_OK(cache_resize(cmd, nr));
	for (uint32_t i = m->nr; i < nr; i++) {
		m->valid[i] = m->dirty[i] = 0;
		m->oblock[i] = 0;
		m->hint[i] = 0;
	}
	if (nr < m->nr)
		for (uint32_t i = nr; i < m->nr; i++)
			m->valid[i] = m->dirty[i] = 0;
	m->nr = nr;
}

static void write_hints(struct cache_md *cmd, struct cmodel *m,
			struct prng *rng, uint32_t hint_size)
{
	static uint8_t buf[MAXC * 4];
	const uint32_t version[3] = { 2, 0, 0 };

	for (uint32_t i = 0; i < m->nr; i++) {
		m->hint[i] = (uint32_t)prng_next(rng);
		le32_put(buf + 4 * i, m->hint[i]);
	}
	ASSERT_OK(cache_write_hints(cmd, "smq", version, hint_size, buf));
	m->hints_valid = hint_size != 0;
}

static int have_tools(void)
{
	return system("command -v cache_check >/dev/null 2>&1 && "
		      "command -v cache_dump >/dev/null 2>&1 && "
		      "command -v cache_restore >/dev/null 2>&1") == 0;
}

static void random_workload(unsigned version, uint64_t seed)
{
	static struct cmodel m, committed;
	struct cache_params p = { .data_block_size = 128, .version = version };
	struct simdisk *sd;
	struct bdev *bd;
	struct cache_md *cmd;
	struct prng rng;
	uint64_t next_oblock = 1;

	memset(&m, 0, sizeof(m));
	prng_seed(&rng, seed);
	ASSERT_OK(simdisk_create(4096, META_BLOCKS, &sd));
	bd = simdisk_bdev(sd);
	ASSERT_OK(cache_md_format(bd, &p, &cmd));
	ASSERT_EQ(cache_clean_when_opened(cmd), 1);
	audit(bd, CHECK_STRICT);
	do_resize(cmd, &m, 700);
	ASSERT_OK(cache_commit(cmd, 0));
	committed = m;
	for (int op = 0; op < 2500; op++) {
		uint64_t k = prng_below(&rng, 1000);
		uint32_t cb = m.nr ? (uint32_t)prng_below(&rng, m.nr) : 0;

		if (k < 250 && m.nr) {
			uint64_t ob = next_oblock++ * 3 + prng_below(&rng, 3);

			ASSERT_OK(cache_insert_mapping(cmd, cb, ob));
			m.valid[cb] = 1;
			m.dirty[cb] = 0;
			m.oblock[cb] = ob;
		} else if (k < 330 && m.nr) {
			ASSERT_OK(cache_remove_mapping(cmd, cb));
			m.valid[cb] = m.dirty[cb] = 0;
		} else if (k < 580 && m.nr) {
			int d = (int)prng_below(&rng, 2);

			if (!m.valid[cb]) {
				ASSERT_ERR(cache_set_dirty(cmd, cb, d), -ENODATA);
			} else {
				ASSERT_OK(cache_set_dirty(cmd, cb, d));
				m.dirty[cb] = (uint8_t)d;
			}
		} else if (k < 600) {
			do_resize(cmd, &m, (uint32_t)prng_below(&rng, MAXC + 1));
		} else if (k < 615) {
			uint32_t nd = (uint32_t)prng_below(&rng, MAXD + 1);

			ASSERT_OK(cache_discard_resize(cmd, 256, nd));
			for (uint32_t i = m.nr_discard; i < nd; i++)
				m.discard[i] = 0;
			for (uint32_t i = nd; i < m.nr_discard; i++)
				m.discard[i] = 0;
			m.nr_discard = nd;
		} else if (k < 750 && m.nr_discard) {
			uint32_t b = (uint32_t)prng_below(&rng, m.nr_discard);
			int d = (int)prng_below(&rng, 2);

			ASSERT_OK(cache_set_discard(cmd, b, d));
			m.discard[b] = (uint8_t)d;
		} else if (k < 770) {
			write_hints(cmd, &m, &rng,
				    prng_below(&rng, 5) ? 4 : 0);
		} else if (k < 780) {
			m.st.read_hits = (uint32_t)prng_next(&rng);
			m.st.write_misses = (uint32_t)op;
			ASSERT_OK(cache_set_stats(cmd, &m.st));
		} else if (k < 900) {
			/* reads only */
		} else if (k < 950) {
			ASSERT_OK(cache_commit(cmd, 0));
			committed = m;
			audit(bd, CHECK_STRICT);
		} else if (k < 965) {
			/* clean shutdown: what was reported is what is trusted */
			ASSERT_OK(cache_md_close(cmd));
			audit(bd, CHECK_STRICT);
			ASSERT_OK(cache_md_open(bd, &p, &cmd));
			ASSERT_EQ(cache_clean_when_opened(cmd), 1);
			committed = m;
			compare(cmd, &m);
		} else if (k < 980) {
			/* a crash after a commit: nothing trusted (CA3) */
			ASSERT_OK(cache_commit(cmd, 0));
			cache_md_destroy(cmd);
			ASSERT_OK(cache_md_open(bd, &p, &cmd));
			ASSERT_EQ(cache_clean_when_opened(cmd), 0);
			model_untrusted(&m);
			committed = m;
			compare(cmd, &m);
		} else {
			ASSERT_OK(cache_abort(cmd));
			m = committed;
			model_untrusted(&m);
			committed = m;
			compare(cmd, &m);
		}
		if (op % 250 == 0)
			compare(cmd, &m);
	}
	compare(cmd, &m);
	ASSERT_OK(cache_md_close(cmd));
	audit(bd, CHECK_STRICT);
	ASSERT_OK(cache_md_open(bd, &p, &cmd));
	compare(cmd, &m);
	cache_md_destroy(cmd);
	if (have_tools()) {
		char img[256], line[512];

		snprintf(img, sizeof(img), "%s/random%u.img", test_tmpdir(), version);
		ASSERT_OK(simdisk_export(sd, img));
		snprintf(line, sizeof(line), "cache_check -q '%s'", img);
		ASSERT_EQ(system(line), 0);
	} else {
		printf("# skip: cache_check not installed, final image not refereed\n");
	}
	simdisk_destroy(sd);
}

TEST(cache_random_ops_match_model_v1)
{
	random_workload(1, test_seed(41));
}

TEST(cache_random_ops_match_model_v2)
{
	random_workload(2, test_seed(42));
}

/* --- the cursor load against a get-by-index load ------------------------------ */

/* cache_walk_mappings / cache_walk_discards move cursors over the arrays
 * and bitsets in step (the kernel's __load_mappings / __load_discards);
 * here their report is compared with one read value by value.  Sizes
 * cross array-block boundaries: 509 mappings, 1018 hints, 509 bitset
 * words (32576 bits) a block. */
#define LOADC 4200u
#define LOADD 40000u

struct load {
	uint8_t mapped[LOADC], dirty[LOADC], has_hint[LOADC];
	uint64_t oblock[LOADC];
	uint32_t hint[LOADC];
	uint8_t discard[LOADD];
	uint32_t nr, nr_discard;
};

static int load_mapping(void *ctx, uint32_t cb, uint64_t ob, int dirty,
			const void *hint)
{
	struct load *l = ctx;

	ASSERT_TRUE(cb < l->nr);
	l->mapped[cb] = 1;
	l->oblock[cb] = ob;
	l->dirty[cb] = (uint8_t)!!dirty;
	l->has_hint[cb] = hint != NULL;
	l->hint[cb] = hint ? le32_get(hint) : 0;
	return 0;
}

static int load_discard(void *ctx, uint32_t b, int discarded)
{
	struct load *l = ctx;

	ASSERT_TRUE(b < l->nr_discard);
	l->discard[b] = (uint8_t)!!discarded;
	return 0;
}

/* The cursors' report. */
static void load_by_cursor(struct cache_md *cmd, uint32_t nr_discard,
			   struct load *l)
{
	memset(l, 0, sizeof(*l));
	ASSERT_OK(cache_get_size(cmd, &l->nr));
	ASSERT_TRUE(l->nr <= LOADC);
	l->nr_discard = nr_discard;
	ASSERT_OK(cache_walk_mappings(cmd, load_mapping, l));
	ASSERT_OK(cache_walk_discards(cmd, load_discard, l));
}

/* What is stored, read index by index (array_get, one word per bit) through
 * a tm of its own on the committed superblock. */
static void load_by_index(struct bdev *bd, struct load *l)
{
	struct array_info mapping, hints, dirty, discard;
	struct bt_value_type vt = { .context = NULL, .size = 8 };
	struct block_manager *bm;
	struct transaction_manager *tm;
	struct space_map *sm;
	struct cache_sb_info sbi;
	uint8_t v[8];

	memset(l, 0, sizeof(*l));
	ASSERT_OK(cache_read_superblock(bd, &sbi));
	ASSERT_TRUE(sbi.cache_blocks <= LOADC && sbi.discard_nr_blocks <= LOADD);
	l->nr = sbi.cache_blocks;
	l->nr_discard = (uint32_t)sbi.discard_nr_blocks;
	ASSERT_OK(bm_create(bd, 64, &bm));
	bm_set_read_only(bm, 1);
	ASSERT_OK(sm_core_create(bd->nr_blocks, &sm));
	ASSERT_OK(tm_create(bm, sm, &tm));
	array_info_init(&mapping, tm, &vt);
	array_info_init(&dirty, tm, &vt);
	array_info_init(&discard, tm, &vt);
	vt.size = 4;
	array_info_init(&hints, tm, &vt);
	for (uint32_t cb = 0; cb < l->nr; cb++) {
		uint64_t x;

		ASSERT_OK(array_get(&mapping, sbi.mapping_root, cb, v));
		x = le64_get(v);
		if (!(x & CACHE_M_VALID))
			continue;
		l->mapped[cb] = 1;
		l->oblock[cb] = x >> 16;
		l->dirty[cb] = !!(x & CACHE_M_DIRTY);
		if (sbi.version >= 2) {
			ASSERT_OK(array_get(&dirty, sbi.dirty_root, cb / 64, v));
			l->dirty[cb] = (uint8_t)(le64_get(v) >> (cb % 64) & 1);
		}
		if (sbi.hint_root) {
			ASSERT_OK(array_get(&hints, sbi.hint_root, cb, v));
			l->has_hint[cb] = 1;
			l->hint[cb] = le32_get(v);
		}
	}
	for (uint32_t b = 0; b < l->nr_discard; b++) {
		ASSERT_OK(array_get(&discard, sbi.discard_root, b / 64, v));
		l->discard[b] = (uint8_t)(le64_get(v) >> (b % 64) & 1);
	}
	tm_destroy(tm);
	sm_destroy(sm);
	bm_destroy(bm);
}

static void load_compare(const struct load *a, const struct load *b,
			 const char *what)
{
	if (a->nr != b->nr || a->nr_discard != b->nr_discard)
		test_fail(__FILE__, __LINE__, "%s: sizes %u/%u, %u/%u", what,
			  a->nr, a->nr_discard, b->nr, b->nr_discard);
	for (uint32_t cb = 0; cb < a->nr; cb++)
		if (a->mapped[cb] != b->mapped[cb] ||
		    a->oblock[cb] != b->oblock[cb] ||
		    a->dirty[cb] != b->dirty[cb] ||
		    a->has_hint[cb] != b->has_hint[cb] ||
		    a->hint[cb] != b->hint[cb])
			test_fail(__FILE__, __LINE__, "%s: cblock %u: mapped %u/%u "
				  "oblock %llu/%llu dirty %u/%u hint %u:%u/%u:%u",
				  what, cb, a->mapped[cb], b->mapped[cb],
				  (unsigned long long)a->oblock[cb],
				  (unsigned long long)b->oblock[cb],
				  a->dirty[cb], b->dirty[cb], a->has_hint[cb],
				  a->hint[cb], b->has_hint[cb], b->hint[cb]);
	for (uint32_t d = 0; d < a->nr_discard; d++)
		if (a->discard[d] != b->discard[d])
			test_fail(__FILE__, __LINE__, "%s: dblock %u: %u/%u", what,
				  d, a->discard[d], b->discard[d]);
}

/* What the model says is stored: mappings, the hint array's content
 * (hintval, valid once written) and the discard bits. */
struct load_model {
	struct load l;			/* mapped, oblock, dirty, discard */
	uint32_t hintval[LOADC];
	int hints_valid;
};

/* In the middle of a transaction: the cursors (which see the bitsets'
 * cached words through cache.c) against cache_lookup_mapping, block by
 * block, and against the model's hints and discard bits. */
static void compare_live(struct cache_md *cmd, const struct load_model *m,
			 struct load *l)
{
	load_by_cursor(cmd, m->l.nr_discard, l);
	ASSERT_UEQ(l->nr, m->l.nr);
	for (uint32_t cb = 0; cb < l->nr; cb++) {
		struct cache_mapping cm;
		int r = cache_lookup_mapping(cmd, cb, &cm);

		ASSERT_EQ(l->mapped[cb], m->l.mapped[cb]);
		if (!l->mapped[cb]) {
			ASSERT_ERR(r, -ENODATA);
			continue;
		}
		ASSERT_OK(r);
		ASSERT_UEQ(cm.oblock, l->oblock[cb]);
		ASSERT_EQ(cm.dirty, l->dirty[cb]);
		ASSERT_UEQ(l->oblock[cb], m->l.oblock[cb]);
		ASSERT_EQ(l->dirty[cb], m->l.dirty[cb]);
		ASSERT_EQ(l->has_hint[cb], m->hints_valid);
		ASSERT_UEQ(l->hint[cb], m->hints_valid ? m->hintval[cb] : 0);
	}
	ASSERT_MEMEQ(l->discard, m->l.discard, l->nr_discard);
}

/* Committed: the cursors of a read-only AS_STORED open (CA7: as stored)
 * against the get-by-index load. */
static void compare_committed(struct bdev *bd, struct load *a, struct load *b)
{
	struct cache_params ro = {
		.flags = CACHE_OPEN_READ_ONLY | CACHE_OPEN_AS_STORED
	};
	struct cache_md *cmd;

	load_by_index(bd, a);
	ASSERT_OK(cache_md_open(bd, &ro, &cmd));
	load_by_cursor(cmd, a->nr_discard, b);
	cache_md_destroy(cmd);
	load_compare(b, a, "cursor load vs get-by-index load");
}

TEST(cache_cursor_load_equals_get_by_index)
{
	uint64_t seed = test_seed(43);
	static struct load_model m;
	static struct load a, b;
	static uint8_t hbuf[LOADC * 4];
	const uint32_t pv[3] = { 2, 0, 0 };

	for (unsigned version = 1; version <= 2; version++) {
		struct cache_params p = { .data_block_size = 128,
					  .version = version };
		struct load *ml = &m.l;
		struct simdisk *sd;
		struct bdev *bd;
		struct cache_md *cmd;
		struct prng rng;

		prng_seed(&rng, prng_derive(seed, version));
		memset(&m, 0, sizeof(m));
		ASSERT_OK(simdisk_create(4096, 4096, &sd));
		bd = simdisk_bdev(sd);
		ASSERT_OK(cache_md_format(bd, &p, &cmd));
		ml->nr = 1100 + (uint32_t)prng_below(&rng, LOADC - 1100 + 1);
		ASSERT_OK(cache_resize(cmd, ml->nr));
		ml->nr_discard = 32600 + (uint32_t)prng_below(&rng, LOADD - 32600 + 1);
		ASSERT_OK(cache_discard_resize(cmd, 256, ml->nr_discard));
		for (int op = 0; op < 2000; op++) {
			uint64_t k = prng_below(&rng, 1000);
			uint32_t cb = (uint32_t)prng_below(&rng, ml->nr);

			if (k < 300) {
				uint64_t ob = (uint64_t)op * 4 + prng_below(&rng, 4);

				ASSERT_OK(cache_insert_mapping(cmd, cb, ob));
				ml->mapped[cb] = 1;
				ml->oblock[cb] = ob;
				ml->dirty[cb] = 0;
			} else if (k < 400) {
				ASSERT_OK(cache_remove_mapping(cmd, cb));
				ml->mapped[cb] = ml->dirty[cb] = 0;
				ml->oblock[cb] = 0;
			} else if (k < 650 && ml->mapped[cb]) {
				int d = (int)prng_below(&rng, 2);

				ASSERT_OK(cache_set_dirty(cmd, cb, d));
				ml->dirty[cb] = (uint8_t)d;
			} else if (k < 850) {
				uint32_t d = (uint32_t)prng_below(&rng, ml->nr_discard);
				int on = (int)prng_below(&rng, 2);

				ASSERT_OK(cache_set_discard(cmd, d, on));
				ml->discard[d] = (uint8_t)on;
			} else if (k < 860) {
				for (uint32_t i = 0; i < ml->nr; i++) {
					m.hintval[i] = (uint32_t)prng_next(&rng);
					le32_put(hbuf + 4 * i, m.hintval[i]);
				}
				ASSERT_OK(cache_write_hints(cmd, "smq", pv, 4, hbuf));
				m.hints_valid = 1;
			} else if (k < 870) {
				uint32_t nr = 1100 + (uint32_t)prng_below(&rng,
									LOADC - 1100 + 1);
				int dirty = 0;

				for (uint32_t i = nr; i < ml->nr; i++)
					dirty |= ml->mapped[i] && ml->dirty[i];
				if (dirty) {
					ASSERT_ERR(cache_resize(cmd, nr), -EINVAL);
				} else {
					ASSERT_OK(cache_resize(cmd, nr));
					for (uint32_t i = nr; i < LOADC; i++) {
						ml->mapped[i] = ml->dirty[i] = 0;
						ml->oblock[i] = 0;
						m.hintval[i] = 0;
					}
					ml->nr = nr;
				}
			} else if (k < 900) {
				ASSERT_OK(cache_commit(cmd, 0));
				compare_committed(bd, &a, &b);
			} else if (k < 910) {
				ASSERT_OK(cache_md_close(cmd));
				compare_committed(bd, &a, &b);
				ASSERT_OK(cache_md_open(bd, &p, &cmd));
				ASSERT_EQ(cache_clean_when_opened(cmd), 1);
			}
			if (op % 100 == 0)
				compare_live(cmd, &m, &a);
		}
		compare_live(cmd, &m, &a);
		ASSERT_OK(cache_md_close(cmd));
		compare_committed(bd, &a, &b);
		audit(bd, CHECK_STRICT);
		simdisk_destroy(sd);
	}
}

/* CA2, CA3 by hand, both formats: an unclean reopen reports every mapped
 * block dirty; a clean close and reopen reports the real bits. */
TEST(cache_unclean_reopen_reports_all_dirty)
{
	for (unsigned version = 1; version <= 2; version++) {
		struct cache_params p = { .data_block_size = 64, .version = version };
		struct cache_sb_info sbi;
		struct cache_mapping cm;
		struct simdisk *sd;
		struct bdev *bd;
		struct cache_md *cmd;

		ASSERT_OK(simdisk_create(4096, 256, &sd));
		bd = simdisk_bdev(sd);
		ASSERT_OK(cache_md_format(bd, &p, &cmd));
		ASSERT_OK(cache_resize(cmd, 100));
		ASSERT_OK(cache_insert_mapping(cmd, 1, 1000));
		ASSERT_OK(cache_insert_mapping(cmd, 2, 2000));
		ASSERT_OK(cache_set_dirty(cmd, 2, 1));
		ASSERT_OK(cache_commit(cmd, 0));
		ASSERT_OK(cache_read_superblock(bd, &sbi));
		ASSERT_EQ(sbi.flags & CACHE_FLAG_CLEAN_SHUTDOWN, 0);
		ASSERT_EQ(sbi.version, version);
		ASSERT_EQ(sbi.cache_blocks, 100);
		cache_md_destroy(cmd);			/* crash */

		ASSERT_OK(cache_md_open(bd, &p, &cmd));
		ASSERT_EQ(cache_clean_when_opened(cmd), 0);
		ASSERT_OK(cache_lookup_mapping(cmd, 1, &cm));
		ASSERT_EQ(cm.dirty, 1);
		ASSERT_OK(cache_lookup_mapping(cmd, 2, &cm));
		ASSERT_EQ(cm.dirty, 1);
		ASSERT_OK(cache_set_dirty(cmd, 1, 0));	/* writeback done */
		ASSERT_OK(cache_md_close(cmd));
		ASSERT_OK(cache_read_superblock(bd, &sbi));
		ASSERT_EQ(sbi.flags & CACHE_FLAG_CLEAN_SHUTDOWN,
			  CACHE_FLAG_CLEAN_SHUTDOWN);

		ASSERT_OK(cache_md_open(bd, &p, &cmd));
		ASSERT_EQ(cache_clean_when_opened(cmd), 1);
		/* CA2: the open cleared the flag on disk at once */
		ASSERT_OK(cache_read_superblock(bd, &sbi));
		ASSERT_EQ(sbi.flags & CACHE_FLAG_CLEAN_SHUTDOWN, 0);
		ASSERT_OK(cache_lookup_mapping(cmd, 1, &cm));
		ASSERT_EQ(cm.dirty, 0);
		ASSERT_OK(cache_lookup_mapping(cmd, 2, &cm));
		ASSERT_EQ(cm.dirty, 1);
		/* CA6 */
		ASSERT_ERR(cache_resize(cmd, 2), -EINVAL);
		ASSERT_OK(cache_resize(cmd, 3));
		ASSERT_OK(cache_md_close(cmd));
		audit(bd, CHECK_STRICT);
		simdisk_destroy(sd);
	}
}

/* CA7: AS_STORED reports stored dirty bits and hints after an unclean
 * shutdown (CA3 would say all dirty, no hints); only read-only.  CA8: the
 * uuid is stored by the next commit and kept by later ones. */
struct stored_walk {
	int dirty[3];
	int has_hint[3];
	uint32_t hint[3];
};

static int stored_mapping(void *ctx, uint32_t cb, uint64_t ob, int dirty,
			  const void *hint)
{
	struct stored_walk *w = ctx;

	(void)ob;
	ASSERT_TRUE(cb < 3);
	w->dirty[cb] = dirty;
	w->has_hint[cb] = hint != NULL;
	if (hint)
		w->hint[cb] = le32_get(hint);
	return 0;
}

TEST(cache_as_stored_and_uuid)
{
	for (unsigned version = 1; version <= 2; version++) {
		struct cache_params p = { .data_block_size = 64, .version = version };
		struct cache_params ro = { .flags = CACHE_OPEN_READ_ONLY };
		static const uint32_t pv[CACHE_POLICY_VERSION_SIZE] = { 2, 0, 0 };
		uint8_t uuid[CACHE_UUID_SIZE] = "pdcrash-uuid-16b", got[CACHE_UUID_SIZE];
		uint8_t hints[3 * 4] = { 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0 };
		struct stored_walk w;
		struct cache_sb_info sbi;
		struct simdisk *sd;
		struct bdev *bd;
		struct cache_md *cmd;

		ASSERT_OK(simdisk_create(4096, 256, &sd));
		bd = simdisk_bdev(sd);
		ASSERT_OK(cache_md_format(bd, &p, &cmd));
		ASSERT_OK(cache_resize(cmd, 3));
		ASSERT_OK(cache_insert_mapping(cmd, 0, 10));
		ASSERT_OK(cache_insert_mapping(cmd, 2, 12));
		ASSERT_OK(cache_set_dirty(cmd, 2, 1));
		ASSERT_OK(cache_set_uuid(cmd, uuid));
		ASSERT_OK(cache_write_hints(cmd, "smq", pv, 4, hints));
		ASSERT_OK(cache_commit(cmd, 0));
		ASSERT_OK(cache_read_superblock(bd, &sbi));
		ASSERT_MEMEQ(sbi.uuid, uuid, CACHE_UUID_SIZE);
		ASSERT_OK(cache_commit(cmd, 0));	/* CA8: kept */
		cache_md_destroy(cmd);			/* crash: not clean */

		ro.flags |= CACHE_OPEN_AS_STORED;
		ASSERT_OK(cache_md_open(bd, &ro, &cmd));
		ASSERT_OK(cache_get_uuid(cmd, got));
		ASSERT_MEMEQ(got, uuid, CACHE_UUID_SIZE);
		memset(&w, 0, sizeof(w));
		ASSERT_OK(cache_walk_mappings(cmd, stored_mapping, &w));
		ASSERT_EQ(w.dirty[0], 0);
		ASSERT_EQ(w.dirty[2], 1);
		ASSERT_EQ(w.has_hint[0], 1);
		ASSERT_EQ(w.hint[0], 1);
		ASSERT_EQ(w.hint[2], 3);
		cache_md_destroy(cmd);

		ro.flags = CACHE_OPEN_READ_ONLY;	/* CA3 as before */
		ASSERT_OK(cache_md_open(bd, &ro, &cmd));
		memset(&w, 0, sizeof(w));
		ASSERT_OK(cache_walk_mappings(cmd, stored_mapping, &w));
		ASSERT_EQ(w.dirty[0], 1);
		ASSERT_EQ(w.has_hint[0], 0);
		cache_md_destroy(cmd);

		p.flags = CACHE_OPEN_AS_STORED;		/* not read-only */
		ASSERT_ERR(cache_md_open(bd, &p, &cmd), -EINVAL);
		simdisk_destroy(sd);
	}
}

struct hint_walk {
	uint32_t n, hint[4];
};

static int keep_hint(void *ctx, uint32_t cb, const void *hint)
{
	struct hint_walk *h = ctx;

	ASSERT_EQ(cb, h->n);
	ASSERT_TRUE(cb < 4);
	h->hint[h->n++] = le32_get(hint);
	return 0;
}

/* cache_walk_hints: every stored hint, of unmapped blocks too, whether the
 * hints are trusted (CA3) or not; nothing without a hint array. */
TEST(cache_walk_hints_gives_every_stored_hint)
{
	struct cache_params p = { .data_block_size = 64, .version = 1 };
	static const uint32_t pv[CACHE_POLICY_VERSION_SIZE] = { 2, 0, 0 };
	uint8_t hints[3 * 4] = { 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0 };
	struct hint_walk h = { 0, { 0 } };
	struct simdisk *sd;
	struct bdev *bd;
	struct cache_md *cmd;

	ASSERT_OK(simdisk_create(4096, 256, &sd));
	bd = simdisk_bdev(sd);
	ASSERT_OK(cache_md_format(bd, &p, &cmd));
	ASSERT_OK(cache_walk_hints(cmd, keep_hint, &h));
	ASSERT_EQ(h.n, 0);
	ASSERT_OK(cache_resize(cmd, 3));
	ASSERT_OK(cache_insert_mapping(cmd, 1, 10));
	ASSERT_OK(cache_write_hints(cmd, "smq", pv, 4, hints));
	ASSERT_OK(cache_commit(cmd, 0));
	cache_md_destroy(cmd);			/* crash: hints untrusted */
	ASSERT_OK(cache_md_open(bd, &p, &cmd));
	ASSERT_OK(cache_walk_hints(cmd, keep_hint, &h));
	ASSERT_EQ(h.n, 3);
	ASSERT_EQ(h.hint[0], 7);
	ASSERT_EQ(h.hint[1], 8);
	ASSERT_EQ(h.hint[2], 9);
	cache_md_destroy(cmd);
	simdisk_destroy(sd);
}

/* CA5: a failed commit poisons the metadata until cache_abort(), which
 * goes back to the last commit. */
TEST(cache_failed_commit_is_sticky)
{
	struct cache_params p = { .data_block_size = 64, .version = 2 };
	struct cache_mapping cm;
	struct simdisk *sd;
	struct bdev *bd;
	struct cache_md *cmd;
	uint32_t nr;

	ASSERT_OK(simdisk_create(4096, 256, &sd));
	bd = simdisk_bdev(sd);
	ASSERT_OK(cache_md_format(bd, &p, &cmd));
	ASSERT_OK(cache_resize(cmd, 50));
	ASSERT_OK(cache_insert_mapping(cmd, 7, 70));
	ASSERT_OK(cache_commit(cmd, 0));
	ASSERT_OK(cache_insert_mapping(cmd, 8, 80));
	ASSERT_OK(simdisk_fail_nth(sd, SD_FLUSH, simdisk_count(sd, SD_FLUSH) + 1, 0));
	ASSERT_ERR(cache_commit(cmd, 0), -EIO);
	ASSERT_TRUE(cache_is_failed(cmd));
	ASSERT_ERR(cache_insert_mapping(cmd, 9, 90), -EIO);
	ASSERT_ERR(cache_lookup_mapping(cmd, 7, &cm), -EIO);
	ASSERT_ERR(cache_commit(cmd, 0), -EIO);
	ASSERT_OK(cache_abort(cmd));
	ASSERT_TRUE(!cache_is_failed(cmd));
	ASSERT_OK(cache_get_size(cmd, &nr));
	ASSERT_EQ(nr, 50);
	ASSERT_OK(cache_lookup_mapping(cmd, 7, &cm));
	ASSERT_UEQ(cm.oblock, 70);
	ASSERT_ERR(cache_lookup_mapping(cmd, 8, &cm), -ENODATA);
	ASSERT_OK(cache_insert_mapping(cmd, 9, 90));
	ASSERT_OK(cache_md_close(cmd));
	audit(bd, CHECK_STRICT);
	simdisk_destroy(sd);
}

TEST(cache_needs_check_and_superblock_layout)
{
	struct cache_params p = { .data_block_size = 512, .version = 1 };
	struct cache_sb_info sbi;
	struct simdisk *sd;
	struct bdev *bd;
	struct cache_md *cmd;
	uint8_t b0[4096];
	int nc;

	ASSERT_OK(simdisk_create(4096, 256, &sd));
	bd = simdisk_bdev(sd);
	ASSERT_OK(cache_md_format(bd, &p, &cmd));
	ASSERT_OK(cache_set_needs_check(cmd));
	ASSERT_OK(cache_get_needs_check(cmd, &nc));
	ASSERT_EQ(nc, 1);
	ASSERT_OK(cache_discard_resize(cmd, 1024, 10));
	ASSERT_OK(cache_md_close(cmd));
	ASSERT_OK(bdev_read(bd, 0, b0));
	ASSERT_UEQ(le64_get(b0 + 32), 06142003);			/* magic */
	ASSERT_UEQ(le32_get(b0 + 40), 1);				/* version */
	ASSERT_UEQ(le32_get(b0 + 4), CACHE_FLAG_CLEAN_SHUTDOWN | CACHE_FLAG_NEEDS_CHECK);
	ASSERT_UEQ(le64_get(b0 + 216), 1024);			/* discard block size */
	ASSERT_UEQ(le64_get(b0 + 224), 10);
	ASSERT_UEQ(le32_get(b0 + 232), 512);
	ASSERT_UEQ(le32_get(b0 + 236), 8);
	ASSERT_UEQ(le32_get(b0), pd_block_csum(b0 + 4, 4092, 9031977u));
	ASSERT_OK(cache_read_superblock(bd, &sbi));
	ASSERT_UEQ(sbi.discard_nr_blocks, 10);
	ASSERT_OK(cache_md_open(bd, &p, &cmd));
	ASSERT_OK(cache_get_needs_check(cmd, &nc));
	ASSERT_EQ(nc, 1);
	cache_md_destroy(cmd);
	p.data_block_size = 128;		/* not the one on disk */
	ASSERT_ERR(cache_md_open(bd, &p, &cmd), -EINVAL);
	simdisk_destroy(sd);
}

/* --- thin-provisioning-tools 0.9.0 as referee ------------------------------ */

static void b64_4(const uint8_t *in, char out[9])
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t a = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

	out[0] = t[a >> 18 & 63];
	out[1] = t[a >> 12 & 63];
	out[2] = t[a >> 6 & 63];
	out[3] = t[a & 63];
	a = (uint32_t)in[3] << 16;
	out[4] = t[a >> 18 & 63];
	out[5] = t[a >> 12 & 63];
	out[6] = '=';
	out[7] = '=';
	out[8] = 0;
}

/* Our image (v1, and v2) passes cache_check; cache_dump lists exactly our
 * mappings, dirty bits (v1 only: 0.9.0 prints every v2 block clean) and
 * hints. */
TEST(cache_core_image_passes_cache_check_and_dumps)
{
	if (!have_tools())
		TEST_SKIP("cache_check / cache_dump / cache_restore not installed");
	for (unsigned version = 1; version <= 2; version++) {
		static struct cmodel m;
		struct cache_params p = { .data_block_size = 128, .version = version };
		struct prng rng;
		struct simdisk *sd;
		struct cache_md *cmd;
		char img[256], xml[256], cmd_line[1024], line[256], data[16], want[9];
		unsigned nmap = 0, nhint = 0;
		FILE *f;

		memset(&m, 0, sizeof(m));
		prng_seed(&rng, 99 + version);
		ASSERT_OK(simdisk_create(4096, 1024, &sd));
		ASSERT_OK(cache_md_format(simdisk_bdev(sd), &p, &cmd));
		do_resize(cmd, &m, 1200);
		for (uint32_t cb = 0; cb < 1200; cb += 1 + (uint32_t)prng_below(&rng, 3)) {
			ASSERT_OK(cache_insert_mapping(cmd, cb, 5000 + cb * 2));
			m.valid[cb] = 1;
			m.oblock[cb] = 5000 + cb * 2;
			if (prng_below(&rng, 2)) {
				ASSERT_OK(cache_set_dirty(cmd, cb, 1));
				m.dirty[cb] = 1;
			}
		}
		ASSERT_OK(cache_commit(cmd, 0));
		ASSERT_OK(cache_remove_mapping(cmd, 3));
		m.valid[3] = m.dirty[3] = 0;
		write_hints(cmd, &m, &rng, 4);
		ASSERT_OK(cache_discard_resize(cmd, 256, 500));
		ASSERT_OK(cache_set_discard(cmd, 17, 1));
		ASSERT_OK(cache_md_close(cmd));
		audit(simdisk_bdev(sd), CHECK_STRICT);

		snprintf(img, sizeof(img), "%s/core%u.img", test_tmpdir(), version);
		snprintf(xml, sizeof(xml), "%s/core%u.xml", test_tmpdir(), version);
		ASSERT_OK(simdisk_export(sd, img));
		simdisk_destroy(sd);
		snprintf(cmd_line, sizeof(cmd_line), "cache_check -q '%s'", img);
		ASSERT_EQ(system(cmd_line), 0);
		snprintf(cmd_line, sizeof(cmd_line), "cache_dump '%s' > '%s'", img, xml);
		ASSERT_EQ(system(cmd_line), 0);
		f = fopen(xml, "r");
		ASSERT_TRUE(f != NULL);
		while (fgets(line, sizeof(line), f)) {
			unsigned cb;
			unsigned long long ob;
			char dirty[8];

			if (sscanf(line, " <mapping cache_block=\"%u\" origin_block=\"%llu\" dirty=\"%7[a-z]\"",
				   &cb, &ob, dirty) == 3) {
				ASSERT_TRUE(cb < m.nr && m.valid[cb]);
				ASSERT_UEQ(ob, m.oblock[cb]);
				if (version == 1)
					ASSERT_EQ(!strcmp(dirty, "true"), m.dirty[cb]);
				else
					ASSERT_STREQ(dirty, "false");
				nmap++;
			} else if (sscanf(line, " <hint cache_block=\"%u\" data=\"%15[^\"]\"",
					  &cb, data) == 2) {
				uint8_t h[4];

				ASSERT_TRUE(cb < m.nr && m.valid[cb]);
				le32_put(h, m.hint[cb]);
				b64_4(h, want);
				ASSERT_STREQ(data, want);
				nhint++;
			}
		}
		fclose(f);
		{
			unsigned valid = 0;

			for (uint32_t i = 0; i < m.nr; i++)
				valid += m.valid[i];
			ASSERT_EQ(nmap, valid);
			ASSERT_EQ(nhint, valid);
		}
	}
}

/* An image cache_restore builds (v1 and v2) opens in our client with the
 * same mappings, dirty bits and hints, and passes our checker. */
TEST(cache_restored_image_opens_in_core)
{
	if (!have_tools())
		TEST_SKIP("cache_check / cache_dump / cache_restore not installed");
	for (unsigned version = 1; version <= 2; version++) {
		static struct cmodel m;
		struct cache_params p = { .data_block_size = 0 };
		char img[256], xml[256], cmd_line[2048], name[17];
		uint32_t pv[3], hs;
		struct bdev *bd;
		struct cache_md *cmd;
		FILE *f;

		memset(&m, 0, sizeof(m));
		m.nr = 300;
		/* 0.9.0's cache_restore writes the hint array but leaves
		 * policy_hint_size 0, so (as in the kernel) the hints are not
		 * valid for the policy. */
		m.hints_valid = 0;
		snprintf(img, sizeof(img), "%s/r%u.img", test_tmpdir(), version);
		snprintf(xml, sizeof(xml), "%s/r%u.xml", test_tmpdir(), version);
		f = fopen(xml, "w");
		ASSERT_TRUE(f != NULL);
		fprintf(f, "<superblock uuid=\"\" block_size=\"256\" nr_cache_blocks=\"300\" "
			   "policy=\"smq\" hint_width=\"4\">\n  <mappings>\n");
		for (uint32_t cb = 0; cb < 300; cb += 7) {
			m.valid[cb] = 1;
			m.oblock[cb] = 100000 + cb * 13;
			m.dirty[cb] = cb % 3 == 0;
			fprintf(f, "    <mapping cache_block=\"%u\" origin_block=\"%llu\" dirty=\"%s\"/>\n",
				cb, (unsigned long long)m.oblock[cb],
				m.dirty[cb] ? "true" : "false");
		}
		fprintf(f, "  </mappings>\n  <hints>\n");
		for (uint32_t cb = 0; cb < 300; cb += 7) {
			uint8_t h[4] = { (uint8_t)cb, 1, 2, (uint8_t)(cb >> 8) };
			char enc[9];

			m.hint[cb] = le32_get(h);
			b64_4(h, enc);
			fprintf(f, "    <hint cache_block=\"%u\" data=\"%s\"/>\n", cb, enc);
		}
		fprintf(f, "  </hints>\n</superblock>\n");
		fclose(f);
		snprintf(cmd_line, sizeof(cmd_line),
			 "rm -f '%s' && truncate -s 8M '%s' && cache_restore -q --metadata-version %u -i '%s' -o '%s'",
			 img, img, version, xml, img);
		ASSERT_EQ(system(cmd_line), 0);

		ASSERT_OK(bdev_file_open(img, 4096, 0, 0, &bd));
		audit_leaks(bd, 0, 1);
		ASSERT_OK(cache_md_open(bd, &p, &cmd));
		ASSERT_EQ(cache_version(cmd), version);
		ASSERT_EQ(cache_clean_when_opened(cmd), 1);
		ASSERT_OK(cache_get_policy(cmd, name, pv, &hs));
		ASSERT_STREQ(name, "smq");
		ASSERT_EQ(hs, 0);	/* as restore wrote it (see above) */
		/* hints of unmapped blocks: whatever restore wrote; compare
		 * only mapped ones (check_mapping looks at those alone) */
		compare(cmd, &m);
		/* and our changes on top keep it valid for cache_check */
		ASSERT_OK(cache_insert_mapping(cmd, 1, 42));
		ASSERT_OK(cache_set_dirty(cmd, 1, 1));
		ASSERT_OK(cache_md_close(cmd));
		bdev_destroy(bd);
		snprintf(cmd_line, sizeof(cmd_line), "cache_check -q '%s'", img);
		ASSERT_EQ(system(cmd_line), 0);
	}
}
