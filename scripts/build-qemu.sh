#!/usr/bin/env bash
# Build QEMU from the fetched Debian source.
#   scripts/build-qemu.sh           patched: subprojects/qemu-7.2 + patches/qemu-7.2/series
#                                   -> build/qemu/qemu-system-x86_64
#   scripts/build-qemu.sh --stock   unpatched Debian QEMU, for side-by-side runs
#                                   -> build/qemu-stock/qemu-system-x86_64
#   scripts/build-qemu.sh --without NNNN
#                                   the series without patch NNNN, to show
#                                   what that patch fixes
#                                   -> build/qemu-without-NNNN/qemu-system-x86_64
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/qemu-version.sh"

flavour=patched
without=
case "${1:-}" in
--stock) flavour=stock ;;
--without)
    without=${2:?--without needs a patch number such as 0001}
    flavour=without-$without
    ;;
"") ;;
*) echo "usage: $0 [--stock | --without NNNN]" >&2; exit 2 ;;
esac

pristine="$top/subprojects/$MIGACCEL_QEMU_SERIES-src"
[ -f "$pristine/.migaccel-fetched" ] || "$top/scripts/fetch-qemu.sh"

if [ "$flavour" = stock ]; then
    src="$pristine"
    bld="$top/build/qemu-stock"
elif [ -n "$without" ]; then
    src="$top/subprojects/$MIGACCEL_QEMU_SERIES-$flavour"
    bld="$top/build/qemu-$flavour"
    "$top/scripts/apply-patches.sh" "$pristine" "$src" "$without"
else
    src="$top/subprojects/$MIGACCEL_QEMU_SERIES"
    bld="$top/build/qemu"
    "$top/scripts/apply-patches.sh" "$pristine" "$src"
fi

configure_args=("${MIGACCEL_QEMU_CONFIGURE_ARGS[@]}" --prefix="$bld/install")
stamp="$bld/.migaccel-configured"
want="$(cat "$pristine/.migaccel-fetched") ${configure_args[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "build-qemu: configuring $flavour QEMU in $bld"
    rm -rf "$bld"
    mkdir -p "$bld"
    (cd "$bld" && "$src/configure" "${configure_args[@]}") >"$top/build/qemu-$flavour-configure.log" 2>&1 || {
        tail -40 "$top/build/qemu-$flavour-configure.log" >&2
        echo "build-qemu: configure failed (log: build/qemu-$flavour-configure.log)" >&2
        exit 1
    }
    echo "$want" > "$stamp"
fi

command -v ccache >/dev/null && echo "build-qemu: ccache $(ccache -s 2>/dev/null | sed -n 's/^ *Hits: *\([0-9]*\).*/hits \1/p' | head -1)"
echo "build-qemu: building $flavour QEMU (ninja, $(nproc) jobs)"
start=$(date +%s)
if [ -t 1 ]; then
    ninja -C "$bld" qemu-system-x86_64
else
    # Non-interactive: one progress line every 10 %.
    ninja -C "$bld" qemu-system-x86_64 | awk '
        /^\[[0-9]+\/[0-9]+\]/ {
            split(substr($1, 2), f, "/"); p = int(100 * f[1] / f[2])
            if (p >= last + 10) { print "build-qemu: " p "%"; last = p; fflush() }
            next }
        { print; fflush() }'
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "build-qemu: ninja failed" >&2; exit 1; }
fi
echo "build-qemu: $flavour QEMU built in $(( $(date +%s) - start )) s: $bld/qemu-system-x86_64"
