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
n=${1:-8}
for b in build/qemu/qemu-system-x86_64 build/driver/migaccel-migrate \
         build/plugin/libmigaccel.so build/guest/bootblock.img; do
    [ -e "$b" ] || { echo "bench: $b missing: run scripts/build.sh" >&2; exit 1; }
done
[ -w /dev/kvm ] || { echo "bench: /dev/kvm missing or not writable" >&2; exit 1; }
out=build/bench/kvm-ring-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
for i in $(seq -w 1 "$n"); do
    for arm in bitmap ring-stock ring-loose; do
        case $arm in
            bitmap) accel=kvm; mode=stock ;;
            ring-stock) accel=kvm,dirty-ring-size=65536; mode=stock ;;
            ring-loose) accel=kvm,dirty-ring-size=65536; mode=loose ;;
        esac
        echo "bench: run $i/$n $arm"
        build/driver/migaccel-migrate --qemu build/qemu/qemu-system-x86_64 \
            --plugin build/plugin/libmigaccel.so --accel-prop "trace-install=$mode" \
            --bootblock build/guest/bootblock.img --accel "$accel" --mem 256M --smp 1 \
            --qemu-arg=-cpu --qemu-arg=qemu64,-kvmclock --verify \
            --json "$out/$arm-$i.json" >"$out/$arm-$i.log" 2>&1 || true
    done
done
python3 - "$out" "$n" <<'EOPY'
import glob, json, statistics, sys
out, n = sys.argv[1], sys.argv[2]
print(f"\nKVM boot-block migration, {n} runs per arm (results in {out})")
print(f"{'arm':12} {'ok':>5} {'differed':>8} {'total med':>10} {'total max':>10} "
      f"{'downtime med':>13} {'syncs med':>10} {'held us med':>12} {'held us max':>12}")
for arm in ("bitmap", "ring-stock", "ring-loose"):
    reps = []
    for p in sorted(glob.glob(f"{out}/{arm}-*.json")):
        try:
            reps.append(json.load(open(p)))
        except ValueError:
            pass
    done = [r for r in reps if r["migration"]["status"] == "completed"]
    ok = sum(r["result"] == "pass" for r in reps)
    bad = sum(1 for r in done if r["verify"]["differing_pages"])
    med = lambda xs: statistics.median(xs) if xs else 0
    tt = [r["migration"]["total_time_ms"] for r in done]
    dt = [r["migration"]["downtime_ms"] for r in done]
    sy = [r["migration"]["dirty_sync_count"] for r in done]
    held = [r["accel_stats"]["src"]["vcpu_held_ns_total"] / 1000 for r in done]
    print(f"{arm:12} {ok:>2}/{len(reps):<2} {bad:>8} {med(tt):>10.0f} {max(tt, default=0):>10.0f} "
          f"{med(dt):>13.0f} {med(sy):>10.0f} {med(held):>12.0f} {max(held, default=0):>12.0f}")
EOPY
