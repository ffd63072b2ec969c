/* vxlan.c - VXLAN ports (RFC 7348): the bridge's frames to and from other
 * hosts, each in a UDP datagram after an 8-byte VXLAN header, over the
 * host's own IP stack (IPv4 or IPv6, one family per port).
 *
 * A port has a VNI for its untagged frames and any number of VNIs for
 * tagged ones (vni-map: VLAN 10's frames leave untagged in VNI 100, VNI
 * 100's come in with tag 10, put in by the driver: it receives each frame 4
 * bytes into its slot to have room), a local address and UDP port (default
 * 4789) it receives on, and a table of remote endpoints (VTEPs), 1..255:
 * the MAC table maps a remote MAC to this port and one of those indices
 * (pkt.h rem); a frame to an unknown MAC, broadcast or multicast goes to
 * every remote of its VNI's flood list (head-end replication, one
 * sendmmsg). remote= at add-port puts remotes in every flood list; fdb-add
 * MAC remote=ADDR adds a remote outside them; EVPN (src/evpn, via dp)
 * fills each VNI's own, and remotes nothing refers to any more are taken
 * out (remote_gc). Datagrams from an address that is not a live remote are
 * dropped (vxlan_unknown_remote): the port takes frames only from the
 * endpoints it was told of.
 *
 * Receive: one socket bound to the local address and port, read with
 * recvmmsg straight into the worker's frame slots (the header lands in a
 * separate buffer), checked (I flag, VNI, a whole Ethernet header; the
 * reserved bits are ignored, as the RFC says) and handed over with the
 * remote's index, so that learning binds the source MAC to it. TCP
 * segments of one connection in a row are then merged into one TSO frame
 * (receive coalescing, src/offload/ol_gro.c), so a tap or guest gets a
 * 64 KiB frame where it would have had dozens.
 *
 * Transmit: the frame gathered after the header (the kernel copies it
 * once) through one of VX_TXSOCKS sockets bound to the local address with
 * ephemeral ports: the socket is chosen by a hash of the inner flow, so
 * the UDP source port spreads flows over the underlay's paths and keeps
 * each flow's order. Datagrams carry a UDP checksum (the kernel or the NIC
 * computes it; RFC 7348 §5 would have it zero over IPv4, but UDP GSO needs
 * it, and receivers take either); DF is set and nothing is fragmented
 * here: a frame that does not fit the underlay's MTU with the 50 (IPv4)
 * or 70 (IPv6) bytes of encapsulation is dropped and counted
 * (vxlan_too_big; drops.too_big). The port takes no offloads: a
 * segmentation-offload frame from a guest is segmented in software first,
 * each segment after its VXLAN header in one buffer, handed to the kernel
 * as one UDP GSO send (UDP_SEGMENT) where the kernel has it (its segments
 * must fit too: give guests an MTU 50 or 70 bytes below the underlay's, as
 * Linux gives its vxlan devices).
 *
 * Threading: the control thread opens, closes, adds and takes out remotes
 * and edits flood lists (see struct vx for how each is published); one
 * worker at a time polls the receive socket; any number of workers send
 * (the sockets are theirs to share: sendmsg is atomic). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "ol.h"
#include "port.h"
#include "util.h"
#include "vx_wire.h"
#include "xalloc.h"

enum {
	VX_DEFAULT_PORT = 4789,
	VX_MAX_REMOTES = 255,
	VX_TXSOCKS = 8,
	VX_BURST = 32,
	VX_MAP_MAX = 256,         /* vni-map entries */
	VX_REUSE_S = 2,
	VX_GSO_SEGS = 64,         /* datagrams one UDP GSO send may carry (the kernel's) */
	VX_RX_ROUNDS = 4,         /* reads in a row of refused datagrams alone */
	VX_FLOW_BYTES = 96,       /* frame bytes the flow hash looks at */
	VX_BUF = 4 << 20,         /* socket buffers asked for */
	VX_BATCH_IOV = 8,         /* iovecs of a frame sent in a batch (more: alone) */
};

union vx_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct vx_map {
	uint32_t vni;
	uint16_t vlan;
};

struct vx {
	int family;
	socklen_t salen;
	uint32_t vni;             /* of untagged frames, when untagged */
	bool untagged;
	/* vni-map: VNIs of tagged frames, by VNI (sorted) and by VLAN (its
	 * index in map + 1, 0: none). Set at open, never changed. */
	unsigned nmap;
	struct vx_map map[VX_MAP_MAX];
	uint16_t vlan_map[4096];
	uint16_t dstport;
	union vx_addr local;
	int txfd[VX_TXSOCKS];
	uint8_t hdr[VX_HDR];
	/* Remotes 1..nrem (entry 0 unused): written by the control thread,
	 * then published by a release store of nrem (a new one) or of its
	 * live flag (one taken back into use). A remote nothing refers to any
	 * more (remote_gc) is taken out: not live (never matched or sent to),
	 * its address kept (the same remote coming back takes it again); its
	 * slot goes to another address only once a later remote_gc found
	 * nothing referring to it either, and VX_REUSE_S seconds after (a
	 * worker holds a remote's index for one burst, microseconds). */
	_Atomic unsigned nrem;
	union vx_addr rem[VX_MAX_REMOTES + 1];
	_Atomic bool live[VX_MAX_REMOTES + 1];
	bool reusable[VX_MAX_REMOTES + 1];     /* control */
	uint64_t freed_ns[VX_MAX_REMOTES + 1]; /* control: when it was taken out */
	/* The flood lists: one per VNI (0: the untagged one, 1 + k: map[k]'s),
	 * indices published the same way by n; an entry taken out is replaced
	 * by the last one, then n lowered (a worker sending meanwhile may send
	 * one frame to the remote taken out, or miss the one moved). remote=
	 * endpoints are in every list. */
	struct vx_flood {
		_Atomic unsigned n;
		_Atomic uint8_t idx[VX_MAX_REMOTES];
	} fl[1 + VX_MAP_MAX];
	bool cfg_flood[VX_MAX_REMOTES + 1]; /* control: in the flood lists by remote= */
	uint8_t last;             /* receive: the remote matched last (one poller) */
	_Atomic uint64_t encap, decap, coalesced, bad, unknown_vni, unknown_remote, too_big, send_failed;
};

