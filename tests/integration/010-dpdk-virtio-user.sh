#!/bin/bash
# 010-dpdk-virtio-user: a frontend nobody here wrote. DPDK testpmd drives
# two virtio-user ports (DPDK's own vhost-user frontend) against two vifd
# vhost-user ports and forwards between them in io mode, seeded with
# tx_first, so every frame crosses vifd over and over in both directions.
# Run with 1 and with 2 queue pairs; testpmd reconnects between runs.
#
#   testpmd port0 (virtio-user) --a.sock--> vifd br0 <--b.sock-- port1 (virtio-user) testpmd
#
# Checks: both directions moved many frames, vifd delivered what testpmd
# received (within one burst in flight per queue), no ring errors.
. "$(dirname "$0")/../lib/common.sh"
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd missing (scripts/deps.sh installs it)"

start_vifd
vctl add-port br0 a type=vhostuser path="$T/a.sock" queues=2
vctl add-port br0 b type=vhostuser path="$T/b.sock" queues=2

# run_testpmd QUEUES FRAMES: testpmd forwards until vifd has delivered
# FRAMES more to each port (60 s at most: on a busy machine the rate is
# anyone's guess, the count is what the checks need), counted from when it
# says it is forwarding (its start-up, 512 MB of memory set up without huge
# pages, takes seconds of its own), then quits and prints its statistics
# (line-buffered: the log shows when).
run_testpmd() {
	local q=$1 frames=$2 pfx fifo=$T/testpmd$q.in pid a0 b0
	pfx=$(dpdk_prefix "tp$q")
	CLEANUP_HOOKS+=("dpdk_cleanup $pfx")
	mkfifo "$fifo"
	timeout 120 stdbuf -oL dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci \
		--file-prefix="$pfx" \
		--vdev "net_virtio_user0,path=$T/a.sock,queues=$q" \
		--vdev "net_virtio_user1,path=$T/b.sock,queues=$q" \
		-- --forward-mode=io --tx-first --nb-cores=1 --rxq="$q" --txq="$q" \
		--total-num-mbufs=16384 <"$fifo" >"$T/testpmd$q.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	exec 8>"$fifo" # testpmd's stdin stays open until we say enter
	forwarding() { grep -q "Press enter to exit" "$T/testpmd$q.log" || ! kill -0 "$pid"; }
	wait_for 60 "testpmd forwarding (queues=$q)" forwarding
	kill -0 "$pid" || fail "testpmd ended before forwarding (queues=$q)"
	a0=$(port_stat a tx_pkts); b0=$(port_stat b tx_pkts)
	enough() { [ $(($(port_stat a tx_pkts) - a0)) -ge "$frames" ] &&
		[ $(($(port_stat b tx_pkts) - b0)) -ge "$frames" ]; }
	for _ in $(seq 120); do enough && break; sleep 0.5; done
	echo >&8
	exec 8>&-
	wait "$pid" || fail "testpmd failed (queues=$q)"
	forget_pid "$pid"
	dpdk_cleanup "$pfx"
}

# testpmd's per-port "Forward statistics" block: RX-packets of port $2.
tp_rx() { awk -v p="$2" 'BEGIN {cur="none"} /Forward statistics for port/ {cur=$(NF-1)} cur==p && /RX-packets:/ {print $2; exit}' "$1"; }

before_a=0
before_b=0
for q in 1 2; do
	log "testpmd io forwarding with $q queue pair(s)"
	run_testpmd "$q" 100000
	vifd_alive
	rx0=$(tp_rx "$T/testpmd$q.log" 0)
	rx1=$(tp_rx "$T/testpmd$q.log" 1)
	ta=$(port_stat a tx_pkts); tb=$(port_stat b tx_pkts)
	da=$((ta - before_a)); db=$((tb - before_b))
	log "queues=$q: vifd delivered a=$da b=$db; testpmd received port0=$rx0 port1=$rx1"
	[ "$rx0" -gt 50000 ] && [ "$rx1" -gt 50000 ] || fail "too little traffic crossed vifd"
	# Frames vifd delivered but testpmd had not polled yet when it stopped:
	# at most one ring's worth per queue.
	[ $((da - rx0)) -ge 0 ] && [ $((da - rx0)) -le $((256 * q)) ] || fail "port a: delivered $da, testpmd saw $rx0"
	[ $((db - rx1)) -ge 0 ] && [ $((db - rx1)) -le $((256 * q)) ] || fail "port b: delivered $db, testpmd saw $rx1"
	before_a=$ta
	before_b=$tb
done
[ "$(port_stat a ring_errors)" = 0 ] && [ "$(port_stat b ring_errors)" = 0 ] || fail "ring errors"
js=$(vctl -j show)
[ "$(jget "$js" "[p['connected'] for p in j['bridges'][0]['ports']]")" = "[False, False]" ] || fail "ports still connected after testpmd quit"
log "PASS"
