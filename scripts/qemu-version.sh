# Sourced by the scripts: the one place that knows which distro QEMU we build.
# The Debian revision is pinned: a different one would need its own patch check.
MIGACCEL_QEMU_SERIES=qemu-7.2
MIGACCEL_QEMU_PKG_VERSION="1:7.2+dfsg-7+deb12u18"
MIGACCEL_QEMU_DSC="qemu_7.2+dfsg-7+deb12u18.dsc"
MIGACCEL_QEMU_SUITES="bookworm bookworm-updates"
MIGACCEL_QEMU_SECURITY_SUITE="bookworm-security"
# The minimal build: x86_64 system emulation with KVM, TCG, io_uring, slirp.
MIGACCEL_QEMU_CONFIGURE_ARGS=(
    --target-list=x86_64-softmmu
    --enable-kvm --enable-tcg --enable-linux-io-uring --enable-slirp
    --enable-fdt=system --disable-docs --disable-user
    --without-default-features
)
