/* core/sm_metadata.c - the metadata space map (sm.h, FORMAT.md 1.6-1.10,
 * 2.3): counts of the blocks of the very device it lives on, with one
 * index block, bitmaps and a ref-count btree (sm_common.c), and the tm
 * constructors that need it (tm_create_with_sm, tm_open_with_sm).
 *
 * Recursion.  Changing a bitmap or the ref-count tree takes new metadata
 * blocks (shadows), i.e. calls back into this space map.  A flag is
 * raised around every change of the ll (in()/out()); while it is raised,
 * inc/dec/new_block only queue a block op on a FIFO of
 * MAX_RECURSIVE_OPS entries (-ENOMEM when full).  out() applies the
 * queue in order, and whatever the application queues in turn,
 * until it is empty.  get_count and count_is_more_than_one add the queued
 * adjustments (the latter says "shared" for any bitmap value 3, without a
 * tree lookup).
 *
 * Invariants (besides sm.h SM1-SM5 and sm_common.h LL1-LL5):
 *  MS1  the queue is empty whenever no call of this space map is running.
 *  MS2  new_block never returns a block with a queued inc (a block found
 *       free in the bitmaps may already be handed out but not yet counted
 *       when the cursor wraps during recursion).
 *  MS3  a dec queued while recursing is checked against the count plus
 *       the queued adjustments, so SM4 holds for queued decs too.
 *  MS4  bootstrap: while the index, the ref-count tree and the bitmaps are
 *       built, blocks are handed out linearly from superblock + 1 and
 *       inc/dec only queue; then [0, begin) gets one reference (superblock
 *       included) and the map is committed.  extend() works the same way
 *       in the new space, repeating queue-apply-commit until a commit
 *       allocates nothing more.
 *
 * Ownership: tm_destroy() leaves the space map to the caller (tm.h).
 */
#include <string.h>

#include "errors.h"
#include "mutant.h"
#include "sm_common.h"
#include "util.h"

#define MAX_RECURSIVE_OPS 1024u

enum bop_type {
	BOP_INC,
	BOP_DEC,
};

struct block_op {
	enum bop_type type;
	pd_block_t b, e;		/* [b, e) */
};

struct sm_metadata {
	struct space_map sm;
	struct ll_disk ll;
	struct ll_disk old_ll;		/* at the last commit (SM1) */
	pd_block_t begin;		/* allocation cursor (SM5) */
	int recursing;			/* inside an outermost call (in/out) */
	pd_block_t allocated_this_transaction;
	/* FIFO ring; one slot stays empty to tell full from empty */
	unsigned q_begin, q_end;
	unsigned q_max;			/* most ops ever queued (statistics) */
	struct block_op bops[MAX_RECURSIVE_OPS + 1];
};

static const struct space_map_ops metadata_ops;
static const struct space_map_ops bootstrap_ops;

static struct sm_metadata *to_smm(struct space_map *sm)
{
	return pd_container_of(sm, struct sm_metadata, sm);
}

/* --- the queue of deferred ops ----------------------------------------- */

static unsigned q_next(unsigned i)
{
	return i + 1 >= PD_ARRAY_SIZE(((struct sm_metadata *)0)->bops) ? 0 :
									 i + 1;
}

static unsigned q_len(const struct sm_metadata *smm)
{
	unsigned n = PD_ARRAY_SIZE(smm->bops);

	return (smm->q_end + n - smm->q_begin) % n;
}

static int add_bop(struct sm_metadata *smm, enum bop_type type, pd_block_t b,
		   pd_block_t e)
{
	unsigned next = q_next(smm->q_end);
	struct block_op *op;

	if (next == smm->q_begin)
		return -ENOMEM;		/* too many recursive ops */
	op = smm->bops + smm->q_end;
	op->type = type;
	op->b = b;
	op->e = e;
	smm->q_end = next;
	if (q_len(smm) > smm->q_max)
		smm->q_max = q_len(smm);
	return 0;
}

/* Sum of the queued adjustments of block b. */
static int64_t queued_adjustment(const struct sm_metadata *smm, pd_block_t b)
{
	int64_t adj = 0;

	for (unsigned i = smm->q_begin; i != smm->q_end; i = q_next(i)) {
		const struct block_op *op = smm->bops + i;

		if (b < op->b || b >= op->e)
			continue;
		adj += op->type == BOP_INC ? 1 : -1;
	}
	return adj;
}

