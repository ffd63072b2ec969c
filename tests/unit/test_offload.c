/* test_offload.c - the offload layer (src/offload): every hostile
 * metadata/header combination refused under its named reason, the
 * checksum primitives against a byte-by-byte reference, output invariant
 * under every iovec split of source and destination, and segmentation and
 * checksum completion byte-identical to the Linux kernel's on the frames
 * captured by tests/offload/capture.sh (tests/data/gso/, directory given
 * as argv[1]). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ol.h"
#include "ol_impl.h"
#include "olref.h"
#include "util.h"

enum { MAXF = OL_MAX_FRAME + 64 };

/* ------------------------------------------------------------ frames */

/* A frame built by the test: bytes, length, metadata as a Linux sender
 * would give it (TCP/UDP checksum field = pseudo-header sum). */
struct tf {
	uint8_t b[MAXF];
	uint32_t len;
	unsigned l3, l4, hl4;
	struct ol_meta m;
};

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

/* ipv 4/6, proto 6/17, tags 0..3 VLAN tags, ipext: IPv4 option bytes
 * (multiple of 4) or IPv6 destination-options header bytes (multiple of
 * 8), l4opt: TCP option bytes, pay: payload bytes, mss: gso_size. */
static void mk(struct tf *t, int ipv, uint8_t proto, int tags, unsigned ipext, unsigned l4opt,
               uint32_t pay, uint16_t mss)
{
	uint8_t *b = t->b;
	unsigned o = 12, i, hl4 = proto == 6 ? 20 + l4opt : 8;
	uint64_t ph;

	memset(b, 0, 256);
	memcpy(b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	for (int k = 0; k < tags; k++, o += 4) {
		put16(b + o, k == 0 && tags > 1 ? 0x88a8 : 0x8100);
		put16(b + o + 2, 100u + (unsigned)k);
	}
	put16(b + o, ipv == 4 ? 0x0800 : 0x86dd);
	o += 2;
	t->l3 = o;
	if (ipv == 4) {
		unsigned ihl = 20 + ipext;
		b[o] = (uint8_t)(0x40 | ihl / 4);
		put16(b + o + 4, 0xfffe);       /* ID: wraps during segmentation */
		put16(b + o + 6, 0x4000);       /* DF */
		b[o + 8] = 64;
		b[o + 9] = proto;
		memcpy(b + o + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		memset(b + o + 20, 1, ipext);   /* NOPs */
		o += ihl;
	} else {
		b[o] = 0x60;
		b[o + 6] = ipext ? 60 : proto;
		b[o + 7] = 64;
		b[o + 8] = 0xfd;
		b[o + 23] = 1;
		b[o + 24] = 0xfd;
		b[o + 39] = 2;
		o += 40;
		if (ipext) {
			b[o] = proto;
			b[o + 1] = (uint8_t)(ipext / 8 - 1);
			b[o + 2] = 1;           /* PadN */
			b[o + 3] = (uint8_t)(ipext - 4);
			memset(b + o + 4, 0, ipext - 4);
			o += ipext;
		}
	}
	t->l4 = o;
	t->hl4 = hl4;
	memset(b + o, 0, hl4);
	put16(b + o, 1000);
	put16(b + o + 2, 2000);
	if (proto == 6) {
		put32(b + o + 4, 0xfffff000);   /* sequence: wraps too */
		put32(b + o + 8, 0x01020304);
		b[o + 12] = (uint8_t)(hl4 / 4 << 4);
		b[o + 13] = 0x80 | 0x10 | 0x08 | 0x01;  /* CWR ACK PSH FIN */
		put16(b + o + 14, 512);
		memset(b + o + 20, 1, l4opt);
	} else {
		put16(b + o + 4, hl4 + pay);
	}
	for (i = 0; i < pay; i++)
		b[o + hl4 + i] = (uint8_t)(i * 13 + (i >> 8) + 7);
	t->len = o + hl4 + pay;
	if (ipv == 4) {
		put16(b + t->l3 + 2, t->len - t->l3);
		put16(b + t->l3 + 10, ref_csum(b + t->l3, t->l4 - t->l3, 0));
		ph = ref_sum(b + t->l3 + 12, 8, 0);
	} else {
		put16(b + t->l3 + 4, t->len - t->l3 - 40);
		ph = ref_sum(b + t->l3 + 8, 32, 0);
	}
	/* Linux's partial: the folded pseudo-header sum, not complemented. */
	put16(b + o + (proto == 6 ? 16 : 6), ref_fold(ph + proto + hl4 + pay));
	t->m = (struct ol_meta){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = proto == 17 ? VIRTIO_NET_HDR_GSO_UDP_L4
		            : ipv == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
		.hdr_len = (uint16_t)(o + hl4),
		.gso_size = mss,
		.csum_start = (uint16_t)o,
		.csum_offset = proto == 6 ? 16 : 6,
	};
}

/* ol_parse over a head of exactly min(len, OL_MAX_HDR) heap bytes (or
 * headlen if given), so ASan sees any read past it. */
static int parse_exact(const struct tf *t, uint32_t headlen, struct ol_frame *f)
{
	uint32_t n = headlen ? headlen : MIN(t->len, (uint32_t)OL_MAX_HDR);
	uint8_t *h = malloc(n ? n : 1);
	int r;

	memcpy(h, t->b, n);
	r = ol_parse(&t->m, h, n, t->len, f);
	free(h);
	return r;
}

/* ------------------------------------------------------------ hostile input */

static struct tf T;     /* scratch for the tables (large) */

enum base { T4, T6, U4, U6, T4Q };

static void mkbase(enum base b)
{
	switch (b) {
	case T4: mk(&T, 4, 6, 0, 0, 12, 3000, 1000); break;
	case T6: mk(&T, 6, 6, 0, 0, 12, 3000, 1000); break;
	case U4: mk(&T, 4, 17, 0, 0, 0, 3000, 1000); break;
	case U6: mk(&T, 6, 17, 0, 0, 0, 3000, 1000); break;
	case T4Q: mk(&T, 4, 6, 2, 0, 12, 3000, 1000); break;
	}
}

static void m_flags(void) { T.m.flags |= 4; }
static void m_ufo(void) { T.m.gso_type = VIRTIO_NET_HDR_GSO_UDP; }
static void m_unknown(void) { T.m.gso_type = 2; }
static void m_ecn_only(void) { T.m.gso_type = VIRTIO_NET_HDR_GSO_ECN; }
static void m_ecn_udp(void) { T.m.gso_type |= VIRTIO_NET_HDR_GSO_ECN; }
static void m_tcpv6(void) { T.m.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; }
static void m_tcpv4(void) { T.m.gso_type = VIRTIO_NET_HDR_GSO_TCPV4; }
static void m_udpl4(void) { T.m.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4; T.m.csum_offset = 6; }
static void m_tcp_on_udp(void) { T.m.gso_type = VIRTIO_NET_HDR_GSO_TCPV4; T.m.csum_offset = 16; }
static void m_arp(void) { put16(T.b + 12, 0x0806); }
static void m_gso0(void) { T.m.gso_size = 0; }
static void m_gso40(void) { T.m.gso_size = 40; }
static void m_gso_small(void) { T.m.gso_size = OL_TCP_MIN_MSS - 1; }
static void m_no_csum(void) { T.m.flags = 0; }
static void m_cs_beyond(void) { T.m.csum_start = (uint16_t)(T.len + 10); }
static void m_cs_plus1(void) { T.m.csum_start++; }
static void m_co_udp(void) { T.m.csum_offset = 6; }
static void m_hdrlen(void) { T.m.hdr_len = (uint16_t)(T.len + 1); }
static void m_ipver(void) { T.b[T.l3] = (uint8_t)(0x50 | (T.b[T.l3] & 15)); }
static void m_ihl4(void) { T.b[T.l3] = 0x44; }
static void m_totlen_plus(void) { put16(T.b + T.l3 + 2, ref_get16(T.b + T.l3 + 2) + 1); }
static void m_totlen_minus(void) { put16(T.b + T.l3 + 2, ref_get16(T.b + T.l3 + 2) - 1); }
static void m_pad(void) { T.len += 4; }
static void m_mf(void) { put16(T.b + T.l3 + 6, 0x2000); }
static void m_fragoff(void) { put16(T.b + T.l3 + 6, 0x0001); }
static void m_plen(void) { put16(T.b + T.l3 + 4, ref_get16(T.b + T.l3 + 4) + 8); }
static void m_doff4(void) { T.b[T.l4 + 12] = 0x40; }
static void m_udplen(void) { put16(T.b + T.l4 + 4, ref_get16(T.b + T.l4 + 4) - 1); }
static void m_tags3(void)
{
	memmove(T.b + 16, T.b + 12, T.len - 12);
	put16(T.b + 12, 0x8100);
	put16(T.b + 14, 7);
	T.len += 4;
	T.m.csum_start += 4;
	T.m.hdr_len += 4;
}

/* IPv6 with an extension header of type nh (8 bytes) before TCP. */
static void v6ext(uint8_t nh, uint8_t first_byte_after)
{
	unsigned e = T.l3 + 40;

	memmove(T.b + e + 8, T.b + e, T.len - e);
	memset(T.b + e, 0, 8);
	T.b[e] = T.b[T.l3 + 6];
	T.b[T.l3 + 6] = nh;
	T.b[e + 2] = first_byte_after;
	T.b[e + 3] = first_byte_after ? 4 : 0;
	T.len += 8;
	T.m.csum_start += 8;
	put16(T.b + T.l3 + 4, ref_get16(T.b + T.l3 + 4) + 8);
}
static void m_v6_routing(void) { v6ext(43, 0); }
static void m_v6_frag(void) { v6ext(44, 0); }
static void m_v6_ah(void) { v6ext(51, 0); }
static void m_v6_homeaddr(void) { v6ext(60, 0xc9); }
static void m_v6_hbh_second(void) { v6ext(0, 1); v6ext(60, 1); T.b[T.l3 + 40] = 0; T.b[T.l3 + 40 + 8] = 6; T.b[T.l3 + 6] = 60; }
static void m_v6_dst_beyond(void) { v6ext(60, 1); T.b[T.l3 + 41] = 200; }
static void m_v6_opt_cut(void) { v6ext(60, 0); T.b[T.l3 + 40 + 7] = 5; }

static const struct hostile {
	const char *name;
	enum base base;
	void (*mut)(void);
	int err;
} hostile[] = {
	{ "unknown flag bit", T4, m_flags, OL_ERR_FLAGS },
	{ "UFO", U4, m_ufo, OL_ERR_GSO_TYPE },
	{ "unknown gso type", T4, m_unknown, OL_ERR_GSO_TYPE },
	{ "ECN alone", T4, m_ecn_only, OL_ERR_GSO_TYPE },
	{ "ECN with UDP", U4, m_ecn_udp, OL_ERR_GSO_TYPE },
	{ "TCPV6 on IPv4", T4, m_tcpv6, OL_ERR_GSO_TYPE },
	{ "TCPV4 on IPv6", T6, m_tcpv4, OL_ERR_GSO_TYPE },
	{ "TCP on UDP", U4, m_tcp_on_udp, OL_ERR_GSO_TYPE },
	{ "UDP_L4 on TCP", T4, m_udpl4, OL_ERR_GSO_TYPE },
	{ "not IP", T4, m_arp, OL_ERR_GSO_TYPE },
	{ "gso_size 0", T4, m_gso0, OL_ERR_GSO_SIZE },
	{ "gso_size 0 UDP", U6, m_gso0, OL_ERR_GSO_SIZE },
	{ "TCP mss 40", T4, m_gso40, OL_ERR_GSO_SIZE },
	{ "TCP mss below OL_TCP_MIN_MSS", T6, m_gso_small, OL_ERR_GSO_SIZE },
	{ "GSO without NEEDS_CSUM", T4, m_no_csum, OL_ERR_CSUM },
	{ "csum_start beyond frame", T4, m_cs_beyond, OL_ERR_CSUM },
	{ "csum_start not L4", T6, m_cs_plus1, OL_ERR_CSUM },
	{ "csum_offset not TCP's", T4, m_co_udp, OL_ERR_CSUM },
	{ "hdr_len beyond frame", T4, m_hdrlen, OL_ERR_HDR },
	{ "3 VLAN tags", T4Q, m_tags3, OL_ERR_L2 },
	{ "IP version 5", T4, m_ipver, OL_ERR_IP },
	{ "IPv6 version 5", T6, m_ipver, OL_ERR_IP },
	{ "IHL 4", T4, m_ihl4, OL_ERR_IP },
	{ "total length + 1", T4, m_totlen_plus, OL_ERR_IP_LEN },
	{ "total length - 1", U4, m_totlen_minus, OL_ERR_IP_LEN },
	{ "padding after datagram", T4, m_pad, OL_ERR_IP_LEN },
	{ "payload length + 8", T6, m_plen, OL_ERR_IP_LEN },
	{ "IPv4 MF", T4, m_mf, OL_ERR_IP_FRAG },
	{ "IPv4 fragment offset", U4, m_fragoff, OL_ERR_IP_FRAG },
	{ "IPv6 routing header", T6, m_v6_routing, OL_ERR_IPV6_EXT },
	{ "IPv6 fragment header", U6, m_v6_frag, OL_ERR_IPV6_EXT },
	{ "IPv6 AH", T6, m_v6_ah, OL_ERR_IPV6_EXT },
	{ "IPv6 home address option", T6, m_v6_homeaddr, OL_ERR_IPV6_EXT },
	{ "IPv6 hop-by-hop not first", T6, m_v6_hbh_second, OL_ERR_IPV6_EXT },
	{ "IPv6 dest-opts beyond frame", T6, m_v6_dst_beyond, OL_ERR_IPV6_EXT },
	{ "IPv6 option cut short", T6, m_v6_opt_cut, OL_ERR_IPV6_EXT },
	{ "TCP data offset 4", T4, m_doff4, OL_ERR_L4 },
	{ "UDP length - 1", U6, m_udplen, OL_ERR_L4 },
};

static void test_hostile_table(void)
{
	struct ol_frame f;

	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		int r;
		mkbase(hostile[i].base);
		r = parse_exact(&T, 0, &f);
		CHECKF(r == 0, "base of \"%s\": %s", hostile[i].name, ol_err_str(r));
		hostile[i].mut();
		r = parse_exact(&T, 0, &f);
		CHECKF(r == -hostile[i].err, "\"%s\": got %s, want %s", hostile[i].name,
		       ol_err_str(r), ol_err_str(hostile[i].err));
	}
}

/* Cases that need more than a mutation of a small frame. */
static void test_hostile_shapes(void)
{
	struct ol_frame f;

	/* Lengths. */
	mkbase(T4);
	CHECK_EQ(ol_parse(&T.m, T.b, 13, 13, &f), -OL_ERR_LEN);
	CHECK_EQ(ol_parse(&T.m, T.b, 0, 0, &f), -OL_ERR_LEN);
	CHECK_EQ(ol_parse(&T.m, T.b, OL_MAX_HDR, OL_MAX_FRAME + 1, &f), -OL_ERR_LEN);
	/* A head shorter than the headers: refused, not read past. */
	CHECK_EQ(parse_exact(&T, 40, &f), -OL_ERR_HDR);
	CHECK_EQ(parse_exact(&T, 14, &f), -OL_ERR_HDR);
	CHECK_EQ(parse_exact(&T, 10, &f), -OL_ERR_HDR);
	/* Frames cut inside their headers. */
	mkbase(T4);
	T.len = T.l3 + 10;
	T.m.hdr_len = 0;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_IP);
	mkbase(T6);
	T.len = T.l3 + 39;
	T.m.hdr_len = 0;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_IP);
	/* IHL 15 but the frame ends inside the options. */
	mk(&T, 4, 6, 0, 0, 0, 0, 1000);
	T.len = T.l3 + 40;
	put16(T.b + T.l3 + 2, 40);
	T.b[T.l3] = 0x4f;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_IP);
	/* TCP data offset 15, frame ends before the options do. */
	mk(&T, 4, 6, 0, 0, 0, 20, 1000);
	T.b[T.l4 + 12] = 0xf0;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_L4);
	/* TCP header cut. */
	mk(&T, 6, 6, 0, 0, 0, 0, 1000);
	T.len = T.l4 + 10;
	T.m.hdr_len = 0;
	put16(T.b + T.l3 + 4, 10);
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_L4);
	/* UDP header cut. */
	mk(&T, 4, 17, 0, 0, 0, 0, 1000);
	T.len = T.l4 + 4;
	T.m.hdr_len = 0;
	put16(T.b + T.l3 + 2, T.len - T.l3);
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_L4);
	/* Headers longer than OL_MAX_HDR: IPv6 + 200 bytes of options + TCP 60. */
	mk(&T, 6, 6, 0, 200, 40, 1000, 500);
	CHECK_EQ(parse_exact(&T, MIN(T.len, 1024u), &f), -OL_ERR_HDR);

	/* A 64 KiB frame with a 40-byte MSS: refused before any work; 48 is
	 * the smallest accepted, bounded to 1365 segments. */
	mk(&T, 4, 6, 0, 0, 0, 65535 - 40, 40);
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_GSO_SIZE);
	T.m.gso_size = OL_TCP_MIN_MSS;
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(ol_gso_count(&f), 1365);
	/* USO: 128 datagrams at most. */
	mk(&T, 4, 17, 0, 0, 0, 128 * 100, 100);
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(ol_gso_count(&f), 128);
	mk(&T, 4, 17, 0, 0, 0, 128 * 100 + 1, 100);
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_GSO_SIZE);
	mk(&T, 6, 17, 0, 0, 0, 65000, 1);
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_GSO_SIZE);
	/* Longest frames: 64 KiB IP datagrams behind two tags. */
	mk(&T, 4, 6, 2, 0, 0, 65535 - 40, 1448);
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(ol_gso_count(&f), 46);
	mk(&T, 6, 17, 2, 0, 0, 65535 - 8, 1448);
	CHECK_EQ(T.len, OL_MAX_FRAME);
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(ol_gso_count(&f), 46);

	/* Checksum-only frames: the field inside the frame, after L2, even. */
	mk(&T, 4, 6, 1, 0, 0, 100, 0);
	T.m.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(f.kind, OL_KIND_CSUM);
	T.m.csum_start = (uint16_t)(T.len - 2);
	T.m.csum_offset = 0;
	CHECK_EQ(parse_exact(&T, 0, &f), 0);                 /* last 2 bytes: fine */
	T.m.csum_offset = 2;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_CSUM);      /* 2 bytes beyond */
	T.m.csum_start = 0xffff;
	T.m.csum_offset = 0xffff;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_CSUM);
	T.m.csum_start = 17;                                 /* inside the tag */
	T.m.csum_offset = 0;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_CSUM);
	T.m.csum_start = 40;
	T.m.csum_offset = 3;
	CHECK_EQ(parse_exact(&T, 0, &f), -OL_ERR_CSUM);
	/* Not IP, garbage gso_size: fine when nothing is to be segmented
	 * (the checksum is generic). */
	put16(T.b + 16, 0x9000);
	T.m.csum_start = 20;
	T.m.csum_offset = 0;
	T.m.gso_size = 3;
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	T.m.flags = 0;
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(f.kind, OL_KIND_PLAIN);
	CHECK_EQ(f.hdr_len, 18);
	T.m.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	CHECK_EQ(parse_exact(&T, 0, &f), 0);
	CHECK_EQ(f.flags, VIRTIO_NET_HDR_F_DATA_VALID);

	/* Every reason has its own name. */
	for (int i = 0; i < OL_ERR__COUNT; i++) {
		CHECK(strcmp(ol_err_str(i), "?") != 0);
		CHECK(strcmp(ol_err_str(-i), ol_err_str(i)) == 0);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(ol_err_str(i), ol_err_str(j)) != 0);
	}
	CHECK(strcmp(ol_err_str(OL_ERR__COUNT), "?") == 0);
	CHECK(strcmp(ol_err_str(-1000), "?") == 0);
}

