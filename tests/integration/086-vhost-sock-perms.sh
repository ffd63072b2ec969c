#!/bin/bash
# 086-vhost-sock-perms: the vhost-user sockets vifd creates get the owner,
# group and mode asked for (vifd-wide --vhost-sock-owner/-group/-perm,
# per port owner=, group=, perm=) before anyone can connect, keep them
# across a kill -9 and restart (restored ports, per-port keys from the
# state file), and show -j reports them. A missing --vhost-sock-dir is
# created (01770 with a group); a symlink, or a directory others may write
# without the sticky bit, is refused (one its group may write: a warning). Bad values are refused clearly.
. "$(dirname "$0")/../lib/common.sh"

id -u libvirt-qemu >/dev/null 2>&1 || { echo "[$TEST_NAME] SKIP: no user libvirt-qemu (scripts/deps.sh)"; exit 77; }
getent group kvm >/dev/null || { echo "[$TEST_NAME] SKIP: no group kvm"; exit 77; }
SD=$T/socks
chmod 755 "$T"
ARGS=(--vhost-sock-dir "$SD" --vhost-sock-group kvm --vhost-sock-perm 0660)
start_vifd "${ARGS[@]}"
[ "$(stat -c %a:%U:%G "$SD")" = 1770:root:kvm ] || fail "socket directory is $(stat -c %a:%U:%G "$SD")"

vctl add-port br0 a type=vhostuser path="$SD/a.sock"
vctl add-port br0 b type=vhostuser path="$SD/b.sock" owner=libvirt-qemu group=0 perm=0600
perms() { stat -c %a:%U:%G "$SD/$1.sock"; }
[ "$(perms a)" = 660:root:kvm ] || fail "a.sock is $(perms a)"
[ "$(perms b)" = 600:libvirt-qemu:root ] || fail "b.sock is $(perms b)"
[ "$(port_info a sock_perm)" = 0660 ] && [ "$(port_info a sock_group)" = kvm ] &&
	[ "$(port_info b sock_owner)" = libvirt-qemu ] || fail "show -j: $(vctl -j show)"

# Reachable as QEMU's user would be (libvirt-qemu, group kvm), not otherwise.
conn() {
	setpriv --reuid "$1" --regid "$2" --clear-groups python3 -c \
		'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$3" 2>/dev/null
}
conn libvirt-qemu kvm "$SD/a.sock" || fail "libvirt-qemu (group kvm) cannot connect to a.sock"
conn nobody nogroup "$SD/a.sock" && fail "nobody could connect to a.sock"
conn libvirt-qemu kvm "$SD/b.sock" || fail "libvirt-qemu cannot connect to its b.sock"
conn nobody kvm "$SD/b.sock" && fail "nobody (group kvm) could connect to b.sock (0600)"
log "sockets: vifd-wide and per-port owner, group and mode, before listen()"

# Refused: bad values, keys of the other mode or port type.
bad() {
	if vctl add-port br0 x "$@" 2>"$T/bad.log"; then fail "accepted: $*"; fi
	grep -E "$EXPECT" "$T/bad.log" >/dev/null || fail "$*: no clear reason: $(cat "$T/bad.log")"
}
EXPECT='no user named' bad type=vhostuser path="$SD/x.sock" owner=no-such-user$$
EXPECT='no group named' bad type=vhostuser path="$SD/x.sock" group=no-such-group$$
EXPECT='perm: .*octal' bad type=vhostuser path="$SD/x.sock" perm=0800
EXPECT='perm: .*octal' bad type=vhostuser path="$SD/x.sock" perm=1777
EXPECT='perm: .*octal' bad type=vhostuser path="$SD/x.sock" perm=rw
EXPECT='owner: .*not a user' bad type=vhostuser path="$SD/x.sock" owner='a/b'
EXPECT='mode=server' bad type=vhostuser path="$SD/x.sock" mode=client perm=0600
EXPECT='vhostuser ports' bad type=tap perm=0600
[ ! -e "$SD/x.sock" ] || fail "a refused port left its socket"

log "kill -9 and restart: the same sockets, the same permissions"
kill -KILL "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
start_vifd "${ARGS[@]}"
[ "$(perms a)" = 660:root:kvm ] || fail "a.sock after the restart is $(perms a)"
[ "$(perms b)" = 600:libvirt-qemu:root ] || fail "b.sock after the restart is $(perms b)"
vctl del-port a
vctl del-port b
[ ! -e "$SD/a.sock" ] && [ ! -e "$SD/b.sock" ] || fail "del-port left a socket"
kill -TERM "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"

# Directories vifd refuses, and options it refuses.
refused() {
	local out
	if out=$("$VIFD" --state-dir "$T/state2" "$@" 2>&1); then fail "vifd started with $*"; fi
	grep -E "$EXPECT" <<<"$out" >/dev/null || fail "vifd $*: no clear reason: $out"
}
mkdir "$T/open"
chmod 0777 "$T/open"
EXPECT='without the sticky bit' refused --vhost-sock-dir "$T/open"
chmod 0775 "$T/open" # group-writable: warned about, not refused
bg vifd4 "$VIFD" --state-dir "$T/state4" --vhost-sock-dir "$T/open"
wait_for 10 "vifd with a group-writable directory" "$VIFCTL" --socket "$T/state4/vifd.sock" version
grep "writable by its group without the sticky bit" "$T/vifd4.log" >/dev/null || fail "no warning"
ln -s "$SD" "$T/link"
EXPECT='is a symlink' refused --vhost-sock-dir "$T/link/"
EXPECT='no group named' refused --vhost-sock-group no-such-group$$
EXPECT='no user named' refused --vhost-sock-owner no-such-user$$
EXPECT='octal' refused --vhost-sock-perm 0999
chmod 1777 "$T/open" # sticky: accepted
bg vifd3 "$VIFD" --state-dir "$T/state3" --vhost-sock-dir "$T/open"
V3=$LAST_PID
wait_for 10 "vifd with a sticky directory" "$VIFCTL" --socket "$T/state3/vifd.sock" version
log "socket directories: created, or refused when unsafe; bad options refused"
log "ok"
