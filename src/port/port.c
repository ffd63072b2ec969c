/* port.c - the port type table and what the types share: opening and
 * closing, running a setup step inside a named network namespace,
 * interface flags (control thread), and the parts of the driver interface
 * every kernel port type has in common (kport_*: queues, the carry buffer
 * of a frame handed back, sending one frame per system call). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <endian.h>
#include <linux/virtio_net.h>

#include "iovc.h"
#include "port.h"
#include "util.h"
#include "xalloc.h"

static const struct port_ops *const types[] = {
	&port_vhost_ops,
	&port_tap_ops,
	&port_afpacket_ops,
#ifdef VIFD_HAVE_AFXDP
	&port_afxdp_ops,
#endif
	&port_vxlan_ops,
};

const struct port_ops *port_ops_find(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(types[i]->type, type))
			return types[i];
	return NULL;
}

int port_open(const struct port_params *pp, const struct port_env *env, struct port **out,
              char *err, size_t errlen)
{
	const struct port_ops *ops = port_ops_find(pp->type);
	struct port *p;
	int r;

	if (!ops) {
		snprintf(err, errlen, "unknown port type %s", pp->type);
		return -EINVAL;
	}
	if (!pp->name || !*pp->name || strlen(pp->name) >= PORT_NAME_MAX || pp->queues < 1 ||
	    pp->queues > PORT_MAX_QUEUES) {
		snprintf(err, errlen, "bad port parameters");
		return -EINVAL;
	}
	if (ops->tx_one && ((!ops->no_ifname && (!pp->ifname || !*pp->ifname)) ||
	                    (pp->ifname && strlen(pp->ifname) >= IFNAMSIZ) ||
	                    (pp->netns && strlen(pp->netns) >= PORT_NETNS_MAX))) {
		snprintf(err, errlen, "bad port parameters");
		return -EINVAL;
	}
	p = xcalloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->ops = ops;
	p->env = env;
	snprintf(p->name, sizeof(p->name), "%s", pp->name);
	snprintf(p->ifname, sizeof(p->ifname), "%s", pp->ifname ? pp->ifname : "");
	snprintf(p->netns, sizeof(p->netns), "%s", pp->netns ? pp->netns : "");
	p->nq = pp->queues;
	for (unsigned q = 0; q < PORT_MAX_QUEUES; q++)
		p->fd[q] = -1;
	if (ops->tx_one) {
		p->carry = xcalloc(p->nq, PORT_FRAME_MAX);
		if (!p->carry) {
			xfree(p);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	err[0] = '\0';
	r = ops->open(p, pp, err, errlen);
	if (r < 0) {
		xfree(p->carry);
		xfree(p);
		return r;
	}
	*out = p;
	return 0;
}

void port_close(struct port *p)
{
	if (!p)
		return;
	p->ops->close(p);
	xfree(p->carry);
	xfree(p);
}

struct ns_job {
	int nsfd;
	int (*fn)(void *);
	void *arg;
	int res;
};

static void *ns_thread(void *arg)
{
	struct ns_job *j = arg;

	/* Only this thread moves: setns() with CLONE_NEWNET is per thread. */
	if (setns(j->nsfd, CLONE_NEWNET) < 0)
		j->res = -errno;
	else
		j->res = j->fn(j->arg);
	return NULL;
}

int port_in_netns(const char *netns, int (*fn)(void *arg), void *arg)
{
	struct ns_job j = { .fn = fn, .arg = arg };
	char path[PORT_NETNS_MAX + 32];
	pthread_t th;
	int r;

	if (!netns || !*netns)
		return fn(arg);
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	j.nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (j.nsfd < 0)
		return -errno;
	r = -pthread_create(&th, NULL, ns_thread, &j);
	if (r == 0) {
		pthread_join(th, NULL);
		r = j.res;
	}
	close(j.nsfd);
	return r;
}

static int ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	if (ioctl(s, req, ifr) < 0)
		r = -errno;
	close(s);
	return r;
}

int port_if_get_flags(const char *ifname, short *flags)
{
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	r = ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr);
	if (r == 0)
		*flags = ifr.ifr_flags;
	return r;
}

int port_if_set_flags(const char *ifname, short flags)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	return ifreq_ioctl(ifname, SIOCSIFFLAGS, &ifr);
}

/* ---- what kernel port types share ---- */

unsigned kport_queues(struct port *p, bool tx, uint16_t *ids)
{
	(void)tx;
	for (unsigned q = 0; q < p->nq; q++)
		ids[q] = (uint16_t)q;
	return p->nq;
}

int kport_queue_fd(struct port *p, unsigned q)
{
	return p->fd[q];
}

