/* simdisk/simdisk.c - the simulated disk: volatile write cache, op log, fault
 * plan, libfiu points and the crash-state builder (contract: simdisk.h).
 *
 * Design notes.
 *
 * Storage.  Write data is copied once, into an arena the simdisk owns, and
 * from then on only referenced: by the log entry, by the map of the newest
 * content (D1), by a cutter's durable map and by crash images.  Nothing is
 * freed before the simdisk itself, so no per-buffer reference counts are
 * needed; the simdisk is reference counted instead (owner + every cutter).
 * Blocks nobody wrote have no storage at all: they read as zeroes, or as the
 * base file, which is kept sparse (only its non-zero blocks are stored).
 *
 * Invariants (cited in code and tests as SDn):
 *  SD1  sd->cur maps a block to the data of its newest successful write;
 *       blocks absent from it read from the base below base_limit, else
 *       zeroes.
 *  SD2  a cutter at cut k holds exactly the result of applying log entries
 *       [0, k) to the initial state: durable maps a block to its durable data
 *       (absent: base below base_limit, else zeroes); pend lists, in log
 *       order, the writes whose fate is open: the first nr_doubtful of them
 *       were pending at a failed flush (D4), the rest came after the last
 *       flush.  Every doubtful write precedes every fresh one in the log.
 *  SD3  an image never changes what it is built over: its own writes go to
 *       its overlay; reads look at overlay, then the chosen pending writes,
 *       then the cutter's durable map, then the base.
 *  SD4  the log is only appended to; entries never move (chunked array), so
 *       pointers from simdisk_op() stay valid for the simdisk's life.
 *
 * Lifetimes.  The simdisk is freed when its owner has destroyed it and every
 * cutter is gone; a cutter when its owner has destroyed it and every image
 * built from it is gone, so either may be destroyed first.  Images read the
 * cutter's durable map, so sd_cutter_seek() returns -EBUSY while any image
 * of the cutter is alive.  Seeking backwards replays the log from entry 0.
 *
 * Faults.  An op is counted for the plan, then failed if the plan or its
 * libfiu point (simdisk/read, simdisk/write, simdisk/flush) says so; a failed
 * op is logged with failed = 1 and returns -EIO.  Ops after a power cut are
 * neither counted nor logged.  simdisk_clear_faults() clears the plan and
 * the power cut (scheduled or done); the log simply goes on.
 *
 * Media faults (simdisk.h) change bytes, never the result: bit rot edits
 * the caller's buffer after the read, a lost sector edits the arena copy
 * of the write before it is logged, so the log, SD1 and every cutter see
 * the damaged data and nothing else needs to know.
 *
 * Resize.  A resize of the simdisk is logged as an SD_MARKER entry with
 * marker SD_MARKER_RESIZE (-1) and value the new size in blocks.  It takes
 * effect at once and durably (like growing a logical volume): crash states
 * at later cuts have the new size; a shrink discards the durable content and
 * the pending writes of the blocks cut off, so growing again shows zeroes.
 *
 * Block sizes: a multiple of 512 bytes, at most 64 sectors (sector masks are
 * uint64_t).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "bdev.h"
#include "simdisk.h"

#ifndef SD_MARKER_RESIZE
#define SD_MARKER_RESIZE (-1)	/* marker of a logged resize; value = blocks */
#endif

#define SD_MAX_SECTORS	64u
#define LOG_CHUNK_SHIFT	10
#define LOG_CHUNK	(1u << LOG_CHUNK_SHIFT)	/* ops per log chunk */
#define ARENA_CHUNK	64u			/* blocks per arena chunk */

#define sd_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- block map: block -> data, open addressing with linear probing ------ */

struct bmap_slot {
	pd_block_t block;
	uint8_t *data;			/* NULL: empty slot */
};

struct bmap {
	struct bmap_slot *slots;
	size_t cap;			/* 0 or a power of two */
	size_t nr;			/* used slots, at most cap / 2 */
};

/* Fibonacci hashing: the top bits of b * 2^64/phi, so that strided block
 * numbers (every 2^k-th block) spread as well as consecutive ones. */
