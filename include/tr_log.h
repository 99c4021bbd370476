/* Logging to stderr with a syslog priority prefix ("<4>") so journald keeps
 * the level. log_warn appends strerror(errno); log_warnx does not. */
#ifndef TR_LOG_H
#define TR_LOG_H

enum { TR_LOG_ERR = 3, TR_LOG_WARNING = 4, TR_LOG_INFO = 6, TR_LOG_DEBUG = 7 };

extern int tr_log_level; /* messages above this priority are dropped */

/* Parses "error|warn|info|debug"; returns -1 if unknown. */
int tr_log_level_parse(const char *name);

/* While sink is set, each line that passes tr_log_level goes to sink (line
 * without the priority prefix, valid during the call only) instead of
 * stderr: `triagectl test` keeps a test's lines with its result. NULL
 * restores stderr. Only for a process with one thread: set while no other
 * thread may log. */
void tr_log_capture(void (*sink)(void *ud, int level, const char *line), void *ud);

void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
