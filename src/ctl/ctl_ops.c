/* ctl_ops.c - the control socket's operator tools: trace (what the switch
 * would do with a described frame, dp_trace) and capture (a port's frames
 * into a shared ring vifctl drains, dp_capture). Kept apart from
 * ctl_methods.c: they build frames and hand out memory, not configuration.
 *
 * Control thread only. Everything in params is hostile: each value is
 * checked and a bad one named in the error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cap_ring.h"
#include "ctl_rpc.h"
#include "util.h"
#include "xalloc.h"

enum { TRACE_MIN_SIZE = 60, TRACE_MAX_SIZE = 65535, TRACE_HEX_MAX = 1514, TRACE_NDP_SIZE = 82 };

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The frame's addresses: the family's parse of ip_src / ip_dst (absent: 0). */
static int addr_param(json_t *p, const char *key, int af, uint8_t *out, struct ctl_err *e)
{
	const char *s = json_string_value(json_object_get(p, key));

	if (!s)
		return 0;
	if (inet_pton(af, s, out) != 1)
		return ctl_err_params(e, "%s: \"%.60s\" is not an %s address", key, s,
		                      af == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

static uint16_t ip4_csum(const uint8_t *h)
{
	uint32_t sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Builds the frame trace describes into f (size bytes, zeroed), and with
 * gso=MSS a TCP segment asking for segmentation (its virtio-net header's
 * fields in *ol). Returns 0 or -EINVAL with *e naming the bad key. */
static int trace_frame(json_t *p, uint8_t *f, uint32_t size, struct pkt_ol *ol,
                       struct ctl_err *e)
{
	json_t *gso = json_object_get(p, "gso");
	const char *src = json_string_value(json_object_get(p, "src"));
	const char *dst = json_string_value(json_object_get(p, "dst"));
	const char *proto = json_string_value(json_object_get(p, "proto"));
	json_t *vlan = json_object_get(p, "vlan"), *pcp = json_object_get(p, "pcp");
	uint8_t a4[2][4] = { { 0 } }, a6[2][16] = { { 0 } };
	uint32_t l3 = 14;
	int r;

	if (!mac_parse(src, f + 6))
		return ctl_err_params(e, "src: \"%.40s\" is not a MAC address", src);
	if (!dst)
		memset(f, 0xff, 6);
	else if (!mac_parse(dst, f))
		return ctl_err_params(e, "dst: \"%.40s\" is not a MAC address", dst);
	if (pcp && (json_integer_value(pcp) < 0 || json_integer_value(pcp) > 7))
		return ctl_err_params(e, "pcp: 0..7");
	if (pcp && !vlan)
		return ctl_err_params(e, "pcp: needs vlan= (priority tags: vlan=0)");
	if (vlan) {
		json_int_t v = json_integer_value(vlan);

		if (v < 0 || v > 4095)
			return ctl_err_params(e, "vlan: 0..4095 (0: a priority tag)");
		put16(f + 12, 0x8100);
		put16(f + 14, (unsigned)((pcp ? json_integer_value(pcp) : 0) << 13 | v));
		l3 = 18;
	}
	if (!proto)
		proto = "ipv4";
	if (!strcmp(proto, "arp") || !strcmp(proto, "ipv4")) {
		if ((r = addr_param(p, "ip_src", AF_INET, a4[0], e)) < 0 ||
		    (r = addr_param(p, "ip_dst", AF_INET, a4[1], e)) < 0)
			return r;
	} else if (!strcmp(proto, "ipv6") || !strcmp(proto, "ns") || !strcmp(proto, "na")) {
		if ((r = addr_param(p, "ip_src", AF_INET6, a6[0], e)) < 0 ||
		    (r = addr_param(p, "ip_dst", AF_INET6, a6[1], e)) < 0)
			return r;
	} else {
		return ctl_err_params(e, "proto: \"%.20s\" is not arp, ipv4, ipv6, ns or na", proto);
	}
	if (gso) {
		json_int_t mss = json_integer_value(gso);
		uint32_t l4 = l3 + (strcmp(proto, "ipv4") ? 40 : 20);

		if (strcmp(proto, "ipv4") && strcmp(proto, "ipv6"))
			return ctl_err_params(e, "gso: needs ipv4 or ipv6 (a TCP segment)");
		if (mss < 1 || mss > 65535)
			return ctl_err_params(e, "gso: an MSS of 1..65535");
		if (size < l4 + 20)
			return ctl_err_params(e, "size: %u at least with gso (the TCP header)", l4 + 20);
		*ol = (struct pkt_ol){ .flags = PKT_F_NEEDS_CSUM, .hdr_len = (uint16_t)(l4 + 20),
		                       .gso_type = strcmp(proto, "ipv4") ? PKT_GSO_TCPV6 : PKT_GSO_TCPV4,
		                       .gso_size = (uint16_t)mss, .csum_start = (uint16_t)l4,
		                       .csum_offset = 16 };
		f[l4 + 12] = 0x50; /* data offset: 5 words */
		f[l4 + 13] = 0x10; /* ACK */
	}
	if (!strcmp(proto, "arp")) {
		uint8_t *a = f + l3;

		put16(f + l3 - 2, 0x0806);
		put16(a, 1);          /* Ethernet */
		put16(a + 2, 0x0800); /* IPv4 */
		a[4] = 6;
		a[5] = 4;
		put16(a + 6, 1);      /* request */
		memcpy(a + 8, f + 6, 6);
		memcpy(a + 14, a4[0], 4);
		memcpy(a + 24, a4[1], 4);
	} else if (!strcmp(proto, "ipv4")) {
		uint8_t *h = f + l3;

		put16(f + l3 - 2, 0x0800);
		h[0] = 0x45;
		put16(h + 2, size - l3);
		h[8] = 64;
		h[9] = gso ? 6 : 17; /* TCP, UDP */
		memcpy(h + 12, a4[0], 4);
		memcpy(h + 16, a4[1], 4);
		put16(h + 10, ip4_csum(h));
	} else {
		uint8_t *h = f + l3;

		put16(f + l3 - 2, 0x86dd);
		h[0] = 0x60;
		put16(h + 4, size - l3 - 40);
		h[6] = gso ? 6 : 59; /* TCP, no next header */
		h[7] = 255;
		memcpy(h + 8, a6[0], 16);
		memcpy(h + 24, a6[1], 16);
		if (strcmp(proto, "ipv6")) {
			/* NDP: the solicitation asks for ip_dst; the
			 * advertisement claims ip_src. Its target ends 64
			 * bytes into the IPv6 header. */
			if (size < l3 + 64)
				return ctl_err_params(e, "size: %u at least for %s", l3 + 64, proto);
			h[6] = 58;
			h[40] = strcmp(proto, "ns") ? 136 : 135;
			memcpy(h + 48, strcmp(proto, "ns") ? a6[0] : a6[1], 16);
		}
	}
	return 0;
}

/* trace {port, src, dst?, vlan?, pcp?, proto?, ip_src?, ip_dst?, size?, gso?} ->
 * {port, vlan?, steps: [{stage, port, result, detail}], outputs: [{port,
 * tag}] (tag: the egress VLAN tag, or null when untagged), verdict:
 * "output"|"drop", drop?: reason, frame?: the frame traced in hex (up to
 * 1514 bytes)} */
int ctl_m_trace(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *port = json_string_value(json_object_get(p, "port"));
	json_t *js = json_object_get(p, "size"), *steps = NULL, *outs = NULL;
	const char *proto = json_string_value(json_object_get(p, "proto"));
	bool ndp = proto && (!strcmp(proto, "ns") || !strcmp(proto, "na"));
	/* (an NDP message with its target and a VLAN tag: 82 bytes) */
	json_int_t size = js ? json_integer_value(js) : ndp ? TRACE_NDP_SIZE : TRACE_MIN_SIZE;
	struct dp_trace *t = NULL;
	struct pkt_ol ol = { 0 };
	bool have_ol;
	uint8_t *f = NULL;
	int err;

	if (size < TRACE_MIN_SIZE || size > TRACE_MAX_SIZE)
		return ctl_err_params(e, "size: %d..%d bytes (without FCS)", TRACE_MIN_SIZE,
		                      TRACE_MAX_SIZE);
	f = xcalloc(1, (size_t)size);
	t = xcalloc(1, sizeof(*t));
	if (!f || !t) {
		err = ctl_err_app(e, ENOMEM, "out of memory");
		goto out;
	}
	err = trace_frame(p, f, (uint32_t)size, &ol, e);
	if (err < 0)
		goto out;
	have_ol = ol.gso_type != PKT_GSO_NONE;
	err = dp_trace(r->dp, port, f, (uint32_t)size, have_ol ? &ol : NULL, t);
	if (err == -ENOENT) {
		err = ctl_err_app(e, ENOENT, "no port \"%.40s\"", port);
		goto out;
	}
	if (err < 0) {
		err = ctl_err_app(e, -err, "trace failed");
		goto out;
	}
	steps = json_array();
	outs = json_array();
	*res = json_pack("{s:s, s:o, s:o, s:s}", "port", port, "steps", steps, "outputs", outs,
	                 "verdict", t->nout ? "output" : "drop");
	if (!*res) {
		err = ctl_err_app(e, ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < t->nsteps; i++)
		json_array_append_new(steps, json_pack("{s:s, s:s, s:s, s:s}", "stage",
		                                       t->step[i].stage, "port", t->step[i].port,
		                                       "result", t->step[i].result, "detail",
		                                       t->step[i].detail));
	for (unsigned i = 0; i < t->nout; i++)
		json_array_append_new(outs, json_pack("{s:s, s:o}", "port", t->out[i].port, "tag",
		                                      t->out[i].tci ? json_integer(t->out[i].tci & 0xfff)
		                                                    : json_null()));
	if (t->drop)
		json_object_set_new(*res, "drop", json_string(t->drop));
	if (size <= TRACE_HEX_MAX) {
		/* The frame traced, for a test or a tool to send for real. */
		char hex[2 * TRACE_HEX_MAX + 1];

		for (json_int_t i = 0; i < size; i++)
			sprintf(hex + 2 * i, "%02x", f[i]);
		json_object_set_new(*res, "frame", json_string(hex));
	}
	err = 0;
out:
	xfree(f);
	xfree(t);
	return err;
}

enum {
	CAP_SNAPLEN_MAX = 262144,   /* tcpdump's default and largest */
	CAP_RING_KIB_DEFAULT = 4096,
	CAP_RING_KIB_MIN = 64,
	CAP_RING_KIB_MAX = 65536,
};

static const char *dir_name(unsigned dirs)
{
	return dirs == (CAP_DIR_RX | CAP_DIR_TX) ? "both" : dirs == CAP_DIR_RX ? "rx" : "tx";
}

/* capture {port, dir?: "rx"|"tx"|"both", snaplen?, ring_kib?} -> {id, port,
 * dir, snaplen, ring_kib}, and with the reply, over the socket
 * (SCM_RIGHTS), the capture's shared memory (src/common/cap_ring.h). The
 * capture runs until this connection closes. */
int ctl_m_capture(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *port = json_string_value(json_object_get(p, "port"));
	const char *dir = json_string_value(json_object_get(p, "dir"));
	json_t *js = json_object_get(p, "snaplen"), *jr = json_object_get(p, "ring_kib");
	json_int_t snaplen = js ? json_integer_value(js) : CAP_SNAPLEN_MAX;
	json_int_t ring_kib = jr ? json_integer_value(jr) : CAP_RING_KIB_DEFAULT;
	unsigned dirs, id;
	char err[CTL_MSG_MAX - 16];
	int fd, rc;

	if (!r->conn)
		return ctl_err_app(e, EOPNOTSUPP, "capture needs a control socket connection");
	if (r->conn->cap_id)
		return ctl_err_app(e, EBUSY, "this connection runs a capture already");
	if (!dir || !strcmp(dir, "both"))
		dirs = CAP_DIR_RX | CAP_DIR_TX;
	else if (!strcmp(dir, "rx"))
		dirs = CAP_DIR_RX;
	else if (!strcmp(dir, "tx"))
		dirs = CAP_DIR_TX;
	else
		return ctl_err_params(e, "dir: \"%.20s\" is not rx, tx or both", dir);
	if (snaplen < 14 || snaplen > CAP_SNAPLEN_MAX)
		return ctl_err_params(e, "snaplen: 14..%d bytes", CAP_SNAPLEN_MAX);
	if (ring_kib < CAP_RING_KIB_MIN || ring_kib > CAP_RING_KIB_MAX)
		return ctl_err_params(e, "ring_kib: %d..%d", CAP_RING_KIB_MIN, CAP_RING_KIB_MAX);
	if (snaplen > ring_kib * 1024 / 4)
		snaplen = ring_kib * 1024 / 4; /* a ring holds a few records at least */
	rc = dp_capture_start(r->dp, port, dirs, (uint32_t)snaplen, (uint32_t)ring_kib, &fd, &id,
	                      err, sizeof(err));
	if (rc < 0)
		return ctl_err_app(e, -rc, "%s", err);
	*res = json_pack("{s:i, s:s, s:s, s:I, s:I}", "id", (int)id, "port", port, "dir",
	                 dir_name(dirs), "snaplen", snaplen, "ring_kib", ring_kib);
	if (!*res) {
		close(fd);
		dp_capture_stop(r->dp, id);
		return ctl_err_app(e, ENOMEM, "out of memory");
	}
	r->conn->send_fd = fd;
	r->conn->cap_id = id;
	return 0;
}

/* captures {} -> {captures: [{id, port, dir, snaplen, frames, drops}]} */
int ctl_m_captures(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	struct dp_capture_info ci[16];
	unsigned n = dp_capture_list(r->dp, ci, 16);
	json_t *a = json_array();

	(void)p;
	*res = json_pack("{s:o}", "captures", a);
	if (!*res)
		return ctl_err_app(e, ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:i, s:I, s:I}", "id", (int)ci[i].id,
		                                   "port", ci[i].port, "dir", dir_name(ci[i].dirs),
		                                   "snaplen", (int)ci[i].snaplen,
		                                   "frames", (json_int_t)ci[i].frames,
		                                   "drops", (json_int_t)ci[i].drops));
	return 0;
}
