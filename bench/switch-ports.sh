#!/bin/bash
# switch-ports.sh - forwarding rate of one vifd worker with 2 ports against 4
# learning ports, in the same run (issue 3's measure).
#
#   A: testpmd#1 p1 <-> vifd (1 worker) <-> p2          (2 ports)
#   B: testpmd#1 p1 <-> vifd <-> p2, testpmd#2 p3 <-> vifd <-> p4   (4 ports)
#
# testpmd runs in mac forwarding with fixed MACs and --eth-peer, so every
# frame is unicast to a learned MAC (no flooding) and each frame is one
# lookup + one learn-refresh + one copy in vifd. Figures: frames vifd moved
# per second and the worker's busy TSC cycles per frame (its own accounting).
# In B two testpmds share the machine's 2 cores with vifd: compare cycles
# per frame first. Usage: bench/switch-ports.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
SECS=${1:-5}
T=$(mktemp -d /tmp/vifd-swbench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T" /var/run/dpdk/vsw$$a /var/run/dpdk/vsw$$b
}
trap cleanup EXIT
"$B/src/vifd/vifd" --state-dir "$T/s" --workers 1 >"$T/vifd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$T/s/vifd.sock" ] && break; sleep 0.1; done
ctl() { "$B/src/vifctl/vifctl" --socket "$T/s/vifd.sock" "$@"; }
for p in 1 2 3 4; do ctl add-port br0 p$p type=vhostuser path="$T/p$p.sock"; done

testpmd() { # NAME PORT_A PORT_B
	(sleep "$((SECS + 2))"; echo) | dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci \
		--file-prefix="vsw$$$1" \
		--vdev "net_virtio_user0,path=$T/p$2.sock,mac=02:00:00:00:00:0$2" \
		--vdev "net_virtio_user1,path=$T/p$3.sock,mac=02:00:00:00:00:0$3" \
		-- --forward-mode=mac --tx-first --nb-cores=1 --total-num-mbufs=16384 \
		--eth-peer=0,02:00:00:00:00:0$3 --eth-peer=1,02:00:00:00:00:0$2 \
		>"$T/testpmd-$1.log" 2>&1
}
sample() { ctl -j workers; }
measure() { # LABEL: samples the worker over SECS seconds while traffic runs
	sleep 2
	local w0 w1
	w0=$(sample); sleep "$SECS"; w1=$(sample)
	python3 - "$1" "$SECS" "$w0" "$w1" <<'PY'
import json, sys
label, secs, a, b = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
a, b = a['workers'][0], b['workers'][0]
pk = b['pkts'] - a['pkts']
print(f"{label:<10} {pk / secs / 1e6:8.3f} Mpps  {(b['busy_cycles'] - a['busy_cycles']) / max(pk, 1):6.0f} busy cycles/frame")
PY
}
echo "run        rate          worker cost"
testpmd a 1 2 & tp1=$!
measure "2 ports"
wait "$tp1" || true
testpmd a 1 2 & tp1=$!
testpmd b 3 4 & tp2=$!
measure "4 ports"
wait "$tp1" "$tp2" || true
echo "fdb: $(ctl -j fdb | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))') MACs learned"
