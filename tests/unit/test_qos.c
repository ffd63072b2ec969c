/* test_qos.c - token buckets, tc unit parsing and the fair share (deficit
 * round robin without queues) of src/qos, on a simulated clock. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "qos.h"

static const uint64_t NS = 1000000000ull;

static void test_parse(void)
{
	uint64_t v;

	CHECK(qos_parse_rate("100mbit", &v) == 0 && v == 100000000ull);
	CHECK(qos_parse_rate("1gbit", &v) == 0 && v == 1000000000ull);
	CHECK(qos_parse_rate("1Gbit", &v) == 0 && v == 1000000000ull);
	CHECK(qos_parse_rate("10mbps", &v) == 0 && v == 80000000ull);
	CHECK(qos_parse_rate("2.5gbit", &v) == 0 && v == 2500000000ull);
	CHECK(qos_parse_rate("1mibit", &v) == 0 && v == 1048576ull);
	CHECK(qos_parse_rate("64000", &v) == 0 && v == 64000ull);
	CHECK(qos_parse_rate("0", &v) == 0 && v == 0);
	CHECK(qos_parse_size("64k", &v) == 0 && v == 65536ull);
	CHECK(qos_parse_size("1m", &v) == 0 && v == 1048576ull);
	CHECK(qos_parse_size("1mb", &v) == 0 && v == 1048576ull);
	CHECK(qos_parse_size("1500", &v) == 0 && v == 1500ull);
	CHECK(qos_parse_size("500kbit", &v) == 0 && v == 62500ull);
	CHECK(qos_parse_count("20000", &v) == 0 && v == 20000ull);
	CHECK(qos_parse_count("20k", &v) == 0 && v == 20000ull);
	static const char *const bad[] = { "", "-1", "mbit", "10xbit", "1e400", "nan", "inf",
	                                   " 10mbit", "10 mbit", "0x10", "1e30tbit" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECKF(qos_parse_rate(bad[i], &v) == -EINVAL, "rate \"%s\" accepted", bad[i]);
		CHECKF(qos_parse_size(bad[i], &v) == -EINVAL, "size \"%s\" accepted", bad[i]);
	}
	CHECK(qos_parse_count("5mbit", &v) == -EINVAL);
	CHECK(qos_parse_rate(NULL, &v) == -EINVAL);
}

static void test_build(void)
{
	struct qos_prof p;
	char err[128];

	CHECK(qos_prof_build(&(struct qos_limit){ 0 }, 0, &p, err, sizeof(err)) == 0 && !p.on);
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = 100000000 }, 0, &p, err, sizeof(err)) == 0);
	CHECK(p.on && p.has_b && !p.has_p);
	/* 100 Mbit/s = 80 ns per byte. */
	CHECK(p.b.per_byte == 80ull << QOS_SHIFT && p.b.per_pkt == 0);
	/* Default burst: 20 ms of 100 Mbit/s = 250000 bytes. */
	CHECK(p.b.depth == 250000ull * (80ull << QOS_SHIFT));
	CHECK(qos_default_burst(1000000) == QOS_MIN_BURST_BYTES);
	CHECK(qos_default_pburst(100) == QOS_MIN_PBURST);
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = 100000000 }, 24, &p, err, sizeof(err)) == 0);
	CHECK(p.b.per_pkt == 24 * p.b.per_byte);
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = 7999 }, 0, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "rate") != NULL);
	CHECK(qos_prof_build(&(struct qos_limit){ .burst = 1000 }, 0, &p, err, sizeof(err)) == -EINVAL);
	CHECK(qos_prof_build(&(struct qos_limit){ .pburst = 10 }, 0, &p, err, sizeof(err)) == -EINVAL);
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = 8000, .burst = 1ull << 30 }, 0, &p, err,
	                     sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "burst") != NULL);
	CHECK(qos_prof_build(&(struct qos_limit){ .pps = QOS_MAX_PPS + 1 }, 0, &p, err,
	                     sizeof(err)) == -EINVAL);
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = 1000000 }, 300, &p, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = QOS_MAX_BPS, .pps = QOS_MAX_PPS }, 0, &p,
	                     err, sizeof(err)) == 0 && p.has_b && p.has_p);
}

/* A greedy sender offers frames of len bytes in bursts of 32 every step_ns
 * of simulated time for secs seconds, starting at clock t0 (ns). Returns
 * the bytes (or frames, if frames) admitted after the first second (the
 * initial burst is spent by then), per second. */
