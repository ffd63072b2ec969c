/* libvif.h - the frontend (driver) half of a vhost-user virtio-net device,
 * as a small library for processes. A libvif endpoint owns its rings and
 * packet buffers in a memfd it shares with the backend (vifd, DPDK's vhost
 * PMD, ...) over a unix socket, exactly as a QEMU guest would.
 *
 * Threading: one struct vif may be used from several threads only if each
 * queue pair is used by one thread and vif_conn_poll()/vif_close() are called
 * by one thread (the connection thread) while no burst call runs. Control
 * queue calls (vif_ctrl_*) belong to the connection thread too; burst calls
 * may run meanwhile. Burst calls never allocate or lock.
 *
 * Errors: functions returning int give 0 (or a count) on success and -errno
 * on failure. This is the whole public surface of libvif. */
#ifndef LIBVIF_H
#define LIBVIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIF_MAX_QUEUE_PAIRS 8
#define VIF_MAX_FRAME 65535 /* largest Ethernet frame libvif sends or receives */

struct vif;

struct vif_config {
	const char *path;        /* vhost-user unix socket path (required) */
	bool server;             /* true: listen on path and wait for the backend to
	                          * connect (backend in client mode); false: connect */
	unsigned queue_pairs;    /* 1..VIF_MAX_QUEUE_PAIRS (default 1) */
	unsigned ring_size;      /* power of two, 2..32768 (default 256) */
	unsigned rx_buf_size;    /* bytes per posted rx buffer including the virtio
	                          * header (default 2048); with MRG_RXBUF a frame may
	                          * span several; without it, it must fit one */
	unsigned tx_seg_size;    /* 0: each tx frame is one descriptor; N: the header
	                          * gets its own descriptor and the frame is split
	                          * into N-byte descriptors (exercises chains) */
	bool tx_indirect;        /* put tx chains in indirect tables when negotiated */
	bool no_mrg_rxbuf;       /* do not negotiate VIRTIO_NET_F_MRG_RXBUF */
	bool no_event_idx;       /* do not negotiate VIRTIO_RING_F_EVENT_IDX */
	unsigned timeout_ms;     /* how long vif_open() waits to connect or be
	                          * connected to (default 5000) */
	uint8_t mac[6];          /* reported by vif_mac(); libvif does not filter */
	bool ctrl_vq;            /* negotiate VIRTIO_NET_F_CTRL_VQ and _CTRL_RX when
	                          * offered and hand the control queue to the
	                          * backend (vring 2 x the backend's GET_QUEUE_NUM,
	                          * or 2 without MQ); see vif_ctrl_mq_pairs() */
	bool packed;             /* packed virtqueues (VIRTIO_F_RING_PACKED): vif_open()
	                          * fails with -EOPNOTSUPP if the backend does not
	                          * offer them; not with ctrl_vq (-EINVAL) */
	bool no_inflight;        /* do not negotiate VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD
	                          * (see vif_conn_poll) */
};

/* Fills *c with the defaults above (path NULL). */
void vif_config_init(struct vif_config *c);

/* Connects (or listens and accepts), negotiates features and queues, maps
 * rings and buffers and posts all rx buffers. On success stores the endpoint
 * in *out and returns 0. */
int vif_open(const struct vif_config *c, struct vif **out);

/* Tears down the connection and frees everything. NULL is accepted. */
void vif_close(struct vif *v);

unsigned vif_queue_pairs(const struct vif *v);
uint64_t vif_features(const struct vif *v); /* negotiated virtio features */
void vif_mac(const struct vif *v, uint8_t mac[6]); /* cfg.mac, as given */

struct vif_pkt {
	void *data;   /* frame bytes (Ethernet header first, no virtio header) */
	uint32_t len; /* frame length; for rx: capacity in, frame length out */
};

/* Queues up to n frames on tx queue of pair q. Frames are copied into
 * libvif's buffers, so the caller may reuse them at once. Returns how many
 * were queued (fewer when the ring is full: the rest are not sent) or -errno
 * (-EINVAL for a bad q or a frame shorter than 14 or longer than
 * VIF_MAX_FRAME, -ENOTCONN when the backend is gone). Notifies the backend
 * once per call when it asked to be notified. */
int vif_tx_burst(struct vif *v, unsigned q, const struct vif_pkt *pkts, unsigned n);

/* Receives up to n frames from rx queue of pair q into the caller's buffers
 * (pkts[i].data, capacity pkts[i].len). A frame longer than the capacity is
 * truncated and counted in rx_truncated. Returns the number of frames
 * received (0 when none is ready) or -errno. Reposts the buffers it used. */
int vif_rx_burst(struct vif *v, unsigned q, struct vif_pkt *pkts, unsigned n);

/* Waits until rx of pair q has a frame, the timeout (ms, -1 = forever)
 * expires, or the connection drops. Enables backend notifications for the
 * wait and disables them again after. Returns 1 ready, 0 timeout, -errno. */
