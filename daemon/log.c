/* stderr logging with syslog priority prefixes, for journald. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "tr_log.h"

int tr_log_level = TR_LOG_INFO;

int tr_log_level_parse(const char *name)
{
	static const struct { const char *name; int level; } levels[] = {
		{"error", TR_LOG_ERR}, {"warn", TR_LOG_WARNING}, {"warning", TR_LOG_WARNING},
		{"info", TR_LOG_INFO}, {"debug", TR_LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(name, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

static void (*capture)(void *ud, int level, const char *line);
static void *capture_ud;

void tr_log_capture(void (*sink)(void *ud, int level, const char *line), void *ud)
{
	capture = sink;
	capture_ud = ud;
}

static void vlog(int level, const char *suffix, const char *fmt, va_list ap)
{
	if (level > tr_log_level)
		return;
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (capture) {
		if (suffix && n >= 0 && (size_t)n < sizeof(msg))
			snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", suffix);
		capture(capture_ud, level, msg);
		return;
	}
	fprintf(stderr, "<%d>%s%s%s\n", level, msg, suffix ? ": " : "", suffix ? suffix : "");
}

#define DEFINE_LOG(name, level, with_errno)                          \
	void name(const char *fmt, ...)                              \
	{                                                            \
		const char *err = (with_errno) ? strerror(errno) : NULL; \
		va_list ap;                                          \
		va_start(ap, fmt);                                   \
		vlog(level, err, fmt, ap);                           \
		va_end(ap);                                          \
	}

DEFINE_LOG(log_errx, TR_LOG_ERR, 0)
DEFINE_LOG(log_warn, TR_LOG_WARNING, 1)
DEFINE_LOG(log_warnx, TR_LOG_WARNING, 0)
DEFINE_LOG(log_info, TR_LOG_INFO, 0)
DEFINE_LOG(log_debug, TR_LOG_DEBUG, 0)
