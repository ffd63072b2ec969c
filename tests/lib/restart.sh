# restart.sh - kill vifd the hard way and start it again on the same state
# directory (sourced after common.sh by the restart scenarios).

# restart_vifd: SIGKILL the running vifd (no clean shutdown: sockets, pid
# file and guest rings are left as a crash leaves them) and start another
# on the same state dir. The stale control socket still exists, so wait
# until the new vifd answers, not merely for the socket file.
kill_vifd() {
	kill -KILL "$VIFD_PID"
	wait "$VIFD_PID" 2>/dev/null || true
	forget_pid "$VIFD_PID"
	cp "$T/vifd.log" "$T/vifd-before-restart-$1.log"
}
restart_vifd() {
	start_vifd
	wait_for 10 "restarted vifd answering" vctl show
}

