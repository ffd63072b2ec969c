/* test_fdb.c - unit tests for the switch MAC table (src/switch/fdb.h):
 * configuration checks, learning and lookup, VLAN separation, moves and
 * per-port counts, limits, static entries, ageing with an injected clock
 * (never sleeps), forced hash collisions, remotes (VXLAN: moves within a
 * port, flush_rem, the wrapping sequence), 100k entries, and readers racing
 * one learner pair and the control thread (also run under TSan). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fdb.h"

static struct sw_fdb *mk(uint32_t slots, uint32_t age_s, uint16_t limit)
{
	struct sw_fdb_config c = { .slots = slots, .age_s = age_s, .default_limit = limit };
	struct sw_fdb *f = NULL;
	int r = sw_fdb_create(&c, &f);

	CHECK_EQ(r, 0);
	if (r)
		exit(1);
	return f;
}

static void test_create(void)
{
	static const struct {
		struct sw_fdb_config c;
		int want;
	} cases[] = {
		{ { .slots = 3 }, -EINVAL },
		{ { .slots = 100 }, -EINVAL },
		{ { .slots = 32 }, -EINVAL },                     /* below the minimum */
		{ { .slots = 1u << 27 }, -EINVAL },               /* above the maximum */
		{ { .slots = 0x80000000u }, -EINVAL },
		{ { .age_s = SW_FDB_MAX_AGE_S + 1 }, -EINVAL },
		{ { .slots = 64 }, 0 },
		{ { 0 }, 0 },
		{ { .slots = 1024, .age_s = 5, .default_limit = 3 }, 0 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sw_fdb *f = (struct sw_fdb *)1;
		CHECK_EQ(sw_fdb_create(&cases[i].c, &f), cases[i].want);
		if (cases[i].want)
			CHECK(f == NULL);
		sw_fdb_destroy(f == (struct sw_fdb *)1 ? NULL : f);
	}

	struct sw_fdb *f;
	CHECK_EQ(sw_fdb_create(NULL, &f), 0);
	CHECK_EQ(sw_fdb_age_s(f), SW_FDB_DEFAULT_AGE_S);
	CHECK_EQ(f->mask + 1, SW_FDB_DEFAULT_SLOTS);
	CHECK_EQ(sw_fdb_count(f, 0), 0);
	CHECK_EQ(sw_fdb_count(f, 999), 0);
	sw_fdb_destroy(f);

	f = mk(1024, 5, 3);
	CHECK_EQ(sw_fdb_age_s(f), 5);
	for (uint64_t m = 1; m <= 3; m++)
		CHECK_EQ(sw_fdb_learn(f, 1, m << 8, 7, 0, 0), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, 4 << 8, 7, 0, 0), SW_LEARN_LIMIT);
	sw_fdb_destroy(f);
}

static void test_learn_lookup(void)
{
	struct sw_fdb *f = mk(1024, 0, 0);
	const uint8_t raw[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint64_t mac = sw_mac48(raw);

	CHECK_EQ(mac, 0x021122334455ull);
	/* Invalid first: out-of-range port, then misses. */
	CHECK_EQ(sw_fdb_learn(f, 1, mac, SW_FDB_MAX_PORTS, 0, 10), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 10), -1);
	CHECK_EQ(sw_fdb_lookup(f, 0, 0, 10), -1);

	CHECK_EQ(sw_fdb_learn(f, 1, mac, 3, 0, 10), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 10), 3);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac + 1, 10), -1);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	/* Refresh: same binding, no new entry. */
	CHECK_EQ(sw_fdb_learn(f, 1, mac, 3, 0, 10), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, mac, 3, 0, 11), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	/* Highest port id works. */
	CHECK_EQ(sw_fdb_learn(f, 1, mac + 7, SW_FDB_MAX_PORTS - 1, 0, 11), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac + 7, 11), SW_FDB_MAX_PORTS - 1);
	sw_fdb_destroy(f);
}

static void test_vlan(void)
{
	struct sw_fdb *f = mk(1024, 0, 0);
	uint64_t mac = 0x020000000001ull;

	CHECK_EQ(sw_fdb_learn(f, 10, mac, 1, 0, 0), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 20, mac, 2, 0, 0), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 10, mac, 0), 1);
	CHECK_EQ(sw_fdb_lookup(f, 20, mac, 0), 2);
	CHECK_EQ(sw_fdb_lookup(f, 30, mac, 0), -1);
	CHECK_EQ(sw_fdb_lookup(f, 4095, mac, 0), -1);
	CHECK_EQ(sw_fdb_count(f, 1), 1);
	CHECK_EQ(sw_fdb_count(f, 2), 1);
	CHECK_EQ(sw_fdb_del(f, 10, mac), 0);
	CHECK_EQ(sw_fdb_lookup(f, 10, mac, 0), -1);
	CHECK_EQ(sw_fdb_lookup(f, 20, mac, 0), 2);
	CHECK_EQ(sw_fdb_del(f, 4096, mac), -ENOENT);
	sw_fdb_destroy(f);
}

static void test_move(void)
{
	struct sw_fdb *f = mk(1024, 0, 2);
	uint64_t a = 0x02000000000aull, b = 0x02000000000bull, c = 0x02000000000cull;

	CHECK_EQ(sw_fdb_learn(f, 1, a, 1, 0, 0), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, a, 2, 0, 1), SW_LEARN_OK);  /* move 1 -> 2 */
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 1), 2);
	CHECK_EQ(sw_fdb_count(f, 1), 0);
	CHECK_EQ(sw_fdb_count(f, 2), 1);
	CHECK_EQ(sw_fdb_learn(f, 1, a, 1, 0, 2), SW_LEARN_OK);  /* and back */
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 2), 1);
	CHECK_EQ(sw_fdb_count(f, 1), 1);
	CHECK_EQ(sw_fdb_count(f, 2), 0);
	/* A move is subject to the destination's limit (2). */
	CHECK_EQ(sw_fdb_learn(f, 1, b, 2, 0, 2), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, c, 2, 0, 2), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, a, 2, 0, 3), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 3), 1);
	CHECK_EQ(sw_fdb_count(f, 1), 1);
	CHECK_EQ(sw_fdb_count(f, 2), 2);
	sw_fdb_destroy(f);
}

