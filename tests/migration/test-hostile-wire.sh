#!/usr/bin/env bash
# Hostile bytes on the wire, the short run: a few random trials per
# message kind (hello/ack pings, pre-discard and discard bitmaps) through
# the damaging proxy (tests/migration/wire_proxy.py), every acceleration
# on. Each must end byte-identical, or refused with the source running and
# a retry byte-identical; never a crash, a hang or different memory.
# bench/hostile-wire.sh runs 100 per kind. The seed is printed: rerun
# one with tests/migration/hostile_wire.py --seed N, or one damage with
# --damage SUBTYPE:N:OP.
#   test-hostile-wire.sh SRC BUILD [TRIALS_PER_KIND]
. "$(dirname "$0")/../lib.sh" "$1" "$2"
trials=${3:-3}
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

if python3 "$(dirname "$0")/hostile_wire.py" --qemu "$QEMU" --plugin "$PLUGIN" \
        --driver "$DRIVER" --guest-dir "$GUEST_DIR" --run-dir "$TEST_TMP/run" \
        --trials "$trials" --json "$TEST_TMP/trials.json"; then
    ok "$trials trials per message kind: no crash, hang or different memory"
else
    not_ok "a trial had a forbidden outcome (above)"
fi
finish
