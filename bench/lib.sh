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
