#!/usr/bin/env bash
# The control for the xmc scenario: the cross-modifying-code guest under
# TCG, not migrating, must report rounds and no stale result, so that a
# CORRUPT line during a migration means the migration, not the workload.
#   test-xmc-control.sh SRC BUILD [SECONDS]
. "$(dirname "$0")/../lib.sh" "$1" "$2"
seconds=${3:-15}
require_file "$QEMU" "run scripts/build.sh --series ${MIGACCEL_SERIES:-<series>}"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

serial=$TEST_TMP/serial.log
timeout "$((seconds + 30))" "$QEMU" -nodefaults -display none -machine pc \
    -accel tcg,thread=multi -smp 3 -m 1G "${FIRMWARE_ARGS[@]}" \
    -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet mig.threads=1 mig.hot_mb=128 mig.xmc=1" \
    -serial "file:$serial" >"$TEST_TMP/qemu.log" 2>&1 &
qemu_pid=$!
# until the guest has run the check for SECONDS seconds
for _ in $(seq 1 $((seconds + 30))); do
    last=$(sed -n 's/.*mig: sec=\([0-9]*\) .*/\1/p' "$serial" 2>/dev/null | tail -1 || true)
    [ "${last:-0}" -ge "$seconds" ] && break
    sleep 1
done
kill "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true

touch "$serial"
rounds=$(sed -n 's/.*xmc_rounds=\([0-9]*\).*/\1/p' "$serial" | tail -1)
errors=$(sed -n 's/.*mig: sec=.* errors=\([0-9]*\).*/\1/p' "$serial" | tail -1)
if [ "${rounds:-0}" -gt 0 ]; then
    ok "the guest ran ${rounds} cross-modifying-code rounds in ${last:-0} s, not migrating"
else
    not_ok "no cross-modifying-code rounds in the console"
    tail -5 "$serial" "$TEST_TMP/qemu.log" 2>/dev/null
fi
if [ "${errors:-x}" = 0 ] && ! grep -q "mig: CORRUPT" "$serial"; then
    ok "no stale result and no CORRUPT line"
else
    not_ok "the workload failed without a migration (errors=${errors:-?})"
    grep "mig: CORRUPT" "$serial" | head -5
fi
finish
