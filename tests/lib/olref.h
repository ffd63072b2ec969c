/* olref.h - a reference for the offload layer's tests and fuzz target,
 * written the slow obvious way so it shares no code with src/offload: the
 * RFC 1071 sum of big-endian 16-bit words byte by byte, and a checker that
 * a frame out of ol_gso_write carries valid IPv4 header and TCP/UDP
 * checksums. Header-only (static inline functions). */
#ifndef VIFD_TEST_OLREF_H
#define VIFD_TEST_OLREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sum + the big-endian 16-bit words of p[0..n) (odd tail padded with 0),
 * not folded. */
static inline uint64_t ref_sum(const uint8_t *p, size_t n, uint64_t sum)
{
	for (size_t i = 0; i < n; i++)
		sum += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	return sum;
}

static inline uint16_t ref_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The Internet checksum (complemented) of p[0..n), as a host value. */
static inline uint16_t ref_csum(const uint8_t *p, size_t n, uint64_t sum)
{
	return (uint16_t)~ref_fold(ref_sum(p, n, sum));
}

static inline uint16_t ref_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* True if frame fr (len bytes, IP header at l3, TCP/UDP header at l4 with
 * protocol proto, IP version ipv) has a valid IPv4 header checksum (v4)
 * and a valid L4 checksum over the pseudo-header and the rest of the frame. */
static inline bool ref_frame_ok(const uint8_t *fr, size_t len, unsigned l3, unsigned l4, int ipv,
                         uint8_t proto)
{
	uint64_t ph = 0;

	if (l4 >= len)
		return false;
	if (ipv == 4) {
		unsigned ihl = (fr[l3] & 15u) * 4;
		if (ref_fold(ref_sum(fr + l3, ihl, 0)) != 0xffff)
			return false;
		ph = ref_sum(fr + l3 + 12, 8, 0);
	} else {
		ph = ref_sum(fr + l3 + 8, 32, 0);
	}
	ph += proto;
	ph += len - l4;
	return ref_fold(ref_sum(fr + l4, len - l4, ph)) == 0xffff;
}

#endif