int vif_rx_wait(struct vif *v, unsigned q, int timeout_ms);

/* The eventfd the backend signals for rx of pair q (for callers' own epoll).
 * Readable means "look at the ring"; vif_rx_wait() drains it. */
int vif_rx_fd(const struct vif *v, unsigned q);

/* Connection upkeep, to be called now and then (e.g. each second or when
 * vif_conn_fd() is readable). Detects that the backend went away; in server
 * mode it then accepts the backend's next connection and sets the device up
 * again. With INFLIGHT_SHMFD negotiated (the backend offers it, and not
 * cfg.no_inflight) the rings are kept: libvif hands the backend back the
 * inflight region it got at the first setup, every ring resumes at its used
 * index, and the backend serves again exactly the chains it had not
 * completed (tx frames queued before the loss are sent, none twice; rx
 * frames already received stay to be read). Otherwise the rings restart
 * empty and frames in flight at the loss are dropped.
 * Returns 0 when connected, -ENOTCONN while waiting for the backend, or
 * another -errno. In client mode a lost backend stays -ENOTCONN. */
int vif_conn_poll(struct vif *v);
int vif_conn_fd(const struct vif *v); /* socket or listening fd, for epoll */

struct vif_stats {
	uint64_t tx_pkts, tx_bytes; /* frames and frame bytes queued */
	uint64_t tx_ring_full;      /* frames refused because the ring was full */
	uint64_t rx_pkts, rx_bytes; /* frames received */
	uint64_t rx_truncated;      /* frames longer than the caller's buffer */
	uint64_t rx_bad;            /* used entries that made no sense (counted, skipped) */
	uint64_t reconnects;        /* completed reconnections (server mode) */
	uint64_t ctrl_bad;          /* control-queue used entries that made no sense */
	/* Receive notifications (the backend's calls) read by vif_rx_wait():
	 * what the backend's interrupt moderation cost this side. Calls sent
	 * while the caller was not waiting are counted at its next wait. */
	uint64_t rx_calls;
};
void vif_get_stats(const struct vif *v, struct vif_stats *s);

/* ---- control queue (VIRTIO 1.1 5.1.6.5) ----
 *
 * With cfg.ctrl_vq set and VIRTIO_NET_F_CTRL_VQ offered (see vif_features()),
 * libvif sets up the control queue with the others. With more than one
 * queue pair, the device uses only pair 0 until told otherwise, so
 * vif_open() sends VQ_PAIRS_SET(cfg.queue_pairs) itself and fails if the
 * device does not answer VIRTIO_NET_OK. After a reconnection (server mode)
 * vif_conn_poll() sends again the pair count and the RX modes last set,
 * before burst calls work again; a refusal fails that setup like any step.
 *
 * Each call sends one command and waits (polling, at most 1 s, or
 * cfg.timeout_ms if smaller) for the device's ack. Returns 0 when the device
 * answered VIRTIO_NET_OK; -EINVAL when it answered VIRTIO_NET_ERR or an
 * argument is out of range; -ENOTSUP without a control queue (or, for
 * vif_ctrl_mq_pairs, without VIRTIO_NET_F_MQ; for vif_ctrl_rx, without
 * VIRTIO_NET_F_CTRL_RX); -ETIMEDOUT when no answer came (the command may
 * still complete later; its late answer is ignored); -ENOTCONN when the
 * backend is gone; -EBUSY when 8 earlier commands are still unanswered
 * after the same wait; -EIO when the device's answer made no sense
 * (counted in ctrl_bad). vif_last_error() says which. Connection thread
 * only. */

/* VIRTIO_NET_CTRL_RX commands vif_ctrl_rx() sends (the spec's values). */
enum {
	VIF_CTRL_RX_PROMISC = 0,  /* VIRTIO_NET_CTRL_RX_PROMISC */
	VIF_CTRL_RX_ALLMULTI = 1, /* VIRTIO_NET_CTRL_RX_ALLMULTI */
};

/* VIRTIO_NET_CTRL_MQ / VQ_PAIRS_SET: the device uses queue pairs
 * 0..pairs-1 only (1 <= pairs <= vif_queue_pairs()). Pairs from `pairs` on
 * stay set up but the device neither reads their tx ring nor fills their
 * rx ring, so the caller should stop using them. */
int vif_ctrl_mq_pairs(struct vif *v, unsigned pairs);

/* VIRTIO_NET_CTRL_RX class: cmd VIF_CTRL_RX_PROMISC or VIF_CTRL_RX_ALLMULTI
 * turned on or off. libvif itself never filters. */
int vif_ctrl_rx(struct vif *v, unsigned cmd, bool on);

/* Human-readable text for the last error a libvif call met in this thread
 * (e.g. which negotiation step failed in vif_open()), or "". */
const char *vif_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
