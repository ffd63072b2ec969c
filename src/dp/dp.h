/* dp.h - the datapath: pinned worker threads that poll the ports' queues in
 * bursts, switch frames with the learning bridge, and copy each frame once,
 * from the source guest's buffers into the destination guest's buffers.
 *
 * The control thread owns ports and configuration; workers see them only
 * through an immutable struct dp_conf published with a release store and
 * retired with qsbr (src/common/qsbr.h). Everything in this header is
 * called from the control thread. */
#ifndef VIFD_DP_H
#define VIFD_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_place.h"
#include "evloop.h"
#include "port.h"
#include "qos.h"
#include "sw_policy.h"

enum {
	DP_MAX_PORTS = 256,
	DP_BUSY_POLL_MAX_US = 1000000,
	DP_MAX_WORKERS = 16,
	DP_PORT_NAME_MAX = 32,
	DP_GROUP_MAX = 16,        /* a placement group's name, with its NUL */
};

struct dp;
struct dp_port;

/* A port's configuration: its switch policy (sw_policy.h: VLANs,
 * bindings, isolation, MAC limit; zeroed = a plain learning-bridge port),
 * as one struct (sw) and field by field, and its rate limits and weight. */
struct dp_port_cfg {
	union {
		struct sw_policy sw;
		struct {
			SW_POLICY_FIELDS
		};
	};
	/* Rate limits (qos.h), named from the switch's side: ingress limits
	 * what the port sends into vifd (a guest's TX: frames over the limit
	 * stay in its ring), egress what vifd delivers to it (frames over the
	 * limit are dropped before they are copied). */
	struct qos_limit ingress, egress;
	uint32_t overhead;        /* bytes added per frame for byte limits */
	uint8_t weight;           /* its share when it sends to a congested
	                           * port, 1..QOS_MAX_WEIGHT (0: 1) */
	/* Placement (dp_place.h): the worker that polls each receive queue,
	 * 1 + worker (0: the placement policy chooses), and the port's group
	 * ("" : none) for the group policy. */
	uint8_t worker[PORT_MAX_QUEUES];
	char group[DP_GROUP_MAX];
	/* Interrupt moderation of its receive rings (port_coal), in ethtool's
	 * words: hold a call until rx_frames frames (0: no frame bound) or
	 * rx_usecs (0 with rx_frames: DP_COAL_DEFAULT_US) have passed;
	 * adaptive_rx: a quiet ring gets its call at once, a busy one waits
	 * (up to rx_frames, default DP_COAL_ADAPTIVE_FRAMES, and rx_usecs). */
	uint16_t rx_frames;
	uint16_t rx_usecs;
	bool adaptive_rx;
};
enum {
	DP_COAL_MAX_US = 10000,
	DP_COAL_DEFAULT_US = 50,
	DP_COAL_ADAPTIVE_FRAMES = 32,
};

/* Per-port counters, the one list of them: X(field, name, metric, help).
 * Names are from the switch's side: rx = what the port sent into vifd, tx
 * = what vifd delivered to the port. name: the key in `stats` JSON;
 * metric: the Prometheus name (vifd_port_METRIC_total), or NULL for a drop
 * reason (JSON "drops": {name: n}, metric vifd_port_drops_total{reason}).
 * help: the metric's help text (the reason's, for a drop). The order is
 * the order of the JSON and the metrics. DP_WORKER_COUNTERS are counted by
 * the workers (one copy per worker, summed when read); DP_CTL_COUNTERS by
 * the port drivers (port.h PORT_COUNTERS: the vhost-user layer, VXLAN). */
