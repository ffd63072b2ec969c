/* vifbench.c - traffic generator, sink, echo and latency probe on libvif.
 *
 * One libvif endpoint, one thread per queue pair (each thread owns its pair
 * and its counters); the main thread does connection upkeep, progress lines
 * and the final report, and decides when the run ends. Frames are Ethernet
 * with ethertype 0x88b5 (IEEE local experimental) carrying a bench header:
 *
 *   dst(6) src(6) type(2) | magic(4) queue(2) flags(2) seq(8) ts_ns(8)
 *                           len(4) csum(4) | payload pattern ...
 *
 * csum covers the header fields; with --verify the payload is a pattern
 * derived from (queue, seq), so a receiver checks every byte, the length and
 * the per-queue order. Counters a thread publishes are relaxed atomics with
 * one writer; the main thread sums them while the threads run.
 *
 * Rates: pps counts frames; "bps" is frame bytes x 8 (Ethernet header and
 * payload, no FCS, preamble or inter-frame gap). Without --warmup they are
 * measured from the first to the last frame each side handled; with
 * --warmup, over the measurement window: counters are read by the main
 * thread at the end of the warm-up and at the end of the run, and the
 * differences are divided by the wall-clock time between the two reads.
 * The receiver also counts per flow (source MAC, bench_flow.h) and the
 * main thread can sample another process's CPU over the window
 * (bench_cpu.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <linux/virtio_net.h>

#include <libvif.h>

#include "bench_cpu.h"
#include "bench_flow.h"
#include "clk.h"
#include "util.h"

enum {
	ETH_HLEN_B = 14,
	BENCH_ETHERTYPE = 0x88b5,
	BENCH_MAGIC_DATA = 0x42464956,     /* "VIFB" */
	BENCH_MAGIC_ANNOUNCE = 0x41464956, /* "VIFA" */
	BENCH_F_PATTERN = 1,               /* payload carries the pattern */
	BENCH_F_PING = 2,
	BENCH_MIN_FRAME = 60,
	BENCH_MAX_BURST = 1024,
	BENCH_MAX_SRC_Q = 64,              /* sender queues a receiver tracks */
	BENCH_PAT_PERIOD = 251,
	BENCH_IDLE_SPINS = 512,            /* empty polls before sleeping in rx_wait */
	BENCH_PING_TIMEOUT_MS = 1000,
	BENCH_FULL_SPINS = 64,             /* tx offers refused whole before a nap */
	BENCH_FULL_NAP_NS = 20000,         /* the nap: the ring keeps draining meanwhile */
};

enum bench_mode { MODE_TX, MODE_RX, MODE_BOTH, MODE_ECHO, MODE_PING };

struct bench_hdr {
	uint32_t magic;
	uint16_t queue;
	uint16_t flags;
	uint64_t seq;
	uint64_t ts_ns;
	uint32_t len;
	uint32_t csum;
} __attribute__((packed));

#define BENCH_HDR_OFF ETH_HLEN_B
#define BENCH_PAYLOAD_OFF (ETH_HLEN_B + (unsigned)sizeof(struct bench_hdr))

struct bench_opts {
	const char *sock;
	bool server;
	enum bench_mode mode;
	unsigned queues;
	unsigned size_min, size_max;
	uint64_t rate_pps;      /* total over all queues, 0 = unpaced */
	uint64_t rx_rate_pps;   /* receiver reads at most this many frames/s
	                         * (over all queues; 0 = as fast as it can):
	                         * a slow guest */
	uint64_t count;         /* frames (or pings) per queue, 0 = no limit */
	double duration_s;
	unsigned burst;
	uint8_t src_mac[6], dst_mac[6];
	bool verify;
	bool any_flows;         /* rx: every unicast frame counts in its source's
	                         * flow, not only bench data frames */
	uint64_t expect;        /* data frames to receive in total, 0 = none */
	double idle_end_s;      /* rx: end once frames came and none for this long */
	bool loss_ok;           /* rx --verify: gaps and missing frames are
	                         * reported, not failures (the switch counts
	                         * what it dropped; the caller compares) */
	double timeout_s;
	bool json;
	double interval_s;
	unsigned seg;
	bool indirect;
	bool no_mrg;
	bool packed;
	bool no_event_idx;
	bool no_inflight;
	bool announce;
	bool busy_poll;
	unsigned idle_spins;    /* empty polls before sleeping on notifications */
	unsigned ring_size;
	unsigned rx_buf;
	unsigned ctrl_mq;       /* --ctrl-mq N: VQ_PAIRS_SET(N) on the control queue */
	double warmup_s;        /* --warmup: the window starts this long after t0 */
	bool windowed;          /* --warmup given: rates over the wall-clock window */
	bool window_signal;     /* the window starts at SIGUSR1 (not after --warmup) */
	uint64_t nap_ns;        /* a sender's nap when its ring stays full */
	int cpu_pid;            /* --cpu-pid, 0 = none */
};

/* Per queue-pair thread state. `c_*` counters: written by the thread
 * (relaxed), read by main any time. The rest: thread-private until join. */
struct bench_q {
	_Atomic uint64_t c_tx_pkts, c_tx_bytes;
	_Atomic uint64_t c_rx_pkts, c_rx_bytes, c_rx_data, c_rx_other;
	_Atomic uint64_t c_errors, c_ooo, c_lost;
	_Atomic uint64_t c_ping_sent, c_ping_recv, c_ping_lost;
	_Atomic uint64_t c_tx_refused;    /* see run_stream: paced and unpaced differ */
	_Atomic uint64_t c_tx_full_calls; /* vif_tx_burst calls that took fewer than offered */
	_Atomic uint64_t c_tx_late;       /* paced: frames the schedule lost, ring not full */
	atomic_bool tx_done;    /* this thread has sent its --count */
	atomic_bool fatal;      /* this thread hit an error that ends the run */
	cache_aligned char pad_;
	unsigned q;
	pthread_t tid;
	uint64_t tx_first_ns, tx_last_ns, rx_first_ns, rx_last_ns;
	uint64_t rng;
	uint64_t next_seq[BENCH_MAX_SRC_Q];
	struct bench_flows *flows; /* this thread's flow table (it is the writer) */
	uint64_t *rtt;          /* ping round trips (ns) */
	size_t nrtt, rtt_cap;
	char err[160];
} cache_aligned;

static struct bench_opts opt;
static struct vif *vif;
static struct bench_q *qs;
static struct bench_flows *flow_tabs; /* one per queue thread */
static _Atomic uint64_t stop_ns;      /* when a signal asked to stop, 0 = none */
static atomic_bool stop;
static atomic_bool window_req;        /* SIGUSR1 arrived (--window-signal) */
static uint8_t pattern[VIF_MAX_FRAME + BENCH_PAT_PERIOD];

static void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static uint64_t ctr(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static uint32_t hdr_csum(const struct bench_hdr *h)
{
	/* FNV-1a over the fields before csum. */
	const uint8_t *p = (const uint8_t *)h;
	uint32_t x = 2166136261u;

	for (size_t i = 0; i < offsetof(struct bench_hdr, csum); i++)
		x = (x ^ p[i]) * 16777619u;
	return x;
}

static unsigned pat_off(unsigned queue, uint64_t seq)
{
	return (unsigned)((seq * 7 + queue) % BENCH_PAT_PERIOD);
}

static void pattern_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)((i % BENCH_PAT_PERIOD) * 131 + 17);
}

static void eth_fill(uint8_t *f, const uint8_t *dst, const uint8_t *src)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = BENCH_ETHERTYPE >> 8;
	f[13] = BENCH_ETHERTYPE & 0xff;
}

/* Writes the bench header (and pattern with --verify) of a data frame. */
static void frame_build(uint8_t *f, uint32_t len, unsigned q, uint64_t seq,
			uint16_t flags, uint64_t ts)
{
	struct bench_hdr h = {
		.magic = BENCH_MAGIC_DATA, .queue = (uint16_t)q, .flags = flags,
		.seq = seq, .ts_ns = ts, .len = len,
	};

	if (opt.verify) {
		h.flags |= BENCH_F_PATTERN;
		memcpy(f + BENCH_PAYLOAD_OFF, pattern + pat_off(q, seq), len - BENCH_PAYLOAD_OFF);
	}
	h.csum = hdr_csum(&h);
	memcpy(f + BENCH_HDR_OFF, &h, sizeof(h));
}

static bool is_bench(const uint8_t *f, uint32_t len)
{
	return len >= BENCH_PAYLOAD_OFF && f[12] == (BENCH_ETHERTYPE >> 8) &&
	       f[13] == (BENCH_ETHERTYPE & 0xff);
}

static void fail_q(struct bench_q *b, const char *what, int err)
{
	snprintf(b->err, sizeof(b->err), "queue %u: %s: %s (%s)", b->q, what,
		 strerror(-err), vif_last_error());
	atomic_store(&b->fatal, true);
	atomic_store(&stop, true);
}

/* Handles a negative burst return. Returns true when the thread should
 * keep going (backend temporarily away), false when the run is over. */
static bool burst_error(struct bench_q *b, const char *what, int err)
{
	if (err == -ENOTCONN) {
		nanosleep(&(struct timespec){ .tv_nsec = 1000 * 1000 }, NULL);
		return true;
	}
	fail_q(b, what, err);
	return false;
}

/* Checks one received data frame against the verify rules and updates the
 * per-source-queue order state. The sender is the peer: any field may be
 * wrong, each is checked before it is used. */
