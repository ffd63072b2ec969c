/* fuzz_vhost_msg.c - libFuzzer target: the vhost-user message path of a
 * port (vhu_sock.c reader + vhu_msg.c table and handlers) fed through a
 * socketpair, exactly as a frontend's bytes and fds arrive.
 *
 * Input: records of [u8 ctl][u16 len][len bytes]. ctl bits 0-1: how many
 * fds ride with the record (0-3); bit 2: they are eventfds (else memfds of
 * 64 KiB, so SET_MEM_TABLE can map them). After each record the device's
 * event loop runs once and replies are drained. When the connection drops
 * a new socketpair is adopted, as a reconnecting frontend would. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "vhu_impl.h"
#include "vlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void nop_quiesce(struct vhu_dev *d, void *ctx) { (void)d, (void)ctx; }
static void nop_changed(struct vhu_dev *d, void *ctx) { (void)d, (void)ctx; }
static const struct vhu_dev_ops ops = { nop_quiesce, nop_changed };

static int make_fd(bool ev)
{
	int fd;

	if (ev)
		return eventfd(0, EFD_CLOEXEC);
	fd = memfd_create("fz", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, 65536) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_rec(int s, const uint8_t *p, size_t len, unsigned nfds, bool ev)
{
	int fds[3];
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)p, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned n = 0;

	for (unsigned i = 0; i < nfds; i++) {
		int fd = make_fd(ev);
		if (fd >= 0)
			fds[n++] = fd;
	}
	if (n) {
		struct cmsghdr *c;
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	if (sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* peer gone or full: the device dropped us */
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evloop *ev;
	struct vhu_dev *d;
	char path[64];
	int sp[2] = { -1, -1 };
	char junk[4096];

	if (!ev) {
		vlog_set_level(LOG_CRIT);
		if (evloop_create(&ev) < 0)
			return 0;
	}
	snprintf(path, sizeof(path), "/tmp/fuzz-vhu-%d.sock", (int)getpid());
	if (vhu_dev_create(ev, "fz", path, false, 4, &ops, NULL, &d) < 0)
		return 0;
	while (size >= 3) {
		unsigned ctl = data[0], len = data[1] | (unsigned)data[2] << 8;
		data += 3;
		size -= 3;
		len = MIN(len, (unsigned)size);
		if (!vhu_dev_connected(d)) {
			if (sp[1] >= 0)
				close(sp[1]);
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
				break;
			if (vhu_conn_adopt(d, sp[0]) < 0) {
				close(sp[1]);
				sp[1] = -1;
				break;
			}
		}
		send_rec(sp[1], data, len, ctl & 3, ctl & 4);
		data += len;
		size -= len;
		evloop_run_once(ev, 0);
		while (recv(sp[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	}
	vhu_dev_destroy(d);
	if (sp[1] >= 0)
		close(sp[1]);
	return 0;
}
