/* vhu_sock.c - the vhost-user connection of a port: listening (server mode)
 * or connecting with exponential backoff (client mode), reading messages
 * with their fds without ever blocking the control thread, and dropping the
 * connection cleanly on any error.
 *
 * Security model: the peer may send anything at any pace. Reads are
 * non-blocking and a message is assembled across reads in d->rbuf (it is at
 * most sizeof(struct vu_msg) bytes: a larger size field is refused before
 * any payload is read). At most VU_MAX_FDS fds are accepted per message;
 * extra or truncated ancillary data drops the connection. Replies that
 * cannot be written at once drop the connection rather than wait.
 *
 * Fairness: one wake-up handles at most VHU_MSG_BUDGET messages of a
 * connection, then returns to the event loop (its socket is watched
 * level-triggered, so the rest waits its turn behind every other ready
 * connection, vifctl and the metrics endpoint). The messages of one
 * wake-up are a batch: the datapath is republished at most once for it
 * (vhu_batch_end), however many of them changed something.
 *
 * Files: every fd a frontend handed over, and the connection socket itself
 * (closing it drops the fds still queued in it), is closed by the closer
 * thread (closer.h), never here. While the closer is congested no
 * connection is read; a frontend whose fd got a close stuck is disconnected
 * and not taken back until that close returns (vhu_dev_tick).
 *
 * Socket file (server mode): created through an O_PATH fd of its directory
 * opened once, and removed only through that fd and only if the name still
 * names the very socket vifd bound (device and inode), so a directory
 * swapped for a symlink later cannot make vifd remove anything else. Its
 * owner, group and mode (add-port owner=, group=, perm=, or vifd's
 * --vhost-sock-*) are set between bind() and listen(), on the file bound
 * (opened O_PATH, never through a symlink): until listen() nobody can
 * connect, so no frontend ever meets the socket with other permissions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "closer.h"
#include "vhu_impl.h"
#include "vlog.h"
#include "xalloc.h"

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000 };

static void conn_event(void *arg, int fd, uint32_t events);
static void try_connect(void *arg);

bool vhu_dev_connected(const struct vhu_dev *d)
{
	return d->conn_fd >= 0;
}

static void drop_rx_fds(struct vhu_dev *d)
{
	for (unsigned i = 0; i < d->nrfds; i++)
		closer_put(d->rfds[i], d->closer_id);
	d->nrfds = 0;
	d->rlen = 0;
}

/* The connection is going: nothing of it to resume. The timer stays while
 * accepting is paused too (all: the device is going). */
static void stop_pause(struct vhu_dev *d, bool all)
{
	if (d->pause_timer && (all || !d->listen_paused)) {
		evloop_timer_cancel(d->ev, d->pause_timer);
		d->pause_timer = NULL;
	}
	d->paused = false;
}

static void schedule_connect(struct vhu_dev *d)
{
	d->retry = evloop_timer(d->ev, d->backoff_ms, try_connect, d);
	d->backoff_ms = MIN(d->backoff_ms * 2, BACKOFF_MAX_MS);
}

/* Ends the current connection: the datapath lets go first, then all state
 * negotiated on it is dropped. */
static void conn_close(struct vhu_dev *d)
{
	if (d->conn_fd < 0)
		return;
	d->ops->quiesce(d, d->ctx);
	vhu_rings_stop(d);
	vhu_state_reset(d);
	d->batch_frozen = d->batch_dirty = false;
	stop_pause(d, false);
	evloop_del(d->ev, d->conn_fd);
	closer_put(d->conn_fd, d->closer_id);
	d->conn_fd = -1;
	drop_rx_fds(d);
	d->ops->changed(d, d->ctx);
	if (d->client && !d->retry && !d->held) {
		d->backoff_ms = BACKOFF_MIN_MS;
		schedule_connect(d);
	}
}

