/* port.h - port drivers: one interface for every kind of port the switch
 * has (vhost-user guests, tap, AF_PACKET, AF_XDP, VXLAN), so the datapath never
 * asks what kind a port is. A driver
 *  - receives bursts of neutral packets (src/common/pkt.h) from a queue,
 *    pointing into its own memory (no copy), and is told when the datapath
 *    is done with them (rx_done: a guest gets its chains back);
 *  - sends a burst of packets to a queue: reserves room for all of them,
 *    writes them, commits and notifies the receiver once per burst;
 *  - says which of its queues are live (for the datapath's snapshots), which
 *    file descriptor wakes a sleeping worker for a queue, and what it is
 *    (port_info: show, metrics).
 *
 * Threading: open, close, queues, info and check run on the control thread
 * (before open and after close no worker touches the port; between them a
 * queue is used only through a published snapshot, see src/dp). A receive
 * queue is polled by one worker at a time; tx_burst may run on several
 * workers at once for the same queue: the driver serializes what needs it
 * (a vhost-user receive ring takes a per-burst lock when env->shared).
 *
 * Frames from the kernel or a guest are untrusted input: the datapath
 * classifies them on a private copy with every length checked, exactly as
 * it does a guest's frames; drivers validate what they read themselves
 * (ring indices and descriptors: src/virtio/vq.h). */
#ifndef VIFD_PORT_H
#define VIFD_PORT_H

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "evloop.h"
#include "ol.h"
#include "pkt.h"
#include "port_keys.h"
#include "util.h"
#include "vq.h"

enum {
	PORT_MAX_QUEUES = VIFD_MAX_QUEUES,
	/* Bytes of one kernel receive buffer: a virtio-net header and a
	 * 64 KiB segmentation-offload frame with two VLAN tags fit. A frame as
	 * long as the buffer or longer is reported with length 0 (the datapath
	 * counts it invalid): it may be cut short. */
	PORT_FRAME_MAX = 12 + OL_MAX_FRAME + 64,
	PORT_NETNS_MAX = 64,
	PORT_NAME_MAX = 32,
	PORT_PATH_MAX = 108,
};

/* What add-port asked for. Strings are copied by port_open(). */
/* A VXLAN port's endpoints (add-port vni=, local=, remote=, dstport=):
 * strings as given, parsed and checked by the driver. */
struct port_vxlan_params {
	uint32_t vni;          /* of untagged frames: 0 .. 2^24-1, when has_vni */
	bool has_vni;
	const char *vni_map;   /* "VLAN:VNI,...": the VNIs of tagged frames, or NULL */
	uint16_t dstport;      /* UDP port, host order (0: 4789) */
	const char *local;     /* an address of this host (IPv4 or IPv6) */
	const char *remote;    /* comma-separated remote endpoints of the same family,
	                        * the flood list; NULL: none yet */
	bool evpn;             /* BGP EVPN through zebra (src/evpn) fills the MAC table
	                        * and the flood list */
};

struct port_params {
	const char *type;      /* "vhostuser", "tap", "afpacket", "afxdp" or "vxlan" */
	const char *name;      /* the switch port's name (logs) */
	const char *ifname;    /* tap: the device's name; afpacket, afxdp: the interface */
	const char *netns;     /* tap, vxlan: a named network namespace (/var/run/netns/NAME),
	                        * or NULL */
	const char *path;      /* vhostuser: the socket */
	bool client;           /* vhostuser: vifd connects (the frontend listens) */
	const struct port_sock_perm *perm; /* vhostuser server: the socket's owner and
	                        * mode; NULL: as bind() makes them */
	bool restoring;        /* vifd is restoring its state (not a new add-port):
	                        * tap: an existing device is the port's own */
	unsigned queues;       /* 1..PORT_MAX_QUEUES (vhostuser: queue pairs) */
	const struct port_vxlan_params *vx; /* vxlan */
};

struct port;

/* What the embedder (the datapath) gives a port: written before open,
 * read-only afterwards. */
struct port_env {
	struct evloop *ev;     /* the control thread's loop (vhost-user sockets) */
	int broken_fd;         /* eventfd: a worker found the port broken; the
	                        * control thread then calls check() */
	bool shared;           /* more than one worker may send to a queue at once */
	/* A vhost-user device is about to change what workers read (quiesce:
	 * returns once no worker uses the port), or has changed which of its
	 * queues are live (changed: republish). Control thread. */
	void (*quiesce)(void *ctx);
	void (*changed)(void *ctx);
	/* Any thread: wake the workers so they poll every queue again (a
	 * driver queued a frame of its own: vhost-user's SEND_RARP). */
	void (*wake)(void *ctx);
	void *ctx;
};

