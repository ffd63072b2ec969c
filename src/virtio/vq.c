/* vq.c - control-path part of the split virtqueue: setup and error names.
 * The per-packet part is inline in vq.h. */
#include "vqp.h"

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
	[VQ_ERR_FLAGS] = "descriptor of a chain not available (flags or wrap counter)",
	[VQ_ERR_INFLIGHT] = "too many chains in flight",
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
	q->packed = false;
	q->pdesc = NULL;
	q->drv_event = NULL;
	q->dev_event = NULL;
	q->size = (uint16_t)size; /* 32768 fits; mask below is what indexes */
	q->mask = (uint16_t)(size - 1);
	q->last_avail = base;
	q->used_idx = base;
	q->signalled_valid = false;
	q->used_pending = 0;
	return 0;
}

int vq_setup_packed(struct vq *q, const struct gmem *mem, uint32_t size, uint64_t desc_uva,
                    uint64_t driver_uva, uint64_t device_uva, uint32_t base, char *err,
                    size_t errlen)
{
	uint16_t avail = base & 0x7fff, used = (base >> 16) & 0x7fff;
	bool avail_wrap = (base >> 15) & 1, used_wrap = base >> 31;
	uint8_t *d, *drv, *dev;

	/* VIRTIO 1.1 §2.7.10.1: any size up to 2^15, not only powers of 2. */
	if (size == 0 || size > VQ_MAX_SIZE) {
		snprintf(err, errlen, "packed ring size %u is not in 1..%d", size, VQ_MAX_SIZE);
		return -EINVAL;
	}
	if ((base >> 16) == 0) {
		/* Only the avail half (DPDK's virtio-user, older QEMU): the
		 * ring was stopped with nothing in flight. */
		used = avail;
		used_wrap = avail_wrap;
	}
	if (avail >= size || used >= size) {
		snprintf(err, errlen, "packed ring base 0x%x outside a ring of %u", base, size);
		return -EINVAL;
	}
	d = gmem_uva_range(mem, desc_uva, vqp_desc_bytes(size));
	drv = gmem_uva_range(mem, driver_uva, VQP_EVENT_BYTES);
	dev = gmem_uva_range(mem, device_uva, VQP_EVENT_BYTES);
	if (!d || !drv || !dev) {
		snprintf(err, errlen, "packed ring %s area not inside guest memory",
		         !d ? "descriptor" : !drv ? "driver" : "device");
		return -EINVAL;
	}
	/* §2.7.10.1: descriptor ring 16-byte, event structures 4-byte aligned. */
	if (((uintptr_t)d & 15) || ((uintptr_t)drv & 3) || ((uintptr_t)dev & 3)) {
		snprintf(err, errlen, "packed ring areas misaligned");
		return -EINVAL;
	}
	gmem_populate(mem, d, vqp_desc_bytes(size));
	gmem_populate(mem, drv, VQP_EVENT_BYTES);
	gmem_populate(mem, dev, VQP_EVENT_BYTES);
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	q->packed = true;
	q->pdesc = (volatile struct vring_packed_desc *)(void *)d;
	q->drv_event = (const struct vring_packed_desc_event *)(void *)drv;
	q->dev_event = (struct vring_packed_desc_event *)(void *)dev;
	q->mem = mem;
	q->size = (uint16_t)size;
	q->mask = 0;
	/* Chains taken but not used when the ring stopped are still marked
	 * available: start again from the used position and take them again
	 * (as a split ring resumes at its used index). */
	q->last_avail = used;
	q->avail_wrap = used_wrap;
	q->used_slot = used;
	q->used_wrap = used_wrap;
	q->used_idx = 0;
	q->signalled_slot = used;
	q->signalled_valid = false;
	q->used_pending = 0;
	q->pslot_head = q->pslot_n = 0;
	return 0;
}
