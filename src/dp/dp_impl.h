/* dp_impl.h - datapath internals shared by dp_port.c (control side: ports,
 * configuration snapshots, publication) and dp_worker.c (the poll loop).
 *
 * Memory-order contract:
 *  - dp->conf is written by the control thread with a release store of a
 *    fully built snapshot and read by workers with an acquire load once per
 *    loop iteration. A snapshot is never modified after publication; the
 *    old one is freed after qsbr_synchronize().
 *  - A port's driver (struct port) is used by workers only through a
 *    snapshot that lists its live queues; a vhost-user device changes only
 *    after a snapshot without it has been published and synchronized
 *    (the quiesce its driver asks for).
 *  - Counters (struct dp_wstats) are written by their worker only, with
 *    relaxed atomic adds, and summed by the control thread with relaxed
 *    loads: a read may be a burst behind, never torn.
 */
#ifndef VIFD_DP_IMPL_H
#define VIFD_DP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "clk.h"
#include "dp.h"
#include "dp_reply.h"
#include "fdb.h"
#include "pkt.h"
#include "port.h"
#include "qos.h"
#include "qsbr.h"
#include "sw_policy.h"

enum {
	DP_BURST = 32,
	DP_MAX_CAPTURES = 8,      /* port captures running at once */
	DP_CAP_MEM_MAX = 512 << 20, /* shared memory of all captures together */
	/* After work, a worker polls on for its spin window before it
	 * sleeps, and adapts the window to the gaps it sees between work
	 * (dp_worker.c, adapt_spin): gaps up to DP_SPIN_WORTH_NS (cheaper to
	 * wait for polling than to sleep and be woken) double it, up to
	 * DP_IDLE_NS; longer ones halve it, down to 0 (sleep at once). */
	DP_IDLE_NS = 200000,      /* the longest spin window */
	DP_SPIN_WORTH_NS = 40000,
	DP_SPIN_MIN_NS = 2000,    /* the window when it grows from 0 */
	DP_NOFD_POLL_NS = 500000, /* while idle, rings without a kick fd are
	                           * polled this often (a timed sleep) */
	DP_VXLAN_MAC_LIMIT = 4096, /* a VXLAN port's default mac-limit (EVPN: none) */
	DP_EVPN_GRACE_S = 10,     /* after an EVPN sync starts, local MACs are only
	                           * added, not withdrawn, for this long */
	DP_EVPN_MAX = 257,        /* VNIs of one port: its untagged one and vni-map's */
	DP_EVPN_FRESH_S = 2,      /* a MAC heard on a local port this recently is not
	                           * moved to a remote zebra installs ... */
	DP_EVPN_STALE_S = 10,     /* ... and one silent there this long is, if zebra
	                           * still has it behind a remote */
};

/* Frame bytes the worker copies privately for classification (the
 * packet's head, and writes to the receiver from that copy): enough for a
 * tagged NDP target. */
enum { DP_PREFIX = PKT_HEAD };
static_assert(DP_PREFIX >= 18 + 40 + 8 + 16, "a tagged NDP target fits the head");

struct dp_cap;
struct dp_evpn;

struct dp_port {
	uint16_t id;                 /* slot in dp->ports and in counters */
	char name[DP_PORT_NAME_MAX];
	struct dp *dp;
	struct port *port;           /* its driver: opened and closed by the control
	                              * thread, its queues used by workers through
	                              * snapshots */
	struct port_env env;         /* what the driver gets from the datapath */
	_Atomic uint64_t auto_mac;   /* mac=auto: 1 << 63 | MAC once bound, else 0;
	                              * set once by the first worker to see a frame
	                              * (CAS), reset by the control thread on set-port */
	bool auto_static;            /* control: its static fdb entry exists */
	struct dp_port_cfg *cfg;     /* policy; immutable once published: a
	                              * change installs a new one and frees the
	                              * old after the next synchronize */
	bool frozen;                 /* control: excluded from snapshots (a device
	                              * being changed, a port being removed) */
	bool listed;                 /* control: the last published snapshot
	                              * lists it (some ring or queue of it) */
	/* Rate limit buckets (workers, under their lock). */
	struct qos_state qin, qeg;
	struct qos_drr eg_drr;       /* fair share of the egress limit (qeg's lock) */
	struct dp_cap *cap;          /* control: its running capture, or NULL
	                              * (snapshots copy it: dp_conf_port) */
	struct dp_evpn *evpn;        /* control: a VXLAN port's EVPN syncs, one per
	                              * VNI (dp_evpn.c) */
	unsigned nevpn;
	uint16_t *evpn_vlan;         /* VLAN -> index in evpn + 1 (0: none) */
	uint32_t evpn_since;         /* control: when they started (dp_now_s) */
	uint16_t mac_limit_dflt;     /* its learned-MAC limit without mac-limit= */
};

/* Per-worker, per-port counters: dp.h's DP_WORKER_COUNTERS. */
#define DP_WSTAT_FIELD(f, name, metric, help) _Atomic uint64_t f;
struct dp_wstats {
	DP_WORKER_COUNTERS(DP_WSTAT_FIELD)
#undef DP_WSTAT_FIELD
} cache_aligned;