static size_t bmap_hash(pd_block_t b, size_t cap)
{
	unsigned bits = (unsigned)__builtin_ctzll(cap);	/* cap: 2^bits >= 16 */

	return (size_t)((b * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

static void bmap_insert_slot(struct bmap_slot *slots, size_t cap,
			     pd_block_t b, uint8_t *data)
{
	size_t i = bmap_hash(b, cap);

	while (slots[i].data && slots[i].block != b)
		i = (i + 1) & (cap - 1);
	slots[i].block = b;
	slots[i].data = data;
}

/* Make room for want entries, so that the next puts up to want cannot fail. */
static int bmap_reserve(struct bmap *m, size_t want)
{
	struct bmap_slot *slots;
	size_t cap = m->cap ? m->cap : 16;

	if (want * 2 <= m->cap)
		return 0;
	while (cap < want * 2)
		cap *= 2;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].data)
			bmap_insert_slot(slots, cap, m->slots[i].block,
					 m->slots[i].data);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

static uint8_t *bmap_get(const struct bmap *m, pd_block_t b)
{
	size_t i;

	if (!m->nr)
		return NULL;
	for (i = bmap_hash(b, m->cap); m->slots[i].data;
	     i = (i + 1) & (m->cap - 1))
		if (m->slots[i].block == b)
			return m->slots[i].data;
	return NULL;
}

static int bmap_put(struct bmap *m, pd_block_t b, uint8_t *data)
{
	size_t i;
	int r = bmap_reserve(m, m->nr + 1);

	if (r)
		return r;
	for (i = bmap_hash(b, m->cap); m->slots[i].data;
	     i = (i + 1) & (m->cap - 1))
		if (m->slots[i].block == b) {
			m->slots[i].data = data;
			return 0;
		}
	m->slots[i].block = b;
	m->slots[i].data = data;
	m->nr++;
	return 0;
}

static void bmap_clear(struct bmap *m)
{
	if (m->nr)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->nr = 0;
}

static void bmap_free(struct bmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* Drop every entry of block >= limit. */
static int bmap_drop_from(struct bmap *m, pd_block_t limit)
{
	struct bmap_slot *slots;
	size_t nr = 0;

	if (!m->nr)
		return 0;
	slots = calloc(m->cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].data && m->slots[i].block < limit) {
			bmap_insert_slot(slots, m->cap, m->slots[i].block,
					 m->slots[i].data);
			nr++;
		}
	free(m->slots);
	m->slots = slots;
	m->nr = nr;
	return 0;
}

/* ---- arena of block buffers, freed all at once -------------------------- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;			/* blocks handed out */
	uint8_t mem[];
};

struct arena {
	struct arena_chunk *head;
	uint32_t block_size;
	size_t bytes;			/* allocated, for accounting */
};

static void arena_init(struct arena *a, uint32_t block_size)
{
	a->head = NULL;
	a->block_size = block_size;
	a->bytes = 0;
}

static uint8_t *arena_alloc(struct arena *a)
{
	struct arena_chunk *ch = a->head;

	if (!ch || ch->used == ARENA_CHUNK) {
		size_t sz = sizeof(*ch) + (size_t)ARENA_CHUNK * a->block_size;

		ch = malloc(sz);
		if (!ch)
			return NULL;
		ch->next = a->head;
		ch->used = 0;
		a->head = ch;
		a->bytes += sz;
	}
	return ch->mem + ch->used++ * (size_t)a->block_size;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
	a->bytes = 0;
}

/* ---- the simdisk -------------------------------------------------------- */

enum fault_kind { FK_READ, FK_WRITE, FK_FLUSH, FK_NR };

struct fault_plan {
	uint64_t nth;			/* 0: none; else the 1-based op to fail */
	int sticky;			/* fail it and every later op */
};

struct simdisk {
	struct bdev bd;
	unsigned refs;			/* owner + every cutter (and its images) */
	pd_block_t nr_blocks0;		/* size at creation */
	struct bmap cur;		/* SD1: newest successful write per block */
	struct bmap base;		/* non-zero blocks of the loaded file */
	pd_block_t base_limit;		/* base visible below this (shrinks) */
	struct arena arena;		/* every write's data, the base's blocks */
	struct sd_op **log;		/* SD4: chunks of LOG_CHUNK entries */
	size_t log_chunks;		/* chunk pointers allocated */
	uint64_t nr_ops;
	uint64_t epoch;			/* good flushes so far */
	int log_reads;
	struct fault_plan plan[FK_NR];
	uint64_t count[FK_NR];		/* ops issued (power on) per kind */
	int plan_fired;			/* see simdisk_plan_fired() */
	uint64_t plan_seq;
	int cut_armed;
	uint64_t cut_after;		/* power goes when this entry is logged */
	int power_cut;
	int side_reads;			/* see simdisk_side_reads() */
	simdisk_op_hook_fn op_hook;	/* see simdisk_set_op_hook() */
	void *op_hook_ctx;
	enum sd_media_kind media;	/* the planned media fault, or NONE */
	uint64_t media_nth, media_seed;
	struct sd_media_hit hit;	/* what it did */
};

static const struct bdev_ops simdisk_ops;

static struct sd_op *log_entry(const struct simdisk *sd, uint64_t seq)
{
	return &sd->log[seq >> LOG_CHUNK_SHIFT][seq & (LOG_CHUNK - 1)];
}

/* Make sure one more entry can be appended without allocating. */
static int log_reserve(struct simdisk *sd)
{
	size_t chunk = (size_t)(sd->nr_ops >> LOG_CHUNK_SHIFT);

	if (sd->nr_ops & (LOG_CHUNK - 1))
		return 0;
	if (chunk >= sd->log_chunks) {
		size_t n = sd->log_chunks ? sd->log_chunks * 2 : 16;
		struct sd_op **log = realloc(sd->log, n * sizeof(*log));

		if (!log)
			return -ENOMEM;
		memset(log + sd->log_chunks, 0,
		       (n - sd->log_chunks) * sizeof(*log));
		sd->log = log;
		sd->log_chunks = n;
	}
	if (!sd->log[chunk]) {
		sd->log[chunk] = calloc(LOG_CHUNK, sizeof(struct sd_op));
		if (!sd->log[chunk])
			return -ENOMEM;
	}
	return 0;
}

/* Append after log_reserve(); cuts the power when the planned entry lands. */
static struct sd_op *log_append(struct simdisk *sd, enum sd_op_kind kind,
				pd_block_t block, const uint8_t *data,
				int failed)
{
	struct sd_op *op = log_entry(sd, sd->nr_ops);

	op->seq = sd->nr_ops++;
	op->kind = kind;
	op->block = block;
	op->data = data;
	op->epoch = sd->epoch;
	op->failed = failed;
	op->marker = 0;
	op->value = 0;
	if (sd->cut_armed && op->seq >= sd->cut_after)
		sd->power_cut = 1;
	return op;
}

/* Counts the op and says whether the fault plan fails it.  The op hook
 * runs first, and may plan a fault for this very op. */
static int plan_fires(struct simdisk *sd, enum fault_kind k)
{
	static const enum sd_op_kind kinds[FK_NR] = {
		[FK_READ] = SD_READ, [FK_WRITE] = SD_WRITE, [FK_FLUSH] = SD_FLUSH,
	};
	const struct fault_plan *p = &sd->plan[k];
	uint64_t n;

	if (sd->op_hook)
		sd->op_hook(sd->op_hook_ctx, sd, kinds[k], sd->count[k] + 1);
	n = ++sd->count[k];

	if (!p->nth || !(n == p->nth || (p->sticky && n > p->nth)))
		return 0;
	if (!sd->plan_fired) {
		sd->plan_fired = 1;
		sd->plan_seq = sd->nr_ops;
	}
	return 1;
}

static void sd_get(struct simdisk *sd)
{
	sd->refs++;
}

static void sd_put(struct simdisk *sd)
{
	if (--sd->refs)
		return;
	for (size_t i = 0; i < sd->log_chunks; i++)
		free(sd->log[i]);
	free(sd->log);
	bmap_free(&sd->cur);
	bmap_free(&sd->base);
	arena_free(&sd->arena);
	free(sd);
}

/* The newest content (D1, SD1), without logging or faults. */
static void sd_read_current(const struct simdisk *sd, pd_block_t b, void *buf)
{
	const uint8_t *d = bmap_get(&sd->cur, b);

	if (!d && b < sd->base_limit)
		d = bmap_get(&sd->base, b);
	if (d)
		memcpy(buf, d, sd->bd.block_size);
	else
		memset(buf, 0, sd->bd.block_size);
}

uint64_t sd_media_hash(uint64_t seed, enum sd_media_kind kind, uint64_t nth)
{
	uint64_t z = seed ^ ((uint64_t)kind << 56) ^ (nth * 0xbf58476d1ce4e5b9ull);

	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Is the planned media fault of this kind due at the op just counted? */
static int media_due(const struct simdisk *sd, enum sd_media_kind kind,
		     enum fault_kind k)
{
	return sd->media == kind && !sd->hit.fired &&
	       sd->count[k] == sd->media_nth;
}

/* Bit rot on buf, block b (the media unchanged). */
static void media_bitrot(struct simdisk *sd, pd_block_t b, uint8_t *buf)
{
	size_t extent = sd->bd.block_size;
	uint64_t bit;

	while (extent && !buf[extent - 1])
		extent--;
	if (!extent)
		extent = sd->bd.block_size;
	bit = sd_media_hash(sd->media_seed, SD_MEDIA_BITROT, sd->media_nth) %
	      (8 * (uint64_t)extent);
	buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	sd->hit = (struct sd_media_hit) { 1, SD_MEDIA_BITROT, b, sd->nr_ops,
					  (long)bit };
	if (sd->log_reads)
		sd->hit.seq = sd->nr_ops - 1;
}

/* A lost sector in the data of write seq (shared with the log and cur). */
static void media_lose_sector(struct simdisk *sd, pd_block_t b, uint64_t seq,
			      uint8_t *data)
{
	unsigned nr = sd->bd.block_size / 512, nonzero = 0, k;
	long where = -1;

	for (unsigned s = 0; s < nr; s++)
		for (unsigned i = 0; i < 512; i++)
			if (data[s * 512 + i]) {
				nonzero++;
				break;
			}
	if (nonzero) {
		k = (unsigned)(sd_media_hash(sd->media_seed, SD_MEDIA_LOST_SECTOR,
					     sd->media_nth) % nonzero);
		for (unsigned s = 0; s < nr && where < 0; s++) {
			int nz = 0;

			for (unsigned i = 0; i < 512 && !nz; i++)
				nz = data[s * 512 + i] != 0;
			if (nz && !k--)
				where = s;
		}
		memset(data + (size_t)where * 512, 0, 512);
	}
	sd->hit = (struct sd_media_hit) { 1, SD_MEDIA_LOST_SECTOR, b, seq, where };
}

static int sd_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct simdisk *sd = sd_container_of(bd, struct simdisk, bd);
	int failed, r;

	if (sd->power_cut)
		return -EIO;
	if (b >= bd->nr_blocks)
		return -EINVAL;
	if (sd->side_reads) {
		sd_read_current(sd, b, buf);	/* not an op of the owner */
		return 0;
	}
	if (sd->log_reads) {
		r = log_reserve(sd);
		if (r)
			return r;
	}
	failed = plan_fires(sd, FK_READ) || fiu_fail(FP_SIMDISK_READ);
	if (sd->log_reads)
		log_append(sd, SD_READ, b, NULL, failed);
	if (failed)
		return -EIO;
	sd_read_current(sd, b, buf);
	if (media_due(sd, SD_MEDIA_BITROT, FK_READ))
		media_bitrot(sd, b, buf);
	return 0;
}

static int sd_write(struct bdev *bd, pd_block_t b, const void *buf,
		    unsigned flags)
{
	struct simdisk *sd = sd_container_of(bd, struct simdisk, bd);
	uint8_t *data;
	int failed, r;

	if (sd->power_cut)
		return -EIO;
	if (b >= bd->nr_blocks || (flags & ~(unsigned)BDEV_FUA))
		return -EINVAL;
	/* Every allocation first: after them nothing can fail halfway. */
	r = log_reserve(sd);
	if (r)
		return r;
	r = bmap_reserve(&sd->cur, sd->cur.nr + 1);
	if (r)
		return r;
	data = arena_alloc(&sd->arena);
	if (!data)
		return -ENOMEM;
	memcpy(data, buf, bd->block_size);
	failed = plan_fires(sd, FK_WRITE) || fiu_fail(FP_SIMDISK_WRITE);
	if (!failed && media_due(sd, SD_MEDIA_LOST_SECTOR, FK_WRITE))
		media_lose_sector(sd, b, sd->nr_ops, data);
	log_append(sd, (flags & BDEV_FUA) ? SD_WRITE_FUA : SD_WRITE, b, data,
		   failed);
	if (failed)
		return -EIO;	/* D4: stores nothing */
	bmap_put(&sd->cur, b, data);
	return 0;
}

static int sd_flush(struct bdev *bd)
{
	struct simdisk *sd = sd_container_of(bd, struct simdisk, bd);
	int failed, r;

	if (sd->power_cut)
		return -EIO;
	r = log_reserve(sd);
	if (r)
		return r;
	failed = plan_fires(sd, FK_FLUSH) || fiu_fail(FP_SIMDISK_FLUSH);
	log_append(sd, SD_FLUSH, 0, NULL, failed);
	if (failed)
		return -EIO;
	sd->epoch++;
	return 0;
}

static int sd_resize(struct bdev *bd, pd_block_t nr_blocks)
{
	struct simdisk *sd = sd_container_of(bd, struct simdisk, bd);
	struct sd_op *op;
	int r;

	if (sd->power_cut)
		return -EIO;
	r = log_reserve(sd);
	if (r)
		return r;
	if (nr_blocks < bd->nr_blocks) {
		r = bmap_drop_from(&sd->cur, nr_blocks);
		if (r)
			return r;
		if (nr_blocks < sd->base_limit)
			sd->base_limit = nr_blocks;
	}
	bd->nr_blocks = nr_blocks;
	op = log_append(sd, SD_MARKER, 0, NULL, 0);
	op->marker = SD_MARKER_RESIZE;
	op->value = nr_blocks;
	return 0;
}

static void sd_bdev_destroy(struct bdev *bd)
{
	simdisk_destroy(sd_container_of(bd, struct simdisk, bd));
}

static const struct bdev_ops simdisk_ops = {
	.read = sd_read,
	.write = sd_write,
	.flush = sd_flush,
	.resize = sd_resize,
	.destroy = sd_bdev_destroy,
};

static int block_size_ok(uint32_t block_size)
{
	return block_size && block_size % PD_SECTOR_SIZE == 0 &&
	       block_size / PD_SECTOR_SIZE <= SD_MAX_SECTORS;
}

int simdisk_create(uint32_t block_size, pd_block_t nr_blocks,
		   struct simdisk **result)
{
	struct simdisk *sd;

	if (!block_size_ok(block_size) || !result)
		return -EINVAL;
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->bd.ops = &simdisk_ops;
	sd->bd.block_size = block_size;
	sd->bd.nr_blocks = nr_blocks;
	sd->bd.caps = 0;		/* writes may tear (B3) */
	sd->refs = 1;
	sd->nr_blocks0 = nr_blocks;
	sd->base_limit = nr_blocks;
	sd->log_reads = 1;
	arena_init(&sd->arena, block_size);
	*result = sd;
	return 0;
}

/* 0, or -EIO on a read error or a file that shrank under us. */
static int read_full(int fd, void *buf, size_t len, off_t off, size_t *got)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -EIO;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static int all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && !memcmp(p, p + 1, len - 1));
}

