#!/bin/bash
# iovm.sh - seed 001's question with vifd's workers as the IOVMs: how should
# datapath threads share cores among devices? P pairs of libvif endpoints
# (vifbench: an unpaced sender on port sI, a receiver on port rI, sI -> rI)
# through one vifd, in each configuration:
#   monolithic   one worker for every port           (--workers 1)
#   per-port     a worker per port, as cores allow    (placement=per-port)
#   hybrid       a worker per pair: its two ports     (placement=group)
#   spread       queues dealt out over the workers    (placement=spread)
# each with its workers pinned to CPUs (--cpus) and floating, over the same
# window. Reported per configuration: frames/s and Gbit/s vifd delivered
# to the receivers (all pairs, from its counters), vifd's CPU (share of the machine, from /proc schedstat), and
# efficiency: delivered bits per vifd CPU cycle (CPU time x TSC rate), plus
# the workers' own busy cycles per frame.
#
# Usage: bench/iovm.sh [--cores N] [--pairs P] [--secs S] [--size B] [--reps R]
#   --cores N   CPUs vifd's workers may use (0..N-1; default: nproc); workers
#               never exceed N, so the same harness scales to a larger machine
#   --pairs P   sender/receiver pairs (default 2)
# BUILD=build-dev to use another build. On a 2-core machine the generators
# share the cores with vifd: throughput is then set by the whole machine, and
# bits per vifd cycle is the figure that compares the configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
CORES=$(nproc) PAIRS=2 SECS=5 SIZE=64 REPS=1
while [ $# -gt 0 ]; do
	case $1 in
	--cores) CORES=$2; shift ;;
	--pairs) PAIRS=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--reps) REPS=$2; shift ;;
	*) echo "usage: $0 [--cores N] [--pairs P] [--secs S] [--size B] [--reps R]" >&2; exit 2 ;;
	esac
	shift