static int conn_attach(struct vhu_dev *d, int fd)
{
	int r;

	d->conn_fd = fd;
	d->rlen = 0;
	d->nrfds = 0;
	r = evloop_add(d->ev, fd, EPOLLIN, conn_event, d);
	if (r < 0) {
		closer_put(fd, d->closer_id);
		d->conn_fd = -1;
		return r;
	}
	d->cnt.connects++;
	VHU_LOG(LOG_INFO, d, "vhost-user frontend connected (%s mode)",
	        d->client ? "client" : "server");
	return 0;
}

int vhu_conn_adopt(struct vhu_dev *d, int fd)
{
	if (d->conn_fd >= 0)
		return -EBUSY;
	return conn_attach(d, fd);
}

/* Appends SCM_RIGHTS fds from msg; false if too many or truncated. */
static bool take_fds(struct vhu_dev *d, struct msghdr *mh)
{
	bool ok = !(mh->msg_flags & MSG_CTRUNC);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[VU_MAX_FDS + 1];
		if (n > ARRAY_SIZE(fds))
			n = ARRAY_SIZE(fds); /* cannot happen: the buffer holds no more */
		memcpy(fds, CMSG_DATA(c), n * sizeof(int));
		for (size_t i = 0; i < n; i++) {
			if (d->nrfds < VU_MAX_FDS) {
				d->rfds[d->nrfds++] = fds[i];
			} else {
				closer_put(fds[i], d->closer_id);
				ok = false;
			}
		}
	}
	return ok;
}

/* Reads what is available, up to VHU_MSG_BUDGET messages; dispatches each
 * complete message. Returns 0 to keep the connection, -errno to drop it. */
static int conn_read(struct vhu_dev *d)
{
	for (unsigned handled = 0; handled < VHU_MSG_BUDGET;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * (VU_MAX_FDS + 1))];
			struct cmsghdr align;
		} ctl;
		struct vu_msg *m = (struct vu_msg *)(void *)d->rbuf;
		uint32_t want;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		                     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n;

		if (d->rlen < sizeof(struct vu_hdr)) {
			want = sizeof(struct vu_hdr) - d->rlen;
		} else {
			if (m->hdr.size > sizeof(union vu_payload)) {
				VHU_LOG(LOG_ERR, d, "message %u: payload size %u exceeds %zu",
				        m->hdr.request, m->hdr.size, sizeof(union vu_payload));
				return -EMSGSIZE;
			}
			want = (uint32_t)sizeof(struct vu_hdr) + m->hdr.size - d->rlen;
		}
		if (want) {
			iov.iov_base = d->rbuf + d->rlen;
			iov.iov_len = want;
			n = recvmsg(d->conn_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -errno;
			if (n == 0) {
				if (d->rlen) {
					VHU_LOG(LOG_ERR, d, "connection closed inside a message "
					        "(%u bytes of it received)", d->rlen);
					return -EBADMSG;
				}
				VHU_LOG(LOG_INFO, d, "vhost-user frontend disconnected");
				return -ECONNRESET;
			}
			if (!take_fds(d, &mh)) {
				VHU_LOG(LOG_ERR, d, "message carried more than %d fds or truncated ones",
				        VU_MAX_FDS);
				return -EBADMSG;
			}
			d->rlen += (uint32_t)n;
			if ((uint32_t)n < want)
				continue;
			if (d->rlen == sizeof(struct vu_hdr) && m->hdr.size)
				continue; /* header done; now the payload */
		}
		/* A complete message. */
		int fds[VU_MAX_FDS];
		unsigned nfds = d->nrfds;
		int r;

		memcpy(fds, d->rfds, sizeof(int) * nfds);
		d->nrfds = 0;
		d->rlen = 0;
		r = vhu_msg_dispatch(d, m, fds, nfds);
		for (unsigned i = 0; i < nfds; i++)
			closer_put(fds[i], d->closer_id); /* the ones not kept */
		if (r < 0)
			return r;
		if (d->conn_fd < 0)
			return 0; /* closed by the handler (cannot happen today) */
		handled++;
	}
	return 0; /* budget spent: the rest of the socket waits its turn */
}

static void pause_check(void *arg);

