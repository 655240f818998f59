#!/usr/bin/env bash
# Build everything that is missing, then run the whole test suite:
# plugin unit tests, loader tests, checkpatch on the series, and the QMP
# migration tests (each verifying guest memory on the destination).
# Ends with one line: "N passed, N failed, N skipped".
#   scripts/test.sh [meson test arguments, e.g. --suite unit]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/build.sh
echo "test: running meson test"
set +e
meson test -C build --print-errorlogs "$@" 2>&1 | tee build/test-output.log
status=${PIPESTATUS[0]}
set -e

summary() { sed -n "s/^$1: *\([0-9]*\).*/\1/p" build/test-output.log | tail -1; }
ok=$(summary Ok); fail=$(summary Fail); skipped=$(summary Skipped)
timeout=$(summary Timeout); xpass=$(summary 'Unexpected Pass'); xfail=$(summary 'Expected Fail')
passed=$(( ${ok:-0} + ${xfail:-0} ))
failed=$(( ${fail:-0} + ${timeout:-0} + ${xpass:-0} ))
if [ -z "$ok$fail" ] || { [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; }; then
    failed=$((failed + 1)) # meson itself failed: never report a clean run
fi
echo "$passed passed, $failed failed, ${skipped:-0} skipped"
[ "$failed" -eq 0 ]
