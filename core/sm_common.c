/* core/sm_common.c - the "ll" layer of the on-disk space maps (see
 * sm_common.h for the format and LL1-LL5).
 *
 * Design notes:
 *  - Two kinds of index: LL_METADATA keeps the whole index block in
 *    mi_le (so a struct ll_disk can be copied by value as the snapshot of
 *    the last commit) and writes it into a shadow of the index block at
 *    commit; LL_DISK keeps entries in a btree behind a small direct-mapped
 *    cache whose dirty entries go into the btree on eviction and at commit.
 *  - inc/dec work bitmap by bitmap over [b, e): each bitmap is shadowed
 *    once (LL3), then kept write-locked except around ref-count tree
 *    operations, which may allocate metadata blocks and so re-enter a space
 *    map (the metadata one queues such calls, see sm_metadata.c); the
 *    bitmap is then relocked with a plain write lock, as it is already a
 *    shadow of this transaction.
 *  - Damaged metadata gives -EILSEQ (or -ENOTBLK from the validators),
 *    never a crash: every index is range-checked, a bitmap named outside
 *    the device or cached as another kind of block is -EILSEQ, a value 3
 *    without a ref-count entry (or with one below 3) is -EILSEQ (LL1).
 */
#include <inttypes.h>
#include <string.h>

#include "errors.h"
#include "mutant.h"
#include "sm_common.h"
#include "util.h"

/* --- validators ------------------------------------------------------- */

/* Both block kinds: csum @0 over bytes 4.., blocknr @8. */
static void sm_prepare(struct bm_block *b, size_t block_size, uint32_t salt)
{
	uint8_t *d = bm_block_data(b);

	le64_put(d + 8, bm_block_location(b));
	le32_put(d, pd_block_csum(d + 4, block_size - 4, salt));
}

static int sm_check(struct bm_block *b, size_t block_size, uint32_t salt)
{
	const uint8_t *d = bm_block_cdata(b);

	if (block_size != PD_BLOCK_SIZE)
		return -EILSEQ;
	if (le64_get(d + 8) != bm_block_location(b)) {
		bm_block_fault(b, "says it is block %" PRIu64, le64_get(d + 8));
		return -ENOTBLK;
	}
	if (le32_get(d) != pd_block_csum(d + 4, block_size - 4, salt)) {
		bm_block_fault(b, "bad checksum");
		return -EILSEQ;
	}
	return 0;
}

static void bitmap_prepare_for_write(const struct bm_validator *v,
				     struct bm_block *b, size_t block_size)
{
	(void)v;
	sm_prepare(b, block_size, SM_BITMAP_CSUM_XOR);
}

static int bitmap_check(const struct bm_validator *v, struct bm_block *b,
			size_t block_size)
{
	(void)v;
	return sm_check(b, block_size, SM_BITMAP_CSUM_XOR);
}

static void index_prepare_for_write(const struct bm_validator *v,
				    struct bm_block *b, size_t block_size)
{
	(void)v;
	sm_prepare(b, block_size, SM_INDEX_CSUM_XOR);
}

static int index_check(const struct bm_validator *v, struct bm_block *b,
		       size_t block_size)
{
	(void)v;
	return sm_check(b, block_size, SM_INDEX_CSUM_XOR);
}

const struct bm_validator sm_bitmap_validator = {
	.name = "space map bitmap",
	.prepare_for_write = bitmap_prepare_for_write,
	.check = bitmap_check,
};

const struct bm_validator sm_index_validator = {
	.name = "metadata space map index block",
	.prepare_for_write = index_prepare_for_write,
	.check = index_check,
};

/* --- bitmaps ---------------------------------------------------------- */

#define ENTRIES_PER_WORD 32u
#define WORD_MASK_LOW 0x5555555555555555ull

unsigned sm_bitmap_get(const uint8_t *payload, uint32_t bit)
{
	uint64_t w = le64_get(payload + 8u * (bit / ENTRIES_PER_WORD));
	unsigned shift = 2u * (bit % ENTRIES_PER_WORD);

	/* high bit at 2k, low bit at 2k+1 (FORMAT.md 1.9) */
	return (unsigned)(((w >> shift) & 1u) << 1 | ((w >> (shift + 1)) & 1u));
}

