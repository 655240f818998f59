#!/usr/bin/env bash
# One live migration over QMP with the patched QEMU and the plugin, checked
# by the driver: the destination's guest memory must be byte-identical to
# the source's at switchover, and the guest's own pattern check must find
# no lost write afterwards.
#   test-migration.sh SRC BUILD SCENARIO [stock|loose] [4K|2M|1G]
# SCENARIO: one of the scenario column of scenarios.tsv (the list meson
# makes the tests from); the case below sets each up. Then the plugin's
# trace-install mode (default stock) and wp-granularity
# (default 4K). With loose, the accelerator's stats must show that precopy
# syncs ran loose; with 2M or 1G, that every sync read the dirty bitmap
# through QEMU's summary and skipped clean regions.
. "$(dirname "$0")/../lib.sh" "$1" "$2"
scenario=$3
trace_mode=${4:-stock}
wp=${5:-4K}
if ! awk -v s="$scenario" '!/^#/ && $2 == s { found = 1 } END { exit !found }' \
        "$(dirname "$0")/scenarios.tsv"; then
    echo "scenario $scenario is not in tests/migration/scenarios.tsv" >&2
    exit 2
fi
case "$trace_mode" in
stock|loose|default) ;;
*) echo "unknown trace-install mode $trace_mode" >&2; exit 2 ;;
esac
case "$wp" in
4K|2M|1G|default) ;;
*) echo "unknown wp-granularity $wp" >&2; exit 2 ;;
esac
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"

# A boot takes 7-20 s here; 120 s leaves a hung one time to be retried
common=(--qemu "$QEMU" --plugin "$PLUGIN" --verify --run-dir "$TEST_TMP/run"
        --ready-timeout 120)
# "default": the option not given, the plugin's default in force
if [ "$trace_mode" != default ]; then
    common+=(--accel-prop "trace-install=$trace_mode")
fi
if [ "$wp" != default ]; then
    common+=(--accel-prop "wp-granularity=$wp")
fi
# trace-install=stock runs are the stock behaviours' coverage: every
# option that has one at its stock value (the switchover: where the
# scenario does not need the bitmap, it is precopy without postcopy-ram;
# with it, the switch right after the first pass, as virsh migrate
# --postcopy-after-precopy does)
if [ "$trace_mode" = stock ]; then
    common+=(--accel-prop transport=socket --accel-prop first-pass=all
             --accel-prop precopy-max-passes=1)
fi
kernel_guest=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
              --accel tcg --smp 2 --mem 2G)
busy_append="console=ttyS0 quiet mig.threads=2 mig.hot_mb=256"

case "$scenario" in
busy)
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append")
    ;;
busy-smp4)
    # more vCPUs than host cores: vCPUs are often descheduled mid-TB
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
          --accel tcg --smp 4 --mem 2G
          --append "console=ttyS0 quiet mig.threads=4 mig.hot_mb=256")
    ;;
busy-numa)
    # Two NUMA nodes, each its own RAM block: the second block does not
    # start at ram_addr_t 0, the case where re-arming TCG's write tracking
    # with a block-relative address would miss the block's pages.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append")
    for a in -object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=1G \
             -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1; do
        args+=(--qemu-arg="$a")
    done
    ;;
busy-16g)
    # Two dirty memory blocks (8 GiB each) and sixteen 1 GiB regions, few
    # of them ever written: reserve=off, the guest touches what it uses.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
          --accel tcg --smp 2 --mem 16G --append "$busy_append"
          --qemu-arg=-object --qemu-arg=memory-backend-ram,id=m0,size=16G,reserve=off
          --qemu-arg=-machine --qemu-arg=memory-backend=m0)
    ;;
xmc)
    # Cross-modifying code, a JIT's pattern (guest/README.md), while syncs
    # run: a translation a vCPU makes during a loose sync must still be
    # invalidated by another vCPU's write to its page; a stale result is a
    # CORRUPT line. Three vCPUs: the code writer, the executor and a
    # hot-set worker, whose 64 MiB keep precopy going for several syncs.
    # A loose sync of this guest lasts some 30 us: slow-loose-sync holds
    # each open for 20 ms, so that translations happen during them.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
          --accel tcg --smp 3 --mem 2G --accel-prop x-inject-fault=slow-loose-sync
          --append "console=ttyS0 quiet mig.threads=1 mig.hot_mb=64 mig.xmc=1")
    ;;
idle)
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "console=ttyS0 quiet mig.threads=1 mig.hot_mb=0")
    ;;
postcopy)
    # QEMU's postcopy with the plugin loaded: switch 1 s in, while the
    # first pass (capped at 100 MB/s) is far from done; the destination
    # stays paused (-S) until the last page has arrived, then the driver
    # compares all of memory as after precopy.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append" --postcopy-after 1.0
          --max-bandwidth 100M --accel-prop switchover=precopy)
    ;;
