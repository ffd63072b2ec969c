#!/bin/bash
# chaos.sh - a containment soak (issue 14): while a well-behaved stream
# flows a -> b, ports are added and removed at random, well-behaved guests
# connect and leave, and hostile guests run attacks picked at random from
# the hostile suite (tests/hostile: `--list` and `--list-containment`).
# At the end every extra port is gone and vifd must be back where it was:
#
#   - open fds equal to the baseline (taken with a and b connected, before
#     the chaos),
#   - threads equal to the baseline,
#   - RSS at most RSS_SLACK_KB above the baseline (default 16 MiB: malloc
#     arenas and page tables of threads that came and went, the stream's
#     buffers touched since),
#   - the a -> b stream never stalled longer than STALL_MS (default 1000;
#     b's receiver samples its rate every 100 ms, so the figure is a
#     multiple of 100 ms),
#   - vifd alive, the bystanders never stopped.
#
#   vifbench tx --a.sock--> vifd br0 --b.sock--> vifbench rx (100 ms timeline)
#                             ^  ^
#   churn: c0..c5 added/removed, vifbench guests, hostile attacks, set-port
#
# Usage: bench/chaos.sh [--duration S] [--seed N] [--rate PPS] [--keep]
#   --duration S   chaos time, default 600 (10 minutes); CI runs 60
#   --seed N       the random choices (default: the time); printed
#   --rate PPS     the a -> b stream (default 5000)
# Binaries: $VIFD $VIFCTL $VIFBENCH $HOSTILE, else BUILD (default build/).
# Exit 0 when every check passed; the last line is the summary.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
VIFD=${VIFD:-$B/src/vifd/vifd}
VIFCTL=${VIFCTL:-$B/src/vifctl/vifctl}
VIFBENCH=${VIFBENCH:-$B/src/vifbench/vifbench}
HOSTILE=${HOSTILE:-$B/tests/hostile}
DURATION=600
SEED=$(date +%s)
RATE=5000
KEEP=
STALL_MS=${STALL_MS:-1000}
RSS_SLACK_KB=${RSS_SLACK_KB:-16384}
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: $0 [--duration S] [--seed N] [--rate PPS] [--keep]" >&2; exit 2 ;;
	esac
done
RANDOM=$SEED
T=$(mktemp -d /tmp/vifd-chaos.XXXXXX)
PIDS=()
VPID=
say() { echo "[chaos] $*"; }
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ $rc -ne 0 ]; then
		echo "----- vifd.log (last 30 lines)" >&2
		tail -n 30 "$T/vifd.log" >&2
	fi
	[ -n "$KEEP" ] && echo "kept $T" || rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { say "FAIL: $*" >&2; exit 1; }
