#!/usr/bin/env bash
# The downtime users feel on a smaller guest: bench/switchover.sh with a
# 2 GiB guest, one 256 MiB hot set, stock precopy against the bitmap
# switchover (arms alternating, N runs each, medians and spread; the same
# tables, network probe, fault trace and memory check).
#   bench/network-downtime.sh [N] [HOT_MB] [--series 7.2|10.0] [...]
#   (default 5 runs, 256 MiB, 10.0; any further switchover.sh options)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=5 hot=256
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then n=$1; shift; fi
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then hot=$1; shift; fi
exec "$top/bench/switchover.sh" --mem 2G --runs "$n" --hot "$hot" --arms stock,bitmap \
    --out "$top/build/bench/network-$(date +%Y%m%d-%H%M%S)" "$@"
