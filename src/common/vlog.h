/* vlog.h - logging. Two paths, as STYLE.md asks:
 *  - control path: vlog_*() always compiled in, filtered by the runtime level;
 *  - datapath: VLOG_DP() compiled out above VLOG_DP_LEVEL (meson option
 *    dp_log_level) and rate limited per call site when compiled in.
 * Lines go to stderr, one line per call, prefixed by the level in the
 * "<N>" form journald understands, so `vifd` under systemd needs no syslog. */
#ifndef VIFD_VLOG_H
#define VIFD_VLOG_H

#include <stdarg.h>
#include <stdint.h>
#include <syslog.h>

#ifndef VLOG_DP_LEVEL
#define VLOG_DP_LEVEL LOG_WARNING
#endif

void vlog_set_level(int level);
int vlog_get_level(void);
int vlog_level_parse(const char *name);
void vlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rate limiter for one call site: at most `burst` lines per second. */
struct vlog_rl {
	uint64_t window_ns; /* start of the current one-second window */
	uint32_t count;     /* lines printed in this window */
	uint32_t dropped;   /* lines suppressed since the last printed one */
};

/* Returns 1 if a line may be printed now; updates the limiter. Thread-safe
 * enough for logging: a race prints one line too many, never corrupts. */
int vlog_rl_allow(struct vlog_rl *rl, uint32_t burst);
/* The same; the "lines suppressed" line names who (may be NULL). */
int vlog_rl_allow_who(struct vlog_rl *rl, uint32_t burst, const char *who);

#define vlog_err(...)   vlog(LOG_ERR, __VA_ARGS__)
#define vlog_warn(...)  vlog(LOG_WARNING, __VA_ARGS__)
#define vlog_info(...)  vlog(LOG_INFO, __VA_ARGS__)
#define vlog_dbg(...)   vlog(LOG_DEBUG, __VA_ARGS__)

/* Rate-limited log line; level is checked before anything is formatted. */
#define VLOG_RL(level, ...) do { \
	static struct vlog_rl rl_; \
	if ((level) <= vlog_get_level() && vlog_rl_allow(&rl_, 5)) \
		vlog((level), __VA_ARGS__); \
} while (0)

/* Datapath log line: compiled out above VLOG_DP_LEVEL, rate limited. */
#define VLOG_DP(level, ...) do { \
	if ((level) <= VLOG_DP_LEVEL) \
		VLOG_RL(level, __VA_ARGS__); \
} while (0)

#endif
