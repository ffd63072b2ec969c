/* fdb.h - the switch's MAC table: (VLAN, MAC) -> (port, remote). The remote
 * is 0 for every non-VXLAN port (and for "remote unknown"); 1..255 index the
 * destination VXLAN port's own table of remote VTEPs. Every worker looks
 * up destinations and learns sources at once; the control thread adds and
 * deletes static entries, flushes ports and sweeps aged entries, all while
 * the workers keep running. Nothing here blocks, sleeps or allocates on the
 * datapath. The hot calls (sw_fdb_lookup, sw_fdb_learn's refresh case) are
 * inline below; inserts, moves and all control calls are in fdb.c.
 *
 * Table: open addressing over a power-of-two array of 16-byte slots. A key
 * lives in its window of SW_FDB_PROBE slots: two buckets of SW_FDB_BUCKET
 * slots chosen by a seeded hash; inserts go to the emptier bucket. A hit
 * reads one or two buckets (2-4 cache lines), a miss both. Two balanced
 * choices keep overflow out of reach at sane loads (none for 160k keys in
 * 256K slots; single linear windows of 16 overflowed at 100k).
 * A key that finds no slot in its window is not learned (SW_LEARN_FULL: the
 * frames to it are flooded), so a guest cannot make lookups slow.
 *
 * Per-slot seqlock, memory-order contract (see struct sw_fdb_slot):
 *  - A writer owns a slot by CAS on `meta` from an even sequence to odd
 *    (acquire), then a release fence, then relaxed/seq_cst stores to key and
 *    seen_s, then a release store of meta with the sequence even again and
 *    the new port/remote/static bits. A datapath learner whose CAS fails
 *    does not retry: it leaves learning to the next frame. The control
 *    thread retries.
 *  - A reader loads meta (acquire), key and seen_s (relaxed), an acquire
 *    fence, meta again (relaxed); the snapshot is valid only if both meta
 *    loads are equal and even. A reader retries SW_FDB_READ_TRIES times and
 *    then treats the slot as a miss (the frame is flooded, never misrouted).
 *  - seen_s alone is also refreshed outside the seqlock by learners (plain
 *    relaxed store, once a second): racing with a rewrite of the slot it can
 *    only refresh the new occupant, delaying its ageing by < age_s.
 *  - Duplicates: a learner inserting a new key stores it (seq_cst) into the
 *    slot it owns, then loads (seq_cst) every other key of the window; if it
 *    sees the same key anywhere it backs out. Of two concurrent inserters at
 *    least one sees the other (store-load order), so at most one copy is
 *    ever committed; both may back out, and the next frame learns again.
 *  - The sequence has 15 bits and wraps (2^14 writes per cycle): a reader
 *    that stalls between its two meta loads for a multiple of exactly 2^14
 *    complete rewrites of the slot, ending with the same port, remote and
 *    static bits, would accept a torn snapshot. Every lock/unlock of the
 *    slot counts (inserts, moves, deletes, a flush or sweep passing by;
 *    refreshes of seen_s do not), so that takes a reader stalled for
 *    milliseconds while one MAC flaps at line rate.
 *  - Per-port counts are atomics: a learner reserves a unit (CAS loop below
 *    the limit) before it inserts or moves, and gives it back if it fails.
 *    Every slot transition that creates or removes a learned entry on port
 *    p is made under the slot's lock with the matching count change, so the
 *    counts are exact once writers are quiescent. Counts are per port only:
 *    a change of remote within one port (a move between two VTEPs behind
 *    the same VXLAN port) keeps the entry's unit where it is.
 *  - Control calls (add_static, del, flush_port, flush_learned, flush_rem,
 *    age, set_limit, set_age) must come from one thread at a time; they may
 *    run concurrently with any number of sw_fdb_lookup and sw_fdb_learn
 *    callers.
 *
 * Time is whatever seconds clock the caller passes (now_s, wrapping u32);
 * tests inject it. A learned entry is live while now_s - seen_s <= age_s.
 * Static entries never age, are never moved by learning and are not counted
 * against the port's limit. */
