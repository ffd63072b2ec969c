/* dp_switch.c - what a worker does with a burst a port driver received:
 * classify every frame with the learning bridge (pass 1), then hand each
 * destination the frames bound for it, once per burst (pass 2), through the
 * destination's egress policy and its driver's tx_burst.
 *
 * Pass 1 builds one frame mask per unicast destination and one mask of
 * frames to flood; pass 2 visits each unicast destination once, or, when
 * something is flooded, every live port once, with its unicast frames and
 * the flooded frames its VLANs and isolation let through, in frame order.
 *
 * Security model: classification reads only the packet's private head
 * (copied from the source once, here), never the source's memory again, and
 * checks the length before each header it reads (sw_policy.h); the
 * destination driver writes that same head, so what the switch decided on
 * is what the receiver gets. Everything else a frame carries is copied as
 * bytes. */
#include <string.h>

#include "dp_cap.h"
#include "dp_cls.h"
#include "iovc.h"

#define STAT_ADD(w, port, field, v) \
	atomic_fetch_add_explicit(&(w)->st[(port)].field, (v), memory_order_relaxed)


/* The port's egress limit, with its fair share, over the frames of mask
 * (uni: those that go to this port alone): returns the frames that pass;
 * the others are added to *rf. */
static inline uint32_t egress_admit(const struct dp_worker *w, const struct dp_conf_port *dcp,
                                    unsigned src_port, unsigned sw, uint32_t mask, uint32_t uni,
                                    const uint16_t *tcis, uint64_t qnow, struct port_refused *rf)
{
	struct dp_port *p = dcp->port;
	bool shared = w->dp->nworkers > 1;
	uint32_t share = 0, limit = 0;
	struct qos_batch bt;

	qos_lock(&p->qeg, shared);
	qos_begin(&dcp->qeg, &p->qeg, qnow, &bt);
	qos_fair_bucket_setup(&dcp->qeg, &p->eg_drr);
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		switch (qos_take_fair(&dcp->qeg, &bt, &p->eg_drr, src_port, sw,
		                      pkt_out_len(&w->burst[i], tcis[i]))) {
		case QOS_PASS:
			break;
		case QOS_OVER_LIMIT:
			limit |= 1u << i;
			break;
		case QOS_OVER_SHARE:
			share |= 1u << i;
			break;
		}
	}
	if (share & uni) {
		rf->wait |= share & uni;
		port_refused_ready(rf, qos_fair_bucket_ready(&dcp->qeg, &bt, true));
	}
	if ((limit & uni) && qos_drr_contended(&p->eg_drr, src_port, qnow)) {
		rf->wait |= limit & uni;
		port_refused_ready(rf, qos_fair_bucket_ready(&dcp->qeg, &bt, false));
	}
	qos_end(&p->qeg, &bt);
	qos_unlock(&p->qeg, shared);
	rf->share |= share;
	rf->limit |= limit;
	return mask & ~(share | limit);
}

/* Settles what a destination refused of a burst of n frames. The refused
 * frames at the end of the burst that may wait (rf->wait: they went to it
 * alone) stay in the source's ring if its driver can keep them (w->keep),
 * else are dropped; either way the source queue is held until rf->ready, so
 * that its next frames wait in its ring (or the kernel's queue) rather than
 * be taken and refused again. Every other refused frame is dropped before
 * the copy; returns the drops by reason in *congested, *policed, *noroom. */
static void settle(struct dp_worker *w, unsigned n, const struct port_refused *rf,
                   uint32_t *congested, uint32_t *policed, uint32_t *noroom)
{
	uint32_t all = n >= 32 ? ~0u : (1u << n) - 1;
	uint32_t brk = all & ~rf->wait, tail;

	/* The frames above the last one that may not wait. */
	tail = !rf->wait ? 0 : brk ? all & ~((2u << (31 - __builtin_clz(brk))) - 1) : all;
	if (tail) {
		if (!w->hold_on || qos_diff(rf->ready, w->hold) > 0)
			w->hold = rf->ready;
		w->hold_on = true;
		if (w->can_keep) {
			unsigned k = (unsigned)__builtin_popcount(tail);
			if (k > w->keep)
				w->keep = k;
		} else {
			tail = 0;
		}
	}
	*congested += (uint32_t)__builtin_popcount(rf->share & ~tail);
	*policed += (uint32_t)__builtin_popcount(rf->limit & ~tail);
	*noroom += (uint32_t)__builtin_popcount(rf->room & ~tail);
}