static void test_limit(void)
{
	struct sw_fdb *f = mk(4096, 0, 0);
	uint64_t base = 0x020000000000ull;

	/* Invalid first: limit on a port out of range is ignored. */
	sw_fdb_set_limit(f, SW_FDB_MAX_PORTS, 1);
	for (unsigned i = 0; i < SW_FDB_DEFAULT_LIMIT; i++)
		CHECK_EQ(sw_fdb_learn(f, 1, base + i, 5, 0, 100), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 5), SW_FDB_DEFAULT_LIMIT);
	CHECK_EQ(sw_fdb_learn(f, 1, base + 64, 5, 0, 100), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_lookup(f, 1, base + 64, 100), -1);
	CHECK_EQ(sw_fdb_count(f, 5), SW_FDB_DEFAULT_LIMIT);
	/* Known MACs still refresh at the limit. */
	CHECK_EQ(sw_fdb_learn(f, 1, base, 5, 0, 101), SW_LEARN_OK);
	/* Limit 0: no learning at all on that port. */
	sw_fdb_set_limit(f, 6, 0);
	CHECK_EQ(sw_fdb_learn(f, 1, base + 1000, 6, 0, 100), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_count(f, 6), 0);
	/* Ageing frees room: all but base (refreshed at 101) go at 401. */
	CHECK_EQ(sw_fdb_age(f, 400), 0);
	CHECK_EQ(sw_fdb_age(f, 401), SW_FDB_DEFAULT_LIMIT - 1);
	CHECK_EQ(sw_fdb_count(f, 5), 1);
	CHECK_EQ(sw_fdb_learn(f, 1, base + 64, 5, 0, 401), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, base + 64, 401), 5);
	CHECK_EQ(sw_fdb_count(f, 5), 2);
	/* Raising the limit lets more in. */
	sw_fdb_set_limit(f, 6, 1);
	CHECK_EQ(sw_fdb_learn(f, 1, base + 1000, 6, 0, 401), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, base + 1001, 6, 0, 401), SW_LEARN_LIMIT);
	/* An expired, unswept entry still holds its unit until swept or evicted. */
	sw_fdb_flush_port(f, 5);
	CHECK_EQ(sw_fdb_count(f, 5), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, base, 401), -1);
	sw_fdb_destroy(f);
}

struct seen {
	unsigned n, n_static;
	uint16_t port;
	uint32_t age;
};

static void count_one(void *arg, uint16_t vlan, uint64_t mac, uint16_t port, uint8_t rem,
                      uint32_t age_s, bool is_static)
{
	struct seen *s = arg;

	(void)vlan;
	(void)mac;
	(void)rem;
	s->n++;
	s->n_static += is_static;
	s->port = port;
	s->age = age_s;
}

static void test_static(void)
{
	struct sw_fdb *f = mk(1024, 0, 0);
	uint64_t mac = 0x020000000042ull;
	static const struct {
		uint16_t vlan;
		uint64_t mac;
		uint16_t port;
	} bad[] = {
		{ 4096, 0x020000000001ull, 1 },
		{ 1, 0x020000000001ull, SW_FDB_MAX_PORTS },
		{ 1, 0x010000000001ull, 1 },          /* group address */
		{ 1, 0xffffffffffffull, 1 },          /* broadcast */
		{ 1, 0x1020000000001ull, 1 },         /* more than 48 bits */
	};
	struct seen s = { 0 };

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(sw_fdb_add_static(f, bad[i].vlan, bad[i].mac, bad[i].port, 0), -EINVAL);
	CHECK_EQ(sw_fdb_del(f, 1, mac), -ENOENT);

	/* Replaces a learned entry and gives its unit back. */
	CHECK_EQ(sw_fdb_learn(f, 1, mac, 1, 0, 0), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 1), 1);
	CHECK_EQ(sw_fdb_add_static(f, 1, mac, 2, 0), 0);
	CHECK_EQ(sw_fdb_count(f, 1), 0);
	CHECK_EQ(sw_fdb_count(f, 2), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 0), 2);
	/* Not moved by learning, not counted, not aged. */
	CHECK_EQ(sw_fdb_learn(f, 1, mac, 1, 0, 5), SW_LEARN_STATIC);
	CHECK_EQ(sw_fdb_learn(f, 1, mac, 2, 0, 5), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 5), 2);
	CHECK_EQ(sw_fdb_count(f, 2), 0);
	CHECK_EQ(sw_fdb_age(f, 1000000), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 1000000), 2);
	/* Other VLAN is separate. */
	CHECK_EQ(sw_fdb_learn(f, 2, mac, 1, 0, 5), SW_LEARN_OK);
	/* Static over static rebinds. */
	CHECK_EQ(sw_fdb_add_static(f, 1, mac, 3, 0), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 5), 3);
	sw_fdb_foreach(f, 5, count_one, &s);
	CHECK_EQ(s.n, 2);
	CHECK_EQ(s.n_static, 1);
	/* Static on a fresh key, even with the port's limit at 0. */
	sw_fdb_set_limit(f, 9, 0);
	CHECK_EQ(sw_fdb_add_static(f, 1, mac + 1, 9, 0), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac + 1, 5), 9);
	/* del, then flush (learned and static). */
	CHECK_EQ(sw_fdb_del(f, 1, mac), 0);
	CHECK_EQ(sw_fdb_del(f, 1, mac), -ENOENT);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, 5), -1);
	CHECK_EQ(sw_fdb_learn(f, 1, mac + 2, 9, 0, 5), SW_LEARN_LIMIT);
	sw_fdb_set_limit(f, 9, 4);
	CHECK_EQ(sw_fdb_learn(f, 1, mac + 2, 9, 0, 5), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 9), 1);
	sw_fdb_flush_port(f, 9);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac + 1, 5), -1);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac + 2, 5), -1);
	CHECK_EQ(sw_fdb_count(f, 9), 0);
	CHECK_EQ(sw_fdb_lookup(f, 2, mac, 5), 1);
	sw_fdb_destroy(f);
}

