/* dp_worker.c - the datapath worker: a pinned thread that polls the receive
 * queues of the ports assigned to it in bursts of DP_BURST, through each
 * port's driver (src/port: the worker never asks what kind a port is), has
 * every burst switched (dp_switch.c: classification, then one delivery per
 * destination), then tells the source's driver it is done with the burst
 * (a guest gets its buffers back). When nothing moved for its spin window
 * it asks the drivers to wake it (a guest's kick, a kernel queue's file)
 * and sleeps in epoll, so an idle vifd uses no CPU. The window follows the
 * traffic (adapt_spin): dense arrivals keep the worker polling (no
 * notifications, no wake-ups), sparse ones let it sleep at once, so a
 * paced stream costs CPU in proportion to its rate. After sending to a
 * port that usually answers soon (dp_reply.h), it polls for the answer
 * rather than sleep, so a round trip pays one wake-up, not two.
 *
 * A port with an ingress limit gives up only as many frames as its buckets
 * admit: the first one refused is handed back to the driver (it stays in
 * the guest's ring, or in the kernel port's carry buffer) and the queue is
 * not polled again until the buckets have refilled a useful amount, so the
 * rest waits where it is (backpressure: excess costs vifd nothing).
 *
 * Security model: see the drivers and dp_switch.c. A driver that finds its
 * port broken (a ring error) marks it and wakes the control thread; the
 * worker counts it and goes on with every other port.
 *
 * No allocation, lock (other than per-burst locks on shared queues and
 * buckets) or syscall per packet between vhost-user ports: the syscalls are
 * the call eventfd writes (per burst and ring, when the guest asked) and
 * the epoll sleep; kernel ports add their own (one per frame today). */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "dp_impl.h"
#include "vlog.h"

#define STAT_ADD(w, port, field, v) \
	atomic_fetch_add_explicit(&(w)->st[(port)].field, (v), memory_order_relaxed)

/* Whether polled queue slot waits for its ingress limit's tokens. */
static inline bool held(struct dp_worker *w, unsigned slot, uint64_t qnow)
{
	if (!w->ready[slot].on)
		return false;
	if (qos_diff(w->ready[slot].t, qnow) > 0)
		return true;
	w->ready[slot].on = false;
	return false;
}

/* Receives up to DP_BURST frames of queue pl while its port's ingress
 * limit admits them, one at a time: the frame that does not pass is handed
 * back to the driver (it comes out first next time) and the queue is held
 * until the buckets have refilled, so the rest waits in the guest's ring or
 * the kernel's queue, which drops when full. (Dropping here instead, a
 * policer, starves TCP on a path with a microsecond RTT: its
 * retransmissions find the bucket empty again and it falls back to RTOs.)
 * Returns the frames received, or -1 if the port broke. */
static int rx_limited(struct dp_worker *w, const struct dp_conf_port *scp,
                      const struct dp_poll *pl, unsigned slot, uint64_t qnow)
{
	struct dp_port *sp = scp->port;
	bool shared = w->dp->nworkers > 1, pass;
	struct qos_batch bt;
	unsigned n = 0;

	while (n < DP_BURST) {
		struct pkt *pk = &w->burst[n];
		int r = port_rx_burst(pl->drv, pl->q, pk, 1, w->kbuf + (size_t)n * PORT_FRAME_MAX);

		if (r <= 0)
			return r < 0 ? r : (int)n;
		/* The bucket is shared with the port's other queues: one
		 * admission per frame, each under the (multi-worker) lock. */
		qos_lock(&sp->qin, shared);
		qos_begin(&scp->qin, &sp->qin, qnow, &bt);
		pass = qos_take(&scp->qin, &bt, pk->len);
		qos_end(&sp->qin, &bt);
		qos_unlock(&sp->qin, shared);
		if (!pass) {
			pl->drv->ops->rx_keep(pl->drv, pl->q, pk, 1);
			/* (at least a moment ahead: a held queue is one the
			 * worker does not poll until then, and its frame is
			 * kept until then whatever the rounding) */
			uint64_t t = qos_ready(&scp->qin, &bt, pk->len);
			w->ready[slot].t = qos_diff(t, qnow) > 0 ? t : qnow + 1;
			w->ready[slot].on = true;
			w->nheld++;
			STAT_ADD(w, sp->id, ingress_held, 1);
			return (int)n;
		}
		n++;
	}
	return (int)n;
}

