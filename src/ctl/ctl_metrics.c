/* ctl_metrics.c - the Prometheus exporter; see ctl_metrics.h.
 *
 * Security model: the listener is bound to a local address (127.0.0.1 by
 * default) and serves read-only counters; anyone who can connect may read
 * them. The request bytes may be anything: only the request line is
 * looked at, the headers are skipped, and a request that does not end
 * within CTL_METRICS_REQ_MAX bytes or CTL_METRICS_HEAD_MS is answered
 * with an error or dropped. One response per connection (Connection:
 * close), as Prometheus expects nothing more. Connections cannot be
 * hoarded: a new one evicts the oldest idle one when all slots are taken
 * (see ctl_metrics.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_metrics.h"
#include "ctl_stats.h"
#include "vlog.h"
#include "xalloc.h"

struct mconn {
	struct ctl_metrics *m;
	int fd;
	unsigned slot;
	char req[CTL_METRICS_REQ_MAX];
	size_t len;             /* request bytes read */
	struct ctl_buf out;     /* response not yet sent */
	bool responding;        /* the request is answered; only writing is left */
	struct ev_timer *timer; /* closes the connection at the deadline */
	uint64_t seq;           /* accept order: the smallest is the oldest */
};

struct ctl_metrics {
	struct evloop *ev;
	struct dp *dp;
	int lfd;
	struct mconn *c[CTL_METRICS_MAX_CONNS];
	uint64_t seq;           /* connections accepted */
	uint64_t evicted;       /* connections closed to make room */
};

/* ---- exposition ---- */

struct out {
	struct ctl_buf *b;
	int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		o->err = -ENOBUFS;
	else
		o->err = ctl_buf_append(o->b, line, (size_t)n);
}

/* A label value with \, " and newline escaped (text format 0.0.4). Port
 * names are restricted to safe characters, but the exporter does not
 * depend on that. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[n++] = '\\';
			buf[n++] = *s;
		} else if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct port_snap {
	struct dp_port_info info;
	struct dp_port_stats st;
};

/* Per-worker figures: name, help, and how to read them. */
static const struct {
	const char *name;
	const char *type;
	const char *help;
	size_t off;             /* uint64_t in struct dp_worker_stats */
} worker_fields[] = {
	{ "vifd_worker_busy_cycles_total", "counter",
	  "TSC cycles of worker loop iterations that moved frames.",
	  offsetof(struct dp_worker_stats, busy_cycles) },
	{ "vifd_worker_idle_cycles_total", "counter",
	  "TSC cycles of worker loop iterations that moved none.",
	  offsetof(struct dp_worker_stats, idle_cycles) },
	{ "vifd_worker_packets_total", "counter", "Frames the worker received from ports.",
	  offsetof(struct dp_worker_stats, pkts) },
	{ "vifd_worker_busy_iterations_total", "counter",
	  "Worker loop iterations that moved frames (packets / these: the average batch).",
	  offsetof(struct dp_worker_stats, busy_iters) },
	{ "vifd_worker_sleeps_total", "counter", "Times the worker slept on eventfds.",
	  offsetof(struct dp_worker_stats, sleeps) },
	{ "vifd_worker_answers_caught_total", "counter",
	  "Gaps the worker polled through for an expected answer that came (a wake-up saved).",
	  offsetof(struct dp_worker_stats, answers_caught) },
	{ "vifd_worker_answers_missed_total", "counter",
	  "Gaps the worker polled for an expected answer and then slept.",
	  offsetof(struct dp_worker_stats, answers_missed) },
};

/* Per receive queue: its worker, frames and cycles (dp_queue_get), read
 * once so every family shows the same queues. */
static void render_queues(struct out *o, struct dp *dp)
{
	enum { MAXQ = DP_MAX_PORTS * PORT_MAX_QUEUES };
	struct dp_queue_stats *qs = xcalloc(MAXQ, sizeof(*qs));
	char lbl[DP_PORT_NAME_MAX * 2 + 1];
	unsigned n = 0;

	if (!qs) {
		o->err = -ENOMEM;
		return;
	}
	while (n < MAXQ && dp_queue_get(dp, n, &qs[n]) == 0)
		n++;
	family(o, "vifd_rxq_worker", "gauge",
	       "The worker polling the receive queue (-1: none now).");
	for (unsigned i = 0; i < n; i++)
		put(o, "vifd_rxq_worker{port=\"%s\",queue=\"%u\"} %d\n",
		    esc(qs[i].port, lbl, sizeof(lbl)), qs[i].q, qs[i].worker);
	family(o, "vifd_rxq_packets_total", "counter", "Frames taken from the receive queue.");
	for (unsigned i = 0; i < n; i++)
		put(o, "vifd_rxq_packets_total{port=\"%s\",queue=\"%u\"} %llu\n",
		    esc(qs[i].port, lbl, sizeof(lbl)), qs[i].q, (unsigned long long)qs[i].pkts);
	family(o, "vifd_rxq_cycles_total", "counter",
	       "TSC cycles of the polls of the receive queue that took frames.");
	for (unsigned i = 0; i < n; i++)
		put(o, "vifd_rxq_cycles_total{port=\"%s\",queue=\"%u\"} %llu\n",
		    esc(qs[i].port, lbl, sizeof(lbl)), qs[i].q, (unsigned long long)qs[i].cycles);
	xfree(qs);
}

