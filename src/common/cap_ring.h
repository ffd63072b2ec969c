/* cap_ring.h - the shared memory of a port capture (vifctl capture): what
 * vifd's workers write and vifctl reads, the only thing both sides know of
 * each other besides the control socket's JSON.
 *
 * vifd's control thread makes a memfd (sealed against shrinking, so the
 * reader cannot pull pages from under a worker), lays out one header and
 * one ring per datapath worker, and passes the fd with the capture reply
 * (SCM_RIGHTS). Each ring has one producer (its worker) and one consumer
 * (vifctl): a byte ring of records, 8-byte aligned.
 *
 * Memory-order contract, per ring:
 *  - head: bytes ever written; the worker writes records past it, then
 *    stores it with release (once per burst). The reader loads it with
 *    acquire, reads the records below it.
 *  - tail: bytes ever consumed; the reader stores it with release once it
 *    is done with them, the worker loads it with acquire. The worker keeps
 *    its own head privately and checks the tail it reads (the reader is
 *    another process): a tail that is ahead of head or more than a ring
 *    behind makes the worker drop, never write out of bounds.
 *  - frames, drops: written by the worker only (relaxed), read by vifctl.
 * A record that does not fit before the end of the data area is preceded
 * by a wrap mark (rec_len 0) or, with fewer than 8 bytes left, by nothing:
 * the reader goes on at the start of the area. */
#ifndef VIFD_CAP_RING_H
#define VIFD_CAP_RING_H

#include <stdatomic.h>
#include <stdint.h>

enum {
	CAP_MAGIC = 0x63666976,  /* "vifc" */
	CAP_VERSION = 1,
	CAP_ALIGN = 8,
	CAP_DIR_RX = 1,          /* frames vifd received from the port */
	CAP_DIR_TX = 2,          /* frames vifd sent to the port */
	CAP_STATE_RUNNING = 0,
	CAP_STATE_ENDED = 1,     /* the port went away: nothing more will come */
};

struct cap_hdr {
	uint32_t magic, version;
	uint32_t nrings;          /* one per datapath worker */
	uint32_t snaplen;         /* frame bytes kept per record at most */
	uint64_t ring_off;        /* offset of ring 0 from the header */
	uint64_t ring_stride;     /* bytes from one ring to the next */
	uint64_t data_bytes;      /* each ring's data area: a power of two */
	int64_t realtime_off_ns;  /* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
	_Atomic uint32_t state;   /* CAP_STATE_*: written by vifd's control thread */
};

struct cap_ring {
	_Atomic uint64_t head;
	uint8_t pad0[56];
	_Atomic uint64_t tail;
	uint8_t pad1[56];
	_Atomic uint64_t frames;  /* records written */
	_Atomic uint64_t drops;   /* frames not captured: the ring was full */
	uint8_t pad2[48];
	/* data_bytes of records follow */
};

struct cap_rec {
	uint32_t rec_len;         /* this record's bytes with padding; 0: wrap mark */
	uint32_t caplen;          /* frame bytes that follow */
	uint32_t len;             /* the frame's whole length */
	uint8_t dir;              /* CAP_DIR_RX or CAP_DIR_TX */
	uint8_t pad[3];
	uint64_t ts_ns;           /* CLOCK_MONOTONIC */
};

static inline uint32_t cap_rec_bytes(uint32_t caplen)
{
	return (uint32_t)((sizeof(struct cap_rec) + caplen + CAP_ALIGN - 1) & ~(CAP_ALIGN - 1u));
}

#endif
