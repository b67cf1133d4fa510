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
             "fields into a buffer of the right size), which neither sweep "
             "fails; `pdcrash run --fiu sm/copy_root:N` and "
             "tests/unit/test_faults.c take it")


# Real reasons, read from the code (checked when this table was written):
# (file, function regex or None, line-text regex or None, reason[, regex
# of the line before]).  The first match wins, before the
# function-never-called rule and REASONS.
EXPLAINED = (
    ("core/bt.c", r"^bt_find_lowest_key$", None,
     "no thin path asks for the lowest key (the kernel has no lowest mapped "
     "block either; find-range's first run starts at bt_lookup_next): "
     "core/array.c and tests/unit/test_bt.c call it"),
    ("core/bt_walk.c", r"^(cursor_\w+|bt_cursor_\w+)$", None,
     "the leaf cursor under core/array.c: the cache scenarios walk it "
     "(cache_walk_mappings, cache_walk_discards, the CA6 shrink check) "
     "across array blocks, but every array index tree they make is one "
     "leaf; stepping from leaf to leaf needs more than 252 array blocks "
     "(a cache of 128269+ blocks), and a scenario that grew one in its "
     "last transaction cost about 30 s of CPU in the --io-errors step "
     "(each read of the walk after its commit is a fault run that "
     "recovers the big cache), so it is not in the suite; the loaders "
     "never move past the last entry (as the kernel's __load_mappings); "
     "the rest is damage or a failed allocation; tests/unit/test_bt.c "
     "and test_array.c drive every branch"),
    ("core/bt_walk.c", r"^trav_node$", r"if \(!t->bufs\[depth\]\)$",
     "allocation failure (-ENOMEM) of a node buffer (the test after "
     "pd_malloc) in the walker that only the harness's digest of the pool "
     "(bt_walk) and recovery's checks (bt_check) run: the --alloc-faults "
     "run fails the pool's own calls only; the core/alloc libfiu point "
     "reaches it in tests/unit/test_faults_oom.c"),
    ("core/bt_walk.c", None, r"t->node_fn|r > 0\)",
     "bt_check's node callback: recovery's checks (core/thin.c "
     "thin_check_trees, core/cache.c cache_check_trees) pass none; "
     "tests/unit/test_sm.c does"),
    ("core/bt_walk.c", None, r"leaf_depth >= 0 &&|depth >= \(unsigned\)",
     "an internal node after a leaf of the same tree: a tree of three "
     "levels (253 full leaves in one tree, see bt.c has_space_for_insert), "
     "too big for a suite that must stay fast; tests/unit/test_bt.c"),
    ("core/bt_walk.c", None, r"t->check|leaf_depth|rg->|bt_node_max\(n\) / 3",
     "damage found by bt_check (key outside its parent's range, BT2, "
     "leaves at two depths): recovery runs it on every tree of every "
     "crash state (beside core/check.c), and every state the model allows "
     "is whole committed trees; " + DAMAGE_TESTS + ", and "
     "tests/unit/test_tree_check.c"),
    ("core/bt_spine.c", r"^bt_node_upper_bound$", None,
     "no caller in core/: kept for tests/unit/test_bt.c"),
    ("core/sm_common.c", r"^sm_ll_insert$", None,
     "set_count's back end: no thin_* op sets a count directly (restore "
     "builds counts through inc); tests/unit/test_sm.c calls it"),
    ("core/sm_(disk|metadata).c", r"^(smd|smm|boot)_set_count$", None,
     "set_count: no thin_* op calls it; tests/unit/test_sm.c does"),
    ("core/sm_disk.c", r"^smd_get_nr_free$", r"old->nr_allocated >",
     "a damaged data space-map root (more allocated than it has blocks): "
     "crash states never hold one; tests/unit/test_sm.c"),
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
    ("core/thin.c", r"^(thin_get_\w+|read_dev)$",
     r"^\s*if \(!?r\)|r \? r :",
     "a read of a failed pool (may_read: -EIO) that the failed-pool probe "
     "(workload.c probe_failed_pool: every client read and write, once "
     "per recovery of a failed pool) does not make: the client ops have "
     "no such read, or no fault of the sweeps fails the pool before it"),
    ("core/sm_disk.c", r"^smd_count_is_more_than_one$", None,
     "asked by tm.c of the metadata space map only (tm_block_is_shared, "
     "shadowing); the data space map never: tests/unit/test_sm.c"),
    ("core/thin.c", r"^(thin_insert_raw|thin_set_dev_info|thin_set_time)$",
     None, "restore API: pdtool restore (harness/pdtool/restore.c, "
     "tests/test_pdtool.py) and tests/unit/test_thin.c"),
    ("core/thin.c", r"^thin_pool_close$", None,
     "the close op closes only a healthy read-write pool: a failed pool is "
     "aborted first (client.h CL4) and the read-only pools of the check "
     "and meta-snap-check ops are destroyed; pdtool and "
     "tests/unit/test_thin.c close those"),
    ("core/thin.c", r"^(commit_superblock_early|commit_copy_roots_locked|"
     r"writeback_order_check|nonzero)$",
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
    # Errors passed up from callees that cannot fail there (issue 10,
    # read from the code; the faults of the suite are no help).
    ("core/bt.c", r"^(split_one_into_two|split_two_into_three|bt_insert)$",
     r"^if \(r\)( \{)?$", "dead by construction: bt_node_insert_at fails "
     "only on a full node or an index past its end (-EILSEQ), and "
     "insert_raw leaves every node of the spine with room (it splits or "
     "rebalances a full one before stepping below it; a full leaf passes "
     "only for an overwrite, which inserts nothing), while the index comes "
     "from bt_node_lower_bound", r"bt_node_insert_at\("),
    ("core/sm_common.c", r"^(sm_ll_new_metadata|sm_ll_new_disk|ll_open)$",
     r"^if \(r\)$", "dead: ll_init fails only on a block size other than "
     "PD_BLOCK_SIZE (-EINVAL), which bm_create refuses first (see ll_init)",
     r"^$|ll_init\("),
    ("core/sm_common.c", r"^dec_in_bitmap$", r"^if \(r\)$",
     "dead by construction: dec_of_zero is the count-0 arm, which "
     "check_no_zero rules out first (SM4, see the switch above)",
     r"dec_of_zero\(\)"),
    ("core/sm_disk.c", r"^sm_disk_open$", r"^if \(r\)$",
     "dead: smd_commit right after the open commits nothing "
     "(sm_ll_open_disk leaves bitmap_index_changed 0, so sm_ll_commit "
     "returns 0 at once)", r"smd_commit\("),
    ("core/sm_metadata.c", r"^(smm_extend|smm_create)$", r"^if \(r\)$",
     "dead: add_bop fails only on a full queue (1024 ops, see add_bop), "
     "and the queue is empty here: smm_create has just reset it, and "
     "smm_extend runs outside any space-map call (it refuses while "
     "recursing), after the last one drained it",
     r"add_bop\(smm, BOP_INC"),
    ("core/tm.c", r"^(tm_new_block|copy_block)$", r"^if \(r\) \{$",
     "shadow_insert fails only when its table grows (pd_malloc), which "
     "needs one transaction to shadow or allocate more than 128 blocks: "
     "no scenario of the suite does (see shadow_insert's growth, below); "
     "tests/unit/test_tm.c", r"shadow_insert\("),
    ("core/thin.c", r"^open_objects$", r"^if \(r\)$",
     "dead: begin_transaction locks the superblock open_objects has just "
     "read, validated and unlocked, with nothing between: a cache hit that "
     "neither reads nor allocates (it can fail in "
     "thin_pool_open_metadata_snap, which reads the held copy)",
     r"begin_transaction\("),
    ("core/thin.c", r"^resize_space_map$", r"^if \(r\)$",
     "dead: sm_get_nr_blocks never fails (both on-disk space maps answer "
     "from memory: smd_get_nr_blocks, smm_get_nr_blocks)",
     r"sm_get_nr_blocks\("),
    ("core/thin.c", r"^save_sm_roots$", r"^if \(r\)$", COPY_ROOT, r"^$"),
    ("core/thin.c", r"^(format_objects|commit_transaction)$",
     r"^if \(r\)$", COPY_ROOT, r"save_sm_roots\("),
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
     "a failed pool meets calls only in the failed-pool probe (workload.c "
     "probe_failed_pool), a read-only one only meta-snap-check's create "
     "on its view; tests/unit/test_thin.c"),
    ("core/thin.c", None, r"pool->pre_commit",
     "no pre-commit callback: the harness has no data device to flush yet "
     "(DESIGN.md 10, in progress on another branch)"),
    ("core/thin.c", None, r"p->flags & THIN_OPEN_READ_ONLY",
     "caller misuse (-EINVAL): a read-only format; the client's format "
     "takes no flags (client.h client_params), so the format op "
     "(scenario.h) asks only for bad sizes; tests/unit/test_thin.c"),
    ("core/thin.c", None, r"p->data_block_size|"
     r"p->nr_data_blocks >|dev > THIN_MAX_DEV_ID|nr_blocks > \(1ull << 40\)|"
     r"data_block >= nr_data|begin > end",
     "caller misuse (-EINVAL) that the misuse ops (scenario.h: create, "
     "snap, unmap A..B, resize-data, map at=, format, open with "
     "expect=EINVAL) do not make; tests/unit/test_thin.c"),
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
    ("core/(bt|bt_remove).c", r"^(insert_raw|remove_raw)$",
     r"bt_spine_parent\(s\) && i >= 0",
     "dead by construction: *index is -1 only on the first step of level "
     "0, when the spine holds no node yet (no parent); every later step "
     "has i >= 0 (the next level starts from the slot its key has in the "
     "leaf above; insert_raw lowers key 0 and clamps a negative "
     "lower_bound to 0, remove_raw answers -ENODATA for one)"),
    ("core/bt.c", r"^bt_insert$", r"need_insert\(n, keys\[level\]",
     "dead for thin, the only two-level tree (pool->info): insert_mapping "
     "asks get_dev first, and a device in the in-core list or the details "
     "tree always has its top-level entry (create_thin and create_snap "
     "insert it before the details, thin_delete removes it last, and an "
     "error in between poisons the pool), so the upper level holds the key"),
    # find_edge serves bt_lookup_next (thin's range removal: the lowest
    # key right of a hole between leaves, scenarios/reach/leaf-edges) and
    # find_key (bt_find_lowest/highest_key, on no thin path: see above).
    ("core/bt.c", r"^find_edge$", r"highest \? nr - 1 : 0|^if \(value\)$",
     "only find_key asks for the highest key, or for no value; "
     "bt_lookup_next asks for the lowest key and its value"),
    ("core/bt.c", r"^find_edge$", r"child && !bt_block_in_range",
     "child is 0 only for the root find_key starts from (no thin path); a "
     "child out of range is corrupt metadata (CK2), which crash states "
     "never hold; " + DAMAGE_TESTS),
    ("core/bt.c", r"^find_edge$", r"^if \(!nr\) \{$|is_root && depth == 1",
     "an empty node: bt_lookup_next starts from a child subtree, and a "
     "non-root node holds at least max/3 entries (CK3, in every state); "
     "an empty root (-ENODATA) is find_key's case"),
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
    ("core/bt.c", r"^del_run$", r"f->level \+ 1 == info->levels && vt->dec",
     "dead by construction: the last arm meets a leaf with cur == 0 and "
     "nr > 0 only at the bottom level; a leaf of an upper level with "
     "entries takes the middle arm first (each entry's subtree pushed, "
     "cur advanced to nr)"),
    ("core/bt_spine.c", r"^bt_node_insert_at$", r"nr >= bt_node_max\(n\)",
     "defensive: every caller made room first (insert_raw splits or "
     "rebalances a full node on the way down, so the leaf, and the parent "
     "that takes a new sibling, have a free slot) and passes a slot from "
     "lower_bound, at most nr"),
    ("core/bt_spine.c", r"^bt_node_delete_at$", r"i >= nr",
     "defensive: the callers pass a live slot (drop_child a child's index "
     "in its parent, remove_present the slot do_leaf found the key in)"),
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
    ("core/bt_remove.c", r"^rebalance3$", r"total < 2 \* \(max / 3 \+ 1\)|"
     r"^if \(!r\)$",
     "dead by construction (BT2): the three siblings are non-root nodes of "
     "at least max/3 entries each (the structural checker's CK3, an error "
     "under CHECK_STRICT, holds it in every state), so total >= 3 * "
     "(max/3) >= 2 * (max/3 + 1) for every node size (max/3 >= 42): the "
     "merge arm never runs, nor does the first drop_child whose error the "
     "second would pass on"),
    ("core/sm_common.c", r"^load_ie$", r"index >= sm_nr_bitmaps",
     "defensive: every caller derives the index from a block below "
     "nr_blocks (sm_ll_lookup_bitmap and sm_ll_insert check it, "
     "for_each_bitmap and check_no_zero run after check_range, "
     "sm_ll_find_free_block clamps its end); sm_ll_load_ie has no caller "
     "in core/"),
    ("core/sm_common.c", r"^ll_init$", r"bm_block_size\(tm_bm\(tm\)\)",
     "caller misuse: bm_create refuses a device whose block size is not "
     "PD_BLOCK_SIZE, so every tm's block manager has it"),
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
    ("core/sm_common.c", r"^dec_in_bitmap$", r"^switch \(sm_bitmap_get",
     "dead by construction: sm_ll_dec runs check_no_zero over the range "
     "first and refuses any count of 0 (SM4), and nothing changes those "
     "counts in between (the metadata map queues its recursive ops until "
     "the outermost call ends); only the planted bug dec-below-zero "
     "(core/mutant.h) takes it, under `make mutants`"),
    ("core/sm_common.c", r"^check_no_zero$",
     r"i < n && !r|!sm_bitmap_get\(bitmap_cpayload",
     "defensive (SM4): no caller decrements a free block: every dec drops "
     "a reference a tree or the tm holds (the structural checker's CK6-CK7 "
     "hold the counts to the references in every state), and the metadata "
     "map checks queued decs as it queues them (MS3); tests/unit/"
     "test_sm.c decrements free blocks"),
    ("core/sm_metadata.c", r"^q_next$", r"PD_ARRAY_SIZE",
     "the ring wraps after 1025 queued ops in one pool lifetime (it is "
     "reset only by create and open); a transaction that changes the "
     "metadata queues about two (its bitmap's shadow: the new block's inc "
     "and the old one's dec), so it needs some 510 metadata commits "
     "without an abort or reopen: a 2000-op scenario with 1000 commits "
     "queued 1013 and ran over 10 minutes under --tear --io-errors; "
     "tests/unit/test_sm.c sm_metadata_queue_accounting wraps it"),
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
    ("core/sm_metadata.c", r"^out$", r"!smm->recursion_count|"
     r"smm->recursion_count == 1",
     "dead in the crash suite: in() is called only at depth 0 (inc, dec, "
     "new_block and set_count queue instead when recursing; apply_queue "
     "runs from create and from extend, which refuses to recurse), and "
     "each in() is paired with one out(), so out() always finds depth 1; "
     "only the unit-test hooks sm_metadata_enter/leave nest "
     "(tests/unit/test_sm.c)"),
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
    ("core/sm_metadata.c", r"^smm_create$", r"SM_METADATA_MAX_BLOCKS",
     "the scenario grammar caps `pool meta=` at SM_METADATA_MAX_BLOCKS "
     "(4161600), so the clamp never applies; tests/unit/test_sm.c "
     "sm_metadata_clamped_to_255_bitmaps"),
    ("core/thin.c", r"^check_features$", r"^if \(!read_only &&$",
     "a superblock with compat_ro feature bits this code does not know: "
     "core and the kernel write none, so no state of the suite holds one"),
    ("core/thin.c", r"^thin_pool_open_metadata_snap$", r"^if \(!r\)$",
     "sm_core_create fails only with -ENOMEM; tests/unit/test_faults_oom.c"),
    ("core/thin.c", r"^thin_pool_open$", r"THIN_OPEN_FORMAT",
     "the harness formats with thin_pool_format and opens without "
     "THIN_OPEN_FORMAT (client_core.c, workload.c), so an "
     "all-zero superblock is only ever answered -ENODATA"),
    ("core/thin.c", r"^poison$", r"^if \(pool->tm\)$",
     "every pool a thin_* call meets has a tm: the opens build it or fail, "
     "and a failed abort (which drops it) leaves the pool failed, refused "
     "by may_read/may_write before anything poisons it"),
    ("core/thin.c", r"^cmp_u64$", None,
     "the ids come from an in-order walk of the top-level tree, already "
     "ascending, and glibc's qsort (a merge sort) only compares an element "
     "of a left run with one of the right run after it, so x < y always"),
    ("core/thin.c", r"^thin_remove_range$", r"begin < end|if \(nr_removed\)",
     "the harness always passes a non-empty range and a count: `unmap DEV "
     "A..B` runs [A, B+1), the parser refuses B = 2^64-1 and A = B + 1 "
     "and takes A > B + 1 only with expect=EINVAL (refused before this), "
     "the random generator draws B >= A, and workload.c passes &n"),
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
           "--unreached-md) from the plain run, the --io-errors run, the",
           "--alloc-faults run and the --damage run together.  Reasons come",
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
