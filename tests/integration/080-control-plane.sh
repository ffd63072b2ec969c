#!/bin/bash
# 080-control-plane: every vifctl command end to end (JSON output parsed and
# checked, exit codes), then persistence: the configuration built with
# vifctl survives kill -9 and a restart, a corrupt or truncated state.json
# is reported and its last good copy used, and a configuration file seeds
# the state on first start and reports errors with line and column.
#
#   vifctl --socket $T/state/vifd.sock --> vifd br0: ports a b c (vhost-user,
#   nobody attached; c in client mode towards a socket nobody serves)
. "$(dirname "$0")/../lib/common.sh"

# expect_rc RC CMD...: runs CMD, which must exit with RC.
expect_rc() {
	local want=$1 rc=0; shift
	"$@" >"$T/out.txt" 2>"$T/err.txt" || rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$T/err.txt")"
}
# pyj FILE EXPR: evaluates a Python expression on the JSON in FILE.
pyj() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# check FILE EXPR WHAT: EXPR must be true on FILE's JSON.
check() { [ "$(pyj "$1" "$2")" = True ] || fail "$3: $(cat "$1")"; }

start_vifd
log "every command, with -j"
vctl -j version >"$T/v.json"
check "$T/v.json" "j['name'] == 'vifd' and len(j['version']) > 0" "version"
expect_rc 1 vctl add-bridge br0
grep -q "exists" "$T/err.txt" || fail "add-bridge br0: $(cat "$T/err.txt")"
expect_rc 1 vctl add-bridge br1
vctl -j add-port br0 a type=vhostuser path="$T/a.sock" queues=2 tag=10 >"$T/r.json"
check "$T/r.json" "j == {}" "add-port -j"
vctl add-port br0 b type=vhostuser path="$T/b.sock"
vctl add-port br0 c type=vhostuser path="$T/c.sock" mode=client trunks=10,20-22 native=5
expect_rc 1 vctl add-port br0 a type=vhostuser path="$T/x.sock"
grep -q "already exists" "$T/err.txt" || fail "duplicate add-port: $(cat "$T/err.txt")"
expect_rc 2 vctl add-port br0 d type=vhostuser path="$T/d.sock" colour=blue
expect_rc 2 vctl add-port br0 d path="$T/d.sock"
vctl -j set-port a mac=02:00:00:00:00:0a ip=10.0.0.10 isolated=true mac-limit=8 >"$T/r.json"
check "$T/r.json" "j == {}" "set-port -j"
vctl set-port b mac=auto
expect_rc 1 vctl set-port nosuch tag=3
expect_rc 1 vctl set-port a tag=5000
vctl -j set-bridge br0 unknown-unicast=drop mac-aging=600 >"$T/r.json"
check "$T/r.json" "j == {}" "set-bridge -j"
expect_rc 2 vctl set-bridge br0 colour=blue
vctl -j fdb-add b 02:00:00:00:00:bb vlan=0 >/dev/null
vctl fdb-add c 02:00:00:00:00:cc vlan=20
vctl fdb-add c 02:00:00:00:00:dd vlan=21
vctl -j fdb-del 02:00:00:00:00:dd vlan=21 >/dev/null
expect_rc 1 vctl fdb-del 02:00:00:00:00:dd vlan=21
vctl -j fdb >"$T/fdb.json"
check "$T/fdb.json" "sorted((e['mac'], e['vlan'], e['port'], e['static']) for e in j['entries']) == \
[('02:00:00:00:00:0a', 10, 'a', True), ('02:00:00:00:00:bb', 0, 'b', True), ('02:00:00:00:00:cc', 20, 'c', True)]" "fdb"
vctl -j show >"$T/show1.json"
check "$T/show1.json" "[p['name'] for p in j['bridges'][0]['ports']] == ['a', 'b', 'c']" "show: ports"
check "$T/show1.json" "j['bridges'][0]['unknown_unicast'] == 'drop' and j['bridges'][0]['mac_aging'] == 600" "show: bridge"
check "$T/show1.json" "[(p['mode'], p['queue_pairs']) for p in j['bridges'][0]['ports']] == [('server', 2), ('server', 1), ('client', 1)]" "show: modes"
check "$T/show1.json" "j['bridges'][0]['ports'][0]['policy'] == {'tag': 10, 'native': 0, 'trunks': '', 'isolated': True, 'mac': '02:00:00:00:00:0a', 'ip': '10.0.0.10', 'mac_limit': 8, 'ingress': {}, 'egress': {}, 'overhead': 0, 'weight': 1, 'worker': 'auto', 'worker_group': 'none', 'rx_frames': 0, 'rx_usecs': 0, 'adaptive_rx': 'off'}" "show: a's policy"
check "$T/show1.json" "j['bridges'][0]['ports'][2]['policy']['trunks'] == '10,20-22' and j['bridges'][0]['ports'][2]['policy']['native'] == 5" "show: c's trunks"
vctl show | grep "^  a " >/dev/null || fail "show (text) does not list a"
vctl -j stats >"$T/stats.json"
check "$T/stats.json" "sorted(p['name'] for p in j['ports']) == ['a', 'b', 'c'] and all(p['rx_pkts'] == 0 and 'no_room' in p['drops'] for p in j['ports'])" "stats"
vctl -j stats a >"$T/stats.json"
check "$T/stats.json" "[p['name'] for p in j['ports']] == ['a']" "stats a"
expect_rc 1 vctl stats nosuch
vctl stats | grep "^PORT" >/dev/null || fail "stats (text) has no header"
vctl -j workers >"$T/w.json"
check "$T/w.json" "len(j['workers']) == 1 and j['workers'][0]['id'] == 0 and j['workers'][0]['cpu'] == -1" "workers"
vctl workers | grep "CYCLES/PKT" >/dev/null || fail "workers (text)"
# stats --watch: one JSON object per line with -j; a table without.
bg watchj "$VIFCTL" --socket "$T/state/vifd.sock" -j stats --watch 0.2
WJ=$LAST_PID
bg watcht "$VIFCTL" --socket "$T/state/vifd.sock" stats a --watch 0.2
WT=$LAST_PID
three_lines() { [ "$(grep -c '^{' "$T/watchj.log")" -ge 3 ]; }
wait_for 20 "stats --watch -j samples" three_lines
wait_for 20 "stats --watch table" grep -q "RX-PPS" "$T/watcht.log"
for p in $WJ $WT; do kill -INT "$p"; wait "$p" || fail "stats --watch exited with an error"; forget_pid "$p"; done
head -n 1 "$T/watchj.log" >"$T/w1.json"
check "$T/w1.json" "len(j['ports']) == 3" "stats --watch -j"
expect_rc 2 vctl stats --watch=0
for c in add-port set-port set-bridge stats fdb-add show; do
	vctl "$c" --help | grep "^Usage: vifctl" >/dev/null || fail "$c --help"
