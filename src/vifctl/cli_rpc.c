/* cli_rpc.c - vifctl's side of the control socket: connect, send one
 * request line, read one reply line, check it. Every wait is a poll()
 * against one deadline, so a stuck or absent vifd costs at most
 * CLI_TIMEOUT_MS, never a hang. The reply is trusted no more than needed:
 * its size is capped, its JSON and envelope are checked, and its id must
 * be ours. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clk.h"
#include "xalloc.h"

void cli_oom(void)
{
	fprintf(stderr, "vifctl: out of memory\n");
	exit(CLI_EVIFD);
}

/* What to do about a failed connect. */
static void hint(int err)
{
	if (err == EACCES || err == EPERM)
		fprintf(stderr, "vifctl: only root, the user vifd runs as and members of its --group may "
		        "use its socket\n");
	else
		fprintf(stderr, "vifctl: is vifd running? Point vifctl at its socket with --socket PATH "
		        "or VIFD_SOCKET=PATH\n        (vifd --state-dir DIR listens on DIR/vifd.sock unless "
		        "--ctl-socket PATH)\n");
}

/* Milliseconds left before deadline_ns, at least 0. */
static int left_ms(uint64_t deadline_ns)
{
	uint64_t now = clk_now_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

/* Waits for ev on fd until the deadline: 1 ready, 0 timeout, -errno. */
static int wait_fd(int fd, short ev, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		int ms = left_ms(deadline_ns), r;

		if (ms == 0)
			return 0;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int cli_connect(struct cli_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = clk_now_ns() + CLI_TIMEOUT_MS * 1000000ull;
	int fd, err = 0;

	c->path = path;
	c->fd = -1;
	c->rx_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vifctl: socket path too long (at most %zu bytes): %s\n",
		        sizeof(sa.sun_path) - 1, path);
		return CLI_ECONN;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "vifctl: socket: %s\n", strerror(errno));
		return CLI_ECONN;
	}
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && left_ms(deadline) > 0) {
			/* vifd's backlog is full: it is busy, not gone. */
			struct timespec ts = { 0, 20 * 1000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (errno == EINPROGRESS) {
			socklen_t len = sizeof(err);
			int r = wait_fd(fd, POLLOUT, deadline);

			if (r == 0)
				err = ETIMEDOUT;
			else if (r < 0)
				err = -r;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			if (!err)
				break;
		} else {
			err = errno == EAGAIN ? ETIMEDOUT : errno;
		}
		fprintf(stderr, "vifctl: cannot connect to vifd at %s: %s\n", path, strerror(err));
		hint(err);
		close(fd);
		return CLI_ECONN;
	}
	c->fd = fd;
	return CLI_OK;
}

void cli_close(struct cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->rx_fd >= 0)
		close(c->rx_fd);
	c->rx_fd = -1;
	xfree(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* Returns 0, or -errno (-ETIMEDOUT) without printing. */
static int send_all(struct cli_conn *c, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		int r;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -errno;
		r = wait_fd(c->fd, POLLOUT, deadline);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
	}
	return 0;
}

/* recv() that keeps a file descriptor vifd passes with a reply (capture:
 * SCM_RIGHTS) in c->rx_fd; any other is closed. */
static ssize_t recv_fds(struct cli_conn *c, char *buf, size_t len)
{
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
	                     .msg_controllen = sizeof(u.b) };
	ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->rx_fd < 0)
				c->rx_fd = fd;
			else
				close(fd);
		}
	}
	return n;
}

/* Reads one line into c->buf; *n is its length without '\n'. Failures
 * are printed unless quiet. */
