#!/bin/bash
# 130-vxlan: VXLAN ports against a VTEP nobody here wrote (Linux: a bridge
# with a kernel vxlan device), and vifd to vifd. Hosts are namespaces
# joined by veth pairs (the underlay); each host has a "container"
# namespace behind its switch.
#
#   CA --tap-- vifd A [vx: netns HA] ==underlay 10.U/fd00:U== HB [Linux br + vxlan] --veth-- CB
#                     [vx2: netns HA] ==underlay 10.V== HC [vifd B: vx, tap] -- CC
#
# Static remote entries on both sides (remote= on vifd, `bridge fdb append`
# on Linux). Checked: ping and iperf3 both ways, inner IPv4 and IPv6, over
# an IPv4 and then an IPv6 underlay; vifd learns the remote MAC with its
# VTEP (vifctl fdb) and lists its flood list; a frame too big for the
# underlay once encapsulated is dropped and counted; malformed datagrams
# (short, no I flag, other VNI, inner frame too short, from an unknown
# address, a flood of them) are dropped and counted, vifd goes on; vifd to
# vifd with a second instance, and a frame from Linux's side crossing
# vifd A from one VXLAN port to the other.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v bridge >/dev/null || { log "SKIP: no bridge (iproute2)"; exit 77; }

id=$$
U=$((id % 200 + 20)) V=$((id % 200 + 21)) C=$((id % 200 + 22))
HA=vxt-ha$id HB=vxt-hb$id HC=vxt-hc$id CA=vxt-ca$id CB=vxt-cb$id CC=vxt-cc$id
CD=vxt-cd$id CE=vxt-ce$id
for n in "$HA" "$HB" "$HC" "$CA" "$CB" "$CC" "$CD" "$CE"; do mkns "$n"; done

# Underlays: HA <-> HB (IPv4 and IPv6), HA <-> HC (IPv4).
ip link add "ua$id" netns "$HA" type veth peer name "ub$id" netns "$HB"
ip link add "uc$id" netns "$HA" type veth peer name "ud$id" netns "$HC"
ip -n "$HA" addr add "10.$U.0.1/24" dev "ua$id"
ip -n "$HB" addr add "10.$U.0.2/24" dev "ub$id"
ip -n "$HA" addr add "fd00:$U::1/64" dev "ua$id" nodad
ip -n "$HB" addr add "fd00:$U::2/64" dev "ub$id" nodad
ip -n "$HA" addr add "10.$V.0.1/24" dev "uc$id"
ip -n "$HC" addr add "10.$V.0.2/24" dev "ud$id"
for l in "$HA ua$id" "$HB ub$id" "$HA uc$id" "$HC ud$id"; do
	set -- $l
	ip -n "$1" link set "$2" up
done

# Host B: a Linux bridge, CB on a veth into it; the vxlan device comes
# with the underlay family (linux_vtep).
ip -n "$HB" link add br0 type bridge
ip -n "$HB" link set br0 up
ip link add "cb$id" netns "$CB" type veth peer name "cbp$id" netns "$HB"
ip -n "$HB" link set "cbp$id" master br0 up
ip -n "$CB" link set "cb$id" up
ip -n "$CB" addr add "10.$C.0.2/24" dev "cb$id"
ip -n "$CB" addr add "fd01:$C::2/64" dev "cb$id" nodad
# Frames to and from a VTEP must fit the underlay with the encapsulation.
mtu_all() {
	ip -n "$CB" link set "cb$id" mtu "$1"
	ip -n "$HB" link set "cbp$id" mtu "$1"
	ip -n "$CA" link set "ta$id" mtu "$1"
}

# linux_vtep LOCAL REMOTE: host B's vxlan device for VNI 100, static flood
# entry to vifd A.
linux_vtep() {
	ip -n "$HB" link del vx0 2>/dev/null || true
	ip -n "$HB" link add vx0 type vxlan id 100 local "$1" dstport 4789 nolearning
	ip -n "$HB" link set vx0 master br0 up
	bridge -n "$HB" fdb append 00:00:00:00:00:00 dev vx0 dst "$2"
	# Over a veth, a checksum left to "the hardware" arrives unfinished: the
	# inner TCP checksum of Linux's datagrams would reach vifd's UDP socket
	# as a partial sum (a physical NIC, or any real wire, finishes it).
	in_ns "$HB" ethtool -K vx0 tx off >/dev/null
}

