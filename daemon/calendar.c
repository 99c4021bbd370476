/* Business-time arithmetic (tr_calendar.h): compiles a configured calendar
 * into weekly open spans, sorted holiday and workday lists and a cache of
 * the zone's UTC offsets, then answers is_open, add and last_open by walking
 * local days, one day and one open span at a time (never per minute). Not
 * the hours grammar's first check (config.c does that at load and reports
 * it with a line; we re-read the same grammar here), and not the zone
 * database: every offset comes from tr_time_format, so TZ stays time.c's
 * property and its zone cache stays true.
 *
 * How a local day becomes UTC instants: the zone's offset is sampled at the
 * UTC instants k * 86400 (memoised per calendar); local day D lies inside
 * the UTC window [(D-1) * 86400, (D+2) * 86400), so the four samples D-1 ..
 * D+2 describe it, and where two neighbouring samples differ a binary search
 * finds the transition to the second. As in time.c we assume at most one
 * transition between two samples a day apart, which holds for every zone in
 * tzdata. A wall time w of the day then maps to the earliest instant at
 * which the local clock reads w or later (tr_calendar.h's DST rules). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_calendar.h"
#include "tr_config.h"
#include "tr_time.h"

#define DAY 86400
/* Offset samples kept per calendar: about 2.8 years of days, 24 KiB. */
#define MEMO_SIZE 1024
/* The instants tr_time can convert: 0000-01-01 .. 9999-12-31. */
#define T_MIN (-62167219200LL)
#define T_MAX 253402300799LL

/* An open range of one local day, in seconds since its midnight: [start, end). */
struct span {
	int32_t start, end;
};

struct hours {
	struct span *spans;
	size_t n;
};

/* The zone's offset at UTC instant k * DAY, and (once asked) where it changes
 * before (k + 1) * DAY. */
struct sample {
	int64_t k;
	int64_t tr;       /* first instant with the next sample's offset */
	int32_t off;
	uint8_t known;    /* off is valid for k */
	uint8_t tr_state; /* 0 not looked for, 1 no change, 2 change at tr */
};

struct tr_cal {
	char *name;
	char *zone;                  /* NULL: UTC, offset 0, no conversions */
	bool always_open;            /* the built-in 24x7 */
	struct hours week[7];        /* Monday .. Sunday */
	const struct hours *workday; /* one of week[]: the workday hours */
	int64_t *holidays;           /* local dates as days since 1970-01-01, sorted */
	size_t nholidays;
	int64_t *workdays;
	size_t nworkdays;
	struct sample *memo;         /* MEMO_SIZE entries when zone != NULL */
};

/* One local day resolved to UTC: its open spans and the zone's offsets
 * across it as segments [seg_start[j], seg_start[j + 1]) with seg_off[j]. */
struct day {
	const struct hours *hours;
	int64_t base;  /* D * DAY: the day's midnight as wall seconds */
	int nseg;
	int64_t seg_start[4];  /* seg_start[0] unused: from the beginning of time */
	int32_t seg_off[4];
};

static const struct hours closed_hours = {NULL, 0};

static struct tr_cal cal_24x7 = {.name = (char *)"24x7", .always_open = true};

