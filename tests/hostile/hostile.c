/* hostile.c - a deliberately misbehaving vhost-user frontend, built on
 * libvif's internals (vif_impl.h), for the hostile-guest suite
 * (tests/integration/030-hostile-guests.sh).
 *
 *   hostile --sock PATH CASE      run one attack against vifd's port at PATH
 *   hostile --list                print the case names and what vifd must do
 *   hostile --list-containment    the same for the containment cases
 *                                 (tests/integration/031-hostile-containment.sh)
 *
 * Three kinds of case:
 *  - msg:  a raw connection sends a malformed or forbidden message sequence;
 *          the case passes when vifd drops the connection within 3 s.
 *  - ring: a normally negotiated device then breaks the virtqueue rules in
 *          its own shared memory and kicks (pring-*: the same on packed
 *          rings, plus wrap counters, buffer ids and event suppression); vifd must stop the port (the
 *          script checks the port's guest_stops counter; this program only
 *          performs the attack).
 *  - hdr:  a normally negotiated device sends frames whose virtio-net
 *          header asks for offloads it never negotiated; vifd must drop
 *          them (drops.offload) and leave the port running.
 * Containment cases (issue 14) last a few seconds each: they print READY
 * when the attack is in place and keep it up (a close that blocks, a
 * flood, a ring that keeps faulting) so the script can check that
 * everybody else goes on meanwhile; they print "sent N" when they flood.
 * Exit 0: the attack was delivered (and, for msg, refused as required). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vif_impl.h"
#include "vq_inflight.h" /* the region's layout (vifd's side) */

static const char *sock_path;

static int fail(const char *what)
{
	fprintf(stderr, "hostile: %s: %s\n", what, vif_last_error());
	return 2;
}

static struct vu_msg mk(uint32_t req, const void *payload, uint32_t size)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	if (payload)
		memcpy(&m.p, payload, size);
	return m;
}

static int send_m(struct vif *v, const struct vu_msg *m, const int *fds, unsigned nfds)
{
	return vif_raw_msg(v, m, sizeof(struct vu_hdr) + m->hdr.size, fds, nfds, NULL, 0);
}