static double greedy(const struct qos_limit *l, uint32_t overhead, uint32_t len, uint64_t step_ns,
                     double secs, uint64_t t0, bool frames)
{
	struct qos_prof p;
	struct qos_state st;
	char err[128];
	uint64_t admitted = 0, end = t0 + (uint64_t)(secs * (double)NS), start = t0 + NS;

	memset(&st, 0, sizeof(st));
	if (qos_prof_build(l, overhead, &p, err, sizeof(err)) < 0)
		return -1;
	atomic_store(&st.tat_b, qos_time(t0));
	atomic_store(&st.tat_p, qos_time(t0));
	for (uint64_t t = t0; t < end; t += step_ns) {
		struct qos_batch bt;

		qos_begin(&p, &st, qos_time(t), &bt);
		for (int i = 0; i < 32 && qos_take(&p, &bt, len); i++)
			if (t - t0 >= start - t0)
				admitted += frames ? 1 : len;
		qos_end(&st, &bt);
	}
	return (double)admitted / (secs - 1);
}

static void test_accuracy(void)
{
	static const uint64_t rates[] = { 10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
	                                  100000000000ull, 400000000000ull };
	static const uint32_t lens[] = { 64, 1518, 9000 };

	for (size_t r = 0; r < ARRAY_SIZE(rates); r++) {
		for (size_t k = 0; k < ARRAY_SIZE(lens); k++) {
			/* Poll often enough that 32-frame bursts can keep up. */
			double fps = (double)rates[r] / 8 / lens[k];
			/* ... and, on a real worker too, more often than the
			 * bucket (64 KiB here at least) fills. */
			uint64_t step = (uint64_t)MAX(1.0, MIN(1e9 / fps * 16,
			                                       65536 * 8e9 / (double)rates[r] / 4));
			/* At least 20000 frames measured (the window's edges are
			 * worth a poll's tokens), at least 2 s at low rates. */
			double secs = fps > 1e7 ? 1.5 : MIN(200.0, MAX(3.0, 2e4 / fps + 1));
			double got = greedy(&(struct qos_limit){ .bps = rates[r] }, 0, lens[k], step,
			                    secs, 1000, false) * 8;
			CHECKF(fabs(got / (double)rates[r] - 1) < 0.001,
			       "rate %llu len %u: %.0f bit/s", (unsigned long long)rates[r], lens[k], got);
		}
	}
	/* pps limits, with and without a byte limit that does not bind. */
	double got = greedy(&(struct qos_limit){ .pps = 20000 }, 0, 64, 100000, 3, 5, true);
	CHECKF(fabs(got / 20000 - 1) < 0.001, "pps: %.1f", got);
	got = greedy(&(struct qos_limit){ .pps = 20000, .bps = 1000000000 }, 0, 64, 100000, 3, 5, true);
	CHECKF(fabs(got / 20000 - 1) < 0.001, "pps with bps: %.1f", got);
	/* Overhead: 64-byte frames + 24 bytes at 100 Mbit/s. */
	got = greedy(&(struct qos_limit){ .bps = 100000000 }, 24, 64, 20000, 3, 5, true);
	CHECKF(fabs(got / (100000000.0 / 8 / 88) - 1) < 0.001, "overhead: %.1f fps", got);
	/* Across the clock's wrap (qos time wraps every 2^48 ns). */
	uint64_t wrap = (1ull << 48) - NS / 2;
	got = greedy(&(struct qos_limit){ .bps = 100000000 }, 0, 1518, 100000, 3, wrap, false) * 8;
	CHECKF(fabs(got / 100000000 - 1) < 0.001, "across the wrap: %.0f", got);
}

