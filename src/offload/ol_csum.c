/* ol_csum.c - the AVX2 bodies of ol_csum_partial and ol_csum_copy
 * (ol_impl.h has the representation and the contracts). Built with a
 * target attribute, so one binary runs everywhere: the inline dispatchers
 * call these only for regions of OL_CSUM_AVX2_MIN bytes or more on a CPU
 * that reports AVX2. Each 32-byte vector is split into its 32-bit halves
 * added into 64-bit lanes (mask and shift, no shuffles); four accumulators
 * keep the additions' dependency chains short. The tail (< 128 bytes)
 * goes to the portable body, from an even offset. */
#include "ol_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define OL_AVX2 __attribute__((target("avx2")))

OL_AVX2 static inline uint32_t reduce4(__m256i a, __m256i b, __m256i c, __m256i d)
{
	uint64_t l[4], acc = 0;
	__m256i v[4] = { a, b, c, d };

	for (int i = 0; i < 4; i++) {
		_mm256_storeu_si256((__m256i *)(void *)l, v[i]);
		for (int j = 0; j < 4; j++)
			acc += ol_csum_reduce(l[j]);
	}
	return ol_csum_reduce(acc);
}

/* Adds v's 32-bit halves into the 64-bit lanes of *x and *y. */
OL_AVX2 static inline __attribute__((always_inline)) void acc(__m256i *x, __m256i *y, __m256i v)
{
	const __m256i lo32 = _mm256_set1_epi64x(0xffffffff);

	*x = _mm256_add_epi64(*x, _mm256_and_si256(v, lo32));
	*y = _mm256_add_epi64(*y, _mm256_srli_epi64(v, 32));
}

/* As ol_csum_sse2_body, 128 bytes a round. */
OL_AVX2 static inline __attribute__((always_inline)) uint32_t
avx2_body(uint8_t *restrict d, const uint8_t *restrict s, size_t len, uint32_t sum, bool copy)
{
	__m256i x0 = _mm256_setzero_si256(), x1 = x0, y0 = x0, y1 = x0;

	while (len >= 128) {
		__m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
		__m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
		__m256i v2 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 64));
		__m256i v3 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 96));

		if (copy) {
			_mm256_storeu_si256((__m256i *)(void *)d, v0);
			_mm256_storeu_si256((__m256i *)(void *)(d + 32), v1);
			_mm256_storeu_si256((__m256i *)(void *)(d + 64), v2);
			_mm256_storeu_si256((__m256i *)(void *)(d + 96), v3);
			d += 128;
		}
		acc(&x0, &y0, v0);
		acc(&x1, &y1, v1);
		acc(&x0, &y0, v2);
		acc(&x1, &y1, v3);
		s += 128;
		len -= 128;
	}
	sum = ol_csum_add(sum, reduce4(x0, x1, y0, y1));
	return ol_csum_sse2_body(d, s, len, sum, copy);
}

OL_AVX2 uint32_t ol_csum_partial_avx2(const void *buf, size_t len, uint32_t sum)
{
	return avx2_body(NULL, buf, len, sum, false);
}

OL_AVX2 uint32_t ol_csum_copy_avx2(void *restrict dst, const void *restrict src, size_t len,
                                   uint32_t sum)
{
	return avx2_body(dst, src, len, sum, true);
}
#endif
