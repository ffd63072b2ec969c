/* qos.h - per-port rate limits (token buckets) and fair sharing of a
 * congested port's receive ring.
 *
 * Token buckets are kept in GCRA form ("virtual scheduling"): instead of a
 * token count and a refill timestamp, each bucket is one 64-bit word, the
 * time at which it would be full again (tat, "theoretical arrival time").
 * A frame of cost c passes if max(tat, now) + c <= now + depth, and then
 * tat becomes max(tat, now) + c. Refill is implicit in the clock: no timers,
 * no per-port work when nothing is sent, O(1) per frame. Costs and depths
 * are precomputed per port (struct qos_prof) in time units of 2^-16 ns, so
 * the datapath does one multiply and one add per frame and limit, in
 * integers, with a rounding error below 10^-5 up to 400 Gbit/s.
 *
 * Time values wrap after 2^48 ns (3.3 days) and are compared with signed
 * differences; the control thread's periodic check moves the tat of an
 * idle bucket up to now (qos_refresh), so no stored value is ever more than
 * a burst's worth of time (at most 4 hours, see QOS_MAX_DEPTH_NS) away
 * from the clock.
 *
 * Bytes are counted as the Ethernet frame the guest sees: destination MAC
 * to the end of the payload, no virtio header, no FCS, no preamble or
 * inter-frame gap. `overhead` adds bytes per frame for operators who think
 * in line rate (24 = FCS + preamble + gap on Ethernet).
 *
 * Concurrency: a bucket is shared by the workers serving its port. Its
 * admission is done per burst (never per frame) under a tiny per-bucket
 * spin lock, taken only when the datapath has more than one worker. */
#ifndef VIFD_QOS_H
#define VIFD_QOS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum {
	QOS_SHIFT = 16,                          /* time unit: 2^-16 ns */
	QOS_DEFAULT_BURST_MS = 20,               /* default burst: 20 ms of the rate */
	QOS_MIN_BURST_BYTES = 64 * 1024,         /* ... and at least 64 KiB */
	QOS_MIN_PBURST = 32,                     /* ... or 32 packets */
	QOS_MAX_WEIGHT = 100,
};

#define QOS_MAX_BPS 1000000000000ull    /* 1 Tbit/s */
#define QOS_MAX_PPS 1000000000ull       /* 1 Gpps */
#define QOS_MIN_BPS 8000ull             /* 8 kbit/s */
#define QOS_MAX_DEPTH_NS (4ull * 3600 * 1000000000ull) /* a burst lasts at most 4 hours */

/* What the operator set for one direction of a port. 0 = not limited
 * (rates) or the default (bursts). */
struct qos_limit {
	uint64_t bps;     /* bits per second */
	uint64_t burst;   /* bytes */
	uint64_t pps;     /* packets per second */
	uint64_t pburst;  /* packets */
};

/* One bucket, precomputed: a frame of len bytes costs per_pkt + per_byte * len. */
struct qos_bucket {
	uint64_t per_byte;
	uint64_t per_pkt;
	uint64_t depth;   /* the burst, in time units */
	uint64_t refill;  /* when blocked, wait until this much has refilled */
};

/* One direction of a port: a byte bucket and/or a packet bucket. */
struct qos_prof {
	bool on;          /* any limit */
	bool has_b, has_p;
	struct qos_bucket b, p;
};

/* The shared, mutable part: one per port and direction. */
struct qos_state {
	_Atomic uint64_t tat_b, tat_p;
	atomic_flag lock;
} cache_aligned;

/* Builds the profile of a direction (overhead: bytes added per frame for
 * the byte limit). Returns 0, or -EINVAL with a reason in err. */
int qos_prof_build(const struct qos_limit *l, uint32_t overhead, struct qos_prof *p, char *err,
                   size_t errlen);

/* Operator input in tc(8)'s units: rates ("100mbit", "1gbit", "10mbps",
 * a bare number is bit/s), sizes ("64k" = 65536 bytes, "1m", "500kbit",
 * a bare number is bytes) and counts ("20000", "20k"). 0 or -EINVAL. */