/* ------------------------------------------------------------ checksum primitives */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void test_csum_primitives(void)
{
	static uint8_t src[5000], dst[5000];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)rnd();
	memset(src + 1000, 0xff, 600);          /* carries */
	for (unsigned len = 0; len < 700; len++) {
		for (unsigned al = 0; al < 9; al++) {
			const uint8_t *s = src + 900 + al;
			uint16_t want = ref_csum(s, len, 0), got;
			uint32_t p = ol_csum_partial(s, len, 0), c;
			uint8_t gb[2];

			/* A native-order partial sum folded and stored natively
			 * reads as the network-order checksum. */
			got = ol_csum_fold(p);
			memcpy(gb, &got, 2);
			CHECKF(ref_get16(gb) == want, "partial len %u align %u", len, al);
			memset(dst, 0, len + 16);
			c = ol_csum_copy(dst + al, s, len, 0);
			CHECKF(ol_csum_fold(c) == ol_csum_fold(p), "copy sum len %u align %u", len, al);
			CHECKF(memcmp(dst + al, s, len) == 0 && dst[al + len] == 0,
			       "copy bytes len %u align %u", len, al);
		}
	}
	/* Both bodies directly, whatever this CPU would dispatch to. */
	for (unsigned len = 0; len < 1200; len += 7) {
		uint16_t want = ref_csum(src + 3, len, 0);
		uint8_t gb[2];
		uint16_t got = ol_csum_fold(ol_csum_partial_sse2(src + 3, len, 0));
		memcpy(gb, &got, 2);
		CHECKF(ref_get16(gb) == want, "sse2 partial len %u", len);
		got = ol_csum_fold(ol_csum_copy_sse2(dst + 1, src + 3, len, 0));
		memcpy(gb, &got, 2);
		CHECKF(ref_get16(gb) == want && memcmp(dst + 1, src + 3, len) == 0, "sse2 copy len %u", len);
#if defined(__x86_64__)
		if (__builtin_cpu_supports("avx2")) {
			got = ol_csum_fold(ol_csum_partial_avx2(src + 3, len, 0));
			memcpy(gb, &got, 2);
			CHECKF(ref_get16(gb) == want, "avx2 partial len %u", len);
			memset(dst, 0, len + 8);
			got = ol_csum_fold(ol_csum_copy_avx2(dst + 1, src + 3, len, 0));
			memcpy(gb, &got, 2);
			CHECKF(ref_get16(gb) == want && memcmp(dst + 1, src + 3, len) == 0 &&
			       dst[len + 1] == 0, "avx2 copy len %u", len);
		}
#endif
	}
	/* Big regions and a seed. */
	for (unsigned len = 1000; len < sizeof(src); len += 997) {
		uint32_t p = ol_csum_partial(src, len, 0x12345678);
		uint16_t got = ol_csum_fold(p), sb = ol_csum_fold(ol_csum_add(0x12345678, ol_csum_partial(src, len, 0)));
		CHECK(got == sb);
	}
	/* Folding and shifting. */
	CHECK_EQ(ol_csum_fold(0), 0xffff);
	CHECK_EQ(ol_csum_fold(0xffff), 0);
	CHECK_EQ(ol_csum_fold(0xffffffff), 0);
	CHECK_EQ(ol_csum_add(0xffffffff, 1), 1);
	/* An odd split: sum(a) + shift(sum(b)) == sum(a b) for odd |a|. */
	for (unsigned cut = 1; cut < 200; cut += 2) {
		uint32_t whole = ol_csum_partial(src, 300, 0);
		uint32_t parts = ol_csum_add(ol_csum_partial(src, cut, 0),
		                             ol_csum_shift(ol_csum_partial(src + cut, 300 - cut, 0)));
		CHECKF(ol_csum_fold(whole) == ol_csum_fold(parts), "cut %u", cut);
	}
}

