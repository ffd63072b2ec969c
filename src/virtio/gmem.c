/* gmem.c - see gmem.h. */
#include "gmem.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Registry of live mappings for the SIGBUS handler. Slots are claimed and
 * released by the control thread only; the handler reads them. A slot is
 * released before its mapping is unmapped, and a mapping is unmapped only
 * after the datapath has let go of it (qsbr), so the handler never sees a
 * slot naming memory that is gone while a worker can still fault on it. */
enum { REG_SLOTS = 4096 }; /* 8 regions for each of 256 ports, twice over */
static struct {
	_Atomic uintptr_t start;
	_Atomic uintptr_t end;
	size_t page;       /* the mapping's page size (huge pages: 2 MiB, 1 GiB) */
	struct gmem *owner;
} reg[REG_SLOTS];

/* Returns false when the table is full (the caller refuses the region
 * rather than run it unguarded). */
static bool reg_add(struct gmem *m, void *base, size_t len, size_t page)
{
	for (int i = 0; i < REG_SLOTS; i++) {
		if (atomic_load(&reg[i].start) == 0) {
			reg[i].owner = m;
			reg[i].page = page;
			atomic_store(&reg[i].end, (uintptr_t)base + len);
			atomic_store(&reg[i].start, (uintptr_t)base);
			return true;
		}
	}
	return false;
}

static void reg_del(void *base)
{
	for (int i = 0; i < REG_SLOTS; i++)
		if (atomic_load(&reg[i].start) == (uintptr_t)base)
			atomic_store(&reg[i].start, 0);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	(void)uctx;

	for (int i = 0; i < REG_SLOTS; i++) {
		uintptr_t s = atomic_load(&reg[i].start);
		if (s && a >= s && a < atomic_load(&reg[i].end)) {
			size_t pg = reg[i].page;
			void *page = (void *)(a & ~((uintptr_t)pg - 1));
			atomic_store(&reg[i].owner->broken, true);
			/* Replace the page (a whole huge page in a hugetlb
			 * mapping: it cannot be split) so the faulting access
			 * can complete. */
			if (mmap(page, pg, PROT_READ | PROT_WRITE,
			         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED)
				return;
			break;
		}
	}
	/* Not guest memory: a real bug of ours. Die the default way. */
	signal(sig, SIG_DFL);
	raise(sig);
}

int gmem_sigbus_install(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	done = true;
	return 0;
}

void gmem_unmap(struct gmem *m)
{
	for (uint32_t i = 0; i < m->nregions; i++) {
		reg_del(m->r[i].map_base);
		munmap(m->r[i].map_base, m->r[i].map_len);
	}
	m->nregions = 0;
	atomic_store(&m->broken, false);
}

static int cmp_region(const void *a, const void *b)
{
	const struct gmem_region *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int gmem_map(struct gmem *m, const struct vu_mem_region *regs, const int *fds,
             uint32_t n, char *err, size_t errlen)
{
	long pgsz = sysconf(_SC_PAGESIZE);
	uint32_t i;
	int ret;

	m->nregions = 0;
	atomic_store(&m->broken, false);
	if (n == 0 || n > GMEM_MAX_REGIONS) {
		snprintf(err, errlen, "region count %u not in 1..%d", n, GMEM_MAX_REGIONS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const struct vu_mem_region *r = &regs[i];
		struct gmem_region *g = &m->r[i];
		uint64_t end, off_page, map_len;
		struct statfs sfs;
		struct stat st;
		void *base;

		/* Sizes and ends must not wrap in any of the three spaces. */
		if (r->memory_size == 0 || !add_u64(r->guest_phys_addr, r->memory_size, &end) ||
		    !add_u64(r->userspace_addr, r->memory_size, &end) ||
		    !add_u64(r->mmap_offset, r->memory_size, &end)) {
			snprintf(err, errlen, "region %u: size 0 or range overflows", i);
			ret = -EINVAL;
			goto fail;
		}
		/* Only shared-memory file systems: a file on a FUSE or network
		 * file system served by the frontend could block the control
		 * thread (fstat, close) and workers (page faults) at will. */
		if (fstatfs(fds[i], &sfs) < 0 || fstat(fds[i], &st) < 0) {
			snprintf(err, errlen, "region %u: fstat: %s", i, strerror(errno));
			ret = -EBADF;
			goto fail;
		}
		if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != HUGETLBFS_MAGIC) {
			snprintf(err, errlen, "region %u: memory must be a memfd, tmpfs or hugetlbfs "
			         "file (file system 0x%lx)", i, (unsigned long)sfs.f_type);
			ret = -EINVAL;
			goto fail;
		}
		/* A regular file (memfd, shm, hugetlbfs) shorter than the mapping
		 * would fault on access: refuse it now. */
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < end) {
			snprintf(err, errlen, "region %u: file is %lld bytes, region needs %llu",
			         i, (long long)st.st_size, (unsigned long long)end);
			ret = -EINVAL;
			goto fail;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "region %u: fd is not a file", i);
			ret = -EINVAL;
			goto fail;
		}
		off_page = r->mmap_offset & ~((uint64_t)pgsz - 1);
		map_len = r->memory_size + (r->mmap_offset - off_page);
		if (map_len > SIZE_MAX || map_len > (1ull << 46)) {
			snprintf(err, errlen, "region %u: too large", i);
			ret = -EINVAL;
			goto fail;
		}
		base = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		            fds[i], (off_t)off_page);
		if (base == MAP_FAILED) {
			ret = -errno;
			snprintf(err, errlen, "region %u: mmap: %s", i, strerror(errno));
			goto fail;
		}
		g->gpa = r->guest_phys_addr;
		g->size = r->memory_size;
		g->uva = r->userspace_addr;
		g->map_base = base;
		g->map_len = (size_t)map_len;
		g->hva = (uint8_t *)base + (r->mmap_offset - off_page);
		m->nregions = i + 1;
		/* hugetlbfs reports its page size as the block size. */
		if (!reg_add(m, base, (size_t)map_len,
		             sfs.f_type == HUGETLBFS_MAGIC ? (size_t)st.st_blksize : (size_t)pgsz)) {
			snprintf(err, errlen, "too many guest memory regions mapped in vifd");
			ret = -ENOSPC;
			goto fail;
		}
	}
	qsort(m->r, n, sizeof(m->r[0]), cmp_region);
	for (i = 1; i < n; i++) {
		if (m->r[i].gpa - m->r[i - 1].gpa < m->r[i - 1].size) {
			snprintf(err, errlen, "regions overlap at guest address 0x%llx",
			         (unsigned long long)m->r[i].gpa);
			ret = -EINVAL;
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		for (uint32_t j = i + 1; j < n; j++) {
			const struct gmem_region *a = &m->r[i], *b = &m->r[j];
			bool disjoint = a->uva < b->uva ? b->uva - a->uva >= a->size
			                                : a->uva - b->uva >= b->size;
			if (!disjoint) {
				snprintf(err, errlen, "regions overlap in frontend address space");
				ret = -EINVAL;
				goto fail;
			}
		}
	}
	return 0;
fail:
	gmem_unmap(m);
	return ret;
}

uint8_t *gmem_uva_range(const struct gmem *m, uint64_t uva, uint64_t len)
{
	for (uint32_t i = 0; i < m->nregions; i++) {
		const struct gmem_region *r = &m->r[i];
		if (uva >= r->uva && uva - r->uva < r->size && len <= r->size - (uva - r->uva))
			return r->hva + (uva - r->uva);
	}
	return NULL;
}
