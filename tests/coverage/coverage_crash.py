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


def functions_of(path):
    """{line: name of the function the line is in} for a C file."""
    import re
    out, cur = {}, None
    with open(os.path.join(ROOT, path)) as f:
        for no, line in enumerate(f, 1):
            m = re.match(r"^(?:static )?(?:inline )?[a-z_].*?\b(\w+)\(", line)
            if m and not line.rstrip().endswith(";"):
                cur = m.group(1)
            out[no] = cur
    return out


DAMAGE_TESTS = ("exercised instead by the damage tests (tests/unit/test_bt.c, "
                "test_sm.c, test_bm.c: damaged nodes, bitmaps and index "
                "blocks) and the fuzz targets fuzz_thin_raw / fuzz_thin_edit, "
                "whose regress corpus `make check` runs "
                "(tests/test_fuzz_regress.py)")
ALLOC_SWEEP = ("the --alloc-faults run fails only the first hit of each "
               "allocation call site (its innermost 8 frames) of the pool's "
               "own calls, and not this one here")
# Why a branch is unreached, from the text of its line (first match wins).
REASONS = (
    ("pd_malloc|malloc\\(|-ENOMEM|ENOMEM", "allocation failure (-ENOMEM): "
     + ALLOC_SWEEP + "; the libfiu point core/alloc reaches it in the C unit "
     "tests"),
    ("EILSEQ|ENOTBLK|checksum|magic|BT_MAX_DEPTH|_seen\\(|>= bm_nr_blocks|"
     "corrupt|nr_blocks\\(|check_shape|node_check|in_range\\(|bt_info_ok|"
     "> 3\\)|< 3\\)", "defensive check on "
     "corrupt metadata: crash states never hold it (every state the model "
     "allows is a whole committed tree or is stopped by a checksum first); "
     + DAMAGE_TESTS),
    ("EINVAL", "caller misuse (-EINVAL): the harness makes only valid calls"),
    ("^\\s*if \\(r\\)|^\\s*if \\(r2?\\)|return r;|if \\(r < 0\\)|"
     "combine\\(|\\? r :|goto out|if \\(r && |_err\\(r\\)|if \\(r == -", "error passed up from a "
     "callee that no failed read, write or flush of the --io-errors run "
     "and no failed allocation of the --alloc-faults run made fail here: "
     "the callee's error is -ENOMEM or -ENOSPC on a path where " + ALLOC_SWEEP
     + " (the core/alloc and sm/new_block libfiu points: "
     "tests/unit/test_faults_oom.c, test_faults.c), damage (" + 
     "see the defensive checks) or an IO error on a path the sweep's "
     "workloads do not take"),
)


