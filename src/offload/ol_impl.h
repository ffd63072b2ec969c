/* ol_impl.h - the Internet checksum (RFC 1071) primitives of the offload
 * layer, static inline because they run for every payload byte: a partial
 * sum, a copy that sums what it copies in the same pass, folding, and the
 * byte-order helpers the pseudo-header needs. No state, no allocation.
 *
 * Representation: a partial sum is a uint32_t holding the ones'-complement
 * sum of the bytes read as native-endian 16-bit words from an even offset
 * of the summed region. On a little-endian host that is the byte-swapped
 * value of the big-endian sum, which is fine: ones'-complement addition
 * commutes with byte swapping (RFC 1071 2(B)), so a value folded and stored
 * with a native store lands in network order. Pseudo-header fields are
 * added through ol_be16()/ol_be32(), which give a host value the same
 * representation as the bytes the packet holds.
 *
 * A region that starts at an odd offset of the summed stream (an iovec
 * boundary in the middle of a 16-bit word) is summed on its own and its sum
 * rotated by 8 bits (ol_csum_shift): byte-swapping a ones'-complement sum
 * is the same as swapping every word of its data. */
#ifndef VIFD_OL_IMPL_H
#define VIFD_OL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* a + b in ones'-complement arithmetic (end-around carry). */
static inline uint32_t ol_csum_add(uint32_t a, uint32_t b)
{
	uint32_t r = a + b;

	return r + (r < a);
}

/* A 64-bit accumulator reduced to a 32-bit partial sum. */
static inline uint32_t ol_csum_reduce(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

/* The partial sum of bytes that start at an odd offset of the summed
 * region, given their sum computed as if they started at an even one. */
static inline uint32_t ol_csum_shift(uint32_t sum)
{
	return (sum >> 8) | (sum << 24);
}

/* The Internet checksum of a partial sum: folded to 16 bits and
 * complemented, ready to be stored with a native 16-bit store. */
static inline uint16_t ol_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The host value whose memory representation is v in network order. */
static inline uint16_t ol_be16(uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

static inline uint32_t ol_be32(uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(v);
#else
	return v;
#endif
}

/* Unaligned network-order loads and stores on byte buffers. */
static inline uint16_t ol_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ol_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void ol_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ol_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Stores a checksum computed by ol_csum_fold (native representation). */
static inline void ol_put_csum(uint8_t *p, uint16_t csum)
{
	memcpy(p, &csum, 2);
}

/* The last 1..7 bytes of a region as a zero-padded native word: a trailing
 * odd byte is the first byte of a 16-bit word whose second byte is 0, as
 * RFC 1071 pads. Fixed-size loads (a variable-length memcpy is a call). */
static inline uint64_t ol_tail64(const uint8_t *s, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w = 0;
	uint32_t w4;
	uint16_t w2;
	unsigned o = 0;

	if (n & 4) {
		memcpy(&w4, s, 4);
		w = w4;
		o = 4;
	}
	if (n & 2) {
		memcpy(&w2, s + o, 2);
		w |= (uint64_t)w2 << (8 * o);
		o += 2;
	}
	if (n & 1)
		w |= (uint64_t)s[o] << (8 * o);
	return w;
#else
	uint64_t w = 0;

	memcpy(&w, s, n);
	return w;
#endif
}

/* Stores the first n (1..7) bytes of a word from ol_tail64. */
static inline void ol_tail64_store(uint8_t *d, uint64_t w, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	unsigned o = 0;

	if (n & 4) {
		uint32_t w4 = (uint32_t)w;
		memcpy(d, &w4, 4);
		o = 4;
	}
	if (n & 2) {
		uint16_t w2 = (uint16_t)(w >> (8 * o));
		memcpy(d + o, &w2, 2);
		o += 2;
	}
	if (n & 1)
		d[o] = (uint8_t)(w >> (8 * o));
#else
	memcpy(d, &w, n);
#endif
}

/* The portable (SSE2 on x86-64) body of ol_csum_partial and ol_csum_copy
 * below, for short regions and CPUs without AVX2: sums len bytes at s and,
 * when copy (a constant at each call, so each caller gets its own loop),
 * stores them at d as it goes. */
static inline __attribute__((always_inline)) uint32_t
ol_csum_sse2_body(uint8_t *restrict d, const uint8_t *restrict s, size_t len, uint32_t sum,
                  bool copy)
{
	uint64_t a = sum, b = 0, w;

#if defined(__SSE2__)
	if (len >= 64) {
		const __m128i lo32 = _mm_set1_epi64x(0xffffffff);
		__m128i x = _mm_setzero_si128(), y = x;

		do {
			__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)s);
			__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
			__m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
			__m128i v3 = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));

			if (copy) {
				_mm_storeu_si128((__m128i *)(void *)d, v0);
				_mm_storeu_si128((__m128i *)(void *)(d + 16), v1);
				_mm_storeu_si128((__m128i *)(void *)(d + 32), v2);
				_mm_storeu_si128((__m128i *)(void *)(d + 48), v3);
				d += 64;
			}
			x = _mm_add_epi64(x, _mm_and_si128(v0, lo32));
			y = _mm_add_epi64(y, _mm_srli_epi64(v0, 32));
			x = _mm_add_epi64(x, _mm_and_si128(v1, lo32));
			y = _mm_add_epi64(y, _mm_srli_epi64(v1, 32));
			x = _mm_add_epi64(x, _mm_and_si128(v2, lo32));
			y = _mm_add_epi64(y, _mm_srli_epi64(v2, 32));
			x = _mm_add_epi64(x, _mm_and_si128(v3, lo32));
			y = _mm_add_epi64(y, _mm_srli_epi64(v3, 32));
			s += 64;
			len -= 64;
		} while (len >= 64);
		uint64_t l[4];
		_mm_storeu_si128((__m128i *)(void *)l, x);
		_mm_storeu_si128((__m128i *)(void *)(l + 2), y);
		a += ol_csum_reduce(l[0]);
		b += ol_csum_reduce(l[1]);
		a += ol_csum_reduce(l[2]);
		b += ol_csum_reduce(l[3]);
	}
