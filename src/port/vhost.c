/* vhost.c - the vhost-user port driver: a guest's (QEMU, DPDK virtio-user,
 * libvif) virtio-net device served over a unix socket (src/vhost) with
 * split or packed virtqueues in its memory (src/virtio: vq.h, vqp.h). The
 * ring kind is tested once per burst: each burst function is inlined once
 * per kind. Queue q of the port is queue
 * pair q: frames come from the guest's transmit ring 2q+1 and go to its
 * receive ring 2q.
 *
 * Receive: chains are popped from the guest's transmit ring and described
 * as packets pointing into guest memory; the virtio-net header is taken
 * off (its offload fields kept in the packet); rx_done gives the chains
 * back through the used ring, one publish and at most one notification per
 * burst.
 * Transmit: per burst, under the receive ring's lock when several workers
 * may send to it, the chains of every frame are reserved first (several
 * per frame with MRG_RXBUF; up to DST_CHAINS at a time, each buffer's first
 * line prefetched for writing as soon as its descriptor is read), then each
 * frame is written: the virtio-net header (with the frame's offload fields
 * when the guest negotiated them), the private head with the rewritten L2
 * header (MACs, egress tag), then the rest straight from the source's
 * buffers (one copy); one used-index publish, and the call (at most one)
 * after the lock is released. A frame needing an offload the guest did not
 * negotiate (a 64 KiB TCP frame to a guest without GUEST_TSO4) is
 * segmented, or its checksum completed, in software while it is copied
 * into the guest's buffers (src/offload), each segment in its own chains.
 *
 * Security model: rings and buffers are guest memory (see vq.h for how each
 * index and descriptor is read once and checked). What a sender's guest
 * wrote after classification cannot change what the switch decided: the
 * receiver gets the private head. A ring error marks the device broken,
 * tells the control thread (env->broken_fd), and the port is left out of
 * the next snapshot; every other port goes on. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_net.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "iovc.h"
#include "port.h"
#include "qos.h"
#include "util.h"
#include "vhu.h"
#include "vlog.h"
#include "xalloc.h"

enum {
	DST_CHAINS = PORT_TX_CHAINS, /* rx chains reserved at a time (a burst of small frames) */
	ANNOUNCE_ID = 0xffff,        /* pkt.id of the announce frame (no ring head is) */
	ANNOUNCE_LEN = 60,
	/* SEND_RARP: one announce in flight per port; at most this often. */
	ANNOUNCE_GAP_NS = 100 * 1000 * 1000,
};

/* announce.state: the RARP frame the control thread made for SEND_RARP. */
enum { ANN_IDLE, ANN_READY, ANN_TAKEN };

static_assert((int)PKT_MAX_SEGS == (int)VQ_MAX_IOV, "a chain's iovecs fit a packet");
static_assert(DST_CHAINS <= 255, "struct resv holds 8-bit indices");
/* A packed ring tracks the chains taken and not yet used (a burst's, at
 * most the datapath's burst of 32 on receive, DST_CHAINS on transmit). */
static_assert((int)DST_CHAINS <= (int)VQ_INFLIGHT, "a packed ring tracks every chain a burst holds");

/* A receive ring may be filled by several workers: each burst's writes to
 * it run under this lock (never per packet; never two held at once). */
struct rxq_lock {
	atomic_flag f;
} cache_aligned;

struct vhost_port {
	struct vhu_dev *dev;
	struct rxq_lock lock[VHU_MAX_QUEUE_PAIRS];
	/* Fair share of each receive ring (qos.h): allocated by the control
	 * thread when the ring first goes live (a worker may still use it
	 * through an older snapshot, so it stays until close); used under the
	 * ring's lock. NULL without memory: no fair share. */
	struct qos_fair *fair[VHU_MAX_QUEUE_PAIRS];
	/* Interrupt moderation of each receive ring (port_coal), under the
	 * ring's lock: frames delivered since the last call, when the first
	 * of them came, when the last delivery was (qos time). */
	struct {
		uint16_t pending;
		uint64_t since, last;
	} coal[VHU_MAX_QUEUE_PAIRS];
	/* SEND_RARP's frame, received on queue 0 as if the guest had sent it:
	 * the control thread writes frame while state is ANN_IDLE and then
	 * stores ANN_READY (release); queue 0's poller takes it (acquire),
	 * ANN_TAKEN until rx_done (back to ANN_IDLE, release) or rx_keep
	 * (ANN_READY again). last_ns: control thread only. */
	struct {
		_Atomic int state;
		uint64_t last_ns;
		uint8_t frame[ANNOUNCE_LEN];
	} ann;
};

static struct vhost_port *vp(struct port *p)
{
	return p->priv;
}

static void broke(struct port *p, int why, int detail)
{
	static const uint64_t one = 1;
	struct vhu_dev *d = vp(p)->dev;

	if (vhu_dev_is_broken(d))
		return;
	vhu_dev_mark_broken(d, why, detail);
	/* Wake the control thread to log and stop the port. */
	if (write(p->env->broken_fd, &one, sizeof(one)) < 0) {
		/* eventfd counter overflow only; the flag is set anyway */
	}
}

/* ---- receive: the guest's transmit ring ---- */

/* Takes the virtio-net header (hdr bytes, maybe spread over segments) off
 * the front of pk, keeping its offload fields. A chain shorter than the
 * header leaves a frame of length 0 (counted invalid by the datapath). */
