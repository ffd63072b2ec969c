/* vif_setup.c - libvif's control path: the memfd that holds every ring and
 * buffer, the vhost-user negotiation that hands it to the backend, open and
 * close, and connection upkeep (loss detection; in server mode, accepting
 * the backend again and replaying the setup on empty rings).
 *
 * Memory layout (one memfd, mapped MAP_SHARED at `mem`; the backend is told
 * guest_phys_addr = userspace_addr = mem, so every ring and descriptor
 * address is simply the pointer value):
 *   for each vring 0..2*nqp-1:  desc | avail | used     each on its own pages
 *   control queue (cfg.ctrl_vq): desc | avail | used     VIF_CTRL_RING entries
 *   for each pair:  rx buffers [num * rx_buf_size]
 *                   tx slots   [num * tx_slot_size]     header + largest frame
 *                   tx indirect tables [num * max_chain] (only if asked)
 *   control command slots (cfg.ctrl_vq): one page
 *
 * Security model: replies from the backend are checked for request number,
 * REPLY flag, version and size before use; a silent backend costs at most
 * cfg.timeout_ms per step. Everything the backend later writes into the rings
 * is checked by vif_ring.c. Threading: see vif_impl.h. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "clk.h"
#include "vif_impl.h"
#include "vlog.h"
#include "xalloc.h"

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

void vif_config_init(struct vif_config *c)
{
	memset(c, 0, sizeof(*c));
	c->queue_pairs = 1;
	c->ring_size = VIF_DEFAULT_RING;
	c->rx_buf_size = VIF_DEFAULT_RX_BUF;
	c->timeout_ms = VIF_DEFAULT_TIMEOUT_MS;
}

unsigned vif_queue_pairs(const struct vif *v)
{
	return v->nqp;
}

uint64_t vif_features(const struct vif *v)
{
	return v->features;
}

void vif_mac(const struct vif *v, uint8_t mac[6])
{
	memcpy(mac, v->cfg.mac, 6);
}

int vif_conn_fd(const struct vif *v)
{
	return v->sock >= 0 ? v->sock : v->listen_fd;
}

struct vif_vq *vif_vring(struct vif *v, unsigned index)
{
	if (v->has_ctrl && index == v->cvq.index)
		return &v->cvq;
	if (index >= 2 * v->nqp)
		return NULL;
	return index & 1 ? &v->qp[index / 2].tx : &v->qp[index / 2].rx;
}

/* ---- layout ---- */

static size_t vq_layout(struct vif_vq *vq, unsigned index, uint16_t num, size_t off)
{
	vq->index = index;
	vq->num = num;
	vq->mask = (uint16_t)(num - 1);
	vq->desc_off = off;
	off += round_up(sizeof(struct vring_desc) * num, VIF_PAGE);
	vq->avail_off = off;
	off += round_up(sizeof(uint16_t) * (3 + (size_t)num), VIF_PAGE);
	vq->used_off = off;
	off += round_up(sizeof(uint16_t) * 3 + sizeof(struct vring_used_elem) * num, VIF_PAGE);
	return off;
}

static void vq_map(struct vif_vq *vq, uint8_t *mem)
{
	vq->desc = (struct vring_desc *)(void *)(mem + vq->desc_off);
	vq->avail = (struct vring_avail *)(void *)(mem + vq->avail_off);
	vq->used = (struct vring_used *)(void *)(mem + vq->used_off);
	vq->used_event = &vq->avail->ring[vq->num];
	vq->avail_event = (uint16_t *)(void *)&vq->used->ring[vq->num];
	/* A packed ring uses the same areas (a page or more each). */
	vq->pdesc = (struct vring_packed_desc *)(void *)(mem + vq->desc_off);
	vq->drv_event = (struct vring_packed_desc_event *)(void *)(mem + vq->avail_off);
	vq->dev_event = (const struct vring_packed_desc_event *)(void *)(mem + vq->used_off);
}