/* After a burst towards a congested port (w->hold_on): polled queue slot of
 * port src_port waits until qos time w->hold (or its ingress limit's time,
 * if later). */
static void hold_queue(struct dp_worker *w, unsigned src_port, unsigned slot)
{
	if (!w->ready[slot].on || qos_diff(w->hold, w->ready[slot].t) > 0)
		w->ready[slot].t = w->hold;
	w->ready[slot].on = true;
	w->nheld++;
	STAT_ADD(w, src_port, share_held, 1);
}

void dp_pend_add(struct dp_worker *w, const struct dp_conf *conf, unsigned dst, unsigned q,
                 uint64_t qnow)
{
	uint64_t due = qnow + conf->ports[dst].coal.hold;

	if (w->pend_on[dst][q])
		return;
	if (!w->npend) {
		w->pend_gen = conf->gen;
		w->pend_due = due;
	} else if (qos_diff(due, w->pend_due) < 0) {
		w->pend_due = due;
	}
	w->pend_on[dst][q] = 1;
	w->pend[w->npend++] = (struct dp_pend){ .drv = conf->ports[dst].drv, .due = due,
	                                        .port = (uint16_t)dst, .q = (uint16_t)q };
}

/* Sends the held interrupts that are due (all of them with force). */
static void flush_calls(struct dp_worker *w, uint64_t qnow, bool force)
{
	unsigned k = 0;

	for (unsigned i = 0; i < w->npend; i++) {
		struct dp_pend *e = &w->pend[i];
		uint32_t calls = 0;
		uint64_t due = 0;
		bool still = e->drv->ops->tx_flush(e->drv, e->q, qnow, force, &calls, &due);

		if (calls)
			STAT_ADD(w, e->port, tx_calls, calls);
		/* (forced: whatever the driver says, this worker is done with
		 * the queue: it is about to sleep offline or pass a quiescent
		 * point) */
		if (!still || force) {
			w->pend_on[e->port][e->q] = 0;
			continue;
		}
		/* Due when the ring says: another worker may have sent its call
		 * and held a new one since. */
		e->due = qos_diff(due, qnow) > 0 ? due : qnow + qos_time(1000);
		if (!k || qos_diff(e->due, w->pend_due) < 0)
			w->pend_due = e->due;
		w->pend[k++] = *e;
	}
	w->npend = k;
}

/* Starts loading the lines of a received frame that classification reads
 * (its first PKT_HEAD bytes), so that a burst's cache misses overlap
 * instead of coming one frame at a time. */
static inline void prefetch_head(const struct pkt *pk)
{
	if (!pk->nseg)
		return;
	__builtin_prefetch(pk->seg[0].iov_base);
	if (pk->seg[0].iov_len > 64)
		__builtin_prefetch((const uint8_t *)pk->seg[0].iov_base + 64);
}

