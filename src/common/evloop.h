/* evloop.h - the control thread's event loop: epoll over fds with callbacks,
 * plus one-shot timers. Used by the vhost-user sockets (src/vhost) and the
 * control socket (src/ctl). Single-threaded: every call is made from the
 * thread that runs evloop_run(), and callbacks run on it too. */
#ifndef VIFD_EVLOOP_H
#define VIFD_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct ev_timer;

/* events: EPOLLIN/EPOLLOUT/... as returned by epoll. */
typedef void ev_fd_fn(void *arg, int fd, uint32_t events);
typedef void ev_timer_fn(void *arg);

int evloop_create(struct evloop **out);
void evloop_destroy(struct evloop *l);

/* Watches fd for `events` (EPOLLIN, EPOLLOUT...). A fd is watched at most
 * once; evloop_mod changes the mask. Returns 0 or -errno. */
int evloop_add(struct evloop *l, int fd, uint32_t events, ev_fd_fn *fn, void *arg);
int evloop_mod(struct evloop *l, int fd, uint32_t events);
/* Stops watching fd; safe from inside a callback (also the fd's own). */
void evloop_del(struct evloop *l, int fd);

/* One-shot timer: fires fn(arg) once after ms milliseconds unless cancelled.
 * Returns NULL on allocation failure. A fired timer is freed by the loop. */
struct ev_timer *evloop_timer(struct evloop *l, uint64_t ms, ev_timer_fn *fn, void *arg);
void evloop_timer_cancel(struct evloop *l, struct ev_timer *t);

/* Runs until evloop_stop(); returns 0 or -errno. */
int evloop_run(struct evloop *l);
/* Runs callbacks ready within timeout_ms (-1 forever) once; returns the number run. */
int evloop_run_once(struct evloop *l, int timeout_ms);
void evloop_stop(struct evloop *l);

#endif
