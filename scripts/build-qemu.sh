#!/usr/bin/env bash
# Build one series' QEMU from the fetched Debian source (MIGACCEL_SERIES
# picks the series, default: this machine's Debian release; V below is its
# QEMU version, 7.2 or 10.0).
#   scripts/build-qemu.sh           patched: subprojects/qemu-V + patches/qemu-V/series
#                                   -> build/qemu-V/qemu-system-x86_64
#   scripts/build-qemu.sh --stock   unpatched Debian QEMU, for side-by-side runs
#                                   -> build/qemu-V-stock/qemu-system-x86_64
#   scripts/build-qemu.sh --without NNNN
#                                   the series without patch NNNN, to show
#                                   what that patch fixes
#                                   -> build/qemu-V-without-NNNN/qemu-system-x86_64
# build/qemu and build/qemu-stock link to the machine's series.
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
    bld=$(migaccel_qemu_build_dir stock)
elif [ -n "$without" ]; then
    src="$top/subprojects/$MIGACCEL_QEMU_SERIES-$flavour"
    bld=$(migaccel_qemu_build_dir "$flavour")
    "$top/scripts/apply-patches.sh" "$pristine" "$src" "$without"
else
    src="$top/subprojects/$MIGACCEL_QEMU_SERIES"
    bld=$(migaccel_qemu_build_dir)
    "$top/scripts/apply-patches.sh" "$pristine" "$src"
fi

# QEMU's configure hands meson an explicit "cc", so meson never adds ccache
# itself: Debian's ccache masquerade directory in front of PATH does.
[ -d /usr/lib/ccache ] || { echo "build-qemu: ccache missing (scripts/deps.sh installs it)" >&2; exit 1; }
export PATH="/usr/lib/ccache:$PATH"
configure_args=("${MIGACCEL_QEMU_CONFIGURE_ARGS[@]}" --prefix="$bld/install")
log="$top/build/qemu-$MIGACCEL_QEMU_VERSION-$flavour-configure.log"
stamp="$bld/.migaccel-configured"
want="$(cat "$pristine/.migaccel-fetched") ${configure_args[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "build-qemu: configuring $flavour QEMU $MIGACCEL_QEMU_VERSION in $bld"
    rm -rf "$bld"
    mkdir -p "$bld"
    (cd "$bld" && "$src/configure" "${configure_args[@]}") >"$log" 2>&1 || {
        tail -40 "$log" >&2
        echo "build-qemu: configure failed (log: ${log#$top/})" >&2
        exit 1
    }
    echo "$want" > "$stamp"
fi

ccache_hits() {
    ccache --print-stats 2>/dev/null |
        awk -F'\t' '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { n += $2 } END { print n + 0 }'
}
hits_before=$(ccache_hits)
echo "build-qemu: building $flavour QEMU $MIGACCEL_QEMU_VERSION (ninja, $(nproc) jobs)"
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
echo "build-qemu: $flavour QEMU $MIGACCEL_QEMU_VERSION built in $(( $(date +%s) - start )) s" \
     "($(( $(ccache_hits) - hits_before )) ccache hits): $bld/qemu-system-x86_64"
# The machine's series is the default of the driver, the demo and the benches.
if [ "$MIGACCEL_QEMU_SERIES" = "$(migaccel_machine_series)" ]; then
    case "$flavour" in
    patched) link="$top/build/qemu" ;;
    stock) link="$top/build/qemu-stock" ;;
    *) link= ;;
    esac
    if [ -n "$link" ]; then
        [ -L "$link" ] || rm -rf "$link" # a build folder of the one-series layout
        ln -sfn "$(basename "$bld")" "$link"
    fi
fi
