#!/bin/bash
# 121-libvirt-guests: guests started by a real libvirtd (QEMU as user
# libvirt-qemu, TCG) from contrib/libvirt's two examples, with only names,
# paths and what TCG and the test console need changed, reach a namespace
# through vifd in both socket modes; kill -9 of vifd and a restart, and
# traffic resumes with no manual step.
#
#   vm1 (QEMU connects; vifd listens on socks/vm1.sock, root:kvm 0660) --+
#   vm2 (QEMU listens on socks/vm2.sock, vifd connects)               --+-- vifd br0 -- tap -- netns
#
# It is the socket permissions that make this work: QEMU under libvirt is
# not root. vifd creates the socket directory itself (root:kvm 01770) so
# that QEMU can create its own socket there for vm2.
#
# The test runs its own libvirtd and virtlogd (private control socket; the
# rest of libvirt's run-time state is the system's: /run/libvirt), one
# such test at a time on a machine (a lock), and leaves no daemon, domain
# (transient: virsh create) or QEMU behind.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/guest.sh"

for c in libvirtd virtlogd virsh; do
	command -v "$c" >/dev/null || fail "$c missing (scripts/deps.sh installs libvirt)"
done
id libvirt-qemu >/dev/null 2>&1 || fail "no user libvirt-qemu (scripts/deps.sh creates it)"
getent group kvm >/dev/null || fail "no group kvm"
CONTRIB=$(dirname "$0")/../../contrib/libvirt

# libvirt's run-time directories are fixed: one libvirtd test at a time.
exec 9>/run/lock/vifd-test-libvirtd.lock
flock -w 900 9 || fail "another libvirtd test holds the lock for 15 minutes"
if pgrep -x libvirtd >/dev/null || pgrep -x virtlogd >/dev/null; then
	fail "a libvirtd or virtlogd runs already on this machine; this test runs its own"
fi

id=$$
NS=vifdt-lv$id IN=vlv$id
net=10.$((id % 200 + 20))
D1=vifdt1-$id D2=vifdt2-$id
SD=$T/socks
# QEMU (libvirt-qemu) must reach the sockets, kernel and console under $T.
chmod 755 "$T"
mkdir -p "$T/img" "$T/lv/run"
cp "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img" "$T/img/"
chmod 644 "$T/img/"*

cat >"$T/lv/libvirtd.conf" <<CONF
unix_sock_dir = "$T/lv/run"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$T/libvirtd-daemon.log"
CONF
VS() { virsh -q -c "qemu:///system?socket=$T/lv/run/libvirt-sock" "$@"; }

lv_cleanup() {
	local d
	for d in "$D1" "$D2"; do
		VS destroy "$d" >/dev/null 2>&1
		rm -f "/var/log/libvirt/qemu/$d.log"
	done
}
CLEANUP_HOOKS+=(lv_cleanup)

# (a socket a killed virtlogd left would pass for the new one's)
rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock
bg virtlogd virtlogd -p "$T/lv/virtlogd.pid"
wait_for 20 "virtlogd" test -S /run/libvirt/virtlogd-sock
bg libvirtd libvirtd -f "$T/lv/libvirtd.conf" -p "$T/lv/libvirtd.pid"
wait_for 60 "libvirtd" VS list
[ -z "$(VS net-list --all --name)" ] || fail "libvirtd has networks defined: not a clean machine?"

# mkdom SRC NAME SOCK IP: the contrib file SRC as a domain for this machine:
# each substitution must find its text exactly once, so a change of the
# example that this test does not follow fails here.
mkdom() {
	local src=$1 name=$2 sock=$3 ip=$4 x cmd
	local base=$(basename "$sock")
	for x in "<domain type='kvm'>" "<name>${base%.sock}</name>" "<boot dev='hd'/>" \
		"<cpu mode='host-passthrough'/>" "path='/run/vifd/$base'" "<console type='pty'/>" \
		"<interface type='vhostuser'>" "<access mode='shared'/>" "<source type='memfd'/>"; do
		[ "$(grep -cF "$x" "$src")" = 1 ] || fail "$src: \"$x\" not there once"
	done
	# The guest pings the namespace twice a second, for up to 5 minutes.
	cmd="i=0; while [ \$i -lt 600 ]; do if ping -c 1 -W 1 $net.0.254 >/dev/null 2>&1;
then echo PING-OK \$i; else echo PING-LOST \$i; fi; i=\$((i+1)); sleep 0.5; done"
	sed -e "s|<domain type='kvm'>|<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>|" \
		-e "s|<name>${base%.sock}</name>|<name>$name</name>|" \
		-e "s|<boot dev='hd'/>|<kernel>$T/img/vmlinuz</kernel><initrd>$T/img/initrd.img</initrd><cmdline>console=ttyS0,115200 panic=-1 no_timer_check guest.quiet=1 guest.wait=60 guest.ip=$ip/24 guest.cmd64=$(printf '%s' "$cmd" | base64 -w0)</cmdline>|" \
		-e "/<cpu mode='host-passthrough'\/>/d" \
		-e "/<disk /,/<\/disk>/d" \
		-e "s|path='/run/vifd/$base'|path='$sock'|" \
		-e "s|<console type='pty'/>|<serial type='file'><source path='$T/$name-console.log'/><target port='0'/></serial>|" \
		-e "s|</domain>|<qemu:commandline><qemu:arg value='-global'/><qemu:arg value='virtio-net-pci.vectors=0'/></qemu:commandline></domain>|" \
		"$src"
}
# (vectors=0: QEMU 7.2 under TCG crashes starting vhost-user with MSI-X,
# see ../shared/guest/README.md.)