sparse|sparse-dst-runs)
    # 16 GiB (reserve=off) of which the guest has touched some 1.3 GiB at
    # READY; one more thread first-touches 1 GiB from READY on, at 64 MiB/s,
    # through the first pass (capped at 200 MB/s). The source leaves out
    # what its host never populated: a page first touched after the query
    # must still arrive (the driver compares all memory).
    # sparse-dst-runs: the destination runs from the switch on
    # (postcopy-preempt on), so its guest touches pages the first pass left
    # out, and the source must send them when asked (trace
    # ram_requeue_unsent) instead of taking them for sent. The guest's own
    # check of every grown page stands for the memory comparison: a round
    # must run wholly on the destination (grow_checks; rounds start 2 s
    # apart and take longer while pages fault in, hence 6 s of post-run).
    # Growth is slower (32 MiB/s, 32 s) so it is still under way at the
    # switch on a loaded machine, and postcopy's push is capped
    # (max-postcopy-bandwidth, unlimited by default) so it lasts seconds: a
    # guest stalled on faults in a short postcopy may first-touch no fresh
    # page before the last one arrives (seen in CI: 0 such requests in a
    # 0.5 s postcopy).
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    grow_mbps=64
    [ "$scenario" = sparse ] || grow_mbps=32
    args=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
          --accel tcg --smp 2 --mem 16G --capability postcopy-ram=on --max-bandwidth 200M
          --append "$busy_append mig.grow_mb=1024 mig.grow_mbps=$grow_mbps"
          --qemu-arg=-object --qemu-arg=memory-backend-ram,id=m0,size=16G,reserve=off
          --qemu-arg=-machine --qemu-arg=memory-backend=m0)
    if [ "$scenario" = sparse-dst-runs ]; then
        kept=()
        for a in "${common[@]}"; do
            [ "$a" = --verify ] || kept+=("$a")
        done
        common=("${kept[@]}")
        args+=(--dst-runs --capability postcopy-preempt=on --param max-postcopy-bandwidth=104857600
               --qemu-arg=-trace --qemu-arg=ram_requeue_unsent --post-run 6)
    fi
    ;;
hugetlbfs)
    # Guest RAM on 2 MiB huge pages (memfd, hugetlb=on, shared), the
    # bitmap switchover: hugetlbfs has no SEEK_DATA, so the plugin answers
    # from the page tables when the file holds no page they do not show.
    # Both QEMUs need 512 huge pages: reserved here for the test if root
    # can, given back afterwards.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    reserve_huge_pages 1040
    args=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
          --accel tcg --smp 2 --mem 1G --capability postcopy-ram=on --max-bandwidth 200M
          --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=128"
          --qemu-arg=-object
          --qemu-arg=memory-backend-memfd,id=m0,size=1G,hugetlb=on,hugetlbsize=2M,share=on
          --qemu-arg=-machine --qemu-arg=memory-backend=m0)
    ;;
file-stale-dst)
    # The source maps a file privately (its data and the pages copied on
    # write both count); the destination's RAM is a shared file that
    # already holds data where the source has none, as a reused backing
    # file would: the destination must zero it before it lets the source
    # leave pages out, or memory would differ. Precopy over a return path:
    # userfaultfd (postcopy) cannot register a regular file's mapping.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    python3 - "$TEST_TMP/dst.ram" <<'EOPY'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(2 << 30)
    for page in range(0, (2 << 30) // 4096, 997):
        f.seek(page * 4096)
        f.write(b"\xaa" * 64)
EOPY
    : > "$TEST_TMP/src.ram"
    args=("${kernel_guest[@]}" --append "$busy_append" --capability return-path=on
          --qemu-arg=-machine --qemu-arg=memory-backend=m0
          --src-qemu-arg=-object
          --src-qemu-arg="memory-backend-file,id=m0,size=2G,mem-path=$TEST_TMP/src.ram,share=off"
          --dst-qemu-arg=-object
          --dst-qemu-arg="memory-backend-file,id=m0,size=2G,mem-path=$TEST_TMP/dst.ram,share=on")
    ;;
defaults)
    # The plugin loaded with no options, postcopy-ram on: its stats must
    # show the accelerations (loose, 1G, the bitmap switchover, io_uring).
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append" --capability postcopy-ram=on
          --max-bandwidth 200M)
    ;;
postcopy-stock-peer)
    # As postcopy, but the destination has no accelerator: the source's
    # hello is echoed, so the discard goes as QEMU's own range commands.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append" --postcopy-after 1.0
          --max-bandwidth 100M --dst-no-plugin --accel-prop switchover=precopy)
    ;;
