/* dp_worker.c - the datapath worker: a pinned thread that polls the guest
 * transmit rings assigned to it in bursts of DP_BURST, classifies the whole
 * burst with the learning bridge, then delivers per destination: one lock,
 * one copy loop, one used-index publish and at most one notification per
 * destination ring and burst. When nothing moved for DP_IDLE_NS it asks the
 * guests for kicks and sleeps in epoll on their kick eventfds, so an idle
 * vifd uses no CPU.
 *
 * Security model: source and destination rings are guest memory (see
 * vq.h). The worker classifies on a private copy of the frame's first
 * DP_PREFIX bytes and writes that private copy (not the guest's buffer,
 * which may have changed since) into the destination, so what the switch
 * decided on is what the receiver gets. A ring error marks the guest's
 * device broken and wakes the control thread; the worker skips that port
 * from then on and every other port keeps going.
 *
 * No allocation, lock (other than dp_rxq_lock, per burst) or syscall per
 * packet between vhost-user ports: the syscalls are the call eventfd write
 * (per burst and ring, when the guest asked) and the epoll sleep.
 *
 * Kernel ports (src/port: tap, afpacket) are polled the same way: a burst
 * is read into the worker's private buffers (kbuf), classified and
 * delivered like a guest's; a frame for a kernel port is written with one
 * system call (port_tx), gathered straight from the source's buffers. */
#include <errno.h>
#include <linux/virtio_net.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "dp_impl.h"
#include "vlog.h"

/* Iterator over an iovec array. */
struct iovc {
	const struct iovec *iov;
	unsigned n, i;
	size_t off;
};

static inline void iovc_init(struct iovc *c, const struct iovec *iov, unsigned n)
{
	c->iov = iov;
	c->n = n;
	c->i = 0;
	c->off = 0;
}

static inline void iovc_skip(struct iovc *c, size_t len)
{
	while (len && c->i < c->n) {
		size_t left = c->iov[c->i].iov_len - c->off;
		if (len < left) {
			c->off += len;
			return;
		}
		len -= left;
		c->i++;
		c->off = 0;
	}
}

/* Copies up to len bytes from src into the cursor; returns bytes copied. */
static inline size_t iovc_put(struct iovc *d, const uint8_t *src, size_t len)
{
	size_t done = 0;

	while (done < len && d->i < d->n) {
		size_t room = d->iov[d->i].iov_len - d->off;
		size_t c = MIN(room, len - done);
		memcpy((uint8_t *)d->iov[d->i].iov_base + d->off, src + done, c);
		done += c;
		d->off += c;
		if (d->off == d->iov[d->i].iov_len) {
			d->i++;
			d->off = 0;
		}
	}
	return done;
}

/* Copies up to len bytes from cursor s into cursor d; returns bytes copied. */
static inline size_t iovc_copy(struct iovc *d, struct iovc *s, size_t len)
{
	size_t done = 0;

	while (done < len && d->i < d->n && s->i < s->n) {
		size_t dl = d->iov[d->i].iov_len - d->off;
		size_t sl = s->iov[s->i].iov_len - s->off;
		size_t c = MIN(MIN(dl, sl), len - done);
		memcpy((uint8_t *)d->iov[d->i].iov_base + d->off,
		       (const uint8_t *)s->iov[s->i].iov_base + s->off, c);
		done += c;
		d->off += c;
		s->off += c;
		if (d->off == d->iov[d->i].iov_len) {
			d->i++;
			d->off = 0;
		}
		if (s->off == s->iov[s->i].iov_len) {
			s->i++;
			s->off = 0;
		}
	}
	return done;
}

