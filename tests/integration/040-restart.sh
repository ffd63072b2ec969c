#!/bin/bash
# 040-restart: vifd is killed (SIGKILL) and started again on the same state
# directory; the frontends stay up, reconnect, and traffic resumes without
# a guest reboot.
#
# Part A, libvif: two vifbench endpoints listen (--server), vifd connects to
# both (mode=client). A paced sender streams through vifd to a sink.
#
#   vifbench tx --server <--p1.sock-- vifd br0 --p2.sock--> vifbench rx --server
#
# Part B, QEMU: guest 2's QEMU listens (vifd connects, mode=client), guest 1's
# QEMU connects to vifd (mode=server) with reconnect=1, so both socket modes
# come back. Guest 1 pings guest 2 twice a second; vifd dies in the middle.
#
#   guest1 10.0.0.1 --(vifd listens on g1.sock)--> vifd br0 --(vifd connects to g2.sock)--> guest2 10.0.0.2
#
# The ports are not added again after a restart: vifd restores them from
# its state directory (state.json).
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

stat_at_least() { [ "$(port_stat "$1" "$2")" -ge "$3" ]; }
connected() { [ "$(port_info "$1" connected)" = True ]; }

# restart_vifd: SIGKILL the running vifd (no clean shutdown: sockets, pid
# file and guest rings are left as a crash leaves them) and start another
# on the same state dir. The stale control socket still exists, so wait
# until the new vifd answers, not merely for the socket file.
kill_vifd() {
	kill -KILL "$VIFD_PID"
	wait "$VIFD_PID" 2>/dev/null || true
	forget_pid "$VIFD_PID"
	cp "$T/vifd.log" "$T/vifd-before-restart-$1.log"
}
restart_vifd() {
	start_vifd
	wait_for 10 "restarted vifd answering" vctl show
}

# last_rx LOG: the receiver's rx count in its last progress line.
last_rx() { grep -o ' rx [0-9]* err' "$1" | tail -n 1 | awk '{print $2}'; }

# ---------------------------------------------------------------- Part A
log "A: libvif server-mode endpoints, vifd client mode"
RATE=5000
bg tx "$VIFBENCH" --server --sock "$T/p1.sock" --mode tx --rate $RATE --timeout 60 \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --interval 0.2 --json
TXPID=$LAST_PID
bg rx "$VIFBENCH" --server --sock "$T/p2.sock" --mode rx --timeout 60 \
	--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --interval 0.2 --json
RXPID=$LAST_PID
wait_for 10 "vifbench sockets" test -S "$T/p1.sock" -a -S "$T/p2.sock"

start_vifd
vctl add-port br0 p1 type=vhostuser path="$T/p1.sock" mode=client
vctl add-port br0 p2 type=vhostuser path="$T/p2.sock" mode=client
wait_for 10 "p1 connected" connected p1
wait_for 10 "p2 connected" connected p2
wait_for 15 "traffic before the restart" stat_at_least p2 tx_pkts 2000
before=$(port_stat p2 tx_pkts)
log "A: traffic flows: vifd has forwarded $before frames p1 -> p2"

kill_vifd A
# Both sides notice the loss; while vifd is away nothing can arrive, so the
# receiver's count freezes: read it after two more progress lines.
wait_for 10 "receiver saw the disconnect" grep -q "backend disconnected" "$T/rx.log"
wait_for 10 "sender saw the disconnect" grep -q "backend disconnected" "$T/tx.log"
sleep 0.5
rx_before=$(last_rx "$T/rx.log")
log "A: vifd killed; receiver had $rx_before frames"

restart_vifd
[ "$(jget "$(vctl -j show)" "[p['name'] for p in j['bridges'][0]['ports']]")" = "['p1', 'p2']" ] ||
	fail "the restarted vifd did not restore p1 and p2"
wait_for 15 "sender reconnected" grep -q "backend reconnected" "$T/tx.log"
wait_for 15 "receiver reconnected" grep -q "backend reconnected" "$T/rx.log"
wait_for 15 "traffic after the restart" stat_at_least p2 tx_pkts 2000
vifd_alive
[ "$(port_stat p1 ring_errors)" = 0 ] && [ "$(port_stat p2 ring_errors)" = 0 ] || fail "ring errors"

# Stop the sender, let the sink drain, then stop the sink: each prints its
# JSON line on SIGTERM.
kill -TERM "$TXPID"
wait "$TXPID" || fail "sender failed: $(tail -n 3 "$T/tx.log")"
sleep 0.3
kill -TERM "$RXPID"
wait "$RXPID" || fail "receiver failed: $(tail -n 3 "$T/rx.log")"
after=$(port_stat p2 tx_pkts)
txj=$(grep '^{' "$T/tx.log") || fail "no JSON from the sender"
rxj=$(grep '^{' "$T/rx.log") || fail "no JSON from the receiver"
rx_total=$(jget "$rxj" "j['rx_bench']")
[ "$(jget "$txj" "j['reconnects']")" -ge 1 ] || fail "sender did not reconnect"
[ "$(jget "$rxj" "j['reconnects']")" -ge 1 ] || fail "receiver did not reconnect"
rx_after=$((rx_total - rx_before))
log "A: after the restart vifd forwarded $after frames, receiver got $rx_after more ($rx_total in all)"
[ "$rx_after" -ge 1000 ] || fail "receiver got only $rx_after frames after the restart"
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" || fail "vifd exited with an error"

