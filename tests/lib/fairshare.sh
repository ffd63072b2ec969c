# fairshare.sh - helpers of the fair-share scenarios (tests 091, 092),
# sourced after common.sh. The checks themselves: fairshare.py.

PY=$(command -v /usr/bin/python3 || command -v python3)  # (not through a slow shim)
FAIR="$PY $(dirname "${BASH_SOURCE[0]}")/fairshare.py"
log() { echo "[$TEST_NAME +${SECONDS}s] $*"; }

# all_live PORT...: every one of them has a live receive ring
all_live() {
	vctl -j show | $PY -c 'import json, sys
j = json.load(sys.stdin)
live = {p["name"]: p["live_rx"] for b in j["bridges"] for p in b["ports"]}
sys.exit(0 if all(live.get(n) == 1 for n in sys.argv[1:]) else 1)' "$@"
}

# moved FILE PORT...: vifd has taken frames from every one of them since
# the counters saved in FILE (vifctl -j stats)
moved() {
	local f=$1
	shift
	vctl -j stats | $PY -c 'import json, sys
now = {p["name"]: p["rx_pkts"] for p in json.load(sys.stdin)["ports"]}
then = {p["name"]: p["rx_pkts"] for p in json.load(open(sys.argv[1]))["ports"]}
sys.exit(0 if all(now[n] > then[n] for n in sys.argv[2:]) else 1)' "$f" "$@"
}

# stat_of PORT FIELD: one of the port's counters
stat_of() {
	vctl -j stats "$1" | $PY -c 'import json, sys
print([p for p in json.load(sys.stdin)["ports"] if p["name"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}

# dp_wait_ns: time vifd's datapath workers have spent runnable but waiting
# for a CPU (schedstat), summed, and the clock: "WAIT_NS NOW_NS"
dp_wait_ns() {
	local t c w sum=0
	for t in /proc/"$VIFD_PID"/task/*; do
		read -r c <"$t/comm" 2>/dev/null || continue
		case $c in vifd-dp*) ;; *) continue ;; esac
		read -r _ w _ <"$t/schedstat" 2>/dev/null || continue
		sum=$((sum + w))
	done
	echo "$sum $(date +%s%N)"
}

# waited "W0 T0" "W1 T1" WORKERS: the fraction of the time between the two
# dp_wait_ns readings that vifd's workers spent waiting for a CPU (0..1)
waited() {
	local w0 t0 w1 t1
	read -r w0 t0 <<<"$1"
	read -r w1 t1 <<<"$2"
	$PY -c "print(round(min(1.0, ($w1 - $w0) / max($t1 - $t0, 1) / $3), 3))"
}
# reap PID...: waits for runs started with bg (non-zero if one failed)
reap() {
	local rc=0 p
	for p in "$@"; do
		wait "$p" || rc=1
		forget_pid "$p"
	done
	return $rc
}

# stop_vifd: ends the vifd of start_vifd and forgets its state
stop_vifd() {
	kill -TERM "$VIFD_PID"
	wait "$VIFD_PID" || true
	forget_pid "$VIFD_PID"
	rm -rf "$T/state"
}
