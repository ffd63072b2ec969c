#!/bin/bash
# 092-qos-fairness-dpdk: the max-min fair share of a congested port with
# senders nobody here wrote: DPDK testpmd in txonly mode on virtio-user.
#
#   testpmd X:          x1 --+             +-- re: egress-rate=20mbit, reads fast
#                       x2 --+-- vifd -----+
#   testpmd Y (1/D):    y1 --+             +-- rg: reads 2000 frames/s (its ring fills)
#                       y2 --+
#
# x1 and y1 send to re, x2 and y2 to rg (1514-byte frames, 1518 with the
# FCS; each port its own source MAC). The receivers are vifbench with
# --any-flows, which counts every frame per source MAC. testpmd never stops
# trying (txonly: a frame a full ring refuses is freed and a new one built),
# so what it offers is set by the CPU time it gets: both forwarding lcores
# share CPU 0, and Y is stopped and continued (SIGSTOP, SIGCONT) so that it
# runs a fraction of the time: all of it for 1:1, 12 ms in 100 for about
# 10:1, 5 ms in 800 for about 100:1 (sleep(1) overshoots by a few ms). The log gives the ratio measured: each
# testpmd's frames offered (TX-packets + TX-dropped, what a full ring
# refused included) per second of its CPU time, times the CPU time it had
# in the window. Y's rings hold 2048 frames, more than its share of either
# port in 800 ms, so it stays backlogged while stopped: every sender is far
# above its share and is due half of each port. Asserted per receiver:
# Jain's index of got/due >= 0.98, each within 5% of its due, and >= 97% of
# the egress limit carried, times the part of the window vifd's workers
# were not kept waiting for a CPU (see 091). With 1 worker, then 2, where the two
# senders to each port are on different workers (x1, y1, x2, y2 are ports
# 0, 1, 2, 3: port p's queue is polled by worker p mod 2). The testpmds run
# through all of a vifd's rounds; a round whose check fails is measured
# again, up to 3 times.
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd missing (scripts/deps.sh installs it)"
. "$(dirname "$0")/../lib/fairshare.sh"

SIZE=1514
EGRESS=20mbit
EGRESS_FPS=1651.3   # 20e6 / 8 / 1514
RING_FPS=2000
RING=2048           # virtio-user ring entries
WARM=1              # after the duty cycle starts: this long, then
WINDOW=1.5          # ... the receivers measure over WINDOW seconds

mac_of() {
	case $1 in
	x1) echo 02:00:00:00:03:01 ;; y1) echo 02:00:00:00:03:02 ;;
	x2) echo 02:00:00:00:03:03 ;; y2) echo 02:00:00:00:03:04 ;;
	re) echo 02:00:00:00:04:01 ;; rg) echo 02:00:00:00:04:02 ;;
	esac
}

# testpmd NAME PORT1 PORT2: a txonly testpmd on CPU 0 (its main lcore idle,
# its forwarding lcore busy), PORT1 sending to re, PORT2 to rg. It runs
# until a line arrives on its stdin, the FIFO $T/NAME.in, held open on the
# test's descriptor TP_FD (tp_stop).
testpmd() {
	local name=$1 p1=$2 p2=$3 pfx
	pfx=$(dpdk_prefix "$name")
	CLEANUP_HOOKS+=("dpdk_cleanup $pfx")
	mkfifo "$T/$name.in"
	exec {TP_FD}<>"$T/$name.in"
	bg "$name" sh -c "exec dpdk-testpmd \
		--lcores=0@0,1@0 --no-huge -m 128 --no-pci --file-prefix=$pfx \
		--vdev net_virtio_user0,path=$T/$p1.sock,mac=$(mac_of "$p1"),queue_size=$RING \
		--vdev net_virtio_user1,path=$T/$p2.sock,mac=$(mac_of "$p2"),queue_size=$RING \
		-- --forward-mode=txonly --txpkts=$SIZE --nb-cores=1 --txd=$RING --rxd=512 \
		--total-num-mbufs=8192 \
		--eth-peer=0,$(mac_of re) --eth-peer=1,$(mac_of rg) <$T/$name.in"
}
tp_stop() { # FD
	echo >&"$1"
	eval "exec $1>&-"
}
# tp_offered LOG PORT: frames testpmd offered on port PORT (0 or 1):
# TX-packets + TX-dropped (those a full ring refused)
tp_offered() {
	awk -v p="$2" 'BEGIN {cur="none"} /Forward statistics for port/ {cur=$(NF-1)}
		cur==p && /TX-packets:/ {print $2 + $4; exit}' "$1"
}
# cpu_ns PID: CPU time of all of the process's threads so far (ns)
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}

# duty PID ON OFF: lets process PID run ON seconds in every ON + OFF (a
# background loop, in DUTY_PID; duty_end stops it and continues PID)
duty() {
	bg "duty-$1" sh -c "while kill -CONT $1 2>/dev/null; do sleep $2; kill -STOP $1 || exit 0; \
		sleep $3; done"
	DUTY_PID=$LAST_PID
	CLEANUP_HOOKS+=("kill -CONT $1 2>/dev/null")
}
duty_end() { # PID
	kill -TERM "$DUTY_PID"
	wait "$DUTY_PID" 2>/dev/null || true
	forget_pid "$DUTY_PID"
	kill -CONT "$1"
}

