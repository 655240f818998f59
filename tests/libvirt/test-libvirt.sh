#!/usr/bin/env bash
# virsh migrate between two libvirt daemons on this one machine, each in its
# own network, UTS and mount namespaces ("host A" and "host B", joined by a
# veth pair), with the patched QEMU as the domain's emulator and the plugin
# loaded through <qemu:commandline>. docs/libvirt.md explains the setup.
#   test-libvirt.sh SRC BUILD SCENARIO
# SCENARIO:
#   live      virsh migrate --live
#   postcopy  virsh migrate --live --postcopy --postcopy-after-precopy, with
#             bandwidth caps so it switches to postcopy and stays there a while
#   abort     a slow migration aborted with virsh domjobabort, then a second
#             one that completes
# MIGACCEL_VIRSH_MIGRATE_ARGS adds virsh migrate options to the live
# scenario, e.g. "--parallel" or "--compressed".
# Checks: where the domain runs afterwards (both daemons), the accelerator's
# stats (the destination's; the source's where it outlives the migration),
# and the guest's own memory check on its serial console (no CORRUPT,
# errors=0, and its seconds counter advancing after the migration).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh" "$1" "$2"
scenario=${3:?scenario: live|postcopy|abort}
case "$scenario" in
live|postcopy|abort) ;;
*) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, libvirtd as root)"
for tool in libvirtd virsh ip unshare python3; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done
if ! err=$(unshare --net --uts --mount true 2>&1); then
    skip "cannot create namespaces here: $err"
