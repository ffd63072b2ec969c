/* test_vqp.c - the packed-ring device side (src/virtio/vqp.h) against
 * hostile rings, the cases of test_vq.c in packed form plus what only a
 * packed ring has (wrap counters, flags, buffer ids, event suppression
 * structures, the vhost-user base): invalid ones first, then the valid
 * shapes, used descriptors, notifications, wrap-around and the dirty log. */
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fakemem.h"
#include "vqp.h"

enum {
	QSZ = 100, /* packed rings need not be powers of two */
	MEM = 1 << 20,
	GPA = 0x100000,
	DESC_OFF = 0x0,
	DRV_OFF = 0x1000,  /* driver event suppression */
	DEV_OFF = 0x1010,  /* device event suppression */
	IND_OFF = 0x4000,  /* indirect tables */
	BUF_OFF = 0x10000, /* packet buffers */
	AV = VQP_F_AVAIL,
	US = VQP_F_USED,
	NX = VRING_DESC_F_NEXT,
	WR = VRING_DESC_F_WRITE,
	IN = VRING_DESC_F_INDIRECT,
};
#define UVA 0x7f0000000000ull
#define BUF(n) fm_gpa(&fm, BUF_OFF + (n) * 0x1000)

static struct fakemem fm;
static struct vq q;
static struct vq_chain ch;

static struct vring_packed_desc *D(unsigned i)
{
	return (struct vring_packed_desc *)fm_ptr(&fm, DESC_OFF) + i;
}

static struct vring_packed_desc_event *DRV(void) { return fm_ptr(&fm, DRV_OFF); }
static struct vring_packed_desc_event *DEV(void) { return fm_ptr(&fm, DEV_OFF); }

/* The driver's side of the ring, as a test writes it. */
static uint16_t drv_slot;
static bool drv_wrap;

/* Writes descriptor i (flags get AVAIL/USED for driver wrap w). */
static void setd_w(struct vring_packed_desc *d, uint64_t addr, uint32_t len, uint16_t id,
                   uint16_t flags, bool w)
{
	d->addr = addr;
	d->len = len;
	d->id = id;
	d->flags = (uint16_t)(flags | (w ? AV : US));
}

/* Makes the next ring slot available with the driver's current wrap. */
static void add(uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	setd_w(D(drv_slot), addr, len, id, flags, drv_wrap);
	if (++drv_slot == QSZ) {
		drv_slot = 0;
		drv_wrap = !drv_wrap;
	}
}

static void setd(struct vring_packed_desc *d, uint64_t addr, uint32_t len, uint16_t flags)
{
	d->addr = addr;
	d->len = len;
	d->id = 0;
	d->flags = flags;
}

/* An empty ring, both wrap counters 1, position 0. */
static void reset(void)
{
	char err[128];

	memset(fm_ptr(&fm, 0), 0, BUF_OFF);
	memset(&q, 0, sizeof(q));
	CHECK_EQ(vq_setup_packed(&q, &fm.mem, QSZ, fm_uva(&fm, DESC_OFF), fm_uva(&fm, DRV_OFF),
	                         fm_uva(&fm, DEV_OFF), 1u << 15, err, sizeof(err)), 0);
	q.max_len = 70000;
	q.indirect = true;
	q.event_idx = true;
	q.callfd = -1;
	drv_slot = 0;
	drv_wrap = true;
}

static int pop(bool want_write, struct vq_chain *c)
{
	int n = vqp_avail_count(&q, QSZ);
	if (n <= 0)
		return n < 0 ? n : 99;
	return vqp_pop_into(&q, c->iov, &c->niov, &c->nout, &c->len, &c->head,
	                    want_write ? VQ_IN : VQ_OUT);
}

