"""The metadata client interface (harness/engine/client.h) and pdcrash
--backend: the kernel's own dm-thin-metadata.c (Debian's linux-source 6.1
and 6.12) run through the same workloads and recovery as our core.

Kernel tests are SKIPPED when this pdcrash has no kernel backend (a
KERNEL=0 build, no linux-source packages), never passed."""
import json
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")
KERNELS = ("kernel-6.1", "kernel-6.12")


def run(args, timeout=300):
    return subprocess.run([PDCRASH] + args, capture_output=True, text=True,
                          timeout=timeout)


def need(backend):
    r = run(["run", "--backend", backend, "/nonexistent.scn"])
    if "not built" in r.stderr:
        pytest.skip(backend + " is not built into this pdcrash")


def test_unknown_backend_is_usage_error():
    r = run(["run", "--backend", "kernel-9.9", "provision"])
    assert r.returncode == 2
    assert "unknown backend 'kernel-9.9'" in r.stderr


def test_unknown_backend_in_id_is_usage_error():
    r = run(["replay", "provision@nope:s1:c0:p0-of-1:e0"])
    assert r.returncode == 2
    assert "unknown backend 'nope'" in r.stderr


def variant_names(stdout):
    return [v["name"] for v in json.loads(stdout)["per_variant"]]


def test_core_ids_carry_no_backend():
    r = run(["run", "provision", "--json", "--jobs", "2"])
    assert r.returncode == 0, r.stderr
    assert sorted(variant_names(r.stdout)) == ["provision", "provision+small"]
    r = run(["run", "provision", "--backend", "core", "--json", "--jobs", "2"])
    assert sorted(variant_names(r.stdout)) == ["provision", "provision+small"]


