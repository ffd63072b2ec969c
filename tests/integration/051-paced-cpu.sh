#!/bin/bash
# 051-paced-cpu: a worker's CPU follows the load. A paced stream of 10000
# frames/s (64 B, one every 100 us) between two libvif endpoints through
# one worker: every frame arrives (or, if the receiver fell behind, is
# counted as finding its ring full), and vifd uses less than 40% of one
# CPU over the stream. A worker that polled for a fixed
# 200 us after each frame (vifd before the adaptive spin window) never
# slept at this rate and used a whole core; with the window adapted to the
# gaps it sees, it sleeps between frames (the worker's sleeps count it).
#
#   vifbench tx --rate 10000 --p1.sock--> vifd br0 (1 worker) --p2.sock--> vifbench rx
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"
RATE=10000
SECS=5
LIMIT_PCT=40

sleeps() { vctl -j workers | jq -r '.workers[0].sleeps'; }

start_vifd --workers 1
vctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
vctl add-port br0 p2 type=vhostuser path="$T/p2.sock"

# The receiver sleeps on notifications like a guest; it ends 2 s after the
# stream does, however slow the machine is.
bg rx "$VIFBENCH" --sock "$T/p2.sock" --mode rx --ring-size 1024 --duration 120 --idle-end 2 \
	--src-mac 02:00:00:00:00:02 --json
RX=$LAST_PID
wait_for 10 "receiver connected" live_rx_is p2 1

c0=$(cpu_ticks "$VIFD_PID")
s0=$(sleeps)
"$VIFBENCH" --sock "$T/p1.sock" --mode tx --size 64 --rate $RATE --duration $SECS \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json >"$T/tx.log" 2>&1 ||
	fail "sender failed: $(tail -n 3 "$T/tx.log")"
c1=$(cpu_ticks "$VIFD_PID")
s1=$(sleeps)
wait "$RX" || fail "receiver failed: $(tail -n 3 "$T/rx.log")"
vifd_alive

sent=$(grep '^{' "$T/tx.log" | tail -n 1 | jq -r .tx_pkts)
got=$(grep '^{' "$T/rx.log" | tail -n 1 | jq -r .rx_bench)
# A receiver that fell behind (its ring full: no_room, e.g. under a
# sanitizer on a busy machine) is counted, not lost; nothing else may drop.
noroom=$(port_stat p2 drops.no_room)
drops=$(vctl -j stats | jq '[.ports[].drops[]] | add')
hz=$(getconf CLK_TCK)
pct=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v w=$SECS 'BEGIN { printf "%.1f", d * 100 / hz / w }')
log "paced $RATE frames/s for ${SECS} s: sent $sent, received $got, vifd dropped $drops ($noroom for a full ring);" \
	"vifd used ${pct}% of one CPU; the worker slept $((s1 - s0)) times"
[ "$sent" -ge $((RATE * SECS / 2)) ] || fail "the sender sent only $sent frames"
[ $((got + noroom)) = "$sent" ] || fail "sent $sent frames, $got arrived and $noroom found the ring full"
[ "$drops" = "$noroom" ] || fail "vifd dropped $drops frames: $(vctl -j stats | jq -c '[.ports[] | {name, drops}]')"
[ "$noroom" -le $((sent / 10)) ] || fail "$noroom of $sent frames found the receiver's ring full"
[ $((s1 - s0)) -ge $((sent / 10)) ] ||
	fail "the worker slept $((s1 - s0)) times for $sent frames 100 us apart: it polled through the gaps"
awk -v p="$pct" -v l=$LIMIT_PCT 'BEGIN { exit !(p < l) }' ||
	fail "vifd used ${pct}% of one CPU for $RATE frames/s (limit ${LIMIT_PCT}%)"
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" || fail "vifd exited with an error"
log "PASS"