static size_t layout(struct vif *v)
{
	size_t off = 0;

	for (unsigned i = 0; i < v->nqp; i++) {
		off = vq_layout(&v->qp[i].rx, 2 * i, v->ring_num, off);
		off = vq_layout(&v->qp[i].tx, 2 * i + 1, v->ring_num, off);
	}
	/* The control queue's vring index is known only after GET_QUEUE_NUM;
	 * vif_setup() sets it. */
	if (v->cfg.ctrl_vq)
		off = vq_layout(&v->cvq, 2 * v->nqp, VIF_CTRL_RING, off);
	for (unsigned i = 0; i < v->nqp; i++) {
		struct vif_qp *qp = &v->qp[i];

		qp->rx_bufs_off = off;
		off += round_up((size_t)v->ring_num * v->cfg.rx_buf_size, VIF_PAGE);
		qp->tx_bufs_off = off;
		off += round_up((size_t)v->ring_num * v->tx_slot_size, VIF_PAGE);
		if (v->cfg.tx_indirect) {
			qp->tx_indir_off = off;
			off += round_up((size_t)v->ring_num * v->tx_max_chain *
					sizeof(struct vring_desc), VIF_PAGE);
		}
	}
	if (v->cfg.ctrl_vq) {
		v->ctrl_bufs_off = off;
		off += round_up((size_t)VIF_CTRL_SLOTS * VIF_CTRL_SLOT_SIZE, VIF_PAGE);
	}
	return off;
}

/* Reset state of a ring: nothing published, notifications from the
 * backend suppressed (we poll; vif_rx_wait turns them on when it sleeps).
 * With EVENT_IDX, used_event half the index space away means "not soon". */
void vif_vq_reset(struct vif_vq *vq)
{
	memset(vq->desc, 0, sizeof(struct vring_desc) * vq->num);
	memset(vq->avail, 0, sizeof(uint16_t) * (3 + (size_t)vq->num));
	memset(vq->used, 0, sizeof(uint16_t) * 3 + sizeof(struct vring_used_elem) * vq->num);
	vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*vq->used_event = 0x8000;
	vq->avail_idx = 0;
	vq->last_used = 0;
}

void vif_pk_reset(struct vif_vq *vq)
{
	memset(vq->pdesc, 0, sizeof(struct vring_packed_desc) * vq->num);
	memset((void *)vq->dev_event, 0, sizeof(*vq->dev_event));
	vq->drv_event->off_wrap = 0;
	vq->drv_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	vq->next_avail = vq->next_used = 0;
	vq->avail_wrap = vq->used_wrap = true;
	vq->nfree = vq->num;
}

/* Packed: rx buffer i goes in slot i with buffer id i (all posted). */
static void pk_rx_post_all(struct vif *v, struct vif_qp *qp)
{
	struct vif_vq *vq = &qp->rx;
	uint32_t bs = v->cfg.rx_buf_size;

	for (uint16_t i = 0; i < vq->num; i++) {
		struct vring_packed_desc *d = &vq->pdesc[i];

		d->addr = (uint64_t)(uintptr_t)(qp->rx_bufs + (size_t)i * bs);
		d->len = bs;
		d->id = i;
		d->flags = VRING_DESC_F_WRITE | VIF_PF_AVAIL;
		qp->rx_posted[i] = 1;
	}
	/* (the backend starts only after the rings are set up: plain stores
	 * are visible by then) */
	vq->nfree = 0;
	vq->next_avail = 0;
	vq->avail_wrap = false; /* the next lap */
}

void vif_rings_reset(struct vif *v)
{
	uint32_t bs = v->cfg.rx_buf_size;

	for (unsigned q = 0; q < v->nqp; q++) {
		struct vif_qp *qp = &v->qp[q];
		uint16_t num = v->ring_num;

		vif_vq_reset(&qp->rx);
		vif_vq_reset(&qp->tx);
		if (v->packed) {
			vif_pk_reset(&qp->rx);
			vif_pk_reset(&qp->tx);
			pk_rx_post_all(v, qp);
			memset(qp->tx_chain, 0, sizeof(uint16_t) * num);
			qp->tx_nfree = num;
			qp->broken = false;
			continue;
		}
		for (uint16_t i = 0; i < num; i++) {
			qp->rx.desc[i].addr = (uint64_t)(uintptr_t)(qp->rx_bufs + (size_t)i * bs);
			qp->rx.desc[i].len = bs;
			qp->rx.desc[i].flags = VRING_DESC_F_WRITE;
			qp->rx.avail->ring[i] = i;
			qp->rx_posted[i] = 1;
		}
		qp->rx.avail_idx = num;
		qp->rx.avail->idx = num;
		/* Free stack pops 0, 1, 2...: easier to read in a trace. */
		for (uint16_t i = 0; i < num; i++)
			qp->tx_free[i] = (uint16_t)(num - 1 - i);
		qp->tx_nfree = num;
		memset(qp->tx_chain, 0, sizeof(uint16_t) * num);
		memset(qp->tx_next, 0, sizeof(uint16_t) * num);
		qp->broken = false;
	}
	if (v->cfg.ctrl_vq)
		vif_ctrl_reset(v);
}