/* ol_iov_csum_copy against a flat copy for every split of a small region
 * into 3 source and 3 destination iovecs (with empty ones). */
static void test_iov_csum_copy(void)
{
	enum { N = 67 };
	uint8_t src[N], out[N + 8];
	uint32_t want;

	for (int i = 0; i < N; i++)
		src[i] = (uint8_t)rnd();
	want = ol_csum_partial(src, N, 0);
	for (unsigned a = 0; a <= N; a++) {
		for (unsigned b = a; b <= N; b += 3) {
			struct iovec s[3] = { { src, a }, { src + a, b - a }, { src + b, N - b } };
			unsigned c = (a * 7 + b) % (N + 1), d = MIN(N, c + 5);
			struct iovec o[4] = { { out, c }, { out + c, 0 }, { out + c, d - c },
			                      { out + d, N + 8 - d } };
			uint32_t sum = 0;
			memset(out, 0, sizeof(out));
			size_t n = ol_iov_csum_copy(o, 4, 0, s, 3, 0, N, &sum);
			CHECKF(n == N && memcmp(out, src, N) == 0, "split %u %u", a, b);
			CHECKF(ol_csum_fold(sum) == ol_csum_fold(want), "sum split %u %u", a, b);
		}
	}
	/* Offsets on both sides and short sides. */
	{
		struct iovec s[2] = { { src, 10 }, { src + 10, N - 10 } };
		struct iovec o[1] = { { out, 20 } };
		uint32_t sum = 0;
		CHECK_EQ(ol_iov_csum_copy(o, 1, 5, s, 2, 7, 100, &sum), 15);
		CHECK(memcmp(out + 5, src + 7, 15) == 0);
		sum = 0;
		CHECK_EQ(ol_iov_csum_copy(o, 1, 21, s, 2, 0, 1, &sum), 0);
		CHECK_EQ(ol_iov_csum_copy(o, 1, 0, s, 2, N + 1, 1, &sum), 0);
		CHECK_EQ(ol_iov_csum_copy(o, 1, 20, s, 2, 0, 1, &sum), 0);
		CHECK_EQ(ol_iov_csum_copy(NULL, 0, 0, s, 2, 0, 1, &sum), 0);
	}
}

