/* test_policy.c - the per-port switch policy (src/dp/dp_policy.h): 802.1Q
 * ingress classification, anti-spoofing and egress tagging, table-driven,
 * refusals first. */
#include <string.h>

#include "check.h"
#include "dp_policy.h"

static struct dp_port_cfg access10, trunk, trunk_native5, bound;

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
	const struct dp_port_cfg *cfg;
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
		{ "tag cut short", &trunk, 20, 17, DP_DROP_VLAN, 0, true },
		{ "VID 4095 reserved", &trunk, 4095, 64, DP_DROP_VLAN, 0, true },
		{ "tagged frame on an access port", &access10, 10, 64, DP_DROP_VLAN, 0, true },
		{ "VLAN not in the trunk list", &trunk, 40, 64, DP_DROP_VLAN, 0, true },
		{ "untagged on access port", &access10, -1, 64, DP_PASS, 10, false },
		{ "priority tag on access port", &access10, 0, 64, DP_PASS, 10, true },
		{ "allowed tagged VLAN on trunk", &trunk, 30, 64, DP_PASS, 30, true },
		{ "untagged on trunk: native 0", &trunk, -1, 64, DP_PASS, 0, false },
		{ "untagged on trunk with native 5", &trunk_native5, -1, 64, DP_PASS, 5, false },
		{ "any VLAN on an all-VLAN trunk", &trunk_native5, 333, 64, DP_PASS, 333, true },
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		int v;
		frame(f, src_ok, in[i].vid, 3);
		vlan = 0xeeee;
		v = dp_ingress(in[i].cfg, f, in[i].len, &vlan, &pcp, &tagged);
		if (v != in[i].verdict || (v == DP_PASS && (vlan != in[i].vlan || tagged != in[i].tagged)))
			fprintf(stderr, "ingress case '%s': verdict %d vlan %u tagged %d\n", in[i].name, v,
			        vlan, tagged);
		CHECK_EQ(v, in[i].verdict);
		if (v == DP_PASS) {
			CHECK_EQ(vlan, in[i].vlan);
			CHECK_EQ(tagged, in[i].tagged);
		}
	}
	/* priority bits are kept */
	frame(f, src_ok, 30, 5);
	CHECK_EQ(dp_ingress(&trunk, f, 64, &vlan, &pcp, &tagged), DP_PASS);
	CHECK_EQ(pcp, 5);

	/* anti-spoofing */
	frame(f, src_bad, -1, 0);
	CHECK_EQ(dp_ingress(&bound, f, 64, &vlan, &pcp, &tagged), DP_DROP_SPOOF);
	frame(f, src_ok, -1, 0);
	CHECK_EQ(dp_ingress(&bound, f, 64, &vlan, &pcp, &tagged), DP_PASS);

	/* egress: admission and the tag */
	CHECK(!dp_egress(&access10, 20, 0, &tci));
	CHECK(dp_egress(&access10, 10, 3, &tci));
	CHECK_EQ(tci, 0);
	CHECK(!dp_egress(&trunk, 40, 0, &tci));
	CHECK(dp_egress(&trunk, 20, 6, &tci));
	CHECK_EQ(tci, 6 << 13 | 20);
	CHECK(dp_egress(&trunk, 0, 0, &tci)); /* native 0: untagged */
	CHECK_EQ(tci, 0);
	CHECK(dp_egress(&trunk_native5, 5, 1, &tci));
	CHECK_EQ(tci, 0);
	CHECK(!dp_egress(&trunk_native5, 0, 0, &tci)); /* VLAN 0 only as a native VLAN */
	CHECK(!dp_egress(&access10, 0, 0, &tci));
	return check_result("test_policy");
}
