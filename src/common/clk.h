/* clk.h - clocks. clk_now_ns() is CLOCK_MONOTONIC (vDSO, no syscall);
 * clk_cycles() is the TSC, used for per-worker cycle accounting. */
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

#endif