/* Waits until vifd closes the connection: the refusal we want to see. */
static int expect_drop(struct vif *v)
{
	struct pollfd p = { .fd = v->sock, .events = POLLIN };
	char buf[512];
	int waited = 0;

	while (waited < 3000) {
		int r = poll(&p, 1, 100);
		waited += 100;
		if (r <= 0)
			continue;
		ssize_t n = recv(v->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0; /* dropped */
		/* a reply or an ack: keep waiting for the close */
	}
	fprintf(stderr, "hostile: vifd kept the connection open\n");
	return 1;
}

static struct vif *raw_open(void)
{
	struct vif_config c;
	struct vif *v;

	vif_config_init(&c);
	c.path = sock_path;
	if (vif_open_raw(&c, &v) < 0)
		return NULL;
	return v;
}

static struct vif *good_open(void)
{
	struct vif_config c;
	struct vif *v;

	vif_config_init(&c);
	c.path = sock_path;
	c.tx_indirect = true;
	c.mac[0] = 0x02;
	c.mac[5] = 0x66;
	if (vif_open(&c, &v) < 0)
		return NULL;
	return v;
}

static uint64_t gpa(struct vif *v, size_t off)
{
	return (uint64_t)(uintptr_t)v->mem + off;
}

/* ------------------------------------------------------------------ msg */

static int run_msgs(const struct vu_msg *ms, unsigned n, const int *fds, unsigned nfds)
{
	struct vif *v = raw_open();
	int r;

	if (!v)
		return fail("connect");
	for (unsigned i = 0; i < n; i++)
		if (send_m(v, &ms[i], i == n - 1 ? fds : NULL, i == n - 1 ? nfds : 0) < 0)
			break; /* vifd may already have dropped us */
	r = expect_drop(v);
	vif_close(v);
	return r;
}

static int m_unknown(void)
{
	struct vu_msg m = mk(99, NULL, 0);
	return run_msgs(&m, 1, NULL, 0);
}

static int vring_num(uint32_t idx, uint32_t num)
{
	struct vu_vring_state s = { idx, num };
	struct vu_msg m = mk(VU_SET_VRING_NUM, &s, sizeof(s));
	return run_msgs(&m, 1, NULL, 0);
}

static int m_qsize_0(void) { return vring_num(0, 0); }
static int m_qsize_3(void) { return vring_num(0, 3); }
static int m_qsize_65536(void) { return vring_num(0, 65536); }
static int m_vring_index(void) { return vring_num(200, 256); }

static int m_truncated(void)
{
	struct vif *v = raw_open();
	struct vu_msg m = mk(VU_SET_VRING_ADDR, NULL, sizeof(struct vu_vring_addr));
	int r;

	if (!v)
		return fail("connect");
	/* Header promises 40 bytes; 10 arrive, then the frontend goes quiet:
	 * vifd must keep waiting without blocking anyone, and refuse the
	 * message when the stream ends inside it. */
	vif_raw_msg(v, &m, sizeof(struct vu_hdr) + 10, NULL, 0, NULL, 0);
	usleep(200000);
	shutdown(v->sock, SHUT_WR);
	r = expect_drop(v);
	vif_close(v);
	return r;
}

static int m_oversized(void)
{
	struct vif *v = raw_open();
	static uint8_t big[sizeof(struct vu_hdr) + 4096];
	struct vu_hdr *h = (struct vu_hdr *)(void *)big;
	int r;

	if (!v)
		return fail("connect");
	h->request = VU_SET_MEM_TABLE;
	h->flags = VU_VERSION;
	h->size = 4096;
	if (send(v->sock, big, sizeof(big), MSG_NOSIGNAL) < 0) {
		/* dropped before we finished: fine */
	}
	r = expect_drop(v);
	vif_close(v);
	return r;
}

static int m_bad_flags(void)
{
	struct vu_msg m = mk(VU_GET_FEATURES, NULL, 0);
	m.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	return run_msgs(&m, 1, NULL, 0);
}

static int m_bad_version(void)
{
	struct vu_msg m = mk(VU_GET_FEATURES, NULL, 0);
	m.hdr.flags = 2;
	return run_msgs(&m, 1, NULL, 0);
}

static int m_wrong_size(void)
{
	uint64_t f = 0;
	struct vu_msg m = mk(VU_SET_FEATURES, &f, 4); /* u64 payload cut to 4 */
	return run_msgs(&m, 1, NULL, 0);
}

static int m_unoffered_feature(void)
{
	uint64_t f = 1ull << 63;
	struct vu_msg m = mk(VU_SET_FEATURES, &f, 8);
	return run_msgs(&m, 1, NULL, 0);
}

static int memfd_of(uint64_t size)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int mem_table(const struct vu_mem_region *r, uint32_t n, const int *fds, unsigned nfds)
{
	struct vu_mem_table t;
	struct vu_msg m;

	memset(&t, 0, sizeof(t));
	t.nregions = n;
	memcpy(t.regions, r, n * sizeof(*r));
	m = mk(VU_SET_MEM_TABLE, &t, 8 + (uint32_t)(MIN(n, VU_MAX_MEM_REGIONS) * sizeof(*r)));
	return run_msgs(&m, 1, fds, nfds);
}

static int m_mem_fd_count(void)
{
	int fd = memfd_of(1 << 20), r;
	struct vu_mem_region reg[2] = {
		{ 0, 1 << 19, 0x10000000, 0 }, { 1 << 19, 1 << 19, 0x20000000, 1 << 19 },
	};
	r = mem_table(reg, 2, &fd, 1); /* two regions, one fd */
	close(fd);
	return r;
}

static int m_mem_overlap(void)
{
	int fd = memfd_of(1 << 20), r;
	int fds[2] = { fd, fd };
	struct vu_mem_region reg[2] = {
		{ 0, 1 << 19, 0x10000000, 0 }, { 1 << 18, 1 << 19, 0x20000000, 1 << 19 },
	};
	r = mem_table(reg, 2, fds, 2);
	close(fd);
	return r;
}

static int m_mem_zero(void)
{
	int fd = memfd_of(1 << 20), r;
	struct vu_mem_region reg = { 0, 0, 0x10000000, 0 };
	r = mem_table(&reg, 1, &fd, 1);
	close(fd);
	return r;
}

static int m_mem_short_file(void)
{
	int fd = memfd_of(1 << 16), r;
	struct vu_mem_region reg = { 0, 1 << 20, 0x10000000, 0 }; /* file is 64 KiB */
	r = mem_table(&reg, 1, &fd, 1);
	close(fd);
	return r;
}

static int m_mem_wrap(void)
{
	int fd = memfd_of(1 << 20), r;
	struct vu_mem_region reg = { UINT64_MAX - 4095, 1 << 20, 0x10000000, 0 };
	r = mem_table(&reg, 1, &fd, 1);
	close(fd);
	return r;
}

static int m_mem_nine(void)
{
	struct vu_mem_region reg[VU_MAX_MEM_REGIONS];
	struct vu_msg m;
	struct vu_mem_table t;

	memset(reg, 0, sizeof(reg));
	memset(&t, 0, sizeof(t));
	t.nregions = 9;
	m = mk(VU_SET_MEM_TABLE, &t, sizeof(t));
	return run_msgs(&m, 1, NULL, 0);
}

static int m_kick_flag_mismatch(void)
{
	int efd = eventfd(0, EFD_CLOEXEC), r;
	uint64_t idx = 1 | VU_VRING_NOFD_MASK; /* "no fd" ... with an fd */
	struct vu_msg m = mk(VU_SET_VRING_KICK, &idx, 8);
	r = run_msgs(&m, 1, &efd, 1);
	close(efd);
	return r;
}

static int m_kick_missing_fd(void)
{
	uint64_t idx = 1; /* an fd is promised but none comes */
	struct vu_msg m = mk(VU_SET_VRING_KICK, &idx, 8);
	return run_msgs(&m, 1, NULL, 0);
}

static int m_too_many_fds(void)
{
	enum { N = VU_MAX_FDS + 1 };
	int fds[N], r;
	struct vu_msg m = mk(VU_SET_OWNER, NULL, 0);
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(struct vu_hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	                     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	struct vif *v = raw_open();

	if (!v)
		return fail("connect");
	/* libvif refuses to send more than VU_MAX_FDS: hand-made sendmsg. */
	for (int i = 0; i < N; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(v->sock, &mh, MSG_NOSIGNAL) < 0)
		perror("sendmsg");
	for (int i = 0; i < N; i++)
		close(fds[i]);
	r = expect_drop(v);
	vif_close(v);
	return r;
}

static int m_call_not_eventfd(void)
{
	int p[2], r;
	uint64_t idx = 0;
	struct vu_msg m = mk(VU_SET_VRING_CALL, &idx, 8);

	if (pipe(p) < 0)
		return 2;
	close(p[0]); /* and its reader is gone, too */
	r = run_msgs(&m, 1, &p[1], 1);
	close(p[1]);
	return r;
}

static int m_kick_regular_file(void)
{
	int fd = memfd_of(4096), r;
	uint64_t idx = 1;
	struct vu_msg m = mk(VU_SET_VRING_KICK, &idx, 8);
	r = run_msgs(&m, 1, &fd, 1);
	close(fd);
	return r;
}

static int m_pf_not_negotiated(void)
{
	struct vu_msg m = mk(VU_GET_QUEUE_NUM, NULL, 0); /* MQ protocol feature not acked */
	return run_msgs(&m, 1, NULL, 0);
}

/* SET_LOG_BASE with a log vifd must refuse, after a correct negotiation
 * of LOG_SHMFD: the connection is dropped. */
static int sealed_memfd(uint64_t size)
{
	int fd = memfd_create("hostile-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd >= 0 && (ftruncate(fd, (off_t)size) < 0 ||
	                fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int log_base(uint64_t size, uint64_t off, int fd)
{
	uint64_t f = 1ull << VU_F_PROTOCOL_FEATURES, pf = 1ull << VU_PF_LOG_SHMFD;
	struct vu_log lg = { .mmap_size = size, .mmap_offset = off };
	struct vu_msg ms[3] = { mk(VU_SET_FEATURES, &f, 8), mk(VU_SET_PROTOCOL_FEATURES, &pf, 8),
	                        mk(VU_SET_LOG_BASE, &lg, sizeof(lg)) };
	int r;

	if (fd < 0)
		return fail("log fd");
	r = run_msgs(ms, 3, &fd, 1);
	close(fd);
	return r;
}

static int m_log_size_zero(void) { return log_base(0, 0, sealed_memfd(8192)); }
/* (a sparse file large enough: only the 1 GiB cap refuses it) */
static int m_log_too_big(void) { return log_base((1ull << 30) + 1, 0, sealed_memfd((1ull << 30) + 4096)); }
static int m_log_past_end(void) { return log_base(8192, 4096, sealed_memfd(8192)); }
/* (defence in depth: mmap would refuse the offset too) */
static int m_log_offset_wraps(void) { return log_base(8192, UINT64_MAX - 100, sealed_memfd(8192)); }

/* A log on hugetlbfs: refused (a log is small; tmpfs only). Skipped, and
 * counted as the refusal it would be, where no huge page can be had. */
static int m_log_hugetlb(void)
{
	int fd = memfd_create("hostile-log", MFD_CLOEXEC | MFD_HUGETLB);

	if (fd < 0 || ftruncate(fd, 2 << 20) < 0) {
		if (fd >= 0)
			close(fd);
		fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC); /* not tmpfs either */
	}
	return log_base(8192, 0, fd);
}

/* SET_INFLIGHT_FD with a region vifd must refuse (INFLIGHT_SHMFD acked,
 * 2 queues of 256 entries: 2 x 4160 bytes): the connection is dropped. */
static int inflight_set(uint64_t size, uint64_t off, int fd)
{
	uint64_t f = 1ull << VU_F_PROTOCOL_FEATURES, pf = 1ull << VU_PF_INFLIGHT_SHMFD;
	struct vu_inflight in = { .mmap_size = size, .mmap_offset = off, .num_queues = 2,
	                          .queue_size = 256 };
	struct vu_msg ms[3] = { mk(VU_SET_FEATURES, &f, 8), mk(VU_SET_PROTOCOL_FEATURES, &pf, 8),
	                        mk(VU_SET_INFLIGHT_FD, &in, sizeof(in)) };
	int r;

	if (fd < 0)
		return fail("inflight fd");
	r = run_msgs(ms, 3, &fd, 1);
	close(fd);
	return r;
}

static int m_inflight_size_wrong(void) { return inflight_set(4096, 0, sealed_memfd(8320)); }
static int m_inflight_past_file_end(void) { return inflight_set(8320, 4096, sealed_memfd(8320)); }
static int m_inflight_not_memfd(void)
{
	int p[2];

	if (pipe(p) < 0)
		return fail("pipe");
	close(p[1]);
	return inflight_set(8320, 0, p[0]);
}

static int m_log_not_memfd(void)
{
	int p[2];

	if (pipe(p) < 0)
		return fail("pipe");
	close(p[1]);
	return log_base(8192, 0, p[0]);
}

/* ----------------------------------------------------------------- ring */

/* Places descriptor chain head h on the tx ring (vring 1) and kicks. */
static void tx_post(struct vif *v, uint16_t h)
{
	struct vif_vq *q = vif_vring(v, 1);
	static const uint64_t one = 1;

	q->avail->ring[q->avail_idx & q->mask] = h;
	q->avail_idx++;
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
	if (write(q->kick_fd, &one, sizeof(one)) < 0) {
		/* vifd polls anyway */
	}
}

static void setd(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* A device that negotiated fine (INFLIGHT_SHMFD included: libvif's
 * default) writes a mark into its inflight region that matches no chain
 * vifd took, and hands the region back: the rings restart, the region
 * disagrees with the tx ring, and the port must stop. */
static int r_inflight_corrupt(void)
{
	struct vif *v = good_open();
	struct vu_msg m;
	uint8_t *r;

	if (!v)
		return fail("open");
	if (v->infl_fd < 0) {
		vif_close(v);
		fprintf(stderr, "hostile: vifd did not negotiate INFLIGHT_SHMFD\n");
		return 2;
	}
	r = mmap(NULL, v->infl.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->infl_fd, 0);
	if (r == MAP_FAILED)
		return fail("mmap region");
	usleep(100000);
	/* vring 1's part: descriptor 7 "in flight", nothing available */
	r[vq_infl_queue_bytes(v->infl.queue_size) + 16 + 16 * 7] = 1;
	m = mk(VU_SET_INFLIGHT_FD, &v->infl, sizeof(v->infl));
	if (vif_raw_msg(v, &m, sizeof(m.hdr) + sizeof(v->infl), &v->infl_fd, 1, NULL, 0) < 0)
		return fail("SET_INFLIGHT_FD");
	usleep(500000);
	munmap(r, v->infl.mmap_size);
	vif_close(v);
	return 0;
}

/* A device that negotiated fine and then writes one bad tx chain. */
static int ring_attack(void (*build)(struct vif *v, struct vring_desc *d))
{
	struct vif *v = good_open();
	struct vif_vq *q;

	if (!v)
		return fail("open");
	q = vif_vring(v, 1);
	/* Let vifd see the device live before the attack. */
	usleep(100000);
	build(v, q->desc);
	usleep(500000); /* give vifd time to find it before we leave */
	vif_close(v);
	return 0;
}

static void b_addr_oob(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->mem_size + 8192), 100, 0, 0);
	tx_post(v, 0);
}

static void b_len_overflow(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->mem_size - 50), 100, 0, 0);
	tx_post(v, 0);
}

