/* ol_seg.c - the writers of the offload layer: TCP/UDP segmentation and
 * checksum completion into destination iovecs, checksumming while copying
 * (ol.h has the contracts and the security model).
 *
 * Each output frame is built the same way: its payload is copied from the
 * source iovecs straight into place in the destination, summed in the
 * same pass (ol_iov_csum_copy); its headers are built in a local buffer
 * from head and struct ol_frame only, the checksum finished from the
 * payload's sum and the header's, and the headers written last. Nothing
 * read from the source is ever interpreted, so whatever the guest writes
 * there during the copy, the lengths and offsets used are the ones ol_parse
 * checked. */
#include "ol.h"
#include "ol_impl.h"
#include "util.h"

enum {
	TCP_FIN = 0x01,
	TCP_PSH = 0x08,
	TCP_CWR = 0x80,
};

/* A position in an iovec array. */
struct iov_cur {
	unsigned i;     /* iovec index (n: at the end) */
	size_t off;     /* byte offset in iovec i */
};

/* Puts c at byte pos of iov, skipping empty iovecs. Returns false if pos is
 * beyond the end (pos == total is valid: c is at the end). */
static bool cur_seek(struct iov_cur *c, const struct iovec *iov, unsigned n, size_t pos)
{
	for (c->i = 0; c->i < n; c->i++) {
		if (pos < iov[c->i].iov_len) {
			c->off = pos;
			return true;
		}
		pos -= iov[c->i].iov_len;
	}
	c->off = 0;
	return pos == 0;
}

/* Copies len bytes of buf to iov from byte off; returns the bytes written. */
static size_t iov_write(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                        size_t len)
{
	struct iov_cur c;
	size_t done = 0;

	if (!cur_seek(&c, iov, n, off))
		return 0;
	for (; done < len && c.i < n; c.i++, c.off = 0) {
		size_t m = MIN(iov[c.i].iov_len - c.off, len - done);
		memcpy((uint8_t *)iov[c.i].iov_base + c.off, (const uint8_t *)buf + done, m);
		done += m;
	}
	return done;
}

size_t ol_iov_csum_copy(const struct iovec *dst, unsigned ndst, size_t doff,
                        const struct iovec *src, unsigned nsrc, size_t soff,
                        size_t len, uint32_t *sum)
{
	struct iov_cur d, s;
	uint32_t acc = *sum;
	size_t done = 0;

	if (!cur_seek(&d, dst, ndst, doff) || !cur_seek(&s, src, nsrc, soff))
		return 0;
	/* Each turn copies a chunk or steps past an exhausted (or empty)
	 * iovec, so it ends after at most ndst + nsrc + chunks turns. */
	while (done < len && d.i < ndst && s.i < nsrc) {
		size_t n = MIN(MIN(dst[d.i].iov_len - d.off, src[s.i].iov_len - s.off), len - done);

		if (n) {
			uint32_t c = ol_csum_copy((uint8_t *)dst[d.i].iov_base + d.off,
			                          (const uint8_t *)src[s.i].iov_base + s.off, n, 0);
			acc = ol_csum_add(acc, (done & 1) ? ol_csum_shift(c) : c);
			done += n;
			d.off += n;
			s.off += n;
		}
		if (d.off == dst[d.i].iov_len) {
			d.i++;
			d.off = 0;
		}
		if (s.off == src[s.i].iov_len) {
			s.i++;
			s.off = 0;
		}
	}
	*sum = acc;
	return done;
}

