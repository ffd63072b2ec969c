#!/bin/bash
# 078-capture-tap: vifctl capture on kernel ports. A pings B three times;
# the frames tap ta sends into vifd (rx) and those vifd writes to tap tb
# (tx) are captured, read back with tcpdump -r: three echo requests in
# each, the same frames byte for byte (tb's are the ones vifd forwarded
# from ta). Then TCP from A (64 KiB offload frames) to C behind an afxdp
# port, which has no offloads: vifd segments in software, and the capture
# of tc's tx must hold what went on the wire, segments of at most 1514
# bytes with correct IPv4 and TCP checksums, never the 64 KiB frame. Nothing is left
# behind: namespaces, links and processes go in the cleanup trap.
#
#   netns A: tA 10.(x).0.1/24 --[tap ta]--+
#   netns B: tB 10.(x).0.2/24 --[tap tb]--+-- vifd br0
#   netns C: cC 10.(x).0.3/24 ===veth=== cv (host) --[afxdp tc]--+
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v tcpdump >/dev/null || fail "tcpdump is not installed (scripts/deps.sh)"

id=$$
NA=vifdc-a$id NB=vifdc-b$id
IA=vca$id IB=vcb$id
net=10.$((id % 200 + 20))
NC=vifdc-c$id IC=vcc$id VC=vcv$id
mkns "$NA"
mkns "$NB"
mkns "$NC"
ip link add "$VC" type veth peer name "$IC" netns "$NC"
LINKS+=("$VC")
start_vifd
vctl add-port br0 ta type=tap ifname="$IA" netns="$NA"
vctl add-port br0 tb type=tap ifname="$IB" netns="$NB"
ip -n "$NA" addr add "$net.0.1/24" dev "$IA"
ip -n "$NB" addr add "$net.0.2/24" dev "$IB"
wait_for 20 "ping A -> B" pings "$NA" "$net.0.2"
ncap_is() { [ "$(vctl -j captures | jq '.captures | length')" = "$1" ]; }

bg cap-a "$VIFCTL" --socket "$T/state/vifd.sock" capture ta rx -w "$T/a.pcap" --timeout 60
CA=$LAST_PID
bg cap-b "$VIFCTL" --socket "$T/state/vifd.sock" capture tb tx -w "$T/b.pcap" --timeout 60
CB=$LAST_PID
wait_for 10 "two captures" ncap_is 2
pings "$NA" "$net.0.2" || fail "ping A -> B: $(cat "$T/ping.log")"
sleep 0.3
for p in $CA $CB; do
	kill -INT "$p"
	wait "$p" || fail "capture exited with $?: $(cat "$T"/cap-*.log)"
	forget_pid "$p"
done
wait_for 5 "captures ended" ncap_is 0
# echo requests A sent: in ta's rx and in tb's tx, the same bytes
req() { tcpdump -r "$1" -nn -xx "icmp[icmptype] == icmp-echo and src $net.0.1" 2>/dev/null; }
na=$(req "$T/a.pcap" | grep -c '^[0-9]') nb=$(req "$T/b.pcap" | grep -c '^[0-9]')
[ "$na" = 3 ] && [ "$nb" = 3 ] || fail "echo requests: $na captured on ta rx, $nb on tb tx (want 3 and 3)"
[ "$(req "$T/a.pcap" | grep -v '^[0-9]')" = "$(req "$T/b.pcap" | grep -v '^[0-9]')" ] ||
	fail "the requests tb got differ from those ta sent"
tcpdump -r "$T/a.pcap" -nn 2>/dev/null | grep -F "echo reply" >/dev/null &&
	fail "ta's rx capture holds replies (frames vifd sent to it)"
log "3 echo requests captured on ta (rx) and on tb (tx), byte for byte the same"

vctl add-port br0 tc type=afxdp dev="$VC"
ip -n "$NC" addr add "$net.0.3/24" dev "$IC"
ip -n "$NC" link set "$IC" up
in_ns "$NC" ethtool -K "$IC" tx off tso off gso off >/dev/null 2>&1 || true
wait_for 20 "ping A -> C" pings "$NA" "$net.0.3"
bg cap-c "$VIFCTL" --socket "$T/state/vifd.sock" capture tc tx -w "$T/c.pcap" -c 2000 --timeout 60
CC=$LAST_PID
wait_for 10 "capture" ncap_is 1
s0=$(port_stat tc tx_segmented)
mbps=$(iperf_mbps "$NC" "$net.0.3" "$NA" 1)
s1=$(port_stat tc tx_segmented)
sleep 0.3
kill -INT "$CC" 2>/dev/null || true  # (it may have its 2000 frames already)
wait "$CC" || fail "capture c exited with $?: $(cat "$T/cap-c.log")"
forget_pid "$CC"
[ $((s1 - s0)) -gt 10 ] || fail "A->C: only $((s1 - s0)) frames segmented in software"
python3 - "$T/c.pcap" <<'PY' || fail "tc's tx capture is not what went on the wire"
import struct, sys
d = open(sys.argv[1], 'rb').read()
off, n, big, tcp, bad = 24, 0, 0, 0, 0
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
while off < len(d):
    s, ns, cl, ln = struct.unpack('<IIII', d[off:off + 16])
    f = d[off + 16:off + 16 + cl]
    off += 16 + cl
    n += 1
    big += ln > 1514
    if f[12:14] == b'\x08\x00' and f[23] == 6 and cl == ln:
        tcp += 1
        ihl = (f[14] & 15) * 4
        seg = f[14 + ihl:14 + struct.unpack('!H', f[16:18])[0]]
        pseudo = f[26:34] + struct.pack('!HH', 6, len(seg))
        bad += csum(f[14:14 + ihl]) != 0xffff    # the IPv4 header checksum
        bad += csum(pseudo + seg) != 0xffff      # the TCP checksum
assert n and not big, '%d frames, %d longer than 1514 bytes' % (n, big)
assert tcp > 10 and not bad, '%d TCP frames, %d bad checksums' % (tcp, bad)
print('%d frames, %d TCP, none over 1514 bytes' % (n, tcp))
PY
tcpdump -r "$T/c.pcap" -nn -vv tcp 2>/dev/null | grep -F "incorrect" >/dev/null &&
	fail "tcpdump finds incorrect checksums in tc's tx capture"
log "TCP A->C at $mbps Mbit/s: tc's tx capture holds the segments vifd made ($((s1 - s0))), not the 64 KiB frames"
vifd_alive
log "PASS"
