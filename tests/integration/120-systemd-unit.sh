#!/bin/bash
# 120-systemd-unit: the shipped service as systemd would run it, without
# systemd (PID 1 here is not systemd: the unit is checked with
# `systemd-analyze verify` only). The generated vifd.service is parsed, not
# copied into this script, so unit and test cannot drift:
#  - its user comes from contrib/systemd/vifd.sysusers (systemd-sysusers,
#    under a throwaway name vfdtPID removed at the end) and its directories
#    from vifd.tmpfiles (systemd-tmpfiles, under $T instead of /run/vifd and
#    /var/lib/vifd);
#  - vifd runs with the unit's ExecStart (no configuration file), as its
#    User/Group with their groups, with exactly its CapabilityBoundingSet
#    and AmbientCapabilities (setpriv --no-new-privs), its UMask and its
#    limits (each as far as this shell's hard limit allows: raising one
#    needs CAP_SYS_RESOURCE, which CI's root may not have);
#  - one port of each type comes up: vhostuser server and client (a libvif
#    frame stream crosses), tap, tap with netns=, afpacket and afxdp on veth
#    pairs (a namespace pings across each);
#  - with one capability fewer (CAP_SYS_ADMIN, CAP_NET_RAW) the port types
#    that need it are refused with a message naming it, the others still work;
#  - vifctl with neither --socket nor $VIFD_SOCKET finds the socket at the
#    unit's /run/vifd/vifd.sock: checked in a private mount namespace whose
#    /run is an empty tmpfs with $T's directory bound on /run/vifd, so a real
#    installation's /run/vifd and tests running beside this one are never
#    touched.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/netns.sh"
for c in setpriv prlimit unshare systemd-analyze systemd-sysusers systemd-tmpfiles ethtool; do
	command -v $c >/dev/null || fail "$c missing (util-linux, systemd, ethtool)"
done
: "${VIFD_UNIT:?}" "${VIFD_SYSTEMD_DIR:?}"
[ -f "$VIFD_UNIT" ] || fail "no generated unit at $VIFD_UNIT"
UNIT=$VIFD_UNIT
SYSUSERS=$VIFD_SYSTEMD_DIR/vifd.sysusers
TMPFILES=$VIFD_SYSTEMD_DIR/vifd.tmpfiles

# uval KEY: the unit's values of KEY, one line per assignment.
uval() { sed -n "s/^$1=//p" "$UNIT"; }
# caps_of KEY: "+net_admin,+net_raw" from "CAP_NET_ADMIN CAP_NET_RAW".
caps_of() { uval "$1" | tr ' ' '\n' | sed -n 's/^CAP_\(.*\)/+\L\1/p' | sort | paste -sd, -; }
# without LIST CAP: LIST without +cap.
without() { tr ',' '\n' <<<"$1" | grep -vx "+$2" | paste -sd, -; }

log "systemd-analyze verify (the unit with ExecStart's binary at the built vifd)"
mkdir "$T/unit"
sed "s|^ExecStart=[^ ]*|ExecStart=$VIFD|" "$UNIT" >"$T/unit/vifd.service"
systemd-analyze verify --man=no "$T/unit/vifd.service" >"$T/verify.log" 2>&1 ||
	fail "systemd-analyze verify failed: $(cat "$T/verify.log")"
# It warns (exit 0) about unknown keys and bad values: none allowed.
[ ! -s "$T/verify.log" ] || fail "systemd-analyze verify: $(cat "$T/verify.log")"

log "what the unit says"
USER_=$(uval User) GROUP_=$(uval Group)
RUNDIR=/run/$(uval RuntimeDirectory) STATEDIR=/var/lib/$(uval StateDirectory)
BOUND=$(caps_of CapabilityBoundingSet) AMBIENT=$(caps_of AmbientCapabilities)
[ -n "$BOUND" ] && [ "$BOUND" = "$AMBIENT" ] ||
	fail "CapabilityBoundingSet ($BOUND) and AmbientCapabilities ($AMBIENT) differ"
[ "$(uval NoNewPrivileges)" = yes ] || fail "NoNewPrivileges is not yes"
read -ra EXEC <<<"$(uval ExecStart)"
[ "$(basename "${EXEC[0]}")" = vifd ] || fail "ExecStart runs ${EXEC[0]}"
# Starts with no configuration file: extra options only from an optional
# environment file.
for w in "${EXEC[@]}"; do
	case $w in -c|--config|--config=*) fail "ExecStart needs a configuration file: ${EXEC[*]}";; esac
