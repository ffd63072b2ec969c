#!/usr/bin/env python3
"""report.py - tables, JSON, plots and the one-line summary of bench/run.sh.

Reads raw.csv (one row per switch, frame size and repetition), latency.csv,
the run's meta.env and notes; writes results.md, results.json, summary.txt
and, unless --no-plots, gnuplot PNGs into --out. Frame sizes include the
4-byte FCS (the buffers carry size - 4 bytes); Gbit/s = frames/s x size x 8
(no preamble or inter-frame gap). Mpps counts frames the switch delivered,
both directions together.
"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess

NAMES = {'vifd': 'vifd (1 worker)', 'testpmd': 'testpmd io (net_vhost)', 'ovs': 'OVS-DPDK NORMAL'}


def num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def mmm(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {'min': min(vals), 'median': statistics.median(vals), 'max': max(vals), 'n': len(vals)}


# CPU-to-CPU cache line hand-over (bench/xcore.c) below NEAR_NS: the two
# vCPUs shared a cache; above FAR_NS: they did not. The host moves them.
NEAR_NS, FAR_NS = 60.0, 100.0


def placement(r):
    """'near', 'far', 'changed' (during the window), 'busy' (the probe ran but
    the CPUs were too busy for it to see) or 'unknown' (no probe)."""
    if 'busy' in (r.get('xcore_before_ns'), r.get('xcore_after_ns')):
        return 'busy'
    x = [num(r.get('xcore_before_ns')), num(r.get('xcore_after_ns'))]
    if None in x:
        return 'unknown'
    if max(x) < NEAR_NS:
        return 'near'
    if min(x) > FAR_NS:
        return 'far'
    return 'changed'


def ratio_head(lead, switches):
    """Header and alignment rows of a table of vifd's ratios to each anchor."""
    cols = lead + [c for x in switches if x != 'vifd' for c in (f'rate vs {NAMES[x]}', f'cycles vs {NAMES[x]}')]
    align = ['---' if c == 'placement' else '---:' for c in cols]
    return ['| ' + ' | '.join(cols) + ' |', '|' + '|'.join(align) + '|']


