#!/usr/bin/env bash
# Side by side in one run: the busy-guest live migration (2 GiB TCG guest,
# 2 vCPUs, two threads dirtying 256 MiB, loopback, 4 GB/s cap) with stock
# Debian QEMU and with the patched QEMU + plugin (its defaults), arms
# alternating, N times each. Reports how often guest memory differed on the
# destination, and median/max downtime and total time with their ratio.
#   bench/integrity-vs-stock.sh [N]     (default 10; needs scripts/build.sh --stock)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cmdline=$(printf '%q ' "$0" "$@")
n=${1:-10}
. bench/lib.sh
bench_require build/qemu/qemu-system-x86_64 build/qemu-stock/qemu-system-x86_64 \
     build/driver/migaccel-migrate build/plugin/libmigaccel.so
arms=(stock patched)
bench_results_dir integrity "${arms[@]}"
guest=(--kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz
       --accel tcg --smp 2 --mem 2G --verify
       --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=256")
for i in $(seq -w 1 "$n"); do
    for arm in $(bench_arms "$i" "${arms[@]}"); do
        if [ "$arm" = stock ]; then
            extra=(--qemu build/qemu-stock/qemu-system-x86_64)
        else
            extra=(--qemu build/qemu/qemu-system-x86_64 --plugin build/plugin/libmigaccel.so)
        fi
        echo "bench: run $i/$n $arm"
        bench_run "$arm-$i" build/driver/migaccel-migrate "${extra[@]}" "${guest[@]}"
    done
done
python3 - "$out" "$n" <<'EOPY'
import sys
sys.path.insert(0, "bench")
from benchlib import completed, load_arm_runs, median, ratio  # noqa: E402
out, n = sys.argv[1], sys.argv[2]
runs, arms = load_arm_runs(out)
rows = {}
for arm in arms:
    reps = runs.get(arm, [])
    done = completed(reps)
    bad = [r for r in done if r["verify"]["differing_pages"]]
    pages = [r["verify"]["differing_pages"] for r in bad]
    dt = [r["migration"]["downtime_ms"] for r in done]
    tt = [r["migration"]["total_time_ms"] for r in done]
    rows[arm] = dict(runs=len(reps), completed=len(done), mismatched=len(bad),
                     pages=f"{min(pages)}-{max(pages)}" if pages else "-",
                     corrupt=sum(1 for r in done if r["guest"]["dst_corrupt"]),
                     dt_med=median(dt), dt_max=max(dt, default=None),
                     tt_med=median(tt), tt_max=max(tt, default=None))
s, p = rows["stock"], rows["patched"]
print(f"\nbusy-guest migration, {n} runs each (results in {out})")
print(f"{'metric':36} {'stock':>10} {'patched':>10} {'patched/stock':>14}")
for label, k in [("runs", "runs"), ("completed", "completed"),
                 ("memory differed on destination", "mismatched"),
                 ("  pages differing (range)", "pages"),
                 ("guest saw lost writes (CORRUPT)", "corrupt"),
                 ("downtime median (ms)", "dt_med"), ("downtime max (ms)", "dt_max"),
                 ("total time median (ms)", "tt_med"), ("total time max (ms)", "tt_max")]:
    r = ratio(p[k], s[k]) if k.startswith(("dt", "tt")) else ""
    print(f"{label:36} {str(s[k]):>10} {str(p[k]):>10} {r:>14}")
EOPY
