/* cli_main.c - vifctl's command line: global options, the command table
 * (one entry per command: synopsis, help, argument counts, handler), and
 * the mapping of every outcome to the exit codes of cli.h.
 *
 *   vifctl [--socket PATH] [-j|--json] COMMAND [ARGS]
 *
 * Global options may also follow the command. The socket is --socket, else
 * $VIFD_SOCKET, else ./vifd-state/vifd.sock if it exists (vifd's default
 * state directory, relative to where both are started: the README's demo),
 * else /run/vifd/vifd.sock (where the systemd unit puts it). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "port_keys.h"
#include "util.h"
#include "xalloc.h"

#define LOCAL_SOCKET "./vifd-state/vifd.sock"
#define SYSTEM_SOCKET "/run/vifd/vifd.sock"

struct cli_ctx {
	const char *sock;     /* control socket path */
	bool json;            /* -j: print the result object */
	unsigned flags;       /* CMD_* options given */
	bool watch;           /* stats --watch */
	double interval_s;    /* --watch period */
	struct cli_conn conn; /* fd -1 until the first call */
	struct cli_capture_opts cap; /* capture's options */
};

typedef int cmd_fn(struct cli_ctx *x, int argc, char **argv);

/* Options of one command (besides the global ones), as in ovs-vsctl. */
enum {
	CMD_MAY_EXIST = 1u << 0, /* --may-exist: "already exists" is success */
	CMD_IF_EXISTS = 1u << 1, /* --if-exists: "does not exist" is success */
	CMD_RESET = 1u << 2,     /* stats --reset */
	CMD_CAPTURE = 1u << 3,   /* capture's -w -c -s --timeout --ring (capture_opt) */
};

static const struct {
	unsigned flag;
	const char *name;
} cmd_opts[] = {
	{ CMD_MAY_EXIST, "--may-exist" },
	{ CMD_IF_EXISTS, "--if-exists" },
	{ CMD_RESET, "--reset" },
	{ CMD_CAPTURE, "-w" },
	{ CMD_CAPTURE, "-c" },
	{ CMD_CAPTURE, "-s" },
	{ CMD_CAPTURE, "--timeout" },
	{ CMD_CAPTURE, "--ring" },
};

/* A key=value argument of a command other than add-port and set-port
 * (theirs are port_keys below), with its values when they are a list. */
struct cmd_key {
	const char *key;
	const char *values;   /* "flood drop", or NULL: free-form */
	const char *json;     /* set-bridge: its name in the request */
	bool integer;         /* set-bridge: its value is a number */
};

struct cmd {
	const char *name;
	const char *args;     /* synopsis after the name */
	const char *summary;  /* one line for vifctl --help */
	const char *help;     /* more for vifctl COMMAND --help, or NULL */
	int min_args, max_args; /* positional arguments; max -1: no limit */
	bool watch;           /* accepts --watch [SECONDS] */
	cmd_fn *fn;
	unsigned opts;        /* CMD_* it accepts */
	const struct cmd_key *keys; /* its key=value arguments, NULL-ended; NULL: none */
	const char *words;    /* its fixed positional words ("err warning ..."), or NULL */
};

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "vifctl: <message> (see vifctl --help)"; returns CLI_EUSAGE. */
static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("vifctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see vifctl --help)\n", stderr);
	return CLI_EUSAGE;
}

/* Calls method and prints its result: as JSON with -j, else with print
 * (NULL: nothing, the exit status says it worked). */
