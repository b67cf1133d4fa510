#!/usr/bin/python3
"""tests/xmlgen.py - a seeded generator of thin_dump XML.

The output is exactly what thin_dump 0.9.0 prints for the metadata it
describes (devices in id order, mappings in block order, consecutive ones
with the same time coalesced into range_mapping, mapped_blocks equal to the
number of mappings, uuid="" flags="0" version="2"), so restoring it and
dumping again must give the same bytes back.

What it makes: several origin devices with runs and single mappings, and
snapshots of them that share the origin's data blocks (a data block may
end up referenced by many devices, so the ref-count trees are used),
partly overwritten later with new blocks and later times.  Pool time goes
up with each snapshot.  --bench makes the benchmark's shape instead:
DEVICES devices with MAPPINGS random single mappings each, no sharing.

The seed is printed on stderr (and is the only source of randomness):
    xmlgen.py --seed 7 --devices 3 --snapshots 2 --mappings 5000 -o x.xml
"""
import argparse
import random
import sys


def coalesce(mappings):
    """mappings: sorted list of (vblock, data, time) -> XML lines."""
    out = []
    i = 0
    n = len(mappings)
    while i < n:
        v, d, t = mappings[i]
        j = i + 1
        while (j < n and mappings[j][0] == v + (j - i) and
               mappings[j][1] == d + (j - i) and mappings[j][2] == t):
            j += 1
        if j - i == 1:
            out.append('    <single_mapping origin_block="%d" data_block="%d" time="%d"/>'
                       % (v, d, t))
        else:
            out.append('    <range_mapping origin_begin="%d" data_begin="%d" length="%d" time="%d"/>'
                       % (v, d, j - i, t))
        i = j
    return out


class Pool:
    def __init__(self, rng, nr_data_blocks):
        self.rng = rng
        self.nr_data = nr_data_blocks
        self.next_free = 0          # data blocks handed out in order ...
        self.time = 0
        self.trans = 0
        self.devs = {}              # id -> dict(details, map)

    def alloc_run(self, n):
        """n consecutive fresh data blocks, with random gaps between runs."""
        gap = self.rng.randint(0, 3)
        if self.next_free + gap + n > self.nr_data:
            return None
        b = self.next_free + gap
        self.next_free = b + n
        return b

    def new_dev_id(self):
        while True:
            d = self.rng.choice([self.rng.randint(0, 64),
                                 self.rng.randint(0, (1 << 24) - 1)])
            if d not in self.devs:
                return d

    def add_origin(self, nr_mappings, max_vblock):
        dev = self.new_dev_id()
        m = {}
        tries = 0
        while len(m) < nr_mappings and tries < nr_mappings * 4 + 16:
            tries += 1
            left = nr_mappings - len(m)
            run = min(left, self.rng.choice([1, 1, 1, 2, 5, 17, 64, 300]))
            v = self.rng.randint(0, max(0, max_vblock - run))
            if any((v + k) in m for k in range(run)):
                continue
            d = self.alloc_run(run)
            if d is None:
                break
            t = self.rng.randint(0, self.time)
            for k in range(run):
                # a run split by a time change now and then
                tk = t if k < run // 2 or self.rng.random() < 0.9 else \
                    min(self.time, t + 1)
                m[v + k] = (d + k, tk)
        self.devs[dev] = dict(trans=self.trans, ctime=self.time,
                              stime=self.time, map=m)
        self.trans += self.rng.randint(0, 2)
        return dev

    def add_snapshot(self, origin, overwrite_frac, max_vblock):
        """Snapshot origin (sharing every block), bump time, then overwrite
        part of the origin and of the snapshot with fresh blocks."""
        dev = self.new_dev_id()
        o = self.devs[origin]
        self.time += 1
        o['stime'] = self.time
        self.devs[dev] = dict(trans=self.trans, ctime=self.time,
                              stime=self.time, map=dict(o['map']))
        self.trans += 1
        for target in (origin, dev):
            mp = self.devs[target]['map']
            keys = sorted(mp)
            nr = int(len(keys) * overwrite_frac)
            for v in self.rng.sample(keys, nr) if nr else []:
                d = self.alloc_run(1)
                if d is None:
                    break
                mp[v] = (d, self.time)
            # a few brand-new mappings too
            for _ in range(self.rng.randint(0, 5)):
                v = self.rng.randint(0, max_vblock)
                if v in mp:
                    continue
                d = self.alloc_run(1)
                if d is None:
                    break
                mp[v] = (d, self.time)
        return dev

    def xml(self, data_block_size):
        lines = ['<superblock uuid="" time="%d" transaction="%d" flags="0" version="2" '
                 'data_block_size="%d" nr_data_blocks="%d">'
                 % (self.time, self.trans, data_block_size, self.nr_data)]
        for dev in sorted(self.devs):
            d = self.devs[dev]
            m = d['map']
            lines.append('  <device dev_id="%d" mapped_blocks="%d" transaction="%d" '
                         'creation_time="%d" snap_time="%d">'
                         % (dev, len(m), d['trans'], d['ctime'], d['stime']))
            lines += coalesce([(v, m[v][0], m[v][1]) for v in sorted(m)])
            lines.append('  </device>')
        lines.append('</superblock>')
        return '\n'.join(lines) + '\n'


