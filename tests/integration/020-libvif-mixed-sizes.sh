#!/bin/bash
# 020-libvif-mixed-sizes: libvif -> vifd -> libvif. One vifbench sends a
# million frames of random sizes 60..9000 bytes (each spanning several
# 2 KiB rx buffers: MRG_RXBUF), another receives and verifies every frame's
# length, payload and per-queue order. Runs with 1 queue pair and 1 worker,
# 4 queue pairs and 1 worker, and 4 queue pairs over 2 workers (frames
# cross workers; destination rings are shared).
#
#   vifbench tx --p1.sock--> vifd br0 --p2.sock--> vifbench rx --verify
#
# vifd drops (and counts) what a full guest ring cannot take, like any
# switch, and never waits for a receiver; the sender is paced and the
# receiver's rings are deep (16384 buffers: about 400 ms of traffic at
# 40000 frames/s), so a receiver that shares 2 cores with vifd and the
# sender normally loses nothing. A receiver starved of CPU (a sanitizer
# build on a busy machine) may still fill its ring; then every frame it
# misses must be one vifd counted as drops.no_room on its port, exactly:
# sent = delivered + no_room, and the receiver got every delivered frame,
# intact and in order. At most 10% may be missed that way (a datapath
# that drops what it should deliver fails).
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"
# Sanitizer builds run a quarter of the frames (the same sizes and checks).
if [ -n "${VIFD_SANITIZE:-}" ] && [ "$VIFD_SANITIZE" != none ]; then
	TOTAL=${TOTAL:-250000}
else
	TOTAL=${TOTAL:-1000000}
fi
RATE=${RATE:-40000}


run() { # WORKERS QUEUES [TOTAL [SIZES [RATE [MAY_DROP]]]]
	local w=$1 q=$2 total=${3:-$TOTAL} sizes=${4:-60-9000} rate=${5:-$RATE} may_drop=${6:-yes}
	local per sent got noroom delivered taken js
	per=$((total / q))
	sent=$((per * q))
	log "workers=$w queue_pairs=$q: $sent frames, $sizes bytes, $rate pps"
	# each run starts afresh: not with the ports the last one persisted
	start_vifd --workers "$w" --reset-state
	vctl add-port br0 p1 type=vhostuser path="$T/p1.sock" queues=4
	vctl add-port br0 p2 type=vhostuser path="$T/p2.sock" queues=4
	bg "rx-$w-$q" "$VIFBENCH" --sock "$T/p2.sock" --mode rx --queues "$q" --verify \
		--expect "$sent" --idle-end 5 --loss-ok --timeout 300 --ring-size 16384 --rx-buf 2048 \
		--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json
	local rxpid=$LAST_PID
	wait_for 10 "receiver connected" live_rx_is p2 "$q"
	"$VIFBENCH" --sock "$T/p1.sock" --mode tx --queues "$q" --verify --count "$per" \
		--sizes "$sizes" --rate "$rate" --timeout 300 --ring-size 1024 \
		--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json \
		>"$T/tx-$w-$q.log" 2>&1 || fail "sender failed"
	wait "$rxpid" || fail "receiver failed (corruption or reordering): $(tail -n 3 "$T/rx-$w-$q.log")"
	forget_pid "$rxpid"
	js=$(grep '^{' "$T/rx-$w-$q.log" | tail -n 1)
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
	if [ "$may_drop" = no ]; then
		[ "$noroom" = 0 ] || fail "$noroom frames found no room in a ring that holds them all"
	else
		[ $((noroom * 10)) -le "$sent" ] || fail "$noroom of $sent frames found no room"
	fi
	[ "$(port_stat p1 ring_errors)" = 0 ] && [ "$(port_stat p2 ring_errors)" = 0 ] || fail "ring errors"
	log "$(grep -o '"rx_pps":[0-9.]*' "$T/rx-$w-$q.log"), $got intact and in order, $noroom counted no_room"
	kill -TERM "$VIFD_PID"
	wait "$VIFD_PID" || fail "vifd exited with an error"
	forget_pid "$VIFD_PID"
}

run 1 1
# Whole bursts of jumbo frames (5 rx buffers each: a burst needs more than
# the 64 chains vifd reserves at once, so delivery copies and reserves in
# rounds), fewer frames than the receiver's ring holds so nothing may drop.
run 1 1 3000 8000-9000 1000000 no
run 1 4
run 2 4 $((TOTAL / 4))
log "PASS"
