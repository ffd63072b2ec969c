/* gmem.h - a guest's memory as the backend sees it: up to 8 regions mapped
 * from the fds of SET_MEM_TABLE, sorted by guest physical address, never
 * overlapping (checked when mapped). Every guest address vifd touches goes
 * through gmem_gpa() / gmem_uva_range(), which return a pointer only when the
 * range lies inside one mapped region.
 *
 * Security model: the table, the fds and the addresses all come from the
 * frontend and are hostile. gmem_map() checks sizes, offsets, overlaps and
 * the backing file's length before mapping anything; translation never forms
 * an address past a region's end (comparisons are written as
 * `len > end - addr`, never `addr + len > end`).
 *
 * A region whose file is truncated while mapped would make accesses fault
 * with SIGBUS; gmem installs a SIGBUS handler that replaces the faulting
 * page with an anonymous zero page and marks the owning memory table
 * broken, so the worker finishes its burst on garbage and the port stops.
 *
 * Threading: a gmem is built and torn down by the control thread while no
 * worker uses it (the datapath is detached via qsbr first); workers only
 * read it. `broken` may be set from any thread (signal handler included). */
#ifndef VIFD_GMEM_H
#define VIFD_GMEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"
#include "vu_wire.h"

enum { GMEM_MAX_REGIONS = VU_MAX_MEM_REGIONS };

struct gmem_region {
	uint64_t gpa;   /* guest physical start */
	uint64_t size;  /* bytes */
	uint64_t uva;   /* frontend's virtual address of the start */
	uint8_t *hva;   /* our mapping of the start */
	void *map_base; /* what mmap returned (hva - mmap_offset's page part) */
	size_t map_len;
};

struct gmem {
	uint32_t nregions;
	struct gmem_region r[GMEM_MAX_REGIONS]; /* sorted by gpa */
	_Atomic bool broken; /* set when an access faulted (SIGBUS) */
};

/* Validates and maps a frontend's table; takes ownership of nothing (the
 * caller closes the fds). On failure returns -errno, leaves *m empty and
 * writes a reason into err (size errlen). */
int gmem_map(struct gmem *m, const struct vu_mem_region *regs, const int *fds,
             uint32_t n, char *err, size_t errlen);
void gmem_unmap(struct gmem *m);

/* Installs the process-wide SIGBUS handler (idempotent). */
int gmem_sigbus_install(void);

/* Guest physical address -> our pointer; *contig receives how many bytes
 * are contiguous from there to the end of its region. NULL when gpa is in
 * no region. Bisection over at most 8 regions. */
static inline uint8_t *gmem_gpa(const struct gmem *m, uint64_t gpa, uint64_t *contig)
{
	uint32_t lo = 0, hi = m->nregions;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		const struct gmem_region *r = &m->r[mid];
		if (gpa < r->gpa) {
			hi = mid;
		} else if (gpa - r->gpa >= r->size) {
			lo = mid + 1;
		} else {
			*contig = r->size - (gpa - r->gpa);
			return r->hva + (gpa - r->gpa);
		}
	}
	return NULL;
}

/* The whole range [gpa, gpa+len) inside one region, or NULL. */
static inline uint8_t *gmem_gpa_range(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	uint64_t contig;
	uint8_t *p = gmem_gpa(m, gpa, &contig);
	return (p && len <= contig) ? p : NULL;
}

/* Frontend virtual address range (ring addresses of SET_VRING_ADDR) inside
 * one region, or NULL. Linear scan: called on the control path only. */
uint8_t *gmem_uva_range(const struct gmem *m, uint64_t uva, uint64_t len);

#endif