#define DP_WORKER_COUNTERS(X) \
	X(rx_pkts, "rx_pkts", "rx_packets", "Frames the port sent into vifd.") \
	X(rx_bytes, "rx_bytes", "rx_bytes", "Bytes of the frames the port sent into vifd.") \
	X(tx_pkts, "tx_pkts", "tx_packets", "Frames vifd delivered to the port.") \
	X(tx_bytes, "tx_bytes", "tx_bytes", "Bytes of the frames vifd delivered to the port.") \
	X(drop_invalid, "invalid", NULL, "frames from the port too short or too long") \
	X(drop_no_room, "no_room", NULL, "frames to the port: no receive buffer in its ring") \
	X(drop_down, "down", NULL, "frames to the port: no live receive queue") \
	X(drop_hairpin, "hairpin", NULL, "frames whose destination was their source port") \
	X(drop_vlan, "vlan", NULL, "frames from the port in a VLAN it may not use, or badly tagged") \
	X(drop_spoof, "spoof", NULL, \
	  "frames from the port with a source MAC or address it may not use") \
	X(drop_isolation, "isolation", NULL, "frames from an isolated port to an isolated port") \
	X(drop_unknown, "unknown_dst", NULL, "frames to an unknown MAC with unknown-unicast=drop") \
	X(drop_mac_limit, "mac_limit", NULL, "frames from a new source MAC over the port's limit") \
	X(drop_offload, "offload", NULL, \
	  "frames from the port whose offload metadata (virtio-net header) did not hold") \
	X(drop_egress_limit, "egress_limit", NULL, "frames to the port over its egress rate limit") \
	X(drop_congested, "congested", NULL, \
	  "frames to the port from a sender over its fair share while the port was congested") \
	X(drop_too_big, "too_big", NULL, "frames to the port larger than it can carry") \
	X(rx_gso, "rx_gso", "rx_gso", \
	  "Frames from the port with segmentation offload metadata (crossed vifd as one frame).") \
	X(tx_gso, "tx_gso", "tx_gso", \
	  "Frames delivered to the port whole with their segmentation offload metadata.") \
	X(tx_segmented, "tx_segmented", "tx_segmented", \
	  "Frames segmented in software for the port (their segments count as tx frames).") \
	X(ingress_held, "ingress_held", "ingress_held", \
	  "Bursts cut short by the port's ingress limit (the rest stayed in its ring).") \
	X(share_held, "share_held", "share_held", \
	  "Bursts of the port cut short by a congested destination's fair share or limit " \
	  "(the rest stayed in its ring).") \
	X(tx_calls, "tx_calls", "tx_calls", \
	  "Interrupts (call eventfd writes) sent to the port for frames delivered to it.") \
	X(ring_errors, "ring_errors", "ring_errors", "Ring rule violations the workers saw.")

#define DP_CTL_COUNTERS(X) PORT_COUNTERS(X)

#define DP_STAT_FIELD(f, name, metric, help) uint64_t f;
struct dp_port_stats {
	DP_WORKER_COUNTERS(DP_STAT_FIELD)
	DP_CTL_COUNTERS(DP_STAT_FIELD)
};
#undef DP_STAT_FIELD

struct dp_worker_stats {
	int cpu;                 /* pinned CPU, -1: not pinned */
	uint64_t busy_cycles;    /* TSC cycles of iterations that moved frames */
	uint64_t idle_cycles;    /* TSC cycles of iterations that moved none */
	uint64_t pkts;           /* frames received from ports */
	uint64_t busy_iters;     /* iterations that moved frames (pkts / busy_iters:
	                          * the average batch a busy iteration moved) */
	uint64_t sleeps;         /* times the worker slept on eventfds */
	/* Gaps in which the worker polled for an expected answer (dp_reply.h):
	 * the answer came while it polled (a wake-up saved), or it slept first. */
	uint64_t answers_caught, answers_missed;
	unsigned nqueues;        /* queues it polls now */
	uint64_t load_cycles;    /* busy cycles in the last measurement interval */
	uint64_t interval_cycles; /* that interval in TSC cycles (0: none yet) */
};

