/* vif_msg.c - libvif's side of the vhost-user socket: connecting (client)
 * or listening and accepting (server), sending messages with descriptors,
 * reading replies with a deadline, and the per-thread error text.
 *
 * Security model: the backend is a separate process that may be buggy or
 * hostile. Every read has a deadline (poll), a reply is read only up to the
 * size of union vu_payload, and descriptors a backend pushes at us are
 * closed. Nothing here interprets payloads; vif_setup.c checks them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "vif_impl.h"

static _Thread_local char last_error[VIF_ERR_LEN];

void vif_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void vif_prefix_error(const char *prefix)
{
	char tmp[VIF_ERR_LEN];

	snprintf(tmp, sizeof(tmp), "%s%s", prefix, last_error);
	memcpy(last_error, tmp, sizeof(last_error));
}

const char *vif_last_error(void)
{
	return last_error;
}

/* Milliseconds left until deadline_ns, at least 0. */
static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = clk_now_ns();

	if (now >= deadline_ns)
		return 0;
	return (int)MIN((deadline_ns - now + 999999) / 1000000, (uint64_t)INT32_MAX);
}

static int fill_addr(const struct vif *v, struct sockaddr_un *sa)
{
	size_t len = strlen(v->path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, v->path, len);
	return 0;
}

int vif_sock_connect(struct vif *v)
{
	uint64_t deadline = clk_now_ns() + (uint64_t)v->cfg.timeout_ms * 1000000;
	struct sockaddr_un sa;
	int fd, err;

	err = fill_addr(v, &sa);
	if (err) {
		vif_set_error("socket path too long or empty: %s", v->path);
		return err;
	}
	/* vifd may not have created its socket yet: retry until the
	 * deadline on "not there" and "nobody listening". */
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = -errno;
			vif_set_error("socket: %s", strerror(errno));
			return err;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		err = -errno;
		close(fd);
		if ((err != -ENOENT && err != -ECONNREFUSED && err != -EAGAIN) ||
		    clk_now_ns() >= deadline) {
			vif_set_error("connect %s: %s", v->path, strerror(-err));
			return err;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	v->sock = fd;
	return 0;
}

int vif_sock_listen(struct vif *v)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, err;

	err = fill_addr(v, &sa);
	if (err) {
		vif_set_error("socket path too long or empty: %s", v->path);
		return err;
	}
	/* Remove a stale socket from an earlier run, but never another kind
	 * of file that happens to have the name. */
	if (lstat(v->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vif_set_error("%s exists and is not a socket", v->path);
			return -EEXIST;
		}
		unlink(v->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		vif_set_error("socket: %s", strerror(errno));
		return err;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		err = -errno;
		vif_set_error("bind/listen %s: %s", v->path, strerror(errno));
		close(fd);
		return err;
	}
	v->listen_fd = fd;
	return 0;
}

int vif_sock_accept(struct vif *v, int timeout_ms)
{
	struct pollfd pfd = { .fd = v->listen_fd, .events = POLLIN };
	int fd, r;

	r = poll(&pfd, 1, timeout_ms);
	if (r < 0) {
		r = -errno;
		vif_set_error("poll on %s: %s", v->path, strerror(errno));
		return r;
	}
	if (r == 0) {
		vif_set_error("no backend connected to %s", v->path);
		return -ETIMEDOUT;
	}
	fd = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -EAGAIN || r == -EWOULDBLOCK || r == -ECONNABORTED)
			r = -ETIMEDOUT;
		vif_set_error("accept on %s: %s", v->path, strerror(errno));
		return r;
	}
	v->sock = fd;
	return 0;
}

static int send_all(int sock, const struct vu_msg *m, size_t len,
		    const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	const char *p = (const char *)m;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	if (nfds > VU_MAX_FDS)
		return -EINVAL;
	while (len > 0) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = (void *)p;
		iov.iov_len = len;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (nfds) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Descriptors travel with the first byte only. */
		nfds = 0;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vif_msg_send(int sock, const struct vu_msg *m, const int *fds, unsigned nfds)
{
	if (m->hdr.size > sizeof(union vu_payload))
		return -EINVAL;
	return send_all(sock, m, sizeof(m->hdr) + m->hdr.size, fds, nfds);
}

/* Closes the fds that came with a message, but the first when keep is
 * non-NULL and *keep < 0: that one goes to *keep. */
static void close_fds(struct msghdr *mh, int *keep)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (keep && *keep < 0)
				*keep = fd;
			else
				close(fd);
		}
	}
}

/* Reads exactly len bytes before the deadline. */
static int recv_exact(int sock, void *buf, size_t len, uint64_t deadline, int *keep)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	char *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		struct iovec iov = { .iov_base = p, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n;
		int r;

		r = poll(&pfd, 1, ms_left(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		close_fds(&mh, keep);
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vif_msg_recv_fd(int sock, struct vu_msg *m, int timeout_ms, int *fd)
{
	uint64_t deadline = clk_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
	int err;

	if (fd)
		*fd = -1;
	err = recv_exact(sock, &m->hdr, sizeof(m->hdr), deadline, fd);
	/* A payload larger than anything defined cannot be resynchronised
	 * on a stream socket: the connection is unusable. */
	if (!err && m->hdr.size > sizeof(m->p))
		err = -EPROTO;
	if (!err)
		err = recv_exact(sock, &m->p, m->hdr.size, deadline, fd);
	if (err && fd && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

int vif_msg_recv(int sock, struct vu_msg *m, int timeout_ms)
{
	return vif_msg_recv_fd(sock, m, timeout_ms, NULL);
}

int vif_raw_msg(struct vif *v, const struct vu_msg *m, size_t total_len,
		const int *fds, unsigned nfds, struct vu_msg *reply, int timeout_ms)
{
	int err;

	if (v->sock < 0)
		return -ENOTCONN;
	if (total_len > sizeof(*m))
		return -EINVAL;
	err = send_all(v->sock, m, total_len, fds, nfds);
	if (err || !reply)
		return err;
	return vif_msg_recv(v->sock, reply, timeout_ms);
}
