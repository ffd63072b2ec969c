/* fdb.c - see fdb.h. */
#include "fdb.h"

#include <string.h>

void sw_fdb_init(struct sw_fdb *f)
{
	memset(f, 0, sizeof(*f));
	f->age_s = SW_FDB_AGE_S;
}

/* Two workers learning one new MAC at once can both claim a slot; keep the
 * one in `keep` and clear the others in the probe window. */
static void purge_dups(struct sw_fdb *f, uint32_t h, uint64_t mac, struct sw_fdb_slot *keep)
{
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = &f->s[(h + i) & (SW_FDB_SLOTS - 1)];
		uint64_t k = atomic_load(&s->key);
		if (s != keep && k && (k >> 16) == mac)
			atomic_compare_exchange_strong(&s->key, &k, 0);
	}
}

void sw_fdb_learn_slow(struct sw_fdb *f, uint64_t mac, uint16_t port, uint32_t now_s)
{
	uint32_t h = sw_fdb_hash(mac);
	uint64_t want = (mac << 16) | (uint64_t)(port + 1);
	struct sw_fdb_slot *victim = NULL;

	/* The MAC moved: rebind in place. */
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = &f->s[(h + i) & (SW_FDB_SLOTS - 1)];
		uint64_t k = atomic_load(&s->key);
		if (k && (k >> 16) == mac) {
			atomic_store(&s->seen_s, now_s);
			atomic_store(&s->key, want);
			return;
		}
	}
	/* New MAC: take an empty slot, else an expired one. */
	for (unsigned i = 0; i < SW_FDB_PROBE; i++) {
		struct sw_fdb_slot *s = &f->s[(h + i) & (SW_FDB_SLOTS - 1)];
		uint64_t k = atomic_load(&s->key);
		if (k == 0) {
			if (atomic_compare_exchange_strong(&s->key, &k, want)) {
				atomic_store(&s->seen_s, now_s);
				purge_dups(f, h, mac, s);
				return;
			}
			/* Lost the slot: maybe to another learner of this MAC. */
			if ((k >> 16) == mac)
				return;
		} else if (!victim && now_s - atomic_load(&s->seen_s) > f->age_s) {
			victim = s;
		}
	}
	if (victim) {
		atomic_store(&victim->seen_s, now_s);
		atomic_store(&victim->key, want);
		purge_dups(f, h, mac, victim);
	}
}

void sw_fdb_flush_port(struct sw_fdb *f, uint16_t port)
{
	for (unsigned i = 0; i < SW_FDB_SLOTS; i++) {
		uint64_t k = atomic_load(&f->s[i].key);
		if (k && (k & 0xffff) == (uint64_t)port + 1)
			atomic_compare_exchange_strong(&f->s[i].key, &k, 0);
	}
}

void sw_fdb_foreach(struct sw_fdb *f, uint32_t now_s,
                    void (*fn)(void *arg, uint64_t mac, uint16_t port, uint32_t age_s), void *arg)
{
	for (unsigned i = 0; i < SW_FDB_SLOTS; i++) {
		uint64_t k = atomic_load(&f->s[i].key);
		uint32_t age = now_s - atomic_load(&f->s[i].seen_s);
		if (k && age <= f->age_s)
			fn(arg, k >> 16, (uint16_t)((k & 0xffff) - 1), age);
	}
}