static void test_aging(void)
{
	struct sw_fdb *f = mk(1024, 0, 0);
	uint64_t a = 0x020000000001ull, b = 0x020000000002ull;
	struct seen s = { 0 };

	CHECK_EQ(sw_fdb_learn(f, 1, a, 1, 0, 1000), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, b, 1, 0, 1000), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, b, 1, 0, 1200), SW_LEARN_OK);  /* refresh */
	sw_fdb_foreach(f, 1250, count_one, &s);
	CHECK_EQ(s.n, 2);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 1300), 1);   /* exactly age_s old: live */
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 1301), -1);  /* expired, before any sweep */
	CHECK_EQ(sw_fdb_lookup(f, 1, b, 1301), 1);
	CHECK_EQ(sw_fdb_age(f, 1300), 0);
	CHECK_EQ(sw_fdb_age(f, 1301), 1);
	CHECK_EQ(sw_fdb_count(f, 1), 1);
	CHECK_EQ(sw_fdb_age(f, 1500), 0);
	CHECK_EQ(sw_fdb_age(f, 1501), 1);
	CHECK_EQ(sw_fdb_count(f, 1), 0);
	/* An expired but unswept entry comes back with its old slot. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 1, 0, 2000), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 2400), -1);
	CHECK_EQ(sw_fdb_learn(f, 1, a, 1, 0, 2400), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 2400), 1);
	CHECK_EQ(sw_fdb_count(f, 1), 1);
	sw_fdb_destroy(f);

	/* Configurable age, and a clock that wraps. */
	f = mk(1024, 10, 0);
	CHECK_EQ(sw_fdb_learn(f, 1, a, 4, 0, 0xfffffffau), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 3), 4);        /* 9 s later */
	CHECK_EQ(sw_fdb_age(f, 4), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 5), -1);       /* 11 s later */
	CHECK_EQ(sw_fdb_age(f, 5), 1);
	CHECK_EQ(sw_fdb_count(f, 4), 0);
	sw_fdb_destroy(f);
}

/* n MACs (VLAN 1) sharing one probe window: both buckets the same. */
static void same_window(struct sw_fdb *f, uint64_t *macs, unsigned n)
{
	uint64_t h0 = sw_fdb_hash(f, sw_fdb_key(1, 0x020000000000ull));
	unsigned k = 0;

	for (uint64_t m = 0x020000000000ull; k < n; m++) {
		uint64_t h = sw_fdb_hash(f, sw_fdb_key(1, m));
		if (sw_fdb_win(f, h, 0) == sw_fdb_win(f, h0, 0) &&
		    sw_fdb_win(f, h, SW_FDB_BUCKET) == sw_fdb_win(f, h0, SW_FDB_BUCKET))
			macs[k++] = m;
	}
}

static void test_collisions(void)
{
	struct sw_fdb *f = mk(64, 0, 0);
	uint64_t macs[SW_FDB_PROBE + 2];
	unsigned ok = 0, full = 0;

	sw_fdb_set_limit(f, 1, 1000);
	same_window(f, macs, ARRAY_SIZE(macs));
	for (unsigned i = 0; i < SW_FDB_PROBE; i++)
		CHECK_EQ(sw_fdb_learn(f, 1, macs[i], 1, 0, 0), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, macs[SW_FDB_PROBE], 1, 0, 0), SW_LEARN_FULL);
	CHECK_EQ(sw_fdb_count(f, 1), SW_FDB_PROBE);
	CHECK_EQ(sw_fdb_add_static(f, 1, macs[SW_FDB_PROBE + 1], 2, 0), 0); /* evicts learned */
	CHECK_EQ(sw_fdb_count(f, 1), SW_FDB_PROBE - 1);
	CHECK_EQ(sw_fdb_lookup(f, 1, macs[SW_FDB_PROBE + 1], 0), 2);
	for (unsigned i = 0; i <= SW_FDB_PROBE; i++) {
		int p = sw_fdb_lookup(f, 1, macs[i], 0);
		CHECK(p == -1 || p == 1);
		ok += p == 1;
	}
	CHECK_EQ(ok, SW_FDB_PROBE - 1);
	CHECK_EQ(sw_fdb_lookup(f, 1, macs[SW_FDB_PROBE], 0), -1);
	/* Expired entries are reused by new keys in the same window. */
	CHECK_EQ(sw_fdb_learn(f, 1, macs[SW_FDB_PROBE], 1, 0, 400), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, macs[SW_FDB_PROBE], 400), 1);
	CHECK_EQ(sw_fdb_count(f, 1), SW_FDB_PROBE - 1);
	sw_fdb_destroy(f);

	/* Many MACs in a tiny table: learned ones found, refused ones not, no
	 * false hits, counts exact. */
	f = mk(64, 0, 0);
	sw_fdb_set_limit(f, 1, 1000);
	sw_fdb_set_limit(f, 2, 1000);
	ok = 0;
	char got[500];
	for (unsigned i = 0; i < 500; i++) {
		int r = sw_fdb_learn(f, 1, 0x020000000000ull + i, 1 + (i & 1), 0, 0);
		CHECK(r == SW_LEARN_OK || r == SW_LEARN_FULL);
		got[i] = r == SW_LEARN_OK;
		ok += r == SW_LEARN_OK;
		full += r == SW_LEARN_FULL;
	}
	CHECK(ok <= 64);
	CHECK(ok >= 32);
	CHECK(full > 0);
	for (unsigned i = 0; i < 500; i++)
		CHECK_EQ(sw_fdb_lookup(f, 1, 0x020000000000ull + i, 0), got[i] ? (int)(1 + (i & 1)) : -1);
	CHECK_EQ(sw_fdb_count(f, 1) + sw_fdb_count(f, 2), ok);
	for (unsigned i = 0; i < 500; i++)
		CHECK_EQ(sw_fdb_lookup(f, 2, 0x020000000000ull + i, 0), -1);
	CHECK_EQ(sw_fdb_age(f, 301), ok);
	CHECK_EQ(sw_fdb_count(f, 1) + sw_fdb_count(f, 2), 0);
	sw_fdb_destroy(f);
}