int simdisk_create_from_file(const char *path, uint32_t block_size,
			     pd_block_t nr_blocks, struct simdisk **result)
{
	struct simdisk *sd;
	struct stat st;
	pd_block_t file_blocks;
	uint8_t *buf;
	int fd, r;

	if (!path || !block_size_ok(block_size) || !result)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		r = -errno;
		goto out_close;
	}
	file_blocks = ((pd_block_t)st.st_size + block_size - 1) / block_size;
	r = simdisk_create(block_size, file_blocks > nr_blocks ? file_blocks :
			   nr_blocks, &sd);
	if (r)
		goto out_close;
	buf = NULL;
	for (pd_block_t b = 0; b < file_blocks; b++) {
		size_t got;

		if (!buf) {
			buf = arena_alloc(&sd->arena);
			if (!buf) {
				r = -ENOMEM;
				goto out_destroy;
			}
		}
		r = read_full(fd, buf, block_size, (off_t)(b * block_size),
			      &got);
		if (r)
			goto out_destroy;
		memset(buf + got, 0, block_size - got);
		if (all_zero(buf, block_size))
			continue;	/* sparse: reuse buf for the next */
		r = bmap_put(&sd->base, b, buf);
		if (r)
			goto out_destroy;
		buf = NULL;
	}
	close(fd);
	*result = sd;
	return 0;

