#!/bin/bash
# 100-guest-ping-iperf: two real Linux guests (QEMU, virtio-net over
# vhost-user, TCG) talk through vifd: ping, then a TCP stream with iperf3.
# Guest 1's QEMU is the socket client (vifd listens); guest 2's QEMU is the
# socket server (vifd connects as client). Nothing blocks the migration
# of guest 1 (vifd offers dirty-page logging; 102 migrates a guest).
#
#   guest1 10.0.0.1 --(vifd listens on g1.sock)--> vifd br0 --(vifd connects to g2.sock)--> guest2 10.0.0.2
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/guest.sh"

start_vifd
vctl add-port br0 g1 type=vhostuser path="$T/g1.sock" mode=server

# Guest 2 first: QEMU listens and waits for vifd.
bg_guest guest2 --server --sock "$T/g2.sock" \
	--mac 52:54:00:00:00:02 --ip 10.0.0.2/24 --log "$T/g2-console.log" --timeout 240 \
	--cmd 'iperf3 -s -1 >/tmp/ip.out 2>&1; cat /tmp/ip.out | tail -n 4'
G2=$LAST_PID
wait_for 30 "guest 2's socket" test -S "$T/g2.sock"
vctl add-port br0 g2 type=vhostuser path="$T/g2.sock" mode=client
wait_for 90 "guest 2 ready" grep -aq "^GUEST-CMD" "$T/g2-console.log"

bg_guest guest1 --client --sock "$T/g1.sock" --qmp "$T/g1-qmp.sock" \
	--mac 52:54:00:00:00:01 --ip 10.0.0.1/24 --log "$T/g1-console.log" --timeout 240 \
	--cmd 'i=0; until ping -c 1 -W 1 10.0.0.2 >/dev/null; do i=$((i+1)); [ $i -lt 60 ] || exit 3; done;
ping -c 5 -W 2 10.0.0.2 || exit 4; sleep 1; iperf3 -c 10.0.0.2 -t 4 || exit 5'
G1=$LAST_PID

# vifd offers dirty-page logging (LOG_ALL, LOG_SHMFD): QEMU has no reason
# to block the migration of guest 1 (it would name the missing
# LOG_SHMFD).
wait_for 60 "guest 1's QMP socket" test -S "$T/g1-qmp.sock"
wait_for 60 "guest 1 attached" live_rx_is g1 1
mq=$(python3 "$(dirname "$0")/../lib/qmp.py" "$T/g1-qmp.sock" '{"execute":"query-migrate"}') ||
	fail "QMP query-migrate failed: $mq"
case $mq in
*'LOG_SHMFD'* | *blocked*) fail "QEMU blocks the migration of guest 1: $mq" ;;
*) log "migration of guest 1 not blocked: $mq" ;;
esac

wait "$G1"; rc1=$?
wait "$G2"; rc2=$?
vifd_alive
grep -aE "packets transmitted|receiver|sender" "$T/g1-console.log" | tr -d '\r' || true
[ "$rc1" = 0 ] || fail "guest 1 command failed (rc=$rc1)"
[ "$rc2" = 0 ] || fail "guest 2 command failed (rc=$rc2)"
grep -aq "5 packets transmitted, 5 packets received" "$T/g1-console.log" || fail "ping lost packets"
grep -aqE "receiver" "$T/g1-console.log" || fail "no iperf3 result"
# The stream really crossed vifd: megabytes in the g1 -> g2 direction.
rx=$(port_stat g1 rx_bytes)
[ "$rx" -gt 1000000 ] || fail "only $rx bytes from guest 1 crossed vifd"
[ "$(port_stat g1 ring_errors)" = 0 ] && [ "$(port_stat g2 ring_errors)" = 0 ] || fail "ring errors"
log "vifd counted $rx bytes from guest 1; PASS"
