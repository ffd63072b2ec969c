/* sw_policy.h - a port's switch policy and how the workers apply it
 * (inline): 802.1Q ingress classification, anti-spoofing (MAC and address
 * binding), egress admission and the egress tag; isolation and the MAC
 * limit are read by the datapath beside the MAC table (fdb.h). Order on
 * every frame (DESIGN.md "Policy order"): validate -> anti-spoofing ->
 * VLAN -> MAC lookup (learn source) -> isolation -> egress.
 *
 * A port is either an access port (tag = its VLAN 1..4094: untagged
 * frames belong to it, tagged ones other than priority tags are dropped,
 * egress is untagged) or a trunk (tag = 0: tagged frames of allowed VLANs
 * keep their VLAN, untagged and priority-tagged frames belong to the
 * native VLAN, egress is untagged for the native VLAN and tagged for the
 * others). The zeroed policy is a trunk of every VLAN with native VLAN 0,
 * nothing bound, not isolated: a plain learning-bridge port.
 *
 * Security model: everything here reads a private copy of the frame's
 * first bytes (the caller's), never guest memory, and checks the length
 * before each header it reads. What a guest can lie about: every field;
 * the worst it gets is a drop counted against its own port. */
#ifndef VIFD_SW_POLICY_H
#define VIFD_SW_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum { SW_MAX_BOUND_IP = 8 };

/* The fields of struct sw_policy, as a list so that a bigger structure
 * (struct dp_port_cfg) can hold them both by name and as one struct. */
#define SW_POLICY_FIELDS \
	uint16_t tag;             /* access port VLAN 1..4094; 0: trunk */ \
	uint16_t native;          /* trunk: VLAN of untagged frames (0..4094) */ \
	bool trunks_set;          /* trunk: only VLANs in `trunks` (+ native) */ \
	uint8_t trunks[512];      /* bitmap of VLAN ids 0..4095 */ \
	bool isolated;            /* reaches only non-isolated ports */ \
	bool mac_bound;           /* frames must come from `mac`; nothing learned */ \
	uint8_t mac[6]; \
	bool mac_auto;            /* bind to the first source MAC the guest uses \
	                           * (vhost-user never tells the backend the MAC in \
	                           * QEMU's virtio config); see dp_port_info */ \
	uint16_t mac_limit;       /* learned MACs at most (0: the bridge default) */ \
	/* Addresses the guest may claim in ARP (IPv4) and NDP (IPv6); with \
	 * none of a family bound, that family is not checked. */ \
	uint8_t nip4, nip6; \
	uint8_t ip4[SW_MAX_BOUND_IP][4]; \
	uint8_t ip6[SW_MAX_BOUND_IP][16];

struct sw_policy {
	SW_POLICY_FIELDS
};

enum {
	ETH_P_8021Q_ = 0x8100,
	ETH_P_ARP_ = 0x0806,
	ETH_P_IPV6_ = 0x86dd,
	IPPROTO_ICMPV6_ = 58,
	ND_NEIGHBOR_SOLICIT_ = 135,
	ND_NEIGHBOR_ADVERT_ = 136,
};

enum sw_verdict {
	SW_PASS = 0,
	SW_DROP_VLAN,   /* VLAN not allowed on the port, or a bad tag */
	SW_DROP_SPOOF,  /* source MAC not the one bound to the port */
};

static inline bool sw_ip4_bound(const struct sw_policy *c, const uint8_t *a)
{
	for (unsigned i = 0; i < c->nip4; i++)
		if (!memcmp(c->ip4[i], a, 4))
			return true;
	return false;
}

static inline bool sw_ip6_bound(const struct sw_policy *c, const uint8_t *a)
{
	for (unsigned i = 0; i < c->nip6; i++)
		if (!memcmp(c->ip6[i], a, 16))
			return true;
	return false;
}

/* Address binding (nip4/nip6): an ARP whose sender address, or an NDP
 * neighbour solicitation whose source / advertisement whose target, is not
 * bound to the port is spoofed. Duplicate address detection (sender or
 * source unspecified) passes. l3 is the offset of the ethertype's payload
 * in prefix (14, or 18 after a tag); plen the bytes of prefix that hold
 * frame data. A frame too short to show what it claims is dropped too. */
