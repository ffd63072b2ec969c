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
 * once a millisecond (re-anchoring and re-measuring the TSC's rate), two
 * multiplications in between. For a datapath loop that wants the time on
 * every iteration; never goes backwards. Single thread, no locks. */
struct clk_tsc {
	uint64_t tsc0, ns0;     /* the last anchor */
	uint64_t mult;          /* ns per TSC cycle, 32.32 fixed point */
	uint64_t next;          /* TSC of the next anchor */
	uint64_t span;          /* TSC cycles between anchors (~1 ms) */
	uint64_t last;          /* the last time returned */
};

/* Measures the TSC's rate for ~1 ms (busy) and anchors. */
static inline void clk_tsc_init(struct clk_tsc *c)
{
	uint64_t n0 = clk_now_ns(), t0 = clk_cycles(), n1, t1;

	do {
		n1 = clk_now_ns();
		t1 = clk_cycles();
	} while (n1 - n0 < 1000000);
	c->mult = t1 > t0 ? (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0)) : 1ull << 32;
	c->span = t1 > t0 ? t1 - t0 : 1;
	c->tsc0 = t1;
	c->ns0 = n1;
	c->next = t1 + c->span;
	c->last = n1;
}

/* Anchors again: the clock and the TSC read together. */
static inline uint64_t clk_tsc_sync(struct clk_tsc *c)
{
	uint64_t ns = clk_now_ns(), tsc = clk_cycles();

	/* Re-measure the rate over the last interval when it was long enough
	 * to be precise (at least the usual span); keep it otherwise. */
	if (tsc > c->tsc0 && tsc - c->tsc0 >= c->span && ns > c->ns0)
		c->mult = (uint64_t)(((unsigned __int128)(ns - c->ns0) << 32) / (tsc - c->tsc0));
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
