#!/usr/bin/env bash
# Build everything: Debian packages, patched QEMU, plugin, driver, guests.
#   build/qemu-V/qemu-system-x86_64   Debian's QEMU V with patches/qemu-V
#   build/plugin/libmigaccel.so       the accelerator plugin (one for every V)
#   build/driver/migaccel-migrate     the QMP migration driver
#   build/guest/                      test guests
#   scripts/build.sh [--series 7.2|10.0|all] [--stock]
# --series: which distro QEMU (default: this machine's Debian release,
# 12 -> 7.2, 13 -> 10.0); --stock also builds the unpatched QEMU in
# build/qemu-V-stock/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/qemu-version.sh

stock=0
series_arg=
while [ $# -gt 0 ]; do
    case "$1" in
    --stock) stock=1 ;;
    --series) series_arg=${2:?--series needs 7.2, 10.0 or all}; shift ;;
    --series=*) series_arg=${1#--series=} ;;
    *) echo "usage: $0 [--series 7.2|10.0|all] [--stock]" >&2; exit 2 ;;
    esac
    shift
done
series=$(migaccel_series_list "$series_arg")

scripts/deps.sh
mkdir -p build
for s in $series; do
    MIGACCEL_SERIES=$s scripts/build-qemu.sh
    if [ "$stock" = 1 ]; then
        MIGACCEL_SERIES=$s scripts/build-qemu.sh --stock
    fi
done
if [ ! -f build/build.ninja ]; then
    echo "build: meson setup build"
    meson setup build . >build/meson-setup.log 2>&1 || {
        tail -30 build/meson-setup.log >&2
        echo "build: meson setup failed (log: build/meson-setup.log)" >&2
        exit 1
    }
fi
echo "build: compiling plugin, driver and tests"
meson compile -C build >build/meson-compile.log 2>&1 || {
    tail -40 build/meson-compile.log >&2
    echo "build: meson compile failed (log: build/meson-compile.log)" >&2
    exit 1
}
scripts/build-guest.sh
echo "build: done ($(echo $series | tr '\n' ' '))"