# vxlan_drop FIELD: a VXLAN drop counter of vifd A's port vx.
vxlan_drop() { port_stat vx "drops.$1"; }
test_ge() { [ "$(vxlan_drop "$1")" -ge "$2" ]; }

start_vifd --workers 2
vctl add-port br0 ta type=tap ifname="ta$id" netns="$CA"
ip -n "$CA" addr add "10.$C.0.1/24" dev "ta$id"
ip -n "$CA" addr add "fd01:$C::1/64" dev "ta$id" nodad

# ---- IPv4 underlay ----
linux_vtep "10.$U.0.2" "10.$U.0.1"
mtu_all 1450
vctl add-port br0 vx type=vxlan vni=100 vni-map=20:200 local="10.$U.0.1" remote="10.$U.0.2" \
	netns="$HA"
[ "$(port_info vx type)" = vxlan ] || fail "show: type of vx is $(port_info vx type)"
[ "$(port_info vx vxlan.vni_map)" = 20:200 ] || fail "show: vni-map of vx"
# vni-map's VLANs must reach the port tagged; a malformed map is refused.
vctl set-port vx tag=5 2>"$T/bad.log" && fail "an access port with vni-map was accepted"
grep -q "must be a trunk" "$T/bad.log" || fail "unclear error: $(cat "$T/bad.log")"
vctl set-port vx trunks=30 2>"$T/bad.log" && fail "trunks= without vni-map's VLAN accepted"
grep -q "not among the port's trunks" "$T/bad.log" || fail "unclear error: $(cat "$T/bad.log")"
for m in "20:200," "20:" ":200" "+20:200" "20:200,20:300" "0:5" "20:16777216"; do
	vctl add-port br0 vxm type=vxlan vni-map="$m" local="10.$U.0.1" dstport=4790 netns="$HA" \
		2>"$T/bad.log" && fail "vni-map=$m accepted"
	grep -q "vni-map" "$T/bad.log" || fail "vni-map=$m: unclear error: $(cat "$T/bad.log")"
done
[ "$(port_info vx vxlan.vni)" = 100 ] || fail "show: vni of vx"
[ "$(port_info vx vxlan.flood)" = 1 ] || fail "show: flood list of vx"
vctl show >"$T/show.log"

wait_for 20 "ping CA -> CB over VXLAN" pings "$CA" "10.$C.0.2"
pings "$CB" "10.$C.0.1" || fail "ping CB -> CA: $(cat "$T/ping.log")"
wait_for 20 "ping6 CA -> CB" pings "$CA" "fd01:$C::2"
pings "$CB" "fd01:$C::1" || fail "ping6 CB -> CA: $(cat "$T/ping.log")"
log "IPv4 underlay: ping and ping6 both ways between vifd and Linux"

# A second VNI on the same port and UDP port: VLAN 20 on vifd's side (a tap
# port tag=20) is VNI 200, which Linux has on a second bridge.
ip -n "$HB" link add br200 type bridge
ip -n "$HB" link set br200 up
ip -n "$HB" link add vx200 type vxlan id 200 local "10.$U.0.2" dstport 4789 nolearning
ip -n "$HB" link set vx200 master br200 up
in_ns "$HB" ethtool -K vx200 tx off >/dev/null
bridge -n "$HB" fdb append 00:00:00:00:00:00 dev vx200 dst "10.$U.0.1"
ip link add "cd$id" netns "$CD" type veth peer name "cdp$id" netns "$HB"
ip -n "$HB" link set "cdp$id" master br200 mtu 1450 up
ip -n "$CD" link set "cd$id" mtu 1450 up
ip -n "$CD" addr add "10.$C.1.2/24" dev "cd$id"
vctl add-port br0 te type=tap ifname="te$id" netns="$CE" tag=20
ip -n "$CE" link set "te$id" mtu 1450
ip -n "$CE" addr add "10.$C.1.1/24" dev "te$id"
wait_for 20 "ping VLAN 20 -> VNI 200" pings "$CE" "10.$C.1.2"
pings "$CD" "10.$C.1.1" || fail "ping VNI 200 -> VLAN 20: $(cat "$T/ping.log")"
vni200=$(iperf_mbps "$CD" "10.$C.1.2" "$CE" 2)
log "vni-map=20:200: ping both ways, iperf3 $vni200 Mbit/s between VLAN 20 and Linux's VNI 200"
ge "$vni200" 5 || fail "VNI 200 TCP only $vni200 Mbit/s"
# The two segments stay apart: nothing of VNI 100 reaches VNI 200.
in_ns "$CD" ip addr add "10.$C.0.9/24" dev "cd$id"
in_ns "$CA" "${PING[@]}" -c 2 -W 1 "10.$C.0.9" >/dev/null 2>&1 && fail "VNI 100 reached VNI 200"
in_ns "$CD" ip addr del "10.$C.0.9/24" dev "cd$id"
vctl del-port te