#endif
	while (len >= 8) {
		memcpy(&w, s, 8);
		if (copy)
			memcpy(d, &w, 8);
		a += (uint32_t)w;
		b += w >> 32;
		s += 8;
		if (copy)
			d += 8;
		len -= 8;
	}
	if (len) {
		w = ol_tail64(s, len);
		if (copy)
			ol_tail64_store(d, w, len);
		a += (uint32_t)w;
		b += w >> 32;
	}
	return ol_csum_add(ol_csum_reduce(a), ol_csum_reduce(b));
}

static inline uint32_t ol_csum_partial_sse2(const void *buf, size_t len, uint32_t sum)
{
	return ol_csum_sse2_body(NULL, buf, len, sum, false);
}

static inline uint32_t ol_csum_copy_sse2(void *restrict dst, const void *restrict src,
                                         size_t len, uint32_t sum)
{
	return ol_csum_sse2_body(dst, src, len, sum, true);
}

#if defined(__x86_64__)
/* ol_csum.c: the same with 256-bit vectors, built for AVX2 whatever the
 * compiler's baseline; called only when the CPU has it. */
uint32_t ol_csum_partial_avx2(const void *buf, size_t len, uint32_t sum);
uint32_t ol_csum_copy_avx2(void *restrict dst, const void *restrict src, size_t len, uint32_t sum);
#endif

/* Regions from this long go to the AVX2 bodies when the CPU has them. */
enum { OL_CSUM_AVX2_MIN = 256 };

/* Adds len bytes at buf (taken to start at an even offset) to sum.
 * Any alignment, any length below 16 GiB (the 64-bit lanes take 2^32
 * additions of 32-bit words before they could overflow). */
static inline uint32_t ol_csum_partial(const void *buf, size_t len, uint32_t sum)
{
#if defined(__x86_64__)
	if (len >= OL_CSUM_AVX2_MIN && __builtin_cpu_supports("avx2"))
		return ol_csum_partial_avx2(buf, len, sum);
#endif
	return ol_csum_partial_sse2(buf, len, sum);
}

/* Copies len bytes from src to dst (not overlapping) and returns sum plus
 * their partial sum, in one pass: each source byte is loaded once and the
 * loaded value is both stored and summed, so a source that changes under
 * the copy (guest memory) still yields a destination whose sum is exactly
 * the one returned. Same length limit as ol_csum_partial. */
static inline uint32_t ol_csum_copy(void *restrict dst, const void *restrict src, size_t len,
                                    uint32_t sum)
{
#if defined(__x86_64__)
	if (len >= OL_CSUM_AVX2_MIN && __builtin_cpu_supports("avx2"))
		return ol_csum_copy_avx2(dst, src, len, sum);
#endif
	return ol_csum_copy_sse2(dst, src, len, sum);
}

#endif