#ifndef VIFD_FDB_H
#define VIFD_FDB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum {
	SW_FDB_DEFAULT_SLOTS = 1 << 18,
	SW_FDB_DEFAULT_AGE_S = 300,
	SW_FDB_DEFAULT_LIMIT = 64,
	SW_FDB_MAX_PORTS = 256,
	SW_FDB_BUCKET = 8,           /* slots per bucket: 128 bytes */
	SW_FDB_PROBE = 2 * SW_FDB_BUCKET, /* window: two buckets */
	SW_FDB_MIN_SLOTS = 64,
	SW_FDB_MAX_SLOTS = 1 << 26,
	SW_FDB_MAX_AGE_S = 1 << 24,  /* keeps now_s - seen_s unambiguous */
	SW_FDB_READ_TRIES = 4,
};

struct sw_fdb_config {
	uint32_t slots;          /* power of two, 0 = default */
	uint32_t age_s;          /* 0 = default */
	uint16_t default_limit;  /* 0 = default; per-port learned-MAC limit */
};

/* meta word: port in bits 0-7, remote in bits 8-15, static flag bit 16,
 * sequence in bits 17-31 (odd sequence = a writer owns the slot; it wraps,
 * see the contract above). Port and remote sit where sw_fdb_lookup returns
 * them: meta & (PORT | REM) is the lookup's answer. */
enum {
	SW_FDB_META_PORT = 0xff,
	SW_FDB_META_REM = 0xff00,
	SW_FDB_META_REM_SHIFT = 8,
	SW_FDB_META_STATIC = 1u << 16,
	SW_FDB_META_BUSY = 1u << 17,  /* lowest sequence bit */
	SW_FDB_META_SEQ1 = 1u << 17,
};
_Static_assert(SW_FDB_MAX_PORTS - 1 == SW_FDB_META_PORT, "a port fits the port bits");
_Static_assert(SW_FDB_META_REM == 0xffu << SW_FDB_META_REM_SHIFT, "remote is 8 bits");

#define SW_FDB_KEY_VALID (1ull << 63)

struct sw_fdb_slot {
	/* VALID | vlan << 48 | mac, 0 = empty. Written by the slot's owner
	 * (see meta), read by everyone. */
	_Atomic uint64_t key;
	/* Seqlock word + port + remote + static flag; see the enum above. CAS by
	 * writers, loaded by readers around their reads of key and seen_s. */
	_Atomic uint32_t meta;
	/* Last time a frame from key arrived on port (caller's seconds).
	 * Written by the owner and, for refreshes, by any learner. */
	_Atomic uint32_t seen_s;
};

struct sw_fdb {
	/* Read-mostly, set by sw_fdb_create. */
	uint32_t mask;        /* slots - 1 */
	_Atomic uint32_t age_s; /* sw_fdb_set_age() may change it at run time */
	uint64_t seed;        /* hash seed, random per table */
	uint16_t default_limit;
	/* Learned-MAC limit per port: written by the control thread
	 * (sw_fdb_set_limit), read relaxed by learners. */
	_Atomic uint16_t limit[SW_FDB_MAX_PORTS] cache_aligned;
	/* Learned entries per port (plus in-flight reservations); atomic RMW
	 * by learners' slow path and by control calls, never per frame. */
	_Atomic uint32_t count[SW_FDB_MAX_PORTS] cache_aligned;
	struct sw_fdb_slot slot[] cache_aligned;
};

enum sw_learn { SW_LEARN_OK = 0, SW_LEARN_LIMIT, SW_LEARN_STATIC, SW_LEARN_FULL };

/* Allocates a table; c may be NULL for defaults. Returns 0 or -EINVAL (slots
 * not a power of two in [SW_FDB_MIN_SLOTS, SW_FDB_MAX_SLOTS], age_s above
 * SW_FDB_MAX_AGE_S) or -ENOMEM. */
int sw_fdb_create(const struct sw_fdb_config *c, struct sw_fdb **out);
void sw_fdb_destroy(struct sw_fdb *f);

static inline uint64_t sw_mac48(const uint8_t m[6])
{
	return ((uint64_t)m[0] << 40) | ((uint64_t)m[1] << 32) | ((uint64_t)m[2] << 24) |
	       ((uint64_t)m[3] << 16) | ((uint64_t)m[4] << 8) | m[5];
}

static inline uint64_t sw_fdb_key(uint16_t vlan, uint64_t mac)
{
	return SW_FDB_KEY_VALID | ((uint64_t)(vlan & 0xfff) << 48) | (mac & 0xffffffffffffull);
}

