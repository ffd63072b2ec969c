/* qos_bench.c - cost per frame of the rate limiters with 2 and with 1024
 * limited ports, and of the fair share's decision for a frame that passes
 * and for one over its share (not a test: figures; bench/README.md). Ports are laid out
 * as in the datapath: a profile per port in the snapshot (dp_conf_port),
 * the bucket state in the port (struct dp_port: a few KiB apart), each
 * burst of 32 frames from a random port to a random other port, checked
 * against the source's ingress limit and the destination's egress limit
 * (with its fair share). Limits are high, so every frame passes and does
 * the full work. Usage: qos_bench [BURSTS] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qos.h"

struct port {                  /* stands for struct dp_port */
	struct qos_state qin, qeg;
	struct qos_drr share;
};

struct conf_port {             /* stands for struct dp_conf_port */
	struct qos_prof qin, qeg;
	uint8_t pad[256];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double run(unsigned nports, unsigned bursts)
{
	struct port *p = calloc(nports, sizeof(*p));
	struct conf_port *c = calloc(nports, sizeof(*c));
	struct qos_limit lim = { .bps = 400000000000ull, .pps = 1000000000ull };
	uint64_t rng = 88172645463325252ull, t0, t1, pass = 0;
	char err[128];

	if (!p || !c)
		exit(1);
	for (unsigned i = 0; i < nports; i++) {
		qos_prof_build(&lim, 24, &c[i].qin, err, sizeof(err));
		qos_prof_build(&lim, 24, &c[i].qeg, err, sizeof(err));
	}
	t0 = now_ns();
	for (unsigned b = 0; b < bursts; b++) {
		unsigned src, dst;
		struct qos_batch bi, be;
		uint64_t q = qos_time(now_ns());

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		src = (unsigned)(rng % nports);
		dst = (unsigned)((rng >> 32) % nports);
		if (dst == src)
			dst = (dst + 1) % nports;
		qos_begin(&c[src].qin, &p[src].qin, q, &bi);
		for (unsigned i = 0; i < 32; i++)
			pass += qos_take(&c[src].qin, &bi, 64 + i);
		qos_end(&p[src].qin, &bi);
		qos_begin(&c[dst].qeg, &p[dst].qeg, q, &be);
		qos_fair_bucket_setup(&c[dst].qeg, &p[dst].share);
		for (unsigned i = 0; i < 32; i++)
			pass += qos_take_fair(&c[dst].qeg, &be, &p[dst].share, src % 256, 1, 64 + i) ==
			        QOS_PASS;
		qos_end(&p[dst].qeg, &be);
	}
	t1 = now_ns();
	if (pass != 64ull * bursts)
		fprintf(stderr, "unexpected refusals: %llu of %llu passed\n", (unsigned long long)pass,
		        64ull * bursts);
	free(p);
	free(c);
	return (double)(t1 - t0) / (32.0 * bursts);
}

/* The fair share's decision alone, at one congested port: two senders,
 * bursts of 32; returns ns per frame. over: the measured sender has used
 * its quantum and the port is congested, so every frame is refused (what a
 * frame over its share costs before it is left in the ring or dropped);
 * else the frames pass. */
static double share(unsigned bursts, bool over)
{
	static struct qos_drr d;
	uint64_t t0, t1, q = qos_time(now_ns()), n = 0;

	memset(&d, 0, sizeof(d));
	qos_drr_setup(&d, 1 << 30, 1, 1 << 20);
	/* the other sender takes part; sender 1 runs out */
	qos_drr_may(&d, 2, 1, 4, q);
	while (qos_drr_may(&d, 1, 1, 1, q))
		qos_drr_charge(&d, 1, 1 << 20);
	t0 = now_ns();
	for (unsigned b = 0; b < bursts; b++)
		for (unsigned i = 0; i < 32; i++) {
			if (qos_drr_may(&d, 1, 1, over ? 1 : 4, q)) {
				qos_drr_charge(&d, 1, 64);
				n++;
			}
		}
	t1 = now_ns();
	if (over ? n != 0 : n != 32ull * bursts)
		fprintf(stderr, "unexpected: %llu of %llu passed\n", (unsigned long long)n,
		        32ull * bursts);
	return (double)(t1 - t0) / (32.0 * bursts);
}

int main(int argc, char **argv)
{
	unsigned bursts = argc > 1 ? (unsigned)atoi(argv[1]) : 2000000;
	static const unsigned n[] = { 2, 64, 1024 };

	printf("%-8s %s\n", "ports", "ns per frame (ingress + egress limit, fair share)");
	for (int rep = 0; rep < 2; rep++)
		for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
			printf("%-8u %.2f\n", n[i], run(n[i], bursts));
	printf("fair share alone, ns per frame: passing %.2f, over its share (refused) %.2f\n",
	       share(bursts, false), share(bursts, true));
	return 0;
}