done
grep -x 'EnvironmentFile=-.*' "$UNIT" >/dev/null || fail "EnvironmentFile is not optional"
argval() { local i; for ((i = 1; i < ${#EXEC[@]} - 1; i++)); do
	[ "${EXEC[i]}" = "$1" ] && { echo "${EXEC[i + 1]}"; return; }; done; }
[ "$(argval --state-dir)" = "$STATEDIR" ] || fail "--state-dir is not $STATEDIR"
[ "$(argval --ctl-socket)" = "$RUNDIR/vifd.sock" ] || fail "--ctl-socket is not $RUNDIR/vifd.sock"
[ "$(argval --group)" = "$GROUP_" ] || fail "--group is not the unit's group"
"$VIFCTL" --help | grep "else $RUNDIR/vifd.sock\$" >/dev/null ||
	fail "vifctl's default socket is not the unit's $RUNDIR/vifd.sock"
# The sysusers and tmpfiles files agree with the unit.
read -r _ uname _ <<<"$(grep '^u ' "$SYSUSERS")"
[ "$uname" = "$USER_" ] && [ "$USER_" = "$GROUP_" ] || fail "sysusers user $uname, unit $USER_:$GROUP_"
grep -x "d $RUNDIR  *$(uval RuntimeDirectoryMode) $USER_ $GROUP_ -" "$TMPFILES" >/dev/null ||
	fail "tmpfiles' $RUNDIR differs from RuntimeDirectory*"
grep -x "d $STATEDIR  *$(uval StateDirectoryMode) $USER_ $GROUP_ -" "$TMPFILES" >/dev/null ||
	fail "tmpfiles' $STATEDIR differs from StateDirectory*"
# The sandbox cannot be applied without systemd: what each port type needs
# from it is checked by name (families: netlink for links and XDP, packet,
# xdp; /dev/net/tun; setns() into network namespaces; bpf()).
fams=" $(uval RestrictAddressFamilies | tr '\n' ' ') "
for f in AF_UNIX AF_INET AF_NETLINK AF_PACKET AF_XDP; do
	[[ $fams = *" $f "* ]] || fail "RestrictAddressFamilies lacks $f"
done
[ "$(uval PrivateDevices)" != yes ] || fail "PrivateDevices=yes hides /dev/net/tun"
grep -x 'DeviceAllow=/dev/net/tun rw' "$UNIT" >/dev/null || fail "no DeviceAllow=/dev/net/tun rw"
[ -z "$(uval RestrictNamespaces)" ] || [ "$(uval RestrictNamespaces)" = net ] ||
	fail "RestrictNamespaces=$(uval RestrictNamespaces) (tap netns= needs net)"
uval SystemCallFilter | grep -w bpf >/dev/null || fail "SystemCallFilter lacks bpf"
log "  user $USER_, $RUNDIR, $STATEDIR, capabilities $BOUND"

log "the user (sysusers.d) and directories (tmpfiles.d), under throwaway names"
U=vfdt$$
RUN=$T/run STATE=$T/lib
UPIDS=() # processes running as $U: gone before the user is
stop_unit_vifd() {
	[ -n "$VIFD_PID" ] || return 0
	kill -TERM "$VIFD_PID" 2>/dev/null
	wait "$VIFD_PID"
	local rc=$?
	forget_pid "$VIFD_PID"
	VIFD_PID=
	return $rc
}
unit_cleanup() {
	local p
	stop_unit_vifd
	for p in "${UPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; forget_pid "$p"; done
	userdel -f "$U" 2>/dev/null
	getent group "$U" >/dev/null && groupdel "$U" 2>/dev/null
	true
}
CLEANUP_HOOKS+=(unit_cleanup)
chmod 0711 "$T" # a real /run and /var/lib let the user through
sed "s|^u $USER_ |u $U |; s|$STATEDIR|$STATE|" "$SYSUSERS" >"$T/sysusers.conf"
systemd-sysusers "$T/sysusers.conf" >"$T/sysusers.log" 2>&1 || fail "systemd-sysusers: $(cat "$T/sysusers.log")"
id "$U" >/dev/null 2>&1 || fail "systemd-sysusers did not create $U"
ugid=$(id -g "$U")
sed "s|$RUNDIR|$RUN|; s|$STATEDIR|$STATE|; s| $USER_ $GROUP_ | $U $U |" "$TMPFILES" >"$T/tmpfiles.conf"
systemd-tmpfiles --create "$T/tmpfiles.conf" >"$T/tmpfiles.log" 2>&1 ||
	fail "systemd-tmpfiles: $(cat "$T/tmpfiles.log")"
[ "$(stat -c '%a %U:%G' "$RUN")" = "$(uval RuntimeDirectoryMode | sed 's/^0//') $U:$U" ] ||
	fail "$RUN is $(stat -c '%a %U:%G' "$RUN")"
[ "$(stat -c '%a %U:%G' "$STATE")" = "$(uval StateDirectoryMode | sed 's/^0//') $U:$U" ] ||
	fail "$STATE is $(stat -c '%a %U:%G' "$STATE")"

# limit NAME UNITVALUE: the unit's limit, or the hard limit if that is lower.
limit() {
	local hard
	hard=$(prlimit --noheadings --output HARD "--$1" | tr -d ' ')
	case $2:$hard in
	*:unlimited) echo "$2";;
	infinity:*) echo "$hard";;
	*) [ "$2" -le "$hard" ] && echo "$2" || echo "$hard";;
	esac
}
NOFILE=$(limit nofile "$(uval LimitNOFILE)")
MEMLOCK=$(limit memlock "$(uval LimitMEMLOCK)")
[ "$NOFILE" = infinity ] && NOFILE=unlimited
[ "$MEMLOCK" = infinity ] && MEMLOCK=unlimited
log "  limits: nofile $NOFILE (unit $(uval LimitNOFILE)), memlock $MEMLOCK (unit $(uval LimitMEMLOCK))"

