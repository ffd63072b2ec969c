#!/bin/bash
# run.sh - vifd against DPDK testpmd (vhost io forwarding) and Open vSwitch
# with DPDK (NORMAL action), port to port, one datapath core, same generator,
# same cores, one run (issue 6). Details and how to read the figures:
# bench/README.md.
#
#   generator: dpdk-testpmd, 2 virtio-user ports, mac forwarding, CPU 0
#   switch:    vifd (1 worker, --cpus 1) | testpmd net_vhost io fwd (lcore on
#              CPU 1) | ovs-vswitchd-dpdk (pmd-cpu-mask CPU 1), 4 ports each
#              (p1,p2: throughput; p3,p4: latency probe)
#
# Usage: bench/run.sh [--smoke] [--switches vifd,testpmd,ovs] [--sizes "64 512 1518"]
#                     [--reps N] [--secs S] [--warmup S] [--no-latency] [--no-gencheck]
#                     [--out DIR] [--perf-record FILE] [--near-tries N]
#                     [--no-paced] [--paced-rates "1000 10000 100000"] [--paced-secs S]
# Binaries: $VIFD, $VIFCTL, $VIFBENCH (as meson test sets them) or $BUILD/...
# (default build/). Results: DIR (default bench/results): results.md,
# results.json, raw.csv, latency.csv, *.png, summary.txt.
set -euo pipefail
. "$(dirname "$0")/gen.sh"
ARGS="$*"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${BUILD:-$ROOT/build}
VIFD=${VIFD:-$B/src/vifd/vifd}
VIFCTL=${VIFCTL:-$B/src/vifctl/vifctl}
VIFBENCH=${VIFBENCH:-$B/src/vifbench/vifbench}
XCORE=${XCORE:-$B/tests/xcore}
OVS_VSWITCHD=${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}

SMOKE=0 SWITCHES=vifd,testpmd,ovs SIZES="64 512 1518" REPS=3 SECS=5 WARMUP=2
LATENCY=1 GENCHECK=1 OUT=$ROOT/bench/results PERF_RECORD= NEAR_TRIES=2
PACED=1 PACED_RATES="1000 10000 100000" PACED_SECS=5
GEN_CPU=0 SW_CPU=1
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) SMOKE=1 ;;
	--switches) SWITCHES=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--no-latency) LATENCY=0 ;;
	--no-gencheck) GENCHECK=0 ;;
	--out) OUT=$2; shift ;;
	--perf-record) PERF_RECORD=$2; shift ;;
	--near-tries) NEAR_TRIES=$2; shift ;;
	--no-paced) PACED=0 ;;
	--paced-rates) PACED_RATES=$2; shift ;;
	--paced-secs) PACED_SECS=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$SMOKE" = 1 ]; then
	SWITCHES=vifd SIZES=64 REPS=1 SECS=3 WARMUP=1 LATENCY=0 GENCHECK=0 NEAR_TRIES=1 PACED=0
fi
for x in "$VIFD" "$VIFCTL"; do [ -x "$x" ] || { echo "run.sh: $x missing (build first)" >&2; exit 1; }; done
command -v dpdk-testpmd >/dev/null || { echo "run.sh: dpdk-testpmd missing (scripts/deps.sh)" >&2; exit 1; }

T=$(mktemp -d /tmp/vifd-bench6.XXXXXX)
PFX="vb6$$"          # DPDK runtime folders /var/run/dpdk/$PFX*
PIDS=()              # every process this script started (killed by PID)
FDS=()
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ $rc -ne 0 ] && [ -n "${KEEP:-}" ] && { echo "run.sh: kept $T"; exit $rc; }
	rm -rf "$T" /var/run/dpdk/"$PFX"*
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "[bench] $*" >&2; }
# A sleep a signal interrupts at once (bash runs traps only between
# commands; `wait` is one it interrupts).
nap() { sleep "$1" & local p=$!; wait "$p" 2>/dev/null || true; }
forget() { local k=() p; for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || k+=("$p"); done; PIDS=("${k[@]}"); }
stop_pid() { # PID: TERM, wait, KILL
	local p=$1
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	forget "$p"
}
wait_for() { # SECONDS CMD...
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done
}

