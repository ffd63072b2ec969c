/* fdb_bench.c - single-thread cost of the switch MAC table (src/switch/fdb.h):
 * ns per lookup (hit and miss) and per learn refresh, with 1k and 100k
 * entries in a default-sized table (256K slots). Keys are visited in a
 * shuffled order so the 100k case pays its cache misses as the datapath
 * would. Usage: fdb_bench [iterations, default 20000000]. */
#include <stdio.h>
#include <stdlib.h>

#include "clk.h"
#include "fdb.h"

static uint64_t key_mac(unsigned i)
{
	return 0x020000000000ull + (uint64_t)i * 0x10001ull;
}

static void shuffle(unsigned *a, unsigned n)
{
	uint64_t x = 88172645463325252ull;

	for (unsigned i = n - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned j = (unsigned)(x % (i + 1));
		unsigned t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

static int run(unsigned n, unsigned long iters)
{
	struct sw_fdb *f;
	unsigned *order = malloc(n * sizeof(*order));
	volatile int sink = 0;
	uint64_t t0;
	double hit_ns, miss_ns, learn_ns;
	unsigned long bad = 0;

	if (!order || sw_fdb_create(NULL, &f)) {
		fprintf(stderr, "fdb_bench: setup failed\n");
		return 1;
	}
	for (unsigned p = 0; p < 16; p++)
		sw_fdb_set_limit(f, (uint16_t)p, 65535);
	for (unsigned i = 0; i < n; i++) {
		order[i] = i;
		if (sw_fdb_learn(f, (uint16_t)(i & 7), key_mac(i), (uint16_t)(i & 15), 0, 100) !=
		    SW_LEARN_OK)
			bad++;
	}
	shuffle(order, n);

	t0 = clk_now_ns();
	for (unsigned long k = 0; k < iters; k++) {
		unsigned i = order[k % n];
		sink += sw_fdb_lookup(f, (uint16_t)(i & 7), key_mac(i), 101);
	}
	hit_ns = (double)(clk_now_ns() - t0) / (double)iters;

	t0 = clk_now_ns();
	for (unsigned long k = 0; k < iters; k++) {
		unsigned i = order[k % n];
		sink += sw_fdb_lookup(f, (uint16_t)((i & 7) + 8), key_mac(i), 101);
	}
	miss_ns = (double)(clk_now_ns() - t0) / (double)iters;

	t0 = clk_now_ns();
	for (unsigned long k = 0; k < iters; k++) {
		unsigned i = order[k % n];
		sink += sw_fdb_learn(f, (uint16_t)(i & 7), key_mac(i), (uint16_t)(i & 15), 0, 100);
	}
	learn_ns = (double)(clk_now_ns() - t0) / (double)iters;

	printf("%8u %10.2f %10.2f %14.2f %8lu\n", n, hit_ns, miss_ns, learn_ns, bad);
	(void)sink;
	sw_fdb_destroy(f);
	free(order);
	return bad != 0;
}

int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000000ul;
	int r = 0;

	if (!iters)
		iters = 1;
	printf("%8s %10s %10s %14s %8s\n", "entries", "hit_ns", "miss_ns", "refresh_ns", "unlearned");
	r |= run(1000, iters);
	r |= run(100000, iters);
	return r;
}
