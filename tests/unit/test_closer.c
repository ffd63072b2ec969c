/* test_closer.c - the closer thread (closer.h) and the control thread's
 * deadline timer (wdog.h), with files whose close or write really blocks:
 *  - fds handed over are closed, in order, and nothing waits;
 *  - a close that sleeps (a TCP socket with SO_LINGER and unsent data to a
 *    peer that reads nothing) is found stuck, attributed to its owner, and
 *    other owners' fds are closed meanwhile by another thread; when the
 *    peer goes the close returns and the owner is no longer stuck;
 *  - a write to an eventfd whose counter is full and which blocks is cut
 *    short by the deadline timer (EINTR). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clk.h"
#include "closer.h"
#include "wdog.h"

/* A pipe's read end reports POLLHUP once its write end is closed. */
static bool closed_within(int rd, int ms)
{
	struct pollfd p = { .fd = rd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 && (p.revents & POLLHUP);
}

/* See tests/hostile/hostile.c linger_socket: the last close of *out sleeps
 * until *peer is closed (the connection is then reset). */
static bool linger_pair(int *out, int *peer, int *lsn)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct linger lg = { 1, 60 };
	int small = 4096, c, a, l;
	static char buf[65536];

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) < 0 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		return false;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) < 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return false;
	a = accept(l, NULL, NULL);
	if (a < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		return false;
	fcntl(c, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 4096 && send(c, buf, sizeof(buf), MSG_NOSIGNAL) > 0; i++)
		;
	fcntl(c, F_SETFL, 0);
	*out = c;
	*peer = a;
	*lsn = l;
	return true;
}

static void test_plain(void)
{
	uint64_t own = closer_owner_new();
	struct closer_stats st0, st;
	int p[8][2];

	CHECK(own != 0);
	CHECK(closer_owner_new() != own);
	closer_get_stats(&st0);
	closer_put(-1, own); /* ignored */
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(pipe(p[i]), 0);
		closer_put(p[i][1], own);
	}
	for (int i = 0; i < 8; i++) {
		CHECK(closed_within(p[i][0], 2000));
		close(p[i][0]);
	}
	/* The count moves just after each close returns. */
	for (int i = 0; i < 100; i++) {
		closer_get_stats(&st);
		if (st.closed - st0.closed >= 8)
			break;
		usleep(10000);
	}
	CHECK_EQ(st.closed - st0.closed, 8);
	CHECK(!closer_owner_stuck(own));
	CHECK(!closer_congested());
}

static void test_stuck(void)
{
	uint64_t bad = closer_owner_new(), good = closer_owner_new();
	struct closer_stats st0, st;
	int c, peer, lsn, p[2];
	uint64_t t0;

	if (!linger_pair(&c, &peer, &lsn)) {
		CHECKF(0, "cannot make a lingering socket: %s", strerror(errno));
		return;
	}
	closer_get_stats(&st0);
	t0 = clk_now_ns();
	closer_put(c, bad); /* the last reference: its close sleeps */
	CHECK(clk_now_ns() - t0 < 50000000ull); /* handing over never waits */
	usleep((CLOSER_STUCK_MS + 200) * 1000);
	CHECK(closer_owner_stuck(bad));
	CHECK(!closer_owner_stuck(good));
	/* Someone else's fd is closed all the same, by a fresh thread. */
	CHECK_EQ(pipe(p), 0);
	closer_put(p[1], good);
	CHECK(closed_within(p[0], 2000));
	close(p[0]);
	closer_get_stats(&st);
	CHECK_EQ(st.stuck - st0.stuck, 1);
	CHECK_EQ(st.stuck_now, 1);
	CHECK(!closer_congested());
	/* The peer goes: the connection is reset, the close returns. */
	close(peer);
	close(lsn);
	for (int i = 0; i < 50 && closer_owner_stuck(bad); i++)
		usleep(100000);
	CHECK(!closer_owner_stuck(bad));
	closer_get_stats(&st);
	CHECK_EQ(st.stuck_now, 0);
	CHECK_EQ(st.leaked, 0);
}

static void test_wdog(void)
{
	struct wdog w;
	uint64_t big = 0xfffffffffffffffeull, one = 1, t0;
	int efd = eventfd(0, EFD_CLOEXEC); /* blocking */
	ssize_t n;

	CHECK_EQ(wdog_init(&w), 0);
	CHECK_EQ(write(efd, &big, sizeof(big)), 8); /* full: the next write blocks */
	t0 = clk_now_ns();
	wdog_arm(&w, 100);
	n = write(efd, &one, sizeof(one));
	wdog_disarm(&w);
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, EINTR);
	CHECK(clk_now_ns() - t0 < 2000000000ull);
	/* Disarmed: a later blocking-free call is not interrupted. */
	usleep(200000);
	CHECK_EQ(read(efd, &big, sizeof(big)), 8);
	wdog_fini(&w);
	close(efd);
}

int main(void)
{
	CHECK_EQ(closer_start(), 0);
	CHECK_EQ(closer_start(), 0); /* idempotent */
	test_plain();
	test_stuck();
	test_wdog();
	closer_stop(1000);
	return check_result("test_closer");
}
