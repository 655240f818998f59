#!/usr/bin/env bash
# Check that every patch of the series builds on its own: apply the series
# one patch at a time and build QEMU after each (incrementally, in
# build/qemu-series-check), then run checkpatch on all of them.
# Slow (a full build, then one partial build per patch): not part of the suite.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"
pristine="$top/subprojects/$MIGACCEL_QEMU_SERIES-src"
[ -f "$pristine/.migaccel-fetched" ] || "$top/scripts/fetch-qemu.sh"
src="$top/subprojects/$MIGACCEL_QEMU_SERIES-series-check"
bld="$top/build/qemu-series-check"
pdir="$top/patches/$MIGACCEL_QEMU_SERIES"

rm -rf "$src" "$bld"
cp -a "$pristine" "$src"
git_q=(git -C "$src" -c user.name=migaccel -c user.email=migaccel@localhost)
"${git_q[@]}" init -q
"${git_q[@]}" add -A -f .
"${git_q[@]}" commit -q -m base
mkdir -p "$bld"
(cd "$bld" && "$src/configure" "${MIGACCEL_QEMU_CONFIGURE_ARGS[@]}") >"$bld.configure.log" 2>&1
while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
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
rm -rf "$src"
