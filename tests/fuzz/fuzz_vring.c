/* fuzz_vring.c - libFuzzer target: the descriptor walks (vq.h, vqp.h) over
 * fake guest memory whose rings and tables are the fuzzer's bytes. Input:
 * byte 0: flags (bit0 indirect, bits 1-2 chain direction mod 3, bit3
 * event_idx, bit4 packed ring, bit5 (split only) inflight tracking in a
 * region at INFL, itself fuzzer's bytes: it is recovered first, then the
 * rounds mark into it, a chain is given back, and it is recovered again
 * as after a restart), byte 1: split: log2 ring size (mod 9);
 * packed: ring size - 1 (any size 1..256), then bytes copied over the
 * start of guest memory (descriptor table or ring, avail ring or driver
 * event structure at 0x2000, indirect area, buffers). Every
 * popped chain's segments are read entirely, so ASan sees any pointer the
 * walk produced outside guest memory. */
#include <stdint.h>
#include <string.h>

#include "fakemem.h"
#include "vqp.h"

enum { MEM = 1 << 16, GPA = 0x10000, AVAIL = 0x2000, USED = 0x3000, INFL = 0xc000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte a chain's segments point at (ASan's eyes). */
static uint8_t touch(const struct vq_chain *c)
{
	uint8_t sink = 0;

	for (unsigned s = 0; s < c->niov; s++) {
		const uint8_t *p = c->iov[s].iov_base;
		for (size_t b = 0; b < c->iov[s].iov_len; b += 512)
			sink ^= p[b];
		sink ^= p[c->iov[s].iov_len - 1];
	}
	return sink;
}

static int packed(struct vq *q, struct fakemem *fm, uint8_t flags, unsigned qsz)
{
	static struct vq_chain c;
	volatile uint8_t sink = 0;
	char err[128];

	if (vq_setup_packed(q, &fm->mem, qsz, fm_uva(fm, 0), fm_uva(fm, AVAIL), fm_uva(fm, USED),
	                    1u << 15, err, sizeof(err)) < 0)
		return 0;
	q->indirect = flags & 1;
	q->event_idx = flags & 8;
	q->max_len = 70000;
	q->callfd = -1;
	for (unsigned round = 0; round < 4; round++) {
		int n = vqp_avail_count(q, 64);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			if (vqp_pop_into(q, c.iov, &c.niov, &c.nout, &c.len, &c.head,
			                 (flags >> 1) % 3) < 0)
				return 0;
			sink ^= touch(&c);
			vqp_used_put(q, c.head, c.len);
		}
		vqp_used_publish(q);
		(void)vqp_need_call(q);
		if (round & 1)
			vqp_unpop(q, 0);
	}
	vqp_kicks_set(q, true);
	(void)sink;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fakemem fm;
	static bool ready;
	struct vq q;
	char err[128];
	static struct vq_chain c;
	unsigned qsz;
	volatile uint8_t sink = 0;

	if (size < 2)
		return 0;
	if (!ready) {
		if (fakemem_init(&fm, MEM, GPA, 0x7f0000000000ull) < 0)
			return 0;
		ready = true;
	}
	qsz = 1u << (data[1] % 9);
	memset(fm.p, 0, MEM);
	memcpy(fm.p, data + 2, MIN(size - 2, (size_t)MEM));
	memset(&q, 0, sizeof(q));
	if (data[0] & 0x10)
		return packed(&q, &fm, data[0], data[1] + 1u);
	if (vq_setup(&q, &fm.mem, qsz, fm_uva(&fm, 0), fm_uva(&fm, AVAIL), fm_uva(&fm, USED), 0,
	             err, sizeof(err)) < 0)
		return 0;
	q.indirect = data[0] & 1;
	q.event_idx = data[0] & 8;
	q.max_len = 70000;
	q.callfd = -1;
	if (data[0] & 0x20) {
		struct vq_infl_region *r = (struct vq_infl_region *)(void *)(fm.p + INFL);
		uint16_t nres;

		if (vq_infl_recover(r, q.avail, (uint16_t)qsz, 0, 0, &nres, &q.infl_counter, err,
		                    sizeof(err)) < 0)
			return 0;
		q.infl = r;
	}
	for (unsigned round = 0; round < 4; round++) {
		int n = vq_avail_count(&q);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			if (vq_pop(&q, &c, (data[0] >> 1) % 3) < 0)
				return 0;
			for (unsigned s = 0; s < c.niov; s++) {
				const uint8_t *p = c.iov[s].iov_base;
				for (size_t b = 0; b < c.iov[s].iov_len; b += 512)
					sink ^= p[b];
				sink ^= p[c.iov[s].iov_len - 1];
			}
			vq_used_put(&q, c.head, c.len);
		}
		vq_used_publish(&q);
		(void)vq_need_call(&q);
	}
	if (q.infl) {
		uint16_t nres;

		if (vq_avail_count(&q) > 0 && vq_pop(&q, &c, (data[0] >> 1) % 3) == 0)
			vq_unpop(&q, 1);
		(void)vq_infl_recover(q.infl, q.avail, (uint16_t)qsz, q.used->idx, q.used->idx,
		                      &nres, &q.infl_counter, err, sizeof(err));
	}
	(void)sink;
	return 0;
}
