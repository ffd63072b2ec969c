/* fdb.c - the MAC table's slow paths: inserts and moves by learners, and
 * every control-thread call (static entries, deletes, flushes, the ageing
 * sweep, listings). The seqlock protocol, the duplicate rule and the
 * threading contract are described at the top of fdb.h; this file follows
 * it. Learners never wait: a slot another thread owns is skipped. The
 * control thread may spin briefly on a slot a learner owns (a learner holds
 * a slot for a few stores). */
#include "fdb.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "clk.h"
#include "xalloc.h"

enum {
	CTL_TRIES = 1 << 20,    /* control-thread spins on one busy slot */
	CTL_RETRIES = 64,       /* add_static restarts after losing a race */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int sw_fdb_create(const struct sw_fdb_config *c, struct sw_fdb **out)
{
	struct sw_fdb_config d = { 0 };
	struct sw_fdb *f;
	uint32_t slots;
	uint64_t seed;

	*out = NULL;
	if (c)
		d = *c;
	slots = d.slots ? d.slots : SW_FDB_DEFAULT_SLOTS;
	if (!is_pow2(slots) || slots < SW_FDB_MIN_SLOTS || slots > SW_FDB_MAX_SLOTS)
		return -EINVAL;
	if (d.age_s > SW_FDB_MAX_AGE_S)
		return -EINVAL;
	f = xaligned_calloc(CACHE_LINE, sizeof(*f) + (size_t)slots * sizeof(f->slot[0]));
	if (!f)
		return -ENOMEM;
	f->mask = slots - 1;
	f->age_s = d.age_s ? d.age_s : SW_FDB_DEFAULT_AGE_S;
	f->default_limit = d.default_limit ? d.default_limit : SW_FDB_DEFAULT_LIMIT;
	/* A random seed keeps a guest from choosing MACs that share a window. */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = clk_cycles() ^ (uint64_t)(uintptr_t)f;
	f->seed = seed;
	for (unsigned p = 0; p < SW_FDB_MAX_PORTS; p++) {
		atomic_init(&f->limit[p], f->default_limit);
		atomic_init(&f->count[p], 0);
	}
	for (uint32_t i = 0; i < slots; i++) {
		atomic_init(&f->slot[i].key, 0);
		atomic_init(&f->slot[i].meta, 0);
		atomic_init(&f->slot[i].seen_s, 0);
	}
	*out = f;
	return 0;
}

void sw_fdb_destroy(struct sw_fdb *f)
{
	xfree(f);
}

/* Takes ownership of s if its meta is still m (even). */
static bool slot_lock(struct sw_fdb_slot *s, uint32_t m)
{
	if (m & SW_FDB_META_BUSY)
		return false;
	if (!atomic_compare_exchange_strong_explicit(&s->meta, &m, m + SW_FDB_META_SEQ1,
	                                             memory_order_acquire, memory_order_relaxed))
		return false;
	/* Orders the odd sequence before our data stores (seqlock writer). */
	atomic_thread_fence(memory_order_release);
	return true;
}

enum { META_DATA = SW_FDB_META_PORT | SW_FDB_META_REM | SW_FDB_META_STATIC };

/* Releases s, locked from meta m, with port/remote/static bits `bits`. The
 * sequence wraps in the top bits; no carry reaches the data bits. */
static void slot_unlock(struct sw_fdb_slot *s, uint32_t m, uint32_t bits)
{
	uint32_t seq = (m + 2 * SW_FDB_META_SEQ1) & ~(uint32_t)META_DATA;

	atomic_store_explicit(&s->meta, seq | bits, memory_order_release);
}

static uint32_t meta_bits(uint32_t m)
{
	return m & META_DATA;
}

/* The port and remote bits of meta for (port, rem); port < SW_FDB_MAX_PORTS. */
static uint32_t where_bits(uint16_t port, uint8_t rem)
{
	return port | (uint32_t)rem << SW_FDB_META_REM_SHIFT;
}

static uint8_t meta_rem(uint32_t m)
{
	return (uint8_t)((m & SW_FDB_META_REM) >> SW_FDB_META_REM_SHIFT);
}

/* One unit of port's learned-MAC budget; false at the limit. */
static bool count_reserve(struct sw_fdb *f, uint16_t port)
{
	uint32_t lim = atomic_load_explicit(&f->limit[port], memory_order_relaxed);
	uint32_t c = atomic_load_explicit(&f->count[port], memory_order_relaxed);

	while (c < lim) {
		if (atomic_compare_exchange_weak_explicit(&f->count[port], &c, c + 1,
		                                          memory_order_relaxed,
		                                          memory_order_relaxed))
			return true;
	}
	return false;
}

static void count_release(struct sw_fdb *f, uint16_t port)
{
	uint32_t old = atomic_fetch_sub_explicit(&f->count[port], 1, memory_order_relaxed);

	(void)NEVER(old == 0);
}

enum ins { INS_DONE, INS_DUP, INS_NOSLOT };

/* Puts key, with meta bits `bits`, into a free slot of its window: an empty
 * one, else a learned one that is expired at now_s (or any learned one when
 * evict_live, for static entries). Backs out when another copy of key shows
 * up in the window (see "Duplicates" in fdb.h). The caller holds the count
 * for a learned entry; an evicted learned entry's count is released here. */
static enum ins insert(struct sw_fdb *f, uint64_t key, uint32_t bits, uint32_t now_s,
                       bool evict_live)
{
	uint64_t h = sw_fdb_hash(f, key);
	struct sw_fdb_slot *s = NULL;
	uint32_t m = 0;
	int evicted = -1;
	bool dup = false;

	unsigned nfree[2] = { 0, 0 }, first;

	/* Balanced two-choice placement: the emptier bucket first. */
	for (unsigned i = 0; i < SW_FDB_PROBE; i++)
		nfree[i / SW_FDB_BUCKET] +=
			!atomic_load_explicit(&sw_fdb_win(f, h, i)->key, memory_order_relaxed);
	first = nfree[1] > nfree[0] ? SW_FDB_BUCKET : 0;
	for (unsigned j = 0; j < SW_FDB_PROBE && !s; j++) {
		struct sw_fdb_slot *c = sw_fdb_win(f, h, (j + first) % SW_FDB_PROBE);

		if (atomic_load_explicit(&c->key, memory_order_relaxed))
			continue;
		m = atomic_load_explicit(&c->meta, memory_order_relaxed);
		if (!slot_lock(c, m))
			continue;
		if (atomic_load_explicit(&c->key, memory_order_relaxed) == 0) {
			s = c;
			break;
		}
		slot_unlock(c, m, meta_bits(m)); /* filled since we looked */
	}
	for (unsigned i = 0; i < SW_FDB_PROBE && !s; i++) {
		struct sw_fdb_slot *c = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t seen;

		if (!sw_fdb_slot_read(c, &k, &m, &seen) || !k || (m & SW_FDB_META_STATIC))
			continue;
		if (!evict_live && now_s - seen <= f->age_s)
			continue;
		if (!slot_lock(c, m))
			continue;
		seen = atomic_load_explicit(&c->seen_s, memory_order_relaxed);
		if (!evict_live && now_s - seen <= f->age_s) {
			slot_unlock(c, m, meta_bits(m)); /* refreshed meanwhile */
			continue;
		}
		s = c;
		evicted = (int)(m & SW_FDB_META_PORT);
	}
	if (!s)
		return INS_NOSLOT;

	atomic_store_explicit(&s->seen_s, now_s, memory_order_relaxed);
	atomic_store_explicit(&s->key, key, memory_order_seq_cst);
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *c = sw_fdb_win(f, h, i);

		if (c != s && atomic_load_explicit(&c->key, memory_order_seq_cst) == key)
			dup = true;
	}
	if (dup) {
		atomic_store_explicit(&s->key, 0, memory_order_relaxed);
		slot_unlock(s, m, 0);
	} else {
		slot_unlock(s, m, bits);
	}
	if (evicted >= 0)
		count_release(f, (uint16_t)evicted);
	return dup ? INS_DUP : INS_DONE;
}