static int commit_bop(struct sm_metadata *smm, const struct block_op *op)
{
	int64_t nr;

	if (op->type == BOP_INC)
		return sm_ll_inc(&smm->ll, op->b, op->e, &nr);
	return sm_ll_dec(&smm->ll, op->b, op->e, &nr);
}

/* Apply the queue in FIFO order, including what applying it queues.  An
 * op is taken off only once applied, so it still counts in get_count's
 * adjustments while it is being applied. */
static int apply_bops(struct sm_metadata *smm)
{
	while (smm->q_begin != smm->q_end) {
		struct block_op op = smm->bops[smm->q_begin];
		int r = commit_bop(smm, &op);

		if (r)
			return r;
		smm->q_begin = q_next(smm->q_begin);
	}
	return 0;
}

/*
 * An outermost call: in() is called only when not recursing (every op
 * asks recursing() first and queues instead, apply_queue runs from
 * create and from extend, which refuses to recurse), so the depth is 0
 * or 1 and a flag keeps it.  out() applies what the call queued (MS1)
 * while the flag still sends the changes that makes to the queue.
 */
static void in(struct sm_metadata *smm)
{
	smm->recursing = 1;
}

static int out(struct sm_metadata *smm)
{
	int r = apply_bops(smm);	/* MS1 */

	smm->recursing = 0;
	return r;
}

static int recursing(const struct sm_metadata *smm)
{
	return smm->recursing;
}

static int combine(int r1, int r2)
{
	return r1 ? r1 : r2;
}

/* --- the space map ops ------------------------------------------------- */

static void smm_destroy(struct space_map *sm)
{
	pd_free(to_smm(sm));
}

static pd_block_t smm_get_nr_blocks(struct space_map *sm)
{
	return to_smm(sm)->ll.nr_blocks;
}

static int smm_get_nr_free(struct space_map *sm, pd_block_t *count)
{
	struct sm_metadata *smm = to_smm(sm);
	pd_block_t used = smm->old_ll.nr_allocated +
			  smm->allocated_this_transaction;

	/* FORMAT.md 2.3 (SM2); clamped, as the root may be damaged */
	*count = used < smm->old_ll.nr_blocks ?
		 smm->old_ll.nr_blocks - used : 0;
	return 0;
}

static int smm_get_count(struct space_map *sm, pd_block_t b, uint32_t *result)
{
	struct sm_metadata *smm = to_smm(sm);
	int64_t adj = queued_adjustment(smm, b);
	int r = sm_ll_lookup(&smm->ll, b, result);

	if (r)
		return r;
	*result = (uint32_t)((int64_t)*result + adj);
	return 0;
}

static int smm_count_is_more_than_one(struct space_map *sm, pd_block_t b,
				      int *result)
{
	struct sm_metadata *smm = to_smm(sm);
	int64_t adj = queued_adjustment(smm, b);
	uint32_t v;
	int r;

	if (adj > 1) {
		*result = 1;
		return 0;
	}
	r = sm_ll_lookup_bitmap(&smm->ll, b, &v);
	if (r)
		return r;
	/* value 3: at least 3, so shared whatever is queued */
	*result = v == 3 ? 1 : (int64_t)v + adj > 1;
	return 0;
}

static int check_range(const struct sm_metadata *smm, pd_block_t b,
		       pd_block_t e)
{
	return (b > e || e > smm->ll.nr_blocks) ? -EINVAL : 0;
}

static int smm_inc_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	struct sm_metadata *smm = to_smm(sm);
	int64_t nr;
	int r, r2;

	r = check_range(smm, b, e);
	if (r || b == e)
		return r;
	if (recursing(smm))
		return add_bop(smm, BOP_INC, b, e);
	in(smm);
	r = sm_ll_inc(&smm->ll, b, e, &nr);
	r2 = out(smm);
	return combine(r, r2);
}

/* MS3: every block of [b, e) keeps a count >= 0 once the queue and this
 * dec are applied.  The bitmap value is enough (3 means >= 3), so the
 * ref-count tree, which may be in the middle of a change, is not read. */