void kport_info(struct port *p, struct port_info *pi)
{
	snprintf(pi->type, sizeof(pi->type), "%s", p->ops->type);
	snprintf(pi->ifname, sizeof(pi->ifname), "%s", p->ifname);
	snprintf(pi->netns, sizeof(pi->netns), "%s", p->netns);
	pi->connected = true;
	pi->ol_in = p->ol_in;
	pi->ol_out = p->ol_out;
	pi->queue_pairs = pi->active_pairs = p->nq;
	pi->live_rx = pi->live_tx = p->nq;
}

bool kport_check(struct port *p)
{
	(void)p;
	return false;
}

bool kport_carry_take(struct port *p, unsigned q, struct pkt *pkt, uint8_t *buf)
{
	uint32_t len = p->carry_len[q];

	if (!len)
		return false;
	p->carry_len[q] = 0;
	/* (UINT32_MAX stands for a frame too long: length 0) */
	len = len == UINT32_MAX ? 0 : len;
	memcpy(buf, p->carry + (size_t)q * PORT_FRAME_MAX, len);
	kport_pkt(pkt, buf, len);
	pkt->ol = p->carry_ol[q];
	pkt->rem = p->carry_rem[q];
	return true;
}

int kport_rx_frames(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf,
                    kport_read_fn *rd)
{
	uint32_t len[32];
	unsigned n = 0, k;

	max = MIN(max, (unsigned)ARRAY_SIZE(len));
	if (max && kport_carry_take(p, q, &pkts[0], buf))
		n = 1;
	k = n < max ? rd(p, q, buf + (size_t)n * PORT_FRAME_MAX, len, max - n) : 0;
	for (unsigned i = 0; i < k; i++)
		kport_pkt(&pkts[n + i], buf + (size_t)(n + i) * PORT_FRAME_MAX, len[i]);
	return (int)(n + k);
}

void kport_rx_keep(struct port *p, unsigned q, const struct pkt *pkt, unsigned n)
{
	uint32_t len = pkt->len;

	if (NEVER(n != 1))
		return; /* kernel ports keep one frame (keeps_bursts false) */

	if (len) {
		/* (gathered: a coalesced frame, ol_gro, has several segments) */
		struct iovc s;

		iovc_init(&s, pkt->seg, pkt->nseg);
		len = (uint32_t)iovc_get(&s, p->carry + (size_t)q * PORT_FRAME_MAX,
		                         MIN(len, (uint32_t)PORT_FRAME_MAX));
	}
	p->carry_len[q] = len ? len : UINT32_MAX;
	p->carry_ol[q] = pkt->ol;
	p->carry_rem[q] = pkt->rem;
}

void kport_rx_done(struct port *p, unsigned q, const struct pkt *pkts, unsigned n)
{
	(void)p;
	(void)q;
	(void)pkts;
	(void)n;
}

bool kport_rx_arm(struct port *p, unsigned q, bool on)
{
	/* The queue's file is watched edge-triggered: the worker sleeps only
	 * after a poll found it empty, and every frame the kernel queues
	 * after that is a new edge. */
	(void)p;
	(void)q;
	(void)on;
	return true;
}

/* ---- offloads on the way out (any driver) ---- */

int port_ol_prepare(const struct pkt *pk, uint16_t tci, struct port_olx *x)
{
	int d = port_l2_delta(pk, tci);
	uint32_t len = pkt_out_len(pk, tci), n = MIN(len, (uint32_t)OL_MAX_HDR), o = 12;
	struct pkt_ol m = port_ol_out(pk, tci, PKT_OL_VALID);
	struct ol_meta om = { m.flags, m.gso_type, m.hdr_len, m.gso_size, m.csum_start,
	                      m.csum_offset };
	struct iovc s;
	int r;

	/* The headers as they leave: the MACs and the egress tag, then the
	 * source's bytes after its own MACs and tag, read once more from the
	 * source (beyond the private head) into this private copy, which is
	 * what ol_parse checks and the writers write. */
	memcpy(x->head, pk->head, 12);
	if (tci) {
		x->head[12] = 0x81;
		x->head[13] = 0x00;
		x->head[14] = (uint8_t)(tci >> 8);
		x->head[15] = (uint8_t)tci;
		o = 16;
	}
	iovc_init(&s, pk->seg, pk->nseg);
	iovc_skip(&s, pk->l2skip);
	n = o + (uint32_t)iovc_get(&s, x->head + o, n - o);
	r = ol_parse(&om, x->head, n, len, &x->f);
	if (r < 0)
		return r;
	x->pay_off = (size_t)((int)x->f.hdr_len - d);
	return 0;
}

/* ---- what kernel port types share: sending ---- */

