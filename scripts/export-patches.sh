#!/usr/bin/env bash
# Developer tool: turn the commits made in subprojects/qemu-7.2 on top of
# the Debian tree into patches/qemu-7.2/*.patch and its series file.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"
tree="$top/subprojects/$MIGACCEL_QEMU_SERIES"
pdir="$top/patches/$MIGACCEL_QEMU_SERIES"

if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
    echo "export-patches: $tree has uncommitted changes; commit them first" >&2
    exit 1
fi
base=$(git -C "$tree" rev-list --max-parents=0 HEAD)
rm -f "$pdir"/*.patch
git -C "$tree" format-patch -q --no-signature --zero-commit --no-numbered \
    -o "$pdir" "$base..HEAD"
(cd "$pdir" && ls -1 *.patch) > "$pdir/series"
# The tree now matches the series: record it so build-qemu.sh keeps it.
sum=$( (cat "$top/subprojects/$MIGACCEL_QEMU_SERIES-src/.migaccel-fetched"; echo "skip="; cd "$pdir" && cat series $(cat series)) | sha256sum | cut -c1-16)
echo "$sum" > "$tree/.migaccel-patched"
cat "$pdir/series"