/* ---- negotiation ---- */

static const char *req_name(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES: return "GET_FEATURES";
	case VU_SET_FEATURES: return "SET_FEATURES";
	case VU_SET_OWNER: return "SET_OWNER";
	case VU_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VU_SET_VRING_NUM: return "SET_VRING_NUM";
	case VU_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VU_SET_VRING_BASE: return "SET_VRING_BASE";
	case VU_SET_VRING_KICK: return "SET_VRING_KICK";
	case VU_SET_VRING_CALL: return "SET_VRING_CALL";
	case VU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VU_SET_STATUS: return "SET_STATUS";
	case VU_GET_INFLIGHT_FD: return "GET_INFLIGHT_FD";
	case VU_SET_INFLIGHT_FD: return "SET_INFLIGHT_FD";
	default: return "request";
	}
}

/* Requests that ask for REPLY_ACK when it is negotiated. */
static bool wants_ack(uint32_t req)
{
	switch (req) {
	case VU_SET_MEM_TABLE:
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_ADDR:
	case VU_SET_VRING_BASE:
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ENABLE:
		return true;
	default:
		return false;
	}
}

/* Sends request `req` with `size` payload bytes and `fd` (or -1). When
 * `reply` is non-NULL the request has a u64 reply (GET_*) stored there;
 * otherwise, with REPLY_ACK negotiated and a request in wants_ack(), the
 * backend's ack is awaited and a nonzero ack fails. `vring` (or -1) only
 * names the ring in the error text. Returns 0 or -errno. */
