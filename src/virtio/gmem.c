/* gmem.c - see gmem.h. */
#include "gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <ucontext.h>
#include <unistd.h>

#include "vlog.h"

/* Mapping limits and the running total (control thread only). */
static uint64_t table_max = GMEM_TABLE_MAX_DEFAULT, total_max = GMEM_TOTAL_MAX_DEFAULT;
static uint64_t mapped_total;

void gmem_set_limits(uint64_t tmax, uint64_t all)
{
	table_max = tmax;
	total_max = all;
}

void gmem_get_limits(uint64_t *tmax, uint64_t *all)
{
	*tmax = table_max;
	*all = total_max;
}

uint64_t gmem_mapped_total(void)
{
	return mapped_total;
}

/* The process's userfaultfd for holes (see gmem.h): -1 until the first
 * table is mapped, -2 when it cannot be had (then holes allocate). Read by
 * the SIGBUS handler. */
static _Atomic int uffd = -1;

#if defined(__x86_64__)
static int uffd_get(void)
{
	struct uffdio_api api = { .api = UFFD_API,
	                          .features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_SHMEM };
	int fd = atomic_load(&uffd);

	if (fd != -1)
		return fd;
	/* User-mode faults only: allowed without privileges since Linux
	 * 5.11, and kernel accesses (a tap write from guest memory) get
	 * EFAULT instead of a signal. */
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd >= 0 && ioctl(fd, UFFDIO_API, &api) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		vlog_warn("guest memory: no userfaultfd (%s): reading pages a guest never wrote "
		          "allocates them", strerror(errno));
		fd = -2;
	}
	atomic_store(&uffd, fd);
	return fd;
}

/* Whether the faulting access was a write (x86 page-fault error code). */
static bool fault_is_write(const void *uctx)
{
	return ((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_ERR] & 2;
}
#else
static int uffd_get(void)
{
	return -2;
}

static bool fault_is_write(const void *uctx)
{
	(void)uctx;
	return false;
}
#endif

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
	bool uffd;         /* holes fault here (registered with uffd) */
	struct gmem *owner;
} reg[REG_SLOTS];

/* Returns false when the table is full (the caller refuses the region
 * rather than run it unguarded). */
