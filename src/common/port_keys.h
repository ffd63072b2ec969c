/* port_keys.h - a port's queue limit and policy keys, one definition for
 * everyone who names them: vifd's control methods (add-port and set-port parameters, "is any
 * policy given") and vifctl (its key=value arguments and their help).
 *
 * X(json, cli, kind): the key in a request, the key on vifctl's command
 * line, and its JSON kind (INT or STRING). What each key means and accepts
 * is parse_policy() in src/ctl/ctl_methods.c and vifctl --help. */
#ifndef VIFD_PORT_KEYS_H
#define VIFD_PORT_KEYS_H

/* Queue pairs a port may have, whatever its kind (add-port queues=): the
 * vhost-user layer, the port drivers, the control methods and vifctl's
 * help take it from here. A macro, so that help text can spell it. */
#define VIFD_MAX_QUEUES 8
#define VIFD_MAX_QUEUES_STR_(n) #n
#define VIFD_MAX_QUEUES_STR(n) VIFD_MAX_QUEUES_STR_(n)

#define PORT_POLICY_KEYS(X) \
	X("tag", "tag", INT) \
	X("native", "native", INT) \
	X("trunks", "trunks", STRING) \
	X("isolated", "isolated", STRING) \
	X("mac", "mac", STRING) \
	X("mac_limit", "mac-limit", INT) \
	X("ip", "ip", STRING) \
	X("ingress_rate", "ingress-rate", STRING) \
	X("ingress_burst", "ingress-burst", STRING) \
	X("ingress_pps", "ingress-pps", STRING) \
	X("ingress_pps_burst", "ingress-pps-burst", STRING) \
	X("egress_rate", "egress-rate", STRING) \
	X("egress_burst", "egress-burst", STRING) \
	X("egress_pps", "egress-pps", STRING) \
	X("egress_pps_burst", "egress-pps-burst", STRING) \
	X("overhead", "overhead", INT) \
	X("weight", "weight", INT) \
	X("worker", "worker", STRING) \
	X("worker_group", "worker-group", STRING) \
	X("rx_frames", "rx-frames", INT) \
	X("rx_usecs", "rx-usecs", INT) \
	X("adaptive_rx", "adaptive-rx", STRING)

/* Owner, group and mode a server-mode vhost-user socket file gets
 * (add-port owner=, group=, perm=; vifd --vhost-sock-owner, -group, -perm);
 * -1: left as bind() makes them (vifd's user and group, 0777 less its
 * umask). */
struct port_sock_perm {
	long long uid, gid;
	int mode;                /* 0..0777 */
};

/* "tag, native, ..., weight, " as one string literal (JSON spelling). */
#define PORT_KEY_JSON_LIST_(json, cli, kind) json ", "
#define PORT_POLICY_KEY_LIST PORT_POLICY_KEYS(PORT_KEY_JSON_LIST_)

#endif