static inline void strip_hdr(struct pkt *pk, uint32_t hdr)
{
	struct virtio_net_hdr h;
	struct iovc c;

	if (unlikely(pk->len < hdr)) {
		pk->len = 0;
		pk->nseg = 0;
		pk->ol = (struct pkt_ol){ 0 };
		return;
	}
	if (likely(pk->seg[0].iov_len >= sizeof(h))) {
		memcpy(&h, pk->seg[0].iov_base, sizeof(h));
	} else {
		iovc_init(&c, pk->seg, pk->nseg);
		iovc_get(&c, (uint8_t *)&h, sizeof(h));
	}
	/* VIRTIO 1.x: little-endian fields (vifd negotiates VERSION_1). */
	pk->ol = (struct pkt_ol){ .flags = h.flags, .gso_type = h.gso_type,
	                          .hdr_len = le16toh(h.hdr_len), .gso_size = le16toh(h.gso_size),
	                          .csum_start = le16toh(h.csum_start),
	                          .csum_offset = le16toh(h.csum_offset) };
	pk->len -= hdr;
	while (hdr) {
		if (pk->seg[0].iov_len > hdr) {
			pk->seg[0].iov_base = (uint8_t *)pk->seg[0].iov_base + hdr;
			pk->seg[0].iov_len -= hdr;
			break;
		}
		/* The header's own descriptor (Linux, without ANY_LAYOUT use). */
		hdr -= (uint32_t)pk->seg[0].iov_len;
		memmove(&pk->seg[0], &pk->seg[1], sizeof(pk->seg[0]) * (pk->nseg - 1u));
		pk->nseg--;
	}
}

/* The burst functions below take `pk` (packed ring) as a constant: each
 * is inlined twice into its port op, which tests the ring's kind once per
 * burst, so no packet pays for the choice (vqp.h, vqx_*). */
#define BURST_INLINE static inline __attribute__((always_inline))

/* Queue 0's poller: hands out the announce frame (SEND_RARP) if one is
 * ready, as pkts[0]. Returns 1 if it did. */
static inline unsigned take_announce(struct vhost_port *v, unsigned q, struct pkt *pk)
{
	if (likely(q != 0 ||
	           atomic_load_explicit(&v->ann.state, memory_order_acquire) != ANN_READY))
		return 0;
	atomic_store_explicit(&v->ann.state, ANN_TAKEN, memory_order_relaxed);
	pk->seg[0] = (struct iovec){ v->ann.frame, ANNOUNCE_LEN };
	pk->nseg = 1;
	pk->len = ANNOUNCE_LEN;
	pk->ol = (struct pkt_ol){ 0 };
	pk->rem = 0;
	pk->id = ANNOUNCE_ID;
	return 1;
}

BURST_INLINE int rx_burst(struct port *p, unsigned q, struct vq *vq, struct pkt *pkts,
                          unsigned max, const bool pk)
{
	struct vhu_dev *d = vp(p)->dev;
	uint32_t hdr = d->hdr_len;
	int avail;
	unsigned n, a;

	a = max ? take_announce(vp(p), q, pkts) : 0;
	avail = vqx_avail_count(vq, pk, max);
	if (avail <= 0) {
		if (unlikely(avail < 0)) {
			if (a)
				atomic_store(&vp(p)->ann.state, ANN_IDLE);
			broke(p, VHU_BROKEN_RING, -avail);
			return -1;
		}
		return (int)a;
	}
	n = a + MIN((unsigned)avail, max - a);
	vqx_prefetch(vq, pk, n - a);
	for (unsigned i = a; i < n; i++) {
		struct pkt *pt = &pkts[i];
		uint16_t nout;
		int r = vqx_pop_into(vq, pk, pt->seg, &pt->nseg, &nout, &pt->len, &pt->id, VQ_OUT);

		if (unlikely(r < 0)) {
			/* The chains popped so far stay taken: the port stops. */
			if (a)
				atomic_store(&vp(p)->ann.state, ANN_IDLE);
			broke(p, VHU_BROKEN_RING, -r);
			return -1;
		}
		strip_hdr(pt, hdr);
		pt->rem = 0;
	}
	return (int)n;
}

static int vhost_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf)
{
	struct vhu_dev *d = vp(p)->dev;
	struct vq *vq = &d->vr[2 * q + 1].vq;

	(void)buf;
	if (unlikely(vhu_dev_is_broken(d)))
		return 0;
	return vq->packed ? rx_burst(p, q, vq, pkts, max, true) : rx_burst(p, q, vq, pkts, max, false);
}

static void vhost_rx_keep(struct port *p, unsigned q, const struct pkt *pkts, unsigned n)
{
	struct vq *vq = &vp(p)->dev->vr[2 * q + 1].vq;
	unsigned chains = 0;

	/* The chains stay available: the guest's ring holds them; the
	 * announce frame (never a chain) is handed out again. */
	for (unsigned i = 0; i < n; i++) {
		if (pkts[i].id == ANNOUNCE_ID)
			atomic_store_explicit(&vp(p)->ann.state, ANN_READY, memory_order_relaxed);
		else
			chains++;
	}
	vqx_unpop(vq, vq->packed, (uint16_t)chains);
}

