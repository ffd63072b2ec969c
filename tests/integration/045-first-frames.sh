#!/bin/bash
# 045-first-frames: a frontend's first frames right after it connects are
# delivered. A pinger connects, pings 50 times and leaves, 30 times over,
# against an echo endpoint on the other port (2 workers).
#
#   vifbench echo --p1.sock--> vifd br0 <--p2.sock-- vifbench ping (x30, reconnecting)
#
# Regression: vifd used to take a port out of the datapath while handling
# SET_STATUS(DRIVER_OK), which libvif sends without waiting for an ack; a
# reply arriving in that window was flooded to nobody and lost without a
# counter (about one round trip in 5000).
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

start_vifd --workers 2
vctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
vctl add-port br0 p2 type=vhostuser path="$T/p2.sock"
bg echo "$VIFBENCH" --sock "$T/p1.sock" --mode echo \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02
wait_for 10 "echo endpoint connected" live_rx_is p1 1
for i in $(seq 30); do
	"$VIFBENCH" --sock "$T/p2.sock" --mode ping --count 50 --timeout 30 \
		--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 >"$T/ping.log" 2>&1 ||
		fail "run $i: $(grep -E 'ping:|result' "$T/ping.log" | tr '\n' ' ')"
done
[ "$(port_stat p2 drops.down)" = 0 ] || fail "frames to p2 dropped while it was down"
vifd_alive
log "PASS: 30 connections x 50 round trips, none lost"