out_destroy:
	simdisk_destroy(sd);
out_close:
	close(fd);
	return r;
}

void simdisk_destroy(struct simdisk *sd)
{
	if (sd)
		sd_put(sd);
}

struct bdev *simdisk_bdev(struct simdisk *sd)
{
	return &sd->bd;
}

struct simdisk *simdisk_from_bdev(struct bdev *bd)
{
	if (!bd || bd->ops != &simdisk_ops)
		return NULL;
	return sd_container_of(bd, struct simdisk, bd);
}

int simdisk_mark(struct simdisk *sd, int marker, uint64_t value)
{
	struct sd_op *op;
	int r;

	if (sd->power_cut)
		return 0;	/* nothing is logged after the cut, by design */
	r = log_reserve(sd);
	if (r)
		return r;
	op = log_append(sd, SD_MARKER, 0, NULL, 0);
	op->marker = marker;
	op->value = value;
	return 0;
}

uint64_t simdisk_nr_ops(const struct simdisk *sd)
{
	return sd->nr_ops;
}

const struct sd_op *simdisk_op(const struct simdisk *sd, uint64_t seq)
{
	if (seq >= sd->nr_ops)
		return NULL;
	return log_entry(sd, seq);
}

void simdisk_log_reads(struct simdisk *sd, int on)
{
	sd->log_reads = !!on;
}

const char *sd_op_kind_name(enum sd_op_kind kind)
{
	switch (kind) {
	case SD_READ:		return "read";
	case SD_WRITE:		return "write";
	case SD_WRITE_FUA:	return "write-fua";
	case SD_FLUSH:		return "flush";
	case SD_MARKER:		return "marker";
	}
	return "?";
}

static int fault_kind(enum sd_op_kind kind, enum fault_kind *fk)
{
	switch (kind) {
	case SD_READ:	*fk = FK_READ; return 0;
	case SD_WRITE:	*fk = FK_WRITE; return 0;
	case SD_FLUSH:	*fk = FK_FLUSH; return 0;
	default:	return -EINVAL;
	}
}

void simdisk_side_reads(struct simdisk *sd, int on)
{
	sd->side_reads = !!on;
}

void simdisk_set_op_hook(struct simdisk *sd, simdisk_op_hook_fn fn, void *ctx)
{
	sd->op_hook = fn;
	sd->op_hook_ctx = ctx;
}

int simdisk_fail_nth(struct simdisk *sd, enum sd_op_kind kind, uint64_t nth,
		     int sticky)
{
	enum fault_kind fk;

	if (!nth || fault_kind(kind, &fk))
		return -EINVAL;
	sd->plan[fk].nth = nth;
	sd->plan[fk].sticky = !!sticky;
	return 0;
}

int simdisk_media_fault(struct simdisk *sd, enum sd_media_kind kind,
			uint64_t nth, uint64_t seed)
{
	if (kind != SD_MEDIA_BITROT && kind != SD_MEDIA_LOST_SECTOR)
		return -EINVAL;
	if (!nth)
		return -EINVAL;
	sd->media = kind;
	sd->media_nth = nth;
	sd->media_seed = seed;
	memset(&sd->hit, 0, sizeof(sd->hit));
	return 0;
}

const struct sd_media_hit *simdisk_media_hit(const struct simdisk *sd)
{
	return &sd->hit;
}

void simdisk_cut_after(struct simdisk *sd, uint64_t seq)
{
	sd->cut_armed = 1;
	sd->cut_after = seq;
	if (sd->nr_ops > seq)
		sd->power_cut = 1;
}

int simdisk_power_is_cut(const struct simdisk *sd)
{
	return sd->power_cut;
}

uint64_t simdisk_count(const struct simdisk *sd, enum sd_op_kind kind)
{
	enum fault_kind fk;

	if (kind == SD_WRITE_FUA)
		kind = SD_WRITE;
	if (fault_kind(kind, &fk))
		return 0;
	return sd->count[fk];
}

/* Clears the plan and the power cut (scheduled or done); the log goes on. */
int simdisk_plan_fired(const struct simdisk *sd, uint64_t *seq)
{
	if (sd->plan_fired && seq)
		*seq = sd->plan_seq;
	return sd->plan_fired;
}