BURST_INLINE void rx_done(struct port *p, struct vq *vq, const struct pkt *pkts, unsigned n,
                          const bool pk)
{
	/* Nothing was written into transmit buffers: used length 0. The
	 * announce frame (ANNOUNCE_ID, never a ring head) is vifd's own. */
	unsigned used = 0;

	for (unsigned i = 0; i < n; i++) {
		if (unlikely(pkts[i].id == ANNOUNCE_ID)) {
			atomic_store_explicit(&vp(p)->ann.state, ANN_IDLE, memory_order_release);
		} else {
			vqx_used_put(vq, pk, pkts[i].id, 0);
			used++;
		}
	}
	if (!used)
		return;
	vqx_used_publish(vq, pk);
	if (!vqx_call(vq, pk))
		broke(p, VHU_BROKEN_CALL, 0);
}

static void vhost_rx_done(struct port *p, unsigned q, const struct pkt *pkts, unsigned n)
{
	struct vq *vq = &vp(p)->dev->vr[2 * q + 1].vq;

	if (vq->packed)
		rx_done(p, vq, pkts, n, true);
	else
		rx_done(p, vq, pkts, n, false);
}

static bool vhost_rx_arm(struct port *p, unsigned q, bool on)
{
	struct vhu_vring *vr = &vp(p)->dev->vr[2 * q + 1];
	bool pk = vr->vq.packed;

	if (!on) {
		vqx_kicks_disable(&vr->vq, pk);
		return true;
	}
	/* Ask for kicks, then look again: a frame may have come before the
	 * guest saw the request. (A ring without a kick fd cannot wake the
	 * worker: it polls it on a timer, see queue_fd.) An announce made
	 * after this look wakes the workers itself. */
	vqx_kicks_enable(&vr->vq, pk);
	return vqx_avail_count(&vr->vq, pk, 1) == 0 &&
	       (q || atomic_load_explicit(&vp(p)->ann.state, memory_order_acquire) != ANN_READY);
}

/* ---- transmit: the guest's receive ring ---- */

enum resv_res { RV_OK, RV_NO_ROOM, RV_FULL, RV_BROKEN };

/* Writer over the rx chains reserved for one frame: fills chain 0, then
 * chain 1, ... (MRG_RXBUF), so chain k receives min(its length, what is
 * left) bytes. */
struct dcur {
	const struct vq_chain *ch;
	unsigned nch, k;
	struct iovc c;
};

static inline bool dcur_ready(struct dcur *d)
{
	while (d->c.i == d->c.n) {
		if (d->k + 1 >= d->nch)
			return false;
		d->k++;
		iovc_init(&d->c, d->ch[d->k].iov, d->ch[d->k].niov);
	}
	return true;
}

static inline void dcur_put(struct dcur *d, const uint8_t *src, size_t len)
{
	while (len && dcur_ready(d)) {
		size_t n = iovc_put(&d->c, src, len);
		src += n;
		len -= n;
	}
}

static inline void dcur_copy(struct dcur *d, struct iovc *s, size_t len)
{
	while (len && dcur_ready(d)) {
		size_t n = iovc_copy(&d->c, s, len);
		if (!n)
			break;
		len -= n;
	}
}

/* Whether the CPU has PREFETCHW (AMD since K6, Intel since Broadwell): a
 * line prefetched for writing arrives owned, where a plain prefetch of a
 * line the guest's core last wrote brings it shared and the first store
 * then waits for the other core a second time. */
static bool cpu_has_prefetchw(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8));
#else
	return false;
#endif
}

/* Set once by the control thread when the first port opens (before any
 * worker sends to it). */
static bool prefetchw;

/* Prefetches the line at p for writing (a hint: p need not be mapped). */
static inline void prefetch_w(bool pw, const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	if (pw) {
		__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
		return;
	}
#endif
	(void)pw;
	__builtin_prefetch(p, 1);
}

/* Reserves the rx chains a frame needs (need bytes with the virtio header)
 * into dst[base..] (the worker's scratch), and starts loading the first line of
 * each for writing.
 * *avail counts the ring's remaining available entries. RV_FULL: dst has
 * no room left after base > 0 (write what is reserved, then try again from
 * 0); RV_NO_ROOM: the ring has not enough buffers, or the frame needs more
 * than DST_CHAINS. Nothing stays reserved unless RV_OK. */
BURST_INLINE enum resv_res reserve(struct vq_chain *dst, struct vq *q, bool mrg, bool pw,
                                   int *avail, unsigned base, uint32_t need, unsigned *nch_out,
                                   int *err, const bool pk)
{
	uint32_t cap = 0;
	unsigned nch = 0;

	while (cap < need) {
		struct vq_chain *c = &dst[base + nch];
		int r;

		/* Packed: the count is a bounded look ahead; look again. */
		if (pk && *avail == 0) {
			*avail = vqx_avail_count(q, pk, DST_CHAINS);
			if (unlikely(*avail < 0)) {
				*err = -*avail;
				*avail = 0;
				vqx_unpop(q, pk, (uint16_t)nch);
				return RV_BROKEN;
			}
		}
		if (*avail == 0 || (nch == 1 && !mrg) || base + nch == DST_CHAINS) {
			enum resv_res why = *avail != 0 && base + nch == DST_CHAINS && base > 0
			                            ? RV_FULL
			                            : RV_NO_ROOM;
			vqx_unpop(q, pk, (uint16_t)nch);
			*avail += (int)nch;
			return why;
		}
		r = vqx_pop(q, pk, c, VQ_IN);
		(*avail)--;
		if (unlikely(r < 0)) {
			*err = -r;
			return RV_BROKEN;
		}
		prefetch_w(pw, c->iov[0].iov_base);
		cap += MIN(c->len, need - cap);
		nch++;
	}
	*nch_out = nch;
	return RV_OK;
}

