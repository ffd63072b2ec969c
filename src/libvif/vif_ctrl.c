/* vif_ctrl.c - the virtio-net control virtqueue (VIRTIO 1.1 5.1.6.5) seen
 * from the driver: VQ_PAIRS_SET and the RX mode commands, sent one at a time
 * and waited for by polling the used ring.
 *
 * Layout: the ring has VIF_CTRL_RING descriptors, used as VIF_CTRL_SLOTS
 * fixed pairs: descriptor 2s (device-readable: class, cmd, data) chained to
 * 2s+1 (device-writable: the 1-byte ack), both pointing into slot s of the
 * command page in the memfd. A command owns its slot until the device
 * returns head 2s; a command that timed out keeps its slot, so its late
 * answer cannot land in a later command's ack.
 *
 * Security model: the used ring is written by the backend. The used index
 * is loaded with acquire and must not move by more than the ring size (else
 * the queue is broken: -EIO until the next reset). Each used entry is read
 * once; its id must be the head of a command in flight (else counted in
 * ctrl_bad and skipped) and its len exactly 1 (the ack byte: VIRTIO 1.1
 * 2.6.8 "len" is the bytes written). The ack, read once, must be
 * VIRTIO_NET_OK or VIRTIO_NET_ERR. We rewrite both descriptors before each
 * command, so nothing the backend scribbled on them is reused.
 *
 * Threading: the connection thread only (the thread calling vif_conn_poll
 * and vif_close), so nothing here races with a reset or a teardown. Burst
 * calls on other threads never touch the control queue. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_net.h>

#include "clk.h"
#include "vif_impl.h"

_Static_assert(VIF_CTRL_RX_PROMISC == VIRTIO_NET_CTRL_RX_PROMISC &&
	       VIF_CTRL_RX_ALLMULTI == VIRTIO_NET_CTRL_RX_ALLMULTI, "libvif.h RX commands");

void vif_ctrl_reset(struct vif *v)
{
	vif_vq_reset(&v->cvq);
	memset(v->ctrl_inflight, 0, sizeof(v->ctrl_inflight));
	v->ctrl_broken = false;
}

static void bad(struct vif *v)
{
	__atomic_store_n(&v->ctrl_bad, v->ctrl_bad + 1, __ATOMIC_RELAXED);
}

/* Takes every used entry the backend has published, freeing the slots
 * they complete. Returns true (and that entry's len in *len_out) when one
 * of them completes slot `want` (-1: none wanted). Marks the queue broken
 * when the used index is impossible; does nothing once it is. */
static bool reap(struct vif *v, int want, uint32_t *len_out)
{
	struct vif_vq *vq = &v->cvq;
	bool done = false;
	int n;

	if (v->ctrl_broken)
		return false;
	n = vif_vq_used_pending(vq);
	if (n < 0) {
		v->ctrl_broken = true;
		bad(v);
		return false;
	}
	for (; n > 0; n--) {
		uint32_t id, len;

		vif_vq_used_read(vq, vq->last_used++, &id, &len);
		if (id >= vq->num || (id & 1) || !v->ctrl_inflight[id / 2]) {
			bad(v);
			continue;
		}
		v->ctrl_inflight[id / 2] = false;
		if ((int)(id / 2) == want) {
			*len_out = len;
			done = true;
		}
		/* else: the late answer to a command that timed out. */
	}
	return done;
}

/* After a look at the used ring that found nothing to act on: -EIO if the
 * queue is broken, -ENOTCONN if the backend hung up, -ETIMEDOUT past the
 * deadline (error text left to the caller), else 0 after a short sleep. */
static int wait_turn(const struct vif *v, uint64_t deadline)
{
	struct pollfd p = { .fd = v->sock, .events = POLLRDHUP };

	if (v->ctrl_broken) {
		vif_set_error("control queue: backend moved the used index impossibly");
		return -EIO;
	}
	if (v->sock < 0 ||
	    (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)))) {
		vif_set_error("control queue: backend disconnected");
		return -ENOTCONN;
	}
	if (clk_now_ns() >= deadline)
		return -ETIMEDOUT;
	nanosleep(&(struct timespec){ .tv_nsec = VIF_CTRL_POLL_NS }, NULL);
	return 0;
}

