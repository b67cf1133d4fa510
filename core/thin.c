/* core/thin.c - dm-thin pool metadata (see thin.h for the contract).
 *
 * Trees (FORMAT.md 1.4, 1.5):
 *   root          2-level mapping tree: dev id -> (vblock -> block_time)
 *   details_root  dev id -> struct disk_device_details (24 bytes)
 * Both space maps' roots and these two roots are published only by the
 * superblock write at the end of commit (TH1).
 *
 * Device details are cached in core (struct thin_dev) from the first use
 * of a device until the commit that writes them back, as the kernel does;
 * a device created in this transaction exists only there until commit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bm.h"
#include "bt.h"
#include "errors.h"
#include "mutant.h"
#include "sm.h"
#include "sm_common.h"
#include "thin.h"
#include "tm.h"

_Static_assert(THIN_CACHE_NONE == BM_CACHE_NONE, "thin.h names the bm's no-cache");
#include "util.h"

#define SUPERBLOCK_LOCATION 0
#define SB_SPACE_MAP_ROOT_SIZE 128
#define THIN_METADATA_MAX_SECTORS 33292800ull	/* 255 * 16320 * 8 */
#define THIN_METADATA_BLOCK_SECTORS 8u
#define THIN_FEATURE_COMPAT_SUPP 0u
#define THIN_FEATURE_COMPAT_RO_SUPP 0u
#define THIN_FEATURE_INCOMPAT_SUPP 0u
#define TIME_MASK 0xffffffu

/* The thin superblock, block 0 (FORMAT.md 1.2); all fields little-endian,
 * read and written with le*_get/le*_put. */
struct disk_thin_superblock {
	uint32_t csum;			/*   0 over bytes 4..4095, salt 160774 */
	uint32_t flags;			/*   4 THIN_NEEDS_CHECK_FLAG */
	uint64_t blocknr;		/*   8 always 0 */
	uint8_t uuid[16];		/*  16 zeroes */
	uint64_t magic;			/*  32 27022010 */
	uint32_t version;		/*  40 THIN_VERSION */
	uint32_t time;			/*  44 pool snapshot time */
	uint64_t trans_id;		/*  48 userspace transaction id */
	uint64_t held_root;		/*  56 metadata snapshot copy, 0 none */
	uint8_t data_space_map_root[SB_SPACE_MAP_ROOT_SIZE];	/*  64 */
	uint8_t metadata_space_map_root[SB_SPACE_MAP_ROOT_SIZE];	/* 192 */
	uint64_t data_mapping_root;	/* 320 */
	uint64_t device_details_root;	/* 328 */
	uint32_t data_block_size;	/* 336 sectors */
	uint32_t metadata_block_size;	/* 340 sectors, 8 */
	uint64_t metadata_nr_blocks;	/* 344 set at format only */
	uint32_t compat_flags;		/* 352 */
	uint32_t compat_ro_flags;	/* 356 */
	uint32_t incompat_flags;	/* 360 */
} __attribute__((packed));

_Static_assert(sizeof(struct disk_thin_superblock) == 364,
	       "thin superblock is 364 bytes");
_Static_assert(sizeof(struct disk_thin_superblock) <= 512,
	       "the superblock must fit one sector to be written atomically");

#define SB(field) offsetof(struct disk_thin_superblock, field)

/* struct disk_device_details (24 bytes) */
#define DD_MAPPED_BLOCKS	0
#define DD_TRANSACTION_ID	8
#define DD_CREATION_TIME	16
#define DD_SNAPSHOTTED_TIME	20
#define DD_SIZE			24

struct thin_dev {
	uint64_t id;
	uint64_t mapped_blocks;
	uint64_t transaction_id;
	uint32_t creation_time;
	uint32_t snapshotted_time;
	int changed;			/* write back at commit */
};

struct thin_pool {
	struct bdev *bd;
	struct block_manager *bm;
	struct transaction_manager *tm;
	struct space_map *metadata_sm;
	struct space_map *data_sm;

	struct bt_info info;		/* 2 levels: dev, vblock -> block_time */
	struct bt_info nb_info;		/* bottom level alone */
	struct bt_info tl_info;		/* top level: dev -> subtree root */
	struct bt_subtree_ctx tl_ctx;
	struct bt_info details_info;	/* dev -> details */

	pd_block_t root;		/* mapping tree */
	pd_block_t details_root;
	uint32_t time;
	uint64_t trans_id;
	uint32_t flags;
	uint64_t held_root;
	uint32_t data_block_size;
	pd_block_t metadata_nr_blocks_sb;	/* as in the superblock */

	struct thin_dev *devs;		/* in-core details */
	size_t nr_devs, devs_cap;

	int read_only;
	pd_block_t snap_nr_data_blocks;	/* a view: from the copy's sm root */
	int failed;			/* TH4 */
	int changed;			/* anything to commit */
	unsigned cache_blocks;
	int (*pre_commit)(void *ctx);
	void *pre_commit_ctx;
};

/* --- superblock validator ------------------------------------------------ */

static void sb_prepare_for_write(const struct bm_validator *v,
				 struct bm_block *b, size_t size)
{
	uint8_t *d = bm_block_data(b);

	(void)v;
	le64_put(d + SB(blocknr), bm_block_location(b));
	le32_put(d + SB(csum), pd_block_csum(d + 4, size - 4,
					     THIN_SUPERBLOCK_CSUM_XOR));
}

static int sb_check(const struct bm_validator *v, struct bm_block *b,
		    size_t size)
{
	const uint8_t *d = bm_block_cdata(b);

	(void)v;
	if (le64_get(d + SB(blocknr)) != bm_block_location(b)) {
		bm_block_fault(b, "says it is block %" PRIu64,
			       le64_get(d + SB(blocknr)));
		return -ENOTBLK;
	}
	if (le64_get(d + SB(magic)) != THIN_SUPERBLOCK_MAGIC) {
		bm_block_fault(b, "bad magic");
		return -EILSEQ;
	}
	if (le32_get(d + SB(csum)) !=
	    pd_block_csum(d + 4, size - 4, THIN_SUPERBLOCK_CSUM_XOR)) {
		bm_block_fault(b, "bad checksum");
		return -EILSEQ;
	}
	return 0;
}

static const struct bm_validator sb_validator = {
	"thin superblock", sb_prepare_for_write, sb_check
};

/* --- value types --------------------------------------------------------- */

static uint64_t pack_block_time(pd_block_t b, uint32_t t)
{
	return (b << 24) | (t & TIME_MASK);
}

static void unpack_block_time(uint64_t v, pd_block_t *b, uint32_t *t)
{
	*b = v >> 24;
	*t = (uint32_t)(v & TIME_MASK);
}

/* Apply fn to each run of consecutive data blocks in the values. */
static int data_block_runs(struct space_map *sm, const void *values,
			   unsigned count,
			   int (*fn)(struct space_map *, pd_block_t, pd_block_t))
{
	const uint8_t *p = values;
	unsigned i = 0;

	while (i < count) {
		pd_block_t b = le64_get(p + 8 * i) >> 24, e = b + 1;
		int r;

		for (i++; i < count && (le64_get(p + 8 * i) >> 24) == e; i++)
			e++;
		r = fn(sm, b, e);
		if (r)
			return r;
	}
	return 0;
}

static int sm_inc_range_fn(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	return sm_inc_blocks(sm, b, e);
}

static int sm_dec_range_fn(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	return sm_dec_blocks(sm, b, e);
}

static int data_block_inc(void *ctx, const void *values, unsigned count)
{
	struct thin_pool *pool = ctx;

	return data_block_runs(pool->data_sm, values, count, sm_inc_range_fn);
}

static int data_block_dec(void *ctx, const void *values, unsigned count)
{
	struct thin_pool *pool = ctx;

	return data_block_runs(pool->data_sm, values, count, sm_dec_range_fn);
}

static int data_block_equal(void *ctx, const void *v1, const void *v2)
{
	(void)ctx;
	return (le64_get(v1) >> 24) == (le64_get(v2) >> 24);
}

static void setup_btree_info(struct thin_pool *pool)
{
	struct bt_value_type data_vt = {
		.context = pool,
		.size = 8,
		.inc = data_block_inc,
		.dec = data_block_dec,
		.equal = data_block_equal,
	};

	pool->info.tm = pool->tm;
	pool->info.levels = 2;
	pool->info.value_type = data_vt;

	pool->nb_info = pool->info;
	pool->nb_info.levels = 1;

	pool->tl_ctx.sub = pool->nb_info;
	pool->tl_info.tm = pool->tm;
	pool->tl_info.levels = 1;
	pool->tl_info.value_type = (struct bt_value_type) {
		.context = &pool->tl_ctx,
		.size = 8,
		.inc = bt_subtree_inc,
		.dec = bt_subtree_dec,
		.equal = bt_subtree_equal,
	};

	pool->details_info.tm = pool->tm;
	pool->details_info.levels = 1;
	pool->details_info.value_type = (struct bt_value_type) {
		.context = NULL,
		.size = DD_SIZE,
	};
}

