#!/bin/bash
# capture.sh - regenerates tests/data/gso/: super-frames made by the Linux
# TCP/UDP stack and the kernel's own software segmentation of them (run by
# hand as root, not in CI; needs iproute2, ethtool, python3).
#
#   ns S (sender)                  ns R (receiver)
#   olS<pid>: sA ================= rA  10.77.0.2 fd77::2   sink: capture.py sink
#             10.77.0.1 fd77::1
#             TSO/USO/csum on: an AF_PACKET socket with PACKET_VNET_HDR on sA
#             sees the stack's super-frames with their virtio-net header
#
#   ns J (injection, no IP)
#   olJ<pid>: jA ================= jB
#             TSO/USO/GSO/csum off: each super-frame sent on jA with its
#             virtio-net header is segmented and checksummed by the kernel;
#             a second AF_PACKET socket sees what leaves jA
#
# VLAN-tagged, CWR+ECN and not-really-GSO inputs are made from captured ones
# (this kernel may lack 8021q) and segmented by the kernel the same way.
# Everything is removed on exit, also on failure or interrupt.
# Usage: tests/offload/capture.sh [OUTDIR]   (default tests/data/gso)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../data/gso}
py="python3 $here/capture.py"
S=olS$$ R=olR$$ J=olJ$$
tmp=$(mktemp -d)
sink_pid=
cleanup() {
	set +e
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	for n in $S $R $J; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
[ "$(id -u)" = 0 ] || { echo "capture.sh: run as root" >&2; exit 1; }

for n in $S $R $J; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n $S link add sA type veth peer name rA netns $R
ip -n $S addr add 10.77.0.1/24 dev sA
ip -n $S addr add fd77::1/64 dev sA nodad
ip -n $R addr add 10.77.0.2/24 dev rA
ip -n $R addr add fd77::2/64 dev rA nodad
ip -n $S link set sA up
ip -n $R link set rA up
# One flight big enough for a ~60 KB super-frame.
ip -n $S route change 10.77.0.0/24 dev sA initcwnd 64
ip -n $R route change 10.77.0.0/24 dev rA initrwnd 64
ip netns exec $S ethtool -K sA tso on tx-udp-segmentation on tx on >/dev/null

ip netns exec $J sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n $J link add jA type veth peer name jB
ip netns exec $J ethtool -K jA tx off sg off tso off gso off tx-udp-segmentation off >/dev/null
# Room for a frame that is not really GSO (payload <= gso_size) to leave whole.
ip -n $J link set jA mtu 9000
ip -n $J link set jB mtu 9000
ip -n $J link set jA up
ip -n $J link set jB up

ip netns exec $R $py sink 5555 >"$tmp/sink.out" &
sink_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/sink.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/sink.out"
sleep 0.5   # neighbour tables settle

ip netns exec $S $py gen sA 10.77.0.2 fd77::2 5555 "$tmp/super.bin"
rm -f "$out"/*.pcap
ip netns exec $J $py inject jA "$tmp/super.bin" "$out"
echo "capture.sh: wrote $(ls "$out"/*.pcap | wc -l) cases to $out ($(du -sh "$out" | cut -f1))"
