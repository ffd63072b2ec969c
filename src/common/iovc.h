/* iovc.h - a cursor over an iovec array, for copying frames between
 * buffers that are split in segments (guest chains, the worker's buffers).
 * Inline, no state beyond the cursor; the caller bounds every length. */
#ifndef VIFD_IOVC_H
#define VIFD_IOVC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "util.h"

/* Iterator over an iovec array. */
struct iovc {
	const struct iovec *iov;
	unsigned n, i;
	size_t off;
};

static inline void iovc_init(struct iovc *c, const struct iovec *iov, unsigned n)
{
	c->iov = iov;
	c->n = n;
	c->i = 0;
	c->off = 0;
}

static inline void iovc_skip(struct iovc *c, size_t len)
{
	while (len && c->i < c->n) {
		size_t left = c->iov[c->i].iov_len - c->off;
		if (len < left) {
			c->off += len;
			return;
		}
		len -= left;
		c->i++;
		c->off = 0;
	}
}

/* Copies up to len bytes from src into the cursor; returns bytes copied. */
static inline size_t iovc_put(struct iovc *d, const uint8_t *src, size_t len)
{
	size_t done = 0;

	while (done < len && d->i < d->n) {
		size_t room = d->iov[d->i].iov_len - d->off;
		size_t c = MIN(room, len - done);
		memcpy((uint8_t *)d->iov[d->i].iov_base + d->off, src + done, c);
		done += c;
		d->off += c;
		if (d->off == d->iov[d->i].iov_len) {
			d->i++;
			d->off = 0;
		}
	}
	return done;
}

/* Copies up to len bytes from cursor s into cursor d; returns bytes copied. */
static inline size_t iovc_copy(struct iovc *d, struct iovc *s, size_t len)
{
	size_t done = 0;

	while (done < len && d->i < d->n && s->i < s->n) {
		size_t dl = d->iov[d->i].iov_len - d->off;
		size_t sl = s->iov[s->i].iov_len - s->off;
		size_t c = MIN(MIN(dl, sl), len - done);
		memcpy((uint8_t *)d->iov[d->i].iov_base + d->off,
		       (const uint8_t *)s->iov[s->i].iov_base + s->off, c);
		done += c;
		d->off += c;
		s->off += c;
		if (d->off == d->iov[d->i].iov_len) {
			d->i++;
			d->off = 0;
		}
		if (s->off == s->iov[s->i].iov_len) {
			s->i++;
			s->off = 0;
		}
	}
	return done;
}

/* Reads up to len bytes at the cursor into dst (the cursor advances). */
static inline size_t iovc_get(struct iovc *s, uint8_t *dst, size_t len)
{
	size_t done = 0;

	while (done < len && s->i < s->n) {
		size_t left = s->iov[s->i].iov_len - s->off;
		size_t c = MIN(left, len - done);
		memcpy(dst + done, (const uint8_t *)s->iov[s->i].iov_base + s->off, c);
		done += c;
		s->off += c;
		if (s->off == s->iov[s->i].iov_len) {
			s->i++;
			s->off = 0;
		}
	}
	return done;
}

#endif