/* --- persistent objects: create, open, destroy ---------------------------- */

static void destroy_objects(struct thin_pool *pool)
{
	sm_destroy(pool->data_sm);
	pool->data_sm = NULL;
	tm_destroy(pool->tm);
	pool->tm = NULL;
	sm_destroy(pool->metadata_sm);
	pool->metadata_sm = NULL;
}

/* TH6: freed, not kept for the next transaction: the table's memory
 * follows the devices in use. */
static void drop_devs(struct thin_pool *pool)
{
	pd_free(pool->devs);
	pool->devs = NULL;
	pool->nr_devs = 0;
	pool->devs_cap = 0;
}

/* Take the fields a transaction starts from out of superblock d, which the
 * caller holds locked. */
static void begin_transaction(struct thin_pool *pool, const uint8_t *d)
{
	pool->time = le32_get(d + SB(time));
	pool->root = le64_get(d + SB(data_mapping_root));
	pool->details_root = le64_get(d + SB(device_details_root));
	pool->trans_id = le64_get(d + SB(trans_id));
	pool->flags = le32_get(d + SB(flags));
	pool->held_root = le64_get(d + SB(held_root));
	pool->data_block_size = le32_get(d + SB(data_block_size));
	pool->metadata_nr_blocks_sb = le64_get(d + SB(metadata_nr_blocks));
	pool->changed = 0;
	drop_devs(pool);
}

static int check_features(const uint8_t *d, int read_only)
{
	if (le32_get(d + SB(incompat_flags)) & ~THIN_FEATURE_INCOMPAT_SUPP)
		return -EINVAL;
	if (!read_only &&
	    (le32_get(d + SB(compat_ro_flags)) & ~THIN_FEATURE_COMPAT_RO_SUPP))
		return -EINVAL;
	return 0;
}

static int open_objects(struct thin_pool *pool, uint32_t want_block_size)
{
	struct bm_block *sblock;
	const uint8_t *d;
	unsigned seq;
	int r;

	r = bm_read_lock(pool->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	d = bm_block_cdata(sblock);
	if (want_block_size && le32_get(d + SB(data_block_size)) != want_block_size) {
		r = -EINVAL;
		goto out_unlock;
	}
	r = check_features(d, pool->read_only);
	if (r)
		goto out_unlock;
	seq = bm_damage(pool->bm)->seq;
	r = tm_open_with_sm(pool->bm, SUPERBLOCK_LOCATION,
			    d + SB(metadata_space_map_root), SM_ROOT_SIZE,
			    &pool->tm, &pool->metadata_sm);
	/* The space map refuses sizes in the root (more bitmaps than its
	 * index holds) with no block of its own to name: the root is the
	 * superblock's, so the record names it (errors.h DR2). */
	if (r == -EILSEQ && bm_damage(pool->bm)->seq == seq)
		pd_damage_note(bm_damage(pool->bm), SUPERBLOCK_LOCATION,
			       "block %u (thin superblock): its metadata space "
			       "map root does not fit the space map",
			       SUPERBLOCK_LOCATION);
	if (r)
		goto out_unlock;
	r = sm_disk_open(pool->tm, d + SB(data_space_map_root), SM_ROOT_SIZE,
			 &pool->data_sm);
	if (r)
		goto out_destroy;
	/* The transaction starts from this copy, still locked: no second
	 * lock (that could only hit the cache) to fail. */
	begin_transaction(pool, d);
	bm_unlock(sblock);
	setup_btree_info(pool);
	return 0;

out_destroy:
	destroy_objects(pool);
out_unlock:
	bm_unlock(sblock);
	return r;
}

static int superblock_all_zeroes(struct block_manager *bm, int *result)
{
	struct bm_block *b;
	const uint8_t *d;
	int r;

	r = bm_read_lock(bm, SUPERBLOCK_LOCATION, NULL, &b);
	if (r)
		return r;
	d = bm_block_cdata(b);
	*result = 1;
	for (uint32_t i = 0; i < bm_block_size(bm); i++) {
		if (d[i]) {
			*result = 0;
			break;
		}
	}
	bm_unlock(b);
	/* Drop the unvalidated copy so the next lock runs sb_check. */
	bm_forget(bm, SUPERBLOCK_LOCATION);
	return 0;
}

static int save_sm_roots(struct thin_pool *pool, uint8_t *data_root,
			 uint8_t *meta_root)
{
	int r = sm_copy_root(pool->data_sm, data_root, SM_ROOT_SIZE);

	if (r)
		return r;
	return sm_copy_root(pool->metadata_sm, meta_root, SM_ROOT_SIZE);
}

/* Fill a superblock; nothing here can fail (TH5). */
static void fill_superblock(struct thin_pool *pool, uint8_t *d,
			    const uint8_t *data_root, const uint8_t *meta_root)
{
	le32_put(d + SB(time), pool->time);
	le64_put(d + SB(data_mapping_root), pool->root);
	le64_put(d + SB(device_details_root), pool->details_root);
	le64_put(d + SB(trans_id), pool->trans_id);
	le32_put(d + SB(flags), pool->flags);
	le64_put(d + SB(held_root), pool->held_root);
	memset(d + SB(data_space_map_root), 0, SB_SPACE_MAP_ROOT_SIZE);
	memcpy(d + SB(data_space_map_root), data_root, SM_ROOT_SIZE);
	memset(d + SB(metadata_space_map_root), 0, SB_SPACE_MAP_ROOT_SIZE);
	memcpy(d + SB(metadata_space_map_root), meta_root, SM_ROOT_SIZE);
}

static int format_objects(struct thin_pool *pool, pd_block_t nr_data_blocks)
{
	uint8_t data_root[SM_ROOT_SIZE], meta_root[SM_ROOT_SIZE];
	struct bm_block *sblock;
	uint64_t sectors;
	uint8_t *d;
	int r;

	r = tm_create_with_sm(pool->bm, SUPERBLOCK_LOCATION, &pool->tm,
			      &pool->metadata_sm);
	if (r)
		return r;
	r = sm_disk_create(pool->tm, nr_data_blocks, &pool->data_sm);
	if (r)
		goto out_destroy;
	setup_btree_info(pool);
	r = bt_empty(&pool->info, &pool->root);
	if (r)
		goto out_destroy;
	r = bt_empty(&pool->details_info, &pool->details_root);
	if (r)
		goto out_destroy;
	pool->time = 0;
	pool->trans_id = 0;
	pool->flags = 0;
	pool->held_root = 0;

	/* The commit order of TH1, with a zeroed superblock.  The data space
	 * map's commit is sm_disk_create's own: bt_empty took its blocks from
	 * the metadata space map, so a second one would find nothing. */
	r = tm_pre_commit(pool->tm);
	if (r)
		goto out_destroy;
	r = save_sm_roots(pool, data_root, meta_root);
	if (r)
		goto out_destroy;
	r = bm_write_lock_zero(pool->bm, SUPERBLOCK_LOCATION, &sb_validator,
			       &sblock);
	if (r)
		goto out_destroy;
	d = bm_block_data(sblock);
	le64_put(d + SB(magic), THIN_SUPERBLOCK_MAGIC);
	le32_put(d + SB(version), THIN_VERSION);
	le32_put(d + SB(data_block_size), pool->data_block_size);
	le32_put(d + SB(metadata_block_size), THIN_METADATA_BLOCK_SECTORS);
	sectors = (uint64_t)bdev_nr_blocks(pool->bd) * THIN_METADATA_BLOCK_SECTORS;
	if (sectors > THIN_METADATA_MAX_SECTORS)
		sectors = THIN_METADATA_MAX_SECTORS;
	le64_put(d + SB(metadata_nr_blocks), sectors / THIN_METADATA_BLOCK_SECTORS);
	fill_superblock(pool, d, data_root, meta_root);
	begin_transaction(pool, d);	/* what the commit writes */
	r = tm_commit(pool->tm, sblock);
	if (r)
		goto out_destroy;
	return 0;

out_destroy:
	destroy_objects(pool);
	return r;
}

static int pool_alloc(struct bdev *bd, const struct thin_pool_params *p,
		      struct thin_pool **result)
{
	struct thin_pool *pool;
	int r;

	pool = pd_calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->bd = bd;
	pool->cache_blocks = p->cache_blocks ? p->cache_blocks
					     : THIN_DEFAULT_CACHE_BLOCKS;
	pool->read_only = !!(p->flags & THIN_OPEN_READ_ONLY);
	r = bm_create(bd, pool->cache_blocks, &pool->bm);
	if (r) {
		pd_free(pool);
		return r;
	}
	if (pool->read_only)
		bm_set_read_only(pool->bm, 1);
	*result = pool;
	return 0;
}

static void pool_free(struct thin_pool *pool)
{
	destroy_objects(pool);
	bm_destroy(pool->bm);
	pd_free(pool->devs);
	pd_free(pool);
}

int thin_pool_format(struct bdev *bd, const struct thin_pool_params *p,
		     struct thin_pool **result)
{
	struct thin_pool *pool;
	int r;

	if (p->data_block_size < THIN_MIN_DATA_BLOCK_SIZE ||
	    p->data_block_size > THIN_MAX_DATA_BLOCK_SIZE ||
	    (p->data_block_size & (THIN_MIN_DATA_BLOCK_SIZE - 1)) ||
	    (p->flags & THIN_OPEN_READ_ONLY) ||
	    p->nr_data_blocks > (1ull << 40))
		return -EINVAL;
	r = pool_alloc(bd, p, &pool);
	if (r)
		return r;
	pool->data_block_size = p->data_block_size;
	r = format_objects(pool, p->nr_data_blocks);
	if (r) {
		pool_free(pool);
		return r;
	}
	*result = pool;
	return 0;
}

/* A held metadata snapshot, read-only: its copy names the details and
 * mapping roots; it has no space-map roots (they are zero in the copy), so
 * a core space map stands in, and only what the trees hold can be read. */
int thin_pool_open_metadata_snap(struct bdev *bd, pd_block_t block,
				 const struct thin_pool_params *p,
				 struct thin_pool **result)
{
	struct thin_pool_params ro = *p;
	struct bm_block *sblock;
	struct thin_sb_info sb;
	struct thin_pool *pool;
	int r;

	if (!block) {
		r = thin_read_superblock(bd, &sb);
		if (r)
			return r;
		block = sb.held_root;
		if (!block)
			return -ENODATA;
	}
	r = thin_read_superblock_why(bd, block, &sb, p->damage);
	if (r)
		return r;
	ro.flags = THIN_OPEN_READ_ONLY;
	r = pool_alloc(bd, &ro, &pool);
	if (r)
		return r;
	pool->snap_nr_data_blocks = le64_get(sb.data_sm_root);
	r = sm_core_create(bdev_nr_blocks(bd), &pool->metadata_sm);
	if (!r)
		r = tm_create(pool->bm, pool->metadata_sm, &pool->tm);
	if (r)
		goto out_free;
	setup_btree_info(pool);
	r = bm_read_lock(pool->bm, block, &sb_validator, &sblock);
	if (r)
		goto out_free;
	begin_transaction(pool, bm_block_cdata(sblock));
	bm_unlock(sblock);
	*result = pool;
	return 0;

out_free:
	if (p->damage)
		*p->damage = *bm_damage(pool->bm);
	pool_free(pool);
	return r;
}

#ifdef PD_MUTANTS
/*
 * Planted bug (mutant open-refuses-reordered-writeback): a check at open
 * built on a stronger crash model than the device gives.  Its author took
 * the device to reorder writes only within a queue of REORDER_DEPTH, so
 * that when the last blocks of an interrupted write-back reached the disk,
 * some of the REORDER_DEPTH written just before them must have too; a
 * write-back that breaks this is taken for damage.  It reads the free
 * metadata blocks from the top down.  The highest one holding anything
 * and the free block just below it must both hold something (a lone
 * written block may be an eviction, BM3, and is let be); then, if none of
 * the REORDER_DEPTH free blocks below those two holds anything, open
 * returns -EILSEQ.  bdev.h's B1 (any subset of the writes since the last
 * flush may be lost) makes that a legal crash state: a false alarm, the
 * kind of bug of recovery code that assumes ordered or bounded-reordered
 * writes.
 *
 * It reads only blocks the committed superblock does not reach and writes
 * nothing, so the write-time rules cannot see it, and it fires only when
 * at least 2 pending writes landed and at least REORDER_DEPTH did not, a
 * state that none, all, each one alone and each one left out never build
 * (pdcrash run --sample): only the exhaustive exploration, which decides
 * each block as recovery reads it, meets it.  It is a construction: no
 * commit-order bug was found that shows only in such a combination.  The
 * write-time rules leave a correct recovery nothing pending to read but
 * the superblock and blocks written after it, before its flush; every cut
 * is checked with all its writes landed, so each of those writes must
 * leave a whole state, and a mix that breaks would need a write that
 * changes nothing checked yet makes another one right, which this format
 * does not have.  A recovery that reads what the committed state does not
 * reach escapes that argument, so the bug sits there.
 */
#define REORDER_DEPTH 12

static int nonzero(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i])
			return 1;
	return 0;
}

