/* test_qos.c - token buckets, tc unit parsing and the two fair-share
 * mechanisms of src/qos, on a simulated clock. */
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

/* A ring of `cap` buffers with a FIFO of what the guest holds; nsrc
 * sources each offer `offer` frames per round (in rotating order); the
 * guest reads `drain` entries per round and gives their buffers back.
 * Returns entries read per source over `rounds` rounds (after a warm-up). */
static void fair_ring(unsigned cap, unsigned nsrc, const unsigned *w, const unsigned *offer,
                      unsigned drain, unsigned rounds, double *out)
{
	static struct qos_fair f;
	static uint8_t fifo[65536];
	uint16_t used = 0, read = 0;
	unsigned freebufs = cap;

	memset(&f, 0, sizeof(f));
	memset(out, 0, nsrc * sizeof(*out));
	for (unsigned r = 0; r < rounds + 200; r++) {
		for (unsigned k = 0; k < nsrc; k++) {
			unsigned s = (k + r) % nsrc;
			qos_fair_sync(&f, used, (uint16_t)freebufs);
			for (unsigned i = 0; i < offer[s] && freebufs; i++) {
				if (!qos_fair_admit(&f, s, w[s], (uint16_t)freebufs))
					continue;
				qos_fair_add(&f, s, w[s], used, 1);
				fifo[used] = (uint8_t)s;
				used++;
				freebufs--;
			}
			qos_fair_done(&f, used);
		}
		for (unsigned i = 0; i < drain && read != used; i++, read++) {
			if (r >= 200)
				out[fifo[read]] += 1;
			freebufs++; /* read and given back at once */
		}
	}
}

static void test_fair_ring(void)
{
	unsigned w1[4] = { 1, 1, 1, 1 }, w4[4] = { 1, 2, 3, 4 };
	unsigned greedy4[4] = { 32, 32, 32, 32 }, uneven[4] = { 32, 8, 32, 32 };
	unsigned light[4] = { 32, 32, 32, 2 };
	double x[4];

	/* Four greedy senders, a receiver reading 40 per round. */
	fair_ring(256, 4, w1, greedy4, 40, 20000, x);
	CHECKF(jain(x, 4) >= 0.999, "equal weights: jain %.4f (%.0f %.0f %.0f %.0f)", jain(x, 4),
	       x[0], x[1], x[2], x[3]);
	/* Unequal offered bursts get equal shares too when all exceed them. */
	fair_ring(256, 4, w1, uneven, 24, 20000, x);
	CHECKF(jain(x, 4) >= 0.99, "uneven offers: jain %.4f (%.0f %.0f %.0f %.0f)", jain(x, 4),
	       x[0], x[1], x[2], x[3]);
	/* Weights 1:2:3:4. */
	fair_ring(1024, 4, w4, greedy4, 40, 20000, x);
	double sum = x[0] + x[1] + x[2] + x[3];
	for (int i = 0; i < 4; i++)
		CHECKF(fabs(x[i] / sum / ((i + 1) / 10.0) - 1) < 0.05,
		       "weight %d: share %.3f", i + 1, x[i] / sum);
	/* A light sender gets all it asks for (max-min fairness). */
	fair_ring(256, 4, w1, light, 40, 20000, x);
	CHECKF(x[3] >= 2 * 20000 * 0.99, "light sender: %.0f of %u", x[3], 2 * 20000);
	CHECKF(fabs(x[0] - x[1]) / x[0] < 0.02, "greedy ones equal: %.0f %.0f", x[0], x[1]);
	/* A receiver that stops reading: the ring fills, nothing is admitted
	 * beyond it, and the state stays bounded. */
	fair_ring(256, 4, w1, greedy4, 0, 1000, x);
	CHECK(x[0] == 0);
	/* A ring reset (used index jumps) clears the counts. */
	static struct qos_fair f;
	memset(&f, 0, sizeof(f));
	qos_fair_sync(&f, 0, 256);
	qos_fair_add(&f, 3, 1, 0, 100);
	qos_fair_done(&f, 100);
	qos_fair_sync(&f, 7, 256);
	CHECK(f.cnt[3] == 0 && f.wsum == 0 && f.tail == 7);
}

