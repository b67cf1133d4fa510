"""tests/test_pdtool_cache.py - pdtool cache-dump / cache-restore /
cache-check against Debian's thin-provisioning-tools 0.9.0 (cache_dump,
cache_restore, cache_check).

XML this project never saw comes from a seeded generator (the seed is in
the test id and printed): random sizes, mappings, dirty bits, hints,
policy names, uuids.  Format 1 must be byte for byte in both directions;
format 2 is compared on meaning (0.9.0's cache_dump prints every block
clean, pdtool cache-dump the dirty bitset).  Damage gives exit 1 naming
the block, never a crash; bad usage exit 2.  Skipped (not passed) when the
Debian tools are missing.
"""
import base64
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PDTOOL = Path(os.environ.get('PD_PDTOOL', Path(os.environ.get('PD_BUILD', ROOT / 'build')) / 'pdtool'))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from metaimage import (BLOCKNR_AT, BS, SALT_ARRAY, SALT_BITMAP,  # noqa: E402
                       SALT_INDEX, SALT_NODE, SALT_CACHE_SB as SALT_SB,
                       CacheImage as Image)


def _have(name):
    return shutil.which(name) or os.path.exists('/usr/sbin/' + name)


pytestmark = pytest.mark.skipif(
    not all(_have(t) for t in ('cache_dump', 'cache_restore', 'cache_check')),
    reason='thin-provisioning-tools (cache_dump, cache_restore, cache_check) not installed')


@pytest.fixture(scope='session', autouse=True)
def built(build_dir):
    if not PDTOOL.exists():
        pytest.fail('%s missing: run make first' % PDTOOL)


def tool(name):
    return shutil.which(name) or '/usr/sbin/' + name


def run(args, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       timeout=kw.pop('timeout', 300), **kw)
    assert p.returncode >= 0, 'killed by signal %d: %s\n%s' % (
        -p.returncode, args, p.stderr[-2000:])
    for bad in ('AddressSanitizer', 'runtime error:', 'LeakSanitizer'):
        assert bad not in p.stderr, '%s: sanitizer report:\n%s' % (args, p.stderr[-4000:])
    return p


def pdtool(*args, **kw):
    return run([PDTOOL] + list(args), **kw)


def cache_dump(img):
    p = run([tool('cache_dump'), img])
    assert p.returncode == 0, p.stderr
    return p.stdout


def cache_restore(xml, img, version=1, mb=8):
    with open(img, 'wb') as f:
        f.truncate(mb << 20)
    p = run([tool('cache_restore'), '--metadata-version', version, '-i', xml, '-o', img])
    assert p.returncode == 0, p.stderr
    return img


def cache_check(img):
    return run([tool('cache_check'), img])


# --- the generator -------------------------------------------------------------

ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'