# start_unit_vifd CAPS RUN STATE: vifd as the unit runs it, with CAPS.
start_unit_vifd() {
	local caps=$1 run=$2 state=$3 args=() w prev=
	for w in "${EXEC[@]:1}"; do
		case $w in
		'$VIFD_OPTS') ;;
		*) w=${w/#$STATEDIR/$state}; w=${w/#$RUNDIR/$run}
		   [ "$prev" = --group ] && w=$U
		   args+=("$w");;
		esac
		prev=$w
	done
	bg vifd sh -c 'umask "$0"; exec "$@"' "$(uval UMask)" \
		prlimit "--nofile=$NOFILE:$NOFILE" "--memlock=$MEMLOCK:$MEMLOCK" \
		setpriv --reuid="$U" --regid="$U" --init-groups --no-new-privs \
		--inh-caps="-all${caps:+,$caps}" --ambient-caps="-all${caps:+,$caps}" \
		--bounding-set="-all${caps:+,$caps}" "$VIFD" "${args[@]}"
	VIFD_PID=$LAST_PID
	SOCK=$run/vifd.sock
	wait_for 20 "vifd control socket" vctl version
}
vctl() { "$VIFCTL" --socket "$SOCK" "$@"; }

log "vifd as $U with $BOUND"
start_unit_vifd "$BOUND" "$RUN" "$STATE"
vifd_alive
st=$(sed -n 's/^Cap\(Eff\|Amb\|Bnd\):[[:space:]]*//p' "/proc/$VIFD_PID/status" | sort -u)
[ "$(wc -l <<<"$st")" = 1 ] || fail "effective, ambient and bounding sets differ: $st"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$VIFD_PID/status")" = "$(id -u "$U")" ] || fail "vifd is not $U"
[ "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$VIFD_PID/status")" = 1 ] || fail "no NoNewPrivs"
[ "$(stat -c '%a %U:%G' "$RUN/vifd.sock")" = "660 $U:$U" ] ||
	fail "control socket is $(stat -c '%a %U:%G' "$RUN/vifd.sock")"
[ -f "$STATE/vifd.pid" ] && [ ! -e "$STATE/vifd.sock" ] ||
	fail "--ctl-socket: want the pid file, not the socket, in the state directory: $(ls "$STATE")"

