/* test_libvif.c - libvif against an in-process fake vhost-user backend.
 *
 * The fake backend (a thread) answers the negotiation, maps the memfd it is
 * given and records what it saw; the test then plays the device on the
 * rings through that second mapping, as a real backend would. Invalid
 * input first: bad configs, silent and refusing backends, then negotiation
 * results, tx layouts, rx gathering, a hostile device's used entries,
 * notification handling, disconnect and server-mode reconnection, and the
 * control queue (negotiation, commands acked OK or ERR, unanswered, a
 * hostile device's answers, replay after reconnection).
 * Every wait is bounded; no test sleeps longer than 0.5 s. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "clk.h"
#include "vif_impl.h"
#include "vlog.h"
#include "xalloc.h"

static int failures;

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "%s:%d: %s: CHECK(%s) failed (last error: %s)\n", \
			__FILE__, __LINE__, __func__, #c, vif_last_error()); \
		failures++; \
	} \
} while (0)

/* ---- the fake backend ---- */

struct fake_vring {
	uint32_t num, base, enabled;
	uint64_t desc, avail, used;
	int kick, call;
	uint16_t last_avail, used_idx; /* device-side state for the helpers */
};

/* How the fake serves the control queue. */
enum ctrl_mode {
	CTRL_RULES = 0, /* like vifd: MQ pairs 1..max_qp with MQ, RX PROMISC/ALLMULTI: OK; else ERR */
	CTRL_ERR,       /* VIRTIO_NET_ERR to everything */
	CTRL_HOLD,      /* leave commands in the avail ring (no answer) */
	CTRL_LEN0,      /* ack written, used len 0 */
	CTRL_BADID,     /* a used entry naming descriptor 5 first, then the real one */
	CTRL_BADACK,    /* ack byte 7 */
	CTRL_JUMP,      /* used index moved by 100 */
};

struct ctrl_rec {
	uint8_t cls, cmd, data[8];
	unsigned len;   /* data bytes */
};

struct fake {
	char path[108];
	int lfd, fd;
	bool connect_mode;      /* backend connects to a server-mode vif */
	uint64_t offer, proto_offer, max_qp;
	uint32_t fail_req;      /* ack this request with 1 */
	uint32_t silent_req;    /* never answer this request */
	pthread_t th;
	_Atomic bool stop;
	uint32_t reqs[512];
	unsigned nreq;
	uint64_t features, proto, status;
	struct vu_mem_region region;
	uint8_t *mem;
	struct fake_vring vr[2 * VIF_MAX_QUEUE_PAIRS + 1]; /* + control queue */
	/* Control queue device, run by the serving thread; ctrl_mode may be
	 * changed by the test while it serves. */
	_Atomic int ctrl_mode;  /* enum ctrl_mode */
	bool ctrl_on;           /* CTRL_VQ negotiated; the ring is vr[ctrl_idx] */
	unsigned ctrl_idx;
	struct ctrl_rec ctrl_log[64];
	_Atomic unsigned nctrl;
	unsigned ctrl_kicks, ctrl_layout_bad;
	unsigned active_pairs;
	bool promisc, allmulti;
	/* INFLIGHT_SHMFD: regions made (GET), and the inode and geometry of
	 * the last one handed back (SET). */
	unsigned infl_made;
	ino_t infl_ino;
	struct vu_inflight infl;
};

static const uint64_t full_offer = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF |
	1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_RING_F_INDIRECT_DESC |
	1ull << VIRTIO_NET_F_MQ | 1ull << VIRTIO_NET_F_MTU | 1ull << VU_F_PROTOCOL_FEATURES |
	1ull << VIRTIO_NET_F_CSUM;
static const uint64_t ctrl_offer = 1ull << VIRTIO_NET_F_CTRL_VQ | 1ull << VIRTIO_NET_F_CTRL_RX;
static const uint64_t full_proto = 1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK |
	1ull << VU_PF_MTU | 1ull << VU_PF_STATUS | 1ull << VU_PF_BACKEND_REQ;

static int tmp_counter;

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "/tmp/test_libvif.%d.%d.sock", (int)getpid(),
		 tmp_counter++);
	f->lfd = f->fd = -1;
	f->offer = full_offer;
	f->proto_offer = full_proto;
	f->max_qp = VIF_MAX_QUEUE_PAIRS;
	f->active_pairs = 1;
	for (unsigned i = 0; i < ARRAY_SIZE(f->vr); i++)
		f->vr[i].kick = f->vr[i].call = -1;
}

static int recv_msg(int fd, struct vu_msg *m, int *fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(fd, &mh, MSG_WAITALL);
	if (n != (ssize_t)sizeof(m->hdr))
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_type == SCM_RIGHTS) {
			*nfds = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	}
	if (m->hdr.size > sizeof(m->p))
		return -1;
	if (m->hdr.size && recv(fd, &m->p, m->hdr.size, MSG_WAITALL) != (ssize_t)m->hdr.size)
		return -1;
	return 0;
}

static void reply_u64(int fd, uint32_t req, uint64_t val)
{
	struct vu_msg r = { .hdr = { .request = req, .flags = VU_VERSION | VU_FLAG_REPLY,
				     .size = 8 } };

	r.p.u64 = val;
	if (send(fd, &r, sizeof(r.hdr) + 8, MSG_NOSIGNAL) < 0)
		perror("fake reply");
}

/* GET_INFLIGHT_FD's reply: the geometry asked, a memfd of the size vifd
 * would make. */
static void reply_inflight(struct fake *f, struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(m->hdr) + sizeof(m->p.inflight) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	int fd = memfd_create("fake-inflight", MFD_CLOEXEC);

	m->p.inflight.mmap_size = m->p.inflight.num_queues * (uint64_t)
		((16 + 16 * m->p.inflight.queue_size + 63) / 64 * 64);
	m->p.inflight.mmap_offset = 0;
	m->hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	m->hdr.size = sizeof(m->p.inflight);
	if (fd < 0 || ftruncate(fd, (off_t)m->p.inflight.mmap_size) < 0)
		perror("fake inflight memfd");
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(f->fd, &mh, MSG_NOSIGNAL) < 0)
		perror("fake inflight reply");
	close(fd);
	f->infl_made++;
}

static void fake_ctrl(struct fake *f);

/* Serves one connection until it closes or `stop` is set, and the control
 * queue when one was negotiated (on its kick, or every 20 ms). */
static void fake_serve(struct fake *f)
{
	for (;;) {
		int ckick = f->ctrl_on ? f->vr[f->ctrl_idx].kick : -1;
		struct pollfd pfd[2] = { { .fd = f->fd, .events = POLLIN },
					 { .fd = ckick, .events = POLLIN } };
		struct vu_msg m;
		int fds[VU_MAX_FDS];
		unsigned nfds;
		uint32_t req;
		uint64_t ack = 0;

		/* Stop only once the socket is quiet, so a join right after
		 * vif_open() still sees every message it sent. */
		int pr = poll(pfd, 2, 20);
		uint64_t cnt;

		if (pr > 0 && (pfd[1].revents & POLLIN)) {
			if (read(ckick, &cnt, sizeof(cnt)) == sizeof(cnt))
				f->ctrl_kicks++;
		}
		if (f->ctrl_on)
			fake_ctrl(f);
		if (pr <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (pr <= 0 && f->stop)
				return;
			continue;
		}
		if (recv_msg(f->fd, &m, fds, &nfds))
			return;
		req = m.hdr.request;
		if (f->nreq < ARRAY_SIZE(f->reqs))
			f->reqs[f->nreq++] = req;
		if (req == f->silent_req) {
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		switch (req) {
		case VU_GET_FEATURES:
			reply_u64(f->fd, req, f->offer);
			continue;
		case VU_GET_PROTOCOL_FEATURES:
			reply_u64(f->fd, req, f->proto_offer);
			continue;
		case VU_GET_QUEUE_NUM:
			reply_u64(f->fd, req, f->max_qp);
			continue;
		case VU_SET_PROTOCOL_FEATURES:
			f->proto = m.p.u64;
			break;
		case VU_SET_FEATURES:
			f->features = m.p.u64;
			f->ctrl_idx = f->features & 1ull << VIRTIO_NET_F_MQ ? 2 * (unsigned)f->max_qp : 2;
			f->ctrl_on = (f->features & 1ull << VIRTIO_NET_F_CTRL_VQ) &&
				     f->ctrl_idx < ARRAY_SIZE(f->vr);
			f->active_pairs = 1;
			break;
		case VU_SET_STATUS:
			f->status = m.p.u64;
			break;
		case VU_GET_INFLIGHT_FD:
			reply_inflight(f, &m);
			continue;
		case VU_SET_INFLIGHT_FD: {
			struct stat st;

			f->infl = m.p.inflight;
			f->infl_ino = nfds && fstat(fds[0], &st) == 0 ? st.st_ino : 0;
			break;
		}
		case VU_SET_MEM_TABLE:
			if (f->mem)
				munmap(f->mem, f->region.memory_size);
			f->region = m.p.mem.regions[0];
			f->mem = mmap(NULL, f->region.memory_size, PROT_READ | PROT_WRITE,
				      MAP_SHARED, fds[0], (off_t)f->region.mmap_offset);
			if (f->mem == MAP_FAILED) {
				f->mem = NULL;
				ack = 1;
			}
			close(fds[0]);
			nfds = 0;
			break;
		case VU_SET_VRING_NUM:
			f->vr[m.p.state.index].num = m.p.state.num;
			break;
		case VU_SET_VRING_BASE:
			f->vr[m.p.state.index].base = m.p.state.num;
			f->vr[m.p.state.index].last_avail = (uint16_t)m.p.state.num;
			f->vr[m.p.state.index].used_idx = (uint16_t)m.p.state.num;
			break;
		case VU_SET_VRING_ENABLE:
			f->vr[m.p.state.index].enabled = m.p.state.num;
			break;
		case VU_SET_VRING_ADDR:
			f->vr[m.p.addr.index].desc = m.p.addr.desc_user_addr;
			f->vr[m.p.addr.index].avail = m.p.addr.avail_user_addr;
			f->vr[m.p.addr.index].used = m.p.addr.used_user_addr;
			break;
		case VU_SET_VRING_KICK:
		case VU_SET_VRING_CALL: {
			struct fake_vring *r = &f->vr[m.p.u64 & VU_VRING_IDX_MASK];
			int *slot = req == VU_SET_VRING_KICK ? &r->kick : &r->call;

			if (*slot >= 0)
				close(*slot);
			*slot = nfds ? fds[0] : -1;
			nfds = 0;
			break;
		}
		default:
			break;
		}
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (req == f->fail_req)
			ack = 1;
		if (m.hdr.flags & VU_FLAG_NEED_REPLY)
			reply_u64(f->fd, req, ack);
	}
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	if (f->connect_mode) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		uint64_t deadline = clk_now_ns() + 2000000000ull;

		strcpy(sa.sun_path, f->path);
		f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
		while (connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (clk_now_ns() > deadline)
				return NULL;
			usleep(2000);
		}
	} else {
		struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };

		if (poll(&pfd, 1, 2000) <= 0)
			return NULL;
		f->fd = accept(f->lfd, NULL, NULL);
	}
	/* A new connection is a new device: nothing is set up yet. */
	f->ctrl_on = false;
	for (unsigned i = 0; i < ARRAY_SIZE(f->vr); i++) {
		struct fake_vring *r = &f->vr[i];

		r->num = r->enabled = 0;
		r->desc = r->avail = r->used = 0;
	}
	fake_serve(f);
	return NULL;
}