@pytest.mark.parametrize("backend", KERNELS)
def test_kernel_backend_suite_clean(backend):
    """Every crash state of these scenarios on the kernel's code rolls back
    or forward, and the variants are named with the backend."""
    need(backend)
    r = run(["run", "--backend", backend, "provision", "snapshots", "unmap", "delete-shared",
             "meta-snap", "abort", "random", "--json", "--jobs", "2"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    j = json.loads(r.stdout)
    assert j["violations"] == []
    assert j["states"] > 500
    r2 = run(["run", "provision", "--backend", backend, "--json", "--jobs", "2"])
    assert r2.returncode == 0, r2.stdout[-3000:] + r2.stderr[-3000:]
    assert sorted(variant_names(r2.stdout)) == [
        "provision+small@" + backend, "provision@" + backend]
    assert json.loads(r2.stdout)["violations"] == []


@pytest.mark.parametrize("backend", KERNELS)
def test_kernel_backend_runs_the_kernel(backend):
    """The log differs from the core's (the kernel's format is two commits,
    CL2), so the backend really changed: the same cut replays with a
    different log length."""
    need(backend)
    a = run(["replay", "provision:s1:c0:p0-of-1:e0"])
    b = run(["replay", "provision@%s:s1:c0:p0-of-1:e0" % backend])
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    la = [l for l in a.stdout.splitlines() if l.startswith("cut after")]
    lb = [l for l in b.stdout.splitlines() if l.startswith("cut after")]
    assert la and lb and la != lb


@pytest.mark.parametrize("backend", KERNELS)
def test_kernel_replay_is_deterministic(backend):
    need(backend)
    ident = "snapshots@%s:s1:c40:p0-of-1:e0" % backend
    outs = [run(["replay", ident]) for _ in range(2)]
    if outs[0].returncode == 2 and "choices" in outs[0].stderr:
        ident = "snapshots@%s:s1:c0:p0-of-1:e0" % backend
        outs = [run(["replay", ident]) for _ in range(2)]
    assert outs[0].returncode == 0, outs[0].stderr
    assert outs[0].stdout == outs[1].stdout


@pytest.mark.parametrize("backend", KERNELS)
def test_kernel_reads_before_abort_show_the_state_before(backend):
    """client.h K16 on the kernel's own code: in mutants/delete-enospc the
    last op, delete 2, runs out of metadata space (the kernel logs one
    failed allocation, and the live run got as far as that op), so the
    workload read the other devices before the abort, and they showed the
    pool as before the delete (the live run agrees with its model).
    Kernel mutant (h) fails those reads (make mutants, tests/mutants.py)."""
    need(backend)
    env = dict(os.environ, PDCRASH_KERNEL_LOG="1")
    r = subprocess.run([PDCRASH, "replay",
                        "mutants/delete-enospc@%s:s1:live:e0" % backend],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "outcome: agrees" in r.stdout
    assert r.stderr.count("unable to allocate new metadata block") == 1
    last = re.findall(r"-- op (\d+): (.*?)  \(line", r.stdout)[-1]
    assert last[1] == "delete 2"
    ran = re.search(r"^(\d+) ops ran", r.stdout, re.M)
    assert ran and int(ran.group(1)) == int(last[0]) + 1


def test_kernel_read_error_reaches_bug_on():
    """Finding (README, the kernel backend): on Linux 6.1, read error 11 of
    the snapshots+small workload makes a metadata space-map ref-count
    insert fail (logged and dropped in the deferred ops), and the next
    decrement of that block hits BUG_ON(i < 0) in dm-btree.c
    (btree_get_overwrite_leaf) instead of returning an error.  This test
    fails when that changes (a fixed kernel, or our shim)."""
    need("kernel-6.1")
    r = run(["replay", "snapshots+small@kernel-6.1:s1:c1:l-:er11"])
    assert r.returncode == 1
    assert "kernel BUG at" in r.stderr and "dm-btree.c" in r.stderr, r.stderr[-2000:]
    assert "the run died: signal 6" in r.stdout
    # the --io-errors run forks each fault run, so the BUG is a violation
    # of that run (with an id that replays the same way), not the end of
    # pdcrash
    r = run(["run", "snapshots", "--backend", "kernel-6.1", "--io-errors"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    ids = re.findall(r"^  (\S+)  the fault run died: signal 6", r.stdout, re.M)
    assert "snapshots+small@kernel-6.1:s1:c0:p0-of-1:er11" in ids, r.stdout
    p = run(["replay", ids[0]])
    assert p.returncode == 1 and "the run died: signal 6" in p.stdout


@pytest.mark.parametrize("backend", KERNELS)
def test_kernel_drops_dec_errors_and_commits(backend, tmp_path):
    """Finding (README, the kernel backend): a read error while a delete
    frees a device's trees is dropped (dm-thin-metadata.c: subtree_dec
    only logs dm_btree_del's error, with_runs ignores dm_sm_dec_blocks'),
    and dm_tm_shadow_block has decremented the bitmap it failed to read:
    dm_pool_delete_thin_device returns 0, dm-thin's pool_message commits,
    and the committed metadata counts block 1 (a live bitmap) free.  Read 24
    of abort, once: no op sees an error.  This test fails when that
    changes (a fixed kernel, or our shim)."""
    need(backend)
    img = tmp_path / "s9.img"
    r = run(["replay", "abort@%s:s1:c608:l-:er24" % backend,
             "--save-image", str(img)])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert ("IO fault: read 24 failed first at log position 600; no op "
            "returned it") in r.stdout, r.stdout[-2000:]
    assert ("metadata block 1: bad reference count: 0 on disk, 1 expected"
            in r.stdout), r.stdout[-2000:]
    assert "state 9 (transaction id 2, pool time 0): 0 differences" in r.stdout
    if shutil.which("thin_check"):
        c = subprocess.run(["thin_check", str(img)], capture_output=True,
                           text=True)
        assert c.returncode != 0, c.stdout + c.stderr
        assert ("metadata reference counts differ for block 1, expected 1, "
                "but got 0") in c.stdout + c.stderr
    # the same drop in __release_metadata_snap (dm_btree_del's result
    # ignored): blocks of the released snapshot leak
    r = run(["replay", "enospc-meta+small@%s:s1:c10259:lb0v1:eR48" % backend])
    assert r.returncode == 1
    assert "leak: metadata block 20: leaked" in r.stdout, r.stdout[-2000:]


def test_io_error_no_op_returned_is_checked():
    """An IO error the backend absorbed or dropped (no op returned it) is
    checked from where it fired to the next commit, like one an op
    returned: the once-only read errors of abort's delete are reported
    (before, a fault run in which no op failed checked no state)."""
    need("kernel-6.1")
    r = run(["run", "abort", "--backend", "kernel-6.1", "--io-errors",
             "--json", "--jobs", "2"])
    assert r.returncode == 1, r.stderr[-2000:]
    ids = json.loads(r.stdout)["violations"]
    assert "abort@kernel-6.1:s1:c608:l-:er24" in ids, ids
    assert "abort@kernel-6.1:s1:c608:l-:eR24" in ids, ids


def test_kernel_src_with_mutant_a_is_caught(tmp_path):
    """KERNEL_SRC points at a copy of the 6.1 tree with kernel mutant (a)
    (harness/kernel/mutants/superblock-before-pre-commit.patch) applied by
    hand; pdcrash on that tree (--backend kernel) finds a violation whose
    id carries @kernel and replays with identical output twice."""
    src = os.path.join(BUILD, "kernel", "6.1")
    if not os.path.exists(os.path.join(src, ".fetched")):
        pytest.skip("the 6.1 sources were not fetched")
    tree = tmp_path / "linux"
    subprocess.run(["cp", "-R", src, str(tree)], check=True)
    for junk in ("obj", "ktest", ".fetched"):
        subprocess.run(["rm", "-rf", str(tree / junk)], check=True)
    patch = os.path.join(ROOT, "harness", "kernel", "mutants",
                         "superblock-before-pre-commit.patch")
    with open(patch) as f:
        r = subprocess.run(["patch", "-p1", "-d", str(tree)], stdin=f,
                           capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    b = tmp_path / "b"
    r = subprocess.run(["make", "-C", ROOT, "B=" + str(b), "KERNEL_SRC=" + str(tree),
                        "KERNEL_VERSIONS=custom", str(b / "pdcrash")],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exe = str(b / "pdcrash")
    env = dict(os.environ, PDCRASH_SCENARIOS=os.path.join(ROOT, "scenarios"))
    r = subprocess.run([exe, "run", "provision", "--backend", "kernel",
                        "--fail-fast", "--jobs", "2"], capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    ident = [l.split()[0] for l in r.stdout.splitlines()
             if l.startswith("  provision") and "@kernel:" in l][0]
    outs = [subprocess.run([exe, "replay", ident], capture_output=True,
                           text=True, timeout=300, env=env) for _ in range(2)]
    assert outs[0].returncode == 1, outs[0].stdout + outs[0].stderr
    assert outs[0].stdout == outs[1].stdout
    # the unpatched tree on the same scenario: clean
    r = run(["run", "provision", "--backend", "kernel-6.1", "--jobs", "2"])
    assert r.returncode == 0, r.stdout[-2000:]
