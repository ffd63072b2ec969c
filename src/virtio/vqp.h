/* vqp.h - the device side of a virtio 1.1 packed virtqueue (§2.7), the
 * same service as vq.h gives for split rings and over the same struct vq:
 * pop the chains the driver made available, validate and translate them
 * into iovecs over guest memory, write used descriptors back, and suppress
 * or send notifications. At the end, vqx_*() choose split or packed from a
 * flag the caller reads once per burst: inlined into a burst function with
 * a constant flag, they leave no branch on the ring kind per packet.
 *
 * Layout (VIRTIO 1.1 §2.7, VIRTIO_F_RING_PACKED): one ring of 16-byte
 * descriptors {addr, len, id, flags} that the driver and the device both
 * write, plus two 4-byte event suppression structures {off_wrap, flags}:
 * the driver area (the guest's, read here) and the device area (ours).
 * Each side keeps a wrap counter, 1 at start and flipped at each lap. A
 * slot is available when its AVAIL flag equals the driver's wrap counter
 * and its USED flag does not; the device marks it used with both equal to
 * its own counter. A chain is a run of slots linked by NEXT; its buffer id
 * is in the last one. Used descriptors are written in order here (vifd
 * completes in the order it pops), at the device's own position, which
 * then skips as many slots as the chain took.
 *
 * Security model, as vq.h: the whole ring is guest memory that may change
 * under us. A descriptor's flags are loaded once (acquire: the rest of it
 * was written before them), then its address, length and id once, and
 * only those copies are checked and used. Every slot of a chain must be
 * available with the expected wrap counter (else VQ_ERR_FLAGS); a chain
 * takes at most `size` slots (VQ_ERR_LOOP) and VQ_MAX_IOV segments;
 * buffer ids must be below the ring size (VQ_ERR_HEAD); an indirect
 * descriptor must stand alone (no NEXT, not inside a chain), with a table
 * of 1..size entries, a multiple of 16 bytes, inside one region and
 * aligned, and no INDIRECT inside it (VQ_ERR_INDIRECT); addresses,
 * lengths, direction and zero lengths are checked as for split rings. The
 * driver's event suppression structure is read field by field, once per
 * call decision; a reserved or out-of-range value means "notify" (an
 * interrupt too many is the guest's loss, never ours). Writes into the
 * descriptor ring and the device area are marked in the dirty log like
 * the split used ring (by our pointer translated back to its guest
 * address).
 *
 * Threading: as vq.h. */
#ifndef VIFD_VQP_H
#define VIFD_VQP_H

#include "vq.h"

enum {
	VQP_F_AVAIL = 1 << VRING_PACKED_DESC_F_AVAIL,
	VQP_F_USED = 1 << VRING_PACKED_DESC_F_USED,
	VQP_EVENT_BYTES = 4, /* struct vring_packed_desc_event */
};

static inline uint64_t vqp_desc_bytes(uint32_t size) { return 16ull * size; }

/* Maps a packed ring (descriptor ring, driver area, device area: the three
 * addresses of SET_VRING_ADDR) through mem and checks sizes and alignment.
 * base is the vhost-user position (vqp_base()): bits 0-14 the next slot to
 * take, bit 15 the driver's wrap counter, bits 16-30 and 31 the next used
 * slot and the device's wrap counter; an upper half of 0 (a frontend that
 * sends only the avail half) means "nothing in flight". When the used
 * position is behind the avail one, the ring resumes at the used one (the
 * chains in between are still marked available and are taken again).
 * Returns 0 or -EINVAL with a reason in err. */
int vq_setup_packed(struct vq *q, const struct gmem *mem, uint32_t size, uint64_t desc_uva,
                    uint64_t driver_uva, uint64_t device_uva, uint32_t base, char *err,
                    size_t errlen);

/* The ring's position in vhost-user form (GET_VRING_BASE). */
static inline uint32_t vqp_base(const struct vq *q)
{
	uint32_t used = q->used_slot | (uint32_t)q->used_wrap << 15;

	return q->last_avail | (uint32_t)q->avail_wrap << 15 | used << 16;
}

static inline bool vqp_is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VQP_F_AVAIL) == wrap && !!(flags & VQP_F_USED) != wrap;
}

