#!/usr/bin/env bash
# Hostile bytes on the wire, the short run: a few random trials per
# message kind (hello/ack pings, pre-discard, discard and receive bitmaps) through
# the damaging proxy (tests/migration/wire_proxy.py), every acceleration
# on. Each must end byte-identical, or refused with the source running and
# a retry byte-identical; never a crash, a hang or different memory.
# Then the damages that once found bugs, each once: they must be refused
# (or, for receive bitmaps, recovered from) with an error naming them.
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

# The damages that found bugs, every time (docs/reliability.md): each
# must be refused or recovered from with an error naming the message.
regressions=(
    "prediscard prediscard:0:drop"           # an ack that did not count the bitmaps
    "discard discard:0:drop"
    "recvbitmap recv-bitmap:5:drop"          # the last receive bitmap lost: no end to the wait
    "recvbitmap recv-bitmap:0:duplicate"     # one counted twice: resumed too early
    "recvbitmap recv-bitmap:2:flip@0^0x92"   # a bad type ended 7.2's return path for good
)
for r in "${regressions[@]}"; do
    read -r kind damage <<<"$r"
    python3 "$(dirname "$0")/hostile_wire.py" --qemu "$QEMU" --plugin "$PLUGIN" \
        --driver "$DRIVER" --guest-dir "$GUEST_DIR" --run-dir "$TEST_TMP/run-regress" \
        --trials 1 --kinds "$kind" --damage "$damage" --json "$TEST_TMP/regress.json" \
        >"$TEST_TMP/regress.log" 2>&1
    check_with_python "$damage" "$TEST_TMP/regress.json" <<'EOPY'
import json, sys
t = json.load(open(sys.argv[1]))["trials"][0]
print(f"{t['outcome']}: {t['damage'] or 'never seen'}")
sys.exit(0 if t["outcome"] in ("refused-named", "recovered-named") else 1)
EOPY
done
finish