log "vifctl finds $RUNDIR/vifd.sock by default (private mount namespace)"
mkdir "$T/cwd" "$T/cwd2" "$T/cwd2/vifd-state"
ln -s "$RUN/vifd.sock" "$T/cwd2/vifd-state/vifd.sock"
# in_run_ns DIR USER GROUP GROUPS CMD...: CMD in DIR, as USER:GROUP with
# supplementary GROUPS, without $VIFD_SOCKET, with $RUN bound on /run/vifd
# (the rest of /run an empty tmpfs).
in_run_ns() {
	unshare --mount --propagation private sh -c \
		'mount -t tmpfs tmpfs /run && mkdir /run/vifd && mount --bind "$0" /run/vifd &&
		 cd "$1" && u=$2 g=$3 gs=$4 && shift 4 &&
		 exec setpriv --reuid="$u" --regid="$g" --groups="$gs" env -u VIFD_SOCKET "$@"' \
		"$RUN" "$@"
}
NOGROUP=$(getent group nogroup | cut -d: -f3)
# A member of the unit's group (not its user, not root) gets in through
# --group, at the default path.
in_run_ns "$T/cwd" nobody "$NOGROUP" "$ugid" "$VIFCTL" -j version >"$T/out.txt" 2>"$T/err.txt" ||
	fail "vifctl in a directory without vifd-state: $(cat "$T/err.txt")"
[ "$(jget "$(cat "$T/out.txt")" "j['name']")" = vifd ] || fail "no version from the default socket"
rc=0
in_run_ns "$T/cwd" nobody "$NOGROUP" "$NOGROUP" "$VIFCTL" version \
	>/dev/null 2>"$T/err.txt" || rc=$?
[ "$rc" = 3 ] || fail "a user outside $U's group: exit $rc (want 3): $(cat "$T/err.txt")"
# ./vifd-state/vifd.sock comes first when it exists (here a link to the
# same socket: it answers), and $VIFD_SOCKET before both.
in_run_ns "$T/cwd2" root 0 0 "$VIFCTL" version >/dev/null 2>"$T/err.txt" ||
	fail "vifctl with ./vifd-state/vifd.sock: $(cat "$T/err.txt")"
rm "$T/cwd2/vifd-state/vifd.sock"
touch "$T/cwd2/vifd-state/vifd.sock"
rc=0
in_run_ns "$T/cwd2" root 0 0 "$VIFCTL" version >/dev/null 2>"$T/err.txt" || rc=$?
[ "$rc" = 3 ] && grep "at ./vifd-state/vifd.sock" "$T/err.txt" >/dev/null ||
	fail "./vifd-state/vifd.sock present but not tried first: exit $rc: $(cat "$T/err.txt")"
rc=0
VIFD_SOCKET=$T/nosuch.sock "$VIFCTL" version >/dev/null 2>"$T/err.txt" || rc=$?
[ "$rc" = 3 ] && grep "at $T/nosuch.sock" "$T/err.txt" >/dev/null || fail "VIFD_SOCKET not first"
log "  as a member of its group, from a directory without vifd-state; ./vifd-state and VIFD_SOCKET first"

log "one port of each type"
id=$$
NA=vifdt-ua$id NB=vifdt-ub$id NC=vifdt-uc$id
TAP=vtu$id TAPN=vtn$id VH1=vup$id VP1=vuq$id VH2=vux$id VP2=vuy$id
net=10.$((id % 200 + 20))
mkns "$NA"; mkns "$NB"; mkns "$NC"
LINKS+=("$TAP")
ip link add "$VH1" type veth peer name "$VP1" netns "$NB"
LINKS+=("$VH1")
ip link add "$VH2" type veth peer name "$VP2" netns "$NC"
LINKS+=("$VH2")
ip -n "$NB" addr add "$net.0.2/24" dev "$VP1"
ip -n "$NB" link set "$VP1" up
ip -n "$NC" addr add "$net.0.3/24" dev "$VP2"
ip -n "$NC" link set "$VP2" up
in_ns "$NC" ethtool -K "$VP2" tx off tso off gso off >/dev/null # AF_XDP takes no offloads

# vhostuser client: a libvif endpoint listening as the same user (its
# socket must be one vifd may connect to), a sink for what the server
# port's libvif sender sends.
bg sink setpriv --reuid="$U" --regid="$U" --clear-groups "$VIFBENCH" --server \
	--sock "$RUN/vm2.sock" --mode rx --expect 500 --timeout 60 \
	--src-mac 02:00:00:00:00:02 --dst-mac 02:00:00:00:00:01 --json
SINK=$LAST_PID
UPIDS+=("$SINK")
wait_for 10 "sink socket" test -S "$RUN/vm2.sock"
add() { vctl add-port br0 "$@" 2>"$T/err.txt" || fail "add-port $*: $(cat "$T/err.txt")"; }
add vm1 type=vhostuser path="$RUN/vm1.sock"
add vm2 type=vhostuser path="$RUN/vm2.sock" mode=client
add tp type=tap ifname="$TAP"
add tn type=tap ifname="$TAPN" netns="$NA"
add ap type=afpacket dev="$VH1"
# AF_XDP's UMEM is 8 MiB of locked memory per queue.
xdp=1
if [ "$MEMLOCK" != unlimited ] && [ "$MEMLOCK" -lt $((8 << 20)) ]; then
	log "  SKIP afxdp: memlock hard limit $MEMLOCK < 8 MiB here"
	xdp=0
