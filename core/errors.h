/* core/errors.h - error codes of libpdata.
 *
 * Every call returns 0 or a negative errno, one meaning each:
 *   -EIO      the device failed, or the object is poisoned by an earlier
 *             failure (see tm.h TM4)
 *   -ENOSPC   a space map is full
 *   -ENOMEM   out of memory (or too many recursive space-map operations)
 *   -EINVAL   misuse: bad argument, block past the end, dec of a free block
 *   -ENODATA  the key is absent
 *   -EILSEQ   a block failed its checksum, magic or structure check
 *   -ENOTBLK  a block says it lives somewhere else
 *   -EPERM    a write to a read-only block manager
 *   -EEXIST   the object (thin device, key) already exists
 *   -EBUSY    the object is in use (a block still locked, a held snapshot)
 */
#ifndef PD_ERRORS_H
#define PD_ERRORS_H

#include <errno.h>
#include <stdint.h>

/* A short static description of r (0 or -errno); never NULL. */
const char *pd_strerror(int r);

/*
 * The damage record: which block a reader found damaged and what is wrong
 * with it, since an error code alone (-EILSEQ, -ENOTBLK) says neither.
 * Each block manager keeps one (bm_damage()); the layer that finds the
 * damage writes it, in the words of the checkers (check.h, check_cache.h)
 * where they say the same thing, e.g.
 *   "block 13 (btree node): 253 entries, more than max_entries 252"
 * and the layer that followed a reference to that block may add where the
 * reference was (", in entry 1 of block 9").
 *  DR1  a note replaces the one before: the record says the last damage
 *       found, which is the one an error return carries up;
 *  DR2  only damage is noted (never -ENOMEM, nor an absent key), so a
 *       caller that clears the record before an operation and finds it
 *       set after a failure knows which block failed it.
 */
struct pd_damage {
	unsigned seq;			/* notes so far; 0: none */
	uint64_t block;			/* the damaged block */
	int from_set;			/* text says where it was named */
	char text[256];			/* one line, no newline */
};

void pd_damage_clear(struct pd_damage *d);
void pd_damage_note(struct pd_damage *d, uint64_t block, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Append ", in entry ENTRY of block PARENT" if the note made since
 * d->seq was `seq` is about block b and says no such place yet. */
void pd_damage_from(struct pd_damage *d, unsigned seq, uint64_t b,
		    uint64_t parent, uint32_t entry);

#endif /* PD_ERRORS_H */