static void test_setup_refused(void)
{
	char err[128];
	struct vq t;
	uint64_t d = fm_uva(&fm, DESC_OFF), r = fm_uva(&fm, DRV_OFF), v = fm_uva(&fm, DEV_OFF);

	memset(&t, 0, sizeof(t));
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, 0, d, r, v, 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, 32769, d, r, v, 0, err, sizeof(err)), -EINVAL);
	/* misaligned descriptor ring / event structures */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d + 8, r, v, 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r + 2, v, 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, v + 1, 0, err, sizeof(err)), -EINVAL);
	/* descriptor ring running past the end of memory */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, fm_uva(&fm, MEM - 16 * 64), r, v, 0, err,
	                         sizeof(err)), -EINVAL);
	/* device area outside memory; guest-physical instead of virtual */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, fm_uva(&fm, MEM), 0, err, sizeof(err)),
	         -EINVAL);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, fm_gpa(&fm, 0), fm_gpa(&fm, DRV_OFF),
	                         fm_gpa(&fm, DEV_OFF), 0, err, sizeof(err)), -EINVAL);
	/* base: avail or used slot outside the ring */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, v, QSZ, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, v, 0x7fffu, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, v, (uint32_t)QSZ << 16 | 1, err,
	                         sizeof(err)), -EINVAL);
	/* sizes that are not powers of two are fine; so is 32768 */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, 3, d, r, v, 0, err, sizeof(err)), 0);
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, 32768, fm_uva(&fm, 0x80000), r, v, 0, err,
	                         sizeof(err)), 0);
	/* the base's two halves */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, v, 5u | 1u << 15, err, sizeof(err)), 0);
	CHECK_EQ(t.last_avail, 5);
	CHECK(t.avail_wrap);
	CHECK_EQ(t.used_slot, 5); /* upper half 0: nothing was in flight */
	CHECK(t.used_wrap);
	CHECK_EQ(vqp_base(&t), 5u | 1u << 15 | (5u | 1u << 15) << 16);
	/* in flight at the stop: resume at the used position */
	CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, d, r, v, 7u | (3u | 1u << 15) << 16, err,
	                         sizeof(err)), 0);
	CHECK_EQ(t.last_avail, 3);
	CHECK(t.avail_wrap);
	CHECK_EQ(t.used_slot, 3);
}

struct bad_case {
	const char *name;
	void (*build)(void);
	bool want_write;
	int err;
};