int sw_fdb_learn_slow(struct sw_fdb *f, uint64_t key, uint16_t port, uint8_t rem,
                      uint32_t now_s)
{
	uint64_t h = sw_fdb_hash(f, key);

	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t m, seen;
		uint16_t old;

		if (atomic_load_explicit(&s->key, memory_order_relaxed) != key)
			continue;
		/* Someone is rewriting this entry: let the next frame learn. */
		if (!sw_fdb_slot_read(s, &k, &m, &seen) || k != key)
			return SW_LEARN_OK;
		old = (uint16_t)(m & SW_FDB_META_PORT);
		/* Static wins: on another port, and on its own port from another
		 * remote endpoint when it names one (fdb-add ... remote=). */
		if (m & SW_FDB_META_STATIC)
			return old == port && (!meta_rem(m) || meta_rem(m) == rem) ? SW_LEARN_OK
			                                                             : SW_LEARN_STATIC;
		if (old == port && meta_rem(m) == rem) {
			atomic_store_explicit(&s->seen_s, now_s, memory_order_relaxed);
			return SW_LEARN_OK;
		}
		/* A move between ports: the MAC's budget unit goes from old to
		 * port. Within the port (a new remote) the unit stays put. */
		if (old != port && !count_reserve(f, port))
			return SW_LEARN_LIMIT;
		if (!slot_lock(s, m)) {
			if (old != port)
				count_release(f, port);
			return SW_LEARN_OK;
		}
		atomic_store_explicit(&s->seen_s, now_s, memory_order_relaxed);
		slot_unlock(s, m, where_bits(port, rem));
		if (old != port)
			count_release(f, old);
		return SW_LEARN_OK;
	}

	if (!count_reserve(f, port))
		return SW_LEARN_LIMIT;
	switch (insert(f, key, where_bits(port, rem), now_s, false)) {
	case INS_DONE:
		return SW_LEARN_OK;
	case INS_DUP:
		count_release(f, port);
		return SW_LEARN_OK;
	case INS_NOSLOT:
		break;
	}
	count_release(f, port);
	return SW_LEARN_FULL;
}

