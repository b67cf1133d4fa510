/* core/cache.c - dm-cache metadata (see cache.h for the contract and the
 * superblock layout).
 *
 * The in-core fields (roots, sizes, policy, statistics, flags) are read
 * from the superblock at the start of each transaction and written into it
 * only by commit (CA1).  The dirty and discard bitsets each cache one word
 * (bitset.h BS2); commit flushes them first.
 */
#include <inttypes.h>
#include <string.h>

#include "array.h"
#include "bitset.h"
#include "bm.h"
#include "cache.h"
#include "mutant.h"
#include "sm.h"
#include "tm.h"
#include "util.h"

_Static_assert(CACHE_BM_CACHE_NONE == BM_CACHE_NONE, "cache.h names the bm's no-cache");

#define SUPERBLOCK_LOCATION	0
#define SB_SPACE_MAP_ROOT_SIZE	128
#define METADATA_BLOCK_SECTORS	8u
#define FEATURE_COMPAT_SUPP	0u
#define FEATURE_COMPAT_RO_SUPP	0u
#define FEATURE_INCOMPAT_SUPP	0u
#define FLAGS_MASK		0xffffull
#define KERNEL_HINT_SIZE	4u

struct disk_cache_superblock {
	uint32_t csum;				/*   0 salt 9031977 */
	uint32_t flags;				/*   4 CACHE_FLAG_* */
	uint64_t blocknr;			/*   8 0 */
	uint8_t uuid[16];			/*  16 CA8 */
	uint64_t magic;				/*  32 */
	uint32_t version;			/*  40 1 or 2 */
	uint8_t policy_name[CACHE_POLICY_NAME_SIZE];	/*  44 */
	uint32_t policy_hint_size;		/*  60 bytes */
	uint8_t metadata_space_map_root[SB_SPACE_MAP_ROOT_SIZE];	/*  64 */
	uint64_t mapping_root;			/* 192 */
	uint64_t hint_root;			/* 200 0: none */
	uint64_t discard_root;			/* 208 */
	uint64_t discard_block_size;		/* 216 sectors */
	uint64_t discard_nr_blocks;		/* 224 */
	uint32_t data_block_size;		/* 232 sectors */
	uint32_t metadata_block_size;		/* 236 sectors, 8 */
	uint32_t cache_blocks;			/* 240 */
	uint32_t compat_flags;			/* 244 */
	uint32_t compat_ro_flags;		/* 248 */
	uint32_t incompat_flags;		/* 252 */
	uint32_t read_hits;			/* 256 */
	uint32_t read_misses;			/* 260 */
	uint32_t write_hits;			/* 264 */
	uint32_t write_misses;			/* 268 */
	uint32_t policy_version[CACHE_POLICY_VERSION_SIZE];	/* 272 */
	uint64_t dirty_root;			/* 284 format 2 */
} __attribute__((packed));

_Static_assert(sizeof(struct disk_cache_superblock) == 292,
	       "cache superblock is 292 bytes");
_Static_assert(sizeof(struct disk_cache_superblock) <= 512,
	       "the superblock must fit one sector to be written atomically");

#define SB(field) offsetof(struct disk_cache_superblock, field)

struct cache_md {
	struct bdev *bd;
	struct block_manager *bm;
	struct transaction_manager *tm;
	struct space_map *metadata_sm;

	struct array_info mapping_info;		/* __le64 values */
	struct array_info hint_info;		/* policy_hint_size values */
	struct bitset_info discard_info;
	struct bitset_info dirty_info;		/* format 2 */

	unsigned version;
	uint32_t flags;
	pd_block_t root, hint_root, discard_root, dirty_root;
	uint64_t discard_block_size;
	uint32_t discard_nr_blocks;
	uint32_t data_block_size;
	uint32_t cache_blocks;
	char policy_name[CACHE_POLICY_NAME_SIZE];
	uint32_t policy_version[CACHE_POLICY_VERSION_SIZE];
	uint32_t policy_hint_size;
	struct cache_stats stats;

	int clean_when_opened;
	int dirty_trusted, discards_trusted, hints_trusted;	/* CA3 */
	uint8_t uuid[CACHE_UUID_SIZE];		/* CA8 */
	int read_only;
	int as_stored;				/* CA7 */
	int failed;				/* CA5 */
	unsigned bm_cache_blocks;
};

/* --- superblock validator ---------------------------------------------------- */

static void sb_prepare_for_write(const struct bm_validator *v,
				 struct bm_block *b, size_t size)
{
	uint8_t *d = bm_block_data(b);

	(void)v;
	le64_put(d + SB(blocknr), bm_block_location(b));
	le32_put(d + SB(csum), pd_block_csum(d + 4, size - 4,
					     CACHE_SUPERBLOCK_CSUM_XOR));
}

static int sb_check(const struct bm_validator *v, struct bm_block *b,
		    size_t size)
{
	const uint8_t *d = bm_block_cdata(b);
	uint32_t version;

	(void)v;
	if (le64_get(d + SB(blocknr)) != bm_block_location(b)) {
		bm_block_fault(b, "says it is block %" PRIu64,
			       le64_get(d + SB(blocknr)));
		return -ENOTBLK;
	}
	if (le64_get(d + SB(magic)) != CACHE_SUPERBLOCK_MAGIC) {
		bm_block_fault(b, "bad magic");
		return -EILSEQ;
	}
	if (le32_get(d + SB(csum)) !=
	    pd_block_csum(d + 4, size - 4, CACHE_SUPERBLOCK_CSUM_XOR)) {
		bm_block_fault(b, "bad checksum");
		return -EILSEQ;
	}
	version = le32_get(d + SB(version));
	if (version < CACHE_MIN_VERSION || version > CACHE_MAX_VERSION) {
		bm_block_fault(b, "version %" PRIu32 " not supported", version);
		return -EINVAL;
	}
	return 0;
}

static const struct bm_validator sb_validator = {
	"cache superblock", sb_prepare_for_write, sb_check
};

/* --- mapping values ------------------------------------------------------------ */

static void pack_mapping(uint8_t *v, uint64_t oblock, uint32_t flags)
{
	le64_put(v, (oblock << 16) | (flags & FLAGS_MASK));
}

static void unpack_mapping(const uint8_t *v, uint64_t *oblock, uint32_t *flags)
{
	uint64_t x = le64_get(v);

	*oblock = x >> 16;
	*flags = (uint32_t)(x & FLAGS_MASK);
}