/* Loads the flags of descriptor d (acquire: what the driver wrote before
 * them is visible after). */
static inline uint16_t vqp_flags(const volatile struct vring_packed_desc *d)
{
	return __atomic_load_n((const uint16_t *)(const void *)&d->flags, __ATOMIC_ACQUIRE);
}

/* Reads address, length and id of descriptor d once (two 64-bit loads;
 * the flags in the second word are not used: vqp_flags() read them). */
static inline void vqp_desc_read(const volatile struct vring_packed_desc *d, uint64_t *addr,
                                 uint32_t *len, uint16_t *id)
{
	const volatile uint64_t *p = (const volatile uint64_t *)(const volatile void *)d;
	uint64_t a = p[0], b = p[1];

	*addr = a;
	*len = (uint32_t)b;
	*id = (uint16_t)(b >> 32);
}

static inline void vqp_slot_next(const struct vq *q, uint16_t *slot, bool *wrap)
{
	if (++*slot == q->size) {
		*slot = 0;
		*wrap = !*wrap;
	}
}

/* How many chains the driver has made available, counting at most `limit`
 * of them (read from the flags only; vqp_pop_into() checks every slot
 * again), or -VQ_ERR_FLAGS if a chain stops at a slot that is not
 * available (the driver makes a chain's first slot available last, so once
 * it is seen the whole chain must be: VIRTIO 1.1 §2.7.13.1), -VQ_ERR_SEGS
 * if a chain has more slots than VQ_MAX_IOV (each slot maps a segment at
 * least: pop would refuse it; refused here so a guest cannot make every
 * count walk its whole ring), or -VQ_ERR_LOOP if a chain goes all round
 * the ring. Reads at most limit * VQ_MAX_IOV slots. */
static inline int vqp_avail_count(const struct vq *q, unsigned limit)
{
	uint16_t slot = q->last_avail;
	bool wrap = q->avail_wrap, in_chain = false;
	unsigned n = 0, seen, len = 0;

	for (seen = 0; n < limit && seen < q->size; seen++) {
		uint16_t fl = vqp_flags(&q->pdesc[slot]);

		if (!vqp_is_avail(fl, wrap)) {
			if (unlikely(in_chain))
				return -VQ_ERR_FLAGS;
			break;
		}
		in_chain = (fl & VRING_DESC_F_NEXT) && !(fl & VRING_DESC_F_INDIRECT);
		if (unlikely(++len > VQ_MAX_IOV))
			return -VQ_ERR_SEGS;
		if (!in_chain) {
			n++;
			len = 0;
		}
		vqp_slot_next(q, &slot, &wrap);
	}
	if (unlikely(in_chain && seen == q->size))
		return -VQ_ERR_LOOP;
	return (int)n;
}

/* Prefetches the descriptor lines of the next n slots. */
static inline void vqp_prefetch(const struct vq *q, unsigned n)
{
	uint16_t slot = q->last_avail;

	for (unsigned i = 0; i < n; i += 4) {
		__builtin_prefetch((const void *)&q->pdesc[slot]);
		slot = (uint16_t)((slot + 4u) % q->size);
	}
}

/* Checks one buffer of a chain (its descriptor's copied fields) and maps
 * it into iov[*niov..]. As the split walk in vq.h. */
static inline int vqp_map(const struct vq *q, struct iovec *iov, uint16_t *niov, uint16_t *nout,
                          uint64_t *total, bool *seen_write, uint64_t addr, uint32_t len,
                          bool w, int dir)
{
	if (dir == VQ_MIXED) {
		if (unlikely(!w && *seen_write))
			return -VQ_ERR_DIRECTION;
		*seen_write |= w;
	} else if (unlikely(w != (dir == VQ_IN))) {
		return -VQ_ERR_DIRECTION;
	}
	if (unlikely(len == 0))
		return -VQ_ERR_ZERO;
	*total += len;
	if (unlikely(*total > q->max_len))
		return -VQ_ERR_LEN;
	while (len) {
		uint64_t contig;
		uint8_t *p = gmem_gpa(q->mem, addr, &contig);
		uint32_t seg;

		if (unlikely(!p))
			return -VQ_ERR_ADDR;
		if (unlikely(*niov == VQ_MAX_IOV))
			return -VQ_ERR_SEGS;
		seg = contig < len ? (uint32_t)contig : len;
		iov[*niov].iov_base = p;
		iov[*niov].iov_len = seg;
		(*niov)++;
		addr += seg;
		len -= seg;
	}
	if (!w)
		*nout = *niov;
	return VQ_OK;
}