/* Reads up to len bytes at the cursor into dst (the cursor advances). */
static inline size_t iovc_get(struct iovc *s, uint8_t *dst, size_t len)
{
	size_t done = 0;

	while (done < len && s->i < s->n) {
		size_t left = s->iov[s->i].iov_len - s->off;
		size_t c = MIN(left, len - done);
		memcpy(dst + done, (const uint8_t *)s->iov[s->i].iov_base + s->off, c);
		done += c;
		s->off += c;
		if (s->off == s->iov[s->i].iov_len) {
			s->i++;
			s->off = 0;
		}
	}
	return done;
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

/* Prefetches the line at p for writing (a hint: p need not be mapped). */
static inline void prefetch_w(const struct dp_worker *w, const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	if (w->prefetchw) {
		__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
		return;
	}
#endif
	(void)w;
	__builtin_prefetch(p, 1);
}

#define STAT_ADD(w, port, field, v) \
	atomic_fetch_add_explicit(&(w)->st[(port)].field, (v), memory_order_relaxed)

static void port_broke(struct dp_worker *w, struct dp_port *p, int why, int detail)
{
	static const uint64_t one = 1;

	if (vhu_dev_is_broken(p->dev))
		return;
	vhu_dev_mark_broken(p->dev, why, detail);
	STAT_ADD(w, p->id, ring_errors, 1);
	/* Wake the control thread to log and stop the port. */
	if (write(w->dp->eventfd, &one, sizeof(one)) < 0) {
		/* eventfd counter overflow only; the flag is set anyway */
	}
}

/* What one burst's delivery to port dst did, added to its counters. */
struct dl_count {
	uint64_t pkts, bytes, noroom, down, policed, congested;
};

static void dl_count_add(struct dp_worker *w, unsigned dst, const struct dl_count *c)
{
	if (c->pkts) {
		STAT_ADD(w, dst, tx_pkts, c->pkts);
		STAT_ADD(w, dst, tx_bytes, c->bytes);
	}
	if (c->noroom)
		STAT_ADD(w, dst, drop_no_room, c->noroom);
	if (c->down)
		STAT_ADD(w, dst, drop_down, c->down);
	if (c->policed)
		STAT_ADD(w, dst, drop_egress_limit, c->policed);
	if (c->congested)
		STAT_ADD(w, dst, drop_congested, c->congested);
}

enum deliver_res { DL_OK, DL_NO_ROOM, DL_FULL, DL_BROKEN };

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

/* Reserves the rx chains frame needs (need bytes with the virtio header)
 * in ring q, into w->dst[base..], and starts loading the first line of
 * each for writing. *avail counts the ring's remaining available entries.
 * DL_FULL: w->dst has no room left after base > 0 (copy what is reserved,
 * then try again from 0); DL_NO_ROOM: the ring has not enough buffers,
 * or the frame needs more than DP_MAX_DST_CHAINS. Nothing stays reserved
 * unless DL_OK. */
static inline enum deliver_res reserve(struct dp_worker *w, const struct dp_conf_port *dcp,
                                       struct vq *q, int *avail, unsigned base, uint32_t need,
                                       unsigned *nch_out, int *err)
{
	uint32_t cap = 0;
	unsigned nch = 0;

	while (cap < need) {
		struct vq_chain *c = &w->dst[base + nch];
		int r;

		if (*avail == 0 || (nch == 1 && !dcp->mrg_rxbuf) ||
		    base + nch == DP_MAX_DST_CHAINS) {
			enum deliver_res why = *avail != 0 && base + nch == DP_MAX_DST_CHAINS && base > 0
			                               ? DL_FULL
			                               : DL_NO_ROOM;
			vq_unpop(q, (uint16_t)nch);
			*avail += (int)nch;
			return why;
		}
		r = vq_pop(q, c, VQ_IN);
		(*avail)--;
		if (unlikely(r < 0)) {
			*err = -r;
			return DL_BROKEN;
		}
		prefetch_w(w, c->iov[0].iov_base);
		cap += MIN(c->len, need - cap);
		nch++;
	}
	*nch_out = nch;
	return DL_OK;
}

/* Writes frame m (source chain sc) into its reserved rx chains ch[0..nch):
 * header, private prefix (with the egress tag), then the rest of the
 * frame from the source; then the used entries. len: the frame's length
 * as it leaves. */
static inline __attribute__((always_inline)) void
copy_frame(struct vq *q, uint32_t hdr_len, const struct vq_chain *ch, unsigned nch,
           const struct vq_chain *sc, uint32_t src_hdr, const struct dp_meta *m, uint16_t tci,
           uint32_t len)
{
	uint32_t need = hdr_len + len;
	uint32_t plen = MIN(m->len, (uint32_t)DP_PREFIX);
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct iovc s;

	/* No offloads are negotiated: a plain header; num_buffers counts the
	 * chains used (VIRTIO 1.1 5.1.6.3.2), ignored without MRG_RXBUF. */
	memset(&hdr, 0, sizeof(hdr));
	hdr.hdr.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	hdr.num_buffers = (uint16_t)nch;
	iovc_init(&s, sc->iov, sc->niov);
	iovc_skip(&s, src_hdr + plen);
	if (likely(ch[0].iov[0].iov_len >= need && hdr_len <= sizeof(hdr))) {
		/* The whole frame fits the first buffer: the usual case. */
		uint8_t *o = ch[0].iov[0].iov_base;
		const uint8_t tag[4] = { 0x81, 0x00, (uint8_t)(tci >> 8), (uint8_t)tci };

		if (hdr_len == sizeof(hdr))
			memcpy(o, &hdr, sizeof(hdr));
		else
			memcpy(o, &hdr, hdr_len);
		o += hdr_len;
		memcpy(o, m->prefix, 12);
		o += 12;
		if (tci) {
			memcpy(o, tag, 4);
			o += 4;
		}
		memcpy(o, m->prefix + m->l2skip, plen - m->l2skip);
		o += plen - m->l2skip;
		for (uint32_t left = m->len - plen; left && s.i < s.n; s.i++, s.off = 0) {
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
		dcur_put(&d, m->prefix, 12);
		if (tci)
			dcur_put(&d, tag, 4);
		dcur_put(&d, m->prefix + m->l2skip, plen - m->l2skip);
		dcur_copy(&d, &s, m->len - plen);
	}
	for (unsigned k = 0; k < nch; k++) {
		uint32_t part = MIN(ch[k].len, need);
		vq_used_put(q, ch[k].head, part);
		need -= part;
	}
}

static inline void rxq_lock(struct dp_rxq_lock *l, bool shared)
{
	if (!shared)
		return;
	while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire))
		__builtin_ia32_pause();
}

static inline void rxq_unlock(struct dp_rxq_lock *l, bool shared)
{
	if (shared)
		atomic_flag_clear_explicit(&l->f, memory_order_release);
}

/* Whether frame m of the burst goes to port dst, and with which tag. */
static inline bool bound_for(const struct dp_conf *conf, const struct dp_meta *m, unsigned dst,
                             unsigned src_port, uint16_t *tci)
{
	const struct dp_port_cfg *dc = conf->ports[dst].cfg;

	if (m->dst == (int)dst)
		return dp_egress(dc, m->vlan, m->pcp, tci); /* isolation checked in pass 1 */
	if (m->dst != -1 || dst == src_port)
		return false;
	if (conf->ports[src_port].cfg->isolated && dc->isolated)
		return false;
	return dp_egress(dc, m->vlan, m->pcp, tci);
}

static_assert((int)DP_BURST <= 32, "burst masks are 32 bits");
static_assert((int)DP_MAX_DST_CHAINS <= 255 && (int)DP_BURST <= 255,
              "struct resv holds 8-bit indices");
static_assert((int)DP_MAX_PORTS <= (int)QOS_SOURCES, "fair-share state is per source port id");

/* The frame's length as it leaves (tag added or removed). */
static inline uint32_t out_len(const struct dp_meta *m, uint16_t tci)
{
	return m->len - m->l2skip + 12 + (tci ? 4 : 0);
}

/* What a destination refused of a burst (frame masks, by reason), and
 * which of those frames may wait in the sender's ring rather than be
 * dropped: over the sender's fair share, and, while several senders use
 * the port, over its limit or without room in its ring (they wait their
 * turn). ready: when the destination is likely to take them. */
struct refused {
	uint32_t share, limit, room;
	uint32_t wait;
	uint64_t ready;
};