mkns "$NS"
start_vifd --vhost-sock-dir "$SD" --vhost-sock-group kvm --vhost-sock-perm 0660
VIFD_ARGS=(--vhost-sock-dir "$SD" --vhost-sock-group kvm --vhost-sock-perm 0660)
[ "$(stat -c %a:%U:%G "$SD")" = 1770:root:kvm ] || fail "socket directory is $(stat -c %a:%U:%G "$SD")"
vctl add-port br0 tn type=tap ifname="$IN" netns="$NS"
ip -n "$NS" addr add "$net.0.254/24" dev "$IN"

# vm1: vifd listens, QEMU (libvirt-qemu) connects.
vctl add-port br0 vm1 type=vhostuser path="$SD/vm1.sock"
[ "$(stat -c %a:%U:%G "$SD/vm1.sock")" = 660:root:kvm ] || fail "vm1.sock is $(stat -c %a:%U:%G "$SD/vm1.sock")"
[ "$(port_info vm1 sock_group)" = kvm ] && [ "$(port_info vm1 sock_perm)" = 0660 ] ||
	fail "show -j: sock_group $(port_info vm1 sock_group), sock_perm $(port_info vm1 sock_perm)"
mkdom "$CONTRIB/vm1-vifd-server.xml" "$D1" "$SD/vm1.sock" "$net.0.1" >"$T/d1.xml"
VS create "$T/d1.xml" >"$T/create1.log" 2>&1 || fail "virsh create vm1: $(cat "$T/create1.log")"
ps -o user= -p "$(cat "/run/libvirt/qemu/$D1.pid")" | grep libvirt >/dev/null ||
	fail "QEMU does not run as libvirt-qemu: the test would prove nothing"

# vm2: QEMU listens (it creates its socket in vifd's directory and waits
# for vifd before the guest runs; virsh create returns then), vifd connects.
mkdom "$CONTRIB/vm2-vifd-client.xml" "$D2" "$SD/vm2.sock" "$net.0.2" >"$T/d2.xml"
bg create2 virsh -q -c "qemu:///system?socket=$T/lv/run/libvirt-sock" create "$T/d2.xml"
C2=$LAST_PID
wait_for 60 "QEMU's socket for vm2" test -S "$SD/vm2.sock"
vctl add-port br0 vm2 type=vhostuser path="$SD/vm2.sock" mode=client
wait "$C2" || fail "virsh create vm2 failed: $(cat "$T/create2.log")"
forget_pid "$C2"

# ok_count NAME: the guest's answered pings so far.
ok_count() { grep -ac "^PING-OK" "$T/$1-console.log" 2>/dev/null || true; }
ok_grows() { [ "$(ok_count "$1")" -ge "$2" ]; }
for d in "$D1" "$D2"; do
	wait_for 240 "$d to boot and ping the namespace" ok_grows "$d" 3
done
pings "$NS" "$net.0.1" || fail "namespace -> vm1: $(cat "$T/ping.log")"
pings "$NS" "$net.0.2" || fail "namespace -> vm2: $(cat "$T/ping.log")"
[ "$(port_info vm1 connected)" = True ] && [ "$(port_info vm2 connected)" = True ] ||
	fail "a vhost-user port is not connected"
log "both guests (QEMU as libvirt-qemu) ping the namespace through vifd"

log "kill -9 vifd, restart: no manual step"
kill -KILL "$VIFD_PID"
wait "$VIFD_PID" 2>/dev/null || true
forget_pid "$VIFD_PID"
mv "$T/vifd.log" "$T/vifd-before.log"
start_vifd "${VIFD_ARGS[@]}"
n1=$(ok_count "$D1") n2=$(ok_count "$D2")
wait_for 90 "vm1's pings to resume" ok_grows "$D1" $((n1 + 3))
wait_for 90 "vm2's pings to resume" ok_grows "$D2" $((n2 + 3))
pings "$NS" "$net.0.1" || fail "namespace -> vm1 after the restart: $(cat "$T/ping.log")"
pings "$NS" "$net.0.2" || fail "namespace -> vm2 after the restart: $(cat "$T/ping.log")"
[ "$(stat -c %a:%U:%G "$SD/vm1.sock")" = 660:root:kvm ] || fail "vm1.sock after the restart is $(stat -c %a:%U:%G "$SD/vm1.sock")"
[ "$(port_stat vm1 rx_pkts)" -gt 0 ] && [ "$(port_stat vm2 rx_pkts)" -gt 0 ] ||
	fail "the restarted vifd saw no frames from a guest"
log "traffic resumed in both modes (vm1 $(ok_count "$D1") and vm2 $(ok_count "$D2") answered pings)"

VS destroy "$D1" >/dev/null
VS destroy "$D2" >/dev/null
[ -z "$(VS list --all --name)" ] || fail "domains left: $(VS list --all --name)"
log "ok"
