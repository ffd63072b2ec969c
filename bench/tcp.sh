#!/bin/bash
# tcp.sh - TCP between two network namespaces, in one run, through
#   vifd:   each namespace on a tap port of vifd (1 worker), offloads as
#           vifd negotiates them (64 KiB frames cross whole);
#   bridge: the same namespaces joined by a Linux bridge over veth pairs
#           with the kernel's default offloads (what vifd is measured
#           against: the fastest thing a host has between namespaces);
# and, with --udp, a 1-stream UDP test (iperf3 -u -l 1400 -b 0) through both.
#
# Each case runs REPS times (alternating vifd and bridge, so a busy machine
# burdens both alike); reported per case: the best and the median Gbit/s
# the receiver got, and CPU seconds per GB moved: the whole machine's
# busy time (all CPUs, from /proc/stat: the senders', receivers' and the
# switch's work, the kernel's included) and, for vifd, its own process
# time. Prints a markdown table and the ratios vifd/bridge.
#
# Usage: bench/tcp.sh [--secs S] [--reps N] [--udp]   (root; BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
SECS=8 REPS=3 UDP=0
while [ $# -gt 0 ]; do
	case $1 in
	--secs) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--udp) UDP=1 ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
for c in iperf3 ip python3; do command -v $c >/dev/null || { echo "tcp.sh: $c missing" >&2; exit 1; }; done
[ -x "$B/src/vifd/vifd" ] || { echo "tcp.sh: $B/src/vifd/vifd missing (ninja -C $B)" >&2; exit 1; }

id=$$
NA=vbt-a$id NB=vbt-b$id BR=vbtbr$id
T=$(mktemp -d /tmp/vifd-tcp.XXXXXX)
VIFD_PID=
cleanup() {
	set +e
	[ -n "$VIFD_PID" ] && { kill "$VIFD_PID"; wait "$VIFD_PID"; } 2>/dev/null
	for n in "$NA" "$NB"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	ip link del "$BR" 2>/dev/null
	ip link del "vbh-a$id" 2>/dev/null
	ip link del "vbh-b$id" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for n in "$NA" "$NB"; do ip netns add "$n"; ip -n "$n" link set lo up; done

busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
proc_jiffies() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
HZ=$(getconf CLK_TCK)

# run CASE ADDR [IPERF ARGS]: one iperf3 run from A to B at ADDR; appends
# "case gbps cpu_s_per_gb switch_cpu_s_per_gb" to $T/results.
run() {
	local c=$1 addr=$2 j0 j1 p0=0 p1=0 out=$T/iperf.json
	shift 2
	ip netns exec "$NB" iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
	local srv=$!
	for _ in $(seq 50); do ip netns exec "$NB" ss -ltn | grep -q ':5301 ' && break; sleep 0.1; done
	j0=$(busy_jiffies)
	[ -n "$VIFD_PID" ] && [ "$c" != bridge ] && p0=$(proc_jiffies "$VIFD_PID")
	ip netns exec "$NA" iperf3 -c "$addr" -p 5301 -t "$SECS" -J "$@" >"$out" 2>/dev/null || true
	j1=$(busy_jiffies)
	[ -n "$VIFD_PID" ] && [ "$c" != bridge ] && p1=$(proc_jiffies "$VIFD_PID")
	wait "$srv" 2>/dev/null || true
	python3 - "$c" "$out" "$((j1 - j0))" "$((p1 - p0))" "$HZ" >>"$T/results" <<'PY'
import json, sys
c, f, dj, dp, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
try:
    j = json.load(open(f))
    s = j['end'].get('sum_received') or j['end']['sum']
    bps, byt = s['bits_per_second'], s['bytes']
except Exception:
    bps = byt = 0
gb = byt / 1e9
print(f"{c} {bps / 1e9:.3f} {dj / hz / gb if gb else 0:.3f} {dp / hz / gb if gb and dp else 0:.3f}")
PY
	tail -1 "$T/results" | awk '{v = ($4 > 0) ? $4 " CPU s/GB (vifd)" : ""
		printf "  %-10s %7.2f Gbit/s  %6.2f CPU s/GB (machine)  %s\n", $1, $2, $3, v}'
}

setup_vifd() {
	"$B/src/vifd/vifd" --state-dir "$T/st" --workers 1 --log-level warning >"$T/vifd.log" 2>&1 &
	VIFD_PID=$!
	for _ in $(seq 50); do "$B/src/vifctl/vifctl" --socket "$T/st/vifd.sock" show >/dev/null 2>&1 && break; sleep 0.1; done
	"$B/src/vifctl/vifctl" --socket "$T/st/vifd.sock" add-port br0 ta type=tap ifname=vta netns="$NA"
	"$B/src/vifctl/vifctl" --socket "$T/st/vifd.sock" add-port br0 tb type=tap ifname=vtb netns="$NB"
	ip -n "$NA" addr add 10.77.0.1/24 dev vta
	ip -n "$NB" addr add 10.77.0.2/24 dev vtb
}
setup_bridge() {
	ip link add "$BR" type bridge
	ip link set "$BR" up
	for s in a b; do
		local n=$NA
		[ $s = b ] && n=$NB
		ip link add "vbh-$s$id" type veth peer name "vb$s" netns "$n"
		ip link set "vbh-$s$id" master "$BR" up
		ip -n "$n" link set "vb$s" up
	done
	ip -n "$NA" addr add 10.78.0.1/24 dev vba
	ip -n "$NB" addr add 10.78.0.2/24 dev vbb
}
setup_vifd
setup_bridge
sleep 1
if command -v ping >/dev/null; then PING=(ping); else PING=(busybox ping); fi
ip netns exec "$NA" "${PING[@]}" -c 1 -W 2 10.77.0.2 >/dev/null
ip netns exec "$NA" "${PING[@]}" -c 1 -W 2 10.78.0.2 >/dev/null
: >"$T/results"
echo "TCP, 1 stream, $SECS s, $REPS runs each (alternating)"
for r in $(seq "$REPS"); do
	run vifd 10.77.0.2
	run bridge 10.78.0.2
	if [ "$UDP" = 1 ]; then
		run vifd-udp 10.77.0.2 -u -l 1400 -b 0
		run bridge-udp 10.78.0.2 -u -l 1400 -b 0
	fi
done
python3 - "$T/results" <<'PY'
import statistics, sys
rows = {}
for l in open(sys.argv[1]):
    c, g, cpu, sw = l.split()
    rows.setdefault(c, []).append((float(g), float(cpu), float(sw)))
def med(v):
    return statistics.median(v) if v else 0
print()
print("| case | best Gbit/s | median Gbit/s | CPU s/GB (machine, median) | CPU s/GB (vifd, median) |")
print("|---|---:|---:|---:|---:|")
for c, v in rows.items():
    g = [x[0] for x in v]
    print(f"| {c} | {max(g):.2f} | {med(g):.2f} | {med([x[1] for x in v]):.2f} | "
          f"{med([x[2] for x in v if x[2]]) if any(x[2] for x in v) else 0:.2f} |")
for a, b in (("vifd", "bridge"), ("vifd-udp", "bridge-udp")):
    if a in rows and b in rows:
        ga = med([x[0] for x in rows[a]]); gb = med([x[0] for x in rows[b]])
        ca = med([x[1] for x in rows[a]]); cb = med([x[1] for x in rows[b]])
        print(f"\n{a}/{b}: {ga / gb if gb else 0:.2f}x Gbit/s (median), "
              f"{ca / cb if cb else 0:.2f}x machine CPU per GB")
PY
