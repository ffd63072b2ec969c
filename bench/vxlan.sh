#!/bin/bash
# vxlan.sh - the same VXLAN segment between two host namespaces, in one
# run, through
#   kernel: each host a Linux bridge with a kernel vxlan device (VNI 100),
#           its container on a veth into the bridge (the kernel's defaults:
#           its UDP tunnel offloads on);
#   vifd:   each host its own vifd (1 worker) with a VXLAN port (VNI 100)
#           in the host namespace and its container on a tap port;
# the hosts joined by a veth pair (the underlay, MTU 1500), the containers
# at MTU 1450, static remote entries on both sides. Measured from
# container 1 to container 2: TCP (iperf3, 1 stream) Gbit/s, and 64-byte
# frames (iperf3 -u -l 18 -b 0: 18 bytes of UDP payload make a 64-byte
# frame with its FCS) in packets per second delivered; CPU seconds per GB
# (TCP) or per million packets (UDP) of the whole machine (all CPUs, from
# /proc/stat) and, for vifd, of both vifd processes. The cases alternate,
# REPS times each; prints a table of best and median and the ratios
# vifd/kernel.
#
# Usage: bench/vxlan.sh [--secs S] [--reps N]   (root; BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
SECS=5 REPS=3
while [ $# -gt 0 ]; do
	case $1 in
	--secs) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
for c in iperf3 ip python3 ethtool; do command -v $c >/dev/null || { echo "vxlan.sh: $c missing" >&2; exit 1; }; done
[ -x "$B/src/vifd/vifd" ] || { echo "vxlan.sh: $B/src/vifd/vifd missing (ninja -C $B)" >&2; exit 1; }