static int request(struct vif *v, uint32_t req, int vring, const void *payload,
		   uint32_t size, int fd, uint64_t *reply)
{
	int timeout = (int)MIN(v->cfg.timeout_ms, (unsigned)INT_MAX);
	bool ack = !reply && v->reply_ack && wants_ack(req);
	struct vu_msg m, r;
	char step[48];
	int err;

	if (vring >= 0)
		snprintf(step, sizeof(step), "%s(%d)", req_name(req), vring);
	else
		snprintf(step, sizeof(step), "%s", req_name(req));
	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0);
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, payload, size);
	err = vif_msg_send(v->sock, &m, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (err) {
		vif_set_error("%s: send failed: %s", step, strerror(-err));
		return err;
	}
	if (!reply && !ack)
		return 0;
	err = vif_msg_recv(v->sock, &r, timeout);
	if (err == -ETIMEDOUT) {
		vif_set_error("%s: no reply from backend within %d ms", step, timeout);
		return err;
	}
	if (err) {
		vif_set_error("%s: reading reply: %s", step, strerror(-err));
		return err;
	}
	if (r.hdr.request != req || !(r.hdr.flags & VU_FLAG_REPLY) ||
	    (r.hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION ||
	    r.hdr.size != sizeof(uint64_t)) {
		vif_set_error("%s: malformed reply (request %u flags 0x%x size %u)",
			      step, r.hdr.request, r.hdr.flags, r.hdr.size);
		return -EPROTO;
	}
	if (reply) {
		*reply = r.p.u64;
		return 0;
	}
	if (r.p.u64 != 0) {
		vif_set_error("%s: backend refused (ack %llu)", step,
			      (unsigned long long)r.p.u64);
		return -EIO;
	}
	return 0;
}

static int set_u64(struct vif *v, uint32_t req, uint64_t val)
{
	return request(v, req, -1, &val, sizeof(val), -1, NULL);
}

static int vring_state(struct vif *v, uint32_t req, unsigned index, uint32_t num)
{
	struct vu_vring_state s = { .index = index, .num = num };

	return request(v, req, (int)index, &s, sizeof(s), -1, NULL);
}

static int vring_setup(struct vif *v, struct vif_vq *vq)
{
	struct vu_vring_addr a = {
		.index = vq->index,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
	};
	uint64_t idx = vq->index;
	int err;

	err = vring_state(v, VU_SET_VRING_NUM, vq->index, vq->num);
	/* Where the backend resumes. Packed (vhost-user.rst): both positions 0,
	 * both wrap counters 1 (packed rings are never kept across a backend's
	 * restart: no inflight region for them). Split: the used index (0 on
	 * reset rings; on rings kept across a backend's restart, what it last
	 * completed: whatever it had taken since is served again, see
	 * setup_inflight). */
	if (!err)
		err = vring_state(v, VU_SET_VRING_BASE, vq->index,
				  v->packed ? 1u << 15 | 1u << 31
				            : __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
	if (!err)
		err = request(v, VU_SET_VRING_ADDR, (int)vq->index, &a, sizeof(a), -1, NULL);
	if (!err)
		err = request(v, VU_SET_VRING_KICK, (int)vq->index, &idx, sizeof(idx),
			      vq->kick_fd, NULL);
	if (!err)
		err = request(v, VU_SET_VRING_CALL, (int)vq->index, &idx, sizeof(idx),
			      vq->call_fd, NULL);
	return err;
}

static uint64_t wanted_features(const struct vif *v)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_INDIRECT_DESC |
		     1ull << VIRTIO_NET_F_MTU | 1ull << VIRTIO_NET_F_MAC |
		     1ull << VIRTIO_NET_F_STATUS | 1ull << VU_F_PROTOCOL_FEATURES;

	if (!v->cfg.no_mrg_rxbuf)
		f |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (!v->cfg.no_event_idx)
		f |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (v->nqp > 1)
		f |= 1ull << VIRTIO_NET_F_MQ;
	if (v->cfg.ctrl_vq)
		f |= 1ull << VIRTIO_NET_F_CTRL_VQ | 1ull << VIRTIO_NET_F_CTRL_RX;
	if (v->cfg.packed)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	return f;
}

static uint64_t wanted_proto(const struct vif *v)
{
	return 1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK | 1ull << VU_PF_MTU | 1ull << VU_PF_RARP |
	       1ull << VU_PF_CONFIG | 1ull << VU_PF_STATUS |
	       (v->cfg.no_inflight || v->cfg.packed ? 0 : 1ull << VU_PF_INFLIGHT_SHMFD);
}

/* INFLIGHT_SHMFD (vhost-user.rst "Inflight I/O tracking"), after
 * SET_FEATURES as QEMU does: the first setup asks the backend for a region
 * covering the data rings (GET_INFLIGHT_FD; a size of 0 means the backend
 * will not track), every setup hands it back (SET_INFLIGHT_FD). libvif
 * never reads the region: it keeps it alive across the backend's deaths. */
static int setup_inflight(struct vif *v)
{
	struct vu_inflight in = { .num_queues = (uint16_t)(2 * v->nqp), .queue_size = v->ring_num };
	int timeout = (int)MIN(v->cfg.timeout_ms, (unsigned)INT_MAX), fd = -1, err;
	struct vu_msg m, r;

	if (v->infl_fd < 0) {
		memset(&m, 0, sizeof(m));
		m.hdr.request = VU_GET_INFLIGHT_FD;
		m.hdr.flags = VU_VERSION;
		m.hdr.size = sizeof(in);
		m.p.inflight = in;
		err = vif_msg_send(v->sock, &m, NULL, 0);
		if (!err)
			err = vif_msg_recv_fd(v->sock, &r, timeout, &fd);
		if (err) {
			vif_set_error("GET_INFLIGHT_FD: %s", strerror(-err));
			return err;
		}
		if (r.hdr.request != VU_GET_INFLIGHT_FD || !(r.hdr.flags & VU_FLAG_REPLY) ||
		    r.hdr.size != sizeof(in) || r.p.inflight.num_queues != in.num_queues ||
		    r.p.inflight.queue_size != in.queue_size ||
		    (r.p.inflight.mmap_size && fd < 0)) {
			if (fd >= 0)
				close(fd);
			vif_set_error("GET_INFLIGHT_FD: malformed reply (size %u)", r.hdr.size);
			return -EPROTO;
		}
		if (!r.p.inflight.mmap_size) {
			if (fd >= 0)
				close(fd);
			return 0; /* not tracked */
		}
		v->infl_fd = fd;
		v->infl = r.p.inflight;
	}
	return request(v, VU_SET_INFLIGHT_FD, -1, &v->infl, sizeof(v->infl), v->infl_fd, NULL);
}

/* The sequence QEMU uses, see the file comment in vif_impl.h and
 * docs/interop/vhost-user.rst "Starting and stopping rings". */
int vif_setup(struct vif *v)
{
	uint64_t offered, proto = 0, max_qp = 1;
	struct vu_mem_table mt;
	int err, mfd = v->mem_fd;

	v->reply_ack = false;
	v->proto = 0;
	v->has_ctrl = false;
	err = request(v, VU_GET_FEATURES, -1, NULL, 0, -1, &offered);
	if (err)
		return err;
	if (offered & 1ull << VU_F_PROTOCOL_FEATURES) {
		err = request(v, VU_GET_PROTOCOL_FEATURES, -1, NULL, 0, -1, &proto);
		if (err)
			return err;
		proto &= wanted_proto(v);
		err = set_u64(v, VU_SET_PROTOCOL_FEATURES, proto);
		if (err)
			return err;
		v->proto = proto;
		v->reply_ack = proto & 1ull << VU_PF_REPLY_ACK;
	}
	if (v->nqp > 1 && (!(proto & 1ull << VU_PF_MQ) || !(offered & 1ull << VIRTIO_NET_F_MQ))) {
		vif_set_error("backend does not offer multiqueue (%u queue pairs asked)", v->nqp);
		return -EOPNOTSUPP;
	}
	if (proto & 1ull << VU_PF_MQ) {
		err = request(v, VU_GET_QUEUE_NUM, -1, NULL, 0, -1, &max_qp);
		if (err)
			return err;
		if (v->nqp > max_qp) {
			vif_set_error("GET_QUEUE_NUM: backend supports %llu queue pairs, %u asked",
				      (unsigned long long)max_qp, v->nqp);
			return -EOPNOTSUPP;
		}
	}
	v->max_qp = max_qp;
	err = request(v, VU_SET_OWNER, -1, NULL, 0, -1, NULL);
	if (err)
		return err;
	v->features = offered & wanted_features(v);
	if (v->cfg.packed && !(v->features & 1ull << VIRTIO_F_RING_PACKED)) {
		vif_set_error("backend does not offer packed rings");
		return -EOPNOTSUPP;
	}
	/* VIRTIO 1.1 5.1.3.1: CTRL_RX requires CTRL_VQ. */
	if (!(v->features & 1ull << VIRTIO_NET_F_CTRL_VQ))
		v->features &= ~(1ull << VIRTIO_NET_F_CTRL_RX);
	if (v->features & 1ull << VIRTIO_NET_F_CTRL_VQ) {
		/* VIRTIO 1.1 5.1.2: the control queue is 2N, N = max_virtqueue_pairs
		 * with MQ, 1 without; the backend's maximum, not the pairs we use. */
		uint64_t cidx = v->features & 1ull << VIRTIO_NET_F_MQ ? 2 * max_qp : 2;

		if (cidx > VU_VRING_IDX_MASK) {
			vif_set_error("GET_QUEUE_NUM: %llu queue pairs put the control queue at "
				      "vring %llu, beyond vhost-user's %d", (unsigned long long)max_qp,
				      (unsigned long long)cidx, VU_VRING_IDX_MASK);
			return -EPROTO;
		}
		v->cvq.index = (unsigned)cidx;
		v->has_ctrl = true;
	}
	err = set_u64(v, VU_SET_FEATURES, v->features);
	if (err)
		return err;
	if (proto & 1ull << VU_PF_INFLIGHT_SHMFD) {
		err = setup_inflight(v);
		if (err)
			return err;
	}
	v->event_idx = v->features & 1ull << VIRTIO_RING_F_EVENT_IDX;
	v->mrg_rxbuf = v->features & 1ull << VIRTIO_NET_F_MRG_RXBUF;
	v->indirect = v->cfg.tx_indirect && (v->features & 1ull << VIRTIO_RING_F_INDIRECT_DESC);
	/* VIRTIO 1.1 5.1.6: the 12-byte header whenever VERSION_1 or
	 * MRG_RXBUF is negotiated, the legacy 10-byte one otherwise. */
	v->hdr_len = (v->features & (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF)) ?
		     sizeof(struct virtio_net_hdr_mrg_rxbuf) : sizeof(struct virtio_net_hdr);

	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	mt.regions[0].guest_phys_addr = (uint64_t)(uintptr_t)v->mem;
	mt.regions[0].userspace_addr = (uint64_t)(uintptr_t)v->mem;
	mt.regions[0].memory_size = v->mem_size;
	mt.regions[0].mmap_offset = 0;
	/* QEMU sends the header words plus the regions actually used. */
	err = request(v, VU_SET_MEM_TABLE, -1, &mt,
		      (uint32_t)(offsetof(struct vu_mem_table, regions) + sizeof(mt.regions[0])),
		      mfd, NULL);
	if (err)
		return err;
	for (unsigned q = 0; q < v->nqp; q++) {
		err = vring_setup(v, &v->qp[q].rx);
		if (!err)
			err = vring_setup(v, &v->qp[q].tx);
		if (err)
			return err;
	}
	if (v->has_ctrl) {
		err = vring_setup(v, &v->cvq);
		if (err)
			return err;
	}
	/* With PROTOCOL_FEATURES rings start disabled (vhost-user.rst, "Ring
	 * states"); without it the backend enables them on SET_VRING_KICK. */
	if (offered & 1ull << VU_F_PROTOCOL_FEATURES) {
		for (unsigned i = 0; i < 2 * v->nqp; i++) {
			err = vring_state(v, VU_SET_VRING_ENABLE, i, 1);
			if (err)
				return err;
		}
		if (v->has_ctrl) {
			err = vring_state(v, VU_SET_VRING_ENABLE, v->cvq.index, 1);
			if (err)
				return err;
		}
	}
	if (proto & 1ull << VU_PF_STATUS) {
		err = set_u64(v, VU_SET_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
			      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
			      VIRTIO_CONFIG_S_DRIVER_OK);
		if (err)
			return err;
	}
	/* Before the endpoint is up, so no burst uses a pair the device has
	 * not been told about yet (VIRTIO 1.1 5.1.6.5.5: pair 0 only). */
	if (v->has_ctrl) {
		err = vif_ctrl_replay(v);
		if (err)
			return err;
	}
	atomic_store_explicit(&v->state, VIF_UP, memory_order_seq_cst);
	return 0;
}

/* ---- open / close ---- */

static void vif_free(struct vif *v)
{
	if (v->sock >= 0)
		close(v->sock);
	if (v->infl_fd >= 0)
		close(v->infl_fd);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->path);
	}
	if (v->qp) {
		for (unsigned q = 0; q < v->nqp; q++) {
			struct vif_qp *qp = &v->qp[q];
			int fds[4] = { qp->rx.kick_fd, qp->rx.call_fd, qp->tx.kick_fd, qp->tx.call_fd };

			for (int i = 0; i < 4; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			xfree(qp->tx_free); /* base of the private block */
		}
		xfree(v->qp);
	}
	if (v->cvq.kick_fd >= 0)
		close(v->cvq.kick_fd);
	if (v->cvq.call_fd >= 0)
		close(v->cvq.call_fd);
	if (v->mem)
		munmap(v->mem, v->mem_size);
	if (v->mem_fd >= 0)
		close(v->mem_fd);
	xfree(v);
}

