/* evpn.c - the shadow bridge and vxlan device zebra programs, and the
 * netlink mirror between them and vifd (see evpn.h). Netlink through
 * libmnl: one socket for requests (each waits for its answer) and one
 * subscribed to RTNLGRP_NEIGH, both created in the port's namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/veth.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "evpn.h"
#include "port.h"
#include "vlog.h"
#include "xalloc.h"

enum {
	/* The bridge's ageing (300 s, in clock_t): vifd removes the local
	 * entries itself as they age or move here, and refreshes each one
	 * every EVPN_REFRESH_S (NTF_USE: what learning does, as a plain
	 * replace does not); if vifd is gone for good, they age out and
	 * zebra withdraws them. */
	EVPN_AGEING_CS = 30000,
	EVPN_REFRESH_S = 60,
	EVPN_REQ_TIMEOUT_MS = 2000,
	EVPN_READ_MAX = 64,       /* reads of events per call */
	EVPN_DRAIN_MAX = 4096,    /* reads dropped before a resync */
};

/* A set of MACs (48 bits | 1 << 63, never 0): open addressing, linear
 * probing, deletion by backward shift; two numbers per key (gen: a local
 * round, or the owner's number for a remote MAC; mark: the resync that saw
 * it). */
struct macset {
	uint64_t *k;
	uint32_t *gen, *mark;
	size_t cap, n;
};

struct evpn {
	struct mnl_socket *req, *ev;
	unsigned seq;
	int family;              /* of local */
	uint8_t local[16];
	uint32_t vni;
	int br, vx, lport;       /* ifindexes: bridge, vxlan device, local port */
	char brname[IFNAMSIZ], vxname[IFNAMSIZ], dname[IFNAMSIZ], pname[IFNAMSIZ];
	char netns[PORT_NETNS_MAX];
	char sysctl[96];
	struct evpn_cb cb;
	struct macset remote;    /* remote MACs zebra installed (gen: the callback's
	                          * number for it) */
	struct {                 /* the flood list zebra installed */
		char vtep[INET6_ADDRSTRLEN];
		uint32_t mark;
	} fl[255];
	unsigned nfl;
	uint32_t sweep;          /* resyncs so far */
	struct macset local_set; /* local MACs vifd wrote */
	uint32_t round;
	bool refresh_warned;
	char *buf;               /* MNL_SOCKET_BUFFER_SIZE */
};

