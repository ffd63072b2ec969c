/* vx_wire.h - the VXLAN header (RFC 7348 §5) as vifd checks it: 8 bytes,
 * flags (the I bit says the VNI is valid; the other bits are reserved and
 * ignored on receipt, as the RFC says), 24 reserved bits, the 24-bit VNI,
 * 8 reserved bits. Pure functions: the driver (vxlan.c) and the fuzz
 * target use them. */
#ifndef VIFD_VX_WIRE_H
#define VIFD_VX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	VX_HDR = 8,
	VX_FLAG_I = 0x08,
	VX_ETH_MIN = 14,         /* an inner frame has at least its Ethernet header */
};

enum vx_verdict {
	VX_OK = 0,
	VX_BAD,                  /* no I flag, or too short for a header and a frame */
	VX_OTHER_VNI,            /* well formed, for another VNI */
};

/* The VNI of header h. */
static inline uint32_t vx_hdr_vni(const uint8_t *h)
{
	return (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
}

/* A datagram of len bytes whose first VX_HDR bytes are h (when len >=
 * VX_HDR) is well formed: the I flag, a header and an Ethernet header. */
static inline bool vx_hdr_ok(const uint8_t *h, size_t len)
{
	return len >= VX_HDR + VX_ETH_MIN && (h[0] & VX_FLAG_I);
}

/* What to do with such a datagram arriving at a port of VNI vni. */
static inline enum vx_verdict vx_check(const uint8_t *h, size_t len, uint32_t vni)
{
	if (!vx_hdr_ok(h, len))
		return VX_BAD;
	return vx_hdr_vni(h) == vni ? VX_OK : VX_OTHER_VNI;
}

/* The header vifd sends for vni. */
static inline void vx_hdr_put(uint8_t h[VX_HDR], uint32_t vni)
{
	h[0] = VX_FLAG_I;
	h[1] = h[2] = h[3] = 0;
	h[4] = (uint8_t)(vni >> 16);
	h[5] = (uint8_t)(vni >> 8);
	h[6] = (uint8_t)vni;
	h[7] = 0;
}

#endif