static inline void refused_ready(struct refused *rf, uint64_t t)
{
	if (!rf->ready || qos_diff(t, rf->ready) > 0)
		rf->ready = t;
}

/* The port's egress limit, with its fair share, over the frames of mask
 * (uni: those that go to this port alone): returns the frames that pass;
 * the others are added to *rf. */
static inline uint32_t egress_admit(const struct dp_worker *w, const struct dp_conf_port *dcp,
                                    unsigned src_port, unsigned sw, uint32_t mask, uint32_t uni,
                                    const uint16_t *tcis, uint64_t qnow, struct refused *rf)
{
	struct dp_port *p = dcp->port;
	bool shared = w->dp->nworkers > 1;
	uint32_t share = 0, limit = 0;
	struct qos_batch bt;

	qos_lock(&p->qeg, shared);
	qos_begin(&dcp->qeg, &p->qeg, qnow, &bt);
	qos_fair_bucket_setup(&dcp->qeg, &p->eg_drr);
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		switch (qos_take_fair(&dcp->qeg, &bt, &p->eg_drr, src_port, sw,
		                      out_len(&w->meta[i], tcis[i]))) {
		case QOS_PASS:
			break;
		case QOS_OVER_LIMIT:
			limit |= 1u << i;
			break;
		case QOS_OVER_SHARE:
			share |= 1u << i;
			break;
		}
	}
	if (share & uni) {
		rf->wait |= share & uni;
		refused_ready(rf, qos_fair_bucket_ready(&dcp->qeg, &bt, true));
	}
	if ((limit & uni) && qos_drr_contended(&p->eg_drr, src_port, qnow)) {
		rf->wait |= limit & uni;
		refused_ready(rf, qos_fair_bucket_ready(&dcp->qeg, &bt, false));
	}
	qos_end(&p->qeg, &bt);
	qos_unlock(&p->qeg, shared);
	rf->share |= share;
	rf->limit |= limit;
	return mask & ~(share | limit);
}

/* Settles what port dst refused of a burst of n frames. The refused frames
 * at the end of the burst that may wait (rf->wait: they went to dst alone)
 * stay in the source's ring if it can keep them (w->keep), else are
 * dropped; either way the source queue is held until rf->ready, so that
 * its next frames wait in its ring (or the kernel's queue) rather than be
 * popped and refused again. Every other refused frame is dropped before
 * the copy, counted by reason in c. */
static void settle(struct dp_worker *w, unsigned n, const struct refused *rf, struct dl_count *c)
{
	uint32_t all = n >= 32 ? ~0u : (1u << n) - 1;
	uint32_t brk = all & ~rf->wait, tail;

	/* The frames above the last one that may not wait. */
	tail = !rf->wait ? 0 : brk ? all & ~((2u << (31 - __builtin_clz(brk))) - 1) : all;
	if (tail) {
		if (!w->hold_on || qos_diff(rf->ready, w->hold) > 0)
			w->hold = rf->ready;
		w->hold_on = true;
		if (w->can_keep)
			w->keep = (unsigned)__builtin_popcount(tail);
		else
			tail = 0;
	}
	c->congested += (uint64_t)__builtin_popcount(rf->share & ~tail);
	c->policed += (uint64_t)__builtin_popcount(rf->limit & ~tail);
	c->noroom += (uint64_t)__builtin_popcount(rf->room & ~tail);
}

/* Delivers the frames of mask to kernel port dst: one port_tx() each, on
 * the queue chosen by the source queue, gathered from the private prefix
 * (with the egress tag) and the rest of the source's buffers. */
static __attribute__((noinline)) void
deliver_kernel(struct dp_worker *w, const struct dp_conf *conf, unsigned dst, unsigned src_port,
               unsigned src_qp, uint32_t src_hdr, unsigned nburst, uint32_t mask, uint32_t uni,
               const uint16_t *tcis, uint64_t qnow)
{
	const struct dp_conf_port *dcp = &conf->ports[dst];
	struct port *kp = dcp->kp;
	uint64_t pkts = 0, bytes = 0, noroom = 0, down = 0;
	unsigned q = src_qp % kp->nq;
	uint8_t tags[DP_BURST][4];
	struct dl_count cnt = { 0 };

	if (dcp->qeg.on) {
		struct refused rf = { 0 };

		mask = egress_admit(w, dcp, src_port, conf->ports[src_port].weight, mask, uni, tcis,
		                    qnow, &rf);
		settle(w, nburst, &rf, &cnt);
	}
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		const struct dp_meta *mt = &w->meta[i];
		uint32_t plen = MIN(mt->len, (uint32_t)DP_PREFIX);
		struct iovec *iov = w->kiov;
		unsigned n = 0;
		struct iovc s;
		int r;

		iov[n++] = (struct iovec){ (void *)(uintptr_t)mt->prefix, 12 };
		if (tcis[i]) {
			tags[i][0] = 0x81;
			tags[i][1] = 0x00;
			tags[i][2] = (uint8_t)(tcis[i] >> 8);
			tags[i][3] = (uint8_t)tcis[i];
			iov[n++] = (struct iovec){ tags[i], 4 };
		}
		if (plen > mt->l2skip)
			iov[n++] = (struct iovec){ (void *)(uintptr_t)(mt->prefix + mt->l2skip),
			                           plen - mt->l2skip };
		iovc_init(&s, w->src[i].iov, w->src[i].niov);
		iovc_skip(&s, src_hdr + plen);
		for (uint32_t left = mt->len - plen; left && s.i < s.n; s.i++, s.off = 0) {
			size_t c = MIN(s.iov[s.i].iov_len - s.off, left);
			iov[n++] = (struct iovec){ (uint8_t *)s.iov[s.i].iov_base + s.off, c };
			left -= (uint32_t)c;
		}
		r = port_tx(kp, q, iov, n);
		if (likely(r == 0)) {
			pkts++;
			bytes += out_len(mt, tcis[i]);
		} else if (r == -EAGAIN) {
			noroom++;
		} else {
			down++;
		}
	}
	cnt.pkts = pkts;
	cnt.bytes = bytes;
	cnt.noroom += noroom;
	cnt.down = down;
	dl_count_add(w, dst, &cnt);
}

