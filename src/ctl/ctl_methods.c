/* ctl_methods.c - the control socket's methods and their parameter table.
 * Each method reads its params (types already checked by ctl_rpc.c),
 * checks values, calls the datapath through dp.h only, and builds its result
 * object. Result shapes are listed at each method; vifctl and scripts
 * depend on them, so add members, never rename them.
 *
 * Control thread only. */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>

#include "clk.h"
#include "ctl_conf.h"
#include "ctl_rpc.h"
#include "ctl_state.h"
#include "ctl_stats.h"
#include "port_keys.h"
#include "util.h"
#include "vlog.h"
#include "xalloc.h"

/* Port types named by DESIGN.md; those not built yet are refused as "not
 * supported yet" rather than "unknown". */
static const struct {
	const char *name;
	bool supported;
} port_types[] = {
	{ "vhostuser", true },
	{ "tap", true },
	{ "afpacket", true },
	{ "afxdp", true },
	{ "vxlan", true },
};

/* An optional string parameter, or dflt. */
static const char *pstr(json_t *params, const char *name, const char *dflt)
{
	json_t *v = json_object_get(params, name);

	return v ? json_string_value(v) : dflt;
}

/* A required string parameter: check_params() made sure it is there. */
static const char *preq(json_t *params, const char *name)
{
	const char *s = json_string_value(json_object_get(params, name));

	if (NEVER(!s))
		return "";
	return s;
}

/* Port names appear in logs, metrics labels and vifctl tables: keep them
 * to a conservative character set, and not starting with '-' (an option). */
static bool port_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DP_PORT_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return false;
	}
	return true;
}

/* Whether path is DIR/NAME for one of the operator's socket directories,
 * NAME a plain file name. Compared as text, with no file system lookup:
 * the directories are the operator's; a subdirectory (which a user who
 * can write the directory could swap for a symlink) is not allowed. */
static bool in_sock_dirs(const struct ctl_rpc *r, const char *path)
{
	for (unsigned i = 0; i < r->nsock_dirs; i++) {
		const char *d = r->sock_dirs[i], *name;
		size_t n = strlen(d);

		while (n > 1 && d[n - 1] == '/')
			n--; /* "/run/vifd/" is "/run/vifd" */
		if (strncmp(path, d, n) || path[n] != '/')
			continue;
		name = path + n + 1;
		if (n == 1)
			name = path + 1; /* the root directory */
		if (*name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, ".."))
			return true;
	}
	return false;
}

/* Checks what is at a vhost-user path before the vhost layer, which
 * replaces any socket it finds in server mode, gets to it. Returns 0 or
 * -errno with *e filled. */
static int check_port_path(const struct ctl_rpc *r, const char *path, bool client,
                           struct ctl_err *e)
{
	struct stat st;
	int live;

	if (path[0] != '/')
		return ctl_err_params(e, "path must be absolute: \"%.60s\"", path);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return ctl_err_params(e, "path longer than %zu bytes",
		                      sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (r->nsock_dirs && !in_sock_dirs(r, path))
		return ctl_err_app(e, EACCES, "%.60s is not a socket directly in %s%s (vifd "
		                   "--vhost-sock-dir)", path, r->sock_dirs[0],
		                   r->nsock_dirs > 1 ? " or another allowed directory" : "");
	if (lstat(path, &st) < 0)
		return 0; /* nothing there: a server creates it, a client waits */
	if (r->sock_ino && st.st_dev == r->sock_dev && st.st_ino == r->sock_ino)
		return ctl_err_app(e, EADDRINUSE, "%s is vifd's control socket", path);
	if (client)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return ctl_err_app(e, EEXIST, "%s exists and is not a socket", path);
	live = ctl_sock_probe(path);
	if (live > 0)
		return ctl_err_app(e, EADDRINUSE,
		                   "another process is listening on %s (to connect to it, use mode=client)",
		                   path);
	return 0;
}

/* Parses a VLAN list "10,20-30" into the trunk bitmap. */
static int parse_trunks(const char *s, struct dp_port_cfg *c, struct ctl_err *e)
{
	memset(c->trunks, 0, sizeof(c->trunks));
	c->trunks_set = false;
	if (!*s || !strcmp(s, "all"))
		return 0;
	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;
		if (end == s || a < 1 || a > 4094)
			return ctl_err_params(e, "trunks: VLAN ids are 1..4094, as in \"10,20-30\"");
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b > 4094)
				return ctl_err_params(e, "trunks: bad range ending at \"%.20s\"", s);
		}
		for (long v = a; v <= b; v++)
			c->trunks[v >> 3] |= (uint8_t)(1u << (v & 7));
		if (*end == ',')
			end++;
		else if (*end)
			return ctl_err_params(e, "trunks: unexpected \"%.20s\"", end);
		s = end;
	}
	c->trunks_set = true;
	return 0;
}

/* Parses "10.0.0.5,fd00::5" (or "none") into the bound address lists. */
static int parse_ips(const char *s, struct dp_port_cfg *c, struct ctl_err *e)
{
	char buf[1024], *save = NULL;

	c->nip4 = c->nip6 = 0;
	if (!*s || !strcmp(s, "none"))
		return 0;
	if (strlen(s) >= sizeof(buf))
		return ctl_err_params(e, "ip: list too long");
	strcpy(buf, s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (inet_pton(AF_INET, t, c->ip4[c->nip4 < SW_MAX_BOUND_IP ? c->nip4 : 0]) == 1) {
			if (c->nip4 == SW_MAX_BOUND_IP)
				return ctl_err_params(e, "ip: at most %d IPv4 addresses", SW_MAX_BOUND_IP);
			c->nip4++;
		} else if (inet_pton(AF_INET6, t, c->ip6[c->nip6 < SW_MAX_BOUND_IP ? c->nip6 : 0]) == 1) {
			if (c->nip6 == SW_MAX_BOUND_IP)
				return ctl_err_params(e, "ip: at most %d IPv6 addresses", SW_MAX_BOUND_IP);
			c->nip6++;
		} else {
			return ctl_err_params(e, "ip: \"%.50s\" is not an IPv4 or IPv6 address", t);
		}
	}
	return 0;
}

/* The rate-limit keys of one direction (dir "ingress" or "egress"):
 * DIR_rate (tc rate units), DIR_burst (tc size units), DIR_pps and
 * DIR_pps_burst (counts). A rate or pps of 0 removes that limit and its
 * burst. */
static int parse_limit(json_t *p, const char *dir, struct qos_limit *l, struct ctl_err *e)
{
	static const struct {
		const char *key;
		int (*parse)(const char *, uint64_t *);
		size_t off;
		const char *what;
	} keys[] = {
		{ "rate", qos_parse_rate, offsetof(struct qos_limit, bps),
		  "a rate like 100mbit, 1gbit, 10mbps or 0" },
		{ "burst", qos_parse_size, offsetof(struct qos_limit, burst),
		  "a size like 64k, 1m or 100000" },
		{ "pps", qos_parse_count, offsetof(struct qos_limit, pps),
		  "packets per second like 20000, 20k or 0" },
		{ "pps_burst", qos_parse_count, offsetof(struct qos_limit, pburst),
		  "a number of packets" },
	};
	bool given[ARRAY_SIZE(keys)] = { false };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char name[32];
		const char *s;
		uint64_t v;

		snprintf(name, sizeof(name), "%s_%s", dir, keys[i].key);
		if (!(s = pstr(p, name, NULL)))
			continue;
		if (keys[i].parse(s, &v) < 0)
			return ctl_err_params(e, "%s: \"%.40s\" is not %s", name, s, keys[i].what);
		*(uint64_t *)(void *)((char *)l + keys[i].off) = v;
		given[i] = true;
	}
	if (given[0] && !l->bps && !given[1])
		l->burst = 0;
	if (given[2] && !l->pps && !given[3])
		l->pburst = 0;
	return 0;
}