/* Polls one receive queue (conf->poll[w->id][slot]): returns frames taken. */
static unsigned poll_queue(struct dp_worker *w, const struct dp_conf *conf, unsigned slot,
                           uint32_t now_s, uint64_t qnow)
{
	const struct dp_poll *pl = &conf->poll[w->id][slot];
	const struct dp_conf_port *scp = &conf->ports[pl->port];
	int n;

	if (held(w, slot, qnow)) {
		w->nheld++;
		return 0;
	}
	if (scp->qin.on)
		n = rx_limited(w, scp, pl, slot, qnow);
	else
		n = port_rx_burst(pl->drv, pl->q, w->burst, DP_BURST, w->kbuf);
	if (n <= 0) {
		if (unlikely(n < 0))
			STAT_ADD(w, pl->port, ring_errors, 1);
		return 0;
	}
	for (int i = 0; i < n; i++)
		prefetch_head(&w->burst[i]);
	/* Frames a congested port refuses at the end of the burst may stay
	 * with the source (a guest's ring), unless its ingress limit has
	 * charged them already. */
	w->can_keep = pl->drv->ops->keeps_bursts && !scp->qin.on;
	w->defer = pl->drv->ops->rx_in_ring;
	dp_switch_burst(w, conf, scp, pl->q, (unsigned)n, now_s, qnow);
	if (w->hold_on) {
		hold_queue(w, pl->port, slot);
		if (w->keep) {
			n -= (int)w->keep;
			pl->drv->ops->rx_keep(pl->drv, pl->q, &w->burst[n], w->keep);
		}
	}
	if (n)
		pl->drv->ops->rx_done(pl->drv, pl->q, w->burst, (unsigned)n);
	/* Only now may the receivers see the frames (port.h rx_in_ring). */
	if (w->ncommit)
		dp_commit(w, conf, qnow);
	return (unsigned)n;
}

/* Rebuilds the epoll set for a new snapshot: the wake eventfd plus every
 * polled ring's kick eventfd. Called only when the snapshot changes.
 *
 * Kick eventfds belong to the guest: vifd never reads them (a read could
 * block if the guest cleared O_NONBLOCK and drained the counter first, or
 * hit a reused fd number after the control thread closed it). They are
 * watched edge-triggered instead: every kick is a new edge, and the
 * counter's value means nothing to us. Only our own wakefd is read.
 * A kernel port's queue files are edge-triggered too: the worker sleeps
 * only after a poll found them empty (or while their ingress limit holds
 * them: then frames left in the kernel's queue must not wake it), and every
 * frame the kernel queues after that is a new edge. */
static void epoll_rebuild(struct dp_worker *w, const struct dp_conf *conf)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return; /* then the worker only busy-polls */
	ev.data.fd = w->wakefd;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
	for (unsigned i = 0; i < conf->npoll[w->id]; i++) {
		const struct dp_poll *pl = &conf->poll[w->id][i];
		int fd = pl->drv->ops->queue_fd(pl->drv, pl->q);
		if (fd < 0)
			continue;
		ev.data.fd = fd;
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	w->epgen = conf->gen;
	atomic_store_explicit(&w->nqueues, conf->npoll[w->id], memory_order_relaxed);
}

/* Prepares to sleep: asks every polled queue's driver to wake the worker
 * when frames come (a driver looks again after asking: a frame may have
 * arrived before the guest saw the request). Queues held by their ingress
 * limit are not asked: the sleep ends when the first of them has tokens
 * again (*wait_ns, or -1: no such queue). A queue with no file to wake the
 * worker (a guest ring set up without a kick fd, VHOST_USER_VRING_NOFD_MASK)
 * can tell us nothing: it is looked at every DP_NOFD_POLL_NS, so such a
 * ring costs a timed wake-up, not a core. Returns false if there is work. */
static bool may_sleep(struct dp_worker *w, const struct dp_conf *conf, uint64_t qnow,
                      int64_t *wait_ns)
{
	bool ok = w->epfd >= 0, nofd = false;

	*wait_ns = -1;
	for (unsigned i = 0; i < conf->npoll[w->id]; i++) {
		const struct dp_poll *pl = &conf->poll[w->id][i];
		if (held(w, i, qnow)) {
			int64_t d = qos_diff(w->ready[i].t, qnow) >> QOS_SHIFT;
			if (*wait_ns < 0 || d < *wait_ns)
				*wait_ns = d;
			continue;
		}
		if (pl->drv->ops->queue_fd(pl->drv, pl->q) < 0)
			nofd = true;
		if (!pl->drv->ops->rx_arm(pl->drv, pl->q, true))
			ok = false;
	}
	if (nofd && (*wait_ns < 0 || *wait_ns > DP_NOFD_POLL_NS))
		*wait_ns = DP_NOFD_POLL_NS;
	return ok;
}

