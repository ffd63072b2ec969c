#!/bin/bash
# demo.sh - vifd in one command: installs what is missing, builds, starts
# vifd with its embedded default (bridge br0, no config file), plugs two
# vhost-user ports into it and runs two libvif "guests" (vifbench) that send
# to each other in both directions, then measures round-trip latency. Prints
# what vifctl shows and what each guest counted, then stops and removes
# everything it started. Run as root on Debian 12, from anywhere:
#
#   sudo ./scripts/demo.sh
#
#   vifbench "guest A" 02:00:00:00:00:01 --a.sock--> vifd br0 <--b.sock-- vifbench "guest B" 02:00:00:00:00:02
#
# DEMO_SECONDS (default 5) sets how long the two-way stream runs,
# DEMO_RATE its frames/s per direction (default 10000, which a 2-core
# machine carries without loss while vifd and both guests share the cores;
# 0 = as fast as possible: expect vifd to drop what a receiver cannot take).
# bench/libvif-pair.sh measures forwarding rates properly.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=${DEMO_SECONDS:-5}
RATE=${DEMO_RATE:-10000}
BUILD=build
VIFD=$BUILD/src/vifd/vifd
VIFCTL_BIN=$BUILD/src/vifctl/vifctl
VIFBENCH=$BUILD/src/vifbench/vifbench
MAC_A=02:00:00:00:00:01
MAC_B=02:00:00:00:00:02

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

step "4. Add two vhost-user ports (vifd listens; a VM's QEMU or a libvif app connects)"
show add-port br0 a type=vhostuser path="$DIR/a.sock"
show add-port br0 b type=vhostuser path="$DIR/b.sock"

# ---- 3. traffic
if [ "$RATE" = 0 ]; then rate_txt="as fast as they can"; else rate_txt="$RATE frames/s each way"; fi
step "5. Two libvif guests send 60-byte frames to each other for ${SECONDS_RUN} s ($rate_txt)"
say "guest A ($MAC_A) on a.sock, guest B ($MAC_B) on b.sock: vifbench --mode both"
bg "$DIR/bench-b.log" "$VIFBENCH" --sock "$DIR/b.sock" --mode both --rate "$RATE" \
	--duration "$SECONDS_RUN" --src-mac $MAC_B --dst-mac $MAC_A
BENCH_B=$LAST_PID
bg "$DIR/bench-a.log" "$VIFBENCH" --sock "$DIR/a.sock" --mode both --rate "$RATE" \
	--duration "$SECONDS_RUN" --src-mac $MAC_A --dst-mac $MAC_B
BENCH_A=$LAST_PID
sleep $(((SECONDS_RUN + 1) / 2))
say "while the traffic runs:"
echo
show show
echo
show workers
wait "$BENCH_A" || die "guest A failed: $(tail -n 2 "$DIR/bench-a.log")"
wait "$BENCH_B" || die "guest B failed: $(tail -n 2 "$DIR/bench-b.log")"
echo
say "what the guests counted (pps = frames/s; 'ring full refusals': send attempts"
say "that found the guest's own transmit ring full, retried later):"
sed 's/^/   /' "$DIR/bench-a.log"
sed 's/^/   /' "$DIR/bench-b.log"

step "6. Latency: guest A pings, guest B echoes (one frame in flight)"
bg "$DIR/echo.log" "$VIFBENCH" --sock "$DIR/b.sock" --mode echo --src-mac $MAC_B --dst-mac $MAC_A
ECHO_PID=$LAST_PID
for _ in $(seq 100); do
	"$VIFCTL_BIN" -j show | python3 -c 'import json, sys
sys.exit(not any(p["name"] == "b" and p["live_rx"] for b in json.load(sys.stdin)["bridges"] for p in b["ports"]))' && break
	sleep 0.1
done
# A lost round trip (no answer within 1 s) fails vifbench but not the demo.
"$VIFBENCH" --sock "$DIR/a.sock" --mode ping --count 5000 --timeout 30 \
	--src-mac $MAC_A --dst-mac $MAC_B >"$DIR/ping.log" 2>&1 || true
grep -q '^ *ping: ' "$DIR/ping.log" || die "ping failed: $(tail -n 2 "$DIR/ping.log")"
kill -TERM "$ECHO_PID"
wait "$ECHO_PID" || true
sed -n 's/^ *ping: /   ping: /p' "$DIR/ping.log"

step "7. Per-port counters in vifd (RX = from the guest into vifd, TX = vifd to the guest)"
show stats

step "Done"
say "vifctl -j gives the same as JSON; vifctl help lists every command."
say "Stopping vifd and removing $DIR."