/* nsrc greedy sources send bursts of 32 frames of len bytes, in rotating
 * order, every step_ns, to a port limited to bps: bytes through per source
 * (after the first second). */
static void shared_bucket(uint64_t bps, unsigned nsrc, const unsigned *w, const unsigned *offer,
                          uint32_t len, uint64_t step_ns, double secs, double *out)
{
	static struct qos_share sh;
	struct qos_prof p;
	struct qos_state st;
	char err[128];
	unsigned r = 0;

	memset(&sh, 0, sizeof(sh));
	memset(&st, 0, sizeof(st));
	memset(out, 0, nsrc * sizeof(*out));
	CHECK(qos_prof_build(&(struct qos_limit){ .bps = bps }, 0, &p, err, sizeof(err)) == 0);
	for (uint64_t t = NS; t < NS + (uint64_t)(secs * 1e9); t += step_ns, r++) {
		for (unsigned k = 0; k < nsrc; k++) {
			unsigned s = (k + r) % nsrc;
			struct qos_batch bt;

			qos_begin(&p, &st, qos_time(t), &bt);
			for (unsigned i = 0; i < offer[s]; i++)
				if (qos_take_shared(&p, &bt, &sh, s, w[s], len) == QOS_PASS && t >= 2 * NS)
					out[s] += len;
			qos_end(&st, &bt);
		}
	}
}

static void test_fair_bucket(void)
{
	unsigned w1[4] = { 1, 1, 1, 1 }, w4[4] = { 1, 2, 3, 4 };
	unsigned greedy4[4] = { 32, 32, 32, 32 }, light[4] = { 32, 32, 32, 1 };
	double x[4], sum;

	shared_bucket(100000000, 4, w1, greedy4, 1518, 100000, 6, x);
	sum = x[0] + x[1] + x[2] + x[3];
	CHECKF(jain(x, 4) >= 0.99, "equal: jain %.4f", jain(x, 4));
	CHECKF(fabs(sum * 8 / 5 / 100000000 - 1) < 0.01, "equal: total %.0f bit/s", sum * 8 / 5);
	shared_bucket(100000000, 4, w4, greedy4, 1518, 100000, 6, x);
	sum = x[0] + x[1] + x[2] + x[3];
	for (int i = 0; i < 4; i++)
		CHECKF(fabs(x[i] / sum / ((i + 1) / 10.0) - 1) < 0.05, "weight %d: share %.3f", i + 1,
		       x[i] / sum);
	CHECKF(fabs(sum * 8 / 5 / 100000000 - 1) < 0.01, "weighted: total %.0f bit/s", sum * 8 / 5);
	/* 64-byte frames at 10 Mbit/s. */
	shared_bucket(10000000, 4, w1, greedy4, 64, 50000, 6, x);
	CHECKF(jain(x, 4) >= 0.99, "64 B: jain %.4f", jain(x, 4));
	/* A light source (1 frame per 100 us = 121 Mbit/s... of 1518 B: less
	 * than its 250 Mbit/s share of 1 Gbit/s) gets all it sends. */
	shared_bucket(1000000000, 4, w1, light, 1518, 100000, 6, x);
	CHECKF(x[3] * 8 / 5 >= 1518 * 8 * 10000 * 0.99, "light: %.0f bit/s", x[3] * 8 / 5);
	sum = x[0] + x[1] + x[2] + x[3];
	CHECKF(fabs(sum * 8 / 5 / 1000000000 - 1) < 0.02, "light: total %.0f bit/s", sum * 8 / 5);
}

int main(void)
{
	test_parse();
	test_build();
	test_accuracy();
	test_burst();
	test_fair_ring();
	test_fair_bucket();
	return check_result("qos");
}
