/* ol.h - the generic offload layer: what vifd does in software for a
 * destination that lacks an offload the source used. It validates the
 * offload metadata of a frame's virtio-net header against the frame's own
 * headers (ol_parse), then writes the frame out either cut into TCP
 * segments (TSO) or UDP datagrams (USO) with every header fixed up, or
 * whole with its checksum completed (ol_gso_write, ol_csum_write),
 * checksumming while it copies, one pass over the payload.
 *
 * It works on a private copy of the frame's headers ("head") and on iovec
 * arrays for the rest; it knows nothing of rings, ports or virtio-net
 * header layouts beyond struct ol_meta. No allocation, no locks, no system
 * calls: any worker may call it on its own frames.
 *
 * Output is byte-identical to Linux's software GSO (net/ipv4/tcp_offload.c
 * tcp_gso_segment, net/ipv4/udp_offload.c __udp_gso_segment,
 * inet_gso_segment, ipv6_gso_segment) and to its checksum completion
 * (skb_checksum_help) for every input Linux accepts and this layer accepts
 * too; tests/unit/test_offload.c compares against frames captured from the
 * kernel (tests/data/gso/). What it refuses that Linux would take is listed
 * at enum ol_err; where it deliberately differs (it recomputes IPv4 header
 * checksums and L4 checksums from scratch, where Linux trusts the guest's
 * values) the output is still what Linux produces for a correct frame.
 *
 * Security model: the metadata (struct ol_meta) and every byte of the
 * frame come from a guest or a kernel port and may be anything. Decisions
 * are taken only on `head`, the caller's private copy of the first bytes:
 * ol_parse validates the metadata against it and records what it found in
 * struct ol_frame, and the writers build every output header from head and
 * ol_frame alone. The payload is only ever copied (and summed while
 * copied), never interpreted, so a guest that rewrites its payload during
 * the copy gets a frame whose checksum matches what was copied and nothing
 * else. Every length and offset is checked against the frame length and
 * the buffers given; segment counts are bounded (OL_TCP_MIN_MSS,
 * OL_UDP_MAX_SEGS), so no input makes the layer read or write outside its
 * buffers or loop without bound. */
#ifndef VIFD_OL_H
#define VIFD_OL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>

/* VIRTIO 1.1 5.1.6 (VIRTIO_NET_F_HOST_USO); Debian 12's uapi headers (Linux
 * 6.1) predate it. A macro like its siblings, so the uapi one wins. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

enum {
	/* Most header bytes (L2 + L3 + L4, options included) a frame to be
	 * segmented may have, and how many leading bytes head must hold:
	 * 2 VLAN tags (22) + IPv4 with options (60) + TCP with options (60)
	 * is 142; IPv6 (40) with extension headers has the rest. */
	OL_MAX_HDR = 256,
	/* Longest frame: 64 KiB of IP datagram behind the longest L2 header
	 * and the IPv6 fixed header (an IPv6 payload length counts neither). */
	OL_MAX_FRAME = 22 + 40 + 65535,
	/* Smallest TCP gso_size accepted: the smallest MSS a Linux sender
	 * uses (net.ipv4.tcp_min_snd_mss, 48 by default), so a peer that
	 * advertises a tiny MSS does not get its guest's frames dropped. A
	 * 64 KiB frame makes at most 1365 segments. */
	OL_TCP_MIN_MSS = 48,
	/* Most datagrams one USO frame may become: the kernel's
	 * UDP_MAX_SEGMENTS (virtio_net_hdr_to_skb refuses more). */
	OL_UDP_MAX_SEGS = 128,
	/* VLAN tags (802.1Q 0x8100 or 802.1ad 0x88a8) before the IP header. */
	OL_MAX_VLAN_TAGS = 2,
};

/* The offload fields of a virtio-net header (VIRTIO 1.1 5.1.6), host
 * byte order. Written by the caller from the frame's header; untrusted. */
struct ol_meta {
	uint8_t flags;         /* VIRTIO_NET_HDR_F_NEEDS_CSUM, _DATA_VALID */
	uint8_t gso_type;      /* VIRTIO_NET_HDR_GSO_NONE/TCPV4/TCPV6/UDP_L4, | _ECN */
	uint16_t hdr_len;      /* a hint only: checked against the frame, never used */
	uint16_t gso_size;     /* payload bytes per segment */
	uint16_t csum_start;   /* where checksumming starts (the L4 header) */
	uint16_t csum_offset;  /* where the checksum goes, from csum_start */
};

/* Why ol_parse refused a frame: one drop reason each (ol_err_str names
 * them). ol_parse returns the negated value. */
