#!/usr/bin/env bash
# One command on a fresh Debian machine: install packages, fetch, patch
# and build QEMU (and the same QEMU unpatched, the demo's stock arm),
# build plugin, driver and guests, then run the demo: stock precopy beside
# migaccel on a guest stock cannot move, with reports and pictures.
#   scripts/setup.sh [--series 7.2|10.0]
# --series: the distro QEMU (default: this machine's Debian release,
# 12 -> 7.2, 13 -> 10.0). --stock is accepted and changes nothing (stock
# is always built now).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
series=
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
    --series) series=${2:-}; shift ;;
    --series=*) series=${1#--series=} ;;
    esac
    shift
done
if [ "$series" = all ]; then
    echo "setup: the demo runs one series: pick --series 7.2 or --series 10.0" >&2
    exit 2
fi
"$top/scripts/build.sh" "${args[@]}" --stock
"$top/scripts/demo.sh" ${series:+--series "$series"}
