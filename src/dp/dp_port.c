/* dp_port.c - the control side of the datapath: workers' lifecycle, ports,
 * and the configuration snapshots workers read.
 *
 * Every change follows one pattern (STYLE.md §5): build a new immutable
 * struct dp_conf from the control thread's view (dp->ports and each
 * device's live rings), publish it with a release store, wake the workers,
 * qsbr_synchronize(), then free the old snapshot. A vhost device about to
 * change is first "frozen" (left out of the snapshot) through the same
 * path: that is the quiesce the vhost layer asks for.
 *
 * Every port is a driver (src/port: vhost-user, tap, afpacket, afxdp) whose
 * live queues the snapshots list: each receive queue is polled by one
 * worker, frames are sent to its live transmit queues, and the port is
 * closed only after a snapshot without it has been synchronized. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clk.h"
#include "closer.h"
#include "dp_cap.h"
#include "gmem.h"
#include "vlog.h"
#include "xalloc.h"

/* Whether workers may use the port now (a broken one has no live queues). */
static bool port_live(const struct dp_port *p)
{
	return p && !p->frozen && p->port;
}

/* Whether the restart hold (dp_settle) is over; ends it when every port
 * that waits has receive and transmit queues, or time is up. */
static bool settled(struct dp *dp)
{
	unsigned away = 0;

	if (!dp->settling)
		return true;
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		uint16_t ids[PORT_MAX_QUEUES];

		if (p && p->port && p->port->ops->rx_in_ring &&
		    (!port_live(p) || !p->port->ops->queues(p->port, false, ids) ||
		     !p->port->ops->queues(p->port, true, ids)))
			away++;
	}
	if (away && clk_now_ns() < dp->settle_until_ns)
		return false;
	dp->settling = false;
	if (away)
		vlog_warn("restart: %u port(s) not back yet: forwarding without them", away);
	else
		vlog_info("restart: every port is back: forwarding");
	return true;
}

/* Frees a port that no snapshot lists (its driver already closed). */
static void port_free(struct dp_port *p)
{
	xfree(p->cfg);
	xfree(p);
}

static void conf_free(struct dp_conf *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < DP_MAX_WORKERS; i++)
		xfree(c->poll[i]);
	xfree(c);
}

/* A port's interrupt moderation for the drivers (dp.h, port_coal). */
static void coal_build(const struct dp_port_cfg *c, struct port_coal *pc)
{
	unsigned us = c->rx_usecs;

	memset(pc, 0, sizeof(*pc));
	if (!c->rx_frames && !c->rx_usecs && !c->adaptive_rx)
		return;
	if (!us)
		us = DP_COAL_DEFAULT_US;
	pc->on = true;
	pc->adaptive = c->adaptive_rx;
	pc->frames = c->rx_frames ? c->rx_frames : (c->adaptive_rx ? DP_COAL_ADAPTIVE_FRAMES : 0);
	pc->hold = qos_time((uint64_t)us * 1000);
}

/* Each port's placement group as an index, -1: none (gidx[port id]):
 * groups numbered in the order of their lowest port. */
static void group_indexes(const struct dp *dp, int16_t *gidx)
{
	int16_t ng = 0;

	for (unsigned i = 0; i < dp->nports; i++) {
		const struct dp_port *p = dp->ports[i];

		gidx[i] = -1;
		if (!p || !p->cfg->group[0])
			continue;
		for (unsigned j = 0; j < i && gidx[i] < 0; j++)
			if (gidx[j] >= 0 && !strcmp(dp->ports[j]->cfg->group, p->cfg->group))
				gidx[i] = gidx[j];
		if (gidx[i] < 0)
			gidx[i] = ng++;
	}
}

/* Places every live receive queue (dp_place.h) into dp->place: those
 * placed already stay, unless all. Fills tab (room for every live queue)
 * and returns its length. */
static unsigned place_queues(struct dp *dp, struct dp_pq *tab, bool all)
{
	int16_t gidx[DP_MAX_PORTS];
	unsigned n = 0;

	group_indexes(dp, gidx);
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		uint16_t rxq[PORT_MAX_QUEUES];
		unsigned nrx;
		int16_t g = gidx[i];

		if (!port_live(p))
			continue;
		nrx = p->port->ops->queues(p->port, false, rxq);
		for (unsigned k = 0; k < nrx; k++) {
			uint16_t q = rxq[k];
			tab[n++] = (struct dp_pq){ .port = p->id, .q = q,
			                           .pin = (int16_t)(p->cfg->worker[q] - 1), .group = g,
			                           .w = dp->place[p->id][q], .load = dp->qload[p->id][q] };
		}
	}
	dp_place(dp->placement, tab, n, dp->nworkers, all);
	for (unsigned i = 0; i < n; i++)
		dp->place[tab[i].port][tab[i].q] = (int8_t)tab[i].w;
	return n;
}

/* Builds a snapshot of what workers may touch now. A receive queue that
 * prev has on another worker than its place is left out (counted in *moved):
 * the snapshot after this one lists it, once no worker polls it any more
 * (a queue is never polled by two workers: no frame of it is lost,
 * duplicated or reordered by a move). NULL on ENOMEM. */
static struct dp_conf *conf_build(struct dp *dp, const struct dp_conf *prev, unsigned *moved)
{
	struct dp_conf *c = xcalloc(1, sizeof(*c));
	struct dp_pq *tab;
	unsigned cap = 0, n;

