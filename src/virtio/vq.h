/* vq.h - the device side of a virtio 1.x split virtqueue (VIRTIO 1.1 §2.6),
 * as vifd's datapath uses it: pop chains the driver made available, validate
 * and translate them into iovecs over guest memory, and return them through
 * the used ring with coalesced, EVENT_IDX-aware notifications.
 *
 * Security model: everything in the ring is written by the guest and may
 * change under us. Indices are loaded once (acquire for avail->idx) and
 * checked against the ring size; every descriptor is read once into a local
 * copy (two volatile 64-bit loads) and only the copy is validated and used;
 * chains are bounded in hops, segments and bytes; indirect tables are length
 * checked, must be contiguous in one region, and may not nest. A violation
 * returns a negative enum vq_err and the caller stops the port.
 *
 * Threading: vq_setup()/vq_reset() run on the control thread while the queue
 * is detached from the datapath; everything else runs on the one worker that
 * owns the queue (for a receive queue shared by several workers the caller
 * serialises with the queue's lock). */
#ifndef VIFD_VQ_H
#define VIFD_VQ_H

#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gmem.h"
#include "util.h"
#include "vq_inflight.h"

enum {
	VQ_MAX_SIZE = 32768, /* VIRTIO 1.1 §2.6: Queue Size max 32768 */
	VQ_MAX_IOV = 64,     /* segments one chain may map to */
	VQ_LOGC = 32,        /* dirty-log bytes a queue gathers before it sets them */
	VQ_INFLIGHT = 256,   /* packed: chains popped and not yet used, at most */
};

/* Why a chain or ring was refused; the port that did it is stopped. */
enum vq_err {
	VQ_OK = 0,
	VQ_ERR_AVAIL_IDX = 1, /* avail->idx moved by more than the ring size */
	VQ_ERR_HEAD,          /* head or next index outside the table */
	VQ_ERR_LOOP,          /* more hops than descriptors: a loop */
	VQ_ERR_ADDR,          /* buffer not inside guest memory */
	VQ_ERR_INDIRECT,      /* bad indirect table: len, nesting, NEXT, placement */
	VQ_ERR_DIRECTION,     /* writable buffer in a tx chain or readable in rx */
	VQ_ERR_SEGS,          /* chain maps to more than VQ_MAX_IOV segments */
	VQ_ERR_LEN,           /* chain longer than allowed */
	VQ_ERR_ZERO,          /* zero-length buffer (bounds the walk by VQ_MAX_IOV) */
	VQ_ERR_FLAGS,         /* packed: a chain's descriptor not available (flags, wrap) */
	VQ_ERR_INFLIGHT,      /* packed: more chains taken than VQ_INFLIGHT (our bug) */
	VQ_ERR__MAX
};

const char *vq_err_str(int err);

/* Which buffers a chain may hold (VIRTIO 1.1 §2.6.4.2). */
enum vq_dir {
	VQ_OUT = 0,   /* device-readable only: a transmit chain */
	VQ_IN = 1,    /* device-writable only: a receive chain */
	VQ_MIXED = 2, /* readable ones, then writable ones: a control command */
};

struct vq_chain {
	uint16_t head;  /* split: descriptor index to return in the used ring;
	                 * packed: the buffer id */
	uint16_t niov;  /* mapped segments */
	uint16_t nout;  /* the first nout segments are device-readable */
	uint32_t len;   /* total bytes of the chain */
	struct iovec iov[VQ_MAX_IOV];
};

struct vq {
	/* Ring geometry and memory: set by the control thread (vq_setup) while
	 * the queue is detached; read-only for workers. */
	volatile struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct gmem *mem;
	uint16_t size;       /* split: power of two; packed: any; <= VQ_MAX_SIZE */
	uint16_t mask;       /* split only */
	bool packed;         /* VIRTIO_F_RING_PACKED: the fields below, vqp.h */
	volatile struct vring_packed_desc *pdesc;        /* packed descriptor ring */
	const struct vring_packed_desc_event *drv_event; /* driver area (guest writes) */
	struct vring_packed_desc_event *dev_event;       /* device area (we write) */
	bool event_idx;      /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;       /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint32_t max_len;    /* longest chain accepted (bytes) */
	int callfd;          /* eventfd to signal the guest, -1: none */