struct dp_port_info {
	char name[DP_PORT_NAME_MAX];
	char type[16];           /* "vhostuser", "tap", "afpacket", "afxdp" */
	char path[PORT_PATH_MAX]; /* vhost-user socket ("" for kernel ports) */
	char ifname[IFNAMSIZ];   /* kernel ports: the interface */
	char netns[PORT_NETNS_MAX]; /* tap: its network namespace ("" : vifd's) */
	bool client;             /* vifd connects (vhost-user client mode) */
	bool connected;
	bool broken;             /* stopped because the guest broke the rules */
	unsigned queue_pairs;    /* offered */
	unsigned active_pairs;   /* in use (control queue VQ_PAIRS_SET) */
	bool auto_mac_set;       /* mac=auto: the MAC the port got bound to */
	uint8_t auto_mac[6];
	bool promisc, allmulti;  /* control queue RX mode, as the guest set it */
	unsigned live_rx, live_tx; /* live guest rx / tx rings */
	uint64_t features;
	uint16_t mtu;
	uint32_t ol_rx;          /* offloads (pkt.h PKT_OL_*) the port's frames may ask
	                          * of vifd (its guest's HOST_*, the tap's) */
	uint32_t ol_tx;          /* offloads it takes from vifd as they are (its guest's
	                          * GUEST_*); frames needing more are segmented or
	                          * checksummed in software on the way to it */
	uint64_t mem_bytes;      /* guest memory mapped for the port (page-rounded) */
	bool vx;                 /* a VXLAN port (port.h port_info) */
	uint32_t vx_vni;
	uint16_t vx_dstport;
	char vx_local[48];
	bool vx_untagged;
	char vx_map[200];
	unsigned vx_remotes, vx_flood;
};

/* Process-wide figures: what reconfiguration and guests cost the daemon. */
struct dp_global_stats {
	uint64_t publishes;      /* snapshots published (dp_publishes) */
	uint64_t mem_mapped;     /* guest memory mapped, all ports (bytes) */
	uint64_t mem_max;        /* its limit (0: none) */
	uint64_t port_mem_max;   /* one port's limit (0: none) */
	uint64_t fds_closed;     /* guests' fds closed by the closer thread */
	uint64_t close_stuck;    /* closes found stuck (a closer thread abandoned) */
	uint64_t fds_leaked;     /* fds left open: closer queue full */
	unsigned fds_queued;     /* fds waiting to be closed */
	unsigned closers_stuck;  /* closer threads inside a stuck close now */
	/* Placement: queue moves between workers (a policy change, a pin, the
	 * rebalancer), and how long the moved queues went unpolled: from the
	 * publication without them to the one with them, both waited for. */
	uint64_t queue_moves;
	uint64_t rebalance_moves; /* of them, by the rebalancer */
	uint64_t move_stall_last_ns, move_stall_max_ns;
};

/* One receive queue: where it is polled and what it costs. */
struct dp_queue_stats {
	char port[DP_PORT_NAME_MAX];
	uint16_t q;
	int worker;              /* polling it now, -1: none (not live) */
	bool pinned;             /* by worker= on its port */
	uint64_t pkts;           /* frames taken from it */
	uint64_t cycles;         /* TSC cycles of the polls that took them */
	uint64_t load_cycles;    /* cycles in the last measurement interval */
	uint64_t interval_cycles; /* that interval's length in TSC cycles */
};

/* Rebalancing (cycles placement only): every interval_ms the loads are
 * measured; when the same imbalance (dp_place.h) has held for
 * DP_REBAL_SUSTAIN intervals in a row, one queue moves. */
enum { DP_REBAL_SUSTAIN = 3 };
struct dp_rebal_cfg {
	bool on;
	unsigned threshold_pct;  /* default 25 */
	unsigned improve_pct;    /* default 10 */
	unsigned interval_ms;    /* default 1000, 100..60000 */
};

/* nworkers workers; cpus[i] is worker i's CPU or -1 (cpus may be NULL). */
int dp_create(struct evloop *ev, unsigned nworkers, const int *cpus, struct dp **out);
/* Stops workers, removes ports, frees. */
void dp_destroy(struct dp *dp);

/* Adds a port (a vhost-user device, tap, afpacket, afxdp: pp->type) with
 * its policy (NULL: a plain learning-bridge port), which holds from the
 * port's first frame. Returns 0, or -errno with a reason in err (-EEXIST
 * name taken, -ENOSPC, -EINVAL). */
int dp_port_add(struct dp *dp, const struct port_params *pp, const struct dp_port_cfg *cfg,
                char *err, size_t errlen);
