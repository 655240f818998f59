#!/usr/bin/env bash
# The downtime users feel, side by side in one run: stock Debian QEMU 7.2
# against the patched QEMU + plugin, alternating, N migrations each, of
# the busy guest (2 GiB TCG, 2 vCPUs, two threads dirtying HOT_MB MiB) with
# a virtio-net NIC on a bridge in private namespaces (scripts/testnet.sh)
# and a client pinging it every 10 ms and keeping a TCP echo connection
# busy. Reports QEMU's downtime beside the ping gap at switchover, pings
# lost, the TCP connection's longest stall, and when the bridge relearned
# the guest's MAC; the guest's pattern check guards memory on every run.
#   bench/network-downtime.sh [N] [HOT_MB]   (default 5 and 256; as root;
#                                             needs scripts/build.sh --stock)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
n=${1:-5}
hot_mb=${2:-256}
. bench/lib.sh
bench_require build/qemu/qemu-system-x86_64 build/qemu-stock/qemu-system-x86_64 \
     build/driver/migaccel-migrate build/plugin/libmigaccel.so build/guest/modules/virtio_net.ko
bench_require_testnet
out=build/bench/network-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
net=manb$$
trap 'scripts/testnet.sh down "$net"' EXIT
guest=(--kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz
       --accel tcg --smp 2 --mem 2G
       --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=$hot_mb"
       --net-guest-ip 10.213.1.2/24 --net-src-tap tap-src --net-dst-tap tap-dst)
for i in $(seq -w 1 "$n"); do
    for flavour in stock patched; do
        if [ $flavour = stock ]; then
            extra=(--qemu build/qemu-stock/qemu-system-x86_64)
        else
            extra=(--qemu build/qemu/qemu-system-x86_64 --plugin build/plugin/libmigaccel.so)
        fi
        echo "bench: run $i/$n $flavour"
        # A fresh network per run: no forwarding entry survives from the last.
        scripts/testnet.sh down "$net"
        read -r host_ns client_ns < <(scripts/testnet.sh up "$net")
        ip netns exec "$host_ns" build/driver/migaccel-migrate "${extra[@]}" "${guest[@]}" \
            --net-client-netns "$client_ns" \
            --json "$out/$flavour-$i.json" >"$out/$flavour-$i.log" 2>&1 || true
    done
done
python3 - "$out" "$n" "$hot_mb" <<'EOPY'
import glob, json, statistics, sys
out, n, hot = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
def med(v): return statistics.median(v) if v else float("nan")
for flavour in ("stock", "patched"):
    reps = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{flavour}-*.json"))]
    done = [r for r in reps if r["migration"] and r["migration"]["status"] == "completed"
            and r["network"]]
    net = [r["network"] for r in done]
    sw = [x["switchover_gap_ms"] for x in net if x["switchover_gap_ms"] is not None]
    rows[flavour] = dict(
        runs=len(reps), completed=len(done),
        passed=sum(1 for r in reps if r["result"] == "pass"),
        guest_ok=sum(1 for r in done if r["guest"]["check"] == "ok"),
        dt_med=med([r["migration"]["downtime_ms"] for r in done]),
        dt_max=max((r["migration"]["downtime_ms"] for r in done), default=float("nan")),
        sw_med=med(sw), sw_max=max(sw, default=float("nan")),
        lost_med=med([x["pings_lost"] for x in net]),
        lost_max=max((x["pings_lost"] for x in net), default=float("nan")),
        long_med=med([x["longest_gap_ms"] for x in net]),
        tcp_ok=sum(1 for x in net if x["tcp_survived"]),
        tcp_gap_med=med([x["tcp_longest_gap_ms"] for x in net]),
        relearn_med=med([x["mac_moved_after_complete_ms"] for x in net
                         if x["mac_moved_after_complete_ms"] is not None]),
        src_tap_max=max((x["src_tap_packets_1_2s"] or 0 for x in net), default=float("nan")),
        tt_med=med([r["migration"]["total_time_ms"] for r in done]))
s, p = rows["stock"], rows["patched"]
print(f"\nnetwork downtime, busy guest (hot set {hot} MiB), {n} runs each, pings every 10 ms "
      f"(results in {out})")
print(f"{'metric':44} {'stock':>10} {'patched':>10} {'patched/stock':>14}")
for label, k, ratio in [
        ("runs / completed", None, False),
        ("driver checks passed", "passed", False),
        ("guest pattern check ok", "guest_ok", False),
        ("TCP connection survived", "tcp_ok", False),
        ("QEMU downtime median (ms)", "dt_med", True),
        ("QEMU downtime max (ms)", "dt_max", True),
        ("ping gap at switchover median (ms)", "sw_med", True),
        ("ping gap at switchover max (ms)", "sw_max", True),
        ("pings lost median", "lost_med", True),
        ("pings lost max", "lost_max", True),
        ("longest ping gap, whole migration, median (ms)", "long_med", True),
        ("TCP longest stall median (ms)", "tcp_gap_med", True),
        ("MAC on dst tap, ms from completion seen, median", "relearn_med", False),
        ("source tap packets 1-2 s after, max", "src_tap_max", False),
        ("total time median (ms)", "tt_med", True)]:
    if k is None:
        print(f"{label:44} {s['runs']:>5}/{s['completed']:<4} {p['runs']:>5}/{p['completed']:<4}")
        continue
    r = f"{p[k] / s[k]:.2f}" if ratio and s[k] else ""
    fmt = lambda v: f"{v:.0f}" if isinstance(v, float) else str(v)
    print(f"{label:44} {fmt(s[k]):>10} {fmt(p[k]):>10} {r:>14}")
EOPY
