#!/bin/bash
# 095-bench-smoke: the benchmark harness cannot rot. bench/run.sh --smoke
# runs vifd alone (one worker, 64 B, one short repetition) with DPDK testpmd
# as the generator and must parse a positive rate, vifd's own cycles per
# packet and write its table, JSON and summary. Figures are not checked: CI
# machines are noisy (and this runs in the ASan build too).
. "$(dirname "$0")/../lib/common.sh"
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd missing (scripts/deps.sh installs it)"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

log "bench/run.sh --smoke"
VIFD=$VIFD VIFCTL=$VIFCTL VIFBENCH=$VIFBENCH XCORE=$XCORE timeout 180 "$ROOT/bench/run.sh" --smoke --out "$T/results" \
	>"$T/bench.log" 2>&1 || fail "bench/run.sh --smoke failed"
[ -s "$T/results/results.md" ] || fail "no results.md"
grep -q '^| vifd (1 worker) | 64 |' "$T/results/results.md" || fail "no vifd row in the table"
js=$(cat "$T/results/results.json")
mpps=$(jget "$js" "[r['mpps']['median'] for r in j['results'] if r['switch']=='vifd' and r['size']==64][0]")
cyc=$(jget "$js" "[r['busy_cycles_per_pkt']['median'] for r in j['results'] if r['switch']=='vifd'][0]")
log "vifd: $mpps Mpps, $cyc busy cycles/pkt"
python3 -c "import sys; sys.exit(not (float('$mpps') > 0 and float('$cyc') > 0))" || fail "rate or cycles not positive"
grep -q '^bench: 64B vifd' "$T/results/summary.txt" || fail "no summary line"
# The placement probe ran around the window and its figures were kept (or
# it said both CPUs were too busy to see the placement: a busy machine).
place=$(jget "$js" "[r['placement'] for r in j['results'] if r['switch']=='vifd'][0]")
log "placement: $place"
python3 -c "import sys; d=eval(sys.argv[1]); sys.exit(not (sum(d.values()) == 1 and d.get('unknown', 0) == 0))" \
	"$place" || fail "the placement probe did not run around the window: $place"
# Nothing of the harness left behind: no DPDK runtime folder of a harness
# that is gone (vb6<PID>...; another run may be going on).
for d in /var/run/dpdk/vb6*; do
	[ -e "$d" ] || continue
	p=$(basename "$d" | sed -E 's/^vb6([0-9]+).*/\1/')
	kill -0 "$p" 2>/dev/null || fail "DPDK runtime folder left behind: $d"
done
log "PASS"
