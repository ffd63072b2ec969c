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

# from SRC: receivers on every other port (vifbench rx, counting), until
# the next `from` or `from_end`; each checks its total at the end.
CUR= OTHERS=()
from() {
	from_end
	CUR=$1 OTHERS=()
	for p in $PORTS; do [ "$p" = "$CUR" ] || OTHERS+=("$p"); done
	for p in "${OTHERS[@]}"; do
		bg "rx-$p" "$VIFBENCH" --sock "$T/$p.sock" --mode rx --duration 600 --no-announce \
			--src-mac "$(mac "$p")" --json
		eval "RX_$p=$LAST_PID EXP_$p=0"
	done
	for p in "${OTHERS[@]}"; do wait_for 20 "$p connected" live_rx_is "$p" 1; done
}
# from_end: stops the receivers; each got exactly the frames vifd counted
# as delivered to it and the checks expected
from_end() {
	local pid_var exp_var n
	for p in "${OTHERS[@]}"; do
		pid_var="RX_$p" exp_var="EXP_$p"
		kill -TERM "${!pid_var}" 2>/dev/null || true
		wait "${!pid_var}" || true
		forget_pid "${!pid_var}"
		n=$(jget "$(grep '^{' "$T/rx-$p.log" | tail -n 1)" "j['rx_pkts']")
		[ "$n" = "${!exp_var}" ] || fail "receiver on $p got $n frames, the traces said ${!exp_var}"
	done
	OTHERS=()
}
delivered() { port_stat "$1" tx_pkts; }
at_least() { [ "$(delivered "$1")" -ge "$2" ]; }
fdb_list() { vctl -j fdb | jq -c '[.entries[] | [.mac, .vlan, .port]] | sort'; }
COUNTED=" vlan spoof mac_limit unknown_dst isolation hairpin invalid "

# check WHAT TRACE-ARGS...: traces a frame from $CUR, then sends that very
# frame 20 times from $CUR for real: the ports trace lists get 20 each,
# the others none, and a counted drop moves its counter on $CUR by 20.
check() {
	local what=$1; shift
	local tr hex outs drop d0= n fdb0 p
	declare -A t0
	fdb0=$(fdb_list)
	tr=$(vctl -j trace "$CUR" "$@") || fail "$what: trace failed"
	LAST_TRACE=$tr
	hex=$(jq -r .frame <<<"$tr")
	outs=$(jq -r '[.outputs[].port] | sort | join(",")' <<<"$tr")
	drop=$(jq -r '.drop // ""' <<<"$tr")
	[ -n "$outs" ] || [ -n "$drop" ] || fail "$what: trace gave neither outputs nor a drop: $tr"
	[ -z "$outs" ] || [ -z "$drop" ] || fail "$what: trace gave outputs and a drop: $tr"
	[ "$(fdb_list)" = "$fdb0" ] || fail "$what: trace changed the MAC table"
	if [[ "$COUNTED" == *" $drop "* ]]; then d0=$(port_stat "$CUR" "drops.$drop"); fi
	for p in "${OTHERS[@]}"; do t0[$p]=$(delivered "$p"); done
	"$RAWSEND" --sock "$T/$CUR.sock" --count 20 "$hex" >"$T/raw.log" 2>&1 ||
		fail "rawsend on $CUR failed: $(cat "$T/raw.log")"
	for p in "${OTHERS[@]}"; do
		if [[ ",$outs," == *",$p,"* ]]; then
			wait_for 10 "$what: $p to get the 20 frames trace said" at_least "$p" $((t0[$p] + 20))
			eval "EXP_$p=\$((EXP_$p + 20))"
		fi
	done
	if [ -n "$d0" ]; then
		wait_for 10 "$what: drops.$drop on $CUR to move by 20" \
			eval '[ "$(port_stat "$CUR" "drops.$drop")" -ge $((d0 + 20)) ]'
	fi
	sleep 0.2
	for p in "${OTHERS[@]}"; do
		n=$(($(delivered "$p") - t0[$p]))
		if [[ ",$outs," == *",$p,"* ]]; then
			[ "$n" = 20 ] || fail "$what: trace says $p gets 20, vifd delivered $n ($tr)"
		else
			[ "$n" = 0 ] || fail "$what: trace says ${outs:-drop ($drop)}, yet $p got $n frames ($tr)"
		fi
	done
	log "  $what: trace says ${outs:-drop ($drop)}; the frames agree"
}

vctl set-port a tag=10
vctl set-port b tag=10
vctl set-port c tag=20
vctl set-port d trunks=10
vctl fdb-add b 02:00:00:00:00:98 vlan=10
vctl fdb-add c 02:00:00:00:00:99 vlan=10
A="src=$(mac a)"

out=$(vctl trace a $A dst=02:00:00:00:00:98)
grep -F "port b (static)" <<<"$out" >/dev/null && grep -F "verdict: drop (down)" <<<"$out" >/dev/null ||
	fail "human trace output lacks the lookup or the verdict: $out"

log "from a: VLANs, the MAC table, isolation, bindings"
from a
check "broadcast in VLAN 10" $A
jq -e '.outputs[] | select(.port == "d") | .tag == 10' >/dev/null <<<"$LAST_TRACE" ||
	fail "trace: the trunk d should get VLAN 10 tagged"
check "tagged VLAN 20 on access port a" $A vlan=20
check "unicast to a static entry" $A dst=02:00:00:00:00:98
check "static entry on a port without the VLAN" $A dst=02:00:00:00:00:99
check "hairpin: to the sender's own learned MAC" $A dst=$(mac a)
vctl set-port a isolated=true
vctl set-port b isolated=true
check "isolated to isolated" $A dst=02:00:00:00:00:98
check "broadcast from an isolated port" $A
vctl set-port a isolated=false
vctl set-port b isolated=false
vctl set-port a mac=$(mac a) ip=10.0.0.5
check "source MAC not the bound one" src=02:00:00:00:00:77
check "ARP claiming an unbound address" $A arp ip-src=10.0.0.9 ip-dst=10.0.0.1
check "ARP claiming its own address" $A arp ip-src=10.0.0.5 ip-dst=10.0.0.1

log "from b"
from b
check "b using a's bound MAC" src=$(mac a)
check "unicast to a's bound MAC" src=$(mac b) dst=$(mac a)
vctl set-port a mac=none ip=none
check "to a MAC the policy change flushed: flooded" src=$(mac b) dst=$(mac a)

log "from d (trunk)"
from d
check "VLAN 30 on trunk of VLAN 10" src=$(mac d) vlan=30
check "VLAN 10 tagged on trunk d" src=$(mac d) vlan=10 dst=02:00:00:00:00:98
check "unknown unicast, flooded" src=$(mac d) vlan=10 dst=02:00:00:00:00:55
vctl set-bridge br0 unknown-unicast=drop
check "unknown unicast, unknown-unicast=drop" src=$(mac d) vlan=10 dst=02:00:00:00:00:55
from_end

log "errors name the bad key"
for bad in "vlan=5000" "dst=xx" "ip-src=1.2.3" "size=10"; do
	if err=$(vctl trace a $A arp $bad 2>&1); then fail "trace accepted $bad"; fi
	key=${bad%%=*}; key=${key/-/_}
	grep -F "$key" <<<"$err" >/dev/null || fail "error for $bad does not name $key: $err"
done
if vctl trace nosuch $A 2>/dev/null; then fail "trace of an unknown port succeeded"; fi
vifd_alive
log "PASS"