static void rx_check(struct bench_q *b, const uint8_t *f, uint32_t len)
{
	struct bench_hdr h;

	memcpy(&h, f + BENCH_HDR_OFF, sizeof(h));
	if (h.csum != hdr_csum(&h) || h.len != len || h.queue >= BENCH_MAX_SRC_Q ||
	    !(h.flags & BENCH_F_PATTERN) ||
	    memcmp(f + BENCH_PAYLOAD_OFF, pattern + pat_off(h.queue, h.seq),
		   len - BENCH_PAYLOAD_OFF)) {
		ctr_add(&b->c_errors, 1);
		return;
	}
	if (h.seq == b->next_seq[h.queue]) {
		b->next_seq[h.queue]++;
	} else if (h.seq > b->next_seq[h.queue]) {
		ctr_add(&b->c_lost, h.seq - b->next_seq[h.queue]);
		b->next_seq[h.queue] = h.seq + 1;
	} else {
		ctr_add(&b->c_ooo, 1);
	}
}

/* Receives one burst and accounts it: totals, and bench data frames per
 * flow (source MAC). In echo mode bench data frames are bounced with MACs
 * swapped. rx[0..burst-1] hold the thread's buffers at full capacity; the
 * ones used get their capacity back here. The clock is read once per
 * non-empty burst, and only for first-to-last rates (no --warmup); without
 * --verify a frame costs a length check, two loads and the flow lookup
 * (cached: frames come in runs from one source). Returns frames received
 * or -1 to stop. */
static int rx_step(struct bench_q *b, struct vif_pkt *rx, struct vif_pkt *echo, unsigned max)
{
	struct bench_flows *fl = b->flows;
	unsigned ne = 0, slot = 0;
	uint64_t bytes = 0, data = 0, other = 0, run_pkts = 0, run_bytes = 0;
	int n;

	n = vif_rx_burst(vif, b->q, rx, max);
	if (unlikely(n < 0))
		return burst_error(b, "rx", n) ? 0 : -1;
	if (n == 0)
		return 0;
	if (!opt.windowed) {
		b->rx_last_ns = clk_now_ns();
		if (!b->rx_first_ns)
			b->rx_first_ns = b->rx_last_ns;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *f = rx[i].data;
		uint32_t len = rx[i].len, magic;
		unsigned s;

		rx[i].len = VIF_MAX_FRAME;
		bytes += len;
		if (!is_bench(f, len)) {
			other++;
			if (!opt.any_flows || len < ETH_HLEN_B || (f[0] & 1))
				continue;
		} else {
			memcpy(&magic, f + BENCH_HDR_OFF, sizeof(magic));
			if (magic != BENCH_MAGIC_DATA) {
				other++; /* announcements and strangers */
				continue;
			}
			data++;
		}
		s = bench_flow_slot(fl, bench_flow_key(f + 6));
		if (s != slot && run_pkts) {
			bench_flow_add(fl, slot, run_pkts, run_bytes);
			run_pkts = run_bytes = 0;
		}
		slot = s;
		run_pkts++;
		run_bytes += len;
		if (!is_bench(f, len))
			continue; /* --any-flows: counted, nothing else */
		if (opt.mode == MODE_ECHO) {
			uint8_t mac[6];

			if (f[0] & 1)
				continue; /* never bounce to a group address */
			memcpy(mac, f, 6);
			memcpy(f, f + 6, 6);
			memcpy(f + 6, mac, 6);
			echo[ne++] = (struct vif_pkt){ .data = f, .len = len };
		} else if (opt.verify) {
			rx_check(b, f, len);
		}
	}
	if (run_pkts)
		bench_flow_add(fl, slot, run_pkts, run_bytes);
	ctr_add(&b->c_rx_pkts, (uint64_t)n);
	ctr_add(&b->c_rx_bytes, bytes);
	ctr_add(&b->c_rx_data, data);
	ctr_add(&b->c_rx_other, other);
	if (ne) {
		int s = vif_tx_burst(vif, b->q, echo, ne);

		if (s < 0 && !burst_error(b, "echo tx", s))
			return -1;
		if (s > 0) {
			uint64_t eb = 0;

			for (int i = 0; i < s; i++)
				eb += echo[i].len;
			ctr_add(&b->c_tx_pkts, (uint64_t)s);
			ctr_add(&b->c_tx_bytes, eb);
			if (!opt.windowed) {
				b->tx_last_ns = clk_now_ns();
				if (!b->tx_first_ns)
					b->tx_first_ns = b->tx_last_ns;
			}
		}
	}
	return n;
}

static void announce(struct bench_q *b)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[BENCH_MIN_FRAME] = { 0 };
	struct bench_hdr h = { .magic = BENCH_MAGIC_ANNOUNCE, .queue = (uint16_t)b->q,
			       .len = BENCH_MIN_FRAME };
	struct vif_pkt p = { .data = f, .len = sizeof(f) };
	uint64_t deadline = clk_now_ns() + 1000000000ull;

	eth_fill(f, bcast, opt.src_mac);
	h.csum = hdr_csum(&h);
	memcpy(f + BENCH_HDR_OFF, &h, sizeof(h));
	while (!atomic_load(&stop) && clk_now_ns() < deadline) {
		int r = vif_tx_burst(vif, b->q, &p, 1);

		if (r == 1)
			return;
		if (r < 0 && r != -ENOTCONN) {
			fail_q(b, "announce", r);
			return;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
	}
}

static uint32_t pick_size(struct bench_q *b)
{
	if (opt.size_min == opt.size_max)
		return opt.size_min;
	return opt.size_min + (uint32_t)(xorshift(&b->rng) % (opt.size_max - opt.size_min + 1));
}

/* Per-queue share of --rate (the remainder goes to the first queues). */
static uint64_t queue_rate(unsigned q)
{
	uint64_t r = opt.rate_pps / opt.queues;

	return r + (q < opt.rate_pps % opt.queues);
}

static void sleep_ns(uint64_t ns)
{
	nanosleep(&(struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
				      .tv_nsec = (long)(ns % 1000000000ull) }, NULL);
}

/* Generator (tx, both) and sink (rx, both, echo). Frames refused by a full
 * ring stay built and are offered again first, so sequence numbers are
 * never skipped by tx-side refusals.
 *
 * Refusals: c_tx_full_calls counts vif_tx_burst calls that took fewer
 * frames than offered. c_tx_refused, unpaced: the frames not taken in those
 * calls (a frame refused by N calls counts N times; the sender floods, so
 * this is "how hard the ring pushed back"). Paced (--rate): the frames the
 * schedule wanted sent but that could not go because the ring was full: the
 * pacer's credit is capped at --burst frames, and what overflows the cap
 * while the last offer was refused (wholly or partly) is refused; what
 * overflows while the ring took everything is c_tx_late (the sender itself
 * was late: descheduled, or slept too long).
 *
 * A ring that took nothing for BENCH_FULL_SPINS offers in a row (a rate
 * limited port, or a backend behind) makes the thread nap --nap (default
 * BENCH_FULL_NAP_NS)
 * before each new offer, unless --busy-poll: the ring stays nearly full and
 * the sender does not take the CPU the backend needs. */
