#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install packages, fetch, patch
# and build QEMU, build plugin, driver and guests, then run the demo
# migration with its report.
#   scripts/setup.sh [--stock]   --stock also builds stock QEMU for a
#                                side-by-side demo
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" "$@"
"$top/scripts/demo.sh"
