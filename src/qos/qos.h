/* qos.h - per-port rate limits (token buckets) and the max-min fair share
 * of a congested port (deficit round robin without queues, below).
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
	/* Fair share of the egress limit: bounds of the quantum per weight
	 * unit, in the primary bucket's units (bytes if limited, else
	 * packets): QOS_UNIT_BYTES / QOS_UNIT_PKTS at most, 1/128 of that at
	 * least. */
	int64_t unit_min, unit_max;
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

/* ---- fair share of a congested port: deficit round robin without queues ----
 *
 * Several senders into one port that cannot take all they offer (a port
 * with an egress limit, or a guest that reads its ring slowly) share it
 * max-min fairly, by weight: each gets min(what it offers, its weighted
 * share of what the others leave), and the port's capacity is used. vifd
 * keeps no queues: a frame is taken or not when its burst (up to 32 frames
 * from one sender) reaches the port. This is Shreedhar and Varghese's
 * deficit round robin with the queues taken out:
 *
 *  - The port serves in rounds. In a round a sender may use `unit` x its
 *    weight (cost units: time of the egress bucket, or ring buffers); its
 *    last frame may overrun that, and the overrun is paid from its next
 *    round (DRR's deficit counter: nothing is forgiven).
 *  - A sender that ran out of credit is refused until the next round. A
 *    round ends when a sender that ran out comes back while the port has
 *    at least half of its capacity idle (tokens in the bucket, free
 *    buffers in the ring): until then the capacity is being used by the
 *    senders that still have credit, and once it is not, waiting would
 *    waste it (work conservation). A heavy sender that comes more often,
 *    or first after every refill, only spends its quantum sooner.
 *  - A sender that did not run out in a round (a light one) does not keep
 *    its unused credit (DRR resets an emptied queue's deficit): nobody
 *    saves up. One that ran out, or found no room while it had credit (a
 *    backlogged queue), keeps what it had and is owed the rounds it missed
 *    (its bursts may be rarer than rounds), up to QOS_OWED_ROUNDS quanta or
 *    its weight's part of a quarter of the headroom: without a queue to wait
 *    in, it must be able to take its due when its burst comes.
 *  - Rounds are paced by the capacity: each starts with the port at least
 *    half idle and hands out at most a quarter of the port's headroom (the
 *    quantum per weight unit is the bucket's depth or the ring's size / 4 /
 *    the weights of recent rounds' senders), so whatever the backlogged
 *    senders take at the start of a round, a light sender still finds the
 *    capacity it asks for when its burst comes.
 *  - One sender alone is never refused for its share (a round ends each
 *    time it runs out): sharing applies while another sender has used the
 *    port within the last QOS_CONTEND_NS.
 *
 * Why it is max-min for any mix of offered loads: in a round of length T,
 * a backlogged sender i is given q w_i and a light sender j takes its
 * offer d_j T. The round ends when the capacity C has given back what the
 * round took, C T = sum_i q w_i + sum_j d_j T, so the backlogged senders
 * share C - sum_j d_j in proportion to their weights and the light ones
 * get all they offer: the max-min allocation. How often or in which order
 * bursts arrive does not enter; over any window a backlogged sender is
 * within a quantum (plus a frame) of its due.
 *
 * O(1) per frame: a frame touches its sender's entry and the round; a round
 * ends with a few stores and one division. The state of a port is shared by
 * the workers delivering to it, under the port's per-burst lock (the egress
 * bucket's lock, or the rx ring's lock). */
enum {
	QOS_SOURCES = 256,          /* source port ids are < this */
	QOS_UNIT_BYTES = 32768,     /* largest quantum per weight unit: byte limits, */
	QOS_UNIT_PKTS = 32,         /* ... packet limits and rx rings (buffers) */
	QOS_HOLD_MIN_NS = 10000,    /* a sender told to wait waits at least this */
	QOS_HOLD_MAX_NS = 2000000,  /* ... and at most this */
	QOS_CONTEND_NS = 1000000000, /* another sender within this: the port is shared */
	QOS_WAIT_NS = 5000000,      /* a round waits this long at most for a sender that
	                             * ran out in the last one (held, or its worker kept
	                             * from a CPU) */
	QOS_NOBODY = 0xffff,        /* no sender (struct qos_drr last, prev) */
	QOS_OWED_ROUNDS = 3,        /* a backlogged sender is owed this many missed rounds at least */
};