fi
require_file "$QEMU" "run scripts/build-qemu.sh"
require_file "$PLUGIN" "build the plugin (meson compile -C build)"
require_file "$GUEST_DIR/initramfs.cpio.gz" "run scripts/build-guest.sh"
# The daemons see this machine's files: every path in the domain XML is absolute.
QEMU=$(realpath "$QEMU")
PLUGIN=$(realpath "$PLUGIN")
GUEST_DIR=$(realpath "$GUEST_DIR")
TEST_TMP=$(realpath "$TEST_TMP")
case "$TEST_TMP" in
/run/*|/var/run/*|/var/lib/libvirt/*|/var/log/libvirt/*|/var/cache/libvirt/*|/etc/libvirt/*)
    # each daemon gets its own tmpfs or bind mount there and would not see it
    echo "FAIL: TMPDIR must not be under /run or libvirt's directories ($TEST_TMP)"
    exit 1 ;;
esac

DOM=migaccel-lv
IP_A=10.213.0.1
IP_B=10.213.0.2
# Names carry our pid: a run never touches another run's namespaces.
NS_A=migaccel-lv-a-$$
NS_B=migaccel-lv-b-$$
VETH_A=mlv$$a
VETH_B=mlv$$b
# The guest's console, at the same path in both daemons' views; each view
# maps it to its own file (TEST_TMP/a/log/... and TEST_TMP/b/log/...).
SERIAL_PATH=/var/log/libvirt/qemu/$DOM-serial.log
SERIAL_A=$TEST_TMP/a/log/qemu/$DOM-serial.log
SERIAL_B=$TEST_TMP/b/log/qemu/$DOM-serial.log
GUEST_APPEND="console=ttyS0 quiet mig.threads=2 mig.hot_mb=256"
# The plugin loaded as the README's XML does, with no options: the
# accelerations (options would go through QEMU as args=NAME=VALUE)
ACCEL_PROPS=

# ---- cleanup (also on failure and on SIGTERM from meson's timeout) ------------
# The test's own output, for cleanup's messages: a signal's trap runs with
# the redirections of the command it interrupted (e.g. >/dev/null).
exec {out_fd}>&1 {err_fd}>&2
created_dirs=()
daemon_pids=()
netns_pids() {
    local ns
    for ns in "$NS_A" "$NS_B"; do
        if [ -e "/run/netns/$ns" ]; then
            ip netns pids "$ns" 2>/dev/null || true
        fi
    done
}
cleanup() {
    local status=$? ns pids i
    set +e
    exec 1>&"$out_fd" 2>&"$err_fd"
    trap - EXIT INT TERM
    if [ "$status" != 0 ] && [ "$status" != 77 ]; then
        [ "$checks_failed" = 0 ] && echo "FAIL: a step of the test failed (exit status $status)"
        show_logs
    fi
    # Everything the daemons started (QEMUs included) lives in their network
    # namespaces: end exactly those processes. Their mount namespaces, and so
    # all the tmpfs and bind mounts, go away with the last of them.
    mapfile -t pids < <(netns_pids)
    [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
    for i in $(seq 50); do
        mapfile -t pids < <(netns_pids)
        [ ${#pids[@]} = 0 ] && break
        [ "$i" = 30 ] && kill -KILL "${pids[@]}" 2>/dev/null
        sleep 0.1
    done
    for i in "${daemon_pids[@]}"; do
        wait "$i" 2>/dev/null
    done
    for ns in "$NS_A" "$NS_B"; do
        [ -e "/run/netns/$ns" ] && ip netns del "$ns"
    done
    ip link show "$VETH_A" >/dev/null 2>&1 && ip link del "$VETH_A"
    # Mount points this run had to create on the machine: empty here (the
    # mounts were private to the daemons' namespaces), but not while another
    # run uses them (removing a mount point detaches it in every namespace).
    if [ "$(ip netns list | grep -c '^migaccel-lv-')" = 0 ]; then
        for ((i = ${#created_dirs[@]} - 1; i >= 0; i--)); do
            rmdir "${created_dirs[$i]}" 2>/dev/null
        done
    fi
    rm -rf "$TEST_TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

show_logs() {
    local f
    for f in "$TEST_TMP"/a/daemon.out "$TEST_TMP"/b/daemon.out \
             "$TEST_TMP"/a/log/libvirtd.log "$TEST_TMP"/b/log/libvirtd.log \
             "$TEST_TMP"/a/log/qemu/$DOM.log "$TEST_TMP"/b/log/qemu/$DOM.log \
             "$SERIAL_A" "$SERIAL_B" "$TEST_TMP"/migrate*.out; do
        [ -s "$f" ] || continue
        echo "--- last lines of $f"
        tail -15 "$f"
    done
}

# ---- the two hosts ------------------------------------------------------------
virsh_a() { ip netns exec "$NS_A" virsh -q -c "qemu+tcp://$IP_A/system" "$@"; }
virsh_b() { ip netns exec "$NS_B" virsh -q -c "qemu+tcp://$IP_B/system" "$@"; }
# migrate_a ARGS: virsh migrate from A to B, bounded (a migration that never
# converges fails here rather than at meson's timeout; virsh going away
# makes libvirt abort the migration)
migrate_a() {
    timeout 300 ip netns exec "$NS_A" virsh -q -c "qemu+tcp://$IP_A/system" \
        migrate "$@" "$DOM" "qemu+tcp://$IP_B/system"
}

# A run killed outright (SIGKILL) leaves its namespaces and what ran in
# them: end those of runs that are gone.
while read -r ns pid; do
    kill -0 "$pid" 2>/dev/null && continue
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    [ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null
    echo "removing namespace $ns of an earlier run"
    ip netns del "$ns" || true
done < <(ip netns list | sed -n 's/^\(migaccel-lv-[ab]-\([0-9]*\)\)\( .*\)\{0,1\}$/\1 \2/p')

# Mount points for the daemons' private directories. A machine with
# libvirt-daemon-system has them already; without it, create them (empty,
# removed again by cleanup).
for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
    if [ ! -d "$d" ]; then
        mkdir "$d"
        created_dirs+=("$d")
    fi
done

ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$VETH_A" type veth peer name "$VETH_B"
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add "$IP_A/24" dev "$VETH_A"
ip -n "$NS_B" addr add "$IP_B/24" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up

# start_host NAME NETNS IP: libvirtd in NETNS with new UTS and mount
# namespaces in which /etc/libvirt, /var/lib/libvirt, /var/log/libvirt and
# /var/cache/libvirt are TEST_TMP/NAME/..., and /run (so /var/run) is an
# empty tmpfs: no /run/libvirt shared with the other daemon, and no
# systemd or D-Bus socket of the machine (libvirt would register the guest
# with the machine's systemd-machined, where both daemons' guests clash).
start_host() {
    local name=$1 ns=$2 ip=$3 dir=$TEST_TMP/$1
    mkdir -p "$dir"/etc "$dir"/lib "$dir"/log/qemu "$dir"/cache "$dir"/bin
    # libvirt looks for qemu-system-x86_64 in PATH to offer x86_64 guests.
    ln -s "$QEMU" "$dir/bin/qemu-system-x86_64"
    # libvirt's QEMU driver looks up its build's default user and group
    # (libvirt-qemu) before it reads qemu.conf; libvirt-daemon-system creates
    # them, we do not install it (it starts services): the daemon gets a
    # private copy of passwd and group with them added where missing.
    cp /etc/passwd "$dir/passwd"
    cp /etc/group "$dir/group"
    if [ "$(grep -c '^libvirt-qemu:' /etc/passwd)" = 0 ]; then
        echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >>"$dir/passwd"
    fi
    if [ "$(grep -c '^libvirt-qemu:' /etc/group)" = 0 ]; then
        echo 'libvirt-qemu:x:64055:' >>"$dir/group"
    fi
    # libvirt refuses to migrate to a host with its own host UUID.
    cat >"$dir/etc/libvirtd.conf" <<EOF
# test-libvirt.sh: host $name
listen_tls = 0
listen_tcp = 1
listen_addr = "$ip"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
    # As root, unconfined and without cgroups (no systemd here, and the
    # machine's cgroups are not ours to carve up); no private /dev for QEMU;
    # QEMU's stderr to a file, not through virtlogd; migration streams to
    # this host's veth address (the other host cannot resolve our name).
    cat >"$dir/etc/qemu.conf" <<EOF
# test-libvirt.sh: host $name
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
migration_address = "$ip"
migration_host = "$ip"
EOF
    # shellcheck disable=SC2016 # expanded by the inner bash
    ip netns exec "$ns" unshare --mount --uts --propagation private -- \
        bash -c 'set -e
                 dir=$1
                 mount -t tmpfs -o mode=0755 migaccel-run /run
                 mount --bind "$dir/etc" /etc/libvirt
                 mount --bind "$dir/passwd" /etc/passwd
                 mount --bind "$dir/group" /etc/group
                 mount --bind "$dir/lib" /var/lib/libvirt
                 mount --bind "$dir/log" /var/log/libvirt
                 mount --bind "$dir/cache" /var/cache/libvirt
                 hostname "$2"
                 PATH=$dir/bin:$PATH exec libvirtd --listen' \
        start-host "$dir" "migaccel-host-$name" >"$dir/daemon.out" 2>&1 {out_fd}>&- {err_fd}>&- &
    daemon_pids+=($!)
}

start_host a "$NS_A" "$IP_A"
start_host b "$NS_B" "$IP_B"
for i in $(seq 300); do
    virsh_a version >/dev/null 2>&1 && virsh_b version >/dev/null 2>&1 && break
    for p in "${daemon_pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "FAIL: a libvirtd exited at start"; exit 1; }
    done
    [ "$i" = 300 ] && { echo "FAIL: the libvirt daemons did not answer within 30 s"; exit 1; }
    sleep 0.1
done
ha=$(virsh_a hostname); hb=$(virsh_b hostname)
ua=$(virsh_a capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -1)
ub=$(virsh_b capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -1)
if [ "$ha" != "$hb" ] && [ -n "$ua" ] && [ "$ua" != "$ub" ]; then
    ok "two libvirt daemons up: $ha ($IP_A, host uuid $ua) and $hb ($IP_B, host uuid $ub)"
else
    not_ok "the two daemons do not look like two hosts: '$ha' '$ua' / '$hb' '$ub'"
    finish
fi

# ---- the domain -----------------------------------------------------------------
# <acpi/>: without it libvirt 9.0 (Debian 12) passes -no-acpi, which QEMU
# 10.0 no longer accepts
cat >"$TEST_TMP/domain.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$DOM</name>
  <memory unit='MiB'>1536</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GUEST_DIR/vmlinuz</kernel>
    <initrd>$GUEST_DIR/initramfs.cpio.gz</initrd>
    <cmdline>$GUEST_APPEND</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$QEMU</emulator>
    <serial type='file'>
      <source path='$SERIAL_PATH'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-L'/>
    <qemu:arg value='/usr/share/qemu'/>
    <qemu:arg value='-L'/>
    <qemu:arg value='/usr/share/seabios'/>
    <qemu:arg value='-object'/>
    <qemu:arg value='migration-accel,id=ma0,plugin=$PLUGIN${ACCEL_PROPS:+,$ACCEL_PROPS}'/>
  </qemu:commandline>
</domain>
EOF

# ---- helpers ----------------------------------------------------------------------
# stats HOST: the accelerator's stats on that host's QEMU, as JSON
stats() {
    "virsh_$1" qemu-monitor-command "$DOM" \
        '{"execute":"qom-get","arguments":{"path":"/objects/ma0","property":"stats"}}'
}

# check_stats NAME JSON EXPR...: each EXPR, a Python expression over the
# stats' counters as variables, must hold
check_stats() {
    local name=$1 json=$2 msg
    shift 2
    if msg=$(python3 - "$json" "$@" <<'EOPY'
import json, sys
s = json.loads(sys.argv[1])["return"]
bad = [e for e in sys.argv[2:] if not eval(e, {}, dict(s))]
keys = ["migrations_started", "incoming_started", "failed_phases", "src_setup_calls",
        "src_cleanup_calls", "sync_calls", "trace_loose_syncs", "trace_stock_syncs", "postcopy_discard_calls",
        "dst_setup_calls", "dst_complete_calls"]
print(" ".join(f"{k}={s[k]}" for k in keys if k in s) + ("; not: " + ", ".join(bad) if bad else ""))
sys.exit(1 if bad else 0)
EOPY
    ); then
        ok "$name: $msg"
    else
        not_ok "$name: $msg"
    fi
}

# domstate HOST: "state (reason)", or "absent"
domstate() {
    local out
    if out=$("virsh_$1" domstate --reason "$DOM" 2>/dev/null); then
        echo "$out" | sed -n '1p'
    else
        echo absent
    fi
}

# expect_state NAME HOST PATTERN (extended regex on "state (reason)")
expect_state() {
    local st
    st=$(domstate "$2")
    if [[ $st =~ $3 ]]; then
        ok "$1: $st"
    else
        not_ok "$1: '$st' on host $2, expected /$3/"
    fi
}

# last_sec FILE: the guest's latest seconds count in that serial log (-1: none)
last_sec() {
    local n
    n=$(sed -n 's/^mig: sec=\([0-9]*\) .*/\1/p' "$1" 2>/dev/null | tail -1)
    echo "${n:--1}"
}

