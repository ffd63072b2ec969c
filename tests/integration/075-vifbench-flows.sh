#!/bin/bash
# 075-vifbench-flows: vifbench's receiver-side measurements, which the rate
# limiting and fairness tests rely on. Three paced senders stream to one
# receiver; over its --warmup window the receiver must report each flow
# (source MAC) at the rate it really arrived, the shares and Jain's index
# those rates give, a timeline per --interval, and vifd's CPU (--cpu-pid).
# The truth is vifd's own count of what each sender's port sent, sampled
# every 100 ms and interpolated at the window's edges (vifbench reports them
# on vifd's clock): on a busy machine a paced sender may fall behind its
# pace, and the receiver must then report what it got, not the pace.
#
#   a 02..0a  500 pps --+
#   b 02..0b 1000 pps --+-- vifd br0 --r.sock--> vifbench rx 02..01
#   c 02..0c 1500 pps --+                        --warmup 1 --duration 5 --cpu-pid vifd
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

declare -A RATE=([a]=500 [b]=1000 [c]=1500)
RX_MAC=02:00:00:00:00:01
mac() { echo "02:00:00:00:00:0$1"; }

start_vifd
for p in r a b c; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done

# Senders first (until stopped): the receiver's warm-up then starts with
# every flow already at its rate.
senders=()
for p in a b c; do
	bg "tx-$p" "$VIFBENCH" --sock "$T/$p.sock" --mode tx --rate "${RATE[$p]}" --duration 120 \
		--src-mac "$(mac "$p")" --dst-mac "$RX_MAC" --json
	senders+=("$LAST_PID")
done
for p in a b c; do wait_for 15 "sender $p connected" live_rx_is "$p" 1; done

log "receiver: 1 s warm-up, 4 s window, 1 s intervals, vifd's CPU"
: >"$T/samples.jsonl"
( while :; do vctl -j stats 2>/dev/null | jq -c . >>"$T/samples.jsonl"; sleep 0.1; done ) &
SAMPLER=$!
PIDS+=("$SAMPLER")
"$VIFBENCH" --sock "$T/r.sock" --mode rx --src-mac "$RX_MAC" --warmup 1 --duration 5 \
	--interval 1 --cpu-pid "$VIFD_PID" --json >"$T/rx.log" 2>&1 || fail "receiver failed"
# a sample after the window (a vifctl call may take a while on a busy machine)
win_end=$(grep '^{' "$T/rx.log" | tail -n 1 | jq -r .win_end_ns)
sampled_after() { tail -n 1 "$T/samples.jsonl" | jq -e --argjson e "$win_end" '.time_ns > $e'; }
wait_for 10 "a vifd sample after the receiver's window" sampled_after
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null || true
forget_pid "$SAMPLER"
for pid in "${senders[@]}"; do
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	forget_pid "$pid"
done
RX=$(grep '^{' "$T/rx.log" | tail -n 1)
[ -n "$RX" ] || fail "no JSON from the receiver"
grep -q '^  flows: 3, jain pps' "$T/rx.log" || fail "text report has no flows line"

# All checks in one place, with the figures printed whatever happens.
python3 - "$RX" "$T/samples.jsonl" <<'PY' || fail "receiver figures out of bounds"
import bisect, json, sys
j = json.loads(sys.argv[1])
samples = [json.loads(l) for l in open(sys.argv[2]) if l.startswith('{')]
# what vifd took from port p by time t (ns): interpolated between samples
def sent(p, t):
    ts = [x['time_ns'] for x in samples]
    k = bisect.bisect_left(ts, t)
    if k == 0 or k == len(ts):
        raise SystemExit(f"no vifd samples around {t} ({len(ts)} samples)")
    a, b = samples[k - 1], samples[k]
    ca = [x['rx_pkts'] for x in a['ports'] if x['name'] == p][0]
    cb = [x['rx_pkts'] for x in b['ports'] if x['name'] == p][0]
    return ca + (cb - ca) * (t - a['time_ns']) / (b['time_ns'] - a['time_ns'])
def rate(p, t0, t1):
    return (sent(p, t1) - sent(p, t0)) / ((t1 - t0) / 1e9)
