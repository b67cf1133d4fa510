/* core/sm_disk.c - the disk space map: counts of data blocks, kept in
 * metadata blocks managed by a tm (sm.h, FORMAT.md 1.6-1.10, 2.3).
 *
 * The index entries live in a 1-level btree (key = bitmap index, value =
 * 16-byte disk_index_entry, no refcounting of values) behind a cache of
 * SM_IE_CACHE_SIZE entries that is written into the btree on eviction and
 * at commit (sm_common.c).  A copy of the ll taken at each commit
 * ("old_ll") answers SM1: a block is handed out only if it is free in both.
 *
 * Kernel behaviour kept on purpose (dm-space-map-disk.c):
 *  DS1  get_nr_free() answers for the last commit: blocks added by
 *       extend() count as free only after the next commit, though
 *       new_block() may return them at once.  (get_nr_blocks() is the one
 *       deliberate difference: the kernel answers the committed size too,
 *       so two resizes in one transaction would extend twice from it; here
 *       it is the current size, as in the other space maps.)
 *  DS2  get_nr_free() = committed nr_blocks - committed nr_allocated - the
 *       net number of blocks allocated in this transaction; a block freed
 *       in this transaction lowers that number although SM1 keeps it from
 *       new_block() until the commit.
 *  DS3  the cursor starts at 0 on create and open and is not reset at
 *       commit (SM5).
 */
#include <string.h>

#include "errors.h"
#include "sm_common.h"
#include "util.h"

struct sm_disk {
	struct space_map sm;
	struct ll_disk ll;
	struct ll_disk old_ll;		/* at the last commit (SM1) */
	pd_block_t begin;		/* allocation cursor (SM5) */
	int64_t nr_allocated_this_transaction;	/* net (DS2) */
};

static struct sm_disk *to_smd(struct space_map *sm)
{
	return pd_container_of(sm, struct sm_disk, sm);
}

static void smd_destroy(struct space_map *sm)
{
	pd_free(to_smd(sm));
}

static int smd_extend(struct space_map *sm, pd_block_t extra)
{
	return sm_ll_extend(&to_smd(sm)->ll, extra);
}

static pd_block_t smd_get_nr_blocks(struct space_map *sm)
{
	return to_smd(sm)->ll.nr_blocks;		/* DS1 */
}

static int smd_get_nr_free(struct space_map *sm, pd_block_t *count)
{
	struct sm_disk *smd = to_smd(sm);
	const struct ll_disk *old = &smd->old_ll;
	int64_t n = (int64_t)(old->nr_blocks - old->nr_allocated) -
		    smd->nr_allocated_this_transaction;		/* DS2 */

	if (old->nr_allocated > old->nr_blocks || n < 0)
		n = 0;		/* a damaged root */
	*count = (pd_block_t)n;
	return 0;
}

static int smd_get_count(struct space_map *sm, pd_block_t b, uint32_t *result)
{
	return sm_ll_lookup(&to_smd(sm)->ll, b, result);
}

static int smd_count_is_more_than_one(struct space_map *sm, pd_block_t b,
				      int *result)
{
	uint32_t count;
	int r = smd_get_count(sm, b, &count);

	if (r)
		return r;
	*result = count > 1;
	return 0;
}

static int smd_inc_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	struct sm_disk *smd = to_smd(sm);
	int64_t nr;
	int r = sm_ll_inc(&smd->ll, b, e, &nr);

	if (!r)
		smd->nr_allocated_this_transaction += nr;
	return r;
}

static int smd_dec_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	struct sm_disk *smd = to_smd(sm);
	int64_t nr;
	int r = sm_ll_dec(&smd->ll, b, e, &nr);

	if (!r)
		smd->nr_allocated_this_transaction += nr;
	return r;
}

static int smd_new_block(struct space_map *sm, pd_block_t *b)
{
	struct sm_disk *smd = to_smd(sm);
	int64_t nr;
	int r;

	/* SM1 from the cursor to the end, then wrap (SM5) */
	r = sm_ll_find_common_free_block(&smd->old_ll, &smd->ll, smd->begin,
					 smd->ll.nr_blocks, b);
	if (r == -ENOSPC)
		r = sm_ll_find_common_free_block(&smd->old_ll, &smd->ll, 0,
						 smd->begin, b);
	if (r)
		return r;
	smd->begin = *b + 1;
	r = sm_ll_inc(&smd->ll, *b, *b + 1, &nr);
	if (!r)
		smd->nr_allocated_this_transaction += nr;
	return r;
}

static int smd_commit(struct space_map *sm)
{
	struct sm_disk *smd = to_smd(sm);
	int r = sm_ll_commit(&smd->ll);

	if (r)
		return r;
	smd->old_ll = smd->ll;
	smd->nr_allocated_this_transaction = 0;
	return 0;
}

static int smd_root_size(struct space_map *sm, size_t *result)
{
	(void)sm;
	*result = SM_ROOT_SIZE;
	return 0;
}

static int smd_copy_root(struct space_map *sm, void *where, size_t max)
{
	return sm_ll_copy_root(&to_smd(sm)->ll, where, max);
}

static const struct space_map_ops disk_ops = {
	.destroy = smd_destroy,
	.extend = smd_extend,
	.get_nr_blocks = smd_get_nr_blocks,
	.get_nr_free = smd_get_nr_free,
	.get_count = smd_get_count,
	.count_is_more_than_one = smd_count_is_more_than_one,
	.commit = smd_commit,
	.inc_blocks = smd_inc_blocks,
	.dec_blocks = smd_dec_blocks,
	.new_block = smd_new_block,
	.root_size = smd_root_size,
	.copy_root = smd_copy_root,
};

static int smd_alloc(struct sm_disk **result)
{
	struct sm_disk *smd = pd_calloc(1, sizeof(*smd));

	if (!smd)
		return -ENOMEM;
	smd->sm.ops = &disk_ops;
	*result = smd;
	return 0;
}

int sm_disk_create(struct transaction_manager *tm, pd_block_t nr_blocks,
		   struct space_map **result)
{
	struct sm_disk *smd;
	int r = smd_alloc(&smd);

	if (r)
		return r;
	r = sm_ll_new_disk(&smd->ll, tm);
	if (r)
		goto out_free;
	r = sm_ll_extend(&smd->ll, nr_blocks);
	if (r)
		goto out_free;
	r = smd_commit(&smd->sm);
	if (r)
		goto out_free;
	*result = &smd->sm;
	return 0;

out_free:
	smd_destroy(&smd->sm);
	return r;
}

int sm_disk_open(struct transaction_manager *tm, const void *root,
		 size_t len, struct space_map **result)
{
	struct sm_disk *smd;
	int r = smd_alloc(&smd);

	if (r)
		return r;
	r = sm_ll_open_disk(&smd->ll, tm, root, len);
	if (r) {
		smd_destroy(&smd->sm);
		return r;
	}
	/* The snapshot of the last commit (SM1) is the ll just read: its
	 * index cache is empty, so there is nothing to write back first. */
	smd->old_ll = smd->ll;
	*result = &smd->sm;
	return 0;
}

pd_block_t sm_disk_nr_in_use(struct space_map *sm)
{
	return to_smd(sm)->ll.nr_allocated;
}
