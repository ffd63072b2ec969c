/* bench_cpu.h - CPU another process (vifd) spends over vifbench's
 * measurement window (--cpu-pid). Main thread only.
 *
 * Method "perf": one PERF_COUNT_HW_CPU_CYCLES counter per thread of the
 * process (/proc/PID/task/ *), opened at the window start with inherit (so
 * threads those threads create later are counted too), kernel included when
 * allowed (else user space only, cpu_perf_kernel false). Method "proc", when
 * perf_event_open() fails (no PMU in a VM: ENOENT/EOPNOTSUPP; EACCES):
 * cycles = CPU seconds x the TSC frequency measured over the window.
 *
 * CPU seconds come from each thread's /proc/PID/task/TID/schedstat (run
 * time in ns) in both methods, or from utime+stime of /proc/PID/stat (clock
 * ticks) when schedstat cannot be read. Threads that start after the window
 * start are counted only through perf's inherit (not by seconds). */
#ifndef VIFBENCH_BENCH_CPU_H
#define VIFBENCH_BENCH_CPU_H

#include <stdbool.h>
#include <stdint.h>

enum { BENCH_CPU_MAX_THREADS = 128 };

struct bench_cpu_thread {
	int tid;
	char name[16];           /* /proc/PID/task/TID/comm */
	int fd;                  /* perf counter or -1 */
	uint64_t cyc0, cyc1;     /* perf counts at start and stop (scaled if multiplexed) */
	uint64_t run0_ns, run1_ns; /* schedstat run time; run_ok: both read */
	bool run_ok;
	double seconds, cycles;  /* results of this thread */
};

struct bench_cpu {
	int pid;
	bool perf;               /* method: true = perf, false = proc */
	bool perf_kernel;        /* perf counters include kernel mode */
	int perf_err;            /* why perf was not used (-errno), 0 if it was */
	bool ticks_ok;
	uint64_t ticks0, ticks1; /* /proc/PID/stat utime + stime */
	uint64_t tsc0, tsc1, ns0, ns1; /* clk_cycles() and clk_now_ns() at start, stop */
	unsigned nthreads;
	struct bench_cpu_thread th[BENCH_CPU_MAX_THREADS];
	/* Results (after bench_cpu_stop). */
	double seconds, cycles, hz; /* hz: TSC frequency (cycles per second of clk_cycles()) */
	const char *seconds_src; /* "schedstat" or "stat" */
};

/* Starts sampling process pid. Returns 0 or -errno (-ESRCH: no such
 * process). */
int bench_cpu_start(struct bench_cpu *c, int pid);

/* Ends the window and computes the results; closes the counters. */
void bench_cpu_stop(struct bench_cpu *c);

/* Closes counters of a sampling that was started and never stopped. */
void bench_cpu_close(struct bench_cpu *c);

#endif