/* Sends the frames of mask (uni: those unicast to it) of a burst of n to
 * port dst: its VLANs decide each frame's tag (and drop frames of VLANs it
 * does not carry), then its egress limit with its fair share, then its
 * driver (the ring's fair share, room), on the queue chosen by the source
 * queue so a flow keeps its order; what the port refused is settled. */
static void deliver(struct dp_worker *w, const struct dp_conf *conf, unsigned dst,
                    const struct dp_conf_port *scp, unsigned src_q, unsigned n, uint32_t mask,
                    uint32_t uni, uint64_t qnow)
{
	const struct dp_conf_port *dcp = &conf->ports[dst];
	const struct dp_port_cfg *dc = dcp->cfg;
	struct port_txres res = { 0 };
	struct port_txctx ctx = { .src_port = scp->port->id, .weight = scp->weight,
	                          .limited = dcp->qeg.on, .qnow = qnow, .coal = &dcp->coal,
	                          .rem = w->rem, .scratch = w->scratch,
	                          .defer = w->defer && dcp->drv->ops->tx_commit };
	unsigned txq;
	uint16_t tcis[DP_BURST];
	uint32_t policed = 0, congested = 0;

	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		if (!sw_egress(&dc->sw, w->burst[i].vlan, w->burst[i].pcp, &tcis[i]))
			mask &= ~(1u << i);
	}
	if (!mask)
		return;
	if (dcp->ntxq == 0) {
		STAT_ADD(w, dst, drop_down, (uint64_t)__builtin_popcount(mask));
		return;
	}
	ctx.uni = uni &= mask;
	if (dcp->qeg.on)
		mask = egress_admit(w, dcp, ctx.src_port, ctx.weight, mask, uni, tcis, qnow, &res.rf);
	txq = dcp->txq[src_q % dcp->ntxq];
	if (mask)
		dcp->drv->ops->tx_burst(dcp->drv, txq, w->burst, mask, tcis, &ctx, &res);
	if (unlikely(dcp->cap_tx != NULL) && (mask & ~res.rf.room))
		dp_cap_tx(w, dcp->cap_tx, w->burst, mask & ~res.rf.room, tcis, dcp->drv->ol_out);
	if (res.commit && !w->commit_on[dst][txq]) {
		w->commit_on[dst][txq] = 1;
		w->commit[w->ncommit++] = (struct dp_commit){ (uint16_t)dst, (uint16_t)txq };
	}
	if (res.held)
		dp_pend_add(w, conf, dst, txq, qnow);
	if (res.calls)
		STAT_ADD(w, dst, tx_calls, res.calls);
	if (res.rf.share | res.rf.limit | res.rf.room)
		settle(w, n, &res.rf, &congested, &policed, &res.noroom);
	if (res.pkts) {
		dp_reply_sent(&w->reply, dst);
		STAT_ADD(w, dst, tx_pkts, res.pkts);
		STAT_ADD(w, dst, tx_bytes, res.bytes);
	}
	if (res.noroom)
		STAT_ADD(w, dst, drop_no_room, res.noroom);
	if (res.too_big)
		STAT_ADD(w, dst, drop_too_big, res.too_big);
	if (res.down)
		STAT_ADD(w, dst, drop_down, res.down);
	if (policed)
		STAT_ADD(w, dst, drop_egress_limit, policed);
	if (congested)
		STAT_ADD(w, dst, drop_congested, congested);
	if (res.broke)
		STAT_ADD(w, dst, ring_errors, 1);
	if (res.offload)
		STAT_ADD(w, scp->port->id, drop_offload, res.offload);
	if (res.gso)
		STAT_ADD(w, dst, tx_gso, res.gso);
	if (res.segmented)
		STAT_ADD(w, dst, tx_segmented, res.segmented);
}