/* worker=auto (the placement policy places every queue), N (all its
 * queues on worker N) or Q:N,Q:N,... (queue Q on worker N, the others
 * placed by the policy). Workers are < nworkers. */
static int parse_worker(const char *s, struct dp_port_cfg *c, unsigned nworkers,
                        struct ctl_err *e)
{
	uint8_t pin[PORT_MAX_QUEUES] = { 0 };
	char *end;
	long w, q;

	if (!strcmp(s, "auto")) {
		memset(c->worker, 0, sizeof(c->worker));
		return 0;
	}
	if (!strchr(s, ':')) {
		w = strtol(s, &end, 10);
		if (end == s || *end || w < 0 || w >= (long)nworkers)
			goto bad;
		memset(c->worker, (int)w + 1, sizeof(c->worker));
		return 0;
	}
	for (const char *t = s; *t;) {
		q = strtol(t, &end, 10);
		if (end == t || *end != ':' || q < 0 || q >= PORT_MAX_QUEUES)
			goto bad;
		t = end + 1;
		w = strtol(t, &end, 10);
		if (end == t || (*end && *end != ',') || w < 0 || w >= (long)nworkers)
			goto bad;
		if (pin[q])
			return ctl_err_params(e, "worker: queue %ld given twice", q);
		pin[q] = (uint8_t)(w + 1);
		t = *end ? end + 1 : end;
		if (*end && !*t)
			goto bad;
	}
	memcpy(c->worker, pin, sizeof(pin));
	return 0;
bad:
	return ctl_err_params(e, "worker must be auto, a worker 0..%u, or QUEUE:WORKER pairs like "
	                      "0:1,1:0 (queues 0..%d), not \"%.40s\"", nworkers - 1,
	                      PORT_MAX_QUEUES - 1, s);
}

/* worker-group=NAME (1..15 of A-Z a-z 0-9 . _ -) or none. */
static int parse_group(const char *s, struct dp_port_cfg *c, struct ctl_err *e)
{
	size_t n = strlen(s);

	if (!strcmp(s, "none") || !n) {
		c->group[0] = '\0';
		return 0;
	}
	if (n >= DP_GROUP_MAX || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                   "0123456789._-") != n)
		return ctl_err_params(e, "worker_group must be 1 to %d characters of A-Z a-z 0-9 . _ - "
		                      "(or none), not \"%.40s\"", DP_GROUP_MAX - 1, s);
	memcpy(c->group, s, n + 1);
	return 0;
}

/* Workers a worker= pin may name: the datapath's, except while the state
 * is restored (a pin kept from a run with more workers still places:
 * modulo the workers there are, dp_place.h). */
static unsigned pin_limit(const struct ctl_rpc *r)
{
	return r->state && ctl_state_replaying(r->state) ? DP_MAX_WORKERS : dp_nworkers(r->dp);
}

/* Applies the policy keys present in p (tag, native, trunks, isolated, mac,
 * mac_limit, ...) onto *c. Returns 0 or an error with *e filled. */
static int parse_policy(const struct ctl_rpc *r, json_t *p, struct dp_port_cfg *c,
                        struct ctl_err *e)
{
	json_t *v;
	const char *s;

	if ((v = json_object_get(p, "tag"))) {
		json_int_t t = json_integer_value(v);
		if (t < 0 || t > 4094)
			return ctl_err_params(e, "tag must be a VLAN id 1..4094 (0: trunk port)");
		c->tag = (uint16_t)t;
	}
	if ((v = json_object_get(p, "native"))) {
		json_int_t t = json_integer_value(v);
		if (t < 0 || t > 4094)
			return ctl_err_params(e, "native must be a VLAN id 0..4094");
		c->native = (uint16_t)t;
	}
	if ((s = pstr(p, "trunks", NULL)) && parse_trunks(s, c, e) < 0)
		return -EINVAL;
	if ((s = pstr(p, "isolated", NULL))) {
		if (strcmp(s, "true") && strcmp(s, "false"))
			return ctl_err_params(e, "isolated must be true or false");
		c->isolated = !strcmp(s, "true");
	}
	if ((s = pstr(p, "mac", NULL))) {
		c->mac_auto = false;
		if (!strcmp(s, "none") || !*s) {
			c->mac_bound = false;
		} else if (!strcmp(s, "auto")) {
			c->mac_bound = false;
			c->mac_auto = true;
		} else if (mac_parse(s, c->mac) && !(c->mac[0] & 1)) {
			c->mac_bound = true;
		} else {
			return ctl_err_params(e, "mac must be a unicast address like 02:00:00:00:00:10, "
			                      "auto or none");
		}
	}
	if ((s = pstr(p, "ip", NULL)) && parse_ips(s, c, e) < 0)
		return -EINVAL;
	if ((v = json_object_get(p, "mac_limit"))) {
		json_int_t t = json_integer_value(v);
		if (t < 1 || t > 65535)
			return ctl_err_params(e, "mac_limit must be 1..65535");
		c->mac_limit = (uint16_t)t;
	}
	if (c->tag && (c->trunks_set || c->native))
		return ctl_err_params(e, "an access port (tag=) takes no trunks= or native=");
	if (parse_limit(p, "ingress", &c->ingress, e) < 0 ||
	    parse_limit(p, "egress", &c->egress, e) < 0)
		return -EINVAL;
	if ((v = json_object_get(p, "overhead"))) {
		json_int_t t = json_integer_value(v);
		if (t < 0 || t > 256)
			return ctl_err_params(e, "overhead must be 0..256 bytes per frame");
		c->overhead = (uint32_t)t;
	}
	if ((v = json_object_get(p, "weight"))) {
		json_int_t t = json_integer_value(v);
		if (t < 1 || t > QOS_MAX_WEIGHT)
			return ctl_err_params(e, "weight must be 1..%d", QOS_MAX_WEIGHT);
		c->weight = (uint8_t)t;
	}
	if ((s = pstr(p, "worker", NULL)) && parse_worker(s, c, pin_limit(r), e) < 0)
		return -EINVAL;
	if ((s = pstr(p, "worker_group", NULL)) && parse_group(s, c, e) < 0)
		return -EINVAL;
	if ((v = json_object_get(p, "rx_frames"))) {
		json_int_t t = json_integer_value(v);
		if (t < 0 || t > 4096)
			return ctl_err_params(e, "rx_frames must be 0..4096 (0: no frame bound)");
		c->rx_frames = (uint16_t)t;
	}
	if ((v = json_object_get(p, "rx_usecs"))) {
		json_int_t t = json_integer_value(v);
		if (t < 0 || t > DP_COAL_MAX_US)
			return ctl_err_params(e, "rx_usecs must be 0..%d microseconds", DP_COAL_MAX_US);
		c->rx_usecs = (uint16_t)t;
	}
	if ((s = pstr(p, "adaptive_rx", NULL))) {
		if (strcmp(s, "on") && strcmp(s, "off"))
			return ctl_err_params(e, "adaptive_rx must be on or off");
		c->adaptive_rx = !strcmp(s, "on");
	}
	char why[128];
	if (dp_port_check_cfg(c, why, sizeof(why)) < 0)
		return ctl_err_params(e, "%s", why);
	return 0;
}

static bool has_policy(json_t *p)
{
#define KEY_NAME(json, cli, kind) json,
	static const char *const keys[] = { PORT_POLICY_KEYS(KEY_NAME) };
#undef KEY_NAME
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (json_object_get(p, keys[i]))
			return true;
	return false;
}

/* Interface names as the kernel takes them (dev_valid_name), kept to a
 * conservative set: 1..15 characters of A-Z a-z 0-9 . _ -, not "." or "..". */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* A name under /var/run/netns: no path separators, not hidden. */
static bool netns_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= PORT_NETNS_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* owner=, group=, perm= of a server-mode vhostuser port over vifd's
 * defaults. 0 or an error naming the bad key and value. */
static int sock_perm_params(const struct ctl_rpc *r, json_t *p, bool client,
                            struct port_sock_perm *pm, struct ctl_err *e)
{
	const char *owner = pstr(p, "owner", NULL), *group = pstr(p, "group", NULL);
	const char *perm = pstr(p, "perm", NULL);
	int rc;

