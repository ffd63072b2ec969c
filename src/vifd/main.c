/* main.c - vifd: the daemon. Parses options, prepares the state directory,
 * starts the datapath workers and the control socket, and runs the control
 * thread's event loop until SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

#include "ctl.h"
#include "dp.h"
#include "evloop.h"
#include "vlog.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: vifd [options]\n"
	        "  --state-dir DIR   control socket, pid file and state (default ./vifd-state)\n"
	        "  --workers N       datapath worker threads (default 1, max %d)\n"
	        "  --cpus LIST       pin workers to these CPUs, e.g. 0,1 or 2-3 (default: unpinned)\n"
	        "  --log-level L     err, warning, info or debug (default info)\n"
	        "  -h, --help        this text\n"
	        "Ports are added at run time with vifctl (see vifctl --help).\n",
	        DP_MAX_WORKERS);
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

/* Writes DIR/vifd.pid; refuses when another live vifd owns the directory. */
static int write_pidfile(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

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
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_dir = "vifd-state";
	int cpus[DP_MAX_WORKERS], ncpus = 0;
	long nworkers = 1;
	char sock[PATH_MAX], pidf[PATH_MAX];
	struct evloop *ev = NULL;
	struct dp *dp = NULL;
	struct ctl *ctl = NULL;
	sigset_t sigs;
	int sfd = -1, r, opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			state_dir = optarg;
			break;
		case 'w': {
			char *end;
			nworkers = strtol(optarg, &end, 10);
			if (*end || nworkers < 1 || nworkers > DP_MAX_WORKERS) {
				fprintf(stderr, "vifd: --workers must be 1..%d\n", DP_MAX_WORKERS);
				return 2;
			}
			break;
		}
		case 'c':
			ncpus = parse_cpus(optarg, cpus, DP_MAX_WORKERS);
			if (ncpus <= 0) {
				fprintf(stderr, "vifd: bad --cpus list '%s'\n", optarg);
				return 2;
			}
			break;
		case 'l': {
			int l = vlog_level_parse(optarg);
			if (l < 0) {
				fprintf(stderr, "vifd: unknown log level '%s'\n", optarg);
				return 2;
			}
			vlog_set_level(l);
			break;
		}
		case 'h':
			usage(stdout);
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
	if (ncpus && ncpus < nworkers) {
		fprintf(stderr, "vifd: --cpus lists %d CPUs for %ld workers\n", ncpus, nworkers);
		return 2;
	}
	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "vifd: cannot create state directory %s: %s\n", state_dir,
		        strerror(errno));
		return 1;
	}
	if (snprintf(sock, sizeof(sock), "%s/vifd.sock", state_dir) >= (int)sizeof(sock) ||
	    snprintf(pidf, sizeof(pidf), "%s/vifd.pid", state_dir) >= (int)sizeof(pidf)) {
		fprintf(stderr, "vifd: state directory path too long\n");
		return 2;
	}
	if (write_pidfile(pidf) < 0)
		return 1;

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
	vlog_info("vifd started: bridge br0, %ld worker(s), control socket %s", nworkers, sock);
	r = evloop_run(ev);
	rc = r < 0 ? 1 : 0;
out:
	ctl_destroy(ctl);
	dp_destroy(dp);
	if (sfd >= 0) {
		evloop_del(ev, sfd);
		close(sfd);
	}
	evloop_destroy(ev);
	unlink(pidf);
	if (rc)
		vlog_err("vifd exiting on error");
	else
		vlog_info("vifd stopped");
	return rc;
}
