#!/bin/bash
# 113-tap-offloads: namespace TCP crosses vifd as 64 KiB frames. Two
# namespaces on tap ports: the taps report checksum and segmentation
# offloads on (ethtool -k), and iperf3 moves TCP over IPv4 and IPv6 in both
# directions; the counters show segmentation-offload frames entering vifd
# (rx_gso) and leaving it whole (tx_gso), none segmented in software, and
# none refused. A third namespace behind a veth attached with
# type=afxdp (AF_XDP carries no offload metadata: vifd segments and
# checksums for it) gets the same stream from a tap: tx_segmented moves on
# its port, and TCP works. (AF_PACKET ports take offloads: 111.)
#
#   netns A: a0 --[tap ta]--+
#   netns B: b0 --[tap tb]--+-- vifd br0
#   netns C: c0 ===veth=== cv (host) --[afxdp tc]--+
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v ethtool >/dev/null || fail "ethtool missing (scripts/deps.sh)"

id=$$
NA=vifdo-a$id NB=vifdo-b$id NC=vifdo-c$id
IA=voa$id IB=vob$id IC=voc$id VC=vov$id
net=10.$((id % 200 + 20))
v6=$(printf 'fd00:%x' $((id % 65536)))
mkns "$NA"
mkns "$NB"
mkns "$NC"
ip link add "$VC" type veth peer name "$IC" netns "$NC"
LINKS+=("$VC")

start_vifd
vctl add-port br0 ta type=tap ifname="$IA" netns="$NA"
vctl add-port br0 tb type=tap ifname="$IB" netns="$NB"
vctl add-port br0 tc type=afxdp dev="$VC"
ip -n "$NA" addr add "$net.0.1/24" dev "$IA"
ip -n "$NB" addr add "$net.0.2/24" dev "$IB"
ip -n "$NC" addr add "$net.0.3/24" dev "$IC"
ip -n "$NA" addr add "$v6::1/64" dev "$IA" nodad
ip -n "$NB" addr add "$v6::2/64" dev "$IB" nodad
ip -n "$NC" link set "$IC" up
# The afxdp port reads what the veth gives it: complete frames only.
in_ns "$NC" ethtool -K "$IC" tx off tso off gso off >/dev/null 2>&1 || true

# The taps take vifd's offloads: the namespaces' stacks hand over 64 KiB
# frames with partial checksums.
for n in "$NA:$IA" "$NB:$IB"; do
	k=$(in_ns "${n%%:*}" ethtool -k "${n#*:}")
	grep '^tcp-segmentation-offload: on' <<<"$k" >/dev/null || fail "${n#*:}: TSO off: $k"
	grep '^tx-checksumming: on' <<<"$k" >/dev/null || fail "${n#*:}: tx checksumming off"
done
[ "$(vctl -j show | jq -c '.bridges[0].ports[] | select(.name == "ta") | .offloads_tx')" = \
	'["csum","tso4","tso6","ecn"]' ] || [ "$(vctl -j show |
	jq -c '.bridges[0].ports[] | select(.name == "ta") | .offloads_tx')" = \
	'["csum","tso4","tso6","ecn","uso4","uso6"]' ] || fail "show: ta's offloads: $(vctl -j show)"
log "taps: checksum and TCP segmentation offloads on ($(vctl -j show |
	jq -r '.bridges[0].ports[] | select(.name == "ta") | .offloads_tx | join(",")'))"

wait_for 20 "ping A -> B" pings "$NA" "$net.0.2"
wait_for 20 "ping A -> C" pings "$NA" "$net.0.3"
wait_for 20 "ping6 A -> B" in_ns "$NA" "${PING[@]}" -c 1 -W 2 "$v6::2"

# stream FROM_NS TO_NS ADDR [IPERF ARGS]: TCP for 3 s; prints Mbit/s and
# checks the stream crossed as segmentation-offload frames.
stream() {
	local g0 g1 what=$1-\>$2 mbps
	g0=$(port_stat ta rx_gso)
	g0=$((g0 + $(port_stat tb rx_gso)))
	mbps=$(iperf_mbps "$2" "$3" "$1" 3 "${@:4}")
	g1=$(port_stat ta rx_gso)
	g1=$((g1 + $(port_stat tb rx_gso)))
	log "iperf3 $what ${4:-} $3: $mbps Mbit/s, $((g1 - g0)) segmentation-offload frames in"
	[ $((g1 - g0)) -gt 100 ] || fail "$what: only $((g1 - g0)) large frames crossed"
	ge "$mbps" 50 || fail "$what: only $mbps Mbit/s"
}
stream "$NA" "$NB" "$net.0.2"
stream "$NA" "$NB" "$net.0.2" -R
stream "$NA" "$NB" "$v6::2"
stream "$NA" "$NB" "$v6::2" -R
for p in ta tb; do
	[ "$(port_stat $p tx_gso)" -gt 100 ] || fail "$p: tx_gso $(port_stat $p tx_gso)"
	[ "$(port_stat $p tx_segmented)" = 0 ] || fail "$p: segmented in software, yet it takes TSO"
	[ "$(port_stat $p drops.offload)" = 0 ] || fail "$p: offload drops"
done

# To a port without offloads: segmented and checksummed in software.
s0=$(port_stat tc tx_segmented)
mbps=$(iperf_mbps "$NC" "$net.0.3" "$NA" 3)
s1=$(port_stat tc tx_segmented)
log "iperf3 A->C (afxdp, no offloads): $mbps Mbit/s, $((s1 - s0)) frames segmented by vifd"
[ $((s1 - s0)) -gt 100 ] || fail "A->C: only $((s1 - s0)) frames segmented in software"
ge "$mbps" 20 || fail "A->C: only $mbps Mbit/s"
[ "$(port_stat ta drops.offload)" = 0 ] && [ "$(port_stat tc drops.offload)" = 0 ] ||
	fail "offload drops"
vifd_alive
log "PASS"
