/* dp_cap.h - port captures in the datapath (vifctl capture): the state of
 * one capture and what a worker does with a burst of a captured port.
 *
 * Cost: a snapshot lists a port's capture (dp_conf_port cap_rx / cap_tx)
 * only while one runs; a worker tests that pointer once per burst it
 * receives from the port and once per burst it sends to it. With a capture
 * on, each frame is copied (snaplen bytes at most) into this worker's own
 * ring of the capture's shared memory: no allocation, lock or system call,
 * one release store of the ring's head per burst. A full ring drops the
 * record, never the frame, and never waits.
 *
 * Lifetime: the control thread (dp_cap.c) creates a capture, points its
 * port at it and publishes; it stops one by clearing the pointer,
 * publishing (qsbr: no worker uses it after) and unmapping. */
#ifndef VIFD_DP_CAP_H
#define VIFD_DP_CAP_H

#include "cap_ring.h"
#include "dp_impl.h"
#include "iovc.h"

/* The first ring's offset in the mapping: the header has a page. */
enum { DP_CAP_RING_OFF = 4096 };
static_assert(sizeof(struct cap_hdr) <= DP_CAP_RING_OFF, "the header fits its page");
static_assert(sizeof(struct cap_ring) % CAP_ALIGN == 0, "rings stay aligned");

/* A worker's producer state for its ring: written by that worker only
 * (frames and drops read by the control thread, relaxed). */
struct dp_cap_w {
	uint64_t head;     /* bytes written (the shared head is a copy) */
	_Atomic uint64_t frames, drops;
} cache_aligned;

struct dp_cap {
	unsigned id;
	struct dp_port *port;
	uint8_t dirs;          /* CAP_DIR_RX | CAP_DIR_TX */
	uint32_t snaplen;
	uint64_t data_bytes;   /* per ring, a power of two */
	struct cap_hdr *hdr;   /* the shared mapping */
	size_t map_len;
	struct dp_cap_w w[DP_MAX_WORKERS];
};

/* One burst's writing to a worker's ring. */
struct dp_cap_batch {
	struct cap_ring *r;
	uint8_t *data;
	struct dp_cap_w *pw;
	uint64_t head, tail, ts_ns;
	uint32_t frames, drops; /* this burst's */
	bool bad;             /* the reader's tail makes no sense: drop all */
};

static inline void dp_cap_begin(struct dp_cap *c, struct dp_worker *w, struct dp_cap_batch *b)
{
	/* ring_off and ring_stride are vifd's own values (dp_cap.c), kept in
	 * the struct too: the reader may scribble over the header. */
	b->r = (struct cap_ring *)((uint8_t *)c->hdr + DP_CAP_RING_OFF +
	                           (size_t)w->id * (sizeof(struct cap_ring) + c->data_bytes));
	b->data = (uint8_t *)(b->r + 1);
	b->pw = &c->w[w->id];
	b->head = b->pw->head;
	b->tail = atomic_load_explicit(&b->r->tail, memory_order_acquire);
	b->bad = b->tail > b->head || b->head - b->tail > c->data_bytes;
	b->ts_ns = clk_tsc_now(&w->clk, clk_cycles());
	b->frames = b->drops = 0;
}

/* Room for a record of caplen frame bytes: its data, or NULL (counted). */
static inline uint8_t *dp_cap_rec(struct dp_cap *c, struct dp_cap_batch *b, uint8_t dir,
                                  uint32_t len, uint32_t caplen)
{
	uint64_t size = c->data_bytes, off = b->head & (size - 1), pad = 0;
	uint32_t need = cap_rec_bytes(caplen);
	struct cap_rec *rec;

	if (size - off < need)
		pad = size - off;
	if (b->bad || size - (b->head - b->tail) < pad + need) {
		b->drops++;
		return NULL;
	}
	if (pad) {
		((struct cap_rec *)(b->data + off))->rec_len = 0; /* wrap mark (pad >= 8) */
		b->head += pad;
		off = 0;
	}
	rec = (struct cap_rec *)(b->data + off);
	*rec = (struct cap_rec){ .rec_len = need, .caplen = caplen, .len = len, .dir = dir,
	                         .ts_ns = b->ts_ns };
	b->head += need;
	b->frames++;
	return (uint8_t *)(rec + 1);
}

