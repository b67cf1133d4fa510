"""`pool cache=none` (scenario.h): no block cache, only the blocks locked
now (core/bm.h BM11, harness/kernel/bufio.h KB9).  Its grammar, its
printing, one variant only, and runs on every backend, where each lock
of a block nobody holds reads the device."""
import json
import os
import re

import pytest

from test_pdcrash import run, scenario

BODY = """create 0
map 0 0..3
snap 1 0
map 0 4
map 1 4
commit
unmap 0 0
abort
delete 1
commit
check
"""
NONE = "pool data=200 meta=64 cache=none\n" + BODY


def names(j):
    return [os.path.basename(v["name"]) for v in j["per_variant"]]


def own(j, name):
    return [v for v in j["per_variant"]
            if os.path.basename(v["name"]) == name][0]


def run_json(path, *extra):
    r = run(["run", path, "--json"] + list(extra))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("value,what", [
    ("0", "at least 12 blocks (or default, or none)"),
    ("11", "at least 12 blocks (or default, or none)"),
    ("nothing", "cache: 'nothing' is not a number"),
])
def test_bad_cache_values_are_refused(tmp_path, value, what):
    r = run(["run", scenario(tmp_path, "pool cache=%s\n%s" % (value, BODY),
                             "bad")])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "bad.scn:1: pool " in r.stderr and what in r.stderr, r.stderr
    # the close's cache= takes the same values
    r = run(["run", scenario(tmp_path, "pool cache=64\ncreate 0\n"
                             "close cache=%s\n" % value, "bad")])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "bad.scn:3: close " in r.stderr and what in r.stderr, r.stderr


def test_close_takes_only_cache(tmp_path):
    r = run(["run", scenario(tmp_path, "create 0\nclose now\n", "bad")])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "bad.scn:2: close: unknown argument 'now' (cache=)" in r.stderr


def test_close_with_cache_none_changes_the_rest_of_the_run(tmp_path):
    """After `close cache=none` the ops write back at each lock: more
    writes than the same close with the pool's own cache."""
    setup = "pool data=200 meta=64 cache=64\ncreate 0\nmap 0 0..3\n"
    rest = "map 0 4..9\nsnap 1 0\nmap 1 2\ncommit\n"
    js = {}
    for cache in ("none", "64", "default"):
        js[cache] = run_json(scenario(tmp_path, setup + "close cache=%s\n"
                                      % cache + rest, "c" + cache))
        assert not js[cache]["violations"], cache
    assert (own(js["none"], "cnone")["writes_checked"] >
            own(js["64"], "c64")["writes_checked"])


def test_list_prints_cache_none_back():
    r = run(["list"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^reach/cache-none-relock +\d+ ops, data=\d+ meta=\d+ "
                     r"cache=none block-size=128$", r.stdout, re.M), r.stdout


def test_one_variant_and_more_reads_than_a_cache(tmp_path):
    """cache=none runs NAME alone (no +small), and its writes outnumber
    those of a cache big enough to hold everything: every dirty block goes
    out at the next lock, not at the commit."""
    none = run_json(scenario(tmp_path, NONE, "none"))
    assert names(none) == ["none"]
    big = run_json(scenario(tmp_path, NONE.replace("cache=none", "cache=64"),
                            "big"))
    assert names(big) == ["big", "big+small"]
    assert not none["violations"] and not big["violations"]
    assert none["per_variant"][0]["cut_points"] > own(big, "big")["cut_points"]


@pytest.mark.parametrize("backend", ["kernel-6.1", "kernel-6.12"])
def test_runs_on_the_kernel_backends(tmp_path, backend):
    path = scenario(tmp_path, NONE, "none")
    r = run(["run", path, "--tear", "--backend", backend, "--json"])
    if "not built" in r.stderr:
        pytest.skip(backend + " not built")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    j = json.loads(r.stdout)
    assert not j["violations"]
    assert names(j) == ["none@" + backend]
    # the kernel's writes too come before the commit's flush
    big = run(["run", scenario(tmp_path, NONE.replace("cache=none",
                                                      "cache=64"), "big"),
               "--backend", backend, "--json"])
    assert big.returncode == 0, big.stderr
    bj = json.loads(big.stdout)
    assert (j["per_variant"][0]["cut_points"] >
            own(bj, "big@" + backend)["cut_points"])


def test_diff_against_the_kernel_explains_everything(tmp_path):
    path = scenario(tmp_path, NONE, "none")
    r = run(["diff", path])
    if "not built" in r.stderr:
        pytest.skip("kernel-6.1 not built")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "no unexplained difference" in r.stdout, r.stdout


CACHE = """cache blocks=64 version=1 hint=4 discard=16 bm-cache=%s
map 0..7 1000
dirty 2..5
commit
unmap 3
discard 0..2
commit
"""


def test_dm_cache_metadata_with_no_block_cache(tmp_path):
    """bm-cache=none on a dm-cache line: the same mode for core/cache.c's
    block manager and the kernel's dm-bufio; one variant; bm-cache=11
    refused with a clear error."""
    r = run(["run", scenario(tmp_path, CACHE % "11", "bad")])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "bm-cache: 12..1048576 blocks (or none)" in r.stderr, r.stderr
    path = scenario(tmp_path, CACHE % "none", "cnone")
    roomy = run_json(scenario(tmp_path, CACHE % "64", "c64"))
    for backend in ("core", "kernel-6.1", "kernel-6.12"):
        r = run(["run", path, "--tear", "--backend", backend, "--json"])
        if backend != "core" and "not built" in r.stderr:
            continue
        assert r.returncode == 0, backend + r.stdout[-2000:] + r.stderr
        j = json.loads(r.stdout)
        assert not j["violations"], backend
        assert len(j["per_variant"]) == 1, backend
        if backend == "core":
            assert (j["per_variant"][0]["writes_checked"] >
                    own(roomy, "c64")["writes_checked"])
