/* ctl_sock.c - the control socket's transport: the listening unix socket
 * and its clients, on the control thread's evloop. Requests are split into
 * lines here and handed to ctl_rpc_handle(); replies are queued per client.
 *
 * Security and robustness model: a connecting peer is identified with
 * SO_PEERCRED and refused unless it is root, vifd's own uid, or (with
 * ctl_set_access) in the configured group, as its primary group
 * (SO_PEERCRED) or a supplementary one (SO_PEERGROUPS). The socket file's
 * mode (0660 by default) is the first gate, the credential check the
 * second: both must agree. An admitted
 * client may still send anything at any pace, or never read:
 *   - every socket is non-blocking, so no client can stall the loop;
 *   - at most CTL_MAX_CLIENTS connections; more are told so and closed;
 *   - a request line longer than CTL_LINE_MAX gets an error reply and the
 *     connection is closed after it (its input buffer is fixed at that size);
 *   - replies wait in the client's own output buffer (EPOLLOUT while it is
 *     not empty); above CTL_OUT_HIGH bytes its further requests wait too
 *     (we stop reading: flow control, not failure);
 *   - a client whose pending replies make no progress for CTL_STALL_MS, or
 *     would exceed CTL_OUT_MAX bytes, is dropped.
 * A peer that shuts its write side still gets the replies to what it sent
 * (a last line without '\n' counts as a request), then the connection
 * closes.
 *
 * Control thread only; evloop callbacks may free a client, so each one ends
 * in settle(), the only place that frees. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_rpc.h"
#include "ctl_stats.h"
#include "vlog.h"
#include "xalloc.h"

enum {
	CTL_MAX_CLIENTS = 64,
	CTL_BACKLOG = 16,
	CTL_ACCEPT_BURST = 16,          /* connections accepted per wakeup */
	CTL_IN_CAP = CTL_LINE_MAX + 1,  /* one longest line and its '\n' */
	CTL_OUT_HIGH = 256 * 1024,      /* unread reply bytes that pause reading */
	CTL_OUT_MAX = 4 * 1024 * 1024,  /* unread reply bytes that drop a client */
	CTL_STALL_MS = 10000,           /* pending replies without progress: drop */
	CTL_ACCEPT_RETRY_MS = 200,      /* accept paused this long after EMFILE */
};

struct ctl_client {
	struct ctl *ctl;
	int fd;
	unsigned slot;          /* index in ctl->cl */
	uid_t uid;              /* from SO_PEERCRED, for log lines */
	pid_t pid;
	char *in;               /* CTL_IN_CAP bytes: read, not yet handled */
	size_t in_len;
	struct ctl_buf out;     /* replies not yet written; max CTL_OUT_MAX */
	uint32_t events;        /* epoll mask currently registered */
	bool eof;               /* peer shut its write side */
	bool closing;           /* a fatal error reply is queued: close once sent */
	bool drop;              /* close now; settle() frees */
	const char *why;        /* reason for drop, for the log line */
	bool gone;              /* dropped because the peer went away */
	struct ev_timer *stall; /* armed while out is not empty */
	uint64_t written;       /* reply bytes written so far */
	struct ctl_conn conn;   /* what its requests started (a capture) */
	uint64_t fd_at;         /* conn.send_fd goes with reply byte fd_at
	                         * (counted like written); UINT64_MAX: none */
	uint64_t stall_mark;    /* written when the stall timer was armed */
};

struct ctl {
	struct evloop *ev;
	struct ctl_rpc rpc;
	int lfd;                /* listening socket, -1 once closed */
	bool accepting;         /* lfd is in the evloop (false while paused) */
	struct ev_timer *accept_retry;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_client *cl[CTL_MAX_CLIENTS];
	unsigned ncl;
	bool has_group;         /* members of `group` may connect too */
	gid_t group;
};

static void client_event(void *arg, int fd, uint32_t events);

int ctl_sock_probe(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		r = 1;
	else if (errno == EAGAIN || errno == EINPROGRESS || errno == EPROTOTYPE)
		r = 1; /* backlog full, or a socket of another kind: alive */
	else if (errno == ECONNREFUSED || errno == ENOENT)
		r = 0;
	else
		r = -errno;
	close(fd);
	return r;
}

