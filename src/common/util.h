/* util.h - small helpers shared by every module: branch hints, checked
 * arithmetic, and the ALWAYS/NEVER idiom for "cannot happen" branches that
 * must still be handled in release builds. No state, no allocation. */
#ifndef VIFD_UTIL_H
#define VIFD_UTIL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define CACHE_LINE 64
#define cache_aligned __attribute__((aligned(CACHE_LINE)))

/* ALWAYS(x)/NEVER(x): for conditions our own code guarantees. A debug build
 * (NDEBUG unset) asserts; a release build still evaluates the condition so
 * the caller can take a safe path. */
#ifndef NDEBUG
#define ALWAYS(x) (assert(x), 1)
#define NEVER(x)  (assert(!(x)), 0)
#else
#define ALWAYS(x) (x)
#define NEVER(x)  (x)
#endif

/* Returns true and stores a + b in *r when it fits in 64 bits. */
static inline bool add_u64(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_add_overflow(a, b, r);
}

static inline bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Parses a MAC address written as six colon-separated hex pairs
 * ("02:00:00:00:00:01"), nothing before or after; false if it is not one. */
static inline bool mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

#endif