class CacheXML:
    """Random cache metadata and the XML cache_dump prints for it."""

    def __init__(self, seed, max_blocks=3000):
        rnd = random.Random(seed)
        print('cache xml seed', seed)
        self.nr = rnd.choice([1, 2, 63, 64, 65, 509, 510, 1018, 1019,
                              rnd.randint(1, max_blocks)])
        self.block_size = rnd.choice([64, 128, 512, 4096, rnd.randint(1, 1 << 21)])
        self.policy = rnd.choice(['smq', 'mq', 'cleaner',
                                  ''.join(rnd.choice(ALNUM) for _ in range(rnd.randint(1, 15)))])
        self.uuid = rnd.choice(['', ''.join(rnd.choice(ALNUM) for _ in range(rnd.randint(1, 15)))])
        density = rnd.choice([0.0, 0.1, 0.5, 0.9, 1.0])
        top = rnd.choice([self.nr * 2, 1 << 20, (1 << 48) - 1])
        blocks = [cb for cb in range(self.nr) if rnd.random() < density]
        origins = rnd.sample(range(top + 1), len(blocks)) if top < 1 << 30 else \
            list({rnd.randint(0, top) for _ in blocks})[:len(blocks)]
        blocks = blocks[:len(origins)]
        dirty_p = rnd.choice([0.0, 0.3, 1.0])
        self.mappings = [(cb, ob, rnd.random() < dirty_p) for cb, ob in zip(blocks, origins)]
        self.mapped = set(blocks)
        # hints: most mapped blocks, some unmapped ones (dropped by every dump)
        self.hints = {}
        for cb in range(self.nr):
            if rnd.random() < (0.8 if cb in self.mapped else 0.05):
                self.hints[cb] = bytes(rnd.randrange(256) for _ in range(4))

    def text(self, uuid=None, dirty=True, hints_out=True):
        """The XML: as written for restore (uuid=None), or as a dump prints
        it (uuid given; dirty=False for 0.9.0's format-2 dump)."""
        dump = uuid is not None
        out = ['<superblock uuid="%s" block_size="%d" nr_cache_blocks="%d" '
               'policy="%s" hint_width="4">' % (self.uuid if not dump else uuid,
                                                self.block_size, self.nr, self.policy),
               '  <mappings>']
        for cb, ob, d in self.mappings:
            out.append('    <mapping cache_block="%d" origin_block="%d" dirty="%s"/>'
                       % (cb, ob, 'true' if d and dirty else 'false'))
        out.append('  </mappings>')
        out.append('  <hints>')
        for cb in range(self.nr):
            if dump and (cb not in self.mapped or not hints_out):
                continue
            if cb in self.hints:
                data = self.hints[cb]
            elif dump:
                data = bytes(4)
            else:
                continue
            out.append('    <hint cache_block="%d" data="%s"/>'
                       % (cb, base64.b64encode(data).decode()))
        out.append('  </hints>')
        out.append('</superblock>')
        return '\n'.join(out) + '\n'


def write_xml(tmp_path, cx, name='in.xml'):
    path = tmp_path / name
    path.write_text(cx.text())
    return path


SEEDS = list(range(1, 31))


# --- byte for byte ---------------------------------------------------------------

@pytest.mark.parametrize('seed', SEEDS)
def test_cache_restore_images_dump_identically(tmp_path, seed):
    """cache_restore 0.9.0 -> cache_dump == pdtool cache-dump == the XML
    (uuid empty: 0.9.0 does not store it); pdtool cache-check passes."""
    cx = CacheXML(1000 + seed)
    img = cache_restore(write_xml(tmp_path, cx), tmp_path / 'meta.img')
    want = cx.text(uuid='')
    assert cache_dump(img) == want
    d = pdtool('cache-dump', img)
    assert d.returncode == 0, d.stderr
    assert d.stdout == want
    c = pdtool('cache-check', img)
    assert c.returncode == 0, c.stderr


@pytest.mark.parametrize('seed', SEEDS)
def test_pdtool_restore_roundtrip_v1(tmp_path, seed):
    """pdtool cache-restore -> cache_check clean; cache_dump and pdtool
    cache-dump both give the XML back byte for byte; strict check clean."""
    cx = CacheXML(2000 + seed)
    xml = write_xml(tmp_path, cx)
    img = tmp_path / 'meta.img'
    p = pdtool('cache-restore', '-i', xml, '-o', img)
    assert p.returncode == 0, p.stderr
    cc = cache_check(img)
    assert cc.returncode == 0, cc.stderr
    want = cx.text(uuid=cx.uuid)
    assert cache_dump(img) == want
    d = pdtool('cache-dump', img)
    assert d.returncode == 0, d.stderr
    assert d.stdout == want
    c = pdtool('cache-check', '--strict', img)
    assert c.returncode == 0, c.stdout + c.stderr


