#!/bin/bash
# qos-flood.sh - what a guest flooding above its ingress limit costs vifd
# (issue 4's measure), in one run:
#
#   c --p1--> vifd (1 worker) --p2--> d
#
#   A. c sends unpaced, no limit: vifd's CPU cycles per forwarded frame at
#      full speed.
#   C. c is paced at the limit's frame rate, no limit: vifd's cycles for
#      forwarding that much (the anchor: the same work without excess).
#   B. c is paced at OFFER frames/s, above its limit (ingress-rate=LIMIT):
#      the frames over the limit stay in c's ring (backpressure), so c's
#      schedule loses them (vifbench's tx_refused + tx_late: "excess").
#      Cycles per excess frame: an upper bound, (B's cycles - B's frames x
#      A's cycles per frame) / excess, and against C, (B - C scaled to B's
#      forwarded frames) / excess; both compared with A's cycles per frame.
#
#   The fair share (issue 15), in the same run:
#
#   c --p1--+
#           +-- vifd --p2 (egress-rate=LIMIT)--> d
#   e --p3--+
#
#   D. c and e each paced at half the limit's frame rate: their shares, no
#      excess (the anchor).
#   E. c and e each paced at OFFER frames/s: far above their shares. What a
#      port refuses at the end of a burst stays in the sender's ring and the
#      queue waits (the senders see a full ring: tx_refused), the rest is
#      dropped before the copy (drops at p2). Cycles per excess frame:
#      (E - D scaled to E's forwarded frames) / excess, against A.
#
# vifd's CPU is measured by the receiving vifbench (--cpu-pid): perf cycles
# where the VM has counters, else run time from /proc x the TSC rate (the
# output says which). Usage: bench/qos-flood.sh [SIZE [LIMIT [OFFER]]]
# (default 64 100000000 1000000; LIMIT in bit/s).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
SIZE=${1:-64}
LIMIT=${2:-100000000}
OFFER=${3:-1000000}
SECS=${SECS:-6}
T=$(mktemp -d /tmp/vifd-qosbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$B/src/vifd/vifd" --state-dir "$T/s" --workers 1 >"$T/vifd.log" 2>&1 &
VPID=$!
pids+=("$VPID")
for _ in $(seq 50); do [ -S "$T/s/vifd.sock" ] && break; sleep 0.1; done
ctl() { "$B/src/vifctl/vifctl" --socket "$T/s/vifd.sock" "$@"; }
ctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
ctl add-port br0 p2 type=vhostuser path="$T/p2.sock"
ctl add-port br0 p3 type=vhostuser path="$T/p3.sock"

# run NAME [TX-ARGS]: a SECS-second flood p1 -> p2, rates over the last SECS-2 s
run() {
	local name=$1; shift
	"$B/src/vifbench/vifbench" --sock "$T/p2.sock" --mode rx --duration "$SECS" \
		--warmup 2 --ring-size 1024 --src-mac 02:00:00:00:00:02 --no-announce \
		--cpu-pid "$VPID" --json >"$T/rx-$name.out" 2>&1 &
	local rxp=$!
	sleep 0.5
	"$B/src/vifbench/vifbench" --sock "$T/p1.sock" --mode tx --size "$SIZE" --ring-size 1024 \
		--duration "$SECS" --warmup 1.5 --dst-mac 02:00:00:00:00:02 --src-mac 02:00:00:00:00:01 \
		--no-announce --json "$@" >"$T/tx-$name.out" 2>&1
	wait "$rxp" || true
}
run unlimited
run paced --rate "$((LIMIT / 8 / SIZE))"
ctl set-port p1 ingress-rate="$LIMIT"
run limited --rate "$OFFER"
ctl set-port p1 ingress-rate=0

# run2 NAME RATE: c and e both send to d at RATE frames/s each
run2() {
	local name=$1 rate=$2 rxp txp
	ctl -j stats p2 >"$T/st0-$name.json"
	"$B/src/vifbench/vifbench" --sock "$T/p2.sock" --mode rx --duration "$SECS" \
		--warmup 2 --ring-size 1024 --src-mac 02:00:00:00:00:02 --no-announce \
		--cpu-pid "$VPID" --json >"$T/rx-$name.out" 2>&1 &
	rxp=$!
	sleep 0.5
	"$B/src/vifbench/vifbench" --sock "$T/p3.sock" --mode tx --size "$SIZE" --ring-size 1024 \
		--duration "$SECS" --warmup 1.5 --dst-mac 02:00:00:00:00:02 --src-mac 02:00:00:00:00:03 \
		--no-announce --json --rate "$rate" --nap 1000 >"$T/tx3-$name.out" 2>&1 &
	txp=$!
	"$B/src/vifbench/vifbench" --sock "$T/p1.sock" --mode tx --size "$SIZE" --ring-size 1024 \
		--duration "$SECS" --warmup 1.5 --dst-mac 02:00:00:00:00:02 --src-mac 02:00:00:00:00:01 \
		--no-announce --json --rate "$rate" --nap 1000 >"$T/tx-$name.out" 2>&1
	wait "$txp" || true
	wait "$rxp" || true
	ctl -j stats p2 >"$T/st1-$name.json"
}
ctl set-port p2 egress-rate="$LIMIT"
run2 shares "$((LIMIT / 16 / SIZE))"
run2 flood "$OFFER"
python3 - "$T" "$SIZE" "$LIMIT" "$OFFER" <<'EOF'
import json, sys
T, size, limit, offer = sys.argv[1:]
last = lambda f: json.loads([l for l in open(f) if l.startswith('{')][-1])
ra, rb, rc = (last(f"{T}/rx-{n}.out") for n in ('unlimited', 'limited', 'paced'))
tb = last(f"{T}/tx-limited.out")
per_s = lambda r, k: r[k] / r['window_s']
c_fwd = ra['cpu_cycles'] / max(ra['win_rx_pkts'], 1)
cyc_b, fwd_b = per_s(rb, 'cpu_cycles'), per_s(rb, 'win_rx_pkts')
cyc_c, fwd_c = per_s(rc, 'cpu_cycles'), per_s(rc, 'win_rx_pkts')
excess = (tb['tx_refused'] + tb['tx_late']) / tb['elapsed_s']
spent = cyc_b - cyc_c * fwd_b / max(fwd_c, 1)
per_excess = spent / max(excess, 1)
print(f"size {size} B; vifd's CPU by {ra['cpu_method']}" + (f" ({ra['cpu_seconds_source']} run time x {ra['cpu_hz'] / 1e9:.2f} GHz TSC)" if ra['cpu_method'] == 'proc' else " (cycle counters)"))
print(f"A unlimited: {per_s(ra, 'win_rx_pkts'):.0f} frames/s forwarded, vifd {per_s(ra, 'cpu_seconds') * 100:.0f}% of a CPU, {c_fwd:.0f} cycles per forwarded frame")
print(f"C paced at the limit, no limit: {fwd_c:.0f} frames/s forwarded, vifd {per_s(rc, 'cpu_seconds') * 100:.1f}% of a CPU, {cyc_c / max(fwd_c, 1):.0f} cycles per frame")
print(f"B offered {offer}/s, ingress-rate={int(limit) / 1e6:g} Mbit/s: {fwd_b:.0f} frames/s forwarded ({per_s(rb, 'win_rx_bytes') * 8 / 1e6:.2f} Mbit/s), "
      f"excess {excess:.0f} frames/s, vifd {per_s(rb, 'cpu_seconds') * 100:.1f}% of a CPU")
# Upper bound: every cycle of B beyond forwarding its frames at A's
# full-speed cost (forwarding at a low rate costs more per frame, see C).
bound = max(cyc_b - fwd_b * c_fwd, 0) / max(excess, 1)
print(f"  cycles per excess frame, upper bound (B - B's frames x A's cost): {bound:.1f} = {bound / c_fwd:.4f} x a forwarded frame's")
print(f"  against C (same forwarded rate, paced, no excess): {per_excess:.1f} per excess frame" +
      (" (B costs less than C: the limiter batches the guest's frames)" if spent < 0 else ""))

# The fair share: D (two senders at their shares), E (two at OFFER each).
rd, re_ = last(f"{T}/rx-shares.out"), last(f"{T}/rx-flood.out")
te = [last(f"{T}/tx-flood.out"), last(f"{T}/tx3-flood.out")]
s0, s1 = (json.load(open(f"{T}/st{i}-flood.json"))['ports'][0] for i in (0, 1))
drops = sum(s1['drops'][k] - s0['drops'][k] for k in ('congested', 'egress_limit', 'no_room'))
cyc_d, fwd_d = per_s(rd, 'cpu_cycles'), per_s(rd, 'win_rx_pkts')
cyc_e, fwd_e = per_s(re_, 'cpu_cycles'), per_s(re_, 'win_rx_pkts')
refused = sum((t['tx_refused'] + t['tx_late']) / t['elapsed_s'] for t in te)
dropped = drops / max(re_['elapsed_s'], 1e-9)
excess_e = refused + dropped
flows = {f['src']: f['pps'] for f in re_['flows']}
shares = [flows.get('02:00:00:00:00:01', 0), flows.get('02:00:00:00:00:03', 0)]
jain = sum(shares) ** 2 / (2 * sum(x * x for x in shares)) if any(shares) else 0
print(f"D two senders at their shares (egress-rate={int(limit) / 1e6:g} Mbit/s): {fwd_d:.0f} frames/s forwarded, "
      f"vifd {per_s(rd, 'cpu_seconds') * 100:.1f}% of a CPU, {cyc_d / max(fwd_d, 1):.0f} cycles per frame")
print(f"E two senders offering {offer}/s each: {fwd_e:.0f} frames/s forwarded "
      f"({' / '.join(f'{x:.0f}' for x in shares)}, Jain {jain:.4f}), excess {excess_e:.0f} frames/s "
      f"({refused:.0f} left in the senders' rings, {dropped:.0f} dropped before the copy), "
      f"vifd {per_s(re_, 'cpu_seconds') * 100:.1f}% of a CPU")
spent_e = cyc_e - cyc_d * fwd_e / max(fwd_d, 1)
bound_e = max(cyc_e - fwd_e * c_fwd, 0) / max(excess_e, 1)
print(f"  cycles per excess frame, against D: {spent_e / max(excess_e, 1):.2f} = "
      f"{spent_e / max(excess_e, 1) / c_fwd:.4f} x a forwarded frame's (A)")
print(f"  upper bound (E - E's frames x A's cost): {bound_e:.2f} = {bound_e / c_fwd:.4f} x A")
EOF