static void b_id_oob(void) { reset(); add(BUF(0), 100, QSZ, 0); }
static void b_id_oob_chain(void)
{
	reset();
	add(BUF(0), 100, 0, NX);
	add(BUF(1), 100, 0xffff, 0);
}
/* The head is available but the chain's next slot is not (still zero). */
static void b_next_not_avail(void)
{
	reset();
	add(BUF(0), 100, 0, NX);
}
/* The next slot has the flags of the previous lap. */
static void b_next_wrong_wrap(void)
{
	reset();
	add(BUF(0), 100, 0, NX);
	setd_w(D(1), BUF(1), 100, 1, 0, false);
}
/* AVAIL == USED on the continuation: a used descriptor, not available. */
static void b_next_both_flags(void)
{
	reset();
	add(BUF(0), 100, 0, NX);
	setd(D(1), BUF(1), 100, AV | US);
}
/* Every slot says NEXT: the chain would go round the ring. */
static void b_chain_around(void)
{
	reset();
	for (unsigned i = 0; i < QSZ; i++)
		add(BUF(0) + i, 1, 0, NX);
}
static void b_zero_len(void) { reset(); add(BUF(0), 0, 0, 0); }
static void b_addr_below(void) { reset(); add(GPA - 4096, 100, 0, 0); }
static void b_addr_above(void) { reset(); add(GPA + MEM, 100, 0, 0); }
static void b_len_past_end(void) { reset(); add(GPA + MEM - 64, 65, 0, 0); }
static void b_addr_wrap(void) { reset(); add(UINT64_MAX - 15, 64, 0, 0); }
static void b_write_in_tx(void) { reset(); add(BUF(0), 100, 0, WR); }
static void b_read_in_rx(void) { reset(); add(BUF(0), 100, 0, 0); }
static void b_too_long(void)
{
	reset();
	add(BUF(0), 65536, 0, NX);
	add(BUF(20), 65536, 0, 0);
}
static void b_too_many_segs(void)
{
	reset();
	for (unsigned i = 0; i < VQ_MAX_IOV + 1; i++)
		add(BUF(0) + i, 1, 0, i < VQ_MAX_IOV ? NX : 0);
}
static void b_ind_len_odd(void) { reset(); add(fm_gpa(&fm, IND_OFF), 24, 0, IN); }
static void b_ind_len_zero(void) { reset(); add(fm_gpa(&fm, IND_OFF), 0, 0, IN); }
static void b_ind_too_big(void) { reset(); add(fm_gpa(&fm, IND_OFF), 16 * (QSZ + 1), 0, IN); }
static void b_ind_oob(void) { reset(); add(GPA + MEM - 32, 64, 0, IN); }
static void b_ind_misaligned(void) { reset(); add(fm_gpa(&fm, IND_OFF) + 8, 32, 0, IN); }
static void b_ind_next(void)
{
	reset();
	add(fm_gpa(&fm, IND_OFF), 32, 0, IN | NX);
	add(BUF(1), 10, 0, 0);
}
static void b_ind_nested(void)
{
	struct vring_packed_desc *t = fm_ptr(&fm, IND_OFF);
	reset();
	add(fm_gpa(&fm, IND_OFF), 32, 0, IN);
	setd(&t[0], fm_gpa(&fm, IND_OFF), 32, IN);
	setd(&t[1], BUF(1), 10, 0);
}
static void b_ind_not_first(void)
{
	struct vring_packed_desc *t = fm_ptr(&fm, IND_OFF);
	reset();
	add(BUF(0), 10, 0, NX);
	add(fm_gpa(&fm, IND_OFF), 32, 0, IN);
	setd(&t[0], BUF(1), 10, 0);
	setd(&t[1], BUF(2), 10, 0);
}
static void b_ind_zero_entry(void)
{
	struct vring_packed_desc *t = fm_ptr(&fm, IND_OFF);
	reset();
	add(fm_gpa(&fm, IND_OFF), 32, 0, IN);
	setd(&t[0], BUF(1), 10, 0);
	setd(&t[1], BUF(2), 0, 0);
}
static void b_ind_entry_oob(void)
{
	struct vring_packed_desc *t = fm_ptr(&fm, IND_OFF);
	reset();
	add(fm_gpa(&fm, IND_OFF), 16, 0, IN);
	setd(&t[0], GPA + MEM + 100, 10, 0);
}
static void b_ind_write_in_tx(void)
{
	struct vring_packed_desc *t = fm_ptr(&fm, IND_OFF);
	reset();
	add(fm_gpa(&fm, IND_OFF), 16, 0, IN);
	setd(&t[0], BUF(1), 10, WR);
}
static void b_ind_unnegotiated(void)
{
	reset();
	q.indirect = false;
	add(fm_gpa(&fm, IND_OFF), 32, 0, IN);
}

static const struct bad_case bad[] = {
	{ "buffer id outside the ring", b_id_oob, false, VQ_ERR_HEAD },
	{ "buffer id of a chain outside the ring", b_id_oob_chain, false, VQ_ERR_HEAD },
	{ "chain continues into an unavailable slot", b_next_not_avail, false, VQ_ERR_FLAGS },
	{ "chain continues into the previous lap", b_next_wrong_wrap, false, VQ_ERR_FLAGS },
	{ "chain continues into a used slot", b_next_both_flags, false, VQ_ERR_FLAGS },
	{ "chain all around the ring (100 slots: more than VQ_MAX_IOV)", b_chain_around, false, VQ_ERR_SEGS },
	{ "zero-length buffer", b_zero_len, false, VQ_ERR_ZERO },
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
	{ "indirect table misaligned", b_ind_misaligned, false, VQ_ERR_INDIRECT },
	{ "indirect with NEXT", b_ind_next, false, VQ_ERR_INDIRECT },
	{ "nested indirect", b_ind_nested, false, VQ_ERR_INDIRECT },
	{ "indirect inside a chain", b_ind_not_first, false, VQ_ERR_INDIRECT },
	{ "zero-length entry in indirect table", b_ind_zero_entry, false, VQ_ERR_ZERO },
	{ "indirect entry outside memory", b_ind_entry_oob, false, VQ_ERR_ADDR },
	{ "writable indirect entry in tx", b_ind_write_in_tx, false, VQ_ERR_DIRECTION },
	{ "indirect not negotiated", b_ind_unnegotiated, false, VQ_ERR_INDIRECT },
};

