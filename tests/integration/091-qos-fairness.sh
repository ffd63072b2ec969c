#!/bin/bash
# 091-qos-fairness: fair sharing of a congested port and isolation.
#
#   s1..s4 --+                      +-- r   (the congested receiver)
#            +-- vifd (1 worker) ---+
#   a -------+                      +-- b   (a bystander stream a -> b)
#   c -------+                      +-- d   (a flooder c -> d)
#
# 1. Four unpaced senders into a slow guest (it reads 40000 frames/s):
#    Jain's index over what each got >= 0.98; with weights 1:2:3:4 the
#    shares are within 5% of 0.1, 0.2, 0.3, 0.4.
# 2. The same into a fast guest whose port has egress-rate=50mbit.
# 3. Isolation: a paced stream a -> b (10000 frames/s of 1518 B) alone,
#    then again while c floods d with ingress-rate=100mbit (1% of a
#    10 Gbit/s line) and d does not read its ring at all: the stream keeps
#    >= 95% of its rate alone.
# Rates are measured by the receiving vifbench over a window that skips
# the first 2 s (connection, learning, the initial bursts).
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

start_vifd --workers 1
for p in s1 s2 s3 s4 r a b c d; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done
mac_of() { case $1 in s*) echo "02:00:00:00:00:1${1#s}" ;; r) echo 02:00:00:00:00:20 ;;
	a) echo 02:00:00:00:00:0a ;; b) echo 02:00:00:00:00:0b ;; c) echo 02:00:00:00:00:0c ;;
	d) echo 02:00:00:00:00:0d ;; esac; }
live() { [ "$(port_info "$1" live_rx)" = 1 ]; }

# receive PORT SECONDS [ARGS]: a receiver (JSON summary in $T/rx-PORT.log)
receive() {
	local p=$1 secs=$2; shift 2
	# (it announces its MAC so that frames to it are not flooded)
	bg "rx-$p" "$VIFBENCH" --sock "$T/$p.sock" --mode rx --duration "$secs" --warmup 2 \
		--src-mac "$(mac_of "$p")" --json "$@"
	eval "RXP_$p=$LAST_PID"
	wait_for 10 "$p connected" live "$p"
}
# send PORT DST SECONDS [ARGS]: a sender in the background
send() {
	local p=$1 dst=$2 secs=$3; shift 3
	bg "tx-$p" "$VIFBENCH" --sock "$T/$p.sock" --mode tx --duration "$secs" --no-announce \
		--src-mac "$(mac_of "$p")" --dst-mac "$(mac_of "$dst")" "$@"
	eval "TXP_$p=$LAST_PID"
}
# finish PORT...: waits for those vifbench runs (rx or tx) to end
finish() {
	for v in "$@"; do
		local pid=${!v}
		wait "$pid" || fail "$v ended badly: $(tail -n 3 "$T/$(echo "$v" | sed 's/^RXP_/rx-/; s/^TXP_/tx-/').log")"
		forget_pid "$pid"
	done
}
result() { grep '^{' "$T/rx-$1.log" | tail -n 1; }

# contend ARGS-FOR-r SIZE: s1..s4 flood r (unpaced) for 7 s; prints r's
# summary
contend() {
	local size=$2
	receive r 7 $1
	for i in 1 2 3 4; do send "s$i" r 7 --size "$size"; done
	finish RXP_r TXP_s1 TXP_s2 TXP_s3 TXP_s4
	result r
}
# check_shares JSON WEIGHTS...: Jain's index and shares against the weights
check_shares() {
	local j=$1; shift
	python3 - "$j" "$@" <<'EOF'
import json, sys
j = json.loads(sys.argv[1]); w = [float(x) for x in sys.argv[2:]]
flows = {f['src']: f for f in j['flows']}
macs = ['02:00:00:00:00:1%d' % i for i in range(1, 5)]
pps = [flows[m]['pps'] if m in flows else 0.0 for m in macs]
tot = sum(pps)
norm = [p / x for p, x in zip(pps, w)]
jain = sum(norm) ** 2 / (len(norm) * sum(v * v for v in norm)) if tot else 0
shares = [p / tot if tot else 0 for p in pps]
print(f"  received {tot:.0f} pps; shares " + " ".join(f"{s:.3f}" for s in shares) +
      f"; Jain's index (per weight) {jain:.4f}")
want = [x / sum(w) for x in w]
# equal weights: Jain's index; weights: each share within 5% of its due
ok = jain >= 0.98 if len(set(w)) == 1 else all(abs(s / t - 1) <= 0.05 for s, t in zip(shares, want))
sys.exit(0 if ok and tot > 0 else 1)
EOF
}

log "1. slow receiver (reads 40000 frames/s), four unpaced senders, 64 B"
c0=$(port_stat r drops.congested)
res=$(contend "--rx-rate 40000" 64)
check_shares "$res" 1 1 1 1 || fail "equal shares of a slow receiver"
c1=$(port_stat r drops.congested)
[ "$c1" -gt "$c0" ] || fail "drops.congested did not move ($c0 -> $c1): no congestion?"
log "  drops.congested +$((c1 - c0))"
for i in 1 2 3 4; do vctl set-port "s$i" weight=$i; done
log "   weights 1:2:3:4"
res=$(contend "--rx-rate 40000" 64)
check_shares "$res" 1 2 3 4 || fail "weighted shares of a slow receiver"

log "2. receiver with egress-rate=50mbit (4117 frames/s), four unpaced senders, 1518 B"
vctl set-port r egress-rate=50mbit
for i in 1 2 3 4; do vctl set-port "s$i" weight=1; done
res=$(contend "" 1518)
check_shares "$res" 1 1 1 1 || fail "equal shares of an egress limit"
got=$(jget "$res" "round(sum(f['bps'] for f in j['flows']))")
python3 -c "import sys; sys.exit(0 if abs($got / 50e6 - 1) <= 0.02 else 1)" ||
	fail "total through the limit: $got bit/s, not 50 Mbit/s"
for i in 1 2 3 4; do vctl set-port "s$i" weight=$i; done
log "   weights 1:2:3:4"
res=$(contend "" 1518)
check_shares "$res" 1 2 3 4 || fail "weighted shares of an egress limit"
vctl set-port r egress-rate=0

log "3. isolation: a -> b paced (10000 frames/s of 1518 B), alone and next to a flood"
# stream: a -> b for 7 s; prints what b got in its window (pps)
stream() {
	receive b 7
	send a b 7 --size 1518 --rate 10000
	finish RXP_b TXP_a
	jget "$(result b)" "sum(f['pps'] for f in j['flows'] if f['src'] == '$(mac_of a)')"
}
alone=$(stream)
log "  alone: $alone frames/s"
vctl set-port c ingress-rate=100mbit
receive d 12 --rx-rate 1          # d reads one frame a second: its ring stays full
send c d 12 --size 64             # unpaced, at full speed
sleep 1
h0=$(port_stat c ingress_held)
with=$(stream)
h1=$(port_stat c ingress_held)
finish TXP_c RXP_d
log "  next to the flood: $with frames/s (c held back $((h1 - h0)) times)"
# (a stream far below its pace alone means the machine is too busy to tell)
python3 -c "import sys; sys.exit(0 if $alone > 8000 else 1)" ||
	fail "the stream alone got only $alone of its 10000 frames/s: machine too busy"
python3 -c "import sys; sys.exit(0 if $with >= 0.95 * $alone else 1)" ||
	fail "the stream got $with frames/s next to the flood, $alone alone"
[ "$h1" -gt "$h0" ] || fail "c's ingress limit never held it back"
vifd_alive
log "PASS"
