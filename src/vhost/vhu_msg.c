/* vhu_msg.c - vhost-user message table and handlers (QEMU
 * docs/interop/vhost-user.rst), for a virtio-net device.
 *
 * Security model: every message comes from an untrusted frontend. Each
 * request is described once in msg_table[] (payload size range, fd count,
 * which kind of vring index it carries, whether it changes what the
 * datapath reads). vhu_msg_dispatch() checks the header, the size, the fd
 * count and the vring index against that table before any handler runs, so
 * handlers only see well-formed messages and reach vrings only through an
 * index already checked. Messages that change what a live ring uses run
 * with the device quiesced (no worker touches it) and rings are
 * re-validated by vhu_rings_refresh() afterwards. Any error drops the
 * connection; the port stays and can be re-attached; nothing else is
 * disturbed.
 *
 * Cost: a frontend may send any number of valid messages. One that changes
 * nothing (SET_VRING_ENABLE with the value the ring has, SET_FEATURES
 * again, ...) quiesces nothing and publishes nothing; one that changes a
 * ring no worker uses (not live) does not quiesce either; and the messages
 * of one wake-up share one quiesce and one republish (vhu_batch_end), so
 * a flood costs the datapath at most two publishes per VHU_MSG_BUDGET
 * messages. Every log line goes through VHU_LOG's per-device limit. Fds
 * the handlers replace are handed to the closer thread (closer.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "closer.h"
#include "vhu_impl.h"
#include "vlog.h"
#include "vqp.h"

struct vlog_rl vhu_log_all;

enum vr_kind {
	VR_NONE,  /* no vring index */
	VR_STATE, /* struct vu_vring_state.index */
	VR_ADDR,  /* struct vu_vring_addr.index */
	VR_FILE,  /* u64: index in bits 0-7, bit 8 = no fd */
};

typedef int msg_fn(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply);

/* What a message may change that workers read. */
enum msg_scope {
	SC_NONE, /* nothing (replies, bookkeeping, fds no worker uses) */
	SC_DEV,  /* the whole device: memory, features, every ring */
	SC_RING, /* the vring it names */
};

struct msg_type {
	const char *name;
	msg_fn *fn;
	uint16_t min_size, max_size; /* payload bytes */
	uint8_t fds_min, fds_max;
	uint8_t vr;                  /* enum vr_kind */
	uint8_t scope;               /* enum msg_scope */
	int8_t needs_pf;             /* protocol feature that must be acked, -1: none */
};

/* Largest frame (MTU + Ethernet header) a guest may configure, and the
 * longest transmit chain taken from a guest (header included): a TSO frame
 * of 64 KiB of IP packet, its Ethernet header and two tags. */
enum { VHU_MAX_FRAME = 65535, VHU_MAX_TX_CHAIN = 12 + 65536 + 22 };

/* Offload features (VIRTIO 1.1 §5.1.3) missing from older kernel headers. */
enum { F_GUEST_USO4 = 54, F_GUEST_USO6 = 55, F_HOST_USO = 56 };
#define F(b) (1ull << (b))

/* The checksum and segmentation offloads vifd offers both ways: the
 * datapath segments and checksums in software for a destination that
 * lacks what a frame needs (src/offload). */
static const uint64_t ol_features =
	F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
	F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_HOST_TSO4) |
	F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) | F(F_GUEST_USO4) | F(F_GUEST_USO6) |
	F(F_HOST_USO);

/* Dirty-page logging (live migration): offered. It was held back for a
 * while because a migrated guest's kernel now and then found its memory
 * corrupted (test 102); a control run of the same migration with QEMU's
 * own user-mode NIC and no vifd at all showed the same reports at about
 * the same rate, so the cause is QEMU under TCG on this host, not the
 * marks (tests/integration/102-guest-migration.sh). 0 takes the offer
 * back: QEMU then refuses to migrate a guest on vifd. */
enum { VHU_OFFER_LOG = 1 };

uint64_t vhu_features_offered(void)
{
	return ol_features | (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
	       (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ull << VIRTIO_NET_F_MQ) | (1ull << VIRTIO_NET_F_MTU) |
	       (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MAC) |
	       (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_CTRL_RX) |
	       (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << VIRTIO_F_RING_PACKED) |
	       (VHU_OFFER_LOG ? 1ull << VU_F_LOG_ALL : 0);
}

uint64_t vhu_protocol_features_offered(void)
{
	return (1ull << VU_PF_MQ) | (1ull << VU_PF_RARP) | (1ull << VU_PF_REPLY_ACK) |
	       (1ull << VU_PF_MTU) | (1ull << VU_PF_CONFIG) | (1ull << VU_PF_RESET_DEVICE) |
	       (1ull << VU_PF_STATUS) | (1ull << VU_PF_INFLIGHT_SHMFD) |
	       (VHU_OFFER_LOG ? 1ull << VU_PF_LOG_SHMFD : 0);
}

static void log_unmap(struct vhu_dev *d)
{
	if (d->log.map_base) {
		gmem_unguard(d->log.map_base);
		munmap(d->log.map_base, d->log.map_len);
	}
	memset(&d->log, 0, sizeof(d->log));
}

static void infl_unmap(struct vhu_dev *d)
{
	if (d->infl.map_base) {
		gmem_unguard(d->infl.map_base);
		munmap(d->infl.map_base, d->infl.map_len);
	}
	memset(&d->infl, 0, sizeof(d->infl));
}

static bool fd_is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* Replaces a kept guest fd; the old one goes to the closer thread (its
 * release may block: see closer.h). */
static void set_fd(struct vhu_dev *d, int *slot, int fd)
{
	closer_put(*slot, d->closer_id);
	*slot = fd;
}

/* A ring is enabled by SET_VRING_ENABLE when protocol features were acked;
 * otherwise it starts enabled (vhost-user.rst, "Ring states"). */
static bool vring_enabled(const struct vhu_dev *d, const struct vhu_vring *vr)
{
	return (d->features & (1ull << VU_F_PROTOCOL_FEATURES)) ? vr->enable_msg : true;
}

void vhu_rings_stop(struct vhu_dev *d)
{
	vhu_ctrl_stop(d);
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		struct vhu_vring *vr = &d->vr[i];
		if (vr->live) {
			vr->base = vqx_base(&vr->vq);
			vr->live = false;
		}
	}
}

