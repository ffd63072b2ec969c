/* closer.h - closes the file descriptors vifd received from guests, on a
 * thread of its own.
 *
 * Why: close() of the last reference to a file runs the file's release
 * code in the caller, and a guest chooses what that is. The last reference
 * to a TCP socket with SO_LINGER and unsent data sleeps for the linger
 * time; a file on a FUSE mount sleeps, uninterruptibly, until the FUSE
 * server answers FLUSH, which the frontend serving it may never do. Even
 * closing vifd's own end of a vhost-user connection drops the fds still
 * queued in it. On the control thread any of these would freeze every
 * port's messages, vifctl and housekeeping; here it freezes one thread.
 *
 * How: closer_put() appends (fd, owner) to a bounded queue and returns at
 * once; the closer thread closes them in order. When the closer thread has
 * been inside one close() for longer than CLOSER_STUCK_MS, it is abandoned
 * (it exits when its close returns) and a fresh thread takes the queue
 * over; at most CLOSER_THREADS threads exist at a time, stuck ones
 * included. So one wedged close costs one thread (about 64 KiB of stack
 * reserved, little of it touched) and the fd it holds, never the queue.
 *
 * Bounds: the queue holds CLOSER_QUEUE fds. closer_congested() says when
 * fewer than CLOSER_LOW_ROOM places are left or no thread can take work
 * (all CLOSER_THREADS stuck): callers stop accepting new fds from guests
 * (vhu stops reading its connections) until it clears. If the queue is
 * full all the same, the fd is left open and counted (`leaked`): closing it
 * here might block, and no caller may wait.
 *
 * Owners: each fd carries the id of the device it came from (an opaque
 * 64-bit number, closer_owner_new()). closer_owner_stuck() tells whether a
 * close of that owner's fd has been running for longer than
 * CLOSER_STUCK_MS, so the vhost layer can keep that guest off (drop its
 * connection, stop accepting a new one) until it returns: one frontend
 * cannot wedge thread after thread.
 *
 * Threads: closer_put, closer_congested, closer_owner_stuck, closer_stats
 * and closer_stop are called from the control thread (any one thread at a
 * time would do: a mutex guards the queue, never held across a close()).
 * The process has one closer; closer_start() is idempotent. */
#ifndef VIFD_CLOSER_H
#define VIFD_CLOSER_H

#include <stdbool.h>
#include <stdint.h>

enum {
	CLOSER_QUEUE = 4096,    /* fds waiting to be closed, at most */
	CLOSER_LOW_ROOM = 1024, /* congested below this many free places */
	CLOSER_THREADS = 8,     /* closer threads, stuck ones included */
	CLOSER_STUCK_MS = 500,  /* a close running longer than this is stuck */
};

struct closer_stats {
	uint64_t closed;        /* fds closed */
	uint64_t stuck;         /* closes found stuck (threads abandoned) */
	uint64_t leaked;        /* fds left open because the queue was full */
	unsigned queued;        /* fds waiting now */
	unsigned stuck_now;     /* threads inside a stuck close now */
};

/* Starts the closer thread (idempotent). 0 or -errno. */
int closer_start(void);
/* A new owner id (never 0). */
uint64_t closer_owner_new(void);
/* Hands fd over to be closed; never blocks. fd < 0 is ignored. */
void closer_put(int fd, uint64_t owner);
/* True while new fds should not be taken from guests (see above). */
bool closer_congested(void);
/* True while a close of one of owner's fds has been running for longer
 * than CLOSER_STUCK_MS. */
bool closer_owner_stuck(uint64_t owner);
void closer_get_stats(struct closer_stats *st);
/* Closes what is queued (waiting at most wait_ms for the closer thread)
 * and stops the threads that are not stuck. For a clean exit. */
void closer_stop(unsigned wait_ms);

#endif
