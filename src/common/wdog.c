/* wdog.c - see wdog.h. */
#include "wdog.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static void nop_handler(int sig)
{
	(void)sig;
}

int wdog_init(struct wdog *w)
{
	struct sigaction old, sa;
	struct sigevent sev;

	w->ok = false;
	/* The datapath installs the same handler for its workers; without
	 * one, SIGUSR1 would end the process. */
	if (sigaction(SIGUSR1, NULL, &old) < 0)
		return -errno;
	if (!(old.sa_flags & SA_SIGINFO) &&
	    (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = nop_handler; /* no SA_RESTART: the call fails */
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL) < 0)
			return -errno;
	}
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR1;
	sev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &w->timer) < 0)
		return -errno;
	w->ok = true;
	return 0;
}

void wdog_arm(struct wdog *w, unsigned ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = ms / 1000,
	                                        .tv_nsec = (long)(ms % 1000) * 1000000 } };

	if (w->ok)
		timer_settime(w->timer, 0, &its, NULL);
}

void wdog_disarm(struct wdog *w)
{
	struct itimerspec its = { 0 };

	if (w->ok)
		timer_settime(w->timer, 0, &its, NULL);
}

void wdog_fini(struct wdog *w)
{
	if (w->ok)
		timer_delete(w->timer);
	w->ok = false;
}