	*pm = r->sock_perm;
	if (client && (owner || group || perm))
		return ctl_err_params(e, "owner=, group= and perm= are for sockets vifd creates "
		                      "(mode=server); in client mode the frontend creates its own");
	/* Without socket directories a control client names any path; giving
	 * the socket there to any user or group is more than it needs. (A
	 * state file written before this rule still restores its ports.) */
	if ((owner || group) && !r->nsock_dirs && !ctl_state_replaying(r->state))
		return ctl_err_params(e, "owner= and group= need socket directories "
		                      "(--vhost-sock-dir): without them a socket may be anywhere");
	if (owner && (rc = ctl_user_parse(owner, &pm->uid)) < 0)
		return ctl_err_params(e, "owner: %s \"%.40s\"", rc == -ENOENT ? "no user named" :
		                      "not a user name or id:", owner);
	if (group && (rc = ctl_group_parse(group, &pm->gid)) < 0)
		return ctl_err_params(e, "group: %s \"%.40s\"", rc == -ENOENT ? "no group named" :
		                      "not a group name or id:", group);
	if (perm && ctl_perm_parse(perm, &pm->mode) < 0)
		return ctl_err_params(e, "perm: \"%.40s\" is not octal mode bits 0000..0777 "
		                      "(such as 0660)", perm);
	return 0;
}

/* The VXLAN part of add-port: vni=, vni_map=, local=, remote=, dstport=, evpn=,
 * netns=;
 * the driver parses the addresses (and says what is wrong with them). */
static int vxlan_params(json_t *p, struct port_params *pp, struct port_vxlan_params *vx,
                        struct ctl_err *e)
{
	json_t *jv = json_object_get(p, "vni"), *jd = json_object_get(p, "dstport");
	const char *netns = pstr(p, "netns", NULL);

	if (json_object_get(p, "ifname") || json_object_get(p, "dev"))
		return ctl_err_params(e, "a vxlan port takes no ifname= or dev=");
	if ((!jv && !json_object_get(p, "vni_map")) ||
	    (jv && (!json_is_integer(jv) || json_integer_value(jv) < 0 ||
	            json_integer_value(jv) >= 1 << 24)))
		return ctl_err_params(e, "a vxlan port needs vni=0..%d (or vni-map=)", (1 << 24) - 1);
	if (jd && (json_integer_value(jd) < 1 || json_integer_value(jd) > 65535))
		return ctl_err_params(e, "dstport must be 1..65535");
	vx->has_vni = jv != NULL;
	vx->vni = jv ? (uint32_t)json_integer_value(jv) : 0;
	vx->vni_map = pstr(p, "vni_map", NULL);
	vx->dstport = jd ? (uint16_t)json_integer_value(jd) : 0;
	vx->local = pstr(p, "local", NULL);
	vx->remote = pstr(p, "remote", NULL);
	if (pstr(p, "evpn", NULL) && strcmp(pstr(p, "evpn", ""), "on") &&
	    strcmp(pstr(p, "evpn", ""), "off"))
		return ctl_err_params(e, "evpn must be on or off");
	vx->evpn = !strcmp(pstr(p, "evpn", "off"), "on");
	if (!vx->local)
		return ctl_err_params(e, "a vxlan port needs local=ADDRESS (this host's end)");
	if (netns && !netns_ok(netns))
		return ctl_err_params(e, "invalid network namespace name \"%.40s\"", netns);
	pp->netns = netns;
	pp->vx = vx;
	return 0;
}

/* The kernel-port part of add-port (type tap, afpacket, afxdp or vxlan):
 * checks the keys of the type and fills pp (its strings point into p). */
static int kernel_port_params(const struct ctl_rpc *r, json_t *p, const char *name,
                              struct port_params *pp, struct port_vxlan_params *vx,
                              struct ctl_err *e)
{
	const char *ifname = pstr(p, "ifname", NULL), *netns = pstr(p, "netns", NULL);
	const char *dev = pstr(p, "dev", NULL), *type = pp->type;
	struct dp_port_info info;

	if (json_object_get(p, "path") || json_object_get(p, "mode") ||
	    json_object_get(p, "owner") || json_object_get(p, "group") || json_object_get(p, "perm"))
		return ctl_err_params(e, "path=, mode=, owner=, group= and perm= are for vhostuser "
		                      "ports, not %s", type);
	if (strcmp(type, "vxlan") && (json_object_get(p, "vni") || json_object_get(p, "vni_map") ||
	                              json_object_get(p, "local") ||
	                              json_object_get(p, "remote") || json_object_get(p, "dstport") ||
	                              json_object_get(p, "evpn")))
		return ctl_err_params(e, "vni=, local=, remote=, dstport= and evpn= are for vxlan ports");
	if (!strcmp(type, "vxlan"))
		return vxlan_params(p, pp, vx, e);
	if (!strcmp(type, "tap")) {
		if (dev)
			return ctl_err_params(e, "a tap port takes ifname=, not dev=");
		pp->ifname = ifname ? ifname : name;
		pp->netns = netns;
		if (!ifname_ok(pp->ifname))
			return ctl_err_params(e, "invalid interface name \"%.40s\"%s: 1 to %d characters "
			                      "of A-Z a-z 0-9 . _ -", pp->ifname,
			                      ifname ? "" : " (the port's name; give ifname=)",
			                      IFNAMSIZ - 1);
		if (netns && !netns_ok(netns))
			return ctl_err_params(e, "invalid network namespace name \"%.40s\"", netns);
	} else {
		if (ifname || netns)
			return ctl_err_params(e, "an %s port takes dev=, not ifname= or netns=", type);
		if (!dev)
			return ctl_err_params(e, "an %s port needs dev=INTERFACE", type);
		if (!ifname_ok(dev))
			return ctl_err_params(e, "invalid interface name \"%.40s\"", dev);
		pp->ifname = dev;
	}
	/* Two ports on one interface would share (or steal) its queues. */
	for (unsigned i = 0; dp_port_get(r->dp, i, &info, NULL) == 0; i++)
		if (info.ifname[0] && !strcmp(info.ifname, pp->ifname) &&
		    !strcmp(info.netns, pp->netns ? pp->netns : ""))
			return ctl_err_app(e, EADDRINUSE, "interface %s%s%s is already used by port %s",
			                   pp->ifname, pp->netns ? " in netns " : "",
			                   pp->netns ? pp->netns : "", info.name);
	return 0;
}

/* add-port {bridge, name, type, path? (vhostuser), mode?, owner?, group?,
 * perm? (vhostuser server), queues?, ifname?, netns? (tap), dev? (afpacket,
 * afxdp), policy keys?} -> {} */
