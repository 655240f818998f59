#!/usr/bin/env bash
# Install the Debian packages (12 or 13) migaccel needs to build QEMU, the plugin,
# the driver and the test guests, and to run the tests.  Idempotent: apt is
# only called when something is missing.
set -euo pipefail

MIGACCEL_DEBS=(
    # QEMU 7.2 from Debian's source package, minimal x86_64-softmmu build
    build-essential ccache dpkg-dev git xz-utils python3 python3-venv perl
    meson ninja-build pkg-config flex bison
    libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev liburing-dev libslirp-dev
    # firmware and option ROMs the +dfsg source does not ship
    seabios qemu-system-data
    # plugin and driver
    libjson-glib-dev libxxhash-dev libzstd-dev libroaring-dev
    # test guests
    busybox-static cpio gzip binutils libc6-dev
    # tests
    valgrind procps iproute2
    # codec fuzzer (tests/fuzz/run-fuzz.sh): clang only recommends the
    # libFuzzer, ASan and UBSan runtimes; libclang-rt-dev is the release's
    # version of them (14 on Debian 12, 19 on Debian 13)
    clang libclang-rt-dev
    # libvirt test (tests/libvirt): libvirtd with its QEMU driver, and virsh;
    # no maintainer script starts anything. Not libvirt-daemon-system (polkit,
    # iptables, the machine's own libvirtd service): the test runs its own.
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
)

missing=()
for pkg in "${MIGACCEL_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#MIGACCEL_DEBS[@]} Debian packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/migaccel-apt.log 2>&1 || {
    tail -30 /tmp/migaccel-apt.log >&2
    echo "deps: apt-get install failed (log: /tmp/migaccel-apt.log)" >&2
    exit 1
}
echo "deps: done"
