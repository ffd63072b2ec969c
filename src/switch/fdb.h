/* fdb.h - the learning bridge's forwarding table: MAC -> port, learned on
 * ingress by every worker at once and read by every worker at once.
 *
 * Lock-free: an entry is one 64-bit word (MAC in the high 48 bits, port id
 * + 1 in the low 16), so readers see either the old or the new binding,
 * never a torn one. Learning stores the word (claiming an empty or expired
 * slot with a compare-and-swap); a race between two learners of the same
 * MAC leaves one of them, which the next frame corrects. Open addressing
 * with a short probe window: a MAC that finds no slot is simply not learned
 * (frames to it are flooded), so a guest cannot make lookups slow.
 *
 * This is the minimal table of issue 2 (one VLAN, no per-port limits); the
 * switch policy (VLANs, limits, static entries) extends it. */
#ifndef VIFD_FDB_H
#define VIFD_FDB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum {
	SW_FDB_SLOTS = 4096, /* power of two */
	SW_FDB_PROBE = 8,
	SW_FDB_AGE_S = 300,
};

struct sw_fdb_slot {
	_Atomic uint64_t key;     /* mac << 16 | (port + 1); 0 = empty */
	_Atomic uint32_t seen_s;  /* last time learned, seconds (clock of caller) */
};

struct sw_fdb {
	struct sw_fdb_slot s[SW_FDB_SLOTS];
	uint32_t age_s;
};

void sw_fdb_init(struct sw_fdb *f);

static inline uint64_t sw_mac48(const uint8_t m[6])
{
	return ((uint64_t)m[0] << 40) | ((uint64_t)m[1] << 32) | ((uint64_t)m[2] << 24) |
	       ((uint64_t)m[3] << 16) | ((uint64_t)m[4] << 8) | m[5];
}

static inline uint32_t sw_fdb_hash(uint64_t mac)
{
	uint64_t h = mac * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 40) & (SW_FDB_SLOTS - 1);
}

/* Port id bound to mac, or -1. */
static inline int sw_fdb_lookup(struct sw_fdb *f, uint64_t mac, uint32_t now_s)
{
	uint32_t h = sw_fdb_hash(mac);

	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = &f->s[(h + i) & (SW_FDB_SLOTS - 1)];
		uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
		if (k && (k >> 16) == mac) {
			uint32_t seen = atomic_load_explicit(&s->seen_s, memory_order_relaxed);
			/* An expired copy may shadow a fresh one that a racing
			 * learner put further along: keep looking. */
			if (now_s - seen > f->age_s)
				continue;
			return (int)(k & 0xffff) - 1;
		}
	}
	return -1;
}

void sw_fdb_learn_slow(struct sw_fdb *f, uint64_t mac, uint16_t port, uint32_t now_s);

/* Learns mac on port; cheap when the binding is already there. */
static inline void sw_fdb_learn(struct sw_fdb *f, uint64_t mac, uint16_t port, uint32_t now_s)
{
	uint32_t h = sw_fdb_hash(mac);
	uint64_t want = (mac << 16) | (uint64_t)(port + 1);

	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = &f->s[(h + i) & (SW_FDB_SLOTS - 1)];
		if (atomic_load_explicit(&s->key, memory_order_relaxed) == want) {
			/* Refresh at most once a second: keeps the line clean. */
			if (atomic_load_explicit(&s->seen_s, memory_order_relaxed) != now_s)
				atomic_store_explicit(&s->seen_s, now_s, memory_order_relaxed);
			return;
		}
	}
	sw_fdb_learn_slow(f, mac, port, now_s);
}

/* Forgets every MAC learned on port (port removed or reset). */
void sw_fdb_flush_port(struct sw_fdb *f, uint16_t port);

/* Calls fn for each live entry; for `vifctl fdb` style listings. */
void sw_fdb_foreach(struct sw_fdb *f, uint32_t now_s,
                    void (*fn)(void *arg, uint64_t mac, uint16_t port, uint32_t age_s), void *arg);

#endif
