#!/bin/bash
# 053-placement: which worker polls which receive queue, and queues that
# move between workers while traffic runs (issue 17: workers as IOVMs).
#
# 1. Policies on 2 workers with three libvif guests (a and b with 2 queue
#    pairs, c with 1): spread, monolithic, per-port, group, cycles; a
#    per-queue pin wins over every policy; `vifctl queues` shows it all;
#    placement and pins persist across kill -9 and restart.
# 2. Moves lose nothing: a verified stream s -> r (per-queue sequence
#    numbers) while s's queue is pinned to worker 0 and 1 in turn, 40
#    times: no frame corrupt, duplicated or reordered, every frame vifd
#    took was delivered or counted (no_room), and the moves were counted.
# 3. Rebalancing: placement=cycles, rebalance=on; two unpaced senders and
#    a light one put on one worker, another light one on the other (pinned
#    there, then unpinned: an unpinned queue stays where it is): the
#    rebalancer splits the heavy ones within seconds, and then nothing
#    moves any more (one heavy queue per worker: no move helps enough).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/restart.sh"
: "${VIFBENCH:?}"

# where PORT QUEUE: the worker polling it (from vifctl -j queues), -1: none.
where() {
	vctl -j queues | jq -r --arg p "$1" --argjson q "$2" \
		'[.queues[] | select(.port == $p and .queue == $q) | .worker] | first // -1'
}

