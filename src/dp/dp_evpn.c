/* dp_evpn.c - a VXLAN port's BGP EVPN sync (src/evpn) wired into the
 * switch, one sync per VNI of the port (its untagged VNI and each of its
 * vni-map), each in the VLAN its frames have in the switch: zebra's remote
 * MACs become entries of the MAC table on the port, with their VTEP as the
 * remote endpoint; its flood list becomes the port's; the MACs the switch
 * has on its other ports in that VLAN are written into the shadow bridge
 * for zebra to advertise. Control thread only.
 *
 * A remote MAC from EVPN is a learned entry, not a static one, refreshed
 * every second while zebra has it: a host that moves behind a local port
 * is learned there at once (and advertised from here), as EVPN's MAC
 * mobility expects, rather than dropped as a spoof of a static entry. */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "dp_impl.h"
#include "evpn.h"
#include "vlog.h"
#include "xalloc.h"

struct dp_evpn {
	struct dp_port *p;
	struct evpn *e;
	uint32_t vni;
	uint16_t vlan;           /* its frames' VLAN in the switch (the untagged
	                          * VNI's: the port's tag= or native VLAN, as it is
	                          * now, see vlan_of) */
	bool untagged;
};

/* The VLAN x's frames have in the switch now. */
static uint16_t vlan_of(const struct dp_evpn *x)
{
	const struct dp_port_cfg *c = x->p->cfg;

	return x->untagged ? (c->sw.tag ? c->sw.tag : c->sw.native) : x->vlan;
}

/* The VLAN -> sync index, the untagged VNI's after a change of the port's
 * policy (each tick). */
static void index_vlans(struct dp_port *p)
{
	for (unsigned k = 0; k < p->nevpn; k++) {
		struct dp_evpn *x = &p->evpn[k];
		uint16_t v = vlan_of(x);

		if (x->vlan == v && p->evpn_vlan[v & 0xfff] == k + 1)
			continue;
		if (p->evpn_vlan[x->vlan & 0xfff] == k + 1)
			p->evpn_vlan[x->vlan & 0xfff] = 0;
		x->vlan = v;
		p->evpn_vlan[v & 0xfff] = (uint16_t)(k + 1);
	}
}

/* zebra installed (or withdrew) mac behind vtep: returns the remote's
 * index, which evpn keeps with the MAC for the refreshes. */
static int on_remote(void *ctx, const uint8_t mac[6], const char *vtep, bool add)
{
	struct dp_evpn *x = ctx;
	struct dp_port *p = x->p;
	struct dp *dp = p->dp;
	const struct port_ops *ops = p->port->ops;
	uint32_t now_s = dp_now_s(dp, clk_now_ns());
	uint64_t m = sw_mac48(mac);
	uint16_t port;
	uint8_t r;
	bool st;
	uint32_t age;
	char err[160];
	int rem;

	if (!m) { /* a flood-list entry */
		if (add && ops->remote_get(p->port, vtep, x->vni, err, sizeof(err)) < 0)
			VLOG_RL(LOG_WARNING, "%s: evpn: flood list: %s", p->name, err);
		else if (!add)
			ops->remote_unflood(p->port, vtep, x->vni);
		return 0;
	}
	if (!add) {
		bool fl;
		char ra[64];

		/* Only the entry zebra gave (vtep "": whichever remote it has). */
		if (!sw_fdb_entry(dp->fdb, vlan_of(x), m, now_s, &port, &r, &st, &age) ||
		    port != p->id || st)
			return 0;
		ops->remote_name(p->port, r, ra, sizeof(ra), &fl);
		if (!vtep[0] || !strcmp(ra, vtep))
			sw_fdb_del(dp->fdb, vlan_of(x), m);
		return 0;
	}
	rem = ops->remote_get(p->port, vtep, -1, err, sizeof(err));
	if (rem < 0) {
		VLOG_RL(LOG_WARNING, "%s: evpn: %s", p->name, err);
		return 0;
	}
	/* A host this switch heard on one of its own ports just now stays
	 * there: zebra may not have seen it advertised from here yet. */
	if (sw_fdb_entry(dp->fdb, vlan_of(x), m, now_s, &port, &r, &st, &age) && port != p->id &&
	    !st && age <= DP_EVPN_FRESH_S && port < dp->nports && dp->ports[port] &&
	    dp->ports[port]->port && !dp->ports[port]->port->ops->remote_get)
		return rem; /* (refresh_one moves it once it is no longer fresh) */
	if (sw_fdb_learn(dp->fdb, vlan_of(x), m, p->id, (uint8_t)rem, now_s) != SW_LEARN_OK)
		VLOG_RL(LOG_WARNING, "%s: evpn: MAC %012llx behind %s not taken (static elsewhere, "
		        "or the port's mac-limit)", p->name, (unsigned long long)m, vtep);
	return rem;
}

