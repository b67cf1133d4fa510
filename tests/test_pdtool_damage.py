"""tests/test_pdtool_damage.py - hostile media (issue 16): one block of a valid
image is damaged, and

  - pdtool check / cache-check exit 1 with a finding that names the block
    and says what is wrong (each test names the exact words);
  - pdtool dump / cache-dump on the same image end within a timeout, never
    crash, and exit 1 with a message naming the damaged block and what is
    wrong with it (core's damage record, core/errors.h) when the damage is
    on their path, or dump what is still there (space-map damage is not on
    a dump's path).

The images are made by pdtool restore and cache-restore from generated XML
(no Debian tools needed).  A block is damaged either without fixing its
checksum (the checksum case) or with the checksum recomputed
(tests/metaimage.py), so that the checker has to find the damage itself.
The cache metadata records no origin size (only the discard bitset's,
which restore leaves 0), so a mapping past the origin cannot be checked;
an origin block mapped twice and bad mapping flags are checked instead.
Run with /usr/bin/python3 -m pytest tests/test_pdtool_damage.py.
"""
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PDTOOL = Path(os.environ.get('PD_PDTOOL', Path(os.environ.get('PD_BUILD', ROOT / 'build')) / 'pdtool'))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import xmlgen  # noqa: E402
from metaimage import (SALT_ARRAY, SALT_BITMAP, SALT_CACHE_SB,  # noqa: E402
                       SALT_INDEX, SALT_NODE, CacheImage, ThinImage)

TIMEOUT = 60            # a dump or check of these images takes well under 1 s

# cache superblock: where the array roots are (FORMAT.md 1.12)
CACHE_MAPPING_ROOT, CACHE_DIRTY_ROOT = 192, 284


@pytest.fixture(scope='session', autouse=True)
def built(build_dir):
    if not PDTOOL.exists():
        pytest.fail('%s missing: run make first' % PDTOOL)


