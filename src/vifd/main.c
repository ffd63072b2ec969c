/* main.c - vifd: the daemon. Parses options, prepares the state directory,
 * starts the datapath workers and the control socket, and runs the control
 * thread's event loop until SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "closer.h"
#include "ctl.h"
#include "ctl_conf.h"
#include "ctl_metrics.h"
#include "ctl_state.h"
#include "dp.h"
#include "evloop.h"
#include "gmem.h"
#include "vlog.h"

#ifndef VIFD_VERSION
#define VIFD_VERSION "unknown"
#endif

/* How long vhost-user ports restored at startup wait for each other before
 * forwarding (dp_settle): QEMU reconnects after reconnect=1 s. */
enum { VIFD_RESTART_HOLD_MS = 3000 };

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: vifd [options]\n"
	        "  -c, --config FILE   configuration file (JSON, see vifd(8) and docs/config.md);\n"
	        "                      without one: bridge br0, state in ./vifd-state\n"
	        "  --state-dir DIR     control socket, pid file and state (default ./vifd-state)\n"
	        "  --ctl-socket PATH   control socket at PATH instead of STATE_DIR/vifd.sock\n"
	        "                      (the systemd unit: /run/vifd/vifd.sock, where vifctl looks)\n"
	        "  --reset-state       ignore the persisted state (the configuration file's\n"
	        "                      bridge, ports and fdb apply again)\n"
	        "  --workers N         datapath worker threads (default 1, max %d)\n"
	        "  --cpus LIST         pin workers to these CPUs, e.g. 0,1 or 2-3 (default: unpinned)\n"
	        "  --log-level L       err, warning, info or debug (default info)\n"
	        "  --group NAME        members of group NAME may use the control socket too\n"
	        "  --metrics-port N    serve Prometheus metrics on http://127.0.0.1:N/metrics\n"
	        "                      (default 0: off)\n"
	        "  --metrics-address A listen on IPv4 address A instead of 127.0.0.1\n"
	        "  --vhost-sock-dir DIR vhost-user sockets only directly in DIR (may be given\n"
	        "                      up to %d times; default: anywhere); created if missing\n"
	        "  --vhost-sock-owner USER, --vhost-sock-group GROUP, --vhost-sock-perm MODE\n"
	        "                      owner, group and octal mode of the vhost-user sockets\n"
	        "                      vifd creates (default: vifd's, 0777 less the umask)\n"
	        "  --guest-mem-max SIZE guest memory all ports together may map (default 32T)\n"
	        "  --port-mem-max SIZE guest memory one port may map (default 1T); 0: no limit\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print vifd's version\n"
	        "Command-line options override the configuration file. Ports are added at\n"
	        "run time with vifctl (see vifctl --help) and persist in the state directory.\n",
	        DP_MAX_WORKERS, CTL_CONF_SOCK_DIRS);
}

/* Parses "0,2-3" into cpus[]; returns the count or -1. */
static int parse_cpus(const char *s, int *cpus, int max)
{
	int n = 0;

	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b;
		if (end == s || a < 0 || a >= CPU_SETSIZE)
			return -1;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= CPU_SETSIZE)
				return -1;
		}
		for (long c = a; c <= b; c++) {
			if (n == max)
				return -1;
			cpus[n++] = (int)c;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return n;
}

static void on_signal(void *arg, int fd, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		vlog_info("signal %u: shutting down", si.ssi_signo);
	evloop_stop(arg);
}

/* Whether process pid is a vifd (a pid file may outlive its vifd and the
 * number be reused by anything). */
static bool is_vifd(long pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "vifd", 4) == 0;
}

/* Writes DIR/vifd.pid; refuses when another live vifd owns the directory.
 * Never through a symlink (O_NOFOLLOW) and only into a plain file of its
 * own (one link): whoever can write the state directory must not make
 * vifd, often root, truncate or write another file. */