enum ol_err {
	OL_OK = 0,
	OL_ERR_FLAGS,       /* flags other than NEEDS_CSUM and DATA_VALID */
	OL_ERR_GSO_TYPE,    /* unknown gso_type, UFO (GSO_UDP), ECN without TCP, or a
	                     * type that does not match the packet: TCPV4 on IPv6,
	                     * TCP on UDP, not IP at all */
	OL_ERR_GSO_SIZE,    /* gso_size 0, TCP gso_size < OL_TCP_MIN_MSS, USO frame of
	                     * more than OL_UDP_MAX_SEGS datagrams */
	OL_ERR_CSUM,        /* GSO without NEEDS_CSUM; csum_start/csum_offset beyond the
	                     * frame, inside the L2 header, odd offset, or for GSO not
	                     * the TCP/UDP checksum field */
	OL_ERR_HDR,         /* m->hdr_len beyond the frame; headers longer than
	                     * OL_MAX_HDR or than the bytes of head given */
	OL_ERR_LEN,         /* frame shorter than an Ethernet header or longer than
	                     * OL_MAX_FRAME */
	OL_ERR_L2,          /* a frame to segment with more than OL_MAX_VLAN_TAGS tags */
	OL_ERR_IP,          /* IP version not the ethertype's, IPv4 IHL < 5, IPv4
	                     * options or the IPv6 header beyond the frame */
	OL_ERR_IP_LEN,      /* IPv4 total length or IPv6 payload length is not the
	                     * frame's (no padding, no jumbograms for GSO) */
	OL_ERR_IP_FRAG,     /* a fragment (IPv4 MF/offset) asked to be segmented */
	OL_ERR_IPV6_EXT,    /* an IPv6 extension header not segmented: routing,
	                     * fragment, AH, hop-by-hop not first, a home-address
	                     * option, or one running beyond the frame */
	OL_ERR_L4,          /* TCP data offset < 5, TCP/UDP header beyond the frame,
	                     * UDP length not the frame's */
	OL_ERR__COUNT
};

/* What the frame is to the writers: nothing to do, a checksum to complete,
 * or segments to make. */
enum ol_kind {
	OL_KIND_PLAIN,      /* no NEEDS_CSUM, no GSO: copy as it is */
	OL_KIND_CSUM,       /* NEEDS_CSUM only: complete the checksum */
	OL_KIND_TCP,        /* TSO: TCP segments (1 if the payload fits gso_size) */
	OL_KIND_UDP,        /* USO: UDP datagrams (likewise) */
};

/* Filled by ol_parse from head and the metadata; read by the writers.
 * Offsets are from the start of the frame as it leaves vifd. */
struct ol_frame {
	uint32_t len;          /* the whole frame, bytes */
	uint32_t pay_len;      /* bytes after hdr_len: the payload to copy */
	uint32_t pseudo;       /* GSO: partial sum of the pseudo-header's
	                        * addresses and protocol (not its length) */
	uint16_t hdr_len;      /* bytes taken from head: L2+L3+L4 with options
	                        * for GSO kinds, the L2 header (l3_off) otherwise */
	uint16_t l3_off;       /* after the Ethernet header and VLAN tags */
	uint16_t l4_off;       /* GSO: the TCP/UDP header (= csum_start) */
	uint16_t l4_hlen;      /* GSO: TCP header with options, or 8 */
	uint16_t ip_hlen;      /* GSO: IPv4 header with options; IPv6: 40 */
	uint16_t mss;          /* GSO: payload bytes per segment (gso_size) */
	uint16_t nseg;         /* frames ol_gso_write makes (>= 1) */
	uint16_t csum_start;   /* CSUM: region checksummed, from here to the end */
	uint16_t csum_offset;  /* CSUM: the checksum field, from csum_start */
	uint8_t kind;          /* enum ol_kind */
	uint8_t ipv;           /* GSO: 4 or 6 */
	uint8_t vlan_tags;     /* VLAN tags seen (0..2) */
	uint8_t flags;         /* the metadata's flags, as given */
};

/* Validates a frame's offload metadata against its own headers and fills
 * f. m: the metadata, host order (untrusted). head: a private copy of the
 * frame's first bytes as they will leave vifd (the caller has already
 * rewritten L2, e.g. added or removed a VLAN tag, and adjusted
 * m->csum_start and len by the same delta); headlen: bytes of head, at
 * least min(len, OL_MAX_HDR) (fewer makes frames with longer headers fail
 * with OL_ERR_HDR). len: the whole frame's length. Reads nothing beyond
 * min(headlen, len) bytes of head; never trusts m->hdr_len (only checks it
 * is within the frame); computes its own header length.
 * Returns 0, or -enum ol_err with f undefined. */
int ol_parse(const struct ol_meta *m, const uint8_t *head, uint32_t headlen, uint32_t len,
             struct ol_frame *f);

/* Frames ol_gso_write makes of f: the segment count for GSO kinds, else 1. */
static inline uint32_t ol_gso_count(const struct ol_frame *f)
{
	return f->nseg;
}

