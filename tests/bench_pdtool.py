#!/usr/bin/python3
"""tests/bench_pdtool.py - pdtool against thin-provisioning-tools 0.9.0.

Generates a 1,000,000-mapping XML (4 devices x 250,000 random single
mappings, tests/xmlgen.py --bench) and times, on the same input:
    thin_restore vs pdtool restore   (into a preallocated 512 MiB file each)
    thin_check   vs pdtool check     (on the thin_restore image)
    thin_dump    vs pdtool dump      (on the thin_restore image)
printing each time and the ratio pdtool / thin tool.  It also checks that
both dumps are byte-identical and both checks pass, so a fast wrong answer
does not look like a win.  Figures only: exit 1 only if something failed.

    /usr/bin/python3 tests/bench_pdtool.py [--devices 4] [--mappings 250000]
        [--seed 1] [--repeat 1] [--keep DIR]
"""
import argparse
import os
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


def timed(args, repeat, stdout=subprocess.DEVNULL, before=None):
    """Best wall time of `repeat` runs; the last run's completed process."""
    best = None
    p = None
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        p = subprocess.run([str(a) for a in args], stdout=stdout,
                           stderr=subprocess.PIPE, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit('failed (%d): %s\n%s' % (p.returncode, ' '.join(map(str, args)),
                                                       p.stderr[-2000:]))
        best = dt if best is None else min(best, dt)
    return best, p


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
    ap.add_argument('--repeat', type=int, default=1)
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

        t_thin, _ = timed([tool('thin_restore'), '-i', xml, '-o', timg], a.repeat,
                          before=fresh(timg, size))
        t_pd, _ = timed([PDTOOL, 'restore', '-i', xml, '-o', pimg], a.repeat,
                        before=fresh(pimg, size))
        rows.append(('restore', t_thin, t_pd))

        t_thin, _ = timed([tool('thin_check'), timg], a.repeat)
        t_pd, _ = timed([PDTOOL, 'check', timg], a.repeat)
        rows.append(('check', t_thin, t_pd))

        t_thin, pt = timed([tool('thin_dump'), timg], a.repeat,
                           stdout=subprocess.PIPE)
        t_pd, pp = timed([PDTOOL, 'dump', timg], a.repeat, stdout=subprocess.PIPE)
        rows.append(('dump', t_thin, t_pd))

        ok = pt.stdout == pp.stdout == xml.read_text()
        # cross-checks on the image pdtool wrote
        cross = subprocess.run([tool('thin_check'), '-q', pimg]).returncode == 0
        cross_dump = subprocess.run([tool('thin_dump'), pimg], capture_output=True,
                                    text=True).stdout == pt.stdout

        print('%-8s %12s %12s %8s' % ('', 'thin_* (s)', 'pdtool (s)', 'ratio'))
        for name, tt, tp in rows:
            print('%-8s %12.3f %12.3f %8.2f' % (name, tt, tp, tp / tt if tt else 0))
        print('dumps identical: %s; thin_check on pdtool image: %s; '
              'thin_dump of pdtool image identical: %s'
              % (ok, 'clean' if cross else 'FAILED', cross_dump))
        return 0 if ok and cross and cross_dump else 1
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