static inline uint64_t sw_fdb_hash(const struct sw_fdb *f, uint64_t key)
{
	uint64_t x = key ^ f->seed;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Slot i (< SW_FDB_PROBE) of the window of a key with hash h: two buckets
 * of SW_FDB_BUCKET slots (two cache lines each), the first picked by the low
 * hash bits, the second by the high ones and never equal to the first. */
static inline struct sw_fdb_slot *sw_fdb_win(struct sw_fdb *f, uint64_t h, unsigned i)
{
	uint32_t nb = f->mask / SW_FDB_BUCKET;  /* buckets - 1 */
	uint32_t b = (uint32_t)h & nb;

	if (i >= SW_FDB_BUCKET)
		b ^= ((uint32_t)(h >> 32) & nb) | 1;
	return &f->slot[b * SW_FDB_BUCKET + (i % SW_FDB_BUCKET)];
}

/* Consistent read of one slot (see the contract at the top). False when a
 * writer owns the slot or changed it during the read. */
static inline bool sw_fdb_slot_read(struct sw_fdb_slot *s, uint64_t *key, uint32_t *meta,
                                    uint32_t *seen)
{
	uint32_t m1 = atomic_load_explicit(&s->meta, memory_order_acquire);

	*key = atomic_load_explicit(&s->key, memory_order_relaxed);
	*seen = atomic_load_explicit(&s->seen_s, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	*meta = m1;
	return !(m1 & SW_FDB_META_BUSY) &&
	       atomic_load_explicit(&s->meta, memory_order_relaxed) == m1;
}

/* Where (vlan, mac) is bound: -1 when absent, aged out or being rewritten
 * (the caller floods), else port | rem << 8 (rem 0 = no remote), to take
 * apart with sw_fdb_where_port and sw_fdb_where_rem once it is known to be
 * >= 0 (they make port 255 of -1). Any number of threads; never blocks. */
static inline int sw_fdb_lookup(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint32_t now_s)
{
	uint64_t want = sw_fdb_key(vlan, mac);
	uint64_t h = sw_fdb_hash(f, want);

	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t m, seen;

		if (atomic_load_explicit(&s->key, memory_order_relaxed) != want)
			continue;
		for (unsigned t = 0; t < SW_FDB_READ_TRIES; t++) {
			if (!sw_fdb_slot_read(s, &k, &m, &seen))
				continue;
			if (k != want)
				break;
			if (!(m & SW_FDB_META_STATIC) && now_s - seen > f->age_s)
				return -1;
			return (int)(m & (SW_FDB_META_PORT | SW_FDB_META_REM));
		}
	}
	return -1;
}

/* Port and remote of a sw_fdb_lookup answer w >= 0. */
static inline unsigned sw_fdb_where_port(int w)
{
	return (unsigned)w & 0xff;
}

static inline unsigned sw_fdb_where_rem(int w)
{
	return ((unsigned)w >> 8) & 0xff;
}

int sw_fdb_learn_slow(struct sw_fdb *f, uint64_t key, uint16_t port, uint8_t rem,
                      uint32_t now_s);

/* Learns (vlan, mac) on (port, rem): refreshes, moves (the MAC now lives on
 * port: counts move with it, subject to port's limit; a new rem on the same
 * port is a move that changes no count and is never refused), or inserts.
 * A static entry is never changed by learning. Returns
 * SW_LEARN_OK (learned, or skipped because another thread owned the slot:
 * the next frame retries), SW_LEARN_LIMIT (port at its limit for new MACs:
 * drop and count mac-limit), SW_LEARN_STATIC (mac is static on another port,
 * or on port with a remote other than rem: drop as spoof; static on port
 * with rem or with no remote is SW_LEARN_OK and stays as it is),
 * SW_LEARN_FULL (no slot in the window: forward, unlearned).
 * No atomic RMW and no store when the entry maps to (port, rem) and was
 * refreshed this second. Any number of threads; never blocks. */
static inline int sw_fdb_learn(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint16_t port,
                               uint8_t rem, uint32_t now_s)
{
	uint64_t want = sw_fdb_key(vlan, mac);
	uint64_t h = sw_fdb_hash(f, want);
	uint32_t where = port | (uint32_t)rem << SW_FDB_META_REM_SHIFT;

	if (unlikely(port >= SW_FDB_MAX_PORTS))
		return SW_LEARN_LIMIT;
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = sw_fdb_win(f, h, i);
		uint64_t k;
		uint32_t m, seen;

		if (atomic_load_explicit(&s->key, memory_order_relaxed) != want)
			continue;
		if (!sw_fdb_slot_read(s, &k, &m, &seen) || k != want ||
		    (m & (SW_FDB_META_PORT | SW_FDB_META_REM)) != where)
			break;
		if (!(m & SW_FDB_META_STATIC) && seen != now_s)
			atomic_store_explicit(&s->seen_s, now_s, memory_order_relaxed);
		return SW_LEARN_OK;
	}
	return sw_fdb_learn_slow(f, want, port, rem, now_s);
}

