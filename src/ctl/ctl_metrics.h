/* ctl_metrics.h - Prometheus metrics over HTTP: GET /metrics on a local
 * TCP port answers with the text exposition format 0.0.4: every counter of
 * ctl_stats.h per port (labels bridge, port; drops as one family with a
 * reason label), port state gauges, and per-worker cycles and packets.
 *
 * Served from the control thread's evloop like the control socket, and as
 * careful: non-blocking sockets, a request of at most CTL_METRICS_REQ_MAX
 * bytes, CTL_METRICS_MAX_CONNS connections at a time, a request head
 * within CTL_METRICS_HEAD_MS of the connection, and each connection closed
 * after one response or CTL_METRICS_TIMEOUT_MS, whichever is first, so a
 * slow or stuck scraper costs nothing but its own connection. Any local
 * user can connect: when every slot is taken, a new connection evicts the
 * oldest one still waiting for its request (or else the oldest one), so
 * idle connections, however many and however refreshed, cannot lock a
 * scraper out.
 *
 * Control thread only. */
#ifndef VIFD_CTL_METRICS_H
#define VIFD_CTL_METRICS_H

#include "ctl_rpc.h"
#include "dp.h"
#include "evloop.h"

enum {
	CTL_METRICS_REQ_MAX = 8192,     /* request line and headers */
	CTL_METRICS_MAX_CONNS = 16,
	CTL_METRICS_BACKLOG = 128,      /* listen backlog; accepted per wake-up at most */
	CTL_METRICS_TIMEOUT_MS = 5000,
	CTL_METRICS_HEAD_MS = 1000,     /* the request head must arrive by then */
	CTL_METRICS_BODY_MAX = 16 * 1024 * 1024,
};

struct ctl_metrics;

/* Listens on addr (IPv4 text, e.g. "127.0.0.1") and port. Returns 0 and
 * *out, or -errno (logged). */
int ctl_metrics_create(struct evloop *ev, struct dp *dp, const char *addr, int port,
                       struct ctl_metrics **out);
/* Closes every connection and the listener. NULL is a no-op. */
void ctl_metrics_destroy(struct ctl_metrics *m);

/* Appends the exposition text for dp's ports and workers to out.
 * Returns 0 or -ENOMEM / -ENOBUFS. */
int ctl_metrics_render(struct dp *dp, struct ctl_buf *out);

#endif