mkdir -p "$OUT"
RAW=$T/raw.csv LAT=$T/latency.csv PAC=$T/paced.csv META=$T/meta.env NOTES=$T/notes.txt
echo "switch,size,rep,secs,mpps,gen_rx_pps0,gen_rx_pps1,sw_busy_cyc_pkt,sw_cyc_src,sw_cpu_s,sw_cycles,sw_cycles_src,gen_cyc_pkt,gen_busy_pct,sw_busy_pct,sw_proc_cyc_pkt,foreign_pct,xcore_before_ns,xcore_after_ns,try" >"$RAW"
echo "switch,load,target_pps,load_pps,p50_us,p99_us,max_us,pings,ping_calls_per_reply,load_calls_per_frame" >"$LAT"
echo "switch,offered_pps,rx_pps,switch_core_pct,cpu_s,secs" >"$PAC"
: >"$NOTES"
note() { echo "$*" >>"$NOTES"; say "$*"; }

# ---- the machine, before anything of ours runs
# Nominal clock: the model name's "@ x.yGHz", else the kernel's cpu MHz (in
# a VM usually the TSC rate, the clock vifd's and testpmd's cycles count in).
HZ_MHZ=$(awk -F'@' '/model name/ && /GHz/ {gsub(/[^0-9.]/, "", $2); print int($2 * 1000); exit}' /proc/cpuinfo)
[ -n "$HZ_MHZ" ] || HZ_MHZ=$(awk -F': ' '/cpu MHz/ {print int($2 + 0.5); exit}' /proc/cpuinfo)
{
	echo "date=$(date -u +%FT%TZ)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "cpus=$(nproc)"
	echo "cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "nominal_mhz=$HZ_MHZ"
	echo "dpdk=$(dpkg-query -W -f='${Version}' dpdk 2>/dev/null || echo '?')"
	echo "ovs=$(dpkg-query -W -f='${Version}' openvswitch-switch-dpdk 2>/dev/null || echo 'not installed')"
	echo "vifd_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo "busiest=$(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{printf "%s(%s%%) ", $2, $1}')"
	printf 'smoke=%s\nreps=%s\nsecs=%s\nwarmup=%s\nsizes=%s\nswitches=%s\n' \
		"$SMOKE" "$REPS" "$SECS" "$WARMUP" "$SIZES" "$SWITCHES"
	echo "command=bench/run.sh $ARGS"
} >"$META"
# Bits per cycle need the switch's cycles: perf's cycle counter when this
# machine has one, else CPU time from /proc x the nominal clock.
if perf stat -x, -e cycles -- true 2>&1 | grep '^[0-9]' >/dev/null; then CYC_METHOD=perf; else CYC_METHOD=proc; fi
echo "cycles_method=$CYC_METHOD" >>"$META"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); switch cycles from $CYC_METHOD"

# ---- generator: dpdk-testpmd, commands through a FIFO
GEN_PID= GEN_FD= GEN_LOG= GEN_N=0
gen_start() { # SOCK1 SOCK2 SIZE [server]: virtio-user ports on CPU 0 (both lcores)
	GEN_N=$((GEN_N + 1))
	GEN_LOG=$T/gen$GEN_N.log
	mkfifo "$T/gen$GEN_N.in"
	exec {GEN_FD}<>"$T/gen$GEN_N.in"
	gen_args "$GEN_CPU" "$1" "$2" "$3" "${PFX}g$GEN_N" "${4:-}"
	stdbuf -oL "${GEN_ARGS[@]}" <&$GEN_FD >"$GEN_LOG" 2>&1 &
	GEN_PID=$!
	PIDS+=("$GEN_PID")
	wait_for 30 grep -q 'testpmd>' "$GEN_LOG" || { tail -20 "$GEN_LOG" >&2; return 1; }
}
gen_cmd() { echo "$*" >&$GEN_FD; }
gen_stop() {
	[ -n "$GEN_PID" ] || return 0
	gen_cmd stop; gen_cmd quit
	for _ in $(seq 50); do kill -0 "$GEN_PID" 2>/dev/null || break; sleep 0.1; done
	stop_pid "$GEN_PID"
	exec {GEN_FD}>&-
	rm -rf /var/run/dpdk/"${PFX}g$GEN_N"
	GEN_PID=
}
# Lines of LOG after the Nth occurrence of PATTERN's count at call time.
mark() { grep -c "$2" "$1" 2>/dev/null || true; }
wait_count() { # LOG PATTERN N: waits until PATTERN occurs more than N times
	local i
	for i in $(seq 100); do [ "$(mark "$1" "$2")" -gt "$3" ] && return 0; sleep 0.05; done
	return 1
}

