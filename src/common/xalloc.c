/* xalloc.c - see xalloc.h. */
#include "xalloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic unsigned long fail_countdown;

void xalloc_fail_at(unsigned long n)
{
	atomic_store(&fail_countdown, n);
}

static int should_fail(void)
{
	unsigned long c = atomic_load(&fail_countdown);
	while (c) {
		if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
			return c == 1;
	}
	return 0;
}

void *xcalloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n, size);
}

void *xaligned_calloc(size_t align, size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	size = (size + align - 1) / align * align;
	p = aligned_alloc(align, size);
	if (p)
		memset(p, 0, size);
	return p;
}

void xfree(void *p)
{
	free(p);
}
