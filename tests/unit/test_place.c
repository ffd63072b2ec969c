/* test_place.c - placement policies and the rebalancing decision
 * (src/dp/dp_place.c). */
#include <string.h>

#include "check.h"
#include "dp_place.h"

enum { MAXQ = 64 };

/* n ports with nq queues each, nothing placed, no pins, no groups. */
static unsigned table(struct dp_pq *t, unsigned ports, unsigned nq)
{
	unsigned n = 0;

	for (unsigned p = 0; p < ports; p++)
		for (unsigned q = 0; q < nq; q++)
			t[n++] = (struct dp_pq){ .port = (uint16_t)p, .q = (uint16_t)q, .pin = -1,
			                         .group = -1, .w = -1 };
	return n;
}

static void test_names(void)
{
	enum dp_placement p;

	for (unsigned i = 0; i < DP_PLACE_COUNT; i++) {
		CHECK(dp_placement_parse(dp_placement_name((enum dp_placement)i), &p) == 0);
		CHECK_EQ(p, i);
	}
	CHECK(dp_placement_parse("roundrobin", &p) < 0);
	CHECK(dp_placement_parse("", &p) < 0);
	CHECK(dp_placement_parse(NULL, &p) < 0);
}

static void test_static_policies(void)
{
	struct dp_pq t[MAXQ];
	unsigned n = table(t, 4, 2);

	dp_place(DP_PLACE_SPREAD, t, n, 3, false);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(t[i].w, (t[i].port + t[i].q) % 3);

	dp_place(DP_PLACE_MONOLITHIC, t, n, 3, true);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(t[i].w, 0);

	dp_place(DP_PLACE_PER_PORT, t, n, 3, true);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(t[i].w, t[i].port % 3);

	/* Without all, what is placed stays: monolithic does not undo it. */
	dp_place(DP_PLACE_MONOLITHIC, t, n, 3, false);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(t[i].w, t[i].port % 3);

	/* A pin wins over any policy, modulo the workers there are. */
	t[3].pin = 2;
	t[4].pin = 5;
	dp_place(DP_PLACE_MONOLITHIC, t, n, 3, true);
	CHECK_EQ(t[3].w, 2);
	CHECK_EQ(t[4].w, 2);
	for (unsigned i = 0; i < n; i++)
		if (i != 3 && i != 4)
			CHECK_EQ(t[i].w, 0);
}

static void test_group(void)
{
	struct dp_pq t[MAXQ];
	unsigned n = table(t, 6, 1);

	/* ports 0, 3 in group 1; port 1 in group 0; 2, 5 in group 2; 4 none */
	int16_t g[6] = { 1, 0, 2, 1, -1, 2 };
	for (unsigned i = 0; i < n; i++)
		t[i].group = g[t[i].port];
	dp_place(DP_PLACE_GROUP, t, n, 4, true);
	/* groups ranked by their lowest port: group 1 (port 0), 0 (1), 2 (2) */
	CHECK_EQ(t[0].w, 0);
	CHECK_EQ(t[3].w, 0);
	CHECK_EQ(t[1].w, 1);
	CHECK_EQ(t[2].w, 2);
	CHECK_EQ(t[5].w, 2);
	CHECK_EQ(t[4].w, (4 + 0) % 4); /* no group: spread */

	/* A new port of an existing group joins the group's worker, even if
	 * the ranks would say otherwise now. */
	t[0].w = 3;
	t[3].w = 3;
	t[n] = (struct dp_pq){ .port = 7, .q = 0, .pin = -1, .group = 1, .w = -1 };
	dp_place(DP_PLACE_GROUP, t, n + 1, 4, false);
	CHECK_EQ(t[n].w, 3);
	/* Groups that come up one at a time, the later-numbered first: each
	 * still gets a worker of its own. */
	n = 0;
	t[n++] = (struct dp_pq){ .port = 3, .q = 0, .pin = -1, .group = 1, .w = -1 };
	dp_place(DP_PLACE_GROUP, t, n, 2, false);
	CHECK_EQ(t[0].w, 0);
	t[n++] = (struct dp_pq){ .port = 2, .q = 0, .pin = -1, .group = 0, .w = -1 };
	dp_place(DP_PLACE_GROUP, t, n, 2, false);
	CHECK_EQ(t[0].w, 0);
	CHECK_EQ(t[1].w, 1);
	t[n++] = (struct dp_pq){ .port = 0, .q = 0, .pin = -1, .group = 0, .w = -1 };
	t[n++] = (struct dp_pq){ .port = 1, .q = 0, .pin = -1, .group = 1, .w = -1 };
	dp_place(DP_PLACE_GROUP, t, n, 2, false);
	CHECK_EQ(t[2].w, 1);
	CHECK_EQ(t[3].w, 0);
	/* More groups than workers: they wrap. */
	n = table(t, 5, 1);
	for (unsigned i = 0; i < n; i++)
		t[i].group = (int16_t)i;
	dp_place(DP_PLACE_GROUP, t, n, 2, true);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(t[i].w, i % 2);
}