static bool reg_add(struct gmem *m, void *base, size_t len, size_t page, bool uffd_on)
{
	for (int i = 0; i < REG_SLOTS; i++) {
		if (atomic_load(&reg[i].start) == 0) {
			reg[i].owner = m;
			reg[i].page = page;
			reg[i].uffd = uffd_on;
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

/* Returns true when the faulting access may be retried. */
static bool sigbus_fix(siginfo_t *si, void *uctx)
{
	/* The same page faulting again and again (a guest punching the hole
	 * back as fast as we fill it) ends as a fault, not a livelock. */
	static __thread uintptr_t last_page;
	static __thread unsigned same;
	uintptr_t a = (uintptr_t)si->si_addr;

	for (int i = 0; i < REG_SLOTS; i++) {
		uintptr_t s = atomic_load(&reg[i].start);
		if (s && a >= s && a < atomic_load(&reg[i].end)) {
			size_t pg = reg[i].page;
			void *page = (void *)(a & ~((uintptr_t)pg - 1));
			int ufd = atomic_load(&uffd);

			if ((uintptr_t)page == last_page) {
				same++;
			} else {
				last_page = (uintptr_t)page;
				same = 0;
			}
			if (reg[i].uffd && ufd >= 0 && same < 8) {
				unsigned char vec = 0;

				if (fault_is_write(uctx)) {
					/* A hole the guest wants written: fill it;
					 * EEXIST: someone else just did. */
					struct uffdio_zeropage z = {
						.range = { (uintptr_t)page, pg } };
					if (ioctl(ufd, UFFDIO_ZEROPAGE, &z) == 0 || errno == EEXIST)
						return true; /* the access is retried */
				} else if (mincore(page, pg, &vec) == 0 && (vec & 1)) {
					return true; /* written meanwhile: not a hole now */
				} else {
					atomic_store(&reg[i].owner->hole, true);
				}
			}
			atomic_store(&reg[i].owner->broken, true);
			/* Replace the page (a whole huge page in a hugetlb
			 * mapping: it cannot be split) so the faulting access
			 * can complete. */
			return mmap(page, pg, PROT_READ | PROT_WRITE,
			            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
		}
	}
	return false;
}

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno; /* the interrupted code may be looking at it */

	if (sigbus_fix(si, uctx)) {
		errno = saved;
		return;
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

bool gmem_guard(struct gmem *m, void *base, size_t len)
{
	return reg_add(m, base, len, (size_t)getpagesize(), false);
}

void gmem_unguard(void *base)
{
	reg_del(base);
}

void gmem_unmap(struct gmem *m)
{
	for (uint32_t i = 0; i < m->nregions; i++) {
		reg_del(m->r[i].map_base);
		munmap(m->r[i].map_base, m->r[i].map_len);
	}
	m->nregions = 0;
	mapped_total -= m->mapped;
	m->mapped = 0;
	atomic_store(&m->broken, false);
	atomic_store(&m->hole, false);
}

void gmem_populate(const struct gmem *m, const void *p, uint64_t len)
{
	int ufd = atomic_load(&uffd);
	long pgsz = sysconf(_SC_PAGESIZE);
	uintptr_t a, end;

	if (ufd < 0 || len == 0)
		return;
	for (uint32_t i = 0; i < m->nregions; i++) {
		const struct gmem_region *g = &m->r[i];
		if (!g->uffd || (uintptr_t)p < (uintptr_t)g->hva ||
		    (uintptr_t)p - (uintptr_t)g->hva >= g->size)
			continue;
		a = (uintptr_t)p & ~((uintptr_t)pgsz - 1);
		end = (uintptr_t)p + len;
		for (; a < end; a += (uintptr_t)pgsz) {
			struct uffdio_zeropage z = { .range = { a, (uint64_t)pgsz } };
			/* EEXIST: the page is there already. */
			ioctl(ufd, UFFDIO_ZEROPAGE, &z);
		}
		return;
	}
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
	m->mapped = 0;
	atomic_store(&m->broken, false);
	atomic_store(&m->hole, false);
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
		bool huge;

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
		 * thread and workers (page faults) at will. fcntl(F_GET_SEALS)
		 * is answered from the inode by tmpfs/shmem (memfd, /dev/shm)
		 * and hugetlbfs, and refused with EINVAL by every other file
		 * (sockets, pipes, devices, disk, FUSE, NFS) without asking
		 * anybody: a file that passes it can be stat-ed safely. */
		if (fcntl(fds[i], F_GET_SEALS) < 0) {
			ret = errno == EBADF ? -EBADF : -EINVAL;
			snprintf(err, errlen, "region %u: memory must be a memfd, tmpfs or hugetlbfs "
			         "file (%s)", i, strerror(errno));
			goto fail;
		}
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
		huge = sfs.f_type == HUGETLBFS_MAGIC;
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "region %u: fd is not a file", i);
			ret = -EINVAL;
			goto fail;
		}
		/* A file shorter than the mapping would fault on access: refuse
		 * it now. */
		if ((uint64_t)st.st_size < end) {
			snprintf(err, errlen, "region %u: file is %lld bytes, region needs %llu",
			         i, (long long)st.st_size, (unsigned long long)end);
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
		/* Limits count whole pages: what the address space loses. */
		map_len = (map_len + (uint64_t)pgsz - 1) & ~((uint64_t)pgsz - 1);
		if ((table_max && m->mapped + map_len > table_max) ||
		    (total_max && mapped_total + map_len > total_max)) {
			bool tbl = table_max && m->mapped + map_len > table_max;
			snprintf(err, errlen, "region %u: %llu MiB more would exceed the %s limit "
			         "of %llu MiB (%llu MiB mapped)", i,
			         (unsigned long long)(map_len >> 20), tbl ? "per-port" : "total",
			         (unsigned long long)((tbl ? table_max : total_max) >> 20),
			         (unsigned long long)((tbl ? m->mapped : mapped_total) >> 20));
			ret = -E2BIG;
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
		g->uffd = false;
		m->nregions = i + 1;
		m->mapped += map_len;
		mapped_total += map_len;
		/* Holes fault (see gmem.h); hugetlbfs pages come from the
		 * operator's pool, reserved when mapped: not registered. */
		if (!huge && uffd_get() >= 0) {
			struct uffdio_register ur = {
				.range = { (uintptr_t)base, map_len },
				.mode = UFFDIO_REGISTER_MODE_MISSING };
			g->uffd = ioctl(atomic_load(&uffd), UFFDIO_REGISTER, &ur) == 0;
		}
		/* hugetlbfs reports its page size as the block size. */
		if (!reg_add(m, base, (size_t)map_len, huge ? (size_t)st.st_blksize : (size_t)pgsz,
		             g->uffd)) {
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