int qos_parse_rate(const char *s, uint64_t *bps);
int qos_parse_size(const char *s, uint64_t *bytes);
int qos_parse_count(const char *s, uint64_t *n);

/* The bursts a limit gets when none is given (bytes / packets). */
uint64_t qos_default_burst(uint64_t bps);
uint64_t qos_default_pburst(uint64_t pps);

/* Nanoseconds (since any fixed origin) to qos time. */
static inline uint64_t qos_time(uint64_t ns)
{
	return ns << QOS_SHIFT;
}

static inline int64_t qos_diff(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b);
}

static inline void qos_lock(struct qos_state *s, bool shared)
{
	if (!shared)
		return;
	while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
		__builtin_ia32_pause();
}

static inline void qos_unlock(struct qos_state *s, bool shared)
{
	if (shared)
		atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

/* A burst's admission in progress: the buckets' virtual times. */
struct qos_batch {
	uint64_t b, p;
	uint64_t now;
	bool full_b, full_p;  /* the bucket was full at the start of the batch */
};

/* Starts a batch (the caller holds the lock). */
static inline void qos_begin(const struct qos_prof *pf, struct qos_state *s, uint64_t now,
                             struct qos_batch *bt)
{
	uint64_t tb = atomic_load_explicit(&s->tat_b, memory_order_relaxed);
	uint64_t tp = atomic_load_explicit(&s->tat_p, memory_order_relaxed);

	(void)pf;
	bt->now = now;
	bt->full_b = qos_diff(tb, now) <= 0;
	bt->full_p = qos_diff(tp, now) <= 0;
	bt->b = bt->full_b ? now : tb;
	bt->p = bt->full_p ? now : tp;
}

/* Takes one frame of len bytes if both buckets allow it. A frame that
 * costs more than a whole burst still passes when its bucket is full (the
 * bucket goes into debt), so a small burst never blocks a port for good. */
static inline bool qos_take(const struct qos_prof *pf, struct qos_batch *bt, uint32_t len)
{
	uint64_t nb = bt->b, np = bt->p;

	if (pf->has_b) {
		nb += pf->b.per_pkt + pf->b.per_byte * len;
		if (qos_diff(nb, bt->now) > (int64_t)pf->b.depth && !(bt->b == bt->now && bt->full_b))
			return false;
	}
	if (pf->has_p) {
		np += pf->p.per_pkt;
		if (qos_diff(np, bt->now) > (int64_t)pf->p.depth)
			return false;
	}
	bt->b = nb;
	bt->p = np;
	bt->full_b = false;
	return true;
}

/* ---- fair share of a rate-limited port ----
 *
 * When a port's egress limit is congested (less than half of its burst
 * left), each source port may use only its share of the rate: rate x its
 * weight / the weights of the sources sending to the port lately. Every
 * source has a shadow bucket per destination whose costs are scaled by
 * (weights / its weight); it is charged for every frame the source gets
 * through, and while the port is congested a frame passes only if the
 * shadow bucket has room too. Uncongested, anyone may take the idle
 * capacity (work conserving). "Lately" is counted in epochs as long as
 * the burst: the weights of the sources seen in the last complete epoch,
 * or in the current one if more. O(1) per frame; under the bucket lock. */
struct qos_share {
	uint32_t epoch;
	uint32_t wsum_cur, wsum_next;
	uint64_t epoch_end;
	struct {
		uint64_t tat;
		uint32_t epoch;
	} src[256];
};

enum qos_verdict { QOS_PASS, QOS_OVER_LIMIT, QOS_OVER_SHARE };

/* Like qos_take, for a frame from source src (< 256) with weight w, with
 * the fair share above applied through sh. */
static inline enum qos_verdict qos_take_shared(const struct qos_prof *pf, struct qos_batch *bt,
                                               struct qos_share *sh, unsigned src, unsigned w,
                                               uint32_t len)
{
	/* The primary bucket: bytes if limited, else packets. */
	const struct qos_bucket *pb = pf->has_b ? &pf->b : &pf->p;
	uint64_t before = pf->has_b ? bt->b : bt->p, now = bt->now;
	uint64_t cost = pb->per_pkt + (pf->has_b ? pb->per_byte * len : 0);
	bool congested = qos_diff(before, now) > (int64_t)(pb->depth / 2);
	uint64_t wsum, ts;

	uint64_t elen = MAX(pb->depth, qos_time(1000000)); /* epochs: >= 1 ms */
	struct qos_batch next = *bt;
	int64_t ahead;

	/* Stored times are never legitimately more than an epoch (or a
	 * burst) ahead of the clock: anything else is from before a long
	 * idle time, where the clock may have wrapped. */
	if (qos_diff(now, sh->epoch_end) >= 0 || qos_diff(sh->epoch_end, now) > (int64_t)elen) {
		sh->wsum_cur = sh->wsum_next;
		sh->wsum_next = 0;
		sh->epoch++;
		sh->epoch_end = now + elen;
	}
	if (sh->src[src].epoch != sh->epoch) {
		sh->src[src].epoch = sh->epoch;
		sh->wsum_next += w;
	}
	wsum = MAX(MAX(sh->wsum_cur, sh->wsum_next), w);
	ahead = qos_diff(sh->src[src].tat, now);
	ts = ahead > 0 && ahead <= (int64_t)pb->depth ? sh->src[src].tat : now;
	ts += (uint64_t)((unsigned __int128)cost * wsum / w);
	if (!qos_take(pf, &next, len))
		return QOS_OVER_LIMIT;
	if (congested && qos_diff(ts, now) > (int64_t)pb->depth)
		return QOS_OVER_SHARE;
	*bt = next;
	/* What a source took beyond its share while there was room is
	 * forgotten beyond one burst, so it is not starved later for it. */
	sh->src[src].tat = qos_diff(ts, now) > (int64_t)pb->depth ? now + pb->depth : ts;
	return QOS_PASS;
}

/* Ends a batch: stores the buckets' new times (the caller holds the lock). */
static inline void qos_end(struct qos_state *s, const struct qos_batch *bt)
{
	atomic_store_explicit(&s->tat_b, bt->b, memory_order_relaxed);
	atomic_store_explicit(&s->tat_p, bt->p, memory_order_relaxed);
}

/* After a refusal of a frame of len bytes: the qos time at which the
 * buckets will have refilled by their `refill` amount, or by what that
 * frame costs if more (a 64 KiB segmentation-offload frame costs far more
 * than a refill), so that waking then admits at least it. A frame dearer
 * than the whole burst passes on a full bucket: then when it is full. */
static inline uint64_t qos_ready(const struct qos_prof *pf, const struct qos_batch *bt,
                                 uint32_t len)
{
	uint64_t t = bt->now;

	if (pf->has_b) {
		uint64_t need = MIN(MAX(pf->b.refill, pf->b.per_pkt + pf->b.per_byte * len),
		                    pf->b.depth);
		uint64_t r = bt->b - pf->b.depth + need;
		if (qos_diff(r, t) > 0)
			t = r;
	}
	if (pf->has_p) {
		uint64_t need = MIN(MAX(pf->p.refill, pf->p.per_pkt), pf->p.depth);
		uint64_t r = bt->p - pf->p.depth + need;
		if (qos_diff(r, t) > 0)
			t = r;
	}
	return t;
}

/* Control thread, periodically: an idle bucket's time is moved up to now
 * so that stored times never drift far from the clock (see the top). */
void qos_refresh(struct qos_state *s, uint64_t now);

/* ---- fair share of a congested receive ring ----
 *
 * Every rx ring of a port keeps a log of which source port each used entry
 * it received came from, and per source the number of entries the guest
 * has not yet given back (it reposts buffers after reading them, in order:
 * the used ring is a FIFO). When the ring is congested (more than a
 * quarter of it held), a source may add a frame only while it holds less
 * than its share of the ring: capacity x its weight / the weights of the
 * sources holding entries. With a FIFO drain, equal occupancy means equal
 * throughput, so the senders to a slow receiver get equal (or weighted)
 * shares of it, in O(1) per frame and without queues. A receiver that stops
 * reading fills its ring and its frames are dropped as no_room: it slows
 * nobody else. */
enum {
	QOS_FAIR_LOG = 32768,      /* the largest virtio ring */
	QOS_FAIR_SOURCES = 256,    /* source port ids are < this */
};

struct qos_fair {
	uint16_t tail;             /* oldest log entry still held by the guest */
	uint16_t used_seen;        /* the ring's used index after our last burst */
	uint16_t cap;              /* largest number of free buffers seen */
	uint32_t wsum;             /* weights of the sources holding entries */
	uint16_t cnt[QOS_FAIR_SOURCES];
	uint8_t wt[QOS_FAIR_SOURCES]; /* the weight each was counted with */
	uint8_t log[QOS_FAIR_LOG];
};

/* Resets the state for a ring whose used index is used_idx. */
void qos_fair_reset(struct qos_fair *f, uint16_t used_idx);

/* Called under the ring's lock before a burst is written into it: free is
 * the number of buffers the guest has made available and not yet used,
 * used_idx the ring's used index. Retires the entries the guest has given
 * back since the last call. */
static inline void qos_fair_sync(struct qos_fair *f, uint16_t used_idx, uint16_t free)
{
	uint16_t held, t;

	if (unlikely(used_idx != f->used_seen))
		qos_fair_reset(f, used_idx); /* the ring was restarted */
	if (free > f->cap)
		f->cap = free;
	/* Buffers not free are held by the guest; they are the newest ones. */
	held = (uint16_t)(f->cap - free);
	t = (uint16_t)(used_idx - held);
	if ((int16_t)(t - f->tail) <= 0 || (uint16_t)(used_idx - f->tail) > QOS_FAIR_LOG)
		return;
	while (f->tail != t) {
		unsigned s = f->log[f->tail & (QOS_FAIR_LOG - 1)];
		if (f->cnt[s] && --f->cnt[s] == 0)
			f->wsum -= f->wt[s];
		f->tail++;
	}
}

/* Whether source src (weight w) may add one more entry now. */
static inline bool qos_fair_admit(const struct qos_fair *f, unsigned src, unsigned w,
                                  uint16_t free)
{
	uint64_t wsum = f->wsum + (f->cnt[src] ? 0 : w);

	/* A full ring: not a matter of shares (the frame finds no room).
	 * Less than a quarter of the ring held: not congested, anyone in.
	 * (Guests give buffers back in batches, so "held" overstates what
	 * they still have to read; enforcing shares on a ring that is
	 * mostly free would leave it underused.) */
	if (free == 0 || (unsigned)free * 4u > (unsigned)f->cap * 3u)
		return true;
	/* cnt / cap < w / wsum */
	return (uint64_t)f->cnt[src] * wsum < (uint64_t)f->cap * (f->cnt[src] ? f->wt[src] : w);
}

/* Records n entries written for source src (weight w). */
static inline void qos_fair_add(struct qos_fair *f, unsigned src, unsigned w, uint16_t used_idx,
                                unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		f->log[(uint16_t)(used_idx + k) & (QOS_FAIR_LOG - 1)] = (uint8_t)src;
	if (f->cnt[src] == 0) {
		f->wt[src] = (uint8_t)w;
		f->wsum += w;
	}
	f->cnt[src] = (uint16_t)(f->cnt[src] + n);
}

/* After the burst: the ring's used index as we left it. */
static inline void qos_fair_done(struct qos_fair *f, uint16_t used_idx)
{
	f->used_seen = used_idx;
}

#endif