static int read_line(struct cli_conn *c, size_t *n, uint64_t deadline, bool quiet)
{
	char why[128];

	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		ssize_t got;
		int r;

		if (nl) {
			*n = (size_t)(nl - c->buf);
			return CLI_OK;
		}
		if (c->len >= CLI_REPLY_MAX) {
			snprintf(why, sizeof(why), "reply longer than %d bytes", CLI_REPLY_MAX);
			break;
		}
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *p = xcalloc(1, cap);

			if (!p)
				cli_oom();
			if (c->len)
				memcpy(p, c->buf, c->len);
			xfree(c->buf);
			c->buf = p;
			c->cap = cap;
		}
		got = recv_fds(c, c->buf + c->len, c->cap - c->len);
		if (got > 0) {
			c->len += (size_t)got;
			continue;
		}
		if (got == 0) {
			snprintf(why, sizeof(why), "connection closed without a reply");
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			snprintf(why, sizeof(why), "%s", strerror(errno));
			break;
		}
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r <= 0) {
			snprintf(why, sizeof(why), "no reply within %d s", CLI_TIMEOUT_MS / 1000);
			break;
		}
	}
	if (!quiet)
		fprintf(stderr, "vifctl: vifd at %s: %s\n", c->path, why);
	return CLI_ECONN;
}

/* Checks a reply and takes its result; prints and classifies errors. */
static int take_reply(struct cli_conn *c, json_t *rep, long long id, json_t **result)
{
	json_t *jid = json_object_get(rep, "id"), *err = json_object_get(rep, "error");
	json_t *res = json_object_get(rep, "result");

	if (!json_is_object(rep) || (!err && !res) ||
	    !json_is_string(json_object_get(rep, "jsonrpc"))) {
		fprintf(stderr, "vifctl: malformed reply from vifd at %s\n", c->path);
		return CLI_ECONN;
	}
	/* A null id is an error about the connection itself (refused,
	 * line too long): it answers us too. */
	if (!json_is_null(jid) && !(json_is_integer(jid) && json_integer_value(jid) == id)) {
		fprintf(stderr, "vifctl: reply from vifd at %s answers another request\n", c->path);
		return CLI_ECONN;
	}
	if (err) {
		const char *msg = json_string_value(json_object_get(err, "message"));
		const char *en = json_string_value(json_object_get(json_object_get(err, "data"),
		                                                   "errno"));

		if (c->quiet_errno && en && !strcmp(en, c->quiet_errno)) {
			c->quieted = true;
			snprintf(c->quiet_msg, sizeof(c->quiet_msg), "%s", msg ? msg : "");
			return CLI_EVIFD;
		}

		fprintf(stderr, "vifctl: %s\n", msg ? msg : "vifd reported an error without a message");
		return CLI_EVIFD;
	}
	*result = json_incref(res);
	return CLI_OK;
}

int cli_call(struct cli_conn *c, const char *method, json_t *params, json_t **result)
{
	uint64_t deadline = clk_now_ns() + CLI_TIMEOUT_MS * 1000000ull;
	long long id = ++c->next_id;
	json_t *req, *rep;
	json_error_t jerr;
	char *line;
	size_t n;
	int r;

	if (!params)
		params = json_object();
	req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id,
	                "method", method, "params", params);
	line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!line)
		cli_oom();
	r = send_all(c, line, strlen(line), deadline);
	if (r == 0)
		r = send_all(c, "\n", 1, deadline);
	free(line);
	if (r < 0) {
		/* vifd may have refused us (permission, too many clients)
		 * with one line before closing: that line says why. */
		if ((r == -EPIPE || r == -ECONNRESET) && c->len == 0 &&
		    read_line(c, &n, clk_now_ns() + 1000000000ull, true) == CLI_OK)
			goto reply;
		fprintf(stderr, "vifctl: sending to vifd at %s: %s\n", c->path, strerror(-r));
		return CLI_ECONN;
	}
	r = read_line(c, &n, deadline, false);
	if (r != CLI_OK)
		return r;
reply:
	rep = json_loadb(c->buf, n, 0, &jerr);
	memmove(c->buf, c->buf + n + 1, c->len - n - 1);
	c->len -= n + 1;
	if (!rep) {
		fprintf(stderr, "vifctl: malformed reply from vifd at %s: %s\n", c->path, jerr.text);
		return CLI_ECONN;
	}
	r = take_reply(c, rep, id, result);
	json_decref(rep);
	return r;
}