static void run_stream(struct bench_q *b, uint8_t **txbuf, uint8_t **rxbuf)
{
	enum { NS = 1000000000 };
	bool tx_role = opt.mode == MODE_TX || opt.mode == MODE_BOTH;
	bool rx_role = opt.mode != MODE_TX;
	struct vif_pkt tx[BENCH_MAX_BURST], rx[BENCH_MAX_BURST], echo[BENCH_MAX_BURST];
	uint64_t rate = queue_rate(b->q), credit = 0, seq = 0, sent = 0;
	uint64_t last = clk_now_ns(), cap = (uint64_t)opt.burst * NS;
	uint64_t refused_credit = 0, late_credit = 0;
	unsigned built = 0, idle = 0, full_streak = 0;
	bool last_full = false;
	uint64_t rx_rate = opt.rx_rate_pps / opt.queues + (b->q < opt.rx_rate_pps % opt.queues);
	uint64_t rx_credit = NS, rx_last = last;

	for (unsigned i = 0; i < opt.burst; i++)
		rx[i] = (struct vif_pkt){ .data = rxbuf[i], .len = VIF_MAX_FRAME };
	if (!tx_role)
		atomic_store(&b->tx_done, true);
	if (opt.rate_pps)
		credit = NS; /* one frame may go at once */
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		bool busy = false;

		if (tx_role && !atomic_load_explicit(&b->tx_done, memory_order_relaxed)) {
			uint64_t now = clk_now_ns();
			unsigned budget = opt.burst;

			if (opt.rate_pps) {
				uint64_t dt = now - last;

				if (unlikely(dt > NS)) {
					ctr_add(&b->c_tx_late, (uint64_t)((double)(dt - NS) * (double)rate / 1e9));
					dt = NS;
				}
				credit += dt * rate;
				if (credit > cap) {
					if (last_full)
						refused_credit += credit - cap;
					else
						late_credit += credit - cap;
					credit = cap;
				}
				if (refused_credit >= NS) {
					ctr_add(&b->c_tx_refused, refused_credit / NS);
					refused_credit %= NS;
				}
				if (late_credit >= NS) {
					ctr_add(&b->c_tx_late, late_credit / NS);
					late_credit %= NS;
				}
				budget = (unsigned)MIN((uint64_t)budget, credit / NS);
			}
			last = now;
			if (opt.count)
				budget = (unsigned)MIN((uint64_t)budget, opt.count - sent);
			while (built < budget) {
				uint32_t len = pick_size(b);

				tx[built].data = txbuf[built];
				tx[built].len = len;
				frame_build(txbuf[built], len, b->q, seq + built, 0, now);
				built++;
			}
			if (budget) {
				int r = vif_tx_burst(vif, b->q, tx, budget);

				if (r < 0) {
					if (!burst_error(b, "tx", r))
						return;
				} else {
					last_full = (unsigned)r < budget;
					full_streak = r ? 0 : full_streak + 1;
					if (last_full) {
						ctr_add(&b->c_tx_full_calls, 1);
						if (!opt.rate_pps)
							ctr_add(&b->c_tx_refused, budget - (unsigned)r);
					}
				}
				if (r > 0) {
					uint64_t bytes = 0;
					uint8_t *keep[BENCH_MAX_BURST];

					for (int i = 0; i < r; i++)
						bytes += tx[i].len;
					/* Rotate: unsent frames to the front, their
					 * buffers with them. */
					for (unsigned i = 0; i < built; i++)
						keep[i] = txbuf[i];
					for (unsigned i = 0; i < built; i++) {
						unsigned from = (i + (unsigned)r) % built;

						txbuf[i] = keep[from];
						tx[i].data = txbuf[i];
						tx[i].len = i + (unsigned)r < built ?
							    tx[i + (unsigned)r].len : 0;
					}
					built -= (unsigned)r;
					seq += (uint64_t)r;
					sent += (uint64_t)r;
					if (opt.rate_pps)
						credit -= (uint64_t)r * NS;
					ctr_add(&b->c_tx_pkts, (uint64_t)r);
					ctr_add(&b->c_tx_bytes, bytes);
					if (!opt.windowed) {
						b->tx_last_ns = now;
						if (!b->tx_first_ns)
							b->tx_first_ns = now;
					}
					busy = true;
				}
			}
			if (opt.count && sent >= opt.count)
				atomic_store(&b->tx_done, true);
		}
		if (rx_role) {
			unsigned max = opt.burst;
			int n;

			if (opt.rx_rate_pps) {
				uint64_t now = clk_now_ns();

				rx_credit += MIN(now - rx_last, NS) * rx_rate;
				rx_credit = MIN(rx_credit, cap);
				rx_last = now;
				max = (unsigned)MIN((uint64_t)max, rx_credit / NS);
			}
			n = max ? rx_step(b, rx, echo, max) : 0;
			if (n < 0)
				return;
			if (opt.rx_rate_pps) {
				rx_credit -= (uint64_t)n * NS;
				if (!max && !tx_role) {
					/* A slow reader: wait for the next frame's turn. */
					sleep_ns(MAX((NS - rx_credit) / rx_rate, 20000ull));
					continue;
				}
			}
			busy |= n > 0;
		}
		if (busy) {
			idle = 0;
			continue;
		}
		if (full_streak >= BENCH_FULL_SPINS && !opt.busy_poll) {
			sleep_ns(opt.nap_ns);
			continue;
		}
		if (++idle < opt.idle_spins || opt.busy_poll)
			continue;
		/* Idle: sleep on the rx notification, or until the next
		 * token when pacing, or briefly when all is sent. */
		if (rx_role && (!tx_role || atomic_load(&b->tx_done))) {
			int r = vif_rx_wait(vif, b->q, 20);

			if (r < 0 && !burst_error(b, "rx wait", r))
				return;
		} else if (opt.rate_pps && credit < NS && rate) {
			uint64_t ns = (NS - credit) / rate;

			if (ns > 50000)
				sleep_ns(MIN(ns, 1000000ull));
		} else if (atomic_load(&b->tx_done)) {
			sleep_ns(1000000);
		}
	}
}

static void rtt_add(struct bench_q *b, uint64_t ns)
{
	if (b->nrtt == b->rtt_cap) {
		size_t cap = b->rtt_cap ? 2 * b->rtt_cap : 4096;
		uint64_t *p = realloc(b->rtt, cap * sizeof(*p));

		if (!p)
			return;
		b->rtt = p;
		b->rtt_cap = cap;
	}
	b->rtt[b->nrtt++] = ns;
}

/* Latency probe: one ping in flight per queue, against an echo peer. */
static void run_ping(struct bench_q *b, uint8_t **txbuf, uint8_t **rxbuf)
{
	struct vif_pkt rx[BENCH_MAX_BURST];
	uint64_t seq = 0, rate = queue_rate(b->q), next_ns = clk_now_ns();

	while (!atomic_load_explicit(&stop, memory_order_relaxed) && (!opt.count || seq < opt.count)) {
		uint32_t len = pick_size(b);
		struct vif_pkt p = { .data = txbuf[0], .len = len };
		uint64_t t0, deadline;
		unsigned idle = 0;
		bool got = false;
		int r;

		if (rate) {
			uint64_t now = clk_now_ns();

			if (now < next_ns)
				sleep_ns(next_ns - now);
			next_ns += 1000000000ull / rate;
		}
		t0 = clk_now_ns();
		frame_build(txbuf[0], len, b->q, seq, BENCH_F_PING, t0);
		r = vif_tx_burst(vif, b->q, &p, 1);
		if (r < 0) {
			if (!burst_error(b, "ping tx", r))
				return;
			continue;
		}
		if (r == 0)
			continue; /* ring full: try again */
		ctr_add(&b->c_ping_sent, 1);
		ctr_add(&b->c_tx_pkts, 1);
		ctr_add(&b->c_tx_bytes, len);
		b->tx_last_ns = t0;
		if (!b->tx_first_ns)
			b->tx_first_ns = t0;
		deadline = t0 + BENCH_PING_TIMEOUT_MS * 1000000ull;
		while (!got && !atomic_load_explicit(&stop, memory_order_relaxed)) {
			uint64_t now = clk_now_ns();
			int n;

			if (now >= deadline)
				break;
			for (unsigned i = 0; i < opt.burst; i++) {
				rx[i].data = rxbuf[i];
				rx[i].len = VIF_MAX_FRAME;
			}
			n = vif_rx_burst(vif, b->q, rx, opt.burst);
			if (n < 0) {
				if (!burst_error(b, "ping rx", n))
					return;
				continue;
			}
			now = clk_now_ns();
			if (n > 0) {
				b->rx_last_ns = now;
				if (!b->rx_first_ns)
					b->rx_first_ns = now;
			}
			for (int i = 0; i < n; i++) {
				const uint8_t *f = rx[i].data;
				struct bench_hdr h;

				ctr_add(&b->c_rx_pkts, 1);
				ctr_add(&b->c_rx_bytes, rx[i].len);
				if (!is_bench(f, rx[i].len)) {
					ctr_add(&b->c_rx_other, 1);
					continue;
				}
				memcpy(&h, f + BENCH_HDR_OFF, sizeof(h));
				if (h.magic != BENCH_MAGIC_DATA || !(h.flags & BENCH_F_PING) ||
				    h.queue != b->q) {
					ctr_add(&b->c_rx_other, 1);
					continue;
				}
				ctr_add(&b->c_rx_data, 1);
				if (opt.verify)
					rx_check(b, f, rx[i].len);
				if (h.seq == seq && h.csum == hdr_csum(&h)) {
					rtt_add(b, now - h.ts_ns);
					got = true;
				}
			}
			if (n == 0 && ++idle >= opt.idle_spins && !opt.busy_poll) {
				int w = vif_rx_wait(vif, b->q, (int)MIN((deadline - now) / 1000000 + 1, 100ull));

				if (w < 0 && !burst_error(b, "ping wait", w))
					return;
			}
		}
		if (got)
			ctr_add(&b->c_ping_recv, 1);
		else
			ctr_add(&b->c_ping_lost, 1);
		seq++;
	}
	atomic_store(&b->tx_done, true);
}

static void *queue_thread(void *arg)
{
	struct bench_q *b = arg;
	uint8_t *txbuf[BENCH_MAX_BURST], *rxbuf[BENCH_MAX_BURST];
	uint8_t *mem;
	size_t each = VIF_MAX_FRAME;

	b->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(b->q + 1) * 0xbf58476d1ce4e5b9ull);
	/* Naps and pacing sleeps of tens of us mean what they say (the
	 * default slack is 50 us). */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	mem = calloc(2 * opt.burst, each);
	if (!mem) {
		fail_q(b, "buffers", -ENOMEM);
		return NULL;
	}
	for (unsigned i = 0; i < opt.burst; i++) {
		txbuf[i] = mem + i * each;
		rxbuf[i] = mem + (opt.burst + i) * each;
		eth_fill(txbuf[i], opt.dst_mac, opt.src_mac);
	}
	if (opt.announce)
		announce(b);
	if (opt.mode == MODE_PING)
		run_ping(b, txbuf, rxbuf);
	else
		run_stream(b, txbuf, rxbuf);
	free(mem);
	return NULL;
}

/* ---- reporting ---- */

struct totals {
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes, rx_data, rx_other;
	uint64_t errors, ooo, lost, ping_sent, ping_recv, ping_lost;
	uint64_t tx_refused, tx_full_calls, tx_late;
	bool all_tx_done, fatal;
};