static inline uint64_t mac_key(const uint8_t m[6])
{
	return 1ull << 63 | (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
	       (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

static inline size_t slot_of(uint64_t k, size_t cap)
{
	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return (size_t)k & (cap - 1);
}

static bool set_find(const struct macset *s, uint64_t k, size_t *at)
{
	if (!s->cap)
		return false;
	for (size_t i = slot_of(k, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (!s->k[i]) {
			*at = i;
			return false;
		}
		if (s->k[i] == k) {
			*at = i;
			return true;
		}
	}
}

static int set_grow(struct macset *s)
{
	struct macset b = { .cap = s->cap ? s->cap * 2 : 64 };

	b.k = xcalloc(b.cap, sizeof(*b.k));
	b.gen = xcalloc(b.cap, sizeof(*b.gen));
	b.mark = xcalloc(b.cap, sizeof(*b.mark));
	if (!b.k || !b.gen || !b.mark) {
		xfree(b.k);
		xfree(b.gen);
		xfree(b.mark);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		size_t at;
		if (!s->k[i])
			continue;
		set_find(&b, s->k[i], &at);
		b.k[at] = s->k[i];
		b.gen[at] = s->gen[i];
		b.mark[at] = s->mark[i];
		b.n++;
	}
	xfree(s->k);
	xfree(s->gen);
	xfree(s->mark);
	*s = b;
	return 0;
}

/* Adds k (gen g); true if it was new, false if there (gen updated) or on
 * allocation failure (*err). */
static bool set_add(struct macset *s, uint64_t k, uint32_t g, int *err)
{
	size_t at;

	*err = 0;
	if (set_find(s, k, &at)) {
		s->gen[at] = g;
		return false;
	}
	if ((s->n + 1) * 4 > s->cap * 3) {
		*err = set_grow(s);
		if (*err)
			return false;
		set_find(s, k, &at);
	}
	s->k[at] = k;
	s->gen[at] = g;
	s->mark[at] = 0;
	s->n++;
	return true;
}

static void set_del_at(struct macset *s, size_t i)
{
	size_t j = i;

	s->k[i] = 0;
	s->n--;
	/* Backward shift: close the gap for keys probing past it. */
	for (;;) {
		size_t h;
		j = (j + 1) & (s->cap - 1);
		if (!s->k[j])
			return;
		h = slot_of(s->k[j], s->cap);
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			s->k[i] = s->k[j];
			s->gen[i] = s->gen[j];
			s->mark[i] = s->mark[j];
			s->k[j] = 0;
			i = j;
		}
	}
}

static bool set_del(struct macset *s, uint64_t k)
{
	size_t at;

	if (!set_find(s, k, &at))
		return false;
	set_del_at(s, at);
	return true;
}

static void set_free(struct macset *s)
{
	xfree(s->k);
	xfree(s->gen);
	xfree(s->mark);
	memset(s, 0, sizeof(*s));
}

/* ---- requests ---- */

/* Sends nlh on the request socket and waits for its answer: 0, or the
 * kernel's -errno (a dump: -EINTR if the kernel says it was interrupted).
 * A dump calls fn for each message; a GET for its reply. Messages of other
 * sequence numbers (a late answer to a request that timed out) are
 * skipped, so one lost answer never puts later requests out of step. */
static int request(struct evpn *e, struct nlmsghdr *nlh, mnl_cb_t fn, void *arg)
{
	bool dump = nlh->nlmsg_type == RTM_GETNEIGH &&
	            (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	unsigned seq = ++e->seq;
	bool intr = false;

	nlh->nlmsg_seq = seq;
	/* (NLM_F_DUMP's bits mean CREATE and EXCL in a NEW request) */
	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;
	while (mnl_socket_sendto(e->req, nlh, nlh->nlmsg_len) < 0)
		if (errno != EINTR)
			return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(e->req, e->buf, MNL_SOCKET_BUFFER_SIZE);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		len = (int)n;
		for (const struct nlmsghdr *m = (const void *)e->buf; mnl_nlmsg_ok(m, len);
		     m = mnl_nlmsg_next(m, &len)) {
			if (m->nlmsg_seq != seq)
				continue;
			intr |= (m->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *er = mnl_nlmsg_get_payload(m);
				if (mnl_nlmsg_get_payload_len(m) < sizeof(er->error))
					return -EBADMSG;
				return er->error;
			}
			if (m->nlmsg_type == NLMSG_DONE)
				return intr ? -EINTR : 0;
			if (fn)
				(void)fn(m, arg);
		}
	}
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int ifindex,
                                 bool up)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (up) {
		ifm->ifi_flags = IFF_UP;
		ifm->ifi_change = IFF_UP;
	}
	return nlh;
}

/* No IPv6 address of its own: the device then sends nothing by itself. */
static void put_no_addrgen(struct nlmsghdr *nlh)
{
	struct nlattr *af = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	struct nlattr *in6 = mnl_attr_nest_start(nlh, AF_INET6);

	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, in6);
	mnl_attr_nest_end(nlh, af);
}

/* What GETLINK says of a device: its index, alias, and for a vxlan device
 * its VNI and local address. */
struct link_info {
	int idx;
	char alias[64];
	bool vxlan;
	uint32_t vni;
	uint8_t local[16];
};

static int info_data_cb(const struct nlattr *a, void *arg)
{
	struct link_info *li = arg;

	switch (mnl_attr_get_type(a)) {
	case IFLA_VXLAN_ID:
		if (mnl_attr_get_payload_len(a) == 4)
			li->vni = mnl_attr_get_u32(a);
		break;
	case IFLA_VXLAN_LOCAL:
		if (mnl_attr_get_payload_len(a) == 4)
			memcpy(li->local, mnl_attr_get_payload(a), 4);
		break;
	case IFLA_VXLAN_LOCAL6:
		if (mnl_attr_get_payload_len(a) == 16)
			memcpy(li->local, mnl_attr_get_payload(a), 16);
		break;
	}
	return MNL_CB_OK;
}

static int linkinfo_cb(const struct nlattr *a, void *arg)
{
	struct link_info *li = arg;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND)
		li->vxlan = !strcmp(mnl_attr_get_str(a), "vxlan");
	else if (mnl_attr_get_type(a) == IFLA_INFO_DATA)
		(void)mnl_attr_parse_nested(a, info_data_cb, li);
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *arg)
{
	struct link_info *li = arg;

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == IFLA_IFALIAS)
		snprintf(li->alias, sizeof(li->alias), "%.*s", (int)mnl_attr_get_payload_len(a),
		         (const char *)mnl_attr_get_payload(a));
	else if (mnl_attr_get_type(a) == IFLA_LINKINFO)
		(void)mnl_attr_parse_nested(a, linkinfo_cb, li);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct link_info *li = arg;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return MNL_CB_OK;
	li->idx = ifm->ifi_index;
	(void)mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, li);
	return MNL_CB_OK;
}

