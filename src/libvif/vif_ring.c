/* vif_ring.c - libvif's datapath: tx and rx bursts on split virtqueues,
 * notification suppression, and the rx wait. The driver side of VIRTIO 1.1
 * section 2.6 ("Split Virtqueues"), with the backend in the device's role.
 *
 * Descriptor ownership: rx descriptor i always describes rx buffer i, so an
 * rx used id names its buffer; tx descriptors come from a private free
 * stack and the buffer of a tx frame is the slot of its head descriptor.
 * Private arrays (rx_posted, tx_chain, tx_next) record what we handed out,
 * so nothing the backend writes is needed to free or repost anything.
 *
 * Security model: the used rings are written by the backend. The used index
 * is loaded once per call (acquire) and must not move by more than the ring
 * size (else the pair is marked broken: -EIO until reset). Each used entry
 * is read once into locals; ids must be < ring size and name a buffer we
 * posted (rx) or a chain head in flight (tx); rx lengths must fit the
 * buffer; num_buffers must be 1..ring size. Entries failing that are
 * counted in `bad` and skipped, our own buffers among them reposted.
 *
 * Threading: each pair is driven by one thread; see vif_impl.h for the
 * busy/state handshake with the connection thread. No call here allocates
 * or makes a syscall other than the kick write and eventfd reads/polls. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "clk.h"
#include "vif_impl.h"

/* Counters: written by the pair's thread, read by vif_get_stats() from any
 * thread, hence relaxed atomics (a plain add on x86). */
#define STAT_ADD(qp, field, n) \
	__atomic_store_n(&(qp)->st.field, \
			 __atomic_load_n(&(qp)->st.field, __ATOMIC_RELAXED) + (n), \
			 __ATOMIC_RELAXED)
#define STAT_GET(qp, field) __atomic_load_n(&(qp)->st.field, __ATOMIC_RELAXED)