static void client_free(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;

	/* A capture lives as long as the connection that asked for it: a
	 * killed vifctl leaves none behind. */
	if (c->conn.cap_id)
		dp_capture_stop(ctl->rpc.dp, c->conn.cap_id);
	if (c->conn.send_fd >= 0)
		close(c->conn.send_fd);

	evloop_del(ctl->ev, c->fd);
	close(c->fd);
	if (c->stall)
		evloop_timer_cancel(ctl->ev, c->stall);
	ctl_buf_free(&c->out);
	xfree(c->in);
	ctl->cl[c->slot] = NULL;
	ctl->ncl--;
	xfree(c);
}

static void drop(struct ctl_client *c, const char *why, bool gone)
{
	if (!c->drop) {
		c->drop = true;
		c->why = why;
		c->gone = gone;
	}
}

static bool has_line(const struct ctl_client *c)
{
	return (c->eof && c->in_len) || memchr(c->in, '\n', c->in_len);
}

/* Handles complete lines while the client's replies stay below
 * CTL_OUT_HIGH; what is left stays in c->in. */
static void process(struct ctl_client *c)
{
	size_t off = 0;

	while (!c->closing && !c->drop && c->out.len < CTL_OUT_HIGH) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		size_t n, before;
		int r;

		if (nl) {
			n = (size_t)(nl - (c->in + off));
		} else if (c->in_len - off > CTL_LINE_MAX) {
			char msg[96];

			snprintf(msg, sizeof(msg),
			         "request line longer than %d bytes; closing the connection", CTL_LINE_MAX);
			r = ctl_rpc_error_line(&c->out, CTL_ERR_INVALID_REQUEST, 0, msg);
			if (r < 0)
				drop(c, "out of memory", false);
			c->closing = true;
			off = c->in_len;
			break;
		} else if (c->eof && c->in_len > off) {
			n = c->in_len - off; /* last line, not terminated */
		} else {
			break;
		}
		before = c->out.len;
		c->ctl->rpc.conn = c->fd_at == UINT64_MAX ? &c->conn : NULL;
		r = ctl_rpc_handle(&c->ctl->rpc, c->in + off, n, &c->out);
		c->ctl->rpc.conn = NULL;
		if (c->conn.send_fd >= 0 && c->fd_at == UINT64_MAX)
			c->fd_at = c->written + before;
		off += n + (nl ? 1 : 0);
		if (r == -ENOBUFS)
			drop(c, "too many unread replies", false);
		else if (r < 0)
			drop(c, "out of memory", false);
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

/* Sends the reply bytes from fd_at on with conn.send_fd attached (it
 * travels with their first byte), then closes our copy. */
static ssize_t send_with_fd(struct ctl_client *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = c->out.p, .iov_len = c->out.len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(u.buf, 0, sizeof(u.buf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->conn.send_fd, sizeof(int));
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		close(c->conn.send_fd);
		c->conn.send_fd = -1;
		c->fd_at = UINT64_MAX;
	}
	return n;
}

/* Writes what the socket takes now. */
static void flush(struct ctl_client *c)
{
	while (c->out.len && !c->drop) {
		size_t len = c->out.len;
		ssize_t n;

		if (c->fd_at != UINT64_MAX && c->fd_at - c->written < len)
			len = (size_t)(c->fd_at - c->written); /* up to the fd's byte */
		if (len == 0)
			n = send_with_fd(c);
		else
			n = send(c->fd, c->out.p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop(c, "connection closed by peer", true);
			return;
		}
		ctl_buf_consume(&c->out, (size_t)n);
		c->written += (uint64_t)n;
	}
}

static void do_read(struct ctl_client *c)
{
	ssize_t n;

	if (c->eof || c->closing || c->in_len >= CTL_IN_CAP)
		return;
	n = read(c->fd, c->in + c->in_len, CTL_IN_CAP - c->in_len);
	if (n > 0)
		c->in_len += (size_t)n;
	else if (n == 0)
		c->eof = true;
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		drop(c, "connection closed by peer", true);
}

static void stall_fire(void *arg)
{
	struct ctl_client *c = arg;

	c->stall = NULL; /* the loop frees a fired timer */
	if (c->written == c->stall_mark) {
		vlog_warn("control: client pid %d: replies unread for %d s, dropping it",
		          (int)c->pid, CTL_STALL_MS / 1000);
		client_free(c);
		return;
	}
	c->stall_mark = c->written;
	c->stall = evloop_timer(c->ctl->ev, CTL_STALL_MS, stall_fire, c);
}

/* Reads and drops what the peer has queued (bounded): closing a unix
 * socket with unread input makes the peer's next read fail with ECONNRESET
 * instead of returning our last reply and then EOF. */
static void discard_input(struct ctl_client *c)
{
	char sink[4096];

	for (int i = 0; i < 16; i++)
		if (read(c->fd, sink, sizeof(sink)) <= 0)
			break;
}

/* Ends every event on a client: frees it if it is done or dropped, else
 * registers the events it now waits for and arms or stops its stall timer. */
static void settle(struct ctl_client *c)
{
	uint32_t want = 0;

	if (c->drop) {
		/* A peer that went away is routine; one we throw out is not. */
		vlog(c->gone ? LOG_DEBUG : LOG_WARNING, "control: client pid %d: %s, dropping it",
		     (int)c->pid, c->why);
		client_free(c);
		return;
	}
	/* Done: no more input will come and every reply is out (process()
	 * has consumed all lines unless replies were pending). */
	if ((c->eof || c->closing) && !c->out.len) {
		discard_input(c);
		client_free(c);
		return;
	}
	if (!c->eof && !c->closing && c->in_len < CTL_IN_CAP && c->out.len < CTL_OUT_HIGH)
		want |= EPOLLIN;
	if (c->out.len)
		want |= EPOLLOUT;
	if (want != c->events) {
		if (evloop_mod(c->ctl->ev, c->fd, want) < 0) {
			client_free(c);
			return;
		}
		c->events = want;
	}
	if (c->out.len && !c->stall) {
		c->stall_mark = c->written;
		c->stall = evloop_timer(c->ctl->ev, CTL_STALL_MS, stall_fire, c);
	} else if (!c->out.len && c->stall) {
		evloop_timer_cancel(c->ctl->ev, c->stall);
		c->stall = NULL;
	}
}

static void client_event(void *arg, int fd, uint32_t events)
{
	struct ctl_client *c = arg;

	(void)fd;
	if (events & EPOLLERR) {
		drop(c, "socket error", true);
		settle(c);
		return;
	}
	/* EPOLLHUP: the peer is gone; still read what it sent (its requests
	 * run, as notifications would), the replies then fail to send. */
	if (events & (EPOLLIN | EPOLLHUP))
		do_read(c);
	/* Replies drained below the mark let waiting lines through, whose
	 * replies may drain at once: go on until one of them stops us. */
	for (;;) {
		size_t before = c->in_len;

		process(c);
		flush(c);
		if (c->drop || c->closing || c->in_len == before ||
		    c->out.len >= CTL_OUT_HIGH || !has_line(c))
			break;
	}
	settle(c);
}

/* Refuses a connection with one error line, best effort. */
static void reject(int fd, int err, const char *msg)
{
	struct ctl_buf b = { 0 };

	if (ctl_rpc_error_line(&b, 0, err, msg) > 0) {
		ssize_t n = send(fd, b.p, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n; /* nothing more to do for a peer we turn away */
	}
	ctl_buf_free(&b);
	close(fd);
}

/* Whether gid is among the peer's supplementary groups. */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !len)
			return false;
		g = malloc(len);
		if (!g || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (g[i] == gid)
			found = true;
	if (g != small)
		free(g);
	return found;
}

static bool peer_allowed(const struct ctl *ctl, int fd, const struct ucred *cred)
{
	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (!ctl->has_group)
		return false;
	return cred->gid == ctl->group || peer_in_group(fd, ctl->group);
}

static void accept_one(struct ctl *ctl, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_client *c;
	unsigned slot;
	char msg[96];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		close(fd);
		return;
	}
	if (!peer_allowed(ctl, fd, &cred)) {
		VLOG_RL(LOG_WARNING, "control: refused connection from uid %u (pid %d)",
		        (unsigned)cred.uid, (int)cred.pid);
		snprintf(msg, sizeof(msg), "permission denied: uid %u may not use vifd's control socket%s",
		         (unsigned)cred.uid, ctl->has_group ? " (not root, nor in its group)" : "");
		reject(fd, EACCES, msg);
		return;
	}
	if (ctl->ncl == CTL_MAX_CLIENTS) {
		VLOG_RL(LOG_WARNING, "control: %d clients connected, refusing pid %d",
		        CTL_MAX_CLIENTS, (int)cred.pid);
		snprintf(msg, sizeof(msg), "too many control connections (at most %d)",
		         CTL_MAX_CLIENTS);
		reject(fd, EBUSY, msg);
		return;
	}
	for (slot = 0; ctl->cl[slot]; slot++)
		;
	c = xcalloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->in = xcalloc(1, CTL_IN_CAP);
	if (!c->in)
		goto nomem;
	c->ctl = ctl;
	c->fd = fd;
	c->slot = slot;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->out.max = CTL_OUT_MAX;
	c->events = EPOLLIN;
	c->conn.send_fd = -1;
	c->fd_at = UINT64_MAX;
	if (evloop_add(ctl->ev, fd, EPOLLIN, client_event, c) < 0)
		goto nomem;
	ctl->cl[slot] = c;
	ctl->ncl++;
	return;
nomem:
	VLOG_RL(LOG_ERR, "control: out of memory accepting a client");
	if (c)
		xfree(c->in);
	xfree(c);
	close(fd);
}

