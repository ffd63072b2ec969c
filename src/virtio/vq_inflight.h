/* vq_inflight.h - inflight I/O tracking for a split virtqueue
 * (vhost-user.rst "Inflight I/O tracking", VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD):
 * a shared region the frontend keeps across the backend's death, in which
 * vifd marks every chain it has taken from the avail ring and not yet given
 * back through the used ring. A vifd started after a crash reads it to learn
 * exactly which chains were in flight (vq_infl_recover).
 *
 * The protocol, per ring (all in the region, which vifd writes and reads;
 * the frontend only keeps it):
 *  - pop of head h: desc[h].counter = ++counter, then desc[h].inflight = 1,
 *    before anything the chain causes can be seen (vq_infl_pop);
 *  - used entry for head h: desc[h].next = last_batch_head, then
 *    last_batch_head = h (vq_infl_put);
 *  - publish: used->idx is stored, then inflight = 0 for each entry of the
 *    batch, then the region's used_idx = used->idx (vq_infl_publish).
 * So at any instant a kill -9 leaves either used_idx == used->idx and the
 * marks exact, or used_idx != used->idx and the batch between them found
 * by walking next from last_batch_head. Marks are plain stores to shared
 * memory: they outlive the process with no syscall and no fence beyond the
 * compiler's (stores retire in program order before a signal is taken).
 *
 * vifd completes every ring in order (the used ring follows the avail
 * ring), so after the walk the chains still marked are the avail entries
 * from used->idx on, in counter order. vq_infl_recover checks exactly that
 * and resumes there: the ring itself resubmits them, each once.
 *
 * Security model: the region is the frontend's memory. Every index read
 * from it is checked against the ring size (or masked where it only picks
 * what to clear), counts are bounded by the ring size, and a region that
 * disagrees with its ring is refused (the caller stops the port). */
#ifndef VIFD_VQ_INFLIGHT_H
#define VIFD_VQ_INFLIGHT_H

#include <stddef.h>
#include <linux/virtio_ring.h>
#include <stdint.h>

/* One descriptor's state, indexed by the chain's head (16 bytes). */
struct vq_infl_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;    /* the previous head of the current used batch */
	uint64_t counter; /* pop order */
};

/* One queue's part of the region (16 bytes, then desc[desc_num]). */
struct vq_infl_region {
	uint64_t features;
	uint16_t version;         /* 0: fresh (never used), 1: in use */
	uint16_t desc_num;        /* the ring's size */
	uint16_t last_batch_head; /* head of the current used batch's list */
	uint16_t used_idx;        /* used->idx once a batch's marks are cleared */
	struct vq_infl_desc desc[];
};

_Static_assert(sizeof(struct vq_infl_desc) == 16, "spec layout");
_Static_assert(sizeof(struct vq_infl_region) == 16, "spec layout");

enum { VQ_INFL_VERSION = 1, VQ_INFL_ALIGN = 64 };

/* Bytes one queue of `size` entries takes in the region (the stride
 * between queues; DPDK's choice, so a region stays readable by either). */
static inline uint64_t vq_infl_queue_bytes(uint32_t size)
{
	return (sizeof(struct vq_infl_region) + 16ull * size + VQ_INFL_ALIGN - 1) &
	       ~(uint64_t)(VQ_INFL_ALIGN - 1);
}

/* Datapath hooks, called by vq.h with the ring's region (non-NULL). The
 * heads are the ring's own (already checked < size). */
static inline void vq_infl_pop(struct vq_infl_region *r, uint64_t *counter, uint16_t head)
{
	r->desc[head].counter = ++*counter;
	__atomic_store_n(&r->desc[head].inflight, 1, __ATOMIC_RELEASE);
}

static inline void vq_infl_put(struct vq_infl_region *r, uint16_t head)
{
	r->desc[head].next = r->last_batch_head;
	__atomic_store_n(&r->last_batch_head, head, __ATOMIC_RELEASE);
}

/* After used->idx = used_idx was stored: clears the marks of the n entries
 * just published, read back from the used ring (ours to trust no more than
 * the region: masked). */
static inline void vq_infl_publish(struct vq_infl_region *r, const struct vring_used *u,
                                   uint16_t mask, uint16_t used_idx, uint16_t n)
{
	for (uint16_t i = (uint16_t)(used_idx - n); i != used_idx; i++) {
		uint32_t h = __atomic_load_n(&u->ring[i & mask].id, __ATOMIC_RELAXED);
		__atomic_store_n(&r->desc[h & mask].inflight, 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&r->used_idx, used_idx, __ATOMIC_RELEASE);
}

/* A popped chain given back to the avail ring: no longer ours. */
static inline void vq_infl_unpop(struct vq_infl_region *r, uint16_t mask, uint32_t head)
{
	__atomic_store_n(&r->desc[head & mask].inflight, 0, __ATOMIC_RELAXED);
}

/* At ring start (control thread, ring not live): reads the region r of a
 * ring of `size` entries whose used index is `used` and that resumes at
 * avail entry `base` (== used), makes it consistent (the spec's recovery
 * of a batch cut short) and checks that the chains still marked are the
 * avail entries base, base+1, ... in pop order. A fresh region (version 0)
 * is initialised. *resubmit gets how many chains were in flight (the ring
 * serves them again from base), *counter the pop counter to go on with.
 * Returns 0, or -EINVAL with a reason in err (the region is refused). */
int vq_infl_recover(struct vq_infl_region *r, const struct vring_avail *avail, uint16_t size,
                    uint16_t used, uint16_t base, uint16_t *resubmit, uint64_t *counter,
                    char *err, size_t errlen);

#endif
