#!/bin/bash
# 046-send-rarp: a frontend's SEND_RARP (what QEMU sends after a migration
# when the guest cannot announce itself) makes vifd receive a RARP from
# that MAC on the port, as if the guest had sent it: the MAC table points
# at the port within a second, and the broadcast reaches a namespace on a
# tap port. The guest itself sends nothing. Then the same with a binding
# that the announced MAC breaks: anti-spoofing drops it like a guest's own
# frame (nothing learned, nothing flooded).
#
#   ctrlq_client A (MAC 02:00:00:46:0a:01) --ga--+
#   ctrlq_client B                         --gb--+ vifd br0 --[tap tr]-- netns R (tcpdump)
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
: "${CTRLQ:?CTRLQ not set (ctrlq_client)}"
command -v tcpdump >/dev/null || { echo "[$TEST_NAME] SKIP: no tcpdump"; exit 77; }

id=$$
NR=vifdt-r$id IR=vtr$id
mkns "$NR"
start_vifd
vctl add-port br0 tr type=tap ifname="$IR" netns="$NR"
vctl add-port br0 ga type=vhostuser path="$T/a.sock" queues=4
vctl add-port br0 gb type=vhostuser path="$T/b.sock" queues=4 # (the client's B uses 4 pairs)

mkfifo "$T/cq.in"
"$CTRLQ" --sock "$T/a.sock" --peer "$T/b.sock" --queues 1 --id 70 <"$T/cq.in" \
	>"$T/cq-replies.log" 2>"$T/cq.log" &
PIDS+=($!)
CQPID=$!
exec {CQIN}>"$T/cq.in"
has_lines() { [ "$(wc -l <"$T/cq-replies.log")" -ge "$1" ]; }
wait_for 20 "ctrlq_client ready" has_lines 1
grep -q '^READY' "$T/cq-replies.log" || fail "client: $(cat "$T/cq-replies.log")"
MAC=$(printf '02:00:00:%02x:0a:01' 70) # ctrlq_client's A with --id 70

fdb_port() { vctl -j fdb | jq -r --arg m "$MAC" '[.entries[] | select(.mac == $m) | .port] | first // ""'; }
[ -z "$(fdb_port)" ] || fail "$MAC learned before any announce"

# capture N: tcpdump in the namespace for RARP frames; waits until it listens.
capture() {
	bg "cap$1" ip netns exec "$NR" timeout 15 tcpdump -l -nn -e -i "$IR" -c 1 'ether proto 0x8035'
	CAPPID=$LAST_PID
	wait_for 10 "tcpdump listening" grep -q "listening on" "$T/cap$1.log"
}
# rarp N: asks the client for SEND_RARP (reply line N).
rarp() {
	echo rarp >&"$CQIN"
	wait_for 10 "rarp reply" has_lines "$1"
	[ "$(sed -n "${1}p" "$T/cq-replies.log")" = ok ] || fail "rarp: $(sed -n "${1}p" "$T/cq-replies.log")"
}

log "SEND_RARP: learned and flooded"
capture 1
rarp 2
t0=$(date +%s%N)
until [ "$(fdb_port)" = ga ]; do
	[ $(($(date +%s%N) - t0)) -lt 1000000000 ] || fail "$MAC not on ga within 1 s: '$(fdb_port)'"
	sleep 0.05
done
log "$MAC on ga after $((($(date +%s%N) - t0) / 1000000)) ms"
wait "$CAPPID" || fail "no RARP frame in $NR: $(cat "$T/cap1.log")"
forget_pid "$CAPPID"
grep -q "$MAC > ff:ff:ff:ff:ff:ff, ethertype Reverse ARP" "$T/cap1.log" ||
	fail "unexpected frame: $(cat "$T/cap1.log")"
log "$NR saw: $(grep -m1 'Reverse' "$T/cap1.log")"

log "SEND_RARP from a MAC the port may not use: dropped as spoofed"
vctl set-port ga mac=02:00:00:46:0a:99
spoof0=$(port_stat ga drops.spoof)
vctl fdb-del "$MAC" 2>/dev/null || true
sleep 0.2 # (SEND_RARPs closer than 100 ms apart are one)
rarp 3
wait_for 5 "spoof drop counted" test "$(port_stat ga drops.spoof)" -gt "$spoof0"
[ -z "$(fdb_port)" ] || fail "spoofed announce learned: $(fdb_port)"

echo quit >&"$CQIN"
wait "$CQPID" || fail "ctrlq_client failed: $(cat "$T/cq.log")"
forget_pid "$CQPID"
vifd_alive
log "PASS"