void simdisk_clear_faults(struct simdisk *sd)
{
	memset(sd->plan, 0, sizeof(sd->plan));
	sd->media = SD_MEDIA_NONE;	/* what fired stays in sd->hit */
	sd->cut_armed = 0;
	sd->power_cut = 0;
}

int simdisk_export(struct simdisk *sd, const char *path)
{
	return bdev_export(&sd->bd, path);
}

/* ---- cutter ------------------------------------------------------------- */

struct sd_cutter {
	struct simdisk *sd;		/* holds a reference */
	unsigned refs;			/* owner + live images */
	unsigned nr_images;
	uint64_t cut;
	pd_block_t nr_blocks;		/* disk size at the cut */
	pd_block_t base_limit;		/* base visible below this at the cut */
	struct bmap durable;		/* SD2 */
	struct sd_pending *pend;	/* SD2, log order */
	size_t nr_pend, cap_pend;
	size_t nr_doubtful;		/* pend[0, nr_doubtful): doubtful (D4) */
	struct bmap scratch;		/* blocks a good flush made durable */
};

static void cutter_reset(struct sd_cutter *c)
{
	c->cut = 0;
	c->nr_blocks = c->sd->nr_blocks0;
	c->base_limit = c->sd->nr_blocks0;
	bmap_clear(&c->durable);
	c->nr_pend = 0;
	c->nr_doubtful = 0;
}

int sd_cutter_create(struct simdisk *sd, struct sd_cutter **result)
{
	struct sd_cutter *c;

	if (!sd || !result)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sd = sd;
	c->refs = 1;
	sd_get(sd);
	cutter_reset(c);
	*result = c;
	return 0;
}

static void cutter_put(struct sd_cutter *c)
{
	if (--c->refs)
		return;
	bmap_free(&c->durable);
	bmap_free(&c->scratch);
	free(c->pend);
	sd_put(c->sd);
	free(c);
}

void sd_cutter_destroy(struct sd_cutter *c)
{
	if (c)
		cutter_put(c);
}

/* Remove pending writes for which keep() is false, fixing nr_doubtful. */
static void pend_filter(struct sd_cutter *c,
			int (*keep)(const struct sd_cutter *c,
				    const struct sd_pending *p, uint64_t arg),
			uint64_t arg)
{
	size_t j = 0, doubtful = 0;

	for (size_t i = 0; i < c->nr_pend; i++) {
		if (!keep(c, &c->pend[i], arg))
			continue;
		if (i < c->nr_doubtful)
			doubtful++;
		c->pend[j++] = c->pend[i];
	}
	c->nr_pend = j;
	c->nr_doubtful = doubtful;
}

static int keep_other_block(const struct sd_cutter *c,
			    const struct sd_pending *p, uint64_t block)
{
	(void)c;
	return p->block != block;
}

static int keep_below(const struct sd_cutter *c, const struct sd_pending *p,
		      uint64_t limit)
{
	(void)c;
	return p->block < limit;
}

/* Used only on the doubtful prefix: fresh writes never match (SD2). */
static int keep_not_flushed(const struct sd_cutter *c,
			    const struct sd_pending *p, uint64_t nr_doubtful)
{
	if ((uint64_t)(p - c->pend) >= nr_doubtful)
		return 1;
	return !bmap_get(&c->scratch, p->block);
}

static int cutter_flush_good(struct sd_cutter *c)
{
	size_t fresh = c->nr_pend - c->nr_doubtful;
	int r;

	r = bmap_reserve(&c->durable, c->durable.nr + fresh);
	if (r)
		return r;
	if (c->nr_doubtful) {
		bmap_clear(&c->scratch);
		r = bmap_reserve(&c->scratch, fresh);
		if (r)
			return r;
	}
	for (size_t i = c->nr_doubtful; i < c->nr_pend; i++) {
		const struct sd_op *op = log_entry(c->sd, c->pend[i].seq);

		/* Log order: the latest write of a block wins (D2). */
		bmap_put(&c->durable, op->block, (uint8_t *)op->data);
		if (c->nr_doubtful)
			bmap_put(&c->scratch, op->block, (uint8_t *)op->data);
	}
	/* A doubtful write is replaced by a durable write of its block (D4). */
	c->nr_pend = c->nr_doubtful;
	if (c->nr_doubtful)
		pend_filter(c, keep_not_flushed, c->nr_doubtful);
	return 0;
}

static int cutter_apply(struct sd_cutter *c, const struct sd_op *op)
{
	int r;

	switch (op->kind) {
	case SD_READ:
		return 0;
	case SD_WRITE:
		if (op->failed)
			return 0;
		if (c->nr_pend == c->cap_pend) {
			size_t n = c->cap_pend ? c->cap_pend * 2 : 64;
			struct sd_pending *p = realloc(c->pend, n * sizeof(*p));

			if (!p)
				return -ENOMEM;
			c->pend = p;
			c->cap_pend = n;
		}
		c->pend[c->nr_pend].seq = op->seq;
		c->pend[c->nr_pend].block = op->block;
		c->nr_pend++;
		return 0;
	case SD_WRITE_FUA:
		if (op->failed)
			return 0;
		r = bmap_put(&c->durable, op->block, (uint8_t *)op->data);
		if (r)
			return r;
		/* D2: a FUA write supersedes earlier pending writes. */
		pend_filter(c, keep_other_block, op->block);
		return 0;
	case SD_FLUSH:
		if (op->failed) {
			c->nr_doubtful = c->nr_pend;	/* D4 */
			return 0;
		}
		return cutter_flush_good(c);
	case SD_MARKER:
		if (op->marker != SD_MARKER_RESIZE)
			return 0;
		if (op->value < c->nr_blocks) {
			r = bmap_drop_from(&c->durable, op->value);
			if (r)
				return r;
			pend_filter(c, keep_below, op->value);
			if (op->value < c->base_limit)
				c->base_limit = op->value;
		}
		c->nr_blocks = op->value;
		return 0;
	}
	return 0;
}

int sd_cutter_seek(struct sd_cutter *c, uint64_t cut)
{
	int r;

	if (cut > c->sd->nr_ops)
		return -EINVAL;
	if (c->nr_images)
		return -EBUSY;
	if (cut < c->cut)
		cutter_reset(c);
	while (c->cut < cut) {
		r = cutter_apply(c, log_entry(c->sd, c->cut));
		if (r) {
			/* Half-applied: start over next time. */
			cutter_reset(c);
			return r;
		}
		c->cut++;
	}
	return 0;
}