calm)
    # A guest that dirties its 256 MiB far slower than the link (two
    # threads at 4 MiB/s each, 200 MB/s): with the plugin's defaults the
    # first pass leaves well under half of what it sent, so further passes
    # follow while each halves what is left (precopy-max-passes), and
    # little or nothing is left for postcopy. The margin holds on a loaded
    # machine: a first pass five times slower still leaves under a fifth.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append mig.mbps=4" --capability postcopy-ram=on
          --max-bandwidth 200M)
    ;;
bitmap-switchover)
    # The vMotion flow: the plugin switches to postcopy after the first
    # pass; the still-dirty pages go as one compressed bitmap per RAM
    # block, the destination pulls and receives the rest (-S: paused until
    # the last page, then all of memory is compared).
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append" --capability postcopy-ram=on
          --accel-prop switchover=bitmap --max-bandwidth 200M)
    ;;
precopy-held|precopy-allowed)
    # When switchover=bitmap lets QEMU complete by precopy. A 60 s downtime
    # limit makes QEMU offer to complete by precopy at its first iteration
    # (with 2 or 10 s, whether the offer came before the plugin's switch
    # after the first pass depended on a bandwidth reading: 1 run in 4 on
    # 7.2 had none). precopy-downtime-max-ms=0 must decline it, and the
    # plugin switch over with the bitmap (from the start: the limit also
    # makes QEMU sync at once); the largest value must let precopy
    # complete, with no postcopy phase.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    max_ms=0
    if [ "$scenario" = precopy-allowed ]; then
        max_ms=2000000
    fi
    args=("${kernel_guest[@]}" --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=8"
          --capability postcopy-ram=on --accel-prop switchover=bitmap
          --accel-prop "precopy-downtime-max-ms=$max_ms" --max-bandwidth 200M
          --downtime-limit 60000)
    ;;
bitmap-switchover-uring|uring-missing)
    # As bitmap-switchover with transport=io_uring: from the switch on, the
    # plugin sends the stream (bitmaps, device state, pages) through
    # io_uring. uring-missing pretends this kernel has no io_uring: QEMU
    # must keep sending, and the plugin say why.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append" --capability postcopy-ram=on
          --accel-prop switchover=bitmap --accel-prop transport=io_uring --max-bandwidth 200M)
    if [ "$scenario" = uring-missing ]; then
        args+=(--accel-prop x-inject-fault=uring-missing)
    fi
    ;;
postcopy-recover|recv-corrupt)
    # A bitmap switchover whose connection breaks in postcopy (migrate-pause
    # half a second in, postcopy slowed to 20 MB/s so it is still running):
    # both sides must reach postcopy-paused; migrate-recover on the
    # destination and migrate resume=true on the source must complete it,
    # the receive bitmaps going back compressed, with memory intact.
    # recv-corrupt: the destination spoils its first receive bitmap; the
    # source must refuse it, both sides pause again, and the second
    # recovery must complete.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append" --capability postcopy-ram=on
          --accel-prop switchover=bitmap --max-bandwidth 200M
          --param max-postcopy-bandwidth=20971520 --scenario postcopy-pause --after 0.5)
    if [ "$scenario" = recv-corrupt ]; then
        args+=(--accel-prop x-inject-fault=recv-flip)
    fi
    ;;
discard-corrupt|discard-truncate|prediscard-corrupt)
    # The source's plugin spoils its first discard bitmap: the destination
    # must refuse it with a clear error and exit before it could run the
    # guest, the source must keep running, and a retry to a fresh
    # destination (clean bitmap) must complete with memory intact.
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    if [ "$scenario" = discard-corrupt ]; then
        fault=discard-flip
        expect="compressed discard bitmap of '[^']+' rejected: checksum mismatch"
    elif [ "$scenario" = prediscard-corrupt ]; then
        # the bitmap sent before the guest stops: the source never stops
        fault=prediscard-flip
        expect="compressed discard bitmap of '[^']+' rejected: checksum mismatch"
    else
        fault=discard-truncate
        expect="compressed discard bitmap of '[^']+' rejected: malformed or truncated"
    fi
    args=("${kernel_guest[@]}" --append "$busy_append" --capability postcopy-ram=on
          --accel-prop switchover=bitmap --accel-prop "x-inject-fault=$fault"
          --max-bandwidth 200M --scenario dst-rejects --expect-dst-error "$expect")
    ;;
cancel|kill-dst)
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    # A bandwidth cap keeps the first attempt running long enough to be
    # interrupted mid-way; the retry runs at the full --max-bandwidth.
    args=("${kernel_guest[@]}" --append "$busy_append" --scenario "$scenario"
          --after 1.0 --scenario-bandwidth 100M)
    ;;