static void vnet_put(uint8_t *h, const struct pkt_ol *o)
{
	struct virtio_net_hdr v = {
		.flags = o->flags,
		.gso_type = o->gso_type,
		.hdr_len = htole16(o->hdr_len),
		.gso_size = htole16(o->gso_size),
		.csum_start = htole16(o->csum_start),
		.csum_offset = htole16(o->csum_offset),
	};

	memcpy(h, &v, sizeof(v));
}

static inline void tx_count(struct port_txres *res, int r, uint32_t len)
{
	if (likely(r == 0)) {
		res->pkts++;
		res->bytes += len;
	} else if (r == -EAGAIN) {
		res->noroom++;
	} else if (r == -EMSGSIZE) {
		res->too_big++;
	} else {
		res->down++;
	}
}

/* A frame to a port without the offloads it needs: each output frame
 * (segment, or the frame with its checksum complete) made in the worker's
 * scratch buffer, after a virtio-net header that asks for nothing when the
 * port reads one, then sent with one tx_one. */
static void tx_soft(struct port *p, unsigned q, const struct pkt *pk, uint16_t tci,
                    uint8_t rem, uint8_t *sbuf, struct port_txres *res)
{
	struct port_olx x;
	struct iovec d = { sbuf + p->vnet, sizeof(((struct port_scratch *)0)->frame) - p->vnet };

	if (port_ol_prepare(pk, tci, &x) < 0) {
		res->offload++;
		return;
	}
	res->segmented += x.f.kind == OL_KIND_TCP || x.f.kind == OL_KIND_UDP;
	memset(sbuf, 0, p->vnet);
	for (uint32_t k = 0; k < ol_gso_count(&x.f); k++) {
		uint32_t n = ol_gso_write(&x.f, x.head, k, pk->seg, pk->nseg, x.pay_off, &d, 1);
		struct iovec iov = { sbuf, p->vnet + n };

		if (!n) {
			res->offload++;
			return;
		}
		tx_count(res, p->ops->tx_one(p, q, &iov, 1, rem), n);
	}
}

/* Sends each frame with one tx_one() on queue q, gathered from the private
 * head (the MACs, the egress tag, the rest of the head) and the rest of the
 * source's buffers, after a virtio-net header when the port reads one: a
 * frame from a guest is copied once, by the kernel. A frame needing an
 * offload the port lacks goes through tx_soft. */
unsigned port_frame_iov(const struct pkt *pk, uint16_t tci, uint8_t tag[4], struct iovec *iov)
{
	uint32_t plen = MIN(pk->len, (uint32_t)PKT_HEAD);
	unsigned n = 0;
	struct iovc s;

	iov[n++] = (struct iovec){ (void *)(uintptr_t)pk->head, 12 };
	if (tci) {
		tag[0] = 0x81;
		tag[1] = 0x00;
		tag[2] = (uint8_t)(tci >> 8);
		tag[3] = (uint8_t)tci;
		iov[n++] = (struct iovec){ tag, 4 };
	}
	if (plen > pk->l2skip)
		iov[n++] = (struct iovec){ (void *)(uintptr_t)(pk->head + pk->l2skip),
		                           plen - pk->l2skip };
	iovc_init(&s, pk->seg, pk->nseg);
	iovc_skip(&s, plen);
	for (uint32_t left = pk->len - plen; left && s.i < s.n; s.i++, s.off = 0) {
		size_t c = MIN(s.iov[s.i].iov_len - s.off, left);
		iov[n++] = (struct iovec){ (uint8_t *)s.iov[s.i].iov_base + s.off, c };
		left -= (uint32_t)c;
	}
	return n;
}

void kport_tx_burst(struct port *p, unsigned q, const struct pkt *pkts, uint32_t mask,
                    const uint16_t *tcis, const struct port_txctx *ctx, struct port_txres *res)
{
	struct iovec iov[1 + PORT_FRAME_IOV];
	uint8_t vh[16], tag[4];

	q %= p->nq;
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m), n = 0;
		const struct pkt *pk = &pkts[i];
		int r;

		if (unlikely(pkt_ol_needs(pk) & ~(p->ol_out | PKT_OL_VALID))) {
			tx_soft(p, q, pk, tcis[i], ctx->rem ? ctx->rem[i] : 0, ctx->scratch->frame, res);
			continue;
		}
		if (p->vnet) {
			struct pkt_ol o = port_ol_out(pk, tcis[i], p->ol_out);
			vnet_put(vh, &o);
			iov[n++] = (struct iovec){ vh, p->vnet };
		}
		n += port_frame_iov(pk, tcis[i], tag, iov + n);
		r = p->ops->tx_one(p, q, iov, n, ctx->rem ? ctx->rem[i] : 0);
		tx_count(res, r, pkt_out_len(pk, tcis[i]));
		res->gso += r == 0 && pk->ol.gso_type != PKT_GSO_NONE;
	}
}
