#!/usr/bin/env bash
# The interface header a series puts into QEMU (include/migration/migaccel.h
# after its last patch) must be byte-identical to plugin/include/migaccel.h,
# the one contract the plugin is built against.
#   test-interface-header.sh SRC BUILD    (MIGACCEL_SERIES: the series)
. "$(dirname "$0")/../lib.sh" "$1" "$2"
top=$MIGACCEL_SRC
. "$top/scripts/qemu-version.sh"
series=$MIGACCEL_QEMU_SERIES
tree=$top/subprojects/$series
contract=$top/plugin/include/migaccel.h
require_file "$tree/.migaccel-patched" "run scripts/build.sh --series $MIGACCEL_QEMU_VERSION (it applies patches/$series)"
header=$tree/include/migration/migaccel.h
if [ ! -f "$header" ]; then
    # Said, not hidden: the series does not carry the interface yet.
    skip "patches/$series does not add include/migration/migaccel.h yet"
fi
if diff -u "$contract" "$header" >"$TEST_TMP/diff"; then
    ok "patches/$series installs the same migaccel.h as plugin/include/migaccel.h"
else
    not_ok "patches/$series's migaccel.h differs from plugin/include/migaccel.h:"
    head -40 "$TEST_TMP/diff"
fi
finish
