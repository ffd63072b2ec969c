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
 * What gmem_map() accepts: regions of files on tmpfs/shmem (memfd, /dev/shm)
 * or hugetlbfs, told apart by fcntl(F_GET_SEALS), which only those file
 * systems answer and which never reaches a file system's server; only then
 * are fstat()/fstatfs() called (on those two they answer from the inode).
 * A file on FUSE, NFS or any other file system is refused without a call
 * that could wait for its server.
 *
 * Bounds: a table may map at most gmem's table limit, and all tables
 * together the total limit (gmem_set_limits; the page rounding counts), so
 * one frontend cannot take vifd's address space (a sparse 64 TiB memfd
 * costs its owner nothing).
 *
 * Pages the guest never wrote (holes of a sparse memfd): reading one
 * through a shared mapping would make the kernel allocate it, charged to
 * vifd. So shmem regions are registered with a userfaultfd in SIGBUS mode
 * (x86-64; elsewhere they are not, and such reads allocate as before): a
 * fault on a hole raises SIGBUS instead. The handler fills a hole that is
 * being written (a guest's receive buffer it never touched: the guest asked
 * for that page to be written, the cost is its own memory size, bounded by
 * the limits above) with a zero page (UFFDIO_ZEROPAGE) and lets the write
 * go on; a hole that is being read (the frame of a transmit buffer the
 * guest never wrote) marks the table broken like a truncated file. Ring
 * areas, which a driver may leave untouched (fresh memfd memory reads as
 * zero), are filled once when a ring is set up (gmem_populate), at most a
 * few hundred KiB per ring.
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
	bool uffd;      /* registered with gmem's userfaultfd (holes fault) */
};

struct gmem {
	uint32_t nregions;
	struct gmem_region r[GMEM_MAX_REGIONS]; /* sorted by gpa */
	_Atomic bool broken; /* set when an access faulted (SIGBUS) */
	_Atomic bool hole;   /* ... and it was a read of a page never written */
	uint64_t mapped;     /* bytes mapped (page-rounded), counted in the total */
};

/* Defaults of gmem_set_limits(). */
#define GMEM_TABLE_MAX_DEFAULT (1ull << 40)  /* 1 TiB per memory table (port) */
#define GMEM_TOTAL_MAX_DEFAULT (32ull << 40) /* 32 TiB for all of them */

/* Sets the mapping limits (control thread, before any gmem_map). */
void gmem_set_limits(uint64_t table_max, uint64_t total_max);
void gmem_get_limits(uint64_t *table_max, uint64_t *total_max);
/* Bytes mapped by all tables now. */
uint64_t gmem_mapped_total(void);

/* Fills the holes of [p, p+len) (inside one of m's regions) with zero
 * pages, so the workers' reads of it do not fault (ring areas). Control
 * thread; a no-op where holes do not fault. */
void gmem_populate(const struct gmem *m, const void *p, uint64_t len);

/* Validates and maps a frontend's table; takes ownership of nothing (the
 * caller closes the fds). On failure returns -errno (-E2BIG: over a limit),
 * leaves *m empty and writes a reason into err (size errlen). */
int gmem_map(struct gmem *m, const struct vu_mem_region *regs, const int *fds,
             uint32_t n, char *err, size_t errlen);
void gmem_unmap(struct gmem *m);
/* Guards another shared mapping of the frontend's (its dirty log) like a
 * region of m: an access that faults there (the file was truncated or a
 * hole punched in it) marks m broken and gets a private page instead of
 * killing vifd. Returns false when the guard table is full. Unguard
 * before unmapping. */
bool gmem_guard(struct gmem *m, void *base, size_t len);
void gmem_unguard(void *base);

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

/* Our pointer p into the mapping back to the guest physical address
 * (false if p is in no region): for the pages a write must mark in the
 * dirty log. At most GMEM_MAX_REGIONS comparisons. */
static inline bool gmem_hva_gpa(const struct gmem *m, const void *p, uint64_t *gpa)
{
	uintptr_t a = (uintptr_t)p;

	for (uint32_t i = 0; i < m->nregions; i++) {
		const struct gmem_region *r = &m->r[i];
		if (a >= (uintptr_t)r->hva && a - (uintptr_t)r->hva < r->size) {
			*gpa = r->gpa + (a - (uintptr_t)r->hva);
			return true;
		}
	}
	return false;
}

/* The frontend's dirty-page log (live migration, vhost-user.rst "Migration"):
 * one bit per 4 KiB page of guest physical memory, bit (page % 8) of byte
 * page / 8, in a shared memory file (SET_LOG_BASE) that the frontend reads
 * and clears while the guest runs. A bit is set after the write it stands
 * for (the frontend copies the page after it sees the bit), with an atomic
 * OR (the frontend clears bits concurrently). Pages past the log's end are
 * not marked: a frontend that gives a log too small for its memory loses
 * only its own migration. */
enum { DIRTY_PAGE_SHIFT = 12 };

struct dirty_log {
	uint8_t *bits;    /* NULL: no log */
	uint64_t size;    /* bytes */
	void *map_base;   /* what mmap returned */
	size_t map_len;
};

/* Sets the bits of mask in byte i of the log (pages 8i .. 8i+7). */
static inline void dirty_mark_byte(const struct dirty_log *l, uint64_t i, uint8_t mask)
{
	if (i < l->size)
		__atomic_fetch_or(&l->bits[i], mask, __ATOMIC_RELAXED);
}

#endif