#define CNT(v, f, n) atomic_fetch_add_explicit(&(v)->f, (n), memory_order_relaxed)

static int parse_addr(const char *s, uint16_t port, union vx_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(port);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, s, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(port);
		return AF_INET6;
	}
	return -EINVAL;
}

/* An address a VTEP may have: one host, not unspecified, multicast,
 * limited broadcast or (IPv6) an IPv4-mapped one. */
static bool addr_unicast(const union vx_addr *a)
{
	if (a->sa.sa_family == AF_INET) {
		uint32_t h = ntohl(a->in.sin_addr.s_addr);
		return h && h != 0xffffffffu && (h >> 28) != 0xe;
	}
	return !IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr) &&
	       !IN6_IS_ADDR_MULTICAST(&a->in6.sin6_addr) &&
	       !IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr);
}

static void addr_str(const union vx_addr *a, char *buf, size_t len)
{
	const void *src = a->sa.sa_family == AF_INET ? (const void *)&a->in.sin_addr
	                                             : (const void *)&a->in6.sin6_addr;

	if (!inet_ntop(a->sa.sa_family, src, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* Same host address (ports not compared). */
static inline bool addr_eq(const union vx_addr *a, const union vx_addr *b, int family)
{
	if (family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
}

/* ---- control thread ---- */

static void vx_close(struct port *p)
{
	struct vx *v = p->priv;

	if (p->fd[0] >= 0)
		close(p->fd[0]);
	p->fd[0] = -1;
	for (unsigned i = 0; v && i < VX_TXSOCKS; i++)
		if (v->txfd[i] >= 0)
			close(v->txfd[i]);
	xfree(v);
	p->priv = NULL;
}

struct vx_sockjob {
	struct vx *v;
	int rxfd;
	const char *what;
};

static void bufsize(int fd, int opt)
{
	int sz = VX_BUF;

	/* Best effort: the kernel caps it at its *mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, opt, &sz, sizeof(sz));
}

/* In the port's namespace: the receive socket and the transmit sockets. */
static int open_socks(void *arg)
{
	static struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog none = { .len = 1, .filter = drop_all };
	struct vx_sockjob *j = arg;
	struct vx *v = j->v;
	union vx_addr a = v->local;
	/* DF set, the interface's MTU: no ICMP (which anyone may send) lowers it. */
	int one = 1, pmtu = IP_PMTUDISC_PROBE, pmtu6 = IPV6_PMTUDISC_PROBE, fd;

	j->what = "socket";
	fd = socket(v->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	j->rxfd = fd;
	if (v->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		return j->what = "IPV6_V6ONLY", -errno;
	bufsize(fd, SO_RCVBUF);
	j->what = "bind";
	if (bind(fd, &a.sa, v->salen) < 0)
		return -errno;
	if (v->family == AF_INET)
		a.in.sin_port = 0;
	else
		a.in6.sin6_port = 0;
	for (unsigned i = 0; i < VX_TXSOCKS; i++) {
		j->what = "socket";
		fd = socket(v->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
		if (fd < 0)
			return -errno;
		v->txfd[i] = fd;
		/* Only sends: whatever comes to its port is dropped at once. */
		j->what = "SO_ATTACH_FILTER";
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &none, sizeof(none)) < 0)
			return -errno;
		bufsize(fd, SO_SNDBUF);
		if (v->family == AF_INET) {
			j->what = "IP_MTU_DISCOVER";
			if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) < 0)
				return -errno;
		} else {
			j->what = "IPV6_V6ONLY";
			if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
				return -errno;
			j->what = "IPV6_MTU_DISCOVER";
			if (setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu6, sizeof(pmtu6)) < 0)
				return -errno;
		}
		j->what = "bind (transmit)";
		if (bind(fd, &a.sa, v->salen) < 0)
			return -errno;
	}
	return 0;
}

static inline int vni_index(const struct vx *v, uint32_t vni);

static void flood_add(struct vx_flood *f, unsigned i)
{
	unsigned n = atomic_load_explicit(&f->n, memory_order_relaxed), k;

	for (k = 0; k < n && atomic_load_explicit(&f->idx[k], memory_order_relaxed) != i; k++)
		;
	if (k < n)
		return;
	atomic_store_explicit(&f->idx[n], (uint8_t)i, memory_order_release);
	atomic_store_explicit(&f->n, n + 1, memory_order_release);
}

static void flood_del(struct vx_flood *f, unsigned i)
{
	unsigned n = atomic_load_explicit(&f->n, memory_order_relaxed), k;

	for (k = 0; k < n && atomic_load_explicit(&f->idx[k], memory_order_relaxed) != i; k++)
		;
	if (k == n)
		return;
	atomic_store_explicit(&f->idx[k],
	                      atomic_load_explicit(&f->idx[n - 1], memory_order_relaxed),
	                      memory_order_release);
	atomic_store_explicit(&f->n, n - 1, memory_order_release);
}

/* Whether remote i is in any flood list. */
static bool flooded(struct vx *v, unsigned i)
{
	for (unsigned l = 0; l <= v->nmap; l++) {
		unsigned n = atomic_load_explicit(&v->fl[l].n, memory_order_relaxed);
		for (unsigned k = 0; k < n; k++)
			if (atomic_load_explicit(&v->fl[l].idx[k], memory_order_relaxed) == i)
				return true;
	}
	return false;
}

/* The index of the remote at addr, added if new, or taken back into use
 * (with the same address) if it was taken out. flood: -1, none; -2, every
 * VNI's flood list (remote=: cfg); else the flood list of that VNI too. */
static int remote_add(struct port *p, const char *addr, int64_t flood, bool cfg, char *err,
                      size_t errlen)
{
	struct vx *v = p->priv;
	unsigned n = atomic_load_explicit(&v->nrem, memory_order_relaxed);
	int fk = flood >= 0 ? vni_index(v, (uint32_t)flood) : 0;
	union vx_addr a;
	unsigned i;

	if (parse_addr(addr, v->dstport, &a) != v->family) {
		snprintf(err, errlen, "remote \"%.60s\" is not an %s address (as local= is)", addr,
		         v->family == AF_INET ? "IPv4" : "IPv6");
		return -EINVAL;
	}
	if (addr_eq(&a, &v->local, v->family)) {
		snprintf(err, errlen, "remote %.60s is the port's local address", addr);
		return -EINVAL;
	}
	if (!addr_unicast(&a)) {
		snprintf(err, errlen, "remote %.60s is not one host's address (unspecified, "
		         "multicast, broadcast or IPv4-mapped)", addr);
		return -EINVAL;
	}
	if (fk < 0) {
		snprintf(err, errlen, "VNI %lld is not the port's", (long long)flood);
		return -EINVAL;
	}
	for (i = 1; i <= n && !addr_eq(&a, &v->rem[i], v->family); i++)
		;
	if (i <= n) {
		v->reusable[i] = false;
		atomic_store_explicit(&v->live[i], true, memory_order_release);
	} else if (n < VX_MAX_REMOTES) {
		v->rem[i] = a;
		atomic_store_explicit(&v->live[i], true, memory_order_relaxed);
		atomic_store_explicit(&v->nrem, i, memory_order_release);
	} else {
		/* Full: a slot taken out long enough ago, nothing referring to it. */
		uint64_t now = clk_now_ns();
		for (i = 1; i <= n; i++)
			if (!atomic_load_explicit(&v->live[i], memory_order_relaxed) && v->reusable[i] &&
			    now - v->freed_ns[i] >= (uint64_t)VX_REUSE_S * 1000000000u)
				break;
		if (i > n) {
			snprintf(err, errlen, "the port has %d remote endpoints already", VX_MAX_REMOTES);
			return -ENOSPC;
		}
		v->reusable[i] = false;
		v->rem[i] = a;
		atomic_store_explicit(&v->live[i], true, memory_order_release);
	}
	if (flood == -2) {
		for (unsigned l = 0; l <= v->nmap; l++)
			flood_add(&v->fl[l], i);
		if (cfg)
			v->cfg_flood[i] = true;
	} else if (flood >= 0) {
		flood_add(&v->fl[fk], i);
	}
	return (int)i;
}

static int vx_remote_get(struct port *p, const char *addr, int64_t flood_vni, char *err,
                         size_t errlen)
{
	return remote_add(p, addr, flood_vni >= 0 ? flood_vni : -1, false, err, errlen);
}

/* Takes out the remotes nothing refers to: refs[i] (the MAC table's
 * entries and the EVPN sync's MACs behind remote i), the flood lists,
 * remote=; marks dead[i] the remotes that are out (the caller removes the
 * MAC table's entries still referring to one: learned in the moment it
 * was taken out). A slot out with nothing referring to it may go to
 * another address. Returns how many were taken out now. */
static unsigned vx_remote_gc(struct port *p, const uint32_t *refs, uint8_t *dead)
{
	struct vx *v = p->priv;
	unsigned n = atomic_load_explicit(&v->nrem, memory_order_relaxed), freed = 0;

	for (unsigned i = 1; i <= n; i++) {
		if (!atomic_load_explicit(&v->live[i], memory_order_relaxed)) {
			dead[i] = 1;
			v->reusable[i] = !refs[i];
			continue;
		}
		if (refs[i] || v->cfg_flood[i] || flooded(v, i))
			continue;
		atomic_store_explicit(&v->live[i], false, memory_order_release);
		v->reusable[i] = false; /* not before a later pass agrees */
		v->freed_ns[i] = clk_now_ns();
		dead[i] = 1;
		freed++;
	}
	return freed;
}

static void vx_remote_unflood(struct port *p, const char *addr, uint32_t vni)
{
	struct vx *v = p->priv;
	unsigned n = atomic_load_explicit(&v->nrem, memory_order_relaxed);
	int fk = vni_index(v, vni);
	union vx_addr a;
	unsigned i;

	if (fk < 0 || parse_addr(addr, v->dstport, &a) != v->family)
		return;
	for (i = 1; i <= n && !addr_eq(&a, &v->rem[i], v->family); i++)
		;
	if (i > n || v->cfg_flood[i])
		return; /* (remote= endpoints stay: they are the operator's) */
	flood_del(&v->fl[fk], i);
}

static void vx_remote_name(struct port *p, uint8_t rem, char *buf, size_t len, bool *flood)
{
	struct vx *v = p->priv;

	buf[0] = '\0';
	*flood = false;
	if (!rem || rem > atomic_load_explicit(&v->nrem, memory_order_acquire) ||
	    !atomic_load_explicit(&v->live[rem], memory_order_acquire))
		return;
	addr_str(&v->rem[rem], buf, len);
	*flood = flooded(v, rem);
}

static int map_cmp(const void *a, const void *b)
{
	const struct vx_map *x = a, *y = b;

	return x->vni < y->vni ? -1 : x->vni > y->vni;
}

/* vni-map=VLAN:VNI,...: each VLAN (1..4094) and VNI (0..2^24-1) once, no VNI
 * equal to vni=. */
static int parse_map(struct vx *v, const char *s, char *err, size_t errlen)
{
	static bool vlan_seen[4096];
	const char *p = s;

	memset(vlan_seen, 0, sizeof(vlan_seen)); /* (control thread only) */
	while (*p) {
		char *end;
		unsigned long vlan, vni;

		if (*p < '0' || *p > '9')
			goto bad;
		vlan = strtoul(p, &end, 10);
		if (*end != ':' || vlan < 1 || vlan > 4094 || end[1] < '0' || end[1] > '9')
			goto bad;
		p = end + 1;
		vni = strtoul(p, &end, 10);
		if ((*end && *end != ',') || vni >= 1ul << 24)
			goto bad;
		p = *end ? end + 1 : end;
		if (vlan_seen[vlan] || (v->untagged && vni == v->vni)) {
			snprintf(err, errlen, "vni-map: VLAN %lu or VNI %lu given twice", vlan, vni);
			return -EINVAL;
		}
		for (unsigned i = 0; i < v->nmap; i++)
			if (v->map[i].vni == vni) {
				snprintf(err, errlen, "vni-map: VNI %lu given twice", vni);
				return -EINVAL;
			}
		if (v->nmap == VX_MAP_MAX) {
			snprintf(err, errlen, "vni-map: at most %d entries", VX_MAP_MAX);
			return -EINVAL;
		}
		v->map[v->nmap++] = (struct vx_map){ (uint32_t)vni, (uint16_t)vlan };
		vlan_seen[vlan] = true;
		if (*end == ',' && !end[1])
			goto bad; /* a trailing comma */
	}
	if (!v->nmap && !v->untagged)
		goto bad;
	qsort(v->map, v->nmap, sizeof(v->map[0]), map_cmp);
	for (unsigned k = 0; k < v->nmap; k++)
		v->vlan_map[v->map[k].vlan] = (uint16_t)(k + 1);
	return 0;
bad:
	snprintf(err, errlen, "vni-map: \"%.60s\" is not VLAN:VNI,... (VLAN 1..4094, VNI "
	         "0..16777215)", s);
	return -EINVAL;
}

/* The index of a VNI of the port (0: the untagged one, 1 + k: map[k]),
 * or -1. */
static inline int vni_index(const struct vx *v, uint32_t vni)
{
	unsigned lo = 0, hi = v->nmap;

	if (v->untagged && vni == v->vni)
		return 0;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (v->map[mid].vni == vni)
			return (int)mid + 1;
		if (v->map[mid].vni < vni)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The VLAN frames of VNI index k have in the switch (0: untagged). */
static inline uint16_t index_vlan(const struct vx *v, int k)
{
	return k ? v->map[k - 1].vlan : 0;
}

/* Where a frame leaving with egress tag tci goes: the index of its VNI
 * (the VLAN's in vni-map; else the untagged one, the tag kept inside:
 * *keep), or -1 if the port has none for it. */
static inline int tci_index(const struct vx *v, uint16_t tci, bool *keep)
{
	unsigned m = tci ? v->vlan_map[tci & 0xfff] : 0;

	*keep = false;
	if (m)
		return (int)m;
	*keep = tci != 0;
	return v->untagged ? 0 : -1;
}

static inline uint32_t index_vni(const struct vx *v, int k)
{
	return k ? v->map[k - 1].vni : v->vni;
}

static int vx_open(struct port *p, const struct port_params *pp, char *err, size_t errlen)
{
	const struct port_vxlan_params *xp = pp->vx;
	struct vx_sockjob j = { .rxfd = -1 };
	struct vx *v;
	char *list = NULL, *save = NULL, *tok;
	int r;

	if (!xp || !xp->local || (!xp->has_vni && !xp->vni_map)) {
		snprintf(err, errlen, "a vxlan port needs local= and vni= (or vni-map=)");
		return -EINVAL;
	}
	if (xp->has_vni && xp->vni >= 1u << 24) {
		snprintf(err, errlen, "vni must be 0..%u", (1u << 24) - 1);
		return -EINVAL;
	}
	if (p->nq != 1) {
		snprintf(err, errlen, "a vxlan port has one queue");
		return -EINVAL;
	}
	v = p->priv = xcalloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < VX_TXSOCKS; i++)
		v->txfd[i] = -1;
	v->vni = xp->vni;
	v->untagged = xp->has_vni;
	if (xp->vni_map && (r = parse_map(v, xp->vni_map, err, errlen)) < 0)
		goto fail;
	v->dstport = xp->dstport ? xp->dstport : VX_DEFAULT_PORT;
	v->family = parse_addr(xp->local, v->dstport, &v->local);
	if (v->family < 0) {
		snprintf(err, errlen, "local \"%.60s\" is not an IPv4 or IPv6 address", xp->local);
		r = -EINVAL;
		goto fail;
	}
	v->salen = v->family == AF_INET ? sizeof(v->local.in) : sizeof(v->local.in6);
	if (!addr_unicast(&v->local)) {
		snprintf(err, errlen, "local %.60s is not one host's address", xp->local);
		r = -EINVAL;
		goto fail;
	}
	vx_hdr_put(v->hdr, v->vni);
	if (xp->remote && *xp->remote) {
		size_t len = strlen(xp->remote);
		list = xcalloc(1, len + 1);
		if (list)
			memcpy(list, xp->remote, len);
		if (!list) {
			snprintf(err, errlen, "out of memory");
			r = -ENOMEM;
			goto fail;
		}
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			r = remote_add(p, tok, -2, true, err, errlen);
			if (r < 0)
				goto fail;
		}
		xfree(list);
		list = NULL;
	}
	j.v = v;
	r = port_in_netns(p->netns, open_socks, &j);
	p->fd[0] = j.rxfd;
	if (r < 0) {
		char a[INET6_ADDRSTRLEN];
		addr_str(&v->local, a, sizeof(a));
		if (!j.what)
			snprintf(err, errlen, "network namespace %s: %s", p->netns, strerror(-r));
		else if (r == -EADDRINUSE && !strcmp(j.what, "bind"))
			snprintf(err, errlen, "UDP port %u on %s is taken (a kernel vxlan device, or "
			         "another VXLAN port: one port per local address and UDP port, which carries "
			         "several VNIs with vni-map=)",
			         v->dstport, a);
		else if (r == -EADDRNOTAVAIL)
			snprintf(err, errlen, "%s is not an address of this host%s%s", a,
			         p->netns[0] ? " in netns " : "", p->netns);
		else
			snprintf(err, errlen, "%s: %s", j.what, strerror(-r));
		goto fail;
	}
	p->vnet = 0;
	/* Receive coalescing (ol_gro) makes TSO frames with NEEDS_CSUM; the
	 * port takes nothing (vx_tx_soft does it all). */
	p->ol_in = PKT_OL_CSUM | PKT_OL_TSO4 | PKT_OL_TSO6;
	p->ol_out = 0;
	return 0;
fail:
	xfree(list);
	vx_close(p);
	return r;
}

static void vx_info(struct port *p, struct port_info *pi)
{
	struct vx *v = p->priv;

	kport_info(p, pi);
	pi->vx = true;
	pi->vx_vni = v->vni;
	pi->vx_untagged = v->untagged;
	for (unsigned i = 0, o = 0; i < v->nmap; i++) {
		int w = snprintf(pi->vx_map + o, sizeof(pi->vx_map) - o, "%s%u:%u", i ? "," : "",
		                 v->map[i].vlan, v->map[i].vni);
		if (w < 0 || (size_t)w >= sizeof(pi->vx_map) - o - 4) {
			snprintf(pi->vx_map + o, sizeof(pi->vx_map) - o, ",...");
			break;
		}
		o += (unsigned)w;
	}
	pi->vx_dstport = v->dstport;
	addr_str(&v->local, pi->vx_local, sizeof(pi->vx_local));
	for (unsigned i = 1, n = atomic_load_explicit(&v->nrem, memory_order_acquire); i <= n; i++)
		pi->vx_remotes += atomic_load_explicit(&v->live[i], memory_order_relaxed);
	for (unsigned i = 1, n = atomic_load_explicit(&v->nrem, memory_order_acquire); i <= n; i++)
		pi->vx_flood += atomic_load_explicit(&v->live[i], memory_order_relaxed) &&
		                flooded(v, i);
	pi->vx_encap = atomic_load_explicit(&v->encap, memory_order_relaxed);
	pi->vx_decap = atomic_load_explicit(&v->decap, memory_order_relaxed);
	pi->vx_coalesced = atomic_load_explicit(&v->coalesced, memory_order_relaxed);
	pi->vx_bad = atomic_load_explicit(&v->bad, memory_order_relaxed);
	pi->vx_unknown_vni = atomic_load_explicit(&v->unknown_vni, memory_order_relaxed);
	pi->vx_unknown_remote = atomic_load_explicit(&v->unknown_remote, memory_order_relaxed);
	pi->vx_too_big = atomic_load_explicit(&v->too_big, memory_order_relaxed);
	pi->vx_send_failed = atomic_load_explicit(&v->send_failed, memory_order_relaxed);
}

/* ---- workers ---- */

/* The remote a datagram came from, 0 if it is none of the port's. */
static inline uint8_t rem_find(struct vx *v, const union vx_addr *src)
{
	unsigned n = atomic_load_explicit(&v->nrem, memory_order_acquire);

	if (src->sa.sa_family != v->family)
		return 0;
	if (v->last && v->last <= n && atomic_load_explicit(&v->live[v->last], memory_order_acquire) &&
	    addr_eq(src, &v->rem[v->last], v->family))
		return v->last;
	for (unsigned i = 1; i <= n; i++)
		if (atomic_load_explicit(&v->live[i], memory_order_acquire) &&
		    addr_eq(src, &v->rem[i], v->family))
			return v->last = (uint8_t)i;
	return 0;
}

/* Before the worker sleeps: frames waiting (or refused ones, which the
 * next rx_burst counts) keep it awake. */
static bool vx_rx_arm(struct port *p, unsigned q, bool on)
{
	char c;

	return !on || recv(p->fd[q], &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0;
}

/* Checks the k datagrams of mm and hands those it takes to pkts[n..]:
 * returns the new count. */
static unsigned rx_take(struct vx *v, struct mmsghdr *mm, struct iovec (*iov)[2],
                        uint8_t (*hdr)[VX_HDR], const union vx_addr *src, int k, unsigned n,
                        struct pkt *pkts, uint64_t *bad, uint64_t *other, uint64_t *unknown)
{
	unsigned out = n;
	uint8_t *f;
	int vlan;

	for (int i = 0; i < k; i++) {
		uint32_t len = mm[i].msg_len;
		uint8_t r = rem_find(v, &src[i]);

		if (!r) {
			(*unknown)++;
			continue;
		}
		if ((mm[i].msg_hdr.msg_flags & MSG_TRUNC) || len >= PORT_FRAME_MAX) {
			(*bad)++;
			continue;
		}
		if (!vx_hdr_ok(hdr[i], len)) {
			(*bad)++;
			continue;
		}
		vlan = vni_index(v, vx_hdr_vni(hdr[i]));
		if (vlan < 0) {
			(*other)++;
			continue;
		}
		vlan = index_vlan(v, vlan);
		/* The frame is 4 bytes into its slot: room for the tag of a
		 * vni-map VLAN, put after its MACs. */
		f = (uint8_t *)iov[i][1].iov_base;
		if (vlan) {
			memmove(f - 4, f, 12);
			f -= 4;
			f[12] = 0x81;
			f[13] = 0x00;
			f[14] = (uint8_t)(vlan >> 8);
			f[15] = (uint8_t)vlan;
		}
		kport_pkt(&pkts[out], f, len - VX_HDR + (vlan ? 4 : 0));
		pkts[out++].rem = r;
	}
	return out;
}

static int vx_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf)
{
	struct vx *v = p->priv;
	struct mmsghdr mm[VX_BURST];
	struct iovec iov[VX_BURST][2];
	uint8_t hdr[VX_BURST][VX_HDR];
	union vx_addr src[VX_BURST];
	uint64_t bad = 0, other = 0, unknown = 0;
	unsigned n = 0, out, want;
	int k;

	max = MIN(max, (unsigned)VX_BURST);
	if (max && kport_carry_take(p, q, &pkts[0], buf))
		n = 1;
	if (n == max)
		return (int)n;
	want = max - n;
	out = n;
	/* Datagrams refused here must not look like an empty socket: while a
	 * whole read was refused, read on (a few times; rx_arm then says
	 * whether more is there before the worker sleeps). */
	for (unsigned round = 0; round < VX_RX_ROUNDS && out == n; round++) {
		for (unsigned i = 0; i < want; i++) {
			iov[i][0] = (struct iovec){ hdr[i], VX_HDR };
			iov[i][1] = (struct iovec){ buf + (size_t)(n + i) * PORT_FRAME_MAX + 4,
			                            PORT_FRAME_MAX - 4 };
			mm[i].msg_hdr = (struct msghdr){ .msg_name = &src[i],
			                                 .msg_namelen = sizeof(src[i]),
			                                 .msg_iov = iov[i], .msg_iovlen = 2 };
		}
		k = recvmmsg(p->fd[q], mm, want, MSG_DONTWAIT, NULL);
		out = rx_take(v, mm, iov, hdr, src, k, n, pkts, &bad, &other, &unknown);
		if (k < (int)want)
			break;
	}
	if (out > n) {
		unsigned merged;

		CNT(v, decap, out - n);
		/* TCP segments of one connection in a row become one frame. */
		out = ol_gro(pkts, out, &merged);
		if (merged)
			CNT(v, coalesced, merged);
	}
	if (unlikely(bad | other | unknown)) {
		CNT(v, bad, bad);
		CNT(v, unknown_vni, other);
		CNT(v, unknown_remote, unknown);
	}
	return (int)out;
}

/* A hash of the inner flow: MACs, and the IP addresses, protocol and ports
 * when they are there (not for a later fragment), read from the first
 * bytes of the frame in iov. */
static uint32_t flow_hash(const struct iovec *iov, unsigned niov)
{
	uint8_t f[VX_FLOW_BYTES];
	size_t n = 0, o = 12, l4 = 0;
	uint32_t h = 2166136261u;
	unsigned et, proto = 0;

	for (unsigned i = 0; i < niov && n < sizeof(f); i++) {
		size_t c = MIN(iov[i].iov_len, sizeof(f) - n);
		memcpy(f + n, iov[i].iov_base, c);
		n += c;
	}
#define MIX(p, len)                                            \
	for (size_t x_ = 0; x_ < (len); x_++)                  \
		h = (h ^ (p)[x_]) * 16777619u
	MIX(f, MIN(n, (size_t)12));
	if (n < 14)
		return h;
	et = (unsigned)f[12] << 8 | f[13];
	if (et == 0x8100 && n >= 18) {
		o = 16;
		et = (unsigned)f[16] << 8 | f[17];
	}
	o += 2;
	if (et == 0x0800 && n >= o + 20) {
		unsigned ihl = (f[o] & 15u) * 4;
		MIX(f + o + 12, 8);
		proto = f[o + 9];
		if (!(((unsigned)f[o + 6] << 8 | f[o + 7]) & 0x1fff))
			l4 = o + ihl;
	} else if (et == 0x86dd && n >= o + 40) {
		MIX(f + o + 8, 32);
		proto = f[o + 6];
		l4 = o + 40;
	}
	if ((proto == 6 || proto == 17) && l4 && n >= l4 + 4)
		MIX(f + l4, 4);
#undef MIX
	return h ^ proto;
}

static inline int send_errno(struct vx *v, int e)
{
	if (e == EMSGSIZE) {
		CNT(v, too_big, 1);
		return -EMSGSIZE;
	}
	if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
		return -EAGAIN;
	return -ENETDOWN;
}

/* Sends the datagram gathered from vi (its VXLAN header first) to remote
 * rem, or to every remote of the flood list (rem 0); with gso, vi holds
 * nseg datagrams of gso bytes each (the last may be shorter) for the kernel
 * to cut (UDP_SEGMENT). 0 if any remote got it, else -errno as tx_one. */
static int vx_send(struct vx *v, const struct vx_flood *fl, int fd, struct iovec *vi,
                   unsigned niov, uint8_t rem, uint16_t gso, unsigned nseg)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct mmsghdr mm[VX_MAX_REMOTES];
	unsigned nrem = atomic_load_explicit(&v->nrem, memory_order_acquire), nf, sent = 0;
	struct msghdr mh = { .msg_namelen = v->salen, .msg_iov = vi, .msg_iovlen = niov };
	int k, e = EAGAIN;

	if (gso && nseg > 1) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
	}
	if (rem) {
		/* (a remote taken out since the lookup: its address is cleared) */
		if (rem > nrem || !atomic_load_explicit(&v->live[rem], memory_order_acquire))
			return -ENETDOWN;
		mh.msg_name = &v->rem[rem];
		if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0) {
			if (errno == EMSGSIZE)
				CNT(v, too_big, nseg);
			return errno == EMSGSIZE ? -EMSGSIZE : send_errno(v, errno);
		}
		CNT(v, encap, nseg);
		return 0;
	}
	/* Head-end replication: one datagram per remote of the flood list. */
	nf = atomic_load_explicit(&fl->n, memory_order_acquire);
	if (!nf)
		return -ENETDOWN; /* no flood list: counted as drops.down */
	for (unsigned i = 0; i < nf; i++) {
		mm[i].msg_hdr = mh;
		mm[i].msg_hdr.msg_name =
			&v->rem[atomic_load_explicit(&fl->idx[i], memory_order_acquire)];
	}
	/* sendmmsg stops at a remote it cannot send to: skip that one (counted)
	 * and go on with the rest, so that one remote's trouble does not cost
	 * the others; a full socket buffer ends the round for all. */
	for (unsigned i = 0; i < nf;) {
		k = sendmmsg(fd, mm + i, nf - i, MSG_DONTWAIT);
		if (k > 0) {
			sent += (unsigned)k;
			i += (unsigned)k;
			continue;
		}
		e = k < 0 ? errno : EAGAIN;
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
			CNT(v, send_failed, (uint64_t)(nf - i) * nseg);
			break;
		}
		if (e == EMSGSIZE)
			CNT(v, too_big, nseg);
		else
			CNT(v, send_failed, nseg);
		i++;
	}
	if (!sent) /* (each refusal counted above) */
		return e == EMSGSIZE ? -EMSGSIZE
		       : e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS ? -EAGAIN : -ENETDOWN;
	CNT(v, encap, (uint64_t)sent * nseg);
	return 0;
}