# vifd learned CB's MAC behind Linux's VTEP, and lists its flood list.
cbmac=$(ip -n "$CB" -j link show "cb$id" | jq -r '.[0].address')
vctl -j fdb >"$T/fdb.json"
jq -e --arg m "$cbmac" --arg r "10.$U.0.2" \
	'.entries[] | select(.mac == $m and .port == "vx" and .remote == $r and (.static | not))' \
	"$T/fdb.json" >/dev/null || fail "fdb: no learned entry for $cbmac on vx behind 10.$U.0.2: $(cat "$T/fdb.json")"
jq -e --arg r "10.$U.0.2" \
	'.entries[] | select(.mac == "00:00:00:00:00:00" and .port == "vx" and .remote == $r and .static)' \
	"$T/fdb.json" >/dev/null || fail "fdb: flood entry of vx missing"
vctl fdb >"$T/fdb.txt"
grep -F "10.$U.0.2" "$T/fdb.txt" | grep -q flood || fail "vifctl fdb shows no flood entry: $(cat "$T/fdb.txt")"
# Linux's vxlan device has nolearning (its remote is the static flood
# entry); its bridge learned CA's MAC on vx0, which is what makes it
# unicast back.

up=$(iperf_mbps "$CB" "10.$C.0.2" "$CA" 3)
down=$(iperf_mbps "$CA" "10.$C.0.1" "$CB" 3)
log "iperf3 over VXLAN (IPv4 underlay): vifd->Linux $up Mbit/s, Linux->vifd $down Mbit/s"
ge "$up" 5 || fail "vifd->Linux TCP only $up Mbit/s"
ge "$down" 5 || fail "Linux->vifd TCP only $down Mbit/s"
[ "$(port_stat vx vxlan_encap)" -gt 1000 ] || fail "vxlan_encap $(port_stat vx vxlan_encap)"
[ "$(port_stat vx vxlan_decap)" -gt 1000 ] || fail "vxlan_decap $(port_stat vx vxlan_decap)"
# The tap's 64 KiB TCP frames were segmented by vifd on their way out (one
# UDP GSO send each): more datagrams than frames.
seg=$(port_stat vx tx_segmented) enc=$(port_stat vx vxlan_encap) txf=$(port_stat vx tx_pkts)
[ "$seg" -gt 0 ] || fail "no frame segmented for vx (tx_segmented 0)"
log "vx: $seg frames segmented, $txf segments and frames sent, $enc datagrams"
# Receive coalescing: Linux's segments became vifd's 64 KiB frames to the
# tap, and the bytes came through as they were sent, both directions.
coal=$(port_stat vx vxlan_coalesced) dec=$(port_stat vx vxlan_decap)
[ "$coal" -gt 0 ] || fail "no received segment coalesced (vxlan_coalesced 0)"
log "vx: $coal of $dec datagrams received coalesced into the frame before them"
tcp_copy "$CA" "10.$C.0.1" "$CB" 24
tcp_copy "$CA" "fd01:$C::1" "$CB" 24
tcp_copy "$CB" "10.$C.0.2" "$CA" 24
[ "$(port_stat vx vxlan_coalesced)" -gt "$coal" ] || fail "tcp_copy was not coalesced"
v6=$(iperf_mbps "$CB" "fd01:$C::2" "$CA" 2)
log "iperf3 inner IPv6: $v6 Mbit/s"
ge "$v6" 5 || fail "inner IPv6 TCP only $v6 Mbit/s"