static void test_cycles(void)
{
	struct dp_pq t[MAXQ];
	unsigned n = table(t, 5, 1);
	uint64_t load[2] = { 0, 0 };
	static const uint64_t l[5] = { 100, 900, 300, 600, 200 };

	for (unsigned i = 0; i < n; i++)
		t[i].load = l[i];
	dp_place(DP_PLACE_CYCLES, t, n, 2, true);
	/* greedy, busiest first: 900->0, 600->1, 300->1, 200->0, 100->0 or 1 */
	CHECK_EQ(t[1].w, 0);
	CHECK_EQ(t[3].w, 1);
	CHECK_EQ(t[2].w, 1);
	CHECK_EQ(t[4].w, 0);
	for (unsigned i = 0; i < n; i++)
		load[t[i].w] += t[i].load;
	CHECK(load[0] <= 1200 && load[1] <= 1200);

	/* A new queue (unknown load) goes to the least loaded worker. */
	t[n] = (struct dp_pq){ .port = 9, .q = 0, .pin = -1, .group = -1, .w = -1 };
	dp_place(DP_PLACE_CYCLES, t, n + 1, 2, false);
	CHECK_EQ(t[n].w, load[0] <= load[1] ? 0 : 1);
	/* and nothing else moved */
	CHECK_EQ(t[1].w, 0);
	CHECK_EQ(t[3].w, 1);

	/* Equal loads: the worker with fewer queues. */
	n = table(t, 3, 1);
	dp_place(DP_PLACE_CYCLES, t, n, 2, true);
	CHECK(t[0].w != t[1].w);
}

static void test_rebalance(void)
{
	struct dp_pq t[MAXQ];
	struct dp_rebal cfg = { .threshold_pct = 25, .improve_pct = 10 };
	uint64_t wl[3];
	unsigned to = 99, n = table(t, 4, 1);
	const uint64_t iv = 1000;
	int pick;

	/* Two heavy queues on worker 0, worker 1 idle: move one. */
	t[0].w = 0, t[0].load = 450;
	t[1].w = 0, t[1].load = 450;
	t[2].w = 1, t[2].load = 10;
	t[3].w = 1, t[3].load = 0;
	wl[0] = 900, wl[1] = 10;
	pick = dp_rebalance_pick(t, n, 2, wl, iv, &cfg, &to);
	CHECK(pick == 0 || pick == 1);
	CHECK_EQ(to, 1);

	/* Pinned queues never move. */
	t[0].pin = 0;
	t[1].pin = 0;
	CHECK_EQ(dp_rebalance_pick(t, n, 2, wl, iv, &cfg, &to), -1);
	t[0].pin = t[1].pin = -1;

	/* Under the threshold: nothing. */
	wl[0] = 300, wl[1] = 100;
	CHECK_EQ(dp_rebalance_pick(t, n, 2, wl, iv, &cfg, &to), -1);

	/* One queue carries the whole load: moving it only swaps: nothing. */
	t[0].load = 900, t[1].load = 0;
	wl[0] = 900, wl[1] = 10;
	CHECK_EQ(dp_rebalance_pick(t, n, 2, wl, iv, &cfg, &to), -1);

	/* A small gain under the improvement margin: nothing. Worker 0 at
	 * 800 with queues of 760 and 40, worker 1 at 500: moving the 40 one
	 * lowers the max by 40 (5% < 10%); the 760 one would raise it. */
	t[0].load = 760, t[1].load = 40;
	wl[0] = 800, wl[1] = 500;
	CHECK_EQ(dp_rebalance_pick(t, n, 2, wl, iv, &cfg, &to), -1);
	cfg.improve_pct = 4;
	CHECK_EQ(dp_rebalance_pick(t, n, 2, wl, iv, &cfg, &to), 1);
	cfg.improve_pct = 10;

	/* Three workers: from the busiest to the least busy. */
	t[0].w = 2, t[0].load = 500;
	t[1].w = 2, t[1].load = 350;
	t[2].w = 0, t[2].load = 300;
	t[3].w = 1, t[3].load = 100;
	wl[0] = 300, wl[1] = 100, wl[2] = 850;
	pick = dp_rebalance_pick(t, n, 3, wl, iv, &cfg, &to);
	CHECK_EQ(to, 1);
	/* moving 500: 350 and 600; moving 350: 500 and 450, the lower max */
	CHECK_EQ(pick, 1);

	/* One worker, or no interval yet: nothing. */
	CHECK_EQ(dp_rebalance_pick(t, n, 1, wl, iv, &cfg, &to), -1);
	CHECK_EQ(dp_rebalance_pick(t, n, 3, wl, 0, &cfg, &to), -1);
}

int main(void)
{
	test_names();
	test_static_policies();
	test_group();
	test_cycles();
	test_rebalance();
	return check_result("place");
}
