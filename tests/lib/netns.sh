# netns.sh - helpers for the kernel-port scenarios (sourced after common.sh):
# network namespaces and veth pairs named after this test's PID, removed
# by the cleanup trap whatever happens; ping and iperf3 inside them.
command -v ip >/dev/null || { echo "[$TEST_NAME] SKIP: no ip (iproute2)"; exit 77; }
command -v iperf3 >/dev/null || { echo "[$TEST_NAME] SKIP: no iperf3"; exit 77; }
if command -v ping >/dev/null; then PING=(ping); else PING=(busybox ping); fi

NETNS=()
LINKS=()
netns_cleanup() {
	local n l
	for l in "${LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
	for n in "${NETNS[@]}"; do
		# iperf3 servers are ours (PIDS); anything else left in there is a bug.
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
}
CLEANUP_HOOKS+=(netns_cleanup)

# mkns NAME: a new namespace with lo up.
mkns() {
	ip netns add "$1"
	NETNS+=("$1")
	ip -n "$1" link set lo up
}

# in_ns NS CMD...: runs CMD in NS.
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

# pings NS ADDR: three pings answered (the first may wait for ARP).
pings() { in_ns "$1" "${PING[@]}" -c 3 -W 2 "$2" >"$T/ping.log" 2>&1; }

# link_exists NS IF: the interface exists in NS ("" : the host).
link_exists() {
	if [ -n "$1" ]; then ip -n "$1" link show "$2" >/dev/null 2>&1
	else ip link show "$2" >/dev/null 2>&1; fi
}

# iperf_mbps SERVER_NS SERVER_ADDR CLIENT_NS SECONDS [ARGS]: a TCP stream
# from the client namespace to the server; prints the received Mbit/s.
iperf_mbps() {
	local sns=$1 addr=$2 cns=$3 secs=$4 out; shift 4
	bg iperf-srv ip netns exec "$sns" iperf3 -s -1 -p 5201
	local spid=$LAST_PID
	wait_for 10 "iperf3 server" in_ns "$sns" sh -c "ss -ltn | grep ':5201 ' >/dev/null"
	out=$T/iperf-$RANDOM.json
	in_ns "$cns" timeout $((secs + 20)) iperf3 -c "$addr" -p 5201 -t "$secs" -J "$@" >"$out" \
		2>"$T/iperf-client.log" || { cat "$out" >>"$T/iperf-client.log"; fail "iperf3 client failed"; }
	wait "$spid" 2>/dev/null || true
	forget_pid "$spid"
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["end"]["sum_received"]["bits_per_second"]/1e6, 1))' "$out"
}

# tcp_copy SERVER_NS SERVER_ADDR CLIENT_NS MBYTES: MBYTES of random bytes
# over one TCP connection from the client namespace to the server; fails
# the test unless the server got exactly those bytes (SHA-256 compared):
# what iperf3 never checks, for paths that rewrite TCP headers (receive
# coalescing, segmentation).
tcp_copy() {
	local sns=$1 addr=$2 cns=$3 mb=$4 want got
	head -c "$((mb << 20))" /dev/urandom >"$T/tcp_copy.bin"
	want=$(sha256sum <"$T/tcp_copy.bin" | cut -d' ' -f1)
	bg tcp-copy-srv ip netns exec "$sns" python3 -c '
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5202)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60); h = hashlib.sha256()
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b)
open(sys.argv[2], "w").write(h.hexdigest())' "$addr" "$T/tcp_copy.sum"
	local spid=$LAST_PID
	wait_for 10 "tcp_copy server" in_ns "$sns" sh -c "ss -ltn | grep ':5202 ' >/dev/null"
	in_ns "$cns" timeout 60 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 5202), timeout=60)
s.sendall(open(sys.argv[2], "rb").read()); s.close()' "$addr" "$T/tcp_copy.bin" ||
		fail "tcp_copy: the client failed"
	wait "$spid" 2>/dev/null || true
	forget_pid "$spid"
	got=$(cat "$T/tcp_copy.sum" 2>/dev/null)
	[ "$got" = "$want" ] || fail "tcp_copy: $mb MiB to $addr arrived changed (sha256 $got, sent $want)"
	rm -f "$T/tcp_copy.bin" "$T/tcp_copy.sum"
}

# ge A B: A >= B for decimals.
ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
