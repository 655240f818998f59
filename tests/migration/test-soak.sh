#!/usr/bin/env bash
# The soak in the suite: 10 hops of one guest between fresh QEMUs, every
# accelerator option on, postcopy-ram on both sides, a cancelled attempt
# before hops 5 and 10, memory verified on every hop; the accelerator's
# per-migration stats, the QEMUs' RSS and open descriptors must stay flat
# (tests/migration/soak.py says how). bench/soak.sh runs 50 hops.
#   test-soak.sh SRC BUILD [HOPS]
. "$(dirname "$0")/../lib.sh" "$1" "$2"
hops=${3:-10}
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

if python3 "$(dirname "$0")/soak.py" --qemu "$QEMU" --plugin "$PLUGIN" --driver "$DRIVER" \
        --guest-dir "$GUEST_DIR" --run-dir "$TEST_TMP/run" --hops "$hops" --cancel-every 5 \
        --json "$TEST_TMP/soak.json"; then
    ok "$hops hops, memory identical on each, stats, RSS and descriptors flat"
else
    not_ok "soak failed (above); the last hop's driver log:"
    tail -30 "$(ls "$TEST_TMP"/run/hop*-driver.log | tail -1)" 2>/dev/null || true
fi
finish