/* Walks the indirect table of `len` bytes at guest address addr. */
static inline int vqp_indirect(const struct vq *q, struct iovec *iov, uint16_t *niov,
                               uint16_t *nout, uint64_t *total, uint64_t addr, uint32_t len,
                               int dir)
{
	const volatile struct vring_packed_desc *t;
	bool seen_write = false;
	uint32_t n;

	if (unlikely(!q->indirect || len == 0 || len % sizeof(struct vring_packed_desc) ||
	             len / sizeof(struct vring_packed_desc) > q->size))
		return -VQ_ERR_INDIRECT;
	t = (const volatile struct vring_packed_desc *)(void *)gmem_gpa_range(q->mem, addr, len);
	if (unlikely(!t || ((uintptr_t)t & 0xf)))
		return -VQ_ERR_INDIRECT;
	n = len / sizeof(struct vring_packed_desc);
	/* Entries follow each other (no NEXT links: VIRTIO 1.1 §2.7.7); each
	 * maps at least one segment, so at most VQ_MAX_IOV are read. */
	for (uint32_t k = 0; k < n; k++) {
		const volatile uint64_t *p = (const volatile uint64_t *)(const volatile void *)&t[k];
		uint64_t a = p[0], b = p[1];
		uint16_t fl = (uint16_t)(b >> 48);
		int r;

		/* Only WRITE is valid in a table; INDIRECT would be nesting. */
		if (unlikely(fl & VRING_DESC_F_INDIRECT))
			return -VQ_ERR_INDIRECT;
		r = vqp_map(q, iov, niov, nout, total, &seen_write, a, (uint32_t)b,
		            fl & VRING_DESC_F_WRITE, dir);
		if (unlikely(r < 0))
			return r;
	}
	return VQ_OK;
}

/* Takes the chain at slot last_avail (which vqp_avail_count() saw
 * available), fills its segments into iov[0..*niov), the first *nout
 * device-readable, its total length and buffer id (*id). Returns VQ_OK or
 * -enum vq_err; on an error the ring's position is unchanged. */
static inline int vqp_pop_into(struct vq *q, struct iovec *iov, uint16_t *niov, uint16_t *nout,
                               uint32_t *len, uint16_t *id, int dir)
{
	uint16_t slot = q->last_avail, nslots = 0, did = 0;
	bool wrap = q->avail_wrap, seen_write = false;
	uint64_t total = 0, addr;
	uint32_t dlen;
	int r;

	*niov = 0;
	*nout = 0;
	if (unlikely(q->pslot_n == VQ_INFLIGHT))
		return -VQ_ERR_INFLIGHT;
	for (;;) {
		const volatile struct vring_packed_desc *d = &q->pdesc[slot];
		uint16_t fl = vqp_flags(d);

		if (unlikely(!vqp_is_avail(fl, wrap)))
			return -VQ_ERR_FLAGS;
		if (unlikely(++nslots > q->size))
			return -VQ_ERR_LOOP;
		vqp_desc_read(d, &addr, &dlen, &did);
		if (fl & VRING_DESC_F_INDIRECT) {
			/* Alone in its slot: not after NEXT, not with it. */
			if (unlikely(nslots != 1 || (fl & VRING_DESC_F_NEXT)))
				return -VQ_ERR_INDIRECT;
			r = vqp_indirect(q, iov, niov, nout, &total, addr, dlen, dir);
		} else {
			r = vqp_map(q, iov, niov, nout, &total, &seen_write, addr, dlen,
			            fl & VRING_DESC_F_WRITE, dir);
		}
		if (unlikely(r < 0))
			return r;
		vqp_slot_next(q, &slot, &wrap);
		if (!(fl & VRING_DESC_F_NEXT) || (fl & VRING_DESC_F_INDIRECT))
			break;
	}
	/* The buffer id is the driver's; vifd keeps nothing per id, but a
	 * driver's ids are below the ring size, and an id beyond is a bug. */
	if (unlikely(did >= q->size))
		return -VQ_ERR_HEAD;
	q->last_avail = slot;
	q->avail_wrap = wrap;
	q->pslot[(uint16_t)(q->pslot_head + q->pslot_n) % VQ_INFLIGHT] = nslots;
	q->pslot_n++;
	*id = did;
	*len = (uint32_t)total;
	return VQ_OK;
}