static void test_burst(void)
{
	struct qos_prof p;
	struct qos_state st;
	struct qos_batch bt;
	char err[128];
	unsigned n = 0;

	/* 1 Mbit/s, 10000-byte burst: a full bucket takes 10000 bytes at once. */
	memset(&st, 0, sizeof(st));
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = 1000000, .burst = 10000 }, 0, &p, err,
	                     sizeof(err)) == 0);
	qos_begin(&p, &st, qos_time(NS), &bt);
	while (qos_take(&p, &bt, 1000))
		n++;
	qos_end(&st, &bt);
	CHECKF(n == 10, "%u frames of 1000 bytes from a 10000-byte burst", n);
	/* 8 ms later, 1000 bytes have refilled: one frame. */
	qos_begin(&p, &st, qos_time(NS + 8000000), &bt);
	CHECK(qos_take(&p, &bt, 1000));
	CHECK(!qos_take(&p, &bt, 1000));
	/* qos_ready: a quarter of the burst (2500 bytes = 20 ms) past the refusal. */
	uint64_t r = qos_ready(&p, &bt, 1000);
	CHECKF(r >> QOS_SHIFT == NS + 8000000 + 20000000, "ready at %llu",
	       (unsigned long long)(r >> QOS_SHIFT));
	/* ... or what the refused frame costs when that is more (8000 bytes =
	 * 64 ms: it fits then, not after a quarter of the burst) ... */
	r = qos_ready(&p, &bt, 8000);
	CHECKF(r >> QOS_SHIFT == NS + 8000000 + 64000000, "ready at %llu for 8000 bytes",
	       (unsigned long long)(r >> QOS_SHIFT));
	/* ... and at most a full bucket (80 ms) for a frame dearer than the burst. */
	r = qos_ready(&p, &bt, 65000);
	CHECKF(r >> QOS_SHIFT == NS + 8000000 + 80000000, "ready at %llu for 65000 bytes",
	       (unsigned long long)(r >> QOS_SHIFT));
	qos_end(&st, &bt);
	/* A frame bigger than the burst passes on a full bucket, then debt. */
	memset(&st, 0, sizeof(st));
	qos_begin(&p, &st, qos_time(NS), &bt);
	CHECK(qos_take(&p, &bt, 20000));
	CHECK(!qos_take(&p, &bt, 64));
	qos_end(&st, &bt);
	qos_begin(&p, &st, qos_time(NS + 100000000), &bt); /* 12500 bytes later */
	CHECK(qos_take(&p, &bt, 64));
	/* qos_refresh moves an idle bucket's time up to now, nothing else. */
	atomic_store(&st.tat_b, 5);
	qos_refresh(&st, 100);
	CHECK(atomic_load(&st.tat_b) == 100);
	atomic_store(&st.tat_b, 500);
	qos_refresh(&st, 100);
	CHECK(atomic_load(&st.tat_b) == 500);
}

static double jain(const double *x, unsigned n)
{
	double s = 0, s2 = 0;

	for (unsigned i = 0; i < n; i++) {
		s += x[i];
		s2 += x[i] * x[i];
	}
	return s * s / (n * s2);
}

/* ---- the fair share, simulated ----
 *
 * Senders offer frames at their own rates to one congested port: a port
 * with an egress limit (SIM_BUCKET) or a guest that reads its ring at a
 * fixed rate (SIM_RING). What the port refuses is either lost (SIM_DROP:
 * what vifd does with frames it cannot leave in their sender's ring; each
 * sender arrives with bursts of `burst` frames) or waits in the sender's
 * ring (SIM_KEEP: a guest's tx ring of SIM_RING_SIZE filled at the offered
 * rate, polled by the worker every SIM_POLL_NS with bursts of up to 32,
 * and not before the time the port gave when it refused the ring's tail).
 * The port runs the datapath's own inline functions; time is injected. */
enum { SIM_BUCKET, SIM_RING };
enum { SIM_DROP, SIM_KEEP };
enum { SIM_MAX = 4, SIM_RING_SIZE = 256, SIM_POLL_NS = 4000 };

struct sim_src {
	unsigned w;          /* weight */
	double load;         /* offered, in fair shares of an equal split (see sim_run) */
	unsigned burst;      /* SIM_DROP: frames per arrival (0: 32) */
	uint32_t len;        /* frame bytes (0: the case's) */
	double stop_s;       /* stops offering at this time (0: never) */
};

struct sim_case {
	const char *name;
	int kind, mode;
	double cap;          /* SIM_BUCKET: bit/s; SIM_RING: frames/s the guest reads */
	uint32_t len;        /* frame bytes */
	unsigned n;
	struct sim_src s[SIM_MAX];
	double stall_ms;     /* SIM_KEEP: the worker stalls this long (a loaded
	                      * machine: it waits for a CPU) ... */
	double every_ms;     /* ... in every this long (0: never) */
};

struct sim_port {
	int kind;
	struct qos_prof pf;      /* SIM_BUCKET */
	struct qos_state st;
	struct qos_drr drr;
	struct qos_fair fair;    /* SIM_RING */
	double read_rate;        /* frames per ns the guest reads */
	double read_acc;
	uint64_t last_ns;
	unsigned held;           /* ring buffers holding unread frames */
	uint16_t used;
};