static void b_addr_wrap(struct vif *v, struct vring_desc *d)
{
	(void)v;
	setd(&d[0], UINT64_MAX - 10, 100, 0, 0);
	tx_post(v, 0);
}

static void b_loop(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->qp[0].tx_bufs_off), 8, VRING_DESC_F_NEXT, 1);
	setd(&d[1], gpa(v, v->qp[0].tx_bufs_off), 8, VRING_DESC_F_NEXT, 0);
	tx_post(v, 0);
}

static void b_chain_longer_than_ring(struct vif *v, struct vring_desc *d)
{
	struct vif_vq *q = vif_vring(v, 1);
	/* Every descriptor chained to the next, the last back to the first. */
	for (unsigned i = 0; i < q->num; i++)
		setd(&d[i], gpa(v, v->qp[0].tx_bufs_off), 1, VRING_DESC_F_NEXT,
		     (uint16_t)((i + 1) % q->num));
	tx_post(v, 0);
}

static void b_next_oob(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->qp[0].tx_bufs_off), 12, VRING_DESC_F_NEXT, 40000);
	tx_post(v, 0);
}

static void b_bad_head(struct vif *v, struct vring_desc *d)
{
	(void)d;
	tx_post(v, 60000);
}

static void b_avail_jump(struct vif *v, struct vring_desc *d)
{
	struct vif_vq *q = vif_vring(v, 1);
	static const uint64_t one = 1;

	(void)d;
	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail_idx + 1000), __ATOMIC_RELEASE);
	if (write(q->kick_fd, &one, sizeof(one)) < 0) {
	}
}

static void b_indirect_oob(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->mem_size - 16), 64, VRING_DESC_F_INDIRECT, 0);
	tx_post(v, 0);
}

static void b_indirect_nested(struct vif *v, struct vring_desc *d)
{
	struct vring_desc *t = (struct vring_desc *)(v->mem + v->qp[0].tx_bufs_off);
	setd(&t[0], gpa(v, v->qp[0].tx_bufs_off), 32, VRING_DESC_F_INDIRECT, 0);
	setd(&d[0], gpa(v, v->qp[0].tx_bufs_off), 32, VRING_DESC_F_INDIRECT, 0);
	tx_post(v, 0);
}

static void b_indirect_badlen(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->qp[0].tx_bufs_off), 24, VRING_DESC_F_INDIRECT, 0);
	tx_post(v, 0);
}

static void b_writable_tx(struct vif *v, struct vring_desc *d)
{
	setd(&d[0], gpa(v, v->qp[0].tx_bufs_off), 100, VRING_DESC_F_WRITE, 0);
	tx_post(v, 0);
}

/* Memory the rings live in is cut under vifd's feet: its next access to
 * the ring faults (SIGBUS), which must stop this port and nothing else. */
static void b_truncate_memory(struct vif *v, struct vring_desc *d)
{
	struct vif_vq *q = vif_vring(v, 1);
	static const uint64_t one = 1;

	setd(&d[0], gpa(v, v->qp[0].tx_bufs_off), 100, 0, 0);
	q->avail->ring[q->avail_idx & q->mask] = 0;
	q->avail_idx++;
	if (ftruncate(v->mem_fd, 0) < 0)
		return;
	/* From here our own mapping faults too: only the kick, then leave
	 * without touching the rings again (vif_close would). */
	if (write(q->kick_fd, &one, sizeof(one)) < 0) {
	}
	usleep(500000);
	_exit(0);
}