# ---------------------------------------------------------------- Part B
G=${SHARED_GUEST:?}
GUEST_DIR=${GUEST_DIR:-$T/guest}
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86 missing (scripts/deps.sh)"
"$G/mkguest.sh" "$GUEST_DIR" /usr/bin/iperf3 >"$T/mkguest.log" 2>&1 || fail "mkguest.sh failed"
log "B: QEMU guests, one server-mode and one client-mode (reconnect=1) socket"
NPING=40

start_vifd --reset-state # not part A's ports
vctl add-port br0 g1 type=vhostuser path="$T/g1.sock" mode=server
bg guest2 "$G/runguest.sh" --guest "$GUEST_DIR" --server --sock "$T/g2.sock" \
	--mac 52:54:00:00:00:02 --ip 10.0.0.2/24 --log "$T/g2-console.log" --timeout 180 \
	--cmd 'sleep 170'
G2=$LAST_PID
wait_for 30 "guest 2's socket" test -S "$T/g2.sock"
vctl add-port br0 g2 type=vhostuser path="$T/g2.sock" mode=client
bg guest1 "$G/runguest.sh" --guest "$GUEST_DIR" --client --reconnect 1 --sock "$T/g1.sock" \
	--mac 52:54:00:00:00:01 --ip 10.0.0.1/24 --log "$T/g1-console.log" --timeout 180 \
	--cmd "i=0; until ping -c 1 -W 1 10.0.0.2 >/dev/null; do i=\$((i+1)); [ \$i -lt 90 ] || exit 3; done;
echo PING-START; ping -c $NPING -i 0.5 -W 2 10.0.0.2; echo PING-END"
G1=$LAST_PID

# Kill vifd a quarter into the sequence, and stay away for 2 s.
wait_for 120 "guest 1 pinging" grep -q "seq=$((NPING / 4)) " "$T/g1-console.log"
kill_vifd B
log "B: vifd killed after ping seq=$((NPING / 4))"
sleep 2
restart_vifd
[ "$(jget "$(vctl -j show)" "[p['name'] for p in j['bridges'][0]['ports']]")" = "['g1', 'g2']" ] ||
	fail "the restarted vifd did not restore g1 and g2"
wait_for 30 "g2 reconnected" connected g2
wait_for 30 "g1 reconnected" connected g1
log "B: vifd restarted, both guests reconnected"

wait_for 90 "guest 1's ping to finish" grep -q "^PING-END" "$T/g1-console.log"
rc1=0
wait "$G1" || rc1=$?
vifd_alive
tr -d '\r' <"$T/g1-console.log" | grep -E "seq=|packets transmitted" | sed 's/^/    /' || true
[ "$rc1" = 0 ] || fail "guest 1 command failed (rc=$rc1)"
# Every one of the last quarter of the pings was answered (busybox prints
# one "seq=N" line per reply).
seqs=$(tr -d '\r' <"$T/g1-console.log" | sed -n '/^PING-START/,/^PING-END/p' |
	grep -o 'from 10.0.0.2: seq=[0-9]*' | sed 's/.*seq=//' || true)
for s in $(seq $((NPING * 3 / 4)) $((NPING - 1))); do
	echo "$seqs" | grep -qx "$s" || fail "ping seq=$s after the restart got no reply"
done
lost=$(( NPING - $(echo "$seqs" | sort -un | wc -l) ))
for g in g1 g2; do
	n=$(grep -c "^GUEST-BOOT" "$T/$g-console.log" || true)
	[ "$n" = 1 ] || fail "guest $g booted $n times"
done
[ "$(port_stat g1 rx_pkts)" -gt 0 ] && [ "$(port_stat g2 rx_pkts)" -gt 0 ] ||
	fail "restarted vifd forwarded nothing"
[ "$(port_stat g1 ring_errors)" = 0 ] && [ "$(port_stat g2 ring_errors)" = 0 ] || fail "ring errors"
# Guest 2 only answered pings: stop it, then vifd (its exit status counts,
# e.g. for leaks under ASan).
kill -TERM "$G2"
wait "$G2" 2>/dev/null || true
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" || fail "restarted vifd exited with an error"
log "B: $lost of $NPING pings lost during the outage, the last $((NPING / 4)) all answered, no guest reboot"
log "PASS"
