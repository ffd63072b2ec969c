#!/bin/bash
# packed-split.sh - packed against split virtqueues, the same vifd, the same
# generator, one run: one vifd worker forwarding between 2 vhost-user ports,
# DPDK testpmd (virtio-user, mac forwarding, tx_first, fixed MACs and
# --eth-peer: every frame one lookup, one learn refresh, one copy) driving
# both ports with split rings (packed_vq=0) or packed rings (packed_vq=1),
# at each frame size; the two kinds take turns, REPS times, so a noisy
# neighbour hits both alike.
#
#   testpmd p1 (split|packed) <-> vifd (1 worker) <-> p2 (split|packed) testpmd
#
# Figures per window: frames vifd moved per second, Gbit/s of frame bytes,
# the worker's busy TSC cycles per frame (its own accounting: the figure that
# depends least on what else the 2 cores run). Then per size the median of
# each kind and the ratio packed/split.
# Usage: bench/packed-split.sh [--secs S] [--reps N] [--sizes "64 1518"]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
SECS=5
REPS=3
SIZES="64 1518"
while [ $# -gt 0 ]; do
	case $1 in
	--secs) SECS=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	*) echo "usage: $0 [--secs S] [--reps N] [--sizes \"64 1518\"]" >&2; exit 2 ;;
	esac
done
T=$(mktemp -d /tmp/vifd-pkbench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T" /var/run/dpdk/vpk$$
}
trap cleanup EXIT
"$B/src/vifd/vifd" --state-dir "$T/s" --workers 1 >"$T/vifd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$T/s/vifd.sock" ] && break; sleep 0.1; done
ctl() { "$B/src/vifctl/vifctl" --socket "$T/s/vifd.sock" "$@"; }
for p in 1 2; do ctl add-port br0 p$p type=vhostuser path="$T/p$p.sock"; done

# window KIND SIZE: testpmd forwarding, the worker sampled over SECS once
# testpmd says it forwards.
window() {
	local kind=$1 sz=$2 pv=0 w0 w1 f1 tp
	[ "$kind" = packed ] && pv=1
	rm -f "$T/in"; mkfifo "$T/in"
	dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci \
		--file-prefix="vpk$$" \
		--vdev "net_virtio_user0,path=$T/p1.sock,mac=02:00:00:00:00:01,packed_vq=$pv" \
		--vdev "net_virtio_user1,path=$T/p2.sock,mac=02:00:00:00:00:02,packed_vq=$pv" \
		-- --forward-mode=mac --tx-first --nb-cores=1 --total-num-mbufs=16384 \
		--txpkts="$sz" --eth-peer=0,02:00:00:00:00:02 --eth-peer=1,02:00:00:00:00:01 \
		<"$T/in" >"$T/testpmd.log" 2>&1 &
	tp=$!
	pids+=("$tp")
	exec 8>"$T/in" # testpmd's stdin stays open until the window ends
	# (testpmd sets up 512 MB without huge pages: seconds on a busy machine)
	for _ in $(seq 100); do grep -q "Press enter" "$T/testpmd.log" && break; sleep 0.1; done
	sleep 1
	f1=$(ctl -j show | python3 -c 'import json,sys; print(json.load(sys.stdin)["bridges"][0]["ports"][0]["features"])')
	w0=$(ctl -j workers); s0=$(ctl -j stats); sleep "$SECS"; w1=$(ctl -j workers); s1=$(ctl -j stats)
	echo >&8
	exec 8>&-
	wait "$tp" || true
	python3 - "$kind" "$sz" "$SECS" "$w0" "$w1" "$f1" "$s0" "$s1" <<'PY' | tee -a "$T/rows"
import json, sys
kind, sz, secs, a, b, f = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6], 16)
s0, s1 = json.loads(sys.argv[7])['ports'], json.loads(sys.argv[8])['ports']
assert bool(f & (1 << 34)) == (kind == 'packed'), f"p1 negotiated {f:#x}, wanted {kind}"
a, b = a['workers'][0], b['workers'][0]
pk = b['pkts'] - a['pkts']
drops = sum(sum(p1['drops'].values()) - sum(p0['drops'].values()) for p0, p1 in zip(s0, s1))
print(f"{kind:<7} {sz:>5} {pk / secs / 1e6:8.3f} {pk * sz * 8 / secs / 1e9:8.2f} {(b['busy_cycles'] - a['busy_cycles']) / max(pk, 1):10.0f} {drops:8d}")
PY
}
echo "kind     size     Mpps     Gbps  cyc/frame    drops"
for r in $(seq "$REPS"); do
	for sz in $SIZES; do
		# (which kind goes first alternates between repetitions)
		if [ $((r % 2)) = 1 ]; then kinds="split packed"; else kinds="packed split"; fi
		for k in $kinds; do window "$k" "$sz"; done
	done
done
python3 - "$T/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("median   size     Mpps     Gbps cyc/frame   best: Mpps cyc/frame")
for sz in sorted({int(r[1]) for r in rows}):
    med = {}
    for k in ("split", "packed"):
        sel = [r for r in rows if r[0] == k and int(r[1]) == sz]
        med[k] = [statistics.median(float(r[i]) for r in sel) for i in (2, 3, 4)]
        busy = [float(r[4]) for r in sel if float(r[2]) > 0]
        print(f"{k:<7} {sz:>5} {med[k][0]:8.3f} {med[k][1]:8.2f} {med[k][2]:10.0f}"
              f"   {max(float(r[2]) for r in sel):10.3f} {min(busy) if busy else 0:9.0f}")
    print(f"packed/split at {sz} B: rate x{med['packed'][0] / max(med['split'][0], 1e-9):.2f}, "
          f"cycles/frame x{med['packed'][2] / max(med['split'][2], 1):.2f} (medians)")
PY
