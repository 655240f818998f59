#!/usr/bin/env bash
# QEMU's own migration features (10.0's; postcopy-bandwidth on every
# series) with every acceleration asked for (trace-install=loose,
# wp-granularity=1G, switchover=bitmap, transport=io_uring). Each
# feature either works with them, or the accelerations it excludes step
# aside with a log line and a counter; the migration always completes with
# memory verified.
#   test-qemu-features.sh SRC BUILD FEATURE
# FEATURE:
#   multifd           pages go through multifd channels; 10.0 refuses
#                     postcopy with multifd, so switchover=bitmap steps aside
#   postcopy-preempt  bitmap switchover with urgent pages on a second
#                     channel, sent from the return path thread, and the
#                     background push limited by max-postcopy-bandwidth
#   postcopy-bandwidth  bitmap switchover without preempt, the push limited
#                     by max-postcopy-bandwidth (every series)
#   switchover-ack    bitmap switchover gated by the destination's ack
#   auto-converge     precopy long enough for auto-converge's timer to run
#                     syncs from the main loop: loose syncs from two threads
#   mapped-ram        a paused guest saved to a file and restored (no
#                     return path, no postcopy): switchover=bitmap steps aside
. "$(dirname "$0")/../lib.sh" "$1" "$2"
feature=$3
require_file "$QEMU" "run scripts/build.sh --series ${MIGACCEL_SERIES:-<series>}"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

accel_props=(trace-install=loose wp-granularity=1G switchover=bitmap transport=io_uring)
busy_append="console=ttyS0 quiet mig.threads=2 mig.hot_mb=256"
log=$TEST_TMP/run/src-stderr.log

# check_stats JSON EXPECT...: each EXPECT is KEY=VALUE, KEY>=N or KEY>N
# on the source's accelerator stats
check_stats() {
    check_with_python "accelerator stats" "$@" <<'EOPY'
import json, re, sys
s = json.load(open(sys.argv[1]))
s = s.get("accel_stats", {}).get("src", s)
errors, facts = [], []
for e in sys.argv[2:]:
    key, op, want = re.match(r"([a-z0-9_]+)(>=|>|=)(.*)", e).groups()
    have = s.get(key)
    facts.append(f"{key}={have}")
    if op == "=":
        good = str(have) == want
    else:
        good = isinstance(have, int) and (have >= int(want) if op == ">=" else have > int(want))
    if not good:
        errors.append(f"expected {e}")
print(" ".join(facts) + ("; " + "; ".join(errors) if errors else ""))
sys.exit(1 if errors else 0)
EOPY
}

# The driver's migrations: source and destination on this machine
run_driver() {
    local args=(--qemu "$QEMU" --plugin "$PLUGIN" --verify --run-dir "$TEST_TMP/run"
                --kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
                --accel tcg --smp 2 --mem 2G --append "$busy_append")
    local p
    for p in "${accel_props[@]}"; do
        args+=(--accel-prop "$p")
    done
    echo "running: $DRIVER ${args[*]} $*"
    local status=0
    "$DRIVER" "${args[@]}" "$@" --json "$TEST_TMP/report.json" || status=$?
    if [ "$status" != 0 ]; then
        not_ok "the migration failed (driver exit $status)"
        show_run_logs 15
        finish
    fi
    ok "migration with $feature completed, memory verified"
}

case "$feature" in
multifd)
    run_driver --capability multifd=on --capability postcopy-ram=off \
        --qemu-arg=-trace --qemu-arg=enable=multifd_send_thread_end
    # the source's multifd threads say how many packets each sent
    packets=$(sed -n 's/.*multifd_send_thread_end .*packets \([0-9]*\).*/\1/p' "$log" |
              awk '{ n += $1 } END { print n + 0 }')
    if [ "$packets" -gt 0 ]; then
        ok "pages went through the multifd channels ($packets packets)"
    else
        not_ok "no multifd packets in the source's trace"
    fi
    expect_contains "switchover=bitmap steps aside, said" "$log" \
        "switchover=bitmap needs the postcopy-ram capability on both sides"
    check_stats "$TEST_TMP/report.json" trace_loose_syncs'>'0 wp_summary_block_syncs'>'0 \
        switchover_mode=precopy switchover_fallbacks'>='1
    ;;
postcopy-preempt)
    # A postcopy bandwidth limit idles the main channel between its
    # windows: requests must still reach the source (patch 0017)
    run_driver --capability postcopy-ram=on --capability postcopy-preempt=on \
        --max-bandwidth 200M --param max-postcopy-bandwidth=100000000
    check_stats "$TEST_TMP/report.json" trace_loose_syncs'>'0 switchover_mode=bitmap \
        discard_format=compressed peer_state=migaccel stream_bytes'>'0
    ;;
postcopy-bandwidth)
    # Without preempt requested pages share the main channel with the
    # rate-limited push: they must not wait for its next window (10.0 0018,
    # 7.2 0028); the migration completes with memory verified
    run_driver --capability postcopy-ram=on --max-bandwidth 200M \
        --param max-postcopy-bandwidth=100000000
    check_stats "$TEST_TMP/report.json" switchover_mode=bitmap discard_format=compressed \
        peer_state=migaccel postcopy_queue_bounds'>='1
    ;;