/* A frame of the burst (meta index i) with its rx chains reserved at
 * w->dst[ch0 .. ch0 + nch). */
struct resv {
	uint8_t i, ch0, nch;
};

/* Copies the nfr reserved frames of rv into their chains, in order (the
 * used entries follow the reservation order). */
static inline void flush_reserved(struct dp_worker *w, struct vq *q, uint32_t hdr_len,
                                  const struct resv *rv, unsigned nfr, uint32_t src_hdr,
                                  const uint16_t *tcis)
{
	for (unsigned k = 0; k < nfr; k++) {
		const struct dp_meta *m = &w->meta[rv[k].i];
		copy_frame(q, hdr_len, &w->dst[rv[k].ch0], rv[k].nch, &w->src[rv[k].i], src_hdr, m,
		           tcis[rv[k].i], out_len(m, tcis[rv[k].i]));
	}
}

/* Delivers the frames of the burst bound for port dst (unicast to it, or
 * flooded) into one of its rx rings, chosen by the source queue pair so a
 * flow's order is kept. Policy order at egress, all before any copy: the
 * port's egress limit with its fair share, then the ring's fair share (a
 * sender over its share of a congested ring), then room. What is refused
 * is settled by settle(): the end of the burst may stay in the sender's
 * ring, the rest is dropped and counted. */
static void deliver(struct dp_worker *w, const struct dp_conf *conf, unsigned dst,
                    unsigned src_port, unsigned src_qp, uint32_t src_hdr, unsigned n,
                    uint64_t qnow)
{
	const struct dp_conf_port *dcp = &conf->ports[dst];
	struct dp_port *p = dcp->port;
	bool shared = w->dp->nworkers > 1, call = false;
	uint64_t pkts = 0, bytes = 0, noroom = 0;
	unsigned sw = conf->ports[src_port].weight;
	uint16_t tcis[DP_BURST];
	uint32_t mask = 0, uni = 0;
	struct resv rv[DP_BURST];
	unsigned nres = 0, nfr = 0;
	struct refused rf = { 0 };
	struct dl_count c = { 0 };
	struct qos_fair *f;
	unsigned qi;
	struct vq *q;
	int avail, err = 0;

	for (unsigned i = 0; i < n; i++)
		if (bound_for(conf, &w->meta[i], dst, src_port, &tcis[i])) {
			mask |= 1u << i;
			if (w->meta[i].dst == (int)dst)
				uni |= 1u << i;
		}
	if (!mask)
		return;
	if (dcp->kp) {
		deliver_kernel(w, conf, dst, src_port, src_qp, src_hdr, n, mask, uni, tcis, qnow);
		return;
	}
	if (dcp->nrxq == 0 || vhu_dev_is_broken(p->dev)) {
		STAT_ADD(w, dst, drop_down, (uint64_t)__builtin_popcount(mask));
		return;
	}
	qi = src_qp % dcp->nrxq;
	q = &dcp->rxq[qi]->vq;
	f = dcp->fair[qi];
	rxq_lock(&p->rxq_lock[qi], shared);
	avail = vq_avail_count(q);
	if (unlikely(avail < 0)) {
		port_broke(w, p, VHU_BROKEN_RING, -avail);
		goto out;
	}
	if (dcp->qeg.on)
		mask = egress_admit(w, dcp, src_port, sw, mask, uni, tcis, qnow, &rf);
	if (f)
		qos_fair_sync(f, q->used_idx, (uint16_t)avail, qnow);
	/* Reserve the rx chains of as many frames as w->dst holds (their
	 * descriptors prefetched together, each buffer's first line prefetched
	 * as soon as it is known), then copy them: the burst's cache misses
	 * on the receiver's ring and buffers overlap. */
	vq_prefetch(q, MIN((unsigned)avail, (unsigned)__builtin_popcount(mask)));
	for (uint32_t m = mask; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m), nch = 0;
		uint32_t len = out_len(&w->meta[i], tcis[i]);
		enum deliver_res r;

		if (f && !qos_fair_admit(f, src_port, sw, (uint16_t)avail, qnow)) {
			rf.share |= 1u << i;
			continue;
		}
		if (f && avail == 0) {
			qos_fair_blocked(f, src_port);
			rf.room |= 1u << i; /* may wait its turn (below) */
			continue;
		}
		r = reserve(w, dcp, q, &avail, nres, dcp->hdr_len + len, &nch, &err);
		if (r == DL_FULL) {
			flush_reserved(w, q, dcp->hdr_len, rv, nfr, src_hdr, tcis);
			nres = nfr = 0;
			r = reserve(w, dcp, q, &avail, 0, dcp->hdr_len + len, &nch, &err);
		}
		if (r == DL_OK) {
			if (f)
				qos_fair_add(f, src_port, nch);
			rv[nfr++] = (struct resv){ (uint8_t)i, (uint8_t)nres, (uint8_t)nch };
			nres += nch;
			pkts++;
			bytes += len;
		} else if (r == DL_BROKEN) {
			port_broke(w, p, VHU_BROKEN_RING, err);
			break;
		} else {
			noroom++;
		}
	}
	/* Frames refused by the ring may wait in the sender's ring, except
	 * those that already took egress tokens (they would pay twice). */
	if (f && (rf.share | rf.room) && !dcp->qeg.on) {
		if (rf.share & uni) {
			rf.wait |= rf.share & uni;
			refused_ready(&rf, qos_fair_ready(f, (uint16_t)avail, qnow, true));
		}
		if ((rf.room & uni) && qos_drr_contended(&f->drr, src_port, qnow)) {
			rf.wait |= rf.room & uni;
			refused_ready(&rf, qos_fair_ready(f, (uint16_t)avail, qnow, false));
		}
	}
	flush_reserved(w, q, dcp->hdr_len, rv, nfr, src_hdr, tcis);
	if (q->used_pending) {
		vq_used_publish(q);
		call = vq_need_call(q);
	}
	if (f)
		qos_fair_done(f, q->used_idx, (uint16_t)avail);
