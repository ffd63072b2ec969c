/* ol_gro.c - receive coalescing, as Linux's GRO does it for TCP: among the
 * frames of one burst from a kernel port, TCP segments of one connection
 * that follow one another become one segmentation-offload frame (TCPV4 or
 * TCPV6 with NEEDS_CSUM): the first segment's headers with the lengths
 * made right, then every segment's payload, gathered by reference (more
 * iovecs of the first frame's pkt). A destination that takes the offload
 * (a tap, a guest with GUEST_TSO4/6) gets one frame where it would have
 * got dozens; for one that does not, the datapath cuts it up again
 * (ol_seg), into the segments it was made of.
 *
 * A segment joins the run of the segment before it when, as in Linux's
 * tcp_gro_receive and inet_gro_receive:
 *   - both are TCP over IPv4 without options or over IPv6 without
 *     extension headers, behind the same Ethernet header (MACs, one VLAN
 *     tag or none, ethertype), with the IP length the frame's (no padding)
 *     and no fragment;
 *   - addresses, ports, TOS/traffic class and flow label, TTL/hop limit,
 *     DF, acknowledgment, window, data offset and options are the same;
 *     its sequence number follows the run's last byte; its IPv4 ID is the
 *     next one (or, with DF, the same: a fixed ID);
 *   - it carries data and its flags are ACK, or ACK and PSH (which ends
 *     the run); the run's segments were all of its first one's size
 *     (OL_TCP_MIN_MSS at least) and this one is no larger (a shorter one
 *     ends the run);
 *   - the result stays within 64 KiB of IP datagram and PKT_MAX_SEGS
 *     segments.
 * Each segment's TCP checksum (and an IPv4 header's) is verified first:
 * the merged frame leaves with NEEDS_CSUM, which its receiver trusts, so a
 * segment that fails is left as it came, unmerged (its receiver drops it),
 * and ends its connection's run. Segments verified and left alone are
 * marked DATA_VALID. A TCP frame of a connection with an open run that
 * cannot join it (a pure ACK, a FIN, a gap) ends the run, so nothing of a
 * connection overtakes anything of the same connection; frames of other
 * connections may be overtaken, as GRO allows. Up to OL_GRO_FLOWS runs are
 * open at once.
 *
 * Security model: the frames are the caller's own copies (a kernel port's
 * receive slots) and may hold anything; every offset is checked against
 * the frame's length before it is read. */
#include <string.h>

#include "ol.h"
#include "ol_impl.h"
#include "pkt.h"

enum {
	G_ETH_HLEN = 14,
	G_TCP_ACK = 0x10,
	G_TCP_PSH = 0x08,
	G_IPV4_DF = 0x4000,
	G_IP_MAX = 65535,
};

/* One frame as the coalescer sees it. */
struct seg {
	uint16_t l3, l4, thl; /* offsets of the IP and TCP headers; TCP header bytes */
	uint8_t ipv;          /* 4 or 6 */
	uint8_t tflags;
	uint32_t plen;        /* payload bytes */
	uint32_t seq;
	uint32_t hash;        /* of the connection: addresses and ports */
	bool ok;              /* may be merged (or start a run) */
};

struct run {
	unsigned at;          /* the first frame's index (in the output order) */
	const uint8_t *f;     /* the first frame */
	struct seg s;         /* the first frame's */
	uint32_t next_seq;
	uint32_t ip_len;      /* the merged datagram's IP length so far (IPv6: payload) */
	uint16_t last_id;
	uint16_t nseg;        /* frames in the run */
	bool open;
	bool ended;           /* a short segment or PSH: nothing more joins */
	bool psh;
};

