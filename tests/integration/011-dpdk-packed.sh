#!/bin/bash
# 011-dpdk-packed: 010 with packed virtqueues. DPDK testpmd drives two
# virtio-user ports with packed_vq=1 (VIRTIO_F_RING_PACKED) against two
# vifd vhost-user ports and forwards between them in io mode (tx_first), so
# frames cross vifd over and over in both directions, through packed rings
# both ways; then once with port 0 packed and port 1 split, so vifd copies
# from a packed ring into a split one and back.
#
#   testpmd port0 (virtio-user, packed) --a.sock--> vifd br0 <--b.sock-- port1 (packed | split)
#
# Checks: the packed feature was negotiated (or not) on each port as asked,
# both directions moved many frames, vifd delivered what testpmd received
# (within a ring's worth in flight per queue), no ring errors.
. "$(dirname "$0")/../lib/common.sh"
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd missing (scripts/deps.sh installs it)"

start_vifd
vctl add-port br0 a type=vhostuser path="$T/a.sock" queues=2
vctl add-port br0 b type=vhostuser path="$T/b.sock" queues=2

PACKED_BIT=$((1 << 34))

# run_testpmd NAME QUEUES FRAMES PACKED_A PACKED_B: as 010's, each port with
# packed_vq as asked; records the features each vifd port negotiated.
run_testpmd() {
	local n=$1 q=$2 frames=$3 pa=$4 pb=$5 pfx fifo=$T/testpmd$1.in pid a0 b0
	pfx=$(dpdk_prefix "tp$n")
	CLEANUP_HOOKS+=("dpdk_cleanup $pfx")
	mkfifo "$fifo"
	timeout 120 stdbuf -oL dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci \
		--file-prefix="$pfx" \
		--vdev "net_virtio_user0,path=$T/a.sock,queues=$q,packed_vq=$pa" \
		--vdev "net_virtio_user1,path=$T/b.sock,queues=$q,packed_vq=$pb" \
		-- --forward-mode=io --tx-first --nb-cores=1 --rxq="$q" --txq="$q" \
		--total-num-mbufs=16384 <"$fifo" >"$T/testpmd$n.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	exec 8>"$fifo" # testpmd's stdin stays open until we say enter
	forwarding() { grep -q "Press enter to exit" "$T/testpmd$n.log" || ! kill -0 "$pid"; }
	wait_for 60 "testpmd forwarding ($n)" forwarding
	kill -0 "$pid" || fail "testpmd ended before forwarding ($n)"
	FEAT_A=$(port_info a features); FEAT_B=$(port_info b features)
	a0=$(port_stat a tx_pkts); b0=$(port_stat b tx_pkts)
	enough() { [ $(($(port_stat a tx_pkts) - a0)) -ge "$frames" ] &&
		[ $(($(port_stat b tx_pkts) - b0)) -ge "$frames" ]; }
	for _ in $(seq 120); do enough && break; sleep 0.5; done
	echo >&8
	exec 8>&-
	wait "$pid" || fail "testpmd failed ($n)"
	forget_pid "$pid"
	dpdk_cleanup "$pfx"
}

# testpmd's per-port "Forward statistics" block: RX-packets of port $2.
tp_rx() { awk -v p="$2" 'BEGIN {cur="none"} /Forward statistics for port/ {cur=$(NF-1)} cur==p && /RX-packets:/ {print $2; exit}' "$1"; }

# has_packed FEATURES(0x...) WANT(0|1)
has_packed() { [ $(( ($1 & PACKED_BIT) != 0 )) = "$2" ]; }

before_a=0
before_b=0
for run in "packed2 2 1 1" "mixed1 1 1 0"; do
	set -- $run
	n=$1 q=$2 pa=$3 pb=$4
	log "testpmd io forwarding, $q queue pair(s), packed_vq port0=$pa port1=$pb"
	run_testpmd "$n" "$q" 100000 "$pa" "$pb"
	vifd_alive
	log "$n: features a=$FEAT_A b=$FEAT_B"
	has_packed "$FEAT_A" "$pa" || fail "$n: port a features $FEAT_A, packed should be $pa"
	has_packed "$FEAT_B" "$pb" || fail "$n: port b features $FEAT_B, packed should be $pb"
	rx0=$(tp_rx "$T/testpmd$n.log" 0)
	rx1=$(tp_rx "$T/testpmd$n.log" 1)
	ta=$(port_stat a tx_pkts); tb=$(port_stat b tx_pkts)
	da=$((ta - before_a)); db=$((tb - before_b))
	log "$n: vifd delivered a=$da b=$db; testpmd received port0=$rx0 port1=$rx1"
	[ "$rx0" -gt 50000 ] && [ "$rx1" -gt 50000 ] || fail "too little traffic crossed vifd"
	[ $((da - rx0)) -ge 0 ] && [ $((da - rx0)) -le $((256 * q)) ] || fail "port a: delivered $da, testpmd saw $rx0"
	[ $((db - rx1)) -ge 0 ] && [ $((db - rx1)) -le $((256 * q)) ] || fail "port b: delivered $db, testpmd saw $rx1"
	before_a=$ta
	before_b=$tb
done
[ "$(port_stat a ring_errors)" = 0 ] && [ "$(port_stat b ring_errors)" = 0 ] || fail "ring errors"
[ "$(port_stat a guest_stops)" = 0 ] && [ "$(port_stat b guest_stops)" = 0 ] || fail "a port was stopped"
js=$(vctl -j show)
[ "$(jget "$js" "[p['connected'] for p in j['bridges'][0]['ports']]")" = "[False, False]" ] || fail "ports still connected after testpmd quit"
log "PASS"