/* The virtio-net header of a frame: its offload fields (host order), and
 * num_buffers, the chains it uses (VIRTIO 1.1 5.1.6.3.2; ignored without
 * MRG_RXBUF). */
static inline void hdr_fill(struct virtio_net_hdr_mrg_rxbuf *h, const struct pkt_ol *o,
                            unsigned nch)
{
	h->hdr.flags = o->flags;
	h->hdr.gso_type = o->gso_type;
	h->hdr.hdr_len = htole16(o->hdr_len);
	h->hdr.gso_size = htole16(o->gso_size);
	h->hdr.csum_start = htole16(o->csum_start);
	h->hdr.csum_offset = htole16(o->csum_offset);
	h->num_buffers = htole16((uint16_t)nch);
}

/* Puts the used entries of a frame of len bytes (header included) written
 * into chains ch[0..nch); while the device logs, the pages written are
 * marked (vq.h). */
BURST_INLINE void used_put(struct vq *q, const struct vq_chain *ch, unsigned nch, uint32_t need,
                           const bool pk)
{
	for (unsigned k = 0; k < nch; k++) {
		uint32_t part = MIN(ch[k].len, need);
		if (unlikely(q->log) && part)
			vq_log_iov(q, ch[k].iov, ch[k].niov, part);
		vqx_used_put(q, pk, ch[k].head, part);
		need -= part;
	}
}

/* Writes packet pk into its reserved rx chains ch[0..nch): header (with the
 * offload fields o), private head (with the egress tag), then the rest of
 * the frame from the source; then the used entries. len: the frame's
 * length as it leaves. */
static inline __attribute__((always_inline)) void
write_frame(struct vq *q, uint32_t hdr_len, const struct vq_chain *ch, unsigned nch,
            const struct pkt *pk, uint16_t tci, uint32_t len, const struct pkt_ol *ol,
            const bool packed)
{
	uint32_t need = hdr_len + len;
	uint32_t plen = MIN(pk->len, (uint32_t)PKT_HEAD);
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct iovc s;

	hdr_fill(&hdr, ol, nch);
	iovc_init(&s, pk->seg, pk->nseg);
	iovc_skip(&s, plen);
	if (likely(ch[0].iov[0].iov_len >= need && hdr_len <= sizeof(hdr))) {
		/* The whole frame fits the first buffer: the usual case. */
		uint8_t *o = ch[0].iov[0].iov_base;
		const uint8_t tag[4] = { 0x81, 0x00, (uint8_t)(tci >> 8), (uint8_t)tci };

		if (hdr_len == sizeof(hdr))
			memcpy(o, &hdr, sizeof(hdr));
		else
			memcpy(o, &hdr, hdr_len);
		o += hdr_len;
		memcpy(o, pk->head, 12);
		o += 12;
		if (tci) {
			memcpy(o, tag, 4);
			o += 4;
		}
		memcpy(o, pk->head + pk->l2skip, plen - pk->l2skip);
		o += plen - pk->l2skip;
		for (uint32_t left = pk->len - plen; left && s.i < s.n; s.i++, s.off = 0) {
			size_t c = MIN(s.iov[s.i].iov_len - s.off, left);
			memcpy(o, (const uint8_t *)s.iov[s.i].iov_base + s.off, c);
			o += c;
			left -= (uint32_t)c;
		}
	} else {
		uint8_t tag[4] = { 0x81, 0x00, (uint8_t)(tci >> 8), (uint8_t)tci };
		struct dcur d;

		d.ch = ch;
		d.nch = nch;
		d.k = 0;
		iovc_init(&d.c, ch[0].iov, ch[0].niov);
		dcur_put(&d, (const uint8_t *)&hdr, hdr_len);
		dcur_put(&d, pk->head, 12);
		if (tci)
			dcur_put(&d, tag, 4);
		dcur_put(&d, pk->head + pk->l2skip, plen - pk->l2skip);
		dcur_copy(&d, &s, pk->len - plen);
	}
	used_put(q, ch, nch, need, packed);
}

/* Output frame k of x (a frame going through the software offload path)
 * into its reserved chains ch[0..nch): a header asking nothing (DATA_VALID
 * if the guest takes it: every checksum is complete), then the segment,
 * written by the offload layer straight from the source. Returns false if
 * it could not be written (the chains' buffers are more than PKT_MAX_SEGS
 * pieces, or the source changed under us): the chains then go back used
 * with length 0. */
