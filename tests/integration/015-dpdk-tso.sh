#!/bin/bash
# 015-dpdk-tso: segmentation offload with a peer nobody here wrote. DPDK
# testpmd's csum forwarding engine sits between two VLANs of vifd with
# `tso set` on its ports (and LRO, so it may receive 64 KiB frames): a TCP
# stream from namespace A (VLAN 10) to namespace B (VLAN 20) crosses
# testpmd, which hands vifd its frames as TSO frames (virtio-net header with
# GSO_TCPV4) from its own virtio-user driver; vifd must take them, and
# deliver them whole to B's tap. Both directions.
#
#   netns A --[tap ta, VLAN 10]--+                   +--[tap tb, VLAN 20]-- netns B
#                                vifd br0 -- a.sock (VLAN 10) testpmd csum fwd
#                                         -- b.sock (VLAN 20)    (tso set 1448)
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd missing (scripts/deps.sh installs it)"

id=$$
NA=vifdp-a$id NB=vifdp-b$id IA=vpa$id IB=vpb$id
MA=02:00:00:0d:00:0a MB=02:00:00:0d:00:0b
net=10.$((id % 200 + 20))
mkns "$NA"
mkns "$NB"
start_vifd
vctl add-port br0 ta type=tap ifname="$IA" netns="$NA" tag=10
vctl add-port br0 tb type=tap ifname="$IB" netns="$NB" tag=20
vctl add-port br0 a type=vhostuser path="$T/a.sock" tag=10
vctl add-port br0 b type=vhostuser path="$T/b.sock" tag=20
ip -n "$NA" link set "$IA" address "$MA"
ip -n "$NB" link set "$IB" address "$MB"
ip -n "$NA" addr add "$net.0.1/24" dev "$IA"
ip -n "$NB" addr add "$net.0.2/24" dev "$IB"

# testpmd, interactive on a FIFO: its ports get TSO (and checksum) offloads
# before they start; the csum engine rewrites MACs to its --eth-peer ones.
pfx=$(dpdk_prefix tso)
CLEANUP_HOOKS+=("dpdk_cleanup $pfx")
mkfifo "$T/tp.in"
timeout 300 stdbuf -oL dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci --file-prefix="$pfx" \
	--vdev "net_virtio_user0,path=$T/a.sock,queues=1" \
	--vdev "net_virtio_user1,path=$T/b.sock,queues=1" \
	-- -i --nb-cores=1 --total-num-mbufs=16384 --rx-offloads=0xc --enable-lro --enable-scatter --max-pkt-len=9000 \
	--eth-peer="0,$MA" --eth-peer="1,$MB" <"$T/tp.in" >"$T/testpmd.log" 2>&1 &
TP=$!
PIDS+=("$TP")
exec 9>"$T/tp.in"
tp() { echo "$*" >&9; }
wait_for 60 "testpmd prompt" grep -q "testpmd>" "$T/testpmd.log"
for c in "port stop all" "csum set tcp hw 0" \
	"csum set tcp hw 1" "tso set 1448 0" "tso set 1448 1" "port start all" \
	"set fwd csum" "start"; do
	tp "$c"
done
wait_for 30 "testpmd forwarding" grep -q "csum packet forwarding" "$T/testpmd.log"
connected() { [ "$(port_info "$1" connected)" = True ]; }
wait_for 20 "testpmd's ports" sh -c "[ \$($VIFCTL --socket $T/state/vifd.sock -j show | \
	jq '[.bridges[0].ports[] | select(.name == \"a\" or .name == \"b\") | .live_rx] | add') = 2 ]"
vctl -j show | jq -c '.bridges[0].ports[] | select(.type == "vhostuser") | {name, offloads_rx, offloads_tx}' |
	sed 's/^/    /'
jq -e '.bridges[0].ports[] | select(.name == "b") | .offloads_rx | index("tso4")' \
	<<<"$(vctl -j show)" >/dev/null || fail "testpmd did not negotiate TSO (HOST_TSO4) on b"

wait_for 30 "ping A -> B through testpmd" pings "$NA" "$net.0.2"
g0=$(port_stat a rx_gso) g1=$(port_stat b rx_gso)
up=$(iperf_mbps "$NB" "$net.0.2" "$NA" 3)
down=$(iperf_mbps "$NB" "$net.0.2" "$NA" 3 -R)
ga=$(($(port_stat a rx_gso) - g0)) gb=$(($(port_stat b rx_gso) - g1))
log "iperf3 A -> B through testpmd: $up Mbit/s; B -> A: $down Mbit/s"
log "TSO frames from testpmd: $gb on b (to B), $ga on a (to A)"
tp "stop"
[ "$gb" -gt 100 ] && [ "$ga" -gt 100 ] || fail "testpmd's frames did not come as TSO frames"
ge "$up" 20 && ge "$down" 20 || fail "too slow: $up / $down Mbit/s"
for p in a b ta tb; do
	[ "$(port_stat $p drops.offload)" = 0 ] || fail "$p: offload drops"
	[ "$(port_stat $p ring_errors)" = 0 ] || fail "$p: ring errors"
done
tp "quit"
exec 9>&-
wait "$TP" || true
forget_pid "$TP"
vifd_alive
log "PASS"
