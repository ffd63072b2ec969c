/* dp_cap.c - port captures, control side: the shared memory (a sealed
 * memfd: a header and one ring per worker, cap_ring.h), starting a capture
 * (the port's snapshot entry points at it), stopping one (cleared,
 * published, synchronized, unmapped), and ending those of a port that goes
 * away. At most DP_MAX_CAPTURES at once, one per port.
 *
 * Control thread only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dp_cap.h"
#include "vlog.h"
#include "xalloc.h"

static void cap_free(struct dp_cap *c)
{
	if (c->hdr)
		munmap(c->hdr, c->map_len);
	xfree(c);
}

int dp_capture_start(struct dp *dp, const char *port, unsigned dirs, uint32_t snaplen,
                     uint32_t ring_kib, int *fd_out, unsigned *id_out, char *err, size_t errlen)
{
	struct dp_port *p = NULL;
	struct dp_cap *c;
	struct timespec rt, mono;
	uint64_t data = 1;
	unsigned slot;
	int fd;

	for (unsigned i = 0; i < dp->nports && !p; i++)
		if (dp->ports[i] && !strcmp(dp->ports[i]->name, port))
			p = dp->ports[i];
	if (!p) {
		snprintf(err, errlen, "no port \"%.40s\"", port);
		return -ENOENT;
	}
	if (p->cap) {
		snprintf(err, errlen, "%s is being captured already (one capture per port)", p->name);
		return -EBUSY;
	}
	for (slot = 0; slot < DP_MAX_CAPTURES && dp->caps[slot]; slot++)
		;
	if (slot == DP_MAX_CAPTURES) {
		snprintf(err, errlen, "%d captures are running (at most %d at once)", DP_MAX_CAPTURES,
		         DP_MAX_CAPTURES);
		return -EBUSY;
	}
	while (data < (uint64_t)ring_kib * 1024)
		data <<= 1;
	/* All captures together map at most DP_CAP_MEM_MAX (their pages are
	 * charged to vifd once the workers write them). */
	uint64_t used = 0;
	for (unsigned i = 0; i < DP_MAX_CAPTURES; i++)
		if (dp->caps[i])
			used += dp->caps[i]->map_len;
	if (used + (uint64_t)dp->nworkers * data > DP_CAP_MEM_MAX) {
		snprintf(err, errlen, "captures would map %llu MiB in all, more than %d MiB: a smaller "
		         "--ring, or fewer captures", (unsigned long long)((used + (uint64_t)dp->nworkers *
		         data) >> 20), DP_CAP_MEM_MAX >> 20);
		return -ENOSPC;
	}
	c = xcalloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->port = p;
	c->dirs = (uint8_t)dirs;
	c->snaplen = snaplen;
	c->data_bytes = data;
	c->map_len = DP_CAP_RING_OFF + (size_t)dp->nworkers * (sizeof(struct cap_ring) + data);
	fd = memfd_create("vifd-capture", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)c->map_len) < 0 ||
	    /* The reader must not shrink it under a worker (SIGBUS). */
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;
		snprintf(err, errlen, "capture memory: %s", strerror(e));
		if (fd >= 0)
			close(fd);
		xfree(c);
		return -e;
	}
	c->hdr = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->hdr == MAP_FAILED) {
		int e = errno;
		snprintf(err, errlen, "capture memory: %s", strerror(e));
		c->hdr = NULL;
		close(fd);
		xfree(c);
		return -e;
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	*c->hdr = (struct cap_hdr){
		.magic = CAP_MAGIC, .version = CAP_VERSION, .nrings = dp->nworkers,
		.snaplen = snaplen, .ring_off = DP_CAP_RING_OFF,
		.ring_stride = sizeof(struct cap_ring) + data, .data_bytes = data,
		.realtime_off_ns = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000ll +
		                   (rt.tv_nsec - mono.tv_nsec),
	};
	if (++dp->cap_gen == 0) /* 0 means "none" to a connection */
		++dp->cap_gen;
	c->id = dp->cap_gen;
	dp->caps[slot] = c;
	p->cap = c;
	dp_publish(dp);
	vlog_info("%s: capture %u started (%s%s, snaplen %u, %u x %llu KiB)", p->name, c->id,
	          dirs & CAP_DIR_RX ? "rx" : "", dirs & CAP_DIR_TX ? (dirs & CAP_DIR_RX ? "+tx" : "tx") : "",
	          snaplen, dp->nworkers, (unsigned long long)(data / 1024));
	*fd_out = fd;
	*id_out = c->id;
	return 0;
}

/* Takes capture slot i out of the datapath and frees it. */
static void cap_stop_slot(struct dp *dp, unsigned i, bool ended)
{
	struct dp_cap *c = dp->caps[i];
	uint64_t frames = 0, drops = 0;

	dp->caps[i] = NULL;
	if (c->port->cap == c) {
		c->port->cap = NULL;
		dp_publish(dp); /* no worker writes to it after this */
	}
	for (unsigned w = 0; w < DP_MAX_WORKERS; w++) {
		frames += atomic_load_explicit(&c->w[w].frames, memory_order_relaxed);
		drops += atomic_load_explicit(&c->w[w].drops, memory_order_relaxed);
	}
	if (ended)
		atomic_store_explicit(&c->hdr->state, CAP_STATE_ENDED, memory_order_release);
	vlog_info("%s: capture %u stopped (%llu frames, %llu dropped: ring full)", c->port->name,
	          c->id, (unsigned long long)frames, (unsigned long long)drops);
	cap_free(c);
}

int dp_capture_stop(struct dp *dp, unsigned id)
{
	for (unsigned i = 0; i < DP_MAX_CAPTURES; i++)
		if (dp->caps[i] && dp->caps[i]->id == id) {
			cap_stop_slot(dp, i, false);
			return 0;
		}
	return -ENOENT;
}

void dp_capture_port_gone(struct dp *dp, struct dp_port *p)
{
	for (unsigned i = 0; i < DP_MAX_CAPTURES; i++)
		if (dp->caps[i] && dp->caps[i]->port == p)
			cap_stop_slot(dp, i, true);
}

void dp_capture_free_all(struct dp *dp)
{
	for (unsigned i = 0; i < DP_MAX_CAPTURES; i++)
		if (dp->caps[i]) {
			cap_free(dp->caps[i]);
			dp->caps[i] = NULL;
		}
}

unsigned dp_capture_list(struct dp *dp, struct dp_capture_info *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DP_MAX_CAPTURES && n < max; i++) {
		struct dp_cap *c = dp->caps[i];

		if (!c)
			continue;
		out[n] = (struct dp_capture_info){ .id = c->id, .dirs = c->dirs,
		                                   .snaplen = c->snaplen };
		snprintf(out[n].port, sizeof(out[n].port), "%s", c->port->name);
		for (unsigned w = 0; w < DP_MAX_WORKERS; w++) {
			/* Workers write these; a read may be a burst behind. */
			out[n].frames += atomic_load_explicit(&c->w[w].frames, memory_order_relaxed);
			out[n].drops += atomic_load_explicit(&c->w[w].drops, memory_order_relaxed);
		}
		n++;
	}
	return n;
}