static bool write_soft(struct vq *q, uint32_t hdr_len, const struct vq_chain *ch, unsigned nch,
                       const struct pkt *pk, const struct port_olx *x, uint32_t k,
                       uint32_t ol_rx, bool packed)
{
	struct pkt_ol o = { .flags = (ol_rx & PKT_OL_VALID) ? PKT_F_DATA_VALID : 0 };
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct iovec iov[PKT_MAX_SEGS];
	uint32_t len = ol_gso_len(&x->f, k), skip = hdr_len, n = 0;
	struct dcur d = { .ch = ch, .nch = nch };

	hdr_fill(&hdr, &o, nch);
	iovc_init(&d.c, ch[0].iov, ch[0].niov);
	dcur_put(&d, (const uint8_t *)&hdr, hdr_len);
	/* The chains' buffers after the header, as one iovec list. */
	for (unsigned c = 0; c < nch; c++) {
		for (unsigned j = 0; j < ch[c].niov; j++) {
			size_t l = ch[c].iov[j].iov_len;
			if (skip >= l) {
				skip -= (uint32_t)l;
				continue;
			}
			if (n == PKT_MAX_SEGS)
				goto fail;
			iov[n++] = (struct iovec){ (uint8_t *)ch[c].iov[j].iov_base + skip, l - skip };
			skip = 0;
		}
	}
	if (ol_gso_write(&x->f, x->head, k, pk->seg, pk->nseg, x->pay_off, iov, n) != len)
		goto fail;
	used_put(q, ch, nch, hdr_len + len, packed);
	return true;
fail:
	/* The buffers go back empty, but the header and perhaps part of the
	 * frame were written: while logging, mark all of them. */
	if (unlikely(q->log))
		for (unsigned c = 0; c < nch; c++)
			vq_log_iov(q, ch[c].iov, ch[c].niov, ch[c].len);
	used_put(q, ch, nch, 0, packed);
	return false;
}

/* A frame of the burst (index i) with its rx chains reserved at
 * dst[ch0 .. ch0 + nch). */
struct resv {
	uint8_t i, ch0, nch;
};

/* Writes the nfr reserved frames of rv into their chains, in order (the
 * used entries follow the reservation order), with the offload fields the
 * guest takes (ol_rx). */
BURST_INLINE void flush_reserved(const struct vq_chain *dst, struct vq *q, uint32_t hdr_len,
                                 const struct resv *rv, unsigned nfr, const struct pkt *pkts,
                                 const uint16_t *tcis, uint32_t ol_rx, const bool packed)
{
	for (unsigned k = 0; k < nfr; k++) {
		const struct pkt *pk = &pkts[rv[k].i];
		uint16_t tci = tcis[rv[k].i];
		struct pkt_ol o = port_ol_out(pk, tci, ol_rx);

		write_frame(q, hdr_len, &dst[rv[k].ch0], rv[k].nch, pk, tci, pkt_out_len(pk, tci),
		            &o, packed);
	}
}

static inline void lock(struct rxq_lock *l, bool shared)
{
	if (!shared)
		return;
	while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire))
		__builtin_ia32_pause();
}

static inline void unlock(struct rxq_lock *l, bool shared)
{
	if (shared)
		atomic_flag_clear_explicit(&l->f, memory_order_release);
}

/* Frame pk through the software offload path into ring vq: each output
 * frame reserved and written at once (several chains each with MRG_RXBUF).
 * Counts into res; returns false if the ring broke. */
static bool tx_soft(struct port *p, struct vq *vq, const struct pkt *pk, uint16_t tci,
                    struct qos_fair *f, const struct port_txctx *ctx, int *avail,
                    struct port_txres *res, bool packed)
{
	struct vhu_dev *d = vp(p)->dev;
	struct vq_chain *dst = ctx->scratch->chains;
	struct port_olx x;

	if (port_ol_prepare(pk, tci, &x) < 0) {
		res->offload++;
		return true;
	}
	res->segmented += x.f.kind == OL_KIND_TCP || x.f.kind == OL_KIND_UDP;
	for (uint32_t k = 0; k < ol_gso_count(&x.f); k++) {
		uint32_t len = ol_gso_len(&x.f, k);
		unsigned nch = 0;
		int err = 0;
		enum resv_res r = reserve(dst, vq, d->mrg_rxbuf, prefetchw, avail, 0,
		                          d->hdr_len + len, &nch, &err, packed);

		if (r == RV_BROKEN) {
			broke(p, VHU_BROKEN_RING, err);
			res->broke = true;
			return false;
		}
		if (r != RV_OK) {
			res->noroom++;
			continue;
		}
		if (f)
			qos_fair_add(f, ctx->src_port, nch);
		if (write_soft(vq, d->hdr_len, dst, nch, pk, &x, k, d->ol_rx, packed)) {
			res->pkts++;
			res->bytes += len;
		} else {
			res->offload++;
		}
	}
	return true;
}

/* Under ring q's lock, after n frames were published to it: whether their
 * interrupt waits (port_coal). The ring's `since` then becomes the time
 * the held interrupt is due (vhost_tx_flush). */
static bool coal_hold(struct vhost_port *v, unsigned q, const struct port_txctx *ctx, unsigned n);

/* Under ring q's lock: publishes the used entries written to vq; returns
 * whether the guest is to be called now (or res->held). */
BURST_INLINE bool publish(struct vhost_port *v, unsigned q, struct vq *vq,
                          const struct port_txctx *ctx, struct port_txres *res, const bool pk)
{
	/* (used entries, not frames: a buffer handed back empty after a
	 * failed copy is one too, and the guest must hear of it) */
	unsigned nused = vq->used_pending;

	vqx_used_publish(vq, pk);
	if (ctx->coal && ctx->coal->on && coal_hold(v, q, ctx, nused)) {
		res->held = true;
		return false;
	}
	return vqx_need_call(vq, pk);
}

