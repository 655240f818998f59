#!/usr/bin/env bash
# Build the migaccel test guests from Debian packages only (see guest/README.md).
#   build/guest/vmlinuz             Debian's kernel (linux-image-amd64's dependency:
#                                   6.1 on Debian 12, 6.12 on Debian 13)
#   build/guest/modules/            the kernel's virtio-net modules that are not built in
#                                   (uncompressed; load order in .order)
#   build/guest/initramfs.cpio.gz   busybox-static + guest/initramfs/init + dirtier + modules
#   build/guest/bootblock.img       512-byte boot-sector guest (raw disk image)
#   build/guest/VERSION             package versions the guests were built from
# Steps whose inputs are unchanged are skipped.
#   MIGACCEL_INSTALL_DEPS=1   as root: apt-get install missing packages
#   MIGACCEL_GUEST_KERNEL=linux-image-VERSION-amd64   pin the kernel package
set -euo pipefail

MIGACCEL_GUEST_DEBS="busybox-static cpio gzip xz-utils binutils gcc libc6-dev dpkg apt coreutils"
MIGACCEL_GUEST_KERNEL_META=linux-image-amd64 # only downloaded and unpacked, never installed
CFLAGS="-std=c11 -O2 -static -pthread -Wall -Wextra -Werror"
# The guest's init loads these, in this order (dependencies first), when
# given mig.ip=. Debian 12 builds all of them as modules; Debian 13 builds
# the virtio core in, so only what the kernel lacks is copied.
GUEST_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net"

top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/guest
out=$top/build/guest
tmp=$out/tmp
mkdir -p "$out" "$tmp"

say() { echo "build-guest: $*"; }
die() { echo "build-guest: error: $*" >&2; exit 1; }
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

# --- Packages: report exactly what is missing, install only when asked to.
missing=()
for pkg in $MIGACCEL_GUEST_DEBS; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "${MIGACCEL_INSTALL_DEPS:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
        say "installing ${missing[*]}"
        apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }
    else
        die "missing Debian packages: ${missing[*]}
  install them with: apt-get install -y ${missing[*]}
  (or run this script as root with MIGACCEL_INSTALL_DEPS=1)"
    fi
fi
# The dynamic 'busybox' package also ships /bin/busybox; the initramfs needs the static one.
if readelf -l /bin/busybox | grep -q 'program interpreter'; then
    die "/bin/busybox is dynamically linked: apt-get install -y busybox-static"
fi

# --- Stamps: an output is fresh when it exists and was built from the same key.
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { # fresh NAME KEY OUTPUT...
    local name=$1 key=$2 f
    shift 2
    for f; do [ -e "$f" ] || return 1; done
    [ "$(cat "$out/.stamp-$name" 2>/dev/null)" = "$key" ]
}
stamp() { printf '%s\n' "$2" >"$out/.stamp-$1"; }

# --- dirtier: the static guest workload.
key="$(hash_of "$src/workload/dirtier.c") $CFLAGS $(gcc --version | head -1)"
if ! fresh dirtier "$key" "$out/dirtier"; then
    say "compiling dirtier"
    # shellcheck disable=SC2086 # CFLAGS is a list of words
    gcc $CFLAGS -o "$out/dirtier.tmp" "$src/workload/dirtier.c"
    mv "$out/dirtier.tmp" "$out/dirtier"
    stamp dirtier "$key"
fi