static inline uint64_t va(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Marks a burst call in progress on qp and checks the endpoint is up.
 * Returns 0 with busy set, or -errno with busy clear. */
static inline int enter(struct vif *v, unsigned q, struct vif_qp **out)
{
	struct vif_qp *qp;

	if (unlikely(q >= v->nqp))
		return -EINVAL;
	qp = &v->qp[q];
	atomic_store_explicit(&qp->busy, 1, memory_order_seq_cst);
	if (unlikely(atomic_load_explicit(&v->state, memory_order_seq_cst) != VIF_UP)) {
		atomic_store_explicit(&qp->busy, 0, memory_order_release);
		return -ENOTCONN;
	}
	if (unlikely(qp->broken)) {
		atomic_store_explicit(&qp->busy, 0, memory_order_release);
		return -EIO;
	}
	*out = qp;
	return 0;
}

static inline void leave(struct vif_qp *qp)
{
	atomic_store_explicit(&qp->busy, 0, memory_order_release);
}

/* ---- tx ---- */

/* Returns completed tx chains to the free stack. 0 or -EIO (broken). */
static int tx_reclaim(struct vif_qp *qp)
{
	struct vif_vq *vq = &qp->tx;
	int n = vif_vq_used_pending(vq);

	if (unlikely(n < 0)) {
		qp->broken = true;
		STAT_ADD(qp, bad, 1);
		return -EIO;
	}
	for (; n > 0; n--) {
		uint32_t id, len;
		uint16_t d, k;

		vif_vq_used_read(vq, vq->last_used++, &id, &len);
		if (unlikely(id >= vq->num || !qp->tx_chain[id])) {
			STAT_ADD(qp, bad, 1);
			continue;
		}
		d = (uint16_t)id;
		for (k = qp->tx_chain[id]; k > 0; k--) {
			qp->tx_free[qp->tx_nfree++] = d;
			d = qp->tx_next[d];
		}
		qp->tx_chain[id] = 0;
	}
	return 0;
}

/* Descriptors one frame of len bytes needs in the chain it is described
 * by (the ring itself, or its indirect table). */
static inline unsigned tx_chain_len(const struct vif *v, uint32_t len)
{
	unsigned seg = v->cfg.tx_seg_size;

	if (seg)
		return 1 + (len + seg - 1) / seg;
	return v->indirect ? 2 : 1;
}

/* Fills table[0..] with the chain for a frame whose header + bytes are at
 * buf, linked by index (indirect table: next = i + 1). Returns the count. */
static unsigned tx_fill_indirect(const struct vif *v, struct vring_desc *t,
				 const uint8_t *buf, uint32_t len)
{
	unsigned seg = v->cfg.tx_seg_size ? v->cfg.tx_seg_size : len;
	unsigned n = 0;
	uint32_t off;

	t[n].addr = va(buf);
	t[n].len = v->hdr_len;
	t[n].flags = VRING_DESC_F_NEXT;
	t[n].next = (uint16_t)(n + 1);
	n++;
	for (off = 0; off < len; off += seg, n++) {
		t[n].addr = va(buf + v->hdr_len + off);
		t[n].len = MIN(seg, len - off);
		t[n].flags = VRING_DESC_F_NEXT;
		t[n].next = (uint16_t)(n + 1);
	}
	t[n - 1].flags = 0;
	t[n - 1].next = 0;
	return n;
}

/* Chains a frame through the ring itself: header descriptor `head`, then
 * seg-sized pieces on descriptors popped from the free stack. */
static void tx_fill_chain(const struct vif *v, struct vif_qp *qp, uint16_t head,
			  const uint8_t *buf, uint32_t len)
{
	struct vring_desc *desc = qp->tx.desc;
	unsigned seg = v->cfg.tx_seg_size;
	uint16_t prev = head;
	uint32_t off;

	desc[head].addr = va(buf);
	desc[head].len = v->hdr_len;
	for (off = 0; off < len; off += seg) {
		uint16_t d = qp->tx_free[--qp->tx_nfree];

		desc[prev].flags = VRING_DESC_F_NEXT;
		desc[prev].next = d;
		qp->tx_next[prev] = d;
		desc[d].addr = va(buf + v->hdr_len + off);
		desc[d].len = MIN(seg, len - off);
		prev = d;
	}
	desc[prev].flags = 0;
	desc[prev].next = 0;
}


/* ---- packed rings (VIRTIO 1.1 §2.7), the driver's side ----
 *
 * Slots are filled in ring order. A tx frame takes 1 slot (its slot
 * buffer, or an indirect table) or 1 + its segments (tx_seg_size); its
 * buffer id is the slot of its first descriptor, and tx_chain[id] records
 * how many slots it holds (0: not in flight), so a used descriptor frees
 * exactly what we handed out. An rx buffer takes one slot; its buffer id
 * is its index. Used descriptors are checked as in the split case: the
 * flags are loaded once (acquire), then id and length once; an id that
 * names nothing in flight cannot be skipped (the number of slots it took
 * is unknown) and breaks the pair (-EIO until reset). */

/* Returns completed tx chains' slots. 0 or -EIO (broken). */
static int pk_tx_reclaim(struct vif_qp *qp)
{
	struct vif_vq *vq = &qp->tx;
	uint16_t f;

	while (vq->nfree < vq->num && vif_pk_used_at(vq, vq->next_used, vq->used_wrap, &f)) {
		uint16_t id = __atomic_load_n(&vq->pdesc[vq->next_used].id, __ATOMIC_RELAXED);
		uint16_t k;

		if (unlikely(id >= vq->num || !qp->tx_chain[id] ||
			     qp->tx_chain[id] > vq->num - vq->nfree)) {
			qp->broken = true;
			STAT_ADD(qp, bad, 1);
			return -EIO;
		}
		k = qp->tx_chain[id];
		qp->tx_chain[id] = 0;
		vq->nfree = (uint16_t)(vq->nfree + k);
		vq->next_used = (uint16_t)(vq->next_used + k);
		if (vq->next_used >= vq->num) {
			vq->next_used = (uint16_t)(vq->next_used - vq->num);
			vq->used_wrap = !vq->used_wrap;
		}
	}
	return 0;
}

int vif_pk_tx_inflight(struct vif_qp *qp)
{
	int err = pk_tx_reclaim(qp);

	return err ? err : qp->tx.num - qp->tx.nfree;
}

/* Writes descriptor `slot` (flags last, release, when it heads a chain:
 * the backend may take the chain as soon as it sees them). */
static inline void pk_put(struct vif_vq *vq, uint16_t slot, uint64_t addr, uint32_t len,
			  uint16_t id, uint16_t flags, bool head)
{
	struct vring_packed_desc *d = &vq->pdesc[slot];

	d->addr = addr;
	d->len = len;
	d->id = id;
	if (head)
		__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	else
		d->flags = flags;
}

static int pk_tx_burst(struct vif *v, struct vif_qp *qp, const struct vif_pkt *pkts, unsigned n)
{
	struct vif_vq *vq = &qp->tx;
	unsigned seg = v->cfg.tx_seg_size, i;
	uint64_t bytes = 0;
	int err;

	err = pk_tx_reclaim(qp);
	if (unlikely(err))
		return err;
	for (i = 0; i < n; i++) {
		uint32_t len = pkts[i].len;
		unsigned need = v->indirect ? 1 : tx_chain_len(v, len);
		uint16_t head = vq->next_avail, hflags, slot;
		bool wrap;
		uint8_t *buf;

		if (vq->nfree < need || qp->tx_chain[head])
			break;
		buf = qp->tx_bufs + (size_t)head * v->tx_slot_size;
		memset(buf, 0, v->hdr_len);
		memcpy(buf + v->hdr_len, pkts[i].data, len);
		hflags = vif_pk_avail_flags(vq);
		if (v->indirect) {
			struct vring_packed_desc *t = (struct vring_packed_desc *)(void *)
				(qp->tx_indir + (size_t)head * v->tx_max_chain);
			unsigned k = 0, s = seg ? seg : len;

			t[k++] = (struct vring_packed_desc){ .addr = va(buf), .len = v->hdr_len };
			for (uint32_t off = 0; off < len; off += s)
				t[k++] = (struct vring_packed_desc){ .addr = va(buf + v->hdr_len + off),
								     .len = MIN(s, len - off) };
			pk_put(vq, head, va(t), (uint32_t)(k * sizeof(*t)), head,
			       (uint16_t)(hflags | VRING_DESC_F_INDIRECT), true);
		} else if (seg) {
			/* The header slot last: its flags publish the chain. */
			slot = head;
			wrap = vq->avail_wrap;
			for (uint32_t off = 0; off < len; off += seg) {
				vif_pk_slot_next(vq, &slot, &wrap);
				pk_put(vq, slot, va(buf + v->hdr_len + off), MIN(seg, len - off),
				       head, (uint16_t)((wrap ? VIF_PF_AVAIL : VIF_PF_USED) |
							(off + seg < len ? VRING_DESC_F_NEXT : 0)),
				       false);
			}
			pk_put(vq, head, va(buf), v->hdr_len, head,
			       (uint16_t)(hflags | VRING_DESC_F_NEXT), true);
		} else {
			pk_put(vq, head, va(buf), v->hdr_len + len, head, hflags, true);
		}
		qp->tx_chain[head] = (uint16_t)need;
		vq->nfree = (uint16_t)(vq->nfree - need);
		for (unsigned k = 0; k < need; k++)
			vif_pk_slot_next(vq, &vq->next_avail, &vq->avail_wrap);
		bytes += len;
	}
	if (i) {
		vif_pk_kick(vq);
		STAT_ADD(qp, tx_pkts, i);
		STAT_ADD(qp, tx_bytes, bytes);
	}
	if (i < n)
		STAT_ADD(qp, tx_ring_full, n - i);
	return (int)i;
}

int vif_tx_burst(struct vif *v, unsigned q, const struct vif_pkt *pkts, unsigned n)
{
	struct vif_qp *qp;
	struct vif_vq *vq;
	uint64_t bytes = 0;
	uint16_t old;
	unsigned i;
	int err;

	err = enter(v, q, &qp);
	if (err)
		return err;
	/* Check every frame before queuing any, so -EINVAL sends nothing. */
	for (i = 0; i < n; i++) {
		uint32_t len = pkts[i].len;

		if (unlikely(!pkts[i].data || len < 14 || len > VIF_MAX_FRAME ||
			     tx_chain_len(v, len) > v->tx_max_chain)) {
			leave(qp);
			return -EINVAL;
		}
	}
	if (v->packed) {
		err = pk_tx_burst(v, qp, pkts, n);
		leave(qp);
		return err;
	}
	vq = &qp->tx;
	err = tx_reclaim(qp);
	if (unlikely(err)) {
		leave(qp);
		return err;
	}
	old = vq->avail_idx;
	for (i = 0; i < n; i++) {
		uint32_t len = pkts[i].len;
		unsigned need = v->indirect ? 1 : tx_chain_len(v, len);
		uint16_t head;
		uint8_t *buf;

		if (qp->tx_nfree < need)
			break;
		head = qp->tx_free[--qp->tx_nfree];
		buf = qp->tx_bufs + (size_t)head * v->tx_slot_size;
		memset(buf, 0, v->hdr_len);
		memcpy(buf + v->hdr_len, pkts[i].data, len);
		if (v->indirect) {
			struct vring_desc *t = qp->tx_indir + (size_t)head * v->tx_max_chain;
			unsigned k = tx_fill_indirect(v, t, buf, len);

			vq->desc[head].addr = va(t);
			vq->desc[head].len = (uint32_t)(k * sizeof(*t));
			vq->desc[head].flags = VRING_DESC_F_INDIRECT;
			vq->desc[head].next = 0;
		} else if (v->cfg.tx_seg_size) {
			tx_fill_chain(v, qp, head, buf, len);
		} else {
			vq->desc[head].addr = va(buf);
			vq->desc[head].len = v->hdr_len + len;
			vq->desc[head].flags = 0;
			vq->desc[head].next = 0;
		}
		qp->tx_chain[head] = (uint16_t)need;
		vq->avail->ring[vq->avail_idx & vq->mask] = head;
		vq->avail_idx++;
		bytes += len;
	}
	if (i) {
		vif_vq_publish(v, vq, old);
		STAT_ADD(qp, tx_pkts, i);
		STAT_ADD(qp, tx_bytes, bytes);
	}
	if (i < n)
		STAT_ADD(qp, tx_ring_full, n - i);
	leave(qp);
	return (int)i;
}

/* ---- rx ---- */

/* Takes buffer id back from the backend if it is one we posted. */
static inline bool rx_take(struct vif_qp *qp, uint32_t id)
{
	if (unlikely(id >= qp->rx.num || !qp->rx_posted[id]))
		return false;
	qp->rx_posted[id] = 0;
	return true;
}

/* Gives buffer id to the backend again (published later, once per call).
 * There is always room: at most num buffers exist and id was not posted. */
static inline void rx_repost(const struct vif *v, struct vif_qp *qp, uint16_t id)
{
	struct vif_vq *vq = &qp->rx;

	/* Rewrite the descriptor: the ring is shared memory and a confused
	 * backend may have scribbled on it. */
	vq->desc[id].addr = va(qp->rx_bufs + (size_t)id * v->cfg.rx_buf_size);
	vq->desc[id].len = v->cfg.rx_buf_size;
	vq->desc[id].flags = VRING_DESC_F_WRITE;
	vq->desc[id].next = 0;
	vq->avail->ring[vq->avail_idx & vq->mask] = id;
	vq->avail_idx++;
	qp->rx_posted[id] = 1;
}

/* Outcome of one rx frame. */
enum rx_res { RX_OK, RX_BAD, RX_WAIT };

/* Receives the frame starting at used entry last_used, `avail` entries
 * being published. On RX_OK/RX_BAD the frame's entries are consumed and
 * its buffers reposted (only after the whole frame is gathered, so a
 * buffer named twice in one frame is caught); on RX_WAIT nothing changed
 * (the frame's other buffers are not published yet). */
static enum rx_res rx_one(const struct vif *v, struct vif_qp *qp, unsigned avail,
			  struct vif_pkt *pkt)
{
	struct vif_vq *vq = &qp->rx;
	uint32_t bs = v->cfg.rx_buf_size, cap = pkt->len, copied = 0;
	uint64_t total = 0; /* up to num * bs: may exceed 32 bits */
	uint8_t *dst = pkt->data;
	uint32_t id, len, nbuf = 1, ntaken = 0, j;
	bool ok = true;

	vif_vq_used_read(vq, vq->last_used, &id, &len);
	if (!rx_take(qp, id)) {
		vq->last_used++;
		return RX_BAD;
	}
	if (len < v->hdr_len || len > bs) {
		rx_repost(v, qp, (uint16_t)id);
		vq->last_used++;
		return RX_BAD;
	}
	if (v->mrg_rxbuf) {
		const struct virtio_net_hdr_mrg_rxbuf *h =
			(const void *)(qp->rx_bufs + (size_t)id * bs);

		/* The backend says how many entries this frame spans; it
		 * may lie, so it is only a count we check against the ring. */
		nbuf = __atomic_load_n(&h->num_buffers, __ATOMIC_RELAXED);
		if (nbuf == 0 || nbuf > vq->num) {
			rx_repost(v, qp, (uint16_t)id);
			vq->last_used++;
			return RX_BAD;
		}
		if (nbuf > avail) {
			qp->rx_posted[id] = 1;
			return RX_WAIT;
		}
	}
	for (j = 0; j < nbuf; j++) {
		uint32_t skip = 0, n;

		if (j > 0) {
			vif_vq_used_read(vq, (uint16_t)(vq->last_used + j), &id, &len);
			if (!rx_take(qp, id)) {
				ok = false;
				continue;
			}
		} else {
			skip = v->hdr_len;
		}
		qp->rx_ids[ntaken++] = (uint16_t)id;
		if (len > bs) {
			ok = false;
			continue;
		}
		len -= skip;
		total += len;
		n = MIN(len, cap - copied);
		if (ok && n) {
			memcpy(dst + copied, qp->rx_bufs + (size_t)id * bs + skip, n);
			copied += n;
		}
	}
	for (j = 0; j < ntaken; j++)
		rx_repost(v, qp, qp->rx_ids[j]);
	vq->last_used = (uint16_t)(vq->last_used + nbuf);
	if (!ok || total < 14)
		return RX_BAD;
	if (total > cap)
		STAT_ADD(qp, rx_truncated, 1);
	pkt->len = copied;
	STAT_ADD(qp, rx_bytes, copied);
	return RX_OK;
}


/* Packed: gives buffer id to the backend again at the next free slot. */
static inline void pk_rx_repost(const struct vif *v, struct vif_qp *qp, uint16_t id)
{
	struct vif_vq *vq = &qp->rx;

	pk_put(vq, vq->next_avail, va(qp->rx_bufs + (size_t)id * v->cfg.rx_buf_size),
	       v->cfg.rx_buf_size, id, (uint16_t)(vif_pk_avail_flags(vq) | VRING_DESC_F_WRITE),
	       true);
	vif_pk_slot_next(vq, &vq->next_avail, &vq->avail_wrap);
	vq->nfree--;
	qp->rx_posted[id] = 1;
}

/* Consumes the used descriptor at next_used (one slot: rx buffers take
 * one each). */
static inline void pk_rx_used_next(struct vif_vq *vq)
{
	vif_pk_slot_next(vq, &vq->next_used, &vq->used_wrap);
	vq->nfree++;
}

/* Receives the frame whose first used descriptor is at next_used (seen
 * used). As rx_one(): RX_OK / RX_BAD consume the frame's descriptors and
 * repost its buffers; RX_WAIT changes nothing. */
static enum rx_res pk_rx_one(const struct vif *v, struct vif_qp *qp, struct vif_pkt *pkt)
{
	struct vif_vq *vq = &qp->rx;
	uint32_t bs = v->cfg.rx_buf_size, cap = pkt->len, copied = 0, nbuf = 1, ntaken = 0, j;
	uint64_t total = 0;
	uint16_t slot = vq->next_used, f, id;
	bool wrap = vq->used_wrap, ok = true;
	uint8_t *dst = pkt->data;
	uint32_t len;

	id = __atomic_load_n(&vq->pdesc[slot].id, __ATOMIC_RELAXED);
	len = __atomic_load_n(&vq->pdesc[slot].len, __ATOMIC_RELAXED);
	if (unlikely(id >= vq->num || !qp->rx_posted[id])) {
		pk_rx_used_next(vq);
		return RX_BAD;
	}
	if (len < v->hdr_len || len > bs) {
		qp->rx_posted[id] = 0;
		pk_rx_used_next(vq);
		pk_rx_repost(v, qp, id);
		return RX_BAD;
	}
	if (v->mrg_rxbuf) {
		const struct virtio_net_hdr_mrg_rxbuf *h =
			(const void *)(qp->rx_bufs + (size_t)id * bs);

		nbuf = __atomic_load_n(&h->num_buffers, __ATOMIC_RELAXED);
		/* (no more than the buffers posted: a backend that broke the
		 * count cannot push nfree past the ring) */
		if (nbuf == 0 || nbuf > vq->num || nbuf > (uint32_t)(vq->num - vq->nfree)) {
			qp->rx_posted[id] = 0;
			pk_rx_used_next(vq);
			pk_rx_repost(v, qp, id);
			return RX_BAD;
		}
		/* Every descriptor of the frame must be used already. */
		for (j = 1; j < nbuf; j++) {
			vif_pk_slot_next(vq, &slot, &wrap);
			if (!vif_pk_used_at(vq, slot, wrap, &f))
				return RX_WAIT;
		}
	}
	for (j = 0; j < nbuf; j++) {
		uint32_t skip = 0, n;

		if (j > 0) {
			uint16_t s = vq->next_used;

			(void)vif_pk_used_at(vq, s, vq->used_wrap, &f); /* (acquire) */
			id = __atomic_load_n(&vq->pdesc[s].id, __ATOMIC_RELAXED);
			len = __atomic_load_n(&vq->pdesc[s].len, __ATOMIC_RELAXED);
		} else {
			skip = v->hdr_len;
		}
		pk_rx_used_next(vq);
		if (!rx_take(qp, id)) {
			ok = false;
			continue;
		}
		qp->rx_ids[ntaken++] = id;
		if (len > bs || len < skip) {
			ok = false;
			continue;
		}
		len -= skip;
		total += len;
		n = MIN(len, cap - copied);
		if (ok && n) {
			memcpy(dst + copied, qp->rx_bufs + (size_t)id * bs + skip, n);
			copied += n;
		}
	}
	for (j = 0; j < ntaken; j++)
		pk_rx_repost(v, qp, qp->rx_ids[j]);
	if (!ok || total < 14)
		return RX_BAD;
	if (total > cap)
		STAT_ADD(qp, rx_truncated, 1);
	pkt->len = copied;
	STAT_ADD(qp, rx_bytes, copied);
	return RX_OK;
}

static int pk_rx_burst(struct vif *v, struct vif_qp *qp, struct vif_pkt *pkts, unsigned n)
{
	struct vif_vq *vq = &qp->rx;
	unsigned got = 0;
	uint16_t avail0 = vq->next_avail, f;
	bool wrap0 = vq->avail_wrap;

	while (got < n && vq->nfree < vq->num &&
	       vif_pk_used_at(vq, vq->next_used, vq->used_wrap, &f)) {
		enum rx_res r = pk_rx_one(v, qp, &pkts[got]);

		if (r == RX_WAIT)
			break;
		if (r == RX_OK)
			got++;
		else
			STAT_ADD(qp, bad, 1);
	}
	if (vq->next_avail != avail0 || vq->avail_wrap != wrap0)
		vif_pk_kick(vq);
	if (got)
		STAT_ADD(qp, rx_pkts, got);
	return (int)got;
}

int vif_rx_burst(struct vif *v, unsigned q, struct vif_pkt *pkts, unsigned n)
{
	struct vif_qp *qp;
	struct vif_vq *vq;
	unsigned got = 0;
	uint16_t old;
	int avail, err;

	err = enter(v, q, &qp);
	if (err)
		return err;
	if (v->packed) {
		err = pk_rx_burst(v, qp, pkts, n);
		leave(qp);
		return err;
	}
	vq = &qp->rx;
	avail = vif_vq_used_pending(vq);
	if (unlikely(avail < 0)) {
		qp->broken = true;
		STAT_ADD(qp, bad, 1);
		leave(qp);
		return -EIO;
	}
	old = vq->avail_idx;
	while (got < n && avail > 0) {
		uint16_t before = vq->last_used;
		enum rx_res r = rx_one(v, qp, (unsigned)avail, &pkts[got]);

		if (r == RX_WAIT)
			break;
		avail -= (uint16_t)(vq->last_used - before);
		if (r == RX_OK)
			got++;
		else
			STAT_ADD(qp, bad, 1);
	}
	if (vq->avail_idx != old)
		vif_vq_publish(v, vq, old);
	if (got)
		STAT_ADD(qp, rx_pkts, got);
	leave(qp);
	return (int)got;
}

/* Whether rx has something for vif_rx_burst (a frame, or nonsense it
 * will report). */
static bool rx_ready(const struct vif *v, const struct vif_vq *vq)
{
	uint16_t f;

	if (v->packed)
		return vq->nfree < vq->num && vif_pk_used_at(vq, vq->next_used, vq->used_wrap, &f);
	return vif_vq_used_pending(vq) != 0;
}

/* Asks the backend to signal call_fd on the next used entry (on=true) or
 * not to bother (on=false). */
static void rx_notify(const struct vif *v, struct vif_vq *vq, bool on)
{
	if (v->packed) {
		__atomic_store_n(&vq->drv_event->flags,
				 (uint16_t)(on ? VRING_PACKED_EVENT_FLAG_ENABLE :
						 VRING_PACKED_EVENT_FLAG_DISABLE),
				 __ATOMIC_RELAXED);
		return;
	}
	if (v->event_idx) {
		uint16_t ev = on ? vq->last_used : (uint16_t)(vq->last_used + 0x8000);

		__atomic_store_n(vq->used_event, ev, __ATOMIC_RELAXED);
	} else {
		uint16_t f = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;

		__atomic_store_n(&vq->avail->flags, f, __ATOMIC_RELAXED);
	}
}

int vif_rx_wait(struct vif *v, unsigned q, int timeout_ms)
{
	struct vif_qp *qp;
	struct vif_vq *vq;
	uint64_t deadline;
	int r, err;

	err = enter(v, q, &qp);
	if (err)
		return err;
	vq = &qp->rx;
	if (rx_ready(v, vq)) {
		leave(qp);
		return 1;
	}
	deadline = timeout_ms < 0 ? UINT64_MAX : clk_now_ns() + (uint64_t)timeout_ms * 1000000;
	rx_notify(v, vq, true);
	/* Our enable must be visible before we look at the used index again,
	 * or a frame published in between would not be signalled. */
	atomic_thread_fence(memory_order_seq_cst);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = vq->call_fd, .events = POLLIN },
			{ .fd = v->sock, .events = POLLRDHUP },
		};
		uint64_t cnt, now;
		int left = -1;

		if (rx_ready(v, vq)) {
			r = 1;
			break;
		}
		if (deadline != UINT64_MAX) {
			now = clk_now_ns();
			left = now >= deadline ? 0 :
			       (int)MIN((deadline - now + 999999) / 1000000, (uint64_t)INT32_MAX);
		}
		r = poll(pfd, 2, left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (pfd[0].revents & POLLIN)
			while (read(vq->call_fd, &cnt, sizeof(cnt)) == sizeof(cnt))
				STAT_ADD(qp, rx_calls, cnt);
		if (atomic_load_explicit(&v->state, memory_order_seq_cst) != VIF_UP ||
		    (pfd[1].revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))) {
			r = -ENOTCONN;
			break;
		}
		if (r == 0) {
			/* Timed out; a last look in case the signal was lost. */
			r = rx_ready(v, vq);
			break;
		}
		/* Woken (possibly by a stale signal): look again. */
	}
	rx_notify(v, vq, false);
	leave(qp);
	return r;
}

int vif_rx_fd(const struct vif *v, unsigned q)
{
	if (q >= v->nqp)
		return -EINVAL;
	return v->qp[q].rx.call_fd;
}

void vif_get_stats(const struct vif *v, struct vif_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned q = 0; q < v->nqp; q++) {
		const struct vif_qp *qp = &v->qp[q];

		s->tx_pkts += STAT_GET(qp, tx_pkts);
		s->tx_bytes += STAT_GET(qp, tx_bytes);
		s->tx_ring_full += STAT_GET(qp, tx_ring_full);
		s->rx_pkts += STAT_GET(qp, rx_pkts);
		s->rx_bytes += STAT_GET(qp, rx_bytes);
		s->rx_truncated += STAT_GET(qp, rx_truncated);
		s->rx_calls += STAT_GET(qp, rx_calls);
		s->rx_bad += STAT_GET(qp, bad);
	}
	s->reconnects = __atomic_load_n(&v->reconnects, __ATOMIC_RELAXED);
	s->ctrl_bad = __atomic_load_n(&v->ctrl_bad, __ATOMIC_RELAXED);
}
