/* bench_flow.c - snapshots and merging of the receive threads' flow tables
 * (see bench_flow.h), and Jain's fairness index. Main thread only.
 *
 * Differences are taken per table and per slot first (a table's slots never
 * move), then merged by MAC, so a flow a thread met between two snapshots
 * simply starts from zero. */
#include <stdio.h>
#include <stdlib.h>

#include "bench_flow.h"

void bench_flow_snap(struct bench_flow_snap *s, struct bench_flows *tabs, unsigned ntab)
{
	memset(s, 0, sizeof(*s));
	for (unsigned t = 0; t < ntab && t < VIF_MAX_QUEUE_PAIRS; t++) {
		struct bench_flows *fl = &tabs[t];

		s->n[t] = atomic_load_explicit(&fl->n, memory_order_acquire);
		for (unsigned i = 0; i < s->n[t]; i++) {
			s->pkts[t][i] = atomic_load_explicit(&fl->pkts[i], memory_order_relaxed);
			s->bytes[t][i] = atomic_load_explicit(&fl->bytes[i], memory_order_relaxed);
		}
		s->pkts[t][BENCH_FLOW_OTHER] =
			atomic_load_explicit(&fl->pkts[BENCH_FLOW_OTHER], memory_order_relaxed);
		s->bytes[t][BENCH_FLOW_OTHER] =
			atomic_load_explicit(&fl->bytes[BENCH_FLOW_OTHER], memory_order_relaxed);
	}
}

static int cmp_mac_idx(const void *a, const void *b, void *ctx)
{
	const struct bench_flow_set *set = ctx;

	return memcmp(set->src[*(const unsigned *)a], set->src[*(const unsigned *)b], 6);
}

static void sort_set(struct bench_flow_set *s)
{
	struct bench_flow_set tmp = *s;
	unsigned idx[BENCH_MAX_FLOWS];

	for (unsigned i = 0; i < s->n; i++)
		idx[i] = i;
	qsort_r(idx, s->n, sizeof(idx[0]), cmp_mac_idx, &tmp);
	for (unsigned i = 0; i < s->n; i++) {
		memcpy(s->src[i], tmp.src[idx[i]], 6);
		s->pkts[i] = tmp.pkts[idx[i]];
		s->bytes[i] = tmp.bytes[idx[i]];
	}
}

void bench_flow_delta(struct bench_flow_set *out, struct bench_flows *tabs, unsigned ntab,
		      const struct bench_flow_snap *to, const struct bench_flow_snap *from)
{
	memset(out, 0, sizeof(*out));
	for (unsigned t = 0; t < ntab && t < VIF_MAX_QUEUE_PAIRS; t++) {
		unsigned from_n = from ? from->n[t] : 0;

		for (unsigned i = 0; i < to->n[t]; i++) {
			uint64_t p = to->pkts[t][i] - (i < from_n ? from->pkts[t][i] : 0);
			uint64_t b = to->bytes[t][i] - (i < from_n ? from->bytes[t][i] : 0);
			uint8_t mac[6];
			unsigned j;

			memcpy(mac, &tabs[t].key[i], 6);
			for (j = 0; j < out->n; j++)
				if (!memcmp(out->src[j], mac, 6))
					break;
			if (j == out->n) {
				if (out->n == BENCH_MAX_FLOWS) {
					out->other_pkts += p;
					out->other_bytes += b;
					continue;
				}
				memcpy(out->src[j], mac, 6);
				out->n++;
			}
			out->pkts[j] += p;
			out->bytes[j] += b;
		}
		out->other_pkts += to->pkts[t][BENCH_FLOW_OTHER] -
				   (from ? from->pkts[t][BENCH_FLOW_OTHER] : 0);
		out->other_bytes += to->bytes[t][BENCH_FLOW_OTHER] -
				    (from ? from->bytes[t][BENCH_FLOW_OTHER] : 0);
	}
	sort_set(out);
}

double bench_jain(const double *x, unsigned n)
{
	double s = 0, s2 = 0;

	for (unsigned i = 0; i < n; i++) {
		s += x[i];
		s2 += x[i] * x[i];
	}
	if (!n || s2 <= 0)
		return -1;
	return s * s / ((double)n * s2);
}

void bench_mac_str(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}
