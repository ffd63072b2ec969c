/* vlog.c - see vlog.h. */
#include "vlog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clk.h"

static _Atomic int cur_level = LOG_INFO;

void vlog_set_level(int level)
{
	atomic_store_explicit(&cur_level, level, memory_order_relaxed);
}

int vlog_get_level(void)
{
	return atomic_load_explicit(&cur_level, memory_order_relaxed);
}

int vlog_level_parse(const char *name)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
	};
	for (int i = 0; i < 8; i++)
		if (!strcasecmp(name, names[i]))
			return i;
	if (!strcasecmp(name, "error"))
		return LOG_ERR;
	if (!strcasecmp(name, "warn"))
		return LOG_WARNING;
	return -1;
}

void vlog(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (level > vlog_get_level())
		return;
	n = snprintf(buf, sizeof(buf), "<%d>", level);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs of a whole line keeps lines from different threads apart. */
	size_t len = strlen(buf);
	if (len < sizeof(buf) - 1) {
		buf[len] = '\n';
		buf[len + 1] = '\0';
	} else {
		buf[sizeof(buf) - 2] = '\n';
	}
	fputs(buf, stderr);
}

int vlog_rl_allow(struct vlog_rl *rl, uint32_t burst)
{
	return vlog_rl_allow_who(rl, burst, NULL);
}

int vlog_rl_allow_who(struct vlog_rl *rl, uint32_t burst, const char *who)
{
	uint64_t now = clk_now_ns();

	if (now - rl->window_ns >= 1000000000ull) {
		if (rl->dropped)
			vlog(LOG_WARNING, "%s%s(%u similar lines suppressed)", who ? who : "",
			     who ? ": " : "", rl->dropped);
		rl->window_ns = now;
		rl->count = 0;
		rl->dropped = 0;
	}
	if (rl->count >= burst) {
		rl->dropped++;
		return 0;
	}
	rl->count++;
	return 1;
}
