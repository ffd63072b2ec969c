/* libvif.h - the frontend (driver) half of a vhost-user virtio-net device,
 * as a small library for processes. A libvif endpoint owns its rings and
 * packet buffers in a memfd it shares with the backend (vifd, DPDK's vhost
 * PMD, ...) over a unix socket, exactly as a QEMU guest would.
 *
 * Threading: one struct vif may be used from several threads only if each
 * queue pair is used by one thread and vif_conn_poll()/vif_close() are called
 * by one thread while no burst call runs. Burst calls never allocate or lock.
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
 * again (rings restart empty; frames in flight at the loss are dropped).
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
};
void vif_get_stats(const struct vif *v, struct vif_stats *s);

/* Human-readable text for the last error a libvif call met in this thread
 * (e.g. which negotiation step failed in vif_open()), or "". */
const char *vif_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