static void test_100k(void)
{
	enum { N = 100000, PORTS = 4 };
	struct sw_fdb *f;
	unsigned full = 0, bad = 0;
	struct seen s = { 0 };

	CHECK_EQ(sw_fdb_create(NULL, &f), 0);
	for (uint16_t p = 0; p < PORTS; p++)
		sw_fdb_set_limit(f, p, N / PORTS);
	for (unsigned i = 0; i < N; i++)
		full += sw_fdb_learn(f, (uint16_t)(i % 7), 0x020000000000ull + i * 0x10001ull,
		                     (uint16_t)(i % PORTS), 0, 50) != SW_LEARN_OK;
	CHECK_EQ(full, 0);
	for (unsigned i = 0; i < N; i++)
		bad += sw_fdb_lookup(f, (uint16_t)(i % 7), 0x020000000000ull + i * 0x10001ull, 60) !=
		       (int)(i % PORTS);
	CHECK_EQ(bad, 0);
	for (uint16_t p = 0; p < PORTS; p++)
		CHECK_EQ(sw_fdb_count(f, p), N / PORTS);
	sw_fdb_foreach(f, 60, count_one, &s);
	CHECK_EQ(s.n, N);
	CHECK_EQ(sw_fdb_age(f, 351), N);
	sw_fdb_destroy(f);
}

/* Concurrency: readers look up while two learners learn and move, and the
 * control thread adds/deletes statics, sweeps and flushes. A key may only
 * ever be bound to its two ports, derived from the key itself. */
enum { C_KEYS = 2048, C_PORT_SPREAD = 64 };
/* Frames each learner learns: fewer under ThreadSanitizer, which runs
 * this ~20 times slower (still 50 passes over the keys per learner). */
#if defined(__SANITIZE_THREAD__)
#define C_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define C_TSAN 1
#endif
#endif
#ifdef C_TSAN
enum { C_LEARNS = 100000 };
#else
enum { C_LEARNS = 400000 };
#endif

struct race {
	struct sw_fdb *f;
	_Atomic uint32_t now_s;
	_Atomic bool stop;
	_Atomic unsigned long lookups, hits, wrong;
	unsigned seed;
};

static uint64_t c_mac(unsigned i)
{
	return 0x020000000000ull | ((uint64_t)i << 8) | (i % C_PORT_SPREAD);
}

static uint16_t c_vlan(unsigned i)
{
	return (uint16_t)(1 + (i & 3));
}

/* The remote a key may have besides 0 (learners and statics use both). */
static uint8_t c_rem(uint64_t mac)
{
	return (uint8_t)(1 + ((mac >> 8) & 0x7f));
}

/* where: a lookup's answer, port | rem << 8. */
static bool c_allowed(uint16_t vlan, uint64_t mac, int where)
{
	unsigned a = (unsigned)(mac & 0xff) + vlan, port = sw_fdb_where_port(where);
	unsigned rem = sw_fdb_where_rem(where);

	return (port == a || port == a + 128) && (rem == 0 || rem == c_rem(mac)) &&
	       where >> 16 == 0;
}

static void *c_reader(void *arg)
{
	struct race *r = arg;
	unsigned long n = 0, hits = 0, wrong = 0;
	unsigned x = 1;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint32_t now = atomic_load_explicit(&r->now_s, memory_order_relaxed);
		for (unsigned j = 0; j < 256; j++, n++) {
			x = x * 1103515245u + 12345u;
			unsigned i = (x >> 8) % C_KEYS;
			/* Also probe the wrong VLAN: those were never bound. */
			uint16_t v = (x & 0x10) ? c_vlan(i) : (uint16_t)(c_vlan(i) + 4);
			int p = sw_fdb_lookup(r->f, v, c_mac(i), now);
			if (p < 0)
				continue;
			hits++;
			if (v != c_vlan(i) || !c_allowed(v, c_mac(i), p))
				wrong++;
		}
		/* Three readers, two learners and the control thread share
		 * two CPUs here: readers that never give theirs up starved
		 * the threads whose work ends the test (60 s under TSan on a
		 * busy machine instead of ~10). */
		sched_yield();
	}
	atomic_fetch_add(&r->lookups, n);
	atomic_fetch_add(&r->hits, hits);
	atomic_fetch_add(&r->wrong, wrong);
	return NULL;
}

static void *c_learner(void *arg)
{
	struct race *r = arg;
	unsigned x = r->seed;

	for (unsigned n = 0; n < C_LEARNS; n++) {
		uint32_t now = atomic_load_explicit(&r->now_s, memory_order_relaxed);
		x = x * 1103515245u + 12345u;
		unsigned i = (x >> 8) % C_KEYS;
		uint16_t v = c_vlan(i);
		unsigned a = (unsigned)(c_mac(i) & 0xff) + v;
		/* Two ports and two remotes per key: moves between ports and
		 * within one (new remote) race each other. */
		uint8_t rem = (x & 0x40) ? c_rem(c_mac(i)) : 0;
		int res = sw_fdb_learn(r->f, v, c_mac(i), (uint16_t)(a + ((x & 0x20) ? 128 : 0)), rem,
		                       now);
		(void)res;
	}
	return NULL;
}

struct tally {
	unsigned per_port[SW_FDB_MAX_PORTS];
	unsigned dups, bad;
	uint8_t seen[8][C_KEYS];
};

static void tally_one(void *arg, uint16_t vlan, uint64_t mac, uint16_t port, uint8_t rem,
                      uint32_t age_s, bool is_static)
{
	struct tally *t = arg;
	unsigned i = (unsigned)((mac >> 8) & 0xffffffff);

	(void)age_s;
	if (i >= C_KEYS || vlan >= 8 || !c_allowed(vlan, mac, port | rem << 8)) {
		t->bad++;
		return;
	}
	if (t->seen[vlan][i]++)
		t->dups++;
	if (!is_static)
		t->per_port[port]++;
}

