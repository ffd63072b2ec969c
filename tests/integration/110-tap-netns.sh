#!/bin/bash
# 110-tap-netns: two network namespaces, each on a tap port vifd creates
# inside it. Ping both ways, an iperf3 TCP stream, counters; the sending
# port's ingress-rate=50mbit brings the stream down near 50 Mbit/s (frames
# wait in the tap's queue); the taps are persistent: after kill -9 they are
# still there with their addresses and routes, the restarted vifd attaches
# to them again and ping works with no reconfiguration (a clean stop keeps
# them too); a tap with other queue settings is refused clearly; del-port
# removes the devices vifd made, but only brings down one the operator made.
# Nothing is left behind: the namespaces, interfaces and processes go in
# the cleanup trap.
#
#   netns A: tA 10.(x).0.1/24 --[tap ta]--+
#                                          vifd br0
#   netns B: tB 10.(x).0.2/24 --[tap tb]--+
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"

id=$$
NA=vifdt-a$id NB=vifdt-b$id
IA=vta$id IB=vtb$id
net=10.$((id % 200 + 20))
mkns "$NA"
mkns "$NB"

start_vifd
vctl add-port br0 ta type=tap ifname="$IA" netns="$NA"
vctl add-port br0 tb type=tap ifname="$IB" netns="$NB"
[ "$(port_info ta type)" = tap ] || fail "show: type of ta is $(port_info ta type)"
[ "$(port_info ta ifname)" = "$IA" ] || fail "show: ifname of ta"
[ "$(port_info ta netns)" = "$NA" ] || fail "show: netns of ta"
vctl show >"$T/show.log"
link_exists "$NA" "$IA" || fail "no $IA in $NA"
ip -n "$NA" link show "$IA" | grep '[<,]UP[,>]' >/dev/null || fail "$IA is not up"
# A second port on the same device is refused.
if vctl add-port br0 tx type=tap ifname="$IA" netns="$NA" 2>"$T/dup.log"; then
	fail "a second port on $IA was accepted"
fi
# The port name is the default ifname: too long for one here.
vctl add-port br0 a-port-name-too-long type=tap 2>/dev/null && fail "an ifname of 20 characters accepted" || true

addrs() {
	ip -n "$NA" addr add "$net.0.1/24" dev "$IA"
	ip -n "$NB" addr add "$net.0.2/24" dev "$IB"
}
addrs
wait_for 20 "ping A -> B" pings "$NA" "$net.0.2"
pings "$NB" "$net.0.1" || fail "ping B -> A: $(cat "$T/ping.log")"
log "ping both ways through vifd"

rx0=$(port_stat ta rx_pkts)
mbps=$(iperf_mbps "$NB" "$net.0.2" "$NA" 3)
log "iperf3 tap-tap through vifd: $mbps Mbit/s"
rx1=$(port_stat ta rx_pkts)
tx1=$(port_stat tb tx_pkts)
[ $((rx1 - rx0)) -gt 1000 ] || fail "ta rx_pkts moved by $((rx1 - rx0)) only"
[ "$tx1" -gt 1000 ] || fail "tb tx_pkts is $tx1"
ge "$mbps" 20 || fail "unlimited stream only $mbps Mbit/s"

vctl set-port ta ingress-rate=50mbit
lim=$(iperf_mbps "$NB" "$net.0.2" "$NA" 4)
log "iperf3 tap-tap with ingress-rate=50mbit on the sender: $lim Mbit/s"
ge 60 "$lim" || fail "limited stream at $lim Mbit/s, above 50mbit"
ge "$lim" 10 || fail "limited stream at $lim Mbit/s, far below 50mbit"
[ "$(port_stat ta ingress_held)" -gt 0 ] || fail "ta ingress_held did not move"
vctl set-port ta ingress-rate=0

log "kill -9, restart: the taps stay, with their addresses and routes"
ip -n "$NA" route add "$net.99.0/24" dev "$IA"
kill -KILL "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
sleep 0.5
link_exists "$NA" "$IA" || fail "$IA went with vifd (not persistent)"
ip -n "$NA" -4 addr show dev "$IA" | grep -F "$net.0.1/24" >/dev/null ||
	fail "$IA lost its address when vifd died"
ip -n "$NA" route show "$net.99.0/24" | grep -F "dev $IA" >/dev/null ||
	fail "$IA lost its route when vifd died"
start_vifd
[ "$(port_info tb ifname)" = "$IB" ] || fail "tb not restored"
wait_for 20 "ping A -> B after the restart (no reconfiguration)" pings "$NA" "$net.0.2"
ip -n "$NA" route show "$net.99.0/24" | grep -F "dev $IA" >/dev/null || fail "route lost on restore"
pings "$NB" "$net.0.1" || fail "ping B -> A after the restart"

log "clean stop (SIGTERM) and start: the taps stay too"
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
link_exists "$NA" "$IA" || fail "$IA went with a clean stop"
start_vifd
wait_for 20 "ping A -> B after the clean restart" pings "$NA" "$net.0.2"

# An operator's tap (ip tuntap add, single-queue): a port asking for two
# queues on it is refused with the reason; one queue is attached to, and
# del-port leaves the device (down again).
IC=vtc$id
ip -n "$NA" tuntap add mode tap vnet_hdr name "$IC"
if vctl add-port br0 tc type=tap ifname="$IC" netns="$NA" queues=2 2>"$T/mq.log"; then
	fail "queues=2 accepted on a single-queue tap"
fi
grep "other queue settings" "$T/mq.log" >/dev/null || fail "no clear reason: $(cat "$T/mq.log")"
link_exists "$NA" "$IC" || fail "the refused add-port removed $IC"
vctl add-port br0 tc type=tap ifname="$IC" netns="$NA"
vctl del-port tc
link_exists "$NA" "$IC" || fail "del-port removed the operator's tap $IC"
ip -n "$NA" link show "$IC" | grep '[<,]UP[,>]' >/dev/null && fail "$IC left up"
ip -n "$NA" link del "$IC"
gone() { ! link_exists "$NA" "$IA"; }

vctl del-port ta
vctl del-port tb
wait_for 10 "$IA removed" gone
link_exists "$NB" "$IB" && fail "$IB still exists after del-port"
log "ok"
