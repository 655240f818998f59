#!/usr/bin/env bash
# What dirty tracking costs the guest while it is live-migrated: per-second
# largest write gap of each workload thread of the busy guest and host CPU of
# the source's vCPU threads, first with the guest running alone
# (--baseline-seconds), then during precopy (TCG, V vCPUs, V threads dirtying
# a hot set, loopback). Precopy is kept iterating for --precopy-seconds (a
# downtime limit too small to converge, so syncs keep coming), then the
# limit is raised and the migration completes; the guest clock stops at the
# switchover, so its gaps leave the final stun out. For each vCPU count and
# each arm, arms alternating within each repetition:
#   stock          build/qemu-stock without plugin (Debian QEMU 7.2)
#   patched-stock  build/qemu + plugin, trace-install=stock
#   loose          build/qemu + plugin, trace-install=loose
# Memory is verified on every run. A failed run is reported and the bench
# goes on.
#
#   bench/trace-install.sh [--reps N] [--vcpus "1 2 4 8"] [--arms "stock patched-stock loose"]
#                          [--hot-mb MB] [--mbps MIB_S] [--precopy-seconds S]
#                          [--baseline-seconds S] [--mem SIZE] [--migrate-timeout S] [--out DIR]
# Binaries: QEMU_STOCK, QEMU_PATCHED, PLUGIN, DRIVER (default: the build/ paths).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cmdline=$(printf '%q ' "$0" "$@")

reps=2
vcpus="1 2 4 8"
arms="stock patched-stock loose"
hot_mb=64
mbps=100           # MiB/s: a 64 MiB hot set is one sync every ~0.7 s
precopy=15         # s of iterating precopy (downtime limit 30 ms: never converges)
timeout=180        # s: give up on a migration that does not complete
baseline=15
mem=2G
out=""
usage() { sed -n '2,21s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --reps) reps=$2; shift 2 ;;
        --vcpus) vcpus=$2; shift 2 ;;
        --arms) arms=$2; shift 2 ;;
        --hot-mb) hot_mb=$2; shift 2 ;;
        --mbps) mbps=$2; shift 2 ;;
        --precopy-seconds) precopy=$2; shift 2 ;;
        --baseline-seconds) baseline=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --migrate-timeout) timeout=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; usage ;;
    esac
done

qemu_stock=${QEMU_STOCK:-build/qemu-stock/qemu-system-x86_64}
qemu_patched=${QEMU_PATCHED:-build/qemu/qemu-system-x86_64}
plugin=${PLUGIN:-build/plugin/libmigaccel.so}
driver=${DRIVER:-build/driver/migaccel-migrate}

need=("$driver" build/guest/vmlinuz build/guest/initramfs.cpio.gz)
for arm in $arms; do
    case $arm in
        stock) need+=("$qemu_stock") ;;
        patched-stock|loose) need+=("$qemu_patched" "$plugin") ;;
        *) echo "bench: unknown arm '$arm' (stock, patched-stock, loose)" >&2; exit 2 ;;
    esac
done
. bench/lib.sh
bench_require "${need[@]}"

binaries="QEMU_STOCK=$qemu_stock QEMU_PATCHED=$qemu_patched PLUGIN=$plugin DRIVER=$driver"
bench_results_dir trace-install $arms

for i in $(seq -w 1 "$reps"); do
    for v in $vcpus; do
        for arm in $(bench_arms "$i" $arms); do
            case $arm in
                stock) extra=(--qemu "$qemu_stock") ;;
                patched-stock) extra=(--qemu "$qemu_patched" --plugin "$plugin"
                                      --accel-prop trace-install=stock) ;;
                loose) extra=(--qemu "$qemu_patched" --plugin "$plugin"
                              --accel-prop trace-install=loose) ;;
            esac
            name=v$v-$arm-$i
            echo "bench: rep $i/$reps, $v vCPU, $arm"
            bench_run "$name" "$driver" "${extra[@]}" \
                --kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz \
                --accel tcg --smp "$v" --mem "$mem" --verify \
                --append "console=ttyS0 quiet mig.threads=$v mig.hot_mb=$hot_mb" \
                --baseline-seconds "$baseline" --max-bandwidth "${mbps}M" \
                --downtime-limit 30 --converge-after "$precopy" \
                --converge-downtime-limit 20000 --migrate-timeout "$timeout" \
                --run-dir "$out/run-$name"
        done
    done
done

python3 - "$out" "$vcpus" "$arms" "$cmdline" "$nfail" <<'EOPY'
import glob, json, statistics, sys
sys.path.insert(0, "bench")
from benchlib import median, pct  # noqa: E402

out, vcpus, arms, cmdline, nfail = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), \
    sys.argv[4], int(sys.argv[5])

def flat(lines):
    return [g for line in (lines or []) for g in line]

