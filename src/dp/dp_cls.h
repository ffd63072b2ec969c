/* dp_cls.h - the switch's decisions on one frame, shared by the datapath
 * (dp_switch.c, per frame of a burst) and by vifctl trace (dp_trace.c, on
 * a described frame), so that trace cannot say anything the datapath would
 * not do. Each helper takes `trace`: a constant at every call site, so the
 * datapath's inlined copy has no extra branch; with trace set nothing is
 * written (no CAS on the auto MAC, no learning).
 *
 * Datapath: worker threads; trace: the control thread, on its own
 * published snapshot (dp->conf). */
#ifndef VIFD_DP_CLS_H
#define VIFD_DP_CLS_H

#include "dp_impl.h"
#include "iovc.h"

/* Why a frame is dropped at classification; names are the stats' drop
 * keys (dp.h DP_WORKER_COUNTERS). */
enum dp_drop {
	DROP_NONE = -1,
	DROP_VLAN, DROP_SPOOF, DROP_MAC_LIMIT, DROP_UNKNOWN, DROP_ISOLATION, DROP_OFFLOAD,
	DROP__N,
	/* Not in the per-burst array: counted where they happen. */
	DROP_INVALID = DROP__N, DROP_HAIRPIN, DROP_DOWN,
};

/* mac=auto: the first source MAC a port uses becomes its binding; later
 * frames must come from it. The control thread adds the static entry.
 * With trace: whether the frame would pass (nothing is bound). */
static inline bool dp_auto_mac_ok(struct dp_port *p, uint64_t smac, bool trace)
{
	uint64_t want = 1ull << 63 | smac;
	uint64_t cur = atomic_load_explicit(&p->auto_mac, memory_order_relaxed);

	if (cur == 0 && (trace || atomic_compare_exchange_strong(&p->auto_mac, &cur, want)))
		return true;
	return cur == want;
}

/* Ingress of frame m (its private head filled, len >= 14) from port sp with
 * policy sc: a group source, the auto MAC, then sw_ingress (802.1Q, MAC and
 * address binding). Sets m->vlan, m->pcp, m->l2skip and *tagged; returns
 * DROP_NONE or the reason. */
static inline enum dp_drop dp_cls_ingress(struct dp_port *sp, const struct dp_port_cfg *sc,
                                          struct pkt *m, bool *tagged, bool trace)
{
	if (unlikely(m->head[6] & 1))
		return DROP_INVALID; /* a group address cannot be a source (802.3) */
	if (sc->mac_auto && !dp_auto_mac_ok(sp, sw_mac48(m->head + 6), trace))
		return DROP_SPOOF;
	switch (sw_ingress(&sc->sw, m->head, m->len, DP_PREFIX, &m->vlan, &m->pcp, tagged)) {
	case SW_DROP_VLAN:
		return DROP_VLAN;
	case SW_DROP_SPOOF:
		return DROP_SPOOF;
	case SW_PASS:
		break;
	}
	m->l2skip = *tagged ? 16 : 12;
	return DROP_NONE;
}

/* A frame asking for offloads (its virtio-net header: a checksum to
 * complete, segments to make) is hostile input like a descriptor: what it
 * asks must be what its port negotiated, and its headers must bear the
 * metadata out (src/offload ol_parse, on a private copy of them). Checked
 * once at ingress, so every destination gets a frame that holds, and a bad
 * one is counted against its sender. */
static inline bool dp_ol_valid(const struct port *src, const struct pkt *pk)
{
	struct ol_meta m = { pk->ol.flags, pk->ol.gso_type, pk->ol.hdr_len, pk->ol.gso_size,
	                     pk->ol.csum_start, pk->ol.csum_offset };
	uint8_t head[OL_MAX_HDR];
	struct ol_frame f;
	struct iovc s;
	size_t n;

	if (pkt_ol_needs(pk) & ~(src->ol_in | PKT_OL_VALID))
		return false;
	if (!(pk->ol.flags & PKT_F_NEEDS_CSUM) && pk->ol.gso_type == PKT_GSO_NONE)
		return true; /* DATA_VALID alone: nothing to check */
	iovc_init(&s, pk->seg, pk->nseg);
	n = iovc_get(&s, head, MIN(pk->len, (uint32_t)OL_MAX_HDR));
	return ol_parse(&m, head, (uint32_t)n, pk->len, &f) == 0;
}

/* What sw_fdb_learn's answer means for the frame. */
static inline enum dp_drop dp_cls_learned(int learn)
{
	switch (learn) {
	case SW_LEARN_LIMIT:
		return DROP_MAC_LIMIT;
	case SW_LEARN_STATIC:
		return DROP_SPOOF; /* a MAC bound to another port */
	default:
		return DROP_NONE;
	}
}

/* The same for sw_fdb_learn_peek's answer (trace). */
static inline enum dp_drop dp_cls_peeked(int peek)
{
	switch (peek) {
	case SW_PEEK_LIMIT:
		return dp_cls_learned(SW_LEARN_LIMIT);
	case SW_PEEK_STATIC:
		return dp_cls_learned(SW_LEARN_STATIC);
	default:
		return DROP_NONE;
	}
}

/* Destination of a unicast frame from sp (policy sc) whose MAC table
 * lookup gave p (-1: none): a port id, DP_DST_FLOOD, or -1 - the drop
 * reason (dp_dst_drop). */
enum { DP_DST_FLOOD = -1000 };
static inline int dp_cls_dst(const struct dp_conf *conf, const struct dp_port *sp,
                             const struct dp_port_cfg *sc, int p)
{
	if (p == (int)sp->id)
		return -1 - DROP_HAIRPIN;
	/* A known MAC whose port is down or being reconfigured: flooding
	 * would not reach it; counted there. */
	if (p >= 0 && (unsigned)p < conf->nports && !conf->ports[p].port)
		return -1 - DROP_DOWN;
	if (p < 0 || (unsigned)p >= conf->nports)
		return conf->unknown_drop ? -1 - DROP_UNKNOWN : DP_DST_FLOOD;
	if (sc->isolated && conf->ports[p].cfg->isolated)
		return -1 - DROP_ISOLATION;
	return p;
}

static inline enum dp_drop dp_dst_drop(int d)
{
	return (enum dp_drop)(-1 - d);
}

/* Flooding from sp (policy sc) to port p: 0 not at all (the source, or no
 * live port there), 1 only its unicast frames (isolation), 2 yes. */
static inline int dp_flood_to(const struct dp_conf *conf, const struct dp_port *sp,
                              const struct dp_port_cfg *sc, unsigned p)
{
	if (p == sp->id || !conf->ports[p].port)
		return 0;
	if (sc->isolated && conf->ports[p].cfg->isolated)
		return 1;
	return 2;
}

#endif
