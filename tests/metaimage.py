"""tests/metaimage.py - a metadata image in memory, for the damage tests:
read it, patch blocks, recompute a block's checksum so that the damage is
not a mere checksum error, write it back.

The checksum is the kernel's dm_bm_checksum (FORMAT.md 1.1): crc32c of
bytes 4..4095, no final inversion, xor the salt of the block's kind.
ThinImage and CacheImage know where things are (FORMAT.md 1.2, 1.12).
"""
import struct
from pathlib import Path

BS = 4096
SALT_THIN_SB, SALT_CACHE_SB = 160774, 9031977
SALT_NODE, SALT_BITMAP, SALT_INDEX = 121107, 240779, 160478
SALT_ARRAY = 595846735
# where each kind of block stores its own location
BLOCKNR_AT = {SALT_NODE: 8, SALT_ARRAY: 16, SALT_INDEX: 8, SALT_BITMAP: 8,
              SALT_THIN_SB: 8, SALT_CACHE_SB: 8}


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc_table()


def block_csum(block, salt):
    crc = 0xffffffff
    for b in block[4:]:
        crc = (crc >> 8) ^ _T[(crc ^ b) & 0xff]
    return crc ^ salt


class Image:
    """Blocks of BS bytes; offsets are within a block."""

    def __init__(self, path):
        self.path = path
        self.data = bytearray(Path(path).read_bytes())

    def block(self, b):
        return bytes(self.data[b * BS:(b + 1) * BS])

    def u32(self, b, off):
        return struct.unpack_from('<I', self.data, b * BS + off)[0]

    def u64(self, b, off):
        return struct.unpack_from('<Q', self.data, b * BS + off)[0]

    def put32(self, b, off, v):
        struct.pack_into('<I', self.data, b * BS + off, v)

    def put64(self, b, off, v):
        struct.pack_into('<Q', self.data, b * BS + off, v)

    def flip(self, b, off, bit=0):
        self.data[b * BS + off] ^= 1 << bit

    def fix(self, b, salt):
        """Recompute block b's checksum for a block of that salt."""
        struct.pack_into('<I', self.data, b * BS, block_csum(self.block(b), salt))

    def save(self, path=None):
        Path(path or self.path).write_bytes(self.data)

    def nr_blocks(self):
        return len(self.data) // BS

    # btree nodes (FORMAT.md 1.3)
    def node_is_leaf(self, b):
        return self.u32(b, 4) == 2

    def node_nr(self, b):
        return self.u32(b, 16)

    def node_max(self, b):
        return self.u32(b, 20)

    def node_value_at(self, b, i):
        """Byte offset of value i of node b."""
        return 32 + 8 * self.node_max(b) + i * self.u32(b, 24)

    def node_child(self, b, i):
        return self.u64(b, self.node_value_at(b, i))

    def leftmost_leaf(self, b):
        while not self.node_is_leaf(b):
            b = self.node_child(b, 0)
        return b

    # a 2-bit space map bitmap entry (FORMAT.md 1.9: bit 2k high, 2k+1 low)
    def sm_entry(self, bitmap, i):
        w = self.u64(bitmap, 16 + 8 * (i // 32))
        k = 2 * (i % 32)
        return (w >> k & 1) << 1 | (w >> (k + 1) & 1)

    def set_sm_entry(self, bitmap, i, value):
        off = 16 + 8 * (i // 32)
        k = 2 * (i % 32)
        w = self.u64(bitmap, off) & ~(3 << k)
        w |= (value >> 1 & 1) << k | (value & 1) << (k + 1)
        self.put64(bitmap, off, w)


class ThinImage(Image):
    """dm-thin metadata (FORMAT.md 1.2)."""

    def mapping_root(self):
        return self.u64(0, 320)

    def details_root(self):
        return self.u64(0, 328)

    def meta_index(self):
        return self.u64(0, 192 + 16)

    def meta_bitmap0(self):
        return self.u64(self.meta_index(), 16)

    def data_index_root(self):
        return self.u64(0, 64 + 16)

    def leaf_entries(self, b):
        """(key, u64 value) of every leaf entry below node b, in order."""
        if not self.node_is_leaf(b):
            return [e for i in range(self.node_nr(b))
                    for e in self.leaf_entries(self.node_child(b, i))]
        return [(self.u64(b, 32 + 8 * i), self.node_child(b, i))
                for i in range(self.node_nr(b))]

    def dev_roots(self):
        """{device id: root of its bottom-level mapping tree}."""
        return dict(self.leaf_entries(self.mapping_root()))


class CacheImage(Image):
    """dm-cache metadata (FORMAT.md 1.12)."""

    SALTS = (SALT_NODE, SALT_ARRAY, SALT_INDEX, SALT_BITMAP, SALT_CACHE_SB)

    def salt(self, b):
        stored = self.u32(b, 0)
        for s in self.SALTS:
            if block_csum(self.block(b), s) == stored:
                return s
        return None

    def in_use(self):
        """Blocks with a nonzero count in the metadata space map."""
        nr = self.u64(0, 64)
        index = self.u64(0, 64 + 16)
        used = []
        for i in range((nr + 16319) // 16320):
            bm = self.u64(index, 16 + 16 * i)
            for j in range(min(16320, nr - i * 16320)):
                if self.sm_entry(bm, j):
                    used.append(i * 16320 + j)
        return used

    def first_array_block(self, root_off):
        """The first array block of the array whose btree root the
        superblock holds at root_off."""
        return self.node_child(self.leftmost_leaf(self.u64(0, root_off)), 0)
