#!/bin/bash
# 070-switch-policy: the switch core's policies with libvif guests. For each
# policy the legitimate frame arrives, the illegitimate one does not, and
# the right counter moves.
#
#   a (02..0a) --+
#   b (02..0b) --+-- vifd br0 (policies set per case with vifctl set-port)
#   c (02..0c) --+
#   d (02..0d) --+
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

start_vifd
for p in a b c d; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done
mac() { echo "02:00:00:00:00:0$1"; }

# listen PORT: a receiver on PORT until done_rx stops it (JSON in $T/rx-PORT.log)
listen() {
	bg "rx-$1" "$VIFBENCH" --sock "$T/$1.sock" --mode rx --duration 120 --no-announce \
		--src-mac "$(mac "$1")" --json
	eval "RX_$1=$LAST_PID"
}
# send PORT DST [SRC]: 50 frames from PORT to DST
send() {
	"$VIFBENCH" --sock "$T/$1.sock" --mode tx --count 50 --rate 5000 --no-announce \
		--src-mac "${3:-$(mac "$1")}" --dst-mac "$2" >"$T/tx-$1.log" 2>&1 ||
		fail "sender on $1 failed: $(tail -n 2 "$T/tx-$1.log")"
}
# got PORT FIELD: a figure of PORT's receiver (which has ended)
got() { jget "$(grep '^{' "$T/rx-$1.log" | tail -n 1)" "j['$2']"; }
# done_rx PORT: lets frames in flight land, then stops PORT's receiver (our
# child: waited for in this shell) so its summary is written
done_rx() {
	local pid_var="RX_$1"
	sleep 0.3
	kill -TERM "${!pid_var}" 2>/dev/null || true
	wait "${!pid_var}" || true
	forget_pid "${!pid_var}"
}
# round SENDER DST [SRC] -- RECEIVERS...: listeners up, one burst, results in RES_<port>
round() {
	local from=$1 dst=$2 src=$3; shift 3
	for p in "$@"; do listen "$p"; done
	for p in "$@"; do wait_for 10 "$p connected" live_rx_is "$p" 1; done
	send "$from" "$dst" "$src"
	for p in "$@"; do done_rx "$p"; done
	for p in "$@"; do eval "RES_$p=$(got "$p" rx_bench)"; done
}
BC=ff:ff:ff:ff:ff:ff
: "${RAWSEND:?}"
# raw_round FROM HEXFRAME RECEIVERS...: 20 copies of a hand-made frame; RAW_<port> = frames received
raw_round() {
	local from=$1 hex=$2; shift 2
	for p in "$@"; do listen "$p"; done
	for p in "$@"; do wait_for 10 "$p connected" live_rx_is "$p" 1; done
	"$RAWSEND" --sock "$T/$from.sock" --count 20 "$hex" >"$T/raw.log" 2>&1 ||
		fail "rawsend on $from failed: $(cat "$T/raw.log")"
	for p in "$@"; do done_rx "$p"; done
	for p in "$@"; do eval "RAW_$p=$(got "$p" rx_pkts)"; done
}
# frame DST SRC [TAG] TYPE PAYLOAD: hex of an Ethernet frame padded to 60 bytes
frame() {
	local h="$1$2${3:-}${4:-}${5:-}"
	while [ ${#h} -lt 120 ]; do h="${h}00"; done
	echo "$h"
}
HBC=ffffffffffff

log "VLANs: a and b access VLAN 10, c access VLAN 20, d trunk of VLAN 10"
vctl set-port a tag=10
vctl set-port b tag=10
vctl set-port c tag=20
vctl set-port d trunks=10
round a "$BC" "" b c d
[ "$RES_b" -ge 50 ] || fail "b (same VLAN) got $RES_b of 50"
[ "$RES_c" = 0 ] || fail "c (VLAN 20) got $RES_c frames of VLAN 10"
d_other=$(got d rx_other)
[ "$RES_d" = 0 ] && [ "$d_other" -ge 50 ] || fail "trunk d: $RES_d untagged, $d_other other (want 0 and >= 50 tagged)"
log "  b got $RES_b, c got 0, trunk d got $d_other tagged frames"
v0=$(port_stat a drops.vlan)
raw_round a "$(frame $HBC 02000000000a 81000014 88b5)" b
[ "$RAW_b" = 0 ] && [ "$(port_stat a drops.vlan)" -ge $((v0 + 20)) ] ||
	fail "tagged frame on access port a: b got $RAW_b, drops.vlan did not move"
raw_round d "$(frame $HBC 02000000000d 8100000a 88b5)" b
[ "$RAW_b" -ge 20 ] || fail "VLAN 10 frames from trunk d did not reach b ($RAW_b)"
v1=$(port_stat d drops.vlan)
raw_round d "$(frame $HBC 02000000000d 8100001e 88b5)" b
[ "$RAW_b" = 0 ] && [ "$(port_stat d drops.vlan)" -ge $((v1 + 20)) ] ||
	fail "VLAN 30 on trunk of VLAN 10: b got $RAW_b, drops.vlan did not move"
log "  tagged frame on an access port and a VLAN outside the trunk list dropped and counted; the trunk's VLAN 10 reaches b untagged"

log "anti-spoofing: a bound to $(mac a)"
vctl set-port a mac="$(mac a)"
s0=$(port_stat a drops.spoof)
round a "$BC" 02:00:00:00:00:99 b
[ "$RES_b" = 0 ] || fail "spoofed frames reached b ($RES_b)"
[ "$(port_stat a drops.spoof)" -ge $((s0 + 50)) ] || fail "spoof counter did not move"
round a "$BC" "" b
[ "$RES_b" -ge 50 ] || fail "frames from the bound MAC lost ($RES_b)"
s1=$(port_stat b drops.spoof)
round b "$BC" "$(mac a)" c
[ "$(port_stat b drops.spoof)" -ge $((s1 + 50)) ] || fail "b could use a's bound MAC"
log "  spoofed source dropped and counted; bound MAC passes; no other port can take it"

log "address binding: a may claim 10.0.0.5 in ARP"
vctl set-port a ip=10.0.0.5
arp() { frame $HBC 02000000000a "" 0806 "0001080006040001""02000000000a""$1""000000000000""0a000001"; }
p0=$(port_stat a drops.spoof)
raw_round a "$(arp 0a000006)" b
[ "$RAW_b" = 0 ] && [ "$(port_stat a drops.spoof)" -ge $((p0 + 20)) ] ||
	fail "ARP claiming 10.0.0.6: b got $RAW_b, drops.spoof did not move"
raw_round a "$(arp 0a000005)" b
[ "$RAW_b" -ge 20 ] || fail "ARP for the bound 10.0.0.5 lost ($RAW_b)"
vctl set-port a ip=none
log "  an ARP for another address is dropped and counted, one for the bound address passes"

log "mac=auto: b binds to the first source MAC it uses"
vctl set-port b mac=auto
round b "$BC" "" a
[ "$RES_a" -ge 50 ] || fail "first MAC of a mac=auto port lost ($RES_a)"
s2=$(port_stat b drops.spoof)
round b "$BC" 02:00:00:00:00:98 a
[ "$RES_a" = 0 ] && [ "$(port_stat b drops.spoof)" -ge $((s2 + 50)) ] ||
	fail "mac=auto port could change its MAC: a got $RES_a"
[ "$(port_info b auto_mac)" = "$(mac b)" ] || fail "show does not report the auto MAC"
vctl set-port b mac=none
log "  bound to $(mac b); another source MAC is dropped as spoofed"

log "isolation: a and b isolated, c plain, all VLAN 10"
vctl set-port a isolated=true mac=none
vctl set-port b isolated=true
vctl set-port c tag=10
round a "$BC" "" b c
[ "$RES_b" = 0 ] || fail "isolated b heard isolated a ($RES_b)"
[ "$RES_c" -ge 50 ] || fail "non-isolated c did not hear a ($RES_c)"
send b "$BC" # b's MAC is learned, so a's next frames are unicast to it
i0=$(port_stat a drops.isolation)
round a "$(mac b)" "" b
[ "$RES_b" = 0 ] && [ "$(port_stat a drops.isolation)" -ge $((i0 + 50)) ] ||
	fail "unicast between isolated ports: b got $RES_b, isolation drops did not move"
log "  isolated ports do not hear each other; the uplink-style port does"

log "unknown unicast: flood, then drop"
vctl set-port a isolated=false
vctl set-port b isolated=false
round a 02:00:00:00:00:77 "" b
[ "$RES_b" -ge 50 ] || fail "unknown unicast not flooded ($RES_b)"
vctl set-bridge br0 unknown-unicast=drop
u0=$(port_stat a drops.unknown_dst)
round a 02:00:00:00:00:77 "" b
[ "$RES_b" = 0 ] && [ "$(port_stat a drops.unknown_dst)" -ge $((u0 + 50)) ] ||
	fail "unknown unicast with drop: b got $RES_b, counter did not move"
vctl set-bridge br0 unknown-unicast=flood

log "MAC limit: a may learn 2 MACs"
vctl set-port a mac-limit=2
m0=$(port_stat a drops.mac_limit)
round a "$BC" 02:00:00:00:01:01 b
round a "$BC" 02:00:00:00:01:02 b
[ "$RES_b" -ge 50 ] || fail "second MAC within the limit was dropped"
round a "$BC" 02:00:00:00:01:03 b
[ "$RES_b" = 0 ] && [ "$(port_stat a drops.mac_limit)" -ge $((m0 + 50)) ] ||
	fail "third MAC over the limit: b got $RES_b"
js=$(vctl -j fdb)
[ "$(jget "$js" "len([e for e in j['entries'] if e['port'] == 'a'])")" -le 2 ] || fail "a learned more than 2 MACs"

log "static entries: fdb-add sends a MAC to a port and keeps others from using it"
vctl set-port a mac-limit=64
vctl fdb-add c 02:00:00:00:00:55 vlan=10
round a 02:00:00:00:00:55 "" b c
[ "$RES_c" -ge 50 ] && [ "$RES_b" = 0 ] || fail "static entry: c got $RES_c, b got $RES_b"
s3=$(port_stat b drops.spoof)
send b "$BC" 02:00:00:00:00:55
[ "$(port_stat b drops.spoof)" -ge $((s3 + 50)) ] || fail "b could use c's static MAC"
vctl fdb-del 02:00:00:00:00:55 vlan=10
vctl fdb | grep "02:00:00:00:00:55" >/dev/null && fail "fdb-del left the entry"

log "aging: learned MACs go after mac-aging seconds, static (bound) ones stay"
learned() { jget "$(vctl -j fdb)" "len([e for e in j['entries'] if not e['static']])"; }
static_n() { jget "$(vctl -j fdb)" "len([e for e in j['entries'] if e['static']])"; }
vctl set-port c mac="$(mac c)"
send b "$BC"
[ "$(learned)" -gt 0 ] || fail "nothing learned before the aging test"
vctl set-bridge br0 mac-aging=1
[ "$(jget "$(vctl -j show)" "j['bridges'][0]['mac_aging']")" = 1 ] || fail "mac_aging not shown"
no_learned() { [ "$(learned)" = 0 ]; }
wait_for 10 "learned MACs to age out" no_learned
[ "$(static_n)" -ge 1 ] || fail "the bound MAC's static entry aged out"
vifd_alive
log "PASS"