int vif_ctrl_cmd(struct vif *v, uint8_t cls, uint8_t cmd, const void *data, size_t len)
{
	unsigned tmo_ms = MIN(v->cfg.timeout_ms, (unsigned)VIF_CTRL_TIMEOUT_MS);
	struct vif_vq *vq = &v->cvq;
	uint32_t used_len = 0;
	uint8_t *slot, ack;
	uint16_t head, old;
	uint64_t deadline;
	int s, err;

	if (!v->has_ctrl) {
		vif_set_error("control queue: not negotiated (cfg.ctrl_vq unset or not offered)");
		return -ENOTSUP;
	}
	if (len > VIF_CTRL_DATA_MAX) {
		vif_set_error("control queue: %zu data bytes, at most %d", len, VIF_CTRL_DATA_MAX);
		return -EINVAL;
	}
	/* A free slot: one whose last command was answered, or is answered
	 * while we wait (late answers to commands that timed out). */
	deadline = clk_now_ns() + (uint64_t)tmo_ms * 1000000;
	for (;;) {
		reap(v, -1, &used_len);
		for (s = 0; s < VIF_CTRL_SLOTS && v->ctrl_inflight[s]; s++)
			;
		if (s < VIF_CTRL_SLOTS && !v->ctrl_broken)
			break;
		err = wait_turn(v, deadline);
		if (err == -ETIMEDOUT) {
			vif_set_error("control queue: %d earlier commands still unanswered",
				      VIF_CTRL_SLOTS);
			return -EBUSY;
		}
		if (err)
			return err;
	}

	slot = v->ctrl_bufs + (size_t)s * VIF_CTRL_SLOT_SIZE;
	slot[0] = cls;
	slot[1] = cmd;
	if (len)
		memcpy(slot + 2, data, len);
	/* Not OK, not ERR: a device that claims len 1 without writing is caught. */
	__atomic_store_n(&slot[VIF_CTRL_ACK_OFF], 0xff, __ATOMIC_RELAXED);
	head = (uint16_t)(2 * s);
	vq->desc[head].addr = (uint64_t)(uintptr_t)slot;
	vq->desc[head].len = (uint32_t)(sizeof(struct virtio_net_ctrl_hdr) + len);
	vq->desc[head].flags = VRING_DESC_F_NEXT;
	vq->desc[head].next = (uint16_t)(head + 1);
	vq->desc[head + 1].addr = (uint64_t)(uintptr_t)(slot + VIF_CTRL_ACK_OFF);
	vq->desc[head + 1].len = 1;
	vq->desc[head + 1].flags = VRING_DESC_F_WRITE;
	vq->desc[head + 1].next = 0;
	v->ctrl_inflight[s] = true;
	old = vq->avail_idx;
	/* At most VIF_CTRL_SLOTS heads are out, fewer than the ring holds. */
	vq->avail->ring[vq->avail_idx & vq->mask] = head;
	vq->avail_idx++;
	vif_vq_publish(v, vq, old);

	deadline = clk_now_ns() + (uint64_t)tmo_ms * 1000000;
	while (!reap(v, s, &used_len)) {
		err = wait_turn(v, deadline);
		if (err == -ETIMEDOUT)
			vif_set_error("control queue: no answer to class %u cmd %u within %u ms",
				      cls, cmd, tmo_ms);
		if (err)
			return err;
	}
	if (used_len != 1) {
		bad(v);
		vif_set_error("control queue: class %u cmd %u completed with len %u, "
			      "not the 1-byte ack", cls, cmd, used_len);
		return -EIO;
	}
	ack = __atomic_load_n(&slot[VIF_CTRL_ACK_OFF], __ATOMIC_RELAXED);
	if (ack == VIRTIO_NET_OK)
		return 0;
	if (ack == VIRTIO_NET_ERR) {
		vif_set_error("control queue: device answered VIRTIO_NET_ERR to class %u cmd %u",
			      cls, cmd);
		return -EINVAL;
	}
	bad(v);
	vif_set_error("control queue: class %u cmd %u acked with %u, neither OK nor ERR",
		      cls, cmd, ack);
	return -EIO;
}