static uint64_t sim_rng = 0x9e3779b97f4a7c15ull;

static double sim_rand(void) /* [0, 1) */
{
	sim_rng ^= sim_rng << 13;
	sim_rng ^= sim_rng >> 7;
	sim_rng ^= sim_rng << 17;
	return (double)(sim_rng >> 11) / 9007199254740992.0;
}

/* Offers k frames of len bytes from source src (weight w) at time t (ns):
 * returns how many were taken (a prefix: once one is refused for its
 * share, the rest are too), and in *tail the refused frames at the end
 * that may wait in the sender's ring (with *ready, qos time), as deliver()
 * and settle() decide it. */
static unsigned sim_offer(struct sim_port *pt, unsigned src, unsigned w, uint32_t len, unsigned k,
                          uint64_t t, unsigned *tail, uint64_t *ready)
{
	/* (a worker reads its clock once per loop iteration) */
	uint64_t qt = qos_time(t - t % SIM_POLL_NS);
	bool wait[32];
	unsigned taken = 0;

	*tail = 0;
	*ready = 0;
	if (pt->kind == SIM_BUCKET) {
		struct qos_batch bt;
		bool share = false, limit = false;

		qos_begin(&pt->pf, &pt->st, qt, &bt);
		qos_fair_bucket_setup(&pt->pf, &pt->drr);
		for (unsigned i = 0; i < k; i++) {
			enum qos_verdict v = qos_take_fair(&pt->pf, &bt, &pt->drr, src, w, len);

			wait[i] = v == QOS_OVER_SHARE;
			share |= v == QOS_OVER_SHARE;
			if (v == QOS_OVER_LIMIT) {
				limit = true;
				wait[i] = qos_drr_contended(&pt->drr, src, qt);
			}
			taken += v == QOS_PASS;
		}
		if (share)
			*ready = qos_fair_bucket_ready(&pt->pf, &bt, true);
		if (limit && qos_drr_contended(&pt->drr, src, qt)) {
			uint64_t r = qos_fair_bucket_ready(&pt->pf, &bt, false);
			if (!*ready || qos_diff(r, *ready) > 0)
				*ready = r;
		}
		qos_end(&pt->st, &bt);
	} else {
		unsigned free;
		bool share = false, room = false;

		/* The guest reads (and gives back) at its rate. */
		pt->read_acc += (double)(t - pt->last_ns) * pt->read_rate;
		pt->last_ns = t;
		if (pt->read_acc >= 1) {
			unsigned r = (unsigned)MIN((double)pt->held, pt->read_acc);
			pt->held -= r;
			pt->read_acc = pt->held ? pt->read_acc - r : 0;
		}
		free = SIM_RING_SIZE - pt->held;
		qos_fair_sync(&pt->fair, pt->used, (uint16_t)free, qt);
		for (unsigned i = 0; i < k; i++) {
			wait[i] = false;
			if (!qos_fair_admit(&pt->fair, src, w, (uint16_t)free, qt)) {
				wait[i] = share = true;
			} else if (free == 0) {
				qos_fair_blocked(&pt->fair, src);
				room = true;
				wait[i] = qos_drr_contended(&pt->fair.drr, src, qt);
			} else {
				free--;
				pt->held++;
				pt->used++;
				qos_fair_add(&pt->fair, src, 1);
				taken++;
			}
		}
		if (share)
			*ready = qos_fair_ready(&pt->fair, (uint16_t)free, qt, true);
		if (room && qos_drr_contended(&pt->fair.drr, src, qt)) {
			uint64_t r = qos_fair_ready(&pt->fair, (uint16_t)free, qt, false);
			if (!*ready || qos_diff(r, *ready) > 0)
				*ready = r;
		}
		qos_fair_done(&pt->fair, pt->used, (uint16_t)free);
	}
	while (*tail < k && wait[k - 1 - *tail])
		(*tail)++;
	return taken;
}

/* Max-min allocation of capacity cap among demands d weighted by w. */
static void maxmin(const double *d, const unsigned *w, unsigned n, double cap, double *out)
{
	bool fixed[SIM_MAX] = { false };
	double left = cap;

	for (;;) {
		double ws = 0, a;
		bool changed = false;

		for (unsigned i = 0; i < n; i++)
			if (!fixed[i])
				ws += w[i];
		if (ws == 0)
			return;
		a = left / ws;
		for (unsigned i = 0; i < n; i++)
			if (!fixed[i] && d[i] <= a * w[i]) {
				out[i] = d[i];
				left -= d[i];
				fixed[i] = changed = true;
			}
		if (!changed) {
			for (unsigned i = 0; i < n; i++)
				if (!fixed[i])
					out[i] = a * w[i];
			return;
		}
	}
}