/* --- objects --------------------------------------------------------------------- */

static void setup_infos(struct cache_md *cmd)
{
	struct bt_value_type vt = { .context = NULL, .size = 8 };

	array_info_init(&cmd->mapping_info, cmd->tm, &vt);
	vt.size = cmd->policy_hint_size ? cmd->policy_hint_size : KERNEL_HINT_SIZE;
	array_info_init(&cmd->hint_info, cmd->tm, &vt);
	bitset_info_init(&cmd->discard_info, cmd->tm);
	bitset_info_init(&cmd->dirty_info, cmd->tm);
}

static void destroy_objects(struct cache_md *cmd)
{
	tm_destroy(cmd->tm);
	cmd->tm = NULL;
	sm_destroy(cmd->metadata_sm);
	cmd->metadata_sm = NULL;
}

static void read_fields(struct cache_md *cmd, const uint8_t *d)
{
	cmd->version = le32_get(d + SB(version));
	cmd->flags = le32_get(d + SB(flags));
	memcpy(cmd->uuid, d + SB(uuid), CACHE_UUID_SIZE);
	cmd->root = le64_get(d + SB(mapping_root));
	cmd->hint_root = le64_get(d + SB(hint_root));
	cmd->discard_root = le64_get(d + SB(discard_root));
	cmd->discard_block_size = le64_get(d + SB(discard_block_size));
	cmd->discard_nr_blocks = (uint32_t)le64_get(d + SB(discard_nr_blocks));
	cmd->data_block_size = le32_get(d + SB(data_block_size));
	cmd->cache_blocks = le32_get(d + SB(cache_blocks));
	memcpy(cmd->policy_name, d + SB(policy_name), CACHE_POLICY_NAME_SIZE);
	for (unsigned i = 0; i < CACHE_POLICY_VERSION_SIZE; i++)
		cmd->policy_version[i] = le32_get(d + SB(policy_version) + 4 * i);
	cmd->policy_hint_size = le32_get(d + SB(policy_hint_size));
	cmd->stats.read_hits = le32_get(d + SB(read_hits));
	cmd->stats.read_misses = le32_get(d + SB(read_misses));
	cmd->stats.write_hits = le32_get(d + SB(write_hits));
	cmd->stats.write_misses = le32_get(d + SB(write_misses));
	cmd->dirty_root = cmd->version >= 2 ? le64_get(d + SB(dirty_root)) : 0;
}

/* Everything but flags and the space-map root; nothing here fails (CA1). */
static void fill_superblock(struct cache_md *cmd, uint8_t *d,
			    const uint8_t *sm_root)
{
	le32_put(d + SB(flags), cmd->flags);
	memcpy(d + SB(uuid), cmd->uuid, CACHE_UUID_SIZE);
	le64_put(d + SB(mapping_root), cmd->root);
	le64_put(d + SB(hint_root), cmd->hint_root);
	le64_put(d + SB(discard_root), cmd->discard_root);
	le64_put(d + SB(discard_block_size), cmd->discard_block_size);
	le64_put(d + SB(discard_nr_blocks), cmd->discard_nr_blocks);
	le32_put(d + SB(cache_blocks), cmd->cache_blocks);
	memcpy(d + SB(policy_name), cmd->policy_name, CACHE_POLICY_NAME_SIZE);
	for (unsigned i = 0; i < CACHE_POLICY_VERSION_SIZE; i++)
		le32_put(d + SB(policy_version) + 4 * i, cmd->policy_version[i]);
	le32_put(d + SB(policy_hint_size), cmd->policy_hint_size);
	le32_put(d + SB(read_hits), cmd->stats.read_hits);
	le32_put(d + SB(read_misses), cmd->stats.read_misses);
	le32_put(d + SB(write_hits), cmd->stats.write_hits);
	le32_put(d + SB(write_misses), cmd->stats.write_misses);
	if (cmd->version >= 2)
		le64_put(d + SB(dirty_root), cmd->dirty_root);
	memset(d + SB(metadata_space_map_root), 0, SB_SPACE_MAP_ROOT_SIZE);
	memcpy(d + SB(metadata_space_map_root), sm_root, SM_ROOT_SIZE);
}