static int call(struct cli_ctx *x, const char *method, json_t *params, void (*print)(json_t *))
{
	json_t *res;
	int r;

	if (x->conn.fd < 0) {
		r = cli_connect(&x->conn, x->sock);
		if (r != CLI_OK) {
			json_decref(params);
			return r;
		}
	}
	r = cli_call(&x->conn, method, params, &res);
	if (r != CLI_OK)
		return r;
	if (x->json) {
		json_dumpf(res, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else if (print) {
		print(res);
	}
	json_decref(res);
	return CLI_OK;
}

static json_t *pack_name(const char *name)
{
	json_t *p = json_pack("{s:s}", "name", name);

	if (!p)
		cli_oom();
	return p;
}

/* call() with the error errno_name (e.g. "EEXIST") not printed: returns
 * 1 when that was the outcome. */
static int call_quiet(struct cli_ctx *x, const char *method, json_t *params,
                      const char *errno_name)
{
	int r;

	x->conn.quiet_errno = errno_name;
	x->conn.quieted = false;
	r = call(x, method, params, NULL);
	x->conn.quiet_errno = NULL;
	return x->conn.quieted ? 1 : r;
}

static int c_add_bridge(struct cli_ctx *x, int argc, char **argv)
{
	int r;

	(void)argc;
	if (!(x->flags & CMD_MAY_EXIST))
		return call(x, "add-bridge", pack_name(argv[0]), NULL);
	r = call_quiet(x, "add-bridge", pack_name(argv[0]), "EEXIST");
	return r == 1 ? CLI_OK : r;
}

/* The key=value arguments of add-port and set-port. `json` is the
 * parameter's name in the request (the CLI spells mac_limit mac-limit);
 * `add_only` keys are refused by set-port; `values` lists the values of
 * a key that takes one of a few (for help and completion). */
static const struct {
	const char *key;
	const char *json;
	bool required;   /* by add-port (of any type; vifd checks the rest) */
	bool integer;
	bool add_only;
	const char *values;
} port_keys[] = {
	{ "type", "type", true, false, true, "vhostuser vhost-user tap afpacket afxdp vxlan" },
	{ "path", "path", false, false, true, NULL },
	{ "mode", "mode", false, false, true, "server client" },
	{ "owner", "owner", false, false, true, NULL },
	{ "group", "group", false, false, true, NULL },
	{ "perm", "perm", false, false, true, NULL },
	{ "queues", "queues", false, true, true, NULL },
	{ "ifname", "ifname", false, false, true, NULL },
	{ "netns", "netns", false, false, true, NULL },
	{ "dev", "dev", false, false, true, NULL },
	{ "vni", "vni", false, true, true, NULL },
	{ "vni-map", "vni_map", false, false, true, NULL },
	{ "local", "local", false, false, true, NULL },
	{ "remote", "remote", false, false, true, NULL },
	{ "dstport", "dstport", false, true, true, NULL },
	{ "evpn", "evpn", false, false, true, "on off" },
#define CLI_KEY(json, cli, kind) { cli, json, false, PORT_KEY_IS_##kind, false, NULL },
#define PORT_KEY_IS_INT true
#define PORT_KEY_IS_STRING false
	PORT_POLICY_KEYS(CLI_KEY)
#undef CLI_KEY
};

enum { NKEYS = sizeof(port_keys) / sizeof(port_keys[0]) };

/* The values a port key takes when they are a short list, or NULL. */
static const char *key_values(size_t k)
{
	if (!strcmp(port_keys[k].key, "isolated"))
		return "true false";
	if (!strcmp(port_keys[k].key, "adaptive-rx"))
		return "on off";
	return port_keys[k].values;
}

/* path made absolute against our working directory: vifd's may differ. */
static json_t *abs_path(const char *path)
{
	char cwd[PATH_MAX], buf[PATH_MAX + 8];

	if (path[0] == '/')
		return json_string(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (snprintf(buf, sizeof(buf), "%s/%s", strcmp(cwd, "/") ? cwd : "", path) >=
	    (int)sizeof(buf))
		return NULL;
	return json_string(buf);
}

/* Parses key=value arguments argv[first..argc) into params for cmd. */
static int parse_port_kv(const char *cmd, bool add, int first, int argc, char **argv,
                         json_t *params)
{
	const char *val[NKEYS] = { NULL };

	for (int i = first; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		size_t k;

		if (!eq || eq == argv[i])
			return usage_err("%s: expected key=value, got \"%s\"", cmd, argv[i]);
		for (k = 0; k < NKEYS; k++)
			if (strlen(port_keys[k].key) == (size_t)(eq - argv[i]) &&
			    !strncmp(port_keys[k].key, argv[i], (size_t)(eq - argv[i])) &&
			    (add || !port_keys[k].add_only))
				break;
		if (k == NKEYS) {
			char known[512];
			size_t n = 0;
			for (k = 0; k < NKEYS; k++)
				if (add || !port_keys[k].add_only)
					n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
					                      n ? ", " : "", port_keys[k].key);
			return usage_err("%s: unknown key in \"%s\" (known: %s)", cmd, argv[i], known);
		}
		if (val[k])
			return usage_err("%s: %s= given twice", cmd, port_keys[k].key);
		if (!eq[1] && port_keys[k].integer)
			return usage_err("%s: empty value for %s=", cmd, port_keys[k].key);
		val[k] = eq + 1;
	}
	for (size_t k = 0; k < NKEYS; k++)
		if (add && port_keys[k].required && !val[k])
			return usage_err("%s: %s= is required", cmd, port_keys[k].key);
	for (size_t k = 0; k < NKEYS; k++) {
		json_t *v;

		if (!val[k])
			continue;
		if (port_keys[k].integer) {
			char *end;
			long n;

			errno = 0;
			n = strtol(val[k], &end, 10);
			if (errno || *end || end == val[k])
				return usage_err("%s: %s= needs a number", cmd, port_keys[k].key);
			v = json_integer(n);
		} else if (!strcmp(port_keys[k].key, "path")) {
			v = abs_path(val[k]);
			if (!v)
				return usage_err("%s: cannot make \"%s\" an absolute path", cmd, val[k]);
		} else {
			v = json_string(val[k]);
		}
		if (!v || json_object_set_new(params, port_keys[k].json, v) < 0)
			cli_oom();
	}
	return 0;
}

/* add-port --may-exist found the port: fine if it is what was asked for. */
static int port_matches(struct cli_ctx *x, const char *bridge, const char *name, const char *type)
{
	json_t *res, *br, *p;
	size_t i, j;
	int r;

	r = cli_call(&x->conn, "show", NULL, &res);
	if (r != CLI_OK)
		return r;
	r = CLI_EVIFD;
	json_array_foreach(json_object_get(res, "bridges"), i, br)
		json_array_foreach(json_object_get(br, "ports"), j, p) {
			const char *pn = json_string_value(json_object_get(p, "name"));
			const char *pt = json_string_value(json_object_get(p, "type"));
			const char *bn = json_string_value(json_object_get(br, "name"));

			if (!pn || strcmp(pn, name))
				continue;
			if (bn && strcmp(bn, bridge))
				fprintf(stderr, "vifctl: add-port: port %s exists on bridge %s, not %s\n",
				        name, bn, bridge);
			else if (pt && strcmp(pt, type))
				fprintf(stderr, "vifctl: add-port: port %s exists with type=%s, not "
				        "type=%s (del-port it first to change its type)\n", name, pt, type);
			else
				r = CLI_OK;
			goto out;
		}
	/* Something else exists (a file at path=): vifd's own message. */
	fprintf(stderr, "vifctl: %s\n", x->conn.quiet_msg);
out:
	json_decref(res);
	return r;
}

static int c_add_port(struct cli_ctx *x, int argc, char **argv)
{
	char want[32]; /* the type asked for, kept past the call */
	json_t *params;
	const char *type;
	int rc;

	/* "add-port vm1 type=...": the bridge was left out, which would
	 * otherwise read as a port named type=... and no type= given. */
	if (strchr(argv[0], '='))
		return usage_err("add-port: the bridge and the port's name are missing: "
		                 "add-port BRIDGE NAME type=TYPE ... (this version's bridge is br0)");
	if (strchr(argv[1], '='))
		return usage_err("add-port: the bridge is missing: add-port BRIDGE %s %s ... "
		                 "(this version's bridge is br0)", argv[0], argv[1]);
	params = json_pack("{s:s, s:s}", "bridge", argv[0], "name", argv[1]);
	if (!params)
		cli_oom();
	rc = parse_port_kv("add-port", true, 2, argc, argv, params);
	if (rc) {
		json_decref(params);
		return rc;
	}
	if (!(x->flags & CMD_MAY_EXIST))
		return call(x, "add-port", params, NULL);
	type = json_string_value(json_object_get(params, "type"));
	snprintf(want, sizeof(want), "%s", type && strcmp(type, "vhost-user") ? type : "vhostuser");
	rc = call_quiet(x, "add-port", params, "EEXIST");
	return rc == 1 ? port_matches(x, argv[0], argv[1], want) : rc;
}

static int c_set_port(struct cli_ctx *x, int argc, char **argv)
{
	json_t *params = json_pack("{s:s}", "name", argv[0]);
	int rc;

	if (!params)
		cli_oom();
	if (argc < 2) {
		json_decref(params);
		return usage_err("set-port: give at least one key=value");
	}
	rc = parse_port_kv("set-port", false, 1, argc, argv, params);
	if (rc) {
		json_decref(params);
		return rc;
	}
	return call(x, "set-port", params, NULL);
}

static const struct cmd_key bridge_keys[] = {
	{ "unknown-unicast", "flood drop", "unknown_unicast", false },
	{ "mac-aging", NULL, "mac_aging", true },
	{ "placement", "spread monolithic per-port group cycles", "placement", false },
	{ "rebalance", "on off", "rebalance", false },
	{ "rebalance-threshold", NULL, "rebalance_threshold", true },
	{ "rebalance-improvement", NULL, "rebalance_improvement", true },
	{ "rebalance-interval", NULL, "rebalance_interval", true },
	{ "busy-poll", NULL, "busy_poll", true },
	{ NULL, NULL, NULL, false },
};
static const struct cmd_key vlan_key[] = { { "vlan", NULL, "vlan", true },
	                                   { NULL, NULL, NULL, false } };
static const struct cmd_key fdb_add_keys[] = { { "vlan", NULL, "vlan", true },
	                                       { "remote", NULL, "remote", false },
	                                       { NULL, NULL, NULL, false } };

static int c_set_bridge(struct cli_ctx *x, int argc, char **argv)
{
	json_t *params = json_pack("{s:s}", "name", argv[0]);

	if (!params)
		cli_oom();
	for (int i = 1; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t k, klen = eq ? (size_t)(eq - argv[i]) : 0;
		json_t *v;
		char *end;

		for (k = 0; eq && bridge_keys[k].key; k++)
			if (strlen(bridge_keys[k].key) == klen && !strncmp(argv[i], bridge_keys[k].key, klen))
				break;
		if (!eq || !bridge_keys[k].key) {
			json_decref(params);
			return usage_err("set-bridge: unknown setting \"%s\" (see vifctl help set-bridge)",
			                 argv[i]);
		}
		if (bridge_keys[k].integer) {
			long n = strtol(eq + 1, &end, 10);
			if (*end || end == eq + 1) {
				json_decref(params);
				return usage_err("set-bridge: %s= needs a number", bridge_keys[k].key);
			}
			v = json_integer(n);
		} else {
			v = json_string(eq + 1);
		}
		if (!v || json_object_set_new(params, bridge_keys[k].json, v) < 0)
			cli_oom();
	}
	return call(x, "set-bridge", params, NULL);
}

static int c_del_port(struct cli_ctx *x, int argc, char **argv)
{
	int r;

	(void)argc;
	if (!(x->flags & CMD_IF_EXISTS))
		return call(x, "del-port", pack_name(argv[0]), NULL);
	r = call_quiet(x, "del-port", pack_name(argv[0]), "ENOENT");
	return r == 1 ? CLI_OK : r;
}

static int c_show(struct cli_ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return call(x, "show", NULL, cli_print_show);
}

static int c_stats(struct cli_ctx *x, int argc, char **argv)
{
	int r;

	if (x->flags & CMD_RESET) {
		if (x->watch)
			return usage_err("stats: --reset and --watch do not go together");
		return call(x, "stats-reset", argc ? pack_name(argv[0]) : NULL, NULL);
	}
	if (!x->watch)
		return call(x, "stats", argc ? pack_name(argv[0]) : NULL, cli_print_stats);
	r = cli_connect(&x->conn, x->sock);
	if (r != CLI_OK)
		return r;
	return cli_watch_stats(&x->conn, argc ? argv[0] : NULL, x->interval_s, x->json);
}

static int c_workers(struct cli_ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return call(x, "workers", NULL, cli_print_workers);
}

static int c_queues(struct cli_ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return call(x, "queues", NULL, cli_print_queues);
}

static int c_fdb(struct cli_ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return call(x, "fdb", NULL, cli_print_fdb);
}

/* fdb-add PORT MAC [vlan=N] [remote=ADDR] / fdb-del MAC [vlan=N] /
 * fdb-flush [PORT] [vlan=N] */
static int fdb_edit(struct cli_ctx *x, const char *cmd, json_t *params, int argc, char **argv,
                    int first)
{
	int r;

	for (int i = first; i < argc; i++) {
		char *end;
		long n;

		if (!strcmp(cmd, "fdb-add") && !strncmp(argv[i], "remote=", 7)) {
			if (json_object_set_new(params, "remote", json_string(argv[i] + 7)) < 0)
				cli_oom();
			continue;
		}
		if (strncmp(argv[i], "vlan=", 5)) {
			json_decref(params);
			return usage_err("%s: expected vlan=N%s, got \"%s\"", cmd,
			                 strcmp(cmd, "fdb-add") ? "" : " or remote=ADDR", argv[i]);
		}
		n = strtol(argv[i] + 5, &end, 10);
		if (*end || end == argv[i] + 5) {
			json_decref(params);
			return usage_err("%s: vlan= needs a number", cmd);
		}
		if (json_object_set_new(params, "vlan", json_integer(n)) < 0)
			cli_oom();
	}
	if (!(x->flags & CMD_IF_EXISTS))
		return call(x, cmd, params, NULL);
	r = call_quiet(x, cmd, params, "ENOENT");
	return r == 1 ? CLI_OK : r;
}

static int c_fdb_add(struct cli_ctx *x, int argc, char **argv)
{
	json_t *params = json_pack("{s:s, s:s}", "port", argv[0], "mac", argv[1]);

	if (!params)
		cli_oom();
	return fdb_edit(x, "fdb-add", params, argc, argv, 2);
}

static int c_fdb_del(struct cli_ctx *x, int argc, char **argv)
{
	json_t *params = json_pack("{s:s}", "mac", argv[0]);

	if (!params)
		cli_oom();
	return fdb_edit(x, "fdb-del", params, argc, argv, 1);
}

static int c_fdb_flush(struct cli_ctx *x, int argc, char **argv)
{
	json_t *params = json_object();
	int first = 0;

	if (!params)
		cli_oom();
	if (argc && !strchr(argv[0], '=')) {
		if (json_object_set_new(params, "port", json_string(argv[0])) < 0)
			cli_oom();
		first = 1;
	}
	return fdb_edit(x, "fdb-flush", params, argc, argv, first);
}

static void print_log_level(json_t *res)
{
	const char *l = json_string_value(json_object_get(res, "level"));

	printf("%s\n", l ? l : "-");
}

static void print_log_level_set(json_t *res)
{
	const char *l = json_string_value(json_object_get(res, "level"));
	const char *was = json_string_value(json_object_get(res, "previous"));

	printf("log level %s (was %s) until vifd restarts (not persisted)\n", l ? l : "-",
	       was ? was : "-");
}

static int c_log_level(struct cli_ctx *x, int argc, char **argv)
{
	json_t *params;

	if (!argc)
		return call(x, "log-level", NULL, print_log_level);
	params = json_pack("{s:s}", "level", argv[0]);
	if (!params)
		cli_oom();
	return call(x, "log-level", params, print_log_level_set);
}

static const struct cmd_key trace_keys[] = {
	{ "src", NULL, "src", false },       { "dst", NULL, "dst", false },
	{ "vlan", NULL, "vlan", true },      { "pcp", NULL, "pcp", true },
	{ "ip-src", NULL, "ip_src", false }, { "ip-dst", NULL, "ip_dst", false },
	{ "size", NULL, "size", true },      { "gso", NULL, "gso", true },
	{ NULL, NULL, NULL, false },
};
/* trace PORT src=MAC [dst=MAC] [vlan=N] [pcp=N] [PROTO] [ip-src=A] [ip-dst=A]
 * [size=N]: the CLI spells the keys with '-', the request with '_'. */
static int c_trace(struct cli_ctx *x, int argc, char **argv)
{
	static const char *const protos[] = { "arp", "ipv4", "ipv6", "ns", "na" };
	json_t *params = json_pack("{s:s}", "port", argv[0]);

	if (!params)
		cli_oom();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		json_t *v = NULL;
		size_t k;

		for (k = 0; !eq && k < ARRAY_SIZE(protos); k++)
			if (!strcmp(a, protos[k]))
				v = json_string(a);
		if (v) {
			if (json_object_set_new(params, "proto", v) < 0)
				cli_oom();
			continue;
		}
		for (k = 0; eq && trace_keys[k].key; k++)
			if (strlen(trace_keys[k].key) == (size_t)(eq - a) &&
			    !strncmp(a, trace_keys[k].key, (size_t)(eq - a)))
				break;
		if (!eq || !trace_keys[k].key) {
			json_decref(params);
			return usage_err("trace: unknown key \"%s\" (src= dst= vlan= pcp= ip-src= ip-dst= "
			                 "size= gso=, or arp|ipv4|ipv6|ns|na)", a);
		}
		if (trace_keys[k].integer) {
			char *end;
			long n = strtol(eq + 1, &end, 10);
			if (*end || end == eq + 1) {
				json_decref(params);
				return usage_err("trace: %s needs a number", trace_keys[k].key);
			}
			v = json_integer(n);
		} else {
			v = json_string(eq + 1);
		}
		if (!v || json_object_set_new(params, trace_keys[k].json, v) < 0)
			cli_oom();
	}
	if (!json_object_get(params, "src")) {
		json_decref(params);
		return usage_err("trace: src=MAC is required");
	}
	return call(x, "trace", params, cli_print_trace);
}

/* capture PORT [rx|tx|both] -w FILE [-c N] [-s SNAPLEN] [--timeout S] */
static int c_capture(struct cli_ctx *x, int argc, char **argv)
{
	int r;

	x->cap.port = argv[0];
	x->cap.dir = "both";
	if (argc > 1) {
		if (strcmp(argv[1], "rx") && strcmp(argv[1], "tx") && strcmp(argv[1], "both"))
			return usage_err("capture: direction is rx, tx or both, not \"%s\"", argv[1]);
		x->cap.dir = argv[1];
	}
	if (!x->cap.file)
		return usage_err("%s", "capture: -w FILE is required (- for standard output)");
	r = cli_connect(&x->conn, x->sock);
	if (r != CLI_OK)
		return r;
	return cli_capture(&x->conn, &x->cap);
}

static int c_captures(struct cli_ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return call(x, "captures", NULL, cli_print_captures);
}

/* capture's options: 1 taken (and *i moved past its value), 0 not one,
 * -1 a usage error (printed). */
static int capture_opt(struct cli_ctx *x, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v;
	char *end;
	long n;

	if (strcmp(a, "-w") && strcmp(a, "-c") && strcmp(a, "-s") && strcmp(a, "--timeout") &&
	    strcmp(a, "--ring"))
		return 0;
	if (*i + 1 >= argc) {
		usage_err("capture: %s needs a value", a);
		return -1;
	}
	v = argv[++*i];
	if (!strcmp(a, "-w")) {
		x->cap.file = v;
		return 1;
	}
	if (!strcmp(a, "--timeout")) {
		double d = strtod(v, &end);
		if (*end || end == v || !(d > 0 && d <= 86400 * 365)) {
			usage_err("capture: --timeout takes seconds, not \"%s\"", v);
			return -1;
		}
		x->cap.timeout_s = d;
		return 1;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n <= 0 || n > INT_MAX) {
		usage_err("capture: %s takes a positive number, not \"%s\"", a, v);
		return -1;
	}
	if (!strcmp(a, "-c"))
		x->cap.count = n;
	else if (!strcmp(a, "-s"))
		x->cap.snaplen = n;
	else
		x->cap.ring_kib = n;
	return 1;
}

static void print_version(json_t *res)
{
	const char *v = json_string_value(json_object_get(res, "version"));

	printf("vifd %s\n", v ? v : "-");
}

static int c_version(struct cli_ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!x->json)
		printf("vifctl %s\n", VIFD_VERSION);
	return call(x, "version", NULL, print_version);
}