	/* Datapath state: owned by the worker serving the queue; the control
	 * thread reads it only while the queue is detached. */
	uint16_t last_avail;     /* next avail entry to consume (packed: ring slot) */
	uint16_t used_idx;       /* shadow of used->idx (next entry to fill);
	                          * packed: used descriptors written, mod 2^16 */
	uint16_t signalled_used; /* used_idx at the last call */
	bool signalled_valid;    /* signalled_used means something */
	uint16_t used_pending;   /* entries written since the last publish */
	/* Packed ring position (vqp.h): wrap counters, the slot the next used
	 * descriptor goes to, the slot last signalled, the first used
	 * descriptor of the batch (its flags are stored at the publish, last),
	 * and a FIFO of the ring slots each chain popped and not yet used
	 * took (the device skips that many slots when it uses it). */
	bool avail_wrap, used_wrap;
	uint16_t used_slot;
	uint16_t signalled_slot;
	uint16_t first_slot, first_flags;
	uint16_t pslot_head, pslot_n;
	uint16_t pslot[VQ_INFLIGHT];

	/* Dirty-page logging (live migration): while the device logs (set by
	 * the control thread with the queue detached), every page of guest
	 * memory written through this queue is marked in the frontend's log.
	 * The marks of a burst are gathered in logc (one entry per log byte)
	 * and set after the burst's writes, at vq_used_publish (or when logc
	 * fills): a mark never precedes a write it stands for, and a burst
	 * costs an atomic OR per log byte it touches, not per write. */
	const struct dirty_log *log;  /* NULL: not logging */
	bool log_used;           /* the used ring is logged (VHOST_VRING_F_LOG) ... */
	uint64_t log_used_gpa;   /* ... at this guest physical address */
	uint16_t logc_n;
	struct vq_logc {
		uint64_t byte;
		uint8_t mask;
	} logc[VQ_LOGC];

	/* Inflight tracking (vq_inflight.h): this ring's part of the
	 * frontend's inflight region, set by the control thread with the
	 * queue detached (NULL: not tracked); the pop counter, the worker's. */
	struct vq_infl_region *infl;
	uint64_t infl_counter;
} cache_aligned;

/* Sizes in bytes of the three ring areas for a queue of `size` entries,
 * including the EVENT_IDX words (always present in the layout). */
static inline uint64_t vq_desc_bytes(uint32_t size) { return 16ull * size; }
static inline uint64_t vq_avail_bytes(uint32_t size) { return 6ull + 2ull * size; }
static inline uint64_t vq_used_bytes(uint32_t size) { return 6ull + 8ull * size; }

/* Maps ring addresses (frontend virtual addresses, as SET_VRING_ADDR gives
 * them) through mem for the full length of each area and checks alignment.
 * Returns 0 or -EINVAL and a reason in err. Resets the datapath state to
 * last_avail = used_idx = base. */
int vq_setup(struct vq *q, const struct gmem *mem, uint32_t size, uint64_t desc_uva,
             uint64_t avail_uva, uint64_t used_uva, uint16_t base, char *err, size_t errlen);

/* How many entries the guest has made available, or -VQ_ERR_AVAIL_IDX. */
static inline int vq_avail_count(const struct vq *q)
{
	uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - q->last_avail);

	if (unlikely(n > q->size))
		return -VQ_ERR_AVAIL_IDX;
	return n;
}

/* Reads descriptor i of table t once into *d. */
static inline void desc_read(const volatile struct vring_desc *t, uint32_t i, struct vring_desc *d)
{
	const volatile uint64_t *p = (const volatile uint64_t *)(const volatile void *)&t[i];
	uint64_t a = p[0], b = p[1];

	d->addr = a;
	d->len = (uint32_t)b;
	d->flags = (uint16_t)(b >> 32);
	d->next = (uint16_t)(b >> 48);
}

/* Prefetches the descriptors of the next n available entries (n at most
 * what vq_avail_count() returned), so that popping a burst waits for the
 * guest's cache lines once, not once per chain. Only a hint: vq_pop()
 * reads and checks every index again, and the prefetch stays inside the
 * table whatever the guest wrote. */
static inline void vq_prefetch(const struct vq *q, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = __atomic_load_n(&q->avail->ring[(uint16_t)(q->last_avail + i) & q->mask],
		                               __ATOMIC_RELAXED);
		__builtin_prefetch((const void *)&q->desc[idx & q->mask]);
	}
}

/* Walks the chain starting at avail entry last_avail (which the caller has
 * checked is available), consumes that entry and fills its segments into
 * iov[0..*niov) (at most VQ_MAX_IOV), the first *nout device-readable, its
 * total length and descriptor head. dir (enum vq_dir) says which buffers
 * the chain may hold. Returns VQ_OK or -enum vq_err. */
