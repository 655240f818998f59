#!/usr/bin/env bash
# Copy the pristine Debian tree to DEST and apply patches/<series>/series with
# git am, so each patch lands as a commit. Re-done only when a patch changed.
#   apply-patches.sh PRISTINE DEST [SKIP]   SKIP: number of a patch to leave out
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"
pristine=$1
dest=$2
skip=${3:-}
pdir="$top/patches/$MIGACCEL_QEMU_SERIES"

sum=$( (cat "$pristine/.migaccel-fetched"; echo "skip=$skip"; cd "$pdir" && cat series $(grep -v '^#' series)) | sha256sum | cut -c1-16)
if [ -f "$dest/.migaccel-patched" ] && [ "$(cat "$dest/.migaccel-patched")" = "$sum" ]; then
    exit 0
fi
echo "apply-patches: preparing $dest from the Debian tree"
rm -rf "$dest.tmp"
cp -a "$pristine" "$dest.tmp"
git_q=(git -C "$dest.tmp" -c user.name=migaccel -c user.email=migaccel@localhost -c commit.gpgsign=false)
"${git_q[@]}" init -q
"${git_q[@]}" add -A -f .
"${git_q[@]}" commit -q -m "Debian qemu $(cat "$pristine/.migaccel-fetched")"
n=0
while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    n=$((n + 1))
    if [ -n "$skip" ] && [ "${p%%-*}" = "$skip" ]; then
        echo "apply-patches: leaving out $p"
        continue
    fi
    if ! "${git_q[@]}" am -q --committer-date-is-author-date "$pdir/$p" >"$dest.tmp/.am.log" 2>&1; then
        cat "$dest.tmp/.am.log" >&2
        echo "apply-patches: patch $n, $p, does not apply to qemu $(cat "$pristine/.migaccel-fetched")" >&2
        exit 1
    fi
    echo "apply-patches: applied $p"
done < "$pdir/series"
echo "$sum" > "$dest.tmp/.migaccel-patched"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