# ---- switches: start, ports up, counters, stop
SW_PID= SW_KIND=
ANC_FD= ANC_LOG=
sw_start() { # KIND
	SW_KIND=$1
	case $1 in
	vifd)
		"$VIFD" --state-dir "$T/vifd" --workers 1 --cpus "$SW_CPU" --log-level warning \
			>"$T/vifd.log" 2>&1 &
		SW_PID=$!; PIDS+=("$SW_PID")
		wait_for 10 "$VIFCTL" --socket "$T/vifd/vifd.sock" version || return 1
		for p in 1 2 3 4; do
			"$VIFCTL" --socket "$T/vifd/vifd.sock" add-port br0 p$p type=vhostuser path="$T/p$p.sock" >/dev/null
		done
		SOCK_DIR=$T ;;
	testpmd)
		# net_vhost: testpmd is the vhost-user backend; io forwarding pairs
		# ports 0<->1 and 2<->3. Forwarding lcore on CPU 1, main (idle, reads
		# commands) on CPU 0.
		GEN_N=$((GEN_N + 1))
		mkfifo "$T/anc$GEN_N.in"
		exec {ANC_FD}<>"$T/anc$GEN_N.in"
		ANC_LOG=$T/anchor.log
		stdbuf -oL dpdk-testpmd --lcores "0@$GEN_CPU,1@$SW_CPU" --no-huge -m 1024 --no-pci \
			--file-prefix="${PFX}a" \
			--vdev "net_vhost0,iface=$T/p1.sock,queues=1" --vdev "net_vhost1,iface=$T/p2.sock,queues=1" \
			--vdev "net_vhost2,iface=$T/p3.sock,queues=1" --vdev "net_vhost3,iface=$T/p4.sock,queues=1" \
			-- -i --forward-mode=io --nb-cores=1 --total-num-mbufs=32768 --rxd=1024 --txd=1024 \
			--burst=32 --record-core-cycles --no-flush-rx <&$ANC_FD >"$ANC_LOG" 2>&1 &
		SW_PID=$!; PIDS+=("$SW_PID")
		wait_for 30 grep -q 'testpmd>' "$ANC_LOG" || return 1
		echo start >&$ANC_FD
		SOCK_DIR=$T ;;
	ovs)
		start_ovs || return 1 ;;
	esac
}
sw_ports_up() { # waits until the switch sees p1 and p2 connected
	case $SW_KIND in
	ovs) wait_for 60 ovs_up ;;
	*) sleep 0.5 ;;
	esac
}
sw_stop() {
	case $SW_KIND in
	testpmd)
		echo stop >&$ANC_FD; echo quit >&$ANC_FD; sleep 0.5
		stop_pid "$SW_PID"; exec {ANC_FD}>&-; rm -rf /var/run/dpdk/"${PFX}a" ;;
	ovs) stop_ovs ;;
	*) stop_pid "$SW_PID" ;;
	esac
	SW_PID=
}

