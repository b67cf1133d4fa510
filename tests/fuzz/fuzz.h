/* tests/fuzz/fuzz.h - what the fuzz targets share (header only: each
 * target is one .c that includes it).
 *
 * Every target defines LLVMFuzzerTestOneInput(); `make fuzz` links it with
 * libFuzzer (clang), and the regression build links the same file with
 * tests/fuzz/driver.c (gcc, a plain main() that feeds it files), so every
 * kept input is replayed by `make check`.
 *
 * Images.  A memory bdev of 4096-byte blocks (no log, no faults: the
 * fastest thing core/ can read) holds the image under test.  Raw images
 * come in a sparse form, so a seed is a few KiB, not the 256 KiB to 1 MiB
 * of the device:
 *
 *   byte 0       nr_blocks = 64 + byte % 193     (64 .. 256 blocks)
 *   byte 1       flags (target-specific)
 *   then records, until the input ends:
 *     u8 block   (taken modulo nr_blocks)
 *     u8 kind    enum fz_kind in the low 7 bits; bit 7: also set the
 *                block's own location field (blocknr) to `block`
 *     u16 len    little endian, clipped to 4096 and to what is left
 *     len bytes  the start of the block; the rest stays zero
 *   A record with a kind other than FZ_RAW gets its checksum recomputed
 *   with that kind's salt after all records are laid down, so the fuzzer
 *   can reach the logic behind the checksums.
 *
 * Edits (the structure-aware targets).  A valid image is built at start-up
 * by core/ itself; the input is a base selector byte, a flags byte, then
 * 8-byte edit instructions (struct fz_edit below) applied to a copy.
 * Every edited block gets its checksum recomputed with the salt of the
 * kind it had in the valid image, so the damage gets past the validators
 * into btree, space-map and superblock logic.
 */
#ifndef PD_FUZZ_H
#define PD_FUZZ_H

/* Helpers a target does not use are not an error. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev.h"
#include "bm.h"
#include "util.h"

#define FZ_BS 4096u
#define FZ_MIN_BLOCKS 64u
#define FZ_MAX_BLOCKS 256u

/* --- the memory bdev ----------------------------------------------------- */

struct fz_bdev {
	struct bdev bd;
	uint8_t *data;			/* nr_blocks * FZ_BS, owned */
	int read_only;			/* writes fail with -EIO */
};

static int fz_read(struct bdev *bd, pd_block_t b, void *buf)
{
	struct fz_bdev *m = (struct fz_bdev *)bd;

	memcpy(buf, m->data + b * FZ_BS, FZ_BS);
	return 0;
}

static int fz_write(struct bdev *bd, pd_block_t b, const void *buf,
		    unsigned flags)
{
	struct fz_bdev *m = (struct fz_bdev *)bd;

	(void)flags;
	if (m->read_only)
		return -EIO;
	memcpy(m->data + b * FZ_BS, buf, FZ_BS);
	return 0;
}

static int fz_flush(struct bdev *bd)
{
	(void)bd;
	return 0;
}

static int fz_resize(struct bdev *bd, pd_block_t nr_blocks)
{
	struct fz_bdev *m = (struct fz_bdev *)bd;
	uint8_t *d;

	if (nr_blocks > 4 * FZ_MAX_BLOCKS)
		return -ENOSPC;
	d = realloc(m->data, nr_blocks * FZ_BS);
	if (!d)
		return -ENOMEM;
	if (nr_blocks > bd->nr_blocks)
		memset(d + bd->nr_blocks * FZ_BS, 0,
		       (nr_blocks - bd->nr_blocks) * FZ_BS);
	m->data = d;
	bd->nr_blocks = nr_blocks;
	return 0;
}

static void fz_destroy(struct bdev *bd)
{
	struct fz_bdev *m = (struct fz_bdev *)bd;

	free(m->data);
	free(m);
}

static const struct bdev_ops fz_bdev_ops = {
	.read = fz_read,
	.write = fz_write,
	.flush = fz_flush,
	.resize = fz_resize,
	.destroy = fz_destroy,
};

/* A zeroed device of nr_blocks; aborts on no memory (a harness fault). */
static struct fz_bdev *fz_bdev_new(pd_block_t nr_blocks)
{
	struct fz_bdev *m = calloc(1, sizeof(*m));

	if (!m || !(m->data = calloc(nr_blocks, FZ_BS)))
		abort();
	m->bd.ops = &fz_bdev_ops;
	m->bd.block_size = FZ_BS;
	m->bd.nr_blocks = nr_blocks;
	return m;
}

static struct fz_bdev *fz_bdev_copy(const struct fz_bdev *src)
{
	struct fz_bdev *m = fz_bdev_new(src->bd.nr_blocks);

