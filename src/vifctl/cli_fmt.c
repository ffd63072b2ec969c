/* cli_fmt.c - vifctl's human output: aligned tables for show, stats,
 * workers and fdb, and the refreshing screen of stats --watch. Replies are
 * read defensively: a member that is missing or of another type (an older
 * or newer vifd) prints as "-", never crashes. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clk.h"
#include "xalloc.h"

enum { CELL = 40 }; /* bytes of a formatted number cell */

struct cli_table {
	unsigned ncols;
	const char *const *hdr;
	const char *align;      /* 'l' or 'r' per column */
	char **cells;           /* nrows * ncols strings, row-major */
	unsigned nrows, cap;    /* rows used, rows allocated */
};

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xcalloc(1, n);

	if (!p)
		cli_oom();
	memcpy(p, s, n);
	return p;
}

struct cli_table *cli_table_new(unsigned ncols, const char *const *hdr, const char *align)
{
	struct cli_table *t = xcalloc(1, sizeof(*t));

	if (!t)
		cli_oom();
	t->ncols = ncols;
	t->hdr = hdr;
	t->align = align;
	return t;
}

void cli_table_row(struct cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		char **p = xcalloc((size_t)cap * t->ncols, sizeof(*p));

		if (!p)
			cli_oom();
		if (t->nrows)
			memcpy(p, t->cells, (size_t)t->nrows * t->ncols * sizeof(*p));
		xfree(t->cells);
		t->cells = p;
		t->cap = cap;
	}
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = dup_str(cells[i] ? cells[i] : "-");
	t->nrows++;
}

static void print_row(const struct cli_table *t, FILE *f, const size_t *w,
                      const char *const *cells, const char *indent, const char *eol)
{
	fputs(indent, f);
	for (unsigned i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		int pad = (int)w[i];

		if (t->align[i] == 'r')
			fprintf(f, "%*s", pad, cells[i]);
		else
			fprintf(f, "%-*s", last ? 0 : pad, cells[i]);
		if (!last)
			fputs("  ", f);
	}
	fputs(eol, f);
}

/* Prints t; after each row, after_row(arg, row) if given (show's detail
 * lines); frees t. */
static void table_print(struct cli_table *t, FILE *f, const char *indent, const char *eol,
                        void (*after_row)(void *arg, unsigned row), void *arg)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));

	if (!w)
		cli_oom();
	for (unsigned i = 0; i < t->ncols; i++)
		w[i] = strlen(t->hdr[i]);
	for (unsigned r = 0; r < t->nrows; r++)
		for (unsigned i = 0; i < t->ncols; i++)
			if (strlen(t->cells[r * t->ncols + i]) > w[i])
				w[i] = strlen(t->cells[r * t->ncols + i]);
	print_row(t, f, w, t->hdr, indent, eol);
	for (unsigned r = 0; r < t->nrows; r++) {
		print_row(t, f, w, (const char *const *)&t->cells[r * t->ncols], indent, eol);
		if (after_row)
			after_row(arg, r);
	}
	for (unsigned i = 0; i < t->nrows * t->ncols; i++)
		xfree(t->cells[i]);
	xfree(t->cells);
	xfree(w);
	xfree(t);
}