done
VB=$B/src/vifbench/vifbench
T=$(mktemp -d /tmp/vifd-iovm.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
# TSC cycles per ns: the workers' cycle counts against the wall clock.
TSC_GHZ=$(awk '/^cpu MHz/ {print $4 / 1000; exit}' /proc/cpuinfo)

# run NAME WORKERS PLACEMENT PIN: one measurement; prints a table row.
run() {
	local name=$1 nw=$2 pl=$3 pin=$4 cpus="" i vifd c0 c1 t0 t1 w0 w1 s0 s1
	[ "$pin" = pinned ] && cpus="--cpus 0-$((nw - 1))"
	rm -rf "$T/s"
	# shellcheck disable=SC2086
	"$B/src/vifd/vifd" --state-dir "$T/s" --workers "$nw" $cpus --log-level warning \
		>"$T/vifd.log" 2>&1 &
	vifd=$!
	pids+=("$vifd")
	for _ in $(seq 50); do [ -S "$T/s/vifd.sock" ] && break; sleep 0.1; done
	ctl() { "$B/src/vifctl/vifctl" --socket "$T/s/vifd.sock" "$@"; }
	ctl set-bridge br0 placement="$pl" >/dev/null
	# senders first: port ids s1..sP, then r1..rP (per-port puts port id
	# p on worker p mod W, so the senders, who carry the load, spread)
	for i in $(seq "$PAIRS"); do
		ctl add-port br0 "s$i" type=vhostuser path="$T/s$i.sock" worker-group="pair$i"
	done
	for i in $(seq "$PAIRS"); do
		ctl add-port br0 "r$i" type=vhostuser path="$T/r$i.sock" worker-group="pair$i"
	done
	local rx=() tx=()
	for i in $(seq "$PAIRS"); do
		"$VB" --sock "$T/r$i.sock" --mode rx --ring-size 1024 --duration $((SECS + 60)) \
			--idle-end 1 --src-mac "02:00:00:00:01:$(printf %02x "$i")" --json \
			>"$T/rx$i.out" 2>&1 &
		rx+=($!)
	done
	for i in $(seq "$PAIRS"); do
		"$VB" --sock "$T/s$i.sock" --mode tx --size "$SIZE" --ring-size 1024 \
			--duration $((SECS + 30)) --src-mac "02:00:00:00:02:$(printf %02x "$i")" \
			--dst-mac "02:00:00:00:01:$(printf %02x "$i")" --json >"$T/tx$i.out" 2>&1 &
		tx+=($!)
	done
	# the window starts once every endpoint is attached (a busy machine
	# may take a while) and lasts SECS; figures are vifd's own counters
	for _ in $(seq 100); do
		[ "$(ctl -j queues | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["queues"]))')" -ge "$nports" ] && break
		sleep 0.1
	done
	sleep 0.5
	c0=$(cat /proc/"$vifd"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}')
	w0=$(ctl -j workers) s0=$(ctl -j stats)
	t0=$(date +%s%N)
	sleep "$SECS"
	c1=$(cat /proc/"$vifd"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}')
	w1=$(ctl -j workers) s1=$(ctl -j stats)
	t1=$(date +%s%N)
	ctl -j queues >"$T/queues.json"
	[ -n "${IOVM_DEBUG:-}" ] && cat "$T/queues.json" >&2
	for p in "${tx[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	for p in "${rx[@]}"; do wait "$p" || true; done
	kill "$vifd" 2>/dev/null || true
	wait "$vifd" 2>/dev/null || true
	python3 - "$name" "$nw" "$pin" "$SIZE" "$PAIRS" $((c1 - c0)) $((t1 - t0)) "$TSC_GHZ" \
		"$w0" "$w1" "$T/queues.json" "$s0" "$s1" <<'PY'
import json, sys
name, nw, pin, size, pairs, cpu_ns, wall_ns, ghz, w0, w1, qf, s0, s1 = sys.argv[1:14]
cpu_ns, wall_ns, ghz, size = int(cpu_ns), int(wall_ns), float(ghz), int(size)
# frames vifd delivered to the receivers in the window
tx = lambda s: sum(p['tx_pkts'] for p in json.loads(s)['ports'] if p['name'].startswith('r'))
got = tx(s1) - tx(s0)
w0, w1 = json.loads(w0)['workers'], json.loads(w1)['workers']
busy = sum(b['busy_cycles'] - a['busy_cycles'] for a, b in zip(w0, w1))
moved = sum(b['pkts'] - a['pkts'] for a, b in zip(w0, w1))
per_worker = [sum(1 for q in json.load(open(qf))['queues'] if q['worker'] == w) for w in range(int(nw))]
pps = got / (wall_ns / 1e9)
bits = got * size * 8
cycles = cpu_ns * ghz
print(f"{name:<11} {nw:>2} {pin:<8} {pps / 1e6:8.3f} {bits / wall_ns:7.3f} {100 * cpu_ns / wall_ns:8.1f} "
      f"{bits / cycles if cycles else 0:10.3f} {busy / max(moved, 1):10.0f}  {'/'.join(map(str, per_worker))}")
PY
}

echo "# bench/iovm.sh --cores $CORES --pairs $PAIRS --secs $SECS --size $SIZE ($(date -u +%FT%TZ), $(nproc) CPUs, TSC ~${TSC_GHZ} GHz)"
printf '%-11s %2s %-8s %8s %7s %8s %10s %10s  %s\n' config W pin rx_Mpps Gbit/s vifd_cpu% bits/cycle busy_cyc/f queues/worker
nports=$((2 * PAIRS))
for rep in $(seq "$REPS"); do
	for pin in pinned floating; do
		run monolithic 1 monolithic "$pin"
		run per-port "$(min "$CORES" "$nports")" per-port "$pin"
		run hybrid "$(min "$CORES" "$PAIRS")" group "$pin"
		run spread "$(min "$CORES" "$nports")" spread "$pin"
	done
done