void sm_bitmap_set(uint8_t *payload, uint32_t bit, unsigned value)
{
	uint8_t *p = payload + 8u * (bit / ENTRIES_PER_WORD);
	uint64_t w = le64_get(p);
	unsigned shift = 2u * (bit % ENTRIES_PER_WORD);

	w &= ~(3ull << shift);
	w |= (uint64_t)((value >> 1) & 1u) << shift;
	w |= (uint64_t)(value & 1u) << (shift + 1);
	le64_put(p, w);
}

/* Every entry of the word holding `bit` is non-zero. */
static int word_full(const uint8_t *payload, uint32_t bit)
{
	uint64_t w = le64_get(payload + 8u * (bit / ENTRIES_PER_WORD));

	return ((w | (w >> 1)) & WORD_MASK_LOW) == WORD_MASK_LOW;
}

static int bitmap_find_free(const uint8_t *payload, uint32_t begin,
			    uint32_t end, uint32_t *result)
{
	while (begin < end) {
		if (!(begin % ENTRIES_PER_WORD) && word_full(payload, begin)) {
			begin += ENTRIES_PER_WORD;
			continue;
		}
		if (!sm_bitmap_get(payload, begin)) {
			*result = begin;
			return 0;
		}
		begin++;
	}
	return -ENOSPC;
}

static const uint8_t *bitmap_cpayload(const struct bm_block *b)
{
	return (const uint8_t *)bm_block_cdata(b) + SM_BITMAP_HEADER_SIZE;
}

static uint8_t *bitmap_payload(struct bm_block *b)
{
	return (uint8_t *)bm_block_data(b) + SM_BITMAP_HEADER_SIZE;
}

/* A block named by an index entry or root that cannot be locked as the
 * expected kind (past the device, cached as another kind) is damage. */
static int named_block_err(int r)
{
	return r == -EINVAL ? -EILSEQ : r;
}

static int bitmap_read_lock(struct ll_disk *ll, pd_block_t b,
			    struct bm_block **result)
{
	return named_block_err(tm_read_lock(ll->tm, b, &sm_bitmap_validator,
					    result));
}

/* --- index entries ---------------------------------------------------- */

void sm_ie_unpack(const void *disk, struct sm_index_entry *ie)
{
	const uint8_t *d = disk;

	ie->blocknr = le64_get(d + SM_IE_OFF_BLOCKNR);
	ie->nr_free = le32_get(d + SM_IE_OFF_NR_FREE);
	ie->none_free_before = le32_get(d + SM_IE_OFF_NONE_FREE_BEFORE);
}

void sm_ie_pack(void *disk, const struct sm_index_entry *ie)
{
	uint8_t *d = disk;

	le64_put(d + SM_IE_OFF_BLOCKNR, ie->blocknr);
	le32_put(d + SM_IE_OFF_NR_FREE, ie->nr_free);
	le32_put(d + SM_IE_OFF_NONE_FREE_BEFORE, ie->none_free_before);
}

static unsigned ie_hash(pd_block_t index)
{
	/* the kernel's dm_hash_block, so evictions happen where it has them */
	return ((uint32_t)index * 4294967291u) & (SM_IE_CACHE_SIZE - 1);
}

static int ie_writeback(struct ll_disk *ll, struct ll_ie_cache *iec)
{
	uint8_t v[sizeof(struct disk_index_entry)];
	uint64_t key = iec->index;

	sm_ie_pack(v, &iec->ie);
	iec->dirty = 0;
	return bt_insert(&ll->bitmap_info, ll->bitmap_root, &key, v,
			 &ll->bitmap_root, NULL);
}

static pd_block_t max_index_entries(const struct ll_disk *ll)
{
	return ll->kind == LL_METADATA ? SM_MAX_METADATA_BITMAPS : UINT64_MAX;
}

/* The data map's entry from its index tree, past the cache. */
static int read_ie(struct ll_disk *ll, pd_block_t index,
		   struct sm_index_entry *ie)
{
	uint8_t v[sizeof(struct disk_index_entry)];
	uint64_t key = index;
	int r;