bool vhu_vring_ready(const struct vhu_dev *d, unsigned i)
{
	const struct vhu_vring *vr = &d->vr[i];

	return d->mem_set && vr->num && vr->addr_set && vr->started && vring_enabled(d, vr);
}

/* Gives data ring i (just set up, resuming at its used index) its part of
 * the inflight region, if the frontend set one that covers it, after
 * recovering what the last backend left in flight (vq_inflight.h). The
 * control queue is not tracked (its commands are done at once, on the
 * control thread). Returns 0, or -EINVAL if the region disagrees with the
 * ring. */
static int infl_attach(struct vhu_dev *d, unsigned i, struct vq *q)
{
	struct vq_infl_region *r;
	uint16_t n;
	char err[128];

	q->infl = NULL;
	/* Split rings only: a packed ring (once offered) is not tracked. */
	if (!d->infl.base || !(d->pfeatures & (1ull << VU_PF_INFLIGHT_SHMFD)) ||
	    (d->features & (1ull << VIRTIO_F_RING_PACKED)) || i >= 2 * d->max_qp ||
	    i >= d->infl.num_queues)
		return 0;
	/* (without MQ the control queue is vring 2, below 2 * max_qp) */
	if ((d->features & (1ull << VIRTIO_NET_F_CTRL_VQ)) && i == vhu_ctrl_index(d))
		return 0;
	if (d->infl.queue_size != q->size) {
		VHU_LOG(LOG_ERR, d, "vring %u: %u entries, but the inflight region is for %u", i,
		        q->size, d->infl.queue_size);
		return -EINVAL;
	}
	r = (struct vq_infl_region *)(void *)(d->infl.base + d->infl.stride * i);
	if (vq_infl_recover(r, q->avail, q->size, q->used_idx, q->last_avail, &n,
	                    &q->infl_counter, err, sizeof(err)) < 0) {
		VHU_LOG(LOG_ERR, d, "vring %u: %s", i, err);
		return -EINVAL;
	}
	if (n) {
		d->cnt.infl_resubmitted += n;
		VHU_LOG(LOG_INFO, d, "vring %u: %u chains were in flight when the last backend "
		        "stopped: served again from avail entry %u", i, n, q->last_avail);
	}
	q->infl = r;
	return 0;
}

int vhu_vring_start(struct vhu_dev *d, unsigned i, uint32_t max_len)
{
	struct vhu_vring *vr = &d->vr[i];
	struct vq *q = &vr->vq;
	char err[128];
	uint16_t used;

	q->event_idx = d->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	q->indirect = d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	/* Dirty logging (migration): while LOG_ALL is negotiated and a log is
	 * mapped; the used ring when SET_VRING_ADDR asked (VHOST_VRING_F_LOG,
	 * log_guest_addr: its guest physical address). */
	q->log = (d->features & (1ull << VU_F_LOG_ALL)) && d->log.bits ? &d->log : NULL;
	q->log_used = vr->addr.flags & 1;
	q->log_used_gpa = vr->addr.log_guest_addr;
	q->logc_n = 0;
	q->max_len = max_len;
	q->callfd = vr->callfd;
	if (d->features & (1ull << VIRTIO_F_RING_PACKED)) {
		/* Packed: the base carries both positions (vqp.h); there is
		 * no index in memory to check it against, and no inflight
		 * tracking (a region from an earlier split start goes). */
		q->infl = NULL;
		if (vq_setup_packed(q, &d->mem, vr->num, vr->addr.desc_user_addr,
		                    vr->addr.avail_user_addr, vr->addr.used_user_addr, vr->base,
		                    err, sizeof(err)) < 0) {
			VHU_LOG(LOG_ERR, d, "vring %u: %s", i, err);
			vhu_dev_mark_broken(d, VHU_BROKEN_SETUP, 0);
			return -EINVAL;
		}
		vr->live = true;
		return 0;
	}
	if (vq_setup(q, &d->mem, vr->num, vr->addr.desc_user_addr, vr->addr.avail_user_addr,
	             vr->addr.used_user_addr, (uint16_t)vr->base, err, sizeof(err)) < 0) {
		VHU_LOG(LOG_ERR, d, "vring %u: %s", i, err);
		vhu_dev_mark_broken(d, VHU_BROKEN_SETUP, 0);
		return -EINVAL;
	}
	/* A previous backend may have stopped without completing what it
	 * had taken: the used ring is the truth of what was done. */
	used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	if (used != vr->base) {
		VHU_LOG(LOG_INFO, d, "vring %u: base %u but used index %u, resuming at %u",
		        i, vr->base, used, used);
		q->last_avail = q->used_idx = used;
	}
	if (infl_attach(d, i, q) < 0) {
		vhu_dev_mark_broken(d, VHU_BROKEN_SETUP, 0);
		return -EINVAL;
	}
	vr->live = true;
	return 0;
}

void vhu_rings_refresh(struct vhu_dev *d)
{
	unsigned ndata = 2 * d->max_qp;

	if (vhu_dev_is_broken(d) || !d->mem_set)
		return;
	/* Without MQ a control queue sits at vring 2: only pair 0 is data. */
	if (vhu_ctrl_index(d) == 2 && (d->features & (1ull << VIRTIO_NET_F_CTRL_VQ)))
		ndata = 2;
	for (unsigned i = 0; i < ndata; i++) {
		bool tx = i & 1; /* odd vrings: guest transmit, vifd reads */

		if (d->vr[i].live || !vhu_vring_ready(d, i))
			continue;
		if (vhu_vring_start(d, i, tx ? VHU_MAX_TX_CHAIN : UINT32_MAX) < 0) {
			vhu_rings_stop(d);
			return;
		}
		/* vifd never waits for rx buffers, so it asks guests not to
		 * kick their rx rings (tx rings are the workers' business). */
		if (!tx)
			vqx_kicks_disable(&d->vr[i].vq, d->vr[i].vq.packed);
	}
	vhu_ctrl_refresh(d);
}

