/* vif_impl.h - libvif internals: the endpoint and virtqueue structs shared
 * by the three libvif files, and a few hooks for tests that must misbehave
 * on purpose (hostile-peer tests send their own vhost-user sequence and poke
 * the rings directly). Not installed; include/libvif.h is the public API.
 *
 * Files: vif_msg.c   socket, message send/receive, error text;
 *        vif_setup.c memfd layout, negotiation, open/close, reconnection;
 *        vif_ring.c  burst calls (the datapath);
 *        vif_ctrl.c  the virtio-net control queue (connection thread only).
 *
 * Threading (see also libvif.h): each queue pair is driven by at most one
 * thread at a time. The connection thread (vif_conn_poll, vif_close) may run
 * while burst calls run on other threads: a burst call raises its pair's
 * `busy` flag and then checks `state`; the connection thread lowers `state`
 * and then waits for every `busy` to drop before it touches rings or the
 * socket. Both sides use seq_cst for this handshake (Dekker), so either the
 * burst sees DOWN or the connection thread sees busy. */
#ifndef VIFD_VIF_IMPL_H
#define VIFD_VIF_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "libvif.h"
#include "util.h"
#include "vu_wire.h"

enum {
	VIF_PAGE = 4096,
	VIF_RING_MAX = 32768,        /* VIRTIO 1.1 2.6: split queue size limit */
	VIF_TX_MAX_CHAIN = 256,      /* descriptors per tx frame (DPDK's BUF_VECTOR_MAX) */
	VIF_RX_BUF_MIN = 64,
	VIF_RX_BUF_MAX = 131072,
	VIF_DEFAULT_RING = 256,
	VIF_DEFAULT_RX_BUF = 2048,
	VIF_DEFAULT_TIMEOUT_MS = 5000,
	VIF_ERR_LEN = 256,
	VIF_CLOSE_DRAIN_MS = 1000,   /* vif_close waits this long for tx to drain */
	/* Control queue: a small ring of two-descriptor commands, each with
	 * its own slot in the memfd (command at 0, ack byte at ACK_OFF). */
	VIF_CTRL_RING = 16,
	VIF_CTRL_SLOTS = VIF_CTRL_RING / 2,
	VIF_CTRL_SLOT_SIZE = 64,
	VIF_CTRL_ACK_OFF = 48,
	VIF_CTRL_DATA_MAX = VIF_CTRL_ACK_OFF - 2, /* after the 2-byte class/cmd header */
	VIF_CTRL_TIMEOUT_MS = 1000,  /* longest wait for an ack (cfg.timeout_ms if smaller) */
	VIF_CTRL_POLL_NS = 100000,   /* sleep between looks at the control used ring */
};

/* Connection state, vif.state. */
enum vif_state {
	VIF_DOWN = 0, /* no backend: burst calls return -ENOTCONN */
	VIF_RAW,      /* connected, set up by hand (vif_open_raw) */
	VIF_UP,       /* negotiated, rings live */
};

/* One split virtqueue seen from the driver. The ring pointers point into
 * the memfd and are shared with the backend: everything read through them
 * is untrusted. The rest is private and owned by the thread driving the
 * pair. */
struct vif_vq {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t *used_event;  /* &avail->ring[num]: we write (EVENT_IDX) */
	uint16_t *avail_event; /* &used->ring[num]: backend writes (EVENT_IDX) */
	uint16_t num;
	uint16_t mask;
	uint16_t avail_idx;    /* shadow of avail->idx: next slot we fill */
	uint16_t last_used;    /* next used entry we consume */
	unsigned index;        /* vring index: 2*pair (rx), 2*pair+1 (tx), or
	                        * 2*max_qp (control queue) */
	/* Packed rings (vif.packed): the same three areas hold the descriptor
	 * ring (desc), the driver event structure (avail: we write) and the
	 * device event structure (used: the backend writes). */
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *drv_event;
	const struct vring_packed_desc_event *dev_event;
	uint16_t next_avail;   /* packed: next slot we fill ... */
	bool avail_wrap;       /* ... and our wrap counter there */
	uint16_t next_used;    /* packed: next slot a used descriptor comes in ... */
	bool used_wrap;        /* ... and the backend's wrap counter there */
	uint16_t nfree;        /* packed: slots neither available nor in flight */
	int kick_fd;           /* eventfd we write to notify the backend */
	int call_fd;           /* eventfd the backend writes to notify us */
	size_t desc_off, avail_off, used_off; /* ring offsets in the memfd */
};

