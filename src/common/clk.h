/* clk.h - clocks. clk_now_ns() is CLOCK_MONOTONIC (vDSO, no syscall);
 * clk_cycles() is the TSC, used for per-worker cycle accounting;
 * clk_tsc_now() is CLOCK_MONOTONIC interpolated from the TSC for loops
 * that read the time on every iteration. */
#ifndef VIFD_CLK_H
#define VIFD_CLK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clk_cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return clk_now_ns();
#endif
}


/* A thread's CLOCK_MONOTONIC interpolated from the TSC: clock_gettime()
 * once a millisecond (re-anchoring), two multiplications in between. For a
 * datapath loop that wants the time on every iteration; never goes
 * backwards. Single thread, no locks.
 *
 * An anchor is a (clock, TSC) pair read as one: the TSC is read on both
 * sides of the clock and a pair whose two reads are far apart (the thread
 * was preempted between them, as happens on a busy machine) is read again,
 * since it would put the anchor off by the gap. The TSC's rate is measured
 * from the first anchor to the latest, so an anchor's small error shrinks
 * with the time since the first (measuring it over the last millisecond
 * instead turned a 70 us preemption into a rate 7% off, and the clock ran
 * ahead by as much before the next anchor). */
struct clk_tsc {
	uint64_t tsc_base, ns_base; /* the first anchor: the rate's origin */
	uint64_t tsc0, ns0;     /* the last anchor */
	uint64_t mult;          /* ns per TSC cycle, 32.32 fixed point */
	uint64_t next;          /* TSC of the next anchor */
	uint64_t span;          /* TSC cycles between anchors (~1 ms) */
	uint64_t last;          /* the last time returned */
};

enum {
	CLK_PAIR_TRIES = 4,
	CLK_PAIR_GOOD_CYCLES = 2048, /* a vDSO clock read takes ~100 cycles */
};

/* Reads CLOCK_MONOTONIC and the TSC at (nearly) the same instant: the
 * tightest of up to CLK_PAIR_TRIES brackets, the TSC taken at its middle. */
static inline void clk_pair(uint64_t *ns, uint64_t *tsc)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < CLK_PAIR_TRIES && best > CLK_PAIR_GOOD_CYCLES; i++) {
		uint64_t a = clk_cycles(), n = clk_now_ns(), b = clk_cycles();

		if (i == 0 || (b >= a && b - a < best)) {
			best = b >= a ? b - a : UINT64_MAX;
			*ns = n;
			*tsc = a + (b >= a ? (b - a) / 2 : 0);
		}
	}
}

/* ns per cycle (32.32) between two anchors. */
static inline uint64_t clk_rate(uint64_t dns, uint64_t dtsc)
{
	return dtsc ? (uint64_t)(((unsigned __int128)dns << 32) / dtsc) : 1ull << 32;
}

/* Measures the TSC's rate for ~1 ms (busy) and anchors. */
static inline void clk_tsc_init(struct clk_tsc *c)
{
	uint64_t n0, t0, n1, t1;

	clk_pair(&n0, &t0);
	do
		clk_pair(&n1, &t1);
	while (n1 - n0 < 1000000);
	c->mult = t1 > t0 && n1 > n0 ? clk_rate(n1 - n0, t1 - t0) : 1ull << 32;
	c->span = t1 > t0 ? t1 - t0 : 1;
	c->tsc_base = t0;
	c->ns_base = n0;
	c->tsc0 = t1;
	c->ns0 = n1;
	c->next = t1 + c->span;
	c->last = n1;
}

/* Anchors again: the clock and the TSC read together. */
static inline uint64_t clk_tsc_sync(struct clk_tsc *c)
{
	uint64_t ns, tsc;

	clk_pair(&ns, &tsc);
	if (tsc < c->tsc0 || ns < c->ns_base) {
		/* The TSC went backwards (another CPU's, not in step): start
		 * the rate's measurement again from here. */
		c->tsc_base = tsc;
		c->ns_base = ns;
	} else if (tsc - c->tsc_base >= c->span) {
		c->mult = clk_rate(ns - c->ns_base, tsc - c->tsc_base);
	}
	c->tsc0 = tsc;
	c->ns0 = ns;
	c->next = tsc + c->span;
	if (ns < c->last)
		ns = c->last;
	c->last = ns;
	return ns;
}

/* The time at TSC value tsc (a clk_cycles() just read). */
static inline uint64_t clk_tsc_now(struct clk_tsc *c, uint64_t tsc)
{
	uint64_t ns;

	if (tsc >= c->next || tsc < c->tsc0)
		return clk_tsc_sync(c);
	ns = c->ns0 + (uint64_t)(((unsigned __int128)(tsc - c->tsc0) * c->mult) >> 32);
	if (ns < c->last)
		ns = c->last;
	c->last = ns;
	return ns;
}

#endif