int dp_port_del(struct dp *dp, const char *name);
/* Checks a policy: 0, or -EINVAL with the reason in err. */
int dp_port_check_cfg(const struct dp_port_cfg *cfg, char *err, size_t errlen);
/* Replaces a port's policy (applied to the next burst). 0 or -errno.
 * A change of rate limits or weight alone keeps the port's MAC entries. */
int dp_port_set(struct dp *dp, const char *name, const struct dp_port_cfg *cfg, char *err,
                size_t errlen);
int dp_port_get_cfg(struct dp *dp, const char *name, struct dp_port_cfg *cfg);
/* Bridge: frames to unknown unicast MACs are flooded (default) or dropped. */
void dp_set_unknown_unicast_drop(struct dp *dp, bool drop);
/* Bridge: MAC aging time in seconds (default 300). 0 or -EINVAL. */
int dp_set_mac_aging(struct dp *dp, uint32_t seconds);
uint32_t dp_get_mac_aging(const struct dp *dp);
bool dp_get_unknown_unicast_drop(const struct dp *dp);
/* Bridge: after work, every worker polls at least `us` microseconds before
 * it sleeps (0, the default: only its adaptive window; see "Idle" in
 * docs/architecture.md). Latency for sparse traffic bought with CPU while
 * traffic comes at least that often; an idle vifd still sleeps. 0 or
 * -EINVAL (above DP_BUSY_POLL_MAX_US). */
int dp_set_busy_poll(struct dp *dp, uint32_t us);
/* After the persisted ports were restored at startup: the ports whose
 * frames wait in the sender's ring (vhost-user) are not polled until all
 * of them have their rings back, or for ms at most, so that what a guest
 * queued while vifd was away is not flooded before its destination has
 * reconnected. */
void dp_settle(struct dp *dp, unsigned ms);
uint32_t dp_get_busy_poll(const struct dp *dp);

/* Iteration over ports for show/stats: fills info/stats of the i-th port
 * (0-based, in id order) and returns 0, or -ENOENT past the end. */
int dp_port_get(struct dp *dp, unsigned i, struct dp_port_info *info, struct dp_port_stats *st);
int dp_port_find(struct dp *dp, const char *name, struct dp_port_info *info,
                 struct dp_port_stats *st);

unsigned dp_nworkers(const struct dp *dp);
/* Snapshots published since start (each one a wake-up of every worker and
 * a wait for all of them): what reconfiguration costs the datapath. */
uint64_t dp_publishes(const struct dp *dp);
void dp_global_get(struct dp *dp, struct dp_global_stats *st);
void dp_worker_get(struct dp *dp, unsigned w, struct dp_worker_stats *st);
/* The i-th live receive queue (ports in id order, queues in order): 0, or
 * -ENOENT past the end. */
int dp_queue_get(struct dp *dp, unsigned i, struct dp_queue_stats *st);

/* Placement policy of unpinned queues: every unpinned queue is placed
 * again (queues that change workers move without loss: dp_port.c). */
void dp_set_placement(struct dp *dp, enum dp_placement pol);
enum dp_placement dp_get_placement(const struct dp *dp);
/* 0, or -EINVAL (a value out of range; nothing changed). */
int dp_set_rebalance(struct dp *dp, const struct dp_rebal_cfg *cfg);
void dp_get_rebalance(const struct dp *dp, struct dp_rebal_cfg *cfg);

/* Static MAC table entries: frames to (vlan, mac) go to port, and no other
 * port may learn or use that MAC in that VLAN. 0 or -errno (-ENOENT port
 * or entry unknown, -EINVAL bad MAC/VLAN, -ENOSPC table full there). */
/* remote: the VXLAN endpoint the MAC is behind (a VXLAN port needs one;
 * other ports take none); added to the port's remotes if new. On an error
 * other than -ENOENT, why may say what was wrong. */
int dp_fdb_add_static(struct dp *dp, const char *port, uint16_t vlan, const uint8_t mac[6],
                      const char *remote, char *why, size_t whylen);
