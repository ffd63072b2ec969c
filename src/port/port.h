/* port.h - kernel-facing ports: one ops table, one type per file (tap.c,
 * afpacket.c, afxdp.c). A port is a set of queues, each a file descriptor the
 * datapath polls from one worker: rx_burst() reads frames from the kernel
 * into the worker's private buffers, tx() hands one frame, gathered from
 * an iovec array, back to the kernel.
 *
 * Threading: port_open() and port_close() run on the control thread; a
 * queue's rx_burst() runs on the one worker that polls it; tx() may run on
 * several workers at once (each call is one system call on a file the
 * kernel serializes; it touches no shared user-space state).
 *
 * Frames from the kernel are network input: the datapath classifies them
 * exactly as it classifies a guest's frames (dp_policy.h), on a private
 * copy, with every length checked. */
#ifndef VIFD_PORT_H
#define VIFD_PORT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum {
	PORT_MAX_QUEUES = 8,
	/* Bytes of one receive buffer: a 9000-byte MTU frame with two VLAN
	 * tags fits. A frame as long as the buffer or longer is reported with
	 * length 0 (the datapath counts it invalid): it may be cut short. */
	PORT_FRAME_MAX = 9232,
	PORT_NETNS_MAX = 64,
};

/* What add-port asked for. Strings are copied by port_open(). */
struct port_params {
	const char *type;      /* "tap", "afpacket" or "afxdp" */
	const char *ifname;    /* tap: the device's name; afpacket, afxdp: the interface */
	const char *netns;     /* tap: a named network namespace (/var/run/netns/NAME), or NULL */
	unsigned queues;       /* 1..PORT_MAX_QUEUES */
};

struct port;

struct port_ops {
	const char *type;
	/* Opens the port's queues into p (p->ifname, p->netns, p->nq set).
	 * 0, or -errno with a reason in err. */
	int (*open)(struct port *p, char *err, size_t errlen);
	/* Closes the queues and restores the interface. */
	void (*close)(struct port *p);
	/* Reads up to max frames from queue q into buf (max slots of
	 * PORT_FRAME_MAX bytes each): frame i at buf + i * PORT_FRAME_MAX,
	 * its length in len[i] (0: a frame that did not fit). Returns the
	 * number of frames. Never blocks. */
	unsigned (*rx_burst)(struct port *p, unsigned q, uint8_t *buf, uint32_t *len, unsigned max);
	/* Sends one frame, gathered from iov[0..niov), on queue q. 0, -EAGAIN
	 * when the kernel had no room, -ENETDOWN when the interface is down,
	 * other -errno on errors. */
	int (*tx)(struct port *p, unsigned q, const struct iovec *iov, unsigned niov);
};

struct port {
	const struct port_ops *ops;
	char ifname[IFNAMSIZ];
	char netns[PORT_NETNS_MAX];  /* "" : vifd's own namespace */
	unsigned nq;
	int fd[PORT_MAX_QUEUES];     /* one per queue; epoll-able (EPOLLIN) */
	void *priv;                  /* the type's own state */
};

/* The ops of a port type, or NULL if vifd has no such type. */
const struct port_ops *port_ops_find(const char *type);

/* Opens a port. 0 and *out, or -errno with a reason in err. */
int port_open(const struct port_params *pp, struct port **out, char *err, size_t errlen);
/* Closes a port (no worker may use it any more) and frees it. */
void port_close(struct port *p);

/* Helpers for the types (port.c). */

/* Runs fn(arg) with the calling thread in network namespace netns (a name
 * under /var/run/netns), or directly when netns is empty: a short-lived
 * thread does the setns(), so no other thread ever changes namespace.
 * Returns fn's result, or -errno if the namespace cannot be entered. */
int port_in_netns(const char *netns, int (*fn)(void *arg), void *arg);
/* Interface flags (SIOCGIFFLAGS / SIOCSIFFLAGS) in the caller's network
 * namespace. 0 or -errno. */
int port_if_get_flags(const char *ifname, short *flags);
int port_if_set_flags(const char *ifname, short flags);

static inline unsigned port_rx_burst(struct port *p, unsigned q, uint8_t *buf, uint32_t *len,
                                     unsigned max)
{
	return p->ops->rx_burst(p, q, buf, len, max);
}

static inline int port_tx(struct port *p, unsigned q, const struct iovec *iov, unsigned niov)
{
	return p->ops->tx(p, q, iov, niov);
}

extern const struct port_ops port_tap_ops;
extern const struct port_ops port_afpacket_ops;
extern const struct port_ops port_afxdp_ops;   /* only when built with libxdp */

#endif
