#!/bin/bash
# 084-operator-tools: what an operator reaches for first, each checked
# against vifd itself:
#  - vifd --version / vifctl version agree with meson's project version;
#  - log-level shows and sets the level at once (the change and then debug
#    lines appear in vifd's log), is refused for a bad name, not persisted;
#  - stats --reset: stats starts from 0 while the Prometheus counters go
#    on growing (never back);
#  - fdb-flush empties learned entries (of a port, of a VLAN, all), keeps
#    static ones;
#  - --may-exist / --if-exists exit codes, a type clash on --may-exist;
#  - type=vhost-user is vhostuser; a missing bridge is named as such;
#  - show fits 100 columns with 20 ports ($COLUMNS unset), names offloads
#    and policy in words;
#  - process_* and vifd_port_info metrics, with HELP and TYPE.
#
#   vifbench tx (src 02:..:0a) --a.sock--> vifd br0 <--b.sock-- vifbench tx (src 02:..:0b)
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
T0=$(date +%s)
start_vifd --metrics-port "$MPORT" --log-level info
metrics() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "http://127.0.0.1:$MPORT/metrics"; }
# rc CMD...: the exit status of CMD (stdout and stderr in $T/rc.out).
rc() { local r=0; "$@" >"$T/rc.out" 2>&1 || r=$?; echo "$r"; }