# Open vSwitch with DPDK, private to this run: its own ovsdb-server,
# ovs-vswitchd, run/db/log directory and DPDK file prefix. Never the
# system's instance: every call names our socket or control file.
OVSDB_PID= OVS_PID=
ovs_env() { export OVS_RUNDIR=$T/ovs OVS_DBDIR=$T/ovs OVS_LOGDIR=$T/ovs OVS_SYSCONFDIR=$T/ovs; }
vsctl() { ovs-vsctl --db="unix:$T/ovs/db.sock" --timeout=20 "$@"; }
appctl() { ovs-appctl -t "$T/ovs/vswitchd.ctl" "$@"; }
start_ovs() {
	if [ ! -x "$OVS_VSWITCHD" ] || ! command -v ovsdb-server >/dev/null; then
		note "OVS-DPDK not run: $OVS_VSWITCHD or ovsdb-server missing (apt-get install openvswitch-switch-dpdk; scripts/deps.sh)"
		return 1
	fi
	ovs_env
	mkdir -p "$T/ovs"
	ovsdb-tool create "$T/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
	ovsdb-server "$T/ovs/conf.db" --remote="punix:$T/ovs/db.sock" --unixctl="$T/ovs/ovsdb.ctl" \
		--log-file="$T/ovs/ovsdb-server.log" >"$T/ovs/ovsdb.out" 2>&1 &
	OVSDB_PID=$!; PIDS+=("$OVSDB_PID")
	wait_for 10 test -S "$T/ovs/db.sock" || return 1
	vsctl --no-wait init
	# --no-huge needs --legacy-mem, and --legacy-mem keeps OVS from adding
	# --in-memory (incompatible); main lcore on CPU 0, one pmd on CPU 1.
	vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		"other_config:dpdk-extra=--no-huge -m 1536 --legacy-mem --no-pci --file-prefix ${PFX}o -l $GEN_CPU" \
		other_config:pmd-cpu-mask=$(printf '0x%x' $((1 << SW_CPU)))
	"$OVS_VSWITCHD" "unix:$T/ovs/db.sock" --unixctl="$T/ovs/vswitchd.ctl" \
		--log-file="$T/ovs/vswitchd.log" >"$T/ovs/vswitchd.out" 2>&1 &
	OVS_PID=$!; PIDS+=("$OVS_PID")
	SW_PID=$OVS_PID
	if ! wait_for 60 ovs_ready || ! kill -0 "$OVS_PID" 2>/dev/null; then
		note "OVS-DPDK not run: ovs-vswitchd-dpdk did not start: $(grep -m1 -E 'ERR|EMER' "$T/ovs/vswitchd.log" | cut -d'|' -f5-)"
		return 1
	fi
	vsctl add-br br0 -- set bridge br0 datapath_type=netdev || return 1
	for p in 1 2 3 4; do
		# dpdkvhostuser: OVS serves the socket in OVS_RUNDIR (deprecated
		# type, still in 3.1), so the generator's command line is the same
		# for every switch.
		vsctl add-port br0 p$p.sock -- set Interface p$p.sock type=dpdkvhostuser || return 1
	done
	grep -q 'dpdk|EMER\|Cannot init EAL' "$T/ovs/vswitchd.log" && return 1
	kill -0 "$OVS_PID" 2>/dev/null || return 1
	SOCK_DIR=$T/ovs
}
# Up once DPDK initialised and the bridge module logged its version; or dead.
ovs_ready() { ! kill -0 "$OVS_PID" 2>/dev/null || grep -q 'bridge|INFO|ovs-vswitchd' "$T/ovs/vswitchd.log"; }
ovs_up() { # [PORT...] (default p1 p2): link_state up
	local p
	for p in "${@:-1 2}"; do
		for p in $p; do [ "$(vsctl get Interface "p$p.sock" link_state)" = up ] || return 1; done
	done
}
stop_ovs() {
	[ -n "$OVS_PID" ] && { appctl exit >/dev/null 2>&1 || true; stop_pid "$OVS_PID"; }
	[ -n "$OVSDB_PID" ] && stop_pid "$OVSDB_PID"
	OVS_PID= OVSDB_PID=
	rm -rf /var/run/dpdk/"${PFX}o"
}

# Per-thread CPU ns of a process (sum of /proc/PID/task/*/schedstat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
# Jiffies CPU N was busy (anyone), from /proc/stat: "busy total".
core_jiffies() { awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# Busy cycles and packets of the switch's datapath core, its own accounting.
sw_counters() { # -> "busy_cycles idle_cycles pkts"
	case $SW_KIND in
	vifd) "$VIFCTL" --socket "$T/vifd/vifd.sock" -j workers |
		python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"][0]; print(w["busy_cycles"], w["idle_cycles"], w["pkts"])' ;;
	ovs) appctl dpif-netdev/pmd-stats-show | awk '
		/pmd thread/ {on=1} /main thread/ {on=0}
		on && /packets received:/ {p=$3} on && /idle cycles:/ {i=$3} on && /processing cycles:/ {b=$3}
		END {printf "%.0f %.0f %.0f\n", b, i, p}' ;;
	testpmd) echo "0 0 0" ;; # from the forwarding stats at "stop"
	esac
}
# testpmd's --record-core-cycles line after the last "stop": "cycles packets".
tp_cycles() {
	grep -a 'CPU cycles/packet' "$1" | tail -1 |
		sed -E 's/.*cycles=([0-9]+) \/ total [a-z0-9]+ packets=([0-9]+)\).*/\1 \2/'
}
# testpmd's Rx-pps of both ports in the last "show port stats all".
tp_pps() { grep -a 'Rx-pps:' "$1" | tail -2 | awk '{printf "%s ", $2}'; }

# ---- the closed loop: 16 bursts of 32 frames per port sent once
# (tx_first); they circulate generator -> switch -> generator from then on,
# across stop/start. If the switch was not ready for them, none come back:
# try again.
prime() {
	local i n pps
	for i in 1 2 3 4 5; do
		gen_cmd "start tx_first 16"
		sleep 1
		n=$(mark "$GEN_LOG" 'Rx-pps:')
		gen_cmd "show port stats all"
		wait_count "$GEN_LOG" 'Rx-pps:' "$n" || true
		sleep 0.2
		pps=$(tp_pps "$GEN_LOG")
		n=$(mark "$GEN_LOG" 'CPU cycles/packet')
		gen_cmd stop
		wait_count "$GEN_LOG" 'CPU cycles/packet' "$n" || true
		[ "$(echo "$pps" | awk '{print ($1 + $2 > 0)}')" = 1 ] && return 0
		say "generator: no frames came back (try $i), sending again"
		sleep 1
	done
	return 1
}