start() { # NAME CMD...: in the background, output in $T/NAME.log
	local name=$1; shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	LAST=$!
}
forget() { local k=() p; for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || k+=("$p"); done; PIDS=("${k[@]}"); }
ctl() { timeout 10 "$VIFCTL" --socket "$T/state/vifd.sock" "$@"; }
jq1() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
nfds() { ls "/proc/$VPID/fd" | wc -l; }
nthreads() { awk '/^Threads/ {print $2}' "/proc/$VPID/status"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$VPID/status"; }
closer_idle() { [ "$(ctl -j workers | jq1 "j['closer']['queued'] + j['closer']['stuck_now']")" = 0 ]; }
wait_until() { # SECONDS CMD...
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done
}

start vifd "$VIFD" --state-dir "$T/state" --workers 1
VPID=$LAST
wait_until 10 ctl version || die "vifd did not start"
ctl set-bridge br0 unknown-unicast=drop >/dev/null # churn traffic goes nowhere
ctl add-port br0 a type=vhostuser path="$T/a.sock"
ctl add-port br0 b type=vhostuser path="$T/b.sock"
# b only receives: its MAC would age out of the table after 300 s and a's
# frames to it would then be unknown unicast, dropped. A static entry.
ctl fdb-add b 02:00:00:00:00:02 >/dev/null
T0=$(date +%s.%N) # b's receiver's clock starts about now
start brx "$VIFBENCH" --sock "$T/b.sock" --mode rx --interval 0.1 \
	--duration $((DURATION + 60)) --src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01
BRX=$LAST
live() { [ "$(ctl -j show | jq1 "[p for b in j['bridges'] for p in b['ports'] if p['name']=='$1'][0]['live_rx']")" -ge 1 ]; }
wait_until 20 live b || die "b did not connect"
start atx "$VIFBENCH" --sock "$T/a.sock" --mode tx --rate "$RATE" \
	--duration $((DURATION + 60)) --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02
ATX=$LAST
wait_until 20 live a || die "a did not connect"
sleep 3 # every lazily made thing exists (the closer thread, the userfaultfd, epoll sets)
wait_until 20 closer_idle || die "closer busy before the chaos"
FD0=$(nfds) TH0=$(nthreads) RSS0=$(rss_kb)
say "seed $SEED, ${DURATION} s; baseline: $FD0 fds, $TH0 threads, RSS $RSS0 KiB"

mapfile -t CASES < <("$HOSTILE" --list | awk '{print $1}'; "$HOSTILE" --list-containment | awk '{print $1}')
declare -A PORT_UP=()     # churn port name -> 1
declare -A GUEST=()       # churn port name -> pid of its guest (vifbench or hostile)
NPORTS=6
acts=0 attacks=0 adds=0 dels=0 guests=0 sets=0

reap() { # forgets guests that have finished
	local p
	for p in "${!GUEST[@]}"; do
		if ! kill -0 "${GUEST[$p]}" 2>/dev/null; then
			wait "${GUEST[$p]}" 2>/dev/null
			forget "${GUEST[$p]}"
			unset "GUEST[$p]"
		fi
	done
}
stop_guest() { # PORT
	local g=${GUEST[$1]:-}
	[ -n "$g" ] || return 0
	kill -TERM "$g" 2>/dev/null
	for _ in $(seq 30); do kill -0 "$g" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$g" 2>/dev/null
	wait "$g" 2>/dev/null
	forget "$g"
	unset "GUEST[$1]"
}

end=$((SECONDS + DURATION))
while [ $SECONDS -lt $end ]; do
	reap
	kill -0 "$VPID" 2>/dev/null || die "vifd died"
	i=$((RANDOM % NPORTS)) p=c$((RANDOM % NPORTS))
	acts=$((acts + 1))
	now=$(echo "$(date +%s.%N) - $T0" | bc)
	case $((RANDOM % 10)) in
	0 | 1) # add a port
		if [ -z "${PORT_UP[$p]:-}" ]; then
			mode=server
			ctl add-port br0 "$p" type=vhostuser path="$T/$p.sock" >/dev/null 2>&1 &&
				PORT_UP[$p]=1 adds=$((adds + 1)) && echo "$now $p add-port" >>"$T/actions.txt"
		fi ;;
	2) # remove a port, whoever is attached
		if [ -n "${PORT_UP[$p]:-}" ]; then
			ctl del-port "$p" >/dev/null 2>&1 && unset "PORT_UP[$p]" && dels=$((dels + 1)) &&
				echo "$now $p del-port" >>"$T/actions.txt"
			stop_guest "$p"
		fi ;;
	3 | 4) # a well-behaved guest comes for a while
		if [ -n "${PORT_UP[$p]:-}" ] && [ -z "${GUEST[$p]:-}" ]; then
			start "g-$p" "$VIFBENCH" --sock "$T/$p.sock" --mode both --rate 2000 \
				--duration $((1 + RANDOM % 5)) --src-mac "02:00:00:00:0c:0$i" \
				--dst-mac 02:00:00:00:ee:ee
			GUEST[$p]=$LAST guests=$((guests + 1))
		fi ;;
	5 | 6 | 7) # a hostile guest
		if [ -n "${PORT_UP[$p]:-}" ] && [ -z "${GUEST[$p]:-}" ]; then
			c=${CASES[$((RANDOM % ${#CASES[@]}))]}
			start "h-$p" timeout 30 "$HOSTILE" --sock "$T/$p.sock" "$c"
			GUEST[$p]=$LAST attacks=$((attacks + 1))
			echo "$c" >>"$T/attacks.txt"
			echo "$now $p attack $c" >>"$T/actions.txt"
		fi ;;
	8) # a guest leaves abruptly
		[ -n "${GUEST[$p]:-}" ] && stop_guest "$p" ;;
	9) # policy churn (each one a publish)
		if [ -n "${PORT_UP[$p]:-}" ]; then
			ctl set-port "$p" ingress-rate=$(( (RANDOM % 100 + 1) ))mbit tag=$((RANDOM % 2 * 10)) \
				>/dev/null 2>&1 && sets=$((sets + 1))
		fi ;;
	esac
	sleep "0.$((RANDOM % 8 + 1))"
done

say "chaos over: $acts actions ($adds ports added, $dels removed, $guests guests, $attacks attacks, $sets set-port); cleaning up"
for p in "${!GUEST[@]}"; do stop_guest "$p"; done
for p in "${!PORT_UP[@]}"; do ctl del-port "$p" >/dev/null || die "del-port $p failed"; done
kill -0 "$VPID" 2>/dev/null || die "vifd died"
# Closes that were stuck (lingering sockets) return once their attacker is gone.
wait_until 30 closer_idle || die "the closer did not drain: $(ctl -j workers | jq1 "j['closer']")"
sleep 2
FD1=$(nfds) TH1=$(nthreads) RSS1=$(rss_kb)

# The stream: stop the sender first, then read b's timeline.
kill -TERM "$ATX"; wait "$ATX" 2>/dev/null; forget "$ATX"
sleep 1
kill -TERM "$BRX"; wait "$BRX" 2>/dev/null; forget "$BRX"
read -r STALL SAMPLES STALL_AT < <(awk '/^\[ *[0-9.]+s\] tx/ {
	for (i = 1; i <= NF; i++) if ($i == "rx") { r = $(i + 1); break }
	t = $0; sub(/^\[ */, "", t); sub(/s\].*/, "", t)
	n++; rx[n] = r + 0; ts[n] = t }
	END {
		first = 0; last = 0
		for (i = 1; i <= n; i++) if (rx[i] > 0) { if (!first) first = i; last = i }
		worst = 0; run = 0; at = 0
		for (i = first; i <= last && first; i++) {
			if (rx[i] == 0) { run++; if (run > worst) { worst = run; at = ts[i - run + 1] } } else run = 0
		}
		print worst * 100, last - first + 1, at
	}' "$T/brx.log")
for p in a b; do
	st=$(ctl -j stats "$p" | jq1 "j['ports'][0]['guest_stops']")
	[ "$st" = 0 ] || die "bystander $p was stopped"
done
stuck=$(ctl -j workers | jq1 "j['closer']['stuck']")
say "after: $FD1 fds (baseline $FD0), $TH1 threads ($TH0), RSS $RSS1 KiB ($RSS0, +$((RSS1 - RSS0)))"
say "a -> b: $SAMPLES samples of 100 ms, longest stall ${STALL} ms (bound $STALL_MS); closes found stuck: $stuck"
sort "$T/attacks.txt" 2>/dev/null | uniq -c | sort -rn | head -n 50 | sed 's/^/[chaos]   /'
ok=1
[ "$FD1" = "$FD0" ] || { say "FAIL: fds $FD0 -> $FD1"; ls -l "/proc/$VPID/fd" >&2; ok=; }
[ "$TH1" = "$TH0" ] || { say "FAIL: threads $TH0 -> $TH1"; ok=; }
[ $((RSS1 - RSS0)) -le "$RSS_SLACK_KB" ] || { say "FAIL: RSS grew by $((RSS1 - RSS0)) KiB"; ok=; }
[ "$SAMPLES" -ge $((DURATION * 5)) ] || { say "FAIL: the stream ran for only $SAMPLES samples"; ok=; }
if [ "$STALL" -gt "$STALL_MS" ]; then
	say "FAIL: the stream stalled for $STALL ms from t=${STALL_AT}s; chaos around it:"
	awk -v t="$STALL_AT" '$1 > t - 5 && $1 < t + 2 {print "[chaos]   t=" $0}' "$T/actions.txt" 2>/dev/null
	grep -E "broke|stuck|progress" "$T/vifd.log" | tail -n 10 | sed 's/^/[chaos]   /'
	ok=
fi
[ -n "$ok" ] || exit 1
say "PASS seed=$SEED duration=${DURATION}s fds $FD0->$FD1 threads $TH0->$TH1 rss_kb $RSS0->$RSS1 stall_ms $STALL attacks $attacks"
