#!/usr/bin/env bash
# What dirty tracking costs per sync as guest RAM grows: TCG guests of
# several sizes (memory-backend-ram reserve=off, so a 256 GiB guest starts
# on a small host as long as it touches little) run the busy workload on a
# fixed hot set while precopy keeps iterating; QEMU's own trace points
# (migration_bitmap_sync_start/_end, log backend, -msg timestamp=on) time
# every sync in the same way for every arm. A sync runs entirely under the
# big QEMU lock, so its duration is the lock hold it causes. Arms, alternating
# within each repetition and size:
#   stock  build/qemu-stock without plugin (Debian QEMU 7.2)
#   4K     build/qemu + plugin, trace-install=loose, wp-granularity=4K
#   2M     ... wp-granularity=2M
#   1G     ... wp-granularity=1G (ours)
# Memory is verified byte for byte (per-page digests) on every run. With
# --all-dirty the hot set is most of a 2 GiB guest instead (the worst case
# for a summary: every region is dirty).
#
#   bench/wp-granularity.sh [--reps N] [--sizes "2 16 64 256"] [--arms "stock 4K 1G"]
#                           [--hot-mb MB] [--iterate-seconds S] [--all-dirty] [--out DIR]
# Binaries: QEMU_STOCK, QEMU_PATCHED, PLUGIN, DRIVER (default: the build/ paths).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cmdline=$(printf '%q ' "$0" "$@")

reps=1
sizes="2 16 64 256"
arms="stock 4K 1G"
hot_mb=256
iterate=15          # s of precopy iterations after the first full pass
all_dirty=0
out=""
usage() { sed -n '2,21s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --reps) reps=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --arms) arms=$2; shift 2 ;;
        --hot-mb) hot_mb=$2; shift 2 ;;
        --iterate-seconds) iterate=$2; shift 2 ;;
        --all-dirty) all_dirty=1; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; usage ;;
    esac
done
if [ $all_dirty = 1 ]; then
    sizes=2
    hot_mb=1700     # of a 2 GiB guest: all the workload can allocate
fi

qemu_stock=${QEMU_STOCK:-build/qemu-stock/qemu-system-x86_64}
qemu_patched=${QEMU_PATCHED:-build/qemu/qemu-system-x86_64}
plugin=${PLUGIN:-build/plugin/libmigaccel.so}
driver=${DRIVER:-build/driver/migaccel-migrate}

need=("$driver" build/guest/vmlinuz build/guest/initramfs.cpio.gz)
for arm in $arms; do
    case $arm in
        stock) need+=("$qemu_stock") ;;
        4K|2M|1G) need+=("$qemu_patched" "$plugin") ;;
        *) echo "bench: unknown arm '$arm' (stock, 4K, 2M, 1G)" >&2; exit 2 ;;
    esac
done
. bench/lib.sh
bench_require "${need[@]}"
for s in $sizes; do
    case $s in ''|*[!0-9]*) echo "bench: size '$s' is not a number of GiB" >&2; exit 2 ;; esac
done

binaries="QEMU_STOCK=$qemu_stock QEMU_PATCHED=$qemu_patched PLUGIN=$plugin DRIVER=$driver"
bench_results_dir wp-granularity $arms

for i in $(seq -w 1 "$reps"); do
    for gib in $sizes; do
        # The first pass reads every page (zero pages too): about 0.4 s per
        # GiB here; keep iterating that long plus --iterate-seconds.
        converge=$((iterate + gib / 2 + 2))
        for arm in $(bench_arms "$i" $arms); do
            case $arm in
                stock) extra=(--qemu "$qemu_stock") ;;
                *) extra=(--qemu "$qemu_patched" --plugin "$plugin"
                          --accel-prop trace-install=loose --accel-prop "wp-granularity=$arm") ;;
            esac
            name=g$gib-$arm-$i
            echo "bench: rep $i/$reps, ${gib} GiB, $arm"
            rm -rf "$out/trace-$name"
            mkdir -p "$out/trace-$name"
            bench_run "$name" "$driver" "${extra[@]}" \
                --kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz \
                --accel tcg --smp 2 --mem "${gib}G" --verify \
                --qemu-arg=-object --qemu-arg="memory-backend-ram,id=m0,size=${gib}G,reserve=off" \
                --qemu-arg=-machine --qemu-arg=memory-backend=m0 \
                --qemu-arg=-trace --qemu-arg='migration_bitmap_sync_*' \
                --qemu-arg=-msg --qemu-arg=timestamp=on \
                --qemu-arg=-D --qemu-arg="$out/trace-$name/qemu-%d.log" \
                --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=$hot_mb" \
                --downtime-limit 5 --converge-after "$converge" \
                --converge-downtime-limit 20000 --migrate-timeout $((converge + 900)) \
                --ready-timeout 600 \
                --run-dir "$out/run-$name"
        done
    done
done

python3 "$top/bench/wp-granularity-report.py" "$out" "$sizes" "$arms" "$cmdline" "$nfail"
