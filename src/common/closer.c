/* closer.c - see closer.h.
 *
 * State: one mutex-guarded ring of (fd, owner) and up to CLOSER_THREADS
 * thread slots. Exactly one slot is "active" (takes work) unless every slot
 * holds a stuck thread. A slot's since_ns/owner say what its thread is
 * closing now (0: nothing); they are written by that thread under the
 * mutex and read by the supervisor under the mutex. The supervisor is not a
 * thread: the control thread runs it (supervise()) on each call, so a stuck
 * close is noticed as soon as somebody hands over more work or asks. */
#include "closer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "clk.h"
#include "vlog.h"

enum { STACK_BYTES = 128 * 1024 };

struct slot {
	bool used;              /* a thread exists (running or exited, not joined) */
	bool abandoned;         /* stuck: it exits when its close returns */
	bool exited;            /* the thread is done; join it */
	pthread_t th;
	uint64_t since_ns;      /* start of the close in progress, 0: none */
	uint64_t owner;         /* owner of that fd */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct {
		int fd;
		uint64_t owner;
	} q[CLOSER_QUEUE];
	unsigned head, tail;    /* free-running; count = head - tail */
	struct slot t[CLOSER_THREADS];
	int active;             /* slot taking work, -1: none */
	bool started, stopping, stopped;
	uint64_t closed, stuck, leaked;
} C = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.active = -1,
};

static _Atomic uint64_t next_owner;

uint64_t closer_owner_new(void)
{
	return atomic_fetch_add(&next_owner, 1) + 1;
}

static void *closer_main(void *arg)
{
	struct slot *s = arg;

	pthread_mutex_lock(&C.mu);
	for (;;) {
		while (!s->abandoned && C.head == C.tail && !C.stopping)
			pthread_cond_wait(&C.cv, &C.mu);
		if (s->abandoned || C.head == C.tail)
			break;
		unsigned i = C.tail++ % CLOSER_QUEUE;
		int fd = C.q[i].fd;
		s->owner = C.q[i].owner;
		s->since_ns = clk_now_ns();
		pthread_mutex_unlock(&C.mu);
		/* The only place a guest's fd is closed. EINTR leaves the fd
		 * closed on Linux: never retry. */
		close(fd);
		pthread_mutex_lock(&C.mu);
		s->since_ns = 0;
		s->owner = 0;
		C.closed++;
	}
	s->exited = true;
	pthread_mutex_unlock(&C.mu);
	return NULL;
}

/* Under C.mu: starts a thread in a free slot and makes it active. */
static void spawn_locked(void)
{
	pthread_attr_t a;

	for (int i = 0; i < CLOSER_THREADS; i++) {
		struct slot *s = &C.t[i];
		if (s->used)
			continue;
		*s = (struct slot){ 0 };
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, STACK_BYTES);
		if (pthread_create(&s->th, &a, closer_main, s) == 0) {
			s->used = true;
			C.active = i;
			pthread_setname_np(s->th, "vifd-closer");
		}
		pthread_attr_destroy(&a);
		return;
	}
}

/* Under C.mu: joins threads that are done, abandons the active thread if
 * its close is stuck, and makes sure a thread takes work if a slot is
 * free. Returns true when it has just abandoned a thread (to log it
 * outside the lock). */
static bool supervise_locked(uint64_t now)
{
	bool abandoned = false;

	for (int i = 0; i < CLOSER_THREADS; i++) {
		struct slot *s = &C.t[i];
		if (s->used && s->exited) {
			/* It only has to return: it no longer needs the mutex. */
			pthread_join(s->th, NULL);
			s->used = false;
			if (C.active == i)
				C.active = -1;
		}
	}
	if (C.active >= 0) {
		struct slot *s = &C.t[C.active];
		if (s->since_ns && now - s->since_ns > (uint64_t)CLOSER_STUCK_MS * 1000000) {
			s->abandoned = true;
			C.stuck++;
			C.active = -1;
			abandoned = true;
		}
	}
	if (C.active < 0 && !C.stopping)
		spawn_locked();
	return abandoned;
}

static void supervise(void)
{
	bool ab;

	pthread_mutex_lock(&C.mu);
	ab = supervise_locked(clk_now_ns());
	pthread_mutex_unlock(&C.mu);
	if (ab)
		VLOG_RL(LOG_WARNING, "closing a file a guest handed over has taken over %d ms: "
		        "leaving it to its thread, another one closes the rest", CLOSER_STUCK_MS);
}

