# frr.sh - FRR (zebra + bgpd, Debian package frr) inside a test's network
# namespaces, for the EVPN scenarios (sourced after common.sh and
# netns.sh). Each instance has its own files under $T/frr-NAME (config,
# pid files, vty sockets, zebra's socket, logs), runs as root in the
# foreground of a background job (so the harness ends it by PID), and is
# driven with frr_vtysh. The daemons run as FRR's own user (frr, in group
# frrvty, as the package installs them: root is not in frrvty), so $T is
# made traversable and NAME's folder theirs.
[ -x /usr/lib/frr/zebra ] && [ -x /usr/lib/frr/bgpd ] && command -v vtysh >/dev/null ||
	{ echo "[$TEST_NAME] SKIP: no FRR (apt-get install frr)"; exit 77; }

declare -A FRR_ZEBRA FRR_BGPD FRR_NS

# frr_start NAME NS ROUTER_ID PEER...: zebra and bgpd in NS, iBGP (AS
# 65000) to every PEER, l2vpn evpn with advertise-all-vni; fast timers
# (keepalive 1 s, hold 3 s) so that a withdrawn host is noticed quickly.
frr_start() {
	local name=$1 ns=$2 rid=$3 d=$T/frr-$1 p; shift 3
	mkdir -p "$d"
	chmod 711 "$T"
	cat >"$d/zebra.conf" <<EOF
hostname $name-zebra
log file $d/zebra.log
EOF
	{
		echo "hostname $name-bgpd"
		echo "log file $d/bgpd.log"
		echo "router bgp 65000"
		echo " bgp router-id $rid"
		echo " no bgp default ipv4-unicast"
		echo " timers bgp 1 3"
		for p in "$@"; do
			echo " neighbor $p remote-as 65000"
			echo " neighbor $p timers connect 1"
		done
		echo " address-family l2vpn evpn"
		for p in "$@"; do echo "  neighbor $p activate"; done
		echo "  advertise-all-vni"
		echo " exit-address-family"
	} >"$d/bgpd.conf"
	chown -R frr:frr "$d"
	bg "frr-$name-zebra" ip netns exec "$ns" /usr/lib/frr/zebra -f "$d/zebra.conf" \
		-i "$d/zebra.pid" -z "$d/zserv.api" --vty_socket "$d" -P 0 -u frr -g frr
	FRR_ZEBRA[$name]=$LAST_PID
	wait_for 20 "zebra of $name" test -S "$d/zserv.api"
	FRR_NS[$name]=$ns
	frr_start_bgpd "$name"
}

# frr_start_bgpd NAME: (again) the BGP speaker of NAME, as frr_start made it.
frr_start_bgpd() {
	local name=$1 d=$T/frr-$1
	rm -f "$d/bgpd.vty"
	bg "frr-$name-bgpd" ip netns exec "${FRR_NS[$name]}" /usr/lib/frr/bgpd -f "$d/bgpd.conf" \
		-i "$d/bgpd.pid" -z "$d/zserv.api" --vty_socket "$d" -P 0 -u frr -g frr
	FRR_BGPD[$name]=$LAST_PID
	wait_for 20 "bgpd of $name" test -S "$d/bgpd.vty"
}

# frr_vtysh NAME CMD: one vtysh command against NAME's daemons.
frr_vtysh() { vtysh --vty_socket "$T/frr-$1" -c "$2" 2>>"$T/vtysh.log"; }

# frr_stop_bgpd NAME: the BGP speaker of NAME stops (its peers withdraw
# what it advertised once their hold timer runs out).
frr_stop_bgpd() {
	local pid=${FRR_BGPD[$1]}
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}