/* Runs case c for secs simulated seconds and measures, over [from_s,
 * secs), what each sender got (bytes/s for a bucket, frames/s for a ring)
 * into got; exp gets the max-min allocation of the offered loads. A
 * sender's load is in fair shares of an equal split: load 2 with two
 * senders offers the whole capacity. */
static void sim_run(const struct sim_case *c, double from_s, double secs, double *got, double *exp)
{
	static struct sim_port pt;
	double offer[SIM_MAX], dem[SIM_MAX], acc[SIM_MAX] = { 0 };
	uint64_t next[SIM_MAX], filled[SIM_MAX] = { 0 }, end = (uint64_t)(secs * 1e9);
	uint64_t from = (uint64_t)(from_s * 1e9);
	unsigned w[SIM_MAX], backlog[SIM_MAX] = { 0 };
	double fps_cap;
	char err[128];

	memset(&pt, 0, sizeof(pt));
	pt.kind = c->kind;
	if (c->kind == SIM_BUCKET) {
		CHECK(qos_prof_build(&(struct qos_limit){ .bps = (uint64_t)c->cap }, 0, &pt.pf, err,
		                     sizeof(err)) == 0);
		fps_cap = c->cap / 8 / c->len;
	} else {
		pt.read_rate = c->cap / 1e9;
		fps_cap = c->cap;
	}
	for (unsigned i = 0; i < c->n; i++) {
		uint32_t len = c->s[i].len ? c->s[i].len : c->len;

		w[i] = c->s[i].w;
		/* frames/s: a share of an equal split of the capacity in frames
		 * of the case's size (for a bucket, bytes are what is shared) */
		offer[i] = c->s[i].load * fps_cap / c->n * (c->kind == SIM_BUCKET ? (double)c->len / len : 1);
		dem[i] = c->kind == SIM_BUCKET ? offer[i] * len : offer[i];
		got[i] = 0;
		next[i] = (uint64_t)(sim_rand() * 1e6);
	}
	maxmin(dem, w, c->n, c->kind == SIM_BUCKET ? c->cap / 8 : c->cap, exp);
	for (;;) {
		unsigned i = 0, k, taken, tail = 0;
		uint64_t t, ready = 0;
		uint32_t len;
		bool on;

		for (unsigned j = 1; j < c->n; j++)
			if (next[j] < next[i])
				i = j;
		t = next[i];
		if (t >= end)
			break;
		len = c->s[i].len ? c->s[i].len : c->len;
		on = !c->s[i].stop_s || t < (uint64_t)(c->s[i].stop_s * 1e9);
		if (c->mode == SIM_DROP) {
			unsigned b = c->s[i].burst ? c->s[i].burst : 32;

			taken = on ? sim_offer(&pt, i, w[i], len, b, t, &tail, &ready) : 0;
			/* the next burst, with +-25% jitter */
			next[i] = t + (uint64_t)(b / offer[i] * 1e9 * (0.75 + 0.5 * sim_rand())) + 1;
		} else {
			/* The sender fills its ring at its rate (a full ring
			 * refuses); the worker takes up to 32 frames. */
			if (on)
				acc[i] += offer[i] * (double)(t - filled[i]) / 1e9;
			filled[i] = t;
			k = (unsigned)acc[i];
			acc[i] -= k;
			backlog[i] = MIN(backlog[i] + k, (unsigned)SIM_RING_SIZE);
			k = MIN(backlog[i], 32u);
			taken = k ? sim_offer(&pt, i, w[i], len, k, t, &tail, &ready) : 0;
			backlog[i] -= k - tail; /* the tail stays; other refusals are dropped */
			next[i] = t + SIM_POLL_NS;
			if (k && tail && (ready >> QOS_SHIFT) > next[i])
				next[i] = ready >> QOS_SHIFT;
			if (c->every_ms > 0) {
				/* A poll due while the worker stalls happens when it
				 * is back, the queues in a random order. */
				uint64_t every = (uint64_t)(c->every_ms * 1e6);
				uint64_t off = next[i] % every, stall = (uint64_t)(c->stall_ms * 1e6);
				if (off < stall)
					next[i] += stall - off + (uint64_t)(sim_rand() * SIM_POLL_NS);
			}
		}
		if (t >= from)
			got[i] += (double)taken * (c->kind == SIM_BUCKET ? len : 1);
	}
	for (unsigned i = 0; i < c->n; i++)
		got[i] /= secs - from_s;
}

