#!/usr/bin/env bash
# Check that every patch of the series builds on its own: apply the series
# one patch at a time and build QEMU after each (incrementally, in
# build/qemu-V-series-check), then run checkpatch on all of them.
# MIGACCEL_SERIES picks the series (default: this machine's).
# Slow (a full build, then one partial build per patch): not part of the suite.
# --resume: apply and build only the patches appended since the last run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"
pristine="$top/subprojects/$MIGACCEL_QEMU_SERIES-src"
[ -f "$pristine/.migaccel-fetched" ] || "$top/scripts/fetch-qemu.sh"
src="$top/subprojects/$MIGACCEL_QEMU_SERIES-series-check"
bld=$(migaccel_qemu_build_dir series-check)
pdir="$top/patches/$MIGACCEL_QEMU_SERIES"

git_q=(git -C "$src" -c user.name=migaccel -c user.email=migaccel@localhost)
applied=0
if [ "${1:-}" = --resume ] && [ -d "$src/.git" ] && [ -f "$bld/build.ninja" ]; then
    # Only the patches added to the series since the last run (the earlier
    # ones must not have changed: run without --resume after editing them)
    applied=$(( $("${git_q[@]}" rev-list --count HEAD) - 1 ))
    echo "check-series: resuming after $applied applied patches"
else
    rm -rf "$src" "$bld"
    cp -a "$pristine" "$src"
    "${git_q[@]}" init -q
    "${git_q[@]}" add -A -f .
    "${git_q[@]}" commit -q -m base
    mkdir -p "$bld"
    (cd "$bld" && "$src/configure" "${MIGACCEL_QEMU_CONFIGURE_ARGS[@]}") >"$bld.configure.log" 2>&1
fi
n=0
while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    n=$((n + 1))
    [ "$n" -le "$applied" ] && continue
    "${git_q[@]}" am -q "$pdir/$p"
    start=$(date +%s)
    if ninja -C "$bld" qemu-system-x86_64 >"$bld.log" 2>&1; then
        echo "check-series: builds: $p ($(( $(date +%s) - start )) s)"
    else
        grep -E "error|FAILED" "$bld.log" | head -20
        echo "check-series: does NOT build: $p" >&2
        exit 1
    fi
done < "$pdir/series"
"$top/scripts/checkpatch.sh"
# The patched tree stays for --resume (subprojects/ is not tracked)
