#!/bin/bash
# 041-restart-guests: vifd is killed (SIGKILL) in the middle of a ping
# between two QEMU guests and started again on the same state directory;
# the guests reconnect without a reboot and the pings resume. Guest 2's
# QEMU listens (vifd connects, mode=client), guest 1's QEMU connects to
# vifd (mode=server) with reconnect=1, so both socket modes come back.
# Guest 1 pings guest 2 twice a second; vifd dies in the middle.
#
#   guest1 10.0.0.1 --(vifd listens on g1.sock)--> vifd br0 --(vifd connects to g2.sock)--> guest2 10.0.0.2
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/restart.sh"
. "$(dirname "$0")/../lib/guest.sh"

connected() { [ "$(port_info "$1" connected)" = True ]; }

log "QEMU guests, one server-mode and one client-mode (reconnect=1) socket"
NPING=40

start_vifd
vctl add-port br0 g1 type=vhostuser path="$T/g1.sock" mode=server
bg_guest guest2 --server --sock "$T/g2.sock" \
	--mac 52:54:00:00:00:02 --ip 10.0.0.2/24 --log "$T/g2-console.log" --timeout 180 \
	--cmd 'sleep 170'
G2=$LAST_PID
wait_for 30 "guest 2's socket" test -S "$T/g2.sock"
vctl add-port br0 g2 type=vhostuser path="$T/g2.sock" mode=client
bg_guest guest1 --client --reconnect 1 --sock "$T/g1.sock" \
	--mac 52:54:00:00:00:01 --ip 10.0.0.1/24 --log "$T/g1-console.log" --timeout 180 \
	--cmd "i=0; until ping -c 1 -W 1 10.0.0.2 >/dev/null; do i=\$((i+1)); [ \$i -lt 90 ] || exit 3; done;
echo PING-START; ping -c $NPING -i 0.5 -W 2 10.0.0.2; echo PING-END"
G1=$LAST_PID

# Kill vifd a quarter into the sequence, and stay away for 2 s.
wait_for 120 "guest 1 pinging" grep -aq "seq=$((NPING / 4)) " "$T/g1-console.log"
kill_vifd B
log "vifd killed after ping seq=$((NPING / 4))"
sleep 2
restart_vifd
[ "$(jget "$(vctl -j show)" "[p['name'] for p in j['bridges'][0]['ports']]")" = "['g1', 'g2']" ] ||
	fail "the restarted vifd did not restore g1 and g2"
wait_for 30 "g2 reconnected" connected g2
wait_for 30 "g1 reconnected" connected g1
log "vifd restarted, both guests reconnected"

wait_for 90 "guest 1's ping to finish" grep -aq "^PING-END" "$T/g1-console.log"
rc1=0
wait "$G1" || rc1=$?
vifd_alive
tr -d '\r' <"$T/g1-console.log" | grep -aE "seq=|packets transmitted" | sed 's/^/    /' || true
[ "$rc1" = 0 ] || fail "guest 1 command failed (rc=$rc1)"
# Every one of the last quarter of the pings was answered (busybox prints
# one "seq=N" line per reply).
# (-a: a serial console may carry a stray NUL; grep then calls the rest
# binary and prints no more matches)
seqs=$(tr -d '\r' <"$T/g1-console.log" | sed -n '/^PING-START/,/^PING-END/p' |
	grep -ao 'from 10.0.0.2: seq=[0-9]*' | sed 's/.*seq=//' || true)
for s in $(seq $((NPING * 3 / 4)) $((NPING - 1))); do
	grep -x "$s" <<<"$seqs" >/dev/null || fail "ping seq=$s after the restart got no reply"
done
lost=$(( NPING - $(echo "$seqs" | sort -un | wc -l) ))
# No frame twice: QEMU's virtio-net does not use INFLIGHT_SHMFD, but it
# resumes each ring at its used index and vifd completes in order and
# publishes a delivery only after the sender's chain is completed, so a
# request or reply is sent again only if it had not gone out.
dups=$(( $(echo "$seqs" | (grep -c . || true)) - $(echo "$seqs" | sort -un | wc -l) ))
[ "$dups" = 0 ] || fail "$dups ping replies came twice"
for g in g1 g2; do
	n=$(grep -ac "^GUEST-BOOT" "$T/$g-console.log" || true)
	[ "$n" = 1 ] || fail "guest $g booted $n times"
done
[ "$(port_stat g1 rx_pkts)" -gt 0 ] && [ "$(port_stat g2 rx_pkts)" -gt 0 ] ||
	fail "restarted vifd forwarded nothing"
[ "$(port_stat g1 ring_errors)" = 0 ] && [ "$(port_stat g2 ring_errors)" = 0 ] || fail "ring errors"
# Guest 2 only answered pings: stop it, then vifd (its exit status counts,
# e.g. for leaks under ASan).
kill -TERM "$G2"
wait "$G2" 2>/dev/null || true
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" || fail "restarted vifd exited with an error"
log "restart figures: $lost of $NPING pings lost during the outage, $dups duplicated," \
	"the last $((NPING / 4)) all answered, no guest reboot"
log "PASS"
