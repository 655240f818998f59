#!/usr/bin/env bash
# Build the libFuzzer harness of the compressed dirty bitmap codec
# (tests/fuzz/fuzz-codec.c + plugin/src/codec.c) with clang, ASan and UBSan
# into BUILD_ROOT/fuzz/, seed a corpus with valid encodings, fuzz for a
# bounded time and fail on any crash, sanitizer report, timeout or OOM.
#
# Usage: run-fuzz.sh SRC_ROOT BUILD_ROOT [SECONDS]     (default 60 s)
# Exit: 0 ok, 1 failure (the crashing input is saved in BUILD_ROOT/fuzz/),
#       77 skipped (no clang, or no libFuzzer runtime: libclang-rt-14-dev).
# Environment: MIGACCEL_FUZZ_CC (compiler, default clang or clang-NN),
#   MIGACCEL_FUZZ_ARGS (more libFuzzer flags, e.g. "-use_value_profile=1").
# The corpus found so far is kept in BUILD_ROOT/fuzz/corpus for the next run.
set -uo pipefail

SRC=${1:?usage: run-fuzz.sh SRC_ROOT BUILD_ROOT [SECONDS]}
BUILD=${2:?usage: run-fuzz.sh SRC_ROOT BUILD_ROOT [SECONDS]}
SECS=${3:-60}
OUT=$BUILD/fuzz

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

case $SECS in
    '' | *[!0-9]*) fail "SECONDS must be a whole number, not '$SECS'" ;;
esac

CC=${MIGACCEL_FUZZ_CC:-}
if [ -z "$CC" ]; then
    for c in clang clang-14 clang-15 clang-16 clang-17 clang-18 clang-19; do
        if command -v "$c" >/dev/null 2>&1; then
            CC=$c
            break
        fi
    done
fi
[ -n "$CC" ] || skip "clang not found (Debian: apt-get install clang libclang-rt-14-dev)"
command -v "$CC" >/dev/null 2>&1 || skip "$CC not found"

mkdir -p "$OUT/corpus" || fail "cannot create $OUT/corpus"
SEEDS=$(mktemp -d "${TMPDIR:-/tmp}/migaccel-fuzz-seeds.XXXXXX") || fail "mktemp"
trap 'rm -rf "$SEEDS"' EXIT

# shellcheck disable=SC2054 # the comma belongs to the flag
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all)
# -O2 as the meson build (debugoptimized)
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O2 -fno-omit-frame-pointer -Wall -Wextra
        -I"$SRC/plugin/src")

# Can this clang link a libFuzzer target at all?
cat >"$OUT/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
EOF
if ! "$CC" -fsanitize=fuzzer "${SAN[@]}" "$OUT/probe.c" -o "$OUT/probe" \
        >"$OUT/probe.log" 2>&1; then
    skip "$CC cannot link -fsanitize=fuzzer,address,undefined" \
         "($(grep -m1 -iE 'error|cannot|not found' "$OUT/probe.log" || echo 'see '"$OUT/probe.log")," \
         "Debian: apt-get install libclang-rt-14-dev)"
fi
rm -f "$OUT/probe" "$OUT/probe.c" "$OUT/probe.log"

# The harness: coverage feedback (and comparison tracing) from the codec
# only, not from the harness's reference implementation; both sanitized.
"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link "${SAN[@]}" \
    -c "$SRC/plugin/src/codec.c" -o "$OUT/codec.o" || fail "cannot build $OUT/codec.o"
"$CC" "${CFLAGS[@]}" "${SAN[@]}" -c "$SRC/tests/fuzz/fuzz-codec.c" \
    -o "$OUT/fuzz-codec.o" || fail "cannot build $OUT/fuzz-codec.o"
"$CC" -fsanitize=fuzzer "${SAN[@]}" "$OUT/fuzz-codec.o" "$OUT/codec.o" \
    -o "$OUT/fuzz-codec" || fail "cannot link $OUT/fuzz-codec"
# The seed generator: the same file without libFuzzer
"$CC" "${CFLAGS[@]}" "${SAN[@]}" -DMIGACCEL_FUZZ_SEEDGEN \
    "$SRC/tests/fuzz/fuzz-codec.c" "$SRC/plugin/src/codec.c" \
    -o "$OUT/fuzz-codec-seedgen" || fail "cannot build $OUT/fuzz-codec-seedgen"
"$OUT/fuzz-codec-seedgen" "$SEEDS" >/dev/null \
    || fail "the seed generator failed (it runs every seed through the checks)"

# Symbolized sanitizer reports if llvm-symbolizer is around (package llvm-14)
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
    ccdir=$(dirname "$(readlink -f "$(command -v "$CC")")")
    for s in "$ccdir/llvm-symbolizer" "$(command -v llvm-symbolizer 2>/dev/null)"; do
        if [ -n "$s" ] && [ -x "$s" ]; then
            export ASAN_SYMBOLIZER_PATH=$s
            break
        fi
    done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1

LOG=$OUT/fuzz-codec.log
echo "fuzz-codec: $CC, ${SECS} s, corpus $OUT/corpus, log $LOG"
start=$(date +%s)
# libFuzzer's default error exit code is 77, meson's "skipped": use 1.
# shellcheck disable=SC2086 # MIGACCEL_FUZZ_ARGS is a list of flags
"$OUT/fuzz-codec" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$OUT/" ${MIGACCEL_FUZZ_ARGS:-} \
    "$OUT/corpus" "$SEEDS" >"$LOG" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))

stat() { sed -n "s/^stat::$1: *//p" "$LOG" | tail -n 1; }
last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse|RELOAD)' "$LOG" | tail -n 1)
field() { sed -n "s/.* $1: \([^ ]*\).*/\1/p" <<<"$last"; }
summary="$(stat number_of_executed_units) execs in ${elapsed} s ($(stat average_exec_per_sec) exec/s), corpus $(field corp) (inputs/size), cov $(field cov), ft $(field ft), peak rss $(stat peak_rss_mb) MB"

if [ $rc -ne 0 ]; then
    # the report: from the first error line on (or the end of the log)
    first=$(grep -n -m1 -E '==ERROR|check failed|runtime error:|ERROR: libFuzzer' \
            "$LOG" | cut -d: -f1)
    echo "---- $LOG ----"
    if [ -n "$first" ]; then
        sed -n "$first,\$p" "$LOG" | head -n 150
    else
        tail -n 60 "$LOG"
    fi
    echo "----"
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$LOG" | tail -n 1)
    [ -n "$artifact" ] && echo "reproduce: $OUT/fuzz-codec $artifact"
    fail "fuzz-codec exited with $rc after $summary"
fi
grep -q 'Done [0-9]* runs' "$LOG" || fail "no libFuzzer result in $LOG"
echo "fuzz-codec: ok: $summary"
