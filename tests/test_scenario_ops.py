"""The read-only scenario ops (lookup, dev-info, needs-check, check,
meta-snap-check, highest, mapped-count, find-range, status;
harness/engine/scenario.h) and expect=: their grammar, their runs on every
backend, their place in the random mix, and a planted bug each kind of
check catches.  tests/unit/test_workload_ops.c plants a wrong answer into
each op through a lying client."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")

OPS = """pool data=2000 meta=256
create 0
map 0 0..40
lookup 0 39..42
dev-info 0
check
commit
snap 1 0
map 0 5
lookup 0 4..6
lookup 1 4..6
dev-info 1
meta-snap
commit
meta-snap-check
needs-check
check
meta-snap-release
commit
meta-snap-check
highest 0
highest 7 expect=ENODATA
mapped-count 1
find-range 0 0..50
find-range 1 0..50
status
map 0 100..120
status
create 0 expect=EEXIST
trans-id 9 from=4 expect=EINVAL
commit
status
"""


def run(exe, args, timeout=300, **kw):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def scenario(tmp_path, text, name="ops"):
    p = tmp_path / (name + ".scn")
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("line,what", [
    ("lookup 0", "'lookup' takes 2 arguments, got 1"),
    ("lookup 0 5..3", "empty range"),
    ("lookup x 1", "device: 'x' is not a number"),
    ("lookup 16777216 1", "out of range"),
    ("dev-info", "'dev-info' takes 1 argument, got 0"),
    ("dev-info 1 2", "'dev-info' takes 1 argument, got 2"),
    ("check now", "'check' takes 0 arguments, got 1"),
    ("needs-check 1", "'needs-check' takes 0 arguments"),
    ("meta-snap-check 0", "'meta-snap-check' takes 0 arguments"),
    # the op runs A..B+1: a range ending at 2^64-1 would wrap (and loop)
    ("map 0 18446744073709551614..18446744073709551615", "ends at 2^64-1"),
    ("random ops=5 mix=lookup:x", "mix: bad weight 'x' for lookup"),
    ("highest 0 1", "'highest' takes 1 argument, got 2"),
    ("mapped-count", "'mapped-count' takes 1 argument, got 0"),
    ("find-range 0 5..3", "empty range"),
    ("status 1", "'status' takes 0 arguments, got 1"),
    ("create 0 expect=EFOO", "expect: unknown error 'EFOO'"),
    ("create 0 expect=", "expect: unknown error ''"),
    ("random ops=5 expect=EEXIST", "random: expect= belongs on single ops"),
    ("trans-id 4 from=x", "from: 'x' is not a number"),
    ("trans-id from=3", "'trans-id' takes 1 argument, got 0"),
    ("random ops=5 mix=looksup:1", "unknown op kind 'looksup'"),
    # caller misuse passes only with expect=EINVAL (scenario.h)
    ("create 16777216", "device 16777216 is out of range"),
    ("snap 16777216 0", "device 16777216 is out of range"),
    ("create 16777216 expect=ENODATA", "device 16777216 is out of range"),
    ("unmap 0 9..2", "A > B + 1 only with expect=EINVAL"),
    ("unmap 0 5..4 expect=EINVAL", "with expect=EINVAL, A > B + 1"),
    ("lookup 0 9..2 expect=EINVAL", "empty range"),
    ("resize-data 1099511627777", "data blocks 1099511627777 is out of range"),
    ("map 0 1 at=5000", "map: at= only with expect=EINVAL"),
    ("map 0 1..3 at=5000 expect=EINVAL", "at= takes one vblock"),
    ("map 0 1 at=x expect=EINVAL", "at: 'x' is not a number"),
    ("format block-size=64", "format: only with expect=EINVAL"),
    ("format expect=EINVAL", "block-size=128 data=100000 is a valid format"),
    ("format block-size=256 data=10 expect=EINVAL", "is a valid format"),
    ("format 1 expect=EINVAL", "'format' takes 0 arguments, got 1"),
    ("close 1", "close: unknown argument '1' (cache=)"),
    ("restore 1", "'restore' takes 0 arguments, got 1"),
    ("random ops=5 mix=restore:1", "unknown op kind 'restore'"),
    ("open block-size=256", "open: only with expect=EINVAL"),
    ("open expect=EINVAL", "open: block-size= wanted"),
    ("open block-size=128 expect=EINVAL", "is the pool's own"),
    ("format read-only", "format: only with expect=EINVAL"),
    ("format read-ony expect=EINVAL", "'format' takes 0 arguments, got 1"),
    ("resize-meta 300 past-end", "past-end only with expect=EINVAL"),
    ("passdown 0", "'passdown' takes 2 arguments, got 1"),
    ("passdown 0 5..3", "empty range '5..3'"),
    ("passdown 0 x", "vblock: 'x' is not a number"),
    ("passdown 16777216 0..3", "device 16777216 is out of range"),
    ("passdown 0 0..3 at=5", "passdown: at= only with expect=EINVAL"),
    ("passdown 0 4..3 at=5 expect=EINVAL", "is a legal empty range"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, what):
    path = scenario(tmp_path, "create 0\ncommit\n" + line + "\n", "bad")
    r = run(PDCRASH, ["run", path])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "bad.scn:3: " in r.stderr, r.stderr
    assert what in r.stderr, r.stderr


def passes_on_every_backend(path):
    """path runs without a violation on the core and each kernel built."""
    for be in ("core", "kernel-6.1", "kernel-6.12"):
        r = run(PDCRASH, ["run", path, "--backend", be, "--json"])
        if be != "core" and "not built" in r.stderr:
            continue
        assert r.returncode == 0, be + r.stdout[-2000:] + r.stderr
        j = json.loads(r.stdout)
        assert not j["violations"], be


def test_ops_run_on_every_backend(tmp_path):
    passes_on_every_backend(scenario(tmp_path, OPS))


def test_kernel_skips_dev_info_mid_transaction_by_name(tmp_path):
    path = scenario(tmp_path, "create 0\nmap 0 1\ndev-info 0\ncommit\n"
                    "dev-info 0\n")
    r = run(PDCRASH, ["run", path, "--backend", "kernel-6.1"])
    if "not built" in r.stderr:
        pytest.skip("kernel-6.1 not built into this pdcrash")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert re.search(r"ops\.scn:3: 'dev-info 0' skipped on backend "
                     r"kernel-6\.1: .*K1", r.stderr), r.stderr
    assert "ops.scn:5:" not in r.stderr
    r = run(PDCRASH, ["run", path])
    assert r.returncode == 0 and "skipped" not in r.stderr, r.stderr


def test_ops_under_io_errors(tmp_path):
    path = scenario(tmp_path, OPS)
    r = run(PDCRASH, ["run", path, "--io-errors", "--json"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert not json.loads(r.stdout)["violations"]


def test_random_lines_draw_the_new_kinds_only_when_weighted(tmp_path):
    """An existing random line generates what it always did (the new kinds
    have weight 0 unless named); with weights they are drawn and pass."""
    plain = scenario(tmp_path, "pool data=4000 meta=256\nrandom ops=200 seed=5\n",
                     "plain")
    r = run(PDCRASH, ["replay", plain[:-4] + ":s1:c99999999:p0-of-1:e0"])
    n = int(re.search(r"the end of the log \((\d+) entries\)", r.stderr).group(1))
    r = run(PDCRASH, ["replay", plain[:-4] + ":s1:c%d:p0-of-1:e0" % n, "--trace"])
    assert r.returncode == 0, r.stderr
    ops = re.findall(r"-- op \d+: (.*?)  \(line", r.stdout)
    assert ops and not [o for o in ops if o.split()[0] in (
        "lookup", "dev-info", "needs-check", "check", "meta-snap-check",
        "highest", "mapped-count", "find-range", "status")]
    mixed = scenario(tmp_path, "pool data=4000 meta=256\nrandom ops=200 seed=5 "
                     "mix=map:10,unmap:2,snap:1,commit:2,meta-snap:1,lookup:3,"
                     "dev-info:1,needs-check:1,check:1,meta-snap-check:1,"
                     "highest:1,mapped-count:1,find-range:2,status:1\n",
                     "mixed")
    r = run(PDCRASH, ["run", mixed, "--json"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


def test_lookup_catches_a_planted_bug(tmp_path, mutants_exe):
    """remove-keeps-mapping (core/mutant.h): the unmap leaves its mapping;
    the next lookup of that block is a live failure naming the lookup."""
    path = scenario(tmp_path, "create 0\nmap 0 0..40\nunmap 0 20\n"
                    "lookup 0 20\ncommit\n")
    r = run(mutants_exe, ["run", path, "--mutant", "remove-keeps-mapping",
                          "--no-continue"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    assert "'lookup 0 20'" in r.stdout + r.stderr, r.stdout[-2000:]
    r = run(PDCRASH, ["run", path, "--no-continue"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


@pytest.mark.parametrize("old,new", [(16320, 16321), (16320, 16322),
                                     (16319, 16321), (16320, 16323),
                                     (16318, 16321)])
def test_resize_meta_across_bitmap_boundary(tmp_path, old, new):
    """Growing the metadata into a new bitmap by fewer than 3 blocks runs
    out of space (the extension takes its own blocks from the new area);
    the model expects -ENOSPC there and success from 3 blocks on, and
    every backend must agree with it, then grow again and go on."""
    path = scenario(tmp_path, "pool data=1000 meta=%d\ncreate 0\n"
                    "map 0 0..3\ncommit\nresize-meta %d\nmap 0 4\n"
                    "resize-meta 16400\nmap 0 5\ncommit\nlookup 0 0..6\n"
                    % (old, new))
    ran = 0
    for be in ("core", "kernel-6.1", "kernel-6.12"):
        r = run(PDCRASH, ["run", path, "--backend", be, "--json"])
        if be != "core" and "not built" in r.stderr:
            continue
        assert r.returncode == 0, be + r.stdout[-2000:] + r.stderr
        assert not json.loads(r.stdout)["violations"], be
        ran += 1
    assert ran >= 1


def test_expect_and_from_round_trip_through_op_text(tmp_path):
    """A live failure names the line as written, expect= and from= too."""
    path = scenario(tmp_path, "create 0\ncreate 0 expect=ENODATA\n", "exp")
    r = run(PDCRASH, ["run", path, "--no-continue"])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    assert "'create 0 expect=ENODATA'" in r.stdout, r.stdout[-2000:]
    assert "the scenario line expects -61" in r.stdout
    path = scenario(tmp_path, "create 0\ntrans-id 5 from=2 expect=EINVAL\n"
                    "trans-id 5 from=0\ncommit\n", "from")
    r = run(PDCRASH, ["run", path])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


def test_read_apis_diff_names_the_kernel_differences():
    """pdcrash diff of reach/read-apis on core and kernel-6.1: every answer
    alike but the two named ones (the kernel's data size waits for the
    commit, K10; its free data count wraps below zero, K11)."""
    r = run(PDCRASH, ["diff", "reach/read-apis"])
    if "not built" in r.stderr:
        pytest.skip("kernel-6.1 not built into this pdcrash")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "UNEXPLAINED" not in r.stdout
    assert re.search(r"'status': free data blocks core 0, kernel-6\.1 "
                     r"184467440737095\d+: explained: free-data-wraps", r.stdout)
    assert "explained: data-size-at-commit" in r.stdout


MISUSE = """pool data=1000 meta=256
create 0
map 0 0..9
commit
create 16777216 expect=EINVAL
snap 16777216 0 expect=EINVAL
unmap 0 9..2 expect=EINVAL
resize-data 1099511627777 expect=EINVAL
map 0 20 at=1000 expect=EINVAL
format block-size=200 expect=EINVAL
format read-only expect=EINVAL
open block-size=256 expect=EINVAL
resize-meta 300 past-end expect=EINVAL
commit
lookup 0 0..9
"""


def test_misuse_ops_refused_on_core_skipped_on_kernel(tmp_path):
    """The core refuses each misuse with -EINVAL and the commit after them
    writes nothing (TH1, checked by the workload); a kernel backend skips
    them by name (client.h K14)."""
    path = scenario(tmp_path, MISUSE)
    r = run(PDCRASH, ["run", path, "--json"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert not json.loads(r.stdout)["violations"]
    assert "skipped" not in r.stderr
    kernel_skips(path, r"ops\.scn:5: 'create 16777216 expect=EINVAL' "
                 r"skipped on backend kernel-6\.1?2?: .*K14")


def kernel_skips(path, pattern):
    """path passes on each kernel backend built, which names the op it
    skips on stderr (pattern); a skip of the test if none is built."""
    built = 0
    for be in ("kernel-6.1", "kernel-6.12"):
        r = run(PDCRASH, ["run", path, "--backend", be])
        if "not built" in r.stderr:
            continue
        built += 1
        assert r.returncode == 0, be + r.stdout[-2000:] + r.stderr
        assert re.search(pattern, r.stderr), r.stderr
    if not built:
        pytest.skip("no kernel backend built into this pdcrash")


@pytest.mark.parametrize("line", ["map 0 20 at=5 expect=EINVAL",
                                  "resize-meta 256 past-end expect=EINVAL"])
def test_misuse_line_that_is_no_misuse_is_a_live_failure(tmp_path, line):
    """A block inside the data device under at=, a metadata size the
    device has under past-end: the core does it, the line expected
    -EINVAL: the run fails naming the line."""
    path = scenario(tmp_path, "pool data=1000 meta=256\ncreate 0\n" +
                    line + "\ncommit\n")
    r = run(PDCRASH, ["run", path])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'%s'" % line in r.stdout


CLOSE = """pool data=2000 meta=256
create 0
map 0 0..20
close
close
snap 1 0
map 0 5
meta-snap
close
meta-snap-check
lookup 1 0..6
"""


def test_close_is_a_commit_and_runs_on_every_backend(tmp_path):
    """close commits (a crash state of its own each time), reopens, and
    the reopened pool is the committed one; on the kernel too (its close
    commits first, client.h K15)."""
    path = scenario(tmp_path, CLOSE)
    no_close = scenario(tmp_path, CLOSE.replace("close\n", ""), "noclose")
    passes_on_every_backend(path)
    r1 = run(PDCRASH, ["run", path, "--json"])
    r0 = run(PDCRASH, ["run", no_close, "--json"])
    s1 = json.loads(r1.stdout)["per_variant"][0]
    s0 = json.loads(r0.stdout)["per_variant"][0]
    assert s1["commits"] == s0["commits"] + 3, (s1, s0)


# The restore op (scenario.h, workload.c exec_restore): a commit, pdtool's
# dump of the committed metadata, the pool rebuilt from it with pdtool
# restore's builder and committed.  The restored pool must show the
# model's state (a live failure otherwise) and every cut inside it must
# recover to the state before it or the restored one.
# tests/unit/test_restore.c checks the rebuild itself (every mapping,
# detail and time back; a dump short of one mapping differs).
RESTORE = """pool data=600 meta=192 cache=32
create 0
map 0 0..39
snap 1 0
map 0 10..19
create 2
commit
map 1 0..4
trans-id 7
restore
lookup 0 8..11
lookup 1 0..1
dev-info 1
dev-info 2
meta-snap
unmap 0 30..39
restore
meta-snap-check
map 1 40..44
delete 0
commit
check
"""


def restore_variant(path, *args):
    r = run(PDCRASH, ["run", path, "--json"] + list(args))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    j = json.loads(r.stdout)
    assert not j["violations"], j["violations"][:3]
    return j["per_variant"][0], r.stderr


def test_restore_is_two_commits_and_every_cut_recovers(tmp_path):
    """Each restore is its first commit and the rebuild's commit: two
    crash states more than the same scenario without it; every cut
    between them shows one of the two (the model's state both times)."""
    path = scenario(tmp_path, RESTORE, "restore")
    without = scenario(tmp_path, RESTORE.replace("restore\n", ""), "without")
    s1, err = restore_variant(path)
    s0, _ = restore_variant(without)
    assert "skipped" not in err, err
    assert s1["commits"] == s0["commits"] + 4, (s1, s0)
    # the rebuild writes: far more log entries than the commits alone
    assert s1["log_ops"] > s0["log_ops"] + 20, (s1, s0)


@pytest.mark.parametrize("mode", ["--io-errors", "--alloc-faults"])
def test_restore_under_faults(tmp_path, mode):
    """A failed write, flush, read or allocation inside the rebuild fails
    the pool; the abort goes back to the commit before the rebuild, which
    is the model's state too."""
    restore_variant(scenario(tmp_path, RESTORE, "restore"), mode)


def test_kernel_skips_restore_by_name(tmp_path):
    kernel_skips(scenario(tmp_path, RESTORE, "restore"),
                 r"restore\.scn:10: 'restore' skipped on backend "
                 r"kernel-6\.1?2?: .*K17")
