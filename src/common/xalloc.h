/* xalloc.h - control-path allocation through one wrapper, so tests can make
 * the Nth allocation fail (as sqlite's fault injection does) and check that
 * every error path unwinds cleanly. Never used on the datapath. */
#ifndef VIFD_XALLOC_H
#define VIFD_XALLOC_H

#include <stddef.h>

void *xcalloc(size_t n, size_t size);
void *xaligned_calloc(size_t align, size_t size);
void xfree(void *p);
/* Test hook: the Nth call from now (1 = the next one) fails; 0 disarms. */
void xalloc_fail_at(unsigned long n);

#endif
