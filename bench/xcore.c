/* xcore.c - how far apart two CPUs are: the one-way latency of handing a
 * cache line from CPU A to CPU B and back, in nanoseconds.
 *
 * On this VM the host moves the two vCPUs between cores that share a cache
 * and cores that do not; the hand-over then changes from ~25 ns to ~170 ns
 * from one second to the next, and every switch between guest rings (vifd,
 * testpmd, OVS alike) slows down 2-3x with it, because each frame's lines
 * cross from the generator's core to the switch's. bench/run.sh runs this
 * before and after each measurement window to tell which placement a
 * window ran on.
 *
 * Either CPU may be shared with a busy-polling thread: the figure is the
 * fastest batch of 64 round trips within the run time (a batch that ran
 * while both threads had their CPU), not the mean. When no batch has
 * completed by then (both CPUs that busy), it goes on until one does, for
 * at most a second more; if none does, it says so and exits with status 3
 * (the placement could not be seen, which is not an error of the probe).
 *
 * Usage: xcore [CPU_A CPU_B [MILLISECONDS]]   (default 0 1 30)
 * Prints the latency in ns (one decimal) on one line. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { BATCH = 64 };

static struct {
	_Atomic uint64_t v;
	char pad[56];
} line __attribute__((aligned(64)));

static _Atomic int stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* Answers each odd value with the next even one. */
static void *pong(void *arg)
{
	if (pin(*(int *)arg) != 0)
		return (void *)1;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t v = atomic_load_explicit(&line.v, memory_order_acquire);
		if (v & 1)
			atomic_store_explicit(&line.v, v + 1, memory_order_release);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int a = argc > 2 ? atoi(argv[1]) : 0, b = argc > 2 ? atoi(argv[2]) : 1;
	uint64_t ms = argc > 3 ? strtoull(argv[3], NULL, 10) : 30;
	uint64_t end, give_up, best = UINT64_MAX, v = 0;
	pthread_t th;
	void *ret;

	if (argc == 2 || argc > 4 || ms == 0 || ms > 10000) {
		fprintf(stderr, "usage: xcore [CPU_A CPU_B [MILLISECONDS (1..10000)]]\n");
		return 2;
	}
	if (pin(a) != 0) {
		fprintf(stderr, "xcore: cannot run on CPU %d\n", a);
		return 1;
	}
	if (pthread_create(&th, NULL, pong, &b) != 0) {
		fprintf(stderr, "xcore: cannot start a thread\n");
		return 1;
	}
	end = now_ns() + ms * 1000000ull;
	give_up = end + 1000000000ull;
	for (uint64_t t; (t = now_ns()) < end || (best == UINT64_MAX && t < give_up);) {
		uint64_t t0 = now_ns(), dt;
		int i;

		for (i = 0; i < BATCH; i++) {
			uint64_t deadline = t0 + 1000000; /* pong descheduled: next batch */
			atomic_store_explicit(&line.v, v + 1, memory_order_release);
			for (unsigned spins = 1;
			     atomic_load_explicit(&line.v, memory_order_acquire) != v + 2; spins++)
				if ((spins & 1023) == 0 && now_ns() > deadline)
					break;
			if (atomic_load_explicit(&line.v, memory_order_acquire) != v + 2)
				break;
			v += 2;
		}
		if (i < BATCH) {
			/* Wait for the answer before the next batch. */
			while (atomic_load_explicit(&line.v, memory_order_acquire) & 1)
				if (now_ns() > give_up + 1000000000ull)
					break;
			v = atomic_load_explicit(&line.v, memory_order_acquire);
			continue;
		}
		dt = now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	atomic_store(&stop, 1);
	pthread_join(th, &ret);
	if (ret != NULL) {
		fprintf(stderr, "xcore: cannot run on CPU %d\n", b);
		return 1;
	}
	if (best == UINT64_MAX) {
		fprintf(stderr, "xcore: no batch completed in %llu ms (CPU %d busy?)\n",
		        (unsigned long long)ms + 1000, b);
		return 3;
	}
	printf("%.1f\n", (double)best / (2.0 * BATCH));
	return 0;
}
