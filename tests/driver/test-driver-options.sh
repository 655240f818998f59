#!/usr/bin/env bash
# migaccel-migrate refuses bad options with a clear message and exit status
# 2, and bad network set-ups with exit status 1, before starting any QEMU.
#   test-driver-options.sh SRC BUILD
. "$(dirname "$0")/../lib.sh" "$1" "$2"
require_file "$DRIVER" "build the driver (meson compile -C build)"

# expect_refusal NAME STATUS TEXT ARGS...: the driver exits STATUS, says TEXT
expect_refusal() {
    local name=$1 want=$2 text=$3 got=0
    shift 3
    "$DRIVER" "$@" >"$TEST_TMP/out" 2>&1 || got=$?
    if [ "$got" != "$want" ]; then
        not_ok "$name: exit status $got, expected $want"
        sed 's/^/    /' "$TEST_TMP/out" | tail -5
        return
    fi
    expect_contains "$name" "$TEST_TMP/out" "$text"
}

net=(--net-guest-ip 10.213.1.2/24 --net-src-tap tap-src --net-dst-tap tap-dst)
expect_refusal "unknown scenario" 2 "--scenario must be normal, cancel, kill-dst, dst-rejects or postcopy-pause" \
    --scenario nonsense
expect_refusal "dst-rejects without the expected error" 2 \
    "--scenario dst-rejects and --expect-dst-error go together" --scenario dst-rejects
expect_refusal "expected error without dst-rejects" 2 \
    "--scenario dst-rejects and --expect-dst-error go together" --expect-dst-error boom
expect_refusal "bad expected-error regex" 2 "regular expression" --scenario dst-rejects --expect-dst-error '(('
plugin_needed="--accel-prop, --dst-no-plugin, --src-no-plugin and --unload-before-retry need --plugin"
expect_refusal "dst-no-plugin without a plugin" 2 "$plugin_needed" --dst-no-plugin
expect_refusal "src-no-plugin without a plugin" 2 "$plugin_needed" --src-no-plugin
expect_refusal "no side with the plugin" 2 "leaves no side with the accelerator" \
    --plugin /x.so --src-no-plugin --dst-no-plugin
expect_refusal "unload without a retry" 2 "--unload-before-retry needs a retry" \
    --plugin /x.so --unload-before-retry
expect_refusal "unload with --no-retry" 2 "--unload-before-retry and --no-retry contradict" \
    --plugin /x.so --unload-before-retry --scenario cancel --no-retry
expect_refusal "unload with no plugin on the source" 2 "needs the accelerator on the source" \
    --plugin /x.so --unload-before-retry --scenario cancel --src-no-plugin
expect_refusal "src-uri without running QEMUs" 2 "--src-uri and the --*-recover-uri options only apply with" \
    --src-uri tcp:127.0.0.1:1
expect_refusal "recover URI without running QEMUs" 2 "--*-recover-uri options only apply with" \
    --dst-recover-uri tcp:127.0.0.1:1
running=(--src-qmp /nonexistent/src.sock --dst-qmp /nonexistent/dst.sock --dst-uri tcp:127.0.0.1:1)
expect_refusal "postcopy-pause of running QEMUs without a recover URI" 2 \
    "--scenario postcopy-pause with running QEMUs needs --dst-recover-uri" \
    "${running[@]}" --scenario postcopy-pause
expect_refusal "recover URI without postcopy-pause" 2 \
    "--dst-recover-uri and --src-recover-uri only apply with --scenario postcopy-pause" \
    "${running[@]}" --src-recover-uri tcp:127.0.0.1:2
expect_refusal "bad bandwidth" 2 "--max-bandwidth 'fast'" --max-bandwidth fast
expect_refusal "negative postcopy delay" 2 "--postcopy-after must be >= 0" --postcopy-after -1
expect_refusal "postcopy with kill-dst" 2 "cannot be combined with --scenario kill-dst" \
    --postcopy-after 1 --scenario kill-dst
expect_refusal "two ways to say when to switch to postcopy" 2 \
    "--postcopy-after and --postcopy-after-precopy are two ways to say when to switch" \
    --postcopy-after 1 --postcopy-after-precopy
expect_refusal "postcopy after the first pass with kill-dst" 2 \
    "--postcopy-after-precopy cannot be combined with --scenario kill-dst" \
    --postcopy-after-precopy --scenario kill-dst
expect_refusal "net options without a client namespace" 2 "need --net-client-netns" \
    "${net[@]}"
expect_refusal "client namespace without the rest" 2 \
    "--net-client-netns needs --net-guest-ip, --net-src-tap and --net-dst-tap" \
    --net-client-netns somewhere
expect_refusal "guest address without prefix" 2 "expected ADDR/PREFIX" \
    --net-client-netns somewhere --net-guest-ip 10.213.1.2 --net-src-tap a --net-dst-tap b
expect_refusal "net with --verify" 2 "memory is checked by the guest's own pattern check" \
    --net-client-netns somewhere "${net[@]}" --verify
expect_refusal "short post-run with net" 2 "--post-run of at least 2.5 s" \
    --net-client-netns somewhere "${net[@]}" --post-run 1
# These pass option parsing and fail on the machine's state, before any QEMU.
expect_refusal "missing client namespace" 1 "no network namespace migaccel-no-such-ns" \
    --net-client-netns migaccel-no-such-ns "${net[@]}"
if [ "$(id -u)" = 0 ] && ip netns add "mato$$" 2>/dev/null; then
    trap 'ip netns del "mato$$" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
    expect_refusal "taps that are not bridge ports" 1 "is not a bridge port" \
        --net-client-netns "mato$$" --net-guest-ip 10.213.1.2/24 \
        --net-src-tap migaccel-no-tap --net-dst-tap migaccel-no-tap2
else
    echo "note: not root or no network namespaces: the bridge-port check is not exercised"
fi
finish
