#!/bin/bash
# ab.sh - compare two builds of vifd on this noisy 2-vCPU machine: A and B
# take turns (each run: vifd with 1 worker on CPU 1, 2 vhostuser ports, the
# testpmd generator of bench/run.sh on CPU 0, a closed loop), each run cut
# into short windows with the vCPU placement probe (bench/xcore.c) before
# and after each window. Only windows wholly on the near placement are
# compared (see bench/README.md, "Placement"): median and best Mpps and
# vifd's busy cycles per packet for A and for B; far windows are reported
# apart, never mixed with near ones.
#
# Usage: bench/ab.sh BUILD_A BUILD_B [--size BYTES] [--windows N] [--runs N] [--secs S]
#   BUILD_x: a meson build directory (src/vifd/vifd, src/vifctl/vifctl; tests/xcore in one)
#   defaults: 64 B, 6 windows of 2 s per run, 2 runs per build, alternating A B A B
set -euo pipefail
. "$(dirname "$0")/gen.sh"

[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd)
shift 2
SIZE=64 WINDOWS=6 RUNS=2 SECS=2
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift ;;
	--windows) WINDOWS=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--secs) SECS=$2; shift ;;
	*) echo "ab.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
for b in "$A" "$B"; do
	for f in src/vifd/vifd src/vifctl/vifctl; do
		[ -x "$b/$f" ] || { echo "ab.sh: $b/$f missing (ninja -C $b)" >&2; exit 1; }
	done
done
XCORE=$B/tests/xcore
[ -x "$XCORE" ] || XCORE=$A/tests/xcore
[ -x "$XCORE" ] || { echo "ab.sh: tests/xcore missing in both builds" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "ab.sh: dpdk-testpmd missing" >&2; exit 1; }

T=$(mktemp -d /tmp/vifd-ab.XXXXXX)
PFX=vab$$
VIFD_PID= GEN_PID= GEN_FD=
cleanup() {
	[ -n "$GEN_FD" ] && { echo quit >&"$GEN_FD" 2>/dev/null || true; }
	for p in $GEN_PID $VIFD_PID; do
		kill "$p" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$T" /var/run/dpdk/"$PFX"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One run of build $1: prints "mpps cycles x_before x_after" per window.
run() {
	local b=$1 v i c0 p0 c1 p1 x0 x1 pps
	rm -rf "$T/st" "$T"/p?.sock "$T/gen.in"
	"$b/src/vifd/vifd" --state-dir "$T/st" --workers 1 --cpus 1 --log-level warning \
		>"$T/vifd.log" 2>&1 &
	VIFD_PID=$!
	v() { "$b/src/vifctl/vifctl" --socket "$T/st/vifd.sock" "$@"; }
	for i in $(seq 50); do v version >/dev/null 2>&1 && break; sleep 0.1; done
	v add-port br0 p1 type=vhostuser path="$T/p1.sock" >/dev/null
	v add-port br0 p2 type=vhostuser path="$T/p2.sock" >/dev/null
	mkfifo "$T/gen.in"
	exec {GEN_FD}<>"$T/gen.in"
	gen_args 0 "$T/p1.sock" "$T/p2.sock" "$SIZE" "$PFX"
	stdbuf -oL "${GEN_ARGS[@]}" <&"$GEN_FD" >"$T/gen.log" 2>&1 &
	GEN_PID=$!
	for i in $(seq 100); do grep -q 'testpmd>' "$T/gen.log" 2>/dev/null && break; sleep 0.1; done
	for i in $(seq 100); do
		v -j workers | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["workers"][0]["queues"] != 2)' && break
		sleep 0.1
	done
	sleep 1
	echo "start tx_first 16" >&"$GEN_FD"
	sleep 2
	counters() { v -j workers | python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"][0]; print(w["busy_cycles"], w["pkts"])'; }
	probe() { echo stop >&"$GEN_FD"; sleep 0.3; "$XCORE" 0 1 20 || echo 999; echo start >&"$GEN_FD"; sleep 0.5; }
	x0=$(probe)
	for i in $(seq "$WINDOWS"); do
		read -r c0 p0 <<<"$(counters)"
		echo "show port stats all" >&"$GEN_FD"; sleep "$SECS"; echo "show port stats all" >&"$GEN_FD"
		read -r c1 p1 <<<"$(counters)"
		sleep 0.3
		pps=$(grep -a 'Rx-pps:' "$T/gen.log" | tail -2 | awk '{s += $2} END {printf "%.3f", s / 1e6}')
		x1=$(probe)
		echo "$pps $(( p1 > p0 ? (c1 - c0) / (p1 - p0) : 0 )) $x0 $x1"
		x0=$x1
	done
	echo quit >&"$GEN_FD"
	for i in $(seq 30); do kill -0 "$GEN_PID" 2>/dev/null || break; sleep 0.1; done
	kill "$GEN_PID" "$VIFD_PID" 2>/dev/null || true
	wait "$GEN_PID" "$VIFD_PID" 2>/dev/null || true
	exec {GEN_FD}>&-
	GEN_PID= VIFD_PID= GEN_FD=
	rm -rf /var/run/dpdk/"$PFX"
}

for r in $(seq "$RUNS"); do
	for x in A B; do
		b=$A; [ $x = B ] && b=$B
		run "$b" >"$T/run.out" # not in a pipeline: cleanup needs its PIDs
		sed "s/^/$x /" "$T/run.out" | tee -a "$T/windows"
	done
done
python3 - "$T/windows" "$A" "$B" "$SIZE" <<'PY'
import statistics, sys
path, a, b, size = sys.argv[1:]
rows = [l.split() for l in open(path) if l.strip()]
print(f"ab.sh: {size} B; near = probe < 60 ns before and after a window, far = > 100 ns both")
def summary(w):
    return (f"median {statistics.median(m for m, _ in w):.2f} Mpps, "
            f"{statistics.median(c for _, c in w):.0f} cycles/pkt; best {max(m for m, _ in w):.2f} Mpps, "
            f"{min(c for _, c in w)} cycles/pkt")
for x, build in (('A', a), ('B', b)):
    near = [(float(r[1]), int(r[2])) for r in rows if r[0] == x and float(r[3]) < 60 and float(r[4]) < 60]
    far = [(float(r[1]), int(r[2])) for r in rows if r[0] == x and float(r[3]) > 100 and float(r[4]) > 100]
    n = len([r for r in rows if r[0] == x])
    print(f"{x} {build}: near {len(near)}/{n}: " + (summary(near) if near else "none (run again, or more --windows)"))
    # Far windows are dominated by cache-line transfers between the vCPUs;
    # shown so that a host that never places them near still gives a figure.
    print(f"{x} {build}: far {len(far)}/{n}: " + (summary(far) if far else "none"))
PY