/* What a congested destination refused of a burst (frame masks, by
 * reason: over the sender's fair share, over the port's egress limit,
 * without room in its ring), and which of those frames may wait in the
 * sender's ring rather than be dropped (they went to this port alone and
 * it takes senders in turns: the dp's settle() decides); ready: the qos
 * time the destination is likely to take them. */
struct port_refused {
	uint32_t share, limit, room;
	uint32_t wait;
	uint64_t ready;
};

/* Makes t the time the refused frames are likely taken, if it is later
 * (by then the destination has room for all of them). */
static inline void port_refused_ready(struct port_refused *rf, uint64_t t)
{
	if (!rf->ready || (int64_t)(t - rf->ready) > 0)
		rf->ready = t;
}

/* What sending a burst to a queue did (added to the port's counters). */
struct port_txres {
	uint32_t pkts, noroom, down;
	struct port_refused rf;   /* refused by the port's fair share (counted
	                           * by the datapath once it has settled them) */
	uint32_t too_big;      /* frames the port could not carry (VXLAN: over the
	                        * underlay's MTU once encapsulated; the driver
	                        * counts them too) */
	uint32_t offload;      /* frames whose offload metadata did not hold on
	                        * the way out (validated at ingress: a guest that
	                        * changed its headers since) */
	uint32_t gso;          /* frames sent whole with segmentation metadata */
	uint32_t segmented;    /* frames segmented in software (segments in pkts) */
	uint64_t bytes;
	uint32_t calls;        /* interrupts sent (call eventfd writes) */
	bool held;             /* the interrupt for these frames was held back
	                        * (port_coal): the worker must tx_flush the queue */
	bool broke;            /* the receiver broke the rules (counted once) */
	bool commit;           /* (ctx->defer) frames written, not yet committed */
};

/* Interrupt moderation of a port's receive rings (ethtool's rx-frames,
 * rx-usecs, adaptive-rx): the call after a delivery may wait until
 * `frames` frames or `hold` (qos time) have passed since the first frame
 * it covers. adaptive: a delivery to a ring that was quiet (nothing for
 * PORT_COAL_QUIET_NS) calls at once; busy rings wait. */
struct port_coal {
	uint16_t frames;       /* 0: no frame bound */
	bool adaptive;
	bool on;               /* any moderation at all */
	uint64_t hold;         /* qos time */
};
enum { PORT_COAL_QUIET_NS = 50000 };

/* A worker's scratch space for drivers, allocated with the worker (no
 * thread-local storage: that would be carved out of every thread's stack,
 * the control thread's helpers included). Used during one tx_burst only. */
enum { PORT_TX_CHAINS = 64 };
struct port_scratch {
	struct vq_chain chains[PORT_TX_CHAINS]; /* vhost-user: rx chains being filled */
	uint8_t frame[12 + OL_MAX_FRAME];       /* kernel ports: a frame made in software,
	                                         * after its virtio-net header */
};

/* Who sends a burst: the fair share of a congested receive ring uses it. */
struct port_txctx {
	uint16_t src_port;     /* the sending switch port's id (< 256) */
	uint8_t weight;        /* its fair-share weight, 1.. */
	bool limited;          /* the destination has an egress limit (its frames
	                        * have paid tokens: refused later, they are dropped,
	                        * never made to wait and pay twice) */
	uint32_t uni;          /* frames of the burst that go to this port alone */
	uint64_t qnow;         /* the worker's qos clock */
	const struct port_coal *coal; /* the destination's interrupt moderation */
	const uint8_t *rem;    /* per frame of the burst, the remote endpoint it goes to
	                        * (VXLAN: the MAC table's answer; 0: every remote of
	                        * the flood list) */
	struct port_scratch *scratch; /* the calling worker's */
	bool defer;            /* the sender completes its frames after the
	                        * delivery (rx_in_ring): write them but leave the
	                        * commit (publish, notification) to tx_commit,
	                        * which runs after the sender's rx_done */
};

/* Counters a driver keeps (the control thread reads them through info):
 * X(field, name, metric, help) as dp.h's DP_WORKER_COUNTERS (metric NULL:
 * a drop reason). */
