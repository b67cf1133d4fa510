#!/bin/sh
# tests/crashtest.sh - what `make crashtest` runs: the default scenarios
# (every scenarios/*.scn, each with a roomy and a small cache) at every cut
# point, the report in reports/crashtest/.  Exit 0 only if no violation.
# PDCRASH_ARGS adds options (e.g. PDCRASH_ARGS="--seed 7 --tear").
set -eu
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086
"${PD_BUILD:-build}/pdcrash" run --report reports/crashtest ${PDCRASH_ARGS:-}
