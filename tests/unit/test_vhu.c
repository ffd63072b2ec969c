/* test_vhu.c - what vhost-user messages cost the datapath (issue 14, class
 * 2), counted through the embedder's quiesce/changed callbacks, on a real
 * device fed through a socketpair:
 *  - a device with live rings: messages that change nothing (the same
 *    SET_VRING_ENABLE, SET_FEATURES again, SET_OWNER) neither quiesce nor
 *    republish;
 *  - messages that change a live ring, sent together, quiesce and
 *    republish once for the whole wake-up's batch;
 *  - a message that changes a ring no worker uses quiesces nothing;
 *  - one wake-up handles at most VHU_MSG_BUDGET messages of a connection;
 * and packed rings' sizes and 32-bit bases (SET and GET_VRING_BASE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "closer.h"
#include "evloop.h"
#include "vhu_impl.h"

static unsigned nquiesce, nchanged;
static void count_quiesce(struct vhu_dev *d, void *ctx) { (void)d, (void)ctx; nquiesce++; }
static void count_changed(struct vhu_dev *d, void *ctx) { (void)d, (void)ctx; nchanged++; }
static const struct vhu_dev_ops ops = { count_quiesce, count_changed };

static int sp[2];
static struct evloop *ev;

/* Queues one message (and fd, if fd >= 0) on the frontend's end. */
static void put(uint32_t req, const void *payload, uint32_t size, int fd)
{
	struct {
		struct vu_hdr h;
		uint8_t p[64];
	} __attribute__((packed)) m = { { req, VU_VERSION, size }, { 0 } };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(struct vu_hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size)
		memcpy(m.p, payload, size);
	if (fd >= 0) {
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	CHECK_EQ(sendmsg(sp[1], &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
}

static void state(uint32_t req, uint32_t idx, uint32_t num)
{
	struct vu_vring_state s = { idx, num };
	put(req, &s, sizeof(s), -1);
}

static void vring_file(uint32_t req, uint32_t idx)
{
	uint64_t v = idx;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	put(req, &v, sizeof(v), efd);
	close(efd);
}

/* Runs the device's loop until its socket is drained (one wake-up per
 * round); returns the rounds. */
static unsigned drain(void)
{
	unsigned rounds = 0;
	int q;

	do {
		evloop_run_once(ev, 0);
		rounds++;
		CHECK_EQ(ioctl(sp[0], FIONREAD, &q), 0);
	} while (q > 0 && rounds < 1000);
	return rounds;
}


/* Reads one reply (header + vring state) from the frontend's end. */
static bool get_state(struct vu_vring_state *st)
{
	struct {
		struct vu_hdr h;
		struct vu_vring_state s;
	} __attribute__((packed)) r;

	if (recv(sp[1], &r, sizeof(r), MSG_DONTWAIT) != (ssize_t)sizeof(r))
		return false;
	*st = r.s;
	return r.h.request == VU_GET_VRING_BASE && r.h.size == sizeof(r.s);
}

/* Packed rings (VIRTIO_F_RING_PACKED): any ring size up to 32768, the
 * 32-bit base both ways, a base outside the ring refused. */
static void test_packed(const char *dir, int mfd, uint64_t mem, uint64_t uva)
{
	uint64_t feat = 1ull << 32 | 1ull << 34; /* VERSION_1, RING_PACKED */
	struct vu_vring_state st;
	struct vu_mem_table t;
	struct vhu_dev *d;
	char path[64];

	snprintf(path, sizeof(path), "%s/p", dir);
	CHECK_EQ(vhu_dev_create(ev, "p", path, false, 1, &ops, NULL, &d), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	CHECK_EQ(vhu_conn_adopt(d, sp[0]), 0);
	CHECK(vhu_features_offered() & 1ull << 34);
	put(VU_SET_FEATURES, &feat, 8, -1);
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct vu_mem_region){ 0, mem, uva, 0 };
	put(VU_SET_MEM_TABLE, &t, 8 + sizeof(struct vu_mem_region), mfd);
	for (uint32_t i = 0; i < 2; i++) {
		struct vu_vring_addr a = { .index = i, .desc_user_addr = uva + 0x4000 * i,
		                           .avail_user_addr = uva + 0x4000 * i + 0x1000,
		                           .used_user_addr = uva + 0x4000 * i + 0x2000 };
		state(VU_SET_VRING_NUM, i, 10); /* not a power of two */
		put(VU_SET_VRING_ADDR, &a, sizeof(a), -1);
		/* ring 0: both halves; ring 1: the avail half only (DPDK) */
		state(VU_SET_VRING_BASE, i, i ? 3u | 1u << 15 : 7u | (5u | 1u << 15) << 16);
		vring_file(VU_SET_VRING_CALL, i);
		vring_file(VU_SET_VRING_KICK, i);
	}
	drain();
	CHECK(d->vr[0].live && d->vr[1].live);
	CHECK(d->vr[0].vq.packed && d->vr[0].vq.size == 10);
	/* ring 0 had chains in flight (used 5, avail 7): resumes at 5 */
	CHECK_EQ(d->vr[0].vq.last_avail, 5);
	CHECK_EQ(d->vr[1].vq.last_avail, 3);
	CHECK_EQ(d->cnt.msg_errors, 0);
	state(VU_GET_VRING_BASE, 0, 0);
	state(VU_GET_VRING_BASE, 1, 0);
	drain();
	CHECK(get_state(&st));
	CHECK_EQ(st.num, 5u | 1u << 15 | (5u | 1u << 15) << 16);
	CHECK(get_state(&st));
	CHECK_EQ(st.num, 3u | 1u << 15 | (3u | 1u << 15) << 16);
	CHECK(!d->vr[0].live);
	/* A base outside the ring drops the connection (so sp[0] is closed:
	 * not drain(), which asks it how much is left). */
	state(VU_SET_VRING_BASE, 0, 10u | 1u << 15);
	for (int i = 0; i < 10 && d->cnt.msg_errors == 0; i++)
		evloop_run_once(ev, 10);
	CHECK_EQ(d->cnt.msg_errors, 1);
	vhu_dev_destroy(d);
	close(sp[1]);
}

int main(void)
{
	enum { MEM = 64 << 10, UVA = 0x100000, QN = 16 };
	char dir[] = "/tmp/test_vhu.XXXXXX", path[64];
	int mfd = memfd_create("vhu", MFD_CLOEXEC);
	uint64_t feat = 1ull << 32; /* VIRTIO_F_VERSION_1; no protocol features */
	struct vu_mem_table t;
	struct vhu_dev *d;
	uint64_t msgs0;
	uint8_t *p;

	vlog_set_level(LOG_ERR);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/s", dir);
	CHECK_EQ(evloop_create(&ev), 0);
	CHECK_EQ(vhu_dev_create(ev, "t", path, false, 1, &ops, NULL, &d), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	CHECK_EQ(vhu_conn_adopt(d, sp[0]), 0);

	/* A device with both data rings live: memory written once (no
	 * holes), rings at 4 KiB steps. */
	CHECK_EQ(ftruncate(mfd, MEM), 0);
	p = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 0, MEM);
	put(VU_SET_FEATURES, &feat, 8, -1);
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct vu_mem_region){ 0, MEM, UVA, 0 };
	put(VU_SET_MEM_TABLE, &t, 8 + sizeof(struct vu_mem_region), mfd);
	for (uint32_t i = 0; i < 2; i++) {
		struct vu_vring_addr a = { .index = i, .desc_user_addr = UVA + 0x4000 * i,
		                           .avail_user_addr = UVA + 0x4000 * i + 0x1000,
		                           .used_user_addr = UVA + 0x4000 * i + 0x2000 };
		state(VU_SET_VRING_NUM, i, QN);
		put(VU_SET_VRING_ADDR, &a, sizeof(a), -1);
		state(VU_SET_VRING_BASE, i, 0);
		vring_file(VU_SET_VRING_CALL, i);
		vring_file(VU_SET_VRING_KICK, i);
	}
	drain();
	CHECK(d->vr[0].live && d->vr[1].live);
	/* Nothing was live while it was set up: no quiesce at all. */
	CHECK_EQ(nquiesce, 0);
	CHECK(nchanged >= 1);

	/* Messages that change nothing: 30 of them in one wake-up. */
	nquiesce = nchanged = 0;
	for (int i = 0; i < 10; i++) {
		state(VU_SET_VRING_ENABLE, 1, 0); /* its value (no protocol features) */
		put(VU_SET_FEATURES, &feat, 8, -1);
		put(VU_SET_OWNER, NULL, 0, -1);
	}
	drain();
	CHECK_EQ(nquiesce, 0);
	CHECK_EQ(nchanged, 0);
	CHECK(d->vr[0].live && d->vr[1].live);

	/* Changes of a live ring, ten in one wake-up: one quiesce, one
	 * republish, and the ring is live again. */
	nquiesce = nchanged = 0;
	for (int i = 0; i < 10; i++)
		vring_file(VU_SET_VRING_CALL, 0);
	CHECK_EQ(drain(), 1);
	CHECK_EQ(nquiesce, 1);
	CHECK_EQ(nchanged, 1);
	CHECK(d->vr[0].live && d->vr[1].live);

	/* A change of a ring no worker uses (vring 0's error fd is not even
	 * read; a ring that is not live): no quiesce. */
	nquiesce = nchanged = 0;
	vring_file(VU_SET_VRING_ERR, 0);
	state(VU_SET_VRING_NUM, 2, QN); /* the control queue's slot, not set up */
	drain();
	CHECK_EQ(nquiesce, 0);

	/* The budget: 100 messages take at least ceil(100 / budget) wake-ups,
	 * and the first handles exactly VHU_MSG_BUDGET. */
	msgs0 = d->cnt.msgs;
	for (int i = 0; i < 100; i++)
		put(VU_SET_OWNER, NULL, 0, -1);
	evloop_run_once(ev, 0);
	CHECK_EQ(d->cnt.msgs - msgs0, VHU_MSG_BUDGET);
	CHECK(drain() >= (100 - VHU_MSG_BUDGET + VHU_MSG_BUDGET - 1) / VHU_MSG_BUDGET); /* 3 */
	CHECK_EQ(d->cnt.msgs - msgs0, 100);
	CHECK_EQ(d->cnt.msg_errors, 0);

	vhu_dev_destroy(d);
	close(sp[1]);
	test_packed(dir, mfd, MEM, UVA);
	closer_stop(1000);
	evloop_destroy(ev);
	munmap(p, MEM);
	close(mfd);
	rmdir(dir);
	return check_result("test_vhu");
}