static int check_queued_dec(struct sm_metadata *smm, pd_block_t b,
			    pd_block_t e)
{
	for (; b < e; b++) {
		uint32_t v;
		int r = sm_ll_lookup_bitmap(&smm->ll, b, &v);

		if (r)
			return r;
		if ((int64_t)v + queued_adjustment(smm, b) < 1)
			return -EINVAL;		/* SM4 */
	}
	return 0;
}

static int smm_dec_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	struct sm_metadata *smm = to_smm(sm);
	int64_t nr;
	int r, r2;

	r = check_range(smm, b, e);
	if (r || b == e)
		return r;
	if (recursing(smm)) {
		r = check_queued_dec(smm, b, e);
		if (r)
			return r;
		return add_bop(smm, BOP_DEC, b, e);
	}
	in(smm);
	r = sm_ll_dec(&smm->ll, b, e, &nr);
	r2 = out(smm);
	return combine(r, r2);
}

/* SM1, SM5, MS2: the first block from begin (wrapping once) that is free
 * now, at the last commit, and not already handed out with its inc still
 * queued. */
static int find_free(struct sm_metadata *smm, pd_block_t *b)
{
	pd_block_t from = smm->begin, end = smm->ll.nr_blocks;
	int wrapped = 0;

	for (;;) {
		int r = sm_ll_find_common_free_block(&smm->old_ll, &smm->ll,
						     from, end, b);

		if (r == -ENOSPC && !wrapped) {
			wrapped = 1;
			from = 0;
			end = smm->begin;
			if (PD_MUTANT(WRAP_MISSES_LAST) && end)
				end--;			/* planted */
			continue;
		}
		if (r)
			return r;
		if (queued_adjustment(smm, *b) <= 0)
			return 0;
		from = *b + 1;		/* MS2 */
	}
}

static int smm_new_block(struct space_map *sm, pd_block_t *b)
{
	struct sm_metadata *smm = to_smm(sm);
	int64_t nr;
	int r, r2 = 0;

	r = find_free(smm, b);
	if (r)
		return r;
	smm->begin = *b + 1;
	if (recursing(smm)) {
		r = add_bop(smm, BOP_INC, *b, *b + 1);
	} else {
		in(smm);
		r = sm_ll_inc(&smm->ll, *b, *b + 1, &nr);
		r2 = out(smm);
	}
	if (!r)
		smm->allocated_this_transaction++;
	return combine(r, r2);
}

static int smm_commit(struct space_map *sm)
{
	struct sm_metadata *smm = to_smm(sm);
	int r = sm_ll_commit(&smm->ll);

	if (r)
		return r;
	smm->old_ll = smm->ll;
	smm->allocated_this_transaction = 0;
	return 0;
}

static int smm_root_size(struct space_map *sm, size_t *result)
{
	(void)sm;
	*result = SM_ROOT_SIZE;
	return 0;
}

static int smm_copy_root(struct space_map *sm, void *where, size_t max)
{
	return sm_ll_copy_root(&to_smm(sm)->ll, where, max);
}

static int smm_extend(struct space_map *sm, pd_block_t extra);

static const struct space_map_ops metadata_ops = {
	.destroy = smm_destroy,
	.extend = smm_extend,
	.get_nr_blocks = smm_get_nr_blocks,
	.get_nr_free = smm_get_nr_free,
	.get_count = smm_get_count,
	.count_is_more_than_one = smm_count_is_more_than_one,
	.commit = smm_commit,
	.inc_blocks = smm_inc_blocks,
	.dec_blocks = smm_dec_blocks,
	.new_block = smm_new_block,
	.root_size = smm_root_size,
	.copy_root = smm_copy_root,
};

/* --- bootstrap ops (MS4) ------------------------------------------------ */

static int boot_extend(struct space_map *sm, pd_block_t extra)
{
	(void)sm;
	(void)extra;
	return -EINVAL;
}

static int boot_get_nr_free(struct space_map *sm, pd_block_t *count)
{
	struct sm_metadata *smm = to_smm(sm);

	*count = smm->begin < smm->ll.nr_blocks ?
		 smm->ll.nr_blocks - smm->begin : 0;
	return 0;
}

