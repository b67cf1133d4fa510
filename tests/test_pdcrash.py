"""pdcrash: the command line, scenarios, ids, determinism, jobs, shards,
replay and planted bugs.  Small scenarios keep this file fast; the full
suite runs under `make crashtest`."""
import json
import re
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")

SMALL = """pool data=2000 meta=256
create 0
map 0 0..40
commit
snap 1 0
map 1 0..5
unmap 0 3..9
commit
"""


def run(args, **kw):
    return subprocess.run([PDCRASH] + args, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), **kw)


def hook_env(**hooks):
    """The environment with self-test hooks set.  A sanitizer build would
    catch the hook's SIGSEGV itself and exit 1; handle_segv=0 leaves the
    signal to the harness, whose report is what the tests check."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") +
                "handle_segv=0", **hooks)


def scenario(tmp_path, text, name="small"):
    p = tmp_path / (name + ".scn")
    p.write_text(text)
    return str(p)


def without_times(j, memo_too=False):
    """The JSON without timings (and, with memo_too, without the count of
    recoveries run, which is what the memo saves)."""
    j = dict(j)
    for k in ("seconds", "states_per_second", "jobs"):
        j.pop(k, None)
    if memo_too:
        j.pop("recoveries", None)
        j["per_variant"] = [{k: v for k, v in pv.items() if k != "recoveries"}
                            for pv in j.get("per_variant", [])]
    return j


def test_help_and_usage():
    r = run(["--help"])
    assert r.returncode == 0
    for word in ("run", "replay", "--seed", "--tear", "--jobs", "--shard",
                 "--report", "--json"):
        assert word in r.stdout
    r = run(["run", "--frobnicate"])
    assert r.returncode == 2
    assert "unknown option '--frobnicate'" in r.stderr
    assert "usage:" in r.stderr
    r = run(["explode"])
    assert r.returncode == 2
    r = run([])
    assert r.returncode == 2


@pytest.mark.parametrize("text,line,what", [
    ("create 0\nmap 0 x\n", 2, "not a number"),
    ("create 0\nfrob 1\n", 2, "unknown op 'frob'"),
    ("# c\ncreate\n", 2, "takes 1 argument"),
    ("create 0\nmap 0 9..3\n", 2, "empty range"),
    ("create 0\ncommit\npool data=5\n", 3, "must come once"),
    ("random ops=10 mix=map:0\n", 1, "all weights are zero"),
    ("create 16777216\n", 1, "out of range"),
])
def test_bad_scenario_names_file_and_line(tmp_path, text, line, what):
    path = scenario(tmp_path, text, "bad")
    r = run(["run", path])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "%s:%d:" % (path, line) in r.stderr
    assert what in r.stderr
    assert r.stdout == ""            # nothing ran


def test_missing_scenario_is_bad_input(tmp_path):
    r = run(["run", str(tmp_path / "nope.scn")])
    assert r.returncode == 2
    assert "nope.scn" in r.stderr


@pytest.mark.parametrize("bad", [
    "x", "a:s1:c2:p3:e0", "a:s1:c2:p3-of-2:e0", "a:sX:c2:p0-of-2:e0",
    "a:s1:c2:p0-of-2:q0", "a:s1:c2:p0-of-2:z:e0", "a:s1:c2:p0-of-2:ew0",
])
def test_malformed_id_is_usage_error(bad):
    r = run(["replay", bad])
    assert r.returncode == 2
    assert "malformed id" in r.stderr


def test_small_run_json(tmp_path):
    path = scenario(tmp_path, SMALL)
    r = run(["run", path, "--json", "--jobs", "2"])
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    for key in ("scenarios", "cut_points", "states", "outcomes", "seconds",
                "states_per_second", "violations"):
        assert key in j
    assert j["scenarios"] == 1
    assert j["violations"] == []
    assert j["outcomes"]["violation"] == 0
    assert j["states"] == sum(j["outcomes"].values())
    assert j["outcomes"]["rollforward"] > 0
    assert j["outcomes"]["rollback"] > 0
    assert j["cut_points"] > 10


def test_same_args_same_json_and_jobs_do_not_matter(tmp_path):
    path = scenario(tmp_path, SMALL + "random ops=60 devs=3 span=50\ncommit\n")
    a = json.loads(run(["run", path, "--json", "--jobs", "1", "--seed", "9"]).stdout)
    b = json.loads(run(["run", path, "--json", "--jobs", "1", "--seed", "9"]).stdout)
    c = json.loads(run(["run", path, "--json", "--jobs", "2", "--seed", "9"]).stdout)
    assert without_times(a) == without_times(b)
    assert without_times(a) == without_times(c)
    d = json.loads(run(["run", path, "--json", "--seed", "10"]).stdout)
    assert d["states"] > 0


def test_two_shards_add_up_to_the_whole(tmp_path):
    path = scenario(tmp_path, SMALL)
    whole = json.loads(run(["run", path, "--json"]).stdout)
    parts = [json.loads(run(["run", path, "--json", "--shard", "%d/2" % k]).stdout)
             for k in (0, 1)]
    assert sum(p["states"] for p in parts) == whole["states"]
    for o in whole["outcomes"]:
        assert sum(p["outcomes"][o] for p in parts) == whole["outcomes"][o]
    r = run(["run", path, "--shard", "2/2"])
    assert r.returncode == 2


def test_report_files(tmp_path):
    path = scenario(tmp_path, SMALL)
    rep = tmp_path / "rep"
    r = run(["run", path, "--report", str(rep)])
    assert r.returncode == 0, r.stderr
    j = json.loads((rep / "summary.json").read_text())
    assert j["states"] > 0
    assert "| %s |" % path[:-4] in (rep / "summary.md").read_text()
    html = (rep / "index.html").read_text()
    assert "<svg" in html and "rollback" in html


def test_list_shows_default_suite():
    r = run(["list"])
    assert r.returncode == 0
    for name in ("snapshots", "deep", "random", "resize", "meta-snap"):
        assert name in r.stdout


@pytest.mark.parametrize("mutant", ["no-flush-before-superblock",
                                    "superblock-first"])
def test_planted_bug_is_caught_and_replayed(tmp_path, mutant, mutants_exe):
    exe = mutants_exe
    path = scenario(tmp_path, SMALL)
    r = subprocess.run([exe, "run", path, "--mutant", mutant, "--json",
                        "--no-continue"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1, r.stderr
    ids = json.loads(r.stdout)["violations"]
    assert ids
    first = ids[0]
    a = subprocess.run([exe, "replay", first, "--mutant", mutant],
                       capture_output=True, text=True, timeout=120)
    b = subprocess.run([exe, "replay", first, "--mutant", mutant],
                       capture_output=True, text=True, timeout=120)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "outcome: violation" in a.stdout
    assert a.stdout == b.stdout


def test_mutant_flag_refused_in_normal_build(tmp_path):
    path = scenario(tmp_path, SMALL)
    r = run(["run", path, "--mutant", "superblock-first"])
    assert r.returncode == 2
    assert "mutants build" in r.stderr


@pytest.mark.skipif(shutil.which("thin_check") is None,
                    reason="thin-provisioning-tools missing")
def test_saved_images_pass_thin_check(tmp_path):
    path = scenario(tmp_path, SMALL)
    j = json.loads(run(["run", path, "--json"]).stdout)
    assert j["violations"] == []
    # replay a few states of the first cut points after the first commit
    checked = forward = 0
    for cut in range(1, 90, 1):
        # ask with one choice; the error says how many the cut has
        r = run(["replay", "%s:s1:c%d:p0-of-1:e0" % (path[:-4], cut)])
        if r.returncode == 2:
            m = re.search(r"so (\d+) choices", r.stderr)
            if not m:
                break             # past the end of the log
            n = int(m.group(1))
        else:
            n = 1
        for choice in sorted({0, n - 1}):
            ident = "%s:s1:c%d:p%d-of-%d:e0" % (path[:-4], cut, choice, n)
            img = tmp_path / ("img%d-%d" % (cut, choice))
            xml = tmp_path / ("exp%d-%d.xml" % (cut, choice))
            r = run(["replay", ident, "--save-image", str(img),
                     "--expected-xml", str(xml)])
            assert r.returncode == 0, r.stdout + r.stderr
            if "unformatted" in r.stdout:
                continue
            c = subprocess.run(["thin_check", str(img)], capture_output=True,
                               text=True)
            assert c.returncode == 0, c.stdout + c.stderr
            d = subprocess.run(["thin_dump", str(img)], capture_output=True,
                               text=True)
            assert d.returncode == 0, d.stderr
            assert d.stdout == xml.read_text(), ident
            checked += 1
            forward += "outcome: rollforward" in r.stdout
    assert checked >= 20
    assert forward >= 1


def test_io_errors_survived(tmp_path):
    path = scenario(tmp_path, SMALL)
    r = run(["run", path, "--io-errors", "--json"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    j = json.loads(r.stdout)
    assert j["io_errors"] is True
    assert j["violations"] == []
    assert j["injected_errors"] > 50
    plain = json.loads(run(["run", path, "--json"]).stdout)
    assert j["states"] > plain["states"]


def test_superblock_despite_flush_error_is_caught(tmp_path, mutants_exe):
    exe = mutants_exe
    path = scenario(tmp_path, SMALL)
    mutant = "superblock-despite-flush-error"
    # without IO errors the planted bug does not show
    r = subprocess.run([exe, "run", path, "--mutant", mutant, "--json",
                        "--no-continue"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]
    r = subprocess.run([exe, "run", path, "--io-errors", "--mutant", mutant,
                        "--json", "--no-continue"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 1, r.stderr
    ids = [i for i in json.loads(r.stdout)["violations"]
           if re.search(r":ef\d+$", i)]
    assert ids
    a = subprocess.run([exe, "replay", ids[0], "--mutant", mutant],
                       capture_output=True, text=True, timeout=120)
    assert a.returncode == 1
    lines = a.stdout.splitlines()
    failed = [i for i, l in enumerate(lines) if l.endswith("flush  FAILED")]
    assert failed, a.stdout
    after = lines[failed[0] + 1:]
    assert any(l.strip().endswith("write block 0") for l in after), a.stdout


@pytest.mark.skipif(shutil.which("thin_check") is None,
                    reason="thin-provisioning-tools missing")
def test_images_after_injected_errors_pass_thin_check(tmp_path):
    path = scenario(tmp_path, SMALL)
    checked = 0
    for fault in ("ef3", "eF3", "ew12", "eW12", "ef4"):
        for cut in range(55, 95, 2):
            r = run(["replay", "%s:s1:c%d:p0-of-1:%s" % (path[:-4], cut, fault)])
            if r.returncode == 2:
                m = re.search(r"so (\d+) choices", r.stderr)
                if not m:
                    break
                n = int(m.group(1))
            else:
                n = 1
            for choice in sorted({0, n - 1}):
                ident = "%s:s1:c%d:p%d-of-%d:%s" % (path[:-4], cut, choice, n,
                                                   fault)
                img = tmp_path / "img"
                r = run(["replay", ident, "--save-image", str(img)])
                assert r.returncode == 0, r.stdout + r.stderr
                c = subprocess.run(["thin_check", str(img)],
                                   capture_output=True, text=True)
                assert c.returncode == 0, ident + c.stdout + c.stderr
                checked += 1
    assert checked >= 30


LONG = """pool data=30000 meta=1024
random ops=2500 devs=8 span=600 mix=map:50,unmap:10,unmap-range:3,snap:6,create:3,delete:4,commit:10,abort:1,trans-id:2,resize-data:1,meta-snap:2
commit
resize-meta 17000
random ops=1500 devs=8 span=600
meta-snap
commit
"""


@pytest.mark.skipif(shutil.which("thin_check") is None,
                    reason="thin-provisioning-tools missing")
def test_long_random_workload_image_agrees_with_the_tools(tmp_path):
    """Snapshots, deletes of devices sharing trees, overwrites, unmaps, data
    and metadata resizes, a held metadata snapshot, many commits: the
    final image passes thin_check, and thin_dump == pdtool dump == the
    workload's own model."""
    path = scenario(tmp_path, LONG, "long")
    name = path[:-4]
    r = run(["replay", "%s:s3:c999999999:p0-of-1:e0" % name])
    assert r.returncode == 2
    end = int(re.search(r"of the log \((\d+) entries\)", r.stderr).group(1))
    img, xml = tmp_path / "final.img", tmp_path / "model.xml"
    r = run(["replay", "%s:s3:c%d:p0-of-1:e0" % (name, end),
             "--save-image", str(img), "--expected-xml", str(xml)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    c = subprocess.run(["thin_check", str(img)], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr
    dump = subprocess.run(["thin_dump", str(img)], capture_output=True,
                          text=True).stdout
    model = xml.read_text()
    assert dump == model
    ours = subprocess.run([os.path.join(BUILD, "pdtool"), "dump", str(img)],
                          capture_output=True, text=True).stdout
    assert ours == dump
    assert dump.count("<device ") >= 3
    assert dump.count("_mapping ") > 100
    sb = subprocess.run(["thin_dump", "-m", str(img)], capture_output=True,
                        text=True)
    assert sb.returncode == 0 and "<device" in sb.stdout   # held snapshot


def test_a_crash_or_hang_in_recovery_is_a_violation_and_the_run_goes_on(tmp_path):
    path = scenario(tmp_path, SMALL)
    whole = json.loads(run(["run", path, "--json", "--sample"]).stdout)
    env = hook_env(PDCRASH_SELFTEST_CRASH="5")
    r = run(["run", path, "--json", "--sample"], env=env)
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["states"] == whole["states"]          # nothing lost
    msgs = [j["violation_messages"][v] for v in j["violations"]]
    assert msgs and all("recovery crashed: signal 11" in m for m in msgs)
    env = dict(os.environ, PDCRASH_SELFTEST_HANG="7", PDCRASH_STATE_TIMEOUT="1")
    r = run(["run", path, "--json", "--jobs", "2", "--sample"], env=env)
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["states"] == whole["states"]
    msgs = [j["violation_messages"][v] for v in j["violations"]]
    assert msgs and all("recovery hung" in m for m in msgs)


@pytest.mark.parametrize("hook,what", [("PDCRASH_SELFTEST_CRASH",
                                        "recovery crashed: signal 11"),
                                       ("PDCRASH_SELFTEST_HANG", "recovery hung")])
def test_exhaustive_crash_or_hang_is_a_violation_and_coverage_says_so(
        tmp_path, hook, what):
    """Exhaustive mode: the first recovery of cut 0 crashes or hangs; the
    run goes on, the violation has a leaf id, and the summary says that
    cut was not covered in full (never silently)."""
    path = scenario(tmp_path, SMALL)
    whole = json.loads(run(["run", path, "--json"]).stdout)
    assert whole["covered_all"] is True
    env = hook_env(PDCRASH_STATE_TIMEOUT="1", **{hook: "0"})
    r = run(["run", path, "--json", "--jobs", "2"], env=env)
    assert r.returncode == 1
    j = json.loads(r.stdout)
    msgs = [j["violation_messages"][v] for v in j["violations"]]
    assert msgs and all(what in m for m in msgs)
    assert all(":c0:l-:e0" in v for v in j["violations"])
    assert j["covered_all"] is False and j["incomplete_cuts"] >= 1
    assert int(j["states_covered"]) < int(j["states_total"])
    assert j["cut_points"] == whole["cut_points"]


def test_memo_is_exact(tmp_path, mutants_exe):
    """The memo only skips recovery that would read the same data: with a
    planted bug and IO errors, every outcome and message is the same as
    when every state is checked in full."""
    path = scenario(tmp_path, SMALL)
    for args in (["--mutant", "superblock-first"],
                 ["--mutant", "superblock-despite-flush-error", "--io-errors"]):
        a = subprocess.run([mutants_exe, "run", path, "--json"] + args,
                           capture_output=True, text=True, timeout=600)
        b = subprocess.run([mutants_exe, "run", path, "--json", "--no-memo"]
                           + args, capture_output=True, text=True, timeout=600)
        ja, jb = json.loads(a.stdout), json.loads(b.stdout)
        assert ja["outcomes"]["violation"] > 0
        assert without_times(ja, True) == without_times(jb, True)


def test_exhaustive_counts_and_a_bound_that_is_reported(tmp_path):
    """Every cut covered in full by default (states_covered ==
    states_total, exact decimal strings); --max-branches 1 cuts some cuts
    short and the JSON and the table say where; bad values exit 2."""
    path = scenario(tmp_path, SMALL)
    j = json.loads(run(["run", path, "--json", "--tear"]).stdout)
    assert j["mode"] == "exhaustive" and j["covered_all"] is True
    assert j["states_total"] == j["states_covered"]
    assert int(j["states_total"]) > j["states_sampled"] > 0
    assert j["states"] == sum(j["outcomes"].values()) >= j["recoveries"] > 0
    assert j["incomplete_cuts"] == 0
    b = run(["run", path, "--json", "--tear", "--max-branches", "1"])
    jb = json.loads(b.stdout)
    assert jb["covered_all"] is False and jb["incomplete_cuts"] > 0
    assert int(jb["states_covered"]) < int(jb["states_total"])
    assert jb["states_total"] == j["states_total"]
    assert any("--max-branches reached" in v.get("first_incomplete", "")
               for v in jb["per_variant"])
    t = run(["run", path, "--tear", "--max-branches", "1"])
    assert "NOT ALL" in t.stdout and "not covered in full" in t.stdout
    for bad in ("0", "x"):
        r = run(["run", path, "--max-branches", bad])
        assert r.returncode == 2 and "--max-branches" in r.stderr
    s = json.loads(run(["run", path, "--json", "--sample"]).stdout)
    assert s["mode"] == "sample" and "states_total" not in s


@pytest.mark.parametrize("bad,what", [
    ("lb999v1", "block 999 has no pending write"),
    ("lb0v9", "block 0 has 2 versions"),
    ("lb0s10000000", "needs :t"),
])
def test_leaf_id_that_does_not_fit_the_cut_exits_2(tmp_path, bad, what):
    path = scenario(tmp_path, SMALL)
    r = run(["replay", "%s:s1:c11:%s:e0" % (path[:-4], bad)])
    assert r.returncode == 2, r.stdout + r.stderr
    assert what in r.stderr

def test_fail_fast_clean_run_exits_0(tmp_path):
    r = run(["run", scenario(tmp_path, SMALL), "--fail-fast", "--no-continue"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "first violation" not in r.stdout


def test_fail_fast_stops_at_first_violation_and_replays(tmp_path, mutants_exe):
    path = scenario(tmp_path, SMALL)
    mutant = "superblock-first"
    full = subprocess.run([mutants_exe, "run", path, "--mutant", mutant,
                           "--json", "--jobs", "1"], capture_output=True,
                          text=True, timeout=300)
    r = subprocess.run([mutants_exe, "run", path, "--mutant", mutant,
                        "--fail-fast", "--json", "--jobs", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    j, jf = json.loads(r.stdout), json.loads(full.stdout)
    assert 1 <= len(j["violations"]) < len(jf["violations"])
    assert j["states"] < jf["states"]
    first = re.search(r"^first violation: (\S+)$", r.stderr, re.M).group(1)
    assert re.search(r"^time to first failure: [0-9.]+ s$", r.stderr, re.M)
    cmd = re.search(r"^replay: (.*)$", r.stderr, re.M).group(1).split()
    assert cmd[1:] == ["replay", first, "--mutant", mutant]
    a = subprocess.run([mutants_exe] + cmd[1:], capture_output=True,
                       text=True, timeout=120)
    assert a.returncode == 1 and "outcome: violation" in a.stdout


def test_mutants_lists_the_linux_fix_each_undoes():
    r = run(["mutants"])
    assert r.returncode == 0
    assert ("undoes: dm btree: increase rebalance threshold in "
            "__rebalance2() (2019)") in r.stdout
    names = [l.split()[0] for l in r.stdout.splitlines()
             if l and not l[0].isspace() and not l.startswith("(")]
    undoes = [l for l in r.stdout.splitlines() if "undoes:" in l]
    assert len(names) == len(undoes) >= 13


def test_commit_of_unchanged_pool_writes_nothing(tmp_path, mutants_exe):
    """The invariant holds in the real core and is checked on the log: the
    planted bug that rewrites the superblock is a live failure that
    replays."""
    text = "pool data=2000 meta=256\ncreate 0\nmap 0 0..3\ncommit\ncommit\n"
    path = scenario(tmp_path, text, "unchanged")
    assert run(["run", path, "--no-continue"]).returncode == 0
    r = subprocess.run([mutants_exe, "run", path, "--fail-fast", "--mutant",
                        "commit-unchanged-writes"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1
    assert "a commit of an unchanged pool writes nothing" in r.stdout
    first = re.search(r"^first violation: (\S+)$", r.stdout, re.M).group(1)
    a = subprocess.run([mutants_exe, "replay", first, "--mutant",
                        "commit-unchanged-writes"], capture_output=True,
                       text=True, timeout=120)
    assert a.returncode == 1 and "outcome: violation: live run:" in a.stdout


@pytest.mark.parametrize("mutant,args", [
    ("sm-roots-copied-under-lock", ["--fiu", "sm/copy_root:3"]),
    ("meta-snap-uncommitted", []),
    ("rebalance2-old-threshold", []),
])
def test_historical_bug_is_caught(tmp_path, mutants_exe, mutant, args):
    scn = {"sm-roots-copied-under-lock": "provision",
           "meta-snap-uncommitted": "meta-snap",
           "rebalance2-old-threshold": "unmap"}[mutant]
    r = subprocess.run([mutants_exe, "run", scn, "--fail-fast", "--mutant",
                        mutant] + args, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "first violation:" in r.stdout
    # and the real core passes the same command
    ok = subprocess.run([PDCRASH, "run", scn, "--no-continue"] + args,
                        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout[-2000:]


@pytest.mark.parametrize("mutant,scn", [
    (None, ["abort", "resize", "provision"]),
    ("superblock-despite-flush-error", ["abort", "provision"]),
])
def test_io_error_sweep_equals_serial_fault_runs(mutant, scn, mutants_exe):
    """--io-errors forks each fault run off one shared workload prefix
    (the linear sweep); running every fault run from the start instead
    (PDCRASH_SWEEP=serial) gives the same states, outcomes, violation ids
    and messages, with and without a planted bug."""
    exe = mutants_exe if mutant else PDCRASH
    args = [exe, "run"] + scn + ["--io-errors", "--json"]
    if mutant:
        args += ["--mutant", mutant]
    env = dict(os.environ)
    a = subprocess.run(args, capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env=env)
    env["PDCRASH_SWEEP"] = "serial"
    b = subprocess.run(args, capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env=env)
    assert a.returncode == b.returncode == (1 if mutant else 0), a.stderr
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["injected_errors"] > 100
    if mutant:
        assert ja["violations"]
    assert without_times(ja, True) == without_times(jb, True)


def test_io_error_sweep_with_crashing_recovery_equals_serial():
    """A fault run of the sweep explores its cuts itself, without a worker
    (driver.c, explore_inproc); when a recovery crashes there, the sweep
    runs that fault run again with a worker (sweep_retry).  With the first
    recovery of every run's first cut crashing (self-test hook), every
    fault run takes that path, and the figures, violation ids and messages
    are those of the serial fault runs, each with its worker."""
    args = [PDCRASH, "run", "abort", "--io-errors", "--json"]
    env = hook_env(PDCRASH_SELFTEST_CRASH="0")
    a = subprocess.run(args, capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env=env)
    env["PDCRASH_SWEEP"] = "serial"
    b = subprocess.run(args, capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env=env)
    assert a.returncode == b.returncode == 1, a.stderr[-2000:]
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    faulted = [v for v in ja["violations"] if not v.endswith(":e0")]
    assert len(faulted) > 100, ja["violations"][:5]
    assert all("recovery crashed: signal 11" in m
               for m in ja["violation_messages"].values())
    assert without_times(ja) == without_times(jb)


def test_a_crash_after_the_last_commit_returned_is_a_cut(tmp_path, mutants_exe):
    """The end of the log is a cut of its own when markers follow the last
    IO: a commit that returned without flushing its superblock (planted:
    no-flush-after-superblock) must not roll back there."""
    p = tmp_path / "last-commit.scn"
    p.write_text("create 0\nmap 0 0..3\ncommit\n")
    r = subprocess.run([mutants_exe, "run", str(p), "--json", "--mutant",
                        "no-flush-after-superblock"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    ids = json.loads(r.stdout)["violations"]
    last = max(int(re.search(r":c(\d+):", i).group(1)) for i in ids)
    end_id = [i for i in ids if ":c%d:" % last in i][0]
    r = subprocess.run([mutants_exe, "replay", end_id, "--trace",
                        "--mutant", "no-flush-after-superblock"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "none of the committed states 1..1" in r.stdout, r.stdout[-1500:]
    # that cut is after the last log entry, a commit-end marker
    entries = re.findall(r"^\s+(\d+)\s+(.*)$", r.stdout, re.M)
    assert int(entries[-1][0]) + 1 == last, r.stdout[-1500:]
    assert "commit-end 1" in entries[-1][1], entries[-1]


# Found by pdcrash search (--seed 4 from the default suite): a pool whose
# 96 metadata blocks are nearly full; at cut 10134 the recovered pool is
# sound, and the continue step (a new device, 8 mappings, a commit) runs
# out of metadata space.
FULL_META = """pool data=20000 meta=96 cache=16 block-size=128
create 0
map 0 0..3973
""" + "".join("snap %d 0\nmap 0 %d\n" % (d, v) for d, v in
              zip((1, 2, 4, 6, 8, 11, 14, 16, 17, 19), range(3974, 3984))) + \
    """map 0 3984..9999
meta-snap
unmap 0 400
unmap 0 1200
unmap 0 1400
unmap 0 2200
unmap 0 2800
unmap 0 3000
commit
"""


def test_continue_step_out_of_metadata_space_is_no_finding(tmp_path):
    """DESIGN.md 10: running out of metadata space is a path, not a
    violation; the continue step after a recovery that finds the metadata
    full says nothing (the structural check before it found no leak)."""
    path = tmp_path / "fullmeta.scn"
    path.write_text(FULL_META)
    r = run(["replay", str(tmp_path / "fullmeta") + ":s1:c10134:lb0v1:e0"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^outcome: roll(forward|back)", r.stdout, re.M), r.stdout
