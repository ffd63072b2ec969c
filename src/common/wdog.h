/* wdog.h - a deadline for one system call that may block on a file a guest
 * controls, made on a thread that must not block (the control thread).
 *
 * A guest shares its eventfds with vifd and can make a write to one block:
 * it clears O_NONBLOCK on the (shared) file and saturates the counter. The
 * workers are covered by the datapath's watchdog (dp_port.c worker_stuck);
 * the control thread cannot watch itself, so it arms a one-shot POSIX
 * timer before the call: when it expires, the kernel sends SIGUSR1 to this
 * very thread, whose handler does nothing and is installed without
 * SA_RESTART, so the call fails with EINTR. Disarming after the call needs
 * no care about a late signal: it is delivered (and ignored) on the way
 * back from the disarming system call, never in a later one.
 *
 * A struct wdog belongs to the thread that called wdog_init(). */
#ifndef VIFD_WDOG_H
#define VIFD_WDOG_H

#include <stdbool.h>
#include <time.h>

struct wdog {
	bool ok;        /* the timer exists */
	timer_t timer;
};

/* Creates w's timer for the calling thread and makes sure SIGUSR1 has a
 * handler that interrupts system calls. 0 or -errno (then arm/disarm do
 * nothing: calls are not bounded). */
int wdog_init(struct wdog *w);
void wdog_arm(struct wdog *w, unsigned ms);
void wdog_disarm(struct wdog *w);
void wdog_fini(struct wdog *w);

#endif