def pdtool(*args):
    """Run pdtool; a hang fails the test (TimeoutExpired), so does a crash
    or a sanitizer report."""
    p = subprocess.run([str(PDTOOL)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode >= 0, 'killed by signal %d: %s\n%s' % (
        -p.returncode, args, p.stderr[-2000:])
    for bad in ('AddressSanitizer', 'runtime error:', 'LeakSanitizer'):
        assert bad not in p.stderr, '%s: sanitizer report:\n%s' % (args, p.stderr[-4000:])
    return p


def fails_naming(cmd, path, *needles):
    """cmd exits 1 and its findings hold every needle; -q exits 1 quietly."""
    p = pdtool(cmd, path)
    assert p.returncode == 1, (cmd, p.returncode, p.stdout, p.stderr)
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    q = pdtool(cmd, '-q', path)
    assert (q.returncode, q.stdout, q.stderr) == (1, '', '')
    return p


# --- thin ---------------------------------------------------------------------

def _restore(tmp, name, xml_text, mb=8):
    xml = tmp / (name + '.xml')
    xml.write_text(xml_text)
    img = tmp / (name + '.img')
    with open(img, 'wb') as f:
        f.truncate(mb << 20)
    p = pdtool('restore', '-i', xml, '-o', img)
    assert p.returncode == 0, p.stderr
    c = pdtool('check', '--strict', img)
    assert c.returncode == 0, c.stderr
    d = pdtool('dump', img)
    assert d.returncode == 0, d.stderr
    return img.read_bytes(), d.stdout


@pytest.fixture(scope='module')
def thin(tmp_path_factory):
    """Devices with 1000 mappings each (bottom-level trees two nodes high),
    snapshots sharing their data blocks: (image bytes, its dump)."""
    return _restore(tmp_path_factory.mktemp('thin'), 'thin',
                    xmlgen.generate(16, devices=2, snapshots=2, mappings=1000))


@pytest.fixture(scope='module')
def tall(tmp_path_factory):
    """One device of 70,000 mappings: a bottom-level tree three high."""
    n = 70000
    text = ('<superblock uuid="" time="0" transaction="1" flags="0" version="2" '
            'data_block_size="128" nr_data_blocks="%d">\n'
            '  <device dev_id="3" mapped_blocks="%d" transaction="0" '
            'creation_time="0" snap_time="0">\n'
            '    <range_mapping origin_begin="0" data_begin="0" length="%d" time="0"/>\n'
            '  </device>\n</superblock>\n' % (n, n, n))
    return _restore(tmp_path_factory.mktemp('tall'), 'tall', text)


def an_internal_root(im):
    """The root of a device's mapping tree that is an internal node."""
    for _, root in sorted(im.dev_roots().items()):
        if not im.node_is_leaf(root):
            return root
    pytest.fail('no device with an internal mapping tree root')


# Each damage: fn(image) changes it and returns (the finding check must
# print, what dump must do): a tuple of strings, dump exits 1 saying each
# (one of them names the damaged block and the fault); None, dump prints
# the same XML as before (nothing on its path is damaged); or a function
# that judges the dump's CompletedProcess.

def sb_bad_checksum(im):
    im.flip(0, 48, 3)
    return ('superblock (block 0): bad checksum',
            ('bad superblock', 'block 0 (thin superblock): bad checksum'))


def node_more_entries_than_max(im):
    leaf = im.leftmost_leaf(an_internal_root(im))
    im.put32(leaf, 16, im.node_max(leaf) + 1)
    im.fix(leaf, SALT_NODE)
    return ('block %d (bottom-level mapping tree node): 253 entries, more than '
            'max_entries 252' % leaf,
            ('damaged metadata', 'block %d (btree node): 253 entries, more '
             'than max_entries 252' % leaf))


def details_root_bad_checksum(im):
    """The device details tree's root (a leaf): the dump cannot list or
    describe any device."""
    root = im.details_root()
    im.flip(root, 200, 2)
    return ('block %d (device details tree node): bad checksum' % root,
            ('block %d (btree node): bad checksum' % root,))


def leaf_wrong_value_size(im):
    """A bottom-level leaf says its values are 4 bytes (its max_entries
    still fits the block, so only the tree's shape check refuses it)."""
    leaf = im.leftmost_leaf(an_internal_root(im))
    im.put32(leaf, 24, 4)
    im.fix(leaf, SALT_NODE)
    return ('block %d (bottom-level mapping tree node): value size 4, '
            'expected 8' % leaf,
            ('damaged metadata',
             'block %d (btree node): value size 4, expected 8' % leaf))


def point_past_the_end(im, b, off, salt):
    """The u64 at off in block b names a block past the end: which."""
    to = im.nr_blocks() + 7
    im.put64(b, off, to)
    im.fix(b, salt)
    return to


def child_past_the_end(im):
    root = an_internal_root(im)
    to = point_past_the_end(im, root, im.node_value_at(root, 1), SALT_NODE)
    return ('reference to block %d, outside the metadata device (%d blocks), in '
            'entry 1 of block %d (bottom-level mapping tree node)'
            % (to, im.nr_blocks(), root),
            ('damaged metadata', 'reference to block %d, outside the metadata '
             'device (%d blocks), in entry 1 of block %d'
             % (to, im.nr_blocks(), root)))


CYCLE = ('block %d (bottom-level mapping tree node in the mapping tree) is its '
         'own ancestor: a cycle, in entry 1 of block %d')
DUMP_CYCLE = 'block %d (btree node) is its own ancestor: a cycle, in entry 1 of block %d'


def node_points_to_itself(im):
    root = an_internal_root(im)
    im.put64(root, im.node_value_at(root, 1), root)
    im.fix(root, SALT_NODE)
    return CYCLE % (root, root), ('damaged metadata', DUMP_CYCLE % (root, root))


def node_points_to_an_ancestor(im):
    root = im.dev_roots()[3]
    mid = im.node_child(root, 0)
    assert not im.node_is_leaf(mid), 'the tree is not three high'
    im.put64(mid, im.node_value_at(mid, 1), root)
    im.fix(mid, SALT_NODE)
    return CYCLE % (root, mid), ('damaged metadata', DUMP_CYCLE % (root, mid))


def dag_of_one_path(im):
    """Every entry of the root names its first child, every entry of that
    child its first leaf: 252 x 252 paths to one leaf, which a walk without
    a seen set or range checks would take 252^2 times.  The dump's walk
    has no seen set: it finds the leaf's keys outside the range of its
    second referrer."""
    root = im.dev_roots()[3]
    mid = im.node_child(root, 0)
    leaf = im.node_child(mid, 0)
    for b, child in ((root, mid), (mid, leaf)):
        for i in range(im.node_nr(b)):
            im.put64(b, im.node_value_at(b, i), child)
        im.fix(b, SALT_NODE)
    return ('block %d (bottom-level mapping tree node) is referenced twice in '
            'one mapping tree, in entry 1 of block %d' % (leaf, mid),
            ('damaged metadata', 'block %d (btree node): key ' % leaf,
             ' is below the range its parent gives, in entry 1 of block %d'
             % mid))


def recount(im, what, bm, b, was, now):
    """Entry b of bitmap bm goes from count `was` to `now`: the finding."""
    assert im.sm_entry(bm, b) == was
    im.set_sm_entry(bm, b, now)
    im.fix(bm, SALT_BITMAP)
    return ('%s block %d: bad reference count: %d on disk, %d expected '
            '(bitmap block %d)' % (what, b, now, was, bm), None)


def metadata_bitmap_wrong_count(im):
    """The mapping tree's root has one referrer, the superblock."""
    return recount(im, 'metadata', im.meta_bitmap0(), im.mapping_root(), 1, 2)


def data_bitmap_wrong_count(im):
    """A data block mapped once, its bitmap entry cleared."""
    index = im.data_index_root()
    refs = Counter(v >> 24 for root in im.dev_roots().values()
                   for _, v in im.leaf_entries(root))
    return recount(im, 'data', im.u64(index, im.node_value_at(index, 0)),
                   min(d for d, n in refs.items() if n == 1), 1, 0)


def metadata_index_past_the_end(im):
    index = im.meta_index()
    to = point_past_the_end(im, index, 16, SALT_INDEX)   # entry 0's bitmap
    return ('block %d (metadata space map index block), metadata index entry 0: '
            'block %d is outside the metadata device (%d blocks)'
            % (index, to, im.nr_blocks()), None)


def data_index_past_the_end(im):
    index = im.data_index_root()
    assert im.node_is_leaf(index)
    to = point_past_the_end(im, index, im.node_value_at(index, 0), SALT_NODE)
    return ('block %d (data space map index tree node), data index entry 0: '
            'block %d is outside the metadata device (%d blocks)'
            % (index, to, im.nr_blocks()), None)


THIN_DAMAGE = {f.__name__: (f, base) for f, base in (
    (sb_bad_checksum, 'thin'), (node_more_entries_than_max, 'thin'),
    (details_root_bad_checksum, 'thin'), (leaf_wrong_value_size, 'thin'),
    (child_past_the_end, 'thin'), (node_points_to_itself, 'thin'),
    (node_points_to_an_ancestor, 'tall'), (dag_of_one_path, 'tall'),
    (metadata_bitmap_wrong_count, 'thin'),
    (data_bitmap_wrong_count, 'thin'), (metadata_index_past_the_end, 'thin'),
    (data_index_past_the_end, 'thin'))}


def run_damage(tmp_path, base, fn, cls, check, dump):
    """Damage a copy of base (image bytes, its dump) with fn, then check
    and dump it."""
    path = tmp_path / 'bad.img'
    path.write_bytes(base[0])
    im = cls(path)
    finding, dump_says = fn(im)
    im.save()
    fails_naming(check, path, finding)
    d = pdtool(dump, path)
    if callable(dump_says):
        dump_says(d)
    elif dump_says:
        assert d.returncode == 1, (dump, d.returncode, d.stderr)
        assert str(path) in d.stderr, d.stderr
        for n in dump_says:
            assert n in d.stderr, (n, d.stderr)
    else:
        assert (d.returncode, d.stdout) == (0, base[1]), d.stderr


@pytest.mark.parametrize('kind', sorted(THIN_DAMAGE))
def test_thin_damage(tmp_path, request, kind):
    fn, base = THIN_DAMAGE[kind]
    run_damage(tmp_path, request.getfixturevalue(base), fn, ThinImage,
               'check', 'dump')


# --- cache ----------------------------------------------------------------------

@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    """Format 2, 3000 cache blocks, the even ones mapped (origin 7 * cb),
    every fourth dirty, hints on some: (image bytes, its dump)."""
    tmp = tmp_path_factory.mktemp('cache')
    lines = ['<superblock uuid="" block_size="128" nr_cache_blocks="3000" '
             'policy="smq" hint_width="4">', '  <mappings>']
    lines += ['    <mapping cache_block="%d" origin_block="%d" dirty="%s"/>'
              % (cb, 7 * cb, 'true' if cb % 4 == 0 else 'false')
              for cb in range(0, 3000, 2)]
    lines += ['  </mappings>', '  <hints>']
    lines += ['    <hint cache_block="%d" data="AQIDBA=="/>' % cb
              for cb in range(0, 3000, 6)]
    lines += ['  </hints>', '</superblock>']
    xml = tmp / 'cache.xml'
    xml.write_text('\n'.join(lines) + '\n')
    img = tmp / 'cache.img'
    with open(img, 'wb') as f:
        f.truncate(8 << 20)
    p = pdtool('cache-restore', '--metadata-version', '2', '-i', xml, '-o', img)
    assert p.returncode == 0, p.stderr
    c = pdtool('cache-check', img)
    assert c.returncode == 0, c.stderr
    d = pdtool('cache-dump', img)
    assert d.returncode == 0, d.stderr
    return img.read_bytes(), d.stdout


def mapping_at(im, cb):
    """(array block, byte offset) of cache block cb's mapping (cb < 509)."""
    return im.first_array_block(CACHE_MAPPING_ROOT), 24 + 8 * cb


def cache_sb_bad_checksum(im):
    im.flip(0, 240, 1)
    return ('cache superblock block 0: bad checksum',
            ('bad cache superblock', 'block 0 (cache superblock): bad checksum'))


def cache_sb_wrong_location(im):
    im.put64(0, 8, 7)
    im.fix(0, SALT_CACHE_SB)
    return ('cache superblock block 0: says it is block 7',
            ('bad cache superblock',
             'block 0 (cache superblock): says it is block 7'))


def array_block_bad_checksum(im):
    ab = im.first_array_block(CACHE_MAPPING_ROOT)
    assert im.salt(ab) == SALT_ARRAY
    im.flip(ab, 2000, 4)
    return ('mapping array block %d: bad checksum' % ab,
            ('damaged metadata', 'block %d (array block): bad checksum' % ab))


def origin_block_mapped_twice(im):
    """Cache block 2 maps origin block 0, as cache block 0 does (the dump
    does not look: it prints both)."""
    ab, off0 = mapping_at(im, 0)
    im.put64(ab, mapping_at(im, 2)[1], im.u64(ab, off0))
    im.fix(ab, SALT_ARRAY)

    def dump_prints_both(d):
        assert d.returncode == 0, d.stderr
        assert d.stdout.count('origin_block="0"') == 2
    return ('origin block 0 mapped twice: cache block 0 (array block %d) and '
            'cache block 2 (array block %d)' % (ab, ab), dump_prints_both)


def mapping_with_bad_flags(im):
    """Format 2 keeps dirty bits in the dirty bitset: a mapping's flags may
    only say valid.  Cache block 1 (unmapped) gets flag 4."""
    ab, off = mapping_at(im, 1)
    im.put64(ab, off, 5 << 16 | 4)
    im.fix(ab, SALT_ARRAY)
    return 'mapping 1 (array block %d): flags 0x4' % ab, None


def bitset_size_mismatch(im):
    """The dirty bitset's only array block loses its last word: 46 words
    for 3000 cache blocks, which need 47."""
    root = im.u64(0, CACHE_DIRTY_ROOT)
    ab = im.first_array_block(CACHE_DIRTY_ROOT)
    assert im.u32(ab, 8) == 47 and root != ab
    im.put32(ab, 8, 46)
    im.put64(ab, 24 + 8 * 46, 0)
    im.fix(ab, SALT_ARRAY)
    return ('dirty bitset (btree root block %d, last array block %d): 46 '
            'entries, 47 expected' % (root, ab),
            ('damaged metadata', 'block %d (array block): the array ends '
             'after 46 entries, 47 expected' % ab))


CACHE_DAMAGE = {f.__name__: f for f in (
    cache_sb_bad_checksum, cache_sb_wrong_location, array_block_bad_checksum,
    origin_block_mapped_twice, mapping_with_bad_flags, bitset_size_mismatch)}


@pytest.mark.parametrize('kind', sorted(CACHE_DAMAGE))
def test_cache_damage(tmp_path, cache, kind):
    run_damage(tmp_path, cache, CACHE_DAMAGE[kind], CacheImage,
               'cache-check', 'cache-dump')