# The vCPUs' placement: how long a cache line takes from the generator's
# CPU to the switch's (bench/xcore.c). The host moves this VM's two vCPUs
# between cores that share a cache (~25 ns) and cores that do not (~170
# ns), and every switch here slows down 2-3x on the second, so each window
# is measured before and after and the report compares like with like.
# "busy": the probe ran but both CPUs were too busy for it to see anything.
xcore_ns() {
	local r=0
	[ -x "$XCORE" ] || { echo ""; return; }
	"$XCORE" "$GEN_CPU" "$SW_CPU" 30 2>/dev/null || r=$?
	case $r in 0) ;; 3) echo busy ;; *) echo "" ;; esac
}
# Whether the last window ran wholly near (or no probe: nothing to retry).
last_near() {
	[ -x "$XCORE" ] || return 0
	tail -1 "$RAW" | awk -F, '{exit !($18 != "" && $19 != "" && $18 < 60 && $19 < 60)}'
}

# ---- one throughput measurement: generator connected and primed
measure() { # SWITCH SIZE REP
	local sw=$1 sz=$2 rep=$3 c0 c1 j0 j1 n0 perf_out="" t0 t1 a b gcyc gpk x0 x1
	x0=$(xcore_ns)
	gen_cmd start
	t0=$(date +%s.%N)
	nap "$WARMUP"
	n0=$(mark "$GEN_LOG" 'Rx-pps:')
	gen_cmd "show port stats all"
	[ "$SW_KIND" = testpmd ] && { echo stop >&$ANC_FD; echo start >&$ANC_FD; }
	# OVS: counters cleared (the pmd applies it on its next iteration), so
	# the window's figures are the absolute ones at its end.
	if [ "$SW_KIND" = ovs ]; then appctl dpif-netdev/pmd-stats-clear >/dev/null; a="0 0 0"; else a=$(sw_counters); fi
	c0=$(cpu_ns "$SW_PID"); j0=$(core_jiffies "$SW_CPU")
	if [ "$CYC_METHOD" = perf ]; then
		perf_out=$(perf stat -x, -e cycles -p "$SW_PID" -- sleep "$SECS" 2>&1 | awk -F, '/cycles/ {print $1; exit}')
	else
		nap "$SECS"
	fi
	n0=$(mark "$GEN_LOG" 'Rx-pps:')
	gen_cmd "show port stats all"
	b=$(sw_counters); c1=$(cpu_ns "$SW_PID"); j1=$(core_jiffies "$SW_CPU")
	local nanc=0
	if [ "$SW_KIND" = testpmd ]; then
		nanc=$(mark "$ANC_LOG" 'CPU cycles/packet')
		echo stop >&$ANC_FD
		wait_count "$ANC_LOG" 'CPU cycles/packet' "$nanc" || true
		b=$(tp_cycles "$ANC_LOG")
		echo start >&$ANC_FD
	fi
	wait_count "$GEN_LOG" 'Rx-pps:' "$n0" || { say "no stats from the generator"; return 1; }
	sleep 0.2
	local pps; pps=$(tp_pps "$GEN_LOG")
	n0=$(mark "$GEN_LOG" 'CPU cycles/packet')
	gen_cmd stop
	wait_count "$GEN_LOG" 'CPU cycles/packet' "$n0" || true
	t1=$(date +%s.%N)
	read -r gcyc gpk <<<"$(tp_cycles "$GEN_LOG")"
	x1=$(xcore_ns)
	python3 - "$sw" "$sz" "$rep" "$SECS" "$pps" "$a" "$b" "$c0" "$c1" "$perf_out" "$HZ_MHZ" \
		"$gcyc" "$gpk" "$t0" "$t1" "$SW_KIND" "$j0" "$j1" "$(getconf CLK_TCK)" "$x0" "$x1" "${TRY:-1}" \
		>>"$RAW" <<'PY'
import sys
sw, sz, rep, secs, pps, a, b, c0, c1, perf, mhz, gcyc, gpk, t0, t1, kind, j0, j1, tck, x0, x1, tr = sys.argv[1:]
secs = float(secs); hz = float(mhz) * 1e6
p0, p1 = (float(x) for x in pps.split()[:2])
mpps = (p0 + p1) / 1e6
if kind == 'testpmd':                 # "cycles packets" of the anchor's window
    bc, pk = (int(x) for x in b.split()); ic = 0
else:
    a = [int(float(x)) for x in a.split()]; b = [int(float(x)) for x in b.split()]
    bc, ic, pk = b[0] - a[0], b[1] - a[1], b[2] - a[2]
busy = bc / pk if pk else float('nan')
src = {'vifd': 'vifctl workers', 'ovs': 'pmd-stats-show', 'testpmd': 'record-core-cycles'}[kind]
busy_pct = 100.0 * bc / (secs * hz) if kind == 'testpmd' else (100.0 * bc / (bc + ic) if bc + ic else float('nan'))
cpu_s = (int(c1) - int(c0)) / 1e9
if perf:
    cycles, csrc = float(perf), 'perf'
else:
    cycles, csrc = cpu_s * hz, 'proc'
gcyc, gpk = int(gcyc or 0), int(gpk or 0)
gen_cyc = gcyc / gpk if gpk else float('nan')
gen_pct = 100.0 * gcyc / ((float(t1) - float(t0)) * hz)
# CPU 1's busy time not spent by the switch process: someone else's load on
# the switch's core during the window (a shared machine).
jb0, jt0 = (int(x) for x in j0.split()); jb1, jt1 = (int(x) for x in j1.split())
core_s = (jt1 - jt0) / float(tck)
foreign = 100.0 * max(0.0, (jb1 - jb0) / float(tck) - cpu_s) / core_s if core_s > 0 else float('nan')
proc_cyc = cycles / (mpps * 1e6 * secs) if mpps > 0 else float('nan')
print(f"{sw},{sz},{rep},{secs},{mpps:.4f},{p0:.0f},{p1:.0f},{busy:.1f},{src},{cpu_s:.3f},{cycles:.0f},{csrc},{gen_cyc:.1f},{gen_pct:.1f},{busy_pct:.1f},{proc_cyc:.1f},{foreign:.1f},{x0},{x1},{tr}")
PY
	tail -1 "$RAW" | awk -F, '{printf "[bench] %-8s %5s B rep %s: %7.3f Mpps, %6s busy cycles/pkt (%s), %s process cycles/pkt, generator %s cycles/pkt %s%% busy, others on CPU %s%%, CPU-to-CPU line %s/%s ns\n", $1, $2, $3, $5, $8, $9, $16, $13, $14, $17, $18, $19}' >&2
	awk -F, 'END {exit !($5 > 0)}' "$RAW"
}

