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
# at_exit COMMAND: run COMMAND when the test exits (before TEST_TMP goes)
exit_commands=()
at_exit() {
    exit_commands+=("$1")
}
run_exit_commands() {
    local c
    for c in "${exit_commands[@]}"; do
        eval "$c" || true
    done
    if [ -n "${MIGACCEL_KEEP_TEST_TMP:-}" ]; then
        echo "kept $TEST_TMP" >&2
    else
        rm -rf "$TEST_TMP"
    fi
}
trap run_exit_commands EXIT
checks_failed=0

# Makes sure $1 2 MiB huge pages are free: raises vm.nr_hugepages for the
# test (root only) and gives the pages back when it exits; skips the test
# when it cannot.
reserve_huge_pages() {
    local need=$1 free total
    free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
    if [ "${free:-0}" -ge "$need" ]; then
        return
    fi
    total=$(cat /proc/sys/vm/nr_hugepages)
    if ! { echo $((total + need - free)) > /proc/sys/vm/nr_hugepages; } 2>/dev/null; then
        skip "needs $need free 2 MiB huge pages (${free:-0} free), and vm.nr_hugepages cannot be raised here"
    fi
    at_exit "echo $total > /proc/sys/vm/nr_hugepages"
    free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
    if [ "${free:-0}" -lt "$need" ]; then
        skip "needs $need free 2 MiB huge pages; the kernel found only ${free:-0} (memory too fragmented or short)"
    fi
}

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
