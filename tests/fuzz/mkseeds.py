#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpora (run once; outputs are kept in
the repository). Seeds are well-formed so the fuzzer starts deep in the
handlers: a full vhost-user setup sequence, valid rings, and the super-frames
captured from the kernel (tests/data/gso/) for the offload layer."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def msg(req, payload=b"", flags=1):
    return struct.pack("<III", req, flags, len(payload)) + payload


def rec(m, nfds=0, eventfd=False):
    return bytes([nfds | (4 if eventfd else 0)]) + struct.pack("<H", len(m)) + m


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


feat = (1 << 32) | (1 << 15) | (1 << 29) | (1 << 28) | (1 << 30)
UVA = 0x10000
setup = b"".join([
    rec(msg(1)),
    rec(msg(15)),
    rec(msg(16, u64((1 << 0) | (1 << 3) | (1 << 16)))),
    rec(msg(17)),
    rec(msg(3)),
    rec(msg(2, u64(feat))),
    rec(msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 65536, UVA, 0)), 1),
])
for vr in (0, 1):
    base = vr * 0x4000
    setup += rec(msg(8, state(vr, 64)))
    setup += rec(msg(10, state(vr, 0)))
    setup += rec(msg(9, struct.pack("<IIQQQQ", vr, 0, UVA + base, UVA + base + 0x2000,
                                    UVA + base + 0x1000, 0)))
    setup += rec(msg(12, u64(vr)), 1, True)
    setup += rec(msg(13, u64(vr)), 1, True)
    setup += rec(msg(18, state(vr, 1)))
seeds = {
    "setup": setup,
    "setup_then_stop": setup + rec(msg(11, state(1, 0))) + rec(msg(11, state(0, 0))),
    "config": rec(msg(15)) + rec(msg(16, u64(1 << 9))) + rec(msg(24, struct.pack("<III", 0, 12, 0) + bytes(12))),
    "unknown": rec(msg(99)),
    "truncated": rec(msg(2, u64(feat))[:14]),
}
os.makedirs(os.path.join(here, "corpus/vhost_msg"), exist_ok=True)
for k, v in seeds.items():
    open(os.path.join(here, "corpus/vhost_msg", k), "wb").write(v)

# vring seeds: flags, log2 size, then memory from offset 0: descriptor table
# at 0, avail ring at 0x2000, indirect tables at 0x4000, buffers at 0x8000.
GPA = 0x10000


def desc(addr, ln, flags, nxt):
    return struct.pack("<QIHH", addr, ln, flags, nxt)


def mem(descs, avail, extra=None):
    m = bytearray(0x9000)
    d = b"".join(descs)
    m[0:len(d)] = d
    a = struct.pack("<HH", 0, len(avail)) + b"".join(struct.pack("<H", x) for x in avail)
    m[0x2000:0x2000 + len(a)] = a
    if extra:
        m[0x4000:0x4000 + len(extra)] = extra
    return bytes(m)


vseeds = {
    "single": bytes([0, 4]) + mem([desc(GPA + 0x8000, 64, 0, 0)], [0]),
    "chain": bytes([0, 4]) + mem([desc(GPA + 0x8000, 12, 1, 1), desc(GPA + 0x8100, 1500, 0, 0)], [0]),
    "indirect": bytes([1, 4]) + mem([desc(GPA + 0x4000, 32, 4, 0)], [0],
                                    desc(GPA + 0x8000, 12, 1, 1) + desc(GPA + 0x8100, 100, 0, 0)),
    "rx": bytes([2, 4]) + mem([desc(GPA + 0x8000, 2048, 2, 0), desc(GPA + 0x8800, 2048, 2, 0)], [0, 1]),
}
os.makedirs(os.path.join(here, "corpus/vring"), exist_ok=True)
for k, v in vseeds.items():
    open(os.path.join(here, "corpus/vring", k), "wb").write(v)

# offload seeds: record 0 of every captured case (virtio-net header + frame,
# see tests/offload/capture.py), with split patterns and an L2 delta between.
gso = os.path.join(here, "..", "data", "gso")
os.makedirs(os.path.join(here, "corpus/offload"), exist_ok=True)
for i, name in enumerate(sorted(os.listdir(gso))):
    if not name.endswith(".pcap"):
        continue
    d = open(os.path.join(gso, name), "rb").read()
    cl = struct.unpack("<I", d[24 + 8:24 + 12])[0]
    rec = d[24 + 16:24 + 16 + cl]
    seed = rec[:10] + bytes([(i * 37) & 0xFF, (i * 91) & 0xFF, i & 15]) + rec[10:]
    open(os.path.join(here, "corpus/offload", name[:-5]), "wb").write(seed)

# vxlan: [flags byte: bit 0 from a stranger, bits 1-2 copies - 1][datagram]
def vxh(flags, vni):
    return bytes([flags, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\0"
eth = bytes.fromhex("ffffffffffff0200000000010806") + bytes(28)
vxlan = {
    "ok": b"\0" + vxh(8, 100) + eth,
    "ok-burst": b"\x06" + vxh(8, 100) + eth,
    "reserved-bits": b"\0" + vxh(0xff, 100) + eth,
    "no-i-flag": b"\0" + vxh(0, 100) + eth,
    "other-vni": b"\0" + vxh(8, 101) + eth,
    "inner-short": b"\0" + vxh(8, 100) + eth[:13],
    "inner-min": b"\0" + vxh(8, 100) + eth[:14],
    "header-only": b"\0" + vxh(8, 100),
    "short": b"\0" + b"\x08\0\0",
    "empty": b"\0",
    "stranger": b"\x01" + vxh(8, 100) + eth,
    "big": b"\0" + vxh(8, 100) + eth + bytes(9000),
    "mapped": b"\0" + vxh(8, 200) + eth,
    "mapped-burst": b"\x04" + vxh(8, 200) + eth,
}
os.makedirs(os.path.join(here, "corpus/vxlan"), exist_ok=True)
for k, v in vxlan.items():
    open(os.path.join(here, "corpus/vxlan", k), "wb").write(v)