# A frame that does not fit the underlay once encapsulated: dropped, counted.
tb0=$(vxlan_drop vxlan_too_big)
ip -n "$CA" link set "ta$id" mtu 1500
in_ns "$CA" "${PING[@]}" -c 2 -W 1 -s 1472 "10.$C.0.2" >/dev/null 2>&1 &&
	fail "a 1500-byte packet crossed a 1500-byte underlay inside VXLAN"
ip -n "$CA" link set "ta$id" mtu 1450
[ "$(vxlan_drop vxlan_too_big)" -gt "$tb0" ] || fail "vxlan_too_big did not move"
[ "$(vxlan_drop too_big)" -gt 0 ] || fail "drops.too_big did not move"
log "a frame too big for the underlay: dropped and counted ($(vxlan_drop vxlan_too_big))"

# ---- hostile datagrams, from Linux's host ----
ip -n "$HB" addr add "10.$U.0.3/24" dev "ub$id"
cat >"$T/hostile.py" <<'EOF'
import socket, sys
dst, src_known, src_unknown, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
frame = bytes.fromhex("ffffffffffff020000000001") + b"\x08\x00" + bytes(46)
def hdr(flags, vni):
    return bytes([flags, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\x00"
cases = {
    "short": b"\x08\x00\x00",
    "noflag": hdr(0x00, 100) + frame,
    "othervni": hdr(0x08, 101) + frame,
    "innershort": hdr(0x08, 100) + frame[:10],
    "empty": b"",
}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src_known, 0))
for name in ("short", "noflag", "othervni", "innershort", "empty"):
    s.sendto(cases[name], (dst, 4789))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src_unknown, 0))
u.sendto(hdr(0x08, 100) + frame, (dst, 4789))
# a flood of all of them
for i in range(n):
    s.sendto(cases[("short", "noflag", "othervni", "innershort")[i % 4]], (dst, 4789))
    if i % 8 == 0:
        u.sendto(hdr(0x08, 100) + frame, (dst, 4789))
EOF
bad0=$(vxlan_drop vxlan_bad) vni0=$(vxlan_drop vxlan_unknown_vni)
rem0=$(vxlan_drop vxlan_unknown_remote)
in_ns "$HB" python3 "$T/hostile.py" "10.$U.0.1" "10.$U.0.2" "10.$U.0.3" 0
wait_for 10 "bad headers counted" test_ge vxlan_bad $((bad0 + 4))
wait_for 10 "other VNI counted" test_ge vxlan_unknown_vni $((vni0 + 1))
wait_for 10 "unknown remote counted" test_ge vxlan_unknown_remote $((rem0 + 1))
log "malformed: bad $(vxlan_drop vxlan_bad), other VNI $(vxlan_drop vxlan_unknown_vni), unknown remote $(vxlan_drop vxlan_unknown_remote)"
# Every datagram of the flood is accounted for: counted by vifd, or
# dropped before it (the socket's buffer full: /proc/net/udp's drops of
# port 4789 in HA; the veth's backlog: its dropped counters), however busy
# the machine is.
counted() { echo $(( $(vxlan_drop vxlan_bad) + $(vxlan_drop vxlan_unknown_vni) + $(vxlan_drop vxlan_unknown_remote) )); }
dropped_before() {
	local d v r
	d=$(in_ns "$HA" awk 'NR > 1 && $2 ~ /:12B5$/ {s += $NF} END {print s + 0}' /proc/net/udp)
	v=$(in_ns "$HB" cat "/sys/class/net/ub$id/statistics/tx_dropped")
	r=$(in_ns "$HA" cat "/sys/class/net/ua$id/statistics/rx_dropped")
	echo $((d + v + r))
}
flood_seen() { echo $(( $(counted) + $(dropped_before) )); }
c0=$(counted) s0=$(flood_seen)
in_ns "$HB" python3 "$T/hostile.py" "10.$U.0.1" "10.$U.0.2" "10.$U.0.3" 20000
vifd_alive
sent=$((6 + 20000 + 2500))
end=$((SECONDS + 20))
until [ $(( $(flood_seen) - s0 )) -ge "$sent" ]; do
	[ $SECONDS -lt $end ] ||
		fail "a flood of $sent malformed datagrams: $(( $(counted) - c0 )) counted, $(( $(flood_seen) - s0 - $(counted) + c0 )) dropped before vifd"
	sleep 0.2