void vhu_state_reset(struct vhu_dev *d)
{
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		struct vhu_vring *vr = &d->vr[i];
		set_fd(d, &vr->kickfd, -1);
		set_fd(d, &vr->callfd, -1);
		set_fd(d, &vr->errfd, -1);
		vr->vq.callfd = -1;
		vr->num = 0;
		vr->addr_set = false;
		vr->base = 0;
		vr->started = false;
		vr->enable_msg = false;
		vr->live = false;
	}
	if (d->mem_set)
		gmem_unmap(&d->mem);
	d->mem_set = false;
	log_unmap(d);
	infl_unmap(d);
	d->features = 0;
	d->pfeatures = 0;
	d->features_set = false;
	d->owner = false;
	d->status = 0;
	d->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	d->mrg_rxbuf = false;
	d->ol_rx = d->ol_tx = 0;
	d->active_qp = d->max_qp;
	d->promisc = d->allmulti = false;
	atomic_store(&d->broken, VHU_OK);
	d->broken_logged = false;
}

bool vhu_dev_check(struct vhu_dev *d)
{
	static const char *const why[] = {
		[VHU_BROKEN_RING] = "invalid ring", [VHU_BROKEN_MEMORY] = "guest memory fault",
		[VHU_BROKEN_CALL] = "call eventfd write failed",
		[VHU_BROKEN_SETUP] = "ring setup failed",
	};
	int b;

	if (!vhu_dev_is_broken(d))
		return false;
	if (d->broken_logged)
		return true;
	b = atomic_load(&d->broken);
	if (b == VHU_OK)
		b = VHU_BROKEN_MEMORY;
	d->broken_logged = true;
	d->cnt.broken++;
	VHU_LOG(LOG_WARNING, d, "guest broke the rules (%s%s%s): port stopped until the "
	        "frontend resets the device", b < (int)ARRAY_SIZE(why) ? why[b] : "?",
	        b == VHU_BROKEN_RING || atomic_load(&d->mem.hole) ? ": " : "",
	        b == VHU_BROKEN_RING ? vq_err_str(atomic_load(&d->broken_detail)) :
	        atomic_load(&d->mem.hole) ? "read of memory the guest never wrote" : "");
	d->ops->quiesce(d, d->ctx);
	vhu_rings_stop(d);
	d->ops->changed(d, d->ctx);
	return true;
}

/* Clears a guest fault when the frontend starts over (reset, renegotiation). */
static void clear_broken(struct vhu_dev *d)
{
	atomic_store(&d->broken, VHU_OK);
	d->broken_logged = false;
}

static int h_get_features(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)d, (void)fds, (void)nfds;
	m->p.u64 = vhu_features_offered();
	m->hdr.size = sizeof(m->p.u64);
	*reply = true;
	return 0;
}

/* What the negotiated features let each side hand the other (pkt.h
 * PKT_OL_*), each with what it depends on (VIRTIO 1.1 §5.1.3.1: TSO, USO
 * and ECN need the checksum offload of their direction; ECN needs TSO): a
 * feature acked without its dependency is not used. */
static void ol_caps(struct vhu_dev *d)
{
	uint64_t f = d->features;
	uint32_t rx = 0, tx = 0;

	if (f & F(VIRTIO_NET_F_GUEST_CSUM)) {
		rx = PKT_OL_CSUM | PKT_OL_VALID;
		rx |= (f & F(VIRTIO_NET_F_GUEST_TSO4)) ? PKT_OL_TSO4 : 0;
		rx |= (f & F(VIRTIO_NET_F_GUEST_TSO6)) ? PKT_OL_TSO6 : 0;
		rx |= (f & F(F_GUEST_USO4)) ? PKT_OL_USO4 : 0;
		rx |= (f & F(F_GUEST_USO6)) ? PKT_OL_USO6 : 0;
		if ((f & F(VIRTIO_NET_F_GUEST_ECN)) && (rx & (PKT_OL_TSO4 | PKT_OL_TSO6)))
			rx |= PKT_OL_ECN;
	}
	if (f & F(VIRTIO_NET_F_CSUM)) {
		tx = PKT_OL_CSUM | PKT_OL_VALID;
		tx |= (f & F(VIRTIO_NET_F_HOST_TSO4)) ? PKT_OL_TSO4 : 0;
		tx |= (f & F(VIRTIO_NET_F_HOST_TSO6)) ? PKT_OL_TSO6 : 0;
		tx |= (f & F(F_HOST_USO)) ? PKT_OL_USO4 | PKT_OL_USO6 : 0;
		if ((f & F(VIRTIO_NET_F_HOST_ECN)) && (tx & (PKT_OL_TSO4 | PKT_OL_TSO6)))
			tx |= PKT_OL_ECN;
	}
	d->ol_rx = rx;
	d->ol_tx = tx;
}