# --- Kernel: Debian's own image, downloaded and unpacked, never installed.
kpkg=${MIGACCEL_GUEST_KERNEL:-}
resolve_kernel() {
    [ -n "$kpkg" ] || kpkg=$(apt-cache depends "$MIGACCEL_GUEST_KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
    [ -n "$kpkg" ] || return 1
    kver=$(apt-cache policy "$kpkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
    [ -n "$kver" ] && [ "$kver" != "(none)" ]
}
if ! resolve_kernel; then
    if [ "${MIGACCEL_INSTALL_DEPS:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
        say "apt lists know no kernel package; running apt-get update"
        apt-get update -qq
    fi
    if ! resolve_kernel; then
        # Offline and already built: keep what we have rather than fail.
        if ! [ -e "$out/vmlinuz" ] || ! [ -e "$out/.stamp-kernel" ]; then
            die "cannot find ${kpkg:-the $MIGACCEL_GUEST_KERNEL_META kernel package} in the apt lists: run apt-get update"
        fi
        read -r kpkg kver krel <"$out/.stamp-kernel"
        say "apt lists unavailable; keeping $kpkg $kver"
    fi
fi
if ! [ -e "$out/vmlinuz" ] || [ "$(cat "$out/modules/.wanted" 2>/dev/null)" != "$GUEST_MODULES" ] ||
    [ "$(cut -d' ' -f1,2 "$out/.stamp-kernel" 2>/dev/null)" != "$kpkg $kver" ]; then
    say "downloading $kpkg $kver (about 70 MB)"
    kdir=$tmp/kernel
    rm -rf "$kdir"
    mkdir -p "$kdir/root"
    sandbox=()
    # As root apt drops to user _apt, which may not be able to write here.
    [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
    (cd "$kdir" && apt-get download -q "${sandbox[@]}" "$kpkg=$kver")
    say "unpacking $kpkg"
    dpkg-deb -x "$kdir"/"$kpkg"_*.deb "$kdir/root"
    images=("$kdir"/root/boot/vmlinuz-*)
    if [ ${#images[@]} != 1 ] || ! [ -f "${images[0]}" ]; then
        die "expected one /boot/vmlinuz-* in $kpkg"
    fi
    krel=${images[0]##*/vmlinuz-}
    # Debian 12 keeps modules in /lib/modules as .ko, Debian 13 in
    # /usr/lib/modules as .ko.xz; busybox insmod takes only plain .ko.
    moddir=
    for d in "$kdir/root/lib/modules/$krel" "$kdir/root/usr/lib/modules/$krel"; do
        [ -d "$d" ] && moddir=$d
    done
    [ -n "$moddir" ] || die "$kpkg has no lib/modules/$krel"
    rm -rf "$out/modules.tmp"
    mkdir -p "$out/modules.tmp"
    order=()
    for mod in $GUEST_MODULES; do
        found=$(find "$moddir" -name "$mod.ko" -o -name "$mod.ko.xz" -o -name "$mod.ko.zst" -o -name "$mod.ko.gz" | head -1)
        if [ -z "$found" ]; then
            grep -q "/$mod\.ko\$" "$moddir/modules.builtin" 2>/dev/null ||
                die "$kpkg has no $mod.ko and does not build it in"
            continue
        fi
        case $found in
        *.ko) cp "$found" "$out/modules.tmp/$mod.ko" ;;
        *.xz) xz -dc "$found" >"$out/modules.tmp/$mod.ko" ;;
        *.gz) gzip -dc "$found" >"$out/modules.tmp/$mod.ko" ;;
        *.zst) command -v zstd >/dev/null || die "$mod.ko.zst needs zstd: apt-get install -y zstd"
            zstd -qdc "$found" >"$out/modules.tmp/$mod.ko" ;;
        esac
        order+=("$mod")
    done
    echo "${order[*]}" >"$out/modules.tmp/.order"
    echo "$GUEST_MODULES" >"$out/modules.tmp/.wanted"
    rm -rf "$out/modules"
    mv "$out/modules.tmp" "$out/modules"
    cp "${images[0]}" "$out/vmlinuz.tmp"
    mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    rm -rf "$kdir"
    stamp kernel "$kpkg $kver $krel"
fi
read -r kpkg kver krel <"$out/.stamp-kernel"

# --- initramfs: busybox applets as symlinks, init, dirtier; reproducible cpio.
key=$(hash_of "$src/initramfs/init" "$out/dirtier" /bin/busybox "$out/modules/.order" "$out"/modules/*.ko)
if ! fresh initramfs "$key" "$out/initramfs.cpio.gz"; then
    say "packing initramfs"
    root=$tmp/initramfs
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
    cp /bin/busybox "$out/dirtier" "$root/bin/"
    cp "$src/initramfs/init" "$root/init"
    mkdir -p "$root/lib/modules"
    cp "$out"/modules/*.ko "$out/modules/.order" "$root/lib/modules/"
    chmod 0755 "$root/init" "$root/bin/busybox" "$root/bin/dirtier"
    for applet in $(/bin/busybox --list); do
        [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    find "$root" -exec touch -h -d @0 {} +
    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc --owner=0:0 --reproducible --quiet) |
        gzip -9n >"$out/initramfs.cpio.gz.tmp"
    mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
    rm -rf "$root"
    stamp initramfs "$key"
fi

# --- Boot block: a single MBR sector; ld fails if the code outgrows 510 bytes.
key="$(hash_of "$src/bootblock/bootblock.S" "$src/bootblock/bootblock.ld") $(as --version | head -1)"
if ! fresh bootblock "$key" "$out/bootblock.img"; then
    say "assembling bootblock"
    as --32 -o "$tmp/bootblock.o" "$src/bootblock/bootblock.S"
    ld -m elf_i386 -T "$src/bootblock/bootblock.ld" --oformat binary \
        -o "$out/bootblock.img.tmp" "$tmp/bootblock.o"
    [ "$(stat -c %s "$out/bootblock.img.tmp")" = 512 ] || die "bootblock.img is not 512 bytes"
    [ "$(tail -c 2 "$out/bootblock.img.tmp" | od -An -tx1 | tr -d ' ')" = 55aa ] ||
        die "bootblock.img lacks the 0x55AA signature"
    chmod 0644 "$out/bootblock.img.tmp"
    mv "$out/bootblock.img.tmp" "$out/bootblock.img"
    rm -f "$tmp/bootblock.o"
    stamp bootblock "$key"
fi

# --- pingblock: a bare-metal multiboot guest that answers ping and TCP echo
key="$(hash_of "$src/pingblock/pingblock.c" "$src/pingblock/pingblock.ld") $(gcc --version | head -1)"
if ! fresh pingblock "$key" "$out/pingblock.elf"; then
    say "building pingblock"
    gcc -m32 -march=i686 -O2 -std=gnu11 -Wall -Wextra -Werror -ffreestanding \
        -fno-pic -fno-pie -fno-stack-protector -fno-tree-loop-distribute-patterns \
        -mno-sse -mno-mmx -nostdlib -static -no-pie -Wl,-m,elf_i386 \
        -Wl,-T,"$src/pingblock/pingblock.ld" -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 \
        -o "$out/pingblock.elf.tmp" "$src/pingblock/pingblock.c"
    [ "$(od -An -tx4 -j 4096 -N 4 "$out/pingblock.elf.tmp" | tr -d ' ')" = 1badb002 ] ||
        die "pingblock.elf has no multiboot header where QEMU looks"
    mv "$out/pingblock.elf.tmp" "$out/pingblock.elf"
    stamp pingblock "$key"
fi

# --- VERSION: rewritten only when it changes, so its mtime means something.
cat >"$out/VERSION.tmp" <<EOF
kernel_package=$kpkg
kernel_version=$kver
kernel_release=$krel
busybox_static=$(pkg_version busybox-static)
EOF
if cmp -s "$out/VERSION.tmp" "$out/VERSION"; then rm "$out/VERSION.tmp"; else mv "$out/VERSION.tmp" "$out/VERSION"; fi
say "guests ready in ${out#"$top"/}: vmlinuz ($kpkg $kver), initramfs.cpio.gz, bootblock.img"
