"""pdcrash run --damage (harness/engine/damage.h): every metadata block of
the committed images damaged, checksum recomputed, and recovered.  A run
on a small scenario detects damage and finds no violation; ids replay to
the same outcome and save the damaged image; the dm-cache scenarios are
damaged and recovered too (issue 15); a crash or a hang in a
recovery is a violation of that image and the run goes on; the planted
bug lookup-no-depth-limit is caught (a hang) and its id replays."""
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))
PDCRASH = os.path.join(BUILD, "pdcrash")
PDTOOL = os.path.join(BUILD, "pdtool")

# Two devices, an internal node in device 0's mapping tree (300 mappings),
# a snapshot, a held metadata snapshot: every kind of block there is.
SCN = """pool data=2000 meta=256
create 0
map 0 0..299
commit
snap 1 0
map 1 400..420
meta-snap
commit
unmap 0 10..40
commit
"""


def run(args, exe=PDCRASH, env=None, timeout=600):
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def scenario(tmp_path):
    p = tmp_path / "dmg.scn"
    p.write_text(SCN)
    return str(p)


def env_with(**kw):
    """The environment with kw set.  A sanitizer build would catch the
    crash hook's SIGSEGV itself and exit 1; handle_segv=0 leaves the
    signal to the harness, whose report the tests check."""
    e = dict(os.environ)
    asan = e.get("ASAN_OPTIONS", "")
    e["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "handle_segv=0"
    e.update({k: str(v) for k, v in kw.items()})
    return e


def logged(stderr):
    """{id: (outcome, message)} from PDCRASH_DAMAGE_LOG lines."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"^(\S+:d\d+\.\d+\.[a-z0-9-]+:e0) (\w+): (.*)$", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def caught_by_damage(path, mutant, kind, says, mutants_exe):
    """The planted bug mutant makes `run --damage path` fail, first at an
    image damaged by kind whose replay with the bug is a violation of the
    exercise saying says (a regex); the correct core detects it."""
    r = run(["run", "--damage", path, "--mutant", mutant, "--fail-fast"],
            exe=mutants_exe)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    m = re.search(r"^first violation: (\S+)$", r.stdout, re.M)
    assert m and m.group(1).endswith("." + kind + ":e0"), r.stdout
    rp = run(["replay", m.group(1), "--mutant", mutant], exe=mutants_exe)
    assert rp.returncode == 1, rp.stdout + rp.stderr
    assert re.search(r"^outcome: violation: exercise: " + says, rp.stdout,
                     re.M), rp.stdout
    rp = run(["replay", m.group(1)])
    assert rp.returncode == 0 and "outcome: detected" in rp.stdout


def test_damage_run_detects_and_finds_no_violation(tmp_path):
    path = scenario(tmp_path)
    r = run(["run", "--damage", path, "--json", "--jobs", "2",
             "--report", str(tmp_path / "rep")])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["mode"] == "damage"
    o = j["outcomes"]
    assert o["detected"] > 0 and o["violation"] == 0, j
    assert j["states"] == j["images"] == o["detected"] + o["harmless"]
    assert j["violations"] == []
    # every block of the image was damaged: superblock, held copy, nodes,
    # index, bitmaps; each fitting kind at least once
    assert j["commits_damaged"] >= 2 and j["blocks"] >= 10, j
    kinds = j["per_kind"]
    for k in ("child-self", "child-end", "nr-over-max", "sb-map-end",
              "ie-bitmap-end", "bm-used-to-free", "csum-bad"):
        assert kinds[k]["detected"] > 0, (k, kinds[k])
    # what nothing reads is harmless
    assert kinds["padding"]["harmless"] > 0
    # most detected images name the damaged block (issue 16)
    assert j["named"] > 0.8 * o["detected"], j
    sc = j["per_scenario"][0]
    assert sc["images"] == j["images"] and sc["violations"] == 0
    rep = json.load(open(tmp_path / "rep" / "summary.json"))
    assert rep["images"] == j["images"]
    md = open(tmp_path / "rep" / "summary.md").read()
    assert "## By damage kind" in md and "child-self" in md


def test_damage_refuses_other_modes():
    for opt in (["--io-errors"], ["--media-faults"], ["--sample"],
                ["--backend", "kernel-6.1"], ["--shard", "0/2"]):
        r = run(["run", "--damage", "provision"] + opt)
        assert r.returncode == 2, (opt, r.stdout, r.stderr)


CACHE_SCENARIOS = sorted(
    os.path.join("scenarios", "cache", f)
    for f in os.listdir(os.path.join(ROOT, "scenarios", "cache"))
    if f.endswith(".scn"))


def test_damage_covers_the_cache_scenarios(tmp_path):
    """Issue 15: every cache scenario damaged (superblock, the arrays'
    index trees and array blocks, the metadata space map), no
    violation, most images detected by a message naming the block."""
    assert len(CACHE_SCENARIOS) >= 8
    r = run(["run", "--damage"] + CACHE_SCENARIOS +
            ["--json", "--jobs", "2", "--report", str(tmp_path / "rep")])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    o = j["outcomes"]
    assert o["violation"] == 0 and j["violations"] == [], j["violations"]
    assert o["detected"] > 1000 and o["harmless"] > 0, o
    assert j["named"] > o["detected"] // 2, j
    for s in j["per_scenario"]:
        assert s["images"] > 0 and s["detected"] > 0, s
    kinds = j["per_kind"]
    for k in ("csb-magic", "csb-map-end", "csb-cblocks-inc",
              "csb-msm-index-end", "ab-nr-over", "ab-vsize-other",
              "ab-blocknr-other", "ab-map-dup", "ab-map-flags",
              "ab-map-dirty2", "child-self", "csum-bad", "ie-free-zero",
              "bm-used-to-free"):
        assert kinds[k]["detected"] > 0 and kinds[k]["violation"] == 0, (
            k, kinds[k])
    # what nothing reads stays harmless
    for k in ("ab-slack", "padding"):
        assert kinds[k]["harmless"] > 0 and kinds[k]["detected"] == 0, (
            k, kinds[k])
    md = open(tmp_path / "rep" / "summary.md").read()
    assert "ab-map-dup" in md and "skipped" not in md


def test_cache_damage_id_replays_and_names_the_array_block(tmp_path):
    name = "cache/basic"
    r = run(["run", "--damage", name, "--jobs", "2"],
            env=env_with(PDCRASH_DAMAGE_LOG=1))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    log = logged(r.stderr)
    assert log and all(oc != "violation" for oc, _ in log.values())
    i = next(i for i in sorted(log) if i.endswith(".ab-nr-over:e0") and
             "mapping array" in log[i][1])
    block = int(i.split(":")[2].split(".")[1])
    assert log[i][0] == "detected"
    assert "array block %d:" % block in log[i][1], log[i]
    img = str(tmp_path / "damaged.img")
    rp = run(["replay", i, "--save-image", img])
    assert rp.returncode == 0, rp.stdout + rp.stderr
    assert "an array block of the mapping array" in rp.stdout, rp.stdout
    m = re.search(r"^outcome: (\w+): (.*)$", rp.stdout, re.M)
    assert m and (m.group(1), m.group(2)) == log[i], rp.stdout
    c = subprocess.run([PDTOOL, "cache-check", img], capture_output=True,
                       text=True)
    assert c.returncode == 1, c.stdout + c.stderr
    assert "array block %d:" % block in c.stdout + c.stderr
    # the cache superblock's kinds replay too (block 0)
    i = next(i for i in sorted(log) if i.endswith(".0.csb-magic:e0"))
    rp = run(["replay", i])
    assert rp.returncode == 0 and "the cache superblock" in rp.stdout
    assert "outcome: detected" in rp.stdout, rp.stdout
    # a thin kind that does not fit a cache block is not an id of the run
    bad = i.replace("csb-magic", "sb-map-end")
    rp = run(["replay", bad])
    assert rp.returncode == 2 and "not an id of this scenario" in rp.stderr


def test_cache_short_hint_array_is_detected_by_the_checkers_warning():
    """A hint array one entry short (nr_entries - 1 in its last block) is
    what the kernel's resize leaves behind: the checker warns, and the
    core reads no hints, so the state differs from the committed one.
    That is detected (the warning), not a silent violation."""
    r = run(["run", "--damage", "cache/resize", "--jobs", "2"],
            env=env_with(PDCRASH_DAMAGE_LOG=1, PDCRASH_DAMAGE_EVERY=1))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    log = logged(r.stderr)
    warned = [i for i, (oc, msg) in sorted(log.items())
              if msg.startswith("the checker warns: ")]
    assert warned, "no image detected by a warning"
    i = warned[0]
    assert i.endswith(".ab-nr-dec:e0") and log[i][0] == "detected", log[i]
    assert "hint array" in log[i][1], log[i]
    rp = run(["replay", i])
    assert rp.returncode == 0, rp.stdout + rp.stderr
    assert "outcome: detected: the checker warns: " in rp.stdout, rp.stdout


def test_damage_ids_replay_to_the_same_outcome(tmp_path):
    path = scenario(tmp_path)
    r = run(["run", "--damage", path, "--jobs", "2"],
            env=env_with(PDCRASH_DAMAGE_LOG=1))
    assert r.returncode == 0, r.stdout[-2000:]
    log = logged(r.stderr)
    assert len(log) > 100
    picks = {}
    for i, (oc, msg) in sorted(log.items()):
        kind = i.split(":")[2].split(".", 2)[2]
        key = (oc, kind.split("-")[0])
        picks.setdefault(key, i)
    assert any(k[0] == "harmless" for k in picks), picks
    for (oc, _), i in sorted(picks.items())[:12]:
        rp = run(["replay", i])
        assert rp.returncode == 0, (i, rp.stdout, rp.stderr)
        m = re.search(r"^outcome: (\w+): (.*)$", rp.stdout, re.M)
        assert m, rp.stdout
        assert (m.group(1), m.group(2)) == log[i], (i, rp.stdout)
    # --save-image writes the damaged image; pdtool check names the block
    i = next(i for i, (oc, msg) in sorted(log.items())
             if oc == "detected" and ".child-end:" in i)
    block = int(i.split(":")[2].split(".")[1])
    img = str(tmp_path / "damaged.img")
    rp = run(["replay", i, "--save-image", img])
    assert rp.returncode == 0 and os.path.getsize(img) > 0
    c = subprocess.run([PDTOOL, "check", img], capture_output=True, text=True)
    assert c.returncode == 1, c.stdout + c.stderr
    assert "of block %d (" % block in c.stdout + c.stderr


def kinds_detected(name, kinds):
    """`run --damage` on scenarios/reach/NAME.scn: no violation, each of
    kinds detected on some image and never harmless; the damage log
    ({id: (outcome, message)})."""
    scn = os.path.join("scenarios", "reach", name + ".scn")
    r = run(["run", "--damage", scn, "--json"],
            env=env_with(PDCRASH_DAMAGE_LOG=1))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    assert j["outcomes"]["violation"] == 0, j["violation_messages"]
    for k in kinds:
        n = j["per_kind"][k]
        assert n["detected"] > 0, (k, n)
        assert n["harmless"] == n["violation"] == 0, (k, n)
    return logged(r.stderr)


def test_damage_kinds_below_the_root_and_in_the_superblock(tmp_path):
    """The kinds that reach the core's guards on damage below a tree's
    root and in the superblock's counts and features
    (scenarios/reach/damage-two-depths.scn says which): each detected, no
    violation (no crash, hang or wrong answer of the exercise, which runs
    the cursor past the walk's highest block, a remove_range past it, the
    remove of block 0 the lookup found, the status line's free data
    count), and an unknown compat_ro flag refused by the read-write open
    while a read-only reader (pdtool dump) reads the pool."""
    log = kinds_detected("damage-two-depths", ("child0-fit", "child0-next", "key0-raised", "sb-compat-ro",
              "sb-data-alloc-over"))
    i = next(i for i in sorted(log) if i.endswith(".child0-fit:e0"))
    assert "leaves at different depths" in log[i][1], log[i]
    # the last commit's, where both devices are
    i = max((i for i in log if i.endswith(".sb-compat-ro:e0")),
            key=lambda i: int(i.split(":")[2][1:].split(".")[0]))
    assert log[i] == ("detected", "open refused the image: invalid "
                      "argument"), log[i]
    img = str(tmp_path / "compat-ro.img")
    rp = run(["replay", i, "--save-image", img])
    assert rp.returncode == 0 and "outcome: detected" in rp.stdout, rp.stdout
    d = subprocess.run([PDTOOL, "dump", img], capture_output=True, text=True)
    assert d.returncode == 0, d.stdout + d.stderr
    assert re.search(r'dev_id="0" mapped_blocks="300"', d.stdout), d.stdout
    assert re.search(r'dev_id="1" mapped_blocks="253"', d.stdout), d.stdout


def test_damage_merge_three_and_data_count_past_40_bits():
    """scenarios/reach/damage-merge-three.scn: nr-zero empties the third
    leaf beside two of 84 and 85 entries (the damage probe's remove of the
    middle mapping merges the three: core/bt_remove.c rebalance3, checked
    in tests/unit/test_damage.c), and sb-data-nr-bit40 gives the pool more
    data blocks than a mapping's 40 bits name (the damage probe's insert of
    the last one must be refused).  Each detected by the checker, naming
    what, and no violation: no crash, hang, or insert past 40 bits
    accepted."""
    log = kinds_detected("damage-merge-three", ("nr-zero", "sb-data-nr-bit40"))
    bit40 = [v for i, v in log.items() if i.endswith(".sb-data-nr-bit40:e0")]
    assert bit40 and all(re.search(r"data space map: no index entry for "
                                   r"blocks \d+\.\.1099511\d+", m)
                         for _, m in bit40), bit40
    # the third leaf emptied: the walk meets the first two's 84 + 85
    assert any(i.endswith(".nr-zero:e0") and "device 0 has 169 mappings" in m
               for i, (_, m) in log.items()), log


def test_insert_past_40_bits_caught_by_damage(mutants_exe):
    """insert-past-40-bits maps a data block past the 40 bits a mapping
    holds when the pool's count allows it, which only sb-data-nr-bit40
    makes: the damage probe's insert of the last data block succeeds, a
    violation although the checker saw the damage (the mapping would name
    another block); the correct core refuses it and the image is
    detected."""
    scn = os.path.join("scenarios", "reach", "damage-merge-three.scn")
    mutant = "insert-past-40-bits"
    r = run(["run", scn, "--mutant", mutant, "--json"], exe=mutants_exe)
    assert r.returncode == 0, r.stdout[-2000:]
    caught_by_damage(scn, mutant, "sb-data-nr-bit40",
                     r"the insert of device \d+ block \d+ -> data block "
                     r"1099511\d+, the last of the pool's \d+ but past the "
                     r"40 bits a mapping holds, succeeded", mutants_exe)


def test_damage_bad_ids_are_usage_errors(tmp_path):
    path = scenario(tmp_path)
    for bad in ("%s:s1:d1.5.no-such-kind:e0" % path,
                "%s:s1:d1.x.child-self:e0" % path,
                "%s:s1:d1.5.child-self:e3" % path):
        r = run(["replay", bad])
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
    # well formed, but not of this run: no such commit, no such block
    for wrong in ("%s:s1:d99.5.child-self:e0" % path,
                  "%s:s1:d1.200.child-self:e0" % path):
        r = run(["replay", wrong])
        assert r.returncode == 2, (wrong, r.stdout, r.stderr)
        assert "not an id of this scenario" in r.stderr


def test_damage_crash_and_hang_are_violations_and_the_run_goes_on(tmp_path):
    path = scenario(tmp_path)
    base = json.loads(run(["run", "--damage", path, "--json"]).stdout)
    r = run(["run", "--damage", path, "--json", "--jobs", "2"],
            env=env_with(PDCRASH_SELFTEST_CRASH=5, PDCRASH_SELFTEST_HANG=40,
                         PDCRASH_DAMAGE_TIMEOUT=1))
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    j = json.loads(r.stdout)
    msgs = j["violation_messages"]
    assert j["outcomes"]["violation"] == 2, msgs
    assert any("crashed: signal 11" in m for m in msgs.values()), msgs
    assert any("hang" in m for m in msgs.values()), msgs
    # every other image was recovered as before
    assert j["images"] == base["images"]
    assert (j["outcomes"]["detected"] + j["outcomes"]["harmless"] ==
            base["images"] - 2)


def test_lookup_no_depth_limit_caught_by_damage(tmp_path, mutants_exe):
    path = scenario(tmp_path)
    mutant = "lookup-no-depth-limit"
    env = env_with(PDCRASH_DAMAGE_TIMEOUT=2)
    # without damage the planted bug does not show
    r = run(["run", path, "--mutant", mutant, "--json"], exe=mutants_exe)
    assert r.returncode == 0, r.stdout[-2000:]
    r = run(["run", "--damage", path, "--mutant", mutant, "--fail-fast"],
            exe=mutants_exe, env=env)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    m = re.search(r"^first violation: (\S+)$", r.stdout, re.M)
    assert m and re.search(r"\.child0?-self:e0$", m.group(1)), r.stdout
    assert "hang" in r.stdout
    rp = run(["replay", m.group(1), "--mutant", mutant], exe=mutants_exe,
             env=env)
    assert rp.returncode == 1, rp.stdout + rp.stderr
    assert "outcome: violation: hang" in rp.stdout
    # the correct core refuses the cycle (-EILSEQ) and the checker names it
    rp = run(["replay", m.group(1)])
    assert rp.returncode == 0 and "outcome: detected" in rp.stdout


def test_dec_below_zero_caught_by_damage(tmp_path, mutants_exe):
    """bm-used-to-free sets the count of a data block mapped once to 0;
    the exercise removes that mapping, which the core must refuse (core/
    sm.h SM4).  dec-below-zero takes it silently: a violation, although
    the checker saw the damage too; the correct core refuses it and the
    image is detected.  (Not SCN: with a metadata snapshot held the probe
    stands aside, a shadowed leaf may inc the block first.)"""
    p = tmp_path / "zeroed.scn"
    p.write_text("pool data=2000 meta=256\ncreate 0\nmap 0 0..299\n"
                 "commit\n")
    path = str(p)
    caught_by_damage(path, "dec-below-zero", "bm-used-to-free",
                     r"the remove of device \d+ block \d+, mapped once to "
                     r"data block \d+ whose count the damage set to 0, "
                     r"succeeded", mutants_exe)
