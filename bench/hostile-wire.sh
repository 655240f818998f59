#!/usr/bin/env bash
# Hostile bytes on the wire, the long run: N random trials per message
# kind (default 100) through the damaging proxy, on each series
# (tests/migration/hostile_wire.py says what a trial is and which
# outcomes are allowed). Writes the per-trial lines and the counts per
# kind and outcome.
#
#   bench/hostile-wire.sh [--trials N] [--series "7.2 10.0"] [--seed S] [--out DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cmdline=$(printf '%q ' "$0" "$@")

trials=100
series="7.2 10.0"
seed=()
out=""
usage() { sed -n '2,8s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --trials) trials=$2; shift 2 ;;
        --series) series=$2; shift 2 ;;
        --seed) seed=(--seed "$2"); shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; usage ;;
    esac
done
. bench/lib.sh
# shellcheck disable=SC2086 # series is a list of words
bench_per_series_setup hostile-wire $series

nfail=0
for v in $series; do
    echo "=== QEMU $v: $trials trials per message kind"
    python3 tests/migration/hostile_wire.py --qemu "build/qemu-$v/qemu-system-x86_64" \
        --plugin "$plugin" --driver "$driver" --guest-dir build/guest \
        --run-dir "$out/run-$v" --trials "$trials" "${seed[@]}" \
        --json "$out/trials-$v.json" | tee "$out/trials-$v.txt" || nfail=$((nfail + 1))
done
echo "bench: $nfail of $(echo "$series" | wc -w) series had a forbidden outcome; counts in $out/trials-*.txt"
[ "$nfail" = 0 ]
