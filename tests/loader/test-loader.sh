#!/usr/bin/env bash
# The migration-accel object refuses bad plugins and options with a clear
# error, QEMU refuses to start (command line) or stays usable (QMP).
. "$(dirname "$0")/../lib.sh" "$@"
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
bad=$MIGACCEL_BUILD/tests/loader

qemu_base=("$QEMU" -nodefaults -display none -machine none "${FIRMWARE_ARGS[@]}")

# start_must_fail NAME EXPECTED-TEXT OBJECT-OPTIONS
start_must_fail() {
    local out=$TEST_TMP/out
    if timeout 60 "${qemu_base[@]}" -object "$3" -S -qmp null </dev/null >"$out" 2>&1 & then
        local pid=$!
        # A refused object makes QEMU exit at once; a loaded one keeps running.
        for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
        if kill -0 $pid 2>/dev/null; then
            kill -9 $pid; wait $pid 2>/dev/null || true
            not_ok "$1: QEMU started although it should have refused"
            return
        fi
        if wait $pid; then
            not_ok "$1: QEMU exited with status 0"
            return
        fi
    fi
    expect_contains "$1" "$out" "$2"
}

start_must_fail "nonexistent plugin path" "cannot load plugin '/nonexistent/libx.so'" \
    "migration-accel,id=ma0,plugin=/nonexistent/libx.so"
start_must_fail "file that is not a shared object" "cannot load plugin '$MIGACCEL_SRC/meson.build'" \
    "migration-accel,id=ma0,plugin=$MIGACCEL_SRC/meson.build"
start_must_fail "wrong API version" "uses API version 999, this QEMU supports versions 6 to 9" \
    "migration-accel,id=ma0,plugin=$bad/libbad-version.so"
start_must_fail "missing install symbol" "does not export migaccel_plugin_install" \
    "migration-accel,id=ma0,plugin=$bad/libno-install.so"
start_must_fail "not a migaccel plugin" "does not export migaccel_plugin_version" \
    "migration-accel,id=ma0,plugin=$bad/libno-version.so"
start_must_fail "install refuses" "failed to install: test plugin refuses to install on purpose" \
    "migration-accel,id=ma0,plugin=$bad/libinstall-fails.so"
start_must_fail "missing plugin property" "Parameter 'plugin' is missing" \
    "migration-accel,id=ma0"
start_must_fail "unreleased API version 5" "uses API version 5, this QEMU supports versions 6 to 9" \
    "migration-accel,id=ma0,plugin=$bad/libapi-v5.so"
start_must_fail "invalid option value" "invalid value 'bogus' for trace-install (accepted: stock, loose)" \
    "migration-accel,id=ma0,plugin=$PLUGIN,args=trace-install=bogus"
start_must_fail "invalid number option" \
    "invalid value '20ms' for precopy-downtime-max-ms (accepted: a whole number from 0 to 2000000)" \
    "migration-accel,id=ma0,plugin=$PLUGIN,args=precopy-downtime-max-ms=20ms"
# Options pass through QEMU unread: the plugin names the ones it has
start_must_fail "unknown plugin option" \
    "unknown option 'no-such-option' (options: trace-install, wp-granularity, switchover, transport, precopy-downtime-max-ms, first-pass, precopy-max-passes, postcopy-queue-kb, x-inject-fault)" \
    "migration-accel,id=ma0,plugin=$PLUGIN,args=no-such-option=1"
# Two options on the command line: args repeated, applied in order
start_must_fail "second option checked too" "invalid value 'bogus' for wp-granularity" \
    "migration-accel,id=ma0,plugin=$PLUGIN,args=trace-install=loose,args=wp-granularity=bogus"
start_must_fail "unknown property" "Invalid parameter 'trace-install'" \
    "migration-accel,id=ma0,plugin=$PLUGIN,trace-install=loose"