def vcpu_pct(win):
    """Mean over vCPU threads of CPU time / wall time, in %."""
    if not win or not win.get("threads") or not win.get("wall_ms"):
        return None
    return statistics.mean(t["cpu_ms"] / win["wall_ms"] * 100 for t in win["threads"])

def fmt(x, d=1):
    return "-" if x is None else f"{x:.{d}f}"

def ms3(xs):
    return " / ".join(fmt(pct(xs, p) / 1000, 1) for p in (50, 99)) + \
        f" / {fmt(max(xs) / 1000, 1)}" if xs else "-"

def ratios(base, pre):
    if not base or not pre:
        return "-"
    r = []
    for f in (lambda x: pct(x, 50), lambda x: pct(x, 99), max):
        b = f(base)
        r.append(fmt(f(pre) / b, 2) if b else "-")
    return " / ".join(r)

head = ["V", "arm", "ok/runs", "base gap p50/p99/max ms", "precopy gap p50/p99/max ms",
        "ratio p50/p99/max", "vCPU CPU% base/mig", "verify", "diff pages",
        "downtime ms", "total ms", "syncs", "vCPU held max ms", "vCPU held ms/run",
        "marked pages/run"]
rows = []
for v in vcpus:
    for arm in arms:
        logs = sorted(glob.glob(f"{out}/v{v}-{arm}-*.log"))
        reps = []
        for log in logs:
            js = log[:-4] + ".json"
            try:
                reps.append(json.load(open(js)))
            except (OSError, ValueError):
                reps.append(None)
        done = [r for r in reps if r and (r.get("migration") or {}).get("status") == "completed"]
        ok = [r for r in done if r.get("result") == "pass"]
        base = [g for r in done
                for g in flat((r["guest"].get("baseline") or {}).get("gap_samples_us"))]
        pre = [g for r in done for g in flat(r["guest"].get("migration_gap_samples_us"))]
        cpu_b = [vcpu_pct((r.get("src_vcpu_threads") or {}).get("baseline")) for r in done]
        cpu_m = [vcpu_pct((r.get("src_vcpu_threads") or {}).get("migration")) for r in done]
        cpu_b = [x for x in cpu_b if x is not None]
        cpu_m = [x for x in cpu_m if x is not None]
        ver = [r["verify"]["result"] for r in done]
        diff = [r["verify"]["differing_pages"] for r in done]
        def stat(k):
            return [((r.get("accel_stats") or {}).get("src") or {}).get(k) for r in done]
        held_max = [x for x in stat("vcpu_held_ns_max") if x is not None]
        rows.append([
            v, arm, f"{len(ok)}/{len(logs)}",
            ms3(base) + f" (n={len(base)})", ms3(pre) + f" (n={len(pre)})",
            ratios(base, pre),
            f"{fmt(statistics.mean(cpu_b) if cpu_b else None)} / "
            f"{fmt(statistics.mean(cpu_m) if cpu_m else None)}",
            (f"{ver.count('identical')}/{len(ver)} identical" if ver else "-"),
            (str(max(diff)) if diff else "-"),
            fmt(median(r["migration"]["downtime_ms"] for r in done), 0),
            fmt(median(r["migration"]["total_time_ms"] for r in done), 0),
            fmt(median(r["migration"]["dirty_sync_count"] for r in done), 0),
            fmt(max(held_max) / 1e6, 2) if held_max else "-",
            fmt(median(x / 1e6 if x is not None else None for x in stat("vcpu_held_ns_total")), 2),
            fmt(median(stat("vcpu_marked_pages")), 0),
        ])

widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
print(f"\ntrace install: guest write gaps and vCPU CPU, baseline vs precopy (results in {out})")
print("  gaps: per workload thread, per second (nearest-rank percentiles, pooled over runs);")
print("  downtime/total: median over completed runs; ok = driver result pass")
print("  " + "  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
for r in rows:
    print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
if nfail:
    print(f"  {nfail} run(s) failed: see the .log files in {out}")

with open(f"{out}/table.md", "w") as f:
    f.write("# trace install: guest write gaps and vCPU CPU, baseline vs precopy\n\n")
    f.write(f"Command: `{cmdline.strip()}`\n\n")
    f.write(f"Binaries: `{open(out + '/command.txt').read().splitlines()[1]}`\n\n")
    f.write("Gaps are per workload thread and second, nearest-rank percentiles pooled "
            "over completed runs; downtime and total time are medians.\n\n")
    f.write("| " + " | ".join(head) + " |\n")
    f.write("|" + "---|" * len(head) + "\n")
    for r in rows:
        f.write("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |\n")
    if nfail:
        f.write(f"\n{nfail} run(s) failed; see the .log files.\n")
print(f"  table: {out}/table.md")
EOPY
