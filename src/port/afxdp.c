/* afxdp.c - AF_XDP ports: an existing interface of vifd's namespace, one
 * XDP socket per queue (queue q of the port is the device's rx queue q),
 * each with its own UMEM of 4096 frames of 2 KiB: half on the fill ring
 * for receive, half for transmit. A small XDP program vifd loads itself
 * (five instructions, no object file, no bpffs) redirects every frame of
 * a queue that has a socket to it through an XSKMAP, and passes the rest
 * to the kernel. Native (driver) mode is tried first, then generic; the
 * socket binds zero-copy if the driver allows, else copy mode; each
 * fallback is logged once per port. The interface is made promiscuous
 * (a packet-socket membership the kernel drops with the socket) and
 * brought up if it was down; removal detaches the program and restores both.
 *
 * Receive copies each frame from the UMEM into the worker's buffer and puts
 * the frame straight back on the fill ring (TCP segments of one connection
 * in a row are then coalesced into one TSO frame, src/offload/ol_gro.c); transmit copies the gathered
 * frame into a free UMEM frame under a per-queue lock (several workers may
 * send on one queue; the rings are single-producer) and kicks the kernel
 * with sendto() (one system call per frame, as on the other kernel ports).
 * Frames are at most 2048 bytes: interfaces with an MTU above ~2000 lose
 * longer frames (drops.invalid / drops.down). */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "ol.h"
#include "port.h"
#include "util.h"
#include "vlog.h"
#include "xalloc.h"

enum {
	XSK_FRAME = 2048,
	XSK_NFRAMES = 4096,
	XSK_RX_FRAMES = 2048,     /* frames 0..2047 live on the fill/rx rings */
	XSK_TX_FRAMES = XSK_NFRAMES - XSK_RX_FRAMES,
	XSK_RING = 2048,
	XSK_MAP_ENTRIES = 64,     /* rx queue indexes the program looks up */
};

struct xsk_q {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	uint8_t *area;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	bool zc;                  /* bound zero-copy */
	/* Transmit side, under txlock: the ring and the free frames. */
	atomic_flag txlock;
	unsigned nfree;
	uint64_t free[XSK_TX_FRAMES];
};

struct xsk {
	int ifindex;
	int map_fd, prog_fd;
	uint32_t xdp_flags;       /* mode the program is attached in (0: not attached) */
	int promisc_fd;           /* packet socket holding a PACKET_MR_PROMISC membership */
	bool brought_up;
	struct xsk_q *q[PORT_MAX_QUEUES];
};

static void xsk_close(struct port *p)
{
	struct xsk *x = p->priv;

	if (!x)
		return;
	for (unsigned i = 0; i < PORT_MAX_QUEUES; i++) {
		struct xsk_q *q = x->q[i];
		if (!q)
			continue;
		if (q->xsk)
			xsk_socket__delete(q->xsk);
		if (q->umem)
			xsk_umem__delete(q->umem);
		if (q->area)
			munmap(q->area, (size_t)XSK_NFRAMES * XSK_FRAME);
		xfree(q);
		p->fd[i] = -1;
	}
	if (x->xdp_flags) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = x->prog_fd);
		bpf_xdp_detach(x->ifindex, x->xdp_flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST, &o);
	}
	if (x->prog_fd >= 0)
		close(x->prog_fd);
	if (x->map_fd >= 0)
		close(x->map_fd);
	if (x->promisc_fd >= 0)
		close(x->promisc_fd);
	if (x->brought_up) {
		short flags;
		if (port_if_get_flags(p->ifname, &flags) == 0)
			port_if_set_flags(p->ifname, (short)(flags & ~IFF_UP));
	}
	xfree(x);
	p->priv = NULL;
}

/* r2 = ctx->rx_queue_index; r1 = xskmap; r3 = XDP_PASS (the action when
 * the queue has no socket); return bpf_redirect_map(r1, r2, r3). */
static int load_prog(int map_fd)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1,
		  .off = offsetof(struct xdp_md, rx_queue_index) },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "vifd_xsk", "GPL", insns, ARRAY_SIZE(insns), NULL);
}