bool sw_fdb_entry(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint32_t now_s,
                  uint16_t *port, uint8_t *rem, bool *is_static, uint32_t *age_s)
{
	uint64_t key = sw_fdb_key(vlan, mac), h = sw_fdb_hash(f, key);

	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t m, seen;

		if (atomic_load_explicit(&s->key, memory_order_relaxed) != key)
			continue;
		for (unsigned t = 0; t < SW_FDB_READ_TRIES; t++) {
			if (!sw_fdb_slot_read(s, &k, &m, &seen))
				continue;
			if (k != key)
				break;
			*is_static = m & SW_FDB_META_STATIC;
			if (!*is_static && now_s - seen > f->age_s)
				return false;
			*port = (uint16_t)(m & SW_FDB_META_PORT);
			*rem = meta_rem(m);
			*age_s = *is_static ? 0 : now_s - seen;
			return true;
		}
	}
	return false;
}

/* Mirrors sw_fdb_learn and sw_fdb_learn_slow step by step, reading only:
 * keep the two in step. */
int sw_fdb_learn_peek(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint16_t port,
                      uint8_t rem, uint32_t now_s, uint16_t *other)
{
	uint64_t key = sw_fdb_key(vlan, mac), h = sw_fdb_hash(f, key);
	uint32_t lim, cnt;
	unsigned nfree = 0;

	if (port >= SW_FDB_MAX_PORTS)
		return SW_PEEK_LIMIT;
	lim = atomic_load_explicit(&f->limit[port], memory_order_relaxed);
	cnt = atomic_load_explicit(&f->count[port], memory_order_relaxed);
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t m, seen;
		uint16_t old;

		if (atomic_load_explicit(&s->key, memory_order_relaxed) != key)
			continue;
		if (!sw_fdb_slot_read(s, &k, &m, &seen) || k != key)
			return SW_PEEK_REFRESH;
		old = (uint16_t)(m & SW_FDB_META_PORT);
		*other = old;
		if (m & SW_FDB_META_STATIC)
			return old == port && (!meta_rem(m) || meta_rem(m) == rem) ? SW_PEEK_STATIC_SELF
			                                                             : SW_PEEK_STATIC;
		if (old == port)
			return meta_rem(m) == rem ? SW_PEEK_REFRESH : SW_PEEK_MOVE;
		return cnt < lim ? SW_PEEK_MOVE : SW_PEEK_LIMIT;
	}
	if (cnt >= lim)
		return SW_PEEK_LIMIT;
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t m, seen;

		if (!atomic_load_explicit(&s->key, memory_order_relaxed) ||
		    (sw_fdb_slot_read(s, &k, &m, &seen) && !(m & SW_FDB_META_STATIC) &&
		     now_s - seen > f->age_s))
			nfree++;
	}
	return nfree ? SW_PEEK_INSERT : SW_PEEK_FULL;
}

