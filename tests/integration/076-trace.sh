#!/bin/bash
# 076-trace: vifctl trace against the datapath. For each case the frame
# trace describes (its "frame" member: the very bytes it traced) is then
# sent for real from the same port with rawsend, and every other port's
# receiver and the source's drop counters must agree with trace's verdict:
# the ports it lists get the frames, no other port does, and a drop moves
# the counter trace named. Trace itself must change nothing.
#
#   a (02..0a) --+
#   b (02..0b) --+-- vifd br0: a, b access VLAN 10; c access VLAN 20; d trunk of 10
#   c (02..0c) --+   static fdb: ..:98 on b (VLAN 10), ..:99 on c (VLAN 10)
#   d (02..0d) --+   then isolation, MAC and IP binding, unknown-unicast=drop
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}" "${RAWSEND:?}"

start_vifd
PORTS="a b c d"
for p in $PORTS; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done
mac() { echo "02:00:00:00:00:0$1"; }

listen() {
	bg "rx-$1" "$VIFBENCH" --sock "$T/$1.sock" --mode rx --duration 120 --no-announce \
		--src-mac "$(mac "$1")" --json
	eval "RX_$1=$LAST_PID"
}
got() { jget "$(grep '^{' "$T/rx-$1.log" | tail -n 1)" "j['$2']"; }
done_rx() {
	local pid_var="RX_$1"
	sleep 0.3
	kill -TERM "${!pid_var}" 2>/dev/null || true
	wait "${!pid_var}" || true
	forget_pid "${!pid_var}"
}
fdb_list() { vctl -j fdb | jq -c '[.entries[] | [.mac, .vlan, .port]] | sort'; }
COUNTED=" vlan spoof mac_limit unknown_dst isolation hairpin invalid "

# check FROM WHAT TRACE-ARGS...: trace, then the same frame 20 times for real.
check() {
	local from=$1 what=$2; shift 2
	local tr hex outs drop d0= n others=() fdb0
	for p in $PORTS; do [ "$p" = "$from" ] || others+=("$p"); done
	# the receivers first: trace looks at the ports as they are now
	for p in "${others[@]}"; do listen "$p"; done
	for p in "${others[@]}"; do wait_for 10 "$p connected" live_rx_is "$p" 1; done
	fdb0=$(fdb_list)
	tr=$(vctl -j trace "$from" "$@") || fail "$what: trace failed"
	LAST_TRACE=$tr
	hex=$(jq -r .frame <<<"$tr")
	outs=$(jq -r '[.outputs[].port] | sort | join(",")' <<<"$tr")
	drop=$(jq -r '.drop // ""' <<<"$tr")
	[ -n "$outs" ] || [ -n "$drop" ] || fail "$what: trace gave neither outputs nor a drop: $tr"
	[ -z "$outs" ] || [ -z "$drop" ] || fail "$what: trace gave outputs and a drop: $tr"
	[ "$(fdb_list)" = "$fdb0" ] || fail "$what: trace changed the MAC table"
	if [[ "$COUNTED" == *" $drop "* ]]; then d0=$(port_stat "$from" "drops.$drop"); fi
	"$RAWSEND" --sock "$T/$from.sock" --count 20 "$hex" >"$T/raw.log" 2>&1 ||
		fail "rawsend on $from failed: $(cat "$T/raw.log")"
	for p in "${others[@]}"; do done_rx "$p"; done
	for p in "${others[@]}"; do
		n=$(got "$p" rx_pkts)
		if [[ ",$outs," == *",$p,"* ]]; then
			[ "$n" -ge 20 ] || fail "$what: trace says $p gets it, $p got $n of 20 ($tr)"
		else
			[ "$n" = 0 ] || fail "$what: trace says ${outs:-drop ($drop)}, yet $p got $n frames ($tr)"
		fi
	done
	if [ -n "$d0" ]; then
		n=$(port_stat "$from" "drops.$drop")
		[ "$n" -ge $((d0 + 20)) ] || fail "$what: trace says drop ($drop), drops.$drop on $from went $d0 -> $n"
	fi
	log "  $what: trace says ${outs:-drop ($drop)}; the frames agree"
}

vctl set-port a tag=10
vctl set-port b tag=10
vctl set-port c tag=20
vctl set-port d trunks=10
vctl fdb-add b 02:00:00:00:00:98 vlan=10
vctl fdb-add c 02:00:00:00:00:99 vlan=10
A="src=$(mac a)"

log "VLANs and the MAC table"
check a "broadcast in VLAN 10" $A
jq -e '.outputs[] | select(.port == "d") | .tag == 10' >/dev/null <<<"$LAST_TRACE" ||
	fail "trace: the trunk d should get VLAN 10 tagged"
check a "tagged VLAN 20 on access port a" $A vlan=20
check d "VLAN 30 on trunk of VLAN 10" src=$(mac d) vlan=30
check d "VLAN 10 tagged on trunk d" src=$(mac d) vlan=10 dst=02:00:00:00:00:98
check a "unicast to a static entry" $A dst=02:00:00:00:00:98
check a "static entry on a port without the VLAN" $A dst=02:00:00:00:00:99
check b "unicast to a learned MAC, back to its port" src=$(mac b) dst=$(mac a)
out=$(vctl trace a $A dst=02:00:00:00:00:98)
grep -F "port b (static)" <<<"$out" >/dev/null && grep -F "verdict: drop (down)" <<<"$out" >/dev/null ||
	fail "human trace output lacks the lookup or the verdict: $out"
check a "hairpin: to the sender's own learned MAC" $A dst=$(mac a)

log "isolation"
vctl set-port a isolated=true
vctl set-port b isolated=true
check a "isolated to isolated" $A dst=02:00:00:00:00:98
check a "broadcast from an isolated port" $A
vctl set-port a isolated=false
vctl set-port b isolated=false

log "bindings"
vctl set-port a mac=$(mac a) ip=10.0.0.5
check a "source MAC not the bound one" src=02:00:00:00:00:77
check a "ARP claiming an unbound address" $A arp ip-src=10.0.0.9 ip-dst=10.0.0.1
check a "ARP claiming its own address" $A arp ip-src=10.0.0.5 ip-dst=10.0.0.1
check b "b using a's bound MAC" src=$(mac a)
vctl set-port a mac=none ip=none

log "unknown unicast"
check a "unknown unicast, flooded" $A dst=02:00:00:00:00:55
vctl set-bridge br0 unknown-unicast=drop
check a "unknown unicast, unknown-unicast=drop" $A dst=02:00:00:00:00:55

log "errors name the bad key"
for bad in "vlan=5000" "dst=xx" "ip-src=1.2.3" "size=10"; do
	if err=$(vctl trace a $A arp $bad 2>&1); then fail "trace accepted $bad"; fi
	key=${bad%%=*}; key=${key/-/_}
	grep -F "$key" <<<"$err" >/dev/null || fail "error for $bad does not name $key: $err"
done
if vctl trace nosuch $A 2>/dev/null; then fail "trace of an unknown port succeeded"; fi
vifd_alive
log "PASS"