static int check_config(const struct vif_config *c)
{
	if (!c->path || !c->path[0]) {
		vif_set_error("config: no socket path");
		return -EINVAL;
	}
	if (strlen(c->path) >= sizeof(((struct vif *)0)->path)) {
		vif_set_error("config: socket path too long");
		return -ENAMETOOLONG;
	}
	if (c->queue_pairs > VIF_MAX_QUEUE_PAIRS) {
		vif_set_error("config: queue_pairs %u not in 1..%d", c->queue_pairs,
			      VIF_MAX_QUEUE_PAIRS);
		return -EINVAL;
	}
	if (c->ring_size && (c->ring_size < 2 || c->ring_size > VIF_RING_MAX ||
			     !is_pow2(c->ring_size))) {
		vif_set_error("config: ring_size %u is not a power of two in 2..%d",
			      c->ring_size, VIF_RING_MAX);
		return -EINVAL;
	}
	if (c->rx_buf_size && (c->rx_buf_size < VIF_RX_BUF_MIN || c->rx_buf_size > VIF_RX_BUF_MAX)) {
		vif_set_error("config: rx_buf_size %u not in %d..%d", c->rx_buf_size,
			      VIF_RX_BUF_MIN, VIF_RX_BUF_MAX);
		return -EINVAL;
	}
	if (c->tx_seg_size > VIF_MAX_FRAME) {
		vif_set_error("config: tx_seg_size %u above %d", c->tx_seg_size, VIF_MAX_FRAME);
		return -EINVAL;
	}
	if (c->packed && c->ctrl_vq) {
		vif_set_error("config: packed rings with a control queue are not supported");
		return -EINVAL;
	}
	return 0;
}

