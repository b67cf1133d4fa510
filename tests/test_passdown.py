"""The passdown op (harness/engine/scenario.h; core/thin.h TH8): dm-thin's
discard passdown of a range, its grammar, and that each is-shared answer
is checked against the oracle: a planted wrong answer
(passdown-shared-wrong, core/mutant.h) fails the run, on the live
snapshot's sharing and on the held metadata snapshot's alike."""
import os
import re
import subprocess

from test_pdcrash import run, scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REACH = os.path.join(ROOT, "scenarios", "reach", "passdown.scn")


def run_mutant(exe, args):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_reach_passdown_passes():
    r = run(["run", REACH, "--no-continue"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


def test_planted_wrong_answer_is_caught(mutants_exe):
    """The answer counts the caller's reference twice: block 0, which the
    snapshot dev 1 still maps after the origin's passdown, is called not
    shared.  The run names the op, the block and why."""
    r = run_mutant(mutants_exe, ["run", REACH, "--mutant", "passdown-shared-wrong",
                          "--fail-fast"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    m = re.search(r"live run: op \d+ '(passdown [^']*)': data block (\d+) "
                  r"\(of vblock \d+\) answered not shared, yet a live device "
                  r"or the held metadata snapshot still maps it", r.stdout)
    assert m, r.stdout[-2000:]
    assert m.group(1) == "passdown 0 0..9" and m.group(2) == "0", m.groups()


def test_held_snapshot_answer_is_checked(tmp_path, mutants_exe):
    """Only the held metadata snapshot names the blocks once the live
    device's range is removed: each must be shared (the planted bug says
    not: caught), and after the release not shared (the same answers are
    right then, so a run whose only passdown follows the release passes
    with the bug on)."""
    held = scenario(tmp_path, "pool data=100 meta=128\ncreate 0\n"
                    "map 0 0..7\nmeta-snap\npassdown 0 2..5\ncommit\n",
                    "held")
    released = scenario(tmp_path, "pool data=100 meta=128\ncreate 0\n"
                        "map 0 0..7\nmeta-snap\nmeta-snap-release\ncommit\n"
                        "passdown 0 2..5\ncommit\n", "released")
    for path in (held, released):
        r = run(["run", path, "--no-continue"])
        assert r.returncode == 0, path + r.stdout[-2000:] + r.stderr
    r = run_mutant(mutants_exe, ["run", held, "--mutant", "passdown-shared-wrong",
                          "--fail-fast"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    assert "'passdown 0 2..5': data block 2 (of vblock 2) answered not " \
        "shared" in r.stdout, r.stdout[-2000:]
    r = run_mutant(mutants_exe, ["run", released, "--mutant",
                          "passdown-shared-wrong", "--fail-fast"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


def test_random_mix_draws_passdown(tmp_path):
    """A random line draws passdown with a weight; its runs pass."""
    path = scenario(tmp_path, "pool data=4000 meta=256\nrandom ops=150 "
                    "seed=3 mix=map:10,snap:1,commit:2,meta-snap:1,"
                    "passdown:3\n", "mixed")
    r = run(["run", path, "--no-continue"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    r = run(["replay", path[:-4] + ":s1:c99999999:p0-of-1:e0"])
    n = int(re.search(r"the end of the log \((\d+) entries\)",
                      r.stderr).group(1))
    r = run(["replay", path[:-4] + ":s1:c%d:p0-of-1:e0" % n,
                      "--trace"])
    assert r.returncode == 0, r.stderr
    ops = re.findall(r"-- op \d+: (\S+)", r.stdout)
    assert "passdown" in ops, ops[:40]


def test_misuse_refusals_are_checked(tmp_path):
    """at= names the passdown's data blocks: past the device's end, or a
    reversed range, every call is refused and the pool goes on as the
    model (the line's expect=EINVAL); within the device the line is the
    scenario's mistake, a live failure naming it."""
    ok = scenario(tmp_path, "pool data=100 meta=128\ncreate 0\n"
                  "map 0 0..3\ncommit\npassdown 0 0..3 at=98 "
                  "expect=EINVAL\npassdown 0 9..2 at=20 expect=EINVAL\n"
                  "commit\n", "misuse")
    r = run(["run", ok, "--no-continue"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    within = scenario(tmp_path, "pool data=100 meta=128\ncreate 0\n"
                      "passdown 0 0..3 at=96 expect=EINVAL\n", "within")
    r = run(["run", within, "--no-continue"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    assert "'passdown 0 0..3 at=96 expect=EINVAL': data blocks 96..99 lie " \
        "within the data device's 100" in r.stdout, r.stdout[-2000:]
