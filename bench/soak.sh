#!/usr/bin/env bash
# The long soak: one guest migrated back and forth HOPS times (default 50)
# between fresh QEMUs of each series, every accelerator option on,
# postcopy-ram on both sides, a cancelled attempt before every fifth hop,
# memory verified on every hop (tests/migration/soak.py; the suite runs
# 10 hops). Reports per hop the stun, the total time, and the RSS and
# open descriptors of the source after its migration and of the
# destination once it runs the guest, then whether they stayed flat.
#
#   bench/soak.sh [--hops N] [--series "7.2 10.0"] [--hot-mb MB] [--out DIR]
# Binaries: build/qemu-V/qemu-system-x86_64, PLUGIN, DRIVER (default: build/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cmdline=$(printf '%q ' "$0" "$@")

hops=50
series="7.2 10.0"
hot_mb=128
out=""
usage() { sed -n '2,11s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --hops) hops=$2; shift 2 ;;
        --series) series=$2; shift 2 ;;
        --hot-mb) hot_mb=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; usage ;;
    esac
done
. bench/lib.sh
# shellcheck disable=SC2086 # series is a list of words
bench_per_series_setup soak $series

nfail=0
for v in $series; do
    echo "=== QEMU $v: $hops hops"
    python3 tests/migration/soak.py --qemu "build/qemu-$v/qemu-system-x86_64" \
        --plugin "$plugin" --driver "$driver" --guest-dir build/guest \
        --run-dir "$out/run-$v" --hops "$hops" --cancel-every 5 --hot-mb "$hot_mb" \
        --json "$out/soak-$v.json" | tee "$out/soak-$v.txt" || nfail=$((nfail + 1))
done
echo "bench: $nfail of $(echo $series | wc -w) series failed; tables in $out/soak-*.txt"
[ "$nfail" = 0 ]
