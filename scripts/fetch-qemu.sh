#!/usr/bin/env bash
# Fetch the series' Debian QEMU source package (pinned revision, see
# qemu-version.sh), unpack it with Debian's own patches applied.  Result:
# subprojects/<series>-src (pristine Debian tree, never modified), and for
# series that need a newer meson than this machine's, trixie's meson
# unpacked in subprojects/<series>-meson.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"

dest="$top/subprojects/$MIGACCEL_QEMU_SERIES-src"
if [ -f "$dest/.migaccel-fetched" ]; then
    echo "fetch-qemu: $dest already unpacked ($(cat "$dest/.migaccel-fetched"))"
    exit 0
fi

work="$top/subprojects/.apt-$MIGACCEL_QEMU_SERIES"
mkdir -p "$work/lists/partial" "$work/dl" "$work/cache/archives/partial"
cat > "$work/sources.sources" <<EOS
Types: deb-src${MIGACCEL_QEMU_MESON_DEB:+ deb}
URIs: http://deb.debian.org/debian
Suites: $MIGACCEL_QEMU_SUITES
Components: main

Types: deb-src${MIGACCEL_QEMU_MESON_DEB:+ deb}
URIs: http://deb.debian.org/debian-security
Suites: $MIGACCEL_QEMU_SECURITY_SUITE
Components: main
EOS
# A private source list: the system's apt configuration stays untouched.
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.sources"
          -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists"
          -o "Dir::Cache=$work/cache"
          -o APT::Sandbox::User=root)

echo "fetch-qemu: updating private deb-src lists"
apt-get "${apt_opts[@]}" -q update >"$work/update.log" 2>&1 || {
    cat "$work/update.log" >&2
    echo "fetch-qemu: apt-get update for deb-src failed" >&2
    exit 1
}
avail=$(apt-cache "${apt_opts[@]}" showsrc qemu | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ')
echo "fetch-qemu: available qemu source versions: $avail"
case " $avail " in
*" $MIGACCEL_QEMU_PKG_VERSION "*) ;;
*)
    echo "fetch-qemu: pinned version $MIGACCEL_QEMU_PKG_VERSION is not offered" >&2
    echo "fetch-qemu: (offered: $avail); update scripts/qemu-version.sh after" >&2
    echo "fetch-qemu: checking that patches/$MIGACCEL_QEMU_SERIES still applies" >&2
    exit 1
    ;;
esac

echo "fetch-qemu: downloading qemu=$MIGACCEL_QEMU_PKG_VERSION"
(cd "$work/dl" && apt-get "${apt_opts[@]}" -q source --download-only \
    "qemu=$MIGACCEL_QEMU_PKG_VERSION" >"$work/source.log" 2>&1) || {
    cat "$work/source.log" >&2
    echo "fetch-qemu: download failed" >&2
    exit 1
}
got=$(sed -n 's/^Version: //p' "$work/dl/$MIGACCEL_QEMU_DSC")
if [ "$got" != "$MIGACCEL_QEMU_PKG_VERSION" ]; then
    echo "fetch-qemu: got version $got, expected $MIGACCEL_QEMU_PKG_VERSION" >&2
    exit 1
fi

echo "fetch-qemu: unpacking with Debian's patches (dpkg-source -x)"
rm -rf "$dest"
dpkg-source --no-check -x "$work/dl/$MIGACCEL_QEMU_DSC" "$dest" >"$work/unpack.log" 2>&1 || {
    cat "$work/unpack.log" >&2
    echo "fetch-qemu: dpkg-source -x failed" >&2
    exit 1
}
if [ -n "$MIGACCEL_QEMU_MESON_DEB" ]; then
    echo "fetch-qemu: downloading $MIGACCEL_QEMU_MESON_DEB (QEMU $MIGACCEL_QEMU_VERSION needs meson >= 1.5)"
    rm -f "$work/dl"/meson_*.deb
    (cd "$work/dl" && apt-get "${apt_opts[@]}" -q download "$MIGACCEL_QEMU_MESON_DEB" \
        >"$work/meson.log" 2>&1) || {
        cat "$work/meson.log" >&2
        echo "fetch-qemu: meson download failed" >&2
        exit 1
    }
    rm -rf "$MIGACCEL_QEMU_MESON_DIR"
    dpkg-deb -x "$work"/dl/meson_*.deb "$MIGACCEL_QEMU_MESON_DIR"
fi
echo "$MIGACCEL_QEMU_PKG_VERSION" > "$dest/.migaccel-fetched"
echo "fetch-qemu: done: $dest (qemu $MIGACCEL_QEMU_PKG_VERSION)"
