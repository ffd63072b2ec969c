/* dp_trace.c - vifctl trace: what the switch would do with a described
 * frame arriving on a port, decision by decision, without doing any of it.
 * Every decision is made by the helpers the datapath itself calls (dp_cls.h,
 * sw_policy.h sw_egress, fdb.h sw_fdb_lookup; learning through
 * sw_fdb_learn_peek, its read-only mirror) on the snapshot the workers use
 * now, so a trace cannot drift from what a real frame meets. Nothing is
 * learned, counted, consumed from a rate limit or sent.
 *
 * Control thread only (it reads its own published snapshot). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dp_cls.h"

static const char *const drop_names[] = {
	[DROP_VLAN] = "vlan", [DROP_SPOOF] = "spoof", [DROP_MAC_LIMIT] = "mac_limit",
	[DROP_UNKNOWN] = "unknown_dst", [DROP_ISOLATION] = "isolation",
	[DROP_OFFLOAD] = "offload", [DROP_INVALID] = "invalid", [DROP_HAIRPIN] = "hairpin",
	[DROP_DOWN] = "down",
};

static void step(struct dp_trace *t, const char *stage, const char *port, const char *result,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void step(struct dp_trace *t, const char *stage, const char *port, const char *result,
                 const char *fmt, ...)
{
	struct dp_trace_step *s;
	va_list ap;

	if (t->nsteps >= DP_TRACE_STEPS)
		return;
	s = &t->step[t->nsteps++];
	s->stage = stage;
	s->result = result;
	snprintf(s->port, sizeof(s->port), "%s", port);
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
}

static void mac_str(const uint8_t *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void limit_str(const struct qos_limit *l, char *buf, size_t len)
{
	int n = 0;

	buf[0] = 0;
	if (l->bps && l->burst)
		n += snprintf(buf + n, len - (size_t)n, "rate %" PRIu64 " bit/s burst %" PRIu64 " B",
		              l->bps, l->burst);
	else if (l->bps)
		n += snprintf(buf + n, len - (size_t)n, "rate %" PRIu64 " bit/s (default burst)",
		              l->bps);
	if (l->pps && l->pburst && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%s%" PRIu64 " pps burst %" PRIu64, n ? ", " : "",
		         l->pps, l->pburst);
	else if (l->pps && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%s%" PRIu64 " pps (default burst)", n ? ", " : "",
		         l->pps);
}

static void vlan_mode(const struct dp_port_cfg *c, char *buf, size_t len)
{
	if (c->tag)
		snprintf(buf, len, "access port of VLAN %u", c->tag);
	else
		snprintf(buf, len, "trunk (native VLAN %u, %s)", c->native,
		         c->trunks_set ? "listed VLANs" : "every VLAN");
}

static const char *drop_at(struct dp_trace *t, enum dp_drop d)
{
	t->drop = drop_names[d];
	return "drop";
}

/* Ingress: the port, its limit, its policy. Returns the drop or DROP_NONE. */
static enum dp_drop trace_ingress(struct dp_trace *t, const struct dp_conf *conf,
                                  struct dp_port *sp, struct pkt *m)
{
	const struct dp_port_cfg *c = sp->cfg;
	char buf[128], mac[18];
	enum dp_drop d;
	bool tagged = false;