else
	add ax type=afxdp dev="$VH2"
fi
[ "$(stat -c %U "$RUN/vm1.sock")" = "$U" ] || fail "vm1's socket is not $U's"
# Guests' sockets share /run/vifd with the control socket, which no port may take.
rc=0
vctl add-port br0 bad type=vhostuser path="$RUN/vifd.sock" >/dev/null 2>"$T/err.txt" || rc=$?
[ "$rc" = 1 ] && grep "is vifd's control socket" "$T/err.txt" >/dev/null ||
	fail "a port on the control socket's path: exit $rc: $(cat "$T/err.txt")"
link_exists "" "$TAP" || fail "tap $TAP missing"
link_exists "$NA" "$TAPN" || fail "tap $TAPN missing in $NA"
connected() { [ "$(port_info "$1" connected)" = True ]; }
wait_for 10 "vm2 connected" connected vm2
for p in vm2 tp tn ap $( ((xdp)) && echo ax); do
	connected "$p" || fail "port $p is not up: $(vctl show)"
done
vctl show >"$T/show.log"
bg src "$VIFBENCH" --sock "$RUN/vm1.sock" --mode tx --count 1000 --rate 2000 --timeout 60 \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02
ip -n "$NA" addr add "$net.0.1/24" dev "$TAPN"
wait_for 20 "ping tap netns= -> afpacket" pings "$NA" "$net.0.2"
if ((xdp)); then
	wait_for 20 "ping tap netns= -> afxdp" pings "$NA" "$net.0.3"
fi
wait "$SINK" || fail "the vhostuser client port's sink missed frames: $(tail -n 3 "$T/sink.log")"
forget_pid "$SINK"
[ "$(port_stat vm1 connects)" -ge 1 ] && [ "$(port_stat vm1 rx_pkts)" -ge 500 ] ||
	fail "vm1 (server mode): connects $(port_stat vm1 connects), rx_pkts $(port_stat vm1 rx_pkts)"
log "  vhostuser server -> client: $(port_stat vm2 tx_pkts) frames; pings tap netns= -> afpacket$( ((xdp)) && echo ', afxdp')"
vifd_alive
# taps vifd creates are persistent (they outlive a restart, test 110):
# del-port deletes them, with the unit's capabilities too
vctl del-port tp
vctl del-port tn
link_exists "" "$TAP" && fail "tap $TAP left after del-port"
link_exists "$NA" "$TAPN" && fail "tap $TAPN left after del-port"
stop_unit_vifd || fail "vifd exited with an error"

# check_refused PORTNAME WANT ARGS...: add-port is refused, naming WANT.
check_refused() {
	local name=$1 want=$2 rc=0; shift 2
	vctl add-port br0 "$name" "$@" >/dev/null 2>"$T/err.txt" || rc=$?
	[ "$rc" = 1 ] || fail "$name ($*) with $caps: exit $rc (want 1)"
	grep "$want" "$T/err.txt" >/dev/null || fail "$name: no clear reason: $(cat "$T/err.txt")"
	log "  $(cat "$T/err.txt")"
}
for drop in sys_admin net_raw; do
	caps=$(without "$BOUND" "$drop")
	log "one capability fewer: $caps"
	mkdir "$T/run-$drop" "$T/lib-$drop"
	chown "$U:$U" "$T/run-$drop" "$T/lib-$drop"
	mv "$T/vifd.log" "$T/vifd-before-$drop.log"
	start_unit_vifd "$caps" "$T/run-$drop" "$T/lib-$drop"
	case $drop in
	sys_admin)
		check_refused tn "setns() needs CAP_SYS_ADMIN" type=tap ifname="$TAPN" netns="$NA"
		add tp type=tap ifname="$TAP"
		add ap type=afpacket dev="$VH1"
		;;
	net_raw)
		check_refused ap "need CAP_NET_RAW" type=afpacket dev="$VH1"
		check_refused ax "need CAP_NET_RAW" type=afxdp dev="$VH2"
		add tn type=tap ifname="$TAPN" netns="$NA"
		;;
	esac
	vifd_alive
	stop_unit_vifd || fail "vifd exited with an error"
done
log "ok"
