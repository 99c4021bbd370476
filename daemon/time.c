/* Wall-clock times for the whole daemon (tr_time.h): RFC 3339 and the local
 * "YYYY-MM-DD HH:MM[:SS]" forms ERP exports write, parsed and printed in IANA
 * zones from the system's zoneinfo, plus strict durations and the clocks.
 * Zones go through the C library: we set TZ=":<zone>", call tzset() and use
 * localtime_r's tm_gmtoff, with the last zone cached so that a file of rows in
 * one zone sets TZ once. That makes TZ (and localtime() for anyone else) this
 * file's property, and the functions below not thread-safe: the daemon parses
 * and formats times on its loop thread only. No offset tables live here; not
 * the business-hours calendars either (they build on these functions).
 *
 * Local times that do not exist or exist twice (DST gaps and overlaps) are
 * resolved like Python's PEP 495 with fold=0, deterministically: a time in a
 * gap is read with the offset in effect before the gap, so it lands after the
 * gap shifted forward by the gap's length (02:30 on the spring-forward day in
 * Los Angeles is 03:30 PDT); a time in an overlap is the earlier of its two
 * instants (01:30 on the fall-back day is 01:30 PDT, not PST). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tr_error.h"
#include "tr_time.h"

#define ZONE_MAX 200

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil algorithm, plain arithmetic valid for any year here). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 29;
	return days[m - 1];
}

static bool is_utc(const char *zone)
{
	return !zone || !zone[0] || strcmp(zone, "UTC") == 0;
}

int tr_zone_valid(const char *zone)
{
	if (!zone || !zone[0])
		return 0;
	if (strcmp(zone, "UTC") == 0)
		return 1;
	size_t len = strlen(zone);
	if (len > ZONE_MAX || zone[0] == '/' || strstr(zone, ".."))
		return 0;
	for (const char *p = zone; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' || ch == '-' ||
			  ch == '+' || ch == '.';
		if (!ok)
			return 0;
	}
	/* Same folder the C library reads: $TZDIR, else the system zoneinfo. */
	const char *dir = getenv("TZDIR");
	if (!dir || !dir[0])
		dir = "/usr/share/zoneinfo";
	char path[512];
	if (snprintf(path, sizeof(path), "%s/%s", dir, zone) >= (int)sizeof(path))
		return 0;
	/* A regular file that starts with the TZif magic: zoneinfo also holds
	 * folders ("America") and tables ("zone.tab") that TZ would silently
	 * take as UTC. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	char magic[4];
	bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		  read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
		  memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

/* The zone switches below change TZ for the whole process; the TZ it
 * started with (unset: /etc/localtime) is kept to answer for the host. */
static char current[ZONE_MAX + 2];
static bool have_current;
static bool host_saved;
static char *host_tz;

static void save_host_zone(void)
{
	if (host_saved)
		return;
	const char *tz = getenv("TZ");
	host_tz = tz ? strdup(tz) : NULL;
	host_saved = !tz || host_tz;
}

/* Makes zone the C library's local zone. Returns 0 or -EINVAL. The cache is
 * the reason repeated calls in one zone cost nothing; a zone name is checked
 * against zoneinfo once per switch. */
static int use_zone(const char *zone)
{
	if (have_current && strcmp(current + 1, zone) == 0)
		return 0;
	if (!tr_zone_valid(zone))
		return -EINVAL;
	save_host_zone();
	/* The leading ':' tells the C library to read a zoneinfo file, never
	 * to take the name as a POSIX TZ rule. */
	snprintf(current, sizeof(current), ":%s", zone);
	if (setenv("TZ", current, 1) != 0) {
		have_current = false;
		return -errno;
	}
	tzset();
	have_current = true;
	return 0;
}

int64_t tr_time_host_midnight(int64_t t)
{
	save_host_zone();
	if (have_current && host_saved) {
		if (host_tz)
			setenv("TZ", host_tz, 1);
		else
			unsetenv("TZ");
		tzset();
		have_current = false;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return t - t % 86400;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* The UTC offset in seconds of zone (already in use) at instant t. */
static int local_offset(int64_t t, long *off)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return -ERANGE;
	*off = tm.tm_gmtoff;
	return 0;
}

/* The instant of local wall-clock time `wall` (seconds of the local date and
 * time counted as if they were UTC) in the current zone, with the gap and
 * overlap rules of the file comment. Transitions are assumed to be more than
 * a day apart, which holds for every zone in tzdata. */
static int local_to_utc(int64_t wall, int64_t *out)
{
	long before, after, check;
	if (local_offset(wall - 86400, &before) || local_offset(wall + 86400, &after))
		return -ERANGE;
	int64_t t_before = wall - before, t_after = wall - after;
	bool ok_before = !local_offset(t_before, &check) && t_before + check == wall;
	bool ok_after = !local_offset(t_after, &check) && t_after + check == wall;

	if (ok_before && ok_after)
		*out = t_before < t_after ? t_before : t_after;  /* overlap: earlier */
	else if (ok_after)
		*out = t_after;
	else
		*out = t_before;  /* valid, or a gap: the offset before it */
	return 0;
}

/* Reads exactly n digits at *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return false;
		x = x * 10 + (ch - '0');
	}
	*p += n;
	*v = x;
	return true;
}

int tr_time_parse(const char *s, const char *zone, int64_t *out)
{
	if (!s)
		return TR_EPARSE;
	const char *p = s;
	int year, mon, day, hour, min, sec = 0;

	if (!digits(&p, 4, &year))
		return TR_EPARSE;
	char dsep = *p;
	if (dsep != '-' && dsep != '/')
		return TR_EPARSE;
	p++;
	if (!digits(&p, 2, &mon) || *p++ != dsep || !digits(&p, 2, &day))
		return TR_EPARSE;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return TR_EPARSE;
	p++;
	if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min))
		return TR_EPARSE;
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, &sec))
			return TR_EPARSE;
		if (*p == '.' || *p == ',') {  /* fractional seconds: dropped */
			p++;
			if (*p < '0' || *p > '9')
				return TR_EPARSE;
			while (*p >= '0' && *p <= '9')
				p++;
		}
	}
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 60)
		return TR_EPARSE;

	bool has_offset = false;
	int offset = 0;
	if (*p == 'Z' || *p == 'z') {
		has_offset = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
			return TR_EPARSE;
		has_offset = true;
		offset = sign * (oh * 3600 + om * 60);
	}
	if (*p != '\0')
		return TR_EPARSE;  /* trailing garbage */

	/* A leap second (:60) becomes the first second of the next minute. */
	int64_t wall = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
	if (has_offset) {
		if (!is_utc(zone) && use_zone(zone) != 0)
			return -EINVAL;  /* unknown zone is a caller bug even when unused */
		*out = wall - offset;
		return 0;
	}
	if (is_utc(zone)) {
		*out = wall;
		return 0;
	}
	if (use_zone(zone) != 0)
		return -EINVAL;
	return local_to_utc(wall, out) == 0 ? 0 : TR_EPARSE;
}