@pytest.mark.parametrize('seed', SEEDS[:12])
def test_format2_meaning(tmp_path, seed):
    """Format 2 both ways: the dirty bits live in the dirty bitset, which
    pdtool cache-dump prints and 0.9.0's cache_dump ignores (all clean)."""
    cx = CacheXML(3000 + seed)
    xml = write_xml(tmp_path, cx)
    ours = tmp_path / 'ours.img'
    p = pdtool('cache-restore', '--metadata-version', '2', '-i', xml, '-o', ours)
    assert p.returncode == 0, p.stderr
    assert cache_check(ours).returncode == 0
    assert struct.unpack_from('<I', Path(ours).read_bytes(), 40)[0] == 2
    assert pdtool('cache-dump', ours).stdout == cx.text(uuid=cx.uuid)
    assert cache_dump(ours) == cx.text(uuid=cx.uuid, dirty=False)
    assert pdtool('cache-check', '--strict', ours).returncode == 0
    theirs = cache_restore(xml, tmp_path / 'theirs.img', version=2)
    assert pdtool('cache-dump', theirs).stdout == cx.text(uuid='')
    assert cache_dump(theirs) == cx.text(uuid='', dirty=False)
    assert pdtool('cache-check', theirs).returncode == 0


def test_dirty_bits_matter(tmp_path):
    """The comparison can fail: a dirty bit changed in the image shows."""
    cx = CacheXML(77)
    cx.mappings = [(0, 5, True), (1, 6, False)]
    cx.nr = max(cx.nr, 2)
    cx.mapped = {0, 1}
    xml = write_xml(tmp_path, cx)
    for v in ('1', '2'):
        img = tmp_path / ('m%s.img' % v)
        assert pdtool('cache-restore', '--metadata-version', v, '-i', xml, '-o', img).returncode == 0
        out = pdtool('cache-dump', img).stdout
        assert '<mapping cache_block="0" origin_block="5" dirty="true"/>' in out
        assert '<mapping cache_block="1" origin_block="6" dirty="false"/>' in out


def test_big_roundtrip(tmp_path):
    """Multi-level index trees (over 509 * 252 blocks would be huge; 200,000
    blocks gives 393 mapping array blocks) both ways."""
    cx = CacheXML(4242, max_blocks=200000)
    cx.nr = 200000
    rnd = random.Random(4242)
    blocks = sorted(rnd.sample(range(cx.nr), 60000))
    cx.mappings = [(cb, i * 3 + 1, rnd.random() < 0.5) for i, cb in enumerate(blocks)]
    cx.mapped = set(blocks)
    cx.hints = {cb: struct.pack('<I', rnd.getrandbits(32)) for cb in blocks if rnd.random() < 0.7}
    xml = write_xml(tmp_path, cx)
    img = tmp_path / 'meta.img'
    assert pdtool('cache-restore', '-i', xml, '-o', img).returncode == 0
    assert cache_check(img).returncode == 0
    want = cx.text(uuid=cx.uuid)
    assert cache_dump(img) == want
    assert pdtool('cache-dump', img).stdout == want
    theirs = cache_restore(xml, tmp_path / 't.img', mb=32)
    assert pdtool('cache-dump', theirs).stdout == cx.text(uuid='')


def test_no_hint_array(tmp_path):
    """hint_width="0": no hint array (hint_root 0); both dumps print
    hint_width 4 and no hints, identically."""
    cx = CacheXML(55)
    text = cx.text().replace('hint_width="4"', 'hint_width="0"')
    text = '\n'.join(l for l in text.split('\n') if '<hint ' not in l)
    xml = tmp_path / 'in.xml'
    xml.write_text(text)
    img = tmp_path / 'meta.img'
    p = pdtool('cache-restore', '-i', xml, '-o', img)
    assert p.returncode == 0, p.stderr
    assert struct.unpack_from('<Q', Path(img).read_bytes(), 200)[0] == 0   # hint_root
    d = pdtool('cache-dump', img)
    assert d.returncode == 0
    assert d.stdout == cache_dump(img)
    assert '<hint ' not in d.stdout and 'hint_width="4"' in d.stdout