static void test_bad_chains(void)
{
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		bad[i].build();
		r = pop(bad[i].want_write, &ch);
		if (r == 99) /* not counted as available: pop it anyway */
			r = vqp_pop_into(&q, ch.iov, &ch.niov, &ch.nout, &ch.len, &ch.head,
			                 bad[i].want_write ? VQ_IN : VQ_OUT);
		if (r != -bad[i].err)
			fprintf(stderr, "case '%s': got %d (%s), want %d\n", bad[i].name, r,
			        vq_err_str(r), -bad[i].err);
		CHECK_EQ(r, -bad[i].err);
		/* A refused chain leaves the position alone. */
		CHECK_EQ(q.last_avail, 0);
		CHECK_EQ(q.pslot_n, 0);
	}
}

/* Slots that are not available are not counted nor popped. */
static void test_not_available(void)
{
	reset();
	CHECK_EQ(vqp_avail_count(&q, QSZ), 0);
	/* the ring starts zeroed: flags 0 is neither available nor used for
	 * wrap 1 */
	CHECK_EQ(vqp_pop_into(&q, ch.iov, &ch.niov, &ch.nout, &ch.len, &ch.head, VQ_OUT),
	         -VQ_ERR_FLAGS);
	/* the previous lap's available flags */
	setd_w(D(0), BUF(0), 100, 0, 0, false);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 0);
	/* a used descriptor */
	setd(D(0), BUF(0), 100, AV | US);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 0);
	/* a chain whose next slot is not available: the driver broke the
	 * order (the first slot is made available last) */
	reset();
	add(BUF(0), 100, 0, NX);
	CHECK_EQ(vqp_avail_count(&q, QSZ), -VQ_ERR_FLAGS);
	/* ... also when the limit was reached before */
	reset();
	add(BUF(0), 100, 0, 0);
	add(BUF(1), 100, 1, NX);
	CHECK_EQ(vqp_avail_count(&q, 1), 1);
	CHECK_EQ(vqp_avail_count(&q, 2), -VQ_ERR_FLAGS);
	/* count stops at limit */
	reset();
	for (unsigned i = 0; i < 10; i++)
		add(BUF(i), 100, (uint16_t)i, 0);
	CHECK_EQ(vqp_avail_count(&q, 4), 4);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 10);
	/* a chain longer than VQ_MAX_IOV slots is refused by the count (pop
	 * would refuse it): no count walks more than limit * VQ_MAX_IOV */
	reset();
	add(BUF(0), 1, 0, 0);
	for (unsigned i = 0; i <= VQ_MAX_IOV; i++)
		add(BUF(1 + i % 8), 100, 1, i < VQ_MAX_IOV ? NX : 0);
	CHECK_EQ(vqp_avail_count(&q, 1), 1);
	CHECK_EQ(vqp_avail_count(&q, 2), -VQ_ERR_SEGS);
	/* ... and one of exactly VQ_MAX_IOV is counted */
	reset();
	for (unsigned i = 0; i < VQ_MAX_IOV; i++)
		add(BUF(i % 8), 100, 1, i + 1 < VQ_MAX_IOV ? NX : 0);
	CHECK_EQ(vqp_avail_count(&q, 2), 1);
}

