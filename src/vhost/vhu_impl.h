/* vhu_impl.h - private to src/vhost: what the socket half (vhu_sock.c) and
 * the message half (vhu_msg.c) call of each other. */
#ifndef VIFD_VHU_IMPL_H
#define VIFD_VHU_IMPL_H

#include "vhu.h"

/* vhu_msg.c: validates and handles one complete message. fds[] holds nfds
 * received descriptors; the handler takes the ones it keeps (sets them to
 * -1), the caller closes the rest. Returns 0, or -errno when the connection
 * must be dropped. */
int vhu_msg_dispatch(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds);
/* Forgets all negotiated state (connection loss, RESET_OWNER). The device
 * must be quiesced. */
void vhu_state_reset(struct vhu_dev *d);
/* Stops every live ring (saving its position) / starts every ring that is
 * fully set up. Quiesced device only. */
void vhu_rings_stop(struct vhu_dev *d);
void vhu_rings_refresh(struct vhu_dev *d);

/* Sets up vring i from its negotiated state (quiesced device): maps the
 * ring, applies features, resumes at its base. Returns 0, or -EINVAL after
 * marking the device broken (the guest gave ring addresses that do not map). */
int vhu_vring_start(struct vhu_dev *d, unsigned i, uint32_t max_len);
/* True when vring i has everything it needs to run. */
bool vhu_vring_ready(const struct vhu_dev *d, unsigned i);

/* vhu_ctrl.c: the control queue (vring 2 * max_qp), served on the control
 * thread when VIRTIO_NET_F_CTRL_VQ is negotiated. */
void vhu_ctrl_refresh(struct vhu_dev *d);
unsigned vhu_ctrl_index(const struct vhu_dev *d);
void vhu_ctrl_stop(struct vhu_dev *d);

/* vhu_sock.c: sends a reply; returns 0 or -errno. */
int vhu_send(struct vhu_dev *d, const struct vu_msg *m);
/* The same with one fd in SCM_RIGHTS (fd < 0: none). */
int vhu_send_fd(struct vhu_dev *d, const struct vu_msg *m, int fd);
/* Uses an already connected socket as the frontend connection (tests and
 * fuzz targets drive the device through a socketpair). 0 or -errno. */
int vhu_conn_adopt(struct vhu_dev *d, int fd);

/* vhu_msg.c: ends a batch of messages (see vhu_dev.batch_frozen): starts
 * the rings that became ready and republishes if anything changed. */
void vhu_batch_end(struct vhu_dev *d);

/* Every log line of this module is one a frontend can cause: at most
 * VHU_LOG_PER_SEC a second per device, and VHU_LOG_ALL_PER_SEC for all
 * devices together (so 256 hostile ports cannot flood the log either).
 * The level is checked before anything is formatted. */
enum { VHU_LOG_ALL_PER_SEC = 200 };
extern struct vlog_rl vhu_log_all;
#define VHU_LOG(lvl, d, fmt, ...) do { \
	if ((lvl) <= vlog_get_level() && \
	    vlog_rl_allow_who(&(d)->log_rl, VHU_LOG_PER_SEC, (d)->name) && \
	    vlog_rl_allow_who(&vhu_log_all, VHU_LOG_ALL_PER_SEC, "vhost-user")) \
		vlog((lvl), "%s: " fmt, (d)->name, ##__VA_ARGS__); \
} while (0)

#endif