void cli_table_print(struct cli_table *t, FILE *f, const char *indent, const char *eol)
{
	table_print(t, f, indent, eol, NULL, NULL);
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool jint(json_t *o, const char *k, long long *v)
{
	json_t *j = json_object_get(o, k);

	if (!json_is_integer(j))
		return false;
	*v = json_integer_value(j);
	return true;
}

/* The integer member k of o as text in buf, or NULL ("-"). */
static const char *num(char *buf, json_t *o, const char *k)
{
	long long v;

	if (!jint(o, k, &v))
		return NULL;
	snprintf(buf, CELL, "%lld", v);
	return buf;
}

/* A rate with an SI suffix, 3 significant digits. */
static const char *si(char *buf, double v)
{
	if (v < 1e3)
		snprintf(buf, CELL, "%.0f", v);
	else if (v < 1e6)
		snprintf(buf, CELL, "%.3gk", v / 1e3);
	else if (v < 1e9)
		snprintf(buf, CELL, "%.3gM", v / 1e6);
	else
		snprintf(buf, CELL, "%.3gG", v / 1e9);
	return buf;
}

static const char *port_state(json_t *p)
{
	if (json_is_true(json_object_get(p, "broken")))
		return "broken";
	if ((jstr(p, "ifname") && *jstr(p, "ifname")) || json_object_get(p, "vxlan"))
		return "attached"; /* a kernel port */
	if (json_is_true(json_object_get(p, "connected")))
		return "connected";
	if (!json_is_boolean(json_object_get(p, "connected")))
		return NULL;
	/* Not connected: a server port waits for its guest, a client port
	 * keeps retrying the guest's socket. */
	if (jstr(p, "mode") && !strcmp(jstr(p, "mode"), "client"))
		return "connecting";
	return "listening";
}

/* A line of KEY=VALUE words wrapped at a width: show's detail lines. */
struct words {
	size_t width;         /* columns */
	size_t col;           /* columns used on the current line */
	const char *indent;
};

static void word(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void word(struct words *w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (w->col > strlen(w->indent) && w->col + 1 + n > w->width) {
		fputc('\n', stdout);
		w->col = 0;
	}
	if (!w->col) {
		fputs(w->indent, stdout);
		w->col = strlen(w->indent);
	} else {
		fputc(' ', stdout);
		w->col++;
	}
	fputs(buf, stdout);
	w->col += n;
}

/* Columns to fit show into: $COLUMNS when it is set (as shells export it
 * for a terminal), else 100. */
static size_t show_width(void)
{
	const char *c = getenv("COLUMNS");
	long n = c ? strtol(c, NULL, 10) : 0;

	return n >= 40 && n <= 1000 ? (size_t)n : 100;
}

/* A rate in bits/s as tc writes it: 100mbit, 1.5gbit, 64kbit, 900bit. */
static const char *tc_rate(char *buf, long long v)
{
	if (v >= 1000000000)
		snprintf(buf, CELL, "%.4ggbit", (double)v / 1e9);
	else if (v >= 1000000)
		snprintf(buf, CELL, "%.4gmbit", (double)v / 1e6);
	else if (v >= 1000)
		snprintf(buf, CELL, "%.4gkbit", (double)v / 1e3);
	else
		snprintf(buf, CELL, "%lldbit", v);
	return buf;
}

/* A port's policy as the set-port keys that differ from the defaults. */
static void policy_words(struct words *w, json_t *pol)
{
	static const char *const dirs[2] = { "ingress", "egress" };
	const char *s;
	long long v;
	char x[CELL];

	if (!json_is_object(pol))
		return;
	if (jint(pol, "tag", &v) && v) {
		word(w, "tag=%lld", v);
	} else {
		s = jstr(pol, "trunks");
		word(w, "trunks=%s", s && *s ? s : "all");
		if (jint(pol, "native", &v) && v)
			word(w, "native=%lld", v);
	}
	if (json_is_true(json_object_get(pol, "isolated")))
		word(w, "isolated=true");
	if ((s = jstr(pol, "mac")) && strcmp(s, "none"))
		word(w, "mac=%s", s);
	if ((s = jstr(pol, "ip")) && *s)
		word(w, "ip=%s", s);
	if (jint(pol, "mac_limit", &v) && v && v != 64)
		word(w, "mac-limit=%lld", v);
	for (int d = 0; d < 2; d++) {
		json_t *l = json_object_get(pol, dirs[d]);

		if (jint(l, "rate", &v)) {
			word(w, "%s-rate=%s", dirs[d], tc_rate(x, v));
			if (jint(l, "burst", &v))
				word(w, "%s-burst=%lld", dirs[d], v);
		}
		if (jint(l, "pps", &v)) {
			word(w, "%s-pps=%lld", dirs[d], v);
			if (jint(l, "pps_burst", &v))
				word(w, "%s-pps-burst=%lld", dirs[d], v);
		}
	}
	if (jint(pol, "overhead", &v) && v)
		word(w, "overhead=%lld", v);
	if (jint(pol, "weight", &v) && v != 1)
		word(w, "weight=%lld", v);
	const char *ws = jstr(pol, "worker"), *gs = jstr(pol, "worker_group"), *ar = jstr(pol, "adaptive_rx");
	if (ws && strcmp(ws, "auto"))
		word(w, "worker=%s", ws);
	if (gs && strcmp(gs, "none"))
		word(w, "worker-group=%s", gs);
	if (jint(pol, "rx_frames", &v) && v)
		word(w, "rx-frames=%lld", v);
	if (jint(pol, "rx_usecs", &v) && v)
		word(w, "rx-usecs=%lld", v);
	if (ar && !strcmp(ar, "on"))
		word(w, "adaptive-rx=on");
}

/* Offload names ("csum,tso4,tso6"), or "none". */
static const char *offloads(char *buf, size_t len, json_t *names)
{
	size_t n = 0, i;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(names, i, v)
		if (json_is_string(v) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
			                      json_string_value(v));
	return n ? buf : "none";
}

/* The detail lines of show's port row: its settings as KEY=VALUE words
 * wrapped at show_width(): where it is (path= and mode=, or ifname= and
 * netns=, or dev=), its policy, its offloads. */
static void port_detail(void *arg, unsigned row)
{
	json_t *p = json_array_get(arg, row);
	struct words w = { .width = show_width(), .indent = "      " };
	const char *ifn = jstr(p, "ifname"), *ns = jstr(p, "netns"), *type = jstr(p, "type");
	char ol[96];

	json_t *vx = json_object_get(p, "vxlan");

	if (vx) {
		if (json_object_get(vx, "vni"))
			word(&w, "vni=%lld", (long long)json_integer_value(json_object_get(vx, "vni")));
		if (jstr(vx, "vni_map") && *jstr(vx, "vni_map"))
			word(&w, "vni-map=%s", jstr(vx, "vni_map"));
		word(&w, "local=%s", jstr(vx, "local") ? jstr(vx, "local") : "-");
		word(&w, "dstport=%lld", (long long)json_integer_value(json_object_get(vx, "dstport")));
		word(&w, "remotes=%lld", (long long)json_integer_value(json_object_get(vx, "remotes")));
		word(&w, "flood=%lld", (long long)json_integer_value(json_object_get(vx, "flood")));
		if (ns && *ns)
			word(&w, "netns=%s", ns);
	} else if (ifn && *ifn) {
		word(&w, "%s=%s", type && strcmp(type, "tap") ? "dev" : "ifname", ifn);
		if (ns && *ns)
			word(&w, "netns=%s", ns);
	} else {
		word(&w, "path=%s", jstr(p, "path") ? jstr(p, "path") : "-");
		word(&w, "mode=%s", jstr(p, "mode") ? jstr(p, "mode") : "-");
	}
	policy_words(&w, json_object_get(p, "policy"));
	word(&w, "rx-offloads=%s", offloads(ol, sizeof(ol), json_object_get(p, "offloads_rx")));
	word(&w, "tx-offloads=%s", offloads(ol, sizeof(ol), json_object_get(p, "offloads_tx")));
	fputc('\n', stdout);
}

/* Per bridge, one table row per port (name, type, state, queues, live
 * rings, MTU), each followed by its detail lines. */
void cli_print_show(json_t *res)
{
	static const char *const hdr[] = { "PORT", "TYPE", "STATE", "QUEUES", "LIVE-RX/TX", "MTU" };
	json_t *bridges = json_object_get(res, "bridges"), *br;
	size_t i;

	json_array_foreach(bridges, i, br) {
		json_t *ports = json_object_get(br, "ports"), *p;
		const char *uu = jstr(br, "unknown_unicast");
		struct cli_table *t;
		long long age;
		size_t j;

		printf("%sbridge %s", i ? "\n" : "", jstr(br, "name") ? jstr(br, "name") : "-");
		if (uu)
			printf(" unknown-unicast=%s", uu);
		if (jint(br, "mac_aging", &age))
			printf(" mac-aging=%lld", age);
		if (jstr(br, "placement"))
			printf(" placement=%s", jstr(br, "placement"));
		if (jstr(br, "rebalance") && !strcmp(jstr(br, "rebalance"), "on"))
			printf(" rebalance=on");
		if (jint(br, "busy_poll", &age) && age > 0)
			printf(" busy-poll=%lld", age);
		fputc('\n', stdout);
		if (!json_array_size(ports)) {
			printf("  (no ports)\n");
			continue;
		}
		t = cli_table_new(6, hdr, "lllrrr");
		json_array_foreach(ports, j, p) {
			char q[CELL], live[CELL], mtu[CELL];
			long long rx, tx, m;
			const char *cells[6] = { jstr(p, "name"), jstr(p, "type"), port_state(p),
			                         num(q, p, "queue_pairs"), NULL, NULL };

			if (jint(p, "live_rx", &rx) && jint(p, "live_tx", &tx)) {
				snprintf(live, sizeof(live), "%lld/%lld", rx, tx);
				cells[4] = live;
			}
			if (jint(p, "mtu", &m) && m > 0) {
				snprintf(mtu, sizeof(mtu), "%lld", m);
				cells[5] = mtu;
			}
			cli_table_row(t, cells);
		}
		table_print(t, stdout, "  ", "\n", port_detail, ports);
	}
}

static long long drops_sum(json_t *port);

/* Non-zero drop reasons as "no_room=12 spoof=3" (every reason vifd
 * reports, so new ones show up without a vifctl change), or "-". */
static const char *drop_reasons(char *buf, size_t len, json_t *drops, json_t *port)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	buf[0] = '\0';
	json_object_foreach(drops, k, v)
		if (json_integer_value(v) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s=%lld", n ? " " : "", k,
			                      (long long)json_integer_value(v));
	v = json_object_get(port, "ring_errors");
	if (json_integer_value(v) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%sring_errors=%lld", n ? " " : "",
		                      (long long)json_integer_value(v));
	return n ? buf : "-";
}

void cli_print_stats(json_t *res)
{
	static const char *const hdr[] = { "PORT", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES",
	                                   "DROPS", "DROPPED BY REASON" };
	struct cli_table *t = cli_table_new(7, hdr, "lrrrrrl");
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(res, "ports"), i, p) {
		char b[5][CELL], why[256];
		json_t *d = json_object_get(p, "drops");
		const char *cells[7] = {
			jstr(p, "name"), num(b[0], p, "rx_pkts"), num(b[1], p, "rx_bytes"),
			num(b[2], p, "tx_pkts"), num(b[3], p, "tx_bytes"), NULL,
			drop_reasons(why, sizeof(why), d, p),
		};
		snprintf(b[4], sizeof(b[4]), "%lld", drops_sum(p));
		cells[5] = b[4];
		cli_table_row(t, cells);
	}
	cli_table_print(t, stdout, "", "\n");
}