/* Control thread: finds key and takes its slot, waiting out learners.
 * Returns the slot with *m = its meta before locking, or NULL with *err =
 * -ENOENT or -EAGAIN. */
static struct sw_fdb_slot *find_locked(struct sw_fdb *f, uint64_t key, uint32_t *m, int *err)
{
	uint64_t h = sw_fdb_hash(f, key);

	for (unsigned t = 0; t < CTL_TRIES; t++) {
		struct sw_fdb_slot *s = NULL;

		for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
			struct sw_fdb_slot *c = sw_fdb_win(f, h, i);

			if (atomic_load_explicit(&c->key, memory_order_relaxed) == key) {
				s = c;
				break;
			}
		}
		if (!s) {
			*err = -ENOENT;
			return NULL;
		}
		*m = atomic_load_explicit(&s->meta, memory_order_relaxed);
		if (slot_lock(s, *m)) {
			if (atomic_load_explicit(&s->key, memory_order_relaxed) == key)
				return s;
			slot_unlock(s, *m, meta_bits(*m));
		}
		cpu_relax();
	}
	*err = -EAGAIN;
	return NULL;
}

static bool valid_key(uint16_t vlan, uint64_t mac)
{
	return vlan < 4096 && mac <= 0xffffffffffffull;
}

int sw_fdb_add_static(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint16_t port,
                      uint8_t rem)
{
	uint64_t key = sw_fdb_key(vlan, mac);

	/* Group bit (I/G, first octet bit 0) set: not a station address. */
	if (!valid_key(vlan, mac) || port >= SW_FDB_MAX_PORTS || (mac >> 40) & 1)
		return -EINVAL;
	for (unsigned t = 0; t < CTL_RETRIES; t++) {
		struct sw_fdb_slot *s;
		uint32_t m;
		int err;

		s = find_locked(f, key, &m, &err);
		if (s) {
			slot_unlock(s, m, SW_FDB_META_STATIC | where_bits(port, rem));
			if (!(m & SW_FDB_META_STATIC))
				count_release(f, (uint16_t)(m & SW_FDB_META_PORT));
			return 0;
		}
		if (err != -ENOENT)
			return err;
		switch (insert(f, key, SW_FDB_META_STATIC | where_bits(port, rem), 0, true)) {
		case INS_DONE:
			return 0;
		case INS_DUP:
			continue; /* a learner got there first: convert its entry */
		case INS_NOSLOT:
			return -ENOSPC;
		}
	}
	return -EAGAIN;
}

int sw_fdb_del(struct sw_fdb *f, uint16_t vlan, uint64_t mac)
{
	struct sw_fdb_slot *s;
	uint32_t m;
	int err;

	if (!valid_key(vlan, mac))
		return -ENOENT;
	s = find_locked(f, sw_fdb_key(vlan, mac), &m, &err);
	if (!s)
		return err;
	atomic_store_explicit(&s->key, 0, memory_order_relaxed);
	slot_unlock(s, m, 0);
	if (!(m & SW_FDB_META_STATIC))
		count_release(f, (uint16_t)(m & SW_FDB_META_PORT));
	return 0;
}

/* Control thread: takes slot s if it holds an entry, waiting out learners.
 * False when s is empty (or stayed busy for CTL_TRIES spins). */
static bool lock_entry(struct sw_fdb_slot *s, uint32_t *m)
{
	for (unsigned t = 0; t < CTL_TRIES; t++) {
		if (!atomic_load_explicit(&s->key, memory_order_relaxed))
			return false;
		*m = atomic_load_explicit(&s->meta, memory_order_relaxed);
		if (slot_lock(s, *m)) {
			if (atomic_load_explicit(&s->key, memory_order_relaxed))
				return true;
			slot_unlock(s, *m, meta_bits(*m));
			return false;
		}
		cpu_relax();
	}
	return false;
}

/* Removes the entries whose meta & sel is want (learned ones only when
 * learned_only), releasing their ports' units. */