static void on_netlink(void *arg, int fd, uint32_t events)
{
	struct dp_evpn *x = arg;

	(void)fd;
	(void)events;
	evpn_read(x->e);
}

int dp_evpn_attach(struct dp *dp, struct dp_port *p, const struct port_params *pp, char *err,
                   size_t errlen)
{
	uint32_t vni[DP_EVPN_MAX];
	uint16_t vlan[DP_EVPN_MAX];
	unsigned n = p->port->ops->vnis ? p->port->ops->vnis(p->port, vni, vlan, DP_EVPN_MAX) : 0;
	int r = 0;

	if (pp->vx->dstport == EVPN_SHADOW_PORT) {
		snprintf(err, errlen, "dstport %d is the EVPN shadow devices'", EVPN_SHADOW_PORT);
		return -EINVAL;
	}
	/* One shadow per VNI and namespace: two ports would share it. */
	for (unsigned k = 0; k < n; k++)
		for (unsigned i = 0; i < dp->nports; i++) {
			struct dp_port *o = dp->ports[i];
			for (unsigned j = 0; o && o != p && j < o->nevpn; j++)
				if (o->evpn[j].vni == vni[k] && !strcmp(o->port->netns, p->port->netns)) {
					snprintf(err, errlen, "port %s already runs EVPN for VNI %u in "
					         "this namespace", o->name, vni[k]);
					return -EBUSY;
				}
		}
	p->evpn = xcalloc(n ? n : 1, sizeof(*p->evpn));
	p->evpn_vlan = xcalloc(4096, sizeof(*p->evpn_vlan));
	if (!p->evpn || !p->evpn_vlan) {
		xfree(p->evpn);
		xfree(p->evpn_vlan);
		p->evpn = NULL;
		p->evpn_vlan = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->evpn_since = dp_now_s(dp, clk_now_ns());
	for (p->nevpn = 0; p->nevpn < n; p->nevpn++) {
		struct dp_evpn *x = &p->evpn[p->nevpn];
		struct evpn_cb cb = { .remote = on_remote, .ctx = x };

		*x = (struct dp_evpn){ .p = p, .vni = vni[p->nevpn], .vlan = vlan[p->nevpn],
		                       .untagged = !vlan[p->nevpn] };
		x->vlan = vlan_of(x);
		r = evpn_open(pp->netns, x->vni, pp->vx->local, &cb, &x->e, err, errlen);
		if (r < 0)
			break;
		r = evloop_add(dp->ev, evpn_fd(x->e), EPOLLIN, on_netlink, x);
		if (r < 0) {
			snprintf(err, errlen, "evpn: event loop: %s", strerror(-r));
			evpn_close(x->e, true);
			break;
		}
		p->evpn_vlan[x->vlan & 0xfff] = (uint16_t)(p->nevpn + 1);
		vlog_info("%s: evpn: VNI %u (VLAN %u) through shadow bridge %s and vxlan device %s",
		          p->name, x->vni, x->vlan, evpn_bridge_name(x->e), evpn_vxlan_name(x->e));
	}
	if (r < 0)
		dp_evpn_detach(dp, p, true);
	return r;
}

void dp_evpn_detach(struct dp *dp, struct dp_port *p, bool remove)
{
	for (unsigned i = 0; i < p->nevpn; i++) {
		evloop_del(dp->ev, evpn_fd(p->evpn[i].e));
		evpn_close(p->evpn[i].e, remove);
	}
	xfree(p->evpn);
	xfree(p->evpn_vlan);
	p->evpn = NULL;
	p->evpn_vlan = NULL;
	p->nevpn = 0;
}

struct local_walk {
	struct dp *dp;
	struct dp_port *p;
	struct dp_evpn *x;       /* refresh_one's */
	uint32_t refs[256];      /* references to each remote of the port */
};

/* The port's EVPN sync of vlan, or NULL. */
static struct dp_evpn *by_vlan(const struct dp_port *p, uint16_t vlan)
{
	unsigned k = p->evpn_vlan[vlan & 0xfff];

	return k ? &p->evpn[k - 1] : NULL;
}

static void local_one(void *arg, uint16_t vlan, uint64_t mac, uint16_t port, uint8_t rem,
                      uint32_t age_s, bool is_static)
{
	struct local_walk *lw = arg;
	struct dp_port *o = port < lw->dp->nports ? lw->dp->ports[port] : NULL;
	struct dp_evpn *x = by_vlan(lw->p, vlan);
	uint8_t m[6];

	(void)age_s;
	(void)is_static;
	if (port == lw->p->id)
		lw->refs[rem]++;
	/* Hosts behind this bridge's own ports, not behind a VXLAN port. */
	if (!x || !o || !o->port || o->port->ops->remote_get)
		return;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)(mac >> (40 - 8 * i));
	evpn_local_mark(x->e, m);
}

