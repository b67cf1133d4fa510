"""The fuzz targets' kept inputs, replayed without libFuzzer.

Every target of tests/fuzz/ is also linked with tests/fuzz/driver.c (the
normal compiler and flags: with `make SAN=1 check`, ASan and UBSan) into
build/fuzz-regress/.  Each is fed every seed of tests/fuzz/corpus/TARGET/
and every crash the fuzzers found, kept in tests/fuzz/regress/TARGET/; a
crash, a sanitizer report or an input running past PD_FUZZ_TIMEOUT
seconds (SIGALRM) fails the test.
"""
import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get('PD_BUILD', ROOT / 'build'))
TARGETS = sorted(p.stem for p in (ROOT / 'tests' / 'fuzz').glob('fuzz_*.c'))


def inputs(target):
    dirs = [ROOT / 'tests' / 'fuzz' / kind / target
            for kind in ('corpus', 'regress')]
    return [d for d in dirs if d.is_dir()], \
        sum(1 for d in dirs if d.is_dir() for f in d.iterdir() if f.is_file())


def test_every_target_has_seeds():
    assert TARGETS, 'no tests/fuzz/fuzz_*.c'
    for t in TARGETS:
        assert inputs(t)[1] > 0, f'{t}: no corpus or regression inputs'


@pytest.mark.parametrize('target', TARGETS)
def test_fuzz_regress(target):
    exe = BUILD / 'fuzz-regress' / target
    assert exe.exists(), f'{exe} not built (make all builds it)'
    dirs, n = inputs(target)
    env = dict(os.environ, PD_FUZZ_TIMEOUT=os.environ.get('PD_FUZZ_TIMEOUT', '10'))
    r = subprocess.run([str(exe)] + [str(d) for d in dirs], capture_output=True,
                       text=True, errors='replace', env=env, timeout=600)
    tail = r.stderr[-3000:]
    if r.returncode < 0:
        pytest.fail(f'{target}: killed by {signal.Signals(-r.returncode).name} '
                    f'(SIGALRM: an input ran too long)\n{tail}')
    assert r.returncode == 0, f'{target}: exit {r.returncode}\n{tail}'
    assert 'runtime error' not in r.stderr, tail
    assert f'driver: {n} inputs run' in r.stderr, tail
