/* vhu_ctrl.c - the virtio-net control virtqueue (VIRTIO 1.1 §5.1.6.5) for
 * frontends that hand it to the backend (libvif does; QEMU and DPDK's
 * virtio-user handle it themselves and use SET_VRING_ENABLE instead).
 *
 * The control queue is vring 2 * max_qp (2 without MQ). It is served on the control
 * thread, never by a worker: its kick eventfd sits in the control event
 * loop while the ring is live. Commands handled:
 *  - VIRTIO_NET_CTRL_MQ / VQ_PAIRS_SET: how many queue pairs the datapath
 *    uses (1..max_qp); the change is published like any reconfiguration;
 *  - VIRTIO_NET_CTRL_RX / PROMISC, ALLMULTI: recorded and reported (the
 *    switch does not filter by them yet).
 * Anything else is answered VIRTIO_NET_ERR.
 *
 * Security model: the ring is guest memory like any other (vq.h does the
 * walk); a command is read from the chain's readable part into a private
 * buffer of at most CTRL_MAX bytes, and the one-byte ack goes to the first
 * writable byte. A chain without a writable byte, or a ring error, stops
 * the port like a data ring error. The call eventfd is the guest's: it can
 * make the write block (clear O_NONBLOCK on the shared file, saturate the
 * counter), so the write runs under a deadline (wdog.h) and a write that
 * fails, interrupted or not, stops the port. */
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/epoll.h>

#include "vhu_impl.h"
#include "vlog.h"
#include "wdog.h"

enum {
	CTRL_MAX = 64,   /* bytes of a command we read */
	CTRL_ROUNDS = 4, /* ring-fulls handled per event before yielding */
	CTRL_CALL_MS = 100, /* the call eventfd write's deadline */
};

/* The control thread's deadline timer (created on first use, on it). */
static struct wdog call_wdog;
static bool call_wdog_made;

/* Notifies the guest if it asked to be; false if the write failed or did
 * not finish within CTRL_CALL_MS. */
static bool ctrl_call(struct vq *q)
{
	bool ok;

	if (!vqx_need_call(q, q->packed))
		return true;
	if (!call_wdog_made) {
		if (wdog_init(&call_wdog) < 0)
			vlog_warn("control queue: no deadline timer; a guest's blocking call "
			          "eventfd could stall the control thread");
		call_wdog_made = true;
	}
	wdog_arm(&call_wdog, CTRL_CALL_MS);
	ok = vq_call_fd(q);
	wdog_disarm(&call_wdog);
	return ok;
}

/* VIRTIO 1.1 §5.1.2: the control queue follows the receive/transmit pairs:
 * vring 2N with N = max_virtqueue_pairs under MQ, else N = 1. */
unsigned vhu_ctrl_index(const struct vhu_dev *d)
{
	return (d->features & (1ull << VIRTIO_NET_F_MQ)) ? 2 * d->max_qp : 2;
}

/* Executes one command; returns VIRTIO_NET_OK or VIRTIO_NET_ERR. A queue
 * pair count is only recorded in *want_qp: the caller applies the last one
 * after the whole batch (each change republishes the datapath, which a
 * guest must not be able to make us do thousands of times per kick). */