def fmt(v, spec='.3f'):
    return '-' if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--meta', required=True)
    ap.add_argument('--notes', required=True)
    ap.add_argument('--raw', required=True)
    ap.add_argument('--latency', required=True)
    ap.add_argument('--paced', help='paced.csv (run.sh\'s paced section); optional')
    ap.add_argument('--out', required=True)
    ap.add_argument('--no-plots', action='store_true')
    a = ap.parse_args()

    meta = {}
    for line in open(a.meta):
        if '=' in line:
            k, v = line.rstrip('\n').split('=', 1)
            meta[k] = v
    notes = [l.rstrip('\n') for l in open(a.notes) if l.strip()]
    rows = list(csv.DictReader(open(a.raw)))
    lat = list(csv.DictReader(open(a.latency)))
    paced = list(csv.DictReader(open(a.paced))) if a.paced and os.path.exists(a.paced) else []
    gencheck = [r for r in rows if r['switch'].startswith('gencheck')]
    rows = [r for r in rows if not r['switch'].startswith('gencheck')]
    # A repetition whose window was not wholly on the near placement may
    # have been measured again (run.sh --near-tries): every window counts in
    # the tables by placement, the last one of each repetition elsewhere.
    windows = rows
    last = {}
    for r in rows:
        last[(r['switch'], r['size'], r['rep'])] = r
    rows = list(last.values())

    switches = [s for s in ('vifd', 'testpmd', 'ovs') if any(r['switch'] == s for r in rows)]
    sizes = sorted({int(r['size']) for r in rows})
    res = {}
    for s in switches:
        for z in sizes:
            rr = [r for r in rows if r['switch'] == s and int(r['size']) == z]
            if not rr:
                continue
            mp = [num(r['mpps']) for r in rr]
            cyc = [num(r['sw_busy_cyc_pkt']) for r in rr]
            bpc = []
            for r in rr:
                m, c, secs = num(r['mpps']), num(r['sw_cycles']), num(r['secs'])
                bpc.append(m * 1e6 * z * 8 * secs / c if m and c else None)
            res[(s, z)] = {
                'mpps': mmm(mp),
                'gbps': mmm([m * z * 8 / 1e3 if m is not None else None for m in mp]),
                'busy_cycles_per_pkt': mmm(cyc),
                'cycles_source': rr[0]['sw_cyc_src'],
                'bits_per_cycle': mmm(bpc),
                'bits_per_cycle_source': rr[0]['sw_cycles_src'],
                'switch_cpu_s': mmm([num(r['sw_cpu_s']) for r in rr]),
                'process_cycles_per_pkt': mmm([num(r['sw_proc_cyc_pkt']) for r in rr]),
                'foreign_load_pct': mmm([num(r['foreign_pct']) for r in rr]),
                'switch_busy_pct': mmm([num(r['sw_busy_pct']) for r in rr]),
                'gen_cycles_per_pkt': mmm([num(r['gen_cyc_pkt']) for r in rr]),
                'gen_busy_pct': mmm([num(r['gen_busy_pct']) for r in rr]),
                'placement': {k: sum(1 for r in rr if placement(r) == k)
                              for k in ('near', 'far', 'changed', 'busy', 'unknown')},
                'xcore_ns': mmm([num(r.get(k)) for r in rr for k in ('xcore_before_ns', 'xcore_after_ns')]),
            }

    def med(s, z, k):
        v = res.get((s, z), {}).get(k)
        return v['median'] if v else None

    ratios = {}
    for z in sizes:
        for anc in ('testpmd', 'ovs'):
            v, o = med('vifd', z, 'mpps'), med(anc, z, 'mpps')
            cv, co = med('vifd', z, 'busy_cycles_per_pkt'), med(anc, z, 'busy_cycles_per_pkt')
            ratios[f'{z}/{anc}'] = {
                'rate': v / o if v and o else None,
                'cycles': co / cv if cv and co else None,  # >1: vifd spends fewer cycles per packet
            }

    # ---- markdown
    L = []
    L.append('# vifd against testpmd and OVS-DPDK: port to port, one datapath core\n')
    L.append(f"Run {meta.get('date', '?')}, vifd {meta.get('vifd_rev', '?')}, "
             f"{meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), "
             f"kernel {meta.get('kernel', '?')}, DPDK {meta.get('dpdk', '?')}, OVS {meta.get('ovs', '?')}. "
             f"Load average at start {meta.get('loadavg_start', '?')}, at end {meta.get('loadavg_end', '?')}; "
             f"busiest processes at start: {meta.get('busiest', '?')}. "
             f"{meta.get('reps', '?')} repetitions of {meta.get('secs', '?')} s (after {meta.get('warmup', '?')} s warm-up) per cell; "
             f"whole run {meta.get('elapsed_s', '?')} s.\n")
    L.append(f"Command: `{meta.get('command', 'bench/run.sh')}`\n")
    L.append('Generator: DPDK testpmd, 2 virtio-user ports, mac forwarding (closed loop, 16 bursts of 32 '
             'per port in flight), on CPU 0. Switch datapath on CPU 1. Mpps = frames the switch delivered, '
             'both directions, from the generator\'s Rx-pps; Gbit/s = Mpps x frame size (incl. FCS) x 8. '
             'Busy cycles/pkt: each switch\'s own accounting (vifd: `vifctl workers`; testpmd: '
             '`--record-core-cycles`; OVS: `pmd-stats-show` processing cycles / packets received). '
             f"Bits/cycle: bits delivered / cycles of the whole switch process, cycles from "
             f"{'perf stat' if meta.get('cycles_method') == 'perf' else 'CPU time in /proc (schedstat) x the nominal clock, ' + meta.get('nominal_mhz', '?') + ' MHz (perf has no cycle counter in this VM)'}. "
             'Process cycles/pkt: the same cycles of the whole switch process / packets delivered '
             '(unlike busy cycles, not inflated when the datapath thread is preempted; a polling switch '
             'burns its core whether or not packets come). Switch busy %: busy / (busy + idle) cycles of '
             'the datapath thread (testpmd: busy cycles / window). Generator busy %: testpmd\'s busy cycles '
             'over the repetition; near 100 means the generator, not the switch, sets the rate. Others on '
             'switch CPU: CPU 1 time (/proc/stat) not spent by the switch process during the window. '
             'Figures are median [min-max].\n')
    L.append('| switch | size B | Mpps | Gbit/s | busy cycles/pkt | process cycles/pkt | bits/cycle (process) | switch busy % | generator cycles/pkt | generator busy % | others on switch CPU % |')
    L.append('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for s in switches:
        for z in sizes:
            r = res.get((s, z))
            if not r:
                continue
            def cell(k, spec):
                v = r[k]
                if not v:
                    return '-'
                return f"{format(v['median'], spec)} [{format(v['min'], spec)}-{format(v['max'], spec)}]"
            L.append(f"| {NAMES[s]} | {z} | {cell('mpps', '.3f')} | {cell('gbps', '.2f')} | "
                     f"{cell('busy_cycles_per_pkt', '.0f')} | {cell('process_cycles_per_pkt', '.0f')} | {cell('bits_per_cycle', '.3f')} | "
                     f"{fmt(r['switch_busy_pct'] and r['switch_busy_pct']['median'], '.0f')} | "
                     f"{fmt(r['gen_cycles_per_pkt'] and r['gen_cycles_per_pkt']['median'], '.0f')} | "
                     f"{fmt(r['gen_busy_pct'] and r['gen_busy_pct']['median'], '.0f')} | "
                     f"{fmt(r['foreign_load_pct'] and r['foreign_load_pct']['median'], '.0f')} |")
    if 'vifd' in switches and len(switches) > 1:
        L.append('\nRatios of vifd to each anchor, same run (medians). rate: vifd Mpps / anchor Mpps; '
                 'cycles: anchor busy cycles/pkt / vifd busy cycles/pkt (above 1: vifd spends less per packet).\n')
        L += ratio_head(['size B'], switches)
        for z in sizes:
            L.append(f'| {z} | ' + ' | '.join(
                f"{fmt(ratios[f'{z}/{x}']['rate'], '.2f')}x | {fmt(ratios[f'{z}/{x}']['cycles'], '.2f')}x"
                for x in switches if x != 'vifd') + ' |')
    # The machine may be shared: per cell, the repetition whose window had
    # the least other load on the switch's CPU, and the ratios of those.
    quiet = {}
    for s in switches:
        for z in sizes:
            rr = [r for r in rows if r['switch'] == s and int(r['size']) == z and num(r['mpps'])]
            if rr:
                quiet[(s, z)] = min(rr, key=lambda r: num(r['foreign_pct']) if num(r['foreign_pct']) is not None else 1e9)
    if quiet and len(rows) > len(quiet):
        L.append('\nQuietest repetition per cell (least other load on the switch CPU during its window; '
                 'the figures least disturbed by a shared machine, from the same run):\n')
        L.append('| switch | size B | others on CPU % | Mpps | Gbit/s | busy cycles/pkt | process cycles/pkt | generator busy % |')
        L.append('|---|---:|---:|---:|---:|---:|---:|---:|')
        for (s, z), r in quiet.items():
            L.append(f"| {NAMES[s]} | {z} | {r['foreign_pct']} | {float(r['mpps']):.3f} | "
                     f"{float(r['mpps']) * z * 8 / 1e3:.2f} | {r['sw_busy_cyc_pkt']} | {r['sw_proc_cyc_pkt']} | {r['gen_busy_pct']} |")
        if 'vifd' in switches and len(switches) > 1:
            L.append('')
            L += ratio_head(['size B'], switches)
            for z in sizes:
                cells = []
                for x in switches:
                    if x == 'vifd':
                        continue
                    v, o = quiet.get(('vifd', z)), quiet.get((x, z))
                    if v and o:
                        rt = float(v['mpps']) / float(o['mpps'])
                        cv, co = num(v['sw_busy_cyc_pkt']), num(o['sw_busy_cyc_pkt'])
                        cells.append(f"{rt:.2f}x | {fmt(co / cv if cv and co else None, '.2f')}x")
                        ratios[f'{z}/{x}']['quiet_rate'] = rt
                    else:
                        cells.append('- | -')
                L.append(f'| {z} | ' + ' | '.join(cells) + ' |')
    # Like with like: the host moves the vCPUs between cores that share a
    # cache and cores that do not, which changes every switch's rate 2-3x
    # (bench/xcore.c); per placement, the medians of the repetitions that
    # ran wholly on it, and the ratios where both switches have some.
    by_place = {}
    for r in windows:
        if num(r['mpps']):
            by_place.setdefault((placement(r), r['switch'], int(r['size'])), []).append(r)
    places = [p for p in ('near', 'far') if any(k[0] == p for k in by_place)]
    if places:
        L.append(f'\nBy placement of the two vCPUs (cache line hand-over CPU 0 -> CPU 1 measured before '
                 f'and after each window with bench/xcore.c: near < {NEAR_NS:.0f} ns, the cores share a cache; '
                 f'far > {FAR_NS:.0f} ns, they do not; the host moves them, and every switch here runs 2-3x '
                 f'slower far than near; run.sh measures a window again when it was not near, up to --near-tries). '
                 f'Medians of all windows wholly on one placement; windows = how many:\n')
        L.append('| placement | switch | size B | windows | Mpps | busy cycles/pkt | line ns |')
        L.append('|---|---|---:|---:|---:|---:|---:|')
        for pl in places:
            for s in switches:
                for z in sizes:
                    rr = by_place.get((pl, s, z))
                    if not rr:
                        continue
                    xs = [num(r[k]) for r in rr for k in ('xcore_before_ns', 'xcore_after_ns')]
                    L.append(f"| {pl} | {NAMES[s]} | {z} | {len(rr)} | "
                             f"{statistics.median(num(r['mpps']) for r in rr):.3f} | "
                             f"{fmt(statistics.median(num(r['sw_busy_cyc_pkt']) for r in rr), '.0f')} | "
                             f"{statistics.median(xs):.0f} |")
        if 'vifd' in switches and len(switches) > 1:
            L.append('')
            L += ratio_head(['placement', 'size B'], switches)
            for pl in places:
                for z in sizes:
                    v = by_place.get((pl, 'vifd', z))
                    if not v:
                        continue
                    cells = []
                    for x in switches:
                        if x == 'vifd':
                            continue
                        o = by_place.get((pl, x, z))
                        if not o:
                            cells.append('- | -')
                            continue
                        rt = statistics.median(num(r['mpps']) for r in v) / statistics.median(num(r['mpps']) for r in o)
                        cv = statistics.median(num(r['sw_busy_cyc_pkt']) for r in v)
                        co = statistics.median(num(r['sw_busy_cyc_pkt']) for r in o)
                        cells.append(f"{rt:.2f}x | {fmt(co / cv if cv and co else None, '.2f')}x")
                        ratios[f'{z}/{x}'][f'{pl}_rate'] = rt
                        ratios[f'{z}/{x}'][f'{pl}_cycles'] = co / cv if cv and co else None
                    L.append(f'| {pl} | {z} | ' + ' | '.join(cells) + ' |')
    if lat:
        L.append('\nLatency: vifbench ping (port p3, 2000 pings/s, 60 B) against vifbench echo (p4), '
                 'round trip through the switch twice; "half": vifbench both/echo on p1/p2 paced at half '
                 'the switch\'s measured 64 B maximum (load pps = frames/s the load actually put through the '
                 'switch). All vifbench processes share CPU 0. Calls: receive notifications the pinger (per '
                 'reply) and the loaded receiver (per frame) read when they slept (libvif rx_calls).\n')
        L.append('| switch | load | target pps | load pps | p50 us | p99 us | max us | pings | calls/reply | calls/loaded frame |')
        L.append('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
        for r in lat:
            L.append(f"| {NAMES.get(r['switch'], r['switch'])} | {r['load']} | {r['target_pps']} | {r['load_pps']} | "
                     f"{r['p50_us']} | {r['p99_us']} | {r['max_us']} | {r['pings']} | "
                     f"{r.get('ping_calls_per_reply', '-')} | {r.get('load_calls_per_frame', '-')} |")
    if paced:
        L.append('\nPaced: vifbench tx on p1 at each rate (60 B), a receiver on p2 that sleeps on '
                 'notifications; the switch process\'s CPU time over the stream (schedstat), as a share '
                 'of one core. A polling switch burns its core at any rate.\n')
        L.append('| switch | offered pps | received pps | switch % of a core | CPU s | s |')
        L.append('|---|---:|---:|---:|---:|---:|')
        for r in paced:
            L.append(f"| {NAMES.get(r['switch'], r['switch'])} | {r['offered_pps']} | {r['rx_pps']} | "
                     f"{r['switch_core_pct']} | {r['cpu_s']} | {r['secs']} |")
    if gencheck or any(n.startswith('gencheck') for n in notes):
        L.append('\nGenerator check (64 B, against testpmd io forwarding): ')
        for r in gencheck:
            L.append(f"- testpmd generator: {float(r['mpps']):.3f} Mpps delivered (both directions), "
                     f"generator {r['gen_cyc_pkt']} cycles/pkt, {r['gen_busy_pct']}% busy")
        for n in notes:
            if n.startswith('gencheck'):
                L.append('- ' + n[len('gencheck '):])
        try:
            tp = max(float(r['mpps']) for r in gencheck)
            vb = max(float(n.split('rx ')[1].split()[0]) for n in notes if n.startswith('gencheck vifbench'))
            L.append(f"- faster here: {'testpmd' if tp >= vb else 'vifbench'} "
                     f"({tp:.3f} vs {vb:.3f} Mpps delivered); the harness drives every switch with testpmd")
        except (ValueError, IndexError):
            pass
    other = [n for n in notes if not n.startswith('gencheck')]
    if other:
        L.append('\nNotes from the run:\n')
        L += ['- ' + n for n in other]

    # ---- summary line
    parts = []
    for z in sizes:
        v = med('vifd', z, 'mpps')
        if v is None:
            continue
        p = f"{z}B vifd {v:.2f} Mpps"
        for x in ('testpmd', 'ovs'):
            rt = ratios.get(f'{z}/{x}', {}).get('rate')
            if rt:
                p += f" ({rt:.2f}x {x})"
        parts.append(p)
    summary = 'bench: ' + ('; '.join(parts) if parts else 'no vifd figures')
    if lat:
        lv = [r for r in lat if r['switch'] == 'vifd']
        if lv:
            summary += '; vifd rtt p50/p99 ' + ', '.join(f"{r['load']} {r['p50_us']}/{r['p99_us']} us" for r in lv)
    qr = [f"{z}B {r['quiet_rate']:.2f}x {x}" for z in sizes for x in ('testpmd', 'ovs')
          for r in [ratios.get(f'{z}/{x}', {})] if r.get('quiet_rate')]
    if qr:
        summary += '; quietest reps: ' + ', '.join(qr)
    for pl in ('near', 'far'):
        pr = [f"{z}B {r[pl + '_rate']:.2f}x {x}" for z in sizes for x in ('testpmd', 'ovs')
              for r in [ratios.get(f'{z}/{x}', {})] if r.get(pl + '_rate')]
        if pr:
            summary += f'; {pl} vCPUs: ' + ', '.join(pr)
    summary += f"; load avg {meta.get('loadavg_start', '?')}"

    L.append('\nSummary: ' + summary + '\n')
    os.makedirs(a.out, exist_ok=True)
    plots = []
    if not a.no_plots and switches and shutil.which('gnuplot'):
        plots = make_plots(a.out, switches, sizes, res, lat)
        if plots:
            L.append('Plots: ' + ', '.join(f'`{p}`' for p in plots) + '\n')
    elif not a.no_plots:
        L.append('Plots: gnuplot missing (apt-get install gnuplot-nox)\n')

    with open(os.path.join(a.out, 'results.md'), 'w') as f:
        f.write('\n'.join(L))
    out = {
        'meta': meta, 'notes': notes,
        'results': [dict(switch=s, size=z, **res[(s, z)]) for s in switches for z in sizes if (s, z) in res],
        'ratios': ratios, 'latency': lat, 'paced': paced, 'gencheck': gencheck, 'summary': summary, 'plots': plots,
    }
    with open(os.path.join(a.out, 'results.json'), 'w') as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(a.out, 'summary.txt'), 'w') as f:
        f.write(summary + '\n')
    print('\n'.join(L))
    print(summary)


def make_plots(out, switches, sizes, res, lat):
    """Clustered bars per frame size, one bar per switch, min-max as error bars."""
    made = []
    for key, title, fname, spec in (
            ('mpps', 'Forwarding rate, one datapath core (Mpps, both directions)', 'throughput-mpps.png', '.4f'),
            ('gbps', 'Forwarding rate (Gbit/s of frames incl. FCS)', 'throughput-gbps.png', '.4f'),
            ('busy_cycles_per_pkt', 'Busy cycles per packet (each switch\'s own accounting)', 'cycles-per-pkt.png', '.1f')):
        dat = os.path.join(out, fname.replace('.png', '.dat'))
        with open(dat, 'w') as f:
            f.write('# size ' + ' '.join(f'{s}_median {s}_min {s}_max' for s in switches) + '\n')
            for z in sizes:
                cols = []
                for s in switches:
                    v = res.get((s, z), {}).get(key)
                    cols += [format(v['median'], spec), format(v['min'], spec), format(v['max'], spec)] if v else ['0', '0', '0']
                f.write(f'{z} ' + ' '.join(cols) + '\n')
        plot = ', '.join(
            f"'{dat}' using {2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i}:xtic(1) title '{NAMES[s]}'"
            for i, s in enumerate(switches))
        script = (f"set terminal pngcairo size 900,520 noenhanced\nset output '{os.path.join(out, fname)}'\n"
                  f"set title \"{title}\"\nset style data histogram\n"
                  "set style histogram errorbars gap 1 lw 1\nset style fill solid 0.7 border -1\n"
                  "set xlabel 'frame size (bytes)'\nset yrange [0:*]\nset key top left\nset grid ytics\n"
                  f"plot {plot}\n")
        if run_gnuplot(script, os.path.join(out, fname)):
            made.append(fname)
        os.unlink(dat)
    if lat:
        dat = os.path.join(out, 'latency.dat')
        with open(dat, 'w') as f:
            for r in lat:
                f.write(f"\"{r['switch']} {r['load']}\" {r['p50_us']} {r['p99_us']}\n")
        script = (f"set terminal pngcairo size 900,520 noenhanced\nset output '{os.path.join(out, 'latency.png')}'\n"
                  "set title 'Round trip through the switch (vifbench ping/echo), us'\n"
                  "set style data histogram\nset style histogram clustered gap 1\n"
                  "set style fill solid 0.7 border -1\nset logscale y\nset grid ytics\nset key top left\n"
                  f"plot '{dat}' using 2:xtic(1) title 'p50', '' using 3 title 'p99'\n")
        if run_gnuplot(script, os.path.join(out, 'latency.png')):
            made.append('latency.png')
        os.unlink(dat)
    return made


def run_gnuplot(script, png):
    try:
        subprocess.run(['gnuplot'], input=script, text=True, check=True, capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError) as e:
        print(f'gnuplot failed for {png}: {e}')
        return False
    return os.path.exists(png)


if __name__ == '__main__':
    main()
