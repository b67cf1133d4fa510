/* harness/engine/damage_internal.h - what damage.c gives damage_run.c (and
 * the tests): the plan of an image's metadata blocks, the application of
 * one damage kind to one block, the recovery of one damaged image.
 */
#ifndef PD_DAMAGE_INTERNAL_H
#define PD_DAMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "damage.h"
#include "workload.h"

enum dmg_role {
	DR_SB,			/* block 0 */
	DR_SB_COPY,		/* the held metadata snapshot's superblock copy */
	DR_NODE,		/* a btree node of one of the trees below */
	DR_INDEX,		/* the metadata space map's index block */
	DR_BITMAP,		/* a space-map bitmap */
	DR_CSB,			/* block 0 of dm-cache metadata */
	DR_ABLOCK,		/* an array block of a dm-cache array */
	DR_NR
};

enum dmg_tree {
	DT_NONE,
	DT_MAP_TOP,		/* mapping tree, top level: dev -> subtree */
	DT_MAP_BOTTOM,		/* a device's mappings: vblock -> block_time */
	DT_DETAILS,		/* dev -> details */
	DT_DATA_INDEX,		/* data space map index tree (and its bitmaps) */
	DT_DATA_RC,		/* data space map ref-count tree */
	DT_META_INDEX,		/* the metadata space map's bitmaps */
	DT_META_RC,		/* metadata space map ref-count tree */
	DT_C_MAP,		/* dm-cache mapping array (its index tree and
				 * array blocks) */
	DT_C_HINT,		/* dm-cache hint array */
	DT_C_DISCARD,		/* dm-cache discard bitset */
	DT_C_DIRTY,		/* dm-cache dirty bitset (format 2) */
};

/* One metadata block the superblock reaches, as the plan met it first. */
struct dmg_target {
	pd_block_t block;
	uint8_t role;			/* enum dmg_role */
	uint8_t tree;			/* enum dmg_tree */
	uint8_t leaf;			/* a node: a leaf */
	pd_block_t parent;		/* what points here (0: the superblock) */
	uint64_t sm_nr_blocks;		/* a bitmap: its space map's size */
	uint64_t bitmap_index;		/* a bitmap: which of its space map;
					 * an array block: its index */
	uint64_t key_lo, key_hi;	/* a node: its first and last key */
	uint8_t has_keys;		/* a node with entries, as committed */
};

/* Every metadata block of an image, in block order, each once (a shared
 * node is met through its first parent). */
struct dmg_plan {
	pd_block_t nr_blocks;		/* of the device */
	struct dmg_target *t;
	size_t nr, cap;
	uint8_t *seen;			/* per block of the device */
	pd_block_t max_used;		/* the highest block planned */
	uint64_t data_used;		/* 1 + the highest data block mapped
					 * (live or held), 0 if none */
	uint64_t data_nr_blocks, meta_nr_blocks;	/* space-map roots */
	pd_block_t map_root, details_root;	/* dm-cache: mapping root, 0 */
	/* dm-cache metadata (block 0 is a cache superblock) */
	int cache;
	uint32_t cache_version, cache_blocks;
	uint64_t discard_nr_blocks;
};

/* 0; -EILSEQ if block 0 is no valid superblock (thin or dm-cache);
 * -ENOMEM. */
int dmg_plan_build(struct bdev *bd, struct dmg_plan *p);
void dmg_plan_free(struct dmg_plan *p);
const struct dmg_target *dmg_plan_find(const struct dmg_plan *p, pd_block_t b);

/* Damage blk (the target's block, as the image holds it) with kind and
 * recompute its checksum: 0; -1 if the kind does not fit the block (blk
 * may then be changed: use a copy). */
int dmg_apply(const struct dmg_plan *p, const struct dmg_target *t,
	      unsigned kind, uint8_t *blk);
#define DMG_NO_BLOCK UINT64_MAX
/* The data block whose count kind sets from 1 to 0 (bm-used-to-free on a
 * bitmap of the data space map), blk the block before the damage; else
 * DMG_NO_BLOCK.  A data block mapped once and counted 0: the remove of
 * its mapping must fail (core/sm.h SM4), dmg_recover() probes it. */
pd_block_t dmg_zeroed_data_block(const struct dmg_target *t, unsigned kind,
				 const uint8_t *blk);
/* The kind called name[0..len), or -1. */
int dmg_kind_find(const char *name, size_t len);