done
expect_rc 2 vctl frobnicate
expect_rc 2 vctl del-port
expect_rc 3 "$VIFCTL" --socket "$T/nothing.sock" show
grep -q -- "--socket" "$T/err.txt" || fail "no hint on a missing socket"
VIFD_SOCKET="$T/state/vifd.sock" "$VIFCTL" show >/dev/null || fail "VIFD_SOCKET not used"
vctl add-port br0 gone type=vhostuser path="$T/gone.sock"
vctl -j del-port gone >"$T/r.json"
check "$T/r.json" "j == {}" "del-port -j"
expect_rc 1 vctl del-port gone
log "  every command answered; errors exit 1, usage 2, no vifd 3"

log "bash completion: commands, keys and the running vifd's port names"
complete_words() { # WORDS...: COMPREPLY for the last word, sorted, one line
	COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
	PATH="$(dirname "$VIFCTL"):$PATH" _vifctl 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
. "$(dirname "$0")/../../contrib/bash-completion/vifctl"
[ "$(complete_words vifctl add-p)" = "add-port " ] || fail "completion of add-p: $(complete_words vifctl add-p)"
got=$(complete_words vifctl --socket "$T/state/vifd.sock" set-port "")
[ "$got" = "a b c " ] || fail "completion of port names: '$got'"
# '=' breaks words (COMP_WORDBREAKS): readline replaces only the value.
got=$(complete_words vifctl add-port br0 x type=vhostuser mode=c)
[ "$got" = "client " ] || fail "completion of mode=: '$got'"
log "  add-p -> add-port; set-port <TAB> -> a b c; mode=c -> client"

log "persistence: kill -9, restart, same ports and settings"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["format"], j["version"], len(j["config"]["ports"]))' \
	"$T/state/state.json" | grep -x "vifd-state 1 3" >/dev/null || fail "state.json: $(cat "$T/state/state.json")"
