/* vq.c - control-path part of the split virtqueue: setup and error names.
 * The per-packet part is inline in vq.h. */
#include "vq.h"

#include <errno.h>
#include <stdio.h>

static const char *const err_names[VQ_ERR__MAX] = {
	[VQ_OK] = "ok",
	[VQ_ERR_AVAIL_IDX] = "avail index moved beyond the ring size",
	[VQ_ERR_HEAD] = "descriptor index outside the table",
	[VQ_ERR_LOOP] = "descriptor chain loops",
	[VQ_ERR_ADDR] = "buffer address outside guest memory",
	[VQ_ERR_INDIRECT] = "invalid indirect descriptor table",
	[VQ_ERR_DIRECTION] = "buffer of the wrong direction in chain",
	[VQ_ERR_SEGS] = "chain has too many segments",
	[VQ_ERR_LEN] = "chain too long",
	[VQ_ERR_ZERO] = "zero-length buffer",
};

const char *vq_err_str(int err)
{
	if (err < 0)
		err = -err;
	return err < VQ_ERR__MAX ? err_names[err] : "unknown ring error";
}

int vq_setup(struct vq *q, const struct gmem *mem, uint32_t size, uint64_t desc_uva,
             uint64_t avail_uva, uint64_t used_uva, uint16_t base, char *err, size_t errlen)
{
	uint8_t *d, *a, *u;

	if (!is_pow2(size) || size > VQ_MAX_SIZE) {
		snprintf(err, errlen, "ring size %u is not a power of two <= %d", size, VQ_MAX_SIZE);
		return -EINVAL;
	}
	d = gmem_uva_range(mem, desc_uva, vq_desc_bytes(size));
	a = gmem_uva_range(mem, avail_uva, vq_avail_bytes(size));
	u = gmem_uva_range(mem, used_uva, vq_used_bytes(size));
	if (!d || !a || !u) {
		snprintf(err, errlen, "ring %s area not inside guest memory",
		         !d ? "descriptor" : !a ? "avail" : "used");
		return -EINVAL;
	}
	/* VIRTIO 1.1 §2.6: descriptor table 16-byte, avail 2-byte, used
	 * 4-byte aligned. Checked on our pointers: a region mapped at an odd
	 * mmap_offset shifts them away from the frontend's addresses. */
	if (((uintptr_t)d & 15) || ((uintptr_t)a & 1) || ((uintptr_t)u & 3)) {
		snprintf(err, errlen, "ring areas misaligned");
		return -EINVAL;
	}
	/* A driver may rely on fresh memory reading as zero and never write
	 * parts of its rings: fill such holes now, so the workers' reads of
	 * the rings never fault on them (see gmem.h). */
	gmem_populate(mem, d, vq_desc_bytes(size));
	gmem_populate(mem, a, vq_avail_bytes(size));
	gmem_populate(mem, u, vq_used_bytes(size));
	q->desc = (volatile struct vring_desc *)(void *)d;
	q->avail = (struct vring_avail *)(void *)a;
	q->used = (struct vring_used *)(void *)u;
	q->mem = mem;
	q->size = (uint16_t)size; /* 32768 fits; mask below is what indexes */
	q->mask = (uint16_t)(size - 1);
	q->last_avail = base;
	q->used_idx = base;
	q->signalled_valid = false;
	q->used_pending = 0;
	return 0;
}