uint64_t sd_cutter_cut(const struct sd_cutter *c)
{
	return c->cut;
}

size_t sd_cutter_nr_pending(const struct sd_cutter *c)
{
	return c->nr_pend;
}

const struct sd_pending *sd_cutter_pending(const struct sd_cutter *c)
{
	return c->pend;
}

/* ---- crash images ------------------------------------------------------- */

struct sd_image {
	struct bdev bd;
	struct sd_cutter *c;		/* holds a reference */
	struct bmap chosen;		/* landed pending writes, resolved */
	struct bmap overlay;		/* the image's own writes (SD3) */
	pd_block_t lower_limit;		/* below it the layers under overlay
					 * show; lowered by shrinks */
	struct arena arena;		/* torn compositions, overlay blocks */
	/* A lazy image (sd_cutter_lazy_image) decides pending blocks when
	 * first read: chosen fills then, seen marks every block read. */
	const struct sd_choices *lazy;
	sd_read_fn on_read;
	void *ctx;
	struct bmap seen;
};

static const struct bdev_ops image_ops;
static int lazy_first_read(struct sd_image *im, pd_block_t b);

/* Content under the overlay: chosen, durable, base, zeroes. */
static int image_read_lower(struct sd_image *im, pd_block_t b, uint8_t *buf)
{
	const struct sd_cutter *c = im->c;
	const uint8_t *d = NULL;

	if (b < im->lower_limit) {
		if (im->lazy && !bmap_get(&im->seen, b)) {
			int r = lazy_first_read(im, b);

			if (r)
				return r;
		}
		d = bmap_get(&im->chosen, b);
		if (!d)
			d = bmap_get(&c->durable, b);
		if (!d && b < c->base_limit)
			d = bmap_get(&c->sd->base, b);
	}
	if (d)
		memcpy(buf, d, im->bd.block_size);
	else
		memset(buf, 0, im->bd.block_size);
	return 0;
}

static int image_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct sd_image *im = sd_container_of(bd, struct sd_image, bd);
	const uint8_t *d;

	if (b >= bd->nr_blocks)
		return -EINVAL;
	d = bmap_get(&im->overlay, b);
	if (d)
		memcpy(buf, d, bd->block_size);
	else
		return image_read_lower(im, b, buf);
	return 0;
}

static int image_write(struct bdev *bd, pd_block_t b, const void *buf,
		       unsigned flags)
{
	struct sd_image *im = sd_container_of(bd, struct sd_image, bd);
	uint8_t *d;
	int r;

	if (b >= bd->nr_blocks || (flags & ~(unsigned)BDEV_FUA))
		return -EINVAL;
	d = bmap_get(&im->overlay, b);
	if (!d) {
		r = bmap_reserve(&im->overlay, im->overlay.nr + 1);
		if (r)
			return r;
		d = arena_alloc(&im->arena);
		if (!d)
			return -ENOMEM;
		bmap_put(&im->overlay, b, d);
	}
	memcpy(d, buf, bd->block_size);
	return 0;
}

static int image_flush(struct bdev *bd)
{
	(void)bd;
	return 0;
}

static int image_resize(struct bdev *bd, pd_block_t nr_blocks)
{
	struct sd_image *im = sd_container_of(bd, struct sd_image, bd);
	int r;

	if (nr_blocks < bd->nr_blocks) {
		r = bmap_drop_from(&im->overlay, nr_blocks);
		if (r)
			return r;
		if (nr_blocks < im->lower_limit)
			im->lower_limit = nr_blocks;
	}
	bd->nr_blocks = nr_blocks;
	return 0;
}

static void image_destroy(struct bdev *bd)
{
	struct sd_image *im = sd_container_of(bd, struct sd_image, bd);

	bmap_free(&im->chosen);
	bmap_free(&im->overlay);
	bmap_free(&im->seen);
	arena_free(&im->arena);
	im->c->nr_images--;
	cutter_put(im->c);
	free(im);
}

static const struct bdev_ops image_ops = {
	.read = image_read,
	.write = image_write,
	.flush = image_flush,
	.resize = image_resize,
	.destroy = image_destroy,
};

int sd_cutter_image(struct sd_cutter *c, const struct sd_choice *choice,
		    struct bdev **result)
{
	uint32_t bs = c->sd->bd.block_size;
	unsigned nsect = bs / PD_SECTOR_SIZE;
	uint64_t full = nsect == 64 ? ~0ull : (1ull << nsect) - 1;
	struct sd_image *im;
	size_t nr_landed = 0;
	int r;

	if (!choice || !result || choice->nr != c->nr_pend ||
	    (choice->nr && !choice->landed))
		return -EINVAL;
	im = calloc(1, sizeof(*im));
	if (!im)
		return -ENOMEM;
	im->bd.ops = &image_ops;
	im->bd.block_size = bs;
	im->bd.nr_blocks = c->nr_blocks;
	im->bd.caps = BDEV_ATOMIC_BLOCK;
	im->c = c;
	im->lower_limit = c->nr_blocks;
	arena_init(&im->arena, bs);
	for (size_t i = 0; i < choice->nr; i++)
		nr_landed += !!choice->landed[i];
	r = bmap_reserve(&im->chosen, nr_landed);
	if (r)
		goto out_free;
	/* D3: in log order, so of one block's landed writes the latest wins;
	 * a torn write lands on whatever the block held before it. */
	for (size_t i = 0; i < choice->nr; i++) {
		const struct sd_op *op;
		uint64_t mask;
		uint8_t *buf;

		if (!choice->landed[i])
			continue;
		op = log_entry(c->sd, c->pend[i].seq);
		mask = choice->sectors ? choice->sectors[i] & full : full;
		if (!mask)
			continue;
		if (mask == full) {
			bmap_put(&im->chosen, op->block, (uint8_t *)op->data);
			continue;
		}
		buf = arena_alloc(&im->arena);
		if (!buf) {
			r = -ENOMEM;
			goto out_free;
		}
		(void)image_read_lower(im, op->block, buf);	/* not lazy */
		for (unsigned s = 0; s < nsect; s++)
			if (mask & (1ull << s))
				memcpy(buf + (size_t)s * PD_SECTOR_SIZE,
				       op->data + (size_t)s * PD_SECTOR_SIZE,
				       PD_SECTOR_SIZE);
		bmap_put(&im->chosen, op->block, buf);
	}
	c->refs++;
	c->nr_images++;
	*result = &im->bd;
	return 0;

out_free:
	bmap_free(&im->chosen);
	arena_free(&im->arena);
	free(im);
	return r;
}

