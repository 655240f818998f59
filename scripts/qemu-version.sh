# Sourced by the scripts: the one place that knows which distro QEMUs we build.
#
# A series is one distro QEMU with its patch folder patches/<series>/:
#   qemu-7.2    Debian 12 (bookworm)
#   qemu-10.0   Debian 13 (trixie)
# MIGACCEL_SERIES picks one ("7.2" or "qemu-7.2" both work); the default is
# the series of this machine's Debian release.  Debian revisions are pinned:
# a different one would need its own check of the series.
MIGACCEL_ALL_SERIES="qemu-7.2 qemu-10.0"

migaccel_machine_series() {
    local codename=
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    case "$codename" in
    trixie) echo qemu-10.0 ;;
    *) echo qemu-7.2 ;;
    esac
}

# migaccel_series_name NAME: "7.2" -> "qemu-7.2"; fails on unknown names
migaccel_series_name() {
    local s=${1#qemu-}
    case " $MIGACCEL_ALL_SERIES " in
    *" qemu-$s "*) echo "qemu-$s" ;;
    *) echo "unknown QEMU series '$1' (known: ${MIGACCEL_ALL_SERIES//qemu-/})" >&2; return 1 ;;
    esac
}

MIGACCEL_QEMU_SERIES=$(migaccel_series_name "${MIGACCEL_SERIES:-$(migaccel_machine_series)}")
# The minimal build: x86_64 system emulation with KVM, TCG, io_uring, slirp.
MIGACCEL_QEMU_CONFIGURE_ARGS=(
    --target-list=x86_64-softmmu
    --enable-kvm --enable-tcg --enable-linux-io-uring --enable-slirp
    --enable-fdt=system --disable-docs --disable-user
    --without-default-features
)
# QEMU 10.0 wants meson >= 1.5; Debian 12 has 1.0.1. Trixie's meson is pure
# Python: scripts/fetch-qemu.sh unpacks it beside the source and configure
# finds it through PYTHONPATH (never installed on the system).
MIGACCEL_QEMU_MESON_DEB=
case "$MIGACCEL_QEMU_SERIES" in
qemu-7.2)
    MIGACCEL_QEMU_PKG_VERSION="1:7.2+dfsg-7+deb12u18"
    MIGACCEL_QEMU_DSC="qemu_7.2+dfsg-7+deb12u18.dsc"
    MIGACCEL_QEMU_SUITES="bookworm bookworm-updates"
    MIGACCEL_QEMU_SECURITY_SUITE="bookworm-security"
    ;;
qemu-10.0)
    MIGACCEL_QEMU_PKG_VERSION="1:10.0.13+ds-0+deb13u1"
    MIGACCEL_QEMU_DSC="qemu_10.0.13+ds-0+deb13u1.dsc"
    MIGACCEL_QEMU_SUITES="trixie trixie-updates"
    MIGACCEL_QEMU_SECURITY_SUITE="trixie-security"
    MIGACCEL_QEMU_MESON_DEB="meson=1.7.0-1"
    # Debian's +ds source strips the firmware blobs pc-bios/ would install
    MIGACCEL_QEMU_CONFIGURE_ARGS+=(--python=/usr/bin/python3 --disable-install-blobs)
    ;;
esac
MIGACCEL_QEMU_VERSION=${MIGACCEL_QEMU_SERIES#qemu-}

# configure, and ninja when it re-runs meson, must find trixie's meson: the
# scripts that source this file have $top set.
if [ -n "$MIGACCEL_QEMU_MESON_DEB" ]; then
    MIGACCEL_QEMU_MESON_DIR="$top/subprojects/$MIGACCEL_QEMU_SERIES-meson"
    export PYTHONPATH="$MIGACCEL_QEMU_MESON_DIR/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
fi

# Build folders: build/qemu-<version>[-stock|-without-NNNN]
migaccel_qemu_build_dir() { echo "$top/build/qemu-$MIGACCEL_QEMU_VERSION${1:+-$1}"; }

# migaccel_series_list ARG: the series an option --series ARG names, one per
# line: "7.2", "10.0", "all", or "" for this machine's series.
migaccel_series_list() {
    case "${1:-}" in
    "") migaccel_machine_series ;;
    all) printf '%s\n' $MIGACCEL_ALL_SERIES ;;
    *) migaccel_series_name "$1" ;;
    esac
}
