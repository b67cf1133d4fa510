#!/bin/sh
# tests/crashtest.sh - what `make crashtest` runs.
#
# Until the pdcrash harness lands this runs the simdisk crash-model
# self-test at every cut point, with and without torn writes.
set -eu
cd "$(dirname "$0")/.."
build/sdselftest --seed 1
build/sdselftest --seed 2 --tear