void cli_print_workers(json_t *res)
{
	static const char *const hdr[] = { "ID", "CPU", "QUEUES", "PKTS", "BUSY%", "LOAD%",
	                                   "CYCLES/PKT", "PKTS/ITER", "SLEEPS", "BUSY-CYCLES",
	                                   "IDLE-CYCLES" };
	struct cli_table *t = cli_table_new(11, hdr, "rrrrrrrrrrr");
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(res, "workers"), i, w) {
		char b[11][CELL];
		long long cpu, busy, idle;
		double ppi;
		const char *cells[11] = {
			num(b[0], w, "id"), NULL, num(b[2], w, "queues"), num(b[3], w, "pkts"), NULL,
			NULL, num(b[6], w, "cycles_per_pkt"), NULL, num(b[8], w, "sleeps"),
			num(b[9], w, "busy_cycles"), num(b[10], w, "idle_cycles"),
		};

		if (jint(w, "cpu", &cpu) && cpu >= 0) {
			snprintf(b[1], CELL, "%lld", cpu);
			cells[1] = b[1];
		}
		if (jint(w, "busy_cycles", &busy) && jint(w, "idle_cycles", &idle) && busy + idle > 0) {
			snprintf(b[4], CELL, "%.1f", 100.0 * (double)busy / (double)(busy + idle));
			cells[4] = b[4];
		}
		if (json_is_number(json_object_get(w, "load"))) {
			snprintf(b[5], CELL, "%.1f", 100.0 * json_number_value(json_object_get(w, "load")));
			cells[5] = b[5];
		}
		if (json_is_number(json_object_get(w, "pkts_per_iter"))) {
			ppi = json_number_value(json_object_get(w, "pkts_per_iter"));
			snprintf(b[7], CELL, "%.1f", ppi);
			cells[7] = b[7];
		}
		cli_table_row(t, cells);
	}
	cli_table_print(t, stdout, "", "\n");
	/* What reconfiguration and guests cost the daemon (newer vifd only). */
	long long pubs, mapped, mmax, pmax, closed, stuck, now, queued, leaked;
	json_t *gm = json_object_get(res, "guest_memory"), *cl = json_object_get(res, "closer");
	if (jint(res, "publishes", &pubs))
		printf("datapath snapshots published: %lld\n", pubs);
	if (jint(gm, "mapped", &mapped) && jint(gm, "max", &mmax) && jint(gm, "port_max", &pmax))
		printf("guest memory mapped: %lld MiB (limits: %lld MiB in all, %lld MiB per port; "
		       "0: none)\n", mapped >> 20, mmax >> 20, pmax >> 20);
	long long mq, mr, sl, sm;
	json_t *mv = json_object_get(res, "moves");
	if (jint(mv, "queues", &mq) && jint(mv, "by_rebalance", &mr) &&
	    jint(mv, "stall_last_ns", &sl) && jint(mv, "stall_max_ns", &sm))
		printf("queue moves: %lld (%lld by the rebalancer), stall last %.1f ms, max %.1f ms\n",
		       mq, mr, (double)sl / 1e6, (double)sm / 1e6);
	if (jint(cl, "closed", &closed) && jint(cl, "stuck", &stuck) && jint(cl, "stuck_now", &now) &&
	    jint(cl, "queued", &queued) && jint(cl, "leaked", &leaked))
		printf("guests' fds: %lld closed, %lld waiting, %lld closes stuck (%lld still), "
		       "%lld left open\n", closed, queued, stuck, now, leaked);
}

