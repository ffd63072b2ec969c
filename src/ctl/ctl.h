/* ctl.h - vifd's control socket: a unix stream socket serving JSON-RPC 2.0,
 * one request object per line, one response line per request (see
 * ctl_rpc.h for the methods and error codes). vifctl is its client.
 *
 * Runs on the control thread's evloop; never blocks it: sockets are
 * non-blocking, a slow client's replies wait in its own buffer, and a
 * client that stops reading them is dropped. Everything here is called from
 * the control thread. */
#ifndef VIFD_CTL_H
#define VIFD_CTL_H

#include <stdbool.h>
#include <sys/types.h>

#include "dp.h"
#include "evloop.h"

struct ctl;

/* Listens on sock_path (mode 0660) and serves requests on ev, acting on dp.
 * A stale socket at sock_path (nobody answers) is replaced; a live one
 * (another vifd) makes it fail with -EADDRINUSE, anything that is not a
 * socket with -EEXIST. Only uid 0 and the uid vifd runs as may connect,
 * unless ctl_set_access() admits a group.
 * Returns 0 and *out, or -errno (logged). */
int ctl_create(struct evloop *ev, struct dp *dp, const char *sock_path, struct ctl **out);

struct ctl_state;
struct ctl_rpc;

/* Records every successful change in st from now on (NULL: stop). */
void ctl_set_state(struct ctl *c, struct ctl_state *st);

/* The request handler behind the socket, to replay requests through it
 * (ctl_state_restore). */
const struct ctl_rpc *ctl_get_rpc(const struct ctl *c);

/* Access beyond root and vifd's uid: with has_group, peers whose primary
 * or supplementary groups include gid may connect too, and the socket is
 * given to that group. mode: the socket's permission bits (0600..0770).
 * Returns 0 or -errno (logged). */
int ctl_set_access(struct ctl *c, bool has_group, gid_t gid, mode_t mode);

/* Confines vhost-user socket paths to dirs (n <= CTL_SOCK_DIRS_MAX
 * absolute directories; the strings must outlive c). 0 or -EINVAL. */
int ctl_set_sock_dirs(struct ctl *c, const char *const *dirs, unsigned n);

/* The owner, group and mode of the vhost-user sockets vifd creates when
 * add-port gives none (port_keys.h; -1 members: unset). */
void ctl_set_sock_perm(struct ctl *c, const struct port_sock_perm *pm);

/* Closes every client and the listening socket, and removes the socket
 * file if it is still ours. NULL is a no-op. */
void ctl_destroy(struct ctl *c);

#endif