static inline enum sw_verdict sw_ip_check(const struct sw_policy *c, const uint8_t *p,
                                          uint32_t plen, uint32_t l3, uint16_t type)
{
	static const uint8_t zero[16];

	if (type == ETH_P_ARP_ && c->nip4) {
		/* htype 2, ptype 2, hlen 1, plen 1, oper 2, sha 6, spa 4, ... */
		if (plen < l3 + 28 || p[l3 + 2] != 0x08 || p[l3 + 3] != 0x00 || p[l3 + 5] != 4)
			return SW_DROP_SPOOF;
		if (memcmp(p + l3 + 14, zero, 4) && !sw_ip4_bound(c, p + l3 + 14))
			return SW_DROP_SPOOF;
		if (c->mac_bound && memcmp(p + l3 + 8, c->mac, 6))
			return SW_DROP_SPOOF;
	} else if (type == ETH_P_IPV6_ && c->nip6 && plen >= l3 + 41 &&
	           p[l3 + 6] == IPPROTO_ICMPV6_) {
		uint8_t t = p[l3 + 40];
		if (t == ND_NEIGHBOR_SOLICIT_) {
			const uint8_t *src = p + l3 + 8;
			if (memcmp(src, zero, 16) && !sw_ip6_bound(c, src))
				return SW_DROP_SPOOF;
		} else if (t == ND_NEIGHBOR_ADVERT_) {
			/* ICMPv6 header 4, flags 4, then the target */
			if (plen < l3 + 40 + 8 + 16 || !sw_ip6_bound(c, p + l3 + 48))
				return SW_DROP_SPOOF;
		}
	}
	return SW_PASS;
}

static inline bool sw_vlan_allowed(const struct sw_policy *c, uint16_t vlan)
{
	if (c->tag)
		return vlan == c->tag;
	if (vlan == c->native)
		return true;
	if (vlan == 0)
		return false; /* VLAN 0 is only ever a native (untagged) VLAN */
	if (!c->trunks_set)
		return true;
	return c->trunks[vlan >> 3] & (1u << (vlan & 7));
}

/* Ingress: classifies a frame (prefix holds min(len, plen) of its bytes,
 * plen >= 18; len >= 14 checked by the caller) into *vlan, *pcp and
 * whether it carried a tag. */
static inline enum sw_verdict sw_ingress(const struct sw_policy *c, const uint8_t *prefix,
                                         uint32_t len, uint32_t plen, uint16_t *vlan, uint8_t *pcp,
                                         bool *tagged)
{
	uint16_t type = (uint16_t)(prefix[12] << 8 | prefix[13]);
	uint16_t vid = 0;

	*pcp = 0;
	*tagged = false;
	if (type == ETH_P_8021Q_) {
		uint16_t tci;
		if (len < 18)
			return SW_DROP_VLAN;
		tci = (uint16_t)(prefix[14] << 8 | prefix[15]);
		vid = tci & 0xfff;
		*pcp = (uint8_t)(tci >> 13);
		*tagged = true;
		if (vid == 0xfff)
			return SW_DROP_VLAN; /* reserved */
	}
	if (c->mac_bound && memcmp(prefix + 6, c->mac, 6))
		return SW_DROP_SPOOF;
	if (c->nip4 || c->nip6) {
		uint32_t l3 = *tagged ? 18 : 14;
		uint16_t inner = *tagged ? (uint16_t)(prefix[16] << 8 | prefix[17]) : type;
		if (sw_ip_check(c, prefix, len < plen ? len : plen, l3, inner))
			return SW_DROP_SPOOF;
	}
	if (vid == 0) {
		/* untagged or priority-tagged */
		*vlan = c->tag ? c->tag : c->native;
		return SW_PASS;
	}
	if (c->tag || !sw_vlan_allowed(c, vid))
		return SW_DROP_VLAN;
	*vlan = vid;
	return SW_PASS;
}

/* Egress: whether a frame of vlan may leave through a port with policy c, and
 * the 802.1Q TCI to put on it (0: leave it untagged). */
static inline bool sw_egress(const struct sw_policy *c, uint16_t vlan, uint8_t pcp,
                             uint16_t *tci)
{
	if (!sw_vlan_allowed(c, vlan))
		return false;
	*tci = (c->tag || vlan == c->native) ? 0 : (uint16_t)(pcp << 13 | vlan);
	return true;
}

/* Whether two policies switch alike (same VLANs, bindings, isolation and
 * MAC limit): then a port's MAC table entries and bindings may stay. */
static inline bool sw_policy_same(const struct sw_policy *a, const struct sw_policy *b)
{
	return a->tag == b->tag && a->native == b->native && a->trunks_set == b->trunks_set &&
	       !memcmp(a->trunks, b->trunks, sizeof(a->trunks)) && a->isolated == b->isolated &&
	       a->mac_bound == b->mac_bound && !memcmp(a->mac, b->mac, sizeof(a->mac)) &&
	       a->mac_auto == b->mac_auto && a->mac_limit == b->mac_limit &&
	       a->nip4 == b->nip4 && a->nip6 == b->nip6 &&
	       !memcmp(a->ip4, b->ip4, sizeof(a->ip4)) && !memcmp(a->ip6, b->ip6, sizeof(a->ip6));
}

#endif
