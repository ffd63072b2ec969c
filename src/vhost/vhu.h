/* vhu.h - the vhost-user backend: one struct vhu_dev per vhost-user port.
 * It owns the unix socket (vifd listening = server mode, or vifd connecting
 * and reconnecting with backoff = client mode), parses and validates every
 * message, keeps the negotiated device state, maps guest memory and sets up
 * the virtqueues that the datapath then serves.
 *
 * Split of work with the embedder (src/dp through src/ctl):
 *  - vhu runs on the control thread's event loop only.
 *  - Before changing anything the datapath reads (memory table, ring
 *    addresses, features, fds), vhu calls ops->quiesce(): when it returns
 *    no worker touches the device. After the message it calls
 *    ops->changed(), and the embedder republishes which rings are live.
 *  - Workers read the live rings (vhu_vring_live()), and report a guest that
 *    broke the rules with vhu_dev_mark_broken(); the control thread then
 *    calls vhu_dev_check() which logs once and stops the rings.
 */
#ifndef VIFD_VHU_H
#define VIFD_VHU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "evloop.h"
#include "gmem.h"
#include "pkt.h"
#include "port_keys.h"
#include "vlog.h"
#include "vqp.h"
#include "vu_wire.h"

enum {
	VHU_MAX_QUEUE_PAIRS = VIFD_MAX_QUEUES,
	VHU_MAX_VRINGS = 2 * VHU_MAX_QUEUE_PAIRS + 1, /* + the control queue */
	VHU_NAME_MAX = 32,
	VHU_MSG_BUDGET = 32,     /* messages handled per wake-up of a connection */
	VHU_LOG_PER_SEC = 10,    /* log lines a device may cause per second */
	VHU_PAUSE_MS = 100,      /* re-look at a paused or held device this often */
	/* Largest dirty log accepted: 1 GiB covers 32 TiB of guest memory,
	 * the most all ports together may map by default. */
	VHU_LOG_MAX = 1 << 30,
};

struct vhu_dev;

struct vhu_dev_ops {
	/* Returns once the datapath no longer uses d's rings or memory. */
	void (*quiesce)(struct vhu_dev *d, void *ctx);
	/* d's set of live rings may have changed; republish. */
	void (*changed)(struct vhu_dev *d, void *ctx);
	/* Optional: the frontend announced the guest's MAC (SEND_RARP without
	 * VIRTIO_NET_F_GUEST_ANNOUNCE): the embedder sends a RARP from it
	 * into the switch as if the guest had. */
	void (*announce)(struct vhu_dev *d, void *ctx, const uint8_t mac[6]);
};

/* One virtqueue as negotiated. Written by the control thread only while the
 * device is quiesced; `vq`'s datapath fields belong to the serving worker. */
struct vhu_vring {
	struct vq vq;          /* the datapath's view (valid while live) */
	int kickfd;            /* guest -> vifd eventfd; -1: none (polled) */
	int callfd;            /* vifd -> guest eventfd; -1: none */
	int errfd;             /* error eventfd (stored, unused); -1: none */
	uint32_t num;          /* ring size from SET_VRING_NUM (0: not set) */
	struct vu_vring_addr addr;
	bool addr_set;
	uint32_t base;         /* next avail index when (re)started; packed:
	                        * both positions and wrap counters (vqp.h) */
	bool started;          /* SET_VRING_KICK seen since the last stop */
	bool enable_msg;       /* last SET_VRING_ENABLE value */
	bool live;             /* set up; the datapath may serve it */
};

/* Why the device was stopped by a guest-side fault. */
enum vhu_broken {
	VHU_OK = 0,
	VHU_BROKEN_RING,   /* a vq_err on some ring (see broken_detail) */
	VHU_BROKEN_MEMORY, /* access to guest memory faulted (file truncated) */
	VHU_BROKEN_CALL,   /* writing the call eventfd failed */
	VHU_BROKEN_SETUP,  /* ring addresses did not map */
};

struct vhu_counters {
	uint64_t msgs;        /* messages handled */
	uint64_t msg_errors;  /* messages refused (connection dropped) */
	uint64_t connects;    /* connections established */
	uint64_t broken;      /* times the guest got its port stopped */
	uint64_t ctrl_cmds;   /* control queue commands handled */
	uint64_t infl_resubmitted; /* chains found in flight at ring starts */
	uint64_t close_stuck; /* times closing one of its fds got stuck: the
	                       * frontend was kept off until the close returned */
};

struct vhu_dev {
	char name[VHU_NAME_MAX];
	char path[108];
	bool client;             /* vifd connects to path (frontend listens) */
	unsigned max_qp;         /* queue pairs offered (GET_QUEUE_NUM) */
	const struct vhu_dev_ops *ops;
	void *ctx;
	struct evloop *ev;

	/* Connection. */
	int listen_fd;           /* server mode: listening socket */
	int dir_fd;              /* server mode: O_PATH fd of the socket's directory,
	                          * opened when it was bound: the file is removed
	                          * relative to it, never through the path again */
	char base[108];          /* the socket's name in that directory */
	dev_t sock_dev;          /* the socket file vifd created (lstat after bind): */
	ino_t sock_ino;          /* only that file is ever removed */
	struct port_sock_perm perm; /* server mode: the socket file's owner and mode */
	uint64_t closer_id;      /* closer owner id of every fd from this frontend */
	bool held;               /* a close of one of its fds is stuck: no
	                          * connection is taken until it returns */
	bool paused;             /* the closer is congested: its connection is
	                          * not read for now (no new fds come in) */
	bool listen_paused;      /* ... and no connection is accepted */
	struct ev_timer *pause_timer; /* re-looks while paused */
	int conn_fd;             /* -1: no frontend */
	struct ev_timer *retry;  /* client mode: pending reconnect */
	unsigned backoff_ms;
	uint8_t rbuf[sizeof(struct vu_msg)];
	int reply_fd;            /* with has_reply_fd: an fd the handler made, */
	bool has_reply_fd;       /* sent with its reply, then closed */
	uint32_t rlen;           /* bytes of the current message received */
	int rfds[VU_MAX_FDS];
	unsigned nrfds;