out:
	rxq_unlock(&p->rxq_lock[qi], shared);
	/* The eventfd write may block (see vq_call_fd): never under the lock. */
	if (call && !vq_call_fd(q))
		port_broke(w, p, VHU_BROKEN_CALL, 0);
	settle(w, n, &rf, &c);
	c.pkts = pkts;
	c.bytes = bytes;
	c.noroom += noroom;
	dl_count_add(w, dst, &c);
}

enum { DROP_VLAN, DROP_SPOOF, DROP_MAC_LIMIT, DROP_UNKNOWN, DROP_ISOLATION, DROP__N };

/* mac=auto: the first source MAC a port uses becomes its binding; later
 * frames must come from it. The control thread adds the static entry. */
static inline bool auto_mac_ok(struct dp_port *p, uint64_t smac)
{
	uint64_t want = 1ull << 63 | smac;
	uint64_t cur = atomic_load_explicit(&p->auto_mac, memory_order_relaxed);

	if (cur == 0 && atomic_compare_exchange_strong(&p->auto_mac, &cur, want))
		return true;
	return cur == want;
}

/* Pops up to n chains from a port whose ingress is limited: as many as its
 * buckets admit; the rest stay in the guest's ring (backpressure) and the
 * queue is not polled again until the buckets have refilled a useful
 * amount. Returns chains popped, or -1 if the ring broke. */
static int pop_limited(struct dp_worker *w, const struct dp_conf_port *scp, struct vq *q,
                       unsigned slot, unsigned n, uint64_t qnow)
{
	struct dp_port *sp = scp->port;
	bool shared = w->dp->nworkers > 1;
	struct qos_batch bt;
	unsigned k;

	qos_lock(&sp->qin, shared);
	qos_begin(&scp->qin, &sp->qin, qnow, &bt);
	for (k = 0; k < n; k++) {
		int r = vq_pop(q, &w->src[k], VQ_OUT);
		uint32_t len;

		if (unlikely(r < 0)) {
			qos_end(&sp->qin, &bt);
			qos_unlock(&sp->qin, shared);
			port_broke(w, sp, VHU_BROKEN_RING, -r);
			return -1;
		}
		len = w->src[k].len > scp->hdr_len ? w->src[k].len - scp->hdr_len : 0;
		if (!qos_take(&scp->qin, &bt, len)) {
			vq_unpop(q, 1);
			break;
		}
	}
	qos_end(&sp->qin, &bt);
	qos_unlock(&sp->qin, shared);
	if (k < n) {
		w->ready[slot].t = qos_ready(&scp->qin, &bt);
		w->ready[slot].on = true;
		w->nheld++;
		STAT_ADD(w, sp->id, ingress_held, 1);
	}
	return (int)k;
}

/* Whether polled queue slot waits for its ingress limit's tokens. */
static inline bool held(struct dp_worker *w, unsigned slot, uint64_t qnow)
{
	if (!w->ready[slot].on)
		return false;
	if (qos_diff(w->ready[slot].t, qnow) > 0)
		return true;
	w->ready[slot].on = false;
	return false;
}

/* After a burst towards a congested port (w->hold_on): polled queue slot of
 * port src_port waits until qos time w->hold (or its ingress limit's time,
 * if later). */
static void hold_queue(struct dp_worker *w, unsigned src_port, unsigned slot)
{
	if (!w->ready[slot].on || qos_diff(w->hold, w->ready[slot].t) > 0)
		w->ready[slot].t = w->hold;
	w->ready[slot].on = true;
	w->nheld++;
	STAT_ADD(w, src_port, share_held, 1);
}

/* Switches the n frames of w->src (each hdr bytes of virtio header, then
 * the frame) that port scp sent on queue pair qp: classification, then
 * delivery per destination. Inlined into both pollers, so the vhost path
 * compiles as it did before kernel ports existed. */
