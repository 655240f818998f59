#!/usr/bin/env bash
# The guest keeps its network identity across a live migration: a busy
# guest with a virtio-net NIC (fixed MAC, static IP) on a bridge in a
# private network namespace, source and destination QEMU each on their own
# tap, a client in another namespace pinging it every 10 ms and keeping a
# TCP echo connection busy (scripts/testnet.sh builds the network).
#   test-network.sh SRC BUILD SCENARIO
# SCENARIO:
#   migrate  the migration completes; the bridge must forward the guest's
#            MAC to the destination's tap right after switchover, the
#            source's tap must get no more of its traffic, the TCP
#            connection must survive, the guest's pattern check must pass
#   bitmap   as migrate, with switchover=bitmap and postcopy-preempt: the
#            source switches to postcopy, the timeline has the destination's
#            start, its first announce and the guest's first frame, and the
#            destination's fault trace (--trace-faults) the pages the guest
#            waited on, every one of them served; the CPU trace
#            (--trace-cpu) what each side's threads ran after it started
#   pingblock  as bitmap, with the bare-metal guest (guest/pingblock)
#            instead of Linux: ping, TCP echo, the timeline and its own
#            pattern check work with it too
#   pingblock-zero-threshold  as pingblock, 64 MiB hot set, with
#            downtime-limit 0: QEMU's completion threshold stays 0, as it
#            is in every migration until it has measured the bandwidth
#            (100 ms). The migration must still switch over with the
#            bitmap, not complete by precopy on an estimate of nothing
#            left without counting what the guest dirtied (a 30-90 ms stop)
#   cancel   migrate_cancel mid-way, no retry: the guest stays on the
#            source, no ping lost, the TCP connection survives, its MAC
#            never moves
# The driver judges all of this (evaluate_net() in driver/main.c); this
# script also reads the JSON report so each claim is checked by name.
. "$(dirname "$0")/../lib.sh" "$1" "$2"
scenario=$3
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
require_file "$GUEST_DIR/modules/virtio_net.ko" "run scripts/build-guest.sh"
require_file "$GUEST_DIR/pingblock.elf" "run scripts/build-guest.sh"

testnet=$MIGACCEL_SRC/scripts/testnet.sh
if ! why=$("$testnet" check); then
    skip "cannot build the test network here: $why"
fi
net=mat$$
trap '"$testnet" down "$net"; rm -rf "$TEST_TMP"' EXIT
read -r host_ns client_ns < <("$testnet" up "$net")

guest=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
       --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=256")
case "$scenario" in
pingblock) guest=(--kernel "$GUEST_DIR/pingblock.elf" --append "mig.hot_mb=256") ;;
pingblock-zero-threshold) guest=(--kernel "$GUEST_DIR/pingblock.elf" --append "mig.hot_mb=64") ;;
esac
args=(--qemu "$QEMU" --plugin "$PLUGIN" --run-dir "$TEST_TMP/run" "${guest[@]}"
      --accel tcg --smp 2 --mem 2G
      --net-client-netns "$client_ns" --net-guest-ip 10.213.1.2/24
      --net-src-tap tap-src --net-dst-tap tap-dst
      --json "$TEST_TMP/report.json")
case "$scenario" in
migrate) ;;
bitmap|pingblock|pingblock-zero-threshold)
    args+=(--accel-prop switchover=bitmap --capability postcopy-ram=on
           --capability postcopy-preempt=on --trace-faults --trace-cpu)
    [ "$scenario" != pingblock-zero-threshold ] || args+=(--downtime-limit 0) ;;
cancel) args+=(--scenario cancel --after 1.0 --scenario-bandwidth 100M --no-retry) ;;
*) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac

rc=0
ip netns exec "$host_ns" "$DRIVER" "${args[@]}" >"$TEST_TMP/report.txt" 2>"$TEST_TMP/driver.log" || rc=$?
cat "$TEST_TMP/report.txt"
if [ "$rc" -ne 0 ]; then
    tail -20 "$TEST_TMP/driver.log"
    not_ok "driver exited with $rc"
fi
require_file "$TEST_TMP/report.json" "the driver wrote no JSON report"