/* Per-pair counters: written only by the thread driving the pair, summed
 * by vif_get_stats() (a racing read may be one burst old). */
struct vif_qstats {
	uint64_t tx_pkts, tx_bytes, tx_ring_full;
	uint64_t rx_pkts, rx_bytes, rx_truncated;
	uint64_t rx_calls;     /* call eventfd signals read by vif_rx_wait */
	uint64_t bad;          /* nonsense in rx or tx used rings */
};

/* One queue pair: rx vring 2i, tx vring 2i+1, their buffers and the
 * private bookkeeping that makes the shared rings checkable. */
struct vif_qp {
	struct vif_vq rx;
	struct vif_vq tx;
	uint8_t *rx_bufs;      /* rx buffer i (desc i) at rx_bufs + i * rx_buf_size */
	uint8_t *rx_posted;    /* [num] 1 while buffer i belongs to the backend */
	uint16_t *rx_ids;      /* [num] scratch: buffers of the frame being gathered */
	uint8_t *tx_bufs;      /* tx slot h (head desc h) at tx_bufs + h * tx_slot_size */
	struct vring_desc *tx_indir; /* [num][max_chain] indirect tables, or NULL */
	uint16_t *tx_free;     /* [num] stack of free tx descriptors */
	uint16_t *tx_next;     /* [num] private copy of each chain's links */
	uint16_t *tx_chain;    /* [num] descriptors held by head h, 0 = free */
	unsigned tx_nfree;
	size_t rx_bufs_off, tx_bufs_off, tx_indir_off;
	bool broken;           /* backend moved an index impossibly; -EIO until reset */
	atomic_int busy;       /* 1 while a burst call runs on this pair (see top) */
	struct vif_qstats st cache_aligned;
} cache_aligned;

struct vif {
	struct vif_config cfg; /* copy; cfg.path points at `path` */
	char path[108];
	_Atomic int state;     /* enum vif_state; see top for the handshake */
	int sock;              /* connection to the backend, -1 when none */
	int listen_fd;         /* server mode: listening socket, else -1 */
	int mem_fd;            /* the memfd holding rings and buffers */
	uint8_t *mem;          /* its mapping; GPA == VA == (uint64_t)mem + off */
	size_t mem_size;
	unsigned nqp;          /* queue pairs in use */
	uint16_t ring_num;
	uint32_t tx_slot_size; /* bytes per tx slot: header + VIF_MAX_FRAME */
	unsigned tx_max_chain; /* descriptors one tx frame may use */
	uint64_t features;     /* negotiated virtio features */
	uint64_t proto;        /* negotiated protocol features (0 if none) */
	unsigned hdr_len;      /* virtio-net header: 12 or 10 */
	bool reply_ack;        /* REPLY_ACK negotiated */
	bool event_idx;        /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool mrg_rxbuf;        /* VIRTIO_NET_F_MRG_RXBUF negotiated */
	bool indirect;         /* tx uses indirect tables (asked and negotiated) */
	bool packed;           /* packed rings (cfg.packed, negotiated) */
	uint64_t reconnects;   /* written by the connection thread */
	/* Inflight region (INFLIGHT_SHMFD): the memfd the backend gave with
	 * GET_INFLIGHT_FD (-1: none), kept for the endpoint's life and handed
	 * back with SET_INFLIGHT_FD at every setup; its geometry. Connection
	 * thread only. */
	int infl_fd;
	struct vu_inflight infl;
	struct vif_qp *qp;     /* [nqp], cache aligned */

	/* Control queue (vif_ctrl.c). Everything below is written and read by
	 * the connection thread only, except ctrl_bad (relaxed atomic, read by
	 * vif_get_stats from any thread). The vq exists in the memfd whenever
	 * cfg.ctrl_vq is set; it is live only while has_ctrl. */
	uint64_t max_qp;       /* GET_QUEUE_NUM answer; 1 without VU_PF_MQ */
	bool has_ctrl;         /* VIRTIO_NET_F_CTRL_VQ negotiated, ring set up */
	bool ctrl_broken;      /* used index moved impossibly: -EIO until reset */
	struct vif_vq cvq;     /* vring 2*max_qp (2 without VIRTIO_NET_F_MQ) */
	uint8_t *ctrl_bufs;    /* [VIF_CTRL_SLOTS] slots of VIF_CTRL_SLOT_SIZE */
	size_t ctrl_bufs_off;
	bool ctrl_inflight[VIF_CTRL_SLOTS]; /* slot's command is the backend's */
	unsigned ctrl_pairs;   /* pairs last set with VQ_PAIRS_SET (replayed) */
	int8_t ctrl_rx[2];     /* PROMISC, ALLMULTI: -1 never set, else 0/1 (replayed) */
	uint64_t ctrl_bad;     /* nonsense control used entries */
};