static inline __attribute__((always_inline)) void
switch_burst(struct dp_worker *w, const struct dp_conf *conf, const struct dp_conf_port *scp,
             unsigned qp, uint32_t hdr, unsigned n, uint32_t now_s, uint64_t qnow)
{
	struct dp_port *sp = scp->port;
	const struct dp_port_cfg *sc = scp->cfg;
	uint64_t rx_bytes = 0, invalid = 0, hairpin = 0, drops[DROP__N] = { 0 };
	uint16_t dsts[DP_BURST];
	unsigned ndst = 0;
	uint64_t learned = 0, looked = 0; /* fdb keys (never 0) asked this burst */
	int looked_port = -1;

	/* Pass 1: classify on private copies: ingress policy, learn the
	 * source, look up the destination, isolation. */
	for (unsigned i = 0; i < n; i++) {
		struct dp_meta *m = &w->meta[i];
		const struct vq_chain *c = &w->src[i];
		struct iovc s;
		uint64_t dmac, key;
		bool tagged;
		int p;

		m->dst = -2;
		if (unlikely(c->len < hdr + 14)) {
			invalid++;
			m->len = 0;
			continue;
		}
		m->len = c->len - hdr;
		rx_bytes += m->len;
		iovc_init(&s, c->iov, c->niov);
		iovc_skip(&s, hdr);
		iovc_get(&s, m->prefix, MIN(m->len, (uint32_t)DP_PREFIX));
		if (unlikely(m->prefix[6] & 1)) {
			invalid++; /* a group address cannot be a source (802.3) */
			continue;
		}
		if (sc->mac_auto && !auto_mac_ok(sp, sw_mac48(m->prefix + 6))) {
			drops[DROP_SPOOF]++;
			continue;
		}
		switch (dp_ingress(sc, m->prefix, m->len, &m->vlan, &m->pcp, &tagged)) {
		case DP_DROP_VLAN:
			drops[DROP_VLAN]++;
			continue;
		case DP_DROP_SPOOF:
			drops[DROP_SPOOF]++;
			continue;
		case DP_PASS:
			break;
		}
		m->l2skip = tagged ? 16 : 12;
		/* A burst is mostly one flow: the table is asked once per
		 * source and destination that changes from the frame before
		 * (the answers are as of the burst, like the snapshot). */
		key = sw_fdb_key(m->vlan, sw_mac48(m->prefix + 6));
		if (key != learned) {
			switch (sw_fdb_learn(w->dp->fdb, m->vlan, sw_mac48(m->prefix + 6), sp->id,
			                     now_s)) {
			case SW_LEARN_LIMIT:
				drops[DROP_MAC_LIMIT]++;
				continue;
			case SW_LEARN_STATIC:
				drops[DROP_SPOOF]++; /* a MAC bound to another port */
				continue;
			default:
				learned = key;
				break;
			}
		}
		if (m->prefix[0] & 1) {
			m->dst = -1; /* broadcast / multicast: flood in the VLAN */
			continue;
		}
		dmac = sw_mac48(m->prefix);
		key = sw_fdb_key(m->vlan, dmac);
		if (key != looked) {
			looked = key;
			looked_port = sw_fdb_lookup(w->dp->fdb, m->vlan, dmac, now_s);
		}
		p = looked_port;
		if (p == (int)sp->id) {
			hairpin++;
			continue;
		}
		if (p >= 0 && (unsigned)p < conf->nports && !conf->ports[p].port) {
			/* A known MAC whose port is down or being reconfigured:
			 * flooding would not reach it; count it there. */
			STAT_ADD(w, p, drop_down, 1);
			continue;
		}
		if (p < 0 || (unsigned)p >= conf->nports) {
			if (conf->unknown_drop) {
				drops[DROP_UNKNOWN]++;
				continue;
			}
			m->dst = -1;
			continue;
		}
		if (sc->isolated && conf->ports[p].cfg->isolated) {
			drops[DROP_ISOLATION]++;
			continue;
		}
		m->dst = p;
		unsigned j;
		for (j = 0; j < ndst && dsts[j] != m->dst; j++)
			;
		if (j == ndst)
			dsts[ndst++] = (uint16_t)m->dst;
	}
	if (drops[DROP_VLAN])
		STAT_ADD(w, sp->id, drop_vlan, drops[DROP_VLAN]);
	if (drops[DROP_SPOOF])
		STAT_ADD(w, sp->id, drop_spoof, drops[DROP_SPOOF]);
	if (drops[DROP_MAC_LIMIT])
		STAT_ADD(w, sp->id, drop_mac_limit, drops[DROP_MAC_LIMIT]);
	if (drops[DROP_UNKNOWN])
		STAT_ADD(w, sp->id, drop_unknown, drops[DROP_UNKNOWN]);
	if (drops[DROP_ISOLATION])
		STAT_ADD(w, sp->id, drop_isolation, drops[DROP_ISOLATION]);
	if (invalid)
		STAT_ADD(w, sp->id, drop_invalid, invalid);
	if (hairpin)
		STAT_ADD(w, sp->id, drop_hairpin, hairpin);

	/* Pass 2: per destination, in order of first appearance; flooded
	 * frames go to every other live port. */
	bool flood = false;
	for (unsigned i = 0; i < n; i++)
		flood |= w->meta[i].dst == -1;
	w->keep = 0;
	w->hold_on = false;
	if (flood) {
		for (unsigned p = 0; p < conf->nports; p++)
			if (p != sp->id && conf->ports[p].port)
				deliver(w, conf, p, sp->id, qp, hdr, n, qnow);
	} else {
		for (unsigned j = 0; j < ndst; j++)
			deliver(w, conf, dsts[j], sp->id, qp, hdr, n, qnow);
	}
	/* Frames left in the source's ring are counted when they come again. */
	for (unsigned i = n - w->keep; i < n; i++)
		rx_bytes -= w->meta[i].len;
	STAT_ADD(w, sp->id, rx_pkts, n - w->keep);
	STAT_ADD(w, sp->id, rx_bytes, rx_bytes);
}

/* Reads the frames of kernel queue pl while its port's ingress limit
 * admits them, one at a time into w->kbuf from slot n on: the frame that
 * does not pass is kept in the port's carry buffer for the next poll and
 * the queue is held until the buckets have refilled, so the rest waits in
 * the kernel's queue (the tap's or the packet ring), which drops when
 * full, as a guest's ring holds a limited guest's frames. (Dropping here
 * instead, a policer, starves TCP on a path with a microsecond RTT: its
 * retransmissions find the bucket empty again and it falls back to RTOs.)
 * Returns the frames in kbuf. */
static unsigned read_limited(struct dp_worker *w, const struct dp_conf_port *scp,
                             const struct dp_poll *pl, unsigned slot, uint64_t qnow)
{
	struct dp_port *sp = scp->port;
	bool shared = w->dp->nworkers > 1, pass;
	uint8_t *carry = sp->carry + (size_t)pl->qp * PORT_FRAME_MAX;
	struct qos_batch bt;
	unsigned n = 0;

	for (;;) {
		uint8_t *b = w->kbuf + (size_t)n * PORT_FRAME_MAX;
		bool carried = sp->carry_len[pl->qp] > 0;

		if (n == DP_BURST)
			return n;
		if (carried) {
			w->klen[n] = sp->carry_len[pl->qp];
			memcpy(b, carry, w->klen[n]);
			sp->carry_len[pl->qp] = 0;
		} else if (!port_rx_burst(pl->kp, pl->qp, b, &w->klen[n], 1)) {
			return n;
		}
		/* The bucket is shared with the port's other queues: one
		 * admission per frame, each under the (multi-worker) lock. */
		qos_lock(&sp->qin, shared);
		qos_begin(&scp->qin, &sp->qin, qnow, &bt);
		pass = qos_take(&scp->qin, &bt, w->klen[n]);
		qos_end(&sp->qin, &bt);
		qos_unlock(&sp->qin, shared);
		if (!pass) {
			if (!carried)
				memcpy(carry, b, w->klen[n]);
			sp->carry_len[pl->qp] = w->klen[n] ? w->klen[n] : 1;
			w->ready[slot].t = qos_ready(&scp->qin, &bt);
			w->ready[slot].on = true;
			w->nheld++;
			STAT_ADD(w, sp->id, ingress_held, 1);
			return n;
		}
		n++;
	}
}