# Over QMP: failures leave the monitor usable, a good plugin then loads.
qmp_in=$TEST_TMP/qmp-in
cat >"$qmp_in" <<EOQ
{"execute": "qmp_capabilities"}
{"execute": "object-add", "arguments": {"qom-type": "migration-accel", "id": "bad1", "plugin": "$bad/libbad-version.so"}}
{"execute": "object-add", "arguments": {"qom-type": "migration-accel", "id": "bad2", "plugin": "/nonexistent/libx.so"}}
{"execute": "query-status"}
{"execute": "object-add", "arguments": {"qom-type": "migration-accel", "id": "ma0", "plugin": "$PLUGIN", "args": ["transport=socket"]}}
{"execute": "qom-get", "arguments": {"path": "/objects/ma0", "property": "args"}}
{"execute": "qom-set", "arguments": {"path": "/objects/ma0", "property": "args", "value": ["switchover=precopy"]}}
{"execute": "qom-get", "arguments": {"path": "/objects/ma0", "property": "stats"}}
{"execute": "qom-set", "arguments": {"path": "/objects/ma0", "property": "args", "value": ["transport=pigeon"]}}
{"execute": "qom-set", "arguments": {"path": "/objects/ma0", "property": "args", "value": ["switchover"]}}
{"execute": "qom-get", "arguments": {"path": "/objects/ma0", "property": "args"}}
{"execute": "object-add", "arguments": {"qom-type": "migration-accel", "id": "ma1", "plugin": "$PLUGIN"}}
{"execute": "object-del", "arguments": {"id": "ma0"}}
{"execute": "object-add", "arguments": {"qom-type": "migration-accel", "id": "ma2", "plugin": "$PLUGIN"}}
{"execute": "object-del", "arguments": {"id": "ma2"}}
{"execute": "object-add", "arguments": {"qom-type": "migration-accel", "id": "v5", "plugin": "$bad/libapi-v5.so"}}
{"execute": "query-status"}
{"execute": "quit"}
EOQ
out=$TEST_TMP/qmp-out
if ! timeout 60 "${qemu_base[@]}" -S -qmp stdio <"$qmp_in" >"$out" 2>"$TEST_TMP/qmp-err"; then
    not_ok "QEMU under QMP exited with an error"
fi
# One reply line per command, in order, after the greeting.
reply() { sed -n "$(($1 + 2))p" "$out"; }
check_reply() { # N NAME TEXT
    if reply "$1" | grep -qF -- "$3"; then ok "$2"; else not_ok "$2: reply was: $(reply "$1")"; fi
}
check_reply 1 "QMP object-add of wrong version fails" "uses API version 999"
check_reply 2 "QMP object-add of a missing file fails" "cannot load plugin '/nonexistent/libx.so'"
check_reply 3 "monitor still usable after failed loads" '"status": "prelaunch"'
check_reply 4 "QMP object-add of the plugin succeeds" '{"return": {}}'
# qom-get of args: every option with the value in force, set or default
# (the defaults are the accelerations)
check_reply 5 "qom-get args: a default value" '"trace-install=loose"'
check_reply 5 "qom-get args: another default value" '"switchover=bitmap"'
check_reply 5 "qom-get args: the first-pass default" '"first-pass=populated"'
check_reply 5 "qom-get args: the value set at object-add" '"transport=socket"'
check_reply 6 "qom-set args changes one option" '{"return": {}}'
check_reply 7 "stats property carries the API version" '"api_version": 9'
check_reply 7 "stats give enums as names" '"switchover_mode": "precopy"'
check_reply 8 "qom-set of an invalid value is refused" "invalid value 'pigeon' for transport (accepted: socket, io_uring)"
check_reply 9 "qom-set of an entry without a value is refused" "'switchover' in args is not NAME=VALUE"
check_reply 10 "qom-get args after qom-set: the new value" '"switchover=precopy"'
check_reply 10 "qom-get args after qom-set: the others kept" '"transport=socket"'
check_reply 11 "a second accelerator is refused" "already loaded"
check_reply 12 "object-del of an idle accelerator" '{"return": {}}'
check_reply 13 "loading again after object-del" '{"return": {}}'
check_reply 14 "object-del again" '{"return": {}}'
check_reply 15 "a plugin built for the unreleased API version 5 is refused" "uses API version 5, this QEMU supports versions 6 to 9"
check_reply 16 "QEMU still usable at the end" '"status": "prelaunch"'
finish
