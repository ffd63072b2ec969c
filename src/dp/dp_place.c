/* dp_place.c - placement policies and the rebalancing decision (dp_place.h). */
#include <stdlib.h>
#include <string.h>

#include "dp_place.h"

enum { PLACE_MAX_WORKERS = 64, PLACE_MAX_GROUPS = 256 };

static const char *const names[DP_PLACE_COUNT] = {
	[DP_PLACE_SPREAD] = "spread",
	[DP_PLACE_MONOLITHIC] = "monolithic",
	[DP_PLACE_PER_PORT] = "per-port",
	[DP_PLACE_GROUP] = "group",
	[DP_PLACE_CYCLES] = "cycles",
};

const char *dp_placement_name(enum dp_placement p)
{
	return (unsigned)p < DP_PLACE_COUNT ? names[p] : "?";
}

int dp_placement_parse(const char *s, enum dp_placement *p)
{
	for (unsigned i = 0; s && i < DP_PLACE_COUNT; i++)
		if (!strcmp(s, names[i])) {
			*p = (enum dp_placement)i;
			return 0;
		}
	return -1;
}

/* The worker with the least load, then the fewest queues, then the lowest id. */
static unsigned least(const uint64_t *load, const unsigned *nq, unsigned nworkers)
{
	unsigned best = 0;

	for (unsigned w = 1; w < nworkers; w++)
		if (load[w] < load[best] || (load[w] == load[best] && nq[w] < nq[best]))
			best = w;
	return best;
}

/* Queue order for cycles: the busiest first (ties by port, then queue, so
 * the result does not depend on the table's order). */
static int by_load(const void *a, const void *b)
{
	const struct dp_pq *x = *(const struct dp_pq *const *)a, *y = *(const struct dp_pq *const *)b;

	if (x->load != y->load)
		return x->load > y->load ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->q < y->q ? -1 : x->q > y->q;
}

static void place_cycles(struct dp_pq *qs, unsigned n, unsigned nworkers, bool all)
{
	uint64_t load[PLACE_MAX_WORKERS] = { 0 };
	unsigned nq[PLACE_MAX_WORKERS] = { 0 };
	struct dp_pq **order = malloc((n ? n : 1) * sizeof(*order));
	unsigned m = 0;

	if (!order) {
		/* No memory to sort: what has no worker takes the least loaded. */
		for (unsigned i = 0; i < n; i++) {
			if (qs[i].w >= 0 && (qs[i].pin >= 0 || !all))
				continue;
			qs[i].w = 0;
		}
		return;
	}

	/* What stays where it is counts first. */
	for (unsigned i = 0; i < n; i++) {
		if (qs[i].w >= 0 && (qs[i].pin >= 0 || !all)) {
			load[qs[i].w] += qs[i].load;
			nq[qs[i].w]++;
		} else {
			order[m++] = &qs[i];
		}
	}
	qsort(order, m, sizeof(order[0]), by_load);
	for (unsigned i = 0; i < m; i++) {
		unsigned w = least(load, nq, nworkers);
		order[i]->w = (int16_t)w;
		load[w] += order[i]->load;
		nq[w]++;
	}
	free(order);
}

/* group: each group's worker into gw (indexed by group; groups are <
 * PLACE_MAX_GROUPS): the worker its placed queues are on; a group with no
 * placed queue goes to the worker with the fewest groups (groups taken in
 * the order of their lowest port, ties to the lowest worker), so groups
 * get a worker each while there are enough, whatever order they came up in. */
