#!/bin/bash
# 131-evpn: BGP EVPN through FRR, no static entries anywhere. Three hosts
# (namespaces HA, HB, HC) on one underlay (a Linux bridge in namespace UL),
# each with FRR (zebra + bgpd, iBGP full mesh, advertise-all-vni) and a
# container namespace behind its switch:
#   HA: vifd A, VXLAN port evpn=on (shadow bridge vifb100 / vxlan vifx100), tap -> CA
#   HB: vifd B, the same, tap -> CB
#   HC: Linux: bridge + kernel vxlan device (VNI 100), veth -> CC
# Checked: the three containers ping each other; zebra on the Linux host
# lists the MACs behind both vifds (show evpn mac vni 100); vifctl fdb on
# vifd A lists the Linux host's MAC behind its VTEP, from EVPN; the shadow
# vxlan device carried nothing; a container moved from host B to host A is
# reachable from the Linux host again within MOVE_BOUND seconds; vifd A
# restarted has zebra's entries at once (read from the kernel); a host
# whose bgpd stops is withdrawn (its MACs and its flood entry leave vifd
# A's table), its VTEP forgotten, and back when its bgpd starts again.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/frr.sh"
command -v bridge >/dev/null || { log "SKIP: no bridge (iproute2)"; exit 77; }

MOVE_BOUND=10
id=$$
U=$((id % 200 + 20)) C=$((id % 200 + 21))
UL=evt-ul$id HA=evt-ha$id HB=evt-hb$id HC=evt-hc$id
CA=evt-ca$id CB=evt-cb$id CC=evt-cc$id CD=evt-cd$id CE=evt-ce$id
for n in "$UL" "$HA" "$HB" "$HC" "$CA" "$CB" "$CC" "$CD" "$CE"; do mkns "$n"; done

# The underlay: HA, HB, HC on a bridge in UL, 10.U.0.1-3.
ip -n "$UL" link add ul0 type bridge
ip -n "$UL" link set ul0 up
i=1
for h in "$HA" "$HB" "$HC"; do
	ip link add "u$i$id" netns "$h" type veth peer name "p$i$id" netns "$UL"
	ip -n "$UL" link set "p$i$id" master ul0 up
	ip -n "$h" addr add "10.$U.0.$i/24" dev "u$i$id"
	ip -n "$h" link set "u$i$id" up
	i=$((i + 1))
done

# Host C: Linux's VTEP, learning off: zebra installs what BGP says.
ip -n "$HC" link add br100 type bridge
ip -n "$HC" link set br100 addrgenmode none up
ip -n "$HC" link add vx100 type vxlan id 100 local "10.$U.0.3" dstport 4789 nolearning
ip -n "$HC" link set vx100 master br100 addrgenmode none up
in_ns "$HC" ethtool -K vx100 tx off >/dev/null # (130: veth hands over partial checksums)
ip link add "cc$id" netns "$CC" type veth peer name "ccp$id" netns "$HC"
ip -n "$HC" link set "ccp$id" master br100 mtu 1450 up
ip -n "$CC" link set "cc$id" mtu 1450 up
ip -n "$CC" addr add "10.$C.0.3/24" dev "cc$id"
# and VNI 200 on a second bridge, container CD
ip -n "$HC" link add br200 type bridge
ip -n "$HC" link set br200 addrgenmode none up
ip -n "$HC" link add vx200 type vxlan id 200 local "10.$U.0.3" dstport 4789 nolearning
ip -n "$HC" link set vx200 master br200 addrgenmode none up
in_ns "$HC" ethtool -K vx200 tx off >/dev/null
ip link add "cd$id" netns "$CD" type veth peer name "cdp$id" netns "$HC"
ip -n "$HC" link set "cdp$id" master br200 mtu 1450 up
ip -n "$CD" link set "cd$id" mtu 1450 up
ip -n "$CD" addr add "10.$C.1.3/24" dev "cd$id"

# Hosts A and B: a vifd each, EVPN on.
start_vifd --workers 1
vctlb() { "$VIFCTL" --socket "$T/stateb/vifd.sock" "$@"; }
bg vifdb "$VIFD" --state-dir "$T/stateb" --workers 1
VIFDB_PID=$LAST_PID
wait_for 10 "vifd B" vctlb version
vctl add-port br0 vx type=vxlan vni=100 vni-map=20:200 local="10.$U.0.1" evpn=on netns="$HA"
vctlb add-port br0 vx type=vxlan vni=100 local="10.$U.0.2" evpn=on netns="$HB"
ip -n "$HA" link show vifx100 >/dev/null || fail "no shadow vxlan device in $HA"
ip -n "$HA" -d link show vifx100 | grep -q "vxlan id 100" || fail "vifx100 is not VNI 100"
vctl add-port br0 ta type=tap ifname="ta$id" netns="$CA"
vctlb add-port br0 tb type=tap ifname="tb$id" netns="$CB"
ip -n "$CA" link set "ta$id" mtu 1450
ip -n "$CB" link set "tb$id" mtu 1450
ip -n "$CA" addr add "10.$C.0.1/24" dev "ta$id"
ip -n "$CB" addr add "10.$C.0.2/24" dev "tb$id"
# VLAN 20 on vifd A is VNI 200 (vni-map), a second EVPN instance.
vctl add-port br0 te type=tap ifname="te$id" netns="$CE" tag=20
ip -n "$CE" link set "te$id" mtu 1450
ip -n "$CE" addr add "10.$C.1.1/24" dev "te$id"