	/* Negotiated state (control thread). */
	uint64_t features;       /* acked virtio features */
	uint64_t pfeatures;      /* acked protocol features */
	bool features_set;
	bool owner;
	uint8_t status;          /* SET_STATUS */
	uint16_t mtu;
	uint8_t mac[6];
	uint32_t hdr_len;        /* virtio-net header bytes: 10 or 12 */
	bool mrg_rxbuf;
	uint32_t ol_rx;          /* offloads of frames vifd may hand the guest (pkt.h) */
	uint32_t ol_tx;          /* offloads the guest may ask of vifd's frames */
	unsigned active_qp;      /* queue pairs in use: max_qp, or what the
	                          * control queue's VQ_PAIRS_SET chose */
	bool promisc, allmulti;  /* control queue RX mode (reported only) */
	bool ctrl_watched;       /* control ring's kick fd is in the event loop */
	unsigned ctrl_idx;       /* its vring index while watched */
	struct ev_timer *ctrl_timer; /* pending continuation of a long batch */
	struct gmem mem;
	bool mem_set;
	/* The frontend's dirty-page log (SET_LOG_BASE; bits NULL: none): the
	 * datapath marks into it while VHOST_F_LOG_ALL is negotiated. */
	struct dirty_log log;
	/* The frontend's inflight region (SET_INFLIGHT_FD, vq_inflight.h;
	 * map_base NULL: none): num_queues parts of `stride` bytes from base,
	 * for rings of queue_size entries; each data ring below num_queues
	 * tracks its chains in its part while live. */
	struct {
		void *map_base;
		size_t map_len;
		uint8_t *base;
		uint64_t stride;
		uint16_t num_queues, queue_size;
	} infl;
	/* One wake-up's messages (vhu_sock.c conn_read) are a batch: the first
	 * one that changes what a live ring uses takes the device out of the
	 * datapath (batch_frozen), and the batch's end puts it back once;
	 * batch_dirty: some message changed ring state (a ring may go live). */
	bool batch_frozen, batch_dirty;
	struct vhu_vring vr[VHU_MAX_VRINGS];

	/* Set by any thread when the guest broke a rule; cleared by control. */
	_Atomic int broken;
	_Atomic int broken_detail; /* enum vq_err for VHU_BROKEN_RING */
	bool broken_logged;

	struct vlog_rl log_rl;   /* VHU_LOG's per-device limit (control thread) */
	struct vhu_counters cnt;
};

/* Creates the device and starts listening (server) or connecting (client).
 * Returns 0 or -errno (with a log line saying why). */
int vhu_dev_create(struct evloop *ev, const char *name, const char *path, bool client,
                   unsigned queue_pairs, const struct vhu_dev_ops *ops, void *ctx,
                   struct vhu_dev **out);
/* The same, with the owner, group and mode the socket file gets in server
 * mode (perm may be NULL: as bind() makes it). They are applied between
 * bind() and listen(): nobody can connect before they hold. */
int vhu_dev_create_perm(struct evloop *ev, const char *name, const char *path, bool client,
                        unsigned queue_pairs, const struct port_sock_perm *perm,
                        const struct vhu_dev_ops *ops, void *ctx, struct vhu_dev **out);
/* Quiesces, disconnects, unmaps and frees. The socket file is removed in
 * server mode. */
void vhu_dev_destroy(struct vhu_dev *d);

bool vhu_dev_connected(const struct vhu_dev *d);

/* Checked accessor for the datapath: the data vring with that index if it
 * exists, belongs to an active queue pair and is live. */
static inline struct vhu_vring *vhu_vring_live(struct vhu_dev *d, unsigned i)
{
	if (i >= 2 * d->active_qp || !d->vr[i].live)
		return NULL;
	return &d->vr[i];
}

/* Datapath: the guest broke a rule. Any thread; the first reason sticks. */
static inline void vhu_dev_mark_broken(struct vhu_dev *d, int why, int detail)
{
	int expect = VHU_OK;
	if (atomic_compare_exchange_strong(&d->broken, &expect, why))
		atomic_store(&d->broken_detail, detail);
}

static inline bool vhu_dev_is_broken(struct vhu_dev *d)
{
	return atomic_load_explicit(&d->broken, memory_order_relaxed) != VHU_OK ||
	       atomic_load_explicit(&d->mem.broken, memory_order_relaxed);
}

/* Control thread: if the device was marked broken, log it once, stop its
 * rings and tell the embedder. Returns true if it is broken. */
bool vhu_dev_check(struct vhu_dev *d);

/* Control thread, a few times a second: keeps a frontend whose fd got a
 * close stuck (closer.h) off until that close returns. */
void vhu_dev_tick(struct vhu_dev *d);

/* The virtio and protocol features vifd offers. */
uint64_t vhu_features_offered(void);
uint64_t vhu_protocol_features_offered(void);

#endif
