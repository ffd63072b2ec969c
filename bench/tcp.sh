#!/bin/bash
# tcp.sh - TCP between two network namespaces, in one run, through
#   vifd:   each namespace on a tap port of vifd (1 worker), offloads as
#           vifd negotiates them (64 KiB frames cross whole);
#   bridge: the same namespaces joined by a Linux bridge over veth pairs
#           with the kernel's default offloads (what vifd is measured
#           against: the fastest thing a host has between namespaces);
# with --ovs, also
#   vifd-afp: vifd with afpacket ports on veth pairs (PACKET_VNET_HDR:
#           64 KiB frames cross whole), the shape OVS gets below;
#   ovs:    Open vSwitch with DPDK (ovs-vswitchd-dpdk, userspace datapath,
#           one pmd on CPU 1) with other_config:userspace-tso-enable=true,
#           the namespaces on veth pairs added as system ports (OVS reads
#           them through AF_PACKET with virtio-net headers);
# and, with --udp, a 1-stream UDP test (iperf3 -u -l 1400 -b 0) through each.
#
# Each case runs REPS times (alternating vifd and bridge, so a busy machine
# burdens both alike); reported per case: the best and the median Gbit/s
# the receiver got, and CPU seconds per GB moved: the whole machine's
# busy time (all CPUs, from /proc/stat: the senders', receivers' and the
# switch's work, the kernel's included) and, for vifd, its own process
# time (or OVS's: ovs-vswitchd's). Prints a markdown table and the ratios
# vifd/bridge (and vifd/ovs, vifd-afp/ovs).
#
# Usage: bench/tcp.sh [--secs S] [--reps N] [--udp] [--ovs]   (root; BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
SECS=8 REPS=3 UDP=0 OVS=0
OVS_VSWITCHD=${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
while [ $# -gt 0 ]; do
	case $1 in
	--secs) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--udp) UDP=1 ;;
	--ovs) OVS=1 ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
for c in iperf3 ip python3; do command -v $c >/dev/null || { echo "tcp.sh: $c missing" >&2; exit 1; }; done
[ -x "$B/src/vifd/vifd" ] || { echo "tcp.sh: $B/src/vifd/vifd missing (ninja -C $B)" >&2; exit 1; }