static void test_fair_sim(void)
{
	static const struct sim_case cases[] = {
		/* Two senders both above their share, offering 1:1, 10:1, 100:1. */
		{ "bucket drop 1:1", SIM_BUCKET, SIM_DROP, 200e6, 1518, 2, { { 1, 2 }, { 1, 2 } } },
		{ "bucket drop 10:1", SIM_BUCKET, SIM_DROP, 200e6, 1518, 2, { { 1, 20 }, { 1, 2 } } },
		{ "bucket drop 100:1", SIM_BUCKET, SIM_DROP, 200e6, 1518, 2, { { 1, 200 }, { 1, 2 } } },
		{ "bucket keep 1:1", SIM_BUCKET, SIM_KEEP, 200e6, 1518, 2, { { 1, 2 }, { 1, 2 } } },
		{ "bucket keep 10:1", SIM_BUCKET, SIM_KEEP, 200e6, 1518, 2, { { 1, 20 }, { 1, 2 } } },
		{ "bucket keep 100:1", SIM_BUCKET, SIM_KEEP, 200e6, 1518, 2, { { 1, 200 }, { 1, 2 } } },
		{ "ring drop 1:1", SIM_RING, SIM_DROP, 40000, 64, 2, { { 1, 2 }, { 1, 2 } } },
		{ "ring drop 10:1", SIM_RING, SIM_DROP, 40000, 64, 2, { { 1, 20 }, { 1, 2 } } },
		{ "ring drop 100:1", SIM_RING, SIM_DROP, 40000, 64, 2, { { 1, 200 }, { 1, 2 } } },
		{ "ring keep 1:1", SIM_RING, SIM_KEEP, 40000, 64, 2, { { 1, 2 }, { 1, 2 } } },
		{ "ring keep 10:1", SIM_RING, SIM_KEEP, 40000, 64, 2, { { 1, 20 }, { 1, 2 } } },
		{ "ring keep 100:1", SIM_RING, SIM_KEEP, 40000, 64, 2, { { 1, 200 }, { 1, 2 } } },
		/* A light sender (half its share) gets all it offers, the other the rest. */
		{ "bucket drop light", SIM_BUCKET, SIM_DROP, 200e6, 1518, 2, { { 1, 20 }, { 1, 0.5 } } },
		{ "bucket keep light", SIM_BUCKET, SIM_KEEP, 200e6, 1518, 2, { { 1, 20 }, { 1, 0.5 } } },
		{ "ring drop light", SIM_RING, SIM_DROP, 40000, 64, 2, { { 1, 20 }, { 1, 0.5, 8 } } },
		{ "ring keep light", SIM_RING, SIM_KEEP, 40000, 64, 2, { { 1, 20 }, { 1, 0.5 } } },
		/* Weights 1:2:3:4, every sender above its share, unequal offers. */
		{ "bucket drop 1:2:3:4", SIM_BUCKET, SIM_DROP, 200e6, 1518, 4,
		  { { 1, 1 }, { 2, 10 }, { 3, 2 }, { 4, 50 } } },
		{ "bucket keep 1:2:3:4", SIM_BUCKET, SIM_KEEP, 200e6, 1518, 4,
		  { { 1, 1 }, { 2, 10 }, { 3, 2 }, { 4, 50 } } },
		{ "ring drop 1:2:3:4", SIM_RING, SIM_DROP, 40000, 64, 4,
		  { { 1, 1 }, { 2, 10 }, { 3, 2 }, { 4, 50 } } },
		{ "ring keep 1:2:3:4", SIM_RING, SIM_KEEP, 40000, 64, 4,
		  { { 1, 1 }, { 2, 10 }, { 3, 2 }, { 4, 50 } } },
		/* ... and the heaviest weight light: the others share the rest 1:2:3. */
		{ "bucket drop 1:2:3:4 light", SIM_BUCKET, SIM_DROP, 200e6, 1518, 4,
		  { { 1, 5 }, { 2, 5 }, { 3, 5 }, { 4, 0.3 } } },
		{ "ring keep 1:2:3:4 light", SIM_RING, SIM_KEEP, 40000, 64, 4,
		  { { 1, 5 }, { 2, 5 }, { 3, 5 }, { 4, 0.3 } } },
		/* A worker kept from its CPU 40 ms in every 100 (the bucket
		 * overflows meanwhile): the capacity left is still shared by
		 * weight. */
		{ "bucket keep 1:2:3:4 stalls", SIM_BUCKET, SIM_KEEP, 20e6, 1518, 4,
		  { { 1, 2 }, { 2, 20 }, { 3, 2 }, { 4, 20 } }, 40, 100 },
		{ "ring keep 1:2:3:4 stalls", SIM_RING, SIM_KEEP, 4000, 64, 4,
		  { { 1, 2 }, { 2, 20 }, { 3, 2 }, { 4, 20 } }, 40, 100 },
		/* Bytes are shared, not frames: 64-byte frames against 1518. */
		{ "bucket drop sizes", SIM_BUCKET, SIM_DROP, 100e6, 1518, 2,
		  { { 1, 10, 32, 64 }, { 1, 3 } } },
		/* Frames larger than a quantum (9000-byte frames at 10 Mbit/s,
		 * quanta of 8 KiB): the debt is carried over rounds. */
		{ "bucket drop jumbo", SIM_BUCKET, SIM_DROP, 10e6, 1518, 2,
		  { { 1, 20, 4, 9000 }, { 1, 3, 8 } } },
		{ "bucket keep jumbo", SIM_BUCKET, SIM_KEEP, 10e6, 1518, 2,
		  { { 1, 20, 0, 9000 }, { 1, 3 } } },
		/* A low rate with the smallest default burst (64 KiB). */
		{ "bucket drop 10mbit", SIM_BUCKET, SIM_DROP, 10e6, 1518, 2,
		  { { 1, 30 }, { 1, 3, 8 } } },
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		const struct sim_case *c = &cases[k];
		double got[SIM_MAX], exp[SIM_MAX], r[SIM_MAX], tot = 0, etot = 0, worst = 0;
		double secs = c->cap < 15e6 && c->kind == SIM_BUCKET ? 12 : 3;

		sim_run(c, 1, secs, got, exp);
		if (c->every_ms > 0) {
			/* what the port carried is the capacity shared */
			double t = 0, e = 0;
			for (unsigned i = 0; i < c->n; i++)
				t += got[i], e += exp[i];
			for (unsigned i = 0; i < c->n; i++)
				exp[i] *= t / e;
		}
		for (unsigned i = 0; i < c->n; i++) {
			r[i] = got[i] / exp[i];
			tot += got[i];
			etot += exp[i];
			worst = MAX(worst, fabs(r[i] - 1));
		}
		printf("  %-26s got/max-min:", c->name);
		for (unsigned i = 0; i < c->n; i++)
			printf(" %.4f", r[i]);
		printf("  Jain %.4f  capacity used %.4f\n", jain(r, c->n), tot / etot);
		/* Jain's index of what each got against its max-min due (with
		 * equal weights and everyone above its share: of the rates). */
		CHECKF(jain(r, c->n) >= 0.98, "%s: Jain %.4f", c->name, jain(r, c->n));
		CHECKF(worst <= 0.05, "%s: a sender %.1f%% off its max-min share", c->name,
		       worst * 100);
		if (c->every_ms == 0)
			CHECKF(tot / etot >= 0.99, "%s: capacity used %.4f", c->name, tot / etot);
	}
}