static int open_queue(struct port *p, struct xsk *x, unsigned qi, bool *copy_logged, char *err,
                      size_t errlen)
{
	const struct xsk_umem_config ucfg = {
		.fill_size = XSK_RING, .comp_size = XSK_RING, .frame_size = XSK_FRAME,
	};
	struct xsk_socket_config scfg = {
		.rx_size = XSK_RING, .tx_size = XSK_RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY,
	};
	struct xsk_q *q = xcalloc(1, sizeof(*q));
	uint32_t idx;
	int r;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->q[qi] = q;
	atomic_flag_clear(&q->txlock);
	q->area = mmap(NULL, (size_t)XSK_NFRAMES * XSK_FRAME, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (q->area == MAP_FAILED) {
		q->area = NULL;
		r = -errno;
		snprintf(err, errlen, "cannot map the UMEM: %s", strerror(-r));
		return r;
	}
	r = xsk_umem__create(&q->umem, q->area, (uint64_t)XSK_NFRAMES * XSK_FRAME, &q->fill,
	                     &q->comp, &ucfg);
	if (r < 0) {
		q->umem = NULL;
		snprintf(err, errlen, "%s: cannot register the UMEM: %s%s", p->ifname, strerror(-r),
		         r == -ENOBUFS ? " (its 8 MiB per queue count against RLIMIT_MEMLOCK: "
		                         "raise LimitMEMLOCK or grant CAP_IPC_LOCK)"
		                       : port_eperm(r, " (AF_XDP sockets need CAP_NET_RAW)"));
		return r;
	}
	r = xsk_socket__create(&q->xsk, p->ifname, qi, q->umem, &q->rx, &q->tx, &scfg);
	q->zc = r == 0;
	if (r < 0) {
		scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
		r = xsk_socket__create(&q->xsk, p->ifname, qi, q->umem, &q->rx, &q->tx, &scfg);
		if (r == 0 && !*copy_logged) {
			vlog_info("%s: AF_XDP zero-copy not available: copy mode", p->ifname);
			*copy_logged = true;
		}
	}
	if (r < 0) {
		q->xsk = NULL;
		snprintf(err, errlen, "%s: cannot bind an XDP socket to queue %u: %s%s", p->ifname,
		         qi, strerror(-r), r == -EINVAL ? " (does the device have that many queues?)" : "");
		return r;
	}
	r = xsk_socket__update_xskmap(q->xsk, x->map_fd);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot add queue %u to the XSKMAP: %s", p->ifname, qi,
		         strerror(-r));
		return r;
	}
	if (xsk_ring_prod__reserve(&q->fill, XSK_RX_FRAMES, &idx) != XSK_RX_FRAMES) {
		snprintf(err, errlen, "%s: fill ring too small", p->ifname);
		return -ENOSPC;
	}
	for (unsigned i = 0; i < XSK_RX_FRAMES; i++)
		*xsk_ring_prod__fill_addr(&q->fill, idx + i) = (uint64_t)i * XSK_FRAME;
	xsk_ring_prod__submit(&q->fill, XSK_RX_FRAMES);
	for (unsigned i = 0; i < XSK_TX_FRAMES; i++)
		q->free[q->nfree++] = (uint64_t)(XSK_RX_FRAMES + i) * XSK_FRAME;
	p->fd[qi] = xsk_socket__fd(q->xsk);
	return 0;
}

/* On restore: the program a vifd killed before it could detach it (kill
 * -9) is still attached, its sockets gone. Detaches it if it is vifd's
 * (by name; a restore is the port's own interface), so that the port can
 * attach its own; anything else is left alone and refused as before. */
static void drop_stale_prog(struct port *p, int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int fd;

	if (bpf_xdp_query(ifindex, 0, &q) < 0 || !q.prog_id)
		return;
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && !strcmp(info.name, "vifd_xsk")) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);
		uint32_t mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE :
		                q.attach_mode == XDP_ATTACHED_HW ? XDP_FLAGS_HW_MODE :
		                XDP_FLAGS_DRV_MODE;

		if (bpf_xdp_detach(ifindex, mode | XDP_FLAGS_REPLACE, &o) == 0)
			vlog_warn("%s: detached the XDP program a previous vifd left on %s",
			          p->name, p->ifname);
	}
	close(fd);
}

