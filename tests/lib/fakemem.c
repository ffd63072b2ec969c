/* fakemem.c - see fakemem.h. */
#include "fakemem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int fakemem_init(struct fakemem *fm, uint64_t size, uint64_t gpa, uint64_t uva)
{
	struct vu_mem_region r = { .guest_phys_addr = gpa, .memory_size = size,
	                           .userspace_addr = uva, .mmap_offset = 0 };
	char err[128];
	int ret;

	memset(fm, 0, sizeof(*fm));
	fm->fd = memfd_create("fakemem", MFD_CLOEXEC);
	if (fm->fd < 0)
		return -errno;
	if (ftruncate(fm->fd, (off_t)size) < 0)
		goto fail;
	fm->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fm->fd, 0);
	if (fm->p == MAP_FAILED)
		goto fail;
	fm->size = size;
	fm->gpa = gpa;
	fm->uva = uva;
	/* Written once, as a guest's memory would be: reading a page never
	 * written faults in gmem (see gmem.h), which these tests are not about. */
	memset(fm->p, 0, size);
	ret = gmem_map(&fm->mem, &r, &fm->fd, 1, err, sizeof(err));
	if (ret < 0) {
		munmap(fm->p, size);
		close(fm->fd);
		return ret;
	}
	return 0;
fail:
	ret = -errno;
	close(fm->fd);
	return ret;
}

void fakemem_fini(struct fakemem *fm)
{
	gmem_unmap(&fm->mem);
	munmap(fm->p, fm->size);
	close(fm->fd);
}