static void wakeups_off(struct dp_worker *w, const struct dp_conf *conf)
{
	for (unsigned i = 0; i < conf->npoll[w->id]; i++) {
		const struct dp_poll *pl = &conf->poll[w->id][i];
		pl->drv->ops->rx_arm(pl->drv, pl->q, false);
	}
}

/* Sleeps until a kick, a wake-up from the control thread, or wait_ns
 * (-1: a second, to look at the clock-driven work now and then). Returns
 * the number of events (0: the time ran out). */
static int sleep_on_kicks(struct dp_worker *w, int64_t wait_ns, bool online)
{
	struct epoll_event evs[32];
	struct timespec ts;
	uint64_t v;
	int n;

	if (wait_ns < 0)
		wait_ns = 1000000000;
	ts.tv_sec = (time_t)(wait_ns / 1000000000);
	ts.tv_nsec = (long)(wait_ns % 1000000000);
	atomic_fetch_add_explicit(&w->sleeps, 1, memory_order_relaxed);
	if (!online)
		qsbr_offline(&w->qs);
	n = epoll_pwait2(w->epfd, evs, 32, &ts, NULL);
	if (n < 0 && errno == ENOSYS) /* kernels before 5.11: ms resolution */
		n = epoll_wait(w->epfd, evs, 32, (int)((wait_ns + 999999) / 1000000));
	if (!online)
		qsbr_online(&w->dp->qsbr, &w->qs);
	for (int i = 0; i < n; i++)
		if (evs[i].data.fd == w->wakefd && read(w->wakefd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another wake-up drained it */
		}
	return n;
}

/* Counts an iteration or a sleep for the control thread's watchdog
 * (dp_port.c): a worker that is awake and has done neither since the last
 * look is blocked in a system call. */
static inline void progress(struct dp_worker *w)
{
	atomic_store_explicit(&w->loops, atomic_load_explicit(&w->loops, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

/* The spin window after gap_ns without work ended with work: a gap short
 * enough to be worth polling through doubles the window (from
 * DP_SPIN_MIN_NS, up to DP_IDLE_NS), a longer one halves it. A periodic
 * stream with gaps longer than DP_SPIN_WORTH_NS drives it to 0 within a
 * few frames (each frame then costs one wake-up, not a spin through the
 * gap); a burst of dense traffic brings it back within a few gaps. */
static inline uint64_t adapt_spin(uint64_t spin_ns, uint64_t gap_ns)
{
	if (gap_ns > DP_SPIN_WORTH_NS)
		return spin_ns / 2;
	spin_ns = spin_ns < DP_SPIN_MIN_NS / 2 ? DP_SPIN_MIN_NS : spin_ns * 2;
	return spin_ns > DP_IDLE_NS ? DP_IDLE_NS : spin_ns;
}

void *dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp *dp = w->dp;
	const struct dp_conf *conf;
	uint64_t last_work_ns, last_busy_ns, spin_ns = DP_IDLE_NS, reply_win = 0;
	unsigned first = 0, np;
	bool was_idle = false, slept = false;

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			vlog_warn("worker %u: cannot pin to CPU %d", w->id, w->cpu);
	}
	clk_tsc_init(&w->clk);
	last_work_ns = last_busy_ns = clk_tsc_now(&w->clk, clk_cycles());
	qsbr_online(&dp->qsbr, &w->qs);
	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		uint64_t t0 = clk_cycles(), now_ns = clk_tsc_now(&w->clk, t0);
		uint64_t qnow = dp_qos_now(dp, now_ns);
		uint32_t now_s = dp_now_s(dp, now_ns);
		unsigned moved = 0;

		conf = atomic_load_explicit(&dp->conf, memory_order_acquire);
		if (conf->gen != w->epgen) {
			epoll_rebuild(w, conf);
			wakeups_off(w, conf);
			memset(w->ready, 0, sizeof(w->ready[0]) * conf->npoll[w->id]);
		}
		/* Each iteration starts at the next queue, so that no guest is
		 * always first to the room a slow receiver has just freed. */
		w->nheld = 0;
		dp_reply_begin(&w->reply);
		np = conf->npoll[w->id];
		first = np ? (first + 1) % np : 0;
		uint64_t tq = t0, t1;
		for (unsigned k = 0, i = first; k < np; k++, i = i + 1 == np ? 0 : i + 1) {
			unsigned m = poll_queue(w, conf, i, now_s, qnow);

			/* Each queue's cost (the cycles and frames of its polls
			 * that took frames): what placement goes by. */
			t1 = clk_cycles();
			if (m) {
				const struct dp_poll *pl = &conf->poll[w->id][i];
				struct dp_qstat *qs = &w->qst[pl->port][pl->q];
				atomic_fetch_add_explicit(&qs->cycles, t1 - tq, memory_order_relaxed);
				atomic_fetch_add_explicit(&qs->pkts, m, memory_order_relaxed);
				dp_reply_rx(&w->reply, pl->port);
				moved += m;
			}
			tq = t1;
		}

		uint64_t dt = tq - t0;
		if (moved) {
			atomic_fetch_add_explicit(&w->busy_cycles, dt, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->pkts, moved, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->busy_iters, 1, memory_order_relaxed);
			if (was_idle) {
				spin_ns = adapt_spin(spin_ns, now_ns - last_busy_ns);
				dp_reply_learn(&w->reply, now_ns - last_busy_ns);
				if (reply_win)
					atomic_fetch_add_explicit(slept ? &w->answers_missed : &w->answers_caught,
					                          1, memory_order_relaxed);
			}
			slept = false;
			reply_win = dp_reply_window(&w->reply);
			was_idle = false;
			last_work_ns = last_busy_ns = now_ns;
		} else {
			int64_t wait_ns;

			atomic_fetch_add_explicit(&w->idle_cycles, dt, memory_order_relaxed);
			was_idle = true;
			/* Poll for the longest of the adaptive window, an
			 * expected answer's and the bridge's busy-poll. Queues
			 * held by their ingress limit have work whose time is
			 * known: sleep until then at once rather than poll (the
			 * other queues kick). */
			uint64_t win = MAX(MAX(spin_ns, reply_win), conf->busy_poll_ns);

			if (w->nheld || now_ns - last_work_ns > win) {
				bool online = w->npend != 0;

				if (may_sleep(w, conf, qnow, &wait_ns)) {
					/* A held interrupt: sleep at most until it is
					 * due, and stay online (its driver is used
					 * after the sleep; a publication wakes us). */
					if (online) {
						int64_t d = qos_diff(w->pend_due, qnow) >> QOS_SHIFT;
						d = d > 0 ? d : 0;
						if (wait_ns < 0 || d < wait_ns)
							wait_ns = d;
					}
					int ev = sleep_on_kicks(w, wait_ns, online);
					slept = true;
					const struct dp_conf *cur =
						atomic_load_explicit(&dp->conf, memory_order_acquire);
					if (cur->gen == w->epgen)
						wakeups_off(w, cur);
					/* Woken by an event: poll a while before the
					 * next sleep. Woken by the clock (a held
					 * queue's tokens, a ring without a kick fd):
					 * one look, then sleep again at once. */
					last_work_ns = ev > 0 ? clk_tsc_now(&w->clk, clk_cycles()) : 0;
					if (!online) {
						progress(w);
						continue; /* qsbr already passed (offline) */
					}
				} else {
					wakeups_off(w, conf);
					last_work_ns = now_ns;
				}
			}
		}
		/* Held interrupts: those due go now; all of them once a newer
		 * snapshot is out (their drivers are safe to use until this
		 * worker passes a quiescent point, which it does only without
		 * any held). */
		if (w->npend) {
			const struct dp_conf *cur = atomic_load_explicit(&dp->conf, memory_order_acquire);
			flush_calls(w, dp_qos_now(dp, clk_tsc_now(&w->clk, clk_cycles())),
			            cur->gen != w->pend_gen);
		}
		if (!w->npend)
			qsbr_quiescent(&dp->qsbr, &w->qs);
		progress(w);
	}
	if (w->npend)
		flush_calls(w, 0, true);
	qsbr_offline(&w->qs);
	return NULL;
}