/* The process_* families every Prometheus client library exports, from
 * /proc/self (Linux's): a figure that cannot be read is left out. */
static void process_metrics(struct out *o)
{
	char buf[1024], *p;
	unsigned long long utime, stime, start, vsize;
	long long rss;
	double btime = 0, tck = (double)sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	struct dirent *d;
	FILE *f;
	DIR *dir;
	int n = 0;

	f = fopen("/proc/stat", "re");
	while (f && fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %lf", &btime) == 1)
			break;
	if (f)
		fclose(f);
	f = fopen("/proc/self/stat", "re");
	p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	if (f)
		fclose(f);
	/* After "(comm)": state ppid ... utime(14) stime(15) ... starttime(22)
	 * vsize(23) rss(24), counted from pid as field 1. */
	if (p && tck > 0 &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	           "%*d %*d %llu %llu %lld", &utime, &stime, &start, &vsize, &rss) == 5) {
		family(o, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		put(o, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / tck);
		if (btime > 0) {
			family(o, "process_start_time_seconds", "gauge",
			       "Start time of the process since unix epoch in seconds.");
			put(o, "process_start_time_seconds %.2f\n", btime + (double)start / tck);
		}
		family(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
		put(o, "process_virtual_memory_bytes %llu\n", vsize);
		family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
		put(o, "process_resident_memory_bytes %lld\n", rss * page);
	}
	dir = opendir("/proc/self/fd");
	if (dir) {
		while ((d = readdir(dir)))
			if (d->d_name[0] != '.')
				n++;
		closedir(dir);
		family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
		put(o, "process_open_fds %d\n", n - 1); /* not the directory's own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		put(o, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
}

int ctl_metrics_render(struct dp *dp, struct ctl_buf *b)
{
	struct out o = { .b = b };
	struct port_snap *ps = xcalloc(DP_MAX_PORTS, sizeof(*ps));
	struct dp_worker_stats ws[DP_MAX_WORKERS];
	unsigned np = 0, nw = dp_nworkers(dp);
	char name[128], lbl[DP_PORT_NAME_MAX * 2 + 1];
	struct dp_global_stats g;

	if (!ps)
		return -ENOMEM;
	/* One snapshot, so every family shows the same ports. */
	while (np < DP_MAX_PORTS && dp_port_get(dp, np, &ps[np].info, &ps[np].st) == 0)
		np++;
	for (unsigned w = 0; w < nw && w < DP_MAX_WORKERS; w++)
		dp_worker_get(dp, w, &ws[w]);

	family(&o, "vifd_build_info", "gauge", "vifd's version.");
	put(&o, "vifd_build_info{version=\"%s\"} 1\n", VIFD_VERSION);
	family(&o, "vifd_ports", "gauge", "Ports on the bridge.");
	put(&o, "vifd_ports{bridge=\"%s\"} %u\n", CTL_BRIDGE, np);
	family(&o, "vifd_port_info", "gauge",
	       "A port's kind, always 1: join on port for type (vhostuser, tap, afpacket, afxdp), "
	       "mode (server, client; kernel ports: kernel) and interface.");
	for (unsigned p = 0; p < np; p++) {
		char ifn[sizeof(ps[p].info.ifname) * 2 + 1];

		put(&o, "vifd_port_info{bridge=\"%s\",port=\"%s\",type=\"%s\",mode=\"%s\","
		    "interface=\"%s\"} 1\n", CTL_BRIDGE, esc(ps[p].info.name, lbl, sizeof(lbl)),
		    ps[p].info.type,
		    ps[p].info.ifname[0] ? "kernel" : ps[p].info.client ? "client" : "server",
		    esc(ps[p].info.ifname, ifn, sizeof(ifn)));
	}
	for (size_t i = 0; i < ctl_stat_nfields; i++) {
		const struct ctl_stat_field *f = &ctl_stat_fields[i];

		if (!f->metric)
			continue;
		snprintf(name, sizeof(name), "vifd_port_%s_total", f->metric);
		family(&o, name, "counter", f->help);
		for (unsigned p = 0; p < np; p++)
			put(&o, "%s{bridge=\"%s\",port=\"%s\"} %llu\n", name, CTL_BRIDGE,
			    esc(ps[p].info.name, lbl, sizeof(lbl)),
			    (unsigned long long)ctl_stat_get(&ps[p].st, f));
	}
	family(&o, "vifd_port_drops_total", "counter",
	       "Frames dropped, by reason (see vifctl help stats and README).");
	for (unsigned p = 0; p < np; p++)
		for (size_t i = 0; i < ctl_stat_nfields; i++)
			if (!ctl_stat_fields[i].metric)
				put(&o, "vifd_port_drops_total{bridge=\"%s\",port=\"%s\",reason=\"%s\"} %llu\n",
				    CTL_BRIDGE, esc(ps[p].info.name, lbl, sizeof(lbl)),
				    ctl_stat_fields[i].name,
				    (unsigned long long)ctl_stat_get(&ps[p].st, &ctl_stat_fields[i]));
	family(&o, "vifd_port_connected", "gauge", "1 while a frontend is connected to the port.");
	for (unsigned p = 0; p < np; p++)
		put(&o, "vifd_port_connected{bridge=\"%s\",port=\"%s\"} %d\n", CTL_BRIDGE,
		    esc(ps[p].info.name, lbl, sizeof(lbl)), ps[p].info.connected ? 1 : 0);
	family(&o, "vifd_port_broken", "gauge", "1 while the port is stopped for a guest fault.");
	for (unsigned p = 0; p < np; p++)
		put(&o, "vifd_port_broken{bridge=\"%s\",port=\"%s\"} %d\n", CTL_BRIDGE,
		    esc(ps[p].info.name, lbl, sizeof(lbl)), ps[p].info.broken ? 1 : 0);
	for (size_t i = 0; i < sizeof(worker_fields) / sizeof(worker_fields[0]); i++) {
		family(&o, worker_fields[i].name, worker_fields[i].type, worker_fields[i].help);
		for (unsigned w = 0; w < nw && w < DP_MAX_WORKERS; w++)
			put(&o, "%s{worker=\"%u\"} %llu\n", worker_fields[i].name, w,
			    (unsigned long long)*(const uint64_t *)(const void *)
			    ((const char *)&ws[w] + worker_fields[i].off));
	}
	family(&o, "vifd_worker_queues", "gauge", "Queues the worker polls.");
	for (unsigned w = 0; w < nw && w < DP_MAX_WORKERS; w++)
		put(&o, "vifd_worker_queues{worker=\"%u\"} %u\n", w, ws[w].nqueues);
	render_queues(&o, dp);
	family(&o, "vifd_port_guest_memory_bytes", "gauge",
	       "Guest memory mapped for the port (page-rounded).");
	for (unsigned p = 0; p < np; p++)
		put(&o, "vifd_port_guest_memory_bytes{bridge=\"%s\",port=\"%s\"} %llu\n", CTL_BRIDGE,
		    esc(ps[p].info.name, lbl, sizeof(lbl)), (unsigned long long)ps[p].info.mem_bytes);
	dp_global_get(dp, &g);
	family(&o, "vifd_datapath_publishes_total", "counter",
	       "Datapath configuration snapshots published (each wakes and waits for every worker).");
	put(&o, "vifd_datapath_publishes_total %llu\n", (unsigned long long)g.publishes);
	family(&o, "vifd_queue_moves_total", "counter",
	       "Receive queues moved between workers (placement changes, pins, rebalancing).");
	put(&o, "vifd_queue_moves_total %llu\n", (unsigned long long)g.queue_moves);
	family(&o, "vifd_queue_rebalance_moves_total", "counter",
	       "Receive queues the rebalancer moved.");
	put(&o, "vifd_queue_rebalance_moves_total %llu\n", (unsigned long long)g.rebalance_moves);
	family(&o, "vifd_queue_move_stall_max_seconds", "gauge",
	       "Longest time moved queues went unpolled during a move.");
	put(&o, "vifd_queue_move_stall_max_seconds %.6f\n", (double)g.move_stall_max_ns / 1e9);
	family(&o, "vifd_guest_memory_mapped_bytes", "gauge", "Guest memory mapped, all ports.");
	put(&o, "vifd_guest_memory_mapped_bytes %llu\n", (unsigned long long)g.mem_mapped);
	family(&o, "vifd_guest_fds_closed_total", "counter",
	       "Files guests handed over, closed by the closer thread.");
	put(&o, "vifd_guest_fds_closed_total %llu\n", (unsigned long long)g.fds_closed);
	family(&o, "vifd_guest_fd_close_stuck_total", "counter",
	       "Closes of guests' files that got stuck (a closer thread was left to them).");
	put(&o, "vifd_guest_fd_close_stuck_total %llu\n", (unsigned long long)g.close_stuck);
	family(&o, "vifd_guest_fds_queued", "gauge", "Guests' files waiting to be closed.");
	put(&o, "vifd_guest_fds_queued %u\n", g.fds_queued);
	family(&o, "vifd_closer_threads_stuck", "gauge", "Closer threads inside a stuck close.");
	put(&o, "vifd_closer_threads_stuck %u\n", g.closers_stuck);
	process_metrics(&o);
	xfree(ps);
	return o.err;
}

/* ---- HTTP ---- */

static void conn_close(struct mconn *c)
{
	struct ctl_metrics *m = c->m;

	evloop_del(m->ev, c->fd);
	close(c->fd);
	if (c->timer)
		evloop_timer_cancel(m->ev, c->timer);
	ctl_buf_free(&c->out);
	m->c[c->slot] = NULL;
	xfree(c);
}

static void conn_timeout(void *arg)
{
	struct mconn *c = arg;

	c->timer = NULL; /* the loop frees a fired timer */
	VLOG_RL(LOG_INFO, "metrics: connection timed out (%s)",
	        c->responding ? "response not read" : "no request");
	conn_close(c);
}

/* Queues a response; body may be NULL (an empty one). */
static int respond(struct mconn *c, const char *status, const char *ctype, const char *extra,
                   const char *body, size_t blen)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	                 "Connection: close\r\n\r\n", status, ctype, blen, extra ? extra : "");

	c->responding = true;
	/* From now on the deadline is the whole connection's. */
	if (c->timer)
		evloop_timer_cancel(c->m->ev, c->timer);
	c->timer = evloop_timer(c->m->ev, CTL_METRICS_TIMEOUT_MS, conn_timeout, c);
	if (!c->timer || ctl_buf_append(&c->out, head, (size_t)n) < 0)
		return -ENOMEM;
	return body ? ctl_buf_append(&c->out, body, blen) : 0;
}

static int error_page(struct mconn *c, const char *status, const char *extra)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	return respond(c, status, "text/plain; charset=utf-8", extra, body, (size_t)n);
}

