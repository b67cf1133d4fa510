"""build/sdselftest: the simulated disk against its crash model at every cut
point, and flush/write errors injected into the running binary from outside
through libfiu (fiu-run, and the python fiu_ctrl module)."""
import os
import re
import shutil
import subprocess

import pytest

SUMMARY = re.compile(r"^sdselftest: (\d+) cut points, (\d+) crash states "
                     r"checked, at most (\d+) pending, (\d+) violations?",
                     re.M)
WORKLOAD = re.compile(r"^sdselftest: workload: (\d+) writes \((\d+) FUA, "
                      r"(\d+) failed\), (\d+) flushes \((\d+) failed\)", re.M)
FLUSH_FAILED = re.compile(r"^sdselftest: flush failed at op (\d+): I/O error",
                          re.M)
FIU_LIBS = "/usr/lib/fiu"


def run(cmd, env=None, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=timeout)


def summary(out):
    m = SUMMARY.search(out)
    assert m, out
    cuts, states, pending, violations = map(int, m.groups())
    w = WORKLOAD.search(out)
    assert w, out
    return dict(cuts=cuts, states=states, pending=pending,
                violations=violations, writes=int(w.group(1)),
                fua=int(w.group(2)), failed_writes=int(w.group(3)),
                flushes=int(w.group(4)), failed_flushes=int(w.group(5)))


def without_time(out):
    return re.sub(r"\([0-9.]+ s\)", "", out)


@pytest.fixture
def sdselftest(program):
    return program("sdselftest")


def test_default_run_survives_every_cut(sdselftest):
    r = run([sdselftest, "--seed", "3"])
    assert r.returncode == 0, r.stderr
    assert "seed 3" in r.stdout.splitlines()[0]
    s = summary(r.stdout)
    assert s["violations"] == 0
    assert s["writes"] == 2000
    # one entry per write and flush, plus the cut before the first
    assert s["cuts"] == s["writes"] + s["flushes"] + 1
    assert s["states"] > 10 * s["cuts"]
    assert s["pending"] > 10          # the >10 strategy ran too
    # the built-in plan failed one flush and one write, and said so
    assert s["failed_flushes"] == 1 and s["failed_writes"] == 1
    assert FLUSH_FAILED.search(r.stderr), r.stderr


def test_tear(sdselftest):
    r = run([sdselftest, "--seed", "4", "--tear", "--writes", "500"])
    assert r.returncode == 0, r.stderr
    assert "tearing on" in r.stdout
    s = summary(r.stdout)
    assert s["violations"] == 0
    plain = summary(run([sdselftest, "--seed", "4", "--writes", "500"]).stdout)
    assert s["states"] > plain["states"]   # torn variants were added


def test_same_seed_same_run(sdselftest):
    a = run([sdselftest, "--seed", "9", "--writes", "300"])
    b = run([sdselftest, "--seed", "9", "--writes", "300"])
    c = run([sdselftest, "--seed", "10", "--writes", "300"])
    assert a.returncode == b.returncode == c.returncode == 0
    assert without_time(a.stdout) == without_time(b.stdout)
    assert without_time(a.stdout) != without_time(c.stdout)


def test_help(sdselftest):
    r = run([sdselftest, "--help"])
    assert r.returncode == 0
    for word in ("usage:", "--seed", "--writes", "--tear", "--no-faults",
                 "Exit status"):
        assert word in r.stdout


@pytest.mark.parametrize("args", [
    ["--bogus"], ["--seed"], ["--seed", "x"], ["--writes", "0"],
    ["--writes", "-3"], ["--blocks", "12k"], ["extra"],
])
def test_bad_usage_exits_2(sdselftest, args):
    r = run([sdselftest] + args)
    assert r.returncode == 2
    assert "usage:" in r.stderr
    assert r.stdout == ""


def fiu_env():
    env = dict(os.environ)
    # A sanitizer build refuses a preload library ahead of its runtime, and
    # fiu_run_preload.so leaks a string of its own at exit.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
        ":verify_asan_link_order=0:detect_leaks=0"
    return env


@pytest.fixture
def fiu_run(fiu_built, build_flags):
    """The fiu-run command prefix.  -x (the POSIX preload library) is left
    out of sanitizer builds, where its malloc wrappers crash ASan; the
    simdisk points do not need it."""
    if not fiu_built:
        pytest.skip("built without libfiu points (FIU=0)")
    if not shutil.which("fiu-run"):
        pytest.skip("fiu-run not installed (fiu-utils)")
    if "-fsanitize" in build_flags:
        return ["fiu-run"]
    return ["fiu-run", "-x"]


def test_fiu_run_fails_one_flush_from_outside(sdselftest, fiu_run):
    r = run(fiu_run + ["-c", "enable name=simdisk/flush,onetime",
             sdselftest, "--no-faults", "--writes", "400", "--seed", "5"],
            env=fiu_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(FLUSH_FAILED.findall(r.stderr)) == 1, r.stderr
    s = summary(r.stdout)
    assert s["failed_flushes"] == 1 and s["failed_writes"] == 0
    assert s["violations"] == 0
    # without the injection the same run has no error at all
    r = run([sdselftest, "--no-faults", "--writes", "400", "--seed", "5"])
    assert r.returncode == 0 and not FLUSH_FAILED.search(r.stderr)
    assert summary(r.stdout)["failed_flushes"] == 0


def test_fiu_run_every_flush_fails(sdselftest, fiu_run):
    # `enable` without onetime: every flush of the workload fails, so no
    # write ever becomes durable except by FUA; the model must still hold.
    r = run(fiu_run + ["-c", "enable name=simdisk/flush",
             sdselftest, "--no-faults", "--writes", "120"], env=fiu_env())
    assert r.returncode == 0, r.stdout + r.stderr
    s = summary(r.stdout)
    assert s["flushes"] > 5 and s["failed_flushes"] == s["flushes"]
    assert len(FLUSH_FAILED.findall(r.stderr)) == s["flushes"]
    assert s["pending"] > 20
    assert s["violations"] == 0


def test_fiu_run_write_errors(sdselftest, fiu_run):
    r = run(fiu_run + ["-c",
             "enable_random name=simdisk/write,probability=0.05",
             sdselftest, "--no-faults", "--writes", "400"], env=fiu_env())
    assert r.returncode == 0, r.stdout + r.stderr
    s = summary(r.stdout)
    assert s["failed_writes"] > 0   # P(none) = 0.95^400, negligible
    assert re.search(r"write failed at op \d+: I/O error", r.stderr)
    assert s["violations"] == 0


def test_python_fiu_ctrl_injects_flush_error(sdselftest, fiu_run):
    fiu_ctrl = pytest.importorskip("fiu_ctrl")
    fiu_ctrl.PLIBPATH = FIU_LIBS     # the module's default is /usr/local
    cmd = fiu_ctrl.Subprocess([sdselftest, "--no-faults", "--writes", "300",
                               "--seed", "8"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=None)
    cmd.enable("simdisk/flush", flags=[fiu_ctrl.Flags.ONETIME])
    saved = dict(os.environ)
    try:
        # start() edits os.environ in place (LD_PRELOAD, FIU_*): undo it
        os.environ.update(fiu_env())
        proc = cmd.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert len(FLUSH_FAILED.findall(err)) == 1, err
    s = summary(out)
    assert s["failed_flushes"] == 1 and s["violations"] == 0