/* The measurement window: counters and flow tables read at its start (end
 * of --warmup) and end; main thread only. Without --warmup it starts at t0
 * with zero counters and ends after the threads are joined, so its counts
 * are the whole run's. */
struct window {
	bool started, ended;
	uint64_t start_ns, end_ns;
	struct totals t0, t1;
	struct bench_flow_snap f0, f1;
	bool cpu_on;            /* --cpu-pid sampling was started */
	int cpu_err;            /* bench_cpu_start() failure, 0 if none */
	struct bench_cpu cpu;
};

/* One --interval sample for the timeline: per-flow counts in (t - dt, t]. */
struct tl_entry {
	double t, dt;           /* seconds since t0, interval length */
	double tx_pps, rx_pps;
	struct bench_flow_set set;
};

static struct window win;
static uint64_t run_t0_ns;      /* CLOCK_MONOTONIC at the start of the run */
static struct tl_entry *timeline;
static size_t ntimeline, timeline_cap;

static void sum(struct totals *t)
{
	memset(t, 0, sizeof(*t));
	t->all_tx_done = true;
	for (unsigned i = 0; i < opt.queues; i++) {
		struct bench_q *b = &qs[i];

		t->tx_pkts += ctr(&b->c_tx_pkts);
		t->tx_bytes += ctr(&b->c_tx_bytes);
		t->rx_pkts += ctr(&b->c_rx_pkts);
		t->rx_bytes += ctr(&b->c_rx_bytes);
		t->rx_data += ctr(&b->c_rx_data);
		t->rx_other += ctr(&b->c_rx_other);
		t->errors += ctr(&b->c_errors);
		t->ooo += ctr(&b->c_ooo);
		t->lost += ctr(&b->c_lost);
		t->ping_sent += ctr(&b->c_ping_sent);
		t->ping_recv += ctr(&b->c_ping_recv);
		t->ping_lost += ctr(&b->c_ping_lost);
		t->tx_refused += ctr(&b->c_tx_refused);
		t->tx_full_calls += ctr(&b->c_tx_full_calls);
		t->tx_late += ctr(&b->c_tx_late);
		t->all_tx_done &= atomic_load(&b->tx_done);
		t->fatal |= atomic_load(&b->fatal);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double rate_of(uint64_t n, uint64_t first, uint64_t last)
{
	/* n frames over [first, last]: n - 1 intervals. */
	if (n < 2 || last <= first)
		return 0;
	return (double)(n - 1) * 1e9 / (double)(last - first);
}

/* One --interval step: the progress line, one line per flow the receiver
 * has seen (its rate in this interval), and a timeline entry. */
static void progress(double t, const struct totals *now, const struct totals *prev, double dt,
		     const struct bench_flow_snap *fnow, const struct bench_flow_snap *fprev)
{
	double txp = (double)(now->tx_pkts - prev->tx_pkts) / dt;
	double rxp = (double)(now->rx_pkts - prev->rx_pkts) / dt;
	double txb = (double)(now->tx_bytes - prev->tx_bytes) * 8 / dt;
	double rxb = (double)(now->rx_bytes - prev->rx_bytes) * 8 / dt;
	struct tl_entry *e = NULL;

	printf("[%7.2fs] tx %10.0f pps %8.3f Gbit/s | rx %10.0f pps %8.3f Gbit/s | "
	       "tx %" PRIu64 " rx %" PRIu64 " err %" PRIu64 " lost %" PRIu64 "\n",
	       t, txp, txb / 1e9, rxp, rxb / 1e9, now->tx_pkts, now->rx_pkts,
	       now->errors, now->lost);
	if (ntimeline == timeline_cap) {
		size_t cap = timeline_cap ? 2 * timeline_cap : 64;
		struct tl_entry *p = realloc(timeline, cap * sizeof(*p));

		if (p) {
			timeline = p;
			timeline_cap = cap;
		}
	}
	if (ntimeline < timeline_cap) {
		e = &timeline[ntimeline++];
		*e = (struct tl_entry){ .t = t, .dt = dt, .tx_pps = txp, .rx_pps = rxp };
		bench_flow_delta(&e->set, flow_tabs, opt.queues, fnow, fprev);
		for (unsigned i = 0; i < e->set.n; i++) {
			char mac[18];

			bench_mac_str(e->set.src[i], mac);
			printf("           flow %s %10.0f pps %10.3f Mbit/s\n", mac,
			       (double)e->set.pkts[i] / dt, (double)e->set.bytes[i] * 8 / dt / 1e6);
		}
	}
	fflush(stdout);
}

static const char *mode_name(enum bench_mode m)
{
	static const char *const n[] = { "tx", "rx", "both", "echo", "ping" };

	return n[m];
}

/* ---- options ---- */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -1;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end || !(*out >= 0) || *out > 1e9) ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: vifbench --sock PATH [options]\n"
"Traffic generator / sink / echo / latency probe on a libvif vhost-user endpoint.\n"
"Frames are Ethernet, ethertype 0x88b5, with a bench header (queue, sequence).\n"
"\n"
"  --sock PATH        vhost-user socket (required)\n"
"  --server           listen on PATH and wait for the backend (default: connect)\n"
"  --mode M           tx | rx | both | echo | ping (default tx)\n"
"                       echo: bounce bench frames with MACs swapped\n"
"                       ping: round trips against an echo peer (p50/p99/max)\n"
"  --queues N         queue pairs, one thread each (default 1)\n"
"  --size N           frame bytes without FCS, %d..%d (default 60)\n"
"  --sizes MIN-MAX    random size per frame in [MIN, MAX], fixed seed\n"
"  --rate PPS         total frames/s over all queues, token paced (0 = max)\n"
"  --rx-rate PPS      receiver: read at most PPS frames/s over all queues, like\n"
"                     a slow guest (its ring fills; vifd drops or shares)\n"
"  --count N          frames (ping: round trips) per queue, then stop sending\n"
"  --duration S       stop after S seconds\n"
"  --burst N          frames per burst call, 1..%d (default 32)\n"
"  --src-mac MAC      default 02:00:00:00:00:01\n"
"  --dst-mac MAC      default 02:00:00:00:00:02\n"
"  --verify           tx: fill payload pattern; rx: check every frame's header,\n"
"                     length, payload and per-queue order (errors, out_of_order, lost)\n"
"                     (both sides need --verify)\n"
"  --any-flows        rx: count every unicast frame in its source MAC's flow,\n"
"                     not only bench data frames (e.g. from DPDK testpmd)\n"
"  --expect N         rx: stop once N bench frames were received in total;\n"
"                     fewer at the end is a failure\n"
"  --idle-end S       rx: stop once frames have arrived and none came for S s\n"
"  --loss-ok          rx: lost (sequence gaps) and missing frames are reported,\n"
"                     not failures; corrupt and reordered frames still fail\n"
"  --timeout S        fail (exit 1) if the goals (count, expect) are not met in S s\n"
"  --json             print a final JSON line with all figures\n"
"  --interval S       progress line every S seconds, then each flow's rate in\n"
"                     that interval (JSON: \"timeline\")\n"
"  --seg N            tx: header in its own descriptor, frame split in N-byte ones\n"
"  --indirect         tx: chains in indirect tables when negotiated\n"
"  --no-mrg           do not negotiate VIRTIO_NET_F_MRG_RXBUF\n"
"  --packed           packed virtqueues (VIRTIO_F_RING_PACKED; fails if not offered)\n"
"  --no-event-idx     do not negotiate VIRTIO_RING_F_EVENT_IDX\n"
"  --no-inflight      do not negotiate INFLIGHT_SHMFD (a reconnect then\n"
"                     drops the frames in flight: see vif_conn_poll)\n"
"  --no-announce      do not send the initial broadcast from --src-mac\n"
"  --busy-poll        never sleep on rx notifications\n"
"  --idle-spins N     empty polls before sleeping on rx notifications (default\n"
"                     512; 0: sleep at once, every frame needs an interrupt)\n"
"  --nap US           tx: the nap before each offer once 64 in a row found the\n"
"                     ring full (default %d; 1..1000000)\n"
"  --ring-size N      descriptors per ring (default 256)\n"
"  --rx-buf N         bytes per rx buffer incl. virtio header (default 2048)\n"
"  --ctrl-mq N        open --queues pairs with the control queue, then tell the\n"
"                     backend (VQ_PAIRS_SET) to use only N of them, and run on N\n"
"  --warmup S         measurement window: starts S s after the start (0 allowed)\n"
"                     and ends with the run (--duration includes the warm-up);\n"
"                     rates = counts in the window / its wall-clock length\n"
"  --window-signal    the measurement window starts when SIGUSR1 arrives (not\n"
"                     after --warmup) and ends at SIGINT/SIGTERM or --duration:\n"
"                     several runs measured over the same interval\n"
"  --cpu-pid PID      CPU that process PID (e.g. vifd) uses over the window:\n"
"                     perf cycle counters per thread, or /proc run time x TSC\n"
"                     frequency when perf is unavailable (cpu_method says which)\n"
"  --help\n"
"\n"
"Rates: pps = frames/s; bps = frame bytes x 8 (no FCS/preamble/IFG), over the\n"
"window from first to last frame, or over the --warmup window. The receiver\n"
"counts bench frames per flow (source MAC, up to %d; the rest is \"other\"):\n"
"frames, bytes, rate, share of the total, and Jain's fairness index over the\n"
"flows' rates; --interval shows each flow's rate per interval (\"timeline\").\n"
"tx_refused, unpaced: frames offered and not taken by a full ring, per call;\n"
"with --rate: frames the schedule lost because the ring stayed full. A\n"
"sender naps 20 us (--nap) before each offer once 64 offers in a row found the ring\n"
"full (not with --busy-poll). Details: bench/README.md. Exit status 0 only\n"
"if every check passed.\n",
		BENCH_MIN_FRAME, VIF_MAX_FRAME, BENCH_MAX_BURST, BENCH_FULL_NAP_NS / 1000,
		BENCH_MAX_FLOWS);
}

