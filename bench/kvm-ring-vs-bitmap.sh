#!/usr/bin/env bash
# KVM dirty tracking side by side in one run, boot-block guest (256 MiB,
# 1 vCPU; the only guest this machine's nested KVM runs), patched QEMU +
# plugin, arms alternating:
#   bitmap       dirty bitmap (manual protect + initially-set where KVM has it)
#   ring-stock   dirty ring, 65536 entries, trace-install=stock (kick per sync)
#   ring-loose   dirty ring, 65536 entries, trace-install=loose (no kick in precopy)
# Reports total time, downtime, syncs, vCPU time held by tracking and memory
# integrity per arm. Needs a usable /dev/kvm.
#   bench/kvm-ring-vs-bitmap.sh [N]   (default 8)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cmdline=$(printf '%q ' "$0" "$@")
n=${1:-8}
. bench/lib.sh
bench_require build/qemu/qemu-system-x86_64 build/driver/migaccel-migrate \
    build/plugin/libmigaccel.so build/guest/bootblock.img
[ -w /dev/kvm ] || { echo "bench: /dev/kvm missing or not writable" >&2; exit 1; }
arms=(bitmap ring-stock ring-loose)
bench_results_dir kvm-ring "${arms[@]}"
for i in $(seq -w 1 "$n"); do
    for arm in $(bench_arms "$i" "${arms[@]}"); do
        case $arm in
            bitmap) accel=kvm; mode=stock ;;
            ring-stock) accel=kvm,dirty-ring-size=65536; mode=stock ;;
            ring-loose) accel=kvm,dirty-ring-size=65536; mode=loose ;;
        esac
        echo "bench: run $i/$n $arm"
        # wp-granularity=4K: the tracking itself compared, as measured before
        # 1G became the default
        bench_run "$arm-$i" build/driver/migaccel-migrate --qemu build/qemu/qemu-system-x86_64 \
            --plugin build/plugin/libmigaccel.so --accel-prop "trace-install=$mode" \
            --accel-prop wp-granularity=4K \
            --bootblock build/guest/bootblock.img --accel "$accel" --mem 256M --smp 1 \
            --qemu-arg=-cpu --qemu-arg=qemu64,-kvmclock --verify
    done
done
python3 - "$out" "$n" <<'EOPY'
import sys
sys.path.insert(0, "bench")
from benchlib import completed, load_arm_runs, median  # noqa: E402
out, n = sys.argv[1], sys.argv[2]
runs, arms = load_arm_runs(out)
print(f"\nKVM boot-block migration, {n} runs per arm (results in {out})")
print(f"{'arm':12} {'ok':>5} {'differed':>8} {'total med':>10} {'total max':>10} "
      f"{'downtime med':>13} {'syncs med':>10} {'held us med':>12} {'held us max':>12}")
for arm in arms:
    reps = runs.get(arm, [])
    done = completed(reps)
    ok = sum(r["result"] == "pass" for r in reps)
    bad = sum(1 for r in done if r["verify"]["differing_pages"])
    tt = [r["migration"]["total_time_ms"] for r in done]
    dt = [r["migration"]["downtime_ms"] for r in done]
    sy = [r["migration"]["dirty_sync_count"] for r in done]
    held = [r["accel_stats"]["src"]["vcpu_held_ns_total"] / 1000 for r in done]
    def f(x):
        return "-" if x is None else f"{x:.0f}"
    print(f"{arm:12} {ok:>2}/{len(reps):<2} {bad:>8} {f(median(tt)):>10} {f(max(tt, default=None)):>10} "
          f"{f(median(dt)):>13} {f(median(sy)):>10} {f(median(held)):>12} {f(max(held, default=None)):>12}")
EOPY
