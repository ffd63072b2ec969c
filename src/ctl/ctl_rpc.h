/* ctl_rpc.h - inside the control socket. Three parts share this header:
 *   ctl_sock.c     moves bytes: listener, clients, buffers, credentials;
 *   ctl_rpc.c      turns one request line into one response line: the
 *                  JSON-RPC 2.0 envelope, the parameter checks, the errors;
 *   ctl_methods.c  the methods and their parameter table.
 * ctl_rpc_handle() takes no fd, so tests/unit/test_ctl.c drives it directly.
 *
 * Wire format (JSON-RPC 2.0, https://www.jsonrpc.org/specification):
 * a request is one JSON object on one line,
 *   {"jsonrpc":"2.0","id":1,"method":"show","params":{}}
 * params is an object (by-name) or absent; id is a string, a number or null.
 * The response is one line with "result" or "error" {code, message[, data]}.
 * A request without "id" is a notification: it runs and gets no response
 * (§4.1), unless it is not a valid request at all. Batches are refused.
 *
 * Control thread only. */
#ifndef VIFD_CTL_RPC_H
#define VIFD_CTL_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "dp.h"

enum {
	CTL_LINE_MAX = 64 * 1024,   /* longest request line in bytes, '\n' excluded */
	CTL_MSG_MAX = 256,          /* longest error message we build */
	CTL_SOCK_DIRS_MAX = 8,      /* directories vhost-user sockets may be confined to */

	/* JSON-RPC 2.0 §5.1 */
	CTL_ERR_PARSE = -32700,
	CTL_ERR_INVALID_REQUEST = -32600,
	CTL_ERR_NO_METHOD = -32601,
	CTL_ERR_INVALID_PARAMS = -32602,
	CTL_ERR_INTERNAL = -32603,
	/* Application errors: CTL_ERR_APP_BASE - errno, e.g. -1017 for EEXIST,
	 * with data {"errno": "EEXIST"}. */
	CTL_ERR_APP_BASE = -1000,
};

/* The one bridge of this version. */
#define CTL_BRIDGE "br0"

#ifndef VIFD_VERSION
#define VIFD_VERSION "unknown"
#endif

/* A growable byte buffer (xalloc'd). */
struct ctl_buf {
	char *p;
	size_t len;     /* bytes used */
	size_t cap;     /* bytes allocated */
	size_t max;     /* appends beyond this many bytes fail; 0 = no limit */
};

/* Appends n bytes: 0, -ENOBUFS past b->max, or -ENOMEM (b unchanged). */
int ctl_buf_append(struct ctl_buf *b, const void *data, size_t n);
/* Drops the first n bytes. */
void ctl_buf_consume(struct ctl_buf *b, size_t n);
void ctl_buf_free(struct ctl_buf *b);

struct ctl_state;

/* The connection a request came on (ctl_sock.c), for the methods whose
 * effect lasts as long as it does (capture). */
struct ctl_conn {
	int send_fd;        /* a method's fd to pass with its reply (SCM_RIGHTS);
	                     * -1: none. ctl_sock.c sends and closes it */
	unsigned cap_id;    /* the capture this connection runs (0: none),
	                     * stopped when the connection goes */
};

/* What the methods act on. */
struct ctl_rpc {
	struct dp *dp;
	/* Where successful changes are recorded (ctl_state.h); NULL: nowhere. */
	struct ctl_state *state;
	/* The control socket's inode, so that no port may use it as its
	 * vhost-user path (a server port would unlink it). 0/0 = none. */
	dev_t sock_dev;
	ino_t sock_ino;
	/* The operator's confinement of vhost-user socket paths (--vhost-sock-dir):
	 * with any directory listed, a port's path must be one of them, a
	 * slash and a plain name. Strings owned by the caller of
	 * ctl_set_sock_dirs (they live as long as vifd). */
	const char *sock_dirs[CTL_SOCK_DIRS_MAX];
	unsigned nsock_dirs;
	/* Baselines of `stats --reset` (ctl_stats.h); NULL: resets refused. */
	struct ctl_stats_base *stats_base;
	/* vifd-wide owner, group and mode of the vhost-user sockets vifd
	 * creates (--vhost-sock-owner, -group, -perm); add-port's owner=,
	 * group=, perm= override them. -1: unset. */
	struct port_sock_perm sock_perm;
	/* The connection of the request being handled (set around each
	 * ctl_rpc_handle by ctl_sock.c); NULL: none (unit tests). */
	struct ctl_conn *conn;
};

/* Handles one request line (len bytes, no '\n'; a trailing '\r' is
 * ignored). Appends the response line, '\n'-terminated, to out.
 * Returns 1 if a response was appended, 0 if none is due (blank line or
 * notification), -ENOBUFS if it would exceed out->max or -ENOMEM (out is
 * then unchanged). Never fails on the content of the line. */
int ctl_rpc_handle(const struct ctl_rpc *r, const char *line, size_t len, struct ctl_buf *out);

/* Appends an error response with a null id: for problems found before a
 * line could be read (line too long, access refused, too many clients).
 * err is a positive errno (application error) or 0 with code set. */
int ctl_rpc_error_line(struct ctl_buf *out, int code, int err, const char *msg);

/* Returns 1 if something accepts connections on the unix socket at path,
 * 0 if nothing does (a stale socket file), -errno if it cannot tell.
 * Never blocks. (ctl_sock.c) */
int ctl_sock_probe(const char *path);

/* ---- between ctl_rpc.c and ctl_methods.c ---- */

/* Error of a method: JSON-RPC code, errno (0 for protocol errors), text. */
struct ctl_err {
	int code;
	int err;
	char msg[CTL_MSG_MAX];
};

/* Fill *e and return -EINVAL / -err, for `return ctl_err_*(e, ...);`. */
int ctl_err_params(struct ctl_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ctl_err_app(struct ctl_err *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum ctl_ptype {
	CTL_P_STRING,
	CTL_P_INT,
};

/* One parameter of a method; the dispatcher checks every params object
 * against its method's list (unknown names, types, required ones) before
 * the method runs, so methods read their params without checking types. */
struct ctl_param {
	const char *name;
	enum ctl_ptype type;
	bool required;
};

/* A method: params is its parameter list, ended by a NULL name. fn returns
 * 0 and a new reference in *result, or -errno with *e filled. */
typedef int ctl_method_fn(const struct ctl_rpc *r, json_t *params, json_t **result,
                          struct ctl_err *e);

struct ctl_method {
	const char *name;
	ctl_method_fn *fn;
	const struct ctl_param *params;
};

/* Operator tools (ctl_ops.c). */
ctl_method_fn ctl_m_trace, ctl_m_capture, ctl_m_captures;

/* The method called name, or NULL. */
const struct ctl_method *ctl_method_find(const char *name);

#endif
