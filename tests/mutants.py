#!/usr/bin/python3
"""tests/mutants.py - `make mutants` as a regression check.

Runs every planted bug of build/pdcrash-mutants (core/mutant.h) with the
command that should catch it, each with --fail-fast; replays the id it
printed (it must replay as a violation); prints a table and writes the same
to reports/mutants.json (a list of {name, caught, seconds, id, command}).
Exit 1 if a mutant expected to be caught was missed or its id did not
replay (or, for the mutants of WRITE_RULE, was not a write id naming that
write-time rule), or if the catalogue and the table below disagree; 0 otherwise.

Kernel mutants (KHOW): each harness/kernel/mutants/NAME.patch is applied to
a copy of the fetched Linux 6.1 tree and built into
build/kmutants/NAME/pdcrash (harness/kernel/mutants/build.sh, cached: a
second run rebuilds nothing), then run with --backend kernel and the
arguments below; its id must replay as a violation twice with identical
output.  Without the 6.1 sources (a KERNEL=0 machine) they are listed as
not built and do not fail the check.

HOW is the one place that says how each mutant is caught by pdcrash: the
run arguments (scenarios and options; --fail-fast and --mutant are added).
UNIT names the few that no crash state can show in our core, with the
contract test of the C unit tests that fails when the bug is on (run in the
mutants build with PD_MUTANT=NAME, twice, the second as the replay) and the
reason.  BY_KERNEL names those that no crash state of our core can show but
that are also planted in the kernel's code (a KHOW patch of the same name):
their row is that kernel mutant's, command and id.  A mutant caught by none
of these has a GAP entry, with the reason; it is listed as not caught and
does not fail the check.
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
EXE = os.path.join(BUILD, "pdcrash-mutants")
TIMEOUT = 300

HOW = {
    "no-flush-before-superblock": ["provision"],
    "superblock-first": ["provision"],
    "no-flush-after-superblock": ["provision"],
    "superblock-despite-flush-error": ["--io-errors"],
    # the 3rd copy: format copies both roots, then commit 1 the metadata one
    "sm-roots-copied-under-lock": ["provision", "--fiu", "sm/copy_root:3"],
    "sm-root-before-pre-commit": ["provision"],
    "top-level-leaf-no-inc": ["meta-snap"],
    "extend-commit-once": ["resize"],
    "rebalance2-old-threshold": ["unmap"],
    "meta-snap-uncommitted": ["meta-snap"],
    "commit-unchanged-writes": ["commit-unchanged"],
    # a live failure: the unmap that leaves its mapping shows when a later
    # range unmap of the same blocks miscounts
    "remove-keeps-mapping": ["unmap"],
    # a freed node of the committed tree is handed out again and written
    # before the commit: write-time rule (a) names the write itself
    "reuse-before-commit": ["abort"],
    # bit rot at a read the core accepts: a wrong count or key goes out
    # with the next commit
    "skip-read-checksum": ["--media-faults"],
    # dm-cache: after a crash a block that was clean at the last commit
    # must be reported dirty (the reopen of every committed state)
    "cache-unclean-trusts-dirty": ["cache/basic"],
    # a live failure: the shrink over dirty block 32600 is not refused
    "array-cursor-skip-boundary": ["cache/shrink-dirty"],
    # the data device (harness/engine/datadev.h): a committed mapping to
    # data still in the cache; a FUA write completed before its commit
    "no-data-flush-before-commit": ["data-write"],
    "fua-overwrite-before-commit": ["data-write"],
    # the count > 1 branch of absorb_child (core/bt_remove.c): a root
    # left with one entry absorbs a child a snapshot shares
    "absorb-shared-no-inc": ["reach/absorb-shared"],
    # the damage step (harness/engine/damage.h): a child pointer to its
    # own node (checksum recomputed) and a lookup through it: a hang,
    # cut at the recovery timeout (10 s)
    "lookup-no-depth-limit": ["--damage", "provision"],
    # a false alarm of the core's own tree check: recovery runs bt_check
    # beside core/check.c, and a root under a third full is no damage
    "bt-check-root-occupancy": ["provision"],
    # a false alarm at open that only some subsets of a long write-back's
    # pending writes set off (2 landed over 12 that did not): the
    # exhaustive exploration finds it, --sample does not
    # (tests/test_mutants_combo.py)
    "open-refuses-reordered-writeback": ["mutants/long-writeback"],
    # the right child's allocation fails (-ENOMEM) and the zeroed left
    # node is left dirty: the abort after it holds every dirty block to
    # BM8 as dm-bufio's write-back at reset would (core/bm.h BM9) and
    # fails with -EILSEQ, which no fault of an --alloc-faults run explains
    # (a live failure)
    "split-beneath-uninit-left": ["abort", "--alloc-faults"],
    # the damage step: bm-used-to-free counts a data block mapped once as
    # 0; the exercise removes that mapping, which must fail (SM4)
    "dec-below-zero": ["--damage", "provision"],
    # the damage step: sb-data-nr-bit40 puts the data block count past
    # 2^40; the damage probe maps the last block the pool says it has, which
    # must be refused (a mapping holds 40 bits)
    "insert-past-40-bits": ["--damage", "reach/damage-merge-three"],
    # recovery of a dm-cache image with a read of the check of its arrays
    # failing (harness/engine/cache_workload.c cache_check_image): the
    # check must answer -EIO, not damage
    "cache-check-eio-as-damage": ["--io-errors", "cache/abort"],
    # a live failure: the passdown of the origin after a snapshot asks
    # block 0, which the snapshot's leaf still names (a count of 2 with
    # the passdown's own reference), and is told it is not shared
    "passdown-shared-wrong": ["reach/passdown"],
    # a live failure: the create right after a delete gave back the block
    # behind the cursor is refused with -ENOSPC, and the allocator's own
    # count (workload.c allocator_refused) says that block was free
    "wrap-misses-last": ["reach/meta-wrap-last"],
}

# Mutants that must be caught by a write-time rule (harness/engine/
# writecheck.h): the first id must be a write id NAME:sSEED:wSEQ:eFAULT
# and its replay must name the rule.
WRITE_RULE = {
    "reuse-before-commit": "(a)",
}

# Bugs no crash state can show in our core, caught by a contract test of
# the C unit tests run in the mutants build with the bug switched on
# (PD_MUTANT=NAME build/mutants/unit_tests FILTER): the tests that must
# fail, and why a crash state cannot show it.  The normal build passes the
# same tests (make check), so their failure is the bug's doing.
UNIT = {
    "array-shadow-no-inc": (
        "array_shared_root_copy_on_write_and_refcounts",
        "dm-cache's arrays hold plain values (no inc/dec) and never share "
        "an array block, so no cache crash state can show it; the test "
        "shares an array of counted values (AR3) and checks every count"),
}
GAP = {}

# Bugs no crash state of our core can show, planted in the kernel's own
# code as well (KHOW, same name): caught there, where the window they harm
# is open.  The row is the kernel mutant's (its command and id), with the
# reason the core cannot show it.
BY_KERNEL = {
    "remove-root-despite-failure": (
        "our core fails the pool at the failed remove (TH4): every later "
        "call but the abort is -EIO and thin_abort re-reads every root, so "
        "nothing reads the bad root (the contract test "
        "bt_fault_loop_alloc_and_read checks BT6 at every failure); the "
        "kernel's reads go on until the abort (client.h K16): in "
        "mutants/delete-enospc a delete runs out of metadata space at its "
        "first shadow, pmd->details_root takes the spine's unset root, and "
        "the workload's read of another device before the abort fails"),
}

# Kernel mutants: patch name -> pdcrash run arguments (--backend kernel,
# --fail-fast and --jobs 2 are added).
KHOW = {
    "superblock-before-pre-commit": ["provision"],
    # 6.1's copy_root cannot fail: the patch adds the fault point; the 3rd
    # copy is commit 1's metadata root (format and resize copy 2)
    "sm-roots-copied-under-lock": ["provision", "--fiu", "sm/copy_root:3"],
    "absorb-shared-no-inc": ["scenarios/mutants/absorb-shared.scn"],
    "deferred-ops-lifo": ["resize"],
    "alloc-old-map-only": ["scenarios/mutants/data-full.scn"],
    # dm-cache-metadata.c: the superblock written in the flush of its tree
    # (write-time rule (b))
    "cache-no-flush-before-superblock": ["cache/basic"],
    # the open leaves CLEAN_SHUTDOWN set: the next unclean reopen says
    # otherwise (a live failure), a crash after it trusts stale bits
    "cache-open-keeps-clean-shutdown": ["cache/shutdown"],
    # a delete out of metadata space at its first allocation: the read of
    # another device before the abort goes through an unset details root
    # (a live failure, client.h K16)
    "remove-root-despite-failure": ["scenarios/mutants/delete-enospc.scn"],
}
KDIR = os.path.join(ROOT, "harness", "kernel", "mutants")


def kernel_rows():
    """Build every kernel mutant (cached), run each, replay its id twice."""
    patches = sorted(f[:-len(".patch")] for f in os.listdir(KDIR)
                     if f.endswith(".patch"))
    if sorted(KHOW) != patches:
        print("mutants.py: kernel table and patches disagree: %s vs %s"
              % (sorted(KHOW), patches))
        return None
    t0 = time.monotonic()
    b = subprocess.run(["sh", os.path.join(KDIR, "build.sh"), BUILD] + patches,
                       cwd=ROOT, capture_output=True, text=True, timeout=1800)
    build_s = time.monotonic() - t0
    rows = []
    for name in patches:
        cmd_txt = " ".join(["build/kmutants/%s/pdcrash run" % name] + KHOW[name]
                           + ["--backend", "kernel", "--fail-fast"])
        row = {"name": "kernel:" + name, "command": cmd_txt, "id": None,
               "seconds": None, "caught": False}
        if b.returncode == 3:
            row["note"] = "not built: no Linux 6.1 sources (KERNEL=0)"
            row["skip"] = True
            rows.append(row)
            continue
        if b.returncode:
            row["note"] = "build failed: " + b.stderr[-300:]
            rows.append(row)
            continue
        exe = os.path.join(BUILD, "kmutants", name, "pdcrash")
        args = KHOW[name]
        t1 = time.monotonic()
        r = subprocess.run([exe, "run"] + args + ["--backend", "kernel",
                                                  "--fail-fast", "--jobs", "2"],
                           cwd=ROOT, capture_output=True, text=True,
                           timeout=TIMEOUT)
        m = re.search(r"^first violation: (\S+)$", r.stdout, re.M)
        t = re.search(r"^time to first failure: ([0-9.]+) s$", r.stdout, re.M)
        row["seconds"] = float(t.group(1)) if t else round(
            time.monotonic() - t1, 2)
        if r.returncode != 1 or not m:
            row["note"] = "exit %d, no violation" % r.returncode
            rows.append(row)
            continue
        row["id"] = m.group(1)
        extra = []
        if "--fiu" in args:
            extra = ["--fiu", args[args.index("--fiu") + 1]]
        reps = [subprocess.run([exe, "replay", row["id"]] + extra, cwd=ROOT,
                               capture_output=True, text=True, timeout=TIMEOUT)
                for _ in range(2)]
        ok = all(p.returncode == 1 and re.search(
            r"^(outcome: violation|live run failed)", p.stdout, re.M)
            for p in reps)
        if not ok:
            row["note"] = "id did not replay (exit %d)" % reps[0].returncode
        elif reps[0].stdout != reps[1].stdout:
            row["note"] = "the id replayed with different output"
        else:
            row["caught"] = True
            row["note"] = ("replays twice alike; patch harness/kernel/mutants/"
                           "%s.patch; built in %.0f s (all kernel mutants, "
                           "cached)" % (name, build_s))
        rows.append(row)
    return rows

UNIT_EXE = os.path.join(BUILD, "mutants", "unit_tests")


def run_unit(name, test):
    """Caught if the contract test fails with the bug on, twice alike."""
    cmd = [UNIT_EXE, test]
    env = dict(os.environ, PD_MUTANT=name)
    t0 = time.monotonic()
    outs = []
    for _ in range(2):     # the second run is the replay
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                           env=env, timeout=TIMEOUT)
        outs.append((r.returncode, re.findall(r"^not ok \d+ - (\S+)",
                                              r.stdout, re.M)))
    wall = time.monotonic() - t0
    rc, failed = outs[0]
    if rc != 1 or test not in failed or outs[1] != outs[0]:
        return {"caught": False, "seconds": round(wall, 2), "id": None,
                "note": "unit test %s did not fail alike twice (exit %d)"
                % (test, rc)}
    return {"caught": True, "seconds": round(wall / 2, 2),
            "id": "unit:" + test}


def catalogue():
    r = subprocess.run([EXE, "mutants"], cwd=ROOT, capture_output=True,
                       text=True, check=True)
    return [line.split()[0] for line in r.stdout.splitlines()
            if line and not line[0].isspace() and not line.startswith("(")]


def run_one(name, args):
    cmd = [EXE, "run"] + args + ["--fail-fast", "--mutant", name]
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"caught": False, "seconds": None, "id": None,
                "note": "timed out after %d s" % TIMEOUT}
    wall = time.monotonic() - t0
    m = re.search(r"^first violation: (\S+)$", r.stdout, re.M)
    t = re.search(r"^time to first failure: ([0-9.]+) s$", r.stdout, re.M)
    if r.returncode != 1 or not m:
        return {"caught": False, "seconds": round(wall, 2), "id": None,
                "note": "exit %d, no violation" % r.returncode}
    out = {"caught": True, "seconds": float(t.group(1)) if t else round(wall, 2),
           "id": m.group(1)}
    rule = WRITE_RULE.get(name)
    if rule and not re.search(r":w\d+:e[^:]*$", out["id"]):
        return {"caught": False, "seconds": out["seconds"], "id": out["id"],
                "note": "not caught by write-time rule %s first" % rule}
    # the id must replay: same mutant, same --fiu
    extra = []
    if "--fiu" in args:
        extra = ["--fiu", args[args.index("--fiu") + 1]]
    rp = subprocess.run([EXE, "replay", out["id"], "--mutant", name] + extra,
                        cwd=ROOT, capture_output=True, text=True,
                        timeout=TIMEOUT)
    if rp.returncode != 1 or not re.search(
            r"^(outcome: violation|live run failed)", rp.stdout, re.M):
        out["caught"] = False
        out["note"] = "id did not replay (exit %d)" % rp.returncode
    elif rule and "write-time rule " + rule not in rp.stdout:
        out["caught"] = False
        out["note"] = "replay does not name write-time rule " + rule
    return out


def main():
    t0 = time.monotonic()
    names = catalogue()
    bad = []
    tables = set(HOW) | set(GAP) | set(UNIT) | set(BY_KERNEL)
    unknown = sorted(tables - set(names))
    missing = [n for n in names if n not in tables]
    if unknown or missing:
        print("mutants.py: table and catalogue disagree: not in the catalogue "
              "%s, not in the table %s" % (unknown, missing))
        return 1
    nokernel = sorted(set(BY_KERNEL) - set(KHOW))
    if nokernel:
        print("mutants.py: BY_KERNEL names no kernel mutant: %s" % nokernel)
        return 1
    rows = []
    for name in names:
        if name in BY_KERNEL:
            rows.append({"name": name})     # the kernel mutant's row, below
            continue
        if name in GAP:
            rows.append({"name": name, "caught": False, "seconds": None,
                         "id": None, "command": None,
                         "note": "known gap: " + GAP[name]})
            continue
        if name in UNIT:
            res = run_unit(name, UNIT[name][0])
            res["command"] = "PD_MUTANT=%s build/mutants/unit_tests %s" % (
                name, UNIT[name][0])
            res["note"] = "caught by a contract test: " + UNIT[name][1]
        else:
            res = run_one(name, HOW[name])
            res["command"] = " ".join(["pdcrash-mutants", "run"] + HOW[name]
                                      + ["--fail-fast", "--mutant", name])
        res["name"] = name
        rows.append(res)
        if not res["caught"]:
            bad.append(name)
    krows = kernel_rows()
    if krows is None:
        return 1
    for r in krows:
        rows.append(r)
        if not r["caught"] and not r.get("skip"):
            bad.append(r["name"])
    kbyname = {r["name"]: r for r in krows}
    for i, r in enumerate(rows):
        if r["name"] in BY_KERNEL:
            k = kbyname["kernel:" + r["name"]]
            rows[i] = dict(k, name=r["name"], note="caught on the kernel's "
                           "code (%s): %s; %s" % (k["name"], BY_KERNEL[
                               r["name"]], k.get("note") or ""))
    print("%-36s %-8s %8s  %s" % ("mutant", "caught", "seconds", "id / note"))
    for r in rows:
        print("%-36s %-8s %8s  %s" % (
            r["name"], "yes" if r["caught"] else "NO",
            "%.2f" % r["seconds"] if r["seconds"] is not None else "-",
            r["id"] or (r.get("note") or "")[:100]))
    os.makedirs(os.path.join(ROOT, "reports"), exist_ok=True)
    with open(os.path.join(ROOT, "reports", "mutants.json"), "w") as f:
        json.dump([{k: r.get(k) for k in ("name", "caught", "seconds", "id",
                                          "command", "note")} for r in rows],
                  f, indent=1)
        f.write("\n")
    caught = sum(r["caught"] for r in rows)
    kcaught = sum(r["caught"] for r in krows)
    ucaught = sum(r["caught"] for r in rows if r["name"] in UNIT)
    bkcaught = sum(r["caught"] for r in rows if r["name"] in BY_KERNEL)
    print("%d of %d caught (%d by pdcrash on our core, %d by a contract test "
          "in the mutants build, %d by pdcrash on the kernel's code, %d of "
          "them also catalogue rows; %d known gaps, %d kernel mutants not "
          "built), %.1f s; reports/mutants.json" % (
              caught, len(rows), caught - kcaught - ucaught - bkcaught,
              ucaught, kcaught, bkcaught, len(GAP),
              sum(1 for r in krows if r.get("skip")),
              time.monotonic() - t0))
    if bad:
        print("MISSED: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
