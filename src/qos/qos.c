/* qos.c - the control-thread side of qos.h: profiles from the operator's
 * limits, the periodic refresh of idle buckets, resets of fair-share
 * state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qos.h"

static const uint64_t NS_PER_S = 1000000000ull;

uint64_t qos_default_burst(uint64_t bps)
{
	uint64_t b = bps / 8 * QOS_DEFAULT_BURST_MS / 1000;

	return MAX(b, (uint64_t)QOS_MIN_BURST_BYTES);
}

uint64_t qos_default_pburst(uint64_t pps)
{
	uint64_t b = pps * QOS_DEFAULT_BURST_MS / 1000;

	return MAX(b, (uint64_t)QOS_MIN_PBURST);
}

/* Time units per item at rate per_s items per second (items: bytes with
 * mul 8 for bit rates, packets with mul 1), rounded to nearest. */
static uint64_t unit_cost(uint64_t per_s, uint64_t mul)
{
	unsigned __int128 num = (unsigned __int128)NS_PER_S * mul << QOS_SHIFT;

	return (uint64_t)((num + per_s / 2) / per_s);
}

/* depth = cost of n items, checked against the longest burst we allow. */
static int depth_of(uint64_t cost, uint64_t n, uint64_t *out)
{
	unsigned __int128 d = (unsigned __int128)cost * n;

	if (d > (unsigned __int128)QOS_MAX_DEPTH_NS << QOS_SHIFT)
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

int qos_prof_build(const struct qos_limit *l, uint32_t overhead, struct qos_prof *p, char *err,
                   size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (l->bps && (l->bps < QOS_MIN_BPS || l->bps > QOS_MAX_BPS)) {
		snprintf(err, errlen, "rate must be between 8kbit and 1tbit");
		return -EINVAL;
	}
	if (l->pps > QOS_MAX_PPS) {
		snprintf(err, errlen, "pps must be at most 1000000000");
		return -EINVAL;
	}
	if (l->burst && !l->bps) {
		snprintf(err, errlen, "a burst needs a rate");
		return -EINVAL;
	}
	if (l->pburst && !l->pps) {
		snprintf(err, errlen, "a packet burst needs a pps limit");
		return -EINVAL;
	}
	if (overhead > 256) {
		snprintf(err, errlen, "overhead must be 0..256 bytes");
		return -EINVAL;
	}
	if (l->bps) {
		uint64_t burst = l->burst ? l->burst : qos_default_burst(l->bps);

		p->has_b = true;
		p->b.per_byte = unit_cost(l->bps, 8);
		p->b.per_pkt = p->b.per_byte * overhead;
		if (depth_of(p->b.per_byte, burst, &p->b.depth) < 0) {
			snprintf(err, errlen, "burst too large for the rate (more than 4 hours of it)");
			return -EINVAL;
		}
		/* A held queue is polled again when a quarter of the burst or
		 * 16 KiB has refilled, whichever is less: batches stay useful
		 * (and small enough for a 256-entry receive ring even in 64-byte
		 * frames), and a worker woken late (by up to 3/4 of the burst)
		 * loses no tokens. */
		p->b.refill = MIN(p->b.depth / 4, p->b.per_byte * 16384);
	}
	if (l->pps) {
		uint64_t pb = l->pburst ? l->pburst : qos_default_pburst(l->pps);

		p->has_p = true;
		p->p.per_pkt = unit_cost(l->pps, 1);
		if (depth_of(p->p.per_pkt, pb, &p->p.depth) < 0) {
			snprintf(err, errlen, "packet burst too large for the pps (more than 4 hours of it)");
			return -EINVAL;
		}
		p->p.refill = MIN(p->p.depth / 4, p->p.per_pkt * 32);
	}
	p->on = p->has_b || p->has_p;
	if (p->has_b)
		p->unit_max = (int64_t)(p->b.per_byte * QOS_UNIT_BYTES);
	else if (p->has_p)
		p->unit_max = (int64_t)(p->p.per_pkt * QOS_UNIT_PKTS);
	p->unit_min = MAX(p->unit_max / 128, (int64_t)1);
	return 0;
}

static void refresh_one(_Atomic uint64_t *tat, uint64_t now)
{
	uint64_t t = atomic_load_explicit(tat, memory_order_relaxed);

	/* Only an idle (full) bucket; a worker's concurrent update wins. */
	if (qos_diff(t, now) < 0)
		atomic_compare_exchange_strong_explicit(tat, &t, now, memory_order_relaxed,
		                                        memory_order_relaxed);
}

void qos_refresh(struct qos_state *s, uint64_t now)
{
	refresh_one(&s->tat_b, now);
	refresh_one(&s->tat_p, now);
}

void qos_drr_reset(struct qos_drr *d)
{
	memset(d, 0, sizeof(*d)); /* a fresh state: see qos_drr_setup */
}

void qos_fair_reset(struct qos_fair *f, uint16_t used_idx, uint64_t now)
{
	qos_drr_reset(&f->drr);
	f->cap = 0;
	f->free_left = 0;
	f->back = 0;
	f->back_t = f->last_t = now;
	f->per_buf = 0;
	f->used_seen = used_idx;
}

/* A number with an optional fraction, then a unit from units[] (matched
 * case-insensitively, longest first); *out = number x the unit's factor
 * / div, rounded. Returns 0 or -EINVAL. */
struct unit {
	const char *name;
	double factor;
};

static int parse_units(const char *s, const struct unit *units, size_t nunits, double div,
                       uint64_t *out)
{
	char *end;
	double v, f = -1;

	if (!s || !*s || !(*s >= '0' && *s <= '9') || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || v != v || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < nunits; i++)
		if (!strcasecmp(end, units[i].name)) {
			f = units[i].factor;
			break;
		}
	if (f < 0)
		return -EINVAL;
	v = v * f / div;
	if (!(v < 18446744073709549568.0)) /* largest double below 2^64 */
		return -EINVAL;
	*out = (uint64_t)(v + 0.5);
	return 0;
}

/* tc(8)'s rate units: bits (decimal and binary prefixes) and bytes per
 * second; a bare number is bits per second. */
static const struct unit rate_units[] = {
	{ "", 1 }, { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
	{ "tbit", 1e12 }, { "kibit", 1024.0 }, { "mibit", 1048576.0 },
	{ "gibit", 1073741824.0 }, { "tibit", 1099511627776.0 }, { "bps", 8 },
	{ "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 }, { "tbps", 8e12 },
	{ "kibps", 8 * 1024.0 }, { "mibps", 8 * 1048576.0 }, { "gibps", 8 * 1073741824.0 },
	{ "tibps", 8 * 1099511627776.0 },
};

/* tc(8)'s size units: a bare number or b is bytes, k/kb/m/mb/g/gb are
 * binary multiples of bytes, kbit/mbit/gbit decimal multiples of bits. */
static const struct unit size_units[] = {
	{ "", 8 }, { "b", 8 }, { "k", 8 * 1024.0 }, { "kb", 8 * 1024.0 },
	{ "m", 8 * 1048576.0 }, { "mb", 8 * 1048576.0 }, { "g", 8 * 1073741824.0 },
	{ "gb", 8 * 1073741824.0 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
	{ "bit", 1 },
};

int qos_parse_rate(const char *s, uint64_t *bps)
{
	return parse_units(s, rate_units, ARRAY_SIZE(rate_units), 1, bps);
}

int qos_parse_size(const char *s, uint64_t *bytes)
{
	return parse_units(s, size_units, ARRAY_SIZE(size_units), 8, bytes);
}

int qos_parse_count(const char *s, uint64_t *n)
{
	static const struct unit u[] = { { "", 1 }, { "k", 1e3 }, { "m", 1e6 } };

	return parse_units(s, u, ARRAY_SIZE(u), 1, n);
}