struct dmg_result {
	int32_t outcome;		/* enum damage_outcome */
	int32_t core_only;		/* detected by a core error on an image
					 * the checker passed */
	int32_t named;			/* msg names the damaged block */
	char msg[DAMAGE_MSG_MAX];
};

/* Recover a damaged image of res's run, cut just after a commit (damage.h
 * says how); the image is written to.  block: the one damaged (for
 * out->named) by damage kind kind; zeroed: dmg_zeroed_data_block() of the
 * damage. */
void dmg_recover(const struct run_result *res, uint64_t cut,
		 struct bdev *image, pd_block_t block, unsigned kind,
		 pd_block_t zeroed, struct dmg_result *out);
/* 1 if damage kind k leaves the block failing its own validation (its
 * checksum, location or magic): the one block of the image a reader can
 * find damaged by itself. */
int dmg_kind_breaks_block(unsigned k);
/* What a recovery saw, for dmg_verdict(): the outcome rules of damage.h
 * in one place for thin and dm-cache. */
struct dmg_obs {
	const char *what;		/* "pool", "metadata" */
	int chk;			/* checker on the image as damaged:
					 * 0, 1 findings, -errno */
	const char *chk_msg;		/* its findings; with chk 0 its
					 * warnings, or "" */
	int opened;			/* the open: 0 or -errno */
	int rd;				/* reading the whole state: 0, -errno */
	int matched;			/* the state read is one of lo..hi */
	int64_t lo, hi;
	int rs;				/* thin: the held metadata snapshot */
	int rc;				/* the continue step: 0, -errno, 1 */
	const char *cont_msg;
	int rx;				/* the exercise: 0, -errno, 1 */
	int silent;			/* thin: the exercise's remove of a
					 * mapping to a block the damage
					 * counted 0 succeeded (SM4), or its
					 * insert of a data block past 2^40 */
	const char *ex_msg;
	/* the structural check after the exercise's commit (run only on
	 * the way to harmless): as explore_structural */
	int (*recheck)(struct bdev *image, char *msg, size_t len);
	struct bdev *image;
	pd_block_t block;		/* the damaged one (for out->named) */
	/* the damage records (core/errors.h) of the open and of the held
	 * snapshot's read, as the core left them; NULL: none kept */
	const struct pd_damage *open_why, *snap_why;
	int own;			/* dmg_kind_breaks_block() */
};
void dmg_verdict(const struct dmg_obs *o, struct dmg_result *out);

/* A recovery's steps on one kind of metadata (thin: damage.c, dm-cache:
 * damage_cache.c), each on the backend's own ctx; dmg_recover_with()
 * runs them in order and gives the verdict. */
struct dmg_backend {
	const char *what;		/* "pool", "metadata" */
	/* the checker alone: 0 clean (msg: its warnings, or ""), 1
	 * findings (msg names them), -errno could not run */
	int (*check)(struct bdev *image, char *msg, size_t len);
	int (*open)(void *ctx, struct bdev *image);
	/* the whole state read: 0 or -errno */
	int (*digest)(void *ctx, struct digest *d);
	/* thin: the held metadata snapshot read; NULL: none */
	int (*snap)(void *ctx, struct bdev *image);
	/* the continue step (as explore_continue: 0, -errno, 1) and the
	 * exercise (0, -errno, 1 a wrong answer; msg says which step) */
	int (*cont)(void *ctx, struct bdev *image, struct digest d,
		    struct check_out *out);
	int (*exercise)(void *ctx, struct bdev *image, char *msg, size_t len,
			int *silent);
	void (*destroy)(void *ctx);	/* after a successful open */
	/* the damage record the open (snap 0) or the held snapshot's read
	 * (snap 1) left, cleared before it; NULL (or no hook): none kept */
	const struct pd_damage *(*why)(void *ctx, int snap);
	/* thin: the probes that change the pool and abort, run before the
	 * continue step, their answer kept for the exercise's (NULL or no
	 * hook: none) */
	void (*probe)(void *ctx);
};
void dmg_recover_with(const struct dmg_backend *be, void *ctx,
		      const struct run_result *res, uint64_t cut,
		      struct bdev *image, pd_block_t block, int own,
		      struct dmg_result *out);

/* The same for a dm-cache run (damage_cache.c; damage.h says how). */
void dmg_recover_cache(const struct run_result *res, uint64_t cut,
		       struct bdev *image, pd_block_t block,
		       struct dmg_result *out);
/* Does text name block b ("block B", "node B", ...; the superblock for
 * 0)? */
int dmg_names_block(const char *text, pd_block_t b);

#endif /* PD_DAMAGE_INTERNAL_H */
