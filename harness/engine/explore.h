/* harness/engine/explore.h - crash states at every cut point, and the replay
 * checker (DESIGN.md section 4).
 *
 * A run's log is cut after every write, FUA write and flush (and before
 * the first op).  At each cut the pending writes P give the persistence
 * choices, in a fixed order:
 *   |P| <= 10: every subset, choice i = bit mask i (bit j: pending write j
 *              landed);
 *   otherwise: none, all, each one left out, each one alone, then
 *              NR_RANDOM_CHOICES seeded random subsets;
 *   with --tear, after those: for each pending write j, the writes before
 *              it landed whole, j landed in part (a seeded sector mask),
 *              none after it.
 * Each (cut, choice) is one crash state, checked by check_state():
 * structural check, reopen, compare with the committed states the markers
 * allow, then continue (a new device, mappings, a commit) and check again.
 *
 * Outcomes (DESIGN.md 4.6): rollback, rollforward, detected (the open
 * refused the image with a checksum error where the model allows it: a
 * torn write; or, after a lost sector (fault zN), recovery read the block
 * whose sector the media lost, in the damaged version, and the open, the
 * structural check, the reading of the pool or the continue step failed
 * with a checksum error), violation.
 */
#ifndef PD_EXPLORE_H
#define PD_EXPLORE_H

#include <stddef.h>
#include <stdint.h>

#include "bignum.h"
#include "workload.h"

#define NR_RANDOM_CHOICES 16
#define LEAF_TEXT_MAX 400
#define DEFAULT_MAX_BRANCHES 1000000
#define EXHAUSTIVE_MAX 10

enum outcome {
	OUT_ROLLBACK,
	OUT_ROLLFORWARD,
	OUT_DETECTED,
	OUT_VIOLATION,
	OUT_NR
};

const char *outcome_name(enum outcome o);

/* Everything that names one crash state; printed as a failure id:
 *   NAME:sSEED:cCUT:pIDX-of-N[:t]:eFAULT     (--sample)
 *   NAME:sSEED:cCUT:lLEAF[:t]:eFAULT         (exhaustive: one leaf)
 * LEAF is the decisions on the blocks recovery read, in read order, joined
 * by '.': bBLOCKvV (the block holds version V: 0 durable, V the V-th
 * pending write of the block in log order) or bBLOCKsXXXXXXXX (torn: one
 * base-36 digit per 512-byte sector, the version that sector comes
 * from); "-" when recovery read no pending block.
 * NAME is the scenario name with its variant (e.g. snapshots+small; a
 * name with a / is a path to a scenario file without its .scn), FAULT
 * is 0, or rN/RN, wN/WN, fN/FN (read, write, flush op N failed once /
 * from N on), or a media fault: bN (read N returned a bit flipped, bit
 * rot) or zN (write N lost a sector on the media, which reads as zeroes
 * until the block is written again).  Media faults are placed by the
 * seed (simdisk.h, sd_media_hash). */
struct state_id {
	char name[128];
	uint64_t seed;
	uint64_t cut;
	uint64_t choice, nr_choices;	/* --sample ids */
	int tear;
	struct fault_spec fault;
	int lazy;			/* a leaf id: l<leaf> instead of p.. */
	char leaf[LEAF_TEXT_MAX];	/* the decisions, "-" for none */
};

int state_id_format(const struct state_id *id, char *buf, size_t len);
/* -EINVAL for a malformed id (err says what). */
int state_id_parse(const char *text, struct state_id *id, char *err,
		   size_t errlen);

/* Number of persistence choices for npending pending writes. */
uint64_t nr_choices(size_t npending, int tear);
/* Fill landed[]/sectors[] for choice idx (0 <= idx < nr_choices). */
void make_choice(size_t npending, int tear, uint64_t seed, uint64_t cut,
		 uint64_t idx, uint8_t *landed, uint64_t *sectors);

struct check_out {
	enum outcome outcome;
	int64_t state;			/* the committed state found, or -2 */
	char msg[400];
	char pass[160];			/* the faulted pass (check_opts): its
					 * fault and the answer, or "" */
};

struct check_opts {
	int no_continue;		/* skip the continue-and-check step */
	const char *save_image;		/* write the crash image here */
	int verbose;			/* print the difference on violation */
	int recovery_fault;		/* a first pass with a read error: it
					 * must fail cleanly, and the next
					 * reopen must still recover
					 * (explore.c, "The faulted pass") */
	int recovery_alloc_fault;	/* the same with an allocation
					 * failure (core/alloc) instead:
					 * --alloc-faults' runs */
	/* tests: explore_cut runs this instead of recovery (res may then
	 * be NULL, memo must be) */
	void (*recover)(void *ctx, struct bdev *image, struct check_out *out);
	void *recover_ctx;
};

/*
 * Memo of base states: the base state of a cut (choice 0, nothing pending
 * landed: the durable image alone) is checked through a device that
 * records every block recovery reads.  Recovery is deterministic, so a
 * state whose landed writes all miss those blocks reads exactly the same
 * data, does exactly the same, and has the same outcome: it takes the
 * base's result without running.  The base itself serves every cut with
 * the same durable image and the same marker expectations (e.g. all the
 * cuts inside one burst of writes before a flush).  Any landed write that
 * recovery would read means a full check.
 */
struct memo_key {
	uint64_t durable;		/* the durable image's version */
	int64_t lo, hi, committed;	/* what the markers allow */
	uint64_t data;			/* datadev_cut_key, or 0 */
};

