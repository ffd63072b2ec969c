/* ctrlq_client.c - two libvif frontends in one process, driven line by line
 * on stdin, for tests/integration/060-ctrl-queue.sh. Frontend A opens with
 * the control queue (cfg.ctrl_vq) and --queues pairs; frontend B (--peer,
 * no control queue, 4 pairs) is the other end of the traffic. Keeping both
 * open between commands lets the script look at `vifctl -j show` after
 * each control command.
 *
 *   ctrlq_client --sock A.sock --peer B.sock [--queues N] [--id K]
 *
 * A's MAC is 02:00:00:K:0a:01 and B's 02:00:00:K:0b:01 (K = --id, default
 * 0), so several clients on one vifd do not share addresses.
 *
 * Prints "READY ctrl=0|1 pairs=N features=0x..." once both are open, then
 * one line per command: "ok ..." or "err ERRNAME text".
 *   mq N                 vif_ctrl_mq_pairs(A, N)
 *   raw-mq N             VQ_PAIRS_SET(N) as sent, even out of range (libvif
 *                        would refuse it; the device must answer ERR)
 *   rx promisc|allmulti on|off   vif_ctrl_rx(A, ...)
 *   rarp                 SEND_RARP with A's MAC (as QEMU after a migration)
 *   send Q N             N frames A -> B on A's pair Q; "ok total=T"
 *   recv N               N frames B -> A on each of B's pairs;
 *                        "ok total=T q0=.. q1=.. ..." (A's rx pair counts)
 *   quit
 * Frames: 64 bytes, ethertype 0x88b6, magic "CTRQ"; only those count.
 * Exit status: 0 after quit or end of input, 1 if an endpoint failed to
 * open, 2 on a usage error. */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_net.h>

#include "clk.h"
#include "vif_impl.h" /* vif_ctrl_cmd: commands libvif itself refuses */

enum {
	CQ_ETHERTYPE = 0x88b6,
	CQ_FRAME = 64,
	CQ_BURST = 32,
	CQ_WAIT_MS = 5000,
	CQ_PEER_PAIRS = 4,
};

static uint8_t mac_a[6] = { 2, 0, 0, 0, 0x0a, 1 };
static uint8_t mac_b[6] = { 2, 0, 0, 0, 0x0b, 1 };
static const uint8_t magic[4] = { 'C', 'T', 'R', 'Q' };

static void frame_fill(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t seq)
{
	memset(f, 0, CQ_FRAME);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = CQ_ETHERTYPE >> 8;
	f[13] = CQ_ETHERTYPE & 0xff;
	memcpy(f + 14, magic, 4);
	memcpy(f + 18, &seq, 4);
}

static bool frame_ours(const uint8_t *f, uint32_t len, const uint8_t *dst)
{
	return len >= 18 && !memcmp(f, dst, 6) && f[12] == (CQ_ETHERTYPE >> 8) &&
	       f[13] == (CQ_ETHERTYPE & 0xff) && !memcmp(f + 14, magic, 4);
}

static void nap(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 }, NULL);
}

/* Takes whatever v has received on all pairs; counts our frames to `dst`
 * per pair in per_q (may be NULL). Returns the count or -errno. */
static long rx_all(struct vif *v, const uint8_t *dst, uint64_t *per_q)
{
	static uint8_t bufs[CQ_BURST][2048];
	struct vif_pkt p[CQ_BURST];
	long got = 0;

	for (unsigned q = 0; q < vif_queue_pairs(v); q++) {
		int n;

		do {
			for (unsigned i = 0; i < CQ_BURST; i++)
				p[i] = (struct vif_pkt){ .data = bufs[i], .len = sizeof(bufs[i]) };
			n = vif_rx_burst(v, q, p, CQ_BURST);
			if (n < 0)
				return n;
			for (int i = 0; i < n; i++) {
				if (!frame_ours(bufs[i], p[i].len, dst))
					continue;
				got++;
				if (per_q)
					per_q[q]++;
			}
		} while (n == CQ_BURST);
	}
	return got;
}

/* Sends n frames from `src` (MAC smac) on pair q to dmac. 0 or -errno. */
static int tx_n(struct vif *src, unsigned q, const uint8_t *smac, const uint8_t *dmac,
		unsigned n, uint64_t deadline)
{
	static uint8_t frames[CQ_BURST][CQ_FRAME];
	struct vif_pkt p[CQ_BURST];
	unsigned sent = 0;

	while (sent < n) {
		unsigned k = n - sent < CQ_BURST ? n - sent : CQ_BURST;
		int r;

		for (unsigned i = 0; i < k; i++) {
			frame_fill(frames[i], dmac, smac, sent + i);
			p[i] = (struct vif_pkt){ .data = frames[i], .len = CQ_FRAME };
		}
		r = vif_tx_burst(src, q, p, k);
		if (r < 0)
			return r;
		sent += (unsigned)r;
		if ((unsigned)r < k) {
			if (clk_now_ns() > deadline)
				return -ETIMEDOUT;
			nap();
		}
	}
	return 0;
}

/* Receives at dst until `want` of our frames to dmac came or the deadline
 * passed, then 50 ms more for strays. Returns the count or -errno. */
static long rx_until(struct vif *dst, const uint8_t *dmac, long want, uint64_t *per_q,
		     uint64_t deadline)
{
	long total = 0;
	uint64_t extra = 0;

	for (;;) {
		long n = rx_all(dst, dmac, per_q);
		uint64_t now = clk_now_ns();

		if (n < 0)
			return n;
		total += n;
		if (total >= want && !extra)
			extra = now + 50000000ull;
		if ((extra && now >= extra) || now >= deadline)
			return total;
		nap();
	}
}