kvm-bootblock|kvm-bootblock-ring|kvm-bootblock-return-path)
    require_file "$GUEST_DIR/bootblock.img" "run scripts/build-guest.sh"
    if [ ! -c /dev/kvm ]; then
        skip "no /dev/kvm on this machine"
    fi
    if ! { exec 3<>/dev/kvm; } 2>/dev/null; then
        skip "/dev/kvm exists but cannot be opened read-write"
    fi
    exec 3>&-
    probe=$TEST_TMP/kvm-probe.log
    timeout 10 "$QEMU" -nodefaults -display none -machine pc -accel kvm -m 256M \
        "${FIRMWARE_ARGS[@]}" -drive "file=$GUEST_DIR/bootblock.img,format=raw,snapshot=on" \
        -serial "file:$probe" >"$TEST_TMP/kvm-probe.err" 2>&1 || true
    if ! grep -q A "$probe" 2>/dev/null; then
        skip "the boot block does not run under -accel kvm here ($(head -c 300 "$TEST_TMP/kvm-probe.err"))"
    fi
    # No kvmclock: SeaBIOS would register a pvclock structure (at 0xe8c20
    # with Debian's SeaBIOS) that the destination's KVM rewrites when it
    # loads the vCPU state, before the guest runs; that page then differs
    # by design, not by a lost write (docs/kvm-notes.md).
    accel=kvm
    if [ "$scenario" = kvm-bootblock-ring ]; then
        # 65536 entries: a 4096-entry ring fills between syncs here, and this
        # host's KVM then overflows it (docs/kvm-notes.md)
        accel=kvm,dirty-ring-size=65536
    fi
    args=(--bootblock "$GUEST_DIR/bootblock.img" --accel "$accel" --mem 256M --smp 1
          --qemu-arg=-cpu --qemu-arg=qemu64,-kvmclock)
    if [ "$scenario" = kvm-bootblock-return-path ]; then
        # Precopy with a return path: the hello is answered, so the first
        # pass leaves out what KVM's guest never touched, its dirty log
        # cleared before the query
        args+=(--capability return-path=on)
    fi
    ;;
*)
    echo "unknown scenario $scenario" >&2
    exit 2
    ;;
esac

# This machine's nested KVM (PVM) can overflow a dirty ring: it emulates
# guest instructions in batches and pushes their writes into a full ring
# (kernel WARNING at kvm_dirty_ring_push, docs/kvm-notes.md), and the
# overwritten entries are lost whatever QEMU does. WARN_ON_ONCE: one line
# per boot.
# (grep reads all of dmesg: with -q it could exit first, and pipefail would
# count dmesg's SIGPIPE as a failure)
# The line can also have scrolled out of the kernel's log buffer (each
# network test adds some 20 bridge lines): then a warning since boot (taint
# flag W) in a log that no longer reaches back to boot is all there is.
ring_overflow_warning() {
    local line taint first
    line=$(dmesg 2>/dev/null | grep 'kvm_dirty_ring_push' | sed -n '1{s/^\[[^]]*\] //;p}')
    if [ -n "$line" ]; then
        echo "$line"
        return
    fi
    taint=$(cat /proc/sys/kernel/tainted 2>/dev/null || echo 0)
    first=$(dmesg 2>/dev/null | sed -n '1s/^\[ *\([0-9]*\)\..*/\1/p')
    if (( taint & 512 )) && [ -n "$first" ] && [ "$first" -gt 0 ]; then
        echo "the kernel has warned since boot (taint W) and its log now starts ${first} s after boot," \
             "so the warning's line is no longer there to quote"
    fi
}

echo "running: $DRIVER ${common[*]} ${args[*]}"
status=0
"$DRIVER" "${common[@]}" "${args[@]}" --json "$TEST_TMP/report.json" 2>&1 |
    tee "$TEST_TMP/driver.log" || status=$?
# A guest that hangs while booting (seen once in CI: QEMU 7.2, TCG, 4 vCPUs
# on 2 host cores; never reproduced) has not migrated yet: nothing of the
# accelerator ran. Boot it once more, saying so, with the first boot's
# serial tail and vCPU registers kept in the output.
if [ "$status" != 0 ] && grep -q 'guest did not print .* within' "$TEST_TMP/driver.log"; then
    echo "RETRY: the guest hung while booting, before any migration; its registers:"
    head -c 3000 "$TEST_TMP/run/src-registers.txt" 2>/dev/null || true
    rm -rf "$TEST_TMP/run"
    status=0
    "$DRIVER" "${common[@]}" "${args[@]}" --json "$TEST_TMP/report.json" || status=$?
fi
if [ "$status" = 0 ]; then
    checked="memory verified"
    if [[ " ${common[*]} " != *" --verify "* ]]; then
        checked="the guest's own memory check passed"
    fi
    ok "migration ($scenario, trace-install=$trace_mode, wp-granularity=$wp) completed, $checked"
    # Did the mode do what it says? (cancel/kill-dst: the last attempt's figures)
    if [ "$scenario" = busy ] || [ "$scenario" = bitmap-switchover ]; then
        check_with_python "switchover timeline on the host clock" "$TEST_TMP/report.json" <<'EOPY'
