#!/usr/bin/env bash
# Upgrading by migration: a busy guest moves from one series' QEMU to
# another's (Debian 12 -> Debian 13), with the same machine type on both
# sides, and must arrive byte-identical (all of memory compared at
# switchover, then the guest's own pattern check).
#   test-cross-version.sh SRC BUILD FROM TO MACHINE [plugin|bitmap]
# FROM, TO: series versions (7.2, 10.0); MACHINE: e.g. pc-i440fx-7.2;
# "plugin": load the accelerator on both sides (loose, 1G); "bitmap": and
# the bitmap switchover, postcopy-ram on both sides (the destination pulls
# the last pages; the formats are whatever the two sides negotiate).
. "$(dirname "$0")/../lib.sh" "$1" "$2"
from=$3
to=$4
machine=$5
with_plugin=${6:-}
src_qemu=$MIGACCEL_SRC/build/qemu-$from/qemu-system-x86_64
dst_qemu=$MIGACCEL_SRC/build/qemu-$to/qemu-system-x86_64
require_file "$src_qemu" "run scripts/build.sh --series $from"
require_file "$dst_qemu" "run scripts/build.sh --series $to"
require_file "$DRIVER" "build the driver (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"

args=(--qemu "$src_qemu" --dst-qemu "$dst_qemu" --machine "$machine"
      --verify --run-dir "$TEST_TMP/run"
      --kernel "$GUEST_DIR/vmlinuz" --initrd "$GUEST_DIR/initramfs.cpio.gz"
      --accel tcg --smp 2 --mem 2G
      --append "console=ttyS0 quiet mig.threads=2 mig.hot_mb=256")
case "$with_plugin" in
"") ;;
plugin|bitmap)
    require_file "$PLUGIN" "build the plugin (meson compile -C build)"
    args+=(--plugin "$PLUGIN" --accel-prop trace-install=loose --accel-prop wp-granularity=1G)
    if [ "$with_plugin" = bitmap ]; then
        args+=(--capability postcopy-ram=on --accel-prop switchover=bitmap
               --max-bandwidth 200M)
    fi
    ;;
*) echo "unknown variant $with_plugin" >&2; exit 2 ;;
esac

echo "running: $DRIVER ${args[*]}"
status=0
"$DRIVER" "${args[@]}" --json "$TEST_TMP/report.json" || status=$?
facts=$(python3 - "$TEST_TMP/report.json" <<'EOPY' 2>/dev/null || echo "no report"
import json, sys
r = json.load(open(sys.argv[1]))
m, v, g = r["migration"], r["verify"], r["guest"]
s = (r.get("accel_stats") or {}).get("src") or {}
extra = "".join(f" {k}={s[k]}" for k in ("switchover_mode", "peer_state", "discard_format",
                                        "trace_loose_syncs", "wp_granularity_in_force_bytes")
                if k in s)
print(f"status={m['status']} downtime_ms={m['downtime_ms']} memory={v['result']} "
      f"differing_pages={v['differing_pages']} guest_corrupt={g['dst_corrupt']}{extra}")
EOPY
)
if [ "$status" = 0 ]; then
    ok "QEMU $from -> QEMU $to ($machine${with_plugin:+, accelerator on both: $with_plugin}): $facts"
    # Both series negotiate: the accelerations must be in force, not
    # silently replaced by stock ones across versions
    case "$with_plugin" in
    plugin) want=("trace_loose_syncs=[1-9]" "wp_granularity_in_force_bytes=1073741824") ;;
    bitmap) want=("switchover_mode=bitmap" "peer_state=migaccel" "discard_format=compressed") ;;
    *) want=() ;;
    esac
    for w in "${want[@]}"; do
        if [[ " $facts" =~ \ $w ]]; then
            ok "in force across versions: $w"
        else
            not_ok "expected $w across versions, got: $facts"
        fi
    done
else
    not_ok "QEMU $from -> QEMU $to ($machine) failed (driver exit $status): $facts"
    show_run_logs 10
fi
finish