int tr_time_parse_with(const char *s, const char *fmt, const char *zone, int64_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(s, fmt, &tm);
	if (!end)
		return TR_EPARSE;
	while (*end == ' ')
		end++;
	if (*end || tm.tm_mday < 1)
		return TR_EPARSE;  /* trailing text, or a format without a day */
	int year = tm.tm_year + 1900, mon = tm.tm_mon + 1;
	if (year < 0 || year > 9999 || tm.tm_mday > days_in_month(year, mon))
		return TR_EPARSE;
	int64_t wall = days_from_civil(year, mon, tm.tm_mday) * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	if (is_utc(zone)) {
		*out = wall;
		return 0;
	}
	if (use_zone(zone) != 0)
		return -EINVAL;
	return local_to_utc(wall, out) == 0 ? 0 : TR_EPARSE;
}

int tr_time_format(int64_t t, const char *zone, char *buf, size_t len)
{
	if (len < 32)
		return -ENOSPC;
	/* 0000-01-01 .. 9999-12-31, with a day of slack for the offset: keeps
	 * t + off from overflowing and the year at four digits. */
	if (t < -62167219200 - 86400 || t > 253402300799 + 86400)
		return -ERANGE;
	long off = 0;
	if (!is_utc(zone)) {
		if (use_zone(zone) != 0)
			return -EINVAL;
		if (local_offset(t, &off) != 0)
			return -ERANGE;
	}
	int64_t wall = t + off;
	int64_t days = wall >= 0 ? wall / 86400 : -((-wall + 86399) / 86400);
	int64_t secs = wall - days * 86400;
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -ERANGE;

	/* Digits by hand: this runs for every event, and printf is slow. */
	const int parts[6] = {(int)y, m, d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60)};
	const char seps[6] = {'-', '-', 'T', ':', ':', 0};
	char *p = buf;
	for (int i = 0; i < 6; i++) {
		int v = parts[i];
		if (i == 0) {
			*p++ = (char)('0' + v / 1000);
			*p++ = (char)('0' + v / 100 % 10);
		}
		*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		if (seps[i])
			*p++ = seps[i];
	}
	*p = 0;
	int n = (int)(p - buf);
	if (is_utc(zone)) {
		buf[n] = 'Z';
		buf[n + 1] = 0;
	} else {
		long a = off < 0 ? -off : off;
		/* Offsets with seconds (LMT before 1900) print rounded down to
		 * the minute: RFC 3339 has no seconds in offsets. */
		snprintf(buf + n, len - n, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
	}
	return 0;
}

int tr_duration_parse(const char *s, int64_t *out)
{
	static const struct { char unit; int64_t secs; } units[] = {
		{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1},
	};
	if (!s || !*s)
		return TR_EPARSE;
	const char *p = s;
	size_t next_unit = 0;  /* units must come in table order, each once */
	int64_t total = 0;

	while (*p) {
		if (*p < '0' || *p > '9')
			return TR_EPARSE;
		int64_t n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n > (INT64_MAX - (*p - '0')) / 10)
				return TR_EPARSE;
			n = n * 10 + (*p - '0');
			p++;
		}
		size_t u = next_unit;
		while (u < sizeof(units) / sizeof(units[0]) && units[u].unit != *p)
			u++;
		if (u == sizeof(units) / sizeof(units[0]))
			return TR_EPARSE;  /* no unit, unknown unit, repeated or out of order */
		if (n > (INT64_MAX - total) / units[u].secs)
			return TR_EPARSE;
		total += n * units[u].secs;
		next_unit = u + 1;
		p++;
	}
	*out = total;
	return 0;
}

int64_t tr_time_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t tr_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tr_mono_ms(void)
{
	return tr_mono_us() / 1000u;
}

uint64_t tr_mono_coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *tr_time_weekday(int64_t t, const char *rfc)
{
	static const char *const WEEKDAYS[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	/* "2026-11-27T12:00:00+08:00": the wall clock's day count gives the
	 * weekday (1970-01-01 was a Thursday) */
	int64_t off = 0;
	if (rfc[19] == '+' || rfc[19] == '-') {
		off = ((rfc[20] - '0') * 10 + (rfc[21] - '0')) * 3600 + ((rfc[23] - '0') * 10 + (rfc[24] - '0')) * 60;
		if (rfc[19] == '-')
			off = -off;
	}
	int64_t days = (t + off) / 86400 - ((t + off) % 86400 < 0);
	return WEEKDAYS[((days + 4) % 7 + 7) % 7];
}