static void usage(FILE *f);
static void cmd_help(const struct cmd *c, FILE *f);
static const struct cmd *cmd_find(const char *name);


static int c_help(struct cli_ctx *x, int argc, char **argv)
{
	const struct cmd *c;

	(void)x;
	if (!argc) {
		usage(stdout);
		return CLI_OK;
	}
	c = cmd_find(argv[0]);
	if (!c)
		return usage_err("unknown command \"%s\"", argv[0]);
	cmd_help(c, stdout);
	return CLI_OK;
}

static const struct cmd cmds[] = {
	{ "add-bridge", "[--may-exist] NAME", "add a bridge (this version has only br0)",
	  "This version has exactly one bridge, br0, which vifd creates at start:\n"
	  "add-bridge br0 reports that it exists, any other name is refused.\n"
	  "  --may-exist  add-bridge br0 succeeds (scripts written for OVS)\n",
	  1, 1, false, c_add_bridge, CMD_MAY_EXIST, NULL, NULL },
	{ "add-port", "[--may-exist] BRIDGE NAME type=vhostuser|tap|afpacket|afxdp|vxlan KEY=VALUE... [POLICY]",
	  "add a vhost-user, tap, AF_PACKET, AF_XDP or VXLAN port",
	  "  add-port BRIDGE NAME type=vhostuser path=SOCKET [mode=server|client] [queues=N]\n"
	  "           [owner=USER] [group=GROUP] [perm=MODE]\n"
	  "  add-port BRIDGE NAME type=tap [ifname=IF] [netns=NS] [queues=N]\n"
	  "  add-port BRIDGE NAME type=afpacket|afxdp dev=IF [queues=N]\n"
	  "  add-port BRIDGE NAME type=vxlan vni=N|vni-map=VLAN:VNI,... local=ADDR\n"
	  "           [remote=ADDR,...] [dstport=P] [evpn=on] [netns=NS]\n"
	  "  --may-exist     a port of that name (and type) already there is not an\n"
	  "                  error; nothing about it is changed (use set-port)\n"
	  "  type=vhostuser  a guest's virtio-net over a vhost-user socket (type=vhost-user,\n"
	  "                  QEMU's and OVS's spelling, is the same):\n"
	  "  path=SOCKET     the vhost-user socket; a relative path is taken from the\n"
	  "                  current directory\n"
	  "  mode=server     vifd listens on SOCKET, QEMU connects (default):\n"
	  "                    -chardev socket,id=c0,path=SOCKET\n"
	  "  mode=client     vifd connects to QEMU's SOCKET and reconnects when it goes:\n"
	  "                    -chardev socket,id=c0,path=SOCKET,server=on,wait=off\n"
	  "  owner=USER, group=GROUP, perm=MODE (mode=server)\n"
	  "                  owner, group (names or ids) and octal mode of the socket\n"
	  "                  vifd creates, e.g. group=kvm perm=0660 for QEMU under\n"
	  "                  libvirt (default: vifd --vhost-sock-owner, -group, -perm)\n"
	  "  queues=N        queue pairs offered to the guest, 1 to " VIFD_MAX_QUEUES_STR(VIFD_MAX_QUEUES) " (default 1)\n"
	  "  type=tap        a tap device vifd creates (or attaches to) and brings up:\n"
	  "  ifname=IF       its name (default: the port's name)\n"
	  "  netns=NS        create it in the network namespace NS (ip netns add NS);\n"
	  "                  it persists across vifd restarts and goes with del-port\n"
	  "  queues=N        tap queues (IFF_MULTI_QUEUE with more than 1), 1 to " VIFD_MAX_QUEUES_STR(VIFD_MAX_QUEUES) "\n"
	  "  type=afpacket   an existing interface, through AF_PACKET (TPACKET_V3):\n"
	  "  dev=IF          the interface; promiscuous while the port exists\n"
	  "  queues=N        packet sockets joined by PACKET_FANOUT, 1 to " VIFD_MAX_QUEUES_STR(VIFD_MAX_QUEUES) "\n"
	  "  type=afxdp      an existing interface, through AF_XDP (XDP program by vifd):\n"
	  "  dev=IF          the interface\n"
	  "  queues=N        XDP sockets on its rx queues 0..N-1, 1 to " VIFD_MAX_QUEUES_STR(VIFD_MAX_QUEUES) "\n"
	  "  type=vxlan      the bridge's frames to other hosts in VXLAN (RFC 7348):\n"
	  "  vni=N           the VXLAN network identifier of its untagged frames,\n"
	  "                  0 to 16777215\n"
	  "  vni-map=VLAN:VNI,...  the VNIs of its tagged frames: a frame of VLAN 10 with\n"
	  "                  vni-map=10:100 leaves untagged in VNI 100, and a frame of VNI\n"
	  "                  100 comes in tagged 10 (the port must carry the VLANs:\n"
	  "                  trunks=); one port, one UDP port, several VNIs\n"
	  "  local=ADDR      this host's address (IPv4 or IPv6); vifd receives on it\n"
	  "  remote=ADDR,... remote endpoints: frames to unknown MACs, broadcast and\n"
	  "                  multicast go to each; only they (and fdb-add remote= ones)\n"
	  "                  are listened to\n"
	  "  dstport=P       UDP port, both ends (default 4789)\n"
	  "  evpn=on         BGP EVPN through FRR: vifd keeps a shadow bridge vifbN and\n"
	  "                  vxlan device vifxN (N: the VNI) that zebra programs; their\n"
	  "                  remote MACs and flood list fill the port's, and the MACs\n"
	  "                  vifd has locally are written there for zebra to advertise\n"
	  "  netns=NS        use the IP stack of network namespace NS\n"
	  "  POLICY          any set-port key (see vifctl help set-port); on kernel\n"
	  "                  ports ingress-* limits leave frames in the kernel's queue\n"
	  "NAME: up to 31 characters of A-Z a-z 0-9 . _ : -\n"
	  "Example: vifctl add-port br0 vm1 type=vhostuser path=/run/vifd/vm1.sock tag=10\n"
	  "         vifctl add-port br0 t1 type=tap ifname=vt1 netns=ns1\n"
	  "         vifctl add-port br0 up0 type=afpacket dev=eth1\n"
	  "         vifctl add-port br0 vx100 type=vxlan vni=100 local=192.0.2.1 remote=192.0.2.2\n",
	  2, -1, false, c_add_port, CMD_MAY_EXIST, NULL, NULL },
	{ "set-port", "NAME KEY=VALUE...", "change a port's switch policy and rate limits",
	  "  tag=N           access port of VLAN N (1..4094): untagged frames in and out;\n"
	  "                  tag=0 makes it a trunk again\n"
	  "  trunks=LIST     trunk port: VLANs allowed tagged, e.g. 10,20-30 (\"all\" or\n"
	  "                  empty: every VLAN, the default)\n"
	  "  native=N        trunk port: VLAN of untagged frames (default 0)\n"
	  "  isolated=true   the port reaches only non-isolated ports, never another\n"
	  "                  isolated one\n"
	  "  mac=MAC         frames must come from MAC (others are dropped as spoofed),\n"
	  "                  and no other port may use MAC; mac=none lifts the binding;\n"
	  "                  mac=auto binds the first source MAC the guest uses (vifd\n"
	  "                  is not told the MAC in QEMU's virtio config)\n"
	  "  mac-limit=N     at most N learned MACs (default 64; VXLAN ports 4096, with\n"
	  "                  evpn=on 65535); frames from more new MACs are dropped and\n"
	  "                  counted\n"
	  "  ip=LIST         addresses the guest may claim in ARP and NDP, e.g.\n"
	  "                  10.0.0.5,fd00::5 (others dropped as spoofed); ip=none\n"
	  "Rate limits, named from the switch's side (ingress: what the guest sends;\n"
	  "egress: what vifd delivers to it), in tc's units; =0 removes a limit:\n"
	  "  ingress-rate=R   e.g. 100mbit, 1gbit, 10mbps (bytes/s), 500kbit; frames\n"
	  "                   over it stay in the guest's ring until tokens allow\n"
	  "  ingress-burst=S  bucket size, e.g. 64k, 1m (default 20 ms of the rate,\n"
	  "                   at least 64k)\n"
	  "  ingress-pps=N    packets per second; ingress-pps-burst=N (default 20 ms,\n"
	  "                   at least 32)\n"
	  "  egress-rate=R, egress-burst=S, egress-pps=N, egress-pps-burst=N\n"
	  "                   the same toward the port: frames over it are dropped\n"
	  "                   before they are copied (drops.egress_limit)\n"
	  "  overhead=BYTES   added to every frame's length for byte limits (bytes are\n"
	  "                   the Ethernet frame without FCS; 24 = FCS + preamble + gap)\n"
	  "  weight=N         1..100 (default 1): the port's share, against other\n"
	  "                   senders, of a congested receiver (drops.congested)\n"
	  "Placement of the port's receive queues on datapath workers:\n"
	  "  worker=N         all its queues on worker N; worker=Q:N,Q:N queue Q on\n"
	  "                   worker N (e.g. 0:1,1:0); worker=auto: the bridge's\n"
	  "                   placement policy decides (default). A pinned queue is\n"
	  "                   never moved by the rebalancer\n"
	  "  worker-group=NAME  placement=group puts the ports of one group on one\n"
	  "                   worker; worker-group=none (default)\n"
	  "Interrupt moderation of the port's receive rings (ethtool's words; a guest\n"
	  "that polls its ring sees frames at once, only its interrupt waits):\n"
	  "  rx-frames=N      an interrupt covers up to N frames (0: no frame bound)\n"
	  "  rx-usecs=US      ... or waits at most US microseconds, 0..10000 (0 with\n"
	  "                   rx-frames or adaptive-rx: 50)\n"
	  "  adaptive-rx=on   a quiet ring (nothing for 50 us) is interrupted at once,\n"
	  "                   a busy one waits (rx-frames default 32); =off (default)\n"
	  "                   with rx-frames=0 rx-usecs=0: an interrupt per burst\n"
	  "Example: vifctl set-port vm1 tag=10 mac=02:00:00:00:00:10 isolated=true\n"
	  "         vifctl set-port vm1 ingress-rate=100mbit ingress-burst=64k egress-pps=20000\n",
	  2, -1, false, c_set_port, 0, NULL, NULL },
	{ "set-bridge", "BRIDGE KEY=VALUE...",
	  "bridge settings: flooding, MAC aging, queue placement, rebalancing",
	  "  unknown-unicast=flood  frames for unknown MACs go to every port of their VLAN\n"
	  "                         (default); =drop discards and counts them\n"
	  "  mac-aging=SECONDS      forget learned MACs unused this long (default 300)\n"
	  "  placement=POLICY       which worker polls each receive queue not pinned with\n"
	  "                         set-port worker=; every such queue is placed again:\n"
	  "                         spread      queue Q of port P on worker (P+Q) mod N\n"
	  "                                     (default)\n"
	  "                         monolithic  all on worker 0\n"
	  "                         per-port    each port's queues on one worker\n"
	  "                         group       ports of a group (set-port worker-group=)\n"
	  "                                     worker, a worker per group\n"
	  "                         cycles      by measured load, busiest first\n"
	  "  rebalance=on|off       with placement=cycles: move one queue at a time from\n"
	  "                         the busiest worker to the least busy when their loads\n"
	  "                         differ by more than the threshold for 3 intervals in\n"
	  "                         a row and the move helps by the improvement (default\n"
	  "                         off)\n"
	  "  rebalance-threshold=PCT    load difference, percent of a core (default 25)\n"
	  "  rebalance-improvement=PCT  how much the busier worker's load must drop\n"
	  "                             (default 10)\n"
	  "  rebalance-interval=MS      how often loads are measured, 100..60000 (default\n"
	  "                             1000)\n"
	  "  busy-poll=US           after work, every worker polls at least US\n"
	  "                         microseconds before it sleeps, 0..1000000 (default 0:\n"
	  "                         only its adaptive window): the latency of a polling\n"
	  "                         switch for traffic that comes at least that often,\n"
	  "                         for that much CPU; an idle vifd still sleeps\n"
	  "A queue that moves is never polled by two workers: none of its frames is\n"
	  "lost, duplicated or reordered (vifctl workers shows moves and their stall).\n"
	  "Example: vifctl set-bridge br0 placement=cycles rebalance=on\n",
	  2, -1, false, c_set_bridge, 0, bridge_keys, NULL },
	{ "del-port", "[--if-exists] NAME", "remove a port (its guest sees the link go away)",
	  "  --if-exists  no port of that name is not an error\n",
	  1, 1, false, c_del_port, CMD_IF_EXISTS, NULL, NULL },
	{ "show", "", "bridges and ports: state, location, policy, offloads",
	  "One line per port, then its settings as KEY=VALUE (as add-port and set-port\n"
	  "take them) and the offloads it sends (rx-offloads) and takes (tx-offloads);\n"
	  "lines are wrapped at $COLUMNS (default 100). -j prints everything vifd\n"
	  "reports, the virtio feature bits included.\n",
	  0, 0, false, c_show, 0, NULL, NULL },
	{ "stats", "[--reset] [NAME] [--watch [SECONDS]]", "per-port counters",
	  "RX is what the port sent into vifd, TX what vifd delivered to it.\n"
	  "  --watch [SECONDS]  refresh every SECONDS (default 1) with per-second rates\n"
	  "                     of packets, bits and drops, until Ctrl-C; with -j, print\n"
	  "                     one result object per line instead.\n"
	  "  --reset            start the counters that stats shows from 0 again (of\n"
	  "                     NAME, or of every port). The Prometheus metrics are not\n"
	  "                     reset: their counters only grow. A restart of vifd\n"
	  "                     starts every counter from 0.\n"
	  "Example: vifctl stats vm1 --watch 2\n",
	  0, 1, true, c_stats, CMD_RESET, NULL, NULL },
	{ "workers", "", "datapath workers: CPU, queues, load, cycles per packet", NULL,
	  0, 0, false, c_workers, 0, NULL, NULL },
	{ "queues", "", "receive queues: their worker, load and cycles per packet",
	  "LOAD% is the share of a core the queue's polls took over the last measurement\n"
	  "interval (set-bridge rebalance-interval=, default 1 s); CYCLES counts only\n"
	  "polls that took frames.\n",
	  0, 0, false, c_queues, 0, NULL, NULL },
	{ "fdb", "", "the MAC table: learned and static entries", NULL, 0, 0, false, c_fdb,
	  0, NULL, NULL },
	{ "fdb-add", "PORT MAC [vlan=N] [remote=ADDR]", "a static MAC entry: frames to MAC go to PORT",
	  "No other port may learn or use MAC in that VLAN (default 0); static entries\n"
	  "never age. A port's own mac= binding adds one too. On a VXLAN port, remote=\n"
	  "names the endpoint MAC is behind (required there, refused elsewhere).\n",
	  2, 4, false, c_fdb_add, 0, fdb_add_keys, NULL },
	{ "fdb-del", "[--if-exists] MAC [vlan=N]", "remove a MAC entry (learned or static)",
	  "  --if-exists  no such entry is not an error\n",
	  1, 2, false, c_fdb_del, CMD_IF_EXISTS, vlan_key, NULL },
	{ "fdb-flush", "[PORT] [vlan=N]", "forget learned MAC entries",
	  "Removes the learned entries of PORT, of VLAN N, or all of them; static\n"
	  "entries (fdb-add, mac= bindings) stay (fdb-del removes them). Ports learn\n"
	  "again from the next frame.\n",
	  0, 2, false, c_fdb_flush, 0, vlan_key, NULL },
	{ "log-level", "[err|warning|info|debug]", "show or set vifd's log level",
	  "Without a level, prints the current one. A level applies at once, to the\n"
	  "running vifd only: it is not persisted, and a restart goes back to vifd\n"
	  "--log-level (or the configuration file's log_level, else info).\n",
	  0, 1, false, c_log_level, 0, NULL, "err warning info debug" },
	{ "trace", "PORT src=MAC [dst=MAC] [vlan=N] [PROTO] [KEY=VALUE...]",
	  "what the switch would do with a frame arriving on PORT",
	  "Describes a frame arriving on PORT and prints, in order, every decision the\n"
	  "datapath would take on it: the port's ingress limit (as configured: trace\n"
	  "consumes no tokens), VLAN classification, MAC and address binding, the\n"
	  "learning of its source, the MAC table lookup (hit: port, static or learned,\n"
	  "age; miss: flood or drop), isolation, and for every candidate destination\n"
	  "its VLANs and tag, state, egress limit and offloads; then the verdict: the\n"
	  "ports the frame would leave by, or why it is dropped (a drop key of vifctl\n"
	  "stats). The same functions as the datapath decide; nothing is learned,\n"
	  "counted or sent.\n"
	  "  src=MAC, dst=MAC  source (required) and destination (default broadcast)\n"
	  "  vlan=N [pcp=P]    the frame carries an 802.1Q tag (vlan=0: priority tag)\n"
	  "  PROTO             what follows the Ethernet header: arp, ipv4 (default),\n"
	  "                    ipv6, or ns|na (an NDP neighbour solicitation or\n"
	  "                    advertisement)\n"
	  "  ip-src=A          IPv4/IPv6 source; for arp the sender address, for na the\n"
	  "                    target the frame claims\n"
	  "  ip-dst=A          destination; for arp and ns the address asked for\n"
	  "  size=N            frame length without FCS, 60..65535 (default 60)\n"
	  "  gso=MSS           a TCP segment (ipv4 or ipv6) asking vifd, as a guest's\n"
	  "                    virtio-net header does, to be cut into MSS-byte segments\n"
	  "With -j, the result object: steps [{stage, port, result, detail}], outputs\n"
	  "[{port, tag}], verdict (output|drop), drop (the reason) and frame (the\n"
	  "traced frame in hex, up to 1514 bytes).\n"
	  "Example: vifctl trace vm1 src=52:54:00:00:00:01 dst=52:54:00:00:00:02 vlan=10\n"
	  "         vifctl trace vm1 src=52:54:00:00:00:01 arp ip-src=10.0.0.9\n",
	  2, -1, false, c_trace, 0, trace_keys, "arp ipv4 ipv6 ns na" },
	{ "capture", "PORT [rx|tx|both] -w FILE [-c COUNT] [-s SNAPLEN] [--timeout S]",
	  "write a port's frames to a pcap file (tcpdump -r, Wireshark)",
	  "Captures the frames PORT sends into vifd (rx), those vifd sends to it (tx),\n"
	  "or both (default), until COUNT frames, S seconds, Ctrl-C, or the port's\n"
	  "removal, and writes them to FILE in pcap format with nanosecond timestamps\n"
	  "(- writes to standard output: vifctl capture vm1 -w - | tcpdump -r -).\n"
	  "  -w FILE        the pcap file (required)\n"
	  "  -c COUNT       stop after COUNT frames\n"
	  "  -s SNAPLEN     keep at most SNAPLEN bytes of each frame (default 262144)\n"
	  "  --timeout S    stop after S seconds\n"
	  "  --ring KIB     shared ring per datapath worker, 64..65536 KiB (default 4096)\n"
	  "vifd's workers copy each frame into a ring vifctl drains; when vifctl falls\n"
	  "behind, frames are left out of the capture (never delayed or dropped on the\n"
	  "switch) and counted: the last line says how many. tx frames are recorded as\n"
	  "they go on the wire, with their egress VLAN tag: the segments vifd makes in\n"
	  "software for a port without segmentation offload, or the one large frame a\n"
	  "port that takes it gets whole (as tcpdump shows a TSO frame on a kernel\n"
	  "interface). Frames a guest's full receive ring refused are left out. The\n"
	  "capture ends in vifd when vifctl exits or is killed. At most 8 captures\n"
	  "run at once, one per port, their rings 512 MiB at most in all.\n"
	  "Example: vifctl capture vm1 rx -w /tmp/vm1.pcap -c 100\n",
	  1, 2, false, c_capture, CMD_CAPTURE, NULL, "rx tx both" },
	{ "captures", "", "running captures: port, direction, frames, frames left out", NULL,
	  0, 0, false, c_captures, 0, NULL, NULL },
	{ "version", "", "versions of vifctl and vifd", NULL, 0, 0, false, c_version, 0, NULL,
	  NULL },
	{ "help", "[COMMAND]", "this help, or a command's", NULL, 0, 1, false, c_help, 0, NULL,
	  NULL },
};