/* The device called name: 0 and *li, or -ENODEV. */
static int link_get(struct evpn *e, const char *name, struct link_info *li)
{
	char buf[256];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, 0, false);
	int r;

	memset(li, 0, sizeof(*li));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	r = request(e, nlh, link_cb, li); /* the link, then the ack */
	return r < 0 ? r : li->idx ? 0 : -ENODEV;
}

/* Writes "1" into the file at path (a sysctl), in the caller's namespace. */
static int write_one(void *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		r = -errno;
	close(fd);
	return r;
}

static void del_link(struct evpn *e, int idx);

/* Creates device name of kind (master: a bridge's ifindex, or 0) marked as
 * vifd's (its alias), or takes it over if it is vifd's from before a
 * restart (a vxlan device of another VNI or local address is made again);
 * kind "": an existing device (a veth's peer), only configured. Then, while
 * it is down: no IPv6 on it at all (else it would send MLD reports and
 * neighbour solicitations of its own the moment it is up, which the bridge
 * would flood to zebra's VTEPs), under its bridge, as a bridge port that
 * neither learns nor floods unknown unicast (nothing that reaches the
 * shadow vxlan device from outside may move or add an entry); then up.
 * Returns its ifindex (*created: made by this call), or -errno. */
static int make_link(struct evpn *e, const char *name, const char *kind, int master,
                     bool *created)
{
	char buf[512], alias[32];
	struct nlmsghdr *nlh;
	struct nlattr *li, *data;
	struct link_info inf;
	int r, idx;

	*created = false;
	snprintf(alias, sizeof(alias), "vifd evpn %u", e->vni);
	r = *kind ? link_get(e, name, &inf) : 0;
	if (*kind && r == 0) {
		if (strcmp(inf.alias, alias))
			return -EEXIST; /* someone else's */
		if (inf.vxlan && (inf.vni != e->vni ||
		                  memcmp(inf.local, e->local, e->family == AF_INET ? 4 : 16))) {
			del_link(e, inf.idx); /* ours, from another configuration */
			r = -ENODEV;
		}
	}
	if (*kind && r == -ENODEV) {
		nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, false);
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
		li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
		if (!strcmp(kind, "bridge")) {
			data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
			mnl_attr_put_u32(nlh, IFLA_BR_AGEING_TIME, EVPN_AGEING_CS);
			mnl_attr_put_u8(nlh, IFLA_BR_MCAST_SNOOPING, 0);
			mnl_attr_nest_end(nlh, data);
		} else if (!strcmp(kind, "vxlan")) {
			data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
			mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, e->vni);
			if (e->family == AF_INET)
				mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, 4, e->local);
			else
				mnl_attr_put(nlh, IFLA_VXLAN_LOCAL6, 16, e->local);
			mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(EVPN_SHADOW_PORT));
			mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
			mnl_attr_nest_end(nlh, data);
		} else if (!strcmp(kind, "veth")) {
			/* The local MACs' port: one end of a veth pair whose other
			 * end (e->pname) belongs to nothing (a dummy device would
			 * do, but not every kernel has one). */
			struct ifinfomsg *pifm;
			struct nlattr *peer;

			data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
			peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
			pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
			memset(pifm, 0, sizeof(*pifm));
			mnl_attr_put_strz(nlh, IFLA_IFNAME, e->pname);
			mnl_attr_nest_end(nlh, peer);
			mnl_attr_nest_end(nlh, data);
		}
		mnl_attr_nest_end(nlh, li);
		r = request(e, nlh, NULL, NULL);
		if (r < 0)
			return r;
		*created = true;
	} else if (r < 0) {
		return r;
	}
	r = link_get(e, name, &inf);
	if (r < 0)
		goto fail;
	idx = inf.idx;
	/* (the alias is not taken at creation: set here) */
	nlh = link_msg(buf, RTM_NEWLINK, 0, idx, false);
	if (*kind)
		mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	put_no_addrgen(nlh);
	r = request(e, nlh, NULL, NULL);
	if (r == -EAFNOSUPPORT) { /* a kernel without IPv6 */
		nlh = link_msg(buf, RTM_NEWLINK, 0, idx, false);
		if (*kind)
			mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
		if (master)
			mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
		r = request(e, nlh, NULL, NULL);
	}
	if (r < 0)
		goto fail;
	snprintf(e->sysctl, sizeof(e->sysctl), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	r = port_in_netns(e->netns, write_one, e->sysctl);
	if (r < 0 && r != -ENOENT) /* (ENOENT: a kernel without IPv6) */
		goto fail;
	if (!*created && !strcmp(kind, "bridge")) {
		/* (one kept from an earlier vifd: its ageing as ours now) */
		nlh = link_msg(buf, RTM_NEWLINK, 0, idx, false);
		li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
		data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		mnl_attr_put_u32(nlh, IFLA_BR_AGEING_TIME, EVPN_AGEING_CS);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, li);
		r = request(e, nlh, NULL, NULL);
		if (r < 0)
			goto fail;
	}
	if (master) {
		nlh = link_msg(buf, RTM_NEWLINK, 0, idx, false);
		li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_SLAVE_KIND, "bridge");
		data = mnl_attr_nest_start(nlh, IFLA_INFO_SLAVE_DATA);
		mnl_attr_put_u8(nlh, IFLA_BRPORT_LEARNING, 0);
		mnl_attr_put_u8(nlh, IFLA_BRPORT_UNICAST_FLOOD, 0);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, li);
		r = request(e, nlh, NULL, NULL);
		if (r < 0)
			goto fail;
	}
	r = request(e, link_msg(buf, RTM_NEWLINK, 0, idx, true), NULL, NULL);
	if (r < 0)
		goto fail;
	return idx;
