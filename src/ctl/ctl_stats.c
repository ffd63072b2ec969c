/* ctl_stats.c - the per-port counter table; see ctl_stats.h. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "ctl_stats.h"
#include "xalloc.h"

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

struct ctl_stats_base {
	struct {
		char name[DP_PORT_NAME_MAX]; /* "" : free */
		struct dp_port_stats st;
	} e[DP_MAX_PORTS];
};

struct ctl_stats_base *ctl_stats_base_new(void)
{
	return xcalloc(1, sizeof(struct ctl_stats_base));
}

void ctl_stats_base_free(struct ctl_stats_base *b)
{
	xfree(b);
}

static int base_find(const struct ctl_stats_base *b, const char *name)
{
	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (b->e[i].name[0] && !strcmp(b->e[i].name, name))
			return i;
	return -1;
}

int ctl_stats_base_set(struct ctl_stats_base *b, const char *name, const struct dp_port_stats *s)
{
	int i = base_find(b, name);

	for (int k = 0; i < 0 && k < DP_MAX_PORTS; k++)
		if (!b->e[k].name[0])
			i = k;
	if (i < 0 || strlen(name) >= sizeof(b->e[i].name))
		return -ENOSPC;
	strcpy(b->e[i].name, name);
	b->e[i].st = *s;
	return 0;
}

void ctl_stats_base_forget(struct ctl_stats_base *b, const char *name)
{
	int i = b ? base_find(b, name) : -1;

	if (i >= 0)
		b->e[i].name[0] = '\0';
}

void ctl_stats_base_apply(struct ctl_stats_base *b, const char *name, struct dp_port_stats *s)
{
	int i = b ? base_find(b, name) : -1;

	if (i < 0)
		return;
	for (size_t k = 0; k < ctl_stat_nfields; k++)
		if (ctl_stat_get(s, &ctl_stat_fields[k]) < ctl_stat_get(&b->e[i].st, &ctl_stat_fields[k])) {
			/* A newer port of the same name: its counters are its own. */
			b->e[i].name[0] = '\0';
			return;
		}
	for (size_t k = 0; k < ctl_stat_nfields; k++)
		*(uint64_t *)(void *)((char *)s + ctl_stat_fields[k].off) -=
			ctl_stat_get(&b->e[i].st, &ctl_stat_fields[k]);
}