	*moved = 0;
	if (!c)
		return NULL;
	for (unsigned i = 0; i < dp->nports; i++) {
		if (port_live(dp->ports[i]))
			cap += PORT_MAX_QUEUES;
	}
	tab = xcalloc(cap ? cap : 1, sizeof(*tab));
	for (unsigned w = 0; tab && w < dp->nworkers; w++) {
		c->poll[w] = xcalloc(cap ? cap : 1, sizeof(struct dp_poll));
		if (!c->poll[w])
			break;
	}
	if (!tab || !c->poll[dp->nworkers - 1]) {
		xfree(tab);
		conf_free(c);
		return NULL;
	}
	memset(c->where, -1, sizeof(c->where));
	n = place_queues(dp, tab, false);
	if (!settled(dp)) {
		/* Leave out the queues of ports that wait (the restart hold). */
		unsigned k = 0;

		for (unsigned i = 0; i < n; i++)
			if (!dp->ports[tab[i].port]->port->ops->rx_in_ring)
				tab[k++] = tab[i];
		n = k;
	}
	c->gen = ++dp->gen;
	c->nports = dp->nports;
	for (unsigned i = 0; i < n; i++) {
		unsigned w = (unsigned)tab[i].w, pid = tab[i].port, q = tab[i].q;
		/* (the empty snapshot, gen 0, lists nothing) */
		int was = prev && prev->gen ? prev->where[pid][q] : -1;

		if (was >= 0 && was != (int)w) {
			(*moved)++;
			continue;
		}
		c->poll[w][c->npoll[w]++] =
			(struct dp_poll){ .port = (uint16_t)pid, .q = (uint16_t)q, .drv = dp->ports[pid]->port };
		c->where[pid][q] = (int8_t)w;
	}
	xfree(tab);
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		struct dp_conf_port *cp = &c->ports[i];
		uint16_t rxq[PORT_MAX_QUEUES];
		char err[128];

		if (p)
			p->listed = false;
		if (!port_live(p))
			continue;
		cp->ntxq = (uint16_t)p->port->ops->queues(p->port, true, cp->txq);
		if (!p->port->ops->queues(p->port, false, rxq) && !cp->ntxq)
			continue;
		p->listed = true;
		cp->port = p;
		cp->drv = p->port;
		cp->cfg = p->cfg;
		/* Validated by dp_port_set: cannot fail here. */
		if (qos_prof_build(&p->cfg->ingress, p->cfg->overhead, &cp->qin, err, sizeof(err)) < 0)
			cp->qin.on = false;
		if (qos_prof_build(&p->cfg->egress, p->cfg->overhead, &cp->qeg, err, sizeof(err)) < 0)
			cp->qeg.on = false;
		cp->weight = p->cfg->weight ? p->cfg->weight : 1;
		coal_build(p->cfg, &cp->coal);
		if (p->cap) {
			cp->cap_rx = p->cap->dirs & CAP_DIR_RX ? p->cap : NULL;
			cp->cap_tx = p->cap->dirs & CAP_DIR_TX ? p->cap : NULL;
		}
	}
	c->unknown_drop = dp->unknown_drop;
	c->busy_poll_ns = (uint64_t)dp->busy_poll_us * 1000;
	return c;
}

static void wake_workers(struct dp *dp)
{
	static const uint64_t one = 1;

	for (unsigned i = 0; i < dp->nworkers; i++)
		if (dp->w[i] && write(dp->w[i]->wakefd, &one, sizeof(one)) < 0) {
			/* counter overflow: it is readable anyway */
		}
}

/* A worker that does not pass a quiescent point within this time is
 * probably blocked in a system call on a guest's file (a call eventfd whose
 * counter the guest saturated after clearing O_NONBLOCK): interrupt it. */
enum { DP_STUCK_NS = 100 * 1000 * 1000 };

static void nop_handler(int sig)
{
	(void)sig;
}

static void worker_stuck(void *arg, unsigned i)
{
	struct dp *dp = arg;

	VLOG_RL(LOG_WARNING, "worker %u made no progress: interrupting it", i);
	pthread_kill(dp->w[i]->th, SIGUSR1);
}

/* Publishes one snapshot and waits until no worker uses the old one. If
 * memory runs out, falls back to an empty snapshot (nothing forwards until
 * the next successful publish) rather than keep a stale one. */
static void publish_once(struct dp *dp, unsigned *moved)
{
	static struct dp_conf empty; /* gen 0: workers rebuild for it too */
	const struct dp_conf *old = atomic_load(&dp->conf);
	struct dp_conf *nc = conf_build(dp, old, moved);

	if (!nc) {
		vlog_err("datapath: out of memory rebuilding configuration; forwarding paused");
		for (unsigned i = 0; i < dp->nports; i++)
			if (dp->ports[i])
				dp->ports[i]->listed = false;
	}
	atomic_store_explicit(&dp->conf, nc ? nc : &empty, memory_order_release);
	wake_workers(dp);
	qsbr_synchronize_watch(&dp->qsbr, DP_STUCK_NS, worker_stuck, dp);
	if (old != &empty)
		conf_free((struct dp_conf *)old);
}

/* Publishes a fresh snapshot. Queues that change workers go in two steps:
 * a snapshot without them (their old worker is done with them once it is
 * synchronized), then one with them on their new worker. The time from
 * the first publication to the end of the second is their stall. */
static void publish(struct dp *dp)
{
	uint64_t t0 = clk_now_ns(), stall;
	unsigned moved, again;

	publish_once(dp, &moved);
	if (!moved)
		return;
	publish_once(dp, &again);
	stall = clk_now_ns() - t0;
	dp->queue_moves += moved;
	dp->move_stall_last_ns = stall;
	if (stall > dp->move_stall_max_ns)
		dp->move_stall_max_ns = stall;
}

void dp_publish(struct dp *dp)
{
	publish(dp);
}

void dp_settle(struct dp *dp, unsigned ms)
{
	unsigned n = 0;

	for (unsigned i = 0; i < dp->nports; i++)
		n += dp->ports[i] && dp->ports[i]->port && dp->ports[i]->port->ops->rx_in_ring;
	if (!n)
		return;
	dp->settling = true;
	dp->settle_until_ns = clk_now_ns() + ms * 1000000ull;
	publish(dp);
}

/* Whether a snapshot built now would list the port's queues. */
static bool port_has_queues(struct dp_port *p)
{
	uint16_t ids[PORT_MAX_QUEUES];

	return port_live(p) && (p->port->ops->queues(p->port, false, ids) ||
	                        p->port->ops->queues(p->port, true, ids));
}

/* A port no published snapshot lists is touched by no worker: freezing
 * it needs no publish, and thawing it needs one only if it now has live
 * queues. Setting a device up (dozens of messages, rings going live one by
 * one) thus publishes once per ring that goes live, not twice a message. */
