#!/usr/bin/env bash
# On a series that does not have an acceleration yet, asking for it must
# never degrade silently: the plugin loads, the migration completes by
# stock means with memory intact, and the log says what stepped aside
# while the stats show what was in force.
#   test-steps-aside.sh SRC BUILD     (MIGACCEL_QEMU: the QEMU under test)
. "$(dirname "$0")/../lib.sh" "$1" "$2"
require_file "$QEMU" "run scripts/build.sh --series ${MIGACCEL_SERIES:-<series>}"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

args=(--qemu "$QEMU" --plugin "$PLUGIN" --verify --run-dir "$TEST_TMP/run"
      --kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
      --accel tcg --smp 2 --mem 2G
      --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=256"
      --capability postcopy-ram=on
      --accel-prop trace-install=loose --accel-prop wp-granularity=1G
      --accel-prop switchover=bitmap --accel-prop transport=io_uring)
echo "running: $DRIVER ${args[*]}"
status=0
"$DRIVER" "${args[@]}" --json "$TEST_TMP/report.json" || status=$?
if [ "$status" != 0 ]; then
    not_ok "the migration failed (driver exit $status)"
    tail -15 "$TEST_TMP"/run/src-stderr.log 2>/dev/null
    finish
fi
ok "migration completed, memory verified"
log=$TEST_TMP/run/src-stderr.log
expect_contains "loose trace install steps aside, said" "$log" \
    "trace-install=loose: this QEMU cannot sync without holding the vCPUs"
expect_contains "the 1 GiB summary steps aside, said" "$log" \
    "wp-granularity=1G: this QEMU cannot summarise its dirty bitmap"
expect_contains "the switchover and stream hooks step aside, said" "$log" \
    "does not call the plugin's codec, switchover and stream hooks yet"
if msg=$(python3 - "$TEST_TMP/report.json" <<'EOPY'
import json, sys
s = json.load(open(sys.argv[1]))["accel_stats"]["src"]
facts = (f"trace_loose_syncs={s['trace_loose_syncs']} trace_stock_syncs={s['trace_stock_syncs']}"
         f" wp_granularity_in_force_bytes={s['wp_granularity_in_force_bytes']}"
         f" switchover_mode={s['switchover_mode']} transport_in_force={s['transport_in_force']}")
errors = []
if s["trace_loose_syncs"] or s["trace_stock_syncs"] < 1:
    errors.append("every sync should have run the stock way")
if s["wp_granularity_in_force_bytes"] != 4096:
    errors.append("expected 4K in force")
if s["switchover_mode"] != "precopy" or s["transport_in_force"] != "socket":
    errors.append("expected a precopy switchover, QEMU sending")
print(facts + ("; " + "; ".join(errors) if errors else ""))
sys.exit(1 if errors else 0)
EOPY
); then
    ok "stats say what was in force: $msg"
else
    not_ok "stats: $msg"
fi
finish
