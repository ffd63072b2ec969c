#!/usr/bin/env python3
"""fairshare.py - checks one congested port's fair share (tests 091, 092).

Each sender's due is its max-min share of the port, computed from what the
sender actually offered: a sender that offered less than its weighted share
is due all it offered, the others split the rest by weight. What each got is
what the receiver counted from its source MAC. On a loaded machine a sender
may not get the CPU to offer its nominal rate; its due then follows what it
did offer (a paced vifbench counts the frames it sent and those a full ring
refused, and, apart, the frames it was itself too late to send).

The capacity shared is what the port carried in the window (the receiver's
total): a slow reader's is whatever it read; an egress limit's is checked
apart (--capacity): at least 97% of it, times the part of the window vifd's
workers were not kept waiting for a CPU (on a loaded machine a worker may be
kept from a CPU for longer than the bucket's burst, and the tokens it could
not use are lost to every sender alike).

usage: fairshare.py NAME RX_JSON [--capacity FPS] [--min-used F] [--waited F]
                    [--tol T] [--jain J] SENDER...
  RX_JSON   the receiving vifbench's --json line (a file)
  SENDER    MAC:WEIGHT:TX_JSON  (a paced vifbench sender's --json line), or
            MAC:WEIGHT:=FPS     (a sender whose offer is known otherwise;
                                 =inf: always backlogged)
  --capacity FPS  the port's egress limit in frames/s: at least --min-used
            (0.97) x (1 - --waited) of it must have been carried
  --waited F  the fraction of the window vifd's workers waited for a CPU
  --tol T   each sender within T of its due (0.05)
  --jain J  Jain's index of got/due at least J (0.98)
Prints one line; exit status 0 if every check passed, 1 if not, 2 if the
input is unusable.
"""
import json
import sys


def last_json(path):
    with open(path) as f:
        lines = [l for l in f if l.startswith('{')]
    if not lines:
        raise ValueError(f"{path}: no JSON line")
    return json.loads(lines[-1])


def maxmin(demand, weight, cap):
    due = [0.0] * len(demand)
    left, todo = cap, set(range(len(demand)))
    while todo:
        per_w = left / sum(weight[i] for i in todo)
        light = [i for i in todo if demand[i] <= per_w * weight[i]]
        if not light:
            for i in todo:
                due[i] = per_w * weight[i]
            break
        for i in light:
            due[i] = demand[i]
            left -= demand[i]
            todo.discard(i)
    return due


def jain(x):
    s, s2 = sum(x), sum(v * v for v in x)
    return s * s / (len(x) * s2) if s2 > 0 else 0.0


def main(argv):
    name, rx_path = argv[0], argv[1]
    opts = {'--capacity': None, '--min-used': '0.97', '--tol': '0.05', '--jain': '0.98',
            '--waited': '0'}
    senders = []
    i = 2
    while i < len(argv):
        if argv[i] in opts:
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            senders.append(argv[i])
            i += 1
    try:
        rx = last_json(rx_path)
        flows = {f['src']: f for f in rx['flows']}
        macs, weight, offer, late = [], [], [], []
        for s in senders:
            mac, w, src = s.rsplit(':', 2)[0], s.rsplit(':', 2)[1], s.rsplit(':', 2)[2]
            macs.append(mac.lower())
            weight.append(float(w))
            if src.startswith('='):
                offer.append(float(src[1:]))
                late.append(0.0)
            else:
                tx = last_json(src)
                win = tx['window_s']
                if not win:
                    raise ValueError(f"{src}: no measurement window")
                offer.append((tx['win_tx_pkts'] + tx['tx_refused']) / win)
                late.append(tx['tx_late'] / win)
        got = [flows[m]['pps'] if m in flows else 0.0 for m in macs]
    except (OSError, ValueError, KeyError, IndexError) as e:
        print(f"  {name}: unusable input: {e}")
        return 2
    total = sum(got)
    due = maxmin(offer, weight, total)
    ratio = [g / d if d > 0 else 0.0 for g, d in zip(got, due)]
    j = jain(ratio)
    j_plain = jain([g / w for g, w in zip(got, weight)])
    worst = max(abs(r - 1) for r in ratio)
    cap = float(opts['--capacity']) if opts['--capacity'] else 0.0
    used = total / cap if cap > 0 else 0.0
    waited = float(opts['--waited'])
    min_used = float(opts['--min-used']) * (1 - waited)
    print(f"  {name}: offered " + " ".join("backlogged" if o == float('inf') else f"{o:.0f}" for o in offer) +
          " fps" + ("" if not any(late) else " (late " + " ".join(f"{l:.0f}" for l in late) + ")") +
          "; got " + " ".join(f"{g:.0f}" for g in got) +
          "; max-min due " + " ".join(f"{d:.0f}" for d in due) +
          f"; Jain got/due {j:.4f} (got/weight {j_plain:.4f}); worst {worst * 100:.1f}%" +
          f"; carried {total:.0f} fps" +
          (f" = {used:.4f} of the limit (>= {min_used:.3f} asked: the workers waited for a "
           f"CPU {waited * 100:.0f}% of the window)" if cap else ""))
    ok = total > 0 and j >= float(opts['--jain']) and worst <= float(opts['--tol'])
    if cap:
        ok = ok and min_used <= used <= 1.02
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