	r = bt_lookup(&ll->bitmap_info, ll->bitmap_root, &key, v);
	if (r == -ENODATA)
		return -EILSEQ;		/* every bitmap has an entry */
	if (r)
		return r;
	sm_ie_unpack(v, ie);
	return 0;
}

static int load_ie(struct ll_disk *ll, pd_block_t index,
		   struct sm_index_entry *ie)
{
	struct ll_ie_cache *iec;
	int r;

	if (index >= sm_nr_bitmaps(ll->nr_blocks))
		return -EINVAL;
	if (ll->kind == LL_METADATA) {
		if (index >= SM_MAX_METADATA_BITMAPS)
			return -EILSEQ;
		sm_ie_unpack(ll->mi_le + SM_INDEX_OFF_ENTRIES +
			     index * sizeof(struct disk_index_entry), ie);
		return 0;
	}

	iec = ll->ie_cache + ie_hash(index);
	if (iec->valid) {
		if (iec->index == index) {
			*ie = iec->ie;
			return 0;
		}
		if (iec->dirty) {
			r = ie_writeback(ll, iec);
			if (r)
				return r;
		}
	}
	r = read_ie(ll, index, ie);
	if (r)
		return r;
	iec->valid = 1;
	iec->dirty = 0;
	iec->index = index;
	iec->ie = *ie;
	return 0;
}

static int save_ie(struct ll_disk *ll, pd_block_t index,
		   const struct sm_index_entry *ie)
{
	struct ll_ie_cache *iec;
	int r;

	if (index >= max_index_entries(ll))
		return -EINVAL;
	ll->bitmap_index_changed = 1;
	if (ll->kind == LL_METADATA) {
		sm_ie_pack(ll->mi_le + SM_INDEX_OFF_ENTRIES +
			   index * sizeof(struct disk_index_entry), ie);
		return 0;
	}

	iec = ll->ie_cache + ie_hash(index);
	if (iec->valid && iec->index != index && iec->dirty) {
		r = ie_writeback(ll, iec);
		if (r)
			return r;
	}
	iec->valid = 1;
	iec->dirty = 1;
	iec->index = index;
	iec->ie = *ie;
	return 0;
}

/*
 * An entry of the data map read without taking its cache slot: the slot's
 * own copy when it holds this index, else the tree's.  For a read the
 * kernel does not make (grow_partial_bitmap), so that it evicts and writes
 * back nothing the kernel's cache would still hold.
 */
static int peek_ie(struct ll_disk *ll, pd_block_t index,
		   struct sm_index_entry *ie)
{
	const struct ll_ie_cache *iec;

	if (ll->kind == LL_METADATA)
		return load_ie(ll, index, ie);	/* no cache to disturb */
	iec = ll->ie_cache + ie_hash(index);
	if (iec->valid && iec->index == index) {
		*ie = iec->ie;
		return 0;
	}
	return read_ie(ll, index, ie);
}

int sm_ll_load_ie(struct ll_disk *ll, pd_block_t index,
		  struct sm_index_entry *ie)
{
	return load_ie(ll, index, ie);
}

/* --- create, open, extend --------------------------------------------- */

/* No block-size check here: bm_create refuses a device whose block size
 * is not PD_BLOCK_SIZE, so every tm's block manager has it. */
static void ll_init(struct ll_disk *ll, struct transaction_manager *tm,
		    enum ll_kind kind)
{
	memset(ll, 0, sizeof(*ll));
	ll->tm = tm;
	ll->kind = kind;
	ll->bitmap_info.tm = tm;
	ll->bitmap_info.levels = 1;
	/* The index tree needs no refcounting of its values: a bitmap is
	 * replaced by shadowing, which has already dropped the old one. */
	ll->bitmap_info.value_type.size = sizeof(struct disk_index_entry);
	ll->ref_count_info.tm = tm;
	ll->ref_count_info.levels = 1;
	ll->ref_count_info.value_type.size = sizeof(uint32_t);
	ll->entries_per_block = SM_ENTRIES_PER_BLOCK;
}