static void listen_event(void *arg, int fd, uint32_t events);

static void accept_resume(void *arg)
{
	struct ctl *ctl = arg;

	ctl->accept_retry = NULL;
	if (evloop_add(ctl->ev, ctl->lfd, EPOLLIN, listen_event, ctl) == 0)
		ctl->accepting = true;
	else
		ctl->accept_retry = evloop_timer(ctl->ev, CTL_ACCEPT_RETRY_MS, accept_resume, ctl);
}

static void listen_event(void *arg, int fd, uint32_t events)
{
	struct ctl *ctl = arg;

	(void)events;
	for (int i = 0; i < CTL_ACCEPT_BURST; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd >= 0) {
			accept_one(ctl, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The pending connection keeps the socket readable:
			 * stop watching it for a while instead of spinning. */
			VLOG_RL(LOG_ERR, "control: cannot accept: %s; pausing %d ms",
			        strerror(errno), CTL_ACCEPT_RETRY_MS);
			ctl->accept_retry = evloop_timer(ctl->ev, CTL_ACCEPT_RETRY_MS,
			                                 accept_resume, ctl);
			if (ctl->accept_retry) {
				evloop_del(ctl->ev, fd);
				ctl->accepting = false;
			}
		}
		break;
	}
}

/* Prepares sock_path for bind: a stale socket is removed, a live one or
 * another kind of file is left alone. Returns 0 or -errno (logged). */