static bool coal_hold(struct vhost_port *v, unsigned q, const struct port_txctx *ctx, unsigned n)
{
	const struct port_coal *c = ctx->coal;
	uint64_t quiet = qos_time(PORT_COAL_QUIET_NS);
	bool was_quiet = !v->coal[q].pending && qos_diff(ctx->qnow, v->coal[q].last) > (int64_t)quiet;

	v->coal[q].last = ctx->qnow;
	if (!n || (c->adaptive && was_quiet)) {
		/* A quiet ring (a ping, a lone request): the interrupt now. */
		v->coal[q].pending = 0;
		return false;
	}
	if (!v->coal[q].pending)
		v->coal[q].since = ctx->qnow + c->hold;
	v->coal[q].pending = (uint16_t)MIN(v->coal[q].pending + n, 0xffffu);
	if ((c->frames && v->coal[q].pending >= c->frames) || qos_diff(ctx->qnow, v->coal[q].since) >= 0) {
		v->coal[q].pending = 0;
		return false;
	}
	return true;
}

/* Policy at the ring: its fair share (deficit round robin over the
 * buffers the guest gives back, qos.h), then room. What the fair share
 * refuses, and what finds no room while several senders take turns, is
 * reported in res->rf for the datapath to settle (the end of a burst that
 * went to this port alone may wait in the sender's ring); frames that find
 * no room otherwise are no_room. */
BURST_INLINE void tx_burst(struct port *p, unsigned q, struct vq *vq, const struct pkt *pkts,
                           uint32_t mask, const uint16_t *tcis, const struct port_txctx *ctx,
                           struct port_txres *res, const bool pk)
{
	struct vhost_port *v = vp(p);
	struct vhu_dev *d = v->dev;
	bool shared = p->env->shared, call = false, pw = prefetchw;
	struct qos_fair *f = v->fair[q];
	uint32_t hdr_len = d->hdr_len;
	struct vq_chain *dst = ctx->scratch->chains;
	struct resv rv[32];
	unsigned nres = 0, nfr = 0;
	int avail, err = 0;

	lock(&v->lock[q], shared);
	/* (packed: the free buffers are counted up to what the reservation
	 * can take, so the fair share sees at most that many) */
	avail = vqx_avail_count(vq, pk, DST_CHAINS);
	if (unlikely(avail < 0)) {
		broke(p, VHU_BROKEN_RING, -avail);
		res->broke = true;
		goto out;
	}
	if (f)
		qos_fair_sync(f, vq->used_idx, (uint16_t)avail, ctx->qnow);
	/* Reserve the rx chains of as many frames as dst holds (their
	 * descriptors prefetched together, each buffer's first line prefetched
	 * as soon as it is known), then write them: the burst's cache misses
	 * on the receiver's ring and buffers overlap. */
	vqx_prefetch(vq, pk, MIN((unsigned)avail, (unsigned)__builtin_popcount(mask)));
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m), nch = 0;
		uint32_t len = pkt_out_len(&pkts[i], tcis[i]);
		enum resv_res r;

		if (pk && avail == 0) {
			avail = vqx_avail_count(vq, pk, DST_CHAINS);
			if (unlikely(avail < 0)) {
				broke(p, VHU_BROKEN_RING, -avail);
				res->broke = true;
				avail = 0;
				break;
			}
		}
		if (f && !qos_fair_admit(f, ctx->src_port, ctx->weight, (uint16_t)avail, ctx->qnow)) {
			res->rf.share |= 1u << i;
			continue;
		}
		if (f && avail == 0) {
			qos_fair_blocked(f, ctx->src_port);
			res->rf.room |= 1u << i; /* may wait its turn (below) */
			continue;
		}
		if (unlikely(pkt_ol_needs(&pkts[i]) & ~(d->ol_rx | PKT_OL_VALID))) {
			/* Segments (or the checksum) made in software, each
			 * written as soon as its chains are reserved: what is
			 * reserved before goes first, to keep the order. */
			flush_reserved(dst, vq, hdr_len, rv, nfr, pkts, tcis, d->ol_rx, pk);
			nres = nfr = 0;
			if (!tx_soft(p, vq, &pkts[i], tcis[i], f, ctx, &avail, res, pk))
				break;
			continue;
		}
		r = reserve(dst, vq, d->mrg_rxbuf, pw, &avail, nres, hdr_len + len, &nch, &err, pk);
		if (r == RV_FULL) {
			flush_reserved(dst, vq, hdr_len, rv, nfr, pkts, tcis, d->ol_rx, pk);
			nres = nfr = 0;
			r = reserve(dst, vq, d->mrg_rxbuf, pw, &avail, 0, hdr_len + len, &nch, &err,
			            pk);
		}
		if (r == RV_OK) {
			if (f)
				qos_fair_add(f, ctx->src_port, nch);
			rv[nfr++] = (struct resv){ (uint8_t)i, (uint8_t)nres, (uint8_t)nch };
			nres += nch;
			res->pkts++;
			res->bytes += len;
			res->gso += pkts[i].ol.gso_type != PKT_GSO_NONE;
		} else if (r == RV_BROKEN) {
			broke(p, VHU_BROKEN_RING, err);
			res->broke = true;
			break;
		} else {
			res->noroom++;
		}
	}
	/* Frames refused by the ring may wait in the sender's ring, except
	 * those that already took egress tokens (they would pay twice). */
	if (f && (res->rf.share | res->rf.room) && !ctx->limited) {
		struct port_refused *rf = &res->rf;

		if (rf->share & ctx->uni) {
			rf->wait |= rf->share & ctx->uni;
			port_refused_ready(rf, qos_fair_ready(f, (uint16_t)avail, ctx->qnow, true));
		}
		if ((rf->room & ctx->uni) && qos_drr_contended(&f->drr, ctx->src_port, ctx->qnow)) {
			rf->wait |= rf->room & ctx->uni;
			port_refused_ready(rf, qos_fair_ready(f, (uint16_t)avail, ctx->qnow, false));
		}
	}
	flush_reserved(dst, vq, hdr_len, rv, nfr, pkts, tcis, d->ol_rx, pk);
	if (vq->used_pending && ctx->defer)
		res->commit = true; /* published by vhost_tx_commit */
	else if (vq->used_pending)
		call = publish(v, q, vq, ctx, res, pk);
	if (f)
		qos_fair_done(f, vq->used_idx, (uint16_t)avail);
