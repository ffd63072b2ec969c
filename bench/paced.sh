#!/bin/bash
# paced.sh - what vifd's CPU use follows: the load, not the clock. One vifd
# worker between two libvif endpoints (vifbench), 64 B frames:
#   - paced streams (vifbench --rate) of 1, 10 and 100 kpps (or RATES):
#     vifd's CPU time over the stream as a share of one core (all its
#     threads, from /proc/PID/schedstat), the worker's sleeps per frame,
#     and what the receiver got;
#   - an idle vifd (nothing sent) over the same time;
#   - round trips (vifbench ping against an echo peer, one at a time):
#     p50 and p99;
#   - the unpaced rate (what vifd moves when it cannot sleep).
# The receiver sleeps on notifications like a guest (no --busy-poll).
#
# Usage: bench/paced.sh [SECONDS]   (default 5; BUILD=build, RATES="1000 10000 100000")
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
D=${1:-5}
RATES=${RATES:-1000 10000 100000}
T=$(mktemp -d /tmp/vifd-paced.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$B/src/vifd/vifd" --state-dir "$T/s" --workers 1 --log-level warning >"$T/vifd.log" 2>&1 &
VIFD=$!
pids+=("$VIFD")
for _ in $(seq 50); do [ -S "$T/s/vifd.sock" ] && break; sleep 0.1; done
ctl() { "$B/src/vifctl/vifctl" --socket "$T/s/vifd.sock" "$@"; }
VB=$B/src/vifbench/vifbench
ctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
ctl add-port br0 p2 type=vhostuser path="$T/p2.sock"
cpu_ns() { cat /proc/"$VIFD"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }
sleeps() { ctl -j workers | python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"][0]["sleeps"])'; }
# Frames vifd dropped, all ports and reasons.
drops() { ctl -j stats | python3 -c 'import json,sys; print(sum(sum(p["drops"].values()) for p in json.load(sys.stdin)["ports"]))'; }

printf '%-10s %12s %12s %14s %16s %8s %8s %8s\n' offered rx_pps vifd_core% sleeps/frame cpu_us/frame sent received dropped
# idle first: two endpoints attached, nothing sent
"$VB" --sock "$T/p2.sock" --mode rx --duration $((D + 1)) --src-mac 02:00:00:00:00:02 --no-announce >/dev/null 2>&1 &
rxp=$!
sleep 0.5
c0=$(cpu_ns) t0=$(date +%s%N)
sleep "$D"
c1=$(cpu_ns) t1=$(date +%s%N)
wait "$rxp" || true
awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN {printf "%-10s %12s %12.2f %14s %16s\n", "idle", "-", 100 * c / t, "-", "-"}'
for r in $RATES; do
	# the receiver ends 1 s after the stream (however slow the machine)
	"$VB" --sock "$T/p2.sock" --mode rx --duration $((D + 60)) --idle-end 1 \
		--src-mac 02:00:00:00:00:02 --json >"$T/rx.out" 2>&1 &
	rxp=$!
	sleep 0.5
	c0=$(cpu_ns) s0=$(sleeps) d0=$(drops) t0=$(date +%s%N)
	"$VB" --sock "$T/p1.sock" --mode tx --size 64 --rate "$r" --duration "$D" \
		--dst-mac 02:00:00:00:00:02 --json >"$T/tx.out" 2>&1 || true
	c1=$(cpu_ns) s1=$(sleeps) t1=$(date +%s%N) d1=$(drops)
	wait "$rxp" || true
	if [ "$d1" != "$d0" ]; then # why, by port and reason
		ctl -j stats | python3 -c 'import json, sys
for p in json.load(sys.stdin)["ports"]:
    print("  drops so far,", p["name"], {k: v for k, v in p["drops"].items() if v})'
	fi
	python3 - "$r" "$T/rx.out" $((c1 - c0)) $((t1 - t0)) $((s1 - s0)) "$T/tx.out" $((d1 - d0)) <<'PY'
import json, sys
r, rxf, c, t, s, txf, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
lines = open(rxf).read().splitlines()
js = [l for l in lines if l.startswith('{')]
if not js:
    sys.exit(f"{r:<10} receiver failed: {lines[-1] if lines else '(no output)'}")
rx = json.loads(js[-1])
n = rx.get('rx_pkts') or 0
pps = n / (t / 1e9)  # over the stream, as vifd's CPU is
tj = [l for l in open(txf) if l.startswith('{')]
sent = json.loads(tj[-1]).get('tx_pkts', 0) if tj else 0
print(f"{r:<10} {pps:12.0f} {100 * c / t:12.2f} {s / n if n else 0:14.3f} {c / 1e3 / n if n else 0:16.2f} {sent:8d} {n:8d} {d:8d}")
PY
done
"$VB" --sock "$T/p1.sock" --mode echo --duration 30 --src-mac 02:00:00:00:00:01 >/dev/null 2>&1 &
ep=$!
sleep 0.5
"$VB" --sock "$T/p2.sock" --mode ping --count 200 --timeout 25 --src-mac 02:00:00:00:00:02 \
	--dst-mac 02:00:00:00:00:01 --json >"$T/ping.out" 2>&1 || true
kill "$ep" 2>/dev/null || true
wait "$ep" 2>/dev/null || true
python3 - "$T/ping.out" <<'PY'
import json, sys
p = json.loads([l for l in open(sys.argv[1]) if l.startswith('{')][-1])
print(f"round trip, one at a time: p50 {p['rtt_p50_us']:.1f} us, p99 {p['rtt_p99_us']:.1f} us "
      f"({p['ping_recv']} of {p['ping_sent']})")
PY
"$VB" --sock "$T/p2.sock" --mode rx --busy-poll --ring-size 1024 --duration $((D + 60)) --idle-end 1 \
	--src-mac 02:00:00:00:00:02 --json >"$T/rx.out" 2>&1 &
rxp=$!
sleep 0.5
"$VB" --sock "$T/p1.sock" --mode tx --size 64 --ring-size 1024 --duration "$D" \
	--dst-mac 02:00:00:00:00:02 --json >"$T/tx.out" 2>&1 || tail -3 "$T/tx.out" >&2
wait "$rxp" || true
python3 - "$T/rx.out" <<'PY'
import json, sys
rx = json.loads([l for l in open(sys.argv[1]) if l.startswith('{')][-1])
print(f"unpaced 64 B: {rx['rx_pps'] / 1e6:.3f} Mpps received ({rx.get('errors', 0)} errors)")
PY
