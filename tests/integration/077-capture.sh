#!/bin/bash
# 077-capture: vifctl capture. Known frames sent from libvif guests are
# captured on the sending port (rx) and on the receiving port (tx, with
# the egress VLAN tag vifd adds); the pcap files, read back by tcpdump -r
# and parsed here, must hold exactly those frames, in order. Then: a
# capture whose reader stalls leaves frames out of the capture and counts
# them while the switch forwards every frame; a killed vifctl leaves no
# capture running; the bound on captures holds.
#
#   a (access VLAN 10) --- vifd br0 --- b (trunk of VLAN 10: gets tag 10)
#   c (plain port, for the limits)
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}" "${RAWSEND:?}"
command -v tcpdump >/dev/null || fail "tcpdump is not installed (scripts/deps.sh)"

start_vifd
for p in a b c; do
	vctl add-port br0 "$p" type=vhostuser path="$T/$p.sock"
done
vctl set-port a tag=10
vctl set-port b trunks=10
# frames tcpdump reads from a file (one line each; hex dumps indented)
pcap_count() { tcpdump -r "$1" -nn 2>/dev/null | grep -c '^[0-9]'; }
# pcap.py same A B X Y: A holds 20 X then 10 Y, B the same tagged VLAN 10;
# pcap.py seq F: F holds vifbench frames with consecutive sequence numbers
cat >"$T/pcap.py" <<'PY'
import struct, sys
def frames(path):
    d = open(path, 'rb').read()
    magic = struct.unpack('<I', d[:4])[0]
    assert magic == 0xa1b23c4d, 'want a nanosecond pcap, magic %x' % magic
    assert struct.unpack('<I', d[20:24])[0] == 1, 'link type is not Ethernet'
    off, out, last = 24, [], 0
    while off < len(d):
        s, ns, cl, ln = struct.unpack('<IIII', d[off:off + 16])
        assert ns < 10**9 and cl == ln, 'bad record header'
        t = s * 10**9 + ns
        assert t >= last, 'timestamps go back'
        last = t
        out.append(d[off + 16:off + 16 + cl])
        off += 16 + cl
    return out
if sys.argv[1] == 'same':
    x, y = bytes.fromhex(sys.argv[4]), bytes.fromhex(sys.argv[5])
    want = [x] * 20 + [y] * 10
    a, b = frames(sys.argv[2]), frames(sys.argv[3])
    assert a == want, 'rx capture: %d frames, first %s' % (len(a), a[:1])
    tag = lambda f: f[:12] + bytes.fromhex('8100000a') + f[12:]
    assert b == [tag(f) for f in want], 'tx capture: first %s' % b[:1]
else:
    seqs = [int.from_bytes(f[22:30], 'little') for f in frames(sys.argv[2])]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), 'sequence numbers out of order'
PY
ncap() { vctl -j captures | jq '.captures | length'; }
ncap_is() { [ "$(ncap)" = "$1" ]; }

bg rx-b "$VIFBENCH" --sock "$T/b.sock" --mode rx --duration 120 --no-announce \
	--src-mac 02:00:00:00:00:0b --json
RXB=$LAST_PID
wait_for 10 "b connected" live_rx_is b 1

# Two known frames: X (broadcast, IPv4-ish payload), Y (multicast, longer)
X=ffffffffffff02000000000a0800$(printf '45%.0s' {1..46})
Y=01005e00000102000000000a0800$(printf '%02x' $(seq 0 99))

log "capture rx on a and tx on b while a sends 20 x X and 10 x Y"
bg cap-a "$VIFCTL" --socket "$T/state/vifd.sock" capture a rx -w "$T/a.pcap" -c 30 --timeout 60
CAPA=$LAST_PID
bg cap-b "$VIFCTL" --socket "$T/state/vifd.sock" capture b tx -w "$T/b.pcap" -c 30 --timeout 60
CAPB=$LAST_PID
wait_for 10 "two captures" ncap_is 2
"$RAWSEND" --sock "$T/a.sock" --count 20 "$X" >"$T/raw.log" 2>&1 || fail "rawsend: $(cat "$T/raw.log")"
"$RAWSEND" --sock "$T/a.sock" --count 10 "$Y" >"$T/raw.log" 2>&1 || fail "rawsend: $(cat "$T/raw.log")"
for pid in $CAPA $CAPB; do
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid" || fail "vifctl capture exited with $?: $(cat "$T"/cap-*.log)"
	forget_pid "$pid"
done
grep -F "count reached: 30 frames written, 0 not captured" "$T/cap-a.log" >/dev/null ||
	fail "capture a: $(cat "$T/cap-a.log")"
wait_for 5 "captures ended" ncap_is 0

# tcpdump reads both files, 30 frames each
for f in a b; do
	n=$(pcap_count "$T/$f.pcap")
	[ "$n" = 30 ] || fail "tcpdump -r $f.pcap: $n frames, want 30"
done
tcpdump -r "$T/b.pcap" -nn -e 2>/dev/null | head -n 1 | grep -F "vlan 10" >/dev/null ||
	fail "tx capture on trunk b lacks the VLAN 10 tag: $(tcpdump -r "$T/b.pcap" -nn -e 2>&1 | head -n 2)"
# byte for byte: a got X and Y as sent; b got them with the tag after the MACs
python3 "$T/pcap.py" same "$T/a.pcap" "$T/b.pcap" "$X" "$Y" || fail "pcap contents differ from what was sent"
log "  tcpdump reads both; rx holds the frames as sent, tx the same with tag 10"

