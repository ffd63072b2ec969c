#!/bin/bash
# 132-evpn-resync: vifd's EVPN mirror when netlink events are lost. No FRR:
# the test plays zebra, writing remote entries (MAC behind a VTEP, and the
# flood list's 00:00:00:00:00:00 entries) on the shadow vxlan device
# vifx100 as zebra does. While vifd is stopped (SIGSTOP) far more entries
# change than its event socket holds, so it meets ENOBUFS when it runs
# again: it must say so, read the whole table again, and end up with
# exactly what the kernel has: first 30000 MACs added, then all but 1000
# of them withdrawn and the flood list moved to another VTEP, each time
# with the events of the change lost.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v bridge >/dev/null || { log "SKIP: no bridge (iproute2)"; exit 77; }

N=30000 KEEP=1000
id=$$
U=$((id % 200 + 20))
H=evr-h$id
mkns "$H"
ip link add "ua$id" netns "$H" type veth peer name "ub$id" netns "$H"
ip -n "$H" addr add "10.$U.0.1/24" dev "ua$id"
ip -n "$H" link set "ua$id" up
ip -n "$H" link set "ub$id" up

start_vifd --workers 1
vctl add-port br0 vx type=vxlan vni=100 local="10.$U.0.1" evpn=on netns="$H"
ip -n "$H" link show vifx100 >/dev/null || fail "no shadow vxlan device"

# batch FILE OP FROM TO VTEP: bridge -batch lines for MACs 02:00:00:xx:xx:xx.
batch() {
	awk -v op="$2" -v a="$3" -v b="$4" -v d="$5" 'BEGIN {
		for (i = a; i < b; i++)
			printf "fdb %s 02:00:00:%02x:%02x:%02x dev vifx100 dst %s self\n",
			       op, int(i / 65536), int(i / 256) % 256, i % 256, d
	}' >"$1"
}
evpn_count() {
	vctl -j fdb | jq '[.entries[] | select(.port == "vx" and .origin == "evpn")] | length'
}
flood_to() {
	vctl -j fdb | jq -r '[.entries[] | select(.port == "vx" and .mac == "00:00:00:00:00:00") | .remote] | sort | join(",")'
}
lost_events() { grep -c "netlink events lost" "$T/vifd.log" || true; }
count_is() { [ "$(evpn_count)" = "$1" ]; }
flood_is() { [ "$(flood_to)" = "$1" ]; }

bridge -n "$H" fdb append 00:00:00:00:00:00 dev vifx100 dst "10.$U.0.2"
wait_for 10 "flood entry to 10.$U.0.2" flood_is "10.$U.0.2"

# 1. N MACs behind 10.U.0.2 while vifd is stopped.
batch "$T/add" add 0 "$N" "10.$U.0.2"
lost0=$(lost_events)
kill -STOP "$VIFD_PID"
in_ns "$H" bridge -batch "$T/add" || { kill -CONT "$VIFD_PID"; fail "bridge -batch add failed"; }
kill -CONT "$VIFD_PID"
t0=$SECONDS
for _ in $(seq 300); do count_is "$N" && break; sleep 0.1; done
count_is "$N" || fail "vifd has $(evpn_count) of $N entries; $(vctl stats vx)"
[ "$(lost_events)" -gt "$lost0" ] || fail "vifd did not report lost events (no ENOBUFS: the test proved nothing)"
log "$N entries added while vifd was stopped: events lost, all $N in vifd's table $((SECONDS - t0)) s after it ran again"

# 2. All but KEEP withdrawn, and the flood list moved to 10.U.0.3, while
# vifd is stopped: the withdrawals are among the lost events.
batch "$T/del" del "$KEEP" "$N" "10.$U.0.2"
echo "fdb del 00:00:00:00:00:00 dev vifx100 dst 10.$U.0.2 self" >>"$T/del"
echo "fdb append 00:00:00:00:00:00 dev vifx100 dst 10.$U.0.3 self" >>"$T/del"
lost0=$(lost_events)
kill -STOP "$VIFD_PID"
in_ns "$H" bridge -batch "$T/del" || { kill -CONT "$VIFD_PID"; fail "bridge -batch del failed"; }
kill -CONT "$VIFD_PID"
t0=$SECONDS
wait_for 30 "$KEEP EVPN entries left" count_is "$KEEP"
[ "$(lost_events)" -gt "$lost0" ] || fail "vifd did not report lost events the second time"
wait_for 10 "flood list moved" flood_is "10.$U.0.3"
# The ones kept are the first KEEP, behind 10.U.0.2.
vctl -j fdb | jq -e --arg r "10.$U.0.2" --argjson k "$KEEP" '[.entries[] | select(.port == "vx" and .origin == "evpn" and .remote == $r and (.mac | startswith("02:00:00:00:0")))] | length == $k' >/dev/null ||
	fail "the entries left are not the first $KEEP behind 10.$U.0.2"
log "$((N - KEEP)) withdrawn and the flood list moved while vifd was stopped: $KEEP left, flood to 10.$U.0.3, $((SECONDS - t0)) s"
vifd_alive
vctl del-port vx
ip -n "$H" link show vifx100 >/dev/null 2>&1 && fail "vifx100 left after del-port"
log "PASS"