/* The frontend remaps memory while rings run, to a table that no longer
 * holds the rings: ring setup must fail and stop the port. */
static void b_remap_away(struct vif *v, struct vring_desc *d)
{
	int fd = memfd_of(1 << 16);
	struct vu_mem_table t;
	struct vu_msg m;

	(void)d;
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct vu_mem_region){ 0x1000, 1 << 16, 0x1000, 0 };
	m = mk(VU_SET_MEM_TABLE, &t, 8 + sizeof(struct vu_mem_region));
	send_m(v, &m, &fd, 1);
	close(fd);
}

/* Rx ring posted with buffers outside memory: the first frame vifd
 * delivers to this port (the script floods one) stops it. */
static int r_rx_bad(void)
{
	struct vif *v = good_open();
	struct vif_vq *q;

	if (!v)
		return fail("open");
	q = vif_vring(v, 0);
	for (unsigned i = 0; i < q->num; i++)
		setd(&q->desc[i], gpa(v, v->mem_size + 65536), 2048, VRING_DESC_F_WRITE, 0);
	printf("READY\n");
	fflush(stdout);
	sleep(3); /* the script sends a broadcast meanwhile */
	vif_close(v);
	return 0;
}

/* Double fetch: a valid descriptor is posted, then rewritten to garbage
 * over and over while vifd may be reading it. vifd uses its one private
 * copy: it forwards the frame or stops the port, never crashes. */
static int r_desc_race(void)
{
	struct vif *v = good_open();
	struct vif_vq *q;
	uint8_t *frame;

	if (!v)
		return fail("open");
	q = vif_vring(v, 1);
	frame = v->mem + v->qp[0].tx_bufs_off;
	memset(frame, 0, 12 + 60);
	memset(frame + 12, 0xff, 6); /* broadcast */
	frame[12 + 6] = 0x02;
	for (int round = 0; round < 2000; round++) {
		uint16_t h = (uint16_t)(round % q->num);
		setd(&q->desc[h], gpa(v, v->qp[0].tx_bufs_off), 72, 0, 0);
		tx_post(v, h);
		for (int k = 0; k < 50; k++) {
			setd(&q->desc[h], UINT64_MAX - (uint64_t)k, 0xffffffffu, VRING_DESC_F_NEXT, 9999);
			setd(&q->desc[h], gpa(v, v->qp[0].tx_bufs_off), 72, 0, 0);
		}
		if (vif_conn_poll(v) < 0)
			break; /* port stopped or dropped: also acceptable */
	}
	vif_close(v);
	return 0;
}


/* ---------------------------------------------------------- packed ring */

/* The ring cases again on packed rings (VIRTIO_F_RING_PACKED): a device
 * that negotiated packed rings, then writes one bad chain at the start of
 * its tx ring (vring 1; wrap counter 1: AVAIL set, USED clear) and kicks. */
static struct vif *good_open_packed(void)
{
	struct vif_config c;
	struct vif *v;

	vif_config_init(&c);
	c.path = sock_path;
	c.packed = true;
	c.tx_indirect = true;
	c.mac[0] = 0x02;
	c.mac[5] = 0x67;
	if (vif_open(&c, &v) < 0)
		return NULL;
	return v;
}

/* Writes tx slot s (flags as given: the test chooses the wrap bits). */
static void psetd(struct vif *v, unsigned s, uint64_t addr, uint32_t len, uint16_t id,
		  uint16_t flags)
{
	struct vring_packed_desc *d = &vif_vring(v, 1)->pdesc[s];

	d->addr = addr;
	d->len = len;
	d->id = id;
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
}

static void pkick(struct vif *v)
{
	static const uint64_t one = 1;

	if (write(vif_vring(v, 1)->kick_fd, &one, sizeof(one)) < 0) {
		/* vifd polls anyway */
	}
}

enum { PA = VIF_PF_AVAIL, PU = VIF_PF_USED };

static int pring_attack(void (*build)(struct vif *v))
{
	struct vif *v = good_open_packed();

	if (!v)
		return fail("open (packed)");
	usleep(100000);
	build(v);
	pkick(v);
	usleep(500000);
	vif_close(v);
	return 0;
}

static uint64_t txbuf(struct vif *v) { return gpa(v, v->qp[0].tx_bufs_off); }

static void pb_addr_oob(struct vif *v) { psetd(v, 0, gpa(v, v->mem_size + 8192), 100, 0, PA); }
static void pb_len_overflow(struct vif *v) { psetd(v, 0, gpa(v, v->mem_size - 50), 100, 0, PA); }
static void pb_addr_wrap(struct vif *v) { psetd(v, 0, UINT64_MAX - 10, 100, 0, PA); }
static void pb_zero_len(struct vif *v) { psetd(v, 0, txbuf(v), 0, 0, PA); }
static void pb_writable_tx(struct vif *v) { psetd(v, 0, txbuf(v), 100, 0, PA | VRING_DESC_F_WRITE); }
static void pb_bad_id(struct vif *v) { psetd(v, 0, txbuf(v), 100, 60000, PA); }
/* Every slot says NEXT: a chain all round the ring. */
static void pb_chain_around(struct vif *v)
{
	struct vif_vq *q = vif_vring(v, 1);

	for (unsigned i = q->num; i-- > 0;)
		psetd(v, i, txbuf(v), 1, 0, PA | VRING_DESC_F_NEXT);
}
/* The chain continues into a slot the driver never made available. */
static void pb_next_unavailable(struct vif *v)
{
	psetd(v, 0, txbuf(v), 12, 0, PA | VRING_DESC_F_NEXT);
}
/* ... into a slot with the other lap's wrap bits. */
static void pb_next_wrong_wrap(struct vif *v)
{
	psetd(v, 1, txbuf(v), 60, 0, PU);
	psetd(v, 0, txbuf(v), 12, 0, PA | VRING_DESC_F_NEXT);
}
static void pb_indirect_oob(struct vif *v)
{
	psetd(v, 0, gpa(v, v->mem_size - 16), 64, 0, PA | VRING_DESC_F_INDIRECT);
}
static void pb_indirect_nested(struct vif *v)
{
	struct vring_packed_desc *t = (struct vring_packed_desc *)(v->mem + v->qp[0].tx_bufs_off);

	t[0] = (struct vring_packed_desc){ .addr = txbuf(v), .len = 32,
					   .flags = VRING_DESC_F_INDIRECT };
	t[1] = (struct vring_packed_desc){ .addr = txbuf(v), .len = 32 };
	psetd(v, 0, txbuf(v), 32, 0, PA | VRING_DESC_F_INDIRECT);
}
static void pb_indirect_badlen(struct vif *v)
{
	psetd(v, 0, txbuf(v), 24, 0, PA | VRING_DESC_F_INDIRECT);
}
static void pb_indirect_in_chain(struct vif *v)
{
	psetd(v, 1, txbuf(v), 32, 0, PA | VRING_DESC_F_INDIRECT);
	psetd(v, 0, txbuf(v), 12, 0, PA | VRING_DESC_F_NEXT);
}

