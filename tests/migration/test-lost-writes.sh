#!/usr/bin/env bash
# TCG writes to a RAM block that does not start at ram_addr_t 0 must reach
# the destination.  QEMU 9.0 added a TLB re-arm to the aligned fast path of
# cpu_physical_memory_sync_dirty_bitmap(), but called it with the block's
# own offsets where an absolute address is expected (docs/lost-writes.md):
# the second NUMA node's block then keeps stale writable TLB entries and
# loses writes, and a second block larger than the first trips an assert
# in tlb_reset_dirty_range_all() and aborts the source.
#   test-lost-writes.sh SRC BUILD CASE EXPECT
# CASE: equal (two 1 GiB nodes) or larger (512 MiB + 1.5 GiB); a guest
# thread on each node's vCPU rewrites its share of a 640 MiB hot set, so
# half of the writes land in the second block.
# EXPECT: intact (the migration completes and all of memory and the
# guest's own pattern check agree) or lost (the QEMU under test has the
# bug: the source aborts or memory differs; used on stock QEMU to show
# that the test catches it).  No plugin: this is QEMU's own tracking.
# MIGACCEL_QEMU: the QEMU binary.
. "$(dirname "$0")/../lib.sh" "$1" "$2"
case_name=$3
expect=$4
case "$case_name" in
equal) sizes=(1G 1G) ;;
larger) sizes=(512M 1536M) ;;
*) echo "unknown case $case_name" >&2; exit 2 ;;
esac
case "$expect" in
intact|lost) ;;
*) echo "unknown expectation $expect" >&2; exit 2 ;;
esac
require_file "$QEMU" "run scripts/build.sh --series ${MIGACCEL_SERIES:-<series>}"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

args=(--qemu "$QEMU" --verify --run-dir "$TEST_TMP/run"
      --kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
      --accel tcg --smp 2 --mem 2G
      --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=640")
for a in -object "memory-backend-ram,id=m0,size=${sizes[0]}" \
         -object "memory-backend-ram,id=m1,size=${sizes[1]}" \
         -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1; do
    args+=(--qemu-arg="$a")
done

echo "running: $DRIVER ${args[*]}"
status=0
"$DRIVER" "${args[@]}" --json "$TEST_TMP/report.json" >"$TEST_TMP/driver.log" 2>&1 || status=$?
tail -25 "$TEST_TMP/driver.log"
abort=$(grep -h -m1 -E "Assertion|Aborted|core dumped" "$TEST_TMP"/run/src-stderr.log 2>/dev/null || true)
# differing pages (page by page at switchover) and the guest's own count of
# stale pages it found after the migration
read -r differing corrupt mstatus verified < <(python3 - "$TEST_TMP/report.json" <<'EOPY' 2>/dev/null || echo "- - - -"
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("- - - -"); sys.exit(0)
v = r.get("verify") or {}
g = r.get("guest") or {}
print(v.get("differing_pages", "-"), g.get("dst_corrupt", "-"),
      (r.get("migration") or {}).get("status", "-"), v.get("result") or "-")
EOPY
)
facts="case=$case_name blocks=${sizes[*]} status=$mstatus memory=$verified differing_pages=$differing guest_corrupt=$corrupt driver_exit=$status"
[ -n "$abort" ] && facts+=" source: $abort"

if [ "$expect" = intact ]; then
    if [ "$status" = 0 ] && [ "$verified" = identical ] && [ "$corrupt" = 0 ]; then
        ok "writes to both RAM blocks arrived: $facts"
    else
        not_ok "writes were lost or the migration failed: $facts"
        show_run_logs 10
    fi
else
    if [ -n "$abort" ] || { [ "$differing" != - ] && [ "$differing" != 0 ]; } ||
       { [ "$corrupt" != - ] && [ "$corrupt" != 0 ]; }; then
        ok "this QEMU has the lost-write bug, and the test sees it: $facts"
    else
        not_ok "expected this QEMU to lose writes or abort, but the migration was clean: $facts"
    fi
fi
finish