def bench_xml(rng, devices, mappings, data_block_size):
    """devices x mappings random single mappings, distinct data blocks."""
    total = devices * mappings
    nr_data = total * 2
    data = rng.sample(range(nr_data), total)
    lines = ['<superblock uuid="" time="0" transaction="1" flags="0" version="2" '
             'data_block_size="%d" nr_data_blocks="%d">' % (data_block_size, nr_data)]
    k = 0
    for dev in range(devices):
        vblocks = sorted(rng.sample(range(mappings * 8), mappings))
        lines.append('  <device dev_id="%d" mapped_blocks="%d" transaction="0" '
                     'creation_time="0" snap_time="0">' % (dev, mappings))
        ms = []
        for v in vblocks:
            ms.append((v, data[k], 0))
            k += 1
        lines += coalesce(ms)
        lines.append('  </device>')
    lines.append('</superblock>')
    return '\n'.join(lines) + '\n'


def generate(seed, devices=3, snapshots=2, mappings=2000, nr_data_blocks=None,
             data_block_size=128, overwrite=0.2, bench=False):
    rng = random.Random(seed)
    if bench:
        return bench_xml(rng, devices, mappings, data_block_size)
    if nr_data_blocks is None:
        nr_data_blocks = max(1000, (devices + snapshots) * mappings * 3)
    pool = Pool(rng, nr_data_blocks)
    pool.time = rng.randint(0, 3)
    max_vblock = max(mappings * 4, 100)
    origins = [pool.add_origin(mappings, max_vblock) for _ in range(devices)]
    for _ in range(snapshots):
        if not origins:
            break
        src = rng.choice(list(pool.devs))
        pool.add_snapshot(src, overwrite, max_vblock)
    # an empty device now and then
    if rng.random() < 0.5:
        dev = pool.new_dev_id()
        pool.devs[dev] = dict(trans=pool.trans, ctime=pool.time,
                              stime=pool.time, map={})
    return pool.xml(data_block_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seed', type=int, default=None,
                    help='random seed (default: a random one, printed)')
    ap.add_argument('--devices', type=int, default=3, help='origin devices')
    ap.add_argument('--snapshots', type=int, default=2,
                    help='snapshots (of origins or of other snapshots)')
    ap.add_argument('--mappings', type=int, default=2000,
                    help='mappings per origin device')
    ap.add_argument('--nr-data-blocks', type=int, default=None)
    ap.add_argument('--data-block-size', type=int, default=128)
    ap.add_argument('--overwrite', type=float, default=0.2,
                    help='fraction of mappings overwritten after a snapshot')
    ap.add_argument('--bench', action='store_true',
                    help='DEVICES x MAPPINGS random single mappings')
    ap.add_argument('-o', '--output', default='-')
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randint(0, 2**31)
    print('xmlgen: seed %d' % seed, file=sys.stderr)
    text = generate(seed, a.devices, a.snapshots, a.mappings, a.nr_data_blocks,
                    a.data_block_size, a.overwrite, a.bench)
    if a.output == '-':
        sys.stdout.write(text)
    else:
        with open(a.output, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
