/* bench_cpu.c - CPU cost of another process over a window: perf cycle
 * counters per thread, or /proc run time x TSC frequency (bench_cpu.h).
 * The process is someone else's: every file may vanish or be cut short
 * between two reads, and each read is checked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_cpu.h"
#include "clk.h"

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* utime + stime (clock ticks) of /proc/PID/stat or /proc/PID/task/TID/stat. */
static int read_ticks(const char *path, uint64_t *out)
{
	char buf[1024], *p;
	unsigned long long ut, st;

	if (read_small(path, buf, sizeof(buf)))
		return -1;
	p = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	*out = ut + st;
	return 0;
}

static int read_run_ns(int pid, int tid, uint64_t *out)
{
	char path[64], buf[128];
	unsigned long long ns;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	if (read_small(path, buf, sizeof(buf)) || sscanf(buf, "%llu", &ns) != 1)
		return -1;
	*out = ns;
	return 0;
}

static int perf_open(int tid, bool kernel)
{
	struct perf_event_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_CPU_CYCLES;
	a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
	a.inherit = 1;
	a.exclude_hv = 1;
	a.exclude_kernel = !kernel;
	fd = syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

/* Count of a perf counter, scaled up if it was multiplexed. */
static uint64_t perf_read(int fd)
{
	uint64_t v[3];

	if (read(fd, v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	if (v[2] && v[2] < v[1])
		return (uint64_t)((double)v[0] * (double)v[1] / (double)v[2]);
	return v[0];
}

/* Opens thread th's counter, deciding the method on the first thread.
 * Returns false when the thread is gone (skip it). */
static bool thread_perf(struct bench_cpu *c, struct bench_cpu_thread *th, bool first)
{
	int fd;

	th->fd = -1;
	if (!first && !c->perf)
		return true;
	fd = perf_open(th->tid, first ? true : c->perf_kernel);
	if (first && (fd == -EACCES || fd == -EPERM)) {
		fd = perf_open(th->tid, false);
		c->perf_kernel = false;
	} else if (first) {
		c->perf_kernel = true;
	}
	if (fd == -ESRCH)
		return false;
	if (fd < 0) {
		/* No PMU (VM), not allowed, or not supported: /proc for all. */
		c->perf = false;
		c->perf_err = fd;
		for (unsigned i = 0; i < c->nthreads; i++) {
			if (c->th[i].fd >= 0)
				close(c->th[i].fd);
			c->th[i].fd = -1;
		}
		return true;
	}
	if (first)
		c->perf = true;
	th->fd = fd;
	return true;
}

int bench_cpu_start(struct bench_cpu *c, int pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	bool first = true;

	memset(c, 0, sizeof(*c));
	c->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d)) && c->nthreads < BENCH_CPU_MAX_THREADS) {
		struct bench_cpu_thread *th = &c->th[c->nthreads];
		char p2[96];
		int tid = atoi(de->d_name);

		if (tid <= 0)
			continue;
		memset(th, 0, sizeof(*th));
		th->tid = tid;
		snprintf(p2, sizeof(p2), "/proc/%d/task/%d/comm", pid, tid);
		if (read_small(p2, th->name, sizeof(th->name)))
			continue; /* gone */
		th->name[strcspn(th->name, "\n")] = 0;
		th->run_ok = !read_run_ns(pid, tid, &th->run0_ns);
		if (!thread_perf(c, th, first))
			continue;
		first = false;
		c->nthreads++;
	}
	closedir(d);
	if (!c->nthreads)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	c->ticks_ok = !read_ticks(path, &c->ticks0);
	c->tsc0 = clk_cycles();
	c->ns0 = clk_now_ns();
	return 0;
}

void bench_cpu_stop(struct bench_cpu *c)
{
	char path[64];
	double run_s = 0, tsc_s;
	bool all_run = true;

	c->tsc1 = clk_cycles();
	c->ns1 = clk_now_ns();
	for (unsigned i = 0; i < c->nthreads; i++) {
		struct bench_cpu_thread *th = &c->th[i];

		if (th->fd >= 0)
			th->cyc1 = perf_read(th->fd);
		if (th->run_ok)
			th->run_ok = !read_run_ns(c->pid, th->tid, &th->run1_ns);
		all_run &= th->run_ok;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", c->pid);
	c->ticks_ok = c->ticks_ok && !read_ticks(path, &c->ticks1);
	bench_cpu_close(c);

	tsc_s = (double)(c->ns1 - c->ns0) / 1e9;
	c->hz = tsc_s > 0 ? (double)(c->tsc1 - c->tsc0) / tsc_s : 0;
	for (unsigned i = 0; i < c->nthreads; i++) {
		struct bench_cpu_thread *th = &c->th[i];

		th->seconds = th->run_ok ? (double)(th->run1_ns - th->run0_ns) / 1e9 : 0;
		th->cycles = c->perf ? (double)(th->cyc1 - th->cyc0) : th->seconds * c->hz;
		run_s += th->seconds;
		c->cycles += c->perf ? th->cycles : 0;
	}
	if (all_run || !c->ticks_ok) {
		c->seconds = run_s;
		c->seconds_src = "schedstat";
	} else {
		c->seconds = (double)(c->ticks1 - c->ticks0) / (double)sysconf(_SC_CLK_TCK);
		c->seconds_src = "stat";
	}
	if (!c->perf)
		c->cycles = c->seconds * c->hz;
}

void bench_cpu_close(struct bench_cpu *c)
{
	for (unsigned i = 0; i < c->nthreads; i++) {
		if (c->th[i].fd >= 0)
			close(c->th[i].fd);
		c->th[i].fd = -1;
	}
}
