/* dp_policy.h - per-port switch policy applied by the workers (inline):
 * 802.1Q ingress classification, anti-spoofing, egress admission and the
 * egress tag. Order on every frame (DESIGN.md "Policy order"): validate ->
 * anti-spoofing -> VLAN -> MAC lookup (learn source) -> isolation -> egress.
 *
 * A port is either an access port (cfg.tag = its VLAN 1..4094: untagged
 * frames belong to it, tagged ones other than priority tags are dropped,
 * egress is untagged) or a trunk (cfg.tag = 0: tagged frames of allowed
 * VLANs keep their VLAN, untagged and priority-tagged frames belong to the
 * native VLAN, egress is untagged for the native VLAN and tagged for the
 * others). The default port is a trunk of every VLAN with native VLAN 0,
 * i.e. a plain learning bridge port.
 *
 * Security model: everything here reads the private copy of the frame's
 * first DP_PREFIX bytes (struct dp_meta.prefix), never guest memory, and
 * checks the length before each header it reads. What a guest can lie
 * about: every field; the worst it gets is a drop counted against its own
 * port. */
#ifndef VIFD_DP_POLICY_H
#define VIFD_DP_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dp.h"

/* Frame bytes the worker copies privately for classification (and writes
 * to the receiver from that copy): enough for a tagged NDP target. */
enum { DP_PREFIX = 96 };

enum {
	ETH_P_8021Q_ = 0x8100,
	ETH_P_ARP_ = 0x0806,
	ETH_P_IPV6_ = 0x86dd,
	IPPROTO_ICMPV6_ = 58,
	ND_NEIGHBOR_SOLICIT_ = 135,
	ND_NEIGHBOR_ADVERT_ = 136,
};

enum dp_verdict {
	DP_PASS = 0,
	DP_DROP_VLAN,   /* VLAN not allowed on the port, or a bad tag */
	DP_DROP_SPOOF,  /* source MAC not the one bound to the port */
};

static inline bool ip4_bound(const struct dp_port_cfg *c, const uint8_t *a)
{
	for (unsigned i = 0; i < c->nip4; i++)
		if (!memcmp(c->ip4[i], a, 4))
			return true;
	return false;
}

static inline bool ip6_bound(const struct dp_port_cfg *c, const uint8_t *a)
{
	for (unsigned i = 0; i < c->nip6; i++)
		if (!memcmp(c->ip6[i], a, 16))
			return true;
	return false;
}

/* Address binding (cfg nip4/nip6): an ARP whose sender address, or an NDP
 * neighbour solicitation whose source / advertisement whose target, is not
 * bound to the port is spoofed. Duplicate address detection (sender or
 * source unspecified) passes. l3 is the offset of the ethertype's payload
 * in prefix (14, or 18 after a tag); plen the bytes of prefix that hold
 * frame data. A frame too short to show what it claims is dropped too. */
static inline enum dp_verdict dp_ip_check(const struct dp_port_cfg *c, const uint8_t *p,
                                          uint32_t plen, uint32_t l3, uint16_t type)
{
	static const uint8_t zero[16];

	if (type == ETH_P_ARP_ && c->nip4) {
		/* htype 2, ptype 2, hlen 1, plen 1, oper 2, sha 6, spa 4, ... */
		if (plen < l3 + 28 || p[l3 + 2] != 0x08 || p[l3 + 3] != 0x00 || p[l3 + 5] != 4)
			return DP_DROP_SPOOF;
		if (memcmp(p + l3 + 14, zero, 4) && !ip4_bound(c, p + l3 + 14))
			return DP_DROP_SPOOF;
		if (c->mac_bound && memcmp(p + l3 + 8, c->mac, 6))
			return DP_DROP_SPOOF;
	} else if (type == ETH_P_IPV6_ && c->nip6 && plen >= l3 + 41 &&
	           p[l3 + 6] == IPPROTO_ICMPV6_) {
		uint8_t t = p[l3 + 40];
		if (t == ND_NEIGHBOR_SOLICIT_) {
			const uint8_t *src = p + l3 + 8;
			if (memcmp(src, zero, 16) && !ip6_bound(c, src))
				return DP_DROP_SPOOF;
		} else if (t == ND_NEIGHBOR_ADVERT_) {
			/* ICMPv6 header 4, flags 4, then the target */
			if (plen < l3 + 40 + 8 + 16 || !ip6_bound(c, p + l3 + 48))
				return DP_DROP_SPOOF;
		}
	}
	return DP_PASS;
}

static inline bool dp_vlan_allowed(const struct dp_port_cfg *c, uint16_t vlan)
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

/* Ingress: classifies a frame (prefix holds min(len, DP_PREFIX) bytes, len
 * >= 14 checked by the caller) into *vlan, *pcp and whether it carried a
 * tag. */
static inline enum dp_verdict dp_ingress(const struct dp_port_cfg *c, const uint8_t *prefix,
                                         uint32_t len, uint16_t *vlan, uint8_t *pcp,
                                         bool *tagged)
{
	uint16_t type = (uint16_t)(prefix[12] << 8 | prefix[13]);
	uint16_t vid = 0;

	*pcp = 0;
	*tagged = false;
	if (type == ETH_P_8021Q_) {
		uint16_t tci;
		if (len < 18)
			return DP_DROP_VLAN;
		tci = (uint16_t)(prefix[14] << 8 | prefix[15]);
		vid = tci & 0xfff;
		*pcp = (uint8_t)(tci >> 13);
		*tagged = true;
		if (vid == 0xfff)
			return DP_DROP_VLAN; /* reserved */
	}
	if (c->mac_bound && memcmp(prefix + 6, c->mac, 6))
		return DP_DROP_SPOOF;
	if (c->nip4 || c->nip6) {
		uint32_t l3 = *tagged ? 18 : 14;
		uint16_t inner = *tagged ? (uint16_t)(prefix[16] << 8 | prefix[17]) : type;
		if (dp_ip_check(c, prefix, len < DP_PREFIX ? len : DP_PREFIX, l3, inner))
			return DP_DROP_SPOOF;
	}
	if (vid == 0) {
		/* untagged or priority-tagged */
		*vlan = c->tag ? c->tag : c->native;
		return DP_PASS;
	}
	if (c->tag || !dp_vlan_allowed(c, vid))
		return DP_DROP_VLAN;
	*vlan = vid;
	return DP_PASS;
}

/* Egress: whether a frame of vlan may leave through a port with cfg c, and
 * the 802.1Q TCI to put on it (0: leave it untagged). */
static inline bool dp_egress(const struct dp_port_cfg *c, uint16_t vlan, uint8_t pcp,
                             uint16_t *tci)
{
	if (!dp_vlan_allowed(c, vlan))
		return false;
	*tci = (c->tag || vlan == c->native) ? 0 : (uint16_t)(pcp << 13 | vlan);
	return true;
}

#endif
