#!/bin/bash
# 042-restart-inflight: vifd is killed (SIGKILL) in the middle of a
# sequence-numbered stream between two libvif endpoints, and started again;
# with INFLIGHT_SHMFD the sender's queued and in-flight frames are served
# by the new vifd: the receiver checks every sequence number.
#
#   vifbench tx --server --verify <--p1.sock-- vifd br0 --p2.sock--> vifbench rx --server --verify
#
# To have frames in flight at the kill, vifd is stopped (SIGSTOP) and
# continued until a stop catches it inside a burst: the sender's inflight
# region (read through /proc/PID/fd) then marks chains vifd has taken and
# not completed (with INFLIGHT; 1000 tries at most, else the kill comes at
# any point). It stays stopped 0.3 s while the sender goes on queueing (its
# ring fills: 256 frames), and is killed.
#
# Case A (INFLIGHT negotiated): no frame is duplicated (no sequence number
# comes twice or out of order), and none is lost but those vifd had already
# completed on the sender's ring and written into the receiver's ring
# without publishing them yet (the receiver's ring loses them by design:
# at most one burst, 32 frames). Case B (--no-inflight): the endpoints
# reset their rings at the reconnect, so the frames queued in the sender's
# ring are lost: reported, to compare.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/restart.sh"
: "${VIFBENCH:?}"

connected() { [ "$(port_info "$1" connected)" = True ]; }
stat_at_least() { [ "$(port_stat "$1" "$2")" -ge "$3" ]; }
CLEANUP_HOOKS+=('[ -n "$VIFD_PID" ] && kill -CONT "$VIFD_PID" 2>/dev/null')

# The receiver's ring holds 1.6 s of the stream: a receiver starved by a
# busy machine costs drops the old vifd can no longer report after the
# kill (those the counters show are subtracted).
COUNT=80000
RATE=20000

# stop_in_burst TXPID: SIGSTOPs vifd, continuing it again until the tx
# ring's part of the sender's inflight region has chains marked (or 1000
# tries); leaves vifd stopped; prints how many chains were marked.
stop_in_burst() {
	python3 - "$1" "$VIFD_PID" <<'EOF'
import os, signal, struct, sys, time
tx, vifd = sys.argv[1], int(sys.argv[2])
path = None
for fd in os.listdir(f"/proc/{tx}/fd"):
    if "vifd-inflight" in os.readlink(f"/proc/{tx}/fd/{fd}"):
        path = f"/proc/{tx}/fd/{fd}"
marked = 0
for i in range(1000):
    os.kill(vifd, signal.SIGSTOP)
    time.sleep(0.001)
    if not path:
        break
    data = open(path, "rb").read()
    num = struct.unpack_from("<H", data, 10)[0]
    stride = (16 + 16 * num + 63) // 64 * 64
    ring = data[stride:2 * stride]  # vring 1: the sender's tx ring
    marked = sum(ring[16 + 16 * k] for k in range(num))
    if marked:
        break
    os.kill(vifd, signal.SIGCONT)
    time.sleep(0.002)
print(marked)
EOF
}

# drops: every drop counter of p1 and p2 summed (congestion, not restarts).
drops() {
	vctl -j stats | jq '[.ports[] | select(.name == "p1" or .name == "p2") | .drops[]] | add'
}

