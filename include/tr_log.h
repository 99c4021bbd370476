/* Logging to stderr with a syslog priority prefix ("<4>") so journald keeps
 * the level. log_warn appends strerror(errno); log_warnx does not. */
#ifndef TR_LOG_H
#define TR_LOG_H

enum { TR_LOG_ERR = 3, TR_LOG_WARNING = 4, TR_LOG_INFO = 6, TR_LOG_DEBUG = 7 };

extern int tr_log_level; /* messages above this priority are dropped */

/* Parses "error|warn|info|debug"; returns -1 if unknown. */
int tr_log_level_parse(const char *name);

void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