void cli_print_queues(json_t *res)
{
	static const char *const hdr[] = { "PORT", "QUEUE", "WORKER", "PINNED", "PKTS",
	                                   "CYCLES/PKT", "LOAD%", "CYCLES" };
	struct cli_table *t = cli_table_new(8, hdr, "lrrlrrrr");
	json_t *q;
	size_t i;

	printf("placement: %s\n", jstr(res, "placement"));
	json_array_foreach(json_object_get(res, "queues"), i, q) {
		char b[8][CELL];
		long long wk;
		const char *cells[8] = { jstr(q, "port"), num(b[1], q, "queue"), "-",
		                         json_is_true(json_object_get(q, "pinned")) ? "yes" : "no",
		                         num(b[4], q, "pkts"), num(b[5], q, "cycles_per_pkt"), NULL,
		                         num(b[7], q, "cycles") };

		if (jint(q, "worker", &wk) && wk >= 0)
			cells[2] = num(b[2], q, "worker");
		snprintf(b[6], CELL, "%.1f", 100.0 * json_number_value(json_object_get(q, "load")));
		cells[6] = b[6];
		cli_table_row(t, cells);
	}
	cli_table_print(t, stdout, "", "\n");
}

void cli_print_fdb(json_t *res)
{
	static const char *const hdr[] = { "VLAN", "MAC", "PORT", "REMOTE", "TYPE", "AGE(S)" };
	struct cli_table *t = cli_table_new(6, hdr, "rlllll");
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(res, "entries"), i, e) {
		char age[CELL], vlan[CELL];
		bool st = json_is_true(json_object_get(e, "static"));
		const char *rem = jstr(e, "remote");
		const char *cells[6] = { num(vlan, e, "vlan"), jstr(e, "mac"), jstr(e, "port"),
		                         rem ? rem : "-",
		                         jstr(e, "origin") ? jstr(e, "origin") : st ? "static" : "learned",
		                         st ? "-" : num(age, e, "age") };

		cli_table_row(t, cells);
	}
	cli_table_print(t, stdout, "", "\n");
}

