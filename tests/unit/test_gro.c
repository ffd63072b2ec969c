/* test_gro.c - receive coalescing (src/offload/ol_gro.c): a stream's
 * segments merged into one frame that the offload layer cuts back into
 * exactly those segments (IPv4, IPv6, tagged, untagged); every rule that
 * keeps a segment apart (a gap, a bad checksum, flags, options, TOS, TTL,
 * IPv4 IDs, the 64 KiB and PKT_MAX_SEGS limits); the order within a
 * connection kept across interleaved connections and frames that are not
 * merged; and random corruption of the headers, after which every frame
 * out is either one that came in, untouched, or a merged frame the
 * offload layer's own validation (ol_parse) accepts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ol.h"
#include "olref.h"
#include "pkt.h"

enum { SLOTS = 160, SLOT = 2048, TS_LEN = 12 };

static uint8_t slot[SLOTS][SLOT];
static struct pkt pk[SLOTS];

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* What one test segment is. */
struct sp {
	int ipv;         /* 4 or 6 */
	bool tag;        /* one 802.1Q tag (VLAN 10) */
	unsigned conn;   /* source port 1000 + conn */
	uint32_t seq;
	unsigned plen;
	uint8_t flags;   /* TCP flags */
	uint16_t id;     /* IPv4 ID */
	bool df;
	uint8_t tos, ttl;
	uint32_t tsval;  /* timestamp option */
	bool bad_csum;
};

static struct sp base(int ipv, bool tag)
{
	return (struct sp){ .ipv = ipv, .tag = tag, .seq = 0x7fff0000u, .plen = 1000,
	                    .flags = 0x10, .id = 0xfff0, .df = true, .ttl = 64, .tsval = 77 };
}

/* The payload byte at stream offset seq: the same bytes whatever cuts it. */
static uint8_t pay(uint32_t seq)
{
	return (uint8_t)(seq * 7 + (seq >> 9));
}