/* Gives back the last n chains popped (they stay available). */
static inline void vqp_unpop(struct vq *q, uint16_t n)
{
	for (; n && q->pslot_n; n--) {
		uint16_t k = q->pslot[(uint16_t)(q->pslot_head + q->pslot_n - 1) % VQ_INFLIGHT];

		q->pslot_n--;
		if (q->last_avail >= k) {
			q->last_avail = (uint16_t)(q->last_avail - k);
		} else {
			q->last_avail = (uint16_t)(q->last_avail + q->size - k);
			q->avail_wrap = !q->avail_wrap;
		}
	}
}

/* Gathers the dirty-log marks of len bytes we wrote at p in the ring. */
static inline void vqp_log_ring(struct vq *q, const volatile void *p, uint64_t len)
{
	uint64_t gpa;

	if (gmem_hva_gpa(q->mem, (const void *)p, &gpa))
		vq_log_gpa(q, gpa, len);
}

/* Writes the used descriptor of the oldest chain in flight (buffer id,
 * len bytes written); visible to the guest after vqp_used_publish(). */
static inline void vqp_used_put(struct vq *q, uint16_t id, uint32_t len)
{
	volatile struct vring_packed_desc *d = &q->pdesc[q->used_slot];
	uint16_t fl = (uint16_t)((q->used_wrap ? VQP_F_AVAIL | VQP_F_USED : 0) |
	                         (len ? VRING_DESC_F_WRITE : 0));
	uint16_t k = 1;

	if (likely(q->pslot_n)) {
		k = q->pslot[q->pslot_head];
		q->pslot_head = (uint16_t)((q->pslot_head + 1) % VQ_INFLIGHT);
		q->pslot_n--;
	}
	d->id = id;
	d->len = len;
	/* The first descriptor's flags go last (vqp_used_publish): the
	 * driver then sees the batch at once (VIRTIO 1.1 §2.7.9). */
	if (q->used_pending == 0) {
		q->first_slot = q->used_slot;
		q->first_flags = fl;
	} else {
		__atomic_store_n((uint16_t *)(void *)&d->flags, fl, __ATOMIC_RELEASE);
	}
	if (unlikely(q->log))
		vqp_log_ring(q, d, sizeof(*d));
	q->used_slot = (uint16_t)(q->used_slot + k);
	if (q->used_slot >= q->size) {
		q->used_slot = (uint16_t)(q->used_slot - q->size);
		q->used_wrap = !q->used_wrap;
	}
	q->used_idx++;
	q->used_pending++;
}

/* Publishes the used descriptors written so far (release: their fields
 * and the buffers' contents before the first one's flags). */
static inline void vqp_used_publish(struct vq *q)
{
	if (q->used_pending) {
		__atomic_store_n((uint16_t *)(void *)&q->pdesc[q->first_slot].flags, q->first_flags,
		                 __ATOMIC_RELEASE);
		/* (marked again after this store: its first mark, at used_put,
		 * may have been set and cleared by the frontend before it) */
		if (unlikely(q->log))
			vqp_log_ring(q, &q->pdesc[q->first_slot], sizeof(q->pdesc[0]));
	}
	q->used_pending = 0;
	if (unlikely(q->log))
		vq_log_flush(q);
}

/* After a publish: does the guest want an interrupt (VIRTIO 1.1 §2.7.10)?
 * The driver area is the guest's: flags DISABLE means no, DESC (only with
 * EVENT_IDX) means when the used position passes off_wrap, anything else
 * (ENABLE, the reserved value, DESC without EVENT_IDX, an offset outside
 * the ring) means yes. */