static int p_addr_oob(void) { return pring_attack(pb_addr_oob); }
static int p_len_overflow(void) { return pring_attack(pb_len_overflow); }
static int p_addr_wrap(void) { return pring_attack(pb_addr_wrap); }
static int p_zero_len(void) { return pring_attack(pb_zero_len); }
static int p_writable_tx(void) { return pring_attack(pb_writable_tx); }
static int p_bad_id(void) { return pring_attack(pb_bad_id); }
static int p_chain_around(void) { return pring_attack(pb_chain_around); }
static int p_next_unavailable(void) { return pring_attack(pb_next_unavailable); }
static int p_next_wrong_wrap(void) { return pring_attack(pb_next_wrong_wrap); }
static int p_indirect_oob(void) { return pring_attack(pb_indirect_oob); }
static int p_indirect_nested(void) { return pring_attack(pb_indirect_nested); }
static int p_indirect_badlen(void) { return pring_attack(pb_indirect_badlen); }
static int p_indirect_in_chain(void) { return pring_attack(pb_indirect_in_chain); }

/* Packed rx ring whose posted buffers all point outside memory: the first
 * frame vifd delivers (the script floods one) stops the port. */
static int p_rx_bad(void)
{
	struct vif *v = good_open_packed();
	struct vif_vq *q;

	if (!v)
		return fail("open (packed)");
	q = vif_vring(v, 0);
	for (unsigned i = 0; i < q->num; i++)
		q->pdesc[i].addr = gpa(v, v->mem_size + 65536);
	printf("READY\n");
	fflush(stdout);
	sleep(3);
	vif_close(v);
	return 0;
}

/* Garbage in the driver's event suppression structures (the reserved
 * flags value, DESC with an offset outside the ring, reserved bits), on
 * both rings, while frames go both ways: vifd reads them as "notify" and
 * nothing breaks. */
static int p_event_garbage(void)
{
	static const uint16_t flags[] = { 3, VRING_PACKED_EVENT_FLAG_DESC, 0xfffe, 0xffff };
	struct vif *v = good_open_packed();
	uint8_t frame[64] = { 0 };
	struct vif_pkt pk = { frame, sizeof(frame) };

	if (!v)
		return fail("open (packed)");
	memset(frame, 0xff, 6); /* broadcast */
	frame[6] = 0x02;
	frame[11] = 0x67;
	for (int round = 0; round < 200; round++) {
		for (unsigned r = 0; r < 2; r++) {
			struct vring_packed_desc_event *e = vif_vring(v, r)->drv_event;

			e->off_wrap = (uint16_t)(0xffff - round);
			e->flags = flags[round % 4];
		}
		if (vif_tx_burst(v, 0, &pk, 1) < 0)
			return fail("tx");
		usleep(1000);
	}
	vif_close(v);
	return 0;
}

/* A frame whose virtio-net header asks for an offload the device never
 * negotiated (libvif negotiates none): a 1514-byte IPv4/TCP frame, eight
 * times, with the header hdr. vifd drops each one as drops.offload on this
 * port and keeps the port running: a bad header is not a ring fault. */
static int offload_attack(const struct virtio_net_hdr *hdr)
{
	enum { N = 8, FRAME = 1514 };
	struct vif *v = good_open();
	struct vif_vq *q;
	uint8_t *b;

	if (!v)
		return fail("open");
	q = vif_vring(v, 1);
	b = v->mem + v->qp[0].tx_bufs_off;
	memset(b, 0, 12 + FRAME);
	memcpy(b, hdr, sizeof(*hdr));
	memcpy(b + 12, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x66\x08\x00", 14);
	b[12 + 14] = 0x45; /* IPv4, 20-byte header */
	b[12 + 14 + 2] = (FRAME - 14) >> 8;
	b[12 + 14 + 3] = (FRAME - 14) & 0xff;
	b[12 + 14 + 8] = 64;
	b[12 + 14 + 9] = IPPROTO_TCP;
	b[12 + 34 + 12] = 5 << 4; /* TCP, 20-byte header */
	usleep(100000);
	for (uint16_t i = 0; i < N; i++) {
		setd(&q->desc[i], gpa(v, v->qp[0].tx_bufs_off), 12 + FRAME, 0, 0);
		tx_post(v, i);
	}
	usleep(500000);
	vif_close(v);
	return 0;
}

static int o_gso_not_negotiated(void)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	                            .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
	                            .hdr_len = 54, .gso_size = 1000,
	                            .csum_start = 34, .csum_offset = 16 };
	return offload_attack(&h);
}

static int o_csum_not_negotiated(void)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	                            .csum_start = 34, .csum_offset = 16 };
	return offload_attack(&h);
}

static int o_gso_unknown_type(void)
{
	struct virtio_net_hdr h = { .gso_type = 0x7f, .hdr_len = 54, .gso_size = 1000 };
	return offload_attack(&h);
}

/* Reader of the call eventfd gone (we close our end): vifd's writes
 * still succeed, nothing breaks. */
static int r_call_reader_gone(void)
{
	struct vif *v = good_open();

	if (!v)
		return fail("open");
	for (unsigned i = 0; i < 2 * v->nqp; i++) {
		struct vif_vq *q = vif_vring(v, i);
		close(q->call_fd);
		q->call_fd = eventfd(0, EFD_CLOEXEC); /* keep vif_close happy */
	}
	sleep(1);
	vif_close(v);
	return 0;
}

/* The guest hands over a call eventfd whose counter is saturated, waits for
 * vifd to make it non-blocking, clears O_NONBLOCK again (the file is
 * shared) and sends a frame: vifd's call write blocks. vifd must notice the
 * stuck worker, interrupt it and stop this port; other ports on the same
 * worker go on. */
static int r_call_blocking(void)
{
	struct vif *v = good_open();
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t big = 0xfffffffffffffffeull, idx = 1;
	struct vu_msg m = mk(VU_SET_VRING_CALL, &idx, 8);
	struct vif_vq *q;
	uint8_t *frame;

	if (!v || efd < 0)
		return fail("open");
	if (write(efd, &big, sizeof(big)) != sizeof(big))
		return 2;
	send_m(v, &m, &efd, 1);
	usleep(300000);
	fcntl(efd, F_SETFL, fcntl(efd, F_GETFL) & ~O_NONBLOCK);
	q = vif_vring(v, 1);
	frame = v->mem + v->qp[0].tx_bufs_off;
	memset(frame, 0, 12 + 60);
	memset(frame + 12, 0xff, 6); /* broadcast */
	frame[12 + 6] = 0x02;
	setd(&q->desc[0], gpa(v, v->qp[0].tx_bufs_off), 72, 0, 0);
	tx_post(v, 0);
	usleep(1500000);
	_exit(0); /* leave the rings as they are */
}


/* ---------------------------------------------------------- containment */

