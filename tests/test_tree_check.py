"""The two structural checks of recovery (harness/engine/explore.c and
cache_workload.c, structural()): core/check.c (or check_cache.c) on the
image, then the core's own bt_check of every tree the recovered metadata
has open (core/thin.h thin_check_trees, core/cache.h cache_check_trees).
They share no code; where they disagree one of them is wrong, and the
state is a violation that says so.  The planted bug bt-check-root-occupancy
(core/mutant.h) makes bt_check reject trees check.c accepts."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

THIN = """pool data=2000 meta=256
create 0
map 0 0..40
commit
"""

CACHE = """cache blocks=64 version=2 hint=4 discard=8
map 0..3 100
dirty 1
commit
"""

MUTANT = "bt-check-root-occupancy"


@pytest.mark.parametrize("kind", ["thin", "cache"])
def test_checks_that_disagree_are_a_violation(tmp_path, kind, program,
                                              mutants_exe):
    path = tmp_path / ("disagree-%s.scn" % kind)
    path.write_text(THIN if kind == "thin" else CACHE)
    # the normal build: both checks pass every state
    r = subprocess.run([program("pdcrash"), "run", str(path), "--tear"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([mutants_exe, "run", str(path), "--mutant", MUTANT,
                        "--json", "--fail-fast"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    j = json.loads(r.stdout)
    first = j["violations"][0]
    msg = j["violation_messages"][first]
    assert "the structural checks disagree" in msg, msg
    assert ("core/check.c" if kind == "thin" else "core/check_cache.c") in msg
    assert "bt_check of the " in msg
    reps = [subprocess.run([mutants_exe, "replay", first, "--mutant", MUTANT],
                           capture_output=True, text=True, timeout=120,
                           cwd=str(tmp_path))
            for _ in range(2)]
    assert reps[0].returncode == 1, reps[0].stdout + reps[0].stderr
    assert "outcome: violation" in reps[0].stdout
    assert "the structural checks disagree" in reps[0].stdout
    assert reps[0].stdout == reps[1].stdout