# wait_secs NAME FILE AFTER COUNT: the workload's counter in FILE passes
# AFTER+COUNT within 60 s
wait_secs() {
    local i n
    for i in $(seq 600); do
        n=$(last_sec "$2")
        if [ "$n" -ge $(($3 + $4)) ]; then
            ok "$1: the guest's workload runs (sec=$n, was $3)"
            return
        fi
        sleep 0.1
    done
    not_ok "$1: the guest's workload did not get past sec=$(($3 + $4)) in 60 s (latest sec=$n)"
}

# check_integrity NAME FILE: the workload found no lost write
check_integrity() {
    local corrupt bad lines log
    log=$(tr -d '\r' <"$2")  # the console ends its lines with CR LF
    corrupt=$(grep -c 'mig: CORRUPT' <<<"$log" || true)
    # whole lines only: the live console's last line may still be written
    lines=$(grep -Ec '^mig: sec=[0-9]+ writes=[0-9]+ gaps_us=[0-9,]+ errors=[0-9]+$' <<<"$log" || true)
    bad=$(grep -Ec '^mig: sec=.* errors=[1-9][0-9]*$' <<<"$log" || true)
    if [ "$corrupt" = 0 ] && [ "$bad" = 0 ] && [ "$lines" -gt 0 ]; then
        ok "$1: guest memory check clean ($lines sec= lines, all errors=0, no CORRUPT)"
    else
        not_ok "$1: $corrupt CORRUPT lines, $bad of $lines sec= lines with errors, in $2:"
        grep -e 'mig: CORRUPT' -e 'errors=[1-9]' "$2" | head -10 | sed 's/^/    /'
    fi
}