# Real reasons, read from the code (checked when this table was written):
# (file, function regex or None, line-text regex or None, reason).  The
# first match wins, before the function-never-called rule and REASONS.
EXPLAINED = (
    ("core/bt.c", r"^(find_edge|find_key|bt_find_lowest_key|bt_find_highest_key)$",
     None, "not on any thin path: only core/array.c (dm-cache arrays) calls "
     "bt_find_highest_key, and core/thin.h offers no lowest/highest mapped "
     "block (the kernel's dm_thin_get_highest_mapped_block has no "
     "counterpart), so no scenario op can reach it; tests/unit/test_bt.c and "
     "test_array.c call it"),
    ("core/bt_walk.c", r"^(cursor_\w+|bt_cursor_\w+)$", None,
     "the leaf cursor serves core/array.c (dm-cache) only; tests/unit/"
     "test_bt.c and test_array.c drive it"),
    ("core/bt_walk.c", r"^bt_check$", None,
     "bt_check (one tree's structural check) is called by the unit tests "
     "only (tests/unit/test_bt.c, test_sm.c): the crash suite checks with "
     "core/check.c, independent of bt.c on purpose (check.h)"),
    ("core/bt_walk.c", None, r"t->check|t->node_fn|t->st\b|leaf_depth|rg->|"
     r"r > 0\)|depth \+ 1 > t->st",
     "a bt_check-only branch of the shared walker (bt_check is called by "
     "the unit tests only: tests/unit/test_bt.c, test_sm.c)"),
    ("core/bt_spine.c", r"^bt_node_upper_bound$", None,
     "no caller in core/: kept for tests/unit/test_bt.c"),
    ("core/sm_common.c", r"^sm_ll_insert$", None,
     "set_count's back end: no thin_* op sets a count directly (restore "
     "builds counts through inc); tests/unit/test_sm.c calls it"),
    ("core/sm_(disk|metadata).c", r"^(smd|smm|boot)_set_count$", None,
     "set_count: no thin_* op calls it; tests/unit/test_sm.c does"),
    ("core/sm_(disk|metadata).c", r"^(smd|smm|boot)_get_nr_free$", None,
     "free-block counts (dm-thin's status line): not in the client "
     "interface (client.h); tests/unit/test_sm.c and test_thin.c"),
    ("core/thin.c", r"^thin_get_free_(data|metadata)_blocks$", None,
     "free-block counts (dm-thin's status line): not in the client "
     "interface (client.h); tests/unit/test_thin.c"),
    ("core/sm_disk.c", r"^smd_count_is_more_than_one$", None,
     "asked by tm.c of the metadata space map only (tm_block_is_shared, "
     "shadowing); the data space map never: tests/unit/test_sm.c"),
    ("core/thin.c", r"^(thin_insert_raw|thin_set_dev_info|thin_set_time)$",
     None, "restore API: pdtool restore (harness/pdtool/restore.c, "
     "tests/test_pdtool.py) and tests/unit/test_thin.c"),
    ("core/thin.c", r"^thin_pool_close$", None,
     "the workload ends with destroy (a crash, CL3) and never closes "
     "cleanly; pdtool and tests/unit/test_thin.c close"),
    ("core/thin.c", r"^(commit_superblock_early|commit_copy_roots_locked)$",
     None, "a planted bug (core/mutant.h): runs only in the mutants build, "
     "under `make mutants`"),
    ("core/thin.c", None, r"early",
     "the planted bug sm-root-before-pre-commit (core/mutant.h): only the "
     "mutants build takes it, under `make mutants`"),
    ("core/thin.c", None, r"THIN_DEFAULT_CACHE_BLOCKS",
     "the harness always names a cache size (the scenario's, or 16 for "
     "NAME+small); pdtool and the unit tests take the default"),
    ("core/bt.c", r"^split_two_into_three$", r"key < bt_node_key\(nodes\[1\], 0\)",
     "dead by construction: the key routes to the current node rb, above "
     "every key of its left sibling lb, and lb (full: no room for "
     "SPACE_THRESHOLD) keeps more than the first third, so the key never "
     "falls in the first third"),
    ("core/bt_remove.c", r"^(rebalance_children|do_leaf|remove_raw)$",
     r"i < 0",
     "dead by construction: bt_remove and bt_remove_range look the key up "
     "first (thin_remove too), so remove_present only descends towards a "
     "key that is there"),
    ("core/bt_remove.c", r"^bt_remove_range$", r"found == UINT64_MAX",
     "needs a mapping at vblock 2^64-1; the scenario grammar stops at "
     "2^64-2 (a range ending there would wrap the op's end)"),
    ("core/bt_remove.c", r"^bt_remove_range$", r"levels",
     "caller misuse (-EINVAL): thin.c always passes its two-level info"),
    ("core/bt.c", r"^values_equal$", None,
     "every thin value type with a dec also has an equal (data mappings); "
     "the details and top-level types have no dec, so memcmp is never asked"),
    ("core/bt.c", r"^has_space_for_insert$", r"bt_node_is_leaf",
     "a full internal node below the root: 253 full leaves in one tree "
     "(about 63000 mappings in one device, or 32000 devices), too big for "
     "a suite that must stay fast"),
    ("core/tm.c", r"^shadow_insert$", r"nr_shadows|old_cap|old\[i\]|^if \(!s\)$",
     "the shadow table grows when one transaction shadows or allocates "
     "more than 128 blocks (256 slots, grown at half full); "
     "scenarios/reach/many-devs reached it by mapping a block in each of "
     "140 devices in one transaction, but that cost about 40 s of the "
     "--io-errors step (quadratic in a commit's writes), so it was cut; "
     "tests/unit/test_tm.c"),
    ("core/tm.c", r"^(shadow_insert|shadow_put)$", r"tm_is_shadow|s\[i\] != b",
     "dead by construction: callers ask tm_is_shadow first, so a block is "
     "never entered twice"),
    ("core/tm.c", None, r"if \(tm->failed\)",
     "a second line of defence: thin.c poisons the pool on the error that "
     "fails the tm (TH4) and refuses every later call before the tm sees "
     "it, and the workload aborts right after any error (client.h CL4); "
     "tests/unit/test_tm.c"),
    ("core/thin.c", r"^may_(read|write)$", r"failed|read_only",
     "the workload aborts right after any error (client.h CL4), so no call "
     "meets a failed pool, and it never writes to a read-only one; "
     "tests/unit/test_thin.c"),
    ("core/thin.c", None, r"pool->pre_commit",
     "no pre-commit callback: the harness has no data device to flush yet "
     "(DESIGN.md 10, in progress on another branch)"),
    ("core/thin.c", None, r"p->data_block_size|p->flags & THIN_OPEN_READ_ONLY|"
     r"p->nr_data_blocks >|dev > THIN_MAX_DEV_ID|nr_blocks > \(1ull << 40\)|"
     r"data_block >= nr_data|begin > end|trans_id != current_id",
     "caller misuse (-EINVAL): the scenario grammar and the workload never "
     "make this call (ids, sizes and the current transaction id come from "
     "the oracle); tests/unit/test_thin.c"),
    ("core/(bt_spine|sm_common|thin).c", None,
     r"NODE_OFF_BLOCKNR|NODE_OFF_CSUM|SB\(blocknr\)|SB\(csum\)|"
     r"le32_get\(d\) != pd_block_csum|le64_get\(d \+ 8\)|"
     r"block_size != PD_BLOCK_SIZE|nr > max|flags != BT_|"
     r"bt_node_key\(n, i - 1\) >=|BT_NODE_HEADER_SIZE \+|bt_node_vsize\(n\) !=|"
     r"incompat_flags|SM_MAX_METADATA_BITMAPS|max_index_entries|"
     r"SM_METADATA_MAX_BLOCKS|THIN_METADATA_MAX_SECTORS|BT_SPINE_PATH|"
     r"len < SM_ROOT_SIZE|max < SM_ROOT_SIZE|le64_get\(d \+ SB\(blocknr\)\) != block",
     "defensive check on corrupt metadata or impossible sizes: crash states "
     "never hold it (every state the model allows is a whole committed tree "
     "or is stopped by a checksum first); " + DAMAGE_TESTS),
    ("core/thin.c", r"^(thin_list_devs_alloc|thin_read_superblock_at)$",
     r"^if \(!d\)$", "allocation failure (-ENOMEM) in a read only the "
     "harness makes (the digest of the pool, the fresh reader of the check "
     "and meta-snap-check ops) or recovery: the --alloc-faults run counts "
     "and fails the pool's own calls only; tests/unit/test_faults_oom.c"),
    ("core/bt_walk.c", r"^bt_walk$", r"^if \(!t\)$",
     "allocation failure (-ENOMEM) in bt_walk, which only the harness's "
     "digest of the pool and recovery call (thin_walk_mappings, "
     "thin_list_devs): the --alloc-faults run fails the pool's own calls "
     "only; tests/unit/test_faults_oom.c"),
    ("core/.*", None, r"^if \(!(s|tm|pool|smd|smm|d|t|n|copy)\)$",
     "allocation failure (-ENOMEM): " + ALLOC_SWEEP + "; the core/alloc "
     "libfiu point reaches it in tests/unit/test_faults_oom.c"),
    ("core/bt.c", r"^split_two_into_three$",
     r"pi == 0|lb != keep && lb != cur|rb != keep && rb != cur",
     "dead by construction in part: rebalance_or_split calls "
     "split_two_into_three only with 0 < pi < nr_parent - 1, so pi == 0 "
     "never holds and lb (or rb) is never the current node; the "
     "out_unlock_sibling path needs a failed allocation (-ENOMEM, -ENOSPC)"),
)


