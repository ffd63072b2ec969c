#!/bin/bash
# libvif-pair.sh - frames per second between two libvif endpoints (vifbench)
# through one vifd worker, at the frame sizes given (default 64 and 1518).
#
#   vifbench tx --p1.sock--> vifd (1 worker) --p2.sock--> vifbench rx
#
# For each size: the sender runs unpaced for DURATION seconds; the figures
# are what the receiver got (pps, Gbit/s of frame bytes), what vifd dropped
# because the receiver's ring was full, and the worker's own accounting:
# TSC cycles of busy iterations per frame it moved. On a 2-core machine the
# sender, the receiver and the worker share the cores, so the receiver is
# usually what limits the delivered rate; cycles per frame is the figure
# that does not depend on that. Usage: bench/libvif-pair.sh [SIZE...]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
DURATION=${DURATION:-5}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 1518)
T=$(mktemp -d /tmp/vifd-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$B/src/vifd/vifd" --state-dir "$T/s" --workers 1 ${VIFD_CPUS:+--cpus "$VIFD_CPUS"} >"$T/vifd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$T/s/vifd.sock" ] && break; sleep 0.1; done
ctl() { "$B/src/vifctl/vifctl" --socket "$T/s/vifd.sock" "$@"; }
ctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
ctl add-port br0 p2 type=vhostuser path="$T/p2.sock"
printf '%-6s %12s %10s %12s %12s %14s\n' size rx_Mpps rx_Gbps tx_Mpps vifd_drops cycles/frame
for sz in "${sizes[@]}"; do
	"$B/src/vifbench/vifbench" --sock "$T/p2.sock" --mode rx --busy-poll --ring-size 1024 \
		--duration $((DURATION + 2)) --src-mac 02:00:00:00:00:02 --json >"$T/rx.out" 2>&1 &
	rxp=$!
	sleep 0.5
	w0=$(ctl -j workers); s0=$(ctl -j stats p2)
	"$B/src/vifbench/vifbench" --sock "$T/p1.sock" --mode tx --size "$sz" --ring-size 1024 \
		--duration "$DURATION" --dst-mac 02:00:00:00:00:02 --json >"$T/tx.out" 2>&1
	w1=$(ctl -j workers); s1=$(ctl -j stats p2)
	wait "$rxp" || true
	python3 - "$sz" "$T/tx.out" "$T/rx.out" "$w0" "$w1" "$s0" "$s1" <<'PY'
import json, sys
sz, txf, rxf, w0, w1, s0, s1 = sys.argv[1:]
last = lambda f: json.loads([l for l in open(f) if l.startswith('{')][-1])
tx, rx = last(txf), last(rxf)
w0, w1 = json.loads(w0)['workers'][0], json.loads(w1)['workers'][0]
s0, s1 = json.loads(s0)['ports'][0], json.loads(s1)['ports'][0]
pk = w1['pkts'] - w0['pkts']
cyc = (w1['busy_cycles'] - w0['busy_cycles']) / max(pk, 1)
drops = s1['drops']['no_room'] - s0['drops']['no_room']
print(f"{sz:<6} {rx['rx_pps']/1e6:12.3f} {rx['rx_bps']/1e9:10.2f} {tx['tx_pps']/1e6:12.3f} {drops:12d} {cyc:14.0f}")
PY
done