static int alloc_pair(struct vif *v, struct vif_qp *qp)
{
	size_t num = v->ring_num;
	uint8_t *p;

	/* One block for the private arrays: u16 arrays first for alignment. */
	p = xcalloc(1, num * (4 * sizeof(uint16_t) + 1));
	if (!p)
		return -ENOMEM;
	qp->tx_free = (uint16_t *)(void *)p;
	qp->tx_next = qp->tx_free + num;
	qp->tx_chain = qp->tx_next + num;
	qp->rx_ids = qp->tx_chain + num;
	qp->rx_posted = p + num * 4 * sizeof(uint16_t);
	qp->rx_bufs = v->mem + qp->rx_bufs_off;
	qp->tx_bufs = v->mem + qp->tx_bufs_off;
	qp->tx_indir = v->cfg.tx_indirect ?
		       (struct vring_desc *)(void *)(v->mem + qp->tx_indir_off) : NULL;
	vq_map(&qp->rx, v->mem);
	vq_map(&qp->tx, v->mem);
	qp->rx.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	qp->rx.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	qp->tx.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	qp->tx.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (qp->rx.kick_fd < 0 || qp->rx.call_fd < 0 || qp->tx.kick_fd < 0 || qp->tx.call_fd < 0)
		return -errno;
	return 0;
}