/* Bytes of output frame k (0 if k >= ol_gso_count(f)). */
static inline uint32_t ol_gso_len(const struct ol_frame *f, uint32_t k)
{
	uint32_t off;

	if (k >= f->nseg)
		return 0;
	if (f->kind != OL_KIND_TCP && f->kind != OL_KIND_UDP)
		return f->len;
	off = k * f->mss;
	return f->hdr_len + (f->pay_len - off < f->mss ? f->pay_len - off : f->mss);
}

/* Writes output frame k of f into dst, an Ethernet frame without any
 * virtio-net header (the destination's header says no offload: zeros, or
 * DATA_VALID, as the caller likes; every checksum is complete).
 * Output bytes [0, f->hdr_len) come from head (as given to ol_parse), the
 * rest from the source iovecs src: output byte f->hdr_len is source byte
 * pay_off (pay_off = f->hdr_len minus the bytes the caller's L2 rewrite
 * added), and segment k's payload is source bytes
 * [pay_off + k*mss, pay_off + k*mss + its length).
 * For GSO kinds, the headers are those of segment k as Linux makes them:
 * IPv4 ID + k, total length and header checksum recomputed; IPv6 payload
 * length; TCP sequence + k*mss, FIN and PSH only on the last segment, CWR
 * only on the first; UDP length; the TCP/UDP checksum computed from scratch
 * (pseudo-header, header, payload) while the payload is copied. A GSO frame
 * whose payload fits one segment keeps its headers but for the checksums,
 * as Linux does (which leaves the IPv4 header checksum alone: the bytes
 * are the same when the guest's was right).
 * For OL_KIND_CSUM (k = 0) the frame is copied and the checksum of
 * [csum_start, len) stored at csum_start + csum_offset; the field's
 * original value (the pseudo-header sum, Linux/virtio convention) counts in
 * the sum. OL_KIND_PLAIN is copied.
 * dst: iovecs of together at least ol_gso_len(f, k) bytes, filled from the
 * start; src: at least pay_off + f->pay_len bytes.
 * Returns the bytes written (ol_gso_len(f, k)), or 0 if k is out of range
 * or src or dst is too short (dst's contents are then undefined). */
uint32_t ol_gso_write(const struct ol_frame *f, const uint8_t *head, uint32_t k,
                      const struct iovec *src, unsigned nsrc, size_t pay_off,
                      const struct iovec *dst, unsigned ndst);

/* Checksum offload in software for a frame going whole to a destination
 * without checksum offload: the same as ol_gso_write(f, ..., 0, ...) when
 * f makes one frame (PLAIN, CSUM, or GSO whose payload fits one segment);
 * returns 0 for a frame that needs segmenting. */
uint32_t ol_csum_write(const struct ol_frame *f, const uint8_t *head,
                       const struct iovec *src, unsigned nsrc, size_t pay_off,
                       const struct iovec *dst, unsigned ndst);

/* Copies len bytes from the source iovecs (from byte soff) to the
 * destination iovecs (from byte doff), adding their partial sum (ol_impl.h)
 * to *sum as a region that starts at an even offset, whatever the iovec
 * boundaries: chunks that start at an odd offset of the region are
 * byte-rotated. Returns the bytes copied: len, or fewer if either side
 * ends first. Zero-length iovecs are skipped. */
size_t ol_iov_csum_copy(const struct iovec *dst, unsigned ndst, size_t doff,
                        const struct iovec *src, unsigned nsrc, size_t soff,
                        size_t len, uint32_t *sum);

/* The name of a drop reason ("gso_type", ...), for counters and logs;
 * "?" for a value outside the enum. */
const char *ol_err_str(int err);

/* Receive coalescing (ol_gro.c): TCP connections with a run of segments
 * open at once. */
enum { OL_GRO_FLOWS = 8 };
struct pkt;
/* Merges, among the n frames of pkts (a kernel port's burst: frames of one
 * segment without offload metadata are looked at, the others passed on),
 * the TCP segments of a connection that follow one another into one
 * segmentation-offload frame each (see ol_gro.c for the rules); frames are
 * moved up over the ones merged away. Returns the new count; *merged (may
 * be NULL) gets the number of frames merged into others. The frames'
 * bytes are rewritten in place (the merged frame's headers). */
unsigned ol_gro(struct pkt *pkts, unsigned n, unsigned *merged);

/* The metadata of a little-endian virtio-net header (VERSION_1; also the
 * legacy layout on little-endian hosts), first 10 bytes. */
static inline void ol_meta_from_vnet(const struct virtio_net_hdr *h, struct ol_meta *m)
{
	const uint8_t *p = (const uint8_t *)h;

	m->flags = p[0];
	m->gso_type = p[1];
	m->hdr_len = (uint16_t)(p[2] | p[3] << 8);
	m->gso_size = (uint16_t)(p[4] | p[5] << 8);
	m->csum_start = (uint16_t)(p[6] | p[7] << 8);
	m->csum_offset = (uint16_t)(p[8] | p[9] << 8);
}

#endif