/* Answers the request in c->req (its head is complete). */
static int answer(struct mconn *c)
{
	char *eol = memchr(c->req, '\n', c->len), *sp1, *sp2, *q;
	struct ctl_buf body = { .max = CTL_METRICS_BODY_MAX };
	bool head;
	int r;

	if (!eol)
		return error_page(c, "400 Bad Request", NULL);
	*eol = '\0';
	if (eol > c->req && eol[-1] == '\r')
		eol[-1] = '\0';
	sp1 = strchr(c->req, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7))
		return error_page(c, "400 Bad Request", NULL);
	*sp1 = *sp2 = '\0';
	head = !strcmp(c->req, "HEAD");
	if (strcmp(c->req, "GET") && !head)
		return error_page(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
	if ((q = strchr(sp1 + 1, '?')))
		*q = '\0'; /* Prometheus may add parameters; none are used */
	if (!strcmp(sp1 + 1, "/"))
		return respond(c, "200 OK", "text/plain; charset=utf-8", NULL,
		               "vifd metrics: /metrics\n", 23);
	if (strcmp(sp1 + 1, "/metrics"))
		return error_page(c, "404 Not Found", NULL);
	r = ctl_metrics_render(c->m->dp, &body);
	if (r == 0)
		r = respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", NULL,
		            head ? NULL : body.p, body.len);
	else
		r = error_page(c, "500 Internal Server Error", NULL);
	ctl_buf_free(&body);
	return r;
}