static const char *const day_names[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* 0 = Monday .. 6 = Sunday for days since 1970-01-01 (a Thursday). */
static int weekday(int64_t d)
{
	return (int)(((d % 7) + 7 + 3) % 7);
}

static void say(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t len, const char *fmt, ...)
{
	if (!err || len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* ---- compiling -------------------------------------------------------------- */

/* Reads a day name at *p: 0 (Mon) .. 6 (Sun), or -1. */
static int read_day(const char **p)
{
	for (int d = 0; d < 7; d++) {
		if (strncmp(*p, day_names[d], 3) == 0) {
			*p += 3;
			return d;
		}
	}
	return -1;
}

/* Reads HH:MM (00:00-23:59, or 24:00) at *p into seconds since midnight. */
static bool read_hhmm(const char **p, int32_t *secs)
{
	const char *s = *p;
	for (int i = 0; i < 5; i++)
		if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
			return false;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return false;
	*secs = (h * 60 + m) * 60;
	*p += 5;
	return true;
}

/* Parses weekly hours into cal->week; the grammar (the config is checked
 * with it too, through tr_cal_check_hours):
 *   hours  = group *( *SP ";" *SP group )
 *   group  = days 1*SP ranges
 *   days   = day [ "-" day ] *( "," day [ "-" day ] )   ; Mon..Sun, ranges forward
 *   ranges = HH:MM "-" HH:MM *( "," HH:MM "-" HH:MM )   ; ascending, not overlapping
 * with leading spaces allowed, a day in one group only, 24:00 only as an end.
 * Touching ranges (12:00-13:00,13:00-18:00) are merged. Returns 0, -EINVAL
 * with why filled, or -ENOMEM; on error cal->week may be partly filled (the
 * caller frees it). */
static int parse_hours(const char *s, struct tr_cal *cal, char *why, size_t len)
{
	/* Ranges ascend and each lasts a minute at least: 1440 is the most. */
	struct span ranges[24 * 60];
	const char *p = s;
	unsigned seen = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		unsigned days = 0;
		for (;;) {
			int a = read_day(&p), b;
			if (a < 0) {
				say(why, len, "expected a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun) at \"%s\"", p);
				return -EINVAL;
			}
			b = a;
			if (*p == '-') {
				p++;
				if ((b = read_day(&p)) < 0) {
					say(why, len, "expected a day after '-' at \"%s\"", p);
					return -EINVAL;
				}
				if (b < a) {
					say(why, len, "day range %s-%s runs backwards (weeks run Mon to Sun)",
					    day_names[a], day_names[b]);
					return -EINVAL;
				}
			}
			for (int d = a; d <= b; d++) {
				if ((days | seen) & (1u << d)) {
					say(why, len, "%s is listed twice", day_names[d]);
					return -EINVAL;
				}
				days |= 1u << d;
			}
			if (*p != ',')
				break;
			p++;
		}
		if (*p != ' ') {
			say(why, len, "expected a space and hours like 09:00-18:00 after the days, at \"%s\"", p);
			return -EINVAL;
		}
		while (*p == ' ')
			p++;
		size_t n = 0;
		int32_t last_end = -1;
		for (;;) {
			int32_t start, end;
			if (!read_hhmm(&p, &start) || *p != '-') {
				say(why, len, "expected hours like 09:00-18:00 at \"%s\"", p);
				return -EINVAL;
			}
			p++;
			if (!read_hhmm(&p, &end)) {
				say(why, len, "expected an end time like 18:00 at \"%s\"", p);
				return -EINVAL;
			}
			if (start >= DAY || end <= start) {
				say(why, len, "%02d:%02d-%02d:%02d does not end after it starts "
				    "(write a range across midnight as two)",
				    start / 3600, start / 60 % 60, end / 3600, end / 60 % 60);
				return -EINVAL;
			}
			if (start < last_end) {
				say(why, len, "%02d:%02d-%02d:%02d overlaps or precedes the range before it",
				    start / 3600, start / 60 % 60, end / 3600, end / 60 % 60);
				return -EINVAL;
			}
			if (n > 0 && start == last_end)
				ranges[n - 1].end = end;
			else
				ranges[n++] = (struct span){start, end};
			last_end = end;
			if (*p != ',')
				break;
			p++;
		}
		for (int d = 0; d < 7; d++) {
			if (!(days & (1u << d)))
				continue;
			cal->week[d].spans = malloc(n * sizeof(struct span));
			if (!cal->week[d].spans) {
				say(why, len, "out of memory");
				return -ENOMEM;
			}
			memcpy(cal->week[d].spans, ranges, n * sizeof(struct span));
			cal->week[d].n = n;
		}
		seen |= days;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (*p != ';') {
			say(why, len, "unexpected \"%s\" (separate day groups with ';')", p);
			return -EINVAL;
		}
		p++;
	}
}

/* Reads a strict YYYY-MM-DD into days since 1970-01-01. */
static bool parse_date(const char *s, int64_t *day)
{
	if (!s)
		return false;
	for (int i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;
		if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return false;
	}
	if (s[10] != '\0')
		return false;
	/* tr_time_parse checks the month and the day in it (leap years too). */
	char text[20];
	snprintf(text, sizeof(text), "%s 00:00", s);
	int64_t t;
	if (tr_time_parse(text, NULL, &t) != 0)
		return false;
	*day = floor_div(t, DAY);
	return true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static bool has_day(const int64_t *days, size_t n, int64_t d)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (days[mid] < d)
			lo = mid + 1;
		else if (days[mid] > d)
			hi = mid;
		else
			return true;
	}
	return false;
}

/* Reads n dates into a sorted array (*out NULL when n is 0). */
static int parse_dates(char *const *texts, size_t n, const char *what, int64_t **out,
		       char *err, size_t len)
{
	*out = NULL;
	if (n == 0)
		return 0;
	int64_t *days = malloc(n * sizeof(*days));
	if (!days) {
		say(err, len, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (!parse_date(texts[i], &days[i])) {
			say(err, len, "%s: \"%s\" is not a date written YYYY-MM-DD", what,
			    texts[i] ? texts[i] : "(null)");
			free(days);
			return -EINVAL;
		}
	}
	qsort(days, n, sizeof(*days), cmp_i64);
	*out = days;
	return 0;
}

int tr_cal_date_valid(const char *s)
{
	int64_t day;
	return parse_date(s, &day);
}

int tr_cal_check_hours(const char *hours, char *why, size_t len)
{
	struct tr_cal *scratch = calloc(1, sizeof(*scratch));
	if (!scratch)
		return -ENOMEM;
	int rc = parse_hours(hours, scratch, why, len);
	tr_cal_free(scratch);
	return rc;
}

void tr_cal_free(struct tr_cal *cal)
{
	if (!cal || cal == &cal_24x7)
		return;
	free(cal->name);
	free(cal->zone);
	for (int d = 0; d < 7; d++)
		free(cal->week[d].spans);
	free(cal->holidays);
	free(cal->workdays);
	free(cal->memo);
	free(cal);
}

int tr_cal_compile(const struct tr_calendar *c, struct tr_cal **out, char *err, size_t len)
{
	if (out)
		*out = NULL;
	if (!c || !out) {
		say(err, len, "no calendar");
		return -EINVAL;
	}
	const char *name = c->name ? c->name : "";
	struct tr_cal *cal = calloc(1, sizeof(*cal));
	if (!cal) {
		say(err, len, "out of memory");
		return -ENOMEM;
	}
	int rc = -ENOMEM;
	cal->name = strdup(name);
	if (!cal->name) {
		say(err, len, "out of memory");
		goto fail;
	}
	if (c->timezone && c->timezone[0] && strcmp(c->timezone, "UTC") != 0) {
		if (!tr_zone_valid(c->timezone)) {
			say(err, len, "calendar %s: unknown time zone \"%s\"", name, c->timezone);
			rc = -EINVAL;
			goto fail;
		}
		cal->zone = strdup(c->timezone);
		cal->memo = calloc(MEMO_SIZE, sizeof(*cal->memo));
		if (!cal->zone || !cal->memo) {
			say(err, len, "out of memory");
			goto fail;
		}
	}
	if (!c->hours) {
		say(err, len, "calendar %s: hours is required (e.g. \"Mon-Fri 09:00-18:00\")", name);
		rc = -EINVAL;
		goto fail;
	}
	char why[200];
	rc = parse_hours(c->hours, cal, why, sizeof(why));
	if (rc != 0) {
		say(err, len, "calendar %s: hours \"%s\": %s", name, c->hours, why);
		goto fail;
	}
	/* The workday hours: the first weekday with hours, Monday first; the
	 * grammar guarantees some day has hours. */
	for (int d = 0; d < 7 && !cal->workday; d++)
		if (cal->week[d].n > 0)
			cal->workday = &cal->week[d];
	if (!cal->workday) {
		say(err, len, "calendar %s: no open hours", name);
		rc = -EINVAL;
		goto fail;
	}
	char where[300];
	snprintf(where, sizeof(where), "calendar %s: holidays", name);
	rc = parse_dates(c->holidays, c->nholidays, where, &cal->holidays, err, len);
	if (rc != 0)
		goto fail;
	cal->nholidays = c->nholidays;
	snprintf(where, sizeof(where), "calendar %s: workdays", name);
	rc = parse_dates(c->workdays, c->nworkdays, where, &cal->workdays, err, len);
	if (rc != 0)
		goto fail;
	cal->nworkdays = c->nworkdays;
	for (size_t i = 0; i < cal->nworkdays; i++) {
		if (has_day(cal->holidays, cal->nholidays, cal->workdays[i])) {
			char date[48];
			tr_time_format(cal->workdays[i] * DAY, NULL, date, sizeof(date));
			date[10] = '\0';
			say(err, len, "calendar %s: %s is both a holiday and a workday", name, date);
			rc = -EINVAL;
			goto fail;
		}
	}
	*out = cal;
	return 0;
fail:
	tr_cal_free(cal);
	return rc;
}

const struct tr_cal *tr_cal_24x7(void)
{
	return &cal_24x7;
}

const char *tr_cal_name(const struct tr_cal *cal)
{
	return cal->name;
}

/* ---- zone offsets ----------------------------------------------------------- */

/* The zone's UTC offset at instant t, to the second. tr_time_format prints
 * the offset to the minute only; the seconds follow from the printed local
 * seconds, since local = t + offset. Returns 0 or tr_time_format's error. */
static int zone_offset(const struct tr_cal *cal, int64_t t, int32_t *off)
{
	char buf[48];
	int rc = tr_time_format(t, cal->zone, buf, sizeof(buf));
	if (rc != 0)
		return rc;
	/* "YYYY-MM-DDTHH:MM:SS+HH:MM" */
	if (strlen(buf) != 25 || (buf[19] != '+' && buf[19] != '-'))
		return -ERANGE;
	int sign = buf[19] == '-' ? -1 : 1;
	int32_t whole = ((buf[20] - '0') * 10 + (buf[21] - '0')) * 3600 +
			((buf[23] - '0') * 10 + (buf[24] - '0')) * 60;
	int32_t ss = (buf[17] - '0') * 10 + (buf[18] - '0');
	int32_t t60 = (int32_t)(((t % 60) + 60) % 60);
	int32_t rest = sign > 0 ? (ss - t60 + 60) % 60 : (t60 - ss + 60) % 60;
	*off = sign * (whole + rest);
	return 0;
}

/* The memoised offset sample at k * DAY. The pointer stays valid until the
 * next sample_get of a k in the same slot (never one of k's neighbours). */
static int sample_get(const struct tr_cal *cal, int64_t k, struct sample **out)
{
	struct sample *s = &cal->memo[(uint64_t)k % MEMO_SIZE];
	if (!s->known || s->k != k) {
		int32_t off;
		int rc = zone_offset(cal, k * DAY, &off);
		if (rc != 0)
			return rc;
		*s = (struct sample){.k = k, .off = off, .known = 1};
	}
	*out = s;
	return 0;
}

/* Where the offset changes between samples s and next (next->k == s->k + 1,
 * offsets differ): the first instant with next's offset, found by bisection
 * and kept in s. */
static int sample_transition(const struct tr_cal *cal, struct sample *s, const struct sample *next,
			     int64_t *tr)
{
	if (s->tr_state != 2) {
		int64_t lo = s->k * DAY, hi = next->k * DAY;  /* off(lo) = s->off, off(hi) != */
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			int32_t off;
			int rc = zone_offset(cal, mid, &off);
			if (rc != 0)
				return rc;
			if (off == s->off)
				lo = mid;
			else
				hi = mid;
		}
		s->tr = hi;
		s->tr_state = 2;
	}
	*tr = s->tr;
	return 0;
}

/* The hours of local date d: closed on a holiday, the workday hours on a
 * workday, else its weekday's. */
static const struct hours *hours_of(const struct tr_cal *cal, int64_t d)
{
	if (cal->nholidays && has_day(cal->holidays, cal->nholidays, d))
		return &closed_hours;
	if (cal->nworkdays && has_day(cal->workdays, cal->nworkdays, d))
		return cal->workday;
	return &cal->week[weekday(d)];
}

/* Resolves local day d. Closed days skip the zone work entirely. */
static int day_get(const struct tr_cal *cal, int64_t d, struct day *out)
{
	out->hours = hours_of(cal, d);
	out->base = d * DAY;
	out->nseg = 1;
	out->seg_off[0] = 0;
	if (!cal->zone || out->hours->n == 0)
		return 0;
	struct sample *s[4];
	for (int i = 0; i < 4; i++) {
		int rc = sample_get(cal, d - 1 + i, &s[i]);
		if (rc != 0)
			return rc;
	}
	out->seg_off[0] = s[0]->off;
	for (int i = 0; i < 3; i++) {
		if (s[i]->off == s[i + 1]->off)
			continue;
		int64_t tr;
		int rc = sample_transition(cal, s[i], s[i + 1], &tr);
		if (rc != 0)
			return rc;
		out->seg_start[out->nseg] = tr;
		out->seg_off[out->nseg] = s[i + 1]->off;
		out->nseg++;
	}
	return 0;
}

/* The earliest instant at which the local clock reads wall (seconds as if
 * UTC) or later: in a gap, the jump; in an overlap, the first occurrence. */
static int64_t wall_to_utc(const struct day *d, int64_t wall)
{
	for (int j = 0;; j++) {
		int64_t t = wall - d->seg_off[j];
		if (j > 0 && t < d->seg_start[j])
			t = d->seg_start[j];
		if (j == d->nseg - 1 || t < d->seg_start[j + 1])
			return t;
	}
}

/* Span i of day d as UTC instants [*a, *b); *a == *b when it fell in a gap. */
static void span_utc(const struct day *d, size_t i, int64_t *a, int64_t *b)
{
	const struct span *sp = &d->hours->spans[i];
	*a = wall_to_utc(d, d->base + sp->start);
	*b = wall_to_utc(d, d->base + sp->end);
}

/* ---- queries ---------------------------------------------------------------- */

int tr_cal_is_open(const struct tr_cal *cal, int64_t t)
{
	if (cal->always_open)
		return 1;
	if (t < T_MIN || t > T_MAX)
		return -ERANGE;
	/* Offsets are under a day, so t's local date is one of these three. */
	int64_t d0 = floor_div(t, DAY);
	for (int64_t d = d0 - 1; d <= d0 + 1; d++) {
		struct day day;
		int rc = day_get(cal, d, &day);
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < day.hours->n; i++) {
			int64_t a, b;
			span_utc(&day, i, &a, &b);
			if (a <= t && t < b)
				return 1;
		}
	}
	return 0;
}

