/* hostile.c - a deliberately misbehaving vhost-user frontend, built on
 * libvif's internals (vif_impl.h), for the hostile-guest suite
 * (tests/integration/030-hostile-guests.sh).
 *
 *   hostile --sock PATH CASE      run one attack against vifd's port at PATH
 *   hostile --list                print the case names and what vifd must do
 *
 * Two kinds of case:
 *  - msg:  a raw connection sends a malformed or forbidden message sequence;
 *          the case passes when vifd drops the connection within 3 s.
 *  - ring: a normally negotiated device then breaks the virtqueue rules in
 *          its own shared memory and kicks; vifd must stop the port (the
 *          script checks the port's guest_stops counter; this program only
 *          performs the attack).
 * Exit 0: the attack was delivered (and, for msg, refused as required). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vif_impl.h"

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
	                     * "stop": guest_stops moves; "alive": nothing must break */
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
	{ "ring-remap-away-while-running", r_remap_away, "stop" },
	{ "ring-rx-buffers-outside-memory", r_rx_bad, "stop-rx" },
	{ "ring-call-fd-made-blocking-and-full", r_call_blocking, "stop" },
	{ "ring-descriptor-changed-after-kick", r_desc_race, "alive" },
	{ "ring-call-reader-gone", r_call_reader_gone, "alive" },
};

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			printf("%s %s\n", cases[i].name, cases[i].expect);
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
	fprintf(stderr, "hostile: unknown case %s\n", argv[3]);
	return 2;
}
