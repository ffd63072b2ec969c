# common.sh - shared harness for tests/integration/*.sh (sourced, bash).
#
# Each test gets its own temp folder $T (sockets, logs, vifd state) and a
# cleanup trap that ends exactly the processes the test started (by PID),
# removes what it created and, on failure, prints the logs. Binaries come
# from the environment meson's test() sets: VIFD, VIFCTL, VIFBENCH.
set -euo pipefail
# Debian's own tools first, as on a fresh Debian 12 machine: a version
# manager's python3 shim in front of them costs most of a second per call,
# and the tests call python3 hundreds of times.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

: "${VIFD:?VIFD not set (run through meson test)}"
: "${VIFCTL:?VIFCTL not set}"
: "${VIFBENCH:=}"
T=$(mktemp -d /tmp/vifd-test.XXXXXX)
PIDS=()
CLEANUP_HOOKS=()
TEST_NAME=$(basename "$0" .sh)
VIFD_PID=

log() { echo "[$TEST_NAME] $*"; }

dump_logs() {
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "----- $f (last 40 lines)"
		tail -n 40 "$f" || true
	done
}

fail() {
	echo "[$TEST_NAME] FAIL: $*" >&2
	dump_logs >&2
	exit 1
}

cleanup() {
	local rc=$?
	set +e
	for h in "${CLEANUP_HOOKS[@]}"; do eval "$h"; done
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ -z "${KEEP:-}" ]; then dump_logs >&2; fi
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME CMD...: runs CMD in the background with output in $T/NAME.log.
bg() {
	local name=$1; shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	LAST_PID=$!
}

# start_vifd [ARGS]: starts vifd on $T/state and waits until it answers
# (a socket file left by a killed vifd is not enough).
start_vifd() {
	bg vifd "$VIFD" --state-dir "$T/state" "$@"
	VIFD_PID=$LAST_PID
	wait_for 10 "vifd control socket" vctl version
}

# forget_pid PID: the test reaped PID itself; cleanup must not signal it
# (the number may belong to someone else by then).
forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

vctl() { "$VIFCTL" --socket "$T/state/vifd.sock" "$@"; }

# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds.
wait_for() {
	local secs=$1 what=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}

vifd_alive() { kill -0 "$VIFD_PID" 2>/dev/null || fail "vifd died"; }

# jget JSON PYEXPR: evaluates a Python expression on the parsed JSON `j`.
jget() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# port_stat PORT FIELD: one counter of `vifctl -j stats` (drops.X for drops).
# (jq: the tests read counters thousands of times, python3 starts slowly)
port_stat() {
	vctl -j stats "$1" | jq -r --arg p "$1" ".ports[] | select(.name == \$p) | .$2"
}

# A DPDK app's runtime folder: one prefix per test so parallel runs never meet.
dpdk_prefix() { echo "vifdt$$$1"; }
dpdk_cleanup() { rm -rf "/var/run/dpdk/$1"; }

# port_info PORT FIELD: one field of the port in `vifctl -j show`
# (booleans as True/False, as jget prints them).
port_info() {
	vctl -j show | jq -r --arg p "$1" ".bridges[].ports[] | select(.name == \$p) | .$2 |
		if type == \"boolean\" then (if . then \"True\" else \"False\" end) else . end"
}

# live_rx_is PORT N: the port has N live guest receive rings.
live_rx_is() { [ "$(port_info "$1" live_rx)" = "$2" ]; }

# cpu_ticks PID: utime + stime in clock ticks (fields 14 and 15; the text
# after the ")" that ends the command name starts at field 3).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