# check_on_destination NAME SRC_SEC: after a migration that completed
check_on_destination() {
    expect_state "$1: on B" b '^running'
    expect_state "$1: on A" a '^shut off \(migrated\)'
    local running_a running_b
    running_a=$(virsh_a list --name)
    running_b=$(virsh_b list --name)
    if [ "$running_b" = "$DOM" ] && [ -z "$running_a" ]; then
        ok "$1: virsh list: running on B only"
    else
        not_ok "$1: virsh list: A '$running_a', B '$running_b'"
    fi
    local json
    if json=$(stats b); then
        check_stats "$1: accelerator on B" "$json" \
            'incoming_started >= 1' 'dst_setup_calls >= 1' 'migrations_started == 0' \
            'failed_phases == 0' "${@:3}"
    else
        not_ok "$1: no accelerator stats from B's QEMU"
    fi
    local mode
    mode=$(virsh_b qemu-monitor-command "$DOM" \
        '{"execute":"qom-get","arguments":{"path":"/objects/ma0","property":"args"}}' || true)
    # no options in the XML: the defaults in force
    for want in trace-install=loose wp-granularity=1G switchover=bitmap transport=io_uring; do
        expect_contains "$1: B's accelerator runs $want" <(echo "$mode") "\"$want\""
    done
    wait_secs "$1: on B" "$SERIAL_B" "$2" 3
    check_integrity "$1: source's console" "$SERIAL_A"
    check_integrity "$1: destination's console" "$SERIAL_B"
}

