#!/bin/bash
# 030-hostile-guests: one frontend after another attacks vifd's port
# "victim" (tests/hostile/hostile.c lists the cases) while g1 streams to g2
# through the same vifd.
#
#   hostile --victim.sock--> vifd br0 <--g1.sock-- vifbench tx (20 kpps)
#                                     --g2.sock--> vifbench rx
#                                     <--g3.sock-- vifbench (one broadcast burst, for rx attacks)
#
# After every case: the attack was refused the way it must be (malformed
# messages: connection dropped and msg_errors moved; ring abuse: the
# victim's port stopped and guest_stops moved; a virtio-net header asking for
# an offload never negotiated: the frame dropped as drops.offload, the port
# left running), vifd is alive, and g1 -> g2
# still forwards. At the end a well-behaved frontend re-attaches to the
# victim port and its traffic crosses vifd.
. "$(dirname "$0")/../lib/common.sh"
: "${HOSTILE:?}" "${VIFBENCH:?}"

start_vifd
for p in victim g1 g2 g3; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done
bg g2rx "$VIFBENCH" --sock "$T/g2.sock" --mode rx --duration 600 \
	--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01
wait_for 10 "g2 connected" live_rx_is g2 1
bg g1tx "$VIFBENCH" --sock "$T/g1.sock" --mode tx --rate 20000 --duration 600 \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02

flowing() {
	local a b
	a=$(port_stat g2 tx_pkts)
	sleep 0.3
	b=$(port_stat g2 tx_pkts)
	[ "$b" -gt "$a" ]
}
moved() { [ "$(port_stat victim "$1")" -gt "$2" ]; }
wait_for 10 "g1 -> g2 traffic" flowing

n=0
while read -r name expect; do
	n=$((n + 1))
	msg0=$(port_stat victim msg_errors)
	stop0=$(port_stat victim guest_stops)
	ol0=$(port_stat victim drops.offload)
	# the victim's interrupts held back (rx moderation) for this one
	case $name in
	*interrupt-held*) vctl set-port victim rx-frames=4096 rx-usecs=10000 ;;
	esac
	case $expect in
	stop-rx)
		bg "h-$name" "$HOSTILE" --sock "$T/victim.sock" "$name"
		hp=$LAST_PID
		wait_for 10 "$name ready" grep -q READY "$T/h-$name.log"
		"$VIFBENCH" --sock "$T/g3.sock" --mode tx --count 64 --rate 1000 \
			--src-mac 02:00:00:00:00:03 --dst-mac ff:ff:ff:ff:ff:ff >"$T/g3.log" 2>&1 ||
			fail "$name: broadcast sender failed"
		wait "$hp" || fail "$name: hostile frontend failed: $(cat "$T/h-$name.log")"
		;;
	*)
		timeout 60 "$HOSTILE" --sock "$T/victim.sock" "$name" >"$T/h-$name.log" 2>&1 ||
			fail "$name: attack not refused as required: $(cat "$T/h-$name.log")"
		;;
	esac
	case $expect in
	msg) wait_for 5 "$name: msg_errors to move" moved msg_errors "$msg0" ;;
	stop*) wait_for 5 "$name: guest_stops to move" moved guest_stops "$stop0" ;;
	offload)
		# A header asking for what was not negotiated: each frame dropped
		# (hostile.c sends 8), the port not stopped.
		wait_for 5 "$name: drops.offload to move by 8" moved drops.offload $((ol0 + 7))
		[ "$(port_stat victim guest_stops)" = "$stop0" ] || fail "$name: port stopped for a bad header"
		;;
	esac
	vifd_alive
	flowing || fail "$name: g1 -> g2 stopped forwarding"
	case $name in
	*interrupt-held*) vctl set-port victim rx-frames=0 rx-usecs=0 ;;
	esac
	log "$name: $expect ok (msg_errors $msg0 -> $(port_stat victim msg_errors), guest_stops $stop0 -> $(port_stat victim guest_stops))"
done < <("$HOSTILE" --list)
[ "$n" -ge 30 ] || fail "only $n cases listed"

# The victim's port still works for a well-behaved frontend.
rx0=$(port_stat victim rx_pkts)
"$VIFBENCH" --sock "$T/victim.sock" --mode tx --count 2000 --rate 20000 \
	--src-mac 02:00:00:00:00:66 --dst-mac 02:00:00:00:00:02 >"$T/reattach.log" 2>&1 ||
	fail "re-attach to the victim port failed"
[ $(( $(port_stat victim rx_pkts) - rx0 )) -ge 2000 ] || fail "re-attached victim's frames did not cross vifd"
grep -c "guest broke the rules" "$T/vifd.log" | xargs -I{} echo "[030] vifd logged {} guest faults"
[ "$(port_stat g1 guest_stops)" = 0 ] && [ "$(port_stat g2 guest_stops)" = 0 ] || fail "bystanders stopped"
log "PASS: $n cases"