/* One queue a worker polls: receive queue q of a port. */
struct dp_poll {
	uint16_t port;
	uint16_t q;
	struct port *drv;
};

struct dp_conf_port {
	struct dp_port *port;        /* NULL: no port in this slot or not live */
	struct port *drv;            /* its driver */
	uint16_t ntxq;               /* live queues frames can be sent to */
	uint16_t txq[PORT_MAX_QUEUES]; /* their ids */
	const struct dp_port_cfg *cfg; /* the port's policy (never NULL when port is) */
	struct qos_prof qin, qeg;    /* its rate limits, precomputed */
	uint8_t weight;              /* its fair-share weight, 1.. */
	struct port_coal coal;       /* its interrupt moderation */
	/* A capture of the frames it sends into vifd / vifd sends to it
	 * (dp_cap.h), or NULL: tested once per burst. */
	struct dp_cap *cap_rx, *cap_tx;
};

struct dp_conf {
	uint64_t gen;                /* publication number: a worker compares it,
	                              * never the pointer (malloc reuses addresses) */
	unsigned nports;             /* slots in use: ids < nports */
	bool unknown_drop;           /* bridge: drop unknown unicast instead of flooding */
	uint64_t busy_poll_ns;       /* bridge: a worker polls at least this long after work */
	struct dp_conf_port ports[DP_MAX_PORTS];
	unsigned npoll[DP_MAX_WORKERS];
	struct dp_poll *poll[DP_MAX_WORKERS];
	/* The worker polling receive queue q of port p, -1: none. */
	int8_t where[DP_MAX_PORTS][PORT_MAX_QUEUES];
};

/* Per-worker, per receive queue cost: the polls that took frames. */
struct dp_qstat {
	_Atomic uint64_t cycles, pkts;
};

_Static_assert((int)DP_REPLY_PORTS == (int)DP_MAX_PORTS, "dp_reply.h sizes its tables by port");

struct dp_worker {
	unsigned id;
	int cpu;
	struct dp *dp;
	pthread_t th;
	bool started;
	struct qsbr_thread qs;
	int wakefd;                  /* eventfd: control -> worker "look again" */
	_Atomic bool stop;

	/* Liveness: loop iterations, written by the worker; the control
	 * thread's periodic check compares it with its last look. */
	_Atomic uint64_t loops;
	uint64_t loops_seen;         /* control thread only */

	/* Cycle accounting (written by the worker, read by control). */
	_Atomic uint64_t busy_cycles, idle_cycles, pkts, busy_iters, sleeps;
	_Atomic uint64_t answers_caught, answers_missed;
	_Atomic unsigned nqueues;

	/* Scratch: only this worker touches it. */
	struct clk_tsc clk;          /* the loop's clock (clk.h) */
	int epfd;
	uint64_t epgen;              /* snapshot gen the epoll set was built for */
	struct pkt burst[DP_BURST];  /* the burst being switched */
	uint8_t rem[DP_BURST];       /* per frame: the remote endpoint of its
	                              * destination (VXLAN; 0: its flood list) */
	/* Kernel ports read frames into these (DP_BURST buffers of
	 * PORT_FRAME_MAX bytes, allocated with the worker). */
	uint8_t *kbuf;
	struct port_scratch *scratch; /* drivers' scratch for this worker's sends */
	/* Per polled queue (index in conf->poll[id]): while `on`, its ingress
	 * limit has no tokens worth a poll before qos time t. Reset with
	 * every new snapshot. */
	struct {
		uint64_t t;
		bool on;
	} ready[DP_MAX_PORTS * PORT_MAX_QUEUES];
	unsigned nheld;              /* queues held in this loop iteration */
	/* The burst being switched, towards a congested port (deliver ->
	 * its poller): the last `keep` frames stay in the source's ring (they
	 * went to that port alone and it refused them: a guest ring can keep
	 * them when can_keep), and while hold_on the source queue is not
	 * polled again before qos time `hold`. */
	bool can_keep, hold_on;
	unsigned keep;
	uint64_t hold;
	/* Receive queues whose interrupt this worker held back (port_coal):
	 * flushed when due, before sleeping, and before passing a quiescent
	 * point once a snapshot newer than pend_gen is out (the drivers stay
	 * valid until then). */
	unsigned npend;
	uint64_t pend_gen;
	uint64_t pend_due;           /* qos time the first of them is due */
	struct dp_pend {
		struct port *drv;
		uint64_t due;
		uint16_t port, q;
	} pend[DP_MAX_PORTS * PORT_MAX_QUEUES];
	uint8_t pend_on[DP_MAX_PORTS][PORT_MAX_QUEUES];
	/* The burst being switched comes from a ring that keeps its frames
	 * until rx_done (port.h rx_in_ring): deliveries are written at once
	 * and committed after that (dp_commit), to the queues listed here. */
	bool defer;
	unsigned ncommit;
	struct dp_commit {
		uint16_t port, q;
	} commit[DP_MAX_PORTS * PORT_MAX_QUEUES];
	uint8_t commit_on[DP_MAX_PORTS][PORT_MAX_QUEUES];

