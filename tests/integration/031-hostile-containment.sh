#!/bin/bash
# 031-hostile-containment: the containment cases of the hostile suite
# (issue 14; `hostile --list-containment`): files whose close blocks, a
# blocking call eventfd on the control queue, message floods, unbounded
# memory, pages a guest never wrote, a ring without a kick fd, log floods.
#
#   hostile --victim.sock--> vifd br0 <--g1.sock-- vifbench tx (1 kpps)
#                                     --g2.sock--> vifbench rx
#                                     <--g3.sock-- vifbench tx, 200 frames, during each attack
#
# For every case, *while the attack runs* (the attacker prints READY when it
# is in place and keeps it up for seconds): g1 -> g2 keeps forwarding,
# vifctl answers within 3 s, and a new frontend on g3 connects, negotiates,
# sends 200 frames to g2 and leaves (its fds are closed like everyone's).
# After it: the expected reaction (msg: connection dropped, msg_errors
# moved; stop: guest_stops moved; held: close_stuck moved), the case's own
# bound (publishes, RSS, CPU, log lines, mapped memory), vifd alive, and
# the victim port works again for a well-behaved frontend.
#
# g1 sends slowly on purpose: the worker then sleeps between frames, so
# the CPU a ring without a kick fd costs while idle can be measured.
. "$(dirname "$0")/../lib/common.sh"
: "${HOSTILE:?}" "${VIFBENCH:?}"

start_vifd
for p in victim g1 g2 g3; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done
bg g2rx "$VIFBENCH" --sock "$T/g2.sock" --mode rx --duration 900 \
	--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01
wait_for 20 "g2 connected" live_rx_is g2 1
bg g1tx "$VIFBENCH" --sock "$T/g1.sock" --mode tx --rate 1000 --duration 900 \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02

flowing() {
	local a b
	a=$(port_stat g2 tx_pkts)
	sleep 0.5
	b=$(port_stat g2 tx_pkts)
	[ "$b" -gt "$a" ]
}
moved() { [ "$(port_stat victim "$1")" -gt "$2" ]; }
workers() { vctl -j workers; }
wfield() { jget "$(workers)" "$1"; }
vifd_rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$VIFD_PID/status"; }
vifd_ticks() { awk '{print $14 + $15}' "/proc/$VIFD_PID/stat"; }
log_lines() { wc -l <"$T/vifd.log"; }
# A frontend that comes and goes while the attack runs: its messages must
# be served and its fds closed like anyone's.
newcomer() {
	local r0
	r0=$(port_stat g3 rx_pkts)
	timeout 30 "$VIFBENCH" --sock "$T/g3.sock" --mode tx --count 200 --rate 2000 \
		--src-mac 02:00:00:00:00:03 --dst-mac 02:00:00:00:00:02 >"$T/g3.log" 2>&1 || return 1
	[ $(( $(port_stat g3 rx_pkts) - r0 )) -ge 200 ]
}
wait_for 20 "g1 -> g2 traffic" flowing
hz=$(getconf CLK_TCK)