static inline void dp_cap_end(struct dp_cap_batch *b)
{
	/* Single writer: load and store, no read-modify-write. */
	uint64_t f = atomic_load_explicit(&b->pw->frames, memory_order_relaxed) + b->frames;
	uint64_t d = atomic_load_explicit(&b->pw->drops, memory_order_relaxed) + b->drops;

	b->pw->head = b->head;
	atomic_store_explicit(&b->r->head, b->head, memory_order_release);
	atomic_store_explicit(&b->pw->frames, f, memory_order_relaxed);
	atomic_store_explicit(&b->pw->drops, d, memory_order_relaxed);
	atomic_store_explicit(&b->r->frames, f, memory_order_relaxed);
	atomic_store_explicit(&b->r->drops, d, memory_order_relaxed);
}

/* Frames pkts[0..n) as the port sent them (rx). */
static inline void dp_cap_rx(struct dp_worker *w, struct dp_cap *c, const struct pkt *pkts,
                             unsigned n)
{
	struct dp_cap_batch b;

	dp_cap_begin(c, w, &b);
	for (unsigned i = 0; i < n; i++) {
		const struct pkt *pk = &pkts[i];
		uint32_t cl = MIN(pk->len, c->snaplen);
		uint8_t *d = dp_cap_rec(c, &b, CAP_DIR_RX, pk->len, cl);
		struct iovc s;

		if (!d)
			continue;
		iovc_init(&s, pk->seg, pk->nseg);
		iovc_get(&s, d, cl);
	}
	dp_cap_end(&b);
}

/* A frame the port lacks the offloads for, as it goes on the wire: each
 * segment (or the frame with its checksum complete) that the driver makes
 * with the same ol_gso_write, made again in the worker's scratch frame
 * (free: the driver's tx_burst is over) and recorded. */
static inline void dp_cap_soft(struct dp_cap *c, struct dp_cap_batch *b, const struct pkt *pk,
                               uint16_t tci, struct port_scratch *scratch)
{
	struct iovec d = { scratch->frame, sizeof(scratch->frame) };
	struct port_olx x;

	if (port_ol_prepare(pk, tci, &x) < 0)
		return; /* the driver refused it too (drops.offload) */
	for (uint32_t k = 0; k < ol_gso_count(&x.f); k++) {
		uint32_t n = ol_gso_write(&x.f, x.head, k, pk->seg, pk->nseg, x.pay_off, &d, 1);
		uint32_t cl = MIN(n, c->snaplen);
		uint8_t *r;

		if (!n)
			return;
		r = dp_cap_rec(c, b, CAP_DIR_TX, n, cl);
		if (r)
			memcpy(r, scratch->frame, cl);
	}
}

/* Frames pkts[i], bits i of mask, as they leave for the port (tx), whose
 * offloads are ol_out: the MACs, the egress tag tcis[i], then the rest of
 * the frame after the tag it came with. A frame the port takes whole with
 * its segmentation metadata is recorded as the one frame it is (as tcpdump
 * shows a TSO frame on a kernel interface); one vifd segments or
 * checksums in software for the port, as the frames it makes. */
static inline void dp_cap_tx(struct dp_worker *w, struct dp_cap *c, const struct pkt *pkts,
                             uint32_t mask, const uint16_t *tcis, uint32_t ol_out)
{
	struct dp_cap_batch b;

	dp_cap_begin(c, w, &b);
	for (; mask; mask &= mask - 1) {
		unsigned i = (unsigned)__builtin_ctz(mask);
		const struct pkt *pk = &pkts[i];
		uint32_t len = pkt_out_len(pk, tcis[i]), cl = MIN(len, c->snaplen), k, hl;
		uint8_t *d, tag[16];
		struct iovc s;

		if (unlikely(pkt_ol_needs(pk) & ~ol_out)) {
			dp_cap_soft(c, &b, pk, tcis[i], w->scratch);
			continue;
		}
		d = dp_cap_rec(c, &b, CAP_DIR_TX, len, cl);
		if (!d)
			continue;
		memcpy(tag, pk->head, 12);
		k = 12;
		if (tcis[i]) {
			tag[12] = 0x81;
			tag[13] = 0x00;
			tag[14] = (uint8_t)(tcis[i] >> 8);
			tag[15] = (uint8_t)tcis[i];
			k = 16;
		}
		k = MIN(k, cl);
		memcpy(d, tag, k);
		/* What the switch decided on is the private head: the
		 * receiver gets those bytes, then the rest of the source's. */
		hl = MIN(pk->len, (uint32_t)PKT_HEAD) - pk->l2skip;
		hl = MIN(hl, cl - k);
		memcpy(d + k, pk->head + pk->l2skip, hl);
		if (cl - k - hl) {
			iovc_init(&s, pk->seg, pk->nseg);
			iovc_skip(&s, MIN(pk->len, (uint32_t)PKT_HEAD));
			iovc_get(&s, d + k + hl, cl - k - hl);
		}
	}
	dp_cap_end(&b);
}

#endif
