/* dp_evpn.c - a VXLAN port's BGP EVPN sync (src/evpn) wired into the
 * switch: zebra's remote MACs become entries of the MAC table on the port,
 * with their VTEP as the remote endpoint; its flood list becomes the port's;
 * the MACs the switch has on its other ports in the port's VLAN are written
 * into the shadow bridge for zebra to advertise. Control thread only.
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

static uint16_t port_vlan(const struct dp_port *p)
{
	return p->cfg->tag ? p->cfg->tag : p->cfg->native;
}

/* zebra installed (or withdrew) mac behind vtep: returns the remote's
 * index, which evpn keeps with the MAC for the refreshes. */
static int on_remote(void *ctx, const uint8_t mac[6], const char *vtep, bool add)
{
	struct dp_port *p = ctx;
	struct dp *dp = p->dp;
	const struct port_ops *ops = p->port->ops;
	uint32_t now_s = dp_now_s(dp, clk_now_ns());
	uint64_t m = sw_mac48(mac);
	char err[160];
	int rem;

	if (!m) { /* a flood-list entry */
		if (add && ops->remote_get(p->port, vtep, true, err, sizeof(err)) < 0)
			VLOG_RL(LOG_WARNING, "%s: evpn: flood list: %s", p->name, err);
		else if (!add)
			ops->remote_unflood(p->port, vtep);
		return 0;
	}
	if (!add) {
		uint16_t port;
		uint8_t r;
		bool st, fl;
		uint32_t age;
		char ra[64];

		/* Only the entry zebra gave (vtep "": whichever remote it has). */
		if (!sw_fdb_entry(dp->fdb, port_vlan(p), m, now_s, &port, &r, &st, &age) ||
		    port != p->id || st)
			return 0;
		ops->remote_name(p->port, r, ra, sizeof(ra), &fl);
		if (!vtep[0] || !strcmp(ra, vtep))
			sw_fdb_del(dp->fdb, port_vlan(p), m);
		return 0;
	}
	rem = ops->remote_get(p->port, vtep, false, err, sizeof(err));
	if (rem < 0) {
		VLOG_RL(LOG_WARNING, "%s: evpn: %s", p->name, err);
		return 0;
	}
	{
		/* A host this switch heard on one of its own ports just now stays
		 * there: zebra may not have seen it advertised from here yet. */
		uint16_t port;
		uint8_t r;
		bool st;
		uint32_t age;

		if (sw_fdb_entry(dp->fdb, port_vlan(p), m, now_s, &port, &r, &st, &age) &&
		    port != p->id && !st && age <= DP_EVPN_FRESH_S && port < dp->nports &&
		    dp->ports[port] && dp->ports[port]->port &&
		    !dp->ports[port]->port->ops->remote_get)
			return rem;
	}
	if (sw_fdb_learn(dp->fdb, port_vlan(p), m, p->id, (uint8_t)rem, now_s) != SW_LEARN_OK)
		VLOG_RL(LOG_WARNING, "%s: evpn: MAC %012llx behind %s not taken (static elsewhere, "
		        "or the port's mac-limit)", p->name, (unsigned long long)m, vtep);
	return rem;
}

static void on_netlink(void *arg, int fd, uint32_t events)
{
	struct dp_port *p = arg;

	(void)fd;
	(void)events;
	evpn_read(p->evpn);
}

