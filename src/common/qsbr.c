/* qsbr.c - see qsbr.h. */
#include "qsbr.h"

#include <errno.h>
#include <sched.h>

void qsbr_init(struct qsbr *q)
{
	atomic_init(&q->epoch, 1);
	q->nthreads = 0;
}

int qsbr_register(struct qsbr *q, struct qsbr_thread *t)
{
	if (q->nthreads >= QSBR_MAX_THREADS)
		return -ENOSPC;
	atomic_init(&t->seen, 0);
	q->threads[q->nthreads++] = t;
	return 0;
}

void qsbr_synchronize(struct qsbr *q)
{
	uint64_t target = atomic_fetch_add(&q->epoch, 1) + 1;

	for (unsigned i = 0; i < q->nthreads; i++) {
		for (;;) {
			uint64_t s = atomic_load(&q->threads[i]->seen);
			if (s == 0 || s >= target)
				break;
			sched_yield();
		}
	}
}
