#!/usr/bin/env bash
# Run QEMU's own scripts/checkpatch.pl on every patch of the series
# (MIGACCEL_SERIES picks it; default: this machine's).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"
pdir="$top/patches/$MIGACCEL_QEMU_SERIES"
checkpatch="$top/subprojects/$MIGACCEL_QEMU_SERIES-src/scripts/checkpatch.pl"
[ -x "$checkpatch" ] || { echo "checkpatch: $checkpatch missing: run scripts/fetch-qemu.sh" >&2; exit 1; }
bad=0
while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    if out=$(cd "$top/subprojects/$MIGACCEL_QEMU_SERIES-src" && "$checkpatch" --no-tree --strict --patch "$pdir/$p" 2>&1) ; then
        echo "checkpatch: ok   $p"
    else
        echo "checkpatch: FAIL $p"
        echo "$out" | sed 's/^/    /'
        bad=1
    fi
done < "$pdir/series"
exit $bad
