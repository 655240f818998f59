# Sourced by the shell tests: paths and small assertion helpers.
# Usage: . lib.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
MIGACCEL_SRC=${1:?source root}
MIGACCEL_BUILD=${2:?build root}
# MIGACCEL_QEMU: the QEMU under test (meson sets it per series); default:
# this machine's series (build/qemu links to it)
QEMU=${MIGACCEL_QEMU:-$MIGACCEL_SRC/build/qemu/qemu-system-x86_64}
PLUGIN=$MIGACCEL_BUILD/plugin/libmigaccel.so
DRIVER=$MIGACCEL_BUILD/driver/migaccel-migrate
GUEST_DIR=$MIGACCEL_SRC/build/guest
# Debian: option ROMs in qemu-system-data, the BIOS in seabios
FIRMWARE_ARGS=(-L /usr/share/qemu -L /usr/share/seabios)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/migaccel-test.XXXXXX")
# MIGACCEL_KEEP_TEST_TMP=1 keeps the run's files (logs, reports) to read
trap 'if [ -n "${MIGACCEL_KEEP_TEST_TMP:-}" ]; then echo "kept $TEST_TMP" >&2; else rm -rf "$TEST_TMP"; fi' EXIT
checks_failed=0

require_file() {
    if [ ! -e "$1" ]; then
        echo "FAIL: $1 is missing: $2"
        exit 1
    fi
}

# skip REASON: meson counts exit code 77 as skipped
skip() {
    echo "SKIP: $*"
    exit 77
}

ok() { echo "ok: $*"; }
not_ok() { echo "FAIL: $*"; checks_failed=$((checks_failed + 1)); }

# expect_contains NAME FILE TEXT
expect_contains() {
    if grep -qF -- "$3" "$2"; then
        ok "$1"
    else
        not_ok "$1: expected '$3' in:"
        sed 's/^/    /' "$2" | tail -20
    fi
}

# show_run_logs N: the last N lines of every log the driver left in its
# run folder, after a failed migration
show_run_logs() {
    local f
    for f in "$TEST_TMP"/run/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $f"
        tail -"$1" "$f"
    done
}

# check_with_python NAME ARG...: runs the Python check on stdin with ARGs;
# it prints its facts (and what failed) on one line, and exits non-zero
# when a check failed
check_with_python() {
    local name=$1 msg
    shift
    if msg=$(python3 - "$@"); then
        ok "$name: $msg"
    else
        not_ok "$name: $msg"
    fi
}

finish() {
    if [ "$checks_failed" -ne 0 ]; then
        echo "$checks_failed check(s) failed"
        exit 1
    fi
    echo "all checks passed"
}