int sm_ll_new_metadata(struct ll_disk *ll, struct transaction_manager *tm)
{
	struct bm_block *b;
	int r;

	ll_init(ll, tm, LL_METADATA);
	r = tm_new_block(tm, &sm_index_validator, &b);
	if (r)
		return r;
	ll->bitmap_root = bm_block_location(b);
	tm_unlock(tm, b);
	return bt_empty(&ll->ref_count_info, &ll->ref_count_root);
}

int sm_ll_new_disk(struct ll_disk *ll, struct transaction_manager *tm)
{
	int r;

	ll_init(ll, tm, LL_DISK);
	r = bt_empty(&ll->bitmap_info, &ll->bitmap_root);
	if (r)
		return r;
	return bt_empty(&ll->ref_count_info, &ll->ref_count_root);
}

static int ll_open(struct ll_disk *ll, struct transaction_manager *tm,
		   enum ll_kind kind, const void *root, size_t len)
{
	const uint8_t *p = root;

	if (!root || len < SM_ROOT_SIZE)
		return -EINVAL;
	ll_init(ll, tm, kind);
	ll->nr_blocks = le64_get(p + SM_ROOT_OFF_NR_BLOCKS);
	ll->nr_allocated = le64_get(p + SM_ROOT_OFF_NR_ALLOCATED);
	ll->bitmap_root = le64_get(p + SM_ROOT_OFF_BITMAP_ROOT);
	ll->ref_count_root = le64_get(p + SM_ROOT_OFF_REF_COUNT_ROOT);
	if (sm_nr_bitmaps(ll->nr_blocks) > max_index_entries(ll))
		return -EILSEQ;
	return 0;
}

int sm_ll_open_metadata(struct ll_disk *ll, struct transaction_manager *tm,
			const void *root, size_t len)
{
	struct bm_block *b;
	int r = ll_open(ll, tm, LL_METADATA, root, len);

	if (r)
		return r;
	r = named_block_err(tm_read_lock(tm, ll->bitmap_root,
					 &sm_index_validator, &b));
	if (r)
		return r;
	memcpy(ll->mi_le, bm_block_cdata(b), PD_BLOCK_SIZE);
	tm_unlock(tm, b);
	return 0;
}

int sm_ll_open_disk(struct ll_disk *ll, struct transaction_manager *tm,
		    const void *root, size_t len)
{
	return ll_open(ll, tm, LL_DISK, root, len);
}

/* Free entries of a whole bitmap (entries past the device are 0). */
static uint32_t bitmap_count_free(const uint8_t *payload, uint32_t entries)
{
	uint32_t used = 0;

	for (uint32_t w = 0; w < entries / ENTRIES_PER_WORD; w++) {
		uint64_t x = le64_get(payload + 8u * w);

		used += (uint32_t)__builtin_popcountll((x | (x >> 1)) &
						       WORD_MASK_LOW);
	}
	return entries - used;
}

/*
 * LL2 when the device grows inside its partial last bitmap: that bitmap
 * gains entries.  The kernel counts a partial bitmap's entries past the
 * device as free, thin_restore only those inside it (FORMAT.md 1.8; the
 * checker takes both), and none_free_before may point past the old end.
 * Count the bitmap the kernel's way and bring none_free_before back to
 * the old end, else the new entries would never be searched (a bitmap
 * with nr_free 0 is skipped) and the index would contradict the bitmap.
 */
static int grow_partial_bitmap(struct ll_disk *ll)
{
	pd_block_t index = ll->nr_blocks / ll->entries_per_block;
	uint32_t end = (uint32_t)(ll->nr_blocks % ll->entries_per_block);
	struct sm_index_entry ie;
	struct bm_block *blk;
	uint32_t nr_free;
	int r;

	if (!end)
		return 0;			/* the last bitmap is whole */
	r = peek_ie(ll, index, &ie);
	if (r)
		return r;
	r = bitmap_read_lock(ll, ie.blocknr, &blk);
	if (r)
		return r;
	nr_free = bitmap_count_free(bitmap_cpayload(blk), ll->entries_per_block);
	tm_unlock(ll->tm, blk);
	if (ie.nr_free == nr_free && ie.none_free_before <= end)
		return 0;
	ie.nr_free = nr_free;
	if (ie.none_free_before > end)
		ie.none_free_before = end;
	return save_ie(ll, index, &ie);
}