static inline int vq_pop_into(struct vq *q, struct iovec *iov, uint16_t *niov, uint16_t *nout,
                              uint32_t *len, uint16_t *head, int dir)
{
	const volatile struct vring_desc *tbl = q->desc;
	uint32_t tbl_size = q->size, idx, hops = 0;
	uint64_t total = 0;
	bool in_indirect = false, seen_write = false;
	struct vring_desc d;

	idx = __atomic_load_n(&q->avail->ring[q->last_avail & q->mask], __ATOMIC_RELAXED);
	if (unlikely(idx >= q->size))
		return -VQ_ERR_HEAD;
	q->last_avail++;
	*head = (uint16_t)idx;
	if (q->infl)
		vq_infl_pop(q->infl, &q->infl_counter, *head);
	*niov = 0;
	*nout = 0;
	for (;;) {
		if (unlikely(idx >= tbl_size))
			return -VQ_ERR_HEAD;
		if (unlikely(++hops > tbl_size))
			return -VQ_ERR_LOOP;
		desc_read(tbl, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* Only as the sole descriptor of a chain (VIRTIO 1.1
			 * 2.6.5.3.1: no INDIRECT with NEXT, no nesting). */
			if (unlikely(!q->indirect || in_indirect || hops != 1 ||
			             (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			             d.len % sizeof(struct vring_desc) ||
			             d.len / sizeof(struct vring_desc) > q->size))
				return -VQ_ERR_INDIRECT;
			tbl = (const volatile struct vring_desc *)gmem_gpa_range(q->mem, d.addr, d.len);
			/* Our pointer must be aligned (the 64-bit loads). */
			if (unlikely(!tbl || ((uintptr_t)tbl & 0xf)))
				return -VQ_ERR_INDIRECT;
			tbl_size = d.len / sizeof(struct vring_desc);
			idx = 0;
			hops = 0;
			in_indirect = true;
			continue;
		}
		bool w = d.flags & VRING_DESC_F_WRITE;
		if (dir == VQ_MIXED) {
			if (unlikely(!w && seen_write))
				return -VQ_ERR_DIRECTION; /* readable after writable */
			seen_write |= w;
		} else if (unlikely(w != (dir == VQ_IN))) {
			return -VQ_ERR_DIRECTION;
		}
		/* Every hop maps at least one segment, so a chain costs at most
		 * VQ_MAX_IOV descriptor reads however large the table. */
		if (unlikely(d.len == 0))
			return -VQ_ERR_ZERO;
		total += d.len;
		if (unlikely(total > q->max_len))
			return -VQ_ERR_LEN;
		/* A buffer may cross regions: one segment per region part. */
		while (d.len) {
			uint64_t contig;
			uint8_t *p = gmem_gpa(q->mem, d.addr, &contig);
			uint32_t seg;

			if (unlikely(!p))
				return -VQ_ERR_ADDR;
			if (unlikely(*niov == VQ_MAX_IOV))
				return -VQ_ERR_SEGS;
			seg = contig < d.len ? (uint32_t)contig : d.len;
			iov[*niov].iov_base = p;
			iov[*niov].iov_len = seg;
			(*niov)++;
			d.addr += seg;
			d.len -= seg;
		}
		if (!w)
			*nout = *niov;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
	}
	*len = (uint32_t)total;
	return VQ_OK;
}

/* vq_pop_into() into a struct vq_chain. */
static inline int vq_pop(struct vq *q, struct vq_chain *c, int dir)
{
	return vq_pop_into(q, c->iov, &c->niov, &c->nout, &c->len, &c->head, dir);
}

/* Gives back `n` popped-but-unused entries (they stay available). */
static inline void vq_unpop(struct vq *q, uint16_t n)
{
	if (q->infl)
		for (uint16_t i = 1; i <= n; i++)
			vq_infl_unpop(q->infl, q->mask,
			              q->avail->ring[(uint16_t)(q->last_avail - i) & q->mask]);
	q->last_avail -= n;
}

/* Sets the gathered marks (after the writes they stand for). */
static inline void vq_log_flush(struct vq *q)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned i = 0; i < q->logc_n; i++)
		dirty_mark_byte(q->log, q->logc[i].byte, q->logc[i].mask);
	q->logc_n = 0;
}

/* Gathers the marks of len bytes at guest physical address gpa (len > 0;
 * the write is done). */
static inline void vq_log_gpa(struct vq *q, uint64_t gpa, uint64_t len)
{
	uint64_t first = gpa >> DIRTY_PAGE_SHIFT;
	uint64_t last = (len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + len - 1) >> DIRTY_PAGE_SHIFT;

	for (uint64_t pg = first;; pg++) {
		uint64_t byte = pg >> 3;
		uint8_t bit = (uint8_t)(1u << (pg & 7));
		unsigned i;

		for (i = 0; i < q->logc_n && q->logc[i].byte != byte; i++)
			;
		if (i == q->logc_n) {
			if (q->logc_n == VQ_LOGC) {
				vq_log_flush(q);
				i = 0;
			}
			q->logc[i].byte = byte;
			q->logc[i].mask = 0;
			q->logc_n = (uint16_t)(i + 1);
		}
		q->logc[i].mask |= bit;
		if (pg == last)
			break;
	}
}