# ---- boot on A ----------------------------------------------------------------------
virsh_a define "$TEST_TMP/domain.xml" >/dev/null
virsh_a start "$DOM" >/dev/null
for i in $(seq 900); do
    [ "$(last_sec "$SERIAL_A")" -ge 2 ] && break
    if [ "$i" = 900 ]; then
        not_ok "the guest did not reach sec=2 on A within 90 s"
        finish
    fi
    sleep 0.1
done
ok "guest booted on A, workload running (QEMU: $(virsh_a version | sed -n 's/.*hypervisor: //p'))"
expect_contains "QEMU on A runs the plugin" \
    "$TEST_TMP/a/log/qemu/$DOM.log" "migration-accel,id=ma0,plugin=$PLUGIN"

start=$SECONDS
case "$scenario" in
live)
    read -r -a extra <<<"${MIGACCEL_VIRSH_MIGRATE_ARGS:-}"
    if migrate_a --live "${extra[@]}" >"$TEST_TMP/migrate.out" 2>&1; then
        ok "virsh migrate --live${extra[*]:+ ${extra[*]}}: completed in $((SECONDS - start)) s"
    else
        not_ok "virsh migrate --live${extra[*]:+ ${extra[*]}} failed: $(cat "$TEST_TMP/migrate.out")"
    fi
    check_on_destination live "$(last_sec "$SERIAL_A")" 'dst_complete_calls >= 1'
    ;;
