/* evpn.h - BGP EVPN for a VXLAN port, through FRR's zebra (the pattern of
 * SONiC's fdbsyncd). vifd speaks no BGP: per VNI it keeps a shadow kernel
 * bridge with a `nolearning` vxlan device (and a port for the MACs vifd
 * learns locally: one end of a veth pair) in the VXLAN port's network
 * namespace, which zebra
 * (`advertise-all-vni`) treats as its own VNI:
 *  - remote MACs (EVPN type-2 routes) come as PF_BRIDGE neighbour entries on
 *    the vxlan device with the VTEP in NDA_DST; the flood list (type-3
 *    routes) as entries of MAC 00:00:00:00:00:00, one per VTEP. vifd
 *    listens to them (RTNLGRP_NEIGH, and one dump at start, so a restarted
 *    vifd picks up what zebra installed) and mirrors them into its MAC table
 *    and the VXLAN port's flood list (callbacks below);
 *  - the MACs vifd learns on its other ports are written into the shadow
 *    bridge's forwarding table, on that local port (dynamic entries; the
 *    bridge's ageing is set to its maximum: vifd removes them itself when
 *    they age or move), so that zebra advertises them.
 * The shadow devices carry no traffic: IPv6 is off on each of them and none
 * has an address (so none sends anything of its own), nothing enters the
 * bridge (the local port's veth peer belongs to nothing and has no address
 * either), and the vxlan device listens on EVPN_SHADOW_PORT, where no VTEP
 * sends (VTEPs send to the VXLAN port's own UDP port, which vifd holds).
 * Test 131 checks the vxlan device's counters stay at 0.
 *
 * Control thread only; nothing here runs on the datapath. */
#ifndef VIFD_EVPN_H
#define VIFD_EVPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	EVPN_SHADOW_PORT = 61789, /* the shadow vxlan device's UDP port */
};

/* What the sync tells its owner (vtep: the remote endpoint's address as
 * text; mac all zero: a flood-list entry). */
struct evpn_cb {
	/* Returns a number kept with the MAC (the owner's index of vtep),
	 * handed back by evpn_remote_foreach. */
	int (*remote)(void *ctx, const uint8_t mac[6], const char *vtep, bool add);
	void *ctx;
};

struct evpn;

/* Creates (or takes over, after a restart) the shadow devices for vni with
 * local address local, in network namespace netns ("" : vifd's), and reads
 * what zebra installed so far (cb is called for each). 0, or -errno with a
 * reason in err. */
int evpn_open(const char *netns, uint32_t vni, const char *local, const struct evpn_cb *cb,
              struct evpn **out, char *err, size_t errlen);
/* Frees e; with remove, removes the shadow devices first (zebra then
 * withdraws the VNI and what it learned from it). Without, they stay for
 * the next vifd (a restart), with zebra's entries and vifd's local MACs. */
void evpn_close(struct evpn *e, bool remove);
/* The netlink socket: readable when zebra changed something. */
int evpn_fd(const struct evpn *e);
/* Reads what is there (non-blocking) and calls cb for each change. */
void evpn_read(struct evpn *e);

/* Local MACs: start a round, mark each MAC vifd has locally now, end it:
 * MACs new since the last round are added to the shadow bridge, MACs no
 * longer there are removed. Returns how many entries changed, or -errno. */
void evpn_local_begin(struct evpn *e);
void evpn_local_mark(struct evpn *e, const uint8_t mac[6]);
int evpn_local_end(struct evpn *e);
/* Local MACs in the shadow bridge now. */
unsigned evpn_local_count(const struct evpn *e);
/* fn for each remote MAC zebra has installed, with the number the
 * callback returned for it. */
void evpn_remote_foreach(const struct evpn *e, void (*fn)(void *arg, const uint8_t mac[6], int n),
                         void *arg);
/* Whether mac is a remote MAC zebra installed (vifctl fdb: "evpn"). */
bool evpn_is_remote(const struct evpn *e, const uint8_t mac[6]);
/* The names of the shadow bridge and vxlan device. */
const char *evpn_bridge_name(const struct evpn *e);
const char *evpn_vxlan_name(const struct evpn *e);

#endif