static int parse_opts(int argc, char **argv)
{
	enum { O_SOCK = 256, O_SERVER, O_MODE, O_QUEUES, O_SIZE, O_SIZES, O_RATE, O_RX_RATE, O_COUNT,
	       O_DURATION, O_BURST, O_SRC, O_DST, O_VERIFY, O_EXPECT, O_IDLE_END, O_LOSS_OK, O_TIMEOUT, O_JSON,
	       O_INTERVAL, O_SEG, O_INDIRECT, O_NOMRG, O_PACKED, O_NOEVIDX, O_NOINFL, O_ANNOUNCE,
	       O_NOANNOUNCE,
	       O_BUSY, O_RING, O_RXBUF, O_CTRLMQ, O_WARMUP, O_CPUPID, O_ANYFLOWS, O_WINSIG, O_NAP, O_SPINS, O_HELP };
	static const struct option lo[] = {
		{ "sock", required_argument, NULL, O_SOCK },
		{ "server", no_argument, NULL, O_SERVER },
		{ "mode", required_argument, NULL, O_MODE },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "size", required_argument, NULL, O_SIZE },
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "rate", required_argument, NULL, O_RATE },
		{ "rx-rate", required_argument, NULL, O_RX_RATE },
		{ "count", required_argument, NULL, O_COUNT },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "burst", required_argument, NULL, O_BURST },
		{ "src-mac", required_argument, NULL, O_SRC },
		{ "dst-mac", required_argument, NULL, O_DST },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "expect", required_argument, NULL, O_EXPECT },
		{ "idle-end", required_argument, NULL, O_IDLE_END },
		{ "loss-ok", no_argument, NULL, O_LOSS_OK },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "json", no_argument, NULL, O_JSON },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "seg", required_argument, NULL, O_SEG },
		{ "indirect", no_argument, NULL, O_INDIRECT },
		{ "no-mrg", no_argument, NULL, O_NOMRG },
		{ "packed", no_argument, NULL, O_PACKED },
		{ "no-event-idx", no_argument, NULL, O_NOEVIDX },
		{ "no-inflight", no_argument, NULL, O_NOINFL },
		{ "announce", no_argument, NULL, O_ANNOUNCE },
		{ "no-announce", no_argument, NULL, O_NOANNOUNCE },
		{ "busy-poll", no_argument, NULL, O_BUSY },
		{ "idle-spins", required_argument, NULL, O_SPINS },
		{ "ring-size", required_argument, NULL, O_RING },
		{ "rx-buf", required_argument, NULL, O_RXBUF },
		{ "ctrl-mq", required_argument, NULL, O_CTRLMQ },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "cpu-pid", required_argument, NULL, O_CPUPID },
		{ "any-flows", no_argument, NULL, O_ANYFLOWS },
		{ "window-signal", no_argument, NULL, O_WINSIG },
		{ "nap", required_argument, NULL, O_NAP },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	static const uint8_t src[6] = { 2, 0, 0, 0, 0, 1 }, dst[6] = { 2, 0, 0, 0, 0, 2 };
	uint64_t u, u2;
	int c;

	opt.mode = MODE_TX;
	opt.queues = 1;
	opt.nap_ns = BENCH_FULL_NAP_NS;
	opt.idle_spins = BENCH_IDLE_SPINS;
	opt.size_min = opt.size_max = BENCH_MIN_FRAME;
	opt.burst = 32;
	opt.announce = true;
	memcpy(opt.src_mac, src, 6);
	memcpy(opt.dst_mac, dst, 6);
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		const char *a = optarg;

		switch (c) {
		case O_SOCK: opt.sock = a; break;
		case O_SERVER: opt.server = true; break;
		case O_MODE:
			if (!strcmp(a, "tx")) opt.mode = MODE_TX;
			else if (!strcmp(a, "rx")) opt.mode = MODE_RX;
			else if (!strcmp(a, "both")) opt.mode = MODE_BOTH;
			else if (!strcmp(a, "echo")) opt.mode = MODE_ECHO;
			else if (!strcmp(a, "ping")) opt.mode = MODE_PING;
			else goto bad;
			break;
		case O_QUEUES:
			if (parse_u64(a, &u) || u < 1 || u > VIF_MAX_QUEUE_PAIRS)
				goto bad;
			opt.queues = (unsigned)u;
			break;
		case O_SIZE:
			if (parse_u64(a, &u) || u < BENCH_MIN_FRAME || u > VIF_MAX_FRAME)
				goto bad;
			opt.size_min = opt.size_max = (unsigned)u;
			break;
		case O_SIZES: {
			char lo_s[32], hi_s[32];

			if (sscanf(a, "%31[0-9]-%31[0-9]", lo_s, hi_s) != 2 || parse_u64(lo_s, &u) ||
			    parse_u64(hi_s, &u2) || u < BENCH_MIN_FRAME || u2 > VIF_MAX_FRAME || u > u2)
				goto bad;
			opt.size_min = (unsigned)u;
			opt.size_max = (unsigned)u2;
			break;
		}
		case O_RATE: if (parse_u64(a, &opt.rate_pps)) goto bad; break;
		case O_RX_RATE: if (parse_u64(a, &opt.rx_rate_pps)) goto bad; break;
		case O_COUNT: if (parse_u64(a, &opt.count)) goto bad; break;
		case O_DURATION: if (parse_double(a, &opt.duration_s)) goto bad; break;
		case O_BURST:
			if (parse_u64(a, &u) || u < 1 || u > BENCH_MAX_BURST)
				goto bad;
			opt.burst = (unsigned)u;
			break;
		case O_SRC: if (parse_mac(a, opt.src_mac)) goto bad; break;
		case O_DST: if (parse_mac(a, opt.dst_mac)) goto bad; break;
		case O_VERIFY: opt.verify = true; break;
		case O_EXPECT: if (parse_u64(a, &opt.expect)) goto bad; break;
		case O_IDLE_END: if (parse_double(a, &opt.idle_end_s)) goto bad; break;
		case O_LOSS_OK: opt.loss_ok = true; break;
		case O_TIMEOUT: if (parse_double(a, &opt.timeout_s)) goto bad; break;
		case O_JSON: opt.json = true; break;
		case O_INTERVAL: if (parse_double(a, &opt.interval_s)) goto bad; break;
		case O_SEG:
			if (parse_u64(a, &u) || u > VIF_MAX_FRAME)
				goto bad;
			opt.seg = (unsigned)u;
			break;
		case O_INDIRECT: opt.indirect = true; break;
		case O_NOMRG: opt.no_mrg = true; break;
		case O_PACKED: opt.packed = true; break;
		case O_NOEVIDX: opt.no_event_idx = true; break;
		case O_NOINFL: opt.no_inflight = true; break;
		case O_ANNOUNCE: opt.announce = true; break;
		case O_NOANNOUNCE: opt.announce = false; break;
		case O_ANYFLOWS: opt.any_flows = true; break;
		case O_BUSY: opt.busy_poll = true; break;
		case O_RING: if (parse_u64(a, &u) || u > 32768) goto bad; opt.ring_size = (unsigned)u; break;
		case O_RXBUF: if (parse_u64(a, &u) || u > UINT32_MAX) goto bad; opt.rx_buf = (unsigned)u; break;
		case O_CTRLMQ:
			if (parse_u64(a, &u) || u < 1 || u > VIF_MAX_QUEUE_PAIRS)
				goto bad;
			opt.ctrl_mq = (unsigned)u;
			break;
		case O_WARMUP:
			if (parse_double(a, &opt.warmup_s))
				goto bad;
			opt.windowed = true;
			break;
		case O_SPINS:
			if (parse_u64(a, &u) || u > 1000000)
				goto bad;
			opt.idle_spins = (unsigned)u;
			break;
		case O_NAP:
			if (parse_u64(a, &u) || u < 1 || u > 1000000)
				goto bad;
			opt.nap_ns = u * 1000;
			break;
		case O_WINSIG:
			opt.window_signal = opt.windowed = true;
			break;
		case O_CPUPID:
			if (parse_u64(a, &u) || u < 1 || u > INT32_MAX)
				goto bad;
			opt.cpu_pid = (int)u;
			break;
		case O_HELP: case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
		continue;
bad:
		fprintf(stderr, "vifbench: bad value for --%s: %s\n", lo[c - O_SOCK].name, a);
		return -1;
	}
	if (optind < argc || !opt.sock) {
		fprintf(stderr, "vifbench: %s\n", optind < argc ? "unexpected argument" : "--sock is required");
		usage(stderr);
		return -1;
	}
	if (opt.windowed && opt.duration_s > 0 && opt.warmup_s >= opt.duration_s) {
		fprintf(stderr, "vifbench: --warmup %g leaves nothing of --duration %g (it includes the "
			"warm-up)\n", opt.warmup_s, opt.duration_s);
		return -1;
	}
	if (opt.cpu_pid && kill(opt.cpu_pid, 0) && errno == ESRCH) {
		fprintf(stderr, "vifbench: --cpu-pid %d: no such process\n", opt.cpu_pid);
		return -1;
	}
	if (opt.ctrl_mq > opt.queues) {
		fprintf(stderr, "vifbench: --ctrl-mq %u needs --queues %u or more\n", opt.ctrl_mq,
			opt.ctrl_mq);
		return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	uint64_t zero = 0;

	(void)sig;
	/* clock_gettime is async-signal-safe; the first signal's time ends
	 * the measurement window. */
	atomic_compare_exchange_strong(&stop_ns, &zero, clk_now_ns());
	atomic_store(&stop, true);
}

