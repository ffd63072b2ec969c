#!/bin/bash
# 050-idle-cpu: an idle vifd burns (almost) no CPU. Its datapath workers
# poll while there is work and then sleep on the guests' kick eventfds
# (DESIGN: "an idle vifd burns no CPU").
#
#   vifbench echo 02:..:01 --p1.sock--> vifd br0 (2 workers) <--p2.sock-- vifbench ping 02:..:02, then rx
#
# Traffic first, so that every queue of both ports was polled by a worker:
# a ping run on p2 bounces off the echo endpoint on p1. The pinger then
# exits and an idle receiver takes p2 over. Both endpoints stay connected
# and send nothing; vifd's CPU time (utime + stime of all its threads, from
# /proc/PID/stat) over 3 s must stay below 5 % of one CPU.
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"
PINGS=1000
WINDOW=3
LIMIT_PCT=5


start_vifd --workers 2
vctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
vctl add-port br0 p2 type=vhostuser path="$T/p2.sock"

bg echo "$VIFBENCH" --sock "$T/p1.sock" --mode echo \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json
ECHO=$LAST_PID
wait_for 10 "echo endpoint connected" live_rx_is p1 1
"$VIFBENCH" --sock "$T/p2.sock" --mode ping --count $PINGS --timeout 60 \
	--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json \
	>"$T/ping.log" 2>&1 || fail "ping through vifd failed: $(tail -n 3 "$T/ping.log")"
log "traffic: $(grep -o 'ping: .*' "$T/ping.log")"

# The pinger has disconnected; an idle receiver takes p2 over.
bg idle "$VIFBENCH" --sock "$T/p2.sock" --mode rx \
	--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json
IDLE=$LAST_PID
wait_for 10 "idle endpoint connected" live_rx_is p2 1
for p in p1 p2; do
	for c in rx_pkts tx_pkts; do
		[ "$(port_stat $p $c)" -ge $PINGS ] || fail "$p $c = $(port_stat $p $c), expected >= $PINGS"
	done
done

sleep 1
c0=$(cpu_ticks "$VIFD_PID")
pk0=$(($(port_stat p1 rx_pkts) + $(port_stat p2 rx_pkts)))
sleep $WINDOW
c1=$(cpu_ticks "$VIFD_PID")
pk1=$(($(port_stat p1 rx_pkts) + $(port_stat p2 rx_pkts)))
vifd_alive
hz=$(getconf CLK_TCK)
pct=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v w=$WINDOW 'BEGIN { printf "%.1f", d * 100 / hz / w }')
vctl workers | sed 's/^/    /'
log "idle vifd (2 workers, 2 connected ports): $((c1 - c0)) ticks of 1/$hz s in ${WINDOW} s = ${pct}% of one CPU; $((pk1 - pk0)) frames meanwhile"
[ "$pk1" -le $((pk0 + 2)) ] || fail "the endpoints were not idle ($((pk1 - pk0)) frames during the window)"
awk -v p="$pct" -v l=$LIMIT_PCT 'BEGIN { exit !(p < l) }' || fail "idle vifd used ${pct}% CPU (limit ${LIMIT_PCT}%)"
[ "$(port_info p1 connected)" = True ] && [ "$(port_info p2 connected)" = True ] ||
	fail "an endpoint disconnected during the window"

kill -TERM "$ECHO" "$IDLE"
wait "$ECHO" || fail "echo endpoint failed: $(tail -n 3 "$T/echo.log")"
wait "$IDLE" || fail "idle endpoint failed: $(tail -n 3 "$T/idle.log")"
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" || fail "vifd exited with an error"
log "PASS"