static void group_workers(const struct dp_pq *qs, unsigned n, unsigned nworkers, unsigned *gw)
{
	uint16_t first[PLACE_MAX_GROUPS];
	bool kept[PLACE_MAX_GROUPS] = { false }, done[PLACE_MAX_GROUPS] = { false };
	unsigned ngroups[PLACE_MAX_WORKERS] = { 0 };

	for (unsigned g = 0; g < PLACE_MAX_GROUPS; g++)
		first[g] = UINT16_MAX;
	for (unsigned i = 0; i < n; i++) {
		int g = qs[i].group;

		if (g < 0 || g >= PLACE_MAX_GROUPS)
			continue;
		if (qs[i].port < first[g])
			first[g] = qs[i].port;
		if (qs[i].w >= 0 && qs[i].pin < 0 && !kept[g]) {
			gw[g] = (unsigned)qs[i].w;
			kept[g] = true;
			ngroups[gw[g]]++;
		}
	}
	for (;;) {
		int next = -1;
		unsigned w = 0;

		for (unsigned g = 0; g < PLACE_MAX_GROUPS; g++)
			if (first[g] != UINT16_MAX && !kept[g] && !done[g] &&
			    (next < 0 || first[g] < first[next]))
				next = (int)g;
		if (next < 0)
			break;
		for (unsigned k = 1; k < nworkers; k++)
			if (ngroups[k] < ngroups[w])
				w = k;
		gw[next] = w;
		ngroups[w]++;
		done[next] = true;
	}
}

void dp_place(enum dp_placement pol, struct dp_pq *qs, unsigned n, unsigned nworkers, bool all)
{
	if (!nworkers)
		return;
	if (nworkers > PLACE_MAX_WORKERS)
		nworkers = PLACE_MAX_WORKERS;
	for (unsigned i = 0; i < n; i++) {
		if (qs[i].pin >= 0)
			qs[i].w = (int16_t)(qs[i].pin % (int)nworkers);
		else if (all || qs[i].w >= (int)nworkers)
			qs[i].w = -1;
	}
	if (pol == DP_PLACE_CYCLES) {
		place_cycles(qs, n, nworkers, all);
		return;
	}
	unsigned gw[PLACE_MAX_GROUPS];
	if (pol == DP_PLACE_GROUP)
		group_workers(qs, n, nworkers, gw);
	for (unsigned i = 0; i < n; i++) {
		struct dp_pq *e = &qs[i];
		unsigned w;

		if (e->w >= 0)
			continue;
		switch (pol) {
		case DP_PLACE_MONOLITHIC:
			w = 0;
			break;
		case DP_PLACE_PER_PORT:
			w = e->port % nworkers;
			break;
		case DP_PLACE_GROUP:
			if (e->group >= 0 && e->group < PLACE_MAX_GROUPS) {
				w = gw[e->group];
				break;
			}
			/* a port in no group spreads */
			w = (unsigned)(e->port + e->q) % nworkers;
			break;
		default:
			w = (unsigned)(e->port + e->q) % nworkers;
			break;
		}
		e->w = (int16_t)w;
	}
}

int dp_rebalance_pick(const struct dp_pq *qs, unsigned n, unsigned nworkers,
                      const uint64_t *wload, uint64_t interval, const struct dp_rebal *cfg,
                      unsigned *to)
{
	unsigned hi = 0, lo = 0;
	uint64_t best_max, gap;
	int best = -1;

	if (nworkers < 2 || !interval)
		return -1;
	for (unsigned w = 1; w < nworkers; w++) {
		if (wload[w] > wload[hi])
			hi = w;
		if (wload[w] < wload[lo])
			lo = w;
	}
	gap = wload[hi] - wload[lo];
	if (hi == lo || gap * 100 <= (uint64_t)cfg->threshold_pct * interval)
		return -1;
	/* The move must bring the busier of the two down by improve_pct. */
	best_max = wload[hi] - wload[hi] * cfg->improve_pct / 100;
	for (unsigned i = 0; i < n; i++) {
		const struct dp_pq *e = &qs[i];
		uint64_t a, b, m;

		if (e->w != (int)hi || e->pin >= 0 || !e->load)
			continue;
		a = wload[hi] > e->load ? wload[hi] - e->load : 0;
		b = wload[lo] + e->load;
		m = a > b ? a : b;
		if (m <= best_max) {
			best_max = m;
			best = (int)i;
		}
	}
	if (best >= 0)
		*to = lo;
	return best;
}
