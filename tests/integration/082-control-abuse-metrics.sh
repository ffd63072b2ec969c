#!/bin/bash
# 082-control-abuse-metrics: while a vifbench stream flows a -> b, the
# control socket gets malformed, binary, oversized and deeply nested
# requests, a client that never finishes its line and one that never reads
# its replies; each bad request is answered with a JSON-RPC error object,
# other clients are served, and the stream keeps flowing. Then the
# Prometheus endpoint is scraped and every line parsed, and abused (wrong
# method, unknown path, oversized and unfinished requests).
#
#   vifbench tx --a.sock--> vifd br0 --b.sock--> vifbench rx
#   python3 clients --> vifd.sock          python3 urllib --> 127.0.0.1:PORT/metrics
. "$(dirname "$0")/../lib/common.sh"
: "${VIFBENCH:?}"

MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_vifd --metrics-port "$MPORT"
vctl add-port br0 a type=vhostuser path="$T/a.sock"
vctl add-port br0 b type=vhostuser path="$T/b.sock"
bg rx "$VIFBENCH" --sock "$T/b.sock" --mode rx --duration 120 --src-mac 02:00:00:00:00:02 --json
RX=$LAST_PID
bg tx "$VIFBENCH" --sock "$T/a.sock" --mode tx --rate 2000 --duration 120 \
	--src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02
TX=$LAST_PID
delivered_over() { [ "$(port_stat b tx_pkts)" -gt "$1" ]; }
wait_for 30 "the stream to flow" delivered_over 500
log "stream a -> b flowing; abusing the control socket"

python3 - "$T/state/vifd.sock" >"$T/abuse.log" 2>&1 <<'PY' || fail "abuse client: $(tail -n 5 "$T/abuse.log")"
import json, socket, sys, time
path = sys.argv[1]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def reply(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return json.loads(buf.split(b"\n")[0])

def expect_error(payload, code, what):
    s = conn()
    s.sendall(payload + b"\n")
    r = reply(s)
    s.close()
    assert r.get("jsonrpc") == "2.0" and "error" in r, f"{what}: {r}"
    assert r["error"]["code"] == code, f"{what}: code {r['error']['code']}, want {code}"
    print(f"{what}: {r['error']['code']} {r['error']['message'][:70]}")

# a slow client: half a request, then nothing, for the whole test
slow = conn()
slow.sendall(b'{"jsonrpc":"2.0","id":1,"meth')
# a client that sends a lot and never reads its replies
deaf = conn()
deaf.setblocking(False)
req = b'{"jsonrpc":"2.0","id":1,"method":"show"}\n' * 2000
try:
    deaf.send(req)
except BlockingIOError:
    pass

expect_error(b"{bad", -32700, "malformed JSON")
expect_error(bytes(range(1, 10)) + bytes(range(11, 256)), -32700, "binary bytes")
expect_error(b"\xff\xfe\x00\x01garbage", -32700, "NUL and invalid UTF-8")
expect_error(b"[" * 30000 + b"]" * 30000, -32700, "nesting 30000 deep")
expect_error(b"[]", -32600, "empty batch")
expect_error(b'{"jsonrpc":"2.0","id":7,"method":"nosuch"}', -32601, "unknown method")
expect_error(b'{"jsonrpc":"2.0","id":7,"method":"add-port","params":{"name":5}}', -32602,
             "wrong parameter type")
expect_error(b'{"jsonrpc":"2.0","id":7,"method":"del-port","params":{"name":"' +
             b"x" * 60000 + b'"}}', -1002, "60 kB port name")
# oversized: a line past the 64 KiB limit, then the connection is closed
s = conn()
try:
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"show","params":{"x":"' + b"A" * 200000)
except (BrokenPipeError, ConnectionResetError):
    pass
r = reply(s)
assert r["error"]["code"] == -32600 and "longer than" in r["error"]["message"], r
print(f"oversized line: {r['error']['code']} {r['error']['message']}")
s.close()
# several requests in one write, and a good one after the bad ones
s = conn()
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"version"}\n{oops\n{"jsonrpc":"2.0","id":3,"method":"version"}\n')
f = s.makefile("rb")
got = [json.loads(f.readline()) for _ in range(3)]
assert got[0]["result"]["name"] == "vifd" and got[1]["error"]["code"] == -32700 and got[2]["id"] == 3, got
s.close()
# the slow and the deaf clients have not blocked anyone
t0 = time.monotonic()
s = conn()
s.sendall(b'{"jsonrpc":"2.0","id":9,"method":"show"}\n')
assert "result" in reply(s)
assert time.monotonic() - t0 < 5, "a healthy client waited behind a stuck one"
s.close()
print("pipelined requests answered in order; stuck clients block nobody")
slow.close()
deaf.close()
PY
sed 's/^/    /' "$T/abuse.log"
vifd_alive
mark=$(port_stat b tx_pkts)
wait_for 20 "the stream to keep flowing" delivered_over $((mark + 500))
log "  every bad request got an error object; the stream kept flowing ($(port_stat b tx_pkts) frames delivered)"

log "metrics: scrape http://127.0.0.1:$MPORT/metrics and parse every line"
python3 - "$MPORT" >"$T/metrics.log" 2>&1 <<'PY' || fail "metrics: $(tail -n 5 "$T/metrics.log")"
import re, socket, sys, time, urllib.request, urllib.error
port = int(sys.argv[1])
url = f"http://127.0.0.1:{port}/metrics"
r = urllib.request.urlopen(url, timeout=10)
assert r.status == 200, r.status
ctype = r.headers["Content-Type"]
assert ctype.startswith("text/plain; version=0.0.4"), ctype
text = r.read().decode()
assert text.endswith("\n")
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?[0-9.eE+]+|NaN|[+-]Inf)$')
types, helps, samples = {}, set(), []
for n, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        name = line.split(" ")[2]
        assert name not in helps, f"line {n}: second HELP for {name}"
        helps.add(name)
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        assert typ in ("counter", "gauge"), f"line {n}: {line}"
        assert name not in types, f"line {n}: second TYPE for {name}"
        types[name] = typ
    else:
        m = sample.match(line)
        assert m, f"line {n} is not a valid sample: {line!r}"
        name = m.group(1)
        assert name in types, f"line {n}: {name} has no TYPE before it"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples.append((name, labels, float(m.group(4))))
# the samples of a family are together
seen, last = set(), None
for name, _, _ in samples:
    if name != last:
        assert name not in seen, f"{name} samples are not together"
        seen.add(name); last = name
def val(name, **lab):
    v = [s[2] for s in samples if s[0] == name and all(s[1].get(k) == x for k, x in lab.items())]
    assert len(v) == 1, f"{name} {lab}: {len(v)} samples"
    return v[0]
for p in ("a", "b"):
    for c in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "ring_errors", "guest_stops",
              "msg_errors", "connects"):
        val(f"vifd_port_{c}_total", bridge="br0", port=p)
    for reason in ("invalid", "no_room", "down", "hairpin", "vlan", "spoof", "isolation",
                   "unknown_dst", "mac_limit"):
        val("vifd_port_drops_total", port=p, reason=reason)
    assert val("vifd_port_connected", port=p) == 1