out:
	unlock(&v->lock[q], shared);
	/* The eventfd write may block (see vq_call_fd): never under the lock. */
	if (call) {
		if (!vq_call_fd(vq))
			broke(p, VHU_BROKEN_CALL, 0);
		res->calls++;
	}
}

static void vhost_tx_burst(struct port *p, unsigned q, const struct pkt *pkts, uint32_t mask,
                           const uint16_t *tcis, const struct port_txctx *ctx,
                           struct port_txres *res)
{
	struct vhu_dev *d = vp(p)->dev;
	struct vq *vq = &d->vr[2 * q].vq;

	if (unlikely(vhu_dev_is_broken(d))) {
		res->down += (uint32_t)__builtin_popcount(mask);
		return;
	}
	if (vq->packed)
		tx_burst(p, q, vq, pkts, mask, tcis, ctx, res, true);
	else
		tx_burst(p, q, vq, pkts, mask, tcis, ctx, res, false);
}

/* What vhost_tx_burst wrote with ctx->defer, published once the sender
 * has completed its chains (port.h rx_in_ring). With several workers,
 * another one's publish may have covered it already. */
static void vhost_tx_commit(struct port *p, unsigned q, const struct port_txctx *ctx,
                            struct port_txres *res)
{
	struct vhost_port *v = vp(p);
	struct vq *vq = &v->dev->vr[2 * q].vq;
	bool call = false;

	lock(&v->lock[q], p->env->shared);
	if (vq->used_pending)
		call = vq->packed ? publish(v, q, vq, ctx, res, true)
		                  : publish(v, q, vq, ctx, res, false);
	unlock(&v->lock[q], p->env->shared);
	if (call) {
		if (!vq_call_fd(vq))
			broke(p, VHU_BROKEN_CALL, 0);
		res->calls++;
	}
}

static bool vhost_tx_flush(struct port *p, unsigned q, uint64_t qnow, bool force,
                           uint32_t *calls, uint64_t *due)
{
	struct vhost_port *v = vp(p);
	struct vq *vq = &v->dev->vr[2 * q].vq;
	bool call = false, still;

	lock(&v->lock[q], p->env->shared);
	if (v->coal[q].pending && vhu_dev_is_broken(v->dev)) {
		/* A broken device gets no interrupt (it is being stopped):
		 * holding on would keep the worker from its quiescent point. */
		v->coal[q].pending = 0;
	} else if (v->coal[q].pending && (force || qos_diff(qnow, v->coal[q].since) >= 0)) {
		v->coal[q].pending = 0;
		/* Another worker's deferred delivery (tx_commit not run yet)
		 * goes with this call: vqx_need_call counts from the shadow
		 * position, so the entries behind it must be published first, or
		 * that worker's commit would find no interrupt due for them. */
		if (vq->used_pending)
			vqx_used_publish(vq, vq->packed);
		call = vqx_need_call(vq, vq->packed);
	}
	still = v->coal[q].pending != 0;
	*due = v->coal[q].since;
	unlock(&v->lock[q], p->env->shared);
	if (call) {
		if (!vq_call_fd(vq))
			broke(p, VHU_BROKEN_CALL, 0);
		(*calls)++;
	}
	return still;
}

/* ---- control thread ---- */

static void dev_quiesce(struct vhu_dev *d, void *ctx)
{
	struct port *p = ctx;

	(void)d;
	p->env->quiesce(p->env->ctx);
	/* No worker holds an interrupt of it now (they send or drop them
	 * before a quiescent point): rings that come back start afresh. */
	memset(vp(p)->coal, 0, sizeof(vp(p)->coal));
	/* Nor an announce frame (a poller that broke may have left it taken). */
	if (atomic_load(&vp(p)->ann.state) == ANN_TAKEN)
		atomic_store(&vp(p)->ann.state, ANN_IDLE);
}

static void dev_changed(struct vhu_dev *d, void *ctx)
{
	struct port *p = ctx;

	/* Negotiated offloads: the device is quiesced, no worker reads them. */
	p->ol_in = d->ol_tx;
	p->ol_out = d->ol_rx;
	p->env->changed(p->env->ctx);
}

/* SEND_RARP (vhu_msg.c): a RARP request from the guest's MAC, as QEMU's
 * announce_self makes them (broadcast, ethertype 0x8035, "reverse request
 * from mac to mac", no addresses), received on queue 0 as if the guest had
 * sent it, so the switch learns the MAC through its own policy (binding,
 * anti-spoofing, MAC limit) and floods it. One at a time, at most one per
 * ANNOUNCE_GAP_NS: a frontend repeating itself costs nothing. */