static int xsk_open(struct port *p, const struct port_params *pp, char *err, size_t errlen)
{
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	bool copy_logged = false;
	struct xsk *x;
	short flags;
	int r;

	if (p->netns[0]) {
		snprintf(err, errlen, "afxdp ports attach to interfaces of vifd's own namespace");
		return -EINVAL;
	}
	x = p->priv = xcalloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->map_fd = x->prog_fd = x->promisc_fd = -1;
	x->ifindex = (int)if_nametoindex(p->ifname);
	if (!x->ifindex) {
		r = -errno;
		snprintf(err, errlen, "no interface %s: %s", p->ifname, strerror(-r));
		goto fail;
	}
	x->map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "vifd_xsks", 4, 4, XSK_MAP_ENTRIES, NULL);
	if (x->map_fd < 0) {
		r = x->map_fd;
		snprintf(err, errlen, "cannot create an XSKMAP: %s%s", strerror(-r),
		         port_eperm(r, " (needs CAP_BPF or CAP_SYS_ADMIN, and CAP_NET_ADMIN)"));
		goto fail;
	}
	x->prog_fd = load_prog(x->map_fd);
	if (x->prog_fd < 0) {
		r = x->prog_fd;
		snprintf(err, errlen, "cannot load the XDP program: %s%s", strerror(-r),
		         port_eperm(r, " (needs CAP_BPF or CAP_SYS_ADMIN, and CAP_NET_ADMIN)"));
		goto fail;
	}
	if (pp->restoring)
		drop_stale_prog(p, x->ifindex);
	/* Never replace someone else's program. */
	r = bpf_xdp_attach(x->ifindex, x->prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_DRV_MODE,
	                   NULL);
	if (r == 0) {
		x->xdp_flags = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_DRV_MODE;
	} else if (r != -EBUSY && r != -EEXIST) {
		vlog_info("%s: native XDP not available (%s): generic mode", p->ifname, strerror(-r));
		r = bpf_xdp_attach(x->ifindex, x->prog_fd,
		                   XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_SKB_MODE, NULL);
		if (r == 0)
			x->xdp_flags = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_SKB_MODE;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot attach XDP to %s: %s%s", p->ifname, strerror(-r),
		         r == -EBUSY || r == -EEXIST ? " (another XDP program is attached)"
		                                     : port_eperm(r, " (needs CAP_NET_ADMIN)"));
		goto fail;
	}
	for (unsigned q = 0; q < p->nq; q++) {
		r = open_queue(p, x, q, &copy_logged, err, errlen);
		if (r < 0)
			goto fail;
	}
	x->promisc_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	mr.mr_ifindex = x->ifindex;
	if (x->promisc_fd < 0 ||
	    setsockopt(x->promisc_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot make %s promiscuous: %s%s", p->ifname, strerror(-r),
		         port_eperm(r, " (needs CAP_NET_RAW)"));
		goto fail;
	}
	r = port_if_get_flags(p->ifname, &flags);
	if (r == 0 && !(flags & IFF_UP)) {
		r = port_if_set_flags(p->ifname, (short)(flags | IFF_UP));
		x->brought_up = r == 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot bring %s up: %s%s", p->ifname, strerror(-r),
		         port_eperm(r, " (needs CAP_NET_ADMIN)"));
		goto fail;
	}
	vlog_info("%s: AF_XDP in %s mode, %u queue(s)", p->ifname,
	          x->xdp_flags & XDP_FLAGS_DRV_MODE ? "native" : "generic", p->nq);
	/* What receive coalescing makes; transmit takes nothing. */
	p->ol_in = PKT_OL_CSUM | PKT_OL_VALID | PKT_OL_TSO4 | PKT_OL_TSO6;
	p->ol_out = 0;
	return 0;
fail:
	xsk_close(p);
	return r;
}

