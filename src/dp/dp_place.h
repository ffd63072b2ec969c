/* dp_place.h - which worker polls which receive queue (placement), and when
 * to move one (rebalancing). Pure functions over a table of queues, so they
 * are tested alone (tests/unit/test_place.c); dp_port.c keeps the table,
 * measures the loads and publishes the result.
 *
 * Policies (for queues not pinned by the operator):
 *  - spread:     queue q of port p on worker (p + q) mod N (the default:
 *                a port's queues on different workers, stable as ports come
 *                and go);
 *  - monolithic: every queue on worker 0 (one IOVM for all devices);
 *  - per-port:   all queues of port p on worker p mod N (one IOVM per
 *                device, where there are enough workers);
 *  - group:      ports of one group share a worker, groups take workers in
 *                the order of their lowest port; ports in no group spread
 *                (the hybrid configuration);
 *  - cycles:     by measured load: the busiest queues first, each to the
 *                worker with the least load so far (a new queue, whose load
 *                is unknown, goes to the least loaded worker).
 * A pinned queue (worker=N on its port) is on its worker whatever the
 * policy, and rebalancing never moves it. */
#ifndef VIFD_DP_PLACE_H
#define VIFD_DP_PLACE_H

#include <stdbool.h>
#include <stdint.h>

enum dp_placement {
	DP_PLACE_SPREAD,
	DP_PLACE_MONOLITHIC,
	DP_PLACE_PER_PORT,
	DP_PLACE_GROUP,
	DP_PLACE_CYCLES,
	DP_PLACE_COUNT
};

/* Names as vifctl and the state file spell them: "spread", ... */
const char *dp_placement_name(enum dp_placement p);
/* 0 and *p, or -1 for an unknown name. */
int dp_placement_parse(const char *s, enum dp_placement *p);

/* One receive queue in the placement table. */
struct dp_pq {
	uint16_t port;     /* port id */
	uint16_t q;        /* queue id */
	int16_t pin;       /* the operator's worker, -1: none */
	int16_t group;     /* the port's group (an index), -1: none */
	int16_t w;         /* its worker, -1: not placed yet */
	uint64_t load;     /* TSC cycles it took in the last interval */
};

/* Places the queues of qs[0..n) on nworkers workers by policy: every pinned
 * queue on its pin (mod nworkers: a pin kept across a restart with fewer
 * workers still places), and the others that have no worker yet (w < 0;
 * with all, every unpinned one). Loads matter only to cycles. */
void dp_place(enum dp_placement pol, struct dp_pq *qs, unsigned n, unsigned nworkers, bool all);

/* Rebalancing: when the busiest worker's load exceeds the least busy one's
 * by more than threshold_pct of a core, and moving one unpinned queue from
 * it to the least busy lowers the busier of the two by at least
 * improve_pct of its load, that move is proposed. wload[w]: worker w's busy
 * cycles in the interval; interval: the interval in TSC cycles. */
struct dp_rebal {
	unsigned threshold_pct;   /* 1..100 */
	unsigned improve_pct;     /* 1..100 */
};

/* Returns the index in qs of the queue to move and its new worker in *to,
 * or -1: none worth it. */
int dp_rebalance_pick(const struct dp_pq *qs, unsigned n, unsigned nworkers,
                      const uint64_t *wload, uint64_t interval, const struct dp_rebal *cfg,
                      unsigned *to);

#endif