/* One sender's state at one port (written under the port's lock). */
struct qos_drr_src {
	int64_t credit;             /* left in the round it last joined; <= 0: ran out */
	uint64_t v;                 /* that round (struct qos_drr v then; 0: never) */
	bool out;                   /* it ran out in that round (or found no room:
	                             * backlogged either way) */
	bool light;                 /* it had not run out in the round before: it may
	                             * borrow its next quantum (credit > -quantum) */
};

/* The round state of one congested port or ring: zeroed memory (or
 * qos_drr_reset) is a fresh state. All fields are written under the port's
 * lock. Times are qos times. */
struct qos_drr {
	uint64_t v;                 /* the current round, as the sum of the units of
	                             * all rounds so far (per weight unit): what a
	                             * backlogged sender is owed since round v' is
	                             * (v - v') x its weight */
	int64_t unit;               /* this round's quantum per weight unit (cost) */
	uint32_t active, wsum;      /* senders of this round and their weights */
	uint64_t v_prev;            /* the last round (its v) */
	uint32_t nout;              /* senders that ran out in this round */
	uint32_t waiting;           /* senders that ran out in the last round and
	                             * have not joined this one yet */
	uint64_t t0;                /* when this round began */
	uint32_t wref;              /* the weights of recent rounds' senders, x 16: the
	                             * largest, decaying by 1/8 a round (a round short
	                             * of senders, after a stall, does not inflate
	                             * the next one's quanta) */
	uint16_t last, prev;        /* the last two distinct senders to join a round
	                             * (QOS_NOBODY: none yet) */
	uint64_t last_t, prev_t;    /* ... and when they last did */
	int64_t room;               /* the port's headroom (bucket depth, ring size) */
	int64_t unit_min, unit_max; /* bounds of unit (set with room, per burst) */
	struct qos_drr_src src[QOS_SOURCES] cache_aligned;
};

/* Starts the rounds afresh. */
void qos_drr_reset(struct qos_drr *d);

/* Per burst, before the first qos_drr_may(): the port's headroom and the
 * bounds of the quantum per weight unit, in cost units. */
static inline void qos_drr_setup(struct qos_drr *d, int64_t room, int64_t unit_min,
                                 int64_t unit_max)
{
	d->room = room;
	d->unit_min = unit_min;
	d->unit_max = unit_max;
	if (d->unit < unit_min || d->unit > unit_max)
		d->unit = unit_max;
	if (unlikely(d->v == 0)) {
		/* zeroed memory: a fresh state (v 0 means "never" in entries) */
		d->v = (uint64_t)d->unit;
		d->last = d->prev = QOS_NOBODY;
	}
}

/* Ends the current round at time now and opens the next. (Internal.) */
static inline void qos_drr_advance(struct qos_drr *d, uint64_t now)
{
	int64_t u;

	d->wref = MAX(d->wsum << 4, d->wref - (d->wref >> 3));
	u = (int64_t)((unsigned __int128)d->room * 16 / (4 * (uint64_t)MAX(d->wref, 16u)));

	d->unit = MIN(MAX(u, d->unit_min), d->unit_max);
	d->v_prev = d->v;
	d->v += (uint64_t)d->unit;
	d->waiting = d->nout;
	d->nout = 0;
	if (unlikely(d->v == 0))
		d->v = 1;
	d->active = 0;
	d->wsum = 0;
	d->t0 = now;
}

