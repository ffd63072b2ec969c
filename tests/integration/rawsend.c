/* rawsend.c - sends hand-made Ethernet frames through a libvif endpoint, for
 * integration tests that need frames vifbench does not make (802.1Q tags,
 * ARP, NDP).
 *
 *   rawsend --sock PATH [--count N] HEXFRAME...
 *
 * Each HEXFRAME (hex digits, ':' and '.' ignored) is sent N times (default
 * 10). Exits 0 when every frame was queued, and waits up to 1 s for vifd to
 * take them before closing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvif.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses hex into buf; returns the length or -1. */
static int parse_hex(const char *s, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;
		if (*s == ':' || *s == '.' || *s == ' ')
			continue;
		v = hexval(*s);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			return -1;
		buf[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (int)n : -1;
}

int main(int argc, char **argv)
{
	struct vif_config c;
	struct vif *v;
	const char *sock = NULL;
	long count = 10;
	int i = 1, r;

	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--sock"))
			sock = argv[i + 1];
		else if (!strcmp(argv[i], "--count"))
			count = strtol(argv[i + 1], NULL, 10);
		else
			goto usage;
	}
	if (!sock || i == argc || count < 1)
		goto usage;
	vif_config_init(&c);
	c.path = sock;
	r = vif_open(&c, &v);
	if (r < 0) {
		fprintf(stderr, "rawsend: %s: %s\n", sock, vif_last_error());
		return 1;
	}
	for (; i < argc; i++) {
		static uint8_t f[VIF_MAX_FRAME];
		struct vif_pkt p = { f, 0 };
		int len = parse_hex(argv[i], f, sizeof(f));

		if (len < 14) {
			fprintf(stderr, "rawsend: bad frame \"%.40s\"\n", argv[i]);
			vif_close(v);
			return 2;
		}
		p.len = (uint32_t)len;
		for (long k = 0; k < count;) {
			r = vif_tx_burst(v, 0, &p, 1);
			if (r < 0) {
				fprintf(stderr, "rawsend: tx: %s\n", strerror(-r));
				vif_close(v);
				return 1;
			}
			if (r == 0)
				usleep(100); /* ring full */
			k += r;
		}
	}
	vif_close(v); /* waits for vifd to take what is queued */
	return 0;
usage:
	fprintf(stderr, "usage: rawsend --sock PATH [--count N] HEXFRAME...\n");
	return 2;
}