postcopy)
    # 40 MiB/s makes the first precopy pass take seconds, so the switch to
    # postcopy after it is certain; 30 MiB/s in postcopy keeps the source
    # alive long enough to read its stats there.
    migrate_a --live --postcopy --postcopy-after-precopy --bandwidth 40 \
        --postcopy-bandwidth 30 >"$TEST_TMP/migrate.out" 2>&1 &
    mig_pid=$!
    src_json=""
    saw_dst_postcopy=""
    while kill -0 "$mig_pid" 2>/dev/null; do
        st=$(domstate a)
        if [[ $st =~ post-copy ]] && [ -z "$src_json" ]; then
            src_json=$(stats a || true)
            stb=$(domstate b)
            [[ $stb =~ post-copy ]] && saw_dst_postcopy=$stb
        fi
        sleep 0.2
    done
    mig_status=0
    wait "$mig_pid" || mig_status=$?
    if [ "$mig_status" = 0 ]; then
        ok "virsh migrate --live --postcopy --postcopy-after-precopy: completed in $((SECONDS - start)) s"
    elif grep -q 'ostcopy is not supported' "$TEST_TMP/migrate.out"; then
        skip "QEMU cannot do postcopy on this kernel: $(cat "$TEST_TMP/migrate.out")"
    else
        not_ok "virsh migrate --postcopy failed: $(cat "$TEST_TMP/migrate.out")"
    fi
    if [ -n "$src_json" ]; then
        ok "source paused in post-copy, destination: ${saw_dst_postcopy:-not seen in post-copy}"
        # the defaults: loose syncs, the 1 GiB summary, and the bitmap
        # switchover (postcopy-ram from --postcopy) sent through io_uring
        check_stats "postcopy: accelerator on A during postcopy" "$src_json" \
            'migrations_started >= 1' 'postcopy_discard_calls >= 1' 'src_setup_calls >= 1' \
            'trace_loose_syncs >= 1' 'wp_summary_block_syncs >= 1' \
            'switchover_bitmap_in_force == 1' 'stream_opens == 1'
    else
        not_ok "postcopy: never saw the source in post-copy (or could not read its stats)"
    fi
    check_on_destination postcopy "$(last_sec "$SERIAL_A")"
    ;;
abort)
    # 5 MiB/s: the first pass over ~300 MiB of non-zero guest memory would
    # take a minute; abort once data is flowing and B has the incoming domain.
    migrate_a --live --bandwidth 5 >"$TEST_TMP/migrate1.out" 2>&1 &
    mig_pid=$!
    seen_b=""
    for i in $(seq 300); do
        processed=$(virsh_a domjobinfo "$DOM" 2>/dev/null | sed -n 's/^Data processed: *\([0-9.]*\) MiB/\1/p')
        stb=$(domstate b)
        [[ $stb =~ paused ]] && seen_b=$stb
        if [ -n "$seen_b" ] && [ -n "$processed" ] && python3 -c "import sys; sys.exit(float('$processed') < 8)"; then
            break
        fi
        kill -0 "$mig_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$seen_b" ] && [ -n "$processed" ]; then
        ok "migration under way: ${processed} MiB sent, on B: $seen_b"
    else
        not_ok "migration not seen under way (processed '${processed:-}', B '${seen_b:-}')"
    fi
    sec_at_abort=$(last_sec "$SERIAL_A")
    if virsh_a domjobabort "$DOM" >"$TEST_TMP/abort.out" 2>&1; then
        ok "virsh domjobabort"
    else
        not_ok "virsh domjobabort failed: $(cat "$TEST_TMP/abort.out")"
    fi
    mig_status=0
    wait "$mig_pid" || mig_status=$?
    if [ "$mig_status" != 0 ] && grep -qi 'cancel\|abort' "$TEST_TMP/migrate1.out"; then
        ok "virsh migrate ended as aborted: $(tr '\n' ' ' <"$TEST_TMP/migrate1.out")"
    else
        not_ok "virsh migrate (status $mig_status) did not end as aborted: $(cat "$TEST_TMP/migrate1.out")"
    fi
    expect_state "abort: on A" a '^running'
    for i in $(seq 100); do
        [ "$(domstate b)" = absent ] && break
        sleep 0.1
    done
    expect_state "abort: on B" b '^absent$'
    if json=$(stats a); then
        check_stats "abort: accelerator on A" "$json" \
            'migrations_started >= 1' 'src_setup_calls >= 1' 'src_cleanup_calls >= 1'
    else
        not_ok "abort: no accelerator stats from A's QEMU"
    fi
    wait_secs "abort: on A" "$SERIAL_A" "$sec_at_abort" 3
    check_integrity "abort: source's console" "$SERIAL_A"
    start=$SECONDS
    if migrate_a --live >"$TEST_TMP/migrate2.out" 2>&1; then
        ok "second virsh migrate --live: completed in $((SECONDS - start)) s"
    else
        not_ok "second virsh migrate --live failed: $(cat "$TEST_TMP/migrate2.out")"
    fi
    check_on_destination "abort, then migrate" "$(last_sec "$SERIAL_A")" 'dst_complete_calls >= 1'
    ;;
esac
finish