static void ready(void)
{
	printf("READY\n");
	fflush(stdout);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Receives (polling: the interrupts vifd holds back under the port's
 * rx-frames/rx-usecs, which 030 sets for this case, never come), then
 * breaks its transmit ring while a call may be held: the port must be
 * stopped and vifd go on (a held call once kept the worker from its
 * quiescent point forever, and the control thread with it). */
static int r_break_with_call_held(void)
{
	static uint8_t bufs[32][2048];
	struct vif_pkt pk[32];
	struct vif *v = good_open();
	unsigned long got = 0;
	uint64_t end;

	if (!v)
		return fail("open");
	ready();
	end = now_ms() + 3000;
	while (got < 16 && now_ms() < end) {
		for (int i = 0; i < 32; i++) {
			pk[i].data = bufs[i];
			pk[i].len = sizeof(bufs[i]);
		}
		int n = vif_rx_burst(v, 0, pk, 32);
		if (n > 0)
			got += (unsigned long)n;
		vif_conn_poll(v);
	}
	b_avail_jump(v, vif_vring(v, 1)->desc);
	usleep(1500000);
	_exit(0);
}

/* A TCP socket whose last close() sleeps: SO_LINGER for linger_s seconds,
 * data queued that cannot leave because the peer (*peer, which the caller
 * keeps) reads nothing and its window is full. When the caller exits, the
 * peer is closed with unread data, the kernel resets the connection, and
 * the lingering close returns. */
static int linger_socket(int linger_s, int *peer, int *lsn)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct linger lg = { 1, linger_s };
	int small = 4096, c, a, l;
	static char buf[65536];

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) < 0 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) < 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	a = accept(l, NULL, NULL);
	if (a < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		return -1;
	/* Fill the peer's window and our send queue. */
	fcntl(c, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 4096 && send(c, buf, sizeof(buf), MSG_NOSIGNAL) > 0; i++)
		;
	fcntl(c, F_SETFL, 0);
	*peer = a;
	*lsn = l;
	return c;
}

/* The lingering socket handed over as a kick fd (refused: not an eventfd);
 * vifd holds the last reference, so its close sleeps until we leave
 * (HOLD_S): vifd's control thread must not be the one sleeping. */
enum { HOLD_S = 8 };

/* Sends m with fd so that vifd's copy is the last one: the header carries
 * the fd, our copy is closed, and only then does the rest of the message
 * (which vifd waits for before acting on it) follow. */
static int send_last_ref(struct vif *v, struct vu_msg *m, int fd)
{
	if (vif_raw_msg(v, m, sizeof(struct vu_hdr), &fd, 1, NULL, 0) < 0)
		return -1;
	usleep(100000);
	close(fd);
	return send(v->sock, &m->p, m->hdr.size, MSG_NOSIGNAL) == (ssize_t)m->hdr.size ? 0 : -1;
}

/* The attack is in place: vifd has the last reference. Keeps the peer (so
 * the close keeps sleeping) for HOLD_S whatever vifd does, then leaves
 * (the peer goes, the close returns). Fails if vifd kept the connection. */
static int hold(struct vif *v)
{
	uint64_t t0 = now_ms();
	int r;

	ready();
	r = expect_drop(v);
	vif_close(v);
	while (now_ms() - t0 < HOLD_S * 1000)
		usleep(100000);
	return r;
}

static int c_linger_kick(void)
{
	struct vif *v = raw_open();
	int peer, lsn, fd = linger_socket(60, &peer, &lsn);
	uint64_t idx = 1;
	struct vu_msg m = mk(VU_SET_VRING_KICK, &idx, 8);

	if (!v || fd < 0)
		return fail("setup");
	if (send_last_ref(v, &m, fd) < 0)
		return fail("send");
	return hold(v);
}

/* The same file as guest memory: refused without a call that could wait
 * for a file system (fcntl F_GET_SEALS), and closed off the control thread. */
static int c_linger_mem(void)
{
	struct vif *v = raw_open();
	int peer, lsn, fd = linger_socket(60, &peer, &lsn);
	struct vu_mem_table t;
	struct vu_msg m;

	if (!v || fd < 0)
		return fail("setup");
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct vu_mem_region){ 0, 1 << 20, 0x10000000, 0 };
	m = mk(VU_SET_MEM_TABLE, &t, 8 + sizeof(struct vu_mem_region));
	if (send_last_ref(v, &m, fd) < 0)
		return fail("send");
	return hold(v);
}

/* The control queue's call eventfd made blocking and full: vifd writes it
 * on its control thread, where the write must be cut short (deadline
 * timer) and the port stopped. */
static int c_ctrl_call_blocking(void)
{
	struct vif_config c;
	struct vif *v;
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t big = 0xfffffffffffffffeull, idx;
	struct vu_msg m;
	uint8_t on = 1;

	vif_config_init(&c);
	c.path = sock_path;
	c.ctrl_vq = true;
	c.mac[0] = 0x02;
	c.mac[5] = 0x67;
	if (vif_open(&c, &v) < 0 || !v->has_ctrl || efd < 0)
		return fail("open with a control queue");
	if (write(efd, &big, sizeof(big)) != sizeof(big))
		return 2;
	idx = v->cvq.index;
	m = mk(VU_SET_VRING_CALL, &idx, 8);
	send_m(v, &m, &efd, 1);
	usleep(300000); /* vifd sets O_NONBLOCK on it: clear it again */
	fcntl(efd, F_SETFL, fcntl(efd, F_GETFL) & ~O_NONBLOCK);
	/* Ask for a notification of the next used entry. */
	v->cvq.avail->flags = 0;
	*v->cvq.used_event = v->cvq.last_used;
	ready();
	vif_ctrl_cmd(v, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1);
	sleep(2);
	_exit(0); /* leave the rings as they are */
}