	memcpy(m->data, src->data, src->bd.nr_blocks * FZ_BS);
	return m;
}

/* --- block kinds and their checksums ------------------------------------- */

enum fz_kind {
	FZ_RAW,			/* no checksum fix */
	FZ_THIN_SB,		/* salt 160774, blocknr at 8 */
	FZ_NODE,		/* btree node, salt 121107, blocknr at 8 */
	FZ_INDEX,		/* metadata sm index, salt 160478, blocknr at 8 */
	FZ_BITMAP,		/* sm bitmap, salt 240779, blocknr at 8 */
	FZ_ARRAY,		/* array block, salt 595846735, blocknr at 16 */
	FZ_CACHE_SB,		/* salt 9031977, blocknr at 8 */
	FZ_NR_KINDS
};

static const uint32_t fz_salt[FZ_NR_KINDS] = {
	0, 160774u, 121107u, 160478u, 240779u, 595846735u, 9031977u,
};

static unsigned fz_blocknr_off(unsigned kind)
{
	return kind == FZ_ARRAY ? 16 : 8;
}

static void fz_fix_csum(uint8_t *blk, unsigned kind)
{
	if (!kind || kind >= FZ_NR_KINDS)
		return;
	le32_put(blk, pd_block_csum(blk + 4, FZ_BS - 4, fz_salt[kind]));
}

/* The kind whose checksum this block carries, or FZ_RAW. */
static unsigned fz_kind_of(const uint8_t *blk)
{
	uint32_t c = le32_get(blk);

	for (unsigned k = 1; k < FZ_NR_KINDS; k++)
		if (c == pd_block_csum(blk + 4, FZ_BS - 4, fz_salt[k]))
			return k;
	return FZ_RAW;
}

/* --- raw sparse images --------------------------------------------------- */

/* NULL if the input is too short to name a device. */
static struct fz_bdev *fz_sparse_image(const uint8_t *in, size_t len,
				       unsigned *flags)
{
	uint8_t kinds[FZ_MAX_BLOCKS] = { 0 };
	struct fz_bdev *m;
	pd_block_t nr;
	size_t i = 2;

	if (len < 2)
		return NULL;
	nr = FZ_MIN_BLOCKS + in[0] % (FZ_MAX_BLOCKS - FZ_MIN_BLOCKS + 1);
	*flags = in[1];
	m = fz_bdev_new(nr);
	while (i + 4 <= len) {
		unsigned b = in[i] % nr, kind = in[i + 1];
		size_t n = (size_t)in[i + 2] | (size_t)in[i + 3] << 8;
		uint8_t *blk = m->data + (size_t)b * FZ_BS;

		i += 4;
		if (n > FZ_BS)
			n = FZ_BS;
		if (n > len - i)
			n = len - i;
		memcpy(blk, in + i, n);
		i += n;
		kinds[b] = (uint8_t)kind;
	}
	for (unsigned b = 0; b < nr; b++) {
		uint8_t *blk = m->data + (size_t)b * FZ_BS;
		unsigned kind = kinds[b] & 0x7f;

		if (kind >= FZ_NR_KINDS)
			kind = FZ_RAW;
		if ((kinds[b] & 0x80) && kind)
			le64_put(blk + fz_blocknr_off(kind), b);
		fz_fix_csum(blk, kind);
	}
	return m;
}

/* --- edits of a valid image ---------------------------------------------- */

/* One edit: 8 bytes of input. */
enum fz_edit_op {
	FZ_E_FLIP,		/* flip bit (val % 8) of byte off */
	FZ_E_BYTE,		/* byte off = val */
	FZ_E_LE32,		/* le32 at off = a boundary value */
	FZ_E_LE64,		/* le64 at off = a boundary value or block number */
	FZ_E_COPY,		/* block = a copy of another block of its kind */
	FZ_E_HEADER,		/* a btree-node header field = boundary value */
	FZ_E_ENTRY,		/* a key or value of a btree node = pointer/boundary */
	FZ_E_ZERO,		/* the block = all zeroes (kind kept: csum fixed) */
	FZ_E_NR_OPS
};

struct fz_image_info {
	uint8_t kind[4 * FZ_MAX_BLOCKS];	/* per block, in the valid image */
};

static void fz_classify(const struct fz_bdev *m, struct fz_image_info *ii)
{
	for (pd_block_t b = 0; b < m->bd.nr_blocks; b++)
		ii->kind[b] = (uint8_t)fz_kind_of(m->data + b * FZ_BS);
}

