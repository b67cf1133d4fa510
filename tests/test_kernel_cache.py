"""dm-cache metadata on the kernel backends (harness/engine/cache_client.h,
harness/kernel/client_kernel_cache.c): Linux's own dm-cache-metadata.c
(Debian's linux-source 6.1 and 6.12) through the cache workload, its
recovery and `pdcrash diff`, and the findings in that code, each kept by
a run that shows it.

SKIPPED when this pdcrash has no kernel backend (a KERNEL=0 build, no
linux-source packages), never passed."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")
KERNELS = ("kernel-6.1", "kernel-6.12")
CACHE_DIR = os.path.join(ROOT, "scenarios", "cache")
CACHE = sorted("cache/" + f[:-4] for f in os.listdir(CACHE_DIR)
               if f.endswith(".scn"))


def run(args, timeout=300):
    return subprocess.run([PDCRASH] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def need(backend):
    r = run(["run", "--backend", backend, "/nonexistent.scn"])
    if "not built" in r.stderr:
        pytest.skip(backend + " is not built into this pdcrash")


def scenario(tmp_path, name, text):
    path = tmp_path / (name + ".scn")
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("backend", KERNELS)
def test_cache_scenarios_on_kernel_every_cut_torn(backend):
    """Every cache scenario, every cut, torn writes, on the kernel's code:
    no violation, every state covered, a kernel recovery for each; given as
    the folder scenarios/cache, named as in `pdcrash list`."""
    need(backend)
    r = run(["run", "--backend", backend, "scenarios/cache", "--tear",
             "--json", "--jobs", "2"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    j = json.loads(r.stdout)
    assert j["violations"] == [] and j["outcomes"]["violation"] == 0
    assert j["covered_all"] and j["write_violations"] == 0
    names = [v["name"] for v in j["per_variant"]]
    want = sorted(n + s + "@" + backend for n in CACHE for s in ("", "+small"))
    assert sorted(names) == want
    for v in j["per_variant"]:
        assert v["states"] > 0 and v["recoveries"] > 0, v["name"]
        assert v["outcomes"]["rollforward"] > 0, v["name"]


def test_kernel_cache_ids_replay(tmp_path):
    """A kernel-backend cache id replays on that backend: a crash state (its
    image saved passes our checker and Debian's cache_check) and a live
    failure (the shrink finding below), each twice with the same output."""
    need("kernel-6.1")
    sid = "cache/basic@kernel-6.1:s1:c30:l-:e0"
    img = str(tmp_path / "state.img")
    outs = [run(["replay", sid, "--save-image", img]) for _ in range(2)]
    assert outs[0].returncode == 0, outs[0].stdout + outs[0].stderr
    assert outs[0].stdout == outs[1].stdout
    assert re.search(r"outcome: roll(back|forward)", outs[0].stdout)
    assert subprocess.run([os.path.join(BUILD, "pdtool"), "cache-check",
                           img, "-q"]).returncode == 0
    if subprocess.run(["sh", "-c", "command -v cache_check"],
                      capture_output=True).returncode == 0:
        assert subprocess.run(["cache_check", "-q", img]).returncode == 0
    path = scenario(tmp_path, "shrink", SHRINK_AFTER_CRASH)
    lid = path[:-4] + "@kernel-6.1:s1:live:e0"
    outs = [run(["replay", lid]) for _ in range(2)]
    assert outs[0].returncode == 1
    assert outs[0].stdout == outs[1].stdout
    assert "kernel-6.1 returned 0 (success), the model -22" in outs[0].stdout


def test_diff_cache_scenarios_core_kernel_no_unexplained():
    """pdcrash diff of every cache scenario, core against kernel-6.1: the
    same result for every op, every image passes our checker and dumps
    alike in both backends, every byte difference has a named cause; 6.1
    against 6.12: byte-identical."""
    need("kernel-6.1")
    r = run(["diff", "scenarios/cache"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "UNEXPLAINED" not in r.stdout
    rows = {m[0]: [int(x) for x in m[1:]] for m in re.findall(
        r"^(cache/\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$",
        r.stdout, re.M)}
    assert sorted(rows) == CACHE
    for name, (ops, commits, ident, expl, unexpl) in rows.items():
        assert ops > 0 and commits > 2 and ident + expl == commits, name
        assert unexpl == 0 and ident >= 2, name	# the format and setup
    causes = set(re.findall(r"explained: ([a-z-]+)", r.stdout))
    assert causes <= {"cache-array-shadow-order", "cache-dirty-bitset-rebuilt",
                      "cache-shutdown-rewrites", "cache-hints-not-resized",
                      "cache-untrusted-first-change", "cache-abort-write-back",
                      "stale-node-slots", "free-block-contents"}, causes
    r = run(["diff", "--backends", "kernel-6.1,kernel-6.12", "scenarios/cache"])
    assert r.returncode == 0, r.stdout[-3000:]
    total = re.search(r"^total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$",
                      r.stdout, re.M).groups()
    assert total[1] == total[2] and total[4] == "0", total


def test_kernel_cache_ctests():
    """The C tests of tests/kernel/test_kcache.c pass on both versions,
    the findings' tests among them (each passes while the kernel behaves
    so)."""
    ktest = os.path.join(BUILD, "ktest")
    r = subprocess.run(["make", "-C", ROOT, "B=" + BUILD, "ktest"],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode or not os.access(ktest, os.X_OK):
        pytest.skip("ktest not built (no kernel sources?)")
    r = subprocess.run([ktest], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PD_BUILD=BUILD))
    lines = [l for l in r.stdout.splitlines() if "_kcache_" in l]
    for v in ("k61_", "k612_"):
        for name in ("kcache_kernel_image_checks_clean",
                     "kcache_kernel_opens_core_image",
                     "kcache_finding_shrink_after_crash_drops_dirty_blocks",
                     "kcache_finding_commit_after_abort_stores_aborted_roots",
                     "kcache_finding_discard_resize_keeps_cached_word",
                     "kcache_finding_resize_leaves_hint_array_cache_check_refuses",
                     "kcache_finding_open_error_path_list_del_null",
                     "kcache_finding_array_dec_read_error_leaks_blocks"):
            assert any(l.startswith("ok ") and (v + name) in l
                       for l in lines), v + name


# --- findings in the kernel's code, each shown by a scenario kept out of
# --- scenarios/ (so the default kernel runs stay clean), README names them

# dm_cache_resize reads the stored dirty bits even after an open without a
# clean shutdown, where its own load_mappings reports every mapped block
# dirty: the shrink drops a block whose data may be newer than the origin's.
SHRINK_AFTER_CRASH = """cache blocks=32 version=2 hint=4 discard=8
map 3 103
commit
reopen
resize 2
"""

# dm_bitset_resize keeps the bitset's cached word: a discard bit set past
# the new end of a shrink comes back when the bitset grows again.
DISCARD_RESIZE = """cache blocks=32 version=1 hint=4 discard=200
discard 100
discard-resize 10
discard-resize 200
commit
"""


@pytest.mark.parametrize("backend", KERNELS)
def test_finding_shrink_after_crash(tmp_path, backend):
    need(backend)
    path = scenario(tmp_path, "shrink", SHRINK_AFTER_CRASH)
    assert run(["run", path]).returncode == 0		# our core refuses it
    r = run(["run", path, "--backend", backend])
    assert r.returncode == 1
    assert ("live run: op 7 'resize 2': %s returned 0 (success), the model "
            "-22 (invalid argument)" % backend) in r.stdout


@pytest.mark.parametrize("backend", KERNELS)
def test_finding_discard_resize_keeps_cached_word(tmp_path, backend):
    need(backend)
    path = scenario(tmp_path, "dresize", DISCARD_RESIZE)
    assert run(["run", path]).returncode == 0
    r = run(["run", path, "--backend", backend])
    assert r.returncode == 1
    assert ("dblock 100: the kernel reports it discarded, the adapter not "
            "discarded") in r.stdout


def test_shutdown_without_hints_is_skipped_by_name(tmp_path):
    """KC5: a clean shutdown while no hints are trusted is skipped on the
    kernel backends, named on stderr; our core runs it."""
    need("kernel-6.1")
    path = scenario(tmp_path, "nohints", """cache blocks=32 version=1 hint=4 discard=8
map 0..3 100
commit
reopen
dirty 1
shutdown
map 5 200
commit
""")
    r = run(["run", path, "--backend", "kernel-6.1"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"nohints\.scn:6: 'shutdown' skipped on backend "
                     r"kernel-6.1: .*KC5", r.stderr)
    r = run(["run", path])
    assert r.returncode == 0 and "skipped" not in r.stderr


def test_io_errors_reach_the_open_error_path(tmp_path):
    """--io-errors on the kernel's dm-cache: a flush failing from the open
    of the format on dies in metadata_open's error path (a NULL
    dereference in list_del; tests/kernel/test_kcache.c); the fault run is
    a violation with an id that replays the death."""
    need("kernel-6.1")
    r = run(["replay", "cache/basic@kernel-6.1:s1:c0:p0-of-1:eF3"])
    out = r.stdout + r.stderr
    assert r.returncode == 1
    # a sanitizer build reports the null dereference in list_del itself
    assert "died: signal 11" in out or ("list.h" in out and "null" in out)