/* The public calls: endpoint up, feature negotiated, arguments in range. */
static int ctrl_check(struct vif *v, uint64_t feature, const char *what)
{
	if (atomic_load(&v->state) != VIF_UP) {
		vif_set_error("%s: backend not connected", what);
		return -ENOTCONN;
	}
	if (!v->has_ctrl) {
		vif_set_error("%s: no control queue (cfg.ctrl_vq unset or not offered)", what);
		return -ENOTSUP;
	}
	if (!(v->features & 1ull << feature)) {
		vif_set_error("%s: feature %llu not negotiated", what, (unsigned long long)feature);
		return -ENOTSUP;
	}
	return 0;
}

static int mq_pairs(struct vif *v, unsigned pairs)
{
	uint16_t le = htole16((uint16_t)pairs); /* virtio 1.x fields are little endian */
	char step[40];
	int err;

	err = vif_ctrl_cmd(v, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &le, sizeof(le));
	if (err) {
		snprintf(step, sizeof(step), "VQ_PAIRS_SET(%u): ", pairs);
		vif_prefix_error(step);
		return err;
	}
	v->ctrl_pairs = pairs;
	return 0;
}

static int rx_mode(struct vif *v, unsigned cmd, bool on)
{
	uint8_t b = on;
	char step[40];
	int err;

	err = vif_ctrl_cmd(v, VIRTIO_NET_CTRL_RX, (uint8_t)cmd, &b, sizeof(b));
	if (err) {
		snprintf(step, sizeof(step), "RX %s %s: ",
			 cmd == VIRTIO_NET_CTRL_RX_PROMISC ? "PROMISC" : "ALLMULTI", on ? "on" : "off");
		vif_prefix_error(step);
		return err;
	}
	v->ctrl_rx[cmd] = on;
	return 0;
}

int vif_ctrl_mq_pairs(struct vif *v, unsigned pairs)
{
	int err = ctrl_check(v, VIRTIO_NET_F_MQ, "vif_ctrl_mq_pairs");

	if (err)
		return err;
	if (pairs < 1 || pairs > v->nqp) {
		vif_set_error("vif_ctrl_mq_pairs: %u pairs, not in 1..%u", pairs, v->nqp);
		return -EINVAL;
	}
	return mq_pairs(v, pairs);
}

int vif_ctrl_rx(struct vif *v, unsigned cmd, bool on)
{
	int err = ctrl_check(v, VIRTIO_NET_F_CTRL_RX, "vif_ctrl_rx");

	if (err)
		return err;
	if (cmd != VIF_CTRL_RX_PROMISC && cmd != VIF_CTRL_RX_ALLMULTI) {
		vif_set_error("vif_ctrl_rx: command %u is neither PROMISC nor ALLMULTI", cmd);
		return -EINVAL;
	}
	return rx_mode(v, cmd, on);
}

int vif_ctrl_replay(struct vif *v)
{
	int err;

	/* After a device reset only pair 0 is in use (VIRTIO 1.1 5.1.6.5.5). */
	if ((v->features & 1ull << VIRTIO_NET_F_MQ) && v->ctrl_pairs > 1) {
		err = mq_pairs(v, v->ctrl_pairs);
		if (err)
			return err;
	}
	if (!(v->features & 1ull << VIRTIO_NET_F_CTRL_RX))
		return 0;
	for (unsigned c = 0; c < ARRAY_SIZE(v->ctrl_rx); c++) {
		if (v->ctrl_rx[c] < 0)
			continue;
		err = rx_mode(v, c, v->ctrl_rx[c]);
		if (err)
			return err;
	}
	return 0;
}