/* ---- ring helpers shared by vif_ring.c and vif_ctrl.c ---- */

/* Entries the backend has put in vq's used ring since we last looked, or
 * -1 if the index moved further than the ring allows (VIRTIO 1.1 2.6.8). */
static inline int vif_vq_used_pending(const struct vif_vq *vq)
{
	uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - vq->last_used);

	return n > vq->num ? -1 : n;
}

/* Reads used entry `pos` once. */
static inline void vif_vq_used_read(const struct vif_vq *vq, uint16_t pos, uint32_t *id,
				    uint32_t *len)
{
	const struct vring_used_elem *e = &vq->used->ring[pos & vq->mask];

	*id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
	*len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
}

/* Publishes vq's new avail index and notifies the backend if it asked to
 * be (VIRTIO 1.1 2.6.10.2 / 2.6.13.7). `old` is the index before this
 * call's additions, so there is at most one kick per call. */
static inline void vif_vq_publish(const struct vif *v, struct vif_vq *vq, uint16_t old)
{
	uint16_t new = vq->avail_idx;
	uint64_t one = 1;
	bool kick;

	__atomic_store_n(&vq->avail->idx, new, __ATOMIC_RELEASE);
	/* The index store must be visible before we read the backend's
	 * suppression state, or both sides may decide the other will act. */
	atomic_thread_fence(memory_order_seq_cst);
	if (v->event_idx)
		kick = vring_need_event(__atomic_load_n(vq->avail_event, __ATOMIC_RELAXED), new, old);
	else
		kick = !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
	/* A full eventfd counter (EAGAIN) still means "notified". */
	if (kick && write(vq->kick_fd, &one, sizeof(one)) < 0)
		(void)0;
}

/* ---- packed rings (vif_ring.c) ---- */

enum {
	VIF_PF_AVAIL = 1 << VRING_PACKED_DESC_F_AVAIL,
	VIF_PF_USED = 1 << VRING_PACKED_DESC_F_USED,
};

/* Whether the backend has marked slot next_used used (its flags loaded
 * once, acquire: the id and length it wrote before are visible after). */
static inline bool vif_pk_used_at(const struct vif_vq *vq, uint16_t slot, bool wrap,
				  uint16_t *flags)
{
	uint16_t f = __atomic_load_n(&vq->pdesc[slot].flags, __ATOMIC_ACQUIRE);

	*flags = f;
	return !!(f & VIF_PF_AVAIL) == wrap && !!(f & VIF_PF_USED) == wrap;
}

/* The flags that make a descriptor available at our current lap. */
static inline uint16_t vif_pk_avail_flags(const struct vif_vq *vq)
{
	return vq->avail_wrap ? VIF_PF_AVAIL : VIF_PF_USED;
}

static inline void vif_pk_slot_next(const struct vif_vq *vq, uint16_t *slot, bool *wrap)
{
	if (++*slot == vq->num) {
		*slot = 0;
		*wrap = !*wrap;
	}
}

/* Puts one ring in the packed reset state: all slots free, both wrap
 * counters 1, backend notifications off. */
void vif_pk_reset(struct vif_vq *vq);

/* Packed tx: reclaims what the backend used and returns the slots still
 * in flight, or -EIO. Only on the pair's thread (or with no burst running). */
int vif_pk_tx_inflight(struct vif_qp *qp);

/* Kicks the backend after making descriptors available, unless its device
 * event structure says DISABLE. */
static inline void vif_pk_kick(struct vif_vq *vq)
{
	uint64_t one = 1;

	/* Our flags stores must be visible before we read the backend's
	 * suppression state (as vif_vq_publish). */
	atomic_thread_fence(memory_order_seq_cst);
	if ((__atomic_load_n(&vq->dev_event->flags, __ATOMIC_RELAXED) & 3) ==
	    VRING_PACKED_EVENT_FLAG_DISABLE)
		return;
	if (write(vq->kick_fd, &one, sizeof(one)) < 0)
		(void)0;
}