int tr_cal_add(const struct tr_cal *cal, int64_t t, int64_t seconds, int64_t *out)
{
	if (seconds < 0)
		return -EINVAL;
	if (cal->always_open) {
		if (t > INT64_MAX - seconds)
			return -ERANGE;
		*out = t + seconds;
		return 0;
	}
	if (t < T_MIN || t > T_MAX)
		return -ERANGE;
	if (seconds == 0) {
		*out = t;
		return 0;
	}
	/* SPEC §5 time.add(t, d, calendar): d of open time, counted from the
	 * next opening when t is closed. */
	int64_t left = seconds;
	int closed = 0;
	/* t's local date is at least d0 - 1: earlier days end before t. */
	int64_t d = floor_div(t, DAY) - 1;
	for (int n = 0; n <= TR_CAL_MAX_DAYS + 2; n++, d++) {
		struct day day;
		int rc = day_get(cal, d, &day);
		if (rc != 0)
			return rc;
		bool open = false;
		for (size_t i = 0; i < day.hours->n; i++) {
			int64_t a, b;
			span_utc(&day, i, &a, &b);
			if (a >= b)
				continue;
			open = true;
			if (b <= t)
				continue;
			int64_t from = a > t ? a : t;
			if (left <= b - from) {
				*out = from + left;
				return 0;
			}
			left -= b - from;
		}
		/* Bounded: a calendar whose holidays cover every open day must
		 * not spin until year 9999. */
		closed = open ? 0 : closed + 1;
		if (closed >= TR_CAL_MAX_CLOSED_DAYS)
			return -ERANGE;
	}
	return -ERANGE;
}