int closer_start(void)
{
	int r = 0;

	pthread_mutex_lock(&C.mu);
	if (!C.started) {
		C.started = true;
		spawn_locked();
		if (C.active < 0) {
			C.started = false;
			r = -EAGAIN;
		}
	}
	pthread_mutex_unlock(&C.mu);
	return r;
}

void closer_put(int fd, uint64_t owner)
{
	bool ab, full;

	if (fd < 0)
		return;
	pthread_mutex_lock(&C.mu);
	if (C.stopped || !C.started) {
		/* Not running (exit path, or a program that never started
		 * it): nobody else is left to wait. */
		pthread_mutex_unlock(&C.mu);
		close(fd);
		return;
	}
	ab = supervise_locked(clk_now_ns());
	full = C.head - C.tail >= CLOSER_QUEUE;
	if (full) {
		C.leaked++;
	} else {
		C.q[C.head % CLOSER_QUEUE].fd = fd;
		C.q[C.head % CLOSER_QUEUE].owner = owner;
		C.head++;
		pthread_cond_broadcast(&C.cv);
	}
	pthread_mutex_unlock(&C.mu);
	if (ab)
		VLOG_RL(LOG_WARNING, "closing a file a guest handed over has taken over %d ms: "
		        "leaving it to its thread, another one closes the rest", CLOSER_STUCK_MS);
	if (full)
		VLOG_RL(LOG_ERR, "closer queue full (%d fds, every closer thread stuck): "
		        "leaving fd %d open", CLOSER_QUEUE, fd);
}

bool closer_congested(void)
{
	bool r;

	supervise();
	pthread_mutex_lock(&C.mu);
	r = C.started && !C.stopped &&
	    (C.active < 0 || CLOSER_QUEUE - (C.head - C.tail) < CLOSER_LOW_ROOM);
	pthread_mutex_unlock(&C.mu);
	return r;
}

bool closer_owner_stuck(uint64_t owner)
{
	uint64_t now = clk_now_ns();
	bool r = false;

	if (!owner)
		return false;
	supervise();
	pthread_mutex_lock(&C.mu);
	for (int i = 0; i < CLOSER_THREADS; i++) {
		const struct slot *s = &C.t[i];
		if (s->used && !s->exited && s->owner == owner && s->since_ns &&
		    now - s->since_ns > (uint64_t)CLOSER_STUCK_MS * 1000000)
			r = true;
	}
	pthread_mutex_unlock(&C.mu);
	return r;
}

void closer_get_stats(struct closer_stats *st)
{
	uint64_t now = clk_now_ns();

	pthread_mutex_lock(&C.mu);
	st->closed = C.closed;
	st->stuck = C.stuck;
	st->leaked = C.leaked;
	st->queued = C.head - C.tail;
	st->stuck_now = 0;
	for (int i = 0; i < CLOSER_THREADS; i++) {
		const struct slot *s = &C.t[i];
		if (s->used && !s->exited && s->since_ns &&
		    now - s->since_ns > (uint64_t)CLOSER_STUCK_MS * 1000000)
			st->stuck_now++;
	}
	pthread_mutex_unlock(&C.mu);
}

void closer_stop(unsigned wait_ms)
{
	uint64_t end = clk_now_ns() + (uint64_t)wait_ms * 1000000;

	pthread_mutex_lock(&C.mu);
	if (!C.started || C.stopped) {
		pthread_mutex_unlock(&C.mu);
		return;
	}
	/* The active thread drains the queue, then exits. */
	C.stopping = true;
	pthread_cond_broadcast(&C.cv);
	for (;;) {
		bool busy = false;
		for (int i = 0; i < CLOSER_THREADS; i++)
			if (C.t[i].used && !C.t[i].exited && !C.t[i].abandoned)
				busy = true;
		if (!busy || clk_now_ns() >= end)
			break;
		pthread_mutex_unlock(&C.mu);
		usleep(1000);
		pthread_mutex_lock(&C.mu);
	}
	for (int i = 0; i < CLOSER_THREADS; i++) {
		struct slot *s = &C.t[i];
		if (!s->used)
			continue;
		if (s->exited)
			pthread_join(s->th, NULL);
		else
			pthread_detach(s->th); /* stuck: the process exits around it */
		s->used = false;
	}
	C.active = -1;
	C.stopped = true;
	pthread_mutex_unlock(&C.mu);
}
