"""pdcrash on dm-cache metadata (harness/engine/cache_scenario.h): the cache
line and ops, every cut and every crash state of cache scenarios, IO
errors, ids that replay, a run mixing thin and cache scenarios, shards,
and a workload the cache oracle must refuse."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")

SMALL = """cache blocks=20 version=%d hint=4 discard=8
map 0..4 100
dirty 1..3
discard 2
commit
clean 2
unmap 4
shutdown
dirty 0
commit
reopen
map 4 300
commit
"""


def run(args, **kw):
    return subprocess.run([PDCRASH] + args, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), cwd=ROOT, **kw)


def scenario(tmp_path, text, name="c"):
    p = tmp_path / (name + ".scn")
    p.write_text(text)
    return str(p)


def test_cache_scenario_every_state_survives(tmp_path):
    for version in (1, 2):
        path = scenario(tmp_path, SMALL % version, "v%d" % version)
        r = run(["run", path, "--json", "--tear"])
        assert r.returncode == 0, r.stdout + r.stderr
        j = json.loads(r.stdout)
        assert j["states"] > 50 and not j["violations"]
        assert j["outcomes"]["rollforward"] > 0
        assert j["states_total"] == j["states_covered"]
        assert j["writes_checked"] > 0


def test_cache_io_errors_survive(tmp_path):
    path = scenario(tmp_path, SMALL % 2)
    r = run(["run", path, "--json", "--io-errors"])
    assert r.returncode == 0, r.stdout[-2000:]
    j = json.loads(r.stdout)
    assert j["injected_errors"] > 0 and not j["violations"]


def test_default_run_holds_thin_and_cache_scenarios():
    r = run(["list"])
    assert r.returncode == 0
    assert "cache/basic" in r.stdout and "dm-cache" in r.stdout
    assert "snapshots" in r.stdout
    r = run(["run", "provision", "cache/basic", "--json"])
    assert r.returncode == 0, r.stdout[-2000:]
    names = [v["name"] for v in json.loads(r.stdout)["per_variant"]]
    assert "provision" in names and "cache/basic" in names


def test_kernel_backend_runs_cache_scenarios():
    """A kernel backend runs a cache scenario through its cache client
    (cache_client.h; tests/test_kernel_cache.py has the rest)."""
    r = run(["run", "cache/basic", "--backend", "kernel-6.1", "--json"])
    if "not built" in r.stderr:
        return
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["states"] > 0
    assert [v["name"] for v in j["per_variant"]] == [
        "cache/basic@kernel-6.1", "cache/basic+small@kernel-6.1"]


def test_cache_shards_add_up(tmp_path):
    path = scenario(tmp_path, SMALL % 1)
    whole = json.loads(run(["run", path, "--json"]).stdout)
    parts = [json.loads(run(["run", path, "--json", "--shard", "%d/3" % k]).stdout)
             for k in range(3)]
    assert sum(p["states"] for p in parts) == whole["states"]


def test_cache_ids_replay(tmp_path):
    path = scenario(tmp_path, SMALL % 2)
    rep = tmp_path / "rep"
    r = run(["run", path, "--report", str(rep)])
    assert r.returncode == 0
    r = run(["replay", path[:-4] + ":s1:c30:l-:e0"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "outcome: roll" in r.stdout


def test_bad_cache_lines_name_file_and_line(tmp_path):
    for text, what in [
            ("# a comment\ncache blocks=x\ncommit\n", "not a number"),
            ("\ncache version=3\ncommit\n", "version: 1 or 2"),
            ("cache\nmap 1\n", "'map' takes"),
            ("cache\nsnap 1 0\n", "unknown cache op 'snap'"),
            ("pool data=10\ncache\ncommit\n", "'cache' must come once"),
            ("cache\nrandom ops=3 mix=snap:1\n", "unknown cache op kind")]:
        path = scenario(tmp_path, text, "bad")
        r = run(["run", path])
        assert r.returncode == 2, text
        assert "bad.scn:2:" in r.stderr and what in r.stderr, r.stderr


def test_oracle_refuses_an_origin_block_mapped_twice(tmp_path):
    path = scenario(tmp_path, "cache blocks=8\nmap 0 5\nmap 1 5\ncommit\n")
    r = run(["run", path, "--json"])
    assert r.returncode == 1
    j = json.loads(r.stdout)
    msgs = j["violation_messages"]
    assert any(":live:" in i and "origin block 5 twice" in msgs[i]
               for i in j["violations"]), msgs


def test_cache_ids_minimize(tmp_path, mutants_exe):
    """minimize works on a cache id: the planted missing "all dirty after
    an unclean shutdown" shrinks to a few lines whose new id replays as a
    violation under the same mutant."""
    mut = ["--mutant", "cache-unclean-trusts-dirty"]
    r = subprocess.run([mutants_exe, "run", "cache/basic", "--json",
                        "--fail-fast"] + mut, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    vid = json.loads(r.stdout)["violations"][0]
    out = str(tmp_path / "min.scn")
    r = subprocess.run([mutants_exe, "minimize", vid, "-o", out] + mut,
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    lines = [ln for ln in open(out).read().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0].startswith("cache ") and len(lines) <= 6, lines
    new = [ln.split()[-1] for ln in r.stdout.splitlines()
           if ln.startswith("new id: ")][0]
    rp = subprocess.run([mutants_exe, "replay", new] + mut,
                        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert rp.returncode == 1 and "outcome: violation" in rp.stdout, rp.stdout