static int clear_path(const char *path)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		vlog_err("control: %s exists and is not a socket; not replacing it", path);
		return -EEXIST;
	}
	r = ctl_sock_probe(path);
	if (r > 0) {
		vlog_err("control: another vifd is already answering on %s", path);
		return -EADDRINUSE;
	}
	if (r < 0) {
		vlog_err("control: cannot probe %s: %s", path, strerror(-r));
		return r;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		vlog_err("control: cannot remove stale socket %s: %s", path, strerror(errno));
		return r;
	}
	vlog_info("control: replaced stale socket %s", path);
	return 0;
}

int ctl_create(struct evloop *ev, struct dp *dp, const char *sock_path, struct ctl **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *ctl;
	struct stat st;
	mode_t old;
	int r, e;

	if (!sock_path || !*sock_path || strlen(sock_path) >= sizeof(sa.sun_path)) {
		vlog_err("control: socket path empty or longer than %zu bytes",
		         sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, sock_path);
	r = clear_path(sock_path);
	if (r < 0)
		return r;
	ctl = xcalloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->ev = ev;
	ctl->rpc.dp = dp;
	ctl->rpc.stats_base = ctl_stats_base_new();
	if (!ctl->rpc.stats_base) {
		xfree(ctl);
		return -ENOMEM;
	}
	ctl->rpc.sock_perm = (struct port_sock_perm){ .uid = -1, .gid = -1, .mode = -1 };
	strcpy(ctl->path, sock_path);
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->lfd < 0) {
		r = -errno;
		goto fail;
	}
	/* Bind under a strict umask so the socket is never, even briefly,
	 * wider than 0660. The umask is process-wide; no other thread
	 * creates files while the control thread starts up. */
	old = umask(0177);
	r = bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	umask(old);
	if (r < 0) {
		r = -e;
		goto fail;
	}
	if (chmod(sock_path, 0660) < 0 || listen(ctl->lfd, CTL_BACKLOG) < 0 ||
	    lstat(sock_path, &st) < 0) {
		r = -errno;
		goto fail_unlink;
	}
	ctl->rpc.sock_dev = st.st_dev;
	ctl->rpc.sock_ino = st.st_ino;
	r = evloop_add(ev, ctl->lfd, EPOLLIN, listen_event, ctl);
	if (r < 0)
		goto fail_unlink;
	ctl->accepting = true;
	vlog_info("control: listening on %s", sock_path);
	*out = ctl;
	return 0;
fail_unlink:
	unlink(sock_path);
fail:
	vlog_err("control: cannot listen on %s: %s", sock_path, strerror(-r));
	if (ctl->lfd >= 0)
		close(ctl->lfd);
	ctl_stats_base_free(ctl->rpc.stats_base);
	xfree(ctl);
	return r;
}

