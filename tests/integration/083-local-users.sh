#!/bin/bash
# 083-local-users: what a local user (a member of the control group, or
# anyone for the metrics port) can make vifd, running as root, do.
#  1. Unlink through a swapped directory: a port's socket lives in a
#     directory the user owns; the user replaces that directory by a
#     symlink to another one holding a file of the socket's name, then the
#     port is removed. vifd removes only the socket it created (through the
#     directory it bound in, device and inode checked): the other file stays.
#  2. --vhost-sock-dir: a second vifd confined to one directory refuses
#     socket paths anywhere else, in a subdirectory, or with "..".
#  3. Metrics: a client holding 40 idle connections (all 16 slots, and
#     more as they are evicted) does not lock a scraper out.
#  4. The pid file: a symlink planted in the state directory is not
#     followed (vifd refuses to start and the target is untouched).
. "$(dirname "$0")/../lib/common.sh"

MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_vifd --metrics-port "$MPORT"

# --- 1. unlink through a directory swapped for a symlink
mkdir "$T/userdir" "$T/etc"
echo "precious" >"$T/etc/passwd"
vctl add-port br0 p1 type=vhostuser path="$T/userdir/passwd"
[ -S "$T/userdir/passwd" ] || fail "no socket in $T/userdir"
mv "$T/userdir" "$T/userdir.real"
ln -s "$T/etc" "$T/userdir"
vctl del-port p1
[ "$(cat "$T/etc/passwd" 2>/dev/null)" = precious ] ||
	fail "del-port removed $T/etc/passwd through the symlinked directory"
[ ! -e "$T/userdir.real/passwd" ] || fail "the socket vifd created was left behind"
log "1. del-port after the directory became a symlink: the target stayed, vifd's own socket went"
# The same with a file of the socket's name put in its place.
vctl add-port br0 p2 type=vhostuser path="$T/userdir.real/s2"
rm -f "$T/userdir.real/s2"
echo "mine" >"$T/userdir.real/s2"
vctl del-port p2
[ "$(cat "$T/userdir.real/s2")" = mine ] || fail "del-port removed a file that replaced its socket"
log "   del-port after its socket was replaced by a file: the file stayed"

# --- 2. --vhost-sock-dir
mkdir -p "$T/socks/sub" "$T/other"
bg vifd2 "$VIFD" --state-dir "$T/state2" --vhost-sock-dir "$T/socks/"
V2=$LAST_PID
vctl2() { "$VIFCTL" --socket "$T/state2/vifd.sock" "$@"; }
wait_for 10 "second vifd" vctl2 version
vctl2 add-port br0 ok type=vhostuser path="$T/socks/ok.sock" || fail "a path in the directory was refused"
vctl2 add-port br0 okc type=vhostuser path="$T/socks/c.sock" mode=client || fail "client path refused"
for bad in "$T/other/x.sock" "$T/socks/sub/x.sock" "$T/socks/../other/x.sock" "$T/socksx/x.sock" \
	"$T/socks/.."; do
	out=$(vctl2 add-port br0 bad type=vhostuser path="$bad" 2>&1) && fail "$bad accepted"
	grep "vhost-sock-dir" <<<"$out" >/dev/null || fail "$bad: no clear reason: $out"
done
[ ! -e "$T/other/x.sock" ] && [ ! -e "$T/socks/sub/x.sock" ] || fail "a refused path was created"
log "2. --vhost-sock-dir: paths outside the directory, in a subdirectory or with .. refused"
kill -TERM "$V2"; wait "$V2" || true; forget_pid "$V2"
[ ! -e "$T/socks/ok.sock" ] || fail "the second vifd left its socket behind"

# --- 3. metrics with hoarded idle connections
python3 - "$MPORT" >"$T/metrics.log" 2>&1 <<'PY' || fail "metrics: $(tail -n 5 "$T/metrics.log")"
import socket, sys, time, urllib.request
port = int(sys.argv[1])
url = f"http://127.0.0.1:{port}/metrics"
hoard = []
def refill():
    # Keep 40 idle connections open (the endpoint has 16 slots): those
    # closed by vifd are opened again, as a hoarder refreshing them would.
    global hoard
    alive = []
    for s in hoard:
        s.setblocking(False)
        try:
            gone = s.recv(1) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:
            s.close()
        else:
            alive.append(s)
    while len(alive) < 40:
        alive.append(socket.create_connection(("127.0.0.1", port)))
    hoard = alive
ok = 0
worst = 0.0
t_end = time.monotonic() + 90
while ok < 10 and time.monotonic() < t_end:
    refill()
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200 and b"vifd_build_info" in r.read()
    worst = max(worst, time.monotonic() - t0)
    ok += 1
refill()
assert ok == 10, f"only {ok} scrapes in 90 s"
print(f"{ok} of {ok} scrapes answered while 40 idle connections were held (slowest {worst:.2f} s)")
PY
sed 's/^/    /' "$T/metrics.log"
log "3. metrics: every scrape answered while idle connections were hoarded"

# --- 4. the pid file is not followed through a symlink
mkdir "$T/state3"
echo "keep" >"$T/target"
ln -s "$T/target" "$T/state3/vifd.pid"
rc=0
timeout 10 "$VIFD" --state-dir "$T/state3" >"$T/vifd3.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "vifd started with a symlinked pid file"
[ "$(cat "$T/target")" = keep ] || fail "vifd wrote through the pid file's symlink"
grep -q "pid file" "$T/vifd3.log" || fail "no reason given: $(cat "$T/vifd3.log")"
log "4. a symlinked pid file: vifd refuses to start ($(grep -m1 "pid file" "$T/vifd3.log")), target untouched"
vifd_alive
log "PASS"