static int vx_tx(struct port *p, unsigned q, const struct iovec *iov, unsigned niov, uint8_t rem)
{
	struct vx *v = p->priv;
	struct iovec vi[5 + PKT_MAX_SEGS];

	(void)q;
	if (NEVER(niov >= ARRAY_SIZE(vi)))
		return -EINVAL;
	vi[0] = (struct iovec){ v->hdr, VX_HDR };
	memcpy(&vi[1], iov, niov * sizeof(*iov));
	return vx_send(v, &v->fl[0], v->txfd[flow_hash(iov, niov) % VX_TXSOCKS], vi, niov + 1, rem,
	               0, 1);
}

static inline void tx_count(struct port_txres *res, int r, unsigned nseg, uint64_t bytes)
{
	if (r == 0) {
		res->pkts += nseg;
		res->bytes += bytes;
	} else if (r == -EAGAIN) {
		res->noroom += nseg;
	} else if (r == -EMSGSIZE) {
		res->too_big += nseg;
	} else {
		res->down += nseg;
	}
}

/* A frame needing an offload (TCP or UDP segmentation, or a checksum to
 * finish): its output frames made in the worker's scratch buffer, each
 * after its VXLAN header hdr, then handed to the kernel in as few sends as
 * the buffer allows: several segments as one UDP GSO send (the kernel, or
 * the NIC, cuts them into datagrams; a kernel that refuses gets them one by
 * one). The frame leaves with tag tci (0: untagged). */
