#!/bin/bash
# 032-chaos-soak: bench/chaos.sh for 60 s (its 10-minute default is the
# benchmark): ports added and removed, guests coming and going, hostile
# cases picked at random, while a well-behaved stream flows a -> b. It
# checks that vifd's open fds and threads are back to the baseline, RSS
# within 16 MiB of it, and the stream never stalled longer than 1 s.
# The seed is printed; CHAOS_SEED replays a run.
. "$(dirname "$0")/../lib/common.sh"
: "${HOSTILE:?}" "${VIFBENCH:?}"
seed=${CHAOS_SEED:-$(( $(date +%s) % 100000 ))}
VIFD=$VIFD VIFCTL=$VIFCTL VIFBENCH=$VIFBENCH HOSTILE=$HOSTILE \
	"$(dirname "$0")/../../bench/chaos.sh" --duration 60 --seed "$seed" >"$T/chaos.log" 2>&1 ||
	fail "chaos soak failed (seed $seed): $(tail -n 5 "$T/chaos.log")"
sed 's/^/    /' "$T/chaos.log"
log "PASS (seed $seed)"