frr_start ha "$HA" "10.$U.0.1" "10.$U.0.2" "10.$U.0.3"
frr_start hb "$HB" "10.$U.0.2" "10.$U.0.1" "10.$U.0.3"
frr_start hc "$HC" "10.$U.0.3" "10.$U.0.1" "10.$U.0.2"
established() {
	frr_vtysh "$1" 'show bgp l2vpn evpn summary json' |
		jq -e '[.peers[] | select(.state == "Established")] | length >= 2' >/dev/null
}
for h in ha hb hc; do wait_for 60 "BGP sessions of $h" established "$h"; done
log "iBGP established among the three hosts"

# Type-3 routes: each vifd has the other two VTEPs in its flood list.
flood_has() { vctl -j fdb | jq -e --arg r "$1" '.entries[] | select(.port == "vx" and .mac == "00:00:00:00:00:00" and .remote == $r)' >/dev/null; }
wait_for 30 "flood list of vifd A (host B)" flood_has "10.$U.0.2"
wait_for 30 "flood list of vifd A (host C)" flood_has "10.$U.0.3"

wait_for 30 "ping CA -> CC" pings "$CA" "10.$C.0.3"
wait_for 30 "ping CB -> CC" pings "$CB" "10.$C.0.3"
wait_for 30 "ping CA -> CB" pings "$CA" "10.$C.0.2"
pings "$CC" "10.$C.0.1" || fail "ping CC -> CA: $(cat "$T/ping.log")"
pings "$CC" "10.$C.0.2" || fail "ping CC -> CB: $(cat "$T/ping.log")"
log "containers on the three hosts ping each other over EVPN"
wait_for 30 "ping VNI 200: CE (vifd A, VLAN 20) -> CD (Linux)" pings "$CE" "10.$C.1.3"
pings "$CD" "10.$C.1.1" || fail "ping CD -> CE: $(cat "$T/ping.log")"
ip -n "$HA" link show vifx200 >/dev/null || fail "no shadow vxlan device for VNI 200"
# VNI 200's flood list is its own: host B (VNI 100 only) gets none of
# VNI 200's broadcasts (it would count them as another VNI's).
in_ns "$CE" ip neigh flush all
pings "$CE" "10.$C.1.3" || fail "ping CE -> CD again: $(cat "$T/ping.log")"
[ "$(vctlb -j stats vx | jq '.ports[0].drops.vxlan_unknown_vni')" = 0 ] ||
	fail "host B got VNI 200's broadcasts: $(vctlb -j stats vx | jq -c '.ports[0].drops')"
log "VNI 200 (vni-map=20:200, its own EVPN instance): ping both ways, its flood list its own"

mac_of() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }
MA=$(mac_of "$CA" "ta$id") MB=$(mac_of "$CB" "tb$id") MC=$(mac_of "$CC" "cc$id")
evpn_mac() { frr_vtysh hc 'show evpn mac vni 100' | grep -qi "$1.*remote.*$2"; }
wait_for 20 "zebra on the Linux host lists CA's MAC behind vifd A" evpn_mac "$MA" "10.$U.0.1"
wait_for 20 "zebra on the Linux host lists CB's MAC behind vifd B" evpn_mac "$MB" "10.$U.0.2"
frr_vtysh hc 'show evpn mac vni 100' >"$T/evpn-mac-hc.log"
log "Linux host's zebra: $(grep -ci remote "$T/evpn-mac-hc.log") remote MACs in VNI 100"
fdb_evpn() {
	vctl -j fdb | jq -e --arg m "$1" --arg r "$2" \
		'.entries[] | select(.mac == $m and .port == "vx" and .remote == $r and .origin == "evpn")' >/dev/null
}
wait_for 20 "vifd A's fdb: CC's MAC from EVPN" fdb_evpn "$MC" "10.$U.0.3"
vctl fdb >"$T/fdb-a.txt"
grep -i "$MC" "$T/fdb-a.txt" | grep -q evpn || fail "vifctl fdb does not show $MC as evpn: $(cat "$T/fdb-a.txt")"

