#!/bin/bash
# 081-control-access: who may use the control socket. vifd runs as root
# with --group users: the socket is root:users 0660 and members of the
# group (primary or supplementary) are let in; nobody without the group is
# refused, first by the socket's mode and, if the mode is widened by
# mistake, by vifd's SO_PEERCRED check, with a clear message and a
# non-zero exit status.
. "$(dirname "$0")/../lib/common.sh"
command -v setpriv >/dev/null || fail "setpriv missing (util-linux)"
GRP=users
gid=$(getent group $GRP | cut -d: -f3) || fail "no group $GRP"

chmod 0711 "$T" # let nobody reach $T/state, as a real state directory's parent allows
start_vifd --group $GRP
S="$T/state/vifd.sock"
[ "$(stat -c '%a %G' "$S")" = "660 $GRP" ] || fail "socket is $(stat -c '%a %U:%G' "$S")"
[ "$(stat -c '%G' "$T/state")" = "$GRP" ] || fail "state directory not given to $GRP"

as_nobody() { setpriv --reuid=nobody "$@" "$VIFCTL" --socket "$S" -j version; }
rc=0
as_nobody --regid=nogroup --clear-groups >"$T/out.txt" 2>"$T/err.txt" || rc=$?
[ "$rc" = 3 ] || fail "nobody without the group: exit $rc (want 3): $(cat "$T/err.txt")"
grep -q "Permission denied" "$T/err.txt" || fail "no reason given: $(cat "$T/err.txt")"
log "  nobody without $GRP: refused by the socket's mode (exit 3): $(head -n 1 "$T/err.txt")"

as_nobody --regid=nogroup --groups=$gid >"$T/out.txt" 2>"$T/err.txt" ||
	fail "nobody with supplementary group $GRP refused: $(cat "$T/err.txt")"
[ "$(jget "$(cat "$T/out.txt")" "j['name']")" = vifd ] || fail "no reply for a group member"
as_nobody --regid=$GRP --clear-groups >"$T/out.txt" 2>"$T/err.txt" ||
	fail "nobody with primary group $GRP refused: $(cat "$T/err.txt")"
log "  members of $GRP (supplementary or primary) are let in"

# A socket (and directory) widened by mistake: the credential check still refuses.
chmod 0666 "$S"
chmod 0755 "$T/state"
rc=0
as_nobody --regid=nogroup --clear-groups >"$T/out.txt" 2>"$T/err.txt" || rc=$?
[ "$rc" = 1 ] || fail "nobody on a 0666 socket: exit $rc (want 1): $(cat "$T/err.txt")"
grep -q "permission denied: uid 65534 may not use vifd's control socket" "$T/err.txt" ||
	fail "no clear refusal: $(cat "$T/err.txt")"
grep -q "refused connection from uid 65534" "$T/vifd.log" || fail "refusal not logged"
log "  with the mode widened, vifd itself refuses uid 65534 (exit 1): $(cat "$T/err.txt")"
vctl show >/dev/null || fail "root refused"

# Without --group, group membership counts for nothing.
kill -TERM "$VIFD_PID"; wait "$VIFD_PID" || fail "vifd exited with an error"; forget_pid "$VIFD_PID"
mv "$T/vifd.log" "$T/vifd-1.log"
start_vifd
chmod 0666 "$S"
chmod 0755 "$T/state"
rc=0
as_nobody --regid=$GRP --clear-groups >"$T/out.txt" 2>"$T/err.txt" || rc=$?
[ "$rc" = 1 ] || fail "group member without --group: exit $rc (want 1)"
log "  without --group only root and vifd's uid get in"

# The same settings from a configuration file.
kill -TERM "$VIFD_PID"; wait "$VIFD_PID" || fail "vifd exited with an error"; forget_pid "$VIFD_PID"
mv "$T/vifd.log" "$T/vifd-2.log"
echo '{"control": {"group": "'$GRP'", "mode": "0640"}}' >"$T/vifd.json"
start_vifd -c "$T/vifd.json"
[ "$(stat -c '%a %G' "$S")" = "640 $GRP" ] || fail "config: socket is $(stat -c '%a %U:%G' "$S")"
log "  control.group and control.mode from the configuration file: socket $(stat -c '%a %U:%G' "$S")"
vifd_alive
log "PASS"