static void on_window_signal(int sig)
{
	(void)sig;
	atomic_store(&window_req, true);
}

/* Starts the measurement window: reads every counter and flow table, and
 * starts sampling --cpu-pid. */
static void window_start(void)
{
	if (opt.cpu_pid) {
		win.cpu_err = bench_cpu_start(&win.cpu, opt.cpu_pid);
		win.cpu_on = !win.cpu_err;
	}
	win.start_ns = clk_now_ns();
	sum(&win.t0);
	bench_flow_snap(&win.f0, flow_tabs, opt.queues);
	win.started = true;
}

/* Ends the window (if it started): the counters' second read. A signal
 * that stopped the run ends the window at its arrival (the threads stop
 * within a burst of it). */
static void window_end(void)
{
	uint64_t sig_ns;

	if (!win.started || win.ended)
		return;
	win.end_ns = clk_now_ns();
	sum(&win.t1);
	bench_flow_snap(&win.f1, flow_tabs, opt.queues);
	if (win.cpu_on)
		bench_cpu_stop(&win.cpu);
	sig_ns = atomic_load(&stop_ns);
	if (sig_ns && sig_ns > win.start_ns && sig_ns < win.end_ns)
		win.end_ns = sig_ns;
	win.ended = true;
}

/* Runs the main loop until the run is over; returns true if it timed out.
 * Starts the measurement window at the end of --warmup. */
static bool supervise(uint64_t t0, const char **conn_err)
{
	uint64_t end = opt.duration_s > 0 ? t0 + (uint64_t)(opt.duration_s * 1e9) : UINT64_MAX;
	uint64_t tmo = opt.timeout_s > 0 ? t0 + (uint64_t)(opt.timeout_s * 1e9) : UINT64_MAX;
	uint64_t iv = (uint64_t)(opt.interval_s * 1e9), next_iv = t0 + iv, prev_ns = t0;
	uint64_t warm_end = opt.window_signal ? UINT64_MAX : t0 + (uint64_t)(opt.warmup_s * 1e9);
	bool rx_goal = opt.mode == MODE_RX || opt.mode == MODE_BOTH || opt.mode == MODE_ECHO;
	bool tx_goal = opt.mode == MODE_TX || opt.mode == MODE_BOTH || opt.mode == MODE_PING;
	bool has_goal = (opt.expect && rx_goal) || (opt.count && tx_goal);
	static struct bench_flow_snap fprev, fnow;
	struct totals prev, t;
	uint64_t drain_until = 0, rx_seen = 0, rx_last_ns = t0;
	uint64_t idle_end = (uint64_t)(opt.idle_end_s * 1e9);

	memset(&prev, 0, sizeof(prev));
	memset(&fprev, 0, sizeof(fprev));
	while (!atomic_load(&stop)) {
		uint64_t now = clk_now_ns(), nap = 10 * 1000 * 1000;
		int r;

		/* Wake up on time for the window's start, the end and the
		 * next interval. */
		if (!win.started && warm_end > now)
			nap = MIN(nap, warm_end - now);
		if (end > now)
			nap = MIN(nap, end - now);
		if (iv && next_iv > now)
			nap = MIN(nap, next_iv - now);
		sleep_ns(nap);
		now = clk_now_ns();
		if (!win.started && (now >= warm_end || atomic_load(&window_req)))
			window_start();
		r = vif_conn_poll(vif);
		if (r < 0 && !opt.server) {
			*conn_err = "backend disconnected";
			break;
		}
		sum(&t);
		if (t.fatal)
			break;
		if (iv && now >= next_iv) {
			bench_flow_snap(&fnow, flow_tabs, opt.queues);
			progress((double)(now - t0) / 1e9, &t, &prev, (double)(now - prev_ns) / 1e9,
				 &fnow, &fprev);
			prev = t;
			fprev = fnow;
			prev_ns = now;
			next_iv += iv;
			if (next_iv <= now)
				next_iv = now + iv; /* we were late: do not bunch up */
		}
		if (now >= end)
			break;
		if (t.rx_pkts != rx_seen) {
			rx_seen = t.rx_pkts;
			rx_last_ns = now;
		} else if (idle_end && rx_goal && rx_seen && now - rx_last_ns >= idle_end) {
			break;
		}
		if (now >= tmo)
			return has_goal; /* without goals --timeout is a duration */
		/* Goals: tx count sent (and, for "both", expect met); rx expect. */
		if (opt.expect && rx_goal && t.rx_data >= opt.expect &&
		    (!tx_goal || !opt.count || t.all_tx_done))
			break;
		if (tx_goal && opt.count && t.all_tx_done && !(opt.expect && rx_goal)) {
			/* "both" without --expect: give late frames 200 ms. */
			if (opt.mode != MODE_BOTH)
				break;
			if (!drain_until)
				drain_until = now + 200000000ull;
			else if (now >= drain_until)
				break;
		}
	}
	return false;
}

/* Figures of the measurement window, for the report. */
struct results {
	double window_s;        /* wall-clock length of the window */
	struct totals w;        /* counts within the window */
	double tx_pps, tx_bps, rx_pps, rx_bps; /* the reported rates */
	double flow_span_s;     /* what flow counts are divided by */
	struct bench_flow_set fl; /* flows, counts within the window */
	double pps[BENCH_MAX_FLOWS], bps[BENCH_MAX_FLOWS];
	double share[BENCH_MAX_FLOWS], share_bytes[BENCH_MAX_FLOWS];
	double jain_pps, jain_bps; /* -1: no flow */
};

static void totals_sub(struct totals *d, const struct totals *a, const struct totals *b)
{
	d->tx_pkts = a->tx_pkts - b->tx_pkts;
	d->tx_bytes = a->tx_bytes - b->tx_bytes;
	d->rx_pkts = a->rx_pkts - b->rx_pkts;
	d->rx_bytes = a->rx_bytes - b->rx_bytes;
	d->rx_data = a->rx_data - b->rx_data;
	d->rx_other = a->rx_other - b->rx_other;
	d->tx_refused = a->tx_refused - b->tx_refused;
	d->tx_full_calls = a->tx_full_calls - b->tx_full_calls;
	d->tx_late = a->tx_late - b->tx_late;
}

/* Rates: with --warmup, window counts over the window's length; without,
 * whole-run counts from the first to the last frame of each side (flows:
 * over the receiver's first-to-last span). */
static void compute_results(struct results *r, const struct totals *all, uint64_t txf,
			    uint64_t txl, uint64_t rxf, uint64_t rxl)
{
	uint64_t tot_p, tot_b;
	double x;

	memset(r, 0, sizeof(*r));
	if (win.started && win.ended) {
		r->window_s = (double)(win.end_ns - win.start_ns) / 1e9;
		totals_sub(&r->w, &win.t1, &win.t0);
		bench_flow_delta(&r->fl, flow_tabs, opt.queues, &win.f1, &win.f0);
	}
	if (opt.windowed) {
		x = r->window_s > 0 ? 1 / r->window_s : 0;
		r->tx_pps = (double)r->w.tx_pkts * x;
		r->tx_bps = (double)r->w.tx_bytes * 8 * x;
		r->rx_pps = (double)r->w.rx_pkts * x;
		r->rx_bps = (double)r->w.rx_bytes * 8 * x;
		r->flow_span_s = r->window_s;
	} else {
		r->tx_pps = rate_of(all->tx_pkts, txf, txl);
		r->tx_bps = all->tx_pkts ? r->tx_pps * (double)all->tx_bytes / (double)all->tx_pkts * 8 : 0;
		r->rx_pps = rate_of(all->rx_pkts, rxf, rxl);
		r->rx_bps = all->rx_pkts ? r->rx_pps * (double)all->rx_bytes / (double)all->rx_pkts * 8 : 0;
		r->flow_span_s = rxl > rxf ? (double)(rxl - rxf) / 1e9 : 0;
	}
	tot_p = r->fl.other_pkts;
	tot_b = r->fl.other_bytes;
	for (unsigned i = 0; i < r->fl.n; i++) {
		tot_p += r->fl.pkts[i];
		tot_b += r->fl.bytes[i];
	}
	x = r->flow_span_s > 0 ? 1 / r->flow_span_s : 0;
	for (unsigned i = 0; i < r->fl.n; i++) {
		r->pps[i] = (double)r->fl.pkts[i] * x;
		r->bps[i] = (double)r->fl.bytes[i] * 8 * x;
		r->share[i] = tot_p ? (double)r->fl.pkts[i] / (double)tot_p : 0;
		r->share_bytes[i] = tot_b ? (double)r->fl.bytes[i] / (double)tot_b : 0;
	}
	r->jain_pps = bench_jain(r->pps, r->fl.n);
	r->jain_bps = bench_jain(r->bps, r->fl.n);
}