int vif_open_raw(const struct vif_config *c, struct vif **out)
{
	struct vif *v;
	size_t size;
	int err;

	*out = NULL;
	err = check_config(c);
	if (err)
		return err;
	v = xaligned_calloc(CACHE_LINE, sizeof(*v));
	if (!v) {
		vif_set_error("out of memory");
		return -ENOMEM;
	}
	v->cfg = *c;
	v->sock = v->listen_fd = v->mem_fd = v->infl_fd = -1;
	v->cvq.kick_fd = v->cvq.call_fd = -1;
	strcpy(v->path, c->path);
	v->cfg.path = v->path;
	if (!v->cfg.queue_pairs)
		v->cfg.queue_pairs = 1;
	if (!v->cfg.ring_size)
		v->cfg.ring_size = VIF_DEFAULT_RING;
	if (!v->cfg.rx_buf_size)
		v->cfg.rx_buf_size = VIF_DEFAULT_RX_BUF;
	if (!v->cfg.timeout_ms)
		v->cfg.timeout_ms = VIF_DEFAULT_TIMEOUT_MS;
	v->nqp = v->cfg.queue_pairs;
	v->packed = v->cfg.packed;
	v->ring_num = (uint16_t)v->cfg.ring_size; /* <= 32768 */
	v->tx_slot_size = (uint32_t)round_up(sizeof(struct virtio_net_hdr_mrg_rxbuf) + VIF_MAX_FRAME,
					     CACHE_LINE);
	v->tx_max_chain = MIN(v->cfg.ring_size, (unsigned)VIF_TX_MAX_CHAIN);
	v->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	v->max_qp = 1;
	v->ctrl_pairs = v->nqp;
	v->ctrl_rx[0] = v->ctrl_rx[1] = -1;

	v->qp = xaligned_calloc(CACHE_LINE, sizeof(*v->qp) * v->nqp);
	if (!v->qp) {
		vif_set_error("out of memory");
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned q = 0; q < v->nqp; q++) {
		struct vif_qp *qp = &v->qp[q];

		qp->rx.kick_fd = qp->rx.call_fd = qp->tx.kick_fd = qp->tx.call_fd = -1;
	}
	size = layout(v);
	v->mem_fd = memfd_create("vif", MFD_CLOEXEC);
	if (v->mem_fd < 0) {
		err = -errno;
		vif_set_error("memfd_create: %s", strerror(errno));
		goto fail;
	}
	if (ftruncate(v->mem_fd, (off_t)size) < 0) {
		err = -errno;
		vif_set_error("ftruncate memfd to %zu bytes: %s", size, strerror(errno));
		goto fail;
	}
	v->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, v->mem_fd, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		err = -errno;
		vif_set_error("mmap %zu bytes: %s", size, strerror(errno));
		goto fail;
	}
	v->mem_size = size;
	for (unsigned q = 0; q < v->nqp; q++) {
		err = alloc_pair(v, &v->qp[q]);
		if (err) {
			vif_set_error("queue pair %u: %s", q, strerror(-err));
			goto fail;
		}
	}
	if (v->cfg.ctrl_vq) {
		vq_map(&v->cvq, v->mem);
		v->ctrl_bufs = v->mem + v->ctrl_bufs_off;
		v->cvq.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		v->cvq.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (v->cvq.kick_fd < 0 || v->cvq.call_fd < 0) {
			err = -errno;
			vif_set_error("control queue: eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	vif_rings_reset(v);
	if (v->cfg.server) {
		err = vif_sock_listen(v);
		if (!err)
			err = vif_sock_accept(v, (int)MIN(v->cfg.timeout_ms, (unsigned)INT_MAX));
	} else {
		err = vif_sock_connect(v);
	}
	if (err)
		goto fail;
	atomic_store(&v->state, VIF_RAW);
	*out = v;
	return 0;
fail:
	vif_free(v);
	return err;
}

int vif_open(const struct vif_config *c, struct vif **out)
{
	struct vif *v;
	int err;

	*out = NULL;
	err = vif_open_raw(c, &v);
	if (err)
		return err;
	err = vif_setup(v);
	if (err) {
		vif_free(v);
		return err;
	}
	*out = v;
	return 0;
}

/* Stops the datapath: burst calls see DOWN from now on; waits until none
 * is still running, waking any vif_rx_wait() sleeper first. */
static void go_down(struct vif *v)
{
	uint64_t one = 1;

	atomic_store_explicit(&v->state, VIF_DOWN, memory_order_seq_cst);
	for (unsigned q = 0; q < v->nqp; q++)
		if (write(v->qp[q].rx.call_fd, &one, sizeof(one)) < 0)
			(void)0; /* counter full: a wake-up is pending anyway */
	for (unsigned q = 0; q < v->nqp; q++)
		while (atomic_load_explicit(&v->qp[q].busy, memory_order_seq_cst))
			sched_yield();
	if (v->sock >= 0) {
		close(v->sock);
		v->sock = -1;
	}
}

/* True when the backend closed the connection. Unexpected bytes (the
 * frontend never gets unsolicited messages on this channel) are dropped. */
static bool conn_lost(struct vif *v)
{
	struct pollfd pfd = { .fd = v->sock, .events = POLLIN | POLLRDHUP };
	char buf[256];
	ssize_t n;

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
		return true;
	n = recv(v->sock, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0)
		return true;
	if (n < 0)
		return errno != EAGAIN && errno != EINTR;
	VLOG_RL(LOG_WARNING, "libvif %s: %zd unexpected bytes from backend dropped", v->path, n);
	return false;
}

/* Gives the backend up to VIF_CLOSE_DRAIN_MS to consume the tx frames
 * still in the rings, so a sender that queues its last frames and closes
 * does not lose them. Split rings: only reads indices; packed rings have
 * none, so their used descriptors are reclaimed (the endpoint is closing). */
static void tx_drain(struct vif *v)
{
	uint64_t deadline = clk_now_ns() + VIF_CLOSE_DRAIN_MS * 1000000ull;

	if (atomic_load(&v->state) != VIF_UP)
		return;
	for (unsigned q = 0; q < v->nqp; q++) {
		struct vif_vq *vq = &v->qp[q].tx;

		if (v->packed) {
			while (vif_pk_tx_inflight(&v->qp[q]) > 0 && clk_now_ns() < deadline &&
			       !conn_lost(v))
				nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
			continue;
		}
		while (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->avail_idx &&
		       !v->qp[q].broken && clk_now_ns() < deadline && !conn_lost(v))
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
	}
}

void vif_close(struct vif *v)
{
	if (!v)
		return;
	tx_drain(v);
	go_down(v);
	vif_free(v);
}

/* A backend made nonsense of some ring: it cannot be resumed. */
static bool any_broken(const struct vif *v)
{
	for (unsigned q = 0; q < v->nqp; q++)
		if (v->qp[q].broken)
			return true;
	return false;
}

int vif_conn_poll(struct vif *v)
{
	int err;

	if (atomic_load(&v->state) != VIF_DOWN) {
		if (!conn_lost(v))
			return 0;
		vlog_warn("libvif %s: backend disconnected", v->path);
		go_down(v);
	}
	if (!v->cfg.server || v->listen_fd < 0) {
		vif_set_error("backend disconnected from %s", v->path);
		return -ENOTCONN;
	}
	err = vif_sock_accept(v, 0);
	if (err == -ETIMEDOUT)
		return -ENOTCONN;
	if (err)
		return err;
	/* No burst runs (state is DOWN and go_down waited): the rings are
	 * ours. With an inflight region they stay as they are (the backend
	 * resumes at each used index and serves again what it had not
	 * completed); without, they restart empty and frames in flight at the
	 * loss are gone. The control queue restarts empty either way (its
	 * commands are the connection thread's, answered or timed out). */
	if (v->infl_fd >= 0 && !any_broken(v)) {
		if (v->cfg.ctrl_vq)
			vif_ctrl_reset(v);
	} else {
		/* Empty rings: an old region's marks would not match them. */
		if (v->infl_fd >= 0)
			close(v->infl_fd);
		v->infl_fd = -1;
		vif_rings_reset(v);
	}
	err = vif_setup(v);
	if (err) {
		vlog_warn("libvif %s: setup after reconnect failed: %s", v->path, vif_last_error());
		close(v->sock);
		v->sock = -1;
		return err;
	}
	__atomic_store_n(&v->reconnects, v->reconnects + 1, __ATOMIC_RELAXED);
	vlog_info("libvif %s: backend reconnected", v->path);
	return 0;
}
