# veth-port.sh - body of 111-afpacket-veth and 112-afxdp-veth (sourced
# with KTYPE=afpacket or afxdp): a namespace on a tap port, another behind
# a veth pair whose host end vifd attaches with type=$KTYPE. Ping both ways,
# iperf3 both ways, counters; the host end's promiscuity and state are
# restored by del-port. For reference (REFERENCE=1), the same two namespaces
# are then joined by a Linux bridge (the tap replaced by a veth pair) and
# measured in the same run.
#
#   netns A: tA 10.(x).0.1 --[tap ta]--+
#                                       vifd br0
#   netns B: vB 10.(x).0.2 == vH --[$KTYPE ap]--+
#
#   reference: netns A: vA == vA2 --+-- Linux bridge brX
#              netns B: vB == vH  --+
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v ethtool >/dev/null || { log "SKIP: no ethtool"; exit 77; }
: "${KTYPE:?}"

id=$$
NA=vifdt-a$id NB=vifdt-b$id
IA=vta$id VB=vvb$id VH=vvh$id
net=10.$((id % 200 + 20))
mkns "$NA"
mkns "$NB"
ip link add "$VH" type veth peer name "$VB" netns "$NB"
LINKS+=("$VH")
ip -n "$NB" addr add "$net.0.2/24" dev "$VB"
ip -n "$NB" link set "$VB" up
# AF_XDP sees the frames the peer sends as they are: with segmentation
# offload they would be 64 KiB GSO frames, and with checksum offload their
# checksums unfinished, so the peer's offloads go off for it. AF_PACKET
# ports read each frame's virtio-net header (PACKET_VNET_HDR): the peer
# keeps the kernel's defaults, and its large frames must cross whole.
if [ "$KTYPE" = afxdp ]; then
	in_ns "$NB" ethtool -K "$VB" tx off tso off gso off >/dev/null
fi
promisc() { ip -d link show "$VH" | grep -o 'promiscuity [0-9]*' | cut -d' ' -f2; }
up() { ip link show "$VH" | grep '[<,]UP[,>]' >/dev/null; }
p0=$(promisc)
up && fail "$VH is up before vifd attaches"

start_vifd
vctl add-port br0 ta type=tap ifname="$IA" netns="$NA"
vctl add-port br0 ap type="$KTYPE" dev="$VH"
[ "$(port_info ap type)" = "$KTYPE" ] || fail "show: type of ap"
[ "$(port_info ap ifname)" = "$VH" ] || fail "show: ifname of ap"
[ "$(promisc)" -gt "$p0" ] || fail "$VH not promiscuous with the port (promiscuity $(promisc))"
up || fail "vifd did not bring $VH up"
vctl add-port br0 ax type="$KTYPE" dev=nosuchif$id 2>/dev/null && fail "$KTYPE on a missing interface accepted" || true
ip -n "$NA" addr add "$net.0.1/24" dev "$IA"

wait_for 20 "ping A -> B" pings "$NA" "$net.0.2"
pings "$NB" "$net.0.1" || fail "ping B -> A: $(cat "$T/ping.log")"
log "ping both ways through vifd (tap <-> $KTYPE)"

up_mbps=$(iperf_mbps "$NA" "$net.0.1" "$NB" 3)
log "iperf3 $KTYPE -> tap through vifd: $up_mbps Mbit/s"
down_mbps=$(iperf_mbps "$NB" "$net.0.2" "$NA" 3)
log "iperf3 tap -> $KTYPE through vifd: $down_mbps Mbit/s"
ge "$up_mbps" 20 || fail "$KTYPE -> tap only $up_mbps Mbit/s"
ge "$down_mbps" 20 || fail "tap -> $KTYPE only $down_mbps Mbit/s"
[ "$(port_stat ap rx_pkts)" -gt 1000 ] || fail "ap rx_pkts $(port_stat ap rx_pkts)"
[ "$(port_stat ap tx_pkts)" -gt 1000 ] || fail "ap tx_pkts $(port_stat ap tx_pkts)"
[ "$(port_stat ta tx_pkts)" -gt 1000 ] || fail "ta tx_pkts $(port_stat ta tx_pkts)"
if [ "$KTYPE" = afpacket ]; then
	# Segmentation-offload frames both ways, none segmented by vifd.
	log "afpacket: rx_gso $(port_stat ap rx_gso), tx_gso $(port_stat ap tx_gso)"
	[ "$(port_stat ap rx_gso)" -gt 100 ] || fail "no large frames came from the veth"
	[ "$(port_stat ap tx_gso)" -gt 100 ] || fail "no large frames went to the veth"
	[ "$(port_stat ap tx_segmented)" = 0 ] && [ "$(port_stat ta tx_segmented)" = 0 ] ||
		fail "segmented in software between two ports that take TSO"
	[ "$(port_stat ap drops.offload)" = 0 ] || fail "offload drops on ap"
