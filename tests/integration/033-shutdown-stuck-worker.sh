#!/bin/bash
# 033-shutdown-stuck-worker: vifd stops on SIGTERM even when a guest has
# made a worker block. The hostile guest hands over a call eventfd with a
# saturated counter, clears O_NONBLOCK on it (the file is shared) and sends
# a frame; its port holds interrupts (rx-frames/rx-usecs), so the worker's
# write of that call can come as late as its way out, when the periodic
# check that interrupts stuck workers no longer runs. vifd is told to stop
# while that is under way: it must exit within 5 s, cleanly (a worker it
# could not join once kept it running for ever), and say it interrupted
# the worker. The delays count from the moment vifd has taken the frame
# (a fixed delay from the guest's start once fell before the frame on a
# busy machine, and then nothing was stuck).
. "$(dirname "$0")/../lib/common.sh"
: "${HOSTILE:?}"

took_frame() { [ "$(port_stat victim rx_pkts)" -ge 1 ]; }

for delay in 0 0.3; do
	rm -rf "$T/state"
	start_vifd --workers 1 --log-level info
	vctl add-port br0 victim type=vhostuser path="$T/victim.sock" rx-frames=64 rx-usecs=10000
	vctl add-port br0 other type=vhostuser path="$T/other.sock"
	bg hostile "$HOSTILE" --sock "$T/victim.sock" ring-call-fd-made-blocking-and-full
	HP=$LAST_PID
	wait_for 20 "vifd to take the guest's frame" took_frame
	sleep "$delay"
	t0=$(date +%s%N)
	kill -TERM "$VIFD_PID"
	for _ in $(seq 100); do kill -0 "$VIFD_PID" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$VIFD_PID" 2>/dev/null && fail "vifd still running 5 s after SIGTERM (blocked worker, SIGTERM ${delay} s after the frame)"
	ms=$((($(date +%s%N) - t0) / 1000000))
	wait "$VIFD_PID" || fail "vifd exited with an error"
	forget_pid "$VIFD_PID"
	grep -q "does not end: interrupting it\|made no progress: interrupting it" "$T/vifd.log" ||
		fail "vifd did not say it interrupted a stuck worker: $(tail -n 5 "$T/vifd.log")"
	log "SIGTERM ${delay} s after vifd took the frame: vifd exited in $ms ms"
	kill "$HP" 2>/dev/null || true
	wait "$HP" 2>/dev/null || true
	forget_pid "$HP"
done
log "PASS"