static int h_set_features(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint64_t f = m->p.u64;

	(void)fds, (void)nfds, (void)reply;
	if (f & ~vhu_features_offered()) {
		VHU_LOG(LOG_ERR, d, "SET_FEATURES 0x%llx has bits we never offered (0x%llx)",
		        (unsigned long long)f, (unsigned long long)(f & ~vhu_features_offered()));
		return -EINVAL;
	}
	d->features = f;
	d->features_set = true;
	/* Logging ends (the migration is over or cancelled): the log goes. */
	if (!(f & (1ull << VU_F_LOG_ALL)))
		log_unmap(d);
	/* VIRTIO 1.1 §5.1.6.5.5: with a control queue, one pair is used until
	 * the driver sends VQ_PAIRS_SET (never more without MQ); without one,
	 * every pair the frontend enables (QEMU and DPDK keep the control queue
	 * and use SET_VRING_ENABLE). */
	d->active_qp = (f & (1ull << VIRTIO_NET_F_CTRL_VQ)) ? 1 : d->max_qp;
	d->mrg_rxbuf = f & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	/* VIRTIO 1.1 §5.1.6: the 12-byte header with VERSION_1 or MRG_RXBUF. */
	d->hdr_len = (d->mrg_rxbuf || (f & (1ull << VIRTIO_F_VERSION_1)))
	                     ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
	                     : sizeof(struct virtio_net_hdr);
	ol_caps(d);
	clear_broken(d);
	VHU_LOG(LOG_INFO, d, "features 0x%llx (hdr %u bytes%s%s%s)", (unsigned long long)f,
	        d->hdr_len, d->mrg_rxbuf ? ", mrg_rxbuf" : "",
	        (f & (1ull << VIRTIO_RING_F_EVENT_IDX)) ? ", event_idx" : "",
	        (f & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) ? ", indirect" : "");
	return 0;
}

static int h_get_pfeatures(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)d, (void)fds, (void)nfds;
	m->p.u64 = vhu_protocol_features_offered();
	m->hdr.size = sizeof(m->p.u64);
	*reply = true;
	return 0;
}

static int h_set_pfeatures(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds, (void)reply;
	if (m->p.u64 & ~vhu_protocol_features_offered()) {
		VHU_LOG(LOG_ERR, d, "SET_PROTOCOL_FEATURES 0x%llx has bits we never offered",
		        (unsigned long long)m->p.u64);
		return -EINVAL;
	}
	d->pfeatures = m->p.u64;
	return 0;
}

static int h_set_owner(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)m, (void)fds, (void)nfds, (void)reply;
	d->owner = true;
	return 0;
}

static int h_reset(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint64_t pf = d->pfeatures;

	(void)m, (void)fds, (void)nfds, (void)reply;
	vhu_state_reset(d);
	/* RESET_DEVICE keeps the protocol features (vhost-user.rst). */
	if (m->hdr.request == VU_RESET_DEVICE)
		d->pfeatures = pf;
	return 0;
}

static int h_set_mem_table(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint32_t n = m->p.mem.nregions;
	char err[128];
	int r;

	(void)reply;
	if (n < 1 || n > VU_MAX_MEM_REGIONS || n != nfds ||
	    m->hdr.size != 8 + n * sizeof(struct vu_mem_region)) {
		VHU_LOG(LOG_ERR, d, "SET_MEM_TABLE: %u regions, %u fds, %u bytes do not agree",
		        n, nfds, m->hdr.size);
		return -EINVAL;
	}
	if (d->mem_set)
		gmem_unmap(&d->mem);
	d->mem_set = false;
	r = gmem_map(&d->mem, m->p.mem.regions, fds, n, err, sizeof(err));
	if (r < 0) {
		VHU_LOG(LOG_ERR, d, "SET_MEM_TABLE refused: %s", err);
		return r;
	}
	d->mem_set = true;
	clear_broken(d);
	return 0;
}

/* SET_LOG_BASE: the dirty log, {mmap_size, mmap_offset} of the one fd.
 * The device is quiesced (the rings restart with the new log). Like guest
 * memory, the log must be a shared-memory file (told by F_GET_SEALS before
 * anything else is asked of it); tmpfs/memfd only, not hugetlbfs (a log is
 * small). Its mapping is guarded like guest memory (gmem_guard): if the
 * frontend truncates it or punches a hole in it, the write that faults
 * stops this port, not vifd. The frontend waits for a reply without asking
 * for one (vhost-user.rst, "Migration"; QEMU's vhost_user_set_log_base): a
 * header with no payload. */
static int h_set_log_base(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint64_t size = m->p.log.mmap_size, off = m->p.log.mmap_offset, pg = (uint64_t)getpagesize();
	struct statfs sfs;
	struct stat st;
	void *p;

	(void)nfds;
	if (size == 0 || size > VHU_LOG_MAX || off > UINT64_MAX - size) {
		VHU_LOG(LOG_ERR, d, "SET_LOG_BASE: size %llu offset %llu (at most %u bytes)",
		        (unsigned long long)size, (unsigned long long)off, VHU_LOG_MAX);
		return -EINVAL;
	}
	if (fcntl(fds[0], F_GET_SEALS) < 0 || fstatfs(fds[0], &sfs) < 0 ||
	    sfs.f_type != TMPFS_MAGIC) {
		VHU_LOG(LOG_ERR, d, "SET_LOG_BASE: the log must be a memfd or tmpfs file");
		return -EINVAL;
	}
	if (fstat(fds[0], &st) < 0 || (uint64_t)st.st_size < off + size) {
		VHU_LOG(LOG_ERR, d, "SET_LOG_BASE: the file is smaller than offset + size");
		return -EINVAL;
	}
	uint64_t skip = off % pg, len = size + skip;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], (off_t)(off - skip));
	if (p == MAP_FAILED) {
		VHU_LOG(LOG_ERR, d, "SET_LOG_BASE: mmap: %s", strerror(errno));
		return -errno;
	}
	if (!gmem_guard(&d->mem, p, len)) {
		munmap(p, len);
		VHU_LOG(LOG_ERR, d, "SET_LOG_BASE: too many guarded mappings");
		return -ENOSPC;
	}
	log_unmap(d);
	d->log = (struct dirty_log){ .bits = (uint8_t *)p + skip, .size = size, .map_base = p,
	                             .map_len = len };
	VHU_LOG(LOG_INFO, d, "dirty log: %llu bytes (guest memory up to %llu MiB)",
	        (unsigned long long)size, (unsigned long long)(size << 15 >> 20));
	m->hdr.size = 0;
	*reply = true;
	return 0;
}