static void port_quiesce(void *ctx)
{
	struct dp_port *p = ctx;

	if (p->frozen)
		return;
	p->frozen = true;
	if (p->listed)
		publish(p->dp);
}

static void port_changed(void *ctx)
{
	struct dp_port *p = ctx;

	p->frozen = false;
	if (p->listed || port_has_queues(p))
		publish(p->dp);
}

static void port_wake(void *ctx)
{
	struct dp_port *p = ctx;

	wake_workers(p->dp);
}

/* Workers signal here when a guest broke the rules. */
static void broken_event(void *arg, int fd, uint32_t events)
{
	struct dp *dp = arg;
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	for (unsigned i = 0; i < dp->nports; i++)
		if (dp->ports[i] && dp->ports[i]->port)
			dp->ports[i]->port->ops->check(dp->ports[i]->port);
}

/* Guest memory faults are flagged from a signal handler, which cannot wake
 * anyone: look for them (and anything else missed) a few times a second. */
enum { DP_CHECK_MS = 200 };

/* The VLAN a bound MAC lives in: the access VLAN, or a trunk's native one. */
static uint16_t bound_vlan(const struct dp_port_cfg *c)
{
	return c->tag ? c->tag : c->native;
}

static void worker_stuck(void *arg, unsigned i);

static void periodic_check(void *arg)
{
	struct dp *dp = arg;

	uint64_t now_ns = clk_now_ns(), qnow = dp_qos_now(dp, now_ns);
	uint32_t now_s = dp_now_s(dp, now_ns);

	if (now_s != dp->last_age_s) {
		sw_fdb_age(dp->fdb, now_s);
		dp->last_age_s = now_s;
		dp_evpn_tick(dp, now_s);
	}
	/* A worker that is awake (not offline in epoll) but has not finished
	 * a loop since the last look is blocked or spinning on something a
	 * guest controls: interrupt it (see worker_stuck). */
	for (unsigned i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->w[i];
		uint64_t l = atomic_load_explicit(&w->loops, memory_order_relaxed);
		bool awake = atomic_load_explicit(&w->qs.seen, memory_order_relaxed) != 0;
		if (awake && l == w->loops_seen)
			worker_stuck(dp, i);
		w->loops_seen = l;
	}

	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		if (!p)
			continue;
		if (p->port) {
			p->port->ops->check(p->port);
			if (p->port->ops->tick)
				p->port->ops->tick(p->port);
		}
		qos_refresh(&p->qin, qnow);
		qos_refresh(&p->qeg, qnow);
		/* mac=auto got its MAC: no other port may take it over. */
		uint64_t am = atomic_load(&p->auto_mac);
		if (am && !p->auto_static && p->cfg->mac_auto &&
		    sw_fdb_add_static(dp->fdb, bound_vlan(p->cfg), am & ((1ull << 48) - 1), p->id, 0) == 0) {
			p->auto_static = true;
			vlog_info("%s: mac=auto bound to %012llx", p->name,
			          (unsigned long long)(am & ((1ull << 48) - 1)));
		}
	}
	/* A publication that ran out of memory left the empty snapshot:
	 * nothing forwards until the next one succeeds, so try again. The
	 * same when the restart hold ends on its deadline. */
	if (atomic_load(&dp->conf)->gen == 0 || (dp->settling && settled(dp)))
		publish(dp);
	dp->check_timer = evloop_timer(dp->ev, DP_CHECK_MS, periodic_check, dp);
}

/* A queue's cycles so far, all workers together. */
static uint64_t queue_cycles(const struct dp *dp, unsigned port, unsigned q)
{
	uint64_t c = 0;

	for (unsigned w = 0; w < dp->nworkers; w++)
		c += atomic_load_explicit(&dp->w[w]->qst[port][q].cycles, memory_order_relaxed);
	return c;
}

/* The rebalancer's look (cycles placement, rebalance on): one queue moves
 * when a move has been worth it DP_REBAL_SUSTAIN looks in a row. */
static void rebalance(struct dp *dp)
{
	struct dp_pq *tab;
	unsigned n, cap = 0, to;
	int pick;

	if (!dp->rebal.on || dp->placement != DP_PLACE_CYCLES || dp->nworkers < 2) {
		dp->rebal_sustain = 0;
		return;
	}
	for (unsigned i = 0; i < dp->nports; i++)
		if (port_live(dp->ports[i]))
			cap += PORT_MAX_QUEUES;
	if (!cap || !(tab = xcalloc(cap, sizeof(*tab))))
		return;
	n = place_queues(dp, tab, false);
	pick = dp_rebalance_pick(tab, n, dp->nworkers, dp->wload, dp->interval,
	                         &(struct dp_rebal){ dp->rebal.threshold_pct, dp->rebal.improve_pct },
	                         &to);
	if (pick < 0) {
		dp->rebal_sustain = 0;
	} else if (++dp->rebal_sustain >= DP_REBAL_SUSTAIN) {
		const struct dp_pq *e = &tab[pick];
		vlog_info("%s: queue %u moves from worker %d to worker %u (loads %.0f%% and %.0f%%)",
		          dp->ports[e->port]->name, e->q, e->w, to,
		          100.0 * (double)dp->wload[e->w] / (double)dp->interval,
		          100.0 * (double)dp->wload[to] / (double)dp->interval);
		dp->place[e->port][e->q] = (int8_t)to;
		dp->rebal_sustain = 0;
		dp->rebalance_moves++;
		publish(dp);
	}
	xfree(tab);
}

/* Every rebal.interval_ms: each queue's and each worker's busy cycles in
 * the interval (the cycles policy and `vifctl queues` go by them), then
 * the rebalancer's look. */
