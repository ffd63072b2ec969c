/* ol_parse.c - validation of a frame's offload metadata against its own
 * headers (ol.h has the contract and the security model).
 *
 * Every read is from head, the caller's private copy, and bounded by lim =
 * min(headlen, len): the guest cannot change what was checked. The checks
 * follow what Linux does for a virtio-net header (include/linux/
 * virtio_net.h virtio_net_hdr_to_skb, then the GSO code when it segments
 * a DODGY skb), made stricter where Linux would pass garbage on: Linux
 * never looks at the IP length fields, takes csum_start as the transport
 * header without checking it is the one the IP header points to, and
 * computes segment checksums from the guest's partial value. Here all of
 * those must agree with the frame, because the segmenter writes every
 * header from these findings. */
#include <netinet/in.h>

#include "ol.h"
#include "ol_impl.h"
#include "util.h"

enum {
	ETH_HLEN_ = 14,
	ETHERTYPE_IPV4 = 0x0800,
	ETHERTYPE_IPV6 = 0x86dd,
	ETHERTYPE_VLAN = 0x8100,
	ETHERTYPE_QINQ = 0x88a8,
	IPV4_MF = 0x2000,
	IPV4_OFFSET = 0x1fff,
	IPV6_HLEN = 40,
	NH_HOPOPTS = 0,
	NH_ROUTING = 43,
	NH_FRAGMENT = 44,
	NH_AH = 51,
	NH_DSTOPTS = 60,
	IPV6_OPT_PAD1 = 0,
	IPV6_OPT_HOME_ADDRESS = 0xc9,
	TCP_HLEN_MIN = 20,
	TCP_CSUM_OFF = 16,
	UDP_HLEN = 8,
	UDP_CSUM_OFF = 6,
	OL_FLAGS_KNOWN = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID,
};

static const char *const err_names[OL_ERR__COUNT] = {
	[OL_OK] = "ok",
	[OL_ERR_FLAGS] = "flags",
	[OL_ERR_GSO_TYPE] = "gso_type",
	[OL_ERR_GSO_SIZE] = "gso_size",
	[OL_ERR_CSUM] = "csum",
	[OL_ERR_HDR] = "hdr_len",
	[OL_ERR_LEN] = "len",
	[OL_ERR_L2] = "l2",
	[OL_ERR_IP] = "ip",
	[OL_ERR_IP_LEN] = "ip_len",
	[OL_ERR_IP_FRAG] = "ip_frag",
	[OL_ERR_IPV6_EXT] = "ipv6_ext",
	[OL_ERR_L4] = "l4",
};

const char *ol_err_str(int err)
{
	if (err < 0)
		err = -err;
	if (err >= OL_ERR__COUNT)
		return "?";
	return err_names[err];
}

/* The ethertype after at most OL_MAX_VLAN_TAGS tags; *l3 gets the end of
 * the last ethertype read. Returns the count of tags, or -1 if a further
 * tag follows or a tag is cut short (h holds at least ETH_HLEN_ bytes). */
static int parse_l2(const uint8_t *h, uint32_t lim, uint16_t *type, uint32_t *l3)
{
	uint32_t off = 12;
	int tags = 0;

	*type = ol_get16(h + off);
	while (*type == ETHERTYPE_VLAN || *type == ETHERTYPE_QINQ) {
		if (tags == OL_MAX_VLAN_TAGS || off + 4 + 2 > lim) {
			*l3 = off + 2;
			return -1;
		}
		off += 4;
		tags++;
		*type = ol_get16(h + off);
	}
	*l3 = off + 2;
	return tags;
}

/* Walks IPv6 extension headers from the one nh names at *off, up to the
 * transport header; stores its protocol in *proto. Hop-by-hop (first only)
 * and destination options are stepped over: neither changes the
 * pseudo-header, and both are copied into every segment as Linux does
 * (ipv6_gso_pull_exthdrs). A destination option "home address" (RFC 6275)
 * would change the pseudo-header's source, a routing header its
 * destination (RFC 8200 8.1): refused rather than guessed, like fragments
 * and AH. The loop ends: each step advances *off by at least 8 and *off
 * stays below lim <= OL_MAX_HDR. */