assert val("vifd_port_rx_packets_total", port="a") > 500
assert val("vifd_port_tx_packets_total", port="b") > 500
assert val("vifd_ports", bridge="br0") == 2
assert val("vifd_worker_packets_total", worker="0") > 500
val("vifd_worker_busy_cycles_total", worker="0")
# per receive queue: a's queue 0 carried the traffic, on a worker
assert val("vifd_rxq_packets_total", port="a", queue="0") > 500
assert val("vifd_rxq_cycles_total", port="a", queue="0") > 0
assert val("vifd_rxq_worker", port="a", queue="0") >= 0
val("vifd_queue_moves_total")
print(f"{len(samples)} samples in {len(types)} families, all valid; b delivered "
      f"{int(val('vifd_port_tx_packets_total', port='b'))}")
# counters only go up
time.sleep(0.5)
text2 = urllib.request.urlopen(url, timeout=10).read().decode()
b2 = float(re.search(r'^vifd_port_tx_packets_total\{bridge="br0",port="b"\} (\S+)$', text2, re.M).group(1))
assert b2 >= val("vifd_port_tx_packets_total", port="b")
# errors
for method, path, code in (("POST", "/metrics", 405), ("GET", "/nope", 404), ("GET", "/", 200)):
    try:
        c = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                   method=method, data=b"x" if method == "POST" else None), timeout=10).status
    except urllib.error.HTTPError as e:
        c = e.code
    assert c == code, f"{method} {path}: {c}, want {code}"
def raw(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    return buf
assert raw(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431"), "oversized"
assert raw(b"\x00\x01\x02 binary\r\n\r\n").startswith(b"HTTP/1.1 400"), "binary"
# a scraper that never finishes its request does not block another, and is closed
stuck = socket.create_connection(("127.0.0.1", port), timeout=15)
stuck.sendall(b"GET /metr")
t0 = time.monotonic()
assert urllib.request.urlopen(url, timeout=5).status == 200
assert time.monotonic() - t0 < 3, "a stuck scraper blocked another"
assert stuck.recv(100) == b"", "stuck connection not closed"
waited = time.monotonic() - t0
# closed at the request head's deadline (CTL_METRICS_HEAD_MS, 1 s), not before
assert 0.5 < waited < 12, f"stuck connection closed after {waited:.1f} s"
print(f"405/404/431/400 answered; a stuck scraper was closed after {waited:.1f} s without blocking others")
PY
sed 's/^/    /' "$T/metrics.log"
vifd_alive
kill -TERM "$TX"; wait "$TX" || true; forget_pid "$TX"
kill -TERM "$RX"; wait "$RX" || true; forget_pid "$RX"
log "PASS"