/* Stops reading the connection until the closer has room again: every
 * message may carry fds, and they could not be let go. The socket leaves
 * the event loop altogether (with an empty mask a hang-up would still be
 * reported, level-triggered, over and over). */
static void pause_conn(struct vhu_dev *d)
{
	if (!d->paused) {
		d->paused = true;
		evloop_del(d->ev, d->conn_fd);
		VHU_LOG(LOG_WARNING, d, "closer thread congested: not reading this frontend for now");
	}
	if (!d->pause_timer)
		d->pause_timer = evloop_timer(d->ev, VHU_PAUSE_MS, pause_check, d);
}

static void pause_check(void *arg)
{
	struct vhu_dev *d = arg;

	d->pause_timer = NULL;
	if (closer_congested()) {
		d->pause_timer = evloop_timer(d->ev, VHU_PAUSE_MS, pause_check, d);
		return;
	}
	if (d->listen_paused) {
		d->listen_paused = false;
		if (!d->held)
			evloop_mod(d->ev, d->listen_fd, EPOLLIN);
	}
	if (d->conn_fd < 0 || !d->paused)
		return;
	d->paused = false;
	/* Level-triggered: fires at once if data (or a hang-up) waits. */
	if (evloop_add(d->ev, d->conn_fd, EPOLLIN, conn_event, d) < 0)
		conn_close(d);
}

static void conn_event(void *arg, int fd, uint32_t events)
{
	struct vhu_dev *d = arg;
	int r;

	(void)fd;
	if (closer_congested()) {
		pause_conn(d);
		return;
	}
	r = conn_read(d);
	if (r == 0 && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
		r = -ECONNRESET;
	if (r == 0)
		vhu_batch_end(d);
	if (r < 0) {
		if (r != -ECONNRESET)
			d->cnt.msg_errors++;
		conn_close(d);
	}
}

int vhu_send(struct vhu_dev *d, const struct vu_msg *m)
{
	return vhu_send_fd(d, m, -1);
}

int vhu_send_fd(struct vhu_dev *d, const struct vu_msg *m, int fd)
{
	size_t len = sizeof(struct vu_hdr) + m->hdr.size;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)m, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	n = sendmsg(d->conn_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n == (ssize_t)len)
		return 0;
	VHU_LOG(LOG_ERR, d, "cannot send reply: %s", n < 0 ? strerror(errno) : "short write");
	return n < 0 ? -errno : -EIO;
}