static void dev_announce(struct vhu_dev *d, void *ctx, const uint8_t mac[6])
{
	struct port *p = ctx;
	struct vhost_port *v = vp(p);
	uint64_t now = clk_now_ns();
	uint8_t *f = v->ann.frame;

	if (atomic_load_explicit(&v->ann.state, memory_order_acquire) != ANN_IDLE ||
	    (v->ann.last_ns && now - v->ann.last_ns < ANNOUNCE_GAP_NS)) {
		VLOG_RL(LOG_INFO, "%s: SEND_RARP: an announce is still pending or too recent: skipped",
		        d->name);
		return;
	}
	v->ann.last_ns = now;
	memset(f, 0, ANNOUNCE_LEN);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x80, f[13] = 0x35;         /* RARP */
	f[14] = 0, f[15] = 1;               /* hardware: Ethernet */
	f[16] = 0x08, f[17] = 0x00;         /* protocol: IPv4 */
	f[18] = 6, f[19] = 4;
	f[20] = 0, f[21] = 3;               /* reverse request */
	memcpy(f + 22, mac, 6);             /* sender hardware address */
	memcpy(f + 32, mac, 6);             /* target hardware address */
	atomic_store_explicit(&v->ann.state, ANN_READY, memory_order_release);
	if (p->env->wake)
		p->env->wake(p->env->ctx);
}

static const struct vhu_dev_ops dev_ops = {
	.quiesce = dev_quiesce,
	.changed = dev_changed,
	.announce = dev_announce,
};

static int vhost_open(struct port *p, const struct port_params *pp, char *err, size_t errlen)
{
	struct vhost_port *v;
	int r;

	if (!pp->path || !*pp->path || strlen(pp->path) >= PORT_PATH_MAX) {
		snprintf(err, errlen, "path= must be 1..%d bytes", PORT_PATH_MAX - 1);
		return -EINVAL;
	}
	prefetchw = cpu_has_prefetchw();
	v = p->priv = xcalloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = vhu_dev_create_perm(p->env->ev, pp->name, pp->path, pp->client, pp->queues,
	                        pp->client ? NULL : pp->perm, &dev_ops, p, &v->dev);
	if (r < 0) {
		snprintf(err, errlen, "cannot %s %s: %s", pp->client ? "connect to" : "listen on",
		         pp->path, strerror(-r));
		xfree(v);
		p->priv = NULL;
	}
	return r;
}

static void vhost_close(struct port *p)
{
	struct vhost_port *v = vp(p);

	if (!v)
		return;
	vhu_dev_destroy(v->dev);
	for (unsigned i = 0; i < VHU_MAX_QUEUE_PAIRS; i++)
		xfree(v->fair[i]);
	xfree(v);
	p->priv = NULL;
}

static unsigned vhost_queues(struct port *p, bool tx, uint16_t *ids)
{
	struct vhost_port *v = vp(p);
	struct vhu_dev *d = v->dev;
	unsigned n = 0;

	if (vhu_dev_is_broken(d))
		return 0;
	for (unsigned qp = 0; qp < d->max_qp; qp++) {
		if (!vhu_vring_live(d, 2 * qp + !tx))
			continue;
		/* A receive ring's fair-share state, once: kept while a worker
		 * may still use it through an older snapshot. */
		if (tx && !v->fair[qp])
			v->fair[qp] = xaligned_calloc(CACHE_LINE, sizeof(struct qos_fair));
		ids[n++] = (uint16_t)qp;
	}
	return n;
}

static int vhost_queue_fd(struct port *p, unsigned q)
{
	return vp(p)->dev->vr[2 * q + 1].kickfd;
}

static void vhost_info(struct port *p, struct port_info *pi)
{
	struct vhu_dev *d = vp(p)->dev;

	snprintf(pi->type, sizeof(pi->type), "vhostuser");
	snprintf(pi->path, sizeof(pi->path), "%s", d->path);
	pi->client = d->client;
	pi->connected = vhu_dev_connected(d);
	pi->broken = vhu_dev_is_broken(d);
	pi->queue_pairs = d->max_qp;
	pi->active_pairs = d->active_qp;
	pi->promisc = d->promisc;
	pi->allmulti = d->allmulti;
	for (unsigned i = 0; i < 2 * d->max_qp; i++) {
		if (d->vr[i].live) {
			if (i & 1)
				pi->live_tx++;
			else
				pi->live_rx++;
		}
	}
	pi->features = d->features;
	pi->mtu = d->mtu;
	pi->ol_in = d->ol_tx;
	pi->ol_out = d->ol_rx;
	pi->mem_bytes = d->mem_set ? d->mem.mapped : 0;
	pi->guest_stops = d->cnt.broken;
	pi->msg_errors = d->cnt.msg_errors;
	pi->connects = d->cnt.connects;
	pi->close_stuck = d->cnt.close_stuck;
	pi->infl_resubmitted = d->cnt.infl_resubmitted;
}

static bool vhost_check(struct port *p)
{
	return vhu_dev_check(vp(p)->dev);
}

static void vhost_tick(struct port *p)
{
	vhu_dev_tick(vp(p)->dev);
}

const struct port_ops port_vhost_ops = {
	.type = "vhostuser",
	.open = vhost_open,
	.close = vhost_close,
	.queues = vhost_queues,
	.queue_fd = vhost_queue_fd,
	.info = vhost_info,
	.check = vhost_check,
	.tick = vhost_tick,
	.rx_burst = vhost_rx_burst,
	.rx_keep = vhost_rx_keep,
	.keeps_bursts = true,
	.rx_in_ring = true,
	.rx_done = vhost_rx_done,
	.rx_arm = vhost_rx_arm,
	.tx_burst = vhost_tx_burst,
	.tx_flush = vhost_tx_flush,
	.tx_commit = vhost_tx_commit,
};
