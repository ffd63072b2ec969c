/* test_policy.c - the per-port switch policy (src/switch/sw_policy.h): 802.1Q
 * ingress classification, anti-spoofing and egress tagging, table-driven,
 * refusals first. */
#include <string.h>

#include "check.h"
#include "pkt.h"
#include "sw_policy.h"

static struct sw_policy access10, trunk, trunk_native5, bound;

static void frame(uint8_t *f, const uint8_t src[6], int vid, int pcp)
{
	memset(f, 0, 64);
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	if (vid >= 0) {
		f[12] = 0x81;
		f[13] = 0x00;
		f[14] = (uint8_t)(pcp << 5 | vid >> 8);
		f[15] = (uint8_t)vid;
		f[16] = 0x08;
	} else {
		f[12] = 0x08;
	}
}

struct in_case {
	const char *name;
	const struct sw_policy *cfg;
	int vid;      /* -1: untagged */
	uint32_t len;
	int verdict;
	uint16_t vlan;
	bool tagged;
};

static const uint8_t src_ok[6] = { 2, 0, 0, 0, 0, 0x10 }, src_bad[6] = { 2, 0, 0, 0, 0, 0x11 };

int main(void)
{
	uint8_t f[64];
	uint16_t vlan, tci;
	uint8_t pcp;
	bool tagged;

	access10.tag = 10;
	trunk.trunks_set = true;
	trunk.trunks[20 >> 3] |= 1u << (20 & 7);
	trunk.trunks[30 >> 3] |= 1u << (30 & 7);
	trunk_native5.native = 5;
	bound.mac_bound = true;
	memcpy(bound.mac, src_ok, 6);

	const struct in_case in[] = {
		{ "tag cut short", &trunk, 20, 17, SW_DROP_VLAN, 0, true },
		{ "VID 4095 reserved", &trunk, 4095, 64, SW_DROP_VLAN, 0, true },
		{ "tagged frame on an access port", &access10, 10, 64, SW_DROP_VLAN, 0, true },
		{ "VLAN not in the trunk list", &trunk, 40, 64, SW_DROP_VLAN, 0, true },
		{ "untagged on access port", &access10, -1, 64, SW_PASS, 10, false },
		{ "priority tag on access port", &access10, 0, 64, SW_PASS, 10, true },
		{ "allowed tagged VLAN on trunk", &trunk, 30, 64, SW_PASS, 30, true },
		{ "untagged on trunk: native 0", &trunk, -1, 64, SW_PASS, 0, false },
		{ "untagged on trunk with native 5", &trunk_native5, -1, 64, SW_PASS, 5, false },
		{ "any VLAN on an all-VLAN trunk", &trunk_native5, 333, 64, SW_PASS, 333, true },
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		int v;
		frame(f, src_ok, in[i].vid, 3);
		vlan = 0xeeee;
		v = sw_ingress(in[i].cfg, f, in[i].len, PKT_HEAD, &vlan, &pcp, &tagged);
		if (v != in[i].verdict || (v == SW_PASS && (vlan != in[i].vlan || tagged != in[i].tagged)))
			fprintf(stderr, "ingress case '%s': verdict %d vlan %u tagged %d\n", in[i].name, v,
			        vlan, tagged);
		CHECK_EQ(v, in[i].verdict);
		if (v == SW_PASS) {
			CHECK_EQ(vlan, in[i].vlan);
			CHECK_EQ(tagged, in[i].tagged);
		}
	}
	/* priority bits are kept */
	frame(f, src_ok, 30, 5);
	CHECK_EQ(sw_ingress(&trunk, f, 64, PKT_HEAD, &vlan, &pcp, &tagged), SW_PASS);
	CHECK_EQ(pcp, 5);

	/* anti-spoofing */
	frame(f, src_bad, -1, 0);
	CHECK_EQ(sw_ingress(&bound, f, 64, PKT_HEAD, &vlan, &pcp, &tagged), SW_DROP_SPOOF);
	frame(f, src_ok, -1, 0);
	CHECK_EQ(sw_ingress(&bound, f, 64, PKT_HEAD, &vlan, &pcp, &tagged), SW_PASS);

	/* address binding: ARP */
	struct sw_policy ipb;
	uint8_t a[96];
	memset(&ipb, 0, sizeof(ipb));
	ipb.mac_bound = true;
	memcpy(ipb.mac, src_ok, 6);
	ipb.nip4 = 1;
	memcpy(ipb.ip4[0], (uint8_t[]){ 10, 0, 0, 5 }, 4);
	ipb.nip6 = 1;
	memset(ipb.ip6[0], 0, 16);
	ipb.ip6[0][0] = 0xfd;
	ipb.ip6[0][15] = 5;
	struct { const char *name; uint8_t spa[4]; bool sha_ok; uint32_t len; int verdict; } arp[] = {
		{ "ARP cut short", { 10, 0, 0, 5 }, true, 14 + 20, SW_DROP_SPOOF },
		{ "ARP for an address not bound", { 10, 0, 0, 6 }, true, 60, SW_DROP_SPOOF },
		{ "ARP whose sender MAC is not the bound one", { 10, 0, 0, 5 }, false, 60, SW_DROP_SPOOF },
		{ "ARP for the bound address", { 10, 0, 0, 5 }, true, 60, SW_PASS },
		{ "ARP probe (sender 0.0.0.0)", { 0, 0, 0, 0 }, true, 60, SW_PASS },
	};
	for (size_t i = 0; i < sizeof(arp) / sizeof(arp[0]); i++) {
		memset(a, 0, sizeof(a));
		memset(a, 0xff, 6);
		memcpy(a + 6, src_ok, 6);
		a[12] = 0x08, a[13] = 0x06;
		a[14] = 0, a[15] = 1, a[16] = 0x08, a[17] = 0, a[18] = 6, a[19] = 4, a[21] = 1;
		memcpy(a + 22, arp[i].sha_ok ? src_ok : src_bad, 6);
		memcpy(a + 28, arp[i].spa, 4);
		int v = sw_ingress(&ipb, a, arp[i].len, PKT_HEAD, &vlan, &pcp, &tagged);
		if (v != arp[i].verdict)
			fprintf(stderr, "ARP case '%s': verdict %d\n", arp[i].name, v);
		CHECK_EQ(v, arp[i].verdict);
	}
	/* NDP: neighbour advertisement target and solicitation source */
	struct { const char *name; uint8_t type; uint8_t last; bool src_unspec; int verdict; } nd[] = {
		{ "NA for an address not bound", 136, 6, false, SW_DROP_SPOOF },
		{ "NA for the bound address", 136, 5, false, SW_PASS },
		{ "NS from an address not bound", 135, 6, false, SW_DROP_SPOOF },
		{ "NS from the bound address", 135, 5, false, SW_PASS },
		{ "NS for duplicate address detection", 135, 6, true, SW_PASS },
	};
	for (size_t i = 0; i < sizeof(nd) / sizeof(nd[0]); i++) {
		memset(a, 0, sizeof(a));
		memset(a, 0x33, 6);
		memcpy(a + 6, src_ok, 6);
		a[12] = 0x86, a[13] = 0xdd;
		a[14] = 0x60, a[20] = 58, a[21] = 255; /* next header ICMPv6, hop limit */
		if (!nd[i].src_unspec) {
			a[22] = 0xfd;
			a[37] = nd[i].type == 135 ? nd[i].last : 5;
		}
		a[54] = nd[i].type;
		a[62] = 0xfd;
		a[77] = nd[i].type == 136 ? nd[i].last : 9;
		int v = sw_ingress(&ipb, a, 86, PKT_HEAD, &vlan, &pcp, &tagged);
		if (v != nd[i].verdict)
			fprintf(stderr, "NDP case '%s': verdict %d\n", nd[i].name, v);
		CHECK_EQ(v, nd[i].verdict);
	}
	/* a tagged ARP on a trunk is checked behind the tag */
	memset(a, 0, sizeof(a));
	memset(a, 0xff, 6);
	memcpy(a + 6, src_ok, 6);
	a[12] = 0x81, a[13] = 0x00, a[15] = 20, a[16] = 0x08, a[17] = 0x06;
	a[18] = 0, a[19] = 1, a[20] = 0x08, a[21] = 0, a[22] = 6, a[23] = 4, a[25] = 1;
	memcpy(a + 26, src_ok, 6);
	memcpy(a + 32, (uint8_t[]){ 10, 0, 0, 9 }, 4);
	CHECK_EQ(sw_ingress(&ipb, a, 64, PKT_HEAD, &vlan, &pcp, &tagged), SW_DROP_SPOOF);
	memcpy(a + 32, (uint8_t[]){ 10, 0, 0, 5 }, 4);
	CHECK_EQ(sw_ingress(&ipb, a, 64, PKT_HEAD, &vlan, &pcp, &tagged), SW_PASS);
	CHECK_EQ(vlan, 20);

	/* egress: admission and the tag */
	CHECK(!sw_egress(&access10, 20, 0, &tci));
	CHECK(sw_egress(&access10, 10, 3, &tci));
	CHECK_EQ(tci, 0);
	CHECK(!sw_egress(&trunk, 40, 0, &tci));
	CHECK(sw_egress(&trunk, 20, 6, &tci));
	CHECK_EQ(tci, 6 << 13 | 20);
	CHECK(sw_egress(&trunk, 0, 0, &tci)); /* native 0: untagged */
	CHECK_EQ(tci, 0);
	CHECK(sw_egress(&trunk_native5, 5, 1, &tci));
	CHECK_EQ(tci, 0);
	CHECK(!sw_egress(&trunk_native5, 0, 0, &tci)); /* VLAN 0 only as a native VLAN */
	CHECK(!sw_egress(&access10, 0, 0, &tci));
	return check_result("test_policy");
}