fi
if [ "$KTYPE" = afxdp ]; then
	# The veth's MTU-sized segments coalesced into TSO frames for the tap
	# (ol_gro), and every byte through as sent, both ways.
	log "afxdp: rx_gso $(port_stat ap rx_gso) coalesced frames of $(port_stat ap rx_pkts)"
	[ "$(port_stat ap rx_gso)" -gt 0 ] || fail "no received segments coalesced"
	[ "$(port_stat ap drops.offload)" = 0 ] || fail "offload drops on ap"
	tcp_copy "$NA" "$net.0.1" "$NB" 16
	tcp_copy "$NB" "$net.0.2" "$NA" 16
fi
vctl stats >"$T/stats.log"

vctl del-port ap
vctl del-port ta
[ "$(promisc)" = "$p0" ] || fail "promiscuity of $VH is $(promisc) after del-port, was $p0"
up && fail "$VH left up after del-port (it was down)"
link_exists "$NA" "$IA" && fail "$IA still exists after del-port"
if [ "$KTYPE" = afxdp ] && ip link show "$VH" | grep 'prog/xdp' >/dev/null; then
	fail "XDP program left on $VH after del-port"
fi

# kill -9 and restart: the veth end and the (persistent) tap are still
# there, the restored ports attach to them again (an XDP program the
# killed vifd left is vifd's and replaced), and ping works with no
# reconfiguration of either namespace. (The restored port finds the veth
# end up, as its predecessor left it, and leaves it so.)
vctl add-port br0 ta type=tap ifname="$IA" netns="$NA"
vctl add-port br0 ap type="$KTYPE" dev="$VH"
ip -n "$NA" addr add "$net.0.1/24" dev "$IA"
wait_for 20 "ping A -> B (ports added again)" pings "$NA" "$net.0.2"
kill -KILL "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
link_exists "$NA" "$IA" || fail "$IA went with vifd"
mv "$T/vifd.log" "$T/vifd-before-restart.log"
start_vifd
[ "$(port_info ap ifname)" = "$VH" ] || fail "ap not restored after kill -9: $(grep -i 'cannot' "$T/vifd.log")"
wait_for 20 "ping A -> B after kill -9 and restart" pings "$NA" "$net.0.2"
pings "$NB" "$net.0.1" || fail "ping B -> A after the restart: $(cat "$T/ping.log")"
vctl del-port ap
vctl del-port ta
[ "$(promisc)" = "$p0" ] || fail "promiscuity of $VH is $(promisc) after the restart and del-port"
link_exists "$NA" "$IA" && fail "$IA still exists after del-port"
if [ "$KTYPE" = afxdp ] && ip link show "$VH" | grep 'prog/xdp' >/dev/null; then
	fail "XDP program left on $VH after the restart and del-port"
fi
log "kill -9, restart: $KTYPE and tap ports attach to the same interfaces, ping resumes"
[ "${REFERENCE:-0}" = 1 ] || { log "ok"; exit 0; }

log "reference: the same namespaces joined by a Linux bridge"
BR=vbr$id VA=vva$id VA2=vvb2$id
ip link add "$BR" type bridge
LINKS+=("$BR")
ip link add "$VA2" type veth peer name "$VA" netns "$NA"
LINKS+=("$VA2")
ip -n "$NA" addr add "$net.0.1/24" dev "$VA"
ip -n "$NA" link set "$VA" up
if [ "$KTYPE" = afxdp ]; then
	in_ns "$NA" ethtool -K "$VA" tx off tso off gso off >/dev/null
fi
for l in "$VA2" "$VH"; do ip link set "$l" master "$BR"; ip link set "$l" up; done
ip link set "$BR" up
wait_for 20 "ping over the Linux bridge" pings "$NA" "$net.0.2"
br_mbps=$(iperf_mbps "$NB" "$net.0.2" "$NA" 3)
log "iperf3 over a Linux bridge (veth, offloads as above): $br_mbps Mbit/s"
log "ok"