static const size_t ncmds = sizeof(cmds) / sizeof(cmds[0]);

static const struct cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < ncmds; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vifctl [--socket PATH] [-j|--json] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < ncmds; i++) {
		char syn[96];

		snprintf(syn, sizeof(syn), "%s%s%s", cmds[i].name, *cmds[i].args ? " " : "",
		         cmds[i].args);
		if (strlen(syn) > 30)
			fprintf(f, "  %s\n  %-30s  %s\n", syn, "", cmds[i].summary);
		else
			fprintf(f, "  %-30s  %s\n", syn, cmds[i].summary);
	}
	fprintf(f, "\nOptions:\n"
	        "  --socket PATH  vifd's control socket; default $VIFD_SOCKET, else\n"
	        "                 %s if it exists (vifd --state-dir DIR\n"
	        "                 listens on DIR/vifd.sock), else %s\n"
	        "                 (where the systemd unit puts it)\n"
	        "  -j, --json     print vifd's JSON result instead of tables\n"
	        "  -h, --help     this help; vifctl COMMAND --help for one command\n"
	        "  -V, --version  print vifctl's version\n"
	        "\nExit status: 0 done, 1 vifd reported an error, 2 usage error,\n"
	        "3 cannot connect to vifd (or no reply within %d s).\n",
	        LOCAL_SOCKET, SYSTEM_SOCKET, CLI_TIMEOUT_MS / 1000);
}