/* Client-mode vif: the fake listens at f->path. */
static void fake_listen(struct fake *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(sa.sun_path, f->path);
	unlink(f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(f->lfd, 1))
		perror("fake listen");
}

static void fake_start(struct fake *f)
{
	f->stop = false;
	pthread_create(&f->th, NULL, fake_thread, f);
}

static void *fake_serve_thread(void *arg)
{
	fake_serve(arg);
	return NULL;
}

/* Serves the open connection again (after fake_join), e.g. so that the
 * control queue is answered while the test sends commands. */
static void fake_resume(struct fake *f)
{
	f->stop = false;
	pthread_create(&f->th, NULL, fake_serve_thread, f);
}

/* Stops serving but keeps the connection open. */
static void fake_join(struct fake *f)
{
	f->stop = true;
	pthread_join(f->th, NULL);
}

static void fake_hangup(struct fake *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static void fake_free(struct fake *f)
{
	fake_hangup(f);
	if (f->lfd >= 0) {
		close(f->lfd);
		unlink(f->path);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(f->vr); i++) {
		if (f->vr[i].kick >= 0)
			close(f->vr[i].kick);
		if (f->vr[i].call >= 0)
			close(f->vr[i].call);
	}
	if (f->mem)
		munmap(f->mem, f->region.memory_size);
}

static void cfg_init(struct vif_config *c, struct fake *f)
{
	vif_config_init(c);
	c->path = f->path;
	/* The fake answers at once, unless a busy machine keeps its thread
	 * off a CPU: a short timeout would fail opens (and the test with
	 * them) for no fault of libvif's. */
	c->timeout_ms = 5000;
}

/* Starts a fake and opens a client vif against it, then stops the fake's
 * message loop so the test owns the socket. */
static int open_pair(struct fake *f, struct vif_config *c, struct vif **v)
{
	int err;

	fake_listen(f);
	fake_start(f);
	err = vif_open(c, v);
	fake_join(f);
	return err;
}

/* open_pair for a case that needs the vif: a failure ends the test run
 * with the reason (going on would use a vif that was never opened). */
static void open_ok(struct fake *f, struct vif_config *c, struct vif **v, int line)
{
	int err = open_pair(f, c, v);

	if (err) {
		fprintf(stderr, "test_libvif.c:%d: vif_open failed (%d): %s\n", line, err,
		        vif_last_error());
		exit(1);
	}
}
#define OPEN_OK(f, c, v) open_ok(f, c, v, __LINE__)

/* ---- the test as device ---- */

static void *gpa(struct fake *f, uint64_t a, uint64_t len)
{
	if (a < f->region.guest_phys_addr ||
	    a - f->region.guest_phys_addr > f->region.memory_size ||
	    len > f->region.memory_size - (a - f->region.guest_phys_addr)) {
		fprintf(stderr, "gpa 0x%llx+%llu outside the region\n", (unsigned long long)a,
			(unsigned long long)len);
		abort();
	}
	return f->mem + (a - f->region.guest_phys_addr);
}

static struct vring_avail *dev_avail(struct fake *f, unsigned i)
{
	return gpa(f, f->vr[i].avail, 4 + 2 * f->vr[i].num);
}

static struct vring_used *dev_used(struct fake *f, unsigned i)
{
	return gpa(f, f->vr[i].used, 4 + 8 * f->vr[i].num);
}

static struct vring_desc *dev_desc(struct fake *f, unsigned i)
{
	return gpa(f, f->vr[i].desc, 16 * f->vr[i].num);
}

static uint16_t *dev_avail_event(struct fake *f, unsigned i)
{
	return gpa(f, f->vr[i].used + 4 + 8 * f->vr[i].num, 2);
}

static void dev_used_put(struct fake *f, unsigned i, uint32_t id, uint32_t len)
{
	struct fake_vring *r = &f->vr[i];
	struct vring_used *u = dev_used(f, i);

	u->ring[r->used_idx % r->num].id = id;
	u->ring[r->used_idx % r->num].len = len;
	r->used_idx++;
}

static void dev_used_publish(struct fake *f, unsigned i)
{
	__atomic_store_n(&dev_used(f, i)->idx, f->vr[i].used_idx, __ATOMIC_RELEASE);
}

/* CTRL_RULES: what vifd answers. */
static uint8_t ctrl_rules(struct fake *f, const struct ctrl_rec *c)
{
	if (c->cls == VIRTIO_NET_CTRL_MQ && c->cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET && c->len == 2) {
		unsigned n = c->data[0] | (unsigned)c->data[1] << 8;

		if (!(f->features & 1ull << VIRTIO_NET_F_MQ) || n < 1 || n > f->max_qp)
			return VIRTIO_NET_ERR;
		f->active_pairs = n;
		return VIRTIO_NET_OK;
	}
	if (c->cls == VIRTIO_NET_CTRL_RX && c->len == 1 &&
	    (c->cmd == VIRTIO_NET_CTRL_RX_PROMISC || c->cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)) {
		if (c->cmd == VIRTIO_NET_CTRL_RX_PROMISC)
			f->promisc = c->data[0];
		else
			f->allmulti = c->data[0];
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

/* The fake's control-queue device: takes every command in the avail ring,
 * checks the layout libvif promises (header + data readable in the head,
 * then one writable ack byte), records it and answers per ctrl_mode. A
 * command laid out otherwise is counted and never answered. */
static void fake_ctrl(struct fake *f)
{
	unsigned i = f->ctrl_idx;
	struct fake_vring *r = &f->vr[i];
	int mode = f->ctrl_mode;
	struct vring_avail *a;
	struct vring_desc *t;
	bool any = false;
	if (!f->mem || !r->num || !r->enabled || !r->desc || !r->avail || !r->used ||
	    mode == CTRL_HOLD)
		return;
	a = dev_avail(f, i);
	t = dev_desc(f, i);
	while (__atomic_load_n(&a->idx, __ATOMIC_ACQUIRE) != r->last_avail) {
		uint16_t head = a->ring[r->last_avail % r->num];
		struct ctrl_rec rec = { 0 };
		struct vring_desc d0, d1;
		uint8_t *cmd, ack = VIRTIO_NET_OK;

		r->last_avail++;
		any = true;
		d0 = t[head % r->num];
		if (head >= r->num || !(d0.flags & VRING_DESC_F_NEXT) ||
		    (d0.flags & VRING_DESC_F_WRITE) || d0.len < 2 ||
		    d0.len > 2 + sizeof(rec.data) || d0.next >= r->num) {
			f->ctrl_layout_bad++;
			continue;
		}
		d1 = t[d0.next];
		if (d1.flags != VRING_DESC_F_WRITE || d1.len != 1) {
			f->ctrl_layout_bad++;
			continue;
		}
		cmd = gpa(f, d0.addr, d0.len);
		rec.cls = cmd[0];
		rec.cmd = cmd[1];
		rec.len = d0.len - 2;
		memcpy(rec.data, cmd + 2, rec.len);
		if (f->nctrl < ARRAY_SIZE(f->ctrl_log))
			f->ctrl_log[f->nctrl++] = rec;
		if (mode == CTRL_RULES)
			ack = ctrl_rules(f, &rec);
		else if (mode == CTRL_ERR)
			ack = VIRTIO_NET_ERR;
		else if (mode == CTRL_BADACK)
			ack = 7;
		*(uint8_t *)gpa(f, d1.addr, 1) = ack;
		if (mode == CTRL_BADID)
			dev_used_put(f, i, 5, 1);
		dev_used_put(f, i, head, mode == CTRL_LEN0 ? 0 : 1);
		if (mode == CTRL_JUMP)
			r->used_idx = (uint16_t)(r->used_idx + 100);
	}
	if (!any)
		return;
	/* EVENT_IDX: kick me for the next one (else libvif would not). */
	__atomic_store_n(dev_avail_event(f, i), r->last_avail, __ATOMIC_RELEASE);
	dev_used_publish(f, i);
}

/* Pops one tx chain from vring i, gathers its bytes into out; returns the
 * byte count (virtio header included) or -1 if none; *head and *ndesc get
 * the head id and the chain length. Does not complete it. */
static int dev_tx_pop(struct fake *f, unsigned i, uint8_t *out, uint16_t *head, unsigned *ndesc)
{
	struct fake_vring *r = &f->vr[i];
	struct vring_avail *a = dev_avail(f, i);
	struct vring_desc *table = dev_desc(f, i), *d;
	unsigned n = 0, tlen = r->num, idx;
	int total = 0;

	if (__atomic_load_n(&a->idx, __ATOMIC_ACQUIRE) == r->last_avail)
		return -1;
	*head = a->ring[r->last_avail % r->num];
	r->last_avail++;
	idx = *head;
	d = &table[idx];
	if (d->flags & VRING_DESC_F_INDIRECT) {
		table = gpa(f, d->addr, d->len);
		tlen = d->len / 16;
		idx = 0;
	}
	for (;;) {
		d = &table[idx];
		memcpy(out + total, gpa(f, d->addr, d->len), d->len);
		total += (int)d->len;
		n++;
		if (!(d->flags & VRING_DESC_F_NEXT) || n > tlen)
			break;
		idx = d->next;
	}
	*ndesc = n;
	return total;
}

/* Writes a frame into rx vring i as the device: header + frame over as many
 * buffers as needed (num_buffers set), used entries published at once.
 * Returns the number of buffers used, or -1 when not enough are posted. */
static int dev_rx_push(struct fake *f, unsigned i, const uint8_t *frame, uint32_t len,
		       unsigned hdr_len)
{
	struct fake_vring *r = &f->vr[i];
	struct vring_avail *a = dev_avail(f, i);
	struct vring_desc *desc = dev_desc(f, i);
	uint8_t tmp[VIF_MAX_FRAME + 64];
	uint32_t total = hdr_len + len, off = 0;
	uint16_t nbuf = 0, avail = (uint16_t)(a->idx - r->last_avail);
	struct virtio_net_hdr_mrg_rxbuf h = { .num_buffers = 0 };

	memcpy(tmp, &h, hdr_len);
	memcpy(tmp + hdr_len, frame, len);
	while (off < total) {
		uint16_t id;
		uint32_t n;

		if (nbuf == avail)
			return -1;
		id = a->ring[(uint16_t)(r->last_avail + nbuf) % r->num];
		n = MIN(desc[id].len, total - off);
		memcpy(gpa(f, desc[id].addr, n), tmp + off, n);
		if (nbuf == 0)
			memset(gpa(f, desc[id].addr, hdr_len), 0, hdr_len);
		dev_used_put(f, i, id, n);
		off += n;
		nbuf++;
	}
	if (hdr_len == sizeof(h)) {
		struct virtio_net_hdr_mrg_rxbuf *fh =
			gpa(f, desc[a->ring[r->last_avail % r->num]].addr, hdr_len);
		fh->num_buffers = nbuf;
	}
	r->last_avail = (uint16_t)(r->last_avail + nbuf);
	dev_used_publish(f, i);
	return nbuf;
}

static uint64_t eventfd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void fill(uint8_t *p, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static unsigned posted_count(struct vif *v, unsigned q)
{
	unsigned n = 0;

	for (unsigned i = 0; i < v->ring_num; i++)
		n += v->qp[q].rx_posted[i];
	return n;
}

/* ---- tests: invalid input first ---- */

static void test_bad_config(void)
{
	static const struct {
		unsigned qp, ring, rxbuf, seg;
		bool nopath;
	} cases[] = {
		{ .nopath = true },
		{ .qp = VIF_MAX_QUEUE_PAIRS + 1 },
		{ .ring = 3 }, { .ring = 1 }, { .ring = 65536 }, { .ring = 100 },
		{ .rxbuf = 10 }, { .rxbuf = VIF_RX_BUF_MAX + 1 },
		{ .seg = VIF_MAX_FRAME + 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vif_config c;
		struct vif *v = (struct vif *)&c;

		vif_config_init(&c);
		c.path = cases[i].nopath ? NULL : "/tmp/test_libvif.never";
		if (cases[i].qp)
			c.queue_pairs = cases[i].qp;
		if (cases[i].ring)
			c.ring_size = cases[i].ring;
		if (cases[i].rxbuf)
			c.rx_buf_size = cases[i].rxbuf;
		c.tx_seg_size = cases[i].seg;
		CHECK(vif_open(&c, &v) == -EINVAL);
		CHECK(v == NULL);
		CHECK(strncmp(vif_last_error(), "config:", 7) == 0);
	}
}

static void test_connect_timeout(void)
{
	struct vif_config c;
	struct vif *v;
	uint64_t t0 = clk_now_ns(), dt;

	vif_config_init(&c);
	c.path = "/tmp/test_libvif.nobody-listens";
	c.timeout_ms = 150;
	CHECK(vif_open(&c, &v) == -ENOENT);
	dt = clk_now_ns() - t0;
	CHECK(dt >= 140000000ull && dt < 3000000000ull);
	CHECK(strstr(vif_last_error(), "connect") != NULL);
}

static void test_server_nobody(void)
{
	struct vif_config c;
	struct vif *v;
	char path[64];

	snprintf(path, sizeof(path), "/tmp/test_libvif.%d.srv", (int)getpid());
	vif_config_init(&c);
	c.path = path;
	c.server = true;
	c.timeout_ms = 100;
	CHECK(vif_open(&c, &v) == -ETIMEDOUT);
	CHECK(access(path, F_OK) != 0); /* socket removed on failure */
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Each control-path allocation failing in turn unwinds cleanly: -ENOMEM,
 * no descriptor left open (ASan checks the memory). */
static void test_alloc_failures(void)
{
	int fds = count_fds();
	unsigned n;

	for (n = 1; n < 10; n++) {
		struct vif_config c;
		struct vif *v;
		int err;

		vif_config_init(&c);
		c.path = "/tmp/test_libvif.nobody-listens";
		c.queue_pairs = 2;
		c.timeout_ms = 1;
		xalloc_fail_at(n);
		err = vif_open(&c, &v);
		xalloc_fail_at(0);
		if (err != -ENOMEM) {
			CHECK(err == -ENOENT); /* got past every allocation */
			break;
		}
		CHECK(count_fds() == fds);
	}
	CHECK(n == 5); /* vif, pairs, 2 x per-pair arrays */
	CHECK(count_fds() == fds);
}

/* A backend that stays silent, or refuses, fails vif_open with the step. */
static void test_silent_and_refusing(void)
{
	static const struct {
		uint32_t silent, fail;
		int err;
		const char *text;
	} cases[] = {
		{ .silent = VU_GET_FEATURES, .err = -ETIMEDOUT, .text = "GET_FEATURES: no reply" },
		{ .silent = VU_GET_QUEUE_NUM, .err = -ETIMEDOUT, .text = "GET_QUEUE_NUM: no reply" },
		{ .silent = VU_SET_MEM_TABLE, .err = -ETIMEDOUT, .text = "SET_MEM_TABLE: no reply" },
		{ .fail = VU_SET_MEM_TABLE, .err = -EIO, .text = "SET_MEM_TABLE: backend refused" },
		{ .fail = VU_SET_VRING_ADDR, .err = -EIO, .text = "SET_VRING_ADDR(0): backend refused" },
		{ .fail = VU_SET_VRING_CALL, .err = -EIO, .text = "SET_VRING_CALL(0)" },
		{ .fail = VU_SET_VRING_ENABLE, .err = -EIO, .text = "SET_VRING_ENABLE(0)" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vif_config c;
		struct fake f;
		struct vif *v;
		uint64_t t0 = clk_now_ns();

		fake_init(&f);
		f.silent_req = cases[i].silent;
		f.fail_req = cases[i].fail;
		cfg_init(&c, &f);
		/* Long enough for the fake's thread to answer the steps before
		 * on a busy machine; the silent one must end the open within a
		 * few timeouts, not hang it. */
		c.timeout_ms = 1000;
		CHECK(open_pair(&f, &c, &v) == cases[i].err);
		CHECK(strstr(vif_last_error(), cases[i].text) != NULL);
		CHECK(clk_now_ns() - t0 < 4000000000ull);
		fake_free(&f);
	}
}

static void test_mq_refused(void)
{
	struct vif_config c;
	struct fake f;
	struct vif *v;

	fake_init(&f);
	f.offer &= ~(1ull << VIRTIO_NET_F_MQ);
	cfg_init(&c, &f);
	c.queue_pairs = 2;
	CHECK(open_pair(&f, &c, &v) == -EOPNOTSUPP);
	fake_free(&f);

	fake_init(&f);
	f.max_qp = 2;
	cfg_init(&c, &f);
	c.queue_pairs = 3;
	CHECK(open_pair(&f, &c, &v) == -EOPNOTSUPP);
	CHECK(strstr(vif_last_error(), "GET_QUEUE_NUM") != NULL);
	fake_free(&f);
}

/* ---- negotiation ---- */

static void test_negotiation(void)
{
	static const uint32_t head[] = {
		VU_GET_FEATURES, VU_GET_PROTOCOL_FEATURES, VU_SET_PROTOCOL_FEATURES,
		VU_GET_QUEUE_NUM, VU_SET_OWNER, VU_SET_FEATURES, VU_SET_MEM_TABLE,
	};
	static const uint32_t per_ring[] = {
		VU_SET_VRING_NUM, VU_SET_VRING_BASE, VU_SET_VRING_ADDR,
		VU_SET_VRING_KICK, VU_SET_VRING_CALL,
	};
	struct vif_config c;
	struct fake f;
	struct vif *v;
	unsigned k = 0;

	fake_init(&f);
	cfg_init(&c, &f);
	c.queue_pairs = 2;
	OPEN_OK(&f, &c, &v);
	for (size_t i = 0; i < ARRAY_SIZE(head); i++, k++)
		CHECK(f.reqs[k] == head[i]);
	for (unsigned r = 0; r < 4; r++)
		for (size_t i = 0; i < ARRAY_SIZE(per_ring); i++, k++)
			CHECK(f.reqs[k] == per_ring[i]);
	for (unsigned r = 0; r < 4; r++, k++)
		CHECK(f.reqs[k] == VU_SET_VRING_ENABLE && f.vr[r].enabled == 1);
	CHECK(f.reqs[k] == VU_SET_STATUS && f.nreq == k + 1);
	CHECK(f.status == (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
	/* Everything offered and wanted, nothing else (CSUM, BACKEND_REQ). */
	CHECK(f.features == (full_offer & ~(1ull << VIRTIO_NET_F_CSUM)));
	CHECK(f.proto == (full_proto & ~(1ull << VU_PF_BACKEND_REQ)));
	CHECK(vif_features(v) == f.features);
	CHECK(vif_queue_pairs(v) == 2 && v->hdr_len == 12 && v->reply_ack);
	/* GPA == VA, one region covering the memfd. */
	CHECK(f.region.guest_phys_addr == (uint64_t)(uintptr_t)v->mem);
	CHECK(f.region.userspace_addr == f.region.guest_phys_addr);
	CHECK(f.region.memory_size == v->mem_size);
	CHECK(f.vr[3].desc == (uint64_t)(uintptr_t)v->qp[1].tx.desc && f.vr[3].num == 256);
	CHECK(f.vr[0].desc % VIF_PAGE == 0 && f.vr[0].avail % VIF_PAGE == 0 &&
	      f.vr[0].used % VIF_PAGE == 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* Opt-outs and a single pair: no MQ, MRG or EVENT_IDX asked. */
	fake_init(&f);
	cfg_init(&c, &f);
	c.no_mrg_rxbuf = c.no_event_idx = true;
	OPEN_OK(&f, &c, &v);
	CHECK(!(f.features & (1ull << VIRTIO_NET_F_MQ | 1ull << VIRTIO_NET_F_MRG_RXBUF |
			      1ull << VIRTIO_RING_F_EVENT_IDX)));
	CHECK(v->hdr_len == 12 && !v->mrg_rxbuf && !v->event_idx); /* VERSION_1 */
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* Legacy backend: no protocol features, no VERSION_1: 10-byte header,
	 * no ENABLE, no STATUS, no acks. */
	fake_init(&f);
	f.offer = 1ull << VIRTIO_RING_F_EVENT_IDX;
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	CHECK(v->hdr_len == 10 && !v->reply_ack && v->proto == 0);
	CHECK(f.reqs[1] == VU_SET_OWNER && f.nreq == 4 + 2 * 5);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

/* ---- tx ---- */

static void test_tx_layouts(void)
{
	static const struct {
		unsigned seg;
		bool indirect;
		uint32_t len;
		unsigned ndesc; /* chain length the device sees */
	} cases[] = {
		{ 0, false, 60, 1 }, { 0, false, 9000, 1 }, { 0, false, VIF_MAX_FRAME, 1 },
		{ 16, false, 100, 1 + 7 }, { 1000, false, 9000, 1 + 9 },
		{ 0, true, 1500, 2 }, { 64, true, 9000, 1 + 141 }, { 7, true, 14, 3 },
	};
	static uint8_t frame[VIF_MAX_FRAME], got[VIF_MAX_FRAME + 64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vif_pkt p = { .data = frame, .len = cases[i].len };
		struct vif_config c;
		struct fake f;
		struct vif *v;
		uint16_t head;
		unsigned nd = 0;
		int n;

		fake_init(&f);
		cfg_init(&c, &f);
		c.tx_seg_size = cases[i].seg;
		c.tx_indirect = cases[i].indirect;
		OPEN_OK(&f, &c, &v);
		fill(frame, cases[i].len, (uint8_t)i);
		CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
		n = dev_tx_pop(&f, 1, got, &head, &nd);
		CHECK(n == (int)(12 + cases[i].len));
		CHECK(nd == cases[i].ndesc);
		CHECK(memcmp(got, (uint8_t[12]){ 0 }, 12) == 0);
		CHECK(memcmp(got + 12, frame, cases[i].len) == 0);
		/* First publish from 0 with avail_event 0: one kick. */
		CHECK(eventfd_take(f.vr[1].kick) == 1);
		dev_used_put(&f, 1, head, 0);
		dev_used_publish(&f, 1);
		CHECK(vif_tx_burst(v, 0, &p, 0) == 0); /* reclaims */
		CHECK(v->qp[0].tx_nfree == v->ring_num);
		fake_hangup(&f); /* else vif_close waits for tx to drain */
		vif_close(v);
		fake_free(&f);
	}
}

static void test_tx_invalid_and_full(void)
{
	static uint8_t frame[VIF_MAX_FRAME + 1];
	struct vif_pkt p[12];
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;
	static uint8_t got[VIF_MAX_FRAME + 64];
	uint16_t head;
	unsigned nd;

	fake_init(&f);
	cfg_init(&c, &f);
	c.ring_size = 8;
	OPEN_OK(&f, &c, &v);
	for (int i = 0; i < 12; i++)
		p[i] = (struct vif_pkt){ .data = frame, .len = 14 };
	/* Invalid frames refuse the whole burst before anything is queued. */
	p[3].len = 13;
	CHECK(vif_tx_burst(v, 0, p, 4) == -EINVAL);
	p[3].len = VIF_MAX_FRAME + 1;
	CHECK(vif_tx_burst(v, 0, p, 4) == -EINVAL);
	p[3].len = 14;
	p[3].data = NULL;
	CHECK(vif_tx_burst(v, 0, p, 4) == -EINVAL);
	p[3].data = frame;
	CHECK(vif_tx_burst(v, 1, p, 1) == -EINVAL); /* no such pair */
	CHECK(v->qp[0].tx.avail_idx == 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* A chain longer than VIF_TX_MAX_CHAIN (1-byte segments). */
	fake_init(&f);
	cfg_init(&c, &f);
	c.tx_seg_size = 1;
	OPEN_OK(&f, &c, &v);
	p[0].len = VIF_TX_MAX_CHAIN;
	CHECK(vif_tx_burst(v, 0, p, 1) == -EINVAL);
	p[0].len = VIF_TX_MAX_CHAIN - 1;
	CHECK(vif_tx_burst(v, 0, p, 1) == 1);
	CHECK(v->qp[0].tx_nfree == 0);
	CHECK(dev_tx_pop(&f, 1, got, &head, &nd) == 12 + VIF_TX_MAX_CHAIN - 1);
	CHECK(nd == VIF_TX_MAX_CHAIN);
	p[0].len = 14;
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* Ring of 8, one descriptor per frame: 8 fit, 4 refused. */
	fake_init(&f);
	cfg_init(&c, &f);
	c.ring_size = 8;
	OPEN_OK(&f, &c, &v);
	CHECK(vif_tx_burst(v, 0, p, 12) == 8);
	vif_get_stats(v, &st);
	CHECK(st.tx_pkts == 8 && st.tx_ring_full == 4 && st.tx_bytes == 8 * 14);
	/* The device completes 3, out of order; then a bogus id and a
	 * duplicate, which are counted and ignored. */
	for (int i = 0; i < 3; i++)
		CHECK(dev_tx_pop(&f, 1, got, &head, &nd) > 0);
	dev_used_put(&f, 1, 2, 0);
	dev_used_put(&f, 1, 0, 0);
	dev_used_put(&f, 1, 1, 0);
	dev_used_put(&f, 1, 1, 0);    /* already completed */
	dev_used_put(&f, 1, 9999, 0); /* out of range */
	dev_used_publish(&f, 1);
	CHECK(vif_tx_burst(v, 0, p, 12) == 3);
	vif_get_stats(v, &st);
	CHECK(st.rx_bad == 2 && st.tx_pkts == 11);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

/* Kick suppression: NO_NOTIFY without EVENT_IDX; avail_event with it. */
static void test_tx_kicks(void)
{
	uint8_t frame[64] = { 0 };
	struct vif_pkt p[4];
	struct vif_config c;
	struct fake f;
	struct vif *v;

	for (int i = 0; i < 4; i++)
		p[i] = (struct vif_pkt){ .data = frame, .len = 60 };

	fake_init(&f);
	cfg_init(&c, &f);
	c.no_event_idx = true;
	OPEN_OK(&f, &c, &v);
	dev_used(&f, 1)->flags = VRING_USED_F_NO_NOTIFY;
	CHECK(vif_tx_burst(v, 0, p, 4) == 4);
	CHECK(eventfd_take(f.vr[1].kick) == 0);
	dev_used(&f, 1)->flags = 0;
	CHECK(vif_tx_burst(v, 0, p, 4) == 4);
	CHECK(eventfd_take(f.vr[1].kick) == 1); /* one kick per burst */
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	fake_init(&f);
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	*dev_avail_event(&f, 1) = 5; /* kick when passing 5 */
	CHECK(vif_tx_burst(v, 0, p, 4) == 4);  /* 0 -> 4 */
	CHECK(eventfd_take(f.vr[1].kick) == 0);
	CHECK(vif_tx_burst(v, 0, p, 4) == 4);  /* 4 -> 8 crosses 5 */
	CHECK(eventfd_take(f.vr[1].kick) == 1);
	CHECK(vif_tx_burst(v, 0, p, 4) == 4);  /* 8 -> 12 */
	CHECK(eventfd_take(f.vr[1].kick) == 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

/* ---- rx ---- */

static void test_rx_gather(void)
{
	static const uint32_t sizes[] = { 14, 60, 2036, 2037, 5000, 9000, VIF_MAX_FRAME };
	static uint8_t frame[VIF_MAX_FRAME], buf[VIF_MAX_FRAME];
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;

	fake_init(&f);
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct vif_pkt p = { .data = buf, .len = sizeof(buf) };
		uint16_t old = v->qp[0].rx.avail_idx;
		int nbuf;

		fill(frame, sizes[i], (uint8_t)(i * 3));
		nbuf = dev_rx_push(&f, 0, frame, sizes[i], 12);
		CHECK(nbuf == (int)((12 + sizes[i] + 2047) / 2048));
		CHECK(vif_rx_burst(v, 0, &p, 1) == 1);
		CHECK(p.len == sizes[i] && memcmp(buf, frame, sizes[i]) == 0);
		CHECK((uint16_t)(v->qp[0].rx.avail_idx - old) == nbuf);
		CHECK(posted_count(v, 0) == v->ring_num);
	}
	/* Truncation: a 500-byte frame into a 100-byte buffer. */
	{
		struct vif_pkt p = { .data = buf, .len = 100 };

		fill(frame, 500, 9);
		CHECK(dev_rx_push(&f, 0, frame, 500, 12) == 1);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 1);
		CHECK(p.len == 100 && memcmp(buf, frame, 100) == 0);
	}
	/* Several frames in one burst, and nothing left after. */
	{
		struct vif_pkt p[8];
		static uint8_t bufs[8][2048];

		for (int i = 0; i < 5; i++)
			CHECK(dev_rx_push(&f, 0, frame, 1000, 12) == 1);
		for (int i = 0; i < 8; i++)
			p[i] = (struct vif_pkt){ .data = bufs[i], .len = 2048 };
		CHECK(vif_rx_burst(v, 0, p, 3) == 3);
		CHECK(vif_rx_burst(v, 0, p, 8) == 2);
		CHECK(vif_rx_burst(v, 0, p, 8) == 0);
	}
	vif_get_stats(v, &st);
	CHECK(st.rx_pkts == ARRAY_SIZE(sizes) + 1 + 5 && st.rx_truncated == 1 && st.rx_bad == 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

/* A hostile device writes nonsense into the used ring: each case is
 * counted, skipped, our buffers are reposted, and a good frame after it
 * still arrives. */
static void test_rx_hostile(void)
{
	enum { BAD_ID, NOT_POSTED, LEN_BIG, LEN_SHORT, NBUF_ZERO, NBUF_HUGE, TINY_FRAME,
	       BAD_SECOND, NCASES };
	static uint8_t frame[3000], buf[VIF_MAX_FRAME];
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;

	fake_init(&f);
	cfg_init(&c, &f);
	c.ring_size = 16;
	OPEN_OK(&f, &c, &v);
	fill(frame, sizeof(frame), 1);
	for (int k = 0; k < NCASES; k++) {
		struct fake_vring *r = &f.vr[0];
		struct vring_avail *a = dev_avail(&f, 0);
		struct vring_desc *d = dev_desc(&f, 0);
		uint16_t id = a->ring[r->last_avail % r->num];
		struct virtio_net_hdr_mrg_rxbuf *h = gpa(&f, d[id].addr, 12);
		struct vif_pkt p = { .data = buf, .len = sizeof(buf) };

		memset(h, 0, sizeof(*h));
		h->num_buffers = 1;
		switch (k) {
		case BAD_ID: dev_used_put(&f, 0, 4096, 100); break;
		case NOT_POSTED:
			/* One frame naming the same buffer twice. */
			h->num_buffers = 2;
			r->last_avail++;
			dev_used_put(&f, 0, id, 2048);
			dev_used_put(&f, 0, id, 100);
			break;
		case LEN_BIG: r->last_avail++; dev_used_put(&f, 0, id, 4096); break;
		case LEN_SHORT: r->last_avail++; dev_used_put(&f, 0, id, 5); break;
		case NBUF_ZERO: h->num_buffers = 0; r->last_avail++; dev_used_put(&f, 0, id, 100); break;
		case NBUF_HUGE: h->num_buffers = 1000; r->last_avail++; dev_used_put(&f, 0, id, 100); break;
		case TINY_FRAME: r->last_avail++; dev_used_put(&f, 0, id, 12 + 13); break;
		case BAD_SECOND:
			h->num_buffers = 2;
			r->last_avail++;
			dev_used_put(&f, 0, id, 2048);
			dev_used_put(&f, 0, 77, 100);
			break;
		}
		dev_used_publish(&f, 0);
		CHECK(dev_rx_push(&f, 0, frame, 3000, 12) == 2);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 1);
		CHECK(p.len == 3000 && memcmp(buf, frame, 3000) == 0);
		CHECK(posted_count(v, 0) == 16);
	}
	vif_get_stats(v, &st);
	CHECK(st.rx_bad == NCASES);
	CHECK(st.rx_pkts == NCASES);

	/* An impossible used index breaks the pair: -EIO, counted. */
	dev_used(&f, 0)->idx = (uint16_t)(v->qp[0].rx.last_used + 17);
	{
		struct vif_pkt p = { .data = buf, .len = sizeof(buf) };

		CHECK(vif_rx_burst(v, 0, &p, 1) == -EIO);
		CHECK(vif_rx_burst(v, 0, &p, 1) == -EIO);
	}
	vif_get_stats(v, &st);
	CHECK(st.rx_bad == NCASES + 1);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

/* An MRG frame whose later entries are not published yet is left alone. */
static void test_rx_partial(void)
{
	static uint8_t frame[5000], buf[8192];
	struct vif_pkt p = { .data = buf, .len = sizeof(buf) };
	struct vif_config c;
	struct fake f;
	struct vif *v;
	uint16_t full;

	fake_init(&f);
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	fill(frame, sizeof(frame), 5);
	CHECK(dev_rx_push(&f, 0, frame, sizeof(frame), 12) == 3);
	full = dev_used(&f, 0)->idx;
	dev_used(&f, 0)->idx = (uint16_t)(full - 1);
	CHECK(vif_rx_burst(v, 0, &p, 1) == 0);
	CHECK(posted_count(v, 0) == 256);
	dev_used(&f, 0)->idx = full;
	CHECK(vif_rx_burst(v, 0, &p, 1) == 1 && p.len == sizeof(frame));
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

struct pusher {
	struct fake *f;
	unsigned delay_ms;
	bool signal;
};

static void *push_later(void *arg)
{
	struct pusher *ps = arg;
	uint8_t frame[60] = { 1 };
	uint64_t one = 1;

	usleep(ps->delay_ms * 1000);
	dev_rx_push(ps->f, 0, frame, sizeof(frame), 12);
	if (ps->signal && write(ps->f->vr[0].call, &one, sizeof(one)) < 0)
		perror("call");
	return NULL;
}

static void test_rx_wait(void)
{
	for (int evidx = 0; evidx < 2; evidx++) {
		struct pusher ps;
		struct vif_config c;
		struct fake f;
		struct vif *v;
		pthread_t th;
		uint64_t t0;
		uint8_t buf[2048];
		struct vif_pkt p = { .data = buf, .len = sizeof(buf) };

		fake_init(&f);
		cfg_init(&c, &f);
		c.no_event_idx = !evidx;
		OPEN_OK(&f, &c, &v);
		CHECK(vif_rx_fd(v, 0) == v->qp[0].rx.call_fd && vif_rx_fd(v, 1) == -EINVAL);
		t0 = clk_now_ns();
		CHECK(vif_rx_wait(v, 0, 50) == 0);
		CHECK(clk_now_ns() - t0 >= 45000000ull);
		/* Notifications are off again after the wait. */
		if (evidx)
			CHECK(*v->qp[0].rx.used_event == (uint16_t)(v->qp[0].rx.last_used + 0x8000));
		else
			CHECK(v->qp[0].rx.avail->flags == VRING_AVAIL_F_NO_INTERRUPT);
		/* Woken by the call eventfd. */
		ps = (struct pusher){ .f = &f, .delay_ms = 30, .signal = true };
		pthread_create(&th, NULL, push_later, &ps);
		t0 = clk_now_ns();
		CHECK(vif_rx_wait(v, 0, 2000) == 1);
		CHECK(clk_now_ns() - t0 < 1000000000ull);
		pthread_join(th, NULL);
		/* The call was counted (one signal, one call). */
		struct vif_stats st;
		vif_get_stats(v, &st);
		CHECK(st.rx_calls == 1);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 1);
		/* Already ready: returns at once. */
		CHECK(dev_rx_push(&f, 0, buf, 60, 12) == 1);
		CHECK(vif_rx_wait(v, 0, -1) == 1);
		fake_hangup(&f); /* else vif_close waits for tx to drain */
		vif_close(v);
		fake_free(&f);
	}
}

/* ---- connection ---- */

static void test_disconnect_client(void)
{
	uint8_t frame[60] = { 0 };
	struct vif_pkt p = { .data = frame, .len = 60 };
	struct vif_config c;
	struct fake f;
	struct vif *v;

	fake_init(&f);
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	CHECK(vif_conn_poll(v) == 0);
	CHECK(vif_conn_fd(v) == v->sock);
	fake_hangup(&f);
	CHECK(vif_rx_wait(v, 0, 1000) == -ENOTCONN); /* sees the hangup itself */
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	CHECK(vif_tx_burst(v, 0, &p, 1) == -ENOTCONN);
	CHECK(vif_rx_burst(v, 0, &p, 1) == -ENOTCONN);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

static void test_server_reconnect(void)
{
	uint8_t frame[60] = { 7 }, buf[2048];
	struct vif_pkt p = { .data = frame, .len = 60 }, r = { .data = buf, .len = sizeof(buf) };
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;

	fake_init(&f);
	f.connect_mode = true;
	cfg_init(&c, &f);
	c.server = true;
	fake_start(&f);
	CHECK(vif_open(&c, &v) == 0);
	fake_join(&f);
	CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
	CHECK(dev_rx_push(&f, 0, frame, 60, 12) == 1);
	fake_hangup(&f);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	CHECK(vif_conn_poll(v) == -ENOTCONN); /* nobody yet */
	CHECK(vif_conn_fd(v) == v->listen_fd);
	CHECK(vif_tx_burst(v, 0, &p, 1) == -ENOTCONN);
	/* The backend comes back: the next poll accepts and sets up again. */
	f.nreq = 0;
	fake_start(&f);
	for (int i = 0; i < 200 && vif_conn_poll(v) != 0; i++)
		usleep(5000);
	fake_join(&f);
	vif_get_stats(v, &st);
	CHECK(st.reconnects == 1);
	CHECK(f.reqs[0] == VU_GET_FEATURES && f.status != 0);
	CHECK(f.vr[0].base == 0 && f.vr[1].base == 0);
	/* Rings restarted empty: all rx buffers posted, tx slots free. */
	CHECK(v->qp[0].rx.avail_idx == 256 && v->qp[0].rx.last_used == 0);
	CHECK(v->qp[0].tx.avail_idx == 0 && v->qp[0].tx_nfree == 256);
	CHECK(posted_count(v, 0) == 256);
	f.vr[0].last_avail = f.vr[0].used_idx = 0;
	f.vr[1].last_avail = f.vr[1].used_idx = 0;
	CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
	CHECK(dev_rx_push(&f, 0, frame, 60, 12) == 1);
	CHECK(vif_rx_burst(v, 0, &r, 1) == 1 && r.len == 60);
	fake_hangup(&f);
	vif_close(v);
	CHECK(access(f.path, F_OK) != 0);
	fake_free(&f);
}

/* INFLIGHT_SHMFD: the region is asked for once and handed back at every
 * setup; after the backend's loss the rings stay as they were and each
 * resumes at its used index, so what the backend had not completed is
 * served again; cfg.no_inflight keeps the old behaviour. */
static void test_server_reconnect_inflight(void)
{
	uint8_t frame[60] = { 7 }, got[2048];
	struct vif_pkt p[3] = { { .data = frame, .len = 60 }, { .data = frame, .len = 60 },
				{ .data = frame, .len = 60 } };
	struct vif_config c;
	struct fake f;
	struct vif *v;
	uint16_t head;
	unsigned nd;
	ino_t ino;

	fake_init(&f);
	f.connect_mode = true;
	f.proto_offer |= 1ull << VU_PF_INFLIGHT_SHMFD;
	cfg_init(&c, &f);
	c.server = true;
	fake_start(&f);
	CHECK(vif_open(&c, &v) == 0);
	fake_join(&f);
	CHECK(f.proto & 1ull << VU_PF_INFLIGHT_SHMFD);
	CHECK(f.infl_made == 1 && f.infl_ino != 0 && v->infl_fd >= 0);
	CHECK(f.infl.num_queues == 2 && f.infl.queue_size == 256 && f.infl.mmap_size == 2 * 4160);
	ino = f.infl_ino;
	/* Three frames queued; the device completes the first, takes the
	 * second, and dies. */
	CHECK(vif_tx_burst(v, 0, p, 3) == 3);
	CHECK(dev_tx_pop(&f, 1, got, &head, &nd) > 0);
	dev_used_put(&f, 1, head, 0);
	dev_used_publish(&f, 1);
	CHECK(dev_tx_pop(&f, 1, got, &head, &nd) > 0);
	fake_hangup(&f);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	f.nreq = 0;
	fake_start(&f);
	for (int i = 0; i < 200 && vif_conn_poll(v) != 0; i++)
		usleep(5000);
	fake_join(&f);
	/* The same region back, no new one; the rings kept, resumed at the
	 * used index: the two frames not completed come again. */
	CHECK(f.infl_made == 1 && f.infl_ino == ino);
	CHECK(f.vr[1].base == 1 && f.vr[0].base == 0);
	CHECK(v->qp[0].tx.avail_idx == 3);
	CHECK(dev_tx_pop(&f, 1, got, &head, &nd) > 0);
	CHECK(dev_tx_pop(&f, 1, got, &head, &nd) > 0);
	CHECK(dev_tx_pop(&f, 1, got, &head, &nd) < 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* Refused: no region, rings reset at the reconnection. */
	fake_init(&f);
	f.connect_mode = true;
	f.proto_offer |= 1ull << VU_PF_INFLIGHT_SHMFD;
	cfg_init(&c, &f);
	c.server = true;
	c.no_inflight = true;
	fake_start(&f);
	CHECK(vif_open(&c, &v) == 0);
	fake_join(&f);
	CHECK(!(f.proto & 1ull << VU_PF_INFLIGHT_SHMFD) && f.infl_made == 0 && v->infl_fd < 0);
	CHECK(vif_tx_burst(v, 0, p, 1) == 1);
	fake_hangup(&f);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	fake_start(&f);
	for (int i = 0; i < 200 && vif_conn_poll(v) != 0; i++)
		usleep(5000);
	fake_join(&f);
	CHECK(f.vr[1].base == 0 && v->qp[0].tx.avail_idx == 0 && v->qp[0].tx_nfree == 256);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

/* The raw hooks: open without setup, a hand-made request, then setup. */
static void test_raw(void)
{
	struct vu_msg m = { .hdr = { .request = VU_GET_FEATURES, .flags = VU_VERSION } }, r;
	struct vif_config c;
	struct fake f;
	struct vif *v;
	uint8_t frame[60] = { 0 };
	struct vif_pkt p = { .data = frame, .len = 60 };

	fake_init(&f);
	cfg_init(&c, &f);
	fake_listen(&f);
	fake_start(&f);
	CHECK(vif_open_raw(&c, &v) == 0);
	CHECK(vif_tx_burst(v, 0, &p, 1) == -ENOTCONN);
	CHECK(vif_raw_msg(v, &m, sizeof(m.hdr), NULL, 0, &r, 500) == 0);
	CHECK(r.hdr.request == VU_GET_FEATURES && r.hdr.size == 8 && r.p.u64 == full_offer);
	CHECK(vif_vring(v, 1) == &v->qp[0].tx && vif_vring(v, 2) == NULL);
	CHECK(vif_setup(v) == 0);
	fake_join(&f);
	CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

struct completer {
	struct fake *f;
	unsigned delay_ms;
};

static void *complete_later(void *arg)
{
	struct completer *cp = arg;
	static uint8_t got[VIF_MAX_FRAME + 64];
	uint16_t head;
	unsigned nd;

	usleep(cp->delay_ms * 1000);
	while (dev_tx_pop(cp->f, 1, got, &head, &nd) >= 0)
		dev_used_put(cp->f, 1, head, 0);
	dev_used_publish(cp->f, 1);
	return NULL;
}

/* vif_close() lets the backend consume queued tx frames first (bounded). */
static void test_close_drains(void)
{
	uint8_t frame[60] = { 0 };
	struct vif_pkt p = { .data = frame, .len = 60 };
	struct completer cp;
	struct vif_config c;
	struct fake f;
	struct vif *v;
	pthread_t th;
	uint64_t t0, dt;

	fake_init(&f);
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
	cp = (struct completer){ .f = &f, .delay_ms = 50 };
	pthread_create(&th, NULL, complete_later, &cp);
	t0 = clk_now_ns();
	vif_close(v);
	dt = clk_now_ns() - t0;
	pthread_join(th, NULL);
	CHECK(dt >= 40000000ull && dt < VIF_CLOSE_DRAIN_MS * 1000000ull);
	fake_free(&f);
}

struct burster {
	struct vif *v;
	_Atomic int last;
	_Atomic unsigned long calls;
};

static void *burst_loop(void *arg)
{
	struct burster *b = arg;
	uint8_t frame[60] = { 0 }, buf[2048];
	struct vif_pkt p = { .data = frame, .len = 60 }, r = { .data = buf, .len = sizeof(buf) };
	int err;

	do {
		err = vif_tx_burst(b->v, 0, &p, 1);
		if (err >= 0)
			err = vif_rx_burst(b->v, 0, &r, 1);
		b->calls++;
	} while (err >= 0);
	b->last = err;
	return NULL;
}

/* vif_conn_poll() on one thread while another runs bursts: the burst
 * thread ends with -ENOTCONN, nothing is torn down under it. */
static void test_poll_vs_bursts(void)
{
	struct burster b = { 0 };
	struct vif_config c;
	struct fake f;
	struct vif *v;
	pthread_t th;

	fake_init(&f);
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	b.v = v;
	pthread_create(&th, NULL, burst_loop, &b);
	while (b.calls < 1000)
		usleep(100);
	CHECK(vif_conn_poll(v) == 0);
	fake_hangup(&f);
	for (int i = 0; i < 100 && vif_conn_poll(v) != -ENOTCONN; i++)
		usleep(1000);
	pthread_join(th, NULL);
	CHECK(b.last == -ENOTCONN);
	vif_close(v);
	fake_free(&f);
}

/* ---- control queue ---- */

static bool ctrl_rec_is(const struct fake *f, unsigned k, uint8_t cls, uint8_t cmd,
			unsigned len, unsigned val)
{
	const struct ctrl_rec *r = &f->ctrl_log[k];
	unsigned got = len == 2 ? r->data[0] | (unsigned)r->data[1] << 8 : r->data[0];

	return k < f->nctrl && r->cls == cls && r->cmd == cmd && r->len == len && got == val;
}

/* Whether and where the control queue is negotiated and set up, and the
 * VQ_PAIRS_SET vif_open() sends (or fails on). */
static void test_ctrl_negotiation(void)
{
	static const uint32_t per_ring[] = {
		VU_SET_VRING_NUM, VU_SET_VRING_BASE, VU_SET_VRING_ADDR,
		VU_SET_VRING_KICK, VU_SET_VRING_CALL,
	};
	const uint64_t ctrl_bits = 1ull << VIRTIO_NET_F_CTRL_VQ | 1ull << VIRTIO_NET_F_CTRL_RX;
	struct vif_config c;
	struct fake f;
	struct vif *v;
	uint64_t t0;
	unsigned k;

	/* Offered but not asked: not negotiated, nothing set up. */
	fake_init(&f);
	f.offer |= ctrl_offer;
	cfg_init(&c, &f);
	OPEN_OK(&f, &c, &v);
	CHECK(!(f.features & ctrl_bits) && !v->has_ctrl && f.vr[2].num == 0);
	CHECK(f.nreq == 7 + 2 * 5 + 2 + 1);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == -ENOTSUP);
	CHECK(vif_ctrl_mq_pairs(v, 1) == -ENOTSUP);
	CHECK(strstr(vif_last_error(), "no control queue") != NULL);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* Asked but not offered: vif_open works as without. */
	fake_init(&f);
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	c.queue_pairs = 2;
	OPEN_OK(&f, &c, &v);
	CHECK(!(f.features & ctrl_bits) && !v->has_ctrl && f.nctrl == 0);
	CHECK(f.nreq == 7 + 4 * 5 + 4 + 1);
	CHECK(vif_ctrl_mq_pairs(v, 2) == -ENOTSUP);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* CTRL_RX without CTRL_VQ is not a valid combination: neither. */
	fake_init(&f);
	f.offer |= 1ull << VIRTIO_NET_F_CTRL_RX;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	OPEN_OK(&f, &c, &v);
	CHECK(!(f.features & ctrl_bits) && !v->has_ctrl);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* One pair: MQ not negotiated, so the control queue is vring 2
	 * whatever GET_QUEUE_NUM said; no command sent at open. */
	fake_init(&f);
	f.offer |= ctrl_offer;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	OPEN_OK(&f, &c, &v);
	CHECK((f.features & ctrl_bits) == ctrl_bits && !(f.features & 1ull << VIRTIO_NET_F_MQ));
	CHECK(v->has_ctrl && v->cvq.index == 2 && f.ctrl_idx == 2);
	CHECK(f.vr[2].num == VIF_CTRL_RING && f.vr[2].enabled == 1 && f.vr[2].kick >= 0 &&
	      f.vr[2].desc == (uint64_t)(uintptr_t)v->cvq.desc);
	CHECK(vif_vring(v, 2) == &v->cvq && vif_vring(v, 3) == NULL);
	CHECK(f.nctrl == 0);
	fake_resume(&f);
	CHECK(vif_ctrl_mq_pairs(v, 1) == -ENOTSUP); /* VQ_PAIRS_SET needs MQ */
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == 0);
	fake_join(&f);
	CHECK(f.nctrl == 1 && ctrl_rec_is(&f, 0, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1, 1));
	CHECK(f.promisc && f.ctrl_kicks == 1 && f.ctrl_layout_bad == 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* Four pairs of a backend's eight: vring 16, set up and enabled after
	 * the data rings, then VQ_PAIRS_SET(4) before vif_open returns. */
	fake_init(&f);
	f.offer |= ctrl_offer;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	c.queue_pairs = 4;
	OPEN_OK(&f, &c, &v);
	CHECK(v->cvq.index == 16 && f.ctrl_idx == 16 && vif_vring(v, 16) == &v->cvq);
	k = 7 + 8 * 5;
	for (size_t i = 0; i < ARRAY_SIZE(per_ring); i++, k++)
		CHECK(f.reqs[k] == per_ring[i]);
	CHECK(f.vr[16].num == VIF_CTRL_RING && f.vr[16].base == 0 && f.vr[16].enabled == 1);
	k += 8;
	CHECK(f.reqs[k] == VU_SET_VRING_ENABLE && f.reqs[k + 1] == VU_SET_STATUS);
	CHECK(f.nctrl == 1 && ctrl_rec_is(&f, 0, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 4));
	CHECK(f.active_pairs == 4 && f.ctrl_layout_bad == 0);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* A control queue index vhost-user cannot name. */
	fake_init(&f);
	f.offer |= ctrl_offer;
	f.max_qp = 200;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	c.queue_pairs = 2;
	CHECK(open_pair(&f, &c, &v) == -EPROTO);
	CHECK(strstr(vif_last_error(), "vring 400") != NULL);
	fake_free(&f);

	/* VQ_PAIRS_SET refused, or never answered: vif_open fails, saying so. */
	fake_init(&f);
	f.offer |= ctrl_offer;
	f.ctrl_mode = CTRL_ERR;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	c.queue_pairs = 2;
	CHECK(open_pair(&f, &c, &v) == -EINVAL && v == NULL);
	CHECK(strstr(vif_last_error(), "VQ_PAIRS_SET(2)") != NULL);
	CHECK(strstr(vif_last_error(), "VIRTIO_NET_ERR") != NULL);
	fake_free(&f);

	fake_init(&f);
	f.offer |= ctrl_offer;
	f.ctrl_mode = CTRL_HOLD;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	c.queue_pairs = 2;
	c.timeout_ms = 1000;
	t0 = clk_now_ns();
	CHECK(open_pair(&f, &c, &v) == -ETIMEDOUT);
	CHECK(clk_now_ns() - t0 < 4000000000ull);
	CHECK(strstr(vif_last_error(), "VQ_PAIRS_SET(2)") != NULL);
	CHECK(strstr(vif_last_error(), "no answer") != NULL);
	fake_free(&f);
}

/* Commands after open: range checks, OK, ERR, no answer (and its late
 * answer), every slot taken, a hostile device's used entries, a lost
 * backend. */
static void test_ctrl_commands(void)
{
	static const struct {
		int mode;
		int err;
		unsigned bad;     /* ctrl_bad added */
		const char *text;
	} hostile[] = {
		{ CTRL_ERR, -EINVAL, 0, "VIRTIO_NET_ERR" },
		{ CTRL_LEN0, -EIO, 1, "len 0" },
		{ CTRL_BADACK, -EIO, 1, "acked with 7" },
		{ CTRL_BADID, 0, 1, "" },
		{ CTRL_JUMP, -EIO, 1, "impossibly" },
		{ CTRL_RULES, -EIO, 0, "impossibly" }, /* broken until reset */
	};
	uint16_t nine = 9;
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;
	uint64_t t0, dt;
	unsigned n;

	fake_init(&f);
	f.offer |= ctrl_offer;
	cfg_init(&c, &f);
	c.ctrl_vq = true;
	c.queue_pairs = 4;
	OPEN_OK(&f, &c, &v);
	CHECK(f.active_pairs == 4);
	fake_resume(&f);
	/* Out of range: refused without asking the device. */
	n = f.nctrl;
	CHECK(vif_ctrl_mq_pairs(v, 0) == -EINVAL);
	CHECK(vif_ctrl_mq_pairs(v, 5) == -EINVAL);
	CHECK(strstr(vif_last_error(), "not in 1..4") != NULL);
	CHECK(vif_ctrl_rx(v, 2, true) == -EINVAL);
	CHECK(vif_ctrl_cmd(v, VIRTIO_NET_CTRL_RX, 0, NULL, VIF_CTRL_DATA_MAX + 1) == -EINVAL);
	CHECK(f.nctrl == n);
	/* Acked OK. */
	CHECK(vif_ctrl_mq_pairs(v, 2) == 0 && f.active_pairs == 2 && v->ctrl_pairs == 2);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == 0 && f.promisc);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_ALLMULTI, true) == 0 && f.allmulti);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, false) == 0 && !f.promisc);
	CHECK(ctrl_rec_is(&f, f.nctrl - 1, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1, 0));
	/* What vif_ctrl_mq_pairs would not send: the device says ERR. */
	CHECK(vif_ctrl_cmd(v, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &nine, 2) == -EINVAL);
	CHECK(strstr(vif_last_error(), "VIRTIO_NET_ERR") != NULL);
	CHECK(f.active_pairs == 2);
	/* No answer within min(timeout_ms, 1 s); the late answer is dropped
	 * quietly and the slot reused. */
	f.ctrl_mode = CTRL_HOLD;
	v->cfg.timeout_ms = 200;
	t0 = clk_now_ns();
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_ALLMULTI, false) == -ETIMEDOUT);
	dt = clk_now_ns() - t0;
	/* (the upper bound leaves room for a busy machine) */
	CHECK(dt >= 190000000ull && dt < 2000000000ull);
	v->cfg.timeout_ms = 5000;
	CHECK(strstr(vif_last_error(), "RX ALLMULTI off") != NULL);
	CHECK(v->ctrl_inflight[0] && f.allmulti);
	f.ctrl_mode = CTRL_RULES;
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_ALLMULTI, false) == 0 && !f.allmulti);
	CHECK(!v->ctrl_inflight[0] && !v->ctrl_inflight[1]);
	/* Every slot held by an unanswered command: -EBUSY, nothing sent. */
	f.ctrl_mode = CTRL_HOLD;
	v->cfg.timeout_ms = 5;
	for (unsigned i = 0; i < VIF_CTRL_SLOTS; i++)
		CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == -ETIMEDOUT);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == -EBUSY);
	f.ctrl_mode = CTRL_RULES;
	v->cfg.timeout_ms = 5000;
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == 0 && f.promisc);
	vif_get_stats(v, &st);
	CHECK(st.ctrl_bad == 0 && f.ctrl_layout_bad == 0);
	/* A hostile device, in order (the last two: broken stays broken). */
	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		uint64_t bad0;

		vif_get_stats(v, &st);
		bad0 = st.ctrl_bad;
		f.ctrl_mode = hostile[i].mode;
		CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, false) == hostile[i].err);
		CHECK(strstr(vif_last_error(), hostile[i].text) != NULL);
		vif_get_stats(v, &st);
		CHECK(st.ctrl_bad == bad0 + hostile[i].bad);
	}
	fake_join(&f);
	/* The backend has gone (vif_conn_poll has not noticed yet). */
	vif_ctrl_reset(v);
	fake_hangup(&f);
	t0 = clk_now_ns();
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, false) == -ENOTCONN);
	CHECK(clk_now_ns() - t0 < 100000000ull);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	CHECK(vif_ctrl_mq_pairs(v, 1) == -ENOTCONN);
	vif_close(v);
	fake_free(&f);
}

/* Server mode: after the backend comes back (device reset), the pair
 * count and the RX modes set before are sent again, before bursts run. */
static void test_ctrl_reconnect(void)
{
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;

	fake_init(&f);
	f.offer |= ctrl_offer;
	f.connect_mode = true;
	cfg_init(&c, &f);
	c.server = true;
	c.ctrl_vq = true;
	c.queue_pairs = 3;
	fake_start(&f);
	CHECK(vif_open(&c, &v) == 0);
	fake_join(&f);
	fake_resume(&f);
	CHECK(vif_ctrl_mq_pairs(v, 2) == 0);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_PROMISC, true) == 0);
	CHECK(vif_ctrl_rx(v, VIF_CTRL_RX_ALLMULTI, false) == 0);
	fake_join(&f);
	fake_hangup(&f);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	f.nctrl = 0;
	f.promisc = false;
	f.allmulti = true;
	fake_start(&f);
	for (int i = 0; i < 200 && vif_conn_poll(v) != 0; i++)
		usleep(5000);
	fake_join(&f);
	vif_get_stats(v, &st);
	CHECK(st.reconnects == 1);
	CHECK(f.nctrl == 3);
	CHECK(ctrl_rec_is(&f, 0, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 2));
	CHECK(ctrl_rec_is(&f, 1, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1, 1));
	CHECK(ctrl_rec_is(&f, 2, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1, 0));
	CHECK(f.active_pairs == 2 && f.promisc && !f.allmulti);
	/* A refused replay fails the reconnection; the next one can succeed. */
	fake_hangup(&f);
	CHECK(vif_conn_poll(v) == -ENOTCONN);
	f.ctrl_mode = CTRL_ERR;
	fake_start(&f);
	{
		int err = -ENOTCONN;

		for (int i = 0; i < 200 && err == -ENOTCONN; i++) {
			err = vif_conn_poll(v);
			usleep(5000);
		}
		CHECK(err == -EINVAL);
		CHECK(strstr(vif_last_error(), "VQ_PAIRS_SET(2)") != NULL);
	}
	fake_join(&f);
	CHECK(atomic_load(&v->state) == VIF_DOWN);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}


