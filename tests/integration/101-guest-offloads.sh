#!/bin/bash
# 101-guest-offloads: real Linux guests with and without offloads. Guest A
# negotiates every checksum and segmentation offload QEMU has (its TCP
# leaves as 64 KiB frames); guest B none of them (csum=off, guest_csum=off,
# TSO/ECN/UFO off both ways: it must get complete 1500-byte frames). A
# namespace sits on a tap port (it takes TSO). TCP with iperf3: A -> B and
# B -> A (vifd segments and checksums A's frames in software for B), and
# A -> the namespace (A's frames cross whole).
#
#   guest A 10.0.0.1 (offloads) --g1.sock--+
#   guest B 10.0.0.2 (none)     --g2.sock--+-- vifd br0
#   netns N 10.0.0.3 --[tap tn]------------+
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/guest.sh"

NO_OL=csum=off,guest_csum=off,host_tso4=off,host_tso6=off,host_ecn=off,host_ufo=off
NO_OL=$NO_OL,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off
NN=vifdg-n$$ IN=vgn$$

mkns "$NN"
start_vifd
vctl add-port br0 g1 type=vhostuser path="$T/g1.sock"
vctl add-port br0 g2 type=vhostuser path="$T/g2.sock"
vctl add-port br0 tn type=tap ifname="$IN" netns="$NN"
ip -n "$NN" addr add 10.0.0.3/24 dev "$IN"
bg iperf-ns ip netns exec "$NN" iperf3 -s -1 -p 5202

bg_guest guest2 --client --sock "$T/g2.sock" --mac 52:54:00:00:00:02 --ip 10.0.0.2/24 \
	--dev-opts "$NO_OL" --log "$T/g2-console.log" --timeout 300 --cmd 'iperf3 -s -p 5201'
wait_for 90 "guest B ready" grep -aq "^GUEST-CMD" "$T/g2-console.log"
bg_guest guest1 --client --sock "$T/g1.sock" --mac 52:54:00:00:00:01 --ip 10.0.0.1/24 \
	--log "$T/g1-console.log" --timeout 300 \
	--cmd 'i=0; until ping -c 1 -W 1 10.0.0.2 >/dev/null; do i=$((i+1)); [ $i -lt 60 ] || exit 3; done;
echo AB; iperf3 -c 10.0.0.2 -p 5201 -t 3 || exit 4;
echo BA; iperf3 -c 10.0.0.2 -p 5201 -t 3 -R || exit 5;
echo AN; iperf3 -c 10.0.0.3 -p 5202 -t 3 || exit 6'
G1=$LAST_PID
# What vifd says each guest negotiated, while both are attached.
wait_for 120 "guest A's first stream" grep -aq "^AB" "$T/g1-console.log"
show=$(vctl -j show)
jq -e '.bridges[0].ports[] | select(.name == "g2") | .offloads_tx == [] and .offloads_rx == []' \
	<<<"$show" >/dev/null || fail "show: g2 has offloads: $show"
jq -e '.bridges[0].ports[] | select(.name == "g1") | (.offloads_rx | index("tso4")) and
	(.offloads_tx | index("tso4"))' <<<"$show" >/dev/null || fail "show: g1 has no TSO: $show"
rc=0
wait "$G1" || rc=$?
forget_pid "$G1"
vifd_alive
tr -d '\r' <"$T/g1-console.log" | grep -aE "^(AB|BA|AN)$|receiver|GUEST-VIRTIO negotiated" | sed 's/^/    /'
[ "$rc" = 0 ] || fail "guest A's command failed (rc=$rc)"
[ "$(grep -ac ' receiver' "$T/g1-console.log")" = 3 ] || fail "not three iperf3 results"

# What each guest negotiated, as its driver reports it.
nego() { tr -d '\r' <"$1" | grep -a '^GUEST-VIRTIO negotiated'; }
nego "$T/g1-console.log" | grep -aqw HOST_TSO4 || fail "guest A did not negotiate TSO"
nego "$T/g2-console.log" | grep -wE 'CSUM|GUEST_CSUM|HOST_TSO4|GUEST_TSO4' >/dev/null &&
	fail "guest B negotiated offloads: $(nego "$T/g2-console.log")"

gso=$(port_stat g1 rx_gso) seg=$(port_stat g2 tx_segmented) whole=$(port_stat tn tx_gso)
log "guest A sent $gso TSO frames; vifd segmented $seg for guest B; $whole reached the namespace whole"
[ "$gso" -gt 50 ] || fail "guest A's TCP did not cross as large frames"
[ "$seg" -gt 50 ] || fail "no software segmentation for guest B"
[ "$whole" -gt 10 ] || fail "no large frames reached the namespace whole"
for p in g1 g2 tn; do
	[ "$(port_stat $p drops.offload)" = 0 ] || fail "$p: offload drops"
	[ "$(port_stat $p ring_errors)" = 0 ] || fail "$p: ring errors"
done
log "PASS"
