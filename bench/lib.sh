# Shared set-up of the shell benchmarks; sourced from the repository root.

# bench_require FILE...: every build product the bench needs, or exit
bench_require() {
    local b
    for b in "$@"; do
        [ -e "$b" ] || { echo "bench: $b missing: run scripts/build.sh --stock" >&2; exit 1; }
    done
}

# bench_require_testnet: the private test network (scripts/testnet.sh) can
# be built here, or exit saying why
bench_require_testnet() {
    local why
    if ! why=$(scripts/testnet.sh check); then
        echo "bench: cannot build the test network: $why" >&2
        exit 1
    fi
}

# bench_per_series_setup NAME SERIES...: for the benches that run each
# series' patched QEMU (soak, hostile-wire): sets plugin and driver
# (PLUGIN, DRIVER or build/), checks them, the guest and every series'
# QEMU, and makes the results folder out (--out's value in $out, or
# build/bench/NAME-DATE) with the command line in command.txt ($cmdline).
bench_per_series_setup() {
    local name=$1 v
    shift
    plugin=${PLUGIN:-build/plugin/libmigaccel.so}
    driver=${DRIVER:-build/driver/migaccel-migrate}
    local need=("$plugin" "$driver" build/guest/vmlinuz build/guest/initramfs.cpio.gz)
    for v in "$@"; do need+=("build/qemu-$v/qemu-system-x86_64"); done
    bench_require "${need[@]}"
    out=${out:-build/bench/$name-$(date +%Y%m%d-%H%M%S)}
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    echo "bench: results in $out"
    echo "$cmdline" >"$out/command.txt"
}
