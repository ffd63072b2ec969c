#!/bin/bash
# 060-ctrl-queue: the virtio-net control queue (VIRTIO 1.1 5.1.6.5) handed
# to vifd by a libvif frontend. ctrlq_client keeps two frontends open and
# takes one command per line, so vifd's view (`vifctl -j show`) is checked
# after each control command:
#
#   ctrlq_client A (ctrl_vq, 4 pairs) --a.sock--> vifd br0 <--b.sock-- its peer B (4 pairs)
#   ctrlq_client C (ctrl_vq, 1 pair)  --c.sock--> vifd br0 <--d.sock-- its peer D (4 pairs)
#
# - A opens with 4 pairs: vif_open sends VQ_PAIRS_SET(4); a reports
#   active_pairs 4, and frames B sends on its 4 pairs reach A on all 4
#   (vifd picks the rx pair by source pair modulo active pairs);
# - VQ_PAIRS_SET(2): active_pairs 2; A's pairs 0-1 still send, and B's
#   frames now arrive on A's pairs 0-1 only;
# - VQ_PAIRS_SET(0) and (9) are answered VIRTIO_NET_ERR, nothing changes;
# - RX PROMISC / ALLMULTI on and off are answered OK and shown as the
#   port's promisc / allmulti;
# - VQ_PAIRS_SET(4) again: all four pairs receive;
# - C, one pair with the control queue on a 4-queue port (no MQ: the
#   control queue is vring 2, VIRTIO 1.1 5.1.2), gets its RX commands
#   answered and its frames forwarded.
# vifd stays up, no port is stopped, and A quits cleanly.
. "$(dirname "$0")/../lib/common.sh"
: "${CTRLQ:?CTRLQ not set (ctrlq_client)}"

start_vifd
vctl add-port br0 a type=vhostuser path="$T/a.sock" queues=4
vctl add-port br0 b type=vhostuser path="$T/b.sock" queues=4
vctl add-port br0 c type=vhostuser path="$T/c.sock" queues=4
vctl add-port br0 d type=vhostuser path="$T/d.sock" queues=4

# start_client NAME ARGS...: ctrlq_client reading commands from a FIFO,
# replies in $T/NAME-replies.log (one line each), stderr in $T/NAME.log.
declare -A CIN CPID CLINE
start_client() {
	local name=$1 fd; shift
	mkfifo "$T/$name.in"
	"$CTRLQ" "$@" <"$T/$name.in" >"$T/$name-replies.log" 2>"$T/$name.log" &
	PIDS+=($!)
	CPID[$name]=$!
	exec {fd}>"$T/$name.in"
	CIN[$name]=$fd
	CLINE[$name]=0
}

# next_line NAME: waits for the client's next output line, sets R to it.
R=
has_lines() { [ "$(wc -l <"$T/$1-replies.log")" -ge "$2" ]; }
next_line() {
	local n=$((CLINE[$1] + 1))
	wait_for 20 "$1: output line $n" has_lines "$1" "$n"
	R=$(sed -n "${n}p" "$T/$1-replies.log")
	CLINE[$1]=$n
}

# ask NAME CMD...: sends one command, sets R to the reply.
ask() {
	local name=$1; shift
	kill -0 "${CPID[$name]}" 2>/dev/null || fail "$name: ctrlq_client is gone"
	echo "$*" >&"${CIN[$name]}"
	next_line "$name"
	log "$name: $* -> $R"
}
expect_ok() { ask "$@"; [[ $R == ok* ]] || fail "'$*' answered '$R', expected ok"; }
expect_err() { # ERRNAME NAME CMD...
	local e=$1; shift
	ask "$@"
	[[ $R == "err $e "* ]] || fail "'$*' answered '$R', expected err $e"
}
# field KEY: a KEY=number from the last reply.
field() { sed -nE "s/.*\\b$1=([0-9]+).*/\\1/p" <<<"$R"; }
info_is() { [ "$(port_info "$1" "$2")" = "$3" ]; }

