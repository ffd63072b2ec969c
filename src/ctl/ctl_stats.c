/* ctl_stats.c - the per-port counter table; see ctl_stats.h. */
#include <stddef.h>

#include "ctl_stats.h"

#define F(field) offsetof(struct dp_port_stats, field)

const struct ctl_stat_field ctl_stat_fields[] = {
	{ "rx_pkts", "rx_packets", F(rx_pkts), "Frames the port sent into vifd." },
	{ "rx_bytes", "rx_bytes", F(rx_bytes), "Bytes of the frames the port sent into vifd." },
	{ "tx_pkts", "tx_packets", F(tx_pkts), "Frames vifd delivered to the port." },
	{ "tx_bytes", "tx_bytes", F(tx_bytes), "Bytes of the frames vifd delivered to the port." },
	{ "invalid", NULL, F(drop_invalid), "frames from the port too short or too long" },
	{ "no_room", NULL, F(drop_no_room), "frames to the port: no receive buffer in its ring" },
	{ "down", NULL, F(drop_down), "frames to the port: no live receive queue" },
	{ "hairpin", NULL, F(drop_hairpin), "frames whose destination was their source port" },
	{ "vlan", NULL, F(drop_vlan), "frames from the port in a VLAN it may not use, or badly tagged" },
	{ "spoof", NULL, F(drop_spoof), "frames from the port with a source MAC or address it may not use" },
	{ "isolation", NULL, F(drop_isolation), "frames from an isolated port to an isolated port" },
	{ "unknown_dst", NULL, F(drop_unknown), "frames to an unknown MAC with unknown-unicast=drop" },
	{ "mac_limit", NULL, F(drop_mac_limit), "frames from a new source MAC over the port's limit" },
	{ "offload", NULL, F(drop_offload),
	  "frames from the port whose offload metadata (virtio-net header) did not hold" },
	{ "egress_limit", NULL, F(drop_egress_limit), "frames to the port over its egress rate limit" },
	{ "congested", NULL, F(drop_congested),
	  "frames to the port from a sender over its fair share while the port was congested" },
	{ "rx_gso", "rx_gso", F(rx_gso),
	  "Frames from the port with segmentation offload metadata (crossed vifd as one frame)." },
	{ "tx_gso", "tx_gso", F(tx_gso),
	  "Frames delivered to the port whole with their segmentation offload metadata." },
	{ "tx_segmented", "tx_segmented", F(tx_segmented),
	  "Frames segmented in software for the port (their segments count as tx frames)." },
	{ "ingress_held", "ingress_held", F(ingress_held),
	  "Bursts cut short by the port's ingress limit (the rest stayed in its ring)." },
	{ "share_held", "share_held", F(share_held),
	  "Bursts of the port cut short by a congested destination's fair share or limit "
	  "(the rest stayed in its ring)." },
	{ "ring_errors", "ring_errors", F(ring_errors), "Ring rule violations the workers saw." },
	{ "guest_stops", "guest_stops", F(guest_stops),
	  "Times the port was stopped for a guest fault." },
	{ "msg_errors", "msg_errors", F(msg_errors), "vhost-user messages refused." },
	{ "connects", "connects", F(connects), "Frontend connections accepted or made." },
	{ "close_stuck", "close_stuck", F(close_stuck),
	  "Times closing a file the guest handed over got stuck (the frontend was kept off)." },
};

const size_t ctl_stat_nfields = sizeof(ctl_stat_fields) / sizeof(ctl_stat_fields[0]);

json_t *ctl_stats_port_json(const char *name, const struct dp_port_stats *s)
{
	json_t *o = json_pack("{s:s}", "name", name), *drops = json_object();

	if (!o || !drops)
		goto fail;
	for (size_t i = 0; i < ctl_stat_nfields; i++) {
		const struct ctl_stat_field *f = &ctl_stat_fields[i];
		json_t *dst = f->metric ? o : drops;

		/* "drops" goes where the first reason is, as it always has. */
		if (!f->metric && !json_object_get(o, "drops") &&
		    json_object_set(o, "drops", drops) < 0)
			goto fail;
		if (json_object_set_new(dst, f->name, json_integer((json_int_t)ctl_stat_get(s, f))) < 0)
			goto fail;
	}
	json_decref(drops);
	return o;
fail:
	json_decref(drops);
	json_decref(o);
	return NULL;
}