static unsigned xsk_read(struct port *p, unsigned qi, uint8_t *buf, uint32_t *len,
                             unsigned max)
{
	struct xsk_q *q = ((struct xsk *)p->priv)->q[qi];
	uint32_t idx, fidx;
	unsigned n = xsk_ring_cons__peek(&q->rx, max, &idx);

	if (!n)
		return 0;
	/* The fill ring holds every rx frame: there is room for these. */
	if (xsk_ring_prod__reserve(&q->fill, n, &fidx) != n)
		n = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		uint64_t base = xsk_umem__extract_addr(d->addr);
		uint64_t off = d->addr - base;

		/* The kernel's descriptor, checked anyway against our UMEM. */
		if (base < (uint64_t)XSK_NFRAMES * XSK_FRAME && d->len < PORT_FRAME_MAX &&
		    off + d->len <= XSK_FRAME) {
			memcpy(buf + (size_t)i * PORT_FRAME_MAX, q->area + d->addr, d->len);
			len[i] = d->len;
		} else {
			len[i] = 0;
		}
		*xsk_ring_prod__fill_addr(&q->fill, fidx + i) = base;
	}
	xsk_ring_cons__release(&q->rx, n);
	xsk_ring_prod__submit(&q->fill, n);
	if (xsk_ring_prod__needs_wakeup(&q->fill))
		recvfrom(p->fd[qi], NULL, 0, MSG_DONTWAIT, NULL, NULL);
	return n;
}

static int xsk_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf)
{
	int n = kport_rx_frames(p, q, pkts, max, buf, xsk_read);

	/* Frames come from the wire one MTU each: TCP segments of one
	 * connection in a row become one TSO frame (src/offload/ol_gro.c). */
	return n > 1 ? (int)ol_gro(pkts, (unsigned)n, NULL) : n;
}

static int xsk_tx(struct port *p, unsigned qi, const struct iovec *iov, unsigned niov,
                  uint8_t rem)
{
	struct xsk_q *q = ((struct xsk *)p->priv)->q[qi];
	size_t total = 0;
	uint32_t idx, cidx;
	unsigned done;
	uint64_t addr;

	(void)rem;
	for (unsigned i = 0; i < niov; i++)
		total += iov[i].iov_len;
	if (total > XSK_FRAME)
		return -EMSGSIZE;
	while (atomic_flag_test_and_set_explicit(&q->txlock, memory_order_acquire))
		__builtin_ia32_pause();
	done = xsk_ring_cons__peek(&q->comp, XSK_RING, &cidx);
	for (unsigned i = 0; i < done; i++) {
		uint64_t a = *xsk_ring_cons__comp_addr(&q->comp, cidx + i);
		if (q->nfree < XSK_TX_FRAMES)
			q->free[q->nfree++] = xsk_umem__extract_addr(a);
	}
	xsk_ring_cons__release(&q->comp, done);
	if (!q->nfree || xsk_ring_prod__reserve(&q->tx, 1, &idx) != 1) {
		atomic_flag_clear_explicit(&q->txlock, memory_order_release);
		sendto(p->fd[qi], NULL, 0, MSG_DONTWAIT, NULL, 0); /* drain what is queued */
		return -EAGAIN;
	}
	addr = q->free[--q->nfree];
	for (unsigned i = 0, off = 0; i < niov; off += (unsigned)iov[i].iov_len, i++)
		memcpy(q->area + addr + off, iov[i].iov_base, iov[i].iov_len);
	xsk_ring_prod__tx_desc(&q->tx, idx)->addr = addr;
	xsk_ring_prod__tx_desc(&q->tx, idx)->len = (uint32_t)total;
	xsk_ring_prod__submit(&q->tx, 1);
	atomic_flag_clear_explicit(&q->txlock, memory_order_release);
	/* Copy mode transmits only in this system call, every time;
	 * zero-copy drivers need it when they ask (need_wakeup). EAGAIN,
	 * EBUSY, ENOBUFS: the frame stays queued for the next kick. */
	if (!q->zc || xsk_ring_prod__needs_wakeup(&q->tx))
		sendto(p->fd[qi], NULL, 0, MSG_DONTWAIT, NULL, 0);
	return 0;
}

const struct port_ops port_afxdp_ops = {
	.type = "afxdp",
	.open = xsk_open,
	.close = xsk_close,
	.rx_burst = xsk_rx_burst,
	.tx_one = xsk_tx,
	KPORT_OPS,
};