# ---- versions ----
# Meson's project version, from the source tree this test belongs to.
MESON_VERSION=$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" "$(dirname "$0")/../../meson.build" | head -n 1)
[ -n "$MESON_VERSION" ] || fail "cannot read the project version from meson.build"
[ "$("$VIFD" --version)" = "vifd $MESON_VERSION" ] || fail "vifd --version: $("$VIFD" --version)"
[ "$("$VIFD" -V)" = "vifd $MESON_VERSION" ] || fail "vifd -V: $("$VIFD" -V)"
[ "$("$VIFCTL" --version)" = "vifctl $MESON_VERSION" ] || fail "vifctl --version: $("$VIFCTL" --version)"
V=$(vctl version)
[ "$V" = "vifctl $MESON_VERSION
vifd $MESON_VERSION" ] || fail "vifctl version: $V"
"$VIFD" --help | grep -- '--version' >/dev/null || fail "vifd --help does not list --version"
log "versions: vifd and vifctl $MESON_VERSION"

# ---- log level ----
[ "$(vctl log-level)" = info ] || fail "log-level shows $(vctl log-level), want info"
out=$(vctl log-level debug)
grep 'not persisted' <<<"$out" >/dev/null || fail "log-level does not say it is not persisted: $out"
[ "$(vctl log-level)" = debug ] || fail "log-level debug did not stick"
[ "$(vctl -j log-level | jq -r .level)" = debug ] || fail "-j log-level"
wait_for 5 "the level change in vifd's log" grep 'log level debug (was info)' "$T/vifd.log"
[ "$(rc vctl log-level loud)" = 1 ] || fail "log-level loud accepted"
grep 'level must be err, warning, info or debug' "$T/rc.out" >/dev/null ||
	fail "log-level loud: $(cat "$T/rc.out")"
[ "$(rc vctl log-level notice)" = 1 ] || fail "log-level notice accepted"
# Lowered to err, info lines (stats-reset logs one) vanish.
vctl log-level err >/dev/null
vctl stats --reset
sleep 0.2
! grep 'stats of every port reset' "$T/vifd.log" >/dev/null ||
	fail "an info line was logged at level err"
grep 'log level err (was debug)' "$T/vifd.log" >/dev/null || fail "lowering the level is not logged"
vctl log-level info >/dev/null
vctl stats --reset
wait_for 5 "an info line at level info" grep 'stats of every port reset' "$T/vifd.log"
log "log-level: shown, set at once, logged both ways, bad names refused"

# ---- ports: alias, missing bridge, may-exist / if-exists ----
vctl add-port br0 a type=vhost-user path="$T/a.sock"
[ "$(port_info a type)" = vhostuser ] || fail "type=vhost-user shows as $(port_info a type)"
[ "$(rc vctl add-port b type=vhostuser path="$T/b.sock")" = 2 ] || fail "missing bridge: exit $(cat "$T/rc.out")"
grep 'bridge is missing' "$T/rc.out" >/dev/null || fail "missing bridge message: $(cat "$T/rc.out")"
! grep 'type= is required' "$T/rc.out" >/dev/null || fail "missing bridge still says type= is required"
[ "$(rc vctl add-port type=tap ifname=x)" = 2 ] || fail "missing bridge and name: exit $(cat "$T/rc.out")"
grep "the bridge and the port's name are missing" "$T/rc.out" >/dev/null ||
	fail "missing bridge and name message: $(cat "$T/rc.out")"
vctl add-port br0 b type=vhostuser path="$T/b.sock"
[ "$(rc vctl add-port br0 a type=vhostuser path="$T/a.sock")" = 1 ] || fail "add-port of an existing port succeeded"
[ "$(rc vctl add-port --may-exist br0 a type=vhostuser path="$T/a.sock")" = 0 ] ||
	fail "add-port --may-exist of an existing port: $(cat "$T/rc.out")"
[ ! -s "$T/rc.out" ] || fail "add-port --may-exist printed: $(cat "$T/rc.out")"
[ "$(rc vctl add-port br0 a type=vhost-user path="$T/a.sock" --may-exist)" = 0 ] ||
	fail "add-port --may-exist (alias, option last): $(cat "$T/rc.out")"
[ "$(rc vctl add-port --may-exist br0 a type=tap)" = 1 ] || fail "--may-exist with another type succeeded"
grep 'exists with type=vhostuser, not type=tap' "$T/rc.out" >/dev/null ||
	fail "--may-exist type clash message: $(cat "$T/rc.out")"
# --may-exist is about the port: a file in the way is still an error.
touch "$T/file.sock"
[ "$(rc vctl add-port --may-exist br0 f type=vhostuser path="$T/file.sock")" = 1 ] ||
	fail "--may-exist over a plain file succeeded"
grep 'exists and is not a socket' "$T/rc.out" >/dev/null || fail "--may-exist hid vifd's message: $(cat "$T/rc.out")"
[ "$(rc vctl add-bridge --may-exist br0)" = 0 ] || fail "add-bridge --may-exist br0: $(cat "$T/rc.out")"
[ "$(rc vctl add-bridge br0)" = 1 ] || fail "add-bridge br0 without --may-exist succeeded"
vctl add-port br0 gone type=vhostuser path="$T/gone.sock"
[ "$(rc vctl del-port --if-exists gone)" = 0 ] || fail "del-port --if-exists of a port"
[ "$(port_info gone name)" = "" ] || fail "del-port --if-exists did not delete"
[ "$(rc vctl del-port --if-exists gone)" = 0 ] || fail "del-port --if-exists of a missing port: $(cat "$T/rc.out")"
[ "$(rc vctl del-port gone)" = 1 ] || fail "del-port of a missing port succeeded"
[ "$(rc vctl fdb-del --if-exists 02:00:00:00:99:99)" = 0 ] || fail "fdb-del --if-exists: $(cat "$T/rc.out")"
[ "$(rc vctl fdb-del 02:00:00:00:99:99)" = 1 ] || fail "fdb-del of a missing entry succeeded"
[ "$(rc vctl show --may-exist)" = 2 ] || fail "show --may-exist accepted"
log "add-port alias, missing bridge, --may-exist, --if-exists: as specified"

# ---- traffic: learned entries and counters ----
# Two senders, each learned on its port (b in VLAN 20 as an access port).
# Their vhost-user messages are logged at debug, which is on meanwhile.
debug_lines() { grep -c '^<7>' "$T/vifd.log" || true; }
[ "$(debug_lines)" = 0 ] || fail "debug lines at level info"
vctl log-level debug >/dev/null
vctl set-port b tag=20
vctl fdb-add a 02:00:00:00:00:99 vlan=0
bg txa "$VIFBENCH" --sock "$T/a.sock" --mode tx --rate 200 --duration 3 \
	--src-mac 02:00:00:00:00:0a --dst-mac 02:00:00:00:00:0b
TXA=$LAST_PID
bg txb "$VIFBENCH" --sock "$T/b.sock" --mode tx --rate 200 --duration 3 \
	--src-mac 02:00:00:00:00:0b --dst-mac 02:00:00:00:00:0a
TXB=$LAST_PID
learned() { vctl -j fdb | jq -e "[.entries[] | select(.static == false)] | length >= 2" >/dev/null; }
wait_for 30 "both senders learned" learned
wait "$TXA" || fail "vifbench a: $(tail -n 5 "$T/txa.log")"
wait "$TXB" || fail "vifbench b: $(tail -n 5 "$T/txb.log")"
forget_pid "$TXA"
forget_pid "$TXB"
vctl log-level info >/dev/null
[ "$(debug_lines)" -gt 0 ] || fail "no debug lines while the level was debug"
n=$(debug_lines)
vctl add-port br0 quiet type=vhostuser path="$T/quiet.sock"
"$VIFBENCH" --sock "$T/quiet.sock" --mode tx --count 1 --duration 2 >/dev/null 2>&1 || true
vctl del-port quiet
[ "$(debug_lines)" = "$n" ] || fail "debug lines after the level went back to info"
log "log-level debug: $n debug lines while on, none after"

# ---- stats --reset ----
RX0=$(port_stat a rx_pkts)
[ "$RX0" -gt 0 ] || fail "no frames counted on a"
M0=$(metrics | awk '$1 ~ /^vifd_port_rx_packets_total\{.*port="a"/ {print $2}')
[ "$M0" -ge "$RX0" ] || fail "metric $M0 below stats $RX0"
vctl stats --reset a
[ "$(port_stat a rx_pkts)" = 0 ] || fail "stats --reset a: rx_pkts $(port_stat a rx_pkts)"
[ "$(port_stat b rx_pkts)" -gt 0 ] || fail "stats --reset a reset b too"
vctl stats --reset
for p in a b; do
	[ "$(vctl -j stats "$p" | jq '[.ports[0] | .. | numbers] | add')" = 0 ] ||
		fail "stats --reset: $p still counts $(vctl -j stats "$p")"
done
vctl stats | awk '$1 == "a" && $2 != 0 { exit 1 }' || fail "vifctl stats after reset: $(vctl stats)"
M1=$(metrics | awk '$1 ~ /^vifd_port_rx_packets_total\{.*port="a"/ {print $2}')
[ "$M1" -ge "$M0" ] || fail "metrics went back after stats --reset: $M0 -> $M1"
[ "$(rc vctl stats --reset nosuch)" = 1 ] || fail "stats --reset of a missing port succeeded"
[ "$(rc vctl stats --reset --watch)" = 2 ] || fail "stats --reset --watch accepted"
# Counting goes on from the baseline; a re-created port starts afresh.
bg txa2 "$VIFBENCH" --sock "$T/a.sock" --mode tx --rate 200 --count 50 --duration 10 \
	--src-mac 02:00:00:00:00:0a --dst-mac 02:00:00:00:00:0b
TXA=$LAST_PID
counted() { [ "$(port_stat a rx_pkts)" -ge 50 ]; }
wait_for 20 "50 new frames on a" counted
wait "$TXA" || true
forget_pid "$TXA"
RX2=$(port_stat a rx_pkts)
M2=$(metrics | awk '$1 ~ /^vifd_port_rx_packets_total\{.*port="a"/ {print $2}')
[ "$RX2" -lt 60 ] || fail "a counted $RX2 after reset and about 51 frames"
[ "$((M2 - M1))" = "$RX2" ] || fail "stats ($RX2) and metrics ($M1 -> $M2) disagree after the reset"
log "stats --reset: stats from 0 ($RX0 -> 0 -> $RX2), metrics monotonic ($M0 -> $M1 -> $M2)"

# ---- fdb-flush ----
nlearned() { vctl -j fdb | jq "[.entries[] | select(.static == false $1)] | length"; }
[ "$(nlearned '')" -ge 2 ] || fail "fewer than 2 learned entries: $(vctl fdb)"
vctl fdb-flush b vlan=0
[ "$(nlearned 'and .port == "b"')" -ge 1 ] || fail "fdb-flush b vlan=0 removed b's VLAN 20 entry"
vctl fdb-flush b
[ "$(nlearned 'and .port == "b"')" = 0 ] || fail "fdb-flush b left: $(vctl fdb)"
[ "$(nlearned 'and .port == "a"')" -ge 1 ] || fail "fdb-flush b removed a's entries"
[ "$(rc vctl fdb-flush nosuch)" = 1 ] || fail "fdb-flush of a missing port succeeded"
[ "$(rc vctl fdb-flush vlan=5000)" = 1 ] || fail "fdb-flush vlan=5000 accepted"
vctl fdb-flush
[ "$(nlearned '')" = 0 ] || fail "fdb-flush left learned entries: $(vctl fdb)"
vctl -j fdb | jq -e '.entries[] | select(.static and .mac == "02:00:00:00:00:99")' >/dev/null ||
	fail "fdb-flush removed a static entry"
log "fdb-flush: per port, per VLAN, all; static entries kept"

# ---- metrics ----
M=$(metrics)
for f in process_start_time_seconds process_resident_memory_bytes process_virtual_memory_bytes \
	process_cpu_seconds_total process_open_fds process_max_fds vifd_port_info; do
	grep -x "# HELP $f .*" <<<"$M" >/dev/null || fail "no HELP for $f"
	grep -x "# TYPE $f \(gauge\|counter\)" <<<"$M" >/dev/null || fail "no TYPE for $f"
done
val() { awk -v n="$1" '$1 == n {print $2}' <<<"$M"; }
python3 - "$(val process_start_time_seconds)" "$T0" "$(date +%s)" "$(val process_resident_memory_bytes)" \
	"$(val process_virtual_memory_bytes)" "$(val process_cpu_seconds_total)" "$(val process_open_fds)" \
	"$(val process_max_fds)" <<'PY' || fail "process metrics implausible"
import sys
start, t0, now, rss, vsz, cpu, fds, maxfds = map(float, sys.argv[1:])
assert t0 - 5 <= start <= now + 1, f"start {start} not within [{t0}, {now}]"
assert 1 << 20 < rss <= vsz, f"rss {rss} vsz {vsz}"
assert 0 < cpu < now - t0 + 60, f"cpu {cpu}"
assert 3 <= fds < maxfds, f"fds {fds} max {maxfds}"
PY
for p in a b; do
	grep -x "vifd_port_info{bridge=\"br0\",port=\"$p\",type=\"vhostuser\",mode=\"server\",interface=\"\"} 1" \
		<<<"$M" >/dev/null || fail "no vifd_port_info for $p: $(grep vifd_port_info <<<"$M")"
done
log "metrics: process_* plausible, vifd_port_info per port"

# ---- show: 20 ports in 100 columns, policy and offloads in words ----
vctl set-port a mac=02:00:00:00:00:0a isolated=true ingress-rate=100mbit egress-pps=20000 weight=3
for i in $(seq 3 20); do
	vctl add-port br0 "vm$i" type=vhostuser path="$T/vm$i.sock" tag=$((i + 100)) \
		mac=02:00:00:00:01:$(printf %02x "$i") ingress-rate=1gbit egress-rate=500mbit
done
[ "$(vctl -j show | jq '.bridges[0].ports | length')" = 20 ] || fail "not 20 ports"
S=$(env -u COLUMNS "$VIFCTL" --socket "$T/state/vifd.sock" show)
W=$(awk '{ if (length($0) > w) w = length($0) } END { print w }' <<<"$S")
[ "$W" -le 100 ] || fail "show is $W columns wide with 20 ports: $S"
grep -E '^  a +vhostuser +listening' <<<"$S" >/dev/null || fail "show: no row for a: $S"
for w in "path=$T/a.sock" mode=server mac=02:00:00:00:00:0a isolated=true ingress-rate=100mbit \
	egress-pps=20000 weight=3 trunks=all rx-offloads=none tx-offloads=none; do
	grep -F -- " $w" <<<"$S" >/dev/null || fail "show lacks \"$w\": $S"
done
grep -F -- " tag=20" <<<"$S" >/dev/null || fail "show lacks b's tag=20: $S"
grep -F -- " tag=120" <<<"$S" >/dev/null || fail "show lacks vm20's tag=120: $S"
! grep -E '0x[0-9a-f]' <<<"$S" >/dev/null || fail "show prints hex: $S"
vctl -j show | jq -e '.bridges[0].ports[0] | has("features") and has("offloads_tx") and has("policy")' \
	>/dev/null || fail "-j show lost members"
log "show: 20 ports in $W columns"

vifd_alive
log "PASS"