static void test_concurrent(void)
{
	enum { READERS = 3 };
	struct race r = { .now_s = 1000 };
	pthread_t rd[READERS], ln[2];
	struct tally *t = calloc(1, sizeof(*t));
	unsigned x = 7;

	r.f = mk(4096, 3, 0);
	for (unsigned p = 0; p < SW_FDB_MAX_PORTS; p++)
		sw_fdb_set_limit(r.f, (uint16_t)p, 40);
	for (int i = 0; i < READERS; i++)
		pthread_create(&rd[i], NULL, c_reader, &r);
	/* Both learners run the same sequence: they race to insert the same
	 * new keys, which must never leave two copies. */
	r.seed = 12345;
	for (int i = 0; i < 2; i++)
		pthread_create(&ln[i], NULL, c_learner, &r);
	/* Control thread: statics, deletes, sweeps, flushes, clock ticks. */
	for (unsigned n = 0; n < 20000; n++) {
		x = x * 1103515245u + 12345u;
		unsigned i = (x >> 8) % C_KEYS;
		uint16_t v = c_vlan(i);
		unsigned a = (unsigned)(c_mac(i) & 0xff) + v;
		int e;
		switch (n % 8) {
		case 0:
		case 1:
			e = sw_fdb_add_static(r.f, v, c_mac(i), (uint16_t)a, n & 1 ? c_rem(c_mac(i)) : 0);
			CHECK(e == 0 || e == -ENOSPC || e == -EAGAIN);
			break;
		case 2:
		case 3:
		case 4:
			e = sw_fdb_del(r.f, v, c_mac(i));
			CHECK(e == 0 || e == -ENOENT);
			break;
		case 5:
			if (n % 512 == 5)
				atomic_fetch_add(&r.now_s, 1);
			sw_fdb_age(r.f, atomic_load(&r.now_s));
			break;
		case 6:
			if (n % 1024 == 6)
				sw_fdb_flush_port(r.f, (uint16_t)(x % SW_FDB_MAX_PORTS));
			else if (n % 1024 == 518)
				sw_fdb_flush_rem(r.f, (uint16_t)(a + (x & 128)), c_rem(c_mac(i)));
			break;
		default:
			sw_fdb_set_limit(r.f, (uint16_t)(x % SW_FDB_MAX_PORTS), (uint16_t)(20 + x % 40));
			break;
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(ln[i], NULL);
	atomic_store(&r.stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);

	CHECK_EQ(atomic_load(&r.wrong), 0);
	CHECK(atomic_load(&r.lookups) > 0);
	/* Quiescent: no duplicate keys; after a sweep every learned entry is
	 * live, so the listing must agree exactly with the per-port counts. */
	sw_fdb_foreach(r.f, atomic_load(&r.now_s), tally_one, t);
	CHECK_EQ(t->dups, 0);
	CHECK_EQ(t->bad, 0);
	sw_fdb_age(r.f, atomic_load(&r.now_s));
	memset(t, 0, sizeof(*t));
	sw_fdb_foreach(r.f, atomic_load(&r.now_s), tally_one, t);
	for (unsigned p = 0; p < SW_FDB_MAX_PORTS; p++)
		if (sw_fdb_count(r.f, (uint16_t)p) != t->per_port[p]) {
			CHECK_EQ(sw_fdb_count(r.f, (uint16_t)p), t->per_port[p]);
			break;
		}
	printf("concurrent: %lu lookups, %lu hits\n", atomic_load(&r.lookups),
	       atomic_load(&r.hits));
	free(t);
	sw_fdb_destroy(r.f);
}

/* Two learners released together on the same new key, round after round:
 * the duplicate rule must leave at most one copy of each. */
enum { DUP_ROUNDS = 20000 };

struct dup_race {
	struct sw_fdb *f;
	_Atomic unsigned go[2];
};

static void *dup_learner(void *arg)
{
	struct dup_race *d = ((void **)arg)[0];
	unsigned me = (unsigned)(uintptr_t)((void **)arg)[1];

	for (unsigned n = 1; n <= DUP_ROUNDS; n++) {
		atomic_store(&d->go[me], n);
		while (atomic_load(&d->go[!me]) < n)
			;
		sw_fdb_learn(d->f, 1, 0x020000000000ull + n, (uint16_t)me, 0, 0);
	}
	return NULL;
}

static void test_dup_race(void)
{
	struct dup_race d = { .f = mk(1u << 16, 0, 0) };
	void *a[2][2] = { { &d, (void *)0 }, { &d, (void *)1 } };
	pthread_t th[2];
	struct tally *t = calloc(1, sizeof(*t));
	unsigned found = 0;

	sw_fdb_set_limit(d.f, 0, 60000);
	sw_fdb_set_limit(d.f, 1, 60000);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, dup_learner, a[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (unsigned n = 1; n <= DUP_ROUNDS; n++) {
		unsigned copies = 0;
		uint64_t key = sw_fdb_key(1, 0x020000000000ull + n);
		uint64_t h = sw_fdb_hash(d.f, key);
		for (unsigned i = 0; i < SW_FDB_PROBE; i++)
			copies += atomic_load(&sw_fdb_win(d.f, h, i)->key) == key;
		if (copies > 1)
			t->dups++;
		found += copies;
	}
	CHECK_EQ(t->dups, 0);
	CHECK_EQ(sw_fdb_count(d.f, 0) + sw_fdb_count(d.f, 1), found);
	free(t);
	sw_fdb_destroy(d.f);
}

/* peek: learn_peek's verdict, then learn's real one, in every case learn
 * knows; peek writes nothing (the lookup and counts stay as they were). */
static int learn_after_peek(struct sw_fdb *f, uint16_t vlan, uint64_t mac, uint16_t port,
                            uint8_t rem, uint32_t now, int want_peek, uint16_t want_other)
{
	uint16_t other = 0xffff, ep = 0;
	uint8_t erem = 0;
	unsigned c = sw_fdb_count(f, port);
	int before = sw_fdb_lookup(f, vlan, mac, now), r;
	bool st = false;
	uint32_t age = 0;

	r = sw_fdb_learn_peek(f, vlan, mac, port, rem, now, &other);
	CHECK_EQ(r, want_peek);
	if (want_other != 0xffff)
		CHECK_EQ(other, want_other);
	CHECK_EQ(sw_fdb_lookup(f, vlan, mac, now), before);
	CHECK_EQ(sw_fdb_count(f, port), c);
	CHECK_EQ(sw_fdb_entry(f, vlan, mac, now, &ep, &erem, &st, &age), before >= 0);
	if (before >= 0) {
		CHECK_EQ(ep, sw_fdb_where_port(before));
		CHECK_EQ(erem, sw_fdb_where_rem(before));
	}
	return sw_fdb_learn(f, vlan, mac, port, rem, now);
}

static void test_peek(void)
{
	struct sw_fdb *f = mk(64, 10, 2);
	uint64_t macs[SW_FDB_PROBE + 1];
	uint16_t p;
	uint8_t rem;
	bool st;
	uint32_t age;

	CHECK_EQ(sw_fdb_learn_peek(f, 1, 0x0211, SW_FDB_MAX_PORTS, 0, 0, &p), SW_PEEK_LIMIT);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 0, 0, SW_PEEK_INSERT, 0xffff), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 0, 5, SW_PEEK_REFRESH, 3), SW_LEARN_OK);
	CHECK(sw_fdb_entry(f, 1, 0x0211, 7, &p, &rem, &st, &age) && p == 3 && rem == 0 && !st && age == 2);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 4, 0, 6, SW_PEEK_MOVE, 3), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0212, 4, 0, 6, SW_PEEK_INSERT, 0xffff), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0213, 4, 0, 6, SW_PEEK_LIMIT, 0xffff), SW_LEARN_LIMIT);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 5, 0, 6, SW_PEEK_MOVE, 4), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_add_static(f, 1, 0x0299, 6, 0), 0);
	CHECK_EQ(learn_after_peek(f, 1, 0x0299, 5, 0, 6, SW_PEEK_STATIC, 6), SW_LEARN_STATIC);
	CHECK_EQ(learn_after_peek(f, 1, 0x0299, 6, 0, 6, SW_PEEK_STATIC_SELF, 6), SW_LEARN_OK);
	CHECK(sw_fdb_entry(f, 1, 0x0299, 1000, &p, &rem, &st, &age) && p == 6 && st && age == 0);
	/* aged out: a new entry again */
	CHECK(!sw_fdb_entry(f, 1, 0x0212, 100, &p, &rem, &st, &age));
	sw_fdb_destroy(f);

	f = mk(64, 10, 0);
	sw_fdb_set_limit(f, 1, 1000);
	same_window(f, macs, ARRAY_SIZE(macs));
	for (unsigned i = 0; i < SW_FDB_PROBE; i++)
		CHECK_EQ(learn_after_peek(f, 1, macs[i], 1, 0, 0, SW_PEEK_INSERT, 0xffff), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, macs[SW_FDB_PROBE], 1, 0, 0, SW_PEEK_FULL, 0xffff),
	         SW_LEARN_FULL);
	/* expired entries make room */
	CHECK_EQ(learn_after_peek(f, 1, macs[SW_FDB_PROBE], 1, 0, 100, SW_PEEK_INSERT, 0xffff),
	         SW_LEARN_OK);
	sw_fdb_destroy(f);
}