# ---- latency: vifbench ping on p3 <-> echo on p4, idle and with load
# p1 (vifbench both, paced) <-> echo on p2 at half the measured maximum.
vb() { # NAME ARGS...: a vifbench on the generator's CPU
	taskset -c "$GEN_CPU" "$VIFBENCH" "$@" >"$T/$VB_NAME.out" 2>&1 &
	VB_PID=$!; PIDS+=("$VB_PID")
}
latency() { # SWITCH MAX_MPPS
	local sw=$1 max=$2 load target e1 e2 l pg
	[ -x "$VIFBENCH" ] || { note "latency skipped: vifbench missing"; return 0; }
	for load in idle half; do
		target=0
		VB_NAME=echo4 vb --sock "$SOCK_DIR/p4.sock" --mode echo --src-mac 02:00:00:00:00:04 --duration 9; e2=$VB_PID
		if [ "$load" = half ]; then
			# Frames through the switch = 2 x the sender's rate (echoed back).
			target=$(python3 -c "print(int($max * 1e6 / 2))")
			VB_NAME=echo2 vb --sock "$SOCK_DIR/p2.sock" --mode echo --src-mac 02:00:00:00:00:02 --duration 9; e1=$VB_PID
			sleep 0.5
			VB_NAME=load vb --sock "$SOCK_DIR/p1.sock" --mode both --rate $((target / 2)) --size 60 \
				--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --ring-size 1024 \
				--duration 8 --warmup 2 --json; l=$VB_PID
		fi
		sleep 1
		if [ "$SW_KIND" = ovs ]; then
			wait_for 30 ovs_up 4 $([ "$load" = half ] && echo 1 2) || note "ovs: latency ports not up"
		fi
		VB_NAME=ping vb --sock "$SOCK_DIR/p3.sock" --mode ping --rate 2000 --size 60 \
			--src-mac 02:00:00:00:00:03 --dst-mac 02:00:00:00:00:04 --duration 5 --json; pg=$VB_PID
		wait "$pg" || true; forget "$pg"
		[ "$load" = half ] && { wait "$l" || true; forget "$l"; stop_pid "$e1"; }
		stop_pid "$e2"
		python3 - "$sw" "$load" "$target" "$T/ping.out" "$T/load.out" >>"$LAT" <<'PY'
import json, sys
sw, load, target, pf, lf = sys.argv[1:]
def last(f):
    try:
        return json.loads([l for l in open(f) if l.startswith('{')][-1])
    except Exception:
        return None
p = last(pf) or {}
lp, lc = 0.0, 'nan'
if load == 'half':
    j = last(lf) or {}
    lp = 2 * (j.get('rx_pps') or 0)   # frames/s through the switch, both ways
    if j.get('rx_pkts'):
        lc = f"{j.get('rx_calls', 0) / j['rx_pkts']:.4f}"
# Calls (receive notifications) the pinger and the loaded receiver woke
# on, per frame they received: the switch's interrupt moderation as the
# guest sees it, the same measure for every switch.
pc = f"{p.get('rx_calls', 0) / p['ping_recv']:.4f}" if p.get('ping_recv') else 'nan'
print(f"{sw},{load},{target},{lp:.0f},{p.get('rtt_p50_us', 'nan')},{p.get('rtt_p99_us', 'nan')},{p.get('rtt_max_us', 'nan')},{p.get('ping_recv', 0)},{pc},{lc}")
PY
		grep -q '"ping_recv"' "$T/ping.out" 2>/dev/null ||
			note "$sw latency $load: vifbench ping failed: $(tail -2 "$T/ping.out" | tr '\n' ' ')"
		rm -f "$T/load.out"
		tail -1 "$LAT" | awk -F, '{printf "[bench] %-8s latency %-4s (load %s pps): p50 %s us p99 %s us, calls per reply %s, per loaded frame %s\n", $1, $2, $4, $5, $6, $9, $10}' >&2
	done
}

