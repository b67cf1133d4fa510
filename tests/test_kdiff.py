"""pdcrash diff (harness/pdcrash/diff.c): one workload on two backends in
lock step, results after every op, images block by block and dumps at every
commit; and a kernel mutant it and pdcrash run must catch.

Kernel tests are SKIPPED when this pdcrash has no kernel backend."""
import os
import re
import shutil
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")


def run(args, exe=PDCRASH, timeout=300):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def need_kernel():
    r = run(["run", "--backend", "kernel-6.1", "/nonexistent.scn"])
    if "not built" in r.stderr:
        pytest.skip("kernel-6.1 is not built into this pdcrash")


def table(stdout):
    """{scenario: (ops, commits, identical, explained, unexplained)}"""
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        if m:
            rows[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
    return rows


def test_diff_bad_usage_exits_2():
    for args, msg in ((["--backends", "core"], "bad --backends 'core'"),
                      (["--backends", "core,nope"], "unknown backend 'nope'"),
                      (["--bogus"], "unknown option '--bogus'"),
                      (["/nonexistent.scn", "--backends", "core,core"],
                       "/nonexistent.scn")):
        r = run(["diff"] + args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr, (args, r.stderr)


def test_diff_core_against_itself_is_byte_identical():
    r = run(["diff", "--backends", "core,core"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    rows = table(r.stdout)
    assert len(rows) >= 11          # ten scenarios and the total
    for name, (ops, commits, ident, expl, unexpl) in rows.items():
        assert commits > 0 and ident == commits and expl == 0 and unexpl == 0, name


def test_diff_default_suite_core_kernel_no_unexplained():
    """The default suite on core and kernel-6.1: every op alike, every
    image opens in both with the same dump, and every byte difference is
    put down to a named cause; the scenarios without a remove stay
    byte-identical but for stale node slots."""
    need_kernel()
    r = run(["diff"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "core against kernel-6.1" in r.stdout
    rows = table(r.stdout)
    assert "UNEXPLAINED" not in r.stdout
    for name, (ops, commits, ident, expl, unexpl) in rows.items():
        assert ops > 0 and commits > 0 and ident + expl == commits, name
        assert unexpl == 0
    # thin pools (the dm-cache scenarios: tests/test_kernel_cache.py)
    causes = set(re.findall(r"^  (?!cache/)\S+: .*explained: ([a-z-]+)",
                            r.stdout, re.M))
    # sm-root-padding: the kernel copies the space-map roots through a
    # kmalloc'd buffer it never zeroes, so the padding holds whatever the
    # heap held there: zeroes from fresh memory, or what an earlier
    # scenario of the same run freed (the dm-cache ones run first), or
    # ASan's 0xbe fill.  Which of these a build meets changes with any
    # change to the run's allocations, so it is allowed always; diff
    # compares every other superblock byte before it names this cause.
    allowed = {"stale-node-slots", "free-block-contents", "range-remove",
               "metadata-space", "data-size-at-commit", "free-data-wraps",
               "free-metadata-layout", "caller-misuse", "no-restore-api",
               "sm-root-padding"}
    assert causes <= allowed, causes
    # ops out of the core's contract (K14) only where a scenario names them
    # (reach/passdown: the passdown's data calls past the data device)
    for name in re.findall(r"^  (\S+): op .*explained: caller-misuse",
                           r.stdout, re.M):
        assert name in ("reach/caller-misuse", "reach/passdown"), name
    # the restore op (K17) only where a scenario names it
    for name in re.findall(r"^  (\S+): op .*explained: no-restore-api",
                           r.stdout, re.M):
        assert name in ("reach/restore", "reach/lookups-evicted",
                        "reach/cache-none-restore"), name
    # the status op's named differences (client.h K10, K11) only where a
    # data device grows and the status line is read before the commit
    for name in re.findall(r"^  (\S+): op .*explained: (?:data-size-at-commit|"
                           r"free-data-wraps)", r.stdout, re.M):
        assert name in ("resize", "reach/read-apis"), name
    # -ENOSPC at another op is put down to metadata space only where the
    # metadata device is meant to run out (mutants/delete-enospc: kernel
    # mutant (h)'s delete, at its first allocation; reach/meta-wrap-last:
    # the core runs out at an unmap, where its pool fails and the diff
    # asks the core's allocator count)
    for name in re.findall(r"^  (\S+): op .*explained: metadata-space",
                           r.stdout, re.M):
        assert (name.startswith("enospc-meta") or
                name in ("mutants/delete-enospc",
                         "reach/meta-wrap-last")), name
    # no remove in provision, meta-snap, resize: no divergence there
    for name in ("provision", "meta-snap", "resize"):
        assert not re.search(r"^  %s: .*range-remove" % name, r.stdout, re.M)


def test_diff_images_agree_under_debian_thin_dump(tmp_path):
    need_kernel()
    if not shutil.which("thin_dump"):
        pytest.skip("thin_dump not installed")
    r = run(["diff", "unmap", "random", "snapshots", "abort",
             "--save-images", str(tmp_path)])
    assert r.returncode == 0, r.stdout[-2000:]
    for name in ("unmap", "random", "snapshots", "abort"):
        dumps = []
        for be in ("core", "kernel-6.1"):
            img = tmp_path / ("%s.%s.img" % (name, be))
            c = subprocess.run(["thin_check", str(img)], capture_output=True,
                               text=True)
            assert c.returncode == 0, (name, be, c.stdout + c.stderr)
            d = subprocess.run(["thin_dump", str(img)], capture_output=True,
                               text=True)
            assert d.returncode == 0, d.stderr
            dumps.append(d.stdout)
        assert dumps[0] == dumps[1], name
        assert "<device" in dumps[0] or name == "abort"


def bottom_root_entries(img):
    """(flags, nr_entries) of device 0's bottom-level root."""
    with open(img, "rb") as f:
        data = f.read()
    blk = lambda i: data[i * 4096:(i + 1) * 4096]
    top = struct.unpack_from("<Q", blk(0), 320)[0]
    flags, _, nr, mx, _ = struct.unpack_from("<IQIII", blk(top), 4)
    root = struct.unpack_from("<Q", blk(top), 32 + 8 * mx)[0]
    flags, _, nr, _, _ = struct.unpack_from("<IQIII", blk(root), 4)
    return flags, nr


def test_absorb_shared_scenario_shape(tmp_path):
    """scenarios/mutants/absorb-shared.scn relies on Linux 6.1's merge
    threshold: after `unmap 0 130` and its commit the root of device 0 is
    an internal node with one entry (the absorb comes at the next remove,
    after the snapshot)."""
    need_kernel()
    src = open(os.path.join(ROOT, "scenarios", "mutants",
                            "absorb-shared.scn")).read()
    head = src[:src.index("unmap 0 130")] + "unmap 0 130\ncommit\n"
    scn = tmp_path / "absorb-head.scn"
    scn.write_text(head)
    r = run(["diff", str(scn), "--backends", "kernel-6.1,kernel-6.1",
             "--save-images", str(tmp_path)])
    assert r.returncode == 0, r.stdout[-2000:]
    flags, nr = bottom_root_entries(tmp_path / "absorb-head.kernel-6.1.img")
    assert flags & 1 and nr == 1, (flags, nr)


def test_kernel_mutant_e_caught_by_run_and_diff():
    """Kernel mutant (e), alloc-old-map-only (harness/kernel/mutants/),
    built on a patched copy of 6.1 (cached in build/kmutants/): pdcrash run
    finds a data block handed out while in use (a live-run violation that
    replays alike twice), and pdcrash diff against core reports the op."""
    if not os.path.exists(os.path.join(BUILD, "kernel", "6.1", ".fetched")):
        pytest.skip("the 6.1 sources were not fetched")
    b = subprocess.run(["sh", "harness/kernel/mutants/build.sh", BUILD,
                        "alloc-old-map-only"], cwd=ROOT, capture_output=True,
                       text=True, timeout=1200)
    assert b.returncode == 0, b.stderr[-3000:]
    exe = os.path.join(BUILD, "kmutants", "alloc-old-map-only", "pdcrash")
    scn = "scenarios/mutants/data-full.scn"
    r = run(["run", scn, "--backend", "kernel", "--fail-fast"], exe=exe)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "a new block handed out while in use" in r.stdout
    ident = re.search(r"^first violation: (\S+)$", r.stdout, re.M).group(1)
    outs = [run(["replay", ident], exe=exe) for _ in range(2)]
    assert outs[0].returncode == 1 and outs[0].stdout == outs[1].stdout
    d = run(["diff", scn, "--backends", "core,kernel"], exe=exe)
    assert d.returncode == 1, d.stdout
    assert re.search(r"UNEXPLAINED: op \d+ 'map 0 64': core returned -28 "
                     r".*kernel 0", d.stdout), d.stdout
    # the unpatched kernel and our core: clean on the same scenario
    for be in ("kernel-6.1", "core"):
        r = run(["run", scn, "--backend", be])
        assert r.returncode == 0, (be, r.stdout[-2000:])


def test_diff_runs_data_writes(tmp_path):
    """A `write` op's metadata part runs on both backends: a write to an
    unmapped or shared block maps one, a FUA one then commits; a write in
    place changes no metadata.  Here: the plain commit, the two FUA writes
    that provision (a commit each), none for the FUA write in place, and
    the snapshot's copy-on-write that maps without FUA: 3 commits and one
    more mapping than the map ops make, compared after the format's."""
    need_kernel()
    scn = tmp_path / "writes.scn"
    scn.write_text("pool data=100 meta=64\ncreate 0\ncommit\n"
                   "write 0 1 fua\nwrite 0 2 fua\nwrite 0 1 fua\n"
                   "snap 1 0\nwrite 1 2\ncommit\nmapped-count 1\n"
                   "mapped-count 0\n")
    r = run(["diff", str(scn)])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    rows = table(r.stdout)
    name = next(n for n in rows if n.endswith("writes"))
    ops, commits, ident, expl, unexpl = rows[name]
    assert unexpl == 0, r.stdout
    # the same without the writes: two commits fewer (the FUA provisions)
    nowrites = tmp_path / "nowrites.scn"
    nowrites.write_text("pool data=100 meta=64\ncreate 0\ncommit\n"
                        "snap 1 0\ncommit\n")
    base = table(run(["diff", str(nowrites)]).stdout)
    base_commits = next(v for n, v in base.items() if n.endswith("nowrites"))[1]
    assert commits == base_commits + 2, (commits, base_commits, r.stdout)
