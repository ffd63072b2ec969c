/* test_vq.c - the split-ring walk (src/virtio/vq.h) and guest memory map
 * (gmem) against hostile rings: every rule of STYLE.md §6 has a case, the
 * invalid ones first, then the valid shapes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fakemem.h"
#include "vq.h"

enum {
	QSZ = 128,
	MEM = 1 << 20,
	GPA = 0x100000,
	DESC_OFF = 0x0,
	AVAIL_OFF = 0x1000,
	USED_OFF = 0x2000,
	IND_OFF = 0x4000,  /* indirect tables */
	BUF_OFF = 0x10000, /* packet buffers */
};
#define UVA 0x7f0000000000ull

static struct fakemem fm;
static struct vq q;

static struct vring_desc *D(unsigned i)
{
	return (struct vring_desc *)fm_ptr(&fm, DESC_OFF) + i;
}

static struct vring_avail *A(void)
{
	return fm_ptr(&fm, AVAIL_OFF);
}

static void setd(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Resets the ring and makes `head` available once. */
static void reset(uint16_t head)
{
	char err[128];

	memset(fm_ptr(&fm, 0), 0, BUF_OFF);
	CHECK_EQ(vq_setup(&q, &fm.mem, QSZ, fm_uva(&fm, DESC_OFF), fm_uva(&fm, AVAIL_OFF),
	                  fm_uva(&fm, USED_OFF), 0, err, sizeof(err)), 0);
	q.max_len = 70000;
	q.indirect = true;
	q.event_idx = true;
	q.callfd = -1;
	A()->ring[0] = head;
	A()->idx = 1;
}

static int pop(bool want_write, struct vq_chain *c)
{
	int n = vq_avail_count(&q);
	if (n <= 0)
		return n < 0 ? n : 99;
	return vq_pop(&q, c, want_write ? VQ_IN : VQ_OUT);
}

static struct vq_chain ch;
#define BUF(n) fm_gpa(&fm, BUF_OFF + (n) * 0x1000)

static void test_setup_refused(void)
{
	char err[128];
	struct vq t;

	memset(&t, 0, sizeof(t));
	CHECK_EQ(vq_setup(&t, &fm.mem, 0, fm_uva(&fm, 0), fm_uva(&fm, AVAIL_OFF), fm_uva(&fm, USED_OFF), 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup(&t, &fm.mem, 3, fm_uva(&fm, 0), fm_uva(&fm, AVAIL_OFF), fm_uva(&fm, USED_OFF), 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup(&t, &fm.mem, 65536, fm_uva(&fm, 0), fm_uva(&fm, AVAIL_OFF), fm_uva(&fm, USED_OFF), 0, err, sizeof(err)), -EINVAL);
	/* misaligned descriptor table / used ring */
	CHECK_EQ(vq_setup(&t, &fm.mem, QSZ, fm_uva(&fm, 8), fm_uva(&fm, AVAIL_OFF), fm_uva(&fm, USED_OFF), 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup(&t, &fm.mem, QSZ, fm_uva(&fm, 0), fm_uva(&fm, AVAIL_OFF), fm_uva(&fm, USED_OFF + 2), 0, err, sizeof(err)), -EINVAL);
	/* used ring running past the end of memory */
	CHECK_EQ(vq_setup(&t, &fm.mem, QSZ, fm_uva(&fm, 0), fm_uva(&fm, AVAIL_OFF), fm_uva(&fm, MEM - 16), 0, err, sizeof(err)), -EINVAL);
	/* addresses given as guest-physical instead of frontend-virtual */
	CHECK_EQ(vq_setup(&t, &fm.mem, QSZ, fm_gpa(&fm, 0), fm_gpa(&fm, AVAIL_OFF), fm_gpa(&fm, USED_OFF), 0, err, sizeof(err)), -EINVAL);
	/* a ring of 32768 entries needs 512 KiB of descriptors: fits here */
	CHECK_EQ(vq_setup(&t, &fm.mem, 32768, fm_uva(&fm, 0x80000), fm_uva(&fm, 0x8000), fm_uva(&fm, 0x20000), 0, err, sizeof(err)), 0);
}

struct bad_case {
	const char *name;
	void (*build)(void);
	bool want_write;
	int err;
};

static void b_head_oob(void) { reset(QSZ); }
static void b_next_oob(void) { reset(0); setd(D(0), BUF(0), 100, VRING_DESC_F_NEXT, QSZ + 5); }
static void b_loop(void)
{
	reset(0);
	setd(D(0), BUF(0), 10, VRING_DESC_F_NEXT, 1);
	setd(D(1), BUF(1), 10, VRING_DESC_F_NEXT, 0);
}
/* A loop in a table smaller than VQ_MAX_IOV ends on the hop count; in a
 * larger one the segment limit stops it first (also a refusal). */
static void b_self_loop(void)
{
	struct vring_desc *t = fm_ptr(&fm, IND_OFF);
	reset(0);
	setd(D(0), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
	setd(&t[0], BUF(0), 10, VRING_DESC_F_NEXT, 1);
	setd(&t[1], BUF(1), 10, VRING_DESC_F_NEXT, 0);
}
static void b_zero_len(void) { reset(0); setd(D(0), BUF(0), 0, 0, 0); }
static void b_loop_with_len(void) { reset(7); setd(D(7), BUF(0), 10, VRING_DESC_F_NEXT, 7); }
static void b_addr_below(void) { reset(0); setd(D(0), GPA - 4096, 100, 0, 0); }
static void b_addr_above(void) { reset(0); setd(D(0), GPA + MEM, 100, 0, 0); }
static void b_len_past_end(void) { reset(0); setd(D(0), GPA + MEM - 64, 65, 0, 0); }
static void b_addr_wrap(void) { reset(0); setd(D(0), UINT64_MAX - 15, 64, 0, 0); }
static void b_write_in_tx(void) { reset(0); setd(D(0), BUF(0), 100, VRING_DESC_F_WRITE, 0); }
static void b_read_in_rx(void) { reset(0); setd(D(0), BUF(0), 100, 0, 0); }
static void b_too_long(void)
{
	reset(0);
	setd(D(0), BUF(0), 65536, VRING_DESC_F_NEXT, 1);
	setd(D(1), BUF(20), 65536, 0, 0);
}
static void b_too_many_segs(void)
{
	reset(0);
	for (unsigned i = 0; i < VQ_MAX_IOV + 1; i++)
		setd(D(i), BUF(0) + i, 1, i < VQ_MAX_IOV ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
}
static void b_ind_len_odd(void) { reset(0); setd(D(0), fm_gpa(&fm, IND_OFF), 24, VRING_DESC_F_INDIRECT, 0); }
static void b_ind_len_zero(void) { reset(0); setd(D(0), fm_gpa(&fm, IND_OFF), 0, VRING_DESC_F_INDIRECT, 0); }
static void b_ind_too_big(void) { reset(0); setd(D(0), fm_gpa(&fm, IND_OFF), 16 * (QSZ + 1), VRING_DESC_F_INDIRECT, 0); }
static void b_ind_oob(void) { reset(0); setd(D(0), GPA + MEM - 32, 64, VRING_DESC_F_INDIRECT, 0); }
static void b_ind_next(void)
{
	reset(0);
	setd(D(0), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
}
static void b_ind_nested(void)
{
	struct vring_desc *t = fm_ptr(&fm, IND_OFF);
	reset(0);
	setd(D(0), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
	setd(&t[0], fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_not_first(void)
{
	reset(0);
	setd(D(0), BUF(0), 10, VRING_DESC_F_NEXT, 1);
	setd(D(1), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_loop(void)
{
	struct vring_desc *t = fm_ptr(&fm, IND_OFF);
	reset(0);
	setd(D(0), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
	setd(&t[0], BUF(0), 10, VRING_DESC_F_NEXT, 1);
	setd(&t[1], BUF(1), 10, VRING_DESC_F_NEXT, 0);
}
static void b_ind_next_oob(void)
{
	struct vring_desc *t = fm_ptr(&fm, IND_OFF);
	reset(0);
	setd(D(0), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
	setd(&t[0], BUF(0), 10, VRING_DESC_F_NEXT, 2);
}
static void b_ind_unnegotiated(void)
{
	reset(0);
	q.indirect = false;
	setd(D(0), fm_gpa(&fm, IND_OFF), 32, VRING_DESC_F_INDIRECT, 0);
}
static void b_avail_jump(void) { reset(0); A()->idx = QSZ + 1; }

static const struct bad_case bad[] = {
	{ "head outside table", b_head_oob, false, VQ_ERR_HEAD },
	{ "next outside table", b_next_oob, false, VQ_ERR_HEAD },
	{ "two-descriptor loop", b_loop, false, VQ_ERR_SEGS },
	{ "loop inside a 2-entry indirect table", b_self_loop, false, VQ_ERR_LOOP },
	{ "zero-length buffer", b_zero_len, false, VQ_ERR_ZERO },
	{ "loop of non-empty buffers", b_loop_with_len, false, VQ_ERR_SEGS },
	{ "address below memory", b_addr_below, false, VQ_ERR_ADDR },
	{ "address above memory", b_addr_above, false, VQ_ERR_ADDR },
	{ "length past region end", b_len_past_end, false, VQ_ERR_ADDR },
	{ "address + length wraps", b_addr_wrap, false, VQ_ERR_ADDR },
	{ "writable buffer in tx chain", b_write_in_tx, false, VQ_ERR_DIRECTION },
	{ "readable buffer in rx chain", b_read_in_rx, true, VQ_ERR_DIRECTION },
	{ "chain longer than max_len", b_too_long, false, VQ_ERR_LEN },
	{ "chain with too many segments", b_too_many_segs, false, VQ_ERR_SEGS },
	{ "indirect length not multiple of 16", b_ind_len_odd, false, VQ_ERR_INDIRECT },
	{ "indirect length zero", b_ind_len_zero, false, VQ_ERR_INDIRECT },
	{ "indirect table larger than ring", b_ind_too_big, false, VQ_ERR_INDIRECT },
	{ "indirect table outside memory", b_ind_oob, false, VQ_ERR_INDIRECT },
	{ "indirect with NEXT", b_ind_next, false, VQ_ERR_INDIRECT },
	{ "nested indirect", b_ind_nested, false, VQ_ERR_INDIRECT },
	{ "indirect not first in chain", b_ind_not_first, false, VQ_ERR_INDIRECT },
	{ "loop inside indirect table", b_ind_loop, false, VQ_ERR_LOOP },
	{ "next outside indirect table", b_ind_next_oob, false, VQ_ERR_HEAD },
	{ "indirect not negotiated", b_ind_unnegotiated, false, VQ_ERR_INDIRECT },
	{ "avail index beyond ring size", b_avail_jump, false, VQ_ERR_AVAIL_IDX },
};

static void test_bad_chains(void)
{
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;
		bad[i].build();
		r = pop(bad[i].want_write, &ch);
		if (r != -bad[i].err)
			fprintf(stderr, "case '%s': got %d (%s), want %d\n", bad[i].name, r,
			        vq_err_str(r), -bad[i].err);
		CHECK_EQ(r, -bad[i].err);
	}
}

static void test_good_chains(void)
{
	struct vring_desc *t = fm_ptr(&fm, IND_OFF);

	/* one readable buffer */
	reset(3);
	setd(D(3), BUF(0), 1514, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(ch.head, 3);
	CHECK_EQ(ch.niov, 1);
	CHECK_EQ(ch.len, 1514);
	CHECK(ch.iov[0].iov_base == (uint8_t *)fm.mem.r[0].hva + BUF_OFF);
	CHECK_EQ(vq_avail_count(&q), 0);

	/* header + two data descriptors */
	reset(0);
	setd(D(0), BUF(0), 12, VRING_DESC_F_NEXT, 5);
	setd(D(5), BUF(1), 1000, VRING_DESC_F_NEXT, 9);
	setd(D(9), BUF(2), 500, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(ch.niov, 3);
	CHECK_EQ(ch.len, 1512);

	/* indirect table of three */
	reset(1);
	setd(D(1), fm_gpa(&fm, IND_OFF), 48, VRING_DESC_F_INDIRECT, 0);
	setd(&t[0], BUF(0), 12, VRING_DESC_F_NEXT, 1);
	setd(&t[1], BUF(1), 60, VRING_DESC_F_NEXT, 2);
	setd(&t[2], BUF(2), 9000, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(ch.niov, 3);
	CHECK_EQ(ch.len, 9072);

	/* writable rx chain */
	reset(2);
	setd(D(2), BUF(0), 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	setd(D(4), BUF(1), 2048, VRING_DESC_F_WRITE, 0);
	CHECK_EQ(pop(true, &ch), 0);
	CHECK_EQ(ch.niov, 2);
	CHECK_EQ(ch.len, 2148);

	/* a control command: readable header, then a writable ack */
	reset(0);
	setd(D(0), BUF(0), 2, VRING_DESC_F_NEXT, 1);
	setd(D(1), BUF(1), 2, VRING_DESC_F_NEXT, 2);
	setd(D(2), BUF(2), 1, VRING_DESC_F_WRITE, 0);
	CHECK_EQ(vq_pop(&q, &ch, VQ_MIXED), 0);
	CHECK_EQ(ch.niov, 3);
	CHECK_EQ(ch.nout, 2);
	/* ... but never readable after writable */
	reset(0);
	setd(D(0), BUF(0), 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	setd(D(1), BUF(1), 2, 0, 0);
	CHECK_EQ(vq_pop(&q, &ch, VQ_MIXED), -VQ_ERR_DIRECTION);

	/* descriptor changed after the pop: our copy is what we used */
	reset(0);
	setd(D(0), BUF(0), 100, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	setd(D(0), GPA + MEM * 4, 100000, 0, 0);
	CHECK_EQ(ch.len, 100);
	CHECK(ch.iov[0].iov_base == (uint8_t *)fm.mem.r[0].hva + BUF_OFF);

	/* unpop returns the entry */
	reset(0);
	setd(D(0), BUF(0), 100, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	vq_unpop(&q, 1);
	CHECK_EQ(vq_avail_count(&q), 1);
}

static void test_used_and_notify(void)
{
	struct vring_used *u = fm_ptr(&fm, USED_OFF);
	uint16_t *used_event = &A()->ring[QSZ];

	reset(0);
	setd(D(0), BUF(0), 100, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	vq_used_put(&q, ch.head, 0);
	CHECK_EQ(u->idx, 0); /* not yet published */
	vq_used_publish(&q);
	CHECK_EQ(u->idx, 1);
	CHECK_EQ(u->ring[0].id, 0);
	/* EVENT_IDX: the first call always goes; then only when crossing used_event */
	*used_event = 0;
	CHECK(vq_need_call(&q));
	vq_used_put(&q, 0, 0);
	vq_used_publish(&q);
	*used_event = 0; /* the guest wanted a call after entry 0 only */
	CHECK(!vq_need_call(&q));
	*used_event = 2;
	vq_used_put(&q, 0, 0);
	vq_used_publish(&q);
	CHECK(vq_need_call(&q));
	/* without EVENT_IDX the flag decides */
	q.event_idx = false;
	A()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	CHECK(!vq_need_call(&q));
	A()->flags = 0;
	CHECK(vq_need_call(&q));
	/* kick suppression */
	q.event_idx = true;
	vq_kicks_enable(&q);
	uint16_t ae;
	memcpy(&ae, &u->ring[QSZ], sizeof(ae));
	CHECK_EQ(ae, q.last_avail);
	q.event_idx = false;
	vq_kicks_disable(&q);
	CHECK_EQ(u->flags, VRING_USED_F_NO_NOTIFY);
	vq_kicks_enable(&q);
	CHECK_EQ(u->flags, 0);
}

static void test_gmem_refused(void)
{
	struct gmem m;
	char err[128];
	int fds[2] = { fm.fd, fm.fd }, pfd[2];
	struct vu_mem_region r[2] = {
		{ .guest_phys_addr = 0, .memory_size = 0x10000, .userspace_addr = 0x10000, .mmap_offset = 0 },
		{ .guest_phys_addr = 0x8000, .memory_size = 0x10000, .userspace_addr = 0x100000, .mmap_offset = 0 },
	};

	memset(&m, 0, sizeof(m));
	CHECK_EQ(gmem_map(&m, r, fds, 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(gmem_map(&m, r, fds, 9, err, sizeof(err)), -EINVAL);
	CHECK_EQ(gmem_map(&m, r, fds, 2, err, sizeof(err)), -EINVAL); /* overlap in gpa */
	CHECK_EQ(m.nregions, 0);
	r[1].guest_phys_addr = 0x20000;
	r[1].userspace_addr = 0x18000; /* overlap in frontend space */
	CHECK_EQ(gmem_map(&m, r, fds, 2, err, sizeof(err)), -EINVAL);
	r[1].userspace_addr = 0x100000;
	CHECK_EQ(gmem_map(&m, r, fds, 2, err, sizeof(err)), 0);
	gmem_unmap(&m);
	r[0].memory_size = 0; /* zero size */
	CHECK_EQ(gmem_map(&m, r, fds, 1, err, sizeof(err)), -EINVAL);
	r[0].memory_size = MEM * 2; /* longer than the file */
	CHECK_EQ(gmem_map(&m, r, fds, 1, err, sizeof(err)), -EINVAL);
	r[0].memory_size = 0x1000;
	r[0].mmap_offset = MEM; /* offset at the file's end */
	CHECK_EQ(gmem_map(&m, r, fds, 1, err, sizeof(err)), -EINVAL);
	r[0].mmap_offset = UINT64_MAX - 0x800; /* offset + size wraps */
	CHECK_EQ(gmem_map(&m, r, fds, 1, err, sizeof(err)), -EINVAL);
	r[0].mmap_offset = 0;
	r[0].guest_phys_addr = UINT64_MAX - 0x800; /* gpa + size wraps */
	CHECK_EQ(gmem_map(&m, r, fds, 1, err, sizeof(err)), -EINVAL);
	r[0].guest_phys_addr = 0;
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(gmem_map(&m, r, pfd, 1, err, sizeof(err)), -EINVAL); /* not a file */
	close(pfd[0]);
	close(pfd[1]);
	int badfd = 1000;
	CHECK_EQ(gmem_map(&m, r, &badfd, 1, err, sizeof(err)), -EBADF);
}

/* Limits on mapped memory, and which files may be guest memory at all. */
static void test_gmem_limits_and_files(void)
{
	int fd = memfd_create("lim", MFD_CLOEXEC), sk[2], nul = open("/dev/null", O_RDWR);
	struct vu_mem_region r = { .guest_phys_addr = 0, .memory_size = 1 << 20,
	                           .userspace_addr = 0x100000, .mmap_offset = 0 };
	uint64_t tmax, all, before;
	struct gmem m;
	char err[160];

	memset(&m, 0, sizeof(m));
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	gmem_get_limits(&tmax, &all);
	before = gmem_mapped_total();
	gmem_set_limits(512 << 10, 0); /* per table */
	CHECK_EQ(gmem_map(&m, &r, &fd, 1, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "per-port") != NULL);
	gmem_set_limits(0, before + (512 << 10)); /* all tables */
	CHECK_EQ(gmem_map(&m, &r, &fd, 1, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "total") != NULL);
	CHECK_EQ(gmem_mapped_total(), before);
	gmem_set_limits(1 << 20, before + (1 << 20)); /* exactly enough */
	CHECK_EQ(gmem_map(&m, &r, &fd, 1, err, sizeof(err)), 0);
	CHECK_EQ(m.mapped, 1 << 20);
	CHECK_EQ(gmem_mapped_total(), before + (1 << 20));
	gmem_unmap(&m);
	CHECK_EQ(gmem_mapped_total(), before);
	gmem_set_limits(tmax, all);
	/* Files no shared-memory file system serves are refused before any
	 * stat: a socket, a device, a file on disk. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sk), 0);
	CHECK_EQ(gmem_map(&m, &r, &sk[0], 1, err, sizeof(err)), -EINVAL);
	CHECK_EQ(gmem_map(&m, &r, &nul, 1, err, sizeof(err)), -EINVAL);
	int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	CHECK_EQ(gmem_map(&m, &r, &exe, 1, err, sizeof(err)), -EINVAL);
	CHECK_EQ(m.nregions, 0);
	close(exe);
	close(sk[0]);
	close(sk[1]);
	close(nul);
	close(fd);
}

/* Pages the guest never wrote (holes of its memfd): vifd writing one fills
 * it; vifd reading one marks the table broken (hole) without allocating;
 * ring areas are filled ahead (gmem_populate). */
static void test_gmem_holes(void)
{
	int fd = memfd_create("holes", MFD_CLOEXEC);
	struct vu_mem_region r = { .guest_phys_addr = 0, .memory_size = 64 << 12,
	                           .userspace_addr = 0x100000, .mmap_offset = 0 };
	volatile uint8_t *h;
	uint8_t *guest;
	struct gmem m;
	struct stat st;
	char err[160];

	memset(&m, 0, sizeof(m));
	CHECK_EQ(gmem_sigbus_install(), 0);
	CHECK_EQ(ftruncate(fd, 64 << 12), 0);
	guest = mmap(NULL, 64 << 12, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(guest != MAP_FAILED);
	guest[0] = 7; /* page 0 written by the guest */
	CHECK_EQ(gmem_map(&m, &r, &fd, 1, err, sizeof(err)), 0);
	if (!m.r[0].uffd) {
		printf("test_vq: no userfaultfd here: holes not checked\n");
		gmem_unmap(&m);
		close(fd);
		return;
	}
	h = m.r[0].hva;
	CHECK_EQ(h[0], 7);
	h[2 << 12] = 9; /* a receive buffer the guest never touched */
	CHECK_EQ(guest[2 << 12], 9);
	gmem_populate(&m, (const void *)(h + (8 << 12)), 3 << 12); /* a ring area */
	CHECK_EQ(h[9 << 12], 0);
	CHECK(!atomic_load(&m.broken));
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_blocks * 512, 5 << 12); /* pages 0, 2, 8, 9, 10 */
	CHECK_EQ(h[20 << 12], 0); /* a frame the guest never wrote */
	CHECK(atomic_load(&m.broken));
	CHECK(atomic_load(&m.hole));
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_blocks * 512, 5 << 12); /* nothing allocated for it */
	gmem_unmap(&m);
	CHECK(!atomic_load(&m.broken));
	munmap(guest, 64 << 12);
	close(fd);
}

static void test_gmem_translate(void)
{
	int fd = memfd_create("two", MFD_CLOEXEC);
	struct gmem m;
	char err[128];
	uint64_t contig;
	int fds[2] = { fd, fd };
	/* Two regions adjacent in guest space, given out of order, from two
	 * offsets of one file. */
	struct vu_mem_region r[2] = {
		{ .guest_phys_addr = 0x20000, .memory_size = 0x10000, .userspace_addr = 0x900000, .mmap_offset = 0x10000 },
		{ .guest_phys_addr = 0x10000, .memory_size = 0x10000, .userspace_addr = 0x500000, .mmap_offset = 0 },
	};

	CHECK_EQ(ftruncate(fd, 0x20000), 0);
	memset(&m, 0, sizeof(m));
	CHECK_EQ(gmem_map(&m, r, fds, 2, err, sizeof(err)), 0);
	CHECK(m.r[0].gpa == 0x10000); /* sorted */
	CHECK(gmem_gpa(&m, 0xffff, &contig) == NULL);
	CHECK(gmem_gpa(&m, 0x30000, &contig) == NULL);
	CHECK(gmem_gpa(&m, 0x1fff0, &contig) != NULL);
	CHECK_EQ(contig, 0x10);
	CHECK(gmem_gpa_range(&m, 0x1fff0, 0x20) == NULL); /* crosses regions */
	CHECK(gmem_uva_range(&m, 0x90fff0, 0x10) != NULL);
	CHECK(gmem_uva_range(&m, 0x90fff0, 0x11) == NULL);

	/* A buffer crossing the two regions becomes two segments. */
	struct vq t;
	struct vq_chain c;
	memset(&t, 0, sizeof(t));
	CHECK_EQ(vq_setup(&t, &m, 16, 0x500000, 0x500100, 0x500200, 0, err, sizeof(err)), 0);
	t.max_len = 100000;
	struct vring_desc *dt = (struct vring_desc *)m.r[0].hva;
	struct vring_avail *av = (struct vring_avail *)(m.r[0].hva + 0x100);
	setd(&dt[0], 0x1f000, 0x2000, 0, 0);
	av->ring[0] = 0;
	av->idx = 1;
	CHECK_EQ(vq_avail_count(&t), 1);
	CHECK_EQ(vq_pop(&t, &c, VQ_OUT), 0);
	CHECK_EQ(c.niov, 2);
	CHECK_EQ(c.iov[0].iov_len, 0x1000);
	CHECK_EQ(c.iov[1].iov_len, 0x1000);
	gmem_unmap(&m);
	close(fd);
}

/* Dirty-page logging (migration): what a burst wrote is marked in the
 * log, in the pages it wrote (buffers by their guest addresses, used
 * entries and index at the used ring's logged address), after the writes:
 * nothing before vq_used_publish. Pages past the log's end are not marked;
 * a queue that does not log marks nothing. */
static bool page_marked(const uint8_t *bits, uint64_t gpa)
{
	uint64_t pg = gpa >> 12;
	return bits[pg >> 3] & (1u << (pg & 7));
}

static unsigned marked_pages(const uint8_t *bits, size_t n)
{
	unsigned c = 0;
	for (size_t i = 0; i < n; i++)
		c += (unsigned)__builtin_popcount(bits[i]);
	return c;
}

static void test_dirty_log(void)
{
	static uint8_t bits[((GPA + MEM) >> 12) / 8 + 1];
	struct dirty_log log = { .bits = bits, .size = sizeof(bits) };
	uint64_t used_gpa = fm_gpa(&fm, USED_OFF);

	/* A receive chain of two buffers (pages 3 and 5 of the buffer area):
	 * a frame fills the first and 10 bytes of the second. */
	reset(0);
	setd(D(0), BUF(3), 0x1000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	setd(D(1), BUF(5), 0x1000, VRING_DESC_F_WRITE, 0);
	q.log = &log;
	q.log_used = true;
	q.log_used_gpa = used_gpa;
	memset(bits, 0, sizeof(bits));
	CHECK_EQ(pop(true, &ch), VQ_OK);
	memset(ch.iov[0].iov_base, 0xab, ch.iov[0].iov_len);
	vq_log_iov(&q, ch.iov, ch.niov, 0x1000 + 10);
	vq_used_put(&q, ch.head, 0x1000 + 10);
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 0); /* gathered, not set yet */
	vq_used_publish(&q);
	CHECK(page_marked(bits, BUF(3)));
	CHECK(page_marked(bits, BUF(5)));
	CHECK(!page_marked(bits, BUF(4)));
	CHECK(page_marked(bits, used_gpa)); /* entry 0 and the index share a page */
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 3);

	/* Only the bytes written: 10 bytes of buffer 5 mark buffer 5 only. */
	memset(bits, 0, sizeof(bits));
	vq_log_iov(&q, &ch.iov[1], 1, 10);
	vq_log_flush(&q);
	CHECK(page_marked(bits, BUF(5)));
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 1);

	/* More distinct log bytes than the gathering holds: all are set. */
	memset(bits, 0, sizeof(bits));
	for (unsigned i = 0; i < VQ_LOGC + 5; i++)
		vq_log_gpa(&q, (uint64_t)i * 8 * 4096, 1);
	vq_log_flush(&q);
	CHECK_EQ(marked_pages(bits, sizeof(bits)), VQ_LOGC + 5);

	/* A range that crosses many pages marks each once; past the log's end
	 * nothing is written. */
	memset(bits, 0, sizeof(bits));
	vq_log_gpa(&q, GPA + 0x800, 3 * 4096);
	vq_log_gpa(&q, (uint64_t)sizeof(bits) * 8 * 4096 + 0x1000, 4096);
	vq_log_gpa(&q, UINT64_MAX - 10, 100); /* wraps: clamped, past the end */
	vq_log_flush(&q);
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 4);

	/* The used ring is logged only with VHOST_VRING_F_LOG. */
	memset(bits, 0, sizeof(bits));
	q.log_used = false;
	vq_used_put(&q, 1, 0);
	vq_used_publish(&q);
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 0);

	/* Kick suppression writes (avail_event, at 4 + 8 x size) are logged
	 * too: with the ring logged as if it began 0x100 before a page, the
	 * word is on the next page, and only that page is marked. */
	uint64_t fake_used = GPA + 0x8000 - 0x100;
	q.log_used = true;
	q.log_used_gpa = fake_used;
	vq_kicks_enable(&q);
	CHECK(page_marked(bits, fake_used + 4 + 8ull * QSZ));
	CHECK(!page_marked(bits, fake_used));
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 1);

	/* A logged address at the top of the address space marks nothing past
	 * the log (and does not wrap into its first pages). */
	memset(bits, 0, sizeof(bits));
	q.log_used_gpa = UINT64_MAX - 1;
	vq_used_put(&q, 3, 0);
	vq_used_publish(&q);
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 0);

	/* Not logging: nothing. */
	memset(bits, 0, sizeof(bits));
	q.log = NULL;
	vq_used_put(&q, 2, 0);
	vq_used_publish(&q);
	vq_kicks_disable(&q);
	CHECK_EQ(marked_pages(bits, sizeof(bits)), 0);
	q.log_used = false;
}

/* A dirty log the frontend truncates under vifd (gmem_guard): vifd's
 * write into it faults, the owner's memory is marked broken (its port
 * stops) and the write lands in a private page; vifd goes on. */
static void test_log_guard(void)
{
	struct gmem owner;
	int fd = memfd_create("test-log", MFD_CLOEXEC);
	uint8_t *p;

	memset(&owner, 0, sizeof(owner));
	CHECK(fd >= 0 && ftruncate(fd, 8192) == 0);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	if (fd < 0 || p == MAP_FAILED)
		return;
	CHECK_EQ(gmem_sigbus_install(), 0);
	CHECK(gmem_guard(&owner, p, 8192));
	struct dirty_log log = { .bits = p, .size = 8192, .map_base = p, .map_len = 8192 };
	dirty_mark_byte(&log, 100, 1);
	CHECK(!atomic_load(&owner.broken));
	CHECK(ftruncate(fd, 0) == 0);
	dirty_mark_byte(&log, 5000, 2); /* faults: guarded */
	CHECK(atomic_load(&owner.broken));
	CHECK_EQ(p[5000], 2);
	gmem_unguard(p);
	munmap(p, 8192);
	close(fd);
}

/* ---- inflight region (vq_inflight.h) ---- */

static _Alignas(64) uint8_t infl_mem[16 + 16 * QSZ + 64];
#define R ((struct vq_infl_region *)(void *)infl_mem)

/* A ring with heads h[0..n) available from entry 0 and the region fresh. */
static void infl_reset(const uint16_t *h, unsigned n)
{
	uint16_t nres;
	uint64_t ctr;
	char err[128];

	reset(h[0]);
	for (unsigned i = 0; i < n; i++) {
		setd(D(h[i]), BUF(i), 100, 0, 0);
		A()->ring[i] = h[i];
	}
	A()->idx = (uint16_t)n;
	memset(infl_mem, 0, sizeof(infl_mem));
	CHECK_EQ(vq_infl_recover(R, A(), QSZ, 0, 0, &nres, &ctr, err, sizeof(err)), 0);
	CHECK_EQ(R->version, 1);
	CHECK_EQ(R->desc_num, QSZ);
	CHECK_EQ(nres, 0);
	q.infl = R;
	q.infl_counter = ctr;
}

static int recover(uint16_t used, uint16_t base, uint16_t *nres)
{
	uint64_t ctr;
	char err[128];

	return vq_infl_recover(R, A(), QSZ, used, base, nres, &ctr, err, sizeof(err));
}

static void test_inflight(void)
{
	static const uint16_t h[4] = { 5, 9, 2, 77 };
	struct vring_used *u = fm_ptr(&fm, USED_OFF);
	uint16_t n = 99;

	CHECK_EQ(vq_infl_queue_bytes(256), 16 + 16 * 256 + 48); /* rounded up to 64 */
	CHECK_EQ(vq_infl_queue_bytes(1), 64);

	/* Refused: each field a frontend could corrupt. */
	infl_reset(h, 4);
	R->version = 2;
	CHECK_EQ(recover(0, 0, &n), -EINVAL);
	R->version = 1;
	R->desc_num = QSZ / 2;
	CHECK_EQ(recover(0, 0, &n), -EINVAL);
	R->desc_num = QSZ;
	CHECK_EQ(recover(0, 1, &n), -EINVAL);         /* base is not the used index */
	R->used_idx = (uint16_t)(0 - QSZ - 1);
	CHECK_EQ(recover(0, 0, &n), -EINVAL);         /* batch larger than the ring */
	R->used_idx = 0xffff;
	R->last_batch_head = QSZ;
	CHECK_EQ(recover(0, 0, &n), -EINVAL);         /* batch list leaves the table */
	R->used_idx = 0xfffe;
	R->last_batch_head = 3;
	R->desc[3].next = 0xffff;
	CHECK_EQ(recover(0, 0, &n), -EINVAL);         /* ... on its second hop */
	infl_reset(h, 4);
	R->desc[1].inflight = 2;
	CHECK_EQ(recover(0, 0, &n), -EINVAL);
	infl_reset(h, 4);
	for (unsigned i = 0; i < 5; i++)              /* more in flight than available */
		R->desc[i].inflight = 1;
	CHECK_EQ(recover(0, 0, &n), -EINVAL);
	infl_reset(h, 4);
	R->desc[h[1]].inflight = 1;                   /* not the first available entry */
	CHECK_EQ(recover(0, 0, &n), -EINVAL);
	infl_reset(h, 4);
	R->desc[h[0]] = (struct vq_infl_desc){ .inflight = 1, .counter = 7 };
	R->desc[h[1]] = (struct vq_infl_desc){ .inflight = 1, .counter = 7 };
	CHECK_EQ(recover(0, 0, &n), -EINVAL);         /* counters must rise */
	A()->ring[1] = h[0];                          /* a head available twice */
	R->desc[h[1]].inflight = 0;
	R->desc[h[0]].inflight = 1;
	R->desc[5 + 1].inflight = 1;
	CHECK(recover(0, 0, &n) == -EINVAL);

	/* Pop 3, complete 2, "die": the third is in flight, served again
	 * from entry 2, and the pop counter goes on after it. */
	infl_reset(h, 4);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(R->desc[h[0]].inflight + R->desc[h[1]].inflight + R->desc[h[2]].inflight, 3);
	CHECK(R->desc[h[0]].counter < R->desc[h[1]].counter);
	vq_used_put(&q, h[0], 0);
	vq_used_put(&q, h[1], 0);
	CHECK_EQ(R->last_batch_head, h[1]);
	CHECK_EQ(R->desc[h[1]].next, h[0]);
	vq_used_publish(&q);
	CHECK_EQ(R->used_idx, 2);
	CHECK_EQ(R->desc[h[0]].inflight + R->desc[h[1]].inflight, 0);
	CHECK_EQ(R->desc[h[2]].inflight, 1);
	CHECK_EQ(recover(u->idx, u->idx, &n), 0);
	CHECK_EQ(n, 1);

	/* Killed after the used index was published, before the marks were
	 * cleared: the batch list clears them. */
	infl_reset(h, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pop(false, &ch), 0);
	vq_used_put(&q, h[0], 0);
	vq_used_put(&q, h[1], 0);
	vq_used_put(&q, h[2], 0);
	__atomic_store_n(&u->idx, q.used_idx, __ATOMIC_RELEASE); /* ... and die */
	CHECK_EQ(R->used_idx, 0);
	CHECK_EQ(recover(3, 3, &n), 0);
	CHECK_EQ(n, 1);                               /* h[3] only */
	CHECK_EQ(R->used_idx, 3);
	CHECK_EQ(R->desc[h[0]].inflight + R->desc[h[1]].inflight + R->desc[h[2]].inflight, 0);

	/* Given back unused (vq_unpop): not in flight any more. */
	infl_reset(h, 4);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(pop(false, &ch), 0);
	vq_unpop(&q, 1);
	CHECK_EQ(R->desc[h[1]].inflight, 0);
	CHECK_EQ(R->desc[h[0]].inflight, 1);
	CHECK_EQ(recover(0, 0, &n), 0);
	CHECK_EQ(n, 1);
	q.infl = NULL;
}

int main(void)
{
	if (fakemem_init(&fm, MEM, GPA, UVA) < 0) {
		perror("fakemem");
		return 1;
	}
	test_setup_refused();
	test_bad_chains();
	test_good_chains();
	test_used_and_notify();
	test_dirty_log();
	test_log_guard();
	test_inflight();
	test_gmem_refused();
	test_gmem_limits_and_files();
	test_gmem_holes();
	test_gmem_translate();
	fakemem_fini(&fm);
	return check_result("test_vq");
}