/* ---- lazy crash images -------------------------------------------------- */

/*
 * The choice table of a cut.  For each block with pending writes: its
 * versions (0 the durable content, v >= 1 the v-th pending write of the
 * block in log order), and the distinct contents they allow.  Without
 * tearing a content is one whole version; equal versions are one content
 * (the first of them represents it).  With tearing each sector is taken
 * from any version, independently: the options of sector s are its
 * distinct contents among the versions, and the contents of the block are
 * every combination, choice k read as a mixed-radix number, sector 0 the
 * lowest digit.  Choice 0 is always the durable content.
 */
struct sd_block_choice {
	pd_block_t block;
	unsigned nv;			/* versions */
	const uint8_t **ver;		/* nv; NULL reads as zeroes */
	uint64_t count;			/* distinct contents */
	unsigned *whole_rep;		/* nv: first version equal to it */
	unsigned *whole_opt;		/* distinct versions, in order */
	unsigned nwhole;
	unsigned *sec_rep;		/* tear: [v * nsect + s] */
	unsigned *sec_opt;		/* tear: [s * nv + j] */
	unsigned *sec_nopt;		/* tear: nsect */
};

struct sd_choices {
	int tear;
	unsigned nsect;
	uint32_t bs;
	size_t nr;
	struct sd_block_choice *b;	/* sorted by block */
	uint8_t *zero;			/* bs zero bytes */
};

static int same_bytes(const uint8_t *a, const uint8_t *b, size_t off,
		      size_t len, const uint8_t *zero)
{
	return !memcmp(a ? a + off : zero, b ? b + off : zero, len);
}

static int cmp_pend_block(const void *x, const void *y)
{
	const struct sd_pending *a = x, *b = y;

	if (a->block != b->block)
		return a->block < b->block ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const uint8_t *cutter_durable(const struct sd_cutter *c, pd_block_t b)
{
	const uint8_t *d = bmap_get(&c->durable, b);

	if (!d && b < c->base_limit)
		d = bmap_get(&c->sd->base, b);
	return d;
}

static int choice_fill(struct sd_choices *t, struct sd_block_choice *bc)
{
	unsigned nv = bc->nv, ns = t->nsect;

	bc->whole_rep = calloc(nv, sizeof(unsigned));
	bc->whole_opt = calloc(nv, sizeof(unsigned));
	if (!bc->whole_rep || !bc->whole_opt)
		return -ENOMEM;
	for (unsigned v = 0; v < nv; v++) {
		unsigned w;

		for (w = 0; w < v; w++)
			if (bc->whole_rep[w] == w &&
			    same_bytes(bc->ver[v], bc->ver[w], 0, t->bs, t->zero))
				break;
		bc->whole_rep[v] = w;
		if (w == v)
			bc->whole_opt[bc->nwhole++] = v;
	}
	bc->count = bc->nwhole;
	if (!t->tear)
		return 0;
	bc->sec_rep = calloc((size_t)nv * ns, sizeof(unsigned));
	bc->sec_opt = calloc((size_t)nv * ns, sizeof(unsigned));
	bc->sec_nopt = calloc(ns, sizeof(unsigned));
	if (!bc->sec_rep || !bc->sec_opt || !bc->sec_nopt)
		return -ENOMEM;
	bc->count = 1;
	for (unsigned s = 0; s < ns; s++) {
		size_t off = (size_t)s * PD_SECTOR_SIZE;

		for (unsigned v = 0; v < nv; v++) {
			unsigned w;

			for (w = 0; w < v; w++)
				if (bc->sec_rep[(size_t)w * ns + s] == w &&
				    same_bytes(bc->ver[v], bc->ver[w], off,
					       PD_SECTOR_SIZE, t->zero))
					break;
			bc->sec_rep[(size_t)v * ns + s] = w;
			if (w == v)
				bc->sec_opt[(size_t)s * nv + bc->sec_nopt[s]++] = v;
		}
		if (bc->count > UINT64_MAX / bc->sec_nopt[s])
			return -E2BIG;
		bc->count *= bc->sec_nopt[s];
	}
	return 0;
}

void sd_choices_free(struct sd_choices *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nr; i++) {
		struct sd_block_choice *bc = &t->b[i];

		free(bc->ver);
		free(bc->whole_rep);
		free(bc->whole_opt);
		free(bc->sec_rep);
		free(bc->sec_opt);
		free(bc->sec_nopt);
	}
	free(t->b);
	free(t->zero);
	free(t);
}

int sd_cutter_choices(struct sd_cutter *c, int tear, struct sd_choices **result)
{
	struct sd_choices *t = calloc(1, sizeof(*t));
	struct sd_pending *p = NULL;
	size_t n = c->nr_pend;
	int r = -ENOMEM;

	if (!t)
		return -ENOMEM;
	t->tear = !!tear;
	t->bs = c->sd->bd.block_size;
	t->nsect = t->bs / PD_SECTOR_SIZE;
	t->zero = calloc(1, t->bs);
	p = malloc((n + 1) * sizeof(*p));
	t->b = calloc(n + 1, sizeof(*t->b));
	if (!t->zero || !p || !t->b)
		goto out_free;
	if (n)
		memcpy(p, c->pend, n * sizeof(*p));
	qsort(p, n, sizeof(*p), cmp_pend_block);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		struct sd_block_choice *bc = &t->b[t->nr++];

		while (j < n && p[j].block == p[i].block)
			j++;
		bc->block = p[i].block;
		bc->nv = (unsigned)(j - i + 1);
		bc->ver = calloc(bc->nv, sizeof(*bc->ver));
		if (!bc->ver)
			goto out_free;
		bc->ver[0] = cutter_durable(c, bc->block);
		for (size_t k = i; k < j; k++)
			bc->ver[k - i + 1] = log_entry(c->sd, p[k].seq)->data;
		r = choice_fill(t, bc);
		if (r)
			goto out_free;
		r = -ENOMEM;
		i = j;
	}
	free(p);
	*result = t;
	return 0;

out_free:
	free(p);
	sd_choices_free(t);
	return r;
}

size_t sd_choices_nr(const struct sd_choices *t)
{
	return t->nr;
}