import json, sys
marks = json.load(open(sys.argv[1]))["timeline"]["marks_ms"]
want = ["src STOP", "src MIGRATION completed", "dst MIGRATION completed", "dst RESUME"]
missing = [m for m in want if m not in marks]
if missing:
    print("missing marks: " + ", ".join(missing) + f" (have {sorted(marks)})")
    sys.exit(1)
bad = [m for m in want if marks[m] < 0]
print("; ".join(f"{m} {marks[m]:+.1f} ms" for m in want) +
      (f"; before the source stopped: {', '.join(bad)}" if bad else ""))
sys.exit(1 if bad or marks["src STOP"] != 0 else 0)
EOPY
    fi
    if [ "$scenario" = uring-missing ]; then
        expect_contains "the source says why QEMU sent the stream itself" \
            "$TEST_TMP/run/src-stderr.log" "transport io_uring unavailable, using socket"
    fi
    if [ "$scenario" = xmc ]; then
        # the check ran: rounds on both sides of the switch
        for side in src dst; do
            rounds=$(sed -n 's/.*xmc_rounds=\([0-9]*\).*/\1/p' "$TEST_TMP/run/$side-serial.log" | tail -1)
            if [ "${rounds:-0}" -gt 0 ]; then
                ok "cross-modifying code ran on the $side ($rounds rounds)"
            else
                not_ok "no cross-modifying code rounds in the $side's console"
            fi
        done
    fi
    if [ "$scenario" = file-stale-dst ]; then
        expect_contains "the destination zeroed the data its file held" \
            "$TEST_TMP/run/dst-stderr.log" "pages of RAM block 'm0' that held data here before the migration"
    fi
    if [ "$scenario" = sparse-dst-runs ]; then
        requeued=$(grep -c ram_requeue_unsent "$TEST_TMP/run/src-stderr.log" || true)
        if [ "${requeued:-0}" -gt 0 ]; then
            ok "the source sent $requeued left-out pages the running destination asked for"
        else
            not_ok "the destination ran into postcopy, but asked for no page the first pass left out"
        fi
        # a round that began on the destination: two more than the source's last
        src_checks=$(sed -n 's/.*grow_checks=\([0-9]*\).*/\1/p' "$TEST_TMP/run/src-serial.log" | tail -1)
        dst_checks=$(sed -n 's/.*grow_checks=\([0-9]*\).*/\1/p' "$TEST_TMP/run/dst-serial.log" | tail -1)
        if [ -n "$src_checks" ] && [ "${dst_checks:-0}" -ge $((src_checks + 2)) ]; then
            ok "the destination's guest checked every grown page (rounds: $src_checks on the source, $dst_checks at the end)"
        else
            not_ok "no full round of the guest's check of its grown pages ran on the destination (source ${src_checks:-none}, destination ${dst_checks:-none})"
        fi
    fi
    if [ "$scenario" = recv-corrupt ]; then
        expect_contains "the source says why it refused the receive bitmap" \
            "$TEST_TMP/run/src-stderr.log" "' rejected: checksum mismatch"
        expect_contains "the source says the migration paused again" \
            "$TEST_TMP/run/src-stderr.log" "could not be loaded; migration paused again"
    fi
    check_with_python "accelerator stats" "$TEST_TMP/report.json" "$trace_mode" "$wp" "$scenario" \
            "${common[*]} ${args[*]}" "$TEST_TMP/run/src-stderr.log" <<'EOPY'
import json, os, sys
report, mode, wp, scenario = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
argv, src_log = sys.argv[5].split(), open(sys.argv[6], errors="replace").read()
# no option given: the defaults, the accelerations
mode = "loose" if mode == "default" else mode
wp = "1G" if wp == "default" else wp
transport = "socket" if "transport=socket" in argv else "io_uring"
switchover_set = any(a.startswith("switchover=") for a in argv)
s = report["accel_stats"]["src"]
track = s["dirty_tracking"]  # tcg, kvm-bitmap[-manual|-initially-set], kvm-ring
loose, stock = s["trace_loose_syncs"], s["trace_stock_syncs"]
held, vcpus = s["vcpu_held_count"], sum(1 for k in s if k.endswith("_held_ns_max") and k.startswith("vcpu") and k[4].isdigit())
facts = f"tracking={track} loose_syncs={loose} stock_syncs={stock} vcpu_held_count={held} vcpus={vcpus} marked={s['vcpu_marked_pages']} held_ns_max={s['vcpu_held_ns_max']}"
errors = []
if s["trace_install_loose"] != (mode == "loose"):
    errors.append("trace_install_loose does not match the property")
if not vcpus:
    errors.append("no per-vCPU tracking figures")
