/* dp_impl.h - datapath internals shared by dp_port.c (control side: ports,
 * configuration snapshots, publication) and dp_worker.c (the poll loop).
 *
 * Memory-order contract:
 *  - dp->conf is written by the control thread with a release store of a
 *    fully built snapshot and read by workers with an acquire load once per
 *    loop iteration. A snapshot is never modified after publication; the
 *    old one is freed after qsbr_synchronize().
 *  - A port's vhu_dev is only read by workers through a snapshot that lists
 *    its live rings; the control thread changes the device only after
 *    publishing a snapshot without them and synchronizing (dp quiesce).
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
#include "dp_policy.h"
#include "fdb.h"
#include "qos.h"
#include "qsbr.h"
#include "vhu.h"
#include "vq.h"

enum {
	DP_BURST = 32,
	DP_MAX_DST_CHAINS = 64,  /* rx buffers one frame may span (MRG_RXBUF) */
	DP_IDLE_NS = 200000,     /* poll this long without work before sleeping */
};

/* A destination guest rx ring may be filled by several workers: each
 * burst's deliveries to it run under this lock (never per packet; never
 * two held at once). Only taken when the datapath has >1 worker. */
struct dp_rxq_lock {
	atomic_flag f;
} cache_aligned;

struct dp_port {
	uint16_t id;                 /* slot in dp->ports and in counters */
	char name[DP_PORT_NAME_MAX];
	struct dp *dp;
	struct vhu_dev *dev;         /* vhost-user ports: owned by the control thread */
	struct port *kp;             /* kernel ports (tap, afpacket) instead of dev:
	                              * opened and closed by the control thread,
	                              * its queues polled by workers through
	                              * snapshots, like a device's rings */
	_Atomic uint64_t auto_mac;   /* mac=auto: 1 << 63 | MAC once bound, else 0;
	                              * set once by the first worker to see a frame
	                              * (CAS), reset by the control thread on set-port */
	bool auto_static;            /* control: its static fdb entry exists */
	struct dp_port_cfg *cfg;     /* policy; immutable once published: a
	                              * change installs a new one and frees the
	                              * old after the next synchronize */
	bool frozen;                 /* control: excluded from snapshots while
	                              * its device is being changed */
	struct dp_rxq_lock rxq_lock[VHU_MAX_QUEUE_PAIRS];
	/* Rate limit buckets (workers, under their lock) and the fair-share
	 * state of each rx ring (under rxq_lock; allocated by the control
	 * thread when the ring first goes live, freed with the port). */
	struct qos_state qin, qeg;
	struct qos_drr eg_drr;       /* fair share of the egress limit (qeg's lock) */
	struct qos_fair *fair[VHU_MAX_QUEUE_PAIRS];
	/* Kernel ports with an ingress limit: per queue, the one frame read
	 * but not admitted (carry_len > 0), delivered first when the limit
	 * allows. Written by the worker polling the queue (a new snapshot
	 * may hand the queue to another worker: qsbr orders the two). */
	uint8_t *carry;              /* nq * PORT_FRAME_MAX bytes */
	uint32_t carry_len[PORT_MAX_QUEUES];
};

/* Per-worker, per-port counters: same fields as struct dp_port_stats. */
struct dp_wstats {
	_Atomic uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	_Atomic uint64_t drop_invalid, drop_no_room, drop_down, drop_hairpin, ring_errors;
	_Atomic uint64_t drop_vlan, drop_spoof, drop_isolation, drop_unknown, drop_mac_limit;
	_Atomic uint64_t drop_egress_limit, drop_congested, ingress_held, share_held;
} cache_aligned;

/* One queue a worker polls: a guest tx ring of a port (vr), or queue qp of
 * a kernel port (kp, vr NULL). */
struct dp_poll {
	uint16_t port;
	uint16_t qp;
	struct vhu_vring *vr;
	struct port *kp;
};