static void reply_err(int err)
{
	const char *name = strerrorname_np(-err);

	printf("err %s %s\n", name ? name : "E?", vif_last_error());
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffff)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Runs one command line; returns false on quit. */
static bool run(struct vif *a, struct vif *b, char *line)
{
	char *cmd = strtok(line, " \t\n"), *x = strtok(NULL, " \t\n"), *y = strtok(NULL, " \t\n");
	uint64_t deadline = clk_now_ns() + CQ_WAIT_MS * 1000000ull;
	unsigned u, n;
	int err;

	if (!cmd)
		return true;
	if (!strcmp(cmd, "quit"))
		return false;
	if (!strcmp(cmd, "mq") && !parse_uint(x, &u)) {
		err = vif_ctrl_mq_pairs(a, u);
		if (err)
			reply_err(err);
		else
			printf("ok\n");
	} else if (!strcmp(cmd, "rarp")) {
		struct vu_msg m;

		memset(&m, 0, sizeof(m));
		m.hdr.request = VU_SEND_RARP;
		m.hdr.flags = VU_VERSION;
		m.hdr.size = sizeof(m.p.u64);
		memcpy(&m.p.u64, mac_a, 6);
		err = !(a->proto & (1ull << VU_PF_RARP)) ? -ENOTSUP :
		      vif_raw_msg(a, &m, sizeof(m.hdr) + sizeof(m.p.u64), NULL, 0, NULL, 0);
		if (err)
			reply_err(err);
		else
			printf("ok\n");
	} else if (!strcmp(cmd, "raw-mq") && !parse_uint(x, &u)) {
		uint16_t le = htole16((uint16_t)u);

		err = vif_ctrl_cmd(a, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &le,
				   sizeof(le));
		if (err)
			reply_err(err);
		else
			printf("ok\n");
	} else if (!strcmp(cmd, "rx") && x && y && (!strcmp(y, "on") || !strcmp(y, "off")) &&
		   (!strcmp(x, "promisc") || !strcmp(x, "allmulti"))) {
		err = vif_ctrl_rx(a, !strcmp(x, "promisc") ? VIF_CTRL_RX_PROMISC :
			VIF_CTRL_RX_ALLMULTI, !strcmp(y, "on"));
		if (err)
			reply_err(err);
		else
			printf("ok\n");
	} else if (!strcmp(cmd, "send") && !parse_uint(x, &u) && !parse_uint(y, &n)) {
		long got;

		rx_all(b, mac_b, NULL); /* strays from earlier commands */
		err = tx_n(a, u, mac_a, mac_b, n, deadline);
		got = err ? err : rx_until(b, mac_b, n, NULL, deadline);
		if (got < 0)
			reply_err((int)got);
		else
			printf("ok total=%ld\n", got);
	} else if (!strcmp(cmd, "recv") && !parse_uint(x, &n)) {
		uint64_t per_q[VIF_MAX_QUEUE_PAIRS] = { 0 };
		long got;

		rx_all(a, mac_a, NULL);
		err = 0;
		for (unsigned q = 0; q < vif_queue_pairs(b) && !err; q++)
			err = tx_n(b, q, mac_b, mac_a, n, deadline);
		got = err ? err : rx_until(a, mac_a, (long)n * vif_queue_pairs(b), per_q, deadline);
		if (got < 0) {
			reply_err((int)got);
		} else {
			printf("ok total=%ld", got);
			for (unsigned q = 0; q < vif_queue_pairs(a); q++)
				printf(" q%u=%llu", q, (unsigned long long)per_q[q]);
			printf("\n");
		}
	} else {
		printf("err EINVAL bad command\n");
	}
	fflush(stdout);
	return true;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sock", required_argument, NULL, 's' },
		{ "peer", required_argument, NULL, 'p' },
		{ "queues", required_argument, NULL, 'q' },
		{ "id", required_argument, NULL, 'i' },
		{ 0 },
	};
	const char *sock = NULL, *peer = NULL;
	unsigned queues = 4, id = 0;
	struct vif_config c;
	struct vif *a, *b;
	char line[256];
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'p': peer = optarg; break;
		case 'q':
			if (parse_uint(optarg, &queues) || !queues || queues > VIF_MAX_QUEUE_PAIRS)
				return 2;
			break;
		case 'i':
			if (parse_uint(optarg, &id) || id > 255)
				return 2;
			mac_a[3] = mac_b[3] = (uint8_t)id;
			break;
		default:
			return 2;
		}
	}
	if (!sock || !peer) {
		fprintf(stderr, "usage: ctrlq_client --sock A.sock --peer B.sock [--queues N] [--id K]\n");
		return 2;
	}
	vif_config_init(&c);
	c.path = peer;
	c.queue_pairs = CQ_PEER_PAIRS;
	memcpy(c.mac, mac_b, 6);
	err = vif_open(&c, &b);
	if (err) {
		fprintf(stderr, "ctrlq_client: peer %s: %s\n", peer, vif_last_error());
		return 1;
	}
	vif_config_init(&c);
	c.path = sock;
	c.queue_pairs = queues;
	c.ctrl_vq = true;
	memcpy(c.mac, mac_a, 6);
	err = vif_open(&c, &a);
	if (err) {
		fprintf(stderr, "ctrlq_client: %s: %s\n", sock, vif_last_error());
		vif_close(b);
		return 1;
	}
	printf("READY ctrl=%d pairs=%u features=0x%llx\n",
	       !!(vif_features(a) & 1ull << VIRTIO_NET_F_CTRL_VQ), vif_queue_pairs(a),
	       (unsigned long long)vif_features(a));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) && run(a, b, line))
		;
	vif_close(a);
	vif_close(b);
	return 0;
}
