/* vu_wire.h - the vhost-user wire protocol: message numbers, flags and
 * payload layouts, as QEMU's docs/interop/vhost-user.rst defines them.
 * Both halves use it: the backend (src/vhost) and the frontend (src/libvif).
 * All fields are little-endian on the wire; vifd runs on little-endian hosts
 * only (checked at build time below). */
#ifndef VIFD_VU_WIRE_H
#define VIFD_VU_WIRE_H

#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vhost-user and virtio 1.x rings are little-endian; big-endian hosts are not supported"
#endif

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_REQ_MAX = 41,
};

/* Header flags. */
enum {
	VU_FLAG_VERSION_MASK = 0x3,
	VU_VERSION = 0x1,
	VU_FLAG_REPLY = 1u << 2,
	VU_FLAG_NEED_REPLY = 1u << 3,
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
enum {
	VU_PF_MQ = 0,
	VU_PF_LOG_SHMFD = 1,
	VU_PF_RARP = 2,
	VU_PF_REPLY_ACK = 3,
	VU_PF_MTU = 4,
	VU_PF_BACKEND_REQ = 5,
	VU_PF_CROSS_ENDIAN = 6,
	VU_PF_CONFIG = 9,
	VU_PF_INFLIGHT_SHMFD = 12,
	VU_PF_RESET_DEVICE = 13,
	VU_PF_STATUS = 16,
};

/* virtio/vhost feature bits that the protocol itself uses. */
enum {
	VU_F_PROTOCOL_FEATURES = 30, /* VHOST_USER_F_PROTOCOL_FEATURES */
	VU_F_LOG_ALL = 26,           /* VHOST_F_LOG_ALL */
};

enum {
	VU_MAX_MEM_REGIONS = 8,
	VU_MAX_FDS = 8,
	VU_CONFIG_MAX = 256,
	/* SET_VRING_KICK/CALL/ERR payload: index in the low byte, bit 8 set
	 * when no fd is passed (the ring is polled / not signalled). */
	VU_VRING_IDX_MASK = 0xff,
	VU_VRING_NOFD_MASK = 0x100,
};

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow */
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;          /* bit 0: VHOST_VRING_F_LOG */
	uint64_t desc_user_addr; /* frontend virtual addresses, not guest physical */
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MAX_MEM_REGIONS];
} __attribute__((packed));

struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD: QEMU's VhostUserInflight, 24 bytes
 * (its u16s followed by the padding of a u64-aligned struct). */
struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint8_t padding[4];
} __attribute__((packed));

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_CONFIG_MAX];
} __attribute__((packed));

/* Largest payload any request carries. */
union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	struct vu_log log;
	struct vu_inflight inflight;
	struct vu_config config;
};

struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload p;
} __attribute__((packed));

#endif
