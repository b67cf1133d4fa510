#!/usr/bin/python3
"""Coverage of core/ by the crash suite, split into workloads and recovery.

What `make coverage-crash` runs after the suite: the coverage build
(BUILD, e.g. build/cov) wrote the parent's counters (the live workloads)
under BUILD/gcda-workload and the workers' counters (recovery: open,
structural check, continue) under BUILD/gcda-recovery, each a GCOV_PREFIX
tree mirroring BUILD/obj's absolute path (harness/engine/covdump.h).

For each tree this copies the .gcno notes beside the .gcda counters and
has gcovr write JSON; the total is the union of both (a line or branch
counts if either side reached it).  Writes OUT/ (reports/coverage-crash/):
  summary.json      per core/ file: lines and branches, total and reached,
                    and the percentages for workloads, recovery and total
  workload.json, recovery.json   gcovr's JSON of each side
  index.html        gcovr's HTML of both sides together (per-file pages)
and prints the per-file table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The files whose branches the reach suite answers for (DESIGN.md 9).
REACH_FILES = ("core/bt.c", "core/bt_spine.c", "core/bt_walk.c",
               "core/bt_remove.c", "core/sm_common.c", "core/sm_disk.c",
               "core/sm_metadata.c", "core/tm.c", "core/thin.c")


def gcovr_json(build, gcda, side, out_json):
    """gcovr JSON for one GCOV_PREFIX tree; None if the side wrote nothing."""
    obj = os.path.abspath(os.path.join(build, "obj"))
    tree = os.path.join(os.path.abspath(gcda), "gcda-" + side) + obj
    if not os.path.isdir(tree):
        return None
    for dirpath, _, files in os.walk(obj):
        for f in files:
            if f.endswith(".gcno"):
                dst = os.path.join(tree, os.path.relpath(dirpath, obj))
                if os.path.isfile(os.path.join(dst, f[:-5] + ".gcda")):
                    shutil.copy(os.path.join(dirpath, f), dst)
    subprocess.run(["gcovr", "-r", ROOT, "-f", "core/", "--json", out_json,
                    tree], check=True, cwd=ROOT)
    with open(out_json) as f:
        return json.load(f)


def index(data):
    """{file: {"lines": {lineno: hit}, "branches": {(lineno, k): hit}}}"""
    files = {}
    for fe in (data or {}).get("files", []):
        name = fe["file"]
        ent = files.setdefault(name, {"lines": {}, "branches": {}})
        for ln in fe["lines"]:
            if ln.get("gcovr/noncode"):
                continue
            no = ln["line_number"]
            ent["lines"][no] = ent["lines"].get(no, False) or ln["count"] > 0
            for k, br in enumerate(ln["branches"]):
                key = (no, k)
                ent["branches"][key] = (ent["branches"].get(key, False)
                                        or br["count"] > 0)
    return files


def pct(hit, total):
    return round(100.0 * hit / total, 1) if total else 100.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/cov")
    ap.add_argument("--out", default="reports/coverage-crash")
    ap.add_argument("--gcda", help="folder holding gcda-workload/ and "
                    "gcda-recovery/ (default: BUILD)")
    ap.add_argument("--unreached", action="store_true",
                    help="list every unreached branch of the reach files")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sides = {}
    for side in ("workload", "recovery"):
        sides[side] = index(gcovr_json(a.build, a.gcda or a.build, side,
                                       os.path.join(a.out, side + ".json")))
    names = sorted(set(sides["workload"]) | set(sides["recovery"]))
    summary = {"files": {}, "reach_files": list(REACH_FILES)}
    empty = {"lines": {}, "branches": {}}
    for name in names:
        w = sides["workload"].get(name, empty)
        r = sides["recovery"].get(name, empty)
        row = {}
        for kind in ("lines", "branches"):
            keys = set(w[kind]) | set(r[kind])
            wh = sum(1 for k in keys if w[kind].get(k))
            rh = sum(1 for k in keys if r[kind].get(k))
            th = sum(1 for k in keys if w[kind].get(k) or r[kind].get(k))
            row[kind] = {"total": len(keys), "workload": wh, "recovery": rh,
                         "reached": th,
                         "workload_pct": pct(wh, len(keys)),
                         "recovery_pct": pct(rh, len(keys)),
                         "total_pct": pct(th, len(keys))}
        summary["files"][name] = row
    agg = {}
    for kind in ("lines", "branches"):
        tot = sum(summary["files"].get(f, {}).get(kind, {}).get("total", 0)
                  for f in REACH_FILES)
        hit = sum(summary["files"].get(f, {}).get(kind, {}).get("reached", 0)
                  for f in REACH_FILES)
        agg[kind] = {"total": tot, "reached": hit, "pct": pct(hit, tot)}
    summary["reach_files_total"] = agg
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    tracefiles = []
    for side in ("workload", "recovery"):
        p = os.path.join(a.out, side + ".json")
        if os.path.isfile(p):
            tracefiles += ["-a", p]
    if tracefiles:
        subprocess.run(["gcovr", "-r", ROOT, "--html-details",
                        os.path.join(a.out, "index.html"),
                        "--html-title", "pdcrash: core/ reached by the crash suite"]
                       + tracefiles, check=True, cwd=ROOT)

    print("%-22s %22s   %22s" % ("", "lines %", "branches %"))
    print("%-22s %7s %7s %7s   %7s %7s %7s" % (
        "file", "work", "recov", "total", "work", "recov", "total"))
    for name in names:
        row = summary["files"][name]
        print("%-22s %7.1f %7.1f %7.1f   %7.1f %7.1f %7.1f%s" % (
            name, row["lines"]["workload_pct"], row["lines"]["recovery_pct"],
            row["lines"]["total_pct"], row["branches"]["workload_pct"],
            row["branches"]["recovery_pct"], row["branches"]["total_pct"],
            "  *" if name in REACH_FILES else ""))
    print("* reach files together: lines %.1f%% (%d/%d), branches %.1f%% (%d/%d)"
          % (agg["lines"]["pct"], agg["lines"]["reached"], agg["lines"]["total"],
             agg["branches"]["pct"], agg["branches"]["reached"],
             agg["branches"]["total"]))
    if a.unreached:
        for name in REACH_FILES:
            w = sides["workload"].get(name, empty)
            r = sides["recovery"].get(name, empty)
            for (no, k) in sorted(set(w["branches"]) | set(r["branches"])):
                if not (w["branches"].get((no, k)) or r["branches"].get((no, k))):
                    print("unreached %s:%d branch %d" % (name, no, k))
    print("report: %s/index.html, %s/summary.json" % (a.out, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