int dp_fdb_del(struct dp *dp, uint16_t vlan, const uint8_t mac[6]);

/* Where an FDB entry came from. */
enum dp_fdb_origin {
	DP_FDB_LEARNED,          /* from a frame */
	DP_FDB_STATIC,           /* fdb-add, or a port's mac= binding */
	DP_FDB_EVPN,             /* a remote MAC zebra installed (evpn=on) */
	DP_FDB_FLOOD,            /* a VXLAN port's flood-list endpoint (MAC 0) */
};
/* FDB listing: fn per entry, with the remote endpoint of an entry on a
 * VXLAN port ("" for others); then, for each VXLAN port, its flood list as
 * entries of MAC 0. */
typedef void dp_fdb_fn(void *arg, uint16_t vlan, const uint8_t mac[6], const char *port,
                       const char *remote, uint32_t age_s, enum dp_fdb_origin origin);
void dp_fdb_foreach(struct dp *dp, dp_fdb_fn *fn, void *arg);

/* Port captures (vifctl capture, dp_cap.c): frames of a port (dirs: a mask
 * of cap_ring.h CAP_DIR_RX / CAP_DIR_TX) copied, snaplen bytes at most,
 * into shared memory of one ring of ring_kib KiB (rounded up to a power of
 * two) per worker. Returns 0 with the memory's fd (the caller hands it on
 * and closes it) and the capture's id, or -errno with a reason in err
 * (-ENOENT no port, -EBUSY port captured already or too many captures). */
int dp_capture_start(struct dp *dp, const char *port, unsigned dirs, uint32_t snaplen,
                     uint32_t ring_kib, int *fd, unsigned *id, char *err, size_t errlen);
/* Stops capture id: 0, or -ENOENT (its port has gone: it ended then). */
int dp_capture_stop(struct dp *dp, unsigned id);
struct dp_capture_info {
	unsigned id;
	char port[DP_PORT_NAME_MAX];
	unsigned dirs;
	uint32_t snaplen;
	uint64_t frames, drops;  /* recorded; not recorded (ring full) */
};
/* The running captures (at most max); returns how many. */
unsigned dp_capture_list(struct dp *dp, struct dp_capture_info *out, unsigned max);

/* vifctl trace: what the switch would do with a frame arriving on a port,
 * decision by decision (dp_trace.c). Nothing is learned, counted or sent. */
enum { DP_TRACE_STEPS = 16 + 2 * DP_MAX_PORTS, DP_TRACE_TEXT = 192 };
struct dp_trace_step {
	const char *stage;       /* "port", "ingress-limit", "vlan", "mac-binding",
	                          * "ip-binding", "learn", "lookup", "isolation",
	                          * "egress-limit", "offload", "egress" */
	const char *result;      /* "pass", "drop", "hit", "miss", "flood", "skip",
	                          * "output", "configured", "software", "note" */
	char port[DP_PORT_NAME_MAX]; /* the port the step is about */
	char detail[DP_TRACE_TEXT];
};
struct dp_trace {
	uint16_t vlan;           /* the VLAN ingress gave it (when it passed) */
	uint8_t pcp;
	unsigned nsteps;
	struct dp_trace_step step[DP_TRACE_STEPS];
	unsigned nout;           /* ports the frame would be sent to */
	struct {
		char port[DP_PORT_NAME_MAX];
		uint16_t tci;    /* its egress tag (0: untagged) */
	} out[DP_MAX_PORTS];
	/* With no output: why, as the stats' drop key ("vlan", "spoof",
	 * "mac_limit", "unknown_dst", "isolation", "hairpin", "down",
	 * "invalid", "offload"), or "egress_vlan" / "no_destination" (not
	 * counted). */
	const char *drop;
	struct pkt pkt;          /* scratch */
};
/* Traces the len-byte frame (>= 14) arriving on port with the offload
 * metadata ol of its virtio-net header (NULL: none). 0, -ENOENT (no such
 * port) or -EINVAL. */
int dp_trace(struct dp *dp, const char *port, const uint8_t *frame, uint32_t len,
             const struct pkt_ol *ol, struct dp_trace *t);

#endif