	if (!conf->ports[sp->id].port)
		step(t, "port", sp->name, "note",
		     "not live (no guest connected, or no queue up): no frame would arrive now; "
		     "traced as if one did");
	if (c->ingress.bps || c->ingress.pps) {
		limit_str(&c->ingress, buf, sizeof(buf));
		step(t, "ingress-limit", sp->name, "configured",
		     "%s: frames over it wait in the sender's queue (not consumed by trace)", buf);
	}
	d = dp_cls_ingress(sp, c, m, &tagged, true);
	vlan_mode(c, buf, sizeof(buf));
	if (d == DROP_INVALID) {
		step(t, "ingress", sp->name, drop_at(t, d), "source MAC is a group address");
		return d;
	}
	if (c->mac_auto && d == DROP_SPOOF && !c->mac_bound) {
		uint64_t am = atomic_load(&sp->auto_mac);
		uint8_t b[6];

		for (int i = 0; i < 6; i++)
			b[i] = (uint8_t)(am >> (40 - 8 * i));
		mac_str(b, mac);
		step(t, "mac-binding", sp->name, drop_at(t, d), "mac=auto bound to %s", mac);
		return d;
	}
	if (d == DROP_VLAN) {
		step(t, "vlan", sp->name, drop_at(t, d), "%s: %s frame refused", buf,
		     m->head[12] == 0x81 && m->head[13] == 0 ? "tagged" : "untagged");
		return d;
	}
	if (d == DROP_SPOOF) {
		if (c->mac_bound && memcmp(m->head + 6, c->mac, 6)) {
			mac_str(c->mac, mac);
			step(t, "mac-binding", sp->name, drop_at(t, d), "source MAC is not %s", mac);
		} else {
			step(t, "ip-binding", sp->name, drop_at(t, d),
			     "ARP/NDP claims an address not bound to the port (%u IPv4, %u IPv6 bound)",
			     c->nip4, c->nip6);
		}
		return d;
	}
	step(t, "vlan", sp->name, "pass", "%s: %s frame -> VLAN %u", buf,
	     tagged ? "tagged" : "untagged", m->vlan);
	if (c->mac_bound) {
		mac_str(c->mac, mac);
		step(t, "mac-binding", sp->name, "pass", "source MAC is the bound %s", mac);
	} else if (c->mac_auto) {
		step(t, "mac-binding", sp->name, "pass",
		     atomic_load(&sp->auto_mac) ? "mac=auto: the bound MAC"
		                                : "mac=auto: this MAC would become the binding");
	}
	if (c->nip4 || c->nip6)
		step(t, "ip-binding", sp->name, "pass", "%u IPv4, %u IPv6 addresses bound: no false "
		     "claim in ARP/NDP", c->nip4, c->nip6);
	return DROP_NONE;
}

static const char *port_name(struct dp *dp, unsigned id)
{
	return id < dp->nports && dp->ports[id] ? dp->ports[id]->name : "?";
}

/* Learning the source: what sw_fdb_learn would do. */
static enum dp_drop trace_learn(struct dp *dp, struct dp_trace *t, struct dp_port *sp,
                                const struct pkt *m, uint32_t now_s)
{
	static const char *const what[] = {
		[SW_PEEK_REFRESH] = "already on this port: refreshed",
		[SW_PEEK_INSERT] = "learned on this port",
		[SW_PEEK_MOVE] = "moves here from port ",
		[SW_PEEK_LIMIT] = "not learned: the port is at its MAC limit",
		[SW_PEEK_STATIC] = "the frame is spoofed: static on port ",
		[SW_PEEK_STATIC_SELF] = "static on this port",
		[SW_PEEK_FULL] = "not learned: no room in the table (frames to it are flooded)",
	};
	uint16_t other = 0;
	int r = sw_fdb_learn_peek(dp->fdb, m->vlan, sw_mac48(m->head + 6), sp->id, 0, now_s, &other);
	enum dp_drop d = dp_cls_peeked(r);
	char mac[18], text[DP_TRACE_TEXT];

	mac_str(m->head + 6, mac);
	snprintf(text, sizeof(text), "%s%s", what[r],
	         r == SW_PEEK_MOVE || r == SW_PEEK_STATIC ? port_name(dp, other) : "");
	step(t, "learn", sp->name, d == DROP_NONE ? "pass" : drop_at(t, d), "%s in VLAN %u: %s",
	     mac, m->vlan, text);
	return d;
}