struct dp_conf_port {
	struct dp_port *port;        /* NULL: no port in this slot or not live */
	struct port *kp;             /* a kernel port: frames go out with port_tx()
	                              * (no rx rings, nrxq 0, no ring fair share) */
	uint16_t nrxq;               /* live guest rx rings */
	struct vhu_vring *rxq[VHU_MAX_QUEUE_PAIRS];
	uint32_t hdr_len;            /* the device's virtio-net header length */
	bool mrg_rxbuf;
	const struct dp_port_cfg *cfg; /* the port's policy (never NULL when port is) */
	struct qos_prof qin, qeg;    /* its rate limits, precomputed */
	uint8_t weight;              /* its fair-share weight, 1.. */
	struct qos_fair *fair[VHU_MAX_QUEUE_PAIRS]; /* per live rx ring (rxq order) */
};

struct dp_conf {
	uint64_t gen;                /* publication number: a worker compares it,
	                              * never the pointer (malloc reuses addresses) */
	unsigned nports;             /* slots in use: ids < nports */
	bool unknown_drop;           /* bridge: drop unknown unicast instead of flooding */
	struct dp_conf_port ports[DP_MAX_PORTS];
	unsigned npoll[DP_MAX_WORKERS];
	struct dp_poll *poll[DP_MAX_WORKERS];
};

/* Metadata of one frame of a burst: private copies only. */
struct dp_meta {
	uint32_t len;                /* frame bytes (without virtio header) */
	int32_t dst;                 /* port id, -1 flood, -2 drop */
	uint16_t vlan;               /* VLAN the frame belongs to (dp_ingress) */
	uint8_t pcp;                 /* its 802.1Q priority */
	uint8_t l2skip;              /* source bytes replaced by the rewritten
	                              * header: 12 (MACs), 16 with a tag */
	uint8_t prefix[DP_PREFIX];   /* first min(len, DP_PREFIX) frame bytes */
};

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
	_Atomic unsigned nqueues;

	/* Scratch: only this worker touches it. */
	bool prefetchw;              /* the CPU has PREFETCHW */
	struct clk_tsc clk;          /* the loop's clock (clk.h) */
	int epfd;
	uint64_t epgen;              /* snapshot gen the epoll set was built for */
	struct vq_chain src[DP_BURST];
	struct dp_meta meta[DP_BURST];
	struct vq_chain dst[DP_MAX_DST_CHAINS];
	/* Kernel ports: frames read in one burst (DP_BURST buffers of
	 * PORT_FRAME_MAX bytes, allocated with the worker), their lengths,
	 * and the gather list of one frame written to a kernel port. */
	uint8_t *kbuf;
	uint32_t klen[DP_BURST];
	struct iovec kiov[3 + VQ_MAX_IOV];
	/* Per polled queue (index in conf->poll[id]): while `on`, its ingress
	 * limit has no tokens worth a poll before qos time t. Reset with
	 * every new snapshot. */
	struct {
		uint64_t t;
		bool on;
	} ready[DP_MAX_PORTS * VHU_MAX_QUEUE_PAIRS];
	unsigned nheld;              /* queues held in this loop iteration */
	/* The burst being switched, towards a congested port (deliver ->
	 * its poller): the last `keep` frames stay in the source's ring (they
	 * went to that port alone and it refused them: a guest ring can keep
	 * them when can_keep), and while hold_on the source queue is not
	 * polled again before qos time `hold`. */
	bool can_keep, hold_on;
	unsigned keep;
	uint64_t hold;

	struct dp_wstats st[DP_MAX_PORTS];
} cache_aligned;

struct dp {
	struct evloop *ev;
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
	uint32_t last_age_s;         /* when the fdb was last swept */
	struct ev_timer *check_timer; /* periodic vhu_dev_check of all ports */
};

/* The datapath's qos clock: time since start in qos units (qos.h). */
static inline uint64_t dp_qos_now(const struct dp *dp, uint64_t now_ns)
{
	return qos_time(now_ns - dp->start_ns);
}

void *dp_worker_main(void *arg);
/* Seconds since the datapath started: the fdb's clock. */
static inline uint32_t dp_now_s(const struct dp *dp, uint64_t now_ns)
{
	return (uint32_t)((now_ns - dp->start_ns) / 1000000000ull);
}

#endif
