/* evloop.c - see evloop.h. Watches are kept in a small array indexed by
 * slot; epoll's data carries the slot and a generation so a callback that
 * removes another watch cannot make the loop call a stale one. Timers are a
 * sorted list: there are only a handful (reconnect backoffs). */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clk.h"
#include "xalloc.h"

struct watch {
	int fd;          /* -1: free slot */
	uint32_t gen;
	ev_fd_fn *fn;
	void *arg;
};

struct ev_timer {
	uint64_t due_ns;
	ev_timer_fn *fn;
	void *arg;
	struct ev_timer *next;
};

struct evloop {
	int epfd;
	bool stop;
	struct watch *w;
	uint32_t nw;
	struct ev_timer *timers;
};

int evloop_create(struct evloop **out)
{
	struct evloop *l = xcalloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = -errno;
		xfree(l);
		return e;
	}
	*out = l;
	return 0;
}

void evloop_destroy(struct evloop *l)
{
	if (!l)
		return;
	while (l->timers) {
		struct ev_timer *t = l->timers;
		l->timers = t->next;
		xfree(t);
	}
	close(l->epfd);
	free(l->w);
	xfree(l);
}

static struct watch *find(struct evloop *l, int fd)
{
	for (uint32_t i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd)
			return &l->w[i];
	return NULL;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, ev_fd_fn *fn, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct watch *w = NULL;
	uint32_t slot;

	if (fd < 0 || find(l, fd))
		return -EINVAL;
	for (slot = 0; slot < l->nw; slot++)
		if (l->w[slot].fd < 0)
			break;
	if (slot == l->nw) {
		struct watch *nw = realloc(l->w, (l->nw + 16) * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		l->w = nw;
		for (uint32_t i = l->nw; i < l->nw + 16; i++)
			l->w[i] = (struct watch){ .fd = -1 };
		l->nw += 16;
	}
	w = &l->w[slot];
	w->gen++;
	ev.data.u64 = ((uint64_t)w->gen << 32) | slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	return 0;
}

int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
	struct watch *w = find(l, fd);
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOENT;
	ev.data.u64 = ((uint64_t)w->gen << 32) | (uint32_t)(w - l->w);
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *l, int fd)
{
	struct watch *w = find(l, fd);

	if (!w)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1;
	w->gen++;
}

struct ev_timer *evloop_timer(struct evloop *l, uint64_t ms, ev_timer_fn *fn, void *arg)
{
	struct ev_timer *t = xcalloc(1, sizeof(*t)), **pp;

	if (!t)
		return NULL;
	t->due_ns = clk_now_ns() + ms * 1000000ull;
	t->fn = fn;
	t->arg = arg;
	for (pp = &l->timers; *pp && (*pp)->due_ns <= t->due_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return t;
}

void evloop_timer_cancel(struct evloop *l, struct ev_timer *t)
{
	for (struct ev_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			xfree(t);
			return;
		}
	}
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[32];
	int n, ran = 0;

	if (l->timers) {
		uint64_t now = clk_now_ns();
		int64_t left = (int64_t)(l->timers->due_ns - now);
		int t = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
		if (timeout_ms < 0 || t < timeout_ms)
			timeout_ms = t;
	}
	n = epoll_wait(l->epfd, evs, 32, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct watch *w;

		if (slot >= l->nw)
			continue;
		w = &l->w[slot];
		if (w->fd < 0 || w->gen != gen)
			continue; /* removed by an earlier callback in this batch */
		w->fn(w->arg, w->fd, evs[i].events);
		ran++;
		/* w may be stale now (realloc in a callback): do not touch it. */
	}
	while (l->timers && l->timers->due_ns <= clk_now_ns()) {
		struct ev_timer *t = l->timers;
		l->timers = t->next;
		t->fn(t->arg);
		xfree(t);
		ran++;
	}
	return ran;
}

int evloop_run(struct evloop *l)
{
	l->stop = false;
	while (!l->stop) {
		int r = evloop_run_once(l, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void evloop_stop(struct evloop *l)
{
	l->stop = true;
}