static int boot_get_count(struct space_map *sm, pd_block_t b, uint32_t *result)
{
	*result = b < to_smm(sm)->begin;
	return 0;
}

static int boot_count_is_more_than_one(struct space_map *sm, pd_block_t b,
				       int *result)
{
	(void)sm;
	(void)b;
	*result = 0;
	return 0;
}

static int boot_inc_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	return add_bop(to_smm(sm), BOP_INC, b, e);
}

static int boot_dec_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	return add_bop(to_smm(sm), BOP_DEC, b, e);
}

/* The whole new area is unused: hand it out in order.  Before the first
 * extend of a new map nr_blocks is still 0; the device bounds it then. */
static int boot_new_block(struct space_map *sm, pd_block_t *b)
{
	struct sm_metadata *smm = to_smm(sm);
	pd_block_t limit = smm->ll.nr_blocks;

	if (!limit)
		limit = bm_nr_blocks(tm_bm(smm->ll.tm));
	if (smm->begin >= limit)
		return -ENOSPC;
	*b = smm->begin++;
	return 0;
}

static int boot_commit(struct space_map *sm)
{
	(void)sm;
	return 0;
}

static int boot_root_size(struct space_map *sm, size_t *result)
{
	(void)sm;
	(void)result;
	return -EINVAL;
}

static int boot_copy_root(struct space_map *sm, void *where, size_t max)
{
	(void)sm;
	(void)where;
	(void)max;
	return -EINVAL;
}

static const struct space_map_ops bootstrap_ops = {
	.destroy = smm_destroy,
	.extend = boot_extend,
	.get_nr_blocks = smm_get_nr_blocks,
	.get_nr_free = boot_get_nr_free,
	.get_count = boot_get_count,
	.count_is_more_than_one = boot_count_is_more_than_one,
	.commit = boot_commit,
	.inc_blocks = boot_inc_blocks,
	.dec_blocks = boot_dec_blocks,
	.new_block = boot_new_block,
	.root_size = boot_root_size,
	.copy_root = boot_copy_root,
};

/* Apply the queue as an outermost call would. */
static int apply_queue(struct sm_metadata *smm)
{
	in(smm);
	return out(smm);
}

static int smm_extend(struct space_map *sm, pd_block_t extra)
{
	struct sm_metadata *smm = to_smm(sm);
	pd_block_t old_len = smm->ll.nr_blocks;
	int r;

	if (recursing(smm))
		return -EINVAL;
	/* MS4: everything extend allocates comes from the new area */
	smm->begin = old_len;
	smm->sm.ops = &bootstrap_ops;
	r = sm_ll_extend(&smm->ll, extra);
	if (r)
		goto out_restore;
	/* Count what was handed out; the commit may hand out more (a
	 * shadow of the index block), so repeat until it does not. */
	do {
		r = add_bop(smm, BOP_INC, old_len, smm->begin);
		if (r)
			goto out_restore;
		old_len = smm->begin;
		r = apply_queue(smm);
		if (r)
			goto out_restore;
		r = sm_ll_commit(&smm->ll);
		if (r)
			goto out_restore;
	} while (old_len != smm->begin &&
		 !PD_MUTANT(EXTEND_COMMIT_ONCE));	/* planted: once */
out_restore:
	smm->sm.ops = &metadata_ops;
	return r;
}

/* --- construction -------------------------------------------------------- */

static int smm_alloc(struct sm_metadata **result)
{
	struct sm_metadata *smm = pd_calloc(1, sizeof(*smm));

	if (!smm)
		return -ENOMEM;
	smm->sm.ops = &metadata_ops;
	*result = smm;
	return 0;
}