/* ------------------------------------------------------------ writers */

static uint8_t outbuf[MAXF], refbuf[MAXF];

/* Writes every output frame of t (head = t's bytes, one source iovec) into
 * one exact buffer and checks its checksums with the reference; returns
 * the total bytes. */
static void check_all_valid(const struct tf *t, const char *what)
{
	struct ol_frame f;
	struct iovec src = { (void *)t->b, t->len };
	int r = ol_parse(&t->m, t->b, MIN(t->len, (uint32_t)OL_MAX_HDR), t->len, &f);
	uint32_t pay = 0;

	CHECKF(r == 0, "%s: %s", what, ol_err_str(r));
	if (r)
		return;
	for (uint32_t k = 0; k < ol_gso_count(&f); k++) {
		uint32_t n = ol_gso_len(&f, k);
		struct iovec d = { outbuf, n };
		CHECKF(ol_gso_write(&f, t->b, k, &src, 1, f.hdr_len, &d, 1) == n, "%s seg %u", what, k);
		CHECKF(ref_frame_ok(outbuf, n, f.l3_off, f.l4_off, f.ipv,
		                    f.kind == OL_KIND_TCP ? 6 : 17), "%s seg %u checksums", what, k);
		CHECKF(memcmp(outbuf + f.hdr_len, t->b + f.hdr_len + pay, n - f.hdr_len) == 0,
		       "%s seg %u payload", what, k);
		if (f.kind == OL_KIND_TCP) {
			uint8_t fl = outbuf[f.l4_off + 13];
			bool last = k + 1 == f.nseg;
			CHECKF(ol_get32(outbuf + f.l4_off + 4) == 0xfffff000u + pay, "%s seq", what);
			CHECKF(!!(fl & 0x80) == (k == 0) && !!(fl & 0x09) == last,
			       "%s seg %u flags %#x", what, k, fl);
		}
		if (f.ipv == 4)
			CHECKF(ol_get16(outbuf + f.l3_off + 4) == (uint16_t)(0xfffe + k), "%s id", what);
		pay += n - f.hdr_len;
	}
	CHECKF(pay == f.pay_len, "%s: %u of %u payload bytes", what, pay, f.pay_len);
}