/* Sender src (entry s, weight w) takes part in the current round. (Internal.) */
static inline void qos_drr_join(struct qos_drr *d, unsigned src, struct qos_drr_src *s,
                                unsigned w, uint64_t now)
{
	int64_t q = d->unit * (int64_t)w, cap;
	uint64_t dv = d->v - s->v;

	if (dv == 0)
		return;
	if (s->v == d->v_prev && s->out && d->waiting)
		d->waiting--;
	if (s->v && s->out && dv <= (uint64_t)INT64_MAX) {
		/* Backlogged when last seen: it pays what it overran, and is
		 * owed every round since, up to QOS_OWED_ROUNDS quanta or its
		 * weight's part of a quarter of the headroom (without a queue
		 * to wait in, a sender whose bursts are rarer than rounds takes
		 * its due when its burst comes). */
		unsigned __int128 owed = (unsigned __int128)dv * w;

		cap = (int64_t)((unsigned __int128)(d->room / 4) * w * 16 / MAX(d->wref, 16 * w));
		cap = MAX(cap, QOS_OWED_ROUNDS * q);
		s->credit = MIN(s->credit + (int64_t)MIN(owed, (unsigned __int128)cap), cap);
		s->light = false;
	} else {
		s->credit = q;
		s->light = true;
	}
	s->v = d->v;
	s->out = false;
	d->active++;
	d->wsum += w;
	if (src != d->last) {
		d->prev = d->last;
		d->prev_t = d->last_t;
		d->last = (uint16_t)src;
	}
	d->last_t = now;
}

/* Sender s has run out of credit in the current round. (Internal.) */
static inline void qos_drr_out(struct qos_drr *d, struct qos_drr_src *s)
{
	if (!s->out) {
		s->out = true;
		d->nout++;
	}
}

/* Whether another sender than src has used the port lately: then it is
 * shared (rounds are paced, a frame that finds no capacity may wait its
 * turn in its sender's ring: see dp_worker.c). */
static inline bool qos_drr_contended(const struct qos_drr *d, unsigned src, uint64_t now)
{
	uint64_t h = qos_time(QOS_CONTEND_NS);

	return (d->last != src && d->last != QOS_NOBODY && (uint64_t)qos_diff(now, d->last_t) < h) ||
	       (d->prev != src && d->prev != QOS_NOBODY && (uint64_t)qos_diff(now, d->prev_t) < h);
}

/* Whether sender src, out of credit, may end the round at time now, with
 * idle4 quarters of the port's capacity idle: it is alone, or at least half
 * of the capacity is idle and every sender that ran out in the last round
 * has had its turn in this one (DRR visits each backlogged queue every
 * round). One that has not come back within QOS_WAIT_NS of the round's
 * start (no sender is held that long, but its worker may wait for a CPU)
 * has left, and is not waited for. Once
 * three quarters are idle (the capacity would soon be lost) nobody is
 * waited for, but a round lasts at least until the clock moves: a worker
 * reads it once per loop iteration, so the senders it polls in an
 * iteration share each round by weight. After a stall, when the capacity
 * stored meanwhile is idle for everyone, this hands it out round by round,
 * by weight, rather than to whoever is polled first. (Internal.) */
static inline bool qos_drr_may_end(const struct qos_drr *d, unsigned src, unsigned idle4,
                                   uint64_t now)
{
	if (!qos_drr_contended(d, src, now))
		return true;
	if (idle4 < 2)
		return false;
	return d->waiting == 0 || qos_diff(now, d->t0) >= (int64_t)qos_time(QOS_WAIT_NS) ||
	       (idle4 >= 3 && now != d->t0);
}

/* Whether sender src (weight w, 1..) may send a frame now, with idle4
 * quarters of the port's capacity idle (0..4). When it returns true, the
 * caller either charges the frame (qos_drr_charge) or, if the port had no
 * room for it after all, says so (qos_drr_blocked). */
static inline bool qos_drr_may(struct qos_drr *d, unsigned src, unsigned w, unsigned idle4,
                               uint64_t now)
{
	struct qos_drr_src *s = &d->src[src];

	/* At most a few rounds: one unless a frame overran a whole quantum. */
	for (unsigned k = 0; k < 4; k++) {
		qos_drr_join(d, src, s, w, now);
		/* A light sender may borrow its next quantum: its burst can be
		 * larger than a quantum, and it pays in its next round. */
		if (s->credit > (s->light ? -d->unit * (int64_t)w : 0))
			return true;
		qos_drr_out(d, s);
		if (!qos_drr_may_end(d, src, idle4, now))
			return false;
		qos_drr_advance(d, now);
	}
	return false;
}

