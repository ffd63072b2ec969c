/* afpacket.c - AF_PACKET ports: an existing interface of vifd's network
 * namespace, one packet socket per queue with a TPACKET_V3 receive ring
 * (PACKET_FANOUT_HASH spreads flows over the queues when there are
 * several), promiscuous through a PACKET_MR_PROMISC membership, which the
 * kernel drops with the last socket: removing the port (or vifd exiting)
 * restores the interface's promiscuity. An interface that was down is
 * brought up, and down again on removal.
 *
 * Receive: the worker walks the ring's blocks, copies each frame into its
 * private buffer (re-inserting the 802.1Q tag the kernel took out into
 * metadata) and gives the block back. Transmit: one send() per frame
 * (PACKET_QDISC_BYPASS), gathered from an iovec array.
 *
 * Offloads: the sockets carry a virtio-net header with every frame
 * (PACKET_VNET_HDR), as a tap does: a 64 KiB segmentation-offload frame or
 * one whose checksum is left to finish (what the other end of a veth with
 * its default offloads sends) comes with its metadata, crosses vifd whole
 * to the ports that take it, and the kernel takes the same from vifd (it
 * segments for a device that cannot). Blocks are 256 KiB so such a frame
 * fits one.
 *
 * TPACKET_V3 hands over a block when it is full or after the retire
 * timeout (1 ms, a jiffy or more in practice): at low rates frames wait
 * up to that long. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port.h"
#include "util.h"
#include "xalloc.h"

enum {
	AFP_BLOCK_SIZE = 1 << 18, /* a 64 KiB offload frame and its headers fit */
	AFP_NBLOCKS = 16,         /* 4 MiB of ring per queue */
	AFP_RETIRE_MS = 1,
	AFP_VNET = sizeof(struct virtio_net_hdr),
};

struct afp_ring {
	uint8_t *map;
	unsigned cur;            /* block the worker reads next */
	unsigned left;           /* frames of block cur still to read */
	uint32_t off;            /* offset of the next frame in block cur (0: block not started) */
};

struct afp {
	int ifindex;
	bool brought_up;
	struct afp_ring ring[PORT_MAX_QUEUES];
};

static void afp_close(struct port *p)
{
	struct afp *a = p->priv;

	for (unsigned q = 0; q < PORT_MAX_QUEUES; q++) {
		if (a && a->ring[q].map)
			munmap(a->ring[q].map, (size_t)AFP_BLOCK_SIZE * AFP_NBLOCKS);
		if (p->fd[q] >= 0)
			close(p->fd[q]);
		p->fd[q] = -1;
	}
	if (a && a->brought_up) {
		short flags;
		if (port_if_get_flags(p->ifname, &flags) == 0)
			port_if_set_flags(p->ifname, (short)(flags & ~IFF_UP));
	}
	xfree(a);
	p->priv = NULL;
}

static int afp_open_queue(struct port *p, struct afp *a, unsigned q, int fanout_id, char *err,
                          size_t errlen)
{
	struct tpacket_req3 req = {
		.tp_block_size = AFP_BLOCK_SIZE,
		.tp_block_nr = AFP_NBLOCKS,
		.tp_frame_size = AFP_BLOCK_SIZE,  /* V3 packs frames; must divide the block */
		.tp_frame_nr = AFP_NBLOCKS,
		.tp_retire_blk_tov = AFP_RETIRE_MS,
	};
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = a->ifindex,
	};
	struct packet_mreq mr = { .mr_ifindex = a->ifindex, .mr_type = PACKET_MR_PROMISC };
	int v3 = TPACKET_V3, one = 1, fd;
	const char *what;

	/* Protocol 0: nothing is queued before the ring and the bind exist. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		what = "socket";
		goto fail;
	}
	p->fd[q] = fd;
	what = "PACKET_VERSION";
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3)) < 0)
		goto fail;
	what = "PACKET_VNET_HDR"; /* before the ring exists */
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		goto fail;
	what = "PACKET_RX_RING";
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		goto fail;
	what = "mmap";
	a->ring[q].map = mmap(NULL, (size_t)AFP_BLOCK_SIZE * AFP_NBLOCKS, PROT_READ | PROT_WRITE,
	                      MAP_SHARED | MAP_POPULATE, fd, 0);
	if (a->ring[q].map == MAP_FAILED) {
		a->ring[q].map = NULL;
		goto fail;
	}
	/* vifd's own transmissions are not received back; neither is what
	 * the host sends on the interface (it is not traffic into the switch). */
	what = "PACKET_IGNORE_OUTGOING";
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		goto fail;
	what = "PACKET_QDISC_BYPASS";
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		goto fail;
	what = "bind";
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	what = "PACKET_ADD_MEMBERSHIP (promiscuous)";
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		goto fail;
	if (p->nq > 1) {
		int arg = fanout_id | PACKET_FANOUT_HASH << 16;
		what = "PACKET_FANOUT";
		if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0)
			goto fail;
	}
	return 0;