static void cmd_help(const struct cmd *c, FILE *f)
{
	fprintf(f, "Usage: vifctl [--socket PATH] [-j] %s%s%s\n\n%s.\n", c->name,
	        *c->args ? " " : "", c->args, c->summary);
	if (c->help)
		fprintf(f, "\n%s", c->help);
}

/* Handles a global option at argv[*i]: 1 if it was one (and *i moved past
 * its value), 0 if not, -1 on a usage error (printed). */
static int global_opt(struct cli_ctx *x, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
		x->json = true;
		return 1;
	}
	if (!strncmp(a, "--socket=", 9)) {
		x->sock = a + 9;
	} else if (!strcmp(a, "--socket")) {
		if (*i + 1 >= argc) {
			usage_err("%s needs a path", a);
			return -1;
		}
		x->sock = argv[++*i];
	} else {
		return 0;
	}
	if (!*x->sock) {
		usage_err("%s", "--socket needs a non-empty path");
		return -1;
	}
	return 1;
}

/* --list-commands and --list-keys (hidden): the tables, for the test that
 * keeps the man page and the bash completion in step with them
 * (tests/integration/085-docs-drift.sh). One line per command: its name
 * and options; one line per key: "COMMAND KEY= [VALUE...]", and
 * "COMMAND - WORD..." for fixed positional words. */