/* Checks GET/SET_INFLIGHT_FD's geometry; returns the region's size or 0. */
static uint64_t infl_size(struct vhu_dev *d, const struct vu_inflight *in)
{
	if (in->num_queues == 0 || in->num_queues > VHU_MAX_VRINGS || !is_pow2(in->queue_size) ||
	    in->queue_size > VQ_MAX_SIZE) {
		VHU_LOG(LOG_ERR, d, "%s_INFLIGHT_FD: %u queues of %u entries (at most %u queues, "
		        "a power of two <= %d entries)", in->mmap_size ? "SET" : "GET",
		        in->num_queues, in->queue_size, VHU_MAX_VRINGS, VQ_MAX_SIZE);
		return 0;
	}
	return in->num_queues * vq_infl_queue_bytes(in->queue_size);
}

/* GET_INFLIGHT_FD: a new zeroed region for num_queues rings of queue_size
 * entries, in a memfd sealed against shrinking and growing (it cannot be
 * truncated under us), handed to the frontend, which keeps it across our
 * restarts and gives it back with SET_INFLIGHT_FD. vifd keeps no fd. */
static int h_get_inflight_fd(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint64_t size = infl_size(d, &m->p.inflight);
	int fd, r;

	(void)fds, (void)nfds;
	if (!size)
		return -EINVAL;
	fd = memfd_create("vifd-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		VHU_LOG(LOG_ERR, d, "GET_INFLIGHT_FD: memfd of %llu bytes: %s",
		        (unsigned long long)size, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	m->p.inflight.mmap_size = size;
	m->p.inflight.mmap_offset = 0;
	m->hdr.size = sizeof(m->p.inflight);
	d->reply_fd = fd;
	d->has_reply_fd = true;
	*reply = true;
	VHU_LOG(LOG_INFO, d, "inflight region: %u queues of %u entries, %llu bytes",
	        m->p.inflight.num_queues, m->p.inflight.queue_size, (unsigned long long)size);
	return 0;
}

/* SET_INFLIGHT_FD: the region to track the rings in (the device is
 * quiesced; the rings restart with it and recover from it). Checked like
 * the dirty log: a memfd or tmpfs file (F_GET_SEALS answered), at least
 * offset + size long, exactly the size its geometry needs; its mapping is
 * guarded (gmem_guard) so that a frontend truncating a file it did not
 * seal stops this port, not vifd. */
static int h_set_inflight_fd(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	const struct vu_inflight *in = &m->p.inflight;
	uint64_t size = infl_size(d, in), off = in->mmap_offset, pg = (uint64_t)getpagesize();
	struct statfs sfs;
	struct stat st;
	void *p;

	(void)nfds, (void)reply;
	if (!size || in->mmap_size != size || off > UINT64_MAX - size - pg) {
		VHU_LOG(LOG_ERR, d, "SET_INFLIGHT_FD: size %llu offset %llu (%llu needed)",
		        (unsigned long long)in->mmap_size, (unsigned long long)off,
		        (unsigned long long)size);
		return -EINVAL;
	}
	if (fcntl(fds[0], F_GET_SEALS) < 0 || fstatfs(fds[0], &sfs) < 0 ||
	    sfs.f_type != TMPFS_MAGIC) {
		VHU_LOG(LOG_ERR, d, "SET_INFLIGHT_FD: the region must be a memfd or tmpfs file");
		return -EINVAL;
	}
	if (fstat(fds[0], &st) < 0 || (uint64_t)st.st_size < off + size) {
		VHU_LOG(LOG_ERR, d, "SET_INFLIGHT_FD: the file is smaller than offset + size");
		return -EINVAL;
	}
	uint64_t skip = off % pg, len = size + skip;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], (off_t)(off - skip));
	if (p == MAP_FAILED) {
		VHU_LOG(LOG_ERR, d, "SET_INFLIGHT_FD: mmap: %s", strerror(errno));
		return -errno;
	}
	if (!gmem_guard(&d->mem, p, len)) {
		munmap(p, len);
		VHU_LOG(LOG_ERR, d, "SET_INFLIGHT_FD: too many guarded mappings");
		return -ENOSPC;
	}
	infl_unmap(d);
	d->infl.map_base = p;
	d->infl.map_len = len;
	d->infl.base = (uint8_t *)p + skip;
	d->infl.stride = vq_infl_queue_bytes(in->queue_size);
	d->infl.num_queues = in->num_queues;
	d->infl.queue_size = in->queue_size;
	return 0;
}

/* SET_LOG_FD (logging with a non-shared log, which needs no SHMFD): never
 * offered; accepted and ignored so that a frontend that sends it anyway
 * is not cut off. */
static int h_set_log_fd(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)m, (void)fds, (void)nfds, (void)reply;
	VHU_LOG(LOG_INFO, d, "SET_LOG_FD ignored (a shared log comes with SET_LOG_BASE)");
	return 0;
}

static int h_vring_num(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint32_t num = m->p.state.num;
	bool packed = d->features & (1ull << VIRTIO_F_RING_PACKED);

	(void)fds, (void)nfds, (void)reply;
	/* Split rings: a power of two (VIRTIO 1.1 §2.6); packed: any size
	 * (§2.7.10.1). Both at most 32768. (A packed ring's size given
	 * before the features is checked again when the ring starts.) */
	if (num == 0 || num > VQ_MAX_SIZE || (!packed && !is_pow2(num))) {
		VHU_LOG(LOG_ERR, d, "vring %u: size %u is not a %s in 1..%d",
		        m->p.state.index, num, packed ? "size" : "power of two", VQ_MAX_SIZE);
		return -EINVAL;
	}
	d->vr[m->p.state.index].num = num;
	return 0;
}

static int h_vring_addr(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	struct vhu_vring *vr = &d->vr[m->p.addr.index];

	(void)fds, (void)nfds, (void)reply;
	vr->addr = m->p.addr;
	vr->addr_set = true;
	return 0;
}

