"""pdcrash run --alloc-faults: an allocation failure (-ENOMEM, id part
em<N>) and a space-map -ENOSPC (es<N>) at the first hit of each allocation
call site of every run (harness/engine/driver.c, "The allocation plan").
The op must fail with the injected error and the workload aborts and goes
on; the crash states from the fault to the next good commit are checked.
Ids replay and minimize; the rule itself is tested in C
(tests/unit/test_alloc_faults.c)."""
import json
import os
import re

import pytest

from test_media import run, without_times

# A small cache: block-manager misses allocate all along the run.
SCN = """pool data=2000 meta=256 cache=16
create 0
map 0 0..30
commit
snap 1 0
map 1 0..10
unmap 0 3..12
commit
delete 1
commit
"""


@pytest.fixture
def fiu(fiu_built):
    """The allocation fault points exist only in a FIU=1 build (the
    default); a FIU=0 build refuses --alloc-faults (exit 2)."""
    if not fiu_built:
        pytest.skip("built with FIU=0: no allocation fault points")


def scenario(tmp_path):
    p = tmp_path / "alloc.scn"
    p.write_text(SCN)
    return "./alloc.scn"


def test_alloc_faults_clean_run_counts_hits_and_runs(fiu, tmp_path):
    scn = scenario(tmp_path)
    r = run(["run", scn, "--alloc-faults", "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["violations"] == []
    af = j["alloc_faults"]
    assert af["depth"] == 16
    assert af["site"] == "op"
    assert af["alloc_calls"] > 0 and af["new_block_calls"] > 0
    assert af["nomem_runs"] > 0 and af["nospace_runs"] > 0
    # a run per site, far fewer than per hit
    assert af["nomem_runs"] < af["alloc_calls"]
    assert af["nospace_runs"] < af["new_block_calls"]
    # every planned hit happens (the fault runs replay the planning run)
    assert af["fired"] == af["nomem_runs"] + af["nospace_runs"]
    assert af["failed_ops"] > 0
    assert j["injected_errors"] >= af["failed_ops"]
    # fewer frames, fewer sites; never more runs than hits
    r = run(["run", scn, "--alloc-faults", "--alloc-depth", "1", "--json"],
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a1 = json.loads(r.stdout)["alloc_faults"]
    assert a1["depth"] == 1
    assert a1["nomem_runs"] + a1["nospace_runs"] < \
        af["nomem_runs"] + af["nospace_runs"]
    # the text summary says it in a sentence
    r = run(["run", scn, "--alloc-faults"], cwd=tmp_path)
    assert r.returncode == 0
    assert re.search(r"allocation faults: \d+ allocations and \d+ space-map "
                     r"new_block calls .* \d+ -ENOMEM runs and \d+ -ENOSPC "
                     r"runs", r.stdout), r.stdout[-1500:]
    # without the option: no key, no runs
    r = run(["run", scn, "--json"], cwd=tmp_path)
    assert "alloc_faults" not in json.loads(r.stdout)


def alloc_runs(tmp_path, scn, *extra):
    r = run(["run", scn, "--alloc-faults", "--json"] + list(extra),
            cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["violations"] == []
    af = j["alloc_faults"]
    assert af["fired"] == af["nomem_runs"] + af["nospace_runs"]
    return af


def test_alloc_site_keys_refine_one_another(fiu, tmp_path):
    """--alloc-site: the frames alone, then the op's kind, its line, the
    op itself.  Each key splits the sites of the one before (a site of a
    finer key lies in one site of the coarser), so the runs never fall
    (here the frames already tell the op kinds apart: the thin_* entry
    is within the 16 frames); the two maps and three commits, each on a line
    of its own, add runs by line, and a map line's 31 single-block maps
    more by op."""
    scn = scenario(tmp_path)
    got = {}
    for key in ("frames", "op", "line", "each-op"):
        af = alloc_runs(tmp_path, scn, "--alloc-site", key)
        assert af["site"] == key
        got[key] = af["nomem_runs"] + af["nospace_runs"]
    assert got["frames"] <= got["op"] < got["line"] < got["each-op"], got
    # the default is op
    assert alloc_runs(tmp_path, scn)["nomem_runs"] == \
        alloc_runs(tmp_path, scn, "--alloc-site", "op")["nomem_runs"]


def test_alloc_site_bad_values_exit_2(fiu, tmp_path):
    scn = scenario(tmp_path)
    for args, msg in ((["--alloc-faults", "--alloc-site", "stack"],
                       "--alloc-site must be frames, op, line or each-op"),
                      (["--alloc-faults", "--alloc-site"],
                       "--alloc-site needs a value"),
                      (["--alloc-site", "op"],
                       "--alloc-site needs --alloc-faults")):
        r = run(["run", scn] + args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert msg in r.stderr, r.stderr


def test_each_op_sweep_equals_serial_runs(fiu, tmp_path):
    """The finest key plans hits the coarse ones never fail; the linear
    sweep forks at exactly those (the ids name the hit only)."""
    scn = scenario(tmp_path)
    args = ["run", scn, "--alloc-faults", "--alloc-site", "each-op",
            "--json", "--jobs", "2"]
    a = run(args, cwd=tmp_path)
    env = dict(os.environ, PDCRASH_SWEEP="serial")
    b = run(args, env=env, cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert without_times(json.loads(a.stdout)) == \
        without_times(json.loads(b.stdout))


def test_alloc_sweep_equals_serial_runs(fiu, tmp_path):
    scn = scenario(tmp_path)
    a = run(["run", scn, "--alloc-faults", "--json", "--jobs", "2"],
            cwd=tmp_path)
    env = dict(os.environ, PDCRASH_SWEEP="serial")
    b = run(["run", scn, "--alloc-faults", "--json", "--jobs", "2"],
            env=env, cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert without_times(json.loads(a.stdout)) == \
        without_times(json.loads(b.stdout))


def test_dm_cache_scenarios_have_alloc_fault_runs(fiu):
    """No longer skipped (tests/test_cache_faults.py has more)."""
    r = run(["run", "cache/basic", "--alloc-faults", "--json"])
    assert r.returncode == 0, r.stderr
    assert "skipped" not in r.stderr, r.stderr
    af = json.loads(r.stdout)["alloc_faults"]
    assert af["nomem_runs"] + af["nospace_runs"] > 0 and af["fired"] > 0, af


def test_clean_alloc_ids_replay(fiu, tmp_path):
    scn = scenario(tmp_path)
    # a live id of a fault run: the run agrees with its model, and replay
    # says where the failure happened and what came of it
    for kind, what in (("em", r"allocation (\d+) returned NULL \(-ENOMEM\)"),
                       ("es", r"space-map new_block call (\d+) returned "
                              r"-ENOSPC")):
        ident = "./alloc:s1:live:%s40" % kind
        r = run(["replay", ident], cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        m = re.search("allocation failure: " + what + r" at log entry \d+, "
                      r"in op \d+ '[^']+'; an op failed with it", r.stdout)
        assert m and m.group(1) == "40", r.stdout
        assert "outcome: agrees" in r.stdout
    # a hit the run never makes: said so
    r = run(["replay", "./alloc:s1:live:em999999"], cwd=tmp_path)
    assert r.returncode == 0
    assert "allocation failure: never happened" in r.stdout


@pytest.mark.parametrize("bad", ["eM3", "eS3", "em0", "es0", "ex3"])
def test_alloc_fault_ids_parse(tmp_path, bad):
    scenario(tmp_path)
    r = run(["replay", "./alloc:s1:c1:l-:" + bad], cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "fault is not" in r.stderr and "mN or sN" in r.stderr


def crash_ids(j, kind):
    return [i for i in j["violations"]
            if re.search(r":c\d+:", i) and re.search(r":%s\d+$" % kind, i)]


def cut_of(ident):
    return int(re.search(r":c(\d+):", ident).group(1))


def test_alloc_ids_of_a_planted_bug_replay_and_minimize(fiu, tmp_path,
                                                        mutants_exe):
    """no-flush-before-superblock breaks every commit, so the fault runs'
    commits after the abort show it too: their ids carry em/es, replay as
    violations and minimize to a scenario whose id keeps the kind."""
    mutant = "no-flush-before-superblock"
    scn = scenario(tmp_path)
    r = run(["run", scn, "--alloc-faults", "--mutant", mutant, "--json",
             "--no-continue"], exe=mutants_exe, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    j = json.loads(r.stdout)
    em = [i for i in crash_ids(j, "em") if "+small" not in i]
    es = [i for i in crash_ids(j, "es") if "+small" not in i]
    assert em and es, j["violations"][:20]
    for ident in (em[0], es[0]):
        a = run(["replay", ident, "--mutant", mutant], exe=mutants_exe,
                cwd=tmp_path)
        b = run(["replay", ident, "--mutant", mutant], exe=mutants_exe,
                cwd=tmp_path)
        assert a.returncode == 1, a.stdout + a.stderr
        assert "outcome: violation" in a.stdout
        assert "allocation failure: " in a.stdout
        assert a.stdout == b.stdout
    last = max(em, key=cut_of)
    r = run(["minimize", last, "--mutant", mutant], exe=mutants_exe,
            cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    m = re.search(r"^ops: (\d+) up to the cut -> (\d+)", r.stdout, re.M)
    new = re.search(r"^new id: (\S+)$", r.stdout, re.M)
    assert m and new, r.stdout
    assert int(m.group(2)) < int(m.group(1))
    assert re.search(r":em\d+$", new.group(1)), new.group(1)
    a = run(["replay", new.group(1), "--mutant", mutant], exe=mutants_exe,
            cwd=tmp_path)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "allocation failure: allocation" in a.stdout


@pytest.mark.parametrize("args,what", [
    (["--alloc-depth", "4"], "--alloc-depth needs --alloc-faults"),
    (["--alloc-faults", "--alloc-depth", "0"], "--alloc-depth must be 1..32"),
    (["--alloc-faults", "--alloc-depth", "33"], "--alloc-depth must be 1..32"),
    (["--alloc-faults", "--fiu", "core/alloc:3"], "cannot be combined"),
    (["--alloc-faults=1"], "unknown option '--alloc-faults=1'"),
    (["--alloc-faults", "--damage"], "--alloc-faults, --backend"),
])
def test_alloc_faults_bad_usage_exits_2(tmp_path, fiu_built, args, what):
    scn = scenario(tmp_path)
    r = run(["run", scn] + args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    if not fiu_built and "--fiu" in args:
        what = "needs a build with libfiu points"    # --fiu refused first
    assert what in r.stderr


def test_alloc_faults_core_backend_only(tmp_path):
    scn = scenario(tmp_path)
    r = run(["run", scn, "--alloc-faults", "--backend", "kernel-6.1"],
            cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    # either this pdcrash has no kernel backend, or it refuses the pair
    assert "--alloc-faults: backend kernel-6.1" in r.stderr or \
        "not built" in r.stderr, r.stderr


def test_half_built_node_fails_the_abort(fiu, tmp_path, mutants_exe):
    """split-beneath-uninit-left: the right child's allocation fails and
    the zeroed left node is left dirty.  The abort holds every dirty block
    to its validator as dm-bufio's write-back at reset would (core/bm.h
    BM9) and fails; in a run with allocation faults only, nothing on the
    disk can explain that: a live failure, whose id replays.  The normal
    build aborts cleanly at the same faults."""
    (tmp_path / "split.scn").write_text(
        "pool data=2000 meta=256\ncreate 0\nmap 0 0..299\ncommit\n")
    mutant = "split-beneath-uninit-left"
    r = run(["run", "./split.scn", "--alloc-faults", "--mutant", mutant,
             "--json"], exe=mutants_exe, cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    ids = json.loads(r.stdout)["violations"]
    live = [i for i in ids if re.search(r":live:e[ms]\d+$", i)]
    assert live, ids
    a = run(["replay", live[0], "--mutant", mutant], exe=mutants_exe,
            cwd=tmp_path)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "the abort after an error failed with" in a.stdout
    assert "BM9" in a.stdout
    b = run(["replay", live[0]], cwd=tmp_path)
    assert b.returncode == 0, b.stdout + b.stderr
    r = run(["run", "./split.scn", "--alloc-faults", "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_sm_root_copy_failure_is_swept(fiu, tmp_path, mutants_exe):
    """sm/copy_root counts with the allocations (em<N>): each commit's
    copy of a space-map root is failed at its call site, as a failed
    allocation is.  sm-roots-copied-under-lock writes the superblock back
    with stale space-map roots when a copy fails after it was locked: the
    sweep alone catches it (no --fiu), the id replays, and the normal build
    unwinds every such failure cleanly."""
    (tmp_path / "commit.scn").write_text(
        "pool data=2000 meta=256\ncreate 0\nmap 0 0..9\ncommit\n"
        "map 0 10..19\ncommit\n")
    mutant = "sm-roots-copied-under-lock"
    r = run(["run", "./commit.scn", "--alloc-faults", "--mutant", mutant,
             "--json", "--no-continue"], exe=mutants_exe, cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    ids = json.loads(r.stdout)["violations"]
    assert ids and all(re.search(r":em\d+$", i) for i in ids), ids
    a = run(["replay", ids[0], "--mutant", mutant], exe=mutants_exe,
            cwd=tmp_path)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "reference count" in a.stdout or "leaked" in a.stdout, a.stdout
    r = run(["run", "./commit.scn", "--alloc-faults", "--json"],
            cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def faulted_passes(tmp_path, kind):
    """Replay every cut of the fault run `kind` (an id part: em40, er5):
    the lines `faulted pass: ...` and the outcomes."""
    r = run(["replay", "./alloc:s1:live:" + kind], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    n = int(re.search(r"(\d+) log entries", r.stdout).group(1))
    passes, outcomes = {}, {}
    for c in range(1, n + 1):
        ident = "./alloc:s1:c%d:l-:%s" % (c, kind)
        r = run(["replay", ident], cwd=tmp_path)
        assert r.returncode in (0, 2), r.stdout + r.stderr
        if r.returncode:        # a cut with no crash state of its own
            continue
        m = re.search(r"^faulted pass: (.*)$", r.stdout, re.M)
        assert m, r.stdout
        passes[ident] = m.group(1)
        outcomes[ident] = re.search(r"^outcome: (\w+)", r.stdout,
                                    re.M).group(1)
    return passes, outcomes


@pytest.mark.parametrize("kind,fault,err", [
    ("em40", "allocation", "out of memory"),
    ("er5", "read", "I/O error"),
])
def test_recovery_runs_a_faulted_pass_first(fiu, tmp_path, kind, fault, err):
    """Each crash state of a fault run is recovered first with one
    allocation (an em/es run) or one read (an IO run) failing in the open,
    the check of the trees or the digest (explore.c, "The faulted pass"):
    the step answers the fault's own error, the clean pass then recovers,
    and replay does the same pass, the same way twice.  A fault-free id
    replays with a read's faulted pass (an --io-errors run's fault-free
    run recovers its states through one: an e0 id cannot say which run
    printed it), never with an allocation's."""
    scenario(tmp_path)
    passes, outcomes = faulted_passes(tmp_path, kind)
    assert passes, "no crash state replayed"
    assert set(outcomes.values()) <= {"rollback", "rollforward"}, outcomes
    fired = {i: p for i, p in passes.items() if " failed; " in p}
    for p in fired.values():
        assert re.match(r"%s \d+(, sticky,)? of (the open|the check of the "
                        r"trees|the digest) failed; it answered (%s|success)"
                        % (fault, err), p), p
    # past the open: the steps the pass exists for
    deep = [i for i, p in fired.items()
            if "of the open" not in p and err in p]
    assert deep, passes
    a = run(["replay", deep[0]], cwd=tmp_path)
    b = run(["replay", deep[0]], cwd=tmp_path)
    assert a.returncode == 0 and a.stdout == b.stdout
    r = run(["replay", deep[0].rsplit(":", 1)[0] + ":e0"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "faulted pass: allocation" not in r.stdout
    assert re.search(r"^faulted pass: read \d+", r.stdout, re.M), r.stdout


SNAP_SCN = """pool data=2000 meta=256
create 0
map 0 0..20
meta-snap
commit
meta-snap-check
map 0 30
commit
"""


def test_snapshot_view_allocations_fail_as_the_pools(fiu, tmp_path):
    """The meta-snap-check op's view of the held snapshot (core
    thin_pool_open_metadata_snap) allocates as the pool's own: the sweep
    fails the first hit of its sites too, the op answers -ENOMEM, the
    workload aborts and goes on, its states check clean, and the live id
    of such a run replays naming that op."""
    (tmp_path / "snap.scn").write_text(SNAP_SCN)
    r = run(["run", "./snap.scn", "--alloc-faults", "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    af = json.loads(r.stdout)["alloc_faults"]
    assert af["fired"] == af["failed_ops"], af
    # find the runs whose failure fell in the view: every hit of the
    # fault-free run, replayed as a live id, says in which op it failed
    ops = {}
    for n in range(1, af["alloc_calls"] + 1):    # both variants' hits
        r = run(["replay", "./snap:s1:live:em%d" % n], cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        if "allocation failure: never happened" in r.stdout:
            break
        m = re.search(r"returned NULL \(-ENOMEM\) at log entry \d+, in "
                      r"(?:op \d+ '([^']+)'|the format)(.*)$", r.stdout,
                      re.M)
        assert m, r.stdout
        ops.setdefault(m.group(1), []).append((n, m.group(2)))
    assert "meta-snap-check" in ops, sorted(ops)
    for n, what in ops["meta-snap-check"]:
        assert what.startswith("; an op failed with it"), (n, what)