int dp_evpn_attach(struct dp *dp, struct dp_port *p, const struct port_params *pp, char *err,
                   size_t errlen)
{
	struct evpn_cb cb = { .remote = on_remote, .ctx = p };
	int r;

	/* One shadow per VNI and namespace: two ports would share it. */
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *o = dp->ports[i];
		if (o && o != p && o->evpn && o->evpn_vni == pp->vx->vni &&
		    !strcmp(o->port->netns, p->port->netns)) {
			snprintf(err, errlen, "port %s already runs EVPN for VNI %u in this namespace",
			         o->name, pp->vx->vni);
			return -EBUSY;
		}
	}
	if (pp->vx->dstport == EVPN_SHADOW_PORT) {
		snprintf(err, errlen, "dstport %d is the EVPN shadow device's", EVPN_SHADOW_PORT);
		return -EINVAL;
	}
	r = evpn_open(pp->netns, pp->vx->vni, pp->vx->local, &cb, &p->evpn, err, errlen);
	if (r < 0)
		return r;
	r = evloop_add(dp->ev, evpn_fd(p->evpn), EPOLLIN, on_netlink, p);
	if (r < 0) {
		snprintf(err, errlen, "evpn: event loop: %s", strerror(-r));
		evpn_close(p->evpn, true);
		p->evpn = NULL;
		return r;
	}
	p->evpn_since = dp_now_s(dp, clk_now_ns());
	p->evpn_vni = pp->vx->vni;
	vlog_info("%s: evpn: VNI %u through shadow bridge %s and vxlan device %s", p->name,
	          pp->vx->vni, evpn_bridge_name(p->evpn), evpn_vxlan_name(p->evpn));
	return 0;
}

void dp_evpn_detach(struct dp *dp, struct dp_port *p, bool remove)
{
	if (!p->evpn)
		return;
	evloop_del(dp->ev, evpn_fd(p->evpn));
	evpn_close(p->evpn, remove);
	p->evpn = NULL;
}

struct local_walk {
	struct dp *dp;
	struct dp_port *p;
	uint16_t vlan;
};

static void local_one(void *arg, uint16_t vlan, uint64_t mac, uint16_t port, uint8_t rem,
                      uint32_t age_s, bool is_static)
{
	struct local_walk *lw = arg;
	struct dp_port *o = port < lw->dp->nports ? lw->dp->ports[port] : NULL;
	uint8_t m[6];

	(void)rem;
	(void)age_s;
	(void)is_static;
	/* Hosts behind this bridge's own ports, not behind a VXLAN port. */
	if (vlan != lw->vlan || !o || !o->port || o->port->ops->remote_get)
		return;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)(mac >> (40 - 8 * i));
	evpn_local_mark(lw->p->evpn, m);
}

static void refresh_one(void *arg, const uint8_t mac[6], int rem)
{
	struct local_walk *lw = arg;
	struct dp_port *p = lw->p;
	uint64_t m = sw_mac48(mac);
	uint32_t now_s = dp_now_s(lw->dp, clk_now_ns());
	uint16_t port;
	uint8_t r;
	bool st;
	uint32_t age;

	/* Still ours: keep it from ageing. Moved to a local port: leave it
	 * there (this host advertises it now). Gone (flushed): put it back. */
	if (sw_fdb_entry(lw->dp->fdb, lw->vlan, m, now_s, &port, &r, &st, &age) && port != p->id)
		return;
	if (rem > 0)
		(void)sw_fdb_learn(lw->dp->fdb, lw->vlan, m, p->id, (uint8_t)rem, now_s);
}

void dp_evpn_tick(struct dp *dp, uint32_t now_s)
{
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		struct local_walk lw;
		int n;

		if (!p || !p->evpn)
			continue;
		lw = (struct local_walk){ dp, p, port_vlan(p) };
		evpn_remote_foreach(p->evpn, refresh_one, &lw);
		evpn_local_begin(p->evpn);
		sw_fdb_foreach(dp->fdb, now_s, local_one, &lw);
		/* Just after a restart the table has not learned the hosts
		 * again: withdraw nothing yet (their entries stay advertised). */
		if (now_s - p->evpn_since < DP_EVPN_GRACE_S)
			continue;
		n = evpn_local_end(p->evpn);
		if (n > 0)
			vlog_dbg("%s: evpn: %d local MACs no longer here, withdrawn", p->name, n);
	}
}

bool dp_evpn_is_remote(const struct dp_port *p, const uint8_t mac[6])
{
	return p->evpn && evpn_is_remote(p->evpn, mac);
}
