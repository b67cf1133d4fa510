"""Reach: scenarios in subfolders, live-failure ids, replay of every
printed violation id under every planted bug, the closest-state diff, and
the random op's boundary aims.  Small scenarios keep it fast."""
import json
import os
import re
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
unmap 0 20
commit
"""

# With remove-keeps-mapping the range unmap finds the block `unmap 0 20`
# left: the live run disagrees with its model there.
LIVE = SMALL + """unmap 0 15..25
commit
"""


def run(exe, args, timeout=300):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def scenario(tmp_path, text, name="small"):
    p = tmp_path / (name + ".scn")
    p.write_text(text)
    return str(p)


def printed_violations(stdout):
    """(id, message) of each violation `pdcrash run` printed."""
    out, on = [], False
    for line in stdout.splitlines():
        if re.match(r"^\d+ violations? \(replay with", line):
            on = True
            continue
        if on:
            m = re.match(r"^  (\S+)  (.*)$", line)
            if not m:
                break
            out.append((m.group(1), m.group(2)))
    return out


def mutant_names(exe):
    r = run(exe, ["mutants"])
    assert r.returncode == 0, r.stderr
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def test_subfolder_scenarios_are_listed_and_run():
    r = run(PDCRASH, ["list"])
    assert r.returncode == 0, r.stderr
    assert "reach/absorb-shared" in r.stdout
    assert re.search(r"^deep\b", r.stdout, re.M)
    # the pool line as the file says it (cache=default is not cache=0)
    assert re.search(r"^reach/api-callers +\d+ ops, data=1000 meta=256 "
                     r"cache=default block-size=128 format=open$",
                     r.stdout, re.M), r.stdout
    r = run(PDCRASH, ["run", "reach/absorb-shared", "--json", "--no-continue"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    j = json.loads(r.stdout)
    assert [v["name"] for v in j["per_variant"]] == [
        "reach/absorb-shared", "reach/absorb-shared+small"]
    r = run(PDCRASH, ["replay", "reach/absorb-shared:s1:c0:p0-of-1:e0"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_scenario_under_scenarios_is_run(tmp_path):
    d = tmp_path / "scn"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "top.scn").write_text(SMALL)
    (d / "sub" / "a.scn").write_text(SMALL)
    (d / "sub" / "deeper" / "b.scn").write_text(SMALL)
    (d / "sub" / "NOTES.md").write_text("not a scenario\n")
    env = dict(os.environ, PDCRASH_SCENARIOS=str(d))
    r = subprocess.run([PDCRASH, "run", "--json", "--no-continue"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    names = [v["name"] for v in json.loads(r.stdout)["per_variant"]]
    assert names == ["sub/a", "sub/a+small", "sub/deeper/b",
                     "sub/deeper/b+small", "top", "top+small"]


def test_a_folder_of_scenarios_is_named_like_a_scenario(tmp_path):
    """`pdcrash run sub` runs every .scn below scenarios/sub when no
    scenario is named sub; a scenario of that name wins; an unknown name
    is still bad input (exit 2)."""
    d = tmp_path / "scn"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "sub" / "a.scn").write_text(SMALL)
    (d / "sub" / "deeper" / "b.scn").write_text(SMALL)
    (d / "top.scn").write_text(SMALL)
    env = dict(os.environ, PDCRASH_SCENARIOS=str(d))

    def names(arg):
        r = subprocess.run([PDCRASH, "run", arg, "--json", "--no-continue"],
                           capture_output=True, text=True, timeout=300,
                           env=env, cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        return [v["name"] for v in json.loads(r.stdout)["per_variant"]]
    assert names("sub") == ["sub/a", "sub/a+small", "sub/deeper/b",
                            "sub/deeper/b+small"]
    (d / "sub.scn").write_text(SMALL)
    assert names("sub") == ["sub", "sub+small"]
    r = subprocess.run([PDCRASH, "run", "nosuch"], capture_output=True,
                       text=True, timeout=60, env=env, cwd=str(tmp_path))
    assert r.returncode == 2 and "no scenario 'nosuch'" in r.stderr, r.stderr


def test_live_failure_id_replays_and_minimizes(tmp_path, mutants_exe):
    mutant = "remove-keeps-mapping"
    path = scenario(tmp_path, LIVE)
    r = run(mutants_exe, ["run", path, "--mutant", mutant, "--no-continue"])
    assert r.returncode == 1, r.stdout + r.stderr
    live = [(i, m) for i, m in printed_violations(r.stdout) if ":live:" in i]
    assert sorted(i for i, _ in live) == sorted([
        path[:-4] + ":s1:live:e0", path[:-4] + "+small:s1:live:e0"])
    live.sort()
    for ident, msg in live:
        a = run(mutants_exe, ["replay", ident, "--mutant", mutant])
        assert a.returncode == 1, a.stdout + a.stderr
        assert "outcome: violation: " + msg in a.stdout
    # without the planted bug the same id replays clean
    a = run(PDCRASH, ["replay", live[0][0]])
    assert a.returncode == 0, a.stdout + a.stderr
    assert "outcome: agrees" in a.stdout
    out = str(tmp_path / "min.scn")
    m = run(mutants_exe, ["minimize", live[0][0], "--mutant", mutant, "-o", out])
    assert m.returncode == 1, m.stdout + m.stderr
    newid = re.search(r"^new id: (\S+)", m.stdout, re.M).group(1)
    assert newid == out[:-4] + ":s1:live:e0"
    ops = [l for l in open(out).read().splitlines()
           if l and not l.startswith(("#", "pool"))]
    assert 2 <= len(ops) <= 4, ops
    assert any(l.startswith("unmap") for l in ops)
    a = run(mutants_exe, ["replay", newid, "--mutant", mutant])
    assert a.returncode == 1, a.stdout + a.stderr


def test_bad_live_id_is_refused():
    r = run(PDCRASH, ["replay", "unmap:sX:live:e0"])
    assert r.returncode == 2
    assert "NAME:sSEED:live:eFAULT" in r.stderr


def test_every_printed_id_of_every_mutant_replays(tmp_path, mutants_exe):
    """Each violation id `run` prints, under each planted bug of the
    mutants build, with and without --io-errors, replays to the same
    outcome and message."""
    path = scenario(tmp_path, LIVE)
    seen = 0
    for mutant in mutant_names(mutants_exe):
        for io in ([], ["--io-errors"]):
            r = run(mutants_exe, ["run", path, "--mutant", mutant,
                                  "--no-continue"] + io, timeout=600)
            vs = printed_violations(r.stdout)
            assert (r.returncode == 1) == bool(vs), r.stdout[-2000:]
            for ident, msg in vs:
                a = run(mutants_exe, ["replay", ident, "--mutant", mutant])
                assert a.returncode == 1, (mutant, ident, a.stdout[-3000:],
                                           a.stderr)
                assert "outcome: violation: " + msg in a.stdout, \
                    (mutant, ident, msg, a.stdout[-3000:])
                seen += 1
    assert seen >= 40


def test_replay_diff_names_the_closest_allowed_state(tmp_path, mutants_exe):
    mutant = "remove-keeps-mapping"
    path = scenario(tmp_path, SMALL)
    r = run(mutants_exe, ["run", path, "--mutant", mutant, "--no-continue"])
    crash = [i for i, _ in printed_violations(r.stdout) if ":live:" not in i]
    assert crash, r.stdout
    a = run(mutants_exe, ["replay", crash[0], "--mutant", mutant])
    assert a.returncode == 1
    assert re.search(r"^found: transaction id \d+, pool time \d+$", a.stdout,
                     re.M), a.stdout
    states = re.findall(r"^  state (\d+) \(transaction id \d+, pool time \d+\): "
                        r"(\d+) difference", a.stdout, re.M)
    assert len(states) >= 1, a.stdout
    best = min(states, key=lambda s: (int(s[1]), int(s[0])))
    assert re.search(r"^found against the closest allowed state, %s: %s "
                     r"difference" % best, a.stdout, re.M), a.stdout


AIMED = """pool data=3000 meta=512 cache=32
random ops=400 devs=4 span=600 %s mix=map:50,unmap:14,unmap-range:4,snap:5,delete:3,create:1,commit:6,resize-data:1
commit
"""


def op_trace(path, extras=False):
    """The ops of the run of scenario path, as `replay --trace` prints them
    (with extras, those aim=boundaries added: [(op, is_extra)])."""
    r = run(PDCRASH, ["replay", path[:-4] + ":s1:c99999999:p0-of-1:e0"])
    n = int(re.search(r"the end of the log \((\d+) entries\)", r.stderr).group(1))
    r = run(PDCRASH, ["replay", path[:-4] + ":s1:c%d:p0-of-1:e0" % n, "--trace"])
    assert r.returncode == 0, r.stdout + r.stderr
    ops = re.findall(r"-- op \d+: (.*?)  \(line \d+(, aim extra)?\)", r.stdout)
    if extras:
        return [(o, bool(x)) for o, x in ops]
    return [o for o, x in ops if not x]


def test_random_aim_boundaries(tmp_path):
    plain = scenario(tmp_path, AIMED % "", "plain")
    aimed = scenario(tmp_path, AIMED % "aim=boundaries", "aimed")
    for path in (plain, aimed):
        r = run(PDCRASH, ["run", path, "--json", "--no-continue"])
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    a, b = op_trace(plain), op_trace(aimed)
    assert a != b
    # resizes land one block either side of a space-map bitmap boundary
    sizes = [int(o.split()[1]) for o in b if o.startswith("resize-data")]
    assert sizes and all(abs(s - 16320 * round(s / 16320)) <= 1 for s in sizes)
    # a snapshot of the same origin twice: a tree shared three ways
    snaps = [o.split()[2] for o in b if o.startswith("snap")]
    assert len(snaps) > len(set(snaps)), b
    # and, from a stream of its own, reads and caller errors; none of them
    # in the plain line
    extra = [o for o, x in op_trace(aimed, extras=True) if x]
    assert not [o for o, x in op_trace(plain, extras=True) if x]
    kinds = {o.split()[0] for o in extra}
    assert {"status", "find-range"} <= kinds, kinds
    assert kinds & {"create", "snap", "delete", "map", "unmap", "resize-data",
                    "resize-meta", "trans-id", "meta-snap-release"}, kinds


def test_random_aim_is_checked(tmp_path):
    path = scenario(tmp_path, "random ops=5 aim=edges\n", "bad")
    r = run(PDCRASH, ["run", path])
    assert r.returncode == 2
    assert "bad.scn:1:" in r.stderr and "aim" in r.stderr


@pytest.mark.parametrize("name", ["reach/caller-misuse", "reach/close-reopen",
                                  "reach/api-callers"])
@pytest.mark.parametrize("mode", [[], ["--tear"], ["--io-errors"],
                                  ["--media-faults"], ["--alloc-faults"],
                                  ["--damage"]])
def test_api_reach_scenarios_pass_in_every_mode(name, mode):
    """The caller-misuse ops, close and the failed-pool probe (which runs
    at each recovery of the fault modes) hold in every mode of the core."""
    r = run(PDCRASH, ["run", name, "--jobs", "2"] + mode)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