static void list_commands(void)
{
	for (size_t i = 0; i < ncmds; i++) {
		fputs(cmds[i].name, stdout);
		for (size_t k = 0; k < sizeof(cmd_opts) / sizeof(cmd_opts[0]); k++)
			if (cmds[i].opts & cmd_opts[k].flag)
				printf(" %s", cmd_opts[k].name);
		if (cmds[i].watch)
			fputs(" --watch", stdout);
		fputc('\n', stdout);
	}
}

static void list_keys(void)
{
	for (size_t i = 0; i < ncmds; i++) {
		const struct cmd *c = &cmds[i];
		bool add = !strcmp(c->name, "add-port");

		if (add || !strcmp(c->name, "set-port"))
			for (size_t k = 0; k < NKEYS; k++)
				if (add || !port_keys[k].add_only)
					printf("%s %s=%s%s\n", c->name, port_keys[k].key,
					       key_values(k) ? " " : "", key_values(k) ? key_values(k) : "");
		for (const struct cmd_key *k = c->keys; k && k->key; k++)
			printf("%s %s=%s%s\n", c->name, k->key, k->values ? " " : "",
			       k->values ? k->values : "");
		if (c->words)
			printf("%s - %s\n", c->name, c->words);
	}
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.1 && v <= 3600))
		return false;
	*out = v;
	return true;
}

