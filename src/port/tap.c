/* tap.c - TAP ports: a tap device in vifd's or a named network namespace,
 * one non-blocking file per queue (IFF_MULTI_QUEUE with more than one).
 * Frames are read() and written (writev()) one system call each: the tap
 * interface has no batch API, so this first version pays a syscall per
 * frame on tap ports (never on the vhost-to-vhost path).
 *
 * No IFF_VNET_HDR: vifd offers its guests no checksum or segmentation
 * offloads yet, so it has no use for the kernel's. Without the header the
 * tap device keeps its offload features off (they only come on with
 * TUNSETOFFLOAD), so the kernel checksums and segments every frame before
 * vifd reads it, and every frame vifd writes is complete.
 *
 * The device is created in the namespace (a short-lived thread enters it,
 * port_in_netns), brought up there, and goes away with its last file when
 * the port is removed or vifd exits. An existing persistent tap (ip tuntap
 * add) is attached to instead, and brought down again on removal if vifd
 * brought it up. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "port.h"
#include "util.h"
#include "xalloc.h"

struct tap {
	bool persistent;   /* existed before vifd attached (IFF_PERSIST) */
	bool brought_up;   /* vifd set IFF_UP */
};

struct tap_job {
	struct port *p;
	struct tap *t;
	char *err;
	size_t errlen;
};

static int tap_open_in_ns(void *arg)
{
	struct tap_job *j = arg;
	struct port *p = j->p;
	struct ifreq ifr;
	short flags;
	int r;

	for (unsigned q = 0; q < p->nq; q++) {
		int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			snprintf(j->err, j->errlen, "cannot open /dev/net/tun: %s", strerror(-r));
			return r;
		}
		p->fd[q] = fd;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (p->nq > 1 ? IFF_MULTI_QUEUE : 0);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			r = -errno;
			snprintf(j->err, j->errlen,
			         "cannot create or attach tap %s%s: %s (an interface of another kind, "
			         "or a tap with other queue settings, has that name?)",
			         p->ifname, q ? " (queue)" : "", strerror(-r));
			return r;
		}
		if (q == 0 && ioctl(fd, TUNGETIFF, &ifr) == 0)
			j->t->persistent = ifr.ifr_flags & IFF_PERSIST;
	}
	r = port_if_get_flags(p->ifname, &flags);
	if (r == 0 && !(flags & IFF_UP)) {
		r = port_if_set_flags(p->ifname, (short)(flags | IFF_UP));
		j->t->brought_up = r == 0;
	}
	if (r < 0)
		snprintf(j->err, j->errlen, "cannot bring %s up: %s", p->ifname, strerror(-r));
	return r;
}

static int tap_down_in_ns(void *arg)
{
	struct port *p = arg;
	short flags;

	if (port_if_get_flags(p->ifname, &flags) == 0)
		port_if_set_flags(p->ifname, (short)(flags & ~IFF_UP));
	return 0;
}

static void tap_close(struct port *p)
{
	struct tap *t = p->priv;

	if (t && t->persistent && t->brought_up)
		port_in_netns(p->netns, tap_down_in_ns, p);
	for (unsigned q = 0; q < PORT_MAX_QUEUES; q++) {
		if (p->fd[q] >= 0)
			close(p->fd[q]);
		p->fd[q] = -1;
	}
	xfree(t);
	p->priv = NULL;
}

static int tap_open(struct port *p, const struct port_params *pp, char *err, size_t errlen)
{
	struct tap_job j = { .p = p, .err = err, .errlen = errlen };
	int r;

	(void)pp;
	j.t = p->priv = xcalloc(1, sizeof(struct tap));
	if (!j.t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = port_in_netns(p->netns, tap_open_in_ns, &j);
	if (r < 0) {
		if (!*err)
			snprintf(err, errlen, "cannot enter network namespace %s: %s", p->netns,
			         strerror(-r));
		tap_close(p);
	}
	return r;
}

static unsigned tap_read(struct port *p, unsigned q, uint8_t *buf, uint32_t *len, unsigned max)
{
	unsigned n;

	for (n = 0; n < max; n++) {
		ssize_t r = read(p->fd[q], buf + (size_t)n * PORT_FRAME_MAX, PORT_FRAME_MAX);
		if (r < 0)
			break; /* EAGAIN: empty; anything else: try again next poll */
		len[n] = (size_t)r >= PORT_FRAME_MAX ? 0 : (uint32_t)r;
	}
	return n;
}

static int tap_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf)
{
	return kport_rx_frames(p, q, pkts, max, buf, tap_read);
}

static int tap_tx(struct port *p, unsigned q, const struct iovec *iov, unsigned niov)
{
	if (writev(p->fd[q], iov, (int)niov) >= 0)
		return 0;
	if (errno == EIO)
		return -ENETDOWN; /* tun refuses writes while the device is down */
	return -errno;
}

const struct port_ops port_tap_ops = {
	.type = "tap",
	.open = tap_open,
	.close = tap_close,
	.rx_burst = tap_rx_burst,
	.tx_one = tap_tx,
	KPORT_OPS,
};