static void flush(struct sw_fdb *f, uint32_t sel, uint32_t want, bool learned_only)
{
	for (uint32_t i = 0; i <= f->mask; i++) {
		struct sw_fdb_slot *s = &f->slot[i];
		uint32_t m;

		if (!lock_entry(s, &m))
			continue;
		if ((m & sel) != want || (learned_only && (m & SW_FDB_META_STATIC))) {
			slot_unlock(s, m, meta_bits(m));
			continue;
		}
		atomic_store_explicit(&s->key, 0, memory_order_relaxed);
		slot_unlock(s, m, 0);
		if (!(m & SW_FDB_META_STATIC))
			count_release(f, (uint16_t)(m & SW_FDB_META_PORT));
	}
}

/* A port out of range matches nothing (and must not spill into the remote
 * bits of `want`). */
void sw_fdb_flush_port(struct sw_fdb *f, uint16_t port)
{
	if (port < SW_FDB_MAX_PORTS)
		flush(f, SW_FDB_META_PORT, port, false);
}

void sw_fdb_flush_learned(struct sw_fdb *f, uint16_t port)
{
	if (port < SW_FDB_MAX_PORTS)
		flush(f, SW_FDB_META_PORT, port, true);
}

void sw_fdb_flush_rem(struct sw_fdb *f, uint16_t port, uint8_t rem)
{
	if (port < SW_FDB_MAX_PORTS)
		flush(f, SW_FDB_META_PORT | SW_FDB_META_REM, where_bits(port, rem), false);
}

unsigned sw_fdb_age(struct sw_fdb *f, uint32_t now_s)
{
	unsigned n = 0;

	for (uint32_t i = 0; i <= f->mask; i++) {
		struct sw_fdb_slot *s = &f->slot[i];
		uint64_t k;
		uint32_t m, seen;

		/* Busy or torn: the next sweep gets it; lookups ignore it anyway. */
		if (!sw_fdb_slot_read(s, &k, &m, &seen) || !k || (m & SW_FDB_META_STATIC) ||
		    now_s - seen <= f->age_s)
			continue;
		if (!slot_lock(s, m))
			continue;
		seen = atomic_load_explicit(&s->seen_s, memory_order_relaxed);
		if (now_s - seen <= f->age_s) {
			slot_unlock(s, m, meta_bits(m));
			continue;
		}
		atomic_store_explicit(&s->key, 0, memory_order_relaxed);
		slot_unlock(s, m, 0);
		count_release(f, (uint16_t)(m & SW_FDB_META_PORT));
		n++;
	}
	return n;
}

void sw_fdb_set_limit(struct sw_fdb *f, uint16_t port, uint16_t limit)
{
	if (port < SW_FDB_MAX_PORTS)
		atomic_store_explicit(&f->limit[port], limit, memory_order_relaxed);
}

unsigned sw_fdb_count(const struct sw_fdb *f, uint16_t port)
{
	if (port >= SW_FDB_MAX_PORTS)
		return 0;
	return atomic_load_explicit(&((struct sw_fdb *)f)->count[port], memory_order_relaxed);
}

uint32_t sw_fdb_age_s(const struct sw_fdb *f)
{
	return f->age_s;
}

int sw_fdb_set_age(struct sw_fdb *f, uint32_t age_s)
{
	if (age_s < 1 || age_s > SW_FDB_MAX_AGE_S)
		return -EINVAL;
	atomic_store_explicit(&f->age_s, age_s, memory_order_relaxed);
	return 0;
}

void sw_fdb_foreach(struct sw_fdb *f, uint32_t now_s,
                    void (*fn)(void *arg, uint16_t vlan, uint64_t mac, uint16_t port,
                               uint8_t rem, uint32_t age_s, bool is_static),
                    void *arg)
{
	for (uint32_t i = 0; i <= f->mask; i++) {
		struct sw_fdb_slot *s = &f->slot[i];
		uint64_t k;
		uint32_t m, seen;
		bool st;

		if (!atomic_load_explicit(&s->key, memory_order_relaxed))
			continue;
		for (unsigned t = 0; t < SW_FDB_READ_TRIES; t++) {
			if (!sw_fdb_slot_read(s, &k, &m, &seen))
				continue;
			st = m & SW_FDB_META_STATIC;
			if (k && (st || now_s - seen <= f->age_s))
				fn(arg, (uint16_t)((k >> 48) & 0xfff), k & 0xffffffffffffull,
				   (uint16_t)(m & SW_FDB_META_PORT), meta_rem(m), st ? 0 : now_s - seen,
				   st);
			break;
		}
	}
}