/* One candidate destination: its egress decisions. */
static void trace_egress(struct dp_trace *t, const struct dp_conf *conf, unsigned p,
                         const struct pkt *m, bool uni)
{
	const struct dp_conf_port *dcp = &conf->ports[p];
	const char *name = dcp->port->name;
	uint32_t need = pkt_ol_needs(m);
	char buf[128];
	uint16_t tci;

	if (!sw_egress(&dcp->cfg->sw, m->vlan, m->pcp, &tci)) {
		vlan_mode(dcp->cfg, buf, sizeof(buf));
		step(t, "egress", name, "skip", "%s: does not carry VLAN %u", buf, m->vlan);
		if (uni)
			t->drop = "egress_vlan";
		return;
	}
	if (dcp->ntxq == 0) {
		step(t, "egress", name, "drop", "no live receive queue (guest not connected or "
		     "its rings not up): counted as drops.down on it");
		if (uni)
			t->drop = drop_names[DROP_DOWN];
		return;
	}
	if (dcp->cfg->egress.bps || dcp->cfg->egress.pps) {
		limit_str(&dcp->cfg->egress, buf, sizeof(buf));
		step(t, "egress-limit", name, "configured", "%s: frames over it are dropped "
		     "(drops.egress_limit; not consumed by trace)", buf);
	}
	if (need & ~dcp->drv->ol_out) {
		struct port_olx x;

		if (m->ol.gso_type != PKT_GSO_NONE && port_ol_prepare(m, tci, &x) == 0)
			step(t, "offload", name, "software", "the port does not take the frame's "
			     "segmentation: vifd cuts it into %u frames while copying", x.f.nseg);
		else
			step(t, "offload", name, "software", "the port does not take the frame's "
			     "offloads: vifd completes its checksum while copying");
	} else if (m->ol.gso_type != PKT_GSO_NONE) {
		step(t, "offload", name, "pass", "the port takes the frame whole with its "
		     "segmentation metadata");
	}
	if (tci)
		step(t, "egress", name, "output", "tagged VLAN %u, priority %u", tci & 0xfff, tci >> 13);
	else
		step(t, "egress", name, "output", "untagged (VLAN %u)", m->vlan);
	snprintf(t->out[t->nout].port, sizeof(t->out[t->nout].port), "%s", name);
	t->out[t->nout++].tci = tci;
}

/* The frame's offload request, in words. */
static void ol_str(const struct pkt *m, char *buf, size_t len)
{
	static const char *const gso[] = { [PKT_GSO_TCPV4] = "TCP/IPv4 segmentation",
	                                   [PKT_GSO_TCPV6] = "TCP/IPv6 segmentation",
	                                   [PKT_GSO_UDP_L4] = "UDP segmentation" };
	unsigned g = m->ol.gso_type & ~PKT_GSO_ECN;

	if (g != PKT_GSO_NONE)
		snprintf(buf, len, "%s (MSS %u)", g < ARRAY_SIZE(gso) && gso[g] ? gso[g] : "unknown gso",
		         m->ol.gso_size);
	else
		snprintf(buf, len, "checksum completion");
}

/* Offloads: what the frame asks must be what its port may ask
 * (dp_ol_valid, as at ingress in the datapath). */
static enum dp_drop trace_ol(struct dp_trace *t, struct dp_port *sp, const struct pkt *m)
{
	char what[64];

	if (!(m->ol.flags | m->ol.gso_type))
		return DROP_NONE;
	ol_str(m, what, sizeof(what));
	if (!sp->port || !dp_ol_valid(sp->port, m)) {
		step(t, "offload", sp->name, drop_at(t, DROP_OFFLOAD), "asks for %s: the port did not "
		     "negotiate it, or the headers do not bear the metadata out", what);
		return DROP_OFFLOAD;
	}
	step(t, "offload", sp->name, "pass", "asks for %s: the port may", what);
	return DROP_NONE;
}

