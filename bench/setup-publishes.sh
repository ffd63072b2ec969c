#!/bin/bash
# setup-publishes.sh - how many datapath snapshots vifd publishes while one
# frontend sets its device up (each publish wakes every worker and waits
# for all of them; issue 14 measured about 50 for a QEMU guest's boot).
# Frontends, one port each: libvif (vifbench) with 1 and 4 queue pairs,
# DPDK virtio-user (testpmd) with 2, and, if GUEST_DIR holds a guest built
# by ../shared/guest/mkguest.sh, a QEMU virtio-net-pci guest booting.
# The count is `vifctl workers`' "publishes" when the port's rings are
# live, minus the count before the frontend came.
# Usage: bench/setup-publishes.sh   (BUILD=build, GUEST_DIR=build-guest)
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
G=${GUEST_DIR:-build-guest}
T=$(mktemp -d /tmp/vifd-pubs.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T" "/var/run/dpdk/vifdpubs$$"
}
trap cleanup EXIT
"$B/src/vifd/vifd" --state-dir "$T/st" >"$T/vifd.log" 2>&1 &
PIDS+=($!)
ctl() { "$B/src/vifctl/vifctl" --socket "$T/st/vifd.sock" "$@"; }
for _ in $(seq 50); do ctl version >/dev/null 2>&1 && break; sleep 0.1; done
pubs() { ctl -j workers | python3 -c "import json,sys; print(json.load(sys.stdin)['publishes'])"; }
live() {
	ctl -j show | python3 -c "import json,sys; j=json.load(sys.stdin); p=[p for b in j['bridges'] for p in b['ports'] if p['name']=='$1'][0]; print(p['live_rx']+p['live_tx'])"
}
waitlive() { # PORT RINGS
	for _ in $(seq 600); do [ "$(live "$1")" -ge "$2" ] && return 0; sleep 0.1; done
	return 1
}
measure() { # LABEL PORT RINGS
	if waitlive "$2" "$3"; then
		sleep 1
		echo "$1: $(( $(pubs) - p0 )) publishes"
	else
		echo "$1: rings never went live (see $T)"
	fi
}
ctl add-port br0 lv1 type=vhostuser path="$T/lv1.sock"
ctl add-port br0 lv4 type=vhostuser path="$T/lv4.sock" queues=4
ctl add-port br0 tp type=vhostuser path="$T/tp.sock" queues=2
ctl add-port br0 qm type=vhostuser path="$T/qm.sock"
p0=$(pubs)
"$B/src/vifbench/vifbench" --sock "$T/lv1.sock" --mode rx --duration 5 >/dev/null 2>&1 &
PIDS+=($!)
measure "libvif, 1 queue pair" lv1 2
p0=$(pubs)
"$B/src/vifbench/vifbench" --sock "$T/lv4.sock" --mode rx --queues 4 --duration 5 >/dev/null 2>&1 &
PIDS+=($!)
measure "libvif, 4 queue pairs" lv4 8
if command -v dpdk-testpmd >/dev/null; then
	p0=$(pubs)
	(sleep 15; echo) | dpdk-testpmd -l 0,1 --no-huge -m 256 --no-pci --file-prefix="vifdpubs$$" \
		--vdev "net_virtio_user0,path=$T/tp.sock,queues=2" -- --forward-mode=rxonly \
		--nb-cores=1 --rxq=2 --txq=2 --total-num-mbufs=8192 >"$T/tp.log" 2>&1 &
	PIDS+=($!)
	measure "DPDK virtio-user, 2 queue pairs" tp 4
fi
if [ -f "$G/vmlinuz" ]; then
	p0=$(pubs)
	../shared/guest/runguest.sh --guest "$G" --client --sock "$T/qm.sock" --mac 52:54:00:00:00:09 \
		--ip 10.9.9.1/24 --log "$T/qm-console.log" --timeout 120 --cmd 'sleep 10' >"$T/qm.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 900); do grep -q "^GUEST-CMD" "$T/qm-console.log" 2>/dev/null && break; sleep 0.1; done
	measure "QEMU virtio-net-pci guest boot, 1 queue pair" qm 2
fi