/* The socket when neither --socket nor $VIFD_SOCKET names one: a vifd
 * started here on its default state directory first (a socket file there,
 * live or not, is the one meant: connecting tells), else the service's. */
static const char *default_socket(void)
{
	const char *env = getenv("VIFD_SOCKET");
	struct stat st;

	if (env && *env)
		return env;
	if (lstat(LOCAL_SOCKET, &st) == 0)
		return LOCAL_SOCKET;
	return SYSTEM_SOCKET;
}

int main(int argc, char **argv)
{
	struct cli_ctx x = {
		.sock = default_socket(),
		.interval_s = 1,
		.conn = { .fd = -1 },
	};
	const struct cmd *cmd;
	char **pos;
	int i, npos = 0, r;
	bool dashdash = false;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		r = global_opt(&x, argc, argv, &i);
		if (r < 0)
			return CLI_EUSAGE;
		if (r)
			continue;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return CLI_OK;
		}
		if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("vifctl %s\n", VIFD_VERSION);
			return CLI_OK;
		}
		if (!strcmp(argv[i], "--list-commands")) {
			list_commands();
			return CLI_OK;
		}
		if (!strcmp(argv[i], "--list-keys")) {
			list_keys();
			return CLI_OK;
		}
		return usage_err("unknown option \"%s\"", argv[i]);
	}
	if (i == argc) {
		usage(stderr);
		return CLI_EUSAGE;
	}
	cmd = cmd_find(argv[i]);
	if (!cmd)
		return usage_err("unknown command \"%s\"", argv[i]);
	pos = xcalloc((size_t)argc, sizeof(*pos));
	if (!pos)
		cli_oom();
	for (i++; i < argc; i++) {
		const char *a = argv[i];

		if (dashdash || a[0] != '-' || !a[1]) {
			pos[npos++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			dashdash = true;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_help(cmd, stdout);
			xfree(pos);
			return CLI_OK;
		}
		r = global_opt(&x, argc, argv, &i);
		if (r == 0 && (cmd->opts & CMD_CAPTURE))
			r = capture_opt(&x, argc, argv, &i);
		if (r > 0)
			continue;
		for (size_t k = 0; r == 0 && k < sizeof(cmd_opts) / sizeof(cmd_opts[0]); k++)
			if ((cmd->opts & cmd_opts[k].flag) && !strcmp(a, cmd_opts[k].name)) {
				x.flags |= cmd_opts[k].flag;
				r = 1;
			}
		if (r > 0)
			continue;
		if (r == 0 && cmd->watch && !strncmp(a, "--watch=", 8)) {
			x.watch = true;
			if (parse_seconds(a + 8, &x.interval_s))
				continue;
			usage_err("--watch takes seconds between 0.1 and 3600, not \"%s\"", a + 8);
		} else if (r == 0 && cmd->watch && !strcmp(a, "--watch")) {
			x.watch = true;
			/* An optional value: take the next word if it is a number. */
			if (i + 1 < argc && parse_seconds(argv[i + 1], &x.interval_s))
				i++;
			continue;
		} else if (r == 0) {
			usage_err("unknown option \"%s\"", a);
		}
		xfree(pos);
		return CLI_EUSAGE;
	}
	if (npos < cmd->min_args || (cmd->max_args >= 0 && npos > cmd->max_args)) {
		fprintf(stderr, "vifctl: %s: %s arguments\nUsage: vifctl %s%s%s\n", cmd->name,
		        npos < cmd->min_args ? "missing" : "too many", cmd->name,
		        *cmd->args ? " " : "", cmd->args);
		xfree(pos);
		return CLI_EUSAGE;
	}
	r = cmd->fn(&x, npos, pos);
	cli_close(&x.conn);
	xfree(pos);
	return r;
}