def test_not_clean_shutdown_dumps_as_stored(tmp_path):
    """Without CLEAN_SHUTDOWN the stored bits are printed (as 0.9.0 does)."""
    cx = CacheXML(56)
    xml = write_xml(tmp_path, cx)
    img = tmp_path / 'meta.img'
    assert pdtool('cache-restore', '-i', xml, '-o', img).returncode == 0
    im = Image(img)
    im.put32(0, 4, im.u32(0, 4) & ~1)
    im.fix(0, SALT_SB)
    im.save()
    assert pdtool('cache-dump', img).stdout == cache_dump(img) == cx.text(uuid=cx.uuid)


def test_output_file_and_existing_size(tmp_path):
    cx = CacheXML(57)
    xml = write_xml(tmp_path, cx)
    img = tmp_path / 'meta.img'
    with open(img, 'wb') as f:
        f.truncate(2 << 20)
    assert pdtool('cache-restore', '-q', '-i', xml, '-o', img).returncode == 0
    assert os.path.getsize(img) == 2 << 20
    out = tmp_path / 'out.xml'
    assert pdtool('cache-dump', '-o', out, img).returncode == 0
    assert out.read_text() == cache_dump(img)


# --- damage ------------------------------------------------------------------------

@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """One image of each maker (pdtool v1, pdtool v2, cache_restore v1)."""
    d = tmp_path_factory.mktemp('cache_damage')
    cx = CacheXML(99)
    cx.nr = 3000
    rnd = random.Random(99)
    blocks = sorted(rnd.sample(range(3000), 1500))
    cx.mappings = [(cb, cb * 7, rnd.random() < 0.5) for cb in blocks]
    cx.mapped = set(blocks)
    xml = write_xml(d, cx)
    out = {}
    for name, args in (('pd1', ['--metadata-version', '1']),
                       ('pd2', ['--metadata-version', '2'])):
        img = d / (name + '.img')
        assert pdtool('cache-restore', *args, '-i', xml, '-o', img).returncode == 0
        out[name] = Path(img).read_bytes()
    out['deb1'] = Path(cache_restore(xml, d / 'deb1.img')).read_bytes()
    return out


def _blocks_by_kind(im):
    """Blocks in use and referenced (cache_restore 0.9.0's leaked block is
    in use but nothing reads it: damage there is only a leak), by salt."""
    c = pdtool('cache-check', im.path)
    assert c.returncode == 0, c.stderr
    leaked = {int(l.split()[2]) for l in c.stderr.splitlines() if l.strip().startswith('leak: block')}
    used = [b for b in im.in_use() if b != 0 and b not in leaked]
    kinds = {b: im.salt(b) for b in used}
    assert all(kinds.values()), 'an in-use block with no known checksum'
    assert {SALT_NODE, SALT_ARRAY, SALT_INDEX, SALT_BITMAP} <= set(kinds.values())
    return kinds


@pytest.mark.parametrize('maker', ['pd1', 'pd2', 'deb1'])
def test_every_block_damaged(tmp_path, images, maker):
    """Each block in use: a byte flipped (checksum left stale), and its own
    location changed (checksum recomputed): exit 1 naming that block."""
    path = tmp_path / 'd.img'
    Path(path).write_bytes(images[maker])
    kinds = _blocks_by_kind(Image(path))
    print(maker, 'blocks in use:', len(kinds))
    for b, salt in sorted(kinds.items()):
        for fixed in (False, True):
            im = Image(path)
            im.data = bytearray(images[maker])
            if fixed:
                im.put64(b, BLOCKNR_AT[salt], b + 5000)
                im.fix(b, salt)
            else:
                im.data[b * BS + 2000] ^= 0x10
            im.save()
            c = pdtool('cache-check', path)
            assert c.returncode == 1, (maker, b, fixed, c.stdout, c.stderr)
            assert 'block %d' % b in c.stderr, (maker, b, fixed, c.stderr)
            q = pdtool('cache-check', '-q', path)
            assert q.returncode == 1 and q.stdout == q.stderr == ''
            d = pdtool('cache-dump', path)
            assert d.returncode in (0, 1)