/* ---- vif_msg.c ---- */

/* Records the text vif_last_error() returns in this thread. */
void vif_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Puts `prefix` (e.g. the step) in front of the current error text. */
void vif_prefix_error(const char *prefix);

/* Connects to (client) or accepts from (server) cfg.path, waiting at most
 * cfg.timeout_ms. Sets v->sock. Returns 0 or -errno. */
int vif_sock_connect(struct vif *v);
int vif_sock_listen(struct vif *v);
int vif_sock_accept(struct vif *v, int timeout_ms);

/* Sends one message (header + hdr.size payload bytes) with up to
 * VU_MAX_FDS descriptors. Returns 0 or -errno. */
int vif_msg_send(int sock, const struct vu_msg *m, const int *fds, unsigned nfds);

/* Reads one message within timeout_ms; any fds that came with it are
 * closed (the frontend expects one only with GET_INFLIGHT_FD's reply). Checks only that the header is
 * complete and the payload fits union vu_payload. Returns 0 or -errno
 * (-ETIMEDOUT, -ECONNRESET on EOF, -EPROTO on a payload too large). */
int vif_msg_recv(int sock, struct vu_msg *m, int timeout_ms);
/* The same, keeping the first fd that came with it in *fd (-1: none). */
int vif_msg_recv_fd(int sock, struct vu_msg *m, int timeout_ms, int *fd);

/* Test hook: sends `total_len` bytes of *m as they are (the header is not
 * fixed up, so a test can lie in hdr.size) with nfds descriptors, then if
 * reply is non-NULL reads one message into it. Returns 0 or -errno. */
int vif_raw_msg(struct vif *v, const struct vu_msg *m, size_t total_len,
		const int *fds, unsigned nfds, struct vu_msg *reply, int timeout_ms);

/* ---- vif_setup.c ---- */

/* Test hook: vif_open() without the negotiation: memfd, rings, eventfds
 * and the connection exist, nothing has been sent. State is VIF_RAW, so
 * burst calls still return -ENOTCONN until vif_setup() succeeds. */
int vif_open_raw(const struct vif_config *c, struct vif **out);

/* Runs the whole negotiation on v->sock (GET_FEATURES .. SET_STATUS) and
 * marks the endpoint up. Rings must be in their reset state. 0 or -errno. */
int vif_setup(struct vif *v);

/* Returns vring `index` (2*pair rx, 2*pair+1 tx, the control queue's
 * index while it is live) or NULL if out of range. */
struct vif_vq *vif_vring(struct vif *v, unsigned index);

/* Puts one ring in its reset state: empty, backend notifications off. */
void vif_vq_reset(struct vif_vq *vq);

/* Puts every ring of every pair, and the control queue, back in its
 * just-created state: indices 0, all tx descriptors free, all rx buffers
 * posted, no command in flight. Only while no burst runs. */
void vif_rings_reset(struct vif *v);

/* ---- vif_ctrl.c ---- */

/* Sends one control command: class, cmd, then `len` bytes of data (at
 * most VIF_CTRL_DATA_MAX) in one device-readable descriptor, and a 1-byte
 * device-writable ack; polls the used ring until the ack arrives, the
 * timeout passes or the connection drops. When every slot holds an
 * unanswered command, first waits (same timeout) for one to be answered.
 * Checks neither the endpoint state nor the command (vif_ctrl_* do; tests
 * send anything). Returns 0 (VIRTIO_NET_OK), -EINVAL (VIRTIO_NET_ERR or
 * too much data), -ETIMEDOUT, -ENOTCONN, -EBUSY (still no free slot), -EIO
 * (nonsense from the backend), -ENOTSUP (no control queue);
 * vif_last_error() says which. */
int vif_ctrl_cmd(struct vif *v, uint8_t cls, uint8_t cmd, const void *data, size_t len);

/* Writes the control ring's descriptors for the slots and forgets every
 * command in flight. Part of vif_rings_reset(). */
void vif_ctrl_reset(struct vif *v);

/* After a (re)negotiation, before the endpoint is marked up: sends again
 * what the device forgot in its reset: VQ_PAIRS_SET when more than one
 * pair is in use, and each RX mode the caller set. 0 or -errno. */
int vif_ctrl_replay(struct vif *v);

#endif
