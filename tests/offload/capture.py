#!/usr/bin/env python3
"""capture.py - the Linux side of the offload test data (tests/data/gso/).

Run by capture.sh, never by the test suite. Three sub-commands, each run
inside one of the namespaces capture.sh made:

  sink PORT                     (receiver namespace) accepts TCP on PORT and
                                drains every connection; binds UDP PORT and
                                drains it.
  gen DEV DST4 DST6 PORT OUT    (sender namespace) opens connections and
                                sockets whose sends the kernel turns into
                                TSO/USO super-frames and checksum-offload
                                frames on DEV (a veth with TSO, USO and
                                checksum offload on), captures them with
                                their virtio-net header through an AF_PACKET
                                socket with PACKET_VNET_HDR, and writes them
                                to OUT (records of [name][vnet hdr][frame]).
                                Derived cases (VLAN tags inserted, CWR+ECN,
                                gso_size above the payload) are made from
                                captured ones here too.
  inject DEV IN OUTDIR          (injection namespace) sends each super-frame
                                of IN with its virtio-net header on DEV (a
                                veth with TSO, USO, GSO and checksum offload
                                off), so the kernel's software GSO segments
                                it and its checksum code fills checksums in,
                                captures what leaves DEV (the frames as
                                they go on the wire, seen by a second
                                AF_PACKET socket), and writes one pcap per
                                case to OUTDIR.

Output format (OUTDIR/<case>.pcap): classic libpcap, little-endian,
linktype 147 (LINKTYPE_USER0). Each record is a 10-byte struct
virtio_net_hdr (little-endian, VIRTIO 1.1 5.1.6) followed by the Ethernet
frame. Record 0 is the input super-frame with the header the sender's
kernel gave it; records 1..n are the kernel's output frames in order, with
an all-zero header.
"""
import os
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
SOL_UDP = 17
UDP_SEGMENT = 103
IPV6_DSTOPTS = 59
TCP_MAXSEG = 2
TCP_NODELAY = 1

GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 0, 1, 3, 4, 5, 0x80
F_NEEDS_CSUM = 1
VNET = struct.Struct("<BBHHHH")  # flags gso_type hdr_len gso_size csum_start csum_offset