/* Sender src had credit (qos_drr_may said yes) but the port had no room
 * for its frame: it is backlogged, and keeps its credit into its next
 * round (DRR: a queue that still holds packets keeps its deficit). */
static inline void qos_drr_blocked(struct qos_drr *d, unsigned src)
{
	qos_drr_out(d, &d->src[src]);
}

/* Charges a frame of sender src (qos_drr_may said yes) that cost cost. */
static inline void qos_drr_charge(struct qos_drr *d, unsigned src, int64_t cost)
{
	struct qos_drr_src *s = &d->src[src];

	s->credit -= cost;
	if (s->credit <= 0)
		qos_drr_out(d, s);
}

/* ---- the egress bucket's fair share ---- */

enum qos_verdict { QOS_PASS, QOS_OVER_LIMIT, QOS_OVER_SHARE };

/* Per burst, before qos_take_fair(): the port's rounds measured in its
 * primary bucket (bytes if limited, else packets). */
static inline void qos_fair_bucket_setup(const struct qos_prof *pf, struct qos_drr *d)
{
	const struct qos_bucket *pb = pf->has_b ? &pf->b : &pf->p;

	qos_drr_setup(d, (int64_t)pb->depth, pf->unit_min, pf->unit_max);
}

/* Like qos_take, for a frame of len bytes from source src (< QOS_SOURCES)
 * with weight w, under the port's rounds d: QOS_OVER_SHARE if the sender
 * has used its quantum of the round while the port is congested (less
 * than half of its primary bucket left), QOS_OVER_LIMIT if the buckets
 * have no room, else QOS_PASS (charged to both). */
static inline enum qos_verdict qos_take_fair(const struct qos_prof *pf, struct qos_batch *bt,
                                             struct qos_drr *d, unsigned src, unsigned w,
                                             uint32_t len)
{
	const struct qos_bucket *pb = pf->has_b ? &pf->b : &pf->p;
	int64_t used = qos_diff(pf->has_b ? bt->b : bt->p, bt->now); /* of the burst */
	uint64_t q = pb->depth / 4, u = used > 0 ? (uint64_t)used : 0;
	unsigned idle4 = used <= 0 ? 4 : u < q ? 3 : u < 2 * q ? 2 : u < 3 * q ? 1 : 0;
	uint64_t cost = pb->per_pkt + (pf->has_b ? pb->per_byte * len : 0);

	if (!qos_drr_may(d, src, w, idle4, bt->now))
		return QOS_OVER_SHARE;
	if (!qos_take(pf, bt, len)) {
		qos_drr_blocked(d, src);
		return QOS_OVER_LIMIT;
	}
	qos_drr_charge(d, src, (int64_t)cost);
	return QOS_PASS;
}

/* When a sender refused by the egress bucket should look again: over its
 * share, when the bucket will be half full again (then a new round may
 * begin; at once if it is already); over the limit, when the bucket has
 * refilled a useful amount. Within [now + QOS_HOLD_MIN_NS, now +
 * min(QOS_HOLD_MAX_NS, a quarter of the burst)]. */
static inline uint64_t qos_fair_bucket_ready(const struct qos_prof *pf, const struct qos_batch *bt,
                                             bool share)
{
	const struct qos_bucket *pb = pf->has_b ? &pf->b : &pf->p;
	uint64_t level = pf->has_b ? bt->b : bt->p;
	uint64_t lo = qos_time(QOS_HOLD_MIN_NS);
	uint64_t hi = MAX(MIN(qos_time(QOS_HOLD_MAX_NS), pb->depth / 4), lo);
	uint64_t t = share ? level - pb->depth / 2 : qos_ready(pf, bt, 0);

	if (qos_diff(t, bt->now + lo) < 0)
		t = bt->now + lo;
	if (qos_diff(t, bt->now + hi) > 0)
		t = bt->now + hi;
	return t;
}

/* ---- fair share of a congested receive ring ----
 *
 * The capacity of a guest that reads slowly is the buffers it gives back.
 * Each rx ring runs its own rounds (above) in units of buffers: a frame
 * costs the buffers it fills. The ring is congested when fewer than half
 * of its buffers are free. A guest that stops reading fills its ring; the
 * frames for it find no room (no_room): it slows nobody else. */