/* Remotes (VXLAN ports): an entry is (port, rem); lookup answers
 * port | rem << 8. A new remote on the same port is a move within the port:
 * no count changes and the port's limit never refuses it. */
static void test_remote(void)
{
	struct sw_fdb *f = mk(1024, 0, 1);
	uint64_t a = 0x0200000000a1ull, b = 0x0200000000b1ull;
	uint16_t p = 0;
	uint8_t rem = 0;
	bool st = true;
	uint32_t age = 0;
	int w;

	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 5, 10), SW_LEARN_OK);
	w = sw_fdb_lookup(f, 1, a, 10);
	CHECK_EQ(w, 3 | 5 << 8);
	CHECK_EQ(sw_fdb_where_port(w), 3);
	CHECK_EQ(sw_fdb_where_rem(w), 5);
	CHECK_EQ(sw_fdb_where_port((SW_FDB_MAX_PORTS - 1) | 255 << 8), SW_FDB_MAX_PORTS - 1);
	CHECK_EQ(sw_fdb_where_rem((SW_FDB_MAX_PORTS - 1) | 255 << 8), 255);
	CHECK_EQ(sw_fdb_count(f, 3), 1); /* port 3 is at its limit (1) */
	/* Same port, another remote: moved in place, even at the limit. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 7, 11), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 11), 3 | 7 << 8);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	CHECK(sw_fdb_entry(f, 1, a, 12, &p, &rem, &st, &age) && p == 3 && rem == 7 && !st &&
	      age == 1);
	/* Refresh of (3, 7): no move, the age restarts. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 7, 12), SW_LEARN_OK);
	CHECK(sw_fdb_entry(f, 1, a, 12, &p, &rem, &st, &age) && rem == 7 && age == 0);
	/* A new MAC is still refused at the limit, whatever its remote. */
	CHECK_EQ(sw_fdb_learn(f, 1, b, 3, 7, 12), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_lookup(f, 1, b, 12), -1);
	/* Back to "no remote" on the same port is a move too. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 0, 13), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 13), 3);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	/* Between ports it is still a counted move, with its remote. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 4, 9, 14), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 14), 4 | 9 << 8);
	CHECK_EQ(sw_fdb_count(f, 3), 0);
	CHECK_EQ(sw_fdb_count(f, 4), 1);
	CHECK_EQ(sw_fdb_learn(f, 1, b, 3, 2, 14), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	/* ... subject to the destination's limit: 3 is full with b. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 9, 15), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 15), 4 | 9 << 8);
	CHECK_EQ(sw_fdb_count(f, 4), 1);
	/* Ageing releases the port's unit, as for any learned entry. */
	CHECK_EQ(sw_fdb_age(f, 15 + SW_FDB_DEFAULT_AGE_S), 2);
	CHECK_EQ(sw_fdb_count(f, 3), 0);
	CHECK_EQ(sw_fdb_count(f, 4), 0);
	sw_fdb_destroy(f);
}

struct rem_seen {
	unsigned n;
	uint64_t mac[8];
	uint16_t port[8];
	uint8_t rem[8];
	bool st[8];
};