static int parse_ipv6_ext(const uint8_t *h, uint32_t lim, uint8_t nh, uint32_t *off,
                          uint8_t *proto)
{
	bool first = true;

	for (;;) {
		uint32_t elen, i;

		if (nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_AH)
			return -OL_ERR_IPV6_EXT;
		if (nh != NH_HOPOPTS && nh != NH_DSTOPTS)
			break;
		if (nh == NH_HOPOPTS && !first)
			return -OL_ERR_IPV6_EXT;
		if (*off + 8 > lim)
			return -OL_ERR_IPV6_EXT;
		elen = ((uint32_t)h[*off + 1] + 1) * 8;
		if (*off + elen > lim)
			return -OL_ERR_IPV6_EXT;
		if (nh == NH_DSTOPTS) {
			/* Options are TLVs from byte 2 (RFC 8200 4.2). */
			for (i = 2; i < elen;) {
				uint8_t t = h[*off + i];
				if (t == IPV6_OPT_PAD1) {
					i++;
					continue;
				}
				if (t == IPV6_OPT_HOME_ADDRESS)
					return -OL_ERR_IPV6_EXT;
				if (i + 1 >= elen)
					return -OL_ERR_IPV6_EXT;
				i += 2u + h[*off + i + 1];
			}
		}
		nh = h[*off];
		*off += elen;
		first = false;
	}
	*proto = nh;
	return 0;
}

/* The checksum-only and plain cases: only the L2 header is ours (the caller
 * may have rewritten it); the checksum is a generic Internet checksum from
 * csum_start to the end, whatever the protocol (VIRTIO 1.1 5.1.6.2). */
