/* ctl_stats.c - the per-port counter table; see ctl_stats.h. */
#include <stddef.h>

#include "ctl_stats.h"

#define F(field) offsetof(struct dp_port_stats, field)

#define ROW(f, name, metric, help) { name, metric, F(f), help },
const struct ctl_stat_field ctl_stat_fields[] = {
	DP_WORKER_COUNTERS(ROW)
	DP_CTL_COUNTERS(ROW)
};
#undef ROW

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