static void listen_event(void *arg, int fd, uint32_t events)
{
	struct vhu_dev *d = arg;
	int c;

	(void)events;
	/* No new connection (and no fds in it) while the closer could not
	 * let them go: they wait in the listen backlog, which bounds them. */
	if (closer_congested()) {
		d->listen_paused = true;
		evloop_mod(d->ev, fd, 0);
		if (!d->pause_timer)
			d->pause_timer = evloop_timer(d->ev, VHU_PAUSE_MS, pause_check, d);
		return;
	}
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	if (d->conn_fd >= 0) {
		VHU_LOG(LOG_WARNING, d, "refusing a second frontend connection");
		closer_put(c, d->closer_id); /* it may already hold fds */
		return;
	}
	conn_attach(d, c);
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static void try_connect(void *arg)
{
	struct vhu_dev *d = arg;
	struct sockaddr_un sa;
	int fd;

	d->retry = NULL;
	if (d->conn_fd >= 0 || d->held || fill_addr(&sa, d->path) < 0)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		schedule_connect(d);
		return;
	}
	/* Unix stream connects complete at once or fail (EAGAIN means the
	 * listener's backlog is full: retry later). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (d->backoff_ms == BACKOFF_MIN_MS)
			VHU_LOG(LOG_INFO, d, "connecting to %s: %s (retrying)", d->path,
			        strerror(errno));
		close(fd);
		schedule_connect(d);
		return;
	}
	d->backoff_ms = BACKOFF_MIN_MS;
	conn_attach(d, fd);
}

/* Splits d->path into its directory (opened O_PATH into d->dir_fd) and
 * its name (d->base). 0 or -errno. */
static int open_dir(struct vhu_dev *d)
{
	const char *slash = strrchr(d->path, '/');
	char dir[sizeof(d->path)];
	size_t dl;

	if (!slash || !slash[1] || !strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
		return -EINVAL;
	dl = (size_t)(slash - d->path);
	if (dl == 0)
		dl = 1; /* "/name" */
	memcpy(dir, d->path, dl);
	dir[dl] = '\0';
	strcpy(d->base, slash + 1);
	d->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return d->dir_fd < 0 ? -errno : 0;
}

/* Removes the socket file if it is still the one vifd bound. */
static void remove_sock_file(struct vhu_dev *d)
{
	struct stat st;

	if (d->dir_fd < 0)
		return;
	if (fstatat(d->dir_fd, d->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == d->sock_dev && st.st_ino == d->sock_ino)
		unlinkat(d->dir_fd, d->base, 0);
}

/* Gives the socket just bound its owner, group and mode. 0 or -errno. */
static int set_perm(struct vhu_dev *d)
{
	const struct port_sock_perm *pm = &d->perm;
	char proc[48];
	struct stat st;
	int fd, r = 0;

	if (pm->uid < 0 && pm->gid < 0 && pm->mode < 0)
		return 0;
	fd = openat(d->dir_fd, d->base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_dev != d->sock_dev ||
	    st.st_ino != d->sock_ino) {
		close(fd);
		return -ESTALE; /* not the socket vifd bound: someone swapped it */
	}
	/* The mode first, while the socket is still vifd's alone (after the
	 * chown its new owner could swap the name for a symlink, which the
	 * by-name fallback below would follow). chmod() of an O_PATH fd goes
	 * through its /proc link (which names the inode itself, not a path
	 * to look up again). */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* Never by name as a fallback (without /proc): the name could be a
	 * symlink by then, and root would chmod its target. */
	if (pm->mode >= 0 && chmod(proc, (mode_t)pm->mode) < 0)
		r = -errno;
	if (r == 0 && (pm->uid >= 0 || pm->gid >= 0) &&
	    fchownat(fd, "", pm->uid >= 0 ? (uid_t)pm->uid : (uid_t)-1,
	             pm->gid >= 0 ? (gid_t)pm->gid : (gid_t)-1, AT_EMPTY_PATH) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int start_listen(struct vhu_dev *d)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r;

	r = open_dir(d);
	if (r < 0)
		return r;
	/* Replace a stale socket, never another kind of file (the control
	 * socket checked first that nobody answers on it). */
	if (fstatat(d->dir_fd, d->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlinkat(d->dir_fd, d->base, 0);
	}
	/* Bind through the directory fd, so the directory the name is
	 * created in is the one just opened; a path too long for that
	 * (sun_path is 108 bytes) binds by name. */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", d->dir_fd,
	             d->base) >= (int)sizeof(sa.sun_path)) {
		r = fill_addr(&sa, d->path);
		if (r < 0)
			return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno == ENOENT && strncmp(sa.sun_path, "/proc/", 6) == 0) {
		/* No /proc: by name. */
		r = fill_addr(&sa, d->path);
		if (r == 0)
			r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (r < 0 || fstatat(d->dir_fd, d->base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	d->sock_dev = st.st_dev;
	d->sock_ino = st.st_ino;
	r = set_perm(d);
	if (r < 0) {
		vlog_err("%s: cannot set the owner or mode of %s: %s", d->name, d->path,
		         strerror(-r));
	} else if (listen(fd, 4) < 0) {
		r = -errno;
	}
	if (r < 0) {
		close(fd);
		remove_sock_file(d);
		return r;
	}
	r = evloop_add(d->ev, fd, EPOLLIN, listen_event, d);
	if (r < 0) {
		close(fd);
		remove_sock_file(d);
		return r;
	}
	d->listen_fd = fd;
	return 0;
}

int vhu_dev_create(struct evloop *ev, const char *name, const char *path, bool client,
                   unsigned queue_pairs, const struct vhu_dev_ops *ops, void *ctx,
                   struct vhu_dev **out)
{
	return vhu_dev_create_perm(ev, name, path, client, queue_pairs, NULL, ops, ctx, out);
}

int vhu_dev_create_perm(struct evloop *ev, const char *name, const char *path, bool client,
                        unsigned queue_pairs, const struct port_sock_perm *perm,
                        const struct vhu_dev_ops *ops, void *ctx, struct vhu_dev **out)
{
	struct vhu_dev *d;
	int r;

	if (!name || !path || strlen(name) >= VHU_NAME_MAX ||
	    strlen(path) >= sizeof(d->path) || queue_pairs < 1 ||
	    queue_pairs > VHU_MAX_QUEUE_PAIRS ||
	    (perm && (perm->mode > 0777 || perm->uid > UINT32_MAX - 1 ||
	              perm->gid > UINT32_MAX - 1)))
		return -EINVAL;
	r = gmem_sigbus_install();
	if (r == 0)
		r = closer_start();
	if (r < 0)
		return r;
	d = xaligned_calloc(CACHE_LINE, sizeof(*d));
	if (!d)
		return -ENOMEM;
	strcpy(d->name, name);
	strcpy(d->path, path);
	d->client = client;
	d->perm = perm ? *perm : (struct port_sock_perm){ .uid = -1, .gid = -1, .mode = -1 };
	d->max_qp = queue_pairs;
	d->ops = ops;
	d->ctx = ctx;
	d->ev = ev;
	d->listen_fd = -1;
	d->dir_fd = -1;
	d->conn_fd = -1;
	d->closer_id = closer_owner_new();
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		d->vr[i].kickfd = d->vr[i].callfd = d->vr[i].errfd = -1;
		d->vr[i].vq.callfd = -1;
	}
	vhu_state_reset(d);
	if (client) {
		d->backoff_ms = BACKOFF_MIN_MS;
		try_connect(d);
	} else {
		r = start_listen(d);
		if (r < 0) {
			vlog_err("%s: cannot listen on %s: %s", name, path, strerror(-r));
			if (d->dir_fd >= 0)
				close(d->dir_fd);
			xfree(d);
			return r;
		}
	}
	*out = d;
	return 0;
}

void vhu_dev_destroy(struct vhu_dev *d)
{
	if (!d)
		return;
	d->client = false; /* no reconnect from conn_close */
	if (d->retry)
		evloop_timer_cancel(d->ev, d->retry);
	d->retry = NULL;
	conn_close(d);
	stop_pause(d, true);
	if (d->listen_fd >= 0) {
		evloop_del(d->ev, d->listen_fd);
		/* Connections waiting in its backlog may hold fds. */
		closer_put(d->listen_fd, d->closer_id);
		remove_sock_file(d);
	}
	if (d->dir_fd >= 0)
		close(d->dir_fd);
	xfree(d);
}

void vhu_dev_tick(struct vhu_dev *d)
{
	bool stuck = closer_owner_stuck(d->closer_id);

	if (stuck && !d->held) {
		d->held = true;
		d->cnt.close_stuck++;
		VHU_LOG(LOG_WARNING, d, "closing a file this frontend handed over is stuck: "
		        "disconnecting it until the close returns");
		if (d->listen_fd >= 0)
			evloop_mod(d->ev, d->listen_fd, 0);
		if (d->retry)
			evloop_timer_cancel(d->ev, d->retry);
		d->retry = NULL;
		conn_close(d);
	} else if (!stuck && d->held) {
		d->held = false;
		VHU_LOG(LOG_INFO, d, "the stuck close returned: taking frontends again");
		if (d->listen_fd >= 0 && !d->listen_paused)
			evloop_mod(d->ev, d->listen_fd, EPOLLIN);
		if (d->client && !d->retry) {
			d->backoff_ms = BACKOFF_MIN_MS;
			schedule_connect(d);
		}
	}
}
