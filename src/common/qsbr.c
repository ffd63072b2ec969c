/* qsbr.c - see qsbr.h. */
#include "qsbr.h"

#include <errno.h>
#include <sched.h>

#include "clk.h"

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

void qsbr_synchronize_watch(struct qsbr *q, uint64_t timeout_ns,
                            void (*stuck)(void *arg, unsigned i), void *arg)
{
	uint64_t target = atomic_fetch_add(&q->epoch, 1) + 1;

	/* The caller's release store of the new pointer must be ordered
	 * before our loads of the readers' states (store-load). */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < q->nthreads; i++) {
		uint64_t deadline = stuck ? clk_now_ns() + timeout_ns : 0;
		for (;;) {
			uint64_t s = atomic_load(&q->threads[i]->seen);
			if (s == 0 || s >= target)
				break;
			if (stuck && clk_now_ns() >= deadline) {
				stuck(arg, i);
				deadline = clk_now_ns() + timeout_ns;
			}
			sched_yield();
		}
	}
}

void qsbr_synchronize(struct qsbr *q)
{
	qsbr_synchronize_watch(q, 0, NULL, NULL);
}