int sm_ll_extend(struct ll_disk *ll, pd_block_t extra)
{
	pd_block_t nr_blocks = ll->nr_blocks + extra;
	pd_block_t old_bitmaps = sm_nr_bitmaps(ll->nr_blocks);
	pd_block_t bitmaps;
	int r;

	if (nr_blocks < ll->nr_blocks)
		return -EINVAL;
	bitmaps = sm_nr_bitmaps(nr_blocks);
	if (bitmaps > max_index_entries(ll))
		return -EINVAL;
	if (extra) {
		r = grow_partial_bitmap(ll);
		if (r)
			return r;
	}
	/* Raised first: the allocations below may look at the new bitmaps'
	 * entries (metadata space map extending itself). */
	ll->nr_blocks = nr_blocks;
	for (pd_block_t i = old_bitmaps; i < bitmaps; i++) {
		struct sm_index_entry ie;
		struct bm_block *b;

		r = tm_new_block(ll->tm, &sm_bitmap_validator, &b);
		if (r)
			return r;
		ie.blocknr = bm_block_location(b);
		tm_unlock(ll->tm, b);
		ie.nr_free = ll->entries_per_block;	/* LL2 */
		ie.none_free_before = 0;
		r = save_ie(ll, i, &ie);
		if (r)
			return r;
	}
	return 0;
}

/* --- lookup and search ------------------------------------------------ */

int sm_ll_lookup_bitmap(struct ll_disk *ll, pd_block_t b, uint32_t *result)
{
	struct sm_index_entry ie;
	struct bm_block *blk;
	int r;

	if (b >= ll->nr_blocks)
		return -EINVAL;
	r = load_ie(ll, b / ll->entries_per_block, &ie);
	if (r)
		return r;
	r = bitmap_read_lock(ll, ie.blocknr, &blk);
	if (r)
		return r;
	*result = sm_bitmap_get(bitmap_cpayload(blk),
				(uint32_t)(b % ll->entries_per_block));
	tm_unlock(ll->tm, blk);
	return 0;
}

/* The count of a block whose bitmap value is 3 (LL1). */
static int lookup_big_count(struct ll_disk *ll, pd_block_t b, uint32_t *result)
{
	uint8_t v[4];
	uint64_t key = b;
	int r;

	r = bt_lookup(&ll->ref_count_info, ll->ref_count_root, &key, v);
	if (r == -ENODATA)
		return -EILSEQ;
	if (r)
		return r;
	*result = le32_get(v);
	return *result < 3 ? -EILSEQ : 0;
}

int sm_ll_lookup(struct ll_disk *ll, pd_block_t b, uint32_t *result)
{
	int r = sm_ll_lookup_bitmap(ll, b, result);

	if (r || *result != 3)
		return r;
	return lookup_big_count(ll, b, result);
}

int sm_ll_find_free_block(struct ll_disk *ll, pd_block_t begin,
			  pd_block_t end, pd_block_t *result)
{
	uint32_t epb = ll->entries_per_block;
	pd_block_t index_begin, index_end;
	uint32_t bit_begin, last_end;
	int r;

	if (end > ll->nr_blocks)
		end = ll->nr_blocks;
	if (begin >= end)
		return -ENOSPC;
	index_begin = begin / epb;
	bit_begin = (uint32_t)(begin % epb);
	index_end = sm_nr_bitmaps(end);
	last_end = (uint32_t)(end % epb);
	if (!last_end)
		last_end = epb;

	for (pd_block_t i = index_begin; i < index_end; i++, bit_begin = 0) {
		struct sm_index_entry ie;
		struct bm_block *blk;
		uint32_t bit_end, pos, start;

		r = load_ie(ll, i, &ie);
		if (r)
			return r;
		if (!ie.nr_free)
			continue;
		r = bitmap_read_lock(ll, ie.blocknr, &blk);
		if (r)
			return r;
		bit_end = i == index_end - 1 ? last_end : epb;
		start = bit_begin > ie.none_free_before ? bit_begin :
							  ie.none_free_before;
		r = bitmap_find_free(bitmap_cpayload(blk), start, bit_end,
				     &pos);
		tm_unlock(ll->tm, blk);
		/* bitmap_find_free fails only with -ENOSPC: we may have
		 * started part way in */
		if (r)
			continue;
		*result = i * epb + pos;
		return 0;
	}
	return -ENOSPC;
}