static int smm_create(struct sm_metadata *smm, struct transaction_manager *tm,
		      pd_block_t nr_blocks, pd_block_t superblock)
{
	int r;

	smm->begin = superblock + 1;
	smm->recursing = 0;
	smm->allocated_this_transaction = 0;
	smm->q_begin = smm->q_end = 0;

	smm->sm.ops = &bootstrap_ops;
	r = sm_ll_new_metadata(&smm->ll, tm);
	if (!r) {
		if (nr_blocks > SM_METADATA_MAX_BLOCKS)
			nr_blocks = SM_METADATA_MAX_BLOCKS;
		r = sm_ll_extend(&smm->ll, nr_blocks);
	}
	smm->sm.ops = &metadata_ops;
	if (r)
		return r;

	/* MS4: one reference for everything bootstrap handed out */
	r = add_bop(smm, BOP_INC, 0, smm->begin);
	if (r)
		return r;
	r = apply_queue(smm);
	if (r)
		return r;
	return smm_commit(&smm->sm);
}

static int smm_open(struct sm_metadata *smm, struct transaction_manager *tm,
		    const void *root, size_t len)
{
	int r = sm_ll_open_metadata(&smm->ll, tm, root, len);

	if (r)
		return r;
	smm->begin = 0;
	smm->recursing = 0;
	smm->allocated_this_transaction = 0;
	smm->q_begin = smm->q_end = 0;
	smm->old_ll = smm->ll;
	return 0;
}

int tm_create_with_sm(struct block_manager *bm, pd_block_t superblock,
		      struct transaction_manager **tm, struct space_map **sm)
{
	struct sm_metadata *smm;
	struct transaction_manager *t;
	int r;

	r = smm_alloc(&smm);
	if (r)
		return r;
	r = tm_create(bm, &smm->sm, &t);
	if (r)
		goto out_free_sm;
	r = smm_create(smm, t, bm_nr_blocks(bm), superblock);
	if (r)
		goto out_destroy_tm;
	*tm = t;
	*sm = &smm->sm;
	return 0;

out_destroy_tm:
	tm_destroy(t);
out_free_sm:
	smm_destroy(&smm->sm);
	return r;
}

int tm_open_with_sm(struct block_manager *bm, pd_block_t superblock,
		    const void *sm_root, size_t root_len,
		    struct transaction_manager **tm, struct space_map **sm)
{
	struct sm_metadata *smm;
	struct transaction_manager *t;
	int r;

	(void)superblock;
	r = smm_alloc(&smm);
	if (r)
		return r;
	r = tm_create(bm, &smm->sm, &t);
	if (r)
		goto out_free_sm;
	r = smm_open(smm, t, sm_root, root_len);
	if (r)
		goto out_destroy_tm;
	*tm = t;
	*sm = &smm->sm;
	return 0;

out_destroy_tm:
	tm_destroy(t);
out_free_sm:
	smm_destroy(&smm->sm);
	return r;
}

/* --- statistics ----------------------------------------------------------- */

unsigned sm_metadata_queue_len(struct space_map *sm)
{
	return q_len(to_smm(sm));
}

unsigned sm_metadata_queue_max(struct space_map *sm)
{
	return to_smm(sm)->q_max;
}

void sm_metadata_enter(struct space_map *sm)
{
	in(to_smm(sm));
}

int sm_metadata_leave(struct space_map *sm)
{
	return out(to_smm(sm));
}

/* --- checks ------------------------------------------------------------ */

/*
 * The blocks new_block could hand out now, wherever its cursor stands
 * (SM1, MS2): 0 in the bitmaps now and at the last commit (or past the
 * size committed), with no inc queued.  It reads one bitmap entry per
 * block, independently of find_free's search, so that a caller that was
 * refused with -ENOSPC can check the refusal (the workload's
 * allocator_refused).  Meant for the small devices that run out.  A
 * correct allocator leaves it 0 at every -ENOSPC, so the count is
 * summed without a branch of its own.
 */
int sm_metadata_count_allocatable(struct space_map *sm, pd_block_t *count)
{
	struct sm_metadata *smm = to_smm(sm);
	pd_block_t n = 0;

	for (pd_block_t b = 0; b < smm->ll.nr_blocks; b++) {
		uint32_t now, then = 0;
		int r = sm_ll_lookup_bitmap(&smm->ll, b, &now);

		if (!r && b < smm->old_ll.nr_blocks)
			r = sm_ll_lookup_bitmap(&smm->old_ll, b, &then);
		if (r)
			return r;
		n += (pd_block_t)(!now & !then &
				  (queued_adjustment(smm, b) <= 0));
	}
	*count = n;
	return 0;
}