int tr_cal_last_open(const struct tr_cal *cal, int64_t deadline, int64_t margin, int64_t *out)
{
	return tr_cal_last_open_from(cal, INT64_MIN, deadline, margin, out);
}

int tr_cal_last_open_from(const struct tr_cal *cal, int64_t from, int64_t deadline, int64_t margin,
			  int64_t *out)
{
	if (margin < 0)
		return -EINVAL;
	if (cal->always_open) {
		if (deadline < INT64_MIN + margin)
			return -ERANGE;
		if (deadline - margin < from)
			return -ENOENT;
		*out = deadline - margin;
		return 0;
	}
	if (deadline < T_MIN || deadline > T_MAX)
		return -ERANGE;
	/* SPEC §5 time.last_open: walk back from the deadline through open
	 * time until margin is used up; m is then a moment the team is at work. */
	int64_t left = margin;
	int closed = 0;
	/* The deadline's local date is at most d0 + 1: later days open after it. */
	int64_t d = floor_div(deadline, DAY) + 1;
	for (int n = 0; n <= TR_CAL_MAX_DAYS + 2; n++, d--) {
		/* Local day d ends before UTC (d + 2) * DAY, so every moment it or
		 * an earlier day could give is before from: the team has no open
		 * time left. Also stops the walk early rather than at the bounds. */
		if ((d + 2) * DAY <= from)
			return -ENOENT;
		struct day day;
		int rc = day_get(cal, d, &day);
		if (rc != 0)
			return rc;
		bool open = false;
		for (size_t i = day.hours->n; i-- > 0;) {
			int64_t a, b;
			span_utc(&day, i, &a, &b);
			if (a >= b)
				continue;
			open = true;
			if (a > deadline)
				continue;
			int64_t until = b < deadline ? b : deadline;
			if (left <= until - a) {
				if (until - left < from)
					return -ENOENT;
				*out = until - left;
				return 0;
			}
			left -= until - a;
		}
		closed = open ? 0 : closed + 1;
		if (closed >= TR_CAL_MAX_CLOSED_DAYS)
			return -ERANGE;
	}
	return -ERANGE;
}

