/* core/sm_core.c - an in-memory space map (see sm.h).
 *
 * Counts live in an array; a second array holds the counts at the last
 * commit, so SM1 holds exactly as in the on-disk maps.  Used by tests, by
 * benchmarks of the layers above, and wherever counts are rebuilt in
 * memory.  It has no on-disk root.
 */
#include "errors.h"
#include "sm.h"
#include "util.h"

struct sm_core {
	struct space_map sm;
	pd_block_t nr_blocks;
	uint32_t *count;		/* now */
	uint32_t *committed;		/* at the last commit (SM1) */
	pd_block_t cursor;		/* SM5 */
};

static struct sm_core *to_core(struct space_map *sm)
{
	return pd_container_of(sm, struct sm_core, sm);
}

static void core_destroy(struct space_map *sm)
{
	struct sm_core *c = to_core(sm);

	pd_free(c->count);
	pd_free(c->committed);
	pd_free(c);
}

static int core_extend(struct space_map *sm, pd_block_t extra)
{
	struct sm_core *c = to_core(sm);
	pd_block_t n = c->nr_blocks + extra;
	uint32_t *a, *b;

	if (n < c->nr_blocks || n > (SIZE_MAX / sizeof(uint32_t)))
		return -EINVAL;
	a = pd_realloc(c->count, (n ? n : 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	c->count = a;
	b = pd_realloc(c->committed, (n ? n : 1) * sizeof(*b));
	if (!b)
		return -ENOMEM;
	c->committed = b;
	memset(a + c->nr_blocks, 0, extra * sizeof(*a));
	memset(b + c->nr_blocks, 0, extra * sizeof(*b));
	c->nr_blocks = n;
	return 0;
}

static pd_block_t core_get_nr_blocks(struct space_map *sm)
{
	return to_core(sm)->nr_blocks;
}

static int core_get_nr_free(struct space_map *sm, pd_block_t *count)
{
	struct sm_core *c = to_core(sm);
	pd_block_t n = 0;

	for (pd_block_t b = 0; b < c->nr_blocks; b++)
		n += !c->count[b] && !c->committed[b];	/* SM2 */
	*count = n;
	return 0;
}

static int core_get_count(struct space_map *sm, pd_block_t b, uint32_t *result)
{
	struct sm_core *c = to_core(sm);

	if (b >= c->nr_blocks)
		return -EINVAL;
	*result = c->count[b];
	return 0;
}

static int core_count_is_more_than_one(struct space_map *sm, pd_block_t b,
				       int *result)
{
	struct sm_core *c = to_core(sm);

	if (b >= c->nr_blocks)
		return -EINVAL;
	*result = c->count[b] > 1;
	return 0;
}

static int core_commit(struct space_map *sm)
{
	struct sm_core *c = to_core(sm);

	memcpy(c->committed, c->count, c->nr_blocks * sizeof(*c->count));
	return 0;
}

static int core_inc_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	struct sm_core *c = to_core(sm);

	if (b > e || e > c->nr_blocks)
		return -EINVAL;
	for (pd_block_t i = b; i < e; i++)
		if (c->count[i] == UINT32_MAX)
			return -EINVAL;
	for (pd_block_t i = b; i < e; i++)
		c->count[i]++;
	return 0;
}

static int core_dec_blocks(struct space_map *sm, pd_block_t b, pd_block_t e)
{
	struct sm_core *c = to_core(sm);

	if (b > e || e > c->nr_blocks)
		return -EINVAL;
	for (pd_block_t i = b; i < e; i++)
		if (!c->count[i])
			return -EINVAL;		/* SM4: nothing changed */
	for (pd_block_t i = b; i < e; i++)
		c->count[i]--;
	return 0;
}

static int core_new_block(struct space_map *sm, pd_block_t *result)
{
	struct sm_core *c = to_core(sm);

	for (pd_block_t i = 0; i < c->nr_blocks; i++) {
		pd_block_t b = (c->cursor + i) % c->nr_blocks;	/* SM5 wrap */

		if (!c->count[b] && !c->committed[b]) {		/* SM1 */
			c->count[b] = 1;
			c->cursor = b + 1;
			*result = b;
			return 0;
		}
	}
	return -ENOSPC;
}

static int core_root_size(struct space_map *sm, size_t *result)
{
	(void)sm;
	(void)result;
	return -EINVAL;
}

static int core_copy_root(struct space_map *sm, void *where, size_t max)
{
	(void)sm;
	(void)where;
	(void)max;
	return -EINVAL;
}

static const struct space_map_ops core_ops = {
	.destroy = core_destroy,
	.extend = core_extend,
	.get_nr_blocks = core_get_nr_blocks,
	.get_nr_free = core_get_nr_free,
	.get_count = core_get_count,
	.count_is_more_than_one = core_count_is_more_than_one,
	.commit = core_commit,
	.inc_blocks = core_inc_blocks,
	.dec_blocks = core_dec_blocks,
	.new_block = core_new_block,
	.root_size = core_root_size,
	.copy_root = core_copy_root,
};

int sm_core_create(pd_block_t nr_blocks, struct space_map **result)
{
	struct sm_core *c = pd_calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->sm.ops = &core_ops;
	r = core_extend(&c->sm, nr_blocks);
	if (r) {
		core_destroy(&c->sm);
		return r;
	}
	*result = &c->sm;
	return 0;
}