/* Copies the frame's first bytes into its private head. */
static inline void head_copy(struct pkt *pk)
{
	uint32_t n = MIN(pk->len, (uint32_t)PKT_HEAD);

	if (likely(pk->seg[0].iov_len >= n)) {
		memcpy(pk->head, pk->seg[0].iov_base, n);
	} else {
		struct iovc s;

		iovc_init(&s, pk->seg, pk->nseg);
		iovc_get(&s, pk->head, n);
	}
}

void dp_commit(struct dp_worker *w, const struct dp_conf *conf, uint64_t qnow)
{
	for (unsigned i = 0; i < w->ncommit; i++) {
		unsigned dst = w->commit[i].port, q = w->commit[i].q;
		const struct dp_conf_port *dcp = &conf->ports[dst];
		struct port_txctx ctx = { .qnow = qnow, .coal = &dcp->coal };
		struct port_txres res = { 0 };

		w->commit_on[dst][q] = 0;
		dcp->drv->ops->tx_commit(dcp->drv, q, &ctx, &res);
		if (res.held)
			dp_pend_add(w, conf, dst, q, qnow);
		if (res.calls)
			STAT_ADD(w, dst, tx_calls, res.calls);
	}
	w->ncommit = 0;
}

void dp_switch_burst(struct dp_worker *w, const struct dp_conf *conf,
                     const struct dp_conf_port *scp, unsigned q, unsigned n, uint32_t now_s,
                     uint64_t qnow)
{
	struct dp_port *sp = scp->port;
	const struct dp_port_cfg *sc = scp->cfg;
	uint64_t rx_bytes = 0, invalid = 0, hairpin = 0, gso = 0, drops[DROP__N] = { 0 };
	uint16_t dsts[DP_BURST];
	uint32_t dmask[DP_BURST], flood = 0;
	unsigned ndst = 0;
	uint64_t learned = 0, looked = 0; /* fdb keys (never 0) asked this burst */
	int looked_port = -1, looked_rem = 0;
	uint8_t learned_rem = 0;

	/* Pass 1: classify on private copies: ingress policy, learn the
	 * source, look up the destination, isolation. */
	for (unsigned i = 0; i < n; i++) {
		struct pkt *m = &w->burst[i];
		uint64_t dmac, key;
		enum dp_drop drop;
		bool tagged;
		int p;
		unsigned j;

		w->rem[i] = 0;
		if (unlikely(m->len < 14)) {
			invalid++;
			continue;
		}
		rx_bytes += m->len;
		head_copy(m);
		drop = dp_cls_ingress(sp, sc, m, &tagged, false);
		if (unlikely(drop != DROP_NONE)) {
			if (drop == DROP_INVALID)
				invalid++;
			else
				drops[drop]++;
			continue;
		}
		if (unlikely(m->ol.flags | m->ol.gso_type)) {
			if (!dp_ol_valid(scp->drv, m)) {
				drops[DROP_OFFLOAD]++;
				continue;
			}
			gso += m->ol.gso_type != PKT_GSO_NONE;
		}
		/* A burst is mostly one flow: the table is asked once per
		 * source and destination that changes from the frame before
		 * (the answers are as of the burst, like the snapshot). */
		key = sw_fdb_key(m->vlan, sw_mac48(m->head + 6));
		if (key != learned || unlikely(m->rem != learned_rem)) {
			drop = dp_cls_learned(sw_fdb_learn(w->dp->fdb, m->vlan,
			                                   sw_mac48(m->head + 6), sp->id, m->rem,
			                                   now_s));
			if (drop != DROP_NONE) {
				drops[drop]++;
				continue;
			}
			learned = key;
			learned_rem = m->rem;
		}
		if (m->head[0] & 1) {
			flood |= 1u << i; /* broadcast / multicast: flood in the VLAN */
			continue;
		}
		dmac = sw_mac48(m->head);
		key = sw_fdb_key(m->vlan, dmac);
		if (key != looked) {
			int where = sw_fdb_lookup(w->dp->fdb, m->vlan, dmac, now_s);

			looked = key;
			looked_port = where < 0 ? -1 : (int)sw_fdb_where_port(where);
			looked_rem = where < 0 ? 0 : (int)sw_fdb_where_rem(where);
		}
		p = dp_cls_dst(conf, sp, sc, looked_port);
		if (p == DP_DST_FLOOD) {
			flood |= 1u << i;
			continue;
		}
		if (p < 0) {
			drop = dp_dst_drop(p);
			if (drop == DROP_HAIRPIN)
				hairpin++;
			else if (drop == DROP_DOWN)
				STAT_ADD(w, looked_port, drop_down, 1);
			else
				drops[drop]++;
			continue;
		}
		w->rem[i] = (uint8_t)looked_rem;
		for (j = 0; j < ndst && dsts[j] != p; j++)
			;
		if (j == ndst) {
			dsts[ndst] = (uint16_t)p;
			dmask[ndst++] = 0;
		}
		dmask[j] |= 1u << i;
	}
	if (drops[DROP_VLAN])
		STAT_ADD(w, sp->id, drop_vlan, drops[DROP_VLAN]);
	if (drops[DROP_SPOOF])
		STAT_ADD(w, sp->id, drop_spoof, drops[DROP_SPOOF]);
	if (drops[DROP_MAC_LIMIT])
		STAT_ADD(w, sp->id, drop_mac_limit, drops[DROP_MAC_LIMIT]);
	if (drops[DROP_UNKNOWN])
		STAT_ADD(w, sp->id, drop_unknown, drops[DROP_UNKNOWN]);
	if (drops[DROP_ISOLATION])
		STAT_ADD(w, sp->id, drop_isolation, drops[DROP_ISOLATION]);
	if (drops[DROP_OFFLOAD])
		STAT_ADD(w, sp->id, drop_offload, drops[DROP_OFFLOAD]);
	if (invalid)
		STAT_ADD(w, sp->id, drop_invalid, invalid);
	if (hairpin)
		STAT_ADD(w, sp->id, drop_hairpin, hairpin);
	if (gso)
		STAT_ADD(w, sp->id, rx_gso, gso);

	/* Pass 2: each destination once. Without flooding, the unicast
	 * destinations in order of first appearance; with it, every other live
	 * port, with its unicast frames and the flooded frames it may get. */
	w->keep = 0;
	w->hold_on = false;
	if (!flood) {
		for (unsigned j = 0; j < ndst; j++)
			deliver(w, conf, dsts[j], scp, q, n, dmask[j], dmask[j], qnow);
	} else {
		for (unsigned p = 0; p < conf->nports; p++) {
			uint32_t mask = flood, uni = 0;
			int to = dp_flood_to(conf, sp, sc, p);

			if (!to)
				continue;
			if (to == 1)
				mask = 0;
			for (unsigned j = 0; j < ndst; j++)
				if (dsts[j] == p)
					uni = dmask[j];
			mask |= uni;
			if (mask)
				deliver(w, conf, p, scp, q, n, mask, uni, qnow);
		}
	}
	/* Frames left in the source's ring are counted (and captured) when
	 * they come again. */
	if (unlikely(scp->cap_rx != NULL))
		dp_cap_rx(w, scp->cap_rx, w->burst, n - w->keep);
	for (unsigned i = n - w->keep; i < n; i++)
		rx_bytes -= w->burst[i].len;
	STAT_ADD(w, sp->id, rx_pkts, n - w->keep);
	STAT_ADD(w, sp->id, rx_bytes, rx_bytes);
}