static void vx_tx_soft(struct port *p, const struct pkt *pk, uint16_t tci,
                       const struct vx_flood *fl, const uint8_t *hdr, uint8_t rem,
                       uint8_t *buf, size_t cap, struct port_txres *res)
{
	struct vx *v = p->priv;
	struct port_olx x;
	uint32_t n, stride, per;
	int fd = -1;

	if (port_ol_prepare(pk, tci, &x) < 0) {
		res->offload++;
		return;
	}
	n = ol_gso_count(&x.f);
	stride = VX_HDR + ol_gso_len(&x.f, 0);
	per = MIN((uint32_t)(cap / stride), (uint32_t)VX_GSO_SEGS);
	if (!n || !per) {
		res->offload++;
		return;
	}
	res->segmented += x.f.kind == OL_KIND_TCP || x.f.kind == OL_KIND_UDP;
	for (uint32_t k = 0; k < n; k += per) {
		uint32_t m = MIN(per, n - k);
		size_t off = 0;
		struct iovec vi;
		int r;

		for (uint32_t j = 0; j < m; j++) {
			struct iovec d = { buf + off + VX_HDR, stride - VX_HDR };
			uint32_t len = ol_gso_write(&x.f, x.head, k + j, pk->seg, pk->nseg, x.pay_off,
			                            &d, 1);
			if (!len) {
				res->offload++;
				return;
			}
			memcpy(buf + off, hdr, VX_HDR);
			off += VX_HDR + len;
		}
		if (fd < 0) {
			struct iovec f0 = { buf + VX_HDR, stride - VX_HDR };
			fd = v->txfd[flow_hash(&f0, 1) % VX_TXSOCKS];
		}
		vi = (struct iovec){ buf, off };
		r = vx_send(v, fl, fd, &vi, 1, rem, (uint16_t)stride, m);
		if (m > 1 && (r == -EINVAL || r == -ENETDOWN)) {
			/* No UDP GSO here (or on this path): one datagram each. */
			for (size_t o = 0; o < off; o += stride) {
				struct iovec one = { buf + o, MIN((size_t)stride, off - o) };
				tx_count(res, vx_send(v, fl, fd, &one, 1, rem, 0, 1), 1,
				         one.iov_len - VX_HDR);
			}
			continue;
		}
		tx_count(res, r, m, off - (size_t)m * VX_HDR);
	}
}