static int writeback_order_check(struct thin_pool *pool)
{
	pd_block_t b;
	unsigned written = 0, below = 0;
	uint32_t count;
	uint8_t *d;
	int r;

	d = pd_malloc(PD_BLOCK_SIZE);
	if (!d)
		return -ENOMEM;
	for (b = sm_get_nr_blocks(pool->metadata_sm); b-- > 1;) {
		r = sm_get_count(pool->metadata_sm, b, &count);
		if (r)
			break;
		if (count)
			continue;		/* in use: not a free block */
		r = bdev_read(pool->bd, b, d);
		if (r)
			break;
		if (nonzero(d, PD_BLOCK_SIZE)) {
			if (written == 2)
				break;		/* one of the depth landed */
			written++;
			continue;
		}
		if (written == 1)
			break;			/* a lone top block */
		if (written == 2 && ++below == REORDER_DEPTH) {
			r = -EILSEQ;		/* planted: the false alarm */
			break;
		}
	}
	pd_free(d);
	return r;
}
#endif /* PD_MUTANTS */

int thin_pool_open(struct bdev *bd, const struct thin_pool_params *p,
		   struct thin_pool **result)
{
	struct thin_pool *pool;
	int zero, r;

	r = pool_alloc(bd, p, &pool);
	if (r)
		return r;
	r = superblock_all_zeroes(pool->bm, &zero);
	if (r)
		goto out_free;
	if (zero) {
		if (!(p->flags & THIN_OPEN_FORMAT) || pool->read_only) {
			r = -ENODATA;
			goto out_free;
		}
		pool_free(pool);
		return thin_pool_format(bd, p, result);
	}
	r = open_objects(pool, p->data_block_size);
#ifdef PD_MUTANTS
	if (!r && PD_MUTANT(OPEN_REFUSES_REORDERED_WRITEBACK))
		r = writeback_order_check(pool);	/* planted */
#endif
	if (r)
		goto out_free;
	*result = pool;
	return 0;

out_free:
	if (p->damage)
		*p->damage = *bm_damage(pool->bm);
	pool_free(pool);
	return r;
}

void thin_pool_destroy(struct thin_pool *pool)
{
	if (pool)
		pool_free(pool);
}

int thin_pool_close(struct thin_pool *pool)
{
	int r = 0;

	if (!pool->read_only && !pool->failed)
		r = thin_commit(pool);
	pool_free(pool);
	return r;
}

void thin_set_pre_commit(struct thin_pool *pool, int (*fn)(void *ctx),
			 void *ctx)
{
	pool->pre_commit = fn;
	pool->pre_commit_ctx = ctx;
}

struct pd_damage *thin_damage(struct thin_pool *pool)
{
	return bm_damage(pool->bm);
}

int thin_is_failed(const struct thin_pool *pool)
{
	return pool->failed;
}

/* --- guards (TH4) -------------------------------------------------------- */

static int may_read(const struct thin_pool *pool)
{
	return pool->failed ? -EIO : 0;
}

static int may_write(const struct thin_pool *pool)
{
	if (pool->failed)
		return -EIO;
	if (pool->read_only)
		return -EPERM;
	return 0;
}

/* Errors after a change has started poison the pool. */
static int poison(struct thin_pool *pool, int r)
{
	if (r) {
		pool->failed = 1;
		if (pool->tm)
			tm_set_failed(pool->tm);
	}
	return r;
}

/* --- devices --------------------------------------------------------------- */

static struct thin_dev *find_dev(struct thin_pool *pool, uint64_t id)
{
	for (size_t i = 0; i < pool->nr_devs; i++)
		if (pool->devs[i].id == id)
			return &pool->devs[i];
	return NULL;
}

