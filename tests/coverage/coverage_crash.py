#!/usr/bin/python3
"""Coverage of core/ by the crash suite, split into workloads and recovery.

What `make coverage-crash` runs after the suite: the coverage build
(BUILD, e.g. build/cov) wrote the parent's counters (the live workloads)
under BUILD/gcda-workload and the workers' counters (recovery: open,
structural check, continue; and the recovery of the damaged images of
`pdcrash run --damage`) under BUILD/gcda-recovery, each a GCOV_PREFIX
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
# The btree, space-map, transaction-manager and thin files of core/, with
# the headers whose inline functions hold their branches (bt_internal.h's
# node accessors and bt_info_ok, sm.h's op wrappers): a branch moved into
# an inline helper is still counted.
REACH_FILES = ("core/bt.c", "core/bt_spine.c", "core/bt_walk.c",
               "core/bt_remove.c", "core/bt_internal.h", "core/sm_common.c",
               "core/sm_disk.c", "core/sm_metadata.c", "core/sm.h",
               "core/tm.c", "core/thin.c")


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
               "allocation call site (its innermost 16 frames and the kind "
               "of the op running, --alloc-site op) of the pool's own calls, "
               "and not this one here")
DAMAGE_STEP = ("the damage step (pdcrash run --damage, harness/engine/"
               "damage.h: one block damaged at a time, by every kind that fits "
               "it) does not reach it either: it takes damage in two places "
               "at once (a path of more than BT_MAX_DEPTH distinct nodes, a "
               "single-entry node whose one child is bad), sizes no image has "
               "(a block size other than 4096, more than 255 metadata "
               "bitmaps past the open's own check), a caller's misuse, or it "
               "stands behind another check that refuses the same damage "
               "first")
# Why a branch is unreached, from the text of its line (first match wins).
REASONS = (
    ("pd_malloc|malloc\\(|-ENOMEM|ENOMEM", "allocation failure (-ENOMEM): "
     + ALLOC_SWEEP + "; the libfiu point core/alloc reaches it in the C unit "
     "tests"),
    ("EILSEQ|ENOTBLK|checksum|magic|BT_MAX_DEPTH|_seen\\(|>= bm_nr_blocks|"
     "corrupt|nr_blocks\\(|check_shape|node_check|in_range\\(|bt_info_ok|"
     "> 3\\)|< 3\\)", "defensive check on "
     "corrupt metadata: crash states never hold it (every state the model "
     "allows is a whole committed tree or is stopped by a checksum first), "
     "and " + DAMAGE_STEP + "; " + DAMAGE_TESTS),
    ("EINVAL", "caller misuse (-EINVAL): no op of the harness makes this "
     "call, the misuse ops (scenario.h, expect=EINVAL) included"),
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


COPY_ROOT = ("sm_copy_root fails only at its libfiu point sm/copy_root "
             "(core/sm.h: the kernel's copy_root may fail, ours copies four "
             "fields into a buffer of the right size), which the "
             "--alloc-faults sweep fails at the first hit of each call site "
             "(counted with core/alloc, emN), and `pdcrash run --fiu "
             "sm/copy_root:N` at any hit")


# Real reasons, read from the code (checked when this table was written):
# (file, function regex or None, line-text regex or None, reason[, regex
# of the line before]).  The first match wins, before the
# function-never-called rule and REASONS.
EXPLAINED = (
    ("core/bt.c", r"^bt_find_lowest_key$", None,
     "no thin path asks for the lowest key (the kernel has no lowest mapped "
     "block either; find-range starts its cursor at its first vblock): "
     "core/array.c and tests/unit/test_bt.c call it"),
    ("core/bt_walk.c", r"^bt_cursor_begin$", r"bt_info_ok|levels != 1",
     "caller misuse (-EINVAL): the cursor's callers pass a single-level "
     "info (core/array.c an array's index, core/thin.c find_mapped_range "
     "the bottom level alone); tests/unit/test_bt.c"),
    ("core/bt_walk.c", r"^(bt_cursor_next|bt_cursor_get)$", r"!c->depth",
     "a cursor past its end: no caller steps or reads again after begin "
     "or next answered -ENODATA or an error (core/array.c's cursor, "
     "thin_find_mapped_range); tests/unit/test_bt.c check_model does"),
    ("core/bt_walk.c", r"^bt_cursor_end$", r"!c\)",
     "NULL (kept like free(NULL) for cleanup paths): no caller ends a "
     "cursor it does not have (array_cursor_end tests its own cursor "
     "first, thin_find_mapped_range ends only a begun one)"),
    ("core/thin.c", r"^thin_pool_destroy$", r"^if \(pool\)$",
     "NULL (kept like free(NULL) for cleanup paths): every caller "
     "destroys a pool it holds (harness/engine/client_core.c, damage.c, "
     "the kernel adapter's core reader, pdtool) after a successful open; "
     "the check ops close their readers instead (thin_pool_close)"),
    ("core/bt_walk.c", r"^cursor_damage$", r"c->depth\)",
     "dead at depth 0: no check of cursor_push can fire at the root (its "
     "range is unbounded, it has no ancestor, no leaf was seen before "
     "it); below the root the damage step reaches it (the exercise's "
     "find-range past the walk's highest block, on images with a child "
     "pointer damaged: a cycle, keys outside the range, leaves at two "
     "depths)"),
    ("core/bt_walk.c", r"^cursor_push$", r"BT_MAX_DEPTH",
     "a path of more than BT_MAX_DEPTH distinct nodes: the cycle check "
     "just below refuses a node met twice on the path, so damage to one "
     "block (the damage step's) cannot make one, and a whole tree that "
     "deep (BT_MAX_DEPTH 64) would need some 84^63 entries; " +
     DAMAGE_TESTS),
    ("core/bt_walk.c", r"^trav_node$", r"if \(!t->bufs\[depth\]\)$",
     "allocation failure (-ENOMEM) of a node buffer (the test after "
     "pd_malloc) in the walker that only the harness's digest of the pool "
     "(bt_walk) and recovery's checks (bt_check) run: the --alloc-faults "
     "run fails the pool's own calls only; the core/alloc libfiu point "
     "reaches it in tests/unit/test_faults_oom.c"),
    ("core/bt_walk.c", None, r"t->check|leaf_depth|rg->|bt_node_max\(n\) / 3",
     "damage found by bt_check (key outside its parent's range, BT2, "
     "leaves at two depths): recovery runs it on every tree of every "
     "crash state (beside core/check.c), and every state the model allows "
     "is whole committed trees; " + DAMAGE_TESTS + ", and "
     "tests/unit/test_tree_check.c"),
    ("core/sm_metadata.c", r"^smm_get_nr_free$", None,
     "the count clamped at 0 needs more metadata blocks in use than the "
     "committed size has: the workload commits as soon as none is free "
     "beyond the commit reserve (workload.c, dm-thin's caller), so no "
     "transaction gets there"),
    ("core/sm_metadata.c", r"^boot_get_nr_free$", None,
     "the bootstrap space map lives only inside tm_create_with_sm and the "
     "metadata extend; nothing asks it for a free count then"),
    ("core/thin.c", None, r"!pool->data_sm",
     "a failed metadata snapshot view: meta-snap-check reads a view's data "
     "counts (workload.c read_snap_view), but a view is read-only and "
     "nothing it is asked fails it; tests/unit/test_thin.c"),
    ("core/thin.c", None, r"THIN_METADATA_RESERVE_MAX",
     "the commit reserve's cap of 4096 blocks needs a metadata device of "
     "more than 40960 blocks; the largest in the suite has 20000 "
     "(scenarios/resize.scn)"),
    ("core/thin.c", r"^thin_get_metadata_reserve$", r"^if \(r\)$",
     "dead: the only caller, thin_get_free_metadata_blocks, calls it "
     "after its own may_read passed, nothing between fails the pool, and "
     "thin_get_nr_metadata_blocks' sm_get_nr_blocks answers from memory "
     "and never fails (smm_get_nr_blocks, core_get_nr_blocks)"),
    ("core/thin.c", r"^(thin_get_\w+|read_dev)$",
     r"^\s*if \(!?r\)|r \? r :",
     "a read of a failed pool (may_read: -EIO) that the failed-pool probe "
     "(workload.c probe_failed_pool: every client read and write, once "
     "per recovery of a failed pool) does not make: the client ops have "
     "no such read, or no fault of the sweeps fails the pool before it"),
    ("core/thin.c", r"^thin_set_dev_info$", r"THIN_MAX_DEV_ID",
     "caller misuse (-EINVAL): the restore builder (harness/pdtool/"
     "restore.c on_device) refuses a dev_id past 2^24-1 before it calls, "
     "and the dump it reads names existing devices only"),
    ("core/thin.c", r"^thin_set_dev_info$", r"!exists",
     "the restore builder makes each device once (restore.c on_device "
     "refuses a device that appears twice, and the rebuild dropped every "
     "device first), so thin_set_dev_info always creates there; "
     "tests/unit/test_tree_check.c sets the details of an existing device"),
    ("core/bt.c", r"^split_two_into_three$",
     r"key < bt_node_key\(nodes\[1\], 0\)|^if \(lb != keep\)$",
     "the key routes to the current node rb: in a whole tree it is at or "
     "above the parent's key for rb, so above every key of its left "
     "sibling lb, and lb (full: no room for SPACE_THRESHOLD) keeps more "
     "than the first third, so the key never falls in the first third "
     "and lb is never kept; only a parent key at or below keys of lb "
     "sends it there, and the damage step cannot combine one with an "
     "insert below it: the exercise inserts one past the highest block "
     "its walk met, which is lb's first key when the walk stopped at lb, "
     "and routing that key to rb takes a separator equal to lb's own "
     "(a parent whose keys are not ascending), which the walk refuses at "
     "the parent before it meets a mapping of the device, so the insert "
     "goes past the core's highest block instead, where rb is kept "
     "(tried: a seven-leaf device with that damage, 2026-12-01)"),
    ("core/bt_remove.c", r"^(rebalance_children|do_leaf|remove_raw)$",
     r"i < 0",
     "a guard against damage the lookup before it does not refuse: "
     "bt_remove and bt_remove_range look the key up first, and the "
     "remove's descent takes the child the lookup took at every node "
     "where the key is not below the node's first key (there the lookup "
     "takes child 0 and rebalance_children's guard refuses first: the "
     "damage step's key0-raised reaches it); rebalancing redistributes "
     "the two or three children in order and sets the parent's keys from "
     "them, so the descent after it still finds the key the lookup found "
     "unless siblings hold keys outside their ranges in two places; and "
     "an internal node after absorb_child with its first key above the "
     "key needs a one-child node whose only child is damaged as well "
     "(two damaged blocks, where the damage step damages one); "
     + DAMAGE_TESTS),
    ("core/bt_remove.c", r"^bt_remove_range$",
     r"found < k\[last\]|r \|\| found >= end_key",
     "bt_lookup_next failing, or answering a key below the one asked, in "
     "the middle of a range: damage right of the path the first lookup "
     "took (a child holding keys below its parent's key for it); the "
     "damage step's exercise removes a range up to the middle of what its "
     "walk met, and the walk stops at such damage before it"),
    ("core/bt_remove.c", r"^absorb_child$", r">= bm_nr_blocks",
     "behind the lookup bt_remove makes first: it reads the same only "
     "child and refuses one outside the device (the one-child-parent "
     "damage kind reaches the seen half of this check)"),
    ("core/bt_spine.c", r"^bt_node_redistribute$", r"count > 3",
     "a guard of the function's stack buffers (three nodes' worth): every "
     "caller in core/ passes 2 or 3, as constants"),
    ("core/bt_remove.c", r"^bt_remove_range$", r"levels|bt_info_ok",
     "caller misuse (-EINVAL) no caller can make: the two callers pass "
     "their own fixed infos, thin.c's two-level mapping info "
     "(thin_remove_range) and array.c's one-level index info (the "
     "dm-cache array's shrink)"),
    # Errors passed up from callees that cannot fail there (issue 10,
    # read from the code; the faults of the suite are no help).
    ("core/sm_common.c", r"^(sm_ll_new_metadata|sm_ll_new_disk|ll_open)$",
     r"^if \(r\)$", "dead: ll_init fails only on a block size other than "
     "PD_BLOCK_SIZE (-EINVAL), which bm_create refuses first (see ll_init)",
     r"^$|ll_init\("),
    ("core/sm_disk.c", r"^sm_disk_open$", r"^if \(r\)$",
     "dead: smd_commit right after the open commits nothing "
     "(sm_ll_open_disk leaves bitmap_index_changed 0, so sm_ll_commit "
     "returns 0 at once)", r"smd_commit\("),
    ("core/sm_metadata.c", r"^(smm_extend|smm_create)$", r"^if \(r\)$",
     "dead: add_bop fails only on a full queue (1024 ops, see add_bop), "
     "and here it holds one op at most: smm_create has just reset it and "
     "bootstrap's building of the map queues nothing (boot_new_block "
     "hands blocks out, the metadata map's save_ie writes memory); "
     "smm_extend starts on an empty one (MS1: it refuses while "
     "recursing), and in its later rounds apply_queue has drained it and "
     "sm_ll_commit queued at most the dec of the index block it shadowed",
     r"add_bop\(smm, BOP_INC"),
    ("core/thin.c", r"^save_sm_roots$", r"^if \(r\)$", COPY_ROOT, r"^$"),
    ("core/thin.c", r"^(format_objects|commit_transaction)$",
     r"^if \(r\)$", COPY_ROOT, r"save_sm_roots\("),
    ("core/bt.c", r"^values_equal$", None,
     "every thin value type with a dec also has an equal (data mappings); "
     "the details and top-level types have no dec, so memcmp is never asked "
     "in the crash suite; it stays: bt.h lets a value type leave equal "
     "NULL (memcmp then), and tests/unit/test_bt.c "
     "bt_overwrite_decs_old_value_unless_equal relies on it"),
    ("core/bt.c", r"^has_space_for_insert$", r"bt_node_is_leaf",
     "a full internal node below the root: 253 full leaves in one tree "
     "(about 63000 mappings in one device, or 32000 devices), too big for "
     "a suite that must stay fast"),
    ("core/tm.c", None, r"if \(tm->failed\)",
     "a second line of defence, redundant with thin.c's on every path "
     "the suite takes: "
     "poison() fails the pool and the tm together (TH4), every public "
     "thin_* call that reaches a mutating tm call passes may_write "
     "(pool->failed) first, a tm error inside one call is passed straight "
     "up (the --io-errors and --alloc-faults sweeps fail every call site "
     "and no second tm call follows), and the failed-pool probe "
     "(workload.c probe_failed_pool) is answered by thin.c before the tm; "
     "one path fails the tm alone: thin_alloc_data_block returns a "
     "data-map -ENOSPC unpoisoned, also when the metadata ran out inside "
     "it (a shadow of a data bitmap), and the caller then aborts "
     "(workload.c data_full, out_of_meta_space) before any commit could "
     "meet the tm's refusal; tests/unit/test_tm.c"),
    ("core/thin.c", r"^may_(read|write)$", r"failed|read_only",
     "a failed pool meets calls only in the failed-pool probe (workload.c "
     "probe_failed_pool), a read-only one only meta-snap-check's create "
     "on its view; tests/unit/test_thin.c"),
    ("core/thin.c", None, r"pool->pre_commit",
     "no pre-commit callback: the harness has no data device to flush yet "
     "(DESIGN.md 10, in progress on another branch)"),
    ("core/thin.c", None, r"p->data_block_size|"
     r"p->nr_data_blocks >|dev > THIN_MAX_DEV_ID|nr_blocks > \(1ull << 40\)|"
     r"data_block >= nr_data|begin > end",
     "caller misuse (-EINVAL) that the misuse ops (scenario.h: create, "
     "snap, unmap A..B, resize-data, map at=, format, open with "
     "expect=EINVAL) do not make; tests/unit/test_thin.c"),
    ("core/sm_common.c", r"^sm_ll_extend$", r"bitmaps > max_index_entries",
     "more bitmaps than the index holds: the metadata map's 255 are behind "
     "thin_resize_metadata's own refusal of a size past "
     "SM_METADATA_MAX_BLOCKS (reach/caller-misuse asks it) and the "
     "format's clamp; the data map's index, a btree, has no such bound"),
    ("core/(bt_spine|sm_common|thin).c", None,
     r"NODE_OFF_BLOCKNR|NODE_OFF_CSUM|SB\(blocknr\)|SB\(csum\)|"
     r"le32_get\(d\) != pd_block_csum|le64_get\(d \+ 8\)|"
     r"block_size != PD_BLOCK_SIZE|nr > max|flags != BT_|"
     r"bt_node_key\(n, i - 1\) >=|BT_NODE_HEADER_SIZE \+|bt_node_vsize\(n\) !=|"
     r"incompat_flags|SM_MAX_METADATA_BITMAPS|max_index_entries|"
     r"SM_METADATA_MAX_BLOCKS|THIN_METADATA_MAX_SECTORS|BT_SPINE_PATH|"
     r"len < SM_ROOT_SIZE|le64_get\(d \+ SB\(blocknr\)\) != block",
     "defensive check on corrupt metadata or impossible sizes: crash states "
     "never hold it (every state the model allows is a whole committed tree "
     "or is stopped by a checksum first), and " + DAMAGE_STEP + "; " +
     DAMAGE_TESTS),
    ("core/thin.c", r"^(thin_list_devs_alloc|thin_read_superblock_at)$",
     r"^if \(!d\)$", "allocation failure (-ENOMEM) in a read only the "
     "harness makes (the digest of the pool, the fresh reader of the check "
     "op) or recovery: the --alloc-faults run counts and fails the pool's "
     "own calls and the meta-snap-check op's view, and recovery fails one "
     "allocation of its open, check or digest (explore.c, the faulted "
     "pass), none of them this one; tests/unit/test_faults_oom.c"),
    ("core/bt_walk.c", r"^(bt_walk|bt_check)$", r"^if \(!t\)$",
     "allocation failure (-ENOMEM) in bt_walk or bt_check, which only the "
     "harness's digest of the pool (thin_walk_mappings, thin_list_devs) "
     "and recovery's checks (thin_check_trees) call: the --alloc-faults "
     "run fails the pool's own calls only; tests/unit/test_faults_oom.c"),
    ("core/.*", None, r"^if \(!(s|tm|pool|smd|smm|d|t|n|copy)\)$",
     "allocation failure (-ENOMEM): " + ALLOC_SWEEP + "; the core/alloc "
     "libfiu point reaches it in tests/unit/test_faults_oom.c"),
    ("core/bt.c", r"^split_two_into_three$",
     r"pi == 0|lb != keep && lb != cur|rb != keep && rb != cur",
     "dead by construction in part: rebalance_or_split calls "
     "split_two_into_three only with 0 < pi < nr_parent - 1, so pi == 0 "
     "never holds and lb (or rb) is never the current node; the "
     "out_unlock_sibling path needs a failed allocation (-ENOMEM, -ENOSPC)"),
    # --- issue 10 (Reach): the branches no workload reached, read from
    # the code.
    ("core/bt_internal.h", r"^bt_info_ok$", None,
     "caller misuse (-EINVAL): the test of its bt_info every btree entry "
     "point makes (bt.c, bt_walk.c, bt_remove.c); every bt_info in core/ "
     "is built at create or open with its tm, levels and value size "
     "fixed (thin.c, sm_common.c, array.c), never from metadata; "
     "tests/unit/test_bt.c passes bad ones"),
    ("core/(bt|bt_walk).c", r"^(bt_empty|bt_lookup|bt_lookup_next|find_key|"
     r"bt_insert|bt_del|bt_walk|bt_check)$", r"bt_info_ok",
     "caller misuse (-EINVAL): every bt_info in core/ is built at create or "
     "open with its levels and value size fixed (thin.c, sm_common.c, "
     "array.c), never from metadata; tests/unit/test_bt.c passes bad ones"),
    ("core/bt.c", r"^bt_insert$", r"need_insert\(n, keys\[level\]",
     "dead for thin, the only two-level tree (pool->info): insert_mapping "
     "asks get_dev first, and a device in the in-core list or the details "
     "tree always has its top-level entry (create_thin and create_snap "
     "insert it before the details, thin_delete removes it last, and an "
     "error in between poisons the pool), so the upper level holds the key"),
    # find_edge serves bt_lookup_next (thin's range removal: the lowest
    # key right of a hole between leaves, scenarios/reach/leaf-edges) and
    # find_key (bt_find_highest_key: thin_get_highest_mapped).
    ("core/bt.c", r"^find_edge$", r"highest \? nr - 1 : 0|^if \(value\)$",
     "only find_key asks for the highest key, or for no value; "
     "bt_lookup_next asks for the lowest key and its value"),
    ("core/bt.c", r"^find_edge$", r"^if \(bt_node_is_leaf\(n\)\) \{$",
     "an internal node right of the path needs a tree of three levels "
     "(the leaf the descent lands in is the last child of its parent): "
     "more than 252 leaves in one device, some 32000 mappings, too big "
     "for a suite that must stay fast"),
    ("core/bt.c", r"^del_push$", r"s->f\[i\]\.b == b|count == 0",
     "defensive check on corrupt metadata: a node on its own delete path "
     "(a cycle) or a referenced node whose count is 0; crash states never "
     "hold one (the structural checker's CK4 and CK6 rule both out in "
     "every state); " + DAMAGE_TESTS),
    ("core/(bt|bt_walk).c", r"^(del_push|trav_node)$",
     r"^if \(!(s->bufs\[s->top\]|t->bufs\[depth\])\)$",
     "allocation failure (-ENOMEM): " + ALLOC_SWEEP + "; the core/alloc "
     "libfiu point reaches it in tests/unit/test_faults_oom.c"),
    ("core/bt_spine.c", r"^bt_spine_seen$", r"s->path\[i\] == b",
     "defensive check on corrupt metadata: a block met twice on one "
     "descent (a cycle, or a node twice in one tree); crash states never "
     "hold it (CK4); " + DAMAGE_TESTS),
    ("core/bt_spine.c", r"^shadow_node$", r"!r && inc",
     "defensive check on corrupt metadata: bt_node_check_shape refuses a "
     "node the validator passed (value size or max_entries wrong for its "
     "level); crash states never hold it (CK2); " + DAMAGE_TESTS),
    ("core/bt_walk.c", r"^trav_node$", r"^if \(bt_node_is_leaf\(n\)\) \{$|"
     r"^if \(level \+ 1 == info->levels\)$",
     "statistics inside `if (t->st)`: bt_check's only (tests/unit/"
     "test_bt.c, test_sm.c); bt_walk has no st", r"t->st->nr_(nodes|leaves)"),
    ("core/bt_walk.c", r"^trav_node$", r"else if \(level \+ 1 < info->levels\)",
     "no walk in the crash suite crosses a level: thin.c walks tl_info "
     "(list_devs) and nb_info (walk_mappings), array.c a one-level tree; "
     "tests/unit/test_bt.c walks and checks two-level trees"),
    ("core/bt_walk.c", r"^trav_node$", r"else if \(t->fn\)",
     "bt_walk refuses a NULL fn (-EINVAL), so t->fn is NULL only under "
     "bt_check, which the unit tests alone call"),
    ("core/bt_remove.c", r"^init_children$",
     r"bt_node_flags\(c\[j\]\.n\) != bt_node_flags|^for \(j = 0; j < count",
     "defensive check on corrupt metadata: leaves beside internal nodes "
     "under one parent, i.e. leaves at two depths, which the structural "
     "checker (CK2) rules out in every state; " + DAMAGE_TESTS),
    ("core/bt_remove.c", r"^rebalance3$", r"^if \(!r\)$",
     "the first drop_child of the merge arm failing: that arm runs only on "
     "a damaged image (BT2 keeps whole trees out of it: three non-root "
     "siblings hold at least 3 * (max/3) >= 2 * (max/3 + 1) entries, "
     "max/3 >= 42), which only the damage step recovers "
     "(reach/damage-merge-three.scn: nr-zero empties a leaf beside two of "
     "84 and 85, and the damage probe's remove of the walk's middle mapping "
     "merges the three), and that step fails no read, write or "
     "allocation, so drop_child's tm_dec of the sibling this remove has "
     "just shadowed (count 1, its bitmap read for the shadow moments "
     "before) succeeds; tests/unit/test_bt.c"),
    ("core/sm_common.c", r"^load_ie$", r"index >= SM_MAX_METADATA_BITMAPS",
     "a guard of the metadata index block's bounds, behind the checks "
     "that keep the metadata map at 255 bitmaps at most: create clamps "
     "it (SM_METADATA_MAX_BLOCKS), open refuses a larger block count (the "
     "sb-meta-nr-huge damage is refused there) and extend refuses to "
     "pass it, and the index asked is below the map's own bitmap count"),
    ("core/sm_common.c", r"^save_ie$", r"index >= max_index_entries",
     "a guard of the index's bounds: the callers save the entry of a "
     "bitmap they just loaded (an index below the map's bitmap count) or "
     "of a bitmap extend adds after its own check of the same bound"),
    ("core/sm_common.c", r"^ll_open$", r"!root \|\| len < SM_ROOT_SIZE",
     "caller misuse: sm_disk_open and tm_open_with_sm pass the "
     "superblock's space-map root field, SM_ROOT_SIZE bytes"),
    ("core/sm_common.c", r"^sm_ll_copy_root$", r"max < SM_ROOT_SIZE",
     "caller misuse (-ENOSPC): the check of sm_copy_root's buffer size, "
     "an argument of the space-map interface; every caller (thin.c, "
     "cache.c) passes an SM_ROOT_SIZE-byte buffer, and "
     "tests/unit/test_sm.c passes a short one"),
    ("core/sm_common.c", r"^load_ie$", r"index >= sm_nr_bitmaps",
     "defensive: every caller derives the index from a block below "
     "nr_blocks (sm_ll_lookup_bitmap checks it, "
     "for_each_bitmap and check_no_zero run after check_range, "
     "sm_ll_find_free_block clamps its end); sm_ll_load_ie has no caller "
     "in core/"),
    ("core/sm_common.c", r"^for_each_bitmap$", r"^if \(r\)$",
     "save_ie of the entry load_ie put in its cache slot at the top of "
     "the same iteration: nothing in between uses this ll's cache (the op "
     "changes the bitmap and the ref-count tree, whose allocations go to "
     "the metadata map, which only queues while recursing), so the slot "
     "still holds that index and no writeback runs; the metadata map's "
     "save_ie writes memory, and the index is below the map's bitmap "
     "count.  No block cache reaches it either (cache=none: core/bm.h "
     "BM11): the slot is the space map's own index-entry cache, so the "
     "save does no I/O and allocates nothing, whatever the block "
     "manager keeps", r"r = save_ie\(ll, bc.index"),
    ("core/sm_disk.c", r"^sm_disk_open$", r"^if \(r\) \{$",
     "sm_ll_open_disk fails only on a NULL root or one shorter than "
     "SM_ROOT_SIZE (thin.c passes the superblock's field, SM_ROOT_SIZE "
     "bytes) or on more bitmaps than the index holds, which for the data "
     "map (UINT64_MAX entries) no block count reaches: it reads nothing"),
    ("core/bt.c", r"^bt_insert$", r"^if \(r\)$",
     "new_empty_leaf in bt_insert runs only when an upper level lacks the "
     "key: the live workloads never (thin_create makes each device's "
     "bottom tree itself, so thin_insert finds the device), only the "
     "damage step's exercise inserting into an image whose top-level tree "
     "lost a device the details tree still names (insert_mapping's "
     "get_dev finds it there), and that step fails no allocation",
     r"&sub\);"),
    ("core/sm_common.c", r"^sm_ll_extend$", r"nr_blocks < ll->nr_blocks",
     "overflow guard: thin_resize_data refuses more than 2^40 blocks and "
     "the metadata map is clamped at SM_METADATA_MAX_BLOCKS, so nr_blocks "
     "+ extra never wraps"),
    ("core/sm_common.c", r"^sm_ll_lookup_bitmap$", r"b >= ll->nr_blocks",
     "defensive: every block asked about was handed out by the map: "
     "metadata blocks named by trees (the structural checker's CK2 keeps "
     "them inside the metadata space map in every state), data blocks of "
     "mappings (insert_mapping refuses one past the data size; resize "
     "never shrinks); sm_ll_find_common_free_block asks old_ll only below "
     "its nr_blocks"),
    ("core/sm_common.c", r"^sm_ll_find_free_block$", r"end > ll->nr_blocks",
     "defensive: the callers pass end = nr_blocks or the allocation "
     "cursor, which is a handed-out block + 1, or the old length at "
     "extend (sm_metadata), never past nr_blocks"),
    ("core/sm_common.c", r"^inc_in_bitmap$", r"rc == UINT32_MAX",
     "overflow guard: 2^32 - 1 references to one block; every reference "
     "is an entry of some tree, and no workload comes near"),
    ("core/sm_common.c", r"^check_range$", None,
     "caller misuse (-EINVAL) no caller can make: sm_ll_inc and sm_ll_dec "
     "get ranges inside the map only: the metadata space map checks its "
     "own first (sm_metadata.c check_range) and queues only checked "
     "ranges, new_block passes a block it found free, and the data space "
     "map's come from thin_insert / thin_insert_raw (checked against the "
     "data size in insert_mapping) and from the values of mapping leaves "
     "(data_block_inc/dec), blocks an insert checked, and from "
     "thin_inc_data_range / thin_dec_data_range, which refuse a range "
     "past the data device first (thin.c data_range_ok, TH8); the data "
     "device never shrinks (thin_resize_data refuses it)"),
    ("core/sm_common.c", r"^check_no_zero$",
     r"i < n && !r|!sm_bitmap_get\(bitmap_cpayload",
     "defensive (SM4): no caller decrements a free block: every dec drops "
     "a reference a tree or the tm holds (the structural checker's CK6-CK7 "
     "hold the counts to the references in every state), and the metadata "
     "map checks queued decs as it queues them (MS3); tests/unit/"
     "test_sm.c decrements free blocks"),
    ("core/sm_metadata.c", r"^add_bop$", r"next == smm->q_begin",
     "a full queue (-ENOMEM): 1024 ops queued inside one outermost call; "
     "a call of the crash suite queues a handful (a bitmap's and the "
     "ref-count root's shadows, the blocks their changes free); "
     "tests/unit/test_sm.c sm_metadata_queue_accounting fills it"),
    ("core/sm_metadata.c", r"^queued_adjustment$", r"op->type == BOP_INC",
     "a queued dec is counted only for a block handed out and dropped "
     "within one recursion (find_free offers such a block; the bitmap and "
     "ref-count root shadows replaced in a recursion are in use at the "
     "last commit, so never offered): a ref-count tree node made and "
     "merged away, or shadowed and absorbed, in one call, which needs a "
     "ref-count tree of two levels: more than 336 metadata blocks with "
     "counts of 3 or more (some 42000 mappings shared three ways), too "
     "big for a suite that must stay fast"),
    ("core/sm_metadata.c", r"^smm_count_is_more_than_one$", r"adj > 1",
     "dead in the crash suite: a block gets at most one queued inc: "
     "new_block queues one for the block it hands out (and MS2 never hands "
     "out a block with one queued), and nothing else incs while recursing "
     "(see smm_inc_blocks); tests/unit/test_sm.c queues two"),
    ("core/sm_metadata.c", r"^smm_(inc|dec)_blocks$", r"^if \(r \|\| b == e\)$",
     "caller misuse: tm_inc, tm_dec and with_runs (a node's children, in "
     "runs of at least one) pass non-empty ranges of blocks inside the "
     "map"),
    ("core/sm_metadata.c", r"^smm_inc_blocks$", r"^if \(recursing\(smm\)\)$",
     "dead in the crash suite: a recursion changes only bitmaps and the "
     "ref-count tree, whose nodes are never shared (no snapshot or "
     "absorb_child count > 1 there), so no tm_inc runs inside one; "
     "tests/unit/test_sm.c incs while recursing"),
    ("core/sm_metadata.c", r"^check_queued_dec$",
     r"queued_adjustment\(smm, b\) < 1",
     "defensive (SM4, MS3): a queued dec drops a reference held (an old "
     "bitmap or ref-count node after its shadow, a node a merge drops); "
     "tests/unit/test_sm.c sm_metadata_queue_accounting"),
    ("core/sm_metadata.c", r"^find_free$", r"queued_adjustment\(smm, \*b\) <= 0",
     "MS2 skips a block handed out in this recursion only when the cursor "
     "wraps back to it, i.e. when the device runs out of metadata space "
     "within a recursion that allocates at least twice: such a recursion "
     "is a transaction's first change of the metadata map (its bitmap's "
     "shadow, and the ref-count root's if a count goes to or from 3), or "
     "a ref-count tree split (over 336 entries) or a range over two "
     "bitmaps (over 16320 blocks); at a transaction's start the workload "
     "keeps more than the reserve free (a commit that leaves none beyond "
     "it puts the pool out of space until resize-meta), and every commit "
     "frees the old index and bitmap blocks, so the first change always "
     "finds room; tests/unit/test_sm.c "
     "sm_metadata_no_double_allocation_when_cursor_wraps_in_recursion"),
    ("core/sm_metadata.c", r"^smm_new_block$", r"^if \(!r\)$",
     "an error from add_bop (a full queue, see add_bop) or from sm_ll_inc "
     "of the block find_free just read: the only IO it may do is its "
     "bitmap's shadow, at the transaction's first metadata allocation, "
     "when nothing in the cache is dirty (the commit wrote everything, "
     "and every dirty block comes from an allocation), so making room "
     "writes nothing back; only -ENOMEM is left (tests/unit/"
     "test_faults_oom.c)"),
    ("core/sm_metadata.c", r"^smm_extend$", r"^if \(recursing\(smm\)\)$",
     "caller misuse (-EINVAL): thin_resize_metadata extends from outside "
     "any space-map call; tests/unit/test_sm.c extends while recursing"),
    ("core/sm_metadata.c", r"^smm_create$", r"^if \(!r\) \{$",
     "sm_ll_new_metadata takes two fresh blocks (index, ref-count root) "
     "through bm_write_lock_zero on the new pool's empty cache: no IO, so "
     "it fails only with -ENOMEM (tests/unit/test_faults_oom.c)"),
    ("core/sm_common.c", r"^ref_count_del$", r"r == -ENODATA",
     "dead by construction: sm_ll_dec calls ref_count_del only for a "
     "block whose count lookup_big_count has just read from the same "
     "ref-count tree in the same op (3 -> 2, LL1), and nothing changes "
     "that tree in between, so bt_remove's own lookup of the key finds "
     "it too; a missing entry (the damage step's bm-one-to-three) fails "
     "the count's lookup first"),
    ("core/sm_metadata.c", r"^smm_create$", r"SM_METADATA_MAX_BLOCKS",
     "the scenario grammar caps `pool meta=` at SM_METADATA_MAX_BLOCKS "
     "(4161600), so the clamp never applies; tests/unit/test_sm.c "
     "sm_metadata_clamped_to_255_bitmaps"),
    ("core/thin.c", r"^thin_pool_open_metadata_snap$", r"^if \(!r\)$",
     "sm_core_create fails only with -ENOMEM; tests/unit/test_faults_oom.c"),
    ("core/thin.c", r"^thin_read_superblock_why$", r"^if \(why\)$|"
     r"fault && why",
     "a bad superblock read without a damage record (why NULL): the "
     "callers that pass none (thin_read_superblock and _at: the restore "
     "and meta-snap-check ops' reads of the image, workload.c, are "
     "side reads (simdisk_side_reads), in which no planned fault lands: "
     "no --io-errors error, no --media-faults bit rot; a lost sector "
     "the media step stores on block 0 zeroes all of the superblock, "
     "which fits its first sector, and so reads as an unformatted "
     "device (-ENODATA), not as a bad one; "
     "thin_pool_open_metadata_snap's read of block 0, after an open of "
     "the same block succeeded; the kernel adapter's K1 read) never meet "
     "one, and the reads of damaged images pass a record (the damage "
     "step's snapshot read, damage.c read_meta_snap; pdtool dump); "
     "tests/unit/test_thin.c"),
    ("core/thin.c", r"^thin_pool_open$", r"THIN_OPEN_FORMAT",
     "a read-only open asked to format an all-zero device: no caller asks "
     "both, as dm-thin formats only a pool it opens writable (its pool "
     "constructor passes format_device only without read_only), and so "
     "does the harness's `pool format=open` (client_core.c core_format); "
     "the guard keeps a read-only open from ever writing: "
     "tests/unit/test_thin.c thin_open_refuses_bad_superblocks"),
    ("core/thin.c", r"^poison$", r"^if \(pool->tm\)$",
     "every pool a thin_* call meets has a tm: the opens build it or fail, "
     "and a failed abort (which drops it) leaves the pool failed, refused "
     "by may_read/may_write before anything poisons it"),
    ("core/thin.c", r"^thin_get_(transaction_id|time|nr_data_blocks|"
     r"metadata_snap)$", r"^if \(!r",
     "may_read fails only on a failed pool, which only the failed-pool "
     "probe (workload.c probe_failed_pool) asks, through the client ops"),
    ("core/thin.c", r"^thin_reserve_metadata_snap$", r"^if \(!r\)$",
     "tm_inc of the mapping root right after the commit and the "
     "superblock's inc and shadow: its bitmap is the one those just "
     "shadowed (cached, no read), the cache holds nothing dirty to write "
     "back, and the root's count goes 1 -> 2 (no snapshot is held, else "
     "-EBUSY), so no ref-count tree: only -ENOMEM"),
    ("core/thin.c", r"^thin_read_superblock_at$", r"&& zero|^if \(zero\)$",
     "an all-zero superblock: in the crash suite only the meta-snap-check "
     "op reads one (thin_pool_open_metadata_snap), on a formatted pool "
     "whose superblock and held copy are never zero; thin_pool_open "
     "looks for zeroes itself (superblock_all_zeroes)"),
    # errors passed up in core/thin.c (issue 10), read from the code
    ("core/thin.c", r"^thin_walk_mappings$", r"^if \(r\)$",
     "may_read: a failed pool; every caller (the harness's digest and "
     "diff, oracle.c; the client walk, client_core.c; the damage step's "
     "snapshot read) calls it only after thin_list_devs_alloc succeeded "
     "on the same pool, whose own may_read refuses a failed pool first, "
     "and nothing between fails the pool (a failed read does not)",
     r"^$"),
    ("core/thin.c", r"^thin_pool_open_metadata_snap$", r"^if \(p->damage\)$",
     "a failure after the held copy was read (sm_core_create or tm_create "
     "-ENOMEM, or a failed read of the copy) by a caller that passes no "
     "damage record: every open of a held copy in the crash suite passes "
     "one (the meta-snap-check op's view, workload.c read_snap_view, which "
     "--alloc-faults fails there and which must then find the record "
     "empty, errors.h DR2; the damage step's snapshot read, damage.c), "
     "and so does pdtool dump: no caller in harness/ opens one without"),
    # the allocator check at a metadata -ENOSPC (workload.c
    # allocator_refused), read from the code
    ("core/sm_metadata.c", r"^sm_metadata_count_allocatable$",
     r"old_ll\.nr_blocks|^if \(r\)$",
     "the count runs only at a metadata -ENOSPC the workload accepts, "
     "never for resize-meta (the one change of size, committed at once), "
     "so the committed size is the size now; and its reads meet bitmaps "
     "the allocator read just before, still in the block manager's cache, "
     "so no fault of the sweeps lands on them (a cache=none copy of "
     "reach/meta-wrap-last would reach them, but its 10000 inserts "
     "without a cache took more than ten minutes of crash states); "
     "tests/unit/test_sm.c sm_metadata_allocatable_count_follows_new_block "
     "counts a device without faults"),
    ("core/thin.c", r"^thin_get_allocatable_metadata_blocks$",
     r"read_only",
     "caller misuse (-EPERM): the workload asks only its own writable "
     "pool; a read-only pool is refused, as a held copy's view has no "
     "metadata space map to count; tests/unit/test_thin.c "
     "thin_allocatable_metadata_count"),
)


def explained(name, fn, text, prev=""):
    import re
    for fpat, fnpat, tpat, why, *prevpat in EXPLAINED:
        if not re.fullmatch(fpat, name):
            continue
        if fnpat and not re.search(fnpat, fn or ""):
            continue
        if tpat and not re.search(tpat, text):
            continue
        if prevpat and not re.search(prevpat[0], prev):
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
           "--unreached-md) from make crashtest's core steps together (the",
           "plain, --io-errors, --alloc-faults and --media-faults runs, all",
           "with torn writes, and the --damage run).  Reasons come",
           "first from EXPLAINED in that script (read from the code: who",
           "calls the function, why a branch is dead),",
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
            prev = src[no - 2].strip() if 2 <= no <= len(src) + 1 else ""
            why = explained(name, fn, text, prev)
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
