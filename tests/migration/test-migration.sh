#!/usr/bin/env bash
# One live migration over QMP with the patched QEMU and the plugin, checked
# by the driver: the destination's guest memory must be byte-identical to
# the source's at switchover, and the guest's own pattern check must find
# no lost write afterwards.
#   test-migration.sh SRC BUILD busy|busy-numa|idle|cancel|kill-dst|kvm-bootblock|kvm-bootblock-ring
. "$(dirname "$0")/../lib.sh" "$1" "$2"
scenario=$3
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"

common=(--qemu "$QEMU" --plugin "$PLUGIN" --verify --run-dir "$TEST_TMP/run")
kernel_guest=(--kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
              --accel tcg --smp 2 --mem 2G)
busy_append="console=ttyS0 quiet mig.threads=2 mig.hot_mb=256"

case "$scenario" in
busy)
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "$busy_append")
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
idle)
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    args=("${kernel_guest[@]}" --append "console=ttyS0 quiet mig.threads=1 mig.hot_mb=0")
    ;;
cancel|kill-dst)
    require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
    # A bandwidth cap keeps the first attempt running long enough to be
    # interrupted mid-way; the retry runs at the full --max-bandwidth.
    args=("${kernel_guest[@]}" --append "$busy_append" --scenario "$scenario"
          --after 1.0 --scenario-bandwidth 100M)
    ;;
kvm-bootblock|kvm-bootblock-ring)
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
        accel=kvm,dirty-ring-size=4096
    fi
    args=(--bootblock "$GUEST_DIR/bootblock.img" --accel "$accel" --mem 256M --smp 1
          --qemu-arg=-cpu --qemu-arg=qemu64,-kvmclock)
    ;;
*)
    echo "unknown scenario $scenario" >&2
    exit 2
    ;;
esac

echo "running: $DRIVER ${common[*]} ${args[*]}"
if "$DRIVER" "${common[@]}" "${args[@]}" --json "$TEST_TMP/report.json"; then
    ok "migration ($scenario) completed, memory verified"
else
    not_ok "migration ($scenario) failed (driver exit status $?)"
    for f in "$TEST_TMP"/run/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $f"
        tail -15 "$f"
    done
fi
finish
