/* port.c - the port type table and what the types share: running a setup
 * step inside a named network namespace, and interface flags. Control
 * thread only. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port.h"
#include "util.h"
#include "xalloc.h"

static const struct port_ops *const types[] = {
	&port_tap_ops,
	&port_afpacket_ops,
#ifdef VIFD_HAVE_AFXDP
	&port_afxdp_ops,
#endif
};

const struct port_ops *port_ops_find(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(types[i]->type, type))
			return types[i];
	return NULL;
}

int port_open(const struct port_params *pp, struct port **out, char *err, size_t errlen)
{
	const struct port_ops *ops = port_ops_find(pp->type);
	struct port *p;
	int r;

	if (!ops) {
		snprintf(err, errlen, "unknown port type %s", pp->type);
		return -EINVAL;
	}
	if (!pp->ifname || !*pp->ifname || strlen(pp->ifname) >= IFNAMSIZ ||
	    (pp->netns && strlen(pp->netns) >= PORT_NETNS_MAX) || pp->queues < 1 ||
	    pp->queues > PORT_MAX_QUEUES) {
		snprintf(err, errlen, "bad port parameters");
		return -EINVAL;
	}
	p = xcalloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->ops = ops;
	snprintf(p->ifname, sizeof(p->ifname), "%s", pp->ifname);
	snprintf(p->netns, sizeof(p->netns), "%s", pp->netns ? pp->netns : "");
	p->nq = pp->queues;
	for (unsigned q = 0; q < PORT_MAX_QUEUES; q++)
		p->fd[q] = -1;
	err[0] = '\0';
	r = ops->open(p, err, errlen);
	if (r < 0) {
		xfree(p);
		return r;
	}
	*out = p;
	return 0;
}

void port_close(struct port *p)
{
	if (!p)
		return;
	p->ops->close(p);
	xfree(p);
}

struct ns_job {
	int nsfd;
	int (*fn)(void *);
	void *arg;
	int res;
};

static void *ns_thread(void *arg)
{
	struct ns_job *j = arg;

	/* Only this thread moves: setns() with CLONE_NEWNET is per thread. */
	if (setns(j->nsfd, CLONE_NEWNET) < 0)
		j->res = -errno;
	else
		j->res = j->fn(j->arg);
	return NULL;
}

int port_in_netns(const char *netns, int (*fn)(void *arg), void *arg)
{
	struct ns_job j = { .fn = fn, .arg = arg };
	char path[PORT_NETNS_MAX + 32];
	pthread_t th;
	int r;

	if (!netns || !*netns)
		return fn(arg);
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	j.nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (j.nsfd < 0)
		return -errno;
	r = -pthread_create(&th, NULL, ns_thread, &j);
	if (r == 0) {
		pthread_join(th, NULL);
		r = j.res;
	}
	close(j.nsfd);
	return r;
}

static int ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	if (ioctl(s, req, ifr) < 0)
		r = -errno;
	close(s);
	return r;
}

int port_if_get_flags(const char *ifname, short *flags)
{
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	r = ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr);
	if (r == 0)
		*flags = ifr.ifr_flags;
	return r;
}

int port_if_set_flags(const char *ifname, short flags)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	return ifreq_ioctl(ifname, SIOCSIFFLAGS, &ifr);
}