static inline bool vqp_need_call(struct vq *q)
{
	uint16_t old = q->signalled_slot, new_slot = q->used_slot, fl, off_wrap, off;
	bool valid = q->signalled_valid;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->signalled_slot = new_slot;
	q->signalled_valid = true;
	fl = __atomic_load_n(&q->drv_event->flags, __ATOMIC_RELAXED) & 3;
	if (fl == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (fl != VRING_PACKED_EVENT_FLAG_DESC || !q->event_idx || !valid)
		return true;
	off_wrap = __atomic_load_n(&q->drv_event->off_wrap, __ATOMIC_RELAXED);
	off = off_wrap & 0x7fff;
	if (off >= q->size)
		return true;
	/* Slots on one line across the wrap (mod 2^16 arithmetic): the
	 * previous lap's positions are taken `size` lower. */
	if (new_slot <= old)
		old = (uint16_t)(old - q->size);
	if (q->used_wrap != (off_wrap >> 15))
		off = (uint16_t)(off - q->size);
	return (uint16_t)(new_slot - off - 1) < (uint16_t)(new_slot - old);
}

/* Kick suppression: the device area's flags (ENABLE / DISABLE; vifd never
 * asks for a kick at one descriptor). As vq_kicks_enable(), the caller
 * looks at the ring again after enabling. */
static inline void vqp_kicks_set(struct vq *q, bool on)
{
	__atomic_store_n(&q->dev_event->flags,
	                 (uint16_t)(on ? VRING_PACKED_EVENT_FLAG_ENABLE : VRING_PACKED_EVENT_FLAG_DISABLE),
	                 __ATOMIC_RELAXED);
	if (on)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (unlikely(q->log)) {
		vqp_log_ring(q, &q->dev_event->flags, 2);
		vq_log_flush(q);
	}
}

/* ---- split or packed, chosen by `packed`: a constant in a burst
 * function (one specialisation each), q->packed on the control path. ---- */

#define VQX_INLINE static inline __attribute__((always_inline))

/* Chains available: split, all of them (or -VQ_ERR_AVAIL_IDX); packed, at
 * most limit. */
VQX_INLINE int vqx_avail_count(struct vq *q, bool packed, unsigned limit)
{
	return packed ? vqp_avail_count(q, limit) : vq_avail_count(q);
}

VQX_INLINE void vqx_prefetch(const struct vq *q, bool packed, unsigned n)
{
	if (packed)
		vqp_prefetch(q, n);
	else
		vq_prefetch(q, n);
}

VQX_INLINE int vqx_pop_into(struct vq *q, bool packed, struct iovec *iov, uint16_t *niov,
                            uint16_t *nout, uint32_t *len, uint16_t *head, int dir)
{
	return packed ? vqp_pop_into(q, iov, niov, nout, len, head, dir)
	              : vq_pop_into(q, iov, niov, nout, len, head, dir);
}

VQX_INLINE int vqx_pop(struct vq *q, bool packed, struct vq_chain *c, int dir)
{
	return vqx_pop_into(q, packed, c->iov, &c->niov, &c->nout, &c->len, &c->head, dir);
}

VQX_INLINE void vqx_unpop(struct vq *q, bool packed, uint16_t n)
{
	if (packed)
		vqp_unpop(q, n);
	else
		vq_unpop(q, n);
}

VQX_INLINE void vqx_used_put(struct vq *q, bool packed, uint16_t head, uint32_t len)
{
	if (packed)
		vqp_used_put(q, head, len);
	else
		vq_used_put(q, head, len);
}

VQX_INLINE void vqx_used_publish(struct vq *q, bool packed)
{
	if (packed)
		vqp_used_publish(q);
	else
		vq_used_publish(q);
}

VQX_INLINE bool vqx_need_call(struct vq *q, bool packed)
{
	return packed ? vqp_need_call(q) : vq_need_call(q);
}

VQX_INLINE bool vqx_call(struct vq *q, bool packed)
{
	return !vqx_need_call(q, packed) || vq_call_fd(q);
}

VQX_INLINE void vqx_kicks_enable(struct vq *q, bool packed)
{
	if (packed)
		vqp_kicks_set(q, true);
	else
		vq_kicks_enable(q);
}

VQX_INLINE void vqx_kicks_disable(struct vq *q, bool packed)
{
	if (packed)
		vqp_kicks_set(q, false);
	else
		vq_kicks_disable(q);
}

/* The position GET_VRING_BASE reports. */
static inline uint32_t vqx_base(const struct vq *q)
{
	return q->packed ? vqp_base(q) : q->last_avail;
}

#endif