/* A burst's frames to one remote each, gathered for one sendmmsg per run
 * of frames that hash to the same socket: entries [b0, n) go to fd. */
struct vx_batch {
	struct mmsghdr mm[VX_BURST];
	struct iovec iov[VX_BURST][VX_BATCH_IOV];
	uint8_t hdr[VX_BURST][VX_HDR];
	uint8_t tag[VX_BURST][4];
	uint32_t bytes[VX_BURST];
	unsigned b0, n;
	int fd;
};

static void batch_flush(struct vx *v, struct vx_batch *b, struct port_txres *res)
{
	unsigned i = b->b0;

	while (i < b->n) {
		int k = sendmmsg(b->fd, b->mm + i, b->n - i, MSG_DONTWAIT), r;

		if (k > 0) {
			for (unsigned j = i; j < i + (unsigned)k; j++)
				tx_count(res, 0, 1, b->bytes[j]);
			CNT(v, encap, (unsigned)k);
			i += (unsigned)k;
			continue;
		}
		/* sendmmsg stops at a datagram it cannot send: a full buffer
		 * ends the batch, anything else costs that datagram only. */
		r = send_errno(v, k < 0 ? errno : EAGAIN);
		if (r == -EAGAIN) {
			tx_count(res, r, b->n - i, 0);
			break;
		}
		tx_count(res, r, 1, 0);
		i++;
	}
	b->b0 = b->n;
}