static void refresh_one(void *arg, const uint8_t mac[6], int rem)
{
	struct local_walk *lw = arg;
	struct dp_evpn *x = lw->x;
	uint64_t m = sw_mac48(mac);
	uint32_t now_s = dp_now_s(lw->dp, clk_now_ns());
	uint16_t port;
	uint8_t r;
	bool st;
	uint32_t age;

	if (rem > 0 && rem < 256)
		lw->refs[rem]++;
	/* Still ours: keep it from ageing. On a local port and heard there
	 * lately: leave it (this host advertises it now, and zebra takes its
	 * remote entry back). On a local port and silent there for a while
	 * while zebra still says it is behind another VTEP (it moved), or gone
	 * (flushed): put it back. */
	if (sw_fdb_entry(lw->dp->fdb, x->vlan, m, now_s, &port, &r, &st, &age) &&
	    port != x->p->id && (st || age <= DP_EVPN_STALE_S))
		return;
	if (rem > 0)
		(void)sw_fdb_learn(lw->dp->fdb, x->vlan, m, x->p->id, (uint8_t)rem, now_s);
}

void dp_evpn_tick(struct dp *dp, uint32_t now_s)
{
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		struct local_walk lw = { dp, p, NULL, { 0 } };

		if (!p || !p->nevpn)
			continue;
		index_vlans(p);
		for (unsigned k = 0; k < p->nevpn; k++) {
			lw.x = &p->evpn[k];
			evpn_remote_foreach(p->evpn[k].e, refresh_one, &lw);
			evpn_local_begin(p->evpn[k].e);
		}
		/* One walk of the table for all the port's VNIs; then the
		 * remotes nothing refers to any more are forgotten (VTEPs come
		 * and go: the port has 255 slots). */
		sw_fdb_foreach(dp->fdb, now_s, local_one, &lw);
		if (p->port->ops->remote_gc) {
			uint8_t dead[256] = { 0 };

			if (p->port->ops->remote_gc(p->port, lw.refs, dead))
				vlog_dbg("%s: evpn: remote endpoints no longer used, taken out", p->name);
			/* Entries learned from a remote in the moment it was taken
			 * out would keep its index: they go (learned again from the
			 * remote's next frame, if it comes back). */
			for (unsigned r = 1; r < 256; r++)
				if (dead[r] && lw.refs[r])
					sw_fdb_flush_rem(dp->fdb, p->id, (uint8_t)r);
		}
		/* Just after a restart the table has not learned the hosts
		 * again: withdraw nothing yet (their entries stay advertised). */
		if (now_s - p->evpn_since < DP_EVPN_GRACE_S)
			continue;
		for (unsigned k = 0; k < p->nevpn; k++) {
			int n = evpn_local_end(p->evpn[k].e);
			if (n > 0)
				vlog_dbg("%s: evpn: VNI %u: %d local MACs no longer here, withdrawn",
				         p->name, p->evpn[k].vni, n);
		}
	}
}

bool dp_evpn_is_remote(const struct dp_port *p, uint16_t vlan, const uint8_t mac[6])
{
	const struct dp_evpn *x = p->nevpn ? by_vlan(p, vlan) : NULL;

	return x && evpn_is_remote(x->e, mac);
}