# run_case NAME [VIFBENCH FLAGS]: one stream with one kill; sets LOST DUP.
run_case() {
	local name=$1; shift
	rm -rf "$T/state" "$T/p1.sock" "$T/p2.sock"
	bg "tx$name" "$VIFBENCH" --server --sock "$T/p1.sock" --mode tx --rate $RATE \
		--count $COUNT --verify --timeout 60 "$@" \
		--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json
	local txpid=$LAST_PID
	bg "rx$name" "$VIFBENCH" --server --sock "$T/p2.sock" --mode rx --verify --loss-ok \
		--ring-size 32768 --rx-buf 256 --expect $COUNT --idle-end 5 --timeout 60 "$@" \
		--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json
	local rxpid=$LAST_PID
	wait_for 10 "vifbench sockets" test -S "$T/p1.sock" -a -S "$T/p2.sock"
	start_vifd
	# The receiver first: the sender starts as soon as vifd reaches it.
	vctl add-port br0 p2 type=vhostuser path="$T/p2.sock" mode=client
	wait_for 10 "p2 up" live_rx_is p2 1
	vctl add-port br0 p1 type=vhostuser path="$T/p1.sock" mode=client
	wait_for 10 "p1 connected" connected p1
	wait_for 15 "traffic before the kill" stat_at_least p2 tx_pkts 5000

	DROPS=$(drops)
	MARKED=$(stop_in_burst "$txpid")
	sleep 0.3
	kill_vifd "$name"
	restart_vifd
	wait_for 15 "sender reconnected" grep -q "backend reconnected" "$T/tx$name.log"
	wait_for 15 "receiver reconnected" grep -q "backend reconnected" "$T/rx$name.log"

	wait "$txpid" || fail "$name: sender failed: $(tail -n 3 "$T/tx$name.log")"
	forget_pid "$txpid"
	wait "$rxpid" || fail "$name: receiver failed: $(tail -n 3 "$T/rx$name.log")"
	forget_pid "$rxpid"
	vifd_alive
	DROPS=$((DROPS + $(drops)))
	[ "$(port_stat p1 ring_errors)" = 0 ] && [ "$(port_stat p2 ring_errors)" = 0 ] ||
		fail "$name: ring errors"
	local txj rxj sent got gaps
	txj=$(grep '^{' "$T/tx$name.log") || fail "no JSON from the sender"
	rxj=$(grep '^{' "$T/rx$name.log") || fail "no JSON from the receiver"
	sent=$(jget "$txj" "j['tx_pkts']")
	got=$(jget "$rxj" "j['rx_bench']")
	gaps=$(jget "$rxj" "j['lost']")
	DUP=$(jget "$rxj" "j['out_of_order']")
	[ "$(jget "$rxj" "j['errors']")" = 0 ] || fail "$name: frames corrupted"
	[ "$sent" = "$COUNT" ] || fail "$name: sender queued $sent of $COUNT"
	# Every frame the receiver got once or more: got - DUP distinct ones.
	LOST=$((sent - (got - DUP)))
	RESUB=$(($(port_stat p1 inflight_resubmitted) + $(port_stat p2 inflight_resubmitted)))
	local logged
	logged=$( (grep -ho "[0-9]* chains were in flight" "$T/vifd.log" || true) | awk '{s += $1} END {print s + 0}')
	[ "$logged" = "$RESUB" ] || fail "$name: $RESUB chains counted in flight, $logged logged"
	log "$name: killed with $MARKED chains marked in flight on the sender's ring"
	log "$name: sent $sent, received $got ($gaps in sequence gaps), lost $LOST," \
		"duplicated or reordered $DUP; dropped by vifd (counters): $DROPS;" \
		"chains vifd found in flight at its restart: $RESUB"
	LOST=$((LOST - DROPS))
	kill -TERM "$VIFD_PID"
	wait "$VIFD_PID" || fail "vifd exited with an error"
	forget_pid "$VIFD_PID"
	VIFD_PID=
}

run_case A
[ "$DUP" = 0 ] || fail "A: $DUP frames duplicated or out of order with INFLIGHT"
[ "$LOST" -le 32 ] || fail "A: $LOST frames lost with INFLIGHT (at most one burst expected)"
grep -q "inflight region" "$T/vifd-before-restart-A.log" || fail "A: no inflight region was set up"
# (RESUB also counts the receiver's rx buffers vifd had taken)
[ "$RESUB" -ge "$MARKED" ] || fail "A: $MARKED chains marked at the kill, $RESUB found again"
A_LOST=$LOST A_MARKED=$MARKED

run_case B --no-inflight
[ "$DUP" = 0 ] || fail "B: $DUP frames duplicated or out of order"
[ "$LOST" -ge 1 ] || fail "B: nothing lost without INFLIGHT: the ring was not full at the kill?"
log "restart figures: with INFLIGHT $A_LOST lost, 0 duplicated ($A_MARKED chains in flight" \
	"at the kill served again); without, $LOST lost"
log "PASS"
