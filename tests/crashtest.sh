#!/bin/sh
# tests/crashtest.sh - what `make crashtest` runs:
#  1. the default scenarios (every .scn under scenarios/, subfolders such
#     as scenarios/reach/ included, each with a roomy and a small cache)
#     at every cut point, report in reports/crashtest/;
#  2. the same with --io-errors: every read, write and flush of each run
#     failed once and from then on, report in reports/crashtest-io/.
# Exit 0 only if neither found a violation.  PDCRASH_ARGS adds options to
# both (e.g. PDCRASH_ARGS="--seed 7"); CRASHTEST_IO=0 skips step 2.
set -eu
cd "$(dirname "$0")/.."
pdcrash="${PD_BUILD:-build}/pdcrash"
# shellcheck disable=SC2086
"$pdcrash" run --report reports/crashtest ${PDCRASH_ARGS:-}
if [ "${CRASHTEST_IO:-1}" != 0 ]; then
	echo "== IO errors at every IO op of every run"
	# shellcheck disable=SC2086
	"$pdcrash" run --io-errors --report reports/crashtest-io ${PDCRASH_ARGS:-}
fi