# The data plane is vifd's: the shadow devices carried nothing.
tx=$(ip -n "$HA" -j -s link show vifx100 | jq '.[0].stats64.tx.packets')
rx=$(ip -n "$HA" -j -s link show vifx100 | jq '.[0].stats64.rx.packets')
[ "$tx" = 0 ] && [ "$rx" = 0 ] || fail "shadow vxlan device carried traffic: tx $tx rx $rx"
# vifd's local MACs are dynamic entries of a bridge that ages them in 300 s
# (vifd refreshes them each minute): if vifd is gone for good, they go.
age=$(ip -n "$HA" -j -d link show vifb100 | jq '.[0].linkinfo.info_data.ageing_time')
[ "$age" = 30000 ] || fail "shadow bridge ageing_time $age, not 30000 (300 s)"
bridge -n "$HA" -j fdb show br vifb100 | jq -e --arg m "$MA" \
	'.[] | select(.mac == $m and (.state // "") == "" and (.flags // [] | index("extern_learn") | not))' \
	>/dev/null || fail "CA's MAC is not a dynamic entry of vifb100: $(bridge -n "$HA" fdb show br vifb100)"

# A container moves from host B to host A: same MAC, same address.
vctlb del-port tb
vctl add-port br0 tm type=tap ifname="tm$id" netns="$CB"
ip -n "$CB" link set "tm$id" address "$MB" mtu 1450
ip -n "$CB" addr add "10.$C.0.2/24" dev "tm$id"
t0=$(date +%s%N)
in_ns "$CB" "${PING[@]}" -c 1 -W 1 "10.$C.0.1" >/dev/null 2>&1 || true # it speaks first
moved() { in_ns "$CC" "${PING[@]}" -c 1 -W 1 "10.$C.0.2" >/dev/null 2>&1; }
wait_for $((MOVE_BOUND + 5)) "CC reaching the moved container" moved
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -le $((MOVE_BOUND * 1000)) ] || fail "moved container reachable after $ms ms (bound ${MOVE_BOUND} s)"
wait_for 20 "zebra on the Linux host: CB's MAC behind vifd A now" evpn_mac "$MB" "10.$U.0.1"
log "container moved from host B to host A: reachable from host C after $ms ms"

# vifd A restarts: zebra's entries are in the kernel, read back at once.
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
start_vifd --workers 1
fdb_evpn "$MC" "10.$U.0.3" || fail "restarted vifd A lacks zebra's entry for $MC: $(vctl fdb)"
wait_for 20 "ping CA -> CC after vifd A restarted" pings "$CA" "10.$C.0.3"
log "vifd A restarted: zebra's entries read back from the kernel, ping resumes"

# Host C's bgpd stops: vifd A withdraws its MAC and flood entry.
frr_stop_bgpd hc
t0=$(date +%s%N)
gone() { ! fdb_evpn "$MC" "10.$U.0.3" && ! flood_has "10.$U.0.3"; }
wait_for 30 "host C withdrawn from vifd A" gone
log "host C's bgpd stopped: withdrawn from vifd A after $((($(date +%s%N) - t0) / 1000000)) ms"
# Its VTEP is forgotten once nothing refers to it (the slot is used again):
# frames host C's kernel may still flood for a moment are learned from it,
# so its learned entries are flushed until they stop.
forgotten() { vctl fdb-flush vx >/dev/null; sleep 1.5; [ "$(port_info vx vxlan.remotes)" = 1 ]; }
wait_for 20 "vifd A to forget host C's VTEP ($(port_info vx vxlan.remotes) remotes)" forgotten

# Host C's bgpd comes back: vifd A follows within seconds.
frr_start_bgpd hc
t0=$(date +%s%N)
back() { fdb_evpn "$MC" "10.$U.0.3" && flood_has "10.$U.0.3"; }
wait_for 60 "host C back in vifd A's table" back
wait_for 20 "ping CA -> CC after host C's bgpd came back" pings "$CA" "10.$C.0.3"
log "host C's bgpd restarted: back in vifd A's table after $((($(date +%s%N) - t0) / 1000000)) ms (BGP session included)"
wait_for 10 "ping CA -> moved CB after C left" pings "$CA" "10.$C.0.2"

# The refreshes of local MACs (a 60th of them each second) were taken.
grep -q "cannot refresh" "$T/vifd.log" && fail "$(grep "cannot refresh" "$T/vifd.log")"
# del-port removes the shadow devices.
vctl del-port vx
ip -n "$HA" link show vifx100 >/dev/null 2>&1 && fail "vifx100 left after del-port"
ip -n "$HA" link show vifb100 >/dev/null 2>&1 && fail "vifb100 left after del-port"
ip -n "$HA" link show vifx200 >/dev/null 2>&1 && fail "vifx200 left after del-port"
# A device of a shadow's name that is not vifd's is not taken over.
ip -n "$HA" link add vifb100 type bridge
if vctl add-port br0 vx type=vxlan vni=100 local="10.$U.0.1" evpn=on netns="$HA" 2>"$T/bad.log"; then
	fail "someone else's vifb100 was taken over"
fi
grep -q "not vifd's" "$T/bad.log" || fail "unclear error: $(cat "$T/bad.log")"
ip -n "$HA" link show vifx100 >/dev/null 2>&1 && fail "a refused add-port left vifx100"
log "PASS"
