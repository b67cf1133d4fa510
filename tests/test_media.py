"""pdcrash run --media-faults: bit rot at every read (eb<N>), a lost sector
at every write (ez<N>).  The core must refuse the damaged block or return
right data; crash states that read a lost sector may be `detected`, and
nothing else; the planted bug skip-read-checksum is caught and replays."""
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")

# An abort re-reads the committed metadata, so bit rot meets validated
# reads (with a roomy cache nothing else is read back).
SCN = """pool data=2000 meta=256 cache=16
create 0
map 0 0..60
commit
snap 1 0
map 1 0..20
unmap 0 3..30
abort
map 0 70..90
commit
"""


def run(args, exe=PDCRASH, env=None, timeout=600, cwd=None):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def scenario(tmp_path):
    p = tmp_path / "media.scn"
    p.write_text(SCN)
    return str(p)


def test_media_faults_no_violation_and_some_detected(tmp_path):
    r = run(["run", scenario(tmp_path), "--media-faults", "--json"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["violations"] == []
    mf = j["media_faults"]
    assert mf["runs"] > 0 and mf["fired"] > 0
    assert mf["refused"] > 0, mf           # bit rot met the validators
    assert j["outcomes"]["detected"] > 0   # lost sectors met by recovery
    # without the option: no media runs, nothing detected
    r = run(["run", scenario(tmp_path), "--json"])
    j0 = json.loads(r.stdout)
    assert "media_faults" not in j0
    assert j0["outcomes"]["detected"] == 0


def without_times(j):
    """The JSON without timings and recoveries run (the memo's saving
    depends on which process ran what)."""
    j = dict(j)
    for k in ("seconds", "states_per_second", "jobs", "recoveries"):
        j.pop(k, None)
    j["per_variant"] = [{k: v for k, v in pv.items() if k != "recoveries"}
                        for pv in j["per_variant"]]
    return j


def test_media_sweep_equals_serial_runs(tmp_path):
    path = scenario(tmp_path)
    a = run(["run", path, "--media-faults", "--json", "--jobs", "2"])
    env = dict(os.environ, PDCRASH_SWEEP="serial")
    b = run(["run", path, "--media-faults", "--json", "--jobs", "2"], env=env)
    assert a.returncode == 0 and b.returncode == 0
    assert without_times(json.loads(a.stdout)) == \
        without_times(json.loads(b.stdout))


def test_media_fault_ids_parse(tmp_path):
    path = scenario(tmp_path)[:-4]
    # sticky media faults do not exist
    for bad in ("eB3", "eZ3", "eb0", "ex3"):
        r = run(["replay", "%s:s1:c1:l-:%s" % (path, bad)])
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert "fault is not" in r.stderr
    for good in ("eb3", "ez3"):
        r = run(["replay", "%s:s1:c1:l-:%s" % (path, good)])
        assert r.returncode in (0, 1), (good, r.stdout, r.stderr)
        assert "outcome:" in r.stdout


def test_skip_read_checksum_caught_by_media_faults(tmp_path, mutants_exe):
    path = scenario(tmp_path)
    mutant = "skip-read-checksum"
    # without media faults the planted bug does not show
    r = run(["run", path, "--mutant", mutant, "--json"], exe=mutants_exe)
    assert r.returncode == 0, r.stdout[-2000:]
    r = run(["run", path, "--media-faults", "--mutant", mutant, "--json"],
            exe=mutants_exe)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    ids = json.loads(r.stdout)["violations"]
    rot = [i for i in ids if re.search(r":eb\d+$", i)]
    assert rot, ids
    # every violation replays, the same way twice
    a = run(["replay", rot[0], "--mutant", mutant], exe=mutants_exe)
    b = run(["replay", rot[0], "--mutant", mutant], exe=mutants_exe)
    assert a.returncode == 1, a.stdout + a.stderr
    assert "violation" in a.stdout
    assert a.stdout == b.stdout
    # the correct core, on the same fault, refuses the block instead
    r = run(["run", path, "--media-faults", "--json"])
    assert r.returncode == 0


def test_read_back_ops_find_a_lost_sector_as_detection():
    """The `check` and `meta-snap-check` ops read the committed metadata
    back: in a run whose lost sector damaged it, finding the damage is the
    point (the run aborts as after a refused block), never a live
    disagreement with the model."""
    r = run(["run", "reach/read-ops", "--media-faults", "--json"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["violations"] == []
    assert j["media_faults"]["fired"] > 0 and j["outcomes"]["detected"] > 0