static void measure_loads(void *arg)
{
	struct dp *dp = arg;
	uint64_t now = clk_cycles();

	dp->interval = now - dp->tseen;
	dp->tseen = now;
	for (unsigned w = 0; w < dp->nworkers; w++) {
		uint64_t b = atomic_load_explicit(&dp->w[w]->busy_cycles, memory_order_relaxed);
		dp->wload[w] = b - dp->wseen[w];
		dp->wseen[w] = b;
	}
	for (unsigned i = 0; i < dp->nports; i++) {
		if (!dp->ports[i])
			continue;
		for (unsigned q = 0; q < PORT_MAX_QUEUES; q++) {
			uint64_t c = queue_cycles(dp, i, q);
			dp->qload[i][q] = c - dp->qseen[i][q];
			dp->qseen[i][q] = c;
		}
	}
	rebalance(dp);
	dp->load_timer = evloop_timer(dp->ev, dp->rebal.interval_ms, measure_loads, dp);
}

int dp_create(struct evloop *ev, unsigned nworkers, const int *cpus, struct dp **out)
{
	struct dp *dp;
	int r = -ENOMEM;

	if (nworkers < 1 || nworkers > DP_MAX_WORKERS)
		return -EINVAL;
	dp = xcalloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->ev = ev;
	dp->nworkers = nworkers;
	dp->start_ns = clk_now_ns() - 1000000000ull;
	dp->eventfd = -1;
	qsbr_init(&dp->qsbr);
	/* SIGUSR1 interrupts a worker's blocking system call (no SA_RESTART):
	 * the call fails with EINTR and the guest's port is stopped. */
	struct sigaction sa = { .sa_handler = nop_handler };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		r = -errno;
		goto fail;
	}
	r = sw_fdb_create(NULL, &dp->fdb);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	dp->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dp->eventfd < 0) {
		r = -errno;
		goto fail;
	}
	r = evloop_add(ev, dp->eventfd, EPOLLIN, broken_event, dp);
	if (r < 0)
		goto fail;
	memset(dp->place, -1, sizeof(dp->place));
	dp->rebal = (struct dp_rebal_cfg){ .threshold_pct = 25, .improve_pct = 10,
	                                   .interval_ms = 1000 };
	unsigned none;
	struct dp_conf *c = conf_build(dp, NULL, &none);
	if (!c) {
		r = -ENOMEM;
		goto fail;
	}
	atomic_store(&dp->conf, c);
	for (unsigned i = 0; i < nworkers; i++) {
		struct dp_worker *w = xaligned_calloc(CACHE_LINE, sizeof(*w));
		if (!w) {
			r = -ENOMEM;
			goto fail;
		}
		dp->w[i] = w;
		w->id = i;
		w->cpu = cpus ? cpus[i] : -1;
		w->dp = dp;
		w->epfd = -1;
		w->kbuf = xcalloc(DP_BURST, PORT_FRAME_MAX);
		w->scratch = xaligned_calloc(CACHE_LINE, sizeof(*w->scratch));
		if (!w->kbuf || !w->scratch) {
			r = -ENOMEM;
			goto fail;
		}
		w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->wakefd < 0) {
			r = -errno;
			goto fail;
		}
		qsbr_register(&dp->qsbr, &w->qs);
	}
	for (unsigned i = 0; i < nworkers; i++) {
		r = -pthread_create(&dp->w[i]->th, NULL, dp_worker_main, dp->w[i]);
		if (r < 0)
			goto fail;
		dp->w[i]->started = true;
		char tname[16];
		snprintf(tname, sizeof(tname), "vifd-dp%u", i);
		pthread_setname_np(dp->w[i]->th, tname);
	}
	dp->check_timer = evloop_timer(ev, DP_CHECK_MS, periodic_check, dp);
	dp->tseen = clk_cycles();
	dp->load_timer = evloop_timer(ev, dp->rebal.interval_ms, measure_loads, dp);
	*out = dp;
	return 0;
fail:
	dp_destroy(dp);
	return r;
}

/* Waits for a stopping worker to end. The periodic check that interrupts
 * a stuck worker (worker_stuck) no longer runs at shutdown, and a worker
 * may block in a write to a guest's call eventfd (saturated by the guest
 * after it cleared O_NONBLOCK) on its way out: every DP_STUCK_NS without
 * the worker ending, it is interrupted again. */
static void join_worker(struct dp_worker *w, unsigned i)
{
	for (unsigned tries = 0;; tries++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += DP_STUCK_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(w->th, NULL, &ts) == 0)
			return;
		if (tries == 0)
			vlog_warn("worker %u does not end: interrupting it", i);
		pthread_kill(w->th, SIGUSR1);
	}
}

void dp_destroy(struct dp *dp)
{
	if (!dp)
		return;
	if (dp->check_timer)
		evloop_timer_cancel(dp->ev, dp->check_timer);
	if (dp->load_timer)
		evloop_timer_cancel(dp->ev, dp->load_timer);
	/* Workers first: a kernel port's ring or file must not go away under
	 * a worker still polling it. */
	for (unsigned i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->w[i];
		if (!w)
			continue;
		atomic_store(&w->stop, true);
	}
	wake_workers(dp);
	for (unsigned i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->w[i];
		if (w && w->started) {
			join_worker(w, i);
			w->started = false;
		}
	}
	dp_capture_free_all(dp);
	for (unsigned i = 0; i < dp->nports; i++) {
		struct dp_port *p = dp->ports[i];
		if (!p)
			continue;
		dp_evpn_detach(dp, p, false); /* the shadow devices stay for the next vifd */
		port_close(p->port);
		sw_fdb_flush_port(dp->fdb, p->id);
		port_free(p);
		dp->ports[i] = NULL;
	}
	for (unsigned i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->w[i];
		if (!w)
			continue;
		if (w->wakefd >= 0)
			close(w->wakefd);
		if (w->epfd >= 0)
			close(w->epfd);
		xfree(w->kbuf);
		xfree(w->scratch);
		xfree(w);
		dp->w[i] = NULL;
	}
	conf_free((struct dp_conf *)atomic_load(&dp->conf));
	if (dp->eventfd >= 0) {
		evloop_del(dp->ev, dp->eventfd);
		close(dp->eventfd);
	}
	sw_fdb_destroy(dp->fdb);
	xfree(dp);
}