static void test_good_chains(void)
{
	struct vring_packed_desc *t = fm_ptr(&fm, IND_OFF);

	/* one readable buffer */
	reset();
	add(BUF(0), 1514, 7, 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(ch.head, 7);
	CHECK_EQ(ch.niov, 1);
	CHECK_EQ(ch.len, 1514);
	CHECK(ch.iov[0].iov_base == (uint8_t *)fm.mem.r[0].hva + BUF_OFF);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 0);
	CHECK_EQ(q.last_avail, 1);

	/* header + two data descriptors; the id is the last one's */
	reset();
	add(BUF(0), 12, 99, NX);
	add(BUF(1), 1000, 98, NX);
	add(BUF(2), 500, 5, 0);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 1);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(ch.niov, 3);
	CHECK_EQ(ch.len, 1512);
	CHECK_EQ(ch.head, 5);
	CHECK_EQ(q.last_avail, 3);

	/* indirect table of three (NEXT in it is ignored) */
	reset();
	add(fm_gpa(&fm, IND_OFF), 48, 4, IN);
	setd(&t[0], BUF(0), 12, NX);
	setd(&t[1], BUF(1), 60, 0);
	setd(&t[2], BUF(2), 9000, 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(ch.niov, 3);
	CHECK_EQ(ch.len, 9072);
	CHECK_EQ(ch.head, 4);
	CHECK_EQ(q.last_avail, 1);

	/* writable rx chain */
	reset();
	add(BUF(0), 100, 0, WR | NX);
	add(BUF(1), 2048, 1, WR);
	CHECK_EQ(pop(true, &ch), 0);
	CHECK_EQ(ch.niov, 2);
	CHECK_EQ(ch.len, 2148);

	/* a control command: readable, then a writable ack */
	reset();
	add(BUF(0), 2, 0, NX);
	add(BUF(1), 2, 0, NX);
	add(BUF(2), 1, 0, WR);
	CHECK_EQ(vqp_pop_into(&q, ch.iov, &ch.niov, &ch.nout, &ch.len, &ch.head, VQ_MIXED), 0);
	CHECK_EQ(ch.niov, 3);
	CHECK_EQ(ch.nout, 2);
	/* ... but never readable after writable */
	reset();
	add(BUF(0), 1, 0, WR | NX);
	add(BUF(1), 2, 0, 0);
	CHECK_EQ(vqp_pop_into(&q, ch.iov, &ch.niov, &ch.nout, &ch.len, &ch.head, VQ_MIXED),
	         -VQ_ERR_DIRECTION);

	/* descriptor changed after the pop: our copy is what we used */
	reset();
	add(BUF(0), 100, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	setd_w(D(0), GPA + MEM * 4, 100000, 0, 0, true);
	CHECK_EQ(ch.len, 100);
	CHECK(ch.iov[0].iov_base == (uint8_t *)fm.mem.r[0].hva + BUF_OFF);

	/* unpop gives back the last chains, slots and all */
	reset();
	add(BUF(0), 100, 0, 0);
	add(BUF(1), 100, 1, NX);
	add(BUF(2), 100, 1, 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(pop(false, &ch), 0);
	CHECK_EQ(q.last_avail, 3);
	vqp_unpop(&q, 1);
	CHECK_EQ(q.last_avail, 1);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 1);
	vqp_unpop(&q, 1);
	CHECK_EQ(q.last_avail, 0);
	CHECK_EQ(vqp_avail_count(&q, QSZ), 2);
}

/* A driver's view of the used descriptor at slot s for wrap w. */
static bool is_used(unsigned s, bool w)
{
	uint16_t f = D(s)->flags;
	return !!(f & AV) == w && !!(f & US) == w;
}

static void test_used_and_wrap(void)
{
	/* chains of 1, 2 and 1 slots */
	reset();
	add(BUF(0), 100, 10, 0);
	add(BUF(1), 100, 11, NX);
	add(BUF(2), 100, 11, 0);
	add(BUF(3), 100, 12, 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, 10, 0);
	vqp_used_put(&q, 11, 0);
	/* the batch's first descriptor waits for the publish */
	CHECK(!is_used(0, true));
	CHECK(is_used(1, true));
	CHECK_EQ(D(1)->id, 11);
	vqp_used_publish(&q);
	CHECK(is_used(0, true));
	CHECK_EQ(D(0)->id, 10);
	CHECK_EQ(q.used_slot, 3); /* skipped the second chain's two slots */
	vqp_used_put(&q, 12, 64);
	vqp_used_publish(&q);
	CHECK(is_used(3, true));
	CHECK_EQ(D(3)->len, 64);
	CHECK(D(3)->flags & WR);
	CHECK(!(D(0)->flags & WR));
	CHECK_EQ(q.used_idx, 3);

	/* round the ring several times with chains of 1..3 slots, a chain
	 * crossing the end; the counters flip at the end only */
	reset();
	unsigned popped = 0;
	for (unsigned round = 0; round < 5 * QSZ; round++) {
		unsigned len = 1 + round % 3;
		uint16_t start = drv_slot;
		bool w = drv_wrap;

		for (unsigned k = 0; k < len; k++)
			add(BUF(k), 100, (uint16_t)(round % QSZ), k + 1 < len ? NX : 0);
		CHECK_EQ(vqp_avail_count(&q, QSZ), 1);
		CHECK_EQ(pop(false, &ch), 0);
		CHECK_EQ(ch.head, round % QSZ);
		CHECK_EQ(ch.niov, len);
		vqp_used_put(&q, ch.head, 0);
		vqp_used_publish(&q);
		CHECK(is_used(start, w));
		CHECK_EQ(q.used_slot, drv_slot);
		CHECK_EQ(q.used_wrap, drv_wrap);
		CHECK_EQ(q.last_avail, drv_slot);
		CHECK_EQ(q.avail_wrap, drv_wrap);
		popped++;
	}
	CHECK_EQ(popped, 5 * QSZ);
	CHECK_EQ(q.pslot_n, 0);
	/* the base carries the position across a restart */
	{
		uint32_t b = vqp_base(&q);
		char err[128];
		struct vq t;

		memset(&t, 0, sizeof(t));
		CHECK_EQ(vq_setup_packed(&t, &fm.mem, QSZ, fm_uva(&fm, DESC_OFF),
		                         fm_uva(&fm, DRV_OFF), fm_uva(&fm, DEV_OFF), b, err,
		                         sizeof(err)), 0);
		CHECK_EQ(t.last_avail, q.last_avail);
		CHECK_EQ(t.avail_wrap, q.avail_wrap);
		CHECK_EQ(t.used_slot, q.used_slot);
		CHECK_EQ(t.used_wrap, q.used_wrap);
	}

	/* more chains in flight than tracked: refused, not corrupted */
	reset();
	q.pslot_n = VQ_INFLIGHT;
	add(BUF(0), 100, 0, 0);
	CHECK_EQ(pop(false, &ch), -VQ_ERR_INFLIGHT);
	CHECK_EQ(q.last_avail, 0);
}

static void test_notify(void)
{
	reset();
	for (unsigned i = 0; i < 4; i++)
		add(BUF(i), 100, (uint16_t)i, 0);
	/* DISABLE: never */
	DRV()->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0);
	vqp_used_publish(&q);
	CHECK(!vqp_need_call(&q));
	/* ENABLE, and the reserved value 3: always */
	DRV()->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	CHECK(vqp_need_call(&q));
	DRV()->flags = 3;
	CHECK(vqp_need_call(&q));
	/* reserved bits above the two do not disable */
	DRV()->flags = 0xfff0 | VRING_PACKED_EVENT_FLAG_DISABLE;
	CHECK(!vqp_need_call(&q));
	/* DESC: only when the used position passes off_wrap */
	DRV()->flags = VRING_PACKED_EVENT_FLAG_DESC;
	DRV()->off_wrap = (uint16_t)(3 | 1u << 15);
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0); /* used slot 1 -> 2 */
	vqp_used_publish(&q);
	CHECK(!vqp_need_call(&q));
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0); /* 2 -> 3 */
	vqp_used_publish(&q);
	CHECK(!vqp_need_call(&q));
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0); /* 3 -> 4: passes 3 */
	vqp_used_publish(&q);
	CHECK(vqp_need_call(&q));
	/* DESC with an offset of the other lap: in the past, no call */
	add(BUF(0), 100, 0, 0);
	DRV()->off_wrap = 3; /* wrap 0: the lap before */
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0);
	vqp_used_publish(&q);
	CHECK(!vqp_need_call(&q));
	/* DESC with an offset outside the ring, or without EVENT_IDX: call */
	add(BUF(0), 100, 0, 0);
	DRV()->off_wrap = (uint16_t)(QSZ + 5);
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0);
	vqp_used_publish(&q);
	CHECK(vqp_need_call(&q));
	DRV()->off_wrap = (uint16_t)(50 | 1u << 15);
	q.event_idx = false;
	CHECK(vqp_need_call(&q));

	/* kick suppression writes the device area */
	vqp_kicks_set(&q, false);
	CHECK_EQ(DEV()->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	vqp_kicks_set(&q, true);
	CHECK_EQ(DEV()->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
}

/* While logging, the used descriptors and the device area are marked. */
static void test_dirty_log(void)
{
	static uint8_t bits[(MEM + GPA) / 4096 / 8 + 1];
	struct dirty_log log = { .bits = bits, .size = sizeof(bits) };
	uint64_t pg_desc = fm_gpa(&fm, DESC_OFF) / 4096, pg_dev = fm_gpa(&fm, DEV_OFF) / 4096;

	reset();
	q.log = &log;
	add(BUF(0), 100, 0, 0);
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0);
	CHECK(!(bits[pg_desc / 8] & (1u << (pg_desc % 8)))); /* not before the publish */
	vqp_used_publish(&q);
	CHECK(bits[pg_desc / 8] & (1u << (pg_desc % 8)));
	/* The batch's first descriptor is marked again at the publish, after
	 * its flags are stored: its first mark may have been flushed (the
	 * gathered marks spanned too many log bytes) and cleared by the
	 * frontend before. */
	memset(bits, 0, sizeof(bits));
	add(BUF(1), 100, 1, 0);
	CHECK_EQ(pop(false, &ch), 0);
	vqp_used_put(&q, ch.head, 0);
	vq_log_flush(&q);
	CHECK(bits[pg_desc / 8] & (1u << (pg_desc % 8)));
	memset(bits, 0, sizeof(bits)); /* the frontend's sync */
	vqp_used_publish(&q);
	CHECK(bits[pg_desc / 8] & (1u << (pg_desc % 8)));
	memset(bits, 0, sizeof(bits));
	vqp_kicks_set(&q, false);
	CHECK(bits[pg_dev / 8] & (1u << (pg_dev % 8)));
	q.log = NULL;
}

/* The generic calls pick the kind from the flag they are given. */
static void test_vqx(void)
{
	reset();
	add(BUF(0), 100, 3, 0);
	CHECK_EQ(vqx_avail_count(&q, true, 32), 1);
	CHECK_EQ(vqx_pop(&q, true, &ch, VQ_OUT), 0);
	CHECK_EQ(ch.head, 3);
	vqx_used_put(&q, true, ch.head, 0);
	vqx_used_publish(&q, true);
	CHECK(is_used(0, true));
	CHECK_EQ(vqx_base(&q), 1u | 1u << 15 | (1u | 1u << 15) << 16);
}

int main(void)
{
	if (fakemem_init(&fm, MEM, GPA, UVA) < 0) {
		perror("fakemem");
		return 1;
	}
	test_setup_refused();
	test_bad_chains();
	test_not_available();
	test_good_chains();
	test_used_and_wrap();
	test_notify();
	test_dirty_log();
	test_vqx();
	fakemem_fini(&fm);
	return check_result("test_vqp");
}
