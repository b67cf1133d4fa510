"""pdcrash minimize and pdcrash merge: shrinking a failing workload to a
scenario whose new id still replays as a violation, and merging the JSON
of shards into the JSON of the whole run (harness/pdcrash/minimize.c,
harness/pdcrash/merge.c, harness/pdcrash/json.c)."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# 40 ops once expanded (map A..B is B-A+1 ops, unmap A..B one).
FORTY = """pool data=2000 meta=256
create 0
map 0 0..15
commit
snap 1 0
map 1 0..5
unmap 0 3..9
create 2
map 2 0..9
commit
delete 1
commit
"""

SMALL = """pool data=2000 meta=256
create 0
map 0 0..20
commit
snap 1 0
map 1 0..5
unmap 0 3..9
commit
"""

TIMES = ("seconds", "states_per_second", "jobs", "shard")


@pytest.fixture
def pdcrash(build_dir):
    exe = os.path.join(build_dir, "pdcrash")

    def run(args, cwd=None, timeout=300):
        return subprocess.run([exe] + args, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
    return run


def mrun(exe, args, cwd=None, timeout=300):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def write_scenario(tmp_path, text, name):
    p = tmp_path / (name + ".scn")
    p.write_text(text)
    return "./" + name + ".scn"


def cut_of(ident):
    return int(re.search(r":c(\d+):", ident).group(1))


def crash_ids(j):
    """The crash-state ids of a run's JSON (write ids, :wSEQ:, aside)."""
    return [i for i in j["violations"] if re.search(r":c\d+:", i)]


def op_lines(path):
    return [l for l in open(path).read().splitlines()
            if l.strip() and not l.startswith("#") and not l.startswith("pool")]


def minimized(r):
    """(ops before, ops after, new id) from minimize's output."""
    m = re.search(r"^ops: (\d+) up to the cut -> (\d+)", r.stdout, re.M)
    i = re.search(r"^new id: (\S+)$", r.stdout, re.M)
    assert m and i, r.stdout + r.stderr
    return int(m.group(1)), int(m.group(2)), i.group(1)


