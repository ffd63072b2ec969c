/* cli_cap.c - vifctl capture: asks vifd for a capture of a port, receives
 * the capture's shared memory with the reply (cap_ring.h: one ring per
 * datapath worker), drains the rings every few milliseconds in timestamp
 * order and writes each record to a pcap file (nanosecond timestamps,
 * libpcap's pcap_dump), which tcpdump -r and Wireshark read. The capture
 * ends in vifd when this connection closes, so a killed vifctl leaves
 * nothing running.
 *
 * The memory is vifd's, but checked like input: the header's geometry must
 * fit the mapping, every record must fit its ring and its caplen the
 * snaplen; anything else ends the capture with an error. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "cap_ring.h"
#include "cli.h"
#include "clk.h"
#include "xalloc.h"

enum { DRAIN_MS = 10, MAX_RINGS = 64 };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct rcur {
	struct cap_ring *r;
	const uint8_t *data;
	uint64_t pos, head;
	const struct cap_rec *rec;  /* the next record, or NULL */
};

struct cap_reader {
	const struct cap_hdr *h;
	size_t map_len;
	unsigned n;
	uint64_t size;
	uint32_t snaplen;
	struct rcur cur[MAX_RINGS];
	pcap_dumper_t *dump;
	long count, written;
	bool bad;
};

static bool geometry_ok(const struct cap_hdr *h, size_t len)
{
	uint64_t end;

	if (len < sizeof(*h) || h->magic != CAP_MAGIC || h->version != CAP_VERSION ||
	    !h->nrings || h->nrings > MAX_RINGS || !h->data_bytes ||
	    (h->data_bytes & (h->data_bytes - 1)) || h->data_bytes > (1ull << 32) ||
	    h->ring_off < sizeof(*h) || h->ring_off % CAP_ALIGN ||
	    h->ring_stride < sizeof(struct cap_ring) + h->data_bytes || h->ring_stride % CAP_ALIGN ||
	    h->snaplen < 14 || h->snaplen > h->data_bytes / 2)
		return false;
	/* (no product or sum that could wrap) */
	if (h->ring_off > len)
		return false;
	end = len - h->ring_off;
	return h->ring_stride <= end / h->nrings;
}

/* The next record of ring cursor c below its head, or NULL; sets x->bad
 * on a record that does not hold. */
static const struct cap_rec *next_rec(struct cap_reader *x, struct rcur *c)
{
	while (c->pos < c->head) {
		uint64_t off = c->pos & (x->size - 1), left = x->size - off;
		const struct cap_rec *rec = (const struct cap_rec *)(c->data + off);

		if (left < sizeof(struct cap_rec) || rec->rec_len == 0) {
			c->pos += left; /* wrap */
			continue;
		}
		if (rec->rec_len > left || rec->rec_len % CAP_ALIGN || rec->caplen > x->snaplen ||
		    cap_rec_bytes(rec->caplen) != rec->rec_len || rec->rec_len > c->head - c->pos ||
		    rec->caplen > rec->len) {
			x->bad = true;
			return NULL;
		}
		return rec;
	}
	return NULL;
}

/* Writes what the rings hold now, oldest first across rings. */
static void drain(struct cap_reader *x)
{
	for (unsigned i = 0; i < x->n; i++) {
		struct rcur *c = &x->cur[i];

		c->head = atomic_load_explicit(&c->r->head, memory_order_acquire);
		if (c->head < c->pos || c->head - c->pos > x->size) {
			x->bad = true;
			return;
		}
		c->rec = next_rec(x, c);
	}
	while (!x->bad && (!x->count || x->written < x->count)) {
		struct rcur *best = NULL;
		struct pcap_pkthdr ph;
		uint64_t ts;

		for (unsigned i = 0; i < x->n; i++)
			if (x->cur[i].rec && (!best || x->cur[i].rec->ts_ns < best->rec->ts_ns))
				best = &x->cur[i];
		if (!best)
			break;
		ts = best->rec->ts_ns + (uint64_t)x->h->realtime_off_ns;
		ph.ts.tv_sec = (time_t)(ts / 1000000000ull);
		ph.ts.tv_usec = (suseconds_t)(ts % 1000000000ull); /* nanoseconds: see pcap_open */
		ph.caplen = best->rec->caplen;
		ph.len = best->rec->len;
		pcap_dump((u_char *)x->dump, &ph, (const u_char *)(best->rec + 1));
		x->written++;
		best->pos += best->rec->rec_len;
		best->rec = next_rec(x, best);
	}
	for (unsigned i = 0; i < x->n; i++)
		atomic_store_explicit(&x->cur[i].r->tail, x->cur[i].pos, memory_order_release);
}

static uint64_t total(const struct cap_reader *x, bool drops)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < x->n; i++)
		n += atomic_load_explicit(drops ? &x->cur[i].r->drops : &x->cur[i].r->frames,
		                          memory_order_relaxed);
	return n;
}

/* Waits up to ms for vifd to close the connection: true if it did. */
static bool vifd_gone(struct cli_conn *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char b[256];

	if (poll(&p, 1, ms) <= 0)
		return false;
	return recv(c->fd, b, sizeof(b), MSG_DONTWAIT) == 0 || (p.revents & (POLLHUP | POLLERR));
}