void ctl_destroy(struct ctl *ctl)
{
	struct stat st;

	if (!ctl)
		return;
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
		if (ctl->cl[i])
			client_free(ctl->cl[i]);
	if (ctl->accept_retry)
		evloop_timer_cancel(ctl->ev, ctl->accept_retry);
	if (ctl->accepting)
		evloop_del(ctl->ev, ctl->lfd);
	close(ctl->lfd);
	/* Remove the file only if it is still ours, not a successor's. */
	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->rpc.sock_dev &&
	    st.st_ino == ctl->rpc.sock_ino)
		unlink(ctl->path);
	ctl_stats_base_free(ctl->rpc.stats_base);
	xfree(ctl);
}

void ctl_set_state(struct ctl *ctl, struct ctl_state *st)
{
	ctl->rpc.state = st;
}

const struct ctl_rpc *ctl_get_rpc(const struct ctl *ctl)
{
	return &ctl->rpc;
}

int ctl_set_sock_dirs(struct ctl *ctl, const char *const *dirs, unsigned n)
{
	if (n > CTL_SOCK_DIRS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (dirs[i][0] != '/')
			return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		ctl->rpc.sock_dirs[i] = dirs[i];
	ctl->rpc.nsock_dirs = n;
	return 0;
}

void ctl_set_sock_perm(struct ctl *ctl, const struct port_sock_perm *pm)
{
	ctl->rpc.sock_perm = *pm;
}

int ctl_set_access(struct ctl *ctl, bool has_group, gid_t gid, mode_t mode)
{
	int r;

	/* fchownat/chmod on the path: a unix socket's own fd does not carry
	 * the file's ownership. The path was just created by us, in a
	 * directory vifd owns. */
	if (has_group && lchown(ctl->path, (uid_t)-1, gid) < 0) {
		r = -errno;
		vlog_err("control: cannot give %s to group %u: %s", ctl->path, (unsigned)gid,
		         strerror(errno));
		return r;
	}
	if (chmod(ctl->path, mode & 0770) < 0) {
		r = -errno;
		vlog_err("control: cannot set the mode of %s: %s", ctl->path, strerror(errno));
		return r;
	}
	ctl->has_group = has_group;
	ctl->group = gid;
	return 0;
}
