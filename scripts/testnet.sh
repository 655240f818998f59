#!/usr/bin/env bash
# The network test bed: two network namespaces, nothing outside them.
#   NAME-host    bridge br0 with ports tap-src, tap-dst (one per QEMU) and
#                veth vh; loopback up (the migration stream uses it).
#                QEMUs and the migration driver run here.
#   NAME-client  veth vc (10.213.1.100/24), the other end of vh: the client
#                that pings the guest (10.213.1.2/24, set by mig.ip=).
# Usage (as root):
#   scripts/testnet.sh up NAME      create; prints the two namespace names
#   scripts/testnet.sh down NAME    delete (also after a partial 'up')
#   scripts/testnet.sh check        can this machine build it? (exit 0/1, reason on stdout)
set -euo pipefail

CLIENT_ADDR=10.213.1.100/24

die() { echo "testnet: $*" >&2; exit 1; }

check() {
    local probe=mat-probe-$$
    [ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, bridge, taps)"; return 1; }
    command -v ip >/dev/null || { echo "no 'ip' command (apt-get install iproute2)"; return 1; }
    [ -c /dev/net/tun ] || { echo "no /dev/net/tun (tap devices)"; return 1; }
    if ! out=$(ip netns add "$probe" 2>&1); then
        echo "cannot create a network namespace: $out"
        return 1
    fi
    if ! out=$( { ip -n "$probe" link add br0 type bridge &&
                  ip -n "$probe" tuntap add tap0 mode tap; } 2>&1); then
        ip netns del "$probe" 2>/dev/null || true
        echo "cannot create a bridge and a tap in a namespace: $out"
        return 1
    fi
    ip netns del "$probe"
}

up() {
    local h=$1-host c=$1-client
    ip netns add "$h"
    ip netns add "$c"
    ip -n "$h" link set lo up
    ip -n "$c" link set lo up
    ip -n "$h" link add br0 type bridge
    # Forward at once: no STP listening/learning delay on new ports.
    ip -n "$h" link set br0 type bridge stp_state 0 forward_delay 0
    ip -n "$h" link set br0 up
    for tap in tap-src tap-dst; do
        ip -n "$h" tuntap add "$tap" mode tap
        ip -n "$h" link set "$tap" master br0
        ip -n "$h" link set "$tap" up
    done
    ip link add vc netns "$c" type veth peer name vh netns "$h"
    ip -n "$h" link set vh master br0
    ip -n "$h" link set vh up
    ip -n "$c" addr add "$CLIENT_ADDR" dev vc
    ip -n "$c" link set vc up
    echo "$h $c"
}

down() {
    # Deleting a namespace deletes its devices (the veth pair with it).
    ip netns del "$1-host" 2>/dev/null || true
    ip netns del "$1-client" 2>/dev/null || true
}

case "${1:-}" in
up)
    [ -n "${2:-}" ] || die "usage: $0 up NAME"
    if ! up "$2"; then down "$2"; die "could not build the test network $2"; fi
    ;;
down)
    [ -n "${2:-}" ] || die "usage: $0 down NAME"
    down "$2"
    ;;
check) check ;;
*) die "usage: $0 up NAME | down NAME | check" ;;
esac
