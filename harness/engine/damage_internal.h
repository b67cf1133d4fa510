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
};

/* One metadata block the superblock reaches, as the plan met it first. */
struct dmg_target {
	pd_block_t block;
	uint8_t role;			/* enum dmg_role */
	uint8_t tree;			/* enum dmg_tree */
	uint8_t leaf;			/* a node: a leaf */
	pd_block_t parent;		/* what points here (0: the superblock) */
	uint64_t sm_nr_blocks;		/* a bitmap: its space map's size */
	uint64_t bitmap_index;		/* a bitmap: which of its space map */
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
	pd_block_t map_root, details_root;
};

/* 0; -EILSEQ if block 0 is no valid superblock; -ENOMEM. */
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
/* Room for element nr of the growing array *array (of *cap elements of
 * esz bytes): 0 or -ENOMEM. */
int dmg_grow(void *array, size_t *cap, size_t nr, size_t esz);
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
 * out->named); zeroed: dmg_zeroed_data_block() of the damage. */
void dmg_recover(const struct run_result *res, uint64_t cut,
		 struct bdev *image, pd_block_t block, pd_block_t zeroed,
		 struct dmg_result *out);

#endif /* PD_DAMAGE_INTERNAL_H */