def explained(name, fn, text):
    import re
    for fpat, fnpat, tpat, why in EXPLAINED:
        if not re.fullmatch(fpat, name):
            continue
        if fnpat and not re.search(fnpat, fn or ""):
            continue
        if tpat and not re.search(tpat, text):
            continue
        return why
    return None


def reason_of(text):
    import re
    for pat, why in REASONS:
        if re.search(pat, text):
            return why
    return "open: no workload reaches it yet"


def write_unreached(path, sides):
    """The branches of REACH_FILES neither side reached, each with why."""
    empty = {"lines": {}, "branches": {}}
    out = ["# Branches of the reach files that the crash suite does not reach",
           "",
           "Generated by `make coverage-crash` (tests/coverage/coverage_crash.py",
           "--unreached-md) from the plain run, the --io-errors run and the",
           "--alloc-faults run together.  Reasons come first from EXPLAINED",
           "in that script (read from the code: who calls the function, why",
           "a branch is dead),",
           "then from the text of each branch's line.  Regenerate after",
           "changing core/ or the scenarios, and read the `open` entries:",
           "those are the workloads still to write.", ""]
    counts = {}
    for name in REACH_FILES:
        w = sides["workload"].get(name, empty)
        r = sides["recovery"].get(name, empty)
        lines_hit = {n for n, h in list(w["lines"].items()) +
                     list(r["lines"].items()) if h}
        funcs = functions_of(name)
        with open(os.path.join(ROOT, name)) as f:
            src = f.read().split("\n")
        called = {funcs.get(n) for n in lines_hit}
        rows = {}
        for (no, k) in sorted(set(w["branches"]) | set(r["branches"])):
            if w["branches"].get((no, k)) or r["branches"].get((no, k)):
                continue
            fn = funcs.get(no) or "?"
            text = src[no - 1].strip() if no <= len(src) else ""
            why = explained(name, fn, text)
            if why:
                pass
            elif fn not in called:
                why = ("function never called: the thin client ops the "
                       "scenarios drive do not use %s (unit tests, pdtool "
                       "or recovery of states that never occur call it)" % fn)
            else:
                why = reason_of(text)
            rows.setdefault((no, text, why), []).append(k)
        out.append("## %s" % name)
        out.append("")
        if not rows:
            out.append("every branch reached")
        for (no, text, why), ks in sorted(rows.items()):
            counts[why.split(":")[0]] = counts.get(why.split(":")[0], 0) + len(ks)
            out.append("- %s:%d branch%s %s `%s` - %s" % (
                name, no, "es" if len(ks) > 1 else "",
                ",".join(str(k) for k in ks), text.replace("`", "'"), why))
        out.append("")
    out.append("## Totals by reason")
    out.append("")
    for why, n in sorted(counts.items(), key=lambda x: -x[1]):
        out.append("- %d: %s" % (n, why))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def pct(hit, total):
    return round(100.0 * hit / total, 1) if total else 100.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/cov")
    ap.add_argument("--out", default="reports/coverage-crash")
    ap.add_argument("--gcda", help="folder holding gcda-workload/ and "
                    "gcda-recovery/ (default: BUILD)")
    ap.add_argument("--unreached-md", help="write the unreached branches "
                    "of the reach files, with reasons, to this file")
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
    if a.unreached_md:
        write_unreached(a.unreached_md, sides)
        print("unreached branches: %s" % a.unreached_md)
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
