# The shell benches' share of the bench library (the Python side is
# bench/benchlib.py, the C side bench/benchstat.h); sourced from the
# repository root. A bench sets $cmdline (its command line) and, where it
# names binaries, $binaries; it runs arms with bench_arms and bench_run
# into bench_results_dir's folder, and counts failures in $nfail.

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

# bench_results_dir NAME [ARM...]: the results folder, in $out: --out's
# value if the bench set $out, else build/bench/NAME-DATE; absolute. Holds
# command.txt (the command line, then $binaries) and arms.txt (the arms;
# the first is the reference of the reporters' ratios).
bench_results_dir() {
    local name=$1
    shift
    out=${out:-build/bench/$name-$(date +%Y%m%d-%H%M%S)}
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    echo "bench: results in $out"
    { echo "${cmdline:-$0}"; if [ -n "${binaries:-}" ]; then echo "$binaries"; fi; } >"$out/command.txt"
    if [ $# -gt 0 ]; then
        echo "$*" >"$out/arms.txt"
    fi
    nfail=0
}

# bench_arms RUN ARM...: the arms in the order run RUN (1-based) takes them,
# rotated by RUN-1, so that no arm always runs first or after the same one
bench_arms() {
    local run=$((10#$1)) k
    shift
    local arms=("$@")
    for k in "${!arms[@]}"; do
        echo "${arms[$(( (k + run - 1) % ${#arms[@]} ))]}"
    done
}

# bench_run NAME COMMAND...: one driver run, COMMAND (the driver, or
# e.g. ip netns exec NS DRIVER, with its arguments) plus --json
# $out/NAME.json, its output in $out/NAME.log. A failure is said and
# counted in $nfail; the bench goes on.
bench_run() {
    local name=$1 rc=0 why
    shift
    "$@" --json "$out/$name.json" >"$out/$name.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        nfail=$((nfail + 1))
        why=$(grep -m1 -A2 -E 'ERROR:|FAIL' "$out/$name.log" | tr -s ' \n' ' ' ||
              tail -n1 "$out/$name.log")
        echo "bench:   FAILED (exit $rc): ${why:0:300}"
        echo "bench:   log: $out/$name.log"
    fi
}

# bench_per_series_setup NAME SERIES...: for the benches that run each
# series' patched QEMU (soak, hostile-wire): sets plugin and driver
# (PLUGIN, DRIVER or build/), checks them, the guest and every series'
# QEMU, and makes the results folder (bench_results_dir).
bench_per_series_setup() {
    local name=$1 v
    shift
    plugin=${PLUGIN:-build/plugin/libmigaccel.so}
    driver=${DRIVER:-build/driver/migaccel-migrate}
    local need=("$plugin" "$driver" build/guest/vmlinuz build/guest/initramfs.cpio.gz)
    for v in "$@"; do need+=("build/qemu-$v/qemu-system-x86_64"); done
    bench_require "${need[@]}"
    bench_results_dir "$name"
}