/* A backlogged sender that stops: the round it was waited for ends when
 * half the capacity idles, and the other sender gets it all. */
static void test_fair_leaves(void)
{
	static const struct sim_case c = { "leaves", SIM_BUCKET, SIM_DROP, 100e6, 1518, 2,
		                           { { 1, 10 }, { 1, 10, 32, 0, 1.5 } } };
	double got[2], exp[2];

	sim_run(&c, 2, 4, got, exp);
	CHECKF(got[1] == 0 && fabs(got[0] * 8 / 100e6 - 1) < 0.01, "after the other left: %.0f bit/s",
	       got[0] * 8);
}

static void test_fair_units(void)
{
	static struct qos_drr d;
	static struct qos_fair f;
	uint64_t lo = qos_time(QOS_HOLD_MIN_NS), hi = qos_time(QOS_HOLD_MAX_NS), t;

	/* Zeroed memory is a fresh state: the first sender has credit. */
	memset(&d, 0, sizeof(d));
	qos_drr_setup(&d, 1000, 1, 32);
	CHECK(qos_drr_may(&d, 7, 1, 0, 10));
	CHECK(d.src[7].credit == 32 && !qos_drr_contended(&d, 7, 10));
	/* Alone, it is never refused: a round ends each time it runs out. */
	for (int i = 0; i < 1000; i++) {
		CHECK(qos_drr_may(&d, 7, 1, 0, (uint64_t)i + 10));
		qos_drr_charge(&d, 7, 5);
	}
	/* Source 0 is a sender like any other. */
	CHECK(qos_drr_may(&d, 0, 1, 0, 2000));
	CHECK(qos_drr_contended(&d, 7, 2000) && qos_drr_contended(&d, 0, 2000));
	/* Two senders: one that ran out is refused while less than half of
	 * the capacity is idle ... */
	for (int i = 0; i < 100 && qos_drr_may(&d, 7, 1, 1, 2001); i++)
		qos_drr_charge(&d, 7, 5);
	CHECK(!qos_drr_may(&d, 7, 1, 1, 2002));
	/* ... and ends the round when it is (nobody ran out in the last one) */
	CHECK(d.waiting == 0 && qos_drr_may(&d, 7, 1, 2, 2003));
	/* Both ran out: the next round waits for the other's turn ... */
	for (int i = 0; i < 100 && qos_drr_may(&d, 0, 1, 1, 2004); i++)
		qos_drr_charge(&d, 0, 5);
	for (int i = 0; i < 100 && qos_drr_may(&d, 7, 1, 1, 2005); i++)
		qos_drr_charge(&d, 7, 5);
	CHECK(qos_drr_may(&d, 7, 1, 2, 2006)); /* ends the round */
	for (int i = 0; i < 100 && qos_drr_may(&d, 7, 1, 2, 2007); i++)
		qos_drr_charge(&d, 7, 5);
	CHECK(d.waiting == 1 && !qos_drr_may(&d, 7, 1, 2, 2008));
	/* ... unless QOS_WAIT_NS have passed, or 3/4 are idle */
	t = qos_time(QOS_WAIT_NS);
	CHECK(qos_drr_may(&d, 7, 1, 2, 2006 + t));
	for (int i = 0; i < 100 && qos_drr_may(&d, 7, 1, 2, 2007 + t); i++)
		qos_drr_charge(&d, 7, 5);
	CHECK(qos_drr_may(&d, 7, 1, 3, 2008 + t));
	/* ... and alone again after QOS_CONTEND_NS. */
	t = 2009 + t + qos_time(QOS_CONTEND_NS);
	CHECK(!qos_drr_contended(&d, 7, t));
	for (int i = 0; i < 1000; i++) {
		CHECK(qos_drr_may(&d, 7, 1, 0, t));
		qos_drr_charge(&d, 7, 5);
	}
	/* A ring restarted under us (its used index moved) starts afresh. */
	memset(&f, 0, sizeof(f));
	qos_fair_sync(&f, 0, 256, 0);
	CHECK(qos_fair_admit(&f, 3, 1, 256, 0));
	qos_fair_add(&f, 3, 100);
	qos_fair_done(&f, 100, 156);
	qos_fair_sync(&f, 7, 200, 1);
	CHECK(f.cap == 200 && f.drr.src[3].v == 0 && f.drr.active == 0);
	/* The guest's pace is learnt from the buffers it gives back: 64 in
	 * 1 ms; then waiting for half of the ring is 100 buffers' time, and
	 * every wait stays within its bounds. */
	memset(&f, 0, sizeof(f));
	qos_fair_sync(&f, 0, 256, 0);
	qos_fair_done(&f, 0, 0);
	qos_fair_sync(&f, 0, 64, qos_time(1000000));
	CHECK(f.per_buf == qos_time(1000000) / 64);
	t = qos_fair_ready(&f, 28, 0, true);
	CHECK(t == 100 * f.per_buf);
	t = qos_fair_ready(&f, 200, 0, true);
	CHECK(t == lo);
	t = qos_fair_ready(&f, 0, 0, false);
	CHECK(t == 32 * f.per_buf);
	f.per_buf = qos_time(1000000);
	CHECK(qos_fair_ready(&f, 0, 0, true) == hi);
}

int main(void)
{
	test_parse();
	test_build();
	test_accuracy();
	test_burst();
	test_fair_units();
	test_fair_sim();
	test_fair_leaves();
	return check_result("qos");
}