#define PORT_COUNTERS(X) \
	X(guest_stops, "guest_stops", "guest_stops", "Times the port was stopped for a guest fault.") \
	X(msg_errors, "msg_errors", "msg_errors", "vhost-user messages refused.") \
	X(connects, "connects", "connects", "Frontend connections accepted or made.") \
	X(close_stuck, "close_stuck", "close_stuck", \
	  "Times closing a file the guest handed over got stuck (the frontend was kept off).") \
	X(infl_resubmitted, "inflight_resubmitted", "inflight_resubmitted", \
	  "Chains a restarted vifd found in flight in the frontend's inflight region and served again.") \
	X(vx_encap, "vxlan_encap", "vxlan_encap", \
	  "VXLAN datagrams sent (a frame flooded to several remote endpoints counts once each).") \
	X(vx_decap, "vxlan_decap", "vxlan_decap", "VXLAN datagrams received and decapsulated.") \
	X(vx_coalesced, "vxlan_coalesced", "vxlan_coalesced", \
	  "Received TCP segments merged into the frame of the segment before them (coalescing).") \
	X(vx_bad, "vxlan_bad", NULL, \
	  "VXLAN datagrams without the I flag, or too short for a header and an Ethernet frame") \
	X(vx_unknown_vni, "vxlan_unknown_vni", NULL, "VXLAN datagrams for a VNI not the port's") \
	X(vx_unknown_remote, "vxlan_unknown_remote", NULL, \
	  "VXLAN datagrams from an address that is not one of the port's remote endpoints") \
	X(vx_too_big, "vxlan_too_big", NULL, \
	  "frames to a VXLAN port too big for the underlay once encapsulated (50 or 70 bytes more)") \
	X(vx_send_failed, "vxlan_send_failed", NULL, \
	  "copies of flooded frames a remote endpoint did not get (socket buffer full, no route)")

#define PORT_COUNTER_FIELD(f, name, metric, help) uint64_t f;

/* For show and metrics. */
struct port_info {
	char type[16];
	char path[PORT_PATH_MAX];  /* vhost-user socket ("" for kernel ports) */
	char ifname[IFNAMSIZ];     /* kernel ports: the interface */
	char netns[PORT_NETNS_MAX]; /* tap: its network namespace ("" : vifd's) */
	bool client;
	bool connected;
	bool broken;               /* stopped because the guest broke the rules */
	unsigned queue_pairs;      /* offered */
	unsigned active_pairs;     /* in use */
	bool promisc, allmulti;    /* a guest's control queue RX mode */
	unsigned live_rx, live_tx; /* live guest rx / tx rings (kernel: queues) */
	uint64_t features;
	uint16_t mtu;
	uint32_t ol_in, ol_out;    /* offloads (pkt.h): see struct port */
	uint64_t mem_bytes;        /* guest memory mapped (vhost-user) */
	bool vx;                   /* a VXLAN port: */
	uint32_t vx_vni;
	uint16_t vx_dstport;
	char vx_local[48];         /* its local address */
	bool vx_untagged;          /* vx_vni is its untagged frames' VNI */
	char vx_map[200];          /* its vni-map, "VLAN:VNI,..." ("..." when longer) */
	unsigned vx_remotes, vx_flood; /* remote endpoints known, of them in the flood list */
	PORT_COUNTERS(PORT_COUNTER_FIELD)
};

struct port_ops {
	const char *type;
	/* Control thread. */
	int (*open)(struct port *p, const struct port_params *pp, char *err, size_t errlen);
	void (*close)(struct port *p);
	/* The live queues: tx false, those frames come from (polled); tx true,
	 * those frames go to. Fills ids (at most PORT_MAX_QUEUES), returns how
	 * many. */
	unsigned (*queues)(struct port *p, bool tx, uint16_t *ids);
	/* The file that becomes readable when receive queue q has frames (a
	 * guest's kick eventfd, a kernel socket); -1: none, poll it. */
	int (*queue_fd)(struct port *p, unsigned q);
	void (*info)(struct port *p, struct port_info *pi);
	/* Periodic and after broken_fd: deal with a port a worker found
	 * broken (log once, stop it). Returns true if it is broken. */
	bool (*check)(struct port *p);
	/* Periodic (a few times a second), optional: the driver's own timed
	 * work (a vhost-user frontend held off while a close of its fd is
	 * stuck). */
	void (*tick)(struct port *p);