/* Polls queue q of a kernel port (conf->poll[w->id][slot]): reads a burst
 * into the worker's buffers (within the port's ingress limit) and switches
 * it. Returns frames read. */
static unsigned poll_kernel(struct dp_worker *w, const struct dp_conf *conf, unsigned slot,
                            uint32_t now_s, uint64_t qnow)
{
	const struct dp_poll *pl = &conf->poll[w->id][slot];
	const struct dp_conf_port *scp = &conf->ports[pl->port];
	unsigned n;

	if (held(w, slot, qnow)) {
		w->nheld++;
		return 0;
	}
	/* A frame carried over from a limit since removed goes out first. */
	if (scp->qin.on || scp->port->carry_len[pl->qp]) {
		n = read_limited(w, scp, pl, slot, qnow);
	} else {
		n = port_rx_burst(pl->kp, pl->qp, w->kbuf, w->klen, DP_BURST);
	}
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct vq_chain *c = &w->src[i];
		c->iov[0].iov_base = w->kbuf + (size_t)i * PORT_FRAME_MAX;
		c->iov[0].iov_len = w->klen[i];
		c->niov = c->nout = 1;
		c->len = w->klen[i];
		c->head = 0;
	}
	w->can_keep = false; /* read from the kernel: what a port refuses is dropped */
	switch_burst(w, conf, scp, pl->qp, 0, n, now_s, qnow);
	if (w->hold_on)
		hold_queue(w, scp->port->id, slot);
	return n;
}

/* Starts loading the lines of a popped frame that classification reads
 * (its first DP_PREFIX bytes after the hdr-byte virtio header), so that a
 * burst's cache misses overlap instead of coming one frame at a time. */
static inline void prefetch_frame(const struct vq_chain *c, uint32_t hdr)
{
	const uint8_t *p = c->iov[0].iov_base;
	size_t l = c->iov[0].iov_len;

	if (l <= hdr) {
		if (c->niov < 2)
			return;
		hdr -= (uint32_t)l;
		p = c->iov[1].iov_base;
		l = c->iov[1].iov_len;
	}
	__builtin_prefetch(p + hdr);
	if (l > hdr + 64)
		__builtin_prefetch(p + hdr + 64);
}

/* Polls one guest tx ring (conf->poll[w->id][slot]): returns frames taken. */
static unsigned poll_queue(struct dp_worker *w, const struct dp_conf *conf, unsigned slot,
                           uint32_t now_s, uint64_t qnow)
{
	const struct dp_poll *pl = &conf->poll[w->id][slot];
	const struct dp_conf_port *scp = &conf->ports[pl->port];
	struct dp_port *sp = scp->port;
	struct vq *q = &pl->vr->vq;
	unsigned n;
	int avail;

	if (unlikely(vhu_dev_is_broken(sp->dev)))
		return 0;
	if (held(w, slot, qnow)) {
		w->nheld++;
		return 0;
	}
	avail = vq_avail_count(q);
	if (avail <= 0) {
		if (unlikely(avail < 0))
			port_broke(w, sp, VHU_BROKEN_RING, -avail);
		return 0;
	}
	n = MIN((unsigned)avail, (unsigned)DP_BURST);
	if (scp->qin.on) {
		int k = pop_limited(w, scp, q, slot, n, qnow);
		if (k <= 0)
			return 0;
		n = (unsigned)k;
	} else {
		vq_prefetch(q, n);
		for (unsigned i = 0; i < n; i++) {
			int r = vq_pop(q, &w->src[i], VQ_OUT);
			if (unlikely(r < 0)) {
				port_broke(w, sp, VHU_BROKEN_RING, -r);
				return 0;
			}
		}
	}
	for (unsigned i = 0; i < n; i++)
		prefetch_frame(&w->src[i], scp->hdr_len);

	/* Frames a congested port refuses at the end of the burst may stay
	 * in the ring, unless the ingress limit has charged them already. */
	w->can_keep = !scp->qin.on;
	switch_burst(w, conf, scp, pl->qp, scp->hdr_len, n, now_s, qnow);
	if (w->hold_on) {
		hold_queue(w, sp->id, slot);
		vq_unpop(q, (uint16_t)w->keep);
		n -= w->keep;
		if (!n)
			return 0;
	}

	/* Return the tx buffers: nothing was written into them. */
	for (unsigned i = 0; i < n; i++)
		vq_used_put(q, w->src[i].head, 0);
	vq_used_publish(q);
	if (!vq_call(q))
		port_broke(w, sp, VHU_BROKEN_CALL, 0);
	return n;
}

/* Rebuilds the epoll set for a new snapshot: the wake eventfd plus every
 * polled ring's kick eventfd. Called only when the snapshot changes.
 *
 * Kick eventfds belong to the guest: vifd never reads them (a read could
 * block if the guest cleared O_NONBLOCK and drained the counter first, or
 * hit a reused fd number after the control thread closed it). They are
 * watched edge-triggered instead: every kick is a new edge, and the
 * counter's value means nothing to us. Only our own wakefd is read.
 * A kernel port's queue files are edge-triggered too: the worker sleeps
 * only after a poll found them empty (or while their ingress limit holds
 * them: then frames left in the kernel's queue must not wake it), and every
 * frame the kernel queues after that is a new edge. */
static void epoll_rebuild(struct dp_worker *w, const struct dp_conf *conf)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return; /* then the worker only busy-polls */
	ev.data.fd = w->wakefd;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
	for (unsigned i = 0; i < conf->npoll[w->id]; i++) {
		const struct dp_poll *pl = &conf->poll[w->id][i];
		int fd = pl->vr ? pl->vr->kickfd : pl->kp->fd[pl->qp];
		if (fd < 0)
			continue;
		ev.data.fd = fd;
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	w->epgen = conf->gen;
	atomic_store_explicit(&w->nqueues, conf->npoll[w->id], memory_order_relaxed);
}