# expect_places "a0=W a1=W ...": every named queue (port and queue id) on
# its worker, within 5 s (the move is one publish, but the table is read
# through the control socket).
places_are() {
	local pq w
	for pq in $1; do
		w=${pq#*=}
		pq=${pq%=*}
		[ "$(where "${pq%?}" "${pq: -1}")" = "$w" ] || return 1
	done
}
expect_places() {
	local what=$1
	shift
	places_are "$*" && return 0
	sleep 1
	places_are "$*" || fail "$what: expected $*, got: $(vctl queues)"
}

# sink NAME QUEUES: a libvif guest on port NAME that takes what comes.
sink() {
	bg "sink-$1" "$VIFBENCH" --sock "$T/$1.sock" --mode rx --queues "$2" --duration 600 \
		--src-mac "02:00:00:00:01:0${3:-1}" --no-announce
	eval "SINK_$1=$LAST_PID"
	wait_for 10 "$1's guest" live_rx_is "$1" "$2"
}
stop_sink() {
	local pid
	eval "pid=\$SINK_$1"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

log "1. placement policies on 2 workers"
start_vifd --workers 2
for p in a b c; do
	vctl add-port br0 $p type=vhostuser path="$T/$p.sock" queues=$([ $p = c ] && echo 1 || echo 2)
done
sink a 2 1
sink b 2 2
sink c 1 3
# port ids a=0 b=1 c=2: spread puts queue q of port p on (p + q) mod 2
expect_places spread a0=0 a1=1 b0=1 b1=0 c0=0
[ "$(vctl -j show | jq -r '.bridges[0].placement')" = spread ] || fail "default placement not spread"
vctl set-bridge br0 placement=monolithic
expect_places monolithic a0=0 a1=0 b0=0 b1=0 c0=0
vctl set-bridge br0 placement=per-port
expect_places per-port a0=0 a1=0 b0=1 b1=1 c0=0
vctl set-port a worker-group=web
vctl set-port c worker-group=web
vctl set-port b worker-group=db
vctl set-bridge br0 placement=group
expect_places group a0=0 a1=0 c0=0 b0=1 b1=1
# a pin wins over the policy, and over a change of policy
vctl set-port b worker=1:0
expect_places "pinned b1" a0=0 a1=0 c0=0 b0=1 b1=0
vctl set-bridge br0 placement=monolithic
expect_places "pinned b1 under monolithic" a0=0 a1=0 c0=0 b0=0 b1=0
vctl set-port a worker=1
expect_places "pinned a" a0=1 a1=1 c0=0 b0=0 b1=0
[ "$(vctl -j queues | jq -r '[.queues[] | select(.pinned)] | length')" = 3 ] ||
	fail "queues does not show the 3 pinned queues: $(vctl queues)"
# bad values are refused with the reason, and change nothing
vctl set-port a worker=2 2>"$T/bad.log" && fail "worker=2 accepted with 2 workers"
grep 'worker must be' "$T/bad.log" >/dev/null || fail "worker=2: $(cat "$T/bad.log")"
vctl set-port a worker=0:1,0:0 2>/dev/null && fail "a queue pinned twice accepted"
vctl set-port a worker=9:0 2>/dev/null && fail "queue 9 accepted"
vctl set-port a worker-group='a b' 2>/dev/null && fail "a group with a space accepted"
vctl set-bridge br0 placement=roundrobin 2>/dev/null && fail "an unknown policy accepted"
vctl set-bridge br0 rebalance-interval=10 2>/dev/null && fail "a 10 ms interval accepted"
expect_places "after refused changes" a0=1 a1=1 c0=0 b0=0 b1=0
vctl queues >"$T/queues.txt"
grep -E '^PORT +QUEUE +WORKER' "$T/queues.txt" >/dev/null || fail "queues table: $(cat "$T/queues.txt")"

log "   kill -9 and restart: placement, pins and groups persist"
for p in a b c; do stop_sink $p; done
kill_vifd 1
start_vifd --workers 2
[ "$(vctl -j show | jq -r '.bridges[0].placement')" = monolithic ] || fail "placement lost"
[ "$(port_info a policy.worker)" = 1 ] || fail "a's worker=1 lost: $(port_info a policy.worker)"
[ "$(port_info b policy.worker)" = 1:0 ] || fail "b's worker=1:0 lost: $(port_info b policy.worker)"
[ "$(port_info c policy.worker_group)" = web ] || fail "c's group lost"
sink a 2 1
sink b 2 2
sink c 1 3
expect_places "after restart" a0=1 a1=1 c0=0 b0=0 b1=0
for p in a b c; do stop_sink $p; vctl del-port $p; done

log "2. a queue moved 40 times under a verified stream"
vctl set-bridge br0 placement=spread
vctl add-port br0 s type=vhostuser path="$T/s.sock"
vctl add-port br0 r type=vhostuser path="$T/r.sock"
moves0=$(vctl -j workers | jq '.moves.queues')
COUNT=${COUNT:-200000}
bg rx "$VIFBENCH" --sock "$T/r.sock" --mode rx --verify --expect "$COUNT" --idle-end 5 --loss-ok \
	--timeout 120 --ring-size 4096 --src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json
rxpid=$LAST_PID
wait_for 10 "receiver connected" live_rx_is r 1
bg tx "$VIFBENCH" --sock "$T/s.sock" --mode tx --verify --count "$COUNT" --rate 20000 \
	--timeout 120 --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json
txpid=$LAST_PID
wait_for 10 "sender connected" live_rx_is s 1
flips=0
while kill -0 "$txpid" 2>/dev/null && [ $flips -lt 40 ]; do
	vctl set-port s worker=$((flips % 2))
	flips=$((flips + 1))
	sleep 0.1
done
wait "$txpid" || fail "sender failed: $(tail -n 3 "$T/tx.log")"
forget_pid "$txpid"
wait "$rxpid" || fail "receiver failed: $(tail -n 3 "$T/rx.log")"
forget_pid "$rxpid"
[ $flips -ge 10 ] || fail "only $flips moves happened while the stream ran"
js=$(grep '^{' "$T/rx.log" | tail -n 1)
[ "$(jget "$js" "(j['errors'], j['out_of_order'])")" = "(0, 0)" ] ||
	fail "frames corrupt, duplicated or reordered across moves: $js"
taken=$(port_stat s rx_pkts)
delivered=$(port_stat r tx_pkts)
noroom=$(port_stat r drops.no_room)
[ "$taken" = $((COUNT + 1)) ] || fail "vifd took $taken frames of $COUNT + 1 announcement"
[ $((delivered + noroom)) = "$taken" ] ||
	fail "of $taken frames taken, $delivered delivered and $noroom counted no_room"
[ "$(jget "$js" "j['rx_pkts']")" = "$delivered" ] || fail "receiver got $(jget "$js" "j['rx_pkts']") of $delivered"
[ $((noroom * 10)) -le "$COUNT" ] || fail "$noroom of $COUNT frames found no room"
moves=$(( $(vctl -j workers | jq '.moves.queues') - moves0 ))
# (the first pin may name the worker the queue is on; the last may come
# after the sender left, with no live queue to move)
[ "$moves" -ge $((flips - 2)) ] || fail "$flips pins, $moves queue moves counted"
stall=$(vctl -j workers | jq '.moves.stall_max_ns')
log "   $flips pins, $moves moves, longest stall $((stall / 1000)) us; $delivered delivered in order, $noroom no_room"
vctl del-port s
vctl del-port r

log "3. rebalancing splits two heavy senders put on one worker"
vctl set-bridge br0 placement=cycles rebalance=on rebalance-interval=300
vctl add-port br0 h1 type=vhostuser path="$T/h1.sock" worker=0
vctl add-port br0 h2 type=vhostuser path="$T/h2.sock" worker=0
vctl add-port br0 l1 type=vhostuser path="$T/l1.sock" worker=0
vctl add-port br0 l2 type=vhostuser path="$T/l2.sock" worker=1
vctl add-port br0 sk type=vhostuser path="$T/sk.sock" queues=2
sink sk 2 9
# two heavy senders and a light one on worker 0, a light one on worker 1
for h in h1 h2; do
	bg $h "$VIFBENCH" --sock "$T/$h.sock" --mode tx --rate 0 --duration 60 \
		--src-mac "02:00:00:00:02:0${h#h}" --dst-mac 02:00:00:00:01:09
done
for l in l1 l2; do
	bg $l "$VIFBENCH" --sock "$T/$l.sock" --mode tx --rate 2000 --duration 60 \
		--src-mac "02:00:00:00:03:0${l#l}" --dst-mac 02:00:00:00:01:09
done
for p in h1 h2 l1 l2; do wait_for 10 "sender $p connected" live_rx_is $p 1; done
rb0=$(vctl -j workers | jq '.moves.by_rebalance')
sleep 1
expect_places "pinned senders" h10=0 h20=0
# unpinned, they stay where they are until the rebalancer moves one
for p in h1 h2 l1 l2; do vctl set-port $p worker=auto; done
split() { [ "$(where h1 0)" != "$(where h2 0)" ]; }
end=$((SECONDS + 15))
until split; do
	[ $SECONDS -lt $end ] || fail "not split after 15 s: $(vctl workers; vctl queues)"
	sleep 0.2
done
t_split=$((15 - (end - SECONDS)))
rb=$(( $(vctl -j workers | jq '.moves.by_rebalance') - rb0 ))
[ "$rb" -ge 1 ] || fail "split, but the rebalancer counted no move"
log "   split within ${t_split}s by $rb move(s)"
# one heavy queue per worker: no move can help, none may happen
rb1=$(vctl -j workers | jq '.moves.by_rebalance')
sleep 3
split || fail "the senders were put together again: $(vctl queues)"
[ "$(vctl -j workers | jq '.moves.by_rebalance')" = "$rb1" ] ||
	fail "the rebalancer kept moving: $(vctl workers)"
vifd_alive
log "PASS"