static void test_synthetic(void)
{
	static const struct {
		int ipv;
		uint8_t proto;
		int tags;
		unsigned ipext, l4opt;
		uint32_t pay;
		uint16_t mss;
	} c[] = {
		{ 4, 6, 0, 0, 12, 3000, 1000 }, { 4, 6, 1, 40, 40, 2999, 999 },
		{ 6, 6, 2, 0, 0, 65535 - 20, 88 }, { 6, 6, 0, 16, 4, 1, 88 },
		{ 4, 6, 0, 0, 0, 0, 1448 }, { 4, 17, 2, 8, 0, 12799, 100 },
		{ 6, 17, 0, 24, 0, 3, 1 }, { 6, 17, 1, 0, 0, 65535 - 8, 1448 },
		{ 4, 6, 0, 0, 0, 65535 - 40, 1448 }, { 4, 17, 0, 0, 0, 1000, 2000 },
	};
	char what[64];

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		mk(&T, c[i].ipv, c[i].proto, c[i].tags, c[i].ipext, c[i].l4opt, c[i].pay, c[i].mss);
		snprintf(what, sizeof(what), "synthetic %zu", i);
		check_all_valid(&T, what);
	}
}

/* The same output whatever the source and destination iovec splits: a
 * small TCPv4 frame of 3 segments (odd mss) and a checksum-only frame,
 * source split in two at every byte, destination likewise. */