struct qos_fair {
	uint16_t used_seen;        /* the ring's used index after our last burst */
	uint16_t cap;              /* largest number of free buffers seen */
	uint16_t free_left;        /* free buffers after our last burst */
	uint32_t back;             /* buffers the guest gave back since back_t */
	uint64_t back_t, last_t;   /* when that count began; our last burst */
	uint64_t per_buf;          /* smoothed time the guest takes to give a
	                            * buffer back (qos time; 0: not known yet) */
	struct qos_drr drr;
};

/* Resets the state for a ring whose used index is used_idx. */
void qos_fair_reset(struct qos_fair *f, uint16_t used_idx, uint64_t now);

/* Called under the ring's lock before a burst is written into it: free is
 * the number of buffers the guest has made available and not yet used,
 * used_idx the ring's used index. */
static inline void qos_fair_sync(struct qos_fair *f, uint16_t used_idx, uint16_t free,
                                 uint64_t now)
{
	if (unlikely(used_idx != f->used_seen))
		qos_fair_reset(f, used_idx, now); /* the ring was restarted */
	if (free > f->cap)
		f->cap = free;
	qos_drr_setup(&f->drr, f->cap, 1, QOS_UNIT_PKTS);
	/* The guest's pace: buffers given back over at least 32 of them or
	 * 10 ms (guests give back in batches), smoothed over 8 samples. */
	if (free > f->free_left)
		f->back += (uint32_t)(free - f->free_left);
	if (f->back >= 32 || (f->back && qos_diff(now, f->back_t) >= (int64_t)qos_time(10000000))) {
		uint64_t per = (uint64_t)qos_diff(now, f->back_t) / f->back;
		f->per_buf = f->per_buf ? f->per_buf - f->per_buf / 8 + per / 8 : per;
		f->back = 0;
		f->back_t = now;
	} else if (!f->back) {
		f->back_t = now;
	}
	f->last_t = now;
}

/* Whether source src (weight w) may add a frame now (free buffers left). */
static inline bool qos_fair_admit(struct qos_fair *f, unsigned src, unsigned w, uint16_t free,
                                  uint64_t now)
{
	unsigned x = free * 4u, c = f->cap;
	unsigned idle4 = x >= 4 * c ? (c ? 4 : 0) : x >= 3 * c ? 3 : x >= 2 * c ? 2 : x >= c ? 1 : 0;

	return qos_drr_may(&f->drr, src, w, idle4, now);
}

/* Source src may add a frame (qos_fair_admit) but the ring has no room. */
static inline void qos_fair_blocked(struct qos_fair *f, unsigned src)
{
	qos_drr_blocked(&f->drr, src);
}

/* Records a frame of source src that took n buffers. */
static inline void qos_fair_add(struct qos_fair *f, unsigned src, unsigned n)
{
	qos_drr_charge(&f->drr, src, (int64_t)n);
}

/* After the burst: the ring's used index and its free buffers as we left
 * them. */
static inline void qos_fair_done(struct qos_fair *f, uint16_t used_idx, uint16_t free)
{
	f->used_seen = used_idx;
	f->free_left = free;
}

/* When a sender refused at the ring should look again (free: the buffers
 * left free after the burst): over its share, when the guest will have
 * given back enough for half of the ring to be free (then a new round may
 * begin); without room, when it will have given back an eighth of the
 * ring. Within [now + QOS_HOLD_MIN_NS, now + QOS_HOLD_MAX_NS]. */
static inline uint64_t qos_fair_ready(const struct qos_fair *f, uint16_t free, uint64_t now,
                                      bool share)
{
	uint64_t lo = qos_time(QOS_HOLD_MIN_NS), hi = qos_time(QOS_HOLD_MAX_NS);
	unsigned need = share ? (free * 2u < f->cap ? f->cap / 2u - free : 0u) : MAX(f->cap / 8u, 1u);
	uint64_t w = (uint64_t)need * f->per_buf;

	return now + MIN(MAX(w, lo), hi);
}

#endif
