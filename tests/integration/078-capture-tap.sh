#!/bin/bash
# 078-capture-tap: vifctl capture on kernel ports. A pings B three times;
# the frames tap ta sends into vifd (rx) and those vifd writes to tap tb
# (tx) are captured, read back with tcpdump -r: three echo requests in
# each, the same frames byte for byte (tb's are the ones vifd forwarded
# from ta). Nothing is left behind: namespaces and processes go in the
# cleanup trap.
#
#   netns A: tA 10.(x).0.1/24 --[tap ta]--+
#                                          vifd br0
#   netns B: tB 10.(x).0.2/24 --[tap tb]--+
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
command -v tcpdump >/dev/null || fail "tcpdump is not installed (scripts/deps.sh)"

id=$$
NA=vifdc-a$id NB=vifdc-b$id
IA=vca$id IB=vcb$id
net=10.$((id % 200 + 20))
mkns "$NA"
mkns "$NB"
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
vifd_alive
log "PASS"