/* Writes segment s into slot i and makes pk[i] a kernel port's frame of it. */
static void mk(unsigned i, const struct sp *s)
{
	uint8_t *b = slot[i];
	unsigned o = 12, l3, l4, thl = 20 + TS_LEN;
	uint64_t ph;
	uint32_t len;

	memset(b, 0, 128);
	memcpy(b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (s->tag) {
		put16(b + o, 0x8100);
		put16(b + o + 2, 10);
		o += 4;
	}
	put16(b + o, s->ipv == 4 ? 0x0800 : 0x86dd);
	l3 = o + 2;
	if (s->ipv == 4) {
		b[l3] = 0x45;
		b[l3 + 1] = s->tos;
		put16(b + l3 + 4, s->id);
		put16(b + l3 + 6, s->df ? 0x4000 : 0);
		b[l3 + 8] = s->ttl;
		b[l3 + 9] = 6;
		memcpy(b + l3 + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		l4 = l3 + 20;
	} else {
		b[l3] = (uint8_t)(0x60 | s->tos >> 4);
		b[l3 + 1] = (uint8_t)(s->tos << 4);
		b[l3 + 3] = 5; /* flow label */
		b[l3 + 6] = 6;
		b[l3 + 7] = s->ttl;
		b[l3 + 8] = 0xfd;
		b[l3 + 23] = 1;
		b[l3 + 24] = 0xfd;
		b[l3 + 39] = 2;
		l4 = l3 + 40;
	}
	put16(b + l4, 1000 + s->conn);
	put16(b + l4 + 2, 5201);
	put32(b + l4 + 4, s->seq);
	put32(b + l4 + 8, 0x01020304);
	b[l4 + 12] = (uint8_t)(thl / 4 << 4);
	b[l4 + 13] = s->flags;
	put16(b + l4 + 14, 512);
	memcpy(b + l4 + 20, "\x01\x01\x08\x0a", 4);
	put32(b + l4 + 24, s->tsval);
	put32(b + l4 + 28, 99);
	for (unsigned k = 0; k < s->plen; k++)
		b[l4 + thl + k] = pay(s->seq + k);
	len = l4 + thl + s->plen;
	if (s->ipv == 4) {
		put16(b + l3 + 2, len - l3);
		put16(b + l3 + 10, ref_csum(b + l3, 20, 0));
		ph = ref_sum(b + l3 + 12, 8, 0);
	} else {
		put16(b + l3 + 4, len - l3 - 40);
		ph = ref_sum(b + l3 + 8, 32, 0);
	}
	put16(b + l4 + 16, ref_csum(b + l4, len - l4, ph + 6 + (len - l4)) ^ (s->bad_csum ? 1 : 0));
	pk[i] = (struct pkt){ .len = len, .nseg = 1 };
	pk[i].seg[0] = (struct iovec){ b, len };
}

/* n segments of one connection from s on, each s->plen bytes (the last
 * one last bytes, if nonzero), IDs counting; the last with PSH. */
static void stream(unsigned at, unsigned n, struct sp s, unsigned last)
{
	for (unsigned k = 0; k < n; k++) {
		struct sp t = s;

		if (k + 1 == n) {
			t.flags |= 0x08;
			if (last)
				t.plen = last;
		}
		mk(at + k, &t);
		s.seq += s.plen;
		s.id++;
	}
}

/* Frame i validated as the offload layer validates a frame at ingress. */
static bool meta_ok(const struct pkt *p, struct ol_frame *f, uint8_t *head)
{
	struct ol_meta m = { p->ol.flags, p->ol.gso_type, p->ol.hdr_len, p->ol.gso_size,
	                     p->ol.csum_start, p->ol.csum_offset };
	uint32_t n = p->len < OL_MAX_HDR ? p->len : OL_MAX_HDR, got = 0;

	for (unsigned k = 0; k < p->nseg && got < n; k++) {
		uint32_t c = (uint32_t)p->seg[k].iov_len < n - got ? (uint32_t)p->seg[k].iov_len
		                                                   : n - got;
		memcpy(head + got, p->seg[k].iov_base, c);
		got += c;
	}
	return ol_parse(&m, head, n, p->len, f) == 0;
}

/* Cuts merged frame p back into segments and compares them with the
 * original segments: slots from, from+1, ... (copied aside in orig). */
static uint8_t orig[SLOTS][SLOT];
static uint32_t orig_len[SLOTS];

static void save(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(orig[i], slot[i], pk[i].len);
		orig_len[i] = pk[i].len;
	}
}

static void check_resegments(const struct pkt *p, unsigned from, unsigned nseg)
{
	uint8_t head[OL_MAX_HDR], out[SLOT];
	struct ol_frame f;

	CHECK(meta_ok(p, &f, head));
	CHECK_EQ(ol_gso_count(&f), nseg);
	for (unsigned k = 0; k < nseg && k < ol_gso_count(&f); k++) {
		struct iovec d = { out, sizeof(out) };
		uint32_t n = ol_gso_write(&f, head, k, p->seg, p->nseg, f.hdr_len, &d, 1);

		CHECKF(n == orig_len[from + k] && !memcmp(out, orig[from + k], n),
		       "segment %u of %u: %u bytes, want %u", k, nseg, n, orig_len[from + k]);
	}
}

static void test_identity(void)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		for (int tag = 0; tag < 2; tag++) {
			unsigned merged = 99, n;

			stream(0, 40, base(ipv, tag), 321);
			save(40);
			n = ol_gro(pk, 40, &merged);
			CHECK_EQ(n, 1);
			CHECK_EQ(merged, 39);
			CHECK_EQ(pk[0].nseg, 40);
			CHECK_EQ(pk[0].ol.gso_size, 1000);
			CHECK_EQ(pk[0].ol.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			CHECK_EQ(pk[0].ol.gso_type,
			         ipv == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
			check_resegments(&pk[0], 0, 40);
		}
	}
}

/* Output frame i is input frame j, untouched apart from DATA_VALID. */
static bool is_input(unsigned i, unsigned j)
{
	return pk[i].nseg == 1 && pk[i].seg[0].iov_base == slot[j] && pk[i].len == orig_len[j] &&
	       !memcmp(slot[j], orig[j], orig_len[j]);
}

static void test_apart(void)
{
	struct sp s = base(4, false), t;
	unsigned n, merged;

	/* A gap: 0 and 2 of a stream. */
	mk(0, &s);
	t = s;
	t.seq += 2000;
	t.id += 2;
	mk(1, &t);
	save(2);
	n = ol_gro(pk, 2, &merged);
	CHECK_EQ(n, 2);
	CHECK_EQ(merged, 0);
	CHECK(is_input(0, 0) && is_input(1, 1));
	CHECK_EQ(pk[0].ol.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK_EQ(pk[1].ol.flags, VIRTIO_NET_HDR_F_DATA_VALID);

	/* A bad checksum in the middle: left alone, unmarked, and the
	 * segment after it starts again. */
	stream(0, 4, s, 0);
	t = s;
	t.seq += 1000;
	t.id++;
	t.bad_csum = true;
	mk(1, &t);
	save(4);
	n = ol_gro(pk, 4, &merged);
	CHECK_EQ(n, 3);
	CHECK(is_input(0, 0) && is_input(1, 1));
	CHECK_EQ(pk[0].ol.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK_EQ(pk[1].ol.flags, 0);
	CHECK_EQ(pk[2].nseg, 2);
	check_resegments(&pk[2], 2, 2);

	/* Flags other than ACK and PSH; a pure ACK of the same connection
	 * between two segments: nothing overtakes it. */
	const uint8_t bad_flags[] = { 0x11, 0x12, 0x14, 0x18 | 0x20, 0x50, 0x90, 0x00 };
	for (unsigned k = 0; k < sizeof(bad_flags); k++) {
		stream(0, 3, s, 0);
		t = s;
		t.seq += 1000;
		t.id++;
		t.flags = bad_flags[k];
		mk(1, &t);
		save(3);
		n = ol_gro(pk, 3, &merged);
		CHECKF(n == 3 && merged == 0, "flags 0x%x: %u frames", bad_flags[k], n);
	}
	stream(0, 3, s, 0);
	t = s;
	t.seq += 1000;
	t.plen = 0;
	mk(1, &t);
	t = s;
	t.seq += 1000;
	t.id += 2;
	mk(2, &t);
	save(3);
	n = ol_gro(pk, 3, &merged);
	CHECK_EQ(n, 3);
	CHECK(is_input(0, 0) && is_input(1, 1) && is_input(2, 2));

	/* PSH and a short segment end a run. */
	for (int shortseg = 0; shortseg < 2; shortseg++) {
		stream(0, 3, s, 0);
		t = s;
		t.seq += 1000;
		t.id++;
		if (shortseg)
			t.plen = 500;
		else
			t.flags |= 0x08;
		mk(1, &t);
		t.seq += t.plen;
		t.id++;
		t.plen = 1000;
		t.flags = 0x10;
		mk(2, &t);
		save(3);
		n = ol_gro(pk, 3, &merged);
		CHECK_EQ(n, 2);
		CHECK_EQ(pk[0].nseg, 2);
		check_resegments(&pk[0], 0, 2);
		CHECK(is_input(1, 2));
	}

	/* A segment longer than the run's first. */
	stream(0, 2, s, 0);
	t = s;
	t.seq += 1000;
	t.id++;
	t.plen = 1001;
	mk(1, &t);
	n = ol_gro(pk, 2, &merged);
	CHECK_EQ(n, 2);

	/* Each header difference keeps the second apart. */
	for (int what = 0; what < 8; what++) {
		t = s;
		if (what == 6)
			t.ipv = 6;
		mk(0, &t);
		t.seq += 1000;
		t.id++;
		switch (what) {
		case 0: t.tos = 4; break;
		case 1: t.ttl = 63; break;
		case 2: t.tsval++; break;
		case 3: t.id += 5; break;
		case 4: t.df = false; t.id--; break;  /* same ID without DF */
		case 5: t.conn = 1; break;
		case 6: t.tos = 8; break;              /* IPv6 traffic class */
		case 7: t.tag = true; break;
		}
		mk(1, &t);
		if (what == 4) { /* both without DF */
			struct sp u = s;
			u.df = false;
			mk(0, &u);
		}
		n = ol_gro(pk, 2, &merged);
		CHECKF(n == 2, "difference %d merged", what);
	}
	/* With DF, one fixed ID is merged (RFC 6864 atomic datagrams). */
	mk(0, &s);
	t = s;
	t.seq += 1000;
	mk(1, &t);
	n = ol_gro(pk, 2, &merged);
	CHECK_EQ(n, 1);
}

static void test_limits(void)
{
	struct sp s = base(4, false);
	unsigned n, merged;

	/* PKT_MAX_SEGS segments at most in one frame. */
	s.plen = 100;
	stream(0, PKT_MAX_SEGS + 6, s, 0);
	save(PKT_MAX_SEGS + 6);
	n = ol_gro(pk, PKT_MAX_SEGS + 6, &merged);
	CHECK_EQ(n, 2);
	CHECK_EQ(pk[0].nseg, PKT_MAX_SEGS);
	check_resegments(&pk[0], 0, PKT_MAX_SEGS);
	check_resegments(&pk[1], PKT_MAX_SEGS, 6);

	/* 64 KiB of IP datagram at most: 1460-byte segments, 44 fit. */
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		s = base(ipv, false);
		s.plen = 1460;
		stream(0, 50, s, 0);
		save(50);
		n = ol_gro(pk, 50, &merged);
		CHECK_EQ(n, 2);
		CHECK(pk[0].len - 14 - (ipv == 6 ? 40 : 0) <= 65535);
		check_resegments(&pk[0], 0, pk[0].nseg);
		check_resegments(&pk[1], pk[0].nseg, 50 - pk[0].nseg);
	}
}

/* Connections interleaved, and frames that are not TCP among them: each
 * connection's frames come out merged and in order, the others where
 * they were relative to each other. */
static void test_interleave(void)
{
	unsigned n, merged, i = 0;
	struct sp c[OL_GRO_FLOWS + 2];

	for (unsigned k = 0; k < OL_GRO_FLOWS + 2; k++) {
		c[k] = base(k & 1 ? 6 : 4, false);
		c[k].conn = k;
	}
	/* 3 rounds of all connections, an ARP frame after each round. */
	for (int r = 0; r < 3; r++) {
		for (unsigned k = 0; k < OL_GRO_FLOWS; k++) {
			mk(i++, &c[k]);
			c[k].seq += c[k].plen;
			c[k].id++;
		}
		memset(slot[i], 0, 60);
		put16(slot[i] + 12, 0x0806);
		pk[i] = (struct pkt){ .len = 60, .nseg = 1 };
		pk[i].seg[0] = (struct iovec){ slot[i], 60 };
		i++;
	}
	n = ol_gro(pk, i, &merged);
	CHECK_EQ(merged, 2 * OL_GRO_FLOWS);
	CHECK_EQ(n, OL_GRO_FLOWS + 3);
	for (unsigned k = 0; k < OL_GRO_FLOWS; k++) {
		CHECK_EQ(pk[k].nseg, 3);
		CHECK(pk[k].seg[0].iov_base == slot[k]);
	}
	for (unsigned k = 0; k < 3; k++)
		CHECK(pk[OL_GRO_FLOWS + k].seg[0].iov_base == slot[OL_GRO_FLOWS * (k + 1) + k]);

	/* More connections than runs: the oldest run is closed for a new
	 * one; nothing is lost or reordered within a connection. */
	i = 0;
	for (int r = 0; r < 2; r++)
		for (unsigned k = 0; k < OL_GRO_FLOWS + 2; k++) {
			mk(i++, &c[k]);
			c[k].seq += c[k].plen;
			c[k].id++;
		}
	save(i);
	n = ol_gro(pk, i, &merged);
	CHECK_EQ(n + merged, i);
	uint32_t bytes = 0;
	for (unsigned k = 0; k < n; k++)
		bytes += pk[k].len;
	CHECK(n >= OL_GRO_FLOWS + 2);
	for (unsigned k = 0; k < n; k++) {
		uint8_t head[OL_MAX_HDR];
		struct ol_frame f;

		if (pk[k].ol.gso_type)
			CHECK(meta_ok(&pk[k], &f, head));
	}
	CHECK(bytes > 0);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* Random bytes flipped in the headers of a mergeable stream (and random
 * lengths): every frame out is an input frame untouched (but for
 * DATA_VALID, set only on frames whose checksums hold) or a merged frame
 * that ol_parse accepts and whose segments carry valid checksums. */
static void test_corrupt(void)
{
	for (int round = 0; round < 20000; round++) {
		unsigned nin = 2 + rnd() % 12, n, merged;
		struct sp s = base(rnd() & 1 ? 4 : 6, rnd() & 1);

		s.plen = 1 + rnd() % 1200;
		stream(0, nin, s, 0);
		for (unsigned f = rnd() % 4; f; f--) {
			unsigned i = rnd() % nin, at = rnd() % 80;

			slot[i][at] ^= (uint8_t)(1u << (rnd() % 8));
			if (rnd() % 8 == 0)
				pk[i].len = pk[i].seg[0].iov_len = rnd() % (pk[i].len + 1);
		}
		save(nin);
		uint8_t *seen[SLOTS];
		for (unsigned i = 0; i < nin; i++)
			seen[i] = pk[i].seg[0].iov_base;
		n = ol_gro(pk, nin, &merged);
		CHECK_EQ(n + merged, nin);
		for (unsigned i = 0; i < n; i++) {
			unsigned j = (unsigned)(((uint8_t(*)[SLOT])pk[i].seg[0].iov_base) - slot);
			uint8_t head[OL_MAX_HDR];
			struct ol_frame f;

			CHECK(j < nin && seen[j] == slot[j]);
			if (pk[i].nseg == 1) {
				const uint8_t *b = slot[j];
				unsigned l3 = b[12] == 0x81 ? 18 : 14;

				CHECK(pk[i].ol.gso_type == 0);
				CHECK(is_input(i, j));
				if (pk[i].ol.flags)
					CHECK(pk[i].ol.flags == VIRTIO_NET_HDR_F_DATA_VALID &&
					      ref_frame_ok(b, pk[i].len, l3,
					                   l3 + (b[l3 - 2] == 0x08 ? 20 : 40),
					                   b[l3 - 2] == 0x08 ? 4 : 6, 6));
				continue;
			}
			if (!meta_ok(&pk[i], &f, head)) {
				struct ol_meta m = { pk[i].ol.flags, pk[i].ol.gso_type, pk[i].ol.hdr_len,
				                     pk[i].ol.gso_size, pk[i].ol.csum_start,
				                     pk[i].ol.csum_offset };
				CHECKF(0, "round %d: merged frame %u refused: %s (gso_size %u)", round, i,
				       ol_err_str(-ol_parse(&m, head, OL_MAX_HDR < pk[i].len ? OL_MAX_HDR : pk[i].len,
				                            pk[i].len, &f)), pk[i].ol.gso_size);
				continue;
			}
			for (unsigned k = 0; k < ol_gso_count(&f); k++) {
				uint8_t out[SLOT];
				struct iovec d = { out, sizeof(out) };
				uint32_t w = ol_gso_write(&f, head, k, pk[i].seg, pk[i].nseg, f.hdr_len,
				                          &d, 1);

				CHECK(w > 0 && ref_frame_ok(out, w, f.l3_off, f.l4_off, f.ipv, 6));
			}
		}
		if (check_failures > 20)
			break;
	}
}

int main(void)
{
	test_identity();
	test_apart();
	test_limits();
	test_interleave();
	test_corrupt();
	return check_result("gro");
}