static void test_splits(void)
{
	static struct tf t;

	for (int kind = 0; kind < 3; kind++) {
		struct ol_frame f;
		struct iovec one;
		uint32_t off = 0;

		if (kind == 0)
			mk(&t, 4, 6, 1, 4, 8, 250, 101);
		else if (kind == 1)
			mk(&t, 6, 17, 0, 0, 0, 203, 77);
		else {
			mk(&t, 4, 17, 0, 0, 0, 211, 0);
			t.m.gso_type = VIRTIO_NET_HDR_GSO_NONE;
		}
		CHECK_EQ(ol_parse(&t.m, t.b, t.len, t.len, &f), 0);
		for (uint32_t k = 0; k < ol_gso_count(&f); k++) {
			uint32_t n = ol_gso_len(&f, k);
			uint32_t pl = n - f.hdr_len;
			one = (struct iovec){ refbuf, n };
			struct iovec s1 = { t.b, t.len };
			CHECK_EQ(ol_gso_write(&f, t.b, k, &s1, 1, f.hdr_len, &one, 1), n);
			CHECK(ref_frame_ok(refbuf, n, f.l3_off, kind == 2 ? f.csum_start : f.l4_off,
			                   kind == 0 ? 4 : kind == 1 ? 6 : 4, kind == 0 ? 6 : 17));
			/* Source split at every byte of the part this segment reads
			 * (and one before); the source may start anywhere. */
			for (uint32_t a = 0; a <= pl + 1; a++) {
				size_t cut = MIN(f.hdr_len + off + a, t.len);
				struct iovec s[2] = { { t.b, cut }, { t.b + cut, t.len - cut } };
				memset(outbuf, 0xaa, n + 1);
				struct iovec d = { outbuf, n };
				CHECKF(ol_gso_write(&f, t.b, k, s, 2, f.hdr_len, &d, 1) == n &&
				       memcmp(outbuf, refbuf, n) == 0 && outbuf[n] == 0xaa,
				       "kind %d seg %u src cut %zu", kind, k, cut);
			}
			for (uint32_t a = 0; a <= n; a++) {
				memset(outbuf, 0xaa, n + 1);
				struct iovec d[3] = { { outbuf, a }, { outbuf + a, 0 },
				                      { outbuf + a, n - a } };
				CHECKF(ol_gso_write(&f, t.b, k, &s1, 1, f.hdr_len, d, 3) == n &&
				       memcmp(outbuf, refbuf, n) == 0 && outbuf[n] == 0xaa,
				       "kind %d seg %u dst cut %u", kind, k, a);
			}
			/* Too little room or too little source: 0, nothing beyond. */
			memset(outbuf, 0xaa, n + 1);
			struct iovec d = { outbuf, n - 1 };
			CHECK_EQ(ol_gso_write(&f, t.b, k, &s1, 1, f.hdr_len, &d, 1), 0);
			CHECK(outbuf[n - 1] == 0xaa);
			struct iovec sshort = { t.b, f.hdr_len + off + pl - 1 };
			d.iov_len = n;
			if (pl)
				CHECK_EQ(ol_gso_write(&f, t.b, k, &sshort, 1, f.hdr_len, &d, 1), 0);
			off += pl;
		}
		one = (struct iovec){ outbuf, MAXF };
		struct iovec s1 = { t.b, t.len };
		CHECK_EQ(ol_gso_write(&f, t.b, ol_gso_count(&f), &s1, 1, f.hdr_len, &one, 1), 0);
		CHECK_EQ(ol_gso_len(&f, ol_gso_count(&f)), 0);
		CHECK_EQ(ol_csum_write(&f, t.b, &s1, 1, f.hdr_len, &one, 1),
		         ol_gso_count(&f) == 1 ? t.len : 0);
	}
}