if mode == "stock" or track.startswith("kvm-bitmap"):
    # no loose mode for the KVM bitmap: nothing there holds a vCPU anyway
    if loose:
        errors.append("syncs ran loose")
    # TCG: one run_on_cpu() wait per vCPU, per sync and per address space
    # of the vCPU (x86: memory and SMM, so two); the ring: one kick
    per_sync = vcpus * stock
    if track == "tcg" and (held < per_sync or held % per_sync):
        errors.append(f"expected a whole number of holds per vCPU per sync ({vcpus}x{stock})")
    if track == "kvm-ring" and held != per_sync:
        errors.append(f"expected one kick per vCPU per sync ({vcpus}x{stock})")
else:
    if loose < 1 or stock < 1:
        errors.append("expected loose precopy syncs and a stock final sync")
    if track == "kvm-ring" and held != vcpus * stock:
        errors.append(f"ring: expected kicks only at the {stock} stock sync(s)")
wp_bytes = {"4K": 4096, "2M": 2 << 20, "1G": 1 << 30}[wp]
if s["wp_granularity_in_force_bytes"] != wp_bytes:
    errors.append(f"wp-granularity {wp} asked, {s['wp_granularity_in_force_bytes']} bytes in force")
syncs = report["migration"]["dirty_sync_count"]
if wp == "4K":
    if s["wp_summary_block_syncs"]:
        errors.append("wp-granularity=4K but syncs used the summary")
else:
    # every sync of every block through the summary, reading fewer words
    # than a full scan of guest RAM would (one word per 64 pages)
    words_full = report["migration"]["ram_total_bytes"] // 4096 // 64
    read = s["wp_words_read"] / max(1, syncs)
    facts += f" wp_block_syncs={s['wp_summary_block_syncs']} wp_top_regions={s['wp_top_regions_dirty']} wp_2m_regions={s['wp_2m_regions_dirty']} words_per_sync={read:.0f}/{words_full}"
    if s["wp_summary_block_syncs"] < syncs:
        errors.append(f"{s['wp_summary_block_syncs']} summary block syncs for {syncs} syncs")
    if s["wp_top_regions_dirty"] < 1 or s["wp_dirty_words"] < 1:
        errors.append("the summary never found a dirty region")
    if s["wp_search_region_reads"] < 1:
        errors.append("the page search never went through the migration bitmap's summary")
    facts += f" search_region_reads={s['wp_search_region_reads']}"
    if wp == "1G" and s["wp_2m_regions_dirty"] < 1:
        errors.append("1G: no dirty 2 MiB region visited inside a dirty 1 GiB one")
    if read >= words_full:
        errors.append("the summary-guided syncs read as many words as a full scan")
