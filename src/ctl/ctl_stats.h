/* ctl_stats.h - the per-port counters that vifd reports, as a table made
 * from dp.h's one list of them (DP_WORKER_COUNTERS, DP_CTL_COUNTERS): the
 * control socket's "stats" method (JSON) and the Prometheus exporter
 * (ctl_metrics.c) both walk it, so a new counter is one line in dp.h and
 * appears in the datapath's structs, their sums and both outputs.
 *
 * No state; any thread. */
#ifndef VIFD_CTL_STATS_H
#define VIFD_CTL_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp.h"

struct ctl_stat_field {
	const char *name;       /* member of a port in "stats"; for a drop reason,
	                         * its member of "drops" and its reason label */
	const char *metric;     /* Prometheus: vifd_port_<metric>_total; NULL for
	                         * drop reasons (vifd_port_drops_total{reason=}) */
	size_t off;             /* offset of the uint64_t in struct dp_port_stats */
	const char *help;       /* one line, for # HELP and the documentation */
};

/* In the order "stats" lists them; drop reasons are the entries without a
 * metric name, and sit together where "drops" goes. */
extern const struct ctl_stat_field ctl_stat_fields[];
extern const size_t ctl_stat_nfields;

static inline uint64_t ctl_stat_get(const struct dp_port_stats *s, const struct ctl_stat_field *f)
{
	return *(const uint64_t *)(const void *)((const char *)s + f->off);
}

/* A port's entry of the "stats" result: {name, rx_pkts, ..., drops: {...},
 * ...}. NULL when out of memory. */
json_t *ctl_stats_port_json(const char *name, const struct dp_port_stats *s);

/* `vifctl stats --reset`: per-port baselines that the "stats" method
 * subtracts. Prometheus counters must never go back, so the exporter and
 * the datapath's counters are untouched: a reset is the control plane's
 * view only. A port's baseline goes when the port is deleted, and when a
 * counter is found below it (the port was re-created meanwhile).
 * Control thread only. */
struct ctl_stats_base;

struct ctl_stats_base *ctl_stats_base_new(void);
void ctl_stats_base_free(struct ctl_stats_base *b);
/* Makes s the port's zero. 0, or -ENOSPC (more ports than DP_MAX_PORTS). */
int ctl_stats_base_set(struct ctl_stats_base *b, const char *name, const struct dp_port_stats *s);
void ctl_stats_base_forget(struct ctl_stats_base *b, const char *name);
/* Subtracts the port's baseline from *s, if it has one (b may be NULL). */
void ctl_stats_base_apply(struct ctl_stats_base *b, const char *name, struct dp_port_stats *s);

#endif
