"""pytest fixtures shared by tests/*.py.

The suite runs as `/usr/bin/python3 -m pytest -q tests` (what `make check`
does after building).  The build is made at most once per session: when a
program the tests need is missing, `make` runs once in the repository root;
when everything is there, nothing is rebuilt, so a `make SAN=1 check` or
`make FIU=0 ...` build is tested as it was built.  PD_PYTEST_MAKE=1 forces
the one `make`, PD_PYTEST_MAKE=0 forbids it.  PD_BUILD=DIR tests the
build made by `make B=DIR` instead of build/ (fixtures only).
"""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PD_BUILD", os.path.join(ROOT, "build"))

# Programs some test runs; a missing one triggers the session's `make`.
NEEDED = ("sdselftest", "pdcrash", "pdtool", "unit_tests")


def _missing():
    return [p for p in NEEDED
            if not os.access(os.path.join(BUILD, p), os.X_OK)]


@pytest.fixture(scope="session")
def repo_root():
    """The repository root (absolute path)."""
    return ROOT


@pytest.fixture(scope="session", autouse=True)
def build_dir():
    """build/, made by one `make` if a needed program is missing."""
    force = os.environ.get("PD_PYTEST_MAKE", "")
    if force != "0" and (force == "1" or _missing()):
        r = subprocess.run(["make", "-C", ROOT, "B=" + BUILD], capture_output=True,
                           text=True, timeout=1800)
        if r.returncode != 0:
            pytest.exit("make failed:\n" + r.stdout[-4000:] +
                        r.stderr[-4000:], returncode=1)
    return BUILD


@pytest.fixture(scope="session")
def build_flags(build_dir):
    """The compiler flags the build used (build/flags.txt), or ''."""
    try:
        with open(os.path.join(build_dir, "flags.txt")) as f:
            return f.read()
    except OSError:
        return ""


@pytest.fixture(scope="session")
def fiu_built(build_flags):
    """True if the build has the libfiu points compiled in (FIU=1)."""
    return "-DFIU_ENABLE=1" in build_flags


@pytest.fixture
def program(build_dir):
    """program("sdselftest") -> absolute path of build/sdselftest; fails
    the test if that program was not built (never a silent skip)."""
    def find(name):
        path = os.path.join(build_dir, name)
        if not os.access(path, os.X_OK):
            pytest.fail("%s/%s was not built (make failed?)" % (build_dir, name))
        return path
    return find



@pytest.fixture(scope="session")
def mutants_exe(build_dir):
    """build/pdcrash-mutants, brought up to date once per session: `make
    mutants-build` is incremental, and a stale binary would test old code."""
    r = subprocess.run(["make", "-C", ROOT, "B=" + build_dir, "mutants-build"],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        pytest.fail("make mutants failed:\n" + r.stdout[-3000:] +
                    r.stderr[-3000:])
    return os.path.join(build_dir, "pdcrash-mutants")