/* Segment k of a TCP or UDP GSO frame. */
static uint32_t write_seg(const struct ol_frame *f, const uint8_t *head, uint32_t k,
                          const struct iovec *src, unsigned nsrc, size_t pay_off,
                          const struct iovec *dst, unsigned ndst)
{
	uint8_t h[OL_MAX_HDR];
	uint32_t off = k * f->mss, plen = MIN((uint32_t)f->mss, f->pay_len - off);
	uint32_t hl = f->hdr_len, l3 = f->l3_off, l4 = f->l4_off, l4len = f->l4_hlen + plen;
	uint32_t sum = 0;
	uint16_t c;

	if (ol_iov_csum_copy(dst, ndst, hl, src, nsrc, pay_off + off, plen, &sum) != plen)
		return 0;
	memcpy(h, head, hl);
	if (f->ipv == 4) {
		/* inet_gso_segment: the ID counts segments, total length and
		 * header checksum are the segment's. */
		ol_put16(h + l3 + 2, (uint16_t)(hl - l3 + plen));
		ol_put16(h + l3 + 4, (uint16_t)(ol_get16(h + l3 + 4) + k));
		ol_put16(h + l3 + 10, 0);
		ol_put_csum(h + l3 + 10, ol_csum_fold(ol_csum_partial(h + l3, f->ip_hlen, 0)));
	} else {
		/* ipv6_gso_segment: extension headers count in the payload. */
		ol_put16(h + l3 + 4, (uint16_t)(hl - l3 - f->ip_hlen + plen));
	}
	if (f->kind == OL_KIND_TCP) {
		/* tcp_gso_segment: sequence advanced by what went before, FIN
		 * and PSH kept for the last segment, CWR for the first. */
		ol_put32(h + l4 + 4, ol_get32(h + l4 + 4) + off);
		if (k + 1 < f->nseg)
			h[l4 + 13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (k)
			h[l4 + 13] &= (uint8_t)~TCP_CWR;
	} else {
		ol_put16(h + l4 + 4, (uint16_t)l4len);
	}
	/* From scratch: pseudo-header (addresses and protocol from ol_parse,
	 * this segment's length), header with a zero field, payload. */
	ol_put16(h + l4 + f->csum_offset, 0);
	sum = ol_csum_add(sum, ol_csum_partial(h + l4, f->l4_hlen, f->pseudo));
	sum = ol_csum_add(sum, ol_be16((uint16_t)l4len));
	c = ol_csum_fold(sum);
	/* A zero UDP checksum means "none" (RFC 768): Linux stores 0xffff
	 * (CSUM_MANGLED_0), and so does skb_checksum_help for any protocol,
	 * which is what checksums a frame too short to be segmented. */
	if (c == 0 && (f->kind == OL_KIND_UDP || f->nseg == 1))
		c = 0xffff;
	ol_put_csum(h + l4 + f->csum_offset, c);
	if (iov_write(dst, ndst, 0, h, hl) != hl)
		return 0;
	return hl + plen;
}

/* The whole frame, its checksum completed if it asks for one. */
static uint32_t write_whole(const struct ol_frame *f, const uint8_t *head,
                            const struct iovec *src, unsigned nsrc, size_t pay_off,
                            const struct iovec *dst, unsigned ndst)
{
	uint32_t hl = f->hdr_len, sum = 0, skip;
	uint16_t c;

	if (iov_write(dst, ndst, 0, head, hl) != hl)
		return 0;
	if (f->kind == OL_KIND_PLAIN) {
		if (ol_iov_csum_copy(dst, ndst, hl, src, nsrc, pay_off, f->pay_len, &sum) !=
		    f->pay_len)
			return 0;
		return f->len;
	}
	/* [hdr_len, csum_start) is copied, [csum_start, len) copied and
	 * summed, as a region of its own (its parity starts there). */
	skip = f->csum_start - hl;
	if (ol_iov_csum_copy(dst, ndst, hl, src, nsrc, pay_off, skip, &sum) != skip)
		return 0;
	sum = 0;
	if (ol_iov_csum_copy(dst, ndst, f->csum_start, src, nsrc, pay_off + skip,
	                     f->len - f->csum_start, &sum) != f->len - f->csum_start)
		return 0;
	c = ol_csum_fold(sum);
	if (c == 0)
		c = 0xffff;     /* skb_checksum_help's CSUM_MANGLED_0 */
	if (iov_write(dst, ndst, (size_t)f->csum_start + f->csum_offset, &c, 2) != 2)
		return 0;
	return f->len;
}

uint32_t ol_gso_write(const struct ol_frame *f, const uint8_t *head, uint32_t k,
                      const struct iovec *src, unsigned nsrc, size_t pay_off,
                      const struct iovec *dst, unsigned ndst)
{
	if (k >= f->nseg)
		return 0;
	if (f->kind == OL_KIND_TCP || f->kind == OL_KIND_UDP)
		return write_seg(f, head, k, src, nsrc, pay_off, dst, ndst);
	return write_whole(f, head, src, nsrc, pay_off, dst, ndst);
}

uint32_t ol_csum_write(const struct ol_frame *f, const uint8_t *head,
                       const struct iovec *src, unsigned nsrc, size_t pay_off,
                       const struct iovec *dst, unsigned ndst)
{
	if (f->nseg != 1)
		return 0;
	return ol_gso_write(f, head, 0, src, nsrc, pay_off, dst, ndst);
}
