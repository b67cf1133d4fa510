"""setup-done (harness/engine/scenario.h; driver.h SW1, damage.h DG3): the
fault sweeps plan no fault before the line, --damage damages only what the
ops after it wrote, the crash states of the setup are still explored, and
the ids of the faults after it replay."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")

BODY = """pool data=2000 meta=256
create 0
map 0 0..60
commit
snap 1 0
map 0 10..20
commit
"""
TAIL = """map 1 30..40
unmap 0 5
commit
"""


def run(exe, args, timeout=600, env=None):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def scenario(tmp_path, text, name):
    p = tmp_path / (name + ".scn")
    p.write_text(text)
    return str(p)


def variants(path, *args):
    r = run(PDCRASH, ["run", path, "--tear", "--json"] + list(args))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    d = json.loads(r.stdout)
    return d, {v["name"].rsplit("/", 1)[-1]: v for v in d["per_variant"]}


def test_grammar_once_without_expect(tmp_path):
    for text, what in [
            (BODY + "setup-done\nsetup-done\n", "bad.scn:9: setup-done: once "
             "per scenario (line 8 has it already)"),
            (BODY + "setup-done 1\n", "bad.scn:8: 'setup-done' takes 0 "
             "arguments, got 1"),
            (BODY + "setup-done expect=EINVAL\n", "bad.scn:8: setup-done: "
             "expect= belongs on ops that call the pool"),
            (BODY + "random ops=5 mix=setup-done:1\n",
             "unknown op kind 'setup-done'"),
            ("cache blocks=64\nsetup-done\n", "bad.scn:2: ")]:
        r = run(PDCRASH, ["run", scenario(tmp_path, text, "bad")])
        assert r.returncode == 2, text + r.stdout + r.stderr
        assert what in r.stderr, r.stderr


def test_crash_states_of_the_setup_are_all_explored(tmp_path):
    plain, _ = variants(scenario(tmp_path, BODY + TAIL, "plain"))
    marked, _ = variants(scenario(tmp_path, BODY + "setup-done\n" + TAIL,
                                  "marked"))
    for k in ("cut_points", "states", "states_total"):
        assert plain[k] == marked[k], k


@pytest.mark.parametrize("sweep", ["--io-errors", "--media-faults",
                                   "--alloc-faults"])
def test_the_sweeps_plan_nothing_before_it(tmp_path, sweep):
    """The setup's IO ops are counted and left out: fewer fault runs with
    the line in the middle, one fault-free run each with it at the end."""
    _, plain = variants(scenario(tmp_path, BODY + TAIL, "p"), sweep)
    _, mid = variants(scenario(tmp_path, BODY + "setup-done\n" + TAIL, "m"),
                      sweep)
    _, end = variants(scenario(tmp_path, BODY + TAIL + "setup-done\n", "e"),
                      sweep)
    assert "setup_io" not in plain["p"]
    for v in ("", "+small"):
        assert 1 < mid["m" + v]["runs"] < plain["p" + v]["runs"], v
        assert end["e" + v]["runs"] == 1, v
    # the setup's writes and flushes, as counted by the fault-free run
    io = mid["m"]["setup_io"]
    assert io[1] > 0 and io[2] > 0, io
    assert end["e"]["setup_io"][1] > io[1]


def test_the_summary_names_what_it_left_out(tmp_path):
    path = scenario(tmp_path, BODY + "setup-done\n" + TAIL, "named")
    r = run(PDCRASH, ["run", path, "--tear", "--io-errors"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert re.search(r"named: no fault planned in its setup \(setup-done\): "
                     r"\d+ reads, [1-9]\d* writes, [1-9]\d* flushes",
                     r.stdout), r.stdout[-2000:]
    r = run(PDCRASH, ["run", path, "--tear"])
    assert "no fault planned" not in r.stdout


def test_a_flush_error_bug_after_it_is_caught_and_replays(tmp_path,
                                                          mutants_exe):
    """superblock-despite-flush-error (core/mutant.h) shows only when a
    flush fails: --io-errors catches it after the setup, not in it."""
    after = scenario(tmp_path, BODY + "setup-done\n" + TAIL, "after")
    r = run(mutants_exe, ["run", after, "--tear", "--io-errors",
                          "--mutant", "superblock-despite-flush-error"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    ids = sorted(set(re.findall(r"(after(?:\+small)?:s\d+:\S+)", r.stdout)))
    assert ids, r.stdout[-2000:]
    env = dict(os.environ, PDCRASH_SCENARIOS=str(tmp_path))
    for i in ids[:3]:
        rr = run(mutants_exe, ["replay", i, "--mutant",
                               "superblock-despite-flush-error"], env=env)
        assert rr.returncode == 1, i + rr.stdout[-2000:] + rr.stderr
    whole = scenario(tmp_path, BODY + TAIL + "setup-done\n", "whole")
    r = run(mutants_exe, ["run", whole, "--tear", "--io-errors",
                          "--mutant", "superblock-despite-flush-error"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


def damaged_images(path):
    r = run(PDCRASH, ["run", path, "--damage"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    m = re.search(r"(\d+) damaged images", r.stdout)
    assert m, r.stdout[-2000:]
    return int(m.group(1))


def test_damage_takes_only_what_the_ops_after_it_wrote(tmp_path):
    plain = damaged_images(scenario(tmp_path, BODY + TAIL, "dp"))
    mid = damaged_images(scenario(tmp_path, BODY + "setup-done\n" + TAIL,
                                  "dm"))
    end = damaged_images(scenario(tmp_path, BODY + TAIL + "setup-done\n",
                                  "de"))
    assert 0 < mid < plain, (mid, plain)
    assert end == 0


@pytest.mark.parametrize("sweep", ["--io-errors", "--media-faults",
                                   "--alloc-faults"])
def test_serial_sweep_plans_the_same(tmp_path, sweep):
    """PDCRASH_SWEEP=serial (each fault run from the start) skips the same
    setup as the linear sweep: the same runs, states and outcomes."""
    path = scenario(tmp_path, BODY + "setup-done\n" + TAIL, "ser")
    args = ["run", path, "--tear", "--json", sweep]
    lin = run(PDCRASH, args)
    ser = run(PDCRASH, args, env=dict(os.environ, PDCRASH_SWEEP="serial"))
    assert lin.returncode == 0 and ser.returncode == 0, ser.stderr
    a, b = json.loads(lin.stdout), json.loads(ser.stdout)
    assert a["states"] == b["states"] and a["outcomes"] == b["outcomes"]
    for x, y in zip(a["per_variant"], b["per_variant"]):
        assert x["runs"] == y["runs"] and x["states"] == y["states"], x


def test_merge_of_shards_keeps_runs_and_setup(tmp_path):
    """pdcrash merge: per_variant runs and setup_io are the same in every
    shard (each runs every workload) and come out as the whole run's."""
    path = scenario(tmp_path, BODY + "setup-done\n" + TAIL, "sh")
    args = ["run", path, "--tear", "--json", "--io-errors"]
    whole = run(PDCRASH, args)
    assert whole.returncode == 0, whole.stderr
    parts = []
    for k in range(2):
        r = run(PDCRASH, args + ["--shard", "%d/2" % k])
        assert r.returncode == 0, r.stderr
        p = tmp_path / ("shard%d.json" % k)
        p.write_text(r.stdout)
        parts.append(str(p))
    r = run(PDCRASH, ["merge"] + parts)
    assert r.returncode == 0, r.stderr
    merged, w = json.loads(r.stdout), json.loads(whole.stdout)
    for x, y in zip(merged["per_variant"], w["per_variant"]):
        assert x["runs"] == y["runs"] > 1, (x, y)
        assert x["setup_io"] == y["setup_io"], (x, y)
    # a shard whose setup differs is not a shard of the same run
    bad = json.loads(open(parts[1]).read())
    bad["per_variant"][0]["setup_io"][1] += 1
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = run(PDCRASH, ["merge", parts[0], str(tmp_path / "bad.json")])
    assert r.returncode == 2 and "setup_io" in r.stderr, r.stderr
    bad["per_variant"][0]["surprise"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = run(PDCRASH, ["merge", parts[0], str(tmp_path / "bad.json")])
    assert r.returncode == 2 and "surprise" in r.stderr, r.stderr