/* Gathers the marks of the first len bytes written into chain segments
 * iov[0..niov) (our pointers, translated back to guest addresses). */
static inline void vq_log_iov(struct vq *q, const struct iovec *iov, unsigned niov, uint64_t len)
{
	for (unsigned s = 0; s < niov && len; s++) {
		uint64_t n = MIN(iov[s].iov_len, len), gpa;

		if (n && gmem_hva_gpa(q->mem, iov[s].iov_base, &gpa))
			vq_log_gpa(q, gpa, n);
		len -= n;
	}
}

/* Gathers the mark of `len` bytes at offset off of the used ring. */
static inline void vq_log_used(struct vq *q, uint64_t off, uint64_t len)
{
	if (q->log_used && off <= UINT64_MAX - q->log_used_gpa) /* (a hostile address: no wrap) */
		vq_log_gpa(q, q->log_used_gpa + off, len);
}

/* Writes one used entry; visible to the guest after vq_used_publish(). */
static inline void vq_used_put(struct vq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &q->used->ring[q->used_idx & q->mask];

	e->id = head;
	e->len = len;
	if (q->infl)
		vq_infl_put(q->infl, head & q->mask);
	if (unlikely(q->log))
		vq_log_used(q, 4 + 8ull * (q->used_idx & q->mask), 8);
	q->used_idx++;
	q->used_pending++;
}

/* Publishes the used entries written so far (release: entries and buffer
 * contents before the index). */
static inline void vq_used_publish(struct vq *q)
{
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	if (q->infl)
		vq_infl_publish(q->infl, q->used, q->mask, q->used_idx, q->used_pending);
	q->used_pending = 0;
	if (unlikely(q->log)) {
		vq_log_used(q, 2, 2);
		vq_log_flush(q);
	}
}

/* After a publish: does the guest want an interrupt (VIRTIO 1.1 §2.6.7.2)? */
static inline bool vq_need_call(struct vq *q)
{
	uint16_t old = q->signalled_used, new_idx = q->used_idx;
	bool valid = q->signalled_valid;

	/* The used index store must be visible before we read the guest's
	 * suppression fields, or we may miss a just-enabled interrupt. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->signalled_used = new_idx;
	q->signalled_valid = true;
	if (q->event_idx) {
		uint16_t ev = __atomic_load_n(&q->avail->ring[q->size], __ATOMIC_RELAXED);
		return !valid || (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
	}
	return !(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

/* Writes the call eventfd. vifd sets O_NONBLOCK on it when it arrives,
 * but the guest shares the file and may clear that flag and saturate the
 * counter: then the write blocks until a signal interrupts it (the
 * datapath's watchdog, see dp_port.c). Returns false on any failure but a
 * full counter with O_NONBLOCK (the guest has not read its interrupts yet,
 * which is its business). */
static inline bool vq_call_fd(struct vq *q)
{
	static const uint64_t one = 1;

	if (q->callfd < 0)
		return true;
	if (write(q->callfd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		return true;
	return errno == EAGAIN;
}

/* Signals the guest if it asked to be; one write per burst at most. */
static inline bool vq_call(struct vq *q)
{
	return !vq_need_call(q) || vq_call_fd(q);
}

/* Kick suppression (VIRTIO 1.1 §2.6.7.1). While a worker polls it asks the
 * guest not to kick; before sleeping it asks for kicks again and must then
 * re-check vq_avail_count() (a kick may have been skipped in between).
 * With EVENT_IDX, kicks stop by moving avail_event half the index space
 * ahead: the guest kicks only when its index passes it, which it cannot do
 * before we look again (we re-arm before any sleep). Leaving it where the
 * last arm put it would let the guest's next frame kick a worker that is
 * already polling, and that stale kick would end its next sleep at once. */
static inline void vq_log_notify_word(struct vq *q)
{
	if (unlikely(q->log)) {
		if (q->event_idx)
			vq_log_used(q, 4 + 8ull * q->size, 2);
		else
			vq_log_used(q, 0, 2);
		vq_log_flush(q);
	}
}

static inline void vq_kicks_disable(struct vq *q)
{
	if (q->event_idx)
		__atomic_store_n((uint16_t *)&q->used->ring[q->size], (uint16_t)(q->last_avail + 0x8000),
		                 __ATOMIC_RELAXED);
	else
		__atomic_store_n(&q->used->flags, (uint16_t)VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	vq_log_notify_word(q);
}

static inline void vq_kicks_enable(struct vq *q)
{
	if (q->event_idx)
		__atomic_store_n((uint16_t *)&q->used->ring[q->size], q->last_avail, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&q->used->flags, (uint16_t)0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq_log_notify_word(q);
}

#endif