@pytest.mark.parametrize('maker', ['pd1', 'pd2'])
def test_superblock_damage(tmp_path, images, maker):
    path = tmp_path / 'd.img'
    cases = {
        'flip': lambda im: im.data.__setitem__(100, im.data[100] ^ 1),
        'magic': lambda im: (im.put64(0, 32, 12345), im.fix(0, SALT_SB)),
        'version': lambda im: (im.put32(0, 40, 3), im.fix(0, SALT_SB)),
        'location': lambda im: (im.put64(0, 8, 7), im.fix(0, SALT_SB)),
        'zero': lambda im: im.data.__setitem__(slice(0, BS), bytes(BS)),
    }
    for name, damage in cases.items():
        Path(path).write_bytes(images[maker])
        im = Image(path)
        damage(im)
        im.save()
        c = pdtool('cache-check', path)
        assert c.returncode == 1, (name, c.stderr)
        assert 'superblock' in c.stderr, (name, c.stderr)
        d = pdtool('cache-dump', path)
        assert d.returncode == 1, (name, d.stdout)


def test_mapping_value_damage(tmp_path, images):
    """A checksum-correct mapping value with an unknown flag, and two cache
    blocks naming one origin block: exit 1."""
    path = tmp_path / 'd.img'
    for what in ('flag', 'dup'):
        Path(path).write_bytes(images['pd1'])
        im = Image(path)
        arrays = [b for b, s in _blocks_by_kind(im).items()
                  if s == SALT_ARRAY and im.u32(b, 12) == 8]
        b = arrays[0]            # the first mapping array block (values 8 bytes)
        vals = [im.u64(b, 24 + 8 * i) for i in range(im.u32(b, 8))]
        mapped = [i for i, v in enumerate(vals) if v & 1]
        if what == 'flag':
            im.put64(b, 24 + 8 * mapped[0], vals[mapped[0]] | 8)
        else:
            im.put64(b, 24 + 8 * mapped[1], vals[mapped[0]])
        im.fix(b, SALT_ARRAY)
        im.save()
        c = pdtool('cache-check', path)
        assert c.returncode == 1, (what, c.stderr)


@pytest.mark.parametrize('maker,seed', [('pd1', 1), ('pd2', 2), ('deb1', 3)])
def test_random_damage_never_crashes(tmp_path, images, maker, seed):
    """Seeded random bit flips in blocks in use, half of them with the
    checksum recomputed: exit 0 or 1, never a crash or a sanitizer report."""
    seed = int(os.environ.get('PD_SEED', seed))
    print('damage seed', seed)
    rnd = random.Random(seed)
    path = tmp_path / 'd.img'
    Path(path).write_bytes(images[maker])
    good = Image(path)
    used = good.in_use()
    for i in range(40):
        im = Image(path)
        im.data = bytearray(images[maker])
        b = rnd.choice(used)
        salt = SALT_SB if b == 0 else good.salt(b)
        for _ in range(rnd.randint(1, 8)):
            im.data[b * BS + rnd.randrange(4, BS)] ^= 1 << rnd.randrange(8)
        if rnd.random() < 0.5:
            im.fix(b, salt)
        im.save()
        c = pdtool('cache-check', path)
        assert c.returncode in (0, 1), (seed, i, c.stderr)
        d = pdtool('cache-dump', path)
        assert d.returncode in (0, 1), (seed, i, d.stderr)


# --- usage ----------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    ['cache-dump'], ['cache-dump', '--repair', 'x'], ['cache-dump', 'a', 'b'],
    ['cache-dump', '/nonexistent/img'], ['cache-dump', '-o'],
    ['cache-check'], ['cache-check', '--bogus', 'x'], ['cache-check', '/nonexistent/img'],
    ['cache-check', '/'],
    ['cache-restore'], ['cache-restore', '-i', 'x.xml'], ['cache-restore', '-o', 'x.img'],
    ['cache-restore', '-i', '/nonexistent.xml', '-o', '/tmp/pdtool-never.img'],
    ['cache-restore', '--metadata-version', '3', '-i', 'a', '-o', 'b'],
    ['cache-restore', '--metadata-version'],
])
def test_bad_usage(args):
    p = pdtool(*args)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert p.stderr
    assert not os.path.exists('/tmp/pdtool-never.img')