int sm_ll_find_common_free_block(struct ll_disk *old_ll, struct ll_disk *ll,
				 pd_block_t begin, pd_block_t end,
				 pd_block_t *result)
{
	for (;;) {
		uint32_t count = 0;
		int r = sm_ll_find_free_block(ll, begin, end, result);

		if (r)
			return r;
		/* SM1: free at the last commit too */
		if (*result < old_ll->nr_blocks &&
		    !PD_MUTANT(REUSE_BEFORE_COMMIT)) {
			r = sm_ll_lookup(old_ll, *result, &count);
			if (r)
				return r;
		}
		if (!count)
			return 0;
		begin = *result + 1;
	}
}

/* --- mutation ---------------------------------------------------------- */

/* The state of one bitmap while a range of it is changed. */
struct bitmap_ctx {
	pd_block_t index;
	struct sm_index_entry ie;
	struct bm_block *blk;		/* NULL while unlocked */
};

static int shadow_bitmap(struct ll_disk *ll, struct bitmap_ctx *bc)
{
	int inc;
	int r = tm_shadow_block(ll->tm, bc->ie.blocknr, &sm_bitmap_validator,
				&bc->blk, &inc);

	if (r) {
		bc->blk = NULL;
		return named_block_err(r);
	}
	bc->ie.blocknr = bm_block_location(bc->blk);	/* LL3 */
	return 0;
}

/* Relock a bitmap already shadowed in this operation. */
static int ensure_bitmap(struct ll_disk *ll, struct bitmap_ctx *bc)
{
	int r;

	if (bc->blk)
		return 0;
	r = bm_write_lock(tm_bm(ll->tm), bc->ie.blocknr, &sm_bitmap_validator,
			  &bc->blk);
	if (r)
		bc->blk = NULL;
	return r;
}

static void drop_bitmap(struct ll_disk *ll, struct bitmap_ctx *bc)
{
	if (bc->blk) {
		tm_unlock(ll->tm, bc->blk);
		bc->blk = NULL;
	}
}

static void note_alloc(struct ll_disk *ll, struct bitmap_ctx *bc,
		       uint32_t bit, int64_t *nr_allocations)
{
	(*nr_allocations)++;
	ll->nr_allocated++;
	bc->ie.nr_free--;
	if (bc->ie.none_free_before == bit)
		bc->ie.none_free_before = bit + 1;
}

static void note_free(struct ll_disk *ll, struct bitmap_ctx *bc,
		      uint32_t bit, int64_t *nr_allocations)
{
	(*nr_allocations)--;
	ll->nr_allocated--;
	bc->ie.nr_free++;
	if (bit < bc->ie.none_free_before)
		bc->ie.none_free_before = bit;
}

static int ref_count_put(struct ll_disk *ll, pd_block_t b, uint32_t count)
{
	uint8_t v[4];
	uint64_t key = b;

	le32_put(v, count);
	return bt_insert(&ll->ref_count_info, ll->ref_count_root, &key, v,
			 &ll->ref_count_root, NULL);
}

static int ref_count_del(struct ll_disk *ll, pd_block_t b)
{
	uint64_t key = b;
	int r = bt_remove(&ll->ref_count_info, ll->ref_count_root, &key,
			  &ll->ref_count_root);

	return r == -ENODATA ? -EILSEQ : r;
}