# measure TAG ON OFF: one round, Y running ON s in every ON + OFF (ON 0:
# all the time). The receivers measure over the same WINDOW (vifbench
# --window-signal); the CPU time of each testpmd in it is kept in
# $T/cpu-TAG for the offers, which are known when the testpmds have ended.
measure() {
	local tag=$1 on=$2 off=$3 rx1 rx2 cx0 cy0 cx1 cy1 w0 w1 t0 t1
	bg "rx-$tag-re" "$VIFBENCH" --sock "$T/re.sock" --mode rx --duration 60 --window-signal \
		--any-flows --src-mac "$(mac_of re)" --json
	rx1=$LAST_PID
	bg "rx-$tag-rg" "$VIFBENCH" --sock "$T/rg.sock" --mode rx --duration 60 --window-signal \
		--any-flows --rx-rate $RING_FPS --src-mac "$(mac_of rg)" --json
	rx2=$LAST_PID
	wait_for 10 "receivers connected" all_live re rg
	[ "$on" = 0 ] || duty "$YPID" "$on" "$off"
	sleep $WARM
	t0=$(date +%s.%N) cx0=$(cpu_ns "$XPID") cy0=$(cpu_ns "$YPID") w0=$(dp_wait_ns)
	kill -USR1 "$rx1" "$rx2"
	sleep $WINDOW
	kill -INT "$rx1" "$rx2"
	t1=$(date +%s.%N) cx1=$(cpu_ns "$XPID") cy1=$(cpu_ns "$YPID") w1=$(dp_wait_ns)
	[ "$on" = 0 ] || duty_end "$YPID"
	reap "$rx1" "$rx2" || fail "a receiver failed ($tag)"
	echo "$t0 $t1 $cx0 $cx1 $cy0 $cy1 $(waited "$w0" "$w1" "$NW")" >"$T/cpu-$tag"
}

# check TAG: the checks of a measured round (the testpmds have ended)
check() {
	local tag=$1 t0 t1 cx0 cx1 cy0 cy1 wf ex0 ey0 ex1 ey1 rc=0
	read -r t0 t1 cx0 cx1 cy0 cy1 wf <"$T/cpu-$tag"
	# frames/s offered in the window: offers per CPU second x CPU seconds
	rate() { # TOTAL CPU_TOTAL CPU_START CPU_END
		$PY -c "print(round($1 / max($2, 1) * ($4 - $3) / ($t1 - $t0)))"
	}
	ex0=$(rate "$OX0" "$CX" "$cx0" "$cx1") ey0=$(rate "$OY0" "$CY" "$cy0" "$cy1")
	ex1=$(rate "$OX1" "$CX" "$cx0" "$cx1") ey1=$(rate "$OY1" "$CY" "$cy0" "$cy1")
	log "  $tag: offered in the window (frames/s): to re $ex0 : $ey0 = $($PY -c \
		"print(round($ex0 / max($ey0, 1), 1))"):1, to rg $ex1 : $ey1"
	# Both are backlogged (testpmd never stops trying; its rings hold 2.5 s
	# of its share), so each is due half of each port, whatever its CPU.
	$FAIR "$tag re" "$T/rx-$tag-re.log" --capacity $EGRESS_FPS --waited "$wf" \
		"$(mac_of x1):1:=inf" "$(mac_of y1):1:=inf" || rc=1
	$FAIR "$tag rg" "$T/rx-$tag-rg.log" "$(mac_of x2):1:=inf" "$(mac_of y2):1:=inf" || rc=1
	return $rc
}

# run WORKERS NAME:ON:OFF...: a vifd, both testpmds, the rounds, then the
# checks; a round that fails its check is measured again (up to 3 times)
# with new testpmds
run() {
	local workers=$1 r try fx fy todo=() failed
	shift
	todo=("$@")
	log "--workers $workers"
	NW=$workers
	start_vifd --workers "$workers"
	for p in x1 y1 x2 y2 re rg; do
		vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
	done
	vctl set-port re egress-rate=$EGRESS
	for try in 1 2 3; do
		vctl -j stats >"$T/stats-$try.json"
		testpmd "tp-w$workers-$try-y" y1 y2
		YPID=$LAST_PID fy=$TP_FD
		testpmd "tp-w$workers-$try-x" x1 x2
		XPID=$LAST_PID fx=$TP_FD
		wait_for 30 "both testpmds sending" moved "$T/stats-$try.json" x1 x2 y1 y2
		for r in "${todo[@]}"; do
			log "  ${r%%:*} (attempt $try)"
			IFS=: read -r name on off <<<"$r"
			measure "w$workers-$name-$try" "$on" "$off"
		done
		CX=$(cpu_ns "$XPID") CY=$(cpu_ns "$YPID")
		tp_stop "$fx"
		tp_stop "$fy"
		reap "$XPID" "$YPID" || fail "testpmd failed: $(tail -n 5 "$T/tp-w$workers-$try-y.log")"
		for v in X Y; do
			for q in 0 1; do
				local o
				o=$(tp_offered "$T/tp-w$workers-$try-${v,,}.log" $q)
				[ -n "$o" ] || fail "no statistics from testpmd $v"
				eval "O$v$q=$o"
			done
		done
		failed=()
		for r in "${todo[@]}"; do
			check "w$workers-${r%%:*}-$try" || failed+=("$r")
		done
		[ ${#failed[@]} = 0 ] && break
		[ "$try" = 3 ] && fail "not fair in 3 attempts: ${failed[*]%%:*}"
		todo=("${failed[@]}")
	done
	[ "$(stat_of x1 ring_errors)" = 0 ] || fail "ring errors"
	vifd_alive
	stop_vifd
}

run 1 1to1:0:0 10to1:0.012:0.088 100to1:0.005:0.8
run 2 10to1:0.012:0.088
log "PASS"
