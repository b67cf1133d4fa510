/* core/check.h - a structural checker of dm-thin pool metadata, like
 * thin_check (FORMAT.md 1.x, 4.1).
 *
 * It is independent of the rest of core/ on purpose: it parses superblock,
 * btree nodes, space-map index blocks and bitmaps itself, straight from
 * the format, and reads blocks through the block manager with no
 * validator, checking checksum and location on its own.  So a bug in
 * bt.c or the space maps cannot hide itself by agreeing with the checker.
 *
 * What it checks (each numbered check is cited in check.c and the tests):
 *  CK1  superblock: readable, not all zeroes, checksum (salt 160774),
 *       blocknr 0, magic 27022010; nothing else is trusted if this fails.
 *  CK2  every btree node: checksum (salt 121107), blocknr, flags (exactly
 *       one of internal / leaf), value size of its tree, max_entries by
 *       the formula, nr_entries <= max_entries, keys strictly increasing
 *       and within the range the parent gives, all leaves of a tree at one
 *       depth, depth <= CHECK_MAX_DEPTH, every block number inside the
 *       metadata space map.
 *  CK3  non-root nodes hold >= max_entries / 3 entries (a warning, as in
 *       thin_check; an error with CHECK_STRICT).
 *  CK4  no cycles: a node on its own path, or reached twice from one tree.
 *  CK5  the details tree and the top level of the mapping tree hold the
 *       same device ids; each device's mapped_blocks equals the number of
 *       its mappings; every mapped data block < data space map nr_blocks.
 *       The same for the held metadata snapshot (held_root != 0), whose
 *       copy of the superblock must carry the superblock salt and its own
 *       location.
 *  CK6  expected reference counts are rebuilt for every metadata block:
 *       superblock 1, snapshot copy 1, each tree node once per referrer
 *       (a shared subtree is walked once), each space-map index block,
 *       bitmap and ref-count tree node 1; and for every data block: once
 *       per mapping in each distinct leaf node (a leaf shared by two
 *       devices counts its blocks once, as the kernel's refcounting does).
 *  CK7  both on-disk space maps are read (metadata: index block, salt
 *       160478, 255 entries; data: index btree, 16-byte values; bitmaps
 *       salt 240779, 2 bits per block, high bit first; value 3: ref-count
 *       btree, 4-byte values) and compared with CK6 block by block:
 *       disk 1 / expected 0 is a leak, any other difference an error.
 *  CK8  the space maps' own bookkeeping: nr_allocated in each root, nr_free
 *       in each index entry (a partial last bitmap may count its entries
 *       past the device end as free, as the kernel does, or not, as
 *       thin_restore does), none_free_before, ref-count tree entries only
 *       for blocks whose bitmap value is 3 and holding counts >= 3.  Debian's
 *       thin_restore leaves nr_allocated / nr_free off by one, and
 *       thin_check does not look, so these are warnings unless CHECK_STRICT.
 *
 * If the trees are damaged (errors before CK7), the space maps are not
 * compared: the expected counts would be wrong everywhere.
 *
 * Metadata written by core/ (like the kernel's) satisfies CK3 and CK8
 * exactly, so checks of our own images should pass CHECK_STRICT; images
 * from thin_restore need the default (thin_check's tolerance).
 *
 * Robustness: damaged metadata never makes it crash, loop or recurse
 * without bound: depth is bounded, every node is walked at most once (a
 * per-block record), every index is range-checked before use.
 * Cost: memory is proportional to the metadata space map's nr_blocks
 * (8 bytes a block, clamped to the device and to 255 bitmaps) plus the
 * number of mappings, never to the data device size.
 *
 * Errors: check_thin_metadata() returns 0 when it ran (whatever it found;
 * damage is in *res and in the messages), -EINVAL for bad arguments (NULL,
 * a bdev whose block size is not 4096), -ENOMEM.  I/O errors reading the
 * device are reported as damage of the block concerned.
 * Ownership: bd stays the caller's; messages are only valid during msg().
 */
#ifndef PD_CHECK_H
#define PD_CHECK_H

#include <stdint.h>

#include "bdev.h"

#define CHECK_MAX_DEPTH 16		/* nodes on a path in one tree */
#define CHECK_MAX_MESSAGES 100		/* without CHECK_ALL_MESSAGES */

enum check_flags {
	CHECK_STRICT       = (1 << 0),	/* CK3 and CK8 findings are errors */
	CHECK_ALL_MESSAGES = (1 << 1),	/* no cap on the number of messages */
};

struct check_result {
	unsigned errors;		/* damage (CK1..CK8) */
	unsigned leaks;			/* blocks in use on disk, referenced by nothing */
	unsigned data_leaks;		/* those of them in the data space map */
	unsigned warnings;		/* CK3 / CK8 findings without CHECK_STRICT */
	int superblock_ok;		/* CK1 passed: the fields below are read */
	uint32_t flags, version, time;	/* superblock */
	uint64_t trans_id, held_root;
	uint32_t data_block_size;	/* sectors */
	uint64_t metadata_nr_blocks;	/* metadata space map root */
	uint64_t metadata_nr_allocated;
	uint64_t data_nr_blocks;	/* data space map root */
	uint64_t data_nr_allocated;
	uint64_t nr_devices;		/* live details tree */
	uint64_t nr_mappings;		/* live mapping tree, all devices */
	uint64_t metadata_blocks_used;	/* blocks with an expected count > 0 */
};

/* Called once per finding (one line, no newline) and for notes. */
typedef void (*check_msg_fn)(void *ctx, const char *text);

int check_thin_metadata(struct bdev *bd, unsigned flags, check_msg_fn msg,
			void *ctx, struct check_result *res);

/* The metadata blocks the superblock on bd reaches: CK1..CK6 only (no
 * space-map comparison), then reach(ctx, b) once for each block with an
 * expected count > 0 (the superblock, the snapshot copy, every node of the
 * live and held trees, the space maps' index, bitmaps and ref-count tree
 * nodes), in block order.  Damage stops a walk where it is found (it is
 * counted in res->errors, said through msg if not NULL); a bad
 * superblock (CK1) reaches nothing.
 * Returns as check_thin_metadata(). */
typedef void (*check_reach_fn)(void *ctx, pd_block_t b);
int check_thin_reachable(struct bdev *bd, check_reach_fn reach,
			 check_msg_fn msg, void *ctx, struct check_result *res);

#endif /* PD_CHECK_H */
