#!/usr/bin/python3
"""tests/bench_crashtest.py - the two steps of `make crashtest`, timed.

For each step (the default suite at every cut with torn writes; then the
same with --io-errors) it runs pdcrash with --jobs N (default: the CPUs)
and with --jobs 1, and prints the wall seconds, the CPU use (user + sys of
pdcrash and every process it ran, over wall x N: 1.0 means N cores busy
the whole time), and the ratio of the two wall times.  It also runs the
IO-error step with the fault runs one after another from the start
(PDCRASH_SWEEP=serial), the way before the linear sweep, and prints that
ratio too.  Figures only, from one run on a machine that may be busy: it
fails only if a run fails or finds a violation.

    /usr/bin/python3 tests/bench_crashtest.py [--jobs N] [--quick]

--quick leaves out the --jobs 1 and serial runs of the IO-error step.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PDCRASH = os.path.join(os.environ.get("PD_BUILD", os.path.join(ROOT, "build")),
                       "pdcrash")


def timed(args, env=None):
    """(wall s, CPU s of the process tree, JSON)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([PDCRASH] + args + ["--json"], capture_output=True,
                       text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit("pdcrash %s: exit %d\n%s" % (" ".join(args),
                                                      p.returncode,
                                                      p.stderr[-2000:]))
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    steps = [("step 1: every cut, torn writes", ["run", "--tear"]),
             ("step 2: --io-errors, torn writes", ["run", "--tear",
                                                   "--io-errors"])]
    print("%-34s %8s %9s %9s %9s %8s" % ("", "jobs", "wall s", "CPU s",
                                        "CPU use", "states"))
    total = 0.0
    for name, args in steps:
        wall, cpu, j = timed(args + ["--jobs", str(a.jobs)])
        total += wall
        print("%-34s %8d %9.1f %9.1f %9.2f %8d" % (
            name, a.jobs, wall, cpu, cpu / (wall * a.jobs), j["states"]))
        if a.quick and "--io-errors" in args:
            continue
        w1, c1, j1 = timed(args + ["--jobs", "1"])
        print("%-34s %8d %9.1f %9.1f %9.2f %8d   (ratio %d jobs / 1 job: "
              "%.2f)" % ("", 1, w1, c1, c1 / w1, j1["states"], a.jobs,
                         wall / w1))
        if "--io-errors" in args:
            env = dict(os.environ, PDCRASH_SWEEP="serial")
            ws, cs, js = timed(args + ["--jobs", str(a.jobs)], env)
            print("%-34s %8d %9.1f %9.1f %9.2f %8d   (ratio sweep / serial "
                  "fault runs: %.2f)" % ("  serial fault runs", a.jobs, ws, cs,
                                         cs / (ws * a.jobs), js["states"],
                                         wall / ws))
    print("make crashtest, both steps with %d jobs: %.1f s" % (a.jobs, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