# what must come back: show without the run-time members
summary() {
	vctl -j show >"$T/s.json"
	vctl -j fdb >"$T/f.json"
	python3 - "$T/s.json" "$T/f.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))
b = s['bridges'][0]
print(json.dumps({'uu': b['unknown_unicast'], 'aging': b['mac_aging'],
    'ports': [(p['name'], p['path'], p['mode'], p['queue_pairs'], p['policy']) for p in b['ports']],
    'fdb': sorted((e['mac'], e['vlan'], e['port']) for e in f['entries'] if e['static'])}, sort_keys=True))
EOF
}
before=$(summary)
restart() {
	kill -KILL "$VIFD_PID"
	wait "$VIFD_PID" 2>/dev/null || true
	forget_pid "$VIFD_PID"
	mv "$T/vifd.log" "$T/vifd-$1.log"
	start_vifd "${@:2}"
}
restart kill1
after=$(summary)
[ "$before" = "$after" ] || fail "after kill -9 and restart:
  before: $before
  after:  $after"
grep -q "restored 3 port(s) and 2 fdb entries" "$T/vifd.log" || fail "no restore line in the log"
log "  3 ports, their policies, bridge settings and 2 static entries came back"
# set-port forgets a port's learned MACs but keeps its fdb-add entries, in
# the switch and in the state; rate limits persist like any other key
vctl set-port c native=6 ingress-rate=10mbit egress-pps=5000 weight=2
vctl -j fdb >"$T/fdb.json"
check "$T/fdb.json" "[(e['mac'], e['vlan']) for e in j['entries'] if e['port'] == 'c'] == [('02:00:00:00:00:cc', 20)]" \
	"c's fdb-add entry after set-port"
check "$T/state/state.json" "[e['mac'] for e in j['config']['fdb'] if e['port'] == 'c'] == ['02:00:00:00:00:cc']" \
	"c's entry in state.json"
before=$(summary)
restart kill1b
after=$(summary)
[ "$before" = "$after" ] || fail "limits after kill -9 and restart:
  before: $before
  after:  $after"
vctl -j show >"$T/s.json"
check "$T/s.json" "[p['policy'] for p in j['bridges'][0]['ports'] if p['name'] == 'c'][0]['ingress']['rate'] == 10000000" \
	"c's ingress rate after restart"
log "  set-port keeps fdb-add entries; rate limits and weight come back after kill -9"

log "corrupt state.json: the last good copy is used"
vctl set-port b tag=30          # state.json = with tag 30, .prev = without
good=$(summary)
cp "$T/state/state.json" "$T/state.good"
kill -KILL "$VIFD_PID"; wait "$VIFD_PID" 2>/dev/null || true; forget_pid "$VIFD_PID"
# flip one character inside a value: still valid JSON, wrong checksum
sed -i 's/"tag": 30/"tag": 31/' "$T/state/state.json"
mv "$T/vifd.log" "$T/vifd-kill2.log"
start_vifd
grep -q "state.json is corrupt or unreadable: checksum mismatch" "$T/vifd.log" ||
	fail "checksum mismatch not reported"