static inline uint32_t hash_bytes(const uint8_t *p, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Reads frame f of len bytes. Returns false if it is not TCP over IP as
 * this layer takes it (s then unset); true with s filled, s->ok telling
 * whether it may be merged. */
static bool parse(const uint8_t *f, uint32_t len, struct seg *s)
{
	uint32_t l3 = G_ETH_HLEN, l4, sum, tlen;
	uint16_t type;

	if (len < G_ETH_HLEN)
		return false;
	type = ol_get16(f + 12);
	if (type == 0x8100) {
		if (len < G_ETH_HLEN + 4)
			return false;
		type = ol_get16(f + 16);
		l3 += 4;
	}
	if (type == 0x0800) {
		if (len < l3 + 20 || f[l3] != 0x45 || f[l3 + 9] != 6 ||
		    ol_get16(f + l3 + 2) != len - l3 || (ol_get16(f + l3 + 6) & 0x3fff))
			return false;
		s->ipv = 4;
		l4 = l3 + 20;
		sum = ol_csum_partial(f + l3 + 12, 8, 0);
	} else if (type == 0x86dd) {
		if (len < l3 + 40 || f[l3] >> 4 != 6 || f[l3 + 6] != 6 ||
		    ol_get16(f + l3 + 4) != len - l3 - 40)
			return false;
		s->ipv = 6;
		l4 = l3 + 40;
		sum = ol_csum_partial(f + l3 + 8, 32, 0);
	} else {
		return false;
	}
	if (len < l4 + 20)
		return false;
	s->thl = (uint16_t)((f[l4 + 12] >> 4) * 4u);
	if (s->thl < 20 || len < l4 + s->thl)
		return false;
	s->l3 = (uint16_t)l3;
	s->l4 = (uint16_t)l4;
	s->plen = len - l4 - s->thl;
	s->seq = ol_get32(f + l4 + 4);
	s->tflags = f[l4 + 13];
	s->hash = hash_bytes(f + l4, 4, hash_bytes(f + l3 + (s->ipv == 4 ? 12 : 8),
	                                           s->ipv == 4 ? 8 : 32, 2166136261u));
	s->ok = false;
	if (!s->plen || (s->tflags & ~G_TCP_PSH) != G_TCP_ACK)
		return true;
	if (s->ipv == 4 && ol_csum_fold(ol_csum_partial(f + l3, 20, 0)) != 0)
		return true;
	tlen = len - l4;
	sum = ol_csum_add(sum, ol_be16(6));
	sum = ol_csum_add(sum, ol_be16((uint16_t)tlen));
	s->ok = ol_csum_fold(ol_csum_partial(f + l4, tlen, sum)) == 0;
	return true;
}

/* Whether frames a (a run's first) and b belong to one connection. */
static bool same_conn(const uint8_t *a, const struct seg *sa, const uint8_t *b,
                      const struct seg *sb)
{
	unsigned ao = sa->ipv == 4 ? 12 : 8, an = sa->ipv == 4 ? 8 : 32;

	return sa->hash == sb->hash && sa->ipv == sb->ipv && sa->l3 == sb->l3 &&
	       !memcmp(a + sa->l3 + ao, b + sb->l3 + ao, an) && !memcmp(a + sa->l4, b + sb->l4, 4);
}

/* Whether frame b (of r's connection, s) may join run r. */
static bool joins(const struct run *r, const uint8_t *b, const struct seg *s)
{
	const uint8_t *a = r->f;
	uint32_t l3 = s->l3, l4 = s->l4;

	if (!s->ok || r->ended || s->seq != r->next_seq || s->plen > r->s.plen ||
	    s->thl != r->s.thl || r->nseg >= PKT_MAX_SEGS || r->ip_len + s->plen > G_IP_MAX)
		return false;
	/* Ethernet header, tag and ethertype. */
	if (memcmp(a, b, l3))
		return false;
	if (s->ipv == 4) {
		uint16_t id = ol_get16(b + l3 + 4), df = ol_get16(b + l3 + 6);

		if (a[l3 + 1] != b[l3 + 1] || a[l3 + 8] != b[l3 + 8] || df != ol_get16(a + l3 + 6))
			return false;
		if (id != (uint16_t)(r->last_id + 1) && !(df == G_IPV4_DF && id == r->last_id))
			return false;
	} else if (memcmp(a + l3, b + l3, 4) || a[l3 + 7] != b[l3 + 7]) {
		return false;
	}
	/* Acknowledgment, data offset and flags are checked apart; window,
	 * then the options. */
	return !memcmp(a + l4 + 8, b + l4 + 8, 5) && !memcmp(a + l4 + 14, b + l4 + 14, 2) &&
	       !memcmp(a + l4 + 20, b + l4 + 20, s->thl - 20u);
}

static void run_start(struct run *r, unsigned at, const uint8_t *f, const struct seg *s)
{
	*r = (struct run){ .at = at, .f = f, .s = *s, .next_seq = s->seq + s->plen,
	                   .ip_len = (uint32_t)s->thl + s->plen + (s->ipv == 4 ? 20u : 0u),
	                   .last_id = s->ipv == 4 ? ol_get16(f + s->l3 + 4) : 0, .nseg = 1,
	                   .open = true, .ended = (s->tflags & G_TCP_PSH) != 0 };
}

/* Appends frame b's payload to run r's frame p. */
static void run_add(struct run *r, struct pkt *p, const uint8_t *b, const struct seg *s)
{
	p->seg[p->nseg].iov_base = (uint8_t *)b + s->l4 + s->thl;
	p->seg[p->nseg].iov_len = s->plen;
	p->nseg++;
	p->len += s->plen;
	r->nseg++;
	r->next_seq += s->plen;
	r->ip_len += s->plen;
	if (s->ipv == 4)
		r->last_id = ol_get16(b + s->l3 + 4);
	if (s->plen < r->s.plen || (s->tflags & G_TCP_PSH)) {
		r->ended = true;
		r->psh = (s->tflags & G_TCP_PSH) != 0;
	}
}

/* Makes run r's first frame p the merged one: lengths, flags, checksums
 * and its offload metadata. */
static void run_close(struct run *r, struct pkt *p)
{
	uint8_t *f = p->seg[0].iov_base;
	uint32_t l3 = r->s.l3, l4 = r->s.l4, sum;

	r->open = false;
	if (r->nseg == 1) {
		if (r->s.ok)
			p->ol.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		return;
	}
	if (r->s.ipv == 4) {
		ol_put16(f + l3 + 2, (uint16_t)r->ip_len);
		ol_put16(f + l3 + 10, 0);
		ol_put_csum(f + l3 + 10, ol_csum_fold(ol_csum_partial(f + l3, 20, 0)));
		sum = ol_csum_partial(f + l3 + 12, 8, 0);
	} else {
		ol_put16(f + l3 + 4, (uint16_t)r->ip_len);
		sum = ol_csum_partial(f + l3 + 8, 32, 0);
	}
	if (r->psh)
		f[l4 + 13] |= G_TCP_PSH;
	/* The pseudo-header's sum, not complemented, where the checksum goes:
	 * what NEEDS_CSUM asks of a frame (the receiver adds the rest). */
	sum = ol_csum_add(sum, ol_be16(6));
	sum = ol_csum_add(sum, ol_be16((uint16_t)(p->len - l4)));
	ol_put_csum(f + l4 + 16, (uint16_t)~ol_csum_fold(sum));
	p->ol = (struct pkt_ol){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = r->s.ipv == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
		.hdr_len = (uint16_t)(l4 + r->s.thl),
		.gso_size = (uint16_t)r->s.plen,
		.csum_start = (uint16_t)l4,
		.csum_offset = 16,
	};
}

/* Moves the frame at from to to (to < from): the fields a kernel port's
 * frame has, and its segments. */
static inline void pkt_move(struct pkt *to, const struct pkt *from)
{
	to->len = from->len;
	to->nseg = from->nseg;
	to->id = from->id;
	to->ol = from->ol;
	to->rem = from->rem;
	memcpy(to->seg, from->seg, from->nseg * sizeof(from->seg[0]));
}

unsigned ol_gro(struct pkt *pkts, unsigned n, unsigned *merged)
{
	struct run runs[OL_GRO_FLOWS];
	unsigned out = 0, victim = 0, nmerged = 0;

	for (unsigned k = 0; k < OL_GRO_FLOWS; k++)
		runs[k].open = false;
	for (unsigned i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];
		const uint8_t *f = p->seg[0].iov_base;
		struct seg s;
		struct run *r = NULL, *fr = NULL;

		if (p->nseg != 1 || p->seg[0].iov_len != p->len || p->ol.flags || p->ol.gso_type ||
		    !parse(f, p->len, &s)) {
			if (out != i)
				pkt_move(&pkts[out], p);
			out++;
			continue;
		}
		for (unsigned k = 0; k < OL_GRO_FLOWS; k++) {
			if (!runs[k].open) {
				fr = fr ? fr : &runs[k];
			} else if (same_conn(runs[k].f, &runs[k].s, f, &s)) {
				r = &runs[k];
				break;
			}
		}
		if (r && joins(r, f, &s)) {
			run_add(r, &pkts[r->at], f, &s);
			nmerged++;
			continue;
		}
		if (r) {
			run_close(r, &pkts[r->at]);
			fr = r;
		}
		if (out != i)
			pkt_move(&pkts[out], p);
		if (!s.ok || s.plen < OL_TCP_MIN_MSS) {
			/* Verified, but too small to be the segment size
			 * (ol_parse's minimum): passed on alone. */
			if (s.ok)
				pkts[out].ol.flags = VIRTIO_NET_HDR_F_DATA_VALID;
			out++;
			continue;
		}
		if (!fr) {
			fr = &runs[victim];
			victim = (victim + 1) % OL_GRO_FLOWS;
			run_close(fr, &pkts[fr->at]);
		}
		run_start(fr, out, f, &s);
		out++;
	}
	for (unsigned k = 0; k < OL_GRO_FLOWS; k++)
		if (runs[k].open)
			run_close(&runs[k], &pkts[runs[k].at]);
	if (merged)
		*merged = nmerged;
	return out;
}
