/* fuzz_vxlan.c - libFuzzer target: a VXLAN port's receive path (the
 * driver in src/port/vxlan.c, its socket and recvmmsg included) over
 * hostile datagrams. One port, VNI 100 for untagged frames and VNI 200 for
 * VLAN 10 (vni-map=10:200), listens on 127.0.0.1 at a port the kernel
 * picked; its remote endpoint is 127.0.0.2. Input:
 *   byte 0     bit 0: send from 127.0.0.3 (not a remote: must be dropped);
 *              bits 1-2: how many copies to send (1..4: bursts)
 *   bytes 1-   the datagram
 * After sending, the port's rx_burst is drained; every frame it hands
 * over must be exactly the datagram after its 8-byte header (VNI 200:
 * with a VLAN 10 tag after its MACs), tagged with remote 1, and only when
 * the rules (re-derived here) accept it; the counters must add up to the
 * copies sent. Copies of one datagram are never consecutive TCP segments,
 * so receive coalescing (ol_gro) merges none of them: a frame may only
 * gain DATA_VALID (its checksums verified). Any mismatch aborts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct port *port;
static int from_remote = -1, from_other = -1;
static uint8_t *slots;
static struct pkt pkts[32];

static void die(const char *why)
{
	fprintf(stderr, "fuzz_vxlan: %s\n", why);
	abort();
}

static int udp_from(const char *addr)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("sender socket");
	return fd;
}

/* A UDP port on 127.0.0.1 nobody uses now. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t p;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		die("free port");
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static void setup(void)
{
	static struct port_env env = { .broken_fd = -1 };
	struct port_vxlan_params vx = { .vni = 100, .has_vni = true, .vni_map = "10:200",
	                                .local = "127.0.0.1", .remote = "127.0.0.2" };
	struct port_params pp = { .type = "vxlan", .name = "fz", .queues = 1, .vx = &vx };
	char err[256];

	vx.dstport = free_port();
	if (port_open(&pp, &env, &port, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_vxlan: open: %s\n", err);
		abort();
	}
	from_remote = udp_from("127.0.0.2");
	from_other = udp_from("127.0.0.3");
	slots = malloc((size_t)32 * PORT_FRAME_MAX);
	if (!slots)
		die("memory");
}

/* The rules, restated: the I flag, a header and an Ethernet header, one
 * of the port's VNIs (1: untagged 100, 2: VLAN 10's 200; 0: refused). */
static int expect_ok(const uint8_t *d, size_t n)
{
	if (n < 8 + 14 || !(d[0] & 0x08) || d[4] || d[5])
		return 0;
	return d[6] == 100 ? 1 : d[6] == 200 ? 2 : 0;
}

/* The frame the port must hand over for datagram d of n bytes. */
static bool frame_is(const struct pkt *pk, const uint8_t *d, size_t n, int kind)
{
	const uint8_t *f = pk->seg[0].iov_base;
	static const uint8_t tag[4] = { 0x81, 0x00, 0x00, 10 };

	if (kind == 1)
		return pk->len == n - 8 && pk->seg[0].iov_len == n - 8 && !memcmp(f, d + 8, n - 8);
	return pk->len == n - 8 + 4 && pk->seg[0].iov_len == n - 8 + 4 && !memcmp(f, d + 8, 12) &&
	       !memcmp(f + 12, tag, 4) && !memcmp(f + 16, d + 20, n - 20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct port_info before, after;
	struct sockaddr_in to = { .sin_family = AF_INET };
	const uint8_t *d = data + 1;
	size_t n = size ? size - 1 : 0;
	unsigned copies, got = 0, idle = 0;
	bool other;
	int fd;

	if (!port)
		setup();
	if (!size || n > 65507)
		return 0;
	other = data[0] & 1;
	copies = 1 + ((data[0] >> 1) & 3);
	fd = other ? from_other : from_remote;
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	memset(&before, 0, sizeof(before));
	port->ops->info(port, &before);
	to.sin_port = htons(before.vx_dstport);
	for (unsigned c = 0; c < copies; c++)
		if (sendto(fd, d, n, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)n)
			die("sendto");
	/* Loopback delivers at once; the counters say when all are in. */
	for (;;) {
		int k = port->ops->rx_burst(port, 0, pkts, 32, slots);
		uint64_t seen;

		if (k < 0)
			die("rx_burst broke");
		for (int i = 0; i < k; i++) {
			if (other || !expect_ok(d, n))
				die("a datagram the rules refuse was handed over");
			if (pkts[i].rem != 1 || pkts[i].nseg != 1 ||
			    !frame_is(&pkts[i], d, n, expect_ok(d, n)))
				die("the frame handed over is not the datagram's");
			if (pkts[i].ol.gso_type || (pkts[i].ol.flags & ~VIRTIO_NET_HDR_F_DATA_VALID))
				die("a copy was coalesced or given offload metadata");
			got++;
		}
		memset(&after, 0, sizeof(after));
		port->ops->info(port, &after);
		seen = (after.vx_decap - before.vx_decap) + (after.vx_bad - before.vx_bad) +
		       (after.vx_unknown_vni - before.vx_unknown_vni) +
		       (after.vx_unknown_remote - before.vx_unknown_remote);
		if (seen == copies)
			break;
		if (seen > copies || ++idle > 100000)
			die("counters do not add up to the datagrams sent");
	}
	if (got != (other || !expect_ok(d, n) ? 0 : copies))
		die("frames handed over: wrong count");
	if (other && after.vx_unknown_remote - before.vx_unknown_remote != copies)
		die("a stranger's datagrams not counted as unknown_remote");
	return 0;
}