done
total=$(( $(counted) - c0 ))
[ "$total" -gt 0 ] || fail "none of the flood counted"
pings "$CA" "10.$C.0.2" || fail "ping after the flood: $(cat "$T/ping.log")"
log "a flood of $sent malformed datagrams: $total counted by vifd, $(( $(flood_seen) - s0 - total )) dropped before it; vifd forwards on"

# ---- IPv6 underlay ----
vctl del-port vx
linux_vtep "fd00:$U::2" "fd00:$U::1"
mtu_all 1430
vctl add-port br0 vx type=vxlan vni=100 local="fd00:$U::1" remote="fd00:$U::2" netns="$HA"
# remote= of another family than local= is refused, clearly.
if vctl add-port br0 vxbad type=vxlan vni=7 local="fd00:$U::1" remote="10.$U.0.2" netns="$HA" \
	2>"$T/bad.log"; then fail "a remote of another family was accepted"; fi
grep -q "not an IPv6 address" "$T/bad.log" || fail "unclear error: $(cat "$T/bad.log")"
wait_for 20 "ping CA -> CB over an IPv6 underlay" pings "$CA" "10.$C.0.2"
pings "$CB" "fd01:$C::1" || fail "ping6 CB -> CA over IPv6 underlay: $(cat "$T/ping.log")"
up6=$(iperf_mbps "$CB" "10.$C.0.2" "$CA" 2)
down6=$(iperf_mbps "$CA" "fd01:$C::1" "$CB" 2)
log "IPv6 underlay: ping both ways; iperf3 vifd->Linux $up6, Linux->vifd (inner v6) $down6 Mbit/s"
ge "$up6" 5 || fail "IPv6 underlay TCP only $up6 Mbit/s"
ge "$down6" 5 || fail "IPv6 underlay TCP only $down6 Mbit/s"

# ---- vifd to vifd ----
vctl2() { "$VIFCTL" --socket "$T/state2/vifd.sock" "$@"; }
bg vifd2 "$VIFD" --state-dir "$T/state2" --workers 1
wait_for 10 "second vifd" vctl2 version
vctl2 add-port br0 tc type=tap ifname="tc$id" netns="$CC"
ip -n "$CC" addr add "10.$C.0.3/24" dev "tc$id"
ip -n "$CC" link set "tc$id" mtu 1430
vctl2 add-port br0 vx type=vxlan vni=200 local="10.$V.0.2" remote="10.$V.0.1" netns="$HC"
vctl add-port br0 vx2 type=vxlan vni=200 local="10.$V.0.1" remote="10.$V.0.2" netns="$HA"
wait_for 20 "ping CA -> CC (vifd to vifd)" pings "$CA" "10.$C.0.3"
pings "$CC" "10.$C.0.1" || fail "ping CC -> CA: $(cat "$T/ping.log")"
vv=$(iperf_mbps "$CC" "10.$C.0.3" "$CA" 2)
log "vifd to vifd: ping both ways, iperf3 $vv Mbit/s"
ge "$vv" 5 || fail "vifd to vifd TCP only $vv Mbit/s"
# Linux's container reaches vifd B's through vifd A: VXLAN port to VXLAN port.
wait_for 20 "ping CB -> CC across vifd A" pings "$CB" "10.$C.0.3"
log "Linux -> vifd A -> vifd B: ping"

# Static entries survive a restart of vifd A (state), remote and all.
vctl fdb-add vx 02:00:00:00:aa:01 remote="fd00:$U::9"
vctl fdb-add ta 02:00:00:00:aa:02 remote="fd00:$U::9" 2>"$T/bad.log" &&
	fail "remote= accepted on a tap port"
vctl fdb-add vx 02:00:00:00:aa:03 2>"$T/bad.log" && fail "a VXLAN entry without remote= accepted"
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
start_vifd --workers 2
vctl -j fdb | jq -e --arg r "fd00:$U::9" \
	'.entries[] | select(.mac == "02:00:00:00:aa:01" and .remote == $r and .static)' >/dev/null ||
	fail "the static VXLAN entry did not survive a restart: $(vctl fdb)"
wait_for 20 "ping CA -> CB after a restart" pings "$CA" "10.$C.0.2"
log "PASS"