/* Each frame in its VNI: a vni-map VLAN's frames untagged in the VLAN's
 * VNI; others (untagged, or of a VLAN not in vni-map, the tag kept inside)
 * in the untagged VNI, if the port has one (else not sent: drops.down); as
 * it is (gathered; a frame to one remote in a batch, see struct vx_batch;
 * a flooded one in its own sendmmsg), or through vx_tx_soft when it needs
 * an offload. Frames leave in the burst's order per socket. */
static void vx_tx_burst(struct port *p, unsigned q, const struct pkt *pkts, uint32_t mask,
                        const uint16_t *tcis, const struct port_txctx *ctx,
                        struct port_txres *res)
{
	struct vx *v = p->priv;
	struct iovec iov[1 + PORT_FRAME_IOV];
	uint8_t hdr[VX_HDR], tag[4], *sbuf = ctx->scratch->frame;
	const size_t scap = sizeof(ctx->scratch->frame);
	size_t soff = 0; /* scratch bytes the batch's software-made frames hold */
	struct vx_batch b;
	unsigned nrem = atomic_load_explicit(&v->nrem, memory_order_acquire);

	(void)q;
	b.b0 = b.n = 0;
	b.fd = -1;
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m), n;
		const struct pkt *pk = &pkts[i];
		uint8_t rem = ctx->rem ? ctx->rem[i] : 0;
		bool keep, soft = pkt_ol_needs(pk) & ~PKT_OL_VALID;
		int k = tci_index(v, tcis[i], &keep), r, fd;
		uint16_t tci = keep ? tcis[i] : 0;
		struct iovec *bi = b.iov[b.n];
		struct port_olx x;

		if (unlikely(k < 0)) {
			res->down++;
			continue;
		}
		/* To one remote: into the batch, gathered as it is, or made in
		 * the scratch buffer when it needs a checksum finished (or is a
		 * segmentation-offload frame of one segment). */
		if (likely(rem && rem <= nrem) && (soft || pk->nseg + 4u <= VX_BATCH_IOV)) {
			/* (a remote taken out since the lookup: down, as vx_send) */
			if (!atomic_load_explicit(&v->live[rem], memory_order_acquire)) {
				res->down++;
				continue;
			}
			if (!soft) {
				n = 1 + port_frame_iov(pk, tci, b.tag[b.n], bi + 1);
				b.bytes[b.n] = pkt_out_len(pk, tci);
			} else if (port_ol_prepare(pk, tci, &x) < 0) {
				res->offload++;
				continue;
			} else if (ol_gso_count(&x.f) == 1) {
				uint32_t len;

				if (scap - soff < x.f.len) {
					if (b.n > b.b0)
						batch_flush(v, &b, res);
					soff = 0;
				}
				bi[1] = (struct iovec){ sbuf + soff, scap - soff };
				len = ol_gso_write(&x.f, x.head, 0, pk->seg, pk->nseg, x.pay_off,
				                   &bi[1], 1);
				if (!len) {
					res->offload++;
					continue;
				}
				res->segmented += x.f.kind == OL_KIND_TCP || x.f.kind == OL_KIND_UDP;
				bi[1].iov_len = len;
				soff += (len + 63) & ~(size_t)63;
				n = 2;
				b.bytes[b.n] = len;
			} else {
				goto alone;
			}
			vx_hdr_put(b.hdr[b.n], index_vni(v, k));
			bi[0] = (struct iovec){ b.hdr[b.n], VX_HDR };
			fd = v->txfd[flow_hash(bi + 1, n - 1) % VX_TXSOCKS];
			if (fd != b.fd && b.n > b.b0)
				batch_flush(v, &b, res);
			b.fd = fd;
			b.mm[b.n++].msg_hdr = (struct msghdr){ .msg_name = &v->rem[rem],
			                                       .msg_namelen = v->salen,
			                                       .msg_iov = bi, .msg_iovlen = n };
			continue;
		}
	alone:
		/* Flooded, long chains, or many segments: after what the batch
		 * holds (vx_tx_soft takes the whole scratch buffer). */
		if (b.n > b.b0)
			batch_flush(v, &b, res);
		soff = 0;
		vx_hdr_put(hdr, index_vni(v, k));
		if (unlikely(soft)) {
			vx_tx_soft(p, pk, tci, &v->fl[k], hdr, rem, sbuf, scap, res);
			continue;
		}
		iov[0] = (struct iovec){ hdr, VX_HDR };
		n = 1 + port_frame_iov(pk, tci, tag, iov + 1);
		r = vx_send(v, &v->fl[k], v->txfd[flow_hash(iov + 1, n - 1) % VX_TXSOCKS], iov, n, rem,
		            0, 1);
		tx_count(res, r, 1, pkt_out_len(pk, tci));
	}
	if (b.n > b.b0)
		batch_flush(v, &b, res);
}

static unsigned vx_vnis(struct port *p, uint32_t *vni, uint16_t *vlan, unsigned max)
{
	struct vx *v = p->priv;
	unsigned n = 0;

	if (v->untagged && n < max) {
		vni[n] = v->vni;
		vlan[n++] = 0;
	}
	for (unsigned i = 0; i < v->nmap && n < max; i++) {
		vni[n] = v->map[i].vni;
		vlan[n++] = v->map[i].vlan;
	}
	return n;
}

const struct port_ops port_vxlan_ops = {
	.type = "vxlan",
	.open = vx_open,
	.close = vx_close,
	.rx_burst = vx_rx_burst,
	.tx_one = vx_tx,
	.no_ifname = true,
	.remote_get = vx_remote_get,
	.remote_unflood = vx_remote_unflood,
	.remote_gc = vx_remote_gc,
	.remote_name = vx_remote_name,
	.vnis = vx_vnis,
	.queues = kport_queues,
	.queue_fd = kport_queue_fd,
	.info = vx_info,
	.check = kport_check,
	.rx_keep = kport_rx_keep,
	.rx_done = kport_rx_done,
	.rx_arm = vx_rx_arm,
	.tx_burst = vx_tx_burst,
};