static volatile sig_atomic_t stop_watch;

static void on_stop(int sig)
{
	(void)sig;
	stop_watch = 1;
}

static long long drops_sum(json_t *port)
{
	const char *k;
	json_t *v;
	long long s = 0;

	json_object_foreach(json_object_get(port, "drops"), k, v)
		if (json_is_integer(v))
			s += json_integer_value(v);
	return s;
}

static json_t *find_port(json_t *res, const char *name)
{
	json_t *p;
	size_t i;

	if (!name)
		return NULL;
	json_array_foreach(json_object_get(res, "ports"), i, p)
		if (jstr(p, "name") && !strcmp(jstr(p, "name"), name))
			return p;
	return NULL;
}

/* Per-second rate of counter k between two samples, or NULL when there is
 * no earlier sample or the counter went back (port re-created). */
static const char *rate(char *buf, long long cur, long long old, bool have_old, double dt,
                        double scale)
{
	if (!have_old || cur < old || dt <= 0)
		return NULL;
	return si(buf, (double)(cur - old) * scale / dt);
}

static void render(json_t *res, json_t *prev, double dt, double interval_s, const char *path,
                   bool tty, bool first)
{
	static const char *const hdr[] = { "PORT", "RX-PPS", "RX-BPS", "TX-PPS", "TX-BPS",
	                                   "DROPS/S", "RX-PKTS", "TX-PKTS", "DROPS", "RING-ERRORS" };
	const char *eol = tty ? "\033[K\n" : "\n";
	struct cli_table *t = cli_table_new(10, hdr, "lrrrrrrrrr");
	char when[16];
	time_t now = time(NULL);
	struct tm tm;
	json_t *p;
	size_t i;

	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	json_array_foreach(json_object_get(res, "ports"), i, p) {
		json_t *o = find_port(prev, jstr(p, "name"));
		long long c[5] = { 0 }, old[5] = { 0 };
		bool ok = jint(p, "rx_pkts", &c[0]) && jint(p, "rx_bytes", &c[1]) &&
		          jint(p, "tx_pkts", &c[2]) && jint(p, "tx_bytes", &c[3]);
		bool have = ok && o && jint(o, "rx_pkts", &old[0]) && jint(o, "rx_bytes", &old[1]) &&
		            jint(o, "tx_pkts", &old[2]) && jint(o, "tx_bytes", &old[3]);
		char b[10][CELL];
		const char *cells[10];

		c[4] = drops_sum(p);
		old[4] = o ? drops_sum(o) : 0;
		cells[0] = jstr(p, "name");
		cells[1] = rate(b[1], c[0], old[0], have, dt, 1);
		cells[2] = rate(b[2], c[1], old[1], have, dt, 8);
		cells[3] = rate(b[3], c[2], old[2], have, dt, 1);
		cells[4] = rate(b[4], c[3], old[3], have, dt, 8);
		cells[5] = rate(b[5], c[4], old[4], have, dt, 1);
		cells[6] = num(b[6], p, "rx_pkts");
		cells[7] = num(b[7], p, "tx_pkts");
		snprintf(b[8], CELL, "%lld", c[4]);
		cells[8] = b[8];
		cells[9] = num(b[9], p, "ring_errors");
		cli_table_row(t, cells);
	}
	if (tty)
		fputs(first ? "\033[H\033[2J" : "\033[H", stdout);
	else if (!first)
		fputs("\n", stdout);
	printf("vifd stats at %s, every %gs (Ctrl-C to stop)   %s%s", path, interval_s, when, eol);
	cli_table_print(t, stdout, "", eol);
	if (tty)
		fputs("\033[J", stdout); /* clear what a longer earlier frame left */
}