/* ---- packed rings: the test as a packed device ---- */

static struct vring_packed_desc *dev_pdesc(struct fake *f, unsigned i)
{
	return gpa(f, f->vr[i].desc, 16 * f->vr[i].num);
}

/* Device state of a packed ring: next slot to read, next to write used. */
struct pk_dev {
	uint16_t avail, used;
	bool avail_wrap, used_wrap;
};

static bool pk_is_avail(const struct vring_packed_desc *d, bool wrap)
{
	uint16_t fl = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);

	return !!(fl & VIF_PF_AVAIL) == wrap && !!(fl & VIF_PF_USED) != wrap;
}

static void pk_next(uint16_t *slot, bool *wrap, uint16_t num)
{
	if (++*slot == num) {
		*slot = 0;
		*wrap = !*wrap;
	}
}

/* Writes a used descriptor at the device's position and skips nslots. */
static void pk_used(struct fake *f, unsigned i, struct pk_dev *pd, uint16_t id, uint32_t len,
		    uint16_t nslots)
{
	struct vring_packed_desc *d = &dev_pdesc(f, i)[pd->used];

	d->id = id;
	d->len = len;
	__atomic_store_n(&d->flags,
			 (uint16_t)((pd->used_wrap ? VIF_PF_AVAIL | VIF_PF_USED : 0) |
				    (len ? VRING_DESC_F_WRITE : 0)), __ATOMIC_RELEASE);
	for (uint16_t k = 0; k < nslots; k++)
		pk_next(&pd->used, &pd->used_wrap, (uint16_t)f->vr[i].num);
}