fail:
	if (*created)
		del_link(e, inf.idx);
	*created = false;
	return r;
}

static void del_link(struct evpn *e, int idx)
{
	char buf[128];

	if (idx > 0)
		(void)request(e, link_msg(buf, RTM_DELLINK, 0, idx, false), NULL, NULL);
}

/* A PF_BRIDGE neighbour entry for mac on the local port (the bridge's
 * forwarding table: zebra reads local MACs there). */
enum local_op { LOCAL_DEL, LOCAL_ADD, LOCAL_REFRESH };

static int local_entry(struct evpn *e, uint64_t k, enum local_op op)
{
	bool add = op != LOCAL_DEL;
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;
	uint8_t mac[6];

	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(k >> (40 - 8 * i));
	nlh->nlmsg_type = add ? RTM_NEWNEIGH : RTM_DELNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = AF_BRIDGE;
	nd->ndm_ifindex = e->lport;
	nd->ndm_flags = (uint8_t)(NTF_MASTER | (op == LOCAL_REFRESH ? NTF_USE : 0));
	nd->ndm_state = NUD_REACHABLE;
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return request(e, nlh, NULL, NULL);
}

/* ---- zebra's entries ---- */

struct neigh_attrs {
	const struct nlattr *lladdr, *dst;
};

static int neigh_attr(const struct nlattr *a, void *data)
{
	struct neigh_attrs *na = data;

	if (mnl_attr_type_valid(a, NDA_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == NDA_LLADDR)
		na->lladdr = a;
	else if (mnl_attr_get_type(a) == NDA_DST)
		na->dst = a;
	return MNL_CB_OK;
}

/* The flood list as zebra has it: vtep added (seen by the current resync)
 * or removed. */
static void flood_seen(struct evpn *e, const char *vtep, bool add)
{
	unsigned i;

	for (i = 0; i < e->nfl && strcmp(e->fl[i].vtep, vtep); i++)
		;
	if (!add) {
		if (i < e->nfl)
			e->fl[i] = e->fl[--e->nfl];
		return;
	}
	if (i == e->nfl) {
		if (e->nfl == ARRAY_SIZE(e->fl))
			return; /* (the port's remote table is as full) */
		snprintf(e->fl[e->nfl++].vtep, sizeof(e->fl[0].vtep), "%s", vtep);
	}
	e->fl[i].mark = e->sweep;
}

/* One neighbour message (an event, or part of the dump at start). */
static int neigh_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct evpn *e = arg;
	const struct ndmsg *nd;
	struct neigh_attrs na = { 0 };
	char vtep[INET6_ADDRSTRLEN];
	const uint8_t *mac;
	bool add;
	uint16_t dl;
	int err;

	if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd))
		return MNL_CB_OK;
	nd = mnl_nlmsg_get_payload(nlh);
	if (nd->ndm_family != AF_BRIDGE)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*nd), neigh_attr, &na) < 0 || !na.lladdr ||
	    mnl_attr_get_payload_len(na.lladdr) != 6)
		return MNL_CB_OK;
	mac = mnl_attr_get_payload(na.lladdr);
	add = nlh->nlmsg_type == RTM_NEWNEIGH;
	if (nd->ndm_ifindex == e->lport) {
		if (nd->ndm_state & NUD_PERMANENT)
			return MNL_CB_OK; /* the port's own address */
		/* Our own local entry (seen in the dump at start, after a
		 * restart): known, so that the first round removes it if the
		 * MAC is not local any more. */
		if (add)
			set_add(&e->local_set, mac_key(mac), e->round, &err);
		else
			set_del(&e->local_set, mac_key(mac));
		return MNL_CB_OK;
	}
	if (nd->ndm_ifindex != e->vx || !na.dst)
		return MNL_CB_OK;
	dl = mnl_attr_get_payload_len(na.dst);
	if (!((dl == 4 && e->family == AF_INET) || (dl == 16 && e->family == AF_INET6)) ||
	    !inet_ntop(e->family, mnl_attr_get_payload(na.dst), vtep, sizeof(vtep)))
		return MNL_CB_OK;
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		flood_seen(e, vtep, add); /* the flood list */
		e->cb.remote(e->cb.ctx, mac, vtep, add);
		return MNL_CB_OK;
	}
	if (mac[0] & 1)
		return MNL_CB_OK; /* a group address is never a remote host */
	if (add) {
		int n = e->cb.remote(e->cb.ctx, mac, vtep, true);
		size_t at;

		set_add(&e->remote, mac_key(mac), (uint32_t)n, &err);
		if (set_find(&e->remote, mac_key(mac), &at))
			e->remote.mark[at] = e->sweep;
	} else {
		set_del(&e->remote, mac_key(mac));
		e->cb.remote(e->cb.ctx, mac, vtep, false);
	}
	return MNL_CB_OK;
}