pd_block_t sd_choices_block(const struct sd_choices *t, size_t i)
{
	return t->b[i].block;
}

uint64_t sd_choices_count(const struct sd_choices *t, size_t i)
{
	return t->b[i].count;
}

unsigned sd_choices_nr_versions(const struct sd_choices *t, size_t i)
{
	return t->b[i].nv;
}

unsigned sd_choices_nr_sectors(const struct sd_choices *t)
{
	return t->nsect;
}

long sd_choices_find(const struct sd_choices *t, pd_block_t b)
{
	size_t lo = 0, hi = t->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->b[mid].block == b)
			return (long)mid;
		if (t->b[mid].block < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int sd_choices_describe(const struct sd_choices *t, size_t i, uint64_t k,
			unsigned *ver)
{
	const struct sd_block_choice *bc = &t->b[i];
	unsigned ns = t->nsect;

	if (!t->tear) {
		for (unsigned s = 0; s < ns; s++)
			ver[s] = bc->whole_opt[k];
		return (int)bc->whole_opt[k];
	}
	for (unsigned s = 0; s < ns; s++) {
		ver[s] = bc->sec_opt[(size_t)s * bc->nv + k % bc->sec_nopt[s]];
		k /= bc->sec_nopt[s];
	}
	for (unsigned w = 0; w < bc->nv; w++) {
		unsigned s;

		for (s = 0; s < ns; s++)
			if (bc->sec_rep[(size_t)w * ns + s] != ver[s])
				break;
		if (s == ns)
			return (int)w;
	}
	return -1;
}

int sd_choices_encode(const struct sd_choices *t, size_t i, const unsigned *ver,
		      uint64_t *k)
{
	const struct sd_block_choice *bc = &t->b[i];
	unsigned ns = t->nsect;
	uint64_t x = 0, radix = 1;

	for (unsigned s = 0; s < ns; s++)
		if (ver[s] >= bc->nv || (!t->tear && ver[s] != ver[0]))
			return -EINVAL;
	if (!t->tear) {
		for (unsigned j = 0; j < bc->nwhole; j++)
			if (bc->whole_opt[j] == bc->whole_rep[ver[0]]) {
				*k = j;
				return 0;
			}
		return -EINVAL;
	}
	for (unsigned s = 0; s < ns; s++) {
		unsigned rep = bc->sec_rep[(size_t)ver[s] * ns + s], j;

		for (j = 0; j < bc->sec_nopt[s]; j++)
			if (bc->sec_opt[(size_t)s * bc->nv + j] == rep)
				break;
		x += j * radix;
		radix *= bc->sec_nopt[s];
	}
	*k = x;
	return 0;
}

/* The first read of block b from below the overlay of a lazy image. */
static int lazy_first_read(struct sd_image *im, pd_block_t b)
{
	const struct sd_choices *t = im->lazy;
	long i = sd_choices_find(t, b);
	uint64_t k = 0;
	int r;

	r = bmap_reserve(&im->seen, im->seen.nr + 1);
	if (!r)
		r = bmap_reserve(&im->chosen, im->chosen.nr + 1);
	if (r)
		return r;
	r = im->on_read(im->ctx, b, i, i < 0 ? NULL : &k);
	if (r)
		return r;
	bmap_put(&im->seen, b, t->zero);
	if (i < 0)
		return 0;
	const struct sd_block_choice *bc = &t->b[i];
	unsigned ver[SD_MAX_SECTORS];
	int whole;
	uint8_t *buf;

	if (k >= bc->count)
		return -EINVAL;
	whole = sd_choices_describe(t, (size_t)i, k, ver);
	if (whole >= 0) {
		bmap_put(&im->chosen, b, (uint8_t *)(bc->ver[whole] ?
						     bc->ver[whole] : t->zero));
		return 0;
	}
	buf = arena_alloc(&im->arena);
	if (!buf)
		return -ENOMEM;
	for (unsigned s = 0; s < t->nsect; s++) {
		const uint8_t *src = bc->ver[ver[s]] ? bc->ver[ver[s]] : t->zero;

		memcpy(buf + (size_t)s * PD_SECTOR_SIZE,
		       src + (size_t)s * PD_SECTOR_SIZE, PD_SECTOR_SIZE);
	}
	bmap_put(&im->chosen, b, buf);
	return 0;
}

int sd_cutter_lazy_image(struct sd_cutter *c, const struct sd_choices *t,
			 sd_read_fn on_read, void *ctx, struct bdev **result)
{
	struct sd_image *im;

	if (!t || !on_read || !result || t->bs != c->sd->bd.block_size)
		return -EINVAL;
	im = calloc(1, sizeof(*im));
	if (!im)
		return -ENOMEM;
	im->bd.ops = &image_ops;
	im->bd.block_size = t->bs;
	im->bd.nr_blocks = c->nr_blocks;
	im->bd.caps = BDEV_ATOMIC_BLOCK;
	im->c = c;
	im->lower_limit = c->nr_blocks;
	im->lazy = t;
	im->on_read = on_read;
	im->ctx = ctx;
	arena_init(&im->arena, t->bs);
	c->refs++;
	c->nr_images++;
	*result = &im->bd;
	return 0;
}

/* ---- export ------------------------------------------------------------- */

static int write_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Blocks of zeroes are left as holes; a simdisk is read without logging,
 * counting or faults (its newest content, D1). */
int bdev_export(struct bdev *bd, const char *path)
{
	struct simdisk *sd = simdisk_from_bdev(bd);
	uint32_t bs;
	uint8_t *buf;
	int fd, r = 0;

	if (!bd || !path)
		return -EINVAL;
	bs = bd->block_size;
	if (bd->nr_blocks > (uint64_t)INT64_MAX / bs)
		return -EINVAL;
	buf = malloc(bs);
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out_free;
	}
	if (ftruncate(fd, (off_t)(bd->nr_blocks * bs))) {
		r = -EIO;
		goto out_close;
	}
	for (pd_block_t b = 0; b < bd->nr_blocks; b++) {
		if (sd) {
			sd_read_current(sd, b, buf);
		} else {
			r = bd->ops->read(bd, b, buf);
			if (r)
				goto out_close;
		}
		if (all_zero(buf, bs))
			continue;
		r = write_full(fd, buf, bs, (off_t)(b * bs));
		if (r)
			goto out_close;
	}
out_close:
	if (close(fd) && !r)
		r = -EIO;
out_free:
	free(buf);
	return r;
}