@pytest.mark.parametrize('cmd', ['cache-dump', 'cache-restore', 'cache-check'])
def test_help(cmd):
    p = pdtool(cmd, '--help')
    assert p.returncode == 0 and p.stdout.startswith('usage: pdtool ' + cmd)
    assert '0.9.0' in p.stdout
    top = pdtool('--help')
    assert cmd in top.stdout


def test_help_tells_the_format2_difference():
    assert 'dirty="false"' in pdtool('cache-dump', '--help').stdout
    assert 'format 2' in pdtool('cache-restore', '--help').stdout


GOOD = ('<superblock uuid="" block_size="64" nr_cache_blocks="4" policy="smq" hint_width="4">\n'
        '  <mappings>\n    <mapping cache_block="1" origin_block="9" dirty="true"/>\n  </mappings>\n'
        '  <hints>\n    <hint cache_block="1" data="AQIDBA=="/>\n  </hints>\n</superblock>\n')


@pytest.mark.parametrize('old,new,needle,line', [
    ('dirty="true"', 'dirty="yes"', 'true or false', 3),
    ('cache_block="1" origin', 'cache_block="4" origin', 'past nr_cache_blocks', 3),
    ('data="AQIDBA=="', 'data="AQID"', 'not 4 bytes', 6),
    ('data="AQIDBA=="', 'data="AQ!DBA=="', 'not 4 bytes', 6),
    ('hint_width="4"', 'hint_width="8"', 'hint_width 8', 1),
    ('policy="smq"', 'policy=""', 'policy', 1),
    ('uuid=""', 'uuid="0123456789abcdef"', 'uuid', 1),
    ('block_size="64" ', '', 'block_size', 1),
    ('<mapping ', '<mapp ', 'unknown element', 3),
    ('  </hints>\n', '  </hints>\n  <discards>\n    <discard dbegin="0" dend="1"/>\n  </discards>\n',
     'discard', 9),
    ('</superblock>\n', '', 'XML error', 8),
    ('    <mapping cache_block="1" origin_block="9" dirty="true"/>\n',
     '    <mapping cache_block="1" origin_block="9" dirty="true"/>\n'
     '    <mapping cache_block="1" origin_block="8" dirty="true"/>\n', 'mapped twice', 4),
    ('    <mapping cache_block="1" origin_block="9" dirty="true"/>\n',
     '    <mapping cache_block="1" origin_block="9" dirty="true"/>\n'
     '    <mapping cache_block="2" origin_block="9" dirty="true"/>\n', 'origin_block 9', None),
])
def test_restore_bad_xml(tmp_path, old, new, needle, line):
    """Exit 2, file:line, the output untouched."""
    assert old in GOOD
    xml = tmp_path / 'bad.xml'
    xml.write_text(GOOD.replace(old, new, 1))
    img = tmp_path / 'out.img'
    img.write_bytes(b'keep me' * 1000)
    p = pdtool('cache-restore', '-i', xml, '-o', img)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr, p.stderr
    if line:
        assert '%s:%d:' % (xml, line) in p.stderr, p.stderr
    assert img.read_bytes() == b'keep me' * 1000


def test_good_xml_restores(tmp_path):
    xml = tmp_path / 'good.xml'
    xml.write_text(GOOD)
    img = tmp_path / 'out.img'
    assert pdtool('cache-restore', '-i', xml, '-o', img).returncode == 0
    assert cache_dump(img) == GOOD


def test_too_small_output(tmp_path):
    cx = CacheXML(5)
    cx.nr = 100000
    xml = write_xml(tmp_path, cx)
    img = tmp_path / 'out.img'
    img.write_bytes(bytes(64 * BS))
    p = pdtool('cache-restore', '-i', xml, '-o', img)
    assert p.returncode == 1, p.stderr