static void test_packed(void)
{
	static uint8_t frame[5000], buf[VIF_MAX_FRAME];
	struct pk_dev tx = { 0, 0, true, true }, rx = { 0, 0, true, true };
	struct vif_config c;
	struct vif_stats st;
	struct fake f;
	struct vif *v;
	int err;

	/* Asked but not offered: refused, not split behind the caller's back. */
	fake_init(&f);
	cfg_init(&c, &f);
	c.packed = true;
	err = open_pair(&f, &c, &v);
	CHECK(err == -EOPNOTSUPP);
	fake_free(&f);
	/* Not with a control queue. */
	fake_init(&f);
	cfg_init(&c, &f);
	c.packed = true;
	c.ctrl_vq = true;
	CHECK(vif_open(&c, &v) == -EINVAL);
	fake_free(&f);

	fake_init(&f);
	f.offer |= 1ull << VIRTIO_F_RING_PACKED;
	cfg_init(&c, &f);
	c.packed = true;
	c.ring_size = 8;
	c.tx_seg_size = 1000;
	OPEN_OK(&f, &c, &v);
	CHECK(vif_features(v) & 1ull << VIRTIO_F_RING_PACKED);
	/* Both positions 0, both wrap counters 1. */
	CHECK(f.vr[0].base == 0x80008000u && f.vr[1].base == 0x80008000u);
	/* Every rx buffer posted, slot i = buffer i. */
	for (unsigned i = 0; i < 8; i++) {
		struct vring_packed_desc *d = &dev_pdesc(&f, 0)[i];
		CHECK(pk_is_avail(d, true) && d->id == i && (d->flags & VRING_DESC_F_WRITE));
	}

	/* tx: a 2500-byte frame is a header slot and 3 segment slots, id = its
	 * first slot; the next frame starts after them. */
	fill(frame, 2500, 3);
	{
		struct vif_pkt p = { frame, 2500 };
		struct vring_packed_desc *d = dev_pdesc(&f, 1);

		CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
		CHECK(pk_is_avail(&d[0], true) && d[0].len == 12 && (d[0].flags & VRING_DESC_F_NEXT));
		CHECK(pk_is_avail(&d[3], true) && d[3].len == 500 && !(d[3].flags & VRING_DESC_F_NEXT));
		CHECK(d[3].id == 0);
		CHECK(memcmp(gpa(&f, d[1].addr, 1000), frame, 1000) == 0);
		/* Ring of 8: the second frame (4 slots) fits, a third does not. */
		CHECK(vif_tx_burst(v, 0, &p, 1) == 1);
		CHECK(d[4].id == 4 && pk_is_avail(&d[4], true));
		CHECK(vif_tx_burst(v, 0, &p, 1) == 0);
		/* The device uses the second chain first (out of order): its
		 * slots come back, the first chain's are still held. */
		pk_used(&f, 1, &tx, 4, 0, 4);
		CHECK(vif_tx_burst(v, 0, &p, 1) == 0); /* slot 0 still the first chain's */
		pk_used(&f, 1, &tx, 0, 0, 4);
		CHECK(vif_tx_burst(v, 0, &p, 1) == 1); /* into slots 0..3, the next lap */
		CHECK(pk_is_avail(&d[0], false) && d[0].id == 0);
		/* A used descriptor naming nothing in flight: the pair breaks. */
		pk_used(&f, 1, &tx, 5, 0, 1);
		CHECK(vif_tx_burst(v, 0, &p, 1) == -EIO);
	}
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);

	/* rx: frames over several buffers (num_buffers), then nonsense. */
	fake_init(&f);
	f.offer |= 1ull << VIRTIO_F_RING_PACKED;
	cfg_init(&c, &f);
	c.packed = true;
	c.ring_size = 8;
	OPEN_OK(&f, &c, &v);
	for (unsigned round = 0; round < 6; round++) {
		/* a frame of 3000 bytes in two 2048-byte buffers */
		struct vring_packed_desc *d = dev_pdesc(&f, 0);
		struct vif_pkt p = { buf, sizeof(buf) };
		uint16_t id0, id1;
		uint8_t *b0, *b1;

		CHECK(pk_is_avail(&d[rx.avail], rx.avail_wrap));
		id0 = d[rx.avail].id;
		b0 = gpa(&f, d[rx.avail].addr, 2048);
		pk_next(&rx.avail, &rx.avail_wrap, 8);
		CHECK(pk_is_avail(&d[rx.avail], rx.avail_wrap));
		id1 = d[rx.avail].id;
		b1 = gpa(&f, d[rx.avail].addr, 2048);
		pk_next(&rx.avail, &rx.avail_wrap, 8);
		fill(frame, 3000, (uint8_t)round);
		memset(b0, 0, 12);
		b0[10] = 2; /* num_buffers */
		memcpy(b0 + 12, frame, 2036);
		memcpy(b1, frame + 2036, 964);
		/* the second one first: the frame is not complete until both */
		pk_used(&f, 0, &rx, id0, 2048, 1);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 0);
		pk_used(&f, 0, &rx, id1, 964, 1);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 1);
		CHECK(p.len == 3000 && memcmp(buf, frame, 3000) == 0);
		CHECK(posted_count(v, 0) == 8);
	}
	/* Nonsense: an id outside the ring, a length beyond the buffer. */
	{
		struct vring_packed_desc *d = dev_pdesc(&f, 0);
		struct vif_pkt p = { buf, sizeof(buf) };
		uint16_t id = d[rx.avail].id;

		pk_next(&rx.avail, &rx.avail_wrap, 8);
		pk_used(&f, 0, &rx, 100, 64, 1);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 0);
		pk_used(&f, 0, &rx, id, 4096, 1);
		CHECK(vif_rx_burst(v, 0, &p, 1) == 0);
		/* The device wrote a used descriptor over a slot it never took:
		 * that slot's buffer is lost to the ring (one slot stays free),
		 * nothing else. */
		CHECK(v->qp[0].rx.nfree == 1);
	}
	vif_get_stats(v, &st);
	CHECK(st.rx_pkts == 6 && st.rx_bad == 2);
	/* rx_wait turns the driver event structure on, then off again. */
	CHECK(vif_rx_wait(v, 0, 10) == 0);
	CHECK(v->qp[0].rx.drv_event->flags == VRING_PACKED_EVENT_FLAG_DISABLE);
	fake_hangup(&f);
	vif_close(v);
	fake_free(&f);
}

int main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
#define T(x) { #x, x }
		T(test_bad_config), T(test_alloc_failures), T(test_connect_timeout), T(test_server_nobody),
		T(test_silent_and_refusing), T(test_mq_refused), T(test_negotiation),
		T(test_tx_layouts), T(test_tx_invalid_and_full), T(test_tx_kicks),
		T(test_rx_gather), T(test_rx_hostile), T(test_rx_partial), T(test_rx_wait),
		T(test_disconnect_client), T(test_server_reconnect), T(test_server_reconnect_inflight), T(test_raw), T(test_close_drains),
		T(test_poll_vs_bursts), T(test_ctrl_negotiation), T(test_ctrl_commands),
		T(test_ctrl_reconnect),
		T(test_packed),
#undef T
	};

	vlog_set_level(LOG_ERR);
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		uint64_t t0 = clk_now_ns();
		int before = failures;

		tests[i].fn();
		printf("%-28s %s (%.0f ms)\n", tests[i].name, failures == before ? "ok" : "FAILED",
		       (double)(clk_now_ns() - t0) / 1e6);
	}
	if (failures) {
		fprintf(stderr, "test_libvif: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_libvif: all checks passed\n");
	return 0;
}
