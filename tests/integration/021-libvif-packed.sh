#!/bin/bash
# 021-libvif-packed: 020 across ring kinds. One vifbench sends frames of
# random sizes through vifd to another that verifies every frame's length,
# payload and per-queue order, with packed rings on one side, the other or
# both (libvif's --packed): packed to split, split to packed, packed to
# packed with chained tx descriptors (--seg) and with indirect tables, and
# packed with 2 queue pairs over 2 workers.
#
#   vifbench tx [packed|split] --p1.sock--> vifd br0 --p2.sock--> vifbench rx [split|packed] --verify
#
# Checks as 020: each side negotiated the ring kind asked; sent = delivered
# + no_room (counted by vifd), the receiver got every delivered frame intact
# and in order, at most 10% no_room, no ring errors, no port stopped.
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"
if [ -n "${VIFD_SANITIZE:-}" ] && [ "$VIFD_SANITIZE" != none ]; then
	TOTAL=${TOTAL:-50000}
else
	TOTAL=${TOTAL:-200000}
fi
RATE=${RATE:-40000}
PACKED_BIT=$((1 << 34))

# has_packed PORT WANT(0|1): the port's negotiated features say so.
has_packed() {
	local f
	f=$(port_info "$1" features)
	[ $(( (f & PACKED_BIT) != 0 )) = "$2" ] || fail "$1: features $f, packed should be $2"
}

run() { # NAME WORKERS QUEUES TX_OPTS RX_OPTS
	local name=$1 w=$2 q=$3 txo=$4 rxo=$5 per sent got noroom delivered taken js
	local want_tx=0 want_rx=0
	per=$((TOTAL / q))
	sent=$((per * q))
	case $txo in *--packed*) want_tx=1 ;; esac
	case $rxo in *--packed*) want_rx=1 ;; esac
	log "$name: workers=$w queue_pairs=$q tx [$txo] rx [$rxo]: $sent frames"
	start_vifd --workers "$w" --reset-state
	vctl add-port br0 p1 type=vhostuser path="$T/p1.sock" queues=4
	vctl add-port br0 p2 type=vhostuser path="$T/p2.sock" queues=4
	# shellcheck disable=SC2086
	bg "rx-$name" "$VIFBENCH" --sock "$T/p2.sock" --mode rx --queues "$q" --verify \
		--expect "$sent" --idle-end 5 --loss-ok --timeout 300 --ring-size 16384 --rx-buf 2048 \
		--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json $rxo
	local rxpid=$LAST_PID
	wait_for 10 "receiver connected" live_rx_is p2 "$q"
	has_packed p2 "$want_rx"
	# shellcheck disable=SC2086
	"$VIFBENCH" --sock "$T/p1.sock" --mode tx --queues "$q" --verify --count "$per" \
		--sizes 60-9000 --rate "$RATE" --timeout 300 --ring-size 1024 \
		--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json $txo \
		>"$T/tx-$name.log" 2>&1 &
	local txpid=$!
	PIDS+=("$txpid")
	wait_for 10 "sender connected" live_rx_is p1 "$q"
	has_packed p1 "$want_tx"
	wait "$txpid" || fail "sender failed: $(tail -n 3 "$T/tx-$name.log")"
	forget_pid "$txpid"
	wait "$rxpid" || fail "receiver failed (corruption or reordering): $(tail -n 3 "$T/rx-$name.log")"
	forget_pid "$rxpid"
	js=$(grep '^{' "$T/rx-$name.log" | tail -n 1)
	[ "$(jget "$js" "(j['errors'], j['out_of_order'])")" = "(0, 0)" ] ||
		fail "receiver saw corrupt or reordered frames: $js"
	got=$(jget "$js" "j['rx_bench']")
	vifd_alive
	noroom=$(port_stat p2 drops.no_room)
	delivered=$(port_stat p2 tx_pkts)
	taken=$(port_stat p1 rx_pkts) # the bench frames and one announcement per queue
	[ "$taken" = $((sent + q)) ] || fail "vifd took $taken frames from the sender, $sent + $q sent"
	[ $((delivered + noroom)) = "$taken" ] ||
		fail "vifd delivered $delivered and counted $noroom no_room of the $taken frames it took"
	[ "$(jget "$js" "j['rx_pkts']")" = "$delivered" ] ||
		fail "the receiver got $(jget "$js" "j['rx_pkts']") of the $delivered frames delivered"
	[ $((noroom * 10)) -le "$sent" ] || fail "$noroom of $sent frames found no room"
	[ "$(port_stat p1 ring_errors)" = 0 ] && [ "$(port_stat p2 ring_errors)" = 0 ] || fail "ring errors"
	[ "$(port_stat p1 guest_stops)" = 0 ] && [ "$(port_stat p2 guest_stops)" = 0 ] || fail "a port was stopped"
	log "$name: $got intact and in order, $noroom counted no_room"
	kill -TERM "$VIFD_PID"
	wait "$VIFD_PID" || fail "vifd exited with an error"
	forget_pid "$VIFD_PID"
}

run packed-to-split 1 1 "--packed" ""
run split-to-packed 1 1 "" "--packed"
run packed-seg 1 1 "--packed --seg 512" "--packed"
run packed-indirect 1 1 "--packed --indirect --seg 1024" "--packed --no-mrg --rx-buf 9100"
run packed-2q-2w 2 2 "--packed" "--packed"
log "PASS"