static int dump_neigh(struct evpn *e)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(e->buf);
	struct ndmsg *nd;

	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = AF_BRIDGE;
	return request(e, nlh, neigh_cb, e);
}

/* Events were lost: drop what is queued (older than what the dump will
 * say), read zebra's whole state again, and take back what it no longer
 * has (its withdrawals may be among the lost events). */
static void resync(struct evpn *e)
{
	static const uint8_t zero[6];
	int r = -EINTR;

	VLOG_RL(LOG_WARNING, "evpn %s: netlink events lost, reading zebra's entries again",
	        e->vxname);
	for (unsigned i = 0; i < EVPN_DRAIN_MAX; i++)
		if (mnl_socket_recvfrom(e->ev, e->buf, MNL_SOCKET_BUFFER_SIZE) < 0 &&
		    errno != ENOBUFS)
			break;
	e->sweep++;
	for (unsigned t = 0; t < 3 && r == -EINTR; t++)
		r = dump_neigh(e);
	if (r < 0) {
		vlog_warn("evpn %s: reading zebra's entries: %s", e->vxname, strerror(-r));
		return; /* nothing taken back on a partial picture */
	}
	for (size_t i = 0; i < e->remote.cap;) {
		uint64_t k = e->remote.k[i];
		uint8_t mac[6];

		if (!k || e->remote.mark[i] == e->sweep) {
			i++;
			continue;
		}
		for (int b = 0; b < 6; b++)
			mac[b] = (uint8_t)(k >> (40 - 8 * b));
		set_del_at(&e->remote, i); /* i now holds a shifted key, if any */
		e->cb.remote(e->cb.ctx, mac, "", false);
	}
	for (unsigned i = 0; i < e->nfl;) {
		if (e->fl[i].mark == e->sweep) {
			i++;
			continue;
		}
		e->cb.remote(e->cb.ctx, zero, e->fl[i].vtep, false);
		e->fl[i] = e->fl[--e->nfl];
	}
}

