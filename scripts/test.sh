#!/usr/bin/env bash
# Build everything that is missing, then run the whole test suite: plugin
# unit tests, the codec fuzzer, per series checkpatch, interface header and
# lost-write tests, loader tests, and the QMP migration, network and
# libvirt tests (each verifying guest memory on the destination).
# Ends with one line: "N passed, N failed, N skipped".
#   scripts/test.sh [--series 7.2|10.0|all] [meson test arguments, e.g. --suite unit]
# --series: the distro QEMU series to test (default: all of them).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/qemu-version.sh

series_arg=all
case "${1:-}" in
--series) series_arg=${2:?--series needs 7.2, 10.0 or all}; shift 2 ;;
--series=*) series_arg=${1#--series=}; shift ;;
esac
series=$(migaccel_series_list "$series_arg")

scripts/build.sh --series "$series_arg"
# Stock 10.0 for the test that shows its lost-write bug
# (tests/migration/test-lost-writes.sh).
if echo "$series" | grep -qx qemu-10.0; then
    MIGACCEL_SERIES=qemu-10.0 scripts/build-qemu.sh --stock
fi
want=$(echo "$series" | sed 's/^qemu-//' | paste -sd, -)
meson configure build -Dqemu_series="$want" >/dev/null
echo "test: running meson test (series: $want)"
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
