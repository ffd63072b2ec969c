/* ctl_conf.h - vifd's configuration file (docs/config.md) and the network
 * document it shares with the persisted state (ctl_state.h).
 *
 * A configuration file is one JSON object. Its daemon settings (state
 * directory, workers, log level, metrics, control socket access) are read
 * into struct ctl_conf; its network part (bridge, ports, fdb) is kept as
 * JSON, because it is replayed through the control socket's own methods
 * (add-port, set-bridge, fdb-add), which check every value. The network
 * part has the same shape in state.json:
 *
 *   {"bridge": {"name": "br0", "unknown_unicast": "drop", "mac_aging": 600},
 *    "ports": [{"name": "vm1", "type": "vhostuser", "path": "/run/vm1.sock",
 *               "tag": 10, ...any add-port or set-port parameter...}],
 *    "fdb": [{"port": "vm1", "mac": "02:00:00:00:00:01", "vlan": 10}]}
 *
 * Errors are reported as "FILE:LINE:COL: message", LINE and COL 1-based,
 * for syntax errors (from jansson) and for values of the wrong kind (found
 * again in the text by ctl_conf_locate). No global state; any thread. */
#ifndef VIFD_CTL_CONF_H
#define VIFD_CTL_CONF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CTL_CONF_MAX_BYTES = 4 * 1024 * 1024,  /* larger files are refused */
	CTL_CONF_ERR_MAX = 512,                /* longest error message */
	CTL_CONF_SOCK_DIRS = 8,                /* guests.socket_dirs entries */
};

/* Daemon settings of a configuration file; unset ones keep their marker
 * so that command-line options and defaults can fill them. */
struct ctl_conf {
	char *state_dir;        /* NULL: unset */
	int log_level;          /* syslog level, -1: unset */
	int workers;            /* 0: unset */
	char *cpus;             /* "2-3" as for --cpus, NULL: unset */
	char *metrics_address;  /* IPv4 address to listen on, NULL: unset */
	int metrics_port;       /* 0: off, -1: unset */
	char *group;            /* control socket group name, NULL: unset */
	int sock_mode;          /* control socket mode bits, -1: unset */
	char *sock_dirs[CTL_CONF_SOCK_DIRS]; /* guests.socket_dirs: vhost-user
	                         * sockets only there (none: anywhere) */
	unsigned nsock_dirs;
	char *vsock_owner;      /* guests.socket_owner, socket_group: user and */
	char *vsock_group;      /* group (names or ids) of vhost-user sockets */
	int vsock_perm;         /* guests.socket_perm: their mode bits, -1: unset */
	int64_t mem_max;        /* guests.mem_max: bytes all guests may map, -1: unset */
	int64_t port_mem_max;   /* guests.port_mem_max: bytes one port may map, -1: unset */
	json_t *net;            /* {bridge?, ports?, fdb?}, never NULL after a
	                         * successful parse (empty object when absent) */
	char *name;             /* the file's name and text, kept to locate */
	char *text;             /* errors found later (a port the methods */
	size_t text_len;        /* refuse); NULL before a successful parse */
};

/* Parses a size: bytes, or a number with K, M, G or T (powers of 1024).
 * 0 or -EINVAL. */
int ctl_size_parse(const char *s, uint64_t *out);

/* The owner, group and mode of a vhost-user socket as add-port, the
 * command line and the configuration file give them: a user or group name
 * or a numeric id (0 or -errno: -ENOENT no such name, -EINVAL malformed),
 * and octal mode bits 0..0777 (0 or -EINVAL). The control thread: names
 * are looked up through NSS. */
int ctl_user_parse(const char *s, long long *uid);
int ctl_group_parse(const char *s, long long *gid);
int ctl_perm_parse(const char *s, int *mode);

/* Resets c to "everything unset". */
void ctl_conf_init(struct ctl_conf *c);
void ctl_conf_free(struct ctl_conf *c);

/* Parses len bytes of text named name (for messages) into c, which must be
 * initialised. Returns 0, or -EINVAL with "name:line:col: message" in err
 * (c then holds nothing to free beyond what ctl_conf_free releases). */
int ctl_conf_parse(const char *text, size_t len, const char *name, struct ctl_conf *c,
                   char *err, size_t errlen);

/* Reads and parses the file at path. Returns 0 or -errno with err set. */
int ctl_conf_load(const char *path, struct ctl_conf *c, char *err, size_t errlen);

/* Checks the shape of a network document (see above): only the known
 * members, of the right JSON types, port names present and unique. The
 * values themselves are the methods' business. Returns 0 or -EINVAL with
 * the member's path (e.g. "ports[2].name") and the problem in err, and
 * the path's elements in *where (for ctl_conf_locate; may be NULL). */
struct ctl_conf_path {
	unsigned depth;
	const char *key[4];     /* object member, or NULL: array element idx[] */
	size_t idx[4];
};
int ctl_conf_check_net(json_t *net, struct ctl_conf_path *where, char *err, size_t errlen);

/* Finds where the value at path starts in a JSON text (which must be valid
 * JSON). Returns true and 1-based *line and *col, or false. */
bool ctl_conf_locate(const char *text, size_t len, const struct ctl_conf_path *path,
                     int *line, int *col);

/* Formats a path as "ports[2].name" into buf. */
void ctl_conf_path_str(const struct ctl_conf_path *path, char *buf, size_t len);

#endif
