"""The kernel backend (harness/kernel/, DESIGN.md 8): Linux's own
persistent-data and dm-thin-metadata.c, compiled from Debian's
linux-source packages against our shim, run by build/ktest.

The sources are fetched here (harness/kernel/fetch.sh, cached in
build/kernel/); if they cannot be had (no apt, no network), every test is
SKIPPED, never passed."""
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = ("6.1", "6.12")


def prefix(version):
    return "k" + version.replace(".", "") + "_"


@pytest.fixture(scope="module")
def ktest(build_dir):
    for v in VERSIONS:
        r = subprocess.run(["sh", "harness/kernel/fetch.sh", build_dir, v],
                           cwd=ROOT, capture_output=True, text=True, timeout=900)
        if r.returncode == 3:
            pytest.skip("kernel sources unavailable: " + r.stderr.strip())
        assert r.returncode == 0, r.stderr
    r = subprocess.run(["make", "-C", ROOT, "B=" + build_dir, "ktest"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    r = subprocess.run([os.path.join(build_dir, "ktest")], capture_output=True,
                       text=True, timeout=600,
                       env=dict(os.environ, PD_BUILD=build_dir))
    return r


@pytest.mark.parametrize("version", VERSIONS)
def test_kernel_ctests(ktest, version):
    """Every C test of tests/kernel/ passes on this version."""
    p = prefix(version)
    lines = [l for l in ktest.stdout.splitlines()
             if re.match(r"(not )?ok \d+ - " + p, l)]
    assert len(lines) >= 10, ktest.stdout
    bad = [l for l in lines if l.startswith("not ok")]
    assert not bad, ktest.stdout + ktest.stderr[-4000:]
    for name in ("kbufio_write_dirty_buffers_writes_then_flushes",
                 "kthin_kernel_image_checks_clean",
                 "kthin_kernel_opens_core_image"):
        assert any((p + name) in l for l in lines), name
    assert ktest.returncode == 0, ktest.stdout[-2000:]


@pytest.mark.parametrize("version", VERSIONS)
def test_only_prefixed_symbols_are_global(ktest, build_dir, version):
    """kernel.mk's localisation: the version's object exports only
    <prefix>dm_pool_*, dm_thin_*, dm_cache_*, dm_bufio_*, kbufio_*,
    kpolicy_* names."""
    obj = os.path.join(build_dir, "kernel", version, "kthin.o")
    out = subprocess.run(["nm", "-g", "--defined-only", obj], check=True,
                         capture_output=True, text=True).stdout
    names = [l.split()[2] for l in out.splitlines() if len(l.split()) == 3]
    names = [n for n in names if not n.startswith("__odr_asan")]
    p = prefix(version)
    assert p + "dm_pool_metadata_open" in names
    assert p + "dm_bufio_write_dirty_buffers" in names
    assert p + "dm_cache_metadata_open" in names
    assert p + "kpolicy_create" in names
    wrong = [n for n in names
             if not re.match(p + r"(dm_pool_|dm_thin_|dm_cache_|dm_bufio_|"
                             r"kbufio_|kpolicy_)", n)]
    assert not wrong, wrong
    und = subprocess.run(["nm", "-u", obj], check=True, capture_output=True,
                         text=True).stdout
    assert "dm_bm_" not in und and "dm_btree_" not in und
