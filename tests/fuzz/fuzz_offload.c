/* fuzz_offload.c - libFuzzer target: the offload layer (src/offload) over
 * hostile virtio-net metadata and frames. Input:
 *   bytes 0-9   struct ol_meta as a little-endian virtio-net header
 *               (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)
 *   byte 10     source split pattern (the source is cut into up to 4
 *               iovecs, each its own heap block)
 *   byte 11     destination split pattern (likewise, per output frame)
 *   byte 12     low 4 bits: bytes the "caller" removed from the source's L2
 *               header (the source has them after the MAC addresses and
 *               pay_off moves by as much)
 *   bytes 13-   the frame as it leaves vifd
 * ol_parse gets a head of exactly min(len, OL_MAX_HDR) heap bytes; if it
 * accepts, every output frame is written into exactly-sized heap blocks
 * (and once into blocks one byte short, which must fail), and checked
 * against the reference in tests/lib/olref.h: IPv4 header and TCP/UDP
 * checksums valid, IP and UDP lengths and TCP sequence numbers the
 * segment's, payload bytes the source's, a completed checksum that
 * sums right with the pseudo-header value the field held. Any mismatch
 * aborts, so the fuzzer looks for wrong output as well as bad accesses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ol.h"
#include "olref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { IN_HDR = 13, MAXV = 4 };

static void fail(const char *why, uint32_t k)
{
	fprintf(stderr, "fuzz_offload: %s (frame %u)\n", why, k);
	abort();
}

/* Cuts len bytes of buf into up to MAXV heap blocks by pattern pat; the
 * blocks' iovecs go to iov. Returns the count. */
static unsigned split(const uint8_t *buf, size_t len, uint8_t pat, struct iovec *iov)
{
	unsigned n = 0;
	size_t pos = 0;

	while (n < MAXV - 1 && pos < len) {
		size_t c = ((size_t)(pat >> (2 * n)) & 3) * 397 + (pat & 7) + 1;
		if (c > len - pos)
			c = len - pos;
		iov[n].iov_base = malloc(c);
		iov[n].iov_len = c;
		if (buf)
			memcpy(iov[n].iov_base, buf + pos, c);
		pos += c;
		n++;
	}
	iov[n].iov_len = len - pos;
	iov[n].iov_base = malloc(len - pos ? len - pos : 1);
	if (buf)
		memcpy(iov[n].iov_base, buf + pos, len - pos);
	return n + 1;
}

static void free_iov(struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(iov[i].iov_base);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)ref_get16(p) << 16 | ref_get16(p + 2);
}

static void gather(uint8_t *out, const struct iovec *iov, unsigned n, size_t len)
{
	size_t pos = 0;

	for (unsigned i = 0; i < n && pos < len; i++) {
		size_t c = iov[i].iov_len < len - pos ? iov[i].iov_len : len - pos;
		memcpy(out + pos, iov[i].iov_base, c);
		pos += c;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t srcbuf[OL_MAX_FRAME + 32], out[OL_MAX_FRAME + 32];
	struct iovec src[MAXV], dst[MAXV];
	struct ol_meta m;
	struct ol_frame f;
	const uint8_t *fr = data + IN_HDR;
	uint32_t len, hl, extra, pos = 0;
	unsigned nsrc;
	uint8_t *head;

	if (size < IN_HDR)
		return 0;
	ol_meta_from_vnet((const struct virtio_net_hdr *)(const void *)data, &m);
	len = (uint32_t)(size - IN_HDR);
	if (len > OL_MAX_FRAME + 16)
		return 0;
	hl = len < OL_MAX_HDR ? len : OL_MAX_HDR;
	head = malloc(hl ? hl : 1);
	memcpy(head, fr, hl);
	if (ol_parse(&m, head, hl, len, &f) < 0) {
		free(head);
		return 0;
	}
	/* Accepted frames are never longer than the limit. */
	if (len > OL_MAX_FRAME || f.hdr_len > len || f.hdr_len + f.pay_len != len)
		fail("accepted an impossible frame", 0);

	/* The source: the frame with `extra` bytes of L2 the caller removed. */
	extra = data[12] & 15;
	if (len < 12)
		extra = 0;
	memcpy(srcbuf, fr, len < 12 ? len : 12);
	memset(srcbuf + 12, 0xee, extra);
	if (len > 12)
		memcpy(srcbuf + 12 + extra, fr + 12, len - 12);
	nsrc = split(srcbuf, len + extra, data[10], src);

	for (uint32_t k = 0; k < ol_gso_count(&f); k++) {
		uint32_t n = ol_gso_len(&f, k), w;
		unsigned nd = split(NULL, n, (uint8_t)(data[11] + k), dst);

		if (n < f.hdr_len || n > len)
			fail("bad output length", k);
		w = ol_gso_write(&f, head, k, src, nsrc, f.hdr_len + extra, dst, nd);
		if (w != n)
			fail("short write", k);
		gather(out, dst, nd, n);
		free_iov(dst, nd);
		if (f.kind == OL_KIND_TCP || f.kind == OL_KIND_UDP) {
			if (memcmp(out + f.hdr_len, fr + f.hdr_len + pos, n - f.hdr_len) != 0)
				fail("payload differs from the source", k);
			if (!ref_frame_ok(out, n, f.l3_off, f.l4_off, f.ipv,
			                  f.kind == OL_KIND_TCP ? 6 : 17))
				fail("bad checksum", k);
			if (ref_get16(out + f.l3_off + (f.ipv == 4 ? 2 : 4)) !=
			    n - f.l3_off - (f.ipv == 4 ? 0 : 40))
				fail("bad IP length", k);
			if (f.kind == OL_KIND_UDP && ref_get16(out + f.l4_off + 4) != n - f.l4_off)
				fail("bad UDP length", k);
			if (f.kind == OL_KIND_TCP && get32(out + f.l4_off + 4) != get32(fr + f.l4_off + 4) + pos)
				fail("bad TCP sequence number", k);
			pos += n - f.hdr_len;
		} else if (f.kind == OL_KIND_CSUM) {
			uint16_t v = ref_get16(fr + f.csum_start + f.csum_offset);
			if (ref_fold(ref_sum(out + f.csum_start, len - f.csum_start, v)) != 0xffff)
				fail("bad completed checksum", k);
			uint32_t at = f.csum_start + f.csum_offset;
			if (memcmp(out, fr, at) != 0 || memcmp(out + at + 2, fr + at + 2, len - at - 2))
				fail("bytes other than the checksum changed", k);
		} else if (memcmp(out, fr, len) != 0) {
			fail("plain copy differs", k);
		}
		/* One byte short: refused, nothing written past the blocks. */
		if (n > 0) {
			nd = split(NULL, n - 1, data[11], dst);
			if (ol_gso_write(&f, head, k, src, nsrc, f.hdr_len + extra, dst, nd) != 0)
				fail("wrote into too little room", k);
			free_iov(dst, nd);
		}
	}
	if (ol_gso_count(&f) == 1) {
		uint32_t n = ol_gso_len(&f, 0);
		unsigned nd = split(NULL, n, data[11], dst);
		if (ol_csum_write(&f, head, src, nsrc, f.hdr_len + extra, dst, nd) != n)
			fail("ol_csum_write", 0);
		free_iov(dst, nd);
	}
	free_iov(src, nsrc);
	free(head);
	return 0;
}