grep -q "restoring from the last good copy .*state.json.prev" "$T/vifd.log" || fail "fallback not reported"
[ -f "$T/state/state.json.corrupt" ] || fail "corrupt file not kept"
prev_tag=$(jget "$(vctl -j show)" "[p for p in j['bridges'][0]['ports'] if p['name']=='b'][0]['policy']['tag']")
[ "$prev_tag" = 0 ] || fail "b's tag is $prev_tag, expected the last good copy's 0"
jget "$(cat "$T/state/state.json")" "j['format']" >/dev/null || fail "state.json not rewritten"
log "  checksum mismatch reported, state.json.prev restored, corrupt file kept aside"

log "truncated state.json: detected, last good copy used"
vctl set-port b tag=30
cp "$T/state/state.json" "$T/state.good"
kill -KILL "$VIFD_PID"; wait "$VIFD_PID" 2>/dev/null || true; forget_pid "$VIFD_PID"
size=$(stat -c %s "$T/state/state.json")
truncate -s $((size / 2)) "$T/state/state.json"
mv "$T/vifd.log" "$T/vifd-kill3.log"
start_vifd
grep -q "state.json is corrupt or unreadable: line" "$T/vifd.log" || fail "truncation not reported"
[ "$(jget "$(vctl -j show)" "len(j['bridges'][0]['ports'])")" = 3 ] || fail "ports lost after truncation"
log "  truncation reported; the 3 ports are back from state.json.prev"

log "an empty state.json and a missing one (crash between the renames)"
kill -KILL "$VIFD_PID"; wait "$VIFD_PID" 2>/dev/null || true; forget_pid "$VIFD_PID"
: >"$T/state/state.json"
mv "$T/vifd.log" "$T/vifd-kill4.log"
start_vifd
grep -q "empty file" "$T/vifd.log" || fail "empty state file not reported"
[ "$(jget "$(vctl -j show)" "len(j['bridges'][0]['ports'])")" = 3 ] || fail "ports lost after an empty state.json"
kill -KILL "$VIFD_PID"; wait "$VIFD_PID" 2>/dev/null || true; forget_pid "$VIFD_PID"
rm "$T/state/state.json"
mv "$T/vifd.log" "$T/vifd-kill5.log"
start_vifd
[ "$(jget "$(vctl -j show)" "len(j['bridges'][0]['ports'])")" = 3 ] || fail "ports lost without state.json"
log "  both recovered from state.json.prev"

log "a port that cannot be restored is logged and left out, the others come back"
kill -TERM "$VIFD_PID"; wait "$VIFD_PID" || fail "vifd exited with an error"; forget_pid "$VIFD_PID"
rm -f "$T/a.sock"; mkdir "$T/a.sock"     # a's path is now a directory
mv "$T/vifd.log" "$T/vifd-stop6.log"
start_vifd
grep -q "cannot restore add-port a: .*not a socket; left out (to redo it: vifctl add-port with" "$T/vifd.log" ||
	fail "failed port not logged"
[ "$(jget "$(vctl -j show)" "[p['name'] for p in j['bridges'][0]['ports']]")" = "['b', 'c']" ] ||
	fail "other ports not restored"
rmdir "$T/a.sock"
log "  a left out with a log line, b and c restored"