static uint8_t ctrl_exec(struct vhu_dev *d, const uint8_t *buf, size_t len, int *want_qp)
{
	uint8_t cls, cmd;

	if (len < sizeof(struct virtio_net_ctrl_hdr))
		return VIRTIO_NET_ERR;
	cls = buf[0];
	cmd = buf[1];
	buf += 2;
	len -= 2;
	if (cls == VIRTIO_NET_CTRL_MQ && cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET && len >= 2) {
		uint16_t pairs = (uint16_t)(buf[0] | buf[1] << 8);
		if (!(d->features & (1ull << VIRTIO_NET_F_MQ)) || pairs < 1 || pairs > d->max_qp)
			return VIRTIO_NET_ERR;
		*want_qp = pairs;
		return VIRTIO_NET_OK;
	}
	if (cls == VIRTIO_NET_CTRL_RX && len >= 1 &&
	    (cmd == VIRTIO_NET_CTRL_RX_PROMISC || cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)) {
		if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
			d->promisc = buf[0] != 0;
		else
			d->allmulti = buf[0] != 0;
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

static void ctrl_kick(void *arg, int fd, uint32_t events);

/* More commands were waiting than one batch takes: continue shortly, so a
 * guest that keeps its control queue full gets turns, not the whole
 * control thread. */
static void ctrl_resume(void *arg)
{
	struct vhu_dev *d = arg;

	d->ctrl_timer = NULL;
	ctrl_kick(d, -1, 0);
}

static void ctrl_kick(void *arg, int fd, uint32_t events)
{
	struct vhu_dev *d = arg;
	struct vhu_vring *vr = &d->vr[d->ctrl_idx];
	struct vq *q = &vr->vq;
	struct vq_chain c;
	int n, want_qp = -1, rounds = 0;

	(void)events, (void)fd; /* edge-triggered: the guest's counter is not read */
	if (!vr->live || vhu_dev_is_broken(d))
		return;
again:
	n = vqx_avail_count(q, q->packed, q->size);
	if (n < 0) {
		vhu_dev_mark_broken(d, VHU_BROKEN_RING, -n);
		vhu_dev_check(d);
		return;
	}
	for (int i = 0; i < n; i++) {
		uint8_t buf[CTRL_MAX], ack;
		size_t len = 0;
		int r = vqx_pop(q, q->packed, &c, VQ_MIXED);

		if (r == 0 && c.nout == c.niov)
			r = -VQ_ERR_DIRECTION; /* no room for the ack */
		if (r < 0) {
			if (unlikely(q->log))
				vq_log_flush(q); /* the acks written so far */
			vhu_dev_mark_broken(d, VHU_BROKEN_RING, -r);
			vhu_dev_check(d);
			return;
		}
		for (unsigned s = 0; s < c.nout && len < sizeof(buf); s++) {
			size_t k = MIN(c.iov[s].iov_len, sizeof(buf) - len);
			memcpy(buf + len, c.iov[s].iov_base, k);
			len += k;
		}
		ack = ctrl_exec(d, buf, len, &want_qp);
		*(volatile uint8_t *)c.iov[c.nout].iov_base = ack;
		if (unlikely(q->log))
			vq_log_iov(q, &c.iov[c.nout], 1, 1);
		vqx_used_put(q, q->packed, c.head, 1);
		d->cnt.ctrl_cmds++;
	}
	/* Ask for the next kick (split with EVENT_IDX: avail_event = last_avail),
	 * then look again: a command published before that store was not
	 * kicked for. */
	vqx_kicks_enable(q, q->packed);
	if (vqx_avail_count(q, q->packed, 1) != 0) {
		if (++rounds < CTRL_ROUNDS)
			goto again;
		if (!d->ctrl_timer)
			d->ctrl_timer = evloop_timer(d->ev, 1, ctrl_resume, d);
	}
	if (want_qp > 0 && (unsigned)want_qp != d->active_qp) {
		/* This ring is served here, not by workers: republishing
		 * the datapath leaves it alone. */
		d->ops->quiesce(d, d->ctx);
		d->active_qp = (unsigned)want_qp;
		d->ops->changed(d, d->ctx);
		VHU_LOG(LOG_INFO, d, "control queue: %d queue pair(s) active", want_qp);
	}
	if (q->used_pending) {
		vqx_used_publish(q, q->packed);
		if (!ctrl_call(q)) {
			vhu_dev_mark_broken(d, VHU_BROKEN_CALL, 0);
			vhu_dev_check(d);
		}
	}
}

void vhu_ctrl_stop(struct vhu_dev *d)
{
	if (d->ctrl_watched) {
		evloop_del(d->ev, d->vr[d->ctrl_idx].kickfd);
		d->ctrl_watched = false;
	}
	if (d->ctrl_timer) {
		evloop_timer_cancel(d->ev, d->ctrl_timer);
		d->ctrl_timer = NULL;
	}
}

void vhu_ctrl_refresh(struct vhu_dev *d)
{
	unsigned i = vhu_ctrl_index(d);
	struct vhu_vring *vr = &d->vr[i];

	if (!(d->features & (1ull << VIRTIO_NET_F_CTRL_VQ)) || vr->live || !vhu_vring_ready(d, i))
		return;
	if (vr->kickfd < 0) {
		VHU_LOG(LOG_WARNING, d, "control queue without a kick fd is not served");
		return;
	}
	if (vhu_vring_start(d, i, 4096) < 0)
		return;
	/* A command queued before now left the eventfd readable: the loop
	 * (level-triggered) calls ctrl_kick for it once we return. */
	d->ctrl_idx = i;
	if (evloop_add(d->ev, vr->kickfd, EPOLLIN | EPOLLET, ctrl_kick, d) == 0)
		d->ctrl_watched = true;
}