/* Sends what the socket takes: 1 all sent, 0 more to send, -1 failed. */
static int send_some(struct mconn *c)
{
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		ctl_buf_consume(&c->out, (size_t)n);
	}
	return 1;
}

static bool head_complete(const struct mconn *c)
{
	for (size_t i = 0; i + 1 < c->len; i++)
		if (c->req[i] == '\n' && (c->req[i + 1] == '\n' ||
		    (c->req[i + 1] == '\r' && i + 2 < c->len && c->req[i + 2] == '\n')))
			return true;
	return false;
}

static void conn_event(void *arg, int fd, uint32_t events)
{
	struct mconn *c = arg;
	int r;

	if (events & EPOLLERR) {
		conn_close(c);
		return;
	}
	if (!c->responding && (events & (EPOLLIN | EPOLLHUP))) {
		ssize_t n = read(fd, c->req + c->len, sizeof(c->req) - c->len);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (n > 0)
			c->len += (size_t)n;
		if (head_complete(c))
			r = answer(c);
		else if (c->len == sizeof(c->req))
			r = error_page(c, "431 Request Header Fields Too Large", NULL);
		else
			return;
		if (r < 0) {
			conn_close(c);
			return;
		}
	}
	if (!c->responding)
		return;
	r = send_some(c);
	if (r != 0) {
		/* Done (or failed): a half close lets the client read it all;
		 * unread input would make close() reset the connection. */
		if (r > 0) {
			char sink[1024];

			shutdown(c->fd, SHUT_WR);
			for (int i = 0; i < 8 && read(c->fd, sink, sizeof(sink)) > 0; i++)
				;
		}
		conn_close(c);
		return;
	}
	if (evloop_mod(c->m->ev, c->fd, EPOLLOUT) < 0)
		conn_close(c);
}