	struct dp_reply reply;       /* who answers what it sends (dp_reply.h) */

	struct dp_wstats st[DP_MAX_PORTS];
	struct dp_qstat qst[DP_MAX_PORTS][PORT_MAX_QUEUES];
} cache_aligned;

struct dp {
	struct evloop *ev;
	/* After a restart (dp_settle, control thread): until settle_until_ns
	 * or until every port that keeps its frames in the sender's ring
	 * (rx_in_ring) has its rings back, those ports are not polled, so
	 * frames queued in a guest's ring before the restart do not go out
	 * while their destination is still reconnecting. */
	bool settling;
	uint64_t settle_until_ns;
	_Atomic(const struct dp_conf *) conf;
	struct qsbr qsbr;
	unsigned nworkers;
	struct dp_worker *w[DP_MAX_WORKERS];
	struct dp_port *ports[DP_MAX_PORTS];  /* control thread's view */
	unsigned nports;
	int eventfd;                 /* workers -> control: a port broke */
	struct sw_fdb *fdb;
	uint64_t start_ns;
	uint64_t gen;                /* last published snapshot number */
	bool unknown_drop;           /* control thread's bridge setting */
	uint32_t busy_poll_us;       /* control thread's bridge setting (dp_set_busy_poll) */
	uint32_t last_age_s;         /* when the fdb was last swept */
	struct ev_timer *check_timer; /* periodic vhu_dev_check of all ports */

	/* Placement (control thread): the policy, each receive queue's
	 * worker (-1: not placed yet; kept while the queue is down, so it
	 * comes back where it was), and the loads the cycles policy and the
	 * rebalancer go by, measured every rebal.interval_ms. */
	enum dp_placement placement;
	int8_t place[DP_MAX_PORTS][PORT_MAX_QUEUES];
	uint64_t qload[DP_MAX_PORTS][PORT_MAX_QUEUES]; /* cycles, last interval */
	uint64_t qseen[DP_MAX_PORTS][PORT_MAX_QUEUES]; /* cycles, all workers, at the last look */
	uint64_t wseen[DP_MAX_WORKERS];                /* busy cycles at the last look */
	uint64_t wload[DP_MAX_WORKERS];                /* busy cycles, last interval */
	uint64_t tseen, interval;                      /* TSC at the last look, and since the one before */
	struct dp_rebal_cfg rebal;
	unsigned rebal_sustain;      /* intervals in a row a move was worth it */
	struct ev_timer *load_timer;
	uint64_t queue_moves, rebalance_moves, move_stall_last_ns, move_stall_max_ns;
	struct dp_cap *caps[DP_MAX_CAPTURES]; /* running captures */
	unsigned cap_gen;            /* last capture id */
};

/* The datapath's qos clock: time since start in qos units (qos.h). */
static inline uint64_t dp_qos_now(const struct dp *dp, uint64_t now_ns)
{
	return qos_time(now_ns - dp->start_ns);
}

void *dp_worker_main(void *arg);
/* Records that queue q of conf port dst holds an interrupt since qos time
 * qnow (dp_worker.c). */
void dp_pend_add(struct dp_worker *w, const struct dp_conf *conf, unsigned dst, unsigned q,
                 uint64_t qnow);
/* Publishes a snapshot of the current ports and waits until no worker uses
 * the previous one (dp_port.c). */
void dp_publish(struct dp *dp);
/* Ends the captures of a port no snapshot lists any more (dp_cap.c), and
 * frees all captures once the workers have stopped. */
void dp_capture_port_gone(struct dp *dp, struct dp_port *p);
void dp_capture_free_all(struct dp *dp);
/* Switches the n frames of w->pkts that port scp's queue q received
 * (dp_switch.c): classification, then delivery per destination. */
/* Commits the deliveries of the burst just completed (w->commit). */
void dp_commit(struct dp_worker *w, const struct dp_conf *conf, uint64_t qnow);
void dp_switch_burst(struct dp_worker *w, const struct dp_conf *conf,
                     const struct dp_conf_port *scp, unsigned q, unsigned n, uint32_t now_s,
                     uint64_t qnow);
/* A VXLAN port's BGP EVPN sync (dp_evpn.c): started after its driver is
 * open (pp->vx->evpn), stopped before it closes (remove: by del-port, the
 * shadow devices go too); the tick (once a second) refreshes zebra's MACs
 * and writes the local ones. */
int dp_evpn_attach(struct dp *dp, struct dp_port *p, const struct port_params *pp, char *err,
                   size_t errlen);
void dp_evpn_detach(struct dp *dp, struct dp_port *p, bool remove);
void dp_evpn_tick(struct dp *dp, uint32_t now_s);
bool dp_evpn_is_remote(const struct dp_port *p, uint16_t vlan, const uint8_t mac[6]);
/* Seconds since the datapath started: the fdb's clock. */
static inline uint32_t dp_now_s(const struct dp *dp, uint64_t now_ns)
{
	return (uint32_t)((now_ns - dp->start_ns) / 1000000000ull);
}

#endif
