#!/usr/bin/env bash
# The switchover users feel, side by side in one run: for each hot-set size
# the arms run one after another, their order rotating from run to run, N
# runs each, on one machine. The guest (TCG, 2 vCPUs, two threads dirtying
# HOT MiB) has a virtio-net NIC on a bridge in private namespaces
# (scripts/testnet.sh); a client pings it every 10 ms and keeps a TCP echo
# connection busy. The destination runs as soon as it has the state and
# traces the page faults it waits on (--trace-faults). Every run checks
# memory: the guest's own pattern check over its hot set on the
# destination, after the last page has arrived.
#
# Arms (--arms, comma-separated; the first is the reference for ratios):
#   stock          the series' stock QEMU, precopy (--converge-after 20:
#                  after 20 s the downtime limit is raised so it completes)
#   stock-preempt  stock QEMU, postcopy-ram + postcopy-preempt, switched to
#                  postcopy after the first pass (virsh migrate
#                  --postcopy-after-precopy)
#   ours-precopy   patched QEMU + plugin, loose trace install, 1G, precopy
#   bitmap         patched QEMU + plugin, switchover=bitmap (postcopy-ram),
#                  transport=socket
#   bitmap-preempt as bitmap, with postcopy-preempt
#   bitmap-uring   as bitmap, with transport=io_uring (the plugin's defaults
#                  with postcopy-ram)
#   ARM+NAME=VALUE one of the plugin's arms with one more plugin option
#                  (repeatable: bitmap-preempt+precopy-max-passes=1)
#
#   bench/switchover.sh [--series 7.2|10.0] [--runs N] [--hot "64 256 ..."]
#                       [--arms A,B,...] [--mem SIZE] [--guest-args "mig.mbps=R ..."]
#                       [--guest linux|pingblock] [--out DIR] [-- DRIVER_ARGS]
# --guest pingblock: the bare-metal guest (guest/pingblock), whose own
# restart costs nearly nothing, instead of the Linux one: the gap it shows
# is the migration's.
# DRIVER_ARGS go to every run, e.g. -- --trace-cpu (where the host's CPU
# went in the first 100 ms after the destination ran: its own table).
# Defaults: 10.0, 5 runs, hot sets 64 256 1024 2048 MiB, arms
# stock,stock-preempt,bitmap,bitmap-preempt, 4G. As root; needs
# scripts/build.sh --series V --stock. Results: DIR/ARM-HOT-RUN.{json,log}
# and DIR/report.txt (bench/switchover-report.py).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/lib.sh
cmdline=$(printf '%q ' "$0" "$@")
series=10.0 runs=5 hots="64 256 1024 2048" arms=stock,stock-preempt,bitmap,bitmap-preempt
mem=4G out= guest_args= guest=linux
extra_driver=()
while [ $# -gt 0 ]; do
    case $1 in
    --series) series=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --hot) hots=$2; shift 2 ;;
    --arms) arms=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --guest-args) guest_args=$2; shift 2 ;;
    --guest) guest=$2; shift 2 ;;
    --) shift; extra_driver=("$@"); break ;;
    *) echo "usage: $0 [--series 7.2|10.0] [--runs N] [--hot \"MIB ...\"] [--arms A,B]" \
            "[--mem SIZE] [--guest-args \"mig.mbps=R ...\"] [--guest linux|pingblock]" \
            "[--out DIR] [-- DRIVER_ARGS]" >&2
       exit 2 ;;
    esac
done
case $series in 7.2|10.0) ;; *) echo "bench: --series is 7.2 or 10.0" >&2; exit 2 ;; esac
case $guest in linux|pingblock) ;; *) echo "bench: --guest is linux or pingblock" >&2; exit 2 ;; esac
patched=build/qemu-$series/qemu-system-x86_64
stock=build/qemu-$series-stock/qemu-system-x86_64
plugin=build/plugin/libmigaccel.so
IFS=, read -r -a arm_list <<<"$arms"
need=(build/driver/migaccel-migrate build/guest/vmlinuz build/guest/initramfs.cpio.gz
      build/guest/modules/virtio_net.ko)
[ "$guest" = linux ] || need+=(build/guest/pingblock.elf)
for arm in "${arm_list[@]}"; do
    case ${arm%%+*} in
    stock|stock-preempt)
        [ "$arm" = "${arm%%+*}" ] || { echo "bench: '$arm': plugin options need a plugin arm" >&2; exit 2; }
        need+=("$stock") ;;
    ours-precopy|bitmap|bitmap-preempt|bitmap-uring) need+=("$patched" "$plugin") ;;
    *) echo "bench: unknown arm '$arm'" >&2; exit 2 ;;
    esac
done
bench_require "${need[@]}"
bench_require_testnet
bench_results_dir "switchover-$series" "${arm_list[@]}"

# arm_args ARM: the driver arguments of one arm, in the array args; each
# +NAME=VALUE after the arm's name is one more plugin option
arm_args() {
    local base=${1%%+*} prop
    local -a props=()
    [ "$base" = "$1" ] || IFS=+ read -r -a props <<<"${1#*+}"
    arm_base_args "$base"
    for prop in "${props[@]}"; do
        args+=(--accel-prop "$prop")
    done
}

arm_base_args() {
    local ours=(--qemu "$patched" --plugin "$plugin" --accel-prop trace-install=loose
                --accel-prop wp-granularity=1G)
    local socket=(--accel-prop transport=socket)
    case $1 in
    stock) args=(--qemu "$stock" --converge-after 20) ;;
    stock-preempt) args=(--qemu "$stock" --postcopy-after-precopy
                         --capability postcopy-preempt=on) ;;
    ours-precopy) args=("${ours[@]}" --accel-prop switchover=precopy --converge-after 20) ;;
    bitmap) args=("${ours[@]}" "${socket[@]}" --accel-prop switchover=bitmap
                  --capability postcopy-ram=on) ;;
    bitmap-preempt) args=("${ours[@]}" "${socket[@]}" --accel-prop switchover=bitmap
                          --capability postcopy-ram=on --capability postcopy-preempt=on) ;;
    bitmap-uring) args=("${ours[@]}" --accel-prop switchover=bitmap
                        --accel-prop transport=io_uring --capability postcopy-ram=on) ;;
    esac
}

net=masw$$
trap 'scripts/testnet.sh down "$net"' EXIT
for i in $(seq 1 "$runs"); do
    for hot in $hots; do
        for arm in $(bench_arms "$i" "${arm_list[@]}"); do
            arm_args "$arm"
            echo "bench: run $i/$runs, hot set $hot MiB, $arm"
            # a fresh network per run: no forwarding entry survives from the last
            scripts/testnet.sh down "$net"
            read -r host_ns client_ns < <(scripts/testnet.sh up "$net")
            if [ "$guest" = pingblock ]; then
                guest_opts=(--kernel build/guest/pingblock.elf
                            --append "mig.hot_mb=$hot${guest_args:+ $guest_args}")
            else
                guest_opts=(--kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz
                            --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=$hot${guest_args:+ $guest_args}")
            fi
            bench_run "$arm-$hot-$i" ip netns exec "$host_ns" build/driver/migaccel-migrate "${args[@]}" \
                "${guest_opts[@]}" --accel tcg --smp 2 --mem "$mem" --downtime-limit 300 \
                --net-guest-ip 10.213.1.2/24 --net-src-tap tap-src --net-dst-tap tap-dst \
                --net-client-netns "$client_ns" --trace-faults --migrate-timeout 300 \
                "${extra_driver[@]}"
        done
    done
done
python3 bench/switchover-report.py "$out" | tee "$out/report.txt"
