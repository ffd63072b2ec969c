/* cli.h - vifctl, the command-line client of vifd's control socket.
 *   cli_main.c  options, the command table, help, exit codes;
 *   cli_rpc.c   the connection: one JSON-RPC 2.0 request line out, one
 *               response line back, every wait bounded by CLI_TIMEOUT_MS;
 *   cli_fmt.c   human output: aligned tables, and stats --watch.
 * vifctl talks to vifd only through the socket (STYLE.md §1): it shares no
 * code with src/ctl, only the wire format of src/ctl/ctl_rpc.h.
 * Single-threaded. */
#ifndef VIFD_CLI_H
#define VIFD_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes, documented in vifctl --help. */
enum cli_exit {
	CLI_OK = 0,
	CLI_EVIFD = 1,   /* vifd reported an error (or vifctl itself failed) */
	CLI_EUSAGE = 2,  /* bad command line */
	CLI_ECONN = 3,   /* cannot connect to vifd, or no valid reply in time */
};

enum {
	CLI_TIMEOUT_MS = 10000,           /* connect, send and each reply */
	CLI_REPLY_MAX = 64 * 1024 * 1024, /* longest reply line accepted */
};

#ifndef VIFD_VERSION
#define VIFD_VERSION "unknown"
#endif

/* A connection to vifd. */
struct cli_conn {
	int fd;             /* -1 until connected */
	const char *path;   /* socket path, for messages */
	char *buf;          /* bytes read past the last reply line */
	size_t len, cap;
	long long next_id;  /* id of the next request */
	/* An error whose errno (its data.errno, e.g. "EEXIST") is this is
	 * not printed, and sets quieted: --may-exist, --if-exists. */
	const char *quiet_errno;
	bool quieted;
	char quiet_msg[256]; /* the message not printed */
	int rx_fd;          /* a file vifd passed with a reply (capture), or -1 */
};

/* Connects to path. Returns CLI_OK, or CLI_ECONN after printing why and
 * how to point vifctl at the right socket. */
int cli_connect(struct cli_conn *c, const char *path);

/* Calls method with params (the reference is taken; NULL = no params) and
 * waits for its reply. Returns CLI_OK and a new reference in *result, or
 * CLI_EVIFD / CLI_ECONN after printing "vifctl: <message>" to stderr. */
int cli_call(struct cli_conn *c, const char *method, json_t *params, json_t **result);

void cli_close(struct cli_conn *c);

/* Prints "vifctl: out of memory" and exits with CLI_EVIFD: vifctl has no
 * partial result worth keeping. */
void cli_oom(void) __attribute__((noreturn));

/* An aligned text table. Columns are named by hdr; align holds one 'l' or
 * 'r' per column. Cells are copied. */
struct cli_table;
struct cli_table *cli_table_new(unsigned ncols, const char *const *hdr, const char *align);
/* Adds a row of ncols cells (NULL prints as "-"). */
void cli_table_row(struct cli_table *t, const char *const *cells);
/* Prints the table, each line prefixed by indent and ended by eol
 * (e.g. "\033[K\n" to clear the rest of the line); frees it. */
void cli_table_print(struct cli_table *t, FILE *f, const char *indent, const char *eol);

/* Human output of each method's result object (see src/ctl/ctl_methods.c
 * for their shapes). Unknown or missing members print as "-". */
void cli_print_show(json_t *res);
void cli_print_stats(json_t *res);
void cli_print_workers(json_t *res);
void cli_print_queues(json_t *res);
void cli_print_fdb(json_t *res);
void cli_print_trace(json_t *res);

/* stats --watch: samples "stats" every interval_s seconds on c until
 * SIGINT/SIGTERM, printing per-port rates (or, with json, one result
 * object per line). Returns an exit code. */
int cli_watch_stats(struct cli_conn *c, const char *name, double interval_s, bool json);

/* capture: runs method "capture" on c and writes what it delivers to file
 * (a pcap file; "-": standard output) until count frames, timeout_s
 * seconds (0: none), SIGINT/SIGTERM, or the port's end. (cli_cap.c) */
struct cli_capture_opts {
	const char *port, *dir, *file;
	long count;        /* 0: no limit */
	long snaplen;      /* 0: vifd's default */
	long ring_kib;     /* 0: vifd's default */
	double timeout_s;  /* 0: none */
};
int cli_capture(struct cli_conn *c, const struct cli_capture_opts *o);
void cli_print_captures(json_t *res);

#endif