/* The n-th (cyclically) block of a kind, or the block itself if none. */
static pd_block_t fz_nth_of_kind(const struct fz_bdev *m,
				 const struct fz_image_info *ii, unsigned kind,
				 unsigned n, pd_block_t dflt)
{
	unsigned count = 0;

	for (pd_block_t b = 0; b < m->bd.nr_blocks; b++)
		count += ii->kind[b] == kind;
	if (!count)
		return dflt;
	n %= count;
	for (pd_block_t b = 0; b < m->bd.nr_blocks; b++)
		if (ii->kind[b] == kind && !n--)
			return b;
	return dflt;
}

static uint64_t fz_boundary(const struct fz_bdev *m, pd_block_t self,
			    unsigned v)
{
	const uint64_t nr = m->bd.nr_blocks;
	const uint64_t vals[] = {
		0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000,
		0x7fffffff, 0x80000000u, 0xffffffffu, 0x100000000ull,
		UINT64_MAX, UINT64_MAX - 1, INT64_MAX, 1ull << 63,
		self, nr - 1, nr, nr + 1, 2 * nr, 84, 126, 127, 252, 253, 254,
		255, 16320, 16319, 16321, 1ull << 24, (1ull << 24) - 1,
	};

	return vals[v % PD_ARRAY_SIZE(vals)];
}

/* Apply the edits in `in` to m (a copy of the image ii describes). */
static void fz_apply_edits(struct fz_bdev *m, const struct fz_image_info *ii,
			   const uint8_t *in, size_t len)
{
	uint8_t touched[4 * FZ_MAX_BLOCKS] = { 0 };
	const pd_block_t nr = m->bd.nr_blocks;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		unsigned op = in[i] % FZ_E_NR_OPS;
		pd_block_t b = in[i + 1] % nr;
		unsigned off = ((unsigned)in[i + 2] | (unsigned)in[i + 3] << 8) % FZ_BS;
		uint32_t val = le32_get(in + i + 4);
		uint8_t *blk = m->data + b * FZ_BS;
		unsigned kind = ii->kind[b];

		touched[b] = 1;
		switch (op) {
		case FZ_E_FLIP:
			blk[off] ^= (uint8_t)(1u << (val % 8));
			break;
		case FZ_E_BYTE:
			blk[off] = (uint8_t)val;
			break;
		case FZ_E_LE32:
			off &= ~3u;
			le32_put(blk + off, (uint32_t)fz_boundary(m, b, val));
			break;
		case FZ_E_LE64:
			off &= ~7u;
			if (off + 8 > FZ_BS)
				off = FZ_BS - 8;
			/* high bit: a block of a kind; else a boundary */
			if (val & 0x80000000u)
				le64_put(blk + off, fz_nth_of_kind(m, ii,
					 (val >> 16) % FZ_NR_KINDS, val & 0xffff, b));
			else
				le64_put(blk + off, fz_boundary(m, b, val));
			break;
		case FZ_E_COPY: {
			pd_block_t src = fz_nth_of_kind(m, ii, kind, val & 0xffff, b);

			memmove(blk, m->data + src * FZ_BS, FZ_BS);
			/* bit 16: keep the source's location field (a block
			 * that says it lives elsewhere); else relocate it */
			if (!(val & 0x10000) && kind)
				le64_put(blk + fz_blocknr_off(kind), b);
			break;
		}
		case FZ_E_HEADER: {
			static const unsigned fields[] = { 4, 16, 20, 24, 28 };

			le32_put(blk + fields[off % 5],
				 (uint32_t)fz_boundary(m, b, val));
			break;
		}
		case FZ_E_ENTRY: {
			uint32_t n = le32_get(blk + 16), max = le32_get(blk + 20);
			uint32_t vs = le32_get(blk + 24);
			unsigned idx = n ? off % n : 0;
			size_t at;

			if (max > 1000 || vs > 1000)
				break;
			/* bit 31: the value (child pointer), else the key */
			at = (val & 0x80000000u) ?
				32 + (size_t)max * 8 + (size_t)idx * vs :
				32 + (size_t)idx * 8;
			if (at + 8 > FZ_BS)
				break;
			if (val & 0x40000000u)
				le64_put(blk + at, fz_nth_of_kind(m, ii,
					 (val >> 16) % FZ_NR_KINDS, val & 0xffff, b));
			else
				le64_put(blk + at, fz_boundary(m, b, val));
			break;
		}
		case FZ_E_ZERO:
			memset(blk, 0, FZ_BS);
			break;
		}
	}
	for (pd_block_t b = 0; b < nr; b++)
		if (touched[b])
			fz_fix_csum(m->data + b * FZ_BS, ii->kind[b]);
}

/* --- sinks ---------------------------------------------------------------- */

static void fz_msg(void *ctx, const char *text)
{
	size_t *n = ctx;

	*n += strlen(text);
}

/* A NUL-terminated copy of the input (aborts on no memory). */
static char *fz_strdup(const uint8_t *in, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, in, len);
	s[len] = 0;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* PD_FUZZ_H */