/* Sleeps s seconds unless a stop signal comes first. */
static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (!stop_watch && nanosleep(&ts, &ts) < 0)
		;
}

int cli_watch_stats(struct cli_conn *c, const char *name, double interval_s, bool json)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: wake nanosleep */
	bool tty = !json && isatty(STDOUT_FILENO);
	json_t *prev = NULL;
	uint64_t prev_ns = 0;
	int r = CLI_OK;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (bool first = true; !stop_watch; first = false) {
		json_t *res, *params = NULL;
		uint64_t now;

		if (name && !(params = json_pack("{s:s}", "name", name)))
			cli_oom();
		r = cli_call(c, "stats", params, &res);
		if (r != CLI_OK)
			break;
		/* vifd's time of the counters when it gives one (the rates
		 * then do not include how long the replies took). */
		now = json_integer_value(json_object_get(res, "time_ns")) > 0
		              ? (uint64_t)json_integer_value(json_object_get(res, "time_ns"))
		              : clk_now_ns();
		if (json) {
			json_dumpf(res, stdout, JSON_COMPACT);
			fputc('\n', stdout);
		} else {
			render(res, prev, (double)(now - prev_ns) / 1e9, interval_s, c->path, tty, first);
		}
		fflush(stdout);
		json_decref(prev);
		prev = res;
		prev_ns = now;
		nap(interval_s);
	}
	json_decref(prev);
	return stop_watch ? CLI_OK : r;
}