/* ---- the compiled calendars of a rule set, looked up by name ---- */

struct tr_calendars {
	size_t n;
	const char **names;   /* borrowed from the config, which outlives the engine */
	struct tr_cal **cals;
};

int tr_calendars_build(const struct tr_config *cfg, struct tr_calendars **out, struct tr_errors *errs)
{
	struct tr_calendars *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->names = calloc(cfg->ncalendars + 1, sizeof(*c->names));
	c->cals = calloc(cfg->ncalendars + 1, sizeof(*c->cals));
	if (!c->names || !c->cals) {
		tr_calendars_free(c);
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < cfg->ncalendars; i++) {
		char err[256];
		const struct tr_calendar *def = &cfg->calendars[i];
		if (tr_cal_compile(def, &c->cals[c->n], err, sizeof(err))) {
			tr_errors_add(errs, cfg->path, def->line, 0, "calendars", "%s: %s", def->name, err);
			rc = TR_EPARSE;
			continue;
		}
		c->names[c->n++] = def->name;
	}
	if (rc) {
		tr_calendars_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void tr_calendars_free(struct tr_calendars *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		tr_cal_free(c->cals[i]);
	free(c->cals);
	free(c->names);
	free(c);
}

const struct tr_cal *tr_calendars_find(const struct tr_calendars *c, const char *name)
{
	if (!name || strcmp(name, "24x7") == 0)
		return tr_cal_24x7();
	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->names[i], name) == 0)
			return c->cals[i];
	return NULL;
}

int tr_calendars_add(const struct tr_calendars *c, const char *name, int64_t t, int64_t seconds, int64_t *out)
{
	const struct tr_cal *cal = tr_calendars_find(c, name);
	if (!cal)
		return -ENOENT;
	return tr_cal_add(cal, t, seconds, out);
}