struct check_memo {
	struct memo_key key;		/* of the base checked */
	int valid;
	uint64_t scan_pos, scan_version;	/* durable-version scan */
	uint64_t *read_bits;		/* blocks the base's recovery read */
	uint64_t nbits, cap_bits;
	struct check_out base;
	uint64_t hits, misses;
	/* exhaustive mode: the base leaf's first reads, in order */
	int lazy_valid;
	pd_block_t *order;
	size_t nord, cap_ord;
};
void check_memo_free(struct check_memo *m);

/* 1 (and *out filled) if the memo answers for this state without running
 * recovery: its base is the one of this cut and the state's landed writes
 * miss every block the base's recovery read; 0 otherwise. */
int check_state_cached(const struct run_result *res, struct sd_cutter *cutter,
		       const struct state_id *id, struct check_memo *memo,
		       struct check_out *out);

/* Check one crash state of a run (the cutter must be at the cut); memo
 * may be NULL (every state checked in full). */
void check_state(const struct run_result *res, struct sd_cutter *cutter,
		 const struct state_id *id, const struct check_opts *opts,
		 struct check_memo *memo, struct check_out *out);

/*
 * Lazy, exhaustive exploration of one cut (DESIGN.md 4.3).  Every block
 * with pending writes is undecided until recovery (open, structural check,
 * comparison, continue-and-check) first reads it; then the exploration
 * branches over the block's distinct contents (simdisk.h, the choice
 * table).  Branching re-runs recovery from the start with a decision
 * prefix (depth first over decision sequences): recovery is deterministic,
 * so it reads the same blocks up to the first new branching point.  Each
 * leaf stands for prod(count of every block it never read) crash states;
 * the leaves together cover the states_total = prod(count of every
 * pending block) distinct images of the cut.  The memo's base (the first
 * leaf, all durable) serves every cut with the same durable image and
 * marker expectations: its read order gives the first leaf's decisions.
 */
struct lazy_cb {
	/* before a recovery runs (leaf = its decisions so far: the prefix) */
	void (*begin)(void *ctx, const char *leaf);
	/* each leaf; ran = 0 when the memo answered */
	void (*leaf)(void *ctx, const char *leaf, const struct check_out *out,
		     int ran);
	void *ctx;
};

struct cut_cover {
	uint64_t leaves, recoveries;
	int complete;			/* every leaf explored */
	struct bignum total, covered;
};
void cut_cover_free(struct cut_cover *cc);

/* The distinct crash images of the cutter's cut: prod of the pending
 * blocks' counts (1 with nothing pending). */
int cut_states_total(struct sd_cutter *cutter, int tear, struct bignum *total);

/* Explore the cutter's cut: every leaf, or max_branches of them (then
 * cc->complete = 0); resume_after: a leaf text of this cut, start with
 * the leaf after it (a worker restarted after a crash).  tmpl names the
 * cut (name, seed, cut, tear, fault).  0, or -errno (harness trouble). */
int explore_cut(const struct run_result *res, struct sd_cutter *cutter,
		const struct state_id *tmpl, const struct check_opts *opts,
		struct check_memo *memo, uint64_t max_branches,
		const char *resume_after, const struct lazy_cb *cb,
		struct cut_cover *cc);

/* 0 if a leaf id's decisions fit the cutter's cut, else -EINVAL and msg
 * says why. */
int leaf_id_fits(struct sd_cutter *cutter, const struct state_id *id,
		 char *msg, size_t len);

/* The crash image a leaf id names (its decisions; every other pending
 * block durable), for replay to look at after the check.  0, or -EINVAL
 * (the id does not fit the cut) / -errno.  leaf_image_free destroys the
 * image and the rest; it must come before the cutter seeks again. */
struct leaf_image;
int leaf_image_create(struct sd_cutter *cutter, const struct state_id *id,
		      struct bdev **image, struct leaf_image **li);
void leaf_image_free(struct leaf_image *li, struct bdev *image);

/* Pieces of the recovery check, shared with the damage step (damage.h).
 * explore_structural: core/check.c in strict mode on bd and, when it finds
 * nothing and cl is not NULL, the backend's own check of the trees cl has
 * open: 0 clean, 1 damaged (what, naming the blocks, in msg), 2 the two
 * checks disagree, -errno could not run.
 * explore_continue: the continue step on a recovered pool whose digest
 * is found: a new device with a few mappings, a commit; then the state
 * must be found plus them and the structure clean.  0 when all is well
 * (out left alone); else out says OUT_VIOLATION and why, and it returns
 * the core's -errno when a call failed, 1 when the state or the
 * structure is wrong (or the checker could not run). */
int explore_structural(struct bdev *bd, struct client *cl, char *msg,
		       size_t len);
int explore_continue(struct client *cl, struct bdev *image,
		     struct digest found, struct check_out *out);
/* The same, where failed data writes (datadev.h DD3) left data blocks
 * allocated and unmapped: data_leaks NULL is the strict check above; else
 * leaks that are all in the data space map are no damage, and their
 * number goes to *data_leaks (the continue step: must equal it). */
int explore_structural_leaky(struct bdev *bd, struct client *cl,
			     uint64_t *data_leaks, char *msg, size_t len);
int explore_continue_leaky(struct client *cl, struct bdev *image,
			   struct digest found, const uint64_t *data_leaks,
			   struct check_out *out);

/* The cut points of a run: 0, i+1 for every write/flush entry i, and the
 * end of the log when markers follow the last IO (a crash after the last
 * commit returned). */
size_t cut_points(const struct run_result *res, uint64_t **cuts);

#endif /* PD_EXPLORE_H */
