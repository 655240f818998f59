#!/usr/bin/env bash
# Mixed peers: the accelerator on one side only, or unloaded between two
# migrations. Every acceleration is on where the plugin is loaded
# (trace-install=loose, wp-granularity=1G, switchover=bitmap,
# transport=io_uring, postcopy-ram on both sides); the destination's
# memory must be byte-identical to the source's (driver --verify).
#   test-mixed-peers.sh SRC BUILD CASE
# CASE:
#   accel-src  accelerated source -> destination without the plugin: the
#              bitmap switchover still happens, its discard in QEMU's
#              own format, and the source says why
#   accel-dst  source without the plugin -> accelerated destination,
#              switched to postcopy by the user (migrate-start-postcopy)
#   unload     the source's first attempt is cancelled, its plugin
#              unloaded (object-del), and the retry runs the patched QEMU
#              with no hooks set, to an accelerated destination
. "$(dirname "$0")/../lib.sh" "$1" "$2"
case_name=${3:?case: accel-src, accel-dst or unload}
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

args=(--qemu "$QEMU" --plugin "$PLUGIN" --verify --run-dir "$TEST_TMP/run"
      --kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
      --accel tcg --smp 2 --mem 2G
      --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=256"
      --accel-prop trace-install=loose --accel-prop wp-granularity=1G
      --accel-prop switchover=bitmap --accel-prop transport=io_uring
      --capability postcopy-ram=on --max-bandwidth 200M)
case "$case_name" in
accel-src) args+=(--dst-no-plugin) ;;
# a stock source never switches by itself: the user does
accel-dst) args+=(--src-no-plugin --postcopy-after 1.0) ;;
# the retry runs without the plugin: postcopy, as the user starts it, makes
# a stock source converge on this guest
unload) args+=(--scenario cancel --after 1.0 --scenario-bandwidth 100M --unload-before-retry
               --postcopy-after 2.0) ;;
*) echo "unknown case $case_name" >&2; exit 2 ;;
esac

echo "running: $DRIVER ${args[*]}"
status=0
"$DRIVER" "${args[@]}" --json "$TEST_TMP/report.json" || status=$?
if [ "$status" != 0 ]; then
    not_ok "migration ($case_name) failed (driver exit status $status)"
    show_run_logs 15
    finish
fi
ok "migration ($case_name) completed, memory verified"

check_with_python "accelerator stats" "$TEST_TMP/report.json" "$case_name" <<'EOPY'
import json, sys
report, case = json.load(open(sys.argv[1])), sys.argv[2]
acc = report["accel_stats"]
src, dst = acc["src"], acc["dst"]
errors, facts = [], []

def accelerated(side, s):
    """The options asked for are set (and on the source, in force)."""
    # a destination tracks nothing: its granularity is set, never in force
    wp = s["wp_granularity_in_force_bytes" if side == "src" else "wp_granularity_bytes"]
    facts.append(f"{side}: trace_install_loose={s['trace_install_loose']}"
                 f" wp={wp} peer_state={s['peer_state']}")
    if not s["trace_install_loose"] or wp != 1 << 30:
        errors.append(f"{side}: trace-install=loose and wp-granularity=1G not set")

if case == "accel-src":
    accelerated("src", src)
    facts.append(f"switchover_mode={src['switchover_mode']} discard_format={src['discard_format']}"
                 f" transport_in_force={src['transport_in_force']} loose_syncs={src['trace_loose_syncs']}")
    if dst is not None:
        errors.append("the destination has stats, so it had the plugin")
    if src["peer_state"] != "stock":
        errors.append("the source did not see a peer without the accelerator")
    if src["switchover_mode"] != "bitmap" or src["discard_format"] != "stock":
        errors.append("expected the bitmap switchover with a discard in QEMU's own format")
    if src["discard_blocks_encoded"] or src["prediscard_blocks_encoded"]:
        errors.append("compressed bitmaps were sent to a peer that cannot read them")
    if src["trace_loose_syncs"] < 1:
        errors.append("no loose sync ran")
elif case == "accel-dst":
    accelerated("dst", dst)
    facts.append(f"dst_setup_calls={dst['dst_setup_calls']}"
                 f" discard_blocks_decoded={dst['discard_blocks_decoded']}")
    if src is not None:
        errors.append("the source has stats, so it had the plugin")
    if report["migration"]["postcopy_started_at_s"] is None:
        errors.append("the migration never switched to postcopy")
    if dst["dst_setup_calls"] < 1:
        errors.append("the destination's accelerator saw no incoming migration")
    if dst["discard_blocks_decoded"] or dst["discard_decode_errors"]:
        errors.append("the destination decoded bitmaps a stock source never sends")
elif case == "unload":
    attempts = [a["status"] for a in report["attempts"]]
    facts.append(f"attempts={attempts} src_stats={acc['src_error']!r}")
    if attempts != ["cancelled", "completed"]:
        errors.append("expected a cancelled attempt, then a completed retry")
    if src is not None or "unloaded" not in (acc["src_error"] or ""):
        errors.append("the source's accelerator was still loaded for the retry")
    accelerated("dst", dst)
    if dst["dst_setup_calls"] != 1:
        errors.append("the retry's destination saw no incoming migration")
print(" ".join(facts) + ("; " + "; ".join(errors) if errors else ""))
sys.exit(1 if errors else 0)
EOPY
if [ "$case_name" = accel-src ]; then
    expect_contains "the source says why the discard went in QEMU's format" \
        "$TEST_TMP/run/src-stderr.log" "the destination has no migration accelerator"
fi
if grep -E 'migaccel.*(ERROR|error)|Assertion|Segmentation' "$TEST_TMP"/run/*-stderr.log; then
    not_ok "an error in a QEMU's log (above)"
else
    ok "no error in the QEMUs' logs"
fi
finish