def log(*a):
    print("capture:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- sink
def sink(port):
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    t.bind(("::", port))
    t.listen(64)
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u4.bind(("0.0.0.0", port))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u6.bind(("::", port))
    conns = []
    print("ready", flush=True)
    while True:
        r, _, _ = select.select([t, u4, u6] + conns, [], [], 60)
        if not r:
            return
        for s in r:
            if s is t:
                c, _ = t.accept()
                conns.append(c)
            elif s in (u4, u6):
                s.recv(70000)
            else:
                try:
                    d = s.recv(1 << 20)
                except OSError:
                    d = b""
                if not d:
                    conns.remove(s)
                    s.close()


# ---------------------------------------------------------------- gen
class Tap:
    """Outgoing frames on DEV with their virtio-net header."""

    def __init__(self, dev):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind((dev, ETH_P_ALL))

    def drain(self, wait=0.3):
        out = []
        end = time.time() + wait
        while True:
            left = end - time.time()
            if left <= 0:
                break
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                break
            d, addr = self.s.recvfrom(1 << 17)
            if addr[2] == PACKET_OUTGOING:
                out.append((VNET.unpack(d[:10]), d[10:]))
        return out


def l4(frame):
    """(l3 offset, ip version, proto, l4 offset) of an untagged frame."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800:
        ihl = (frame[14] & 15) * 4
        return 14, 4, frame[23], 14 + ihl
    if et == 0x86DD:
        nh, off = frame[20], 54
        while nh in (0, 60, 43):
            nh, off = frame[off], off + (frame[off + 1] + 1) * 8
        return 14, 6, nh, off
    return None


def sport_of(frame):
    x = l4(frame)
    if not x:
        return None
    return struct.unpack("!H", frame[x[3]:x[3] + 2])[0]


def tcp_fin(h, f):
    return bool(f[h[4] + 13] & 1)


def pick(frames, sport, want_gso, want_fin=False):
    for h, f in frames:
        if sport_of(f) != sport:
            continue
        if want_fin and not (h[1] != GSO_NONE and tcp_fin(h, f)):
            continue
        if want_gso and h[1] != GSO_NONE:
            return h, f
        if not want_gso and h[1] == GSO_NONE and h[0] & F_NEEDS_CSUM and len(f) > 80:
            return h, f
    return None


def tcp_case(tap, fam, dst, port, data, fin=False, maxseg=None, ipopt=None,
             dstopt=None, want_gso=True):
    """The first super-frame (want_gso) or checksum-offload frame of a new
    connection that sends data; with fin, the first super-frame carrying
    FIN: so much data is queued behind the congestion window that the FIN
    shutdown() adds rides on the last queued skb, sent as a super-frame
    once ACKs open the window."""
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, TCP_NODELAY, 1)
    if maxseg:
        s.setsockopt(socket.IPPROTO_TCP, TCP_MAXSEG, maxseg)
    if ipopt:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, ipopt)
    if dstopt:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, dstopt)
    s.connect((dst, port))
    time.sleep(0.05)
    tap.drain(0.05)
    s.sendall(data)
    if fin:
        s.shutdown(socket.SHUT_WR)
    got = pick(tap.drain(1.0 if fin else 0.3), s.getsockname()[1], want_gso, fin)
    s.close()
    return got


def udp_case(tap, fam, dst, port, data, seg=None):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if seg:
        s.setsockopt(SOL_UDP, UDP_SEGMENT, seg)
    s.connect((dst, port))
    s.send(data)
    got = pick(tap.drain(), s.getsockname()[1], bool(seg))
    s.close()
    return got


def payload(n, seed):
    """Deterministic bytes: every offset distinct enough to show a misplaced copy."""
    return bytes(((i * 7 + seed + (i >> 8)) & 0xFF) for i in range(n))


def with_tags(case, tags):
    """The frame with 802.1Q/802.1ad tags (list of (tpid, tci)) inserted
    after the MAC addresses; csum_start moves with them, and hdr_len too."""
    (fl, gt, hl, gs, cs, co), f = case
    ins = b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in tags)
    n = len(ins)
    return (fl, gt, hl + n, gs, cs + n, co), f[:12] + ins + f[12:]


def with_cwr(case):
    """CWR (and ECE) set on the super-frame and the ECN bit in gso_type."""
    (fl, gt, hl, gs, cs, co), f = case
    b = bytearray(f)
    b[cs + 13] |= 0xC0
    return (fl, gt | GSO_ECN, hl, gs, cs, co), bytes(b)


def with_gso_size(case, gs):
    (fl, gt, hl, _, cs, co), f = case
    return (fl, gt, hl, gs, cs, co), f


def retry(fn, tries=20):
    """Whether the FIN rides a super-frame depends on timing: try again."""
    for _ in range(tries):
        got = fn()
        if got:
            return got
    return None


def gen(dev, dst4, dst6, port, out):
    tap = Tap(dev)
    cases = {}

    def need(name, got):
        if not got:
            raise SystemExit("capture: no frame captured for " + name)
        log("%-14s gso_type %#x gso_size %d hdr_len %d csum %d+%d len %d" %
            (name, got[0][1], got[0][3], got[0][2], got[0][4], got[0][5], len(got[1])))
        cases[name] = got

    A4, A6 = socket.AF_INET, socket.AF_INET6
    # A short last segment (10000 = 6 x 1448 + 1312) and PSH on the super-frame.
    need("tcp4_short", tcp_case(tap, A4, dst4, port, payload(10000, 1)))
    # Every segment full.
    need("tcp4_exact", tcp_case(tap, A4, dst4, port, payload(4 * 1448, 2)))
    # FIN (and PSH) on a super-frame: data queued behind cwnd, then shutdown.
    need("tcp4_fin", retry(lambda: tcp_case(tap, A4, dst4, port, payload(300007, 3), fin=True)))
    # An odd MSS (1001 - 12 bytes of timestamps = 989).
    need("tcp4_oddmss", tcp_case(tap, A4, dst4, port, payload(6000, 4), maxseg=1001))
    # IPv4 options (record route, 12 bytes: IHL 8) kept in every segment.
    need("tcp4_ipopt", tcp_case(tap, A4, dst4, port, payload(5000, 5),
                                ipopt=bytes([7, 11, 4] + [0] * 8 + [0])))
    # As large as the first flight allows (initcwnd raised by capture.sh).
    need("tcp4_big", tcp_case(tap, A4, dst4, port, payload(60000, 6)))
    need("tcp6_short", tcp_case(tap, A6, dst6, port, payload(5000, 7)))
    need("tcp6_fin", retry(lambda: tcp_case(tap, A6, dst6, port, payload(200003, 8), fin=True)))
    # A destination-options extension header (PadN, 8 bytes) before TCP.
    need("tcp6_dstopt", tcp_case(tap, A6, dst6, port, payload(5000, 9),
                                 dstopt=bytes([0, 0, 1, 4, 0, 0, 0, 0])))
    need("udp4_uso", udp_case(tap, A4, dst4, port, payload(5000, 10), seg=1400))
    need("udp6_uso", udp_case(tap, A6, dst6, port, payload(4001, 11), seg=999))
    # Checksum offload only (NEEDS_CSUM, no GSO).
    need("tcp4_csum", tcp_case(tap, A4, dst4, port, payload(333, 12), want_gso=False))
    need("udp6_csum", udp_case(tap, A6, dst6, port, payload(777, 13)))

    # Derived: the kernel still does the segmenting, the input is edited.
    cases["tcp4_vlan"] = with_tags(cases["tcp4_short"], [(0x8100, 0x200A)])
    cases["tcp6_qinq"] = with_tags(cases["tcp6_short"], [(0x88A8, 0x0064), (0x8100, 0xE014)])
    cases["udp4_vlan"] = with_tags(cases["udp4_uso"], [(0x8100, 0x0005)])
    cases["tcp4_cwr"] = with_cwr(cases["tcp4_exact"])
    # gso_size above the payload: not really GSO, the kernel only checksums.
    cases["tcp4_onesg"] = with_gso_size(cases["tcp4_ipopt"], 6000)

    with open(out, "wb") as f:
        for name, (h, fr) in cases.items():
            nb = name.encode()
            f.write(struct.pack("<B", len(nb)) + nb + VNET.pack(*h) + struct.pack("<I", len(fr)) + fr)


# ---------------------------------------------------------------- inject
def read_cases(path):
    d = open(path, "rb").read()
    i = 0
    while i < len(d):
        n = d[i]
        name = d[i + 1:i + 1 + n].decode()
        i += 1 + n
        h = VNET.unpack(d[i:i + 10])
        ln = struct.unpack("<I", d[i + 10:i + 14])[0]
        fr = d[i + 14:i + 14 + ln]
        i += 14 + ln
        yield name, h, fr


def pcap_write(path, records):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 147))
        for k, rec in enumerate(records):
            f.write(struct.pack("<IIII", k, 0, len(rec), len(rec)) + rec)


def inject(dev, inp, outdir):
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind((dev, ETH_P_ALL))
    os.makedirs(outdir, exist_ok=True)
    for name, h, fr in read_cases(inp):
        while select.select([rx], [], [], 0.05)[0]:
            rx.recv(1 << 17)
        et = struct.unpack("!H", fr[12:14])[0]
        tx.sendto(VNET.pack(*h) + fr, (dev, et))
        segs = []
        while select.select([rx], [], [], 0.3)[0]:
            d, addr = rx.recvfrom(1 << 17)
            if addr[2] == PACKET_OUTGOING:
                segs.append(d)
        if not segs:
            raise SystemExit("capture: the kernel sent nothing for " + name)
        log("%-14s -> %d frames: %s" % (name, len(segs), " ".join(str(len(s)) for s in segs)))
        pcap_write(os.path.join(outdir, name + ".pcap"),
                   [VNET.pack(*h) + fr] + [bytes(10) + s for s in segs])


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "sink":
        sink(int(sys.argv[2]))
    elif cmd == "gen":
        gen(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    elif cmd == "inject":
        inject(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit("usage: capture.py sink|gen|inject ...")