	/* Workers. */
	/* Receives up to max (<= 32) frames from queue q into pkts; a kernel
	 * port reads them into buf, max slots of PORT_FRAME_MAX bytes. Returns
	 * the frames received, or -1 if the port broke (it is marked, the
	 * control thread is told; nothing is received). */
	int (*rx_burst)(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf);
	/* The last n frames rx_burst returned on q (pkts[0..n), the end of
	 * what it returned) are not taken after all (an ingress limit or a
	 * congested destination refused them): the next rx_burst hands them
	 * out first. n is 1 unless keeps_bursts. */
	void (*rx_keep)(struct port *p, unsigned q, const struct pkt *pkts, unsigned n);
	bool keeps_bursts;       /* rx_keep takes back any number of frames */
	/* The frames received point into the sender's ring until rx_done
	 * gives them back (vhost-user): its deliveries to drivers with
	 * tx_commit are committed only after rx_done, so a sender that dies
	 * (vifd killed) in between never finds a frame both delivered and
	 * still its own (it would be sent again after a restart). */
	bool rx_in_ring;
	/* The datapath is done with frames pkts[0..n) of q (delivered or
	 * dropped): a guest gets its buffers back and is notified. */
	void (*rx_done)(struct port *p, unsigned q, const struct pkt *pkts, unsigned n);
	/* Before a worker sleeps (on true): ask for a wake-up on queue_fd
	 * when frames come; returns false if frames are already there. After
	 * (false): stop asking. (A queue with no queue_fd is polled on a timer
	 * while the worker sleeps.) */
	bool (*rx_arm)(struct port *p, unsigned q, bool on);
	/* Sends the frames pkts[i] for the bits i of mask to queue q, frame i
	 * with egress tag tcis[i] (0: untagged): room for all is reserved
	 * first, then they are written, committed and the receiver notified
	 * once. What happened to each goes into res. */
	void (*tx_burst)(struct port *p, unsigned q, const struct pkt *pkts, uint32_t mask,
	                 const uint16_t *tcis, const struct port_txctx *ctx, struct port_txres *res);
	/* Optional (drivers that hold interrupts back, res->held): sends the
	 * held interrupt of queue q if it is due at qos time qnow, or at once
	 * with force (a broken port's is dropped); counts it in *calls.
	 * Returns true while one is still held, due at *due. A worker that
	 * held one flushes it when due, sleeps at most until then, and sends
	 * it before it passes a quiescent point after a new snapshot. */
	bool (*tx_flush)(struct port *p, unsigned q, uint64_t qnow, bool force, uint32_t *calls,
	                 uint64_t *due);
	/* Optional: commits what tx_burst wrote to queue q with ctx->defer
	 * (res->commit): publishes it and notifies the receiver (calls, held
	 * into res as tx_burst would). */
	void (*tx_commit)(struct port *p, unsigned q, const struct port_txctx *ctx,
	                  struct port_txres *res);

	/* Kernel types: sends one frame gathered from iov (the generic
	 * kport_tx_burst calls it per frame) to remote endpoint rem (VXLAN;
	 * 0: every remote of its flood list; other types ignore it). 0,
	 * -EAGAIN when the kernel had no room, -ENETDOWN when the interface is
	 * down, -EMSGSIZE when the frame is too big for the port (the driver
	 * counted it), other -errno. */
	int (*tx_one)(struct port *p, unsigned q, const struct iovec *iov, unsigned niov,
	              uint8_t rem);
	bool no_ifname;        /* a kernel type without an interface (vxlan) */

	/* Types with remote endpoints (vxlan), control thread: the index
	 * (1..255) of the remote at address addr, added if it is new (and to
	 * the flood list of VNI flood_vni, unless it is -1), or -errno with a
	 * reason in err. */
	int (*remote_get)(struct port *p, const char *addr, int64_t flood_vni, char *err,
	                  size_t errlen);
	/* Takes the remote at addr out of VNI vni's flood list (it stays known). */
	void (*remote_unflood)(struct port *p, const char *addr, uint32_t vni);
	/* Takes out the remotes nothing refers to (refs[i]: references to
	 * remote i, 256 entries, from the MAC table and the EVPN sync; the
	 * flood lists and remote= count too), and marks dead[i] (256 entries)
	 * every remote that is out: the caller removes the MAC table's entries
	 * still referring to one. Returns how many were taken out now. */
	unsigned (*remote_gc)(struct port *p, const uint32_t *refs, uint8_t *dead);
	/* Its VNIs (vxlan): up to max, each with the VLAN of its frames (0:
	 * untagged). Returns how many. */
	unsigned (*vnis)(struct port *p, uint32_t *vni, uint16_t *vlan, unsigned max);
	/* The address of remote rem into buf ("" if there is none), and
	 * whether it is in the flood list. */
	void (*remote_name)(struct port *p, uint8_t rem, char *buf, size_t len, bool *flood);
};

