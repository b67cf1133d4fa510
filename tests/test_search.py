"""`pdcrash search` (harness/pdcrash/search.c) and the line-level
minimizer (harness/pdcrash/minimize.c).

The search needs build/search/pdcrash (`make search`: core/ with
SanitizerCoverage counters, clang-14); the fixture builds it once per
session.  Every search here is bounded by --runs and has a fixed --seed,
printed in the command line of each assertion message.
"""
import os
import re
import resource
import shutil
import signal
import subprocess

import pytest

from conftest import ROOT


@pytest.fixture(scope="session")
def search_exe(build_dir):
    if not shutil.which("clang-14"):
        pytest.skip("clang-14 not installed: make search cannot build")
    r = subprocess.run(["make", "-C", ROOT, "B=" + build_dir, "search"],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        pytest.fail("make search failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
    return os.path.join(build_dir, "search", "pdcrash")


@pytest.fixture
def pdcrash(build_dir):
    exe = os.path.join(build_dir, "pdcrash")
    return lambda args: run(exe, args)


def run(exe, args, cwd=None, timeout=300):
    """Run exe; a hang fails the test.  timeout is CPU seconds for each
    process (RLIMIT_CPU, which search's workers inherit: a loop is killed
    by SIGXCPU), so a run that is only slow, on a loaded machine or in a
    `make SAN=1 check` build, is not failed for it (seen: --seed 5 --runs
    40 took 43 s of CPU and 204 s of wall clock with 7 jobs on 2 cores).
    Four times timeout on the wall clock stops a process that waits
    forever."""
    def limit_cpu():
        resource.setrlimit(resource.RLIMIT_CPU, (timeout, timeout + 5))

    r = subprocess.run([exe] + args, cwd=cwd or ROOT, capture_output=True,
                       text=True, timeout=4 * timeout, preexec_fn=limit_cpu)
    r.cmd = " ".join([exe] + args)
    if r.returncode == -signal.SIGXCPU:
        r.stderr += "\n(killed: more than %d s of CPU)" % timeout
    return r


def op_lines(path):
    return [l for l in open(path).read().splitlines()
            if l.strip() and not l.startswith("#") and not l.startswith("pool")]


SEED_SCN = """pool data=20000 meta=1024
create 0
map 0 0..299
commit
unmap 0 0..150
commit
"""


def seed_dir(tmp_path, text=SEED_SCN):
    d = tmp_path / "seeds"
    d.mkdir()
    (d / "shrink.scn").write_text(text)
    return str(d)


def test_search_refuses_an_uninstrumented_build(pdcrash, tmp_path):
    r = pdcrash(["search", "--runs", "1", "--corpus", str(tmp_path / "c")])
    assert r.returncode == 2
    assert "make search" in r.stderr


@pytest.mark.parametrize("args,what", [
    (["--frob"], "unknown option"),
    (["--runs", "0"], "--runs must be"),
    (["--jobs", "0"], "--jobs must be"),
    (["--shard", "2/2"], "bad --shard"),
    (["--faults", "99"], "--faults must be"),
    (["--seed-dir", "/nonexistent/seeds"], "/nonexistent/seeds"),
    (["deep"], "takes no scenario"),
])
def test_search_bad_input_exits_2(search_exe, tmp_path, args, what):
    r = run(search_exe, ["search", "--runs", "1", "--corpus",
                         str(tmp_path / "c")] + args)
    assert r.returncode == 2, r.cmd + "\n" + r.stdout + r.stderr
    assert what in r.stderr, r.cmd + "\n" + r.stderr


def kept(corpus):
    """The corpus files, with the folder's own path (in the comments)
    taken out."""
    return {f: open(os.path.join(corpus, f)).read().replace(corpus, "CORPUS")
            for f in sorted(os.listdir(corpus)) if f.endswith(".scn")}


def test_search_keeps_new_coverage_and_is_deterministic(search_exe, tmp_path):
    """Same --seed, different --jobs: the same candidates kept, byte for
    byte; every kept file is a scenario that runs clean."""
    seeds = seed_dir(tmp_path)
    outs = []
    for jobs in ("1", "2"):
        corpus = str(tmp_path / ("corpus" + jobs))
        r = run(search_exe, ["search", "--seed", "5", "--runs", "40",
                             "--jobs", jobs, "--faults", "1", "--seed-dir",
                             seeds, "--corpus", corpus])
        assert r.returncode == 0, r.cmd + "\n" + r.stdout + r.stderr
        assert re.search(r"^candidates: 40 in ", r.stdout, re.M), r.stdout
        outs.append(kept(corpus))
        m = re.search(r"kept (\d+), edges (\d+) of (\d+)", r.stdout)
        assert m and int(m.group(1)) == len(outs[-1]) > 0, r.cmd + r.stdout
        s = re.search(r"^seeds reach (\d+) of", r.stdout, re.M)
        assert int(m.group(2)) > int(s.group(1))
    assert outs[0] == outs[1], "search --seed 5 differs between --jobs 1 and 2"
    first = sorted(outs[0])[0]
    r = run(search_exe, ["run", str(tmp_path / "corpus1" / first), "--json",
                         "--no-continue"])
    assert r.returncode == 0, r.cmd + "\n" + r.stdout + r.stderr


def test_search_runs_cache_seeds_but_mutates_thin_ones(search_exe,
                                                       tmp_path):
    """A dm-cache seed is run for its coverage but never mutated or
    spliced (mutate.h's ops are a thin pool's; a cache candidate written
    as a pool scenario did not load back); with cache seeds only, exit 2."""
    seeds = seed_dir(tmp_path)
    shutil.copy(os.path.join(ROOT, "scenarios", "cache", "random-v2.scn"),
                os.path.join(seeds, "cache-random.scn"))
    corpus = str(tmp_path / "c")
    r = run(search_exe, ["search", "--seed", "1", "--runs", "40", "--faults",
                         "0", "--live-only", "--seed-dir", seeds, "--corpus",
                         corpus])
    assert r.returncode == 0, r.cmd + "\n" + r.stdout + r.stderr
    files = kept(corpus)
    assert files, r.stdout
    for name, text in files.items():
        assert "from cache-random" not in text, name + "\n" + text
        assert "splice cache-random" not in text, name + "\n" + text
    only = tmp_path / "only-cache"
    only.mkdir()
    shutil.copy(os.path.join(ROOT, "scenarios", "cache", "basic.scn"), only)
    r = run(search_exe, ["search", "--runs", "1", "--seed-dir", str(only),
                         "--corpus", str(tmp_path / "c2")])
    assert r.returncode == 2, r.cmd + "\n" + r.stdout + r.stderr
    assert "no thin-pool seed scenarios" in r.stderr, r.stderr


def test_search_explores_costly_kept_candidates_later(search_exe,
                                                       tmp_path):
    """A kept candidate whose scenario_cost is over 2e6 (here 10000
    mappings committed 14 times) waits: its crash exploration runs one
    every 256 candidates, so before the 256th none has run."""
    seeds = seed_dir(tmp_path, "pool data=20000 meta=1024\ncreate 0\n"
                     "map 0 0..9999\n" + "commit\n" * 14)
    r = run(search_exe, ["search", "--seed", "1", "--runs", "16", "--faults",
                         "0", "--seed-dir", seeds, "--corpus",
                         str(tmp_path / "c")])
    assert r.returncode == 0, r.cmd + "\n" + r.stdout + r.stderr
    m = re.search(r"^costly kept candidates, explored one every 256 "
                  r"candidates: (\d+), (\d+) of them not explored yet$",
                  r.stdout, re.M)
    assert m and int(m.group(1)) == int(m.group(2)) > 0, r.stdout
    k = re.search(r"kept (\d+),", r.stdout)
    e = re.search(r"^crash explorations: (\d+),", r.stdout, re.M)
    assert int(e.group(1)) == int(k.group(1)) - int(m.group(1)), r.stdout


def test_search_shards_split_the_candidates(search_exe, tmp_path):
    seeds = seed_dir(tmp_path)
    r = run(search_exe, ["search", "--seed", "5", "--runs", "8", "--shard",
                         "1/2", "--faults", "0", "--seed-dir", seeds,
                         "--corpus", str(tmp_path / "c")])
    assert r.returncode == 0, r.cmd + "\n" + r.stdout + r.stderr
    names = [f for f in os.listdir(tmp_path / "c") if f.endswith(".scn")]
    assert all(int(f[1:8]) % 2 == 1 for f in names), names


# One snapshot in the right place away from the bug: the root is left with
# one child after the unmaps of 0..131, and the next unmap absorbs it.
NEAR_ABSORB = """pool data=20000 meta=1024
create 0
map 0 0..299
commit
unmap 0 0..131
unmap 0 132..140
commit
"""


def test_search_finds_a_planted_bug(search_exe, tmp_path):
    """Candidate 0 of --seed 1 puts a snapshot right before the second
    unmap, where the seed's rarest edges are first reached: its first
    removal absorbs the root's child, now shared."""
    seeds = seed_dir(tmp_path, NEAR_ABSORB)
    corpus = str(tmp_path / "c")
    r = run(search_exe, ["search", "--seed", "1", "--runs", "200", "--jobs",
                         "2", "--faults", "0", "--no-minimize", "--mutant",
                         "absorb-shared-no-inc", "--seed-dir", seeds,
                         "--corpus", corpus], timeout=600)
    assert r.returncode == 1, r.cmd + "\n" + r.stdout + r.stderr
    m = re.search(r"^violation: (\S+)$", r.stdout, re.M)
    assert m, r.stdout
    assert re.search(r"^first violation: \S+ after [0-9.]+ s$", r.stdout, re.M)
    a = run(search_exe, ["replay", m.group(1), "--mutant",
                         "absorb-shared-no-inc"])
    assert a.returncode == 1, a.cmd + "\n" + a.stdout + a.stderr
    assert "bad reference count" in a.stdout


# A tree grown to two leaves, and the same tree shrunk past the merge of
# its leaves (the removal of 131 merges them, that of 132 absorbs the
# root's one child): the edges only the second reaches are first reached
# in the middle of its unmap.
GROW_SCN = """pool data=20000 meta=1024
create 0
map 0 0..299
commit
"""
SHRINK_SCN = GROW_SCN + """unmap 0 0..150
commit
"""
def test_search_steps_in_where_a_rare_edge_is_first_reached(search_exe,
                                                             tmp_path):
    """Candidates put steps (snapshots, commits, aborts) right before
    places where edges of their entry are first reached: the op from the
    entry's first-reach run, or a block inside a range from runs of its
    prefixes, the range cut there (`cut line L before B`).  From the grow
    and shrink seeds: the leaf splits inside `map 0 0..299` and the merges
    inside `unmap 0 0..150`.  Which of those places a seed's candidates
    aim at, and whether one of them then meets the planted bug
    (--mutant absorb-shared-no-inc: a snapshot right before the removal
    that absorbs the root's child), depends on the build's edges, so this
    asks for the mechanism (targeted range cuts with a snapshot among the
    steps, and every violation the planted one) and for the same run,
    candidate for candidate, with --jobs 1 and 2; test_search_finds_a_
    planted_bug asks for the finding."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "grow.scn").write_text(GROW_SCN)
    (seeds / "shrink.scn").write_text(SHRINK_SCN)
    found = []
    for jobs in ("1", "2"):
        corpus = str(tmp_path / ("c" + jobs))
        r = run(search_exe, ["search", "--seed", "1", "--runs", "400",
                             "--jobs", jobs, "--faults", "0",
                             "--no-minimize", "--keep-going", "--mutant",
                             "absorb-shared-no-inc", "--seed-dir",
                             str(seeds), "--corpus", corpus])
        assert r.returncode in (0, 1), r.cmd + "\n" + r.stdout + r.stderr
        assert re.search(r"^targeted candidates: [1-9]\d* \(\d+ probe runs",
                         r.stdout, re.M), r.stdout
        kept = re.findall(r"^(c\d+): \+\d+ edges \(\d+ of \d+\) from \S+: (.*)$",
                          r.stdout, re.M)
        assert kept, r.stdout
        cuts = [h for _, h in kept
                if re.search(r"target: .*cut line \d+ before \d+; ", h)]
        assert cuts, r.cmd + "\n" + r.stdout
        assert any(re.search(r"target: .*step 'snap \d+ \d+' at \d+", h)
                   for _, h in kept), r.stdout
        # a cut candidate's file splits the range at the block it names
        name, header = next((n, h) for n, h in kept if h in cuts)
        m = re.search(r"cut line \d+ before (\d+); ", header)
        text = open(os.path.join(corpus, name + ".scn")).read()
        assert re.search(r"\.\.%d\n" % (int(m.group(1)) - 1), text) or \
            re.search(r"^\S+ \d+ %s(\.\.\d+)?$" % m.group(1), text, re.M), \
            r.cmd + "\n" + header + "\n" + text
        for why in re.findall(r"^violation: \S+\n  (.*)$", r.stdout, re.M):
            assert "bad reference count" in why, r.stdout
        found.append(kept)
    assert found[0] == [(n, h.replace("/c2/", "/c1/")) for n, h in found[1]], \
        found


def default_seeds(tmp_path):
    """The default suite without reach/ (and mutants/, planted bugs'
    reproducers): scenarios/*.scn and scenarios/cache/."""
    d = tmp_path / "default"
    d.mkdir()
    for f in os.listdir(os.path.join(ROOT, "scenarios")):
        if f.endswith(".scn"):
            shutil.copy(os.path.join(ROOT, "scenarios", f), d / f)
    shutil.copytree(os.path.join(ROOT, "scenarios", "cache"), d / "cache")
    return str(d)


@pytest.mark.skipif(os.environ.get("PDCRASH_SLOW") != "1",
                    reason="10 minutes at most: set PDCRASH_SLOW=1")
def test_search_finds_absorb_shared_from_the_default_suite(search_exe,
                                                            tmp_path):
    """Issue 10: the single-entry-absorbs-shared-child bug (mutant
    absorb-shared-no-inc) is found, and minimized, within 10 minutes from
    the default suite without scenarios/reach/."""
    corpus = str(tmp_path / "c")
    r = run(search_exe, ["search", "--seed", "1", "--seconds", "600",
                         "--jobs", "2", "--mutant", "absorb-shared-no-inc",
                         "--seed-dir", default_seeds(tmp_path),
                         "--corpus", corpus], timeout=1800)
    assert r.returncode == 1, r.cmd + "\n" + r.stdout[-3000:] + r.stderr
    m = re.search(r"^violation: \S+\n  (.*)$", r.stdout, re.M)
    assert m and "bad reference count" in m.group(1), r.stdout[-3000:]
    t = re.search(r"^first violation: \S+ after ([0-9.]+) s$", r.stdout, re.M)
    assert t and float(t.group(1)) <= 600, r.stdout[-3000:]
    assert os.path.exists(os.path.join(corpus, "min-1.scn")), r.stdout[-3000:]
    assert "bad reference count" in r.stdout.split("minimised", 1)[-1], \
        r.stdout[-3000:]


def test_minimize_works_on_lines_and_ranges(mutants_exe, tmp_path):
    """A failing id of the default suite (unmap, under the planted
    rebalance2-old-threshold) minimizes to a few readable lines."""
    mutant = "rebalance2-old-threshold"
    r = run(mutants_exe, ["run", "unmap", "--mutant", mutant, "--json",
                          "--no-continue"], cwd=tmp_path)
    assert r.returncode == 1
    import json
    ids = [i for i in json.loads(r.stdout)["violations"]
           if "+small" not in i and re.search(r":c\d+:", i)]
    last = max(ids, key=lambda i: int(re.search(r":c(\d+):", i).group(1)))
    r = run(mutants_exe, ["minimize", last, "--mutant", mutant, "-o",
                          "min.scn", "--max-runs", "300"], cwd=tmp_path)
    assert r.returncode == 1, r.cmd + "\n" + r.stdout + r.stderr
    m = re.search(r"^ops: (\d+) up to the cut -> (\d+) lines, (\d+) ops "
                  r"\((\d+) candidate runs of at most 300 ", r.stdout, re.M)
    assert m, r.stdout
    lines = op_lines(tmp_path / "min.scn")
    assert len(lines) == int(m.group(2)) <= 20, lines
    assert int(m.group(4)) <= 300
    # ranges stay ranges: some line covers more than one block
    assert any(re.search(r"\d+\.\.\d+", l) for l in lines), lines


@pytest.mark.parametrize("args,what", [
    (["--max-runs", "0"], "--max-runs must be"),
    (["--max-seconds", "x"], "bad number for --max-seconds"),
])
def test_minimize_budget_options_are_checked(pdcrash, args, what):
    r = pdcrash(["minimize", "unmap:s1:c5:l-:e0"] + args)
    assert r.returncode == 2
    assert what in r.stderr