/* A checksum that comes out as 0: UDP (RFC 768) and any frame checksummed
 * whole (skb_checksum_help) store 0xffff instead; a TCP segment of a real
 * split stores 0 (tcp_gso_segment's gso_make_checksum does not remap). The
 * payload is tuned so the chosen output frame's checksum is 0. */
static void test_zero_csum(void)
{
	static struct tf t;
	static const struct {
		int ipv;
		uint8_t proto;
		uint32_t pay;
		uint16_t mss;
		int gso;
		uint16_t want;
	} c[] = {
		{ 4, 6, 3000, 1000, 1, 0x0000 }, { 6, 6, 2000, 1000, 1, 0x0000 },
		{ 4, 17, 3000, 1000, 1, 0xffff }, { 6, 17, 3000, 1000, 1, 0xffff },
		{ 4, 6, 500, 1000, 1, 0xffff }, { 6, 17, 500, 0, 0, 0xffff },
		{ 4, 6, 500, 0, 0, 0xffff },
	};

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct ol_frame f;
		struct iovec s, d = { outbuf, MAXF };
		uint32_t n, k, at;
		uint16_t cs;

		mk(&t, c[i].ipv, c[i].proto, 0, 0, 12, c[i].pay, c[i].mss);
		if (!c[i].gso)
			t.m.gso_type = VIRTIO_NET_HDR_GSO_NONE;
		s = (struct iovec){ t.b, t.len };
		CHECK_EQ(ol_parse(&t.m, t.b, OL_MAX_HDR, t.len, &f), 0);
		k = ol_gso_count(&f) > 1 ? 1 : 0;
		n = ol_gso_write(&f, t.b, k, &s, 1, f.hdr_len, &d, 1);
		CHECK(n > 0);
		cs = ref_get16(outbuf + t.l4 + t.m.csum_offset);
		/* Add the checksum to a payload word of segment k (even offset
		 * from the L4 header): the segment's sum becomes 0xffff. */
		at = f.hdr_len + k * f.mss + 10;
		if (!c[i].gso)
			at = t.l4 + t.hl4 + 10;
		uint32_t w = ref_get16(t.b + at) + (uint32_t)cs;
		w = (w & 0xffff) + (w >> 16);
		put16(t.b + at, w);
		n = ol_gso_write(&f, t.b, k, &s, 1, f.hdr_len, &d, 1);
		CHECKF(ref_get16(outbuf + t.l4 + t.m.csum_offset) == c[i].want,
		       "zero checksum case %zu: %#x", i, ref_get16(outbuf + t.l4 + t.m.csum_offset));
		CHECK(ref_frame_ok(outbuf, n, t.l3, t.l4, c[i].ipv, c[i].proto));
	}
}

/* ------------------------------------------------------------ the kernel's frames */

struct pcap {
	uint32_t n;
	uint8_t *rec[1024];
	uint32_t len[1024];
	uint8_t *data;
};

/* Reads a classic little-endian pcap of linktype 147 (capture.py's
 * format: 10-byte virtio-net header + frame per record). */
static int pcap_read(const char *path, struct pcap *p)
{
	FILE *fp = fopen(path, "rb");
	long sz;
	uint32_t off = 24;

	memset(p, 0, sizeof(*p));
	if (!fp)
		return -1;
	fseek(fp, 0, SEEK_END);
	sz = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	p->data = malloc((size_t)sz);
	if (sz < 24 || !p->data || fread(p->data, 1, (size_t)sz, fp) != (size_t)sz) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	uint32_t magic, lt;
	memcpy(&magic, p->data, 4);
	memcpy(&lt, p->data + 20, 4);
	if (magic != 0xa1b2c3d4 || lt != 147)
		return -1;
	while (off + 16 <= (uint32_t)sz && p->n < ARRAY_SIZE(p->rec)) {
		uint32_t cl;
		memcpy(&cl, p->data + off + 8, 4);
		if (cl < 10 || off + 16 + cl > (uint32_t)sz)
			return -1;
		p->rec[p->n] = p->data + off + 16;
		p->len[p->n] = cl;
		p->n++;
		off += 16 + cl;
	}
	return off == (uint32_t)sz ? 0 : -1;
}

/* An L2 edit done by "the caller": dtags tags added (1) or all removed (-1). */
static uint32_t edit_l2(uint8_t *out, const uint8_t *fr, uint32_t len, int tags, int dtags)
{
	if (dtags > 0) {
		memcpy(out, fr, 12);
		memcpy(out + 12, "\x81\x00\x01\x23", 4);
		memcpy(out + 16, fr + 12, len - 12);
		return len + 4;
	}
	if (dtags < 0) {
		memcpy(out, fr, 12);
		memcpy(out + 12, fr + 12 + 4 * tags, len - 12 - 4 * (uint32_t)tags);
		return len - 4 * (uint32_t)tags;
	}
	memcpy(out, fr, len);
	return len;
}

static unsigned count_tags(const uint8_t *fr)
{
	unsigned t = 0;

	while (t < 3 && (ref_get16(fr + 12 + 4 * t) == 0x8100 || ref_get16(fr + 12 + 4 * t) == 0x88a8))
		t++;
	return t;
}

/* One captured case: the super-frame through ol_parse + ol_gso_write,
 * unchanged and with the caller's L2 edits, source in odd-sized chunks,
 * destination in 1518-byte buffers (and a split), each output compared
 * byte for byte with the kernel's (given the same L2 edit). */