static int parse_csum(const struct ol_meta *m, uint32_t l3, struct ol_frame *f)
{
	f->hdr_len = (uint16_t)l3;
	f->pay_len = f->len - l3;
	if (!(m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		f->kind = OL_KIND_PLAIN;
		return 0;
	}
	/* Below l3 the bytes are the caller's rewritten L2 header; an odd
	 * offset cannot be any protocol's checksum field. */
	if (m->csum_start < l3 || (m->csum_offset & 1) ||
	    (uint32_t)m->csum_start + m->csum_offset + 2 > f->len)
		return -OL_ERR_CSUM;
	f->kind = OL_KIND_CSUM;
	f->csum_start = m->csum_start;
	f->csum_offset = m->csum_offset;
	return 0;
}

int ol_parse(const struct ol_meta *m, const uint8_t *head, uint32_t headlen, uint32_t len,
             struct ol_frame *f)
{
	uint32_t lim = MIN(headlen, len), l3, l4, l4h, ip_len, pay;
	uint8_t base = m->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	uint8_t want, proto;
	uint16_t type;
	uint32_t sum = 0;
	int tags, r;

	memset(f, 0, sizeof(*f));
	f->len = len;
	f->flags = m->flags;
	f->nseg = 1;
	if (m->flags & ~OL_FLAGS_KNOWN)
		return -OL_ERR_FLAGS;
	if (len < ETH_HLEN_ || len > OL_MAX_FRAME)
		return -OL_ERR_LEN;
	if (m->hdr_len > len)
		return -OL_ERR_HDR;
	if (lim < ETH_HLEN_)
		return -OL_ERR_HDR;
	tags = parse_l2(head, lim, &type, &l3);
	f->vlan_tags = (uint8_t)(tags < 0 ? OL_MAX_VLAN_TAGS : tags);
	f->l3_off = (uint16_t)l3;

	if (m->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return parse_csum(m, l3, f);

	/* Segmentation. The type first, from the metadata alone. */
	switch (base) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		want = IPPROTO_TCP;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		if (m->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return -OL_ERR_GSO_TYPE;
		want = IPPROTO_UDP;
		break;
	default:                /* GSO_UDP (UFO: IP fragmentation) and unknown */
		return -OL_ERR_GSO_TYPE;
	}
	if (m->gso_size == 0 || (want == IPPROTO_TCP && m->gso_size < OL_TCP_MIN_MSS))
		return -OL_ERR_GSO_SIZE;
	/* VIRTIO 1.1 5.1.6.2.1: a driver sending GSO sets NEEDS_CSUM. */
	if (!(m->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return -OL_ERR_CSUM;
	if (tags < 0)
		return -OL_ERR_L2;

	/* L3: the ethertype must be the gso type's IP version. */
	if (type == ETHERTYPE_IPV4 && base != VIRTIO_NET_HDR_GSO_TCPV6) {
		uint32_t ihl;

		if (l3 + 20 > lim)
			return l3 + 20 > len ? -OL_ERR_IP : -OL_ERR_HDR;
		if (head[l3] >> 4 != 4)
			return -OL_ERR_IP;
		ihl = (head[l3] & 15u) * 4;
		if (ihl < 20 || l3 + ihl > len)
			return -OL_ERR_IP;
		if (l3 + ihl > lim)
			return -OL_ERR_HDR;
		ip_len = ol_get16(head + l3 + 2);
		if (ip_len != len - l3)
			return -OL_ERR_IP_LEN;
		if (ol_get16(head + l3 + 6) & (IPV4_MF | IPV4_OFFSET))
			return -OL_ERR_IP_FRAG;
		proto = head[l3 + 9];
		l4 = l3 + ihl;
		f->ipv = 4;
		f->ip_hlen = (uint16_t)ihl;
		sum = ol_csum_partial(head + l3 + 12, 8, 0);
	} else if (type == ETHERTYPE_IPV6 && base != VIRTIO_NET_HDR_GSO_TCPV4) {
		if (l3 + IPV6_HLEN > lim)
			return l3 + IPV6_HLEN > len ? -OL_ERR_IP : -OL_ERR_HDR;
		if (head[l3] >> 4 != 6)
			return -OL_ERR_IP;
		ip_len = ol_get16(head + l3 + 4);
		if (ip_len != len - l3 - IPV6_HLEN)
			return -OL_ERR_IP_LEN;
		l4 = l3 + IPV6_HLEN;
		r = parse_ipv6_ext(head, lim, head[l3 + 6], &l4, &proto);
		if (r < 0)
			return r;
		f->ipv = 6;
		f->ip_hlen = IPV6_HLEN;
		sum = ol_csum_partial(head + l3 + 8, 32, 0);
	} else {
		return -OL_ERR_GSO_TYPE;
	}
	if (proto != want)
		return -OL_ERR_GSO_TYPE;

	/* The checksum fields must name this transport header's checksum: the
	 * destination of an unsegmented copy relies on them, and Linux
	 * refuses a mismatch (tcp_gso_segment, __udp_gso_segment). */
	if (m->csum_start != l4 ||
	    m->csum_offset != (want == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF))
		return -OL_ERR_CSUM;

	/* L4. */
	if (want == IPPROTO_TCP) {
		if (l4 + TCP_HLEN_MIN > len)
			return -OL_ERR_L4;
		if (l4 + TCP_HLEN_MIN > lim)
			return -OL_ERR_HDR;
		l4h = (head[l4 + 12] >> 4) * 4u;
		if (l4h < TCP_HLEN_MIN || l4 + l4h > len)
			return -OL_ERR_L4;
	} else {
		if (l4 + UDP_HLEN > len)
			return -OL_ERR_L4;
		if (l4 + UDP_HLEN > lim)
			return -OL_ERR_HDR;
		l4h = UDP_HLEN;
		if (ol_get16(head + l4 + 4) != len - l4)
			return -OL_ERR_L4;
	}
	if (l4 + l4h > lim || l4 + l4h > OL_MAX_HDR)
		return -OL_ERR_HDR;

	pay = len - (l4 + l4h);
	f->kind = want == IPPROTO_TCP ? OL_KIND_TCP : OL_KIND_UDP;
	f->hdr_len = (uint16_t)(l4 + l4h);
	f->l4_off = (uint16_t)l4;
	f->l4_hlen = (uint16_t)l4h;
	f->pay_len = pay;
	f->mss = m->gso_size;
	f->csum_start = (uint16_t)l4;
	f->csum_offset = m->csum_offset;
	f->nseg = (uint16_t)(pay <= m->gso_size ? 1 : (pay + m->gso_size - 1) / m->gso_size);
	if (want == IPPROTO_UDP && f->nseg > OL_UDP_MAX_SEGS)
		return -OL_ERR_GSO_SIZE;
	f->pseudo = ol_csum_add(sum, ol_be16(want));
	return 0;
}
