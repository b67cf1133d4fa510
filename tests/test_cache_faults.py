"""The fault modes of pdcrash run on the dm-cache scenarios (issues 15 and
16): --media-faults (bit rot at every read, a lost sector at every write),
--alloc-faults (-ENOMEM and a space-map -ENOSPC at each allocation call
site) and --fiu NAME[:N] run the cache workload
(harness/engine/cache_workload.c) as they run the thin one: an error the
run injected aborts (needs_check set) and the run goes on, anything else
is compared with the cache oracle, and the crash states from the fault to
the next good commit are checked.  The planted bug skip-read-checksum is
caught on a cache scenario, and its ids replay and minimize."""
import json
import os
import re

import pytest

from test_media import run, without_times

# dm-cache scenarios whose runs read metadata back (a reopen, a clean
# shutdown, the small cache), so bit rot meets the validators.
MEDIA_SCN = ["cache/shutdown", "cache/v2"]


@pytest.fixture
def fiu(fiu_built):
    if not fiu_built:
        pytest.skip("built with FIU=0: no allocation fault points")


def run_json(args, exe=None, rc=0):
    kw = {"exe": exe} if exe else {}
    r = run(["run"] + args + ["--json", "--jobs", "2"], **kw)
    assert r.returncode == rc, r.stdout[-3000:] + r.stderr[-2000:]
    return json.loads(r.stdout), r.stderr


def test_cache_media_faults_run_and_survive():
    j, err = run_json(MEDIA_SCN + ["--media-faults", "--tear"])
    assert "skipped" not in err, err
    assert j["violations"] == []
    mf = j["media_faults"]
    assert mf["runs"] > 0 and mf["fired"] > 0, mf
    assert mf["refused"] > 0, mf            # the validators refused bit rot
    assert j["injected_errors"] > 0
    # lost sectors met by recovery are detected, and only with the option
    assert j["outcomes"]["detected"] > 0
    j0, _ = run_json(MEDIA_SCN)
    assert "media_faults" not in j0 and j0["outcomes"]["detected"] == 0
    assert j["states"] > j0["states"]       # the fault runs' states


def test_cache_alloc_faults_run_and_survive(fiu):
    j, err = run_json(["cache/basic", "cache/v2", "--alloc-faults"])
    assert "skipped" not in err, err
    assert j["violations"] == []
    af = j["alloc_faults"]
    assert af["nomem_runs"] > 0 and af["nospace_runs"] > 0, af
    assert af["fired"] > 0 and af["failed_ops"] > 0, af
    j0, _ = run_json(["cache/basic", "cache/v2"])
    assert j["states"] > j0["states"]


@pytest.mark.parametrize("mode", ["--media-faults", "--alloc-faults"])
def test_cache_sweep_equals_serial_runs(fiu, mode):
    """The forked sweep (driver.c) gives what running every fault run of
    the cache workload from the start gives."""
    a = run(["run", "cache/basic", mode, "--json", "--jobs", "2"])
    env = dict(os.environ, PDCRASH_SWEEP="serial")
    b = run(["run", "cache/basic", mode, "--json", "--jobs", "2"], env=env)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert without_times(json.loads(a.stdout)) == \
        without_times(json.loads(b.stdout))


@pytest.mark.parametrize("point", ["core/alloc:60", "sm/new_block:20",
                                   "sm/copy_root:3", "bdev/read:10",
                                   "bdev/write:40", "bdev/flush:4"])
def test_cache_fiu_points(fiu, point):
    j, err = run_json(["cache/v2", "cache/shutdown", "--fiu", point])
    assert "skipped" not in err and "not modelled" not in err, err
    assert j["violations"] == []
    assert j["injected_errors"] > 0, point


def test_cache_alloc_id_replays(fiu):
    r = run(["replay", "cache/basic:s1:live:em40"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"allocation failure: allocation 40 returned NULL "
                     r"\(-ENOMEM\) at log entry \d+, in op \d+ '[^']+'; an "
                     r"op failed with it", r.stdout), r.stdout


def test_skip_read_checksum_caught_on_cache(mutants_exe, tmp_path):
    mutant = ["--mutant", "skip-read-checksum"]
    # without media faults the planted bug does not show
    run_json(["cache/shutdown"] + mutant, exe=mutants_exe)
    j, _ = run_json(["cache/shutdown", "--media-faults"] + mutant,
                    exe=mutants_exe, rc=1)
    ids = j["violations"]
    crash = [i for i in ids if re.search(r":c\d+:[^:]+:eb\d+$", i)]
    live = [i for i in ids if re.search(r":live:eb\d+$", i)]
    assert crash and live, ids
    # each replays to the same outcome, the same way twice
    for vid in (crash[0], live[0]):
        a = run(["replay", vid] + mutant, exe=mutants_exe)
        b = run(["replay", vid] + mutant, exe=mutants_exe)
        assert a.returncode == 1, a.stdout + a.stderr
        assert "outcome: violation" in a.stdout and a.stdout == b.stdout
        msg = j["violation_messages"].get(vid, "")
        assert msg and msg.splitlines()[0] in a.stdout, (msg, a.stdout)
    assert "the core did not refuse it" in a.stdout or "live run" in a.stdout
    # a crash-state id minimizes to a short cache scenario that still fails
    out = str(tmp_path / "min.scn")
    r = run(["minimize", crash[0], "-o", out] + mutant, exe=mutants_exe,
            cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    lines = [ln for ln in open(out).read().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0].startswith("cache ") and len(lines) <= 8, lines
    new = [ln.split()[-1] for ln in r.stdout.splitlines()
           if ln.startswith("new id: ")][0]
    rp = run(["replay", new] + mutant, exe=mutants_exe, cwd=tmp_path)
    assert rp.returncode == 1 and "outcome: violation" in rp.stdout, rp.stdout
    # the correct core refuses the rotten blocks instead
    run_json(["cache/shutdown", "--media-faults"])
