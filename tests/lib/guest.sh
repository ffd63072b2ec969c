# guest.sh - real Linux guests under QEMU (../shared/guest: TCG here) for
# the guest scenarios (sourced after common.sh). Builds the image once per
# build directory (GUEST_DIR, about a second when up to date).
G=${SHARED_GUEST:?}
GUEST_DIR=${GUEST_DIR:-$T/guest}
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86 missing (scripts/deps.sh)"
# (scenarios that run at the same time take turns: one builds, the next
# finds it up to date)
mkdir -p "$(dirname "$GUEST_DIR")"
flock "$GUEST_DIR.lock" "$G/mkguest.sh" "$GUEST_DIR" /usr/bin/iperf3 >"$T/mkguest.log" 2>&1 ||
	fail "mkguest.sh failed"

# bg_guest NAME RUNGUEST-ARGS...: boots a guest in the background
# (runguest.sh's output in $T/NAME.log, LAST_PID its pid).
# no_timer_check: under TCG on a busy host the kernel's check that the
# IO-APIC timer ticks misses its ticks and panics ("IO-APIC + timer doesn't
# work!"): the guest never boots.
bg_guest() {
	local name=$1
	shift
	bg "$name" "$G/runguest.sh" --guest "$GUEST_DIR" --append no_timer_check "$@"
}