static int write_pidfile(const char *path)
{
	struct stat st;
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			long pid = strtol(buf, NULL, 10);
			if (pid > 0 && pid != getpid() && kill((pid_t)pid, 0) == 0 && is_vifd(pid)) {
				vlog_err("another vifd (pid %ld) uses this state directory", pid);
				return -EBUSY;
			}
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		int e = errno;
		vlog_err("cannot open pid file %s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    ftruncate(fd, 0) < 0) {
		vlog_err("pid file %s is not a plain file of its own: not writing it", path);
		close(fd);
		return -EEXIST;
	}
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Resolves the vifd-wide owner, group and mode of vhost-user sockets.
 * 0, or -1 with a message. */
static int sock_perm_resolve(const char *owner, const char *group, int perm,
                             struct port_sock_perm *pm)
{
	int r;

	*pm = (struct port_sock_perm){ .uid = -1, .gid = -1, .mode = perm };
	if (owner && (r = ctl_user_parse(owner, &pm->uid)) < 0) {
		fprintf(stderr, "vifd: --vhost-sock-owner: %s '%s'\n",
		        r == -ENOENT ? "no user named" : "not a user name or id:", owner);
		return -1;
	}
	if (group && (r = ctl_group_parse(group, &pm->gid)) < 0) {
		fprintf(stderr, "vifd: --vhost-sock-group: %s '%s'\n",
		        r == -ENOENT ? "no group named" : "not a group name or id:", group);
		return -1;
	}
	return 0;
}

/* Prepares a --vhost-sock-dir. A missing one is created (one level, its
 * parent must exist): vifd's user owns it; with a socket group it is
 * that group's, mode 01770, so that a frontend of the group (QEMU under
 * libvirt) can create its own socket there for vifd to connect to while
 * the sticky bit keeps it from removing or replacing anyone else's;
 * without one, 0755. An existing one is refused if it is a symlink, not a
 * directory, owned by another user than root or vifd's, or writable by
 * others without the sticky bit (they could replace a socket of vifd's
 * with their own); writable by its group without it is only warned
 * about. 0, or -1 with a message. */
static int sock_dir_prepare(const char *name, const struct port_sock_perm *pm)
{
	mode_t mode = pm->gid >= 0 ? 01770 : 0755;
	char dir[PATH_MAX];
	size_t n = strlen(name);
	struct stat st;

	/* "DIR/" would make lstat() follow a symlink DIR. */
	while (n > 1 && name[n - 1] == '/')
		n--;
	if (n >= sizeof(dir)) {
		fprintf(stderr, "vifd: --vhost-sock-dir %s: name too long\n", name);
		return -1;
	}
	memcpy(dir, name, n);
	dir[n] = '\0';

	if (lstat(dir, &st) < 0 && errno == ENOENT) {
		/* Owner and mode set through the directory made, never by name
		 * again (a swap of the name for a symlink cannot redirect them). */
		int fd = -1;
		bool swapped = false;

		if (mkdir(dir, 0700) < 0 ||
		    (fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    fstat(fd, &st) < 0 || (swapped = st.st_uid != geteuid()) ||
		    (pm->gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)pm->gid) < 0) ||
		    fchmod(fd, mode) < 0) {
			fprintf(stderr, "vifd: cannot create --vhost-sock-dir %s: %s\n", dir,
			        swapped ? "replaced while being made" : strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		vlog_info("created the vhost-user socket directory %s (mode %04o)", dir,
		          (unsigned)mode);
		return 0;
	}
	if (lstat(dir, &st) < 0) {
		fprintf(stderr, "vifd: --vhost-sock-dir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vifd: --vhost-sock-dir %s is %s: refused\n", dir,
		        S_ISLNK(st.st_mode) ? "a symlink" : "not a directory");
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		fprintf(stderr, "vifd: --vhost-sock-dir %s belongs to uid %u, not to root or "
		        "vifd's user: refused\n", dir, (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		fprintf(stderr, "vifd: --vhost-sock-dir %s is writable by others without the "
		        "sticky bit (anyone could replace vifd's sockets): refused (chmod +t or "
		        "o-w)\n", dir);
		return -1;
	}
	/* The group is the operator's choice (systemd's RuntimeDirectory= is
	 * 0770 for the service's group): said, not refused. */
	if ((st.st_mode & S_IWGRP) && !(st.st_mode & S_ISVTX))
		vlog_warn("--vhost-sock-dir %s is writable by its group without the sticky bit: "
		          "members can replace vifd's sockets (chmod +t)", dir);
	return 0;
}

/* Settings from the command line (they override the configuration file). */
struct opts {
	const char *config;
	const char *state_dir;
	const char *ctl_socket; /* NULL: STATE_DIR/vifd.sock */
	bool reset;
	long nworkers;          /* 0: unset */
	const char *cpus;
	int log_level;          /* -1: unset */
	const char *group;
	int metrics_port;       /* -1: unset */
	const char *metrics_address;
	const char *sock_dirs[CTL_CONF_SOCK_DIRS];
	unsigned nsock_dirs;
	const char *vsock_owner, *vsock_group; /* NULL: unset */
	int vsock_perm;         /* -1: unset */
	int64_t mem_max, port_mem_max; /* -1: unset */
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "ctl-socket", required_argument, NULL, 'S' },
		{ "reset-state", no_argument, NULL, 'R' },
		{ "workers", required_argument, NULL, 'w' },
		{ "cpus", required_argument, NULL, 'P' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "metrics-port", required_argument, NULL, 'M' },
		{ "metrics-address", required_argument, NULL, 'A' },
		{ "vhost-sock-dir", required_argument, NULL, 'D' },
		{ "vhost-sock-owner", required_argument, NULL, 'O' },
		{ "vhost-sock-group", required_argument, NULL, 'U' },
		{ "vhost-sock-perm", required_argument, NULL, 'Y' },
		{ "guest-mem-max", required_argument, NULL, 'G' },
		{ "port-mem-max", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:hV", lopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config = optarg;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		case 'S':
			if (!*optarg) {
				fprintf(stderr, "vifd: --ctl-socket needs a path\n");
				return 2;
			}
			o->ctl_socket = optarg;
			break;
		case 'R':
			o->reset = true;
			break;
		case 'w': {
			char *end;
			o->nworkers = strtol(optarg, &end, 10);
			if (*end || o->nworkers < 1 || o->nworkers > DP_MAX_WORKERS) {
				fprintf(stderr, "vifd: --workers must be 1..%d\n", DP_MAX_WORKERS);
				return 2;
			}
			break;
		}
		case 'P':
			o->cpus = optarg;
			break;
		case 'l':
			o->log_level = vlog_level_parse(optarg);
			if (o->log_level < 0) {
				fprintf(stderr, "vifd: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'M': {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*end || end == optarg || p < 0 || p > 65535) {
				fprintf(stderr, "vifd: --metrics-port must be 0..65535\n");
				return 2;
			}
			o->metrics_port = (int)p;
			break;
		}
		case 'A':
			o->metrics_address = optarg;
			break;
		case 'D':
			if (o->nsock_dirs == CTL_CONF_SOCK_DIRS || optarg[0] != '/') {
				fprintf(stderr, "vifd: --vhost-sock-dir takes an absolute directory, "
				        "at most %d times\n", CTL_CONF_SOCK_DIRS);
				return 2;
			}
			o->sock_dirs[o->nsock_dirs++] = optarg;
			break;
		case 'O':
			o->vsock_owner = optarg;
			break;
		case 'U':
			o->vsock_group = optarg;
			break;
		case 'Y':
			if (ctl_perm_parse(optarg, &o->vsock_perm) < 0) {
				fprintf(stderr, "vifd: --vhost-sock-perm takes octal mode bits 0000..0777 "
				        "(such as 0660), not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'G':
		case 'p': {
			uint64_t v;
			if (ctl_size_parse(optarg, &v) < 0 || v > INT64_MAX) {
				fprintf(stderr, "vifd: --%s takes a size such as 64G (K, M, G, T)\n",
				        opt == 'G' ? "guest-mem-max" : "port-mem-max");
				return 2;
			}
			*(opt == 'G' ? &o->mem_max : &o->port_mem_max) = (int64_t)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vifd %s\n", VIFD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vifd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = { .log_level = -1, .metrics_port = -1, .mem_max = -1, .port_mem_max = -1,
	                  .vsock_perm = -1 };
	struct port_sock_perm vperm;
	const char *const *sdirs;
	unsigned nsdirs;
	struct ctl_conf conf;
	const char *state_dir = "vifd-state", *cpus_s = NULL, *group = NULL;
	const char *maddr = "127.0.0.1";
	int mport = 0;
	struct ctl_metrics *metrics = NULL;
	int cpus[DP_MAX_WORKERS], ncpus = 0;
	long nworkers = 1;
	char sock[PATH_MAX], pidf[PATH_MAX], err[CTL_CONF_ERR_MAX];
	struct evloop *ev = NULL;
	struct dp *dp = NULL;
	struct ctl *ctl = NULL;
	struct ctl_state *st = NULL;
	struct group *gr = NULL;
	sigset_t sigs;
	int sfd = -1, r, rc = 1;

	ctl_conf_init(&conf);
	r = parse_args(argc, argv, &o);
	if (r >= 0)
		return r;
	if (o.config && ctl_conf_load(o.config, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vifd: %s\n", err);
		return 2;
	}
	/* Command line, else configuration file, else default. */
	if (o.log_level >= 0)
		vlog_set_level(o.log_level);
	else if (conf.log_level >= 0)
		vlog_set_level(conf.log_level);
	if (o.state_dir || conf.state_dir)
		state_dir = o.state_dir ? o.state_dir : conf.state_dir;
	if (o.nworkers || conf.workers)
		nworkers = o.nworkers ? o.nworkers : conf.workers;
	cpus_s = o.cpus ? o.cpus : conf.cpus;
	group = o.group ? o.group : conf.group;
	if (o.metrics_address || conf.metrics_address)
		maddr = o.metrics_address ? o.metrics_address : conf.metrics_address;
	if (o.metrics_port >= 0 || conf.metrics_port >= 0)
		mport = o.metrics_port >= 0 ? o.metrics_port : conf.metrics_port;
	{
		uint64_t tmax = GMEM_TABLE_MAX_DEFAULT, all = GMEM_TOTAL_MAX_DEFAULT;
		if (o.port_mem_max >= 0 || conf.port_mem_max >= 0)
			tmax = (uint64_t)(o.port_mem_max >= 0 ? o.port_mem_max : conf.port_mem_max);
		if (o.mem_max >= 0 || conf.mem_max >= 0)
			all = (uint64_t)(o.mem_max >= 0 ? o.mem_max : conf.mem_max);
		gmem_set_limits(tmax, all);
	}
	if (cpus_s) {
		ncpus = parse_cpus(cpus_s, cpus, DP_MAX_WORKERS);
		if (ncpus <= 0) {
			fprintf(stderr, "vifd: bad cpus list '%s'\n", cpus_s);
			goto out_conf;
		}
	}
	if (sock_perm_resolve(o.vsock_owner ? o.vsock_owner : conf.vsock_owner,
	                      o.vsock_group ? o.vsock_group : conf.vsock_group,
	                      o.vsock_perm >= 0 ? o.vsock_perm : conf.vsock_perm, &vperm) < 0)
		goto out_conf;
	sdirs = o.nsock_dirs ? o.sock_dirs : (const char *const *)conf.sock_dirs;
	nsdirs = o.nsock_dirs ? o.nsock_dirs : conf.nsock_dirs;
	for (unsigned i = 0; i < nsdirs; i++)
		if (sock_dir_prepare(sdirs[i], &vperm) < 0)
			goto out_conf;
	if (ncpus && ncpus < nworkers) {
		fprintf(stderr, "vifd: --cpus lists %d CPUs for %ld workers\n", ncpus, nworkers);
		goto out_conf;
	}
	if (group) {
		gr = getgrnam(group);
		if (!gr) {
			fprintf(stderr, "vifd: no group named '%s'\n", group);
			goto out_conf;
		}
	}
	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "vifd: cannot create state directory %s: %s\n", state_dir,
		        strerror(errno));
		goto out_conf;
	}
	/* The group must be able to reach the socket inside the directory. */
	if (gr && chown(state_dir, (uid_t)-1, gr->gr_gid) < 0)
		fprintf(stderr, "vifd: cannot give %s to group %s: %s\n", state_dir, group,
		        strerror(errno));
	/* The socket may live apart from the state (a service: /run/vifd for
	 * the socket, /var/lib/vifd for what persists); its directory must
	 * exist and let the --group through, as the unit's RuntimeDirectory does. */
	if ((o.ctl_socket ? snprintf(sock, sizeof(sock), "%s", o.ctl_socket)
	                  : snprintf(sock, sizeof(sock), "%s/vifd.sock", state_dir)) >= (int)sizeof(sock) ||
	    snprintf(pidf, sizeof(pidf), "%s/vifd.pid", state_dir) >= (int)sizeof(pidf)) {
		fprintf(stderr, "vifd: state directory or control socket path too long\n");
		goto out_conf;
	}
	if (write_pidfile(pidf) < 0)
		goto out_conf;

	/* Guests' eventfds and sockets may vanish: never die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	r = evloop_create(&ev);
	if (r < 0)
		goto out;
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || evloop_add(ev, sfd, EPOLLIN, on_signal, ev) < 0) {
		r = -errno;
		goto out;
	}
	r = dp_create(ev, (unsigned)nworkers, ncpus ? cpus : NULL, &dp);
	if (r < 0) {
		vlog_err("cannot start the datapath: %s", strerror(-r));
		goto out;
	}
	r = ctl_create(ev, dp, sock, &ctl);
	if (r < 0) {
		vlog_err("cannot open the control socket %s: %s", sock, strerror(-r));
		goto out;
	}
	if ((gr || conf.sock_mode >= 0) &&
	    ctl_set_access(ctl, gr != NULL, gr ? gr->gr_gid : 0,
	                   conf.sock_mode >= 0 ? (mode_t)conf.sock_mode : 0660) < 0)
		goto out;
	/* Before the state is restored: a persisted port outside the
	 * directories is refused like a new one. */
	r = ctl_set_sock_dirs(ctl, sdirs, nsdirs);
	if (r < 0)
		goto out;
	ctl_set_sock_perm(ctl, &vperm);
	r = ctl_state_open(state_dir, o.reset, &st);
	if (r < 0)
		goto out;
	ctl_set_state(ctl, st);
	r = ctl_state_restore(st, ctl_get_rpc(ctl), o.config ? &conf : NULL, err, sizeof(err));
	if (r < 0) {
		vlog_err("%s", err);
		goto out;
	}
	dp_settle(dp, VIFD_RESTART_HOLD_MS);
	if (mport && ctl_metrics_create(ev, dp, maddr, mport, &metrics) < 0)
		goto out;
	vlog_info("vifd started: bridge br0, %ld worker(s), control socket %s", nworkers, sock);
	r = evloop_run(ev);
	rc = r < 0 ? 1 : 0;
out:
	ctl_metrics_destroy(metrics);
	ctl_destroy(ctl);
	ctl_state_close(st);
	dp_destroy(dp);
	if (sfd >= 0) {
		evloop_del(ev, sfd);
		close(sfd);
	}
	evloop_destroy(ev);
	/* Guests' fds handed over on the way out (ports removed above). */
	closer_stop(1000);
	unlink(pidf);
	if (rc)
		vlog_err("vifd exiting on error");
	else
		vlog_info("vifd stopped");
out_conf:
	ctl_conf_free(&conf);
	return rc;
}