# json_get EXPR: one value from the report (python3 is a build dependency)
json_get() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$TEST_TMP/report.json" "$1"
}
expect_value() { # NAME EXPR EXPECTED
    local got
    got=$(json_get "$2")
    if [ "$got" = "$3" ]; then ok "$1 ($got)"; else not_ok "$1: expected $3, got $got"; fi
}

expect_value "TCP connection survived" "r['network']['tcp_survived']" True
expect_value "MAC on the source tap before" "r['network']['mac_port_before']" "source tap"
# mark NAME: the timeline mark's ms from the source's stop, or None
mark() { echo "r['timeline']['marks_ms'].get('$1')"; }
if [ "$scenario" != cancel ]; then
    expect_value "migration completed" "r['migration']['status']" completed
    expect_value "MAC on the destination tap at the end" "r['network']['mac_port_at_end']" \
        "destination tap"
    expect_value "bridge relearned within 1 s" \
        "r['network']['mac_moved_after_complete_ms'] is not None and r['network']['mac_moved_after_complete_ms'] <= 1000" True
    expect_value "source tap got at most 5 packets 1-2 s after switchover" \
        "r['network']['src_tap_packets_1_2s'] is not None and r['network']['src_tap_packets_1_2s'] <= 5" True
    expect_value "destination guest's pattern check" "r['guest']['check']" ok
    for m in "dst RESUME" "net first announce" "net first guest frame" "net first ping reply"; do
        expect_value "timeline: '$m' within 2 s of the source's stop" \
            "$(mark "$m") is not None and 0 <= $(mark "$m") <= 2000" True
    done
    expect_value "timeline: the guest's first frame after the destination ran" \
        "$(mark "net first guest frame") >= $(mark "dst RESUME")" True
    if [ "$scenario" != migrate ]; then
        expect_value "the source switched to postcopy" \
            "any(e['side'] == 'src' and e['event'] == 'MIGRATION postcopy-active' for e in r['timeline']['events'])" True
        expect_value "the stats say the bitmap switchover" \
            "r['accel_stats']['src']['switchover_mode']" bitmap
        expect_value "fault trace: the guest waited on pages, each one served" \
            "r['faults'] is not None and r['faults']['requests'] >= 1 and r['faults']['resolved'] == r['faults']['requests']" True
        expect_value "timeline: the first fault's page arrived after the fault" \
            "$(mark "dst first fault served") >= $(mark "dst first page fault")" True
        # both QEMUs sampled across the destination's first 100 ms: its
        # vCPU threads that ran are there (both with Linux; the bare-metal
        # guest runs on one, the other only wakes once at the resume, which
        # a sample may miss), and the source's migration thread
        want_vcpus="== 2"
        [ "${scenario#pingblock}" = "$scenario" ] || want_vcpus=">= 1"
        expect_value "CPU trace: the destination's vCPU threads in the window after it ran ($want_vcpus)" \
            "r['cpu_after_run'] is not None and sum(t['side'] == 'dst' and t['name'].startswith('CPU ') for t in r['cpu_after_run']['threads']) $want_vcpus" True
        expect_value "CPU trace: the destination's vCPUs ran in that window" \
            "sum(t['ran_ms'] for t in r['cpu_after_run']['threads'] if t['side'] == 'dst' and t['name'].startswith('CPU ')) > 0" True
        expect_value "CPU trace: the source's threads are there too" \
            "any(t['side'] == 'src' for t in r['cpu_after_run']['threads'])" True
        echo "measured: $(json_get "r['faults']['window_requests']") faults in the first 100 ms," \
            "$(json_get "r['faults']['requests']") in all, served in $(json_get "r['faults']['latency_median_ms']") ms median"
    fi
    echo "measured: QEMU downtime $(json_get "r['migration']['downtime_ms']") ms," \
        "longest ping gap $(json_get "round(r['network']['longest_gap_ms'])") ms," \
        "$(json_get "r['network']['pings_lost']") of $(json_get "r['network']['pings_sent']") pings lost"
else
    expect_value "migration cancelled" "r['migration']['status']" cancelled
    expect_value "source kept running" "r['scenario']['source_kept_running']" ok
    expect_value "no ping lost" "r['network']['pings_lost']" 0
    expect_value "MAC still on the source tap" "r['network']['mac_port_at_end']" "source tap"
fi
expect_value "no CORRUPT line from the guest" "(r['guest']['src_corrupt'] or 0) + (r['guest']['dst_corrupt'] or 0)" 0
finish
