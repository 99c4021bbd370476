/* Wall-clock times as int64 seconds since the Unix epoch, parsed and printed
 * with IANA zones from the system's zoneinfo, and strict durations. Not the
 * business-hours calendars (they build on this). */
#ifndef TR_TIME_H
#define TR_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Parses RFC 3339 ("2026-11-24T05:00:00Z", "...+09:00", fractional seconds
 * dropped), "YYYY-MM-DD HH:MM[:SS]" and "YYYY/MM/DD HH:MM[:SS]" (also with 'T').
 * A time without an offset is read in zone (an IANA name; NULL or "" = UTC).
 * Returns 0 and sets *out, or TR_EPARSE (bad text) / -EINVAL (unknown zone). */
int tr_time_parse(const char *s, const char *zone, int64_t *out);
/* Parses s with a strptime(3) format (a file source's time_format) as a
 * wall-clock time in zone. 0, TR_EPARSE, or -EINVAL for an unknown zone. */
int tr_time_parse_with(const char *s, const char *fmt, const char *zone, int64_t *out);

/* Formats t as RFC 3339 in zone (NULL = UTC, printed with "Z"; else with its
 * offset, e.g. "2026-11-24T13:00:00+08:00"). buf of at least 32 bytes.
 * Returns 0, -EINVAL for an unknown zone, -ENOSPC when len < 32, or -ERANGE
 * when t is outside years 0000-9999. */
int tr_time_format(int64_t t, const char *zone, char *buf, size_t len);
/* The weekday ("Sun".."Sat") of the wall clock that rfc, t as
 * tr_time_format wrote it, reads: its offset says which day it is there. */
const char *tr_time_weekday(int64_t t, const char *rfc);

/* Parses a strict duration: one or more <digits><unit> with units d h m s in
 * that order, no repeats ("90s", "15m", "4h", "3d", "1h30m"). Returns 0 and
 * seconds in *out, or TR_EPARSE. */
int tr_duration_parse(const char *s, int64_t *out);

/* True if zone names a zoneinfo file (no path tricks). */
int tr_zone_valid(const char *zone);

/* The start of t's day in the zone the host runs in (the TZ the process
 * started with, else /etc/localtime), whatever zone was used since. */
int64_t tr_time_host_midnight(int64_t t);

/* Current time in seconds. */
int64_t tr_time_now(void);
/* Monotonic milliseconds, for budgets and latency. */
uint64_t tr_mono_ms(void);
uint64_t tr_mono_us(void);
/* The monotonic clock at the kernel tick (a few ms, never ahead of
 * tr_mono_ms): cheap enough to read at every function call of a rule. */
uint64_t tr_mono_coarse_ms(void);

#endif
