/* fakemem.h - fake guest memory for unit tests and fuzz targets: a memfd
 * mapped once as "the guest" (tests write rings and buffers through it) and
 * handed to gmem_map() as the frontend would, at chosen guest-physical and
 * frontend-virtual base addresses. */
#ifndef VIFD_TEST_FAKEMEM_H
#define VIFD_TEST_FAKEMEM_H

#include <stdint.h>

#include "gmem.h"

struct fakemem {
	int fd;
	uint8_t *p;      /* the guest's view */
	uint64_t size;
	uint64_t gpa;    /* guest physical base */
	uint64_t uva;    /* frontend virtual base */
	struct gmem mem; /* the backend's view */
};

/* Creates size bytes at gpa/uva and maps them into fm->mem. 0 or -errno. */
int fakemem_init(struct fakemem *fm, uint64_t size, uint64_t gpa, uint64_t uva);
void fakemem_fini(struct fakemem *fm);

static inline uint64_t fm_gpa(const struct fakemem *fm, uint64_t off) { return fm->gpa + off; }
static inline uint64_t fm_uva(const struct fakemem *fm, uint64_t off) { return fm->uva + off; }
static inline void *fm_ptr(const struct fakemem *fm, uint64_t off) { return fm->p + off; }

#endif