static int add_dev(struct thin_pool *pool, const struct thin_dev *td,
		   struct thin_dev **result)
{
	if (pool->nr_devs == pool->devs_cap) {
		size_t cap = pool->devs_cap ? pool->devs_cap * 2 : 16;
		struct thin_dev *n = pd_realloc(pool->devs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		pool->devs = n;
		pool->devs_cap = cap;
	}
	pool->devs[pool->nr_devs] = *td;
	*result = &pool->devs[pool->nr_devs++];
	return 0;
}

static void remove_dev(struct thin_pool *pool, struct thin_dev *td)
{
	size_t i = (size_t)(td - pool->devs);

	pool->devs[i] = pool->devs[--pool->nr_devs];
}

/* The in-core details of dev, loaded from the details tree on first use;
 * -ENODATA if there is no such device. */
static int get_dev(struct thin_pool *pool, uint64_t id, struct thin_dev **result)
{
	uint8_t v[DD_SIZE];
	struct thin_dev td;
	int r;

	*result = find_dev(pool, id);
	if (*result)
		return 0;
	r = bt_lookup(&pool->details_info, pool->details_root, &id, v);
	if (r)
		return r;
	td.id = id;
	td.mapped_blocks = le64_get(v + DD_MAPPED_BLOCKS);
	td.transaction_id = le64_get(v + DD_TRANSACTION_ID);
	td.creation_time = le32_get(v + DD_CREATION_TIME);
	td.snapshotted_time = le32_get(v + DD_SNAPSHOTTED_TIME);
	td.changed = 0;
	return add_dev(pool, &td, result);
}

static int dev_exists(struct thin_pool *pool, uint64_t id, int *exists)
{
	struct thin_dev *td;
	int r = get_dev(pool, id, &td);

	if (r == -ENODATA) {
		*exists = 0;
		return 0;
	}
	*exists = !r;
	return r;
}

static int new_dev(struct thin_pool *pool, uint64_t id, struct thin_dev **result)
{
	struct thin_dev td = {
		.id = id,
		.mapped_blocks = 0,
		.transaction_id = pool->trans_id,
		.creation_time = pool->time,
		.snapshotted_time = pool->time,
		.changed = 1,
	};

	return add_dev(pool, &td, result);
}

/* Validation shared by create_thin and create_snap (no change yet). */
static int check_new_id(struct thin_pool *pool, uint64_t dev)
{
	int exists, r;

	if (dev > THIN_MAX_DEV_ID)
		return -EINVAL;
	r = dev_exists(pool, dev, &exists);
	if (r)
		return r;
	return exists ? -EEXIST : 0;
}

int thin_create_thin(struct thin_pool *pool, uint64_t dev)
{
	struct thin_dev *td;
	pd_block_t dev_root;
	uint8_t v[8];
	int r;

	r = may_write(pool);
	if (r)
		return r;
	r = check_new_id(pool, dev);
	if (r)
		return r;
	pool->changed = 1;
	r = bt_empty(&pool->nb_info, &dev_root);
	if (r)
		return poison(pool, r);
	le64_put(v, dev_root);
	r = bt_insert(&pool->tl_info, pool->root, &dev, v, &pool->root, NULL);
	if (r)
		return poison(pool, r);
	return poison(pool, new_dev(pool, dev, &td));
}

int thin_create_snap(struct thin_pool *pool, uint64_t dev, uint64_t origin)
{
	struct thin_dev *td, *otd;
	pd_block_t origin_root;
	uint8_t v[8];
	int r;

	r = may_write(pool);
	if (r)
		return r;
	r = check_new_id(pool, dev);
	if (r)
		return r;
	r = get_dev(pool, origin, &otd);
	if (r)
		return r == -ENODATA ? r : poison(pool, r);
	r = bt_lookup(&pool->tl_info, pool->root, &origin, v);
	if (r)
		return poison(pool, r == -ENODATA ? -EILSEQ : r);
	pool->changed = 1;
	origin_root = le64_get(v);
	/* Share the origin's whole mapping tree: one more reference. */
	r = tm_inc(pool->tm, origin_root);
	if (r)
		return poison(pool, r);
	r = bt_insert(&pool->tl_info, pool->root, &dev, v, &pool->root, NULL);
	if (r)
		return poison(pool, r);
	pool->time++;
	r = new_dev(pool, dev, &td);
	if (r)
		return poison(pool, r);
	otd = find_dev(pool, origin);		/* add_dev may have moved it */
	otd->snapshotted_time = pool->time;
	otd->changed = 1;
	td->mapped_blocks = otd->mapped_blocks;
	td->snapshotted_time = pool->time;
	return 0;
}

int thin_delete(struct thin_pool *pool, uint64_t dev)
{
	struct thin_dev *td;
	uint8_t v[DD_SIZE];
	int in_tree, r;

	r = may_write(pool);
	if (r)
		return r;
	r = get_dev(pool, dev, &td);
	if (r)
		return r == -ENODATA ? r : poison(pool, r);
	r = bt_lookup(&pool->details_info, pool->details_root, &dev, v);
	if (r && r != -ENODATA)
		return poison(pool, r);
	in_tree = !r;		/* not yet if created in this transaction */
	pool->changed = 1;
	remove_dev(pool, td);
	if (in_tree) {
		r = bt_remove(&pool->details_info, pool->details_root, &dev,
			      &pool->details_root);
		if (r)
			return poison(pool, r);
	}
	/* Drops the mapping tree (bt_subtree_dec frees it if unshared). */
	return poison(pool, bt_remove(&pool->tl_info, pool->root, &dev,
				      &pool->root));
}

static void dev_to_info(const struct thin_dev *td, struct thin_dev_info *info)
{
	info->dev = td->id;
	info->mapped_blocks = td->mapped_blocks;
	info->transaction_id = td->transaction_id;
	info->creation_time = td->creation_time;
	info->snapshotted_time = td->snapshotted_time;
}

/* The guard of every read of one device, then its in-core details. */
static int read_dev(struct thin_pool *pool, uint64_t id, struct thin_dev **result)
{
	int r = may_read(pool);

	return r ? r : get_dev(pool, id, result);
}

int thin_dev_info(struct thin_pool *pool, uint64_t dev,
		  struct thin_dev_info *info)
{
	struct thin_dev *td;
	int r = read_dev(pool, dev, &td);