n=0
while read -r name expect; do
	n=$((n + 1))
	msg0=$(port_stat victim msg_errors)
	stop0=$(port_stat victim guest_stops)
	held0=$(port_stat victim close_stuck)
	pub0=$(wfield "j['publishes']")
	rss0=$(vifd_rss_kb)
	log0=$(log_lines)

	bg "h-$name" "$HOSTILE" --sock "$T/victim.sock" "$name"
	hp=$LAST_PID
	wait_for 30 "$name: attack in place" grep -q READY "$T/h-$name.log"
	# --- while the attack runs
	if [ "$name" = fd-lingering-socket-as-kick ] || [ "$name" = fd-lingering-socket-as-memory ]; then
		one_stuck() { [ "$(wfield "j['closer']['stuck_now']")" -ge 1 ]; }
		wait_for 5 "$name: a closer thread stuck on the lingering socket" one_stuck
	fi
	if [ "$name" = tx-kick-nofd-idle ]; then
		t0=$(vifd_ticks); sleep 2; t1=$(vifd_ticks)
		cpu=$(( (t1 - t0) * 100 / (2 * hz) ))
		log "$name: vifd used ${cpu}% of a core over 2 s with an idle ring without kick fd"
		[ "$cpu" -lt 40 ] || fail "$name: an idle ring without a kick fd costs ${cpu}% of a core"
	fi
	flowing || fail "$name: g1 -> g2 stopped forwarding during the attack"
	timeout 3 "$VIFCTL" --socket "$T/state/vifd.sock" -j stats >/dev/null ||
		fail "$name: vifctl got no answer within 3 s during the attack"
	newcomer || fail "$name: a new frontend on g3 could not connect and send during the attack"
	# --- after it
	wait "$hp" || fail "$name: the attack did not go as planned: $(cat "$T/h-$name.log")"
	forget_pid "$hp"
	case $expect in
	msg) wait_for 10 "$name: msg_errors to move" moved msg_errors "$msg0" ;;
	stop) wait_for 10 "$name: guest_stops to move" moved guest_stops "$stop0" ;;
	held) wait_for 10 "$name: close_stuck to move" moved close_stuck "$held0" ;;
	esac
	pubs=$(( $(wfield "j['publishes']") - pub0 ))
	rss=$(( $(vifd_rss_kb) - rss0 ))
	lines=$(( $(log_lines) - log0 ))
	sent=$(sed -n 's/^sent //p' "$T/h-$name.log")
	case $name in
	flood-set-vring-enable-unchanged | flood-set-owner | flood-set-log-base)
		# The attacker's own set-up and the newcomer: a handful.
		[ "$pubs" -le 30 ] || fail "$name: $sent messages that change nothing cost $pubs publishes"
		;;
	flood-set-mem-table-in-use)
		# Each changes the table: at most one quiesce and republish
		# per wake-up of at most 32 messages, plus a handful.
		[ "$pubs" -le $(( (sent + 31) / 32 * 2 + 30 )) ] ||
			fail "$name: $sent remaps cost $pubs publishes"
		;;
	tx-buffers-in-untouched-memory)
		log "$name: $(grep posted "$T/h-$name.log"), vifd RSS +${rss} KiB"
		[ "$rss" -lt 65536 ] || fail "$name: vifd grew by $rss KiB reading pages the guest never wrote"
		;;
	mem-sparse-64tib)
		mapped=$(wfield "j['guest_memory']['mapped']")
		[ "$mapped" -lt $((1 << 30)) ] || fail "$name: $mapped bytes of guest memory mapped"
		;;
	fd-lingering-socket-as-kick | fd-lingering-socket-as-memory)
		stuck_gone() { [ "$(wfield "j['closer']['stuck_now']")" = 0 ]; }
		wait_for 20 "$name: the lingering close to return" stuck_gone
		;;
	esac
	case $name in
	flood-set-log-base)
		[ "$lines" -le 150 ] || fail "$name: $sent messages wrote $lines log lines" ;;
	*)
		[ "$lines" -le 300 ] || fail "$name: the log grew by $lines lines" ;;
	esac
	vifd_alive
	flowing || fail "$name: g1 -> g2 stopped forwarding after the attack"
	# The victim's port works again for a well-behaved frontend.
	rx0=$(port_stat victim rx_pkts)
	reattach() {
		timeout 30 "$VIFBENCH" --sock "$T/victim.sock" --mode tx --count 300 --rate 3000 \
			--src-mac 02:00:00:00:00:66 --dst-mac 02:00:00:00:00:02 >"$T/reattach.log" 2>&1 &&
			[ $(( $(port_stat victim rx_pkts) - rx0 )) -ge 300 ]
	}
	wait_for 30 "$name: the victim port to work again" reattach
	log "$name: $expect ok (msg_errors $msg0 -> $(port_stat victim msg_errors)," \
		"guest_stops $stop0 -> $(port_stat victim guest_stops), close_stuck $held0 ->" \
		"$(port_stat victim close_stuck); publishes +$pubs${sent:+ for $sent messages}," \
		"log +$lines lines, RSS ${rss} KiB)"
done < <("$HOSTILE" --list-containment)
[ "$n" -ge 10 ] || fail "only $n cases listed"

# Every closer thread stuck at once: nine attackers on nine ports, one more
# than there may be closer threads. vifd then takes no fds from guests (no
# reads, no accepts) rather than let them pile up; the datapath and vifctl
# go on. When the attackers leave, the closes return, everything is taken
# again, and vifd holds no more fds than before.
fd0=$(ls "/proc/$VIFD_PID/fd" | wc -l)
hps=()
for i in $(seq 9); do
	vctl add-port br0 "s$i" type=vhostuser path="$T/s$i.sock"
	bg "sat-$i" "$HOSTILE" --sock "$T/s$i.sock" fd-lingering-socket-as-kick
	hps+=("$LAST_PID")
done
for i in $(seq 9); do wait_for 30 "attacker $i in place" grep -q READY "$T/sat-$i.log"; done
all_stuck() { [ "$(wfield "j['closer']['stuck_now']")" -ge 8 ]; }
wait_for 10 "every closer thread stuck" all_stuck
flowing || fail "saturated closer: g1 -> g2 stopped forwarding"
timeout 3 "$VIFCTL" --socket "$T/state/vifd.sock" -j stats >/dev/null ||
	fail "saturated closer: vifctl got no answer within 3 s"
log "closer saturated: $(workers | python3 -c 'import json,sys; print(json.load(sys.stdin)["closer"])')"
for p in "${hps[@]}"; do wait "$p" || true; forget_pid "$p"; done # the last one may not see its drop in time
stuck_gone() { [ "$(wfield "j['closer']['stuck_now'] + j['closer']['queued']")" = 0 ]; }
wait_for 30 "the stuck closes to return" stuck_gone
newcomer || fail "after the saturation: a new frontend on g3 could not connect and send"
for i in $(seq 9); do vctl del-port "s$i"; done
sleep 1
fd1=$(ls "/proc/$VIFD_PID/fd" | wc -l)
[ "$fd1" = "$fd0" ] || fail "saturation left fds behind: $fd0 -> $fd1"
[ "$(wfield "j['closer']['leaked']")" = 0 ] || fail "fds left open by a full closer queue"
log "closer saturation: recovered, fds $fd0 -> $fd1"
for p in g1 g2 g3; do
	[ "$(port_stat "$p" guest_stops)" = 0 ] || fail "bystander $p stopped"
done
log "PASS: $n containment cases"