log "a reader that keeps up: a small ring wraps, every frame in order"
bg cap-w "$VIFCTL" --socket "$T/state/vifd.sock" capture a rx -w "$T/w.pcap" --ring 256 -c 5000 --timeout 60
CAPW=$LAST_PID
wait_for 10 "capture" ncap_is 1
"$VIFBENCH" --sock "$T/a.sock" --mode tx --count 5000 --rate 10000 --no-announce \
	--src-mac 02:00:00:00:00:0a --dst-mac ff:ff:ff:ff:ff:ff >"$T/tx.log" 2>&1 ||
	fail "vifbench tx: $(tail -n 3 "$T/tx.log")"
for _ in $(seq 100); do kill -0 "$CAPW" 2>/dev/null || break; sleep 0.1; done
kill -INT "$CAPW" 2>/dev/null || true
wait "$CAPW" || fail "capture w: exit $?: $(cat "$T/cap-w.log")"
forget_pid "$CAPW"
n=$(pcap_count "$T/w.pcap")
left=$(sed -n 's/.* \([0-9]*\) not captured.*/\1/p' "$T/cap-w.log")
# (a busy machine may keep the reader off the CPU long enough to fill it)
[ $((n + left)) = 5000 ] && [ "$n" -ge 2500 ] ||
	fail "256 KiB ring, 10 kpps: $n written, $left left out of 5000: $(cat "$T/cap-w.log")"
python3 "$T/pcap.py" seq "$T/w.pcap" || fail "the wrapped capture is not in order"
wait_for 5 "capture ended" ncap_is 0
log "  $n of 5000 written through a 256 KiB ring ($left left out)"

log "a stalled reader: frames are left out of the capture and counted, never the switch's"
bg cap-s "$VIFCTL" --socket "$T/state/vifd.sock" capture a rx -w "$T/s.pcap" --ring 64
CAPS=$LAST_PID
wait_for 10 "capture" ncap_is 1
kill -STOP "$CAPS"
# every frame is taken from a and handed to b (delivered, or refused by b's
# full ring if its receiver falls behind, as under a sanitizer)
b_out() { echo $(($(port_stat b tx_pkts) + $(port_stat b drops.no_room))); }
rx0=$(port_stat a rx_pkts); tx0=$(b_out)
"$VIFBENCH" --sock "$T/a.sock" --mode tx --count 5000 --rate 10000 --no-announce \
	--src-mac 02:00:00:00:00:0a --dst-mac ff:ff:ff:ff:ff:ff >"$T/tx.log" 2>&1 ||
	fail "vifbench tx: $(tail -n 3 "$T/tx.log")"
sleep 0.5
rx1=$(port_stat a rx_pkts); tx1=$(b_out)
[ $((rx1 - rx0)) = 5000 ] && [ $((tx1 - tx0)) = 5000 ] ||
	fail "with a stalled capture the switch moved $((rx1 - rx0)) in, $((tx1 - tx0)) out of 5000"
drops=$(vctl -j captures | jq '.captures[0].drops')
[ "$drops" -gt 0 ] || fail "a 64 KiB ring took 5000 frames without a drop: $(vctl -j captures)"
kill -CONT "$CAPS"
kill -INT "$CAPS"
wait "$CAPS" || fail "capture s: exit $?: $(cat "$T/cap-s.log")"
forget_pid "$CAPS"
grep -E "stopped: [0-9]+ frames written, [1-9][0-9]* not captured" "$T/cap-s.log" >/dev/null ||
	fail "capture s did not report what it left out: $(cat "$T/cap-s.log")"
n=$(pcap_count "$T/s.pcap")
[ "$n" -gt 0 ] && [ $((n + drops)) = 5000 ] || fail "stalled capture wrote $n frames and left out $drops of 5000"
log "  5000 frames switched, $drops left out of the capture and counted, $n written"

log "killed vifctl: no capture left behind"
bg cap-k "$VIFCTL" --socket "$T/state/vifd.sock" capture a both -w "$T/k.pcap"
CAPK=$LAST_PID
wait_for 10 "capture" ncap_is 1
kill -KILL "$CAPK"
wait "$CAPK" 2>/dev/null || true
forget_pid "$CAPK"
wait_for 5 "the capture of a killed vifctl to end" ncap_is 0

log "limits and errors"
bg cap-1 "$VIFCTL" --socket "$T/state/vifd.sock" capture a -w "$T/1.pcap"
C1=$LAST_PID
wait_for 10 "capture" ncap_is 1
if err=$(vctl capture a -w "$T/2.pcap" 2>&1); then fail "a second capture of a started"; fi
grep -F "captured already" <<<"$err" >/dev/null || fail "second capture: $err"
if err=$(vctl capture nosuch -w "$T/2.pcap" 2>&1); then fail "capture of no port started"; fi
if err=$(vctl capture a sideways -w "$T/2.pcap" 2>&1); then fail "bad direction accepted"; fi
log "del-port ends its capture"
vctl del-port a
for _ in $(seq 50); do kill -0 "$C1" 2>/dev/null || break; sleep 0.1; done
wait "$C1" || fail "capture of a removed port: exit $?"
forget_pid "$C1"
grep -F "the port was removed" "$T/cap-1.log" >/dev/null || fail "capture 1: $(cat "$T/cap-1.log")"
ncap_is 0 || fail "captures left: $(vctl -j captures)"
kill -TERM "$RXB" 2>/dev/null || true
vifd_alive
log "PASS"