id=$$
NA=vbt-a$id NB=vbt-b$id BR=vbtbr$id
T=$(mktemp -d /tmp/vifd-tcp.XXXXXX)
VIFD_PID= OVS_PID= OVSDB_PID=
cleanup() {
	set +e
	[ -n "$VIFD_PID" ] && { kill "$VIFD_PID"; wait "$VIFD_PID"; } 2>/dev/null
	[ -n "$OVS_PID" ] && { ovs-appctl -t "$T/ovs/vswitchd.ctl" exit >/dev/null 2>&1; kill "$OVS_PID"; wait "$OVS_PID"; } 2>/dev/null
	[ -n "$OVSDB_PID" ] && { kill "$OVSDB_PID"; wait "$OVSDB_PID"; } 2>/dev/null
	rm -rf "/var/run/dpdk/vbt$id"
	for n in "$NA" "$NB"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	ip link del "$BR" 2>/dev/null
	ip link del "vbh-a$id" 2>/dev/null
	ip link del "vbh-b$id" 2>/dev/null
	for l in vfh-a vfh-b voh-a voh-b; do ip link del "$l$id" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for n in "$NA" "$NB"; do ip netns add "$n"; ip -n "$n" link set lo up; done

busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
proc_jiffies() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
HZ=$(getconf CLK_TCK)

# run CASE ADDR SWITCH_PID [IPERF ARGS]: one iperf3 run from A to B at ADDR
# (SWITCH_PID: the process whose CPU time is the switch's, or -); appends
# "case gbps cpu_s_per_gb switch_cpu_s_per_gb" to $T/results.
run() {
	local c=$1 addr=$2 pid=$3 j0 j1 p0=0 p1=0 out=$T/iperf.json
	shift 3
	ip netns exec "$NB" iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
	local srv=$!
	for _ in $(seq 50); do ip netns exec "$NB" ss -ltn | grep ':5301 ' >/dev/null && break; sleep 0.1; done
	j0=$(busy_jiffies)
	[ "$pid" != - ] && p0=$(proc_jiffies "$pid")
	ip netns exec "$NA" iperf3 -c "$addr" -p 5301 -t "$SECS" -J "$@" >"$out" 2>/dev/null || true
	j1=$(busy_jiffies)
	[ "$pid" != - ] && p1=$(proc_jiffies "$pid")
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
	tail -1 "$T/results" | awk '{v = ($4 > 0) ? $4 " CPU s/GB (switch)" : ""
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
# veth PREFIX ADDR-PREFIX: a veth pair per namespace, the host ends named
# PREFIX-a$id / PREFIX-b$id (up, no address), the namespace ends PREFIXa/b.
veth() {
	local s n
	for s in a b; do
		n=$NA
		[ $s = b ] && n=$NB
		ip link add "$1-$s$id" type veth peer name "${1}$s" netns "$n"
		ip link set "$1-$s$id" up
		ip -n "$n" link set "${1}$s" up
	done
	ip -n "$NA" addr add "$2.1/24" dev "${1}a"
	ip -n "$NB" addr add "$2.2/24" dev "${1}b"
}
setup_vifd_afp() {
	veth vfh 10.80.0
	"$B/src/vifctl/vifctl" --socket "$T/st/vifd.sock" add-port br0 fa type=afpacket tag=2 dev="vfh-a$id"
	"$B/src/vifctl/vifctl" --socket "$T/st/vifd.sock" add-port br0 fb type=afpacket tag=2 dev="vfh-b$id"
}
# Open vSwitch with DPDK, private to this run (own ovsdb-server, run
# directory and DPDK file prefix; never the system's instance).
setup_ovs() {
	local vsctl=(ovs-vsctl --db="unix:$T/ovs/db.sock" --timeout=20)
	[ -x "$OVS_VSWITCHD" ] && command -v ovsdb-server >/dev/null ||
		{ echo "tcp.sh: --ovs needs $OVS_VSWITCHD and ovsdb-server (apt-get install openvswitch-switch-dpdk)" >&2; exit 1; }
	export OVS_RUNDIR=$T/ovs OVS_DBDIR=$T/ovs OVS_LOGDIR=$T/ovs OVS_SYSCONFDIR=$T/ovs
	mkdir -p "$T/ovs"
	ovsdb-tool create "$T/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
	ovsdb-server "$T/ovs/conf.db" --remote="punix:$T/ovs/db.sock" --unixctl="$T/ovs/ovsdb.ctl" \
		--log-file="$T/ovs/ovsdb-server.log" >"$T/ovs/ovsdb.out" 2>&1 &
	OVSDB_PID=$!
	for _ in $(seq 100); do [ -S "$T/ovs/db.sock" ] && break; sleep 0.1; done
	"${vsctl[@]}" --no-wait init
	"${vsctl[@]}" --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		"other_config:dpdk-extra=--no-huge -m 1024 --legacy-mem --no-pci --file-prefix vbt$id -l 0" \
		other_config:pmd-cpu-mask=0x2 other_config:userspace-tso-enable=true
	"$OVS_VSWITCHD" "unix:$T/ovs/db.sock" --unixctl="$T/ovs/vswitchd.ctl" \
		--log-file="$T/ovs/vswitchd.log" >"$T/ovs/vswitchd.out" 2>&1 &
	OVS_PID=$!
	for _ in $(seq 600); do grep -q 'bridge|INFO|ovs-vswitchd' "$T/ovs/vswitchd.log" 2>/dev/null && break; sleep 0.1; done
	kill -0 "$OVS_PID" || { echo "tcp.sh: ovs-vswitchd-dpdk did not start (see $T/ovs/vswitchd.log)" >&2; exit 1; }
	grep -q 'Userspace TCP Segmentation Offloading support enabled' "$T/ovs/vswitchd.log" ||
		echo "  (ovs: its log does not say userspace TSO is enabled)"
	"${vsctl[@]}" add-br br0 -- set bridge br0 datapath_type=netdev
	veth voh 10.79.0
	"${vsctl[@]}" add-port br0 "voh-a$id" -- add-port br0 "voh-b$id"
	sleep 1
	grep -E 'vnet hdr|TSO' "$T/ovs/vswitchd.log" | sed 's/^/  (ovs log) /' || true
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
CASES=("vifd 10.77.0.2 $VIFD_PID" "bridge 10.78.0.2 -")
if [ "$OVS" = 1 ]; then
	setup_vifd_afp
	setup_ovs
	CASES+=("vifd-afp 10.80.0.2 $VIFD_PID" "ovs 10.79.0.2 $OVS_PID")
fi
sleep 1
if command -v ping >/dev/null; then PING=(ping); else PING=(busybox ping); fi
for c in "${CASES[@]}"; do
	set -- $c
	for _ in 1 2 3 4 5; do ip netns exec "$NA" "${PING[@]}" -c 1 -W 2 "$2" >/dev/null && break; done ||
		{ echo "tcp.sh: $1: no ping reply from $2" >&2; exit 1; }
done
: >"$T/results"
echo "TCP, 1 stream, $SECS s, $REPS runs each (alternating)"
for r in $(seq "$REPS"); do
	for c in "${CASES[@]}"; do
		set -- $c
		run "$1" "$2" "$3"
		if [ "$UDP" = 1 ]; then run "$1-udp" "$2" "$3" -u -l 1400 -b 0; fi
	done
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
print("| case | best Gbit/s | median Gbit/s | CPU s/GB (machine, median) | CPU s/GB (switch process, median) |")
print("|---|---:|---:|---:|---:|")
for c, v in rows.items():
    g = [x[0] for x in v]
    print(f"| {c} | {max(g):.2f} | {med(g):.2f} | {med([x[1] for x in v]):.2f} | "
          f"{med([x[2] for x in v if x[2]]) if any(x[2] for x in v) else 0:.2f} |")
for a, b in (("vifd", "bridge"), ("vifd-udp", "bridge-udp"), ("vifd", "ovs"),
             ("vifd-afp", "ovs"), ("vifd-udp", "ovs-udp"), ("vifd-afp-udp", "ovs-udp")):
    if a in rows and b in rows:
        ga = med([x[0] for x in rows[a]]); gb = med([x[0] for x in rows[b]])
        ca = med([x[1] for x in rows[a]]); cb = med([x[1] for x in rows[b]])
        print(f"\n{a}/{b}: {ga / gb if gb else 0:.2f}x Gbit/s (median), "
              f"{ca / cb if cb else 0:.2f}x machine CPU per GB")
PY