struct port {
	const struct port_ops *ops;
	const struct port_env *env;
	char name[PORT_NAME_MAX];
	char ifname[IFNAMSIZ];       /* kernel ports */
	char netns[PORT_NETNS_MAX];  /* "" : vifd's own namespace */
	unsigned nq;                 /* kernel ports: queues */
	/* Offloads (pkt.h PKT_OL_*), from the port's own negotiation: ol_in,
	 * what its frames may ask of vifd (others are dropped as offload
	 * errors); ol_out, what it takes as it is (frames needing more are
	 * segmented and checksummed in software on the way to it). Written by
	 * the control thread while no snapshot lists the port's queues (at
	 * open, or while a vhost-user device is quiesced). */
	uint32_t ol_in, ol_out;
	uint8_t vnet;                /* kernel ports: bytes of virtio-net header
	                              * before each frame read or written (0: none) */
	int fd[PORT_MAX_QUEUES];     /* kernel ports: one per queue; epoll-able */
	/* Kernel ports: per queue, the one frame handed back by rx_keep
	 * (carry_len > 0), handed out first by the next rx_burst. Written by
	 * the worker polling the queue (a new snapshot may hand the queue to
	 * another worker: the snapshot's publication orders the two). */
	uint8_t *carry;              /* nq * PORT_FRAME_MAX bytes */
	uint32_t carry_len[PORT_MAX_QUEUES];
	struct pkt_ol carry_ol[PORT_MAX_QUEUES];
	uint8_t carry_rem[PORT_MAX_QUEUES];
	void *priv;                  /* the type's own state */
	bool removing;               /* closed by del-port, not because vifd stops
	                              * (a persistent tap of vifd's goes only then) */
};

/* The ops of a port type, or NULL if vifd has no such type. */
const struct port_ops *port_ops_find(const char *type);

/* Opens a port with env (kept by reference). 0 and *out, or -errno with a
 * reason in err. */
int port_open(const struct port_params *pp, const struct port_env *env, struct port **out,
              char *err, size_t errlen);
/* Closes a port (no worker may use it any more) and frees it. */
void port_close(struct port *p);

/* Helpers for the types (port.c). */

/* Runs fn(arg) with the calling thread in network namespace netns (a name
 * under /var/run/netns), or directly when netns is empty: a short-lived
 * thread does the setns(), so no other thread ever changes namespace.
 * Returns fn's result, or -errno if the namespace cannot be entered. */
int port_in_netns(const char *netns, int (*fn)(void *arg), void *arg);
/* Interface flags (SIOCGIFFLAGS / SIOCSIFFLAGS) in the caller's network
 * namespace. 0 or -errno. */
int port_if_get_flags(const char *ifname, short *flags);
int port_if_set_flags(const char *ifname, short flags);
/* hint after an EPERM (r == -EPERM), "" after anything else: error
 * messages name the capability a sandboxed vifd lacks (docs/install.md). */
static inline const char *port_eperm(int r, const char *hint)
{
	return r == -EPERM ? hint : "";
}

/* What kernel port types share (port.c): their queues are 0..nq-1 both
 * ways, each queue's file wakes the worker (edge-triggered: nothing to
 * arm), nothing to give back after a burst, frames are sent one tx_one()
 * each, and a frame handed back waits in the carry buffer. */
unsigned kport_queues(struct port *p, bool tx, uint16_t *ids);
int kport_queue_fd(struct port *p, unsigned q);
void kport_info(struct port *p, struct port_info *pi);
bool kport_check(struct port *p);
void kport_rx_keep(struct port *p, unsigned q, const struct pkt *pkts, unsigned n);
void kport_rx_done(struct port *p, unsigned q, const struct pkt *pkts, unsigned n);
bool kport_rx_arm(struct port *p, unsigned q, bool on);
void kport_tx_burst(struct port *p, unsigned q, const struct pkt *pkts, uint32_t mask,
                    const uint16_t *tcis, const struct port_txctx *ctx, struct port_txres *res);