int dp_trace(struct dp *dp, const char *port, const uint8_t *frame, uint32_t len,
             const struct pkt_ol *ol, struct dp_trace *t)
{
	const struct dp_conf *conf = atomic_load_explicit(&dp->conf, memory_order_acquire);
	uint32_t now_s = dp_now_s(dp, clk_now_ns());
	struct dp_port *sp = NULL;
	struct pkt *m;
	int d;

	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < dp->nports && !sp; i++)
		if (dp->ports[i] && !strcmp(dp->ports[i]->name, port))
			sp = dp->ports[i];
	if (!sp)
		return -ENOENT;
	if (len < 14)
		return -EINVAL;
	m = &t->pkt;
	m->len = len;
	m->nseg = 1;
	m->seg[0].iov_base = (void *)frame;
	m->seg[0].iov_len = len;
	memcpy(m->head, frame, MIN(len, (uint32_t)PKT_HEAD));
	if (ol)
		m->ol = *ol;

	if (trace_ingress(t, conf, sp, m) != DROP_NONE || trace_ol(t, sp, m) != DROP_NONE)
		goto out;
	t->vlan = m->vlan;
	t->pcp = m->pcp;
	if (trace_learn(dp, t, sp, m, now_s) != DROP_NONE)
		goto out;
	if (m->head[0] & 1) {
		step(t, "lookup", sp->name, "flood", "group destination: flooded in VLAN %u", m->vlan);
		d = DP_DST_FLOOD;
	} else {
		uint64_t dmac = sw_mac48(m->head);
		int p = sw_fdb_lookup(dp->fdb, m->vlan, dmac, now_s);
		uint16_t ep = 0;
		uint8_t rem = 0;
		bool st = false;
		uint32_t age = 0;
		char mac[18];

		mac_str(m->head, mac);
		if (p >= 0) /* port | remote << 8: keep the port */
			p = (int)sw_fdb_where_port(p);
		if (p >= 0 && sw_fdb_entry(dp->fdb, m->vlan, dmac, now_s, &ep, &rem, &st, &age) && ep == p) {
			char how[48];

			if (st)
				snprintf(how, sizeof(how), "static");
			else
				snprintf(how, sizeof(how), "learned, age %" PRIu32 " s", age);
			step(t, "lookup", sp->name, "hit", "%s in VLAN %u: port %s (%s)", mac, m->vlan,
			     port_name(dp, (unsigned)p), how);
		}
		else
			step(t, "lookup", sp->name, "miss", "%s in VLAN %u: unknown (unknown-unicast=%s)",
			     mac, m->vlan, conf->unknown_drop ? "drop" : "flood");
		d = dp_cls_dst(conf, sp, sp->cfg, p);
		if (d < 0 && d != DP_DST_FLOOD) {
			enum dp_drop r = dp_dst_drop(d);
			const char *why = r == DROP_HAIRPIN ? "the destination is the source port" :
			                  r == DROP_DOWN ? "its port is down or being reconfigured" :
			                  r == DROP_UNKNOWN ? "unknown destination, unknown-unicast=drop" :
			                  "both ports are isolated";
			step(t, r == DROP_ISOLATION ? "isolation" : "lookup", sp->name, drop_at(t, r),
			     "%s", why);
			goto out;
		}
		if (d == DP_DST_FLOOD)
			step(t, "lookup", sp->name, "flood", "flooded in VLAN %u", m->vlan);
	}
	if (d >= 0) {
		if (sp->cfg->isolated)
			step(t, "isolation", sp->name, "pass", "%s is not isolated",
			     port_name(dp, (unsigned)d));
		trace_egress(t, conf, (unsigned)d, m, true);
	} else {
		for (unsigned p = 0; p < conf->nports; p++) {
			int to = dp_flood_to(conf, sp, sp->cfg, p);

			if (!to && p != sp->id && dp->ports[p])
				step(t, "egress", dp->ports[p]->name, "skip",
				     "not live (no guest connected, or no queue up)");
			if (to == 1)
				step(t, "isolation", conf->ports[p].port->name, "skip",
				     "both ports are isolated");
			if (to == 2)
				trace_egress(t, conf, p, m, false);
		}
		if (!t->nout)
			t->drop = "no_destination";
	}
out:
	if (t->nout)
		t->drop = NULL;
	return 0;
}
