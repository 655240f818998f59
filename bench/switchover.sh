#!/usr/bin/env bash
# Downtime of the bitmap switchover, side by side in one run: a 4 GiB TCG
# guest (2 vCPUs, two threads dirtying HOT_MB MiB) migrated by
#   A  stock Debian QEMU 7.2, precopy
#   B  patched QEMU + plugin, precopy (trace-install=loose, wp-granularity=1G)
#   C  patched QEMU + plugin, switchover=bitmap (postcopy-ram on both sides:
#      after the first pass the source stops, sends the still-dirty pages as
#      one compressed bitmap per RAM block and the destination pulls them)
#   D  as C, with transport=io_uring (the stream from the switch on goes
#      through the plugin's io_uring sender)
# arms interleaved per hot-set size, N repetitions. The destination runs as
# soon as it has the state; a client in a private network namespace pings
# the guest every 10 ms (scripts/testnet.sh), which gives the gap users see.
# Integrity: the guest's own pattern check over its hot set after every
# pulled page has arrived (the destination's incoming migration 'completed'),
# on every run. Precopy arms that do not converge under TCG are made to
# complete with --converge-after (the downtime limit is raised to 10 s after
# 20 s of precopy); the table says how often.
#   bench/switchover.sh [N] ["HOT_MB ..."]   (default 1 and "64 256 1024 2048";
#                                             as root; needs scripts/build.sh --stock)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
n=${1:-1}
hots=${2:-64 256 1024 2048}
. bench/lib.sh
bench_require build/qemu/qemu-system-x86_64 build/qemu-stock/qemu-system-x86_64 \
     build/driver/migaccel-migrate build/plugin/libmigaccel.so build/guest/modules/virtio_net.ko
bench_require_testnet
out=build/bench/switchover-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
net=masw$$
trap 'scripts/testnet.sh down "$net"' EXIT
plugin=(--qemu build/qemu/qemu-system-x86_64 --plugin build/plugin/libmigaccel.so
        --accel-prop trace-install=loose --accel-prop wp-granularity=1G)
for i in $(seq -w 1 "$n"); do
    for hot in $hots; do
        for arm in A B C D; do
            case $arm in
            A) extra=(--qemu build/qemu-stock/qemu-system-x86_64 --converge-after 20) ;;
            B) extra=("${plugin[@]}" --converge-after 20) ;;
            C) extra=("${plugin[@]}" --accel-prop switchover=bitmap
                      --capability postcopy-ram=on) ;;
            D) extra=("${plugin[@]}" --accel-prop switchover=bitmap
                      --accel-prop transport=io_uring --capability postcopy-ram=on) ;;
            esac
            echo "bench: hot set $hot MiB, arm $arm, run $i/$n"
            scripts/testnet.sh down "$net"
            read -r host_ns client_ns < <(scripts/testnet.sh up "$net")
            ip netns exec "$host_ns" build/driver/migaccel-migrate "${extra[@]}" \
                --kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz \
                --accel tcg --smp 2 --mem 4G --downtime-limit 300 \
                --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=$hot" \
                --net-guest-ip 10.213.1.2/24 --net-src-tap tap-src --net-dst-tap tap-dst \
                --net-client-netns "$client_ns" --migrate-timeout 300 \
                --json "$out/$arm-$hot-$i.json" >"$out/$arm-$hot-$i.log" 2>&1 || true
        done
    done
done
python3 bench/switchover-report.py "$out" | tee "$out/report.txt"