static void rem_one(void *arg, uint16_t vlan, uint64_t mac, uint16_t port, uint8_t rem,
                    uint32_t age_s, bool is_static)
{
	struct rem_seen *r = arg;

	(void)vlan;
	(void)age_s;
	if (r->n < ARRAY_SIZE(r->mac)) {
		r->mac[r->n] = mac;
		r->port[r->n] = port;
		r->rem[r->n] = rem;
		r->st[r->n] = is_static;
	}
	r->n++;
}

/* foreach's answer for mac: its index in r, or -1. */
static int rem_find(const struct rem_seen *r, uint64_t mac)
{
	for (unsigned i = 0; i < r->n && i < ARRAY_SIZE(r->mac); i++)
		if (r->mac[i] == mac)
			return (int)i;
	return -1;
}

/* Static entries keep their remote against learning from their own port
 * (static wins there, as for the port itself); entry and foreach report it. */
static void test_remote_static(void)
{
	struct sw_fdb *f = mk(1024, 0, 0);
	uint64_t a = 0x0200000000a2ull, c = 0x0200000000c2ull;
	struct rem_seen r = { 0 };
	uint16_t p = 0;
	uint8_t rem = 0;
	bool st = false;
	uint32_t age = 1;
	int i;

	CHECK_EQ(sw_fdb_add_static(f, 1, c, SW_FDB_MAX_PORTS, 4), -EINVAL);
	CHECK_EQ(sw_fdb_add_static(f, 1, c, 5, 4), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, c, 0), 5 | 4 << 8);
	/* Pinned to remote 4: another remote of the same port may not use it
	 * (a spoof, as from another port). */
	CHECK_EQ(sw_fdb_learn(f, 1, c, 5, 6, 1), SW_LEARN_STATIC);
	CHECK_EQ(sw_fdb_learn(f, 1, c, 5, 0, 1), SW_LEARN_STATIC);
	CHECK_EQ(sw_fdb_lookup(f, 1, c, 1), 5 | 4 << 8);
	{
		uint16_t o = 0;
		CHECK_EQ(sw_fdb_learn_peek(f, 1, c, 5, 6, 1, &o), SW_PEEK_STATIC);
		CHECK_EQ(sw_fdb_learn_peek(f, 1, c, 5, 4, 1, &o), SW_PEEK_STATIC_SELF);
	}
	/* A static entry without a remote (a local port's mac=) takes frames
	 * of its port whatever they carry. */
	CHECK_EQ(sw_fdb_add_static(f, 1, c + 1, 7, 0), 0);
	CHECK_EQ(sw_fdb_learn(f, 1, c + 1, 7, 3, 1), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_del(f, 1, c + 1), 0);
	CHECK_EQ(sw_fdb_learn(f, 1, c, 5, 4, 1), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_learn(f, 1, c, 6, 4, 1), SW_LEARN_STATIC);
	CHECK_EQ(sw_fdb_lookup(f, 1, c, 1), 5 | 4 << 8);
	CHECK_EQ(sw_fdb_count(f, 5), 0);
	CHECK_EQ(sw_fdb_count(f, 6), 0);
	CHECK(sw_fdb_entry(f, 1, c, 1000000, &p, &rem, &st, &age) && p == 5 && rem == 4 && st &&
	      age == 0);
	/* Static over a learned entry with a remote: rebinds, unit given back. */
	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 9, 2), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	CHECK_EQ(sw_fdb_add_static(f, 1, a, 3, 1), 0);
	CHECK_EQ(sw_fdb_count(f, 3), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, a, 2), 3 | 1 << 8);
	/* and back to learned through del + learn */
	CHECK_EQ(sw_fdb_del(f, 1, a), 0);
	CHECK_EQ(sw_fdb_learn(f, 1, a, 3, 255, 3), SW_LEARN_OK);
	sw_fdb_foreach(f, 3, rem_one, &r);
	CHECK_EQ(r.n, 2);
	i = rem_find(&r, c);
	CHECK(i >= 0 && r.port[i] == 5 && r.rem[i] == 4 && r.st[i]);
	i = rem_find(&r, a);
	CHECK(i >= 0 && r.port[i] == 3 && r.rem[i] == 255 && !r.st[i]);
	sw_fdb_destroy(f);
}

/* flush_rem removes exactly (port, rem)'s entries, learned and static, and
 * fixes the port's count. */
static void test_flush_rem(void)
{
	struct sw_fdb *f = mk(1024, 0, 0);
	static const struct {
		uint64_t mac;
		uint16_t port;
		uint8_t rem;
		bool is_static;
		bool gone;    /* after flush_rem(3, 5) */
	} e[] = {
		{ 0x020000000001ull, 3, 5, false, true },
		{ 0x020000000002ull, 3, 5, false, true },
		{ 0x020000000003ull, 3, 5, true, true },
		{ 0x020000000004ull, 3, 6, false, false },
		{ 0x020000000005ull, 3, 6, true, false },
		{ 0x020000000006ull, 3, 0, false, false },
		{ 0x020000000007ull, 4, 5, false, false },
		{ 0x020000000008ull, 3, 1, false, false },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(e); i++)
		CHECK_EQ(e[i].is_static ? sw_fdb_add_static(f, 1, e[i].mac, e[i].port, e[i].rem) :
		                          sw_fdb_learn(f, 1, e[i].mac, e[i].port, e[i].rem, 0),
		         0);
	CHECK_EQ(sw_fdb_count(f, 3), 5);
	CHECK_EQ(sw_fdb_count(f, 4), 1);
	/* Invalid first: a port out of range flushes nothing (259 = 0x103 must
	 * not reach (3, 1)), nor does a remote nobody uses. */
	sw_fdb_flush_rem(f, SW_FDB_MAX_PORTS + 3, 0);
	sw_fdb_flush_rem(f, 3, 77);
	for (unsigned i = 0; i < ARRAY_SIZE(e); i++)
		CHECK_EQ(sw_fdb_lookup(f, 1, e[i].mac, 1), e[i].port | e[i].rem << 8);
	CHECK_EQ(sw_fdb_count(f, 3), 5);

	sw_fdb_flush_rem(f, 3, 5);
	for (unsigned i = 0; i < ARRAY_SIZE(e); i++)
		CHECK_EQ(sw_fdb_lookup(f, 1, e[i].mac, 1),
		         e[i].gone ? -1 : e[i].port | e[i].rem << 8);
	CHECK_EQ(sw_fdb_count(f, 3), 3);
	CHECK_EQ(sw_fdb_count(f, 4), 1);
	/* rem 0 is a remote like the others for flush_rem. */
	sw_fdb_flush_rem(f, 3, 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, e[5].mac, 1), -1);
	CHECK_EQ(sw_fdb_lookup(f, 1, e[3].mac, 1), 3 | 6 << 8);
	CHECK_EQ(sw_fdb_count(f, 3), 2);
	/* The flushed MACs learn again, counted. */
	CHECK_EQ(sw_fdb_learn(f, 1, e[0].mac, 3, 6, 2), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_count(f, 3), 3);
	sw_fdb_flush_port(f, 3);
	CHECK_EQ(sw_fdb_count(f, 3), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, e[4].mac, 2), -1);
	CHECK_EQ(sw_fdb_lookup(f, 1, e[6].mac, 2), 4 | 5 << 8);
	sw_fdb_destroy(f);
}