void evpn_read(struct evpn *e)
{
	/* Bounded: the event loop calls again while the socket is readable. */
	for (unsigned round = 0; round < EVPN_READ_MAX; round++) {
		ssize_t n = mnl_socket_recvfrom(e->ev, e->buf, MNL_SOCKET_BUFFER_SIZE);

		if (n < 0) {
			if (errno == ENOBUFS) {
				resync(e);
				continue;
			}
			return; /* EAGAIN: all read */
		}
		(void)mnl_cb_run(e->buf, (size_t)n, 0, 0, neigh_cb, e);
	}
}

/* ---- setup ---- */

struct sock_job {
	struct mnl_socket *req, *ev;
};

static int open_socks(void *arg)
{
	struct sock_job *j = arg;
	struct timeval tv = { .tv_sec = EVPN_REQ_TIMEOUT_MS / 1000,
	                      .tv_usec = (EVPN_REQ_TIMEOUT_MS % 1000) * 1000 };
	int sz = 4 << 20;

	j->req = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	j->ev = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!j->req || !j->ev)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(j->req), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	/* Every neighbour event of the namespace comes here: room for bursts
	 * (FORCE: over rmem_max, vifd has CAP_NET_ADMIN; else what is allowed). */
	if (setsockopt(mnl_socket_get_fd(j->ev), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(mnl_socket_get_fd(j->ev), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (mnl_socket_bind(j->req, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(j->ev, 1u << (RTNLGRP_NEIGH - 1), MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	return 0;
}

int evpn_open(const char *netns, uint32_t vni, const char *local, const struct evpn_cb *cb,
              struct evpn **out, char *err, size_t errlen)
{
	struct sock_job j = { 0 };
	struct evpn *e = xcalloc(1, sizeof(*e));
	bool made_br = false, made_vx = false, made_l = false, made_p;
	int r;

	if (!e || !(e->buf = xcalloc(1, MNL_SOCKET_BUFFER_SIZE))) {
		xfree(e);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->vni = vni;
	e->cb = *cb;
	snprintf(e->netns, sizeof(e->netns), "%s", netns ? netns : "");
	e->seq = (unsigned)time(NULL);
	if (inet_pton(AF_INET, local, e->local) == 1) {
		e->family = AF_INET;
	} else if (inet_pton(AF_INET6, local, e->local) == 1) {
		e->family = AF_INET6;
	} else {
		snprintf(err, errlen, "local \"%.60s\" is not an address", local);
		r = -EINVAL;
		goto fail;
	}
	snprintf(e->brname, sizeof(e->brname), "vifb%u", vni);
	snprintf(e->vxname, sizeof(e->vxname), "vifx%u", vni);
	snprintf(e->dname, sizeof(e->dname), "vifl%u", vni);
	snprintf(e->pname, sizeof(e->pname), "vifp%u", vni);
	r = port_in_netns(netns, open_socks, &j);
	e->req = j.req;
	e->ev = j.ev;
	if (r < 0) {
		snprintf(err, errlen, "evpn: netlink sockets%s%s: %s", netns && *netns ? " in netns " : "",
		         netns ? netns : "", strerror(-r));
		goto fail;
	}
	r = e->br = make_link(e, e->brname, "bridge", 0, &made_br);
	if (r < 0) {
		snprintf(err, errlen, "evpn: shadow bridge %s: %s%s", e->brname,
		         r == -EEXIST ? "a device of that name exists and is not vifd's"
		                      : strerror(-r),
		         port_eperm(r, " (needs CAP_NET_ADMIN)"));
		goto fail;
	}
	r = e->vx = make_link(e, e->vxname, "vxlan", e->br, &made_vx);
	if (r < 0) {
		if (r == -EEXIST)
			snprintf(err, errlen, "evpn: shadow vxlan device %s: a device of that name "
			         "exists and is not vifd's, or another vxlan device has VNI %u on UDP "
			         "port %d", e->vxname, vni, EVPN_SHADOW_PORT);
		else
			snprintf(err, errlen, "evpn: shadow vxlan device %s: %s", e->vxname,
			         strerror(-r));
		goto fail;
	}
	r = e->lport = make_link(e, e->dname, "veth", e->br, &made_l);
	if (r >= 0)
		r = make_link(e, e->pname, "", 0, &made_p); /* the peer: no address, up */
	if (r < 0) {
		snprintf(err, errlen, "evpn: shadow port %s: %s", e->dname,
		         r == -EEXIST ? "a device of that name exists and is not vifd's"
		                      : strerror(-r));
		goto fail;
	}
	r = dump_neigh(e);
	if (r < 0) {
		snprintf(err, errlen, "evpn: reading the bridge entries: %s", strerror(-r));
		goto fail;
	}
	*out = e;
	return 0;
fail:
	/* What this call made goes; what it took over stays. */
	if (made_vx)
		del_link(e, e->vx);
	if (made_l)
		del_link(e, e->lport);
	if (made_br)
		del_link(e, e->br);
	if (e->req)
		mnl_socket_close(e->req);
	if (e->ev)
		mnl_socket_close(e->ev);
	xfree(e->buf);
	xfree(e);
	return r;
}

void evpn_close(struct evpn *e, bool remove)
{
	if (!e)
		return;
	if (remove) {
		del_link(e, e->vx);
		del_link(e, e->lport);
		del_link(e, e->br);
	}
	mnl_socket_close(e->req);
	mnl_socket_close(e->ev);
	set_free(&e->remote);
	set_free(&e->local_set);
	xfree(e->buf);
	xfree(e);
}

int evpn_fd(const struct evpn *e)
{
	return mnl_socket_get_fd(e->ev);
}

/* ---- local MACs ---- */

void evpn_local_begin(struct evpn *e)
{
	e->round++;
	if (!e->round)
		e->round = 1;
}

void evpn_local_mark(struct evpn *e, const uint8_t mac[6])
{
	uint64_t k = mac_key(mac);
	int err;

	if (set_add(&e->local_set, k, e->round, &err)) {
		if (local_entry(e, k, LOCAL_ADD) < 0)
			set_del(&e->local_set, k); /* tried again next round */
	} else if (!err && (uint32_t)(k % EVPN_REFRESH_S) == e->round % EVPN_REFRESH_S) {
		/* A 60th of them each round: each one once a minute. */
		int r = local_entry(e, k, LOCAL_REFRESH);

		if (r < 0 && !e->refresh_warned) {
			vlog_warn("evpn %s: cannot refresh a local MAC in the shadow bridge (%s): "
			          "local MACs will age out in %d s", e->brname, strerror(-r),
			          EVPN_AGEING_CS / 100);
			e->refresh_warned = true;
		}
	}
}

int evpn_local_end(struct evpn *e)
{
	int changed = 0, r;

	for (size_t i = 0; i < e->local_set.cap;) {
		uint64_t k = e->local_set.k[i];

		if (!k || e->local_set.gen[i] == e->round) {
			i++;
			continue;
		}
		r = local_entry(e, k, LOCAL_DEL);
		if (r < 0 && r != -ENOENT) {
			i++; /* kept: tried again next round */
			continue;
		}
		set_del_at(&e->local_set, i); /* i now holds a shifted key, if any */
		changed++;
	}
	return changed;
}

unsigned evpn_local_count(const struct evpn *e)
{
	return (unsigned)e->local_set.n;
}

void evpn_remote_foreach(const struct evpn *e, void (*fn)(void *arg, const uint8_t mac[6], int n),
                         void *arg)
{
	for (size_t i = 0; i < e->remote.cap; i++) {
		uint8_t mac[6];
		uint64_t k = e->remote.k[i];

		if (!k)
			continue;
		for (int b = 0; b < 6; b++)
			mac[b] = (uint8_t)(k >> (40 - 8 * b));
		fn(arg, mac, (int)e->remote.gen[i]);
	}
}

bool evpn_is_remote(const struct evpn *e, const uint8_t mac[6])
{
	size_t at;

	return set_find(&e->remote, mac_key(mac), &at);
}

const char *evpn_bridge_name(const struct evpn *e)
{
	return e->brname;
}

const char *evpn_vxlan_name(const struct evpn *e)
{
	return e->vxname;
}