/* Sends m (with fds) without pause for ms milliseconds; returns the count. */
static unsigned long flood(struct vif *v, const struct vu_msg *m, const int *fds, unsigned nfds,
                           unsigned ms)
{
	size_t len = sizeof(struct vu_hdr) + m->hdr.size;
	unsigned long n = 0;
	uint64_t end = now_ms() + ms;
	char sink[4096];

	while (now_ms() < end) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { (void *)m, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct pollfd p = { .fd = v->sock, .events = POLLOUT };
		ssize_t r;

		if (nfds) {
			mh.msg_control = u.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		/* Replies (acks) must not pile up in our receive queue: vifd
		 * would find its socket full. */
		while (recv(v->sock, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		r = sendmsg(v->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r == (ssize_t)len) {
			n++;
			continue;
		}
		if (r < 0 && errno != EAGAIN)
			break; /* dropped */
		poll(&p, 1, 10);
	}
	printf("sent %lu\n", n);
	fflush(stdout);
	return n;
}

enum { FLOOD_MS = 4000 };

/* SET_VRING_ENABLE 1 to a ring that is enabled, without pause: valid, and
 * a change of nothing. */
static int c_flood_enable(void)
{
	struct vif *v = good_open();
	struct vu_vring_state st = { 1, 1 };
	struct vu_msg m = mk(VU_SET_VRING_ENABLE, &st, sizeof(st));

	if (!v)
		return fail("open");
	ready();
	flood(v, &m, NULL, 0, FLOOD_MS);
	vif_close(v);
	return 0;
}

static int c_flood_owner(void)
{
	struct vif *v = raw_open();
	struct vu_msg m = mk(VU_SET_OWNER, NULL, 0);

	if (!v)
		return fail("connect");
	ready();
	flood(v, &m, NULL, 0, FLOOD_MS);
	vif_close(v);
	return 0;
}

/* SET_MEM_TABLE again and again with the table in use (a change each time:
 * new fds, new mappings) on a running device: each carries an fd, each
 * must remap; one wake-up's worth shares one quiesce. */
static int c_flood_mem_table(void)
{
	struct vif *v = good_open();
	struct vu_mem_table t;
	struct vu_msg m;

	if (!v)
		return fail("open");
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct vu_mem_region){ gpa(v, 0), v->mem_size, gpa(v, 0), 0 };
	m = mk(VU_SET_MEM_TABLE, &t, 8 + sizeof(struct vu_mem_region));
	ready();
	flood(v, &m, &v->mem_fd, 1, FLOOD_MS);
	vif_close(v);
	return 0;
}

/* Valid SET_LOG_BASE messages (each maps the log again, answers, and logs
 * a line) without pause: vifd's log, publishes and memory must not grow
 * with them, and the connection stays (031 checks the count sent). */
static int c_flood_log_base(void)
{
	struct vif *v = raw_open();
	struct vu_log lg = { .mmap_size = 4096, .mmap_offset = 0 };
	struct vu_msg m = mk(VU_SET_LOG_BASE, &lg, sizeof(lg));
	uint64_t f = 1ull << VU_F_PROTOCOL_FEATURES, pf = 1ull << VU_PF_LOG_SHMFD;
	struct vu_msg sf = mk(VU_SET_FEATURES, &f, 8), spf = mk(VU_SET_PROTOCOL_FEATURES, &pf, 8);
	int fd = sealed_memfd(4096);

	if (!v || fd < 0)
		return fail("connect");
	/* A log vifd accepts (and answers), again and again. */
	if (send_m(v, &sf, NULL, 0) < 0 || send_m(v, &spf, NULL, 0) < 0)
		return fail("negotiate");
	ready();
	flood(v, &m, &fd, 1, 3000);
	vif_close(v);
	return 0;
}

/* Eight regions of a sparse 64 TiB memfd: 64 TiB of vifd's address space
 * for nothing. Over the per-port limit: refused. */
static int c_mem_sparse_huge(void)
{
	enum { N = VU_MAX_MEM_REGIONS };
	const uint64_t each = 8ull << 40;
	struct vu_mem_region reg[N];
	int fds[N], fd = memfd_of(N * each), r;

	if (fd < 0)
		return fail("memfd of 64 TiB");
	for (int i = 0; i < N; i++) {
		reg[i] = (struct vu_mem_region){ i * each, each, 0x100000000000ull + i * each, i * each };
		fds[i] = fd;
	}
	ready();
	r = mem_table(reg, N, fds, N);
	close(fd);
	return r;
}

/* Transmit frames whose buffers lie on pages of the guest's memfd it never
 * wrote: reading them would make the kernel allocate the pages, charged to
 * vifd. The guest grows its memfd by 1 GiB of holes, remaps, and keeps
 * its tx ring full of one-page frames at fresh pages for 2 s. */
static int c_tx_untouched(void)
{
	struct vif *v = good_open();
	const uint64_t extra = 1ull << 30;
	struct vu_mem_table t;
	struct vu_msg m;
	struct vif_vq *q;
	uint64_t off, end;

	if (!v)
		return fail("open");
	if (ftruncate(v->mem_fd, (off_t)(v->mem_size + extra)) < 0)
		return fail("grow the memfd");
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct vu_mem_region){ gpa(v, 0), v->mem_size + extra, gpa(v, 0), 0 };
	m = mk(VU_SET_MEM_TABLE, &t, 8 + sizeof(struct vu_mem_region));
	if (vif_raw_msg(v, &m, sizeof(struct vu_hdr) + m.hdr.size, &v->mem_fd, 1, NULL, 0) < 0)
		return fail("remap");
	usleep(200000);
	q = vif_vring(v, 1);
	off = (v->mem_size + 4095) & ~4095ull;
	end = v->mem_size + extra;
	ready();
	for (uint64_t t0 = now_ms(); now_ms() - t0 < 2000 && off < end;) {
		/* Reuse descriptors vifd has returned; post one frame per fresh page. */
		uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
		while ((uint16_t)(q->avail_idx - used) < q->num && off < end) {
			uint16_t h = q->avail_idx & q->mask;
			setd(&q->desc[h], (uint64_t)(uintptr_t)v->mem + off, 1500, 0, 0);
			q->avail->ring[h] = h;
			q->avail_idx++;
			off += 4096;
		}
		__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
		static const uint64_t one = 1;
		if (write(q->kick_fd, &one, sizeof(one)) < 0) {
		}
		usleep(1000);
	}
	printf("posted %llu pages\n", (unsigned long long)((off - v->mem_size) >> 12));
	fflush(stdout);
	_exit(0); /* the rings hold our garbage: leave without a clean close */
}

/* A transmit ring with no kick fd (VHOST_USER_VRING_NOFD_MASK), then
 * silence for 3 s: vifd must poll it at a bounded cost, not spin. */
static int c_tx_kick_nofd(void)
{
	struct vif *v = good_open();
	uint64_t idx = 1 | VU_VRING_NOFD_MASK;
	struct vu_msg m = mk(VU_SET_VRING_KICK, &idx, 8);

	if (!v)
		return fail("open");
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	if (vif_raw_msg(v, &m, sizeof(struct vu_hdr) + 8, NULL, 0, NULL, 0) < 0)
		return fail("SET_VRING_KICK nofd");
	usleep(300000);
	ready();
	sleep(3);
	vif_close(v);
	return 0;
}

#define RING(fn) static int r_##fn(void) { return ring_attack(b_##fn); }
RING(addr_oob)
RING(len_overflow)
RING(addr_wrap)
RING(loop)
RING(chain_longer_than_ring)
RING(next_oob)
RING(bad_head)
RING(avail_jump)
RING(indirect_oob)
RING(indirect_nested)
RING(indirect_badlen)
RING(writable_tx)
RING(truncate_memory)
RING(remap_away)

struct hcase {
	const char *name;
	int (*fn)(void);
	const char *expect; /* "msg": connection dropped, msg_errors moves;
	                     * "stop": guest_stops moves; "offload": drops.offload
	                     * moves, guest_stops does not; "alive": nothing must break */
};

static const struct hcase cases[] = {
	{ "msg-unknown-request", m_unknown, "msg" },
	{ "msg-queue-size-0", m_qsize_0, "msg" },
	{ "msg-queue-size-3", m_qsize_3, "msg" },
	{ "msg-queue-size-65536", m_qsize_65536, "msg" },
	{ "msg-vring-index-out-of-range", m_vring_index, "msg" },
	{ "msg-truncated", m_truncated, "msg" },
	{ "msg-oversized", m_oversized, "msg" },
	{ "msg-reply-flag-from-frontend", m_bad_flags, "msg" },
	{ "msg-bad-version", m_bad_version, "msg" },
	{ "msg-payload-size-wrong", m_wrong_size, "msg" },
	{ "msg-feature-never-offered", m_unoffered_feature, "msg" },
	{ "msg-protocol-feature-not-negotiated", m_pf_not_negotiated, "msg" },
	{ "msg-mem-fd-count", m_mem_fd_count, "msg" },
	{ "msg-mem-overlap", m_mem_overlap, "msg" },
	{ "msg-mem-zero-size", m_mem_zero, "msg" },
	{ "msg-mem-file-shorter", m_mem_short_file, "msg" },
	{ "msg-mem-address-wraps", m_mem_wrap, "msg" },
	{ "msg-mem-nine-regions", m_mem_nine, "msg" },
	{ "msg-kick-nofd-flag-with-fd", m_kick_flag_mismatch, "msg" },
	{ "msg-kick-fd-missing", m_kick_missing_fd, "msg" },
	{ "msg-kick-not-eventfd", m_kick_regular_file, "msg" },
	{ "msg-call-not-eventfd", m_call_not_eventfd, "msg" },
	{ "msg-too-many-fds", m_too_many_fds, "msg" },
	{ "msg-log-hugetlbfs-or-disk-file", m_log_hugetlb, "msg" },
	{ "msg-log-size-zero", m_log_size_zero, "msg" },
	{ "msg-log-too-big", m_log_too_big, "msg" },
	{ "msg-log-past-file-end", m_log_past_end, "msg" },
	{ "msg-log-offset-wraps", m_log_offset_wraps, "msg" },
	{ "msg-log-not-memfd", m_log_not_memfd, "msg" },
	{ "msg-inflight-size-wrong", m_inflight_size_wrong, "msg" },
	{ "msg-inflight-past-file-end", m_inflight_past_file_end, "msg" },
	{ "msg-inflight-not-memfd", m_inflight_not_memfd, "msg" },
	{ "ring-addr-outside-memory", r_addr_oob, "stop" },
	{ "ring-len-overflows-region", r_len_overflow, "stop" },
	{ "ring-addr-wraps", r_addr_wrap, "stop" },
	{ "ring-loop", r_loop, "stop" },
	{ "ring-chain-longer-than-ring", r_chain_longer_than_ring, "stop" },
	{ "ring-next-outside-table", r_next_oob, "stop" },
	{ "ring-bogus-head", r_bad_head, "stop" },
	{ "ring-bogus-avail-index", r_avail_jump, "stop" },
	{ "ring-indirect-outside-memory", r_indirect_oob, "stop" },
	{ "ring-indirect-nested", r_indirect_nested, "stop" },
	{ "ring-indirect-bad-length", r_indirect_badlen, "stop" },
	{ "ring-writable-tx-buffer", r_writable_tx, "stop" },
	{ "ring-memory-truncated-in-use", r_truncate_memory, "stop" },
	{ "ring-inflight-region-corrupt", r_inflight_corrupt, "stop" },
	{ "ring-remap-away-while-running", r_remap_away, "stop" },
	{ "ring-rx-buffers-outside-memory", r_rx_bad, "stop-rx" },
	{ "ring-call-fd-made-blocking-and-full", r_call_blocking, "stop" },
	{ "ring-broken-with-interrupt-held", r_break_with_call_held, "stop-rx" },
	{ "ring-descriptor-changed-after-kick", r_desc_race, "alive" },
	{ "ring-call-reader-gone", r_call_reader_gone, "alive" },
	{ "pring-addr-outside-memory", p_addr_oob, "stop" },
	{ "pring-len-overflows-region", p_len_overflow, "stop" },
	{ "pring-addr-wraps", p_addr_wrap, "stop" },
	{ "pring-zero-length", p_zero_len, "stop" },
	{ "pring-writable-tx-buffer", p_writable_tx, "stop" },
	{ "pring-buffer-id-outside-ring", p_bad_id, "stop" },
	{ "pring-chain-around-the-ring", p_chain_around, "stop" },
	{ "pring-chain-into-unavailable-slot", p_next_unavailable, "stop" },
	{ "pring-chain-into-previous-lap", p_next_wrong_wrap, "stop" },
	{ "pring-indirect-outside-memory", p_indirect_oob, "stop" },
	{ "pring-indirect-nested", p_indirect_nested, "stop" },
	{ "pring-indirect-bad-length", p_indirect_badlen, "stop" },
	{ "pring-indirect-inside-chain", p_indirect_in_chain, "stop" },
	{ "pring-rx-buffers-outside-memory", p_rx_bad, "stop-rx" },
	{ "pring-event-suppression-garbage", p_event_garbage, "alive" },
	{ "hdr-gso-not-negotiated", o_gso_not_negotiated, "offload" },
	{ "hdr-csum-not-negotiated", o_csum_not_negotiated, "offload" },
	{ "hdr-gso-unknown-type", o_gso_unknown_type, "offload" },
};

/* The containment cases (issue 14): class, then what vifd must do
 * ("msg": connection dropped and msg_errors moves; "stop": guest_stops
 * moves; "held": close_stuck moves; "alive": nothing breaks). */
static const struct hcase containment[] = {
	{ "fd-lingering-socket-as-kick", c_linger_kick, "held" },
	{ "fd-lingering-socket-as-memory", c_linger_mem, "held" },
	{ "ctrl-call-fd-made-blocking-and-full", c_ctrl_call_blocking, "stop" },
	{ "flood-set-vring-enable-unchanged", c_flood_enable, "alive" },
	{ "flood-set-owner", c_flood_owner, "alive" },
	{ "flood-set-mem-table-in-use", c_flood_mem_table, "alive" },
	{ "flood-set-log-base", c_flood_log_base, "alive" },
	{ "mem-sparse-64tib", c_mem_sparse_huge, "msg" },
	{ "tx-buffers-in-untouched-memory", c_tx_untouched, "stop" },
	{ "tx-kick-nofd-idle", c_tx_kick_nofd, "alive" },
};

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			printf("%s %s\n", cases[i].name, cases[i].expect);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--list-containment")) {
		for (size_t i = 0; i < ARRAY_SIZE(containment); i++)
			printf("%s %s\n", containment[i].name, containment[i].expect);
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "--sock")) {
		fprintf(stderr, "usage: hostile --sock PATH CASE | hostile --list\n");
		return 2;
	}
	sock_path = argv[2];
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (!strcmp(argv[3], cases[i].name))
			return cases[i].fn();
	for (size_t i = 0; i < ARRAY_SIZE(containment); i++)
		if (!strcmp(argv[3], containment[i].name))
			return containment[i].fn();
	fprintf(stderr, "hostile: unknown case %s\n", argv[3]);
	return 2;
}