/* peek mirrors learn for remotes: a new remote on the same port is a move
 * from that port, never refused by the limit. */
static void test_peek_remote(void)
{
	struct sw_fdb *f = mk(64, 10, 1);

	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 5, 0, SW_PEEK_INSERT, 0xffff), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 5, 1, SW_PEEK_REFRESH, 3), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 7, 2, SW_PEEK_MOVE, 3), SW_LEARN_OK);
	CHECK_EQ(sw_fdb_lookup(f, 1, 0x0211, 2), 3 | 7 << 8);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 0, 2, SW_PEEK_MOVE, 3), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0212, 3, 7, 2, SW_PEEK_LIMIT, 0xffff), SW_LEARN_LIMIT);
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 4, 7, 3, SW_PEEK_MOVE, 3), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0212, 3, 7, 3, SW_PEEK_INSERT, 0xffff), SW_LEARN_OK);
	/* port 3 full: a move from 4 to 3 is refused, with or without remote */
	CHECK_EQ(learn_after_peek(f, 1, 0x0211, 3, 7, 3, SW_PEEK_LIMIT, 4), SW_LEARN_LIMIT);
	CHECK_EQ(sw_fdb_count(f, 3), 1);
	CHECK_EQ(sw_fdb_count(f, 4), 1);
	CHECK_EQ(sw_fdb_add_static(f, 1, 0x0299, 6, 2), 0);
	CHECK_EQ(learn_after_peek(f, 1, 0x0299, 6, 2, 3, SW_PEEK_STATIC_SELF, 6), SW_LEARN_OK);
	CHECK_EQ(learn_after_peek(f, 1, 0x0299, 6, 3, 3, SW_PEEK_STATIC, 6), SW_LEARN_STATIC);
	CHECK_EQ(learn_after_peek(f, 1, 0x0299, 5, 2, 3, SW_PEEK_STATIC, 6), SW_LEARN_STATIC);
	CHECK_EQ(sw_fdb_lookup(f, 1, 0x0299, 3), 6 | 2 << 8);
	sw_fdb_destroy(f);
}

/* The 15-bit sequence wraps every 2^14 writes of a slot: 100000 moves of
 * one MAC (between two remotes, and now and then between two ports) wrap it
 * six times; the port, remote and static bits must come out intact each
 * time and lookups must stay consistent. */
static void test_seq_wrap(void)
{
	enum { MOVES = 100000 };
	struct sw_fdb *f = mk(1024, 0, 1);
	uint64_t mac = 0x0200000000d1ull, key = sw_fdb_key(1, mac), h = sw_fdb_hash(f, key);
	struct sw_fdb_slot *s = NULL;
	unsigned bad = 0, wraps = 0;
	uint32_t last, m;
	uint16_t p = 0;
	uint8_t rem = 0;
	bool st = true;
	uint32_t age = 1;

	CHECK_EQ(sw_fdb_learn(f, 1, mac, 3, 2, 0), SW_LEARN_OK);
	for (unsigned i = 0; i < SW_FDB_PROBE && !s; i++)
		if (atomic_load(&sw_fdb_win(f, h, i)->key) == key)
			s = sw_fdb_win(f, h, i);
	CHECK(s != NULL);
	if (!s)
		return;
	last = atomic_load(&s->meta) / SW_FDB_META_SEQ1;
	for (uint32_t n = 1; n <= MOVES; n++) {
		uint16_t port = (n / 1000) & 1 ? 4 : 3;
		uint8_t r = n & 1 ? 1 : 2;
		uint32_t seq;

		bad += sw_fdb_learn(f, 1, mac, port, r, n) != SW_LEARN_OK;
		bad += sw_fdb_lookup(f, 1, mac, n) != (port | r << 8);
		m = atomic_load(&s->meta);
		/* below the sequence: port and remote, not static */
		bad += (m & (SW_FDB_META_SEQ1 - 1)) != (port | (uint32_t)r << 8);
		bad += (m & SW_FDB_META_BUSY) != 0;
		seq = m / SW_FDB_META_SEQ1;
		wraps += seq < last;
		last = seq;
	}
	CHECK_EQ(bad, 0);
	CHECK(wraps >= MOVES / (1u << 14));
	CHECK_EQ(sw_fdb_count(f, 3) + sw_fdb_count(f, 4), 1);
	CHECK(sw_fdb_entry(f, 1, mac, MOVES, &p, &rem, &st, &age) && p == 3 && rem == 2 && !st &&
	      age == 0);
	CHECK_EQ(sw_fdb_del(f, 1, mac), 0);
	CHECK_EQ(sw_fdb_lookup(f, 1, mac, MOVES), -1);
	CHECK_EQ(sw_fdb_count(f, 3) + sw_fdb_count(f, 4), 0);
	sw_fdb_destroy(f);
}

int main(void)
{
	test_create();
	test_learn_lookup();
	test_vlan();
	test_move();
	test_limit();
	test_static();
	test_aging();
	test_collisions();
	test_peek();
	test_remote();
	test_remote_static();
	test_flush_rem();
	test_peek_remote();
	test_seq_wrap();
	test_100k();
	test_concurrent();
	test_dup_race();
	return check_result("fdb");
}