# ---- paced: the switch's CPU for a light load (vifbench tx on p1 paced
# at each rate, a receiver on p2 that sleeps on notifications like a
# guest), from the switch process's schedstat over the stream.
paced() { # SWITCH
	local sw=$1 r c0 c1 t0 t1 rx tx
	for r in $PACED_RATES; do
		VB_NAME=prx vb --sock "$SOCK_DIR/p2.sock" --mode rx --duration $((PACED_SECS + 60)) --idle-end 1 \
			--src-mac 02:00:00:00:00:02 --json; rx=$VB_PID
		sleep 1
		c0=$(cpu_ns "$SW_PID") t0=$(date +%s%N)
		VB_NAME=ptx vb --sock "$SOCK_DIR/p1.sock" --mode tx --size 60 --rate "$r" --duration "$PACED_SECS" \
			--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 --json; tx=$VB_PID
		wait "$tx" || true; forget "$tx"
		c1=$(cpu_ns "$SW_PID") t1=$(date +%s%N)
		wait "$rx" || true; forget "$rx"
		python3 - "$sw" "$r" "$T/prx.out" "$((c1 - c0))" "$((t1 - t0))" >>"$PAC" <<'PY'
import json, sys
sw, r, rf, c, t = sys.argv[1:]
try:
    j = json.loads([l for l in open(rf) if l.startswith('{')][-1])
except Exception:
    j = {}
print(f"{sw},{r},{j.get('rx_pps', 0):.0f},{100 * int(c) / int(t):.2f},{int(c) / 1e9:.3f},{int(t) / 1e9:.3f}")
PY
		tail -1 "$PAC" | awk -F, '{printf "[bench] %-8s paced %6s pps: received %s pps, switch %s%% of a core (%s CPU s in %s s)\n", $1, $2, $3, $4, $5, $6}' >&2
	done
}