/* For a type's rx_burst: a frame handed back on q goes out first; fills
 * pkt from buf (PORT_FRAME_MAX bytes) and returns true if there was one. */
bool kport_carry_take(struct port *p, unsigned q, struct pkt *pkt, uint8_t *buf);
/* A frame on its way to a port without the offloads it needs (pkt.h
 * pkt_ol_needs): its headers as they leave (a private copy), and what
 * ol_parse made of them; the writers (ol_gso_write, ol_csum_write) then
 * make each output frame from it and the source's segments. */
struct port_olx {
	struct ol_frame f;
	size_t pay_off;              /* source offset of output byte f.hdr_len */
	uint8_t head[OL_MAX_HDR];
};
/* Prepares pk, leaving with egress tag tci, for the software path: copies
 * its headers (rewritten L2 first) into x->head and parses them. 0, or
 * -enum ol_err. */
int port_ol_prepare(const struct pkt *pk, uint16_t tci, struct port_olx *x);
/* Bytes the egress L2 rewrite adds to a frame's headers (negative: takes
 * away): the MACs and the tag it leaves with, against the MACs and the tag
 * it came with. */
static inline int port_l2_delta(const struct pkt *pk, uint16_t tci)
{
	return (tci ? 16 : 12) - (int)pk->l2skip;
}

/* The virtio-net header (host order fields) of pk leaving as it is with
 * egress tag tci to a port that takes its offloads (ol_out): offsets moved
 * by the L2 rewrite, DATA_VALID kept only if the port takes it. Per frame
 * sent, so inline; most frames ask for nothing. */
static inline struct pkt_ol port_ol_out(const struct pkt *pk, uint16_t tci, uint32_t ol_out)
{
	struct pkt_ol o = pk->ol;
	int d;

	if (likely(!(o.flags | o.gso_type)))
		return o;
	d = port_l2_delta(pk, tci);
	if (o.flags & PKT_F_NEEDS_CSUM)
		o.csum_start = (uint16_t)(o.csum_start + d);
	if (o.gso_type != PKT_GSO_NONE)
		o.hdr_len = (uint16_t)(o.hdr_len + d);
	if (!(ol_out & PKT_OL_VALID))
		o.flags &= (uint8_t)~PKT_F_DATA_VALID;
	return o;
}

/* The frame pk as it leaves with egress tag tci (0: untagged), gathered
 * into iov (at most PORT_FRAME_IOV entries: returns how many): the MACs and
 * the tag (written into tag) from the private head, the rest of the head,
 * then the source's own buffers. Nothing is copied. */
enum { PORT_FRAME_IOV = 3 + PKT_MAX_SEGS };
unsigned port_frame_iov(const struct pkt *pk, uint16_t tci, uint8_t tag[4], struct iovec *iov);

/* For a type's rx_burst: the frame handed back first, then up to the rest
 * of max frames read by rd (lengths in len[], 0 for a frame too long) into
 * buf's slots. Returns the frames. */
typedef unsigned kport_read_fn(struct port *p, unsigned q, uint8_t *buf, uint32_t *len,
                               unsigned max);
int kport_rx_frames(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf,
                    kport_read_fn *rd);
/* For a type's rx_burst: pkt describes the len bytes at buf (0: too long). */
static inline void kport_pkt(struct pkt *pkt, uint8_t *buf, uint32_t len)
{
	pkt->len = len;
	pkt->nseg = 1;
	pkt->id = 0;
	pkt->ol = (struct pkt_ol){ 0 };
	pkt->rem = 0;
	pkt->seg[0].iov_base = buf;
	pkt->seg[0].iov_len = len;
}

#define KPORT_OPS                                                                          \
	.queues = kport_queues, .queue_fd = kport_queue_fd, .info = kport_info,            \
	.check = kport_check, .rx_keep = kport_rx_keep, .rx_done = kport_rx_done,          \
	.rx_arm = kport_rx_arm, .tx_burst = kport_tx_burst

static inline int port_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max,
                                uint8_t *buf)
{
	return p->ops->rx_burst(p, q, pkts, max, buf);
}

extern const struct port_ops port_vhost_ops;
extern const struct port_ops port_tap_ops;
extern const struct port_ops port_afpacket_ops;
extern const struct port_ops port_afxdp_ops;   /* only when built with libxdp */
extern const struct port_ops port_vxlan_ops;

#endif