static void accept_event(void *arg, int fd, uint32_t events)
{
	struct ctl_metrics *m = arg;

	(void)events;
	/* The whole backlog if need be: a scraper queued behind hoarders is
	 * taken now (each of them evicting an idle one), not after its SYN
	 * is retried for want of room in a full backlog. */
	for (int i = 0; i < CTL_METRICS_BACKLOG; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct mconn *c;
		unsigned slot;

		if (cfd < 0)
			return;
		for (slot = 0; slot < CTL_METRICS_MAX_CONNS && m->c[slot]; slot++)
			;
		if (slot == CTL_METRICS_MAX_CONNS) {
			/* Full: the oldest connection still waiting for its
			 * request goes (else the oldest of all), never the new
			 * one, so hoarded idle connections cannot lock a
			 * scraper out. */
			struct mconn *old = NULL;
			for (unsigned k = 0; k < CTL_METRICS_MAX_CONNS; k++) {
				struct mconn *x = m->c[k];
				if (!old || (x->responding == old->responding ? x->seq < old->seq
				                                               : !x->responding))
					old = x;
			}
			slot = old->slot;
			m->evicted++;
			VLOG_RL(LOG_WARNING, "metrics: %d connections open: closing the oldest %s",
			        CTL_METRICS_MAX_CONNS, old->responding ? "one" : "idle one");
			conn_close(old);
		}
		c = xcalloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->m = m;
		c->fd = cfd;
		c->slot = slot;
		c->seq = ++m->seq;
		c->out.max = CTL_METRICS_BODY_MAX + 1024;
		c->timer = evloop_timer(m->ev, CTL_METRICS_HEAD_MS, conn_timeout, c);
		if (!c->timer || evloop_add(m->ev, cfd, EPOLLIN, conn_event, c) < 0) {
			if (c->timer)
				evloop_timer_cancel(m->ev, c->timer);
			close(cfd);
			xfree(c);
			continue;
		}
		m->c[slot] = c;
		/* A scraper sends its request with the connection: answer at
		 * once if it is there (c may be gone after this). */
		conn_event(c, cfd, EPOLLIN);
	}
}

int ctl_metrics_create(struct evloop *ev, struct dp *dp, const char *addr, int port,
                       struct ctl_metrics **out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct ctl_metrics *m;
	int one = 1, r;

	if (port <= 0 || port > 65535 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		vlog_err("metrics: bad address %s:%d", addr, port);
		return -EINVAL;
	}
	m = xcalloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ev = ev;
	m->dp = dp;
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->lfd < 0 ||
	    setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->lfd, CTL_METRICS_BACKLOG) < 0) {
		r = -errno;
		goto fail;
	}
	r = evloop_add(ev, m->lfd, EPOLLIN, accept_event, m);
	if (r < 0)
		goto fail;
	vlog_info("metrics: serving http://%s:%d/metrics", addr, port);
	*out = m;
	return 0;
fail:
	vlog_err("metrics: cannot listen on %s:%d: %s", addr, port, strerror(-r));
	if (m->lfd >= 0)
		close(m->lfd);
	xfree(m);
	return r;
}

void ctl_metrics_destroy(struct ctl_metrics *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < CTL_METRICS_MAX_CONNS; i++)
		if (m->c[i])
			conn_close(m->c[i]);
	evloop_del(m->ev, m->lfd);
	close(m->lfd);
	xfree(m);
}