	if (!r)
		dev_to_info(td, info);
	return r;
}

int thin_set_dev_info(struct thin_pool *pool, const struct thin_dev_info *info)
{
	struct thin_dev *td;
	int exists, r;

	r = may_write(pool);
	if (r)
		return r;
	if (info->dev > THIN_MAX_DEV_ID)
		return -EINVAL;
	r = dev_exists(pool, info->dev, &exists);
	if (r)
		return poison(pool, r);
	if (!exists) {
		r = thin_create_thin(pool, info->dev);
		if (r)
			return r;
	}
	td = find_dev(pool, info->dev);
	pool->changed = 1;
	td->mapped_blocks = info->mapped_blocks;
	td->transaction_id = info->transaction_id;
	td->creation_time = info->creation_time;
	td->snapshotted_time = info->snapshotted_time;
	td->changed = 1;
	return 0;
}

struct id_list {
	uint64_t *ids;
	size_t max, nr;
	int overflow;
};

static int collect_id(void *ctx, const uint64_t *keys, const void *value)
{
	struct id_list *l = ctx;

	(void)value;
	if (l->nr < l->max)
		l->ids[l->nr] = keys[0];
	else
		l->overflow = 1;
	l->nr++;
	return 0;
}

int thin_list_devs(struct thin_pool *pool, uint64_t *devs, size_t max,
		   size_t *nr)
{
	struct id_list l = { devs, max, 0, 0 };
	int r = may_read(pool);

	if (r)
		return r;
	/* The top-level mapping tree holds every device, committed or not.
	 * The walk hands the ids over ascending, even from damaged metadata:
	 * each node's keys ascend (BT1, the validator) and lie in the range
	 * its parent gives (bt_walk refuses the node otherwise). */
	r = bt_walk(&pool->tl_info, pool->root, collect_id, &l);
	if (r)
		return r;
	*nr = l.nr;
	return l.overflow ? -ENOSPC : 0;
}

int thin_list_devs_alloc(struct thin_pool *pool, uint64_t **devs, size_t *nr)
{
	size_t cap = 64;
	int r;

	for (;;) {
		uint64_t *d = pd_malloc(cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		r = thin_list_devs(pool, d, cap, nr);
		if (!r) {
			*devs = d;
			return 0;
		}
		pd_free(d);
		if (r != -ENOSPC)
			return r;
		cap = *nr + 16;		/* the walk counted them all */
	}
}

/* --- mappings -------------------------------------------------------------- */

int thin_lookup(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
		struct thin_lookup_result *result)
{
	uint64_t keys[2] = { dev, vblock };
	struct thin_dev *td;
	uint8_t v[8];
	int r = read_dev(pool, dev, &td);

	if (r)
		return r;
	r = bt_lookup(&pool->info, pool->root, keys, v);
	if (r)
		return r;
	unpack_block_time(le64_get(v), &result->data_block, &result->time);
	result->shared = td->snapshotted_time > result->time;	/* TH3 */
	return 0;
}

int thin_alloc_data_block(struct thin_pool *pool, pd_block_t *result)
{
	int r = may_write(pool);

	if (r)
		return r;
	pool->changed = 1;
	r = sm_new_block(pool->data_sm, result);
	/* A full data device is an answer, not damage: the caller may free
	 * blocks and go on. */
	return r == -ENOSPC ? r : poison(pool, r);
}

/* thin_insert and thin_insert_raw: the same checks, in the same order;
 * take_ref: a new reference on data_block (restore), else the mapping
 * takes over the one thin_alloc_data_block gave. */
static int insert_mapping(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
			  pd_block_t data_block, uint32_t time, int take_ref)
{
	uint64_t keys[2] = { dev, vblock };
	struct thin_dev *td;
	pd_block_t nr_data;
	uint8_t v[8];
	int inserted, r;

	r = get_dev(pool, dev, &td);
	if (r)
		return r == -ENODATA ? r : poison(pool, r);
	nr_data = sm_get_nr_blocks(pool->data_sm);
	if (data_block >= nr_data ||
	    (data_block >= (1ull << 40) && !PD_MUTANT(INSERT_PAST_40_BITS)))
		return -EINVAL;
	pool->changed = 1;
	if (take_ref) {
		r = sm_inc_block(pool->data_sm, data_block);
		if (r)
			return poison(pool, r);
	}
	le64_put(v, pack_block_time(data_block, time));
	r = bt_insert(&pool->info, pool->root, keys, v, &pool->root, &inserted);
	if (r)
		return poison(pool, r);
	td = find_dev(pool, dev);
	td->changed = 1;
	if (inserted)
		td->mapped_blocks++;
	return 0;
}

int thin_insert(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
		pd_block_t data_block)
{
	int r = may_write(pool);

	if (r)
		return r;
	return insert_mapping(pool, dev, vblock, data_block, pool->time, 0);
}

int thin_insert_raw(struct thin_pool *pool, uint64_t dev, uint64_t vblock,
		    pd_block_t data_block, uint32_t time)
{
	int r = may_write(pool);

	if (r)
		return r;
	return insert_mapping(pool, dev, vblock, data_block, time & TIME_MASK,
			      1);
}

int thin_remove(struct thin_pool *pool, uint64_t dev, uint64_t vblock)
{
	uint64_t keys[2] = { dev, vblock };
	struct thin_dev *td;
	int r = may_write(pool);

	if (r)
		return r;
	r = get_dev(pool, dev, &td);
	if (r)
		return r == -ENODATA ? r : poison(pool, r);
	if (PD_MUTANT(REMOVE_KEEPS_MAPPING)) {
		uint8_t v[8];

		/* planted: a mapped block is found and kept */
		return bt_lookup(&pool->info, pool->root, keys, v);
	}
	/* An absent key is -ENODATA from bt_remove's own lookup, before any
	 * node is shadowed: the pool is unchanged then. */
	r = bt_remove(&pool->info, pool->root, keys, &pool->root);
	if (r)
		return r == -ENODATA ? r : poison(pool, r);
	pool->changed = 1;
	td = find_dev(pool, dev);
	td->mapped_blocks--;
	td->changed = 1;
	return 0;
}

int thin_remove_range(struct thin_pool *pool, uint64_t dev, uint64_t begin,
		      uint64_t end, uint64_t *nr_removed)
{
	uint64_t keys[2] = { dev, begin }, n = 0;
	struct thin_dev *td;
	int r = may_write(pool);

	if (r)
		return r;
	if (begin > end)
		return -EINVAL;
	r = get_dev(pool, dev, &td);
	if (r)
		return r == -ENODATA ? r : poison(pool, r);
	if (begin < end) {
		pool->changed = 1;
		r = bt_remove_range(&pool->info, pool->root, keys, end,
				    &pool->root, &n);
		if (r)
			return poison(pool, r);
		td = find_dev(pool, dev);
		td->mapped_blocks -= n;
		td->changed = 1;
	}
	if (nr_removed)
		*nr_removed = n;
	return 0;
}

struct walk_ctx {
	thin_mapping_fn fn;
	void *ctx;
};

static int walk_one(void *ctx, const uint64_t *keys, const void *value)
{
	struct walk_ctx *w = ctx;
	pd_block_t b;
	uint32_t t;

	unpack_block_time(le64_get(value), &b, &t);
	return w->fn(w->ctx, keys[0], b, t);
}

int thin_walk_mappings(struct thin_pool *pool, uint64_t dev,
		       thin_mapping_fn fn, void *ctx)
{
	struct walk_ctx w = { fn, ctx };
	uint8_t v[8];
	int r = may_read(pool);

	if (r)
		return r;
	r = bt_lookup(&pool->tl_info, pool->root, &dev, v);
	if (r)
		return r;
	return bt_walk(&pool->nb_info, le64_get(v), walk_one, &w);
}

/* --- reads of one device (dm-thin's status and discards) ------------------ */

int thin_get_highest_mapped(struct thin_pool *pool, uint64_t dev,
			    uint64_t *vblock)
{
	struct thin_dev *td;
	int r = read_dev(pool, dev, &td);

	/* keys[0] = dev picks the device's tree; -ENODATA if it is empty */
	return r ? r : bt_find_highest_key(&pool->info, pool->root, &dev, vblock);
}

int thin_get_mapped_count(struct thin_pool *pool, uint64_t dev,
			  uint64_t *count)
{
	struct thin_dev *td;
	int r = read_dev(pool, dev, &td);

	if (!r)
		*count = td->mapped_blocks;
	return r;
}

/* One cursor over dev's bottom tree from begin: the run is a stretch of
 * consecutive leaf entries, so it costs one descent and the leaves it
 * spans, not a lookup from the top per vblock. */
int thin_find_mapped_range(struct thin_pool *pool, uint64_t dev,
			   uint64_t begin, uint64_t end,
			   struct thin_mapped_range *range)
{
	struct bt_cursor *c;
	struct thin_dev *td;
	uint64_t v, key;
	pd_block_t b, next;
	uint32_t t;
	uint8_t val[8];
	int r = read_dev(pool, dev, &td);

	if (!r && end <= begin)
		r = -ENODATA;
	if (!r)
		r = bt_lookup(&pool->tl_info, pool->root, &dev, val);
	if (!r)
		r = bt_cursor_begin(&pool->nb_info, le64_get(val), begin, &c);
	if (r)
		return r;
	bt_cursor_get(c, &v, val);
	if (v >= end) {
		r = -ENODATA;
		goto out;
	}
	unpack_block_time(le64_get(val), &b, &t);
	range->thin_begin = v;
	range->pool_begin = b;
	range->maybe_shared = td->snapshotted_time > t;		/* TH3 */
	for (next = b + 1, v++; v < end; v++, next++) {
		r = bt_cursor_next(c);
		if (r == -ENODATA)
			break;
		if (r)
			goto out;
		bt_cursor_get(c, &key, val);
		unpack_block_time(le64_get(val), &b, &t);
		if (key != v || b != next ||
		    (td->snapshotted_time > t) != range->maybe_shared)
			break;
	}
	range->thin_end = v;
	r = 0;
out:
	bt_cursor_end(c);
	return r;
}


/* --- data block references (dm-thin's discard passdown, TH8) ------------- */

/* [begin, end) within the data device; checked before anything changes, so
 * a refusal is the caller's misuse, not a failure of the pool. */
static int data_range_ok(struct thin_pool *pool, pd_block_t begin,
			 pd_block_t end)
{
	return begin <= end && end <= sm_get_nr_blocks(pool->data_sm) ?
	       0 : -EINVAL;
}

/* inc or dec (fn) a range: a refusal changes nothing; any error of the
 * space map fails the pool (TH4), the dec's of a count already 0 too:
 * the space map refuses it before it changes anything (LL5), but the
 * caller's references and the pool's disagree, so the transaction is not
 * to be trusted. */
static int change_data_range(struct thin_pool *pool, pd_block_t begin,
			     pd_block_t end,
			     int (*fn)(struct space_map *, pd_block_t, pd_block_t))
{
	int r = may_write(pool);

	if (!r)
		r = data_range_ok(pool, begin, end);
	if (r)
		return r;
	/* an empty range: the space map takes no bitmap, nothing changes */
	pool->changed |= begin < end;
	return poison(pool, fn(pool->data_sm, begin, end));
}

int thin_inc_data_range(struct thin_pool *pool, pd_block_t begin,
			pd_block_t end)
{
	return change_data_range(pool, begin, end, sm_inc_range_fn);
}

int thin_dec_data_range(struct thin_pool *pool, pd_block_t begin,
			pd_block_t end)
{
	return change_data_range(pool, begin, end, sm_dec_range_fn);
}

int thin_data_block_is_shared(struct thin_pool *pool, pd_block_t b,
			      int *shared)
{
	int r = may_read(pool);

	if (!r && !pool->data_sm)
		r = -EOPNOTSUPP;	/* a metadata snapshot view */
	if (!r && b >= sm_get_nr_blocks(pool->data_sm))
		r = -EINVAL;
	if (r)
		return r;
	if (PD_MUTANT(PASSDOWN_SHARED_WRONG)) {
		uint32_t count;

		/* planted: the caller's own reference counted twice */
		r = sm_get_count(pool->data_sm, b, &count);
		if (!r)
			*shared = count > 2;
		return r;
	}
	/* A read: an error changes nothing, so it fails nothing (TH6); the
	 * caller holds the references it took and drops them. */
	return sm_count_is_more_than_one(pool->data_sm, b, shared);
}


struct mapped_sum {
	struct thin_pool *pool;
	uint64_t mapped;
};

/* A device's mapped_blocks from the details tree, unless it is in core
 * (counted from there: it may have changed since). */
static int add_stored_mapped(void *ctx, const uint64_t *keys, const void *value)
{
	struct mapped_sum *s = ctx;

	if (!find_dev(s->pool, keys[0]))
		s->mapped += le64_get((const uint8_t *)value + DD_MAPPED_BLOCKS);
	return 0;
}

int thin_check_trees(struct thin_pool *pool, const char **what)
{
	struct mapped_sum s = { pool, 0 };
	struct bt_check_stats st;
	int r = may_read(pool);

	if (r)
		return r;
	*what = "device details tree";
	r = bt_check(&pool->details_info, pool->details_root, NULL, NULL, NULL);
	if (r)
		return r;
	*what = "mapping tree";
	r = bt_check(&pool->info, pool->root, NULL, NULL, &st);
	if (r)
		return r;
	r = bt_walk(&pool->details_info, pool->details_root, add_stored_mapped,
		    &s);
	if (r)
		return r;
	for (size_t i = 0; i < pool->nr_devs; i++)
		s.mapped += pool->devs[i].mapped_blocks;
	*what = "mapping tree's entries against the devices' mapped_blocks";
	return st.nr_entries == s.mapped ? 0 : -EILSEQ;		/* TH2 */
}

/* --- reference counts of the open transaction (TH7) ----------------------- */

struct count_audit {
	pd_block_t nr_meta;
	uint32_t *refs;			/* per metadata block: references */
	uint8_t *seen;			/* per metadata block: node counted */
	unsigned levels;		/* of the tree being walked */
	int mappings;			/* it is the mapping tree */
	pd_block_t *data;		/* one per mapping of a distinct leaf */
	size_t nr_data, data_cap;
	char *msg;			/* thin_check_counts' */
	size_t len;
};

static int audit_ref(struct count_audit *a, pd_block_t b)
{
	/* The callback meets a node's children before bt_check reads them,
	 * and bt_check's own range is the device's, not the space map's. */
	if (b >= a->nr_meta) {
		snprintf(a->msg, a->len, "a tree names block %" PRIu64 ", past the metadata space map's %" PRIu64 " blocks",
			 (uint64_t)b, (uint64_t)a->nr_meta);
		return -EILSEQ;
	}
	a->refs[b]++;
	return 0;
}

static int audit_data(struct count_audit *a, const uint8_t *values,
		      uint32_t nr)
{
	if (a->nr_data + nr > a->data_cap) {
		size_t cap = a->data_cap ? a->data_cap : 256;
		pd_block_t *n;

		while (cap < a->nr_data + nr)
			cap *= 2;
		n = pd_realloc(a->data, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		a->data = n;
		a->data_cap = cap;
	}
	for (uint32_t i = 0; i < nr; i++) {
		uint32_t t;

		unpack_block_time(le64_get(values + 8 * i), &a->data[a->nr_data++],
				  &t);
	}
	return 0;
}

/* bt_check's node callback: a node's references are counted once, at its
 * first visit; a node met again (a subtree shared by snapshots) gains the
 * reference its parent counted and is not walked again. */
static int audit_node(void *ctx, pd_block_t b, const void *node,
		      unsigned level)
{
	struct count_audit *a = ctx;
	struct bt_node_view v;
	int r = 0;

	if (a->seen[b])
		return 1;
	a->seen[b] = 1;
	bt_node_view(node, &v);
	if (!v.leaf || level + 1 < a->levels) {
		/* children, or the roots of the level below */
		for (uint32_t i = 0; i < v.nr_entries && !r; i++)
			r = audit_ref(a, le64_get(v.values + 8 * i));
	} else if (a->mappings) {
		r = audit_data(a, v.values, v.nr_entries);
	}
	return r;
}

static int audit_tree(struct count_audit *a, const struct bt_info *info,
		      pd_block_t root, int mappings)
{
	int r = audit_ref(a, root);

	if (r)
		return r;
	a->levels = info->levels;
	a->mappings = mappings;
	return bt_check(info, root, audit_node, a, NULL);
}

/* The trees the held metadata snapshot's copy names (FORMAT.md 2.6). */
static int audit_held(struct thin_pool *pool, struct count_audit *a)
{
	struct bm_block *copy;
	pd_block_t mroot, droot;
	int r;

	r = audit_ref(a, pool->held_root);
	if (r)
		return r;
	r = tm_read_lock(pool->tm, pool->held_root, &sb_validator, &copy);
	if (r)
		return r;
	mroot = le64_get((const uint8_t *)bm_block_cdata(copy) + SB(data_mapping_root));
	droot = le64_get((const uint8_t *)bm_block_cdata(copy) + SB(device_details_root));
	tm_unlock(pool->tm, copy);
	r = audit_tree(a, &pool->details_info, droot, 0);
	if (!r)
		r = audit_tree(a, &pool->info, mroot, 1);
	return r;
}

static int cmp_block(const void *x, const void *y)
{
	pd_block_t a = *(const pd_block_t *)x, b = *(const pd_block_t *)y;

	return a < b ? -1 : a > b;
}

/* Every data block the distinct leaves name, counted as often as they name
 * it; and no other block counted (a leak): the data map counts exactly as
 * many blocks in use as the leaves name (sm_disk_nr_in_use, not the free
 * count, which answers for the last commit, DS1 and DS2). */
static int audit_data_counts(struct thin_pool *pool, struct count_audit *a)
{
	pd_block_t nr_blocks = sm_get_nr_blocks(pool->data_sm), named = 0;
	pd_block_t in_use = sm_disk_nr_in_use(pool->data_sm);
	int r;

	if (a->nr_data)
		qsort(a->data, a->nr_data, sizeof(*a->data), cmp_block);
	for (size_t i = 0; i < a->nr_data; ) {
		pd_block_t b = a->data[i];
		uint32_t want = 0, count;

		while (i < a->nr_data && a->data[i] == b) {
			want++;
			i++;
		}
		named++;
		if (b >= nr_blocks) {
			snprintf(a->msg, a->len, "data block %" PRIu64 " is mapped, and the data device has %" PRIu64,
				 (uint64_t)b, (uint64_t)nr_blocks);
			return -EILSEQ;
		}
		r = sm_get_count(pool->data_sm, b, &count);
		if (r)
			return r;
		if (count != want) {
			snprintf(a->msg, a->len, "data block %" PRIu64 ": count %" PRIu32 ", named by %" PRIu32 " leaves",
				 (uint64_t)b, count, want);
			return -EILSEQ;
		}
	}
	if (in_use != named) {
		snprintf(a->msg, a->len, "%" PRIu64 " data blocks are counted in use, and the mappings name %" PRIu64,
			 (uint64_t)in_use, (uint64_t)named);
		return -EILSEQ;
	}
	return 0;
}

static int audit_meta_counts(struct thin_pool *pool, struct count_audit *a)
{
	for (pd_block_t b = 0; b < a->nr_meta; b++) {
		uint32_t count;
		int r;

		if (!a->refs[b])
			continue;	/* the space maps' own blocks, or free */
		r = sm_get_count(pool->metadata_sm, b, &count);
		if (r)
			return r;
		if (count != a->refs[b]) {
			snprintf(a->msg, a->len, "metadata block %" PRIu64 ": count %" PRIu32 ", referenced %" PRIu32 " times",
				 (uint64_t)b, count, a->refs[b]);
			return -EILSEQ;
		}
	}
	return 0;
}

int thin_check_counts(struct thin_pool *pool, char *msg, size_t len)
{
	struct count_audit a = { .msg = msg, .len = len };
	int r = may_read(pool);

	msg[0] = 0;
	if (!r && !pool->data_sm)
		r = -EOPNOTSUPP;	/* a metadata snapshot view */
	if (r)
		return r;
	a.nr_meta = sm_get_nr_blocks(pool->metadata_sm);
	a.refs = pd_calloc(a.nr_meta, sizeof(*a.refs));
	a.seen = pd_calloc(a.nr_meta, 1);
	r = a.refs && a.seen ? 0 : -ENOMEM;
	if (!r)
		r = audit_ref(&a, SUPERBLOCK_LOCATION);
	if (!r)
		r = audit_tree(&a, &pool->details_info, pool->details_root, 0);
	if (!r)
		r = audit_tree(&a, &pool->info, pool->root, 1);
	if (!r && pool->held_root)
		r = audit_held(pool, &a);
	if (!r)
		r = audit_meta_counts(pool, &a);
	if (!r)
		r = audit_data_counts(pool, &a);
	pd_free(a.data);
	pd_free(a.seen);
	pd_free(a.refs);
	return r;
}

/* --- pool-wide values ----------------------------------------------------- */

int thin_get_transaction_id(struct thin_pool *pool, uint64_t *id)
{
	int r = may_read(pool);

	if (!r)
		*id = pool->trans_id;
	return r;
}

int thin_set_transaction_id(struct thin_pool *pool, uint64_t current_id,
			    uint64_t new_id)
{
	int r = may_write(pool);

	if (r)
		return r;
	if (pool->trans_id != current_id)
		return -EINVAL;
	pool->trans_id = new_id;
	pool->changed = 1;
	return 0;
}

int thin_get_time(struct thin_pool *pool, uint32_t *time)
{
	int r = may_read(pool);

	if (!r)
		*time = pool->time;
	return r;
}

int thin_set_time(struct thin_pool *pool, uint32_t time)
{
	int r = may_write(pool);

	if (r)
		return r;
	pool->time = time;
	pool->changed = 1;
	return 0;
}

int thin_get_data_block_size(struct thin_pool *pool, uint32_t *sectors)
{
	*sectors = pool->data_block_size;
	return 0;
}

int thin_get_nr_data_blocks(struct thin_pool *pool, pd_block_t *nr)
{
	int r = may_read(pool);

	if (r)
		return r;
	*nr = pool->data_sm ? sm_get_nr_blocks(pool->data_sm)
			    : pool->snap_nr_data_blocks;	/* a view */
	return 0;
}

int thin_get_free_data_blocks(struct thin_pool *pool, pd_block_t *nr)
{
	int r = may_read(pool);

	if (!r && !pool->data_sm)
		r = -EOPNOTSUPP;	/* a metadata snapshot view */
	return r ? r : sm_get_nr_free(pool->data_sm, nr);
}

int thin_get_nr_metadata_blocks(struct thin_pool *pool, pd_block_t *nr)
{
	int r = may_read(pool);

	if (!r)
		*nr = sm_get_nr_blocks(pool->metadata_sm);
	return r;
}

int thin_get_metadata_reserve(struct thin_pool *pool, pd_block_t *nr)
{
	pd_block_t total;
	int r = thin_get_nr_metadata_blocks(pool, &total);

	if (r)
		return r;
	*nr = total / 10 < THIN_METADATA_RESERVE_MAX ? total / 10 :
	      THIN_METADATA_RESERVE_MAX;
	return 0;
}

int thin_get_free_metadata_blocks(struct thin_pool *pool, pd_block_t *nr)
{
	pd_block_t nfree, reserve;
	int r = may_read(pool);

	if (!r)
		r = sm_get_nr_free(pool->metadata_sm, &nfree);
	if (!r)
		r = thin_get_metadata_reserve(pool, &reserve);
	if (r)
		return r;
	*nr = nfree > reserve ? nfree - reserve : 0;
	return 0;
}

int thin_get_allocatable_metadata_blocks(struct thin_pool *pool,
					 pd_block_t *nr)
{
	if (pool->read_only)
		return -EPERM;	/* a view's space map is no allocator */
	return sm_metadata_count_allocatable(pool->metadata_sm, nr);
}

static int resize_space_map(struct thin_pool *pool, struct space_map *sm,
			    pd_block_t new_count)
{
	pd_block_t old_count = sm_get_nr_blocks(sm);

	if (new_count == old_count)
		return 0;
	if (new_count < old_count)
		return -EINVAL;		/* space maps never shrink */
	pool->changed = 1;
	return poison(pool, sm_extend(sm, new_count - old_count));
}

int thin_resize_data(struct thin_pool *pool, pd_block_t nr_blocks)
{
	int r = may_write(pool);

	if (r)
		return r;
	if (nr_blocks > (1ull << 40))
		return -EINVAL;
	return resize_space_map(pool, pool->data_sm, nr_blocks);
}

int thin_resize_metadata(struct thin_pool *pool, pd_block_t nr_blocks)
{
	int r = may_write(pool);

	if (r)
		return r;
	if (nr_blocks > bdev_nr_blocks(pool->bd))
		return -EINVAL;
	/* past what 255 bitmaps count: refused before anything changes, as
	 * a data size past 2^40 is (the space map's extend would refuse it
	 * too, but as an error of a change, which fails the pool) */
	if (nr_blocks > THIN_METADATA_MAX_SECTORS / THIN_METADATA_BLOCK_SECTORS)
		return -EINVAL;
	return resize_space_map(pool, pool->metadata_sm, nr_blocks);
}

/* --- commit and abort ------------------------------------------------------ */

static int write_changed_details(struct thin_pool *pool)
{
	for (size_t i = 0; i < pool->nr_devs; i++) {
		struct thin_dev *td = &pool->devs[i];
		uint8_t v[DD_SIZE];
		int r;

		if (!td->changed)
			continue;
		le64_put(v + DD_MAPPED_BLOCKS, td->mapped_blocks);
		le64_put(v + DD_TRANSACTION_ID, td->transaction_id);
		le32_put(v + DD_CREATION_TIME, td->creation_time);
		le32_put(v + DD_SNAPSHOTTED_TIME, td->snapshotted_time);
		r = bt_insert(&pool->details_info, pool->details_root, &td->id,
			      v, &pool->details_root, NULL);
		if (r)
			return r;
		td->changed = 0;
	}
	return 0;
}

/* The last step of a commit (TH1): the superblock, filled with the
 * roots saved after tm_pre_commit, goes out through tm_commit. */
static int write_superblock(struct thin_pool *pool, const uint8_t *data_root,
			    const uint8_t *meta_root)
{
	struct bm_block *sblock;
	int r;

	r = bm_write_lock(pool->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	fill_superblock(pool, bm_block_data(sblock), data_root, meta_root);
	return tm_commit(pool->tm, sblock);
}

#ifdef PD_MUTANTS
/*
 * Planted bug (mutant superblock-despite-flush-error), the one the Linux fix
 * "dm transaction manager: fix corruption due to non-atomic transaction
 * commit" repaired: the superblock is locked and filled before the metadata
 * flush, and when that flush fails its dirty buffer still goes out with
 * the next write-back, after the failed flush.
 */
static int commit_superblock_early(struct thin_pool *pool)
{
	uint8_t data_root[SM_ROOT_SIZE], meta_root[SM_ROOT_SIZE];
	struct bm_block *sblock;
	int r;

	r = bm_write_lock(pool->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	r = tm_pre_commit(pool->tm);
	if (!r)
		r = save_sm_roots(pool, data_root, meta_root);
	else if (save_sm_roots(pool, data_root, meta_root))
		memset(meta_root, 0, sizeof(meta_root));
	fill_superblock(pool, bm_block_data(sblock), data_root, meta_root);
	if (!r)
		return tm_commit(pool->tm, sblock);
	bm_unlock(sblock);
	bm_flush(pool->bm);	/* the write-back that should never happen */
	return r;
}

/*
 * Planted bug (mutant sm-roots-copied-under-lock), the one the Linux fix
 * "dm: take care to copy the space map roots before locking the
 * superblock" repaired: the roots are copied straight into the locked
 * superblock after the other fields are set; when a copy fails the
 * superblock is unlocked dirty, and the block manager's write-back (as
 * dm-bufio's on teardown) sends it out with new tree roots and stale
 * space-map roots.
 */
static int commit_copy_roots_locked(struct thin_pool *pool)
{
	uint8_t old_data[SM_ROOT_SIZE], old_meta[SM_ROOT_SIZE], *d;
	struct bm_block *sblock;
	int r;

	r = tm_pre_commit(pool->tm);
	if (r)
		return r;
	r = bm_write_lock(pool->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	d = bm_block_data(sblock);
	memcpy(old_data, d + SB(data_space_map_root), SM_ROOT_SIZE);
	memcpy(old_meta, d + SB(metadata_space_map_root), SM_ROOT_SIZE);
	fill_superblock(pool, d, old_data, old_meta);
	r = sm_copy_root(pool->metadata_sm, d + SB(metadata_space_map_root),
			 SM_ROOT_SIZE);
	if (!r)
		r = sm_copy_root(pool->data_sm, d + SB(data_space_map_root),
				 SM_ROOT_SIZE);
	if (!r)
		return tm_commit(pool->tm, sblock);
	bm_unlock(sblock);
	bm_flush(pool->bm);	/* the write-back that should never happen */
	return r;
}

/*
 * Planted bug (mutant sm-root-before-pre-commit), the one the Linux fix
 * "dm era: save spacemap metadata root after the pre-commit" repaired:
 * the roots are saved before tm_pre_commit, which still moves the
 * metadata space map, so the superblock names a stale root.
 */
static int commit_roots_before_pre_commit(struct thin_pool *pool)
{
	uint8_t data_root[SM_ROOT_SIZE], meta_root[SM_ROOT_SIZE];
	int r;

	r = save_sm_roots(pool, data_root, meta_root);
	if (r)
		return r;
	r = tm_pre_commit(pool->tm);
	if (r)
		return r;
	return write_superblock(pool, data_root, meta_root);
}
#endif /* PD_MUTANTS */

/* TH1: the kernel's order, step by step. */
static int commit_transaction(struct thin_pool *pool)
{
	uint8_t data_root[SM_ROOT_SIZE], meta_root[SM_ROOT_SIZE];
	int r;

	if (pool->pre_commit && !PD_MUTANT(NO_DATA_FLUSH_BEFORE_COMMIT)) {
		r = pool->pre_commit(pool->pre_commit_ctx);
		if (r)
			return r;
	}
	r = write_changed_details(pool);
	if (r)
		return r;
	r = sm_commit(pool->data_sm);
	if (r)
		return r;
#ifdef PD_MUTANTS
	if (PD_MUTANT(SUPERBLOCK_DESPITE_FLUSH_ERROR))
		return commit_superblock_early(pool);	/* planted */
	if (PD_MUTANT(SM_ROOTS_COPIED_UNDER_LOCK))
		return commit_copy_roots_locked(pool);	/* planted */
	if (PD_MUTANT(SM_ROOT_BEFORE_PRE_COMMIT))
		return commit_roots_before_pre_commit(pool);	/* planted */
#endif
	r = tm_pre_commit(pool->tm);
	if (r)
		return r;
	r = save_sm_roots(pool, data_root, meta_root);	/* after pre_commit */
	if (r)
		return r;
	return write_superblock(pool, data_root, meta_root);
}

int thin_commit(struct thin_pool *pool)
{
	int r = may_write(pool);

	if (r)
		return r;
	if (pool->changed || PD_MUTANT(COMMIT_UNCHANGED_WRITES)) {
		r = commit_transaction(pool);
		if (r)
			return poison(pool, r);
		pool->changed = 0;
	}
	drop_devs(pool);		/* TH6: the changed entries are written */
	return 0;
}

/*
 * After a failed commit the superblock just read back may exist only in the
 * device's cache: a failed flush can lose acknowledged writes (bdev.h B4),
 * and a later good flush does not make them durable.  The blocks it frees
 * would then be reused in the next transaction while the older superblock
 * that still uses them may be what survives a crash.  Writing the
 * superblock back and flushing it makes the state abort reopened in the
 * durable one before anything else is written.
 */
static int rewrite_superblock(struct thin_pool *pool)
{
	struct bm_block *sblock;
	int r;

	r = bm_write_lock(pool->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	bm_unlock(sblock);
	r = bm_write_block(pool->bm, SUPERBLOCK_LOCATION);
	if (r)
		return r;
	return bdev_flush(pool->bd);
}

int thin_abort(struct thin_pool *pool)
{
	int r;

	if (pool->read_only)
		return -EPERM;
	destroy_objects(pool);
	drop_devs(pool);
	pool->changed = 0;
	pool->failed = 1;		/* until the reopen succeeds */
	r = bm_reset(pool->bm);
	if (r)
		return r;
	r = open_objects(pool, pool->data_block_size);
	if (r)
		return r;
	r = rewrite_superblock(pool);
	if (r)
		return r;
	pool->failed = 0;
	return 0;
}

/* --- metadata snapshot ----------------------------------------------------- */

int thin_reserve_metadata_snap(struct thin_pool *pool)
{
	struct bm_block *copy;
	pd_block_t held;
	uint8_t *d;
	int inc, r;

	r = may_write(pool);
	if (r)
		return r;
	if (pool->held_root)
		return -EBUSY;
	/* The copy must hold committed roots. */
	r = PD_MUTANT(META_SNAP_UNCOMMITTED) ? 0 : thin_commit(pool);
	if (r)
		return r;
	pool->changed = 1;
	r = tm_inc(pool->tm, SUPERBLOCK_LOCATION);
	if (r)
		return poison(pool, r);
	r = tm_shadow_block(pool->tm, SUPERBLOCK_LOCATION, &sb_validator, &copy,
			    &inc);
	if (r)
		return poison(pool, r);
	held = bm_block_location(copy);
	d = bm_block_data(copy);
	/* Not published as a pool: no space maps, no held root. */
	memset(d + SB(data_space_map_root), 0, SB_SPACE_MAP_ROOT_SIZE);
	memset(d + SB(metadata_space_map_root), 0, SB_SPACE_MAP_ROOT_SIZE);
	le64_put(d + SB(held_root), 0);
	r = tm_inc(pool->tm, le64_get(d + SB(data_mapping_root)));
	if (!r)
		r = tm_inc(pool->tm, le64_get(d + SB(device_details_root)));
	tm_unlock(pool->tm, copy);
	if (r)
		return poison(pool, r);
	pool->held_root = held;
	return 0;
}

int thin_release_metadata_snap(struct thin_pool *pool)
{
	struct bm_block *copy;
	pd_block_t held, mroot, droot;
	int r;

	r = may_write(pool);
	if (r)
		return r;
	held = pool->held_root;
	if (!held)
		return -EINVAL;
	r = tm_read_lock(pool->tm, held, &sb_validator, &copy);
	if (r)
		return poison(pool, r);
	mroot = le64_get((const uint8_t *)bm_block_cdata(copy) + SB(data_mapping_root));
	droot = le64_get((const uint8_t *)bm_block_cdata(copy) + SB(device_details_root));
	tm_unlock(pool->tm, copy);
	pool->changed = 1;
	pool->held_root = 0;
	r = bt_del(&pool->info, mroot);
	if (!r)
		r = bt_del(&pool->details_info, droot);
	if (!r)
		r = tm_dec(pool->tm, held);
	return poison(pool, r);
}

int thin_get_metadata_snap(struct thin_pool *pool, pd_block_t *block)
{
	int r = may_read(pool);

	if (!r)
		*block = pool->held_root;
	return r;
}

/* --- flags ------------------------------------------------------------------ */

int thin_set_needs_check(struct thin_pool *pool)
{
	struct bm_block *sblock;
	int r = may_write(pool);

	if (r)
		return r;
	pool->flags |= THIN_NEEDS_CHECK_FLAG;
	/* Block 0 in the cache is the last committed superblock: only the
	 * flag changes, so writing it alone is safe at any moment. */
	r = bm_write_lock(pool->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return poison(pool, r);
	le32_put((uint8_t *)bm_block_data(sblock) + SB(flags),
		 le32_get((uint8_t *)bm_block_data(sblock) + SB(flags)) |
		 THIN_NEEDS_CHECK_FLAG);
	bm_unlock(sblock);
	r = bm_write_block(pool->bm, SUPERBLOCK_LOCATION);
	if (!r)
		r = bdev_flush(pool->bd);
	return poison(pool, r);
}

int thin_get_needs_check(struct thin_pool *pool, int *needs_check)
{
	*needs_check = !!(pool->flags & THIN_NEEDS_CHECK_FLAG);
	return 0;
}

int thin_read_superblock(struct bdev *bd, struct thin_sb_info *info)
{
	return thin_read_superblock_at(bd, SUPERBLOCK_LOCATION, info);
}

int thin_read_superblock_at(struct bdev *bd, pd_block_t block,
			    struct thin_sb_info *info)
{
	return thin_read_superblock_why(bd, block, info, NULL);
}

int thin_read_superblock_why(struct bdev *bd, pd_block_t block,
			     struct thin_sb_info *info, struct pd_damage *why)
{
	const char *fault = NULL;
	uint8_t *d;
	int zero = 1, unread = 0, r;

	if (bd->block_size != PD_BLOCK_SIZE)
		return -EINVAL;
	d = pd_malloc(PD_BLOCK_SIZE);
	if (!d)
		return -ENOMEM;
	r = bdev_read(bd, block, d);
	if (r) {
		fault = "cannot read it";
		unread = 1;
		goto out;
	}
	for (unsigned i = 0; i < PD_BLOCK_SIZE && zero; i++)
		zero = !d[i];
	r = -ENODATA;
	if (zero)
		goto out;
	r = -ENOTBLK;
	if (le64_get(d + SB(blocknr)) != block) {
		if (why)
			pd_damage_note(why, block, "block %" PRIu64 " (thin superblock): says it is block %" PRIu64,
				       (uint64_t)block, le64_get(d + SB(blocknr)));
		goto out;
	}
	r = -EILSEQ;
	if (le64_get(d + SB(magic)) != THIN_SUPERBLOCK_MAGIC) {
		fault = "bad magic";
		goto out;
	}
	if (le32_get(d + SB(csum)) != pd_block_csum(d + 4, PD_BLOCK_SIZE - 4,
						     THIN_SUPERBLOCK_CSUM_XOR)) {
		fault = "bad checksum";
		goto out;
	}
	info->flags = le32_get(d + SB(flags));
	info->version = le32_get(d + SB(version));
	info->time = le32_get(d + SB(time));
	info->trans_id = le64_get(d + SB(trans_id));
	info->held_root = le64_get(d + SB(held_root));
	info->data_mapping_root = le64_get(d + SB(data_mapping_root));
	info->device_details_root = le64_get(d + SB(device_details_root));
	info->data_block_size = le32_get(d + SB(data_block_size));
	info->metadata_block_size = le32_get(d + SB(metadata_block_size));
	info->metadata_nr_blocks = le64_get(d + SB(metadata_nr_blocks));
	memcpy(info->data_sm_root, d + SB(data_space_map_root), SM_ROOT_SIZE);
	memcpy(info->metadata_sm_root, d + SB(metadata_space_map_root),
	       SM_ROOT_SIZE);
	r = 0;
out:
	if (fault && why)
		pd_damage_note(why, block, "block %" PRIu64 " (thin superblock): %s%s%s",
			       (uint64_t)block, fault, unread ? ": " : "",
			       unread ? pd_strerror(r) : "");
	pd_free(d);
	return r;
}
