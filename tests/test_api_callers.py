"""The thin API called the ways its real callers call it (scenario.h):
`pool cache=default` (no cache size named), `pool format=open` (the
format through thin_pool_open with THIN_OPEN_FORMAT, dm-thin's way) and
`unmap DEV A..B` with A = B + 1 (the empty range, no count asked):
their grammar, their runs on every backend, and what each must leave."""
import json

import pytest

from test_pdcrash import run, scenario

BODY = """create 0
map 0 0..19
unmap 0 5..4
lookup 0 4..5
commit
unmap 0 10..9
commit
unmap 0 3..12
status
commit
status
check
"""


def run_json(path, *extra):
    r = run(["run", path, "--json"] + list(extra))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("text,line,what", [
    ("pool cache=deflt\ncreate 0\n", 1, "pool cache: 'deflt' is not a number"),
    ("pool cache=8\ncreate 0\n", 1, "at least 12 blocks (or default, or none)"),
    ("pool format=close\ncreate 0\n", 1, "pool format: unknown 'close' (open)"),
    ("pool formt=open\n", 1, "unknown key 'formt' (data meta cache block-size "
     "format)"),
    # only unmap takes the empty range; a misuse names A > B + 1
    ("create 0\nmap 0 5..4\n", 2, "empty range '5..4'"),
    ("create 0\nlookup 0 5..4\n", 2, "only unmap A..B takes A = B + 1"),
    ("create 0\nunmap 0 5..4 expect=EINVAL\n", 2,
     "A = B + 1 is a legal empty range"),
    ("create 0\nunmap 0 9..2\n", 2, "A = B + 1 is the empty range"),
])
def test_bad_lines(tmp_path, text, line, what):
    r = run(["run", scenario(tmp_path, text, "bad")])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "bad.scn:%d: " % line in r.stderr, r.stderr
    assert what in r.stderr, r.stderr


@pytest.mark.parametrize("pool", ["pool data=1000 meta=256",
                                  "pool data=1000 meta=256 cache=default",
                                  "pool data=1000 meta=256 format=open",
                                  "pool data=1000 meta=256 cache=default "
                                  "format=open"])
def test_runs_on_every_backend(tmp_path, pool):
    path = scenario(tmp_path, pool + "\n" + BODY, "api")
    for be in ("core", "kernel-6.1", "kernel-6.12"):
        r = run(["run", path, "--backend", be, "--json"])
        if be != "core" and "not built" in r.stderr:
            continue
        assert r.returncode == 0, be + r.stdout[-2000:] + r.stderr
        assert not json.loads(r.stdout)["violations"], be
        # the empty range is no caller misuse: the kernels run it too
        assert "skipped" not in r.stderr, be + r.stderr


def test_format_through_the_open_writes_what_the_format_writes(tmp_path):
    """The open's format is thin_pool_format after a look at block 0: the
    same writes, so the same cuts and crash states, with and without
    faults."""
    plain = scenario(tmp_path, "pool data=1000 meta=256\n" + BODY, "plain")
    byopen = scenario(tmp_path, "pool data=1000 meta=256 format=open\n" +
                      BODY, "byopen")
    for extra in ([], ["--tear"]):
        a, b = run_json(plain, *extra), run_json(byopen, *extra)
        for k in ("cut_points", "states", "writes_checked", "states_total"):
            assert a[k] == b[k], (extra, k, a[k], b[k])


def test_the_empty_range_leaves_the_pool_clean(tmp_path):
    """The commit right after an empty range on a clean pool must write
    nothing: it is one commit fewer that writes, so one state fewer than
    the same run with a one-block range there."""
    head = "pool data=1000 meta=256\ncreate 0\nmap 0 0..19\ncommit\n"
    empty = run_json(scenario(tmp_path, head + "unmap 0 30..29\ncommit\n",
                              "empty"))
    one = run_json(scenario(tmp_path, head + "unmap 0 30..30\ncommit\n",
                            "one"))
    assert not empty["violations"] and not one["violations"]
    assert empty["writes_checked"] < one["writes_checked"], (empty, one)


def test_the_empty_range_of_a_missing_device_is_enodata(tmp_path):
    path = scenario(tmp_path, "create 0\nunmap 7 3..2 expect=ENODATA\n"
                    "commit\n", "good")
    assert not run_json(path)["violations"]
    bad = scenario(tmp_path, "create 0\nunmap 0 3..2 expect=ENODATA\n",
                   "bad")
    r = run(["run", bad])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "returned 0 (success), as the model predicts" in r.stdout, \
        r.stdout + r.stderr
