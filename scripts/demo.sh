#!/bin/bash
# demo.sh - vifd in one command: installs what is missing, builds, starts
# vifd with its embedded default (bridge br0, no config file), attaches two
# network namespaces through tap ports and one libvif "guest" (vifbench)
# through a vhost-user port, pings between the namespaces, runs an iperf3
# TCP stream before and after limiting the sending namespace's port to
# 50 Mbit/s, prints vifctl's port table and counters, then stops and
# removes everything it started (vifd, the guest, the namespaces), also
# when interrupted. Run as root on Debian 12, from anywhere:
#
#   ./scripts/demo.sh        (as root)
#
#   netns vifdemo-a: vt-a 10.99.0.1 --tap a--+
#   netns vifdemo-b: vt-b 10.99.0.2 --tap b--+-- vifd br0
#   vifbench guest (sink) --vhost-user g.sock-+
#
# DEMO_SECONDS (default 5) sets how long each iperf3 stream runs.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=${DEMO_SECONDS:-5}
BUILD=build
VIFD=$BUILD/src/vifd/vifd
VIFCTL_BIN=$BUILD/src/vifctl/vifctl
VIFBENCH=$BUILD/src/vifbench/vifbench
NS_A=vifdemo-a
NS_B=vifdemo-b
MAC_G=02:00:00:00:00:99

bold=
plain=
if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
# show CMD...: prints a vifctl command line as a user would type it, then runs it.
show() { printf '%s$ vifctl %s%s\n' "$bold" "$*" "$plain"; "$VIFCTL_BIN" "$@"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# ---- cleanup: everything started here, by PID; the temp folder.
DIR=
PIDS=()
NETNS=()
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# The namespaces (and any iperf3 in them) go now, and the persistent taps vifd
	# made in them with them.
	for n in "${NETNS[@]}"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -n "$DIR" ] && [ -f "$DIR/vifd.log" ]; then
		echo "----- vifd log (last 20 lines)" >&2
		tail -n 20 "$DIR/vifd.log" >&2
	fi
	[ -n "$DIR" ] && rm -rf "$DIR"
	if [ $rc -ge 128 ]; then
		echo "demo: interrupted; everything it started was stopped" >&2
	elif [ $rc -ne 0 ]; then
		echo "demo: failed (exit $rc); everything it started was stopped" >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bg LOG CMD...: runs CMD in the background, output in LOG; PID in LAST_PID.
bg() {
	local out=$1; shift
	"$@" >"$out" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# ---- 1. dependencies and build
step "1. Dependencies (scripts/deps.sh installs only what is missing)"
./scripts/deps.sh
say "ok"

step "2. Build (meson + ninja, into ./$BUILD)"
if [ ! -f "$BUILD/build.ninja" ]; then
	# Same options as scripts/test.sh, so the suite can reuse this build.
	CC=${CC:-gcc} meson setup "$BUILD" --werror >/tmp/vifd-demo-setup.log 2>&1 ||
		{ cat /tmp/vifd-demo-setup.log; die "meson setup failed"; }
	rm -f /tmp/vifd-demo-setup.log
fi
ninja -C "$BUILD" >/dev/null || { ninja -C "$BUILD"; die "build failed"; }
say "ok: $VIFD, $VIFCTL_BIN, $VIFBENCH"

# ---- 2. vifd
DIR=$(mktemp -d /tmp/vifd-demo.XXXXXX)
export VIFD_SOCKET=$DIR/state/vifd.sock
step "3. Start vifd (embedded default: one bridge br0; state in $DIR/state)"
bg "$DIR/vifd.log" "$VIFD" --state-dir "$DIR/state"
VIFD_PID=$LAST_PID
for _ in $(seq 100); do
	"$VIFCTL_BIN" version >/dev/null 2>&1 && break
	kill -0 "$VIFD_PID" 2>/dev/null || die "vifd exited: $(tail -n 3 "$DIR/vifd.log")"
	sleep 0.1
done
"$VIFCTL_BIN" version >/dev/null 2>&1 || die "vifd does not answer on $VIFD_SOCKET"
say "vifd pid $VIFD_PID, control socket $VIFD_SOCKET"

for n in "$NS_A" "$NS_B"; do
	ip netns pids "$n" >/dev/null 2>&1 && die "network namespace $n exists already (another demo running?)"
done

step "4. Two network namespaces, each attached by a tap port vifd creates inside it"
for n in "$NS_A" "$NS_B"; do
	ip netns add "$n"
	NETNS+=("$n")
	ip -n "$n" link set lo up
done
say "ip netns add $NS_A; ip netns add $NS_B"
show add-port br0 a type=tap ifname=vt-a netns="$NS_A"
show add-port br0 b type=tap ifname=vt-b netns="$NS_B"
ip -n "$NS_A" addr add 10.99.0.1/24 dev vt-a
ip -n "$NS_B" addr add 10.99.0.2/24 dev vt-b
say "ip -n $NS_A addr add 10.99.0.1/24 dev vt-a; ip -n $NS_B addr add 10.99.0.2/24 dev vt-b"

step "5. And one libvif guest on a vhost-user port (vifbench as a sink: it sees the floods)"
show add-port br0 g type=vhostuser path="$DIR/g.sock"
bg "$DIR/guest.log" "$VIFBENCH" --sock "$DIR/g.sock" --mode rx --src-mac $MAC_G --json
GUEST_PID=$LAST_PID

step "6. Ping from $NS_A to $NS_B through vifd"
if command -v ping >/dev/null; then PING=(ping); else PING=(busybox ping); fi
ip netns exec "$NS_A" "${PING[@]}" -c 3 -W 2 10.99.0.2 || die "ping failed"

# stream LABEL: an iperf3 TCP stream from A to B; prints its rate.
stream() {
	bg "$DIR/iperf-srv.log" ip netns exec "$NS_B" iperf3 -s -1
	local srv=$LAST_PID
	for _ in $(seq 50); do
		ip netns exec "$NS_B" ss -ltn | grep ':5201 ' >/dev/null && break
		sleep 0.1
	done
	ip netns exec "$NS_A" iperf3 -c 10.99.0.2 -t "$SECONDS_RUN" -J >"$DIR/iperf.json" ||
		die "iperf3 failed: $(tail -n 3 "$DIR/iperf.json")"
	wait "$srv" 2>/dev/null || true
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))["end"]
print("   %s: %.1f Mbit/s received, %d retransmissions" % (sys.argv[2],
      j["sum_received"]["bits_per_second"] / 1e6, j["sum_sent"]["retransmits"]))' "$DIR/iperf.json" "$1"
}

step "7. iperf3 TCP from $NS_A to $NS_B for ${SECONDS_RUN} s"
stream "no limit"

step "8. Limit what $NS_A sends into the switch to 50 Mbit/s, and again"
show set-port a ingress-rate=50mbit
stream "ingress-rate=50mbit on port a"

step "9. The port table and the counters (RX = from the port into vifd, TX = vifd to the port)"
show show
echo
show stats
kill -TERM "$GUEST_PID"
wait "$GUEST_PID" || true
say "the guest received (bench frames / other frames, e.g. ARP and IPv6 floods):"
python3 -c 'import json, sys
j = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
print("   rx_bench=%s rx_other=%s" % (j.get("rx_bench"), j.get("rx_other")))' "$DIR/guest.log" ||
	sed 's/^/   /' "$DIR/guest.log"

step "Done"
say "vifctl -j gives the same as JSON; vifctl help lists every command."
say "Stopping vifd, the guest, the namespaces (its taps, persistent, go with them); removing $DIR."
