#!/usr/bin/env bash
# Build everything: Debian packages, patched QEMU, plugin, driver, guests.
#   build/qemu/qemu-system-x86_64   patched Debian QEMU 7.2
#   build/plugin/libmigaccel.so     the accelerator plugin
#   build/driver/migaccel-migrate   the QMP migration driver
#   build/guest/                    test guests
# With --stock, also the unpatched QEMU in build/qemu-stock/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

stock=0
for arg in "$@"; do
    case "$arg" in
    --stock) stock=1 ;;
    *) echo "usage: $0 [--stock]" >&2; exit 2 ;;
    esac
done

scripts/deps.sh
scripts/build-qemu.sh
if [ "$stock" = 1 ]; then
    scripts/build-qemu.sh --stock
fi
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
echo "build: done"