static int run_case(const char *name, const struct pcap *p)
{
	static uint8_t head[OL_MAX_HDR], kern[MAXF], bufs[4][2048];
	const uint8_t *fr = p->rec[0] + 10;
	uint32_t flen = p->len[0] - 10;
	unsigned tags = count_tags(fr);
	int bad = 0;

	for (int dt = -1; dt <= 1; dt++) {
		struct ol_meta m;
		struct ol_frame f;
		uint32_t olen, hl, nsrc = 0, pos = 0;
		struct iovec src[64];
		int r;

		if ((dt < 0 && tags == 0) || (dt > 0 && tags >= 2))
			continue;
		ol_meta_from_vnet((const struct virtio_net_hdr *)(const void *)p->rec[0], &m);
		/* The caller's private head, edited; metadata moved along. */
		olen = edit_l2(kern, fr, flen, (int)tags, dt);
		hl = MIN(olen, (uint32_t)OL_MAX_HDR);
		memcpy(head, kern, hl);
		int delta = (int)olen - (int)flen;
		if (m.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			m.csum_start = (uint16_t)(m.csum_start + delta);
		if (m.hdr_len)
			m.hdr_len = (uint16_t)(m.hdr_len + delta);
		r = ol_parse(&m, head, hl, olen, &f);
		CHECKF(r == 0, "%s (l2 %+d): %s", name, dt, ol_err_str(r));
		if (r)
			return 1;
		CHECKF(ol_gso_count(&f) == p->n - 1, "%s (l2 %+d): %u frames, kernel %u", name, dt,
		       ol_gso_count(&f), p->n - 1);
		/* The source: the unedited frame in chunks of 1, 7, 100, 4093... */
		static const uint32_t chunk[] = { 1, 7, 100, 4093, 3, 1000, 2, 4096 };
		while (pos < flen && nsrc < ARRAY_SIZE(src)) {
			uint32_t c = MIN(chunk[nsrc % ARRAY_SIZE(chunk)], flen - pos);
			src[nsrc++] = (struct iovec){ (void *)(fr + pos), c };
			pos += c;
		}
		if (pos < flen)
			src[nsrc - 1].iov_len += flen - pos;
		for (uint32_t k = 0; k < ol_gso_count(&f) && k + 1 < p->n; k++) {
			const uint8_t *kf = p->rec[k + 1] + 10;
			uint32_t klen = p->len[k + 1] - 10, n = ol_gso_len(&f, k), w;
			uint32_t elen = edit_l2(kern, kf, klen, (int)tags, dt);
			struct iovec d[4];
			unsigned nd;
			if (n <= 1518) {
				d[0] = (struct iovec){ bufs[0], 1518 };
				nd = 1;
			} else if (n <= 3 * 1518 + 1) {
				d[0] = (struct iovec){ bufs[0], 1 };
				d[1] = (struct iovec){ bufs[1], 1518 };
				d[2] = (struct iovec){ bufs[2], 1518 };
				d[3] = (struct iovec){ bufs[3], 1518 };
				nd = 4;
			} else {
				d[0] = (struct iovec){ outbuf, MAXF };
				nd = 1;
			}
			w = ol_gso_write(&f, head, k, src, nsrc, f.hdr_len - (uint32_t)delta, d, nd);
			/* Gather what was written. */
			uint32_t got = 0;
			for (unsigned i = 0; i < nd && got < w; i++) {
				uint32_t c = MIN((uint32_t)d[i].iov_len, w - got);
				memcpy(refbuf + got, d[i].iov_base, c);
				got += c;
			}
			if (w != elen || w != n || memcmp(refbuf, kern, elen) != 0) {
				uint32_t at = 0;
				while (at < MIN(w, elen) && refbuf[at] == kern[at])
					at++;
				CHECKF(0, "%s (l2 %+d) frame %u: %u bytes (kernel %u), first difference at %u",
				       name, dt, k, w, elen, at);
				bad = 1;
			}
		}
	}
	return bad;
}

static void test_kernel(const char *dir)
{
	static const char *const need[] = {
		"tcp4_short", "tcp4_exact", "tcp4_fin", "tcp4_oddmss", "tcp4_ipopt", "tcp4_big",
		"tcp4_vlan", "tcp4_cwr", "tcp4_onesg", "tcp4_csum", "tcp6_short", "tcp6_fin",
		"tcp6_dstopt", "tcp6_qinq", "udp4_uso", "udp4_vlan", "udp6_uso", "udp6_csum",
	};
	static struct pcap p;
	char path[4096];
	int frames = 0;

	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		snprintf(path, sizeof(path), "%s/%s.pcap", dir, need[i]);
		if (pcap_read(path, &p) < 0 || p.n < 2) {
			CHECKF(0, "cannot read %s", path);
			free(p.data);
			continue;
		}
		run_case(need[i], &p);
		frames += (int)p.n - 1;
		free(p.data);
	}
	printf("offload: %zu captured cases, %d kernel frames compared\n", ARRAY_SIZE(need), frames);
	CHECK(frames >= 100);
}

int main(int argc, char **argv)
{
	test_hostile_table();
	test_hostile_shapes();
	test_csum_primitives();
	test_iov_csum_copy();
	test_synthetic();
	test_splits();
	test_zero_csum();
	if (argc < 2) {
		fprintf(stderr, "usage: test_offload DATA_DIR (tests/data/gso)\n");
		return 2;
	}
	test_kernel(argv[1]);
	return check_result("offload");
}
