/* qsbr.h - quiescent-state-based reclamation between the control thread and
 * the datapath workers (see ovs-rcu.h and DPDK rte_rcu_qsbr.h for the idea).
 *
 * Contract:
 *  - The writer (control thread) publishes a new pointer with a release store,
 *    then calls qsbr_synchronize(): when it returns, every registered reader
 *    has passed a quiescent state after the publication, so nothing still
 *    holds the old pointer and the writer may free or mutate what it named.
 *  - A reader (worker) calls qsbr_quiescent() once per loop iteration, at a
 *    point where it holds no pointer from the published structure, and
 *    brackets any blocking sleep with qsbr_offline()/qsbr_online(). After
 *    qsbr_online() it must reload published pointers.
 *  - Only one writer at a time (the control thread); readers are fixed at
 *    qsbr_register() time, before any synchronize.
 */
#ifndef VIFD_QSBR_H
#define VIFD_QSBR_H

#include <stdatomic.h>
#include <stdint.h>

#include "util.h"

enum { QSBR_MAX_THREADS = 64 };

/* One per reader; written by that reader only, read by the writer. */
struct qsbr_thread {
	_Atomic uint64_t seen; /* last epoch observed; 0 = offline */
} cache_aligned;

struct qsbr {
	_Atomic uint64_t epoch;                        /* written by the writer */
	struct qsbr_thread *threads[QSBR_MAX_THREADS]; /* set before readers start */
	unsigned nthreads;
};

void qsbr_init(struct qsbr *q);
/* Adds a reader; returns 0 or -ENOSPC. Call before the reader runs. */
int qsbr_register(struct qsbr *q, struct qsbr_thread *t);
/* Blocks (yielding) until every online reader has passed a quiescent state. */
void qsbr_synchronize(struct qsbr *q);
/* The same, but when reader i has not passed after timeout_ns, calls
 * stuck(arg, i) (and again every timeout_ns until it passes): a reader
 * blocked in a system call can be interrupted with a signal. */
void qsbr_synchronize_watch(struct qsbr *q, uint64_t timeout_ns,
                            void (*stuck)(void *arg, unsigned i), void *arg);

static inline void qsbr_quiescent(struct qsbr *q, struct qsbr_thread *t)
{
	atomic_store_explicit(&t->seen,
	                      atomic_load_explicit(&q->epoch, memory_order_acquire),
	                      memory_order_release);
}

static inline void qsbr_offline(struct qsbr_thread *t)
{
	atomic_store_explicit(&t->seen, 0, memory_order_release);
}

static inline void qsbr_online(struct qsbr *q, struct qsbr_thread *t)
{
	atomic_store_explicit(&t->seen, atomic_load(&q->epoch), memory_order_seq_cst);
	/* Order the store above before the reader's next loads of published
	 * pointers (store-load ordering needs a full fence). */
	atomic_thread_fence(memory_order_seq_cst);
}

#endif