static int begin_transaction(struct cache_md *cmd)
{
	struct bm_block *sblock;
	int r;

	r = bm_read_lock(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	read_fields(cmd, bm_block_cdata(sblock));
	bm_unlock(sblock);
	bitset_drop_cache(&cmd->discard_info);
	bitset_drop_cache(&cmd->dirty_info);
	return 0;
}

/* CA2: clear CLEAN_SHUTDOWN in the committed superblock, write it now. */
static int clear_clean_flag(struct cache_md *cmd)
{
	struct bm_block *sblock;
	uint8_t *d;
	int r;

	r = bm_write_lock(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	d = bm_block_data(sblock);
	le32_put(d + SB(flags),
		 le32_get(d + SB(flags)) & ~CACHE_FLAG_CLEAN_SHUTDOWN);
	read_fields(cmd, d);
	bm_unlock(sblock);
	return bm_flush(cmd->bm);
}

static void set_trust(struct cache_md *cmd)
{
	int trust = cmd->clean_when_opened || cmd->as_stored;	/* CA3, CA7 */

	cmd->dirty_trusted = trust || PD_MUTANT(CACHE_UNCLEAN_TRUSTS_DIRTY);
	cmd->discards_trusted = trust;
	cmd->hints_trusted = trust;
}

static int open_objects(struct cache_md *cmd, uint32_t want_block_size)
{
	struct bm_block *sblock;
	const uint8_t *d;
	int r;

	r = bm_read_lock(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	d = bm_block_cdata(sblock);
	if ((want_block_size && le32_get(d + SB(data_block_size)) != want_block_size) ||
	    (le32_get(d + SB(incompat_flags)) & ~FEATURE_INCOMPAT_SUPP) ||
	    (!cmd->read_only &&
	     (le32_get(d + SB(compat_ro_flags)) & ~FEATURE_COMPAT_RO_SUPP)) ||
	    (le32_get(d + SB(policy_hint_size)) != 0 &&
	     le32_get(d + SB(policy_hint_size)) != KERNEL_HINT_SIZE)) {
		r = -EINVAL;
		goto out_unlock;
	}
	/* Sizes the device cannot hold are damage, not a walk of 2^32
	 * steps: the mapping array stores cache_blocks __le64 entries and
	 * the discard bitset discard_nr_blocks bits, 509 words a block. */
	{
		uint64_t words = bm_nr_blocks(cmd->bm) *
			((PD_BLOCK_SIZE - ARRAY_BLOCK_HEADER_SIZE) / 8);

		if (le32_get(d + SB(cache_blocks)) > words ||
		    le64_get(d + SB(discard_nr_blocks)) > UINT32_MAX ||
		    le64_get(d + SB(discard_nr_blocks)) > words * 64) {
			r = -EILSEQ;
			goto out_unlock;
		}
	}
	r = tm_open_with_sm(cmd->bm, SUPERBLOCK_LOCATION,
			    d + SB(metadata_space_map_root), SM_ROOT_SIZE,
			    &cmd->tm, &cmd->metadata_sm);
	if (r)
		goto out_unlock;
	cmd->clean_when_opened =
		!!(le32_get(d + SB(flags)) & CACHE_FLAG_CLEAN_SHUTDOWN);
	read_fields(cmd, d);
	bm_unlock(sblock);
	setup_infos(cmd);
	set_trust(cmd);
	return 0;

out_unlock:
	bm_unlock(sblock);
	return r;
}

static int format_objects(struct cache_md *cmd)
{
	uint8_t sm_root[SM_ROOT_SIZE];
	struct bm_block *sblock;
	uint8_t *d;
	int r;

	r = tm_create_with_sm(cmd->bm, SUPERBLOCK_LOCATION, &cmd->tm,
			      &cmd->metadata_sm);
	if (r)
		return r;
	cmd->policy_hint_size = 0;
	setup_infos(cmd);
	r = array_empty(&cmd->mapping_info, &cmd->root);
	if (!r && cmd->version >= 2)
		r = bitset_empty(&cmd->dirty_info, &cmd->dirty_root);
	if (!r)
		r = bitset_empty(&cmd->discard_info, &cmd->discard_root);
	if (r)
		goto out_destroy;
	cmd->hint_root = 0;
	cmd->discard_block_size = 0;
	cmd->discard_nr_blocks = 0;
	cmd->cache_blocks = 0;
	cmd->flags = 0;
	memset(cmd->uuid, 0, sizeof(cmd->uuid));
	memset(cmd->policy_name, 0, sizeof(cmd->policy_name));
	memset(cmd->policy_version, 0, sizeof(cmd->policy_version));
	memset(&cmd->stats, 0, sizeof(cmd->stats));

	r = tm_pre_commit(cmd->tm);
	if (r)
		goto out_destroy;
	r = sm_copy_root(cmd->metadata_sm, sm_root, SM_ROOT_SIZE);
	if (r)
		goto out_destroy;
	r = bm_write_lock_zero(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator,
			       &sblock);
	if (r)
		goto out_destroy;
	d = bm_block_data(sblock);
	le64_put(d + SB(magic), CACHE_SUPERBLOCK_MAGIC);
	le32_put(d + SB(version), cmd->version);
	le32_put(d + SB(data_block_size), cmd->data_block_size);
	le32_put(d + SB(metadata_block_size), METADATA_BLOCK_SECTORS);
	fill_superblock(cmd, d, sm_root);
	r = tm_commit(cmd->tm, sblock);
	if (r)
		goto out_destroy;
	cmd->clean_when_opened = 1;
	set_trust(cmd);
	return 0;

out_destroy:
	destroy_objects(cmd);
	return r;
}

static int md_alloc(struct bdev *bd, const struct cache_params *p,
		    struct cache_md **result)
{
	struct cache_md *cmd;
	int r;

	if (bd->block_size != PD_BLOCK_SIZE)
		return -EINVAL;
	cmd = pd_calloc(1, sizeof(*cmd));
	if (!cmd)
		return -ENOMEM;
	cmd->bd = bd;
	cmd->bm_cache_blocks = p->cache_blocks ? p->cache_blocks
					       : CACHE_DEFAULT_CACHE_BLOCKS;
	cmd->read_only = !!(p->flags & CACHE_OPEN_READ_ONLY);
	cmd->as_stored = !!(p->flags & CACHE_OPEN_AS_STORED);
	if (cmd->as_stored && !cmd->read_only) {
		pd_free(cmd);
		return -EINVAL;
	}
	r = bm_create(bd, cmd->bm_cache_blocks, &cmd->bm);
	if (r) {
		pd_free(cmd);
		return r;
	}
	if (cmd->read_only)
		bm_set_read_only(cmd->bm, 1);
	*result = cmd;
	return 0;
}

static void md_free(struct cache_md *cmd)
{
	destroy_objects(cmd);
	bm_destroy(cmd->bm);
	pd_free(cmd);
}

int cache_md_format(struct bdev *bd, const struct cache_params *p,
		    struct cache_md **result)
{
	struct cache_md *cmd;
	int r;

	if (p->version < CACHE_MIN_VERSION || p->version > CACHE_MAX_VERSION ||
	    (p->flags & CACHE_OPEN_READ_ONLY) || !p->data_block_size)
		return -EINVAL;
	r = md_alloc(bd, p, &cmd);
	if (r)
		return r;
	cmd->version = p->version;
	cmd->data_block_size = p->data_block_size;
	r = format_objects(cmd);
	if (!r)
		r = clear_clean_flag(cmd);
	if (r) {
		md_free(cmd);
		return r;
	}
	*result = cmd;
	return 0;
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
	bm_forget(bm, SUPERBLOCK_LOCATION);
	return 0;
}

int cache_md_open(struct bdev *bd, const struct cache_params *p,
		  struct cache_md **result)
{
	struct cache_md *cmd;
	int zero, r;

	r = md_alloc(bd, p, &cmd);
	if (r)
		return r;
	r = superblock_all_zeroes(cmd->bm, &zero);
	if (r)
		goto out_free;
	if (zero) {
		md_free(cmd);
		if (!(p->flags & CACHE_OPEN_FORMAT) ||
		    (p->flags & CACHE_OPEN_READ_ONLY))
			return -ENODATA;
		return cache_md_format(bd, p, result);
	}
	r = open_objects(cmd, p->data_block_size);
	if (r)
		goto out_free;
	if (!cmd->read_only) {
		r = clear_clean_flag(cmd);
		if (r)
			goto out_free;
	}
	*result = cmd;
	return 0;

out_free:
	if (p->damage)
		*p->damage = *bm_damage(cmd->bm);
	md_free(cmd);
	return r;
}

void cache_md_destroy(struct cache_md *cmd)
{
	if (cmd)
		md_free(cmd);
}

int cache_md_close(struct cache_md *cmd)
{
	int r = 0;

	if (!cmd->read_only && !cmd->failed)
		r = cache_commit(cmd, 1);
	md_free(cmd);
	return r;
}

struct pd_damage *cache_damage(struct cache_md *cmd)
{
	return bm_damage(cmd->bm);
}

int cache_is_failed(const struct cache_md *cmd)
{
	return cmd->failed;
}

int cache_clean_when_opened(const struct cache_md *cmd)
{
	return cmd->clean_when_opened;
}

unsigned cache_version(const struct cache_md *cmd)
{
	return cmd->version;
}

/* --- guards (CA5) -------------------------------------------------------------- */

static int may_read(const struct cache_md *cmd)
{
	return cmd->failed ? -EIO : 0;
}

static int may_write(const struct cache_md *cmd)
{
	if (cmd->failed)
		return -EIO;
	if (cmd->read_only)
		return -EPERM;
	return 0;
}

static int poison(struct cache_md *cmd, int r)
{
	if (r) {
		cmd->failed = 1;
		if (cmd->tm)
			tm_set_failed(cmd->tm);
	}
	return r;
}

/* --- CA3: making what is reported what is stored ------------------------------- */

struct valid_list {
	uint32_t *cb;
	size_t nr;
	uint8_t *mapped;		/* per cblock, or NULL */
	uint32_t cache_blocks;		/* size of cb / mapped */
};

static int collect_valid(void *ctx, uint32_t index, const void *value)
{
	struct valid_list *l = ctx;
	uint64_t ob;
	uint32_t fl;

	/* a damaged array may be longer than the superblock says */
	if (index >= l->cache_blocks)
		return -EILSEQ;
	unpack_mapping(value, &ob, &fl);
	if (!(fl & CACHE_M_VALID))
		return 0;
	if (l->mapped)
		l->mapped[index] = 1;
	else if (!(fl & CACHE_M_DIRTY))
		l->cb[l->nr++] = index;
	return 0;
}

static int mapped_bit(void *ctx, uint32_t index, int *bit)
{
	*bit = ((uint8_t *)ctx)[index];
	return 0;
}

static int store_all_dirty(struct cache_md *cmd)
{
	struct valid_list l = { NULL, 0, NULL, cmd->cache_blocks };
	uint8_t v[8];
	int r;

	if (cmd->version >= 2) {
		l.mapped = pd_calloc(cmd->cache_blocks ? cmd->cache_blocks : 1, 1);
		if (!l.mapped)
			return -ENOMEM;
		r = array_walk(&cmd->mapping_info, cmd->root, collect_valid, &l);
		if (!r)
			r = bitset_del(&cmd->dirty_info, cmd->dirty_root);
		if (!r)
			r = bitset_new(&cmd->dirty_info, cmd->cache_blocks,
				       mapped_bit, l.mapped, &cmd->dirty_root);
		pd_free(l.mapped);
		return r;
	}
	l.cb = pd_malloc(((size_t)cmd->cache_blocks + 1) * sizeof(uint32_t));
	if (!l.cb)
		return -ENOMEM;
	r = array_walk(&cmd->mapping_info, cmd->root, collect_valid, &l);
	for (size_t i = 0; !r && i < l.nr; i++) {
		uint64_t ob;
		uint32_t fl;

		r = array_get(&cmd->mapping_info, cmd->root, l.cb[i], v);
		if (r)
			break;
		unpack_mapping(v, &ob, &fl);
		pack_mapping(v, ob, fl | CACHE_M_DIRTY);
		r = array_set(&cmd->mapping_info, cmd->root, l.cb[i], v,
			      &cmd->root);
	}
	pd_free(l.cb);
	return r;
}

static int trust_dirty(struct cache_md *cmd)
{
	int r;

	if (cmd->dirty_trusted)
		return 0;
	r = store_all_dirty(cmd);
	if (r)
		return poison(cmd, r);
	cmd->dirty_trusted = 1;
	return 0;
}

static int zero_bit(void *ctx, uint32_t index, int *bit)
{
	(void)ctx;
	(void)index;
	*bit = 0;
	return 0;
}

static int trust_discards(struct cache_md *cmd)
{
	int r;

	if (cmd->discards_trusted)
		return 0;
	r = bitset_del(&cmd->discard_info, cmd->discard_root);
	if (!r)
		r = bitset_new(&cmd->discard_info, cmd->discard_nr_blocks,
			       zero_bit, NULL, &cmd->discard_root);
	if (r)
		return poison(cmd, r);
	cmd->discards_trusted = 1;
	return 0;
}

/* --- commit and abort (CA1, CA5) ------------------------------------------------ */

static int commit_transaction(struct cache_md *cmd, int clean_shutdown)
{
	uint8_t sm_root[SM_ROOT_SIZE];
	struct bm_block *sblock;
	int r;

	if (clean_shutdown) {
		r = trust_dirty(cmd);
		if (!r)
			r = trust_discards(cmd);
		if (r)
			return r;
		if (!cmd->hints_trusted && cmd->hint_root) {
			/* CA3: untrusted hints must not become trusted */
			r = array_del(&cmd->hint_info, cmd->hint_root);
			if (r)
				return r;
			cmd->hint_root = 0;
		}
		cmd->hints_trusted = 1;
	}
	if (cmd->version >= 2) {
		r = bitset_flush(&cmd->dirty_info, cmd->dirty_root,
				 &cmd->dirty_root);
		if (r)
			return r;
	}
	r = bitset_flush(&cmd->discard_info, cmd->discard_root,
			 &cmd->discard_root);
	if (r)
		return r;
	r = tm_pre_commit(cmd->tm);
	if (r)
		return r;
	r = sm_copy_root(cmd->metadata_sm, sm_root, SM_ROOT_SIZE);	/* after pre_commit */
	if (r)
		return r;
	r = bm_write_lock(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	if (clean_shutdown)
		cmd->flags |= CACHE_FLAG_CLEAN_SHUTDOWN;
	else
		cmd->flags &= ~CACHE_FLAG_CLEAN_SHUTDOWN;
	fill_superblock(cmd, bm_block_data(sblock), sm_root);
	r = tm_commit(cmd->tm, sblock);
	if (r)
		return r;
	return begin_transaction(cmd);
}

int cache_commit(struct cache_md *cmd, int clean_shutdown)
{
	int r = may_write(cmd);

	if (r)
		return r;
	return poison(cmd, commit_transaction(cmd, clean_shutdown));
}

/* The superblock just reopened may be only in the device's cache after a
 * failed flush (bdev.h B4): write it back and flush before anything else
 * (as thin.c does). */
static int rewrite_superblock(struct cache_md *cmd)
{
	struct bm_block *sblock;
	int r;

	r = bm_write_lock(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return r;
	bm_unlock(sblock);
	r = bm_write_block(cmd->bm, SUPERBLOCK_LOCATION);
	if (r)
		return r;
	return bdev_flush(cmd->bd);
}

int cache_abort(struct cache_md *cmd)
{
	int r;

	if (cmd->read_only)
		return -EPERM;
	destroy_objects(cmd);
	cmd->failed = 1;		/* until the reopen succeeds */
	r = bm_reset(cmd->bm);
	if (r)
		return r;
	r = open_objects(cmd, cmd->data_block_size);
	if (r)
		return r;
	r = rewrite_superblock(cmd);
	if (r)
		return r;
	cmd->failed = 0;
	return 0;
}

/* --- size ---------------------------------------------------------------------- */

int cache_get_size(struct cache_md *cmd, uint32_t *nr_cblocks)
{
	int r = may_read(cmd);

	if (!r)
		*nr_cblocks = cmd->cache_blocks;
	return r;
}

/* CA6: 1 in *dirty if a block in [begin, end) is mapped and dirty.  In
 * format 2 the dirty bitset alone says (CA4: unmapped blocks' bits are
 * clear), read with a cursor skipped to begin, as the kernel's
 * blocks_are_clean_separate_dirty() does. */
static int any_dirty_bitset(struct cache_md *cmd, uint32_t begin, uint32_t end,
			    int *dirty)
{
	struct bitset_cursor *c;
	int r;

	r = bitset_flush(&cmd->dirty_info, cmd->dirty_root, &cmd->dirty_root);
	if (r)
		return r;
	r = bitset_cursor_begin(&cmd->dirty_info, cmd->dirty_root,
				cmd->cache_blocks, &c);
	if (r)
		return r;
	if (begin)
		r = bitset_cursor_skip(c, begin);
	for (uint32_t cb = begin; cb < end && !r; cb++) {
		if (bitset_cursor_get(c)) {
			*dirty = 1;
			break;
		}
		if (cb + 1 < end)
			r = bitset_cursor_next(c);
	}
	bitset_cursor_end(c);
	return r;
}

static int any_dirty(struct cache_md *cmd, uint32_t begin, uint32_t end,
		     int *dirty)
{
	uint8_t v[8];
	int r;

	*dirty = 0;
	if (cmd->version >= 2)
		return begin < end ? any_dirty_bitset(cmd, begin, end, dirty) : 0;
	for (uint32_t cb = begin; cb < end && !*dirty; cb++) {
		uint64_t ob;
		uint32_t fl;

		r = array_get(&cmd->mapping_info, cmd->root, cb, v);
		if (r)
			return r;
		unpack_mapping(v, &ob, &fl);
		if (fl & CACHE_M_VALID)
			*dirty = !!(fl & CACHE_M_DIRTY);
	}
	return 0;
}

int cache_resize(struct cache_md *cmd, uint32_t nr)
{
	uint8_t v[8];
	int dirty, r = may_write(cmd);

	if (r)
		return r;
	if (nr == cmd->cache_blocks)
		return 0;
	r = trust_dirty(cmd);
	if (r)
		return r;
	if (nr < cmd->cache_blocks) {
		r = any_dirty(cmd, nr, cmd->cache_blocks, &dirty);
		if (r)
			return poison(cmd, r);
		if (dirty)
			return -EINVAL;
	}
	pack_mapping(v, 0, 0);
	r = array_resize(&cmd->mapping_info, cmd->root, cmd->cache_blocks, nr,
			 v, &cmd->root);
	if (!r && cmd->version >= 2)
		r = bitset_resize(&cmd->dirty_info, cmd->dirty_root,
				  cmd->cache_blocks, nr, 0, &cmd->dirty_root);
	if (!r && cmd->hint_root && cmd->policy_hint_size) {
		memset(v, 0, sizeof(v));
		r = array_resize(&cmd->hint_info, cmd->hint_root,
				 cmd->cache_blocks, nr, v, &cmd->hint_root);
	}
	if (r)
		return poison(cmd, r);
	cmd->cache_blocks = nr;
	return 0;
}

/* --- mappings -------------------------------------------------------------------- */

static int set_dirty_bit(struct cache_md *cmd, uint32_t cblock, int dirty)
{
	if (dirty)
		return bitset_set_bit(&cmd->dirty_info, cmd->dirty_root, cblock,
				      &cmd->dirty_root);
	return bitset_clear_bit(&cmd->dirty_info, cmd->dirty_root, cblock,
				&cmd->dirty_root);
}

static int write_mapping(struct cache_md *cmd, uint32_t cblock,
			 uint64_t oblock, uint32_t flags)
{
	uint8_t v[8];
	int r;

	pack_mapping(v, oblock, flags);
	r = array_set(&cmd->mapping_info, cmd->root, cblock, v, &cmd->root);
	if (!r && cmd->version >= 2)
		r = set_dirty_bit(cmd, cblock, 0);	/* CA4 */
	return r;
}

int cache_insert_mapping(struct cache_md *cmd, uint32_t cblock,
			 uint64_t oblock)
{
	int r = may_write(cmd);

	if (r)
		return r;
	if (cblock >= cmd->cache_blocks || oblock > CACHE_MAX_OBLOCK)
		return -EINVAL;
	r = trust_dirty(cmd);
	if (r)
		return r;
	return poison(cmd, write_mapping(cmd, cblock, oblock, CACHE_M_VALID));
}

int cache_remove_mapping(struct cache_md *cmd, uint32_t cblock)
{
	int r = may_write(cmd);

	if (r)
		return r;
	if (cblock >= cmd->cache_blocks)
		return -EINVAL;
	r = trust_dirty(cmd);
	if (r)
		return r;
	return poison(cmd, write_mapping(cmd, cblock, 0, 0));
}

int cache_set_dirty(struct cache_md *cmd, uint32_t cblock, int dirty)
{
	uint8_t v[8];
	uint64_t ob;
	uint32_t fl;
	int r = may_write(cmd);

	if (r)
		return r;
	if (cblock >= cmd->cache_blocks)
		return -EINVAL;
	r = trust_dirty(cmd);		/* before reading what it may change */
	if (r)
		return r;
	r = array_get(&cmd->mapping_info, cmd->root, cblock, v);
	if (r)
		return r;
	unpack_mapping(v, &ob, &fl);
	if (!(fl & CACHE_M_VALID))
		return -ENODATA;
	if (cmd->version >= 2)
		return poison(cmd, set_dirty_bit(cmd, cblock, !!dirty));
	if (!!(fl & CACHE_M_DIRTY) == !!dirty)
		return 0;
	fl = dirty ? (fl | CACHE_M_DIRTY) : (fl & ~CACHE_M_DIRTY);
	pack_mapping(v, ob, fl);
	return poison(cmd, array_set(&cmd->mapping_info, cmd->root, cblock, v,
				     &cmd->root));
}

/* A bit of a bitset as the caller last set it: the cached word wins over
 * the array; nothing is written (readers stay readers: where the kernel's
 * __load_discards flushes the cached word before its cursor, ours reads
 * the word from the cache). */
static int cached_bit(const struct bitset_info *info, uint32_t index, int *bit)
{
	if (!info->current_set || info->current_index != index / 64)
		return 0;
	*bit = (int)(info->current_bits >> (index % 64) & 1);
	return 1;
}

static int peek_bit(struct bitset_info *info, pd_block_t root, uint32_t index,
		    int *bit)
{
	uint8_t v[8];
	int r;

	if (cached_bit(info, index, bit))
		return 0;
	r = array_get(&info->array, root, index / 64, v);
	if (r)
		return r;
	*bit = (int)(le64_get(v) >> (index % 64) & 1);
	return 0;
}

/* The bit under a cursor over info's array, the cached word first. */
static int cursor_bit(const struct bitset_info *info,
		      const struct bitset_cursor *c)
{
	int bit;

	if (cached_bit(info, bitset_cursor_index(c), &bit))
		return bit;
	return bitset_cursor_get(c);
}

/* The dirty bit cache_walk_mappings and cache_lookup_mapping report; dc
 * (format 2, may be NULL) is a dirty-bitset cursor at cblock. */
static int reported_dirty(struct cache_md *cmd, uint32_t cblock, uint32_t fl,
			  const struct bitset_cursor *dc, int *dirty)
{
	if (!cmd->dirty_trusted) {
		*dirty = 1;		/* CA3 */
		return 0;
	}
	if (cmd->version >= 2) {
		if (!dc)
			return peek_bit(&cmd->dirty_info, cmd->dirty_root,
					cblock, dirty);
		*dirty = cursor_bit(&cmd->dirty_info, dc);
		return 0;
	}
	*dirty = !!(fl & CACHE_M_DIRTY);
	return 0;
}

int cache_lookup_mapping(struct cache_md *cmd, uint32_t cblock,
			 struct cache_mapping *m)
{
	uint8_t v[8];
	uint32_t fl;
	int r = may_read(cmd);

	if (r)
		return r;
	if (cblock >= cmd->cache_blocks)
		return -ENODATA;
	r = array_get(&cmd->mapping_info, cmd->root, cblock, v);
	if (r)
		return r;
	unpack_mapping(v, &m->oblock, &fl);
	if (!(fl & CACHE_M_VALID))
		return -ENODATA;
	return reported_dirty(cmd, cblock, fl, NULL, &m->dirty);
}

/* Like the kernel's __load_mappings: a cursor over the mapping array, one
 * over the hint array and, in format 2, one over the dirty bitset, moved
 * in step and never past the last cache block. */
int cache_walk_mappings(struct cache_md *cmd, cache_mapping_fn fn, void *ctx)
{
	struct array_cursor *mc = NULL, *hc = NULL;
	struct bitset_cursor *dc = NULL;
	int hints_valid, r = may_read(cmd);

	if (r)
		return r;
	if (!cmd->cache_blocks)
		return 0;
	r = array_cursor_begin(&cmd->mapping_info, cmd->root, &mc);
	if (r)
		return r;
	hints_valid = cmd->hints_trusted && cmd->hint_root &&
		      (cmd->policy_hint_size || cmd->as_stored);	/* CA7 */
	if (hints_valid) {
		/* an IO error is the caller's to see, as in the kernel's
		 * __load_mappings; only an empty hint array means no hints */
		r = array_cursor_begin(&cmd->hint_info, cmd->hint_root, &hc);
		if (r == -ENODATA) {
			hints_valid = 0;
			r = 0;
		} else if (r) {
			goto out;
		}
	}
	/* read even while untrusted (CA3), as the kernel reads it */
	if (cmd->version >= 2) {
		r = bitset_cursor_begin(&cmd->dirty_info, cmd->dirty_root,
					cmd->cache_blocks, &dc);
		if (r)
			goto out;
	}
	for (uint32_t cb = 0; ; cb++) {
		uint64_t ob;
		uint32_t fl;
		int dirty;

		unpack_mapping(array_cursor_value(mc), &ob, &fl);
		if (fl & CACHE_M_VALID) {
			r = reported_dirty(cmd, cb, fl, dc, &dirty);
			if (!r)
				r = fn(ctx, cb, ob, dirty,
				       hints_valid ? array_cursor_value(hc) : NULL);
			if (r)
				break;
		}
		if (cb + 1 >= cmd->cache_blocks)
			break;
		r = array_cursor_next(mc);
		if (r)
			break;
		if (hints_valid) {
			r = array_cursor_next(hc);
			if (r == -ENODATA) {
				hints_valid = 0;	/* a short hint array */
				r = 0;
			} else if (r)
				break;
		}
		if (dc) {
			r = bitset_cursor_next(dc);
			if (r)
				break;
		}
	}
out:
	bitset_cursor_end(dc);
	array_cursor_end(hc);
	array_cursor_end(mc);
	return r;
}

/* One array of nr_values values (AR1): its length through its last array
 * block (the highest key of the index, then that block's entry count),
 * then a bt_check of the index tree, which must hold one entry per array
 * block. */
static int check_array_tree(struct array_info *info, pd_block_t root,
			    uint64_t nr_values)
{
	uint32_t max = array_max_entries(info->value_type.size), size;
	struct bt_check_stats st;
	int r = array_size(info, root, &size);

	if (r)	/* a missing last block: the index is damaged */
		return r == -ENODATA || PD_MUTANT(CACHE_CHECK_EIO_AS_DAMAGE) ?
		       -EILSEQ : r;
	if (size != nr_values)
		return -EILSEQ;
	r = bt_check(&info->bt, root, NULL, NULL, &st);
	if (r)
		return r;
	return st.nr_entries == (nr_values + max - 1) / max ? 0 : -EILSEQ;
}

int cache_check_trees(struct cache_md *cmd, const char **what)
{
	int r = may_read(cmd);

	if (r)
		return r;
	*what = "mapping array";
	r = check_array_tree(&cmd->mapping_info, cmd->root, cmd->cache_blocks);
	if (!r && cmd->hint_root && cmd->policy_hint_size) {
		*what = "hint array";
		r = check_array_tree(&cmd->hint_info, cmd->hint_root,
				     cmd->cache_blocks);
	}
	if (!r) {
		*what = "discard bitset";
		r = check_array_tree(&cmd->discard_info.array, cmd->discard_root,
				     (cmd->discard_nr_blocks + 63) / 64);
	}
	if (!r && cmd->version >= 2) {
		*what = "dirty bitset";
		r = check_array_tree(&cmd->dirty_info.array, cmd->dirty_root,
				     ((uint64_t)cmd->cache_blocks + 63) / 64);
	}
	return r;
}

/* --- hints ------------------------------------------------------------------------ */

struct hint_src {
	const uint8_t *hints;
	uint32_t size;
};

static int hint_value(void *ctx, uint32_t index, void *value)
{
	struct hint_src *h = ctx;

	memcpy(value, h->hints + (size_t)index * h->size, h->size);
	return 0;
}

int cache_write_hints(struct cache_md *cmd, const char *policy_name,
		      const uint32_t version[CACHE_POLICY_VERSION_SIZE],
		      uint32_t hint_size, const void *hints)
{
	struct hint_src h = { hints, hint_size };
	struct bt_value_type vt = { .context = NULL, .size = KERNEL_HINT_SIZE };
	size_t len = policy_name ? strlen(policy_name) : 0;
	int r = may_write(cmd);

	if (r)
		return r;
	if (!len || len >= CACHE_POLICY_NAME_SIZE ||
	    (hint_size != 0 && hint_size != KERNEL_HINT_SIZE) ||
	    (hint_size && cmd->cache_blocks && !hints))
		return -EINVAL;
	memset(cmd->policy_name, 0, sizeof(cmd->policy_name));
	memcpy(cmd->policy_name, policy_name, len);
	memcpy(cmd->policy_version, version, sizeof(cmd->policy_version));
	if (cmd->hint_root) {
		r = array_del(&cmd->hint_info, cmd->hint_root);
		if (r)
			return poison(cmd, r);
		cmd->hint_root = 0;
	}
	cmd->policy_hint_size = hint_size;
	cmd->hints_trusted = 1;
	if (!hint_size)
		return 0;
	array_info_init(&cmd->hint_info, cmd->tm, &vt);
	return poison(cmd, array_new(&cmd->hint_info, cmd->cache_blocks,
				     hint_value, &h, &cmd->hint_root));
}

int cache_get_policy(struct cache_md *cmd,
		     char name[CACHE_POLICY_NAME_SIZE + 1],
		     uint32_t version[CACHE_POLICY_VERSION_SIZE],
		     uint32_t *hint_size)
{
	int r = may_read(cmd);

	if (r)
		return r;
	memcpy(name, cmd->policy_name, CACHE_POLICY_NAME_SIZE);
	name[CACHE_POLICY_NAME_SIZE] = 0;
	memcpy(version, cmd->policy_version, sizeof(cmd->policy_version));
	*hint_size = cmd->policy_hint_size;
	return 0;
}

int cache_walk_hints(struct cache_md *cmd, cache_hint_fn fn, void *ctx)
{
	int r = may_read(cmd);

	if (r || !cmd->hint_root)
		return r;
	return array_walk(&cmd->hint_info, cmd->hint_root, fn, ctx);
}

/* --- discards --------------------------------------------------------------------- */

int cache_discard_resize(struct cache_md *cmd, uint64_t discard_block_size,
			 uint32_t nr)
{
	int r = may_write(cmd);

	if (r)
		return r;
	r = trust_discards(cmd);
	if (r)
		return r;
	r = bitset_resize(&cmd->discard_info, cmd->discard_root,
			  cmd->discard_nr_blocks, nr, 0, &cmd->discard_root);
	if (r)
		return poison(cmd, r);
	cmd->discard_block_size = discard_block_size;
	cmd->discard_nr_blocks = nr;
	return 0;
}

int cache_set_discard(struct cache_md *cmd, uint32_t dblock, int discard)
{
	int r = may_write(cmd);

	if (r)
		return r;
	if (dblock >= cmd->discard_nr_blocks)
		return -EINVAL;
	r = trust_discards(cmd);
	if (r)
		return r;
	if (discard)
		r = bitset_set_bit(&cmd->discard_info, cmd->discard_root,
				   dblock, &cmd->discard_root);
	else
		r = bitset_clear_bit(&cmd->discard_info, cmd->discard_root,
				     dblock, &cmd->discard_root);
	return poison(cmd, r);
}

/* Like the kernel's __load_discards: a cursor over the discard bitset
 * when the bits are trusted (CA3), all clear without a read when not. */
int cache_walk_discards(struct cache_md *cmd, cache_discard_fn fn, void *ctx)
{
	struct bitset_cursor *c = NULL;
	int r = may_read(cmd);

	if (r)
		return r;
	if (!cmd->discard_nr_blocks)
		return 0;
	if (cmd->discards_trusted) {
		r = bitset_cursor_begin(&cmd->discard_info, cmd->discard_root,
					cmd->discard_nr_blocks, &c);
		if (r)
			return r;
	}
	for (uint32_t b = 0; ; b++) {
		r = fn(ctx, b, c ? cursor_bit(&cmd->discard_info, c) : 0);
		if (r || b + 1 >= cmd->discard_nr_blocks)
			break;
		if (c) {
			r = bitset_cursor_next(c);
			if (r)
				break;
		}
	}
	bitset_cursor_end(c);
	return r;
}

/* --- the rest ---------------------------------------------------------------------- */

int cache_get_uuid(struct cache_md *cmd, uint8_t uuid[CACHE_UUID_SIZE])
{
	int r = may_read(cmd);

	if (!r)
		memcpy(uuid, cmd->uuid, CACHE_UUID_SIZE);
	return r;
}

int cache_set_uuid(struct cache_md *cmd, const uint8_t uuid[CACHE_UUID_SIZE])
{
	int r = may_write(cmd);

	if (!r)
		memcpy(cmd->uuid, uuid, CACHE_UUID_SIZE);
	return r;
}

int cache_get_stats(struct cache_md *cmd, struct cache_stats *st)
{
	int r = may_read(cmd);

	if (!r)
		*st = cmd->stats;
	return r;
}

int cache_set_stats(struct cache_md *cmd, const struct cache_stats *st)
{
	int r = may_write(cmd);

	if (!r)
		cmd->stats = *st;
	return r;
}

int cache_set_needs_check(struct cache_md *cmd)
{
	struct bm_block *sblock;
	uint8_t *d;
	int r = may_write(cmd);

	if (r)
		return r;
	cmd->flags |= CACHE_FLAG_NEEDS_CHECK;
	/* Block 0 in the cache is the last committed superblock (with the
	 * clean flag cleared at open): only the flag changes. */
	r = bm_write_lock(cmd->bm, SUPERBLOCK_LOCATION, &sb_validator, &sblock);
	if (r)
		return poison(cmd, r);
	d = bm_block_data(sblock);
	le32_put(d + SB(flags), le32_get(d + SB(flags)) | CACHE_FLAG_NEEDS_CHECK);
	bm_unlock(sblock);
	r = bm_write_block(cmd->bm, SUPERBLOCK_LOCATION);
	if (!r)
		r = bdev_flush(cmd->bd);
	return poison(cmd, r);
}

int cache_get_needs_check(struct cache_md *cmd, int *needs_check)
{
	*needs_check = !!(cmd->flags & CACHE_FLAG_NEEDS_CHECK);
	return 0;
}

int cache_get_nr_metadata_blocks(struct cache_md *cmd, pd_block_t *nr)
{
	int r = may_read(cmd);

	if (!r)
		*nr = sm_get_nr_blocks(cmd->metadata_sm);
	return r;
}

int cache_get_free_metadata_blocks(struct cache_md *cmd, pd_block_t *nr)
{
	int r = may_read(cmd);

	return r ? r : sm_get_nr_free(cmd->metadata_sm, nr);
}

int cache_read_superblock(struct bdev *bd, struct cache_sb_info *info)
{
	return cache_read_superblock_why(bd, info, NULL);
}

/* The damage of block 0 (errors.h), when there is a record to note in. */
static int sb_damaged(struct pd_damage *why, int r, const char *fault,
		      uint64_t says)
{
	if (!why)
		return r;
	if (r == -ENOTBLK)
		pd_damage_note(why, SUPERBLOCK_LOCATION, "block 0 (cache superblock): says it is block %" PRIu64,
			       says);
	else
		pd_damage_note(why, SUPERBLOCK_LOCATION, "block 0 (cache superblock): %s%s%s",
			       fault, r != -EILSEQ ? ": " : "",
			       r != -EILSEQ ? pd_strerror(r) : "");
	return r;
}

int cache_read_superblock_why(struct bdev *bd, struct cache_sb_info *info,
			      struct pd_damage *why)
{
	uint8_t d[PD_BLOCK_SIZE];
	uint32_t i;
	int r;

	if (bd->block_size != PD_BLOCK_SIZE)
		return -EINVAL;
	r = bdev_read(bd, SUPERBLOCK_LOCATION, d);
	if (r)
		return sb_damaged(why, r, "cannot read it", 0);
	for (i = 0; i < PD_BLOCK_SIZE && !d[i]; i++)
		;
	if (i == PD_BLOCK_SIZE)
		return -ENODATA;
	if (le64_get(d + SB(blocknr)) != SUPERBLOCK_LOCATION)
		return sb_damaged(why, -ENOTBLK, NULL, le64_get(d + SB(blocknr)));
	if (le64_get(d + SB(magic)) != CACHE_SUPERBLOCK_MAGIC)
		return sb_damaged(why, -EILSEQ, "bad magic", 0);
	if (le32_get(d + SB(csum)) != pd_block_csum(d + 4, PD_BLOCK_SIZE - 4,
						    CACHE_SUPERBLOCK_CSUM_XOR))
		return sb_damaged(why, -EILSEQ, "bad checksum", 0);
	memset(info, 0, sizeof(*info));
	info->flags = le32_get(d + SB(flags));
	info->version = le32_get(d + SB(version));
	info->policy_hint_size = le32_get(d + SB(policy_hint_size));
	info->compat_flags = le32_get(d + SB(compat_flags));
	info->compat_ro_flags = le32_get(d + SB(compat_ro_flags));
	info->incompat_flags = le32_get(d + SB(incompat_flags));
	memcpy(info->uuid, d + SB(uuid), CACHE_UUID_SIZE);
	memcpy(info->policy_name, d + SB(policy_name), CACHE_POLICY_NAME_SIZE);
	for (i = 0; i < CACHE_POLICY_VERSION_SIZE; i++)
		info->policy_version[i] = le32_get(d + SB(policy_version) + 4 * i);
	info->mapping_root = le64_get(d + SB(mapping_root));
	info->hint_root = le64_get(d + SB(hint_root));
	info->discard_root = le64_get(d + SB(discard_root));
	info->dirty_root = info->version >= 2 ? le64_get(d + SB(dirty_root)) : 0;
	info->discard_block_size = le64_get(d + SB(discard_block_size));
	info->discard_nr_blocks = le64_get(d + SB(discard_nr_blocks));
	info->data_block_size = le32_get(d + SB(data_block_size));
	info->metadata_block_size = le32_get(d + SB(metadata_block_size));
	info->cache_blocks = le32_get(d + SB(cache_blocks));
	info->stats.read_hits = le32_get(d + SB(read_hits));
	info->stats.read_misses = le32_get(d + SB(read_misses));
	info->stats.write_hits = le32_get(d + SB(write_hits));
	info->stats.write_misses = le32_get(d + SB(write_misses));
	return 0;
}
