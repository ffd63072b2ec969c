/* test_reply.c - the worker's guess that a port answers what it is sent
 * (src/dp/dp_reply.h), driven by the sequences of events a worker sees. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "dp_reply.h"

static struct dp_reply r;

/* One busy iteration after a gap of gap_ns (0: right after the last busy
 * one, no idle between): frames from `from`, sent on to `to` (-1: none).
 * Returns the window to poll for an answer. */
static uint64_t iteration(uint64_t gap_ns, int from, int to)
{
	dp_reply_begin(&r);
	dp_reply_rx(&r, (unsigned)from);
	if (to >= 0)
		dp_reply_sent(&r, (unsigned)to);
	if (gap_ns)
		dp_reply_learn(&r, gap_ns);
	return dp_reply_window(&r);
}

/* A pinger on port 1, every 500 us, an echo on port 2 answering in 30 us:
 * after a few round trips the worker waits for the echo (2 x 30 us +
 * slack), never for the pinger (its next ping comes too late). */
static void test_ping_echo(void)
{
	uint64_t to_echo = 0, to_pinger = 0;

	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 20; i++) {
		to_echo = iteration(470000, 1, 2);
		to_pinger = iteration(30000, 2, 1);
		if (i == 0)
			CHECK_EQ(to_echo, 0); /* nothing known yet */
	}
	CHECK_EQ(to_echo, 2 * 30000 + DP_REPLY_SLACK_NS);
	CHECK_EQ(to_pinger, 0);
	CHECK_EQ(r.score[2], DP_REPLY_TOP);
	CHECK_EQ(r.score[1], 0);
}

/* An answer that takes longer than DP_REPLY_MAX_NS is not waited for, and
 * the window never exceeds it however the delays move. */
static void test_slow_answers(void)
{
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(iteration(400000, 1, 2), 0);
		iteration(DP_REPLY_MAX_NS + 1, 2, 1);
	}
	CHECK_EQ(r.score[2], 0);
	/* answers at 90 us: waited for, the window capped */
	for (int i = 0; i < 10; i++) {
		iteration(400000, 1, 2);
		iteration(90000, 2, 1);
	}
	CHECK_EQ(iteration(400000, 1, 2), DP_REPLY_MAX_NS);
}

/* A paced one-way stream: port 1 sends to port 2 every 100 us, port 2
 * never sends. Nothing is waited for. */
static void test_one_way(void)
{
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 100; i++)
		CHECK_EQ(iteration(100000, 1, 2), 0);
	CHECK_EQ(r.score[2], 0);
}

/* A port that answers in time with probability p (else too late), over
 * 4000 sends from a fixed pseudo-random sequence: the share of sends after
 * which the worker waits. */
static double waited_share(unsigned p_percent)
{
	uint32_t x = 12345;
	unsigned waits = 0, n = 4000;

	memset(&r, 0, sizeof(r));
	for (unsigned i = 0; i < n; i++) {
		if (iteration(300000, 1, 2))
			waits++;
		x = x * 1103515245u + 12345u;
		bool in_time = (x >> 16) % 100 < p_percent;
		iteration(in_time ? 30000 : DP_REPLY_MAX_NS + 1000, 2, 1);
	}
	return (double)waits / n;
}

/* Streams that merely cross (port 2's frames sometimes follow port 1's
 * soon, sometimes not) are rarely waited for; a port that answers nearly
 * always is nearly always waited for. */
static void test_answer_rates(void)
{
	double half = waited_share(50), most = waited_share(90), never = waited_share(0);

	CHECKF(half < 0.15, "waited after %.3f of sends answered half the time", half);
	CHECKF(most > 0.6, "waited after %.3f of sends answered 9 times in 10", most);
	CHECK_EQ(never, 0);
	printf("waited: answered 0%%: %.3f, 50%%: %.3f, 90%%: %.3f\n", never, half, most);
}

/* A burst to several destinations waits for the slowest expected answer;
 * a busy iteration right after another (no gap) learns nothing and
 * replaces the ports awaited. */
static void test_several(void)
{
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 10; i++) {
		dp_reply_begin(&r);
		dp_reply_rx(&r, 1);
		dp_reply_sent(&r, 2);
		dp_reply_sent(&r, 3);
		dp_reply_sent(&r, 2); /* twice in one iteration: once */
		dp_reply_learn(&r, 400000);
		CHECK_EQ(r.nsent, 2);
		dp_reply_window(&r);
		dp_reply_begin(&r);
		dp_reply_rx(&r, 2);
		dp_reply_rx(&r, 3);
		dp_reply_learn(&r, i % 2 ? 10000 : 40000);
		dp_reply_window(&r);
	}
	CHECK(r.score[2] >= DP_REPLY_ON && r.score[3] >= DP_REPLY_ON);
	uint64_t d2 = r.delay_ns[2], d3 = r.delay_ns[3];
	CHECK(d2 >= 10000 && d2 <= 40000 && d3 == d2);
	CHECK_EQ(iteration(400000, 1, 3), 2 * d3 + DP_REPLY_SLACK_NS);
	uint8_t before = r.score[3];
	iteration(0, 1, 4); /* busy right after: nothing learned about 3 */
	CHECK_EQ(r.score[3], before);
	CHECK_EQ(r.nawait, 1);
	CHECK_EQ(r.await[0], 4);
}

int main(void)
{
	test_ping_echo();
	test_slow_answers();
	test_one_way();
	test_answer_rates();
	test_several();
	return check_result("reply");
}
