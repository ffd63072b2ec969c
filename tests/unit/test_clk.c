/* test_clk.c - the datapath's TSC-interpolated clock (clk.h): it stays
 * within a few microseconds of CLOCK_MONOTONIC read around it, never goes
 * backwards, and catches up after the thread sleeps. */
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "clk.h"

enum { SLACK_NS = 20000 };

/* Reads the interpolated clock between two CLOCK_MONOTONIC reads. */
static void bracket(struct clk_tsc *c, uint64_t *prev, unsigned *bad)
{
	uint64_t before = clk_now_ns();
	uint64_t t = clk_tsc_now(c, clk_cycles());
	uint64_t after = clk_now_ns();

	if (t + SLACK_NS < before || t > after + SLACK_NS) {
		if ((*bad)++ < 3)
			CHECKF(0, "interpolated %llu outside [%llu, %llu] +- %d ns",
			       (unsigned long long)t, (unsigned long long)before,
			       (unsigned long long)after, SLACK_NS);
	}
	CHECK(t >= *prev);
	*prev = t;
}

int main(void)
{
	struct clk_tsc c;
	uint64_t prev = 0, end;
	unsigned bad = 0, n = 0;

	clk_tsc_init(&c);
	CHECK(c.mult > 0);
	/* 300 ms of busy reads: many re-anchors. */
	end = clk_now_ns() + 300000000ull;
	while (clk_now_ns() < end) {
		bracket(&c, &prev, &bad);
		n++;
	}
	CHECK(n > 1000);
	/* Sleeps of 0.1 to 50 ms between reads, as a worker sleeps. */
	for (long ms = 0; ms <= 50; ms += 10) {
		struct timespec ts = { 0, ms ? ms * 1000000 : 100000 };
		nanosleep(&ts, NULL);
		bracket(&c, &prev, &bad);
		bracket(&c, &prev, &bad);
	}
	CHECK_EQ(bad, 0);
	return check_result("test_clk");
}