static int h_vring_base(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	uint32_t num = m->p.state.num;
	struct vhu_vring *vr = &d->vr[m->p.state.index];

	(void)fds, (void)nfds, (void)reply;
	if (d->features & (1ull << VIRTIO_F_RING_PACKED)) {
		/* Packed (vhost-user.rst): bits 0-14 next avail slot, 15 its
		 * wrap counter, 16-30 next used slot, 31 its wrap counter. */
		if (vr->num && ((num & 0x7fff) >= vr->num || ((num >> 16) & 0x7fff) >= vr->num)) {
			VHU_LOG(LOG_ERR, d, "vring %u: packed base 0x%x outside a ring of %u",
			        m->p.state.index, num, vr->num);
			return -EINVAL;
		}
	} else if (num > UINT16_MAX) {
		VHU_LOG(LOG_ERR, d, "vring %u: base %u out of range", m->p.state.index, num);
		return -EINVAL;
	}
	vr->base = num;
	return 0;
}

static int h_get_vring_base(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	struct vhu_vring *vr = &d->vr[m->p.state.index];

	(void)fds, (void)nfds;
	/* The dispatcher stopped the rings already (this message mutates):
	 * base holds the position. The ring now stays stopped until the next
	 * SET_VRING_KICK (vhost-user.rst, "Ring states"). */
	m->p.state.num = vr->base;
	m->hdr.size = sizeof(m->p.state);
	vr->started = false;
	set_fd(d, &vr->kickfd, -1);
	*reply = true;
	return 0;
}

static int h_vring_file(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	unsigned idx = m->p.u64 & VU_VRING_IDX_MASK;
	struct vhu_vring *vr = &d->vr[idx];
	int fd = nfds ? fds[0] : -1;

	(void)reply;
	if (fd >= 0 && !fd_is_eventfd(fd)) {
		VHU_LOG(LOG_ERR, d, "vring %u: fd for %s is not an eventfd", idx,
		        m->hdr.request == VU_SET_VRING_KICK ? "kick" :
		        m->hdr.request == VU_SET_VRING_CALL ? "call" : "err");
		return -EINVAL;
	}
	if (nfds)
		fds[0] = -1; /* kept */
	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		set_fd(d, &vr->kickfd, fd);
		vr->started = true;
		break;
	case VU_SET_VRING_CALL:
		/* Never block writing a guest's eventfd (see vq_call_fd). */
		if (fd >= 0)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		set_fd(d, &vr->callfd, fd);
		vr->vq.callfd = fd;
		break;
	default:
		set_fd(d, &vr->errfd, fd);
		break;
	}
	return 0;
}

static int h_get_queue_num(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds;
	m->p.u64 = d->max_qp;
	m->hdr.size = sizeof(m->p.u64);
	*reply = true;
	return 0;
}

static int h_vring_enable(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds, (void)reply;
	if (m->p.state.num > 1) {
		VHU_LOG(LOG_ERR, d, "SET_VRING_ENABLE %u is neither 0 nor 1", m->p.state.num);
		return -EINVAL;
	}
	d->vr[m->p.state.index].enable_msg = m->p.state.num;
	return 0;
}

static int h_send_rarp(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds, (void)reply;
	memcpy(d->mac, &m->p.u64, 6);
	VHU_LOG(LOG_INFO, d, "guest announced MAC %02x:%02x:%02x:%02x:%02x:%02x", d->mac[0],
	        d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5]);
	/* vhost-user.rst: the backend broadcasts a RARP for the guest unless
	 * the guest announces itself (GUEST_ANNOUNCE, never offered here). */
	if (!(d->features & (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE)) && d->ops->announce)
		d->ops->announce(d, d->ctx, d->mac);
	return 0;
}

static int h_set_mtu(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds, (void)reply;
	if (m->p.u64 < 68 || m->p.u64 > VHU_MAX_FRAME - 14) {
		VHU_LOG(LOG_ERR, d, "NET_SET_MTU %llu out of range 68..%d",
		        (unsigned long long)m->p.u64, VHU_MAX_FRAME - 14);
		return -EINVAL;
	}
	d->mtu = (uint16_t)m->p.u64;
	return 0;
}

static void config_space(const struct vhu_dev *d, struct virtio_net_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, d->mac, 6);
	c->status = VIRTIO_NET_S_LINK_UP;
	c->max_virtqueue_pairs = (uint16_t)d->max_qp;
	c->mtu = d->mtu ? d->mtu : 1500;
}

static int h_get_config(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	struct virtio_net_config c;
	uint32_t off = m->p.config.offset, size = m->p.config.size;

	(void)fds, (void)nfds;
	if (size > VU_CONFIG_MAX || m->hdr.size != 12 + size) {
		VHU_LOG(LOG_ERR, d, "GET_CONFIG size %u does not match message", size);
		return -EINVAL;
	}
	config_space(d, &c);
	memset(m->p.config.region, 0, size);
	if (off < sizeof(c))
		memcpy(m->p.config.region, (uint8_t *)&c + off, MIN(size, sizeof(c) - off));
	*reply = true;
	return 0;
}

static int h_set_config(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds, (void)reply;
	if (m->p.config.size > VU_CONFIG_MAX || m->hdr.size != 12 + m->p.config.size) {
		VHU_LOG(LOG_ERR, d, "SET_CONFIG size %u does not match message", m->p.config.size);
		return -EINVAL;
	}
	/* virtio-net config is read-only for the driver; accept and ignore. */
	return 0;
}

static int h_set_status(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds, (void)reply;
	if (m->p.u64 > 0xff) {
		VHU_LOG(LOG_ERR, d, "SET_STATUS 0x%llx out of range", (unsigned long long)m->p.u64);
		return -EINVAL;
	}
	d->status = (uint8_t)m->p.u64;
	if (d->status == 0)
		clear_broken(d);
	return 0;
}

