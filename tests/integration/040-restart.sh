#!/bin/bash
# 040-restart: vifd is killed (SIGKILL) and started again on the same state
# directory; the frontends stay up, reconnect, and traffic resumes. Two
# libvif endpoints listen (--server), vifd connects to both (mode=client). A
# paced sender streams through vifd to a sink. (041 does the same with
# QEMU guests.)
#
#   vifbench tx --server <--p1.sock-- vifd br0 --p2.sock--> vifbench rx --server
#
# The ports are not added again after a restart: vifd restores them from
# its state directory (state.json).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/restart.sh"
: "${VIFBENCH:?}"

stat_at_least() { [ "$(port_stat "$1" "$2")" -ge "$3" ]; }
connected() { [ "$(port_info "$1" connected)" = True ]; }

# last_rx LOG: the receiver's rx count in its last progress line.
last_rx() { grep -o ' rx [0-9]* err' "$1" | tail -n 1 | awk '{print $2}'; }

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

log "PASS"
