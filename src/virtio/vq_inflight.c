/* vq_inflight.c - recovery of a split ring's inflight region at ring start
 * (the control-path half of vq_inflight.h). */
#include "vq_inflight.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

int vq_infl_recover(struct vq_infl_region *r, const struct vring_avail *avail, uint16_t size,
                    uint16_t used, uint16_t base, uint16_t *resubmit, uint64_t *counter,
                    char *err, size_t errlen)
{
	/* Read each header field once: the frontend may write them. */
	uint16_t version = __atomic_load_n(&r->version, __ATOMIC_RELAXED);
	uint16_t num = __atomic_load_n(&r->desc_num, __ATOMIC_RELAXED);
	uint16_t ridx = __atomic_load_n(&r->used_idx, __ATOMIC_RELAXED);
	uint16_t avail_idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	uint64_t max = 0;
	unsigned marked = 0, k;

	*resubmit = 0;
	if (version == 0) {
		/* Fresh: nothing was ever in flight. */
		for (unsigned i = 0; i < size; i++)
			r->desc[i] = (struct vq_infl_desc){ 0 };
		r->features = 0;
		r->desc_num = size;
		r->last_batch_head = 0;
		r->used_idx = used;
		__atomic_store_n(&r->version, VQ_INFL_VERSION, __ATOMIC_RELEASE);
		*counter = 0;
		return 0;
	}
	if (version != VQ_INFL_VERSION || num != size) {
		snprintf(err, errlen, "inflight region version %u for %u entries, ring has %u",
		         version, num, size);
		return -EINVAL;
	}
	if (base != used) {
		snprintf(err, errlen, "inflight region: ring resumes at %u, not at its used index %u",
		         base, used);
		return -EINVAL;
	}
	/* A batch whose used index was published but whose marks were not
	 * all cleared: walk its list (spec: "batch size = used->idx -
	 * used_idx", from last_batch_head). */
	if (ridx != used) {
		uint16_t n = (uint16_t)(used - ridx);
		uint32_t h = __atomic_load_n(&r->last_batch_head, __ATOMIC_RELAXED);

		if (n > size) {
			snprintf(err, errlen, "inflight region: used index %u but %u in the ring", ridx,
			         used);
			return -EINVAL;
		}
		for (unsigned i = 0; i < n; i++) {
			if (h >= size) {
				snprintf(err, errlen, "inflight region: batch list leaves the table");
				return -EINVAL;
			}
			__atomic_store_n(&r->desc[h].inflight, 0, __ATOMIC_RELAXED);
			h = __atomic_load_n(&r->desc[h].next, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&r->used_idx, used, __ATOMIC_RELEASE);
	}
	for (unsigned i = 0; i < size; i++) {
		uint8_t f = __atomic_load_n(&r->desc[i].inflight, __ATOMIC_RELAXED);
		uint64_t c = __atomic_load_n(&r->desc[i].counter, __ATOMIC_RELAXED);

		if (f > 1) {
			snprintf(err, errlen, "inflight region: descriptor %u marked %u", i, f);
			return -EINVAL;
		}
		marked += f;
		if (c > max)
			max = c;
	}
	/* In-order completion: the marked chains are avail[base ..
	 * base+marked), popped in that order (counters strictly rising, so no
	 * head is counted twice). */
	if (marked > (uint16_t)(avail_idx - base) || (uint16_t)(avail_idx - base) > size) {
		snprintf(err, errlen, "inflight region: %u chains in flight, %u available from %u",
		         marked, (uint16_t)(avail_idx - base), base);
		return -EINVAL;
	}
	uint64_t prev = 0;
	for (k = 0; k < marked; k++) {
		uint32_t h = __atomic_load_n(&avail->ring[(uint16_t)(base + k) & (size - 1)],
		                             __ATOMIC_RELAXED);
		uint64_t c;

		if (h >= size || !__atomic_load_n(&r->desc[h].inflight, __ATOMIC_RELAXED)) {
			snprintf(err, errlen, "inflight region: avail entry %u (head %u) not in flight",
			         (uint16_t)(base + k), h);
			return -EINVAL;
		}
		c = __atomic_load_n(&r->desc[h].counter, __ATOMIC_RELAXED);
		if (k && c <= prev) {
			snprintf(err, errlen, "inflight region: head %u popped out of order", h);
			return -EINVAL;
		}
		prev = c;
	}
	*resubmit = (uint16_t)marked;
	*counter = max;
	return 0;
}