# quit_client NAME: ends the client and checks its exit status.
quit_client() {
	echo quit >&"${CIN[$1]}"
	wait "${CPID[$1]}" || fail "$1: ctrlq_client exited with an error"
	forget_pid "${CPID[$1]}"
}

start_client A --sock "$T/a.sock" --peer "$T/b.sock" --queues 4
next_line A
log "A: $R"
[[ $R == "READY ctrl=1 pairs=4 "* ]] || fail "control queue not negotiated: $R"
wait_for 5 "a active_pairs 4 after vif_open" info_is a active_pairs 4
[ "$(port_info a queue_pairs)" = 4 ] || fail "a queue_pairs $(port_info a queue_pairs)"

# 4 pairs active: every pair of A sends and receives.
for q in 0 1 2 3; do
	expect_ok A send "$q" 200
	[ "$(field total)" = 200 ] || fail "pair $q: B got $(field total) of 200"
done
expect_ok A recv 100
[ "$(field total)" = 400 ] || fail "A got $(field total) of 400"
for q in 0 1 2 3; do
	[ "$(field "q$q")" -gt 0 ] || fail "4 pairs active but A's pair $q received nothing: $R"
done

# 2 pairs.
expect_ok A mq 2
wait_for 5 "a active_pairs 2" info_is a active_pairs 2
for q in 0 1; do
	expect_ok A send "$q" 200
	[ "$(field total)" = 200 ] || fail "2 pairs, pair $q: B got $(field total) of 200"
done
expect_ok A recv 100
[ "$(field total)" = 400 ] || fail "2 pairs: A got $(field total) of 400"
[ "$(field q2)" = 0 ] && [ "$(field q3)" = 0 ] || fail "inactive pairs 2-3 received: $R"
[ "$(field q0)" -gt 0 ] && [ "$(field q1)" -gt 0 ] || fail "pairs 0-1 should share: $R"

# Out of range: the device says ERR (libvif would refuse to send these).
expect_err EINVAL A raw-mq 0
expect_err EINVAL A raw-mq 9
expect_err EINVAL A mq 0 # refused by libvif itself
[ "$(port_info a active_pairs)" = 2 ] || fail "a refused VQ_PAIRS_SET changed active_pairs"

# RX modes.
[ "$(port_info a promisc)" = False ] && [ "$(port_info a allmulti)" = False ] ||
	fail "promisc/allmulti not off at start"
expect_ok A rx promisc on
wait_for 5 "a promisc" info_is a promisc True
expect_ok A rx allmulti on
wait_for 5 "a allmulti" info_is a allmulti True
expect_ok A rx promisc off
wait_for 5 "a promisc off" info_is a promisc False
[ "$(port_info a allmulti)" = True ] || fail "allmulti changed with promisc"
expect_ok A rx allmulti off
wait_for 5 "a allmulti off" info_is a allmulti False

# Back to 4.
expect_ok A mq 4
wait_for 5 "a active_pairs 4 again" info_is a active_pairs 4
expect_ok A recv 100
[ "$(field total)" = 400 ] || fail "4 pairs again: A got $(field total) of 400"
for q in 0 1 2 3; do
	[ "$(field "q$q")" -gt 0 ] || fail "4 pairs again but A's pair $q received nothing: $R"
done

# One pair with a control queue on a 4-queue port: no MQ, so the control
# queue is vring 2, not 8.
start_client C --sock "$T/c.sock" --peer "$T/d.sock" --queues 1 --id 1
next_line C
log "C: $R"
[[ $R == "READY ctrl=1 pairs=1 "* ]] || fail "1 pair: control queue not negotiated: $R"
expect_ok C rx promisc on
wait_for 5 "c promisc" info_is c promisc True
expect_ok C send 0 100
[ "$(field total)" = 100 ] || fail "1 pair: B got $(field total) of 100"
[ "$(port_info c broken)" = False ] || fail "port c stopped"
quit_client C

vifd_alive
for p in a b c d; do
	[ "$(port_stat "$p" guest_stops)" = 0 ] || fail "port $p stopped"
done
quit_client A
log "PASS"
