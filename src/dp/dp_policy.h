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

enum {
	ETH_P_8021Q_ = 0x8100,
	DP_VLAN_NONE = 0xffff,
};

enum dp_verdict {
	DP_PASS = 0,
	DP_DROP_VLAN,   /* VLAN not allowed on the port, or a bad tag */
	DP_DROP_SPOOF,  /* source MAC not the one bound to the port */
};

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