def test_minimize_shrinks_a_planted_bug_and_the_new_id_replays(tmp_path,
                                                                mutants_exe):
    mutant = "superblock-first"
    scn = write_scenario(tmp_path, FORTY, "forty")
    r = mrun(mutants_exe, ["run", scn, "--mutant", mutant, "--json",
                           "--no-continue"], cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    ids = [i for i in crash_ids(json.loads(r.stdout)) if "+small" not in i]
    # the violation furthest into the log: every op is in its prefix
    last = max(ids, key=cut_of)
    r = mrun(mutants_exe, ["minimize", last, "--mutant", mutant],
             cwd=tmp_path, timeout=200)
    assert r.returncode == 1, r.stdout + r.stderr
    before, after, new = minimized(r)
    assert before == 40
    assert 1 <= after < before
    out = tmp_path / "forty-min.scn"
    assert len(op_lines(out)) == after
    text = out.read_text()
    assert last in text                 # the header names the origin
    assert "cache=4096" in text         # the variant's cache, written in
    assert new.startswith("./forty-min:s1:")
    assert "replay %s --mutant %s" % (new, mutant) in r.stdout
    a = mrun(mutants_exe, ["replay", new, "--mutant", mutant], cwd=tmp_path)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "outcome: violation" in a.stdout
    # the minimal scenario fails as a scenario of its own, and only
    # with the planted bug
    r = mrun(mutants_exe, ["run", "./forty-min.scn", "--mutant", mutant,
                           "--json"], cwd=tmp_path)
    assert r.returncode == 1
    assert new in json.loads(r.stdout)["violations"]
    r = mrun(mutants_exe, ["run", "./forty-min.scn", "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout


def test_minimize_small_variant_and_output_file(tmp_path, mutants_exe):
    mutant = "no-flush-before-superblock"
    scn = write_scenario(tmp_path, FORTY, "forty")
    r = mrun(mutants_exe, ["run", scn, "--mutant", mutant, "--json",
                           "--no-continue"], cwd=tmp_path)
    ids = [i for i in crash_ids(json.loads(r.stdout)) if "+small:" in i]
    assert ids
    last = max(ids, key=cut_of)
    r = mrun(mutants_exe, ["minimize", last, "--mutant", mutant, "-o",
                           "sub.scn"], cwd=tmp_path, timeout=200)
    assert r.returncode == 1, r.stdout + r.stderr
    before, after, new = minimized(r)
    assert after < before
    # the variant is dropped: its 16-block cache is in the pool line
    assert "cache=16 " in (tmp_path / "sub.scn").read_text()
    assert new.startswith("./sub:s1:") and "+small" not in new
    a = mrun(mutants_exe, ["replay", new, "--mutant", mutant], cwd=tmp_path)
    assert a.returncode == 1, a.stdout + a.stderr


def test_minimize_keeps_the_fault_kind(tmp_path, mutants_exe):
    mutant = "superblock-despite-flush-error"
    scn = write_scenario(tmp_path, FORTY, "forty")
    r = mrun(mutants_exe, ["run", scn, "--io-errors", "--mutant", mutant,
                           "--json", "--no-continue"], cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    ids = [i for i in crash_ids(json.loads(r.stdout))
           if re.search(r":ef\d+$", i) and "+small" not in i]
    assert ids
    last = max(ids, key=cut_of)
    r = mrun(mutants_exe, ["minimize", last, "--mutant", mutant],
             cwd=tmp_path, timeout=200)
    assert r.returncode == 1, r.stdout + r.stderr
    before, after, new = minimized(r)
    assert after < before
    assert re.search(r":ef\d+$", new), new   # a flush failing once still
    a = mrun(mutants_exe, ["replay", new, "--mutant", mutant], cwd=tmp_path)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "flush  FAILED" in a.stdout


@pytest.mark.parametrize("args,what", [
    (["nonsense"], "malformed id"),
    (["forty:s1:c5"], "malformed id"),
    (["forty:s1:c5:p3-of-2:e0"], "malformed id"),
    (["forty+big:s1:c5:p0-of-1:e0"], "unknown variant"),
    (["no-such-scenario:s1:c5:p0-of-1:e0"], "no scenario"),
    (["./forty:s1:c99999:p0-of-1:e0"], "past the end of the log"),
    (["./forty:s1:c9:p0-of-3:e0"], "not an id of this scenario"),
    (["./forty:s1:c9:p0-of-1:e0", "-o", "out.txt"], "must end in .scn"),
    (["./forty:s1:c9:p0-of-1:e0", "-o", "a:b.scn"], "no ':' or '+'"),
    (["./forty:s1:c9:p0-of-1:e0", "--frob"], "unknown option"),
    ([], "needs an id"),
])
def test_minimize_bad_input_exits_2(tmp_path, pdcrash, args, what):
    write_scenario(tmp_path, FORTY, "forty")
    r = pdcrash(["minimize"] + args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert what in r.stderr
    assert not (tmp_path / "forty-min.scn").exists()


def test_minimize_refuses_a_state_that_does_not_fail(tmp_path, pdcrash):
    scn = write_scenario(tmp_path, FORTY, "forty")
    r = pdcrash(["run", scn, "--json", "--no-continue"], cwd=tmp_path)
    assert r.returncode == 0
    # a real state of this run: ask with one choice, the error gives N
    r = pdcrash(["replay", "./forty:s1:c20:p0-of-1:e0"], cwd=tmp_path)
    m = re.search(r"so (\d+) choices", r.stderr)
    ident = "./forty:s1:c20:p0-of-%s:e0" % (m.group(1) if m else "1")
    r = pdcrash(["minimize", ident], cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not fail in this build" in r.stderr
    assert not (tmp_path / "forty-min.scn").exists()


def shard_jsons(exe, tmp_path, scn, extra, n=2):
    parts = []
    for k in range(n):
        r = mrun(exe, ["run", scn, "--json", "--shard", "%d/%d" % (k, n)] +
                 extra, cwd=tmp_path)
        assert r.returncode in (0, 1), r.stderr
        p = tmp_path / ("shard%d.json" % k)
        p.write_text(r.stdout)
        parts.append(str(p))
    return parts


def strip(j):
    """Without times and without the recoveries run: work done, like the
    seconds (the memo is per worker, so shards run more), not states."""
    j = {k: v for k, v in j.items() if k not in TIMES + ("recoveries",)}
    if "per_variant" in j:
        j["per_variant"] = [{k: v for k, v in pv.items() if k != "recoveries"}
                            for pv in j["per_variant"]]
    return j


def test_merge_of_shards_equals_the_whole_run(tmp_path, build_dir):
    exe = os.path.join(build_dir, "pdcrash")
    scn = write_scenario(tmp_path, SMALL, "small")
    extra = ["--io-errors", "--no-continue"]
    whole = mrun(exe, ["run", scn, "--json"] + extra, cwd=tmp_path)
    assert whole.returncode == 0
    parts = shard_jsons(exe, tmp_path, scn, extra)
    r = mrun(exe, ["merge"] + parts)
    assert r.returncode == 0, r.stderr
    merged, w = json.loads(r.stdout), json.loads(whole.stdout)
    assert strip(merged) == strip(w)
    assert merged["shard"] is None
    pj = [json.load(open(p)) for p in parts]
    assert merged["seconds"] == max(p["seconds"] for p in pj)
    assert merged["jobs"] == sum(p["jobs"] for p in pj)
    assert merged["injected_errors"] == w["injected_errors"] > 0


def test_merge_with_violations_equals_the_whole_run(tmp_path, mutants_exe):
    scn = write_scenario(tmp_path, SMALL, "small")
    extra = ["--mutant", "superblock-first", "--tear", "--no-continue"]
    whole = mrun(mutants_exe, ["run", scn, "--json"] + extra, cwd=tmp_path)
    assert whole.returncode == 1
    parts = shard_jsons(mutants_exe, tmp_path, scn, extra, n=3)
    r = mrun(mutants_exe, ["merge", parts[2], parts[0], parts[1]])
    assert r.returncode == 1, r.stderr
    merged, w = json.loads(r.stdout), json.loads(whole.stdout)
    assert w["violations"]
    assert strip(merged) == strip(w)
    # the text apart from the times is the same too
    cut = re.compile(r'"seconds".*?"seed"|"recoveries": \d+')
    assert cut.sub("", r.stdout) == cut.sub("", whole.stdout)


def test_merge_counts_a_live_failure_once(tmp_path, pdcrash):
    """Every shard runs the workloads in full, so a live-run failure is in
    each shard's JSON with one violation counted; the merge keeps one."""
    scn = write_scenario(tmp_path, SMALL, "small")
    paths = []
    for k in range(2):
        r = pdcrash(["run", scn, "--json", "--shard", "%d/2" % k],
                    cwd=tmp_path)
        j = json.loads(r.stdout)
        live = "./small:s1:c90:p0-of-1:e0"
        j["violations"] = sorted(j["violations"] + [live])
        j["violation_messages"][live] = "live run: op 3 'map 0 2': it broke"
        j["outcomes"]["violation"] += 1
        j["per_variant"][0]["outcomes"]["violation"] += 1
        if k:
            other = "./small+small:s1:c7:p1-of-2:e0"
            j["violations"].append(other)
            j["violation_messages"][other] = "open failed: \"quoted\"\n\u00e9"
            j["outcomes"]["violation"] += 1
            j["per_variant"][1]["outcomes"]["violation"] += 1
        p = tmp_path / ("live%d.json" % k)
        p.write_text(json.dumps(j, indent=1))
        paths.append(str(p))
    r = pdcrash(["merge"] + paths)
    assert r.returncode == 1, r.stderr
    m = json.loads(r.stdout)
    assert m["violations"] == ["./small+small:s1:c7:p1-of-2:e0",
                               "./small:s1:c90:p0-of-1:e0"]
    assert m["outcomes"]["violation"] == 2
    assert [v["outcomes"]["violation"] for v in m["per_variant"]] == [1, 1]
    assert m["violation_messages"]["./small+small:s1:c7:p1-of-2:e0"] == \
        "open failed: \"quoted\"\n\u00e9"


@pytest.mark.parametrize("damage,what", [
    (lambda t: t[:len(t) // 2], "not JSON"),
    (lambda t: t.replace('"states":', '"states" '), "not JSON"),
    (lambda t: t + "}", "text after the JSON value"),
    (lambda t: "[" * 100000, "nested deeper"),
    (lambda t: t.replace('"seed": 1', '"seed": -1'), "'seed' is not a whole number"),
    (lambda t: t.replace('"tear": false', '"tear": 0'), "'tear'"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items()
                           if k != "per_variant"}), "'per_variant' is missing"),
    (lambda t: t.replace('"rollback"', '"rollbackx"'), "'outcomes.rollback' is missing"),
    (lambda t: t.replace('"shard": "1/2"', '"shard": "2/2"'), "'shard' is not K/N"),
    (lambda t: "[1, 2]", "not a JSON object"),
    (lambda t: t.replace('"seed"', '"fiu": null, "seed"'),
     "'fiu' is a key merge does not know"),
])
def test_merge_of_a_bad_file_exits_2_naming_it(tmp_path, pdcrash, damage, what):
    scn = write_scenario(tmp_path, SMALL, "small")
    good = pdcrash(["run", scn, "--json", "--shard", "0/2"], cwd=tmp_path).stdout
    second = pdcrash(["run", scn, "--json", "--shard", "1/2"], cwd=tmp_path).stdout
    (tmp_path / "good.json").write_text(good)
    bad = tmp_path / "bad-shard.json"
    bad.write_text(damage(second))
    r = pdcrash(["merge", str(tmp_path / "good.json"), str(bad)])
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(bad) in r.stderr
    assert what in r.stderr
    assert r.stdout == ""
    if "not JSON" in what or "text after" in what or "nested" in what:
        assert re.search(r"at byte \d+", r.stderr)


def test_merge_refuses_runs_that_disagree(tmp_path, pdcrash):
    scn = write_scenario(tmp_path, SMALL, "small")
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(pdcrash(["run", scn, "--json", "--shard", "0/2"],
                         cwd=tmp_path).stdout)
    b.write_text(pdcrash(["run", scn, "--json", "--shard", "1/2", "--seed",
                          "5"], cwd=tmp_path).stdout)
    r = pdcrash(["merge", str(a), str(b)])
    assert r.returncode == 2
    assert str(b) in r.stderr and "'seed'" in r.stderr
    # the same shard twice, a whole run among shards, a missing file
    r = pdcrash(["merge", str(a), str(a)])
    assert r.returncode == 2 and "given twice" in r.stderr
    w = tmp_path / "w.json"
    w.write_text(pdcrash(["run", scn, "--json"], cwd=tmp_path).stdout)
    r = pdcrash(["merge", str(a), str(w)])
    assert r.returncode == 2 and str(w) in r.stderr
    r = pdcrash(["merge", str(a), str(tmp_path / "nope.json")])
    assert r.returncode == 2
    assert "cannot read %s" % (tmp_path / "nope.json") in r.stderr
    r = pdcrash(["merge"])
    assert r.returncode == 2 and "usage:" in r.stderr
    # one shard alone merges, with a warning that it is not the whole run
    r = pdcrash(["merge", str(a)])
    assert r.returncode == 0
    assert "1 of 2 shards missing: 1/2" in r.stderr
    assert json.loads(r.stdout)["states"] == json.loads(a.read_text())["states"]


def test_help_names_both_commands(pdcrash):
    r = pdcrash(["--help"])
    assert r.returncode == 0
    for word in ("minimize", "merge", "-o FILE"):
        assert word in r.stdout
