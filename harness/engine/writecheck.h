/* harness/engine/writecheck.h - write-time invariants, checked on a run's
 * op log with no crash state needed (DESIGN.md 4.3; FORMAT.md 2.9 rules 1
 * and 3; SQLite's test_journal.c idea).
 *
 * The log is walked once, in order, with a cutter that knows what is
 * durable at each point (simdisk.h D2, D4).
 *  WA  no write may touch a block reachable from the durable superblock:
 *      the block-0 content that is durable at that point of the log, with
 *      everything it reaches (live trees, held metadata snapshot and its
 *      trees, both space maps: index, bitmaps, ref-count trees).  That is
 *      the transaction a crash rolls back to; overwriting it breaks the
 *      rollback.  Block 0 itself is exempt (writing it is the commit).
 *  WB  a superblock write must come after the flush that makes everything
 *      it reaches durable: when block 0 is written, no block the new
 *      superblock reaches (block 0 aside) may still be pending.
 * The reachable set is computed by the structural checker's walk
 * (check_thin_reachable) on the durable image (the cutter's image with
 * nothing pending landed) each time the durable block 0 changes (after a
 * good flush, or a FUA write of block 0), and on the newest image (all
 * pending landed) at each superblock write for WB.  Failed writes stored
 * nothing (D4) and are not checked.
 *
 * Ids: NAME:sSEED:wSEQ:eFAULT names the log entry SEQ of the offending
 * write in the run of scenario NAME (variant included), seed SEED, fault
 * FAULT (as in explore.h).  `pdcrash replay` of such an id runs the
 * workload again, checks the log again and shows the write.
 */
#ifndef PD_WRITECHECK_H
#define PD_WRITECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "explore.h"
#include "workload.h"

enum write_rule {
	WRULE_A = 1,			/* overwrote the durable transaction */
	WRULE_B = 2,			/* superblock before its tree is durable */
};

struct write_violation {
	uint64_t seq;			/* log entry of the offending write */
	pd_block_t block;
	enum write_rule rule;
	char msg[300];
};

struct writecheck {
	struct write_violation *v;	/* in log order */
	size_t nr;
	uint64_t writes;		/* writes checked */
	uint64_t walks;			/* reachable-set walks */
	int cache;			/* a dm-cache run: the walks are
					 * check_cache_reachable's */
};

/* Check the whole log of res (max_violations > 0: stop after that many).
 * 0, or -errno (harness trouble: nothing can be said). */
int writecheck_run(const struct run_result *res, size_t max_violations,
		   struct writecheck *wc);
void writecheck_free(struct writecheck *wc);

/*
 * A fault run of the linear sweep (driver.c) is the fault-free run up to
 * the op its fault hits: the same log entries, so the same walks with the
 * same answers.  writecheck_run_trail with record set checks a run as
 * writecheck_run does and keeps its trail (the walk's state after every
 * entry that walked); with resume set (and record NULL) it checks another
 * run whose first `shared` log entries are that run's, starting from the
 * trail's last point at or before entry shared, and ends with the same
 * figures, violations and answer as writecheck_run on it.  The trail
 * stands for a prefix only where it holds: it is used only when its run
 * found no violation (a rule may judge a fault run's entry otherwise,
 * check_sb_write's lost sector); else the run is checked from its first
 * entry.  The caller vouches for the shared prefix with
 * writecheck_trail_follow.
 */
struct writecheck_trail;
int writecheck_run_trail(const struct run_result *res, size_t max_violations,
			 const struct writecheck_trail *resume, uint64_t shared,
			 struct writecheck_trail **record, struct writecheck *wc);
void writecheck_trail_free(struct writecheck_trail *t);

/* Follows a run's growing log sd along trail t (f zeroed at first): the
 * entries before each point must hash as the recorded run's did (their
 * kinds, blocks, outcomes, markers).  Returns how many first entries of sd
 * the trail stands for: all of them while every point so far matched,
 * else those up to the last point that did.  Linear in the log over all
 * calls. */
struct writecheck_follow {
	size_t k;			/* next point to reach */
	uint64_t i, h;			/* entries hashed, their hash */
	uint64_t upto;			/* the last matching point's entry */
	int broken;
};
uint64_t writecheck_trail_follow(const struct writecheck_trail *t,
				 struct simdisk *sd, struct writecheck_follow *f);

/* Replay of a write id: the violation at log entry seq, if any.  1 (and
 * *v filled) when the write at seq breaks a rule, 0 when it breaks none
 * (or is not a write), -errno on harness trouble. */
int writecheck_at(const struct run_result *res, uint64_t seq,
		  struct write_violation *v);

const char *write_rule_text(enum write_rule r);

/* A write id: NAME:sSEED:wSEQ:eFAULT.  write_id_parse returns 1 when text
 * is one (id filled: cut = SEQ, the other fields as for a state id), 0
 * when it is not a write id, -EINVAL when it is a malformed one (err says
 * why). */
int write_id_format(const char *name, uint64_t seed, uint64_t seq,
		    const struct fault_spec *fault, char *buf, size_t len);
int write_id_parse(const char *text, struct state_id *id, char *err,
		   size_t errlen);

#endif /* PD_WRITECHECK_H */
