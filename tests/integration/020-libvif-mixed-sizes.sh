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
# switch; the sender is paced so a receiver sharing 2 cores with vifd and
# the sender keeps up, and the receiver's rings are deep (16384 buffers:
# about 160 ms of traffic at this rate) so a noisy machine descheduling it
# for a while costs nothing. Any loss fails the test.
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"
TOTAL=${TOTAL:-1000000}
RATE=${RATE:-40000}

live_rx_is() { [ "$(port_info "$1" live_rx)" = "$2" ]; }

run() { # WORKERS QUEUES [TOTAL [SIZES [RATE]]]
	local w=$1 q=$2 total=${3:-$TOTAL} sizes=${4:-60-9000} rate=${5:-$RATE} per
	per=$((total / q))
	log "workers=$w queue_pairs=$q: $((per * q)) frames, $sizes bytes, $rate pps"
	# each run starts afresh: not with the ports the last one persisted
	start_vifd --workers "$w" --reset-state
	vctl add-port br0 p1 type=vhostuser path="$T/p1.sock" queues=4
	vctl add-port br0 p2 type=vhostuser path="$T/p2.sock" queues=4
	bg "rx-$w-$q" "$VIFBENCH" --sock "$T/p2.sock" --mode rx --queues "$q" --verify \
		--expect $((per * q)) --timeout 200 --ring-size 16384 --rx-buf 2048 \
		--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json
	local rxpid=$LAST_PID
	wait_for 10 "receiver connected" live_rx_is p2 "$q"
	"$VIFBENCH" --sock "$T/p1.sock" --mode tx --queues "$q" --verify --count "$per" \
		--sizes "$sizes" --rate "$rate" --timeout 200 --ring-size 1024 \
		--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json \
		>"$T/tx-$w-$q.log" 2>&1 || fail "sender failed"
	wait "$rxpid" || fail "receiver failed (loss, corruption or reordering): $(tail -n 3 "$T/rx-$w-$q.log")"
	grep -q '"errors":0,"out_of_order":0,"lost":0' "$T/rx-$w-$q.log" || fail "receiver saw errors"
	vifd_alive
	[ "$(port_stat p2 tx_pkts)" -ge $((per * q)) ] || fail "vifd delivered fewer frames than sent"
	[ "$(port_stat p1 ring_errors)" = 0 ] && [ "$(port_stat p2 ring_errors)" = 0 ] || fail "ring errors"
	log "$(grep -o '"rx_pps":[0-9.]*' "$T/rx-$w-$q.log"), no loss, no reordering"
	kill -TERM "$VIFD_PID"
	wait "$VIFD_PID" || fail "vifd exited with an error"
	forget_pid "$VIFD_PID"
}

run 1 1
# Whole bursts of jumbo frames (5 rx buffers each: a burst needs more than
# the 64 chains vifd reserves at once, so delivery copies and reserves in
# rounds), fewer frames than the receiver's ring holds so nothing may drop.
run 1 1 3000 8000-9000 1000000
run 1 4
run 2 4 $((TOTAL / 4))
log "PASS"