id=$$
NS=()
for c in k v; do for r in h1 h2 c1 c2; do NS+=("vxb-$c$r$id"); done; done
T=$(mktemp -d /tmp/vifd-vxb.XXXXXX)
V1= V2=
cleanup() {
	set +e
	for p in $V1 $V2; do kill "$p"; wait "$p"; done 2>/dev/null
	for n in "${NS[@]}"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for n in "${NS[@]}"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ns() { echo "vxb-$1$id"; }

busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
proc_jiffies() { local s=0 p; for p in "$@"; do s=$((s + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo $s; }
HZ=$(getconf CLK_TCK)

# underlay CASE NET: the two hosts of CASE on a veth pair, NET.1 and NET.2.
underlay() {
	ip link add "u1$1$id" netns "$(ns "$1h1")" type veth peer name "u2$1$id" netns "$(ns "$1h2")"
	ip -n "$(ns "$1h1")" addr add "$2.1/24" dev "u1$1$id"
	ip -n "$(ns "$1h2")" addr add "$2.2/24" dev "u2$1$id"
	ip -n "$(ns "$1h1")" link set "u1$1$id" up
	ip -n "$(ns "$1h2")" link set "u2$1$id" up
}

# The kernel case: underlay 10.91.0.x, containers 10.92.0.x.
underlay k 10.91.0
for i in 1 2; do
	h=$(ns "kh$i") c=$(ns "kc$i") o=$((3 - i))
	ip -n "$h" link add br0 type bridge
	ip -n "$h" link set br0 up
	ip -n "$h" link add vx0 type vxlan id 100 local "10.91.0.$i" dstport 4789
	ip -n "$h" link set vx0 master br0 up
	bridge -n "$h" fdb append 00:00:00:00:00:00 dev vx0 dst "10.91.0.$o"
	ip link add "ck$i$id" netns "$c" type veth peer name "ckp$i" netns "$h"
	ip -n "$h" link set "ckp$i" master br0 mtu 1450 up
	ip -n "$c" link set "ck$i$id" mtu 1450 up
	ip -n "$c" addr add "10.92.0.$i/24" dev "ck$i$id"
done

# The vifd case: underlay 10.93.0.x, containers 10.94.0.x; a vifd per host.
underlay v 10.93.0
for i in 1 2; do
	h=$(ns "vh$i") c=$(ns "vc$i") o=$((3 - i))
	"$B/src/vifd/vifd" --state-dir "$T/st$i" --workers 1 --log-level warning >"$T/vifd$i.log" 2>&1 &
	eval "V$i=$!"
	ctl=("$B/src/vifctl/vifctl" --socket "$T/st$i/vifd.sock")
	for _ in $(seq 50); do "${ctl[@]}" show >/dev/null 2>&1 && break; sleep 0.1; done
	"${ctl[@]}" add-port br0 vx type=vxlan vni=100 local="10.93.0.$i" remote="10.93.0.$o" netns="$h"
	"${ctl[@]}" add-port br0 t type=tap ifname="tv$i" netns="$c"
	ip -n "$c" link set "tv$i" mtu 1450
	ip -n "$c" addr add "10.94.0.$i/24" dev "tv$i"
done

if command -v ping >/dev/null; then PING=(ping); else PING=(busybox ping); fi
for c in "k 10.92.0.2" "v 10.94.0.2"; do
	set -- $c
	for _ in 1 2 3 4 5; do ip netns exec "$(ns "${1}c1")" "${PING[@]}" -c 1 -W 2 "$2" >/dev/null && break; done ||
		{ echo "vxlan.sh: $1: no ping reply from $2" >&2; exit 1; }
done

# run CASE KIND ADDR PIDS...: one iperf3 run (KIND tcp or udp64); appends
# "case kind rate cpu_machine cpu_switch" to $T/results (rate: Gbit/s or
# Mpps; cpu: seconds per GB or per million packets).
run() {
	local c=$1 kind=$2 addr=$3 j0 j1 p0=0 p1=0 out=$T/iperf.json args=()
	shift 3
	[ "$kind" = udp64 ] && args=(-u -l 18 -b 0)
	ip netns exec "$(ns "${c}c2")" iperf3 -s -1 -p 5401 >/dev/null 2>&1 &
	local srv=$!
	for _ in $(seq 50); do ip netns exec "$(ns "${c}c2")" ss -ltn | grep ':5401 ' >/dev/null && break; sleep 0.1; done
	j0=$(busy_jiffies)
	[ $# -gt 0 ] && p0=$(proc_jiffies "$@")
	ip netns exec "$(ns "${c}c1")" iperf3 -c "$addr" -p 5401 -t "$SECS" -J "${args[@]}" >"$out" 2>/dev/null || true
	j1=$(busy_jiffies)
	[ $# -gt 0 ] && p1=$(proc_jiffies "$@")
	wait "$srv" 2>/dev/null || true
	python3 - "$c" "$kind" "$out" "$((j1 - j0))" "$((p1 - p0))" "$HZ" >>"$T/results" <<'PY'
import json, sys
c, kind, f, dj, dp, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
name = {"k": "kernel", "v": "vifd"}[c]
try:
    e = json.load(open(f))["end"]
    if kind == "tcp":
        s = e["sum_received"]
        rate, amount = s["bits_per_second"] / 1e9, s["bytes"] / 1e9
    else:
        s = e["sum"]
        got = s["packets"] - s["lost_packets"]
        rate, amount = got / s["seconds"] / 1e6, got / 1e6
except Exception:
    rate = amount = 0
cm = dj / hz / amount if amount else 0
cs = dp / hz / amount if amount and dp else 0
print(f"{name} {kind} {rate:.4f} {cm:.3f} {cs:.3f}")
PY
	tail -1 "$T/results" | awk '{u = ($2 == "tcp") ? "Gbit/s" : "Mpps"; w = ($2 == "tcp") ? "GB" : "Mpkt"
		v = ($5 > 0) ? sprintf("%.2f CPU s/%s (vifd)", $5, w) : ""
		printf "  %-7s %-6s %8.3f %-7s %7.2f CPU s/%s (machine)  %s\n", $1, $2, $3, u, $4, w, v}'
}

: >"$T/results"
echo "VXLAN between two host namespaces: $SECS s per run, $REPS runs per case (alternating)"
for r in $(seq "$REPS"); do
	for kind in tcp udp64; do
		run k "$kind" 10.92.0.2
		run v "$kind" 10.94.0.2 "$V1" "$V2"
	done
done
python3 - "$T/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, kind, rate, cm, cs = line.split()
    rows.setdefault((kind, name), []).append((float(rate), float(cm), float(cs)))
print()
print("| test | path | best | median | CPU s/unit, machine (median) | CPU s/unit, vifd (median) |")
print("|---|---|---|---|---|---|")
med = {}
for (kind, name), v in sorted(rows.items()):
    unit = "Gbit/s" if kind == "tcp" else "Mpps"
    r = [x[0] for x in v]
    med[(kind, name)] = (statistics.median(r), statistics.median(x[1] for x in v))
    cs = statistics.median(x[2] for x in v)
    print(f"| {kind} | {name} | {max(r):.3f} {unit} | {statistics.median(r):.3f} {unit} | "
          f"{statistics.median(x[1] for x in v):.2f} | {cs:.2f} |" if cs else
          f"| {kind} | {name} | {max(r):.3f} {unit} | {statistics.median(r):.3f} {unit} | "
          f"{statistics.median(x[1] for x in v):.2f} | - |")
print()
for kind in ("tcp", "udp64"):
    if (kind, "vifd") in med and (kind, "kernel") in med and med[(kind, "kernel")][0]:
        rv, rk = med[(kind, "vifd")], med[(kind, "kernel")]
        print(f"{kind}: vifd/kernel rate {rv[0] / rk[0]:.2f}x, machine CPU per unit "
              f"{rv[1] / rk[1]:.2f}x" if rk[1] else f"{kind}: vifd/kernel rate {rv[0] / rk[0]:.2f}x")
PY