/* +1 on blocks [b, b + n) of one bitmap. */
static int inc_in_bitmap(struct ll_disk *ll, struct bitmap_ctx *bc,
			 pd_block_t b, uint32_t bit, uint32_t n,
			 int64_t *nr_allocations)
{
	uint32_t rc;
	int r;

	for (uint32_t i = 0; i < n; i++, bit++, b++) {
		r = ensure_bitmap(ll, bc);
		if (r)
			return r;
		switch (sm_bitmap_get(bitmap_payload(bc->blk), bit)) {
		case 0:
			sm_bitmap_set(bitmap_payload(bc->blk), bit, 1);
			note_alloc(ll, bc, bit, nr_allocations);
			break;
		case 1:
			sm_bitmap_set(bitmap_payload(bc->blk), bit, 2);
			break;
		case 2:
			/* LL1: 2 -> 3 enters the ref-count tree; the tree may
			 * allocate, so the bitmap is not held across it */
			sm_bitmap_set(bitmap_payload(bc->blk), bit, 3);
			drop_bitmap(ll, bc);
			r = ref_count_put(ll, b, 3);
			if (r)
				return r;
			break;
		default:
			drop_bitmap(ll, bc);
			r = lookup_big_count(ll, b, &rc);
			if (r)
				return r;
			if (rc == UINT32_MAX)
				return -EINVAL;
			r = ref_count_put(ll, b, rc + 1);
			if (r)
				return r;
			break;
		}
	}
	return 0;
}

/* LL5: the answer to a dec of a count of 0 (planted: accepted). */
static int dec_of_zero(void)
{
	return PD_MUTANT(DEC_BELOW_ZERO) ? 0 : -EINVAL;
}

/* -1 on blocks [b, b + n) of one bitmap.  check_no_zero has refused a
 * count of 0 in the range (LL5) and the op changes each block once, so
 * the switch needs no arm for 0 (were one met, lookup_big_count would find
 * no ref-count entry: -EILSEQ); only the planted dec-below-zero gets by. */
static int dec_in_bitmap(struct ll_disk *ll, struct bitmap_ctx *bc,
			 pd_block_t b, uint32_t bit, uint32_t n,
			 int64_t *nr_allocations)
{
	uint32_t rc;
	int r;

	for (uint32_t i = 0; i < n; i++, bit++, b++) {
		r = ensure_bitmap(ll, bc);
		if (r)
			return r;
		switch (sm_bitmap_get(bitmap_payload(bc->blk), bit)) {
#ifdef PD_MUTANTS
		case 0:		/* only past the planted dec-below-zero */
			break;
#endif
		case 1:
			sm_bitmap_set(bitmap_payload(bc->blk), bit, 0);
			note_free(ll, bc, bit, nr_allocations);
			break;
		case 2:
			sm_bitmap_set(bitmap_payload(bc->blk), bit, 1);
			break;
		default:	/* 3: the count is in the ref-count tree */
			drop_bitmap(ll, bc);
			r = lookup_big_count(ll, b, &rc);
			if (r)
				return r;
			if (rc > 3) {
				r = ref_count_put(ll, b, rc - 1);
				if (r)
					return r;
				break;
			}
			/* LL1: 3 -> 2 leaves the ref-count tree */
			r = ref_count_del(ll, b);
			if (r)
				return r;
			r = ensure_bitmap(ll, bc);
			if (r)
				return r;
			sm_bitmap_set(bitmap_payload(bc->blk), bit, 2);
			break;
		}
	}
	return 0;
}

typedef int (*bitmap_op_fn)(struct ll_disk *ll, struct bitmap_ctx *bc,
			    pd_block_t b, uint32_t bit, uint32_t n,
			    int64_t *nr_allocations);

/* Apply op to [b, e), one bitmap at a time: load its entry, shadow it,
 * change it, save the entry. */
static int for_each_bitmap(struct ll_disk *ll, pd_block_t b, pd_block_t e,
			   bitmap_op_fn op, int64_t *nr_allocations)
{
	uint32_t epb = ll->entries_per_block;
	int r;

	while (b < e) {
		struct bitmap_ctx bc = { .index = b / epb, .blk = NULL };
		uint32_t bit = (uint32_t)(b % epb);
		uint32_t n = epb - bit;

		if ((pd_block_t)n > e - b)
			n = (uint32_t)(e - b);
		r = load_ie(ll, bc.index, &bc.ie);
		if (r)
			return r;
		r = shadow_bitmap(ll, &bc);
		if (r)
			return r;
		r = op(ll, &bc, b, bit, n, nr_allocations);
		drop_bitmap(ll, &bc);
		if (r)
			return r;
		r = save_ie(ll, bc.index, &bc.ie);
		if (r)
			return r;
		b += n;
	}
	return 0;
}