fail:
	fd = -errno;
	snprintf(err, errlen, "%s: %s: %s%s", p->ifname, what, strerror(-fd),
	         port_eperm(fd, " (packet sockets need CAP_NET_RAW)"));
	return fd;
}

static int afp_open(struct port *p, const struct port_params *pp, char *err, size_t errlen)
{
	static unsigned fanout_seq;
	struct afp *a;
	short flags;
	int r, fanout_id;

	(void)pp;
	if (p->netns[0]) {
		snprintf(err, errlen, "afpacket ports attach to interfaces of vifd's own namespace");
		return -EINVAL;
	}
	a = p->priv = xcalloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->ifindex = (int)if_nametoindex(p->ifname);
	if (!a->ifindex) {
		r = -errno;
		snprintf(err, errlen, "no interface %s: %s", p->ifname, strerror(errno));
		goto fail;
	}
	/* Fanout groups are global to the host: our pid and a sequence. */
	fanout_id = (int)(((unsigned)getpid() * 64u + fanout_seq++) & 0xffff);
	for (unsigned q = 0; q < p->nq; q++) {
		r = afp_open_queue(p, a, q, fanout_id, err, errlen);
		if (r < 0)
			goto fail;
	}
	/* What the kernel hands over with a header, and takes with one. */
	p->vnet = AFP_VNET;
	p->ol_in = p->ol_out = PKT_OL_CSUM | PKT_OL_VALID | PKT_OL_TSO4 | PKT_OL_TSO6 | PKT_OL_ECN |
	                       PKT_OL_USO4 | PKT_OL_USO6;
	r = port_if_get_flags(p->ifname, &flags);
	if (r == 0 && !(flags & IFF_UP)) {
		r = port_if_set_flags(p->ifname, (short)(flags | IFF_UP));
		a->brought_up = r == 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot bring %s up: %s%s", p->ifname, strerror(-r),
		         port_eperm(r, " (needs CAP_NET_ADMIN)"));
		goto fail;
	}
	return 0;
fail:
	afp_close(p);
	return r;
}

static inline struct tpacket_block_desc *block(const struct afp_ring *r, unsigned i)
{
	return (struct tpacket_block_desc *)(void *)(r->map + (size_t)i * AFP_BLOCK_SIZE);
}

/* Copies one frame of the ring into dst (PORT_FRAME_MAX bytes), putting
 * back a VLAN tag the kernel moved into metadata, and its virtio-net
 * header (just before the frame in the ring) into *ol, its offsets moved
 * by the tag. Returns its length, or 0 if it does not fit or its offsets do
 * not (the kernel's data, checked anyway: a bad offset must not make the
 * worker read past the block). */
