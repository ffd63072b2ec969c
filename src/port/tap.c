/* tap.c - TAP ports: a tap device in vifd's or a named network namespace,
 * one non-blocking file per queue (IFF_MULTI_QUEUE with more than one).
 * Frames are read() and written (writev()) one system call each: the tap
 * interface has no batch API.
 *
 * Offloads: every frame read or written carries a virtio-net header
 * (IFF_VNET_HDR), and TUNSETOFFLOAD tells the kernel vifd takes partial
 * checksums and TCP segmentation (and UDP segmentation where the kernel
 * has it): the namespace's stack hands vifd 64 KiB TCP frames, which cross
 * vifd whole to every port that takes them (one system call, one copy for
 * 64 KiB) and are segmented in software for the others (src/offload). The
 * kernel takes the same frames from vifd.
 *
 * The device is created in the namespace (a short-lived thread enters it,
 * port_in_netns), made persistent (TUNSETPERSIST) and brought up there. It
 * outlives vifd (a crash, a kill -9, a clean stop: like Open vSwitch's
 * internal ports), so the namespace keeps its addresses and routes on it;
 * the restarted vifd restores the port and attaches to the same device.
 * del-port deletes it (persistence off, last file closed).
 *
 * A tap that exists when add-port names it (ip tuntap add, persistent) is
 * the operator's: vifd attaches to it and on del-port only brings it down
 * again if vifd brought it up. When vifd restores its state, an existing
 * tap is taken to be the port's own (left by the vifd before): del-port
 * deletes it. The flags must match: a device made single-queue cannot be
 * attached with queues= above 1 or the other way round (IFF_MULTI_QUEUE),
 * which is refused with a message saying so; IFF_VNET_HDR is set by vifd
 * on every attach. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "port.h"
#include "util.h"
#include "vlog.h"
#include "xalloc.h"

/* TUNSETOFFLOAD flags of kernels newer than Debian 12's headers (6.2). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

struct tap {
	bool owned;        /* the port's own device: deleted by del-port */
	bool brought_up;   /* vifd set IFF_UP (an operator's tap goes down again) */
	bool restoring;    /* opened by a state restore */
	bool created;      /* made by this open (an add-port that fails drops it) */
};

/* Tells the kernel which offloads vifd takes (on every queue's file: the
 * device's features follow the last call); USO only where the kernel knows
 * it. Returns the PKT_OL_* set both ways, or -errno. */
