"""Write-time invariants (harness/engine/writecheck.h): checked on every
run's op log, in both modes and in --io-errors runs; their ids
NAME:sSEED:wSEQ:eFAULT replay and minimise; planted bugs they catch."""
import json
import re
import subprocess

from test_pdcrash import SMALL, run, scenario

WID = re.compile(r"^(?P<name>[^:]+):s\d+:w(?P<seq>\d+):e[0-9a-zA-Z]+$")


def mrun(exe, args, **kw):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 600), **kw)


def write_ids(j):
    return [v for v in j["violations"] if WID.match(v)]


def test_a_correct_core_keeps_both_rules_and_they_are_counted(tmp_path):
    """Both modes and --io-errors: every write is checked, none breaks a
    rule; the count is in the JSON, per variant too, and in the table."""
    path = scenario(tmp_path, SMALL)
    for extra in ([], ["--sample"], ["--io-errors"]):
        r = run(["run", path, "--json"] + extra)
        assert r.returncode == 0, r.stdout[-2000:]
        j = json.loads(r.stdout)
        assert j["write_violations"] == 0
        assert j["writes_checked"] > 20
        assert sum(v["writes_checked"] for v in j["per_variant"]) == \
            j["writes_checked"]
        assert all(v["write_walks"] > 0 for v in j["per_variant"])
    t = run(["run", path])
    assert re.search(r"^write-time invariants: \d+ writes checked, 0 write "
                     r"violations$", t.stdout, re.M)


def test_rule_a_catches_reuse_before_commit_with_a_write_id(mutants_exe):
    """A freed node of the committed tree handed out again before the
    commit: rule (a) names the write (in both modes), counted apart from
    the crash states; replay shows the write in the trace and the rule."""
    for extra in ([], ["--sample"]):
        r = mrun(mutants_exe, ["run", "abort", "--json", "--mutant",
                               "reuse-before-commit"] + extra)
        assert r.returncode == 1
        j = json.loads(r.stdout)
        ids = write_ids(j)
        assert ids and j["write_violations"] == len(ids)
        assert j["outcomes"]["violation"] + len(ids) == len(j["violations"])
        for i in ids:
            assert "write-time rule (a)" in j["violation_messages"][i]
    m = WID.match(ids[0])
    rp = mrun(mutants_exe, ["replay", ids[0], "--mutant",
                            "reuse-before-commit"])
    assert rp.returncode == 1, rp.stdout + rp.stderr
    assert "outcome: violation: write-time rule (a)" in rp.stdout
    trace = rp.stdout.split(">>>>>>  the write checked:\n")[1]
    assert re.match(r"\s*%s\s+write block \d+" % m.group("seq"), trace)
    # without the bug the same write breaks nothing
    clean = run(["replay", ids[0]])
    assert clean.returncode == 0
    assert "outcome: no write-time violation" in clean.stdout


def test_rule_b_catches_a_superblock_before_its_tree(mutants_exe, tmp_path):
    """superblock-first writes block 0 before the tree it names;
    no-flush-before-superblock writes it with the tree still pending: both
    are write ids of rule (b) and replay says so."""
    path = scenario(tmp_path, SMALL)
    for mutant in ("superblock-first", "no-flush-before-superblock"):
        r = mrun(mutants_exe, ["run", path, "--json", "--fail-fast",
                               "--mutant", mutant])
        j = json.loads(r.stdout)
        assert r.returncode == 1 and write_ids(j) == j["violations"]
        msg = j["violation_messages"][j["violations"][0]]
        assert "write-time rule (b)" in msg
        rp = mrun(mutants_exe, ["replay", j["violations"][0], "--mutant",
                                mutant])
        assert rp.returncode == 1
        assert "outcome: violation: write-time rule (b)" in rp.stdout


def test_write_rules_in_io_error_runs(mutants_exe, tmp_path):
    """--io-errors: the superblock written after a failed flush breaks rule
    (b); its id carries the fault and replays with it."""
    path = scenario(tmp_path, SMALL)
    r = mrun(mutants_exe, ["run", path, "--json", "--io-errors", "--mutant",
                           "superblock-despite-flush-error"])
    j = json.loads(r.stdout)
    ids = [i for i in write_ids(j) if not i.endswith(":e0")]
    assert r.returncode == 1 and ids
    rp = mrun(mutants_exe, ["replay", ids[0], "--mutant",
                            "superblock-despite-flush-error"])
    assert rp.returncode == 1 and "write-time rule (b)" in rp.stdout


def test_write_ids_that_do_not_fit_exit_2(tmp_path):
    path = scenario(tmp_path, SMALL)
    name = path[:-4]
    for bad in (name + ":s1:wx:e0", name + ":s1:w5:eq3"):
        r = run(["replay", bad])
        assert r.returncode == 2 and "write id" in r.stderr
    r = run(["replay", name + ":s1:w0:e0"])        # entry 0: a marker
    assert r.returncode == 2 and "not a write" in r.stderr
    r = run(["replay", name + ":s1:w99999:e0"])
    assert r.returncode == 2 and "not a write" in r.stderr


def test_minimize_accepts_a_write_id(mutants_exe, tmp_path):
    r = mrun(mutants_exe, ["run", "abort", "--json", "--fail-fast",
                           "--mutant", "reuse-before-commit"])
    wid = json.loads(r.stdout)["violations"][0]
    assert WID.match(wid)
    out = str(tmp_path / "min.scn")
    m = mrun(mutants_exe, ["minimize", wid, "--mutant", "reuse-before-commit",
                           "-o", out])
    assert m.returncode == 1, m.stderr
    assert re.search(r"^new id: \S+", m.stdout, re.M)
    n = run(["minimize", wid, "-o", out])      # no bug: nothing to do
    assert n.returncode == 2 and "breaks no write-time rule" in n.stderr


def test_replay_of_a_leaf_id_prints_the_difference(mutants_exe):
    """A leaf id's replay shows expected against found, as a --sample id's
    does."""
    r = mrun(mutants_exe, ["run", "meta-snap", "--json", "--fail-fast",
                           "--mutant", "meta-snap-uncommitted"])
    vid = json.loads(r.stdout)["violations"][0]
    assert ":l" in vid
    rp = mrun(mutants_exe, ["replay", vid, "--mutant",
                            "meta-snap-uncommitted"])
    assert rp.returncode == 1
    assert re.search(r"^found against the closest allowed state, \d+: "
                     r"[1-9]\d* difference", rp.stdout, re.M)
    assert "expected mapped=" in rp.stdout