if report["migration"]["postcopy_started_at_s"] is not None:
    facts += f" postcopy_discard_calls={s['postcopy_discard_calls']}"
    if s["postcopy_discard_calls"] < 1:
        errors.append("postcopy ran but the postcopy discard hook was not called")
    d = report["accel_stats"].get("dst") or {}
    facts += (f" switchover_mode={s['switchover_mode']} peer_state={s['peer_state']}"
              f" discard_format={s['discard_format']} discard_wire_bytes={s['discard_wire_bytes']}"
              f" discard_raw_bytes={s['discard_raw_bytes']} discard_encode_ns={s['discard_encode_ns']}"
              f" prediscard_blocks={s['prediscard_blocks_encoded']}"
              f" prediscard_wire_bytes={s['prediscard_wire_bytes']}"
              f" dst_blocks_decoded={d.get('discard_blocks_decoded')}"
              f" dst_decode_ns={d.get('discard_decode_ns')}")
    if scenario == "postcopy-stock-peer":
        # the destination has no accelerator: stock ranges, and we say so
        if s["peer_state"] != "stock" or s["discard_format"] != "stock" or s["discard_blocks_encoded"]:
            errors.append("a destination without the accelerator must get the stock discard format")
    else:
        # both sides have the codec: one compressed bitmap per RAM block
        if s["peer_state"] != "migaccel" or not s["peer_features"] & 1:
            errors.append("the destination's accelerator was not negotiated")
        if s["discard_format"] != "compressed" or s["discard_blocks_encoded"] < 1:
            errors.append("the discard did not go as compressed bitmaps")
        if s["prediscard_blocks_encoded"] != s["discard_blocks_encoded"]:
            errors.append("expected a pre-discard bitmap for every block")
        sent = s["discard_blocks_encoded"] + s["prediscard_blocks_encoded"]
        if d.get("discard_blocks_decoded") != sent:
            errors.append("the destination decoded a different number of bitmaps than were sent")
        if s["discard_wire_bytes"] >= s["discard_raw_bytes"] * 1.01 + 64:
            errors.append("the compressed discard bitmaps are larger than raw + 1 %")
    bitmap_scenarios = ("bitmap-switchover", "bitmap-switchover-uring", "uring-missing",
                        "postcopy-recover", "recv-corrupt", "discard-corrupt",
                        "discard-truncate", "prediscard-corrupt", "precopy-held", "defaults",
                        "sparse", "sparse-dst-runs", "hugetlbfs", "calm")
    want_mode = "bitmap" if scenario in bitmap_scenarios else "postcopy"
    if s["switchover_mode"] != want_mode:
        errors.append(f"switchover_mode {s['switchover_mode']}, expected {want_mode}")
    facts += (f" transport_in_force={s['transport_in_force']} stream_bytes={s['stream_bytes']}"
              f" stream_writes={s['stream_writes']} stream_syscalls={s['stream_syscalls']}"
              f" transport_fallbacks={s['transport_fallbacks']}")
    if scenario == "uring-missing":
        if s["transport_fallbacks"] != 1 or s["stream_opens"] or s["stream_bytes"]:
            errors.append("without io_uring QEMU must send the stream, counted as a fallback")
    elif transport == "io_uring":
        # given or the default: from the switch on, the plugin sends
        if s["stream_opens"] < 1 or not s["transport_in_force"].startswith("io_uring") or s["stream_bytes"] < 1:
            errors.append("transport=io_uring, but the plugin did not send the stream")
        # a send cut by migrate-pause (or by the source refusing a receive
        # bitmap) fails as QEMU's own write would: at most one per pause
        pauses = (report["attempts"][-1]["postcopy_recover_attempts"]
                  if scenario in ("postcopy-recover", "recv-corrupt") else 0)
        facts += f" stream_write_errors={s['stream_write_errors']}"
        if s["transport_fallbacks"] or s["stream_write_errors"] > pauses:
            errors.append(f"transport=io_uring fell back or failed ({s['stream_write_errors']} "
                          f"write error(s), {pauses} pause(s))")
    elif s["stream_opens"] or s["stream_bytes"]:
        errors.append("transport=socket, but the plugin sent the stream")
    if scenario in ("postcopy-recover", "recv-corrupt"):
        att = report["attempts"][-1]
        tries = att["postcopy_recover_attempts"]
        facts += (f" paused_s={att['postcopy_paused_s']} recover_attempts={tries}"
                  f" recv_bitmaps={s['recv_bitmap_blocks_decoded']}"
                  f" recv_errors={s['recv_bitmap_decode_errors']}"
                  f" recv_wire={s['recv_bitmap_wire_bytes']} recv_raw={s['recv_bitmap_raw_bytes']}")
        if att["postcopy_recovered_at_s"] is None:
            errors.append("postcopy was never paused and recovered")
        want_tries, want_errors = (2, 1) if scenario == "recv-corrupt" else (1, 0)
        if tries != want_tries or s["recv_bitmap_decode_errors"] != want_errors:
            errors.append(f"expected {want_tries} recoveries and {want_errors} rejected receive bitmap(s)")
        if scenario == "recv-corrupt" and d.get("faults_injected") != 1:
            errors.append("the destination did not spoil its receive bitmap")
        # after a rejected bitmap the destination may still encode the
        # rest of that round's blocks: the source never reads them
        encoded = d.get("recv_bitmap_blocks_encoded") or 0
        if (s["recv_bitmap_blocks_decoded"] < 1 or
                (encoded < s["recv_bitmap_blocks_decoded"] + want_errors if want_errors
                 else encoded != s["recv_bitmap_blocks_decoded"])):
            errors.append("the receive bitmaps did not come back compressed")
        elif s["recv_bitmap_wire_bytes"] >= s["recv_bitmap_raw_bytes"] * 1.01 + 64:
            errors.append("the compressed receive bitmaps are larger than raw + 1 %")
elif scenario in ("bitmap-switchover", "bitmap-switchover-uring", "uring-missing",
                  "postcopy-recover", "recv-corrupt", "discard-corrupt", "discard-truncate",
                  "prediscard-corrupt", "precopy-held", "defaults", "sparse", "sparse-dst-runs",
                  "hugetlbfs"):
    errors.append("switchover=bitmap, but the migration never switched to postcopy")
postcopy_ram = "postcopy-ram=on" in argv or "--postcopy-after" in argv
if not switchover_set and not postcopy_ram:
    # switchover=bitmap by default, no postcopy-ram: precopy, said and counted
    facts += f" switchover_fallbacks={s['switchover_fallbacks']}"
    if s["switchover_fallbacks"] < 1 or "switchover=bitmap (the default) needs" not in src_log:
        errors.append("the default switchover=bitmap fell back to precopy without a note and a count")