/* What sw_fdb_learn would do, without doing it (vifctl trace): nothing is
 * written, no count reserved. Any thread. */
enum sw_learn_peek {
	SW_PEEK_REFRESH = 0, /* (vlan, mac) is on (port, rem) already: refreshed */
	SW_PEEK_INSERT,      /* learned on port, a new entry */
	SW_PEEK_MOVE,        /* moved to port from *other (= port: new rem) */
	SW_PEEK_LIMIT,       /* port at its limit: dropped (mac_limit) */
	SW_PEEK_STATIC,      /* static on *other: dropped as spoof */
	SW_PEEK_STATIC_SELF, /* static on port: nothing to learn */
	SW_PEEK_FULL,        /* no free or expired slot: forwarded, unlearned */
};
int sw_fdb_learn_peek(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint16_t port,
                      uint8_t rem, uint32_t now_s, uint16_t *other);
/* The live entry for (vlan, mac): true with its port, remote, whether it is
 * static and its age in seconds (0 for static), or false. Any thread. */
bool sw_fdb_entry(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint32_t now_s,
                  uint16_t *port, uint8_t *rem, bool *is_static, uint32_t *age_s);

/* Control thread only, one caller at a time (see the contract above). */

/* Binds (vlan, mac) to (port, rem) as a static entry, replacing a learned or
 * static entry for it. Returns 0, -EINVAL (vlan > 4095, port out of range,
 * group or oversized MAC), -ENOSPC (window full), -EAGAIN (slot kept busy). */
int sw_fdb_add_static(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint16_t port,
                      uint8_t rem);
/* Removes (vlan, mac), learned or static. Returns 0 or -ENOENT. */
int sw_fdb_del(struct sw_fdb *f, uint16_t vlan, uint64_t mac);
/* Removes every entry, learned and static, on port. */
void sw_fdb_flush_port(struct sw_fdb *f, uint16_t port);
/* Removes the port's learned entries only (static ones stay). */
void sw_fdb_flush_learned(struct sw_fdb *f, uint16_t port);
/* Removes every entry, learned and static, on (port, rem), fixing port's
 * count (a remote VTEP withdrawn). Nothing for port out of range. */
void sw_fdb_flush_rem(struct sw_fdb *f, uint16_t port, uint8_t rem);
/* Removes learned entries older than age_s, fixing the port counts; returns
 * how many. Call about once a second. */
unsigned sw_fdb_age(struct sw_fdb *f, uint32_t now_s);
/* Learned-MAC limit for port; 0 = no learning on that port. Entries above a
 * lowered limit stay until they age or are flushed. */
void sw_fdb_set_limit(struct sw_fdb *f, uint16_t port, uint16_t limit);
/* Learned MACs on port. */
unsigned sw_fdb_count(const struct sw_fdb *f, uint16_t port);
uint32_t sw_fdb_age_s(const struct sw_fdb *f);
/* Changes the aging time (1 .. 2^24 s); -EINVAL out of range. */
int sw_fdb_set_age(struct sw_fdb *f, uint32_t age_s);
/* Calls fn for each live entry (age_s is 0 for static entries). Entries being
 * rewritten during the walk may be skipped. */
void sw_fdb_foreach(struct sw_fdb *f, uint32_t now_s,
                    void (*fn)(void *arg, uint16_t vlan, uint64_t mac, uint16_t port,
                               uint8_t rem, uint32_t age_s, bool is_static),
                    void *arg);

#endif
