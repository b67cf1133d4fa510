#!/usr/bin/python3
"""tests/mutants.py - `make mutants` as a regression check.

Runs every planted bug of build/pdcrash-mutants (core/mutant.h) with the
command that should catch it, each with --fail-fast; replays the id it
printed (it must replay as a violation); prints a table and writes the same
to reports/mutants.json (a list of {name, caught, seconds, id, command}).
Exit 1 if a mutant expected to be caught was missed or its id did not
replay, or if the catalogue and the table below disagree; 0 otherwise.

HOW is the one place that says how each mutant is caught: the pdcrash run
arguments (scenarios and options; --fail-fast and --mutant are added).  A
mutant the harness cannot catch as it stands has a GAP entry instead, with
the reason; it is listed as not caught and does not fail the check.
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
    "superblock-despite-flush-error": ["--io-errors"],
    # the 3rd copy: format copies both roots, then commit 1 the metadata one
    "sm-roots-copied-under-lock": ["provision", "--fiu", "sm/copy_root:3"],
    "sm-root-before-pre-commit": ["provision"],
    "top-level-leaf-no-inc": ["meta-snap"],
    "extend-commit-once": ["resize"],
    "rebalance2-old-threshold": ["unmap"],
    "meta-snap-uncommitted": ["meta-snap"],
    "commit-unchanged-writes": ["commit-unchanged"],
}

GAP = {
    "remove-root-despite-failure":
        "a failed remove poisons the pool (TH4) and the only way on is "
        "thin_abort, which re-reads every root from the superblock, so the "
        "bad root never reaches the disk (the kernel kept it across abort "
        "before 2022); a C test of bt_remove's contract on IO errors, run "
        "in the mutants build, would catch it",
    "split-beneath-uninit-left":
        "the zeroed left node is a new, unreferenced block, and after the "
        "failure the pool is poisoned and bm_reset drops every dirty block "
        "unwritten (dm-bufio would write it back); catching it needs the "
        "block manager to write dirty blocks back on teardown and a "
        "write-time check that every written block passes its validator",
    "dec-below-zero":
        "nothing in a correct core decrements a count of 0, so accepting "
        "it changes nothing; it shows only together with another bug (as "
        "the dm-array bug it exposed), or in a C test of SM4 built with "
        "mutants",
}


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
    return out


def main():
    t0 = time.monotonic()
    names = catalogue()
    bad = []
    unknown = sorted((set(HOW) | set(GAP)) - set(names))
    missing = [n for n in names if n not in HOW and n not in GAP]
    if unknown or missing:
        print("mutants.py: table and catalogue disagree: not in the catalogue "
              "%s, not in the table %s" % (unknown, missing))
        return 1
    rows = []
    for name in names:
        if name in GAP:
            rows.append({"name": name, "caught": False, "seconds": None,
                         "id": None, "command": None,
                         "note": "known gap: " + GAP[name]})
            continue
        res = run_one(name, HOW[name])
        res["name"] = name
        res["command"] = " ".join(["pdcrash-mutants", "run"] + HOW[name] +
                                  ["--fail-fast", "--mutant", name])
        rows.append(res)
        if not res["caught"]:
            bad.append(name)
    print("%-32s %-8s %8s  %s" % ("mutant", "caught", "seconds", "id / note"))
    for r in rows:
        print("%-32s %-8s %8s  %s" % (
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
    print("%d of %d caught (%d known gaps), %.1f s; reports/mutants.json" % (
        caught, len(rows), len(GAP), time.monotonic() - t0))
    if bad:
        print("MISSED: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