void cli_print_trace(json_t *res)
{
	static const char *const hdr[] = { "#", "STAGE", "PORT", "RESULT", "DETAIL" };
	struct cli_table *t = cli_table_new(5, hdr, "rllll");
	json_t *steps = json_object_get(res, "steps"), *outs = json_object_get(res, "outputs"), *v;
	const char *drop = json_string_value(json_object_get(res, "drop"));
	size_t i;

	if (!t)
		cli_oom();
	json_array_foreach(steps, i, v) {
		char num[24];
		const char *cells[5] = { num, json_string_value(json_object_get(v, "stage")),
		                         json_string_value(json_object_get(v, "port")),
		                         json_string_value(json_object_get(v, "result")),
		                         json_string_value(json_object_get(v, "detail")) };

		snprintf(num, sizeof(num), "%zu", i + 1);
		cli_table_row(t, cells);
	}
	cli_table_print(t, stdout, "", "\n");
	if (!json_array_size(outs)) {
		printf("verdict: drop (%s)\n", drop ? drop : "-");
		return;
	}
	printf("verdict: output to");
	json_array_foreach(outs, i, v) {
		json_t *tag = json_object_get(v, "tag");
		const char *port = json_string_value(json_object_get(v, "port"));

		if (json_is_integer(tag))
			printf("%s %s (tag %lld)", i ? "," : "", port ? port : "-",
			       (long long)json_integer_value(tag));
		else
			printf("%s %s (untagged)", i ? "," : "", port ? port : "-");
	}
	printf("\n");
}