log "configuration file: syntax and value errors with line and column"
printf '{\n  "workers": 1,\n  "ports": [\n    {"name": "x" "type": "vhostuser"}\n  ]\n}\n' >"$T/bad1.json"
expect_rc 2 "$VIFD" -c "$T/bad1.json" --state-dir "$T/cfgstate"
grep -q "bad1.json:4:23: .*expected near" "$T/err.txt" || fail "syntax error position: $(cat "$T/err.txt")"
printf '{\n  "workers": 1,\n  "metrics": {"port": "x"}\n}\n' >"$T/bad2.json"
expect_rc 2 "$VIFD" --config "$T/bad2.json" --state-dir "$T/cfgstate"
grep -q 'bad2.json:3:23: metrics.port: must be an integer' "$T/err.txt" || fail "value error: $(cat "$T/err.txt")"
cat >"$T/bad3.json" <<EOF
{
  "ports": [
    {"name": "p1", "type": "vhostuser", "path": "$T/p1.sock"},
    {"name": "p2", "type": "vhostuser", "path": "$T/p2.sock", "tag": 9999}
  ]
}
EOF
expect_rc 1 "$VIFD" -c "$T/bad3.json" --state-dir "$T/cfgstate"
grep -q 'bad3.json:4:5: ports\[1\]: tag must be' "$T/err.txt" || fail "refused port: $(cat "$T/err.txt")"
log "  $(grep -o 'bad3.json:.*' "$T/err.txt")"

log "configuration file seeds the state on first start; afterwards the state rules"
kill -TERM "$VIFD_PID"; wait "$VIFD_PID" || fail "vifd exited with an error"; forget_pid "$VIFD_PID"
cat >"$T/good.json" <<EOF
{
  "comment": "test configuration",
  "log_level": "debug",
  "workers": 2,
  "bridge": {"unknown_unicast": "drop", "mac_aging": 120},
  "ports": [
    {"name": "p1", "type": "vhostuser", "path": "$T/p1.sock", "queues": 2, "tag": 7},
    {"name": "p2", "type": "vhostuser", "path": "$T/p2.sock", "mac": "02:00:00:00:00:02"}
  ],
  "fdb": [{"port": "p1", "mac": "02:00:00:00:00:71", "vlan": 7}]
}
EOF
rm -rf "$T/state"
mv "$T/vifd.log" "$T/vifd-stop7.log"
start_vifd -c "$T/good.json"
vctl -j show >"$T/s.json"
check "$T/s.json" "[(p['name'], p['queue_pairs'], p['policy']['tag'], p['policy']['mac']) for p in j['bridges'][0]['ports']] == [('p1', 2, 7, 'none'), ('p2', 1, 0, '02:00:00:00:00:02')]" "seeded ports"
check "$T/s.json" "j['bridges'][0]['mac_aging'] == 120" "seeded bridge"
[ "$(jget "$(vctl -j workers)" "len(j['workers'])")" = 2 ] || fail "workers from the config not used"
vctl del-port p2
kill -TERM "$VIFD_PID"; wait "$VIFD_PID" || fail "vifd exited with an error"; forget_pid "$VIFD_PID"
mv "$T/vifd.log" "$T/vifd-stop8.log"
start_vifd -c "$T/good.json" --workers 1
[ "$(jget "$(vctl -j show)" "[p['name'] for p in j['bridges'][0]['ports']]")" = "['p1']" ] ||
	fail "the configuration file overrode the persisted state"
[ "$(jget "$(vctl -j workers)" "len(j['workers'])")" = 1 ] || fail "--workers did not override the config"
grep -q "using the persisted state" "$T/vifd.log" || fail "precedence not logged"
kill -TERM "$VIFD_PID"; wait "$VIFD_PID" || fail "vifd exited with an error"; forget_pid "$VIFD_PID"
mv "$T/vifd.log" "$T/vifd-stop9.log"
start_vifd -c "$T/good.json" --reset-state
[ "$(jget "$(vctl -j show)" "[p['name'] for p in j['bridges'][0]['ports']]")" = "['p1', 'p2']" ] ||
	fail "--reset-state did not reseed from the configuration file"
log "  seeded once; the persisted state wins afterwards; --reset-state reseeds"
vifd_alive
log "PASS"
