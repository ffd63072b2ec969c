/* bench_flow.h - vifbench's receiver-side flow accounting. A flow is the
 * source MAC of received bench data frames. Each receive thread owns one
 * table (struct bench_flows) and is its only writer; the main thread takes
 * snapshots of all tables while the threads run (progress, timeline, the
 * measurement window) and merges them by MAC (bench_flow.c).
 *
 * Memory order: the owner writes key[i] once, then release-stores n = i + 1;
 * a reader acquire-loads n and may then read key[0..n-1], which never change
 * again. Counters are relaxed atomics with one writer, so a reader may see a
 * frame in pkts and not yet in bytes (off by one frame at most). */
#ifndef VIFBENCH_BENCH_FLOW_H
#define VIFBENCH_BENCH_FLOW_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <libvif.h>

#include "util.h"

enum {
	BENCH_MAX_FLOWS = 64,            /* distinct source MACs, per thread and merged */
	BENCH_FLOW_OTHER = BENCH_MAX_FLOWS, /* counter slot of the flows beyond that */
};

struct bench_flows {
	_Atomic unsigned n;              /* slots in use: owner release-stores, readers acquire */
	unsigned n_own;                  /* owner's copy of n */
	unsigned last;                   /* owner: slot of the last lookup (frames come in runs) */
	uint64_t key[BENCH_MAX_FLOWS];   /* source MAC in the low 48 bits; written once */
	_Atomic uint64_t pkts[BENCH_MAX_FLOWS + 1];  /* owner writes (relaxed), anyone reads */
	_Atomic uint64_t bytes[BENCH_MAX_FLOWS + 1]; /* frame bytes, no virtio header, no FCS */
} cache_aligned;

/* Counts of every table at one moment (the keys stay in the tables). */
struct bench_flow_snap {
	unsigned n[VIF_MAX_QUEUE_PAIRS];
	uint64_t pkts[VIF_MAX_QUEUE_PAIRS][BENCH_MAX_FLOWS + 1];
	uint64_t bytes[VIF_MAX_QUEUE_PAIRS][BENCH_MAX_FLOWS + 1];
};

/* Flows merged over all tables, counted between two snapshots, sorted by
 * MAC. Flows beyond BENCH_MAX_FLOWS (in one table or merged) are "other". */
struct bench_flow_set {
	unsigned n;
	uint8_t src[BENCH_MAX_FLOWS][6];
	uint64_t pkts[BENCH_MAX_FLOWS], bytes[BENCH_MAX_FLOWS];
	uint64_t other_pkts, other_bytes;
};

static inline uint64_t bench_flow_key(const uint8_t *mac)
{
	uint64_t k = 0;

	memcpy(&k, mac, 6);
	return k;
}

/* Owner only: the slot of `key`, added if new; BENCH_FLOW_OTHER when the
 * table is full. */
static inline unsigned bench_flow_slot(struct bench_flows *fl, uint64_t key)
{
	unsigned n = fl->n_own;

	if (likely(fl->last < n && fl->key[fl->last] == key))
		return fl->last;
	for (unsigned i = 0; i < n; i++)
		if (fl->key[i] == key)
			return fl->last = i;
	if (n == BENCH_MAX_FLOWS)
		return BENCH_FLOW_OTHER;
	fl->key[n] = key;
	fl->n_own = n + 1;
	atomic_store_explicit(&fl->n, n + 1, memory_order_release);
	return fl->last = n;
}

/* Owner only: adds pkts frames of bytes bytes to slot s. */
static inline void bench_flow_add(struct bench_flows *fl, unsigned s, uint64_t pkts, uint64_t bytes)
{
	atomic_store_explicit(&fl->pkts[s], atomic_load_explicit(&fl->pkts[s], memory_order_relaxed) + pkts,
			      memory_order_relaxed);
	atomic_store_explicit(&fl->bytes[s], atomic_load_explicit(&fl->bytes[s], memory_order_relaxed) + bytes,
			      memory_order_relaxed);
}

/* Reads the counters of tabs[0..ntab-1] into *s. */
void bench_flow_snap(struct bench_flow_snap *s, struct bench_flows *tabs, unsigned ntab);

/* Merges the counts between snapshot `from` (NULL: all zero) and `to` into
 * *out, by source MAC, sorted by MAC. */
void bench_flow_delta(struct bench_flow_set *out, struct bench_flows *tabs, unsigned ntab,
		      const struct bench_flow_snap *to, const struct bench_flow_snap *from);

/* Jain's fairness index (sum x)^2 / (n * sum x^2) of x[0..n-1]; 1 when all
 * are equal, 1/n when one has everything. Returns -1 when n is 0 or all x
 * are 0 (undefined). */
double bench_jain(const double *x, unsigned n);

/* "02:00:00:00:00:01" into buf (at least 18 bytes). */
void bench_mac_str(const uint8_t mac[6], char *buf);

#endif