# first-pass: pages the host never populated are left out only when the
# destination said it reads them as zero (its accelerator, over a return path)
dst = report["accel_stats"].get("dst") or {}
peer_can = (postcopy_ram or "return-path=on" in argv) and "--dst-no-plugin" not in argv
skipped, queried = s["first_pass_pages_unpopulated"], s["first_pass_blocks_queried"]
facts += (f" first_pass={s['first_pass']} left_out={skipped} populated={s['first_pass_pages_populated']}"
          f" methods={s['first_pass_methods']} query_us={s['first_pass_query_us']}"
          f" dst_zero_check_blocks={dst.get('dst_zero_check_blocks_queried')}")
if "first-pass=all" in argv:
    if s["first_pass"] != "all" or queried:
        errors.append("first-pass=all, but the first pass left pages out")
elif peer_can:
    if queried < 1 or skipped < 1:
        errors.append("the destination reads unsent pages as zero, but the first pass left nothing out")
    if (dst.get("dst_zero_check_blocks_queried") or 0) < 1:
        errors.append("the destination did not check its memory reads as zero before the source left pages out")
elif queried:
    errors.append("pages left out without a destination that said it reads them as zero")
want_methods = {"hugetlbfs": "hugetlbfs-pagemap", "file-stale-dst": "seek-data+pagemap"}
if scenario in want_methods and want_methods[scenario] not in s["first_pass_methods"]:
    errors.append(f"RAM block m0 should be queried by {want_methods[scenario]}*, used: {s['first_pass_methods']}")
if scenario in ("sparse", "sparse-dst-runs"):
    pages = report["migration"]["ram_total_bytes"] // 4096
    if skipped < pages * 3 // 4:
        errors.append(f"16 GiB guest that touched little: only {skipped} of {pages} pages left out")
    rss = report["rss_after_migration"]["dst_bytes"]
    facts += f" dst_rss_mib={rss >> 20 if rss else None}"
# passes before the switch: a further one only while the last halved what
# was left (precopy-max-passes)
facts += (f" precopy_passes={s['precopy_passes']} left={s['precopy_pass_left_bytes'] >> 20}MiB"
          f" of={s['precopy_pass_left_bytes_before'] >> 20}MiB")
# postcopy-queue-kb: once postcopy ran on the TCP main channel, both sides
# bounded its queue (and after a recovery, again on the new channel)
if s["postcopy_queue_kb"] and report["migration"]["postcopy_started_at_s"] is not None:
    facts += (f" postcopy_queue_bounds={s['postcopy_queue_bounds']}/{dst.get('postcopy_queue_bounds')}"
              f" queue_bytes={s['postcopy_queue_bytes']} rtt_us={s['postcopy_queue_rtt_us']}/{dst.get('postcopy_queue_rtt_us')}")
    if s["postcopy_queue_bounds"] < 1:
        errors.append("postcopy ran on a TCP channel, but the source did not bound its queue")
    if "postcopy_queue_bounds" in dst and dst["postcopy_queue_bounds"] < 1:
        errors.append("postcopy ran on a TCP channel, but the destination did not bound its queue")
if scenario == "calm" and s["precopy_passes"] < 2:
    errors.append(f"a guest dirtying 8 MiB/s over a 200 MB/s link, yet {s['precopy_passes']} "
                  "precopy pass(es) before the switch")
if scenario in ("precopy-held", "precopy-allowed"):
    offers, declined = s["precopy_completion_offers"], s["precopy_completion_declined"]
    facts += (f" precopy_completion_offers={offers} declined={declined}"
              f" expected_us={s['precopy_completion_expected_us']}"
              f" max_ms={s['precopy_downtime_max_ms']}")
    if offers < 1:
        errors.append("QEMU never offered to complete by precopy")
    if scenario == "precopy-held" and declined < 1:
        errors.append("precopy-downtime-max-ms=0, but no precopy completion was declined")
    if scenario == "precopy-allowed":
        if declined:
            errors.append("precopy-downtime-max-ms=2000000, but a precopy completion was declined")
        if report["migration"]["postcopy_started_at_s"] is not None or s["switchover_mode"] != "precopy":
            errors.append(f"expected a precopy completion, got {s['switchover_mode']}")
# what failed first: CI logs may cut this long line short
print(("; ".join(errors) + " | " if errors else "") + facts)
sys.exit(1 if errors else 0)
EOPY
elif [ "$scenario" = kvm-bootblock-ring ] && warning=$(ring_overflow_warning) && [ -n "$warning" ] &&
     pages=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["verify"]; n=v.get("differing_pages") or 0; print(n); sys.exit(0 if n else 1)' \
             "$TEST_TMP/report.json" 2>/dev/null); then
    skip "memory differed in dirty-ring mode ($pages pages), and this host's KVM has overflowed a dirty ring since boot" \
         "($warning):" \
         "lost ring entries cannot be told from a QEMU bug here (docs/kvm-notes.md)"
else
    not_ok "migration ($scenario) failed (driver exit status $status)"
    show_run_logs 15
fi
finish