w0, w1 = j['win_start_ns'], j['win_end_ns']
rates = {f"02:00:00:00:00:0{p}": rate(p, w0, w1) for p in 'abc'}
print("  vifd took " + ", ".join(f"{p} {rates['02:00:00:00:00:0' + p]:.1f}/s" for p in 'abc') +
      " from the senders in the receiver's window")
bad = []
def check(ok, what):
    print(("  ok   " if ok else "  BAD  ") + what)
    if not ok:
        bad.append(what)
check(j["rate_basis"] == "window", f"rate_basis {j['rate_basis']}")
check(abs(j["window_s"] - 4) < 0.3, f"window_s {j['window_s']:.3f} (4 expected)")
flows = {f["src"]: f for f in j["flows"]}
check(sorted(flows) == sorted(rates), f"flows {sorted(flows)}")
tot = sum(rates.values())
for src, want in sorted(rates.items()):
    f = flows.get(src)
    if not f:
        continue
    check(abs(f["pps"] - want) <= 0.05 * want, f"{src} pps {f['pps']:.1f} ({want:.1f} sent, 5%)")
    check(abs(f["pps"] * j["window_s"] - f["pkts"]) <= 0.01 * f["pkts"] + 1,
          f"{src} pkts {f['pkts']} = pps x window")
    check(f["bytes"] == 60 * f["pkts"] and abs(f["bps"] - 480 * f["pps"]) < 1,
          f"{src} bytes {f['bytes']}, bps {f['bps']:.0f} (60-byte frames)")
    check(abs(f["share"] - want / tot) < 0.02, f"{src} share {f['share']:.4f} ({want / tot:.4f})")
check(abs(sum(f["share"] for f in j["flows"]) - 1) < 1e-3 and j["flows_other_pkts"] == 0,
      "shares sum to 1, no other flows")
jain = tot ** 2 / (len(rates) * sum(r * r for r in rates.values()))
check(j["jain_pps"] is not None and abs(j["jain_pps"] - jain) < 0.02,
      f"jain_pps {j['jain_pps']} (theory {jain:.4f})")
check(j["jain_bps"] is not None and abs(j["jain_bps"] - j["jain_pps"]) < 1e-3,
      f"jain_bps {j['jain_bps']} (same frame size: = jain_pps)")
# the totals and the flow table are read one after the other at each edge
# of the window while frames keep coming: they may differ by a burst
nflows = sum(f["pkts"] for f in j["flows"])
check(abs(j["win_rx_bench"] - nflows) <= 32,
      f"window bench frames {j['win_rx_bench']} = sum of flows {nflows} (+-32)")
tl = j["timeline"]
check(len(tl) >= 4 and all(len(e["flows"]) == 3 for e in tl[1:]), f"timeline: {len(tl)} intervals")
late = [e for e in tl if e["t"] > 2.5]
for p in 'abc':
    src = '02:00:00:00:00:0' + p
    got = [(x["pps"], rate(p, j['t0_ns'] + (e['t'] - e['dt']) * 1e9, j['t0_ns'] + e['t'] * 1e9))
           for e in late for x in e["flows"] if x["src"] == src]
    check(got and all(abs(g - want) <= 0.15 * want for g, want in got),
          f"{src} per-interval pps {[round(g, 1) for g, _ in got]} ({[round(w, 1) for _, w in got]} sent)")
check(j["cpu_method"] in ("perf", "proc"), f"cpu_method {j['cpu_method']}")
check(j["cpu_seconds"] > 0 and j["cpu_cycles"] > 0,
      f"vifd cpu {j['cpu_seconds']:.4f} s, {j['cpu_cycles']:.0f} cycles")
check(j["cpu_cycles_per_rx_frame"] is not None and j["cpu_cycles_per_rx_frame"] > 0,
      f"cpu_cycles_per_rx_frame {j['cpu_cycles_per_rx_frame']}")
sys.exit(1 if bad else 0)
PY
for p in a b c; do
	txj=$(grep '^{' "$T/tx-$p.log" | tail -n 1) || fail "no JSON from sender $p"
	[ "$(jget "$txj" "j['tx_refused'] >= 0 and j['tx_full_calls'] >= 0")" = True ] ||
		fail "sender $p: no tx_refused/tx_full_calls"
done
vifd_alive
log "PASS"