static int h_get_status(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds, bool *reply)
{
	(void)fds, (void)nfds;
	m->p.u64 = d->status;
	m->hdr.size = sizeof(m->p.u64);
	*reply = true;
	return 0;
}

#define U64 sizeof(uint64_t)
#define ST sizeof(struct vu_vring_state)
static const struct msg_type msg_table[VU_REQ_MAX] = {
	[VU_GET_FEATURES] = { "GET_FEATURES", h_get_features, 0, U64, 0, 0, VR_NONE, SC_NONE, -1 },
	[VU_SET_FEATURES] = { "SET_FEATURES", h_set_features, U64, U64, 0, 0, VR_NONE, SC_DEV, -1 },
	[VU_SET_OWNER] = { "SET_OWNER", h_set_owner, 0, U64, 0, 0, VR_NONE, SC_NONE, -1 },
	[VU_RESET_OWNER] = { "RESET_OWNER", h_reset, 0, U64, 0, 0, VR_NONE, SC_DEV, -1 },
	[VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", h_set_mem_table, 8 + sizeof(struct vu_mem_region),
	                       sizeof(struct vu_mem_table), 1, VU_MAX_MEM_REGIONS, VR_NONE, SC_DEV, -1 },
	[VU_SET_LOG_BASE] = { "SET_LOG_BASE", h_set_log_base, sizeof(struct vu_log),
	                      sizeof(struct vu_log), 1, 1, VR_NONE, SC_DEV, VU_PF_LOG_SHMFD },
	[VU_SET_LOG_FD] = { "SET_LOG_FD", h_set_log_fd, 0, U64, 1, 1, VR_NONE, SC_NONE, -1 },
	[VU_SET_VRING_NUM] = { "SET_VRING_NUM", h_vring_num, ST, ST, 0, 0, VR_STATE, SC_RING, -1 },
	[VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", h_vring_addr, sizeof(struct vu_vring_addr),
	                        sizeof(struct vu_vring_addr), 0, 0, VR_ADDR, SC_RING, -1 },
	[VU_SET_VRING_BASE] = { "SET_VRING_BASE", h_vring_base, ST, ST, 0, 0, VR_STATE, SC_RING, -1 },
	[VU_GET_VRING_BASE] = { "GET_VRING_BASE", h_get_vring_base, ST, ST, 0, 0, VR_STATE, SC_RING, -1 },
	[VU_SET_VRING_KICK] = { "SET_VRING_KICK", h_vring_file, U64, U64, 0, 1, VR_FILE, SC_RING, -1 },
	[VU_SET_VRING_CALL] = { "SET_VRING_CALL", h_vring_file, U64, U64, 0, 1, VR_FILE, SC_RING, -1 },
	[VU_SET_VRING_ERR] = { "SET_VRING_ERR", h_vring_file, U64, U64, 0, 1, VR_FILE, SC_NONE, -1 },
	[VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", h_get_pfeatures, 0, U64, 0, 0,
	                               VR_NONE, SC_NONE, -1 },
	[VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", h_set_pfeatures, U64, U64, 0, 0,
	                               VR_NONE, SC_NONE, -1 },
	[VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", h_get_queue_num, 0, U64, 0, 0, VR_NONE, SC_NONE,
	                       VU_PF_MQ },
	[VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", h_vring_enable, ST, ST, 0, 0, VR_STATE,
	                          SC_RING, -1 },
	[VU_SEND_RARP] = { "SEND_RARP", h_send_rarp, U64, U64, 0, 0, VR_NONE, SC_NONE, VU_PF_RARP },
	[VU_NET_SET_MTU] = { "NET_SET_MTU", h_set_mtu, U64, U64, 0, 0, VR_NONE, SC_NONE, VU_PF_MTU },
	[VU_GET_CONFIG] = { "GET_CONFIG", h_get_config, 12, 12 + VU_CONFIG_MAX, 0, 0, VR_NONE,
	                    SC_NONE, VU_PF_CONFIG },
	[VU_SET_CONFIG] = { "SET_CONFIG", h_set_config, 12, 12 + VU_CONFIG_MAX, 0, 0, VR_NONE,
	                    SC_NONE, VU_PF_CONFIG },
	[VU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", h_get_inflight_fd, sizeof(struct vu_inflight),
	                         sizeof(struct vu_inflight), 0, 0, VR_NONE, SC_NONE,
	                         VU_PF_INFLIGHT_SHMFD },
	[VU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", h_set_inflight_fd, sizeof(struct vu_inflight),
	                         sizeof(struct vu_inflight), 1, 1, VR_NONE, SC_DEV,
	                         VU_PF_INFLIGHT_SHMFD },
	[VU_RESET_DEVICE] = { "RESET_DEVICE", h_reset, 0, U64, 0, 0, VR_NONE, SC_DEV,
	                      VU_PF_RESET_DEVICE },
	[VU_SET_STATUS] = { "SET_STATUS", h_set_status, U64, U64, 0, 0, VR_NONE, SC_DEV, VU_PF_STATUS },
	[VU_GET_STATUS] = { "GET_STATUS", h_get_status, 0, U64, 0, 0, VR_NONE, SC_NONE, VU_PF_STATUS },
};

/* Whether message m (checked by the dispatcher; idx its vring, 0 if none)
 * would change nothing a worker or the ring setup depends on. Such a
 * message still runs its handler (which stores the same values), but costs
 * no quiesce and no republish: a frontend repeating itself is cheap. */
