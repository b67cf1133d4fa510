"""Bad command lines: every option of pdcrash and pdtool given a missing,
empty, negative, huge and garbage value must end in exit 2 and a message
that names the option, never in a crash (a signal) or an exit above 2.

The rest of each command line is valid (a real image, a real id, a small
scenario), so the option under test is the only thing wrong; a command
that accepts the bad value and runs is a failure too (it exits 0 or 1).
"""
import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get('PD_BUILD', ROOT / 'build'))
PDCRASH = BUILD / 'pdcrash'
PDTOOL = BUILD / 'pdtool'

HUGE = '99999999999999999999999'
BAD_VALUES = {'missing': None, 'empty': '', 'negative': '-1', 'huge': HUGE,
              'garbage': 'x7!'}

XML = '''<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="100">
  <device dev_id="0" mapped_blocks="1" transaction="0" creation_time="0" snap_time="0">
    <single_mapping origin_block="0" data_block="5" time="0"/>
  </device>
</superblock>
'''
SCENARIO = 'pool data=100 meta=64\ncreate 0\nmap 0 0\ncommit\n'


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp('cli')
    (d / 'in.xml').write_text(XML)
    (d / 'tiny.scn').write_text(SCENARIO)
    r = subprocess.run([str(PDTOOL), 'restore', '-i', str(d / 'in.xml'),
                        '-o', str(d / 'img')], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return d


def run(args, cwd):
    r = subprocess.run([str(a) for a in args], capture_output=True,
                       timeout=120, cwd=cwd, text=True, errors='replace')
    return r


def check_bad(args, option, cwd, named=None):
    r = run(args, cwd)
    what = f'{" ".join(map(str, args))}: exit {r.returncode}\n{r.stderr[-2000:]}'
    assert r.returncode >= 0, f'killed by signal {signal.Signals(-r.returncode).name}: {what}'
    assert r.returncode == 2, what
    assert (named or option) in r.stderr, f'message does not name {named or option}: {what}'
    assert 'Sanitizer' not in r.stderr and 'runtime error' not in r.stderr, what


def with_value(prefix, option, value, suffix):
    """prefix OPTION VALUE suffix, or (missing) prefix suffix OPTION."""
    if value is None:
        return prefix + suffix + [option]
    return prefix + [option, value] + suffix


# (command, option, which bad values): numbers get all five; file and
# name options those that cannot be a valid value.
NUMERIC = list(BAD_VALUES)
PDCRASH_OPTS = [
    ('run', '--seed', NUMERIC),
    ('run', '--jobs', NUMERIC + ['zero']),
    ('run', '--shard', NUMERIC + ['k-ge-n']),
    ('run', '--report', ['missing', 'empty']),
    ('run', '--fiu', NUMERIC + ['nth-garbage', 'nth-huge', 'nth-zero']),
    ('run', '--mutant', NUMERIC),
    ('run', '--alloc-depth', NUMERIC + ['zero', 'too-deep']),
    ('replay', '--save-image', ['missing', 'empty']),
    ('replay', '--expected-xml', ['missing', 'empty']),  # an output file: any name goes
    ('replay', '--fiu', NUMERIC),
    ('replay', '--mutant', NUMERIC),
    ('minimize', '-o', ['missing', 'empty', 'garbage']),
    ('minimize', '--mutant', NUMERIC),
]
EXTRA = {'zero': '0', 'too-deep': '33', 'k-ge-n': '3/3', 'nth-garbage': 'core/alloc:x',
         'nth-huge': 'core/alloc:' + HUGE, 'nth-zero': 'core/alloc:0'}


def value_of(kind):
    return BAD_VALUES[kind] if kind in BAD_VALUES else EXTRA[kind]


@pytest.mark.parametrize('cmd,option,kind', [
    (c, o, k) for c, o, ks in PDCRASH_OPTS for k in ks],
    ids=lambda v: v if isinstance(v, str) else None)
def test_pdcrash_option(files, cmd, option, kind):
    if cmd == 'run':
        prefix, suffix = ['run'], [files / 'tiny.scn']
    else:
        prefix, suffix = [cmd], [str(files / 'tiny') + ':s1:c3:p0-of-4:e0']
    args = [PDCRASH] + with_value(prefix, option, value_of(kind), suffix)
    check_bad(args, option, files)


@pytest.mark.parametrize('kind', ['empty', 'garbage', 'huge-seed', 'huge-cut',
                                  'negative-cut', 'huge-choice', 'huge-fault'])
@pytest.mark.parametrize('cmd', ['replay', 'minimize'])
def test_pdcrash_bad_id(files, cmd, kind):
    base = str(files / 'tiny')
    ids = {'empty': '', 'garbage': 'x7!',
           'huge-seed': f'{base}:s{HUGE}:c3:p0-of-4:e0',
           'huge-cut': f'{base}:s1:c{HUGE}:p0-of-4:e0',
           'negative-cut': f'{base}:s1:c-1:p0-of-4:e0',
           'huge-choice': f'{base}:s1:c3:p0-of-{HUGE}:e0',
           'huge-fault': f'{base}:s1:c3:p0-of-4:ew{HUGE}'}
    check_bad([PDCRASH, cmd, ids[kind]], '', files, named='pdcrash')


@pytest.mark.parametrize('args', [[], ['bogus'], ['run', '--bogus'],
                                  ['merge'], ['merge', '--bogus'],
                                  ['merge', ''], ['list', 'extra'],
                                  ['run', '--seed=1'],
                                  ['run', '--alloc-faults=1']],
                         ids=lambda a: '_'.join(a) or 'none')
def test_pdcrash_bad_command(files, args):
    check_bad([PDCRASH] + args, '', files, named='pdcrash')


PDTOOL_OPTS = [
    ('dump', '-o', ['missing', 'empty']),
    ('dump', '--dev-id', NUMERIC + ['too-big-dev']),
    ('restore', '-i', ['missing', 'empty']),
    ('restore', '-o', ['missing', 'empty']),
    ('restore', '--transaction-id', NUMERIC),
    ('restore', '--data-block-size', NUMERIC),
    ('restore', '--nr-data-blocks', NUMERIC),
]
EXTRA['too-big-dev'] = str(1 << 24)


@pytest.mark.parametrize('cmd,option,kind', [
    (c, o, k) for c, o, ks in PDTOOL_OPTS for k in ks])
def test_pdtool_option(files, cmd, option, kind):
    v = value_of(kind)
    if cmd == 'dump':
        args = with_value(['dump'], option, v, [files / 'img'])
    else:
        rest = {'-i': ['-o', files / 'out.img'], '-o': ['-i', files / 'in.xml']}
        suffix = rest.get(option, ['-i', files / 'in.xml', '-o', files / 'out.img'])
        args = with_value(['restore'], option, v, suffix)
    check_bad([PDTOOL] + args, option, files)
    assert not (files / 'out.img').exists() or kind == 'missing'


@pytest.mark.parametrize('arg', ['-m-1', '-m' + HUGE, '-mx7!', '--metadata-snap=',
                                 '--metadata-snap=-1', '--metadata-snap=' + HUGE,
                                 '--metadata-snapx', '-m=3'])
def test_pdtool_dump_metadata_snap(files, arg):
    check_bad([PDTOOL, 'dump', arg, files / 'img'], arg, files)


@pytest.mark.parametrize('args', [[], ['bogus'], ['check'], ['check', ''],
                                  ['check', '--bogus'], ['dump'], ['dump', ''],
                                  ['restore'], ['check', '/nonexistent/x'],
                                  ['dump', '/nonexistent/x']],
                         ids=lambda a: '_'.join(a) or 'none')
def test_pdtool_bad_command(files, args):
    check_bad([PDTOOL] + args, '', files, named='pdtool')
