#!/usr/bin/env bash
# The main job: a guest stock precopy cannot move, moved both ways.
# A 4 GiB guest whose two threads keep rewriting a 1 GiB hot set migrates
# between two QEMUs on this machine, first with the stock Debian QEMU, then
# with the patched QEMU and the plugin loaded with no options (loose trace
# install, 1 GiB tracking, the bitmap switchover, io_uring). Both arms get
# the same driver options, the same link (capped at 200 MiB/s, below the
# ~350 MiB/s this guest dirties under TCG here; uncapped, the loopback
# moves ~1.7 GB/s and stock would converge) and the same time budget: when
# it runs out, the driver raises downtime-limit so the migration
# completes, which stock precopy, never converging, then does with a stun
# of a second or more. Both arms
# are memory-verified. Prints the verdicts and a side-by-side table, and
# writes an SVG timeline per arm next to the JSON reports in build/demo/.
#   scripts/demo.sh [--series 7.2|10.0] [--budget SECONDS]   (default: this
#   machine's series, 30 s)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/qemu-version.sh
budget=30
while [ $# -gt 0 ]; do
    case "$1" in
    --series) MIGACCEL_QEMU_SERIES=$(migaccel_series_name "${2:?--series needs 7.2 or 10.0}"); shift ;;
    --series=*) MIGACCEL_QEMU_SERIES=$(migaccel_series_name "${1#--series=}") ;;
    --budget) budget=${2:?--budget needs seconds}; shift ;;
    --budget=*) budget=${1#--budget=} ;;
    *) echo "usage: $0 [--series 7.2|10.0] [--budget SECONDS]" >&2; exit 2 ;;
    esac
    shift
done
v=${MIGACCEL_QEMU_SERIES#qemu-}
out=build/demo
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.svg "$out"/*.txt

# Same guest, same options for both arms. postcopy-ram is what the bitmap
# switchover rides on (stock never starts postcopy by itself, so it changes
# nothing there); the budget's end raises downtime-limit to 100 s.
common=(--kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz
        --accel tcg --smp 2 --mem 4G
        --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=1024"
        --capability postcopy-ram=on --capability postcopy-preempt=on
        --max-bandwidth 200M
        --converge-after "$budget" --converge-downtime-limit 100000
        --trace-syncs --verify)

run() { # LABEL QEMU [driver options]
    local label=$1 qemu=$2
    shift 2
    echo "demo: $label: migrating with $qemu (link 200 MiB/s, budget ${budget} s; log $out/$label.txt)"
    # The report is the point of the demo, even when a check fails.
    if build/driver/migaccel-migrate --qemu "$qemu" "${common[@]}" \
            --json "$out/$label.json" "$@" >"$out/$label.txt" 2>&1; then
        echo "demo: $label: $(grep -m1 '^result:' "$out/$label.txt" || echo 'result: PASS')"
    else
        echo "demo: $label: the migration FAILED its checks:"
        grep -E '^(result|  error|  - |verify)' "$out/$label.txt" | head -8 | sed 's/^/demo:   /'
    fi
    if [ -s "$out/$label.json" ]; then
        scripts/timeline-svg.py "$out/$label.json" "$out/$label.svg" "$label" ||
            echo "demo: $label: no timeline picture"
    fi
}

arms=()
stock_qemu=build/qemu-$v-stock/qemu-system-x86_64
if [ -x "$stock_qemu" ]; then
    run stock "$stock_qemu"
    arms+=(stock="$out/stock.json")
else
    echo "demo: no stock build ($stock_qemu): 'scripts/build.sh --series $v --stock' adds it"
fi
if [ -f "subprojects/$MIGACCEL_QEMU_SERIES/include/migration/migaccel.h" ]; then
    run migaccel "build/qemu-$v/qemu-system-x86_64" --plugin build/plugin/libmigaccel.so
else
    # Said, not hidden: the series has QEMU's fixes but not the interface yet.
    echo "demo: patches/$MIGACCEL_QEMU_SERIES does not carry the plugin interface yet:"
    echo "demo: migrating with its patched QEMU alone (no accelerator)"
    run migaccel "build/qemu-$v/qemu-system-x86_64"
fi
arms+=(migaccel="$out/migaccel.json")

echo
echo "demo: side by side (same guest, same machine, same budget, one run each)"
scripts/compare-reports.py "${arms[@]}"
echo
echo "demo: pictures: $(ls "$out"/*.svg 2>/dev/null | tr '\n' ' ')"
echo "demo: JSON reports and full driver logs in $out/"