/* A JSON number, or null for "undefined" (negative) */
static void json_num(const char *name, double v)
{
	if (v < 0)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%.6g", name, v);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void report_text(const struct results *r)
{
	const struct bench_cpu *c = &win.cpu;

	if (opt.windowed)
		printf("  window: %.3f s after %.3f s of warm-up; rates over the window%s\n",
		       r->window_s, opt.warmup_s, win.started ? "" : " (the run ended during warm-up)");
	if (opt.mode == MODE_TX || opt.mode == MODE_BOTH)
		printf("  tx ring: %" PRIu64 " calls took fewer than offered; refused %" PRIu64
		       " (%s); late %" PRIu64 "\n", r->w.tx_full_calls, r->w.tx_refused,
		       opt.rate_pps ? "frames the schedule lost to a full ring"
				    : "frames offered and not taken", r->w.tx_late);
	if (r->fl.n) {
		printf("  flows: %u", r->fl.n);
		if (r->jain_pps >= 0)
			printf(", jain pps %.4f bps %.4f", r->jain_pps, r->jain_bps);
		if (r->fl.other_pkts)
			printf(", other %" PRIu64 " frames %" PRIu64 " bytes", r->fl.other_pkts,
			       r->fl.other_bytes);
		printf("\n");
		for (unsigned i = 0; i < r->fl.n; i++) {
			char mac[18];

			bench_mac_str(r->fl.src[i], mac);
			printf("    %s %12" PRIu64 " frames %14" PRIu64 " bytes %10.0f pps %10.3f Mbit/s "
			       "share %.4f (bytes %.4f)\n", mac, r->fl.pkts[i], r->fl.bytes[i], r->pps[i],
			       r->bps[i] / 1e6, r->share[i], r->share_bytes[i]);
		}
	}
	if (opt.cpu_pid && !win.cpu_on) {
		printf("  cpu: pid %d not sampled: %s\n", opt.cpu_pid,
		       win.started ? strerror(-win.cpu_err) : "the run ended during warm-up");
	} else if (opt.cpu_pid) {
		if (c->perf)
			printf("  cpu: pid %d, method perf (CPU cycles%s)", opt.cpu_pid,
			       c->perf_kernel ? ", user + kernel" : ", user only");
		else
			printf("  cpu: pid %d, method proc (run time x TSC %.1f MHz; perf: %s)",
			       opt.cpu_pid, c->hz / 1e6, strerror(-c->perf_err));
		printf(": %.4f s, %.0f cycles", c->seconds, c->cycles);
		if (r->w.rx_pkts)
			printf(", %.0f cycles/rx frame", c->cycles / (double)r->w.rx_pkts);
		if (r->w.tx_pkts)
			printf(", %.0f cycles/tx frame", c->cycles / (double)r->w.tx_pkts);
		printf("\n");
		for (unsigned i = 0; i < c->nthreads; i++)
			printf("    tid %d %-15s %.4f s %.0f cycles\n", c->th[i].tid, c->th[i].name,
			       c->th[i].seconds, c->th[i].cycles);
	}
}

/* The fields added to the JSON line by the window, flows, timeline, cpu. */
static void report_json(const struct results *r)
{
	const struct bench_cpu *c = &win.cpu;
	char mac[18];

	printf(",\"warmup_s\":%.6g,\"window_s\":%.6f,\"rate_basis\":\"%s\"", opt.warmup_s, r->window_s,
	       opt.windowed ? "window" : "first_to_last");
	/* CLOCK_MONOTONIC, like vifd's stats time_ns: to line them up */
	printf(",\"t0_ns\":%" PRIu64 ",\"win_start_ns\":%" PRIu64 ",\"win_end_ns\":%" PRIu64,
	       run_t0_ns, win.start_ns, win.end_ns);
	printf(",\"win_tx_pkts\":%" PRIu64 ",\"win_tx_bytes\":%" PRIu64 ",\"win_rx_pkts\":%" PRIu64
	       ",\"win_rx_bytes\":%" PRIu64 ",\"win_rx_bench\":%" PRIu64 ",\"tx_refused\":%" PRIu64
	       ",\"tx_full_calls\":%" PRIu64 ",\"tx_late\":%" PRIu64, r->w.tx_pkts, r->w.tx_bytes,
	       r->w.rx_pkts, r->w.rx_bytes, r->w.rx_data, r->w.tx_refused, r->w.tx_full_calls,
	       r->w.tx_late);
	printf(",\"flows\":[");
	for (unsigned i = 0; i < r->fl.n; i++) {
		bench_mac_str(r->fl.src[i], mac);
		printf("%s{\"src\":\"%s\",\"pkts\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"pps\":%.3f,"
		       "\"bps\":%.3f,\"share\":%.6f,\"share_bytes\":%.6f}", i ? "," : "", mac,
		       r->fl.pkts[i], r->fl.bytes[i], r->pps[i], r->bps[i], r->share[i],
		       r->share_bytes[i]);
	}
	printf("],\"flows_other_pkts\":%" PRIu64 ",\"flows_other_bytes\":%" PRIu64,
	       r->fl.other_pkts, r->fl.other_bytes);
	json_num("jain_pps", r->jain_pps);
	json_num("jain_bps", r->jain_bps);
	printf(",\"timeline\":[");
	for (size_t k = 0; k < ntimeline; k++) {
		const struct tl_entry *e = &timeline[k];

		printf("%s{\"t\":%.3f,\"dt\":%.3f,\"tx_pps\":%.1f,\"rx_pps\":%.1f,\"flows\":[",
		       k ? "," : "", e->t, e->dt, e->tx_pps, e->rx_pps);
		for (unsigned i = 0; i < e->set.n; i++) {
			bench_mac_str(e->set.src[i], mac);
			printf("%s{\"src\":\"%s\",\"pps\":%.1f,\"bps\":%.1f}", i ? "," : "", mac,
			       (double)e->set.pkts[i] / e->dt, (double)e->set.bytes[i] * 8 / e->dt);
		}
		printf("]}");
	}
	printf("]");
	if (!win.cpu_on) {
		printf(",\"cpu_pid\":%d,\"cpu_method\":null,\"cpu_seconds\":null,\"cpu_cycles\":null",
		       opt.cpu_pid);
		return;
	}
	printf(",\"cpu_pid\":%d,\"cpu_method\":\"%s\",\"cpu_perf_kernel\":%s", opt.cpu_pid,
	       c->perf ? "perf" : "proc", c->perf && c->perf_kernel ? "true" : "false");
	printf(",\"cpu_perf_error\":");
	json_str(c->perf ? "" : strerror(-c->perf_err));
	printf(",\"cpu_seconds\":%.6f,\"cpu_seconds_source\":\"%s\",\"cpu_cycles\":%.0f,"
	       "\"cpu_hz\":%.0f", c->seconds, c->seconds_src, c->cycles, c->hz);
	json_num("cpu_cycles_per_rx_frame", r->w.rx_pkts ? c->cycles / (double)r->w.rx_pkts : -1);
	json_num("cpu_cycles_per_tx_frame", r->w.tx_pkts ? c->cycles / (double)r->w.tx_pkts : -1);
	printf(",\"cpu_threads\":[");
	for (unsigned i = 0; i < c->nthreads; i++) {
		printf("%s{\"tid\":%d,\"name\":", i ? "," : "", c->th[i].tid);
		json_str(c->th[i].name);
		printf(",\"cpu_seconds\":%.6f,\"cpu_cycles\":%.0f}", c->th[i].seconds, c->th[i].cycles);
	}
	printf("]");
}

int main(int argc, char **argv)
{
	struct vif_config cfg;
	struct vif_stats vs;
	struct totals t;
	const char *conn_err = NULL;
	uint64_t t0, t1, txf = UINT64_MAX, txl = 0, rxf = UINT64_MAX, rxl = 0;
	uint64_t *rtt = NULL, missing = 0;
	size_t nrtt = 0;
	double p50 = 0, p99 = 0, pmax = 0, txpps, rxpps;
	static struct results res;
	bool timed_out, ok = true;
	char why[512] = "";
	int err;

	if (parse_opts(argc, argv))
		return 2;
	pattern_init();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, opt.window_signal ? on_window_signal : SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	vif_config_init(&cfg);
	cfg.path = opt.sock;
	cfg.server = opt.server;
	cfg.queue_pairs = opt.queues;
	cfg.tx_seg_size = opt.seg;
	cfg.tx_indirect = opt.indirect;
	cfg.no_mrg_rxbuf = opt.no_mrg;
	cfg.packed = opt.packed;
	cfg.no_event_idx = opt.no_event_idx;
	cfg.no_inflight = opt.no_inflight;
	if (opt.ring_size)
		cfg.ring_size = opt.ring_size;
	if (opt.rx_buf)
		cfg.rx_buf_size = opt.rx_buf;
	memcpy(cfg.mac, opt.src_mac, 6);
	cfg.timeout_ms = opt.timeout_s > 0 ? (unsigned)(opt.timeout_s * 1000) : 10000;
	cfg.ctrl_vq = opt.ctrl_mq > 0;
	err = vif_open(&cfg, &vif);
	if (err) {
		fprintf(stderr, "vifbench: vif_open %s: %s (%s)\n", opt.sock, vif_last_error(),
			strerror(-err));
		return 1;
	}
	if (opt.ctrl_mq) {
		/* One pair: no MQ, nothing to set; the control queue must still
		 * have been negotiated. */
		const char *why_not = NULL;

		if (opt.queues > 1 && (err = vif_ctrl_mq_pairs(vif, opt.ctrl_mq)) < 0)
			why_not = vif_last_error();
		else if (!(vif_features(vif) & 1ull << VIRTIO_NET_F_CTRL_VQ))
			why_not = "backend does not offer VIRTIO_NET_F_CTRL_VQ";
		if (why_not) {
			fprintf(stderr, "vifbench: --ctrl-mq %u: %s\n", opt.ctrl_mq, why_not);
			vif_close(vif);
			return 1;
		}
		opt.queues = opt.ctrl_mq; /* one thread per pair the backend uses */
	}
	qs = aligned_alloc(CACHE_LINE, sizeof(*qs) * opt.queues);
	flow_tabs = aligned_alloc(CACHE_LINE, sizeof(*flow_tabs) * opt.queues);
	if (!qs || !flow_tabs) {
		free(qs);
		free(flow_tabs);
		vif_close(vif);
		return 1;
	}
	memset(qs, 0, sizeof(*qs) * opt.queues);
	memset(flow_tabs, 0, sizeof(*flow_tabs) * opt.queues);
	t0 = run_t0_ns = clk_now_ns();
	if (opt.warmup_s <= 0 && !opt.window_signal)
		window_start();
	for (unsigned i = 0; i < opt.queues; i++) {
		qs[i].q = i;
		qs[i].flows = &flow_tabs[i];
		if (pthread_create(&qs[i].tid, NULL, queue_thread, &qs[i])) {
			fprintf(stderr, "vifbench: pthread_create failed\n");
			atomic_store(&stop, true);
			for (unsigned j = 0; j < i; j++)
				pthread_join(qs[j].tid, NULL);
			vif_close(vif);
			return 1;
		}
	}
	timed_out = supervise(t0, &conn_err);
	if (opt.windowed)
		window_end();
	atomic_store(&stop, true);
	for (unsigned i = 0; i < opt.queues; i++)
		pthread_join(qs[i].tid, NULL);
	t1 = clk_now_ns();
	window_end(); /* without --warmup: the whole run's counts */
	vif_get_stats(vif, &vs);
	vif_close(vif);

	sum(&t);
	for (unsigned i = 0; i < opt.queues; i++) {
		struct bench_q *b = &qs[i];

		if (b->tx_first_ns) {
			txf = MIN(txf, b->tx_first_ns);
			txl = MAX(txl, b->tx_last_ns);
		}
		if (b->rx_first_ns) {
			rxf = MIN(rxf, b->rx_first_ns);
			rxl = MAX(rxl, b->rx_last_ns);
		}
		nrtt += b->nrtt;
	}
	if (nrtt) {
		rtt = malloc(nrtt * sizeof(*rtt));
		nrtt = 0;
		for (unsigned i = 0; rtt && i < opt.queues; i++) {
			memcpy(rtt + nrtt, qs[i].rtt, qs[i].nrtt * sizeof(*rtt));
			nrtt += qs[i].nrtt;
		}
		if (rtt) {
			qsort(rtt, nrtt, sizeof(*rtt), cmp_u64);
			p50 = (double)rtt[(nrtt - 1) / 2] / 1e3;
			p99 = (double)rtt[(size_t)((double)(nrtt - 1) * 0.99)] / 1e3;
			pmax = (double)rtt[nrtt - 1] / 1e3;
		}
	}
	compute_results(&res, &t, txf, txl, rxf, rxl);
	txpps = res.tx_pps;
	rxpps = res.rx_pps;

	/* Checks, each adding its reason. */
#define FAIL(...) do { ok = false; snprintf(why + strlen(why), sizeof(why) - strlen(why), \
					     __VA_ARGS__); } while (0)
	for (unsigned i = 0; i < opt.queues; i++)
		if (atomic_load(&qs[i].fatal))
			FAIL("%s; ", qs[i].err);
	if (conn_err)
		FAIL("%s; ", conn_err);
	if (timed_out)
		FAIL("timeout after %.1fs; ", opt.timeout_s);
	if (opt.verify && opt.mode != MODE_ECHO && (t.errors || t.ooo || (t.lost && !opt.loss_ok)))
		FAIL("verify: %" PRIu64 " errors %" PRIu64 " out of order %" PRIu64 " lost; ",
		     t.errors, t.ooo, t.lost);
	if (opt.expect && opt.mode != MODE_TX && t.rx_data < opt.expect) {
		missing = opt.expect - t.rx_data;
		if (!opt.loss_ok)
			FAIL("expected %" PRIu64 " frames, got %" PRIu64 "; ", opt.expect, t.rx_data);
	}
	if (opt.count && (opt.mode == MODE_TX || opt.mode == MODE_BOTH) &&
	    t.tx_pkts < opt.count * opt.queues)
		FAIL("sent %" PRIu64 " of %" PRIu64 " frames; ", t.tx_pkts, opt.count * opt.queues);
	if (opt.mode == MODE_PING && (t.ping_lost || !t.ping_recv))
		FAIL("ping: %" PRIu64 " of %" PRIu64 " lost; ", t.ping_lost, t.ping_sent);
	if (opt.cpu_pid && win.started && !win.cpu_on)
		FAIL("--cpu-pid %d: %s; ", opt.cpu_pid, strerror(-win.cpu_err));

	printf("vifbench %s on %s, %u queue pair(s), sizes %u-%u, %.3f s\n", mode_name(opt.mode),
	       opt.sock, opt.queues, opt.size_min, opt.size_max, (double)(t1 - t0) / 1e9);
	printf("  tx: %" PRIu64 " frames %" PRIu64 " bytes, %.0f pps, %.3f Gbit/s (frame bytes x8); "
	       "ring full refusals %" PRIu64 "\n", t.tx_pkts, t.tx_bytes, txpps, res.tx_bps / 1e9,
	       vs.tx_ring_full);
	printf("  rx: %" PRIu64 " frames %" PRIu64 " bytes, %.0f pps, %.3f Gbit/s (frame bytes x8); "
	       "bench %" PRIu64 " other %" PRIu64 " truncated %" PRIu64 " bad %" PRIu64 "\n",
	       t.rx_pkts, t.rx_bytes, rxpps, res.rx_bps / 1e9,
	       t.rx_data, t.rx_other, vs.rx_truncated, vs.rx_bad);
	report_text(&res);
	if (opt.verify)
		printf("  verify: errors %" PRIu64 " out_of_order %" PRIu64 " lost %" PRIu64
		       " missing %" PRIu64 "\n", t.errors, t.ooo, t.lost, missing);
	if (opt.mode == MODE_PING)
		printf("  ping: %" PRIu64 " sent %" PRIu64 " answered, rtt p50 %.1f us p99 %.1f us "
		       "max %.1f us\n", t.ping_sent, t.ping_recv, p50, p99, pmax);
	if (vs.rx_calls)
		printf("  rx calls: %" PRIu64 " (%.3f per frame received)\n", vs.rx_calls,
		       t.rx_pkts ? (double)vs.rx_calls / (double)t.rx_pkts : 0.0);
	if (vs.reconnects)
		printf("  reconnects: %" PRIu64 "\n", vs.reconnects);
	printf("  result: %s%s%s\n", ok ? "PASS" : "FAIL", ok ? "" : ": ", why);
	if (opt.json) {
		printf("{\"mode\":\"%s\",\"queues\":%u,\"size_min\":%u,\"size_max\":%u,"
		       "\"elapsed_s\":%.6f,\"tx_pkts\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
		       ",\"tx_pps\":%.1f,\"tx_bps\":%.1f,\"tx_ring_full\":%" PRIu64
		       ",\"rx_pkts\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"rx_pps\":%.1f,"
		       "\"rx_bps\":%.1f,\"rx_bench\":%" PRIu64 ",\"rx_other\":%" PRIu64
		       ",\"rx_truncated\":%" PRIu64 ",\"rx_bad\":%" PRIu64 ",\"errors\":%" PRIu64
		       ",\"out_of_order\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"missing\":%" PRIu64
		       ",\"ping_sent\":%" PRIu64 ",\"ping_recv\":%" PRIu64 ",\"rtt_p50_us\":%.2f,"
		       "\"rtt_p99_us\":%.2f,\"rtt_max_us\":%.2f,\"reconnects\":%" PRIu64
		       ",\"rx_calls\":%" PRIu64 ",\"bps_basis\":\"frame_bytes*8\"",
		       mode_name(opt.mode), opt.queues, opt.size_min, opt.size_max,
		       (double)(t1 - t0) / 1e9, t.tx_pkts, t.tx_bytes, txpps,
		       res.tx_bps, vs.tx_ring_full, t.rx_pkts, t.rx_bytes, rxpps, res.rx_bps,
		       t.rx_data, t.rx_other, vs.rx_truncated, vs.rx_bad, t.errors, t.ooo, t.lost,
		       missing, t.ping_sent, t.ping_recv, p50, p99, pmax, vs.reconnects, vs.rx_calls);
		report_json(&res);
		printf(",\"ok\":%s}\n", ok ? "true" : "false");
	}
	for (unsigned i = 0; i < opt.queues; i++)
		free(qs[i].rtt);
	free(qs);
	free(flow_tabs);
	free(timeline);
	free(rtt);
	return ok ? 0 : 1;
}