static uint32_t copy_frame(const uint8_t *blk, uint32_t off, uint8_t *dst, struct pkt_ol *ol)
{
	const struct tpacket3_hdr *h = (const void *)(blk + off);
	uint32_t mac = h->tp_mac, snap = h->tp_snaplen, extra = 0;
	struct virtio_net_hdr v;

	*ol = (struct pkt_ol){ 0 };
	if (snap != h->tp_len || snap < 12 || mac < AFP_VNET || mac > AFP_BLOCK_SIZE - off ||
	    snap > AFP_BLOCK_SIZE - off - mac)
		return 0;
	if ((h->tp_status & TP_STATUS_VLAN_VALID) && h->hv1.tp_vlan_tci)
		extra = 4;
	if (snap + extra >= PORT_FRAME_MAX)
		return 0;
	memcpy(&v, blk + off + mac - AFP_VNET, sizeof(v));
	*ol = (struct pkt_ol){ .flags = v.flags, .gso_type = v.gso_type,
	                       .hdr_len = le16toh(v.hdr_len), .gso_size = le16toh(v.gso_size),
	                       .csum_start = le16toh(v.csum_start),
	                       .csum_offset = le16toh(v.csum_offset) };
	if (!extra) {
		memcpy(dst, blk + off + mac, snap);
		return snap;
	}
	if (ol->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		ol->csum_start = (uint16_t)(ol->csum_start + 4);
	if (ol->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		ol->hdr_len = (uint16_t)(ol->hdr_len + 4);
	uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid
	                                                           : ETH_P_8021Q;
	memcpy(dst, blk + off + mac, 12);
	dst[12] = (uint8_t)(tpid >> 8);
	dst[13] = (uint8_t)tpid;
	dst[14] = (uint8_t)(h->hv1.tp_vlan_tci >> 8);
	dst[15] = (uint8_t)h->hv1.tp_vlan_tci;
	memcpy(dst + 16, blk + off + mac + 12, snap - 12);
	return snap + 4;
}

static int afp_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf)
{
	struct afp_ring *r = &((struct afp *)p->priv)->ring[q];
	unsigned n = 0;

	if (max && kport_carry_take(p, q, &pkts[0], buf))
		n = 1;
	while (n < max) {
		struct tpacket_block_desc *bd = block(r, r->cur);
		const uint8_t *blk = (const uint8_t *)bd;

		if (!r->off) {
			/* The status word hands the block over: acquire. */
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER))
				break;
			r->left = bd->hdr.bh1.num_pkts;
			r->off = bd->hdr.bh1.offset_to_first_pkt;
		}
		while (r->left && n < max) {
			const struct tpacket3_hdr *h = (const void *)(blk + r->off);
			bool ok = r->off <= AFP_BLOCK_SIZE - sizeof(*h);
			uint32_t next = ok ? h->tp_next_offset : 0;

			uint8_t *b = buf + (size_t)n * PORT_FRAME_MAX;
			struct pkt_ol ol = { 0 };

			kport_pkt(&pkts[n], b, ok ? copy_frame(blk, r->off, b, &ol) : 0);
			pkts[n].ol = ol;
			n++;
			r->left--;
			if (!next || next >= AFP_BLOCK_SIZE - r->off)
				r->left = 0; /* last frame, or a bad offset: done with the block */
			else
				r->off += next;
		}
		if (r->left)
			break; /* burst full: continue in this block next time */
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		r->cur = (r->cur + 1) % AFP_NBLOCKS;
		r->off = 0;
	}
	return (int)n;
}

static int afp_tx(struct port *p, unsigned q, const struct iovec *iov, unsigned niov,
                  uint8_t rem)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = niov };

	(void)rem;
	if (sendmsg(p->fd[q], &mh, MSG_DONTWAIT) >= 0)
		return 0;
	if (errno == ENOBUFS || errno == EWOULDBLOCK)
		return -EAGAIN;
	if (errno == ENXIO)
		return -ENETDOWN;
	return -errno;
}

const struct port_ops port_afpacket_ops = {
	.type = "afpacket",
	.open = afp_open,
	.close = afp_close,
	.rx_burst = afp_rx_burst,
	.tx_one = afp_tx,
	KPORT_OPS,
};
