/* harness/pdcrash/diff.h - what `pdcrash diff`'s two halves share: the thin
 * pool diff (diff.c, which has the command) and the dm-cache diff
 * (diff_cache.c). */
#ifndef PD_DIFF_H
#define PD_DIFF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "bdev.h"
#include "client.h"
#include "scenario.h"

struct diff_stats {
	uint64_t ops, commits, identical, explained, unexplained;
	int first_shown;		/* the first byte difference printed */
};

/* A named difference (client.h, cache_client.h) and what diff does. */
struct diff_cause {
	const char *id;
	const char *what;
};
const struct diff_cause *diff_cause_find(const struct diff_cause *table,
					 size_t n, const char *id);

/* Counts an unexplained difference and prints it ("  SCENARIO:
 * UNEXPLAINED: ..."). */
void diff_vunexplained(struct diff_stats *st, const char *scenario,
		       const char *fmt, va_list ap);

/* A dump being built, line by line; oom set if memory ran out. */
struct diff_text {
	char *buf;
	size_t len, cap;
	int oom;
};
__attribute__((format(printf, 2, 3)))
void diff_text_add(struct diff_text *t, const char *fmt, ...);
/* NULL if a and b are the same text, else the first line of b that
 * differs (a pointer into b->buf). */
const char *diff_text_mismatch(const struct diff_text *a,
			       const struct diff_text *b);

/* The whole device into *img (realloc'd; *nr blocks): 0 or -errno. */
int diff_read_image(struct bdev *bd, uint8_t **img, pd_block_t *nr);

/* A block device in memory holding a copy of img (nr 4096-byte blocks):
 * what an open in the other backend may write to.  0 or -ENOMEM. */
int diff_membd_create(const uint8_t *img, pd_block_t nr, struct bdev **out);

/* The bytes of two btree nodes a reader uses are equal (header past the
 * checksum, keys and values up to nr_entries): the rest is stale slots. */
int diff_node_used_bytes_equal(const uint8_t *a, const uint8_t *b);

/* The count of block b in the metadata space map of img (FORMAT.md 1.7-
 * 1.9) whose superblock has checksum salt sb_salt and the space-map root
 * at byte sm_root (thin 192, cache 64): 0 free, 1, 2, 3 (3 or more); -1
 * if the map cannot be read. */
int diff_meta_count(const uint8_t *img, pd_block_t nr, pd_block_t b,
		    uint32_t sb_salt, unsigned sm_root);

/* diff_membd_create, or NULL with the error in msg. */
struct bdev *diff_copy(const uint8_t *img, pd_block_t nr, char *msg,
		       size_t len);
/* An open of a copy failed with r: "open failed: ..." into msg, bd
 * destroyed; returns r. */
int diff_open_failed(int r, struct bdev *bd, char *msg, size_t len);

/* DIR/BASE.BACKEND[-2].img, BASE the scenario's name past its last '/';
 * 0, or -1 with a message on stderr. */
int diff_save_image(const char *dir, const char *scenario,
		    const char *backend, int second, const uint8_t *img,
		    pd_block_t nr);

/* One dm-cache scenario on the cache clients of the two backends
 * (cache_client.h): 0, or 2 when it could not run (message on stderr). */
int diff_cache_scenario(const struct scenario *sc,
			const struct client_ops *ops[2], uint64_t seed,
			const char *save_dir, int verbose,
			struct diff_stats *out);
/* The named causes of dm-cache differences, as print_causes lists. */
void diff_cache_print_causes(void);

#endif /* PD_DIFF_H */