static int check_range(const struct ll_disk *ll, pd_block_t b, pd_block_t e)
{
	return (b > e || e > ll->nr_blocks) ? -EINVAL : 0;
}

int sm_ll_inc(struct ll_disk *ll, pd_block_t b, pd_block_t e,
	      int64_t *nr_allocations)
{
	int r = check_range(ll, b, e);

	*nr_allocations = 0;
	if (r)
		return r;
	return for_each_bitmap(ll, b, e, inc_in_bitmap, nr_allocations);
}

/* LL5: -EINVAL if any count in [b, e) is 0, before anything changes. */
static int check_no_zero(struct ll_disk *ll, pd_block_t b, pd_block_t e)
{
	uint32_t epb = ll->entries_per_block;
	int r;

	while (b < e) {
		struct sm_index_entry ie;
		struct bm_block *blk;
		uint32_t bit = (uint32_t)(b % epb);
		uint32_t n = epb - bit;

		if ((pd_block_t)n > e - b)
			n = (uint32_t)(e - b);
		r = load_ie(ll, b / epb, &ie);
		if (r)
			return r;
		r = bitmap_read_lock(ll, ie.blocknr, &blk);
		if (r)
			return r;
		for (uint32_t i = 0; i < n && !r; i++)
			if (!sm_bitmap_get(bitmap_cpayload(blk), bit + i))
				r = dec_of_zero();
		tm_unlock(ll->tm, blk);
		if (r)
			return r;
		b += n;
	}
	return 0;
}

int sm_ll_dec(struct ll_disk *ll, pd_block_t b, pd_block_t e,
	      int64_t *nr_allocations)
{
	int r = check_range(ll, b, e);

	*nr_allocations = 0;
	if (r)
		return r;
	r = check_no_zero(ll, b, e);
	if (r)
		return r;
	return for_each_bitmap(ll, b, e, dec_in_bitmap, nr_allocations);
}

/* --- commit and root --------------------------------------------------- */

static int metadata_commit(struct ll_disk *ll)
{
	struct bm_block *b;
	int inc, r;

	r = tm_shadow_block(ll->tm, ll->bitmap_root, &sm_index_validator, &b,
			    &inc);
	if (r)
		return named_block_err(r);
	memcpy(bm_block_data(b), ll->mi_le, PD_BLOCK_SIZE);
	ll->bitmap_root = bm_block_location(b);
	tm_unlock(ll->tm, b);
	return 0;
}

static int disk_commit(struct ll_disk *ll)
{
	for (unsigned i = 0; i < SM_IE_CACHE_SIZE; i++) {
		struct ll_ie_cache *iec = ll->ie_cache + i;

		if (iec->valid && iec->dirty) {
			int r = ie_writeback(ll, iec);

			if (r)
				return r;
		}
	}
	return 0;
}

int sm_ll_commit(struct ll_disk *ll)
{
	int r;

	if (!ll->bitmap_index_changed)
		return 0;
	r = ll->kind == LL_METADATA ? metadata_commit(ll) : disk_commit(ll);
	if (!r)
		ll->bitmap_index_changed = 0;
	return r;
}

int sm_ll_copy_root(const struct ll_disk *ll, void *where, size_t max)
{
	uint8_t *p = where;

	if (max < SM_ROOT_SIZE)
		return -ENOSPC;
	le64_put(p + SM_ROOT_OFF_NR_BLOCKS, ll->nr_blocks);
	le64_put(p + SM_ROOT_OFF_NR_ALLOCATED, ll->nr_allocated);
	le64_put(p + SM_ROOT_OFF_BITMAP_ROOT, ll->bitmap_root);
	le64_put(p + SM_ROOT_OFF_REF_COUNT_ROOT, ll->ref_count_root);
	return 0;
}