static struct dp_port *port_by_name(struct dp *dp, const char *name)
{
	for (unsigned i = 0; i < dp->nports; i++)
		if (dp->ports[i] && !strcmp(dp->ports[i]->name, name))
			return dp->ports[i];
	return NULL;
}

/* Gives port p slot id: identity, fresh counters for a reused slot (no
 * worker writes them: the slot is in no snapshot), the default MAC limit. */
static void port_slot_init(struct dp *dp, struct dp_port *p, unsigned id, const char *name)
{
	p->id = (uint16_t)id;
	p->dp = dp;
	strcpy(p->name, name);
	for (unsigned w = 0; w < dp->nworkers; w++) {
		memset(&dp->w[w]->st[id], 0, sizeof(dp->w[w]->st[id]));
		memset(&dp->w[w]->qst[id], 0, sizeof(dp->w[w]->qst[id]));
	}
	memset(dp->place[id], -1, sizeof(dp->place[id]));
	memset(dp->qload[id], 0, sizeof(dp->qload[id]));
	memset(dp->qseen[id], 0, sizeof(dp->qseen[id]));
	p->mac_limit_dflt = SW_FDB_DEFAULT_LIMIT;
	sw_fdb_set_limit(dp->fdb, p->id, SW_FDB_DEFAULT_LIMIT);
}

int dp_port_del(struct dp *dp, const char *name)
{
	struct dp_port *p = port_by_name(dp, name);

	if (!p)
		return -ENOENT;
	/* Leave the snapshots first, then close the driver. */
	p->frozen = true;
	publish(dp);
	if (p->port)
		p->port->removing = true;
	dp_capture_port_gone(dp, p);
	dp_evpn_detach(dp, p, true);
	port_close(p->port); /* no snapshot lists it any more */
	p->port = NULL;
	sw_fdb_flush_port(dp->fdb, p->id);
	dp->ports[p->id] = NULL;
	while (dp->nports && !dp->ports[dp->nports - 1])
		dp->nports--;
	publish(dp);
	vlog_info("%s: port removed", name);
	port_free(p);
	return 0;
}

int dp_port_check_cfg(const struct dp_port_cfg *cfg, char *err, size_t errlen)
{
	struct qos_prof pf;
	char why[96];

	if (cfg->tag > 4094 || cfg->native > 4094) {
		snprintf(err, errlen, "VLAN ids are 0..4094");
		return -EINVAL;
	}
	if (cfg->weight > QOS_MAX_WEIGHT) {
		snprintf(err, errlen, "weight must be 1..%d", QOS_MAX_WEIGHT);
		return -EINVAL;
	}
	if (qos_prof_build(&cfg->ingress, cfg->overhead, &pf, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "ingress: %s", why);
		return -EINVAL;
	}
	if (qos_prof_build(&cfg->egress, cfg->overhead, &pf, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "egress: %s", why);
		return -EINVAL;
	}
	return 0;
}

/* Installs policy cfg on port p (a copy) with its MAC table entries, then
 * publishes (unless p is in no snapshot yet). 0, -EINVAL or -ENOMEM, or
 * -ENOSPC when a bound MAC finds no room in the table (then p keeps its
 * old policy). */