/* Prepares to sleep: asks every polled guest for kicks, then re-checks the
 * rings (a frame may have arrived before the guest saw the request).
 * Queues held by their ingress limit are not asked for kicks: the sleep
 * ends when the first of them has tokens again (*wait_ns, or -1: no such
 * queue). Returns false if there is work or a ring is polled without a
 * kick fd. */
static bool may_sleep(struct dp_worker *w, const struct dp_conf *conf, uint64_t qnow,
                      int64_t *wait_ns)
{
	bool ok = w->epfd >= 0;

	*wait_ns = -1;
	for (unsigned i = 0; i < conf->npoll[w->id]; i++) {
		const struct dp_poll *pl = &conf->poll[w->id][i];
		if (held(w, i, qnow)) {
			int64_t d = qos_diff(w->ready[i].t, qnow) >> QOS_SHIFT;
			if (*wait_ns < 0 || d < *wait_ns)
				*wait_ns = d;
			continue;
		}
		if (!pl->vr)
			continue; /* a kernel queue: a new frame is an edge on its file */
		if (pl->vr->kickfd < 0)
			ok = false;
		vq_kicks_enable(&pl->vr->vq);
	}
	for (unsigned i = 0; ok && i < conf->npoll[w->id]; i++)
		if (conf->poll[w->id][i].vr && !held(w, i, qnow) &&
		    vq_avail_count(&conf->poll[w->id][i].vr->vq) != 0)
			ok = false;
	return ok;
}

static void kicks_disable(struct dp_worker *w, const struct dp_conf *conf)
{
	for (unsigned i = 0; i < conf->npoll[w->id]; i++)
		if (conf->poll[w->id][i].vr)
			vq_kicks_disable(&conf->poll[w->id][i].vr->vq);
}

/* Sleeps until a kick, a wake-up from the control thread, or wait_ns
 * (-1: a second, to look at the clock-driven work now and then). */
static void sleep_on_kicks(struct dp_worker *w, int64_t wait_ns)
{
	struct epoll_event evs[32];
	struct timespec ts;
	uint64_t v;
	int n;

	if (wait_ns < 0)
		wait_ns = 1000000000;
	ts.tv_sec = (time_t)(wait_ns / 1000000000);
	ts.tv_nsec = (long)(wait_ns % 1000000000);
	atomic_fetch_add_explicit(&w->sleeps, 1, memory_order_relaxed);
	qsbr_offline(&w->qs);
	n = epoll_pwait2(w->epfd, evs, 32, &ts, NULL);
	if (n < 0 && errno == ENOSYS) /* kernels before 5.11: ms resolution */
		n = epoll_wait(w->epfd, evs, 32, (int)((wait_ns + 999999) / 1000000));
	qsbr_online(&w->dp->qsbr, &w->qs);
	for (int i = 0; i < n; i++)
		if (evs[i].data.fd == w->wakefd && read(w->wakefd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another wake-up drained it */
		}
}

void *dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp *dp = w->dp;
	const struct dp_conf *conf;
	uint64_t last_work_ns;
	unsigned first = 0, np;

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			vlog_warn("worker %u: cannot pin to CPU %d", w->id, w->cpu);
	}
	w->prefetchw = cpu_has_prefetchw();
	clk_tsc_init(&w->clk);
	last_work_ns = clk_tsc_now(&w->clk, clk_cycles());
	qsbr_online(&dp->qsbr, &w->qs);
	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		uint64_t t0 = clk_cycles(), now_ns = clk_tsc_now(&w->clk, t0);
		uint64_t qnow = dp_qos_now(dp, now_ns);
		uint32_t now_s = dp_now_s(dp, now_ns);
		unsigned moved = 0;

		conf = atomic_load_explicit(&dp->conf, memory_order_acquire);
		if (conf->gen != w->epgen) {
			epoll_rebuild(w, conf);
			kicks_disable(w, conf);
			memset(w->ready, 0, sizeof(w->ready[0]) * conf->npoll[w->id]);
		}
		/* Each iteration starts at the next queue, so that no guest is
		 * always first to the room a slow receiver has just freed. */
		w->nheld = 0;
		np = conf->npoll[w->id];
		first = np ? (first + 1) % np : 0;
		for (unsigned k = 0, i = first; k < np; k++, i = i + 1 == np ? 0 : i + 1)
			moved += conf->poll[w->id][i].vr ? poll_queue(w, conf, i, now_s, qnow)
			                                 : poll_kernel(w, conf, i, now_s, qnow);

		uint64_t dt = clk_cycles() - t0;
		if (moved) {
			atomic_fetch_add_explicit(&w->busy_cycles, dt, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->pkts, moved, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->busy_iters, 1, memory_order_relaxed);
			last_work_ns = now_ns;
		} else {
			int64_t wait_ns;

			atomic_fetch_add_explicit(&w->idle_cycles, dt, memory_order_relaxed);
			/* Queues held by their ingress limit have work whose time
			 * is known: sleep until then at once rather than poll
			 * (the other queues kick). */
			if (w->nheld || now_ns - last_work_ns > DP_IDLE_NS) {
				if (may_sleep(w, conf, qnow, &wait_ns)) {
					sleep_on_kicks(w, wait_ns);
					conf = atomic_load_explicit(&dp->conf, memory_order_acquire);
					if (conf->gen == w->epgen)
						kicks_disable(w, conf);
					last_work_ns = clk_tsc_now(&w->clk, clk_cycles());
					continue; /* qsbr already passed (offline) */
				}
				kicks_disable(w, conf);
				last_work_ns = now_ns;
			}
		}
		qsbr_quiescent(&dp->qsbr, &w->qs);
		atomic_store_explicit(&w->loops, atomic_load_explicit(&w->loops, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
	}
	qsbr_offline(&w->qs);
	return NULL;
}