switchover-ack)
    run_driver --capability postcopy-ram=on --capability return-path=on \
        --capability switchover-ack=on --max-bandwidth 200M
    check_stats "$TEST_TMP/report.json" switchover_mode=bitmap discard_format=compressed \
        peer_state=migaccel
    ;;
auto-converge)
    # Mostly zero memory: the first pass is quick; then the 256 MiB hot set
    # at 40 MB/s takes over 5 s per pass, and auto-converge's timer syncs
    # from the main loop when no sync came for 5 s. postcopy is off, so
    # switchover=bitmap steps aside; after 25 s a 10 s downtime is allowed.
    run_driver --capability auto-converge=on --capability postcopy-ram=off \
        --max-bandwidth 40M --converge-after 25 --converge-downtime-limit 10000 \
        --qemu-arg=-trace --qemu-arg=enable=cpu_throttle_dirty_sync
    expect_contains "auto-converge's timer ran a sync" "$log" "cpu_throttle_dirty_sync"
    check_stats "$TEST_TMP/report.json" trace_loose_syncs'>'1 switchover_mode=precopy
    ;;
mapped-ram)
    mkdir -p "$TEST_TMP/run"
    if python3 - "$QEMU" "$PLUGIN" "$GUEST_DIR" "$TEST_TMP" "${accel_props[@]}" <<'EOPY'
import json, os, socket, subprocess, sys, time
qemu, plugin, guest, tmp = sys.argv[1:5]
props = sys.argv[5:]
run = os.path.join(tmp, "run")
mem = "1G"

class QMP:
    def __init__(self, path):
        for _ in range(200):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")
    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']['desc']}")
            return r["return"]

def start(side, extra):
    qmp = os.path.join(run, side + ".qmp")
    accel = ",".join(["migration-accel", "id=ma0", "plugin=" + plugin] +
                     ["args=" + p for p in props])
    args = [qemu, "-nodefaults", "-display", "none", "-machine", "pc", "-accel", "tcg",
            "-smp", "2", "-m", mem, "-L", "/usr/share/qemu", "-L", "/usr/share/seabios",
            "-kernel", os.path.join(guest, "vmlinuz"),
            "-initrd", os.path.join(guest, "initramfs.cpio.gz"),
            "-append", "console=ttyS0 quiet mig.threads=2 mig.hot_mb=128",
            "-serial", "file:" + os.path.join(run, side + "-serial.log"),
            "-qmp", "unix:" + qmp + ",server=on,wait=off",
            "-object", accel] + extra
    err = open(os.path.join(run, side + "-stderr.log"), "w")
    return subprocess.Popen(args, stderr=err, stdout=err), QMP(qmp)

def wait_migration(q, what):
    for _ in range(1200):
        st = q.cmd("query-migrate").get("status")
        if st == "completed":
            return
        if st in ("failed", "cancelled"):
            raise RuntimeError(f"{what}: {st}: {q.cmd('query-migrate').get('error-desc')}")
        time.sleep(0.1)
    raise RuntimeError(f"{what}: timed out")

def dump(q, side):
    path = os.path.join(run, side + ".mem")
    q.cmd("pmemsave", val=0, size=1 << 30, filename=path)
    return path

caps = [{"capability": "mapped-ram", "state": True}]
file_uri = "file:" + os.path.join(run, "vm.state")
src, sq = start("src", [])
procs = [src]
try:
    time.sleep(8)                    # the guest boots and dirties its hot set
    # Paused first, as virsh save does: a busy guest running at file speed
    # would never converge (trace-install=loose is moot when paused)
    sq.cmd("stop")
    sq.cmd("migrate-set-capabilities", capabilities=caps)
    sq.cmd("migrate", uri=file_uri)
    wait_migration(sq, "migration to the file")
    print("ok: migration to the file with mapped-ram completed")
    src_mem = dump(sq, "src")
    stats = sq.cmd("qom-get", path="/objects/ma0", property="stats")
    json.dump(stats, open(os.path.join(tmp, "report.json"), "w"))
    dst, dq = start("dst", ["-S", "-incoming", "defer"])
    procs.append(dst)
    dq.cmd("migrate-set-capabilities", capabilities=caps)
    dq.cmd("migrate-incoming", uri=file_uri)
    wait_migration(dq, "loading the file")
    dst_mem = dump(dq, "dst")
    if subprocess.run(["cmp", "-s", src_mem, dst_mem]).returncode != 0:
        print("FAIL: guest memory differs between the source and the restored destination")
        sys.exit(1)
    print(f"ok: memory verified: the restored guest's {mem} is identical")
finally:
    for p in procs:
        p.kill()
        p.wait()
EOPY
    then
        ok "mapped-ram migration and restore, memory verified"
    else
        not_ok "the mapped-ram migration or restore failed"
        show_run_logs 15
        finish
    fi
    expect_contains "switchover=bitmap steps aside, said" "$log" \
        "switchover=bitmap needs the postcopy-ram capability on both sides"
    check_stats "$TEST_TMP/report.json" wp_summary_block_syncs'>'0 switchover_mode=precopy \
        switchover_fallbacks'>='1 peer_state=none
    ;;
*)
    echo "unknown feature $feature" >&2
    exit 2
    ;;
esac
finish
