/* dp_reply.h - does someone wait for an answer? A worker's guess, per port
 * it sends to, that frames sent there are answered soon, and the window to
 * poll for that answer instead of sleeping (dp_worker.c).
 *
 * Why: a round trip through a worker that sleeps whenever it is idle costs
 * two wake-ups, one for the request and one for the answer (measured on
 * this project's 2-vCPU machine: an idle ping's round trip about three
 * times that through testpmd or OVS-DPDK, which never sleep). The answer's
 * wake-up is the one a worker can avoid at a bounded cost: after sending
 * to a port that usually answers within DP_REPLY_MAX_NS, it polls for
 * twice the usual delay (plus DP_REPLY_SLACK_NS) before it sleeps.
 *
 * What counts as an answer: after an idle gap, the first frames to arrive
 * come from a port the last busy iteration sent to, within
 * DP_REPLY_MAX_NS. Each answer raises that port's score by DP_REPLY_HIT;
 * each send whose gap ended later, or with frames from other ports only,
 * lowers it by DP_REPLY_MISS; the worker waits for ports at DP_REPLY_ON or
 * above. So a port qualifies only if it answers at least two times in
 * three: an echo, a request's server, a kernel stack's ACKs. A paced
 * one-way stream (its receiver never sends) and independent streams that
 * merely cross do not, and keep the sleep-at-once of the adaptive spin.
 *
 * Cost: a few stores per destination per burst and per receive queue that
 * had frames; the learning runs once per idle gap. One per worker, only
 * its worker touches it. */
#ifndef VIFD_DP_REPLY_H
#define VIFD_DP_REPLY_H

#include <stdint.h>

enum {
	DP_REPLY_PORTS = 256,     /* = DP_MAX_PORTS (checked in dp_impl.h) */
	DP_REPLY_MAX_NS = 100000, /* the longest answer worth polling for */
	DP_REPLY_SLACK_NS = 5000,
	DP_REPLY_HIT = 1,
	DP_REPLY_MISS = 2,
	DP_REPLY_TOP = 7,         /* the score's ceiling */
	DP_REPLY_ON = 4,          /* the score from which the worker waits */
};

struct dp_reply {
	/* The ports this iteration sent to and took frames from (stamped
	 * with the iteration's number), and those the last busy iteration
	 * sent to. */
	uint32_t iter;
	uint32_t sent_at[DP_REPLY_PORTS], rx_at[DP_REPLY_PORTS];
	uint16_t sent[DP_REPLY_PORTS], await[DP_REPLY_PORTS];
	unsigned nsent, nawait;
	/* Per port: the score, and the usual delay of its answers (ns, a
	 * moving average of 1/4). */
	uint8_t score[DP_REPLY_PORTS];
	uint32_t delay_ns[DP_REPLY_PORTS];
};

/* A worker's loop iteration begins. */
static inline void dp_reply_begin(struct dp_reply *r)
{
	r->nsent = 0;
	r->iter++;
}

/* This iteration sent frames to port (once per destination per burst). */
static inline void dp_reply_sent(struct dp_reply *r, unsigned port)
{
	if (r->sent_at[port] != r->iter) {
		r->sent_at[port] = r->iter;
		r->sent[r->nsent++] = (uint16_t)port;
	}
}

/* This iteration took frames from port. */
static inline void dp_reply_rx(struct dp_reply *r, unsigned port)
{
	r->rx_at[port] = r->iter;
}

/* This iteration took frames after an idle gap of gap_ns (from the start
 * of the last busy iteration): were the ports that one sent to answering? */
static inline void dp_reply_learn(struct dp_reply *r, uint64_t gap_ns)
{
	for (unsigned i = 0; i < r->nawait; i++) {
		unsigned p = r->await[i];
		unsigned sc = r->score[p];

		if (r->rx_at[p] == r->iter && gap_ns <= DP_REPLY_MAX_NS) {
			r->delay_ns[p] = (uint32_t)(sc ? (3 * (uint64_t)r->delay_ns[p] + gap_ns) / 4 : gap_ns);
			sc += DP_REPLY_HIT;
			r->score[p] = (uint8_t)(sc > DP_REPLY_TOP ? DP_REPLY_TOP : sc);
		} else {
			r->score[p] = (uint8_t)(sc > DP_REPLY_MISS ? sc - DP_REPLY_MISS : 0);
		}
	}
}

/* A busy iteration ends: the window to poll for answers to what it sent
 * (0: none expected). Its destinations become the ports awaited. */
static inline uint64_t dp_reply_window(struct dp_reply *r)
{
	uint64_t win = 0;

	for (unsigned i = 0; i < r->nsent; i++) {
		unsigned p = r->sent[i];

		r->await[i] = (uint16_t)p;
		if (r->score[p] >= DP_REPLY_ON) {
			uint64_t d = 2 * (uint64_t)r->delay_ns[p] + DP_REPLY_SLACK_NS;
			if (d > win)
				win = d;
		}
	}
	r->nawait = r->nsent;
	return win > DP_REPLY_MAX_NS ? DP_REPLY_MAX_NS : win;
}

#endif
