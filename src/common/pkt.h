/* pkt.h - the neutral packet: what a frame is, not where it came from.
 *
 * A port driver's receive side (src/port: vhost-user rings, tap, AF_PACKET,
 * AF_XDP) describes each frame it hands to the datapath with one struct pkt:
 * the frame's bytes stay where they are (a guest's buffers, or the worker's
 * own buffers for kernel ports) and seg[] points at them, so receiving
 * copies nothing. The offload metadata of the frame's virtio-net header
 * (VIRTIO 1.1 §5.1.6) travels with it in `ol`. Classification (the switch)
 * adds what it decided: the frame's VLAN, its priority, and the private copy
 * of its first bytes that every destination gets (`head`), so that what
 * the switch decided on is what the receiver sees, whatever a guest writes
 * into its buffers meanwhile.
 *
 * Ownership: a burst of packets belongs to the worker that received it,
 * from the driver's rx_burst to its rx_done; the memory seg[] points at is
 * valid until rx_done (vhost-user: the chains go back to the guest then). */
#ifndef VIFD_PKT_H
#define VIFD_PKT_H

#include <stdint.h>
#include <sys/uio.h>

enum {
	PKT_MAX_SEGS = 64,  /* segments one frame may have (a chain's iovecs) */
	PKT_HEAD = 96,      /* frame bytes copied privately: a tagged NDP target fits */
};

/* The offload fields of a virtio-net header, host byte order. Zero: none
 * (a complete frame: checksummed, not to be segmented). */
struct pkt_ol {
	uint8_t flags;        /* VIRTIO_NET_HDR_F_NEEDS_CSUM, _DATA_VALID */
	uint8_t gso_type;     /* VIRTIO_NET_HDR_GSO_* (| _ECN) */
	uint16_t hdr_len;     /* the sender's claim: L2..L4 header bytes */
	uint16_t gso_size;    /* payload bytes per segment */
	uint16_t csum_start;  /* checksum from here to the end ... */
	uint16_t csum_offset; /* ... stored this far after csum_start */
};

struct pkt {
	uint32_t len;                 /* frame bytes: Ethernet header to the end */
	uint16_t nseg;                /* valid entries of seg[] */
	uint16_t id;                  /* the source driver's handle (a descriptor head) */
	struct pkt_ol ol;             /* from the source; zero: none */
	uint8_t rem;                  /* the remote endpoint it came from: a VXLAN
	                               * port's index into its remotes (1..), 0 for
	                               * every other port */
	/* Set by classification: */
	uint16_t vlan;                /* the VLAN the frame belongs to */
	uint8_t pcp;                  /* its 802.1Q priority */
	uint8_t l2skip;               /* source bytes the rewritten L2 header replaces:
	                               * 12 (the MACs), 16 with the tag the frame came with */
	uint8_t head[PKT_HEAD];       /* private copy of the first min(len, PKT_HEAD) bytes */
	struct iovec seg[PKT_MAX_SEGS]; /* the frame's bytes, in the source's memory */
};

/* Offloads a port takes as they are (its capabilities, from its own
 * negotiation: virtio features, the tap's TUNSETOFFLOAD): frames needing
 * one it lacks are segmented or checksummed in software on the way to it. */
enum pkt_ol_cap {
	PKT_OL_CSUM = 1 << 0,  /* frames whose checksum is left to finish (NEEDS_CSUM) */
	PKT_OL_TSO4 = 1 << 1,  /* TCP over IPv4 to be segmented */
	PKT_OL_TSO6 = 1 << 2,  /* TCP over IPv6 to be segmented */
	PKT_OL_ECN = 1 << 3,   /* ... with ECN (CWR on the first segment only) */
	PKT_OL_USO4 = 1 << 4,  /* UDP over IPv4 to be segmented (UDP_L4) */
	PKT_OL_USO6 = 1 << 5,  /* UDP over IPv6 to be segmented */
	PKT_OL_VALID = 1 << 6, /* frames marked as checksum verified (DATA_VALID) */
	PKT_OL_ALL = (1 << 7) - 1,
};

/* VIRTIO 1.x values missing from older kernel headers. */
enum {
	PKT_GSO_NONE = 0,
	PKT_GSO_TCPV4 = 1,
	PKT_GSO_UDP = 3,      /* UFO: never accepted */
	PKT_GSO_TCPV6 = 4,
	PKT_GSO_UDP_L4 = 5,   /* USO */
	PKT_GSO_ECN = 0x80,
	PKT_F_NEEDS_CSUM = 1,
	PKT_F_DATA_VALID = 2,
};

/* The capabilities a destination needs to take pk as it is (0: a complete
 * frame anyone takes). Reads the ethertype from the private head (after
 * classification) to tell UDP segmentation over IPv4 from IPv6. */
static inline uint32_t pkt_ol_needs(const struct pkt *pk)
{
	uint32_t need = 0;

	if (pk->ol.flags & PKT_F_NEEDS_CSUM)
		need |= PKT_OL_CSUM;
	if (pk->ol.flags & PKT_F_DATA_VALID)
		need |= PKT_OL_VALID;
	switch (pk->ol.gso_type & ~PKT_GSO_ECN) {
	case PKT_GSO_NONE:
		break;
	case PKT_GSO_TCPV4:
		need |= PKT_OL_TSO4 | PKT_OL_CSUM;
		break;
	case PKT_GSO_TCPV6:
		need |= PKT_OL_TSO6 | PKT_OL_CSUM;
		break;
	case PKT_GSO_UDP_L4: {
		unsigned et = pk->l2skip == 16 ? 16 : 12;
		need |= (pk->head[et] == 0x86 && pk->head[et + 1] == 0xdd ? PKT_OL_USO6
		                                                            : PKT_OL_USO4) |
		        PKT_OL_CSUM;
		break;
	}
	default:
		need |= PKT_OL_ALL + 1; /* nobody takes it (validation drops it first) */
	}
	if (pk->ol.gso_type & PKT_GSO_ECN)
		need |= PKT_OL_ECN;
	return need;
}

/* The frame's length as it leaves with egress tag tci (0: untagged). */
static inline uint32_t pkt_out_len(const struct pkt *p, uint16_t tci)
{
	return p->len - p->l2skip + 12 + (tci ? 4 : 0);
}

#endif