static int m_add_port(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *br = preq(p, "bridge"), *name = preq(p, "name");
	const char *type = preq(p, "type"), *path = pstr(p, "path", NULL);
	const char *mode = pstr(p, "mode", "server");
	json_t *jq = json_object_get(p, "queues");
	json_int_t queues = jq ? json_integer_value(jq) : 1;
	struct dp_port_info info;
	bool client;
	size_t t;
	int rc;

	if (strcmp(br, CTL_BRIDGE))
		return ctl_err_app(e, ENOENT, "no bridge named \"%.40s\" (this version has only %s)",
		                   br, CTL_BRIDGE);
	if (!strcmp(type, "vhost-user"))
		type = "vhostuser"; /* QEMU's and OVS's spelling */
	for (t = 0; t < ARRAY_SIZE(port_types); t++)
		if (!strcmp(type, port_types[t].name))
			break;
	if (t == ARRAY_SIZE(port_types))
		return ctl_err_params(e, "unknown port type \"%.40s\" (known: vhostuser (or "
		                      "vhost-user), tap, afpacket, afxdp, vxlan)", type);
	if (!port_types[t].supported)
		return ctl_err_app(e, EOPNOTSUPP,
		                   "port type %s is not supported in this version", type);
	if (strcmp(type, "vhostuser") && !port_ops_find(type))
		return ctl_err_app(e, EOPNOTSUPP, "this vifd was built without port type %s "
		                   "(afxdp needs libxdp-dev and libbpf-dev)", type);
	if (!port_name_ok(name))
		return ctl_err_params(e, "invalid port name \"%.40s\": 1 to %d characters of "
		                      "A-Z a-z 0-9 . _ : -, not starting with -",
		                      name, DP_PORT_NAME_MAX - 1);
	if (queues < 1 || queues > VIFD_MAX_QUEUES)
		return ctl_err_params(e, "queues must be between 1 and %d", VIFD_MAX_QUEUES);
	if (dp_port_find(r->dp, name, NULL, NULL) == 0)
		return ctl_err_app(e, EEXIST, "port %s already exists", name);
	struct dp_port_cfg cfg;
	struct port_params pp = { .type = type, .name = name, .queues = (unsigned)queues,
	                          .restoring = ctl_state_replaying(r->state) };
	struct port_sock_perm perm;
	struct port_vxlan_params vx;
	char err[256];
	memset(&cfg, 0, sizeof(cfg));
	rc = parse_policy(r, p, &cfg, e);
	if (rc < 0)
		return rc;
	if (strcmp(type, "vhostuser")) {
		rc = kernel_port_params(r, p, name, &pp, &vx, e);
		if (rc < 0)
			return rc;
		goto add;
	}
	if (!path)
		return ctl_err_params(e, "a vhostuser port needs path=SOCKET");
	if (json_object_get(p, "ifname") || json_object_get(p, "netns") || json_object_get(p, "dev"))
		return ctl_err_params(e, "ifname=, netns= and dev= are for tap, afpacket and afxdp ports");
	if (json_object_get(p, "vni") || json_object_get(p, "vni_map") ||
	    json_object_get(p, "local") || json_object_get(p, "remote") ||
	    json_object_get(p, "dstport") ||
	    json_object_get(p, "evpn"))
		return ctl_err_params(e, "vni=, local=, remote=, dstport= and evpn= are for vxlan ports");
	if (!strcmp(mode, "server"))
		client = false;
	else if (!strcmp(mode, "client"))
		client = true;
	else
		return ctl_err_params(e, "mode must be \"server\" or \"client\", not \"%.40s\"", mode);
	for (unsigned i = 0; dp_port_get(r->dp, i, &info, NULL) == 0; i++)
		if (!strcmp(info.path, path))
			return ctl_err_app(e, EADDRINUSE, "path %s is already used by port %s",
			                   path, info.name);
	rc = sock_perm_params(r, p, client, &perm, e);
	if (rc < 0)
		return rc;
	rc = check_port_path(r, path, client, e);
	if (rc < 0)
		return rc;
	pp.path = path;
	pp.client = client;
	pp.perm = &perm;
add:
	/* The port gets its policy with it: it holds from the first frame. */
	rc = dp_port_add(r->dp, &pp, &cfg, err, sizeof(err));
	if (rc < 0)
		return ctl_err_app(e, -rc, "cannot add port %s: %s", name, err);
	*res = json_object();
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* set-port {name, policy keys} -> {}: changes only the keys given. */
static int m_set_port(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *name = preq(p, "name");
	struct dp_port_cfg cfg;
	int rc;

	if (dp_port_get_cfg(r->dp, name, &cfg) < 0)
		return ctl_err_app(e, ENOENT, "no port named \"%.40s\"", name);
	if (!has_policy(p))
		return ctl_err_params(e, "set-port needs at least one of %.*s",
		                      (int)sizeof(PORT_POLICY_KEY_LIST) - 3, PORT_POLICY_KEY_LIST);
	rc = parse_policy(r, p, &cfg, e);
	if (rc < 0)
		return rc;
	char why[160];
	rc = dp_port_set(r->dp, name, &cfg, why, sizeof(why));
	if (rc < 0)
		return ctl_err_app(e, -rc, "cannot set the policy of port %s: %s", name,
		                   why[0] ? why : strerror(-rc));
	*res = json_object();
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* set-bridge {name, unknown_unicast?: "flood"|"drop", mac_aging?: seconds,
 * placement?: spread|monolithic|per-port|group|cycles, rebalance?: "on"|"off",
 * rebalance_threshold?, rebalance_improvement?: percent,
 * rebalance_interval?: ms, busy_poll?: us} -> {} */
static int m_set_bridge(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *name = preq(p, "name"), *uu = pstr(p, "unknown_unicast", NULL);
	const char *pl = pstr(p, "placement", NULL), *rb = pstr(p, "rebalance", NULL);
	json_t *age = json_object_get(p, "mac_aging");
	json_t *rt = json_object_get(p, "rebalance_threshold");
	json_t *ri = json_object_get(p, "rebalance_improvement");
	json_t *rv = json_object_get(p, "rebalance_interval");
	json_t *bp = json_object_get(p, "busy_poll");
	enum dp_placement pol = DP_PLACE_SPREAD;
	struct dp_rebal_cfg rc;

	if (strcmp(name, CTL_BRIDGE))
		return ctl_err_app(e, ENOENT, "no bridge named \"%.40s\"", name);
	if (!uu && !age && !pl && !rb && !rt && !ri && !rv && !bp)
		return ctl_err_params(e, "set-bridge needs unknown_unicast, mac_aging, placement, "
		                      "rebalance, rebalance_threshold, rebalance_improvement, "
		                      "rebalance_interval or busy_poll");
	if (uu && strcmp(uu, "flood") && strcmp(uu, "drop"))
		return ctl_err_params(e, "unknown_unicast must be flood or drop");
	if (age && (json_integer_value(age) < 1 || json_integer_value(age) > 16777216))
		return ctl_err_params(e, "mac_aging must be 1..16777216 seconds");
	if (pl && dp_placement_parse(pl, &pol) < 0)
		return ctl_err_params(e, "placement must be spread, monolithic, per-port, group or "
		                      "cycles, not \"%.40s\"", pl);
	if (rb && strcmp(rb, "on") && strcmp(rb, "off"))
		return ctl_err_params(e, "rebalance must be on or off");
	dp_get_rebalance(r->dp, &rc);
	if (rb)
		rc.on = !strcmp(rb, "on");
	if (rt && (json_integer_value(rt) < 1 || json_integer_value(rt) > 100))
		return ctl_err_params(e, "rebalance_threshold must be 1..100 (percent of a core)");
	if (ri && (json_integer_value(ri) < 1 || json_integer_value(ri) > 100))
		return ctl_err_params(e, "rebalance_improvement must be 1..100 (percent)");
	if (rv && (json_integer_value(rv) < 100 || json_integer_value(rv) > 60000))
		return ctl_err_params(e, "rebalance_interval must be 100..60000 ms");
	if (bp && (json_integer_value(bp) < 0 || json_integer_value(bp) > DP_BUSY_POLL_MAX_US))
		return ctl_err_params(e, "busy_poll must be 0..%d us", DP_BUSY_POLL_MAX_US);
	if (rt)
		rc.threshold_pct = (unsigned)json_integer_value(rt);
	if (ri)
		rc.improve_pct = (unsigned)json_integer_value(ri);
	if (rv)
		rc.interval_ms = (unsigned)json_integer_value(rv);
	if (age)
		dp_set_mac_aging(r->dp, (uint32_t)json_integer_value(age));
	if (uu)
		dp_set_unknown_unicast_drop(r->dp, !strcmp(uu, "drop"));
	dp_set_rebalance(r->dp, &rc); /* checked above */
	if (bp)
		dp_set_busy_poll(r->dp, (uint32_t)json_integer_value(bp)); /* checked above */
	if (pl)
		dp_set_placement(r->dp, pol);
	*res = json_object();
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* del-port {name} -> {} */
static int m_del_port(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *name = preq(p, "name");
	int rc = dp_port_del(r->dp, name);

	if (rc == -ENOENT)
		return ctl_err_app(e, ENOENT, "no port named \"%.40s\"", name);
	if (rc < 0)
		return ctl_err_app(e, -rc, "cannot delete port %s: %s", name, strerror(-rc));
	ctl_stats_base_forget(r->stats_base, name);
	*res = json_object();
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* The trunk bitmap back as "10,20-30" ("" when every VLAN is allowed). */
static void trunks_str(const struct dp_port_cfg *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (!c->trunks_set)
		return;
	for (unsigned v = 1; v <= 4094 && n + 12 < len; v++) {
		unsigned end = v;
		if (!(c->trunks[v >> 3] & (1u << (v & 7))))
			continue;
		while (end + 1 <= 4094 && (c->trunks[(end + 1) >> 3] & (1u << ((end + 1) & 7))))
			end++;
		n += (size_t)snprintf(buf + n, len - n, end > v ? "%s%u-%u" : "%s%u",
		                      n ? "," : "", v, end);
		v = end;
	}
}

/* One direction's limits as numbers (bits/s, bytes, packets/s, packets),
 * the bursts in effect (defaults filled in); {} when not limited. */
static json_t *limit_json(const struct qos_limit *l)
{
	json_t *o = json_object();

	if (l->bps) {
		json_object_set_new(o, "rate", json_integer((json_int_t)l->bps));
		json_object_set_new(o, "burst", json_integer((json_int_t)(
			l->burst ? l->burst : qos_default_burst(l->bps))));
	}
	if (l->pps) {
		json_object_set_new(o, "pps", json_integer((json_int_t)l->pps));
		json_object_set_new(o, "pps_burst", json_integer((json_int_t)(
			l->pburst ? l->pburst : qos_default_pburst(l->pps))));
	}
	return o;
}

/* A port's worker= as parse_worker reads it: auto, N, or Q:N,... */
static void worker_str(const struct dp_port_cfg *c, char *buf, size_t len)
{
	bool same = true;
	size_t n = 0;

	for (unsigned q = 1; q < PORT_MAX_QUEUES; q++)
		same = same && c->worker[q] == c->worker[0];
	if (same) {
		if (c->worker[0])
			snprintf(buf, len, "%u", c->worker[0] - 1u);
		else
			snprintf(buf, len, "auto");
		return;
	}
	buf[0] = '\0';
	for (unsigned q = 0; q < PORT_MAX_QUEUES && n < len; q++)
		if (c->worker[q])
			n += (size_t)snprintf(buf + n, len - n, "%s%u:%u", n ? "," : "", q,
			                      c->worker[q] - 1u);
}

static json_t *port_policy(const struct ctl_rpc *r, const char *name)
{
	struct dp_port_cfg c;
	char trunks[512], mac[18] = "none", ips[2 * SW_MAX_BOUND_IP * (INET6_ADDRSTRLEN + 1)];
	char worker[8 * PORT_MAX_QUEUES];
	size_t n = 0;

	if (dp_port_get_cfg(r->dp, name, &c) < 0)
		return json_object();
	trunks_str(&c, trunks, sizeof(trunks));
	ips[0] = '\0';
	for (unsigned i = 0; i < c.nip4 + c.nip6; i++) {
		char a[INET6_ADDRSTRLEN];
		if (i < c.nip4)
			inet_ntop(AF_INET, c.ip4[i], a, sizeof(a));
		else
			inet_ntop(AF_INET6, c.ip6[i - c.nip4], a, sizeof(a));
		n += (size_t)snprintf(ips + n, sizeof(ips) - n, "%s%s", n ? "," : "", a);
	}
	if (c.mac_bound)
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", c.mac[0], c.mac[1],
		         c.mac[2], c.mac[3], c.mac[4], c.mac[5]);
	else if (c.mac_auto)
		snprintf(mac, sizeof(mac), "auto");
	worker_str(&c, worker, sizeof(worker));
	return json_pack("{s:i, s:i, s:s, s:b, s:s, s:s, s:i, s:o, s:o, s:i, s:i, s:s, s:s, s:i, s:i, "
	                 "s:s}", "tag",
	                 (int)c.tag, "native", (int)c.native, "trunks", trunks, "isolated",
	                 c.isolated, "mac", mac, "ip", ips, "mac_limit", (int)c.mac_limit,
	                 "ingress", limit_json(&c.ingress), "egress", limit_json(&c.egress),
	                 "overhead", (int)c.overhead, "weight", c.weight ? (int)c.weight : 1,
	                 "worker", worker, "worker_group", c.group[0] ? c.group : "none",
	                 "rx_frames", (int)c.rx_frames, "rx_usecs", (int)c.rx_usecs,
	                 "adaptive_rx", c.adaptive_rx ? "on" : "off");
}

/* Offloads (pkt.h PKT_OL_*) by name. */
static json_t *ol_names(uint32_t caps)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ PKT_OL_CSUM, "csum" }, { PKT_OL_TSO4, "tso4" }, { PKT_OL_TSO6, "tso6" },
		{ PKT_OL_ECN, "ecn" }, { PKT_OL_USO4, "uso4" }, { PKT_OL_USO6, "uso6" },
	};
	json_t *a = json_array();

	for (size_t i = 0; a && i < ARRAY_SIZE(names); i++)
		if (caps & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

/* The socket file at a vhostuser port's path as it is: owner and group
 * (names, or ids without one) and mode bits ("" each when there is no
 * socket there). */
static void sock_file(const char *path, char owner[33], char group[33], char perm[6])
{
	struct passwd *pw;
	struct group *gr;
	struct stat st;

	owner[0] = group[0] = perm[0] = '\0';
	if (!*path || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	pw = getpwuid(st.st_uid);
	gr = getgrgid(st.st_gid);
	if (pw)
		snprintf(owner, 33, "%.32s", pw->pw_name);
	else
		snprintf(owner, 33, "%u", (unsigned)st.st_uid);
	if (gr)
		snprintf(group, 33, "%.32s", gr->gr_name);
	else
		snprintf(group, 33, "%u", (unsigned)st.st_gid);
	snprintf(perm, 6, "%04o", (unsigned)(st.st_mode & 07777));
}

static json_t *port_show(const struct ctl_rpc *r, const struct dp_port_info *in)
{
	char feat[24], am[18] = "", owner[33], group[33], perm[6];
	json_t *o;

	if (in->auto_mac_set)
		snprintf(am, sizeof(am), "%02x:%02x:%02x:%02x:%02x:%02x", in->auto_mac[0],
		         in->auto_mac[1], in->auto_mac[2], in->auto_mac[3], in->auto_mac[4],
		         in->auto_mac[5]);

	snprintf(feat, sizeof(feat), "0x%" PRIx64, in->features);
	sock_file(in->path, owner, group, perm);
	o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:i, s:i, s:i, s:b, s:b, s:s, s:o, s:o, "
	                 "s:i, s:o, s:s, s:s, s:s, s:I}",
	                 "name", in->name, "type", in->type, "path", in->path,
	                 "mode", in->client ? "client" : "server",
	                 "connected", in->connected, "broken", in->broken,
	                 "queue_pairs", (int)in->queue_pairs,
	                 "active_pairs", (int)in->active_pairs,
	                 "live_rx", (int)in->live_rx, "live_tx", (int)in->live_tx,
	                 "promisc", in->promisc, "allmulti", in->allmulti,
	                 "features", feat, "offloads_rx", ol_names(in->ol_rx),
	                 "offloads_tx", ol_names(in->ol_tx), "mtu", (int)in->mtu,
	                 "policy", port_policy(r, in->name),
	                 "auto_mac", am, "ifname", in->ifname, "netns", in->netns,
	                 "mem_bytes", (json_int_t)in->mem_bytes);
	if (o)
		json_object_update_new(o, json_pack("{s:s, s:s, s:s}", "sock_owner", owner,
		                                    "sock_group", group, "sock_perm", perm));
	if (o && in->vx) {
		json_t *vx = json_pack("{s:s, s:s, s:i, s:i, s:i}", "vni_map", in->vx_map,
		                       "local", in->vx_local, "dstport", (int)in->vx_dstport,
		                       "remotes", (int)in->vx_remotes, "flood", (int)in->vx_flood);
		if (vx && in->vx_untagged)
			json_object_set_new(vx, "vni", json_integer((json_int_t)in->vx_vni));
		json_object_set_new(o, "vxlan", vx);
	}
	return o;
}

/* show {} -> {bridges: [{name, ports: [{name, type, path, mode, connected,
 * broken, queue_pairs, active_pairs, live_rx, live_tx, promisc, allmulti,
 * features ("0x..." hex), offloads_rx, offloads_tx (names: csum, tso4,
 * tso6, ecn, uso4, uso6; rx what the port's frames may ask of vifd, tx what
 * it takes as it is), mtu, policy, auto_mac, ifname, netns, mem_bytes,
 * sock_owner, sock_group, sock_perm, vxlan? {vni? (of untagged frames),
 * vni_map ("VLAN:VNI,..."), local, dstport, remotes (endpoints known), flood
 * (of them in the flood list)}}]}]}
 * (kernel ports: path "", ifname the interface, netns its namespace;
 * sock_*: the socket file at path as it is now, "" when there is none) */
static int m_show(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	json_t *ports = json_array();
	struct dp_port_info info;

	(void)p;
	if (!ports)
		goto nomem;
	for (unsigned i = 0; dp_port_get(r->dp, i, &info, NULL) == 0; i++)
		if (json_array_append_new(ports, port_show(r, &info)) < 0)
			goto nomem;
	struct dp_rebal_cfg rc;
	dp_get_rebalance(r->dp, &rc);
	*res = json_pack("{s:[{s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:i, s:o}]}", "bridges",
	                 "name", CTL_BRIDGE,
	                 "unknown_unicast", dp_get_unknown_unicast_drop(r->dp) ? "drop" : "flood",
	                 "mac_aging", (int)dp_get_mac_aging(r->dp),
	                 "placement", dp_placement_name(dp_get_placement(r->dp)),
	                 "rebalance", rc.on ? "on" : "off",
	                 "rebalance_threshold", (int)rc.threshold_pct,
	                 "rebalance_improvement", (int)rc.improve_pct,
	                 "rebalance_interval", (int)rc.interval_ms,
	                 "busy_poll", (int)dp_get_busy_poll(r->dp), "ports", ports);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
nomem:
	json_decref(ports);
	return ctl_err_app(e, ENOMEM, "out of memory");
}

static json_t *port_stats(const struct ctl_rpc *r, const char *name, struct dp_port_stats *s)
{
	/* Since the last stats-reset, if any (the metrics keep counting). */
	ctl_stats_base_apply(r->stats_base, name, s);
	/* The counters are listed once, in ctl_stats.c, for this and metrics. */
	return ctl_stats_port_json(name, s);
}

/* stats {name?} -> {ports: [{name, rx_pkts, rx_bytes, tx_pkts,
 * tx_bytes, drops: {invalid, no_room, ...}, ring_errors, guest_stops,
 * msg_errors, connects}], time_ns}; with name, the list holds that port only.
 * time_ns: vifd's CLOCK_MONOTONIC when the counters were read, so that
 * rates between two replies need no clock of the caller's (whose reads
 * may be far, on a busy machine, from when vifd read its counters). */
static int m_stats(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *name = pstr(p, "name", NULL);
	json_t *ports = json_array();
	struct dp_port_info info;
	struct dp_port_stats st;
	uint64_t now = clk_now_ns();

	if (!ports)
		goto nomem;
	if (name) {
		if (dp_port_find(r->dp, name, &info, &st) < 0) {
			json_decref(ports);
			return ctl_err_app(e, ENOENT, "no port named \"%.40s\"", name);
		}
		if (json_array_append_new(ports, port_stats(r, info.name, &st)) < 0)
			goto nomem;
	} else {
		for (unsigned i = 0; dp_port_get(r->dp, i, &info, &st) == 0; i++)
			if (json_array_append_new(ports, port_stats(r, info.name, &st)) < 0)
				goto nomem;
	}
	*res = json_pack("{s:o,s:I}", "ports", ports, "time_ns", (json_int_t)now);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
nomem:
	json_decref(ports);
	return ctl_err_app(e, ENOMEM, "out of memory");
}

/* stats-reset {name?} -> {ports: N}: the counters of "stats" start from 0
 * again for that port or every port. The datapath's counters and the
 * Prometheus metrics are not reset (counters there must only grow): this
 * is a baseline kept here, forgotten when the port is deleted. Not
 * persisted: after a restart every counter starts from 0 anyway. */
static int m_stats_reset(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *name = pstr(p, "name", NULL);
	struct dp_port_info info;
	struct dp_port_stats st;
	int n = 0;

	if (!r->stats_base)
		return ctl_err_app(e, EOPNOTSUPP, "stats-reset is not available here");
	if (name) {
		if (dp_port_find(r->dp, name, &info, &st) < 0)
			return ctl_err_app(e, ENOENT, "no port named \"%.40s\"", name);
		if (ctl_stats_base_set(r->stats_base, info.name, &st) < 0)
			return ctl_err_app(e, ENOSPC, "no room for the baseline of %s", info.name);
		n = 1;
	} else {
		for (unsigned i = 0; dp_port_get(r->dp, i, &info, &st) == 0; i++, n++)
			if (ctl_stats_base_set(r->stats_base, info.name, &st) < 0)
				return ctl_err_app(e, ENOSPC, "no room for the baseline of %s",
				                   info.name);
	}
	vlog_info("control: stats of %s reset (metrics keep counting)", name ? name : "every port");
	*res = json_pack("{s:i}", "ports", n);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* log-level {level?: "err"|"warning"|"info"|"debug"} -> {level, previous}:
 * the level at once, for the running vifd only (a restart goes back to
 * --log-level or the configuration file's). */
static int m_log_level(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	static const char *const names[] = { "emerg", "alert", "crit", "err", "warning",
	                                     "notice", "info", "debug" };
	const char *want = pstr(p, "level", NULL);
	int old = vlog_get_level(), lvl = old;

	(void)r;
	if (want) {
		lvl = vlog_level_parse(want);
		if (lvl < LOG_ERR || lvl > LOG_DEBUG || !strcmp(want, "notice"))
			return ctl_err_params(e, "level must be err, warning, info or debug, not "
			                      "\"%.20s\"", want);
		/* Said at the more verbose of the two levels, so that the log
		 * shows the change whichever way it goes. */
		vlog_set_level(lvl > old ? lvl : old);
		vlog(lvl > old ? (lvl < LOG_INFO ? lvl : LOG_INFO) : (old < LOG_INFO ? old : LOG_INFO),
		     "control: log level %s (was %s)", names[lvl], names[old]);
		vlog_set_level(lvl);
	}
	*res = json_pack("{s:s, s:s}", "level", names[lvl], "previous", names[old]);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* workers {} -> {workers: [{id, cpu (-1: not pinned), queues, busy_cycles,
 * idle_cycles, pkts, busy_iters, sleeps, answers_caught, answers_missed
 * (gaps polled for an expected answer: it came while the worker polled, or
 * the worker slept first), cycles_per_pkt (busy cycles /
 * pkts, integer, 0 before the first packet), pkts_per_iter (pkts /
 * busy_iters, 0 before), load (busy share of the last measurement
 * interval, 0..1)}], publishes, moves: {queues, by_rebalance,
 * stall_last_ns, stall_max_ns}, guest_memory, closer} */
static int m_workers(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	json_t *ws = json_array();
	unsigned n = dp_nworkers(r->dp);
	struct dp_global_stats g;

	(void)p;
	if (!ws)
		goto nomem;
	for (unsigned w = 0; w < n; w++) {
		struct dp_worker_stats s;

		dp_worker_get(r->dp, w, &s);
		if (json_array_append_new(ws, json_pack(
		        "{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
		        "id", (int)w, "cpu", s.cpu, "queues", (int)s.nqueues,
		        "busy_cycles", (json_int_t)s.busy_cycles,
		        "idle_cycles", (json_int_t)s.idle_cycles,
		        "pkts", (json_int_t)s.pkts, "busy_iters", (json_int_t)s.busy_iters,
		        "sleeps", (json_int_t)s.sleeps,
		        "answers_caught", (json_int_t)s.answers_caught,
		        "answers_missed", (json_int_t)s.answers_missed,
		        "cycles_per_pkt", (json_int_t)(s.pkts ? s.busy_cycles / s.pkts : 0),
		        "pkts_per_iter",
		        s.busy_iters ? (double)s.pkts / (double)s.busy_iters : 0.0,
		        "load", s.interval_cycles ? (double)s.load_cycles / (double)s.interval_cycles
		                                  : 0.0)) < 0)
			goto nomem;
	}
	dp_global_get(r->dp, &g);
	*res = json_pack("{s:o, s:I, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, "
	                 "s:{s:I, s:I, s:I, s:i, s:i}}",
	                 "workers", ws, "publishes", (json_int_t)g.publishes,
	                 "moves", "queues", (json_int_t)g.queue_moves,
	                 "by_rebalance", (json_int_t)g.rebalance_moves,
	                 "stall_last_ns", (json_int_t)g.move_stall_last_ns,
	                 "stall_max_ns", (json_int_t)g.move_stall_max_ns,
	                 "guest_memory", "mapped", (json_int_t)g.mem_mapped,
	                 "max", (json_int_t)g.mem_max, "port_max", (json_int_t)g.port_mem_max,
	                 "closer", "closed", (json_int_t)g.fds_closed,
	                 "stuck", (json_int_t)g.close_stuck, "leaked", (json_int_t)g.fds_leaked,
	                 "queued", (int)g.fds_queued, "stuck_now", (int)g.closers_stuck);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
nomem:
	json_decref(ws);
	return ctl_err_app(e, ENOMEM, "out of memory");
}

/* queues {} -> {placement, queues: [{port, queue, worker (-1: not polled
 * now), pinned, pkts, cycles (TSC cycles of the polls that took frames),
 * cycles_per_pkt, load (share of a core over the last interval, 0..1)}]} */
static int m_queues(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	json_t *qs = json_array();
	struct dp_queue_stats q;

	(void)p;
	if (!qs)
		goto nomem;
	for (unsigned i = 0; dp_queue_get(r->dp, i, &q) == 0; i++)
		if (json_array_append_new(qs, json_pack(
		        "{s:s, s:i, s:i, s:b, s:I, s:I, s:I, s:f}", "port", q.port, "queue", (int)q.q,
		        "worker", q.worker, "pinned", q.pinned, "pkts", (json_int_t)q.pkts,
		        "cycles", (json_int_t)q.cycles,
		        "cycles_per_pkt", (json_int_t)(q.pkts ? q.cycles / q.pkts : 0),
		        "load", q.interval_cycles ? (double)q.load_cycles / (double)q.interval_cycles
		                                  : 0.0)) < 0)
			goto nomem;
	*res = json_pack("{s:s, s:o}", "placement", dp_placement_name(dp_get_placement(r->dp)),
	                 "queues", qs);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
nomem:
	json_decref(qs);
	return ctl_err_app(e, ENOMEM, "out of memory");
}

struct fdb_walk {
	json_t *entries;
	bool failed;    /* an allocation failed: the list is incomplete */
};

static void fdb_one(void *arg, uint16_t vlan, const uint8_t mac[6], const char *port,
                    const char *remote, uint32_t age_s, enum dp_fdb_origin origin)
{
	static const char *const origins[] = {
		[DP_FDB_LEARNED] = "learned", [DP_FDB_STATIC] = "static",
		[DP_FDB_EVPN] = "evpn", [DP_FDB_FLOOD] = "flood",
	};
	bool is_static = origin == DP_FDB_STATIC || origin == DP_FDB_FLOOD;
	struct fdb_walk *fw = arg;
	json_t *o;
	char m[18];

	if (fw->failed)
		return;
	snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x",
	         mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	o = json_pack("{s:s, s:i, s:s, s:I, s:b, s:s}", "mac", m, "vlan", (int)vlan, "port", port,
	              "age", (json_int_t)(is_static ? 0 : age_s), "static", is_static,
	              "origin", origins[origin]);
	if (o && remote[0] && json_object_set_new(o, "remote", json_string(remote)) < 0) {
		json_decref(o);
		o = NULL;
	}
	if (json_array_append_new(fw->entries, o) < 0)
		fw->failed = true;
}

/* fdb {} -> {entries: [{mac ("aa:bb:cc:dd:ee:ff"), vlan, port, age (seconds
 * since last seen), static, origin ("learned", "static", "evpn": a remote
 * MAC zebra installed, "flood": a VXLAN port's flood-list endpoint, listed
 * as a static entry of MAC 00:00:00:00:00:00 as `bridge fdb` lists a vxlan
 * device's), remote? (a VXLAN port's endpoint)}]} */
static int m_fdb(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	struct fdb_walk fw = { .entries = json_array() };

	(void)p;
	if (!fw.entries)
		return ctl_err_app(e, ENOMEM, "out of memory");
	dp_fdb_foreach(r->dp, fdb_one, &fw);
	if (fw.failed) {
		json_decref(fw.entries);
		return ctl_err_app(e, ENOMEM, "out of memory");
	}
	*res = json_pack("{s:o}", "entries", fw.entries);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* fdb-add {port, mac, vlan?, remote? (vxlan ports)} -> {}: a static entry. */
static int m_fdb_add(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *port = preq(p, "port"), *m = preq(p, "mac");
	const char *remote = pstr(p, "remote", NULL);
	json_t *jv = json_object_get(p, "vlan");
	json_int_t vlan = jv ? json_integer_value(jv) : 0;
	char why[160] = "";
	uint8_t mac[6];
	int rc;

	if (!mac_parse(m, mac) || (mac[0] & 1))
		return ctl_err_params(e, "mac must be a unicast address like 02:00:00:00:00:10");
	if (vlan < 0 || vlan > 4094)
		return ctl_err_params(e, "vlan must be 0..4094");
	rc = dp_fdb_add_static(r->dp, port, (uint16_t)vlan, mac, remote, why, sizeof(why));
	if (rc == -ENOENT)
		return ctl_err_app(e, ENOENT, "no port named \"%.40s\"", port);
	if (rc < 0 && why[0])
		return ctl_err_app(e, -rc, "cannot add %s: %s", m, why);
	if (rc < 0)
		return ctl_err_app(e, -rc, "cannot add %s: %s", m, strerror(-rc));
	*res = json_object();
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

struct fdb_flush {
	const char *port;        /* only this port's entries, or NULL */
	int vlan;                /* only this VLAN's, or -1 */
	struct { uint16_t vlan; uint8_t mac[6]; } *e;
	size_t n, cap;
	bool failed;
};

static void flush_one(void *arg, uint16_t vlan, const uint8_t mac[6], const char *port,
                      const char *remote, uint32_t age_s, enum dp_fdb_origin origin)
{
	struct fdb_flush *f = arg;

	(void)age_s;
	(void)remote;
	/* (EVPN's entries are zebra's to withdraw: flushed, they would come
	 * back within a second) */
	if (f->failed || origin != DP_FDB_LEARNED || (f->port && strcmp(port, f->port)) ||
	    (f->vlan >= 0 && vlan != f->vlan))
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		void *q = xcalloc(cap, sizeof(*f->e));

		if (!q) {
			f->failed = true;
			return;
		}
		if (f->n)
			memcpy(q, f->e, f->n * sizeof(*f->e));
		xfree(f->e);
		f->e = q;
		f->cap = cap;
	}
	f->e[f->n].vlan = vlan;
	memcpy(f->e[f->n].mac, mac, 6);
	f->n++;
}

/* fdb-flush {port?, vlan?} -> {flushed: N}: removes learned entries (of
 * that port, of that VLAN, or all); static ones (fdb-add, mac= bindings)
 * stay, as with OVS's fdb/flush. An entry relearned meanwhile is simply
 * learned again. */
static int m_fdb_flush(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	json_t *jv = json_object_get(p, "vlan");
	struct fdb_flush f = { .port = pstr(p, "port", NULL), .vlan = -1 };
	int n = 0;

	if (jv) {
		if (json_integer_value(jv) < 0 || json_integer_value(jv) > 4094)
			return ctl_err_params(e, "vlan must be 0..4094");
		f.vlan = (int)json_integer_value(jv);
	}
	if (f.port && dp_port_find(r->dp, f.port, NULL, NULL) < 0)
		return ctl_err_app(e, ENOENT, "no port named \"%.40s\"", f.port);
	dp_fdb_foreach(r->dp, flush_one, &f);
	if (f.failed) {
		xfree(f.e);
		return ctl_err_app(e, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < f.n; i++)
		if (dp_fdb_del(r->dp, f.e[i].vlan, f.e[i].mac) == 0)
			n++;
	xfree(f.e);
	*res = json_pack("{s:i}", "flushed", n);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* fdb-del {mac, vlan?} -> {} */
static int m_fdb_del(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *m = preq(p, "mac");
	json_t *jv = json_object_get(p, "vlan");
	json_int_t vlan = jv ? json_integer_value(jv) : 0;
	uint8_t mac[6];
	int rc;

	if (!mac_parse(m, mac))
		return ctl_err_params(e, "mac must be an address like 02:00:00:00:00:10");
	if (vlan < 0 || vlan > 4094)
		return ctl_err_params(e, "vlan must be 0..4094");
	rc = dp_fdb_del(r->dp, (uint16_t)vlan, mac);
	if (rc == -ENOENT)
		return ctl_err_app(e, ENOENT, "no entry for %s in VLAN %d", m, (int)vlan);
	if (rc < 0)
		return ctl_err_app(e, -rc, "cannot delete %s: %s", m, strerror(-rc));
	*res = json_object();
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

/* add-bridge {name}: this version has exactly one bridge, br0, created at
 * start; the method exists so scripts written for later versions fail
 * with a clear message. Never succeeds. */
static int m_add_bridge(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	const char *name = preq(p, "name");

	(void)r;
	(void)res;
	if (!strcmp(name, CTL_BRIDGE))
		return ctl_err_app(e, EEXIST, "bridge %s exists", CTL_BRIDGE);
	return ctl_err_app(e, EOPNOTSUPP,
	                   "only one bridge (%s) is supported in this version", CTL_BRIDGE);
}

/* version {} -> {name: "vifd", version} */
static int m_version(const struct ctl_rpc *r, json_t *p, json_t **res, struct ctl_err *e)
{
	(void)r;
	(void)p;
	*res = json_pack("{s:s, s:s}", "name", "vifd", "version", VIFD_VERSION);
	return *res ? 0 : ctl_err_app(e, ENOMEM, "out of memory");
}

static const struct ctl_param p_none[] = { { NULL } };
static const struct ctl_param p_name[] = {
	{ "name", CTL_P_STRING, true },
	{ NULL },
};
static const struct ctl_param p_stats[] = {
	{ "name", CTL_P_STRING, false },
	{ NULL },
};
#define POLICY_PARAM(json, cli, kind) { json, CTL_P_##kind, false },
#define POLICY_PARAMS PORT_POLICY_KEYS(POLICY_PARAM)
static const struct ctl_param p_add_port[] = {
	{ "bridge", CTL_P_STRING, true },
	{ "name", CTL_P_STRING, true },
	{ "type", CTL_P_STRING, true },
	{ "path", CTL_P_STRING, false },
	{ "mode", CTL_P_STRING, false },
	{ "owner", CTL_P_STRING, false },
	{ "group", CTL_P_STRING, false },
	{ "perm", CTL_P_STRING, false },
	{ "queues", CTL_P_INT, false },
	{ "ifname", CTL_P_STRING, false },
	{ "netns", CTL_P_STRING, false },
	{ "dev", CTL_P_STRING, false },
	{ "vni", CTL_P_INT, false },
	{ "local", CTL_P_STRING, false },
	{ "remote", CTL_P_STRING, false },
	{ "dstport", CTL_P_INT, false },
	{ "evpn", CTL_P_STRING, false },
	{ "vni_map", CTL_P_STRING, false },
	POLICY_PARAMS
	{ NULL },
};
static const struct ctl_param p_set_port[] = {
	{ "name", CTL_P_STRING, true },
	POLICY_PARAMS
	{ NULL },
};
static const struct ctl_param p_fdb_add[] = {
	{ "port", CTL_P_STRING, true },
	{ "mac", CTL_P_STRING, true },
	{ "vlan", CTL_P_INT, false },
	{ "remote", CTL_P_STRING, false },
	{ NULL },
};
static const struct ctl_param p_fdb_del[] = {
	{ "mac", CTL_P_STRING, true },
	{ "vlan", CTL_P_INT, false },
	{ NULL },
};
static const struct ctl_param p_fdb_flush[] = {
	{ "port", CTL_P_STRING, false },
	{ "vlan", CTL_P_INT, false },
	{ NULL },
};
static const struct ctl_param p_log_level[] = {
	{ "level", CTL_P_STRING, false },
	{ NULL },
};
static const struct ctl_param p_set_bridge[] = {
	{ "name", CTL_P_STRING, true },
	{ "unknown_unicast", CTL_P_STRING, false },
	{ "mac_aging", CTL_P_INT, false },
	{ "placement", CTL_P_STRING, false },
	{ "rebalance", CTL_P_STRING, false },
	{ "rebalance_threshold", CTL_P_INT, false },
	{ "rebalance_improvement", CTL_P_INT, false },
	{ "rebalance_interval", CTL_P_INT, false },
	{ "busy_poll", CTL_P_INT, false },
	{ NULL },
};
static const struct ctl_param p_trace[] = {
	{ "port", CTL_P_STRING, true },
	{ "src", CTL_P_STRING, true },
	{ "dst", CTL_P_STRING, false },
	{ "vlan", CTL_P_INT, false },
	{ "pcp", CTL_P_INT, false },
	{ "proto", CTL_P_STRING, false },
	{ "ip_src", CTL_P_STRING, false },
	{ "ip_dst", CTL_P_STRING, false },
	{ "size", CTL_P_INT, false },
	{ "gso", CTL_P_INT, false },
	{ NULL },
};

static const struct ctl_param p_capture[] = {
	{ "port", CTL_P_STRING, true },
	{ "dir", CTL_P_STRING, false },
	{ "snaplen", CTL_P_INT, false },
	{ "ring_kib", CTL_P_INT, false },
	{ NULL },
};

static const struct ctl_method methods[] = {
	{ "add-bridge", m_add_bridge, p_name },
	{ "add-port", m_add_port, p_add_port },
	{ "del-port", m_del_port, p_name },
	{ "set-port", m_set_port, p_set_port },
	{ "set-bridge", m_set_bridge, p_set_bridge },
	{ "show", m_show, p_none },
	{ "stats", m_stats, p_stats },
	{ "stats-reset", m_stats_reset, p_stats },
	{ "log-level", m_log_level, p_log_level },
	{ "workers", m_workers, p_none },
	{ "queues", m_queues, p_none },
	{ "fdb", m_fdb, p_none },
	{ "fdb-add", m_fdb_add, p_fdb_add },
	{ "fdb-del", m_fdb_del, p_fdb_del },
	{ "fdb-flush", m_fdb_flush, p_fdb_flush },
	{ "version", m_version, p_none },
	{ "trace", ctl_m_trace, p_trace },
	{ "capture", ctl_m_capture, p_capture },
	{ "captures", ctl_m_captures, p_none },
};

const struct ctl_method *ctl_method_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}