static bool unchanged(struct vhu_dev *d, const struct vu_msg *m, unsigned idx)
{
	const struct vhu_vring *vr = &d->vr[idx];

	switch (m->hdr.request) {
	case VU_SET_FEATURES:
		/* Not on a broken device: SET_FEATURES restarts it. */
		return d->features_set && m->p.u64 == d->features && !vhu_dev_is_broken(d);
	case VU_SET_VRING_NUM:
		return vr->num == m->p.state.num;
	case VU_SET_VRING_ADDR:
		return vr->addr_set && !memcmp(&vr->addr, &m->p.addr, sizeof(vr->addr));
	case VU_SET_VRING_BASE:
		return !vr->live && vr->base == m->p.state.num;
	case VU_SET_VRING_ENABLE:
		return m->p.state.num <= 1 && vr->enable_msg == (m->p.state.num == 1);
	case VU_SET_VRING_CALL:
		return (m->p.u64 & VU_VRING_NOFD_MASK) && vr->callfd < 0;
	case VU_SET_STATUS:
		/* The status byte is bookkeeping; only a reset (0) of a device
		 * a guest fault stopped restarts its rings, after the same
		 * re-validation as any other change. SET_STATUS with the
		 * driver's progress bits must not take the port out of the
		 * datapath just as a frontend that waits for no ack starts
		 * sending. */
		return m->p.u64 != 0 || !vhu_dev_is_broken(d);
	default:
		return false;
	}
}

static bool any_live(const struct vhu_dev *d)
{
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++)
		if (d->vr[i].live)
			return true;
	return false;
}

void vhu_batch_end(struct vhu_dev *d)
{
	if (!d->batch_frozen && !d->batch_dirty)
		return;
	d->batch_frozen = d->batch_dirty = false;
	vhu_rings_refresh(d);
	/* The embedder republishes only if the set of live rings it
	 * publishes changed (dp: port_changed). */
	d->ops->changed(d, d->ctx);
	vhu_dev_check(d); /* a ring that failed to set up stops the port */
}

static int vring_index(const struct vu_msg *m, enum vr_kind k, unsigned nfds, unsigned *idx)
{
	switch (k) {
	case VR_STATE:
		*idx = m->p.state.index;
		return 0;
	case VR_ADDR:
		*idx = m->p.addr.index;
		return 0;
	case VR_FILE:
		/* Only the index and the no-fd flag may be set, and the flag
		 * must agree with the fds actually passed. */
		if (m->p.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD_MASK))
			return -EINVAL;
		if (!!(m->p.u64 & VU_VRING_NOFD_MASK) == (nfds == 1))
			return -EINVAL;
		*idx = m->p.u64 & VU_VRING_IDX_MASK;
		return 0;
	default:
		*idx = 0;
		return 0;
	}
}

int vhu_msg_dispatch(struct vhu_dev *d, struct vu_msg *m, int *fds, unsigned nfds)
{
	uint32_t req = m->hdr.request;
	const struct msg_type *t = req < VU_REQ_MAX ? &msg_table[req] : NULL;
	bool need_ack, reply = false;
	unsigned idx;
	int r;

	if (!t || !t->fn) {
		VHU_LOG(LOG_ERR, d, "unknown vhost-user request %u: dropping the connection", req);
		return -ENOTSUP;
	}
	if ((m->hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION ||
	    (m->hdr.flags & VU_FLAG_REPLY)) {
		VHU_LOG(LOG_ERR, d, "%s: bad header flags 0x%x", t->name, m->hdr.flags);
		return -EPROTO;
	}
	if (m->hdr.size < t->min_size || m->hdr.size > t->max_size) {
		VHU_LOG(LOG_ERR, d, "%s: payload of %u bytes, expected %u..%u", t->name,
		        m->hdr.size, t->min_size, t->max_size);
		return -EBADMSG;
	}
	if (nfds < t->fds_min || nfds > t->fds_max) {
		VHU_LOG(LOG_ERR, d, "%s: %u fds, expected %u..%u", t->name, nfds, t->fds_min,
		        t->fds_max);
		return -EBADMSG;
	}
	if (t->needs_pf >= 0 && !(d->pfeatures & (1ull << t->needs_pf))) {
		VHU_LOG(LOG_ERR, d, "%s: protocol feature %d not negotiated", t->name, t->needs_pf);
		return -EPROTO;
	}
	/* Data vrings 0 .. 2*max_qp-1, then the control queue at 2*max_qp. */
	if (vring_index(m, t->vr, nfds, &idx) < 0 || idx > 2 * d->max_qp) {
		VHU_LOG(LOG_ERR, d, "%s: bad vring index or flags (%u rings)", t->name,
		        2 * d->max_qp + 1);
		return -ERANGE;
	}
	/* Zero the part of the payload the frontend did not send so handlers
	 * never read stale bytes of an earlier message. */
	memset((uint8_t *)&m->p + m->hdr.size, 0, sizeof(m->p) - m->hdr.size);
	need_ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
	           (d->pfeatures & (1ull << VU_PF_REPLY_ACK));
	d->cnt.msgs++;
	VHU_LOG(LOG_DEBUG, d, "%s", t->name);

	if (t->scope != SC_NONE && !unchanged(d, m, idx)) {
		/* Quiesce only for what a worker may be using right now; the
		 * batch's other messages then find the device quiesced. */
		bool freeze = t->scope == SC_DEV ? any_live(d) : d->vr[idx].live;

		if (freeze && !d->batch_frozen) {
			d->ops->quiesce(d, d->ctx);
			vhu_rings_stop(d);
			d->batch_frozen = true;
		}
		d->batch_dirty = true;
	}
	r = t->fn(d, m, fds, nfds, &reply);
	if (r == 0 && reply) {
		m->hdr.flags = VU_VERSION | VU_FLAG_REPLY;
		if (d->has_reply_fd) {
			/* (an fd the handler made for the frontend: ours to close) */
			r = vhu_send_fd(d, m, d->reply_fd);
			close(d->reply_fd);
			d->has_reply_fd = false;
			return r;
		}
		return vhu_send(d, m);
	}
	if (need_ack) {
		m->hdr.flags = VU_VERSION | VU_FLAG_REPLY;
		m->hdr.size = sizeof(uint64_t);
		m->p.u64 = r == 0 ? 0 : 1;
		int s = vhu_send(d, m);
		if (s < 0)
			return s;
	}
	return r;
}