static int run(struct cli_conn *c, const struct cli_capture_opts *o, struct cap_reader *x,
               const char **why)
{
	uint64_t deadline = o->timeout_s > 0 ? clk_now_ns() + (uint64_t)(o->timeout_s * 1e9) : 0;

	*why = "stopped";
	for (;;) {
		drain(x);
		if (x->bad) {
			*why = "bad record in the capture memory";
			return CLI_EVIFD;
		}
		if (x->count && x->written >= x->count) {
			*why = "count reached";
			break;
		}
		if (atomic_load_explicit(&x->h->state, memory_order_acquire) == CAP_STATE_ENDED) {
			drain(x);
			*why = "the port was removed";
			break;
		}
		if (stop)
			break;
		if (deadline && clk_now_ns() >= deadline) {
			*why = "timeout";
			break;
		}
		if (pcap_dump_flush(x->dump) < 0) {
			*why = "cannot write the file";
			return CLI_EVIFD;
		}
		if (vifd_gone(c, DRAIN_MS)) {
			drain(x);
			*why = "vifd closed the connection";
			break;
		}
	}
	(void)o;
	return CLI_OK;
}

int cli_capture(struct cli_conn *c, const struct cli_capture_opts *o)
{
	json_t *params = json_pack("{s:s, s:s}", "port", o->port, "dir", o->dir), *res;
	struct cap_reader *x;
	struct sigaction sa = { .sa_handler = on_signal };
	struct stat st;
	pcap_t *pd;
	void *map;
	const char *why;
	int r;

	if (!params)
		cli_oom();
	if (o->snaplen)
		json_object_set_new(params, "snaplen", json_integer(o->snaplen));
	if (o->ring_kib)
		json_object_set_new(params, "ring_kib", json_integer(o->ring_kib));
	r = cli_call(c, "capture", params, &res);
	if (r != CLI_OK)
		return r;
	json_decref(res);
	if (c->rx_fd < 0 || fstat(c->rx_fd, &st) < 0 || st.st_size <= 0) {
		fprintf(stderr, "vifctl: vifd sent no capture memory\n");
		return CLI_EVIFD;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->rx_fd, 0);
	if (map == MAP_FAILED || !geometry_ok(map, (size_t)st.st_size)) {
		fprintf(stderr, "vifctl: the capture memory from vifd does not hold\n");
		return CLI_EVIFD;
	}
	x = xcalloc(1, sizeof(*x));
	if (!x)
		cli_oom();
	x->h = map;
	x->map_len = (size_t)st.st_size;
	x->n = x->h->nrings;
	x->size = x->h->data_bytes;
	x->snaplen = x->h->snaplen;
	x->count = o->count;
	for (unsigned i = 0; i < x->n; i++) {
		x->cur[i].r = (struct cap_ring *)((uint8_t *)map + x->h->ring_off + i * x->h->ring_stride);
		x->cur[i].data = (const uint8_t *)(x->cur[i].r + 1);
		x->cur[i].pos = atomic_load_explicit(&x->cur[i].r->tail, memory_order_relaxed);
	}
	/* Nanosecond timestamps: the pcap magic says so (tcpdump, Wireshark
	 * and libpcap since 1.5 read it). */
	pd = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, (int)x->snaplen,
	                                          PCAP_TSTAMP_PRECISION_NANO);
	if (!pd)
		cli_oom();
	x->dump = strcmp(o->file, "-") ? pcap_dump_open(pd, o->file) : pcap_dump_fopen(pd, stdout);
	if (!x->dump) {
		fprintf(stderr, "vifctl: %s: %s\n", o->file, pcap_geterr(pd));
		pcap_close(pd);
		munmap(map, x->map_len);
		xfree(x);
		return CLI_EVIFD;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "vifctl: capturing %s (%s) to %s; Ctrl-C to stop\n", o->port, o->dir,
	        o->file);
	r = run(c, o, x, &why);
	if (r == CLI_OK && pcap_dump_flush(x->dump) < 0) {
		why = "cannot write the file";
		r = CLI_EVIFD;
	}
	fprintf(stderr, "vifctl: %s: %ld frames written, %llu not captured (ring full)\n", why,
	        x->written, (unsigned long long)total(x, true));
	pcap_dump_close(x->dump);
	pcap_close(pd);
	munmap(map, x->map_len);
	xfree(x);
	return r;
}

void cli_print_captures(json_t *res)
{
	static const char *const hdr[] = { "ID", "PORT", "DIR", "SNAPLEN", "FRAMES", "DROPS" };
	struct cli_table *t = cli_table_new(6, hdr, "rllrrr");
	json_t *v;
	size_t i;

	if (!t)
		cli_oom();
	json_array_foreach(json_object_get(res, "captures"), i, v) {
		char id[24], sl[24], fr[24], dr[24];
		const char *cells[6] = { id, json_string_value(json_object_get(v, "port")),
		                         json_string_value(json_object_get(v, "dir")), sl, fr, dr };

		snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(v, "id")));
		snprintf(sl, sizeof(sl), "%lld",
		         (long long)json_integer_value(json_object_get(v, "snaplen")));
		snprintf(fr, sizeof(fr), "%lld",
		         (long long)json_integer_value(json_object_get(v, "frames")));
		snprintf(dr, sizeof(dr), "%lld",
		         (long long)json_integer_value(json_object_get(v, "drops")));
		cli_table_row(t, cells);
	}
	cli_table_print(t, stdout, "", "\n");
}