# ---- generator check: which generator drives the fastest switch harder
gencheck() {
	say "generator check: testpmd vs vifbench against testpmd io forwarding, 64 B"
	sw_start testpmd || return 0
	gen_start "$SOCK_DIR/p1.sock" "$SOCK_DIR/p2.sock" 64
	sleep 0.5
	prime && measure gencheck-testpmd 64 1 || true
	gen_stop
	if [ -x "$VIFBENCH" ]; then
		VB_NAME=vbrx vb --sock "$SOCK_DIR/p2.sock" --mode rx --busy-poll --ring-size 1024 \
			--src-mac 02:00:00:00:00:02 --duration $((SECS + WARMUP + 1)) --warmup "$WARMUP" --json
		local rx=$VB_PID
		sleep 0.5
		VB_NAME=vbtx vb --sock "$SOCK_DIR/p1.sock" --mode tx --size 60 --ring-size 1024 \
			--dst-mac 02:00:00:00:00:02 --duration $((SECS + WARMUP)) --warmup "$WARMUP" --json
		wait "$VB_PID" || true; forget "$VB_PID"; wait "$rx" || true; forget "$rx"
		python3 - "$T/vbtx.out" "$T/vbrx.out" <<'PY' >>"$NOTES"
import json, sys
last = lambda f: json.loads([l for l in open(f) if l.startswith('{')][-1])
tx, rx = last(sys.argv[1]), last(sys.argv[2])
print(f"gencheck vifbench: tx {tx['tx_pps']/1e6:.3f} Mpps offered, rx {rx['rx_pps']/1e6:.3f} Mpps delivered (one direction, sender + receiver processes on CPU 0)")
PY
	fi
	sw_stop
	tail -1 "$NOTES" >&2
}

# ---- perf profile of vifd's worker (optional, 64 B)
profile_vifd() {
	[ -n "$PERF_RECORD" ] || return 0
	local tid
	tid=$(grep -l '^vifd-dp' /proc/"$SW_PID"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
	[ -n "$tid" ] || tid=$SW_PID
	gen_cmd start
	sleep 1
	perf record -e cpu-clock -F 2000 -g -t "$tid" -o "$PERF_RECORD" -- sleep "$SECS" >/dev/null 2>&1 </dev/null ||
		note "perf record failed"
	gen_cmd stop
	sleep 0.5
}

# ---- the run: round-robin. Each round starts every switch afresh and
# measures every size once, so a change in the machine's other load during
# the run falls on all switches alike (the repetitions are the rounds).
START=$SECONDS
IFS=, read -ra SWL <<<"$SWITCHES"
[ "$GENCHECK" = 1 ] && gencheck
declare -A BROKEN
for rep in $(seq "$REPS"); do
	for sw in "${SWL[@]}"; do
		[ -z "${BROKEN[$sw]:-}" ] || continue
		say "=== round $rep/$REPS: $sw"
		rm -rf "$T/ovs" "$T/vifd" "$T"/p[1-4].sock
		if ! sw_start "$sw"; then
			note "$sw: did not start; skipped"
			BROKEN[$sw]=1
			[ -n "${SW_PID:-}" ] && sw_stop
			[ "$sw" = ovs ] && stop_ovs
			continue
		fi
		for sz in $SIZES; do
			if ! gen_start "$SOCK_DIR/p1.sock" "$SOCK_DIR/p2.sock" "$sz"; then
				note "$sw $sz B: generator did not start"; gen_stop; continue
			fi
			sw_ports_up || note "$sw: ports not up after 60 s"
			sleep 0.5
			prime || note "$sw $sz B round $rep: no frame came back through the switch"
			# A window on the far (or a changing) placement is measured
			# again, up to NEAR_TRIES windows: the report's like-with-like
			# tables need every switch on the near one.
			for TRY in $(seq "$NEAR_TRIES"); do
				measure "$sw" "$sz" "$rep" || { note "$sw $sz B round $rep: no rate"; break; }
				last_near && break
				[ "$TRY" -lt "$NEAR_TRIES" ] && say "$sw $sz B: vCPUs not near during the window: again"
			done
			[ "$sw" = vifd ] && [ "$sz" = 64 ] && [ "$rep" = 1 ] && profile_vifd
			gen_stop
		done
		if [ "$LATENCY" = 1 ] && [ "$rep" = "$REPS" ]; then
			m=$(awk -F, -v s="$sw" '$1 == s && $2 == 64 {print $5}' "$RAW" | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}')
			latency "$sw" "$m"
		fi
		[ "$PACED" = 1 ] && [ "$rep" = "$REPS" ] && paced "$sw"
		sw_stop
	done
done
echo "elapsed_s=$((SECONDS - START))" >>"$META"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$META"
cp "$RAW" "$OUT/raw.csv"
cp "$LAT" "$OUT/latency.csv"
cp "$PAC" "$OUT/paced.csv"
cp "$META" "$OUT/meta.env"
cp "$NOTES" "$OUT/notes.txt"
# bench/report.py can be run again on these five files.
python3 "$HERE/report.py" --meta "$OUT/meta.env" --notes "$OUT/notes.txt" --raw "$OUT/raw.csv" \
	--latency "$OUT/latency.csv" --paced "$OUT/paced.csv" --out "$OUT" $([ "$SMOKE" = 1 ] && echo --no-plots)