static int tap_offloads(int fd)
{
	const unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
	const int caps = PKT_OL_CSUM | PKT_OL_VALID | PKT_OL_TSO4 | PKT_OL_TSO6 | PKT_OL_ECN;

	if (ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		return caps | PKT_OL_USO4 | PKT_OL_USO6;
	if (errno != EINVAL)
		return -errno;
	if (ioctl(fd, TUNSETOFFLOAD, base) == 0)
		return caps;
	return -errno;
}

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
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (p->nq > 1 ? IFF_MULTI_QUEUE : 0);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			r = -errno;
			if (r == -EPERM)
				snprintf(j->err, j->errlen, "cannot create or attach tap %s%s: %s "
				         "(creating a tap needs CAP_NET_ADMIN)",
				         p->ifname, q ? " (queue)" : "", strerror(-r));
			else if (r == -EINVAL && q == 0 && port_if_get_flags(p->ifname, &flags) == 0)
				snprintf(j->err, j->errlen,
				         "tap %s exists with other queue settings (it is %s, queues=%u "
				         "asks for %s): delete it (ip link del %s) or match queues=",
				         p->ifname, p->nq > 1 ? "single-queue" : "multi-queue", p->nq,
				         p->nq > 1 ? "multi-queue" : "single-queue", p->ifname);
			else
				snprintf(j->err, j->errlen,
				         "cannot create or attach tap %s%s: %s (an interface of another "
				         "kind, or a tap with other queue settings, has that name?)",
				         p->ifname, q ? " (queue)" : "", strerror(-r));
			return r;
		}
		if (q == 0) {
			bool existed = ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_PERSIST);

			/* Ours if vifd makes it now, or finds it again on restore. */
			j->t->owned = !existed || j->t->restoring;
			j->t->created = !existed;
			if (!existed && ioctl(fd, TUNSETPERSIST, 1) < 0) {
				r = -errno;
				snprintf(j->err, j->errlen, "cannot make tap %s persistent: %s",
				         p->ifname, strerror(-r));
				return r;
			}
		}
		r = tap_offloads(fd);
		if (r < 0) {
			snprintf(j->err, j->errlen, "cannot set the offloads of tap %s: %s", p->ifname,
			         strerror(-r));
			return r;
		}
		p->ol_in = p->ol_out = (uint32_t)r;
		p->vnet = sizeof(struct virtio_net_hdr);
	}
	r = port_if_get_flags(p->ifname, &flags);
	if (r == 0 && !(flags & IFF_UP)) {
		r = port_if_set_flags(p->ifname, (short)(flags | IFF_UP));
		j->t->brought_up = r == 0;
	}
	if (r < 0)
		snprintf(j->err, j->errlen, "cannot bring %s up: %s%s", p->ifname, strerror(-r),
		         port_eperm(r, " (needs CAP_NET_ADMIN)"));
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

	/* del-port: the port's own device goes with its last file (the
	 * persistence set through any of its queues' files is the device's).
	 * vifd stopping: it stays, up, for the next vifd. */
	if (t && p->removing && t->owned && p->fd[0] >= 0 && ioctl(p->fd[0], TUNSETPERSIST, 0) < 0)
		vlog_err("%s: cannot delete tap %s: %s", p->name, p->ifname, strerror(errno));
	if (t && p->removing && !t->owned && t->brought_up)
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

	j.t = p->priv = xcalloc(1, sizeof(struct tap));
	if (!j.t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	j.t->restoring = pp->restoring;
	r = port_in_netns(p->netns, tap_open_in_ns, &j);
	if (r < 0) {
		if (!*err)
			snprintf(err, errlen, "cannot enter network namespace %s: %s%s", p->netns,
			         strerror(-r), port_eperm(r, " (setns() needs CAP_SYS_ADMIN)"));
		/* A device this failed open made goes again; one that was
		 * there stays. */
		j.t->owned = j.t->created;
		p->removing = true;
		tap_close(p);
	}
	return r;
}

/* Reads up to max frames, each after its virtio-net header (its offload
 * fields go into the packet; the datapath validates them against the frame
 * before anything relies on them). */
static int tap_rx_burst(struct port *p, unsigned q, struct pkt *pkts, unsigned max, uint8_t *buf)
{
	unsigned n = 0;

	if (max && kport_carry_take(p, q, &pkts[0], buf))
		n = 1;
	for (; n < max; n++) {
		uint8_t *b = buf + (size_t)n * PORT_FRAME_MAX;
		ssize_t r = read(p->fd[q], b, PORT_FRAME_MAX);
		struct virtio_net_hdr h;

		if (r < 0)
			break; /* EAGAIN: empty; anything else: try again next poll */
		if ((size_t)r < sizeof(h) || (size_t)r >= PORT_FRAME_MAX) {
			kport_pkt(&pkts[n], b, 0); /* counted invalid */
			continue;
		}
		memcpy(&h, b, sizeof(h));
		kport_pkt(&pkts[n], b + sizeof(h), (uint32_t)((size_t)r - sizeof(h)));
		pkts[n].ol = (struct pkt_ol){ .flags = h.flags, .gso_type = h.gso_type,
		                              .hdr_len = le16toh(h.hdr_len),
		                              .gso_size = le16toh(h.gso_size),
		                              .csum_start = le16toh(h.csum_start),
		                              .csum_offset = le16toh(h.csum_offset) };
	}
	return (int)n;
}

static int tap_tx(struct port *p, unsigned q, const struct iovec *iov, unsigned niov,
                  uint8_t rem)
{
	(void)rem;
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
