#!/usr/bin/python3
"""tests/bench_pdtool.py - pdtool against thin-provisioning-tools 0.9.0.

Generates a 1,000,000-mapping XML (4 devices x 250,000 random single
mappings, tests/xmlgen.py --bench) and times, on the same input:
    thin_restore vs pdtool restore   (into a preallocated 512 MiB file each)
    thin_check   vs pdtool check     (on the thin_restore image)
    thin_dump    vs pdtool dump      (on the thin_restore image)
printing, for each, the best wall time of --repeat runs (the two tools'
runs interleaved, so a busy machine slows both alike), the best CPU time
(user + sys), the peak resident memory, and the ratios pdtool / thin tool.  It also checks that
both dumps are byte-identical and both checks pass, so a fast wrong answer
does not look like a win.  Figures only: exit 1 only if something failed.

    /usr/bin/python3 tests/bench_pdtool.py [--devices 4] [--mappings 250000]
        [--seed 1] [--repeat 3] [--keep DIR]
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PDTOOL = Path(os.environ.get('PD_BUILD', ROOT / 'build')) / 'pdtool'
sys.path.insert(0, str(Path(__file__).resolve().parent))
import xmlgen  # noqa: E402


def tool(name):
    return shutil.which(name) or '/usr/sbin/' + name


class Timing:
    """Best wall and CPU seconds and peak RSS over runs of one command."""

    def __init__(self):
        self.wall = self.cpu = None
        self.rss_mb = 0.0
        self.stdout = None


def run_once(args, stdout=False, before=None):
    """One run: (wall s, CPU s, peak RSS MiB, stdout text or None).

    The command runs under /usr/bin/time, whose small process forks it:
    a child forked from this (large) Python process would report Python's
    size as its peak."""
    if before:
        before()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile('r') as tm:
        t0 = time.perf_counter()
        p = subprocess.Popen(['/usr/bin/time', '-o', tm.name, '-f', '%e %U %S %M']
                             + [str(a) for a in args],
                             stdout=out if stdout else subprocess.DEVNULL,
                             stderr=err)
        p.wait()
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            err.seek(0)
            raise SystemExit('failed (%d): %s\n%s' % (
                p.returncode, ' '.join(map(str, args)),
                err.read()[-2000:].decode(errors='replace')))
        _, user, sys_, rss_kb = tm.read().split()[-4:]
        text = None
        if stdout:
            out.seek(0)
            text = out.read().decode()
    return dt, float(user) + float(sys_), int(rss_kb) / 1024.0, text


def timed_pair(a_args, b_args, repeat, stdout=False, a_before=None,
               b_before=None):
    """Run a and b alternately `repeat` times; their Timings."""
    ta, tb = Timing(), Timing()
    for _ in range(repeat):
        for args, t, before in ((a_args, ta, a_before), (b_args, tb, b_before)):
            wall, cpu, rss, text = run_once(args, stdout, before)
            t.wall = wall if t.wall is None else min(t.wall, wall)
            t.cpu = cpu if t.cpu is None else min(t.cpu, cpu)
            t.rss_mb = max(t.rss_mb, rss)
            t.stdout = text
    return ta, tb


def fresh(path, size):
    def make():
        if os.path.exists(path):
            os.unlink(path)
        with open(path, 'wb') as f:
            f.truncate(size)
    return make


def main():
    ap = argparse.ArgumentParser(description='pdtool vs thin_* timings')
    ap.add_argument('--devices', type=int, default=4)
    ap.add_argument('--mappings', type=int, default=250000,
                    help='random single mappings per device')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--size-mb', type=int, default=512,
                    help='metadata file size for both restores')
    ap.add_argument('--keep', default=None, help='keep files in this directory')
    a = ap.parse_args()
    if not PDTOOL.exists():
        raise SystemExit('%s missing: run make first' % PDTOOL)

    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix='bench_pdtool.'))
    work.mkdir(parents=True, exist_ok=True)
    try:
        xml = work / 'bench.xml'
        t0 = time.perf_counter()
        xml.write_text(xmlgen.generate(a.seed, devices=a.devices,
                                       mappings=a.mappings, bench=True))
        print('xml: %d devices x %d mappings, seed %d, %.1f MB, generated in %.1f s'
              % (a.devices, a.mappings, a.seed, xml.stat().st_size / 1e6,
                 time.perf_counter() - t0))
        timg, pimg = work / 'thin.img', work / 'pd.img'
        size = a.size_mb << 20
        rows = []

        rows.append(('restore',) + timed_pair(
            [tool('thin_restore'), '-i', xml, '-o', timg],
            [PDTOOL, 'restore', '-i', xml, '-o', pimg], a.repeat,
            a_before=fresh(timg, size), b_before=fresh(pimg, size)))
        rows.append(('check',) + timed_pair([tool('thin_check'), timg],
                                            [PDTOOL, 'check', timg], a.repeat))
        rows.append(('dump',) + timed_pair([tool('thin_dump'), timg],
                                           [PDTOOL, 'dump', timg], a.repeat,
                                           stdout=True))
        pt, pp = rows[-1][1], rows[-1][2]

        ok = pt.stdout == pp.stdout == xml.read_text()
        # cross-checks on the image pdtool wrote
        cross = subprocess.run([tool('thin_check'), '-q', pimg]).returncode == 0
        cross_dump = subprocess.run([tool('thin_dump'), pimg], capture_output=True,
                                    text=True).stdout == pt.stdout

        print('best of %d runs each, interleaved; CPU = user + sys' % a.repeat)
        print('%-8s %9s %9s %6s   %9s %9s %6s   %9s %9s' % (
            '', 'thin wall', 'pd wall', 'ratio', 'thin CPU', 'pd CPU', 'ratio',
            'thin MiB', 'pd MiB'))
        for name, tt, tp in rows:
            print('%-8s %9.3f %9.3f %6.2f   %9.3f %9.3f %6.2f   %9.1f %9.1f' % (
                name, tt.wall, tp.wall, tp.wall / tt.wall if tt.wall else 0,
                tt.cpu, tp.cpu, tp.cpu / tt.cpu if tt.cpu else 0,
                tt.rss_mb, tp.rss_mb))
        print('dumps identical: %s; thin_check on pdtool image: %s; '
              'thin_dump of pdtool image identical: %s'
              % (ok, 'clean' if cross else 'FAILED', cross_dump))
        return 0 if ok and cross and cross_dump else 1
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