static int cfg_install(struct dp *dp, struct dp_port *p, const struct dp_port_cfg *cfg)
{
	struct dp_port_cfg *nc, *old;
	char err[128];
	bool rebind;

	if (dp_port_check_cfg(cfg, err, sizeof(err)) < 0)
		return -EINVAL;
	nc = xcalloc(1, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	*nc = *cfg;
	old = p->cfg;
	rebind = !sw_policy_same(&old->sw, &nc->sw);
	if (rebind) {
		/* A bound MAC is a static entry: no other port can take it
		 * over (their frames from it are dropped as spoofed). */
		if (old->mac_bound)
			sw_fdb_del(dp->fdb, bound_vlan(old), sw_mac48(old->mac));
		/* VLANs may have changed: learn again. The operator's static
		 * entries (fdb-add) stay. */
		sw_fdb_flush_learned(dp->fdb, p->id);
		if (nc->mac_bound &&
		    sw_fdb_add_static(dp->fdb, bound_vlan(nc), sw_mac48(nc->mac), p->id, 0) < 0) {
			/* The old policy stays: put its binding back. */
			if (old->mac_bound)
				sw_fdb_add_static(dp->fdb, bound_vlan(old), sw_mac48(old->mac), p->id, 0);
			xfree(nc);
			return -ENOSPC;
		}
	}
	/* (always: a new port's limit is its type's default, which the
	 * policy of a port just made need not change) */
	sw_fdb_set_limit(dp->fdb, p->id, nc->mac_limit ? nc->mac_limit : p->mac_limit_dflt);
	p->cfg = nc;
	if (p->port)
		publish(dp); /* after it, no worker reads the old policy */
	if (rebind) {
		/* mac=auto binds afresh after every switching change. */
		uint64_t am = atomic_exchange(&p->auto_mac, 0);
		if (p->auto_static && (am & ((1ull << 48) - 1)))
			sw_fdb_del(dp->fdb, bound_vlan(old), am & ((1ull << 48) - 1));
		p->auto_static = false;
	}
	xfree(old);
	return 0;
}

static void log_policy(const char *name, const struct dp_port_cfg *nc)
{
	vlog_info("%s: policy set (%s %u%s%s%s%s)", name,
	          nc->tag ? "access VLAN" : "trunk, native VLAN", nc->tag ? nc->tag : nc->native,
	          nc->isolated ? ", isolated" : "", nc->mac_bound ? ", MAC bound" : "",
	          nc->ingress.bps || nc->ingress.pps ? ", ingress limited" : "",
	          nc->egress.bps || nc->egress.pps ? ", egress limited" : "");
}

/* A VXLAN port's vni-map VLANs reach it as tagged frames: it must be a
 * trunk that carries them, none of them its native VLAN. */
static int vx_policy_ok(const struct dp_port *p, const struct dp_port_cfg *c, char *err,
                        size_t errlen)
{
	uint32_t vni[DP_EVPN_MAX];
	uint16_t vlan[DP_EVPN_MAX];
	unsigned n = p->port && p->port->ops->vnis ?
	             p->port->ops->vnis(p->port, vni, vlan, DP_EVPN_MAX) : 0;

	for (unsigned k = 0; k < n; k++) {
		if (!vlan[k])
			continue;
		if (c->sw.tag) {
			snprintf(err, errlen, "a port with vni-map must be a trunk (tag=%u makes it an "
			         "access port)", c->sw.tag);
			return -EINVAL;
		}
		if (vlan[k] == c->sw.native || !sw_vlan_allowed(&c->sw, vlan[k])) {
			snprintf(err, errlen, "VLAN %u of vni-map is %s", vlan[k],
			         vlan[k] == c->sw.native ? "the port's native VLAN"
			                                 : "not among the port's trunks=");
			return -EINVAL;
		}
	}
	return 0;
}

int dp_port_set(struct dp *dp, const char *name, const struct dp_port_cfg *cfg, char *err,
                size_t errlen)
{
	struct dp_port *p = port_by_name(dp, name);
	int r;

	err[0] = '\0';
	if (!p)
		return -ENOENT;
	r = vx_policy_ok(p, cfg, err, errlen);
	if (r < 0)
		return r;
	r = cfg_install(dp, p, cfg);
	if (r == 0)
		log_policy(name, p->cfg);
	return r;
}

int dp_port_add(struct dp *dp, const struct port_params *pp, const struct dp_port_cfg *cfg,
                char *err, size_t errlen)
{
	static const struct dp_port_cfg plain; /* a plain learning-bridge port */
	struct dp_port *p;
	unsigned id;
	int r;

	if (!pp->name || !*pp->name || strlen(pp->name) >= DP_PORT_NAME_MAX) {
		snprintf(err, errlen, "bad port name");
		return -EINVAL;
	}
	if (port_by_name(dp, pp->name)) {
		snprintf(err, errlen, "port %s exists", pp->name);
		return -EEXIST;
	}
	if (cfg && dp_port_check_cfg(cfg, err, errlen) < 0)
		return -EINVAL;
	for (id = 0; id < dp->nports && dp->ports[id]; id++)
		;
	if (id == DP_MAX_PORTS) {
		snprintf(err, errlen, "too many ports (at most %d)", DP_MAX_PORTS);
		return -ENOSPC;
	}
	p = xaligned_calloc(CACHE_LINE, sizeof(*p));
	if (!p || !(p->cfg = xcalloc(1, sizeof(*p->cfg)))) {
		xfree(p);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	port_slot_init(dp, p, id, pp->name);
	/* Behind a VXLAN port are whole hosts' worth of MACs, shared by all
	 * its remote endpoints (zebra's, with EVPN: as many as it knows). */
	if (pp->vx)
		p->mac_limit_dflt = pp->vx->evpn ? UINT16_MAX : DP_VXLAN_MAC_LIMIT;
	p->env = (struct port_env){ .ev = dp->ev, .broken_fd = dp->eventfd,
	                            .shared = dp->nworkers > 1, .quiesce = port_quiesce,
	                            .changed = port_changed, .wake = port_wake, .ctx = p };
	dp->ports[id] = p;
	if (id == dp->nports)
		dp->nports++;
	/* The policy first, so the port's first frame already obeys it (no
	 * snapshot lists the port until its driver is open). */
	r = cfg_install(dp, p, cfg ? cfg : &plain);
	if (r < 0) {
		snprintf(err, errlen, "%s", r == -ENOSPC ? "no room in the MAC table for its MAC"
		                                         : strerror(-r));
	} else {
		r = port_open(pp, &p->env, &p->port, err, errlen);
		if (r == 0 && (r = vx_policy_ok(p, p->cfg, err, errlen)) < 0) {
			port_close(p->port);
			p->port = NULL;
		}
		if (r == 0 && pp->vx && pp->vx->evpn) {
			r = dp_evpn_attach(dp, p, pp, err, errlen);
			if (r < 0) {
				port_close(p->port);
				p->port = NULL;
			}
		}
	}
	if (r < 0) {
		sw_fdb_flush_port(dp->fdb, p->id);
		dp->ports[id] = NULL;
		while (dp->nports && !dp->ports[dp->nports - 1])
			dp->nports--;
		port_free(p);
		return r;
	}
	publish(dp);
	if (pp->vx) {
		char vni_txt[32] = "none for untagged frames";

		if (pp->vx->has_vni)
			snprintf(vni_txt, sizeof(vni_txt), "%lld", (long long)pp->vx->vni);
		vlog_info("%s: vxlan port added (VNI %s%s%s, local %s, UDP port %u%s%s, "
		          "remotes %s)", p->name, vni_txt,
		          pp->vx->vni_map ? ", vni-map " : "", pp->vx->vni_map ? pp->vx->vni_map : "",
		          pp->vx->local,
		          pp->vx->dstport ? pp->vx->dstport : 4789,
		          p->port->netns[0] ? ", netns " : "", p->port->netns,
		          pp->vx->remote && *pp->vx->remote ? pp->vx->remote : "none yet");
	} else if (p->port->ifname[0]) {
		vlog_info("%s: %s port added (%s%s%s, %u queues)", p->name, pp->type,
		          p->port->ifname, p->port->netns[0] ? " in netns " : "", p->port->netns,
		          p->port->nq);
	} else {
		vlog_info("%s: %s port added (%s %s, %u queue pairs)", p->name, pp->type,
		          pp->client ? "connecting to" : "listening on", pp->path, pp->queues);
	}
	if (cfg && memcmp(cfg, &plain, sizeof(plain)))
		log_policy(p->name, p->cfg);
	return 0;
}

int dp_port_get_cfg(struct dp *dp, const char *name, struct dp_port_cfg *cfg)
{
	struct dp_port *p = port_by_name(dp, name);

	if (!p)
		return -ENOENT;
	*cfg = *p->cfg;
	return 0;
}

void dp_set_unknown_unicast_drop(struct dp *dp, bool drop)
{
	dp->unknown_drop = drop;
	publish(dp);
}

static uint64_t mac48(const uint8_t m[6])
{
	return sw_mac48(m);
}

int dp_fdb_add_static(struct dp *dp, const char *port, uint16_t vlan, const uint8_t mac[6],
                      const char *remote, char *why, size_t whylen)
{
	struct dp_port *p = port_by_name(dp, port);
	const struct port_ops *ops;
	int rem = 0;

	if (!p)
		return -ENOENT;
	if (vlan > 4094 || (mac[0] & 1))
		return -EINVAL;
	ops = p->port ? p->port->ops : NULL;
	if (ops && ops->remote_get && !remote) {
		snprintf(why, whylen, "%s is a VXLAN port: give the endpoint (remote=ADDRESS)", port);
		return -EINVAL;
	}
	if (remote && !(ops && ops->remote_get)) {
		snprintf(why, whylen, "remote= is for VXLAN ports, and %s is not one", port);
		return -EINVAL;
	}
	if (remote) {
		rem = ops->remote_get(p->port, remote, -1, why, whylen);
		if (rem < 0)
			return rem;
	}
	return sw_fdb_add_static(dp->fdb, vlan, mac48(mac), p->id, (uint8_t)rem);
}

int dp_fdb_del(struct dp *dp, uint16_t vlan, const uint8_t mac[6])
{
	if (vlan > 4094)
		return -EINVAL;
	return sw_fdb_del(dp->fdb, vlan, mac48(mac));
}

int dp_set_mac_aging(struct dp *dp, uint32_t seconds)
{
	return sw_fdb_set_age(dp->fdb, seconds);
}

uint32_t dp_get_mac_aging(const struct dp *dp)
{
	return sw_fdb_age_s(dp->fdb);
}

bool dp_get_unknown_unicast_drop(const struct dp *dp)
{
	return dp->unknown_drop;
}

int dp_set_busy_poll(struct dp *dp, uint32_t us)
{
	if (us > DP_BUSY_POLL_MAX_US)
		return -EINVAL;
	dp->busy_poll_us = us;
	publish(dp);
	return 0;
}

uint32_t dp_get_busy_poll(const struct dp *dp)
{
	return dp->busy_poll_us;
}

static void fill(struct dp *dp, struct dp_port *p, struct dp_port_info *info,
                 struct dp_port_stats *st)
{
	struct port_info pi;

	memset(&pi, 0, sizeof(pi));
	if (p->port)
		p->port->ops->info(p->port, &pi);
	if (info) {
		uint64_t am = atomic_load(&p->auto_mac);

		memset(info, 0, sizeof(*info));
		snprintf(info->name, sizeof(info->name), "%s", p->name);
		snprintf(info->type, sizeof(info->type), "%s", pi.type);
		snprintf(info->path, sizeof(info->path), "%s", pi.path);
		snprintf(info->ifname, sizeof(info->ifname), "%s", pi.ifname);
		snprintf(info->netns, sizeof(info->netns), "%s", pi.netns);
		info->client = pi.client;
		info->connected = pi.connected;
		info->broken = pi.broken;
		info->queue_pairs = pi.queue_pairs;
		info->active_pairs = pi.active_pairs;
		info->auto_mac_set = am != 0;
		for (int b = 0; b < 6; b++)
			info->auto_mac[b] = (uint8_t)(am >> (40 - 8 * b));
		info->promisc = pi.promisc;
		info->allmulti = pi.allmulti;
		info->live_rx = pi.live_rx;
		info->live_tx = pi.live_tx;
		info->features = pi.features;
		info->mtu = pi.mtu;
		info->ol_rx = pi.ol_in;
		info->ol_tx = pi.ol_out;
		info->mem_bytes = pi.mem_bytes;
		info->vx = pi.vx;
		info->vx_vni = pi.vx_vni;
		info->vx_dstport = pi.vx_dstport;
		snprintf(info->vx_local, sizeof(info->vx_local), "%s", pi.vx_local);
		info->vx_untagged = pi.vx_untagged;
		snprintf(info->vx_map, sizeof(info->vx_map), "%s", pi.vx_map);
		info->vx_remotes = pi.vx_remotes;
		info->vx_flood = pi.vx_flood;
	}
	if (st) {
		memset(st, 0, sizeof(*st));
		for (unsigned w = 0; w < dp->nworkers; w++) {
			struct dp_wstats *s = &dp->w[w]->st[p->id];
#define SUM(f, name, metric, help) st->f += atomic_load_explicit(&s->f, memory_order_relaxed);
			DP_WORKER_COUNTERS(SUM)
#undef SUM
		}
#define CP(f, name, metric, help) st->f = pi.f;
		PORT_COUNTERS(CP)
#undef CP
	}
}

int dp_port_get(struct dp *dp, unsigned i, struct dp_port_info *info, struct dp_port_stats *st)
{
	unsigned seen = 0;

	for (unsigned id = 0; id < dp->nports; id++) {
		if (!dp->ports[id])
			continue;
		if (seen++ == i) {
			fill(dp, dp->ports[id], info, st);
			return 0;
		}
	}
	return -ENOENT;
}

int dp_port_find(struct dp *dp, const char *name, struct dp_port_info *info,
                 struct dp_port_stats *st)
{
	struct dp_port *p = port_by_name(dp, name);

	if (!p)
		return -ENOENT;
	fill(dp, p, info, st);
	return 0;
}

uint64_t dp_publishes(const struct dp *dp)
{
	return dp->gen;
}

void dp_global_get(struct dp *dp, struct dp_global_stats *st)
{
	struct closer_stats cs;

	memset(st, 0, sizeof(*st));
	st->publishes = dp->gen;
	st->mem_mapped = gmem_mapped_total();
	gmem_get_limits(&st->port_mem_max, &st->mem_max);
	closer_get_stats(&cs);
	st->fds_closed = cs.closed;
	st->close_stuck = cs.stuck;
	st->fds_leaked = cs.leaked;
	st->fds_queued = cs.queued;
	st->closers_stuck = cs.stuck_now;
	st->queue_moves = dp->queue_moves;
	st->rebalance_moves = dp->rebalance_moves;
	st->move_stall_last_ns = dp->move_stall_last_ns;
	st->move_stall_max_ns = dp->move_stall_max_ns;
}

unsigned dp_nworkers(const struct dp *dp)
{
	return dp->nworkers;
}

void dp_worker_get(struct dp *dp, unsigned i, struct dp_worker_stats *st)
{
	struct dp_worker *w = dp->w[i];

	memset(st, 0, sizeof(*st));
	st->cpu = w->cpu;
	st->busy_cycles = atomic_load_explicit(&w->busy_cycles, memory_order_relaxed);
	st->idle_cycles = atomic_load_explicit(&w->idle_cycles, memory_order_relaxed);
	st->pkts = atomic_load_explicit(&w->pkts, memory_order_relaxed);
	st->busy_iters = atomic_load_explicit(&w->busy_iters, memory_order_relaxed);
	st->sleeps = atomic_load_explicit(&w->sleeps, memory_order_relaxed);
	st->answers_caught = atomic_load_explicit(&w->answers_caught, memory_order_relaxed);
	st->answers_missed = atomic_load_explicit(&w->answers_missed, memory_order_relaxed);
	st->nqueues = atomic_load_explicit(&w->nqueues, memory_order_relaxed);
	st->load_cycles = dp->wload[i];
	st->interval_cycles = dp->interval;
}

int dp_queue_get(struct dp *dp, unsigned i, struct dp_queue_stats *st)
{
	const struct dp_conf *c = atomic_load(&dp->conf);

	for (unsigned p = 0; p < dp->nports; p++) {
		struct dp_port *dpp = dp->ports[p];
		uint16_t rxq[PORT_MAX_QUEUES];
		unsigned nrx;

		if (!port_live(dpp))
			continue;
		nrx = dpp->port->ops->queues(dpp->port, false, rxq);
		if (i >= nrx) {
			i -= nrx;
			continue;
		}
		unsigned q = rxq[i];
		memset(st, 0, sizeof(*st));
		strcpy(st->port, dpp->name);
		st->q = (uint16_t)q;
		st->worker = c->gen ? c->where[p][q] : -1;
		st->pinned = dpp->cfg->worker[q] != 0;
		for (unsigned w = 0; w < dp->nworkers; w++) {
			st->pkts += atomic_load_explicit(&dp->w[w]->qst[p][q].pkts, memory_order_relaxed);
			st->cycles += atomic_load_explicit(&dp->w[w]->qst[p][q].cycles,
			                                   memory_order_relaxed);
		}
		st->load_cycles = dp->qload[p][q];
		st->interval_cycles = dp->interval;
		return 0;
	}
	return -ENOENT;
}

void dp_set_placement(struct dp *dp, enum dp_placement pol)
{
	struct dp_pq *tab;
	unsigned cap = 0;

	dp->placement = pol;
	for (unsigned i = 0; i < dp->nports; i++)
		if (port_live(dp->ports[i]))
			cap += PORT_MAX_QUEUES;
	/* Every unpinned queue afresh; queues not live now are placed when
	 * they come up. */
	memset(dp->place, -1, sizeof(dp->place));
	tab = xcalloc(cap ? cap : 1, sizeof(*tab));
	if (tab)
		place_queues(dp, tab, true);
	xfree(tab);
	publish(dp);
	vlog_info("datapath: placement %s", dp_placement_name(pol));
}

enum dp_placement dp_get_placement(const struct dp *dp)
{
	return dp->placement;
}

int dp_set_rebalance(struct dp *dp, const struct dp_rebal_cfg *cfg)
{
	if (cfg->threshold_pct < 1 || cfg->threshold_pct > 100 || cfg->improve_pct < 1 ||
	    cfg->improve_pct > 100 || cfg->interval_ms < 100 || cfg->interval_ms > 60000)
		return -EINVAL;
	dp->rebal = *cfg;
	dp->rebal_sustain = 0;
	return 0;
}

void dp_get_rebalance(const struct dp *dp, struct dp_rebal_cfg *cfg)
{
	*cfg = dp->rebal;
}

struct fdb_walk {
	struct dp *dp;
	dp_fdb_fn *fn;
	void *arg;
};

/* The address of remote rem of port p into buf ("" if none). */
static bool remote_name(struct dp_port *p, uint8_t rem, char *buf, size_t len)
{
	bool flood = false;

	buf[0] = '\0';
	if (rem && p->port && p->port->ops->remote_name)
		p->port->ops->remote_name(p->port, rem, buf, len, &flood);
	return flood;
}

static void fdb_one(void *arg, uint16_t vlan, uint64_t mac, uint16_t port, uint8_t rem,
                    uint32_t age_s, bool is_static)
{
	struct fdb_walk *fw = arg;
	char ra[INET6_ADDRSTRLEN];
	uint8_t m[6];

	if (port >= fw->dp->nports || !fw->dp->ports[port])
		return;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)(mac >> (40 - 8 * i));
	remote_name(fw->dp->ports[port], rem, ra, sizeof(ra));
	fw->fn(fw->arg, vlan, m, fw->dp->ports[port]->name, ra, age_s,
	       is_static ? DP_FDB_STATIC
	       : dp_evpn_is_remote(fw->dp->ports[port], vlan, m) ? DP_FDB_EVPN : DP_FDB_LEARNED);
}

void dp_fdb_foreach(struct dp *dp, dp_fdb_fn *fn, void *arg)
{
	static const uint8_t zero[6];
	struct fdb_walk fw = { dp, fn, arg };
	char ra[INET6_ADDRSTRLEN];

	sw_fdb_foreach(dp->fdb, dp_now_s(dp, clk_now_ns()), fdb_one, &fw);
	for (unsigned id = 0; id < dp->nports; id++) {
		struct dp_port *p = dp->ports[id];

		if (!p || !p->port || !p->port->ops->remote_name)
			continue;
		for (unsigned r = 1; r <= 255; r++) {
			bool flood = remote_name(p, (uint8_t)r, ra, sizeof(ra));
			if (!ra[0])
				continue; /* (none, or taken out) */
			if (flood)
				fn(arg, 0, zero, p->name, ra, 0, DP_FDB_FLOOD);
		}
	}
}
